// ICMPv4 and ICMPv6 transactions, as Packetbeat's icmp module reports them: an echo,
// timestamp, information or address mask request paired with its reply by
// addresses, identifier and sequence number; every other message (errors, neighbour
// and router discovery, MLD, ...) published alone as a request from its sender;
// replies without a request published alone; requests unanswered after
// transaction_timeout published with status Error. A reply that comes before any
// request it could answer is held a while (kEarlyNs of capture time): a capture point
// that merges the two directions can write a reply before its request (a ping on a
// LAN answered within the timestamps' skew), and the request that comes then pairs
// with it (icmp.replies_before_request). Not a reply whose identifier and sequence a
// recent transaction had: a tunnel over ICMP (ptunnel, icmpsh) reuses them, answering
// one request with several replies; that one goes out alone at once, as before.
//
// Per worker; not thread-safe. Pending requests live in a fixed-capacity table
// allocated at construction; on_packet() and expire() allocate nothing.
#pragma once

#include <cstdint>

#include "decode/icmp/icmp_counters.hpp"
#include "flow/flow_table.hpp"
#include "net/packet.hpp"

namespace tapbeat {

struct IcmpEvent {
  uint8_t version = 4;
  IpBytes client{}, server{};  // requester and responder
  bool has_request = false, has_response = false;
  uint8_t req_type = 0, req_code = 0, resp_type = 0, resp_code = 0;
  uint32_t req_bytes = 0, resp_bytes = 0;
  uint64_t req_ts_ns = 0, resp_ts_ns = 0;
  const char* error = nullptr;      // a note, and status Error
  bool error_message_type = false;  // an ICMP error message: status Error, no note
};

class IcmpTracker {
 public:
  // Requests waiting for replies (icmp.pending_full counts evictions beyond it).
  static constexpr uint32_t kPending = 4096;
  // Replies held for a request written after them: at most this many, this long.
  static constexpr uint32_t kEarly = 16;
  static constexpr uint64_t kEarlyNs = 100'000'000;
  // Keys (their hashes) of the last transactions paired: a reply of one is not held.
  static constexpr uint32_t kRecent = 32;

  IcmpTracker(uint64_t timeout_ns, CounterSet<IcmpStat> counters);

  // out is filled when the packet completes or stands for a transaction to publish.
  bool on_packet(const PacketMeta& m, IcmpEvent& out);
  // One request older than the timeout, as an Error transaction; false when none.
  bool expire_one(uint64_t now_ns, IcmpEvent& out);
  // Every pending request, at shutdown.
  bool flush_one(IcmpEvent& out);

 private:
  struct Early {
    FlowKey key;  // as the request's: requester, responder, identifier, sequence
    uint64_t ts_ns;
    uint32_t bytes;
    uint8_t type, code;
    bool used;
  };
  void from_pending(const Flow& f, IcmpEvent& out) const;
  // Held reply i as the event's response (the request filled before), freeing its slot.
  void take_early(uint32_t i, IcmpEvent& out);
  // Held reply i published alone, its request never seen.
  void orphan(uint32_t i, IcmpEvent& out);
  void remember(uint64_t key_hash) {
    recent_[next_recent_] = key_hash;
    next_recent_ = (next_recent_ + 1) % kRecent;
  }

  uint64_t timeout_ns_;
  CounterSet<IcmpStat> counters_;
  FlowTable pending_;
  Early early_[kEarly]{};
  uint32_t n_early_ = 0;
  uint64_t recent_[kRecent]{};
  uint32_t next_recent_ = 0;
};

// "EchoRequest", "DestinationUnreachable", ... (Packetbeat's message names).
const char* icmp_message_name(uint8_t version, uint8_t type);

}  // namespace tapbeat
