// Stands in for the Kafka output where tapbeat is built without librdkafka.
#include <stdexcept>

#include "output/kafka_sink.hpp"

namespace tapbeat {

std::unique_ptr<Sink> make_kafka_sink(const Config& cfg, SinkOpen) {
  throw ConfigError(cfg.file, "output.kafka",
                    "this tapbeat was built without librdkafka (install librdkafka-dev and rebuild)");
}

}  // namespace tapbeat
