#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "decode/decoder_set.hpp"
#include "engine/worker.hpp"
#include "packet_builder.hpp"

namespace tapbeat {
namespace {

using test::Frame;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct RedisHarness {
  AgentInfo agent{"host", "host", "id", "eph", "0.0.0"};
  DecoderSet decoders;
  std::unique_ptr<Worker> w;
  std::vector<test::Bytes> keep;
  uint64_t ts = 1'000'000'000'000;
  uint32_t cseq = 100, sseq = 900;

  explicit RedisHarness(void (*tune)(RedisSettings&) = nullptr) {
    if (tune) tune(decoders.redis);
    const uint16_t ports[] = {6379};
    decoders.enable_redis(ports);
    WorkerSettings s;
    s.agent = &agent;
    s.flows_enabled = false;
    s.event_chunks = 4;
    s.event_chunk_bytes = 256 * 1024;
    s.decoders = &decoders.plan();
    w = std::make_unique<Worker>(s);
  }
  void frame(bool from_client, uint8_t flags, uint32_t seq, std::string_view payload) {
    Frame f;
    if (from_client) f.eth(0x0800, 1, 2).ipv4("10.0.0.1", "10.0.0.2", 6).tcp(50000, 6379, flags, seq);
    else f.eth(0x0800, 2, 1).ipv4("10.0.0.2", "10.0.0.1", 6).tcp(6379, 50000, flags, seq);
    f.text(payload);
    keep.push_back(f.finish().b);
    ts += 1'000'000;
    RawPacket p{keep.back().data(), static_cast<uint32_t>(keep.back().size()),
                static_cast<uint32_t>(keep.back().size()), ts, 0, link_type::kEthernet};
    w->process({&p, 1});
  }
  void client(std::string_view s) {
    frame(true, tcp_flag::kAck | tcp_flag::kPsh, cseq, s);
    cseq += static_cast<uint32_t>(s.size());
  }
  void server(std::string_view s) {
    frame(false, tcp_flag::kAck | tcp_flag::kPsh, sseq, s);
    sseq += static_cast<uint32_t>(s.size());
  }
  std::vector<std::string> finish() {
    w->finish();
    std::vector<std::string> lines;
    while (EventChunk* ch = w->events().take_full()) {
      std::string_view s(ch->data, ch->len);
      for (std::size_t start = 0; start < s.size();) {
        const std::size_t nl = s.find('\n', start);
        lines.emplace_back(s.substr(start, nl - start));
        start = nl + 1;
      }
      w->events().recycle(ch);
    }
    return lines;
  }
  uint64_t count(Counter c) const { return w->counters().get(c); }
};

TEST(Redis, Resp3RepliesAttributesAndPushes) {
  RedisHarness h;
  h.client("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");
  h.server("%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n");
  h.client("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  // A push arrives between the command and its reply; an attribute precedes the reply.
  h.server(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n|1\r\n+ttl\r\n:5\r\n=8\r\ntxt:abcd\r\n");
  h.client("*1\r\n$4\r\nPING\r\n");
  h.server("_\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("return_value":"[server, redis, proto, 3]")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("return_value":"abcd")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("resource":"k")"));
  EXPECT_TRUE(contains(ev[2], R"("return_value":"nil")"));
  EXPECT_EQ(h.count(Counter::redis_push_messages), 1u);
}

TEST(Redis, InlineCommandsAndErrors) {
  RedisHarness h;
  h.client("PING\r\n");
  h.server("+PONG\r\n");
  h.client("*2\r\n$4\r\nINCR\r\n$1\r\ns\r\n");
  h.server("-ERR value is not an integer or out of range\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("method":"PING")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("return_value":"PONG")"));
  EXPECT_TRUE(contains(ev[1], R"("error":"ERR value is not an integer or out of range")"));
  EXPECT_TRUE(contains(ev[1], R"("status":"Error")"));
}

TEST(Redis, QueueLimitsDropAndCount) {
  RedisHarness h([](RedisSettings& s) { s.queue_max_messages = 2; });
  h.client("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n");
  h.server("+PONG\r\n+PONG\r\n+PONG\r\n");
  const auto ev = h.finish();
  EXPECT_EQ(ev.size(), 2u);
  EXPECT_EQ(h.count(Counter::redis_queue_full), 1u);
  EXPECT_EQ(h.count(Counter::redis_unmatched_responses), 1u);
}

TEST(Redis, LargeValueStreamsThroughAndHolesInsideKeepFraming) {
  RedisHarness h;
  const std::string value(300'000, 'x');
  const std::string cmd = "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$300000\r\n" + value + "\r\n";
  for (std::size_t i = 0; i < cmd.size(); i += 1400) h.client(std::string_view(cmd).substr(i, 1400));
  h.server("+OK\r\n");
  h.client("*2\r\n$3\r\nGET\r\n$1\r\nb\r\n");
  const std::string reply = "$300000\r\n" + value + "\r\n";
  for (std::size_t i = 0; i < reply.size(); i += 1000) {
    if (i >= 5000 && i < 15000) {  // lost inside the value
      h.sseq += 1000;
      continue;
    }
    h.server(std::string_view(reply).substr(i, 1000));
  }
  h.client("*1\r\n$4\r\nPING\r\n");
  h.server("+PONG\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("bytes":)" + std::to_string(cmd.size()))) << ev[0].substr(0, 300);
  EXPECT_TRUE(contains(ev[1], R"("method":"GET")"));
  EXPECT_TRUE(contains(ev[2], R"("return_value":"PONG")"));
  EXPECT_EQ(h.count(Counter::redis_gaps), 1u);
  EXPECT_EQ(h.count(Counter::stream_buffer_full), 0u);
}

TEST(Redis, NotRespDetaches) {
  RedisHarness h;
  h.client("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  h.server(std::string("\x16\x03\x01\x00\x10 binary\r\n", 15));
  h.finish();
  EXPECT_EQ(h.count(Counter::redis_violations), 1u);
  EXPECT_EQ(h.count(Counter::redis_unmatched_requests), 1u);  // published at detach
}

}  // namespace
}  // namespace tapbeat
