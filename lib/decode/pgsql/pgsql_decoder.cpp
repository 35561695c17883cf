#include "decode/pgsql/pgsql_decoder.hpp"

#include <algorithm>
#include <cstring>

#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "util/byte_reader.hpp"
#include "util/fnv.hpp"

namespace tapbeat {

static_assert(sizeof(PgsqlState) <= kDecoderStateBytes,
              "PostgreSQL connection state must fit the session slot");

namespace {

enum Phase : uint8_t {
  kPhaseQueries = 0,    // also where a capture that starts mid-connection begins
  kPhaseAuth,           // after the startup message, up to the first ReadyForQuery
  kPhaseEncryptAnswer,  // an SSL or GSS request waits for its one-byte answer
  kPhaseDone,
};

enum RespFlag : uint8_t { kError = 1, kGap = 2, kCompleted = 8 };
// PgsqlState::req_flags and Request::flags.
enum ReqFlag : uint8_t {
  kReqLost = 1,      // a message of the request lost its end to the capture
  kReqQueryCut = 2,  // its query is longer than kMaxQueryHead: kept that far
};
constexpr const char* kQueryCutNote = "query longer than 16 KiB; cut";
static_assert(PgsqlDecoder::kMaxQueryHead == 16 * 1024, "the note names it");
enum RequestFlag : uint32_t { kNotPublished = 1 };

constexpr uint32_t kSslRequest = 80877103, kGssRequest = 80877104, kCancelRequest = 80877102;

// A NUL-terminated string at the reader (cut at the end of the bytes).
std::string_view cstring(ByteReader& r) {
  const auto* s = reinterpret_cast<const char*>(r.current());
  const void* z = std::memchr(s, 0, r.remaining());
  const std::size_t n = z ? static_cast<std::size_t>(static_cast<const char*>(z) - s) : r.remaining();
  r.skip(z ? n + 1 : n);
  return {s, n};
}

bool is_client_type(uint8_t t) {
  return t == 'Q' || t == 'P' || t == 'B' || t == 'F' || t == 'X' || t == 'p';
}

// Bytes passed over after a gap, looking for a message start, before the connection
// is left: a long value whose head was lost is passed over (find_message_start takes
// no start inside it), so the bound is as the text protocols' is.
constexpr uint32_t kMaxResyncSkip = 64u << 20;

// A message header (type, length) that this side sends, its length one the type can
// have (protocol 3.0's message formats).
bool plausible_header(bool client, const uint8_t* p) {
  const uint8_t t = p[0];
  const uint32_t len = load_be32(p + 1);
  if (t == 0 || len < 4 || len > (1u << 30)) return false;
  const char* exact4 = client ? "SHXc" : "123nsIc";
  if (std::strchr(exact4, t)) return len == 4;
  if (client) return std::strchr("QPBEDCFdfp", t) && len >= 5;
  switch (t) {
    case 'Z':
      return len == 5;
    case 'K':
      return len == 12;
    case 'D':
    case 'T':
      return len >= 6;
    default:
      return std::strchr("RSCENtGHWAVdv", t) && len >= 5;
  }
}

// Whether a message's body (after its header: `n` bytes, `h` of them at hand) holds
// together as its type's format says, as far as the bytes at hand go: strings end
// where the counts say, counted fields fill the length exactly. Where a header alone
// would pass one position in fifty of random bytes, a body that holds together is the
// protocol's.
class BodyCheck {
 public:
  BodyCheck(const uint8_t* p, uint32_t n, uint32_t h) : p_(p), n_(n), h_(h < n ? h : n) {}
  bool str() {  // a NUL-terminated string
    const void* z = at_ < h_ ? std::memchr(p_ + at_, 0, h_ - at_) : nullptr;
    if (!z) return out(n_);
    at_ = static_cast<uint32_t>(static_cast<const uint8_t*>(z) - p_) + 1;
    return true;
  }
  bool skip(uint64_t k) {
    if (k > h_ - at_) return out(at_ + k);
    at_ += static_cast<uint32_t>(k);
    return true;
  }
  bool u8(uint8_t& v) { return at_ < h_ ? (v = p_[at_++], true) : out(at_ + 1); }
  bool u16(uint32_t& v) { return h_ - at_ >= 2 ? (v = load_be16(p_ + at_), at_ += 2, true) : out(at_ + 2); }
  bool u32(uint32_t& v) { return h_ - at_ >= 4 ? (v = load_be32(p_ + at_), at_ += 4, true) : out(at_ + 4); }
  bool values(uint32_t count) {  // count (length, bytes) pairs, -1 a NULL
    for (uint32_t i = 0, len; i < count; ++i)
      if (!u32(len) || (len != 0xFFFFFFFFu && !skip(len))) return false;
    return true;
  }
  bool done() const { return at_ == n_ || ran_out_; }
  // Past the bytes at hand, not past the message: what is there held together.
  bool ran_out() const { return ran_out_; }

