#include "decode/sip/sip_decoder.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "util/encode.hpp"

namespace tapbeat {

namespace {

constexpr std::size_t kWorkBytes = 2 * SipDecoder::kMaxHead + 4096;

// The lines of a head past kMaxHead are read whole when they end within this many
// bytes (a Content-Length among them frames the message); longer ones stream by.
constexpr std::size_t kMaxRestLine = 1024;

// Per TCP connection.
struct SipState {
  uint32_t skip[2];         // bytes of a body over the limit still to pass over
  uint32_t head_seen[2];    // bytes of an unfinished head already searched for its end
  uint32_t rest_length[2];  // a cut head's Content-Length: its body, passed over after the head
  bool resync[2];           // after a gap: looking for the next start line
  bool head_rest[2];        // reading the lines of a head past kMaxHead, to its empty line
  bool rest_eol[2];         // ... at the start of one
};
static_assert(sizeof(SipState) <= kDecoderStateBytes);

std::string_view text(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

SipDecoder::SipDecoder(const DecoderSetup& s)
    : DecoderCommon(s),
      settings_(s.settings<SipSettings>()),
      msg_(std::make_unique<SipMessage>()),
      work_(new char[kWorkBytes]) {}

void SipDecoder::open(void* state) { new (state) SipState{}; }

void SipDecoder::datagram(const PacketMeta& m) {
  if (!(settings_.transports & kTransportUdp)) return;
  std::string_view s(reinterpret_cast<const char*>(m.l4_payload), m.l4_payload_len);
  const std::size_t lead = s.find_first_not_of("\r\n");
  if (lead == std::string_view::npos) {
    if (!s.empty()) counters_.inc(SipStat::keepalives);
    return;
  }
  s.remove_prefix(lead);
  std::size_t head_end = sip_head_end(s);
  if (head_end == 0) head_end = s.size();  // a head without its empty line (cut short)
  SipMessage& msg = *msg_;
  msg = SipMessage{};
  if (parse_sip_head(s.substr(0, head_end), msg, work_.get(), kWorkBytes) != SipHead::kOk) {
    counters_.inc(SipStat::not_sip);
    return;
  }
  std::string_view body = s.substr(head_end);
  bool cut = false;
  if (msg.content_length >= 0 && static_cast<uint64_t>(msg.content_length) < body.size()) {
    body = body.substr(0, static_cast<std::size_t>(msg.content_length));
  } else if (msg.content_length > 0 && static_cast<uint64_t>(msg.content_length) > body.size()) {
    counters_.inc(SipStat::body_truncated);
    cut = true;
  }
  const Hop h{m.ip_version, 17, m.src, m.dst, m.sport, m.dport, m.ts_ns};
  publish(h, s.substr(0, head_end + body.size()), body, cut);
}

DecodeResult SipDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) {
  if (!(settings_.transports & kTransportTcp)) return {0, 0, Verdict::kDone};
  SipState& st = *static_cast<SipState*>(state);
  const std::string_view s = text(bytes);
  Hop h{c.ip_version, 6, c.addr[dir], c.addr[1 - dir], c.port[dir], c.port[1 - dir], c.ts_ns};
  SipMessage& msg = *msg_;
  std::size_t off = 0;
  while (off < s.size()) {
    if (pass_over(st.skip[dir], off, s.size())) continue;
    std::string_view rest = s.substr(off);
    if (st.resync[dir]) {
      // The next line that is a SIP start line.
      std::size_t at = 0;
      bool found = false;
      while (at < rest.size()) {
        const std::size_t nl = rest.find('\n', at);
        if (nl == std::string_view::npos) break;
        std::string_view line = rest.substr(at, nl - at);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        msg = SipMessage{};
        if (sip_start_line(line, msg)) {
          found = true;
          break;
        }
        at = nl + 1;
      }
      if (!found && rest.size() - at > kMaxHead) at = rest.size();  // no line end in sight: pass over it
      off += at;
      if (!found)
        return {static_cast<uint32_t>(off), static_cast<uint32_t>(s.size() - off + 1), Verdict::kNeedMore};
      st.resync[dir] = false;
      continue;
    }
    if (st.head_rest[dir]) {
      const std::size_t used = head_rest(&st, dir, rest);
      off += used;
      if (st.head_rest[dir])
        return {static_cast<uint32_t>(off), static_cast<uint32_t>(s.size() - off + 1), Verdict::kNeedMore};
      continue;
    }
    if (rest[0] == '\r' || rest[0] == '\n') {  // keep-alive CRLFs between messages
      const std::size_t n = std::min(rest.find_first_not_of("\r\n"), rest.size());
      counters_.inc(SipStat::keepalives);
      off += n;
      continue;
    }
    const std::size_t head_end = sip_head_end(rest, st.head_seen[dir]);
    if (head_end == 0) {
      st.head_seen[dir] = static_cast<uint32_t>(rest.size());
      const std::size_t nl = rest.find('\n');
      if (nl != std::string_view::npos) {
        std::string_view line = rest.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        msg = SipMessage{};
        if (!sip_start_line(line, msg)) return {static_cast<uint32_t>(off), 0, Verdict::kViolation};
      }
      if (rest.size() >= kMaxHead) {
        // A head past the limit: published for its lines within the first kMaxHead
        // bytes, noted; its other lines are read to its empty line for a Content-Length
        // (the body is passed over) and the next message is read.
        const std::size_t cut = rest.substr(0, kMaxHead).rfind('\n');
        msg = SipMessage{};
        if (cut == std::string_view::npos ||
            parse_sip_head(rest.substr(0, cut + 1), msg, work_.get(), kWorkBytes) != SipHead::kOk)
          return {static_cast<uint32_t>(off), 0, Verdict::kViolation};
        counters_.inc(SipStat::head_too_large);
        h.ts_ns = c.ts_at(static_cast<uint32_t>(off));
        publish(h, rest.substr(0, cut + 1), {}, false, true);
        st.head_seen[dir] = 0;
        st.head_rest[dir] = st.rest_eol[dir] = true;
        st.rest_length[dir] = static_cast<uint32_t>(std::clamp<int64_t>(msg.content_length, 0, UINT32_MAX));
        off += cut + 1;
        continue;
      }
      return {static_cast<uint32_t>(off), static_cast<uint32_t>(rest.size() + 1), Verdict::kNeedMore};
    }
    st.head_seen[dir] = 0;
    msg = SipMessage{};
    h.ts_ns = c.ts_at(static_cast<uint32_t>(off));  // the message's first packet
    if (parse_sip_head(rest.substr(0, head_end), msg, work_.get(), kWorkBytes) != SipHead::kOk)
      return {static_cast<uint32_t>(off), 0, Verdict::kViolation};
    // Over TCP a message without Content-Length has no body (RFC 3261 18.3).
    const uint64_t cl = msg.content_length > 0 ? static_cast<uint64_t>(msg.content_length) : 0;
    if (cl > kMaxBody) {
      counters_.inc(SipStat::body_too_large);
      publish(h, rest.substr(0, head_end), {}, true);
      off += head_end;
      st.skip[dir] = static_cast<uint32_t>(std::min<uint64_t>(cl, UINT32_MAX));
      continue;
    }
    if (rest.size() < head_end + cl)
      return {static_cast<uint32_t>(off), static_cast<uint32_t>(head_end + cl), Verdict::kNeedMore};
    publish(h, rest.substr(0, head_end + cl), rest.substr(head_end, cl), false);
    off += head_end + cl;
  }
  return {static_cast<uint32_t>(off), 0, Verdict::kOk};
}

std::size_t SipDecoder::head_rest(void* state, int dir, std::string_view b) {
  SipState& st = *static_cast<SipState*>(state);
  std::size_t i = 0;
  while (i < b.size()) {
    if (st.rest_eol[dir]) {
      const std::size_t look = std::min(b.size() - i, kMaxRestLine);
      const std::size_t nl = b.substr(i, look).find('\n');
      if (nl == std::string_view::npos && look < kMaxRestLine) return i;  // the line is read whole
      if (nl != std::string_view::npos) {
        std::string_view line = b.substr(i, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        i += nl + 1;
        if (line.empty()) {  // the head's end: its body (by the last Content-Length) passes by
          st.head_rest[dir] = false;
          st.skip[dir] = st.rest_length[dir];
          return i;
        }
        int64_t length = -1;
        if (sip_content_length_line(line, length) && length >= 0)
          st.rest_length[dir] = static_cast<uint32_t>(std::min<int64_t>(length, UINT32_MAX));
        continue;
      }
      st.rest_eol[dir] = false;
    }
    const std::size_t nl = b.find('\n', i);
    st.rest_eol[dir] = nl != std::string_view::npos;
    i = st.rest_eol[dir] ? nl + 1 : b.size();
  }
  return i;
}

bool SipDecoder::gap(void* state, const StreamInfo&, int dir, uint32_t len) {
  SipState& st = *static_cast<SipState*>(state);
  counters_.inc(SipStat::gaps);
  if (st.skip[dir] >= len) {  // the hole is inside a body being passed over
    st.skip[dir] -= len;
    return true;
  }
  st.skip[dir] = 0;
  st.head_seen[dir] = 0;
  st.head_rest[dir] = false;
  st.resync[dir] = true;
  return true;
}

namespace {

// Unique non-empty values, in order of first appearance.
struct Distinct {
  std::string_view v[24];
  std::size_t n = 0;
  void add(std::string_view s) {
    if (s.empty() || n == std::size(v)) return;
    for (std::size_t i = 0; i < n; ++i)
      if (v[i] == s) return;
    v[n++] = s;
  }
  std::span<const std::string_view> span() const { return {v, n}; }
};

// Lower case of s (its first 255 bytes) in buf.
std::string_view lower(std::string_view s, char (&buf)[256]) {
  const std::size_t n = std::min(s.size(), sizeof buf);
  for (std::size_t i = 0; i < n; ++i)
    buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  return {buf, n};
}
std::string_view upper(std::string_view s, char (&buf)[256]) {
  const std::size_t n = std::min(s.size(), sizeof buf);
  for (std::size_t i = 0; i < n; ++i)
    buf[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[i])));
  return {buf, n};
}

void uri(JsonWriter& w, const SipUri& u) {
  w.begin_object("uri");
  if (!u.host.empty()) w.field("host", u.host);
  w.field("original", u.original);
  if (u.port) w.field_uint("port", u.port);
  if (!u.scheme.empty()) w.field("scheme", u.scheme);
  if (!u.username.empty()) w.field("username", u.username);
  w.end_object();
}

void name_addr(JsonWriter& w, const char* key, const SipNameAddr& n, bool contact) {
  if (!n.present) return;
  w.begin_object(key);
  if (!n.display_info.empty()) w.field("display_info", n.display_info);
  if (contact) {
    int64_t expires = 0;
    const auto e = std::from_chars(n.expires.data(), n.expires.data() + n.expires.size(), expires);
    if (e.ec == std::errc() && expires > 0) w.field_int("expires", expires);
    if (!n.uri.line.empty()) w.field("line", n.uri.line);
    if (!n.q.empty()) {
      char qb[32];
      const std::size_t qn = std::min(n.q.size(), sizeof qb - 1);
      std::memcpy(qb, n.q.data(), qn);
      qb[qn] = 0;
      char* end = nullptr;
      const double q = std::strtod(qb, &end);
      if (end != qb && q > 0 && q <= 1) {
        w.key("q");
        w.real(q);
      }
    }
  }
  if (!contact && !n.tag.empty()) w.field("tag", n.tag);
  if (contact && !n.uri.transport.empty()) {
    char b[256];
    w.field("transport", lower(n.uri.transport, b));
  }
  uri(w, n.uri);
  w.end_object();
}

}  // namespace

void SipDecoder::publish(const Hop& h, std::string_view raw, std::string_view body, bool body_cut,
                         bool head_cut) {
  SipMessage& m = *msg_;
  if (settings_.parse_authorization && !m.authorization.empty()) parse_sip_authorization(m);
  const bool sdp = settings_.parse_body && !body.empty() && m.content_encoding.empty() &&
                   m.content_type.size() == 15 &&
                   strncasecmp(m.content_type.data(), "application/sdp", 15) == 0;
  if (sdp) parse_sdp(body, m.sdp);
  counters_.inc(m.request ? SipStat::requests : SipStat::responses);
  if (m.headers_cut) counters_.inc(SipStat::headers_cut, static_cast<uint64_t>(m.headers_cut));

  char mb[256], cb[256], ab[256], tb[256];
  const std::string_view method = upper(m.request ? m.method : m.cseq_method, mb);
  char action[300];
  std::memcpy(action, "sip-", 4);
  const std::string_view method_lower = lower(method, ab);
  std::memcpy(action + 4, method_lower.data(), method_lower.size());

  TransactionFields t;
  t.type = "sip";
  t.ok = m.status_code < 400;
  t.start_ns = t.end_ns = h.ts_ns;
  t.omit_bytes = true;
  set_ends(t, h.ip_version, h.proto, h.src, h.sport, h.dst, h.dport);
  t.network_protocol = "sip";
  t.network_application = "sip";
  t.iana_number = true;
  t.event_type_first = "info";
  t.event_type_extra = "protocol";
  t.event_action = {action, 4 + method_lower.size()};
  if (!m.authorization.empty()) t.event_category_extra = "authentication";
  t.has_sequence = m.has_cseq;
  t.event_sequence = m.cseq_code;
  if (settings_.keep_original) t.event_original = raw;
  if (!m.request) {
    t.event_reason = m.status_phrase;
    if (m.status_code >= 300)
      t.event_outcome = "failure";
    else if (m.status_code >= 200)
      t.event_outcome = "success";
  }
  if (body_cut) t.error = "SIP body not complete (over the size limit or cut short): left out of the event";
  if (head_cut)
    t.add_note("SIP head over 64 KiB: its lines past the limit and its body left out of the event");
  Distinct hosts, users;
  if (m.request) {
    hosts.add(m.uri.host);
    users.add(m.uri.username);
  }
  hosts.add(m.private_uri.host);
  users.add(m.private_uri.username);
  for (const SipNameAddr* n : {&m.from, &m.to, &m.contact}) {
    hosts.add(n->uri.host);
    users.add(n->uri.username);
  }
  users.add(m.auth_username);
  if (m.sdp.present) {
    users.add(m.sdp.owner_username);
    hosts.add(m.sdp.connection_address);
  }
  t.related_hosts_more = hosts.span();
  t.related_users = users.span();
  t.user_name = m.auth_username;
  const std::string_view owner_ip[1] = {m.sdp.owner_ip};
  if (!m.sdp.owner_ip.empty()) t.related_ips = owner_ip;
  t.related_ips_first = true;  // Packetbeat adds the SDP owner's address before the ends'

  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    w.begin_object("sip");
    if (!m.accept.empty()) w.field("accept", lower(m.accept, cb));
    if (m.n_allow) {
      w.begin_array("allow");
      for (int i = 0; i < m.n_allow; ++i) w.string(m.allow[i]);
      w.end_array();
    }
    if (!m.auth_scheme.empty()) {
      w.begin_object("auth");
      if (!m.auth_realm.empty()) w.field("realm", m.auth_realm);
      w.field("scheme", m.auth_scheme);
      if (!m.auth_uri.original.empty()) {
        w.begin_object("uri");
        if (!m.auth_uri.host.empty()) w.field("host", m.auth_uri.host);
        w.field("original", m.auth_uri.original);
        if (m.auth_uri.port) w.field_uint("port", m.auth_uri.port);
        if (!m.auth_uri.scheme.empty()) w.field("scheme", m.auth_uri.scheme);
        w.end_object();
      }
      w.end_object();
    }
    if (!m.call_id.empty()) w.field("call_id", m.call_id);
    if (!m.request) w.field_uint("code", m.status_code);
    name_addr(w, "contact", m.contact, true);
    if (m.content_length > 0) w.field_int("content_length", m.content_length);
    if (!m.content_type.empty()) w.field("content_type", lower(m.content_type, tb));
    if (m.has_cseq) {
      w.begin_object("cseq");
      w.field_uint("code", m.cseq_code);
      char cm[256];
      w.field("method", upper(m.cseq_method, cm));
      w.end_object();
    }
    name_addr(w, "from", m.from, false);
    if (m.max_forwards >= 0) w.field_int("max_forwards", m.max_forwards);
    if (m.request) w.field("method", method);
    if (!m.private_uri.original.empty()) {
      w.begin_object("private");
      uri(w, m.private_uri);
      w.end_object();
    }
    if (m.sdp.present) {
      const SipSdp& d = m.sdp;
      w.begin_object("sdp");
      w.begin_object("body");
      w.field("original", body);
      w.end_object();
      if (!d.connection_info.empty()) {
        w.begin_object("connection");
        w.field("address", d.connection_address);
        w.field("info", d.connection_info);
        w.end_object();
      }
      if (!d.owner_session_id.empty()) {
        w.begin_object("owner");
        w.field("ip", d.owner_ip);
        w.field("session_id", d.owner_session_id);
        if (!d.owner_username.empty()) w.field("username", d.owner_username);
        w.field("version", d.owner_version);
        w.end_object();
      }
      if (!d.session_name.empty()) {
        w.begin_object("session");
        w.field("name", d.session_name);
        w.end_object();
      }
      if (!d.version.empty()) w.field("version", d.version);
      w.end_object();
    }
    if (!m.request) w.field("status", m.status_phrase);
    if (m.n_supported) {
      w.begin_array("supported");
      for (int i = 0; i < m.n_supported; ++i) w.string(m.supported[i]);
      w.end_array();
    }
    name_addr(w, "to", m.to, false);
    w.field("type", m.request ? "request" : "response");
    if (m.request) uri(w, m.uri);
    if (!m.user_agent.empty()) {
      w.begin_object("user_agent");
      w.field("original", m.user_agent);
      w.end_object();
    }
    w.field("version", m.version);
    if (m.n_via) {
      w.begin_object("via");
      w.begin_array("original");
      for (int i = 0; i < m.n_via; ++i) w.string(m.via[i]);
      w.end_array();
      w.end_object();
    }
    w.end_object();
    end_transaction(w);
  });
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<SipDecoder>(s); }

