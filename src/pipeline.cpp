#include "pipeline.hpp"

#include <pthread.h>
#include <simdjson.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "log.hpp"
#include "util/sha1.hpp"
#include "version.hpp"

namespace tapbeat {

namespace {
std::string uuid_text(const uint8_t b[16]) {
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}
}  // namespace

AgentInfo make_agent(const Config& cfg) {
  AgentInfo a;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  a.hostname = host;
  a.name = cfg.name.empty() ? a.hostname : cfg.name;
  a.version = kTapbeatVersion;
  a.timestamp_digits = cfg.timestamp_digits;
  a.tags = cfg.tags;
  a.field_members = cfg.field_members;
  // agent.id: a name-based UUID (RFC 4122 §4.3, SHA-1) of the host, stable across runs.
  uint8_t digest[20];
  const std::string seed = "tapbeat/" + a.hostname;
  sha1(seed.data(), seed.size(), digest);
  digest[6] = static_cast<uint8_t>((digest[6] & 0x0F) | 0x50);
  digest[8] = static_cast<uint8_t>((digest[8] & 0x3F) | 0x80);
  a.id = uuid_text(digest);
  std::random_device rd;
  uint8_t r[16];
  for (auto& x : r) x = static_cast<uint8_t>(rd());
  r[6] = static_cast<uint8_t>((r[6] & 0x0F) | 0x40);
  r[8] = static_cast<uint8_t>((r[8] & 0x3F) | 0x80);
  a.ephemeral_id = uuid_text(r);
  prepare_agent(a);
  return a;
}

uint32_t worker_count(const Config& cfg) {
  if (cfg.engine.workers) return cfg.engine.workers;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 1 ? cores - 1 : 1;
}

void join_worker(Worker& w, const std::atomic<bool>& finished, std::thread& thread) {
  while (!finished.load(std::memory_order_acquire)) {
    if (mono_ns() > stop_deadline_ns()) w.request_stop();  // a signal, now or after the end of input
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  thread.join();
}

void require_output(const Config& cfg) {
  if (!cfg.output)
    throw ConfigError(cfg.file, "output", "no output is configured: set output.console or output.file");
}

uint32_t flows_per_worker(const Config& cfg, uint32_t workers) {
  return std::max<uint32_t>(cfg.engine.max_flows / workers, 16);
}

void check_flow_memory(const Config& cfg, uint32_t workers, bool tcp_streams) {
  const uint32_t per_worker = flows_per_worker(cfg, workers);
  const uint64_t need = uint64_t{workers} * Worker::flow_bytes(per_worker, tcp_streams);
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  const uint64_t have = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : UINT64_MAX;
  if (need > have)
    throw ConfigError(
        cfg.file, "tapbeat.flow_table.max_flows",
        std::to_string(cfg.engine.max_flows) + " flows need " + std::to_string(need >> 20) +
            " MiB of flow tables (" + std::to_string(need / std::max<uint64_t>(cfg.engine.max_flows, 1)) +
            " bytes a flow), more than this machine's " + std::to_string(have >> 20) + " MiB of memory");
}

Pipeline::Pipeline(const Config& cfg, uint32_t n, bool block_on_output_full, bool progress, bool live)
    : cfg_(cfg), agent_(make_agent(cfg)), progress_(progress), live_(live) {
  require_output(cfg);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  internal_networks_ = NetworkSet(cfg.interfaces.internal_networks);
  if (live) internal_networks_.set_host_addresses(host_addresses());
  decoders_ = DecoderSet::from_config(cfg, [](const std::string& m) { log_line("warn", m); });
  // A protocol with its own tags or fields: its events carry them (the agent's
  // fixed members rendered once more for it).
  std::array<const AgentInfo*, kMaxDecoders> protocol_agents{};
  for (const ProtocolConfig& p : cfg.protocols) {
    const int d = decoder_index(p.type);
    if (!p.enabled || d < 0 || (p.tags == agent_.tags && p.field_members == agent_.field_members)) continue;
    auto a = std::make_unique<AgentInfo>(agent_);
    a->tags = p.tags;
    a->field_members = p.field_members;
    prepare_agent(*a);
    protocol_agents[static_cast<std::size_t>(d)] = a.get();
    protocol_agents_.push_back(std::move(a));
  }
  check_flow_memory(cfg, n, decoders_->plan().any_tcp());
  sink_ = make_sink(cfg);
  const uint32_t per_worker = flows_per_worker(cfg, n);
  for (uint32_t i = 0; i < n; ++i) {
    WorkerSettings ws;
    ws.id = i;
    ws.workers = n;
    ws.flow_capacity = per_worker;
    ws.flows_enabled = cfg.flows.enabled;
    ws.flow_timeout_ns = cfg.flows.timeout_ns;
    ws.flow_period_ns = cfg.flows.period_ns;
    ws.delta_reports = cfg.flows.enable_delta_flow_reports;
    ws.frag = FragLimits{cfg.engine.frag_max_sets, cfg.engine.frag_max_bytes, cfg.engine.frag_timeout_ns};
    ws.event_chunks = cfg.engine.event_chunks;
    ws.event_chunk_bytes = cfg.engine.event_chunk_kb * 1024;
    ws.block_on_output_full = block_on_output_full;
    ws.agent = &agent_;
    ws.protocol_agents = protocol_agents;
    ws.decoders = &decoders_->plan();
    ws.tcp_transaction_timeout_ns = decoders_->tcp_timeout_ns();
    ws.internal_networks = &internal_networks_;
    ws.processors = cfg.processors.get();
    workers_.push_back(std::make_unique<Worker>(ws));
  }
}

Pipeline::~Pipeline() {
  workers_done_.store(true);
  monitor_stop_.store(true);
  wake_monitor();
  if (output_.joinable()) output_.join();
  if (monitor_.joinable()) monitor_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Pipeline::wake_monitor() {
  const uint64_t one = 1;
  if (wake_fd_ >= 0 && ::write(wake_fd_, &one, sizeof one) < 0) {
    // A full counter already wakes the monitor.
  }
}

void Pipeline::start(ExtraStats extra_stats, ExtraDrops extra_drops) {
  extra_stats_ = std::move(extra_stats);
  extra_drops_ = std::move(extra_drops);
  start_mono_ns_ = mono_ns();
  if (cfg_.http.enabled) {
    http_.open(cfg_.http.host, cfg_.http.port);
    log_line("info", "monitoring endpoint on http://" + cfg_.http.host + ":" +
                         std::to_string(cfg_.http.port) + " (/, /stats, /metrics)");
  }
  output_ = std::thread([this] { output_loop(); });
  pthread_setname_np(output_.native_handle(), "tb-output");
  monitor_ = std::thread([this] { monitor_loop(); });
  pthread_setname_np(monitor_.native_handle(), "tb-monitor");
}

int Pipeline::finish() {
  workers_done_.store(true, std::memory_order_release);
  output_.join();
  monitor_stop_.store(true, std::memory_order_release);
  wake_monitor();
  monitor_.join();
  log_json("info", "final stats", "stats", stats_json());
  if (stop_signal()) log_line("info", "stopped by signal " + std::to_string(stop_signal()));
  return write_errors_.load() ? 1 : 0;
}

void Pipeline::output_loop() {
  // A chunk the sink took only part of waits here (per worker) and is offered again:
  // that worker's queue is not drained meanwhile, so its chunks fill and it drops
  // events, counted (or waits, reading a file).
  struct Pending {
    EventChunk* chunk = nullptr;
    std::size_t offset = 0;
  };
  std::vector<Pending> pending(workers_.size());
  // Rounds in a row that found nothing: live, the wait grows from 1 ms to 16 ms, so an
  // idle capture wakes some 60 times a second, not 1000. A worker's event chunks hold
  // far more than 16 ms of events at full speed, and a busy output never waits that
  // long. Reading a file, it stays at 1 ms (the end of the run is not held up).
  unsigned idle_rounds = 0;
  for (;;) {
    bool any = false, held = false;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      EventQueue& q = workers_[i]->events();
      for (;;) {
        Pending& p = pending[i];
        if (!p.chunk) {
          p.chunk = q.take_full();
          p.offset = 0;
          if (!p.chunk) break;
        }
        any = true;
        EventChunk* c = p.chunk;
        const std::string_view rest(c->data + p.offset, c->len - p.offset);
        const std::size_t took = sink_->write(rest);
        if (took == Sink::kFailed) {
          if (write_errors_.load() == 0) log_line("error", "output write failed: " + sink_->error());
          bump(write_errors_);
          const uint64_t left = static_cast<uint64_t>(std::count(rest.begin(), rest.end(), '\n'));
          bump(events_failed_, left);
        } else if (took < rest.size()) {
          bump(events_written_, static_cast<uint64_t>(std::count(
                                    rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(took), '\n')));
          p.offset += took;
          held = true;
          break;  // the sink is full: come back after service()
        } else {
          bump(events_written_,
               p.offset == 0 ? c->events : static_cast<uint64_t>(std::count(rest.begin(), rest.end(), '\n')));
        }
        q.recycle(c);
        p.chunk = nullptr;
      }
    }
    idle_rounds = any ? 0 : std::min(idle_rounds + 1, live_ ? 5u : 1u);
    sink_->service(any && !held ? 0 : (held ? 1 : 1 << (idle_rounds - 1)));
    if (any && !held) continue;
    if (workers_done_.load(std::memory_order_acquire)) {
      bool idle = true;
      for (std::size_t i = 0; i < workers_.size(); ++i)
        idle = idle && !pending[i].chunk && workers_[i]->events().idle();
      if (idle) break;
      // A stopped run whose output does not take its events gives up at the deadline:
      // what the workers wrote and the sink never took is counted, not waited for.
      if (mono_ns() >= stop_deadline_ns()) {
        uint64_t left = 0;
        for (std::size_t i = 0; i < workers_.size(); ++i) {
          EventQueue& q = workers_[i]->events();
          if (EventChunk* c = pending[i].chunk) {
            left += static_cast<uint64_t>(std::count(c->data + pending[i].offset, c->data + c->len, '\n'));
            q.recycle(c);
            pending[i].chunk = nullptr;
          }
          while (EventChunk* c = q.take_full()) {
            left += c->events;
            q.recycle(c);
          }
        }
        bump(events_dropped_shutdown_, left);
        log_line("warn", std::to_string(left) +
                             " events not taken by the output within tapbeat.shutdown_timeout "
                             "of the stop signal; they are lost (output.events.dropped_shutdown)");
        break;
      }
    }
  }
  // Deliver what the sink holds: within shutdown_timeout, or what is left of it after a signal.
  if (!sink_->close(std::min(mono_ns() + cfg_.engine.shutdown_timeout_ns, stop_deadline_ns())))
    bump(write_errors_);
}

std::string Pipeline::stats_json() const {
  const auto names = counter_catalogue();
  std::vector<uint64_t> sum(names.size(), 0);
  for (const auto& w : workers_) {
    const Counters& c = w->counters();
    for (std::size_t i = 0; i < names.size(); ++i) sum[i] += c.get(i);
  }
  std::string buf(65536, '\0');
  JsonWriter w(buf.data(), buf.size());
  w.begin_object();
  if (extra_stats_) extra_stats_(w);
  for (std::size_t i = 0; i < names.size(); ++i) w.field_uint(names[i].name, sum[i]);
  sink_->stats(w);
  w.field_uint("output.events.written", events_written_.load());
  w.field_uint("output.events.failed", events_failed_.load());
  w.field_uint("output.events.dropped_shutdown", events_dropped_shutdown_.load());
  w.field_uint("output.write_errors", write_errors_.load());
  w.field_uint("workers", workers_.size());
  w.end_object();
  buf.resize(w.size());
  return buf;
}

Pipeline::Drops Pipeline::drops() const {
  Drops d;
  for (const auto& w : workers_) {
    const Counters& c = w->counters();
    d.events += c.get(Counter::events_dropped_output_full) + c.get(Counter::events_dropped_too_large);
    d.flows += c.get(Counter::flow_evicted);
  }
  if (extra_drops_) d.capture = extra_drops_();
  d.output = sink_->dropped() + events_dropped_shutdown_.load();
  return d;
}

void Pipeline::warn_drops(Drops& last, uint64_t& last_warn_ns, uint64_t now) const {
  constexpr uint64_t kEveryNs = 10'000'000'000;  // one line per 10 s at most
  if (now - last_warn_ns < kEveryNs && last_warn_ns != 0) return;
  const Drops d = drops();
  if (d.total() == last.total()) return;
  log_line("warn", "dropping: " + std::to_string(d.events - last.events) +
                       " events (workers' queues full or too large), " +
                       std::to_string(d.capture - last.capture) + " packets at capture, " +
                       std::to_string(d.output - last.output) + " events at the output, " +
                       std::to_string(d.flows - last.flows) +
                       " flows evicted from full tables since the last such line; "
                       "the stats name each counter");
  last = d;
  last_warn_ns = now;
}

void Pipeline::progress_line(uint64_t elapsed_ns, bool final) const {
  uint64_t packets = 0, events = 0;
  for (const auto& w : workers_) {
    const Counters& c = w->counters();
    packets += c.get(Counter::packets);
    events += c.get(Counter::events_emitted);
  }
  const Drops d = drops();
  const uint64_t dropped = d.events + d.capture + d.output;
  const double secs = elapsed_ns / 1e9;
  char line[160];
  const int n = std::snprintf(line, sizeof line, "\r%12llu packets  %7.3f Mpps  %10llu events  %8llu drops%s",
                              static_cast<unsigned long long>(packets), secs > 0 ? packets / secs / 1e6 : 0.0,
                              static_cast<unsigned long long>(events),
                              static_cast<unsigned long long>(dropped), final ? "\n" : "");
  ssize_t ignored = ::write(STDERR_FILENO, line, static_cast<std::size_t>(n));
  (void)ignored;
}

namespace {

// Flat "a.b.c": value pairs nested as {"a":{"b":{"c":value}}}; a name that is also
// the prefix of others keeps its own value under "total".
struct StatTree {
  std::string value;  // raw JSON; empty for an inner node
  std::map<std::string, StatTree> children;
  void add(std::string_view name, std::string v) {
    const std::size_t dot = name.find('.');
    StatTree& c = children[std::string(name.substr(0, dot))];
    if (dot == std::string_view::npos) {
      if (c.children.empty())
        c.value = std::move(v);
      else
        c.children["total"].value = std::move(v);
    } else {
      if (!c.value.empty()) c.children["total"].value = std::move(c.value), c.value.clear();
      c.add(name.substr(dot + 1), std::move(v));
    }
  }
  void write(JsonWriter& w) const {
    w.begin_object();
    for (const auto& [k, c] : children) {
      w.key(k);
      if (c.children.empty())
        w.raw(c.value);
      else
        c.write(w);
    }
    w.end_object();
  }
};

std::string metric_name(std::string_view s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

// A value of the stats line that is a level (reported as it is), not a count (whose
// change over the period is reported): the engine's gauges, and the outputs' queues.
bool is_level(std::string_view name) {
  if (const int i = counter_index(name); i >= 0)
    return counter_catalogue()[static_cast<std::size_t>(i)].gauge;
  auto ends = [&](std::string_view t) {
    return name.size() >= t.size() && name.substr(name.size() - t.size()) == t;
  };
  return name == "workers" || name == "output.queue.disk.bytes" || ends(".queued");
}

}  // namespace

void Pipeline::monitor_loop() {
  // The monitor wakes 10 times a second (or for a request to the endpoint): the stats
  // periods, drop warnings and stop deadlines it keeps are coarser than that.
  constexpr int kMonitorTickMs = 100;
  const bool progress = progress_ && cfg_.engine.progress && isatty(STDERR_FILENO);
  const uint64_t period = cfg_.engine.stats_period_ns;
  uint64_t next_stats = mono_ns() + period;
  uint64_t next_progress = mono_ns() + 1'000'000'000;
  Drops warned{};
  uint64_t last_warn_ns = 0, next_drop_check = 0;
  std::map<std::string, uint64_t, std::less<>> last;  // the stats line at the last periodic report
  while (!monitor_stop_.load(std::memory_order_acquire)) {
    http_.wait(kMonitorTickMs, wake_fd_);  // a request to the endpoint, or finish(), ends the wait
    http_.serve([this](const std::string& path) { return monitor_reply(path); });
    const uint64_t now = mono_ns();
    // Past a stop signal's deadline, a worker still waiting on a full output gives up
    // (its events counted); whatever thread runs it.
    if (g_stop.load(std::memory_order_relaxed) && now > stop_deadline_ns())
      for (const auto& w : workers_) w->request_stop();
    if (now >= next_drop_check) {
      warn_drops(warned, last_warn_ns, now);
      next_drop_check = now + 1'000'000'000;
    }
    if (progress && now >= next_progress) {
      progress_line(now - start_mono_ns_, false);
      next_progress = now + 1'000'000'000;
    }
    if (period > 0 && now >= next_stats) {  // 0: logging.metrics.enabled: false
      periodic_stats(last, period);
      next_stats = now + period;
    }
  }
  if (progress) progress_line(mono_ns() - start_mono_ns_, true);
}

void Pipeline::periodic_stats(std::map<std::string, uint64_t, std::less<>>& last, uint64_t period_ns) const {
  // As Beats logs its metrics: nested by dotted name, what changed over the period
  // (counts as their increase, levels as they are), nothing that is zero; and the
  // rates of packets, bytes and events per second over the period.
  simdjson::dom::parser parser;
  const std::string flat = stats_json();
  simdjson::dom::object o;
  if (parser.parse(flat).get(o)) return;
  StatTree tree;
  const double secs = static_cast<double>(period_ns) / 1e9;
  std::string rates;
  for (auto field : o) {
    uint64_t v = 0;
    if (field.value.get(v)) continue;
    const auto it = last.find(field.key);
    const uint64_t before = it == last.end() ? 0 : it->second;
    const bool level = is_level(field.key);
    const uint64_t shown = level ? v : v - std::min(v, before);
    if (shown) tree.add(field.key, std::to_string(shown));
    for (std::string_view r :
         {"packets.received", "packets.bytes", "events.emitted", "output.events.written"})
      if (field.key == r && shown) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(shown) / secs);
        rates += (rates.empty() ? "" : ",") + std::string("\"") + std::string(r) + "\":" + buf;
      }
    if (it == last.end())
      last.emplace(std::string(field.key), v);
    else
      it->second = v;
  }
  std::string buf(1 << 16, '\0');
  JsonWriter w(buf.data(), buf.size());
  if (tree.children.empty()) {
    w.begin_object();
    w.end_object();
  } else {
    tree.write(w);
  }
  std::string json = "{\"metrics\":" + std::string(w.view()) + ",\"rates_per_s\":{" + rates + "}}";
  char message[64];
  std::snprintf(message, sizeof message, "Non-zero metrics in the last %gs", secs);
  log_json("info", message, "monitoring", json);
}

namespace {

// Beats' own blocks of /stats, so that Metricbeat's beat module and Stack Monitoring read
// tapbeat as a Beat: beat.* (the process: uptime, CPU, memory, handles), libbeat.* (the
// pipeline and the output, from tapbeat's counters: published events.emitted, filtered
// events.dropped.processors, dropped events.dropped.output_full and .too_large; output
// acked output.events.written, failed, dropped output.events.dropped_shutdown, active
// what the output holds), system.* (cores, load). Counters tapbeat does not keep
// (batches, duplicates, retries) are left out rather than written as 0.
void beats_stats(simdjson::dom::object o, uint64_t queued, StatTree& tree, const AgentInfo& agent_,
                 uint64_t uptime_ns, const Config& cfg_, std::size_t workers) {
  auto get = [&](const char* k) {
    uint64_t v = 0;
    return o[k].get(v) ? uint64_t{0} : v;
  };
  auto add = [&](const std::string& k, uint64_t v) { tree.add(k, std::to_string(v)); };
  add("beat.info.uptime.ms", uptime_ns / 1'000'000);
  tree.add("beat.info.ephemeral_id", "\"" + agent_.ephemeral_id + "\"");
  tree.add("beat.info.name", "\"tapbeat\"");
  tree.add("beat.info.version", "\"" + agent_.version + "\"");
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const uint64_t user_ms = uint64_t(ru.ru_utime.tv_sec) * 1000 + uint64_t(ru.ru_utime.tv_usec) / 1000;
  const uint64_t sys_ms = uint64_t(ru.ru_stime.tv_sec) * 1000 + uint64_t(ru.ru_stime.tv_usec) / 1000;
  add("beat.cpu.user.ticks", user_ms);
  add("beat.cpu.system.ticks", sys_ms);
  add("beat.cpu.total.ticks", user_ms + sys_ms);
  add("beat.cpu.total.value", user_ms + sys_ms);
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long pages = 0, resident = 0;
    if (std::fscanf(f, "%lu %lu", &pages, &resident) == 2)
      add("beat.memstats.rss", uint64_t{resident} * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
    std::fclose(f);
  }
  uint64_t open_fds = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::end(it); it.increment(ec))
    ++open_fds;
  add("beat.handles.open", open_fds);
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    add("beat.handles.limit.soft", nofile.rlim_cur);
    add("beat.handles.limit.hard", nofile.rlim_max);
  }
  const uint64_t filtered = get("events.dropped.processors");
  const uint64_t dropped = get("events.dropped.output_full") + get("events.dropped.too_large");
  const uint64_t published = get("events.emitted");
  add("libbeat.pipeline.clients", workers);
  add("libbeat.pipeline.events.published", published);
  add("libbeat.pipeline.events.filtered", filtered);
  add("libbeat.pipeline.events.dropped", dropped);
  add("libbeat.pipeline.events.failed", get("output.events.failed"));
  add("libbeat.pipeline.events.active", queued);
  add("libbeat.pipeline.events.total", published + filtered + dropped);
  add("libbeat.pipeline.queue.acked", get("output.events.written"));
  if (cfg_.queue.mem_events) add("libbeat.pipeline.queue.max_events", cfg_.queue.mem_events);
  if (cfg_.output) tree.add("libbeat.output.type", "\"" + cfg_.output->type + "\"");
  const uint64_t acked = get("output.events.written"), failed = get("output.events.failed"),
                 lost = get("output.events.dropped_shutdown");
  add("libbeat.output.events.acked", acked);
  add("libbeat.output.events.failed", failed);
  add("libbeat.output.events.dropped", lost);
  add("libbeat.output.events.active", queued);
  add("libbeat.output.events.total", acked + failed + lost + queued);
  add("libbeat.output.write.errors", get("output.write_errors"));
  add("system.cpu.cores", std::thread::hardware_concurrency());
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) {
    const double cores = std::max(1u, std::thread::hardware_concurrency());
    const char* names[] = {"1", "5", "15"};
    for (int i = 0; i < 3; ++i) {
      char a[32], b[32];
      std::snprintf(a, sizeof a, "%.2f", load[i]);
      std::snprintf(b, sizeof b, "%.4f", load[i] / cores);
      tree.add(std::string("system.load.") + names[i], a);
      tree.add(std::string("system.load.norm.") + names[i], b);
    }
  }
}

}  // namespace

