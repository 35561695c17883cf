#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/decoder_set.hpp"
#include "engine/worker.hpp"
#include "packet_builder.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

using test::Frame;
constexpr uint64_t kSec = 1'000'000'000;

struct Harness {
  AgentInfo agent{"host", "host", "id", "eph", "0.0.0"};
  std::unique_ptr<Worker> w;
  std::vector<test::Bytes> keep;

  explicit Harness(WorkerSettings s) {
    s.agent = &agent;
    s.event_chunks = 4;
    s.event_chunk_bytes = 64 * 1024;
    w = std::make_unique<Worker>(s);
  }
  void send(const test::Bytes& b, uint64_t ts) {
    keep.push_back(b);
    RawPacket p{keep.back().data(),  static_cast<uint32_t>(b.size()), static_cast<uint32_t>(b.size()), ts, 0,
                link_type::kEthernet};
    w->process({&p, 1});
  }
  // Every event line emitted so far.
  std::vector<std::string> drain() {
    w->flush();
    std::vector<std::string> lines;
    while (EventChunk* c = w->events().take_full()) {
      std::string_view s(c->data, c->len);
      std::size_t start = 0;
      while (start < s.size()) {
        const std::size_t nl = s.find('\n', start);
        lines.emplace_back(s.substr(start, nl - start));
        start = nl + 1;
      }
      w->events().recycle(c);
    }
    return lines;
  }
};

test::Bytes tcp_packet(bool forward, uint16_t client_port = 40000, std::size_t payload = 10) {
  Frame f;
  if (forward)
    f.eth(0x0800, 1, 2).ipv4("10.0.0.1", "10.0.0.2", 6).tcp(client_port, 80).payload(payload).finish();
  else
    f.eth(0x0800, 2, 1).ipv4("10.0.0.2", "10.0.0.1", 6).tcp(80, client_port).payload(payload).finish();
  return f.b;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Worker, CountsBothDirectionsAndReportsFinalAtFinish) {
  WorkerSettings s;
  s.flow_period_ns = -1;
  Harness h(s);
  const auto fwd = tcp_packet(true), rev = tcp_packet(false, 40000, 100);
  h.send(fwd, 1 * kSec);
  h.send(rev, 1 * kSec + 1000);
  h.send(fwd, 1 * kSec + 2000);
  h.w->finish();
  const auto ev = h.drain();
  ASSERT_EQ(ev.size(), 1u);
  const std::string& e = ev[0];
  EXPECT_TRUE(contains(e, R"("source":{"bytes":)" + std::to_string(2 * fwd.size()) +
                              R"(,"ip":"10.0.0.1","mac":"02-00-00-00-00-01","packets":2,"port":40000})"))
      << e;
  EXPECT_TRUE(contains(e, R"("destination":{"bytes":)" + std::to_string(rev.size()) +
                              R"(,"ip":"10.0.0.2","mac":"02-00-00-00-00-02","packets":1,"port":80})"))
      << e;
  EXPECT_TRUE(contains(e, R"("type":["connection","end"])")) << e;
  EXPECT_TRUE(contains(e, R"("final":true)")) << e;
  EXPECT_TRUE(contains(e, R"("duration":2000)")) << e;
  EXPECT_TRUE(contains(e, R"("network":{"bytes":)")) << e;
  EXPECT_EQ(h.w->counters().get(Counter::flow_created), 1u);
}

