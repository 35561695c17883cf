#include "decode/mongodb/mongodb_decoder.hpp"

#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "decode/mongodb/mongodb_event.hpp"
#include "decode/mongodb/mongodb_wire.hpp"
#include "decode/pending.hpp"
#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "event/json_writer.hpp"
#include "util/byte_reader.hpp"

namespace tapbeat {

static_assert(sizeof(MongodbState) <= kDecoderStateBytes,
              "MongoDB connection state must fit the session slot");

using namespace mongodb;  // the wire format (mongodb_wire.hpp) and its rendering (mongodb_event.hpp)

// Per-decoder buffers (allocated once).
struct MongodbScratch {
  std::vector<uint8_t> inflated;
  char query[MongodbDecoder::kMaxText];
  char request[MongodbDecoder::kMaxText];
  char fields[MongodbDecoder::kMaxText];
  char reply_fields[MongodbDecoder::kMaxText];
  char docs[MongodbDecoder::kMaxText];
  char error[MongodbDecoder::kMaxText];
  char method[128];
  char resource[512];
  PendingRecords pending;  // requests awaiting replies, taken out by responseTo
  explicit MongodbScratch(ChainStore& store) : pending(store) {}
};

struct MongodbDecoder::Request {
  int32_t id = 0;
  uint64_t start_ns = 0, end_ns = 0, bytes = 0;
  std::string_view method, resource, query, request, fields;
};

struct MongodbDecoder::Reply {
  uint64_t end_ns = 0, bytes = 0;
  std::string_view fields, error, docs;
  bool cut = false;  // longer than kMaxHead: its documents read as far as those bytes go
};

namespace {

// (An OP_MSG batch so cut has no numberReturned: its documents were not all counted.)
constexpr const char* kReplyCut = "reply longer than 128 KiB: its documents read from its first 128 KiB";

// A pending request as kept in the connection's chain: this header, then the texts.
struct Stored {
  int32_t id;
  uint32_t texts;  // bytes of text after the header
  uint64_t start_ns, end_ns, bytes;
  uint32_t len[5];  // method, resource, query, request, fields
  uint32_t pad;
};

}  // namespace

MongodbDecoder::MongodbDecoder(const DecoderSetup& s)
    : DecoderCommon<MongodbStat>(s),
      cfg_(s.settings<MongodbSettings>()),
      scratch_(std::make_unique<MongodbScratch>(s.store)) {}

MongodbDecoder::~MongodbDecoder() = default;

void MongodbDecoder::open(void* state) {
  auto& st = *static_cast<MongodbState*>(state);
  st = MongodbState{};
  st.client = -1;
}

namespace {

// Bytes passed over after a gap, looking for a message start, before the connection
// is left: a long document whose head was lost is passed over (find_message_start
// takes no start inside it), so the bound is as the text protocols' is.
constexpr uint32_t kMaxResyncSkip = 64u << 20;

// A message header this side sends: a length MongoDB allows, a known opcode, a reply
// answering a request (responseTo set) or a request answering none.
bool plausible_header(const uint8_t* p, bool reply) {
  const int32_t len = load_le_i32(p), response_to = load_le_i32(p + 8), op = load_le_i32(p + 12);
  if (len < 16 || static_cast<uint32_t>(len) > MongodbDecoder::kMaxMessage || !known_opcode(op)) return false;
  return op == kOpCompressed ? (response_to != 0) == reply : is_reply(op, response_to) == reply;
}

// A message start at p: its length (the offset of the next message) where its header
// is plausible, else 0 (find_message_start chains it to the next). A 32-bit opcode
// and a length in bounds are evidence enough for a long message (a large reply).
uint64_t opens_message(const uint8_t* p, bool reply) {
  return plausible_header(p, reply) ? static_cast<uint32_t>(load_le_i32(p)) | kOpensLong : 0;
}

}  // namespace

DecodeResult MongodbDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) {
  MongodbState& st = *static_cast<MongodbState*>(state);
  const uint8_t* p = bytes.data();
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  uint32_t off = 0;
  if (st.resync[dir]) {
    // After a gap: bytes are passed over up to a message start of this side.
    const Resync r =
        find_message_start(bytes, off, 16, st.resync[dir], kMaxResyncSkip,
                           [&](const uint8_t* q, uint32_t) { return opens_message(q, dir != st.client); });
    counters_.inc(MongodbStat::resync_skipped_bytes, r.passed);
    if (!r.framed) return r.result;
    off = r.result.consumed;
    counters_.inc(MongodbStat::resynced);
  }
  while (off < n) {
    if (st.skip[dir]) {
      const uint32_t k = std::min(st.skip[dir], n - off);
      st.skip[dir] -= k;
      off += k;
      continue;
    }
    if (n - off < 16) return {off, 16, Verdict::kNeedMore};
    const int32_t len = load_le_i32(p + off);
    const int32_t op = load_le_i32(p + off + 12);
    if (len < 16 || static_cast<uint32_t>(len) > kMaxMessage) {
      counters_.inc(MongodbStat::malformed);
      return {off, 0, Verdict::kViolation};
    }
    if (!known_opcode(op)) {
      counters_.inc(MongodbStat::unknown_opcodes);
      return {off, 0, Verdict::kViolation};
    }
    const uint32_t head = std::min<uint32_t>(static_cast<uint32_t>(len), kMaxHead);
    if (n - off < head) return {off, head, Verdict::kNeedMore};
    if (st.client < 0)
      st.client = static_cast<int8_t>(is_reply(op, load_le_i32(p + off + 8)) ? 1 - dir : dir);
    msg_ns_ = c.ts_at(off);
    const bool ok = message(st, c, dir, p + off, head, static_cast<uint32_t>(len));
    off += head;
    st.skip[dir] = static_cast<uint32_t>(len) - head;
    if (!ok) return {off, 0, Verdict::kViolation};
  }
  return {off, 0, Verdict::kOk};
}

