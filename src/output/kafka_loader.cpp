// output.kafka lives in the module tapbeat-kafka.so (kafka_sink.cpp, linked against
// librdkafka), loaded when a run writes to Kafka; see plugin.hpp.
#include <stdexcept>

#include "output/kafka_sink.hpp"
#include "plugin.hpp"

namespace tapbeat {

std::unique_ptr<Sink> make_kafka_sink(const Config& cfg, SinkOpen how) {
  void* entry;
  try {
    entry = plugin_symbol("kafka", "tapbeat_kafka_open");
  } catch (const std::runtime_error& e) {
    throw ConfigError(cfg.file, "output.kafka", e.what());
  }
  return std::unique_ptr<Sink>(reinterpret_cast<Sink* (*)(const Config&, SinkOpen)>(entry)(cfg, how));
}

}  // namespace tapbeat