TEST(Worker, FramesWithoutIpAreFlowsOfTheirMacPairAndVlan) {
  // ARP request and reply between two stations, on VLAN 7 and untagged: two flows
  // (the VLAN is part of the key), each with both directions; no IP fields.
  WorkerSettings s;
  s.flow_period_ns = -1;
  Harness h(s);
  test::Frame req, rep, tagged;
  req.eth(0x0806, 1, 2).payload(28, 0);
  rep.eth(0x0806, 2, 1).payload(28, 0);
  tagged.eth(0x8100, 1, 2).vlan(7, 0x0806).payload(28, 0);
  h.send(req.b, 1 * kSec);
  h.send(rep.b, 1 * kSec + 500);
  h.send(tagged.b, 1 * kSec + 900);
  h.w->finish();
  const auto ev = h.drain();
  ASSERT_EQ(ev.size(), 2u);
  const std::string& e = ev[0].find("vlan") == std::string::npos ? ev[0] : ev[1];
  EXPECT_TRUE(contains(e, R"("destination":{"bytes":42,"mac":"02-00-00-00-00-02","packets":1})")) << e;
  EXPECT_TRUE(contains(e, R"("source":{"bytes":42,"mac":"02-00-00-00-00-01","packets":1})")) << e;
  EXPECT_TRUE(contains(e, R"("network":{"bytes":84,"packets":2})")) << e;
  EXPECT_FALSE(contains(e, "community_id")) << e;
  EXPECT_FALSE(contains(e, R"("ip":)")) << e;
  const std::string& t = &e == &ev[0] ? ev[1] : ev[0];
  EXPECT_TRUE(contains(t, R"("vlan":7)")) << t;
  EXPECT_EQ(h.w->counters().get(Counter::flow_created), 2u);
  EXPECT_EQ(h.w->counters().get(Counter::non_ip), 3u);
}

TEST(Worker, IdleTimeoutEndsFlowInPacketTime) {
  WorkerSettings s;
  s.flow_timeout_ns = 2 * kSec;
  s.flow_period_ns = -1;
  Harness h(s);
  h.send(tcp_packet(true, 1111), 10 * kSec);
  h.w->on_clock(11 * kSec);
  EXPECT_TRUE(h.drain().empty()) << "not idle long enough";
  h.w->on_clock(13 * kSec);
  const auto ev = h.drain();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("final":true)"));
  EXPECT_EQ(h.w->counters().get(Counter::flow_expired), 1u);
  EXPECT_EQ(h.w->flows().size(), 0u);
}

TEST(Worker, PeriodicReportsAreNotFinalAndDeltaReportsCountSinceLast) {
  for (bool delta : {false, true}) {
    WorkerSettings s;
    s.flow_timeout_ns = 100 * kSec;
    s.flow_period_ns = 10 * kSec;
    s.delta_reports = delta;
    Harness h(s);
    const auto p = tcp_packet(true, 2222);
    h.send(p, 1 * kSec);  // first tick arms the period timer at 1s + 10s
    h.send(p, 5 * kSec);
    h.w->on_clock(12 * kSec);
    h.send(p, 13 * kSec);
    h.w->on_clock(22 * kSec);
    h.w->finish();
    const auto ev = h.drain();
    ASSERT_EQ(ev.size(), 3u) << "two periodic reports and the final one";
    EXPECT_TRUE(contains(ev[0], R"("final":false)"));
    EXPECT_TRUE(contains(ev[0], R"("type":["connection"])"));
    EXPECT_TRUE(contains(ev[0], R"("packets":2,"port":2222)")) << ev[0];
    if (delta) {
      EXPECT_TRUE(contains(ev[1], R"("packets":1,"port":2222)")) << ev[1];
      EXPECT_TRUE(contains(ev[2], R"("packets":0,"port":2222)")) << ev[2];
    } else {
      EXPECT_TRUE(contains(ev[1], R"("packets":3,"port":2222)")) << ev[1];
      EXPECT_TRUE(contains(ev[2], R"("packets":3,"port":2222)")) << ev[2];
    }
    EXPECT_TRUE(contains(ev[2], R"("final":true)"));
  }
}

