#include "decode/sip/sip_message.hpp"

#include <cstring>

namespace tapbeat {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s, std::string_view chars = " \t") {
  const std::size_t a = s.find_first_not_of(chars);
  if (a == std::string_view::npos) return {};
  return s.substr(a, s.find_last_not_of(chars) - a + 1);
}

bool digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// A decimal number of at most 18 digits (the first digits of a longer one); -1: none.
int64_t number(std::string_view s) {
  s = trim(s);
  int64_t v = 0;
  std::size_t i = 0;
  for (; i < s.size() && i < 18 && s[i] >= '0' && s[i] <= '9'; ++i) v = v * 10 + (s[i] - '0');
  return i == 0 ? -1 : v;
}

// RFC 3261 25.1 token characters.
bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("-.!%*_+`'~", c) != nullptr;
}

// Header names by their compact form (RFC 3261 7.3.3 and IANA's registry).
std::string_view expand(std::string_view name) {
  if (name.size() != 1) return name;
  switch (lower(name[0])) {
    case 'c':
      return "content-type";
    case 'e':
      return "content-encoding";
    case 'f':
      return "from";
    case 'i':
      return "call-id";
    case 'k':
      return "supported";
    case 'l':
      return "content-length";
    case 'm':
      return "contact";
    case 't':
      return "to";
    case 'v':
      return "via";
    default:
      return name;
  }
}

// `;`-separated parameters: calls f(name, value) for each name=value.
template <class F>
void each_param(std::string_view s, F&& f) {
  while (!s.empty()) {
    const std::size_t semi = s.find(';');
    const std::string_view p = s.substr(0, semi);
    const std::size_t eq = p.find('=');
    if (eq != std::string_view::npos) f(trim(p.substr(0, eq)), trim(p.substr(eq + 1)));
    if (semi == std::string_view::npos) break;
    s.remove_prefix(semi + 1);
  }
}

SipNameAddr parse_name_addr(std::string_view s, bool first_of_list) {
  SipNameAddr n;
  n.present = true;
  s = trim(s);
  std::string_view uri, params;
  // The '<' of a name-addr, outside a quoted display name.
  std::size_t lt = std::string_view::npos;
  bool quoted = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"' && (i == 0 || s[i - 1] != '\\')) quoted = !quoted;
    if (s[i] == '<' && !quoted) {
      lt = i;
      break;
    }
  }
  if (lt != std::string_view::npos) {
    n.display_info = trim(s.substr(0, lt), "'\" \t");
    const std::size_t gt = s.find('>', lt);
    uri = s.substr(lt + 1, gt == std::string_view::npos ? std::string_view::npos : gt - lt - 1);
    params = gt == std::string_view::npos ? std::string_view() : s.substr(gt + 1);
  } else {
    const std::size_t semi = s.find(';');
    uri = s.substr(0, semi);
    params = semi == std::string_view::npos ? std::string_view() : s.substr(semi + 1);
  }
  if (first_of_list) {  // Contact: a list of addresses; the first one is reported
    std::string_view& tail = lt == std::string_view::npos ? uri : params;
    tail = tail.substr(0, tail.find(','));
  }
  n.uri = parse_sip_uri(uri);
  each_param(params, [&](std::string_view k, std::string_view v) {
    if (iequals(k, "tag"))
      n.tag = v;
    else if (iequals(k, "expires"))
      n.expires = v;
    else if (iequals(k, "q"))
      n.q = v;
  });
  return n;
}

// Splits a comma-separated list, lower-cased into `work`.
int lower_list(std::string_view v, std::string_view* out, int max, char*& work, const char* end, int& cut) {
  int n = 0;
  while (true) {
    const std::size_t comma = v.find(',');
    const std::string_view item = trim(v.substr(0, comma), " ");
    if (n < max && static_cast<std::size_t>(end - work) >= item.size()) {
      for (std::size_t i = 0; i < item.size(); ++i) work[i] = lower(item[i]);
      out[n++] = {work, item.size()};
      work += item.size();
    } else {
      ++cut;
    }
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return n;
}

}  // namespace

SipUri parse_sip_uri(std::string_view text) {
  SipUri u;
  text = trim(text);
  u.original = text;
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return u;
  u.scheme = text.substr(0, colon);
  std::string_view rest = text.substr(colon + 1);
  // Parameters start at the first ';' outside an IPv6 reference; headers at '?'.
  std::size_t end = rest.size();
  bool in6 = false;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '[') in6 = true;
    if (rest[i] == ']') in6 = false;
    if (!in6 && (rest[i] == ';' || rest[i] == '?')) {
      end = i;
      break;
    }
  }
  std::string_view hostport = rest.substr(0, end);
  if (end < rest.size() && rest[end] == ';') {
    std::string_view params = rest.substr(end + 1);
    params = params.substr(0, params.find('?'));
    each_param(params, [&](std::string_view k, std::string_view v) {
      if (iequals(k, "line"))
        u.line = v;
      else if (iequals(k, "transport"))
        u.transport = v;
    });
  }
  const std::size_t at = hostport.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view user = trim(hostport.substr(0, at));
    if (user != "-" && !user.empty()) u.username = user;
    hostport.remove_prefix(at + 1);
  }
  std::size_t port_colon;
  if (!hostport.empty() && hostport[0] == '[') {
    const std::size_t close = hostport.find(']');
    port_colon = close == std::string_view::npos ? std::string_view::npos : hostport.find(':', close);
  } else {
    port_colon = hostport.find(':');
  }
  u.host = trim(hostport.substr(0, port_colon));
  if (port_colon != std::string_view::npos) {
    const int64_t p = number(hostport.substr(port_colon + 1));
    if (p > 0 && p <= 65535) u.port = static_cast<uint32_t>(p);
  }
  return u;
}

