#include "output/sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "output/disk_queue_sink.hpp"
#include "output/elasticsearch_sink.hpp"
#include "output/kafka_sink.hpp"
#include "output/logstash_sink.hpp"
#include "output/redis_sink.hpp"
#include "util/fd_io.hpp"
#include "util/safe_file.hpp"

namespace tapbeat {

void pretty_print(std::string_view line, std::string& out) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  auto indent = [&] { out.append(static_cast<std::size_t>(depth) * 2, ' '); };
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      out += c;
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        out += c;
        break;
      case '{':
      case '[': {
        out += c;
        const char close = c == '{' ? '}' : ']';
        if (i + 1 < line.size() && line[i + 1] == close) {
          out += close;
          ++i;
          break;
        }
        ++depth;
        out += '\n';
        indent();
        break;
      }
      case '}':
      case ']':
        --depth;
        out += '\n';
        indent();
        out += c;
        break;
      case ',':
        out += ",\n";
        indent();
        break;
      case ':':
        out += ": ";
        break;
      case '\n':
        break;
      default:
        out += c;
    }
  }
  out += '\n';
}

void Sink::service(int timeout_ms) {
  if (timeout_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
}

namespace {

bool write_all(int fd, const char* p, std::size_t n, std::string& err) {
  if (tapbeat::write_all(fd, p, n)) return true;
  err = std::strerror(errno);
  return false;
}

class ConsoleSink : public Sink {
 public:
  explicit ConsoleSink(bool pretty) : pretty_(pretty) {}
  std::size_t write(std::string_view lines) override {
    if (!pretty_)
      return write_all(STDOUT_FILENO, lines.data(), lines.size(), error_) ? lines.size() : kFailed;
    buf_.clear();
    std::size_t start = 0;
    while (start < lines.size()) {
      std::size_t end = lines.find('\n', start);
      if (end == std::string_view::npos) end = lines.size();
      pretty_print(lines.substr(start, end - start), buf_);
      start = end + 1;
    }
    return write_all(STDOUT_FILENO, buf_.data(), buf_.size(), error_) ? lines.size() : kFailed;
  }
  bool close(uint64_t) override { return true; }

 private:
  bool pretty_;
  std::string buf_;
};

// Files named <filename>-<YYYYMMDD>.ndjson, then -1, -2, ... as each reaches
// rotate_every_kb; at most number_of_files are kept, the oldest removed first.
class FileSink : public Sink {
 public:
  explicit FileSink(const OutputConfig& c) : cfg_(c) {
    if (const std::string why = prepare_private_dir(cfg_.path); !why.empty())
      throw std::runtime_error("output.file.path: " + why);
    if (!open_next(cfg_.rotate_on_startup))
      throw std::runtime_error("output.file: cannot open " + current_ + ": " + error_);
  }
  ~FileSink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  std::size_t write(std::string_view lines) override {
    const uint64_t limit = cfg_.rotate_every_kb * 1024;
    std::size_t start = 0;
    while (start < lines.size()) {
      // Take the run of whole events that fits; a file always gets at least one.
      std::size_t end = start;
      uint64_t size = written_;
      while (end < lines.size()) {
        const std::size_t nl = lines.find('\n', end);
        const std::size_t next = nl == std::string_view::npos ? lines.size() : nl + 1;
        if (size > 0 && size + (next - end) > limit) break;
        size += next - end;
        end = next;
      }
      if (end > start) {
        if (!write_all(fd_, lines.data() + start, end - start, error_)) return kFailed;
        written_ = size;
        start = end;
      }
      if (start < lines.size() && !open_next(true)) return kFailed;
    }
    return lines.size();
  }
  bool close(uint64_t) override { return fd_ < 0 || ::fdatasync(fd_) == 0 || errno == EINVAL; }

 private:
  std::string name_for(unsigned seq) const {
    char date[16];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%Y%m%d", &tm);
    std::string n = cfg_.path + "/" + cfg_.filename + "-" + date;
    if (seq > 0) n += "-" + std::to_string(seq);
    return n + ".ndjson";
  }

  bool open_next(bool fresh) {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
      files_.push_back(current_);
    }
    for (;;) {
      current_ = name_for(seq_);
      if (!fresh || !std::filesystem::exists(current_)) break;
      files_.push_back(current_);
      ++seq_;
    }
    ++seq_;
    while (files_.size() + 1 > cfg_.number_of_files) {
      std::error_code ec;
      std::filesystem::remove(files_.front(), ec);
      files_.erase(files_.begin());
    }
    fd_ = open_append_private(current_, static_cast<mode_t>(cfg_.permissions), error_);
    if (fd_ < 0) return false;
    struct stat st {};
    written_ = ::fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    return true;
  }

  OutputConfig cfg_;
  int fd_ = -1;
  unsigned seq_ = 0;
  uint64_t written_ = 0;
  std::string current_;
  std::vector<std::string> files_;
};

}  // namespace

