#include "decode/amqp/amqp_decoder.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>

#include "decode/amqp/amqp_event.hpp"
#include "decode/amqp/amqp_wire.hpp"
#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "event/json_writer.hpp"
#include "util/bounded_text.hpp"
#include "util/byte_reader.hpp"

namespace tapbeat {

using namespace amqp;  // its wire format: amqp_wire.hpp

static_assert(sizeof(AmqpState) <= kDecoderStateBytes, "AMQP connection state must fit the session slot");

struct AmqpScratch {
  char request_fields[AmqpDecoder::kMaxFieldsText];
  char response_fields[AmqpDecoder::kMaxFieldsText];
  char record[AmqpDecoder::kMaxFieldsText + 128];
  char moved[4096];
  char body[64 * 1024];
  char body_text[256 * 1024];
};

struct AmqpDecoder::Event {
  std::string_view method;
  std::string_view request_fields, response_fields;
  std::string_view request, response;  // texts for send_request / send_response
  bool error = false;
  bool answered = false;  // a method the peer answered (else published alone: start, no end)
  const char* note = nullptr;
  uint64_t start_ns = 0, end_ns = 0, bytes_in = 0, bytes_out = 0;
};

// A pending request as kept in the chain: this header, the method name, the fields.
struct AmqpDecoder::Pending {
  uint64_t start_ns, bytes;
  uint16_t channel, cls, id;
  uint16_t name_len;
  uint32_t fields_len;
};

namespace {

// Reads a method's arguments into fields; false when the frame ends early. no_wait:
// the method's no-wait bit was set (the sender expects no answer).
bool read_args(ByteReader& r, const Args& spec, Fields& f, const AmqpSettings& cfg, bool& no_wait) {
  uint8_t bits = 0;
  int bit = 8;
  for (uint8_t i = 0; i < spec.n; ++i) {
    const char type = spec.arg[i].type;
    const std::string_view name = spec.arg[i].name;
    const bool skip = spec.arg[i].skip;
    if (type != 'b') bit = 8;
    switch (type) {
      case 'o': {
        uint8_t v;
        if (!r.u8(v)) return false;
        if (!skip) f.begin(name).uint(v), f.end();
        break;
      }
      case 'S': {
        uint16_t v;
        if (!r.be16(v)) return false;
        if (!skip) f.begin(name).uint(v), f.end();
        break;
      }
      case 'L': {
        uint32_t v;
        if (!r.be32(v)) return false;
        if (!skip) f.begin(name).uint(v), f.end();
        break;
      }
      case 'Q': {
        uint64_t v;
        if (!be64(r, v)) return false;
        if (!skip) f.begin(name).uint(v), f.end();
        break;
      }
      case 's':
      case 'e':
      case 'l': {
        std::string_view v;
        if (!(type == 'l' ? longstr(r, v) : shortstr(r, v))) return false;
        if (!skip && !(type == 'e' && v.empty())) f.begin(name).string(v), f.end();
        break;
      }
      case 'b': {
        if (bit == 8) {
          if (!r.u8(bits)) return false;
          bit = 0;
        }
        const bool v = bits >> bit++ & 1;
        if (!skip) f.begin(name).boolean(v), f.end();
        if (v && name == "no-wait") no_wait = true;
        break;
      }
      case 't': {
        const bool wanted = name == "arguments" ? cfg.parse_arguments : true;
        if (wanted) {
          JsonWriter& w = f.begin(name);
          if (!table(r, w, 0)) return false;
          f.end();
        } else {
          uint32_t n;
          if (!r.be32(n) || !r.skip(n)) return false;
        }
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

bool has_field(std::string_view fields, std::string_view key) {
  bool found = false;
  each_field(fields, [&](std::string_view k, std::string_view) { found = found || k == key; });
  return found;
}

uint64_t field_number(std::string_view fields, std::string_view key) {
  uint64_t v = 0;
  each_field(fields, [&](std::string_view k, std::string_view val) {
    if (k == key) std::from_chars(val.data(), val.data() + val.size(), v);
  });
  return v;
}

bool error_close(const Method& m, std::string_view fields) {
  return (m.flags & kClose) && field_number(fields, "reply-code") >= 300;
}

// Connection information, and closes without an error (reply-code under 300), are
// followed but published only when hide_connection_information is false.
bool hidden(const Method& m, std::string_view fields, const AmqpSettings& cfg) {
  return cfg.hide_connection_information &&
         ((m.flags & kConn) || ((m.flags & kClose) && !error_close(m, fields)));
}

}  // namespace

// The oldest pending request that `match` accepts, taken out of the chain (the
// others stay in order) with its record copied into the scratch; returns the bytes
// copied, 0 when none matched.
template <class Match>
uint32_t AmqpDecoder::take_pending(AmqpState& st, Match&& match, Pending& h) {
  AmqpScratch& s = *scratch_;
  uint32_t at = 0;
  for (uint32_t i = 0; i < st.n_pending; ++i) {
    store_.copy_out(st.pending, reinterpret_cast<uint8_t*>(&h), sizeof h, at);
    const uint32_t rec = sizeof h + h.name_len + h.fields_len;
    if (!match(h)) {
      at += rec;
      continue;
    }
    const uint32_t k = store_.copy_out(st.pending, reinterpret_cast<uint8_t*>(s.record),
                                       std::min<uint32_t>(rec, sizeof s.record), at);
    if (at == 0) {
      store_.drop_front(st.pending, rec);
    } else {
      ChainStore::Chain kept;
      for (uint32_t from = 0; from < st.pending.len;) {
        if (from == at) {
          from += rec;
          continue;
        }
        const uint32_t end = from < at ? at : st.pending.len;
        const uint32_t got = store_.copy_out(st.pending, reinterpret_cast<uint8_t*>(s.moved),
                                             std::min<uint32_t>(sizeof s.moved, end - from), from);
        if (store_.append(kept, reinterpret_cast<const uint8_t*>(s.moved), got) < got)
          counters_.inc(AmqpStat::store_full);
        from += got;
      }
      store_.release(st.pending);
      st.pending = kept;
    }
    --st.n_pending;
    return k;
  }
  return 0;
}

AmqpDecoder::AmqpDecoder(const DecoderSetup& s)
    : DecoderCommon<AmqpStat>(s),
      cfg_(s.settings<AmqpSettings>()),
      scratch_(std::make_unique<AmqpScratch>()) {}

AmqpDecoder::~AmqpDecoder() = default;

void AmqpDecoder::open(void* state) {
  auto& st = *static_cast<AmqpState*>(state);
  st = AmqpState{};
  st.client = -1;
}

namespace {

// Bytes passed over after a gap, looking for a frame start, before the connection is
// left.
constexpr uint32_t kMaxResyncSkip = 256 * 1024;

// Whether a frame starts at p (avail bytes there): a frame type, and the frame-end octet
// where its size puts it. 0: no; 1: yes; -1: more bytes are needed to tell.
int frame_start(const uint8_t* p, uint32_t avail) {
  const uint8_t type = p[0];
  const uint32_t size = uint32_t{p[3]} << 24 | uint32_t{p[4]} << 16 | uint32_t{p[5]} << 8 | p[6];
  if ((type != 1 && type != 2 && type != 3 && type != 8) || size > AmqpDecoder::kMaxFrame) return 0;
  if (type == 8 && size != 0) return 0;
  if (uint64_t{size} + 8 > avail) return -1;
  return p[7 + size] == 0xCE ? 1 : 0;
}

}  // namespace

DecodeResult AmqpDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) {
  AmqpState& st = *static_cast<AmqpState*>(state);
  AmqpState::Dir& d = st.dir[dir];
  const uint8_t* p = bytes.data();
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  uint32_t off = 0;
  if (d.resync) {
    // After a gap: bytes are passed over up to a frame that starts there and ends with
    // its frame-end octet where its size says. A start whose end is not here yet is
    // kept, with what follows, until more bytes tell (a later whole frame wins).
    uint32_t i = off, undecided = n;
    int found = 0;
    for (; i + 8 <= n; ++i) {
      found = frame_start(p + i, n - i);
      if (found == 1) break;
      if (found == -1 && undecided == n) undecided = i;
    }
    const uint32_t to = found == 1 ? i : std::min(undecided, n > off + 7 ? n - 7 : off);
    counters_.inc(AmqpStat::resync_skipped_bytes, to - off);
    d.resync += to - off;
    off = to;
    if (d.resync > kMaxResyncSkip) return {off, 0, Verdict::kViolation};
    if (found != 1) return {off, n - off + 1, Verdict::kNeedMore};
    d.resync = 0;
    counters_.inc(AmqpStat::resynced);
  }
  while (off < n) {
    if (d.skip) {
      const uint32_t k = std::min(d.skip, n - off);
      if (d.skipping_body && d.body_left) content_body(st, c, dir, p + off, k);
      d.skip -= k;
      off += k;
      if (d.skip == 0 && d.content == 2 && d.body_left == 0) content_done(st, c, dir);
      continue;
    }
    if (n - off < 8) return {off, 8, Verdict::kNeedMore};
    if (std::memcmp(p + off, "AMQP", 4) == 0) {  // the protocol header: its sender is the client
      const uint8_t* v = p + off + 4;
      if ((v[0] <= 3 && v[1] == 1 && v[2] == 0 && v[3] == 0) ||
          (v[0] == 1 && v[1] == 1 && v[2] == 0 && v[3] == 10)) {
        // AMQP 1.0 (plain, TLS or SASL layer: RabbitMQ 4, Qpid, ActiveMQ, Azure Service
        // Bus) or 0-10 on the port: other protocols under the name, framed otherwise.
        // Counted and left, not read as malformed 0-9-1.
        counters_.inc(AmqpStat::other_versions);
        return {off, 0, Verdict::kDone};
      }
      st.client = static_cast<int8_t>(dir);
      off += 8;
      continue;
    }
    const uint8_t type = p[off];
    const uint16_t channel = static_cast<uint16_t>(p[off + 1] << 8 | p[off + 2]);
    const uint32_t size =
        uint32_t{p[off + 3]} << 24 | uint32_t{p[off + 4]} << 16 | uint32_t{p[off + 5]} << 8 | p[off + 6];
    if ((type != 1 && type != 2 && type != 3 && type != 8) || size > (1u << 30)) {
      counters_.inc(AmqpStat::malformed);
      return {off, 0, Verdict::kViolation};
    }
    if (st.client < 0) {
      // Without the protocol header (mid-connection, or its packet lost): the side
      // talking to a configured port, or to AMQP's own, is the client; else the first
      // method tells (the server starts and tunes a connection), else its sender is.
      const int by_port = cfg_.client_by_port(c.port);
      const bool server_method = type == 1 && n - off >= 11 && load_be16(p + off + 7) == 10 &&
                                 (load_be16(p + off + 9) == 10 || load_be16(p + off + 9) == 30);
      st.client = static_cast<int8_t>(by_port >= 0                                         ? by_port
                                      : c.port[1 - dir] == 5672 || c.port[1 - dir] == 5671 ? dir
                                      : c.port[dir] == 5672 || c.port[dir] == 5671         ? 1 - dir
                                      : server_method                                      ? 1 - dir
                                                                                           : dir);
    }
    if (type == 3) {  // body: streamed, its first bytes kept
      off += 7;
      d.skip = size + 1;  // and the frame end
      d.skipping_body = d.content == 2;
      if (d.content == 2 && d.body_left) {
        const uint32_t k = static_cast<uint32_t>(std::min<uint64_t>(size, n - off));
        content_body(st, c, dir, p + off, k);
        d.skip -= k;
        off += k;
        if (d.skip == 0 && d.body_left == 0) content_done(st, c, dir);
      }
      continue;
    }
    if (size + 8 > kMaxFrame) {
      counters_.inc(AmqpStat::too_large);
      off += 7;
      d.skip = size + 1;
      d.skipping_body = 0;
      continue;
    }
    if (n - off < size + 8) return {off, size + 8, Verdict::kNeedMore};
    if (p[off + 7 + size] != 0xCE) {
      counters_.inc(AmqpStat::malformed);
      return {off, 0, Verdict::kViolation};
    }
    const uint8_t* payload = p + off + 7;
    frame_ns_ = c.ts_at(off);
    off += size + 8;
    if (type == 8) continue;  // heartbeat
    if (type == 2) {
      content_header(st, c, dir, payload, size);
      continue;
    }
    if (!method_frame(st, c, dir, channel, payload, size)) return {off, 0, Verdict::kViolation};
  }
  return {off, 0, Verdict::kOk};
}

bool AmqpDecoder::method_frame(AmqpState& st, const StreamInfo& c, int dir, uint16_t channel,
                               const uint8_t* p, uint32_t n) {
  AmqpScratch& s = *scratch_;
  AmqpState::Dir& d = st.dir[dir];
  ByteReader r(p, n);
  uint16_t cls, id;
  if (!r.be16(cls) || !r.be16(id)) {
    counters_.inc(AmqpStat::malformed);
    return false;
  }
  const Method* m = find_method(cls, id);
  if (!m) {
    counters_.inc(AmqpStat::unknown_methods);
    return true;
  }
  counters_.inc(AmqpStat::methods);
  if (d.content) {  // a method before the last content finished: publish what came
    counters_.inc(AmqpStat::truncated_content);
    content_done(st, c, dir);
  }
  Fields f(s.request_fields, sizeof s.request_fields);
  bool no_wait = false;
  if (!read_args(r, args_of(*m), f, cfg_, no_wait)) {
    counters_.inc(AmqpStat::malformed);
    return false;
  }
  if (f.full()) counters_.inc(AmqpStat::fields_cut);
  const bool hide = hidden(*m, f.view(), cfg_);
  if (m->flags & kClose) {
    // A close answers what its channel (or, connection.close, the connection) still
    // waited for: those requests end here, counted.
    Pending h;
    while (take_pending(
        st, [&](const Pending& p) { return cls == 10 || p.channel == channel; }, h))
      counters_.inc(AmqpStat::unmatched_requests);
  }

  if (m->flags & kContent) {  // header and body follow: kept until they did
    d.content = 1;
    d.channel = channel;
    d.start_ns = frame_ns_;
    d.get_start_ns = d.get_bytes = 0;
    d.body_left = d.body_size = 0;
    d.textual = 0;
    const char* name = m->id == 71 ? "basic.get" : m->name;  // get-ok is published as the get
    d.method_len = static_cast<uint8_t>(std::min(std::strlen(name), sizeof d.method));
    std::memcpy(d.method, name, d.method_len);
    store_.release(d.fields);
    store_.release(d.body);
    const std::string_view fv = f.view();
    if (store_.append(d.fields, reinterpret_cast<const uint8_t*>(fv.data()),
                      static_cast<uint32_t>(fv.size())) < fv.size())
      counters_.inc(AmqpStat::store_full);
    if (m->id == 71) {  // get-ok answers the channel's pending basic.get: its start and size
      Pending h;
      if (take_pending(
              st, [&](const Pending& p) { return p.channel == channel && p.cls == 60 && p.id == 70; }, h))
        d.get_start_ns = h.start_ns, d.get_bytes = h.bytes;
    }
    return true;
  }

  if (m->flags & kAnswer) {
    // The answer to the pending request of this channel and class.
    Pending h;
    const uint32_t k = take_pending(
        st,
        [&](const Pending& p) {
          return p.channel == channel && p.cls == cls &&
                 (p.id + 1 == id || (cls == 60 && p.id == 70 && id == 72));
        },
        h);
    if (k) {
      const Method* rm = find_method(h.cls, h.id);
      const std::string_view request_fields{s.record + sizeof h + h.name_len,
                                            std::min<std::size_t>(h.fields_len, k - sizeof h - h.name_len)};
      if (!hidden(*rm, request_fields, cfg_)) {
        Event e;
        e.method = {s.record + sizeof h, h.name_len};
        if (cls == 60 && id == 72) e.method = "basic.get-empty";
        e.request_fields = request_fields;
        e.response_fields = f.view();
        e.start_ns = h.start_ns;
        e.end_ns = frame_ns_;  // the answer's first packet, as Packetbeat ends it
        e.answered = true;
        e.bytes_in = h.bytes;
        e.bytes_out = n + 8;
        e.error = error_close(*rm, request_fields);
        e.request = e.method;
        e.response = "OK";
        counters_.inc(AmqpStat::transactions);
        publish(c, st.client, e);
      }
      return true;
    }
    counters_.inc(AmqpStat::unmatched_responses);
    return true;
  }
  // A request: published now (asynchronous, no-wait) or when its answer comes.
  if ((m->flags & kAsync) || no_wait) {
    if (!hide) {
      Event e;
      e.method = m->name;
      e.request_fields = f.view();
      e.start_ns = e.end_ns = frame_ns_;
      e.bytes_in = n + 8;
      e.error = m->id == 90 && cls == 60;  // basic.reject
      e.request = e.method;
      counters_.inc(AmqpStat::transactions);
      publish(c, st.client, e);
    }
    return true;
  }
  {
    // A channel has one synchronous request waiting at a time (AMQP 0-9-1 §2.2.2: a
    // peer awaits the answer before the next): one still pending there was answered
    // where the capture lost it, or never, and goes out unanswered now rather than
    // take this one's answer.
    Pending old{};
    if (const uint32_t k = take_pending(
            st, [&](const Pending& p) { return p.channel == channel; }, old))
      publish_unanswered(st, c, old, k);
  }
  if (st.n_pending >= kMaxPending) {
    counters_.inc(AmqpStat::queue_full);
    return true;
  }
  const std::string_view fv = f.view();
  AmqpDecoder::Pending h{frame_ns_,
                         n + 8,
                         channel,
                         cls,
                         id,
                         static_cast<uint16_t>(std::strlen(m->name)),
                         static_cast<uint32_t>(fv.size())};
  if (store_.append(st.pending, reinterpret_cast<const uint8_t*>(&h), sizeof h) < sizeof h ||
      store_.append(st.pending, reinterpret_cast<const uint8_t*>(m->name), h.name_len) < h.name_len ||
      store_.append(st.pending, reinterpret_cast<const uint8_t*>(fv.data()), h.fields_len) < h.fields_len) {
    counters_.inc(AmqpStat::store_full);
    store_.release(st.pending);
    st.n_pending = 0;
    return true;
  }
  ++st.n_pending;
  return true;
}

void AmqpDecoder::content_header(AmqpState& st, const StreamInfo& c, int dir, const uint8_t* p, uint32_t n) {
  AmqpScratch& s = *scratch_;
  AmqpState::Dir& d = st.dir[dir];
  (void)c;
  if (d.content != 1) {
    counters_.inc(AmqpStat::unexpected_frames);
    return;
  }
  ByteReader r(p, n);
  uint16_t cls, weight, flags;
  uint64_t size;
  if (!r.be16(cls) || !r.be16(weight) || !be64(r, size) || !r.be16(flags)) {
    counters_.inc(AmqpStat::malformed);
    return;
  }
  while (flags & 1) {  // more flag words follow (none are defined past the first)
    uint16_t more;
    if (!r.be16(more)) break;
    flags = static_cast<uint16_t>(flags & ~1) | (more & 1);
  }
  Fields f(s.response_fields, sizeof s.response_fields);
  static constexpr struct {
    int bit;
    char type;
    const char* name;
  } kProps[] = {{15, 's', "content-type"}, {14, 's', "content-encoding"},
                {13, 't', "headers"},      {12, 'o', "delivery-mode"},
                {11, 'o', "priority"},     {10, 's', "correlation-id"},
                {9, 's', "reply-to"},      {8, 's', "expiration"},
                {7, 's', "message-id"},    {6, 'T', "timestamp"},
                {5, 's', "type"},          {4, 's', "user-id"},
                {3, 's', "app-id"}};
  std::string_view content_type, content_encoding;
  for (const auto& pr : kProps) {
    if (!(flags >> pr.bit & 1)) continue;
    if (pr.type == 's') {
      std::string_view v;
      if (!shortstr(r, v)) break;
      if (pr.bit == 15) content_type = v;
      if (pr.bit == 14) content_encoding = v;
      f.begin(pr.name).string(v), f.end();
    } else if (pr.type == 'o') {
      uint8_t v;
      if (!r.u8(v)) break;
      if (pr.bit == 12) {  // delivery-mode by name, as Packetbeat writes it (other values left out)
        if (v == 1 || v == 2) f.begin(pr.name).string(v == 1 ? "non-persistent" : "persistent"), f.end();
      } else {
        f.begin(pr.name).uint(v), f.end();
      }
    } else if (pr.type == 'T') {
      uint64_t v;
      if (!be64(r, v)) break;
      timestamp_text(f.begin(pr.name), v), f.end();
    } else {
      if (cfg_.parse_headers) {
        if (!table(r, f.begin(pr.name), 0)) break;
        f.end();
      } else {
        uint32_t len;
        if (!r.be32(len) || !r.skip(len)) break;
      }
    }
  }
  const std::string_view fv = f.view();
  store_.append(d.fields, reinterpret_cast<const uint8_t*>(fv.data()), static_cast<uint32_t>(fv.size()));
  d.textual = content_encoding.empty() && (content_type.find("text") != std::string_view::npos ||
                                           content_type.find("json") != std::string_view::npos);
  d.body_size = d.body_left = size;
  d.content = 2;
  if (size == 0) content_done(st, c, dir);
}

void AmqpDecoder::content_body(AmqpState& st, const StreamInfo& c, int dir, const uint8_t* p, uint32_t n) {
  AmqpState::Dir& d = st.dir[dir];
  (void)c;
  const uint32_t k = static_cast<uint32_t>(std::min<uint64_t>(n, d.body_left));
  d.body_left -= k;
  const uint32_t room = d.body.len < cfg_.max_body_length ? cfg_.max_body_length - d.body.len : 0;
  const uint32_t keep = std::min({k, room, static_cast<uint32_t>(sizeof scratch_->body) - d.body.len});
  if (keep && store_.append(d.body, p, keep) < keep) counters_.inc(AmqpStat::store_full);
}

void AmqpDecoder::content_done(AmqpState& st, const StreamInfo& c, int dir) {
  AmqpScratch& s = *scratch_;
  AmqpState::Dir& d = st.dir[dir];
  const uint32_t fl = store_.copy_out(d.fields, reinterpret_cast<uint8_t*>(s.record), sizeof s.record);
  const uint32_t bl = store_.copy_out(d.body, reinterpret_cast<uint8_t*>(s.body), sizeof s.body);
  // The body as text (textual content) or as its bytes in decimal, " [...]" when cut.
  std::size_t tl = 0;
  auto put = [&](std::string_view v) {
    const std::size_t k = std::min(v.size(), sizeof s.body_text - tl);
    if (k) std::memcpy(s.body_text + tl, v.data(), k);
    tl += k;
  };
  if (d.textual) {
    put({s.body, bl});
  } else {
    char num[8];
    for (uint32_t i = 0; i < bl; ++i) {
      if (i) put(" ");
      const auto r =
          std::to_chars(num, num + sizeof num, static_cast<unsigned>(static_cast<uint8_t>(s.body[i])));
      put({num, static_cast<std::size_t>(r.ptr - num)});
    }
  }
  if (bl < d.body_size) put(" [...]");
  Event e;
  e.method = {d.method, d.method_len};
  e.request_fields = {s.record, fl};
  e.start_ns = d.start_ns;
  e.end_ns = c.ts_ns;
  const bool from_client = dir == st.client;
  (from_client ? e.bytes_in : e.bytes_out) = d.body_size;
  if (d.get_bytes) {  // a basic.get and its get-ok, as Packetbeat pairs them: from the get, both sizes
    e.start_ns = d.get_start_ns;
    e.bytes_in = d.get_bytes;
  }
  (from_client ? e.request : e.response) = {s.body_text, tl};
  e.error = e.method == "basic.return";
  counters_.inc(AmqpStat::transactions);
  publish(c, st.client, e);
  d.content = 0;
  store_.release(d.fields);
  store_.release(d.body);
}

bool AmqpDecoder::gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
  AmqpState& st = *static_cast<AmqpState*>(state);
  AmqpState::Dir& d = st.dir[dir];
  counters_.inc(AmqpStat::gaps);
  if (d.skip >= len) {  // inside a body: the framing survives, the body is cut
    d.skip -= len;
    if (d.body_left) d.body_left -= std::min<uint64_t>(len, d.body_left);
    if (d.skip == 0 && d.content == 2 && d.body_left == 0) content_done(st, c, dir);
    return true;
  }
  // The framing is lost: a message whose content was coming goes out with what came of
  // it, and the stream is taken up at the next frame (frames end with a marker octet).
  // On the server's side the bytes lost began the answer to the oldest request waiting,
  // which goes out unanswered (the next answer on its channel is another's), unless it
  // was sent once the client had all of them (its acknowledgement told): then they
  // answered none of those waiting, and its answer is still to come.
  // Before the first frame told the sides: the side talking to a configured port, or
  // to AMQP's own, is the client; where no port tells, the decoder cannot find its way
  // back (stream.gap_detached).
  if (st.client < 0) {
    const int by_port = cfg_.client_by_port(c.port);
    st.client = static_cast<int8_t>(by_port >= 0                                         ? by_port
                                    : c.port[1 - dir] == 5672 || c.port[1 - dir] == 5671 ? dir
                                    : c.port[dir] == 5672 || c.port[dir] == 5671         ? 1 - dir
                                                                                         : -1);
  }
  if (st.client < 0) return false;
  if (d.content) content_done(st, c, dir);
  if (dir != st.client && st.n_pending) {
    Pending oldest{};
    store_.copy_out(st.pending, reinterpret_cast<uint8_t*>(&oldest), sizeof oldest);
    if (c.gap_acked_ns == 0 || oldest.start_ns < c.gap_acked_ns) {
      counters_.inc(AmqpStat::responses_lost);
      unanswered(st, c);
    }
  }
  d.skip = 0;
  d.skipping_body = 0;
  d.resync = 1;
  return true;
}

void AmqpDecoder::close(void* state, const StreamInfo& c) {
  AmqpState& st = *static_cast<AmqpState*>(state);
  for (int dir = 0; dir < 2; ++dir)
    if (st.dir[dir].content) content_done(st, c, dir);
  // Requests never answered: a close with an error code is still worth an event.
  while (st.n_pending) unanswered(st, c);
  store_.release(st.pending);
  for (auto& d : st.dir) {
    store_.release(d.fields);
    store_.release(d.body);
  }
}

bool AmqpDecoder::expire(void* state, const StreamInfo& c, uint64_t now_ns) {
  AmqpState& st = *static_cast<AmqpState*>(state);
  while (st.n_pending) {  // the oldest first
    Pending h;
    store_.copy_out(st.pending, reinterpret_cast<uint8_t*>(&h), sizeof h);
    if (h.start_ns + cfg_.timeout_ns >= now_ns) return true;
    unanswered(st, c);
  }
  return false;
}

// The oldest pending request, never answered: out of the chain, counted, and
// published as an Error unless hidden.
void AmqpDecoder::unanswered(AmqpState& st, const StreamInfo& c) {
  Pending h{};
  const uint32_t k = take_pending(
      st, [](const Pending&) { return true; }, h);
  publish_unanswered(st, c, h, k);
}

// A pending request taken out with take_pending (its record in the scratch), never
// answered: counted, and published as an Error unless hidden.
void AmqpDecoder::publish_unanswered(AmqpState& st, const StreamInfo& c, const Pending& h, uint32_t k) {
  AmqpScratch& s = *scratch_;
  counters_.inc(AmqpStat::unmatched_requests);
  const Method* m = find_method(h.cls, h.id);
  const std::string_view fields{s.record + sizeof h + h.name_len,
                                std::min<std::size_t>(h.fields_len, k - sizeof h - h.name_len)};
  if (!m || hidden(*m, fields, cfg_)) return;
  Event e;
  e.method = {s.record + sizeof h, h.name_len};
  e.request_fields = fields;
  e.start_ns = e.end_ns = h.start_ns;
  e.bytes_in = h.bytes;
  e.error = true;
  e.note = error_close(*m, fields) ? "Close-ok method not received by sender" : "Unmatched request";
  e.request = e.method;
  publish(c, st.client, e);
}

void AmqpDecoder::publish(const StreamInfo& c, int client, const Event& e) {
  TransactionFields t;
  t.type = "amqp";
  t.ok = !e.error;
  t.error = e.note;
  t.start_ns = e.start_ns;
  t.end_ns = e.end_ns;
  t.request_only = !e.answered;
  set_connection(t, c, client, 6, "amqp");
  t.client_bytes = e.bytes_in;
  t.server_bytes = e.bytes_out;
  BoundedText<47> action;
  action.append("amqp.");
  action.append(e.method);
  t.event_action = action.view();
  std::string_view user;  // the user-id property, as its JSON string
  each_field(e.request_fields, [&](std::string_view k, std::string_view v) {
    if (k == "user-id") user = v;
  });
  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    w.field("method", e.method);
    w.begin_object("amqp");
    // The answer's fields win over the request's (a server-named queue).
    each_field(e.response_fields, [&](std::string_view k, std::string_view v) {
      w.key(k);
      w.raw(v);
    });
    each_field(e.request_fields, [&](std::string_view k, std::string_view v) {
      if (has_field(e.response_fields, k)) return;
      w.key(k);
      w.raw(v);
    });
    w.end_object();
    if (!user.empty()) {
      w.begin_object("user");
      w.key("id");
      w.raw(user);
      w.end_object();
    }
    if (cfg_.send_request && !e.request.empty()) w.field("request", e.request);
    if (cfg_.send_response && !e.response.empty()) w.field("response", e.response);
    end_transaction(w);
  });
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<AmqpDecoder>(s); }

// The protocol header, decisive (AMQP on another protocol's port).
constexpr DetectProbe kProbes[] = {
    {R"(^AMQP\x00\x00\x09\x01)", true, true},
};

const OptionSpec kSettingOptions[] = {
    {"max_body_length", OptionKind::kUint},
    {"parse_headers", OptionKind::kBool},
    {"parse_arguments", OptionKind::kBool},
    {"hide_connection_information", OptionKind::kBool},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  auto out = std::make_unique<AmqpSettings>();
  AmqpSettings& s = *out;
  if (p.options["max_body_length"]) s.max_body_length = p.options["max_body_length"].as<uint32_t>();
  s.parse_headers = p.flag("parse_headers", true);
  s.parse_arguments = p.flag("parse_arguments", true);
  s.hide_connection_information = p.flag("hide_connection_information", true);
  return out;
}

const uint16_t kDefaultPorts[] = {5672};

}  // namespace

const DecoderDescriptor& amqp_protocol() {
  static const DecoderDescriptor d = {
      .name = "amqp",
      .transports = kTransportTcp,
      .probes = kProbes,
      .state_size = sizeof(AmqpState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kAmqpCounters,
      .violations = static_cast<int>(AmqpStat::violations),
      .index_template = {},
      .exercise_options = "{max_body_length: 64, hide_connection_information: false}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
