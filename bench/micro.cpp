// Micro benchmarks: L2–L4 parse cost per packet, flow lookup and insert at 1k and 1M
// flows, a worker burst, and per decoder: ns and heap allocations per message or
// transaction (event written included). Run: build/bench/tapbeat-micro
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <vector>

#include "decode/amqp/amqp_decoder.hpp"
#include "decode/cassandra/cassandra_decoder.hpp"
#include "decode/detect.hpp"
#include "decode/dhcpv4/dhcpv4_decoder.hpp"
#include "decode/dns/dns_decoder.hpp"
#include "decode/http/http_decoder.hpp"
#include "decode/http/http_wire.hpp"
#include "decode/memcache/memcache_decoder.hpp"
#include "decode/mongodb/mongodb_decoder.hpp"
#include "decode/mysql/mysql_decoder.hpp"
#include "decode/nfs/nfs_decoder.hpp"
#include "decode/pgsql/pgsql_decoder.hpp"
#include "decode/redis/redis_decoder.hpp"
#include "decode/sip/sip_decoder.hpp"
#include "decode/thrift/thrift_decoder.hpp"
#include "decode/tls/tls_decoder.hpp"
#include "engine/decoder_set.hpp"
#include "engine/worker.hpp"
#include "event/emitter.hpp"
#include "event/processors.hpp"
#include "flow/flow_table.hpp"
#include "net/parse.hpp"
#include "synth.hpp"
#include "tests/support/decoder_harness.hpp"
#include "tests/support/tls_messages.hpp"
#include "util/chain_store.hpp"

using namespace tapbeat;

// Heap allocations, counted so that each decoder benchmark reports allocs per item.
static std::atomic<uint64_t> g_allocs{0};
void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// The replacement operator new above takes its memory from malloc, so free is right.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

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
    benchmark::DoNotOptimize(
        parse_frame(f.data(), static_cast<uint32_t>(f.size()), link_type::kEthernet, m, c));
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
  const auto s =
      bench::make_synthetic(flows, std::max<uint64_t>(flows * 2ull, 4096), bench::SizeMix::parse("64"));
  std::vector<RawPacket> pkts;
  for (const auto& p : s.packets)
    pkts.push_back(RawPacket{s.bytes.data() + p.offset, p.len, p.len, p.ts_ns, 0, 1});
  AgentInfo agent{"b", "b", "b", "b", "0"};
  prepare_agent(agent);
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

