#include "decode/dns/dns_message.hpp"

#include <charconv>
#include <cstring>
#include <ctime>

#include "util/encode.hpp"
#include "util/hints.hpp"

namespace tapbeat {
namespace {

// Appends text into the arena; fails once it is full.
class Arena {
 public:
  Arena(char* p, uint32_t n) : p_(p), n_(n) {}
  const char* mark() const { return p_ + used_; }
  std::string_view since(const char* m) const { return {m, static_cast<std::size_t>(p_ + used_ - m)}; }
  bool put(char c) {
    if (used_ >= n_) return ok_ = false;
    p_[used_++] = c;
    return true;
  }
  bool put(std::string_view s) {
    if (s.size() > n_ - used_) return ok_ = false;
    copy_bytes(p_ + used_, s.data(), s.size());
    used_ += static_cast<uint32_t>(s.size());
    return true;
  }
  bool putf_u(uint64_t v) {
    char b[20];
    return put(std::string_view(b, static_cast<std::size_t>(std::to_chars(b, b + sizeof b, v).ptr - b)));
  }
  bool hex(const uint8_t* d, uint32_t len) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (uint32_t i = 0; i < len; ++i)
      if (!put(kHex[d[i] >> 4]) || !put(kHex[d[i] & 15])) return false;
    return true;
  }
  bool base64(const uint8_t* d, uint32_t len) {
    static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (uint32_t i = 0; i < len; i += 3) {
      const uint32_t v =
          uint32_t{d[i]} << 16 | (i + 1 < len ? uint32_t{d[i + 1]} << 8 : 0) | (i + 2 < len ? d[i + 2] : 0);
      put(kB64[v >> 18 & 63]);
      put(kB64[v >> 12 & 63]);
      put(i + 1 < len ? kB64[v >> 6 & 63] : '=');
      put(i + 2 < len ? kB64[v & 63] : '=');
    }
    return ok_;
  }
  bool base32hex(const uint8_t* d, uint32_t len) {  // RFC 4648 §7, no padding (NSEC3 hashes)
    static constexpr char kB32[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
    uint64_t acc = 0;
    int bits = 0;
    for (uint32_t i = 0; i < len; ++i) {
      acc = acc << 8 | d[i];
      bits += 8;
      while (bits >= 5) {
        bits -= 5;
        put(kB32[acc >> bits & 31]);
      }
    }
    if (bits > 0) put(kB32[acc << (5 - bits) & 31]);
    return ok_;
  }
  // Bytes as Packetbeat writes RDATA it has no form for.
  bool escaped(const uint8_t* d, uint32_t len) {
    for (uint32_t i = 0; i < len; ++i) {
      const uint8_t c = d[i];
      if (c == '"' || c == '\\') {
        put('\\');
        put(static_cast<char>(c));
      } else if (c == '\t') {
        put("\\t");
      } else if (c == '\r') {
        put("\\r");
      } else if (c == '\n') {
        put("\\n");
      } else if (c < 32 || c >= 127) {
        const char esc[4] = {'\\', static_cast<char>('0' + c / 100), static_cast<char>('0' + c / 10 % 10),
                             static_cast<char>('0' + c % 10)};
        put(std::string_view(esc, 4));
      } else {
        put(static_cast<char>(c));
      }
    }
    return ok_;
  }
  bool ok() const { return ok_; }

 private:
  char* p_;
  uint32_t n_;
  uint32_t used_ = 0;
  bool ok_ = true;
};

struct Msg {
  const uint8_t* d;
  uint32_t len;
};

bool u16(const Msg& m, uint32_t off, uint16_t& v) {
  if (off + 2 > m.len) return false;
  v = static_cast<uint16_t>(m.d[off] << 8 | m.d[off + 1]);
  return true;
}
bool u32(const Msg& m, uint32_t off, uint32_t& v) {
  if (off + 4 > m.len) return false;
  v = uint32_t{m.d[off]} << 24 | uint32_t{m.d[off + 1]} << 16 | uint32_t{m.d[off + 2]} << 8 | m.d[off + 3];
  return true;
}

// Reads a (possibly compressed) name at off; `next` gets the offset after it in place.
// RFC 1035 §4.1.4; names are written dotted, without the trailing dot, "." for root.
DnsParse read_name(const Msg& m, uint32_t off, uint32_t& next, Arena& a, std::string_view& out) {
  const char* start = a.mark();
  uint32_t total = 0;
  int pointers = 0;
  bool jumped = false;
  bool first = true;
  for (;;) {
    if (off >= m.len) return DnsParse::kTruncated;
    const uint8_t l = m.d[off];
    if ((l & 0xC0) == 0xC0) {
      if (off + 1 >= m.len) return DnsParse::kTruncated;
      if (++pointers > DnsMessage::kMaxPointers) return DnsParse::kBadName;
      const uint32_t target = ((l & 0x3Fu) << 8) | m.d[off + 1];
      if (!jumped) next = off + 2;
      jumped = true;
      off = target;  // forward pointers are legal; loops end at kMaxPointers
      continue;
    }
    if (l & 0xC0) return DnsParse::kBadName;  // 0x40/0x80 label types are obsolete
    if (l == 0) {
      if (!jumped) next = off + 1;
      break;
    }
    if (off + 1 + l > m.len) return DnsParse::kTruncated;
    total += l + 1u;
    if (total > 255) return DnsParse::kBadName;
    if (!first) a.put('.');
    first = false;
    const uint8_t* label = m.d + off + 1;
    uint32_t plain = 0;  // the label's bytes written as they are: copied at once
    while (plain < l && label[plain] > 0x20 && label[plain] < 0x7F && label[plain] != '.' &&
           label[plain] != '\\')
      ++plain;
    if (plain == l) {
      a.put(std::string_view(reinterpret_cast<const char*>(label), l));
      off += 1 + l;
      continue;
    }
    for (uint32_t i = 0; i < l; ++i) {
      // Master-file escaping (RFC 1035 §5.1): \. and \\, \DDD for bytes outside
      // printable ASCII, so names stay readable and valid UTF-8.
      const uint8_t c = m.d[off + 1 + i];
      if (c == '.' || c == '\\') {
        a.put('\\');
        a.put(static_cast<char>(c));
      } else if (c < 0x21 || c > 0x7E) {
        const char esc[4] = {'\\', static_cast<char>('0' + c / 100), static_cast<char>('0' + c / 10 % 10),
                             static_cast<char>('0' + c % 10)};
        a.put(std::string_view(esc, 4));
      } else {
        a.put(static_cast<char>(c));
      }
    }
    off += 1 + l;
  }
  if (first) a.put('.');
  if (!a.ok()) return DnsParse::kArenaFull;
  out = a.since(start);
  return DnsParse::kOk;
}

bool name_at(const Msg& m, uint32_t off, Arena& a) {
  uint32_t next;
  std::string_view v;
  return read_name(m, off, next, a, v) == DnsParse::kOk;
}

const char* algorithm_name(uint8_t a) {
  switch (a) {
    case 1:
      return "RSAMD5";
    case 2:
      return "DH";
    case 3:
      return "DSA";
    case 5:
      return "RSASHA1";
    case 6:
      return "DSA-NSEC3-SHA1";
    case 7:
      return "RSASHA1-NSEC3-SHA1";
    case 8:
      return "RSASHA256";
    case 10:
      return "RSASHA512";
    case 12:
      return "ECC-GOST";
    case 13:
      return "ECDSAP256SHA256";
    case 14:
      return "ECDSAP384SHA384";
    case 15:
      return "ED25519";
    case 16:
      return "ED448";
    case 252:
      return "INDIRECT";
    case 253:
      return "PRIVATEDNS";
    case 254:
      return "PRIVATEOID";
    default:
      return nullptr;
  }
}

const char* hash_name(uint8_t h) {
  switch (h) {
    case 1:
      return "SHA1";
    case 2:
      return "SHA256";
    case 3:
      return "GOST94";
    case 4:
      return "SHA384";
    case 5:
      return "SHA512";
    default:
      return nullptr;
  }
}

// Fills a record's `data` and named fields from its RDATA.
class RdataWriter {
 public:
  RdataWriter(Arena& a, DnsRecord& r) : a_(a), r_(r) {}
  void number(const char* key, uint32_t v) {
    if (r_.n_fields < DnsRecord::kMaxFields) r_.fields[r_.n_fields++] = {key, {}, v, true};
  }
  template <typename F>
  bool text(const char* key, F&& write) {
    const char* m = a_.mark();
    if (!write()) return false;
    if (r_.n_fields < DnsRecord::kMaxFields) r_.fields[r_.n_fields++] = {key, a_.since(m), 0, false};
    return a_.ok();
  }
  bool text_u(const char* key, uint64_t v) {
    return text(key, [&] { return a_.putf_u(v); });
  }
  bool name_or_number(const char* key, const char* name, uint64_t v) {
    return text(key, [&] { return name ? a_.put(name) : a_.putf_u(v); });
  }
  template <typename F>
  bool data(F&& write) {
    const char* m = a_.mark();
    if (!write()) return false;
    r_.data = a_.since(m);
    return a_.ok();
  }

