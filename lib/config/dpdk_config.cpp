#include "config/dpdk_config.hpp"

namespace tapbeat {

std::vector<std::string> DpdkConfig::eal_argv() const {
  std::vector<std::string> a = {"tapbeat"};
  // "0-3" is an lcore list (-l); "0@0,1@1,2@1" maps lcores onto CPUs (--lcores).
  if (!lcores.empty())
    a.insert(a.end(), {lcores.find_first_of("@(") == std::string::npos ? "-l" : "--lcores", lcores});
  if (memory_channels) a.insert(a.end(), {"-n", std::to_string(memory_channels)});
  if (memory_mb) a.insert(a.end(), {"-m", std::to_string(memory_mb)});
  if (no_huge) a.push_back("--no-huge");
  if (no_pci) a.push_back("--no-pci");
  if (!file_prefix.empty()) a.insert(a.end(), {"--file-prefix", file_prefix});
  for (const auto& p : ports) {
    if (p.is_vdev())
      a.insert(a.end(), {"--vdev", p.device});
    else if (!no_pci)
      a.insert(a.end(), {"-a", p.device});
  }
  a.insert(a.end(), eal_args.begin(), eal_args.end());
  return a;
}

}  // namespace tapbeat
