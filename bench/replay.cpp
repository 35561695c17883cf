// End-to-end engine replay: loads a capture (or synthetic traffic) into memory,
// partitions it over the workers by the same symmetric hash the capture thread and
// NIC RSS use, and pushes it through each worker repeatedly, one thread per worker.
// Reports packets/s and Gbit/s per worker core.
//
//   tapbeat-replay (--pcap FILE | --synthetic FLOWS [--mix 64:7,576:4,1500:1] [--packets N])
//                  [--workers W] [--seconds S] [--write-pcap OUT] [--transactions]
// --transactions turns on the ICMP, DNS (UDP and TCP, port 53), HTTP (Packetbeat's
// default ports), Redis (6379, 6380), Memcache (11211), MySQL (3306, 3307, 13001) and
// PostgreSQL (5432), MongoDB (27017), AMQP (5672) and Cassandra (9042) decoders, other ports by
// payload detection, and reports events/s
// (transactions, and unmatched messages published alone) as well; each pass is then
// shifted in time so that its conversations are decoded anew.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "capture/capture_file.hpp"
#include "engine/decoder_set.hpp"
#include "engine/worker.hpp"
#include "net/parse.hpp"
#include "synth.hpp"

using namespace tapbeat;

namespace {

struct Options {
  std::string pcap;
  uint32_t flows = 0;
  uint64_t packets = 0;
  std::string mix = "64";
  uint32_t workers = 1;
  double seconds = 3;
  std::string write_pcap;
  bool transactions = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--pcap")
      o.pcap = next();
    else if (a == "--synthetic")
      o.flows = static_cast<uint32_t>(std::stoul(next()));
    else if (a == "--packets")
      o.packets = std::stoull(next());
    else if (a == "--mix")
      o.mix = next();
    else if (a == "--workers")
      o.workers = static_cast<uint32_t>(std::stoul(next()));
    else if (a == "--seconds")
      o.seconds = std::stod(next());
    else if (a == "--write-pcap")
      o.write_pcap = next();
    else if (a == "--transactions")
      o.transactions = true;
    else
      throw std::invalid_argument("unknown argument " + a);
  }
  if (o.pcap.empty() == (o.flows == 0)) throw std::invalid_argument("give --pcap FILE or --synthetic FLOWS");
  if (o.workers == 0) o.workers = 1;
  return o;
}

struct Loaded {
  std::vector<uint8_t> bytes;
  struct Pkt {
    uint64_t offset;
    uint32_t cap_len, wire_len;
    uint64_t ts_ns;
    uint16_t link_type;
  };
  std::vector<Pkt> pkts;
};

