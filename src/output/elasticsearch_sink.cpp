// output.elasticsearch: events to Elasticsearch (or OpenSearch) through the bulk API,
// as Beats' elasticsearch output sends them.
//
// Events are cut into bulk requests of bulk_max_size: a `create` action naming the
// index (a format string or `indices` rules over the event, and an optional ingest
// `pipeline`) before each document, the body gzip-compressed at compression_level.
// Requests go out through libcurl's multi interface from the output thread, up to
// `worker` per host, spread over the hosts (loadbalance) or to one host at a time
// with failover. The bulk response is read document by document (simdjson): created
// ones are acknowledged, 409 (already there) counts as delivered, 429 and 5xx are sent
// again, other refusals (a mapping conflict, a bad value) are dropped and counted by
// error type with the first reason logged. A request that fails as a whole
// (connection, timeout, 429, 5xx) is sent again with exponential backoff; 413 splits
// it in two. An event is dropped (counted) only after max_retries failed attempts.
#include "output/elasticsearch_sink.hpp"

#include <curl/curl.h>
#include <dlfcn.h>
#include <poll.h>
#include <simdjson.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "control.hpp"
#include "decode/registry.hpp"
#include "event/event_fields.hpp"
#include "log.hpp"
#include "version.hpp"

namespace tapbeat {
namespace {

// libcurl, loaded when an Elasticsearch output or its setup needs it. Linked in, it
// and what it links (GnuTLS, Kerberos, LDAP, libssh2, ... 25 libraries) were loaded
// and initialised by every run, whatever its output: ~5 ms of each start.
struct CurlLib {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_easy_escape) easy_escape;
  decltype(&::curl_free) free;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
  decltype(&::curl_multi_init) multi_init;
  decltype(&::curl_multi_cleanup) multi_cleanup;
  decltype(&::curl_multi_add_handle) multi_add_handle;
  decltype(&::curl_multi_remove_handle) multi_remove_handle;
  decltype(&::curl_multi_perform) multi_perform;
  decltype(&::curl_multi_poll) multi_poll;
  decltype(&::curl_multi_info_read) multi_info_read;
};

// Loads libcurl and runs its global initialisation once; throws, naming the library
// and why, where it cannot be loaded.
const CurlLib& curl() {
  static const CurlLib lib = [] {
    void* h = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) throw std::runtime_error(std::string("output.elasticsearch needs libcurl: ") + ::dlerror());
    CurlLib l{};
    auto sym = [h](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(h, name));
      if (!fn) throw std::runtime_error(std::string("libcurl.so.4 lacks ") + name);
    };
    sym(l.global_init, "curl_global_init");
    sym(l.easy_init, "curl_easy_init");
    sym(l.easy_setopt, "curl_easy_setopt");
    sym(l.easy_perform, "curl_easy_perform");
    sym(l.easy_getinfo, "curl_easy_getinfo");
    sym(l.easy_cleanup, "curl_easy_cleanup");
    sym(l.easy_strerror, "curl_easy_strerror");
    sym(l.easy_escape, "curl_easy_escape");
    sym(l.free, "curl_free");
    sym(l.slist_append, "curl_slist_append");
    sym(l.slist_free_all, "curl_slist_free_all");
    sym(l.multi_init, "curl_multi_init");
    sym(l.multi_cleanup, "curl_multi_cleanup");
    sym(l.multi_add_handle, "curl_multi_add_handle");
    sym(l.multi_remove_handle, "curl_multi_remove_handle");
    sym(l.multi_perform, "curl_multi_perform");
    sym(l.multi_poll, "curl_multi_poll");
    sym(l.multi_info_read, "curl_multi_info_read");
    l.global_init(CURL_GLOBAL_DEFAULT);
    return l;
  }();
  return lib;
}

// Base64 (RFC 4648 §4) with padding, or base64url (§5) without, appended to out.
void append_b64(std::string_view in, std::string& out, bool url = false) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char k_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* a = url ? k_url : k;
  const std::size_t start = out.size();
  uint32_t v = 0;
  int bits = 0;
  for (unsigned char c : in) {
    v = v << 8 | c;
    bits += 8;
    while (bits >= 6) out.push_back(a[(v >> (bits -= 6)) & 63]);
  }
  if (bits) out.push_back(a[(v << (6 - bits)) & 63]);
  if (!url)
    while ((out.size() - start) % 4) out.push_back('=');
}

std::string b64(std::string_view in) {
  std::string out;
  append_b64(in, out);
  return out;
}

uint64_t random_u64() {
  std::random_device rd;
  return uint64_t{rd()} << 32 | rd();
}

