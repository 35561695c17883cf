#include "decode/thrift/thrift_wire.hpp"

#include <charconv>
#include <cstring>

#include "util/byte_reader.hpp"

namespace tapbeat {
namespace {

// Value types, as the binary protocol numbers them (the compact ones are mapped).
enum : uint8_t {
  kStop = 0,
  kBool = 2,
  kByte = 3,
  kDouble = 4,
  kI16 = 6,
  kI32 = 8,
  kI64 = 10,
  kString = 11,
  kStruct = 12,
  kMap = 13,
  kSet = 14,
  kList = 15,
  kUuid = 16,
  kUnknown = 0xff,
};

constexpr int kFormatDepth = 32;  // deeper values are walked, not written
constexpr int kMaxDepth = 512;    // deeper: not Thrift (the libraries refuse past 64)
constexpr uint64_t kMaxCount = 1u << 24;

uint8_t from_compact(uint8_t c) {
  static constexpr uint8_t kMap_[] = {kStop,   kBool,   kBool, kByte, kI16, kI32,    kI64,
                                      kDouble, kString, kList, kSet,  kMap, kStruct, kUuid};
  return c < std::size(kMap_) ? kMap_[c] : static_cast<uint8_t>(kUnknown);
}

bool valid_utf8(std::span<const uint8_t> s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = s[i];
    const std::size_t len = c < 0x80             ? 1
                            : (c & 0xe0) == 0xc0 ? 2
                            : (c & 0xf0) == 0xe0 ? 3
                            : (c & 0xf8) == 0xf0 ? 4
                                                 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k)
      if ((s[i + k] & 0xc0) != 0x80) return false;
    i += len;
  }
  return true;
}

struct Reader {
  std::span<const uint8_t> b;
  ThriftProtocol p;
  const ThriftLimits& lim;
  std::size_t at = 0;
  bool more = false, bad = false;
  std::size_t need = 0;
  uint32_t cut = 0, dropped = 0;

