// output.redis: events into Redis lists (RPUSH) or channels (PUBLISH), with Beats'
// settings (hosts, key/keys, datatype, db, password, loadbalance, timeout, backoff,
// max_retries, bulk_max_size, ssl).
#pragma once

#include <memory>

#include "config/config.hpp"
#include "output/sink.hpp"

namespace tapbeat {

// Throws ConfigError for a bad setting; with SinkOpen::kRequireConnection,
// std::runtime_error when no host answers within output.redis.timeout. A run opens it
// with no host answering: events wait until one does.
std::unique_ptr<Sink> make_redis_sink(const Config& cfg, SinkOpen how = SinkOpen::kRun);

}  // namespace tapbeat
