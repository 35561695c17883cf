// The libpcap backend: the capture thread reads frames (live or from a file),
// computes the symmetric hash and copies each frame (a mapped file's: its address)
// into the ring of the worker that owns its flow; one thread per worker runs the
// engine over its ring. A capture file read by one worker needs none of that: the
// reading thread runs the worker itself, on bursts of frames that point into the
// mapped file (no copy, no thread hop).
#include "runtime.hpp"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "af_packet_runtime.hpp"
#include "capture/dpdk/dpdk_runtime.hpp"
#include "capture/pcap_source.hpp"
#include "log.hpp"
#include "net/parse.hpp"
#include "pipeline.hpp"
#include "privileges.hpp"
#include "util/futex.hpp"
#include "util/packet_ring.hpp"
#include "version.hpp"

namespace tapbeat {
namespace {

struct WorkerSlot {
  Worker* worker = nullptr;
  std::unique_ptr<PacketRing> ring;
  std::thread thread;
  std::atomic<bool> finished{false};
  alignas(64) Sleeper sleeper;  // the worker, when its ring stays empty
  // Packets handed over since the capture thread last looked whether the worker
  // sleeps (capture thread only).
  uint32_t since_wake = 0;
};

// Packets that wait in a sleeping worker's ring before the capture thread wakes it:
// eight bursts. At a lower rate the clock ticks and the worker's own 50 ms sleep wake
// it, so a packet waits at most that long.
constexpr uint32_t kWakeAfter = 8 * Worker::kBurstSize;

// A worker's ring when it carries references into a mapped capture file (see run()).
constexpr std::size_t kFileRingBytes = std::size_t{2} << 20;

class PcapRuntime {
 public:
  PcapRuntime(const Config& cfg, const RunOptions& opts) : cfg_(cfg), opts_(opts) {}
  int run();

 private:
  void worker_loop(WorkerSlot& s);
  void capture_loop(PcapSource& src);
  bool dispatch(const PcapSource::Frame& f);
  // The frame into worker wi's ring (shared: RawPacket::shared).
  bool enqueue(const PcapSource::Frame& f, std::size_t wi, uint32_t hash, bool shared);
  void push_clock(uint64_t ts_ns);
  void run_inline();  // the one worker's pending burst, processed in this thread
  // Reading a file, a worker's ring is full: the worker is behind. The reader waits
  // for it without spinning (see the definition); `tries` counts the waits so far.
  static void wait_for_room(unsigned& tries);
  void capture_stats(JsonWriter& w) const;

