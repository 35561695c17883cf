// output.kafka through librdkafka, with Packetbeat's option names and meanings.
//
// One producer, driven by the output thread only: events go in with producev()
// (copied, so the worker's chunk is recycled at once), delivery reports come back
// from rd_kafka_poll() on the same thread. Nothing is lost without a count:
//   - librdkafka's own queue is the in-memory bound (queue.mem.events); when it is
//     full, write() takes no more and the output thread stops draining workers, whose
//     chunks then fill and drop events (counted by the workers) — or, with queue.disk,
//     events go to the disk queue and are read back in order once the broker keeps up;
//   - messages never time out inside librdkafka (message.timeout.ms = 0): a broker
//     that goes away and comes back gets every message once, in order (idempotent
//     producer, one request in flight per broker); at shutdown what is still queued after
//     tapbeat.shutdown_timeout is purged into the disk queue, or counted as lost;
//   - a delivery that fails for good is counted by its error name.
#include "output/kafka_sink.hpp"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include "control.hpp"
#include "event/event_fields.hpp"
#include "event/json_writer.hpp"
#include "event/spool.hpp"
#include "log.hpp"
#include "util/fnv.hpp"
#include "util/safe_file.hpp"
#include "version.hpp"

namespace tapbeat {
namespace {

// Message opaque: bits 0..30 the disk-queue segment a message was read from (0:
// none), bit 31 set when bits 32..63 carry the partition hash of `partition.hash.hash`.
constexpr uint64_t kHasHash = 1ull << 31;
constexpr uint64_t kTokenMask = kHasHash - 1;

struct Partitioning {
  enum class Mode { kHash, kRandom, kRoundRobin } mode = Mode::kHash;
  bool reachable_only = false;
  uint64_t group_events = 1;
  std::atomic<uint64_t> counter{0};
  std::vector<std::string> hash_fields;  // JSON pointers
};

// Called by librdkafka on the producing thread or, for messages that waited for
// metadata, on its own thread: only atomics here.
int32_t partition_cb(const rd_kafka_topic_t* rkt, const void* key, size_t keylen, int32_t count,
                     void* topic_opaque, void* msg_opaque) {
  auto* p = static_cast<Partitioning*>(topic_opaque);
  const uint64_t op = reinterpret_cast<uintptr_t>(msg_opaque);
  int32_t part;
  switch (p->mode) {
    case Partitioning::Mode::kHash:
      if (op & kHasHash) {
        part = static_cast<int32_t>((op >> 32) % static_cast<uint32_t>(count));
      } else if (key && keylen) {
        // Java's default partitioner, so other producers of the same keys agree.
        part = rd_kafka_msg_partitioner_murmur2(rkt, key, keylen, count, topic_opaque, msg_opaque);
      } else {
        part = static_cast<int32_t>(p->counter.fetch_add(1, std::memory_order_relaxed) * 2654435761u % count);
      }
      break;
    case Partitioning::Mode::kRandom: {
      thread_local std::minstd_rand rng{std::random_device{}()};
      thread_local uint64_t left = 0;
      thread_local int32_t current = 0;
      if (left == 0) {
        current = static_cast<int32_t>(rng() % static_cast<uint32_t>(count));
        left = p->group_events;
      }
      --left;
      part = current % count;
      break;
    }
    case Partitioning::Mode::kRoundRobin:
    default:
      part = static_cast<int32_t>((p->counter.fetch_add(1, std::memory_order_relaxed) / p->group_events) %
                                  static_cast<uint64_t>(count));
  }
  if (p->reachable_only && !rd_kafka_topic_partition_available(rkt, part)) {
    for (int32_t i = 1; i < count; ++i) {
      const int32_t q = (part + i) % count;
      if (rd_kafka_topic_partition_available(rkt, q)) return q;
    }
  }
  return part;
}

std::string scalar(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : std::string(); }

class KafkaSink final : public Sink {
 public:
  KafkaSink(const Config& cfg, SinkOpen how) : file_(cfg.file) {
    const YAML::Node s = cfg.output->raw;
    auto fail = [&](const std::string& key, const std::string& why) -> void {
      throw ConfigError(file_, "output.kafka" + (key.empty() ? "" : "." + key), why);
    };

    // What goes where.
    try {
      topic_ = Selector(s, "topic", "topics");
    } catch (const std::invalid_argument& e) {
      fail("", e.what());
    }
    try {
      key_ = FormatString(s["key"] ? scalar(s["key"]) : std::string("%{[network.community_id]}"));
    } catch (const std::invalid_argument& e) {
      fail("key", e.what());
    }
    if (const YAML::Node p = s["partition"]; p && p.IsMap() && p.size() == 1) {
      const std::string kind = p.begin()->first.as<std::string>();
      const YAML::Node body = p.begin()->second;
      partitioning_.mode = kind == "random"        ? Partitioning::Mode::kRandom
                           : kind == "round_robin" ? Partitioning::Mode::kRoundRobin
                                                   : Partitioning::Mode::kHash;
      if (body && body.IsMap()) {
        for (auto it = body.begin(); it != body.end(); ++it) {
          const std::string k = it->first.as<std::string>();
          const std::string at = "partition." + kind + "." + k;
          if (k == "reachable_only") {
            partitioning_.reachable_only = it->second.as<bool>();
          } else if (k == "group_events" && kind != "hash") {
            const long long v = it->second.as<long long>();
            if (v < 1) fail(at, "must be at least 1");
            partitioning_.group_events = static_cast<uint64_t>(v);
          } else if (k == "hash" && kind == "hash") {
            const YAML::Node list = it->second;  // the iterator's proxy is a temporary
            if (!list.IsSequence()) fail(at, "expected a list of field names");
            for (const auto& f : list)
              partitioning_.hash_fields.push_back(field_pointer(f.as<std::string>()));
          } else {
            fail(at, "unknown setting");
          }
        }
      }
    }
    max_message_bytes_ = s["max_message_bytes"] ? s["max_message_bytes"].as<uint64_t>() : 1000000;
    if (max_message_bytes_ < 1024) fail("max_message_bytes", "must be at least 1024");
    if (const YAML::Node h = s["headers"]) {
      if (!h.IsSequence()) fail("headers", "expected a list of {key, value}");
      headers_ = rd_kafka_headers_new(h.size());
      for (std::size_t i = 0; i < h.size(); ++i) {
        const std::string k = scalar(h[i]["key"]), v = scalar(h[i]["value"]);
        if (k.empty()) fail("headers[" + std::to_string(i) + "].key", "missing");
        rd_kafka_header_add(headers_, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                            static_cast<ssize_t>(v.size()));
      }
    }
    if (const YAML::Node c = s["codec"]) {
      if (!c.IsMap() || c.size() != 1 || c.begin()->first.as<std::string>() != "json")
        fail("codec", "only codec.json is supported (events are JSON documents)");
      if (c["json"]["pretty"] && c["json"]["pretty"].as<bool>())
        fail("codec.json.pretty", "pretty printing is not supported");
    }
    if (s["version"])
      log_line("info",
               "output.kafka.version is ignored: librdkafka negotiates the protocol version with the broker");

    // The producer.
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const std::string& key, const std::string& name, const std::string& value) {
      char err[512];
      if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        fail(key, std::string(err));
      }
    };
    std::string hosts;
    for (const auto& h : s["hosts"]) {
      if (const std::string why = host_port_error(h.as<std::string>()); !why.empty())
        fail("hosts", "bad address '" + h.as<std::string>() + "': " + why);
      hosts += (hosts.empty() ? "" : ",") + h.as<std::string>();
    }
    set("hosts", "bootstrap.servers", hosts);
    set("client_id", "client.id", s["client_id"] ? scalar(s["client_id"]) : "tapbeat");

