#include "decode/http/http_wire.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <new>

#include "util/encode.hpp"

namespace tapbeat::http {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool iequals_prefix(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) return false;
  for (std::size_t i = 0; i < lower_prefix.size(); ++i)
    if (lower(s[i]) != lower_prefix[i]) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// RFC 9110 tchar.
bool is_tchar(uint8_t c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// "http/" in any case.
bool http_prefix(std::string_view s) { return s.size() >= 5 && iequals_prefix(s, "http/"); }

// Percent-decoding, '+' as space in a query (application/x-www-form-urlencoded) and
// as itself in a path. False on a bad escape, as Go's QueryUnescape/PathUnescape.
bool unescape(std::string_view in, char* out, std::size_t cap, std::size_t& len, bool query = true) {
  len = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int h = hex_value(in[i + 1]), l = hex_value(in[i + 2]);
      if (h < 0 || l < 0) return false;
      c = static_cast<char>(h << 4 | l);
      i += 2;
    } else if (c == '+' && query) {
      c = ' ';
    }
    if (len < cap) out[len++] = c;
  }
  return true;
}

// Bytes written as they are: bit 0 in a query (unreserved), bit 1 in a path (also
// the sub-delimiters Go keeps there).
constexpr std::array<uint8_t, 256> kUrlPlain = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '_' || c == '.' || c == '~';
    const bool sub = std::string_view("$&+,/:;=@").find(static_cast<char>(c)) != std::string_view::npos;
    t[c] = static_cast<uint8_t>((unreserved ? 3 : 0) | (sub ? 2 : 0));
  }
  return t;
}();

// Go's url.QueryEscape, or with `path` the escaping of URL.EscapedPath (which keeps
// the sub-delimiters $ & + , / : ; = @ and writes a space as %20).
std::size_t escape(std::string_view in, char* out, std::size_t cap, bool path = false) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const uint8_t want = path ? 2 : 1;
  std::size_t n = 0;
  for (unsigned char c : in) {
    if (kUrlPlain[c] & want) {
      if (n < cap) out[n++] = static_cast<char>(c);
    } else if (c == ' ' && !path) {
      if (n < cap) out[n++] = '+';
    } else {
      if (n + 3 > cap) return n;
      out[n++] = '%';
      out[n++] = kHex[c >> 4];
      out[n++] = kHex[c & 15];
    }
  }
  return n;
}

}  // namespace

bool path_unescape(std::string_view in, char* out, std::size_t cap, std::size_t& len) {
  return unescape(in, out, cap, len, false);
}

std::size_t path_escape(std::string_view in, char* out, std::size_t cap) {
  return escape(in, out, cap, true);
}

bool iequals_bytes(const char* a, const char* l, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (lower(a[i]) != l[i]) return false;
  return true;
}

bool icontains(std::string_view hay, std::string_view l) {
  if (l.empty()) return true;
  if (hay.size() < l.size()) return false;
  for (std::size_t i = 0; i + l.size() <= hay.size(); ++i) {
    std::size_t k = 0;
    while (k < l.size() && lower(hay[i + k]) == l[k]) ++k;
    if (k == l.size()) return true;
  }
  return false;
}

std::string_view Head::get(std::string_view l) const {
  for (uint32_t i = 0; i < n_headers; ++i)
    if (iequals(headers[i].name, l)) return headers[i].value;
  return {};
}

bool Head::has(std::string_view l) const {
  for (uint32_t i = 0; i < n_headers; ++i)
    if (iequals(headers[i].name, l)) return true;
  return false;
}

