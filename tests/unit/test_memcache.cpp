#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "decode/memcache/memcache_decoder.hpp"
#include "engine/decoder_set.hpp"
#include "engine/worker.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

using test::contains;

// One connection to port 11211, picked up mid-stream.
struct MemcacheHarness : test::StreamTest {
  test::Conn conn{50000, 11211, 100, 900};
  MemcacheHarness() {
    const uint16_t ports[] = {11211};
    decoders.enable<MemcacheSettings>("memcache", ports);
    start();
  }
  void client(std::string_view s) { StreamTest::client(conn, s); }
  void server(std::string_view s) { StreamTest::server(conn, s); }
  // A VALUE reply of `value` to a get of `key` whose first 1000 bytes the capture lost,
  // the rest in segments of `seg` bytes.
  void value_reply_head_lost(const std::string& key, const std::string& value, std::size_t seg) {
    const std::string reply =
        "VALUE " + key + " 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\nEND\r\n";
    lose(false, conn, reply.substr(0, 1000));
    for (std::size_t at = 1000; at < reply.size(); at += seg) server(std::string_view(reply).substr(at, seg));
  }
};

// The meta protocol (memcached 1.6+, the text protocol's successor to binary): each
// command paired with its reply, values passed over by their size, and the classic
// commands after them still read.
TEST(Memcache, MetaCommandsPairedWithTheirReplies) {
  MemcacheHarness h;
  h.client("ms foo 6 T90 F5 C7\r\nVA 1\r\n\r\n");  // a value that reads as a reply
  h.server("HD\r\n");
  h.client("mg foo v f c k O42\r\n");
  h.server("VA 6 f5 c8 kfoo O42\r\nVA 1\r\n\r\n");
  h.client("mg Zm9vYg== b v\r\n");  // a base64 key: published decoded
  h.server("EN\r\n");
  h.client("ma n v D5 J1 N0\r\n");
  h.server("VA 2\r\n12\r\n");
  h.client("md foo\r\n");
  h.server("NF\r\n");
  h.client("mn\r\n");
  h.server("MN\r\n");
  h.client("get foo\r\n");
  h.server("END\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 7u);
  EXPECT_TRUE(contains(ev[0], R"("request":{"bytes":6,"cas_unique":7,"command":"ms","count_values":1,)"
                              R"("exptime":90,"flags":5,"keys":["foo"],"quiet":false,"type":"Store"})"))
      << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("response":{"command":"HD","type":"Success"})")) << ev[0];
  EXPECT_TRUE(
      contains(ev[1], R"("request":{"command":"mg","keys":["foo"],"opaque":42,"quiet":false,"type":"Load"})"))
      << ev[1];
  EXPECT_TRUE(contains(ev[1],
                       R"("response":{"bytes":6,"cas_unique":8,"command":"VA","count_values":1,"flags":5,)"
                       R"("keys":["foo"],"opaque":42,"type":"Load"})"))
      << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("keys":["foob"])")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("response":{"command":"EN","type":"Load"})")) << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("delta":5,"initial":1,)")) << ev[3];
  EXPECT_TRUE(contains(ev[3], R"("type":"Counter","value":12})")) << ev[3];
  EXPECT_TRUE(contains(ev[4], R"("response":{"command":"NF","type":"Fail"})")) << ev[4];
  EXPECT_TRUE(contains(ev[5], R"("command":"mn")")) << ev[5];
  EXPECT_TRUE(contains(ev[6], R"("command":"get")")) << ev[6];
  EXPECT_EQ(h.count("memcache.transactions"), 7u);
  EXPECT_EQ(h.count("memcache.malformed"), 0u);
  EXPECT_EQ(h.count("stream.detached"), 0u);
}

