// output.logstash: events to Logstash's beats input over the Lumberjack v2 protocol.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "output/sink.hpp"

namespace tapbeat {

// Throws ConfigError for a bad setting, std::runtime_error when no host answers at
// start within output.logstash.timeout.
std::unique_ptr<Sink> make_logstash_sink(const Config& cfg);

}  // namespace tapbeat
