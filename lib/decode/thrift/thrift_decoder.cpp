#include "decode/thrift/thrift_decoder.hpp"

#include <algorithm>
#include <cstring>

#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "util/byte_reader.hpp"

namespace tapbeat {

namespace {

// Per TCP connection, per direction: how its messages are framed and encoded.
struct ThriftState {
  bool detected[2];
  bool framed[2];
  ThriftProtocol protocol[2];
  uint32_t skip[2];    // bytes of a frame over the limit still to pass over
  uint32_t resync[2];  // after a gap: 1 + bytes passed over looking for a message start
  // An unframed message longer than the engine holds, walked to its end (walking[dir]):
  // its header, kept for its event, and its bytes so far.
  bool walking[2];
  uint8_t type[2];
  uint8_t method_len[2];
  uint32_t seqid[2];
  uint32_t walked[2];
  uint64_t start_ns[2];
  char method[2][128];
  ThriftSkip walk[2];
};
static_assert(sizeof(ThriftState) <= kDecoderStateBytes);

// Bytes passed over after a gap, looking for a message start, before the connection
// is left. Framed, a start is chained to the next frame's (find_message_start), so a
// long message whose head was lost is passed over whole; unframed, a start is two to
// four bytes of evidence, and a long scan would meet a false one.
constexpr uint32_t kMaxResyncSkip = 256 * 1024, kMaxResyncSkipFramed = 64u << 20;

// A message start of the direction's protocol at p (8 bytes there): the strict binary
// version word or the compact protocol id with its version, and a message type (call,
// reply, exception, oneway); framed, behind a length the limit allows.
bool opens_message(const uint8_t* p, ThriftProtocol protocol, bool framed, uint32_t max) {
  if (framed) {
    if (load_be32(p) > max || load_be32(p) < 4) return false;
    p += 4;
  }
  if (protocol == ThriftProtocol::kCompact) {
    const unsigned type = p[1] >> 5;
    return p[0] == 0x82 && (p[1] & 0x1f) == 1 && type >= 1 && type <= 4;
  }
  return p[0] == 0x80 && p[1] == 0x01 && p[2] == 0 && p[3] >= 1 && p[3] <= 4;
}

const ThriftParser::Names* names_of(const void* ctx, std::string_view method, bool exceptions) {
  const ThriftIdl* idl = static_cast<const ThriftIdl*>(ctx);
  const ThriftIdlMethod* m = idl ? idl->find(method) : nullptr;
  if (!m) return nullptr;
  return exceptions ? &m->exceptions : &m->params;
}

}  // namespace

ThriftDecoder::ThriftDecoder(const DecoderSetup& s)
    : DecoderCommon(s),
      settings_(s.settings<ThriftSettings>()),
      pending_(std::make_unique<Pending[]>(kPending)),
      msg_(std::make_unique<ThriftMessage>()) {}

void ThriftDecoder::open(void* state) { new (state) ThriftState{}; }

DecodeResult ThriftDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> b) {
  ThriftState& st = *static_cast<ThriftState*>(state);
  std::size_t off = 0;
  ThriftParser parser;
  if (st.resync[dir]) {
    // After a gap: bytes are passed over up to a message start of this direction's kind.
    const Resync r = find_message_start(
        b, 0, 8, st.resync[dir], st.framed[dir] ? kMaxResyncSkipFramed : kMaxResyncSkip,
        [&](const uint8_t* q, uint32_t a) {
          if (a < (st.framed[dir] ? 8u : 4u) ||
              !opens_message(q, st.protocol[dir], st.framed[dir], kMaxMessage))
            return uint64_t{0};
          return st.framed[dir] ? (uint64_t{4} + load_be32(q)) | kOpensLong : kOpensUnframed;
        });
    counters_.inc(ThriftStat::resync_skipped_bytes, r.passed);
    if (!r.framed) return r.result;
    off = r.result.consumed;
    counters_.inc(ThriftStat::resynced);
  }
  while (off < b.size()) {
    if (pass_over(st.skip[dir], off, b.size())) continue;
    const auto rest = b.subspan(off);
    if (st.walking[dir]) {
      std::size_t used = 0;
      const ThriftSkipResult r = thrift_skip(st.walk[dir], rest, used);
      off += used;
      st.walked[dir] += static_cast<uint32_t>(used);
      if (r == ThriftSkipResult::kBad) return {static_cast<uint32_t>(off), 0, Verdict::kViolation};
      if (r == ThriftSkipResult::kMore)
        return {static_cast<uint32_t>(off), static_cast<uint32_t>(b.size() - off + 1), Verdict::kNeedMore};
      end_walk(&st, c, dir);
      continue;
    }
    if (!st.detected[dir]) {
      if (rest.size() < 6) return {static_cast<uint32_t>(off), 6, Verdict::kNeedMore};
      if (!thrift_detect(rest, st.protocol[dir], st.framed[dir])) {
        st.protocol[dir] = settings_.protocol;
        st.framed[dir] = settings_.framed;
      }
      st.detected[dir] = true;
    }
    ThriftMessage& m = *msg_;
    m = ThriftMessage{};
    std::size_t need = 0;
    const void* idl = settings_.idl.get();
    if (st.framed[dir]) {
      if (rest.size() < 4) return {static_cast<uint32_t>(off), 4, Verdict::kNeedMore};
      const uint32_t len = load_be32(rest.data());
      if (uint64_t{4} + len > kMaxWhole) {
        // Past what the engine holds: its header (type, name, seqid) is read from its
        // first bytes, so that the call still meets its reply, and the rest passes by
        // unread, noted.
        constexpr uint32_t kHeaderPeek = 4200;  // a name of up to 4,096 bytes and its framing
        if (rest.size() < 4 + kHeaderPeek)
          return {static_cast<uint32_t>(off), 4 + kHeaderPeek, Verdict::kNeedMore};
        counters_.inc(ThriftStat::too_large);
        const ThriftParse r = parser.parse(rest.subspan(4, kHeaderPeek), st.protocol[dir], settings_.limits,
                                           names_of, idl, m, need);
        if (r != ThriftParse::kBad && header_valid(m)) {
          m.text.clear();
          m.unread = true;
          on_message(c, dir, m, len, c.ts_at(static_cast<uint32_t>(off)));
        }
        st.skip[dir] = len;
        off += 4;
        continue;
      }
      if (rest.size() < 4u + len) return {static_cast<uint32_t>(off), 4 + len, Verdict::kNeedMore};
      if (parser.parse(rest.subspan(4, len), st.protocol[dir], settings_.limits, names_of, idl, m, need) !=
          ThriftParse::kOk)
        return {static_cast<uint32_t>(off), 0, Verdict::kViolation};
      on_message(c, dir, m, len, c.ts_at(static_cast<uint32_t>(off)));
      off += 4 + len;
      continue;
    }
    switch (parser.parse(rest, st.protocol[dir], settings_.limits, names_of, idl, m, need)) {
      case ThriftParse::kOk:
        on_message(c, dir, m, static_cast<uint32_t>(m.end), c.ts_at(static_cast<uint32_t>(off)));
        off += m.end;
        break;
      case ThriftParse::kNeedMore:
        if (need > kMaxWhole) {
          // Longer than the engine holds: its header is kept and the message walked to
          // its end without its values, then it goes out as a frame past the limit does.
          if (!header_valid(m)) return {static_cast<uint32_t>(off), 0, Verdict::kViolation};
          counters_.inc(ThriftStat::too_large);
          st.walking[dir] = true;
          st.type[dir] = m.type;
          st.seqid[dir] = m.seqid;
          st.method_len[dir] = static_cast<uint8_t>(std::min(m.method.size(), sizeof st.method[dir]));
          std::memcpy(st.method[dir], m.method.data(), st.method_len[dir]);
          st.walked[dir] = 0;
          st.start_ns[dir] = c.ts_at(static_cast<uint32_t>(off));
          st.walk[dir] = ThriftSkip{};
          st.walk[dir].protocol = st.protocol[dir];
          continue;
        }
        return {static_cast<uint32_t>(off), static_cast<uint32_t>(need), Verdict::kNeedMore};
      case ThriftParse::kBad:
        return {static_cast<uint32_t>(off), 0, Verdict::kViolation};
    }
  }
  return {static_cast<uint32_t>(off), 0, Verdict::kOk};
}

