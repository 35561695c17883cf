#include "util/encode.hpp"

#include <cstring>
#include <ctime>

namespace tapbeat {
namespace {

std::size_t b64(const uint8_t* in, std::size_t n, char* out, const char* alpha, bool pad) {
  std::size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = uint32_t{in[i]} << 16 | uint32_t{in[i + 1]} << 8 | in[i + 2];
    out[o++] = alpha[v >> 18];
    out[o++] = alpha[(v >> 12) & 63];
    out[o++] = alpha[(v >> 6) & 63];
    out[o++] = alpha[v & 63];
  }
  if (i < n) {
    uint32_t v = uint32_t{in[i]} << 16;
    if (i + 1 < n) v |= uint32_t{in[i + 1]} << 8;
    out[o++] = alpha[v >> 18];
    out[o++] = alpha[(v >> 12) & 63];
    if (i + 1 < n)
      out[o++] = alpha[(v >> 6) & 63];
    else if (pad)
      out[o++] = '=';
    if (pad) out[o++] = '=';
  }
  return o;
}

// Days since 1970-01-01 to civil date (Howard Hinnant's algorithm).
void civil_from_days(int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
}

// Each byte's decimal text, four bytes a byte (the digits, then '.'), and its length:
// a dotted quad is four copies of a word.
struct OctetTable {
  char text[256][4];
  uint8_t len[256];
  constexpr OctetTable() : text(), len() {
    for (unsigned v = 0; v < 256; ++v) {
      unsigned n = 0;
      if (v >= 100) text[v][n++] = static_cast<char>('0' + v / 100);
      if (v >= 10) text[v][n++] = static_cast<char>('0' + v / 10 % 10);
      text[v][n++] = static_cast<char>('0' + v % 10);
      text[v][n] = '.';
      len[v] = static_cast<uint8_t>(n);
    }
  }
};
constexpr OctetTable kOctets;

void put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// "YYYY-MM-DDTHH:MM:SS" (19 bytes).
void format_seconds(uint64_t secs, char* out) {
  // The events of a burst share their second: the last one formatted is kept.
  thread_local uint64_t last_secs = UINT64_MAX;
  thread_local char last[19];
  if (secs == last_secs) {
    std::memcpy(out, last, 19);
    return;
  }
  // An event's times (its report, start and end) are seconds apart, not days: the
  // date of the last day formatted is kept too.
  thread_local uint64_t last_day = UINT64_MAX;
  thread_local char day_text[11];
  const uint64_t day = secs / 86400;
  if (day != last_day) {
    int y;
    unsigned mo, d;
    civil_from_days(static_cast<int64_t>(day), y, mo, d);
    const unsigned yy = static_cast<unsigned>(y) % 10000;
    day_text[0] = static_cast<char>('0' + yy / 1000);
    day_text[1] = static_cast<char>('0' + yy / 100 % 10);
    day_text[2] = static_cast<char>('0' + yy / 10 % 10);
    day_text[3] = static_cast<char>('0' + yy % 10);
    day_text[4] = '-';
    put2(day_text + 5, mo);
    day_text[7] = '-';
    put2(day_text + 8, d);
    day_text[10] = 'T';
    last_day = day;
  }
  std::memcpy(out, day_text, 11);
  const unsigned sod = static_cast<unsigned>(secs % 86400);
  put2(out + 11, sod / 3600);
  out[13] = ':';
  put2(out + 14, sod / 60 % 60);
  out[16] = ':';
  put2(out + 17, sod % 60);
  std::memcpy(last, out, 19);
  last_secs = secs;
}

}  // namespace

void format_civil(int tm_year, int tm_mon, int tm_mday, int tm_hour, int tm_min, int tm_sec, char* out) {
  const auto field = [](int v, unsigned mod) {
    return static_cast<unsigned>(((v % static_cast<int>(mod)) + static_cast<int>(mod)) %
                                 static_cast<int>(mod));
  };
  const unsigned y = field(tm_year + 1900, 10000);
  out[0] = static_cast<char>('0' + y / 1000);
  out[1] = static_cast<char>('0' + y / 100 % 10);
  out[2] = static_cast<char>('0' + y / 10 % 10);
  out[3] = static_cast<char>('0' + y % 10);
  out[4] = '-';
  put2(out + 5, field(tm_mon + 1, 100));
  out[7] = '-';
  put2(out + 8, field(tm_mday, 100));
  out[10] = 'T';
  put2(out + 11, field(tm_hour, 100));
  out[13] = ':';
  put2(out + 14, field(tm_min, 100));
  out[16] = ':';
  put2(out + 17, field(tm_sec, 100));
}

void hex_encode(const uint8_t* in, std::size_t n, char* out, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
}

