// An IP address as bytes: IPv4 in the first 4, the rest zero; IPv6 all 16.
#pragma once

#include <array>
#include <cstdint>

namespace tapbeat {

using IpBytes = std::array<uint8_t, 16>;

}  // namespace tapbeat
