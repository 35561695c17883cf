// Counters: the ground floor every layer counts on.
//
// Each worker owns one Counters block (single writer: relaxed load+store, no
// locked instruction on the hot path); the stats reader sums the blocks with
// relaxed loads. The block holds the engine's own counters (the Counter enum
// below: capture, L2-L4 decoding, fragments, reassembly, streams, flows, events)
// followed by every protocol's counters, which a protocol names in its own folder
// (a CounterSpec list over its own enum) and the decoder registry places in the
// block at start-up, as DPDK's xstats or Suricata's StatsRegisterCounter do.
// Names are the keys shown in the stats output.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "util/hints.hpp"

namespace tapbeat {

// The engine's counters. X(identifier, "stats.name", kind) with kind counter
// (monotonic) or gauge.
#define TAPBEAT_COUNTERS(X)                                                   \
  X(packets, "packets.received", counter)                                     \
  X(bytes, "packets.bytes", counter)                                          \
  X(snaplen_truncated, "packets.snaplen_truncated", counter)                  \
  X(non_ip, "packets.non_ip", counter)                                        \
  X(link_unsupported, "decode.link.unsupported", counter)                     \
  X(link_truncated, "decode.link.truncated", counter)                         \
  X(wlan_truncated, "decode.wlan.truncated", counter)                         \
  X(wlan_not_data, "decode.wlan.not_data", counter)                           \
  X(wlan_protected, "decode.wlan.protected", counter)                         \
  X(wlan_amsdu, "decode.wlan.amsdu", counter)                                 \
  X(wlan_amsdu_too_many, "decode.wlan.amsdu_too_many", counter)               \
  X(vlan_truncated, "decode.vlan.truncated", counter)                         \
  X(vlan_too_deep, "decode.vlan.too_deep", counter)                           \
  X(bridge_truncated, "decode.bridge.truncated", counter)                     \
  X(bridge_too_deep, "decode.bridge.too_deep", counter)                       \
  X(mpls_truncated, "decode.mpls.truncated", counter)                         \
  X(mpls_too_deep, "decode.mpls.too_deep", counter)                           \
  X(mpls_unknown_payload, "decode.mpls.unknown_payload", counter)             \
  X(pppoe_truncated, "decode.pppoe.truncated", counter)                       \
  X(ppp_truncated, "decode.ppp.truncated", counter)                           \
  X(ipv4_truncated, "decode.ipv4.truncated", counter)                         \
  X(ipv4_bad_version, "decode.ipv4.bad_version", counter)                     \
  X(ipv4_bad_header_length, "decode.ipv4.bad_header_length", counter)         \
  X(ipv4_bad_total_length, "decode.ipv4.bad_total_length", counter)           \
  X(ipv6_truncated, "decode.ipv6.truncated", counter)                         \
  X(ipv6_bad_version, "decode.ipv6.bad_version", counter)                     \
  X(ipv6_bad_payload_length, "decode.ipv6.bad_payload_length", counter)       \
  X(ipv6_ext_truncated, "decode.ipv6.ext_truncated", counter)                 \
  X(ipv6_too_many_ext, "decode.ipv6.too_many_ext", counter)                   \
  X(tcp_truncated, "decode.tcp.truncated", counter)                           \
  X(tcp_bad_header_length, "decode.tcp.bad_header_length", counter)           \
  X(udp_truncated, "decode.udp.truncated", counter)                           \
  X(udp_bad_length, "decode.udp.bad_length", counter)                         \
  X(sctp_truncated, "decode.sctp.truncated", counter)                         \
  X(icmp_truncated, "decode.icmp.truncated", counter)                         \
  X(icmpv6_truncated, "decode.icmpv6.truncated", counter)                     \
  X(gre_truncated, "decode.gre.truncated", counter)                           \
  X(gre_unsupported, "decode.gre.unsupported", counter)                       \
  X(erspan_truncated, "decode.erspan.truncated", counter)                     \
  X(vxlan_truncated, "decode.vxlan.truncated", counter)                       \
  X(geneve_truncated, "decode.geneve.truncated", counter)                     \
  X(gtp_truncated, "decode.gtp.truncated", counter)                           \
  X(tunnel_too_deep, "decode.tunnel.too_deep", counter)                       \
  X(tunnel_decapsulated, "decode.tunnel.decapsulated", counter)               \
  X(frag_fragments, "frag.fragments", counter)                                \
  X(frag_reassembled, "frag.reassembled", counter)                            \
  X(frag_timeout, "frag.timeout", counter)                                    \
  X(frag_overlap, "frag.overlap", counter)                                    \
  X(frag_too_large, "frag.too_large", counter)                                \
  X(frag_too_many, "frag.too_many_fragments", counter)                        \
  X(frag_table_full, "frag.table_full", counter)                              \
  X(frag_bytes_limit, "frag.bytes_limit", counter)                            \
  X(frag_bad, "frag.malformed", counter)                                      \
  X(frag_sets_active, "frag.sets_active", gauge)                              \
  X(tcp_reasm_midstream, "tcp.reassembly.midstream", counter)                 \
  X(tcp_reasm_syn_renumbered, "tcp.reassembly.syn_renumbered", counter)       \
  X(tcp_reasm_rst_out_of_window, "tcp.reassembly.rst_out_of_window", counter) \
  X(tcp_reasm_beyond_window, "tcp.reassembly.beyond_window", counter)         \
  X(tcp_reasm_out_of_order, "tcp.reassembly.out_of_order", counter)           \
  X(tcp_reasm_retransmissions, "tcp.reassembly.retransmissions", counter)     \
  X(tcp_reasm_overlap, "tcp.reassembly.overlap", counter)                     \
  X(tcp_reasm_gaps, "tcp.reassembly.gaps", counter)                           \
  X(tcp_reasm_gap_bytes, "tcp.reassembly.gap_bytes", counter)                 \
  X(tcp_reasm_acked_gaps, "tcp.reassembly.acked_gaps", counter)               \
  X(tcp_reasm_window_exceeded, "tcp.reassembly.window_exceeded", counter)     \
  X(tcp_reasm_stream_full, "tcp.reassembly.stream_full", counter)             \
  X(tcp_reasm_pool_full, "tcp.reassembly.pool_full", counter)                 \
  X(tcp_reasm_dropped_bytes, "tcp.reassembly.dropped_bytes", counter)         \
  X(tcp_reasm_waited_for_peer, "tcp.reassembly.waited_for_peer", counter)     \
  X(tcp_reasm_wait_given_up, "tcp.reassembly.wait_given_up", counter)         \
  X(detect_by_port, "detect.by_port", counter)                                \
  X(detect_by_payload, "detect.by_payload", counter)                          \
  X(detect_undetected, "detect.undetected", counter)                          \
  X(detect_probe_bytes_dropped, "detect.probe_bytes_dropped", counter)        \
  X(detect_port_refused, "detect.port_refused", counter)                      \
  X(detect_socks, "detect.socks", counter)                                    \
  X(detect_proxy_protocol, "detect.proxy_protocol", counter)                  \
  X(detect_tls_on_port, "detect.tls_on_port", counter)                        \
  X(detect_port_overruled, "detect.port_overruled", counter)                  \
  X(stream_buffer_full, "stream.buffer_full", counter)                        \
  X(stream_store_full, "stream.store_full", counter)                          \
  X(stream_gap_dropped_bytes, "stream.gap_dropped_bytes", counter)            \
  X(stream_unfinished_bytes, "stream.unfinished_bytes", counter)              \
  X(stream_detached, "stream.detached", counter)                              \
  X(stream_gap_detached, "stream.gap_detached", counter)                      \
  X(stream_starttls, "stream.starttls", counter)                              \
  X(stream_tunnels, "stream.tunnels", counter)                                \
  X(stream_port_reuse, "stream.port_reuse", counter)                          \
  X(stream_stale_segments, "stream.stale_segments", counter)                  \
  X(stream_evicted, "stream.evicted", counter)                                \
  X(stream_connections, "stream.connections", gauge)                          \
  X(flow_created, "flow.created", counter)                                    \
  X(flow_expired, "flow.expired", counter)                                    \
  X(flow_evicted, "flow.evicted", counter)                                    \
  X(flow_active, "flow.active", gauge)                                        \
  X(flow_capacity, "flow.capacity", gauge)                                    \
  X(flow_reports, "flow.reports", counter)                                    \
  X(events_emitted, "events.emitted", counter)                                \
  X(events_dropped_output_full, "events.dropped.output_full", counter)        \
  X(events_dropped_too_large, "events.dropped.too_large", counter)            \
  X(events_values_cut, "events.values_cut", counter)                          \
  X(events_dropped_processors, "events.dropped.processors", counter)          \
  X(processors_errors, "processors.errors", counter)

enum class Counter : uint16_t {
#define TAPBEAT_COUNTER_ENUM(id, name, kind) id,
  TAPBEAT_COUNTERS(TAPBEAT_COUNTER_ENUM)
#undef TAPBEAT_COUNTER_ENUM
      kCount
};

inline constexpr std::size_t kEngineCounterCount = static_cast<std::size_t>(Counter::kCount);

// One counter of a list: its index in the list's own enum, its stats name, and
// whether it is a gauge (a level, summed over workers, never a rate).
struct CounterSpec {
  uint16_t index;
  std::string_view name;
  bool gauge = false;
};

template <class E>
constexpr CounterSpec counter(E e, std::string_view name, bool gauge = false) {
  return {static_cast<uint16_t>(e), name, gauge};
}

// A list written in the order of its enum, every value once (checked at compile time).
template <class E>
constexpr bool counters_in_order(std::span<const CounterSpec> list) {
  if (list.size() != static_cast<std::size_t>(E::kCount)) return false;
  for (std::size_t i = 0; i < list.size(); ++i)
    if (list[i].index != i) return false;
  return true;
}

inline constexpr CounterSpec kEngineCounters[] = {
#define TAPBEAT_COUNTER_SPEC(id, name, kind) \
  {static_cast<uint16_t>(Counter::id), name, std::string_view(#kind) == "gauge"},
    TAPBEAT_COUNTERS(TAPBEAT_COUNTER_SPEC)
#undef TAPBEAT_COUNTER_SPEC
};

// Room in each worker's block for the engine's and every protocol's counters;
// the registry checks at start-up that they fit.
inline constexpr std::size_t kMaxCounters = 512;

// One block per worker. Single writer; any thread may read.
class alignas(kCacheLine) Counters {
 public:
  void inc(Counter c, uint64_t n = 1) { inc_at(static_cast<std::size_t>(c), n); }
  void set(Counter c, uint64_t n) { set_at(static_cast<std::size_t>(c), n); }
  uint64_t get(Counter c) const { return get(static_cast<std::size_t>(c)); }

  // By position in the block (a protocol's counters start at its base).
  void inc_at(std::size_t i, uint64_t n = 1) {
    auto& v = values_[i];
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set_at(std::size_t i, uint64_t n) { values_[i].store(n, std::memory_order_relaxed); }
  uint64_t get(std::size_t i) const { return values_[i].load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kMaxCounters> values_{};
};

// A protocol's counters within a worker's block: its enum E from `base` on.
template <class E>
class CounterSet {
 public:
  CounterSet(Counters& block, std::size_t base) : block_(&block), base_(base) {}
  void inc(E e, uint64_t n = 1) { block_->inc_at(base_ + static_cast<std::size_t>(e), n); }
  void set(E e, uint64_t n) { block_->set_at(base_ + static_cast<std::size_t>(e), n); }
  uint64_t get(E e) const { return block_->get(base_ + static_cast<std::size_t>(e)); }

 private:
  Counters* block_;
  std::size_t base_;
};

}  // namespace tapbeat