 private:
  bool out(uint64_t end) {
    ran_out_ = h_ < n_ && end <= n_;
    return false;
  }
  const uint8_t* p_;
  uint32_t n_, h_, at_ = 0;
  bool ran_out_ = false;
};

// Types whose body is checked; the rest (CopyData's bytes, a password, a function
// call) pass on their header alone, so are taken only with the next header at hand.
bool body_checked(bool client, uint8_t type) {
  return std::strchr(client ? "QPBEDCf" : "CDTENSAtGHWVZRv", type) != nullptr;
}

bool body_holds_together(BodyCheck& b, bool client, uint8_t type) {
  uint32_t k = 0, v = 0;
  uint8_t c = 0;
  if (client) {
    switch (type) {
      case 'Q':
        return b.str() && b.done();
      case 'P':
        return b.str() && b.str() && b.u16(k) && b.skip(4ull * k) && b.done();
      case 'B':
        return b.str() && b.str() && b.u16(k) && b.skip(2ull * k) && b.u16(k) && b.values(k) && b.u16(k) &&
               b.skip(2ull * k) && b.done();
      case 'E':
        return b.str() && b.u32(v) && b.done();
      case 'D':
      case 'C':
        return b.u8(c) && (c == 'S' || c == 'P') && b.str() && b.done();
      case 'f':
        return b.str() && b.done();
      default:
        return true;
    }
  }
  switch (type) {
    case 'C':
      return b.str() && b.done();
    case 'D':
      return b.u16(k) && b.values(k) && b.done();
    case 'T':
      if (!b.u16(k)) return false;
      for (; k; --k)
        if (!b.str() || !b.skip(18)) return false;
      return b.done();
    case 'E':
    case 'N':
      while (b.u8(c) && c)
        if (!b.str()) return false;
      return c == 0 && b.done();
    case 'S':
      return b.str() && b.str() && b.done();
    case 'A':
      return b.u32(v) && b.str() && b.str() && b.done();
    case 't':
      return b.u16(k) && b.skip(4ull * k) && b.done();
    case 'G':
    case 'H':
    case 'W':
      return b.u8(c) && c <= 1 && b.u16(k) && b.skip(2ull * k) && b.done();
    case 'V':
      return b.values(1) && b.done();
    case 'Z':
      return b.u8(c) && (c == 'I' || c == 'T' || c == 'E');
    case 'R':
      return b.u32(v) && v <= 12;
    case 'v':
      if (!b.u32(v) || !b.u32(k)) return false;
      for (; k; --k)
        if (!b.str()) return false;
      return b.done();
    default:
      return true;
  }
}

// A message start at p (avail bytes there): its length (the offset of the next
// message) where its header is one this side sends and its body holds together as far
// as the bytes go; else 0 (find_message_start chains it to the next). One whose body
// is not checked is marked to be taken only with the next header at hand.
uint64_t opens_message(bool client, const uint8_t* p, uint32_t avail) {
  if (client && p[0] == 0 && avail >= 8) {  // untyped: startup, SSL/GSS or cancel request
    const uint32_t len = load_be32(p), code = load_be32(p + 4);
    const bool ok =
        len >= 8 && len <= 10000 &&
        (code == kSslRequest || code == kGssRequest || code == kCancelRequest || (code >> 16) == 3);
    return ok ? len : 0;
  }
  if (!plausible_header(client, p)) return 0;
  const uint32_t body = load_be32(p + 1) - 4;
  if (!body_checked(client, p[0])) return (5ull + body) | kOpensChainOnly;
  BodyCheck b(p + 5, body, avail - 5);
  if (!body_holds_together(b, client, p[0]) && !b.ran_out()) return 0;
  // A long query (a bulk INSERT) whose first 256 bytes at hand are text is taken though
  // its end is far ahead: random bytes are not text that long.
  const bool text = client && p[0] == 'Q' && avail >= 5 + 256 &&
                    std::all_of(p + 5, p + 5 + 256,
                                [](uint8_t c) { return c >= 0x20 || c == '\t' || c == '\n' || c == '\r'; });
  return (5ull + body) | (text ? kOpensLong : 0);
}

}  // namespace

PgsqlDecoder::PgsqlDecoder(const DecoderSetup& s)
    : DecoderCommon<PgsqlStat>(s),
      cfg_(s.settings<PgsqlSettings>()),
      query_(new uint8_t[kMaxQueryHead]),
      spill_(new uint8_t[kMaxSpilledBytes + 8 + kMaxQueryHead]),
      table_(new uint8_t[kMaxTable]),
      line_(cfg_.max_row_length) {}

PgsqlDecoder::~PgsqlDecoder() = default;

void PgsqlDecoder::open(void* state) {
  auto& st = *static_cast<PgsqlState*>(state);
  st = PgsqlState{};
  st.client = -1;
}

void PgsqlDecoder::reset_response(PgsqlState& st) {
  store_.release(st.table);
  store_.release(st.err_msg);
  st.resp_open = 0;
  st.resp_flags = 0;
  st.err_code_len = st.err_sev_len = 0;
  st.num_fields = 0;
  st.num_rows = st.copy_rows = 0;
  st.resp_bytes = 0;
  st.copy_in_bytes = 0;
}

uint32_t PgsqlDecoder::head_wanted(const PgsqlState& st, bool client, uint8_t type, uint32_t len) const {
  if (client) {
    if (type == 'Q' || type == 'P') return std::min(len, kMaxQueryHead);
    // Bind's portal and statement names, Close's kind and name (names are 63 bytes at
    // most): which remembered statement a batch runs or forgets.
    if (type == 'B' || type == 'C') return std::min(len, 160u);
    return 0;
  }
  switch (type) {
    case 'T':
      return std::min(len, kMaxRowDescription);
    case 'E':
      return std::min(len, kMaxErrorHead);
    case 'C':
      return std::min(len, 64u);
    case 'D':
      if (cfg_.send_response && st.num_rows < cfg_.max_rows)
        return std::min({len, 64u * 1024, cfg_.max_row_length + 8 * std::min(st.num_fields, 1024u) + 64});
      return 0;
    default:
      return 0;
  }
}

DecodeResult PgsqlDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) {
  PgsqlState& st = *static_cast<PgsqlState*>(state);
  PgsqlState::Dir& d = st.dir[dir];
  const uint8_t* p = bytes.data();
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  uint32_t off = 0;
  while (off < n) {
    if (d.resync) {
      // After a gap: bytes are passed over up to a message start of this side.
      const Resync r = find_message_start(
          bytes, off, 5, d.resync, kMaxResyncSkip,
          [&](const uint8_t* q, uint32_t a) { return opens_message(dir == st.client, q, a); });
      counters_.inc(PgsqlStat::resync_skipped_bytes, r.passed);
      if (!r.framed) return r.result;
      off = r.result.consumed;
      counters_.inc(PgsqlStat::resynced);
    }
    if (d.skip) {
      const uint32_t k = std::min(d.skip, n - off);
      d.skip -= k;
      off += k;
      continue;
    }
    if (st.client < 0) {
      // The side talking to a configured server port is the client; else the first
      // message tells (a startup message or a frontend-only type).
      st.client = static_cast<int8_t>(cfg_.client_by_port(c.port));
      if (st.client < 0)
        st.client = static_cast<int8_t>(p[off] == 0 || is_client_type(p[off]) ? dir : 1 - dir);
    }
    const bool client = dir == st.client;
    if (client && p[off] == 0x16) {
      // A TLS ClientHello: the client went to TLS without asking (direct SSL), or after
      // an answer the capture lost.
      if (n - off < 6) return {off, 6, Verdict::kNeedMore};
      if (tls_client_hello(p + off, n - off)) {
        counters_.inc(PgsqlStat::encrypted_connections);
        st.phase = kPhaseDone;
        return {off, 0, Verdict::kStartTls};
      }
    }
    if (!client && st.phase == kPhaseEncryptAnswer) {
      // One byte answers an SSL or GSS request: 'S'/'G' and encryption follows, 'N'
      // and the startup goes on in the clear.
      const uint8_t b = p[off];
      if (b == 'S' || b == 'G') {
        counters_.inc(PgsqlStat::encrypted_connections);
        st.phase = kPhaseDone;
        return {off + 1, 0, b == 'S' ? Verdict::kStartTls : Verdict::kDone};
      }
      if (b == 'N') {
        ++off;
        st.phase = kPhaseAuth;
        continue;
      }
      st.phase = kPhaseAuth;  // an error message of an old server: typed, read below
    }
    if (client && p[off] == 0) {
      // Untyped: a startup message, an SSL/GSS request or a cancel request.
      if (n - off < 8) return {off, 8, Verdict::kNeedMore};
      const uint32_t len = load_be32(p + off), code = load_be32(p + off + 4);
      if (len < 8 || len > 10000) {
        counters_.inc(PgsqlStat::malformed);
        return {off, 0, Verdict::kViolation};
      }
      off += 8;
      d.skip = len - 8;
      d.framed = 1;
      if (code == kSslRequest || code == kGssRequest) {
        st.phase = kPhaseEncryptAnswer;
      } else if (code == kCancelRequest) {
        counters_.inc(PgsqlStat::cancel_requests);
      } else if ((code >> 16) == 3) {
        st.phase = kPhaseAuth;
      } else {
        counters_.inc(PgsqlStat::malformed);
        return {off, 0, Verdict::kViolation};
      }
      continue;
    }
    if (n - off < 5) return {off, 5, Verdict::kNeedMore};
    const uint8_t type = p[off];
    const uint32_t len = load_be32(p + off + 1);
    if (len < 4 || len > kMaxMessage || type < 0x20 || type > 0x7e) {
      if (!d.framed && st.dir[1 - dir].framed) {
        // The other side proved the connection PostgreSQL; this one's first bytes, on a
        // connection picked up midway, are the end of a message (or an SSL answer):
        // they are passed over to the next message start, as after a gap.
        d.resync = 1;
        continue;
      }
      counters_.inc(PgsqlStat::malformed);
      return {off, 0, Verdict::kViolation};
    }
    d.framed = 1;
    const uint32_t body = len - 4;
    const uint32_t head = head_wanted(st, client, type, body);
    if (n - off - 5 < head) return {off, 5 + head, Verdict::kNeedMore};
    off += 5 + head;
    d.skip = body - head;
    msg_ns_ = c.ts_at(off - head - 5);
    const bool ok = client ? client_message(st, c, type, p + off - head, body, head)
                           : server_message(st, c, type, p + off - head, body, head);
    if (!ok) return {off, 0, Verdict::kViolation};
  }
  return {off, 0, Verdict::kOk};
}

