// The hot-path contract: after start-up a worker allocates nothing per packet.
// A counting global operator new catches any allocation during process()/on_clock().
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "engine/decoder_set.hpp"
#include "engine/worker.hpp"
#include "packet_builder.hpp"

namespace {
std::atomic<uint64_t> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
// The replacement operator new above takes its memory from malloc, so free is right.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace tapbeat {
namespace {

TEST(HotPath, WorkerDoesNotAllocatePerPacket) {
  AgentInfo agent{"h", "h", "i", "e", "0"};
  WorkerSettings s;
  s.agent = &agent;
  s.flow_capacity = 256;  // small: evictions and their reports happen too
  s.flow_timeout_ns = 1'000'000'000;
  s.flow_period_ns = 500'000'000;
  s.event_chunks = 4;
  s.event_chunk_bytes = 64 * 1024;
  // Transactions too: every decoder of the registry on its usual ports with every
  // option that opens a path, transactions timing out within the run, payload
  // detection of the rest.
  NetworkSet internal({"private"});
  DecoderSet decoders;
  decoders.enable_all(true, 1'000'000'000);
  decoders.enable_detection();
  s.decoders = &decoders.plan();
  s.internal_networks = &internal;
  Worker w(s);
  // A mix: TCP, UDP, ICMP, VLAN, IPv6, fragments, malformed.
  std::vector<test::Bytes> frames;
  for (uint16_t i = 0; i < 1000; ++i) {
    test::Frame f;
    switch (i % 6) {
      case 0: {  // HTTP: a request, then its response on the same connection
        const uint16_t client = static_cast<uint16_t>(1000 + i / 12);
        if ((i / 6) % 2 == 0) {
          f.eth(0x0800)
              .ipv4("10.0.0.1", "10.0.0.2", 6)
              .tcp(client, (i / 6) % 4 == 0 ? 80 : 8080, 0x18, 1)
              .text("GET /a?b=c HTTP/1.1\r\nHost: x.example\r\nUser-Agent: t\r\n\r\n");
        } else {
          f.eth(0x0800)
              .ipv4("10.0.0.2", "10.0.0.1", 6)
              .tcp((i / 6) % 4 == 1 ? 80 : 8080, client, 0x18, 1)
              .text("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
        }
        break;
      }
      case 1:  // a DNS query for example.com, type A
        f.eth(0x0800)
            .ipv4("10.0.0.3", "10.0.0.4", 17)
            .udp(static_cast<uint16_t>(2000 + i), 53)
            .raw({static_cast<uint8_t>(i >> 8),
                  static_cast<uint8_t>(i),
                  1,
                  0,
                  0,
                  1,
                  0,
                  0,
                  0,
                  0,
                  0,
                  0,
                  7,
                  'e',
                  'x',
                  'a',
                  'm',
                  'p',
                  'l',
                  'e',
                  3,
                  'c',
                  'o',
                  'm',
                  0,
                  0,
                  1,
                  0,
                  1});
        break;
      case 2:
        f.eth(0x8100).vlan(7, 0x0800).ipv4("10.0.0.5", "10.0.0.6", 1).icmp(8, 0, i);
        break;
      case 3:  // DNS over TCP: a length-prefixed query, one per connection
        f.eth(0x0800)
            .ipv4("10.0.0.9", "10.0.0.53", 6)
            .tcp(static_cast<uint16_t>(3000 + i), 53, 0x18, 1)
            .raw({0,
                  17,
                  static_cast<uint8_t>(i >> 8),
                  static_cast<uint8_t>(i),
                  1,
                  0,
                  0,
                  1,
                  0,
                  0,
                  0,
                  0,
                  0,
                  0,
                  1,
                  'x',
                  0,
                  0,
                  1,
                  0,
                  1});
        break;
      case 4:
        if ((i / 6) % 2 == 0) {  // a fragment
          f.eth(0x0800).ipv4("10.0.0.7", "10.0.0.8", 17, i, 0x2000).payload(16);
        } else if ((i / 6) % 4 == 1) {  // Redis: a command, then its reply
          f.eth(0x0800)
              .ipv4("10.0.0.11", "10.0.0.12", 6)
              .tcp(static_cast<uint16_t>(5000 + i / 24), 6379, 0x18, 1)
              .text("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        } else {
          f.eth(0x0800)
              .ipv4("10.0.0.12", "10.0.0.11", 6)
              .tcp(6379, static_cast<uint16_t>(5000 + i / 24), 0x18, 1)
              .text("+OK\r\n");
        }
        break;
      case 5:
        f.eth(0x0800).raw({0x45, 0, 0, 99});
        break;
    }
    frames.push_back(f.finish().b);
  }
  std::vector<RawPacket> pkts;
  for (std::size_t i = 0; i < frames.size(); ++i)
    pkts.push_back(RawPacket{frames[i].data(), static_cast<uint32_t>(frames[i].size()),
                             static_cast<uint32_t>(frames[i].size()), 1'000'000'000ull + i * 5'000'000, 0,
                             1});
  const uint64_t before = g_allocations.load();
  for (std::size_t i = 0; i < pkts.size(); i += Worker::kBurstSize) {
    w.process({pkts.data() + i, std::min<std::size_t>(Worker::kBurstSize, pkts.size() - i)});
    w.on_clock(pkts[i].ts_ns);
    while (EventChunk* c = w.events().take_full()) w.events().recycle(c);
  }
  const uint64_t during = g_allocations.load() - before;
  EXPECT_EQ(during, 0u) << "allocations on the hot path";
  EXPECT_GT(w.counters().get(Counter::flow_evicted) + w.counters().get(Counter::flow_expired), 0u);
  EXPECT_GT(w.counters().get(Counter::events_emitted), 0u);
  EXPECT_GT(w.counters().get(Counter::frag_fragments), 0u);
  EXPECT_GT(w.counters().get(static_cast<std::size_t>(counter_index("dns.messages"))), 0u);
  EXPECT_GT(w.counters().get(static_cast<std::size_t>(counter_index("dns.unanswered_queries"))), 0u);
  EXPECT_GT(w.counters().get(Counter::tcp_reasm_midstream), 0u);
  EXPECT_GT(w.counters().get(static_cast<std::size_t>(counter_index("icmp.unanswered_requests"))), 0u);
  EXPECT_GT(w.counters().get(static_cast<std::size_t>(counter_index("http.transactions"))), 0u);
  EXPECT_GT(w.counters().get(static_cast<std::size_t>(counter_index("redis.transactions"))), 0u);
}

}  // namespace
}  // namespace tapbeat
