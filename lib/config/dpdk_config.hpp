// The tapbeat.dpdk section: EAL arguments and port set-up for kernel-bypass capture.
// Pure settings; the DPDK backend (src/capture/dpdk) acts on them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tapbeat {

struct DpdkPortConfig {
  std::string device;      // PCI address ("0000:03:00.0") or a vdev ("net_pcap0,rx_pcap=f.pcap")
  uint16_t rx_queues = 0;  // 0: one per worker lcore
  uint16_t rx_descriptors = 1024;
  bool is_vdev() const { return device.rfind("net_", 0) == 0 || device.find(',') != std::string::npos; }
  // The name DPDK knows the port by: the PCI address or the vdev's name before its arguments.
  std::string name() const { return device.substr(0, device.find(',')); }
};

struct DpdkConfig {
  std::vector<std::string> eal_args;  // passed to rte_eal_init as they are, after the pieces below
  std::string lcores;                 // -l: the first is the main lcore, the others run workers
  uint32_t memory_channels = 0;       // -n
  bool no_huge = false;               // --no-huge
  bool no_pci = false;                // --no-pci (virtual devices only)
  uint32_t memory_mb = 0;             // -m
  std::string file_prefix = "tapbeat";
  std::vector<DpdkPortConfig> ports;
  uint32_t mempool_size = 65535;  // mbufs per NUMA socket in use
  uint32_t mbuf_cache = 256;
  uint16_t burst_size = 32;
  bool promiscuous = true;
  uint32_t mtu = 0;              // 0: as configured; larger frames get larger mbufs
  bool idle_backoff = false;     // idle: backoff (pause, then short sleeps) instead of poll
  uint64_t exit_on_idle_ns = 0;  // stop after this long without packets (finite vdevs)

  // The argv for rte_eal_init built from the pieces, the ports and eal_args.
  std::vector<std::string> eal_argv() const;
};

}  // namespace tapbeat