// A flow that timed out while a live flow stood before it in the LRU order (kept to a
// granularity of timeout / 16) gets its final report, stamped when it timed out, when
// the periodic reports run: not a periodic report stamped after that final one's time.
TEST(Worker, PeriodicReportsGiveAFlowThatTimedOutItsFinalReport) {
  WorkerSettings s;
  s.flow_timeout_ns = 16 * kSec;
  s.flow_period_ns = 16 * kSec + kSec / 5;
  Harness h(s);
  const uint64_t t0 = 10 * kSec;
  h.send(tcp_packet(true, 3001), t0);              // X, arms the period at t0 + 16.2 s
  h.send(tcp_packet(true, 3002), t0 + kSec / 10);  // Y
  h.send(tcp_packet(true, 3001), t0 + kSec / 2);   // X again, not moved in LRU order
  h.w->on_clock(t0 + 16 * kSec + 3 * kSec / 10);   // Y timed out at t0 + 16.1 s, X lives
  h.w->on_clock(t0 + 17 * kSec);                   // X times out at t0 + 16.5 s
  const auto ev = h.drain();
  ASSERT_EQ(ev.size(), 3u);
  // The LRU order: X's periodic report, Y's final one, X's final one.
  EXPECT_TRUE(contains(ev[0], R"("port":3001)") && contains(ev[0], R"("final":false)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("@timestamp":"1970-01-01T00:00:26.300Z")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("port":3002)") && contains(ev[1], R"("final":true)")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("@timestamp":"1970-01-01T00:00:26.100Z")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("port":3001)") && contains(ev[2], R"("final":true)")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("@timestamp":"1970-01-01T00:00:26.500Z")")) << ev[2];
  EXPECT_EQ(h.w->counters().get(Counter::flow_expired), 2u);
}

TEST(Worker, FullTableEvictsOldestIdleFlowWithAFinalReport) {
  WorkerSettings s;
  s.flow_capacity = 2;
  s.flow_period_ns = -1;
  Harness h(s);
  h.send(tcp_packet(true, 1001), 1 * kSec);
  h.send(tcp_packet(true, 1002), 2 * kSec);
  h.send(tcp_packet(true, 1001), 3 * kSec);  // 1002 is now the oldest idle
  h.send(tcp_packet(true, 1003), 4 * kSec);
  const auto ev = h.drain();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("port":1002)")) << ev[0];
  EXPECT_EQ(h.w->counters().get(Counter::flow_evicted), 1u);
  EXPECT_EQ(h.w->flows().size(), 2u);
}

TEST(Worker, FullOutputDropsEventsAndCountsThem) {
  WorkerSettings s;
  s.flow_period_ns = -1;
  s.flow_capacity = 1u << 12;
  Harness h(s);
  for (uint16_t port = 1; port <= 2000; ++port) h.send(tcp_packet(true, port), kSec);
  h.w->finish();  // 2000 reports of ~900 bytes into 4 chunks of 64 KiB
  const uint64_t emitted = h.w->counters().get(Counter::events_emitted);
  const uint64_t dropped = h.w->counters().get(Counter::events_dropped_output_full);
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(emitted + dropped, 2000u);
  EXPECT_EQ(h.drain().size(), emitted);
}

TEST(Worker, FragmentedDatagramCountsEveryFrame) {
  WorkerSettings s;
  s.flow_period_ns = -1;
  Harness h(s);
  Frame first, second;
  // UDP header + 24 bytes split in two fragments of 16 bytes.
  first.eth(0x0800)
      .ipv4("10.0.0.1", "10.0.0.2", 17, 5, 0x2000)
      .raw({0x13, 0x88, 0x00, 0x35, 0, 32, 0, 0})
      .payload(8)
      .finish();
  second.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 17, 5, 2).payload(16).finish();
  h.send(second.b, kSec);
  h.send(first.b, kSec + 10);
  h.w->finish();
  const auto ev = h.drain();
  ASSERT_EQ(ev.size(), 1u);
  const uint64_t bytes = first.b.size() + second.b.size();
  EXPECT_TRUE(contains(ev[0], R"("source":{"bytes":)" + std::to_string(bytes) +
                                  R"(,"ip":"10.0.0.1","mac":"02-00-00-00-00-01","packets":2,"port":5000})"))
      << ev[0];
  EXPECT_EQ(h.w->counters().get(Counter::frag_reassembled), 1u);
}

