// The HTTP decoder's event half: a request and its response (or either alone,
// with Packetbeat's note) written as Packetbeat's http event.
#include <arpa/inet.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "decode/http/http_decoder.hpp"
#include "decode/http/http_message.hpp"
#include "decode/http/http_wire.hpp"
#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "event/mime_type.hpp"
#include "util/bounded_text.hpp"
#include "util/encode.hpp"

namespace tapbeat {
namespace {

using http::Head;

bool listed(std::string_view name, const std::vector<std::string>& list) {
  for (const std::string& s : list)
    if (http::iequals(name, s)) return true;
  return false;
}

bool parse_uint(std::string_view s, uint64_t& v) {
  v = 0;
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

// An authority, 'host[:port]' or '[IPv6 address][:port]' (RFC 3986 3.2.2): the host
// without its brackets, whether a port's colon follows it, and the port when the text
// after that colon is one (1-65535; else 0).
struct Authority {
  std::string_view host;
  bool colon = false;
  uint32_t port = 0;
};
Authority split_authority(std::string_view a) {
  Authority out{a};
  std::string_view port_text;
  if (!a.empty() && a.front() == '[') {
    if (const std::size_t rb = a.find(']'); rb != std::string_view::npos) {
      out.colon = rb + 1 < a.size() && a[rb + 1] == ':';
      if (out.colon) port_text = a.substr(rb + 2);
      out.host = a.substr(1, rb - 1);
    }
  } else if (const std::size_t colon = a.rfind(':'); colon != std::string_view::npos) {
    out.colon = true;
    port_text = a.substr(colon + 1);
    out.host = a.substr(0, colon);
  }
  uint64_t p = 0;
  if (!port_text.empty() && parse_uint(port_text, p) && p > 0 && p < 65536)
    out.port = static_cast<uint32_t>(p);
  return out;
}

// Body bytes for the event: decoded when the message says gzip or deflate.
std::string_view body_view(const Head& h, std::string_view body, bool decode, uint8_t* out, uint32_t cap,
                           CounterSet<HttpStat>& counters) {
  if (!decode) return body;
  const std::string_view enc = h.get("content-encoding");
  const bool gzip = http::icontains(enc, "gzip"), deflate = http::icontains(enc, "deflate");
  if (!gzip && !deflate) return body;
  for (int attempt = 0; attempt < 2; ++attempt) {
    z_stream z{};
    // gzip: gzip or zlib header (32 + 15); deflate: zlib, then raw as some servers send.
    const int bits = gzip ? 15 + 32 : attempt == 0 ? 15 : -15;
    if (inflateInit2(&z, bits) != Z_OK) return body;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
    z.avail_in = static_cast<uInt>(body.size());
    z.next_out = out;
    z.avail_out = cap;
    const int rc = inflate(&z, Z_FINISH);
    const uint32_t got = cap - z.avail_out;
    inflateEnd(&z);
    if (rc == Z_STREAM_END || rc == Z_BUF_ERROR || (rc == Z_OK && got > 0)) {
      if (rc != Z_STREAM_END) counters.inc(HttpStat::body_decode_partial);
      return {reinterpret_cast<const char*>(out), got};
    }
    if (gzip) break;
  }
  counters.inc(HttpStat::body_decode_failed);
  return body;
}

}  // namespace

void HttpDecoder::publish(const StreamInfo& c, int client, HttpMessage* req, HttpMessage* resp,
                          const char* note) {
  Scratch& s = *scratch_;
  std::string_view rq_text, rs_text;
  if (req) {
    const uint32_t n = store_.copy_out(req->text, s.req, kMaxKeptBytes);
    rq_text = {reinterpret_cast<const char*>(s.req), n};
    if (!s.heads.reparse(rq_text.substr(0, std::min<std::size_t>(n, req->head_len)), s.req_head))
      req = nullptr;
  }
  const bool headless = resp && resp->head_len == 0;  // the answer to an HTTP/0.9 request
  if (headless) {
    s.resp_head.n_headers = 0;
    s.resp_head.status = 0;
    s.resp_head.phrase = {};
    s.resp_head.version = "0.9";
  } else if (resp) {
    const uint32_t n = store_.copy_out(resp->text, s.resp, kMaxKeptBytes);
    rs_text = {reinterpret_cast<const char*>(s.resp), n};
    if (!s.heads.reparse(rs_text.substr(0, std::min<std::size_t>(n, resp->head_len)), s.resp_head))
      resp = nullptr;
  }
  if (!req && !resp) return;
  const Head& rq = s.req_head;
  const Head& rs = s.resp_head;
  if (req && resp) counters_.inc(HttpStat::transactions);

  TransactionFields t;
  t.type = "http";
  t.ok = req && resp && rs.status < 400 && !(resp->notes & http::kBadStatus);
  if (!note && req && (req->flags & kLossy)) note = kLossRequest;
  if (!note && resp && (resp->flags & kLossy)) note = kLossResponse;
  // The answer's own HTTP/0.9 mark repeats the request's.
  uint16_t notes = (req ? req->notes : 0) | (resp ? resp->notes & ~(req ? http::kNoVersion : 0) : 0);
  t.start_ns = req ? req->start_ns : resp->start_ns;
  // Packetbeat's transaction ends when the response starts (its first packet).
  t.end_ns = resp ? resp->start_ns : req->end_ns;
  t.request_only = !resp;
  t.response_only = !req;
  set_connection(t, c, client, 6, "http");
  t.client_bytes = req ? req->bytes : 0;
  t.server_bytes = resp ? resp->bytes : 0;

  // Host, path, parameters.
  std::string_view host, path, query_string;
  uint32_t port = t.server_port;
  // CONNECT's authority-form target (RFC 9110 9.3.6): the tunnel's far end, url.domain
  // and url.port; it has no path (Packetbeat's query is "CONNECT "; it writes the proxy's
  // port as url.port, having read no host from the target).
  std::string_view authority;
  const bool connect = req && (req->flags & kConnect);
  if (req) {
    std::string_view uri = rq.uri;
    if (connect) authority = std::exchange(uri, std::string_view{});
    std::string_view host_hdr = rq.get("host");
    const bool host_header = !host_hdr.empty();
    for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
      if (uri.size() > scheme.size() && http::iequals(uri.substr(0, scheme.size()), scheme)) {
        uri.remove_prefix(scheme.size());
        const std::size_t slash = uri.find('/');
        if (host_hdr.empty()) host_hdr = uri.substr(0, slash);
        uri = slash == std::string_view::npos ? std::string_view("/") : uri.substr(slash);
      }
    }
    const std::size_t hash = uri.find('#');
    if (hash != std::string_view::npos) uri = uri.substr(0, hash);
    const std::size_t q = uri.find('?');
    path = uri.substr(0, q);
    if (q != std::string_view::npos) query_string = uri.substr(q + 1);
    // url.path and query carry the path decoded, as Packetbeat (Go's url.Parse)
    // gives it; a path with a bad escape stays as sent (Packetbeat leaves it empty).
    std::size_t n = 0;
    if (path.find('%') != std::string_view::npos && http::path_unescape(path, s.path, sizeof s.path, n))
      path = std::string_view(s.path, n);
    // A Host with a port that is none keeps the connection's port.
    const Authority h = split_authority(host_hdr);
    host = h.host;
    if (h.port) port = h.port;
    // As Packetbeat notes it: a Host header whose port is not the one the request came to.
    if (host_header && h.port && h.port != t.server_port) notes |= kNoteHostPort;
  }
  t.error = compose_note(note, notes);
  char ip_text[48];
  if (req && host.empty()) host = std::string_view(ip_text, format_ip(t.server, t.ip_version, ip_text));
  const bool host_is_ip = !host.empty() && (host.find(':') != std::string_view::npos ||
                                            host.find_first_not_of("0123456789.") == std::string_view::npos);
  if (req && !host_is_ip) {
    t.server_domain = host;
    t.related_host = host;
  }
  // A Host that is an address joins related.ip, as Packetbeat adds it (written as every
  // address of the event is).
  char host_ip[48];
  std::string_view host_ips[1];
  if (req && host_is_ip && host.size() < sizeof host_ip) {
    char in[48];
    std::memcpy(in, host.data(), host.size());
    in[host.size()] = '\0';
    IpBytes ip{};
    const bool v6 = host.find(':') != std::string_view::npos;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, in, ip.data()) == 1) {
      host_ips[0] = std::string_view(host_ip, format_ip(ip, v6 ? 6 : 4, host_ip));
      t.related_ips = {host_ips, 1};
    }
  }
  // As Packetbeat does, the Referer header's value joins related.hosts (as it is sent).
  std::string_view referer[1];
  if (req) {
    referer[0] = rq.get("referer");
    if (!referer[0].empty() && referer[0] != t.related_host) t.related_hosts_more = {referer, 1};
  }

  // Form parameters from a url-encoded request body join the query string.
  std::string_view req_body = req && (req->flags & kBodyKept)
                                  ? rq_text.substr(std::min<std::size_t>(rq_text.size(), req->head_len))
                                  : std::string_view{};
  std::string_view resp_body = resp && (resp->flags & kBodyKept)
                                   ? rs_text.substr(std::min<std::size_t>(rs_text.size(), resp->head_len))
                                   : std::string_view{};
  const http::KeywordList hidden{hidden_.data(), hidden_.size()};
  std::string_view params;
  const bool form = req && http::icontains(rq.get("content-type"), "x-www-form-urlencoded");
  if (req) {
    const std::size_t n = http::encode_params(query_string, form ? req_body : std::string_view{}, hidden,
                                              s.params, sizeof s.params);
    params = {s.params, n};
  }

  char user[256];
  std::size_t user_len = 0;
  if (req) user_len = http::basic_auth_user(rq.get("authorization"), user, sizeof user);
  if (user_len) t.related_user = {user, user_len};
  std::string_view forwarded;
  if (req && !cfg_.real_ip_header.empty()) {
    forwarded = rq.get(cfg_.real_ip_header);
    forwarded = forwarded.substr(0, forwarded.find(','));
    while (!forwarded.empty() && forwarded.back() == ' ') forwarded.remove_suffix(1);
    t.forwarded_ip = forwarded;
  }

  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    auto headers = [&](const Head& h, const HttpMessage& m, bool request) {
      w.begin_object("headers");
      uint64_t length = 0;
      if (!parse_uint(h.get("content-length"), length)) length = m.body_bytes;  // chunked or close-delimited
      w.field_uint("content-length", length);
      if (const std::string_view ct = h.get("content-type"); !ct.empty()) w.field("content-type", ct);
      const bool any = cfg_.send_all_headers || !cfg_.send_headers.empty();
      for (uint32_t i = 0; any && i < h.n_headers; ++i) {
        const std::string_view name = h.headers[i].name;
        if (http::iequals(name, "content-length") || http::iequals(name, "content-type")) continue;
        char lname[128];
        if (name.size() >= sizeof lname) continue;
        for (std::size_t k = 0; k < name.size(); ++k)
          lname[k] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[k])));
        const std::string_view ln(lname, name.size());
        if (!cfg_.send_all_headers && !listed(ln, cfg_.send_headers)) continue;
        bool earlier = false;
        for (uint32_t j = 0; j < i && !earlier; ++j) earlier = http::iequals(h.headers[j].name, ln);
        if (earlier) continue;
        // Repeated headers joined with ", ", as one value.
        std::size_t jl = 0;
        for (uint32_t j = i; j < h.n_headers; ++j) {
          if (!http::iequals(h.headers[j].name, ln)) continue;
          const std::string_view v = h.headers[j].value;
          if (jl && jl + 2 <= sizeof s.joined) s.joined[jl++] = ',', s.joined[jl++] = ' ';
          const std::size_t k = std::min(v.size(), sizeof s.joined - jl);
          std::memcpy(s.joined + jl, v.data(), k);
          jl += k;
        }
        const std::string_view value(s.joined, jl);
        if (cfg_.redact_authorization && (ln == "authorization" || ln == "proxy-authorization")) {
          w.field(ln, "*");
        } else if (listed(ln, cfg_.redact_headers)) {
          w.field(ln, "REDACTED");
        } else if (cfg_.split_cookie && ln == (request ? "cookie" : "set-cookie")) {
          // name=value pairs separated by ';', names in lower case, last one wins.
          struct Kv {
            std::string_view k;
            std::string_view v;
            char key[64];
            std::size_t kl;
          };
          Kv kvs[64];
          int nk = 0;
          std::string_view rest = value;
          while (!rest.empty()) {
            const std::size_t semi = rest.find(';');
            std::string_view part = rest.substr(0, semi);
            rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
            const std::size_t eq = part.find('=');
            if (eq == std::string_view::npos) continue;
            std::string_view k = part.substr(0, eq), v = part.substr(eq + 1);
            while (!k.empty() && k.front() == ' ') k.remove_prefix(1);
            while (!k.empty() && k.back() == ' ') k.remove_suffix(1);
            while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
            while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
            if (k.empty() || k.size() >= 64) continue;
            Kv kv;
            kv.kl = k.size();
            for (std::size_t x = 0; x < k.size(); ++x)
              kv.key[x] = static_cast<char>(std::tolower(static_cast<unsigned char>(k[x])));
            kv.v = v;
            int found = -1;
            for (int x = 0; x < nk; ++x)
              if (std::string_view(kvs[x].key, kvs[x].kl) == std::string_view(kv.key, kv.kl)) found = x;
            if (found >= 0)
              kvs[found].v = v;
            else if (nk < 64)
              kvs[nk++] = kv;
          }
          w.begin_object(ln);
          for (int x = 0; x < nk; ++x) w.field(std::string_view(kvs[x].key, kvs[x].kl), kvs[x].v);
          w.end_object();
        } else {
          w.field(ln, value);
        }
      }
      w.end_object();
    };
    auto body = [&](const Head& h, const HttpMessage& m, std::string_view kept) -> std::string_view {
      if (m.body_bytes == 0) return {};
      w.begin_object("body");
      w.field_uint("bytes", m.body_bytes);
      std::string_view content;
      if ((m.flags & kIncludeBody) && !kept.empty()) {
        content = body_view(h, kept, cfg_.decode_body, s.inflated, kMaxKeptBytes, counters_);
        if (&h == &rq && form && hidden.n) content = params;  // hidden parameters stay hidden
        if (http::icontains(h.get("content-type"), "json") && !(m.flags & kTruncated)) {
          // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a padded copy.
          uint8_t* buf = s.inflated;
          if (content.data() != reinterpret_cast<const char*>(s.inflated)) {
            std::memcpy(buf, content.data(), content.size());
            content = {reinterpret_cast<const char*>(buf), content.size()};
          }
          std::memset(buf + content.size(), 0, simdjson::SIMDJSON_PADDING);
          if (s.json.parse(buf, content.size(), false).error()) counters_.inc(HttpStat::json_invalid);
        }
        w.field("content", content);
      }
      w.end_object();
      return content;
    };
    w.begin_object("http");
    if (req) {
      w.begin_object("request");
      const std::string_view content = body(rq, *req, req_body);
      w.field_uint("bytes", req->bytes);
      headers(rq, *req, true);
      w.field("method", rq.method);
      if (const std::string_view t = content.empty() ? "" : detect_mime_type(content, s.json); !t.empty())
        w.field("mime_type", t);
      if (const std::string_view ref = rq.get("referer"); !ref.empty()) w.field("referrer", ref);
      w.end_object();
    }
    if (resp) {
      w.begin_object("response");
      const std::string_view content = body(rs, *resp, resp_body);
      w.field_uint("bytes", resp->bytes);
      headers(rs, *resp, false);
      if (const std::string_view t = content.empty() ? "" : detect_mime_type(content, s.json); !t.empty())
        w.field("mime_type", t);
      if (!headless && (rs.status || !(resp->notes & http::kBadStatus)))
        w.field_uint("status_code", rs.status);
      char phrase[128];
      const std::size_t pl = std::min(rs.phrase.size(), sizeof phrase);
      for (std::size_t i = 0; i < pl; ++i)
        phrase[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(rs.phrase[i])));
      if (!headless && pl)
        w.field("status_phrase", std::string_view(phrase, pl));  // none: left out, as Packetbeat does
      w.end_object();
    }
    // A request line cut before its version: the response's, if any.
    if (req && !(req->notes & kNoteLineLost))
      w.field("version", rq.version);
    else if (resp)
      w.field("version", rs.version);
    w.end_object();
    if (req) {
      w.field("method", rq.method);
      BoundedText<kMaxHeadBytes + 32>& q = s.query_line;
      q.clear();
      q.append(rq.method);
      q.push_back(' ');
      q.append(path);
      w.field("query", q.view());
    }
    // Raw text: the head (authorization values masked when asked), and the body when included.
    auto raw = [&](const char* key, std::string_view text, const HttpMessage& m, int slot) {
      std::string_view head = text.substr(0, std::min<std::size_t>(text.size(), m.head_len));
      char* buf = s.raw[slot];
      const std::size_t hn = std::min(head.size(), sizeof s.raw[slot]);
      if (hn) std::memcpy(buf, head.data(), hn);  // an HTTP/0.9 answer has no head (and no text)
      if (cfg_.redact_authorization) {
        for (std::size_t i = 0; i < hn;) {
          std::size_t e = i;
          while (e < hn && buf[e] != '\n') ++e;
          const std::string_view line(buf + i, e - i);
          const std::size_t colon = line.find(':');
          if (colon != std::string_view::npos &&
              (http::iequals(line.substr(0, colon), "authorization") ||
               http::iequals(line.substr(0, colon), "proxy-authorization"))) {
            std::size_t end = e;
            if (end > i && buf[end - 1] == '\r') --end;
            for (std::size_t k = i + colon + 1; k < end; ++k) buf[k] = '*';
          }
          i = e + 1;
        }
      }
      if (!(m.flags & kIncludeBody) || text.size() <= head.size()) {
        w.field(key, std::string_view(buf, hn));
        return;
      }
      w.key(key);
      // Head and body as one string: the writer escapes both pieces into one value.
      // Hidden form parameters stay hidden here too.
      const bool hide_body = slot == 0 && form && hidden.n;
      w.string_parts(std::string_view(buf, hn), hide_body ? params : text.substr(head.size()));
    };
    if (cfg_.send_request && req) raw("request", rq_text, *req, 0);
    if (cfg_.send_response && resp) raw("response", rs_text, *resp, 1);
    if (connect) {
      // A target whose port is none is written whole as the domain.
      const Authority a = split_authority(authority);
      const std::string_view ah = a.colon && !a.port ? authority : a.host;
      w.begin_object("url");
      if (!ah.empty()) w.field("domain", ah);
      if (a.port) w.field_uint("port", a.port);
      w.field("scheme", "http");
      w.end_object();
    } else if (req) {
      w.begin_object("url");
      w.field("domain", host);
      const std::size_t slash = path.rfind('/');
      const std::string_view last = path.substr(slash == std::string_view::npos ? 0 : slash + 1);
      if (const std::size_t dot = last.rfind('.'); dot != std::string_view::npos && dot + 1 < last.size())
        w.field("extension", last.substr(dot + 1));
      BoundedText<sizeof s.full.buf>& full = s.full;
      full.clear();
      full.append("http://");
      const bool v6 = host.find(':') != std::string_view::npos;
      if (v6) full.append("[");
      full.append(host);
      if (v6) full.append("]");
      if (port != 80) {
        full.append(":");
        full.append_uint(port);
      }
      if (path.empty() || path.front() != '/') full.append("/");
      if (path == "*")  // OPTIONS' asterisk-form, which Go's EscapedPath leaves as it is
        full.append(path);
      else
        full.append(std::string_view(s.escaped, http::path_escape(path, s.escaped, sizeof s.escaped)));
      if (!params.empty()) {
        full.append("?");
        full.append(params);
      }
      w.field("full", full.view());
      w.field("path", path);
      if (port != 80) w.field_uint("port", port);
      if (!params.empty()) w.field("query", params);
      w.field("scheme", "http");
      w.end_object();
    }
    if (req) {
      if (user_len) {
        w.begin_object("user");
        w.field("name", std::string_view(user, user_len));
        w.end_object();
      }
      if (const std::string_view ua = rq.get("user-agent"); !ua.empty()) {
        w.begin_object("user_agent");
        w.field("original", ua);
        w.end_object();
      }
    }
    end_transaction(w);
  });
}

}  // namespace tapbeat