StartKind start_kind(const uint8_t* p, std::size_t n) {
  // A status line: "HTTP/" and a digit, in any case.
  static constexpr char kHttp[] = "http/";
  std::size_t k = 0;
  while (k < n && k < 5 && lower(static_cast<char>(p[k])) == kHttp[k]) ++k;
  if (k == n && n < 6) return StartKind::kNeedMore;
  if (k == 5) return p[5] >= '0' && p[5] <= '9' ? StartKind::kResponse : StartKind::kNotHttp;
  // A request line: a method token, then a space and a target, or the line's end.
  constexpr std::size_t kMaxMethod = 32;
  std::size_t i = 0;
  bool upper = true;
  while (i < n && i <= kMaxMethod && is_tchar(p[i])) {
    upper = upper && ((p[i] >= 'A' && p[i] <= 'Z') || p[i] == '-' || p[i] == '_');
    ++i;
  }
  if (i == n) return i <= kMaxMethod ? StartKind::kNeedMore : StartKind::kNotHttp;
  if (i == 0 || i > kMaxMethod) return StartKind::kNotHttp;
  if (p[i] == '\r' || p[i] == '\n') return upper && i >= 3 ? StartKind::kRequest : StartKind::kNotHttp;
  if (p[i] != ' ' && p[i] != '\t') return StartKind::kNotHttp;
  // Servers split the line on runs of whitespace (RFC 9112 §3, tabs among it: "recipients
  // MAY ... treat any form of whitespace as the SP separator"): "GET    /x" and
  // "GET\t/x\tHTTP/1.1" are requests.
  constexpr std::size_t kMaxBlanks = 64;
  std::size_t at = i + 1;
  while (at < n && at <= i + kMaxBlanks && (p[at] == ' ' || p[at] == '\t')) ++at;
  if (at >= n) return at <= i + kMaxBlanks ? StartKind::kNeedMore : StartKind::kNotHttp;
  if (at > i + kMaxBlanks) return StartKind::kNotHttp;
  const uint8_t t = p[at];
  if (t == '/' || t == '*') return StartKind::kRequest;
  if (upper && ((t >= 'a' && t <= 'z') || (t >= 'A' && t <= 'Z') || (t >= '0' && t <= '9')))
    return StartKind::kRequest;
  // Any other token with an absolute target ("scheme://").
  std::size_t j = at;
  while (j < n && j < at + 23 && ((p[j] >= 'a' && p[j] <= 'z') || (p[j] >= 'A' && p[j] <= 'Z'))) ++j;
  if (j == n) return j < at + 23 ? StartKind::kNeedMore : StartKind::kNotHttp;
  if (j == at || p[j] != ':') return StartKind::kNotHttp;
  if (j + 3 > n) return StartKind::kNeedMore;
  return p[j + 1] == '/' && p[j + 2] == '/' ? StartKind::kRequest : StartKind::kNotHttp;
}

std::size_t head_end(const uint8_t* p, std::size_t n) {
  // A blank line: CRLF CRLF, or bare LF LF as lenient servers send.
  const uint8_t* q = p;
  const uint8_t* end = p + n;
  while (q < end) {
    const void* lf = std::memchr(q, '\n', static_cast<std::size_t>(end - q));
    if (!lf) return 0;
    const uint8_t* l = static_cast<const uint8_t*>(lf);
    if (l + 1 < end && l[1] == '\n') return static_cast<std::size_t>(l + 2 - p);
    if (l + 2 < end && l[1] == '\r' && l[2] == '\n') return static_cast<std::size_t>(l + 3 - p);
    q = l + 1;
  }
  return 0;
}

std::size_t line_end(const uint8_t* p, std::size_t n) {
  const void* lf = std::memchr(p, '\n', n);
  return lf ? static_cast<std::size_t>(static_cast<const uint8_t*>(lf) - p) + 1 : 0;
}

namespace {

// The request line's parts; false when it has no method.
bool split_request_line(std::string_view line, std::string_view& method, std::string_view& uri,
                        std::string_view& version) {
  std::size_t a = 0;
  while (a < line.size() && !is_blank(line[a])) ++a;
  if (a == 0) return false;
  method = line.substr(0, a);
  std::string_view rest = trim(line.substr(a));
  uri = rest;
  version = {};
  std::size_t b = rest.size();
  while (b > 0 && !is_blank(rest[b - 1])) --b;
  const std::string_view last = rest.substr(b);
  if (http_prefix(last)) {
    version = last.substr(5);
    uri = trim(rest.substr(0, b));  // may hold blanks: kept as sent
  }
  return true;
}

}  // namespace

bool versionless_request_line(std::string_view line) {
  std::string_view m, u, v;
  return split_request_line(trim(line), m, u, v) && v.empty();
}

namespace {

// The headers the decoder frames a message by and the event's fields come from: kept
// past Head::kMaxHeaders, in its reserve.
bool read_past_limit(std::string_view name) {
  for (std::string_view n : {"content-length", "transfer-encoding", "host", "content-type",
                             "content-encoding", "user-agent", "referer", "authorization"})
    if (iequals(name, n)) return true;
  return false;
}

}  // namespace

bool last_coding_chunked(std::string_view v) {
  const std::size_t comma = v.rfind(',');
  if (comma != std::string_view::npos) v = v.substr(comma + 1);
  // A folded value ends with its continuation: the last word is the last coding.
  std::size_t b = v.size();
  while (b > 0 && !is_blank(v[b - 1]) && v[b - 1] != '\n') --b;
  return iequals(trim(v.substr(b)), "chunked");
}

bool only_identity(std::string_view v) {
  for (;;) {
    const std::size_t comma = v.find(',');
    if (!iequals(trim(v.substr(0, comma)), "identity")) return false;
    if (comma == std::string_view::npos) return true;
    v = v.substr(comma + 1);
  }
}

