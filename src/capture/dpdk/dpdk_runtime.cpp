// DPDK data plane: one worker per worker lcore, run to completion (STYLE.md §2).
// Each worker polls its RX queue on every RSS port and, where a port has a single
// queue, a ring fed by the distributor on the main lcore, which spreads packets by
// the same symmetric hash the libpcap capture thread uses. Mbufs are freed in bulk
// after the burst; nothing is allocated or locked per packet. Packet times are the
// clock at receive, read once per burst (NIC timestamps are in the NIC's clock, and
// the pcap PMD of DPDK 22.11 offers no timestamp offload).
#include "capture/dpdk/dpdk_runtime.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>
#include <rte_version.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "capture/dpdk/dpdk_port.hpp"
#include "log.hpp"
#include "net/parse.hpp"
#include "pipeline.hpp"
#include "version.hpp"

namespace tapbeat {
namespace {

constexpr unsigned kMaxBurst = 32;
// Ring between the distributor and each worker (mbuf pointers).
constexpr unsigned kDistributorRing = 8192;
// Idle backoff: polls that find nothing before pausing, then sleeping.
constexpr unsigned kIdleSpins = 256;
constexpr uint64_t kHousekeepingNs = 100'000'000;

// What the distributor writes in an mbuf for the worker it hands it to (a dynfield):
// the packet's time, and whether the frame went to several workers (RawPacket::shared).
struct DistMark {
  uint64_t ts_ns;
  uint32_t shared;
};

struct QueueRef {
  const DpdkPort* port;
  uint16_t queue;
};

struct alignas(64) LcoreWork {
  Worker* worker = nullptr;
  unsigned lcore = 0;
  std::vector<QueueRef> queues;
  rte_ring* ring = nullptr;  // from the distributor, when a port has one queue
  std::atomic<bool>* stop = nullptr;
  int time_field = -1;  // our dynfield (DistMark) carrying the packet time across the ring
  uint16_t burst = kMaxBurst;
  bool backoff = false;
  // Frames that arrive in chained mbufs are copied here whole, so decoders see one
  // contiguous frame as they do under libpcap.
  std::vector<uint8_t> linear;
};

constexpr std::size_t kMaxFrame = 65536;

// Fills pkts from mbufs; chained mbufs are linearised into the worker's buffer.
inline void describe(LcoreWork& w, rte_mbuf** mbufs, unsigned n, RawPacket* pkts, uint64_t now, bool dist) {
  for (unsigned i = 0; i < n; ++i) {
    rte_mbuf* m = mbufs[i];
    const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
    uint32_t cap = m->data_len;
    if (m->nb_segs > 1) {
      cap = std::min<uint32_t>(m->pkt_len, kMaxFrame);
      data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, cap, w.linear.data() + i * kMaxFrame));
    }
    const DistMark* mark = dist ? RTE_MBUF_DYNFIELD(m, w.time_field, const DistMark*) : nullptr;
    const uint32_t hash = dist || (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) ? m->hash.rss : 0;
    pkts[i] = RawPacket{data,
                        cap,
                        m->pkt_len,
                        mark ? mark->ts_ns : now,
                        hash,
                        link_type::kEthernet,
                        static_cast<uint8_t>(mark && mark->shared)};
  }
}

// Hands one burst of mbufs to the engine and frees them in bulk.
inline void handle(LcoreWork& w, rte_mbuf** mbufs, unsigned n, bool dist) {
  RawPacket pkts[kMaxBurst];
  describe(w, mbufs, n, pkts, wall_ns(), dist);  // one clock read per burst
  w.worker->process({pkts, n});
  rte_pktmbuf_free_bulk(mbufs, n);
}

