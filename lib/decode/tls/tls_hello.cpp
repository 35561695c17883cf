#include "decode/tls/tls_hello.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "decode/tls/tls_names.hpp"
#include "event/json_writer.hpp"
#include "util/byte_reader.hpp"
#include "util/encode.hpp"

namespace tapbeat::tls {

Digest::Digest() : ctx_(EVP_MD_CTX_new()) {
  static const char* const kNames[kKinds] = {"MD5", "SHA1", "SHA256"};
  for (int i = 0; i < kKinds; ++i) md_[i] = EVP_MD_fetch(nullptr, kNames[i], nullptr);
  if (!ctx_ || !md_[kMd5] || !md_[kSha1] || !md_[kSha256])
    throw std::runtime_error("the crypto library offers no MD5, SHA-1 or SHA-256");
}

Digest::~Digest() {
  for (evp_md_st* m : md_) EVP_MD_free(m);
  EVP_MD_CTX_free(ctx_);
}

void Digest::begin(Kind k) { EVP_DigestInit_ex2(ctx_, md_[k], nullptr); }
void Digest::update(const void* p, std::size_t n) { EVP_DigestUpdate(ctx_, p, n); }
std::size_t Digest::end(uint8_t* out) {
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx_, out, &n);
  return n;
}

namespace {

// The parts both hellos open with: version, random, session id. Returns the offset
// after them, 0 when malformed.
std::size_t common_hello(Bytes b, Hello& h) {
  if (b.size() < 35) return 0;
  h.version = be16(b.data());
  if ((h.version >> 8) != 3) return 0;
  h.random = b.subspan(2, 32);
  const std::size_t sid = b[34];
  if (sid > 32 || b.size() < 35 + sid) return 0;
  h.session_id = b.subspan(35, sid);
  return 35 + sid;
}

// The extension block after `at` (absent is fine; a length that does not fit is not).
bool extension_block(Bytes b, std::size_t at, Hello& h) {
  if (at + 2 > b.size()) return true;  // none (a stray last byte is let pass)
  const std::size_t n = be16(b.data() + at);
  if (at + 2 + n > b.size()) return false;
  h.extensions = b.subspan(at + 2, n);
  return true;
}

// Calls f(type, data) for each extension; false when the block is malformed.
template <class F>
bool each_extension(Bytes ext, F&& f) {
  std::size_t at = 0;
  while (at + 4 <= ext.size()) {
    const uint16_t type = be16(ext.data() + at);
    const std::size_t n = be16(ext.data() + at + 2);
    if (at + 4 + n > ext.size()) return false;
    f(type, ext.subspan(at + 4, n));
    at += 4 + n;
  }
  return at == ext.size();
}

// Numbers joined by '-' into a digest, buffered.
class Ja3Text {
 public:
  explicit Ja3Text(Digest& d) : d_(d) {}
  ~Ja3Text() { flush(); }
  void number(unsigned v) {
    if (n_ + 8 > sizeof buf_) flush();
    if (!first_) buf_[n_++] = '-';
    first_ = false;
    n_ = static_cast<std::size_t>(std::to_chars(buf_ + n_, buf_ + sizeof buf_, v).ptr - buf_);
  }
  void field_end() {
    if (n_ + 1 > sizeof buf_) flush();
    buf_[n_++] = ',';
    first_ = true;
  }
  void flush() {
    d_.update(buf_, n_);
    n_ = 0;
  }

