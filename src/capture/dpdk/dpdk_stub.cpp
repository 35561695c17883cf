// Stands in for the DPDK backend in builds where libdpdk was not found.
#include "capture/dpdk/dpdk_runtime.hpp"

namespace tapbeat {

int run_dpdk(const Config& cfg) {
  throw ConfigError(cfg.file, "tapbeat.interfaces.type",
                    "dpdk capture is not in this build (built without libdpdk or with -Ddpdk=disabled; "
                    "install dpdk-dev and rebuild, or use type: pcap)");
}

std::string dpdk_version() { return {}; }

}  // namespace tapbeat
