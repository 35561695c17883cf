#include "event/agent.hpp"

#include "util/encode.hpp"

namespace tapbeat {

namespace {

void fixed_members(JsonWriter& w, const AgentInfo& agent) {
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
  if (!agent.field_members.empty()) w.raw(agent.field_members);
}

}  // namespace

void prepare_agent(AgentInfo& agent) {
  agent.fixed_members.clear();
  std::string buf(64 * 1024, '\0');
  JsonWriter w(buf.data(), buf.size());
  fixed_members(w, agent);
  if (!w.overflow()) agent.fixed_members.assign(w.view());  // else: rendered with each event
}

void write_beat_fields(JsonWriter& w, std::string_view timestamp, const AgentInfo& agent) {
  w.field_ascii("@timestamp", timestamp);
  if (agent.fixed_members.empty())
    fixed_members(w, agent);
  else
    w.raw(agent.fixed_members);
}

void write_beat_fields(JsonWriter& w, uint64_t timestamp_ns, const AgentInfo& agent) {
  char buf[40];
  write_beat_fields(w, std::string_view(buf, format_time_digits(timestamp_ns, agent.timestamp_digits, buf)),
                    agent);
}

}  // namespace tapbeat