void ThriftDecoder::end_walk(void* state, const StreamInfo& c, int dir) {
  ThriftState& st = *static_cast<ThriftState*>(state);
  ThriftMessage& m = *msg_;
  m = ThriftMessage{};
  m.method = {st.method[dir], st.method_len[dir]};
  m.type = st.type[dir];
  m.seqid = st.seqid[dir];
  m.exception = m.type == kThriftException ||
                (m.type == kThriftReply && st.walk[dir].has_first && st.walk[dir].first_id != 0);
  m.unread = true;
  st.walking[dir] = false;
  on_message(c, dir, m, st.walked[dir], st.start_ns[dir]);
}

bool ThriftDecoder::gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
  ThriftState& st = *static_cast<ThriftState*>(state);
  counters_.inc(ThriftStat::gaps);
  if (st.skip[dir] >= len) {  // inside a frame being passed over
    st.skip[dir] -= len;
    return true;
  }
  if (st.walking[dir]) {  // a message being walked: its end lost, its header still tells it
    st.walked[dir] += len;
    end_walk(&st, c, dir);
  }
  // The framing is lost: the stream is taken up at the next message start of the kind
  // this direction speaks (replies still meet their calls by seqid). Its kind unknown
  // yet (the direction's first message lost): the next bytes are read as a first
  // message, which tells it (a packet begins with a message as clients write them);
  // bytes that tell none leave the connection as before.
  if (!st.detected[dir]) return true;
  st.skip[dir] = 0;
  st.resync[dir] = 1;
  return true;
}

