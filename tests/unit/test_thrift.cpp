#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "decode/thrift/thrift_decoder.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

using test::contains;

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
std::string be16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
std::string str(const std::string& s) { return be32(static_cast<uint32_t>(s.size())) + s; }
// A strict binary message: version 1, type, name, seqid, then the body (a struct).
std::string binary(uint8_t type, const std::string& name, uint32_t seqid, const std::string& body) {
  return be32(0x80010000u | type) + str(name) + be32(seqid) + body;
}
std::string field(uint8_t type, uint16_t id, const std::string& value) {
  return std::string(1, static_cast<char>(type)) + be16(id) + value;
}
const std::string kStop(1, '\0');

struct ThriftHarness : test::StreamTest {
  test::Conn conn{40000, 9090, 100, 900};
  explicit ThriftHarness(void (*tune)(ThriftSettings&) = nullptr) {
    const uint16_t ports[] = {9090};
    ThriftSettings& s = decoders.enable<ThriftSettings>("thrift", ports);
    if (tune) tune(s);
    start();
    handshake(conn);
  }
  void send(bool from_client, const std::string& s, std::size_t piece = 0) {
    if (piece == 0) piece = s.size();
    for (std::size_t at = 0; at < s.size(); at += piece)
      from_client ? client(conn, s.substr(at, piece)) : server(conn, s.substr(at, piece));
  }
};

TEST(ThriftIdl, ServicesFunctionsAndTheirFields) {
  ThriftIdl idl;
  idl.parse(R"(
    namespace py demo  # a comment
    /* a block
       comment */
    struct Point { 1: i32 x = 0, 2: i32 y }
    exception Oops { 1: string why }
    service Base { void ping() }
    service Geo extends Base {
      map<string, list<Point>> near(1: required Point p, 2: optional double radius = 1.5) throws (1: Oops oops);
      oneway void forget(1: string what) (annotation = "x")
    }
  )",
            "geo.thrift");
  const ThriftIdlMethod* near = idl.find("near");
  ASSERT_NE(near, nullptr);
  EXPECT_EQ(near->service, "Geo");
  EXPECT_EQ(near->params.at(1), "p");
  EXPECT_EQ(near->params.at(2), "radius");
  EXPECT_EQ(near->exceptions.at(1), "oops");
  EXPECT_TRUE(idl.find("forget")->oneway);
  EXPECT_EQ(idl.find("ping")->service, "Base");
  EXPECT_THROW(idl.parse("service Broken { void f(1: i32 x", "broken.thrift"), std::runtime_error);
}

