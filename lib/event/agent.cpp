#include "event/agent.hpp"

#include "util/encode.hpp"

namespace tapbeat {

void write_beat_fields(JsonWriter& w, uint64_t timestamp_ns, const AgentInfo& agent) {
  char buf[40];
  w.field("@timestamp", std::string_view(buf, format_time_digits(timestamp_ns, agent.timestamp_digits, buf)));
  w.begin_object("@metadata");
  w.field("beat", "tapbeat");
  w.field("type", "_doc");
  w.field("version", agent.version);
  w.end_object();
  w.begin_object("agent");
  w.field("ephemeral_id", agent.ephemeral_id);
  w.field("id", agent.id);
  w.field("name", agent.name);
  w.field("type", "tapbeat");
  w.field("version", agent.version);
  w.end_object();
  if (!agent.tags.empty()) {
    w.begin_array("tags");
    for (const std::string& t : agent.tags) w.string(t);
    w.end_array();
  }
}

}  // namespace tapbeat
