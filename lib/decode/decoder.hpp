// The decoder seam: what an application protocol decoder sees of the engine.
//
// A decoder consumes bytes; the engine owns capture, time, reassembly, buffers and
// output. For a TCP connection it gets one direction's bytes in order and answers
// {consumed, need, verdict}: bytes it is done with, how many bytes from the first
// unconsumed one it needs before it can go on, and whether the stream still makes
// sense. The engine keeps the unconsumed bytes (in its ChainStore) and calls again
// once `need` bytes are there. Holes in the stream and the end of the connection
// are separate calls, so each decoder decides how it resynchronises. A violation
// detaches the decoder from the connection and is counted.
//
// Per-connection state lives in the flow's session slot (kDecoderStateBytes,
// checked at compile time by each decoder); per-worker state (settings, scratch,
// pending tables for datagram protocols) lives in the Decoder instance the worker
// creates from the descriptor. Everything else particular to a protocol sits in
// its descriptor (name, transports, probes, option schema and typed settings,
// counters, index-template fields); decode/registry.cpp holds them all, in the
// order of the protocol list in decode/meson.build.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

#include "decode/protocol.hpp"
#include "decode/transaction_event.hpp"
#include "net/packet.hpp"
#include "util/counters.hpp"

namespace tapbeat {

class ChainStore;
class EventEmitter;
class NetworkSet;
struct AgentInfo;

enum class Verdict : uint8_t {
  kOk,         // consumed what it could; call again with more bytes
  kNeedMore,   // `need` bytes from the first unconsumed one before going on
  kViolation,  // the stream is not this protocol (or is beyond a limit): detach
  kDone,       // nothing more to decode on this connection (e.g. after an upgrade)
  kStartTls,   // the connection goes on as TLS from the first unconsumed byte (both
               // directions): the engine hands it to the TLS decoder when that is enabled,
               // else as kDone
  kTunnel,     // the connection carries another stream from the first unconsumed byte (an
               // HTTP CONNECT tunnel): the engine finds its protocol from the tunnel's first
               // bytes, either side's (none at hand: the decoder says so again with the next)
};

struct DecodeResult {
  uint32_t consumed = 0;
  uint32_t need = 0;
  Verdict verdict = Verdict::kOk;
};

// Passes over what is left of `skip` (bytes a decoder does not read: a body over its
// limit, a record's data) in the bytes from `off` to `size`; true when it did.
inline bool pass_over(uint32_t& skip, std::size_t& off, std::size_t size) {
  if (skip == 0) return false;
  const std::size_t k = skip < size - off ? skip : size - off;
  off += k;
  skip -= static_cast<uint32_t>(k);
  return true;
}

// After a gap, a length-framed protocol looks for where a message starts again.
// `skipped` is the direction's state: 0 framed, else 1 + the bytes passed over so far.
// From `off`, bytes are passed over until `opens(p, avail)` says a message starts there
// (`head` bytes are needed to tell): it gives the message's length (where the next one
// starts), kOpensUnframed where that is not known, 0 where none starts. A header alone
// is weak evidence (a type byte and a length: a few percent of positions in random
// bytes), so a start is taken only with the next message's header where the length
// says (the header after it is not chained again), or where the message ends with the
// bytes at hand, as a sender's last one in a burst does. A message whose end lies
// ahead, within kResyncLookahead, is waited for (unless `opens` marks it
// kOpensChainOnly: a type whose body it cannot check, which a sender's pause would
// leave waiting on a false start); a longer one is taken where `opens` marks it
// kOpensLong (a header that is evidence enough alone: a magic byte and an opcode, an
// exact version word, a query's text), else passed over as if no
// header were there (its bytes are scanned: a lost head of a long value costs that
// value, not a false start that reads its bytes as messages).
// Framed again: `framed`, `result.consumed` the start. Otherwise `result` is the
// decoder's answer: more bytes, or, once more than `max_skip` were passed over, a
// violation (the stream is not found again).
struct Resync {
  bool framed;
  uint32_t passed;  // bytes passed over in this call
  DecodeResult result;
};
inline constexpr uint64_t kOpensUnframed = ~uint64_t{0};
inline constexpr uint64_t kOpensChainOnly = uint64_t{1} << 62;  // ORed in: taken only with the next header
inline constexpr uint64_t kOpensLong = uint64_t{1} << 61;       // ORed in: taken even with its end far ahead
inline constexpr uint32_t kResyncLookahead = 64 * 1024;
template <class Opens>
Resync find_message_start(std::span<const uint8_t> b, uint32_t off, uint32_t head, uint32_t& skipped,
                          uint32_t max_skip, Opens&& opens) {
  const uint32_t n = static_cast<uint32_t>(b.size());
  uint32_t i = off;
  for (; i + head <= n; ++i) {
    const uint64_t o = opens(b.data() + i, n - i);
    if (o == 0) continue;
    if (o == kOpensUnframed) break;
    const uint64_t len = o & ~(kOpensChainOnly | kOpensLong);
    const uint32_t a = n - i;
    if (len == a) break;
    if (len + head <= a) {
      if (opens(b.data() + i + len, static_cast<uint32_t>(a - len))) break;
      continue;
    }
    if (!(o & kOpensChainOnly) && len + head <= kResyncLookahead) {  // its end, or the next header, to come
      skipped += i - off;
      return {false, i - off, {i, static_cast<uint32_t>(len < a ? len + head : len), Verdict::kNeedMore}};
    }
    if (o & kOpensLong) break;
  }
  skipped += i - off;
  if (i + head <= n) {
    skipped = 0;
    return {true, i - off, {i, 0, Verdict::kOk}};
  }
  if (skipped > max_skip) return {false, i - off, {i, 0, Verdict::kViolation}};
  return {false, i - off, {i, head, Verdict::kNeedMore}};
}

// The same for a line-based protocol: whole lines are passed over until `opens(s, le)`
// (a line from s to its end le, without the line end) says one opens a message. A line
// longer than any that opens one (max_line: a value's bytes, a megabyte with no line
// feed) is passed over as it comes, not held whole (kMidLine in `skipped` marks it), so
// a gap inside a long value is found past by the skip budget, not by the engine's hold.
inline constexpr uint32_t kMidLine = 1u << 31;
template <class Opens>
Resync find_line_start(std::span<const uint8_t> b, uint32_t off, uint32_t& skipped, uint32_t max_skip,
                       uint32_t max_line, Opens&& opens) {
  const uint8_t* p = b.data();
  const uint32_t n = static_cast<uint32_t>(b.size()), from = off;
  bool mid = skipped & kMidLine;
  uint32_t count = skipped & ~kMidLine;
  while (const void* nl = off < n ? std::memchr(p + off, '\n', n - off) : nullptr) {
    const uint8_t* e = static_cast<const uint8_t*>(nl);
    if (!mid && opens(p + off, e > p + off && e[-1] == '\r' ? e - 1 : e)) {
      skipped = 0;
      return {true, off - from, {off, 0, Verdict::kOk}};
    }
    mid = false;
    const uint32_t line = static_cast<uint32_t>(e - (p + off)) + 1;
    count += line;
    off += line;
    skipped = count;
    if (count > max_skip) return {false, off - from, {off, 0, Verdict::kViolation}};
  }
  if (count + (n - off) > max_skip) return {false, off - from, {off, 0, Verdict::kViolation}};
  if (mid || n - off > max_line) {  // inside a line too long to open a message: passed over
    skipped = (count + (n - off)) | kMidLine;
    return {false, n - from, {n, 0, Verdict::kOk}};
  }
  skipped = count;
  return {false, off - from, {off, n - off + 1, Verdict::kNeedMore}};
}

// Whether b starts with a TLS record holding a ClientHello: handshake content type,
// version 3.0-3.4 (SSL 3 to TLS 1.3's legacy value), a length within a record's bounds,
// handshake type 1. No plaintext protocol a client starts with begins so.
inline bool tls_client_hello(const uint8_t* b, uint32_t n) {
  if (n < 6 || b[0] != 0x16 || b[1] != 3 || b[2] > 4 || b[5] != 1) return false;
  const uint32_t len = uint32_t{b[3]} << 8 | b[4];
  return len >= 4 && len <= 16384 + 2048;
}

// After a gap on the answering side of a protocol that answers in order: requests sent
// before the client had all the lost bytes (StreamInfo::gap_acked_ns) may have been
// answered in them. An answer that begins after a later request was sent shows that the
// earlier ones' answers were lost; one that begins before it may be theirs (a client
// that pipelines waits for its batch's answers). Several gaps can come before an answer
// tells (a pipeline's replies lost in two places): each is kept until the requests
// waiting were all sent after it, so a later gap does not forget what an earlier one
// shows. Lives in a decoder's connection state.
struct LostAnswers {
  struct Gap {
    uint64_t before = 0;   // requests started before this may have been answered in the lost bytes
    uint64_t next_ns = 0;  // the first request started from then on (0: none yet)
  };
  static constexpr int kGaps = 3;
  Gap gaps[kGaps]{};  // oldest first; before == 0: unused
  uint8_t n = 0;

