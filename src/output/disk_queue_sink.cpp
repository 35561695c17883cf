#include "output/disk_queue_sink.hpp"

#include <atomic>
#include <stdexcept>

#include "event/spool.hpp"
#include "log.hpp"

namespace tapbeat {
namespace {

class DiskQueueSink final : public Sink {
 public:
  DiskQueueSink(const Config& cfg, std::string type, std::unique_ptr<Sink> inner)
      : type_(std::move(type)), inner_(std::move(inner)) {
    try {
      spool_ = std::make_unique<Spool>(
          SpoolSettings{cfg.queue.disk_path, cfg.queue.disk_max_bytes, cfg.queue.disk_segment_bytes},
          [](const std::string& m) { log_line("warn", m); });
    } catch (const std::runtime_error& e) {
      throw ConfigError(cfg.file, "queue.disk.path", e.what());
    }
    if (!spool_->empty()) {
      spooling_ = true;
      log_line("info", "disk queue " + cfg.queue.disk_path + " holds " + std::to_string(spool_->bytes()) +
                           " bytes from an earlier run; they are sent first");
    }
    publish_spool_stats();
  }

  std::size_t write(std::string_view lines) override {
    std::size_t done = 0;
    if (!spooling_) {
      const std::size_t took = inner_->write(lines);
      if (took == kFailed || took == lines.size()) return took;
      done = took;
      spooling_ = true;
      log_line("warn", "output." + type_ + ": the output is not keeping up; events go to the disk queue");
    }
    take_lines(lines.substr(done), UINT64_MAX, [&](std::string_view e) { to_spool(e, false); });
    return lines.size();
  }

  void service(int timeout_ms) override {
    inner_->service(spooling_ ? std::min(timeout_ms, 10) : timeout_ms);
    if (spooling_) drain();
    const uint64_t now = mono_ns();
    if (now >= next_sync_ns_) {
      spool_->sync();
      next_sync_ns_ = now + 1'000'000'000;
    }
  }

  uint64_t held() const override { return inner_->held(); }

  bool close(uint64_t deadline_ns) override {
    while ((spooling_ || inner_->held() > 0) && before_close_deadline(deadline_ns)) service(50);
    if (inner_->held() > 0) {
      const uint64_t full0 = dropped_full_.load();
      const uint64_t n = inner_->hand_back([&](std::string_view e) { to_spool(e, true); });
      log_line("warn", "output." + type_ + ": " + std::to_string(n) +
                           " events not delivered within tapbeat.shutdown_timeout: " +
                           std::to_string(n - (dropped_full_.load() - full0)) +
                           " kept in the disk queue for the next start, " +
                           std::to_string(dropped_full_.load() - full0) +
                           " dropped as it is full (output.queue.disk.dropped_full)");
    }
    const bool inner_ok = inner_->close(mono_ns());
    spool_->close();
    publish_spool_stats();
    return inner_ok && dropped_full_.load() == 0 && write_errors_.load() == 0;
  }

  uint64_t dropped() const override {
    return inner_->dropped() + dropped_full_.load() + write_errors_.load();
  }

  void stats(JsonWriter& w) const override {
    inner_->stats(w);
    w.field_uint("output.queue.disk.spooled", spooled_.load());
    w.field_uint("output.queue.disk.read", read_.load());
    w.field_uint("output.queue.disk.bytes", bytes_.load());
    w.field_uint("output.queue.disk.dropped_full", dropped_full_.load());
    w.field_uint("output.queue.disk.write_errors", write_errors_.load());
    w.field_uint("output.queue.disk.corrupt_segments", corrupt_.load());
    w.field_uint("output.queue.disk.invalid_records", invalid_.load());
  }

  std::string error() const override { return inner_->error(); }

 private:
  void to_spool(std::string_view line, bool front) {
    const SpoolRecord r{{}, {}, line, 0};
    const Spool::Push res = front ? spool_->push_front(r) : spool_->push(r);
    if (res == Spool::Push::kOk) {
      bump(spooled_);
    } else if (res == Spool::Push::kFull) {
      if (dropped_full_.fetch_add(1) == 0)
        log_line("error",
                 "disk queue full (queue.disk.max_size); events dropped (counted in "
                 "output.queue.disk.dropped_full)");
    } else if (write_errors_.fetch_add(1) == 0) {
      log_line("error", "disk queue write failed: " + spool_->error() +
                            "; events dropped (counted in output.queue.disk.write_errors)");
    }
    bytes_.store(spool_->bytes(), std::memory_order_relaxed);
  }

  // Offers spooled events to the output, oldest first, while it takes them.
  void drain() {
    SpoolRecord r;
    uint32_t token = 0;
    while (spool_->peek(r, token)) {
      const std::size_t took = inner_->write(r.value);
      if (took != kFailed && took < r.value.size()) break;  // full: later
      if (took == kFailed) bump(write_errors_);             // the output refused it for good
      spool_->pop();
      spool_->ack(token);
      bump(read_);
    }
    if (spool_->empty()) {
      spooling_ = false;
      log_line("info", "output." + type_ + ": disk queue drained");
    }
    publish_spool_stats();
  }

  void publish_spool_stats() {
    bytes_.store(spool_->bytes(), std::memory_order_relaxed);
    corrupt_.store(spool_->corrupt_segments(), std::memory_order_relaxed);
    invalid_.store(spool_->invalid_records(), std::memory_order_relaxed);
  }

  std::string type_;
  std::unique_ptr<Sink> inner_;
  std::unique_ptr<Spool> spool_;
  bool spooling_ = false;  // events go through the disk queue until it is empty
  uint64_t next_sync_ns_ = 0;
  std::atomic<uint64_t> spooled_{0}, read_{0}, bytes_{0}, dropped_full_{0}, write_errors_{0}, corrupt_{0},
      invalid_{0};
};

}  // namespace

std::unique_ptr<Sink> make_disk_queue_sink(const Config& cfg, const std::string& type,
                                           std::unique_ptr<Sink> inner) {
  return std::make_unique<DiskQueueSink>(cfg, type, std::move(inner));
}

}  // namespace tapbeat