// The root processors on an HTTP transaction event (1.4 KB): arg 0, a chain whose
// condition does not match (the event is copied and parsed for the condition, and
// passes as written); arg 1, a typical chain that changes it (drop agent and ecs,
// add a site object and a tag, rename a field) and writes it again.
void BM_ProcessorChain(benchmark::State& state) {
  const char* yaml = state.range(0) == 0 ? "- drop_event: {when: {equals: {type: dns}}}\n"
                                         : "- drop_fields: {fields: [agent, ecs]}\n"
                                           "- add_fields: {target: site, fields: {name: dc1, rack: 12}}\n"
                                           "- add_tags: {tags: [mirror]}\n"
                                           "- rename: {fields: [{from: url.full, to: url.original}]}\n";
  ProcessorChain chain(YAML::Load(yaml), [](const std::string&, const std::string&) {});
  ProcessorState st;
  std::string event =
      R"({"@timestamp":"2013-07-22T16:29:39.646Z","@metadata":{"beat":"tapbeat","type":"_doc","version":"0.1.0"},)"
      R"("agent":{"ephemeral_id":"95353e0b-f534-454c-a801-e729eb3b01ad","id":"73b74b52-aa01-5eb3-9a28-e19898486a2f",)"
      R"("name":"vm","type":"tapbeat","version":"0.1.0"},"client":{"bytes":386,"ip":"127.0.0.1","port":54689},)"
      R"("destination":{"bytes":2263,"domain":"localhost","ip":"127.0.0.1","port":5000},"ecs":{"version":"8.0.0"},)"
      R"("event":{"category":["network"],"dataset":"http","duration":6712000,"end":"2013-07-22T16:29:39.652Z",)"
      R"("kind":"event","start":"2013-07-22T16:29:39.646Z","type":["connection","protocol"]},"host":{"name":"vm"},)"
      R"("http":{"request":{"bytes":386,"method":"GET"},"response":{"body":{"bytes":2108},"bytes":2263,)"
      R"("headers":{"content-length":2108,"content-type":"text/html; charset=utf-8"},"status_code":200,)"
      R"("status_phrase":"ok"},"version":"1.1"},"method":"GET","network":{"bytes":2649,)"
      R"("community_id":"1:uoC6427xihP9Tm3UWqQMPr6gayQ=","direction":"ingress","protocol":"http","transport":"tcp",)"
      R"("type":"ipv4"},"query":"GET /","related":{"hosts":["localhost"],"ip":["127.0.0.1"]},)"
      R"("server":{"bytes":2263,"domain":"localhost","ip":"127.0.0.1","port":5000},)"
      R"("source":{"bytes":386,"ip":"127.0.0.1","port":54689},"status":"OK","type":"http",)"
      R"("url":{"domain":"localhost","full":"http://localhost:5000/","path":"/","port":5000,"scheme":"http"},)"
      R"("user_agent":{"original":"Mozilla/5.0 (X11; Linux x86_64; rv:22.0) Gecko/20100101 Firefox/22.0"}})";
  uint64_t errors = 0;
  chain.apply(event, st, errors);  // warm-up: buffers reach their size
  const uint64_t allocs0 = g_allocs.load();
  uint64_t n = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(chain.apply(event, st, errors));
    ++n;
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["allocs/event"] = static_cast<double>(g_allocs.load() - allocs0) / static_cast<double>(n);
}
BENCHMARK(BM_ProcessorChain)->Arg(0)->Arg(1);

// A decoder with everything the worker gives it, events drained as they fill.
using DecoderBench = test::DecoderHarness;

const std::string kHttpRequest =
    "GET /api/v1/items?id=42&sort=asc HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; "
    "Linux "
    "x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: application/json\r\nAccept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate\r\nReferer: http://shop.example.com/\r\nCookie: session=abc123; "
    "theme=dark\r\n"
    "Connection: keep-alive\r\n\r\n";
const std::string kHttpResponse =
    "HTTP/1.1 200 OK\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\nServer: nginx\r\nContent-Type: "
    "application/json\r\n"
    "Content-Length: 64\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n" +
    std::string(64, 'x');

void BM_HttpParseHead(benchmark::State& state) {
  http::Head h;
  for (auto _ : state) {
    benchmark::DoNotOptimize(http::parse_head(kHttpRequest, h));
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * kHttpRequest.size());
}
BENCHMARK(BM_HttpParseHead);

// One request and its response through the decoder, the event written. Arg 1: every
// header and the raw texts in the event as well.
void BM_HttpTransaction(benchmark::State& state) {
  DecoderBench b;
  HttpSettings cfg;
  if (state.range(0)) cfg.send_all_headers = cfg.send_request = cfg.send_response = true;
  HttpDecoder dec(b.setup("http", &cfg));
  alignas(8) uint8_t conn[kDecoderStateBytes];
  dec.open(conn);
  StreamInfo c;
  c.port[0] = 40000;
  c.port[1] = 80;
  const auto* rq = reinterpret_cast<const uint8_t*>(kHttpRequest.data());
  const auto* rs = reinterpret_cast<const uint8_t*>(kHttpResponse.data());
  uint64_t n = 0;
  const uint64_t allocs0 = g_allocs.load();
  for (auto _ : state) {
    c.ts_ns += 1000;
    dec.data(conn, c, 0, {rq, kHttpRequest.size()});
    dec.data(conn, c, 1, {rs, kHttpResponse.size()});
    if (++n % 512 == 0) b.drain();
  }
  state.counters["allocs/tx"] = static_cast<double>(g_allocs.load() - allocs0) / static_cast<double>(n);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * (kHttpRequest.size() + kHttpResponse.size()));
  dec.close(conn, c);
}
BENCHMARK(BM_HttpTransaction)->Arg(0)->Arg(1);

