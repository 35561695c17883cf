#include "decode/dhcpv4/dhcpv4_decoder.hpp"

#include <cstdio>
#include <cstring>

#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "util/byte_reader.hpp"
#include "util/encode.hpp"

namespace tapbeat {

Dhcpv4Decoder::Dhcpv4Decoder(const DecoderSetup& s)
    : DecoderCommon(s), msg_(std::make_unique<Dhcpv4Message>()), scratch_(new uint8_t[kDhcpScratch]) {}

void Dhcpv4Decoder::datagram(const PacketMeta& m) {
  Dhcpv4Message& msg = *msg_;
  msg = Dhcpv4Message{};
  if (parse_dhcpv4({m.l4_payload, m.l4_payload_len}, msg, scratch_.get()) != DhcpParse::kOk) {
    counters_.inc(Dhcpv4Stat::malformed);
    return;
  }
  counters_.inc(Dhcpv4Stat::messages);
  if (!msg.cookie) counters_.inc(Dhcpv4Stat::bootp);
  if (msg.options_malformed) counters_.inc(Dhcpv4Stat::options_malformed);
  if (msg.joined) counters_.inc(Dhcpv4Stat::options_long, msg.joined);
  publish(m, msg);
}

namespace {

constexpr uint8_t kBootReply = 2;

struct Ip4Text {
  char buf[16];
  std::size_t n;
  explicit Ip4Text(const uint8_t* p) {
    IpBytes ip{};
    std::memcpy(ip.data(), p, 4);
    char text[46];
    n = format_ip(ip, 4, text);
    std::memcpy(buf, text, n);
  }
  std::string_view view() const { return {buf, n}; }
};

bool unspecified(const uint8_t* p) { return (p[0] | p[1] | p[2] | p[3]) == 0; }

std::string_view text(std::span<const uint8_t> d) {
  std::size_t n = d.size();
  while (n && d[n - 1] == 0) --n;  // a C string's terminator some clients send
  return {reinterpret_cast<const char*>(d.data()), n};
}

// A list of addresses (a trailing part of fewer than four bytes is left out).
void ip_list(JsonWriter& w, const char* key, std::span<const uint8_t> d) {
  w.begin_array(key);
  for (std::size_t i = 0; i + 4 <= d.size(); i += 4) w.string(Ip4Text(d.data() + i).view());
  w.end_array();
}

// Hex of at most 255 bytes (one option instance's length; a joined option is cut).
void hex(JsonWriter& w, const char* key, std::span<const uint8_t> d) {
  char buf[2 * 255];
  const std::size_t n = d.size() < 255 ? d.size() : 255;
  hex_encode(d.data(), n, buf);
  w.field(key, std::string_view(buf, 2 * n));
}

// Options with a field of their own (Packetbeat's and a few more); the rest go to
// option.other as code, name and hex data.
bool has_field(uint8_t code) {
  switch (code) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 6:
    case 12:
    case 15:
    case 28:
    case 42:
    case 50:
    case 51:
    case 52:
    case 53:
    case 54:
    case 55:
    case 56:
    case 57:
    case 58:
    case 59:
    case 60:
    case 61:
    case 67:
    case 124:
      return true;
    default:
      return false;
  }
}

void options(JsonWriter& w, const Dhcpv4Message& m) {
  const auto& o = m.option;
  auto has = [&](uint8_t c, std::size_t min_len = 1) { return m.present[c] && o[c].size() >= min_len; };
  auto u32 = [&](uint8_t c) { return load_be32(o[c].data()); };
  char nb[16];
  // Keys in name order.
  if (has(28, 4)) w.field("broadcast_address", Ip4Text(o[28].data()).view());
  if (has(67) && !text(o[67]).empty()) w.field("boot_file_name", text(o[67]));
  if (has(60) && !text(o[60]).empty()) w.field("class_identifier", text(o[60]));
  if (has(61)) hex(w, "client_identifier", o[61]);
  if (has(6, 4)) ip_list(w, "dns_servers", o[6]);
  if (has(15) && !text(o[15]).empty()) w.field("domain_name", text(o[15]));
  if (has(12) && !text(o[12]).empty()) w.field("hostname", text(o[12]));
  if (has(51, 4) && u32(51) != 0) w.field_uint("ip_address_lease_time_sec", u32(51));
  if (has(57, 2)) w.field_uint("max_dhcp_message_size", load_be16(o[57].data()));
  if (has(56) && !text(o[56]).empty()) w.field("message", text(o[56]));
  if (has(53, 1)) w.field("message_type", dhcp_message_type_name(o[53][0], nb));
  if (has(42, 4)) ip_list(w, "ntp_servers", o[42]);
  bool other = false;
  for (int i = 0; i < m.n_order && !other; ++i) other = !has_field(m.order[i]);
  if (other) {
    w.begin_array("other");
    for (int i = 0; i < m.n_order; ++i) {
      const uint8_t c = m.order[i];
      if (has_field(c)) continue;
      w.begin_object();
      w.field_uint("code", c);
      hex(w, "data", o[c]);
      w.field("name", dhcp_option_name(c, nb));
      w.end_object();
    }
    w.end_array();
  }
  if (has(55)) {
    w.begin_array("parameter_request_list");
    for (uint8_t c : o[55]) w.string(dhcp_option_name(c, nb));
    w.end_array();
  }
  if (has(59, 4) && u32(59) != 0) w.field_uint("rebinding_time_sec", u32(59));
  if (has(58, 4) && u32(58) != 0) w.field_uint("renewal_time_sec", u32(58));
  if (has(50, 4)) w.field("requested_ip_address", Ip4Text(o[50].data()).view());
  if (has(3, 4)) ip_list(w, "router", o[3]);
  if (has(54, 4)) w.field("server_identifier", Ip4Text(o[54].data()).view());
  if (has(1, 4)) w.field("subnet_mask", Ip4Text(o[1].data()).view());
  if (has(4, 4)) ip_list(w, "time_servers", o[4]);
  if (has(2, 4)) w.field_int("utc_time_offset_sec", static_cast<int32_t>(u32(2)));
  if (has(124, 5)) {
    // Vendor-Identifying Vendor Class (RFC 3925): enterprise number, length, data.
    w.begin_array("vendor_identifying_options");
    std::span<const uint8_t> d = o[124];
    while (d.size() >= 5 && d.size() >= 5u + d[4]) {
      w.begin_object();
      hex(w, "data", d.subspan(5, d[4]));
      w.field_uint("id", load_be32(d.data()));
      w.end_object();
      d = d.subspan(5u + d[4]);
    }
    w.end_array();
  }
}

}  // namespace

