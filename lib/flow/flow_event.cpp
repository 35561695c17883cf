#include "flow/flow_event.hpp"

#include <array>

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

// `"name":{...}` of one end (most 150 bytes: two 20-digit counts, a 45-byte address).
void endpoint(JsonWriter::Text& t, bool source, const IpBytes& ip, uint16_t port,
              const std::array<uint8_t, 6>& mac, const Flow& f, const FlowCounts& c, bool seen) {
  if (source)
    t.lit(R"("source":{)");
  else
    t.lit(R"("destination":{)");
  bool first = true;
  if (seen) {
    t.comma(first);
    t.lit(R"("bytes":)");
    t.num(c.bytes);
  }
  if (f.key.ip_version) {
    t.comma(first);
    t.lit(R"("ip":")");
    t.advance(format_ip(ip, f.key.ip_version, t.at()));
    t.lit(R"(")");
  }
  if (f.key.has_mac) {
    t.comma(first);
    t.lit(R"("mac":")");
    format_mac(mac.data(), t.at());
    t.advance(17);
    t.lit(R"(")");
  }
  if (seen) {
    t.comma(first);
    t.lit(R"("packets":)");
    t.num(c.packets);
  }
  if (has_ports(f.key.proto)) {
    t.comma(first);
    t.lit(R"("port":)");
    t.num(port);
  }
  t.lit("}");
}

}  // namespace

void write_flow_event(JsonWriter& w, const Flow& f, bool final, uint64_t report_ts_ns,
                      const FlowCounts (&counts)[2], const AgentInfo& agent) {
  const FlowKey& k = f.key;
  const IpBytes& src_ip = f.source_is_a ? k.addr_a : k.addr_b;
  const IpBytes& dst_ip = f.source_is_a ? k.addr_b : k.addr_a;
  const uint16_t src_port = f.source_is_a ? k.port_a : k.port_b;
  const uint16_t dst_port = f.source_is_a ? k.port_b : k.port_a;
  const auto& src_mac = f.source_is_a ? k.mac_a : k.mac_b;
  const auto& dst_mac = f.source_is_a ? k.mac_b : k.mac_a;

  w.begin_object();
  write_beat_fields(w, report_ts_ns, agent);

  // Members in the order Packetbeat's encoder sorts them: destination, ecs, event,
  // flow, host, network, source, type. At most ~420 bytes between the agent's two
  // strings (ECS version, host name), which are escaped.
  JsonWriter::Text t(w, 512);
  endpoint(t, false, dst_ip, dst_port, dst_mac, f, counts[1], f.dir[1].packets > 0);
  t.lit(R"(,"ecs":{"version":)");
  t.string(agent.ecs_version);
  t.lit(R"(},"event":{"action":"network_flow","category":["network"],"dataset":"flow","duration":)");
  t.num(f.last_ts_ns - f.first_ts_ns);
  t.lit(R"(,"end":")");
  t.advance(format_time_digits(f.last_ts_ns, agent.timestamp_digits, t.at()));
  t.lit(R"(","kind":"event","start":")");
  t.advance(format_time_digits(f.first_ts_ns, agent.timestamp_digits, t.at()));
  if (final)
    t.lit(R"(","type":["connection","end"]},"flow":{"final":true,"id":")");
  else
    t.lit(R"(","type":["connection"]},"flow":{"final":false,"id":")");
  t.advance(format_flow_id(f, t.at()));
  t.lit(R"(")");
  if (k.vlan_count == 1) {
    t.lit(R"(,"vlan":)");
    t.num(k.vlan[0]);
  } else if (k.vlan_count >= 2) {
    t.lit(R"(,"vlan":[)");
    t.num(k.vlan[0]);
    t.lit(",");
    t.num(k.vlan[1]);
    t.lit("]");
  }
  t.lit(R"(},"host":{"name":)");
  t.string(agent.hostname);
  t.lit(R"(},"network":{)");
  bool first = true;
  const uint64_t bytes = counts[0].bytes + counts[1].bytes;
  const uint64_t packets = counts[0].packets + counts[1].packets;
  if (bytes) {
    t.comma(first);
    t.lit(R"("bytes":)");
    t.num(bytes);
  }
  const bool icmp = k.proto == 1 || k.proto == 58;
  const bool ip = k.ip_version != 0;  // else a link-layer flow (ARP, LLDP, ...): MACs only, as Packetbeat
  const char* transport = transport_name(k.proto);
  if (ip) {
    t.comma(first);
    t.lit(R"("community_id":")");
    community_id_v1(src_ip, dst_ip, k.ip_version, k.proto, icmp ? f.icmp_type : src_port,
                    icmp ? f.icmp_code : dst_port, 0, t.at());
    t.advance(kCommunityIdLen);
    t.lit(R"(")");
    if (!transport || !(k.proto == 6 || k.proto == 17 || icmp)) {
      t.lit(R"(,"iana_number":")");
      t.num(k.proto);
      t.lit(R"(")");
    }
  }
  if (packets) {
    t.comma(first);
    t.lit(R"("packets":)");
    t.num(packets);
  }
  if (ip) {
    t.comma(first);
    t.lit(R"("transport":)");
    if (transport) {
      t.ascii(transport);
    } else {  // no IANA keyword: the number, as ECS allows
      t.lit(R"(")");
      t.num(k.proto);
      t.lit(R"(")");
    }
    if (k.ip_version == 6)
      t.lit(R"(,"type":"ipv6")");
    else
      t.lit(R"(,"type":"ipv4")");
  }
  t.lit("},");
  endpoint(t, true, src_ip, src_port, src_mac, f, counts[0], f.dir[0].packets > 0);
  t.lit(R"(,"type":"flow")");
  t.done();
  w.end_object();
}

}  // namespace tapbeat
