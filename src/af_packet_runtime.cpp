// The af_packet backend: each worker owns one TPACKET_V3 socket per device and runs
// the engine over the kernel's blocks in place; the sockets of a device form one
// PACKET_FANOUT group, so the kernel's symmetric flow hash picks the worker. There
// is no capture thread. A worker with nothing to read sleeps in poll() on its sockets
// (woken by the kernel when a block is handed over, or after one clock tick).
#include "af_packet_runtime.hpp"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "capture/af_packet.hpp"
#include "capture/pcap_source.hpp"
#include "log.hpp"
#include "pipeline.hpp"
#include "privileges.hpp"
#include "version.hpp"

namespace tapbeat {
namespace {

constexpr uint64_t kTickNs = 100'000'000;
// Blocks one socket may hand over before the worker looks at its others.
constexpr unsigned kBlocksPerTurn = 8;

struct Slot {
  Worker* worker = nullptr;
  std::vector<std::unique_ptr<AfPacketRing>> rings;  // one per device
  std::thread thread;
  std::atomic<bool> finished{false};
  // A frame whose VLAN tag the kernel took off (offload) is rebuilt here with it.
  std::vector<uint8_t> tagged;
};

class AfPacketRuntime {
 public:
  explicit AfPacketRuntime(const Config& cfg) : cfg_(cfg) {}
  int run();

 private:
  void worker_loop(Slot& s);
  void capture_stats(JsonWriter& w) const;
  uint64_t capture_drops() const;

