#include "decode/transaction_event.hpp"

#include <algorithm>

#include "flow/community_id.hpp"
#include "flow/flow_event.hpp"
#include "util/encode.hpp"

namespace tapbeat {
namespace {

constexpr const char* kValuesCutNote =
    "event larger than an output chunk (tapbeat.events.chunk_kb): long values cut";

// `"name":{...}` of one end: bytes, domain, ip, port (~110 bytes besides the domain).
template <std::size_t N>
void endpoint(JsonWriter::Text& x, const char (&open)[N], std::string_view ip, uint16_t port, uint64_t bytes,
              bool with_bytes, std::string_view domain = {}) {
  x.lit(open);
  bool first = true;
  if (with_bytes && bytes) {  // Packetbeat omits a zero count
    x.comma(first);
    x.lit(R"("bytes":)");
    x.num(bytes);
  }
  if (!domain.empty()) {
    x.comma(first);
    x.lit(R"("domain":)");
    x.string(domain);
  }
  x.comma(first);
  x.lit(R"("ip":)");
  x.ascii(ip);
  if (port) {
    x.lit(R"(,"port":)");
    x.num(port);
  }
  x.lit("}");
}

// `open` (a key and "[") and the strings one, then more (one when not empty): nothing
// when there are none. Whether it wrote.
template <std::size_t N>
bool string_list(JsonWriter::Text& x, const char (&open)[N], std::string_view one,
                 std::span<const std::string_view> more) {
  if (one.empty() && more.empty()) return false;
  x.lit(open);
  bool first = true;
  if (!one.empty()) {
    x.comma(first);
    x.string(one);
  }
  for (std::string_view s : more) {
    x.comma(first);
    x.string(s);
  }
  x.lit("]");
  return true;
}

}  // namespace

void begin_transaction(JsonWriter& w, const TransactionFields& t, const AgentInfo& agent,
                       const NetworkSet* internal) {
  char a[48], b[48], ts[40], te[40];
  const std::string_view client(a, format_ip(t.client, t.ip_version, a));
  const std::string_view server(b, format_ip(t.server, t.ip_version, b));
  // A response stamped before its request (the capture point had the two directions
  // out of order, by microseconds) ends the exchange where it began: no duration below 0.
  const uint64_t end = t.end_ns > t.start_ns ? t.end_ns : t.start_ns;

  // @timestamp and event.start are the same time; event.end often is too.
  const std::string_view start(ts, format_time_digits(t.start_ns, agent.timestamp_digits, ts));
  const std::string_view end_text =
      end == t.start_ns ? start : std::string_view(te, format_time_digits(end, agent.timestamp_digits, te));

  w.begin_object();
  write_beat_fields(w, start, agent);

  // The members as text, in the order Packetbeat's encoder sorts them. Between two
  // strings from the fields (escaped) at most ~700 bytes: two endpoints, related.ip.
  JsonWriter::Text x(w, JsonWriter::Text::kMaxRoom);
  // The client sends the request: it is the source, the server the destination;
  // one message goes from its sender to its receiver.
  const bool reversed = t.one_message && t.from_server;
  const bool client_bytes = !t.omit_bytes && !reversed;
  const bool server_bytes = !t.omit_bytes && (!t.one_message || t.from_server);
  endpoint(x, R"("client":{)", client, t.client_port, t.client_bytes, client_bytes, t.client_domain);
  x.lit(",");
  if (reversed)
    endpoint(x, R"("destination":{)", client, t.client_port, 0, false);
  else
    endpoint(x, R"("destination":{)", server, t.server_port, t.server_bytes, server_bytes, t.server_domain);
  x.lit(R"(,"ecs":{"version":)");
  x.string(agent.ecs_version);
  x.lit("}");
  // An event written again with its long values cut (EventEmitter: it did not fit an
  // output chunk) says so beside the decoder's notes.
  const char* notes[3] = {t.error, t.error ? t.error_more : nullptr, nullptr};
  if (w.cutting()) *std::find(notes, notes + 2, nullptr) = kValuesCutNote;
  if (notes[1]) {
    x.lit(R"(,"error":{"message":[)");
    for (int i = 0; i < 3 && notes[i]; ++i) {
      if (i) x.lit(",");
      x.string(notes[i]);
    }
    x.lit("]}");
  } else if (notes[0]) {
    x.lit(R"(,"error":{"message":)");
    x.string(notes[0]);
    x.lit("}");
  }
  x.lit(R"(,"event":{)");
  if (!t.event_action.empty()) {
    x.lit(R"("action":)");
    x.string(t.event_action);
    x.lit(",");
  }
  x.lit(R"("category":["network")");
  if (t.event_category_extra) {
    x.lit(",");
    x.string(t.event_category_extra);
  }
  x.lit(R"(],"dataset":)");
  x.string(t.type);
  // One message or a request alone has no duration and no end (Packetbeat writes
  // event.start alone); a response alone has its end and no start.
  const bool has_end = !t.one_message && !t.request_only;
  if (!t.omit_duration && has_end && !t.response_only) {
    x.lit(R"(,"duration":)");
    x.num(end - t.start_ns);
  }
  if (has_end) {
    x.lit(R"(,"end":)");
    x.ascii(end_text);
  }
  x.lit(R"(,"kind":"event")");
  if (!t.event_original.empty()) {
    x.lit(R"(,"original":)");
    x.string(t.event_original);
  }
  if (t.event_outcome) {
    x.lit(R"(,"outcome":)");
    x.string(t.event_outcome);
  }
  if (!t.event_reason.empty()) {
    x.lit(R"(,"reason":)");
    x.string(t.event_reason);
  }
  if (t.has_sequence) {
    x.lit(R"(,"sequence":)");
    x.snum(t.event_sequence);
  }
  if (!t.response_only) {
    x.lit(R"(,"start":)");
    x.ascii(start);
  }
  x.lit(R"(,"type":[)");
  x.string(t.event_type_first);
  if (t.event_type_extra) {
    x.lit(",");
    x.string(t.event_type_extra);
  }
  x.lit("]}");
  if (t.has_group_id) {
    x.lit(R"(,"group":{"id":)");
    x.num(t.group_id);
    x.lit("}");
  }
  x.lit(R"(,"host":{"name":)");
  x.string(agent.hostname);

  x.lit(R"(},"network":{)");
  bool first = true;
  if (t.network_application) {
    x.comma(first);
    x.lit(R"("application":)");
    x.string(t.network_application);
  }
  if (!t.omit_bytes && t.client_bytes + t.server_bytes) {
    x.comma(first);
    x.lit(R"("bytes":)");
    x.num(t.client_bytes + t.server_bytes);
  }
  if (!t.forwarded_ip.empty()) {
    x.comma(first);
    x.lit(R"("forwarded_ip":)");
    x.string(t.forwarded_ip);
  }
  x.comma(first);
  x.lit(R"("community_id":")");
  community_id_v1(t.cid_from_server ? t.server : t.client, t.cid_from_server ? t.client : t.server,
                  t.ip_version, t.proto, t.cid_sport, t.cid_dport, 0, x.at());
  x.advance(kCommunityIdLen);
  x.lit(R"(")");
  if (internal) {
    if (const char* dir = reversed ? network_direction(*internal, t.server, t.client, t.ip_version)
                                   : network_direction(*internal, t.client, t.server, t.ip_version)) {
      x.lit(R"(,"direction":)");
      x.ascii(dir);
    }
  }
  if (t.iana_number) {
    x.lit(R"(,"iana_number":")");
    x.num(t.proto);
    x.lit(R"(")");
  }
  if (t.network_protocol) {
    x.lit(R"(,"protocol":)");
    x.string(t.network_protocol);
  }
  if (const char* name = transport_name(t.proto)) {
    x.lit(R"(,"transport":)");
    x.ascii(name);
  }
  if (t.ip_version == 6)
    x.lit(R"(,"type":"ipv6"},"related":{)");
  else
    x.lit(R"(,"type":"ipv4"},"related":{)");

  if (string_list(x, R"("hosts":[)", t.related_host, t.related_hosts_more)) x.lit(",");
  x.lit(R"("ip":[)");  // the source first
  bool first_ip = true;
  auto more_ips = [&](bool before) {
    for (std::size_t i = 0; i < t.related_ips.size(); ++i) {
      const std::string_view ip = t.related_ips[i];
      bool seen = !before && (ip == client || ip == server);
      for (std::size_t j = 0; j < i && !seen; ++j) seen = t.related_ips[j] == ip;
      if (!seen) {
        x.comma(first_ip);
        x.string(ip);
      }
    }
  };
  if (t.related_ips_first) more_ips(true);
  auto listed = [&](std::string_view ip) {
    if (!t.related_ips_first) return false;
    for (std::string_view r : t.related_ips)
      if (r == ip) return true;
    return false;
  };
  const std::string_view first_end = reversed ? server : client, second_end = reversed ? client : server;
  if (!listed(first_end)) {
    x.comma(first_ip);
    x.ascii(first_end);
  }
  if (second_end != first_end && !listed(second_end)) {
    x.comma(first_ip);
    x.ascii(second_end);
  }
  if (!t.related_ips_first) more_ips(false);
  x.lit("]");
  string_list(x, R"(,"user":[)", t.related_user, t.related_users);
  x.lit("},");
  endpoint(x, R"("server":{)", server, t.server_port, t.server_bytes, server_bytes, t.server_domain);
  x.lit(",");
  if (reversed)
    endpoint(x, R"("source":{)", server, t.server_port, t.server_bytes, server_bytes);
  else
    endpoint(x, R"("source":{)", client, t.client_port, t.client_bytes, client_bytes, t.client_domain);
  if (t.status) {
    x.lit(R"(,"status":)");
    x.ascii(t.status);
    x.lit(R"(,"type":)");
  } else if (t.ok) {
    x.lit(R"(,"status":"OK","type":)");
  } else {
    x.lit(R"(,"status":"Error","type":)");
  }
  x.string(t.type);
  if (!t.user_name.empty() || t.has_user_id) {
    x.lit(R"(,"user":{)");
    bool first_user = true;
    if (t.has_user_id) {
      x.comma(first_user);
      x.lit(R"("id":)");
      x.num(t.user_id);
    }
    if (!t.user_name.empty()) {
      x.comma(first_user);
      x.lit(R"("name":)");
      x.string(t.user_name);
    }
    x.lit("}");
  }
  x.done();
}

void end_transaction(JsonWriter& w) { w.end_object(); }

}  // namespace tapbeat
