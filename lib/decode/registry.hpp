// Every protocol decoder tapbeat has, and the plan a run makes of them: which are
// enabled, with which settings, on which ports, and whether unclaimed flows are
// classified by payload.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "decode/decoder.hpp"

namespace tapbeat {

class PayloadDetector;

inline constexpr std::size_t kMaxDecoders = 16;

// The registry, in a fixed order: a decoder's index is its id for the run.
std::span<const DecoderDescriptor> decoder_registry();
// -1 when no decoder has that name.
int decoder_index(std::string_view name);
// Checks the registry's invariants (unique names, state sizes, transports, probes
// on TCP decoders only); returns the first problem, or "" when there is none.
std::string validate_registry();

// Read-only for the run; shared by every worker.
struct DecoderPlan {
  std::array<const void*, kMaxDecoders> config{};  // settings per decoder; null: disabled
  // Per port: 0 when no protocol claims it, else decoder index + 1.
  std::vector<uint8_t> tcp_ports = std::vector<uint8_t>(65536, 0);
  std::vector<uint8_t> udp_ports = std::vector<uint8_t>(65536, 0);
  const PayloadDetector* detector = nullptr;  // null: no payload detection
  bool any_tcp() const;
  bool enabled(std::size_t i) const { return config[i] != nullptr; }
};

}  // namespace tapbeat