const OptionSpec kSettingOptions[] = {
    {"parse_authorization", OptionKind::kBool},
    {"parse_body", OptionKind::kBool},
    {"keep_original", OptionKind::kBool},
    {"transport_protocol", OptionKind::kString},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  auto s = std::make_unique<SipSettings>();
  s->parse_authorization = p.flag("parse_authorization", true);
  s->parse_body = p.flag("parse_body", true);
  s->keep_original = p.flag("keep_original", true);
  // Unset: SIP over both transports. Packetbeat reads one, UDP unless this says tcp.
  const std::string t = p.text("transport_protocol", "");
  if (t == "udp")
    s->transports = kTransportUdp;
  else if (t == "tcp")
    s->transports = kTransportTcp;
  else if (!t.empty())
    throw OptionError("transport_protocol", "'" + t + "' is not one of udp, tcp");
  return s;
}

const uint16_t kDefaultPorts[] = {5060};

}  // namespace

const DecoderDescriptor& sip_protocol() {
  static const DecoderDescriptor d = {
      .name = "sip",
      .transports = kTransportTcp | kTransportUdp,
      .probes = {},
      .state_size = sizeof(SipState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kSipCounters,
      .violations = static_cast<int>(SipStat::violations),
      // Packetbeat's field types where dynamic mapping would differ.
      .index_template =
          {.dynamic_templates =
               R"({"sip_codes": {"path_match": "sip.*code", "mapping": {"type": "keyword"}}}, {"sip_ports": {"path_match": "sip.*uri.port", "mapping": {"type": "keyword"}}})"},
      .exercise_options = {},
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