ThriftDecoder::Pending* ThriftDecoder::slot(const IpBytes& client, uint16_t port, uint32_t seqid,
                                            bool for_insert) {
  const std::size_t base = ip_port_id_hash(client, port, seqid) % kPending;
  Pending* free_slot = nullptr;
  for (std::size_t i = 0; i < 8; ++i) {
    Pending& p = pending_[(base + i) % kPending];
    if (p.used && p.seqid == seqid && p.client_port == port && p.client == client) return &p;
    if (!p.used && !free_slot) free_slot = &p;
  }
  if (!for_insert) return nullptr;
  if (free_slot) return free_slot;
  Pending* oldest = &pending_[base];
  for (std::size_t i = 1; i < 8; ++i)
    if (pending_[(base + i) % kPending].ts_ns < oldest->ts_ns) oldest = &pending_[(base + i) % kPending];
  counters_.inc(ThriftStat::queue_full);
  publish(*oldest, nullptr, 0, 0);
  return oldest;
}

// at_ns: the message's first packet (a call's start; a reply's, the transaction's end).
void ThriftDecoder::on_message(const StreamInfo& c, int dir, const ThriftMessage& m, uint32_t bytes,
                               uint64_t at_ns) {
  if (m.values_cut) counters_.inc(ThriftStat::values_cut, m.values_cut);
  if (m.fields_dropped) counters_.inc(ThriftStat::struct_fields_dropped, m.fields_dropped);
  const bool call = m.type == kThriftCall || m.type == kThriftOneway;
  counters_.inc(call ? ThriftStat::requests : ThriftStat::responses);
  if (call) {
    Pending* p = slot(c.addr[dir], c.port[dir], m.seqid, true);
    if (p->used) publish(*p, nullptr, 0, 0);  // the same call again before an answer
    p->used = true;
    watch_.add(at_ns);
    p->ip_version = c.ip_version;
    p->client = c.addr[dir];
    p->server = c.addr[1 - dir];
    p->client_port = c.port[dir];
    p->server_port = c.port[1 - dir];
    p->seqid = m.seqid;
    p->idl = settings_.idl ? settings_.idl->find(m.method) : nullptr;
    p->oneway = m.type == kThriftOneway || (p->idl && p->idl->oneway);
    p->ts_ns = at_ns;
    p->bytes = bytes;
    p->unread = m.unread;
    p->method_len = static_cast<uint8_t>(std::min(m.method.size(), sizeof p->method));
    std::memcpy(p->method, m.method.data(), p->method_len);
    const std::string_view params = m.text.view();
    p->params_len = static_cast<uint16_t>(std::min(params.size(), sizeof p->params));
    if (p->params_len) std::memcpy(p->params, params.data(), p->params_len);
    if (params.size() > sizeof p->params) counters_.inc(ThriftStat::values_cut);
    if (p->oneway) publish(*p, nullptr, 0, 0);
    return;
  }
  Pending* p = slot(c.addr[1 - dir], c.port[1 - dir], m.seqid, false);
  if (!p || std::string_view(p->method, p->method_len) != m.method) {
    counters_.inc(ThriftStat::unmatched_responses);
    return;
  }
  publish(*p, &m, at_ns, bytes);
}

