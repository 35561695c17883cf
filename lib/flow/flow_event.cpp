#include "flow/flow_event.hpp"

#include <charconv>
#include <cstring>

#include "flow/community_id.hpp"
#include "util/encode.hpp"

namespace tapbeat {

const char* transport_name(uint8_t proto) {
  // IANA protocol keywords, lower case, as ECS network.transport expects.
  switch (proto) {
    case 1:
      return "icmp";
    case 2:
      return "igmp";
    case 4:
      return "ipv4";
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 41:
      return "ipv6";
    case 46:
      return "rsvp";
    case 47:
      return "gre";
    case 50:
      return "esp";
    case 51:
      return "ah";
    case 58:
      return "ipv6-icmp";
    case 88:
      return "eigrp";
    case 89:
      return "ospf";
    case 103:
      return "pim";
    case 112:
      return "vrrp";
    case 132:
      return "sctp";
    case 136:
      return "udplite";
    default:
      return nullptr;
  }
}

std::size_t format_flow_id(const Flow& f, char* out) {
  // The normalised key's hash and the flow's start time: unique per flow, equal
  // for every report of it, and independent of which worker owns it.
  uint8_t raw[16];
  const uint64_t t = f.first_ts_ns;
  for (int i = 0; i < 8; ++i) {
    raw[i] = static_cast<uint8_t>(f.hash >> (56 - 8 * i));
    raw[8 + i] = static_cast<uint8_t>(t >> (56 - 8 * i));
  }
  return base64url_encode(raw, sizeof raw, out);
}

namespace {

bool has_ports(uint8_t proto) { return proto == 6 || proto == 17 || proto == 132 || proto == 136; }

void endpoint(JsonWriter& w, const char* name, const IpBytes& ip, uint16_t port,
              const std::array<uint8_t, 6>& mac, const Flow& f, const FlowCounts& c, bool seen) {
  char buf[48];
  w.begin_object(name);
  if (seen) w.field_uint("bytes", c.bytes);
  if (f.key.ip_version) w.field_ascii("ip", std::string_view(buf, format_ip(ip, f.key.ip_version, buf)));
  if (f.key.has_mac) {
    format_mac(mac.data(), buf);
    w.field_ascii("mac", std::string_view(buf, 17));
  }
  if (seen) w.field_uint("packets", c.packets);
  if (has_ports(f.key.proto)) w.field_uint("port", port);
  w.end_object();
}

}  // namespace

void write_flow_event(JsonWriter& w, const Flow& f, bool final, uint64_t report_ts_ns,
                      const FlowCounts (&counts)[2], const AgentInfo& agent) {
  char buf[64];
  const FlowKey& k = f.key;
  const IpBytes& src_ip = f.source_is_a ? k.addr_a : k.addr_b;
  const IpBytes& dst_ip = f.source_is_a ? k.addr_b : k.addr_a;
  const uint16_t src_port = f.source_is_a ? k.port_a : k.port_b;
  const uint16_t dst_port = f.source_is_a ? k.port_b : k.port_a;
  const auto& src_mac = f.source_is_a ? k.mac_a : k.mac_b;
  const auto& dst_mac = f.source_is_a ? k.mac_b : k.mac_a;

  w.begin_object();
  write_beat_fields(w, report_ts_ns, agent);

  endpoint(w, "destination", dst_ip, dst_port, dst_mac, f, counts[1], f.dir[1].packets > 0);

  w.begin_object("ecs");
  w.field("version", agent.ecs_version);
  w.end_object();

  w.begin_object("event");
  w.field("action", "network_flow");
  w.begin_array("category");
  w.string("network");
  w.end_array();
  w.field("dataset", "flow");
  w.field_uint("duration", f.last_ts_ns - f.first_ts_ns);
  w.field_ascii("end", std::string_view(buf, format_time_digits(f.last_ts_ns, agent.timestamp_digits, buf)));
  w.field("kind", "event");
  w.field_ascii("start",
                std::string_view(buf, format_time_digits(f.first_ts_ns, agent.timestamp_digits, buf)));
  w.begin_array("type");
  w.string("connection");
  if (final) w.string("end");
  w.end_array();
  w.end_object();

  w.begin_object("flow");
  w.field_bool("final", final);
  w.field_ascii("id", std::string_view(buf, format_flow_id(f, buf)));
  if (k.vlan_count == 1) {
    w.field_uint("vlan", k.vlan[0]);
  } else if (k.vlan_count >= 2) {
    w.begin_array("vlan");
    w.uint(k.vlan[0]);
    w.uint(k.vlan[1]);
    w.end_array();
  }
  w.end_object();

  w.begin_object("host");
  w.field("name", agent.hostname);
  w.end_object();

  w.begin_object("network");
  const uint64_t bytes = counts[0].bytes + counts[1].bytes;
  const uint64_t packets = counts[0].packets + counts[1].packets;
  if (bytes) w.field_uint("bytes", bytes);
  const bool icmp = k.proto == 1 || k.proto == 58;
  const bool ip = k.ip_version != 0;  // else a link-layer flow (ARP, LLDP, ...): MACs only, as Packetbeat
  if (ip) {
    community_id_v1(src_ip, dst_ip, k.ip_version, k.proto, icmp ? f.icmp_type : src_port,
                    icmp ? f.icmp_code : dst_port, 0, buf);
    w.field_ascii("community_id", std::string_view(buf, kCommunityIdLen));
  }
  if (const char* t = transport_name(k.proto); ip && (!t || !(k.proto == 6 || k.proto == 17 || icmp))) {
    auto r = std::to_chars(buf, buf + 8, k.proto);
    w.field("iana_number", std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
  }
  if (packets) w.field_uint("packets", packets);
  if (ip) {
    if (const char* t = transport_name(k.proto)) {
      w.field("transport", t);
    } else {  // no IANA keyword: the number, as ECS allows
      auto r = std::to_chars(buf, buf + 8, k.proto);
      w.field("transport", std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    }
    w.field("type", k.ip_version == 6 ? "ipv6" : "ipv4");
  }
  w.end_object();

  endpoint(w, "source", src_ip, src_port, src_mac, f, counts[0], f.dir[0].packets > 0);

  w.field("type", "flow");
  w.end_object();
}

}  // namespace tapbeat