// Quiet mode (q) leaves out the usual reply (mg's miss, a done ms or md): a quiet request
// is answered or passed over, told by its O token or echoed key, else by which replies
// it could have had. Those passed over are published alone, as binary's quiet ones are.
TEST(Memcache, QuietMetaPipelinesMatchEachReplyToItsRequest) {
  MemcacheHarness h;
  h.client("mg a v q\r\nmg b v q\r\nms c 1 q\r\nx\r\nmd d q\r\nmn\r\n");
  h.server("VA 1\r\nA\r\nNF\r\nMN\r\n");
  // By token: the first quiet get missed, the second hit, which order alone would not tell.
  h.client("mg e v q O1\r\nmg f v q O2\r\nmn\r\n");
  h.server("VA 1 O2\r\nF\r\nMN\r\n");
  // By echoed key, the same.
  h.client("mg g v q k\r\nmg h v q k\r\nmn\r\n");
  h.server("VA 1 kh\r\nH\r\nMN\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 11u);
  auto has = [&](std::size_t i, const char* key, const char* reply) {
    const std::string keys = std::string(R"("keys":[")") + key + "\"]";
    EXPECT_TRUE(contains(ev[i], keys)) << i << " " << ev[i];
    if (reply)
      EXPECT_TRUE(contains(ev[i], std::string(R"("response":{)")) &&
                  contains(ev[i], std::string(R"("command":")") + reply + "\""))
          << i << " " << ev[i];
    else
      EXPECT_FALSE(contains(ev[i], R"("response":)")) << i << " " << ev[i];
  };
  has(0, "a", "VA");
  has(1, "b", nullptr);
  has(2, "c", nullptr);
  has(3, "d", "NF");
  EXPECT_TRUE(contains(ev[4], R"("command":"MN")")) << ev[4];
  has(5, "e", nullptr);
  has(6, "f", "VA");
  has(8, "g", nullptr);
  has(9, "h", "VA");
  for (const std::size_t i : {1, 2, 5, 8}) {
    EXPECT_TRUE(contains(ev[i], R"("quiet":true)")) << ev[i];
    EXPECT_TRUE(contains(ev[i], R"("status":"OK")")) << ev[i];
  }
  EXPECT_EQ(h.count("memcache.unmatched_requests"), 0u);
  EXPECT_EQ(h.count("memcache.unmatched_responses"), 0u);
}

// An ms without its size: memcached answers CLIENT_ERROR and reads the value's line as a
// command (ERROR); tapbeat reads both sides as the server did.
// Text segments lost to the capture (each acknowledged by the other side, the next
// held behind the hole): a reply lost with the start of the next leaves its get
// unanswered, and the stream is taken up at the next line that opens a message, the
// bytes of the cut reply passed over; a command lost leaves its reply unmatched.
// Every later pair is its own. Before, such a gap left the connection.
TEST(Memcache, TextLostSegmentsCostTheirOwnMessagesOnly) {
  MemcacheHarness h;
  auto get = [](int i) { return "get k" + std::to_string(i) + "\r\n"; };
  auto value = [](int i) {
    return "VALUE k" + std::to_string(i) + " 0 2\r\nv" + std::to_string(i) + "\r\nEND\r\n";
  };
  h.client(get(1));
  h.server(value(1));
  h.client(get(2));
  h.lose(false, h.conn, value(2).substr(0, 14));  // "VALUE k2 0 2\r\n": the rest is "v2", "END"
  h.server(value(2).substr(14));
  h.client(get(3));
  h.server(value(3));
  h.lose(true, h.conn, get(4));
  h.server(value(4));
  h.client(get(5));
  h.server(value(5));
  h.client(get(6));
  h.server(value(6));
  auto ev = h.finish();
  // The reply to the command the capture lost is published alone (as Packetbeat does).
  ASSERT_EQ(ev.size(), 6u);
  EXPECT_TRUE(contains(ev[3], R"("keys":["k4"])") && contains(ev[3], "Request missing")) << ev[3];
  ev.erase(ev.begin() + 3);
  const int number[] = {1, 2, 3, 5, 6};
  for (std::size_t k = 0; k < ev.size(); ++k) {
    const std::string key = "\"keys\":[\"k" + std::to_string(number[k]) + "\"]";
    EXPECT_TRUE(contains(ev[k], "\"request\":{\"command\":\"get\"," + key)) << ev[k];
    if (number[k] != 2) {
      EXPECT_TRUE(contains(ev[k], "\"count_values\":1,\"flags\":0," + key)) << ev[k];
    }
  }
  EXPECT_TRUE(contains(ev[1], R"("status":"Server Error")")) << ev[1];  // unanswered, as Packetbeat
  EXPECT_TRUE(contains(ev[1], "Unfinished transaction")) << ev[1];      // its note for it
  EXPECT_EQ(h.count("memcache.responses_lost"), 1u);
  EXPECT_EQ(h.count("memcache.resynced"), 2u);
  // The lost command's reply. The cut reply's END line, after its value's bytes passed
  // over, ends that reply (before, it was taken for a reply of its own shape, unmatched).
  EXPECT_EQ(h.count("memcache.unmatched_responses"), 1u);
  EXPECT_EQ(h.count("memcache.violations"), 0u);
}

// A pipelined client whose first segment the capture lost (a set with its value, a get,
// another set): the replies to the lost commands come first, and a reply that cannot
// answer the oldest request waiting (a STORED for a get, a value of a key it did not ask
// for) is published alone instead of taken for its. Before, every request of the batch
// after the loss met the reply of one before it.
TEST(Memcache, TextRepliesOfCommandsTheCaptureLostAreNotTakenForOthers) {
  MemcacheHarness h;
  h.client("set k0 0 0 2\r\nv0\r\n");
  h.server("STORED\r\n");
  h.lose(true, h.conn, "set k1 0 0 2\r\nv1\r\nget k1\r\nset k2 0 0 2\r\nv2\r\n");
  h.client("get k2\r\nset k3 0 0 2\r\nv3\r\nget k3\r\n");
  h.server(
      "STORED\r\nVALUE k1 0 2\r\nv1\r\nEND\r\nSTORED\r\nVALUE k2 0 2\r\nv2\r\nEND\r\nSTORED\r\n"
      "VALUE k3 0 2\r\nv3\r\nEND\r\n");
  const auto ev = h.finish();
  std::vector<std::string> paired;
  for (const auto& e : ev)
    if (contains(e, R"("request":{)") && contains(e, R"("response":{)")) paired.push_back(e);
  ASSERT_EQ(paired.size(), 4u);
  EXPECT_TRUE(contains(paired[0], R"("command":"set")") && contains(paired[0], R"("keys":["k0"])"))
      << paired[0];
  EXPECT_TRUE(contains(paired[1], R"("command":"get","keys":["k2"])")) << paired[1];
  EXPECT_TRUE(contains(paired[1], R"("count_values":1,"flags":0,"keys":["k2"])")) << paired[1];
  EXPECT_TRUE(contains(paired[2], R"("command":"set")") && contains(paired[2], R"("keys":["k3"])"))
      << paired[2];
  EXPECT_TRUE(contains(paired[2], R"("command":"STORED")")) << paired[2];
  EXPECT_TRUE(contains(paired[3], R"("command":"get","keys":["k3"])")) << paired[3];
  EXPECT_TRUE(contains(paired[3], R"("keys":["k3"])")) << paired[3];
  EXPECT_EQ(h.count("memcache.violations"), 0u);
}

// A pipeline (set k1 with a 300-byte value, get k1, get k2) whose server segment holding
// the set's STORED and the head of get k1's VALUE the capture lost: the rest of the value
// is passed over, and the END after it ends get k1's reply, not a miss for it (the set
// goes out at the gap, get k1 with it, its reply begun in the lost bytes); get k2 takes
// its own miss. Before, get k1 took that END for a miss and get k2 its own.
TEST(Memcache, EndAfterALostValueIsNotTakenForAMiss) {
  MemcacheHarness h;
  const std::string v(300, 'v');
  h.client("set k1 0 0 300\r\n" + v + "\r\nget k1\r\nget k2\r\n");
  const std::string replies = "STORED\r\nVALUE k1 0 300\r\n" + v + "\r\nEND\r\nEND\r\n";
  h.lose(false, h.conn, replies.substr(0, 100));
  h.server(replies.substr(100));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("command":"set")") && !contains(ev[0], R"("response":{)")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("command":"get","keys":["k1"])")) << ev[1];
  EXPECT_FALSE(contains(ev[1], R"("response":{)")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("command":"get","keys":["k2"])")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("response":{)")) << ev[2];
  EXPECT_EQ(h.count("memcache.responses_lost"), 2u);
  EXPECT_EQ(h.count("memcache.violations"), 0u);
}

