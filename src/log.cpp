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
  const auto n = format_time_ms(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()), ts);
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
