// The DPDK backend lives in the module tapbeat-dpdk.so (dpdk_runtime.cpp and
// dpdk_port.cpp, linked against DPDK's libraries), loaded when a run captures with
// interfaces.type: dpdk; see plugin.hpp.
#include <stdexcept>

#include "capture/dpdk/dpdk_runtime.hpp"
#include "plugin.hpp"

namespace tapbeat {

int run_dpdk(const Config& cfg) {
  void* entry;
  try {
    entry = plugin_symbol("dpdk", "tapbeat_dpdk_run");
  } catch (const std::runtime_error& e) {
    throw ConfigError(cfg.file, "tapbeat.interfaces.type", std::string("dpdk capture: ") + e.what());
  }
  return reinterpret_cast<int (*)(const Config&)>(entry)(cfg);
}

std::string dpdk_version() {
  try {
    return reinterpret_cast<const char* (*)()>(plugin_symbol("dpdk", "tapbeat_dpdk_version"))();
  } catch (const std::runtime_error&) {
    return {};
  }
}

}  // namespace tapbeat
