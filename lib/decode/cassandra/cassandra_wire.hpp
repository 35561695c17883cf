// Cassandra's native protocol (CQL binary protocol v3-v5: frames, v5 segments, the [notations]), parsed in
// place: views into the caller's bytes, no allocation, every length bounded by the bytes at hand. The
// decoder's state and pairing are in cassandra_decoder.cpp.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string_view>

#include "decode/cassandra/cql_ops.hpp"
#include "util/byte_reader.hpp"
#include "util/encode.hpp"

namespace tapbeat::cassandra {

enum Op : uint8_t {
  kError = 0x00,
  kStartup = 0x01,
  kReady = 0x02,
  kAuthenticate = 0x03,
  kOptions = 0x05,
  kSupported = 0x06,
  kQuery = 0x07,
  kResult = 0x08,
  kPrepare = 0x09,
  kExecute = 0x0A,
  kRegister = 0x0B,
  kEvent = 0x0C,
  kBatch = 0x0D,
  kAuthChallenge = 0x0E,
  kAuthResponse = 0x0F,
  kAuthSuccess = 0x10,
};

inline bool known_op(uint8_t op) { return op <= kCqlMaxOp && kCqlOpNames[op]; }

inline bool is_response_op(uint8_t op) {
  switch (op) {
    case kError:
    case kReady:
    case kAuthenticate:
    case kSupported:
    case kResult:
    case kEvent:
    case kAuthChallenge:
    case kAuthSuccess:
      return true;
    default:
      return false;
  }
}

// Frame header flags.
inline constexpr uint8_t kFlagCompress = 0x01, kFlagTracing = 0x02, kFlagCustomPayload = 0x04,
                         kFlagWarning = 0x08;
// Rows metadata flags.
inline constexpr int32_t kGlobalTableSpec = 0x01, kHasMorePages = 0x02, kNoMetadata = 0x04,
                         kMetadataChanged = 0x08;

inline constexpr uint32_t kMaxListItems = 64;    // entries of a string list or map rendered
inline constexpr std::size_t kMaxString = 1024;  // a string rendered in a field
inline constexpr int kMaxTypeDepth = 16;

// Names joined by '|' for a bit set, Packetbeat's single names where one bit is set.
inline std::string_view flag_names(char* buf, std::size_t cap, uint32_t flags,
                                   std::span<const char* const> names) {
  if (flags == 0) return "Default";
  std::size_t len = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    if (!(flags & (1u << i))) continue;
    const char* name = i < names.size() ? names[i] : nullptr;
    char tmp[32];
    if (!name) {
      std::snprintf(tmp, sizeof tmp, "Flag_%u", 1u << i);  // a bit the protocol does not name
      name = tmp;
    }
    const std::size_t k = std::strlen(name);
    if (len + k + 1 >= cap) break;
    if (len) buf[len++] = '|';
    std::memcpy(buf + len, name, k);
    len += k;
  }
  return {buf, len};
}

inline std::string_view header_flags(char* buf, std::size_t cap, uint8_t flags) {
  static const char* const kNames[] = {"Compress", "Tracing", "CustomPayload", "Warning", "UseBeta"};
  return flag_names(buf, cap, flags, kNames);
}

inline std::string_view row_flags(char* buf, std::size_t cap, int32_t flags) {
  static const char* const kNames[] = {"GlobalTableSpec", "HasMorePages", "NoMetaData", "MetadataChanged"};
  return flag_names(buf, cap, static_cast<uint32_t>(flags), kNames);
}

inline const char* error_type(int32_t code) {
  switch (code) {
    case 0x0000:
      return "errServer";
    case 0x000A:
      return "errProtocol";
    case 0x0100:
      return "errCredentials";
    case 0x1000:
      return "errUnavailable";
    case 0x1001:
      return "errOverloaded";
    case 0x1002:
      return "errBootstrapping";
    case 0x1003:
      return "errTruncate";
    case 0x1100:
      return "errWriteTimeout";
    case 0x1200:
      return "errReadTimeout";
    case 0x1300:
      return "errReadFailure";
    case 0x1400:
      return "errFunctionFailure";
    case 0x1500:
      return "errWriteFailure";
    case 0x1600:
      return "errCDCWriteFailure";
    case 0x1700:
      return "errCASWriteUnknown";
    case 0x2000:
      return "errSyntax";
    case 0x2100:
      return "errUnauthorized";
    case 0x2200:
      return "errInvalid";
    case 0x2300:
      return "errConfig";
    case 0x2400:
      return "errAlreadyExists";
    case 0x2500:
      return "errUnprepared";
    default:
      return "errUnknown";
  }
}

