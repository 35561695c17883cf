// Sleeping on a word another thread sets: a worker with nothing to do blocks here
// and its producer wakes it, so an idle capture uses no CPU and a busy one pays a
// relaxed load per hand-over.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace tapbeat {

class Sleeper {
 public:
  // Consumer: announces the sleep; re-check for work after this and before wait().
  void prepare() {
    word_.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  // Consumer: sleeps until wake() or timeout_ns, unless woken since prepare().
  void wait(uint64_t timeout_ns) {
    timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000),
                static_cast<long>(timeout_ns % 1'000'000'000)};
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAIT_PRIVATE, 1u, &ts, nullptr, 0);
    word_.store(0, std::memory_order_relaxed);
  }
  void cancel() { word_.store(0, std::memory_order_relaxed); }
  // Producer, after publishing work: wakes the consumer if it sleeps. A wake-up lost
  // to the race between publish and this load costs the consumer at most its timeout
  // (or the next hand-over).
  void wake() {
    if (word_.load(std::memory_order_relaxed) == 0) return;
    word_.store(0, std::memory_order_relaxed);
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }

 private:
  std::atomic<uint32_t> word_{0};
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
};

}  // namespace tapbeat