  const Config& cfg_;
  RunOptions opts_;
  bool file_mode_ = false;
  std::vector<std::unique_ptr<WorkerSlot>> slots_;
  PacketMeta dispatch_meta_;
  Counters scratch_;  // the dispatcher's parse counters: not reported (workers count)
  std::atomic<bool> capture_done_{false};
  const PcapSource* source_ = nullptr;
  std::atomic<uint64_t> read_{0}, ring_full_drops_{0}, too_large_drops_{0}, shutdown_drops_{0};
  uint64_t last_tick_ns_ = 0;
  uint64_t last_packet_ns_ = 0;
  // Inline: a file read by one worker, run by the reading thread.
  Worker* inline_ = nullptr;
  bool stable_frames_ = false;  // frames stay valid (mapped file): they can wait in a burst
  RawPacket burst_[Worker::kBurstSize];
  std::size_t burst_len_ = 0;
  uint64_t last_flush_ns_ = 0;
};

void PcapRuntime::wait_for_room(unsigned& tries) {
  // A few yields first (the worker frees a burst's room at a time), then a millisecond's
  // sleep at a time: the ring holds several milliseconds of the worker's work, so it
  // does not run dry meanwhile. Yielding in a loop instead burned the reader's CPU for
  // as long as the workers were behind (with two workers and decoders on, the reader
  // spent more time waiting so than reading).
  if (++tries < 16) {
    std::this_thread::yield();
    return;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void PcapRuntime::run_inline() {
  if (burst_len_) inline_->process({burst_, burst_len_});
  burst_len_ = 0;
  const uint64_t now = mono_ns();
  if (now - last_flush_ns_ > 100'000'000) {  // bound event latency, as the worker threads do
    inline_->flush();
    last_flush_ns_ = now;
  }
}

void PcapRuntime::worker_loop(WorkerSlot& s) {
  Worker& w = *s.worker;
  PacketRing& ring = *s.ring;
  RawPacket burst[Worker::kBurstSize];
  uint64_t last_flush = mono_ns();
  unsigned idle_rounds = 0;
  for (;;) {
    PacketRing::Cursor cursor = ring.read_cursor();
    std::size_t n = 0;
    bool progressed = false;
    while (n < Worker::kBurstSize) {
      const RecordHeader* h = ring.peek(cursor);
      if (!h) break;
      ring.advance(cursor, h);
      progressed = true;
      if (h->kind == RecordKind::kClock) {
        if (n) w.process({burst, n});
        n = 0;
        w.on_clock(h->ts_ns);
        continue;
      }
      const uint8_t* data = PacketRing::payload(h);
      if (h->kind == RecordKind::kPacketRef) std::memcpy(&data, data, sizeof data);
      burst[n++] = RawPacket{
          data, h->cap_len, h->wire_len, h->ts_ns, h->hash, h->link_type, static_cast<uint8_t>(h->shared)};
    }
    if (n) w.process({burst, n});
    if (progressed) ring.release(cursor);
    const uint64_t now = mono_ns();
    if (now - last_flush > 100'000'000) {  // bound event latency when traffic is light
      w.flush();
      last_flush = now;
    }
    if (progressed) {
      idle_rounds = 0;
      continue;
    }
    if (capture_done_.load(std::memory_order_acquire) && ring.empty()) break;
    // Idle: spin briefly, then sleep until the capture thread hands over a packet or a
    // clock tick (or 50 ms pass), so an idle capture does not burn a core.
    if (++idle_rounds < 64) {
      cpu_relax();
      continue;
    }
    s.sleeper.prepare();
    if (!ring.empty() || capture_done_.load(std::memory_order_acquire)) {
      s.sleeper.cancel();
      continue;
    }
    s.sleeper.wait(50'000'000);
  }
  w.finish();
  s.finished.store(true, std::memory_order_release);
}

void PcapRuntime::push_clock(uint64_t ts_ns) {
  if (inline_) {
    run_inline();
    inline_->on_clock(ts_ns);
    return;
  }
  for (auto& s : slots_) {
    for (unsigned tries = 0;;) {
      RecordHeader* h = s->ring->reserve(0);
      if (h) {
        h->kind = RecordKind::kClock;
        h->ts_ns = ts_ns;
        s->ring->commit(h);
        s->since_wake = 0;
        s->sleeper.wake();
        break;
      }
      if (!file_mode_) break;  // a live worker that is this far behind gets the next tick
      if (g_stop.load(std::memory_order_relaxed)) break;
      wait_for_room(tries);
    }
  }
}

bool PcapRuntime::dispatch(const PcapSource::Frame& f) {
  if (inline_) {
    burst_[burst_len_++] = RawPacket{f.data, f.cap_len, f.wire_len, f.ts_ns, 0, f.link_type};
    if (!stable_frames_ || burst_len_ == Worker::kBurstSize) run_inline();
    return true;
  }
  std::size_t wi = 0;
  uint32_t hash = 0;
  const std::size_t n = slots_.size();
  if (n > 1) {
    hash = dispatch_hash(f.data, f.cap_len, f.wire_len, f.link_type, dispatch_meta_, scratch_);
    wi = worker_of(hash, n);
    if (dispatch_meta_.amsdu_subframes > 1) {
      // An 802.11 A-MSDU carries several packets, of flows that may belong to several
      // workers: each worker that owns one gets the frame and reads its own.
      std::array<uint16_t, kMaxAmsduSubframes> to;
      const std::size_t targets =
          amsdu_owners(f.data, f.cap_len, f.wire_len, f.link_type, hash, n, dispatch_meta_, scratch_, to);
      bool all = true;
      for (std::size_t t = 0; t < targets; ++t) all = enqueue(f, to[t], hash, true) && all;
      return all;
    }
  }
  return enqueue(f, wi, hash, false);
}

bool PcapRuntime::enqueue(const PcapSource::Frame& f, std::size_t wi, uint32_t hash, bool shared) {
  PacketRing& ring = *slots_[wi]->ring;
  // A mapped file's frames stay valid: the worker gets their address, not a copy.
  const uint32_t bytes = stable_frames_ ? sizeof f.data : f.cap_len;
  RecordHeader* h = ring.reserve(bytes);
  for (unsigned tries = 0; !h;) {
    if (PacketRing::record_size(bytes) > ring.capacity() / 2) {
      bump(too_large_drops_);
      return false;
    }
    if (!file_mode_) {
      bump(ring_full_drops_);
      return false;
    }
    if (g_stop.load(std::memory_order_relaxed)) {
      bump(shutdown_drops_);
      return false;
    }
    wait_for_room(tries);
    h = ring.reserve(bytes);
  }
  h->kind = stable_frames_ ? RecordKind::kPacketRef : RecordKind::kPacket;
  h->ts_ns = f.ts_ns;
  h->cap_len = f.cap_len;
  h->wire_len = f.wire_len;
  h->hash = hash;
  h->link_type = f.link_type;
  h->shared = shared;
  if (stable_frames_)
    std::memcpy(PacketRing::payload(h), &f.data, sizeof f.data);
  else
    std::memcpy(PacketRing::payload(h), f.data, f.cap_len);
  ring.commit(h);
  // A sleeping worker is woken when kWakeAfter packets wait for it (or a clock tick
  // comes, or its 50 ms sleep ends), not for each packet: a worker that keeps up with the capture
  // thread drains its ring and sleeps again, and a wake-up per packet cost a futex
  // call (the capture thread's largest cost with two workers) and a context switch.
  WorkerSlot& slot = *slots_[wi];
  if (++slot.since_wake >= kWakeAfter) {
    slot.since_wake = 0;
    slot.sleeper.wake();
  }
  return true;
}

void PcapRuntime::capture_loop(PcapSource& src) {
  // Clock ticks keep every worker's time moving even when its own flows are quiet.
  constexpr uint64_t kTickNs = 100'000'000;
  const bool pace = file_mode_ && !opts_.topspeed;
  uint64_t first_ts = 0, pace_start = 0;
  PcapSource::Frame f{};
  while (!g_stop.load(std::memory_order_relaxed)) {
    const auto r = src.next(f);
    if (r == PcapSource::Next::kEnd) break;
    if (r == PcapSource::Next::kError) {
      if (file_mode_) {
        log_line("warn", "capture file " + cfg_.interfaces.file + opts_.pcap_file +
                             " ends with an error, events up to it are kept: " + src.error());
      } else {
        log_line("error", "capture failed: " + src.error());
      }
      break;
    }
    if (r == PcapSource::Next::kTimeout) {
      if (!file_mode_) push_clock(wall_ns());
      continue;
    }
    bump(read_);
    if (pace) {
      if (first_ts == 0) {
        first_ts = f.ts_ns;
        pace_start = mono_ns();
      } else if (f.ts_ns > first_ts) {
        const uint64_t due = pace_start + (f.ts_ns - first_ts);
        while (!g_stop.load(std::memory_order_relaxed)) {
          const uint64_t now = mono_ns();
          if (now >= due) break;
          std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<uint64_t>(due - now, 50'000'000)));
        }
      }
    }
    dispatch(f);
    last_packet_ns_ = std::max(last_packet_ns_, f.ts_ns);
    const uint64_t clock = file_mode_ ? f.ts_ns : wall_ns();
    if (clock >= last_tick_ns_ + kTickNs) {
      last_tick_ns_ = clock;
      push_clock(clock);
    }
  }
}

void PcapRuntime::capture_stats(JsonWriter& w) const {
  w.field_uint("capture.read", read_.load());
  w.field_uint("capture.dropped.ring_full", ring_full_drops_.load());
  w.field_uint("capture.dropped.too_large", too_large_drops_.load());
  w.field_uint("capture.dropped.shutdown", shutdown_drops_.load());
  const PcapStats ps = source_ ? source_->stats() : PcapStats{};
  if (source_ && !source_->live()) w.field_uint("capture.filtered", ps.filtered);
  if (source_ && source_->live()) {
    w.field_uint("capture.pcap.received", ps.received);
    w.field_uint("capture.pcap.dropped", ps.dropped);
    w.field_uint("capture.pcap.if_dropped", ps.if_dropped);
    for (const auto& [dev, d] : source_->device_stats()) {  // several interfaces: each one's
      w.field_uint("capture.devices." + dev + ".received", d.received);
      w.field_uint("capture.devices." + dev + ".dropped", d.dropped);
      w.field_uint("capture.devices." + dev + ".if_dropped", d.if_dropped);
    }
  }
}

int PcapRuntime::run() {
  PcapOptions po;
  po.file = !opts_.pcap_file.empty() ? opts_.pcap_file : cfg_.interfaces.file;
  file_mode_ = !po.file.empty();
  const uint32_t n = worker_count(cfg_);

  // Each interface listed (one, or several live devices side by side).
  std::vector<PcapOptions> each;
  std::vector<const InterfaceConfig*> ifaces{&cfg_.interfaces};
  if (!file_mode_)
    for (const InterfaceConfig& i : cfg_.more_interfaces) ifaces.push_back(&i);
  for (const InterfaceConfig* i : ifaces) {
    PcapOptions o = po;
    o.device = i->device;
    o.snaplen = i->snaplen;
    o.snaplen_fits_mtu = !i->snaplen_set;
    o.buffer_size_mb = i->buffer_size_mb;
    o.promisc = i->auto_promisc_mode;
    o.ignore_outgoing = i->ignore_outgoing;
    o.bpf_filter = i->bpf_filter;
    // As in Packetbeat, the filter built from the protocol ports narrows live capture
    // only; a capture file is read whole unless bpf_filter is set.
    if (o.bpf_filter.empty() && !cfg_.flows.enabled && !file_mode_) o.bpf_filter = generated_bpf_filter(cfg_);
    each.push_back(o);
  }
  po = each.front();
  auto src = PcapSource::open_many(each);
  source_ = src.get();
  if (!link_type_supported(src->link_type()))
    log_line("warn", "link type " + std::to_string(src->link_type()) +
                         " is not decoded; its packets are counted as decode.link.unsupported");

  // The capture is open: root is no longer needed. The output opens after, as the user
  // the run goes on as (the folders it makes are that user's).
  drop_root(cfg_, !file_mode_);
  Pipeline pipeline(cfg_, n, file_mode_, file_mode_, !file_mode_);
  install_signal_handlers(cfg_.engine.shutdown_timeout_ns);
  stable_frames_ = src->stable_frames();
  for (uint32_t i = 0; i < n; ++i) pipeline.worker(i).set_stable_frames(stable_frames_);
  if (file_mode_ && n == 1) {
    inline_ = &pipeline.worker(0);
    last_flush_ns_ = mono_ns();
  }
  for (uint32_t i = 0; i < n && !inline_; ++i) {
    auto slot = std::make_unique<WorkerSlot>();
    slot->worker = &pipeline.worker(i);
    // A mapped file's packets travel as references (a 64-byte record each), and the
    // reader waits for room rather than drop: a ring of 2 MiB (32 k packets, several
    // milliseconds of a worker's work) stays warm in cache, where a larger one was
    // touched page by page for the first time all through the run (a page fault, a
    // zeroed page and a cache miss per 64 records).
    std::size_t ring_bytes = std::size_t{cfg_.engine.ring_mb} << 20;
    if (file_mode_ && stable_frames_) ring_bytes = std::min<std::size_t>(ring_bytes, kFileRingBytes);
    slot->ring = std::make_unique<PacketRing>(ring_bytes);
    slots_.push_back(std::move(slot));
  }
  pipeline.start(
      [this](JsonWriter& w) { capture_stats(w); },
      [this] { return ring_full_drops_.load() + too_large_drops_.load() + shutdown_drops_.load(); });
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    WorkerSlot* p = slots_[i].get();
    p->thread = std::thread([this, p] { worker_loop(*p); });
    char name[16];
    std::snprintf(name, sizeof name, "tb-worker-%u", static_cast<unsigned>(i % 10000));  // at most 15 chars
    pthread_setname_np(p->thread.native_handle(), name);
  }
  std::string devices;
  for (const PcapOptions& o : each) devices += (devices.empty() ? "" : ", ") + o.device;
  log_line("info", "tapbeat " + std::string(kTapbeatVersion) +
                       " started: " + (file_mode_ ? "reading " + po.file : "capturing on " + devices) +
                       " with " + std::to_string(n) + " worker(s)" +
                       (po.bpf_filter.empty() ? "" : ", filter '" + po.bpf_filter + "'") +
                       (src->snaplen() ? ", snaplen " + std::to_string(src->snaplen()) : ""));
  for (std::size_t k = 0; k < ifaces.size() && !file_mode_; ++k) {
    if (!ifaces[k]->snaplen_set) continue;
    const uint32_t mtu = device_mtu(each[k].device);
    if (mtu && each[k].snaplen < mtu + 14)
      log_line("warn", "interfaces.snaplen " + std::to_string(each[k].snaplen) + " is shorter than " +
                           each[k].device + "'s largest frame (MTU " + std::to_string(mtu) +
                           "): longer packets are cut and counted as packets.snaplen_truncated");
  }