std::string host_port_error(std::string_view hp) {
  if (hp.empty()) return "an empty host";
  for (const char c : hp)
    if (static_cast<unsigned char>(c) <= ' ' ||
        std::string_view("\"'<>\\/@#?{}|^`").find(c) != std::string_view::npos)
      return std::string("'").append(1, c).append("' has no place in a host name");
  std::string_view port;
  if (hp.front() == '[') {
    const std::size_t close = hp.find(']');
    if (close == std::string_view::npos || close == 1) return "an IPv6 address in [] is not closed";
    if (close + 1 < hp.size()) {
      if (hp[close + 1] != ':') return "expected [address]:port";
      port = hp.substr(close + 2);
    } else {
      return {};
    }
  } else {
    const std::size_t colon = hp.rfind(':');
    if (colon == std::string_view::npos) return {};
    if (hp.find(':') != colon) return {};  // a bare IPv6 address
    if (colon == 0) return "no host before the port";
    port = hp.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
    return "port '" + std::string(port) + "' is not a number";
  const unsigned long n = std::stoul(std::string(port));
  if (n < 1 || n > 65535) return "port " + std::string(port) + " is out of range (1-65535)";
  return {};
}

std::string output_down_note(const Config& cfg, uint64_t mem_events) {
  if (cfg.queue.disk) return "capture goes on; events go to the disk queue until a host answers";
  if (mem_events == 0)
    return "capture goes on; events wait in the workers' queues until a host answers (when those are full "
           "live capture drops them, counted, and reading a file waits; queue.disk keeps them on disk "
           "instead)";
  return "capture goes on; events wait in memory until a host answers (" + std::to_string(mem_events) +
         " at most, queue.mem.events; beyond that live capture drops them, counted, and reading a file "
         "waits; queue.disk keeps them on disk instead)";
}

std::unique_ptr<Sink> make_sink(const Config& config, SinkOpen how) {
  const OutputConfig& cfg = *config.output;
  if (cfg.type == "console") return std::make_unique<ConsoleSink>(cfg.pretty);
  if (cfg.type == "file") {
    if (how == SinkOpen::kCheckOnly) {
      if (const std::string why = check_private_dir(cfg.path); !why.empty())
        throw ConfigError(config.file, "output.file.path", why);
      return std::make_unique<ConsoleSink>(false);  // never written to
    }
    return std::make_unique<FileSink>(cfg);
  }
  if (cfg.type == "kafka") return make_kafka_sink(config, how);  // has its own disk queue
  if (cfg.type == "logstash" || cfg.type == "elasticsearch" || cfg.type == "redis") {
    auto sink = cfg.type == "logstash"        ? make_logstash_sink(config, how)
                : cfg.type == "elasticsearch" ? make_elasticsearch_sink(config, how)
                                              : make_redis_sink(config, how);
    if (!config.queue.disk || how == SinkOpen::kRequireConnection) return sink;
    if (how == SinkOpen::kCheckOnly) {
      if (const std::string why = check_private_dir(config.queue.disk_path); !why.empty())
        throw ConfigError(config.file, "queue.disk.path", why);
      return sink;
    }
    return make_disk_queue_sink(config, cfg.type, std::move(sink));
  }
  throw ConfigError(config.file, "output." + cfg.type, "output " + cfg.type + " is not available yet");
}

}  // namespace tapbeat
