// output.logstash: the Beats (Lumberjack v2) protocol, as Beats' logstash output
// speaks it to Logstash's beats input.
//
// Each connection sends windows: a window frame ('2' 'W', event count), then the
// events as JSON frames ('2' 'J', sequence 1..n, length, document), all of them in
// one zlib-compressed frame ('2' 'C') unless compression_level is 0. The server
// acknowledges with '2' 'A' and the sequence of the last event it took (0 is a
// keepalive, partial sequences are progress). Up to `pipelining` windows are in
// flight per connection. The events of a window are kept until acknowledged: when a
// connection fails (an error, the peer closing, no acknowledgement within
// `timeout`) the unacknowledged ones are sent again, first, on the next connection
// ready, and dropped (counted) only after max_retries failed attempts; hosts are
// retried with exponential backoff. `loadbalance` spreads windows over every host
// (`worker` connections each); otherwise one host at a time takes them all and the
// next takes over when it fails. TLS (ssl.*) through OpenSSL. Everything runs on
// the output thread: non-blocking sockets driven by poll() in service().
#include "output/logstash_sink.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "control.hpp"
#include "log.hpp"
#include "output/net_client.hpp"

namespace tapbeat {
namespace {

constexpr uint8_t kVersion = '2';

void put_be32(std::string& s, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16 & 0xff),
                     static_cast<char>(v >> 8 & 0xff), static_cast<char>(v & 0xff)};
  s.append(b, 4);
}

// Events of one window: their lines, back to back, and where each ends.
struct Window {
  std::string data;
  std::vector<uint32_t> ends;
  uint32_t acked = 0;     // events the server has acknowledged
  uint32_t attempts = 0;  // sends that failed
  uint64_t sent_ns = 0;
  std::size_t count() const { return ends.size(); }
  std::string_view event(std::size_t i) const {
    const uint32_t b = i ? ends[i - 1] : 0;
    return std::string_view(data).substr(b, ends[i] - b - 1);  // without its '\n'
  }
};

struct Host : HostPort {
  bool failed_at_start = false;  // a connection to it has failed (start-up waits for each)
};

enum class State { kDown, kConnecting, kHandshake, kReady };

struct Conn {
  int host = 0;
  int fd = -1;
  SSL* ssl = nullptr;
  State state = State::kDown;
  std::string out;  // encoded windows not yet written
  std::size_t out_off = 0;
  uint8_t in[64];
  std::size_t in_len = 0;
  std::deque<Window> windows;  // sent, oldest first, awaiting acknowledgement
  uint64_t next_attempt_ns = 0;
  uint64_t backoff_ns = 0;
  uint64_t ready_ns = 0;
  uint64_t last_heard_ns = 0;
  uint32_t window_size = 0;  // events per window (grows under slow_start)
  bool failed_once = false;  // the last attempt failed (warnings once per outage)
  bool handshake_wants_write = false;
};