bool MongodbDecoder::message(MongodbState& st, const StreamInfo& c, int dir, const uint8_t* msg,
                             uint32_t head, uint32_t len) {
  MongodbScratch& s = *scratch_;
  const int32_t request_id = load_le_i32(msg + 4), response_to = load_le_i32(msg + 8);
  int32_t op = load_le_i32(msg + 12);
  const uint8_t* body = msg + 16;
  std::size_t body_len = head - 16;
  if (op == kOpCompressed) {
    // originalOpcode, uncompressedSize, compressorId, then the compressed body.
    if (body_len < 9) {
      counters_.inc(MongodbStat::malformed);
      return false;
    }
    op = load_le_i32(body);
    const int32_t size = load_le_i32(body + 4);
    const uint8_t compressor = body[8];
    if (size < 0 || static_cast<uint32_t>(size) > kMaxDecompressed || head < len || !known_opcode(op) ||
        op == kOpCompressed) {
      counters_.inc(MongodbStat::too_large);
      body_len = 0;
    } else {
      s.inflated.resize(static_cast<std::size_t>(size));
      const auto* in = body + 9;
      const std::size_t in_len = body_len - 9;
      bool ok = false;
      std::size_t out = 0;
      if (compressor == 0) {
        ok = in_len == static_cast<std::size_t>(size);
        if (ok && in_len) std::memcpy(s.inflated.data(), in, in_len);
        out = in_len;
      } else if (compressor == 1) {
        // snappy writes the length its own preamble states: it must be the header's,
        // for which the buffer was sized (a lying header would write past it).
        std::size_t stated = 0;
        ok = snappy::GetUncompressedLength(reinterpret_cast<const char*>(in), in_len, &stated) &&
             stated == static_cast<std::size_t>(size) &&
             snappy::RawUncompress(reinterpret_cast<const char*>(in), in_len,
                                   reinterpret_cast<char*>(s.inflated.data()));
        out = static_cast<std::size_t>(size);
      } else if (compressor == 2) {
        uLongf o = static_cast<uLongf>(size);
        ok = uncompress(s.inflated.data(), &o, in, static_cast<uLong>(in_len)) == Z_OK;
        out = o;
      } else if (compressor == 3) {
        const std::size_t r = ZSTD_decompress(s.inflated.data(), static_cast<std::size_t>(size), in, in_len);
        ok = !ZSTD_isError(r);
        out = r;
      }
      if (!ok) {
        counters_.inc(MongodbStat::decompress_errors);
        body_len = 0;
      } else {
        counters_.inc(MongodbStat::compressed);
        body = s.inflated.data();
        body_len = out;
      }
    }
  }
  const bool reply = is_reply(op, response_to);
  const bool from_client = dir == st.client;
  ByteReader r(body, body_len);
  // Only the message's first kMaxHead bytes are here (a compressed one is inflated whole).
  const bool cut_message = head < len && body == msg + 16;

  if (reply) {
    if (from_client) {  // a reply from the client: the sides were guessed wrong
      counters_.inc(MongodbStat::malformed);
      return false;
    }
    counters_.inc(MongodbStat::responses);
    Request rq;
    if (!pop(st, response_to, rq, false)) {
      counters_.inc(MongodbStat::unmatched_responses);
      return true;
    }
    Reply rp;
    rp.end_ns = msg_ns_;  // the reply's first packet, as Packetbeat ends it
    rp.bytes = len;
    bool more_to_come = false;
    JsonWriter fw(s.reply_fields, sizeof s.reply_fields), ew(s.error, sizeof s.error);
    uint32_t docs = 0;
    std::size_t dn = 0;  // bytes of s.docs used: one document per line
    auto put_docs = [&](std::string_view v) {
      const std::size_t k = std::min(v.size(), sizeof s.docs - dn);
      if (k) std::memmove(s.docs + dn, v.data(), k);
      dn += k;
    };
    auto add_doc = [&](const Elem& e) {
      // One document per line of `response`, max_docs, each cut at max_doc_length.
      if (!cfg_.send_response) return;
      if (cfg_.max_docs && docs >= cfg_.max_docs) {
        if (docs == cfg_.max_docs) put_docs(dn ? "\n[...]" : "[...]");
        ++docs;
        return;
      }
      if (dn) put_docs("\n");
      // A string shows no more than the document's first max_doc_length characters: it is
      // cut to that many bytes before it is written. A document that still does not fit
      // what is left of the buffer is written with its strings cut shorter.
      std::size_t k = 0;
      bool fit = false;
      const std::size_t first_cut = cfg_.max_doc_length ? std::max<std::size_t>(cfg_.max_doc_length, 64) : 0;
      for (const std::size_t cut : {first_cut, std::size_t{4096}, std::size_t{64}}) {
        JsonWriter one(s.docs + dn, sizeof s.docs - dn);
        if (cut) one.cut_strings_to(cut);
        render_doc(one, e, 0, e.type == 0x04);
        if (one.overflow()) continue;
        k = one.size();
        fit = true;
        break;
      }
      if (!fit) {
        put_docs("...");  // no room left for it
      } else if (cfg_.max_doc_length && k > cfg_.max_doc_length) {
        dn += cfg_.max_doc_length;
        put_docs(" ...");
      } else {
        dn += k;
      }
      ++docs;
    };
    auto error_of = [&](const Doc& d) {
      Elem e;
      if (d.find("$err", e) && ew.size() == 0) render_value(ew, e, 0);
      if (d.find("writeErrors", e) && ew.size() == 0) render_value(ew, e, 0);
      double okv = 1;
      if (d.find("ok", e) && number_of(e, okv) && okv == 0 && ew.size() == 0) {
        Elem m;
        if (d.find("errmsg", m))
          render_value(ew, m, 0);
        else
          ew.string("ok: 0");
      }
    };
    if (op == kOpReply) {
      uint32_t flags = 0, returned = 0;
      uint32_t cursor_lo = 0, cursor_hi = 0, starting = 0;
      if (r.le32(flags) && r.le32(cursor_lo) && r.le32(cursor_hi) && r.le32(starting) && r.le32(returned)) {
        fw.field_int("cursorId", static_cast<int64_t>(uint64_t{cursor_hi} << 32 | cursor_lo));
        fw.field_uint("startingFrom", starting);
        fw.field_uint("numberReturned", returned);
        for (uint32_t i = 0; i < returned && r.remaining() >= 5; ++i) {
          const int32_t dl = load_le_i32(r.current());
          if (dl < 5) break;
          const bool cut = static_cast<std::size_t>(dl) > r.remaining();
          if (cut && !cut_message) break;
          // A document the first kMaxHead bytes end inside: as far as it goes.
          const Elem e{0x03, {}, r.current(), cut ? r.remaining() : static_cast<std::size_t>(dl), cut};
          if (i == 0) error_of(Doc(e));
          add_doc(e);
          rp.cut = rp.cut || cut;
          if (cut) break;
          r.skip(static_cast<std::size_t>(dl));
        }
      }
    } else {  // OP_MSG reply: flags, then sections
      uint32_t flags = 0;
      r.le32(flags);
      more_to_come = flags & kMoreToCome;
      for_sections(
          r, flags,
          [&](uint8_t kind, const uint8_t* sec, std::size_t dl, bool cut) {
            if (kind != 0) return;
            const Doc d(sec, dl, cut);
            error_of(d);
            Elem cursor, batch;
            if (d.find("cursor", cursor) && cursor.type == 0x03 &&
                (Doc(cursor).find("firstBatch", batch) || Doc(cursor).find("nextBatch", batch)) &&
                batch.type == 0x04) {
              // A cursor's batch: its documents are the response's. One the message's
              // first kMaxHead bytes end inside gives the documents there (the last of
              // them as far as it goes), not their count or the cursor id after them.
              Doc items(batch);
              Elem it;
              uint32_t count = 0;
              while (items.next(it)) {
                if (it.type == 0x03) add_doc(it);
                ++count;
              }
              Elem id;
              if (Doc(cursor).find("id", id) && (id.type == 0x12 || id.type == 0x10)) {
                // Read as an integer: a double loses digits past 2^53.
                fw.field_int("cursorId", id.type == 0x12 ? static_cast<int64_t>(load_le64(id.value))
                                                         : load_le_i32(id.value));
              }
              if (batch.cut)
                rp.cut = true;
              else
                fw.field_uint("numberReturned", count);
            } else {
              add_doc(Elem{0x03, {}, sec, dl, cut});
              rp.cut = rp.cut || cut;
            }
          },
          cut_message);
    }
    rp.fields = fw.view();
    rp.error = ew.view();
    rp.docs = {s.docs, dn};
    counters_.inc(MongodbStat::transactions);
    publish(c, st.client, rq, &rp, nullptr);
    if (more_to_come) {
      // The server streams further replies to this request (an exhaust cursor; the
      // streaming hello of a driver's monitoring connection), each naming the one
      // before it: the next answers the same request, waited for from this reply on
      // (the client sends nothing more for it).
      Request next = rq;
      next.id = request_id;
      next.start_ns = next.end_ns = msg_ns_;
      next.bytes = 0;
      wait_for_reply(st, next);
    }
    return true;
  }

  if (!from_client) {
    counters_.inc(MongodbStat::malformed);
    return false;
  }
  counters_.inc(MongodbStat::requests);
  // A request: method, resource, query, request and mongodb.* fields, rendered now.
  JsonWriter fw(s.fields, sizeof s.fields);
  std::string_view method, resource;
  std::size_t ml = 0, rl = 0;
  bool expects_reply = true;
  auto set_method = [&](std::string_view m) {
    ml = std::min(m.size(), sizeof s.method);
    if (ml) std::memcpy(s.method, m.data(), ml);
  };
  auto set_resource = [&](std::string_view a, std::string_view b = {}) {
    rl = 0;
    auto put = [&](std::string_view v) {
      const std::size_t k = std::min(v.size(), sizeof s.resource - rl);
      if (k) std::memcpy(s.resource + rl, v.data(), k);
      rl += k;
    };
    put(a);
    if (b.empty()) return;
    if (rl) put(".");  // no database named (a command cut before its $db): the collection alone
    put(b);
  };
  // The params of the shell-like query: the command document without the command
  // itself, without bulk payloads unless `full`.
  auto params = [&](JsonWriter& w, const Doc& d, std::string_view cmd, bool full) {
    if (full)
      render_members(w, d, 0, false, {cmd});
    else
      render_members(w, d, 0, false,
                     {cmd, "documents", "updates", "deletes", "update", "$db", "lsid", "$clusterTime"});
  };
  auto cstring = [&](std::string_view& out) {
    const void* z = std::memchr(r.current(), 0, r.remaining());
    if (!z) return false;
    out = {reinterpret_cast<const char*>(r.current()),
           static_cast<std::size_t>(static_cast<const uint8_t*>(z) - r.current())};
    r.skip(out.size() + 1);
    return true;
  };
  std::string_view collection;
  uint32_t u32 = 0;
  int32_t skip = 0, limit = 0;
  const Doc* command = nullptr;
  Doc cmd_doc;
  std::string_view cmd_name;
  switch (op) {
    case kOpQuery: {
      int32_t nskip = 0, nret = 0;
      uint32_t a, b;
      if (!r.le32(u32) || !cstring(collection) || !r.le32(a) || !r.le32(b)) break;
      nskip = static_cast<int32_t>(a), nret = static_cast<int32_t>(b);
      fw.field("fullCollectionName", collection.substr(0, kMaxName));
      fw.field_int("numberToSkip", nskip);
      fw.field_int("numberToReturn", nret);
      skip = nskip, limit = nret;
      cmd_doc = Doc(r.current(), r.remaining());
      if (cmd_doc.ok()) {
        const int32_t dl = load_le_i32(r.current());
        r.skip(static_cast<std::size_t>(dl));
        if (r.remaining() >= 5) {
          Doc sel(r.current(), r.remaining());
          if (sel.ok()) {
            JsonWriter sw(s.error, sizeof s.error);  // scratch for the text
            render_members(sw, sel, 0, false);
            fw.field("returnFieldsSelector", sw.view().substr(0, kMaxFieldText));
          }
        }
      }
      if (collection.size() > 5 && collection.substr(collection.size() - 5) == ".$cmd") {
        // A command through a query: its name is the first key, a string value names
        // the collection.
        Elem first;
        set_method("otherCommand");
        set_resource(collection);
        if (cmd_doc.first(first)) {
          Elem inner = first;
          if (first.key == "$query" &&
              first.type == 0x03) {  // wrapped: {$query: {...}, $readPreference: ...}
            cmd_doc = Doc(first.value, first.len);
            cmd_doc.first(inner);
          }
          cmd_name = inner.key;
          set_method(inner.key);
          if (!str_of(inner).empty() && names_collection(inner.key))
            set_resource(collection.substr(0, collection.size() - 5), str_of(inner));
        }
        command = &cmd_doc;
      } else {
        set_method("find");
        set_resource(collection);
        command = &cmd_doc;
      }
      break;
    }
    case kOpMsg: {
      uint32_t flags = 0;
      if (!r.le32(flags)) break;
      expects_reply = !(flags & kMoreToCome);
      for_sections(
          r, flags,
          [&](uint8_t kind, const uint8_t* sec, std::size_t dl, bool cut) {
            if (kind == 0) {
              cmd_doc = Doc(sec, dl, cut);  // a command read from the message's first kMaxHead bytes
            } else if (kind == 1) {         // size, identifier, documents
              ByteReader q(sec + 4, dl - 4);
              const void* z = std::memchr(q.current(), 0, q.remaining());
              if (z) {
                const std::string_view id(
                    reinterpret_cast<const char*>(q.current()),
                    static_cast<std::size_t>(static_cast<const uint8_t*>(z) - q.current()));
                fw.field("message", id.substr(0, 256));  // the sequence's name: documents, updates, ...
              }
            }
          },
          cut_message);
      Elem first, db;
      if (cmd_doc.ok() && cmd_doc.first(first)) {
        cmd_name = first.key;
        set_method(first.key);
        std::string_view dbname;
        if (cmd_doc.find("$db", db)) dbname = str_of(db);
        set_resource(dbname, names_collection(first.key) ? str_of(first) : std::string_view{});
        fw.field("fullCollectionName", std::string_view(s.resource, rl));
        command = &cmd_doc;
        Elem e;
        if (cmd_doc.find("skip", e)) int32_of(e, skip);
        if (cmd_doc.find("limit", e)) int32_of(e, limit);
      } else {
        set_method("msg");
      }
      break;
    }
    case kOpGetMore: {
      uint32_t nret, lo, hi;
      if (!r.le32(u32) || !cstring(collection) || !r.le32(nret) || !r.le32(lo) || !r.le32(hi)) break;
      set_method("getMore");
      set_resource(collection);
      fw.field("fullCollectionName", collection.substr(0, kMaxName));
      fw.field_int("numberToReturn", static_cast<int32_t>(nret));
      fw.field_int("cursorId", static_cast<int64_t>(uint64_t{hi} << 32 | lo));
      break;
    }
    case kOpUpdate:
    case kOpDelete: {
      uint32_t flags;
      set_method(op == kOpUpdate ? "update" : "delete");
      expects_reply = false;
      if (!r.le32(u32) || !cstring(collection) || !r.le32(flags)) break;
      set_resource(collection);
      fw.field("fullCollectionName", collection.substr(0, kMaxName));
      for (const char* key : {"selector", "update"}) {
        if (r.remaining() < 5 || (op == kOpDelete && key[0] == 'u')) break;
        const int32_t dl = load_le_i32(r.current());
        if (dl < 5 || static_cast<std::size_t>(dl) > r.remaining()) break;
        JsonWriter sw(s.error, sizeof s.error);
        render_members(sw, Doc(r.current(), static_cast<std::size_t>(dl)), 0, false);
        fw.field(key, sw.view().substr(0, kMaxFieldText));
        r.skip(static_cast<std::size_t>(dl));
      }
      break;
    }
    case kOpInsert: {
      set_method("insert");
      expects_reply = false;
      if (!r.le32(u32) || !cstring(collection)) break;
      set_resource(collection);
      fw.field("fullCollectionName", collection.substr(0, kMaxName));
      break;
    }
    case kOpKillCursors:
      set_method("killCursors");
      expects_reply = false;
      break;
    case kOpMsgLegacy: {
      std::string_view text;
      set_method("msg");
      expects_reply = false;
      if (cstring(text)) fw.field("message", text);
      break;
    }
    default:
      break;
  }
  method = {s.method, ml};
  resource = {s.resource, rl};
  // query: resource.method(params)[.skip(n)][.limit(n)]; request: the same with payloads.
  auto shell = [&](char* buf, std::size_t cap, bool full) -> std::string_view {
    std::size_t n = 0;
    auto put = [&](std::string_view v) {
      const std::size_t k = std::min(v.size(), cap - n);
      if (k) std::memcpy(buf + n, v.data(), k);
      n += k;
    };
    put(resource);
    put(".");
    put(method);
    put("(");
    if (command && command->ok() && n < cap) {
      JsonWriter pw(buf + n, cap - n);
      params(pw, *command, cmd_name, full);
      n += pw.size();
    }
    put(")");
    char tail[40];
    if (skip > 0) put({tail, static_cast<std::size_t>(std::snprintf(tail, sizeof tail, ".skip(%d)", skip))});
    if (limit > 0 && limit < 0x7fffffff)
      put({tail, static_cast<std::size_t>(std::snprintf(tail, sizeof tail, ".limit(%d)", limit))});
    return {buf, n};
  };
  const std::string_view query = shell(s.query, sizeof s.query, false);
  const std::string_view full =
      cfg_.send_request ? shell(s.request, sizeof s.request, true) : std::string_view{};

  Request rq;
  rq.id = request_id;
  rq.start_ns = rq.end_ns = msg_ns_;
  rq.bytes = len;
  rq.method = method;
  rq.resource = resource;
  rq.query = query;
  rq.request = full;
  if (fw.overflow()) {  // cannot happen with the caps above; an unfinished fragment is never written
    counters_.inc(MongodbStat::malformed);
    fw = JsonWriter(s.fields, sizeof s.fields);
  }
  rq.fields = fw.view();
  if (!expects_reply) {
    counters_.inc(MongodbStat::transactions);
    publish(c, st.client, rq, nullptr, nullptr);
    return true;
  }
  wait_for_reply(st, rq);
  return true;
}

