// output.logstash: events to Logstash's beats input over the Lumberjack v2 protocol.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "output/sink.hpp"

namespace tapbeat {

// Throws ConfigError for a bad setting, std::runtime_error when no host answers at
// start within output.logstash.timeout.
// check_only: every setting checked (files, certificates, names) without connecting.
std::unique_ptr<Sink> make_logstash_sink(const Config& cfg, bool check_only = false);

}  // namespace tapbeat