class LogstashSink final : public Sink {
 public:
  LogstashSink(const Config& cfg, SinkOpen how) : file_(cfg.file) {
    const YAML::Node s = cfg.output->raw;
    auto fail = [&](const std::string& key, const std::string& why) {
      throw ConfigError(file_, "output.logstash" + (key.empty() ? "" : "." + key), why);
    };
    if (!s["hosts"] || !s["hosts"].IsSequence() || s["hosts"].size() == 0)
      fail("hosts", "at least one host:port is needed");
    for (const auto& h : s["hosts"]) {
      Host host;
      if (const std::string why = parse_host_port(h.as<std::string>(), "5044", host); !why.empty())
        fail("hosts", why);  // 5044: Logstash's beats input
      hosts_.push_back(std::move(host));
    }
    if (s["proxy_url"]) fail("proxy_url", "SOCKS5 proxies are not supported; connect directly");
    if (s["escape_html"] && s["escape_html"].as<bool>())
      fail("escape_html", "HTML escaping is not supported (false only)");
    loadbalance_ = s["loadbalance"] && s["loadbalance"].as<bool>();
    const YAML::Node workers = s["worker"] ? s["worker"] : s["workers"];
    workers_ = workers ? workers.as<int>() : 1;
    if (workers_ < 1 || workers_ > 64) fail(s["worker"] ? "worker" : "workers", "must be between 1 and 64");
    pipelining_ = s["pipelining"] ? s["pipelining"].as<int>() : 2;
    if (pipelining_ < 0 || pipelining_ > 64) fail("pipelining", "must be between 0 and 64");
    if (pipelining_ == 0) pipelining_ = 1;  // synchronous: one window at a time
    level_ = s["compression_level"] ? s["compression_level"].as<int>() : 3;
    if (level_ < 0 || level_ > 9) fail("compression_level", "must be between 0 and 9");
    bulk_ = s["bulk_max_size"] ? s["bulk_max_size"].as<int>() : 2048;
    if (bulk_ < 1) bulk_ = 2048;  // Beats: 0 or less means the default
    slow_start_ = s["slow_start"] && s["slow_start"].as<bool>();
    max_retries_ = s["max_retries"] ? s["max_retries"].as<int>() : 3;
    if (max_retries_ < -1) fail("max_retries", "must be -1 (retry forever) or more");
    auto duration = [&](const YAML::Node& n, const std::string& key, int64_t fallback) -> uint64_t {
      if (!n) return static_cast<uint64_t>(fallback);
      const auto v = parse_duration_ns(n.as<std::string>());
      if (!v || *v < 0) fail(key, "expected a duration such as 10s");
      return static_cast<uint64_t>(*v);
    };
    timeout_ns_ = duration(s["timeout"], "timeout", 30'000'000'000);
    if (timeout_ns_ == 0) fail("timeout", "must be more than 0");
    ttl_ns_ = duration(s["ttl"], "ttl", 0);
    const YAML::Node backoff = s["backoff"] ? s["backoff"] : YAML::Node(YAML::NodeType::Map);
    backoff_init_ns_ =
        std::max<uint64_t>(duration(backoff["init"], "backoff.init", 1'000'000'000), 1'000'000);
    backoff_max_ns_ = std::max(duration(backoff["max"], "backoff.max", 60'000'000'000), backoff_init_ns_);
    if (s["index"]) index_ = s["index"].as<std::string>();
    if (index_.find_first_of("\"\\") != std::string::npos)
      fail("index", "must not hold quotes or backslashes");
    // Beats' queue.mem.events; with queue.disk in front, only what the connections have
    // in flight: the rest waits on disk.
    max_buffered_ = cfg.queue.mem_events ? cfg.queue.mem_events : 4096;
    if (cfg.queue.disk)
      max_buffered_ = static_cast<uint64_t>(bulk_) * static_cast<uint64_t>(pipelining_) *
                      (loadbalance_ ? static_cast<uint64_t>(workers_) * hosts_.size() : 1);
    if (const YAML::Node t = s["ssl"]; t && (!t["enabled"] || t["enabled"].as<bool>()))
      tls_ = std::make_unique<TlsClient>(t, fail);

    const int per_host = loadbalance_ ? workers_ : 1;
    for (int h = 0; h < static_cast<int>(hosts_.size()); ++h)
      for (int w = 0; w < per_host; ++w) {
        Conn c;
        c.host = h;
        c.backoff_ns = backoff_init_ns_;
        c.window_size = slow_start_ ? 1 : static_cast<uint32_t>(bulk_);
        conns_.push_back(std::move(c));
      }

    if (how == SinkOpen::kCheckOnly) return;
    // Start: `test output` waits up to `timeout` for some host to answer. A run waits
    // until one answers or each has been tried once, and goes on either way: events
    // wait in the queue until a host takes them.
    const uint64_t deadline =
        mono_ns() +
        (how == SinkOpen::kRun ? std::min<uint64_t>(timeout_ns_, kStartProbeMs * 1'000'000ull) : timeout_ns_);
    auto each_tried = [&] {
      return std::all_of(hosts_.begin(), hosts_.end(), [](const Host& h) { return h.failed_at_start; });
    };
    while (mono_ns() < deadline && !any_ready() && (how == SinkOpen::kRequireConnection || !each_tried()))
      service(100);
    if (!any_ready()) {
      std::string names;
      for (const Host& h : hosts_) names += (names.empty() ? "" : ", ") + h.name;
      const std::string why = "no Logstash host of " + names + " answered" +
                              (how == SinkOpen::kRequireConnection
                                   ? " within " + std::to_string(timeout_ns_ / 1'000'000'000) + " s"
                                   : "") +
                              (last_error_.empty() ? "" : " (" + last_error_ + ")");
      if (how == SinkOpen::kRequireConnection) throw std::runtime_error("output.logstash.hosts: " + why);
      log_line("warn", "output.logstash.hosts: " + why + "; " + output_down_note(cfg, max_buffered_));
    }
  }

  ~LogstashSink() override {
    for (Conn& c : conns_) disconnect(c);
  }

  std::size_t write(std::string_view lines) override {
    // Whole lines, while fewer than max_buffered events wait.
    const std::size_t taken =
        take_lines(lines, max_buffered_ - std::min(buffered_, max_buffered_), [&](std::string_view e) {
          pending_.append(e);
          pending_.push_back('\n');
          ++pending_events_;
          ++buffered_;
        });
    dispatch();
    return taken;
  }

  void service(int timeout_ms) override {
    const uint64_t now = mono_ns();
    // Reconnects that are due; windows past their acknowledgement deadline; ttl.
    for (Conn& c : conns_) {
      if (c.state == State::kDown && wanted(c) && now >= c.next_attempt_ns) connect(c, now);
      if (c.state == State::kReady && !c.windows.empty() &&
          now - std::max(c.windows.front().sent_ns, c.last_heard_ns) > timeout_ns_)
        fail(c, "no acknowledgement within output.logstash.timeout");
      if (c.state == State::kReady && ttl_ns_ && c.windows.empty() && c.out_off == c.out.size() &&
          now - c.ready_ns >= ttl_ns_) {
        disconnect(c);  // ttl: a fresh connection (Logstash behind a load balancer sees new ones)
        c.next_attempt_ns = now;
      }
    }
    dispatch();
    std::vector<pollfd> fds;
    std::vector<Conn*> owners;
    for (Conn& c : conns_) {
      if (c.fd < 0) continue;
      short ev = POLLIN;
      if (c.state == State::kConnecting || c.out_off < c.out.size() ||
          (c.state == State::kHandshake && c.handshake_wants_write))
        ev |= POLLOUT;
      fds.push_back({c.fd, ev, 0});
      owners.push_back(&c);
    }
    int wait = timeout_ms;
    for (const Conn& c : conns_)
      if (c.state == State::kDown && wanted(c)) {
        const int64_t ms =
            static_cast<int64_t>(c.next_attempt_ns / 1'000'000) - static_cast<int64_t>(now / 1'000'000);
        wait = static_cast<int>(std::clamp<int64_t>(ms, 0, wait));
      }
    if (fds.empty()) {
      if (wait > 0) ::poll(nullptr, 0, wait);
      return;
    }
    if (::poll(fds.data(), fds.size(), wait) <= 0) return;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      Conn& c = *owners[i];
      if (!fds[i].revents || c.fd != fds[i].fd) continue;
      on_ready(c, fds[i].revents);
    }
    dispatch();
  }

  bool close(uint64_t deadline_ns) override {
    const uint64_t left = drain(deadline_ns, [this] { return buffered_; });
    if (left) {
      bump(dropped_shutdown_, left);
      log_line("warn", "output.logstash: " + std::to_string(left) +
                           " events not acknowledged within tapbeat.shutdown_timeout; they are lost");
    }
    for (Conn& c : conns_) disconnect(c);
    return left == 0;
  }

  uint64_t dropped() const override { return dropped_retries_.load() + dropped_shutdown_.load(); }

  uint64_t held() const override { return buffered_; }

  uint64_t hand_back(const std::function<void(std::string_view)>& take) override {
    uint64_t n = 0;
    auto rest = [&](const Window& w) {
      for (std::size_t i = w.acked; i < w.count(); ++i) take(w.event(i)), ++n;
    };
    for (Conn& c : conns_) {
      for (const Window& w : c.windows) rest(w);
      c.windows.clear();
      disconnect(c);
    }
    for (const Window& w : retry_) rest(w);
    retry_.clear();
    std::size_t at = pending_off_;
    for (std::size_t i = 0; i < pending_events_; ++i) {
      const std::size_t nl = pending_.find('\n', at);
      take(std::string_view(pending_).substr(at, nl - at)), ++n;
      at = nl + 1;
    }
    pending_.clear();
    pending_off_ = 0;
    pending_events_ = 0;
    buffered_ = 0;
    queued_.store(0, std::memory_order_relaxed);
    return n;
  }

  void stats(JsonWriter& w) const override {
    w.field_uint("output.logstash.acked", acked_.load());
    w.field_uint("output.logstash.windows", windows_.load());
    w.field_uint("output.logstash.retried", retried_.load());
    w.field_uint("output.logstash.queued", queued_.load());
    w.field_uint("output.logstash.connections", connections_.load());
    w.field_uint("output.logstash.connection_errors", connection_errors_.load());
    w.field_uint("output.logstash.keepalives", keepalives_.load());
    w.field_uint("output.logstash.dropped.retries", dropped_retries_.load());
    w.field_uint("output.logstash.dropped.shutdown", dropped_shutdown_.load());
  }

 private:
  // Connections that should be up: every one with loadbalance; otherwise the
  // current host's.
  bool wanted(const Conn& c) const { return loadbalance_ || c.host == current_host_; }
  bool any_ready() const {
    return std::any_of(conns_.begin(), conns_.end(), [](const Conn& c) { return c.state == State::kReady; });
  }

  void connect(Conn& c, uint64_t now) {
    const Host& h = hosts_[c.host];
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (const int rc = ::getaddrinfo(h.host.c_str(), h.port.c_str(), &hints, &res); rc != 0) {
      attempt_failed(c, now, std::string("cannot resolve: ") + gai_strerror(rc));
      return;
    }
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
      if (::connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) {
        const std::string why = std::strerror(errno);
        ::close(fd);
        fd = -1;
        ::freeaddrinfo(res);
        attempt_failed(c, now, why);
        return;
      }
    }
    ::freeaddrinfo(res);
    if (fd < 0) {
      attempt_failed(c, now, std::strerror(errno));
      return;
    }
    c.fd = fd;
    c.state = State::kConnecting;
    c.last_heard_ns = now;
  }

  void on_ready(Conn& c, short revents) {
    if (c.state == State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) {
        attempt_failed(c, mono_ns(), std::strerror(err));
        return;
      }
      if (!(revents & POLLOUT)) return;
      if (tls_) {
        c.ssl = tls_->session(c.fd, hosts_[c.host].host);
        c.state = State::kHandshake;
      } else {
        became_ready(c);
        return;
      }
    }
    if (c.state == State::kHandshake) {
      const int rc = SSL_connect(c.ssl);
      if (rc == 1) {
        became_ready(c);
      } else {
        const int e = SSL_get_error(c.ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          c.handshake_wants_write = e == SSL_ERROR_WANT_WRITE;
          return;
        }
        attempt_failed(c, mono_ns(), TlsClient::handshake_error(c.ssl));
        return;
      }
    }
    if (c.state != State::kReady) return;
    if (revents & (POLLIN | POLLHUP | POLLERR)) read_acks(c);
    if (c.state == State::kReady && (revents & POLLOUT)) flush(c);
  }

  void became_ready(Conn& c) {
    const uint64_t now = mono_ns();
    c.state = State::kReady;
    c.ready_ns = c.last_heard_ns = now;
    bump(connections_);
    if (c.failed_once) log_line("info", "output.logstash: connected to " + hosts_[c.host].name);
    c.failed_once = false;
  }

  void attempt_failed(Conn& c, uint64_t now, const std::string& why) {
    bump(connection_errors_);
    last_error_ = hosts_[c.host].name + ": " + why;
    if (!c.failed_once) log_line("warn", "output.logstash: " + last_error_ + "; retrying with backoff");
    c.failed_once = true;
    hosts_[c.host].failed_at_start = true;
    // What was sent on this connection and not acknowledged counts a failed attempt.
    // A connection that could not be made sent nothing: the events wait, however long
    // the host stays away (as Beats returns a batch unharmed while it reconnects).
    requeue(c);
    disconnect(c);
    c.next_attempt_ns = now + c.backoff_ns;
    c.backoff_ns = std::min(c.backoff_ns * 2, backoff_max_ns_);
    if (slow_start_) c.window_size = std::max<uint32_t>(1, c.window_size / 2);
    if (!loadbalance_ && c.host == current_host_ && hosts_.size() > 1) {
      // Fail over: the next host takes the events at once.
      current_host_ = (current_host_ + 1) % static_cast<int>(hosts_.size());
      for (Conn& o : conns_)
        if (o.host == current_host_) o.next_attempt_ns = std::min(o.next_attempt_ns, now);
    }
  }

  void fail(Conn& c, const std::string& why) { attempt_failed(c, mono_ns(), why); }

  void disconnect(Conn& c) {
    if (c.ssl) {
      SSL_free(c.ssl);
      c.ssl = nullptr;
    }
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.state = State::kDown;
    c.out.clear();
    c.out_off = 0;
    c.in_len = 0;
  }

  // The unacknowledged events of a failed connection go back, oldest first, ahead
  // of everything not yet sent; past max_retries they are dropped and counted.
  void requeue(Conn& c) {
    while (!c.windows.empty()) {
      Window w = std::move(c.windows.back());
      c.windows.pop_back();
      ++w.attempts;
      const uint64_t left = w.count() - w.acked;
      if (max_retries_ >= 0 && w.attempts > static_cast<uint32_t>(max_retries_)) {
        bump(dropped_retries_, left);
        buffered_ -= left;
        log_line("warn", "output.logstash: " + std::to_string(left) + " events dropped after " +
                             std::to_string(w.attempts) + " failed attempts (max_retries)");
        continue;
      }
      bump(retried_, left);
      retry_.push_front(std::move(w));
    }
  }

  // The next window to send: a retried one (without what was acknowledged) first, else
  // up to `size` pending events. Needs retry_ or pending events.
  Window next_window(uint32_t size) {
    Window w;
    if (!retry_.empty()) {
      w = std::move(retry_.front());
      retry_.pop_front();
      // Only what was not acknowledged goes again.
      if (w.acked) {
        const uint32_t skip = w.ends[w.acked - 1];
        w.data.erase(0, skip);
        w.ends.erase(w.ends.begin(), w.ends.begin() + w.acked);
        for (uint32_t& e : w.ends) e -= skip;
        w.acked = 0;
      }
    } else {
      const std::size_t n = std::min<std::size_t>(pending_events_, size);
      std::size_t at = pending_off_;
      w.ends.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        at = pending_.find('\n', at) + 1;
        w.ends.push_back(static_cast<uint32_t>(at - pending_off_));
      }
      w.data.assign(pending_, pending_off_, at - pending_off_);
      pending_off_ = at;
      pending_events_ -= n;
      if (pending_off_ > (1u << 20) && pending_off_ * 2 > pending_.size()) {
        pending_.erase(0, pending_off_);
        pending_off_ = 0;
      }
      if (pending_events_ == 0) {
        pending_.clear();
        pending_off_ = 0;
      }
    }
    return w;
  }

  // Windows to every ready connection with room in its pipeline.
  void dispatch() {
    for (;;) {
      Conn* best = nullptr;
      for (Conn& c : conns_) {
        if (c.state != State::kReady || static_cast<int>(c.windows.size()) >= pipelining_) continue;
        if (!best || c.windows.size() < best->windows.size()) best = &c;
      }
      if (!best || (retry_.empty() && pending_events_ == 0)) break;
      send(*best, next_window(best->window_size));
    }
    queued_.store(buffered_, std::memory_order_relaxed);
  }

  void send(Conn& c, Window w) {
    // Window frame, then the JSON frames (compressed together unless level 0).
    std::string& out = c.out;
    if (c.out_off == out.size()) {
      out.clear();
      c.out_off = 0;
    }
    out.push_back(kVersion);
    out.push_back('W');
    put_be32(out, static_cast<uint32_t>(w.count()));
    frames_.clear();
    std::string& f = level_ ? frames_ : out;
    for (std::size_t i = 0; i < w.count(); ++i) {
      std::string_view e = w.event(i);
      f.push_back(kVersion);
      f.push_back('J');
      put_be32(f, static_cast<uint32_t>(i + 1));
      // `index` names the beat in @metadata (Logstash's [@metadata][beat]).
      std::size_t at;
      if (!index_.empty() && (at = e.find(kMetaBeat)) != std::string_view::npos && at < 128) {
        const std::size_t v = at + kMetaBeat.size();
        const std::size_t q = e.find('"', v);
        put_be32(f, static_cast<uint32_t>(e.size() - (q - v) + index_.size()));
        f.append(e.substr(0, v));
        f.append(index_);
        f.append(e.substr(q));
      } else {
        put_be32(f, static_cast<uint32_t>(e.size()));
        f.append(e);
      }
    }
    if (level_) {
      uLongf n = compressBound(static_cast<uLong>(frames_.size()));
      zbuf_.resize(n);
      if (compress2(reinterpret_cast<Bytef*>(zbuf_.data()), &n,
                    reinterpret_cast<const Bytef*>(frames_.data()), static_cast<uLong>(frames_.size()),
                    level_) != Z_OK)
        throw std::runtime_error("output.logstash: zlib compression failed");
      out.push_back(kVersion);
      out.push_back('C');
      put_be32(out, static_cast<uint32_t>(n));
      out.append(zbuf_.data(), n);
    }
    w.sent_ns = mono_ns();
    bump(windows_);
    c.windows.push_back(std::move(w));
    flush(c);
  }

  void flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      const char* p = c.out.data() + c.out_off;
      const std::size_t n = c.out.size() - c.out_off;
      ssize_t k;
      if (c.ssl) {
        const int rc = SSL_write(c.ssl, p, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
        if (rc <= 0) {
          const int e = SSL_get_error(c.ssl, rc);
          if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return;
          fail(c, "TLS write: " + ssl_error_text());
          return;
        }
        k = rc;
      } else {
        k = ::send(c.fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
          fail(c, std::string("write: ") + std::strerror(errno));
          return;
        }
      }
      c.out_off += static_cast<std::size_t>(k);
    }
  }

  void read_acks(Conn& c) {
    for (;;) {
      ssize_t k;
      if (c.ssl) {
        const int rc = SSL_read(c.ssl, c.in + c.in_len, static_cast<int>(sizeof c.in - c.in_len));
        if (rc <= 0) {
          const int e = SSL_get_error(c.ssl, rc);
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
          fail(c, e == SSL_ERROR_ZERO_RETURN ? "the server closed the connection"
                                             : "TLS read: " + ssl_error_text());
          return;
        }
        k = rc;
      } else {
        k = ::recv(c.fd, c.in + c.in_len, sizeof c.in - c.in_len, 0);
        if (k == 0) {
          fail(c, "the server closed the connection");
          return;
        }
        if (k < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
          fail(c, std::string("read: ") + std::strerror(errno));
          return;
        }
      }
      c.in_len += static_cast<std::size_t>(k);
      std::size_t off = 0;
      for (; c.in_len - off >= 6; off += 6) {
        const uint8_t* f = c.in + off;
        if (f[0] != kVersion || f[1] != 'A') {
          fail(c, "not a Lumberjack v2 acknowledgement from the server");
          return;
        }
        on_ack(c, uint32_t{f[2]} << 24 | uint32_t{f[3]} << 16 | uint32_t{f[4]} << 8 | f[5]);
        if (c.state != State::kReady) return;
      }
      std::memmove(c.in, c.in + off, c.in_len - off);
      c.in_len -= off;
    }
  }

  void on_ack(Conn& c, uint32_t seq) {
    c.last_heard_ns = mono_ns();
    if (c.windows.empty() || seq == 0) {
      bump(keepalives_);
      return;
    }
    Window& w = c.windows.front();
    if (seq > w.count()) {
      fail(c, "acknowledgement of sequence " + std::to_string(seq) + " in a window of " +
                  std::to_string(w.count()));
      return;
    }
    if (seq > w.acked) {
      bump(acked_, seq - w.acked);
      buffered_ -= seq - w.acked;
      w.acked = seq;
    } else {
      bump(keepalives_);
    }
    if (w.acked == w.count()) {
      c.windows.pop_front();
      c.backoff_ns = backoff_init_ns_;
      if (slow_start_) c.window_size = std::min<uint32_t>(c.window_size * 2, static_cast<uint32_t>(bulk_));
    }
  }

  static constexpr std::string_view kMetaBeat = R"("@metadata":{"beat":")";

