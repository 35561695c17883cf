// SIP (RFC 3261): known to the configuration (its options are checked) and reported as
// flows only in this version; its decoder will live in this folder.
#include "decode/decoder.hpp"

namespace tapbeat {
namespace {

const OptionSpec kSettingOptions[] = {
    {"parse_authorization", OptionKind::kBool},
    {"parse_body", OptionKind::kBool},
    {"keep_original", OptionKind::kBool},
    {"transport_protocol", OptionKind::kString},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  const std::string t = p.text("transport_protocol", "udp");
  if (t != "udp" && t != "tcp") throw OptionError("transport_protocol", "'" + t + "' is not one of udp, tcp");
  return std::make_unique<ProtocolSettings>();
}

const uint16_t kDefaultPorts[] = {5060};

}  // namespace

const DecoderDescriptor& sip_protocol() {
  static const DecoderDescriptor d =
      flows_only_protocol("sip", kTransportTcp | kTransportUdp, kDefaultPorts, kSettingOptions, configure);
  return d;
}

}  // namespace tapbeat
