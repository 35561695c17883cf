// Memcache's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class MemcacheStat : uint16_t {
  requests,
  responses,
  transactions,
  unmatched_requests,
  unmatched_responses,
  queue_full,
  unknown_commands,
  udp_multi_datagram,
  gaps,
  responses_lost,
  resynced,
  resync_skipped_bytes,
  malformed,
  keys_cut,
  values_cut,
  violations,
  kCount,
};

inline constexpr CounterSpec kMemcacheCounters[] = {
    counter(MemcacheStat::requests, "memcache.requests"),
    counter(MemcacheStat::responses, "memcache.responses"),
    counter(MemcacheStat::transactions, "memcache.transactions"),
    counter(MemcacheStat::unmatched_requests, "memcache.unmatched_requests"),
    counter(MemcacheStat::unmatched_responses, "memcache.unmatched_responses"),
    counter(MemcacheStat::queue_full, "memcache.queue_full"),
    counter(MemcacheStat::unknown_commands, "memcache.unknown_commands"),
    counter(MemcacheStat::udp_multi_datagram, "memcache.udp_multi_datagram"),
    counter(MemcacheStat::gaps, "memcache.gaps"),
    counter(MemcacheStat::responses_lost, "memcache.responses_lost"),
    counter(MemcacheStat::resynced, "memcache.resynced"),
    counter(MemcacheStat::resync_skipped_bytes, "memcache.resync_skipped_bytes"),
    counter(MemcacheStat::malformed, "memcache.malformed"),
    counter(MemcacheStat::keys_cut, "memcache.keys_cut"),
    counter(MemcacheStat::values_cut, "memcache.values_cut"),
    counter(MemcacheStat::violations, "memcache.violations"),
};
static_assert(counters_in_order<MemcacheStat>(kMemcacheCounters));

}  // namespace tapbeat