void Dhcpv4Decoder::publish(const PacketMeta& m, const Dhcpv4Message& msg) {
  const bool reply = msg.op == kBootReply;
  TransactionFields t;
  t.type = "dhcpv4";
  t.ok = true;
  if (msg.options_malformed) t.error = "DHCP option runs past the end of its area; options read up to there";
  t.start_ns = t.end_ns = m.ts_ns;
  t.one_message = true;
  t.from_server = reply;
  t.ip_version = m.ip_version;
  t.proto = 17;
  t.client = reply ? m.dst : m.src;
  t.server = reply ? m.src : m.dst;
  t.client_port = reply ? m.dport : m.sport;
  t.server_port = reply ? m.sport : m.dport;
  (reply ? t.server_bytes : t.client_bytes) = m.l4_payload_len;
  t.cid_sport = m.sport;
  t.cid_dport = m.dport;
  t.cid_from_server = reply;
  t.network_protocol = "dhcpv4";
  t.event_type_extra = "protocol";
  // The addresses of the message itself join related.ip.
  Ip4Text ci(msg.ciaddr), yi(msg.yiaddr), gi(msg.giaddr), si(msg.siaddr);
  std::string_view related[3];
  std::size_t n_related = 0;
  if (!unspecified(msg.ciaddr)) related[n_related++] = ci.view();
  if (!unspecified(msg.yiaddr)) related[n_related++] = yi.view();
  if (!unspecified(msg.giaddr)) related[n_related++] = gi.view();
  t.related_ips = {related, n_related};

  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    w.begin_object("dhcpv4");
    if (!unspecified(msg.yiaddr)) w.field("assigned_ip", yi.view());
    if (!msg.file.empty()) w.field("boot_file_name", msg.file);
    if (!unspecified(msg.ciaddr)) w.field("client_ip", ci.view());
    char mac[16 * 3];
    std::size_t mn = 0;
    for (std::size_t i = 0; i < msg.chaddr.size(); ++i) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      if (i) mac[mn++] = '-';
      mac[mn++] = kHex[msg.chaddr[i] >> 4];
      mac[mn++] = kHex[msg.chaddr[i] & 15];
    }
    w.field("client_mac", std::string_view(mac, mn));
    w.field("flags", (msg.flags & 0x8000) ? "broadcast" : "unicast");
    char nb[16];
    w.field("hardware_type", dhcp_hardware_type_name(msg.htype, nb));
    w.field_uint("hops", msg.hops);
    w.field("op_code", msg.op == 1 ? "bootrequest" : reply ? "bootreply" : "unknown");
    if (msg.cookie && msg.n_order > 0) {
      w.begin_object("option");
      options(w, msg);
      w.end_object();
    }
    if (!unspecified(msg.giaddr)) w.field("relay_ip", gi.view());
    w.field_uint("seconds", msg.secs);
    if (!unspecified(msg.siaddr)) w.field("server_ip", si.view());
    if (!msg.sname.empty()) w.field("server_name", msg.sname);
    char xid[10] = {'0', 'x'};
    for (int i = 0; i < 8; ++i) xid[2 + i] = "0123456789abcdef"[(msg.xid >> (28 - 4 * i)) & 15];
    w.field("transaction_id", std::string_view(xid, 10));
    w.end_object();
    end_transaction(w);
  });
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<Dhcpv4Decoder>(s); }