// Keeps a request, its texts copied, until the reply that names it.
void MongodbDecoder::wait_for_reply(MongodbState& st, const Request& rq) {
  if (st.n_pending >= kMaxPending) {
    counters_.inc(MongodbStat::queue_full);
    return;
  }
  Stored h{rq.id, 0, rq.start_ns, rq.end_ns, rq.bytes, {}, 0};
  const std::string_view texts[5] = {rq.method, rq.resource, rq.query, rq.request, rq.fields};
  for (int i = 0; i < 5; ++i) h.len[i] = static_cast<uint32_t>(texts[i].size()), h.texts += h.len[i];
  if (!scratch_->pending.push(st.pending, st.n_pending, h,
                              {texts[0], texts[1], texts[2], texts[3], texts[4]}))
    counters_.inc(MongodbStat::store_full);
}

// The pending request answered by response_to (any: the oldest), removed from the
// chain; its texts stay valid until the next pop.
bool MongodbDecoder::pop(MongodbState& st, int32_t response_to, Request& out, bool any) {
  Stored h{};
  std::string_view texts;
  bool lost = false;
  if (!scratch_->pending.take(
          st.pending, st.n_pending, [&](const Stored& r) { return any || r.id == response_to; }, h, texts,
          lost))
    return false;
  if (lost) counters_.inc(MongodbStat::store_full);
  const char* t = texts.data();
  std::string_view* dst[5] = {&out.method, &out.resource, &out.query, &out.request, &out.fields};
  for (int k = 0; k < 5; ++k) {
    *dst[k] = {t, h.len[k]};
    t += h.len[k];
  }
  out.id = h.id;
  out.start_ns = h.start_ns;
  out.end_ns = h.end_ns;
  out.bytes = h.bytes;
  return true;
}

