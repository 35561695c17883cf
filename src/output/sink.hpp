// Where event bytes go: console, rotating files, Kafka. Runs on the output thread
// only, except stats() and dropped(), which the monitor thread calls.
#pragma once

#include <cstdint>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "event/json_writer.hpp"

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
  // End of the run: deliver what is pending within the sink's shutdown budget.
  // False when something was lost (counted in stats()).
  virtual bool close() = 0;
  // Events the sink dropped or failed to deliver, for the progress line.
  virtual uint64_t dropped() const { return 0; }
  // The sink's own counters, added to the stats object.
  virtual void stats(JsonWriter& w) const { (void)w; }
  virtual std::string error() const { return error_; }

 protected:
  std::string error_;
};

// Throws std::runtime_error with a clear message when the sink cannot be opened.
std::unique_ptr<Sink> make_sink(const Config& cfg);

// Re-indents one compact JSON line (our own output) two spaces per level.
void pretty_print(std::string_view line, std::string& out);

}  // namespace tapbeat
