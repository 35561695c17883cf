// The icmp protocol behind the decoder seam: ICMPv4/ICMPv6 datagrams go to the
// IcmpTracker; its transactions are written as Packetbeat's icmp events.
#pragma once

#include "decode/decoder.hpp"
#include "decode/icmp/icmp.hpp"
#include "decode/icmp/icmp_counters.hpp"

namespace tapbeat {

struct IcmpSettings : ProtocolSettings {};

class IcmpDecoder final : public Decoder {
 public:
  explicit IcmpDecoder(const DecoderSetup& s);
  void datagram(const PacketMeta& m) override;
  void tick(uint64_t now_ns) override;
  void finish() override;

 private:
  void publish(const IcmpEvent& ev);

  IcmpTracker tracker_;
  EventEmitter& out_;
  const AgentInfo& agent_;
  const NetworkSet* internal_;
};

}  // namespace tapbeat