bool PgsqlDecoder::client_message(PgsqlState& st, const StreamInfo& c, uint8_t type, const uint8_t* p,
                                  uint32_t len, uint32_t head) {
  const uint64_t wire = 5ull + len;
  // Password, SASL and GSS responses. (A query while the server's side is still in the
  // startup is read: the ReadyForQuery that ended it was in bytes the capture lost.)
  if (st.phase == kPhaseAuth && type == 'p') return true;
  switch (type) {
    case 'Q': {  // simple query: one request
      if (st.req_open) close_request(st, c);
      counters_.inc(PgsqlStat::requests);
      st.req_open = 1;
      st.req_start_ns = msg_ns_;
      st.req_bytes = wire;
      ByteReader r(p, head);
      const std::string_view q = cstring(r);
      if (store_.append(st.req_query, reinterpret_cast<const uint8_t*>(q.data()),
                        static_cast<uint32_t>(q.size())) < q.size())
        counters_.inc(PgsqlStat::store_full);
      if (head < len) counters_.inc(PgsqlStat::query_truncated);
      if (len > kMaxQueryHead) st.req_flags |= kReqQueryCut;
      close_request(st, c);
      return true;
    }
    case 'P':
    case 'B':
    case 'D':
    case 'E':
    case 'C':
    case 'H':
    case 'S':
    case 'F': {
      // The extended protocol: a batch up to Sync is one request; its query is the
      // first Parse's.
      if (!st.req_open) {
        counters_.inc(PgsqlStat::requests);
        st.req_open = 1;
        st.req_start_ns = msg_ns_;
        st.req_bytes = 0;
      }
      st.req_bytes += wire;
      if (type == 'P') {
        ByteReader r(p, head);
        const std::string_view name = cstring(r);
        const std::string_view q = cstring(r);
        remember_statement(st, name, q);
        if (st.req_query.len == 0) {
          if (store_.append(st.req_query, reinterpret_cast<const uint8_t*>(q.data()),
                            static_cast<uint32_t>(q.size())) < q.size())
            counters_.inc(PgsqlStat::store_full);
          if (head < len) counters_.inc(PgsqlStat::query_truncated);
          if (len > kMaxQueryHead) st.req_flags |= kReqQueryCut;
        }
      } else if (type == 'B' && st.req_query.len == 0) {
        // A batch that binds a statement parsed before: its query is that statement's.
        ByteReader r(p, head);
        cstring(r);  // portal
        if (const PgsqlState::Named* n = find_statement(st, cstring(r))) {
          const uint32_t k = store_.copy_out(n->text, query_.get(), kMaxQueryHead);
          if (store_.append(st.req_query, query_.get(), k) < k) counters_.inc(PgsqlStat::store_full);
        }
      } else if (type == 'C' && head > 0 && p[0] == 'S') {  // Close of a statement: forgotten
        ByteReader r(p + 1, head - 1);
        if (PgsqlState::Named* n = find_statement(st, cstring(r))) {
          store_.release(n->text);
          n->used = 0;
        }
      }
      if (type == 'S' || type == 'F') close_request(st, c);
      return true;
    }
    case 'd':
    case 'c':
    case 'f':  // COPY FROM STDIN data, done, fail: counted with their request
      if (st.req_open)
        st.req_bytes += wire;
      else
        st.copy_in_bytes += wire;
      return true;
    case 'X':  // Terminate
    case 'p':  // password, SASL or GSS response of a startup seen from its middle
      return true;
    default:
      counters_.inc(PgsqlStat::malformed);
      return false;
  }
}

