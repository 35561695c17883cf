#include "decode/nfs/nfs_decoder.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "util/bounded_text.hpp"
#include "util/byte_reader.hpp"
#include "util/encode.hpp"

namespace tapbeat {

namespace {

// Per TCP connection.
struct NfsState {
  uint32_t skip[2];  // bytes of the current record still to pass over
  bool more[2];      // the current record is not the message's last fragment
  bool resync[2];    // after a gap: looking for the next record mark
  bool seen;         // an RPC message was read on this connection
};
static_assert(sizeof(NfsState) <= kDecoderStateBytes);

constexpr uint32_t kLastFragment = 0x80000000u;

std::string_view keep(std::string_view v, char* buf, std::size_t cap) {
  const std::size_t n = std::min(v.size(), cap);
  if (n) std::memcpy(buf, v.data(), n);
  return {buf, n};
}

// A record mark that could start an RPC message at p (after a gap).
bool plausible_record(std::span<const uint8_t> b, std::size_t p) {
  if (b.size() - p < 16) return false;
  const uint32_t mark = load_be32(b.data() + p);
  const uint32_t size = mark & ~kLastFragment;
  const uint32_t type = load_be32(b.data() + p + 8);
  if (size < 12 || size > NfsDecoder::kMaxRecord) return false;
  if (type == 0) return load_be32(b.data() + p + 12) == 2;
  return type == 1;
}

}  // namespace

NfsDecoder::NfsDecoder(const DecoderSetup& s)
    : DecoderCommon(s),
      timeout_ns_(s.settings<NfsSettings>().timeout_ns),
      pending_(std::make_unique<Pending[]>(kPending)) {}

void NfsDecoder::open(void* state) { new (state) NfsState{}; }

void NfsDecoder::datagram(const PacketMeta& m) {
  const Hop h{m.ip_version, 17, m.src, m.dst, m.sport, m.dport, m.ts_ns, m.l4_payload_len};
  if (!message(h, {m.l4_payload, m.l4_payload_len})) counters_.inc(NfsStat::malformed);
}

DecodeResult NfsDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> b) {
  NfsState& st = *static_cast<NfsState*>(state);
  std::size_t off = 0;
  while (off < b.size()) {
    if (pass_over(st.skip[dir], off, b.size())) continue;
    if (st.resync[dir]) {
      std::size_t p = off;
      while (p < b.size() && !plausible_record(b, p)) ++p;
      if (p + 16 > b.size() && p < b.size()) {  // not enough bytes to judge the last positions yet
        off = b.size() > 16 ? std::max(off, b.size() - 16) : off;
        return {static_cast<uint32_t>(off), static_cast<uint32_t>(b.size() - off + 1), Verdict::kNeedMore};
      }
      off = p;
      if (p >= b.size()) break;
      st.resync[dir] = false;
      st.more[dir] = false;
    }
    if (b.size() - off < 4) return {static_cast<uint32_t>(off), 4, Verdict::kNeedMore};
    const uint32_t mark = load_be32(b.data() + off);
    const uint32_t size = mark & ~kLastFragment;
    const bool continuation = st.more[dir];
    st.more[dir] = (mark & kLastFragment) == 0;
    if (!continuation) {
      if (size > kMaxRecord || size < 8) {
        if (!st.seen) return {static_cast<uint32_t>(off), 0, Verdict::kViolation};
        counters_.inc(NfsStat::malformed);
      } else {
        const uint32_t want = std::min(size, kParseBytes);
        if (b.size() - off - 4 < want) {
          st.more[dir] = false;  // read the mark again with the bytes
          return {static_cast<uint32_t>(off), 4 + want, Verdict::kNeedMore};
        }
        const Hop h{c.ip_version,
                    6,
                    c.addr[dir],
                    c.addr[1 - dir],
                    c.port[dir],
                    c.port[1 - dir],
                    c.ts_at(static_cast<uint32_t>(off)),
                    size};  // the record's first packet
        if (message(h, b.subspan(off + 4, want))) {
          st.seen = true;
        } else if (!st.seen) {
          return {static_cast<uint32_t>(off), 0, Verdict::kViolation};
        } else {
          counters_.inc(NfsStat::malformed);
        }
      }
    }
    off += 4;
    st.skip[dir] = size;
  }
  return {static_cast<uint32_t>(off), 0, Verdict::kOk};
}