std::size_t collect(char* p, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

// How to reach the cluster: hosts, authentication, headers, TLS, timeouts.
struct Client {
  std::vector<std::string> hosts;  // base URLs: scheme://host:port[/path]
  std::string userpwd;
  std::vector<std::string> headers;
  std::string params;   // query string of the bulk requests (`parameters`)
  std::string ca_blob;  // PEM of every certificate authority
  std::string cert, key, key_pass;
  std::string verification = "full";
  long timeout_ms = 90'000;

  template <class Fail>
  Client(const YAML::Node& s, Fail& fail) {
    if (!s["hosts"] || !s["hosts"].IsSequence() || s["hosts"].size() == 0)
      fail("hosts", "at least one host is needed (http://host:9200)");
    const std::string protocol = s["protocol"] ? s["protocol"].as<std::string>() : "http";
    if (protocol != "http" && protocol != "https") fail("protocol", "expected http or https");
    std::string path = s["path"] ? s["path"].as<std::string>() : "";
    if (!path.empty() && path.front() != '/') path = "/" + path;
    while (!path.empty() && path.back() == '/') path.pop_back();
    for (const auto& h : s["hosts"]) {
      std::string url = h.as<std::string>();
      if (url.find("://") == std::string::npos) url = protocol + "://" + url;
      if (const std::string scheme = url.substr(0, url.find("://")); scheme != "http" && scheme != "https")
        fail("hosts",
             "bad host '" + h.as<std::string>() + "': the scheme must be http or https, not " + scheme);
      const std::size_t auth = url.find("://") + 3;
      const std::size_t slash = url.find('/', auth);
      std::string hostport = url.substr(auth, slash == std::string::npos ? std::string::npos : slash - auth);
      const bool has_port = hostport.rfind(':') != std::string::npos && hostport.back() != ']';
      if (hostport.empty()) fail("hosts", "bad host '" + h.as<std::string>() + "'");
      if (const std::string why = host_port_error(hostport.substr(hostport.rfind('@') + 1)); !why.empty())
        fail("hosts", "bad host '" + h.as<std::string>() + "': " + why);
      std::string base = url.substr(0, auth) + hostport + (has_port ? "" : ":9200");
      std::string upath = slash == std::string::npos ? "" : url.substr(slash);
      while (!upath.empty() && upath.back() == '/') upath.pop_back();
      hosts.push_back(base + (upath.empty() ? path : upath));
    }
    if (s["proxy_url"] && !(s["proxy_disable"] && s["proxy_disable"].as<bool>()))
      fail("proxy_url", "proxies are not supported; connect directly");
    if (s["api_key"]) {
      if (s["username"] || s["password"]) fail("api_key", "api_key and username/password exclude each other");
      const std::string key = s["api_key"].as<std::string>();
      if (key.find(':') == std::string::npos) fail("api_key", "expected id:api_key");
      headers.push_back("Authorization: ApiKey " + b64(key));
    } else if (s["username"]) {
      userpwd =
          s["username"].as<std::string>() + ":" + (s["password"] ? s["password"].as<std::string>() : "");
    }
    if (const YAML::Node hs = s["headers"]) {
      if (!hs.IsMap()) fail("headers", "expected a map of header: value");
      for (auto it = hs.begin(); it != hs.end(); ++it)
        headers.push_back(it->first.as<std::string>() + ": " + it->second.as<std::string>());
    }
    if (const YAML::Node ps = s["parameters"]) {
      if (!ps.IsMap()) fail("parameters", "expected a map of name: value");
      CURL* c = curl().easy_init();
      for (auto it = ps.begin(); it != ps.end(); ++it) {
        char* k = curl().easy_escape(c, it->first.as<std::string>().c_str(), 0);
        char* v = curl().easy_escape(c, it->second.as<std::string>().c_str(), 0);
        params += std::string(params.empty() ? "" : "&") + k + "=" + v;
        curl().free(k);
        curl().free(v);
      }
      curl().easy_cleanup(c);
    }
    if (s["timeout"]) {
      const auto v = parse_duration_ns(s["timeout"].as<std::string>());
      if (!v || *v <= 0) fail("timeout", "expected a duration such as 90s");
      timeout_ms = static_cast<long>(*v / 1'000'000);
    }
    if (const YAML::Node t = s["ssl"]; t && (!t["enabled"] || t["enabled"].as<bool>())) {
      if (t["verification_mode"]) verification = t["verification_mode"].as<std::string>();
      if (verification != "full" && verification != "strict" && verification != "certificate" &&
          verification != "none")
        fail("ssl.verification_mode", "expected full, strict, certificate or none");
      if (const YAML::Node cas = t["certificate_authorities"]) {
        for (const auto& ca : cas) {
          std::ifstream f(ca.as<std::string>());
          if (!f) fail("ssl.certificate_authorities", "cannot read " + ca.as<std::string>());
          std::stringstream ss;
          ss << f.rdbuf();
          ca_blob += ss.str() + "\n";
        }
      }
      if (t["certificate"]) cert = t["certificate"].as<std::string>();
      if (t["key"]) key = t["key"].as<std::string>();
      if (cert.empty() != key.empty()) fail("ssl.certificate", "ssl.certificate and ssl.key go together");
      for (const auto& [k, file] :
           {std::pair<const char*, const std::string&>{"ssl.certificate", cert}, {"ssl.key", key}})
        if (!file.empty() && ::access(file.c_str(), R_OK) != 0)
          fail(k, "cannot read " + file + ": " + std::strerror(errno));
      if (t["key_passphrase"]) key_pass = t["key_passphrase"].as<std::string>();
    }
  }

  // A handle for one request to host h: URL, auth, TLS, timeout, body sink.
  CURL* handle(std::size_t h, const std::string& path, std::string* response, curl_slist** list,
               bool with_params = false) const {
    CURL* c = curl().easy_init();
    std::string url = hosts[h] + path;
    if (with_params && !params.empty()) url += (path.find('?') == std::string::npos ? "?" : "&") + params;
    curl().easy_setopt(c, CURLOPT_URL, url.c_str());
    curl().easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl().easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl().easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min(timeout_ms, 10'000L));
    curl().easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl().easy_setopt(c, CURLOPT_WRITEDATA, response);
    curl().easy_setopt(c, CURLOPT_USERAGENT, "tapbeat/" TAPBEAT_VERSION);
    if (!userpwd.empty()) {
      curl().easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl().easy_setopt(c, CURLOPT_USERPWD, userpwd.c_str());
    }
    for (const std::string& hd : headers) *list = curl().slist_append(*list, hd.c_str());
    if (!ca_blob.empty()) {
      curl_blob blob{const_cast<char*>(ca_blob.data()), ca_blob.size(), CURL_BLOB_COPY};
      curl().easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (!cert.empty()) {
      curl().easy_setopt(c, CURLOPT_SSLCERT, cert.c_str());
      curl().easy_setopt(c, CURLOPT_SSLKEY, key.c_str());
      if (!key_pass.empty()) curl().easy_setopt(c, CURLOPT_KEYPASSWD, key_pass.c_str());
    }
    curl().easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verification == "none" ? 0L : 1L);
    curl().easy_setopt(c, CURLOPT_SSL_VERIFYHOST,
                       verification == "none" || verification == "certificate" ? 0L : 2L);
    return c;
  }

  // A blocking request (start-up checks, setup). Returns the HTTP status, 0 when
  // the host did not answer (error says why).
  long request(std::size_t h, const char* method, const std::string& path, const std::string& body,
               std::string& response, std::string& error, long limit_ms = 0) const {
    curl_slist* list = nullptr;
    CURL* c = handle(h, path, &response, &list);
    if (limit_ms > 0 && limit_ms < timeout_ms) {
      curl().easy_setopt(c, CURLOPT_TIMEOUT_MS, limit_ms);
      curl().easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, limit_ms);
    }
    if (!body.empty()) {
      list = curl().slist_append(list, "Content-Type: application/json");
      curl().easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
      curl().easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl().easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl().easy_setopt(c, CURLOPT_HTTPHEADER, list);
    char err[CURL_ERROR_SIZE] = "";
    curl().easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    long status = 0;
    const CURLcode rc = curl().easy_perform(c);
    if (rc == CURLE_OK)
      curl().easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
      error = err[0] ? err : curl().easy_strerror(rc);
    curl().easy_cleanup(c);
    curl().slist_free_all(list);
    return status;
  }
};

// The document without its top-level "@metadata" object (Beats sends metadata to
// pick the index, not as a field): appended to out.
void append_without_metadata(std::string_view e, std::string& out) {
  constexpr std::string_view key = R"("@metadata":{)";
  const std::size_t at = e.find(key);
  if (at == std::string_view::npos || at > 256 || (e[at - 1] != ',' && e[at - 1] != '{')) {
    out.append(e);
    return;
  }
  // Its end: the brace that closes it, strings skipped.
  std::size_t i = at + key.size();
  int depth = 1;
  for (bool in_string = false; i < e.size() && depth > 0; ++i) {
    const char c = e[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}') {
      --depth;
    }
  }
  if (depth) {
    out.append(e);
    return;
  }
  std::size_t from = at, to = i;  // drop one separating comma with it
  if (e[at - 1] == ',')
    --from;
  else if (to < e.size() && e[to] == ',')
    ++to;
  out.append(e.substr(0, from));
  out.append(e.substr(to));
}

bool gzip(const std::string& in, std::string& out, int level) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  out.resize(deflateBound(&z, static_cast<uLong>(in.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END;
}

// Events of one bulk request: their lines (for a retry) and the request body.
struct Batch {
  std::string events;          // event lines, each with its '\n'
  std::vector<uint32_t> ends;  // end of each event line in `events`
  std::vector<uint64_t> seqs;  // each event's number in the run (its document id)
  bool timed_out = false;      // the last attempt got no answer in time
  uint32_t attempts = 0;
  uint64_t not_before_ns = 0;  // backoff after a failure
  std::string_view event(std::size_t i) const {
    const uint32_t b = i ? ends[i - 1] : 0;
    return std::string_view(events).substr(b, ends[i] - b - 1);
  }
  std::size_t count() const { return ends.size(); }
  void add(std::string_view line, uint64_t seq) {
    events.append(line);
    events.push_back('\n');
    ends.push_back(static_cast<uint32_t>(events.size()));
    seqs.push_back(seq);
  }
};

struct Request {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::size_t host = 0;
  Batch batch;
  std::string body, gz, response;
  bool compressed = false;
  std::vector<uint32_t>
      doc_event;  // bulk item i -> event index in batch (events without an index are left out)
};

class ElasticsearchSink final : public Sink {
 public:
  ElasticsearchSink(const Config& cfg, SinkOpen how) : file_(cfg.file), client_(cfg.output->raw, fail_) {
    const YAML::Node s = cfg.output->raw;
    try {
      index_ = Selector(s["index"] || s["indices"] ? s : default_index(), "index", "indices");
    } catch (const std::invalid_argument& e) {
      fail_("", e.what());
    }
    if (s["pipeline"] || s["pipelines"]) {
      try {
        pipeline_ = Selector(s, "pipeline", "pipelines");
      } catch (const std::invalid_argument& e) {
        fail_("", e.what());
      }
    }
    if (s["escape_html"] && s["escape_html"].as<bool>())
      fail_("escape_html", "HTML escaping is not supported (false only)");
    bulk_ = s["bulk_max_size"] ? s["bulk_max_size"].as<int>() : 1600;  // Beats 8's default
    if (bulk_ < 1) bulk_ = 1600;
    level_ = s["compression_level"] ? s["compression_level"].as<int>() : 1;
    if (level_ < 0 || level_ > 9) fail_("compression_level", "must be between 0 and 9");
    max_retries_ = s["max_retries"] ? s["max_retries"].as<int>() : 3;
    if (max_retries_ < -1) fail_("max_retries", "must be -1 (retry forever) or more");
    const int worker = s["worker"] ? s["worker"].as<int>() : 1;
    if (worker < 1 || worker > 64) fail_("worker", "must be between 1 and 64");
    loadbalance_ = !s["loadbalance"] || s["loadbalance"].as<bool>();
    slots_ = static_cast<std::size_t>(worker) * (loadbalance_ ? client_.hosts.size() : 1);
    auto duration = [&](const YAML::Node& n, const char* key, int64_t fallback) -> uint64_t {
      if (!n) return static_cast<uint64_t>(fallback);
      const auto v = parse_duration_ns(n.as<std::string>());
      if (!v || *v < 0) fail_(key, "expected a duration such as 1s");
      return static_cast<uint64_t>(*v);
    };
    const YAML::Node backoff = s["backoff"] ? s["backoff"] : YAML::Node(YAML::NodeType::Map);
    backoff_init_ns_ =
        std::max<uint64_t>(duration(backoff["init"], "backoff.init", 1'000'000'000), 1'000'000);
    backoff_max_ns_ = std::max(duration(backoff["max"], "backoff.max", 60'000'000'000), backoff_init_ns_);
    // Beats 8: queue.mem.events; with queue.disk in front, only what the requests in
    // flight carry: the rest waits on disk.
    max_buffered_ = cfg.queue.mem_events ? cfg.queue.mem_events : 3200;
    if (cfg.queue.disk) max_buffered_ = static_cast<uint64_t>(bulk_) * slots_;
    host_next_.assign(client_.hosts.size(), 0);
    host_backoff_.assign(client_.hosts.size(), backoff_init_ns_);

    if (how == SinkOpen::kCheckOnly) return;
    multi_ = curl().multi_init();
    // Start: `test output` waits up to `timeout` for some host to answer. A run asks
    // each host once (kStartProbeMs at most) and goes on either way: events wait in the
    // queue until one answers.
    std::string why;
    bool up = false;
    const uint64_t deadline = mono_ns() + static_cast<uint64_t>(client_.timeout_ms) * 1'000'000;
    do {
      for (std::size_t h = 0; h < client_.hosts.size() && !up; ++h) {
        std::string resp, err;
        const long status =
            client_.request(h, "GET", "/", "", resp, err, how == SinkOpen::kRun ? kStartProbeMs : 0);
        if (status >= 200 && status < 300) {
          up = true;
          current_host_ = h;
          log_line("info",
                   "output.elasticsearch: connected to " + client_.hosts[h] + " (" + version_of(resp) + ")");
        } else {
          why = client_.hosts[h] + ": " +
                (status ? "HTTP " + std::to_string(status) + " " + resp.substr(0, 200) : err);
        }
      }
      if (!up && how == SinkOpen::kRequireConnection) ::poll(nullptr, 0, 200);
    } while (!up && how == SinkOpen::kRequireConnection && mono_ns() < deadline);
    if (!up) {
      std::string names;
      for (const std::string& h : client_.hosts) names += (names.empty() ? "" : ", ") + h;
      if (how == SinkOpen::kRequireConnection)
        throw std::runtime_error("output.elasticsearch.hosts: no Elasticsearch host of " + names +
                                 " answered within " + std::to_string(client_.timeout_ms / 1000) + " s (" +
                                 why + ")");
      down_ = true;
      log_line("warn", "output.elasticsearch.hosts: no Elasticsearch host of " + names + " answered (" + why +
                           "); " + output_down_note(cfg, max_buffered_));
    }
  }

  ~ElasticsearchSink() override {
    for (Request& r : inflight_) release(r);
    if (multi_) curl().multi_cleanup(multi_);
  }

  std::size_t write(std::string_view lines) override {
    const std::size_t taken =
        take_lines(lines, max_buffered_ - std::min(buffered_, max_buffered_), [&](std::string_view e) {
          if (!cur_) cur_ = std::make_unique<Batch>();
          cur_->add(e, next_seq_++);
          if (cur_->count() >= static_cast<std::size_t>(bulk_))
            ready_.push_back(std::move(*cur_)), cur_.reset();
          ++buffered_;
        });
    dispatch(false);
    return taken;
  }

  void service(int timeout_ms) override {
    dispatch(true);
    if (inflight_.empty()) {
      if (timeout_ms > 0) ::poll(nullptr, 0, std::min(timeout_ms, 50));
      dispatch(true);
      return;
    }
    int running = 0;
    curl().multi_perform(multi_, &running);
    curl().multi_poll(multi_, nullptr, 0, timeout_ms, nullptr);
    curl().multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* m = curl().multi_info_read(multi_, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      auto it = std::find_if(inflight_.begin(), inflight_.end(),
                             [&](const Request& r) { return r.easy == m->easy_handle; });
      if (it == inflight_.end()) continue;
      finished(*it, m->data.result);
      release(*it);
      inflight_.erase(it);
    }
    dispatch(true);
  }

  bool close(uint64_t deadline_ns) override {
    const uint64_t left = drain(deadline_ns, [this] { return buffered_; });
    if (left) {
      bump(dropped_shutdown_, left);
      log_line("warn", "output.elasticsearch: " + std::to_string(left) +
                           " events not indexed within tapbeat.shutdown_timeout; they are lost");
    }
    return left == 0;
  }

  uint64_t held() const override { return buffered_; }

  uint64_t hand_back(const std::function<void(std::string_view)>& take) override {
    uint64_t n = 0;
    for (Request& r : inflight_) {
      for (const uint32_t i : r.doc_event) take(r.batch.event(i)), ++n;
      release(r);
    }
    inflight_.clear();
    auto all = [&](const Batch& b) {
      for (std::size_t i = 0; i < b.count(); ++i) take(b.event(i)), ++n;
    };
    for (const Batch& b : retry_) all(b);
    for (const Batch& b : ready_) all(b);
    if (cur_) all(*cur_);
    retry_.clear();
    ready_.clear();
    cur_.reset();
    buffered_ = 0;
    queued_.store(0, std::memory_order_relaxed);
    return n;
  }

  uint64_t dropped() const override {
    return failed_.total() + dropped_retries_.load() + dropped_shutdown_.load() + dropped_no_index_.load() +
           unconfirmed_.load();
  }

  void stats(JsonWriter& w) const override {
    w.field_uint("output.elasticsearch.acked", acked_.load());
    w.field_uint("output.elasticsearch.duplicates", duplicates_.load());
    w.field_uint("output.elasticsearch.bulk_requests", requests_.load());
    w.field_uint("output.elasticsearch.retried", retried_.load());
    w.field_uint("output.elasticsearch.request_errors", request_errors_.load());
    failed_.write(w);
    w.field_uint("output.elasticsearch.queued", queued_.load());
    w.field_uint("output.elasticsearch.dropped.retries", dropped_retries_.load());
    w.field_uint("output.elasticsearch.dropped.no_index", dropped_no_index_.load());
    w.field_uint("output.elasticsearch.dropped.shutdown", dropped_shutdown_.load());
    w.field_uint("output.elasticsearch.timed_out", timed_out_.load());
    w.field_uint("output.elasticsearch.unconfirmed", unconfirmed_.load());
  }

 private:
  static YAML::Node default_index() {
    YAML::Node n;
    n["index"] = "tapbeat-%{[agent.version]}";
    return n;
  }
  static std::string version_of(const std::string& root) {
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    if (p.parse(root).get(doc)) return "unknown version";
    std::string_view dist = "elasticsearch", number = "?";
    if (doc["version"]["distribution"].get(dist)) dist = "elasticsearch";
    if (doc["version"]["number"].get(number)) number = "?";
    return std::string(dist) + " " + std::string(number);
  }

  // The document id of event `seq` of this run: the run's random 64-bit prefix and the
  // sequence number, base64url (22 characters). A retried `create` names the same id, so
  // an attempt that got through unanswered makes the retry answer 409, never a copy.
  void append_doc_id(uint64_t seq, std::string& out) const {
    char b[16];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(run_id_ >> (56 - 8 * i));
    for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<char>(seq >> (56 - 8 * i));
    append_b64(std::string_view(b, sizeof b), out, true);
  }

  // Next batch to send: retries that are due first, then full batches, then (when
  // nothing is in flight or `flush`) the partial one.
  bool next(Batch& out, bool flush) {
    const uint64_t now = mono_ns();
    if (!retry_.empty() && retry_.front().not_before_ns <= now) {
      out = std::move(retry_.front());
      retry_.pop_front();
      return true;
    }
    if (!ready_.empty()) {
      out = std::move(ready_.front());
      ready_.pop_front();
      return true;
    }
    if (cur_ && (flush || inflight_.empty())) {
      out = std::move(*cur_);
      cur_.reset();
      return true;
    }
    return false;
  }

  std::size_t pick_host(uint64_t now) {
    if (!loadbalance_) return current_host_;
    for (std::size_t k = 0; k < client_.hosts.size(); ++k) {
      const std::size_t h = (rr_ + k) % client_.hosts.size();
      if (host_next_[h] <= now) {
        rr_ = h + 1;
        return h;
      }
    }
    return SIZE_MAX;
  }

  void dispatch(bool flush) {
    const uint64_t now = mono_ns();
    while (inflight_.size() < slots_) {
      const std::size_t h = pick_host(now);
      if (h == SIZE_MAX || host_next_[h] > now) break;
      Batch b;
      if (!next(b, flush)) break;
      Request r;
      r.host = h;
      r.batch = std::move(b);
      build(r);
      if (r.doc_event.empty()) continue;  // nothing had an index
      // In its final place first: libcurl keeps pointers to the body and response.
      inflight_.push_back(std::move(r));
      Request& q = inflight_.back();
      q.compressed = level_ > 0 && gzip(q.body, q.gz, level_);
      const std::string& body = q.compressed ? q.gz : q.body;
      q.easy = client_.handle(h, "/_bulk", &q.response, &q.headers, true);
      q.headers = curl().slist_append(q.headers, "Content-Type: application/x-ndjson");
      if (q.compressed) q.headers = curl().slist_append(q.headers, "Content-Encoding: gzip");
      curl().easy_setopt(q.easy, CURLOPT_HTTPHEADER, q.headers);
      curl().easy_setopt(q.easy, CURLOPT_POST, 1L);
      curl().easy_setopt(q.easy, CURLOPT_POSTFIELDS, body.data());
      curl().easy_setopt(q.easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl().easy_setopt(q.easy, CURLOPT_ACCEPT_ENCODING, "");
      curl().multi_add_handle(multi_, q.easy);
      bump(requests_);
    }
    queued_.store(buffered_, std::memory_order_relaxed);
  }

  // The bulk body: an action line and the document for each event.
  void build(Request& r) {
    r.body.clear();
    r.doc_event.clear();
    for (std::size_t i = 0; i < r.batch.count(); ++i) {
      const std::string_view e = r.batch.event(i);
      ev_.reset(e);
      // A protocol's or the flows' own index (@metadata.raw_index) is taken as it is,
      // as Beats takes it; otherwise index / indices.
      static const std::string kRawIndex = "/@metadata/raw_index";
      const bool raw = e.find("\"raw_index\":") != std::string_view::npos && ev_.get(kRawIndex, name_) &&
                       !name_.empty();  // no parse for an event without one
      if (!raw && !index_.select(ev_, name_)) {
        bump(dropped_no_index_);
        --buffered_;
        continue;
      }
      r.body += R"({"create":{"_index":")";
      r.body += name_;
      r.body += R"(","_id":")";
      append_doc_id(r.batch.seqs[i], r.body);
      if (!pipeline_.empty() && pipeline_.select(ev_, pipe_) && !pipe_.empty()) {
        r.body += R"(","pipeline":")";
        r.body += pipe_;
      }
      r.body += "\"}}\n";
      append_without_metadata(e, r.body);
      r.body.push_back('\n');
      r.doc_event.push_back(static_cast<uint32_t>(i));
    }
  }

  void release(Request& r) {
    if (r.easy) {
      curl().multi_remove_handle(multi_, r.easy);
      curl().easy_cleanup(r.easy);
      r.easy = nullptr;
    }
    curl().slist_free_all(r.headers);
    r.headers = nullptr;
  }

  void host_failed(std::size_t h) {
    const uint64_t now = mono_ns();
    host_next_[h] = now + host_backoff_[h];
    host_backoff_[h] = std::min(host_backoff_[h] * 2, backoff_max_ns_);
    if (!loadbalance_ && client_.hosts.size() > 1) current_host_ = (h + 1) % client_.hosts.size();
  }

  // Events i of the batch go again (or are dropped past max_retries).
  void again(const Batch& from, const std::vector<uint32_t>& which, uint32_t attempts, uint64_t delay_ns) {
    if (which.empty()) return;
    if (max_retries_ >= 0 && attempts > static_cast<uint32_t>(max_retries_)) {
      buffered_ -= which.size();
      if (from.timed_out) {
        // Sent, never answered: the cluster may hold them, once each (document ids).
        bump(unconfirmed_, which.size());
        log_line("warn", "output.elasticsearch: " + std::to_string(which.size()) + " events given up after " +
                             std::to_string(attempts) +
                             " attempts whose answers did not come within `timeout` "
                             "(max_retries); the cluster may have indexed them, at most once each");
      } else {
        bump(dropped_retries_, which.size());
        log_line("warn", "output.elasticsearch: " + std::to_string(which.size()) + " events dropped after " +
                             std::to_string(attempts) + " failed attempts (max_retries)");
      }
      return;
    }
    Batch b;
    for (uint32_t i : which) b.add(from.event(i), from.seqs[i]);
    b.attempts = attempts;
    b.not_before_ns = mono_ns() + delay_ns;
    bump(retried_, which.size());
    retry_.push_back(std::move(b));
  }

  void finished(Request& r, CURLcode rc) {
    long status = 0;
    if (rc == CURLE_OK) curl().easy_getinfo(r.easy, CURLINFO_RESPONSE_CODE, &status);
    std::vector<uint32_t> all(r.doc_event);
    const uint32_t attempts = r.batch.attempts + 1;
    if (rc != CURLE_OK || status == 429 || status >= 500 || (status >= 400 && status != 413) ||
        status < 200) {
      bump(request_errors_);
      const std::string why = rc != CURLE_OK
                                  ? curl().easy_strerror(rc)
                                  : "HTTP " + std::to_string(status) + " " + r.response.substr(0, 300);
      if (mono_ns() - last_warn_ns_ > 5'000'000'000) {
        log_line("warn",
                 "output.elasticsearch: bulk request to " + client_.hosts[r.host] + " failed: " + why);
        last_warn_ns_ = mono_ns();
      }
      const uint64_t delay = host_backoff_[r.host];
      host_failed(r.host);
      r.batch.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
      if (r.batch.timed_out) bump(timed_out_);
      // A request that never reached a host is not an attempt: the events wait for
      // one however long it takes (as Beats returns a batch while it reconnects).
      const bool unsent = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                          rc == CURLE_COULDNT_RESOLVE_PROXY;
      if (unsent) down_ = true;
      again(r.batch, all, unsent ? r.batch.attempts : attempts, delay);
      return;
    }
    host_backoff_[r.host] = backoff_init_ns_;
    if (down_) {
      down_ = false;
      log_line("info", "output.elasticsearch: " + client_.hosts[r.host] + " answers; " +
                           std::to_string(buffered_) + " waiting events are being sent");
    }
    if (status == 413) {  // too large: each half on its own
      if (all.size() == 1) {
        count_failure("request_too_large",
                      "a single event is larger than the cluster's http.max_content_length");
        buffered_ -= 1;
        return;
      }
      const std::size_t half = all.size() / 2;
      const auto mid = all.begin() + static_cast<std::ptrdiff_t>(half);
      again(r.batch, std::vector<uint32_t>(all.begin(), mid), r.batch.attempts, 0);
      again(r.batch, std::vector<uint32_t>(mid, all.end()), r.batch.attempts, 0);
      return;
    }
    simdjson::dom::element doc;
    if (parser_.parse(r.response).get(doc)) {
      bump(request_errors_);
      again(r.batch, all, attempts, host_backoff_[r.host]);
      return;
    }
    bool errors = true;
    if (doc["errors"].get(errors)) errors = true;
    if (!errors) {
      bump(acked_, all.size());
      buffered_ -= all.size();
      return;
    }
    simdjson::dom::array items;
    if (doc["items"].get(items)) {
      again(r.batch, all, attempts, host_backoff_[r.host]);
      return;
    }
    std::vector<uint32_t> retry;
    std::size_t i = 0;
    for (simdjson::dom::element item : items) {
      if (i >= all.size()) break;
      const uint32_t ev = all[i++];
      simdjson::dom::object action;
      if (item.get(action) || action.size() == 0) continue;
      const simdjson::dom::element result = (*action.begin()).value;
      int64_t st = 0;
      if (result["status"].get(st)) st = 0;
      if (st >= 200 && st < 300) {
        bump(acked_);
        --buffered_;
      } else if (st == 409) {  // already indexed: an earlier attempt got through unanswered
        bump(acked_);
        bump(duplicates_);
        --buffered_;
      } else if (st == 429 || st >= 500) {
        retry.push_back(ev);
      } else {
        std::string_view type = "unknown", reason;
        if (result["error"]["type"].get(type)) type = "unknown";
        if (result["error"]["reason"].get(reason)) reason = {};
        count_failure(std::string(type), "event refused (status " + std::to_string(st) + ", " +
                                             std::string(type) + "): " + std::string(reason.substr(0, 400)));
        --buffered_;
      }
    }
    for (; i < all.size(); ++i) retry.push_back(all[i]);  // items missing from the answer
    again(r.batch, retry, attempts, host_backoff_[r.host]);
  }

  void count_failure(const std::string& type, const std::string& message) { failed_.add(type, 1, message); }

  std::string file_;
  std::function<void(const std::string&, const std::string&)> fail_ = [this](const std::string& key,
                                                                             const std::string& why) {
    throw ConfigError(file_, "output.elasticsearch" + (key.empty() ? "" : "." + key), why);
  };
  Client client_;
  Selector index_, pipeline_;
  int bulk_ = 1600, level_ = 1, max_retries_ = 3;
  bool loadbalance_ = true;
  bool down_ = false;  // no host reached: said once when one answers again
  std::size_t slots_ = 1;
  uint64_t backoff_init_ns_ = 0, backoff_max_ns_ = 0;
  std::vector<uint64_t> host_next_, host_backoff_;
  std::size_t current_host_ = 0, rr_ = 0;
  CURLM* multi_ = nullptr;

  std::unique_ptr<Batch> cur_;
  std::deque<Batch> ready_, retry_;
  std::list<Request> inflight_;  // stable: libcurl holds pointers into each
  uint64_t buffered_ = 0, max_buffered_ = 3200;
  EventView ev_;
  std::string name_, pipe_;
  simdjson::dom::parser parser_;
  uint64_t last_warn_ns_ = 0;

  // acked: events the cluster holds (created, or 409 for a document an unanswered
  // attempt had already created: those are also counted in duplicates).
  // unconfirmed: given up after attempts that all timed out (the cluster may hold them).
  std::atomic<uint64_t> timed_out_{0}, unconfirmed_{0};
  const uint64_t run_id_ = random_u64();
  uint64_t next_seq_ = 0;
  std::atomic<uint64_t> acked_{0}, duplicates_{0}, requests_{0}, retried_{0}, request_errors_{0}, queued_{0},
      dropped_retries_{0}, dropped_no_index_{0}, dropped_shutdown_{0};
  FailureTally failed_{"output.elasticsearch"};
};

// Field types of the events beyond what dynamic mapping gets right: dates, IP
// addresses, long texts, and what each protocol adds (its descriptor's
// index_template: DNS resolved IPs, memcache's 64-bit CAS values, HTTP bodies...).
// Other strings are keywords, numbers longs.
std::string template_mappings() {
  std::string dynamic = R"({"ip_addresses": {"path_match": "*.ip", "mapping": {"type": "ip"}}},
    {"forwarded_ips": {"path_match": "network.forwarded_ip", "mapping": {"type": "ip"}}})";
  std::string properties = R"("@timestamp": {"type": "date"},
    "event": {"properties": {"start": {"type": "date"}, "end": {"type": "date"}, "created": {"type": "date"},
                             "duration": {"type": "long"}}},
    "request": {"type": "text"},
    "response": {"type": "text"},
    "message": {"type": "text"},
    "error": {"properties": {"message": {"type": "text"}}},
    "flow": {"properties": {"final": {"type": "boolean"}}},
    "user": {"properties": {"id": {"type": "keyword"}}},
    "group": {"properties": {"id": {"type": "keyword"}}})";
  for (const DecoderDescriptor& d : decoder_registry()) {
    if (!d.index_template.dynamic_templates.empty())
      dynamic += ",\n    " + std::string(d.index_template.dynamic_templates);
    if (!d.index_template.properties.empty())
      properties += ",\n    " + std::string(d.index_template.properties);
  }
  // The catch-alls come last: dynamic templates apply in order.
  dynamic += R"(,
    {"numbers_as_long": {"match_mapping_type": "long", "mapping": {"type": "long"}}},
    {"strings_as_keyword": {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 1024}}})";
  return "{\n  \"dynamic_templates\": [\n    " + dynamic + "\n  ],\n  \"properties\": {\n    " + properties +
         "\n  }\n}";
}

std::string expand_version(std::string s) {
  const std::string key = "%{[agent.version]}";
  for (std::size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), TAPBEAT_VERSION);
  return s;
}

}  // namespace

std::unique_ptr<Sink> make_elasticsearch_sink(const Config& cfg, SinkOpen how) {
  curl();
  return std::make_unique<ElasticsearchSink>(cfg, how);
}

std::pair<std::string, std::string> index_template(const Config& cfg) {
  const YAML::Node t =
      cfg.root["setup"] && cfg.root["setup"]["template"] ? cfg.root["setup"]["template"] : YAML::Node();
  // Unset, the template's name and pattern follow output.elasticsearch.index: the
  // index itself, or what comes before its first format reference and a '*' (so
  // index: packetbeat-tapbeat alone lands events in a data stream that Packetbeat's
  // dashboards, reading packetbeat-*, find, with this template's field types).
  std::string index = "tapbeat-%{[agent.version]}";
  if (cfg.output && cfg.output->type == "elasticsearch" && cfg.output->raw["index"] &&
      cfg.output->raw["index"].IsScalar())
    index = cfg.output->raw["index"].Scalar();
  index = expand_version(index);
  std::string index_name = index, index_pattern = index;
  if (const std::size_t ref = index.find("%{"); ref != std::string::npos) {
    index_pattern = index.substr(0, ref) + "*";
    index_name = index.substr(0, ref);
    while (!index_name.empty() && (index_name.back() == '-' || index_name.back() == '_'))
      index_name.pop_back();
    if (index_name.empty()) index_name = "tapbeat-" TAPBEAT_VERSION;
  }
  const std::string name = t && t["name"] ? expand_version(t["name"].as<std::string>()) : index_name;
  const std::string pattern =
      t && t["pattern"] ? expand_version(t["pattern"].as<std::string>()) : index_pattern;
  int shards = 1;
  if (t && t["settings"] && t["settings"]["index"] && t["settings"]["index"]["number_of_shards"])
    shards = t["settings"]["index"]["number_of_shards"].as<int>();
  std::string body = R"({"index_patterns":[")" + pattern + R"("],"data_stream":{},"priority":150,)" +
                     R"("_meta":{"description":"tapbeat )" TAPBEAT_VERSION
                     R"( events with Packetbeat fields"},)" +
                     R"("template":{"settings":{"index":{"number_of_shards":)" + std::to_string(shards) +
                     R"(,"refresh_interval":"5s","mapping":{"total_fields":{"limit":10000}}}},"mappings":)" +
                     template_mappings() + "}}";
  return {name, body};
}

void setup_index_management(const Config& cfg) {
  if (!cfg.output || cfg.output->type != "elasticsearch")
    throw std::runtime_error(
        "setup --index-management loads the index template through output.elasticsearch, "
        "which is not the enabled output");
  curl();
  auto fail = [&](const std::string& key, const std::string& why) {
    throw ConfigError(cfg.file, "output.elasticsearch" + (key.empty() ? "" : "." + key), why);
  };
  const Client client(cfg.output->raw, fail);
  const auto [name, body] = index_template(cfg);
  std::string why;
  for (std::size_t h = 0; h < client.hosts.size(); ++h) {
    std::string resp, err;
    const long status = client.request(h, "PUT", "/_index_template/" + name, body, resp, err);
    if (status >= 200 && status < 300) {
      log_line("info", "index template " + name + " loaded into " + client.hosts[h]);
      return;
    }
    why += (why.empty() ? "" : "; ") + client.hosts[h] + ": " +
           (status ? "HTTP " + std::to_string(status) + " " + resp.substr(0, 400) : err);
  }
  throw std::runtime_error("setup --index-management: the index template " + name +
                           " was not loaded: " + why);
}

}  // namespace tapbeat