bool MongodbDecoder::gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
  MongodbState& st = *static_cast<MongodbState*>(state);

  counters_.inc(MongodbStat::gaps);
  if (st.skip[dir] >= len) {  // inside a message's tail: the framing survives
    st.skip[dir] -= len;
    return true;
  }
  // The framing is lost: the stream is taken up at the next message start. Replies
  // name their request (responseTo), so the pairing needs nothing more; a request
  // whose reply was lost goes out unanswered after the transaction timeout.
  // Before the first message told the sides: the side talking to a configured port
  // is the client; where no port tells, the decoder cannot find its way back
  // (stream.gap_detached).
  if (st.client < 0) st.client = static_cast<int8_t>(cfg_.client_by_port(c.port));
  if (st.client < 0) return false;
  st.skip[dir] = 0;
  st.resync[dir] = 1;
  return true;
}

void MongodbDecoder::close(void* state, const StreamInfo& c) {
  MongodbState& st = *static_cast<MongodbState*>(state);
  Request rq;
  while (st.n_pending && pop(st, 0, rq, true)) {
    counters_.inc(MongodbStat::unmatched_requests);
    publish(c, st.client, rq, nullptr, "Unmatched request");
  }
  store_.release(st.pending);
  st.n_pending = 0;
}

bool MongodbDecoder::expire(void* state, const StreamInfo& c, uint64_t now_ns) {
  MongodbState& st = *static_cast<MongodbState*>(state);
  while (st.n_pending) {
    Stored h{};
    if (!scratch_->pending.front(st.pending, st.n_pending, h) || h.start_ns + cfg_.timeout_ns >= now_ns)
      break;
    Request rq;
    if (!pop(st, 0, rq, true)) break;
    counters_.inc(MongodbStat::unmatched_requests);
    publish(c, st.client, rq, nullptr, "Unmatched request");
  }
  return st.n_pending > 0;
}