  // A gap whose lost bytes the client had all acknowledged at acked_ns (0: not known,
  // which tells nothing; the gaps before it still stand).
  void on_gap(uint64_t acked_ns) {
    if (!acked_ns || (n && gaps[n - 1].before == acked_ns)) return;
    if (n == kGaps) --n;  // full: the newest gap takes the last one's place
    gaps[n++] = Gap{acked_ns, 0};
  }
  // A request waiting at the gap or sent since, in order.
  void on_request(uint64_t start_ns) {
    for (uint8_t i = 0; i < n; ++i)
      if (!gaps[i].next_ns && start_ns >= gaps[i].before) gaps[i].next_ns = start_ns;
  }
  bool active() const { return n != 0; }
  // Whether a gap still waits for the first request sent after it.
  bool waiting() const {
    for (uint8_t i = 0; i < n; ++i)
      if (!gaps[i].next_ns) return true;
    return false;
  }
  // Whether a request started at start_ns may have been answered in lost bytes.
  bool may_have_lost(uint64_t start_ns) const { return n && start_ns < gaps[n - 1].before; }
  // Whether the oldest request waiting (started oldest_ns) had its answer in the lost
  // bytes, given an answer that began at answer_ns. A gap ends once the oldest request
  // waiting was sent with its lost bytes in hand.
  bool lost(uint64_t oldest_ns, uint64_t answer_ns) {
    uint8_t kept = 0;
    bool shown = false;
    for (uint8_t i = 0; i < n; ++i) {
      if (oldest_ns >= gaps[i].before) continue;
      shown |= gaps[i].next_ns && gaps[i].next_ns <= answer_ns;
      gaps[kept++] = gaps[i];
    }
    n = kept;
    return shown;
  }
};

// Bytes of per-connection state a decoder may keep in the flow's session slot.
inline constexpr uint32_t kDecoderStateBytes = 1152;

enum Transport : uint8_t { kTransportTcp = 1, kTransportUdp = 2, kTransportIcmp = 4 };

// The connection a stream belongs to. Direction 0 is the flow's first sender.
struct StreamInfo {
  uint8_t ip_version = 4;
  IpBytes addr[2]{};
  uint16_t port[2]{};
  uint64_t ts_ns = 0;  // capture time of the packet that delivered the bytes
  // In gap(): when the other side had acknowledged all the lost bytes (0: not known).
  // What it sent from then on was sent with them in hand: a request sent from then on
  // was not answered in them.
  uint64_t gap_acked_ns = 0;
  // The bytes a decoder is given may begin with bytes the engine held from earlier
  // packets (a message that had not all come): the first held_len of them, the first
  // of those carried by the packet captured at held_ns.
  uint64_t held_ns = 0;
  uint32_t held_len = 0;