// A datagram protocol's decoder fed a request (from port 40000) and its reply, a
// transaction each time.
void request_reply_loop(benchmark::State& state, DecoderBench& b, Decoder& dec, const std::vector<uint8_t>& q,
                        const std::vector<uint8_t>& r, uint16_t server_port) {
  PacketMeta mq, mr;
  mq.ip_version = mr.ip_version = 4;
  mq.l4_proto = mr.l4_proto = 17;
  mq.src[15] = mr.dst[15] = 1;
  mq.dst[15] = mr.src[15] = 2;
  mq.sport = mr.dport = 40000;
  mq.dport = mr.sport = server_port;
  mq.l4_payload = q.data(), mq.l4_payload_len = static_cast<uint32_t>(q.size());
  mr.l4_payload = r.data(), mr.l4_payload_len = static_cast<uint32_t>(r.size());
  uint64_t n = 0, ts = 1'000'000'000;
  const uint64_t allocs0 = g_allocs.load();
  for (auto _ : state) {
    mq.ts_ns = ts += 1000;
    mr.ts_ns = ts += 1000;
    dec.datagram(mq);
    dec.datagram(mr);
    if (++n % 512 == 0) b.drain();
  }
  state.counters["allocs/tx"] = static_cast<double>(g_allocs.load() - allocs0) / static_cast<double>(n);
  state.SetItemsProcessed(state.iterations());
}

// A query for www.example.com (A) and its response with one answer, over UDP.
void BM_DnsTransaction(benchmark::State& state) {
  DecoderBench b;
  DnsSettings cfg;
  DnsDecoder dec(b.setup("dns", &cfg));
  const std::vector<uint8_t> q = {0x12, 0x34, 1,   0,   0,   1,   0,   0,   0,   0,   0,
                                  0,    3,    'w', 'w', 'w', 7,   'e', 'x', 'a', 'm', 'p',
                                  'l',  'e',  3,   'c', 'o', 'm', 0,   0,   1,   0,   1};
  std::vector<uint8_t> r = q;
  r[2] = 0x81, r[3] = 0x80, r[7] = 1;
  const uint8_t answer[] = {0xC0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, 216, 34};
  r.insert(r.end(), std::begin(answer), std::end(answer));
  request_reply_loop(state, b, dec, q, r, 53);
}
BENCHMARK(BM_DnsTransaction);

// A one-message protocol's decoder fed the same datagram, an event each time.
void one_message_loop(benchmark::State& state, DecoderBench& b, Decoder& dec, PacketMeta& pm) {
  uint64_t n = 0, ts = 1'000'000'000;
  const uint64_t allocs0 = g_allocs.load();
  for (auto _ : state) {
    pm.ts_ns = ts += 1000;
    dec.datagram(pm);
    if (++n % 512 == 0) b.drain();
  }
  state.counters["allocs/msg"] = static_cast<double>(g_allocs.load() - allocs0) / static_cast<double>(n);
  state.SetItemsProcessed(state.iterations());
}

