#include "engine/decoder_set.hpp"

#include <algorithm>

namespace tapbeat {

DecoderSet::DecoderSet() { (void)decoder_registry(); }  // checks the registry's invariants
DecoderSet::~DecoderSet() = default;

void DecoderSet::claim(int d, uint8_t transports, std::span<const uint16_t> ports) {
  const auto reg = decoder_registry();
  for (uint16_t p : ports) {
    for (auto* table : {&plan_.tcp_ports, &plan_.udp_ports}) {
      if (table == &plan_.tcp_ports ? !(transports & kTransportTcp) : !(transports & kTransportUdp)) continue;
      uint8_t& slot = (*table)[p];
      if (slot && slot != d + 1)
        throw std::invalid_argument("port " + std::to_string(p) + " is claimed by both " +
                                    std::string(reg[slot - 1].name) + " and " + std::string(reg[d].name));
      slot = static_cast<uint8_t>(d + 1);
    }
  }
}

ProtocolConfig DecoderSet::entry(std::string_view name, std::span<const uint16_t> ports) {
  ProtocolConfig p;
  p.type = std::string(name);
  p.ports.assign(ports.begin(), ports.end());
  p.options = YAML::Node(YAML::NodeType::Map);
  return p;
}

ProtocolSettings& DecoderSet::enable_entry(const ProtocolConfig& p, const OptionWarn* warn) {
  const int d = decoder_index(p.type);
  if (d < 0) throw std::invalid_argument("no protocol named '" + p.type + "'");
  const DecoderDescriptor& desc = decoder_registry()[d];
  static const OptionWarn kQuiet = [](const std::string&, const std::string&) {};
  std::unique_ptr<ProtocolSettings> s = desc.configure(p, warn ? *warn : kQuiet);
  read_common_options(p, *s);
  // A protocol without a decoder claims no port: its traffic stays flows only.
  if (desc.create) claim(d, desc.transports, s->ports);
  settings_[d] = std::move(s);
  plan_.config[d] = settings_[d].get();
  return *settings_[d];
}

void DecoderSet::enable_all(bool exercise, uint64_t timeout_ns) {
  for (const DecoderDescriptor& d : decoder_registry()) {
    if (!d.create) continue;
    if (exercise) {
      enable_exercised(d.name, timeout_ns);
      continue;
    }
    ProtocolConfig p = entry(d.name, d.default_ports);
    if (timeout_ns) p.options["transaction_timeout"] = std::to_string(timeout_ns) + "ns";
    enable_entry(p, nullptr);
  }
}

ProtocolSettings& DecoderSet::enable_exercised(std::string_view name, uint64_t timeout_ns) {
  const int i = decoder_index(name);
  if (i < 0) throw std::invalid_argument("no protocol named '" + std::string(name) + "'");
  const DecoderDescriptor& d = decoder_registry()[i];
  ProtocolConfig p = entry(d.name, d.default_ports);
  if (!d.exercise_options.empty()) p.options = YAML::Load(std::string(d.exercise_options));
  p.options["send_request"] = true;
  p.options["send_response"] = true;
  if (timeout_ns) p.options["transaction_timeout"] = std::to_string(timeout_ns) + "ns";
  return enable_entry(p, nullptr);
}

void DecoderSet::enable_detection() {
  detector_ = std::make_unique<PayloadDetector>(plan_);
  plan_.detector = detector_->empty() ? nullptr : detector_.get();
}

uint64_t DecoderSet::tcp_timeout_ns() const {
  uint64_t t = UINT64_MAX;
  const auto reg = decoder_registry();
  for (std::size_t i = 0; i < reg.size(); ++i)
    if (plan_.enabled(i) && (reg[i].transports & kTransportTcp)) t = std::min(t, plan_.config[i]->timeout_ns);
  return t == UINT64_MAX ? 10'000'000'000 : t;
}

std::unique_ptr<DecoderSet> DecoderSet::from_config(const Config& cfg,
                                                    const std::function<void(const std::string&)>& warn) {
  auto s = std::make_unique<DecoderSet>();
  std::string flows_only;
  for (const ProtocolConfig& p : cfg.protocols) {
    if (!p.enabled) continue;
    const std::string key = "packetbeat.protocols." + p.type;
    const OptionWarn entry_warn = [&](const std::string& k, const std::string& what) {
      warn(key + "." + k + ": " + what);
    };
    try {
      s->enable_entry(p, &entry_warn);
    } catch (const OptionError& e) {
      throw ConfigError(cfg.file, key + "." + e.key(), e.what());
    } catch (const std::invalid_argument& e) {
      throw ConfigError(cfg.file, key + ".ports", e.what());
    }
    if (!decoder_registry()[decoder_index(p.type)].create)
      flows_only += (flows_only.empty() ? "" : ", ") + p.type;
  }
  if (!flows_only.empty())
    warn("protocols without a transaction decoder in this version (reported as flows only): " + flows_only);
  if (cfg.engine.detect == "payload") s->enable_detection();
  return s;
}

}  // namespace tapbeat