bool NfsDecoder::gap(void* state, const StreamInfo&, int dir, uint32_t len) {
  NfsState& st = *static_cast<NfsState*>(state);
  counters_.inc(NfsStat::gaps);
  if (st.skip[dir] >= len) {  // inside a record (a WRITE's or READ's data): the framing holds
    st.skip[dir] -= len;
    return true;
  }
  st.skip[dir] = 0;
  st.resync[dir] = true;
  return true;
}

NfsDecoder::Pending* NfsDecoder::find(const Hop& h, uint32_t xid, bool from_server) {
  const IpBytes& client = from_server ? h.dst : h.src;
  const uint16_t cport = from_server ? h.dport : h.sport;
  const IpBytes& server = from_server ? h.src : h.dst;
  const std::size_t base = ip_port_id_hash(client, cport, xid) % kPending;
  for (std::size_t i = 0; i < 8; ++i) {
    Pending& p = pending_[(base + i) % kPending];
    if (p.used && p.xid == xid && p.client_port == cport && p.client == client && p.server == server)
      return &p;
  }
  return nullptr;
}

bool NfsDecoder::message(const Hop& h, std::span<const uint8_t> b) {
  uint32_t xid = 0;
  const RpcKind kind = rpc_kind(b, xid);
  if (kind == RpcKind::kMalformed) return false;
  if (kind == RpcKind::kCall) {
    RpcCall call;
    if (!parse_rpc_call(b, call)) return false;
    if (call.program != kNfsProgram) {
      counters_.inc(NfsStat::other_programs);
      return true;
    }
    counters_.inc(NfsStat::calls);
    Pending* slot = find(h, xid, false);  // a retransmission takes the call's place
    if (!slot) {
      const std::size_t base = ip_port_id_hash(h.src, h.sport, xid) % kPending;
      for (std::size_t i = 0; i < 8 && !slot; ++i)
        if (!pending_[(base + i) % kPending].used) slot = &pending_[(base + i) % kPending];
      if (!slot) {  // the window is full: its oldest call goes out unanswered
        slot = &pending_[base];
        for (std::size_t i = 1; i < 8; ++i) {
          Pending& p = pending_[(base + i) % kPending];
          if (p.ts_ns < slot->ts_ns) slot = &p;
        }
        counters_.inc(NfsStat::pending_full);
        publish(*slot, nullptr, nullptr);
      }
    }
    Pending& p = *slot;
    if (!p.used) watch_.add(h.ts_ns);  // a retransmission keeps its call's place
    p.used = true;
    p.ip_version = h.ip_version;
    p.proto = h.proto;
    p.client = h.src;
    p.server = h.dst;
    p.client_port = h.sport;
    p.server_port = h.dport;
    p.xid = xid;
    p.ts_ns = h.ts_ns;
    p.call_bytes = h.bytes;
    p.call = call;
    p.call.tag = keep(call.tag, p.tag, sizeof p.tag);
    p.call.machinename = keep(call.machinename, p.machine, sizeof p.machine);
    return true;
  }
  counters_.inc(NfsStat::replies);
  Pending* p = find(h, xid, true);
  if (!p) {
    counters_.inc(NfsStat::unmatched_replies);
    return true;
  }
  RpcReply r;
  if (!parse_rpc_reply(b, p->call.procedure, r)) return false;
  if (!r.accepted) counters_.inc(NfsStat::denied_replies);
  counters_.inc(NfsStat::transactions);
  publish(*p, &h, &r);
  p->used = false;
  return true;
}

void NfsDecoder::tick(uint64_t now_ns) {
  watch_.sweep(pending_.get(), kPending, now_ns, timeout_ns_,
               [&](Pending& p) { publish(p, nullptr, nullptr); });
}

void NfsDecoder::finish() {
  for (std::size_t i = 0; i < kPending; ++i)
    if (pending_[i].used) publish(pending_[i], nullptr, nullptr);
}

