// Thrift's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class ThriftStat : uint16_t {
  requests,               // calls read (oneway ones too)
  responses,              // replies and exceptions read
  transactions,           // events published
  unmatched_requests,     // calls published without their reply
  unmatched_responses,    // replies to no call seen
  values_cut,             // values cut by string_max_size, collection_max_size, depth or the text limit
  struct_fields_dropped,  // struct fields past drop_after_n_struct_fields (left out of the text)
  too_large,              // frames over the size limit: their header read, the rest passed over
  queue_full,             // calls evicted from the full pending table (published unanswered)
  gaps,                   // gaps in a stream
  resynced,               // streams taken up again at a message start after a gap
  resync_skipped_bytes,   // bytes passed over looking for it
  violations,             // streams that are not Thrift: detached
  kCount,
};

inline constexpr CounterSpec kThriftCounters[] = {
    counter(ThriftStat::requests, "thrift.requests"),
    counter(ThriftStat::responses, "thrift.responses"),
    counter(ThriftStat::transactions, "thrift.transactions"),
    counter(ThriftStat::unmatched_requests, "thrift.unmatched_requests"),
    counter(ThriftStat::unmatched_responses, "thrift.unmatched_responses"),
    counter(ThriftStat::values_cut, "thrift.values_cut"),
    counter(ThriftStat::struct_fields_dropped, "thrift.struct_fields_dropped"),
    counter(ThriftStat::too_large, "thrift.too_large"),
    counter(ThriftStat::queue_full, "thrift.queue_full"),
    counter(ThriftStat::gaps, "thrift.gaps"),
    counter(ThriftStat::resynced, "thrift.resynced"),
    counter(ThriftStat::resync_skipped_bytes, "thrift.resync_skipped_bytes"),
    counter(ThriftStat::violations, "thrift.violations"),
};
static_assert(counters_in_order<ThriftStat>(kThriftCounters));

}  // namespace tapbeat