// Pipelined batches (set kN, get kN, set kN+1, get kN+1), the client waiting for each
// batch's replies. A segment holding the first two replies of a batch lost: the set
// goes to the gap, and the get, which a STORED cannot answer, after it; the rest pair
// right. A segment holding a whole batch's replies lost: the batch goes out unanswered,
// since the next reply began after the next batch was sent. Before, each later request
// met the reply of one before it.
// A capture with a snap length of 70 bytes (16 of each segment's payload): command
// lines longer than that keep their command and keys as far as they go and are
// published with their reply and a note; short ones as whole. Before, a cut command
// line was dropped at the gap and its reply published unmatched.
TEST(Memcache, TextCommandLinesCutByTheSnapLengthStillPair) {
  MemcacheHarness h;
  h.snap = 70;
  h.client("version\r\n");
  h.server("VERSION 1.6\r\n");
  h.client("get a_long_key_name_1\r\n");
  h.server("END\r\n");
  h.client("delete another_long_key\r\n");
  h.server("NOT_FOUND\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_FALSE(contains(ev[0], "Packet loss")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("keys":["a_long_key_n"])")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("command":"get")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("keys":["another_l"])")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("command":"delete")")) << ev[2];
  for (std::size_t i = 1; i < 3; ++i)
    EXPECT_TRUE(contains(ev[i], "Packet loss while capturing the request")) << ev[i];
  EXPECT_TRUE(contains(ev[1], R"("status":"OK")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("status":"Error")")) << ev[2];  // NOT_FOUND, as Packetbeat
  EXPECT_EQ(h.count("memcache.unmatched_responses"), 0u);
}

// Replies and values the snap length cut: a value cut inside with the END after it, a
// VALUE line cut (its key whole, its size not), an END without its line feed (whole:
// not noted), a set whose value alone was cut, a multi-get reply cut past its first
// value whose END comes after the cut. Each answers its own command; none is unmatched.
TEST(Memcache, TextRepliesAndValuesCutByTheSnapLengthStillPair) {
  MemcacheHarness h;
  h.snap = 74;  // 20 bytes of each segment's payload
  h.client("get k1\r\n");
  h.server("VALUE k1 0 40\r\n" + std::string(40, 'x') + "\r\nEND\r\n");
  h.client("get k\r\n");
  h.server("VALUE k 0 1\r\nx\r\nEND\r\n");
  h.client("get key_three\r\n");
  h.server("VALUE key_three 0 100\r\n" + std::string(100, 'y') + "\r\nEND\r\n");
  h.client("set k4 0 0 30\r\n" + std::string(30, 'z') + "\r\n");
  h.server("STORED\r\n");
  h.client("get a b\r\n");  // the first value cut past its end; the END comes whole after
  h.server("VALUE a 0 30\r\n" + std::string(30, 'w') + "\r\nVALUE b 0 1\r\nx\r\n");
  h.server("END\r\n");
  h.client("delete k5\r\n");
  h.server("NOT_FOUND\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 6u);
  EXPECT_TRUE(contains(ev[0], R"("keys":["k1"])")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("bytes":40)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], "Packet loss while capturing the response")) << ev[0];
  EXPECT_FALSE(contains(ev[1], "Packet loss")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("count_values":1)")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("keys":["key_three"])")) << ev[2];
  EXPECT_TRUE(contains(ev[2], "Packet loss while capturing the response")) << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("command":"set")")) << ev[3];
  EXPECT_TRUE(contains(ev[3], R"("command":"STORED")")) << ev[3];
  EXPECT_FALSE(contains(ev[3], "Packet loss")) << ev[3];  // only value bytes, not in the event, lost
  EXPECT_TRUE(contains(ev[4], R"("keys":["a"])")) << ev[4];
  EXPECT_TRUE(contains(ev[4], "Packet loss while capturing the response")) << ev[4];
  EXPECT_TRUE(contains(ev[5], R"("command":"NOT_FOUND")")) << ev[5];
  EXPECT_FALSE(contains(ev[5], "Packet loss")) << ev[5];
  for (std::size_t i = 0; i < 5; ++i) EXPECT_TRUE(contains(ev[i], R"("status":"OK")")) << ev[i];
  EXPECT_TRUE(contains(ev[5], R"("status":"Error")")) << ev[5];  // NOT_FOUND, as Packetbeat
  EXPECT_EQ(h.count("memcache.unmatched_responses"), 0u);
  EXPECT_EQ(h.count("memcache.unmatched_requests"), 0u);
}

TEST(Memcache, LostRepliesOfAPipelinePairTheRestRight) {
  MemcacheHarness h;
  h.handshake(h.conn);
  auto set = [](int i) { return "set k" + std::to_string(i) + " 0 0 2\r\nv" + std::to_string(i) + "\r\n"; };
  auto get = [](int i) { return "get k" + std::to_string(i) + "\r\n"; };
  auto value = [](int i) {
    return "VALUE k" + std::to_string(i) + " 0 2\r\nv" + std::to_string(i) + "\r\nEND\r\n";
  };
  auto batch = [&](int i) { return set(i) + get(i) + set(i + 1) + get(i + 1); };
  h.client(batch(1));
  h.lose(false, h.conn, "STORED\r\n" + value(1));
  h.client("");  // the client's ACK of the lost replies
  h.server("STORED\r\n" + value(2));
  h.client(batch(3));
  h.lose(false, h.conn, "STORED\r\n" + value(3) + "STORED\r\n" + value(4));
  h.client(batch(5));
  h.server("STORED\r\n" + value(5) + "STORED\r\n" + value(6));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 12u);
  for (int i = 1; i <= 6; ++i) {
    const std::string key = "\"keys\":[\"k" + std::to_string(i) + "\"]";
    const std::string& s = ev[2 * (i - 1)];
    const std::string& g = ev[2 * (i - 1) + 1];
    EXPECT_TRUE(contains(s, "\"command\":\"set\"") && contains(s, key)) << s;
    EXPECT_TRUE(contains(g, "\"request\":{\"command\":\"get\"," + key)) << g;
    const bool lost = i == 1 || i == 3 || i == 4;
    EXPECT_EQ(contains(s, R"("status":"Server Error")"), lost) << i << " " << s;  // unanswered
    EXPECT_EQ(contains(g, R"("status":"Server Error")"), lost) << i << " " << g;
    if (!lost) {
      EXPECT_TRUE(contains(g, "\"count_values\":1,\"flags\":0," + key)) << g;
    }
  }
  EXPECT_EQ(h.count("memcache.responses_lost"), 6u);
  EXPECT_EQ(h.count("memcache.unmatched_responses"), 0u);
}

