// The dhcpv4 protocol behind the decoder seam: each DHCP or BOOTP message on its
// ports is one event, as Packetbeat writes it (the client is the side that sends
// BOOTREQUESTs; a reply goes from the server).
#pragma once

#include <memory>

#include "decode/decoder.hpp"
#include "decode/dhcpv4/dhcpv4_counters.hpp"
#include "decode/dhcpv4/dhcpv4_wire.hpp"

namespace tapbeat {

struct Dhcpv4Settings : ProtocolSettings {};

class Dhcpv4Decoder final : public DecoderCommon<Dhcpv4Stat> {
 public:
  explicit Dhcpv4Decoder(const DecoderSetup& s);
  void datagram(const PacketMeta& m) override;

 private:
  void publish(const PacketMeta& m, const Dhcpv4Message& msg);

  std::unique_ptr<Dhcpv4Message> msg_;
  std::unique_ptr<uint8_t[]> scratch_;
};

}  // namespace tapbeat
