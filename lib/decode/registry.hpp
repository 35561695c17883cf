// Every protocol tapbeat knows, and the plan a run makes of them: which are
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

inline constexpr std::size_t kMaxDecoders = 32;

// The registry, in the order of decode/meson.build's list: a protocol's index is
// its id for the run. Built on first use; its invariants are checked then
// (std::logic_error when one fails: a programming error, caught by every test).
std::span<const DecoderDescriptor> decoder_registry();
// -1 when no protocol has that name.
int decoder_index(std::string_view name);

// Every counter of a worker's block: the engine's, then each protocol's from its
// counter_base on. Names are unique.
std::span<const CounterSpec> counter_catalogue();
// Position of a counter in the block by its stats name; -1 when there is none.
int counter_index(std::string_view name);

// Read-only for the run; shared by every worker.
struct DecoderPlan {
  std::array<const ProtocolSettings*, kMaxDecoders> config{};  // settings per protocol; null: disabled
  // Per port: 0 when no protocol claims it, else decoder index + 1.
  std::vector<uint8_t> tcp_ports = std::vector<uint8_t>(65536, 0);
  std::vector<uint8_t> udp_ports = std::vector<uint8_t>(65536, 0);
  const PayloadDetector* detector = nullptr;  // null: no payload detection
  bool any_tcp() const;
  // Enabled and decoded (a protocol without a decoder is reported as flows only).
  bool enabled(std::size_t i) const;
};

}  // namespace tapbeat