bool sip_start_line(std::string_view line, SipMessage& m) {
  if (line.size() < 14) return false;  // "SIP/2.0 200 OK"
  if (line.substr(0, 4) == "SIP/") {
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos || sp < 7) return false;
    m.request = false;
    m.version = line.substr(4, sp - 4);
    const std::string_view rest = line.substr(sp + 1);
    const std::string_view code = rest.substr(0, rest.find(' '));
    if (code.size() != 3 || !digits(code)) return false;
    m.status_code = static_cast<uint32_t>(number(code));
    m.status_phrase = code.size() < rest.size() ? trim(rest.substr(4)) : std::string_view();
    return true;
  }
  const std::size_t a = line.find(' ');
  const std::size_t b = line.rfind(' ');
  if (a == std::string_view::npos || a == b || a == 0) return false;
  for (std::size_t i = 0; i < a; ++i)
    if (!token_char(line[i])) return false;
  const std::string_view ver = line.substr(b + 1);
  if (ver.size() < 7 || ver.substr(0, 4) != "SIP/") return false;
  m.request = true;
  m.method = line.substr(0, a);
  m.uri_text = trim(line.substr(a + 1, b - a - 1));
  m.version = ver.substr(4);
  return !m.uri_text.empty();
}

std::size_t sip_head_end(std::string_view b, std::size_t from) {
  from = from > 2 ? from - 2 : 0;  // the empty line may have begun in the bytes searched
  for (std::size_t i = b.find('\n', from); i != std::string_view::npos; i = b.find('\n', i + 1)) {
    if (i + 1 < b.size() && b[i + 1] == '\n') return i + 2;
    if (i + 2 < b.size() && b[i + 1] == '\r' && b[i + 2] == '\n') return i + 3;
  }
  return 0;
}

bool sip_content_length_line(std::string_view line, int64_t& value) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || !iequals(expand(trim(line.substr(0, colon))), "content-length"))
    return false;
  value = number(line.substr(colon + 1));
  return true;
}

SipHead parse_sip_head(std::string_view head, SipMessage& m, char* work, std::size_t work_size) {
  // Logical lines into `work`: line ends dropped, folded lines joined by one space; each
  // read once it is whole (the next line is not a fold), so that every header line counts,
  // however many there are (Content-Length frames a message over TCP).
  char* w = work;
  const char* const wend = work + work_size;
  std::string_view contact_text, from_text, to_text;
  bool start_ok = false;
  int n = 0;  // logical lines read
  const auto take = [&](std::string_view line) {
    if (n++ == 0) {
      start_ok = sip_start_line(line, m);
      return;
    }
    if (!start_ok) return;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    const std::string_view name = expand(trim(line.substr(0, colon)));
    const std::string_view v = trim(line.substr(colon + 1));
    if (iequals(name, "via")) {
      bool seen = false;
      for (int k = 0; k < m.n_via && !seen; ++k) seen = m.via[k] == v;
      if (!seen && m.n_via < SipMessage::kMaxList)
        m.via[m.n_via++] = v;
      else if (!seen)
        ++m.headers_cut;
    } else if (iequals(name, "from")) {
      if (from_text.empty()) from_text = v;
    } else if (iequals(name, "to")) {
      if (to_text.empty()) to_text = v;
    } else if (iequals(name, "contact")) {
      if (contact_text.empty()) contact_text = v;
    } else if (iequals(name, "call-id")) {
      m.call_id = v;
    } else if (iequals(name, "cseq")) {
      const std::size_t sp = v.find_first_of(" \t");
      m.has_cseq = sp != std::string_view::npos && digits(v.substr(0, sp));
      if (m.has_cseq) {
        m.cseq_code = static_cast<uint32_t>(number(v.substr(0, sp)) & 0xffffffff);
        m.cseq_method = trim(v.substr(sp));
      }
    } else if (iequals(name, "max-forwards")) {
      m.max_forwards = number(v);
    } else if (iequals(name, "content-length")) {
      m.content_length = number(v);
    } else if (iequals(name, "content-type")) {
      m.content_type = v;
    } else if (iequals(name, "content-encoding")) {
      m.content_encoding = v;
    } else if (iequals(name, "user-agent")) {
      m.user_agent = v;
    } else if (iequals(name, "accept")) {
      if (m.accept.empty()) m.accept = v;
    } else if (iequals(name, "authorization")) {
      if (m.authorization.empty()) m.authorization = v;
    } else if (iequals(name, "p-associated-uri")) {
      if (m.private_uri_text.empty()) m.private_uri_text = v;
    } else if (iequals(name, "allow")) {
      m.n_allow = lower_list(v, m.allow, SipMessage::kMaxList, w, wend, m.headers_cut);
    } else if (iequals(name, "supported")) {
      m.n_supported = lower_list(v, m.supported, SipMessage::kMaxList, w, wend, m.headers_cut);
    }
  };
  char* line_start = w;
  bool open = false;
  std::size_t pos = 0;
  while (pos < head.size()) {
    std::size_t nl = head.find('\n', pos);
    if (nl == std::string_view::npos) nl = head.size();
    std::string_view raw = head.substr(pos, nl - pos);
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    pos = nl + 1;
    if (raw.empty()) break;  // the end of the head
    if (open && space(raw[0])) {
      raw = trim(raw);  // a folded line continues the previous one
      if (raw.empty() || w + 1 + raw.size() > wend) continue;
      *w++ = ' ';
      std::memcpy(w, raw.data(), raw.size());
      w += raw.size();
      continue;
    }
    if (open) take({line_start, static_cast<std::size_t>(w - line_start)});
    open = false;
    if (w + raw.size() > wend) break;
    line_start = w;
    std::memcpy(w, raw.data(), raw.size());
    w += raw.size();
    open = true;
  }
  if (open) take({line_start, static_cast<std::size_t>(w - line_start)});
  if (!start_ok) return SipHead::kNotSip;
  if (m.request) m.uri = parse_sip_uri(m.uri_text);
  if (!from_text.empty()) m.from = parse_name_addr(from_text, false);
  if (!to_text.empty()) m.to = parse_name_addr(to_text, false);
  if (!contact_text.empty()) m.contact = parse_name_addr(contact_text, true);
  if (!m.private_uri_text.empty()) {
    // P-Associated-URI (RFC 7315): name-addr form; its URI is reported.
    m.private_uri = parse_name_addr(m.private_uri_text, true).uri;
  }
  return SipHead::kOk;
}

