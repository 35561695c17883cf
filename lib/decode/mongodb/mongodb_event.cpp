// BSON values written as (relaxed) Extended JSON, as Packetbeat's mongodb fields
// show documents.
#include "decode/mongodb/mongodb_event.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "util/encode.hpp"

namespace tapbeat::mongodb {
namespace {

void hex(JsonWriter& w, const uint8_t* p, std::size_t n) {
  char buf[64];
  n = std::min<std::size_t>(n, sizeof buf / 2);
  hex_encode(p, n, buf);
  w.string({buf, 2 * n});
}

}  // namespace

// One value as (relaxed) Extended JSON.
void render_value(JsonWriter& w, const Elem& e, int depth) {
  char num[40];
  auto raw_num = [&](auto v) {
    const auto r = std::to_chars(num, num + sizeof num, v);
    w.raw({num, static_cast<std::size_t>(r.ptr - num)});
  };
  uint64_t u = 0;
  for (std::size_t i = std::min<std::size_t>(e.len, 8); i-- > 0;) u = u << 8 | e.value[i];
  switch (e.type) {
    case 0x01: {
      double d;
      number_of(e, d);
      w.real(d);
      return;
    }
    case 0x02:
    case 0x0D:
    case 0x0E:
      w.string(str_of(Elem{0x02, {}, e.value, e.len}));
      return;
    case 0x03:
    case 0x04:
      render_doc(w, e, depth + 1, e.type == 0x04);
      return;
    case 0x05: {
      w.begin_object();
      w.key("$binary");
      hex(w, e.value + 5, std::min<std::size_t>(e.len - 5, 24));
      w.field_uint("length", e.len - 5);
      w.end_object();
      return;
    }
    case 0x07:
      w.begin_object();
      w.key("$oid");
      hex(w, e.value, 12);
      w.end_object();
      return;
    case 0x08:
      w.boolean(e.value[0] != 0);
      return;
    case 0x09: {
      const int64_t ms = static_cast<int64_t>(u);
      // ISO-8601 for years 0000-9999; a date outside them (as any 64-bit count may
      // be) as Extended JSON's canonical form, the milliseconds as they were sent.
      constexpr int64_t first_ms = -62167219200000;  // 0000-01-01T00:00:00Z
      constexpr int64_t last_ms = 253402300799999;   // 9999-12-31T23:59:59.999Z
      tm t{};
      const time_t secs = static_cast<time_t>(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
      if (ms < first_ms || ms > last_ms || gmtime_r(&secs, &t) == nullptr) {
        w.begin_object();
        w.begin_object("$date");
        const auto r = std::to_chars(num, num + sizeof num, ms);
        w.field("$numberLong", std::string_view(num, static_cast<std::size_t>(r.ptr - num)));
        w.end_object();
        w.end_object();
        return;
      }
      format_civil(t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, num);
      const unsigned frac = static_cast<unsigned>(((ms % 1000) + 1000) % 1000);
      num[19] = '.';
      num[20] = static_cast<char>('0' + frac / 100);
      num[21] = static_cast<char>('0' + frac / 10 % 10);
      num[22] = static_cast<char>('0' + frac % 10);
      num[23] = 'Z';
      w.begin_object();
      w.field("$date", std::string_view(num, 24));
      w.end_object();
      return;
    }
    case 0x0B: {
      const auto* s = reinterpret_cast<const char*>(e.value);
      const std::string_view re(s), opts(s + re.size() + 1);
      w.begin_object();
      w.field("$regex", re);
      w.field("$options", opts);
      w.end_object();
      return;
    }
    case 0x10:
      raw_num(load_le_i32(e.value));
      return;
    case 0x11: {
      w.begin_object();
      w.begin_object("$timestamp");
      w.field_uint("t", u >> 32);
      w.field_uint("i", u & 0xffffffff);
      w.end_object();
      w.end_object();
      return;
    }
    case 0x12:
      raw_num(static_cast<int64_t>(u));
      return;
    case 0x13:
      w.begin_object();
      w.key("$numberDecimalBits");
      hex(w, e.value, 16);
      w.end_object();
      return;
    case 0xFF:
      w.begin_object();
      w.field_uint("$minKey", 1);
      w.end_object();
      return;
    case 0x7F:
      w.begin_object();
      w.field_uint("$maxKey", 1);
      w.end_object();
      return;
    case 0x0F:
    case 0x0C:
      w.string("(code/pointer)");
      return;
    default:
      w.raw("null");
      return;
  }
}

// A document or array element's members; `skip` names keys left out (the command
// of a query, bulk payloads).
void render_members(JsonWriter& w, Doc d, int depth, bool array,
                    std::initializer_list<std::string_view> skip) {
  if (depth > kMaxDepth) {
    w.string("(too deep)");
    return;
  }
  array ? w.begin_array() : w.begin_object();
  Elem e;
  while (d.next(e)) {
    if (std::find(skip.begin(), skip.end(), e.key) != skip.end()) continue;
    if (!array) w.key(e.key);
    render_value(w, e, depth);
  }
  array ? w.end_array() : w.end_object();
}

void render_doc(JsonWriter& w, const Elem& e, int depth, bool array) {
  render_members(w, Doc(e), depth, array);
}

}  // namespace tapbeat::mongodb