namespace {
// A spilled statement's record: the hash of its name, its query's length, the query.
constexpr uint32_t kSpillHead = 8;
uint32_t spill_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
}  // namespace

bool PgsqlDecoder::store_spilled(PgsqlState& st, uint32_t len) {
  store_.release(st.spilled);
  if (store_.append(st.spilled, spill_.get(), len) == len) return true;
  counters_.inc(PgsqlStat::store_full);
  store_.release(st.spilled);
  st.n_spilled = 0;
  return false;
}

PgsqlState::Named& PgsqlDecoder::take_slot(PgsqlState& st) {
  PgsqlState::Named& n = st.named[st.named_next];
  st.named_next = static_cast<uint8_t>((st.named_next + 1) % PgsqlState::kMaxNamed);
  if (!n.used) return n;
  // The oldest goes to the end of the spilled log, whose oldest records go past its bound.
  uint8_t* buf = spill_.get();
  uint32_t len = store_.copy_out(st.spilled, buf, kMaxSpilledBytes);
  const uint32_t q = store_.copy_out(n.text, buf + len + kSpillHead, kMaxQueryHead);
  std::memcpy(buf + len, &n.hash, 4);
  std::memcpy(buf + len + 4, &q, 4);
  len += kSpillHead + q;
  ++st.n_spilled;
  uint32_t from = 0;
  while (len - from > kMaxSpilledBytes) {
    from += kSpillHead + spill_u32(buf + from + 4);
    --st.n_spilled;
    counters_.inc(PgsqlStat::statements_evicted);
  }
  std::memmove(buf, buf + from, len - from);
  store_spilled(st, len - from);
  store_.release(n.text);
  n.used = 0;
  return n;
}

