// DPDK control plane: EAL start-up, port and queue set-up (symmetric RSS, RETA,
// mempools on the port's socket), link status and statistics. Nothing here runs on
// the data path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

struct rte_mempool;

namespace tapbeat {

struct DpdkPort {
  uint16_t id = 0;
  std::string name;
  std::string driver;
  uint16_t rx_queues = 1;
  bool rss = false;  // RSS spreads this port over rx_queues
  bool symmetric_toeplitz = false;
  int socket = 0;
};

struct DpdkPortStats {
  uint64_t ipackets = 0, ibytes = 0, imissed = 0, ierrors = 0, rx_nombuf = 0;
  std::vector<uint64_t> q_ipackets;
};

class DpdkControl {
 public:
  // rte_eal_init with the section's arguments. Throws with the fix named.
  explicit DpdkControl(const Config& cfg);
  ~DpdkControl();

  unsigned worker_lcores() const;  // lcores besides the main one
  // Configures and starts every port: `queues_wanted` RX queues where the device can
  // spread by RSS, one queue otherwise. Throws naming the port and the fix.
  void setup_ports(uint16_t queues_wanted);
  const std::vector<DpdkPort>& ports() const { return ports_; }
  DpdkPortStats stats(const DpdkPort& p) const;
  void stop_ports();

 private:
  rte_mempool* pool_for(int socket);

  const Config& cfg_;
  std::vector<DpdkPort> ports_;
  std::vector<std::pair<int, rte_mempool*>> pools_;
  bool ports_started_ = false;
};

}  // namespace tapbeat