bool read_length(std::string_view v, uint64_t& out) {
  // A list of equal values ("5, 5") is one length; anything else is a mismatch.
  bool any = false;
  for (;;) {
    const std::size_t comma = v.find(',');
    const std::string_view part = trim(v.substr(0, comma));
    uint64_t n = 0;
    if (part.empty() || part.size() > 18) return false;
    for (char c : part) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (any && n != out) return false;
    out = n, any = true;
    if (comma == std::string_view::npos) return true;
    v = v.substr(comma + 1);
  }
}

FramingHeader framing_header(std::string_view line, std::string_view& value) {
  const std::size_t colon = line.find(':');
  // A line starting with a blank continues the header before it (obsolete folding).
  if (colon == std::string_view::npos || line.empty() || is_blank(line[0])) return FramingHeader::kNone;
  const std::string_view name = trim(line.substr(0, colon));
  value = trim(line.substr(colon + 1));
  if (iequals(name, "content-length")) return FramingHeader::kLength;
  if (iequals(name, "transfer-encoding")) return FramingHeader::kCoding;
  return FramingHeader::kNone;
}

bool parse_head(std::string_view text, Head& h) {
  h.reset();
  std::size_t eol = text.find('\n');
  if (eol == std::string_view::npos) return false;
  const std::string_view line = trim(text.substr(0, eol));
  std::string_view rest = text.substr(eol + 1);
  if (http_prefix(line)) {
    h.response = true;
    std::size_t sp = 5;
    while (sp < line.size() && !is_blank(line[sp])) ++sp;
    h.version = line.substr(5, sp - 5);
    std::string_view after = trim(line.substr(sp));
    uint32_t code = 0;
    std::size_t k = 0;
    while (k < after.size() && k < 3 && after[k] >= '0' && after[k] <= '9')
      code = code * 10 + static_cast<uint32_t>(after[k++] - '0');
    if (k == 3 && (k == after.size() || is_blank(after[k]))) {
      h.status = static_cast<uint16_t>(code);
      h.phrase = trim(after.substr(k));
    } else {
      // No three-digit code: still a response (a client may take it, a monitor must
      // show it), noted. The code token follows the version, with or without a blank
      // ("HTTP/1.1Transfer-Encoding: chunked" has version 1.1 and that token); the
      // code is its leading digits when one to three ("2XX": 2, as tshark reads it;
      // "2000" or none: no code), the phrase what follows the token.
      std::size_t v = 5;
      while (v < sp && ((line[v] >= '0' && line[v] <= '9') || line[v] == '.')) ++v;
      std::string_view token;
      if (v < sp) {
        h.version = line.substr(5, v - 5);
        token = line.substr(v, sp - v);
        h.phrase = trim(line.substr(sp));
      } else {
        std::size_t end = 0;
        while (end < after.size() && !is_blank(after[end])) ++end;
        token = after.substr(0, end);
        h.phrase = trim(after.substr(end));
      }
      code = 0;
      std::size_t d = 0;
      while (d < token.size() && token[d] >= '0' && token[d] <= '9' && d < 4)
        code = code * 10 + static_cast<uint32_t>(token[d++] - '0');
      h.status = static_cast<uint16_t>(d >= 1 && d <= 3 ? code : 0);
      h.anomalies |= kBadStatus;
    }
  } else {
    if (!split_request_line(line, h.method, h.uri, h.version)) return false;
    for (char c : h.method)
      if (!is_tchar(static_cast<uint8_t>(c))) return false;
    if (h.version.empty()) {
      h.version = "0.9";
      h.anomalies |= kNoVersion;
    }
    if (h.uri.empty()) h.anomalies |= kNoTarget;
  }
  bool last_dropped = false;  // a fold continues the line before it, not kept either
  while (!rest.empty()) {
    eol = rest.find('\n');
    std::string_view l = rest.substr(0, eol == std::string_view::npos ? rest.size() : eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.empty()) break;
    if (is_blank(l.front())) {
      // Obsolete line folding: the value goes on (RFC 9112 5.2 lets a recipient
      // read the fold as a space); the view spans both lines as sent.
      h.anomalies |= kFolded;
      if (h.n_headers > 0 && !last_dropped) {
        Header& prev = h.headers[h.n_headers - 1];
        const std::string_view more = trim(l);
        if (!more.empty()) {
          const char* from = prev.value.empty() ? more.data() : prev.value.data();
          prev.value = std::string_view(from, static_cast<std::size_t>(more.data() + more.size() - from));
        }
      }
      continue;
    }
    const std::size_t colon = l.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    const std::string_view name = trim(l.substr(0, colon));
    last_dropped = h.n_headers >= Head::kMaxHeaders &&
                   (h.n_headers == Head::kMaxHeaders + Head::kReserved || !read_past_limit(name));
    if (last_dropped) {
      ++h.dropped_headers;
      h.anomalies |= kHeadersDropped;
      continue;
    }
    h.headers[h.n_headers++] = {name, trim(l.substr(colon + 1))};
  }
  // Message framing (RFC 9112 6): Transfer-Encoding's last coding, Content-Length.
  bool has_te = false;
  bool identity_only = true;
  bool seen_length = false;
  for (uint32_t i = 0; i < h.n_headers; ++i) {
    const Header& hd = h.headers[i];
    if (iequals(hd.name, "transfer-encoding")) {
      has_te = true;
      identity_only = identity_only && only_identity(hd.value);
      h.chunked = last_coding_chunked(hd.value);
    } else if (iequals(hd.name, "content-length")) {
      uint64_t first = 0;
      if (!read_length(hd.value, first)) {
        h.anomalies |= kLengthMismatch;
      } else if (!seen_length) {
        h.content_length = first;
        h.has_length = true;
      } else if (first != h.content_length) {
        h.anomalies |= kLengthMismatch;
        if (h.other_length == Head::kNoLength) h.other_length = first;
      }
      seen_length = true;
    }
  }
  // "identity" (RFC 2616 3.6: no coding at all), the only coding named: no
  // Transfer-Encoding, as curl, Python's http.client, Wireshark and Zeek read it (a
  // Content-Length frames the body).
  if (has_te && identity_only) has_te = false;
  if (has_te && seen_length) h.anomalies |= kLengthAndChunked;
  if (has_te && !h.chunked) h.anomalies |= kOtherCoding;
  return true;
}

