// An IP address as bytes: IPv4 in the first 4, the rest zero; IPv6 all 16.
#pragma once

#include <array>
#include <cstdint>

namespace tapbeat {

using IpBytes = std::array<uint8_t, 16>;

// A hash of an address, a port and a 32-bit id (an RPC xid, a Thrift sequence id):
// where a per-worker table of requests keeps the one from that endpoint.
inline uint64_t ip_port_id_hash(const IpBytes& ip, uint16_t port, uint32_t id) {
  uint64_t h = id * 0x9E3779B97F4A7C15ull ^ port;
  for (int i = 0; i < 16; i += 4) {
    const uint32_t word = static_cast<uint32_t>(ip[i]) << 24 | static_cast<uint32_t>(ip[i + 1]) << 16 |
                          static_cast<uint32_t>(ip[i + 2]) << 8 | ip[i + 3];
    h = (h ^ word) * 0xff51afd7ed558ccdull;
  }
  return h ^ (h >> 29);
}

}  // namespace tapbeat