// Commands memcached 1.6 answers that the decoder does not name: an administrative
// command's reply lines (lru_crawler metadump's "key=... exp=..." lines, line feeds
// alone, then END) are its reply, and the connection goes on (it had been left as not
// memcache). gat and gats give their expiry first, then their keys.
TEST(Memcache, UnknownCommandsRepliesAndGatKeys) {
  MemcacheHarness h;
  h.client("lru_crawler metadump all\r\n");
  h.server(
      "key=n exp=-1 la=1796445351 cas=4 fetch=yes cls=1 size=62\nkey=a exp=1796445361 la=1796445351 "
      "cas=3 fetch=yes cls=1 size=64\nEND\r\n");
  h.client("gat 100 a b\r\n");
  h.server("VALUE a 5 3\r\nabc\r\nEND\r\n");
  h.client("bogus command\r\n");
  h.server("ERROR\r\n");
  h.client("get a\r\n");
  h.server("END\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(contains(ev[0], R"("command":"END")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("keys":["a","b"])")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("exptime":100)")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("command":"ERROR")")) << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("command":"get")")) << ev[3];
  EXPECT_EQ(h.count("memcache.unknown_commands"), 2u);
  EXPECT_EQ(h.count("memcache.malformed"), 0u);
  EXPECT_EQ(h.count("memcache.violations"), 0u);
}

// Status, outcome, types and arguments as Packetbeat writes them (its memcache.go,
// text.go, codes.go), each checked against Packetbeat 7.17 on a memcached 1.6 session:
// a text answer of failure is an error (a miss or not stored: Error; CLIENT_ERROR and
// SERVER_ERROR: Client Error, Server Error) with outcome success (the answer's status
// code, 0 in text); touch is a Store, flush_all a Delete with its delay (0 without one);
// verbosity carries its level; noreply only where the syntax has it; a binary answer's
// type is its command's, its status by name, past 0x80 a Server Error; an answer alone is
// a Client Error.
TEST(Memcache, StatusTypesAndArgumentsAsPacketbeatWritesThem) {
  MemcacheHarness h;
  const char* exchanges[][2] = {
      {"add k 0 0 1\r\nx\r\n", "NOT_STORED\r\n"},
      {"delete nokey\r\n", "NOT_FOUND\r\n"},
      {"set k 0 0 1\r\nx\r\n", "STORED\r\n"},
      {"touch k 10\r\n", "TOUCHED\r\n"},
      {"flush_all\r\n", "OK\r\n"},
      {"verbosity 1\r\n", "OK\r\n"},
      {"version\r\n", "VERSION 1.6.18\r\n"},
      {"incr k abc\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n"},
  };
  for (const auto& x : exchanges) {
    h.client(x[0]);
    h.server(x[1]);
  }
  h.server("SERVER_ERROR out of memory\r\n");  // an answer alone
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 9u);
  const auto has = [&](std::size_t i, const std::string& s) { return contains(ev[i], s); };
  EXPECT_TRUE(has(0, R"("status":"Error")") && has(0, R"("outcome":"success")")) << ev[0];
  EXPECT_TRUE(has(1, R"("status":"Error")") && has(1, R"("type":"Fail")")) << ev[1];
  EXPECT_TRUE(has(2, R"("status":"OK")")) << ev[2];
  EXPECT_TRUE(has(3, R"("action":"memcache.store")") && has(3, R"("exptime":10)")) << ev[3];
  EXPECT_TRUE(has(4, R"("action":"memcache.delete")") && has(4, R"("exptime":0)")) << ev[4];
  EXPECT_FALSE(has(4, "noreply")) << ev[4];
  EXPECT_TRUE(has(5, R"("verbosity":1)")) << ev[5];
  EXPECT_FALSE(has(5, "noreply") || has(6, "noreply")) << ev[5] << ev[6];
  EXPECT_TRUE(has(7, R"("status":"Client Error")") && has(7, R"("type":"Fail")")) << ev[7];
  EXPECT_TRUE(has(8, R"("status":"Client Error")") && has(8, R"("command":"SERVER_ERROR")")) << ev[8];

  MemcacheHarness b;
  const auto binary = [&](uint8_t magic, uint8_t op, uint16_t status, std::string_view key) {
    std::string m(24, '\0');
    m[0] = static_cast<char>(magic), m[1] = static_cast<char>(op);
    m[2] = 0, m[3] = static_cast<char>(key.size());
    m[6] = static_cast<char>(status >> 8), m[7] = static_cast<char>(status);
    m[11] = static_cast<char>(key.size());
    return m + std::string(key);
  };
  b.client(binary(0x80, 0x00, 0, "nokey"));
  b.server(binary(0x81, 0x00, 0x01, ""));
  b.client(binary(0x80, 0x0a, 0, ""));
  b.server(binary(0x81, 0x0a, 0x82, ""));
  const auto bev = b.finish();
  ASSERT_EQ(bev.size(), 2u);
  EXPECT_TRUE(contains(bev[0], R"("status":"Key not found")")) << bev[0];
  EXPECT_TRUE(contains(bev[0], R"("type":"Load"})") && contains(bev[0], R"("status":"Error")")) << bev[0];
  EXPECT_FALSE(contains(bev[0], "outcome")) << bev[0];
  EXPECT_TRUE(contains(bev[1], R"("status":"Server Error")")) << bev[1];
}