// Two DNS answers, each sent in two IP fragments, their queries and all four fragments
// in one burst: each answer is rebuilt into the fragment table's one buffer, and the
// second must not overwrite the first before the first reaches its decoder (before,
// the first answer carried the second's bytes: its query went unanswered and the
// second's answer was published twice, once as an orphan).
TEST(Worker, DatagramsRebuiltInOneBurstKeepTheirOwnBytes) {
  DecoderSet decoders;
  const uint16_t ports[] = {53};
  decoders.enable("dns", ports);
  WorkerSettings s;
  s.flows_enabled = false;
  s.decoders = &decoders.plan();
  Harness h(s);
  std::vector<test::Bytes> frames;
  for (uint8_t i = 0; i < 2; ++i) {
    const char* client = i ? "10.0.0.2" : "10.0.0.1";
    const uint8_t label = static_cast<uint8_t>('a' + i);
    const test::Bytes question = {1, label, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1};
    test::Bytes query = {0x10, i, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    query.insert(query.end(), question.begin(), question.end());
    Frame q;
    q.eth(0x0800, 1, 2).ipv4(client, "10.0.0.53", 17).udp(static_cast<uint16_t>(40000 + i), 53);
    q.b.insert(q.b.end(), query.begin(), query.end());
    frames.push_back(q.finish().b);
    // The answer: header, question, one A record (192.0.2.<i+1>), padded by a TXT
    // record to 40 bytes past the UDP header's 8, so that it splits at byte 24.
    test::Bytes answer = {0x10, i, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0};
    answer.insert(answer.end(), question.begin(), question.end());
    const test::Bytes a = {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, static_cast<uint8_t>(i + 1)};
    answer.insert(answer.end(), a.begin(), a.end());
    test::Bytes udp = {0, 53, static_cast<uint8_t>((40000 + i) >> 8), static_cast<uint8_t>(40000 + i), 0, 0,
                       0, 0};
    udp[4] = static_cast<uint8_t>((udp.size() + answer.size()) >> 8);
    udp[5] = static_cast<uint8_t>(udp.size() + answer.size());
    udp.insert(udp.end(), answer.begin(), answer.end());
    const uint16_t id = static_cast<uint16_t>(7 + i);
    Frame first, second;
    first.eth(0x0800, 2, 1).ipv4("10.0.0.53", client, 17, id, 0x2000);
    first.b.insert(first.b.end(), udp.begin(), udp.begin() + 24);
    second.eth(0x0800, 2, 1).ipv4("10.0.0.53", client, 17, id, 3);
    second.b.insert(second.b.end(), udp.begin() + 24, udp.end());
    frames.push_back(first.finish().b);
    frames.push_back(second.finish().b);
  }
  std::vector<RawPacket> burst;
  for (std::size_t k = 0; k < frames.size(); ++k)
    burst.push_back(RawPacket{frames[k].data(), static_cast<uint32_t>(frames[k].size()),
                              static_cast<uint32_t>(frames[k].size()), kSec + k, 0, link_type::kEthernet});
  h.w->process(burst);
  h.w->finish();
  const auto ev = h.drain();
  ASSERT_EQ(ev.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const std::string name = std::string(1, static_cast<char>('a' + i)) + ".example";
    const std::string ip = "192.0.2." + std::to_string(i + 1);
    EXPECT_TRUE(contains(ev[i], "\"query\":\"class IN, type A, " + name + "\"")) << ev[i];
    EXPECT_TRUE(contains(ev[i], "\"resolved_ip\":[\"" + ip + "\"]")) << ev[i];
    EXPECT_TRUE(contains(ev[i], R"("status":"OK")")) << ev[i];
  }
  EXPECT_EQ(h.w->counters().get(Counter::frag_reassembled), 2u);
}

TEST(Worker, DnsOverTcpAcrossOutOfOrderSegments) {
  DecoderSet decoders;
  const uint16_t ports[] = {53};
  decoders.enable("dns", ports);
  WorkerSettings s;
  s.flows_enabled = false;  // TCP decoders still follow the flow
  s.decoders = &decoders.plan();
  Harness h(s);
  // Query for a.example (id 0x0102), length-prefixed, split in two segments sent in reverse order.
  const test::Bytes q = {0,   27, 1,   2,   1,   0,   0,   1,   0,   0, 0, 0, 0, 0, 1,
                         'a', 7,  'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1};
  const test::Bytes r = {0,   43, 1,   2,   0x81, 0x80, 0,   1,   0,   1, 0, 0,   0, 0, 1,
                         'a', 7,  'e', 'x', 'a',  'm',  'p', 'l', 'e', 0, 0, 1,   0, 1, 0xC0,
                         12,  0,  1,   0,   1,    0,    0,   0,   30,  0, 4, 192, 0, 2, 7};
  auto seg = [&](bool fwd, uint32_t seq, uint8_t flags, const test::Bytes& data) {
    Frame f;
    if (fwd)
      f.eth(0x0800, 1, 2).ipv4("10.0.0.1", "10.0.0.53", 6).tcp(40000, 53, flags, seq);
    else
      f.eth(0x0800, 2, 1).ipv4("10.0.0.53", "10.0.0.1", 6).tcp(53, 40000, flags, seq);
    f.b.insert(f.b.end(), data.begin(), data.end());
    return f.finish().b;
  };
  h.send(seg(true, 999, tcp_flag::kSyn, {}), kSec);
  h.send(seg(false, 4999, tcp_flag::kSyn | tcp_flag::kAck, {}), kSec + 1);
  const test::Bytes q1(q.begin(), q.begin() + 10), q2(q.begin() + 10, q.end());
  h.send(seg(true, 1010, tcp_flag::kAck, q2), kSec + 2);  // arrives first
  h.send(seg(true, 1000, tcp_flag::kAck, q1), kSec + 3);
  h.send(seg(false, 5000, tcp_flag::kAck, r), kSec + 5);
  h.w->finish();
  const auto ev = h.drain();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("query":"class IN, type A, a.example")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("resolved_ip":["192.0.2.7"])")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("transport":"tcp")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")")) << ev[0];
  EXPECT_EQ(h.w->counters().get(Counter::tcp_reasm_out_of_order), 1u);
}

// The shape of a connection a capture picked up in the middle of a download (ndpi's
// 1kxun.pcap): the client's request acknowledges the server's bytes to 1, and the first
// server bytes seen are at 4321, a body's middle: the response to that request began in
// the 4,320 bytes not captured. That request goes out unanswered, said so; the next
// status line answers the next request (before: the first, and every pair after it on
// the connection shifted by one).
TEST(Worker, ResponseBegunBeforeTheCaptureAnswersItsOwnRequest) {
  DecoderSet decoders;
  const uint16_t ports[] = {80};
  decoders.enable("http", ports);
  WorkerSettings s;
  s.flows_enabled = false;
  s.decoders = &decoders.plan();
  Harness h(s);
  auto seg = [&](bool client, uint32_t seq, uint32_t ack, std::string_view text) {
    Frame f;
    if (client)
      f.eth(0x0800, 1, 2).ipv4("10.0.0.1", "10.0.0.2", 6).tcp(45422, 80, tcp_flag::kAck | 0x08, seq, ack);
    else
      f.eth(0x0800, 2, 1).ipv4("10.0.0.2", "10.0.0.1", 6).tcp(80, 45422, tcp_flag::kAck | 0x08, seq, ack);
    return f.text(text).finish().b;
  };
  const std::string get1 = "GET /application.js HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string get2 = "GET /homepage.png HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string get3 = "GET /action_bar.png HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\npng";
  const std::string tail(1000, 'j');  // the end of the script's body
  uint32_t c = 1, sv = 4321;
  h.send(seg(true, c, 1, get1), kSec);
  c += static_cast<uint32_t>(get1.size());
  h.send(seg(false, sv, c, tail), kSec + 1000);
  sv += static_cast<uint32_t>(tail.size());
  h.send(seg(true, c, sv, get2), 2 * kSec);
  c += static_cast<uint32_t>(get2.size());
  h.send(seg(false, sv, c, ok), 2 * kSec + 1000);
  sv += static_cast<uint32_t>(ok.size());
  h.send(seg(true, c, sv, get3), 3 * kSec);
  c += static_cast<uint32_t>(get3.size());
  h.send(seg(false, sv, c, ok), 3 * kSec + 1000);
  h.w->finish();
  const auto ev = h.drain();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("path":"/application.js")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], "its response began in bytes the capture lost")) << ev[0];
  EXPECT_FALSE(contains(ev[0], R"("status_code")")) << ev[0];
  for (int k : {1, 2}) {
    EXPECT_TRUE(contains(ev[k], k == 1 ? R"("path":"/homepage.png")" : R"("path":"/action_bar.png")"))
        << ev[k];
    EXPECT_TRUE(contains(ev[k], R"("status_code":200)")) << ev[k];
  }
  EXPECT_EQ(h.w->counters().get(Counter::tcp_reasm_gap_bytes), 4320u);
}

