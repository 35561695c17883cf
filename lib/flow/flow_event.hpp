// Writes a flow report shaped as Packetbeat's flow events (type: flow).
// Hot-path safe: no allocation; output bounded by the writer's buffer.
#pragma once

#include <cstdint>

#include "event/agent.hpp"
#include "event/json_writer.hpp"
#include "flow/flow_table.hpp"

namespace tapbeat {

// counts: per direction ([0] source, [1] destination) as reported (totals or deltas).
void write_flow_event(JsonWriter& w, const Flow& f, bool final, uint64_t report_ts_ns,
                      const FlowCounts (&counts)[2], const AgentInfo& agent);

// Packetbeat's flow.id text for a flow: stable across the flow's reports.
std::size_t format_flow_id(const Flow& f, char* out);

// network.transport keyword for an IP protocol number ("tcp", "ipv6-icmp", ...).
const char* transport_name(uint8_t proto);

}  // namespace tapbeat