std::size_t base64_encode(const uint8_t* in, std::size_t n, char* out) {
  return b64(in, n, out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true);
}
std::size_t base64url_encode(const uint8_t* in, std::size_t n, char* out) {
  return b64(in, n, out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false);
}

void format_mac(const uint8_t mac[6], char* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int i = 0; i < 6; ++i) {
    out[i * 3] = kHex[mac[i] >> 4];
    out[i * 3 + 1] = kHex[mac[i] & 15];
    if (i < 5) out[i * 3 + 2] = '-';
  }
}

std::size_t format_ip(const IpBytes& ip, uint8_t version, char* out) {
  if (version != 6) {
    // Dotted quad by hand (glibc's inet_ntop formats IPv4 through sprintf): each byte's
    // text and dot copied as one word, the next one written over the last's extra bytes.
    std::size_t n = 0;
    for (int i = 0; i < 4; ++i) {
      const uint8_t v = ip[static_cast<std::size_t>(i)];
      std::memcpy(out + n, kOctets.text[v], 4);
      n += kOctets.len[v] + 1u;
    }
    out[--n] = '\0';  // the last dot
    return n;
  }
  // RFC 5952 text by hand, as glibc's inet_ntop writes it (which formats through
  // sprintf): the first longest run of two or more zero words as "::", lower-case
  // hex, and the last 32 bits dotted for ::a.b.c.d and ::ffff:a.b.c.d.
  uint16_t w[8];
  for (int i = 0; i < 8; ++i)
    w[i] = static_cast<uint16_t>(ip[static_cast<std::size_t>(2 * i)] << 8 |
                                 ip[static_cast<std::size_t>(2 * i + 1)]);
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (w[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && w[j] == 0) ++j;
    if (j - i > best_len) best = i, best_len = j - i;
    i = j;
  }
  if (best_len < 2) best = -1;
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t n = 0;
  for (int i = 0; i < 8; ++i) {
    if (best >= 0 && i >= best && i < best + best_len) {
      if (i == best) out[n++] = ':';
      continue;
    }
    if (i) out[n++] = ':';
    if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
      IpBytes v4{};
      std::memcpy(v4.data(), ip.data() + 12, 4);
      return n + format_ip(v4, 4, out + n);
    }
    bool lead = true;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned d = (w[i] >> shift) & 0xf;
      if (lead && d == 0 && shift) continue;
      lead = false;
      out[n++] = kHex[d];
    }
  }
  if (best >= 0 && best + best_len == 8) out[n++] = ':';
  out[n] = '\0';
  return n;
}

std::size_t format_time_ms(uint64_t unix_ns, char* out) {
  format_seconds(unix_ns / 1'000'000'000, out);
  const unsigned ms = static_cast<unsigned>(unix_ns / 1'000'000 % 1000);
  out[19] = '.';
  out[20] = static_cast<char>('0' + ms / 100);
  out[21] = static_cast<char>('0' + ms / 10 % 10);
  out[22] = static_cast<char>('0' + ms % 10);
  out[23] = 'Z';
  return 24;
}

std::size_t format_time_digits(uint64_t unix_ns, int digits, char* out) {
  // Nanosecond precision drops trailing zeros, as Go's RFC3339Nano layout does.
  if (digits >= 9) return format_time_nano(unix_ns, out);
  format_seconds(unix_ns / 1'000'000'000, out);
  std::size_t n = 19;
  if (digits > 0) {  // the leading `digits` digits of the nanoseconds, and only those
    static constexpr uint32_t kScale[9] = {100'000'000, 10'000'000, 1'000'000, 100'000, 10'000,
                                           1'000,       100,        10,        1};
    const int d = digits > 9 ? 9 : digits;
    uint32_t frac = static_cast<uint32_t>(unix_ns % 1'000'000'000) / kScale[d - 1];
    out[n++] = '.';
    for (int i = d - 1; i >= 0; --i) {
      out[n + static_cast<std::size_t>(i)] = static_cast<char>('0' + frac % 10);
      frac /= 10;
    }
    n += static_cast<std::size_t>(d);
  }
  out[n++] = 'Z';
  return n;
}

std::size_t format_time_nano(uint64_t unix_ns, char* out) {
  format_seconds(unix_ns / 1'000'000'000, out);
  uint32_t frac = static_cast<uint32_t>(unix_ns % 1'000'000'000);
  std::size_t n = 19;
  if (frac != 0) {
    char digits[9];
    for (int i = 8; i >= 0; --i) {
      digits[i] = static_cast<char>('0' + frac % 10);
      frac /= 10;
    }
    int len = 9;
    while (len > 0 && digits[len - 1] == '0') --len;  // never 0: frac != 0
    out[n++] = '.';
    std::memcpy(out + n, digits, static_cast<std::size_t>(len));
    n += static_cast<std::size_t>(len);
  }
  out[n++] = 'Z';
  return n;
}

}  // namespace tapbeat
