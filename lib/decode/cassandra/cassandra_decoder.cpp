#include "decode/cassandra/cassandra_decoder.hpp"

#include <lz4.h>
#include <snappy.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "decode/pending.hpp"
#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "event/json_writer.hpp"
#include "util/byte_reader.hpp"
#include "util/encode.hpp"

namespace tapbeat {

static_assert(sizeof(CassandraState) <= kDecoderStateBytes,
              "Cassandra connection state must fit the session slot");

namespace {

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

bool known_op(uint8_t op) { return op <= kCqlMaxOp && kCqlOpNames[op]; }

bool is_response_op(uint8_t op) {
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
constexpr uint8_t kFlagCompress = 0x01, kFlagTracing = 0x02, kFlagCustomPayload = 0x04, kFlagWarning = 0x08;
// Rows metadata flags.
constexpr int32_t kGlobalTableSpec = 0x01, kHasMorePages = 0x02, kNoMetadata = 0x04, kMetadataChanged = 0x08;

constexpr uint32_t kMaxListItems = 64;    // entries of a string list or map rendered
constexpr std::size_t kMaxString = 1024;  // a string rendered in a field
constexpr int kMaxTypeDepth = 16;

// Names joined by '|' for a bit set, Packetbeat's single names where one bit is set.
std::string_view flag_names(char* buf, std::size_t cap, uint32_t flags, std::span<const char* const> names) {
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

std::string_view header_flags(char* buf, std::size_t cap, uint8_t flags) {
  static const char* const kNames[] = {"Compress", "Tracing", "CustomPayload", "Warning", "UseBeta"};
  return flag_names(buf, cap, flags, kNames);
}

std::string_view row_flags(char* buf, std::size_t cap, int32_t flags) {
  static const char* const kNames[] = {"GlobalTableSpec", "HasMorePages", "NoMetaData", "MetadataChanged"};
  return flag_names(buf, cap, static_cast<uint32_t>(flags), kNames);
}

const char* error_type(int32_t code) {
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

const char* consistency(uint16_t c) {
  static const char* const kNames[] = {"ANY",    "ONE",          "TWO",          "THREE",
                                       "QUORUM", "ALL",          "LOCAL_QUORUM", "EACH_QUORUM",
                                       "SERIAL", "LOCAL_SERIAL", "LOCAL_ONE"};
  return c < std::size(kNames) ? kNames[c] : "UNKNOWN";
}

// Cassandra's CRC24 of a segment header's first len bytes (little-endian value).
uint32_t crc24(uint64_t bytes, int len) {
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

uint32_t payload_crc_init() {
  static const uint8_t kInit[4] = {0xFA, 0x2D, 0x55, 0xCA};
  return static_cast<uint32_t>(crc32(0, kInit, 4));
}

// The first bytes of a snappy or LZ4 block whose end lies past what was read (a frame
// longer than kMaxHead): elements are decoded while their input is at hand, up to cap
// bytes of output. Returns the bytes produced; an element that does not make sense
// ends the prefix.
std::size_t snappy_prefix(const uint8_t* in, std::size_t n, uint8_t* out, std::size_t cap) {
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
    for (std::size_t k = 0; k < len && o < cap; ++k, ++o) out[o] = out[o - off];
  }
  return o;
}

std::size_t lz4_prefix(const uint8_t* in, std::size_t n, uint8_t* out, std::size_t cap) {
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
    for (std::size_t k = 0; k < len && o < cap; ++k, ++o) out[o] = out[o - off];
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

void field_cut(JsonWriter& w, std::string_view k, std::string_view v) { w.field(k, v.substr(0, kMaxString)); }

void hex_upper(JsonWriter& w, std::string_view k, std::string_view v) {
  char buf[2 * 256 + 1];
  const std::size_t n = std::min<std::size_t>(v.size(), 256);
  for (std::size_t i = 0; i < n; ++i) std::snprintf(buf + 2 * i, 3, "%02X", uint8_t(v[i]));
  w.field(k, std::string_view(buf, 2 * n));
}

// A frame header as Packetbeat's cassandra.*.headers (the version as a string).
void write_headers(JsonWriter& w, uint8_t version, uint8_t flags, int16_t stream, uint8_t op,
                   uint32_t length) {
  char v[4], fb[96];
  w.begin_object("headers");
  w.field("version",
          std::string_view(v, static_cast<std::size_t>(std::snprintf(v, sizeof v, "%u", version))));
  w.field("flags", header_flags(fb, sizeof fb, flags));
  w.field_int("stream", stream);
  w.field("op", kCqlOpNames[op]);
  w.field_uint("length", length);
  w.end_object();
}

// A prepared id as Packetbeat shows it: a UUID when 16 bytes, else hex.
void prepared_id(JsonWriter& w, std::string_view k, std::string_view id) {
  if (id.size() != 16) return hex_upper(w, k, id);
  char buf[40];
  std::size_t n = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) buf[n++] = '-';
    n += static_cast<std::size_t>(std::snprintf(buf + n, sizeof buf - n, "%02x", uint8_t(id[i])));
  }
  w.field(k, std::string_view(buf, n));
}

// A [string list] rendered as an array (its first kMaxListItems entries); a key
// past kMaxListItems in the enclosing object is walked over, not rendered.
void string_list(JsonWriter& w, std::string_view k, Cql& b, bool render = true) {
  const uint16_t n = b.short_();
  if (!render) {
    for (uint16_t i = 0; i < n && b.ok(); ++i) b.string();
    return;
  }
  w.begin_array(k);
  for (uint16_t i = 0; i < n && b.ok(); ++i) {
    const std::string_view s = b.string();
    if (b.ok() && i < kMaxListItems) w.string(s.substr(0, kMaxString));
  }
  w.end_array();
}

// Result metadata (rows, or a prepared statement's): Packetbeat's meta fields; the
// column specs are walked to reach what follows.
void metadata(JsonWriter& w, std::string_view k, Cql& b, int version, bool prepared_req) {
  char fb[96];
  const int32_t flags = b.int_();
  const int32_t cols = b.int_();
  w.begin_object(k);
  w.field("flags", row_flags(fb, sizeof fb, flags));
  w.field_int("col_count", cols);
  if (prepared_req && version >= 4) {
    const int32_t pk = b.int_();
    w.begin_array("pkey_columns");
    for (int32_t i = 0; i < pk && b.ok() && i < 1024; ++i) w.uint(b.short_());
    w.end_array();
  }
  if (!prepared_req && (flags & kHasMorePages)) hex_upper(w, "paging_state", b.bytes());
  if (!prepared_req && version >= 5 && (flags & kMetadataChanged)) b.short_bytes();
  if (!(flags & kNoMetadata) && b.ok()) {
    const bool global = flags & kGlobalTableSpec;
    if (global) {
      field_cut(w, "keyspace", b.string());
      field_cut(w, "table", b.string());
    }
    for (int32_t i = 0; i < cols && b.ok(); ++i) {
      if (!global) {
        const std::string_view ks = b.string(), tb = b.string();
        if (i == 0 && b.ok()) field_cut(w, "keyspace", ks), field_cut(w, "table", tb);
      }
      b.string();
      b.skip_type();
    }
  }
  w.end_object();
}

void schema_change(JsonWriter& w, std::string_view k, Cql& b) {
  w.begin_object(k);
  field_cut(w, "change", b.string());
  const std::string_view target = b.string();
  field_cut(w, "target", target);
  if (target == "KEYSPACE") {
    field_cut(w, "keyspace", b.string());
  } else if (target == "TABLE" || target == "TYPE") {
    field_cut(w, "keyspace", b.string());
    field_cut(w, "object", b.string());
  } else if (target == "FUNCTION" || target == "AGGREGATE") {
    field_cut(w, "keyspace", b.string());
    field_cut(w, "name", b.string());
    string_list(w, "args", b);
  }
  w.end_object();
}

void error_body(JsonWriter& w, Cql& b, int version) {
  const int32_t code = b.int_();
  const std::string_view msg = b.string();
  w.begin_object("error");
  w.field_int("code", code);
  field_cut(w, "msg", msg);
  w.field("type", error_type(code));
  auto reason_map = [&]() -> int32_t {  // v5: <endpoint><failure code> pairs
    const int32_t n = b.int_();
    for (int32_t i = 0; i < n && b.ok(); ++i) b.skip(b.byte()), b.short_();
    return n;
  };
  switch (code) {
    case 0x1000:
      w.begin_object("details");
      w.field("read_consistency", consistency(b.short_()));
      w.field_int("required", b.int_());
      w.field_int("alive", b.int_());
      w.end_object();
      break;
    case 0x1100:
    case 0x1700:
      w.begin_object("details");
      w.field("read_consistency", consistency(b.short_()));
      w.field_int("received", b.int_());
      w.field_int("blockfor", b.int_());
      if (code == 0x1100) field_cut(w, "write_type", b.string());
      w.end_object();
      break;
    case 0x1200:
      w.begin_object("details");
      w.field("read_consistency", consistency(b.short_()));
      w.field_int("received", b.int_());
      w.field_int("blockfor", b.int_());
      w.field_bool("data_present", b.byte() != 0);
      w.end_object();
      break;
    case 0x1300:
    case 0x1500: {
      w.begin_object("details");
      w.field("read_consistency", consistency(b.short_()));
      w.field_int("received", b.int_());
      w.field_int("blockfor", b.int_());
      const int32_t failures = version >= 5 ? reason_map() : b.int_();
      w.field_int("num_failures", failures);
      if (code == 0x1300)
        w.field_bool("data_present", b.byte() != 0);
      else
        field_cut(w, "write_type", b.string());
      w.end_object();
      break;
    }
    case 0x1400:
      w.begin_object("details");
      field_cut(w, "keyspace", b.string());
      field_cut(w, "function", b.string());
      string_list(w, "arg_types", b);
      w.end_object();
      break;
    case 0x2400:
      w.begin_object("details");
      field_cut(w, "keyspace", b.string());
      field_cut(w, "table", b.string());
      w.end_object();
      break;
    case 0x2500:
      w.begin_object("details");
      hex_upper(w, "stmt_id", b.short_bytes());
      w.end_object();
      break;
    default:
      break;
  }
  w.end_object();
}

// A pending request as kept in the connection's chain: this header, then its query text.
struct Stored {
  int16_t stream;
  uint8_t op, flags, version, ignored;
  uint8_t pad[2];
  uint32_t length;
  uint32_t texts;  // bytes of query text after the header
  uint64_t start_ns;
  uint64_t bytes;
};

}  // namespace

struct CassandraDecoder::Frame {
  uint8_t version = 0;
  bool response = false;
  uint8_t flags = 0;
  int16_t stream = 0;
  uint8_t op = 0;
  uint32_t length = 0;  // body length in the header
  const uint8_t* body = nullptr;
  uint32_t body_len = 0;  // body bytes at hand (may be cut)
  bool cut = false;
  uint64_t ts_ns = 0;
};

struct CassandraDecoder::Request {
  Stored h{};
  std::string_view query;
};

struct CassandraScratch {
  std::vector<uint8_t> inflated;  // a decompressed v3/v4 body
  std::vector<uint8_t> segment;   // a decompressed v5 segment payload
  char query[CassandraDecoder::kMaxQuery];
  char rendered[CassandraDecoder::kMaxResponseText];
  PendingRecords pending;  // requests awaiting responses, taken out by stream id
  explicit CassandraScratch(ChainStore& store) : pending(store) {}
  struct Prepared {
    uint8_t id_len;
    uint8_t id[32];
    uint16_t query_len;
    char query[CassandraDecoder::kMaxPreparedQuery];
  };
  std::vector<Prepared> prepared{CassandraDecoder::kPreparedSlots};
  uint32_t crc_init = payload_crc_init();

  std::size_t slot(std::string_view id) const {
    uint32_t h = 2166136261u;
    for (char ch : id) h = (h ^ uint8_t(ch)) * 16777619u;
    return h % prepared.size();
  }
  std::string_view find(std::string_view id) const {
    if (id.empty() || id.size() > 32) return {};
    const Prepared& p = prepared[slot(id)];
    if (p.id_len != id.size() || std::memcmp(p.id, id.data(), id.size()) != 0) return {};
    return {p.query, p.query_len};
  }
  void remember(std::string_view id, std::string_view q) {
    if (id.empty() || id.size() > 32) return;
    Prepared& p = prepared[slot(id)];
    p.id_len = static_cast<uint8_t>(id.size());
    std::memcpy(p.id, id.data(), id.size());
    p.query_len = static_cast<uint16_t>(std::min<std::size_t>(q.size(), sizeof p.query));
    std::memcpy(p.query, q.data(), p.query_len);
  }
};

CassandraDecoder::CassandraDecoder(const DecoderSetup& s)
    : DecoderCommon<CassandraStat>(s),
      cfg_(s.settings<CassandraSettings>()),
      scratch_(std::make_unique<CassandraScratch>(s.store)) {}

CassandraDecoder::~CassandraDecoder() = default;

void CassandraDecoder::open(void* state) {
  auto& st = *static_cast<CassandraState*>(state);
  st = CassandraState{};
  st.client = -1;
  st.compressor = CqlCompressor::kNone;
}

DecodeResult CassandraDecoder::data(void* state, const StreamInfo& c, int dir,
                                    std::span<const uint8_t> bytes) {
  CassandraState& st = *static_cast<CassandraState*>(state);
  const uint8_t* p = bytes.data();
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  uint32_t off = 0;
  while (off < n) {
    if (st.skip[dir]) {
      const uint32_t k = std::min(st.skip[dir], n - off);
      st.skip[dir] -= k;
      off += k;
      continue;
    }
    const DecodeResult r =
        st.segmented[dir] ? segments(st, c, dir, p + off, n - off) : legacy(st, c, dir, p + off, n - off);
    off += r.consumed;
    if (r.verdict != Verdict::kOk) return {off, r.need, r.verdict};
  }
  return {off, 0, Verdict::kOk};
}

// The 9-byte header of a frame (v3/v4) or envelope (v5), version min_version..5;
// false (counted) when it is not one.
bool CassandraDecoder::read_header(const uint8_t* p, uint8_t min_version, Frame& f) {
  f.version = p[0] & 0x7f;
  f.response = p[0] & 0x80;
  f.flags = p[1];
  f.stream = static_cast<int16_t>(p[2] << 8 | p[3]);
  f.op = p[4];
  f.length = load_be32(p + 5);
  if (f.version < min_version || f.version > 5 || f.length > kMaxFrame) {
    counters_.inc(CassandraStat::malformed);
    return false;
  }
  if (!known_op(f.op) || is_response_op(f.op) != f.response) {
    counters_.inc(CassandraStat::unknown_opcodes);
    return false;
  }
  return true;
}

// One v3/v4 frame (or a v5 frame before the switch to segments).
DecodeResult CassandraDecoder::legacy(CassandraState& st, const StreamInfo& c, int dir, const uint8_t* p,
                                      uint32_t n) {
  if (n < 9) return {0, 9, Verdict::kNeedMore};
  Frame f;
  if (!read_header(p, 3, f)) return {0, 0, Verdict::kViolation};
  const uint32_t head = std::min<uint32_t>(9 + f.length, kMaxHead);
  if (n < head) return {0, head, Verdict::kNeedMore};
  f.body = p + 9;
  f.body_len = head - 9;
  f.cut = head < 9 + f.length;
  f.ts_ns = c.ts_ns;
  if (f.cut) counters_.inc(CassandraStat::too_large);
  if (!frame(st, c, dir, f)) return {head, 0, Verdict::kViolation};
  st.skip[dir] = 9 + f.length - head;
  return {head, 0, Verdict::kOk};
}

// v5 segments: header (CRC24), payload, CRC32, one part at a time.
DecodeResult CassandraDecoder::segments(CassandraState& st, const StreamInfo& c, int dir, const uint8_t* p,
                                        uint32_t n) {
  CassandraScratch& s = *scratch_;
  switch (st.seg_phase[dir]) {
    case 0: {
      const bool compressed = st.compressor == CqlCompressor::kLz4;
      const int hl = compressed ? 5 : 3;
      if (n < static_cast<uint32_t>(hl + 3)) return {0, static_cast<uint32_t>(hl + 3), Verdict::kNeedMore};
      const uint64_t v = load_le(p, hl);
      if (crc24(v, hl) != load_le(p + hl, 3)) {
        counters_.inc(CassandraStat::crc_errors);
        return {0, 0, Verdict::kViolation};
      }
      st.payload_left[dir] = static_cast<uint32_t>(v & 0x1ffff);
      st.seg_raw_len[dir] = compressed ? static_cast<uint32_t>((v >> 17) & 0x1ffff) : 0;
      st.seg_self[dir] = ((v >> (compressed ? 34 : 17)) & 1) != 0;
      st.seg_phase[dir] = 1;
      return {static_cast<uint32_t>(hl + 3), 0, Verdict::kOk};
    }
    case 1: {
      const uint32_t len = st.payload_left[dir];
      if (n < len) return {0, len, Verdict::kNeedMore};
      st.crc[dir] = static_cast<uint32_t>(crc32(s.crc_init, p, len));
      const uint8_t* body = p;
      uint32_t body_len = len;
      if (st.seg_raw_len[dir]) {  // LZ4 (0: stored as it is)
        s.segment.resize(st.seg_raw_len[dir]);
        const int r =
            LZ4_decompress_safe(reinterpret_cast<const char*>(p), reinterpret_cast<char*>(s.segment.data()),
                                static_cast<int>(len), static_cast<int>(st.seg_raw_len[dir]));
        if (r != static_cast<int>(st.seg_raw_len[dir])) {
          counters_.inc(CassandraStat::decompress_errors);
          body_len = 0;
        } else {
          counters_.inc(CassandraStat::compressed);
          body = s.segment.data();
          body_len = st.seg_raw_len[dir];
        }
      }
      st.seg_phase[dir] = 2;
      if (body_len && !payload(st, c, dir, body, body_len)) return {len, 0, Verdict::kViolation};
      return {len, 0, Verdict::kOk};
    }
    default: {
      if (n < 4) return {0, 4, Verdict::kNeedMore};
      if (load_le(p, 4) != st.crc[dir]) counters_.inc(CassandraStat::crc_errors);
      st.seg_phase[dir] = 0;
      return {4, 0, Verdict::kOk};
    }
  }
}

// A v5 segment's payload: whole envelopes, or a part of one large envelope.
bool CassandraDecoder::payload(CassandraState& st, const StreamInfo& c, int dir, const uint8_t* p,
                               uint32_t n) {
  if (!st.seg_self[dir] && st.envelope_left[dir]) {  // a later part of a large envelope
    st.envelope_left[dir] -= std::min(st.envelope_left[dir], n);
    return true;
  }
  if (st.envelope_left[dir]) {  // whole envelopes where a large one's remainder was due
    counters_.inc(CassandraStat::malformed);
    st.envelope_left[dir] = 0;
  }
  uint32_t off = 0;
  while (off < n) {
    if (n - off < 9) {
      counters_.inc(CassandraStat::malformed);
      return true;
    }
    const uint8_t* e = p + off;
    Frame f;
    if (!read_header(e, 5, f)) return false;
    const uint32_t have = n - off - 9;
    f.body = e + 9;
    f.body_len = std::min(have, f.length);
    f.cut = f.length > have;
    f.ts_ns = c.ts_ns;
    if (f.cut && st.seg_self[dir]) {  // a self-contained segment holds whole envelopes
      counters_.inc(CassandraStat::malformed);
      return true;
    }
    if (f.cut) {
      st.envelope_left[dir] = f.length - have;
      counters_.inc(CassandraStat::too_large);
    }
    if (!frame(st, c, dir, f)) return false;
    off += 9 + f.body_len;
  }
  return true;
}

bool CassandraDecoder::frame(CassandraState& st, const StreamInfo& c, int dir, const Frame& in) {
  if (st.client < 0) st.client = static_cast<int8_t>(in.response ? 1 - dir : dir);
  if ((dir == st.client) == in.response) {  // a response from the client: not this protocol
    counters_.inc(CassandraStat::malformed);
    return false;
  }
  Frame f = in;
  // v3/v4 bodies compressed as STARTUP negotiated.
  if ((f.flags & kFlagCompress) && f.version < 5) {
    CassandraScratch& s = *scratch_;
    const CqlCompressor comp = st.compressor != CqlCompressor::kNone ? st.compressor : cfg_.compressor;
    f.body_len = 0;
    // The uncompressed length: snappy's varint preamble, or LZ4's big-endian prefix.
    std::size_t out = 0;
    const bool sized =
        comp == CqlCompressor::kSnappy
            ? snappy::GetUncompressedLength(reinterpret_cast<const char*>(in.body), in.body_len, &out)
            : in.body_len >= 4 && (out = load_be32(in.body), true);
    if (comp == CqlCompressor::kNone) {
      counters_.inc(CassandraStat::no_compressor);
    } else if (!sized) {
      counters_.inc(CassandraStat::decompress_errors);
    } else if (in.cut || out > kMaxDecompressed) {
      // A frame read from its head, or one opening past the bound: its first bytes.
      counters_.inc(CassandraStat::compressed);
      s.inflated.resize(kMaxHead);
      f.body = s.inflated.data();
      f.body_len =
          static_cast<uint32_t>(comp == CqlCompressor::kSnappy
                                    ? snappy_prefix(in.body, in.body_len, s.inflated.data(), kMaxHead)
                                    : lz4_prefix(in.body + 4, in.body_len - 4, s.inflated.data(), kMaxHead));
      f.cut = true;
    } else {
      s.inflated.resize(out);
      const bool ok = comp == CqlCompressor::kSnappy
                          ? snappy::RawUncompress(reinterpret_cast<const char*>(in.body), in.body_len,
                                                  reinterpret_cast<char*>(s.inflated.data()))
                          : out == 0 || LZ4_decompress_safe(reinterpret_cast<const char*>(in.body + 4),
                                                            reinterpret_cast<char*>(s.inflated.data()),
                                                            static_cast<int>(in.body_len - 4),
                                                            static_cast<int>(out)) == static_cast<int>(out);
      if (ok) {
        counters_.inc(CassandraStat::compressed);
        f.body = s.inflated.data();
        f.body_len = static_cast<uint32_t>(out);
      } else {
        counters_.inc(CassandraStat::decompress_errors);
      }
    }
  }
  if (f.response) {
    counters_.inc(CassandraStat::responses);
    response(st, c, f);
    // v5 framing starts after the server's answer to STARTUP.
    if (f.version == 5 && !st.segmented[0] && (f.op == kReady || f.op == kAuthenticate))
      st.segmented[0] = st.segmented[1] = 1;
  } else {
    counters_.inc(CassandraStat::requests);
    request(st, f);
  }
  return true;
}

void CassandraDecoder::request(CassandraState& st, const Frame& f) {
  CassandraScratch& s = *scratch_;
  Cql b(f.body, f.body_len);
  if (f.flags & kFlagCustomPayload) b.skip_bytes_map();
  std::size_t qlen = 0;
  bool cut = f.cut;
  auto put = [&](std::string_view v) {
    const std::size_t k = std::min(v.size(), sizeof s.query - qlen);
    if (k) std::memcpy(s.query + qlen, v.data(), k);
    qlen += k;
    if (k < v.size()) cut = true;
  };
  switch (f.op) {
    case kQuery:
    case kPrepare: {
      std::size_t missing = 0;
      put(b.long_string(f.cut, &missing));
      if (missing) cut = true;
      break;
    }
    case kExecute: {
      const std::string_view id = b.short_bytes();
      const std::string_view q = s.find(id);
      if (b.ok() && q.empty()) counters_.inc(CassandraStat::unknown_prepared);
      put(q);
      break;
    }
    case kBatch: {
      b.byte();
      const uint16_t n = b.short_();
      for (uint16_t i = 0; i < n && b.ok(); ++i) {
        const uint8_t kind = b.byte();
        std::string_view q;
        if (kind == 0) {
          q = b.long_string(false);
        } else {
          const std::string_view id = b.short_bytes();
          q = s.find(id);
          if (b.ok() && q.empty()) counters_.inc(CassandraStat::unknown_prepared);
        }
        if (!b.ok()) break;
        if (qlen) put("; ");
        put(q.empty() ? std::string_view("?") : q);
        const uint16_t values = b.short_();
        for (uint16_t v = 0; v < values && b.ok(); ++v) b.bytes();
      }
      break;
    }
    case kStartup: {
      const uint16_t n = b.short_();
      for (uint16_t i = 0; i < n && b.ok(); ++i) {
        const std::string_view k = b.string(), v = b.string();
        if (b.ok() && k == "COMPRESSION")
          st.compressor = v == "snappy" ? CqlCompressor::kSnappy
                          : v == "lz4"  ? CqlCompressor::kLz4
                                        : CqlCompressor::kNone;
      }
      break;
    }
    default:
      break;
  }
  if (!b.ok() && !f.cut) counters_.inc(CassandraStat::malformed);
  if (cut && qlen) counters_.inc(CassandraStat::query_cut);
  if (st.n_pending >= kMaxPending) {
    counters_.inc(CassandraStat::queue_full);
    return;
  }
  Stored h{};
  h.stream = f.stream;
  h.op = f.op;
  h.flags = f.flags;
  h.version = f.version;
  h.ignored = (cfg_.ignored_ops >> f.op) & 1;
  h.length = f.length;
  h.texts = static_cast<uint32_t>(qlen);
  h.start_ns = f.ts_ns;
  h.bytes = 9ull + f.length;
  if (!s.pending.push(st.pending, st.n_pending, h, {std::string_view(s.query, qlen)}))
    counters_.inc(CassandraStat::store_full);
}

void CassandraDecoder::response(CassandraState& st, const StreamInfo& c, const Frame& f) {
  CassandraScratch& s = *scratch_;
  Request rq;
  const bool pushed = f.op == kEvent && f.stream < 0;
  if (!pushed && !pop(st, f.stream, rq, false)) {
    counters_.inc(CassandraStat::unmatched_responses);
    return;
  }
  Cql b(f.body, f.body_len);
  JsonWriter w(s.rendered, sizeof s.rendered);
  if (cfg_.send_response_header) write_headers(w, f.version, f.flags, f.stream, f.op, f.length);
  if (f.flags & kFlagTracing) b.skip(16);
  if (f.flags & kFlagWarning) string_list(w, "warnings", b);
  if (f.flags & kFlagCustomPayload) b.skip_bytes_map();
  std::string_view new_prepared;
  if (f.body_len || !f.length) switch (f.op) {
      case kError:
        error_body(w, b, f.version);
        break;
      case kResult: {
        const int32_t kind = b.int_();
        w.begin_object("result");
        switch (kind) {
          case 1:
            w.field("type", "void");
            break;
          case 2: {
            w.field("type", "rows");
            w.begin_object("rows");
            metadata(w, "meta", b, f.version, false);
            const int32_t rows = b.int_();
            if (b.ok()) w.field_int("num_rows", rows);
            w.end_object();
            break;
          }
          case 3:
            w.field("type", "set_keyspace");
            field_cut(w, "keyspace", b.string());
            break;
          case 4: {
            w.field("type", "prepared");
            w.begin_object("prepared");
            new_prepared = b.short_bytes();
            prepared_id(w, "prepared_id", new_prepared);
            if (f.version >= 5) b.short_bytes();  // result metadata id
            metadata(w, "req_meta", b, f.version, true);
            metadata(w, "resp_meta", b, f.version, false);
            w.end_object();
            break;
          }
          case 5:
            w.field("type", "schemaChanged");
            schema_change(w, "schema_change", b);
            break;
          default:
            counters_.inc(CassandraStat::malformed);
            break;
        }
        w.end_object();
        break;
      }
      case kSupported: {
        const uint16_t n = b.short_();
        w.begin_object("supported");
        for (uint16_t i = 0; i < n && b.ok(); ++i) {
          const std::string_view k = b.string();
          string_list(w, k.substr(0, kMaxString), b, i < kMaxListItems);
        }
        w.end_object();
        break;
      }
      case kAuthenticate:
        w.begin_object("authentication");
        field_cut(w, "class", b.string());
        w.end_object();
        break;
      case kEvent: {
        const std::string_view type = b.string();
        w.begin_object("event");
        field_cut(w, "type", type);
        if (type == "TOPOLOGY_CHANGE" || type == "STATUS_CHANGE") {
          field_cut(w, "change", b.string());
          char host[64];  // format_ip writes up to 46
          int32_t port = 0;
          if (b.inet(host, port)) {
            w.field("host", host);
            w.field_int("port", port);
          }
        } else if (type == "SCHEMA_CHANGE") {
          schema_change(w, "schema_change", b);
        }
        w.end_object();
        break;
      }
      default:  // READY, AUTH_CHALLENGE, AUTH_SUCCESS: nothing published of the body (tokens stay out)
        break;
    }
  if (!b.ok() && !f.cut) counters_.inc(CassandraStat::malformed);
  if (w.overflow()) {
    counters_.inc(CassandraStat::response_cut);
    w = JsonWriter(s.rendered, sizeof s.rendered);
  }
  if (!pushed && rq.h.op == kPrepare && !new_prepared.empty() && b.ok()) s.remember(new_prepared, rq.query);
  const bool ignored = ((cfg_.ignored_ops >> f.op) & 1) || (!pushed && rq.h.ignored);
  if (ignored) {
    counters_.inc(CassandraStat::ignored);
    return;
  }
  if (pushed) {
    counters_.inc(CassandraStat::events);
    publish(c, st.client, nullptr, &f, w.view(), nullptr);
  } else {
    counters_.inc(CassandraStat::transactions);
    publish(c, st.client, &rq, &f, w.view(), nullptr);
  }
}

// The pending request with this stream id (any: the oldest), removed from the chain;
// its query stays valid until the next pop.
bool CassandraDecoder::pop(CassandraState& st, int16_t stream, Request& out, bool any) {
  bool lost = false;
  if (!scratch_->pending.take(
          st.pending, st.n_pending, [&](const Stored& r) { return any || r.stream == stream; }, out.h,
          out.query, lost))
    return false;
  if (lost) counters_.inc(CassandraStat::store_full);
  return true;
}

bool CassandraDecoder::gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
  CassandraState& st = *static_cast<CassandraState*>(state);
  (void)c;
  counters_.inc(CassandraStat::gaps);
  if (!st.segmented[dir] && st.skip[dir] >= len) {  // inside a frame's tail: the framing survives
    st.skip[dir] -= len;
    return true;
  }
  return false;
}

void CassandraDecoder::close(void* state, const StreamInfo& c) {
  CassandraState& st = *static_cast<CassandraState*>(state);
  Request rq;
  while (st.n_pending && pop(st, 0, rq, true)) {
    counters_.inc(CassandraStat::unmatched_requests);
    if (!rq.h.ignored) publish(c, st.client, &rq, nullptr, {}, "Unmatched request");
  }
  store_.release(st.pending);
  st.n_pending = 0;
}

bool CassandraDecoder::expire(void* state, const StreamInfo& c, uint64_t now_ns) {
  CassandraState& st = *static_cast<CassandraState*>(state);
  while (st.n_pending) {
    Stored h{};
    if (!scratch_->pending.front(st.pending, st.n_pending, h) || h.start_ns + cfg_.timeout_ns >= now_ns)
      break;
    Request rq;
    if (!pop(st, 0, rq, true)) break;
    counters_.inc(CassandraStat::unmatched_requests);
    if (!rq.h.ignored) publish(c, st.client, &rq, nullptr, {}, "Unmatched request");
  }
  return st.n_pending > 0;
}

void CassandraDecoder::publish(const StreamInfo& c, int client, const Request* rq, const Frame* rp,
                               std::string_view rendered, const char* note) {
  TransactionFields t;
  t.type = "cassandra";
  t.ok = !note && !(rp && rp->op == kError);
  t.error = note;
  t.start_ns = rq ? rq->h.start_ns : rp->ts_ns;
  t.end_ns = rp ? std::max(rp->ts_ns, t.start_ns) : t.start_ns;
  set_connection(t, c, client, 6, "cassandra");
  t.client_bytes = rq ? rq->h.bytes : 0;
  t.server_bytes = rp ? 9ull + rp->length : 0;
  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    w.begin_object("cassandra");
    if (!rq) w.field_bool("no_request", true);
    if (rq && cfg_.send_request && (cfg_.send_request_header || !rq->query.empty())) {
      w.begin_object("request");
      if (cfg_.send_request_header)
        write_headers(w, rq->h.version, rq->h.flags, rq->h.stream, rq->h.op, rq->h.length);
      if (!rq->query.empty()) w.field("query", rq->query);
      w.end_object();
    }
    if (rp && cfg_.send_response && !rendered.empty()) {
      w.begin_object("response");
      w.raw(rendered);
      w.end_object();
    }
    w.end_object();
    end_transaction(w);
  });
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<CassandraDecoder>(s); }

