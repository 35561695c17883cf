#include "decode/mysql/mysql_decoder.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "decode/mysql/mysql_wire.hpp"
#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "util/byte_reader.hpp"

namespace tapbeat {

using namespace mysql;  // its wire format: mysql_wire.hpp

static_assert(sizeof(MysqlState) <= kDecoderStateBytes, "MySQL connection state must fit the session slot");

// Not a command (none is sent with this code): the place of the client's commands lost
// to the capture (MysqlState::lost).
constexpr uint8_t kLostCommands = 0xf0;
static_assert(kLostCommands > kComLast && kLostCommands != kComStmtBulkExecute);
// What the place stands for (MysqlState::lost).
enum LostKind : uint8_t {
  kLostRequests = 1,   // client bytes: commands not seen; the responses after those of the
                       // commands ahead of it are theirs, then those of the commands behind
  kLostResponses = 2,  // server bytes: the responses of some of the commands behind it
};
constexpr const char* kLossAmongRequests =
    "Packet loss while capturing requests sent before this one: its response is not told apart from theirs";

// A prepared statement of the connection, followed by its query bytes.
struct MysqlDecoder::Statement {
  uint32_t id;
  uint16_t n_params;
  uint16_t query_len;
  uint64_t last_ns;
  uint8_t types_known;
  uint8_t cols_known;  // col_types hold the prepare response's column definitions
  uint8_t pad[6];
  uint8_t types[2 * kMaxParams];  // type, flags (0x80: unsigned) per parameter
  // The result set's columns as the prepare response defined them: what an execute's
  // rows are read with when the server leaves the definitions out (MariaDB's
  // MARIADB_CLIENT_CACHE_METADATA).
  uint64_t unsigned_cols;
  uint8_t col_types[MysqlState::kMaxTypedColumns];
};

// A command sent behind the pending one, waiting for its response (MysqlState::waiting),
// followed by its request's bytes.
struct MysqlDecoder::Waiting {
  uint8_t cmd, flags, resp, binary_rows;
  uint32_t stmt_id;
  uint32_t cols_left;
  uint32_t head_len;
  uint64_t start_ns;
  uint64_t req_bytes;
};

// A response taken by the place of lost commands (MysqlState::lost_resp): its start,
// size and packets; a plain OK's head, or a result set's columns and rows counted.
struct MysqlDecoder::LostAnswer {
  enum Kind : uint8_t { kOk, kRowsOpen, kRows, kErr, kOther };
  uint64_t start_ns;
  uint64_t bytes;
  uint64_t bytes_defs;  // up to its last packet but an EOF (a prepare's size, as it is read whole)
  uint32_t packets;
  uint32_t num_fields;
  uint32_t defs_left;  // a result set's column definitions still to come
  uint32_t rows;
  Kind kind;
  uint8_t defs_eof;  // the EOF after the definitions was seen
  uint8_t head_len;
  uint8_t head[133];  // an ERR kept whole when it fits (its message)
};

MysqlDecoder::MysqlDecoder(const DecoderSetup& s)
    : DecoderCommon<MysqlStat>(s),
      cfg_(s.settings<MysqlSettings>()),
      scratch_(new uint8_t[kMaxRequestHead + sizeof(Statement) + kStatementQuery]),
      table_(new uint8_t[kMaxTable]),
      line_(cfg_.max_row_length),
      inflated_(new uint8_t[kInflateBytes]),
      streams_(new Stream[kStreams]) {}

MysqlDecoder::~MysqlDecoder() = default;

void MysqlDecoder::open(void* state) {
  auto& st = *static_cast<MysqlState*>(state);
  st = MysqlState{};
  st.client = -1;
}

void MysqlDecoder::reset_transaction(MysqlState& st) {
  if (st.cmd == kLostCommands) {
    st.lost = 0;
    counters_.inc(MysqlStat::unmatched_responses, st.lost_taken);
    st.lost_taken = 0;
    store_.release(st.lost_resp);
    st.n_lost_resp = 0;
  }
  store_.release(st.request);
  store_.release(st.table);
  store_.release(st.error);
  reset_transaction_fields(st);
  if (st.n_waiting) pop_waiting(st);
}

void MysqlDecoder::reset_transaction_fields(MysqlState& st) {
  st.cmd = 0;
  st.resp = kRespStart;
  st.flags = 0;
  st.binary_rows = 0;
  st.path_len = 0;
  st.stmt_id = 0;
  st.req_bytes = st.resp_bytes = 0;
  st.cols_left = st.params_left = st.num_fields = st.stmt_params = 0;
  st.num_rows = st.affected_rows = st.insert_id = 0;
  st.error_code = 0;
  st.col_index = 0;
  st.unsigned_cols = 0;
}

uint32_t MysqlDecoder::head_wanted(const MysqlState& st, int dir, uint32_t len, uint8_t first) const {
  if (dir == st.client) {
    if (st.dir[dir].cont) return 0;
    return std::min(len, kMaxRequestHead);
  }
  if (st.dir[dir].cont) return std::min(len, 1u);
  if (!st.cmd) return std::min(len, first == 0x0a ? 128u : 1u);  // a greeting: its capabilities
  if (st.cmd == kLostCommands) return std::min<uint32_t>(len, sizeof LostAnswer::head);
  if (first == 0xff || (first == 0xfe && len < kMaxPacket) || (first == 0x00 && st.resp == kRespStart))
    return std::min(len, kMaxErrorHead);
  switch (st.resp) {
    case kRespColumns:
    case kRespColumnsEof:
    case kRespPrepParams:
    case kRespPrepColumns:
      return std::min(len, kMaxColumnDef);
    case kRespRows:
      if (cfg_.send_response && st.num_rows < cfg_.max_rows)
        return std::min({len, kMaxRowHead, cfg_.max_row_length + 16 * std::min(st.num_fields, 1024u) + 64});
      return std::min(len, 1u);
    default:
      return std::min(len, 16u);
  }
}

namespace {

// After a gap a direction's framing is unknown: its next bytes must open a message
// (kResyncNext), or, where they do not, its bytes are passed over until the other side
// speaks (kResyncAfterPeer): the protocol takes turns, so a side's next bytes after the
// other's open a message again.
constexpr uint8_t kResyncNext = 1, kResyncAfterPeer = 2;

// A packet at p (n bytes there) that opens a command or the response to one, as the
// next bytes after a gap must to be taken: a false start (value bytes read as a header)
// would pass over up to 16 MB of the stream, every later message with it. A command:
// sequence 0, a command byte a client sends, a length that command can have, a query's
// text beginning as text does. A response: sequence response_seq (1; on a compressed
// connection, where the packets' sequence goes on from the compressed packets', the one
// after the client's last compressed packet's), an OK, ERR or LOCAL INFILE request no
// longer than such a reply is, or a result's column count (one or two bytes) followed by
// the result's next packet. 1: it opens one; 0: it does not; -1: `need` bytes tell.
constexpr uint32_t kMaxResyncReply = 64 * 1024;

int opens_message(bool client, const uint8_t* p, uint32_t n, uint8_t response_seq, uint32_t& need) {
  need = 5;
  if (n < 5) return -1;
  const uint32_t len = load_le24(p);
  const uint8_t seq = p[3], first = p[4];
  if (len == 0 || len >= kMaxPacket) return 0;
  if (client) {
    if (seq != 0 || first == 0 || first > kComLast) return 0;
    switch (first) {
      case kComQuit:
      case kComStatistics:
      case 0x0a:  // COM_PROCESS_INFO
      case 0x0d:  // COM_DEBUG
      case 0x0e:  // COM_PING
      case 0x1f:  // COM_RESET_CONNECTION
        return len <= 2;
      case 0x0c:  // COM_PROCESS_KILL
      case kComStmtClose:
      case 0x1a:  // COM_STMT_RESET
        return len == 5;
      case 0x1b:  // COM_SET_OPTION
        return len == 3;
      case kComStmtFetch:
        return len == 9;
      case kComStmtExecute:
        return len >= 10;
      case kComQuery:
      case kComStmtPrepare:
      case 0x02:  // COM_INIT_DB
      case kComFieldList: {
        if (len < 2) return first == kComQuery ? 0 : 1;
        need = 6;
        if (n < 6) return -1;
        // Text (or, for a query, the counts that query attributes put before it).
        const uint8_t c = p[5];
        return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\r' || c == '\n' ||
               (first == kComQuery && c <= 0x0f);
      }
      default:
        return 1;
    }
  }
  if (seq != response_seq) return 0;
  if (first == 0x00) return len >= 7 && len <= kMaxResyncReply;
  if (first == 0xff) return len >= 3 && len <= kMaxResyncReply;
  if (first == 0xfb) return len <= kMaxResyncReply;
  if (first > 250 || len > 2) return 0;
  // A column count: the result's next packet (a column definition, or with optional
  // metadata a row or its end) follows at the next sequence.
  need = 4 + len + 5;
  if (n < need) return -1;
  const uint32_t next = load_le24(p + 4 + len);
  return next > 0 && next < kMaxPacket && p[4 + len + 3] == static_cast<uint8_t>(seq + 1);
}

}  // namespace

DecodeResult MysqlDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) {
  MysqlState& st = *static_cast<MysqlState*>(state);
  return (st.conn & kConnCompressed) ? compressed(st, c, dir, bytes) : packets(st, c, dir, bytes, false);
}

