// Appends one JSON document into a caller-provided buffer.
//
// Never allocates and never writes past the buffer: when the buffer is too small
// the writer records overflow() and ignores further output, so the caller can
// retry into a larger space or count a drop. Strings are escaped per RFC 8259 and
// invalid UTF-8 is replaced with U+FFFD, so any wire bytes are safe to write.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

// Inlined at every call: a name known at compile time then costs its stores alone
// (length and plainness fold away); left to the compiler, the writer's many call sites
// kept one out-of-line copy that checks every literal name at run time.
#define TAPBEAT_JSON_INLINE inline __attribute__((always_inline))

namespace tapbeat {

class JsonWriter {
 public:
  static constexpr int kMaxDepth = 32;

  JsonWriter(char* buf, std::size_t cap) : buf_(buf), cap_(cap) {}

  bool overflow() const { return overflow_; }
  std::size_t size() const { return len_; }

  // String values longer than n bytes are written as their first n (whole UTF-8
  // characters), each one counted: how an event too large for its chunk is written
  // again (EventEmitter), a limit that cuts values and keeps the event. n >= 64: plain
  // strings up to 64 bytes take a path that does not look.
  void cut_strings_to(std::size_t n) { max_string_ = n; }
  bool cutting() const { return max_string_ != kNoCut; }
  uint32_t strings_cut() const { return strings_cut_; }
  std::string_view view() const { return {buf_, len_}; }

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }
  TAPBEAT_JSON_INLINE void begin_object(std::string_view k) {
    key(k);
    open('{');
  }
  TAPBEAT_JSON_INLINE void begin_array(std::string_view k) {
    key(k);
    open('[');
  }

  // Names in the source and short plain values take one bounds check and one copy
  // (inlined, the plainness check folds away for literal names); others are escaped.
  TAPBEAT_JSON_INLINE void key(std::string_view k) {
    if (plain_quoted(k, true)) {
      after_key_ = true;
      return;
    }
    key_escaped(k);
  }
  // Out of line (values are seldom known at compile time, and a copy at every field
  // made the event writers' code too large to stay cached).
  void string(std::string_view s);
  // One string value made of two pieces (each piece whole UTF-8).
  void string_parts(std::string_view a, std::string_view b);
  void uint(uint64_t v);
  void sint(int64_t v);
  // A double, shortest round-trip text; beyond int64's range always with an exponent
  // (digits past 2^64 are no JSON integer readers take); NaN and the infinities, which
  // JSON has no numbers for, as the strings "NaN", "Infinity", "-Infinity".
  void real(double v);
  void boolean(bool v);
  // Already-valid JSON text (a number or literal the caller formatted).
  void raw(std::string_view s);

  TAPBEAT_JSON_INLINE void field(std::string_view k, std::string_view v) {
    key(k);
    string(v);
  }
  // Text tapbeat formatted itself from printable ASCII with no quote or backslash (an
  // address, a time, a base64 digest): copied without the scan for bytes to escape.
  // Checked in debug builds; anything else goes through string().
  TAPBEAT_JSON_INLINE void ascii(std::string_view s) {
    assert(plain(s));
    if (!quoted(s, false)) string_escaped(s);
  }
  TAPBEAT_JSON_INLINE void field_ascii(std::string_view k, std::string_view v) {
    key(k);
    ascii(v);
  }
  TAPBEAT_JSON_INLINE void field(std::string_view k, const char* v) {
    key(k);
    string(v);
  }
  TAPBEAT_JSON_INLINE void field_uint(std::string_view k, uint64_t v) {
    key(k);
    uint(v);
  }
  TAPBEAT_JSON_INLINE void field_int(std::string_view k, int64_t v) {
    key(k);
    sint(v);
  }
  TAPBEAT_JSON_INLINE void field_bool(std::string_view k, bool v) {
    key(k);
    boolean(v);
  }

  void newline() { put('\n'); }

  class Text;