// Text replies as Packetbeat writes them: a counter reply's command is
// "<counter_op_res>", a VALUE reply's cas_unique is there without a CAS (0), and a
// multi-value reply's flags and CAS are its first value's. A multi-get's keys are all
// kept, past the words a line is split into (260) and up to 16 KiB of text; past
// that, counted and noted.
TEST(Memcache, TextRepliesAndLongMultiGetsAsPacketbeatWritesThem) {
  MemcacheHarness h;
  h.client("incr n 2\r\n");
  h.server("12\r\n");
  h.client("get a b\r\n");
  h.server("VALUE a 5 3\r\nabc\r\nVALUE b 7 1\r\nx\r\nEND\r\n");
  std::string many = "get", values;
  for (int i = 0; i < 400; ++i) many += " k" + std::to_string(i);
  for (int i = 0; i < 400; i += 2) values += "VALUE k" + std::to_string(i) + " 0 1\r\nv\r\n";
  h.client(many + "\r\n");
  h.server(values + "END\r\n");
  std::string huge = "get";
  for (int i = 0; i < 120; ++i)
    huge += " " + std::string(200, static_cast<char>('a' + i % 26)) + std::to_string(i);
  h.client(huge + "\r\n");
  h.server("END\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(contains(ev[0], R"("command":"<counter_op_res>","type":"Counter","value":12)")) << ev[0];
  EXPECT_TRUE(contains(
      ev[1], R"("response":{"bytes":4,"cas_unique":0,"command":"VALUE","count_values":2,"flags":5,)"))
      << ev[1];
  EXPECT_TRUE(contains(ev[2], R"(,"k399"])")) << ev[2].substr(0, 400);
  EXPECT_TRUE(contains(ev[2], R"("count_values":200,)")) << ev[2].substr(0, 400);
  EXPECT_TRUE(contains(ev[2], R"(,"k398"],"type":"Load")")) << ev[2].substr(0, 400);
  EXPECT_FALSE(contains(ev[2], "not kept")) << ev[2].substr(0, 400);
  EXPECT_TRUE(contains(ev[3], "keys past 16 KiB of text not kept")) << ev[3].substr(0, 400);
  EXPECT_TRUE(contains(ev[3], "a78")) << ev[3].substr(0, 400);  // the 79th key, within 16 KiB
  EXPECT_FALSE(contains(ev[3], "a104")) << ev[3].substr(0, 400);
  EXPECT_EQ(h.count("memcache.keys_cut"), 1u);
  EXPECT_EQ(h.count("memcache.transactions"), 4u);
}

TEST(Memcache, MetaSetWithoutASizeIsAnsweredAsTheServerReadsIt) {
  MemcacheHarness h;
  h.client("ms k S2\r\nab\r\n");
  h.server("CLIENT_ERROR bad command line format\r\nERROR\r\n");
  h.client("mn\r\n");
  h.server("MN\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("command":"ms")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("command":"CLIENT_ERROR")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"Client Error")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("command":"ERROR")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("command":"MN")")) << ev[2];
  EXPECT_EQ(h.count("stream.detached"), 0u);
}

// Over UDP, an answer whose request was not seen is published alone as over TCP (as
// Packetbeat publishes it), and a request answered pairs by its request id.
TEST(Memcache, UdpAnswerToNothingSeenIsPublishedAlone) {
  MemcacheHarness h;
  const auto frame = [](uint16_t id) {
    return std::string{static_cast<char>(id >> 8), static_cast<char>(id), 0, 0, 0, 1, 0, 0};
  };
  h.datagram("10.0.0.1", 40000, "10.0.0.2", 11211, frame(7) + "get k\r\n");
  h.datagram("10.0.0.2", 11211, "10.0.0.1", 40000, frame(7) + "VALUE k 0 1\r\nv\r\nEND\r\n");
  h.datagram("10.0.0.2", 11211, "10.0.0.1", 40000, frame(9) + "VALUE j 0 1\r\nw\r\nEND\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")") && contains(ev[0], R"("transport":"udp")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("status":"Client Error")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], "Request missing") && contains(ev[1], R"("keys":["j"])")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("client":{"ip":"10.0.0.1","port":40000})")) << ev[1];
  EXPECT_EQ(h.count("memcache.unmatched_responses"), 1u);
}

// A binary message: magic, opcode, key, value, opaque and extras (zeros).
std::string mc_binary(uint8_t magic, uint8_t op, std::string_view key, std::string_view value,
                      uint32_t opaque, uint8_t extras = 0) {
  std::string m(24, '\0');
  m[0] = static_cast<char>(magic), m[1] = static_cast<char>(op);
  m[2] = static_cast<char>(key.size() >> 8), m[3] = static_cast<char>(key.size());
  m[4] = static_cast<char>(extras);
  const uint32_t total = static_cast<uint32_t>(extras + key.size() + value.size());
  for (int i = 0; i < 4; ++i) m[8 + i] = static_cast<char>(total >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) m[12 + i] = static_cast<char>(opaque >> (24 - 8 * i));
  return m + std::string(extras, '\0') + std::string(key) + std::string(value);
}

// A binary connection whose first client segment was lost (a set's head and its
// value's first bytes): nothing has told the protocol yet, but a request header followed
// by the next one where its length says is binary's start, so the batch's later
// requests are read and meet their replies. Before, lines were looked for until the
// server's first reply said binary, and the whole first batch was lost (a live
// capture's first segment dropped: 10 of 10).
TEST(Memcache, BinaryConnectionWhoseFirstSegmentWasLostIsFoundByItsHeaders) {
  MemcacheHarness h;
  h.handshake(h.conn);
  std::mt19937 rng(5);
  const std::string set0 = mc_binary(0x80, 0x01, "k0", test::random_bytes(rng, 6000), 0, 8);
  h.lose(true, h.conn, std::string_view(set0).substr(0, 1448));
  std::string rest = set0.substr(1448);
  for (int i = 1; i <= 4; ++i) rest += mc_binary(0x80, 0x00, "k" + std::to_string(i), "", 0);
  for (std::size_t at = 0; at < rest.size(); at += 1448) h.client(std::string_view(rest).substr(at, 1448));
  std::string replies = mc_binary(0x81, 0x01, "", "", 0);
  for (int i = 1; i <= 4; ++i) replies += mc_binary(0x81, 0x00, "", "v" + std::to_string(i), 0, 4);
  h.server(replies);
  const auto ev = h.finish();
  int paired = 0;
  for (const std::string& e : ev)
    for (int i = 1; i <= 4; ++i)
      if (contains(e, "\"keys\":[\"k" + std::to_string(i) + "\"]")) {
        EXPECT_TRUE(contains(e, R"("status":"OK")")) << e;
        ++paired;
      }
  EXPECT_EQ(paired, 4);
  EXPECT_EQ(h.count("stream.detached"), 0u);
}

