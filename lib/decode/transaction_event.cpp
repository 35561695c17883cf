#include "decode/transaction_event.hpp"

#include <charconv>

#include "flow/community_id.hpp"
#include "flow/flow_event.hpp"
#include "util/encode.hpp"

namespace tapbeat {
namespace {

void endpoint(JsonWriter& w, const char* name, std::string_view ip, uint16_t port, uint64_t bytes,
              bool with_bytes, std::string_view domain = {}) {
  w.begin_object(name);
  if (with_bytes && bytes) w.field_uint("bytes", bytes);  // Packetbeat omits a zero count
  if (!domain.empty()) w.field("domain", domain);
  w.field_ascii("ip", ip);
  if (port) w.field_uint("port", port);
  w.end_object();
}

}  // namespace

void begin_transaction(JsonWriter& w, const TransactionFields& t, const AgentInfo& agent,
                       const NetworkSet* internal) {
  char buf[64], a[48], b[48], ts[40], te[40];
  const std::string_view client(a, format_ip(t.client, t.ip_version, a));
  const std::string_view server(b, format_ip(t.server, t.ip_version, b));
  const uint64_t end = t.end_ns ? t.end_ns : t.start_ns;

  // @timestamp and event.start are the same time; event.end often is too.
  const std::string_view start(ts, format_time_digits(t.start_ns, agent.timestamp_digits, ts));
  const std::string_view end_text =
      end == t.start_ns ? start : std::string_view(te, format_time_digits(end, agent.timestamp_digits, te));

  w.begin_object();
  write_beat_fields(w, start, agent);

  // The client sends the request: it is the source, the server the destination;
  // one message goes from its sender to its receiver.
  const bool reversed = t.one_message && t.from_server;
  const bool client_bytes = !t.omit_bytes && !reversed;
  const bool server_bytes = !t.omit_bytes && (!t.one_message || t.from_server);
  endpoint(w, "client", client, t.client_port, t.client_bytes, client_bytes, t.client_domain);
  if (reversed)
    endpoint(w, "destination", client, t.client_port, 0, false);
  else
    endpoint(w, "destination", server, t.server_port, t.server_bytes, server_bytes, t.server_domain);
  w.begin_object("ecs");
  w.field("version", agent.ecs_version);
  w.end_object();
  if (t.error && t.error_more) {
    w.begin_object("error");
    w.begin_array("message");
    w.string(t.error);
    w.string(t.error_more);
    w.end_array();
    w.end_object();
  } else if (t.error) {
    w.begin_object("error");
    w.field("message", t.error);
    w.end_object();
  }
  w.begin_object("event");
  if (!t.event_action.empty()) w.field("action", t.event_action);
  w.begin_array("category");
  w.string("network");
  if (t.event_category_extra) w.string(t.event_category_extra);
  w.end_array();
  w.field("dataset", t.type);
  // One message or a request alone has no duration and no end (Packetbeat writes
  // event.start alone); a response alone has its end and no start.
  const bool has_end = !t.one_message && !t.request_only;
  if (!t.omit_duration && has_end && !t.response_only) w.field_uint("duration", end - t.start_ns);
  if (has_end) w.field("end", end_text);
  w.field("kind", "event");
  if (!t.event_original.empty()) w.field("original", t.event_original);
  if (t.event_outcome) w.field("outcome", t.event_outcome);
  if (!t.event_reason.empty()) w.field("reason", t.event_reason);
  if (t.has_sequence) w.field_int("sequence", t.event_sequence);
  if (!t.response_only) w.field("start", start);
  w.begin_array("type");
  w.string(t.event_type_first);
  if (t.event_type_extra) w.string(t.event_type_extra);
  w.end_array();
  w.end_object();
  if (t.has_group_id) {
    w.begin_object("group");
    w.field_uint("id", t.group_id);
    w.end_object();
  }
  w.begin_object("host");
  w.field("name", agent.hostname);
  w.end_object();

  w.begin_object("network");
  if (t.network_application) w.field("application", t.network_application);
  if (!t.omit_bytes && t.client_bytes + t.server_bytes)
    w.field_uint("bytes", t.client_bytes + t.server_bytes);
  if (!t.forwarded_ip.empty()) w.field("forwarded_ip", t.forwarded_ip);
  community_id_v1(t.cid_from_server ? t.server : t.client, t.cid_from_server ? t.client : t.server,
                  t.ip_version, t.proto, t.cid_sport, t.cid_dport, 0, buf);
  w.field_ascii("community_id", std::string_view(buf, kCommunityIdLen));
  if (internal) {
    if (const char* dir = reversed ? network_direction(*internal, t.server, t.client, t.ip_version)
                                   : network_direction(*internal, t.client, t.server, t.ip_version))
      w.field("direction", dir);
  }
  if (t.iana_number) {
    char n[4];
    const auto r = std::to_chars(n, n + sizeof n, t.proto);
    w.field("iana_number", std::string_view(n, static_cast<std::size_t>(r.ptr - n)));
  }
  if (t.network_protocol) w.field("protocol", t.network_protocol);
  if (const char* name = transport_name(t.proto)) w.field("transport", name);
  w.field("type", t.ip_version == 6 ? "ipv6" : "ipv4");
  w.end_object();

  w.begin_object("related");
  if (!t.related_host.empty() || !t.related_hosts_more.empty()) {
    w.begin_array("hosts");
    if (!t.related_host.empty()) w.string(t.related_host);
    for (std::string_view h : t.related_hosts_more) w.string(h);
    w.end_array();
  }
  w.begin_array("ip");  // the source first
  auto more_ips = [&](bool before) {
    for (std::size_t i = 0; i < t.related_ips.size(); ++i) {
      const std::string_view ip = t.related_ips[i];
      bool seen = !before && (ip == client || ip == server);
      for (std::size_t j = 0; j < i && !seen; ++j) seen = t.related_ips[j] == ip;
      if (!seen) w.string(ip);
    }
  };
  if (t.related_ips_first) more_ips(true);
  auto listed = [&](std::string_view ip) {
    if (!t.related_ips_first) return false;
    for (std::string_view r : t.related_ips)
      if (r == ip) return true;
    return false;
  };
  const std::string_view first = reversed ? server : client, second = reversed ? client : server;
  if (!listed(first)) w.ascii(first);
  if (second != first && !listed(second)) w.ascii(second);
  if (!t.related_ips_first) more_ips(false);
  w.end_array();
  if (!t.related_user.empty() || !t.related_users.empty()) {
    w.begin_array("user");
    if (!t.related_user.empty()) w.string(t.related_user);
    for (std::string_view u : t.related_users) w.string(u);
    w.end_array();
  }
  w.end_object();
  endpoint(w, "server", server, t.server_port, t.server_bytes, server_bytes, t.server_domain);
  if (reversed)
    endpoint(w, "source", server, t.server_port, t.server_bytes, server_bytes);
  else
    endpoint(w, "source", client, t.client_port, t.client_bytes, client_bytes, t.client_domain);
  w.field("status", t.ok ? "OK" : "Error");
  w.field("type", t.type);
  if (!t.user_name.empty() || t.has_user_id) {
    w.begin_object("user");
    if (t.has_user_id) w.field_uint("id", t.user_id);
    if (!t.user_name.empty()) w.field("name", t.user_name);
    w.end_object();
  }
}

void end_transaction(JsonWriter& w) { w.end_object(); }

}  // namespace tapbeat