  // Room for up to `max` bytes of JSON text the caller writes itself: whole members of
  // the object open now (or whole values of the array), separated from what came before
  // as one would be. Null, with overflow recorded, when there is not that much room;
  // end_raw() takes what was written, up to the end the caller reached.
  char* begin_raw(std::size_t max) {
    separator();
    return reserve(max);
  }
  void end_raw(const char* end) {
    assert(end >= buf_ + len_ && end <= buf_ + cap_);
    len_ = static_cast<std::size_t>(end - buf_);
  }

 private:
  // Bytes of w (eight at a time) that JSON text cannot carry as they are: a high bit
  // for some byte when one is a control, non-ASCII, quote or backslash (SWAR tests,
  // "Bit Twiddling Hacks"; whether there is one is exact, which one is not needed).
  TAPBEAT_JSON_INLINE static uint64_t unsafe_bytes(uint64_t w) {
    constexpr uint64_t kOnes = 0x0101010101010101, kHighs = 0x8080808080808080;
    const auto has_zero = [](uint64_t v) { return (v - kOnes) & ~v & kHighs; };
    return ((w - kOnes * 0x20) & ~w & kHighs) | (w & kHighs) | has_zero(w ^ (kOnes * '"')) |
           has_zero(w ^ (kOnes * '\\'));
  }
  // No quote, backslash, control or non-ASCII byte to escape: eight bytes a step, the
  // tail read as overlapping words (never past the string).
  TAPBEAT_JSON_INLINE static bool plain(std::string_view k) {
    const char* p = k.data();
    const std::size_t n = k.size();
    uint64_t w, bad = 0;
    if (n >= 8) {
      for (std::size_t i = 0; i + 8 <= n; i += 8) {
        std::memcpy(&w, p + i, 8);
        bad |= unsafe_bytes(w);
      }
      std::memcpy(&w, p + n - 8, 8);
      return (bad | unsafe_bytes(w)) == 0;
    }
    if (n >= 4) {
      uint32_t a, b;
      std::memcpy(&a, p, 4);
      std::memcpy(&b, p + n - 4, 4);
      w = a | (uint64_t{b} << 32);
    } else if (n >= 2) {
      uint16_t a, b;
      std::memcpy(&a, p, 2);
      std::memcpy(&b, p + n - 2, 2);
      w = 0x6161616100000000 | a | (uint32_t{b} << 16);  // padded with 'a'
    } else if (n == 1) {
      w = 0x6161616161616100 | static_cast<unsigned char>(p[0]);
    } else {
      return true;
    }
    return unsafe_bytes(w) == 0;
  }
  // `,"s"` (and `:` after a key) when s is short and needs no escaping; false (nothing
  // written) otherwise.
  TAPBEAT_JSON_INLINE bool plain_quoted(std::string_view s, bool colon) {
    return s.size() <= 64 && plain(s) && quoted(s, colon);
  }
  // The same for text known to be plain: false (nothing written) when it does not fit.
  TAPBEAT_JSON_INLINE bool quoted(std::string_view s, bool colon) {
    const std::size_t n = s.size();
    if (cap_ - len_ < n + 4) return false;
    char* o = buf_ + len_;
    if (after_key_) {
      after_key_ = false;
    } else {
      if (has_items_[depth_]) *o++ = ',';
      has_items_[depth_] = true;
    }
    *o++ = '"';
    if (n) std::memcpy(o, s.data(), n);  // an empty view may carry a null pointer
    o += n;
    *o++ = '"';
    if (colon) *o++ = ':';
    len_ = static_cast<std::size_t>(o - buf_);
    return true;
  }
  template <typename Int>
  void integer(Int v);
  char* reserve(std::size_t max) {
    if (cap_ - len_ < max) {
      overflow_ = true;
      return nullptr;
    }
    return buf_ + len_;
  }
  void key_escaped(std::string_view k);
  void string_escaped(std::string_view s);
  void open(char c) {
    separator();
    put(c);
    if (depth_ < kMaxDepth)
      ++depth_;
    else
      overflow_ = true;
    has_items_[depth_] = false;
  }
  void close(char c) {
    put(c);
    if (depth_ > 0) --depth_;
  }
  void separator() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (has_items_[depth_]) put(',');
    has_items_[depth_] = true;
  }
  void put(char c) {
    if (len_ < cap_)
      buf_[len_++] = c;
    else
      overflow_ = true;
  }
  void put(const char* s, std::size_t n) {
    if (n == 0) return;  // an empty view may carry a null pointer, which memcpy must not get
    if (n > cap_ - len_) {
      // What fits: the text written stays a prefix of the whole (a writer on a scratch
      // buffer whose view() is cut afterwards shows no bytes of an earlier use).
      std::memcpy(buf_ + len_, s, cap_ - len_);
      overflow_ = true;
      len_ = cap_;
      return;
    }
    std::memcpy(buf_ + len_, s, n);
    len_ += n;
  }
  void escape(std::string_view s);
  // The first byte of p[i, n) that JSON text cannot carry as it is (a control,
  // non-ASCII, quote or backslash byte), n when there is none.
  static std::size_t first_unsafe(const unsigned char* p, std::size_t i, std::size_t n);

  // s cut to n bytes at most (whole UTF-8 characters), a cut counted.
  std::string_view bounded(std::string_view s, std::size_t n);

  static constexpr std::size_t kNoCut = ~std::size_t{0};
  char* buf_;
  std::size_t cap_;
  std::size_t len_ = 0;
  std::size_t max_string_ = kNoCut;
  uint32_t strings_cut_ = 0;
  bool overflow_ = false;
  bool after_key_ = false;
  int depth_ = 0;
  bool has_items_[kMaxDepth + 1] = {};
};