// Replies of a pipeline lost in several places before a reply comes (the client's
// acknowledgement of the first loss, then losses it has not acknowledged yet): each
// loss keeps what it shows, so the replies that come meet their own requests. Binary
// with every opaque 0 (as clients that do not use it send), so that only the times
// tell, and text. Before, the second loss made the decoder forget the first and pair
// k4's get with k5's value.
TEST(Memcache, RepliesLostInSeveralPlacesPairTheRestRight) {
  for (const bool binary : {true, false}) {
    MemcacheHarness h;
    h.handshake(h.conn);
    auto set = [&](int i) {
      const std::string k = "k" + std::to_string(i);
      return binary ? mc_binary(0x80, 0x01, k, "v", 0, 8) : "set " + k + " 0 0 1\r\nv\r\n";
    };
    auto get = [&](int i) {
      const std::string k = "k" + std::to_string(i);
      return binary ? mc_binary(0x80, 0x00, k, "", 0) : "get " + k + "\r\n";
    };
    auto stored = [&](int) { return binary ? mc_binary(0x81, 0x01, "", "", 0) : std::string("STORED\r\n"); };
    auto value = [&](int i) {
      return binary ? mc_binary(0x81, 0x00, "", "v", 0, 4)
                    : "VALUE k" + std::to_string(i) + " 0 1\r\nv\r\nEND\r\n";
    };
    auto batch = [&](int i) { return set(i) + get(i) + set(i + 1) + get(i + 1); };
    h.client(batch(1));
    h.server(stored(1) + value(1) + stored(2) + value(2));
    h.client(batch(3));
    h.lose(false, h.conn, stored(3) + value(3) + stored(4) + value(4));
    h.client(batch(5));  // acknowledges the replies lost
    h.lose(false, h.conn, stored(5));
    h.server(value(5));
    h.lose(false, h.conn, stored(6));
    h.server(value(6));
    h.client(batch(7));
    h.server(stored(7) + value(7) + stored(8) + value(8));
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 16u) << binary;
    for (int i = 1; i <= 8; ++i) {
      const std::string key = "\"keys\":[\"k" + std::to_string(i) + "\"]";
      const std::string& s = ev[2 * (i - 1)];
      const std::string& g = ev[2 * (i - 1) + 1];
      EXPECT_TRUE(contains(s, "\"command\":\"set\"") && contains(s, key)) << binary << " " << s;
      EXPECT_TRUE(contains(g, "\"command\":\"get\"") && contains(g, key)) << binary << " " << g;
      const bool set_answered = i <= 2 || i >= 7, get_answered = set_answered || i == 5 || i == 6;
      EXPECT_EQ(contains(s, R"("response":)"), set_answered) << binary << " " << i << " " << s;
      EXPECT_EQ(contains(g, R"("response":)"), get_answered) << binary << " " << i << " " << g;
    }
    EXPECT_EQ(h.count("memcache.responses_lost"), 6u) << binary;
    EXPECT_EQ(h.count("memcache.unmatched_responses"), 0u) << binary;
  }
}

// maxvalues as Packetbeat applies it: the values of a storage command and of a get's
// reply published base64-encoded (a text request's one value a string, replies' and
// binary messages' a list), each cut to maxbytespervalue, at most maxvalues of a reply;
// a value over several segments kept whole; one past the 64 KiB bound kept that far and
// noted; one a gap interrupts kept as far as it went, noted. Before, the setting was
// warned about and no value published.
TEST(Memcache, ValuesPublishedAsMaxvaluesSays) {
  struct H : test::StreamTest {
    test::Conn conn{50000, 11211, 100, 900};
    H(int32_t max_values, uint32_t max_bytes) {
      const uint16_t ports[] = {11211};
      auto& s = decoders.enable<MemcacheSettings>("memcache", ports);
      s.max_values = max_values;
      s.max_bytes_per_value = max_bytes;
      start();
    }
  };
  {
    H h(-1, 0);
    h.client(h.conn, "set k1 0 0 5\r\nhello\r\n");
    h.server(h.conn, "STORED\r\n");
    h.client(h.conn, "get k1 k2 k3\r\n");
    h.server(h.conn, "VALUE k1 0 5\r\nhel");  // the value over two segments
    h.server(h.conn, "lo\r\nVALUE k2 0 2\r\nab\r\nVALUE k3 0 0\r\n\r\nEND\r\n");
    h.client(h.conn, std::string(mc_binary(0x80, 0x01, "b", "xyz", 7, 8)));
    h.server(h.conn, std::string(mc_binary(0x81, 0x01, "", "", 7)));
    const std::string big = "set big 0 0 70000\r\n" + std::string(70000, 'x') + "\r\n";
    for (std::size_t at = 0; at < big.size(); at += 1400) h.client(h.conn, big.substr(at, 1400));
    h.server(h.conn, "STORED\r\n");
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 4u);
    EXPECT_TRUE(contains(ev[0], R"("type":"Store","values":"aGVsbG8="})")) << ev[0];
    EXPECT_TRUE(contains(ev[1], R"("type":"Load","values":["aGVsbG8=","YWI=",""]})")) << ev[1];
    EXPECT_TRUE(contains(ev[2], R"("type":"Store","values":["eHl6"]})")) << ev[2];
    EXPECT_TRUE(contains(ev[3], "values longer than 64 KiB: their first 64 KiB kept"))
        << ev[3].substr(0, 400);
    EXPECT_TRUE(contains(ev[3], R"("bytes":70000,)")) << ev[3].substr(0, 400);
    const std::size_t at = ev[3].find(R"("values":")");
    ASSERT_NE(at, std::string::npos);
    EXPECT_EQ(ev[3].find('"', at + 10) - (at + 10), (65536 + 2) / 3 * 4u);
    EXPECT_EQ(h.count("memcache.values_cut"), 1u);
  }
  {
    H h(1, 3);
    h.client(h.conn, "get a b\r\n");
    h.server(h.conn, "VALUE a 0 5\r\nhello\r\nVALUE b 0 5\r\nworld\r\nEND\r\n");
    h.client(h.conn, "set c 0 0 5\r\nhello\r\n");
    h.server(h.conn, "STORED\r\n");
    h.client(h.conn, "get d\r\n");
    h.server(h.conn, "VALUE d 0 10\r\n01234");
    h.lose(false, h.conn, "56789\r\nEND\r\n");
    h.client(h.conn, "get e\r\n");
    h.server(h.conn, "VALUE e 0 1\r\nE\r\nEND\r\n");
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 4u);
    EXPECT_TRUE(contains(ev[0], R"("count_values":2,)")) << ev[0];
    EXPECT_TRUE(contains(ev[0], R"("values":["aGVs"]})")) << ev[0];  // one value, 3 bytes
    EXPECT_TRUE(contains(ev[1], R"("values":"aGVs"})")) << ev[1];
    EXPECT_TRUE(contains(ev[2], R"("values":["MDEy"]})")) << ev[2];  // within the bytes kept: whole
    EXPECT_TRUE(contains(ev[3], R"("values":["RQ=="]})")) << ev[3];
    EXPECT_EQ(h.count("memcache.values_cut"), 0u);
  }
  {
    H h(-1, 0);
    h.client(h.conn, "get d\r\n");
    h.server(h.conn, "VALUE d 0 10\r\n01234");
    h.lose(false, h.conn, "567");
    h.server(h.conn, "89\r\nEND\r\n");
    h.client(h.conn, "get e\r\n");
    h.server(h.conn, "VALUE e 0 1\r\nE\r\nEND\r\n");
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_TRUE(contains(ev[0], R"("values":["MDEyMzQ="]})")) << ev[0];
    EXPECT_TRUE(contains(ev[0], "a value kept in part: the capture or the block store ended it")) << ev[0];
    EXPECT_TRUE(contains(ev[1], R"("values":["RQ=="]})")) << ev[1];
    EXPECT_EQ(h.count("memcache.values_cut"), 1u);
  }
  {  // over UDP: a reply's values within its datagram
    H h(-1, 0);
    const std::string frame{0, 7, 0, 0, 0, 1, 0, 0};
    h.datagram("10.0.0.1", 40000, "10.0.0.2", 11211, frame + "get k j\r\n");
    h.datagram("10.0.0.2", 11211, "10.0.0.1", 40000,
               frame + "VALUE k 0 1\r\nv\r\nVALUE j 0 2\r\nww\r\nEND\r\n");
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_TRUE(contains(ev[0], R"("values":["dg==","d3c="]})")) << ev[0];
  }
}