namespace {

// A compressed packet's header (length, sequence, length uncompressed) that holds
// together, with the first bytes of its payload: a zlib stream's header or a zstd
// frame's magic, or (sent as it is) a packet that opens a message. 12 bytes at h.
bool compressed_header_at(const uint8_t* h, bool client, uint8_t response_seq) {
  const uint32_t clen = load_le24(h), ulen = load_le24(h + 4);
  if (clen == 0) return false;
  // (COM_SLEEP, 0, is no command a client sends.)
  uint32_t need = 0;
  if (ulen == 0)  // the 5 bytes of a packet sent as it is: what they tell
    return opens_message(client, h + 7, 5, response_seq, need) != 0;
  if (ulen < clen) return false;  // compression that does not shrink is sent as it is
  return mysql::zlib_stream(h + 7) || mysql::zstd_frame(h + 7);
}

}  // namespace

DecodeResult MysqlDecoder::compressed(MysqlState& st, const StreamInfo& c, int dir,
                                      std::span<const uint8_t> bytes) {
  MysqlState::Dir& d = st.dir[dir];
  const uint8_t* p = bytes.data();
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  uint32_t off = 0;
  while (off < n) {
    if (d.zskip) {
      const uint32_t k = std::min(d.zskip, n - off);
      d.zskip -= k;
      off += k;
      continue;
    }
    if (d.zraw) {  // a payload sent as it is: its packets as they come
      const uint32_t k = std::min(d.zraw, n - off);
      uint64_t got = 0;
      const Verdict v = inflate_through(st, c, dir, nullptr, p + off, k, c.ts_at(off), got);
      d.zraw -= k;
      off += k;
      if (v != Verdict::kOk) return {off, 0, v};
      continue;
    }
    if (d.zleft) {  // a long compressed packet, inflated as it comes
      const uint32_t k = std::min(d.zleft, n - off);
      mysql::Inflater& z = streams_[d.zstream - 1].z;
      z.feed(p + off, k);
      uint64_t got = 0;
      const Verdict v = inflate_through(st, c, dir, &z, nullptr, 0, c.ts_at(off), got);
      d.zleft -= k;
      d.zgot += static_cast<uint32_t>(got);
      off += k;
      if (v != Verdict::kOk) return {off, 0, v};
      if (d.zleft == 0 || z.failed()) {
        const bool whole = z.ended() && d.zgot == d.zulen;
        // Data that does not inflate: the header was not one (after a gap), look again.
        if (z.failed()) d.zresync = 1;
        d.zleft = 0;
        give_back_stream(st, dir);
        if (!whole) {
          counters_.inc(MysqlStat::decompress_errors);
          if (!lose_framing(st, c, dir)) return {off, 0, Verdict::kViolation};
        }
      }
      continue;
    }
    if (d.zresync) {
      // After a gap: bytes pass over until a compressed header holds together and the
      // first bytes of its payload inflate.
      uint32_t at = off;
      while (n - at >= 12 &&
             !(compressed_header_at(p + at, dir == st.client, static_cast<uint8_t>(st.zseq + 1)) &&
               inflates(p + at, n - at)))
        ++at;
      counters_.inc(MysqlStat::resync_skipped_bytes, at - off);
      off = at;
      if (n - off < 12) return {off, 12, Verdict::kNeedMore};
      d.zresync = 0;
      counters_.inc(MysqlStat::resynced);
    }
    if (n - off < 7) return {off, 7, Verdict::kNeedMore};
    const uint32_t clen = load_le24(p + off), ulen = load_le24(p + off + 4);
    const uint64_t at_ns = c.ts_at(off);
    if (dir == st.client) st.zseq = p[off + 3];
    if (ulen == 0) {
      off += 7;
      d.zraw = clen;
      continue;
    }
    uint64_t got = 0;
    if (7 + clen <= kMaxCompressedWhole) {
      if (n - off < 7 + clen) return {off, 7 + clen, Verdict::kNeedMore};
      inflater_.begin(p + off + 7, clen);
      const Verdict v = inflate_through(st, c, dir, &inflater_, nullptr, 0, at_ns, got);
      off += 7 + clen;
      if (v != Verdict::kOk) return {off, 0, v};
      if (got != ulen || !inflater_.ended()) {
        counters_.inc(MysqlStat::decompress_errors);
        if (inflater_.failed()) d.zresync = 1;
        if (!lose_framing(st, c, dir)) return {off, 0, Verdict::kViolation};
      }
      continue;
    }
    // Too long to hold whole (a long query or row, a batch of rows): inflated as it comes
    // by a streaming inflater; with none free, its first part read and the rest passed
    // over, inside the packet the parser then passes over (else its framing is lost).
    if (n - off < 11) return {off, 11, Verdict::kNeedMore};  // zstd's magic
    const int slot = lend_stream(st, dir);
    if (slot >= 0) {
      d.zstream = static_cast<uint8_t>(slot + 1);
      d.zleft = clen;
      d.zulen = ulen;
      d.zgot = 0;
      streams_[slot].z.begin(p + off + 7, 4);  // its first bytes tell zlib from zstd
      off += 7;
      continue;
    }
    const uint32_t part = kMaxCompressedWhole - 7;
    if (n - off < 7 + part) return {off, 7 + part, Verdict::kNeedMore};
    inflater_.begin(p + off + 7, part);
    const Verdict v = inflate_through(st, c, dir, &inflater_, nullptr, 0, at_ns, got);
    off += 7 + part;
    d.zskip = clen - part;
    counters_.inc(MysqlStat::compressed_cut);
    if (v != Verdict::kOk) return {off, 0, v};
    const uint64_t rest = got <= ulen ? ulen - got : 0;
    if (!inflater_.failed() && d.held.len == 0 && d.skip >= rest) {
      d.skip -= static_cast<uint32_t>(rest);
    } else {
      if (inflater_.failed()) {
        counters_.inc(MysqlStat::decompress_errors);
        d.zskip = 0;
        d.zresync = 1;
      }
      if (!lose_framing(st, c, dir)) return {off, 0, Verdict::kViolation};
    }
  }
  return {off, 0, Verdict::kOk};
}

void MysqlDecoder::begin_compressed(MysqlState& st) {
  st.conn |= kConnCompressed;
  st.phase = kPhaseCommands;
  st.flags = 0;
  for (auto& d : st.dir) {  // each side's next bytes are looked at for a compressed header
    d.skip = 0;
    d.cont = 0;
    d.resync = 0;
    d.zresync = 1;
    store_.release(d.held);
  }
}

bool MysqlDecoder::inflates(const uint8_t* h, uint32_t avail) {
  const uint32_t clen = load_le24(h), ulen = load_le24(h + 4);
  if (ulen == 0) return true;  // sent as it is: its packet was looked at
  uint8_t out[512];
  inflater_.begin(h + 7, std::min({clen, avail - 7, 256u}));
  inflater_.run(out, sizeof out);
  return !inflater_.failed();
}

int MysqlDecoder::lend_stream(const MysqlState& st, int dir) {
  for (int i = 0; i < kStreams; ++i) {
    if (streams_[i].owner) continue;
    streams_[i].owner = &st;
    streams_[i].dir = dir;
    return i;
  }
  return -1;
}

void MysqlDecoder::give_back_stream(MysqlState& st, int dir) {
  MysqlState::Dir& d = st.dir[dir];
  if (d.zstream && d.zstream <= kStreams) {
    Stream& s = streams_[d.zstream - 1];
    if (s.owner == &st && s.dir == dir) s.owner = nullptr;
  }
  d.zstream = 0;
}

Verdict MysqlDecoder::inflate_through(MysqlState& st, const StreamInfo& c, int dir, mysql::Inflater* z,
                                      const uint8_t* raw, uint32_t k, uint64_t at_ns, uint64_t& produced) {
  MysqlState::Dir& d = st.dir[dir];
  uint8_t* buf = inflated_.get();
  uint32_t have = store_.copy_out(d.held, buf, kInflateBytes);
  uint32_t earlier = have;  // bytes at the front from an earlier compressed packet
  const uint64_t earlier_ns = d.held_ns;
  store_.release(d.held);
  uint32_t in_at = 0;
  produced = 0;
  for (;;) {
    const uint32_t room = kInflateBytes - have;
    uint32_t got;
    if (!z) {
      got = std::min(k - in_at, room);
      std::memcpy(buf + have, raw + in_at, got);
      in_at += got;
    } else {
      got = z->run(buf + have, room);
    }
    produced += got;
    have += got;
    StreamInfo ic = c;
    ic.ts_ns = at_ns;
    ic.held_len = earlier;
    ic.held_ns = earlier_ns;
    const DecodeResult r = packets(st, ic, dir, {buf, have}, true);
    if (r.verdict == Verdict::kViolation || r.verdict == Verdict::kDone || r.verdict == Verdict::kStartTls)
      return r.verdict;
    const uint32_t used = std::min(r.consumed, have);
    std::memmove(buf, buf + used, have - used);
    have -= used;
    earlier = earlier > used ? earlier - used : 0;
    if (have == kInflateBytes) {  // wants more than the buffer holds: no packet head is that long
      counters_.inc(MysqlStat::malformed);
      return lose_framing(st, c, dir) ? Verdict::kOk : Verdict::kViolation;
    }
    if (!z ? in_at >= k : (got == 0 || z->ended() || z->failed())) break;
  }
  if (have) {
    d.held_ns = earlier ? earlier_ns : at_ns;
    if (store_.append(d.held, buf, have) < have) {
      counters_.inc(MysqlStat::store_full);
      return lose_framing(st, c, dir) ? Verdict::kOk : Verdict::kViolation;
    }
  }
  return Verdict::kOk;
}

