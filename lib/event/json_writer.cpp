#include "event/json_writer.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tapbeat {

void JsonWriter::key_escaped(std::string_view k) {
  separator();
  put('"');
  escape(k);
  put('"');
  put(':');
  after_key_ = true;
}

std::string_view JsonWriter::bounded(std::string_view s, std::size_t n) {
  if (s.size() <= n) return s;
  ++strings_cut_;
  // Back to the start of the character the bound falls in (continuation bytes 10xxxxxx).
  for (int k = 0; k < 3 && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80; ++k) --n;
  return s.substr(0, n);
}

void JsonWriter::string_escaped(std::string_view s) {
  separator();
  put('"');
  escape(bounded(s, max_string_));
  put('"');
}

void JsonWriter::string_parts(std::string_view a, std::string_view b) {
  separator();
  put('"');
  // One value under one bound: b gets what a leaves of it, nothing once a is cut.
  const std::string_view first = bounded(a, max_string_);
  escape(first);
  if (first.size() == a.size()) escape(bounded(b, max_string_ - a.size()));
  put('"');
}

// A number is written in place when any value of its type fits (20 bytes: 2^64-1,
// or -2^63 with its sign), else through a copy that records the overflow.
template <typename Int>
void JsonWriter::integer(Int v) {
  separator();
  if (cap_ - len_ >= 20) {
    len_ = static_cast<std::size_t>(std::to_chars(buf_ + len_, buf_ + len_ + 20, v).ptr - buf_);
    return;
  }
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
  put(tmp, static_cast<std::size_t>(r.ptr - tmp));
}

void JsonWriter::uint(uint64_t v) { integer(v); }
void JsonWriter::sint(int64_t v) { integer(v); }

void JsonWriter::real(double v) {
  if (std::isnan(v)) return string("NaN");
  if (std::isinf(v)) return string(v > 0 ? "Infinity" : "-Infinity");
  separator();
  char tmp[32];
  auto r = std::fabs(v) < 9.2e18 ? std::to_chars(tmp, tmp + sizeof tmp, v)
                                 : std::to_chars(tmp, tmp + sizeof tmp, v, std::chars_format::scientific);
  put(tmp, static_cast<std::size_t>(r.ptr - tmp));
}

void JsonWriter::boolean(bool v) {
  separator();
  if (v)
    put("true", 4);
  else
    put("false", 5);
}

void JsonWriter::Text::num(uint64_t v) { o_ = std::to_chars(o_, o_ + 20, v).ptr; }
void JsonWriter::Text::snum(int64_t v) { o_ = std::to_chars(o_, o_ + 20, v).ptr; }

void JsonWriter::string(std::string_view s) {
  if (!plain_quoted(s, false)) string_escaped(s);
}

void JsonWriter::Text::string(std::string_view s) {
  if (!lost_ && s.size() <= 64 && JsonWriter::plain(s) &&
      w_.cap_ - static_cast<std::size_t>(o_ - w_.buf_) >= s.size() + 2 + room_)
    return ascii(s);
  string_escaped(s);
}

void JsonWriter::Text::string_escaped(std::string_view s) {
  if (lost_) {  // out of room already: the sink takes the room's worth again
    o_ = sink_;
    return;
  }
  w_.end_raw(o_);
  w_.after_key_ = true;  // a value in the text: no separator
  w_.string(s);
  o_ = w_.overflow() ? nullptr : w_.reserve(room_);
  if (!o_) lose();
}

void JsonWriter::raw(std::string_view s) {
  separator();
  put(s.data(), s.size());
}

namespace {
// Length of a valid UTF-8 sequence starting at p (RFC 3629 §4), 0 when invalid.
std::size_t utf8_len(const unsigned char* p, std::size_t n) {
  const unsigned char c = p[0];
  auto cont = [&](std::size_t i) { return i < n && (p[i] & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return (n > 1 && p[1] >= 0xA0 && p[1] <= 0xBF && cont(2)) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return (cont(1) && cont(2)) ? 3 : 0;
  if (c == 0xED) return (n > 1 && p[1] >= 0x80 && p[1] <= 0x9F && cont(2)) ? 3 : 0;
  if (c == 0xF0) return (n > 1 && p[1] >= 0x90 && p[1] <= 0xBF && cont(2) && cont(3)) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return (cont(1) && cont(2) && cont(3)) ? 4 : 0;
  if (c == 0xF4) return (n > 1 && p[1] >= 0x80 && p[1] <= 0x8F && cont(2) && cont(3)) ? 4 : 0;
  return 0;
}
}  // namespace

// Sixteen bytes a step: a signed compare below 0x20 takes the controls and every byte
// with its high bit set. Every byte of a long name, query or header of an event passes
// here (eight bytes a step, by SWAR, took twice as long on the DNS of a real mix).
std::size_t JsonWriter::first_unsafe(const unsigned char* p, std::size_t i, std::size_t n) {
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  while (i + 16 <= n) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                     _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    if (const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(bad)))
      return i + static_cast<std::size_t>(__builtin_ctz(mask));
    i += 16;
  }
#endif
  while (i + 8 <= n) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    if (unsafe_bytes(x)) break;
    i += 8;
  }
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return i;
    ++i;
  }
  return n;
}

void JsonWriter::escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t run = 0;  // start of pending plain bytes
  for (std::size_t i = 0; i < n;) {
    i = first_unsafe(p, i, n);
    if (i >= n) break;
    const unsigned char c = p[i];
    if (c >= 0x80) {
      const std::size_t l = utf8_len(p + i, n - i);
      if (l) {
        i += l;
        continue;
      }
    }
    put(s.data() + run, i - run);
    switch (c) {
      case '"':
        put("\\\"", 2);
        break;
      case '\\':
        put("\\\\", 2);
        break;
      case '\n':
        put("\\n", 2);
        break;
      case '\r':
        put("\\r", 2);
        break;
      case '\t':
        put("\\t", 2);
        break;
      default:
        if (c < 0x20) {
          const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
          put(u, 6);
        } else {
          put("\xEF\xBF\xBD", 3);  // U+FFFD for a byte that is not valid UTF-8
        }
    }
    ++i;
    run = i;
  }
  put(s.data() + run, n - run);
}

}  // namespace tapbeat