// The same for a text reply whose VALUE line was lost with the first bytes of a 2 MB
// value: the rest is passed over as it comes, the get goes out unanswered, and the next
// exchange pairs. Before, the connection was left.
TEST(Memcache, LostHeadOfALongValueIsFoundPast) {
  MemcacheHarness h;
  const std::string value(2 << 20, 'v');
  h.client("get big\r\n");
  h.value_reply_head_lost("big", value, 60000);
  h.client("get k\r\n");
  h.server("VALUE k 0 1\r\nv\r\nEND\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("keys":["big"])") && contains(ev[0], R"("status":"Server Error")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("keys":["k"])") && contains(ev[1], R"("status":"OK")")) << ev[1];
  EXPECT_EQ(h.count("stream.detached"), 0u);
  EXPECT_EQ(h.count("memcache.resynced"), 1u);
}

// Payload detection, a side seen from its SYN whose first segment the capture lost: a
// set's command line and the head of its value. The rest of the value (no probe knows
// it), the server's STORED, then the client's get, which tells memcache: the bytes
// between the SYN and the value's rest are a gap the decoder hears of before them, so
// the rest is passed over, STORED goes out alone and the get pairs with its VALUE.
// Before, the stream began at the value's rest, read as an unknown command that STORED
// answered.
TEST(Memcache, DetectedAfterALostFirstSegmentTheLossIsAGap) {
  test::StreamTest h;
  const uint16_t ports[] = {11211};
  h.decoders.enable<MemcacheSettings>("memcache", ports);
  h.decoders.enable_detection();
  h.start();
  test::Conn c{50000, 40111};
  h.handshake(c);
  const std::string value(100, 'a');
  h.lose(true, c, "set k 0 0 100\r\n" + value.substr(0, 40));
  h.client(c, value.substr(40) + "\r\n");
  h.server(c, "STORED\r\n");
  h.client(c, "get k\r\n");
  h.server(c, "VALUE k 0 3\r\nabc\r\nEND\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("command":"STORED")") && !contains(ev[0], R"("request")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("keys":["k"])") && contains(ev[1], R"("status":"OK")")) << ev[1];
  EXPECT_EQ(h.count(Counter::tcp_reasm_gaps), 1u);
  EXPECT_EQ(h.count(Counter::tcp_reasm_gap_bytes), 55u);
  EXPECT_EQ(h.count("memcache.unknown_commands"), 0u);
}

// Binary, losses that cost more than their own message before: a request lost whole
// (its reply, whose opcode no request waiting has, is published alone and the requests
// after it keep their own replies; before, it went to the next request and every later
// pair was one off), and the head of a 1 MiB random value lost (the rest is passed over
// to the next header that holds together and is followed by the next; before, the
// 64 KiB resync budget ran out and the connection was left).
TEST(Memcache, BinaryLossesCostTheirOwnMessagesOnly) {
  MemcacheHarness h;
  h.handshake(h.conn);
  std::mt19937 rng(3);
  const std::string big = test::random_bytes(rng, 1 << 20);
  auto get = [&](int i) { return mc_binary(0x80, 0x00, "k" + std::to_string(i), "", 0); };
  auto hit = [&](int i) { return mc_binary(0x81, 0x00, "", "v" + std::to_string(i), 0, 4); };
  const std::string stored = mc_binary(0x81, 0x01, "", "", 0);
  h.client(get(1));
  h.server(hit(1));
  h.lose(true, h.conn, mc_binary(0x80, 0x01, "k2", "v", 0, 8));  // a set lost whole
  h.server(stored);
  h.client(get(3));
  h.server(hit(3));
  h.client(get(4));
  const std::string reply = mc_binary(0x81, 0x00, "", big, 0, 4);
  h.lose(false, h.conn, std::string_view(reply).substr(0, 5000));  // the head of a long value
  for (std::size_t at = 5000; at < reply.size(); at += 60000)
    h.server(std::string_view(reply).substr(at, 60000));
  for (int i = 5; i <= 7; ++i) {
    h.client(get(i));
    h.server(hit(i));
  }
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 7u);
  EXPECT_TRUE(contains(ev[0], R"("keys":["k1"])") && contains(ev[0], R"("status":"OK")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], "Request missing") && contains(ev[1], R"("command":"set")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("keys":["k3"])") && contains(ev[2], R"("status":"OK")")) << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("keys":["k4"])") && !contains(ev[3], R"("response":)")) << ev[3];
  for (int i = 5; i <= 7; ++i)
    EXPECT_TRUE(contains(ev[i - 1], "\"keys\":[\"k" + std::to_string(i) + "\"]") &&
                contains(ev[i - 1], R"("status":"OK")"))
        << ev[i - 1];
  EXPECT_EQ(h.count("stream.detached"), 0u);
  EXPECT_EQ(h.count("memcache.resynced"), 2u);  // each side after its gap
  EXPECT_GT(h.count("memcache.resync_skipped_bytes"), 1000000u);
}