  const Config& cfg_;
  std::vector<const InterfaceConfig*> ifaces_;
  std::vector<std::string> devices_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

void AfPacketRuntime::worker_loop(Slot& s) {
  Worker& w = *s.worker;
  RawPacket burst[Worker::kBurstSize];
  std::size_t n = 0;
  std::vector<pollfd> fds;
  for (const auto& r : s.rings) fds.push_back({r->fd(), POLLIN, 0});
  uint64_t last_tick = 0;
  uint64_t last_flush = mono_ns();
  uint64_t last_metrics = last_flush;
  const uint64_t metrics_every = cfg_.interfaces.metrics_interval_ns;
  // Reads every block the kernel has handed over (up to kBlocksPerTurn per socket);
  // true when there was one.
  auto read_blocks = [&] {
    bool progressed = false;
    for (const auto& ring : s.rings) {
      const uint16_t link = ring->link_type();
      for (unsigned b = 0; b < kBlocksPerTurn; ++b) {
        const tpacket_block_desc* blk = ring->ready_block();
        if (!blk) break;
        ring->for_each_frame(blk, [&](const AfPacketRing::Frame& f) {
          if (f.vlan_valid && link == 1 && f.cap_len >= 12) {
            // Put the tag back where it was on the wire, as libpcap does.
            if (n) w.process({burst, n});
            n = 0;
            uint8_t* t = s.tagged.data();
            std::memcpy(t, f.data, 12);
            t[12] = static_cast<uint8_t>(f.vlan_tpid >> 8);
            t[13] = static_cast<uint8_t>(f.vlan_tpid);
            t[14] = static_cast<uint8_t>(f.vlan_tci >> 8);
            t[15] = static_cast<uint8_t>(f.vlan_tci);
            std::memcpy(t + 16, f.data + 12, f.cap_len - 12);
            const RawPacket one{t, f.cap_len + 4, f.wire_len + 4, f.ts_ns, 0, link};
            w.process({&one, 1});
            return;
          }
          burst[n++] = RawPacket{f.data, f.cap_len, f.wire_len, f.ts_ns, 0, link};
          if (n == Worker::kBurstSize) {
            w.process({burst, n});
            n = 0;
          }
        });
        if (n) w.process({burst, n});  // the frames point into the block: done before it goes back
        n = 0;
        ring->release_block();
        progressed = true;
      }
    }
    return progressed;
  };
  while (!g_stop.load(std::memory_order_relaxed)) {
    const bool progressed = read_blocks();
    const uint64_t wall = wall_ns();
    if (wall >= last_tick + kTickNs) {  // every worker's clock moves, even with quiet flows
      w.on_clock(wall);
      last_tick = wall;
    }
    const uint64_t now = mono_ns();
    if (now - last_flush > 100'000'000) {  // bound event latency when traffic is light
      w.flush();
      last_flush = now;
    }
    if (now - last_metrics >= metrics_every) {  // the kernel's counters are 32 bits wide
      for (const auto& r : s.rings) r->stats();
      last_metrics = now;
    }
    if (!progressed) ::poll(fds.data(), fds.size(), static_cast<int>(kTickNs / 1'000'000));
  }
  // Stopping: the sockets take nothing more, and what the kernel counted as received
  // is read to the end (the block being filled is handed over within its timeout).
  for (const auto& r : s.rings) r->stop_intake();
  const uint64_t quiet_ns = uint64_t{s.rings.front()->block_timeout_ms()} * 3'000'000;
  for (uint64_t last = mono_ns(); mono_ns() - last < quiet_ns && mono_ns() < stop_deadline_ns();) {
    if (read_blocks())
      last = mono_ns();
    else
      ::poll(fds.data(), fds.size(), 1);
  }
  // The same final clock as the other backends: flows that timed out expire, the rest
  // report now.
  w.on_clock(wall_ns());
  w.finish();
  s.finished.store(true, std::memory_order_release);
}

void AfPacketRuntime::capture_stats(JsonWriter& w) const {
  std::map<std::string, AfPacketStats> by_device;
  AfPacketStats total;
  uint64_t outgoing = 0;
  for (const auto& s : slots_) {
    for (const auto& r : s->rings) {
      const AfPacketStats st = r->stats();
      AfPacketStats& d = by_device[r->device()];
      d.received += st.received;
      d.dropped += st.dropped;
      d.queue_freezes += st.queue_freezes;
      total.received += st.received;
      total.dropped += st.dropped;
      total.queue_freezes += st.queue_freezes;
      outgoing += r->skipped_outgoing();
    }
  }
  w.field_uint("capture.af_packet.received", total.received);
  w.field_uint("capture.af_packet.dropped", total.dropped);
  w.field_uint("capture.af_packet.queue_freezes", total.queue_freezes);
  w.field_uint("capture.af_packet.outgoing_skipped", outgoing);
  if (by_device.size() > 1) {
    for (const auto& [dev, d] : by_device) {
      w.field_uint("capture.devices." + dev + ".received", d.received);
      w.field_uint("capture.devices." + dev + ".dropped", d.dropped);
      w.field_uint("capture.devices." + dev + ".queue_freezes", d.queue_freezes);
    }
  }
}

uint64_t AfPacketRuntime::capture_drops() const {
  uint64_t d = 0;
  for (const auto& s : slots_)
    for (const auto& r : s->rings) d += r->stats().dropped;
  return d;
}

int AfPacketRuntime::run() {
  const uint32_t n = worker_count(cfg_);
  ifaces_.push_back(&cfg_.interfaces);
  for (const InterfaceConfig& i : cfg_.more_interfaces) ifaces_.push_back(&i);

  // Every socket of every worker, opened before any takes a frame.
  std::vector<AfPacketOptions> opts;
  for (std::size_t k = 0; k < ifaces_.size(); ++k) {
    const InterfaceConfig& i = *ifaces_[k];
    AfPacketOptions o;
    o.device = resolve_device(i.device);
    o.snaplen = i.snaplen;
    if (!i.snaplen_set) o.snaplen = snaplen_fitting_mtu(o.device, o.snaplen);
    o.ring_bytes = (std::size_t{i.buffer_size_mb} << 20) / n;  // buffer_size_mb is the device's total
    o.bpf_filter = i.bpf_filter;
    if (o.bpf_filter.empty() && !cfg_.flows.enabled) o.bpf_filter = generated_bpf_filter(cfg_);
    o.promisc = i.auto_promisc_mode;
    o.ignore_outgoing = i.ignore_outgoing;
    // A group of this process's own when several workers share the device; a group
    // named in the config is joined even by one worker (other processes share it).
    if (i.fanout_group >= 0)
      o.fanout_group = i.fanout_group;
    else if (n > 1)
      o.fanout_group = static_cast<int>((static_cast<uint32_t>(::getpid()) + k) & 0xffff);
    opts.push_back(o);
    devices_.push_back(o.device);
  }
  for (uint32_t wi = 0; wi < n; ++wi) {
    auto slot = std::make_unique<Slot>();
    for (const AfPacketOptions& o : opts) slot->rings.push_back(std::make_unique<AfPacketRing>(o));
    slot->tagged.resize(std::size_t{262144} + 4);
    slots_.push_back(std::move(slot));
  }

  drop_root(cfg_, true);
  Pipeline pipeline(cfg_, n, false, false, true);
  install_signal_handlers(cfg_.engine.shutdown_timeout_ns);
  for (uint32_t wi = 0; wi < n; ++wi) slots_[wi]->worker = &pipeline.worker(wi);
  pipeline.start([this](JsonWriter& w) { capture_stats(w); }, [this] { return capture_drops(); });
  for (auto& s : slots_)
    for (auto& r : s->rings) r->start();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot* p = slots_[i].get();
    p->thread = std::thread([this, p] { worker_loop(*p); });
    char name[16];
    std::snprintf(name, sizeof name, "tb-worker-%u", static_cast<unsigned>(i % 10000));
    pthread_setname_np(p->thread.native_handle(), name);
  }
  std::string devices;
  for (std::size_t k = 0; k < opts.size(); ++k)
    devices +=
        (k ? ", " : "") + opts[k].device +
        (opts[k].fanout_group >= 0 ? " (fanout group " + std::to_string(opts[k].fanout_group) + ")" : "");
  const AfPacketRing& first = *slots_.front()->rings.front();
  log_line("info", "tapbeat " + std::string(kTapbeatVersion) + " started: capturing on " + devices +
                       " with af_packet (TPACKET_V3, " + std::to_string(first.ring_bytes() >> 10) +
                       " KiB ring per worker) and " + std::to_string(n) + " worker(s)" +
                       (opts.front().bpf_filter.empty() ? "" : ", filter '" + opts.front().bpf_filter + "'") +
                       ", snaplen " + std::to_string(first.snaplen()));

  while (!g_stop.load(std::memory_order_relaxed)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& s : slots_) join_worker(*s->worker, s->finished, s->thread);
  return pipeline.finish();
}

}  // namespace

int run_af_packet(const Config& cfg) {
  AfPacketRuntime rt(cfg);
  return rt.run();
}

}  // namespace tapbeat
