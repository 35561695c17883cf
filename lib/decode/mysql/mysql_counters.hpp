// MySQL's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class MysqlStat : uint16_t {
  requests,
  responses,
  transactions,
  unmatched_requests,
  unmatched_responses,
  other_commands,
  query_truncated,
  response_cut,
  store_full,
  malformed,
  gaps,
  resynced,
  resync_skipped_bytes,
  tls_connections,
  compressed_connections,
  compressed_cut,
  decompress_errors,
  replication_connections,
  login_failures,
  statements_dropped,
  unknown_statements,
  violations,
  pipelined,
  columns_unknown,
  kCount,
};

inline constexpr CounterSpec kMysqlCounters[] = {
    counter(MysqlStat::requests, "mysql.requests"),
    counter(MysqlStat::responses, "mysql.responses"),
    counter(MysqlStat::transactions, "mysql.transactions"),
    counter(MysqlStat::unmatched_requests, "mysql.unmatched_requests"),
    counter(MysqlStat::unmatched_responses, "mysql.unmatched_responses"),
    counter(MysqlStat::other_commands, "mysql.other_commands"),
    counter(MysqlStat::query_truncated, "mysql.query_truncated"),
    counter(MysqlStat::response_cut, "mysql.response_cut"),
    counter(MysqlStat::store_full, "mysql.store_full"),
    counter(MysqlStat::malformed, "mysql.malformed"),
    counter(MysqlStat::gaps, "mysql.gaps"),
    counter(MysqlStat::resynced, "mysql.resynced"),
    counter(MysqlStat::resync_skipped_bytes, "mysql.resync_skipped_bytes"),
    counter(MysqlStat::tls_connections, "mysql.tls_connections"),
    counter(MysqlStat::compressed_connections, "mysql.compressed_connections"),
    counter(MysqlStat::compressed_cut, "mysql.compressed_cut"),
    counter(MysqlStat::decompress_errors, "mysql.decompress_errors"),
    counter(MysqlStat::replication_connections, "mysql.replication_connections"),
    counter(MysqlStat::login_failures, "mysql.login_failures"),
    counter(MysqlStat::statements_dropped, "mysql.statements_dropped"),
    counter(MysqlStat::unknown_statements, "mysql.unknown_statements"),
    counter(MysqlStat::violations, "mysql.violations"),
    // Commands sent behind another's response (pipelined), each answered in turn.
    counter(MysqlStat::pipelined, "mysql.pipelined"),
    // Execute results whose definitions the server left out (MariaDB's cached metadata,
    // MySQL 8's optional metadata) for a statement whose prepare response was not seen:
    // their rows counted, not shown in `response`.
    counter(MysqlStat::columns_unknown, "mysql.columns_unknown"),
};
static_assert(counters_in_order<MysqlStat>(kMysqlCounters));

}  // namespace tapbeat