constexpr DetectProbe kProbes[] = {
    // OPTIONS, or STARTUP with its CQL_VERSION option, from the client.
    {R"(^[\x03-\x05]\x00[\s\S]{2}\x05\x00\x00\x00\x00)", true},
    {R"(^[\x03-\x05][\x00-\x1f][\s\S]{2}\x01\x00\x00[\s\S]{2}\x00[\x01-\x08][\s\S]{0,48}CQL_VERSION)", true},
};

const OptionSpec kSettingOptions[] = {
    {"send_request_header", OptionKind::kBool},
    {"send_response_header", OptionKind::kBool},
    {"compressor", OptionKind::kString},
    {"ignored_ops", OptionKind::kStringList},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  auto out = std::make_unique<CassandraSettings>();
  CassandraSettings& s = *out;
  s.send_request_header = p.flag("send_request_header", true);
  s.send_response_header = p.flag("send_response_header", true);
  if (p.options["compressor"] && !p.options["compressor"].IsNull()) {
    const std::string c = p.options["compressor"].as<std::string>();
    if (!c.empty() && c != "snappy" && c != "lz4")
      throw OptionError("compressor", "'" + c + "' is not one of snappy, lz4");
    s.compressor = c == "snappy" ? CqlCompressor::kSnappy
                   : c == "lz4"  ? CqlCompressor::kLz4
                                 : CqlCompressor::kNone;
  }
  if (p.options["ignored_ops"] && p.options["ignored_ops"].IsSequence()) {
    const std::vector<std::string> ops = p.texts("ignored_ops");
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const int op = cql_opcode(ops[i]);
      if (op >= 0) {
        s.ignored_ops |= 1u << op;
        continue;
      }
      std::string known;
      for (const char* name : kCqlOpNames)
        if (name) known += (known.empty() ? "" : ", ") + std::string(name);
      throw OptionError("ignored_ops[" + std::to_string(i) + "]",
                        "'" + ops[i] + "' is not a CQL opcode (" + known + ")");
    }
  }
  return out;
}

const uint16_t kDefaultPorts[] = {9042};

}  // namespace

const DecoderDescriptor& cassandra_protocol() {
  static const DecoderDescriptor d = {
      .name = "cassandra",
      .transports = kTransportTcp,
      .probes = kProbes,
      .state_size = sizeof(CassandraState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kCassandraCounters,
      .violations = static_cast<int>(CassandraStat::violations),
      .index_template = {},
      .exercise_options = "{compressor: snappy, ignored_ops: [OPTIONS]}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
