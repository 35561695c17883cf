// FNV-1a, 32 bits: a short name or value hashed to compare or partition by (not for
// tables an attacker fills).
#pragma once

#include <cstdint>
#include <string_view>

namespace tapbeat {

inline uint32_t fnv1a32(std::string_view data, uint32_t seed = 2166136261u) {
  uint32_t h = seed;
  for (unsigned char c : data) h = (h ^ c) * 16777619u;
  return h;
}

}  // namespace tapbeat