Loaded load(const Options& o) {
  Loaded l;
  if (!o.pcap.empty()) {
    CaptureFile f(o.pcap);
    CaptureFile::Packet p;
    while (f.next(p) == CaptureFile::Status::kPacket) {
      l.pkts.push_back({l.bytes.size(), p.cap_len, p.wire_len, p.ts_ns, p.link_type});
      l.bytes.insert(l.bytes.end(), p.data, p.data + p.cap_len);
    }
    return l;
  }
  const uint64_t n = o.packets ? o.packets : std::max<uint64_t>(uint64_t{o.flows} * 4, 1u << 20);
  bench::Synth s = bench::make_synthetic(o.flows, n, bench::SizeMix::parse(o.mix));
  if (!o.write_pcap.empty()) bench::write_pcap(s, o.write_pcap);
  l.bytes = std::move(s.bytes);
  for (const auto& p : s.packets) l.pkts.push_back({p.offset, p.len, p.len, p.ts_ns, 1});
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapbeat-replay: %s\n", e.what());
    return 1;
  }
  const Loaded l = load(o);
  if (l.pkts.empty()) {
    std::fprintf(stderr, "tapbeat-replay: no packets\n");
    return 1;
  }
  // Partition by the symmetric hash, as the dispatcher does.
  std::vector<std::vector<RawPacket>> parts(o.workers);
  Counters scratch;
  uint64_t wire_bytes = 0;
  for (const auto& p : l.pkts) {
    PacketMeta m;
    m.cap_len = p.cap_len;
    m.wire_len = p.wire_len;
    const ParseStatus st = parse_frame(l.bytes.data() + p.offset, p.cap_len, p.link_type, m, scratch);
    const uint32_t h = (st == ParseStatus::kOk || st == ParseStatus::kFragment) ? symmetric_hash(m) : 0;
    const std::size_t w = static_cast<std::size_t>((uint64_t{h} * o.workers) >> 32);
    parts[w].push_back(RawPacket{l.bytes.data() + p.offset, p.cap_len, p.wire_len, p.ts_ns, h, p.link_type});
    wire_bytes += p.wire_len;
  }
  AgentInfo agent{"bench", "bench", "bench", "bench", "0"};
  prepare_agent(agent);
  struct Result {
    uint64_t packets = 0, bytes = 0, passes = 0;
    double secs = 0;
    uint64_t flows = 0, created = 0, transactions = 0, events = 0;
  };
  // Every decoder on Packetbeat's usual ports, and payload detection.
  DecoderSet decoders;
  decoders.enable_all(false);
  decoders.enable_detection();
  std::vector<Result> results(o.workers);
  std::vector<std::thread> threads;
  const uint32_t capacity = std::max<uint32_t>(o.flows ? o.flows * 2 / o.workers + 1024 : 1u << 20, 1024);
  for (uint32_t w = 0; w < o.workers; ++w) {
    threads.emplace_back([&, w] {
      WorkerSettings s;
      s.id = w;
      s.flow_capacity = capacity;
      s.flow_timeout_ns = 3600ull * 1'000'000'000;
      s.flow_period_ns = -1;
      s.agent = &agent;
      if (o.transactions) s.decoders = &decoders.plan();
      Worker worker(s);
      const auto& part = parts[w];
      uint64_t part_bytes = 0;
      for (const auto& p : part) part_bytes += p.wire_len;
      Result& r = results[w];
      if (part.empty()) return;
      const auto start = std::chrono::steady_clock::now();
      const auto deadline = start + std::chrono::duration<double>(o.seconds);
      // With decoders on, every pass is a new stretch of time: the previous pass's
      // connections and pending transactions expire (as on a live link with churn)
      // and the same conversations are decoded again rather than read as
      // retransmissions. The time shift is applied per burst, outside the worker.
      // Packets are re-stamped 1 µs apart in file order (captures may carry
      // outlying timestamps that no shift could clear).
      const uint64_t shift = part.size() * 1000 + 3600ull * 1'000'000'000;
      std::vector<RawPacket> burst(Worker::kBurstSize);
      uint64_t offset = 1'000'000'000'000'000'000ull;
      do {
        // A clock tick at the start of each pass, as the capture runtime gives: the
        // previous pass's connections expire before this one's packets arrive.
        if (o.transactions) worker.on_clock(offset);
        for (std::size_t i = 0; i < part.size(); i += Worker::kBurstSize) {
          const std::size_t n = std::min<std::size_t>(Worker::kBurstSize, part.size() - i);
          if (!o.transactions) {
            worker.process({part.data() + i, n});
            continue;
          }
          for (std::size_t k = 0; k < n; ++k) {
            burst[k] = part[i + k];
            burst[k].ts_ns = offset + (i + k) * 1000;
          }
          worker.process({burst.data(), n});
        }
        offset += shift;
        r.packets += part.size();
        r.bytes += part_bytes;
        ++r.passes;
        while (EventChunk* c = worker.events().take_full()) worker.events().recycle(c);
      } while (std::chrono::steady_clock::now() < deadline);
      r.secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      r.flows = worker.flows().size();
      r.created = worker.counters().get(Counter::flow_created);
      // Every decoded message published, paired or alone.
      r.transactions = 0;  // every protocol's <name>.transactions
      for (std::size_t c = 0; c < counter_catalogue().size(); ++c)
        if (counter_catalogue()[c].name.ends_with(".transactions"))
          r.transactions += worker.counters().get(c);
      r.events = worker.counters().get(Counter::events_emitted);
      if (std::getenv("REPLAY_COUNTERS"))
        for (std::size_t c = 0; c < counter_catalogue().size(); ++c)
          if (uint64_t v = worker.counters().get(c))
            std::fprintf(stderr, "%s %llu\n", std::string(counter_catalogue()[c].name).c_str(),
                         static_cast<unsigned long long>(v));
    });
  }
  for (auto& t : threads) t.join();
  double total_pps = 0, total_bps = 0;
  std::printf("input: %zu packets, %.1f MB, %s\n", l.pkts.size(), wire_bytes / 1e6,
              o.pcap.empty() ? ("synthetic " + std::to_string(o.flows) + " flows, mix " + o.mix).c_str()
                             : o.pcap.c_str());
  for (uint32_t w = 0; w < o.workers; ++w) {
    const Result& r = results[w];
    if (r.secs == 0) continue;
    const double pps = r.packets / r.secs, bps = r.bytes * 8 / r.secs;
    total_pps += pps;
    total_bps += bps;
    std::printf("worker %u: %.2f Mpps  %.2f Gbit/s  (%llu passes, %llu flows in table)", w, pps / 1e6,
                bps / 1e9, static_cast<unsigned long long>(r.passes),
                static_cast<unsigned long long>(r.flows));
    if (o.transactions)
      std::printf("  %.0f transactions/s  %.0f events/s", r.transactions / r.secs, r.events / r.secs);
    std::printf("\n");
  }
  std::printf("total: %.2f Mpps  %.2f Gbit/s  per worker: %.2f Mpps\n", total_pps / 1e6, total_bps / 1e9,
              total_pps / 1e6 / o.workers);
  return 0;
}
