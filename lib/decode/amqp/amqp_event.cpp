#include "decode/amqp/amqp_event.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "util/encode.hpp"

namespace tapbeat::amqp {

// As Packetbeat writes it (Go's layout "January _2 15:04:05 2006", UTC): "November 14
// 22:13:20 2023", the day padded with a blank.
void timestamp_text(JsonWriter& w, uint64_t secs) {
  static constexpr const char* kMonths[] = {"January",   "February", "March",    "April",
                                            "May",       "June",     "July",     "August",
                                            "September", "October",  "November", "December"};
  const time_t t = static_cast<time_t>(secs);
  tm g{};
  gmtime_r(&t, &g);
  char buf[48];
  const int n = std::snprintf(buf, sizeof buf, "%s %2d %02d:%02d:%02d %d", kMonths[g.tm_mon % 12], g.tm_mday,
                              g.tm_hour, g.tm_min, g.tm_sec, g.tm_year + 1900);
  w.string({buf, static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(sizeof buf) - 1))});
}

bool field_value(ByteReader& r, JsonWriter& w, int depth);

// A field table as a JSON object.
bool table(ByteReader& r, JsonWriter& w, int depth) {
  uint32_t n;
  std::span<const uint8_t> body;
  if (!r.be32(n) || !r.view(n, body)) return false;
  if (depth > 8) {
    w.string("(nested too deep)");
    return true;
  }
  ByteReader t(body);
  w.begin_object();
  while (t.remaining()) {
    std::string_view key;
    if (!shortstr(t, key)) break;
    w.key(key);
    if (!field_value(t, w, depth + 1)) {
      w.raw("null");
      break;
    }
  }
  w.end_object();
  return true;
}

bool field_value(ByteReader& r, JsonWriter& w, int depth) {
  uint8_t type;
  if (!r.u8(type)) return false;
  uint8_t b;
  uint16_t s;
  uint32_t i;
  uint64_t q;
  std::string_view str;
  char num[32];
  auto raw_num = [&](auto v) {
    const auto res = std::to_chars(num, num + sizeof num, v);
    w.raw({num, static_cast<std::size_t>(res.ptr - num)});
    return true;
  };
  switch (type) {
    case 't':
      if (!r.u8(b)) return false;
      w.boolean(b != 0);
      return true;
    case 'b':
      if (!r.u8(b)) return false;
      return raw_num(static_cast<int8_t>(b));
    case 'B':
      if (!r.u8(b)) return false;
      return raw_num(b);
    case 's':
      if (!r.be16(s)) return false;
      return raw_num(static_cast<int16_t>(s));
    case 'u':
      if (!r.be16(s)) return false;
      return raw_num(s);
    case 'I':
      if (!r.be32(i)) return false;
      return raw_num(static_cast<int32_t>(i));
    case 'i':
      if (!r.be32(i)) return false;
      return raw_num(i);
    case 'l':
    case 'L':
      if (!be64(r, q)) return false;
      return raw_num(static_cast<int64_t>(q));
    case 'f': {
      if (!r.be32(i)) return false;
      float f;
      std::memcpy(&f, &i, 4);
      w.real(static_cast<double>(f));
      return true;
    }
    case 'd': {
      if (!be64(r, q)) return false;
      double d;
      std::memcpy(&d, &q, 8);
      w.real(d);
      return true;
    }
    case 'D': {
      if (!r.u8(b) || !r.be32(i)) return false;
      w.real(static_cast<double>(static_cast<int32_t>(i)) / std::pow(10.0, b));
      return true;
    }
    case 'S':
    case 'x':
      if (!longstr(r, str)) return false;
      w.string(str);
      return true;
    case 'T':
      if (!be64(r, q)) return false;
      timestamp_text(w, q);
      return true;
    case 'F':
      return table(r, w, depth);
    case 'A': {
      uint32_t n;
      std::span<const uint8_t> body;
      if (!r.be32(n) || !r.view(n, body)) return false;
      ByteReader a(body);
      w.begin_array();
      while (a.remaining() && field_value(a, w, depth + 1)) {
      }
      w.end_array();
      return true;
    }
    case 'V':
      w.raw("null");
      return true;
    default:
      return false;
  }
}

}  // namespace tapbeat::amqp
