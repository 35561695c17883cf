#include "capture/dpdk/dpdk_port.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "log.hpp"

namespace tapbeat {
namespace {

// A Toeplitz key of repeated 0x6D5A hashes (src, dst) and (dst, src) alike, so both
// directions of a flow land in one queue (Woo and Park, "Scalable TCP Session
// Monitoring with Symmetric Receive-side Scaling", 2012).
void symmetric_key(uint8_t* key, std::size_t len) {
  for (std::size_t i = 0; i < len; ++i) key[i] = (i % 2 == 0) ? 0x6D : 0x5A;
}

std::string errno_text(int err) { return rte_strerror(err < 0 ? -err : err); }

}  // namespace

DpdkControl::DpdkControl(const Config& cfg) : cfg_(cfg) {
  std::vector<std::string> args = cfg.dpdk.eal_argv();
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = rte_eal_init(static_cast<int>(args.size()), argv.data());
  if (rc < 0) {
    const int err = rte_errno;
    std::string hint;
    if (err == ENOMEM || err == EFAULT)
      hint =
          "; reserve hugepages (scripts/hugepages 1024) or, for tests, set tapbeat.dpdk.no_huge: true with "
          "memory_mb";
    else if (err == EALREADY)
      hint = "; another DPDK process uses file prefix '" + cfg.dpdk.file_prefix +
             "' (set tapbeat.dpdk.file_prefix)";
    else if (err == EACCES)
      hint = "; run as root or with the capabilities DPDK needs";
    else if (err == EINVAL)
      hint = "; check tapbeat.dpdk.lcores and eal_args";
    throw ConfigError(cfg.file, "tapbeat.dpdk", "EAL initialisation failed: " + errno_text(err) + hint);
  }
}

DpdkControl::~DpdkControl() {
  stop_ports();
  rte_eal_cleanup();
}

unsigned DpdkControl::worker_lcores() const { return rte_lcore_count() - 1; }

rte_mempool* DpdkControl::pool_for(int socket) {
  for (auto& [s, p] : pools_)
    if (s == socket) return p;
  // Frames up to the MTU fit one segment: workers read the first segment only.
  const uint32_t frame = std::max<uint32_t>(cfg_.dpdk.mtu ? cfg_.dpdk.mtu + 26 : 1518, 1518);
  const uint16_t room =
      static_cast<uint16_t>(std::max<uint32_t>(frame + RTE_PKTMBUF_HEADROOM, RTE_MBUF_DEFAULT_BUF_SIZE));
  const std::string name = "tapbeat_s" + std::to_string(socket);
  rte_mempool* p = rte_pktmbuf_pool_create(name.c_str(), cfg_.dpdk.mempool_size, cfg_.dpdk.mbuf_cache, 0,
                                           room, socket < 0 ? SOCKET_ID_ANY : socket);
  if (!p)
    throw ConfigError(cfg_.file, "tapbeat.dpdk.mempool_size",
                      "cannot create " + std::to_string(cfg_.dpdk.mempool_size) + " mbufs on socket " +
                          std::to_string(socket) + ": " + errno_text(rte_errno) +
                          " (reserve more hugepages or lower mempool_size)");
  pools_.emplace_back(socket, p);
  return p;
}

void DpdkControl::setup_ports(uint16_t queues_wanted) {
  for (std::size_t i = 0; i < cfg_.dpdk.ports.size(); ++i) {
    const DpdkPortConfig& pc = cfg_.dpdk.ports[i];
    const std::string key = "tapbeat.dpdk.ports[" + std::to_string(i) + "]";
    DpdkPort port;
    port.name = pc.name();
    if (rte_eth_dev_get_port_by_name(port.name.c_str(), &port.id) != 0)
      throw ConfigError(
          cfg_.file, key + ".device",
          "no DPDK port named '" + port.name + "'" +
              (pc.is_vdev() ? " (the vdev failed to probe; see the EAL messages above)"
                            : " (bind the NIC to vfio-pci with scripts/bind-nic " + port.name + ")"));
    rte_eth_dev_info info{};
    if (const int rc = rte_eth_dev_info_get(port.id, &info); rc != 0)
      throw ConfigError(cfg_.file, key, "cannot read device information: " + errno_text(rc));
    port.driver = info.driver_name ? info.driver_name : "";
    port.socket = rte_eth_dev_socket_id(port.id);
    uint16_t queues = pc.rx_queues ? pc.rx_queues : queues_wanted;
    const bool can_rss = info.flow_type_rss_offloads != 0 && info.max_rx_queues > 1;
    if (queues > 1 && !can_rss && !pc.rx_queues) queues = 1;  // software distribution instead
    if (queues > info.max_rx_queues)
      throw ConfigError(cfg_.file, key + ".rx_queues",
                        std::to_string(queues) + " queues asked, " + port.driver + " offers " +
                            std::to_string(info.max_rx_queues));
    port.rx_queues = queues;
    rte_eth_conf conf{};
    uint8_t rss_key[128];
    if (queues > 1 && can_rss) {
      port.rss = true;
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      const uint8_t key_len = info.hash_key_size ? info.hash_key_size : 40;
      symmetric_key(rss_key, std::min<std::size_t>(key_len, sizeof rss_key));
      conf.rx_adv_conf.rss_conf.rss_key = rss_key;
      conf.rx_adv_conf.rss_conf.rss_key_len = key_len;
      conf.rx_adv_conf.rss_conf.rss_hf =
          (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
    }
    if (cfg_.dpdk.mtu) conf.rxmode.mtu = cfg_.dpdk.mtu;
    // Capture never transmits; drivers that insist get one idle TX queue.
    uint16_t txq = 0;
    int rc = rte_eth_dev_configure(port.id, queues, txq, &conf);
    if (rc != 0) {
      txq = 1;
      rc = rte_eth_dev_configure(port.id, queues, txq, &conf);
    }
    if (rc != 0)
      throw ConfigError(cfg_.file, key,
                        "cannot configure " + port.name + " (" + port.driver + "): " + errno_text(rc));
    rte_mempool* pool = pool_for(port.socket);
    for (uint16_t q = 0; q < queues; ++q) {
      uint16_t desc = pc.rx_descriptors;
      uint16_t tx_desc = 64;
      rte_eth_dev_adjust_nb_rx_tx_desc(port.id, &desc, &tx_desc);
      rc = rte_eth_rx_queue_setup(port.id, q, desc,
                                  port.socket < 0 ? SOCKET_ID_ANY : static_cast<unsigned>(port.socket),
                                  nullptr, pool);
      if (rc != 0)
        throw ConfigError(cfg_.file, key + ".rx_descriptors",
                          "RX queue " + std::to_string(q) + " set-up failed: " + errno_text(rc) +
                              (rc == -ENOMEM ? " (not enough mbufs: raise tapbeat.dpdk.mempool_size)" : ""));
    }
    for (uint16_t q = 0; q < txq; ++q) rte_eth_tx_queue_setup(port.id, q, 64, SOCKET_ID_ANY, nullptr);
    if (cfg_.dpdk.mtu && (rc = rte_eth_dev_set_mtu(port.id, static_cast<uint16_t>(cfg_.dpdk.mtu))) != 0 &&
        rc != -ENOTSUP)
      throw ConfigError(cfg_.file, "tapbeat.dpdk.mtu",
                        port.name + " refuses MTU " + std::to_string(cfg_.dpdk.mtu) + ": " + errno_text(rc));
    if ((rc = rte_eth_dev_start(port.id)) != 0)
      throw ConfigError(cfg_.file, key, "cannot start " + port.name + ": " + errno_text(rc));
    ports_started_ = true;
    if (cfg_.dpdk.promiscuous) rte_eth_promiscuous_enable(port.id);  // vdevs may not support it
    if (port.rss) {
      // Prefer the symmetric Toeplitz function where the PMD has it; the symmetric
      // key above already gives symmetry everywhere else.
      rte_flow_attr attr{};
      attr.ingress = 1;
      rte_flow_item pattern[] = {{RTE_FLOW_ITEM_TYPE_END, nullptr, nullptr, nullptr}};
      std::vector<uint16_t> qs(queues);
      for (uint16_t q = 0; q < queues; ++q) qs[q] = q;
      rte_flow_action_rss rss{};
      rss.func = RTE_ETH_HASH_FUNCTION_SYMMETRIC_TOEPLITZ;
      rss.types = conf.rx_adv_conf.rss_conf.rss_hf;
      rss.queue_num = queues;
      rss.queue = qs.data();
      rte_flow_action actions[] = {{RTE_FLOW_ACTION_TYPE_RSS, &rss}, {RTE_FLOW_ACTION_TYPE_END, nullptr}};
      rte_flow_error ferr{};
      port.symmetric_toeplitz = rte_flow_create(port.id, &attr, pattern, actions, &ferr) != nullptr;
    }
    rte_eth_link link{};
    rte_eth_link_get_nowait(port.id, &link);
    log_line("info",
             "dpdk port " + std::to_string(port.id) + " " + port.name + " (" + port.driver +
                 "): " + std::to_string(queues) + " RX queue(s), " +
                 (port.rss ? (port.symmetric_toeplitz ? "symmetric Toeplitz RSS" : "RSS with a symmetric key")
                           : "no RSS") +
                 ", link " +
                 (link.link_status ? "up " + std::to_string(link.link_speed) + " Mbit/s" : "down"));
    ports_.push_back(port);
  }
}

DpdkPortStats DpdkControl::stats(const DpdkPort& p) const {
  DpdkPortStats s;
  rte_eth_stats st{};
  if (rte_eth_stats_get(p.id, &st) != 0) return s;
  s.ipackets = st.ipackets;
  s.ibytes = st.ibytes;
  s.imissed = st.imissed;
  s.ierrors = st.ierrors;
  s.rx_nombuf = st.rx_nombuf;
  for (uint16_t q = 0; q < p.rx_queues && q < RTE_ETHDEV_QUEUE_STAT_CNTRS; ++q)
    s.q_ipackets.push_back(st.q_ipackets[q]);
  return s;
}

void DpdkControl::stop_ports() {
  if (!ports_started_) return;
  for (const auto& p : ports_) {
    rte_eth_dev_stop(p.id);
    rte_eth_dev_close(p.id);
  }
  ports_started_ = false;
}

}  // namespace tapbeat