// A DHCPREQUEST with the options a Linux client sends (300 bytes), one event each.
void BM_Dhcpv4Message(benchmark::State& state) {
  DecoderBench b;
  Dhcpv4Settings cfg;
  Dhcpv4Decoder dec(b.setup("dhcpv4", &cfg));
  std::vector<uint8_t> m(236, 0);
  m[0] = 1, m[1] = 1, m[2] = 6, m[4] = 0x3d, m[7] = 0x1e;
  const uint8_t mac[] = {0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42};
  std::copy(std::begin(mac), std::end(mac), m.begin() + 28);
  const uint8_t opts[] = {99,   130,  83,  99,  53,  1,   3,   61,  7,   1,  0,   0x0b, 0x82, 1,
                          0xfc, 0x42, 50,  4,   192, 168, 0,   10,  54,  4,  192, 168,  0,    1,
                          12,   6,    'l', 'a', 'p', 't', 'o', 'p', 55,  13, 1,   28,   2,    3,
                          15,   6,    119, 12,  44,  47,  26,  121, 42,  57, 2,   2,    64,   60,
                          8,    'u',  'd', 'h', 'c', 'p', ' ', '1', '.', 255};
  m.insert(m.end(), std::begin(opts), std::end(opts));
  m.resize(300, 0);
  PacketMeta pm;
  pm.ip_version = 4;
  pm.l4_proto = 17;
  pm.dst = {255, 255, 255, 255};
  pm.sport = 68;
  pm.dport = 67;
  pm.l4_payload = m.data(), pm.l4_payload_len = static_cast<uint32_t>(m.size());
  one_message_loop(state, b, dec, pm);
}
BENCHMARK(BM_Dhcpv4Message);

// An INVITE with an SDP body over UDP (sipp's UAC message, 560 bytes), one event each.
void BM_SipMessage(benchmark::State& state) {
  DecoderBench b;
  SipSettings cfg;
  SipDecoder dec(b.setup("sip", &cfg));
  const std::string sdp =
      "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
  const std::string m =
      "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-12-1-0\r\n"
      "From: sipp <sip:sipp@127.0.0.1:5061>;tag=12SIPpTag001\r\n"
      "To: service <sip:service@127.0.0.1:5060>\r\n"
      "Call-ID: 1-12@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
      "Contact: sip:sipp@127.0.0.1:5061\r\nMax-Forwards: 70\r\n"
      "Subject: Performance Test\r\nContent-Type: application/sdp\r\n"
      "Content-Length: " +
      std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
  PacketMeta pm;
  pm.ip_version = 4;
  pm.l4_proto = 17;
  pm.src[15] = 1;
  pm.dst[15] = 2;
  pm.sport = 5061;
  pm.dport = 5060;
  pm.l4_payload = reinterpret_cast<const uint8_t*>(m.data());
  pm.l4_payload_len = static_cast<uint32_t>(m.size());
  one_message_loop(state, b, dec, pm);
}
BENCHMARK(BM_SipMessage);

// An NFSv3 GETATTR call and its reply over UDP, paired into one event.
void BM_NfsTransaction(benchmark::State& state) {
  DecoderBench b;
  NfsSettings cfg;
  NfsDecoder dec(b.setup("nfs", &cfg));
  auto u32 = [](std::vector<uint8_t>& v, uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
  };
  std::vector<uint8_t> call, reply;
  for (uint32_t x : {0u, 0u, 2u, 100003u, 3u, 1u, 1u, 28u, 1u, 6u}) u32(call, x);  // AUTH_SYS, 28 bytes
  call.insert(call.end(), {'c', 'l', 'i', 'e', 'n', 't', 0, 0});
  for (uint32_t x : {1000u, 100u, 0u, 0u, 0u, 32u}) u32(call, x);
  call.insert(call.end(), 32, 0x11);  // the file handle
  for (uint32_t x : {0u, 1u, 0u, 0u, 0u, 0u, 0u}) u32(reply, x);
  reply.insert(reply.end(), 84, 0);  // fattr3
  request_reply_loop(state, b, dec, call, reply, 2049);
}
BENCHMARK(BM_NfsTransaction);