 private:
  Digest& d_;
  char buf_[256];
  std::size_t n_ = 0;
  bool first_ = true;
};

std::string_view alpn_of(Bytes e) {
  if (e.size() < 3) return {};
  const std::size_t list = be16(e.data());
  const std::size_t n = e[2];
  if (list + 2 > e.size() || n == 0 || 3 + n > e.size()) return {};
  return {reinterpret_cast<const char*>(e.data() + 3), n};
}

// Writes a list member of 2-byte codes named by `name` (GREASE left out when asked).
template <class Name>
void code_list(JsonWriter& w, std::string_view key, Bytes list, bool skip_grease, Name&& name) {
  w.begin_array(key);
  char unk[24];
  for (std::size_t i = 0; i + 2 <= list.size(); i += 2) {
    const uint16_t v = be16(list.data() + i);
    if (skip_grease && is_grease(v)) continue;
    w.string(name_or_unknown(name(v), v, 4, unk));
  }
  w.end_array();
}

// One extension of the detailed hello, as Packetbeat writes it; false: not parsed
// (it goes to _unparsed_).
bool write_extension(JsonWriter& w, uint16_t type, Bytes e, std::string_view key) {
  char buf[48];
  switch (type) {
    case 0: {  // server_name: the host_name entries
      if (e.size() < 2) return false;
      const std::size_t list = std::min<std::size_t>(be16(e.data()) + 2u, e.size());
      w.begin_array(key);
      for (std::size_t at = 2; at + 3 <= list;) {
        const std::size_t n = be16(e.data() + at + 1);
        if (at + 3 + n > list) break;
        if (e[at] == 0) w.string({reinterpret_cast<const char*>(e.data() + at + 3), n});
        at += 3 + n;
      }
      w.end_array();
      return true;
    }
    case 1:  // max_fragment_length
      if (e.size() != 1) return false;
      if (e[0] >= 1 && e[0] <= 4)
        w.field(key, std::string_view(
                         buf, static_cast<std::size_t>(std::snprintf(buf, sizeof buf, "2^%d", 8 + e[0]))));
      else
        w.field(key, std::string_view(buf, static_cast<std::size_t>(
                                               std::snprintf(buf, sizeof buf, "(unknown:%d)", e[0]))));
      return true;
    case 2:
    case 4:  // client_certificate_url, truncated_hmac: empty
      if (e.empty())
        w.field(key, "");
      else
        w.field(key,
                std::string_view(buf, static_cast<std::size_t>(std::snprintf(
                                          buf, sizeof buf, "(expected empty: found %zu bytes)", e.size()))));
      return true;
    case 5: {  // status_request
      if (e.empty()) {
        w.begin_object(key);
        w.field_bool("response", true);
        w.end_object();
        return true;
      }
      if (e.size() < 5) return false;
      const std::size_t ids = be16(e.data() + 1);
      const std::size_t exts = 3 + ids + 2 <= e.size() ? be16(e.data() + 3 + ids) : 0;
      w.begin_object(key);
      w.field_uint("request_extensions", exts);
      w.field_uint("responder_id_list_length", ids);
      if (e[0] == 1)
        w.field("type", "ocsp");
      else
        w.field("type",
                std::string_view(buf, static_cast<std::size_t>(std::snprintf(buf, sizeof buf, "%d", e[0]))));
      w.end_object();
      return true;
    }
    case 9: {  // cert_type
      std::size_t at = 0, end = e.size();
      if (end > 1) {
        at = 1;
        if (e[0] + 1u < end) end = e[0] + 1u;
      }
      w.begin_array(key);
      for (; at < end; ++at) {
        switch (e[at]) {
          case 0:
            w.string("X.509");
            break;
          case 1:
            w.string("OpenPGP");
            break;
          case 2:
            w.string("RawPubKey");
            break;
          default:
            w.string(std::string_view(
                buf, static_cast<std::size_t>(std::snprintf(buf, sizeof buf, "(unknown:%d)", e[at]))));
        }
      }
      w.end_array();
      return true;
    }
    case 10:  // supported_groups
      if (e.size() < 2 || be16(e.data()) + 2u != e.size()) return false;
      code_list(w, key, e.subspan(2), true, group_name);
      return true;
    case 11: {  // ec_points_formats
      if (e.empty() || e[0] + 1u != e.size()) return false;
      w.begin_array(key);
      for (std::size_t i = 1; i < e.size(); ++i)
        w.string(name_or_unknown(ec_point_format_name(e[i]), e[i], 2, buf));
      w.end_array();
      return true;
    }
    case 12:  // srp: the user name
      if (e.empty() || e[0] + 1u > e.size()) return false;
      w.field(key, std::string_view(reinterpret_cast<const char*>(e.data() + 1), e[0]));
      return true;
    case 13:  // signature_algorithms
      if (e.size() < 2 || be16(e.data()) + 2u != e.size()) return false;
      code_list(w, key, e.subspan(2), false, signature_scheme_name);
      return true;
    case 16: {  // application_layer_protocol_negotiation
      if (e.size() < 2 || be16(e.data()) + 2u != e.size()) return false;
      for (std::size_t at = 2; at < e.size(); at += 1u + e[at])
        if (at + 1 + e[at] > e.size()) return false;
      w.begin_array(key);
      for (std::size_t at = 2; at < e.size(); at += 1u + e[at])
        w.string({reinterpret_cast<const char*>(e.data() + at + 1), e[at]});
      w.end_array();
      return true;
    }
    case 35:  // session_ticket
      if (e.empty()) {
        w.field(key, "");
      } else {  // "(N bytes)"
        buf[0] = '(';
        char* end = std::to_chars(buf + 1, buf + sizeof buf - 8, e.size()).ptr;
        std::memcpy(end, " bytes)", 7);
        w.field(key, std::string_view(buf, static_cast<std::size_t>(end + 7 - buf)));
      }
      return true;
    case 43: {  // supported_versions: the server's choice, or the client's list
      if (e.size() == 2) {
        w.field(key, version_text(be16(e.data()), buf));
        return true;
      }
      if (e.size() < 3 || e[0] + 1u > e.size() || (e[0] & 1) || e[0] == 0) return false;
      w.begin_array(key);
      for (std::size_t at = 1; at + 2 <= e[0] + 1u; at += 2) {
        const uint16_t v = be16(e.data() + at);
        if (!is_grease(v)) w.string(version_text(v, buf));
      }
      w.end_array();
      return true;
    }
    default:
      return false;
  }
}

}  // namespace