// Every value type, with Packetbeat's text forms, one byte at a time.
TEST(Thrift, BinaryValuesAsPacketbeatWritesThem) {
  ThriftHarness h;
  const std::string args =
      field(2, 1, std::string(1, '\1')) + field(3, 2, std::string(1, '\x81')) + field(6, 3, be16(0xffff)) +
      field(8, 4, be32(42)) + field(10, 5, be32(0xffffffff) + be32(0xfffffffe)) +
      field(4, 6, be32(0x3ff33333) + be32(0x33333333)) + field(11, 7, str("say \"hi\"\n")) +
      field(11, 8, str(std::string("\xab\x0c\x1d", 3))) +
      field(15, 9, std::string(1, '\x08') + be32(2) + be32(1) + be32(2)) +
      field(14, 10, std::string(1, '\x08') + be32(0)) +
      field(13, 11, std::string("\x0b\x08", 2) + be32(1) + str("k") + be32(7)) +
      field(12, 12, field(8, 1, be32(5)) + kStop) + kStop;
  h.send(true, binary(1, "everything", 7, args), 1);
  h.send(false, binary(2, "everything", 7, field(8, 0, be32(3)) + kStop), 1);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(
      ev[0],
      R"x("params":"(1: true, 2: -127, 3: -1, 4: 42, 5: -2, 6: 1.2, 7: \"say \\\"hi\\\"\\n\", 8: ab0c1d, 9: [1, 2], 10: , 11: {\"k\": 7}, 12: (1: 5))")x"))
      << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("return_value":"3")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"x("query":"everything(1: true, 2: -127)x")) << ev[0];
}

// Segments lost to the capture (test::converse_with_losses): the stream is taken up at
// the next message start of the kind each side speaks (a cut reply's bytes passed
// over), replies still meet their calls by seqid, and the calls whose replies were lost
// go out unanswered at the end. Before, such a gap left the connection.
TEST(Thrift, LostSegmentsCostTheirOwnMessagesOnly) {
  ThriftHarness t;
  struct Sides {
    ThriftHarness& h;
    test::Conn& conn;
    void client(const std::string& s) { h.send(true, s); }
    void server(const std::string& s) { h.send(false, s); }
    static void lose(bool from_client, test::Conn& c, std::string_view s) {
      test::StreamTest::lose(from_client, c, s);
    }
  } sides{t, t.conn};
  auto call = [](int i) { return binary(1, "call" + std::to_string(i), static_cast<uint32_t>(i), kStop); };
  auto reply = [](int i) {
    return binary(2, "call" + std::to_string(i), static_cast<uint32_t>(i),
                  field(8, 0, be32(static_cast<uint32_t>(i))) + kStop);
  };
  test::converse_with_losses(sides, call, reply, 10);
  test::expect_losses_paired_by_id(
      t.finish(), [](const std::string& e) { return e[e.find("\"query\":\"call") + 13] - '0'; },
      [](int i) { return "\"return_value\":\"" + std::to_string(i) + "\""; });
  EXPECT_EQ(t.count("thrift.resynced"), 3u);
  EXPECT_GT(t.count("thrift.resync_skipped_bytes"), 0u);
  EXPECT_EQ(t.count("thrift.violations"), 0u);
}

// The connection's first call lost: the next call, the direction's first seen, tells
// its protocol, and every later call meets its reply. Before, a gap before the
// direction's first message left the connection (17 of 17 calls of a capture lost).
TEST(Thrift, FirstCallLostLeavesTheRestRead) {
  ThriftHarness h;
  auto call = [](int i) { return binary(1, "call" + std::to_string(i), static_cast<uint32_t>(i), kStop); };
  auto reply = [](int i) {
    return binary(2, "call" + std::to_string(i), static_cast<uint32_t>(i),
                  field(8, 0, be32(static_cast<uint32_t>(i))) + kStop);
  };
  test::StreamTest::lose(true, h.conn, call(1));
  h.send(false, reply(1));
  for (int i = 2; i <= 4; ++i) {
    h.send(true, call(i));
    h.send(false, reply(i));
  }
  const auto ev = h.finish();
  int paired = 0;
  for (const auto& e : ev)
    for (int i = 2; i <= 4; ++i)
      paired += contains(e, "\"query\":\"call" + std::to_string(i)) &&
                contains(e, "\"return_value\":\"" + std::to_string(i) + "\"");
  EXPECT_EQ(paired, 3);
  EXPECT_EQ(h.count("thrift.violations"), 0u);
}

// string_max_size, collection_max_size, drop_after_n_struct_fields and
// obfuscate_strings cut or hide a value and the message goes on.
TEST(Thrift, LimitsCutValuesNotTheConnection) {
  ThriftHarness h([](ThriftSettings& s) {
    s.limits.string_max = 4;
    s.limits.collection_max = 2;
    s.limits.struct_fields_max = 3;
  });
  std::string list = std::string(1, '\x08') + be32(5);
  for (uint32_t i = 0; i < 5; ++i) list += be32(i);
  h.send(true, binary(1, "cut", 1, field(11, 1, str("abcdefgh")) + field(15, 2, list) + kStop));
  h.send(false, binary(2, "cut", 1, field(8, 0, be32(1)) + kStop));
  std::string many;
  for (uint16_t i = 1; i <= 5; ++i) many += field(8, i, be32(i));
  h.send(true, binary(4, "many", 2, many + kStop));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"x("params":"(1: \"abcd...\", 2: [0, 1, ...])")x")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"x("params":"(1: 1, 2: 2, ...)")x")) << ev[1];  // a oneway call, alone
  EXPECT_FALSE(contains(ev[1], R"("return_value")")) << ev[1];
  EXPECT_GE(h.count("thrift.values_cut"), 3u);
  EXPECT_EQ(h.count("thrift.struct_fields_dropped"), 1u);
}

// A framed call or reply past 4 MiB (past the 128 KiB the decoder reads) is read for its header: the
// call still meets its reply (noted, its values not read), and the next pair follows.
TEST(Thrift, FrameLongerThanTheLimitIsPairedByItsHeader) {
  ThriftHarness h([](ThriftSettings& s) { s.framed = true; });
  auto frame = [](const std::string& m) { return be32(static_cast<uint32_t>(m.size())) + m; };
  const std::string blob(5u << 20, 'b');
  h.send(true, frame(binary(1, "upload", 7, field(11, 1, str(blob)) + kStop)), 60000);
  h.send(false, frame(binary(2, "upload", 7, field(8, 0, be32(1)) + kStop)));
  h.send(true, frame(binary(1, "download", 8, kStop)));
  h.send(false, frame(binary(2, "download", 8, field(11, 0, str(blob)) + kStop)), 60000);
  h.send(true, frame(binary(1, "ping", 9, kStop)));
  h.send(false, frame(binary(2, "ping", 9, field(8, 0, be32(2)) + kStop)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("method":"upload")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], "call longer than 128 KiB: its parameters not read")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("return_value":"1")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("method":"download")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], "reply longer than 128 KiB: its value not read")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("return_value":"2")")) << ev[2];
  EXPECT_FALSE(contains(ev[2], "error")) << ev[2];
  EXPECT_EQ(h.count("thrift.too_large"), 2u);
  EXPECT_EQ(h.count("thrift.unmatched_responses"), 0u);
}

