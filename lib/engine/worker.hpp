// The per-core worker: parse a burst, look up flows in batch, account, report.
//
// Pure engine code: the same loop runs under the libpcap reader, under DPDK lcores,
// in tests and in benchmarks. A Worker owns its flow table, fragment table, event
// chunks and counters; nothing in it is shared with other workers. After
// construction, process() and on_clock() do no heap allocation, take no locks,
// make no syscalls and throw nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/counters.hpp"
#include "event/agent.hpp"
#include "event/event_queue.hpp"
#include "decode/dns/dns.hpp"
#include "decode/dns/dns_message.hpp"
#include "decode/dns/public_suffix.hpp"
#include "decode/icmp/icmp.hpp"
#include "event/json_writer.hpp"
#include "flow/flow_table.hpp"
#include "flow/tcp_reassembly.hpp"
#include "util/big_array.hpp"
#include "net/ipfrag.hpp"
#include "net/networks.hpp"
#include "net/packet.hpp"
#include "util/hints.hpp"

namespace tapbeat {

// One received frame, wherever it came from. The bytes stay valid for the duration
// of the process() call that receives it.
struct RawPacket {
  const uint8_t* data;
  uint32_t cap_len;
  uint32_t wire_len;
  uint64_t ts_ns;
  uint32_t hash;       // symmetric flow hash when known (NIC RSS or the dispatcher), else 0
  uint16_t link_type;  // DLT_* value
};

struct WorkerSettings {
  uint32_t id = 0;
  uint32_t flow_capacity = 1u << 16;
  bool flows_enabled = true;
  uint64_t flow_timeout_ns = 30'000'000'000;
  int64_t flow_period_ns = 10'000'000'000;  // < 0: final reports only
  bool delta_reports = false;
  FragLimits frag;
  uint32_t event_chunks = 64;
  uint32_t event_chunk_bytes = 256 * 1024;
  // true: wait for the output when every chunk is in flight (reading a file loses
  // nothing by pausing); false: drop the event and count it (live capture).
  bool block_on_output_full = false;
  const AgentInfo* agent = nullptr;
  // Transactions. Read-only settings shared by all workers.
  bool icmp_enabled = false;
  uint64_t icmp_timeout_ns = 10'000'000'000;
  const NetworkSet* internal_networks = nullptr;  // network.direction; null: not reported
  struct Dns {
    bool enabled = false;
    const std::vector<bool>* ports = nullptr;  // 65536 entries: UDP ports carrying DNS
    uint64_t timeout_ns = 10'000'000'000;
    bool include_authorities = false;
    bool include_additionals = false;
    bool send_request = false;
    bool send_response = false;
    bool tcp = true;  // DNS over TCP (2-byte framing, RFC 1035 §4.2.2) on the same ports
    const PublicSuffixList* public_suffixes = nullptr;  // registered-domain fields; null: none
  } dns;
  TcpLimits tcp;
};

class alignas(kCacheLine) Worker {
 public:
  // Packets handled per call; the RX burst of DPDK examples and of the pcap reader.
  static constexpr std::size_t kBurstSize = 32;
  // Packets ahead whose headers are prefetched while the current one is parsed.
  static constexpr std::size_t kPrefetchOffset = 4;
  // How often, in packet time, timeouts are checked when packets keep arriving.
  static constexpr uint64_t kHousekeepingNs = 100'000'000;
  // LRU order is kept to timeout / 16: a flow is moved at most that often.
  static constexpr uint64_t kLruGranularityDivisor = 16;
  static uint32_t lru_stamp(uint64_t ts_ns) { return static_cast<uint32_t>(ts_ns >> 20); }
  // Text of one parsed DNS message (names and record data).
  static constexpr uint32_t kDnsArenaBytes = 64 * 1024;

  explicit Worker(const WorkerSettings& s);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Hot path. burst.size() <= kBurstSize.
  void process(std::span<const RawPacket> burst);
  // The capture clock moved (packet time in file mode, wall time live).
  void on_clock(uint64_t now_ns);
  // End of input or shutdown: final report of every flow, partial chunk flushed.
  void finish();
  // Hands the partially filled chunk to the output (called on a timer).
  void flush();

