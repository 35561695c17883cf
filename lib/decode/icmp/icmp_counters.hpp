// ICMP's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class IcmpStat : uint16_t {
  messages,
  transactions,
  orphan_responses,
  unanswered,
  duplicate_requests,
  pending_full,
  single_messages,
  replies_before_request,
  kCount,
};

inline constexpr CounterSpec kIcmpCounters[] = {
    counter(IcmpStat::messages, "icmp.messages"),
    counter(IcmpStat::transactions, "icmp.transactions"),
    counter(IcmpStat::orphan_responses, "icmp.orphan_responses"),
    counter(IcmpStat::unanswered, "icmp.unanswered_requests"),
    counter(IcmpStat::duplicate_requests, "icmp.duplicate_requests"),
    counter(IcmpStat::pending_full, "icmp.pending_full"),
    counter(IcmpStat::single_messages, "icmp.single_messages"),
    counter(IcmpStat::replies_before_request, "icmp.replies_before_request"),
};
static_assert(counters_in_order<IcmpStat>(kIcmpCounters));

}  // namespace tapbeat
