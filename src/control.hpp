// What the control threads (output, monitor, capture) share: clocks and counters
// written by one thread and read by others.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace tapbeat {

inline uint64_t mono_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}
inline uint64_t wall_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// Set by SIGINT, SIGTERM and SIGHUP (a graceful stop, as Packetbeat's); polled by capture
// loops. A stopped run delivers what it can within shutdown_timeout_ns of the first
// signal; a second signal ends the wait at once, what is undelivered counted as dropped.
extern std::atomic<bool> g_stop;
void install_signal_handlers(uint64_t shutdown_timeout_ns);
int stop_signal();  // the signal that stopped the run, 0 if none

// The moment an interrupted run stops waiting for its output: tapbeat.shutdown_timeout
// after the first stop signal, at once after a second one; UINT64_MAX while no signal
// has come. Read by the output thread, the capture runtimes and the sinks' close().
uint64_t stop_deadline_ns();

// Single-writer counter of a control thread, readable from any thread.
inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace tapbeat