PgsqlState::Named* PgsqlDecoder::find_statement(PgsqlState& st, std::string_view name) {
  const uint32_t h = fnv1a32(name);
  for (auto& n : st.named)
    if (n.used && n.hash == h) return &n;
  if (st.n_spilled == 0) return nullptr;
  // Spilled: taken out of the log, back into the table in its oldest entry's place.
  uint8_t* buf = spill_.get();
  const uint32_t len = store_.copy_out(st.spilled, buf, kMaxSpilledBytes);
  uint32_t at = 0;
  while (at + kSpillHead <= len && spill_u32(buf + at) != h) at += kSpillHead + spill_u32(buf + at + 4);
  if (at + kSpillHead > len) return nullptr;
  const uint32_t q = std::min(spill_u32(buf + at + 4), len - at - kSpillHead);
  uint8_t* text = query_.get();
  std::memcpy(text, buf + at + kSpillHead, q);
  std::memmove(buf + at, buf + at + kSpillHead + q, len - at - kSpillHead - q);
  --st.n_spilled;
  if (!store_spilled(st, len - kSpillHead - q)) return nullptr;
  PgsqlState::Named& n = take_slot(st);
  n.hash = h;
  n.used = 1;
  if (store_.append(n.text, text, q) < q) counters_.inc(PgsqlStat::store_full);
  return &n;
}

void PgsqlDecoder::remember_statement(PgsqlState& st, std::string_view name, std::string_view query) {
  PgsqlState::Named* n = find_statement(st, name);
  if (!n) n = &take_slot(st);
  store_.release(n->text);
  n->hash = fnv1a32(name);
  n->used = 1;
  const auto k = static_cast<uint32_t>(std::min<std::size_t>(query.size(), kMaxQueryHead));
  if (store_.append(n->text, reinterpret_cast<const uint8_t*>(query.data()), k) < k)
    counters_.inc(PgsqlStat::store_full);
}

void PgsqlDecoder::close_request(PgsqlState& st, const StreamInfo& c) {
  (void)c;
  st.req_open = 0;
  Request r{st.req_start_ns, c.ts_ns, st.req_bytes, 0, st.req_flags};
  st.req_flags = 0;
  uint32_t q = st.req_query.len;
  if (st.n_requests >= kMaxPending) {
    counters_.inc(PgsqlStat::queue_full);
    store_.release(st.req_query);
    return;
  }
  if (st.pending_bytes + q > kMaxPendingBytes) {
    counters_.inc(PgsqlStat::queue_full);
    q = 0;  // kept without its query: the pairing stays right
  }
  r.query_len = q;
  if (store_.append(st.requests, reinterpret_cast<const uint8_t*>(&r), sizeof r) < sizeof r) {
    counters_.inc(PgsqlStat::store_full);
    store_.release(st.req_query);
    return;
  }
  if (q) {
    const uint32_t k = store_.copy_out(st.req_query, query_.get(), std::min(q, kMaxQueryHead));
    if (store_.append(st.requests, query_.get(), k) < k) {
      // A record cut short would break the FIFO: drop the pending requests.
      counters_.inc(PgsqlStat::store_full);
      store_.release(st.requests);
      st.n_requests = 0;
      st.pending_bytes = 0;
      store_.release(st.req_query);
      return;
    }
  }
  ++st.n_requests;
  st.lost.on_request(r.start_ns);
  st.pending_bytes += q;
  store_.release(st.req_query);
}

bool PgsqlDecoder::pop_request(PgsqlState& st, Request& r, uint32_t& query_len) {
  if (st.n_requests == 0) return false;
  store_.copy_out(st.requests, reinterpret_cast<uint8_t*>(&r), sizeof r);
  store_.drop_front(st.requests, sizeof r);
  query_len = store_.copy_out(st.requests, query_.get(), r.query_len);
  store_.drop_front(st.requests, r.query_len);
  --st.n_requests;
  st.pending_bytes -= std::min(st.pending_bytes, r.query_len);
  return true;
}

void PgsqlDecoder::start_response(PgsqlState& st, bool answer) {
  if (!st.resp_open) {
    st.resp_open = 1;
    st.resp_start_ns = msg_ns_;
    st.resp_answer_ns = 0;
  }
  if (answer && !st.resp_answer_ns) st.resp_answer_ns = msg_ns_;
}