  std::string file_;
  std::vector<Host> hosts_;
  std::vector<Conn> conns_;
  int current_host_ = 0;
  bool loadbalance_ = false;
  int workers_ = 1, pipelining_ = 2, level_ = 3, bulk_ = 2048, max_retries_ = 3;
  bool slow_start_ = false;
  uint64_t timeout_ns_, ttl_ns_, backoff_init_ns_, backoff_max_ns_;
  std::string index_;
  std::unique_ptr<TlsClient> tls_;
  std::string last_error_;

  std::string pending_;  // event lines not yet in a window, from pending_off_ on
  std::size_t pending_off_ = 0;
  uint64_t pending_events_ = 0;
  std::deque<Window> retry_;  // windows to send again, first
  uint64_t buffered_ = 0;     // events taken and not yet acknowledged or dropped
  uint64_t max_buffered_;
  std::string frames_, zbuf_;

  std::atomic<uint64_t> acked_{0}, windows_{0}, retried_{0}, queued_{0}, connections_{0},
      connection_errors_{0}, keepalives_{0}, dropped_retries_{0}, dropped_shutdown_{0};
};

}  // namespace

std::unique_ptr<Sink> make_logstash_sink(const Config& cfg, SinkOpen how) {
  return std::make_unique<LogstashSink>(cfg, how);
}

}  // namespace tapbeat
