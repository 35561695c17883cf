// Compiler hints and cache-line constants shared by the hot paths.
#pragma once

#include <cstddef>

namespace tapbeat {

// One x86-64 / ARMv8 cache line; per-core structs are aligned to it so that
// two cores never write the same line.
inline constexpr std::size_t kCacheLine = 64;

#define TAPBEAT_LIKELY(x) __builtin_expect(!!(x), 1)
#define TAPBEAT_UNLIKELY(x) __builtin_expect(!!(x), 0)

inline void prefetch_read(const void* p) { __builtin_prefetch(p, 0, 3); }
inline void prefetch_write(const void* p) { __builtin_prefetch(p, 1, 3); }

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace tapbeat
