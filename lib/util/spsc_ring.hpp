// Single-producer single-consumer ring of trivially copyable items.
//
// Thread-safety: exactly one producer thread and one consumer thread. Lock-free,
// wait-free, no allocation after construction. Capacity is rounded up to a power
// of two. Head and tail sit on their own cache lines, each side caches the other's
// index so the common case touches no shared line.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>

#include "util/hints.hpp"

namespace tapbeat {

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  explicit SpscRing(std::size_t capacity)
      : mask_(std::bit_ceil(capacity < 2 ? 2 : capacity) - 1), items_(new T[mask_ + 1]) {}

  std::size_t capacity() const { return mask_ + 1; }

  // Producer side: enqueue up to items.size(); returns how many were taken.
  std::size_t push(std::span<const T> items) {
    const uint64_t head = prod_.head.load(std::memory_order_relaxed);
    uint64_t free = capacity() - (head - prod_.cached_tail);
    if (free < items.size()) {
      prod_.cached_tail = cons_.tail.load(std::memory_order_acquire);
      free = capacity() - (head - prod_.cached_tail);
    }
    const std::size_t n = items.size() < free ? items.size() : free;
    for (std::size_t i = 0; i < n; ++i) items_[(head + i) & mask_] = items[i];
    prod_.head.store(head + n, std::memory_order_release);
    return n;
  }
  bool push_one(const T& item) { return push(std::span<const T>(&item, 1)) == 1; }

  // Consumer side: dequeue up to out.size(); returns how many were written.
  std::size_t pop(std::span<T> out) {
    const uint64_t tail = cons_.tail.load(std::memory_order_relaxed);
    uint64_t avail = cons_.cached_head - tail;
    if (avail < out.size()) {
      cons_.cached_head = prod_.head.load(std::memory_order_acquire);
      avail = cons_.cached_head - tail;
    }
    const std::size_t n = out.size() < avail ? out.size() : avail;
    for (std::size_t i = 0; i < n; ++i) out[i] = items_[(tail + i) & mask_];
    cons_.tail.store(tail + n, std::memory_order_release);
    return n;
  }
  bool pop_one(T& out) { return pop(std::span<T>(&out, 1)) == 1; }

  // Approximate; exact only when called from one of the two sides while the other is idle.
  std::size_t size() const {
    return prod_.head.load(std::memory_order_acquire) - cons_.tail.load(std::memory_order_acquire);
  }

 private:
  struct alignas(kCacheLine) Producer {
    std::atomic<uint64_t> head{0};
    uint64_t cached_tail = 0;
  };
  struct alignas(kCacheLine) Consumer {
    std::atomic<uint64_t> tail{0};
    uint64_t cached_head = 0;
  };
  const std::size_t mask_;
  std::unique_ptr<T[]> items_;
  Producer prod_;
  Consumer cons_;
};

}  // namespace tapbeat