constexpr std::span<const OptionSpec> kSettingOptions{};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)p, (void)warn;  // no options beyond the common ones
  return std::make_unique<Dhcpv4Settings>();
}

const uint16_t kDefaultPorts[] = {67, 68};

}  // namespace

const DecoderDescriptor& dhcpv4_protocol() {
  static const DecoderDescriptor d = {
      .name = "dhcpv4",
      .transports = kTransportUdp,
      .probes = {},
      .state_size = 0,
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kDhcpv4Counters,
      .violations = -1,
      // Addresses as IPs and the message as text, as Packetbeat maps them.
      .index_template = {.properties =
                             R"("dhcpv4": {"properties": {)"
                             R"("assigned_ip": {"type": "ip"}, "client_ip": {"type": "ip"}, )"
                             R"("relay_ip": {"type": "ip"}, "server_ip": {"type": "ip"}, )"
                             R"("option": {"properties": {)"
                             R"("broadcast_address": {"type": "ip"}, "dns_servers": {"type": "ip"}, )"
                             R"("ntp_servers": {"type": "ip"}, "requested_ip_address": {"type": "ip"}, )"
                             R"("router": {"type": "ip"}, "server_identifier": {"type": "ip"}, )"
                             R"("subnet_mask": {"type": "ip"}, "time_servers": {"type": "ip"}, )"
                             R"("message": {"type": "text"}, )"
                             R"("client_identifier": {"type": "keyword"}, )"
                             R"("other": {"properties": {"code": {"type": "long"}, )"
                             R"("data": {"type": "keyword"}, "name": {"type": "keyword"}}}}}}})"},
      .exercise_options = {},
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