int worker_main(void* arg) {
  LcoreWork& w = *static_cast<LcoreWork*>(arg);
  rte_mbuf* mbufs[kMaxBurst];
  unsigned idle = 0;
  uint64_t next_housekeeping = wall_ns() + kHousekeepingNs;
  while (!w.stop->load(std::memory_order_relaxed)) {
    unsigned got = 0;
    for (const QueueRef& q : w.queues) {
      const uint16_t n = rte_eth_rx_burst(q.port->id, q.queue, mbufs, w.burst);
      if (n) handle(w, mbufs, n, false);
      got += n;
    }
    if (w.ring) {
      // The distributor stamped each mbuf with its receive time and flow hash.
      const unsigned n = rte_ring_sc_dequeue_burst(w.ring, reinterpret_cast<void**>(mbufs), w.burst, nullptr);
      if (n) handle(w, mbufs, n, true);
      got += n;
    }
    if (got) {
      idle = 0;
      continue;
    }
    const uint64_t now = wall_ns();
    if (now >= next_housekeeping) {
      // The clock moves even when this queue is quiet: idle flows expire.
      w.worker->on_clock(now);
      w.worker->flush();
      next_housekeeping = now + kHousekeepingNs;
    }
    if (w.backoff && ++idle > kIdleSpins) {
      if (idle < 2 * kIdleSpins)
        rte_pause();
      else
        rte_delay_us_sleep(50);
    }
  }
  // The distributor has stopped before us: what it queued is still ours to process.
  while (w.ring) {
    const unsigned n = rte_ring_sc_dequeue_burst(w.ring, reinterpret_cast<void**>(mbufs), w.burst, nullptr);
    if (!n) break;
    handle(w, mbufs, n, true);
  }
  return 0;
}

class DpdkRuntime {
 public:
  explicit DpdkRuntime(const Config& cfg) : cfg_(cfg) {}
  int run();

 private:
  void distribute(unsigned& idle);
  void port_stats(JsonWriter& w) const;
  uint64_t packets_seen() const;

  const Config& cfg_;
  std::unique_ptr<DpdkControl> ctl_;
  std::unique_ptr<Pipeline> pipeline_;
  std::vector<std::unique_ptr<LcoreWork>> work_;
  std::vector<const DpdkPort*> distributed_;  // ports polled by the distributor
  std::atomic<bool> stop_{false};
  PacketMeta meta_;  // the distributor's parse of a frame quick_symmetric_hash leaves
  Counters scratch_;
  std::vector<uint8_t> linear_ = std::vector<uint8_t>(kMaxFrame);  // a chained A-MSDU, whole
  int time_field_ = -1;
  std::atomic<uint64_t> dist_packets_{0}, dist_dropped_{0};
};

void DpdkRuntime::distribute(unsigned& idle) {
  rte_mbuf* mbufs[kMaxBurst];
  const std::size_t n_workers = work_.size();
  unsigned got = 0;
  for (const DpdkPort* port : distributed_) {
    const uint16_t n = rte_eth_rx_burst(port->id, 0, mbufs, cfg_.dpdk.burst_size);
    got += n;
    if (!n) continue;
    rte_mbuf* per_worker[64][kMaxBurst];
    unsigned counts[64] = {};
    const uint64_t now = wall_ns();
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = mbufs[i];
      const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
      uint32_t len = m->data_len;
      uint32_t h = dispatch_hash(frame, len, m->pkt_len, link_type::kEthernet, meta_, scratch_);
      if (n_workers > 1 && meta_.amsdu_subframes && m->nb_segs > 1) {
        // An 802.11 A-MSDU in chained mbufs: its packets whole, as the worker reads them
        // (describe), so that the owners of those past the first segment are found too.
        len = std::min<uint32_t>(m->pkt_len, kMaxFrame);
        frame = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, len, linear_.data()));
        h = dispatch_hash(frame, len, m->pkt_len, link_type::kEthernet, meta_, scratch_);
      }
      const std::size_t wi = worker_of(h, n_workers);
      m->hash.rss = h;
      DistMark* mark = RTE_MBUF_DYNFIELD(m, time_field_, DistMark*);
      mark->ts_ns = now;
      mark->shared = 0;
      if (n_workers > 1 && meta_.amsdu_subframes > 1) {
        // An 802.11 A-MSDU's packets may be several workers' (as PcapRuntime::dispatch):
        // each owner gets the mbuf, one reference each.
        std::array<uint16_t, kMaxAmsduSubframes> to;
        const std::size_t owners =
            amsdu_owners(frame, len, m->pkt_len, link_type::kEthernet, h, n_workers, meta_, scratch_, to);
        mark->shared = 1;
        rte_mbuf_refcnt_update(m, static_cast<int16_t>(owners - 1));
        for (std::size_t t = 0; t < owners; ++t) per_worker[to[t]][counts[to[t]]++] = m;
        continue;
      }
      per_worker[wi][counts[wi]++] = m;
    }
    for (std::size_t wi = 0; wi < n_workers; ++wi) {
      if (!counts[wi]) continue;
      const unsigned sent = rte_ring_sp_enqueue_burst(
          work_[wi]->ring, reinterpret_cast<void**>(per_worker[wi]), counts[wi], nullptr);
      if (sent < counts[wi]) {
        rte_pktmbuf_free_bulk(per_worker[wi] + sent, counts[wi] - sent);
        bump(dist_dropped_, counts[wi] - sent);
      }
    }
    bump(dist_packets_, n);
  }
  if (got)
    idle = 0;
  else if (++idle > kIdleSpins)
    rte_delay_us_sleep(50);
}

