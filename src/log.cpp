#include "log.hpp"

#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>

#include "event/json_writer.hpp"
#include "util/encode.hpp"

namespace tapbeat {
namespace {
std::mutex g_log_mutex;  // log lines come from several control threads, never workers

void write_line(std::string_view level, std::string_view message, std::string_view key,
                std::string_view json) {
  std::string buf(256 + message.size() * 2 + json.size(), '\0');
  JsonWriter w(buf.data(), buf.size());
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  char ts[32];
  const auto n = format_time_ms(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()), ts);
  w.begin_object();
  w.field("@timestamp", std::string_view(ts, n));
  w.field("log.level", level);
  w.field("log.logger", "tapbeat");
  w.field("message", message);
  if (!key.empty()) {
    w.key(key);
    w.raw(json);
  }
  w.end_object();
  w.newline();
  std::lock_guard<std::mutex> lock(g_log_mutex);
  ssize_t ignored = ::write(STDERR_FILENO, buf.data(), w.size());
  (void)ignored;
}
}  // namespace

void log_line(std::string_view level, std::string_view message) {
  write_line(level, message, {}, {});
}

void log_json(std::string_view level, std::string_view message, std::string_view key,
              std::string_view json) {
  write_line(level, message, key, json);
}

}  // namespace tapbeat
