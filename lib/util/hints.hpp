// Compiler hints and cache-line constants shared by the hot paths.
#pragma once

#include <cstddef>
#include <cstring>

namespace tapbeat {

// One x86-64 / ARMv8 cache line; per-core structs are aligned to it so that
// two cores never write the same line.
inline constexpr std::size_t kCacheLine = 64;

#define TAPBEAT_LIKELY(x) __builtin_expect(!!(x), 1)
#define TAPBEAT_UNLIKELY(x) __builtin_expect(!!(x), 0)

inline void prefetch_read(const void* p) { __builtin_prefetch(p, 0, 3); }
inline void prefetch_write(const void* p) { __builtin_prefetch(p, 1, 3); }

// memcpy of a length known only at run time, kept a call to libc's memcpy. Where the
// length is bounded (a block's room, a buffer's size) GCC expands an inline memcpy as
// `rep movsq`, whose start-up costs more than the few bytes a field, a name or a record
// usually is (12-23% of the data-store decoders' transactions/s, bench/transactions).
// Nothing is copied for n == 0 (src may then be null: an empty view's data()).
[[gnu::noinline]] inline void copy_bytes(void* dst, const void* src, std::size_t n) {
  if (n != 0) std::memcpy(dst, src, n);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace tapbeat
