// output.kafka (librdkafka). Built where librdkafka is found; see kafka_sink.cpp.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "output/sink.hpp"

namespace tapbeat {

// Throws ConfigError for a bad setting, std::runtime_error when no broker answers
// at start and no disk queue is configured.
// check_only: every setting checked (files, certificates, names) without connecting.
std::unique_ptr<Sink> make_kafka_sink(const Config& cfg, bool check_only = false);

}  // namespace tapbeat