bool PgsqlDecoder::server_message(PgsqlState& st, const StreamInfo& c, uint8_t type, const uint8_t* p,
                                  uint32_t len, uint32_t head) {
  const uint64_t wire = 5ull + len;
  if (st.phase == kPhaseAuth) {
    if (type == 'E') counters_.inc(PgsqlStat::login_failures);
    if (type == 'Z') st.phase = kPhaseQueries;
    return true;
  }
  ByteReader r(p, head);
  // Packetbeat reads a response from its first RowDescription, EmptyQueryResponse,
  // CommandComplete, ErrorResponse or ParseComplete: it ends the transaction there.
  const bool answer = type == 'T' || type == 'I' || type == 'C' || type == 'E' || type == '1';
  switch (type) {
    case 'Z':  // ReadyForQuery: the response is whole
      finish_response(st, c);
      return true;
    case 'N':
    case 'S':
    case 'A':
    case 'K':
    case 'R':
    case 'v':
      return true;  // notices, parameter status, notifications: not part of a response
    case 'T': {
      start_response(st, answer);
      uint16_t fields = 0;
      r.be16(fields);
      const bool first = st.num_fields == 0 && st.table.len == 0;
      if (first) st.num_fields = fields;
      if (cfg_.send_response && first) {
        line_.reset(true);
        for (uint16_t i = 0; i < fields && r.remaining(); ++i) {
          line_.add(cstring(r));
          r.skip(18);
        }
        if (!sql_table_append(store_, st.table, line_.view(), kMaxTable))
          counters_.inc(PgsqlStat::response_cut);
      }
      break;
    }
    case 'D': {
      start_response(st, answer);
      ++st.num_rows;
      if (cfg_.send_response && st.num_rows <= cfg_.max_rows) {
        uint16_t cols = 0;
        r.be16(cols);
        line_.reset(false);
        for (uint16_t i = 0; i < cols; ++i) {
          uint32_t vlen;
          if (!r.be32(vlen)) break;
          if (vlen == 0xffffffff) {
            line_.add("NULL");
            continue;
          }
          const std::size_t k = std::min<std::size_t>(vlen, r.remaining());
          line_.add({reinterpret_cast<const char*>(r.current()), k});
          r.skip(k);
          if (k < vlen) break;
        }
        if (!sql_table_append(store_, st.table, line_.view(), kMaxTable))
          counters_.inc(PgsqlStat::response_cut);
      }
      break;
    }
    case 'C': {  // CommandComplete: "SELECT 5", "INSERT 0 1", "COPY 12"
      start_response(st, answer);
      const std::string_view tag = cstring(r);
      if (tag.size() > 5 && tag.substr(0, 5) == "COPY ") {
        uint64_t v = 0;
        for (char ch : tag.substr(5))
          if (ch >= '0' && ch <= '9') v = v * 10 + static_cast<uint64_t>(ch - '0');
        st.copy_rows += v;
      }
      st.resp_flags |= kCompleted;
      st.resp_bytes += wire;
      return true;
    }
    case 'E': {  // ErrorResponse: (code byte, string)* 0
      start_response(st, answer);
      st.resp_flags |= kError | kCompleted;
      for (uint8_t code; r.u8(code) && code != 0;) {
        const std::string_view v = cstring(r);
        if (code == 'S' || (code == 'V' && st.err_sev_len == 0)) {
          st.err_sev_len = static_cast<uint8_t>(std::min(v.size(), sizeof st.err_severity));
          std::memcpy(st.err_severity, v.data(), st.err_sev_len);
        } else if (code == 'C') {
          st.err_code_len = static_cast<uint8_t>(std::min(v.size(), sizeof st.err_code));
          std::memcpy(st.err_code, v.data(), st.err_code_len);
        } else if (code == 'M' && st.err_msg.len == 0) {
          store_.append(st.err_msg, reinterpret_cast<const uint8_t*>(v.data()),
                        static_cast<uint32_t>(v.size()));
        }
      }
      st.resp_bytes += wire;
      return true;
    }
    case 'I':  // EmptyQueryResponse
      start_response(st, answer);
      st.resp_flags |= kCompleted;
      st.resp_bytes += wire;
      return true;
    case '1':
    case '2':
    case '3':
    case 'n':
    case 't':
    case 's':
      // Extended-query bookkeeping (parse, bind, close complete, no data, parameter
      // description, portal suspended): part of the response, not of its size, as
      // Packetbeat counts it.
      start_response(st, answer);
      return true;
    case 'G':
    case 'H':
    case 'W':
    case 'd':
    case 'c':
    case 'V':
      start_response(st, answer);
      break;
    default:
      counters_.inc(PgsqlStat::malformed);
      return false;
  }
  st.resp_bytes += wire;
  return true;
}

void PgsqlDecoder::finish_response(PgsqlState& st, const StreamInfo& c) {
  Request req;
  uint32_t qlen = 0;
  // ReadyForQuery answers a Sync (or a simple query): a batch still open with none
  // waiting had its Sync in bytes the capture lost (the client's gap may come after this
  // response, which answered them). It is the request this response answers; left open,
  // it would take the next one's, and every later pair would be one off.
  if (st.req_open && !st.n_requests && st.resp_open) {
    st.req_flags |= kReqLost;
    close_request(st, c);
  }
  bool have = pop_request(st, req, qlen);
  if (!st.resp_open) {
    // ReadyForQuery alone: a Sync with nothing before it, or the end of a startup
    // seen from its middle.
    reset_response(st);
    return;
  }
  counters_.inc(PgsqlStat::responses);
  // After a gap: a response that began after a request sent with the lost bytes in
  // hand answers no request sent before them; those were answered in the lost bytes.
  // (PostgreSQL sends each response as its ReadyForQuery ends it: a response lost is
  // one segment, and a client that pipelines waits for its batch's answers.)
  // A request whose end the capture lost, begun before a response that found no
  // request waiting, was answered by that response: its end was still missing when the
  // response came (the wait for it given up), and it was queued only at the gap.
  while (have) {
    if (st.lost.lost(req.start_ns, st.resp_start_ns)) {
      lose_response(st, c, req, qlen);
    } else if ((req.flags & kReqLost) && st.orphan_ns >= req.start_ns) {
      counters_.inc(PgsqlStat::unmatched_requests);
      publish(st, c, &req, qlen, false, "Unmatched request; its end was lost after its response came");
      st.orphan_ns = 0;
    } else {
      break;
    }
    have = pop_request(st, req, qlen);
  }
  if (!have) {
    counters_.inc(PgsqlStat::unmatched_responses);
    st.orphan_ns = st.resp_start_ns;
    reset_response(st);
    return;
  }
  req.bytes += st.copy_in_bytes;  // COPY FROM STDIN data sent while the response was under way
  counters_.inc(PgsqlStat::transactions);
  publish(st, c, &req, qlen, true,
          (st.resp_flags & kGap)   ? kLossResponse
          : (req.flags & kReqLost) ? kLossRequest
                                   : nullptr);
  reset_response(st);
}