bool parse_client_hello(Bytes b, Hello& h) {
  h = Hello{};
  std::size_t at = common_hello(b, h);
  if (at == 0 || at + 2 > b.size()) return false;
  const std::size_t nc = be16(b.data() + at);
  if ((nc & 1) || at + 2 + nc + 1 > b.size()) return false;
  h.ciphers = b.subspan(at + 2, nc);
  at += 2 + nc;
  const std::size_t ncomp = b[at];
  if (at + 1 + ncomp > b.size()) return false;
  h.compression = b.subspan(at + 1, ncomp);
  return extension_block(b, at + 1 + ncomp, h) && each_extension(h.extensions, [](uint16_t, Bytes) {});
}

bool parse_server_hello(Bytes b, Hello& h) {
  h = Hello{};
  if (b.size() >= 36 && ((b[0] == 0x7f && b[1] < 22) || (b[0] == 3 && b[1] == 4))) {
    // TLS 1.3 drafts before 22 (some wrote 0x0304): version, random, cipher suite,
    // extensions. The final format says 0x0303 here.
    h.version = be16(b.data());
    h.random = b.subspan(2, 32);
    h.cipher = be16(b.data() + 34);
    return extension_block(b, 36, h) && each_extension(h.extensions, [](uint16_t, Bytes) {});
  }
  const std::size_t at = common_hello(b, h);
  if (at == 0 || at + 3 > b.size()) return false;
  h.cipher = be16(b.data() + at);
  h.compression_method = b[at + 2];
  return extension_block(b, at + 3, h) && each_extension(h.extensions, [](uint16_t, Bytes) {});
}

