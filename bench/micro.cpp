// Micro benchmarks: L2–L4 parse cost per packet, flow lookup and insert at 1k and 1M
// flows, and a worker burst. Run: build/bench/tapbeat-micro
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "engine/worker.hpp"
#include "flow/flow_table.hpp"
#include "net/parse.hpp"
#include "synth.hpp"

using namespace tapbeat;

namespace {

void BM_ParseTcp64(benchmark::State& state) {
  const auto s = bench::make_synthetic(1, 1, bench::SizeMix::parse("64"));
  Counters c;
  PacketMeta m;
  for (auto _ : state) {
    m.clear();
    m.cap_len = m.wire_len = 64;
    benchmark::DoNotOptimize(parse_frame(s.bytes.data(), 64, link_type::kEthernet, m, c));
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseTcp64);

void BM_ParseVxlanInnerTcp(benchmark::State& state) {
  // Outer Ethernet/IPv4/UDP 4789/VXLAN around the synthetic TCP frame.
  const auto inner = bench::make_synthetic(1, 1, bench::SizeMix::parse("64"));
  std::vector<uint8_t> f(14 + 20 + 8 + 8);
  f[12] = 0x08;
  f[14] = 0x45;
  const uint16_t total = static_cast<uint16_t>(20 + 8 + 8 + 64);
  f[16] = total >> 8;
  f[17] = total & 0xFF;
  f[23] = 17;
  f[36] = 4789 >> 8;
  f[37] = 4789 & 0xFF;
  f[38] = (8 + 8 + 64) >> 8;
  f[39] = (8 + 8 + 64) & 0xFF;
  f[42] = 0x08;
  f.insert(f.end(), inner.bytes.begin(), inner.bytes.begin() + 64);
  Counters c;
  PacketMeta m;
  for (auto _ : state) {
    m.clear();
    m.cap_len = m.wire_len = static_cast<uint32_t>(f.size());
    benchmark::DoNotOptimize(parse_frame(f.data(), static_cast<uint32_t>(f.size()), link_type::kEthernet, m, c));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseVxlanInnerTcp);

std::vector<FlowKey> keys(uint32_t n) {
  const auto s = bench::make_synthetic(n, n, bench::SizeMix::parse("64"));
  std::vector<FlowKey> out(n);
  Counters c;
  for (uint32_t i = 0; i < n; ++i) {
    PacketMeta m;
    m.cap_len = m.wire_len = 64;
    parse_frame(s.bytes.data() + s.packets[i].offset, 64, link_type::kEthernet, m, c);
    bool from_a;
    FlowTable::make_key(m, out[i], from_a);
  }
  return out;
}

void BM_FlowLookupHit(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  const auto ks = keys(n);
  FlowTable t(n);
  for (const auto& k : ks) t.insert(k, FlowTable::hash_key(k));
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  std::size_t i = 0;
  for (auto _ : state) {
    const FlowKey& k = ks[order[i]];
    benchmark::DoNotOptimize(t.find(k, FlowTable::hash_key(k)));
    if (++i == n) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlowLookupHit)->Arg(1000)->Arg(1'000'000);

void BM_FlowInsertRemove(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  const auto ks = keys(n + 1);
  FlowTable t(n + 1);
  for (uint32_t j = 0; j < n; ++j) t.insert(ks[j], FlowTable::hash_key(ks[j]));
  // Steady state at n flows: insert a new flow, remove the oldest. Keys cycle FIFO
  // through n + 1 slots, so the removed key is the next one to insert.
  std::size_t next = n;
  for (auto _ : state) {
    const FlowKey& k = ks[next];
    t.insert(k, FlowTable::hash_key(k));
    t.remove(t.oldest());
    next = next == n ? 0 : next + 1;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlowInsertRemove)->Arg(1000)->Arg(1'000'000);

void BM_WorkerBurst(benchmark::State& state) {
  const uint32_t flows = static_cast<uint32_t>(state.range(0));
  const auto s = bench::make_synthetic(flows, std::max<uint64_t>(flows * 2ull, 4096), bench::SizeMix::parse("64"));
  std::vector<RawPacket> pkts;
  for (const auto& p : s.packets) pkts.push_back(RawPacket{s.bytes.data() + p.offset, p.len, p.len, p.ts_ns, 0, 1});
  AgentInfo agent{"b", "b", "b", "b", "0"};
  WorkerSettings ws;
  ws.flow_capacity = flows * 2;
  ws.flow_timeout_ns = 3600ull * 1'000'000'000;
  ws.flow_period_ns = -1;
  ws.agent = &agent;
  Worker w(ws);
  std::size_t i = 0;
  for (auto _ : state) {
    w.process({pkts.data() + i, Worker::kBurstSize});
    i += Worker::kBurstSize;
    if (i + Worker::kBurstSize > pkts.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations() * Worker::kBurstSize);
}
BENCHMARK(BM_WorkerBurst)->Arg(1000)->Arg(1'000'000);

}  // namespace

BENCHMARK_MAIN();
