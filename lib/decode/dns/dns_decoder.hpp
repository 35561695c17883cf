// The dns protocol behind the decoder seam: UDP datagrams and TCP streams (length
// framing) feed one DnsTracker; matched exchanges are written as Packetbeat's dns
// events, with registered-domain fields from the Public Suffix List.
#pragma once

#include <memory>

#include "decode/decoder.hpp"
#include "decode/dns/dns.hpp"
#include "decode/dns/dns_counters.hpp"
#include "decode/dns/dns_message.hpp"
#include "decode/dns/public_suffix.hpp"

namespace tapbeat {

struct DnsSettings : ProtocolSettings {
  bool include_authorities = false;
  bool include_additionals = false;
  const PublicSuffixList* public_suffixes = nullptr;  // registered-domain fields; null: none
};

class DnsDecoder final : public Decoder {
 public:
  // Text of one parsed message (names and record data).
  static constexpr uint32_t kArenaBytes = 128 * 1024;

  explicit DnsDecoder(const DecoderSetup& s);
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void datagram(const PacketMeta& m) override;
  void tick(uint64_t now_ns) override;
  void finish() override;

 private:
  void publish(const DnsExchange& ex);

  const DnsSettings& settings_;
  CounterSet<DnsStat> counters_;
  EventEmitter& out_;
  const AgentInfo& agent_;
  const NetworkSet* internal_;
  DnsTracker tracker_;
  std::unique_ptr<DnsMessage> query_, response_;
  std::unique_ptr<char[]> arena_;
};

}  // namespace tapbeat