uint64_t DpdkRuntime::packets_seen() const {
  uint64_t n = dist_packets_.load();
  for (const auto& w : work_) n += w->worker->counters().get(Counter::packets);
  return n;
}

void DpdkRuntime::port_stats(JsonWriter& w) const {
  for (const DpdkPort& p : ctl_->ports()) {
    const DpdkPortStats s = ctl_->stats(p);
    const std::string k = "dpdk.port" + std::to_string(p.id) + ".";
    w.field_uint(k + "ipackets", s.ipackets);
    w.field_uint(k + "ibytes", s.ibytes);
    w.field_uint(k + "imissed", s.imissed);
    w.field_uint(k + "ierrors", s.ierrors);
    w.field_uint(k + "rx_nombuf", s.rx_nombuf);
    for (std::size_t q = 0; q < s.q_ipackets.size(); ++q)
      w.field_uint(k + "q" + std::to_string(q) + ".ipackets", s.q_ipackets[q]);
  }
  w.field_uint("dpdk.distributor.packets", dist_packets_.load());
  w.field_uint("dpdk.distributor.dropped", dist_dropped_.load());
}

int DpdkRuntime::run() {
  ctl_ = std::make_unique<DpdkControl>(cfg_);
  const unsigned lcores = ctl_->worker_lcores();
  if (lcores == 0)
    throw ConfigError(
        cfg_.file, "tapbeat.dpdk.lcores",
        "needs at least two lcores: the main one for control and one per worker (e.g. lcores: 0-2)");
  const uint32_t n = cfg_.engine.workers ? std::min<uint32_t>(cfg_.engine.workers, lcores) : lcores;
  if (cfg_.engine.workers > lcores)
    log_line("warn", "tapbeat.workers is " + std::to_string(cfg_.engine.workers) + " but only " +
                         std::to_string(lcores) + " worker lcores are available; using " + std::to_string(n));
  if (n > 64) throw ConfigError(cfg_.file, "tapbeat.workers", "at most 64 DPDK workers");
  pipeline_ = std::make_unique<Pipeline>(cfg_, n, false, false, true);
  ctl_->setup_ports(static_cast<uint16_t>(n));

  unsigned lcore = rte_get_next_lcore(-1, 1, 0);
  for (uint32_t i = 0; i < n; ++i, lcore = rte_get_next_lcore(lcore, 1, 0)) {
    auto w = std::make_unique<LcoreWork>();
    w->worker = &pipeline_->worker(i);
    w->lcore = lcore;
    w->stop = &stop_;
    w->linear.resize(kMaxBurst * kMaxFrame);
    w->burst = cfg_.dpdk.burst_size;
    w->backoff = cfg_.dpdk.idle_backoff;
    work_.push_back(std::move(w));
  }
  for (const DpdkPort& p : ctl_->ports()) {
    if (p.rx_queues == n) {
      for (uint16_t q = 0; q < n; ++q) work_[q]->queues.push_back(QueueRef{&p, q});
    } else if (p.rx_queues == 1) {
      distributed_.push_back(&p);
    } else {
      throw ConfigError(cfg_.file, "tapbeat.dpdk.ports",
                        p.name + " has " + std::to_string(p.rx_queues) +
                            " RX queues; use 1 or one per worker (" + std::to_string(n) + ")");
    }
  }
  if (!distributed_.empty()) {
    static const rte_mbuf_dynfield kTimeField = {"tapbeat_packet_time", sizeof(DistMark), alignof(DistMark),
                                                 0};
    time_field_ = rte_mbuf_dynfield_register(&kTimeField);
    if (time_field_ < 0) throw std::runtime_error("cannot register the mbuf field for packet times");
    for (uint32_t i = 0; i < n; ++i) {
      work_[i]->time_field = time_field_;
      const std::string name = "tb_dist" + std::to_string(i);
      work_[i]->ring =
          rte_ring_create(name.c_str(), kDistributorRing, rte_lcore_to_socket_id(work_[i]->lcore),
                          RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (!work_[i]->ring) throw std::runtime_error("cannot create the distributor ring " + name);
    }
  }

  install_signal_handlers(cfg_.engine.shutdown_timeout_ns);
  pipeline_->start([this](JsonWriter& w) { port_stats(w); }, [this] { return dist_dropped_.load(); });
  for (auto& w : work_) rte_eal_remote_launch(worker_main, w.get(), w->lcore);
  log_line("info", "tapbeat " + std::string(kTapbeatVersion) + " started: DPDK capture on " +
                       std::to_string(ctl_->ports().size()) + " port(s) with " + std::to_string(n) +
                       " worker lcore(s)" +
                       (distributed_.empty() ? "" : ", software distribution on the main lcore"));

  // Main lcore: distribution where needed, stop requests, and the idle exit for replays.
  unsigned idle = 0;
  uint64_t last_seen = 0, last_change = mono_ns();
  while (!g_stop.load(std::memory_order_relaxed)) {
    if (!distributed_.empty())
      distribute(idle);
    else
      rte_delay_us_sleep(1000);
    if (cfg_.dpdk.exit_on_idle_ns) {
      const uint64_t seen = packets_seen(), now = mono_ns();
      if (seen != last_seen) {
        last_seen = seen;
        last_change = now;
      } else if (seen > 0 && now - last_change > cfg_.dpdk.exit_on_idle_ns) {
        log_line("info",
                 "no packets for " + std::to_string(cfg_.dpdk.exit_on_idle_ns / 1'000'000) + " ms: stopping");
        break;
      }
    }
  }
  stop_.store(true, std::memory_order_relaxed);
  rte_eal_mp_wait_lcore();
  // Drain what the distributor had queued, then give every worker the same final clock.
  const uint64_t final_ns = wall_ns();
  for (auto& w : work_) {
    if (w->ring) {
      void* m = nullptr;
      uint64_t dropped = 0;
      while (rte_ring_sc_dequeue(w->ring, &m) == 0) {
        rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        ++dropped;
      }
      bump(dist_dropped_, dropped);
    }
  }
  for (auto& w : work_) {
    w->worker->on_clock(final_ns);
    w->worker->finish();
  }
  const int rc = pipeline_->finish();
  for (auto& w : work_)
    if (w->ring) rte_ring_free(w->ring);
  ctl_.reset();
  return rc;
}

}  // namespace

}  // namespace tapbeat

// The module's entry points (src/capture/dpdk/dpdk_loader.cpp calls them).
extern "C" {
extern const char tapbeat_plugin_version[];
const char tapbeat_plugin_version[] = TAPBEAT_VERSION;
int tapbeat_dpdk_run(const tapbeat::Config& cfg) {
  tapbeat::DpdkRuntime rt(cfg);
  return rt.run();
}
const char* tapbeat_dpdk_version() { return rte_version(); }
}