// A Thrift call (add, two i32) and its reply over a TCP connection, binary protocol,
// with the tutorial IDL naming the parameters.
void BM_ThriftTransaction(benchmark::State& state) {
  DecoderBench b;
  ThriftSettings cfg;
  auto idl = std::make_shared<ThriftIdl>();
  idl->parse("service Calculator { i32 add(1: i32 num1, 2: i32 num2) }", "bench");
  cfg.idl = idl;
  ThriftDecoder dec(b.setup("thrift", &cfg));
  auto be32 = [](std::vector<uint8_t>& v, uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
  };
  std::vector<uint8_t> call, reply;
  be32(call, 0x80010001);
  be32(call, 3);
  call.insert(call.end(), {'a', 'd', 'd'});
  be32(call, 1);
  for (uint16_t id : {1, 2}) {
    call.insert(call.end(), {8, 0, static_cast<uint8_t>(id)});
    be32(call, id);
  }
  call.push_back(0);
  be32(reply, 0x80010002);
  be32(reply, 3);
  reply.insert(reply.end(), {'a', 'd', 'd'});
  be32(reply, 1);
  reply.insert(reply.end(), {8, 0, 0});
  be32(reply, 3);
  reply.push_back(0);
  alignas(8) uint8_t conn[kDecoderStateBytes] = {};
  dec.open(conn);
  StreamInfo c;
  c.addr[0][15] = 1;
  c.addr[1][15] = 2;
  c.port[0] = 40000;
  c.port[1] = 9090;
  uint64_t n = 0;
  const uint64_t allocs0 = g_allocs.load();
  for (auto _ : state) {
    c.ts_ns += 1000;
    dec.data(conn, c, 0, call);
    c.ts_ns += 1000;
    dec.data(conn, c, 1, reply);
    if (++n % 512 == 0) b.drain();
  }
  state.counters["allocs/tx"] = static_cast<double>(g_allocs.load() - allocs0) / static_cast<double>(n);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ThriftTransaction);

// Two transactions per iteration (a store and its answer, a load and its answer)
// through a stream decoder, events written; reports allocations per transaction.
void run_store_load(benchmark::State& state, DecoderBench& b, Decoder& dec, uint16_t port,
                    const std::string& store, const std::string& stored, const std::string& load,
                    const std::string& loaded) {
  alignas(8) uint8_t conn[kDecoderStateBytes];
  dec.open(conn);
  StreamInfo c;
  c.port[0] = 40000;
  c.port[1] = port;
  auto span = [](const std::string& x) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(x.data()), x.size());
  };
  uint64_t n = 0;
  const uint64_t allocs0 = g_allocs.load();
  for (auto _ : state) {
    c.ts_ns += 1000;
    dec.data(conn, c, 0, span(store));
    dec.data(conn, c, 1, span(stored));
    dec.data(conn, c, 0, span(load));
    dec.data(conn, c, 1, span(loaded));
    if (++n % 256 == 0) b.drain();
  }
  state.counters["allocs/tx"] = static_cast<double>(g_allocs.load() - allocs0) / static_cast<double>(2 * n);
  state.SetItemsProcessed(state.iterations() * 2);
  dec.close(conn, c);
}

// SET and its +OK, then GET and its bulk reply.
void BM_RedisTransaction(benchmark::State& state) {
  DecoderBench b;
  RedisSettings cfg;
  RedisDecoder dec(b.setup("redis", &cfg));
  run_store_load(state, b, dec, 6379, "*3\r\n$3\r\nSET\r\n$8\r\nuser:100\r\n$16\r\n{\"name\":\"alice\"}\r\n",
                 "+OK\r\n", "*2\r\n$3\r\nGET\r\n$8\r\nuser:100\r\n", "$16\r\n{\"name\":\"alice\"}\r\n");
}
BENCHMARK(BM_RedisTransaction);

// Text protocol: a set and its STORED, a get and its VALUE ... END.
void BM_MemcacheTransaction(benchmark::State& state) {
  DecoderBench b;
  MemcacheSettings cfg;
  MemcacheDecoder dec(b.setup("memcache", &cfg));
  run_store_load(state, b, dec, 11211, "set user:100 0 0 16\r\n{\"name\":\"alice\"}\r\n", "STORED\r\n",
                 "get user:100\r\n", "VALUE user:100 0 16\r\n{\"name\":\"alice\"}\r\nEND\r\n");
}
BENCHMARK(BM_MemcacheTransaction);

