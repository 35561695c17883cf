// MySQL's client/server protocol (packets, length-encoded values, handshake capabilities, COM_QUERY and
// COM_STMT_EXECUTE bodies), parsed in place: views into the caller's bytes, no allocation, every length
// bounded by the bytes at hand. The decoder's state and pairing are in mysql_decoder.cpp.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "util/byte_reader.hpp"

namespace tapbeat::mysql {

// Commands (the first payload byte of a client packet with sequence id 0).
enum : uint8_t {
  kComQuit = 0x01,
  kComQuery = 0x03,
  kComFieldList = 0x04,
  kComStatistics = 0x09,
  kComBinlogDump = 0x12,
  kComStmtPrepare = 0x16,
  kComStmtExecute = 0x17,
  kComStmtSendLongData = 0x18,
  kComStmtClose = 0x19,
  kComChangeUser = 0x11,
  kComStmtFetch = 0x1c,
  kComBinlogDumpGtid = 0x1e,
  kComClone = 0x20,
  kComLast = 0x21,             // COM_SUBSCRIBE_GROUP_REPLICATION_STREAM (MySQL 8)
  kComStmtBulkExecute = 0xfa,  // MariaDB 10.2+: a prepared statement run for many rows
};

enum ConnFlag : uint8_t {
  kConnHandshake = 1,    // the client's handshake response was seen: capabilities are known
  kConnServerAttrs = 2,  // the server offers CLIENT_QUERY_ATTRIBUTES
  kConnQueryAttrs = 4,   // both sides use it: commands carry attributes
  kConnCompressed = 8,   // the compressed protocol is in effect (after the login's OK)
  kConnPipelined = 16,   // the client sent a command before the one ahead was answered
};

// kPhaseTls: the client asked for TLS; its ClientHello follows.
enum Phase : uint8_t { kPhaseCommands = 0, kPhaseAuth = 1, kPhaseDone = 2, kPhaseTls = 3 };

// Where the response to the pending command is.
enum Resp : uint8_t {
  kRespStart = 0,    // its first packet is next
  kRespColumns,      // column definitions (cols_left)
  kRespColumnsEof,   // an EOF may end the definitions, then rows
  kRespRows,         // rows until EOF/OK (0xfe) or ERR
  kRespPrepParams,   // prepare: parameter definitions (params_left)
  kRespPrepColumns,  // prepare: column definitions (cols_left)
  kRespInfile,       // LOCAL INFILE: the file goes up, then OK or ERR
};

// kQueryLost: the command's packet lost its end to the capture (its head is what was seen).
// kQueryCut: the command is longer than MysqlDecoder::kMaxRequestHead, its query kept that far.
enum TxFlag : uint8_t {
  kError = 1,
  kGap = 2,
  kCompress = 4,
  kMoreResults = 8,
  kQueryLost = 16,
  kQueryCut = 32,
  kColumnsUnknown = 64,  // a result set without definitions (cached) of columns not known here
};

// MariaDB: the statement id of an execute that runs the statement last prepared.
inline constexpr uint32_t kLastPrepared = 0xffffffff;

inline constexpr uint32_t kClientCompress = 0x20;
inline constexpr uint32_t kClientProtocol41 = 0x200;
inline constexpr uint32_t kClientSsl = 0x800;
inline constexpr uint32_t kClientQueryAttributes = 1u << 27;
inline constexpr uint32_t kClientZstdCompression = 1u << 26;  // MySQL 8.0.18+: zstd instead of zlib
inline constexpr uint8_t kParameterCountAvailable = 0x08;     // COM_STMT_EXECUTE flags
inline constexpr uint16_t kMoreResultsExist = 0x0008;
inline constexpr uint16_t kCursorExists = 0x0040;  // SERVER_STATUS_CURSOR_EXISTS: rows come by COM_STMT_FETCH
inline constexpr uint32_t kMaxPacket = 0xffffff;
inline constexpr uint32_t kMaxRowHead = 64 * 1024;

// The commands that become events (as Packetbeat's); the others are followed.
inline bool published(uint8_t cmd) {
  return cmd == kComQuery || cmd == kComStmtPrepare || cmd == kComStmtExecute || cmd == kComStmtBulkExecute;
}

// A length-encoded integer; false when the bytes end inside it or it is not one.
inline bool lenenc(ByteReader& r, uint64_t& v) {
  uint8_t b;
  if (!r.u8(b)) return false;
  if (b < 0xfb) {
    v = b;
    return true;
  }
  uint8_t raw[8]{};
  const std::size_t n = b == 0xfc ? 2 : b == 0xfd ? 3 : b == 0xfe ? 8 : 0;
  if (n == 0 || !r.bytes(raw, n)) return false;
  v = 0;
  for (std::size_t i = n; i-- > 0;) v = (v << 8) | raw[i];
  return true;
}

// A length-encoded string; a string cut by the end of the bytes is returned cut
// (`whole` false).
inline bool lenenc_str(ByteReader& r, std::string_view& s, bool& whole) {
  uint64_t n;
  if (!lenenc(r, n)) return false;
  const std::size_t k = static_cast<std::size_t>(std::min<uint64_t>(n, r.remaining()));
  s = {reinterpret_cast<const char*>(r.current()), k};
  r.skip(k);
  whole = k == n;
  return true;
}

template <typename T>
T le(const uint8_t* p) {
  T v = 0;
  for (std::size_t i = sizeof(T); i-- > 0;) v = static_cast<T>((v << 8) | p[i]);
  return v;
}

// One value of the binary protocol (parameters of an execute, binary rows) as
// text, by its column type; false when the bytes end inside it or the type is
// unknown.
inline bool binary_value(ByteReader& r, uint8_t type, bool is_unsigned, char* buf, std::size_t cap,
                         std::string_view& out) {
  auto num = [&](auto v) {
    const auto res = std::to_chars(buf, buf + cap, v);
    out = {buf, static_cast<std::size_t>(res.ptr - buf)};
    return true;
  };
  uint8_t raw[12];
  switch (type) {
    case 0x01:  // TINY
      if (!r.bytes(raw, 1)) return false;
      return is_unsigned ? num(unsigned{raw[0]}) : num(int{static_cast<int8_t>(raw[0])});
    case 0x02:
    case 0x0d:  // SHORT, YEAR
      if (!r.bytes(raw, 2)) return false;
      return is_unsigned || type == 0x0d ? num(unsigned{le<uint16_t>(raw)})
                                         : num(int{static_cast<int16_t>(le<uint16_t>(raw))});
    case 0x03:
    case 0x09:  // LONG, INT24
      if (!r.bytes(raw, 4)) return false;
      return is_unsigned ? num(le<uint32_t>(raw)) : num(static_cast<int32_t>(le<uint32_t>(raw)));
    case 0x08:  // LONGLONG
      if (!r.bytes(raw, 8)) return false;
      return is_unsigned ? num(le<uint64_t>(raw)) : num(static_cast<int64_t>(le<uint64_t>(raw)));
    case 0x04: {  // FLOAT
      if (!r.bytes(raw, 4)) return false;
      float f;
      const uint32_t u = le<uint32_t>(raw);
      std::memcpy(&f, &u, 4);
      return num(f);
    }
    case 0x05: {  // DOUBLE
      if (!r.bytes(raw, 8)) return false;
      double d;
      const uint64_t u = le<uint64_t>(raw);
      std::memcpy(&d, &u, 8);
      return num(d);
    }
    case 0x06:  // NULL
      out = "NULL";
      return true;
    case 0x07:
    case 0x0a:
    case 0x0c: {  // TIMESTAMP, DATE, DATETIME
      uint8_t n;
      if (!r.u8(n) || n > 11 || !r.bytes(raw, n)) return false;
      unsigned y = n >= 2 ? le<uint16_t>(raw) : 0, mo = n >= 4 ? raw[2] : 0, d = n >= 4 ? raw[3] : 0;
      unsigned h = n >= 7 ? raw[4] : 0, mi = n >= 7 ? raw[5] : 0, s = n >= 7 ? raw[6] : 0;
      int k = type == 0x0a ? std::snprintf(buf, cap, "%04u-%02u-%02u", y, mo, d)
                           : std::snprintf(buf, cap, "%04u-%02u-%02u %02u:%02u:%02u", y, mo, d, h, mi, s);
      if (n == 11 && k > 0) k += std::snprintf(buf + k, cap - k, ".%06u", le<uint32_t>(raw + 7));
      out = {buf, static_cast<std::size_t>(std::max(k, 0))};
      return true;
    }
    case 0x0b: {  // TIME
      uint8_t n;
      if (!r.u8(n) || n > 12 || !r.bytes(raw, n)) return false;
      const bool neg = n >= 8 && raw[0];
      const unsigned hours = n >= 8 ? le<uint32_t>(raw + 1) * 24 + raw[5] : 0;
      int k = std::snprintf(buf, cap, "%s%02u:%02u:%02u", neg ? "-" : "", hours, n >= 8 ? raw[6] : 0u,
                            n >= 8 ? raw[7] : 0u);
      if (n == 12 && k > 0) k += std::snprintf(buf + k, cap - k, ".%06u", le<uint32_t>(raw + 8));
      out = {buf, static_cast<std::size_t>(std::max(k, 0))};
      return true;
    }
    case 0x00:
    case 0x0f:
    case 0x10:
    case 0xf5:
    case 0xf6:
    case 0xf7:
    case 0xf8:
    case 0xf9:
    case 0xfa:
    case 0xfb:
    case 0xfc:
    case 0xfd:
    case 0xfe:
    case 0xff: {
      bool whole;
      return lenenc_str(r, out, whole);
    }
    default:
      return false;
  }
}

// Capabilities of a server greeting (protocol 10): the low half after the first
// part of the auth data, the high half after charset and status.
inline bool greeting_caps(const uint8_t* p, uint32_t n, uint32_t& caps) {
  const void* nul = n > 1 ? std::memchr(p + 1, 0, n - 1) : nullptr;
  if (!nul) return false;
  ByteReader r(p, n);
  r.skip(static_cast<std::size_t>(static_cast<const uint8_t*>(nul) - p) + 1);
  uint16_t lo = 0, hi = 0, status = 0;
  uint8_t charset = 0;
  if (!r.skip(4 + 8 + 1) || !r.le16(lo)) return false;
  caps = lo;
  if (r.u8(charset) && r.le16(status) && r.le16(hi)) caps |= uint32_t{hi} << 16;
  return true;
}

// Query attributes before a COM_QUERY's text: parameter count, parameter-set
// count (1), and when there are any, a NULL bitmap, the bound flag, type and name
// of each, and their values. Returns the offset of the query text in the command
// packet, or 0 when the bytes are not that shape.
inline uint32_t query_text_offset(const uint8_t* p, uint32_t n) {
  ByteReader r(p + 1, n > 0 ? n - 1 : 0);
  uint64_t count = 0, sets = 0;
  if (!lenenc(r, count) || !lenenc(r, sets) || sets != 1 || count > 4096) return 0;
  if (count > 0) {
    const uint8_t* bitmap = r.current();
    uint8_t bound = 0;
    if (!r.skip((count + 7) / 8) || !r.u8(bound) || bound != 1) return 0;
    uint8_t types[2 * 64];
    const uint32_t typed = static_cast<uint32_t>(std::min<uint64_t>(count, 64));
    for (uint64_t i = 0; i < count; ++i) {
      uint8_t t[2];
      std::string_view name;
      bool whole;
      if (!r.bytes(t, 2) || !lenenc_str(r, name, whole) || !whole) return 0;
      if (i < typed) types[2 * i] = t[0], types[2 * i + 1] = t[1];
    }
    char buf[64];
    for (uint32_t i = 0; i < count; ++i) {
      if (bitmap[i / 8] & (1u << (i % 8))) continue;
      std::string_view v;
      if (i >= typed || !binary_value(r, types[2 * i], types[2 * i + 1] & 0x80, buf, sizeof buf, v)) return 0;
    }
  }
  return static_cast<uint32_t>(r.current() - p);
}

// Where a COM_STMT_EXECUTE's parameters are: the count (the statement's, or the
// one sent when attributes ride along), the NULL bitmap, the bound flag, the types
// when bound (type and flags per parameter; with attributes each has a name after
// it) and the values.
struct ExecParams {
  uint32_t count = 0;
  const uint8_t* bitmap = nullptr;
  bool bound = false;
  uint8_t types[2 * MysqlDecoder::kMaxParams]{};
  uint32_t values = 0;  // offset of the first value
};

inline bool exec_params(const uint8_t* p, uint32_t n, uint32_t stmt_params, bool attrs, ExecParams& out) {
  ByteReader r(p, n);
  uint8_t flags = 0;
  if (!r.skip(5) || !r.u8(flags) || !r.skip(4)) return false;
  uint64_t count = stmt_params;
  if (attrs && (stmt_params > 0 || (flags & kParameterCountAvailable)) && !lenenc(r, count)) return false;
  if (count > 0xffff) return false;
  out.count = static_cast<uint32_t>(count);
  if (count == 0) return true;
  out.bitmap = r.current();
  uint8_t bound = 0;
  if (!r.skip((count + 7) / 8) || !r.u8(bound)) return false;
  out.bound = bound == 1;
  if (out.bound) {
    for (uint32_t i = 0; i < count; ++i) {
      uint8_t t[2];
      if (!r.bytes(t, 2)) return false;
      if (i < MysqlDecoder::kMaxParams) out.types[2 * i] = t[0], out.types[2 * i + 1] = t[1];
      std::string_view name;
      bool whole;
      if (attrs && (!lenenc_str(r, name, whole) || !whole)) return false;
    }
  }
  out.values = static_cast<uint32_t>(r.current() - p);
  return true;
}

}  // namespace tapbeat::mysql
