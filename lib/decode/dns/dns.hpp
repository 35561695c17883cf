// DNS over UDP transactions: a query and its response matched by client and server
// addresses and ports and the message id, as Packetbeat's dns module does. Queries
// unanswered after transaction_timeout, responses without a query and duplicate ids
// are published with status Error and Packetbeat's notes. A UDP response that comes
// before any query it could answer is held a while (kEarlyNs of capture time): a
// capture point that merges the two directions can write an answer before its query,
// and the query that comes then pairs with it (dns.answers_before_query).
//
// Per worker; not thread-safe. Pending queries (and a copy of their bytes, for the
// event) live in fixed arrays allocated at construction; nothing is allocated per
// message.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "decode/dns/dns_counters.hpp"
#include "flow/flow_table.hpp"
#include "net/packet.hpp"

namespace tapbeat {

struct DnsExchange {
  uint8_t ip_version = 4;
  uint8_t proto = 17;
  IpBytes client{}, server{};
  uint16_t client_port = 0, server_port = 0;
  std::span<const uint8_t> request, response;  // empty when not seen
  uint64_t request_ts_ns = 0, response_ts_ns = 0;
  const char* error = nullptr;
  // A UDP message the capture's snap length cut short (its UDP length says so).
  bool request_cut = false, response_cut = false;
};

class DnsTracker {
 public:
  static constexpr uint32_t kPending = 4096;
  static constexpr uint32_t kMaxKeptQuery = 1024;  // query bytes kept for the event
  // Responses held for a query not seen yet: how many, how long, how large at most
  // (a larger one, or one more, goes out as a response without a query at once).
  static constexpr uint32_t kEarly = 16;
  static constexpr uint64_t kEarlyNs = 100'000'000;
  static constexpr uint32_t kMaxEarlyAnswer = 4096;

  DnsTracker(uint64_t timeout_ns, CounterSet<DnsStat> counters);

  // One DNS message in a UDP datagram from m.src to m.dst. Returns true with `out`
  // filled when a transaction (or a lone message) is ready to publish; its spans are
  // valid until the next call.
  bool on_message(const PacketMeta& m, std::span<const uint8_t> msg, DnsExchange& out);
  bool expire_one(uint64_t now_ns, DnsExchange& out);
  bool flush_one(DnsExchange& out);

 private:
  void from_pending(Flow& f, DnsExchange& out);
  // Held response i into out's response; its slot is free again (its bytes stay until
  // the next call).
  void take_early(uint32_t i, DnsExchange& out);
  // Held response i as a response without a query.
  void orphan(uint32_t i, DnsExchange& out);

  struct Early {
    FlowKey key;  // the query's key the response answers
    uint64_t ts_ns = 0;
    uint16_t len = 0;
    bool cut = false;
    bool used = false;
  };

  uint64_t timeout_ns_;
  CounterSet<DnsStat> counters_;
  FlowTable pending_;
  std::unique_ptr<uint8_t[]> kept_;       // kPending * kMaxKeptQuery
  std::unique_ptr<uint16_t[]> kept_len_;  // bit 15: the query was cut by the snap length
  uint8_t lone_[kMaxKeptQuery];           // a query evicted or expired, while it is published
  Early early_[kEarly];
  uint32_t n_early_ = 0;
  std::unique_ptr<uint8_t[]> early_bytes_;  // kEarly * kMaxEarlyAnswer
};

}  // namespace tapbeat