    const bool acks_set = static_cast<bool>(s["required_acks"]);
    const int acks = acks_set ? s["required_acks"].as<int>() : -1;
    bool idempotent = s["idempotent"] ? s["idempotent"].as<bool>() : true;
    // Records carry the event's @timestamp (packet time) unless `received`: a replayed old
    // capture would otherwise fall outside the topic's retention and be deleted at once.
    const std::string record_ts = s["record_timestamp"] ? scalar(s["record_timestamp"]) : "event";
    if (record_ts != "event" && record_ts != "received")
      fail("record_timestamp",
           "expected event (the event's @timestamp) or received (when tapbeat publishes it)");
    received_timestamps_ = record_ts == "received";
    if (acks != -1) {
      if (s["idempotent"] && idempotent)
        fail("idempotent", "the idempotent producer needs required_acks: -1 (all); required_acks is " +
                               std::to_string(acks));
      if (idempotent)
        log_line("warn", "output.kafka.required_acks: " + std::to_string(acks) +
                             " turns the idempotent producer off: a broker restart can duplicate events");
      idempotent = false;
    }
    set("required_acks", "acks", acks == -1 ? "all" : std::to_string(acks));
    set("idempotent", "enable.idempotence", idempotent ? "true" : "false");
    // One produce request in flight per broker with the idempotent producer: librdkafka
    // up to 2.x answers the out-of-order-sequence errors that follow a request lost to a
    // disconnect (a broker restart) by bumping the producer epoch, and the requests
    // resent under the new epoch can duplicate what the broker had already written
    // (librdkafka issue 4953). With one in flight, a lost request is simply resent with
    // its sequence, and the broker drops what it already has.
    if (idempotent) set("", "max.in.flight.requests.per.connection", "1");
    const std::string codec = s["compression"] ? scalar(s["compression"]) : "gzip";
    set("compression", "compression.codec", codec);
    if (s["compression_level"])
      set("compression_level", "compression.level", scalar(s["compression_level"]));
    else if (codec == "gzip")
      set("compression_level", "compression.level", "4");  // Beats' default
    set("max_message_bytes", "message.max.bytes",
        std::to_string(std::max<uint64_t>(max_message_bytes_ + 1024, 4096)));
    set("bulk_max_size", "batch.num.messages", s["bulk_max_size"] ? scalar(s["bulk_max_size"]) : "2048");
    auto ms = [&](const char* key, int64_t fallback_ms) {
      return s[key] ? ms_of(s[key], key, fail) : std::to_string(fallback_ms);
    };
    set("bulk_flush_frequency", "linger.ms", ms("bulk_flush_frequency", 5));
    const std::string timeout_ms = ms("timeout", 30'000);
    set("timeout", "socket.timeout.ms", timeout_ms);
    set("broker_timeout", "request.timeout.ms", ms("broker_timeout", 10'000));
    // Start-up waits at most a minute for a broker, whatever the request timeout.
    connect_timeout_ms_ = std::min<int64_t>(std::stoll(timeout_ms), 60'000);
    if (s["max_retries"]) {
      const int r = s["max_retries"].as<int>();
      set("max_retries", "message.send.max.retries", r < 0 ? "2147483647" : std::to_string(r));
    }
    if (const YAML::Node b = s["backoff"]) {
      if (b["init"]) {
        set("backoff.init", "retry.backoff.ms", ms_of(b["init"], "backoff.init", fail));
        set("backoff.init", "reconnect.backoff.ms", ms_of(b["init"], "backoff.init", fail));
      }
      if (b["max"]) set("backoff.max", "reconnect.backoff.max.ms", ms_of(b["max"], "backoff.max", fail));
    }
    if (const YAML::Node k = s["keep_alive"])
      set("keep_alive", "socket.keepalive.enable",
          parse_duration_ns(k.Scalar()).value_or(0) > 0 ? "true" : "false");
    if (const YAML::Node m = s["metadata"]) {
      if (m["refresh_frequency"])
        set("metadata.refresh_frequency", "topic.metadata.refresh.interval.ms",
            ms_of(m["refresh_frequency"], "metadata.refresh_frequency", fail));
      if (m["retry"] && m["retry"]["backoff"])
        set("metadata.retry.backoff", "retry.backoff.ms",
            ms_of(m["retry"]["backoff"], "metadata.retry.backoff", fail));
    }
    set("", "message.timeout.ms", "0");
    mem_events_ = cfg.queue.mem_events ? cfg.queue.mem_events : 100000;
    set("", "queue.buffering.max.messages", std::to_string(mem_events_));
    set("", "queue.buffering.max.kbytes", "262144");
    set("", "statistics.interval.ms", "1000");

    // Security: ssl.* and SASL, as Beats names them.
    const YAML::Node ssl = s["ssl"];
    const bool tls = ssl && (ssl["enabled"] ? ssl["enabled"].as<bool>() : true);
    const bool sasl = static_cast<bool>(s["username"]);
    set("ssl", "security.protocol",
        tls ? (sasl ? "sasl_ssl" : "ssl") : (sasl ? "sasl_plaintext" : "plaintext"));
    if (tls) {
      if (const YAML::Node ca = ssl["certificate_authorities"]) {
        if (ca.IsSequence() && ca.size() > 1)
          fail("ssl.certificate_authorities",
               "librdkafka takes one CA file; concatenate them into one PEM file");
        set("ssl.certificate_authorities", "ssl.ca.location",
            ca.IsSequence() ? ca[0].as<std::string>() : ca.as<std::string>());
      }
      if (ssl["certificate"]) set("ssl.certificate", "ssl.certificate.location", scalar(ssl["certificate"]));
      if (ssl["key"]) set("ssl.key", "ssl.key.location", scalar(ssl["key"]));
      if (ssl["key_passphrase"]) set("ssl.key_passphrase", "ssl.key.password", scalar(ssl["key_passphrase"]));
      if (ssl["cipher_suites"]) {
        std::string list;
        for (const auto& c : ssl["cipher_suites"]) list += (list.empty() ? "" : ":") + c.as<std::string>();
        set("ssl.cipher_suites", "ssl.cipher.suites", list);
      }
      const std::string mode = ssl["verification_mode"] ? scalar(ssl["verification_mode"]) : "full";
      if (mode == "none") {
        set("ssl.verification_mode", "enable.ssl.certificate.verification", "false");
        set("ssl.verification_mode", "ssl.endpoint.identification.algorithm", "none");
      } else if (mode == "certificate") {
        set("ssl.verification_mode", "ssl.endpoint.identification.algorithm", "none");
      } else if (mode == "full" || mode == "strict") {
        set("ssl.verification_mode", "ssl.endpoint.identification.algorithm", "https");
      } else {
        fail("ssl.verification_mode", "'" + mode + "' is not one of full, strict, certificate, none");
      }
    }
    if (sasl) {
      set("username", "sasl.username", scalar(s["username"]));
      set("password", "sasl.password", scalar(s["password"]));
      std::string mech = s["sasl"] && s["sasl"]["mechanism"] ? scalar(s["sasl"]["mechanism"]) : "PLAIN";
      if (mech != "PLAIN" && mech != "SCRAM-SHA-256" && mech != "SCRAM-SHA-512")
        fail("sasl.mechanism",
             "expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (as Beats), got '" + mech + "'");
      set("sasl.mechanism", "sasl.mechanism", mech);
    }
    // Raw librdkafka properties, last, so they win.
    if (const YAML::Node raw = s["librdkafka"]) {
      if (!raw.IsMap()) fail("librdkafka", "expected a mapping of librdkafka property: value");
      for (auto it = raw.begin(); it != raw.end(); ++it) {
        const std::string k = it->first.as<std::string>();
        set("librdkafka." + k, k, scalar(it->second));
      }
    }

    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &KafkaSink::on_delivery);
    rd_kafka_conf_set_error_cb(conf, &KafkaSink::on_error);
    rd_kafka_conf_set_stats_cb(conf, &KafkaSink::on_stats);
    rd_kafka_conf_set_log_cb(conf, &KafkaSink::on_log);
    // Topic-level properties set above (message.timeout.ms, request.timeout.ms, ...)
    // already live in the default topic configuration: add to it, never replace it.
    rd_kafka_topic_conf_t* tconf = rd_kafka_conf_get_default_topic_conf(conf);
    if (!tconf) {
      tconf = rd_kafka_topic_conf_new();
      rd_kafka_conf_set_default_topic_conf(conf, tconf);
    }
    rd_kafka_topic_conf_set_partitioner_cb(tconf, partition_cb);
    rd_kafka_topic_conf_set_opaque(tconf, &partitioning_);

    char err[512];
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk_) {
      rd_kafka_conf_destroy(conf);
      throw ConfigError(file_, "output.kafka", std::string("librdkafka refuses the settings: ") + err);
    }

    if (how == SinkOpen::kCheckOnly) {
      if (cfg.queue.disk)
        if (const std::string why = check_private_dir(cfg.queue.disk_path); !why.empty())
          throw ConfigError(file_, "queue.disk.path", why);
      return;
    }
    if (cfg.queue.disk) {
      try {
        spool_ = std::make_unique<Spool>(
            SpoolSettings{cfg.queue.disk_path, cfg.queue.disk_max_bytes, cfg.queue.disk_segment_bytes},
            [](const std::string& m) { log_line("warn", m); });
      } catch (const std::runtime_error& e) {
        throw ConfigError(file_, "queue.disk.path", e.what());
      }
      if (!spool_->empty())
        log_line("info", "disk queue " + cfg.queue.disk_path + " holds " + std::to_string(spool_->bytes()) +
                             " bytes from an earlier run; they are sent first");
    }

    // Reachability at start. `test output` needs a broker; a run goes on without one:
    // librdkafka keeps trying every broker (reconnect.backoff.*), and events wait in
    // its queue (queue.mem.events; full: the workers drop, counted) or the disk queue.
    const int64_t wait_ms =
        how == SinkOpen::kRun ? std::min<int64_t>(connect_timeout_ms_, kStartProbeMs) : connect_timeout_ms_;
    const rd_kafka_metadata_t* md = nullptr;
    const rd_kafka_resp_err_t merr = rd_kafka_metadata(rk_, 0, nullptr, &md, static_cast<int>(wait_ms));
    if (md) rd_kafka_metadata_destroy(md);
    if (merr != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const std::string why = "no Kafka broker of " + hosts + " answered within " +
                              std::to_string(wait_ms / 1000.0).substr(0, 4) + " s (" +
                              rd_kafka_err2str(merr) + ")";
      if (how == SinkOpen::kRequireConnection) {
        rd_kafka_destroy(rk_);
        rk_ = nullptr;
        throw std::runtime_error("output.kafka.hosts: " + why);
      }
      unreachable_at_start_ = true;
      log_line("warn", "output.kafka.hosts: " + why + "; " + output_down_note(cfg, mem_events_));
    }
    if (topic_.constant()) {
      EventView none;
      none.reset("{}");
      std::string name;
      topic_.select(none, name);
      fixed_topic_ = topic(name);
    }
  }

  ~KafkaSink() override {
    for (auto& [name, t] : topics_) rd_kafka_topic_destroy(t);
    if (headers_) rd_kafka_headers_destroy(headers_);
    if (rk_) rd_kafka_destroy(rk_);
  }

  std::size_t write(std::string_view lines) override {
    std::size_t pos = 0;
    while (pos < lines.size()) {
      std::size_t nl = lines.find('\n', pos);
      if (nl == std::string_view::npos) nl = lines.size();
      const std::string_view line = lines.substr(pos, nl - pos);
      if (!line.empty() && !publish(line)) return pos;  // full: the rest waits
      pos = nl + 1;
    }
    return lines.size();
  }

  void service(int timeout_ms) override {
    rd_kafka_poll(rk_, timeout_ms);
    if (spool_) {
      drain_spool();
      const uint64_t now = mono_ns();
      if (now >= next_sync_ns_) {
        spool_->sync();
        next_sync_ns_ = now + 1'000'000'000;
      }
    }
  }

  bool close(uint64_t deadline_ns) override {
    while (before_close_deadline(deadline_ns)) {
      service(10);
      if (rd_kafka_outq_len(rk_) == 0 && (!spool_ || spool_->empty())) break;
    }
    closing_ = true;
    const int left = rd_kafka_outq_len(rk_);
    if (left > 0) {
      // Purged events go back to the disk queue where there is one and it has room:
      // the line says where each went, as the counters do.
      const uint64_t spooled0 = spooled_.load(), full0 = dropped_disk_full_.load(), failed0 = failed_.load();
      rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      for (int i = 0; i < 100 && rd_kafka_outq_len(rk_) > 0; ++i) rd_kafka_poll(rk_, 10);
      std::string where = std::to_string(failed_.load() - failed0) + " lost (output.kafka.failed)";
      if (spool_)
        where = std::to_string(spooled_.load() - spooled0) + " kept in the disk queue for the next start, " +
                std::to_string(dropped_disk_full_.load() - full0) + " dropped as it is full " +
                "(output.queue.disk.dropped_full), " + where;
      log_line("warn", "output.kafka: " + std::to_string(left) +
                           " events not delivered within tapbeat.shutdown_timeout: " + where);
    }
    rd_kafka_poll(rk_, 0);
    if (spool_) spool_->close();
    return failed_.load() == 0;
  }

  uint64_t dropped() const override {
    return failed_.load() + dropped_too_large_.load() + dropped_no_topic_.load() + dropped_disk_full_.load();
  }

  void stats(JsonWriter& w) const override {
    w.field_uint("output.kafka.acked", acked_.load());
    w.field_uint("output.kafka.failed", failed_.load());
    w.field_uint("output.kafka.possibly_persisted", possibly_persisted_.load());
    w.field_uint("output.kafka.retried", retried_.load());
    w.field_uint("output.kafka.producer_id_changes", producer_id_changes_.load());
    // Records produced and not yet reported delivered or failed. rd_kafka_outq_len
    // also counts librdkafka's own requests and pending callbacks, so it is not used here.
    w.field_uint("output.kafka.queued", in_flight_.load());
    w.field_uint("output.kafka.dropped.too_large", dropped_too_large_.load());
    w.field_uint("output.kafka.dropped.no_topic", dropped_no_topic_.load());
    w.field_uint("output.kafka.keyless", keyless_.load());
    w.field_uint("output.kafka.broker_errors", broker_errors_.load());
    {
      std::lock_guard<std::mutex> lock(reasons_mutex_);
      for (const auto& [name, n] : failed_by_reason_) w.field_uint("output.kafka.failed." + name, n);
    }
    if (spool_) {
      w.field_uint("output.queue.disk.spooled", spooled_.load());
      w.field_uint("output.queue.disk.read", spool_read_.load());
      w.field_uint("output.queue.disk.bytes", spool_bytes_.load());
      w.field_uint("output.queue.disk.dropped_full", dropped_disk_full_.load());
      w.field_uint("output.queue.disk.corrupt_segments", spool_corrupt_.load());
      w.field_uint("output.queue.disk.invalid_records", spool_invalid_.load());
    }
  }

 private:
  template <class Fail>
  static std::string ms_of(const YAML::Node& n, const std::string& key, Fail& fail) {
    const auto v = n.IsScalar() ? parse_duration_ns(n.Scalar()) : std::nullopt;
    if (!v || *v < 0) fail(key, "expected a duration such as 10s");
    return std::to_string(*v / 1'000'000);
  }

  rd_kafka_topic_t* topic(std::string_view name) {
    auto it = topics_.find(name);
    if (it != topics_.end()) return it->second;
    if (topics_.size() >= kMaxTopics) return nullptr;
    std::string owned(name);
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk_, owned.c_str(), nullptr);
    if (!t) return nullptr;
    topics_.emplace(std::move(owned), t);
    return t;
  }