MonitorHttp::Reply Pipeline::monitor_reply(const std::string& path) const {
  std::string buf(1 << 20, '\0');
  JsonWriter w(buf.data(), buf.size());
  if (path == "/") {
    // Beats' identity document.
    w.begin_object();
    w.field("beat", "tapbeat");
    w.field("ephemeral_id", agent_.ephemeral_id);
    w.field("hostname", agent_.hostname);
    w.field("name", agent_.name);
    w.field("uuid", agent_.id);
    w.field("version", agent_.version);
    w.end_object();
    return {200, "application/json", std::string(w.view()) + "\n"};
  }
  if (path == "/stats") {
    simdjson::dom::parser parser;
    const std::string flat = stats_json();
    simdjson::dom::object o;
    if (parser.parse(flat).get(o)) return {500, "text/plain", "stats unavailable\n"};
    StatTree tree;
    uint64_t queued = 0;
    for (auto field : o) {
      tree.add(field.key, simdjson::minify(field.value));
      uint64_t v = 0;
      const std::string_view k = field.key;
      if (k.starts_with("output.") && k.ends_with(".queued") && !field.value.get(v)) queued += v;
    }
    beats_stats(o, queued, tree, agent_, mono_ns() - start_mono_ns_, cfg_, workers_.size());
    tree.write(w);
    return {200, "application/json", std::string(w.view()) + "\n"};
  }
  if (path == "/state") {
    // Beats' state document (Metricbeat's beat module reads it beside /stats).
    w.begin_object();
    w.key("beat");
    w.begin_object();
    w.field("name", agent_.name);
    w.end_object();
    w.key("host");
    w.begin_object();
    w.field("hostname", agent_.hostname);
    w.end_object();
    w.key("management");
    w.begin_object();
    w.field_bool("enabled", false);
    w.end_object();
    w.key("output");
    w.begin_object();
    w.field("name", cfg_.output ? std::string_view(cfg_.output->type) : std::string_view("none"));
    w.end_object();
    w.key("queue");
    w.begin_object();
    w.field("name", cfg_.queue.disk ? "disk" : "mem");
    w.end_object();
    w.key("service");
    w.begin_object();
    w.field("id", agent_.id);
    w.field("name", "tapbeat");
    w.field("version", agent_.version);
    w.end_object();
    w.end_object();
    return {200, "application/json", std::string(w.view()) + "\n"};
  }
  if (path == "/metrics") {
    // Prometheus text format: the engine's counters per worker, each protocol's
    // under one family per counter with a protocol label, the rest (capture,
    // output) as the stats line has them.
    std::string out;
    const auto names = counter_catalogue();
    std::set<std::string> typed;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string_view n = names[i].name;
      std::string family, labels;
      if (i < kEngineCounterCount) {
        family = "tapbeat_" + metric_name(n);
      } else {
        const std::size_t dot = n.find('.');
        family = "tapbeat_protocol_" + metric_name(n.substr(dot + 1));
        labels = "protocol=\"" + std::string(n.substr(0, dot)) + "\",";
      }
      if (typed.insert(family).second)
        out += "# TYPE " + family + (names[i].gauge ? " gauge\n" : " counter\n");
      for (std::size_t k = 0; k < workers_.size(); ++k)
        out += family + "{" + labels + "worker=\"" + std::to_string(k) + "\"} " +
               std::to_string(workers_[k]->counters().get(i)) + "\n";
    }
    simdjson::dom::parser parser;
    const std::string flat = stats_json();
    simdjson::dom::object o;
    if (!parser.parse(flat).get(o))
      for (auto field : o) {
        if (counter_index(field.key) >= 0) continue;
        uint64_t v = 0;
        if (field.value.get(v)) continue;  // numbers only
        out += "tapbeat_" + metric_name(field.key) + " " + std::to_string(v) + "\n";
      }
    return {200, "text/plain; version=0.0.4", out};
  }
  return {404, "text/plain", "not found: /, /stats, /state and /metrics are served\n"};
}

}  // namespace tapbeat
