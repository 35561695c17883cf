// Synthetic traffic for benchmarks and flow-table stress: N bidirectional TCP/UDP
// flows between distinct IPv4 endpoints, frames drawn from a size mix, both
// directions interleaved. Deterministic for a given seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tapbeat::bench {

struct SizeMix {
  std::vector<uint32_t> sizes;    // frame lengths on the wire, 60..9000
  std::vector<uint32_t> weights;  // relative frequency
  // "64" or "64:7,576:4,1500:1" (IMIX); throws std::invalid_argument.
  static SizeMix parse(const std::string& spec);
};

struct SynthPacket {
  uint32_t offset;  // into Synth::bytes
  uint32_t len;
  uint64_t ts_ns;
};

struct Synth {
  std::vector<uint8_t> bytes;
  std::vector<SynthPacket> packets;
};

// `packets` frames over `flows` flows (each flow gets packets round-robin, so every
// flow is touched once per pass: the worst case for cache locality).
Synth make_synthetic(uint32_t flows, uint64_t packets, const SizeMix& mix, uint32_t seed = 1);

// Writes a classic microsecond pcap (LINKTYPE_ETHERNET). Throws on I/O errors.
void write_pcap(const Synth& s, const std::string& path);

}  // namespace tapbeat::bench
