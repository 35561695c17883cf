// Process topology for a run: capture thread (dispatcher), worker threads, output
// thread, monitor thread; start-up, shutdown and the stats line.
#pragma once

#include <string>

#include "config/config.hpp"

namespace tapbeat {

struct RunOptions {
  std::string pcap_file;   // -I
  bool topspeed = false;   // -t
};

// Returns the process exit code. Throws std::runtime_error for start-up failures.
int run(const Config& cfg, const RunOptions& opts);

}  // namespace tapbeat
