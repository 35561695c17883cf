// The identity fields a Beat adds to every event. Built once at start-up and
// read-only afterwards (shared by all workers without synchronisation).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "event/json_writer.hpp"

namespace tapbeat {

struct AgentInfo {
  std::string name;          // agent.name: config `name`, else the host name
  std::string hostname;      // host.name
  std::string id;            // agent.id: stable per host
  std::string ephemeral_id;  // agent.ephemeral_id: new every run
  std::string version;       // agent.version
  std::string ecs_version = "8.0.0";
  std::vector<std::string> tags;  // `tags`: on every event, in order
  int timestamp_digits = 3;       // @timestamp fraction: timestamp.precision (3, 6 or 9)
  // `fields` (and fields_under_root) as JSON members ("\"fields\":{...}" and/or
  // root members), rendered by the configuration; written after the tags.
  std::string field_members;
  // @metadata, agent and tags as JSON members, rendered once by prepare_agent();
  // empty: rendered with each event.
  std::string fixed_members;
};

// Renders the members every event repeats (after prepare_agent() the agent is not
// changed any more).
void prepare_agent(AgentInfo& agent);

// The fields a Beat puts first on every event: @timestamp, @metadata, agent.*.
void write_beat_fields(JsonWriter& w, uint64_t timestamp_ns, const AgentInfo& agent);
// The same with @timestamp already formatted (at the agent's precision).
void write_beat_fields(JsonWriter& w, std::string_view timestamp, const AgentInfo& agent);

}  // namespace tapbeat