  // When the byte at `offset` of the bytes given was captured: a message's time is its
  // first packet's, as Packetbeat times requests and responses (for a byte held, the
  // first held packet's: one packet's bytes are seldom held behind another's).
  uint64_t ts_at(uint32_t offset) const { return offset < held_len ? held_ns : ts_ns; }
};

// The connection part of a transaction: addresses and ports by role (`client` is
// the direction that sent the request), transport, community-id ports, and the
// application protocol's name.
inline void set_connection(TransactionFields& t, const StreamInfo& c, int client, uint8_t proto,
                           const char* protocol) {
  const int cl = client < 0 ? 0 : client;
  t.ip_version = c.ip_version;
  t.proto = proto;
  t.client = c.addr[cl];
  t.server = c.addr[1 - cl];
  t.client_port = c.port[cl];
  t.server_port = c.port[1 - cl];
  t.cid_sport = t.client_port;
  t.cid_dport = t.server_port;
  t.event_type_extra = "protocol";
  t.network_protocol = protocol;
}

// What a decoder instance gets from its worker.
struct DecoderSetup {
  Counters& counters;
  std::size_t counter_base;  // where the protocol's counters start in `counters`
  EventEmitter& out;
  ChainStore& store;
  const AgentInfo& agent;
  const NetworkSet* internal_networks;  // network.direction; null: not reported
  const ProtocolSettings* config;       // what the descriptor's configure() made