// MySQL packets: a 3-byte length, a sequence id, the payload.
std::string mysql_packet(uint8_t seq, const std::string& payload) {
  std::string out{static_cast<char>(payload.size() & 0xff), static_cast<char>(payload.size() >> 8 & 0xff),
                  static_cast<char>(payload.size() >> 16), static_cast<char>(seq)};
  return out + payload;
}

std::string lenenc(const std::string& s) { return std::string(1, static_cast<char>(s.size())) + s; }

// An INSERT and its OK; a SELECT and its result set (2 columns, 1 row, EOFs).
void BM_MysqlTransaction(benchmark::State& state) {
  DecoderBench b;
  MysqlSettings cfg;
  MysqlDecoder dec(b.setup("mysql", &cfg));
  auto column = [](uint8_t seq, const std::string& name) {
    return mysql_packet(seq, lenenc("def") + lenenc("shop") + lenenc("users") + lenenc("users") +
                                 lenenc(name) + lenenc(name) +
                                 std::string("\x0c\x21\x00\xff\x00\x00\x00\xfd\x00\x00\x00\x00\x00", 13));
  };
  const std::string eof("\xfe\x00\x00\x02\x00", 5);
  run_store_load(state, b, dec, 3306,
                 mysql_packet(0, "\x03INSERT INTO users (id, name) VALUES (100, 'alice')"),
                 mysql_packet(1, std::string("\x00\x01\x64\x02\x00\x00\x00", 7)),
                 mysql_packet(0, "\x03SELECT id, name FROM users WHERE id = 100"),
                 mysql_packet(1, "\x02") + column(2, "id") + column(3, "name") + mysql_packet(4, eof) +
                     mysql_packet(5, lenenc("100") + lenenc("alice")) + mysql_packet(6, eof));
}
BENCHMARK(BM_MysqlTransaction);

// PostgreSQL messages: a type, a 4-byte big-endian length (itself included), the body.
std::string pg_message(char type, const std::string& body) {
  const uint32_t n = static_cast<uint32_t>(body.size() + 4);
  return std::string{type, static_cast<char>(n >> 24), static_cast<char>(n >> 16 & 0xff),
                     static_cast<char>(n >> 8 & 0xff), static_cast<char>(n & 0xff)} +
         body;
}

// An INSERT and its CommandComplete; a SELECT and its row description, one row,
// CommandComplete; each answer ends with ReadyForQuery.
void BM_PgsqlTransaction(benchmark::State& state) {
  DecoderBench b;
  PgsqlSettings cfg;
  PgsqlDecoder dec(b.setup("pgsql", &cfg));
  const std::string field_tail(18, '\0');
  const std::string ready = pg_message('Z', "I");
  run_store_load(state, b, dec, 5432,
                 pg_message('Q', std::string("INSERT INTO users (id, name) VALUES (100, 'alice')") + '\0'),
                 pg_message('C', std::string("INSERT 0 1") + '\0') + ready,
                 pg_message('Q', std::string("SELECT id, name FROM users WHERE id = 100") + '\0'),
                 pg_message('T', std::string("\x00\x02id\0", 5) + field_tail + "name" + '\0' + field_tail) +
                     pg_message('D', std::string("\x00\x02\x00\x00\x00\x03"
                                                 "100"
                                                 "\x00\x00\x00\x05"
                                                 "alice",
                                                 18)) +
                     pg_message('C', std::string("SELECT 1") + '\0') + ready);
}
BENCHMARK(BM_PgsqlTransaction);

// A MongoDB OP_MSG message: header (length, request id, responseTo, 2013), flags 0,
// one body section.
std::string mongo_msg(int32_t id, int32_t response_to, const std::string& doc) {
  auto le = [](int32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(static_cast<uint32_t>(v) >> (8 * i) & 0xff);
    return s;
  };
  const std::string body = le(0) + std::string(1, '\0') + doc;
  return le(static_cast<int32_t>(16 + body.size())) + le(id) + le(response_to) + le(2013) + body;
}