// Members of an event whose layout is fixed (only which appear varies) written as text:
// the constant runs between values copied whole, numbers and text tapbeat formats in
// place, into the room begin_raw() lends; each key and value through the writer took its
// own bounds check and separator logic. Strings from elsewhere are escaped as the writer
// escapes them, after which the room is asked for again. Out of room, the writer records
// overflow and what follows goes nowhere. done() hands the text to the writer.
class JsonWriter::Text {
 public:
  static constexpr std::size_t kMaxRoom = 1024;

  // room: the most the caller writes with lit(), num(), ascii() and at()/advance()
  // between two string() calls (and before the first, and after the last).
  Text(JsonWriter& w, std::size_t room) : w_(w), room_(room) {
    assert(room <= kMaxRoom);
    o_ = w.begin_raw(room);
    if (!o_) lose();
  }
  Text(const Text&) = delete;
  Text& operator=(const Text&) = delete;
  void done() {
    if (!lost_) w_.end_raw(o_);
  }

  template <std::size_t N>
  TAPBEAT_JSON_INLINE void lit(const char (&s)[N]) {
    std::memcpy(o_, s, N - 1);
    o_ += N - 1;
  }
  // JSON text as it is (a literal's pieces chosen at run time).
  void raw(std::string_view s) {
    std::memcpy(o_, s.data(), s.size());
    o_ += s.size();
  }
  void num(uint64_t v);
  void snum(int64_t v);
  // Quoted; text as JsonWriter::ascii() takes it.
  void ascii(std::string_view s) {
    assert(JsonWriter::plain(s));
    *o_++ = '"';
    if (!s.empty()) std::memcpy(o_, s.data(), s.size());
    o_ += s.size();
    *o_++ = '"';
  }
  // Quoted and escaped: any bytes. The room is there again after it. (Out of line: a
  // copy at every string of an event made the writers' code too large to stay cached.)
  void string(std::string_view s);
  // A member's separator: none before the first of its object.
  void comma(bool& first) {
    if (!first) *o_++ = ',';
    first = false;
  }
  // Where formatting in place goes; advance() past what was written there.
  char* at() { return o_; }
  void advance(std::size_t n) { o_ += n; }

 private:
  void lose() {
    lost_ = true;
    o_ = sink_;
  }
  void string_escaped(std::string_view s);

  JsonWriter& w_;
  std::size_t room_;
  char* o_;
  bool lost_ = false;
  char sink_[kMaxRoom];  // where text goes once the writer is out of room
};

}  // namespace tapbeat