DecodeResult MysqlDecoder::packets(MysqlState& st, const StreamInfo& c, int dir,
                                   std::span<const uint8_t> bytes, bool inner) {
  MysqlState::Dir& d = st.dir[dir];
  const uint8_t* p = bytes.data();
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  uint32_t off = 0;
  if (st.dir[1 - dir].resync == kResyncAfterPeer) st.dir[1 - dir].resync = kResyncNext;
  if (d.resync == kResyncAfterPeer) {
    counters_.inc(MysqlStat::resync_skipped_bytes, n);
    return {n, 0, Verdict::kOk};
  }
  while (off < n) {
    if (d.skip) {
      const uint32_t k = std::min(d.skip, n - off);
      d.skip -= k;
      off += k;
      continue;
    }
    if (!inner && (st.conn & kConnCompressed)) {  // the login's OK switched the connection
      DecodeResult r = compressed(st, c, dir, bytes.subspan(off));
      r.consumed += off;
      return r;
    }
    if (n - off < 4) return {off, 4, Verdict::kNeedMore};
    const uint32_t len = load_le24(p + off);
    const uint8_t seq = p[off + 3];
    if (st.client < 0) {
      // Who is the client: the side talking to a configured server port, else the
      // content (the server greets with protocol 10 at sequence 0; a command is
      // sent at sequence 0; the login answering a greeting the capture lost, or an
      // SSL request, at 1 or 2: capabilities with CLIENT_PROTOCOL_41, then 23 bytes
      // of zeros after the packet size and character set; anything else is a response).
      st.client = static_cast<int8_t>(cfg_.client_by_port(c.port));
      if (st.client < 0) {
        const bool may_login = (seq == 1 || seq == 2) && len >= 32;
        if (n - off < (may_login ? 36u : 5u) && len > 0)
          return {off, may_login ? 36u : 5u, Verdict::kNeedMore};
        const bool greeting = seq == 0 && len > 0 && p[off + 4] == 0x0a && len >= 32;
        const bool login = may_login && (p[off + 5] & 0x02) &&
                           std::all_of(p + off + 13, p + off + 36, [](uint8_t b) { return b == 0; });
        st.client = static_cast<int8_t>((seq == 0 && !greeting) || login ? dir : 1 - dir);
      }
    }
    const uint32_t avail = n - off - 4;
    if (len > 0 && avail == 0) return {off, 5, Verdict::kNeedMore};
    const uint8_t first = len ? p[off + 4] : 0;
    // The connection is compressed though no OK of its login said so: the OK was lost
    // (a command at sequence 0 after a handshake that asked for compression), or the
    // capture began after the login (a command that is no command, or COM_SLEEP, which
    // clients do not send: a payload sent as it is, its length uncompressed 0; where a
    // compressed header that holds together and whose payload inflates lies).
    if (!inner && dir == st.client && seq == 0 && len > 0 &&
        ((st.phase == kPhaseAuth && (st.flags & kCompress)) ||
         (st.phase == kPhaseCommands && !(st.conn & kConnHandshake) &&
          ((first > kComLast && first != kComStmtBulkExecute) || first == 0x00)))) {
      if (n - off < 12) return {off, 12, Verdict::kNeedMore};
      if (compressed_header_at(p + off, true, 1) && inflates(p + off, n - off)) {
        counters_.inc(MysqlStat::compressed_connections);
        begin_compressed(st);
        DecodeResult r = compressed(st, c, dir, bytes.subspan(off));
        r.consumed += off;
        return r;
      }
    }
    if (d.resync == kResyncNext) {
      if (dir == st.client && p[off] == 0x16 && n - off < 6) return {off, 6, Verdict::kNeedMore};
      if (dir == st.client && tls_client_hello(p + off, n - off)) {
        // The SSL request was in the bytes the capture lost.
        counters_.inc(MysqlStat::tls_connections);
        st.phase = kPhaseTls;
        return {off, 0, Verdict::kStartTls};
      }
      uint32_t need = 0;
      const int opens = opens_message(dir == st.client, p + off, n - off,
                                      inner ? static_cast<uint8_t>(st.zseq + 1) : 1, need);
      if (opens < 0) return {off, need, Verdict::kNeedMore};
      if (!opens) {
        d.resync = kResyncAfterPeer;
        counters_.inc(MysqlStat::resync_skipped_bytes, n - off);
        return {n, 0, Verdict::kOk};
      }
      d.resync = 0;
      counters_.inc(MysqlStat::resynced);
    }
    const uint32_t head = head_wanted(st, dir, len, first);
    if (avail < head) return {off, 4 + head, Verdict::kNeedMore};
    const bool was_cont = d.cont;
    d.cont = len == kMaxPacket;
    d.skip = len - head;
    off += 4 + head;
    if (was_cont) {  // the rest of a packet over 16 MB: counted with its first part
      if (dir == st.client)
        st.req_bytes += 4 + len;
      else
        st.resp_bytes += 4 + len;
      d.seq = seq;
      continue;
    }
    d.seq = seq;
    const uint64_t at_ns = c.ts_at(off - head - 4);
    const bool ok = dir == st.client ? client_packet(st, c, p + off - head, len, head, at_ns)
                                     : server_packet(st, c, p + off - head, len, head, at_ns);
    if (!ok) {
      // After an SSL request (a 32-byte packet, read whole) the client's ClientHello follows.
      if (st.phase == kPhaseTls) return {off, 0, d.skip == 0 ? Verdict::kStartTls : Verdict::kDone};
      return {off, 0, st.phase == kPhaseDone ? Verdict::kDone : Verdict::kViolation};
    }
  }
  return {off, 0, Verdict::kOk};
}

bool MysqlDecoder::client_packet(MysqlState& st, const StreamInfo& c, const uint8_t* p, uint32_t len,
                                 uint32_t head, uint64_t at_ns) {
  const uint8_t seq = st.dir[st.client].seq;
  if (st.phase == kPhaseAuth) {
    // The handshake response: a TLS request (32 bytes with CLIENT_SSL) or the
    // capabilities; compression changes the framing after authentication.
    if (seq == 1 && head >= 4) {
      // Before 4.1 (no CLIENT_PROTOCOL_41): two bytes of capabilities, then the maximum
      // packet size.
      uint32_t caps = le<uint32_t>(p);
      if (!(caps & kClientProtocol41)) caps &= 0xffff;
      if ((caps & kClientSsl) && len == 32) {
        counters_.inc(MysqlStat::tls_connections);
        st.phase = kPhaseTls;
        return false;
      }
      // In effect after the server's OK: zlib (CLIENT_COMPRESS) or MySQL 8's zstd, which a
      // client asks for alone (--compression-algorithms=zstd).
      if (caps & (kClientCompress | kClientZstdCompression)) st.flags |= kCompress;
      if ((caps & kClientQueryAttributes) && (st.conn & kConnServerAttrs)) st.conn |= kConnQueryAttrs;
      st.conn |= kConnHandshake;
    }
    if (seq != 0) return true;
    // A client sends no sequence 0 in a login: a command, after an OK the capture
    // lost.
    if (st.flags & kCompress) {
      counters_.inc(MysqlStat::compressed_connections);
      st.phase = kPhaseDone;
      return false;
    }
    st.phase = kPhaseCommands;
    st.flags = 0;
  }
  if (seq != 0) {
    if (st.cmd && st.resp == kRespInfile) st.req_bytes += 4 + len;  // LOCAL INFILE contents
    return true;
  }
  if (len == 0 || head == 0) {
    counters_.inc(MysqlStat::malformed);
    return false;
  }
  const uint8_t cmd = p[0];
  if (cmd > kComLast && cmd != kComStmtBulkExecute) {
    counters_.inc(MysqlStat::malformed);
    return false;
  }
  // A command before the pending one's response: sent behind it (pipelined, as
  // MariaDB's Connector/J sends a prepare and its execute), it waits its turn, the
  // responses coming in order; else the pending one's response was lost or never
  // came, and it goes out unanswered.
  // (COM_SLEEP, 0, is the server's own: never a command pending, nor one waiting.)
  const bool answered_later = cmd != 0 && cmd != kComChangeUser && cmd != kComBinlogDump &&
                              cmd != kComBinlogDumpGtid && cmd != kComClone;
  while (st.cmd &&
         !(answered_later && can_wait_behind(st) && !(st.cmd == kLostCommands && lost_answered(st)))) {
    give_up_pending(st, c, false);  // the next waiting one, if any, is pending now
  }
  counters_.inc(MysqlStat::requests);
  switch (cmd) {
    case kComQuit:
    case kComStmtSendLongData:
      counters_.inc(MysqlStat::other_commands);
      return true;
    case kComStmtClose:
      if (head >= 5) forget_statement(st, le<uint32_t>(p + 1));
      counters_.inc(MysqlStat::other_commands);
      return true;
    case kComBinlogDump:
    case kComBinlogDumpGtid:
    case kComClone:
      counters_.inc(MysqlStat::replication_connections);
      st.phase = kPhaseDone;
      return false;
    case kComChangeUser:
      // Authentication again (an auth switch, caching_sha2_password's exchanges)
      // up to the server's OK or ERR; then commands.
      counters_.inc(MysqlStat::other_commands);
      st.phase = kPhaseAuth;
      return true;
    default:
      break;
  }
  if (!st.cmd) {
    begin_command(st, c, cmd, p, len, head, at_ns, false);
    return true;
  }
  queue_behind(st, c, cmd, p, len, head, at_ns);
  st.conn |= kConnPipelined;
  counters_.inc(MysqlStat::pipelined);
  return true;
}