const Head* HeadCache::parse(std::string_view text) {
  if (text.empty() || text.size() > kMaxText) return parse_head(text, long_) ? &long_ : nullptr;
  Slot& sl = slots_[next_];
  next_ = (next_ + 1) % kSlots;
  std::memcpy(sl.text, text.data(), text.size());
  sl.len = static_cast<uint32_t>(text.size());
  sl.ok = parse_head(std::string_view(sl.text, text.size()), sl.head);
  return sl.ok ? &sl.head : nullptr;
}

bool HeadCache::reparse(std::string_view text, Head& out) const {
  for (const Slot& sl : slots_) {
    if (sl.len == 0 || sl.len != text.size() || std::memcmp(sl.text, text.data(), text.size()) != 0) continue;
    if (!sl.ok) return false;
    // The head's views into the copy, moved onto text; views elsewhere ("0.9" for a
    // request line without a version) kept.
    const auto from = reinterpret_cast<std::uintptr_t>(sl.text);
    const auto onto_text = [&](std::string_view v) {
      const auto at = reinterpret_cast<std::uintptr_t>(v.data());
      if (v.data() == nullptr || at < from || at > from + sl.len) return v;
      return std::string_view(text.data() + (at - from), v.size());
    };
    const Head& h = sl.head;
    out.response = h.response;
    out.chunked = h.chunked;
    out.has_length = h.has_length;
    out.anomalies = h.anomalies;
    out.content_length = h.content_length;
    out.other_length = h.other_length;
    out.method = onto_text(h.method);
    out.uri = onto_text(h.uri);
    out.version = onto_text(h.version);
    out.status = h.status;
    out.phrase = onto_text(h.phrase);
    out.n_headers = h.n_headers;
    out.dropped_headers = h.dropped_headers;
    for (uint32_t i = 0; i < h.n_headers; ++i)
      out.headers[i] = {onto_text(h.headers[i].name), onto_text(h.headers[i].value)};
    return true;
  }
  return parse_head(text, out);
}