 private:
  Arena& a_;
  DnsRecord& r_;
};

// NSEC/NSEC3 type bit maps (RFC 4034 §4.1.2): type names separated by spaces.
bool type_bits(const Msg& m, uint32_t off, uint32_t end, Arena& a) {
  bool first = true;
  while (off + 2 <= end) {
    const uint32_t window = m.d[off], len = m.d[off + 1];
    if (len == 0 || len > 32 || off + 2 + len > end) return false;
    for (uint32_t i = 0; i < len; ++i)
      for (int b = 0; b < 8; ++b) {
        if (!(m.d[off + 2 + i] & (0x80 >> b))) continue;
        const uint16_t t = static_cast<uint16_t>(window * 256 + i * 8 + static_cast<uint32_t>(b));
        if (!first) a.put(' ');
        first = false;
        if (const char* n = dns_type_name(t))
          a.put(n);
        else
          a.putf_u(t);
      }
    off += 2 + len;
  }
  return off == end && a.ok();
}

bool put_time(Arena& a, uint32_t t) {  // RRSIG times: YYYYMMDDHHMMSS, UTC
  const time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char b[20];
  const std::size_t k = std::strftime(b, sizeof b, "%Y%m%d%H%M%S", &tm);
  return a.put(std::string_view(b, k));
}

// RDATA into `data` and Packetbeat's fields (RFC 1035 §3.3 and the RFCs of each
// type). False when the RDATA does not read as its type.
bool render(const Msg& m, uint16_t type, uint32_t off, uint16_t rdlen, Arena& a, DnsRecord& r) {
  const uint32_t end = off + rdlen;
  RdataWriter w(a, r);
  char ip[64];
  switch (type) {
    case 1:     // A
    case 28: {  // AAAA
      if (rdlen != (type == 1 ? 4 : 16)) return false;
      IpBytes addr{};
      std::memcpy(addr.data(), m.d + off, rdlen);
      const std::size_t n = format_ip(addr, type == 1 ? 4 : 6, ip);  // inet_ntop's text, without sprintf
      return w.data([&] { return a.put(std::string_view(ip, n)); });
    }
    case 2:
    case 5:
    case 12:
    case 39:  // NS, CNAME, PTR, DNAME
      return w.data([&] { return name_at(m, off, a); });
    case 15: {  // MX: preference, exchange
      uint16_t pref;
      if (!u16(m, off, pref)) return false;
      w.number("preference", pref);
      r.data_last = true;
      return w.data([&] { return name_at(m, off + 2, a); });
    }
    case 16:  // TXT: character-strings joined by spaces
      return w.data([&] {
        bool first = true;
        for (uint32_t p = off; p < end;) {
          const uint8_t l = m.d[p];
          if (p + 1 + l > end) return false;
          if (!first) a.put(' ');
          first = false;
          a.put(std::string_view(reinterpret_cast<const char*>(m.d + p + 1), l));
          p += 1 + l;
        }
        return a.ok();
      });
    case 6: {  // SOA: mname (data), rname, serial, refresh, retry, expire, minimum
      uint32_t next1, next2;
      std::string_view v;
      if (!w.data([&] { return read_name(m, off, next1, a, v) == DnsParse::kOk; })) return false;
      if (!w.text("rname", [&] { return read_name(m, next1, next2, a, v) == DnsParse::kOk; })) return false;
      static constexpr const char* kTimers[] = {"serial", "refresh", "retry", "expire", "minimum"};
      for (int i = 0; i < 5; ++i) {
        uint32_t x;
        if (!u32(m, next2 + 4u * static_cast<uint32_t>(i), x)) return false;
        w.number(kTimers[i], x);
      }
      return true;
    }
    case 33: {  // SRV: priority weight port target
      uint16_t pr, wt, port;
      if (!u16(m, off, pr) || !u16(m, off + 2, wt) || !u16(m, off + 4, port)) return false;
      w.number("priority", pr);
      w.number("weight", wt);
      w.number("port", port);
      r.data_last = true;
      return w.data([&] { return name_at(m, off + 6, a); });
    }
    case 43: {  // DS: key tag, algorithm, digest type, digest
      uint16_t tag;
      if (rdlen < 4 || !u16(m, off, tag)) return false;
      w.text_u("key_tag", tag);
      w.name_or_number("algorithm", algorithm_name(m.d[off + 2]), m.d[off + 2]);
      w.name_or_number("digest_type", hash_name(m.d[off + 3]), m.d[off + 3]);
      r.data_last = true;
      return w.data([&] { return a.hex(m.d + off + 4, rdlen - 4u); });
    }
    case 48: {  // DNSKEY: flags protocol algorithm key
      uint16_t flags;
      if (rdlen < 4 || !u16(m, off, flags)) return false;
      w.text_u("flags", flags);
      w.text_u("protocol", m.d[off + 2]);
      w.name_or_number("algorithm", algorithm_name(m.d[off + 3]), m.d[off + 3]);
      r.data_last = true;
      return w.data([&] { return a.base64(m.d + off + 4, rdlen - 4u); });
    }
    case 59:
    case 60: {  // CDS, CDNSKEY: presentation form
      uint16_t v16;
      if (rdlen < 4 || !u16(m, off, v16)) return false;
      return w.data([&] {
        return a.putf_u(v16) && a.put(' ') && a.putf_u(m.d[off + 2]) && a.put(' ') &&
               a.putf_u(m.d[off + 3]) && a.put(' ') && a.hex(m.d + off + 4, rdlen - 4u);
      });
    }
    case 46: {  // RRSIG
      uint16_t covered, tag;
      uint32_t ttl, exp, inc;
      if (rdlen < 18 || !u16(m, off, covered) || !u32(m, off + 4, ttl) || !u32(m, off + 8, exp) ||
          !u32(m, off + 12, inc) || !u16(m, off + 16, tag))
        return false;
      uint32_t sig = 0;
      std::string_view v;
      w.name_or_number("type_covered", dns_type_name(covered), covered);
      w.name_or_number("algorithm", algorithm_name(m.d[off + 2]), m.d[off + 2]);
      w.text_u("labels", m.d[off + 3]);
      w.text_u("original_ttl", ttl);
      w.text("expiration", [&] { return put_time(a, exp); });
      w.text("inception", [&] { return put_time(a, inc); });
      w.text_u("key_tag", tag);
      if (!w.text("signer_name", [&] { return read_name(m, off + 18, sig, a, v) == DnsParse::kOk; }))
        return false;
      if (sig > end) return false;
      r.data_last = true;
      return w.data([&] { return a.base64(m.d + sig, end - sig); });
    }
    case 47: {  // NSEC: next domain, type bit maps
      uint32_t next;
      std::string_view v;
      if (!w.data([&] { return read_name(m, off, next, a, v) == DnsParse::kOk; })) return false;
      return next <= end && w.text("type_bits", [&] { return type_bits(m, next, end, a); });
    }
    case 50:
    case 51: {  // NSEC3, NSEC3PARAM: hash, flags, iterations, salt[, next hash, type bit maps]
      uint16_t iterations;
      if (rdlen < 5 || !u16(m, off + 2, iterations)) return false;
      const uint8_t salt_len = m.d[off + 4];
      if (5u + salt_len > rdlen) return false;
      auto salt = [&] { return salt_len ? a.hex(m.d + off + 5, salt_len) : a.put('-'); };
      w.name_or_number("hash", hash_name(m.d[off]), m.d[off]);
      w.text_u("flags", m.d[off + 1]);
      w.text_u("iterations", iterations);
      if (type == 51) return w.data(salt);
      w.text("salt", salt);
      const uint32_t h = off + 5 + salt_len;
      if (h >= end || h + 1 + m.d[h] > end) return false;
      const uint8_t hash_len = m.d[h];
      if (!w.data([&] { return a.base32hex(m.d + h + 1, hash_len); })) return false;
      return w.text("type_bits", [&] { return type_bits(m, h + 1 + hash_len, end, a); });
    }
    case 257: {  // CAA: flags tag value
      if (rdlen < 2) return false;
      const uint8_t tl = m.d[off + 1];
      if (2u + tl > rdlen) return false;
      return w.data([&] {
        return a.putf_u(m.d[off]) && a.put(' ') &&
               a.put(std::string_view(reinterpret_cast<const char*>(m.d + off + 2), tl)) && a.put(" \"") &&
               a.put(std::string_view(reinterpret_cast<const char*>(m.d + off + 2 + tl), rdlen - 2u - tl)) &&
               a.put('"');
      });
    }
    case 52: {  // TLSA: usage selector matching-type data
      if (rdlen < 3) return false;
      return w.data([&] {
        return a.putf_u(m.d[off]) && a.put(' ') && a.putf_u(m.d[off + 1]) && a.put(' ') &&
               a.putf_u(m.d[off + 2]) && a.put(' ') && a.hex(m.d + off + 3, rdlen - 3u);
      });
    }
    case 64:
    case 65: {  // SVCB, HTTPS: priority target params (params in hex)
      uint16_t pr;
      if (rdlen < 3 || !u16(m, off, pr)) return false;
      return w.data([&] {
        uint32_t next;
        std::string_view v;
        a.putf_u(pr);
        a.put(' ');
        if (read_name(m, off + 2, next, a, v) != DnsParse::kOk) return false;
        if (next < end) {
          a.put(' ');
          a.hex(m.d + next, end - next);
        }
        return a.ok();
      });
    }
    default:  // no presentation form here: the bytes, escaped as Packetbeat writes them
      return w.data([&] { return a.escaped(m.d + off, rdlen); });
  }
}

// The OPT record's options (RFC 6891 6.1.2): code, length, data. Kept: NSID (RFC 5001),
// Client Subnet (RFC 7871) and COOKIE (RFC 7873); a malformed option ends the list
// (msg.opt_malformed). False only when the arena is full.
bool read_edns_options(const Msg& m, uint32_t off, uint16_t rdlen, Arena& a, DnsMessage& msg) {
  const uint32_t end = off + rdlen;
  while (off + 4 <= end) {
    uint16_t code, len;
    if (!u16(m, off, code) || !u16(m, off + 2, len) || off + 4 + len > end) {
      msg.opt_malformed = true;
      return true;
    }
    const uint8_t* d = m.d + off + 4;
    off += 4 + len;
    const char* start = a.mark();
    if (code == 3 || code == 10) {
      static constexpr char kDigits[] = "0123456789abcdef";  // lower case, as Go's hex encoding
      for (uint16_t i = 0; i < len; ++i)
        if (!a.put(kDigits[d[i] >> 4]) || !a.put(kDigits[d[i] & 15])) return false;
      (code == 3 ? msg.opt_nsid : msg.opt_cookie) = a.since(start);
    } else if (code == 8 && len >= 4) {
      const uint16_t family = static_cast<uint16_t>(d[0] << 8 | d[1]);
      const uint32_t width = family == 1 ? 4 : family == 2 ? 16 : 0;
      if (width == 0 || len - 4u > width) continue;
      IpBytes addr{};
      std::memcpy(addr.data(), d + 4, len - 4u);  // the prefix's bytes; the rest is zero
      char ip[64];
      format_ip(addr, family == 1 ? 4 : 6, ip);
      const bool ok = (family == 2 ? a.put('[') && a.put(ip) && a.put(']') : a.put(ip)) && a.put('/') &&
                      a.putf_u(d[2]) && a.put('/') && a.putf_u(d[3]);
      if (!ok) return false;
      msg.opt_subnet = a.since(start);
    }
  }
  if (off != end) msg.opt_malformed = true;  // 1 to 3 bytes: no room for an option's head
  return true;
}

DnsParse read_records(const Msg& m, uint32_t& off, uint16_t count, DnsRecord* out, int& n, Arena& a,
                      DnsMessage& msg, bool additional) {
  for (uint16_t i = 0; i < count; ++i) {
    uint32_t next;
    std::string_view name;
    if (DnsParse r = read_name(m, off, next, a, name); r != DnsParse::kOk) return r;
    uint16_t type, klass, rdlen;
    uint32_t ttl;
    if (!u16(m, next, type) || !u16(m, next + 2, klass) || !u32(m, next + 4, ttl) || !u16(m, next + 8, rdlen))
      return DnsParse::kTruncated;
    const uint32_t rd = next + 10;
    if (rd + rdlen > m.len) return DnsParse::kTruncated;
    off = rd + rdlen;
    if (type == 41) {  // OPT pseudo-record (RFC 6891 §6.1.2): never a record of its section
      if (!additional) continue;
      msg.has_opt = true;
      msg.opt_udp_size = klass;
      msg.opt_ext_rcode = static_cast<uint8_t>(ttl >> 24);
      msg.opt_version = static_cast<uint8_t>(ttl >> 16);
      msg.opt_do = (ttl & 0x8000) != 0;
      msg.rcode = static_cast<uint16_t>(msg.rcode | (msg.opt_ext_rcode << 4));
      if (!read_edns_options(m, rd, rdlen, a, msg)) return DnsParse::kArenaFull;
      continue;
    }
    if (n >= DnsMessage::kMaxRecords) {
      ++msg.not_rendered;  // counted in the header, not rendered
      continue;
    }
    DnsRecord& r = out[n];
    r.name = name;
    r.type = type;
    r.klass = klass;
    r.ttl = ttl;
    r.n_fields = 0;
    r.data_last = false;
    r.data = {};
    if (!render(m, type, rd, rdlen, a, r)) {
      if (!a.ok()) return DnsParse::kArenaFull;
      r.n_fields = 0;  // malformed RDATA: its bytes, as Packetbeat writes what it cannot read
      const char* start = a.mark();
      a.escaped(m.d + rd, rdlen);
      r.data = a.since(start);
    }
    ++n;
  }
  return DnsParse::kOk;
}

}  // namespace

DnsParse parse_dns(const uint8_t* data, uint32_t len, DnsMessage& out, char* arena, uint32_t arena_len) {
  const Msg m{data, len};
  Arena a(arena, arena_len);
  static_cast<DnsMessageHead&>(out) = DnsMessageHead{};  // not the 192 records: ~57 KB
  uint16_t flags;
  if (!u16(m, 0, out.id) || !u16(m, 2, flags) || !u16(m, 4, out.qdcount) || !u16(m, 6, out.ancount) ||
      !u16(m, 8, out.nscount) || !u16(m, 10, out.arcount))
    return DnsParse::kTruncated;
  out.response = flags & 0x8000;
  out.opcode = static_cast<uint8_t>((flags >> 11) & 0xF);
  out.aa = flags & 0x0400;
  out.tc = flags & 0x0200;
  out.rd = flags & 0x0100;
  out.ra = flags & 0x0080;
  out.ad = flags & 0x0020;
  out.cd = flags & 0x0010;
  out.rcode = static_cast<uint16_t>(flags & 0xF);
  out.header_ok = true;
  uint32_t off = 12;
  for (uint16_t q = 0; q < out.qdcount; ++q) {
    uint32_t next;
    std::string_view name;
    if (DnsParse r = read_name(m, off, next, a, name); r != DnsParse::kOk) return r;
    uint16_t type, klass;
    if (!u16(m, next, type) || !u16(m, next + 2, klass)) return DnsParse::kTruncated;
    if (q == 0) {
      out.has_question = true;
      out.qname = name;
      out.qtype = type;
      out.qclass = klass;
    }
    off = next + 4;
  }
  DnsParse r = read_records(m, off, out.ancount, out.answers, out.n_answers, a, out, false);
  if (r == DnsParse::kOk)
    r = read_records(m, off, out.nscount, out.authorities, out.n_authorities, a, out, false);
  if (r == DnsParse::kOk)
    r = read_records(m, off, out.arcount, out.additionals, out.n_additionals, a, out, true);
  if (r == DnsParse::kArenaFull) {
    // The text the records render to ran past the arena: the rest are not rendered.
    const uint32_t total = uint32_t{out.ancount} + out.nscount + out.arcount - (out.has_opt ? 1 : 0);
    const uint32_t seen =
        static_cast<uint32_t>(out.n_answers + out.n_authorities + out.n_additionals) + out.not_rendered;
    if (total > seen) out.not_rendered += total - seen;
  }
  return r;
}

const char* dns_type_name(uint16_t t) {
  switch (t) {
    case 1:
      return "A";
    case 2:
      return "NS";
    case 3:
      return "MD";
    case 4:
      return "MF";
    case 5:
      return "CNAME";
    case 6:
      return "SOA";
    case 7:
      return "MB";
    case 8:
      return "MG";
    case 9:
      return "MR";
    case 10:
      return "NULL";
    case 11:
      return "WKS";
    case 12:
      return "PTR";
    case 14:
      return "MINFO";
    case 19:
      return "X25";
    case 20:
      return "ISDN";
    case 21:
      return "RT";
    case 22:
      return "NSAP";
    case 23:
      return "NSAP-PTR";
    case 26:
      return "PX";
    case 27:
      return "GPOS";
    case 30:
      return "NXT";
    case 31:
      return "EID";
    case 32:
      return "NIMLOC";
    case 34:
      return "ATMA";
    case 38:
      return "A6";
    case 40:
      return "SINK";
    case 56:
      return "NINFO";
    case 57:
      return "RKEY";
    case 58:
      return "TALINK";
    case 100:
      return "UINFO";
    case 101:
      return "UID";
    case 102:
      return "GID";
    case 103:
      return "UNSPEC";
    case 104:
      return "NID";
    case 105:
      return "L32";
    case 106:
      return "L64";
    case 107:
      return "LP";
    case 108:
      return "EUI48";
    case 109:
      return "EUI64";
    case 253:
      return "MAILB";
    case 254:
      return "MAILA";
    case 258:
      return "AVC";
    case 259:
      return "DOA";
    case 260:
      return "AMTRELAY";
    case 13:
      return "HINFO";
    case 15:
      return "MX";
    case 16:
      return "TXT";
    case 17:
      return "RP";
    case 18:
      return "AFSDB";
    case 24:
      return "SIG";
    case 25:
      return "KEY";
    case 28:
      return "AAAA";
    case 29:
      return "LOC";
    case 33:
      return "SRV";
    case 35:
      return "NAPTR";
    case 36:
      return "KX";
    case 37:
      return "CERT";
    case 39:
      return "DNAME";
    case 41:
      return "OPT";
    case 42:
      return "APL";
    case 43:
      return "DS";
    case 44:
      return "SSHFP";
    case 45:
      return "IPSECKEY";
    case 46:
      return "RRSIG";
    case 47:
      return "NSEC";
    case 48:
      return "DNSKEY";
    case 49:
      return "DHCID";
    case 50:
      return "NSEC3";
    case 51:
      return "NSEC3PARAM";
    case 52:
      return "TLSA";
    case 53:
      return "SMIMEA";
    case 55:
      return "HIP";
    case 59:
      return "CDS";
    case 60:
      return "CDNSKEY";
    case 61:
      return "OPENPGPKEY";
    case 62:
      return "CSYNC";
    case 63:
      return "ZONEMD";
    case 64:
      return "SVCB";
    case 65:
      return "HTTPS";
    case 99:
      return "SPF";
    case 249:
      return "TKEY";
    case 250:
      return "TSIG";
    case 251:
      return "IXFR";
    case 252:
      return "AXFR";
    case 255:
      return "ANY";
    case 256:
      return "URI";
    case 257:
      return "CAA";
    case 32768:
      return "TA";
    case 32769:
      return "DLV";
    case 0:
      return "None";  // as miekg/dns (Packetbeat) names it
    case 65535:
      return "Reserved";
    default:
      return nullptr;
  }
}

std::string_view dns_type_text(uint16_t type, char (&buf)[8]) {
  if (const char* n = dns_type_name(type)) return n;
  const auto r = std::to_chars(buf, buf + sizeof buf, type);
  return {buf, static_cast<std::size_t>(r.ptr - buf)};
}

std::string_view dns_class_text(uint16_t klass, char (&buf)[8]) {
  if (const char* n = dns_class_name(klass)) return n;
  const auto r = std::to_chars(buf, buf + sizeof buf, klass);
  return {buf, static_cast<std::size_t>(r.ptr - buf)};
}

const char* dns_class_name(uint16_t c) {
  switch (c) {
    case 1:
      return "IN";
    case 2:
      return "CS";
    case 3:
      return "CH";
    case 4:
      return "HS";
    case 254:
      return "NONE";
    case 255:
      return "ANY";
    default:
      return nullptr;
  }
}

const char* dns_rcode_name(uint16_t r) {
  static const char* const kNames[] = {"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
                                       "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "DSOTYPENI"};
  if (r < sizeof kNames / sizeof kNames[0]) return kNames[r];
  switch (r) {
    case 16:
      return "BADVERS";
    case 17:
      return "BADKEY";
    case 18:
      return "BADTIME";
    case 19:
      return "BADMODE";
    case 20:
      return "BADNAME";
    case 21:
      return "BADALG";
    case 22:
      return "BADTRUNC";
    case 23:
      return "BADCOOKIE";
    default:
      return "UNKNOWN";
  }
}

const char* dns_opcode_name(uint8_t op) {
  switch (op) {
    case 0:
      return "QUERY";
    case 1:
      return "IQUERY";
    case 2:
      return "STATUS";
    case 4:
      return "NOTIFY";
    case 5:
      return "UPDATE";
    case 6:
      return "DSO";
    default:
      return "UNKNOWN";
  }
}

}  // namespace tapbeat
