// The nfs protocol behind the decoder seam: ONC RPC over TCP (record marking,
// RFC 5531 11) and UDP; NFS calls are paired with their replies by client, server
// and xid in a per-worker table, and each pair is one event as Packetbeat writes
// it (nfs.*, rpc.*, user.id, group.id). Calls to other RPC programs are counted.
#pragma once

#include <memory>

#include "decode/decoder.hpp"
#include "decode/nfs/nfs_counters.hpp"
#include "decode/nfs/nfs_rpc.hpp"
#include "decode/pending.hpp"

namespace tapbeat {

struct NfsSettings : ProtocolSettings {};

class NfsDecoder final : public DecoderCommon<NfsStat> {
 public:
  static constexpr uint32_t kParseBytes = 1024;      // of a message read: every field reported is in them
  static constexpr uint32_t kMaxRecord = 64u << 20;  // a larger record mark is not RPC
  static constexpr std::size_t kPending = 1024;      // calls awaiting their reply, per worker

  // A call awaiting its reply.
  struct Pending {
    bool used;
    uint8_t ip_version, proto;
    IpBytes client, server;
    uint16_t client_port, server_port;
    uint32_t xid;
    uint64_t ts_ns;
    uint32_t call_bytes;
    RpcCall call;  // its views point into the text below
    char tag[64], machine[64];
  };
  // Who sent a message, to whom, when, how large.
  struct Hop {
    uint8_t ip_version, proto;
    IpBytes src, dst;
    uint16_t sport, dport;
    uint64_t ts_ns;
    uint32_t bytes;
  };

  explicit NfsDecoder(const DecoderSetup& s);
  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void datagram(const PacketMeta& m) override;
  void tick(uint64_t now_ns) override;
  void finish() override;

 private:
  // One RPC message (its first bytes); false when it is not RPC.
  bool message(const Hop& h, std::span<const uint8_t> b);
  void publish(const Pending& p, const Hop* reply, const RpcReply* r);
  Pending* find(const Hop& h, uint32_t xid, bool from_server);

  uint64_t timeout_ns_;
  std::unique_ptr<Pending[]> pending_;
  WaitWatch watch_;  // when tick() has a call to look at
};

}  // namespace tapbeat
