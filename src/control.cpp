#include "control.hpp"

#include <signal.h>
#include <time.h>

namespace tapbeat {

std::atomic<bool> g_stop{false};
namespace {
std::atomic<int> g_signal{0};
std::atomic<uint32_t> g_signals{0};
std::atomic<uint64_t> g_first_signal_ns{0};
std::atomic<uint64_t> g_shutdown_timeout_ns{0};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "the signal handler stores 64-bit atomics");

// Async-signal-safe: clock_gettime and lock-free atomics only.
extern "C" void on_signal(int sig) {
  if (g_signals.fetch_add(1, std::memory_order_relaxed) == 0) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    g_first_signal_ns.store(
        static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec),
        std::memory_order_relaxed);
    g_signal.store(sig, std::memory_order_relaxed);
  }
  g_stop.store(true, std::memory_order_relaxed);
}

}  // namespace

void install_signal_handlers(uint64_t shutdown_timeout_ns) {
  g_shutdown_timeout_ns.store(shutdown_timeout_ns, std::memory_order_relaxed);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
}

uint64_t stop_deadline_ns() {
  const uint32_t n = g_signals.load(std::memory_order_relaxed);
  if (n == 0) return UINT64_MAX;
  if (n > 1) return 0;
  // steady_clock is CLOCK_MONOTONIC on Linux, the handler's clock.
  const uint64_t first = g_first_signal_ns.load(std::memory_order_relaxed);
  return first == 0 ? UINT64_MAX : first + g_shutdown_timeout_ns.load(std::memory_order_relaxed);
}

int stop_signal() { return g_signal.load(); }

}  // namespace tapbeat
