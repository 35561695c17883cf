// What every capture backend shares: the workers' settings, the output thread that
// drains their event chunks into the sink, the monitor thread (stats line, progress
// line), signals and the agent identity. A backend (libpcap, DPDK) owns how packets
// reach the workers and where the workers run.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "control.hpp"
#include "engine/decoder_set.hpp"
#include "engine/worker.hpp"
#include "event/agent.hpp"
#include "event/json_writer.hpp"
#include "monitor_http.hpp"
#include "net/networks.hpp"
#include "output/sink.hpp"

namespace tapbeat {

AgentInfo make_agent(const Config& cfg);

class Pipeline {
 public:
  // Stats a backend adds to the stats line (capture counters), and drops it counts.
  using ExtraStats = std::function<void(JsonWriter&)>;
  using ExtraDrops = std::function<uint64_t()>;

  // Opens the sink (throws ConfigError/std::runtime_error) and creates `n` workers.
  // block_on_output_full: file input waits for the output instead of dropping events.
  // live: capturing from a device (network.direction then also knows this host's
  // addresses); false when reading a capture file.
  Pipeline(const Config& cfg, uint32_t n, bool block_on_output_full, bool progress, bool live);
  ~Pipeline();

  Worker& worker(std::size_t i) { return *workers_[i]; }
  std::size_t size() const { return workers_.size(); }
  const AgentInfo& agent() const { return agent_; }

  // Starts the output and monitor threads.
  void start(ExtraStats extra_stats, ExtraDrops extra_drops);
  // Every worker has finished (final reports written): drain, join, log final stats.
  // Returns the process exit code.
  int finish();
  std::string stats_json() const;
  // The monitoring endpoint's answer for `path` (/, /stats, /metrics).
  MonitorHttp::Reply monitor_reply(const std::string& path) const;

 private:
  void output_loop();
  void wake_monitor();
  void monitor_loop();
  // The periodic stats line: what changed since `last` (updated), over period_ns.
  void periodic_stats(std::map<std::string, uint64_t, std::less<>>& last, uint64_t period_ns) const;
  void progress_line(uint64_t elapsed_ns, bool final) const;
  // Losses so far, by where they happened; a warning (at most one per 10 s) when they grow.
  struct Drops {
    uint64_t events = 0, capture = 0, output = 0, flows = 0;
    uint64_t total() const { return events + capture + output + flows; }
  };
  Drops drops() const;
  void warn_drops(Drops& last, uint64_t& last_warn_ns, uint64_t now) const;

  const Config& cfg_;
  AgentInfo agent_;
  std::vector<std::unique_ptr<AgentInfo>> protocol_agents_;  // protocols with their own tags or fields
  NetworkSet internal_networks_;
  std::unique_ptr<DecoderSet> decoders_;
  std::unique_ptr<Sink> sink_;
  std::vector<std::unique_ptr<Worker>> workers_;
  bool progress_;
  bool live_;
  int wake_fd_ = -1;  // eventfd: ends the monitor's wait when the run finishes
  ExtraStats extra_stats_;
  ExtraDrops extra_drops_;
  std::thread output_, monitor_;
  MonitorHttp http_;  // served by the monitor thread when http.enabled
  std::atomic<bool> workers_done_{false};
  std::atomic<bool> monitor_stop_{false};
  std::atomic<uint64_t> events_written_{0}, events_failed_{0}, write_errors_{0};
  // Events still in the workers' chunks when an interrupted run's deadline passed.
  std::atomic<uint64_t> events_dropped_shutdown_{0};
  uint64_t start_mono_ns_ = 0;
};

// Waits for a worker thread that runs `w` to set `finished`, then joins it. Interrupted
// runs get shutdown_timeout from the signal to deliver what is pending; past that
// deadline a worker still waiting on a full output is released (its events counted).
void join_worker(Worker& w, const std::atomic<bool>& finished, std::thread& thread);

// Number of workers the config asks for (0: cores - 1, at least 1).
uint32_t worker_count(const Config& cfg);

// A ConfigError when the config names no output.
void require_output(const Config& cfg);
// Flow-table capacity of each of `workers` workers (max_flows split evenly, at least 16).
uint32_t flows_per_worker(const Config& cfg, uint32_t workers);

// The flow tables of `workers` workers must fit this machine's memory: a ConfigError
// naming tapbeat.flow_table.max_flows with the figures otherwise.
void check_flow_memory(const Config& cfg, uint32_t workers, bool tcp_streams);

}  // namespace tapbeat
