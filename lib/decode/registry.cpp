#include "decode/registry.hpp"

#include <stdexcept>

namespace tapbeat {

#define TAPBEAT_PROTOCOL(p) const DecoderDescriptor& p##_protocol();
#include "decode/protocol_list.inc"
#undef TAPBEAT_PROTOCOL

namespace {

// Every protocol, once, in the order of decode/meson.build.
const DecoderDescriptor& (*const kProtocols[])() = {
#define TAPBEAT_PROTOCOL(p) &p##_protocol,
#include "decode/protocol_list.inc"
#undef TAPBEAT_PROTOCOL
};
static_assert(std::size(kProtocols) <= kMaxDecoders);

std::string check(std::span<const DecoderDescriptor> r) {
  for (std::size_t i = 0; i < r.size(); ++i) {
    const DecoderDescriptor& d = r[i];
    const std::string name(d.name);
    if (d.name.empty()) return "protocol " + std::to_string(i) + " has no name";
    for (std::size_t j = 0; j < i; ++j)
      if (r[j].name == d.name) return "protocol name '" + name + "' is registered twice";
    if (d.transports == 0) return "protocol '" + name + "' has no transport";
    if (!d.configure) return "protocol '" + name + "' has no configure()";
    if (d.state_size > kDecoderStateBytes)
      return "protocol '" + name + "' needs " + std::to_string(d.state_size) +
             " bytes of connection state, more than " + std::to_string(kDecoderStateBytes);
    if (!d.probes.empty() && !(d.transports & kTransportTcp))
      return "protocol '" + name + "' has payload probes but no TCP transport";
    if (d.create && (d.transports & kTransportTcp) && d.violations < 0)
      return "protocol '" + name + "' decodes TCP but names no violations counter";
    if (d.violations >= static_cast<int>(d.counters.size()))
      return "protocol '" + name + "' names a violations counter it does not have";
    for (const CounterSpec& c : d.counters)
      if (!c.name.starts_with(name + "."))
        return "protocol '" + name + "' counter '" + std::string(c.name) + "' is not under '" + name + ".'";
    for (const OptionSpec& o : d.options)
      for (const OptionSpec& c : common_protocol_options())
        if (std::string_view(o.name) == c.name)
          return "protocol '" + name + "' redefines the common option '" + o.name + "'";
  }
  return "";
}

struct Registry {
  std::vector<DecoderDescriptor> protocols;
  std::vector<CounterSpec> counters;
  Registry() {
    counters.assign(std::begin(kEngineCounters), std::end(kEngineCounters));
    for (auto* get : kProtocols) {
      DecoderDescriptor d = get();
      d.counter_base = counters.size();
      counters.insert(counters.end(), d.counters.begin(), d.counters.end());
      protocols.push_back(d);
    }
    if (const std::string bad = check(protocols); !bad.empty())
      throw std::logic_error("protocol registry: " + bad);
    if (counters.size() > kMaxCounters)
      throw std::logic_error("protocol registry: " + std::to_string(counters.size()) +
                             " counters, more than " + std::to_string(kMaxCounters) +
                             " (raise kMaxCounters)");
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

}  // namespace

std::span<const DecoderDescriptor> decoder_registry() { return registry().protocols; }

int decoder_index(std::string_view name) {
  const auto r = decoder_registry();
  for (std::size_t i = 0; i < r.size(); ++i)
    if (r[i].name == name) return static_cast<int>(i);
  return -1;
}

std::span<const CounterSpec> counter_catalogue() { return registry().counters; }

int counter_index(std::string_view name) {
  const auto c = counter_catalogue();
  for (std::size_t i = 0; i < c.size(); ++i)
    if (c[i].name == name) return static_cast<int>(i);
  return -1;
}

bool DecoderPlan::enabled(std::size_t i) const {
  return config[i] != nullptr && decoder_registry()[i].create != nullptr;
}

bool DecoderPlan::any_tcp() const {
  const auto r = decoder_registry();
  for (std::size_t i = 0; i < r.size(); ++i)
    if (enabled(i) && (r[i].transports & kTransportTcp)) return true;
  return false;
}

}  // namespace tapbeat