  bool ok() const { return !more && !bad; }
  bool avail(std::size_t n) {
    if (!ok()) return false;
    if (b.size() - at < n) {
      more = true;
      need = at + n;
      return false;
    }
    return true;
  }
  uint64_t be(int n) {
    if (!avail(static_cast<std::size_t>(n))) return 0;
    const uint64_t v = load_be(b.data() + at, n);
    at += static_cast<std::size_t>(n);
    return v;
  }
  uint8_t u8() { return static_cast<uint8_t>(be(1)); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!avail(1)) return 0;
      const uint8_t c = b[at++];
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    bad = true;
    return 0;
  }
  int64_t zigzag() {
    const uint64_t v = varint();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  int64_t integer(uint8_t type) {
    if (p == ThriftProtocol::kCompact) return zigzag();
    switch (type) {
      case kI16:
        return static_cast<int16_t>(be(2));
      case kI32:
        return static_cast<int32_t>(be(4));
      default:
        return static_cast<int64_t>(be(8));
    }
  }
  uint64_t length() {
    if (p == ThriftProtocol::kCompact) return varint();
    const int32_t n = static_cast<int32_t>(be(4));
    if (n < 0) bad = true;
    return n < 0 ? 0 : static_cast<uint64_t>(n);
  }
  std::span<const uint8_t> bytes(uint64_t n) {
    if (n > kMaxCount * 16) bad = true;
    if (!avail(static_cast<std::size_t>(n))) return {};
    const auto v = b.subspan(at, static_cast<std::size_t>(n));
    at += static_cast<std::size_t>(n);
    return v;
  }

  static void put(ThriftText* out, std::string_view s) {
    if (out && !s.empty()) out->append(s);
  }
  static void put_int(ThriftText* out, int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    put(out, {buf, static_cast<std::size_t>(r.ptr - buf)});
  }

  // A string as Packetbeat writes it: cut at string_max ("..." appended), then quoted
  // when it is UTF-8, else hex.
  void string(std::span<const uint8_t> s, ThriftText* out) {
    if (!out) return;
    if (s.empty()) return put(out, "\"\"");
    if (lim.obfuscate_strings) return put(out, "\"*\"");
    const bool cut_here = s.size() > lim.string_max;
    if (cut_here) {
      s = s.first(lim.string_max);
      ++cut;
    }
    if (!valid_utf8(s)) {
      static constexpr char kHex[] = "0123456789abcdef";
      for (uint8_t c : s) {
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
      }
      if (cut_here) put(out, "2e2e2e");  // the "..." Packetbeat appends, in hex too
      return;
    }
    out->push_back('"');
    for (uint8_t c : s) {
      // Go's strconv.Quote: the named escapes, \xNN for other control bytes.
      static constexpr std::string_view kNamed[] = {"\\a", "\\b", "\\t", "\\n", "\\v", "\\f", "\\r"};
      if (c == '"' || c == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(c));
      } else if (c >= '\a' && c <= '\r') {
        put(out, kNamed[c - '\a']);
      } else if (c < 0x20 || c == 0x7f) {
        static constexpr char kHex[] = "0123456789abcdef";
        const char e[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
        put(out, {e, 4});
      } else {
        out->push_back(static_cast<char>(c));
      }
    }
    if (cut_here) put(out, "...");
    out->push_back('"');
  }

  // Where a collection's i-th element is written: nowhere past collection_max (the
  // first one left out writes ", ..."), after a separator otherwise.
  ThriftText* element(uint64_t i, ThriftText* out) {
    if (!out || i > lim.collection_max) return nullptr;
    if (i == lim.collection_max) {
      put(out, ", ...");
      ++cut;
      return nullptr;
    }
    if (i) put(out, ", ");
    return out;
  }

  // A value of `type`; compact field headers carry a bool's value (bool_known).
  void value(uint8_t type, ThriftText* out, int depth, int bool_known = -1) {
    if (depth > kMaxDepth) {
      bad = true;
      return;
    }
    if (out && depth > kFormatDepth) {
      put(out, "...");
      ++cut;
      out = nullptr;
    }
    switch (type) {
      case kBool: {
        const bool v =
            bool_known >= 0 ? bool_known == 1 : (p == ThriftProtocol::kCompact ? u8() == 1 : u8() != 0);
        if (ok()) put(out, v ? "true" : "false");
        return;
      }
      case kByte: {
        const int8_t v = static_cast<int8_t>(u8());
        if (ok()) put_int(out, v);
        return;
      }
      case kI16:
      case kI32:
      case kI64: {
        const int64_t v = integer(type);
        if (ok()) put_int(out, v);
        return;
      }
      case kDouble: {
        if (!avail(8)) return;
        const uint64_t bits =
            p == ThriftProtocol::kCompact ? load_le64(b.data() + at) : load_be(b.data() + at, 8);
        at += 8;
        double d;
        std::memcpy(&d, &bits, sizeof d);
        char buf[400];
        const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
        put(out, r.ec == std::errc() ? std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)) : "NaN");
        return;
      }
      case kString: {
        const auto s = bytes(length());
        if (ok()) string(s, out);
        return;
      }
      case kUuid: {
        const auto s = bytes(16);
        if (!ok() || !out) return;
        static constexpr char kHex[] = "0123456789abcdef";
        for (int i = 0; i < 16; ++i) {
          if (i == 4 || i == 6 || i == 8 || i == 10) out->push_back('-');
          out->push_back(kHex[s[static_cast<std::size_t>(i)] >> 4]);
          out->push_back(kHex[s[static_cast<std::size_t>(i)] & 15]);
        }
        return;
      }
      case kStruct:
        return structure(out, depth, nullptr, nullptr);
      case kList:
      case kSet: {
        uint8_t et;
        uint64_t n;
        if (p == ThriftProtocol::kCompact) {
          const uint8_t h = u8();
          et = from_compact(h & 15);
          n = h >> 4;
          if (n == 15) n = varint();
        } else {
          et = u8();
          n = length();
        }
        if (!ok()) return;
        if (et == kUnknown || n > kMaxCount) {
          bad = true;
          return;
        }
        if (n) put(out, type == kList ? "[" : "{");
        for (uint64_t i = 0; i < n && ok(); ++i) value(et, element(i, out), depth + 1);
        if (n) put(out, type == kList ? "]" : "}");
        return;
      }
      case kMap: {
        uint8_t kt, vt;
        uint64_t n;
        if (p == ThriftProtocol::kCompact) {
          n = varint();
          const uint8_t h = n ? u8() : 0;
          kt = from_compact(h >> 4);
          vt = from_compact(h & 15);
        } else {
          kt = u8();
          vt = u8();
          n = length();
        }
        if (!ok()) return;
        if (n && (kt == kUnknown || vt == kUnknown || n > kMaxCount)) {
          bad = true;
          return;
        }
        put(out, "{");
        for (uint64_t i = 0; i < n && ok(); ++i) {
          ThriftText* o = element(i, out);
          value(kt, o, depth + 1);
          put(o, ": ");
          value(vt, o, depth + 1);
        }
        put(out, "}");
        return;
      }
      default:
        bad = true;
    }
  }

  // "(id: value, ...)" (names by id when given). first_id/first_value report the
  // first field and where its value is in `out` (a reply's result).
  void structure(ThriftText* out, int depth, const ThriftParser::Names* names, int* first_id,
                 std::size_t* first_value = nullptr, std::size_t* first_end = nullptr) {
    put(out, "(");
    int last_id = 0;
    for (uint32_t i = 0; ok(); ++i) {
      uint8_t type;
      int id;
      int bool_known = -1;
      if (p == ThriftProtocol::kCompact) {
        const uint8_t h = u8();
        if (!ok()) return;
        if (h == 0) break;
        const uint8_t ct = h & 15;
        type = from_compact(ct);
        if (ct == 1 || ct == 2) bool_known = ct == 1 ? 1 : 0;
        id = (h >> 4) ? last_id + (h >> 4) : static_cast<int16_t>(zigzag());
        last_id = id;
      } else {
        type = u8();
        if (!ok()) return;
        if (type == kStop) break;
        id = static_cast<int16_t>(be(2));
      }
      if (type == kUnknown) {
        bad = true;
        return;
      }
      ThriftText* o = out;
      if (i >= lim.struct_fields_max) {
        if (i == lim.struct_fields_max) ++dropped;
        o = nullptr;
      } else if (i >= lim.collection_max) {
        if (i == lim.collection_max && out) {
          put(out, ", ...");
          ++cut;
        }
        o = nullptr;
      }
      if (o) {
        if (i) put(o, ", ");
        const auto it = names ? names->find(id) : ThriftParser::Names::const_iterator();
        if (names && it != names->end()) {
          put(o, it->second);
        } else {
          put_int(o, id);
        }
        put(o, ": ");
      }
      if (i == 0 && first_id) {
        *first_id = id;
        if (first_value && o) *first_value = o->n;
      }
      value(type, o, depth + 1, bool_known);
      if (i == 0 && first_end && o) *first_end = o->n;
    }
    put(out, ")");
  }
};

}  // namespace