void PgsqlDecoder::lose_response(PgsqlState& st, const StreamInfo& c, const Request& req, uint32_t qlen) {
  counters_.inc(PgsqlStat::unmatched_requests);
  counters_.inc(PgsqlStat::responses_lost);
  publish(st, c, &req, qlen, false, "Unmatched request; its response began in bytes the capture lost");
}

// A typed message the capture lost the end of (cut by the snap length, a segment
// lost): what was seen of it is read as its head (a query as far as it goes, the first
// columns of a row), and its rest is passed over as its length says, so the framing
// goes on when the gap is that rest (a response is then published with its loss noted).
bool PgsqlDecoder::cut_short(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) {
  PgsqlState& st = *static_cast<PgsqlState*>(state);
  PgsqlState::Dir& d = st.dir[dir];
  if (st.client < 0 || st.phase != kPhaseQueries || d.skip || d.resync || held.size() < 5) return false;
  const uint8_t* p = held.data();
  const uint8_t type = p[0];
  const uint32_t len = load_be32(p + 1), have = static_cast<uint32_t>(held.size()) - 5;
  if (len < 4 || len > kMaxMessage || type < 0x20 || type > 0x7e || len - 4 <= have) return false;
  const bool client = dir == st.client;
  const uint32_t body = len - 4;
  const uint32_t head = std::min(head_wanted(st, client, type, body), have);
  d.skip = body - have;
  if (client && (type == 'Q' || type == 'P')) {
    if (type == 'Q' && st.req_open) close_request(st, c);  // as client_message would first
    st.req_flags |= kReqLost;
  }
  msg_ns_ = c.ts_at(0);
  const bool ok = client ? client_message(st, c, type, p + 5, body, head)
                         : server_message(st, c, type, p + 5, body, head);
  if (!ok) {
    d.skip = 0;
    st.req_flags = 0;
    return false;
  }
  return true;
}

bool PgsqlDecoder::gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
  PgsqlState& st = *static_cast<PgsqlState*>(state);
  PgsqlState::Dir& d = st.dir[dir];
  counters_.inc(PgsqlStat::gaps);
  // Before the first message told the sides: the side talking to a configured port is
  // the client (as data() takes it); where no port tells, the decoder cannot find its
  // way back (stream.gap_detached).
  if (st.client < 0) st.client = static_cast<int8_t>(cfg_.client_by_port(c.port));
  if (d.skip >= len) {  // inside a message's tail: the framing survives
    d.skip -= len;
    if (dir != st.client && st.resp_open) st.resp_flags |= kGap;
    return true;
  }
  const bool server = dir != st.client && st.phase == kPhaseQueries;
  if (dir == st.client && st.req_open) st.req_flags |= kReqLost;  // the batch's rest may be lost
  Request req;
  uint32_t qlen;
  if (dir != st.client && st.resp_open) {
    st.resp_flags |= kGap;
    finish_response(st, c);
  } else if (server && pop_request(st, req, qlen)) {
    // Lost between two responses: the bytes lost began the response of the oldest
    // request waiting (a server answers in order). It goes out alone, saying so, and
    // the responses after the gap meet their own requests.
    lose_response(st, c, req, qlen);
  }
  // Requests sent before the client had all the lost bytes may have been answered in
  // them too (pipelined); finish_response tells once a response comes.
  if (server && c.gap_acked_ns) {
    st.lost.on_gap(c.gap_acked_ns);
    for (uint32_t i = 0, at = 0; i < st.n_requests && st.lost.waiting(); ++i) {
      store_.copy_out(st.requests, reinterpret_cast<uint8_t*>(&req), sizeof req, at);
      at += sizeof req + req.query_len;
      st.lost.on_request(req.start_ns);
    }
  }
  if (st.client < 0 || st.phase == kPhaseDone) return false;
  // The stream is taken up again at the next message start. A gap in the startup
  // leaves the rest of it read as on a connection picked up midway (authentication
  // messages passed over); the server's bytes lost there held its end, not a response
  // (queries waiting meet the responses that come next). A lost SSL answer that
  // accepted shows as the client's TLS record next.
  st.phase = kPhaseQueries;
  d.skip = 0;
  d.resync = 1;
  return true;
}