// Read into the state as a pending command is, then queued behind the pending one,
// whose command and response so far (its rows, columns, size, the chains holding its
// request, text and error) come back whole.
bool MysqlDecoder::queue_behind(MysqlState& st, const StreamInfo& c, uint8_t cmd, const uint8_t* p,
                                uint32_t len, uint32_t head, uint64_t at_ns) {
  const MysqlState pending = st;
  st.request = ChainStore::Chain{};
  reset_transaction_fields(st);
  begin_command(st, c, cmd, p, len, head, at_ns, true);
  push_waiting(st);  // releases the command's request
  const ChainStore::Chain waiting = st.waiting;
  const uint8_t n_waiting = st.n_waiting;
  st = pending;
  const bool queued = n_waiting != st.n_waiting;
  st.waiting = waiting;
  st.n_waiting = n_waiting;
  return queued;
}

void MysqlDecoder::lose_commands(MysqlState& st, const StreamInfo& c) {
  if (st.lost) return;  // the place already waiting holds these too
  if (!st.cmd && c.gap_acked_ns && st.server_ns >= c.gap_acked_ns) return;
  st.lost_seen = 0;
  st.lost_answers = 0;
  if (!st.cmd) {
    begin_command(st, c, kLostCommands, nullptr, 0, 0, c.ts_ns, false);
    st.lost = kLostRequests;
  } else if (st.n_waiting < kMaxWaiting && queue_behind(st, c, kLostCommands, nullptr, 0, 0, c.ts_ns)) {
    st.lost = kLostRequests;
  }
}

// Server bytes lost while commands wait behind a pending one none of whose response has
// come. Those sent before the client had the lost bytes in hand (gap_acked_ns; not known:
// all) may have been answered in them: one alone was (it goes out unanswered, those sent
// after wait on); of two or more, how many is not known, and a place goes ahead of every
// command: the responses after the loss are the last ones's (MysqlState::lost). False
// when none is needed or the queue has no room.
bool MysqlDecoder::lose_responses(MysqlState& st, const StreamInfo& c) {
  if (st.lost || !st.cmd || st.cmd == kLostCommands || !st.n_waiting || st.resp_bytes != 0 ||
      st.n_waiting >= kMaxWaiting)
    return false;
  uint32_t before = c.gap_acked_ns == 0 || st.start_ns < c.gap_acked_ns;
  Waiting w{};
  for (uint32_t at = 0, k = 0; k < st.n_waiting; ++k, at += sizeof w + w.head_len) {
    store_.copy_out(st.waiting, reinterpret_cast<uint8_t*>(&w), sizeof w, at);
    before += c.gap_acked_ns == 0 || w.start_ns < c.gap_acked_ns;
  }
  if (before < 2) return false;
  // The pending command to the queue's end, the others turned round behind it.
  const uint8_t n = st.n_waiting;
  push_waiting(st);
  if (st.n_waiting == n) return false;  // no room in the store: the pending one stays
  for (uint8_t k = 0; k < n; ++k) {
    reset_transaction_fields(st);
    pop_waiting(st);
    push_waiting(st);
  }
  reset_transaction_fields(st);
  begin_command(st, c, kLostCommands, nullptr, 0, 0, c.ts_ns, false);
  st.lost = kLostResponses;
  st.lost_seen = 0;
  st.lost_answers = 0;
  return true;
}

// A response to a command lost to the capture, or to one sent behind: counted by its
// first packet (the sequence restarts at 1 with each), and kept.
void MysqlDecoder::lost_response(MysqlState& st, const uint8_t* p, uint32_t len, uint32_t head, uint8_t seq,
                                 uint64_t at_ns) {
  LostAnswer a{};
  const uint8_t first = head ? p[0] : 0;
  if (seq != 1) {  // a later packet of the last one
    if (st.n_lost_resp == 0) return;
    const uint32_t at = (st.n_lost_resp - 1u) * static_cast<uint32_t>(sizeof a);
    store_.copy_out(st.lost_resp, reinterpret_cast<uint8_t*>(&a), sizeof a, at);
    a.bytes += 4 + len;
    if (!(first == 0xfe && len <= 5)) a.bytes_defs = a.bytes;
    ++a.packets;
    if (a.kind == LostAnswer::kRowsOpen) {
      if (a.defs_left) {
        --a.defs_left;
      } else if (first == 0xfe && len < kMaxPacket) {
        if (len <= 5 && !a.defs_eof && a.rows == 0) {
          a.defs_eof = 1;  // the EOF after the definitions (without CLIENT_DEPRECATE_EOF)
        } else {           // the end: an EOF, or an OK headed 0xfe
          MysqlState probe{};
          ok_packet(probe, p, head, true);
          a.kind = (probe.flags & kMoreResults) ? LostAnswer::kOther : LostAnswer::kRows;
        }
      } else {
        ++a.rows;
      }
    } else if (a.kind != LostAnswer::kOk) {
      a.kind = LostAnswer::kOther;  // (an OK followed by more: a prepare's definitions)
    }
    store_.write_at(st.lost_resp, at, reinterpret_cast<const uint8_t*>(&a), sizeof a);
    return;
  }
  ++st.lost_taken;
  ++st.lost_answers;
  // (Commands lost: this may be a prepare's, of a statement not known: -1 names none now.)
  if (st.lost == kLostRequests) st.has_last_prepared = 0;
  a.start_ns = at_ns;
  a.bytes = a.bytes_defs = 4 + len;
  a.packets = 1;
  a.head_len = static_cast<uint8_t>(std::min<uint32_t>(head, sizeof a.head));
  std::memcpy(a.head, p, a.head_len);
  a.kind = LostAnswer::kOther;  // LOCAL INFILE, an ERR too long to keep, a response not read
  if (first == 0x00) {
    a.kind = LostAnswer::kOk;
  } else if (first == 0xff) {
    if (head == len && len <= sizeof a.head) a.kind = LostAnswer::kErr;
  } else if (first != 0xff && first != 0xfb && first != 0xfe) {
    ByteReader r(p, head);
    uint64_t cols = 0;
    uint8_t metadata_follows = 1;
    if (lenenc(r, cols) && cols > 0 && cols <= 4096) {
      a.kind = LostAnswer::kRowsOpen;
      a.num_fields = static_cast<uint32_t>(cols);
      // Definitions left out (cached or optional metadata): the rows come next.
      a.defs_left =
          (r.remaining() == 1 && r.u8(metadata_follows) && metadata_follows == 0) ? 0 : a.num_fields;
    }
  }
  if (st.n_lost_resp == kMaxWaiting) {
    store_.drop_front(st.lost_resp, sizeof a);
    --st.n_lost_resp;
  }
  if (store_.room(st.lost_resp) < sizeof a) {
    // Those kept go (the last ones kept must be the last ones sent), this one too
    // if there is still no room.
    counters_.inc(MysqlStat::store_full);
    store_.release(st.lost_resp);
    st.n_lost_resp = 0;
    if (store_.room(st.lost_resp) < sizeof a) return;
  }
  store_.append(st.lost_resp, reinterpret_cast<const uint8_t*>(&a), sizeof a);
  ++st.n_lost_resp;
}

// Commands lost: the commands behind the place have had their responses once there are
// at least as many. Responses lost: the loss began with the first one's (nothing of its
// response had come), so it holds one or more: with one fewer than the commands, all have.
bool MysqlDecoder::lost_answered(const MysqlState& st) {
  return st.lost_seen &&
         (st.lost == kLostResponses ? st.lost_answers + 1 >= st.n_waiting : st.lost_answers >= st.n_waiting);
}

void MysqlDecoder::end_lost(MysqlState& st, const StreamInfo& c, bool at_end) {
  // The last responses answer the last commands, in order: commands lost, those behind
  // the place were answered by its last responses once the server has sent at least as
  // many as they are; responses lost, the first commands behind it had theirs in the loss
  // (at the connection's end or expiry, whatever came is all there is).
  const uint32_t m = st.n_waiting, kept = st.n_lost_resp;
  uint32_t paired = 0;
  if (st.lost == kLostResponses && (at_end || lost_answered(st)))
    paired = std::min(kept, m);
  else if (st.lost == kLostRequests && st.lost_answers >= m)  // (answers came: lost_seen)
    paired = kept >= m ? m : 0;
  const char* note = st.lost == kLostResponses ? "Unmatched request" : kLossAmongRequests;
  // The first m - paired commands find no record; the others take the last ones, in order.
  uint32_t next = kept - paired, unanswered = m - paired;
  uint32_t unpaired = st.lost_taken;
  st.lost_taken = 0;
  ChainStore::Chain resp = st.lost_resp;
  st.lost_resp = ChainStore::Chain{};
  reset_transaction(st);
  while (st.cmd) {
    LostAnswer a{};
    bool has = false;
    if (unanswered)
      --unanswered;
    else if (next < kept)
      has = store_.copy_out(resp, reinterpret_cast<uint8_t*>(&a), sizeof a,
                            next++ * static_cast<uint32_t>(sizeof a)) == sizeof a;
    // The record answers the command: its response ends where the record began.
    const auto answered_by = [&](uint64_t bytes) {
      st.end_ns = a.start_ns;
      st.resp_bytes = bytes;
    };
    bool took = false;
    if (has && a.kind == LostAnswer::kErr && a.packets == 1 && published(st.cmd)) {
      // An ERR answers any command (a prepare's leaves -1 naming none).
      answered_by(a.bytes);
      error_packet(st, a.head, a.head_len);
      took = true;
    } else if (has && (st.cmd == kComQuery || st.cmd == kComStmtExecute || st.cmd == kComStmtBulkExecute)) {
      // A plain OK, or a result set read to its end, answering a query or an execute, is
      // published with the command (a result set's rows counted, not shown).
      answered_by(a.bytes);
      if (a.kind == LostAnswer::kOk && a.packets == 1) {
        ok_packet(st, a.head, a.head_len, false);
        took = !(st.flags & kMoreResults);
      } else if (a.kind == LostAnswer::kRows) {
        st.num_fields = a.num_fields;
        st.num_rows = a.rows;
        st.flags |= kColumnsUnknown;
        took = true;
      }
    } else if (has && st.cmd == kComStmtPrepare && a.kind == LostAnswer::kOk && a.head_len >= 12) {
      // A prepare's OK (statement id, columns, parameters) and the definitions after it:
      // the statement is remembered (its columns' types not known here).
      const uint32_t cols = le<uint16_t>(a.head + 5), params = le<uint16_t>(a.head + 7);
      if (a.packets >= 1 + cols + params) {
        answered_by(a.bytes_defs);
        st.stmt_id = le<uint32_t>(a.head + 1);
        st.num_fields = cols;
        st.stmt_params = params;
        st.flags |= kColumnsUnknown;
        remember_statement(st, c.ts_ns);
        took = true;
      }
    }
    if (took) {
      --unpaired;
      finish_response(st, c);  // the next behind is pending now
      continue;
    }
    if (published(st.cmd)) {
      counters_.inc(MysqlStat::unmatched_requests);
      publish(st, c, note);
    }
    reset_transaction(st);
  }
  counters_.inc(MysqlStat::unmatched_responses, unpaired);
  store_.release(resp);
}