  // partition.hash.hash: the FNV-1a of the listed fields, for partition_cb (0: none).
  uint64_t hash_opaque(EventView& ev) {
    if (partitioning_.hash_fields.empty()) return 0;
    uint32_t h = 2166136261u;
    for (const auto& f : partitioning_.hash_fields)
      if (ev.get(f, field_)) h = fnv1a32(field_, h);
    return (uint64_t{h} << 32) | kHasHash;
  }

  // False when the event could not be taken now (memory queue full, no disk queue).
  bool publish(std::string_view line) {
    if (line.size() > max_message_bytes_) {
      bump(dropped_too_large_);
      if (dropped_too_large_.load() == 1)
        log_line("warn", "output.kafka: an event of " + std::to_string(line.size()) +
                             " bytes exceeds max_message_bytes (" + std::to_string(max_message_bytes_) +
                             "); dropped (counted in output.kafka.dropped.too_large)");
      return true;
    }
    ev_.reset(line);
    rd_kafka_topic_t* rkt = fixed_topic_;
    if (!rkt) {
      if (!topic_.select(ev_, topic_name_) || !(rkt = topic(topic_name_))) {
        bump(dropped_no_topic_);
        if (dropped_no_topic_.load() == 1)
          log_line("warn",
                   "output.kafka: an event matched no topic (or too many topics); dropped (counted in "
                   "output.kafka.dropped.no_topic)");
        return true;
      }
    }
    key_text_.clear();
    const bool keyed = key_.render(ev_, key_text_) && !key_text_.empty();
    if (!keyed) bump(keyless_);
    int64_t ts = 0;
    if (received_timestamps_)
      ts = static_cast<int64_t>(wall_ns() / 1'000'000);
    else
      ev_.timestamp_ms(ts);
    const uint64_t opaque = hash_opaque(ev_);
    if (spool_ && !spool_->empty())
      return to_spool(rd_kafka_topic_name(rkt), keyed ? key_text_ : std::string_view(), line, ts, false);
    const rd_kafka_resp_err_t err = produce(rkt, keyed ? key_text_ : std::string_view(), line, ts, opaque);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return true;
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      if (spool_)
        return to_spool(rd_kafka_topic_name(rkt), keyed ? key_text_ : std::string_view(), line, ts, false);
      return false;
    }
    count_failure(err);
    return true;
  }