// The connection's calls still waiting go out, oldest first: a client that sent
// them and left expected no answer (a oneway call sent as a call, as Packetbeat
// takes it at FIN).
void ThriftDecoder::close(void*, const StreamInfo& c) {
  while (true) {
    Pending* oldest = nullptr;
    for (std::size_t i = 0; i < kPending; ++i) {
      Pending& p = pending_[i];
      auto is = [&](int d) {
        return p.client == c.addr[d] && p.client_port == c.port[d] && p.server == c.addr[1 - d] &&
               p.server_port == c.port[1 - d];
      };
      const bool mine = p.used && (is(0) || is(1));
      if (mine && (!oldest || p.ts_ns < oldest->ts_ns)) oldest = &p;
    }
    if (!oldest) return;
    publish(*oldest, nullptr, 0, 0);
  }
}

void ThriftDecoder::tick(uint64_t now_ns) {
  watch_.sweep(pending_.get(), kPending, now_ns, settings_.timeout_ns,
               [&](Pending& p) { publish(p, nullptr, 0, 0); });
}

void ThriftDecoder::finish() {
  for (std::size_t i = 0; i < kPending; ++i)
    if (pending_[i].used) publish(pending_[i], nullptr, 0, 0);
}

void ThriftDecoder::publish(const Pending& p, const ThriftMessage* reply, uint64_t reply_ts,
                            uint32_t reply_bytes) {
  const std::string_view method(p.method, p.method_len), params(p.params, p.params_len);
  // A oneway call has no reply to wait for; another unanswered call is noted.
  const bool oneway = !reply && p.oneway;
  if (!reply && !oneway) counters_.inc(ThriftStat::unmatched_requests);
  counters_.inc(ThriftStat::transactions);
  const std::string_view service = p.idl ? std::string_view(p.idl->service) : std::string_view();
  const bool exception = reply && reply->exception && settings_.capture_reply;

  TransactionFields t;
  t.type = "thrift";
  t.ok = !exception && (reply || oneway);
  if (!reply && !oneway) t.error = "Unmatched request";
  if (p.unread) t.add_note("call longer than 128 KiB: its parameters not read");
  if (reply && reply->unread) t.add_note("reply longer than 128 KiB: its value not read");
  t.start_ns = p.ts_ns;
  t.end_ns = reply ? reply_ts : 0;
  t.request_only = !reply;  // oneway, or never answered
  set_ends(t, p.ip_version, 6, p.client, p.client_port, p.server, p.server_port);
  t.client_bytes = p.bytes;
  t.server_bytes = reply_bytes;
  t.event_type_extra = "protocol";
  t.network_protocol = "thrift";
  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    w.field("method", method);
    w.field("path", service);
    w.key("query");
    w.string_parts(method, params);
    if (settings_.send_request) {
      w.key("request");
      w.string_parts(method, params);
    }
    const std::string_view value = reply && settings_.capture_reply ? reply->text.view() : std::string_view();
    if (reply && settings_.send_response) {
      if (exception) {
        w.key("response");
        w.string_parts("Exceptions: ", value);
      } else {
        w.field("response", value);
      }
    }
    w.begin_object("thrift");
    if (exception) w.field("exceptions", value);
    w.field("params", params);
    if (reply) w.field("return_value", exception ? std::string_view() : value);
    if (!service.empty()) w.field("service", service);
    w.end_object();
    end_transaction(w);
  });
  if (p.used) watch_.remove();
  const_cast<Pending&>(p).used = false;
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<ThriftDecoder>(s); }

