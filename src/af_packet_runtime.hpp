// The af_packet capture backend (interfaces.type: af_packet on live devices).
#pragma once

#include "config/config.hpp"

namespace tapbeat {

// Returns the process exit code. Throws std::runtime_error for start-up failures.
int run_af_packet(const Config& cfg);

}  // namespace tapbeat