// A message longer than the 128 KiB the engine holds costs its values only, framed or
// not: framed, its header is read and the frame passed over; unframed, where only the
// encoding tells its end, it is walked to that end without being kept (nested structs,
// lists, maps, strings split over segments). The call meets its reply, noted, and the
// pairs after it follow. Both had cost the connection (stream.buffer_full): unframed
// past 128 KiB; framed from 128 KiB to 4 MiB.
TEST(Thrift, MessageLongerThanTheEngineHoldsCostsItsValuesOnly) {
  const std::string blob(1u << 20, 'b');
  // Binary: a struct holding a list of 30,000 structs (i32, string) and a map<string,i64>.
  std::string items;
  for (int i = 0; i < 30000; ++i) items += field(8, 1, be32(i)) + field(11, 2, str("item")) + kStop;
  std::string map;
  for (int i = 0; i < 5000; ++i) map += str(std::to_string(i)) + be32(0) + be32(i);
  const std::string nested = field(12, 0,
                                   field(15, 1, std::string(1, '\x0c') + be32(30000) + items) +
                                       field(13, 2, std::string("\x0b\x0a", 2) + be32(5000) + map) + kStop) +
                             kStop;
  for (const bool framed : {true, false}) {
    ThriftHarness h(framed ? +[](ThriftSettings& s) { s.framed = true; }
                           : +[](ThriftSettings& s) { s.framed = false; });
    auto frame = [framed](const std::string& m) {
      return framed ? be32(static_cast<uint32_t>(m.size())) + m : m;
    };
    h.send(true, frame(binary(1, "upload", 7, field(11, 1, str(blob)) + kStop)), 1448);
    h.send(false, frame(binary(2, "upload", 7, field(8, 0, be32(1)) + kStop)));
    h.send(true, frame(binary(1, "listing", 8, kStop)));
    h.send(false, frame(binary(2, "listing", 8, nested)), 1000);
    h.send(true, frame(binary(1, "fails", 9, kStop)));
    h.send(false, frame(binary(2, "fails", 9, field(12, 1, field(11, 1, str(blob)) + kStop) + kStop)), 1448);
    h.send(true, frame(binary(1, "ping", 10, kStop)));
    h.send(false, frame(binary(2, "ping", 10, field(8, 0, be32(2)) + kStop)));
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 4u) << framed;
    EXPECT_TRUE(contains(ev[0], R"("method":"upload")")) << ev[0];
    EXPECT_TRUE(contains(ev[0], "call longer than 128 KiB: its parameters not read")) << ev[0];
    EXPECT_TRUE(contains(ev[0], R"("return_value":"1")")) << ev[0];
    EXPECT_TRUE(contains(ev[1], R"("method":"listing")")) << ev[1];
    EXPECT_TRUE(contains(ev[1], "reply longer than 128 KiB: its value not read")) << ev[1];
    EXPECT_TRUE(contains(ev[1], R"("status":"OK")")) << framed << ev[1];
    EXPECT_TRUE(contains(ev[2], R"("method":"fails")")) << ev[2];
    EXPECT_TRUE(contains(ev[2], R"("status":"Error")")) << ev[2];  // field 1, not the result
    EXPECT_TRUE(contains(ev[3], R"("return_value":"2")")) << ev[3];
    EXPECT_FALSE(contains(ev[3], "error")) << ev[3];
    EXPECT_EQ(h.count("thrift.too_large"), 3u);
    EXPECT_EQ(h.count(Counter::stream_buffer_full), 0u);
    EXPECT_EQ(h.count("thrift.unmatched_responses"), 0u);
  }
  // Compact, unframed: field deltas and long-form ids, a list of bools, a map, a binary.
  {
    ThriftHarness h([](ThriftSettings& s) {
      s.framed = false;
      s.protocol = ThriftProtocol::kCompact;
    });
    auto varint = [](uint64_t v) {
      std::string o;
      while (v >= 0x80) {
        o += static_cast<char>((v & 0x7f) | 0x80);
        v >>= 7;
      }
      return o + static_cast<char>(v);
    };
    std::string body = "\x15\x05" + std::string("\x11", 1);  // id 1 i32 -3, id 2 bool true
    body +=
        "\x19" + std::string("\xf1", 1) + varint(200000) + std::string(200000, '\x01');  // id 3 list<bool>
    body += "\x1b" + varint(3) + "\x85";  // id 4 map<binary,i32>, 3 pairs
    for (int i = 0; i < 3; ++i) body += varint(1) + "k" + varint(2 * i);
    body += std::string("\x08", 1) + varint(600) + varint(blob.size()) + blob;  // id 300 (long form) binary
    body += std::string(1, '\0');
    const std::string call = std::string("\x82\x21\x09\x04move", 8) + body;
    const std::string reply = std::string("\x82\x41\x09\x04move", 8) + std::string("\x05\x00", 2) +
                              varint(6) + std::string(1, '\0');
    h.send(true, call, 1448);
    h.send(false, reply);
    h.send(true, std::string("\x82\x21\x0a\x04ping", 8) + std::string(1, '\0'));
    h.send(false, std::string("\x82\x41\x0a\x04ping", 8) + std::string("\x05\x00\x04\x00", 4));
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_TRUE(contains(ev[0], "call longer than 128 KiB: its parameters not read")) << ev[0];
    EXPECT_TRUE(contains(ev[0], R"("return_value":"3")")) << ev[0];
    EXPECT_TRUE(contains(ev[1], R"("return_value":"2")")) << ev[1];
    EXPECT_EQ(h.count("thrift.too_large"), 1u);
    EXPECT_EQ(h.count(Counter::stream_buffer_full), 0u);
  }
}

