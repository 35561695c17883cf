// Redis's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class RedisStat : uint16_t {
  requests,
  responses,
  transactions,
  unmatched_requests,
  unmatched_responses,
  push_messages,
  unanswered_by_request,
  queue_full,
  store_full,
  gaps,
  cut_by_end,
  responses_lost,
  resynced,
  resync_skipped_bytes,
  malformed,
  too_deep,
  text_cut,
  violations,
  kCount,
};

inline constexpr CounterSpec kRedisCounters[] = {
    counter(RedisStat::requests, "redis.requests"),
    counter(RedisStat::responses, "redis.responses"),
    counter(RedisStat::transactions, "redis.transactions"),
    counter(RedisStat::unmatched_requests, "redis.unmatched_requests"),
    counter(RedisStat::unmatched_responses, "redis.unmatched_responses"),
    counter(RedisStat::push_messages, "redis.push_messages"),
    // Commands the client had the server not answer (CLIENT REPLY OFF / SKIP).
    counter(RedisStat::unanswered_by_request, "redis.unanswered_by_request"),
    counter(RedisStat::queue_full, "redis.queue_full"),
    counter(RedisStat::store_full, "redis.store_full"),
    counter(RedisStat::gaps, "redis.gaps"),
    counter(RedisStat::cut_by_end, "redis.cut_by_end"),
    counter(RedisStat::responses_lost, "redis.responses_lost"),
    counter(RedisStat::resynced, "redis.resynced"),
    counter(RedisStat::resync_skipped_bytes, "redis.resync_skipped_bytes"),
    counter(RedisStat::malformed, "redis.malformed"),
    counter(RedisStat::too_deep, "redis.too_deep"),
    counter(RedisStat::text_cut, "redis.text_cut"),
    counter(RedisStat::violations, "redis.violations"),
};
static_assert(counters_in_order<RedisStat>(kRedisCounters));

}  // namespace tapbeat
