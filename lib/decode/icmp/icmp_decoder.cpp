#include "decode/icmp/icmp_decoder.hpp"

#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "util/encode.hpp"

namespace tapbeat {

IcmpDecoder::IcmpDecoder(const DecoderSetup& s)
    : tracker_(s.settings<IcmpSettings>().timeout_ns, s.counter_set<IcmpStat>()),
      out_(s.out),
      agent_(s.agent),
      internal_(s.internal_networks) {}

void IcmpDecoder::datagram(const PacketMeta& m) {
  IcmpEvent ev;
  if (tracker_.on_packet(m, ev)) publish(ev);
}

void IcmpDecoder::tick(uint64_t now_ns) {
  IcmpEvent ev;
  while (tracker_.expire_one(now_ns, ev)) publish(ev);
}

void IcmpDecoder::finish() {
  IcmpEvent ev;
  while (tracker_.flush_one(ev)) publish(ev);
}

void IcmpDecoder::publish(const IcmpEvent& ev) {
  TransactionFields t;
  t.type = "icmp";
  t.ok = ev.error == nullptr && !ev.error_message_type;
  t.error = ev.error;
  t.start_ns = ev.has_request ? ev.req_ts_ns : ev.resp_ts_ns;
  t.end_ns = ev.has_response ? ev.resp_ts_ns : 0;
  // A request alone (a message that waits for no reply, or one never answered): its
  // sender's bytes, no end and no duration, as Packetbeat writes it.
  t.one_message = !ev.has_response;
  t.response_only = !ev.has_request;  // an orphaned reply: its end alone
  t.ip_version = ev.version;
  t.proto = ev.version == 6 ? 58 : 1;
  t.client = ev.client;
  t.server = ev.server;
  t.client_bytes = ev.req_bytes;
  t.server_bytes = ev.resp_bytes;
  // The community id follows the first message, as seen from its sender.
  if (ev.has_request) {
    t.cid_sport = ev.req_type;
    t.cid_dport = ev.req_code;
  } else {
    t.cid_from_server = true;  // the lone message goes from server to client
    t.cid_sport = ev.resp_type;
    t.cid_dport = ev.resp_code;
  }
  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    w.begin_object("icmp");
    auto message = [&](const char* name, uint8_t type, uint8_t code) {
      w.begin_object(name);
      w.field_uint("code", code);
      w.field("message", icmp_message_name(ev.version, type));
      w.field_uint("type", type);
      w.end_object();
    };
    if (ev.has_request) message("request", ev.req_type, ev.req_code);
    if (ev.has_response) message("response", ev.resp_type, ev.resp_code);
    w.field_uint("version", ev.version);
    w.end_object();
    // What is requested: the address the request went to (an orphaned reply's sender).
    char ip[48];
    w.field("path", std::string_view(ip, format_ip(ev.server, ev.version, ip)));
    end_transaction(w);
  });
}

namespace {
std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<IcmpDecoder>(s); }

constexpr std::span<const OptionSpec> kSettingOptions{};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)p, (void)warn;
  return std::make_unique<IcmpSettings>();
}

}  // namespace

const DecoderDescriptor& icmp_protocol() {
  static const DecoderDescriptor d = {
      .name = "icmp",
      .transports = kTransportIcmp,
      .probes = {},
      .state_size = 0,
      .default_ports = {},
      .options = kSettingOptions,
      .configure = configure,
      .counters = kIcmpCounters,
      .violations = -1,
      .index_template =
          {.properties =
               R"("icmp": {"properties": {"version": {"type": "keyword"}}})"},  // as Packetbeat maps it
      .exercise_options = {},
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
