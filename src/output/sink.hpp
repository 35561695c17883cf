// Where event bytes go: console, rotating files, Kafka. Runs on the output thread
// only, except stats() and dropped(), which the monitor thread calls.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "control.hpp"
#include "event/json_writer.hpp"
#include "log.hpp"

namespace tapbeat {

class Sink {
 public:
  virtual ~Sink() = default;
  static constexpr std::size_t kFailed = SIZE_MAX;
  // `lines` holds whole NDJSON lines. Returns how many bytes it took (whole lines):
  // all of them, or fewer when the sink cannot take more now (the caller offers the
  // rest again after service()), or kFailed on an I/O error (reported via error()).
  virtual std::size_t write(std::string_view lines) = 0;
  // Background work: delivery reports, retries, the disk queue. Waits at most
  // timeout_ms when there is nothing to do.
  virtual void service(int timeout_ms);
  // End of the run: deliver what is pending until deadline_ns (mono_ns() clock) or a
  // stop signal's deadline (stop_deadline_ns()), whichever comes first. False when
  // something was lost (counted in stats()).
  virtual bool close(uint64_t deadline_ns) = 0;
  // Events taken and not yet acknowledged (delivered) or dropped.
  virtual uint64_t held() const { return 0; }
  // Hands every event the sink holds and has not had acknowledged to `take` (a whole
  // line without its '\n'), oldest first as far as it knows, and forgets them: the disk
  // queue keeps them for the next start. Returns how many. An event in flight may
  // have been delivered already (at least once).
  virtual uint64_t hand_back(const std::function<void(std::string_view)>& take) {
    (void)take;
    return 0;
  }
  // Events the sink dropped or failed to deliver, for the progress line.
  virtual uint64_t dropped() const { return 0; }
  // The sink's own counters, added to the stats object.
  virtual void stats(JsonWriter& w) const { (void)w; }
  virtual std::string error() const { return error_; }

 protected:
  // Services the sink until pending() is 0 or the close deadline (or a later stop
  // signal's) has passed; returns what is still pending.
  template <class Pending>
  uint64_t drain(uint64_t deadline_ns, Pending&& pending) {
    while (pending() > 0 && before_close_deadline(deadline_ns)) service(50);
    return pending();
  }
  static bool before_close_deadline(uint64_t deadline_ns) {
    return mono_ns() < std::min(deadline_ns, stop_deadline_ns());
  }
  std::string error_;
};

// Events an output refused for good, counted by kind (`<prefix>.failed` and
// `<prefix>.failed.<kind>`, at most 64 kinds) and logged the first 10 times. add() on
// the output thread; total() and write() from the monitor thread too.
class FailureTally {
 public:
  explicit FailureTally(std::string prefix) : prefix_(std::move(prefix)) {}
  void add(const std::string& kind, uint64_t events, const std::string& message) {
    total_.fetch_add(events, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> g(mu_);
      if (by_kind_.size() < 64 || by_kind_.count(kind)) by_kind_[kind] += events;
    }
    if (logged_ < 10)
      log_line("warn",
               prefix_ + ": " + message + (++logged_ == 10 ? " (further ones are only counted)" : ""));
  }
  uint64_t total() const { return total_.load(std::memory_order_relaxed); }
  void write(JsonWriter& w) const {
    w.field_uint(prefix_ + ".failed", total());
    std::lock_guard<std::mutex> g(mu_);
    for (const auto& [kind, n] : by_kind_) w.field_uint(prefix_ + ".failed." + kind, n);
  }

 private:
  std::string prefix_;
  std::atomic<uint64_t> total_{0};
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> by_kind_;
  int logged_ = 0;
};

// Whole lines of `lines` (the last one may lack its '\n') handed to on_line (without
// the '\n') while `room` lasts (one per line); returns the bytes taken.
template <class F>
std::size_t take_lines(std::string_view lines, uint64_t room, F&& on_line) {
  std::size_t taken = 0;
  for (; taken < lines.size() && room > 0; --room) {
    const std::size_t nl = lines.find('\n', taken);
    const std::size_t end = nl == std::string_view::npos ? lines.size() : nl;
    on_line(lines.substr(taken, end - taken));
    taken = nl == std::string_view::npos ? end : end + 1;
  }
  return taken;
}

// Why "host", "host:port", "[v6]" or "[v6]:port" is not an address (a port must be
// 1-65535), or "" when it is.
std::string host_port_error(std::string_view host_port);

// How an output is opened.
enum class SinkOpen {
  // A run: a network output whose hosts do not answer at start is opened all the
  // same (a warning says so); events wait in its queue and go once a host answers.
  kRun,
  // `tapbeat test config`: every setting is checked, folders and files are looked
  // at, nothing is created and no connection is made.
  kCheckOnly,
  // `tapbeat test output`: as a run, but a host must answer within the output's
  // timeout, else std::runtime_error says which hosts and why.
  kRequireConnection,
};

// How long a run waits at start to learn whether a network output's hosts answer
// (each host, or the Kafka metadata request) before going on without them.
constexpr int kStartProbeMs = 3000;

// The end of the warning a run logs when no host of its output answers at start: that
// capture goes on and where events wait (memory, or queue.disk when configured).
std::string output_down_note(const Config& cfg, uint64_t mem_events);

// Throws ConfigError for a bad setting, std::runtime_error with a clear message when
// the sink cannot be opened.
std::unique_ptr<Sink> make_sink(const Config& cfg, SinkOpen how = SinkOpen::kRun);

// Re-indents one compact JSON line (our own output) two spaces per level.
void pretty_print(std::string_view line, std::string& out);

}  // namespace tapbeat
