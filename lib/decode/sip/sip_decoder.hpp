// The sip protocol behind the decoder seam: every SIP message, over UDP (one per
// datagram) or TCP (framed by Content-Length, several per segment, CRLF
// keep-alives between them), is one event as Packetbeat writes it: the sender is
// the client, the receiver the server.
#pragma once

#include <memory>

#include "decode/decoder.hpp"
#include "decode/sip/sip_counters.hpp"
#include "decode/sip/sip_message.hpp"

namespace tapbeat {

struct SipSettings : ProtocolSettings {
  bool parse_authorization = true;
  bool parse_body = true;
  bool keep_original = true;
  uint8_t transports = kTransportTcp | kTransportUdp;  // transport_protocol: one of them
};

class SipDecoder final : public DecoderCommon<SipStat> {
 public:
  static constexpr uint32_t kMaxHead = 64 * 1024;  // a TCP message's head (start line and headers)
  static constexpr uint32_t kMaxBody = 64 * 1024;  // a TCP message's body kept for the event

  explicit SipDecoder(const DecoderSetup& s);
  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void datagram(const PacketMeta& m) override;

  // Who sent a message, to whom, when.
  struct Hop {
    uint8_t ip_version, proto;
    IpBytes src, dst;
    uint16_t sport, dport;
    uint64_t ts_ns;
  };

 private:
  void publish(const Hop& h, std::string_view raw, std::string_view body, bool body_cut,
               bool head_cut = false);
  // The lines of a head past kMaxHead in b, up to and with its empty line: bytes used.
  std::size_t head_rest(void* state, int dir, std::string_view b);

  const SipSettings& settings_;
  std::unique_ptr<SipMessage> msg_;
  std::unique_ptr<char[]> work_;
};

}  // namespace tapbeat
