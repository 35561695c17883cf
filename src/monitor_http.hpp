// The monitoring endpoint (Beats' http.enabled/host/port, default localhost:5066):
// GET / (the Beat's identity), /stats (every counter, nested by its dotted name)
// and /metrics (Prometheus text: per worker, per protocol). Served from the
// pipeline's monitor thread between its ticks: a non-blocking listening socket,
// one short request per connection, answered and closed. Control thread only.
#pragma once

#include <functional>
#include <string>

namespace tapbeat {

class MonitorHttp {
 public:
  // (status line, content type, body) for a path.
  struct Reply {
    int status;
    std::string content_type, body;
  };
  using Handler = std::function<Reply(const std::string& path)>;

  MonitorHttp() = default;
  ~MonitorHttp();
  MonitorHttp(const MonitorHttp&) = delete;
  MonitorHttp& operator=(const MonitorHttp&) = delete;

  // Binds host:port (an IPv4 or IPv6 address, or localhost); throws std::runtime_error.
  void open(const std::string& host, uint16_t port);
  bool is_open() const { return fd_ >= 0; }
  // Answers the connections waiting now (each bounded to 200 ms for its request).
  void serve(const Handler& handler);
  // Waits up to timeout_ms for a connection, or for wake_fd to become readable.
  void wait(int timeout_ms, int wake_fd) const;

 private:
  int fd_ = -1;
};

}  // namespace tapbeat