  // The protocol's own settings type (the one its configure() creates).
  template <class S>
  const S& settings() const {
    return dynamic_cast<const S&>(*config);
  }
  template <class E>
  CounterSet<E> counter_set() const {
    return CounterSet<E>(counters, counter_base);
  }
};

// A worker's instance of one protocol decoder.
class Decoder {
 public:
  virtual ~Decoder() = default;

  // TCP streams. `state` is the connection's kDecoderStateBytes, zeroed before open().
  virtual void open(void* state) { (void)state; }
  virtual DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) {
    (void)state, (void)c, (void)dir, (void)bytes;
    return {0, 0, Verdict::kViolation};
  }
  // A hole is about to cut short the bytes the engine held for a message the decoder
  // was waiting to see whole (`held`, its first bytes; the message's head, say, without
  // its end): what the decoder can still take of them, before gap() and before they are
  // dropped. True when it took them (they are then not counted as dropped).
  virtual bool cut_short(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) {
    (void)state, (void)c, (void)dir, (void)held;
    return false;
  }
  // The sender ended (FIN, RST) or the connection did (idle, evicted, shutdown) with
  // bytes held for a message the decoder was waiting to see whole (`held`: a head
  // whose blank line never came, say): what the decoder can still take of them, before
  // end() or close(). True when it took them; else they are counted dropped
  // (stream.unfinished_bytes).
  virtual bool unfinished(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) {
    (void)state, (void)c, (void)dir, (void)held;
    return false;
  }
  // len bytes of direction dir are missing (bytes the engine held of a partial
  // message before the hole are dropped first, offered to cut_short()). Returns false
  // when the decoder cannot find its way back into the stream: it is detached.
  virtual bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
    (void)state, (void)c, (void)dir, (void)len;
    return false;
  }
  // Direction dir sent FIN or RST after the bytes delivered so far.
  virtual void end(void* state, const StreamInfo& c, int dir) { (void)state, (void)c, (void)dir; }
  // The connection ended (idle, evicted, shutdown) or the decoder was
  // detached: publish what is pending, return what the state holds.
  virtual void close(void* state, const StreamInfo& c) { (void)state, (void)c; }
  // Transactions older than the protocol's timeout are published; returns true
  // while the connection still has something in progress (the engine then keeps
  // an idle connection up to the transaction timeout).
  virtual bool expire(void* state, const StreamInfo& c, uint64_t now_ns) {
    (void)state, (void)c, (void)now_ns;
    return false;
  }

  // Datagrams (UDP, ICMP): the decoder tracks its own transactions.
  virtual void datagram(const PacketMeta& m) { (void)m; }
  // The capture clock moved on (once per housekeeping interval).
  virtual void tick(uint64_t now_ns) { (void)now_ns; }
  // End of input: publish everything pending.
  virtual void finish() {}
};

