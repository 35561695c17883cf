#include "flow/flow_event.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <string_view>

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

// A flow event's members are few and fixed in order; only which appear varies. They
// are written as text into the room the writer lends (JsonWriter::begin_raw): the
// constant runs between values copied whole, the values (numbers, addresses, times,
// digests, all of them ASCII tapbeat formats) in place. Through the writer each key
// and value took its own bounds check and separator logic.
class FlowText {
 public:
  static constexpr std::size_t kRoom = 640;  // the most one piece below writes

  explicit FlowText(char* o) : o_(o) {}
  char* end() const { return o_; }

  template <std::size_t N>
  void lit(const char (&s)[N]) {
    std::memcpy(o_, s, N - 1);
    o_ += N - 1;
  }
  void text(const char* s) { text(std::string_view(s)); }
  void text(std::string_view s) {
    std::memcpy(o_, s.data(), s.size());
    o_ += s.size();
  }
  void num(uint64_t v) { o_ = std::to_chars(o_, o_ + 20, v).ptr; }
  void ip(const IpBytes& a, uint8_t version) { o_ += format_ip(a, version, o_); }
  void mac(const std::array<uint8_t, 6>& m) {
    format_mac(m.data(), o_);
    o_ += 17;
  }
  void time(uint64_t ns, int digits) { o_ += format_time_digits(ns, digits, o_); }
  void flow_id(const Flow& f) { o_ += format_flow_id(f, o_); }
  void community_id(const IpBytes& src, const IpBytes& dst, const FlowKey& k, uint16_t sport,
                    uint16_t dport) {
    community_id_v1(src, dst, k.ip_version, k.proto, sport, dport, 0, o_);
    o_ += kCommunityIdLen;
  }
  // A member's separator: none before the first of its object.
  void comma(bool& first) {
    if (!first) *o_++ = ',';
    first = false;
  }

 private:
  char* o_;
};

// `"name":{...}` of one end (most 150 bytes: two 20-digit counts, a 45-byte address).
void endpoint(FlowText& t, bool source, const IpBytes& ip, uint16_t port, const std::array<uint8_t, 6>& mac,
              const Flow& f, const FlowCounts& c, bool seen) {
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
    t.ip(ip, f.key.ip_version);
    t.lit(R"(")");
  }
  if (f.key.has_mac) {
    t.comma(first);
    t.lit(R"("mac":")");
    t.mac(mac);
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
  // flow, host, network, source, type. The agent's strings (ECS version, host name)
  // go through the writer, which escapes them.
  if (char* o = w.begin_raw(FlowText::kRoom)) {
    FlowText t(o);
    endpoint(t, false, dst_ip, dst_port, dst_mac, f, counts[1], f.dir[1].packets > 0);
    w.end_raw(t.end());
  }
  w.begin_object("ecs");
  w.field("version", agent.ecs_version);
  w.end_object();

  if (char* o = w.begin_raw(FlowText::kRoom)) {  // most ~300 bytes: two 30-byte times
    FlowText t(o);
    t.lit(R"("event":{"action":"network_flow","category":["network"],"dataset":"flow","duration":)");
    t.num(f.last_ts_ns - f.first_ts_ns);
    t.lit(R"(,"end":")");
    t.time(f.last_ts_ns, agent.timestamp_digits);
    t.lit(R"(","kind":"event","start":")");
    t.time(f.first_ts_ns, agent.timestamp_digits);
    if (final)
      t.lit(R"(","type":["connection","end"]},"flow":{"final":true,"id":")");
    else
      t.lit(R"(","type":["connection"]},"flow":{"final":false,"id":")");
    t.flow_id(f);
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
    t.lit("}");
    w.end_raw(t.end());
  }
  w.begin_object("host");
  w.field("name", agent.hostname);
  w.end_object();

  if (char* o = w.begin_raw(FlowText::kRoom)) {  // most ~450 bytes: network, then source
    FlowText t(o);
    t.lit(R"("network":{)");
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
      t.community_id(src_ip, dst_ip, k, icmp ? f.icmp_type : src_port, icmp ? f.icmp_code : dst_port);
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
      t.lit(R"("transport":")");
      if (transport)
        t.text(transport);
      else  // no IANA keyword: the number, as ECS allows
        t.num(k.proto);
      if (k.ip_version == 6)
        t.lit(R"(","type":"ipv6")");
      else
        t.lit(R"(","type":"ipv4")");
    }
    t.lit("},");
    endpoint(t, true, src_ip, src_port, src_mac, f, counts[0], f.dir[0].packets > 0);
    t.lit(R"(,"type":"flow")");
    w.end_raw(t.end());
  }
  w.end_object();
}

}  // namespace tapbeat