bool parse_sslv2_client_hello(Bytes r, Hello& h) {
  h = Hello{};
  if (r.size() < 9 || r[0] != 1) return false;
  h.version = be16(r.data() + 1);
  const std::size_t nc = be16(r.data() + 3), ns = be16(r.data() + 5), nch = be16(r.data() + 7);
  if (nc % 3 || ns > 32 || nch < 16 || nch > 32 || 9 + nc + ns + nch > r.size()) return false;
  h.ciphers = r.subspan(9, nc);
  h.session_id = r.subspan(9 + nc, ns);
  h.random = r.subspan(9 + nc + ns, nch);
  h.sslv2 = true;
  return true;
}

Bytes find_extension(const Hello& h, uint16_t type, bool& found) {
  found = false;
  Bytes out;
  each_extension(h.extensions, [&](uint16_t t, Bytes e) {
    if (t == type && !found) {
      found = true;
      out = e;
    }
  });
  return out;
}

std::string_view server_name(const Hello& h) {
  bool found;
  const Bytes e = find_extension(h, 0, found);
  if (!found || e.size() < 5) return {};
  const std::size_t list = std::min<std::size_t>(be16(e.data()) + 2u, e.size());
  for (std::size_t at = 2; at + 3 <= list;) {
    const std::size_t n = be16(e.data() + at + 1);
    if (at + 3 + n > list) break;
    if (e[at] == 0 && n > 0) return {reinterpret_cast<const char*>(e.data() + at + 3), n};
    at += 3 + n;
  }
  return {};
}

std::string_view first_alpn(const Hello& h) {
  bool found;
  const Bytes e = find_extension(h, 16, found);
  return found ? alpn_of(e) : std::string_view{};
}

uint16_t negotiated_version(const Hello& s) {
  bool found;
  const Bytes e = find_extension(s, 43, found);
  return found && e.size() == 2 ? be16(e.data()) : s.version;
}

int session_ticket(const Hello& h) {
  bool found;
  const Bytes e = find_extension(h, 35, found);
  return !found ? 0 : e.empty() ? 1 : 2;
}

void ja3(const Hello& h, bool client, Digest& d, char* out) {
  d.begin(Digest::kMd5);
  {
    Ja3Text t(d);
    t.number(h.version);
    t.field_end();
    if (client) {
      for (std::size_t i = 0; i + 2 <= h.ciphers.size(); i += 2)
        if (const uint16_t v = be16(h.ciphers.data() + i); !is_grease(v)) t.number(v);
    } else {
      t.number(h.cipher);
    }
    t.field_end();
    Bytes groups, formats;
    each_extension(h.extensions, [&](uint16_t type, Bytes e) {
      if (is_grease(type)) return;
      t.number(type);
      if (type == 10 && e.size() >= 2)
        groups = e.subspan(2, std::min<std::size_t>(be16(e.data()), e.size() - 2));
      if (type == 11 && !e.empty()) formats = e.subspan(1, std::min<std::size_t>(e[0], e.size() - 1));
    });
    if (client) {
      t.field_end();
      for (std::size_t i = 0; i + 2 <= groups.size(); i += 2)
        if (const uint16_t v = be16(groups.data() + i); !is_grease(v)) t.number(v);
      t.field_end();
      for (uint8_t f : formats) t.number(f);
    }
  }
  uint8_t md[16];
  d.end(md);
  hex_encode(md, 16, out);
}

