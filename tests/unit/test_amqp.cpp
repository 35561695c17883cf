#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "decode/amqp/amqp_decoder.hpp"
#include "engine/decoder_set.hpp"
#include "engine/worker.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

// AMQP 1.0 (RabbitMQ 4, Qpid, ActiveMQ, Azure Service Bus) and 0-10 share the port and the
// "AMQP" header with 0-9-1 but are other protocols: counted by name and left, where their
// frames had been read as malformed 0-9-1 (amqp.malformed, a violation). The 0-9-1 header
// still opens a connection that is read.
TEST(Amqp, OtherVersionsHeadersAreCountedAndLeft) {
  using namespace std::string_literals;
  test::StreamTest h;
  const uint16_t ports[] = {5672};
  h.decoders.enable("amqp", ports);
  h.start();
  const std::string open10 =
      "\x00\x00\x00\x21\x02\x00\x00\x00\x00\x53\x10\xc0\x14\x01\xa1\x11"
      "container-id-0001"s;
  const std::string headers[] = {"AMQP\x00\x01\x00\x00"s, "AMQP\x03\x01\x00\x00"s, "AMQP\x01\x01\x00\x0a"s};
  uint16_t port = 40000;
  for (const std::string& header : headers) {
    test::Conn c{port++, 5672};
    h.handshake(c);
    h.client(c, header + open10);
    h.server(c, header + open10);
  }
  const auto ev = h.finish();
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(h.count("amqp.other_versions"), 3u);
  EXPECT_EQ(h.count("amqp.malformed"), 0u);
  EXPECT_EQ(h.count(Counter::stream_detached), 0u);
}

