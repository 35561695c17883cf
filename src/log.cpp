#include "log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <string>

#include "control.hpp"
#include "event/json_writer.hpp"
#include "util/encode.hpp"
#include "util/safe_file.hpp"

namespace tapbeat {
namespace {
std::mutex g_log_mutex;  // log lines come from several control threads, never workers

int rank(std::string_view level) {
  if (level == "debug") return 0;
  if (level == "info") return 1;
  if (level == "warn" || level == "warning") return 2;
  if (level == "error") return 3;
  return 4;  // critical
}

// What configure_logging() set; guarded by g_log_mutex.
struct Sinks {
  int min_rank = 0;
  bool to_stderr = true;
  bool json = true;
  int fd = -1;  // the current log file
  uint64_t size = 0;
  int64_t period = 0;  // logging.files.interval: the period the current file was opened in
  LoggingConfig files;
} g_sinks;

// The period a time falls in for logging.files.interval, as Beats counts them: 1m, 1h,
// 24h, 7*24h, 30*24h and 365*24h follow the local clock's minutes, hours, days, weeks
// (from Monday), months and years; any other interval counts from the Unix epoch.
int64_t period_of(uint64_t now_ns, uint64_t interval_ns) {
  const time_t t = static_cast<time_t>(now_ns / 1'000'000'000);
  struct tm lt {};
  localtime_r(&t, &lt);
  constexpr uint64_t kHour = 3'600'000'000'000, kDay = 24 * kHour;
  if (interval_ns == 30 * kDay) return int64_t{lt.tm_year} * 12 + lt.tm_mon;
  if (interval_ns == 365 * kDay) return lt.tm_year;
  const int64_t local_s = static_cast<int64_t>(t) + lt.tm_gmtoff;
  if (interval_ns == 7 * kDay) return (local_s / 86400 + 3) / 7;  // 1970-01-01 was a Thursday
  if (interval_ns == 60'000'000'000 || interval_ns == kHour || interval_ns == kDay)
    return local_s / static_cast<int64_t>(interval_ns / 1'000'000'000);
  return static_cast<int64_t>(now_ns / interval_ns);
}

std::string file_path(int generation) {
  const std::string base = g_sinks.files.files_path + "/" + g_sinks.files.files_name;
  return generation == 0 ? base : base + "." + std::to_string(generation);
}

void open_file() {
  std::string err;
  g_sinks.fd = open_append_private(file_path(0), static_cast<mode_t>(g_sinks.files.permissions), err);
  if (g_sinks.fd < 0) throw std::runtime_error("logging.files: " + file_path(0) + ": " + err);
  struct stat st {};
  g_sinks.size = ::fstat(g_sinks.fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (g_sinks.files.interval_ns) g_sinks.period = period_of(wall_ns(), g_sinks.files.interval_ns);
}

// name.(keep-2) -> name.(keep-1), ..., name -> name.1, then a new name.
void rotate() {
  ::close(g_sinks.fd);
  g_sinks.fd = -1;
  for (int g = static_cast<int>(g_sinks.files.keep_files) - 2; g >= 0; --g)
    std::rename(file_path(g).c_str(), file_path(g + 1).c_str());
  try {
    open_file();
  } catch (const std::exception& e) {
    const std::string line = std::string("tapbeat: ") + e.what() + "\n";
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
  }
}

void write_line(std::string_view level, std::string_view message, std::string_view key,
                std::string_view json) {
  {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    if (rank(level) < g_sinks.min_rank) return;
  }
  std::string buf(256 + message.size() * 2 + json.size(), '\0');
  JsonWriter w(buf.data(), buf.size());
  const uint64_t now = wall_ns();
  char ts[32];
  const auto n = format_time_ms(now, ts);
  std::string text;
  std::lock_guard<std::mutex> lock(g_log_mutex);
  if (g_sinks.json) {
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
    text.assign(w.view());
  } else {  // Beats' console format: time, level, logger, message, then the fields
    std::string upper(level);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    text = std::string(ts, n) + "\t" + upper + "\ttapbeat\t" + std::string(message);
    if (!key.empty()) text += "\t{\"" + std::string(key) + "\": " + std::string(json) + "}";
    text += "\n";
  }
  if (g_sinks.to_stderr) {
    ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
    (void)ignored;
  }
  if (g_sinks.fd >= 0) {
    if (g_sinks.size > 0 &&
        (g_sinks.size + text.size() > g_sinks.files.rotate_every_bytes ||
         (g_sinks.files.interval_ns && period_of(now, g_sinks.files.interval_ns) != g_sinks.period)))
      rotate();
    if (g_sinks.fd >= 0 && ::write(g_sinks.fd, text.data(), text.size()) > 0) g_sinks.size += text.size();
  }
}
}  // namespace

void configure_logging(const LoggingConfig& cfg) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_sinks.min_rank = rank(cfg.level);
  g_sinks.to_stderr = cfg.to_stderr;
  g_sinks.json = cfg.json;
  g_sinks.files = cfg;
  if (g_sinks.fd >= 0) ::close(g_sinks.fd), g_sinks.fd = -1;
  if (!cfg.to_files) return;
  if (const std::string why = prepare_private_dir(cfg.files_path); !why.empty())
    throw std::runtime_error("logging.files.path: " + cfg.files_path + ": " + why);
  open_file();
  if (cfg.rotate_on_startup && g_sinks.size > 0) rotate();  // Beats' default: a new file each start
}

std::string redact_credentials(std::string_view text) {
  constexpr std::string_view kMask = "xxxxx";
  std::string out;
  std::size_t from = 0;
  for (std::size_t at = text.find("://"); at != std::string_view::npos; at = text.find("://", at + 3)) {
    const std::size_t start = at + 3;
    // The authority ends at a path, query or fragment, or where the URL's text ends.
    std::size_t end = start;
    while (end < text.size() && std::string_view("/?#\"' ,;]}\n\t").find(text[end]) == std::string_view::npos)
      ++end;
    const std::size_t amp = text.substr(start, end - start).rfind('@');
    if (amp == std::string_view::npos) continue;
    const std::string_view userinfo = text.substr(start, amp);
    const std::size_t colon = userinfo.find(':');
    out.append(text.substr(from, start - from));
    if (colon != std::string_view::npos) out.append(userinfo.substr(0, colon + 1));
    out.append(kMask);
    from = start + amp;  // from the '@' on
  }
  if (from == 0) return std::string(text);
  out.append(text.substr(from));
  return out;
}

void log_line(std::string_view level, std::string_view message) {
  write_line(level, redact_credentials(message), {}, {});
}

void log_json(std::string_view level, std::string_view message, std::string_view key, std::string_view json) {
  write_line(level, redact_credentials(message), key, json);
}

}  // namespace tapbeat