// The command's fields, read into the pending command's place.
void MysqlDecoder::begin_command(MysqlState& st, const StreamInfo& c, uint8_t cmd, const uint8_t* p,
                                 uint32_t len, uint32_t head, uint64_t at_ns, bool behind) {
  st.cmd = cmd;
  st.start_ns = at_ns;
  st.req_bytes = 4 + len;
  if (published(cmd)) {
    if (store_.append(st.request, p, head) < head) counters_.inc(MysqlStat::store_full);
    if (head < len && cmd != kComStmtExecute && cmd != kComStmtBulkExecute) {
      counters_.inc(MysqlStat::query_truncated);
      if (len > kMaxRequestHead) st.flags |= kQueryCut;
    }
  }
  // MariaDB's bulk execute names its statement as an execute does; its rows of
  // parameters (an indicator byte before each value) are not shown.
  if (cmd == kComStmtBulkExecute && head >= 5) st.stmt_id = le<uint32_t>(p + 1);
  if (cmd == kComStmtExecute && head >= 5) {
    st.stmt_id = le<uint32_t>(p + 1);
    // A first execute binds the parameter types; later ones reuse them.
    Statement s{};
    uint32_t at;
    ExecParams ep;
    // (Statement -1 sent behind a command is the statement a prepare ahead of it makes:
    // not known before that prepare's response.)
    if (!(behind && st.stmt_id == kLastPrepared) && find_statement(st, st.stmt_id, c.ts_ns, s, at) &&
        s.n_params > 0 && exec_params(p, head, s.n_params, st.conn & kConnQueryAttrs, ep) && ep.bound) {
      std::memcpy(s.types, ep.types, 2u * std::min<uint32_t>(s.n_params, kMaxParams));
      s.types_known = 1;
      store_.write_at(st.statements, at, reinterpret_cast<const uint8_t*>(&s), sizeof s);
    }
  }
  if (cmd == kComStmtFetch) st.resp = kRespRows, st.binary_rows = 1;
  if (cmd == kComFieldList) st.resp = kRespColumns, st.cols_left = UINT32_MAX;
}

// A command can wait behind the pending one when nothing of the pending one's response
// has come (or, on a connection whose client has pipelined, while it comes), no bytes of
// either side were lost since it was sent (its own end, its response's start: either
// framing being taken up again), and the queue has room: the client sent it without
// waiting.
bool MysqlDecoder::can_wait_behind(const MysqlState& st) const {
  const bool answering = st.resp_bytes != 0 || st.resp != kRespStart;
  return !cutting_ && (!answering || ((st.conn & kConnPipelined) && st.resp != kRespInfile)) &&
         !(st.flags & (kGap | kQueryLost)) && st.dir[0].resync == 0 && st.dir[1].resync == 0 &&
         st.n_waiting < kMaxWaiting;
}

MysqlDecoder::Waiting MysqlDecoder::waiting_of(const MysqlState& st) {
  Waiting w{};
  w.cmd = st.cmd;
  w.flags = st.flags;
  w.resp = st.resp;
  w.binary_rows = st.binary_rows;
  w.stmt_id = st.stmt_id;
  w.cols_left = st.cols_left;
  w.start_ns = st.start_ns;
  w.req_bytes = st.req_bytes;
  return w;
}

void MysqlDecoder::load_waiting(MysqlState& st, const Waiting& w) {
  st.cmd = w.cmd;
  st.flags = w.flags;
  st.resp = w.resp;
  st.binary_rows = w.binary_rows;
  st.stmt_id = w.stmt_id;
  st.cols_left = w.cols_left;
  st.start_ns = w.start_ns;
  st.req_bytes = w.req_bytes;
}

// The command read into the state goes to the end of the queue: its fields, then its
// request's bytes (as many as the store has room for: the fields keep its turn).
void MysqlDecoder::push_waiting(MysqlState& st) {
  Waiting w = waiting_of(st);
  const uint64_t room = store_.room(st.waiting);
  if (room < sizeof w) {
    counters_.inc(MysqlStat::store_full);  // not queued: its response will meet the one after
  } else {
    const uint32_t fit = static_cast<uint32_t>(std::min<uint64_t>(room - sizeof w, kMaxRequestHead));
    w.head_len = store_.copy_out(st.request, scratch_.get() + sizeof w, fit);
    if (w.head_len < st.request.len) counters_.inc(MysqlStat::store_full);
    std::memcpy(scratch_.get(), &w, sizeof w);
    store_.append(st.waiting, scratch_.get(), sizeof w + w.head_len);
    ++st.n_waiting;
  }
  store_.release(st.request);
}

// The first waiting command becomes the pending one.
void MysqlDecoder::pop_waiting(MysqlState& st) {
  Waiting w{};
  store_.copy_out(st.waiting, reinterpret_cast<uint8_t*>(&w), sizeof w);
  const uint32_t n = store_.copy_out(st.waiting, scratch_.get(), w.head_len, sizeof w);
  store_.drop_front(st.waiting, sizeof w + w.head_len);
  --st.n_waiting;
  load_waiting(st, w);
  if (store_.append(st.request, scratch_.get(), n) < n) counters_.inc(MysqlStat::store_full);
}