// A message's time is its first packet's, as Packetbeat times them: a request sent in
// two segments starts at the first, and the transaction ends at the first segment of
// its response, whatever the protocol (the engine tells a decoder when the bytes it
// held had come, StreamInfo::ts_at). Both had been the segment that completed the
// message.
TEST(Worker, TransactionsAreTimedByTheirMessagesFirstPackets) {
  const auto mysql = [](uint8_t seq, const std::string& payload) {
    const auto n = static_cast<char>(payload.size());
    return std::string{n, 0, 0, static_cast<char>(seq)} + payload;
  };
  const auto pg = [](char type, const std::string& body) {
    const auto n = static_cast<uint32_t>(body.size() + 4);
    return std::string{type, 0, 0, static_cast<char>(n >> 8), static_cast<char>(n & 0xff)} + body;
  };
  struct Case {
    const char* proto;
    uint16_t port;
    std::string request, response;
  };
  const Case cases[] = {
      {"redis", 6379, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n"},
      {"memcache", 11211, "get k\r\n", "VALUE k 0 1\r\nv\r\nEND\r\n"},
      {"mysql", 3306, mysql(0, "\x03SELECT 1"), mysql(1, std::string("\x00\x00\x00\x02\x00\x00\x00", 7))},
      {"pgsql", 5432, pg('Q', std::string("SELECT 1\0", 9)),
       pg('C', std::string("SELECT 1\0", 9)) + pg('Z', "I")},
  };
  for (const Case& k : cases) {
    test::StreamTest h;
    const uint16_t ports[] = {k.port};
    h.decoders.enable(k.proto, ports);
    h.start();
    test::Conn c{40000, k.port, 100, 900};
    const std::size_t rq = k.request.size() / 2, rs = k.response.size() / 2;
    h.client(c, k.request.substr(0, rq));   // a millisecond after the last
    h.client(c, k.request.substr(rq));      // 2 ms
    h.server(c, k.response.substr(0, rs));  // 3 ms
    h.server(c, k.response.substr(rs));     // 4 ms
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 1u) << k.proto;
    EXPECT_TRUE(contains(ev[0], R"("start":"1970-01-01T00:16:40.001Z")")) << ev[0];
    EXPECT_TRUE(contains(ev[0], R"("end":"1970-01-01T00:16:40.003Z")")) << ev[0];
    EXPECT_TRUE(contains(ev[0], R"("duration":2000000)")) << ev[0];
  }
}

