// Every counter the engine keeps, named once here.
//
// Each worker owns one Counters block (single writer: relaxed load+store, no
// locked instruction on the hot path); the stats reader sums the blocks with
// relaxed loads. Names are the keys shown in the stats line.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "util/hints.hpp"

namespace tapbeat {

// X(identifier, "stats.name", kind) with kind counter (monotonic) or gauge.
#define TAPBEAT_COUNTERS(X)                                            \
  X(packets, "packets.received", counter)                              \
  X(bytes, "packets.bytes", counter)                                   \
  X(snaplen_truncated, "packets.snaplen_truncated", counter)           \
  X(non_ip, "packets.non_ip", counter)                                 \
  X(link_unsupported, "decode.link.unsupported", counter)              \
  X(link_truncated, "decode.link.truncated", counter)                  \
  X(vlan_truncated, "decode.vlan.truncated", counter)                  \
  X(vlan_too_deep, "decode.vlan.too_deep", counter)                    \
  X(mpls_truncated, "decode.mpls.truncated", counter)                  \
  X(mpls_too_deep, "decode.mpls.too_deep", counter)                    \
  X(mpls_unknown_payload, "decode.mpls.unknown_payload", counter)      \
  X(pppoe_truncated, "decode.pppoe.truncated", counter)                \
  X(ppp_truncated, "decode.ppp.truncated", counter)                    \
  X(ipv4_truncated, "decode.ipv4.truncated", counter)                  \
  X(ipv4_bad_version, "decode.ipv4.bad_version", counter)              \
  X(ipv4_bad_header_length, "decode.ipv4.bad_header_length", counter)  \
  X(ipv4_bad_total_length, "decode.ipv4.bad_total_length", counter)    \
  X(ipv6_truncated, "decode.ipv6.truncated", counter)                  \
  X(ipv6_bad_version, "decode.ipv6.bad_version", counter)              \
  X(ipv6_bad_payload_length, "decode.ipv6.bad_payload_length", counter) \
  X(ipv6_ext_truncated, "decode.ipv6.ext_truncated", counter)          \
  X(ipv6_too_many_ext, "decode.ipv6.too_many_ext", counter)            \
  X(tcp_truncated, "decode.tcp.truncated", counter)                    \
  X(tcp_bad_header_length, "decode.tcp.bad_header_length", counter)    \
  X(udp_truncated, "decode.udp.truncated", counter)                    \
  X(udp_bad_length, "decode.udp.bad_length", counter)                  \
  X(sctp_truncated, "decode.sctp.truncated", counter)                  \
  X(icmp_truncated, "decode.icmp.truncated", counter)                  \
  X(icmpv6_truncated, "decode.icmpv6.truncated", counter)              \
  X(gre_truncated, "decode.gre.truncated", counter)                    \
  X(gre_unsupported, "decode.gre.unsupported", counter)                \
  X(erspan_truncated, "decode.erspan.truncated", counter)              \
  X(vxlan_truncated, "decode.vxlan.truncated", counter)                \
  X(geneve_truncated, "decode.geneve.truncated", counter)              \
  X(tunnel_too_deep, "decode.tunnel.too_deep", counter)                \
  X(tunnel_decapsulated, "decode.tunnel.decapsulated", counter)        \
  X(frag_fragments, "frag.fragments", counter)                         \
  X(frag_reassembled, "frag.reassembled", counter)                     \
  X(frag_timeout, "frag.timeout", counter)                             \
  X(frag_overlap, "frag.overlap", counter)                             \
  X(frag_too_large, "frag.too_large", counter)                         \
  X(frag_too_many, "frag.too_many_fragments", counter)                 \
  X(frag_table_full, "frag.table_full", counter)                       \
  X(frag_bytes_limit, "frag.bytes_limit", counter)                     \
  X(frag_bad, "frag.malformed", counter)                               \
  X(frag_sets_active, "frag.sets_active", gauge)                       \
  X(tcp_reasm_midstream, "tcp.reassembly.midstream", counter)          \
  X(tcp_reasm_out_of_order, "tcp.reassembly.out_of_order", counter)    \
  X(tcp_reasm_retransmissions, "tcp.reassembly.retransmissions", counter) \
  X(tcp_reasm_overlap, "tcp.reassembly.overlap", counter)              \
  X(tcp_reasm_gaps, "tcp.reassembly.gaps", counter)                    \
  X(tcp_reasm_gap_bytes, "tcp.reassembly.gap_bytes", counter)          \
  X(tcp_reasm_window_exceeded, "tcp.reassembly.window_exceeded", counter) \
  X(tcp_reasm_stream_full, "tcp.reassembly.stream_full", counter)      \
  X(tcp_reasm_pool_full, "tcp.reassembly.pool_full", counter)          \
  X(tcp_reasm_dropped_bytes, "tcp.reassembly.dropped_bytes", counter)  \
  X(icmp_messages, "icmp.messages", counter)                           \
  X(dns_messages, "dns.messages", counter)                             \
  X(dns_transactions, "dns.transactions", counter)                     \
  X(dns_orphan_responses, "dns.orphan_responses", counter)             \
  X(dns_unanswered, "dns.unanswered_queries", counter)                 \
  X(dns_pending_full, "dns.pending_full", counter)                     \
  X(dns_malformed, "dns.malformed", counter)                           \
  X(dns_query_truncated, "dns.query_truncated", counter)               \
  X(dns_tcp_gap, "dns.tcp.gap", counter)                               \
  X(dns_tcp_violations, "dns.tcp.violations", counter)                 \
  X(http_requests, "http.requests", counter)                           \
  X(http_responses, "http.responses", counter)                         \
  X(http_transactions, "http.transactions", counter)                   \
  X(http_unmatched_requests, "http.unmatched_requests", counter)       \
  X(http_unmatched_responses, "http.unmatched_responses", counter)     \
  X(http_informational, "http.informational_responses", counter)       \
  X(http_pipeline_overflow, "http.pipeline_overflow", counter)         \
  X(http_gaps, "http.gaps", counter)                                   \
  X(http_skipped_bytes, "http.skipped_bytes", counter)                 \
  X(http_head_too_large, "http.head_too_large", counter)               \
  X(http_malformed, "http.malformed", counter)                         \
  X(http_ambiguous_framing, "http.ambiguous_framing", counter)         \
  X(http_bad_chunks, "http.bad_chunks", counter)                       \
  X(http_versionless_requests, "http.versionless_requests", counter)   \
  X(http_bad_content_length, "http.bad_content_length", counter)       \
  X(http_store_full, "http.store_full", counter)                       \
  X(http_body_decode_failed, "http.body_decode_failed", counter)       \
  X(http_body_decode_partial, "http.body_decode_partial", counter)     \
  X(http_json_invalid, "http.json_invalid", counter)                   \
  X(http_violations, "http.violations", counter)                       \
  X(redis_requests, "redis.requests", counter)                         \
  X(redis_responses, "redis.responses", counter)                       \
  X(redis_transactions, "redis.transactions", counter)                 \
  X(redis_unmatched_requests, "redis.unmatched_requests", counter)     \
  X(redis_unmatched_responses, "redis.unmatched_responses", counter)   \
  X(redis_push_messages, "redis.push_messages", counter)               \
  X(redis_queue_full, "redis.queue_full", counter)                     \
  X(redis_store_full, "redis.store_full", counter)                     \
  X(redis_gaps, "redis.gaps", counter)                                 \
  X(redis_malformed, "redis.malformed", counter)                       \
  X(redis_too_deep, "redis.too_deep", counter)                         \
  X(redis_violations, "redis.violations", counter)                     \
  X(mysql_requests, "mysql.requests", counter) \
  X(mysql_responses, "mysql.responses", counter) \
  X(mysql_transactions, "mysql.transactions", counter) \
  X(mysql_unmatched_requests, "mysql.unmatched_requests", counter) \
  X(mysql_unmatched_responses, "mysql.unmatched_responses", counter) \
  X(mysql_other_commands, "mysql.other_commands", counter) \
  X(mysql_query_truncated, "mysql.query_truncated", counter) \
  X(mysql_response_cut, "mysql.response_cut", counter) \
  X(mysql_store_full, "mysql.store_full", counter) \
  X(mysql_malformed, "mysql.malformed", counter) \
  X(mysql_gaps, "mysql.gaps", counter) \
  X(mysql_tls_connections, "mysql.tls_connections", counter) \
  X(mysql_compressed_connections, "mysql.compressed_connections", counter) \
  X(mysql_replication_connections, "mysql.replication_connections", counter) \
  X(mysql_login_failures, "mysql.login_failures", counter) \
  X(mysql_statements_dropped, "mysql.statements_dropped", counter) \
  X(mysql_unknown_statements, "mysql.unknown_statements", counter) \
  X(mysql_violations, "mysql.violations", counter) \
  X(pgsql_requests, "pgsql.requests", counter) \
  X(pgsql_responses, "pgsql.responses", counter) \
  X(pgsql_transactions, "pgsql.transactions", counter) \
  X(pgsql_unmatched_requests, "pgsql.unmatched_requests", counter) \
  X(pgsql_unmatched_responses, "pgsql.unmatched_responses", counter) \
  X(pgsql_queue_full, "pgsql.queue_full", counter) \
  X(pgsql_query_truncated, "pgsql.query_truncated", counter) \
  X(pgsql_response_cut, "pgsql.response_cut", counter) \
  X(pgsql_store_full, "pgsql.store_full", counter) \
  X(pgsql_malformed, "pgsql.malformed", counter) \
  X(pgsql_gaps, "pgsql.gaps", counter) \
  X(pgsql_encrypted_connections, "pgsql.encrypted_connections", counter) \
  X(pgsql_cancel_requests, "pgsql.cancel_requests", counter) \
  X(pgsql_login_failures, "pgsql.login_failures", counter) \
  X(pgsql_violations, "pgsql.violations", counter) \
  X(mongodb_requests, "mongodb.requests", counter) \
  X(mongodb_responses, "mongodb.responses", counter) \
  X(mongodb_transactions, "mongodb.transactions", counter) \
  X(mongodb_unmatched_requests, "mongodb.unmatched_requests", counter) \
  X(mongodb_unmatched_responses, "mongodb.unmatched_responses", counter) \
  X(mongodb_queue_full, "mongodb.queue_full", counter) \
  X(mongodb_store_full, "mongodb.store_full", counter) \
  X(mongodb_malformed, "mongodb.malformed", counter) \
  X(mongodb_unknown_opcodes, "mongodb.unknown_opcodes", counter) \
  X(mongodb_compressed, "mongodb.compressed", counter) \
  X(mongodb_decompress_errors, "mongodb.decompress_errors", counter) \
  X(mongodb_too_large, "mongodb.too_large", counter) \
  X(mongodb_gaps, "mongodb.gaps", counter) \
  X(mongodb_violations, "mongodb.violations", counter) \
  X(amqp_methods, "amqp.methods", counter) \
  X(amqp_transactions, "amqp.transactions", counter) \
  X(amqp_unmatched_requests, "amqp.unmatched_requests", counter) \
  X(amqp_unmatched_responses, "amqp.unmatched_responses", counter) \
  X(amqp_unknown_methods, "amqp.unknown_methods", counter) \
  X(amqp_malformed, "amqp.malformed", counter) \
  X(amqp_too_large, "amqp.too_large", counter) \
  X(amqp_truncated_content, "amqp.truncated_content", counter) \
  X(amqp_fields_cut, "amqp.fields_cut", counter) \
  X(amqp_store_full, "amqp.store_full", counter) \
  X(amqp_queue_full, "amqp.queue_full", counter) \
  X(amqp_unexpected_frames, "amqp.unexpected_frames", counter) \
  X(amqp_gaps, "amqp.gaps", counter) \
  X(amqp_violations, "amqp.violations", counter) \
  X(cassandra_requests, "cassandra.requests", counter) \
  X(cassandra_responses, "cassandra.responses", counter) \
  X(cassandra_transactions, "cassandra.transactions", counter) \
  X(cassandra_events, "cassandra.events", counter) \
  X(cassandra_unmatched_requests, "cassandra.unmatched_requests", counter) \
  X(cassandra_unmatched_responses, "cassandra.unmatched_responses", counter) \
  X(cassandra_ignored, "cassandra.ignored", counter) \
  X(cassandra_queue_full, "cassandra.queue_full", counter) \
  X(cassandra_store_full, "cassandra.store_full", counter) \
  X(cassandra_malformed, "cassandra.malformed", counter) \
  X(cassandra_unknown_opcodes, "cassandra.unknown_opcodes", counter) \
  X(cassandra_compressed, "cassandra.compressed", counter) \
  X(cassandra_decompress_errors, "cassandra.decompress_errors", counter) \
  X(cassandra_no_compressor, "cassandra.no_compressor", counter) \
  X(cassandra_too_large, "cassandra.too_large", counter) \
  X(cassandra_crc_errors, "cassandra.crc_errors", counter) \
  X(cassandra_unknown_prepared, "cassandra.unknown_prepared", counter) \
  X(cassandra_query_cut, "cassandra.query_cut", counter) \
  X(cassandra_response_cut, "cassandra.response_cut", counter) \
  X(cassandra_gaps, "cassandra.gaps", counter) \
  X(cassandra_violations, "cassandra.violations", counter) \
  X(memcache_requests, "memcache.requests", counter)                   \
  X(memcache_responses, "memcache.responses", counter)                 \
  X(memcache_transactions, "memcache.transactions", counter)           \
  X(memcache_unmatched_requests, "memcache.unmatched_requests", counter) \
  X(memcache_unmatched_responses, "memcache.unmatched_responses", counter) \
  X(memcache_queue_full, "memcache.queue_full", counter)               \
  X(memcache_unknown_commands, "memcache.unknown_commands", counter)   \
  X(memcache_udp_multi_datagram, "memcache.udp_multi_datagram", counter) \
  X(memcache_gaps, "memcache.gaps", counter)                           \
  X(memcache_malformed, "memcache.malformed", counter)                 \
  X(memcache_violations, "memcache.violations", counter)               \
  X(detect_by_port, "detect.by_port", counter)                         \
  X(detect_by_payload, "detect.by_payload", counter)                   \
  X(detect_undetected, "detect.undetected", counter)                   \
  X(stream_buffer_full, "stream.buffer_full", counter)                 \
  X(stream_store_full, "stream.store_full", counter)                   \
  X(stream_gap_dropped_bytes, "stream.gap_dropped_bytes", counter)     \
  X(stream_detached, "stream.detached", counter)                       \
  X(stream_stale_segments, "stream.stale_segments", counter)           \
  X(stream_evicted, "stream.evicted", counter)                         \
  X(stream_connections, "stream.connections", gauge)                   \
  X(icmp_transactions, "icmp.transactions", counter)                   \
  X(icmp_orphan_responses, "icmp.orphan_responses", counter)           \
  X(icmp_unanswered, "icmp.unanswered_requests", counter)              \
  X(icmp_duplicate_requests, "icmp.duplicate_requests", counter)       \
  X(icmp_pending_full, "icmp.pending_full", counter)                   \
  X(flow_created, "flow.created", counter)                             \
  X(flow_expired, "flow.expired", counter)                             \
  X(flow_evicted, "flow.evicted", counter)                             \
  X(flow_active, "flow.active", gauge)                                 \
  X(flow_capacity, "flow.capacity", gauge)                             \
  X(flow_reports, "flow.reports", counter)                             \
  X(events_emitted, "events.emitted", counter)                         \
  X(events_dropped_output_full, "events.dropped.output_full", counter) \
  X(events_dropped_too_large, "events.dropped.too_large", counter)

enum class Counter : uint16_t {
#define TAPBEAT_COUNTER_ENUM(id, name, kind) id,
  TAPBEAT_COUNTERS(TAPBEAT_COUNTER_ENUM)
#undef TAPBEAT_COUNTER_ENUM
      kCount
};

inline constexpr std::size_t kCounterCount = static_cast<std::size_t>(Counter::kCount);

inline constexpr std::array<std::string_view, kCounterCount> kCounterNames = {
#define TAPBEAT_COUNTER_NAME(id, name, kind) name,
    TAPBEAT_COUNTERS(TAPBEAT_COUNTER_NAME)
#undef TAPBEAT_COUNTER_NAME
};

inline constexpr std::array<bool, kCounterCount> kCounterIsGauge = {
#define TAPBEAT_COUNTER_GAUGE(id, name, kind) std::string_view(#kind) == "gauge",
    TAPBEAT_COUNTERS(TAPBEAT_COUNTER_GAUGE)
#undef TAPBEAT_COUNTER_GAUGE
};

// One block per worker. Single writer; any thread may read.
class alignas(kCacheLine) Counters {
 public:
  void inc(Counter c, uint64_t n = 1) {
    auto& v = values_[static_cast<std::size_t>(c)];
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(Counter c, uint64_t n) {
    values_[static_cast<std::size_t>(c)].store(n, std::memory_order_relaxed);
  }
  uint64_t get(Counter c) const {
    return values_[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }
  uint64_t get(std::size_t i) const { return values_[i].load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kCounterCount> values_{};
};

}  // namespace tapbeat