// Text, losses that left the connection before: the client's first segment lost (the
// decoder had not yet seen whether the connection speaks text or binary and gave the
// connection up, uncounted: every later transaction lost), and a reply's head lost inside
// a binary value whose bytes hold lines that read as replies ("5", "EN", "STORED"
// followed by binary bytes): none is taken, as each is not followed by what a reply is
// followed by, and the replies after the value meet their own requests (a live memcached
// capture of pipelined 200 KB values: 30 of 288 drops left the connection).
TEST(Memcache, TextLossesCostTheirOwnMessagesOnly) {
  MemcacheHarness h;
  h.handshake(h.conn);
  h.lose(true, h.conn, "set a 0 0 1\r\n1\r\n");
  h.server("STORED\r\n");
  h.client("get a\r\n");
  h.server("VALUE a 0 1\r\n1\r\nEND\r\n");
  std::mt19937 rng(3);
  auto random_bytes = [&](std::size_t n) { return test::random_bytes(rng, n, 9, 1); };  // no line ends
  const std::string value = random_bytes(40000) + "\r\n5\r\n" + random_bytes(40000) + "\nEN\r\n" +
                            random_bytes(40000) + "\nSTORED\r\n" + random_bytes(40000);
  h.client("get big\r\nget k\r\n");
  h.value_reply_head_lost("big", value, 30000);
  h.server("VALUE k 0 1\r\nv\r\nEND\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(contains(ev[0], "Request missing")) << ev[0];  // the lost set's STORED, alone
  EXPECT_TRUE(contains(ev[1], R"("keys":["a"])") && contains(ev[1], R"("status":"OK")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("keys":["big"])") && contains(ev[2], "Unfinished transaction")) << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("keys":["k"])") && contains(ev[3], R"("status":"OK")")) << ev[3];
  EXPECT_TRUE(contains(ev[3], R"("count_values":1)")) << ev[3];
  EXPECT_EQ(h.count("stream.detached") + h.count("stream.gap_detached"), 0u);
  EXPECT_EQ(h.count("memcache.violations"), 0u);
  EXPECT_EQ(h.count("memcache.unmatched_responses"), 1u);  // the lost set's STORED
  EXPECT_EQ(h.count("memcache.responses_lost"), 1u);       // get big's
}

// The last bytes of a pipeline's last set lost (its value's end): the server's replies
// go out (their wait for the lost bytes given up) before the capture shows the loss,
// with the client's next command. The set's STORED, come while it was not yet whole, is
// its own: the set goes out alone at the gap. Before, it waited and took the next get's
// reply, and every later pair was one off.
TEST(Memcache, SetWhoseEndWasLostAfterItsReplyCameGoesOutAlone) {
  MemcacheHarness h;
  h.handshake(h.conn);
  const std::string b = "set b 0 0 10\r\n0123456789\r\n";
  h.client("set a 0 0 1\r\n1\r\n" + b.substr(0, 20));
  h.lose(true, h.conn, b.substr(20));
  h.server("STORED\r\nSTORED\r\n");
  h.ts += 2'000'000'000;  // the next batch, seconds later
  h.client("get c\r\n");
  h.server("VALUE c 0 1\r\nc\r\nEND\r\n");
  const auto ev = h.finish();
  // set a with its STORED; set b's STORED alone (published, as Packetbeat publishes a
  // reply without its request); set b alone; get c with its value.
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(contains(ev[0], R"("keys":["a"])") && contains(ev[0], R"("status":"OK")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], "Request missing")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("keys":["b"])") && !contains(ev[2], R"("response")")) << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("keys":["c"])") && contains(ev[3], R"("count_values":1)")) << ev[3];
}

// A pipeline whose first client segment the capture lost: two whole commands and the
// head of a set of a 3000-byte value, whose tail is passed over after the gap. The two
// replies captured before that tail answer the lost commands; the set's STORED, captured
// after it, is owed to the set: the get after it still takes its own value. Before, the
// STORED went to the get and every later pair of the pipeline was one off (a live
// memcached capture, pipelines of 60 commands: 60 transactions wrong for one lost segment).
TEST(Memcache, ReplyOwedToASetTheClientsGapBeganIsNotTakenByTheNext) {
  MemcacheHarness h;
  h.handshake(h.conn);
  const std::string value(3000, 'x');
  const std::string big = "set big 0 0 3000\r\n" + value + "\r\n";
  h.lose(true, h.conn, "set a 0 0 1\r\n1\r\nget a\r\n" + big.substr(0, 1000));
  h.server("STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n");
  h.client(big.substr(1000));
  h.client("get big\r\nset c 0 0 1\r\n2\r\n");
  h.server("STORED\r\n");
  h.server("VALUE big 0 3000\r\n" + value + "\r\nEND\r\nSTORED\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 5u);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(contains(ev[i], "Request missing")) << ev[i];  // the lost ones' replies
  EXPECT_TRUE(contains(ev[3], R"("request":{"command":"get","keys":["big"])")) << ev[3].substr(0, 400);
  EXPECT_TRUE(contains(ev[3], R"("bytes":3000)")) << ev[3].substr(0, 600);
  EXPECT_TRUE(contains(ev[4], R"("keys":["c"])") && contains(ev[4], R"("command":"STORED")")) << ev[4];
}

}  // namespace
}  // namespace tapbeat
