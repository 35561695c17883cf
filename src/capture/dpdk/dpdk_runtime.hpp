// The DPDK backend: poll-mode worker lcores on NIC RX queues (symmetric RSS), or a
// software distribution stage on the main lcore where the port has one queue.
// Built only when libdpdk is found (meson feature `dpdk`); otherwise run_dpdk()
// reports that the binary was built without it.
#pragma once

#include <string>

#include "config/config.hpp"

namespace tapbeat {

// Returns the exit code. Throws ConfigError or std::runtime_error (naming the fix)
// for set-up failures.
int run_dpdk(const Config& cfg);

// The DPDK version this binary was built with, empty when it has no DPDK backend.
std::string dpdk_version();

}  // namespace tapbeat
