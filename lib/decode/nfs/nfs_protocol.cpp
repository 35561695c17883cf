// NFS over ONC RPC (RFC 5531, RFC 1813, RFC 7530): known to the configuration (its options are checked) and
// reported as flows only in this version; its decoder will live in this folder.
#include "decode/decoder.hpp"

namespace tapbeat {
namespace {

constexpr std::span<const OptionSpec> kSettingOptions{};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)p, (void)warn;  // no value checks beyond the option types
  return std::make_unique<ProtocolSettings>();
}

const uint16_t kDefaultPorts[] = {2049};

}  // namespace

const DecoderDescriptor& nfs_protocol() {
  static const DecoderDescriptor d =
      flows_only_protocol("nfs", kTransportTcp | kTransportUdp, kDefaultPorts, kSettingOptions, configure);
  return d;
}

}  // namespace tapbeat