bool thrift_detect(std::span<const uint8_t> b, ThriftProtocol& p, bool& framed) {
  auto at = [&](std::size_t off) -> bool {
    if (b.size() < off + 2) return false;
    if (b[off] == 0x80 && b[off + 1] == 0x01) {
      p = ThriftProtocol::kBinary;
      return true;
    }
    if (b[off] == 0x82 && (b[off + 1] & 0x1f) == 1) {
      p = ThriftProtocol::kCompact;
      return true;
    }
    return false;
  };
  if (at(0)) {
    framed = false;
    return true;
  }
  if (at(4)) {
    framed = true;
    return true;
  }
  return false;
}

bool header_valid(const ThriftMessage& m) {
  if (m.type < kThriftCall || m.type > kThriftOneway || m.method.empty()) return false;
  for (char c : m.method)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  return true;
}

ThriftParse ThriftParser::parse(std::span<const uint8_t> b, ThriftProtocol p, const ThriftLimits& lim,
                                NamesOf names_of, const void* ctx, ThriftMessage& m, std::size_t& need) {
  Reader r{b, p, lim};
  if (p == ThriftProtocol::kCompact) {
    if (r.u8() != 0x82 && r.ok()) return ThriftParse::kBad;
    const uint8_t vt = r.u8();
    if (r.ok() && (vt & 0x1f) != 1) return ThriftParse::kBad;
    m.type = static_cast<uint8_t>((vt >> 5) & 7);
    m.seqid = static_cast<uint32_t>(r.varint());
    const auto name = r.bytes(r.varint());
    m.method = {reinterpret_cast<const char*>(name.data()), name.size()};
  } else {
    const uint32_t v = static_cast<uint32_t>(r.be(4));
    if (r.ok() && (v & 0x80000000u)) {
      if ((v & 0xffff0000u) != 0x80010000u) return ThriftParse::kBad;
      m.type = static_cast<uint8_t>(v & 0xff);
      const auto name = r.bytes(r.length());
      m.method = {reinterpret_cast<const char*>(name.data()), name.size()};
      m.seqid = static_cast<uint32_t>(r.be(4));
    } else if (r.ok()) {  // no version: the name's length comes first
      if (v > 4096) return ThriftParse::kBad;
      const auto name = r.bytes(v);
      m.method = {reinterpret_cast<const char*>(name.data()), name.size()};
      m.type = r.u8();
      m.seqid = static_cast<uint32_t>(r.be(4));
    }
  }
  if (r.bad) return ThriftParse::kBad;
  if (r.more) {
    need = r.need;
    return ThriftParse::kNeedMore;
  }
  if (!header_valid(m)) return ThriftParse::kBad;

  m.text.clear();
  if (m.type == kThriftCall || m.type == kThriftOneway) {
    r.structure(&m.text, 0, names_of(ctx, m.method, false), nullptr);
  } else if (m.type == kThriftException) {
    static const Names kAppException = {{1, "message"}, {2, "type"}};
    r.structure(&m.text, 0, &kAppException, nullptr);
    m.exception = true;
  } else {
    int first_id = -1;
    std::size_t vstart = 0, vend = 0;
    r.structure(&m.text, 0, names_of(ctx, m.method, true), &first_id, &vstart, &vend);
    if (r.ok() && first_id == 0) {
      // The result alone (field 0 of the reply struct).
      const std::size_t n = vend - vstart;
      std::memmove(m.text.buf, m.text.buf + vstart, n);
      m.text.n = n;
    } else if (r.ok() && first_id == -1) {
      m.text.clear();  // void
    } else if (r.ok() || (first_id != 0 && first_id != -1)) {
      m.exception = true;  // a cut reply (a frame's first bytes) says so by its first field's id
    }
  }
  if (r.bad) return ThriftParse::kBad;
  if (r.more) {
    need = r.need;
    return ThriftParse::kNeedMore;
  }
  m.values_cut = r.cut + (m.text.n == sizeof m.text.buf ? 1 : 0);
  m.fields_dropped = r.dropped;
  m.end = r.at;
  return ThriftParse::kOk;
}