void MongodbDecoder::publish(const StreamInfo& c, int client, const Request& rq, const Reply* rp,
                             const char* note) {
  const bool error = (rp && !rp->error.empty()) || note;
  TransactionFields t;
  t.type = "mongodb";
  t.ok = !error;
  t.error = note;
  if (rp && rp->cut) t.add_note(kReplyCut);
  t.start_ns = rq.start_ns;
  t.end_ns = rp ? std::max(rp->end_ns, rq.start_ns) : rq.end_ns;
  set_connection(t, c, client, 6, "mongodb");
  t.client_bytes = rq.bytes;
  t.server_bytes = rp ? rp->bytes : 0;
  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    w.field("method", rq.method);
    if (!rq.resource.empty()) w.field("resource", rq.resource);
    w.field("query", rq.query);
    w.begin_object("mongodb");
    if (!rq.fields.empty()) w.raw(rq.fields);  // members rendered with the message
    if (rp && !rp->fields.empty()) w.raw(rp->fields);
    if (rp && !rp->error.empty()) w.field("error", rp->error);
    w.end_object();
    if (cfg_.send_request) w.field("request", rq.request);
    if (cfg_.send_response && rp && !rp->docs.empty()) w.field("response", rp->docs);
    end_transaction(w);
  });
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<MongodbDecoder>(s); }