namespace {

constexpr std::size_t kMaxPairs = 256;       // pairs encode_params reads
constexpr std::size_t kDecoded = 32 * 1024;  // bytes they decode to

int upper_hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Whether a `key=value` pair is already as encode_params writes it: a key of
// unreserved bytes, a value of unreserved bytes, '+' and upper-case escapes of bytes
// QueryEscape escapes (a space's is '+'). Such a pair (most are) is copied as it is,
// not decoded and encoded again; `value_len` is its value's decoded length.
bool encoded_pair(std::string_view part, std::string_view& key, std::size_t& value_len) {
  std::size_t i = 0;
  const std::size_t n = part.size();
  while (i < n && (kUrlPlain[static_cast<uint8_t>(part[i])] & 1)) ++i;
  if (i == 0 || i == n || part[i] != '=') return false;
  key = part.substr(0, i);
  value_len = 0;
  for (++i; i < n; ++value_len) {
    const auto c = static_cast<uint8_t>(part[i]);
    if ((kUrlPlain[c] & 1) || c == '+') {
      ++i;
      continue;
    }
    if (c != '%' || i + 2 >= n) return false;
    const int hi = upper_hex(part[i + 1]), lo = upper_hex(part[i + 2]);
    if (hi < 0 || lo < 0) return false;
    const auto d = static_cast<uint8_t>(hi << 4 | lo);
    if ((kUrlPlain[d] & 1) || d == ' ') return false;
    i += 3;
  }
  return true;
}

bool is_hidden(std::string_view key, KeywordList hidden) {
  for (std::size_t i = 0; i < hidden.n; ++i)
    if (iequals(key, hidden.items[i])) return true;
  return false;
}

}  // namespace

std::size_t encode_params(std::string_view query, std::string_view form, KeywordList hidden, char* out,
                          std::size_t cap) {
  struct Pair {
    std::string_view key, value;
    std::string_view as_is;  // the pair's text when it is already encoded, else empty
    uint32_t order;
  };
  // Left uninitialised (a Pair[256] would zero 14 KiB a request): slots are written
  // before they are read.
  alignas(Pair) unsigned char pair_bytes[sizeof(Pair) * kMaxPairs];
  Pair* const pairs = reinterpret_cast<Pair*>(pair_bytes);
  char decoded[kDecoded];
  std::size_t used = 0, n = 0;
  // Pairs are copied as they are only when the whole output fits: a cut one is cut
  // where the encoder would cut it.
  const bool copy_ok = query.size() + form.size() + 1 <= cap;
  auto add_all = [&](std::string_view s) {
    while (!s.empty() && n < kMaxPairs) {
      const std::size_t amp = s.find('&');
      const std::string_view part = s.substr(0, amp);
      s = amp == std::string_view::npos ? std::string_view{} : s.substr(amp + 1);
      std::string_view key;
      std::size_t vl = 0;
      if (copy_ok && encoded_pair(part, key, vl)) {  // no ';' in it, one '='
        if (used + part.size() - 1 > kDecoded) return;
        if (!is_hidden(key, hidden)) {
          used += key.size() + vl;
          new (&pairs[n]) Pair{key, {}, part, static_cast<uint32_t>(n)};
          ++n;
          continue;
        }
      }
      if (part.empty() || part.find(';') != std::string_view::npos) continue;  // Go rejects ';'
      const std::size_t eq = part.find('=');
      const std::string_view k = part.substr(0, eq);
      const std::string_view v = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
      if (used + k.size() + v.size() > kDecoded) return;
      std::size_t kl = 0;
      if (!unescape(k, decoded + used, kDecoded - used, kl)) continue;
      key = std::string_view(decoded + used, kl);
      used += kl;
      if (!unescape(v, decoded + used, kDecoded - used, vl)) {
        used -= kl;
        continue;
      }
      std::string_view value(decoded + used, vl);
      used += vl;
      if (is_hidden(key, hidden)) value = "xxxxx";
      new (&pairs[n]) Pair{key, value, {}, static_cast<uint32_t>(n)};
      ++n;
    }
  };
  add_all(query);
  add_all(form);
  std::sort(pairs, pairs + n,
            [](const Pair& a, const Pair& b) { return a.key != b.key ? a.key < b.key : a.order < b.order; });
  std::size_t len = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i && len < cap) out[len++] = '&';
    if (!pairs[i].as_is.empty()) {  // fits: copy_ok
      std::memcpy(out + len, pairs[i].as_is.data(), pairs[i].as_is.size());
      len += pairs[i].as_is.size();
      continue;
    }
    len += escape(pairs[i].key, out + len, cap - len);
    if (len < cap) out[len++] = '=';
    len += escape(pairs[i].value, out + len, cap - len);
  }
  return std::min(len, cap);
}

std::size_t basic_auth_user(std::string_view v, char* out, std::size_t cap) {
  v = trim(v);
  if (v.size() < 6 || !iequals(v.substr(0, 6), "basic ")) return 0;
  v = trim(v.substr(6));
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : v) {
    if (c == '=') break;
    const int d = val(c);
    if (d < 0) return 0;
    acc = acc << 6 | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      const char byte = static_cast<char>((acc >> bits) & 0xff);
      if (byte == ':') return n;
      if (n < cap) out[n++] = byte;
    }
  }
  return 0;  // no ':' separating user and password
}

}  // namespace tapbeat::http