inline const char* consistency(uint16_t c) {
  static const char* const kNames[] = {"ANY",    "ONE",          "TWO",          "THREE",
                                       "QUORUM", "ALL",          "LOCAL_QUORUM", "EACH_QUORUM",
                                       "SERIAL", "LOCAL_SERIAL", "LOCAL_ONE"};
  return c < std::size(kNames) ? kNames[c] : "UNKNOWN";
}

// Cassandra's CRC24 of a segment header's first len bytes (little-endian value).
inline uint32_t crc24(uint64_t bytes, int len) {
  uint32_t crc = 0x875060;
  while (len-- > 0) {
    crc ^= static_cast<uint32_t>(bytes & 0xff) << 16;
    bytes >>= 8;
    for (int i = 0; i < 8; ++i) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1974F0B;
    }
  }
  return crc & 0xffffff;
}

inline uint32_t payload_crc_init() {
  static const uint8_t kInit[4] = {0xFA, 0x2D, 0x55, 0xCA};
  return static_cast<uint32_t>(crc32(0, kInit, 4));
}

// A back-reference of snappy and LZ4: n bytes at o copied from `off` bytes before;
// when off < n the copy repeats the last `off` bytes. Returns n.
inline std::size_t copy_match(uint8_t* out, std::size_t o, std::size_t off, std::size_t n) {
  if (off >= n) {
    std::memcpy(out + o, out + o - off, n);
  } else {
    for (std::size_t k = 0; k < n; ++k) out[o + k] = out[o + k - off];
  }
  return n;
}

// The first bytes of a snappy or LZ4 block: of one whose end lies past what was read
// (a frame longer than kMaxHead), or a result's head before its rows. Elements are
// decoded while their input is at hand, up to cap bytes of output. Returns the bytes produced; an element
// that does not make sense ends the prefix.
inline std::size_t snappy_prefix(const uint8_t* in, std::size_t n, uint8_t* out, std::size_t cap) {
  std::size_t i = 0, o = 0;
  for (int shift = 0; i < n && shift < 35; shift += 7)  // the uncompressed length
    if (!(in[i++] & 0x80)) break;
  while (i < n && o < cap) {
    const uint8_t tag = in[i++];
    std::size_t len = 0, off = 0;
    switch (tag & 3) {
      case 0: {
        len = (tag >> 2) + 1u;
        if (len > 60) {
          const std::size_t k = len - 60;
          if (i + k > n) return o;
          len = load_le(in + i, static_cast<int>(k)) + 1;
          i += k;
        }
        const std::size_t m = std::min({len, n - i, cap - o});
        std::memcpy(out + o, in + i, m);
        i += m, o += m;
        if (m < len) return o;
        continue;
      }
      case 1:
        if (i >= n) return o;
        len = 4 + ((tag >> 2) & 7u);
        off = (std::size_t{tag} >> 5) << 8 | in[i++];
        break;
      case 2:
        if (i + 2 > n) return o;
        len = 1 + (tag >> 2u);
        off = load_le(in + i, 2);
        i += 2;
        break;
      default:
        if (i + 4 > n) return o;
        len = 1 + (tag >> 2u);
        off = load_le(in + i, 4);
        i += 4;
        break;
    }
    if (off == 0 || off > o) return o;
    o += copy_match(out, o, off, std::min(len, cap - o));
  }
  return o;
}

