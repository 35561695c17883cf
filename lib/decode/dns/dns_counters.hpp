// DNS's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class DnsStat : uint16_t {
  messages,
  transactions,
  orphan_responses,
  answers_before_query,
  unanswered,
  pending_full,
  malformed,
  cut_by_capture,
  query_truncated,
  edns_malformed,
  records_not_rendered,
  tcp_gap,
  tcp_resynced,
  tcp_violations,
  kCount,
};

inline constexpr CounterSpec kDnsCounters[] = {
    counter(DnsStat::messages, "dns.messages"),
    counter(DnsStat::transactions, "dns.transactions"),
    counter(DnsStat::orphan_responses, "dns.orphan_responses"),
    counter(DnsStat::answers_before_query, "dns.answers_before_query"),
    counter(DnsStat::unanswered, "dns.unanswered_queries"),
    counter(DnsStat::pending_full, "dns.pending_full"),
    counter(DnsStat::malformed, "dns.malformed"),
    counter(DnsStat::cut_by_capture, "dns.cut_by_capture"),
    counter(DnsStat::query_truncated, "dns.query_truncated"),
    counter(DnsStat::edns_malformed, "dns.edns_malformed"),
    counter(DnsStat::records_not_rendered, "dns.records_not_rendered"),
    counter(DnsStat::tcp_gap, "dns.tcp.gap"),
    counter(DnsStat::tcp_resynced, "dns.tcp.resynced"),
    counter(DnsStat::tcp_violations, "dns.tcp.violations"),
};
static_assert(counters_in_order<DnsStat>(kDnsCounters));

}  // namespace tapbeat