void NfsDecoder::publish(const Pending& p, const Hop* reply, const RpcReply* r) {
  const RpcCall& c = p.call;
  if (!reply) counters_.inc(NfsStat::unmatched_requests);
  BoundedText<47> action;
  action.append("nfs.");
  action.append(c.opcode ? c.opcode : "ILLEGAL");
  char proto[16] = "nfsv";  // NUL-terminated: network.protocol is a C string
  *std::to_chars(proto + 4, proto + sizeof proto - 1, c.version).ptr = '\0';
  const uint8_t xid_bytes[4] = {static_cast<uint8_t>(p.xid >> 24), static_cast<uint8_t>(p.xid >> 16),
                                static_cast<uint8_t>(p.xid >> 8), static_cast<uint8_t>(p.xid)};
  char xid[8];
  hex_encode(xid_bytes, 4, xid);
  const char* reject = nullptr;
  if (r && !r->accepted) reject = r->reject_stat == 0 ? "rpc_mismatch" : "auth_error";

  TransactionFields t;
  t.type = "nfs";
  t.ok = reply && r->accepted && r->accept_stat == 0;
  if (!reply) t.error = "Unmatched request";
  t.start_ns = p.ts_ns;
  t.end_ns = reply ? reply->ts_ns : 0;
  set_ends(t, p.ip_version, p.proto, p.client, p.client_port, p.server, p.server_port);
  t.client_bytes = p.call_bytes;
  t.server_bytes = reply ? reply->bytes : 0;
  t.event_type_extra = "protocol";
  t.network_protocol = proto;
  t.event_action = action.view();
  if (c.has_unix_cred) {
    t.client_domain = c.machinename;
    t.has_user_id = t.has_group_id = true;
    t.user_id = c.uid;
    t.group_id = c.gid;
  }
  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    w.begin_object("nfs");
    if (c.compound) w.field_uint("minor_version", c.minor_version);
    if (c.opcode) w.field("opcode", c.opcode);
    if (r && r->has_nfs_status) {
      if (const char* s = nfs_status_name(r->nfs_status)) {
        w.field("status", s);
      } else {
        char b[24];
        const int n = std::snprintf(b, sizeof b, "unknown (%u)", r->nfs_status);
        w.field("status", std::string_view(b, static_cast<std::size_t>(n)));
      }
    }
    if (c.compound) w.field("tag", c.tag);
    w.field_uint("version", c.version);
    w.end_object();
    w.begin_object("rpc");
    if (const char* f = rpc_auth_flavor_name(c.auth_flavor)) {
      w.field("auth_flavor", f);
    } else {
      char b[24];
      const int n = std::snprintf(b, sizeof b, "unknown (%u)", c.auth_flavor);
      w.field("auth_flavor", std::string_view(b, static_cast<std::size_t>(n)));
    }
    if (c.has_unix_cred) {
      w.begin_object("cred");
      w.field_uint("gid", c.gid);
      w.begin_array("gids");
      for (int i = 0; i < c.n_gids; ++i) w.uint(c.gids[i]);
      w.end_array();
      char ip[48];
      w.field("machinename", c.machinename.empty()
                                 ? std::string_view(ip, format_ip(p.client, p.ip_version, ip))
                                 : c.machinename);
      w.field_uint("stamp", c.stamp);
      w.field_uint("uid", c.uid);
      w.end_object();
    }
    if (reject)
      w.field("status", reject);
    else if (r)
      w.field("status", rpc_accept_stat_name(r->accept_stat));
    w.field("xid", std::string_view(xid, 8));
    w.end_object();
    end_transaction(w);
  });
  if (p.used) watch_.remove();
  const_cast<Pending&>(p).used = false;
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<NfsDecoder>(s); }

constexpr std::span<const OptionSpec> kSettingOptions{};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)p, (void)warn;  // no options beyond the common ones
  return std::make_unique<NfsSettings>();
}

const uint16_t kDefaultPorts[] = {2049};

}  // namespace

const DecoderDescriptor& nfs_protocol() {
  static const DecoderDescriptor d = {
      .name = "nfs",
      .transports = kTransportTcp | kTransportUdp,
      .probes = {},
      .state_size = sizeof(NfsState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kNfsCounters,
      .violations = static_cast<int>(NfsStat::violations),
      // Packetbeat's field types where dynamic mapping would differ.
      .index_template =
          {.dynamic_templates =
               R"({"rpc_gids": {"path_match": "rpc.cred.gids", "mapping": {"type": "keyword"}}})"},
      .exercise_options = {},
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
