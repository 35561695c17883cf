// NFS's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class NfsStat : uint16_t {
  calls,               // NFS calls read
  replies,             // replies read
  transactions,        // calls published with their reply
  unmatched_requests,  // calls published without a reply (timeout, end of input, table full)
  unmatched_replies,   // replies to no call seen
  other_programs,      // RPC calls to another program than NFS (100003): not published
  denied_replies,      // replies rejecting the call (RPC version or authentication)
  malformed,           // RPC messages that do not parse: left out
  pending_full,        // calls evicted from the full pending table (published unanswered)
  gaps,                // gaps in a TCP stream: the decoder looks for the next record
  violations,          // TCP streams that are not RPC record marking: detached
  kCount,
};

inline constexpr CounterSpec kNfsCounters[] = {
    counter(NfsStat::calls, "nfs.calls"),
    counter(NfsStat::replies, "nfs.replies"),
    counter(NfsStat::transactions, "nfs.transactions"),
    counter(NfsStat::unmatched_requests, "nfs.unmatched_requests"),
    counter(NfsStat::unmatched_replies, "nfs.unmatched_replies"),
    counter(NfsStat::other_programs, "nfs.other_programs"),
    counter(NfsStat::denied_replies, "nfs.denied_replies"),
    counter(NfsStat::malformed, "nfs.malformed"),
    counter(NfsStat::pending_full, "nfs.pending_full"),
    counter(NfsStat::gaps, "nfs.gaps"),
    counter(NfsStat::violations, "nfs.violations"),
};
static_assert(counters_in_order<NfsStat>(kNfsCounters));

}  // namespace tapbeat
