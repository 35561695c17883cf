// Cassandra's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class CassandraStat : uint16_t {
  requests,
  responses,
  transactions,
  events,
  unmatched_requests,
  unmatched_responses,
  ignored,
  queue_full,
  store_full,
  malformed,
  unknown_opcodes,
  compressed,
  decompress_errors,
  no_compressor,
  too_large,
  crc_errors,
  unknown_prepared,
  query_cut,
  response_cut,
  gaps,
  resynced,
  resync_skipped_bytes,
  violations,
  kCount,
};

inline constexpr CounterSpec kCassandraCounters[] = {
    counter(CassandraStat::requests, "cassandra.requests"),
    counter(CassandraStat::responses, "cassandra.responses"),
    counter(CassandraStat::transactions, "cassandra.transactions"),
    counter(CassandraStat::events, "cassandra.events"),
    counter(CassandraStat::unmatched_requests, "cassandra.unmatched_requests"),
    counter(CassandraStat::unmatched_responses, "cassandra.unmatched_responses"),
    counter(CassandraStat::ignored, "cassandra.ignored"),
    counter(CassandraStat::queue_full, "cassandra.queue_full"),
    counter(CassandraStat::store_full, "cassandra.store_full"),
    counter(CassandraStat::malformed, "cassandra.malformed"),
    counter(CassandraStat::unknown_opcodes, "cassandra.unknown_opcodes"),
    counter(CassandraStat::compressed, "cassandra.compressed"),
    counter(CassandraStat::decompress_errors, "cassandra.decompress_errors"),
    counter(CassandraStat::no_compressor, "cassandra.no_compressor"),
    counter(CassandraStat::too_large, "cassandra.too_large"),
    counter(CassandraStat::crc_errors, "cassandra.crc_errors"),
    counter(CassandraStat::unknown_prepared, "cassandra.unknown_prepared"),
    counter(CassandraStat::query_cut, "cassandra.query_cut"),
    counter(CassandraStat::response_cut, "cassandra.response_cut"),
    counter(CassandraStat::gaps, "cassandra.gaps"),
    counter(CassandraStat::resynced, "cassandra.resynced"),
    counter(CassandraStat::resync_skipped_bytes, "cassandra.resync_skipped_bytes"),
    counter(CassandraStat::violations, "cassandra.violations"),
};
static_assert(counters_in_order<CassandraStat>(kCassandraCounters));

}  // namespace tapbeat