  rd_kafka_resp_err_t produce(rd_kafka_topic_t* rkt, std::string_view key, std::string_view value, int64_t ts,
                              uint64_t opaque) {
    rd_kafka_headers_t* hdrs = headers_ ? rd_kafka_headers_copy(headers_) : nullptr;
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()), RD_KAFKA_V_TIMESTAMP(ts),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(opaque))),
        RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (hdrs) rd_kafka_headers_destroy(hdrs);
    } else {
      bump(in_flight_);
    }
    return err;
  }

  bool to_spool(std::string_view topic, std::string_view key, std::string_view value, int64_t ts,
                bool front) {
    const SpoolRecord r{topic, key, value, ts};
    const Spool::Push res = front ? spool_->push_front(r) : spool_->push(r);
    if (res == Spool::Push::kOk) {
      bump(spooled_);
      spool_bytes_.store(spool_->bytes(), std::memory_order_relaxed);
      if (!spooling_) {
        spooling_ = true;
        log_line("warn", "output.kafka: the broker is not keeping up; events go to the disk queue");
      }
      return true;
    }
    if (res == Spool::Push::kFull) {
      bump(dropped_disk_full_);
      if (dropped_disk_full_.load() == 1)
        log_line("error",
                 "disk queue full (queue.disk.max_size); events dropped (counted in "
                 "output.queue.disk.dropped_full)");
    } else {
      count_reason("disk_queue_error");
      bump(failed_);
      log_line("error", "disk queue write failed: " + spool_->error());
    }
    return true;
  }

  // Reads spooled events back while librdkafka has room, in order.
  void drain_spool() {
    const int room = static_cast<int>(kDrainLimit);
    SpoolRecord r;
    uint32_t token = 0;
    while (rd_kafka_outq_len(rk_) < room && spool_->peek(r, token)) {
      rd_kafka_topic_t* rkt = topic(r.topic);
      if (!rkt) {
        bump(dropped_no_topic_);
        spool_->pop();
        spool_->ack(token);
        continue;
      }
      // The disk queue keeps no partition hash: it is taken from the event again.
      uint64_t opaque = token & kTokenMask;
      if (!partitioning_.hash_fields.empty()) {
        ev_.reset(r.value);
        opaque |= hash_opaque(ev_);
      }
      const rd_kafka_resp_err_t err = produce(rkt, r.key, r.value, r.timestamp_ms, opaque);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
      spool_->pop();
      bump(spool_read_);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        count_failure(err);
        spool_->ack(token);
      }
    }
    if (spooling_ && spool_->empty()) {
      spooling_ = false;
      log_line("info", "output.kafka: disk queue drained");
    }
    spool_bytes_.store(spool_->bytes(), std::memory_order_relaxed);
    spool_corrupt_.store(spool_->corrupt_segments(), std::memory_order_relaxed);
    spool_invalid_.store(spool_->invalid_records(), std::memory_order_relaxed);
  }

  void count_reason(const std::string& name) {
    std::lock_guard<std::mutex> lock(reasons_mutex_);
    ++failed_by_reason_[name];
  }
  void count_failure(rd_kafka_resp_err_t err) {
    bump(failed_);
    std::string name = rd_kafka_err2name(err);
    while (!name.empty() && name[0] == '_') name.erase(0, 1);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    count_reason(name);
    // Purged at shutdown: the closing line says how many, in one line.
    if (closing_) return;
    if (failed_.load() <= 10 || (failed_.load() & (failed_.load() - 1)) == 0)
      log_line("error", std::string("output.kafka: delivery failed: ") + rd_kafka_err2str(err) + " (" +
                            std::to_string(failed_.load()) + " so far)");
  }

  static bool worth_spooling(rd_kafka_resp_err_t err) {
    switch (err) {
      case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
      case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
      case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
      case RD_KAFKA_RESP_ERR__TIMED_OUT:
      case RD_KAFKA_RESP_ERR__TRANSPORT:
      case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
      case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
      case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return true;
      default:
        return false;
    }
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    const uint64_t op = reinterpret_cast<uintptr_t>(m->_private);
    const uint32_t token = static_cast<uint32_t>(op & kTokenMask);
    self->in_flight_.fetch_sub(1, std::memory_order_relaxed);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (self->unreachable_at_start_) {
        self->unreachable_at_start_ = false;
        log_line("info", "output.kafka: a broker answers now; the events that waited are being delivered");
      }
      bump(self->acked_);
    } else if (self->spool_ && worth_spooling(m->err)) {
      rd_kafka_timestamp_type_t tt;
      const int64_t ts = rd_kafka_message_timestamp(m, &tt);
      self->to_spool(rd_kafka_topic_name(m->rkt),
                     std::string_view(static_cast<const char*>(m->key), m->key ? m->key_len : 0),
                     std::string_view(static_cast<const char*>(m->payload), m->len), ts, self->closing_);
    } else {
      // In flight when the broker went away or the run ended: the broker may have
      // written it without answering. Counted as failed, and apart as possibly written.
      if (rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED)
        bump(self->possibly_persisted_);
      self->count_failure(m->err);
    }
    if (token && self->spool_) self->spool_->ack(token);
  }

  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    bump(self->broker_errors_);
    const uint64_t now = mono_ns();
    if (now < self->next_error_log_ns_.load()) return;
    self->next_error_log_ns_.store(now + 10'000'000'000ull);
    log_line(err == RD_KAFKA_RESP_ERR__FATAL ? "error" : "warn",
             std::string("output.kafka: ") + rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)) + ": " +
                 reason);
  }

  static int on_stats(rd_kafka_t*, char* json, size_t len, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    simdjson::dom::element doc;
    if (self->stats_parser_.parse(json, len).get(doc) != simdjson::SUCCESS) return 0;
    uint64_t retries = 0;
    simdjson::dom::object brokers;
    if (doc["brokers"].get(brokers) == simdjson::SUCCESS) {
      for (auto [name, b] : brokers) {
        uint64_t n = 0;
        if (b["txretries"].get(n) == simdjson::SUCCESS) retries += n;
      }
    }
    self->retried_.store(retries, std::memory_order_relaxed);
    // The idempotent producer's id (or epoch) assigned again after the first: librdkafka
    // does it when the broker no longer knows the producer or its sequences disagree, and
    // requests resent under the new id can repeat records the broker had written.
    int64_t assignments = 0;
    if (doc["eos"]["epoch_cnt"].get(assignments) == simdjson::SUCCESS && assignments > 1)
      self->producer_id_changes_.store(static_cast<uint64_t>(assignments - 1), std::memory_order_relaxed);
    return 0;
  }

  static void on_log(const rd_kafka_t*, int level, const char* fac, const char* buf) {
    // Connection failures arrive through on_error too, rate-limited there.
    if (std::strcmp(fac, "FAIL") == 0) return;
    log_line(level <= 3   ? "error"
             : level <= 4 ? "warn"
                          : "info",
             std::string("librdkafka ") + fac + ": " + buf);
  }

  static constexpr std::size_t kMaxTopics = 1024;
  static constexpr uint32_t kDrainLimit = 50000;  // spooled events in librdkafka at once

  std::string file_;
  int64_t connect_timeout_ms_ = 30'000;
  uint64_t mem_events_ = 100000;
  bool unreachable_at_start_ = false;  // said once when the first delivery succeeds
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_headers_t* headers_ = nullptr;
  Selector topic_;
  FormatString key_;
  Partitioning partitioning_;
  uint64_t max_message_bytes_ = 1000000;
  rd_kafka_topic_t* fixed_topic_ = nullptr;
  // Looked up by string_view (spooled records carry their topic as a view).
  struct TopicHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
  };
  std::unordered_map<std::string, rd_kafka_topic_t*, TopicHash, std::equal_to<>> topics_;
  std::unique_ptr<Spool> spool_;
  bool spooling_ = false;
  bool closing_ = false;
  uint64_t next_sync_ns_ = 0;

  EventView ev_;
  std::string topic_name_, key_text_, field_;
  simdjson::dom::parser stats_parser_;

  bool received_timestamps_ = false;              // record_timestamp: received
  std::atomic<uint64_t> possibly_persisted_{0};   // of failed_: the broker may hold them
  std::atomic<uint64_t> in_flight_{0};            // produced, no delivery report yet
  std::atomic<uint64_t> producer_id_changes_{0};  // idempotent producer id or epoch assigned again
  std::atomic<uint64_t> acked_{0}, failed_{0}, retried_{0}, dropped_too_large_{0}, dropped_no_topic_{0},
      keyless_{0}, broker_errors_{0}, spooled_{0}, spool_read_{0}, spool_bytes_{0}, dropped_disk_full_{0},
      spool_corrupt_{0}, spool_invalid_{0}, next_error_log_ns_{0};
  mutable std::mutex reasons_mutex_;
  std::map<std::string, uint64_t> failed_by_reason_;
};

}  // namespace

std::unique_ptr<Sink> open_kafka_sink(const Config& cfg, SinkOpen how) {
  return std::make_unique<KafkaSink>(cfg, how);
}

}  // namespace tapbeat

// The module's entry points (kafka_loader.cpp calls them).
extern "C" {
extern const char tapbeat_plugin_version[];
const char tapbeat_plugin_version[] = TAPBEAT_VERSION;
tapbeat::Sink* tapbeat_kafka_open(const tapbeat::Config& cfg, tapbeat::SinkOpen how) {
  return tapbeat::open_kafka_sink(cfg, how).release();
}
}
