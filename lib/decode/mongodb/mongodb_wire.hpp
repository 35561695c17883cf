// MongoDB's wire protocol, parsed in place: opcodes, OP_MSG sections and BSON
// documents (https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/,
// https://bsonspec.org/spec.html). Views into the caller's bytes; no allocation;
// every length bounded by the bytes at hand.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string_view>

#include "util/byte_reader.hpp"

namespace tapbeat::mongodb {

enum OpCode : int32_t {
  kOpReply = 1,
  kOpMsgLegacy = 1000,
  kOpUpdate = 2001,
  kOpInsert = 2002,
  kOpQuery = 2004,
  kOpGetMore = 2005,
  kOpDelete = 2006,
  kOpKillCursors = 2007,
  kOpCompressed = 2012,
  kOpMsg = 2013,
};

inline bool known_opcode(int32_t op) {
  switch (op) {
    case kOpReply:
    case kOpMsgLegacy:
    case kOpUpdate:
    case kOpInsert:
    case kOpQuery:
    case kOpGetMore:
    case kOpDelete:
    case kOpKillCursors:
    case kOpCompressed:
    case kOpMsg:
      return true;
    default:
      return false;
  }
}

// A reply: OP_REPLY, or an OP_MSG answering a request (old clients send -1 where
// a request answers nothing).
inline bool is_reply(int32_t op, int32_t response_to) {
  return op == kOpReply || (op == kOpMsg && response_to != 0 && response_to != -1);
}

// Commands whose value names a collection (the others name a set, a user, ...).
inline bool names_collection(std::string_view cmd) {
  static constexpr std::string_view kCommands[] = {
      "find",        "insert",        "update",  "delete",   "aggregate",     "count",
      "distinct",    "findandmodify", "create",  "drop",     "createindexes", "dropindexes",
      "listindexes", "mapreduce",     "collmod", "validate", "collstats",     "compact"};
  char low[32];
  if (cmd.size() > sizeof low) return false;
  for (std::size_t i = 0; i < cmd.size(); ++i)
    low[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(cmd[i])));
  const std::string_view l(low, cmd.size());
  return std::find(std::begin(kCommands), std::end(kCommands), l) != std::end(kCommands);
}

inline constexpr int kMaxDepth = 24;
inline constexpr std::size_t kMaxFieldText = 4096;  // a document in a mongodb.* field (selector, update, ...)
inline constexpr std::size_t kMaxName = 512;        // a collection name in mongodb.fullCollectionName
inline constexpr uint32_t kMoreToCome = 2;          // OP_MSG flag: no reply follows
inline constexpr uint32_t kChecksum = 1;            // OP_MSG flag: a CRC-32C ends the message

// The sections of an OP_MSG after its flags: f(kind, section bytes from its length
// prefix on, their count, whether they are cut); a checksum at the end is left out.
// `cut`: the bytes are the message's first ones only, and a section they end inside is
// given as far as it goes (the last).
template <class F>
void for_sections(ByteReader& r, uint32_t flags, F&& f, bool cut = false) {
  uint8_t kind;
  while (r.remaining() > ((flags & kChecksum) ? 4u : 0u) && r.u8(kind)) {
    if (r.remaining() < 5) break;
    const int32_t dl = load_le_i32(r.current());
    if (dl < 5) break;
    if (static_cast<std::size_t>(dl) > r.remaining()) {
      if (cut) f(kind, r.current(), r.remaining(), true);
      break;
    }
    f(kind, r.current(), static_cast<std::size_t>(dl), false);
    r.skip(static_cast<std::size_t>(dl));
  }
}

// One element of a BSON document. cut: a string, document or array that runs past the
// bytes there are (a message read from its first bytes): `len` is what there is.
struct Elem {
  uint8_t type;
  std::string_view key;
  const uint8_t* value;
  std::size_t len;
  bool cut = false;
};