TEST(Worker, FlowsOffEmitsNothing) {
  WorkerSettings s;
  s.flows_enabled = false;
  Harness h(s);
  h.send(tcp_packet(true), kSec);
  h.w->finish();
  EXPECT_TRUE(h.drain().empty());
  EXPECT_EQ(h.w->counters().get(Counter::packets), 1u);
}

}  // namespace
}  // namespace tapbeat

namespace tapbeat {
namespace {

// A connection no decoder takes: its packets are all it is given, and they keep it
// open (its session is not read for them); idle past the shortest transaction timeout
// it closes, and traffic after that is a new connection, undetected again.
TEST(Worker, UndecodedConnectionLivesOnItsPacketsAndIdlesOut) {
  test::StreamTest h;
  const uint16_t http_ports[] = {80};
  h.decoders.enable("http", http_ports).timeout_ns = 1'000'000'000;
  h.start();
  test::Conn other{40003, 9999}, web{40004, 80};
  h.handshake(other);
  EXPECT_EQ(h.count(Counter::detect_undetected), 1u);
  h.handshake(web);
  for (int i = 0; i < 16; ++i) {  // 9.6 s, never idle for 1 s
    h.ts += 600'000'000;
    h.client(other, "z");
    h.client(web, "");
  }
  EXPECT_EQ(h.count(Counter::detect_undetected), 1u);
  EXPECT_EQ(h.count(Counter::stream_connections), 2u);
  for (int i = 0; i < 4; ++i) {  // 2.4 s of the web connection alone
    h.ts += 600'000'000;
    h.client(web, "");
  }
  EXPECT_EQ(h.count(Counter::stream_connections), 1u);
  h.client(other, "z");
  EXPECT_EQ(h.count(Counter::detect_undetected), 2u);
  h.ts += 600'000'000;
  h.client(web, "");
  EXPECT_EQ(h.count(Counter::stream_connections), 2u);
  h.finish();
}

// Two protocols with different transaction timeouts in one worker: each connection
// idles out on its own protocol's timeout, publishing what it held then.
TEST(Worker, EachConnectionIdlesOutOnItsOwnProtocolsTimeout) {
  test::StreamTest h;
  const uint16_t http_ports[] = {80}, redis_ports[] = {6379};
  h.decoders.enable("http", http_ports).timeout_ns = 1'000'000'000;
  auto& redis = h.decoders.enable("redis", redis_ports);
  redis.timeout_ns = 30'000'000'000;
  redis.send_request = true;
  h.start();
  test::Conn web{40000, 80}, cache{40001, 6379}, clock{40002, 9999};
  h.handshake(web);
  h.client(web, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  h.handshake(cache);
  h.client(cache, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  h.handshake(clock);  // a connection no protocol claims: its packets move the clock

  // 5 s later: past HTTP's 1 s, well within Redis' 30 s.
  h.ts += 5'000'000'000;
  h.client(clock, "x");
  EXPECT_EQ(h.count("http.unmatched_requests"), 1u);
  EXPECT_EQ(h.count("redis.unmatched_requests"), 0u);
  const uint64_t open_then = h.count(Counter::stream_connections);
  EXPECT_GE(open_then, 1u);  // Redis' connection at least

  // 31 s after the command: Redis' connection idles out and its command is published unanswered.
  h.ts += 26'000'000'000;
  h.client(clock, "y");
  EXPECT_EQ(h.count("redis.unmatched_requests"), 1u);
  EXPECT_EQ(h.count(Counter::stream_connections), open_then - 1);
  const auto events = h.finish();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(test::contains(events[0], R"("type":"http")")) << events[0];
  EXPECT_TRUE(test::contains(events[1], R"("type":"redis")")) << events[1];
}

}  // namespace
}  // namespace tapbeat
