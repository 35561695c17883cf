// MongoDB's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class MongodbStat : uint16_t {
  requests,
  responses,
  transactions,
  unmatched_requests,
  unmatched_responses,
  queue_full,
  store_full,
  malformed,
  unknown_opcodes,
  compressed,
  decompress_errors,
  too_large,
  gaps,
  resynced,
  resync_skipped_bytes,
  violations,
  kCount,
};

inline constexpr CounterSpec kMongodbCounters[] = {
    counter(MongodbStat::requests, "mongodb.requests"),
    counter(MongodbStat::responses, "mongodb.responses"),
    counter(MongodbStat::transactions, "mongodb.transactions"),
    counter(MongodbStat::unmatched_requests, "mongodb.unmatched_requests"),
    counter(MongodbStat::unmatched_responses, "mongodb.unmatched_responses"),
    counter(MongodbStat::queue_full, "mongodb.queue_full"),
    counter(MongodbStat::store_full, "mongodb.store_full"),
    counter(MongodbStat::malformed, "mongodb.malformed"),
    counter(MongodbStat::unknown_opcodes, "mongodb.unknown_opcodes"),
    counter(MongodbStat::compressed, "mongodb.compressed"),
    counter(MongodbStat::decompress_errors, "mongodb.decompress_errors"),
    counter(MongodbStat::too_large, "mongodb.too_large"),
    counter(MongodbStat::gaps, "mongodb.gaps"),
    counter(MongodbStat::resynced, "mongodb.resynced"),
    counter(MongodbStat::resync_skipped_bytes, "mongodb.resync_skipped_bytes"),
    counter(MongodbStat::violations, "mongodb.violations"),
};
static_assert(counters_in_order<MongodbStat>(kMongodbCounters));

}  // namespace tapbeat