// A BSON document of string and int32 elements.
std::string bson(std::initializer_list<std::pair<std::string, std::string>> strings,
                 std::initializer_list<std::pair<std::string, int32_t>> ints = {}) {
  auto le = [](int32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(static_cast<uint32_t>(v) >> (8 * i) & 0xff);
    return s;
  };
  std::string body;
  for (const auto& [k, v] : strings)
    body += '\x02' + k + '\0' + le(static_cast<int32_t>(v.size() + 1)) + v + '\0';
  for (const auto& [k, v] : ints) body += '\x10' + k + '\0' + le(v);
  return le(static_cast<int32_t>(body.size() + 5)) + body + '\0';
}

// An insert and its {n: 1, ok: 1}; a find and its reply (the body document).
void BM_MongodbTransaction(benchmark::State& state) {
  DecoderBench b;
  MongodbSettings cfg;
  MongodbDecoder dec(b.setup("mongodb", &cfg));
  run_store_load(state, b, dec, 27017, mongo_msg(1, 0, bson({{"insert", "users"}, {"$db", "shop"}})),
                 mongo_msg(2, 1, bson({}, {{"n", 1}, {"ok", 1}})),
                 mongo_msg(3, 0, bson({{"find", "users"}, {"$db", "shop"}}, {{"limit", 1}})),
                 mongo_msg(4, 3, bson({{"name", "alice"}}, {{"id", 100}, {"ok", 1}})));
}
BENCHMARK(BM_MongodbTransaction);

// A CQL v4 frame: version (0x84 for responses), flags, stream, opcode, length, body.
std::string cql_frame(bool response, int16_t stream, uint8_t op, const std::string& body) {
  const uint32_t n = static_cast<uint32_t>(body.size());
  return std::string{static_cast<char>(response ? 0x84 : 0x04),
                     0,
                     static_cast<char>(stream >> 8),
                     static_cast<char>(stream & 0xff),
                     static_cast<char>(op),
                     static_cast<char>(n >> 24),
                     static_cast<char>(n >> 16 & 0xff),
                     static_cast<char>(n >> 8 & 0xff),
                     static_cast<char>(n & 0xff)} +
         body;
}

std::string be_int(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16 & 0xff), static_cast<char>(v >> 8 & 0xff),
          static_cast<char>(v & 0xff)};
}

std::string cql_string(const std::string& s) {
  return std::string{static_cast<char>(s.size() >> 8), static_cast<char>(s.size() & 0xff)} + s;
}

// QUERY: [long string] query, consistency ONE, no flags.
std::string cql_query(const std::string& q) {
  return be_int(static_cast<uint32_t>(q.size())) + q + std::string("\x00\x01\x00", 3);
}

// An INSERT and its void RESULT; a SELECT and its rows (global table spec, 2 columns, 1 row).
void BM_CassandraTransaction(benchmark::State& state) {
  DecoderBench b;
  CassandraSettings cfg;
  CassandraDecoder dec(b.setup("cassandra", &cfg));
  const std::string rows = be_int(2) + be_int(1) + be_int(2) + cql_string("shop") + cql_string("users") +
                           cql_string("id") + std::string("\x00\x09", 2) + cql_string("name") +
                           std::string("\x00\x0d", 2) + be_int(1) + be_int(4) + be_int(100) + be_int(5) +
                           "alice";
  run_store_load(state, b, dec, 9042,
                 cql_frame(false, 1, 0x07, cql_query("INSERT INTO users (id, name) VALUES (100, 'alice')")),
                 cql_frame(true, 1, 0x08, be_int(1)),
                 cql_frame(false, 2, 0x07, cql_query("SELECT id, name FROM users WHERE id = 100")),
                 cql_frame(true, 2, 0x08, rows));
  if (b.count("cassandra.transactions") < 2 * static_cast<uint64_t>(state.iterations()))
    state.SkipWithError("the Cassandra decoder did not pair the frames");
}
BENCHMARK(BM_CassandraTransaction);

