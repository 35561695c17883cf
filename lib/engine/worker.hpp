// The per-core worker: parse a burst, look up flows in batch, account, report.
//
// Pure engine code: the same loop runs under the libpcap reader, under DPDK lcores,
// in tests and in benchmarks. A Worker owns its flow table, fragment table, event
// chunks and counters; nothing in it is shared with other workers. After
// construction, process() and on_clock() do no heap allocation, take no locks,
// make no syscalls and throw nothing.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "decode/decoder.hpp"
#include "decode/detect.hpp"
#include "decode/registry.hpp"
#include "event/agent.hpp"
#include "event/emitter.hpp"
#include "event/event_queue.hpp"
#include "event/json_writer.hpp"
#include "flow/flow_table.hpp"
#include "flow/tcp_reassembly.hpp"
#include "net/ipfrag.hpp"
#include "net/networks.hpp"
#include "net/packet.hpp"
#include "util/big_array.hpp"
#include "util/chain_store.hpp"
#include "util/counters.hpp"
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
  // An 802.11 A-MSDU frame a dispatcher gave to each worker that owns one of its packets
  // (WorkerSettings::workers): each reads its own subframes, and the owner of the
  // first counts the frame.
  uint8_t shared = 0;
};

struct WorkerSettings {
  uint32_t id = 0;
  uint32_t workers = 1;  // of the dispatcher that numbers them by id (RawPacket::shared)
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
  // Per protocol: the agent its events carry when it has its own tags or fields; null: `agent`.
  std::array<const AgentInfo*, kMaxDecoders> protocol_agents{};
  // Transactions. Read-only, shared by all workers.
  const NetworkSet* internal_networks = nullptr;  // network.direction; null: not reported
  const ProcessorChain* processors = nullptr;     // the root `processors`; null: none
  const DecoderPlan* decoders = nullptr;          // null: no transactions
  // Idle lifetime of a TCP connection no decoder has taken (a decoded one lives
  // its protocol's transaction_timeout): DecoderSet::tcp_timeout_ns().
  uint64_t tcp_transaction_timeout_ns = 10'000'000'000;
  uint32_t stream_store_blocks = 32768;  // ChainStore blocks (2 KiB) per worker
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
  // Largest partial message the engine holds for a decoder (contiguous when handed over).
  static constexpr uint32_t kStreamScratchBytes = 128 * 1024;
  // How often idle connections are checked for expired transactions.
  static constexpr uint64_t kTransactionSweepNs = 1'000'000'000;
  // How long one direction's bytes wait for the other's they acknowledge (a capture
  // point that had the directions out of order) before those count as lost to it.
  static constexpr uint64_t kPeerWaitNs = 100'000'000;
  // How long evidence that bytes were lost to the capture (the other side acknowledged
  // them, a later segment begins past them) waits for them to come late: a capture
  // point can write a connection's packets a few places out of order.
  static constexpr uint64_t kReorderNs = 1'000'000;
  // Bytes of each direction payload detection keeps for the decoder it finds, read in
  // the segments before the one that tells (a probe itself reads kScanBytes).
  static constexpr uint32_t kProbeKeepBytes = 64 * 1024;

