// output.logstash: events to Logstash's beats input over the Lumberjack v2 protocol.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "output/sink.hpp"

namespace tapbeat {

// Throws ConfigError for a bad setting; with SinkOpen::kRequireConnection,
// std::runtime_error when no host answers within output.logstash.timeout. A run opens it
// with no host answering: events wait in its queue until one does.
std::unique_ptr<Sink> make_logstash_sink(const Config& cfg, SinkOpen how = SinkOpen::kRun);

}  // namespace tapbeat
