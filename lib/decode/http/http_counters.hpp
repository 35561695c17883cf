// HTTP's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class HttpStat : uint16_t {
  requests,
  responses,
  transactions,
  unmatched_requests,
  unmatched_responses,
  responses_lost,
  informational,
  responses_held,
  pipeline_overflow,
  gaps,
  skipped_bytes,
  head_too_large,
  heads_cut_by_gap,
  heads_cut_by_end,
  malformed,
  ambiguous_framing,
  bad_chunks,
  versionless_requests,
  bad_status_codes,
  bad_content_length,
  headers_dropped,
  store_full,
  body_decode_failed,
  body_decode_partial,
  json_invalid,
  http2_prior_knowledge,
  violations,
  kCount,
};

inline constexpr CounterSpec kHttpCounters[] = {
    counter(HttpStat::requests, "http.requests"),
    counter(HttpStat::responses, "http.responses"),
    counter(HttpStat::transactions, "http.transactions"),
    counter(HttpStat::unmatched_requests, "http.unmatched_requests"),
    counter(HttpStat::unmatched_responses, "http.unmatched_responses"),
    counter(HttpStat::responses_lost, "http.responses_lost"),
    counter(HttpStat::informational, "http.informational_responses"),
    counter(HttpStat::responses_held, "http.responses_held"),
    counter(HttpStat::pipeline_overflow, "http.pipeline_overflow"),
    counter(HttpStat::gaps, "http.gaps"),
    counter(HttpStat::skipped_bytes, "http.skipped_bytes"),
    counter(HttpStat::head_too_large, "http.head_too_large"),
    counter(HttpStat::heads_cut_by_gap, "http.heads_cut_by_gap"),
    counter(HttpStat::heads_cut_by_end, "http.heads_cut_by_end"),
    counter(HttpStat::malformed, "http.malformed"),
    counter(HttpStat::ambiguous_framing, "http.ambiguous_framing"),
    counter(HttpStat::bad_chunks, "http.bad_chunks"),
    counter(HttpStat::versionless_requests, "http.versionless_requests"),
    counter(HttpStat::bad_status_codes, "http.bad_status_codes"),
    counter(HttpStat::bad_content_length, "http.bad_content_length"),
    counter(HttpStat::headers_dropped, "http.headers_dropped"),
    counter(HttpStat::store_full, "http.store_full"),
    counter(HttpStat::body_decode_failed, "http.body_decode_failed"),
    counter(HttpStat::body_decode_partial, "http.body_decode_partial"),
    counter(HttpStat::json_invalid, "http.json_invalid"),
    counter(HttpStat::http2_prior_knowledge, "http.http2_prior_knowledge"),
    counter(HttpStat::violations, "http.violations"),
};
static_assert(counters_in_order<HttpStat>(kHttpCounters));

}  // namespace tapbeat