// What most decoders keep of their DecoderSetup; Stat is the protocol's counter enum.
template <class Stat>
class DecoderCommon : public Decoder {
 protected:
  explicit DecoderCommon(const DecoderSetup& s)
      : counters_(s.counter_set<Stat>()),
        out_(s.out),
        store_(s.store),
        agent_(s.agent),
        internal_(s.internal_networks) {}
  CounterSet<Stat> counters_;
  EventEmitter& out_;
  ChainStore& store_;
  const AgentInfo& agent_;
  const NetworkSet* internal_;
};

// A Hyperscan expression matched from the first payload byte of a connection whose
// port no protocol claims (tapbeat.detect: payload).
struct DetectProbe {
  const char* regex;
  bool client_only;  // matches only data of the connection's first sender
  // Bytes it matches are this protocol on any port: on a connection another protocol's
  // port claimed (seen from its SYN or picked up mid-stream), such first bytes, none of
  // the port protocol's probes matching them, take the connection from the port's decoder.
  bool decisive = false;
  // Its pattern stays alive across much of the bytes (a request line read to its
  // version): matched only where no probe that is not wide matches (of any decoder,
  // enabled or not; on a port another protocol claims, where none of them is the port
  // protocol's or decisive). Hyperscan runs every probe of a database on before it
  // reports the first match, so such a probe in one database with the others would cost
  // every scan its whole run (a GET told at its fifth byte read to the end of its line).
  bool wide = false;
};

// Fields the protocol adds to the Elasticsearch index template, as JSON text:
// members of the template's "properties" and entries of its "dynamic_templates"
// (each without the surrounding braces of the whole list; empty: none).
struct TemplateFields {
  std::string_view properties;
  std::string_view dynamic_templates;
};

struct DecoderDescriptor {
  std::string_view name;  // the packetbeat.protocols type
  uint8_t transports;     // Transport bits (also the generated BPF filter's)
  std::span<const DetectProbe> probes;
  // Optional: true only where a connection's first bytes surely begin one of this
  // protocol's messages and no decisive probe of another protocol can match them. A
  // connection this protocol's port claimed is then not scanned for another protocol
  // (PayloadDetector::overrule, half a microsecond a connection).
  bool (*owns_start)(std::span<const uint8_t> first) = nullptr;
  uint32_t state_size;  // per-connection state (TCP), <= kDecoderStateBytes
  // Packetbeat's usual ports (its reference configuration): used where a run is
  // built without a configuration (benchmarks, fuzzers, the no-allocation test).
  std::span<const uint16_t> default_ports;
  // Options beyond the common ones (common_protocol_options()).
  std::span<const OptionSpec> options;
  // The entry's typed settings: the protocol's own options (the common ones are
  // read afterwards, over the defaults it set). Throws OptionError for a value it
  // refuses; `warn` hears of what is known but not applied. Also run when the
  // configuration is checked, with a warn that discards.
  std::unique_ptr<ProtocolSettings> (*configure)(const ProtocolConfig&, const OptionWarn& warn);
  std::span<const CounterSpec> counters;  // its counters, in the order of its own enum
  int violations;                         // index in `counters` counted when the decoder detaches; -1: none
  TemplateFields index_template;
  // Options (a YAML mapping) that take the decoder down every path it has, for
  // fuzzers, benchmarks and the no-allocation test; send_request and
  // send_response are turned on besides.
  std::string_view exercise_options;
  // Null for a protocol tapbeat knows (its options are checked) but does not
  // decode in this version: its traffic is reported as flows only.
  std::unique_ptr<Decoder> (*create)(const DecoderSetup&);
  // Set by the registry: where its counters start in each worker's block.
  std::size_t counter_base = 0;
};

// A protocol known to the configuration (its options checked by `configure`) but
// without a decoder in this version: its traffic is reported as flows only.
inline DecoderDescriptor flows_only_protocol(
    std::string_view name, uint8_t transports, std::span<const uint16_t> default_ports,
    std::span<const OptionSpec> options,
    std::unique_ptr<ProtocolSettings> (*configure)(const ProtocolConfig&, const OptionWarn&)) {
  DecoderDescriptor d{};
  d.name = name;
  d.transports = transports;
  d.default_ports = default_ports;
  d.options = options;
  d.configure = configure;
  d.violations = -1;
  return d;
}

}  // namespace tapbeat