bool MysqlDecoder::server_packet(MysqlState& st, const StreamInfo& c, const uint8_t* p, uint32_t len,
                                 uint32_t head, uint64_t at_ns) {
  const uint8_t first = head ? p[0] : 0;
  const uint8_t seq = st.dir[1 - st.client].seq;
  if (st.phase == kPhaseAuth || (seq == 0 && first == 0x0a && !st.cmd)) {
    if (seq == 0 && first == 0x0a) {  // the server's greeting: authentication follows
      st.phase = kPhaseAuth;
      st.flags = 0;
      uint32_t caps = 0;
      st.conn = 0;
      if (greeting_caps(p, head, caps) && (caps & kClientQueryAttributes)) st.conn |= kConnServerAttrs;
      return true;
    }
    if (first == 0x00 || first == 0xff) {  // authentication ends
      const bool compressed = st.flags & kCompress;
      st.flags = 0;
      st.phase = kPhaseCommands;
      if (first == 0xff) counters_.inc(MysqlStat::login_failures);
      if (compressed && first == 0x00) {  // compressed packets from the next byte on
        counters_.inc(MysqlStat::compressed_connections);
        st.conn |= kConnCompressed;
      }
    }
    return true;  // auth switch, more data
  }
  st.server_ns = at_ns;
  if (st.lost) st.lost_seen = 1;
  if (st.cmd == kLostCommands) {
    lost_response(st, p, len, head, seq, at_ns);
    return true;
  }
  if (!st.cmd) {
    // A trailing EOF of a prepare response (no CLIENT_DEPRECATE_EOF) is expected;
    // anything else answers nothing that was seen.
    if (!(first == 0xfe && len <= 5)) counters_.inc(MysqlStat::unmatched_responses);
    return true;
  }
  if (st.resp_bytes == 0) st.end_ns = at_ns;  // the response's first packet, as Packetbeat ends it
  st.resp_bytes += 4 + len;
  const bool terminator = first == 0xfe && len < kMaxPacket;
  if (first == 0xff) {
    error_packet(st, p, head);
    finish_response(st, c);
    return true;
  }
  switch (st.resp) {
    case kRespStart:
      if (st.cmd == kComStatistics) {  // answered by one human-readable string ("Uptime: ...")
        finish_response(st, c);
        return true;
      }
      if (first == 0x00 && st.cmd == kComStmtPrepare && len >= 12 && head >= 12) {
        st.stmt_id = le<uint32_t>(p + 1);
        st.cols_left = le<uint16_t>(p + 5);
        st.params_left = le<uint16_t>(p + 7);
        st.stmt_params = st.params_left;
        st.num_fields = st.cols_left;
        remember_statement(st, c.ts_ns);
        st.resp = st.params_left ? kRespPrepParams : st.cols_left ? kRespPrepColumns : kRespStart;
        if (st.resp == kRespStart) finish_response(st, c);
        return true;
      }
      if (first == 0x00 || terminator) {
        ok_packet(st, p, head, first == 0xfe);
        if (!(st.flags & kMoreResults)) finish_response(st, c);
        return true;
      }
      if (first == 0xfb) {  // LOCAL INFILE: the client sends the file, then the server answers
        st.resp = kRespInfile;
        return true;
      }
      {
        ByteReader r(p, head);
        uint64_t cols = 0;
        if (!lenenc(r, cols) || cols == 0 || cols > 4096) {
          counters_.inc(MysqlStat::malformed);
          return false;
        }
        if (st.num_fields == 0) st.num_fields = static_cast<uint32_t>(cols);
        st.cols_left = static_cast<uint32_t>(cols);
        st.col_index = 0;
        st.unsigned_cols = 0;
        st.binary_rows = st.cmd == kComStmtExecute;
        st.resp = kRespColumns;
        if (cfg_.send_response) line_.reset(true);
        // MariaDB's MARIADB_CLIENT_CACHE_METADATA, MySQL 8's
        // CLIENT_OPTIONAL_RESULTSET_METADATA: a byte after the count says whether the
        // definitions follow (a plain count packet is the count alone). 0: the rows come
        // next (an EOF first without CLIENT_DEPRECATE_EOF); text rows read as they are,
        // binary ones with the statement's columns.
        uint8_t metadata_follows = 1;
        if (r.remaining() == 1 && r.u8(metadata_follows) && metadata_follows == 0) {
          st.cols_left = 0;
          st.resp = kRespColumnsEof;
          if (st.binary_rows && !use_kept_columns(st, c.ts_ns)) {
            st.flags |= kColumnsUnknown;
            counters_.inc(MysqlStat::columns_unknown);
          }
        }
      }
      return true;
    case kRespInfile:
      if (first == 0x00) {
        ok_packet(st, p, head, false);
        finish_response(st, c);
      }
      return true;
    case kRespPrepParams:
      if (terminator && len <= 5) return true;
      if (st.params_left) --st.params_left;
      if (st.params_left == 0) {
        // An EOF follows unless the client set CLIENT_DEPRECATE_EOF: taken before
        // the column definitions, or as a trailing one after the response.
        if (st.cols_left)
          st.resp = kRespPrepColumns;
        else
          finish_response(st, c);
      }
      return true;
    case kRespPrepColumns:
      if (terminator && len <= 5) return true;  // the EOF after the parameter definitions
      column(st, p, head);
      if (st.cols_left && --st.cols_left == 0) finish_response(st, c);
      return true;
    case kRespColumns:
      // COM_FIELD_LIST's definitions end with an EOF, or with CLIENT_DEPRECATE_EOF an OK
      // headed 0xfe (7 bytes and more); a definition never starts with 0xfe (its catalog,
      // "def", comes first).
      if (terminator && st.cmd == kComFieldList) {
        finish_response(st, c);
        return true;
      }
      if (terminator && len <= 5) {  // the EOF after the definitions
        st.resp = kRespRows;
        if (opens_cursor(p, head)) finish_response(st, c);
        return true;
      }
      column(st, p, head);
      if (st.cols_left != UINT32_MAX && --st.cols_left == 0) {
        st.resp = kRespColumnsEof;
        // The column names of the first result set head the table.
        if (cfg_.send_response && st.table.len == 0 &&
            !sql_table_append(store_, st.table, line_.view(), kMaxTable))
          counters_.inc(MysqlStat::response_cut);
      }
      return true;
    case kRespColumnsEof:
      st.resp = kRespRows;
      if (terminator && len <= 5) {  // the EOF after the definitions
        if (opens_cursor(p, head)) finish_response(st, c);
        return true;
      }
      [[fallthrough]];
    case kRespRows:
      if (terminator) {
        ok_packet(st, p, head, true);
        if (st.flags & kMoreResults)
          st.resp = kRespStart;
        else
          finish_response(st, c);
        return true;
      }
      ++st.num_rows;
      if (cfg_.send_response && st.num_rows <= cfg_.max_rows && !(st.flags & kColumnsUnknown))
        row(st, p, head);
      return true;
  }
  return true;
}

void MysqlDecoder::column(MysqlState& st, const uint8_t* p, uint32_t head) {
  // catalog, schema, table, org_table, name, org_name, then fixed fields: 0x0c,
  // charset(2), length(4), type(1), flags(2), decimals(1).
  ByteReader r(p, head);
  std::string_view f[6];
  bool whole = true;
  for (auto& s : f)
    if (!lenenc_str(r, s, whole) || !whole) return;
  if (st.resp == kRespPrepParams) return;
  const std::string_view schema = f[1], table = f[2], name = f[4];
  {
    // path: "schema.table", each one once, comma separated, as Packetbeat writes it: a
    // column of no table (a computed one) is ".", one not already read in the path.
    char one[MysqlState::kPathBytes];
    const int k = std::snprintf(one, sizeof one, "%.*s.%.*s", static_cast<int>(schema.size()), schema.data(),
                                static_cast<int>(table.size()), table.data());
    const std::string_view cur(st.path, st.path_len), add(one, static_cast<std::size_t>(std::max(k, 0)));
    if (cur.find(add) == std::string_view::npos && st.path_len + add.size() + 2 <= sizeof st.path) {
      if (st.path_len) st.path[st.path_len++] = ',', st.path[st.path_len++] = ' ';
      std::memcpy(st.path + st.path_len, add.data(), add.size());
      st.path_len = static_cast<uint16_t>(st.path_len + add.size());
    }
  }
  uint8_t marker, type = 0xfd;
  uint16_t charset, flags = 0;
  uint32_t length;
  if (r.u8(marker) && r.le16(charset) && r.le32(length) && r.u8(type) && r.le16(flags)) {
    if (st.col_index < MysqlState::kMaxTypedColumns) {
      st.col_types[st.col_index] = type;
      if (flags & 0x20) st.unsigned_cols |= uint64_t{1} << st.col_index;
    }
  }
  ++st.col_index;
  if (cfg_.send_response && st.resp == kRespColumns) line_.add(name);
}

void MysqlDecoder::row(MysqlState& st, const uint8_t* p, uint32_t head) {
  line_.reset(false);
  ByteReader r(p, head);
  if (!st.binary_rows) {
    while (r.remaining()) {
      uint8_t b;
      r.peek_u8(0, b);
      if (b == 0xfb) {
        r.skip(1);
        line_.add("NULL");
        continue;
      }
      std::string_view v;
      bool whole;
      if (!lenenc_str(r, v, whole)) break;
      line_.add(v);
      if (!whole) break;
    }
  } else {
    // 0x00, a NULL bitmap offset by 2 bits, the non-NULL values by column type.
    const uint32_t cols = st.num_fields;
    const uint8_t* bitmap = p + 1;
    if (r.skip(1 + (cols + 9) / 8)) {
      char buf[64];
      for (uint32_t i = 0; i < cols; ++i) {
        const uint32_t bit = i + 2;
        if (bitmap[bit / 8] & (1u << (bit % 8))) {
          line_.add("NULL");
          continue;
        }
        if (i >= MysqlState::kMaxTypedColumns) break;
        std::string_view v;
        if (!binary_value(r, st.col_types[i], st.unsigned_cols >> i & 1, buf, sizeof buf, v)) break;
        line_.add(v);
      }
    }
  }
  if (!sql_table_append(store_, st.table, line_.view(), kMaxTable)) counters_.inc(MysqlStat::response_cut);
}

// An EOF after a result set's column definitions whose status says a cursor is open
// (COM_STMT_EXECUTE with a cursor type): the response ends there, its rows come in
// answer to COM_STMT_FETCH.
bool MysqlDecoder::opens_cursor(const uint8_t* p, uint32_t head) {
  return head >= 5 && (static_cast<uint16_t>(p[3] | p[4] << 8) & kCursorExists);
}

// ERR: code, '#', SQLSTATE, message.
void MysqlDecoder::error_packet(MysqlState& st, const uint8_t* p, uint32_t head) {
  st.flags |= kError;
  ByteReader r(p + 1, head > 0 ? head - 1 : 0);
  uint16_t code = 0;
  r.le16(code);
  st.error_code = code;
  std::string_view rest(reinterpret_cast<const char*>(r.current()), r.remaining());
  if (!rest.empty() && rest.front() == '#' && rest.size() >= 6) {
    store_.append(st.error, reinterpret_cast<const uint8_t*>(rest.data() + 1), 5);
    store_.append(st.error, reinterpret_cast<const uint8_t*>(": "), 2);
    rest.remove_prefix(6);
  }
  store_.append(st.error, reinterpret_cast<const uint8_t*>(rest.data()), static_cast<uint32_t>(rest.size()));
}

void MysqlDecoder::ok_packet(MysqlState& st, const uint8_t* p, uint32_t head, bool eof_header) {
  ByteReader r(p + 1, head > 0 ? head - 1 : 0);
  uint16_t status = 0;
  if (eof_header && head <= 5) {  // EOF: warnings, status
    uint16_t warnings;
    r.le16(warnings);
    r.le16(status);
  } else {
    uint64_t affected = 0, insert_id = 0;
    if (lenenc(r, affected) && lenenc(r, insert_id)) {
      st.affected_rows += affected;
      if (insert_id) st.insert_id = insert_id;
      r.le16(status);
    }
  }
  if (status & kMoreResultsExist)
    st.flags |= kMoreResults;
  else
    st.flags &= static_cast<uint8_t>(~kMoreResults);
}