// A gap inside an unframed message being walked: the message goes on as far as its
// header tells it (the call still meets its reply), and the stream is taken up at the
// next message start.
TEST(Thrift, GapInsideAMessageBeingWalkedKeepsItsHeader) {
  ThriftHarness h([](ThriftSettings& s) { s.framed = false; });
  const std::string call = binary(1, "upload", 7, field(11, 1, str(std::string(300000, 'u'))) + kStop);
  h.send(true, call.substr(0, 150000), 1448);
  test::StreamTest::lose(true, h.conn, std::string_view(call).substr(150000, 1448));
  h.send(true, call.substr(151448), 1448);
  h.send(false, binary(2, "upload", 7, field(8, 0, be32(1)) + kStop));
  h.send(true, binary(1, "ping", 8, kStop));
  h.send(false, binary(2, "ping", 8, field(8, 0, be32(2)) + kStop));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("method":"upload")") && contains(ev[0], R"("return_value":"1")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("method":"ping")") && contains(ev[1], R"("return_value":"2")")) << ev[1];
}

// Compact protocol, framed: varints, zigzag, field deltas, bools in the field
// header, a TApplicationException answer as Error.
TEST(Thrift, CompactFramedAndApplicationExceptions) {
  ThriftHarness h([](ThriftSettings& s) { s.limits.obfuscate_strings = true; });
  auto frame = [](const std::string& m) { return be32(static_cast<uint32_t>(m.size())) + m; };
  // 0x82, version 1 | CALL << 5, seqid 9, "op"; fields: i32 id 1 = -3 (zigzag 5), bool id 2 true, string id 3
  const std::string call = std::string("\x82\x21\x09\x02op", 6) + "\x15\x05" + "\x11" +
                           std::string("\x18\x03", 2) + "abc" + std::string(1, '\0');
  const std::string exc = std::string("\x82\x61\x09\x02op", 6) + std::string("\x18\x04", 2) + "boom" +
                          "\x15\x02" + std::string(1, '\0');
  h.send(true, frame(call), 1);
  h.send(false, frame(exc), 1);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"x("params":"(1: -3, 2: true, 3: \"*\")")x")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"x("exceptions":"(message: \"*\", type: 1)")x")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"Error")")) << ev[0];
}

TEST(Thrift, NotThriftIsLeftAndAnUnansweredCallIsNoted) {
  {
    ThriftHarness h;
    h.send(true, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_TRUE(h.finish().empty());
    EXPECT_EQ(h.count("thrift.violations"), 1u);
  }
  {
    ThriftHarness h;
    h.send(true, binary(1, "lost", 3, kStop));
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_TRUE(contains(ev[0], R"("message":"Unmatched request")")) << ev[0];
    EXPECT_EQ(h.count("thrift.unmatched_requests"), 1u);
  }
}

}  // namespace
}  // namespace tapbeat
