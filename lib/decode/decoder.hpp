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
// creates from the descriptor. The static facts of a protocol sit in its
// descriptor; decode/registry.cpp lists them all.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "engine/counters.hpp"
#include "event/transaction_event.hpp"
#include "net/packet.hpp"

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
};

struct DecodeResult {
  uint32_t consumed = 0;
  uint32_t need = 0;
  Verdict verdict = Verdict::kOk;
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
  EventEmitter& out;
  ChainStore& store;
  const AgentInfo& agent;
  const NetworkSet* internal_networks;  // network.direction; null: not reported
  const void* config;                   // the protocol's settings (type known to the decoder)
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
  // len bytes of direction dir are missing (bytes the engine held of a partial
  // message before the hole are dropped first). Returns false when the decoder
  // cannot find its way back into the stream: it is detached.
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

// What most decoders keep of their DecoderSetup.
class DecoderCommon : public Decoder {
 protected:
  explicit DecoderCommon(const DecoderSetup& s)
      : counters_(s.counters), out_(s.out), store_(s.store), agent_(s.agent), internal_(s.internal_networks) {}
  Counters& counters_;
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
};

struct DecoderDescriptor {
  std::string_view name;          // the packetbeat.protocols type
  uint8_t transports;             // Transport bits
  std::span<const DetectProbe> probes;
  uint32_t state_size;            // per-connection state (TCP), <= kDecoderStateBytes
  Counter violations;             // counted when the decoder detaches
  std::unique_ptr<Decoder> (*create)(const DecoderSetup&);
};

}  // namespace tapbeat