  Counters& counters() { return counters_; }
  const Counters& counters() const { return counters_; }
  EventQueue& events() { return events_; }
  const FlowTable& flows() const { return flows_; }
  uint64_t now_ns() const { return now_ns_; }
  // Set from another thread to release a worker blocked on a full output.
  void request_stop() { stop_.store(true, std::memory_order_relaxed); }

 private:
  struct Parsed {
    PacketMeta meta;
    Flow* flow;
    FlowKey key;
    uint64_t hash;
    uint32_t frames;
    uint64_t wire_bytes;
    uint64_t first_ts_ns;
    bool from_a;
    bool ok;
  };

  // DNS over TCP: per-direction framing of the reassembled stream.
  struct DnsFrame {
    uint8_t len_bytes[2];
    uint8_t have_len = 0;
    uint32_t need = 0;       // message length once both length bytes are in
    uint32_t have = 0;
    uint32_t discard = 0;    // bytes of a message that had no buffer
    int32_t block = -1;
  };
  // Application state of a TCP flow, in the slot beside the flow's.
  struct TcpSession {
    uint64_t owner_ts_ns;    // first_ts_ns of the flow that set it up (slots are reused)
    uint8_t kind;            // 0: none, 1: DNS
    TcpDirection dir[2];     // [0] from the flow's source
    DnsFrame dns[2];
  };
  class DnsStreamSink : public StreamSink {
   public:
    explicit DnsStreamSink(Worker& w) : w_(w) {}
    void bind(DnsFrame* f, const PacketMeta* m) { frame_ = f, meta_ = m; }
    void on_data(const uint8_t* data, uint32_t len) override;
    void on_gap(uint32_t len) override;
   private:
    Worker& w_;
    DnsFrame* frame_ = nullptr;
    const PacketMeta* meta_ = nullptr;
  };
  static constexpr uint32_t kDnsTcpBlocks = 64;      // DNS/TCP messages being assembled at once
  static constexpr uint32_t kDnsTcpBlockBytes = 65536;

  bool parse_one(const RawPacket& p, Parsed& out);
  void account(Parsed& p);
  void tcp_session(Parsed& p);
  void retire(Flow& f);  // final report (when flows are on), session closed, removed
  void end_session(Flow& f);
  void dns_frame_free(DnsFrame& f);
  void report(Flow& f, bool final);
  void expire(uint64_t now_ns);
  void periodic_report();
  void publish(const IcmpEvent& ev);
  void publish(const DnsExchange& ex);
  bool ensure_chunk();
  template <typename Fn>
  void emit(Fn&& write);

  WorkerSettings settings_;
  Counters counters_;
  FlowTable flows_;
  FragTable frags_;
  EventQueue events_;
  std::unique_ptr<IcmpTracker> icmp_;
  std::unique_ptr<DnsTracker> dns_;
  // Parsed query and response of the DNS transaction being written, and their text.
  std::unique_ptr<DnsMessage> dns_query_, dns_response_;
  std::unique_ptr<char[]> dns_arena_;
  bool track_flows_ = false;  // flows are tracked (reported or not) for TCP decoders
  std::unique_ptr<TcpReassembler> tcp_;
  BigArray<TcpSession> sessions_;
  std::unique_ptr<uint8_t[]> dns_tcp_pool_;
  std::vector<int32_t> dns_tcp_free_;
  std::unique_ptr<DnsStreamSink> dns_sink_;
  EventChunk* chunk_ = nullptr;
  uint64_t now_ns_ = 0;
  uint64_t next_housekeeping_ns_ = 0;
  uint64_t next_report_ns_ = 0;
  std::atomic<bool> stop_{false};
  uint32_t lru_granularity_;
  Parsed parsed_[kBurstSize];
};

}  // namespace tapbeat