constexpr DetectProbe kProbes[] = {
    // OP_MSG or OP_QUERY from the client: length, request id, responseTo 0 (or -1, as
    // older drivers and the legacy shell send it), opcode.
    {R"(^[\s\S]{4}[\s\S]{4}(\x00\x00\x00\x00|\xff\xff\xff\xff)(\xdd\x07|\xd4\x07)\x00\x00)", true},
};

const OptionSpec kSettingOptions[] = {
    {"max_docs", OptionKind::kUint},
    {"max_doc_length", OptionKind::kUint},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  auto out = std::make_unique<MongodbSettings>();
  MongodbSettings& s = *out;
  // Packetbeat's test template writes these empty (YAML null): the defaults then.
  if (p.options["max_docs"] && !p.options["max_docs"].IsNull())
    s.max_docs = p.options["max_docs"].as<uint32_t>();
  if (p.options["max_doc_length"] && !p.options["max_doc_length"].IsNull())
    s.max_doc_length = p.options["max_doc_length"].as<uint32_t>();
  return out;
}

const uint16_t kDefaultPorts[] = {27017};

}  // namespace

const DecoderDescriptor& mongodb_protocol() {
  static const DecoderDescriptor d = {
      .name = "mongodb",
      .transports = kTransportTcp,
      .probes = kProbes,
      .state_size = sizeof(MongodbState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kMongodbCounters,
      .violations = static_cast<int>(MongodbStat::violations),
      // Packetbeat's field types where dynamic mapping would differ.
      .index_template =
          {.dynamic_templates =
               R"({"mongodb_cursor": {"path_match": "mongodb.cursorId", "mapping": {"type": "keyword"}}}, {"mongodb_starting": {"path_match": "mongodb.startingFrom", "mapping": {"type": "keyword"}}})"},
      .exercise_options = "{max_docs: 4, max_doc_length: 200}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
