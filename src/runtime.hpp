// Process topology for a run: capture thread (dispatcher), worker threads, output
// thread, monitor thread; start-up, shutdown and the stats line.
#pragma once

#include <string>

#include "config/config.hpp"

namespace tapbeat {

struct RunOptions {
  std::string pcap_file;  // -I
  bool topspeed = false;  // -t
};

// What a run checks before it captures, short of opening the capture and connecting:
// an output, the flow table's memory against this machine's, the BPF filter, the
// protocols' settings, the output's settings, files and folders. Throws ConfigError.
// `tapbeat test config` runs it; so does run() (through the same constructors).
void check_run_config(const Config& cfg);

// Returns the process exit code. Throws std::runtime_error for start-up failures.
int run(const Config& cfg, const RunOptions& opts);

}  // namespace tapbeat
