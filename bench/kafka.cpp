// Events/s from tapbeat's Kafka output into a broker, beside a minimal librdkafka
// producer sending the same payloads with the same keys, in the same run.
//
//   tapbeat-kafka-bench --broker 127.0.0.1:19092 --events FILE.ndjson [--count N]
//                       [--compression none,lz4,zstd,gzip] [--chunk-kb 256]
//
// FILE holds events as tapbeat writes them (one JSON object per line); they are
// repeated up to N. For each compression codec: tapbeat's sink is fed chunks of
// whole lines the way the output thread feeds it (write, then service when full),
// then close() waits for every delivery report; the reference producer does
// producev(F_COPY) per event with the same key (network.community_id) and
// timestamp, polls, and flushes. Each gets its own fresh topic. Reported: events/s
// (wall, first event to last acknowledgement), MB/s of payload, and the CPU time of
// the calling thread (the output thread's share) per event.
#include <librdkafka/rdkafka.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "event/event_fields.hpp"
#include "output/kafka_sink.hpp"

namespace {

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}
double wall_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Result {
  double wall, cpu;
  uint64_t acked;
};

Result run_tapbeat(const std::string& broker, const std::string& topic, const std::string& codec,
                   const std::vector<std::string>& chunks) {
  const std::string yaml = "output.kafka:\n  hosts: ['" + broker + "']\n  topic: '" + topic +
                           "'\n  compression: " + codec + "\ntapbeat.shutdown_timeout: 300s\n";
  const tapbeat::Config cfg = tapbeat::load_config_text(yaml, "bench", {});
  auto sink = tapbeat::open_kafka_sink(cfg);
  const double w0 = wall_s(), c0 = thread_cpu_s();
  for (const std::string& c : chunks) {
    std::string_view rest = c;
    for (;;) {
      const std::size_t took = sink->write(rest);
      if (took == rest.size()) break;
      rest.remove_prefix(took);
      sink->service(1);
    }
    sink->service(0);
  }
  sink->close(tapbeat::mono_ns() + cfg.engine.shutdown_timeout_ns);
  const double w1 = wall_s(), c1 = thread_cpu_s();
  std::string buf(4096, '\0');
  tapbeat::JsonWriter jw(buf.data(), buf.size());
  jw.begin_object();
  sink->stats(jw);
  jw.end_object();
  buf.resize(jw.size());
  const auto pos = buf.find("\"output.kafka.acked\":");
  const uint64_t acked = pos == std::string::npos ? 0 : std::stoull(buf.substr(pos + 21));
  return {w1 - w0, c1 - c0, acked};
}

uint64_t g_ref_acked = 0;
void ref_dr(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (!m->err) ++g_ref_acked;
}

Result run_reference(const std::string& broker, const std::string& topic, const std::string& codec,
                     const std::vector<std::string>& lines, const std::vector<std::string>& keys,
                     const std::vector<int64_t>& stamps, uint64_t count) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::cerr << k << ": " << err << "\n";
      std::exit(2);
    }
  };
  // The settings tapbeat uses, so only the code around producev differs.
  set("bootstrap.servers", broker);
  set("enable.idempotence", "true");
  set("acks", "all");
  set("compression.codec", codec);
  if (codec == "gzip") set("compression.level", "4");
  set("batch.num.messages", "2048");
  set("linger.ms", "5");
  set("queue.buffering.max.messages", "100000");
  set("queue.buffering.max.kbytes", "262144");
  set("message.timeout.ms", "0");
  set("max.in.flight.requests.per.connection", "1");  // as the sink sets it
  rd_kafka_conf_set_dr_msg_cb(conf, ref_dr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  g_ref_acked = 0;
  const double w0 = wall_s(), c0 = thread_cpu_s();
  for (uint64_t i = 0; i < count; ++i) {
    const std::size_t k = i % lines.size();
    for (;;) {
      const rd_kafka_resp_err_t e = rd_kafka_producev(
          rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(const_cast<char*>(lines[k].data()), lines[k].size()),
          RD_KAFKA_V_KEY(keys[k].data(), keys[k].size()), RD_KAFKA_V_TIMESTAMP(stamps[k]), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        std::cerr << "reference produce: " << rd_kafka_err2str(e) << "\n";
        std::exit(2);
      }
      rd_kafka_poll(rk, 1);
    }
    if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 300'000);
  const double w1 = wall_s(), c1 = thread_cpu_s();
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return {w1 - w0, c1 - c0, g_ref_acked};
}

}  // namespace

int main(int argc, char** argv) {
  std::string broker = "127.0.0.1:19092", events_file, codecs = "none,lz4,zstd,gzip";
  uint64_t count = 1'000'000;
  std::size_t chunk_bytes = 256 * 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--broker")
      broker = v;
    else if (a == "--events")
      events_file = v;
    else if (a == "--count")
      count = std::stoull(v);
    else if (a == "--compression")
      codecs = v;
    else if (a == "--chunk-kb")
      chunk_bytes = std::stoul(v) * 1024;
    else {
      std::cerr << "unknown flag " << a << "\n";
      return 2;
    }
  }
  std::vector<std::string> lines, keys;
  std::vector<int64_t> stamps;
  {
    std::ifstream in(events_file);
    std::string l;
    tapbeat::EventView ev;
    const std::string cid = tapbeat::field_pointer("network.community_id");
    while (std::getline(in, l)) {
      if (l.empty()) continue;
      ev.reset(l);
      std::string key;
      ev.get(cid, key);
      int64_t ts = 0;
      ev.timestamp_ms(ts);
      lines.push_back(l);
      keys.push_back(key);
      stamps.push_back(ts);
    }
  }
  if (lines.empty()) {
    std::cerr << "no events in " << events_file << " (--events FILE.ndjson)\n";
    return 2;
  }
  // Chunks as the workers hand them over: whole lines up to chunk_bytes.
  std::vector<std::string> chunks(1);
  uint64_t bytes = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const std::string& l = lines[i % lines.size()];
    if (chunks.back().size() + l.size() + 1 > chunk_bytes) chunks.emplace_back();
    chunks.back() += l;
    chunks.back() += '\n';
    bytes += l.size();
  }
  std::printf("%llu events (%zu distinct, %.0f bytes on average) into %s\n",
              static_cast<unsigned long long>(count), lines.size(), double(bytes) / count, broker.c_str());
  std::printf("%-6s %-10s %12s %9s %12s %9s\n", "codec", "producer", "events/s", "MB/s", "cpu ns/event",
              "acked");
  const std::string run_id = std::to_string(static_cast<long long>(wall_s() * 1000));
  std::size_t start = 0;
  while (start <= codecs.size()) {
    std::size_t end = codecs.find(',', start);
    if (end == std::string::npos) end = codecs.size();
    const std::string codec = codecs.substr(start, end - start);
    start = end + 1;
    if (codec.empty()) continue;
    const Result t = run_tapbeat(broker, "bench-tb-" + codec + "-" + run_id, codec, chunks);
    const Result r =
        run_reference(broker, "bench-ref-" + codec + "-" + run_id, codec, lines, keys, stamps, count);
    for (const auto& [name, res] : {std::pair{"tapbeat", t}, std::pair{"librdkafka", r}})
      std::printf("%-6s %-10s %12.0f %9.1f %12.0f %9llu\n", codec.c_str(), name, count / res.wall,
                  bytes / res.wall / 1e6, res.cpu * 1e9 / count, static_cast<unsigned long long>(res.acked));
    std::printf("%-6s tapbeat / reference: %.2fx events/s\n", codec.c_str(), r.wall / t.wall);
    std::fflush(stdout);
  }
  return 0;
}
