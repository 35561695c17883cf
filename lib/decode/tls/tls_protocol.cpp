// TLS (RFC 8446, RFC 5246): known to the configuration (its options are checked) and reported as
// flows only in this version; its decoder will live in this folder.
#include "decode/decoder.hpp"

namespace tapbeat {
namespace {

const OptionSpec kSettingOptions[] = {
    {"send_certificates", OptionKind::kBool},
    {"include_raw_certificates", OptionKind::kBool},
    {"include_detailed_fields", OptionKind::kBool},
    {"fingerprints", OptionKind::kStringList},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)p, (void)warn;  // no value checks beyond the option types
  return std::make_unique<ProtocolSettings>();
}

const uint16_t kDefaultPorts[] = {443, 993, 995, 5223, 8443, 8883, 9243};

}  // namespace

const DecoderDescriptor& tls_protocol() {
  static const DecoderDescriptor d =
      flows_only_protocol("tls", kTransportTcp, kDefaultPorts, kSettingOptions, configure);
  return d;
}

}  // namespace tapbeat