ThriftSkipResult thrift_skip(ThriftSkip& s, std::span<const uint8_t> b, std::size_t& used) {
  const bool compact = s.protocol == ThriftProtocol::kCompact;
  std::size_t at = 0;
  const auto done = [&](ThriftSkipResult r) {
    used = at;
    return r;
  };
  while (true) {
    if (s.string_left) {
      const std::size_t k = std::min<std::size_t>(s.string_left, b.size() - at);
      at += k;
      s.string_left -= static_cast<uint32_t>(k);
      if (s.string_left) return done(ThriftSkipResult::kMore);
    }
    if (s.started && s.depth == 0) return done(ThriftSkipResult::kDone);
    static const ThriftLimits kNoLimits;
    Reader r{b, s.protocol, kNoLimits, at};  // a step's reads: all or nothing (more: it waits)
    if (!s.started) {                        // the header, as parse() reads it (it found it valid)
      if (compact) {
        r.bytes(2);
        r.varint();
        r.bytes(static_cast<std::size_t>(r.varint()));
      } else {
        const uint32_t v = static_cast<uint32_t>(r.be(4));
        if (v & 0x80000000u) {
          r.bytes(r.be(4));
          r.bytes(4);
        } else {
          r.bytes(v + 5);
        }
      }
      if (r.bad) return done(ThriftSkipResult::kBad);
      if (r.more) return done(ThriftSkipResult::kMore);
      s.started = true;
      s.stack[0] = {0, 0, kStruct, 0, 0};
      s.depth = 1;
      at = r.at;
      continue;
    }
    ThriftSkip::Frame& f = s.stack[s.depth - 1];
    uint8_t type = kUnknown;
    int bool_known = -1;
    int16_t id = 0;
    if (f.kind == kStruct) {
      const uint8_t h = r.u8();
      if (r.more) return done(ThriftSkipResult::kMore);
      if (h == kStop) {
        --s.depth;
        at = r.at;
        continue;
      }
      if (compact) {
        type = from_compact(h & 0x0f);
        if ((h & 0x0f) == 1 || (h & 0x0f) == 2) bool_known = (h & 0x0f) == 1;
        const uint64_t z = (h >> 4) ? 0 : r.varint();
        id = (h >> 4) ? static_cast<int16_t>(f.last_id + (h >> 4))
                      : static_cast<int16_t>(static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1));
      } else {
        type = h;
        id = static_cast<int16_t>(r.be(2));
      }
    } else {
      if (f.left == 0) {
        --s.depth;
        continue;
      }
      type = f.kind == kMap && (f.left & 1) ? f.value : f.elem;
    }
    // The value's head: fixed widths and varints whole, a string's length, a
    // collection's or struct's opening.
    ThriftSkip::Frame open{0, 0, 0, 0, 0};
    switch (type) {
      case kBool:
        if (bool_known < 0) r.bytes(1);
        break;
      case kByte:
        r.bytes(1);
        break;
      case kDouble:
        r.bytes(8);
        break;
      case kUuid:
        r.bytes(16);
        break;
      case kI16:
      case kI32:
      case kI64:
        if (compact)
          r.varint();
        else
          r.bytes(type == kI16 ? 2 : type == kI32 ? 4 : 8);
        break;
      case kString: {
        const uint64_t n = compact ? r.varint() : r.be(4);
        if (!compact && (n & 0x80000000u)) r.bad = true;
        if (n > kMaxCount * 16) r.bad = true;
        s.string_left = r.more || r.bad ? 0 : static_cast<uint32_t>(n);
        break;
      }
      case kStruct:
        open.kind = kStruct;
        break;
      case kList:
      case kSet: {
        uint64_t n = 0;
        if (compact) {
          const uint8_t h = r.u8();
          n = h >> 4;
          open.elem = from_compact(h & 0x0f);
          if (n == 15) n = r.varint();
        } else {
          open.elem = r.u8();
          n = r.be(4);
          if (n & 0x80000000u) r.bad = true;
        }
        if (n > kMaxCount) r.bad = true;
        open.kind = kList;
        open.left = static_cast<uint32_t>(n);
        break;
      }
      case kMap: {
        uint64_t n = 0;
        if (compact) {
          n = r.varint();
          if (n) {
            const uint8_t kv = r.u8();
            open.elem = from_compact(kv >> 4);
            open.value = from_compact(kv & 0x0f);
          }
        } else {
          open.elem = r.u8();
          open.value = r.u8();
          n = r.be(4);
          if (n & 0x80000000u) r.bad = true;
        }
        if (n > kMaxCount) r.bad = true;
        open.kind = kMap;
        open.left = static_cast<uint32_t>(2 * n);
        break;
      }
      default:
        r.bad = true;
    }
    if (r.bad) return done(ThriftSkipResult::kBad);
    if (r.more) return done(ThriftSkipResult::kMore);
    // The step is whole: it counts.
    at = r.at;
    if (f.kind == kStruct) {
      if (compact) f.last_id = id;
      if (s.depth == 1 && !s.has_first) s.has_first = true, s.first_id = id;
    } else {
      --f.left;
    }
    if (open.kind) {
      if (s.depth == ThriftSkip::kDepth) return done(ThriftSkipResult::kBad);
      s.stack[s.depth++] = open;
    }
  }
}

}  // namespace tapbeat
