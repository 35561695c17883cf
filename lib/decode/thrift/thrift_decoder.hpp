// The thrift protocol behind the decoder seam: Thrift RPC over TCP, binary (strict
// and old) or compact protocol, framed or not (told by each direction's first
// bytes, else the configured transport_type and protocol_type); calls paired with
// replies by connection and sequence id in a per-worker table, oneway calls
// published alone, as Packetbeat's thrift events (method, path, query, thrift.*).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "decode/decoder.hpp"
#include "decode/pending.hpp"
#include "decode/thrift/thrift_counters.hpp"
#include "decode/thrift/thrift_idl.hpp"
#include "decode/thrift/thrift_wire.hpp"

namespace tapbeat {

struct ThriftSettings : ProtocolSettings {
  bool framed = false;                                // transport_type: framed
  ThriftProtocol protocol = ThriftProtocol::kBinary;  // protocol_type
  ThriftLimits limits;
  bool capture_reply = true;
  std::shared_ptr<const ThriftIdl> idl;  // idl_files; null: none
};

class ThriftDecoder final : public DecoderCommon<ThriftStat> {
 public:
  static constexpr uint32_t kMaxMessage = 4u << 20;  // a frame length taken as a message start after a gap
  static constexpr uint32_t kMaxWhole =
      128 * 1024;                                   // longer (the engine holds up to this): header alone read
  static constexpr std::size_t kPending = 256;      // calls awaiting their reply, per worker
  static constexpr std::size_t kParamsText = 4096;  // of a call's parameters kept for its event

  struct Pending {
    bool used, oneway;
    uint8_t ip_version;
    IpBytes client, server;
    uint16_t client_port, server_port;
    uint32_t seqid;
    uint64_t ts_ns;
    uint32_t bytes;
    const ThriftIdlMethod* idl;
    uint8_t method_len;
    char method[128];
    uint16_t params_len;
    bool unread;  // a message past kMaxWhole: its parameters were not read
    char params[kParamsText];
  };

  explicit ThriftDecoder(const DecoderSetup& s);
  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void close(void* state, const StreamInfo& c) override;
  void tick(uint64_t now_ns) override;
  void finish() override;

 private:
  void on_message(const StreamInfo& c, int dir, const ThriftMessage& m, uint32_t bytes, uint64_t at_ns);
  // A message walked to its end (or to a gap) goes on as one read for its header alone.
  void end_walk(void* state, const StreamInfo& c, int dir);
  void publish(const Pending& p, const ThriftMessage* reply, uint64_t reply_ts, uint32_t reply_bytes);
  Pending* slot(const IpBytes& client, uint16_t port, uint32_t seqid, bool for_insert);

  const ThriftSettings& settings_;
  std::unique_ptr<Pending[]> pending_;
  WaitWatch watch_;  // when tick() has a call to look at
  std::unique_ptr<ThriftMessage> msg_;
};

}  // namespace tapbeat