std::string be16s(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string be32s(uint32_t v) {
  return be16s(static_cast<uint16_t>(v >> 16)) + be16s(static_cast<uint16_t>(v));
}
std::string shortstr(const std::string& v) { return std::string(1, static_cast<char>(v.size())) + v; }
// A method frame on channel 1.
std::string method(uint16_t cls, uint16_t id, const std::string& args) {
  const std::string payload = be16s(cls) + be16s(id) + args;
  return std::string(1, '\x01') + be16s(1) + be32s(static_cast<uint32_t>(payload.size())) + payload + "\xce";
}
std::string queue_declare(const std::string& q) {
  return method(50, 10, be16s(0) + shortstr(q) + '\0' + be32s(0));
}
std::string declare_ok(const std::string& q, uint32_t messages) {
  return method(50, 11, shortstr(q) + be32s(messages) + be32s(0));
}

// The decoder on port 5672 and one connection, its handshake seen.
struct AmqpHarness : test::StreamTest {
  test::Conn conn{40000, 5672};
  AmqpHarness() {
    const uint16_t ports[] = {5672};
    decoders.enable("amqp", ports);
    start();
    handshake(conn);
  }
};

// A method sent with its no-wait bit set is answered by nothing and published at once,
// alone; the same method without it waits for its answer. The bit is read from the
// method's own arguments, not from text that merely says "no-wait" (a queue so named).
TEST(Amqp, NoWaitMethodsArePublishedAlone) {
  AmqpHarness h;
  test::Conn& c = h.conn;
  // queue.declare's bits: passive, durable, exclusive, auto-delete, no-wait.
  h.client(c, method(50, 10, be16s(0) + shortstr("fire") + '\x10' + be32s(0)));
  h.client(c, method(50, 10, be16s(0) + shortstr("no-wait") + '\x02' + be32s(0)));
  h.server(c, declare_ok("no-wait", 7));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(test::contains(ev[0], R"("queue":"fire")")) << ev[0];
  EXPECT_TRUE(test::contains(ev[0], R"("no-wait":true)")) << ev[0];
  EXPECT_FALSE(test::contains(ev[0], R"("duration")")) << ev[0];  // start alone: nothing answered it
  EXPECT_TRUE(test::contains(ev[1], R"("duration")")) << ev[1];
  EXPECT_TRUE(test::contains(ev[1], R"("queue":"no-wait")")) << ev[1];
  EXPECT_TRUE(test::contains(ev[1], R"("message-count":7)")) << ev[1];
  EXPECT_EQ(h.count("amqp.unmatched_requests"), 0u);
  EXPECT_EQ(h.count("amqp.unmatched_responses"), 0u);
}

// Content and basic.get as Packetbeat writes them (its amqp_parser.go, amqp_methods.go),
// each checked against Packetbeat 7.17 on a RabbitMQ session: delivery-mode by name,
// the timestamp property in Go's "January _2 15:04:05 2006", the default exchange ("")
// left out, and a basic.get published with its get-ok from the get's first packet with
// the get's size as the client's bytes (it had been the get-ok's content alone), with
// no end or duration (a content event's).
TEST(Amqp, ContentPropertiesAndBasicGetAsPacketbeatWritesThem) {
  AmqpHarness h;
  test::Conn& c = h.conn;
  const auto frame = [](char type, const std::string& payload) {
    return std::string(1, type) + be16s(1) + be32s(static_cast<uint32_t>(payload.size())) + payload + "\xce";
  };
  const auto be64s = [](uint64_t v) {
    return be32s(static_cast<uint32_t>(v >> 32)) + be32s(static_cast<uint32_t>(v));
  };
  // basic.publish to the default exchange: content-type, delivery-mode 2, timestamp.
  const std::string props =
      be16s((1 << 15) | (1 << 12) | (1 << 6)) + shortstr("text/plain") + "\x02" + be64s(1700000000);
  h.client(c, method(60, 40, be16s(0) + shortstr("") + shortstr("work") + '\0') +
                  frame('\x02', be16s(60) + be16s(0) + be64s(2) + props) + frame('\x03', "hi"));
  // basic.get, answered by get-ok with a one-byte body.
  h.client(c, method(60, 70, be16s(0) + shortstr("work") + '\0'));
  h.server(c, method(60, 71, be64s(1) + '\0' + shortstr("") + shortstr("work") + be32s(0)) +
                  frame('\x02', be16s(60) + be16s(0) + be64s(1) + be16s(0)) + frame('\x03', "x"));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(test::contains(ev[0], R"("delivery-mode":"persistent")")) << ev[0];
  EXPECT_TRUE(test::contains(ev[0], R"("timestamp":"November 14 22:13:20 2023")")) << ev[0];
  EXPECT_FALSE(test::contains(ev[0], R"("exchange")")) << ev[0];
  EXPECT_TRUE(test::contains(ev[1], R"("method":"basic.get")")) << ev[1];
  EXPECT_TRUE(test::contains(ev[1], R"("client":{"bytes":20,)")) << ev[1];
  EXPECT_TRUE(test::contains(ev[1], R"("start":"1970-01-01T00:16:40.004Z")")) << ev[1];  // the get's
  EXPECT_FALSE(test::contains(ev[1], R"("duration")")) << ev[1];  // none, as Packetbeat writes it
  EXPECT_FALSE(test::contains(ev[1], R"("exchange")")) << ev[1];
}

// The client's protocol header lost (or a connection picked up after it) on a port the
// configuration names, not AMQP's own: the configured port tells the client, and where
// no port does, the server's connection.start does. Before, the first sender seen (the
// server, starting the connection) was taken for the client, and every publish and get
// had its sides swapped (a live capture, its header packet dropped: 24 of 48 wrong).
TEST(Amqp, ClientToldWithoutTheProtocolHeader) {
  for (const bool both : {false, true}) {  // both: each end's port configured, which tells nothing
    test::StreamTest h;
    const uint16_t ports[] = {15674, 40000};
    h.decoders.enable("amqp", std::span<const uint16_t>(ports, both ? 2 : 1));
    h.start();
    test::Conn c{40000, 15674};
    h.handshake(c);
    h.lose(true, c, std::string("AMQP\0\0\x09\x01", 8));
    h.server(c, method(10, 10, std::string(2, '\0') + be32s(0) + be32s(5) + "PLAIN" + be32s(5) + "en_US"));
    h.client(
        c, method(10, 11,
                  be32s(0) + shortstr("PLAIN") + be32s(6) + std::string("\0u\0pwd", 6) + shortstr("en_US")));
    h.server(c, method(10, 30, be16s(2047) + be32s(131072) + be16s(60)));
    h.client(c, method(10, 31, be16s(2047) + be32s(131072) + be16s(60)));
    const auto frame = [](char type, const std::string& payload) {
      return std::string(1, type) + be16s(1) + be32s(static_cast<uint32_t>(payload.size())) + payload +
             "\xce";
    };
    h.client(c, method(60, 40, be16s(0) + shortstr("") + shortstr("work") + '\0') +
                    frame('\x02', be16s(60) + be16s(0) + be32s(0) + be32s(2) + be16s(0)) +
                    frame('\x03', "hi"));
    h.client(c, method(60, 70, be16s(0) + shortstr("work") + '\0'));
    h.server(c, method(60, 72, shortstr("")));  // get-empty
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 2u) << both;
    EXPECT_TRUE(test::contains(ev[0], R"("method":"basic.publish")")) << ev[0];
    EXPECT_TRUE(test::contains(ev[0], R"("client":{"bytes":2,)")) << both << " " << ev[0];
    EXPECT_TRUE(test::contains(ev[1], R"("method":"basic.get-empty")")) << ev[1];
    EXPECT_TRUE(test::contains(ev[1], R"("client":{"bytes":20,)")) << both << " " << ev[1];
    EXPECT_TRUE(test::contains(ev[1], R"("server":{"bytes":13,)")) << both << " " << ev[1];
  }
}