  explicit Worker(const WorkerSettings& s);
  // Memory a worker reserves for `capacity` flows: the flow table, and with a TCP
  // decoder on, the connection table and its stream sessions.
  static uint64_t flow_bytes(uint32_t capacity, bool tcp_streams);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The packets' bytes stay valid for the whole run (a mapped capture file): TCP
  // segments that wait for a hole are held by pointer, not copied. Before the first
  // packet.
  void set_stable_frames(bool stable) { stable_frames_ = stable; }
  // Hot path. A burst longer than kBurstSize is taken kBurstSize packets at a time.
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
    uint64_t conn_hash;  // the connection's key's hash, when conn_hashed (account, for a flow with no hint)
    uint32_t frames;
    uint64_t wire_bytes;
    uint64_t first_ts_ns;
    bool from_a;
    bool ok;
    bool in_frame;  // the payload lies in the packet as captured (not a datagram rebuilt from fragments)
    bool conn_hashed;
  };

  // Bytes of a direction the decoder has not consumed yet, and how many it needs.
  struct StreamBuffer {
    ChainStore::Chain held;
    uint32_t need;
    // While payload detection gathers a direction's bytes: the acknowledgement their
    // first segment carried (0: none), which tells whether they answer the other side's.
    uint32_t held_ack;
    uint64_t held_ns;  // capture time of the packet that carried the first byte held
    uint32_t window;   // while probed: the bytes at the end of `held` the next probe reads first
    // While probed: bytes read and not kept (a hole or retransmission after them, past
    // kProbeKeepBytes), counted in detect.probe_bytes_dropped if a protocol is found.
    uint32_t probe_dropped;
    // While payload detection gathers a direction's bytes: where in them the first
    // segment that acknowledged more than the first began (0: none), that segment's
    // acknowledgement and capture time. Such bytes answer the other side's later ones.
    uint32_t split;
    uint32_t split_ack;
    uint64_t split_ns;
    // While probed: the sequence number the direction's last bare acknowledgement carried
    // (where its bytes go on), if bare_seen; cleared by a segment of its bytes taken.
    uint32_t bare_seq;
    bool bare_seen : 1;
    // While probed: bytes of the direction were read and not kept before those held (a
    // PROXY header, a SOCKS handshake, bytes dropped). Else the bytes held are the first
    // it showed, and on a side seen from its SYN, any between the SYN and them were lost
    // to the capture (Worker::lost_start).
    bool skipped : 1;
  };
  enum SessionState : uint8_t { kNoSession, kDecoding, kProbing, kUndetected, kDetached };
  // Application state of a TCP connection, in the slot beside the connection's.
  struct TcpSession {
    uint8_t state;        // SessionState
    uint8_t decoder;      // registry index while decoding
    uint8_t probes_left;  // payload segments still to classify
    bool in_progress;     // the decoder may hold a transaction (set on delivery, cleared by expire())
    // Claimed by its port and no byte taken yet: if the port's decoder refuses the first
    // bytes, payload detection may hand the connection to the protocol they show.
    bool port_claim_untested;
    // Claimed by its port, no byte taken yet, its first bytes not yet scanned whole
    // (kScanBytes) for another protocol's decisive probe (PayloadDetector::overrule):
    // kFirstScanNone when done, else whether the connection was seen from its SYN.
    uint8_t first_scan;
    uint8_t socks;     // SocksState: a SOCKS handshake passed over before detection
    uint8_t preamble;  // Preamble: whether a PROXY protocol header may still come first
    // Claimed by the port of a protocol other than TLS, seen from its SYN, no byte yet:
    // a TLS ClientHello first hands the connection to the TLS decoder.
    bool tls_first_untested;
    TcpDirection dir[2];  // [0] from the flow's source
    StreamBuffer buf[2];
    alignas(8) uint8_t data[kDecoderStateBytes];
  };
  // Delivers one direction's reassembled bytes to the session's decoder.
  class Sink : public StreamSink {
   public:
    explicit Sink(Worker& w) : w_(w) {}
    void bind(TcpSession* s, int dir, const StreamInfo& info) { s_ = s, dir_ = dir, info_ = info; }
    void bind(TcpSession* s, int dir) { s_ = s, dir_ = dir; }  // info() filled by the caller
    StreamInfo& info() { return info_; }
    void on_data(const uint8_t* data, uint32_t len) override;
    void on_gap(uint32_t len, uint64_t acked_ns) override;
    void on_end() override;
    uint64_t now() const override { return info_.ts_ns; }
    void at(uint64_t ts_ns) override { info_.ts_ns = ts_ns; }

   private:
    Worker& w_;
    TcpSession* s_ = nullptr;
    int dir_ = 0;
    StreamInfo info_;
  };

  // Both directions of one session through the one Sink, bound to each in turn.
  class Sides : public ConnectionSinks {
   public:
    Sides(Worker& w, TcpSession& s) : w_(w), s_(s) {}
    StreamSink& dir(int k) override {
      w_.sink_.bind(&s_, k);
      return w_.sink_;
    }
    bool gone() const override { return s_.state != kDecoding; }

   private:
    Worker& w_;
    TcpSession& s_;
  };

  // A decoded connection's pending evidence of loss (TcpReassembler::settle_evidence), at
  // its transaction sweep or its end: acted on, its decoder's sink timed at ts_ns.
  void settle_evidence(const Flow& f, TcpSession& s, uint64_t ts_ns);
  bool parse_one(const RawPacket& p, Parsed& out, unsigned amsdu_subframe = 0);
  // Stages 2-5 of process_some over parsed_[0, n).
  void run_stages(std::size_t n);
  // An 802.11 A-MSDU's packets after its first.
  void rest_of_amsdu(const RawPacket& frame, unsigned subframes);
  // Whether a shared frame's subframe is this worker's (a frame not shared: always).
  bool owns(const RawPacket& frame, unsigned subframe) {
    return !frame.shared || owns_shared(frame, subframe);
  }
  bool owns_shared(const RawPacket& frame, unsigned subframe);
  // The stages of process() over the burst's first packets, up to and with the first
  // that completes a datagram from fragments; how many packets that was.
  std::size_t process_some(std::span<const RawPacket> burst);
  void account(Parsed& p);
  void tcp_session(Parsed& p);
  // One segment of a decoded connection through the reassembler: the steps before it
  // (the other side's waits), its bytes (after those payload detection gathered before
  // it, when earlier_first), the steps after. A packet's segment, or the bytes one side
  // sent while payload detection read the other's (see tcp_session). stable, lost: as
  // TcpReassembler::segment's. Whether the connection is still decoded.
  bool stream_segment(TcpSession& s, const Flow& f, int dir, const TcpPacket& seg, const uint8_t* bytes,
                      bool stable, uint32_t lost, bool earlier_first);
  void attach(TcpSession& s, int decoder);
  void deliver(TcpSession& s, int dir, const StreamInfo& info, const uint8_t* data, uint32_t len);
  void feed(TcpSession& s, int dir, const StreamInfo& info, const uint8_t* p, uint32_t n);
  void detach(TcpSession& s, const StreamInfo& info, bool violation);
  // Bytes held for a partial message of direction dir that can no longer complete: a
  // hole cuts it (they go to the decoder's cut_short(), or count in
  // stream.gap_dropped_bytes) or its sender or the connection ended (unfinished(),
  // stream.unfinished_bytes).
  void give_up_held(TcpSession& s, int dir, const StreamInfo& info, bool at_end);
  void lost_start(TcpSession& s, const Flow& f, int dir, uint32_t len, uint64_t ts_ns);
  bool overruled(TcpSession& s, int dir, const StreamInfo& info, const uint8_t* p, uint32_t n);
  bool redetect(TcpSession& s, int dir, const StreamInfo& info, const uint8_t* p, uint32_t n);
  void tunnel(TcpSession& s, int dir, const StreamInfo& info, const uint8_t* p, uint32_t n);
  // The connection goes to decoder `to` from p (direction dir), with the other
  // direction's waiting bytes; the decoder before publishes what it has.
  void hand_over(TcpSession& s, int to, int dir, const StreamInfo& info, const uint8_t* p, uint32_t n);
  StreamInfo stream_info(const Flow& f, uint64_t ts_ns) const;
  void stream_info(const Flow& f, uint64_t ts_ns, StreamInfo& out) const;
  void sweep_transactions(uint64_t now_ns);
  Flow* connection(Parsed& p);
  Flow* new_connection(const Parsed& p, const FlowKey& key, uint64_t hash);
  void expire_connections(uint64_t now_ns);
  uint64_t idle_lifetime_ns(const TcpSession& s) const;
  void close_connection(Flow& c);
  // Final report (when flows are on) stamped ts_ns, the flow removed.
  void retire(Flow& f, uint64_t ts_ns);
  void end_session(Flow& f);
  void report(Flow& f, bool final, uint64_t ts_ns);
  void expire(uint64_t now_ns);
  bool timed_out(const Flow& f, uint64_t now_ns) const {
    return f.last_ts_ns + settings_.flow_timeout_ns < now_ns;
  }
  void time_out(Flow& f);  // its final report, stamped when it timed out; counted
  void periodic_report();

  WorkerSettings settings_;
  Counters counters_;
  PacketMeta share_meta_;  // owns()' parse, its counts aside (the owner counts them)
  Counters share_counters_;
  FlowTable flows_;
  FragTable frags_;
  EventQueue events_;
  std::atomic<bool> stop_{false};
  EventEmitter out_;
  ChainStore store_;
  std::unique_ptr<Decoder> decoders_[kMaxDecoders];
  int icmp_decoder_ = -1;
  int tls_decoder_ = -1;  // where kStartTls hands a connection; -1: TLS not enabled
  std::unique_ptr<PayloadDetector::Scratch> detect_scratch_;
  bool track_flows_ = false;    // flow events are on
  bool stable_frames_ = false;  // set_stable_frames()
  std::unique_ptr<TcpReassembler> tcp_;
  // TCP connections a decoder follows (or is still classifying), keyed without
  // link addresses; their sessions sit in the slot beside each.
  std::unique_ptr<FlowTable> conns_;
  BigArray<TcpSession> sessions_;
  std::unique_ptr<uint8_t[]> stream_scratch_;
  std::unique_ptr<uint8_t[]> probe_replay_;  // the other side's kept bytes, replayed (tcp_session)
  Sink sink_{*this};
  uint64_t now_ns_ = 0;
  uint64_t burst_clock_ns_ = 0;
  uint64_t next_housekeeping_ns_ = 0;
  uint64_t next_report_ns_ = 0;
  uint64_t next_sweep_ns_ = 0;
  uint32_t lru_granularity_;
  uint32_t conn_lru_granularity_;
  std::array<uint64_t, kMaxDecoders> conn_timeout_ns_{};  // per decoder: its transaction_timeout
  uint64_t stale_after_ns_ = 0;  // segments older than every protocol's timeout are stale
  Parsed parsed_[kBurstSize];
};

}  // namespace tapbeat
