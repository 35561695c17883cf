#include "runtime.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <openssl/evp.h>

#include "capture/pcap_source.hpp"
#include "engine/worker.hpp"
#include "event/json_writer.hpp"
#include "log.hpp"
#include "net/parse.hpp"
#include "output/sink.hpp"
#include "util/packet_ring.hpp"
#include "version.hpp"

namespace tapbeat {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
  g_signal.store(sig, std::memory_order_relaxed);
  g_stop.store(true, std::memory_order_relaxed);
}

uint64_t mono_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}
uint64_t wall_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string uuid_text(const uint8_t b[16]) {
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

AgentInfo make_agent(const Config& cfg) {
  AgentInfo a;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  a.hostname = host;
  a.name = cfg.name.empty() ? a.hostname : cfg.name;
  a.version = kTapbeatVersion;
  // agent.id: a name-based UUID (RFC 4122 §4.3, SHA-1) of the host, stable across runs.
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned dlen = 0;
  const std::string seed = "tapbeat/" + a.hostname;
  EVP_Digest(seed.data(), seed.size(), digest, &dlen, EVP_sha1(), nullptr);
  digest[6] = static_cast<uint8_t>((digest[6] & 0x0F) | 0x50);
  digest[8] = static_cast<uint8_t>((digest[8] & 0x3F) | 0x80);
  a.id = uuid_text(digest);
  std::random_device rd;
  uint8_t r[16];
  for (auto& x : r) x = static_cast<uint8_t>(rd());
  r[6] = static_cast<uint8_t>((r[6] & 0x0F) | 0x40);
  r[8] = static_cast<uint8_t>((r[8] & 0x3F) | 0x80);
  a.ephemeral_id = uuid_text(r);
  return a;
}

// Counters of the capture thread and the output thread (one writer each).
struct ControlCounters {
  std::atomic<uint64_t> read{0};
  std::atomic<uint64_t> ring_full_drops{0};
  std::atomic<uint64_t> too_large_drops{0};
  std::atomic<uint64_t> shutdown_drops{0};
  std::atomic<uint64_t> unsupported_link{0};
  std::atomic<uint64_t> events_written{0};
  std::atomic<uint64_t> events_failed{0};
  std::atomic<uint64_t> write_errors{0};
};

void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct WorkerSlot {
  std::unique_ptr<Worker> worker;
  std::unique_ptr<PacketRing> ring;
  std::thread thread;
  std::atomic<bool> finished{false};
};

class Runtime {
 public:
  Runtime(const Config& cfg, const RunOptions& opts) : cfg_(cfg), opts_(opts) {}
  int run();

 private:
  void start_workers(uint32_t n);
  void worker_loop(WorkerSlot& s);
  void output_loop();
  void monitor_loop();
  void capture_loop(PcapSource& src);
  bool dispatch(const PcapSource::Frame& f);
  void push_clock(uint64_t ts_ns);
  std::string stats_json(const PcapSource* src) const;
  void progress_line(uint64_t elapsed_ns, bool final);

  const Config& cfg_;
  RunOptions opts_;
  AgentInfo agent_;
  bool file_mode_ = false;
  std::vector<std::unique_ptr<WorkerSlot>> workers_;
  std::unique_ptr<Sink> sink_;
  ControlCounters ctl_;
  Counters scratch_;  // the dispatcher's parse counters: not reported (workers count)
  std::atomic<bool> capture_done_{false};
  std::atomic<bool> workers_done_{false};
  std::atomic<bool> output_done_{false};
  std::atomic<bool> monitor_stop_{false};
  const PcapSource* source_ = nullptr;
  uint64_t last_tick_ns_ = 0;
  uint64_t last_packet_ns_ = 0;
  uint64_t start_mono_ns_ = 0;
};

void Runtime::start_workers(uint32_t n) {
  const uint32_t per_worker = std::max<uint32_t>(cfg_.engine.max_flows / n, 16);
  for (uint32_t i = 0; i < n; ++i) {
    auto slot = std::make_unique<WorkerSlot>();
    WorkerSettings ws;
    ws.id = i;
    ws.flow_capacity = per_worker;
    ws.flows_enabled = cfg_.flows.enabled;
    ws.flow_timeout_ns = cfg_.flows.timeout_ns;
    ws.flow_period_ns = cfg_.flows.period_ns;
    ws.delta_reports = cfg_.flows.enable_delta_flow_reports;
    ws.frag = FragLimits{cfg_.engine.frag_max_sets, cfg_.engine.frag_max_bytes, cfg_.engine.frag_timeout_ns};
    ws.event_chunks = cfg_.engine.event_chunks;
    ws.event_chunk_bytes = cfg_.engine.event_chunk_kb * 1024;
    ws.block_on_output_full = file_mode_;
    ws.agent = &agent_;
    slot->worker = std::make_unique<Worker>(ws);
    slot->ring = std::make_unique<PacketRing>(std::size_t{cfg_.engine.ring_mb} << 20);
    workers_.push_back(std::move(slot));
  }
  for (auto& s : workers_) {
    WorkerSlot* p = s.get();
    s->thread = std::thread([this, p] { worker_loop(*p); });
    char name[16];
    std::snprintf(name, sizeof name, "tb-worker-%u", static_cast<unsigned>(&s - &workers_[0]));
    pthread_setname_np(s->thread.native_handle(), name);
  }
}

void Runtime::worker_loop(WorkerSlot& s) {
  Worker& w = *s.worker;
  PacketRing& ring = *s.ring;
  RawPacket burst[Worker::kBurstSize];
  uint64_t last_flush = mono_ns();
  unsigned idle_rounds = 0;
  for (;;) {
    uint64_t cursor = ring.read_cursor();
    std::size_t n = 0;
    bool progressed = false;
    while (n < Worker::kBurstSize) {
      const RecordHeader* h = ring.peek(cursor);
      if (!h) break;
      cursor += h->record_bytes;
      progressed = true;
      if (h->kind == RecordKind::kClock) {
        if (n) w.process({burst, n});
        n = 0;
        w.on_clock(h->ts_ns);
        continue;
      }
      burst[n++] = RawPacket{PacketRing::payload(h), h->cap_len, h->wire_len, h->ts_ns, h->hash, h->link_type};
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
    // Idle: spin briefly, then sleep so an idle capture does not burn a core.
    if (++idle_rounds < 64) {
      cpu_relax();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  w.finish();
  s.finished.store(true, std::memory_order_release);
}

void Runtime::output_loop() {
  for (;;) {
    bool any = false;
    for (auto& s : workers_) {
      EventQueue& q = s->worker->events();
      while (EventChunk* c = q.take_full()) {
        any = true;
        if (sink_->write(std::string_view(c->data, c->len))) {
          bump(ctl_.events_written, c->events);
        } else {
          if (ctl_.write_errors.load() == 0) log_line("error", "output write failed: " + sink_->error());
          bump(ctl_.write_errors);
          bump(ctl_.events_failed, c->events);
        }
        q.recycle(c);
      }
    }
    if (any) continue;
    if (workers_done_.load(std::memory_order_acquire)) {
      bool idle = true;
      for (auto& s : workers_) idle = idle && s->worker->events().idle();
      if (idle) break;
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  sink_->flush();
  output_done_.store(true, std::memory_order_release);
}

void Runtime::push_clock(uint64_t ts_ns) {
  for (auto& s : workers_) {
    for (;;) {
      RecordHeader* h = s->ring->reserve(0);
      if (h) {
        h->kind = RecordKind::kClock;
        h->ts_ns = ts_ns;
        s->ring->commit(h);
        break;
      }
      if (!file_mode_) break;  // a live worker that is this far behind gets the next tick
      if (g_stop.load(std::memory_order_relaxed)) break;
      std::this_thread::yield();
    }
  }
}

bool Runtime::dispatch(const PcapSource::Frame& f) {
  std::size_t wi = 0;
  uint32_t hash = 0;
  const std::size_t n = workers_.size();
  if (n > 1) {
    PacketMeta m;
    m.cap_len = f.cap_len;
    m.wire_len = f.wire_len;
    const ParseStatus st = parse_frame(f.data, f.cap_len, f.link_type, m, scratch_);
    if (st == ParseStatus::kOk || st == ParseStatus::kFragment) hash = symmetric_hash(m);
    wi = static_cast<std::size_t>((uint64_t{hash} * n) >> 32);
  }
  PacketRing& ring = *workers_[wi]->ring;
  RecordHeader* h = ring.reserve(f.cap_len);
  while (!h) {
    if (PacketRing::record_size(f.cap_len) > ring.capacity() / 2) {
      bump(ctl_.too_large_drops);
      return false;
    }
    if (!file_mode_) {
      bump(ctl_.ring_full_drops);
      return false;
    }
    if (g_stop.load(std::memory_order_relaxed)) {
      bump(ctl_.shutdown_drops);
      return false;
    }
    std::this_thread::yield();
    h = ring.reserve(f.cap_len);
  }
  h->kind = RecordKind::kPacket;
  h->ts_ns = f.ts_ns;
  h->cap_len = f.cap_len;
  h->wire_len = f.wire_len;
  h->hash = hash;
  h->link_type = f.link_type;
  std::memcpy(PacketRing::payload(h), f.data, f.cap_len);
  ring.commit(h);
  return true;
}

void Runtime::capture_loop(PcapSource& src) {
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
    bump(ctl_.read);
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

std::string Runtime::stats_json(const PcapSource* src) const {
  std::vector<uint64_t> sum(kCounterCount, 0);
  for (const auto& s : workers_) {
    const Counters& c = s->worker->counters();
    for (std::size_t i = 0; i < kCounterCount; ++i) sum[i] += c.get(i);
  }
  std::string buf(16384, '\0');
  JsonWriter w(buf.data(), buf.size());
  w.begin_object();
  w.field_uint("capture.read", ctl_.read.load());
  w.field_uint("capture.dropped.ring_full", ctl_.ring_full_drops.load());
  w.field_uint("capture.dropped.too_large", ctl_.too_large_drops.load());
  w.field_uint("capture.dropped.shutdown", ctl_.shutdown_drops.load());
  const PcapStats ps = src ? src->stats() : PcapStats{};
  if (src && !src->live()) w.field_uint("capture.filtered", ps.filtered);
  if (src && src->live()) {
    w.field_uint("capture.pcap.received", ps.received);
    w.field_uint("capture.pcap.dropped", ps.dropped);
    w.field_uint("capture.pcap.if_dropped", ps.if_dropped);
  }
  for (std::size_t i = 0; i < kCounterCount; ++i) w.field_uint(kCounterNames[i], sum[i]);
  w.field_uint("output.events.written", ctl_.events_written.load());
  w.field_uint("output.events.failed", ctl_.events_failed.load());
  w.field_uint("output.write_errors", ctl_.write_errors.load());
  w.field_uint("workers", workers_.size());
  w.end_object();
  buf.resize(w.size());
  return buf;
}

void Runtime::progress_line(uint64_t elapsed_ns, bool final) {
  uint64_t packets = 0, events = 0, drops = 0;
  for (const auto& s : workers_) {
    const Counters& c = s->worker->counters();
    packets += c.get(Counter::packets);
    events += c.get(Counter::events_emitted);
    drops += c.get(Counter::events_dropped_output_full) + c.get(Counter::events_dropped_too_large);
  }
  drops += ctl_.ring_full_drops.load() + ctl_.too_large_drops.load() + ctl_.shutdown_drops.load();
  const double secs = elapsed_ns / 1e9;
  char line[160];
  const int n = std::snprintf(line, sizeof line, "\r%12llu packets  %7.3f Mpps  %10llu events  %8llu drops%s",
                              static_cast<unsigned long long>(packets), secs > 0 ? packets / secs / 1e6 : 0.0,
                              static_cast<unsigned long long>(events), static_cast<unsigned long long>(drops),
                              final ? "\n" : "");
  ssize_t ignored = ::write(STDERR_FILENO, line, static_cast<std::size_t>(n));
  (void)ignored;
}

void Runtime::monitor_loop() {
  const bool progress = file_mode_ && cfg_.engine.progress && isatty(STDERR_FILENO);
  const uint64_t period = cfg_.engine.stats_period_ns;
  uint64_t next_stats = mono_ns() + period;
  uint64_t next_progress = mono_ns() + 1'000'000'000;
  while (!monitor_stop_.load(std::memory_order_acquire)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const uint64_t now = mono_ns();
    if (progress && now >= next_progress) {
      progress_line(now - start_mono_ns_, false);
      next_progress = now + 1'000'000'000;
    }
    if (now >= next_stats) {
      log_json("info", "stats", "stats", stats_json(source_));
      next_stats = now + period;
    }
  }
  if (progress) progress_line(mono_ns() - start_mono_ns_, true);
}

int Runtime::run() {
  if (!cfg_.output) throw ConfigError(cfg_.file, "output", "no output is configured: set output.console or output.file");
  if (cfg_.output->type != "console" && cfg_.output->type != "file")
    throw ConfigError(cfg_.file, "output." + cfg_.output->type,
                      "output " + cfg_.output->type + " is not available yet");
  if (cfg_.interfaces.type == "dpdk")
    throw ConfigError(cfg_.file, "tapbeat.interfaces.type", "dpdk capture is not available yet; use pcap");
  sink_ = make_sink(*cfg_.output);
  agent_ = make_agent(cfg_);

  PcapOptions po;
  po.file = !opts_.pcap_file.empty() ? opts_.pcap_file : cfg_.interfaces.file;
  file_mode_ = !po.file.empty();
  po.device = cfg_.interfaces.device;
  po.snaplen = cfg_.interfaces.snaplen;
  po.buffer_size_mb = cfg_.interfaces.buffer_size_mb;
  po.promisc = cfg_.interfaces.auto_promisc_mode;
  po.ignore_outgoing = cfg_.interfaces.ignore_outgoing;
  po.bpf_filter = cfg_.interfaces.bpf_filter;
  if (po.bpf_filter.empty() && !cfg_.flows.enabled) po.bpf_filter = generated_bpf_filter(cfg_);
  auto src = PcapSource::open(po);
  source_ = src.get();
  if (!link_type_supported(src->link_type()))
    log_line("warn", "link type " + std::to_string(src->link_type()) +
                         " is not decoded; its packets are counted as decode.link.unsupported");

  uint32_t n = cfg_.engine.workers;
  if (n == 0) {
    const unsigned cores = std::thread::hardware_concurrency();
    n = cores > 1 ? cores - 1 : 1;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  start_mono_ns_ = mono_ns();
  start_workers(n);
  std::thread output([this] { output_loop(); });
  pthread_setname_np(output.native_handle(), "tb-output");
  std::thread monitor([this] { monitor_loop(); });
  pthread_setname_np(monitor.native_handle(), "tb-monitor");
  log_line("info", "tapbeat " + std::string(kTapbeatVersion) + " started: " +
                       (file_mode_ ? "reading " + po.file : "capturing on " + po.device) + " with " +
                       std::to_string(n) + " worker(s)" +
                       (po.bpf_filter.empty() ? "" : ", filter '" + po.bpf_filter + "'"));

  capture_loop(*src);
  const bool interrupted = g_stop.load();
  // A last tick gives every worker the same final clock (the last packet's time for a
  // file, now when live): flows that timed out expire, the rest report at that time.
  if (!interrupted || !file_mode_) push_clock(file_mode_ ? last_packet_ns_ : wall_ns());
  capture_done_.store(true, std::memory_order_release);
  for (auto& s : workers_) {
    if (interrupted) s->worker->request_stop();
  }
  // Interrupted runs get shutdown_timeout to deliver what is pending.
  const uint64_t deadline = mono_ns() + cfg_.engine.shutdown_timeout_ns;
  for (auto& s : workers_) {
    while (!s->finished.load(std::memory_order_acquire)) {
      if (interrupted && mono_ns() > deadline) s->worker->request_stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    s->thread.join();
  }
  workers_done_.store(true, std::memory_order_release);
  output.join();
  monitor_stop_.store(true, std::memory_order_release);
  monitor.join();
  log_json("info", "final stats", "stats", stats_json(source_));
  if (g_signal.load()) log_line("info", "stopped by signal " + std::to_string(g_signal.load()));
  return ctl_.write_errors.load() ? 1 : 0;
}

}  // namespace

int run(const Config& cfg, const RunOptions& opts) {
  Runtime rt(cfg, opts);
  return rt.run();
}

}  // namespace tapbeat