std::size_t ja4(const Hello& h, Digest& d, char* out) {
  constexpr std::size_t kMax = 512;  // codes kept per list (beyond: the first ones)
  uint16_t ciphers[kMax], exts[kMax], sigs[kMax];
  std::size_t nc = 0, ne = 0, ne_all = 0, ns = 0;
  for (std::size_t i = 0; i + 2 <= h.ciphers.size() && nc < kMax; i += 2)
    if (const uint16_t v = be16(h.ciphers.data() + i); !is_grease(v)) ciphers[nc++] = v;
  uint16_t version = h.version;
  bool sni = false;
  std::string_view alpn;
  each_extension(h.extensions, [&](uint16_t type, Bytes e) {
    if (is_grease(type)) return;
    ++ne_all;
    if (type == 0) sni = true;
    if (type == 16) alpn = alpn_of(e);
    if (type != 0 && type != 16 && ne < kMax) exts[ne++] = type;
    if (type == 43 && !e.empty()) {
      uint16_t best = 0;
      for (std::size_t at = 1; at + 2 <= e.size() && at + 2 <= e[0] + 1u; at += 2)
        if (const uint16_t v = be16(e.data() + at); !is_grease(v) && v > best) best = v;
      if (best) version = best;
    }
    if (type == 13 && e.size() >= 2) {
      const std::size_t n = std::min<std::size_t>(be16(e.data()), e.size() - 2);
      for (std::size_t at = 2; at + 2 <= n + 2 && ns < kMax; at += 2) sigs[ns++] = be16(e.data() + at);
    }
  });
  const char* ver = "00";
  switch (version) {
    case 0x0304:
      ver = "13";
      break;
    case 0x0303:
      ver = "12";
      break;
    case 0x0302:
      ver = "11";
      break;
    case 0x0301:
      ver = "10";
      break;
    case 0x0300:
      ver = "s3";
      break;
    case 0x0002:
      ver = "s2";
      break;
    default:
      break;
  }
  if (h.sslv2) ver = "s2";
  char a[2] = {'0', '0'};
  if (!alpn.empty()) {
    const auto alnum = [](unsigned char c) {
      return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    };
    const unsigned char f = static_cast<unsigned char>(alpn.front()),
                        l = static_cast<unsigned char>(alpn.back());
    if (alnum(f) && alnum(l)) {
      a[0] = static_cast<char>(f);
      a[1] = static_cast<char>(l);
    } else {
      const char* digits = "0123456789abcdef";
      a[0] = digits[f >> 4];
      a[1] = digits[l & 15];
    }
  }
  // t, version, d/i, cipher and extension counts (two digits each), ALPN's ends.
  const std::size_t c2 = std::min<std::size_t>(nc, 99), e2 = std::min<std::size_t>(ne_all, 99);
  const char head[10] = {'t',
                         ver[0],
                         ver[1],
                         sni ? 'd' : 'i',
                         static_cast<char>('0' + c2 / 10),
                         static_cast<char>('0' + c2 % 10),
                         static_cast<char>('0' + e2 / 10),
                         static_cast<char>('0' + e2 % 10),
                         a[0],
                         a[1]};
  std::memcpy(out, head, sizeof head);
  std::size_t len = sizeof head;
  // A sorted or ordered list of codes as comma-separated 4-digit hex, hashed; the
  // first 12 hex digits of its SHA-256.
  const auto part = [&](const uint16_t* sorted_part, std::size_t k, const uint16_t* tail, std::size_t kt) {
    out[len++] = '_';
    if (k == 0) {
      std::memset(out + len, '0', 12);
      len += 12;
      return;
    }
    // The text whole, then one digest update (a formatted code and an update a code
    // had cost more than the hash).
    char text[2 * kMax * 5];
    std::size_t tl = 0;
    const auto codes = [&](const uint16_t* v, std::size_t count) {
      for (std::size_t i = 0; i < count; ++i) {
        if (i) text[tl++] = ',';
        const uint8_t be[2] = {static_cast<uint8_t>(v[i] >> 8), static_cast<uint8_t>(v[i])};
        hex_encode(be, 2, text + tl);
        tl += 4;
      }
    };
    codes(sorted_part, k);
    if (kt) text[tl++] = '_';
    codes(tail, kt);
    d.begin(Digest::kSha256);
    d.update(text, tl);
    uint8_t md[32];
    d.end(md);
    hex_encode(md, 6, out + len);
    len += 12;
  };
  std::sort(ciphers, ciphers + nc);
  std::sort(exts, exts + ne);
  part(ciphers, nc, nullptr, 0);
  part(exts, ne, sigs, ns);
  return len;
}