void MysqlDecoder::finish_response(MysqlState& st, const StreamInfo& c) {
  counters_.inc(MysqlStat::responses);
  if (st.cmd == kComStmtPrepare && st.num_fields && !(st.flags & (kError | kGap | kColumnsUnknown)))
    keep_columns(st, c.ts_ns);
  if (st.cmd == kComStmtPrepare && (st.flags & kError)) st.has_last_prepared = 0;  // -1 names none now
  if (published(st.cmd)) {
    counters_.inc(MysqlStat::transactions);
    publish(st, c, (st.flags & kGap) ? kLossResponse : (st.flags & kQueryLost) ? kLossRequest : nullptr);
  } else {
    counters_.inc(MysqlStat::other_commands);
  }
  reset_transaction(st);
}

bool MysqlDecoder::find_statement(MysqlState& st, uint32_t id, uint64_t now_ns, Statement& out,
                                  uint32_t& offset) {
  // MariaDB 10.2+: an execute of statement 0xffffffff runs the one last prepared on the
  // connection (a client sends the prepare and the execute together).
  if (id == kLastPrepared) {
    if (!st.has_last_prepared) return false;
    id = st.last_prepared;
  }
  for (uint32_t at = 0; at + sizeof(Statement) <= st.statements.len;) {
    store_.copy_out(st.statements, reinterpret_cast<uint8_t*>(&out), sizeof out, at);
    if (out.id == id) {
      if (out.last_ns + cfg_.statement_timeout_ns < now_ns) return false;  // forgotten by now
      out.last_ns = now_ns;
      store_.write_at(st.statements, at, reinterpret_cast<const uint8_t*>(&out), sizeof out);
      offset = at;
      return true;
    }
    at += sizeof(Statement) + out.query_len;
  }
  return false;
}

void MysqlDecoder::forget_statement(MysqlState& st, uint32_t id) {
  // Rebuilt without the record (and without those past statement_timeout).
  ChainStore::Chain kept;
  uint32_t n = 0;
  bool found = false;
  for (uint32_t at = 0; at + sizeof(Statement) <= st.statements.len;) {
    Statement s{};
    store_.copy_out(st.statements, reinterpret_cast<uint8_t*>(&s), sizeof s, at);
    const uint32_t rec = sizeof(Statement) + s.query_len;
    if (s.id == id) {
      found = true;
    } else {
      const uint32_t k = store_.copy_out(st.statements, scratch_.get(), rec, at);
      if (store_.append(kept, scratch_.get(), k) == k) ++n;
    }
    at += rec;
  }
  store_.release(st.statements);
  st.statements = kept;
  st.n_statements = n;
  if (!found) counters_.inc(MysqlStat::unknown_statements);
}

void MysqlDecoder::remember_statement(MysqlState& st, uint64_t now_ns) {
  if (st.n_statements >= kMaxStatements) {
    counters_.inc(MysqlStat::statements_dropped);
    return;
  }
  Statement s{};
  s.id = st.stmt_id;
  s.n_params = static_cast<uint16_t>(std::min(st.stmt_params, 0xffffu));
  s.last_ns = now_ns;
  uint8_t* q = scratch_.get() + sizeof s;
  const uint32_t k = st.request.len > 1 ? store_.copy_out(st.request, q, kStatementQuery, 1) : 0;
  const std::string_view query = sql_trim({reinterpret_cast<const char*>(q), k});
  std::memmove(q, query.data(), query.size());
  s.query_len = static_cast<uint16_t>(query.size());
  std::memcpy(scratch_.get(), &s, sizeof s);
  const uint32_t rec = sizeof s + s.query_len;
  if (store_.append(st.statements, scratch_.get(), rec) < rec) {
    counters_.inc(MysqlStat::store_full);
    forget_statement(st, s.id);  // drops the partial record
    return;
  }
  ++st.n_statements;
  st.last_prepared = s.id;
  st.has_last_prepared = 1;
}

// A command packet the capture lost the end of (cut by the snap length, a segment
// lost): what was seen of it is the command, its query as far as it goes, published
// with its response and a note. The packet's rest is passed over as its length says,
// so the framing goes on when the gap is that rest.
bool MysqlDecoder::cut_short(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) {
  MysqlState& st = *static_cast<MysqlState*>(state);
  MysqlState::Dir& d = st.dir[dir];
  if (st.conn & kConnCompressed) return false;  // its compressed packet is the gap's
  if (dir != st.client || st.phase != kPhaseCommands || d.skip || d.cont || d.resync || held.size() < 5)
    return false;
  const uint8_t* p = held.data();
  const uint32_t len = load_le24(p), have = static_cast<uint32_t>(held.size()) - 4;
  const uint8_t cmd = p[4];
  if (p[3] != 0 || len <= have || len >= kMaxPacket || cmd > kComLast || !published(cmd)) return false;
  d.seq = 0;
  d.skip = len - have;
  // A command whose end was lost takes the pending one's place as any command after a
  // loss does (can_wait_behind): it is the one the flag below marks.
  cutting_ = true;
  const bool read = client_packet(st, c, p + 4, len, std::min(have, kMaxRequestHead), c.ts_at(0));
  cutting_ = false;
  if (!read || st.cmd != cmd) {
    d.skip = 0;
    return false;
  }
  st.flags |= kQueryLost;
  return true;
}

bool MysqlDecoder::gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
  MysqlState& st = *static_cast<MysqlState*>(state);
  MysqlState::Dir& d = st.dir[dir];
  counters_.inc(MysqlStat::gaps);
  // Server bytes lost while commands wait behind one none of whose response has come:
  // a command sent before the client had the lost bytes in hand (gap_acked_ns; not
  // known: all but the last sent) had its response among them and goes out unanswered.
  // Those sent after wait on (a client that waited for each response and sent the
  // next one after its predecessor's was lost here).
  // Two or more of them: which were answered in the loss is not known (lose_responses).
  // Responses lost while a place waits: the last ones after the loss answer the last
  // commands (the responses it kept before are let go). (Neither when the loss is the
  // rest of a packet being passed over: the framing holds.)
  if (dir != st.client && st.lost && d.skip < len) {
    store_.release(st.lost_resp);
    st.n_lost_resp = 0;
    st.lost = kLostResponses;
  }
  const bool placed =
      dir != st.client && !(st.conn & kConnCompressed) && d.skip < len && lose_responses(st, c);
  while (!placed && dir != st.client && st.cmd && st.cmd != kLostCommands && st.n_waiting &&
         st.resp_bytes == 0 && (c.gap_acked_ns == 0 || st.start_ns < c.gap_acked_ns)) {
    counters_.inc(MysqlStat::unmatched_requests);
    if (published(st.cmd)) publish(st, c, "Unmatched request");
    reset_transaction(st);
  }
  if (st.conn & kConnCompressed) {
    if (d.zskip >= len) {  // inside a compressed packet passed over: nothing of it was read
      d.zskip -= len;
      return true;
    }
    if (d.zleft) {  // inside one being inflated: its rest cannot be
      give_back_stream(st, dir);
      counters_.inc(MysqlStat::compressed_cut);
      const uint32_t left = d.zleft;
      d.zleft = 0;
      if (left >= len) {
        d.zskip = left - len;
        return lose_framing(st, c, dir);
      }
    }
    if (d.zraw < len) {
      // The compressed framing is lost: taken up at a header that holds together.
      d.zskip = d.zraw = 0;
      d.zresync = 1;
      return lose_framing(st, c, dir);
    }
    d.zraw -= len;  // inside a payload sent as it is: the packets' own bytes were lost
    if (d.held.len) return lose_framing(st, c, dir);
  }
  if (d.skip >= len) {  // inside a packet's tail: the framing survives
    d.skip -= len;
    if (st.cmd && dir != st.client) st.flags |= kGap;
    return true;
  }
  return lose_framing(st, c, dir);
}

bool MysqlDecoder::lose_framing(MysqlState& st, const StreamInfo& c, int dir) {
  MysqlState::Dir& d = st.dir[dir];
  store_.release(d.held);
  // The framing is lost. A response already into its rows is published with what
  // it has (as Packetbeat does). The stream is taken up again where a message opens
  // (a command still waiting meets its response there, or goes out unanswered when
  // the next command comes).
  if (st.cmd && dir != st.client &&
      (st.resp == kRespRows || st.resp == kRespColumns || st.resp == kRespColumnsEof)) {
    st.flags |= kGap;
    finish_response(st, c);
  }
  if (st.cmd && st.cmd != kLostCommands && dir == st.client && st.dir[1 - dir].resync) {
    // The client lost bytes while the server's framing was lost after the waiting
    // command: its response began in the server's lost bytes and the client has gone
    // on (the next command's head among its own). It goes out unanswered, noted, so
    // that the next response found is not taken for its.
    counters_.inc(MysqlStat::unmatched_requests);
    if (published(st.cmd)) publish(st, c, kLossResponse);
    reset_transaction(st);
  }
  if (st.client < 0 || st.phase == kPhaseDone || st.phase == kPhaseTls) return false;
  if (dir == st.client && st.phase == kPhaseCommands) lose_commands(st, c);
  if (st.phase == kPhaseAuth) {
    // Lost in the login: what is left of it is read as on a connection picked up
    // midway (its packets are no command's), commands from the next one on. A
    // compressed connection stays unreadable; a lost SSL request shows as the
    // client's TLS record next.
    if (st.flags & kCompress) {  // compressed from its OK on, if that was what was lost
      begin_compressed(st);
      return true;
    }
    st.phase = kPhaseCommands;
    st.flags = 0;
  }
  d.skip = 0;
  d.cont = 0;
  d.resync = kResyncNext;
  return true;
}

