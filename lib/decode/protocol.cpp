#include "decode/protocol.hpp"

namespace tapbeat {

bool ProtocolConfig::flag(const char* key, bool fallback) const {
  const YAML::Node& o = options;
  const YAML::Node n = o[key];
  if (!n || !n.IsScalar()) return fallback;
  return parse_bool_text(n.Scalar()).value_or(fallback);
}

uint64_t ProtocolConfig::duration_ns(const char* key, uint64_t fallback) const {
  const YAML::Node& o = options;
  const YAML::Node n = o[key];
  if (!n || !n.IsScalar()) return fallback;
  const auto v = parse_duration_ns(n.Scalar());
  return v && *v > 0 ? static_cast<uint64_t>(*v) : fallback;
}

uint32_t ProtocolConfig::uint(const char* key, uint32_t fallback) const {
  const YAML::Node& o = options;
  const YAML::Node n = o[key];
  return n && n.IsScalar() ? n.as<uint32_t>() : fallback;
}

std::string ProtocolConfig::text(const char* key, const std::string& fallback) const {
  const YAML::Node& o = options;
  const YAML::Node n = o[key];
  return n && n.IsScalar() ? n.Scalar() : fallback;
}

std::vector<std::string> yaml_texts(const YAML::Node& n) {
  std::vector<std::string> out;
  if (!n) return out;
  if (n.IsScalar()) out.push_back(n.Scalar());
  if (n.IsSequence())
    for (const auto& e : n) out.push_back(e.Scalar());
  return out;
}

std::vector<std::string> ProtocolConfig::texts(const char* key) const {
  const YAML::Node& o = options;
  return yaml_texts(o[key]);
}

int ProtocolSettings::client_by_port(const uint16_t (&port)[2]) const {
  bool server[2] = {false, false};
  for (uint16_t p : ports)
    for (int d = 0; d < 2; ++d) server[d] |= port[d] == p;
  if (server[0] == server[1]) return -1;
  return server[0] ? 1 : 0;
}

void read_common_options(const ProtocolConfig& p, ProtocolSettings& s) {
  s.ports = p.ports;
  s.timeout_ns = p.duration_ns("transaction_timeout", s.timeout_ns);
  s.send_request = p.flag("send_request", s.send_request);
  s.send_response = p.flag("send_response", s.send_response);
}

const std::vector<OptionSpec>& common_protocol_options() {
  static const std::vector<OptionSpec> v = {
      {"type", OptionKind::kString},
      {"enabled", OptionKind::kBool},
      {"ports", OptionKind::kPortList},
      {"send_request", OptionKind::kBool},
      {"send_response", OptionKind::kBool},
      {"transaction_timeout", OptionKind::kDuration},
      {"keep_null", OptionKind::kBool},
      {"fields", OptionKind::kMap},
      {"fields_under_root", OptionKind::kBool},
      {"index", OptionKind::kString},
      {"processors", OptionKind::kAny},
      {"tags", OptionKind::kStringList},
      {"ignore_outgoing", OptionKind::kBool},
  };
  return v;
}

}  // namespace tapbeat