// Walks the elements of one document (its bytes, from its length prefix on).
class Doc {
 public:
  Doc() = default;
  // cut: the document may run past the n bytes there are; its elements are read as far
  // as they go, the one the end falls in given cut (a string, document or array).
  Doc(const uint8_t* p, std::size_t n, bool cut = false) {
    if (n < 5) return;
    const int32_t len = load_le_i32(p);
    if (len < 5) return;
    if (static_cast<std::size_t>(len) > n) {
      if (!cut) return;
      p_ = p + 4;
      end_ = p + n;
      ok_ = cut_ = true;
      return;
    }
    p_ = p + 4;
    end_ = p + len - 1;  // the terminating 0
    ok_ = p[len - 1] == 0;
  }
  explicit Doc(const Elem& e) : Doc(e.value, e.len, e.cut) {}  // a document or array element's
  bool ok() const { return ok_; }
  bool cut() const { return cut_; }
  bool next(Elem& e) {
    if (!ok_ || p_ >= end_) return false;
    e.type = *p_++;
    const void* z = std::memchr(p_, 0, static_cast<std::size_t>(end_ - p_));
    if (!z) return fail();
    e.key = {reinterpret_cast<const char*>(p_),
             static_cast<std::size_t>(static_cast<const uint8_t*>(z) - p_)};
    p_ = static_cast<const uint8_t*>(z) + 1;
    const std::size_t left = static_cast<std::size_t>(end_ - p_);
    std::size_t n = 0;
    auto prefixed = [&](std::size_t extra) -> bool {
      if (left < 4) return false;
      const int32_t l = load_le_i32(p_);
      if (l < 0) return false;
      n = 4 + static_cast<std::size_t>(l) + extra;
      return true;
    };
    switch (e.type) {
      case 0x01:
      case 0x09:
      case 0x11:
      case 0x12:
        n = 8;
        break;
      case 0x02:
      case 0x0D:
      case 0x0E:
        if (!prefixed(0)) return fail();
        break;
      case 0x03:
      case 0x04:
      case 0x0F:
        if (!prefixed(0)) return fail();
        n -= 4;
        break;
      case 0x05:
        if (!prefixed(1)) return fail();
        break;
      case 0x06:
      case 0x0A:
      case 0xFF:
      case 0x7F:
        n = 0;
        break;
      case 0x07:
        n = 12;
        break;
      case 0x08:
        n = 1;
        break;
      case 0x0B: {
        const void* a = std::memchr(p_, 0, left);
        const void* b =
            a ? std::memchr(static_cast<const uint8_t*>(a) + 1, 0,
                            left - static_cast<std::size_t>(static_cast<const uint8_t*>(a) + 1 - p_))
              : nullptr;
        if (!b) return fail();
        n = static_cast<std::size_t>(static_cast<const uint8_t*>(b) - p_) + 1;
        break;
      }
      case 0x0C:
        if (!prefixed(12)) return fail();
        break;
      case 0x10:
        n = 4;
        break;
      case 0x13:
        n = 16;
        break;
      default:
        return fail();
    }
    e.cut = false;
    if (n > left) {
      // In a cut document, a string, document or array the end falls in, as far as it goes.
      const bool takes_cut = e.type == 0x02 || e.type == 0x03 || e.type == 0x04;
      if (!cut_ || !takes_cut || left < 5) return fail();
      e.cut = true;
      n = left;
    }
    e.value = p_;
    e.len = n;
    p_ += n;
    return true;
  }
  bool find(std::string_view key, Elem& out) const {
    Doc d = *this;
    while (d.next(out))
      if (out.key == key) return true;
    return false;
  }
  // The first element (a command's name).
  bool first(Elem& out) const {
    Doc d = *this;
    return d.next(out);
  }

 private:
  bool fail() {
    ok_ = false;
    return false;
  }
  const uint8_t* p_ = nullptr;
  const uint8_t* end_ = nullptr;
  bool ok_ = false;
  bool cut_ = false;
};

inline std::string_view str_of(const Elem& e) {  // a string element's text (as far as it goes)
  if (e.type != 0x02 || e.len < 5) return {};
  return {reinterpret_cast<const char*>(e.value + 4), e.len - (e.cut ? 4 : 5)};
}

inline bool number_of(const Elem& e, double& v) {
  if (e.type == 0x01) {
    const uint64_t u = load_le64(e.value);
    std::memcpy(&v, &u, 8);
    return true;
  }
  if (e.type == 0x10) return v = load_le_i32(e.value), true;
  if (e.type == 0x12) return v = static_cast<double>(static_cast<int64_t>(load_le64(e.value))), true;
  if (e.type == 0x08) return v = e.value[0], true;
  return false;
}

// A numeric element as a 32-bit count (skip, limit): integers and doubles, the
// latter truncated and held to int32's range (NaN is 0), as no cast may overflow.
inline bool int32_of(const Elem& e, int32_t& out) {
  double v;
  if (!number_of(e, v)) return false;
  if (std::isnan(v))
    out = 0;
  else if (v >= 2147483647.0)
    out = INT32_MAX;
  else if (v <= -2147483648.0)
    out = INT32_MIN;
  else
    out = static_cast<int32_t>(v);
  return true;
}

}  // namespace tapbeat::mongodb
