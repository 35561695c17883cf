#include "monitor_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tapbeat {

namespace {

constexpr std::size_t kMaxRequest = 8192;
constexpr int kRequestMs = 200;

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    default:
      return "Bad Request";
  }
}

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client went away
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

MonitorHttp::~MonitorHttp() {
  if (fd_ >= 0) ::close(fd_);
}

void MonitorHttp::open(const std::string& host, uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const std::string h = host == "localhost" ? "127.0.0.1" : host;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, h.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    len = sizeof *a4;
  } else if (::inet_pton(AF_INET6, h.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    len = sizeof *a6;
  } else {
    throw std::runtime_error("http.host: '" + host + "' is not an IP address or localhost");
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("monitoring endpoint: socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 16) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("monitoring endpoint: cannot listen on " + host + ":" + std::to_string(port) +
                             ": " + why);
  }
  fd_ = fd;
}

void MonitorHttp::wait(int timeout_ms, int wake_fd) const {
  pollfd p[2] = {{fd_, POLLIN, 0}, {wake_fd, POLLIN, 0}};  // poll() skips a descriptor of -1
  ::poll(p, 2, timeout_ms);
}

void MonitorHttp::serve(const Handler& handler) {
  if (fd_ < 0) return;
  for (;;) {
    const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;  // none waiting (EAGAIN) or a transient error: next tick
    std::string req;
    char buf[1024];
    while (req.size() < kMaxRequest && req.find("\r\n\r\n") == std::string::npos) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, kRequestMs) <= 0) break;
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, static_cast<std::size_t>(n));
    }
    Reply r{400, "text/plain", "bad request\n"};
    const std::size_t sp1 = req.find(' '), sp2 = sp1 == std::string::npos ? sp1 : req.find(' ', sp1 + 1);
    if (sp2 != std::string::npos) {
      const std::string method = req.substr(0, sp1);
      std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
      path = path.substr(0, path.find('?'));
      if (method != "GET" && method != "HEAD")
        r = {405, "text/plain", "only GET\n"};
      else
        r = handler(path);
      if (method == "HEAD") r.body.clear();
    }
    write_all(c, "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\nContent-Type: " +
                     r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
                     "\r\nConnection: close\r\n\r\n" + r.body);
    ::close(c);
  }
}

}  // namespace tapbeat