void parse_sip_authorization(SipMessage& m) {
  const std::string_view a = trim(m.authorization);
  const std::size_t sp = a.find_first_of(" \t");
  if (sp == std::string_view::npos) return;
  m.auth_scheme = a.substr(0, sp);
  std::string_view rest = a.substr(sp + 1);
  while (!rest.empty()) {
    // Parameters are comma-separated; a quoted value may hold a comma.
    std::size_t end = 0;
    bool quoted = false;
    for (; end < rest.size(); ++end) {
      if (rest[end] == '"') quoted = !quoted;
      if (rest[end] == ',' && !quoted) break;
    }
    const std::string_view p = rest.substr(0, end);
    const std::size_t eq = p.find('=');
    if (eq != std::string_view::npos) {
      const std::string_view k = trim(p.substr(0, eq));
      const std::string_view v = trim(p.substr(eq + 1), "'\" \t");
      if (iequals(k, "realm"))
        m.auth_realm = v;
      else if (iequals(k, "username"))
        m.auth_username = v == "-" ? std::string_view() : v;
      else if (iequals(k, "uri"))
        m.auth_uri = parse_sip_uri(v);
    }
    if (end >= rest.size()) break;
    rest.remove_prefix(end + 1);
  }
}

void parse_sdp(std::string_view body, SipSdp& sdp) {
  sdp.present = true;
  bool in_media = false;
  while (!body.empty()) {
    const std::size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl == std::string_view::npos ? body.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view k = trim(line.substr(0, eq));
    const std::string_view v = trim(line.substr(eq + 1));
    if (k.size() != 1) continue;
    switch (lower(k[0])) {
      case 'v':
        sdp.version = v;
        break;
      case 'o': {
        // username sess-id sess-version nettype addrtype unicast-address
        std::string_view parts[4];
        std::string_view r = v;
        int n = 0;
        for (; n < 3 && !r.empty(); ++n) {
          const std::size_t s = r.find(' ');
          if (s == std::string_view::npos) break;
          parts[n] = r.substr(0, s);
          r = trim(r.substr(s + 1), " ");
        }
        if (n < 3 || r.empty()) break;
        parts[3] = r;
        if (parts[0] != "-") sdp.owner_username = parts[0];
        sdp.owner_session_id = parts[1];
        sdp.owner_version = parts[2];
        sdp.owner_ip = parts[3].substr(parts[3].rfind(' ') + 1);
        break;
      }
      case 's':
        if (v != "-") sdp.session_name = v;
        break;
      case 'c':
        if (in_media) break;  // the session's connection, not a medium's
        sdp.connection_info = v;
        sdp.connection_address = v.substr(v.rfind(' ') + 1);
        break;
      case 'm':
        in_media = true;
        break;
      default:
        break;
    }
  }
}

}  // namespace tapbeat