// AMQP 0-9-1 method frames on channel 1: type 1, channel, size, class and method, the
// arguments, frame-end.
std::string amqp_method(uint16_t cls, uint16_t method, const std::string& args) {
  const std::string payload = std::string{static_cast<char>(cls >> 8), static_cast<char>(cls & 0xff),
                                          static_cast<char>(method >> 8), static_cast<char>(method & 0xff)} +
                              args;
  return std::string{1, 0, 1} + be_int(static_cast<uint32_t>(payload.size())) + payload + '\xce';
}

std::string shortstr(const std::string& s) { return std::string(1, static_cast<char>(s.size())) + s; }

// queue.declare and its declare-ok; exchange.declare and its declare-ok.
void BM_AmqpTransaction(benchmark::State& state) {
  DecoderBench b;
  AmqpSettings cfg;
  AmqpDecoder dec(b.setup("amqp", &cfg));
  const std::string no_table(4, '\0');
  run_store_load(
      state, b, dec, 5672,
      amqp_method(50, 10, std::string(2, '\0') + shortstr("orders") + std::string(1, 2) + no_table),
      amqp_method(50, 11, shortstr("orders") + be_int(12) + be_int(1)),
      amqp_method(
          40, 10,
          std::string(2, '\0') + shortstr("events") + shortstr("topic") + std::string(1, 2) + no_table),
      amqp_method(40, 11, ""));
  if (b.count("amqp.transactions") < 2 * static_cast<uint64_t>(state.iterations()))
    state.SkipWithError("the AMQP decoder did not pair the methods");
}
BENCHMARK(BM_AmqpTransaction);

void BM_DetectClassify(benchmark::State& state) {
  DecoderSet set;
  const uint16_t dns[] = {53}, http[] = {80};
  set.enable("dns", dns);
  set.enable("http", http);
  set.enable_detection();
  PayloadDetector::Scratch scratch(*set.plan().detector);
  const auto* p = reinterpret_cast<const uint8_t*>(kHttpRequest.data());
  for (auto _ : state)
    benchmark::DoNotOptimize(set.plan().detector->classify(scratch, {p, kHttpRequest.size()}, true));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DetectClassify);

}  // namespace

// One TLS 1.2 session per iteration, from ClientHello to both ChangeCipherSpecs, its
// event written. Arg 1: the server sends a two-certificate chain (parsed, fingerprinted,
// written with x509 fields); Arg 0: a resumed session without certificates.
void BM_TlsSession(benchmark::State& state) {
  using namespace test::tls_wire;
  DecoderBench b;
  TlsSettings cfg;
  TlsDecoder dec(b.setup("tls", &cfg));
  const bool certs = state.range(0) != 0;
  const std::string ch = record(22, client_hello({}));
  std::string sflight = record(22, server_hello(0xc02f, ext(0xff01, u8(0)) + ext(16, u16(3) + u8(2) + "h2")));
  if (certs)
    sflight +=
        record(22, certificate_message({certificate_der("www.example.org"), certificate_der("Example CA")}) +
                       handshake(12, u8(3) + u16(29) + u8(32) + std::string(32, 'k')) + handshake(14, ""));
  sflight += record(20, u8(1)) + record(22, std::string(40, 'f'));
  const std::string cflight =
      (certs ? record(22, handshake(16, u8(32) + std::string(32, 'k'))) : std::string()) + record(20, u8(1)) +
      record(22, std::string(40, 'f'));
  auto span = [](const std::string& x) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(x.data()), x.size());
  };
  alignas(8) uint8_t conn[kDecoderStateBytes];
  StreamInfo c;
  c.port[0] = 40000;
  c.port[1] = 443;
  uint64_t n = 0;
  for (auto _ : state) {
    std::memset(conn, 0, sizeof conn);
    dec.open(conn);
    c.ts_ns += 1000;
    dec.data(conn, c, 0, span(ch));
    dec.data(conn, c, 1, span(sflight));
    dec.data(conn, c, 0, span(cflight));
    dec.close(conn, c);
    if (++n % 256 == 0) b.drain();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TlsSession)->Arg(0)->Arg(1);

BENCHMARK_MAIN();