inline std::size_t lz4_prefix(const uint8_t* in, std::size_t n, uint8_t* out, std::size_t cap) {
  std::size_t i = 0, o = 0;
  auto extend = [&](std::size_t& len) {
    if (len != 15) return true;
    uint8_t b = 255;
    while (b == 255) {
      if (i >= n) return false;
      b = in[i++];
      len += b;
    }
    return true;
  };
  while (i < n && o < cap) {
    const uint8_t token = in[i++];
    std::size_t lit = token >> 4;
    if (!extend(lit)) return o;
    const std::size_t m = std::min({lit, n - i, cap - o});
    std::memcpy(out + o, in + i, m);
    i += m, o += m;
    if (m < lit || i + 2 > n) return o;
    const std::size_t off = load_le(in + i, 2);
    i += 2;
    std::size_t len = token & 15u;
    if (!extend(len)) return o;
    len += 4;
    if (off == 0 || off > o) return o;
    o += copy_match(out, o, off, std::min(len, cap - o));
  }
  return o;
}

// The protocol's notations over untrusted bytes ([short], [string], [bytes], ...).
class Cql {
 public:
  Cql(const uint8_t* p, std::size_t n) : r_(p, n) {}
  bool ok() const { return ok_; }
  std::size_t remaining() const { return r_.remaining(); }
  uint8_t byte() {
    uint8_t v = 0;
    if (!r_.u8(v)) ok_ = false;
    return v;
  }
  uint16_t short_() {
    uint16_t v = 0;
    if (!r_.be16(v)) ok_ = false;
    return v;
  }
  int32_t int_() {
    uint32_t v = 0;
    if (!r_.be32(v)) ok_ = false;
    return static_cast<int32_t>(v);
  }
  std::string_view take(std::size_t n) {
    std::span<const uint8_t> v;
    if (!r_.view(n, v)) {
      ok_ = false;
      return {};
    }
    return {reinterpret_cast<const char*>(v.data()), v.size()};
  }
  std::string_view string() { return take(short_()); }
  // A [long string]; cut: how many bytes of it are missing from a cut body.
  std::string_view long_string(bool allow_cut, std::size_t* cut = nullptr) {
    const int32_t n = int_();
    if (n < 0) return {};
    if (allow_cut && static_cast<std::size_t>(n) > r_.remaining()) {
      if (cut) *cut = static_cast<std::size_t>(n) - r_.remaining();
      return take(r_.remaining());
    }
    return take(static_cast<std::size_t>(n));
  }
  std::string_view bytes() {  // [bytes]: null and unset give an empty view
    const int32_t n = int_();
    return n < 0 ? std::string_view{} : take(static_cast<std::size_t>(n));
  }
  std::string_view short_bytes() { return take(short_()); }
  void skip_bytes_map() {  // [bytes map]: a custom payload
    const uint16_t n = short_();
    for (uint16_t i = 0; i < n && ok_; ++i) string(), bytes();
  }
  bool skip(std::size_t n) {
    if (!r_.skip(n)) ok_ = false;
    return ok_;
  }
  // [inet]: address bytes and port; host the address as text (RFC 5952 for IPv6).
  bool inet(char* host, int32_t& port) {
    const uint8_t n = byte();
    const std::string_view a = take(n);
    port = int_();
    if (!ok_ || (n != 4 && n != 16)) return ok_ = false;
    IpBytes ip{};
    std::memcpy(ip.data(), a.data(), n);
    format_ip(ip, n == 4 ? 4 : 6, host);
    return true;
  }
  // An [option] (a column type), skipped.
  bool skip_type(int depth = 0) {
    if (depth > kMaxTypeDepth) return ok_ = false;
    const uint16_t id = short_();
    switch (id) {
      case 0x0000:
        string();
        break;  // custom
      case 0x0020:
      case 0x0022:
        skip_type(depth + 1);
        break;  // list, set
      case 0x0021:
        skip_type(depth + 1), skip_type(depth + 1);
        break;        // map
      case 0x0030: {  // UDT
        string(), string();
        const uint16_t n = short_();
        for (uint16_t i = 0; i < n && ok_; ++i) string(), skip_type(depth + 1);
        break;
      }
      case 0x0031: {  // tuple
        const uint16_t n = short_();
        for (uint16_t i = 0; i < n && ok_; ++i) skip_type(depth + 1);
        break;
      }
      default:
        if (id > 0x0031) ok_ = false;
        break;
    }
    return ok_;
  }

 private:
  ByteReader r_;
  bool ok_ = true;
};

}  // namespace tapbeat::cassandra