  capture_loop(*src);
  const bool interrupted = g_stop.load();
  // A last tick gives every worker the same final clock (the last packet's time for a
  // file, now when live): flows that timed out expire, the rest report at that time.
  if (!interrupted || !file_mode_) push_clock(file_mode_ ? last_packet_ns_ : wall_ns());
  if (inline_) {
    run_inline();
    inline_->finish();
  }
  capture_done_.store(true, std::memory_order_release);
  for (auto& s : slots_) s->sleeper.wake();
  for (auto& s : slots_) join_worker(*s->worker, s->finished, s->thread);
  return pipeline.finish();
}

}  // namespace

void check_run_config(const Config& cfg) {
  require_output(cfg);
  const auto decoders = DecoderSet::from_config(cfg, [](const std::string& m) { log_line("warn", m); });
  check_flow_memory(cfg, worker_count(cfg), decoders->plan().any_tcp());
  std::vector<const InterfaceConfig*> ifaces{&cfg.interfaces};
  for (const InterfaceConfig& i : cfg.more_interfaces) ifaces.push_back(&i);
  for (std::size_t k = 0; k < ifaces.size(); ++k) {
    const std::string& f = ifaces[k]->bpf_filter;
    if (f.empty()) continue;
    if (const std::string why = bpf_filter_error(f); !why.empty())
      throw ConfigError(
          cfg.file,
          "tapbeat.interfaces" + (ifaces.size() > 1 ? "[" + std::to_string(k) + "]" : "") + ".bpf_filter",
          "libpcap refuses '" + f + "': " + why);
  }
  make_sink(cfg, SinkOpen::kCheckOnly);
}

int run(const Config& cfg, const RunOptions& opts) {
  const bool file = !opts.pcap_file.empty() || !cfg.interfaces.file.empty();
  if (cfg.interfaces.type == "dpdk" && !file) return run_dpdk(cfg);
  if (cfg.interfaces.type == "af_packet" && !file) {
    if (cfg.interfaces.device != "any") return run_af_packet(cfg);
    // A packet socket bound to every device sees each one's own framing; libpcap
    // turns them into one (Linux cooked) link type.
    log_line("warn",
             "interfaces.type af_packet captures one device at a time; `any` is captured with libpcap "
             "(fanout_group and metrics_interval do not apply to it)");
  }
  PcapRuntime rt(cfg, opts);
  return rt.run();
}

}  // namespace tapbeat