// frame_max (131,072 bytes as RabbitMQ and its clients negotiate it) bounds a whole frame,
// its 8 bytes of framing included: a content header that large is read.
TEST(Amqp, FrameAsLargeAsFrameMaxIsRead) {
  AmqpHarness h;
  test::Conn& c = h.conn;
  const auto frame = [](char type, const std::string& payload) {
    return std::string(1, type) + be16s(1) + be32s(static_cast<uint32_t>(payload.size())) + payload + "\xce";
  };
  // Properties: content-type, then a headers table of one long string filling the frame.
  const std::string value(131072 - 44, 'h');  // 8 framing, 12 class to size, 24 properties
  const std::string entry = shortstr("k") + "S" + be32s(static_cast<uint32_t>(value.size())) + value;
  const std::string props = be16s((1 << 15) | (1 << 13)) + shortstr("text/plain") +
                            be32s(static_cast<uint32_t>(entry.size())) + entry;
  const std::string header = frame('\x02', be16s(60) + be16s(0) + be32s(0) + be32s(2) + props);
  ASSERT_EQ(header.size(), 131072u);
  const std::string publish = method(60, 40, be16s(0) + shortstr("") + shortstr("work") + '\0');
  h.client(c, publish + header.substr(0, 60000));
  h.client(c, header.substr(60000, 60000));
  h.client(c, header.substr(120000) + frame('\x03', "hi"));
  h.client(c, queue_declare("after"));
  h.server(c, declare_ok("after", 0));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(test::contains(ev[0], R"("method":"basic.publish")")) << ev[0].substr(0, 400);
  EXPECT_TRUE(test::contains(ev[0], R"("content-type":"text/plain")")) << ev[0].substr(0, 400);
  EXPECT_TRUE(test::contains(ev[1], R"("queue":"after")")) << ev[1];
  EXPECT_EQ(h.count("amqp.too_large"), 0u);
}

