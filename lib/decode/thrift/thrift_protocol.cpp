// Apache Thrift RPC: known to the configuration (its options are checked) and reported as
// flows only in this version; its decoder will live in this folder.
#include "decode/decoder.hpp"

namespace tapbeat {
namespace {

const OptionSpec kSettingOptions[] = {
    {"transport_type", OptionKind::kString},    {"protocol_type", OptionKind::kString},
    {"idl_files", OptionKind::kStringList},     {"string_max_size", OptionKind::kUint},
    {"collection_max_size", OptionKind::kUint}, {"capture_reply", OptionKind::kBool},
    {"obfuscate_strings", OptionKind::kBool},   {"drop_after_n_struct_fields", OptionKind::kUint},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  const std::string t = p.text("transport_type", "socket");
  if (t != "socket" && t != "framed")
    throw OptionError("transport_type", "'" + t + "' is not one of socket, framed");
  const std::string pt = p.text("protocol_type", "binary");
  if (pt != "binary" && pt != "compact" && pt != "json")
    throw OptionError("protocol_type", "'" + pt + "' is not one of binary, compact, json");
  return std::make_unique<ProtocolSettings>();
}

const uint16_t kDefaultPorts[] = {9090};

}  // namespace

const DecoderDescriptor& thrift_protocol() {
  static const DecoderDescriptor d =
      flows_only_protocol("thrift", kTransportTcp, kDefaultPorts, kSettingOptions, configure);
  return d;
}

}  // namespace tapbeat