void write_client_fields(JsonWriter& w, const Hello& h, Digest& d) {
  char buf[40];
  if (!h.sslv2) {  // JA3 and JA4 are defined over the TLS ClientHello
    ja3(h, true, d, buf);
    w.field("ja3", std::string_view(buf, 32));
    w.field("ja4", std::string_view(buf, ja4(h, d, buf)));
  }
  if (const std::string_view sni = server_name(h); !sni.empty()) w.field("server_name", sni);
  w.begin_array("supported_ciphers");
  char unk[24];
  if (h.sslv2) {
    for (std::size_t i = 0; i + 3 <= h.ciphers.size(); i += 3) {
      const uint32_t spec = uint32_t{h.ciphers[i]} << 16 | be16(h.ciphers.data() + i + 1);
      w.string(spec < 0x10000 ? name_or_unknown(cipher_name(static_cast<uint16_t>(spec)), spec, 4, unk)
                              : std::string_view(unk, unknown_code(spec, 6, unk)));
    }
  } else {
    for (std::size_t i = 0; i + 2 <= h.ciphers.size(); i += 2) {
      const uint16_t v = be16(h.ciphers.data() + i);
      if (!is_grease(v)) w.string(name_or_unknown(cipher_name(v), v, 4, unk));
    }
  }
  w.end_array();
}

void write_server_fields(JsonWriter& w, const Hello& h, Digest& d) {
  char buf[40];
  ja3(h, false, d, buf);
  w.field("ja3s", std::string_view(buf, 32));
}

void write_hello_detail(JsonWriter& w, const Hello& h, bool client) {
  char buf[72];
  // Members in Packetbeat's key order: extensions, random, session_id, compression, version.
  if (!h.extensions.empty()) {
    w.begin_object("extensions");
    char unparsed[64][8];
    std::string_view unparsed_names[64];
    std::size_t nu = 0;
    each_extension(h.extensions, [&](uint16_t type, Bytes e) {
      if (is_grease(type)) return;
      std::string_view name = extension_name(type);
      if (!name.empty() && write_extension(w, type, e, name)) return;
      if (nu == 64) return;
      if (name.empty()) {
        const auto r = std::to_chars(unparsed[nu], unparsed[nu] + sizeof unparsed[nu], type);
        name = std::string_view(unparsed[nu], static_cast<std::size_t>(r.ptr - unparsed[nu]));
      }
      unparsed_names[nu++] = name;
    });
    if (nu) {
      w.begin_array("_unparsed_");
      for (std::size_t i = 0; i < nu; ++i) w.string(unparsed_names[i]);
      w.end_array();
    }
    w.end_object();
  }
  if (!h.random.empty()) {
    hex_encode(h.random.data(), h.random.size(), buf);
    w.field("random", std::string_view(buf, 2 * h.random.size()));
  }
  if (!h.session_id.empty()) {
    hex_encode(h.session_id.data(), h.session_id.size(), buf);
    w.field("session_id", std::string_view(buf, 2 * h.session_id.size()));
  }
  if (client) {
    w.begin_array("supported_compression_methods");
    for (uint8_t m : h.compression) w.string(name_or_unknown(compression_name(m), m, 2, buf));
    w.end_array();
  } else {
    w.field("selected_compression_method",
            name_or_unknown(compression_name(h.compression_method), h.compression_method, 2, buf));
  }
  // "major.minor" in decimal (a field of every hello: formatted by hand).
  std::size_t n = 0;
  for (const unsigned part : {unsigned{h.version} >> 8, unsigned{h.version} & 0xffu}) {
    if (n) buf[n++] = '.';
    if (part >= 100) buf[n++] = static_cast<char>('0' + part / 100);
    if (part >= 10) buf[n++] = static_cast<char>('0' + part / 10 % 10);
    buf[n++] = static_cast<char>('0' + part % 10);
  }
  w.field("version", std::string_view(buf, n));
}

}  // namespace tapbeat::tls