const OptionSpec kSettingOptions[] = {
    {"transport_type", OptionKind::kString},    {"protocol_type", OptionKind::kString},
    {"idl_files", OptionKind::kStringList},     {"string_max_size", OptionKind::kUint},
    {"collection_max_size", OptionKind::kUint}, {"capture_reply", OptionKind::kBool},
    {"obfuscate_strings", OptionKind::kBool},   {"drop_after_n_struct_fields", OptionKind::kUint},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  auto s = std::make_unique<ThriftSettings>();
  const std::string t = p.text("transport_type", "socket");
  if (t != "socket" && t != "framed")
    throw OptionError("transport_type", "'" + t + "' is not one of socket, framed");
  s->framed = t == "framed";
  const std::string pt = p.text("protocol_type", "binary");
  if (pt != "binary" && pt != "compact")
    throw OptionError("protocol_type", "'" + pt + "' is not one of binary, compact");
  s->protocol = pt == "compact" ? ThriftProtocol::kCompact : ThriftProtocol::kBinary;
  s->limits.string_max = static_cast<uint32_t>(p.uint("string_max_size", 200));
  s->limits.collection_max = static_cast<uint32_t>(p.uint("collection_max_size", 15));
  s->limits.struct_fields_max = static_cast<uint32_t>(p.uint("drop_after_n_struct_fields", 500));
  s->limits.obfuscate_strings = p.flag("obfuscate_strings", false);
  s->capture_reply = p.flag("capture_reply", true);
  const std::vector<std::string> files = p.texts("idl_files");
  if (!files.empty()) {
    auto idl = std::make_shared<ThriftIdl>();
    for (const std::string& f : files) {
      try {
        idl->load(f);
      } catch (const std::exception& e) {
        throw OptionError("idl_files", e.what());
      }
    }
    s->idl = std::move(idl);
  }
  return s;
}

const uint16_t kDefaultPorts[] = {9090};

// A call or oneway call from the client, its method name's first three characters an
// identifier's: the strict binary protocol (80 01 00 type, a name under 512 bytes) or
// the compact one (82, type and version, a varint sequence id, a name under 128 bytes),
// each alone or behind a frame length under 4 MiB (the decoder's bound).
constexpr DetectProbe kProbes[] = {
    {R"(^\x80\x01\x00[\x01\x04]\x00\x00[\x00-\x01][\x03-\xff][A-Za-z_][A-Za-z0-9_]{2})", true},
    {R"(^\x00[\x00-\x3f][\s\S]{2}\x80\x01\x00[\x01\x04]\x00\x00[\x00-\x01][\x03-\xff][A-Za-z_][A-Za-z0-9_]{2})",
     true},
    {R"(^\x82[\x21\x81][\x80-\xff]{0,4}[\x00-\x7f][\x03-\x7f][A-Za-z_][A-Za-z0-9_]{2})", true},
    {R"(^\x00[\x00-\x3f][\s\S]{2}\x82[\x21\x81][\x80-\xff]{0,4}[\x00-\x7f][\x03-\x7f][A-Za-z_][A-Za-z0-9_]{2})",
     true},
};

}  // namespace

const DecoderDescriptor& thrift_protocol() {
  static const DecoderDescriptor d = {
      .name = "thrift",
      .transports = kTransportTcp,
      .probes = kProbes,
      .state_size = sizeof(ThriftState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kThriftCounters,
      .violations = static_cast<int>(ThriftStat::violations),
      .index_template = {},
      .exercise_options = "{capture_reply: true, string_max_size: 8, collection_max_size: 3}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
