// output.redis, as Beats' Redis output: each event (its JSON, @metadata included) is
// appended to the list named by `key` (RPUSH; consecutive events for one list in one
// command) or published on that channel (PUBLISH, datatype: channel).
//
// The output thread sends a batch (bulk_max_size events) as one pipeline of commands
// and reads every reply before taking more, on blocking sockets bounded by `timeout`.
// A host that cannot be reached takes nothing: the events wait where they are (the
// workers' queues, or the disk queue) and the host is tried again with backoff; it
// costs no attempt. A batch sent and not answered counts a failed attempt and goes
// again (after a reconnect), past max_retries dropped and counted; what Redis
// confirmed before the failure is not sent twice. An error reply (WRONGTYPE, ...)
// drops that command's events, counted by the error's name; a transient one (OOM,
// LOADING, BUSY, READONLY, TRYAGAIN, MASTERDOWN) retries the batch instead.
#include "output/redis_sink.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "control.hpp"
#include "event/event_fields.hpp"
#include "log.hpp"
#include "output/net_client.hpp"
#include "util/options.hpp"

namespace tapbeat {
namespace {

void append_bulk(std::string& out, std::string_view arg) {
  out += '$';
  out += std::to_string(arg.size());
  out += "\r\n";
  out.append(arg);
  out += "\r\n";
}

void append_command(std::string& out, std::initializer_list<std::string_view> args) {
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (std::string_view a : args) append_bulk(out, a);
}

bool transient(std::string_view error) {
  for (std::string_view p : {"OOM", "LOADING", "BUSY", "READONLY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN"})
    if (error.substr(0, p.size()) == p) return true;
  return false;
}

struct Host : HostPort {
  int fd = -1;
  SSL* ssl = nullptr;
  uint64_t next_attempt_ns = 0;
  uint64_t backoff_ns = 0;
  bool failed_once = false;  // the last attempt failed (one warning per outage)
};

class RedisSink final : public Sink {
 public:
  RedisSink(const Config& cfg, SinkOpen how) : file_(cfg.file) {
    const YAML::Node s = cfg.output->raw;
    auto fail = [&](const std::string& key, const std::string& why) {
      throw ConfigError(file_, "output.redis" + (key.empty() ? "" : "." + key), why);
    };
    if (!s["hosts"] || !s["hosts"].IsSequence() || s["hosts"].size() == 0)
      fail("hosts", "at least one host:port is needed");
    for (const auto& h : s["hosts"]) {
      Host host;
      if (const std::string why = parse_host_port(h.as<std::string>(), "6379", host); !why.empty())
        fail("hosts", why);
      hosts_.push_back(std::move(host));
    }
    try {
      YAML::Node keys = s;
      if (!s["key"] && !s["keys"]) keys["key"] = "tapbeat";  // Beats: the beat's name
      key_ = Selector(keys, "key", "keys");
    } catch (const std::invalid_argument& e) {
      fail("", e.what());
    }
    const std::string datatype = s["datatype"] ? s["datatype"].as<std::string>() : "list";
    if (datatype != "list" && datatype != "channel") fail("datatype", "expected list or channel");
    channel_ = datatype == "channel";
    db_ = s["db"] ? s["db"].as<int>() : 0;
    if (db_ < 0) fail("db", "must be 0 or more");
    if (s["password"]) password_ = s["password"].as<std::string>();
    if (s["proxy_url"]) fail("proxy_url", "SOCKS5 proxies are not supported; connect directly");
    loadbalance_ = !s["loadbalance"] || s["loadbalance"].as<bool>();
    bulk_ = s["bulk_max_size"] ? s["bulk_max_size"].as<int>() : 2048;
    if (bulk_ < 1) bulk_ = 2048;  // Beats: 0 or less means the default
    max_retries_ = s["max_retries"] ? s["max_retries"].as<int>() : 3;
    if (max_retries_ < -1) fail("max_retries", "must be -1 (retry forever) or more");
    auto duration = [&](const YAML::Node& n, const std::string& key, int64_t fallback) -> uint64_t {
      if (!n) return static_cast<uint64_t>(fallback);
      const auto v = parse_duration_ns(n.as<std::string>());
      if (!v || *v <= 0) fail(key, "expected a duration such as 5s");
      return static_cast<uint64_t>(*v);
    };
    timeout_ns_ = duration(s["timeout"], "timeout", 5'000'000'000);
    const YAML::Node backoff = s["backoff"] ? s["backoff"] : YAML::Node(YAML::NodeType::Map);
    backoff_init_ns_ = duration(backoff["init"], "backoff.init", 1'000'000'000);
    backoff_max_ns_ = std::max(duration(backoff["max"], "backoff.max", 60'000'000'000), backoff_init_ns_);
    for (Host& h : hosts_) h.backoff_ns = backoff_init_ns_;
    if (const YAML::Node t = s["ssl"]; t && (!t["enabled"] || t["enabled"].as<bool>()))
      tls_ = std::make_unique<TlsClient>(t, fail);
    if (how == SinkOpen::kCheckOnly) return;

    // Start: each host once; `test output` needs one to answer (within `timeout`).
    const uint64_t deadline = mono_ns() + timeout_ns_;
    do {
      for (std::size_t h = 0; h < hosts_.size() && !any_up(); ++h) connect(hosts_[h]);
      if (!any_up() && how == SinkOpen::kRequireConnection) ::poll(nullptr, 0, 200);
    } while (!any_up() && how == SinkOpen::kRequireConnection && mono_ns() < deadline);
    if (!any_up()) {
      std::string names;
      for (const Host& h : hosts_) names += (names.empty() ? "" : ", ") + h.name;
      const std::string why = "no Redis host of " + names + " answered (" + last_error_ + ")";
      if (how == SinkOpen::kRequireConnection) throw std::runtime_error("output.redis.hosts: " + why);
      log_line("warn", "output.redis.hosts: " + why + "; " + output_down_note(cfg, 0));
    }
  }

  ~RedisSink() override {
    for (Host& h : hosts_) disconnect(h);
  }

  std::size_t write(std::string_view lines) override {
    Host* h = pick();
    if (!h) return 0;  // nobody to send to: the events wait (no attempt spent)
    // The batch: up to bulk_max_size events, grouped into commands.
    out_.clear();
    cmd_end_.clear();
    cmd_events_.clear();
    std::size_t taken = 0, events = 0;
    std::string last_key;
    std::size_t run_start = 0;  // a list command's first value in out_ is written when it closes
    std::vector<std::string_view> run;
    auto close_run = [&] {
      if (run.empty()) return;
      out_ += '*';
      out_ += std::to_string(run.size() + 2);
      out_ += "\r\n";
      append_bulk(out_, "RPUSH");
      append_bulk(out_, last_key);
      for (std::string_view e : run) append_bulk(out_, e);
      cmd_end_.push_back(run_start);
      cmd_events_.push_back(static_cast<uint32_t>(run.size()));
      run.clear();
    };
    while (taken < lines.size() && events < static_cast<std::size_t>(bulk_)) {
      const std::size_t nl = lines.find('\n', taken);
      const std::size_t end = nl == std::string_view::npos ? lines.size() : nl;
      const std::string_view e = lines.substr(taken, end - taken);
      const std::size_t next = nl == std::string_view::npos ? end : end + 1;
      ++events;
      ev_.reset(e);
      if (e.empty() || !key_.select(ev_, key_text_) || key_text_.empty()) {
        close_run();
        bump(dropped_no_key_);
        cmd_end_.push_back(next);  // a command of no events: nothing sent for it
        cmd_events_.push_back(0);
        taken = next;
        continue;
      }
      if (channel_) {
        append_command(out_, {"PUBLISH", key_text_, e});
        cmd_end_.push_back(next);
        cmd_events_.push_back(1);
      } else {
        if (!run.empty() && key_text_ != last_key) close_run();
        last_key = key_text_;
        run.push_back(e);
        run_start = next;
      }
      taken = next;
    }
    close_run();
    // cmd_end_ holds where in `lines` each command's events end (for what a partial
    // failure leaves to send again).
    std::size_t confirmed = 0;  // bytes of `lines` whose commands Redis answered
    const std::size_t sent_commands = static_cast<std::size_t>(
        std::count_if(cmd_events_.begin(), cmd_events_.end(), [](uint32_t n) { return n > 0; }));
    std::string why;
    if (sent_commands > 0 && !send(*h, out_, why)) return failed_batch(*h, lines, 0, why);
    bump(batches_);
    for (std::size_t c = 0; c < cmd_events_.size(); ++c) {
      if (cmd_events_[c] == 0) {  // no key: dropped, counted above
        confirmed = cmd_end_[c];
        continue;
      }
      std::string reply;
      if (!read_line(*h, reply, why)) return failed_batch(*h, lines, confirmed, why);
      if (reply[0] == '-') {
        const std::string_view err = std::string_view(reply).substr(1);
        if (transient(err)) return failed_batch(*h, lines, confirmed, "Redis answered " + std::string(err));
        count_failure(err, cmd_events_[c]);
      } else if (reply[0] == ':') {
        bump(acked_, cmd_events_[c]);
      } else {
        return failed_batch(*h, lines, confirmed, "unexpected reply '" + reply.substr(0, 40) + "'");
      }
      confirmed = cmd_end_[c];
    }
    attempts_ = 0;
    h->backoff_ns = backoff_init_ns_;
    return taken;
  }

  void service(int timeout_ms) override {
    if (!any_up() && timeout_ms > 0) ::poll(nullptr, 0, std::min(timeout_ms, 50));
  }

  bool close(uint64_t) override { return true; }  // nothing is held: a batch is answered before the next

  uint64_t dropped() const override {
    return failed_.total() + dropped_retries_.load() + dropped_no_key_.load();
  }

  void stats(JsonWriter& w) const override {
    w.field_uint("output.redis.acked", acked_.load());
    w.field_uint("output.redis.batches", batches_.load());
    w.field_uint("output.redis.retried", retried_.load());
    failed_.write(w);
    w.field_uint("output.redis.dropped.retries", dropped_retries_.load());
    w.field_uint("output.redis.dropped.no_key", dropped_no_key_.load());
    w.field_uint("output.redis.connections", connections_.load());
    w.field_uint("output.redis.connection_errors", connection_errors_.load());
  }

 private:
  bool any_up() const {
    return std::any_of(hosts_.begin(), hosts_.end(), [](const Host& h) { return h.fd >= 0; });
  }

  // The host for the next batch: round robin over those up (loadbalance) or the
  // current one; a host that is down is tried again once its backoff has passed.
  Host* pick() {
    const uint64_t now = mono_ns();
    for (std::size_t k = 0; k < hosts_.size(); ++k) {
      const std::size_t i = (next_ + k) % hosts_.size();
      Host& h = hosts_[i];
      if (!loadbalance_ && i != current_) continue;
      if (h.fd < 0 && now >= h.next_attempt_ns) connect(h);
      if (h.fd >= 0) {
        if (loadbalance_) next_ = i + 1;
        return &h;
      }
    }
    return nullptr;
  }

  bool wait_for(int fd, short events, uint64_t deadline_ns) {
    for (;;) {
      const uint64_t now = mono_ns();
      if (now >= deadline_ns) return false;
      pollfd p{fd, events, 0};
      const int rc = ::poll(&p, 1, static_cast<int>((deadline_ns - now) / 1'000'000) + 1);
      if (rc > 0) return true;
      if (rc < 0 && errno != EINTR) return false;
    }
  }

  void connect(Host& h) {
    const uint64_t deadline = mono_ns() + timeout_ns_;
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (const int rc = ::getaddrinfo(h.host.c_str(), h.port.c_str(), &hints, &res); rc != 0)
      return attempt_failed(h, std::string("cannot resolve: ") + gai_strerror(rc));
    const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ::freeaddrinfo(res);
      return attempt_failed(h, std::strerror(errno));
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    const int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
    ::freeaddrinfo(res);
    h.fd = fd;
    if (rc != 0 && errno != EINPROGRESS) return attempt_failed(h, std::strerror(errno));
    if (rc != 0) {
      if (!wait_for(fd, POLLOUT, deadline))
        return attempt_failed(h, "no connection within output.redis.timeout");
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) return attempt_failed(h, std::strerror(err));
    }
    if (tls_) {
      h.ssl = tls_->session(fd, h.host);
      for (;;) {
        const int r = SSL_connect(h.ssl);
        if (r == 1) break;
        const int e = SSL_get_error(h.ssl, r);
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
            wait_for(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
          continue;
        return attempt_failed(h, TlsClient::handshake_error(h.ssl));
      }
    }
    // AUTH and SELECT before anything else.
    std::string hello, why, reply;
    if (!password_.empty()) append_command(hello, {"AUTH", password_});
    const std::string db = std::to_string(db_);
    if (db_ != 0) append_command(hello, {"SELECT", db});
    if (!hello.empty()) {
      if (!send(h, hello, why)) return attempt_failed(h, why);
      for (int k = (password_.empty() ? 0 : 1) + (db_ != 0 ? 1 : 0); k > 0; --k) {
        if (!read_line(h, reply, why)) return attempt_failed(h, why);
        if (reply[0] == '-') return attempt_failed(h, "Redis refused: " + reply.substr(1));
      }
    }
    bump(connections_);
    if (h.failed_once) log_line("info", "output.redis: connected to " + h.name);
    h.failed_once = false;
  }

  void attempt_failed(Host& h, const std::string& why) {
    bump(connection_errors_);
    last_error_ = h.name + ": " + why;
    if (!h.failed_once) log_line("warn", "output.redis: " + last_error_ + "; retrying with backoff");
    h.failed_once = true;
    disconnect(h);
    h.next_attempt_ns = mono_ns() + h.backoff_ns;
    h.backoff_ns = std::min(h.backoff_ns * 2, backoff_max_ns_);
    if (!loadbalance_ && hosts_.size() > 1 && &h == &hosts_[current_]) {
      current_ = (current_ + 1) % hosts_.size();  // fail over: the next host at once
      hosts_[current_].next_attempt_ns = std::min(hosts_[current_].next_attempt_ns, mono_ns());
    }
  }

  void disconnect(Host& h) {
    if (h.ssl) SSL_free(h.ssl);
    h.ssl = nullptr;
    if (h.fd >= 0) ::close(h.fd);
    h.fd = -1;
    in_len_ = in_off_ = 0;
  }

  // The batch failed after `confirmed` bytes of `lines` were answered: those are
  // done; the rest is offered again (an attempt spent), or dropped past max_retries.
  std::size_t failed_batch(Host& h, std::string_view lines, std::size_t confirmed, const std::string& why) {
    attempt_failed(h, why);
    ++attempts_;
    const std::string_view rest = lines.substr(confirmed);
    std::size_t n = 0, at = 0;
    for (; at < rest.size() && n < static_cast<std::size_t>(bulk_); ++n) {
      const std::size_t nl = rest.find('\n', at);
      at = nl == std::string_view::npos ? rest.size() : nl + 1;
    }
    if (max_retries_ >= 0 && attempts_ > static_cast<uint32_t>(max_retries_)) {
      bump(dropped_retries_, n);
      log_line("warn", "output.redis: " + std::to_string(n) + " events dropped after " +
                           std::to_string(attempts_) + " failed attempts (max_retries)");
      attempts_ = 0;
      return confirmed + at;
    }
    bump(retried_, n);
    return confirmed;
  }

  bool send(Host& h, std::string_view data, std::string& why) {
    const uint64_t deadline = mono_ns() + timeout_ns_;
    while (!data.empty()) {
      const long n =
          h.ssl ? SSL_write(h.ssl, data.data(), static_cast<int>(std::min<std::size_t>(data.size(), 1 << 30)))
                : ::send(h.fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      short want = POLLOUT;
      if (h.ssl) {
        const int e = SSL_get_error(h.ssl, static_cast<int>(n));
        if (e == SSL_ERROR_WANT_READ)
          want = POLLIN;
        else if (e != SSL_ERROR_WANT_WRITE)
          return why = "TLS write: " + ssl_error_text(), false;
      } else if (errno != EAGAIN && errno != EINTR) {
        return why = std::strerror(errno), false;
      }
      if (!wait_for(h.fd, want, deadline)) return why = "no progress within output.redis.timeout", false;
    }
    return true;
  }

  // One reply line (simple string, error or integer; a bulk reply's length line).
  bool read_line(Host& h, std::string& line, std::string& why) {
    const uint64_t deadline = mono_ns() + timeout_ns_;
    for (;;) {
      const std::string_view have(in_ + in_off_, in_len_ - in_off_);
      if (const std::size_t crlf = have.find("\r\n"); crlf != std::string_view::npos) {
        line.assign(have.substr(0, crlf));
        in_off_ += crlf + 2;
        if (line.empty()) return why = "an empty reply", false;
        return true;
      }
      if (in_off_ > 0) {
        std::memmove(in_, in_ + in_off_, in_len_ - in_off_);
        in_len_ -= in_off_;
        in_off_ = 0;
      }
      if (in_len_ == sizeof in_) return why = "a reply line longer than 64 KiB", false;
      const long n = h.ssl ? SSL_read(h.ssl, in_ + in_len_, static_cast<int>(sizeof in_ - in_len_))
                           : ::recv(h.fd, in_ + in_len_, sizeof in_ - in_len_, 0);
      if (n > 0) {
        in_len_ += static_cast<std::size_t>(n);
        continue;
      }
      if (n == 0) return why = "the server closed the connection", false;
      short want = POLLIN;
      if (h.ssl) {
        const int e = SSL_get_error(h.ssl, static_cast<int>(n));
        if (e == SSL_ERROR_WANT_WRITE)
          want = POLLOUT;
        else if (e != SSL_ERROR_WANT_READ)
          return why = e == SSL_ERROR_ZERO_RETURN ? "the server closed the connection"
                                                  : "TLS read: " + ssl_error_text(),
                 false;
      } else if (errno != EAGAIN && errno != EINTR) {
        return why = std::strerror(errno), false;
      }
      if (!wait_for(h.fd, want, deadline)) return why = "no answer within output.redis.timeout", false;
    }
  }

  void count_failure(std::string_view error, uint32_t events) {
    std::string name(error.substr(0, error.find(' ')));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    failed_.add(name, events, std::to_string(events) + " events refused: " + std::string(error));
  }

  std::string file_;
  std::vector<Host> hosts_;
  Selector key_;
  bool channel_ = false, loadbalance_ = true;
  int db_ = 0, bulk_ = 2048, max_retries_ = 3;
  std::string password_;
  uint64_t timeout_ns_ = 0, backoff_init_ns_ = 0, backoff_max_ns_ = 0;
  std::unique_ptr<TlsClient> tls_;
  std::size_t next_ = 0, current_ = 0;
  uint32_t attempts_ = 0;  // failed sends of the batch now at the head
  std::string last_error_ = "not tried";

  EventView ev_;
  std::string key_text_, out_;
  std::vector<std::size_t> cmd_end_;  // per command: where its events end in the batch's lines
  std::vector<uint32_t> cmd_events_;  // per command: how many events (0: none had a key)
  char in_[65536];
  std::size_t in_len_ = 0, in_off_ = 0;

  std::atomic<uint64_t> acked_{0}, batches_{0}, retried_{0}, dropped_retries_{0}, dropped_no_key_{0},
      connections_{0}, connection_errors_{0};
  FailureTally failed_{"output.redis"};
};

}  // namespace

std::unique_ptr<Sink> make_redis_sink(const Config& cfg, SinkOpen how) {
  return std::make_unique<RedisSink>(cfg, how);
}

}  // namespace tapbeat