void PgsqlDecoder::close(void* state, const StreamInfo& c) {
  PgsqlState& st = *static_cast<PgsqlState*>(state);
  if (st.resp_open) finish_response(st, c);
  if (st.req_open && st.req_query.len) close_request(st, c);
  Request req;
  uint32_t qlen;
  while (pop_request(st, req, qlen)) {
    counters_.inc(PgsqlStat::unmatched_requests);
    publish(st, c, &req, qlen, false, "Unmatched request");
  }
  reset_response(st);
  store_.release(st.req_query);
  store_.release(st.requests);
  for (auto& n : st.named) store_.release(n.text), n.used = 0;
  store_.release(st.spilled);
  st.n_spilled = 0;
}

bool PgsqlDecoder::expire(void* state, const StreamInfo& c, uint64_t now_ns) {
  PgsqlState& st = *static_cast<PgsqlState*>(state);
  while (st.n_requests) {
    Request req;
    store_.copy_out(st.requests, reinterpret_cast<uint8_t*>(&req), sizeof req);
    if (req.start_ns + cfg_.timeout_ns >= now_ns) break;
    uint32_t qlen;
    pop_request(st, req, qlen);
    counters_.inc(PgsqlStat::unmatched_requests);
    publish(st, c, &req, qlen, false, "Unmatched request");
  }
  if (st.n_requests == 0 && st.resp_open) reset_response(st);  // its request is gone
  return st.n_requests > 0 || st.req_open;
}

void PgsqlDecoder::publish(PgsqlState& st, const StreamInfo& c, const Request* req, uint32_t query_len,
                           bool answered, const char* note) {
  const std::string_view raw(reinterpret_cast<const char*>(query_.get()), query_len);
  // Without surrounding blanks and trailing semicolons, as Packetbeat publishes it.
  std::string_view query = sql_trim(raw);
  while (!query.empty() && query.back() == ';') query = sql_trim(query.substr(0, query.size() - 1));
  char method[32];
  const std::size_t ml = sql_method(query, method, sizeof method);
  const uint32_t table_len =
      answered && cfg_.send_response ? store_.copy_out(st.table, table_.get(), kMaxTable) : 0;
  char err[kMaxErrorHead];
  const uint32_t err_len =
      answered ? store_.copy_out(st.err_msg, reinterpret_cast<uint8_t*>(err), sizeof err) : 0;
  const bool is_error = answered && (st.resp_flags & kError);

  TransactionFields t;
  t.type = "pgsql";
  t.ok = answered && !is_error;
  t.error = note;
  if (req->flags & kReqQueryCut) t.add_note(kQueryCutNote);
  t.start_ns = req->start_ns;
  t.end_ns = answered ? (st.resp_answer_ns ? st.resp_answer_ns : st.resp_start_ns) : 0;
  set_connection(t, c, st.client, 6, "pgsql");
  t.client_bytes = req->bytes;
  t.server_bytes = answered ? st.resp_bytes : 0;
  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    w.field("method", std::string_view(method, ml));
    w.field("query", query);
    w.begin_object("pgsql");
    if (answered) {
      w.field_uint("num_rows", st.num_rows ? st.num_rows : st.copy_rows);
      w.field_uint("num_fields", st.num_fields);
      if (is_error) {
        w.field("error_code", std::string_view(st.err_code, st.err_code_len));
        w.field("error_message", std::string_view(err, err_len));
        w.field("error_severity", std::string_view(st.err_severity, st.err_sev_len));
      }
    }
    w.end_object();
    write_sql_texts(w, cfg_, raw, answered, {reinterpret_cast<const char*>(table_.get()), table_len});
    end_transaction(w);
  });
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<PgsqlDecoder>(s); }

// Decisive (PostgreSQL on another protocol's port): the startup message and the SSL
// request; a simple query is not (its few bytes could open another stream).
constexpr DetectProbe kProbes[] = {
    // A startup message: length, protocol 3.0, then the "user" parameter.
    {R"(^\x00\x00[\x00-\x27][\x00-\xff]\x00\x03\x00\x00[a-z_]{1,30}\x00)", true, true},
    // An SSL request.
    {R"(^\x00\x00\x00\x08\x04\xd2\x16\x2f)", true, true},
    // A simple query with an SQL keyword.
    {R"(^Q\x00[\x00-\x0f][\x00-\xff]{2}\s*(?i:select|insert|update|delete|with|begin|commit|set|show|create|copy)\b)",
     true},
};

const OptionSpec kSettingOptions[] = {
    {"max_rows", OptionKind::kUint},
    {"max_row_length", OptionKind::kUint},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  auto s = std::make_unique<PgsqlSettings>();
  read_sql_options(p, *s);
  return s;
}

const uint16_t kDefaultPorts[] = {5432};

}  // namespace

const DecoderDescriptor& pgsql_protocol() {
  static const DecoderDescriptor d = {
      .name = "pgsql",
      .transports = kTransportTcp,
      .probes = kProbes,
      .state_size = sizeof(PgsqlState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kPgsqlCounters,
      .violations = static_cast<int>(PgsqlStat::violations),
      // Packetbeat's field types where dynamic mapping would differ.
      .index_template =
          {.dynamic_templates =
               R"({"pgsql_counts": {"path_match": "pgsql.num_*", "mapping": {"type": "keyword"}}})"},
      .exercise_options = "{max_rows: 4, max_row_length: 64}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
