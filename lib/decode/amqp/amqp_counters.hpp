// AMQP's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class AmqpStat : uint16_t {
  methods,
  transactions,
  unmatched_requests,
  unmatched_responses,
  unknown_methods,
  malformed,
  too_large,
  truncated_content,
  fields_cut,
  store_full,
  queue_full,
  unexpected_frames,
  gaps,
  resynced,
  resync_skipped_bytes,
  responses_lost,
  other_versions,
  violations,
  kCount,
};

inline constexpr CounterSpec kAmqpCounters[] = {
    counter(AmqpStat::methods, "amqp.methods"),
    counter(AmqpStat::transactions, "amqp.transactions"),
    counter(AmqpStat::unmatched_requests, "amqp.unmatched_requests"),
    counter(AmqpStat::unmatched_responses, "amqp.unmatched_responses"),
    counter(AmqpStat::unknown_methods, "amqp.unknown_methods"),
    counter(AmqpStat::malformed, "amqp.malformed"),
    counter(AmqpStat::too_large, "amqp.too_large"),
    counter(AmqpStat::truncated_content, "amqp.truncated_content"),
    counter(AmqpStat::fields_cut, "amqp.fields_cut"),
    counter(AmqpStat::store_full, "amqp.store_full"),
    counter(AmqpStat::queue_full, "amqp.queue_full"),
    counter(AmqpStat::unexpected_frames, "amqp.unexpected_frames"),
    counter(AmqpStat::gaps, "amqp.gaps"),
    counter(AmqpStat::resynced, "amqp.resynced"),
    counter(AmqpStat::resync_skipped_bytes, "amqp.resync_skipped_bytes"),
    counter(AmqpStat::responses_lost, "amqp.responses_lost"),
    counter(AmqpStat::other_versions, "amqp.other_versions"),
    counter(AmqpStat::violations, "amqp.violations"),
};
static_assert(counters_in_order<AmqpStat>(kAmqpCounters));

}  // namespace tapbeat