// Segments lost to the capture (each acknowledged by the other side, the next held
// behind the hole): an answer lost whole with the start of the next, a request cut at
// its start. The stream is taken up at the next frame (found by its frame-end octet);
// a request still waiting on its channel when the next comes, or the oldest waiting
// when the server's bytes are lost, goes out unanswered, so every answer after the gaps
// meets its own request. Before, such a gap left the
// connection.
TEST(Amqp, LostSegmentsCostTheirOwnMethodsOnly) {
  AmqpHarness h;
  test::Conn& c = h.conn;
  for (uint32_t i = 1; i <= 6; ++i) {
    const std::string q = "q" + std::to_string(i), req = queue_declare(q), ok = declare_ok(q, i);
    if (i == 4) {
      h.lose(true, c, req.substr(0, 6));
      h.client(c, req.substr(6));
    } else {
      h.client(c, req);
    }
    if (i == 2) {
      h.lose(false, c, ok);
    } else if (i == 3) {
      h.lose(false, c, ok.substr(0, 9));
      h.server(c, ok.substr(9));
    } else {
      h.server(c, ok);
    }
  }
  const auto ev = h.finish();
  int answered = 0, unanswered = 0;
  for (const auto& e : ev) {
    for (int i = 1; i <= 6; ++i) {
      if (!test::contains(e, "\"queue\":\"q" + std::to_string(i) + "\"")) continue;
      answered += test::contains(e, "\"message-count\":" + std::to_string(i)) &&
                  test::contains(e, R"("status":"OK")");
      unanswered += test::contains(e, R"("status":"Error")") && (i == 2 || i == 3);
    }
  }
  EXPECT_EQ(ev.size(), 5u);
  EXPECT_EQ(answered, 3);    // 1, 5 and 6 (4's request was cut)
  EXPECT_EQ(unanswered, 2);  // 2 and 3
  EXPECT_EQ(h.count("amqp.resynced"), 2u);
  EXPECT_EQ(h.count("amqp.responses_lost"), 1u);       // 3's: 2 was superseded by 3 on its channel
  EXPECT_EQ(h.count("amqp.unmatched_responses"), 1u);  // 4's answer: its request was cut
  EXPECT_GT(h.count("amqp.resync_skipped_bytes"), 0u);
  EXPECT_EQ(h.count("amqp.violations"), 0u);
}

// An answer lost whole whose loss the client's next request acknowledges (it was sent
// with the lost bytes in hand): the request waiting before it goes out unanswered, and
// the next answer meets the new request. Before, the new request was taken for the one
// the lost bytes answered and its own answer went unmatched (one lost segment of a
// live RabbitMQ capture cost two transactions).
TEST(Amqp, AnswerLostBeforeTheNextRequestCostsItsOwnRequestOnly) {
  AmqpHarness h;
  test::Conn& c = h.conn;
  h.client(c, queue_declare("q1"));
  h.server(c, declare_ok("q1", 1));
  h.client(c, method(60, 70, be16s(0) + shortstr("q1") + '\0'));  // basic.get
  h.lose(false, c, method(60, 72, shortstr("")));                 // its get-empty, lost
  h.client(c, queue_declare("q2"));
  h.server(c, declare_ok("q2", 2));
  h.client(c, queue_declare("q3"));
  h.server(c, declare_ok("q3", 3));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(test::contains(ev[1], R"("method":"basic.get")") &&
              test::contains(ev[1], R"("status":"Error")"))
      << ev[1];
  for (int i : {2, 3}) {
    EXPECT_TRUE(test::contains(ev[i], "\"queue\":\"q" + std::to_string(i) + "\"") &&
                test::contains(ev[i], "\"message-count\":" + std::to_string(i)) &&
                test::contains(ev[i], R"("status":"OK")"))
        << ev[i];
  }
  EXPECT_EQ(h.count("amqp.unmatched_responses"), 0u);
  EXPECT_EQ(h.count("amqp.unmatched_requests"), 1u);
}

}  // namespace
}  // namespace tapbeat
