// output.kafka (librdkafka). Built where librdkafka is found, into the module
// tapbeat-kafka.so (see plugin.hpp); see kafka_sink.cpp.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "output/sink.hpp"

namespace tapbeat {

// Throws ConfigError for a bad setting; with SinkOpen::kRequireConnection,
// std::runtime_error when no broker answers within output.kafka.timeout. A run opens
// it with no broker answering: events wait in its queue until one does.
// Loads tapbeat-kafka.so on first use (kafka_loader.cpp).
std::unique_ptr<Sink> make_kafka_sink(const Config& cfg, SinkOpen how = SinkOpen::kRun);

// The sink itself, in the module (kafka_sink.cpp); the Kafka bench links it directly.
std::unique_ptr<Sink> open_kafka_sink(const Config& cfg, SinkOpen how = SinkOpen::kRun);

}  // namespace tapbeat
