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

#include "decode/cassandra/cassandra_event.hpp"
#include "decode/cassandra/cassandra_wire.hpp"
#include "decode/pending.hpp"
#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "event/json_writer.hpp"
#include "util/byte_reader.hpp"
#include "util/encode.hpp"

namespace tapbeat {

using namespace cassandra;  // its wire format: cassandra_wire.hpp

static_assert(sizeof(CassandraState) <= kDecoderStateBytes,
              "Cassandra connection state must fit the session slot");

namespace {

// A pending request as kept in the connection's chain: this header, then its query text.
struct Stored {
  int16_t stream;
  uint8_t op, flags, version, ignored;
  uint8_t query_cut;  // its query text is cut (longer than kept, or in a frame longer than read)
  uint8_t pad;
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
  // A RESULT's compressed body opened only as far as its head (kResultPrefix): the
  // rows after the metadata are never read. When the head runs past that, the whole
  // body is opened from these.
  const uint8_t* packed = nullptr;
  uint32_t packed_len = 0;
  uint32_t inflated_len = 0;  // the whole body's decompressed length
  CqlCompressor comp = CqlCompressor::kNone;
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

namespace {

// Bytes passed over after a gap, looking for a frame start, before the connection is
// left: a long frame whose head was lost is passed over (find_message_start takes no
// start inside it), so the bound is as the text protocols' is.
constexpr uint32_t kMaxResyncSkip = 64u << 20;

// A frame (v3/v4) or envelope (v5) header this side sends: its version with the
// direction bit, flags the protocol defines, a known opcode of that direction, a length
// it allows.
bool plausible_header(const uint8_t* p, bool response, bool v5 = false) {
  const uint8_t version = p[0] & 0x7f;
  return (v5 ? version == 5 : version == 3 || version == 4) && ((p[0] & 0x80) != 0) == response &&
         p[1] <= 0x1f && known_op(p[4]) && is_response_op(p[4]) == response &&
         load_be32(p + 5) <= CassandraDecoder::kMaxFrame;
}

// A frame start at p: its length (the offset of the next frame) where its header is
// plausible, else 0 (find_message_start chains it to the next).
uint64_t opens_frame(const uint8_t* p, bool response) {
  return plausible_header(p, response) ? 9ull + load_be32(p + 5) : 0;
}

// A v5 segment header at p: hl bytes (3, or 5 with LZ4) that their CRC24 vouches for,
// a payload of at least a byte. A resync after a gap looks for one: a wrong match is a
// chance of 2^-24 per byte passed over.
bool segment_header_at(const uint8_t* p, int hl) {
  const uint64_t v = load_le(p, hl);
  return (v & 0x1ffff) != 0 && crc24(v, hl) == load_le(p + hl, 3);
}

}  // namespace

DecodeResult CassandraDecoder::data(void* state, const StreamInfo& c, int dir,
                                    std::span<const uint8_t> bytes) {
  CassandraState& st = *static_cast<CassandraState*>(state);
  const uint8_t* p = bytes.data();
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  uint32_t off = 0;
  if (st.resync[dir]) {
    // After a gap: bytes are passed over up to a frame start of this side (v3/v4) or a
    // segment header (v5).
    const int hl = st.compressor == CqlCompressor::kLz4 ? 5 : 3;
    const Resync r =
        st.segmented[dir]
            ? find_message_start(
                  bytes, off, static_cast<uint32_t>(hl + 3), st.resync[dir], kMaxResyncSkip,
                  [&](const uint8_t* q, uint32_t) { return segment_header_at(q, hl) ? kOpensUnframed : 0; })
            : find_message_start(
                  bytes, off, 9, st.resync[dir], kMaxResyncSkip,
                  [&](const uint8_t* q, uint32_t) { return opens_frame(q, dir != st.client); });
    counters_.inc(CassandraStat::resync_skipped_bytes, r.passed);
    if (!r.framed) return r.result;
    off = r.result.consumed;
    counters_.inc(CassandraStat::resynced);
  }
  while (off < n) {
    if (st.skip[dir]) {
      const uint32_t k = std::min(st.skip[dir], n - off);
      st.skip[dir] -= k;
      off += k;
      continue;
    }
    frame_ns_ = c.ts_at(off);
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
  f.ts_ns = frame_ns_;
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
  if (st.seg_lost[dir]) {
    // After a gap: a part of a large envelope whose start was lost is passed over, up
    // to a segment that starts an envelope.
    if (!st.seg_self[dir] && (n < 9 || !plausible_header(p, dir != st.client, true))) {
      counters_.inc(CassandraStat::resync_skipped_bytes, n);
      return true;
    }
    st.seg_lost[dir] = 0;
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
    f.ts_ns = frame_ns_;
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

// A whole v3/v4 body of `out` bytes decompressed into the scratch's buffer.
bool CassandraDecoder::inflate(CqlCompressor comp, const uint8_t* in, uint32_t n, std::size_t out) {
  std::vector<uint8_t>& dst = scratch_->inflated;
  dst.resize(out);
  if (comp == CqlCompressor::kSnappy)
    return snappy::RawUncompress(reinterpret_cast<const char*>(in), n, reinterpret_cast<char*>(dst.data()));
  return out == 0 ||
         LZ4_decompress_safe(reinterpret_cast<const char*>(in + 4), reinterpret_cast<char*>(dst.data()),
                             static_cast<int>(n - 4), static_cast<int>(out)) == static_cast<int>(out);
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
    } else if (in.cut || out > kMaxDecompressed || (in.response && in.op == kResult && out > kResultPrefix)) {
      // A frame read from its head, or one opening past the bound: its first bytes. A
      // result's rows are never read: its head is opened first, the rest only if needed.
      const bool head_only = !in.cut && out <= kMaxDecompressed;
      const std::size_t cap = head_only ? kResultPrefix : kMaxHead;
      counters_.inc(CassandraStat::compressed);
      s.inflated.resize(cap);
      f.body = s.inflated.data();
      f.body_len = static_cast<uint32_t>(
          comp == CqlCompressor::kSnappy ? snappy_prefix(in.body, in.body_len, s.inflated.data(), cap)
                                         : lz4_prefix(in.body + 4, in.body_len - 4, s.inflated.data(), cap));
      if (head_only)
        f.packed = in.body, f.packed_len = in.body_len, f.inflated_len = static_cast<uint32_t>(out),
        f.comp = comp;
      else
        f.cut = true;
    } else if (inflate(comp, in.body, in.body_len, out)) {
      counters_.inc(CassandraStat::compressed);
      f.body = s.inflated.data();
      f.body_len = static_cast<uint32_t>(out);
    } else {
      counters_.inc(CassandraStat::decompress_errors);
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
    request(st, c, f);
  }
  return true;
}

void CassandraDecoder::request(CassandraState& st, const StreamInfo& c, const Frame& f) {
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
  // A stream id taken again while a request on it waits: a client reuses an id only
  // once its response came, so that response was in bytes the capture lost. The
  // waiting request goes out unanswered; left, it would take the new one's response
  // and the new one none.
  if (Request old; pop(st, f.stream, old, false)) {
    counters_.inc(CassandraStat::unmatched_requests);
    if (!old.h.ignored)
      publish(c, st.client, &old, nullptr, {},
              "Unmatched request; its response was in bytes the capture lost");
  }
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
  h.query_cut = cut && qlen;
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
  std::string_view new_prepared;
  bool known = render_response(w, b, f, new_prepared);
  if (!b.ok() && f.packed) {  // the head runs past the part opened: the whole body
    if (inflate(f.comp, f.packed, f.packed_len, f.inflated_len)) {
      Frame whole = f;
      whole.body = s.inflated.data(), whole.body_len = f.inflated_len, whole.packed = nullptr;
      b = Cql(whole.body, whole.body_len);
      w = JsonWriter(s.rendered, sizeof s.rendered);
      new_prepared = {};
      known = render_response(w, b, whole, new_prepared);
    } else {
      counters_.inc(CassandraStat::decompress_errors);
    }
  }
  if (!known || (!b.ok() && !f.cut)) counters_.inc(CassandraStat::malformed);
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

// A response's body as fields: its header when configured, then what its op carries;
// false for a RESULT of a kind the protocol does not have.
bool CassandraDecoder::render_response(JsonWriter& w, Cql& b, const Frame& f,
                                       std::string_view& new_prepared) {
  bool known = true;
  if (cfg_.send_response_header) write_headers(w, f.version, f.flags, f.stream, f.op, f.length);
  if (f.flags & kFlagTracing) b.skip(16);
  if (f.flags & kFlagWarning) string_list(w, "warnings", b);
  if (f.flags & kFlagCustomPayload) b.skip_bytes_map();
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
            known = false;
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
  return known;
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

  counters_.inc(CassandraStat::gaps);
  if (!st.segmented[dir] && st.skip[dir] >= len) {  // inside a frame's tail: the framing survives
    st.skip[dir] -= len;
    return true;
  }
  // The framing lost: the stream is taken up at the next frame start (v3/v4) or the
  // next segment header its CRC24 vouches for (v5); responses still meet their requests
  // by stream id.
  // Before the first message told the sides: the side talking to a configured port
  // is the client; where no port tells, the decoder cannot find its way back
  // (stream.gap_detached).
  if (st.client < 0) st.client = static_cast<int8_t>(cfg_.client_by_port(c.port));
  if (st.client < 0) return false;
  st.skip[dir] = 0;
  st.resync[dir] = 1;
  if (st.segmented[dir]) {
    st.seg_phase[dir] = 0;
    st.envelope_left[dir] = 0;
    st.seg_lost[dir] = 1;
  }
  return true;
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
  static_assert(kMaxQuery == 16 * 1024 && kMaxHead == 128 * 1024, "the note names them");
  if (rq && rq->h.query_cut) t.add_note("query cut: longer than 16 KiB, or in a frame longer than 128 KiB");
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

// Decisive (Cassandra on another protocol's port): a STARTUP naming CQL_VERSION; OPTIONS
// and a mid-stream QUERY are not (a few fixed bytes).
constexpr DetectProbe kProbes[] = {
    // OPTIONS, or STARTUP with its CQL_VERSION option, from the client.
    {R"(^[\x03-\x05]\x00[\s\S]{2}\x05\x00\x00\x00\x00)", true},
    {R"(^[\x03-\x05][\x00-\x1f][\s\S]{2}\x01\x00\x00[\s\S]{2}\x00[\x01-\x08][\s\S]{0,48}CQL_VERSION)", true,
     true},
    // A connection picked up after its STARTUP: a QUERY or PREPARE (v3/v4 framing), its
    // body's long string a CQL statement (the header's and the string's lengths under
    // 16 MiB, the statement's first keyword in either case).
    {R"(^[\x03\x04][\x00-\x1f][\s\S]{2}[\x07\x09]\x00[\s\S]{3}\x00[\s\S]{3}\s*(?i:SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|USE|BEGIN|TRUNCATE|GRANT|REVOKE|LIST)\s)",
     true},
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
      // Packetbeat's field types where dynamic mapping would differ.
      .index_template =
          {.dynamic_templates =
               R"({"cassandra_stream": {"path_match": "cassandra.*.headers.stream", "mapping": {"type": "keyword"}}}, {"cassandra_version": {"path_match": "cassandra.*.headers.version", "mapping": {"type": "long"}}})"},
      .exercise_options = "{compressor: snappy, ignored_ops: [OPTIONS]}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