// The pending command goes out unanswered, or the place of lost commands ends (and every
// command behind it with it: end_lost).
void MysqlDecoder::give_up_pending(MysqlState& st, const StreamInfo& c, bool at_end) {
  if (st.cmd == kLostCommands) {
    end_lost(st, c, at_end);
    return;
  }
  if (published(st.cmd)) {
    counters_.inc(MysqlStat::unmatched_requests);
    publish(st, c, "Unmatched request");
  }
  reset_transaction(st);
}

void MysqlDecoder::close(void* state, const StreamInfo& c) {
  MysqlState& st = *static_cast<MysqlState*>(state);
  do {  // the pending command, then those waiting behind it
    give_up_pending(st, c, true);
  } while (st.cmd || st.n_waiting);
  store_.release(st.statements);
  st.n_statements = 0;
  for (int d = 0; d < 2; ++d) {
    store_.release(st.dir[d].held);
    give_back_stream(st, d);
  }
}

bool MysqlDecoder::expire(void* state, const StreamInfo& c, uint64_t now_ns) {
  MysqlState& st = *static_cast<MysqlState*>(state);
  while (st.cmd || st.n_waiting) {  // the pending command, then those waiting behind it
    if (st.start_ns + cfg_.timeout_ns >= now_ns) return true;
    give_up_pending(st, c, true);
  }
  return false;
}

// The column definitions a prepare response gave, kept with its statement.
void MysqlDecoder::keep_columns(MysqlState& st, uint64_t now_ns) {
  Statement s{};
  uint32_t at;
  if (!find_statement(st, st.stmt_id, now_ns, s, at)) return;
  s.cols_known = 1;
  s.unsigned_cols = st.unsigned_cols;
  std::memcpy(s.col_types, st.col_types, sizeof s.col_types);
  store_.write_at(st.statements, at, reinterpret_cast<const uint8_t*>(&s), sizeof s);
}

// A result set whose column definitions the server left out (MariaDB's
// MARIADB_CLIENT_CACHE_METADATA: an execute of a statement whose columns the client
// has): its rows are read with the columns the statement's prepare response defined.
// False when those are not known (rows are counted, not shown).
bool MysqlDecoder::use_kept_columns(MysqlState& st, uint64_t now_ns) {
  Statement s{};
  uint32_t at;
  if (st.cmd != kComStmtExecute || !find_statement(st, st.stmt_id, now_ns, s, at) || !s.cols_known)
    return false;
  st.unsigned_cols = s.unsigned_cols;
  std::memcpy(st.col_types, s.col_types, sizeof st.col_types);
  return true;
}

void MysqlDecoder::publish(MysqlState& st, const StreamInfo& c, const char* note) {
  const bool answered = note == nullptr || note == kLossRequest || (st.flags & kGap);
  // A prepare whose response was not seen made a statement whose id is not known here: an
  // execute of -1 after it runs that one (its text is the prepare's; its parameters not
  // known), not the one prepared before.
  if (st.cmd == kComStmtPrepare && !answered) {
    forget_statement(st, kLastPrepared);
    const uint32_t id = st.stmt_id, params = st.stmt_params;
    st.stmt_id = kLastPrepared;
    st.stmt_params = 0;
    remember_statement(st, st.start_ns);
    st.stmt_id = id;
    st.stmt_params = params;
  }
  // The command's head: query text (query, prepare) or statement id and parameters.
  uint8_t* head = scratch_.get();
  const uint32_t head_len = store_.copy_out(st.request, head, kMaxRequestHead);
  std::string_view query, raw_query;
  Statement stmt{};
  uint32_t at;
  bool known = true;
  uint8_t* stmt_query = scratch_.get() + kMaxRequestHead + sizeof(Statement);
  if (st.cmd == kComStmtExecute || st.cmd == kComStmtBulkExecute) {
    known = find_statement(st, st.stmt_id, st.start_ns, stmt, at);
    if (known) {
      const uint32_t k =
          store_.copy_out(st.statements, stmt_query, std::min<uint32_t>(stmt.query_len, kStatementQuery),
                          at + sizeof(Statement));
      query = {reinterpret_cast<const char*>(stmt_query), k};
    } else {
      query = "Request Execute Statement";
      note = "The actual query being used is unknown";
    }
  } else if (head_len > 1) {
    // Query attributes come before a COM_QUERY's text: when negotiated, or, on a
    // connection picked up midway, when the text would start with a control byte.
    uint32_t text = 1;
    if (st.cmd == kComQuery &&
        ((st.conn & kConnQueryAttrs) || (!(st.conn & kConnHandshake) && head_len > 2 && head[1] < 0x20))) {
      text = query_text_offset(head, head_len);
      if (text == 0) {
        // Not that shape: the text as sent (a query may start with a line break).
        if (st.conn & kConnQueryAttrs) counters_.inc(MysqlStat::malformed);
        text = 1;
      }
    }
    raw_query = {reinterpret_cast<const char*>(head + text), head_len - text};
    query = sql_trim(raw_query);
  }
  char method[32];
  const std::size_t ml = sql_method(query, method, sizeof method);
  const uint32_t table_len = cfg_.send_response ? store_.copy_out(st.table, table_.get(), kMaxTable) : 0;
  char err[kMaxErrorHead];
  const uint32_t err_len = store_.copy_out(st.error, reinterpret_cast<uint8_t*>(err), sizeof err);

  TransactionFields t;
  t.type = "mysql";
  t.ok = answered && !(st.flags & kError);
  t.error = note;
  static_assert(kMaxRequestHead == 16 * 1024, "the note names it");
  if (st.flags & kQueryCut) t.add_note("query longer than 16 KiB; cut");
  t.start_ns = st.start_ns;
  t.end_ns = answered ? st.end_ns : 0;
  set_connection(t, c, st.client, 6, "mysql");
  t.client_bytes = st.req_bytes;
  t.server_bytes = answered ? st.resp_bytes : 0;
  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    w.field("method", std::string_view(method, ml));
    w.field("query", query);
    if (st.path_len) w.field("path", std::string_view(st.path, st.path_len));
    ExecParams ep;
    if (st.cmd == kComStmtExecute && known && stmt.n_params && stmt.types_known &&
        exec_params(head, head_len, stmt.n_params, st.conn & kConnQueryAttrs, ep) &&
        ep.count >= stmt.n_params) {
      // The statement's parameters (query attributes, if any, follow them).
      const uint32_t np = std::min<uint32_t>(stmt.n_params, kMaxParams);
      ByteReader r(head, head_len);
      const uint8_t* bitmap = ep.bitmap;
      if (r.skip(ep.values)) {
        w.begin_array("params");
        char buf[64];
        for (uint32_t i = 0; i < np; ++i) {
          if (bitmap[i / 8] & (1u << (i % 8))) {
            w.string("NULL");
            continue;
          }
          std::string_view v;
          if (!binary_value(r, stmt.types[2 * i], stmt.types[2 * i + 1] & 0x80, buf, sizeof buf, v)) break;
          w.string(v.substr(0, 1024));
        }
        w.end_array();
      }
    }
    w.begin_object("mysql");
    if (answered) {
      w.field_uint("affected_rows", st.affected_rows);
      w.field_uint("insert_id", st.insert_id);
      w.field_uint("num_rows", st.num_rows);
      w.field_uint("num_fields", st.num_fields);
      if (st.flags & kError) {
        w.field_uint("error_code", st.error_code);
        w.field("error_message", std::string_view(err, err_len));
      }
    }
    w.end_object();
    write_sql_texts(w, cfg_, raw_query.empty() ? query : raw_query, answered,
                    {reinterpret_cast<const char*>(table_.get()), table_len});
    end_transaction(w);
  });
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<MysqlDecoder>(s); }

// Decisive (MySQL on another protocol's port): the server's greeting; a query alone is
// not.
constexpr DetectProbe kProbes[] = {
    // The server's greeting: a packet of sequence 0, protocol 10, a version string.
    {R"(^[\x20-\xff][\x00-\x01]\x00\x00\x0a[0-9]\.[0-9]{1,2}\.[0-9]{1,3}[\x20-\x7e]{0,40}\x00)", false, true},
    // A query at sequence 0: COM_QUERY and an SQL keyword.
    {R"(^[\s\S]{3}\x00\x03\s*(?i:select|insert|update|delete|set|show|create|drop|alter|begin|commit|call|use)\b)",
     true},
};

const OptionSpec kSettingOptions[] = {
    {"max_rows", OptionKind::kUint},
    {"max_row_length", OptionKind::kUint},
    {"statement_timeout", OptionKind::kDuration},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  auto s = std::make_unique<MysqlSettings>();
  read_sql_options(p, *s);
  return s;
}

const uint16_t kDefaultPorts[] = {3306, 3307};

}  // namespace

const DecoderDescriptor& mysql_protocol() {
  static const DecoderDescriptor d = {
      .name = "mysql",
      .transports = kTransportTcp,
      .probes = kProbes,
      .state_size = sizeof(MysqlState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kMysqlCounters,
      .violations = static_cast<int>(MysqlStat::violations),
      // Packetbeat's field types where dynamic mapping would differ.
      .index_template =
          {.dynamic_templates =
               R"({"mysql_counts": {"path_match": "mysql.num_*", "mapping": {"type": "keyword"}}}, {"mysql_insert_id": {"path_match": "mysql.insert_id", "mapping": {"type": "keyword"}}})"},
      .exercise_options = "{max_rows: 4, max_row_length: 64}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
