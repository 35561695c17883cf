// PostgreSQL's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class PgsqlStat : uint16_t {
  requests,
  responses,
  transactions,
  unmatched_requests,
  unmatched_responses,
  queue_full,
  query_truncated,
  response_cut,
  store_full,
  malformed,
  gaps,
  responses_lost,
  resynced,
  resync_skipped_bytes,
  encrypted_connections,
  cancel_requests,
  login_failures,
  violations,
  statements_evicted,  // a named statement forgotten to remember a ninth: its later binds have no query
  kCount,
};

inline constexpr CounterSpec kPgsqlCounters[] = {
    counter(PgsqlStat::requests, "pgsql.requests"),
    counter(PgsqlStat::responses, "pgsql.responses"),
    counter(PgsqlStat::transactions, "pgsql.transactions"),
    counter(PgsqlStat::unmatched_requests, "pgsql.unmatched_requests"),
    counter(PgsqlStat::unmatched_responses, "pgsql.unmatched_responses"),
    counter(PgsqlStat::queue_full, "pgsql.queue_full"),
    counter(PgsqlStat::query_truncated, "pgsql.query_truncated"),
    counter(PgsqlStat::response_cut, "pgsql.response_cut"),
    counter(PgsqlStat::store_full, "pgsql.store_full"),
    counter(PgsqlStat::malformed, "pgsql.malformed"),
    counter(PgsqlStat::gaps, "pgsql.gaps"),
    counter(PgsqlStat::responses_lost, "pgsql.responses_lost"),
    counter(PgsqlStat::resynced, "pgsql.resynced"),
    counter(PgsqlStat::resync_skipped_bytes, "pgsql.resync_skipped_bytes"),
    counter(PgsqlStat::encrypted_connections, "pgsql.encrypted_connections"),
    counter(PgsqlStat::cancel_requests, "pgsql.cancel_requests"),
    counter(PgsqlStat::login_failures, "pgsql.login_failures"),
    counter(PgsqlStat::violations, "pgsql.violations"),
    counter(PgsqlStat::statements_evicted, "pgsql.statements_evicted"),
};
static_assert(counters_in_order<PgsqlStat>(kPgsqlCounters));

}  // namespace tapbeat
