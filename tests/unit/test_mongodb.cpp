// The MongoDB decoder on hand-written OP_MSG conversations: what Packetbeat's
// captures do not hold (OP_COMPRESSED with each compressor, replies out of order,
// document sequences, moreToCome, a message larger than the head that is read).
#include <gtest/gtest.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <limits>
#include <string>

#include "decode/mongodb/mongodb_decoder.hpp"
#include "engine/decoder_set.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

using test::contains;

void le32(std::string& s, int32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(static_cast<uint32_t>(v) >> (8 * i) & 0xff));
}

// BSON documents built by hand: {key: string} and {key: int32} elements.
struct Bson {
  std::string body;
  Bson& str(const std::string& k, const std::string& v) {
    body += '\x02' + k + '\0';
    le32(body, static_cast<int32_t>(v.size() + 1));
    body += v + '\0';
    return *this;
  }
  Bson& i32(const std::string& k, int32_t v) {
    body += '\x10' + k + '\0';
    le32(body, v);
    return *this;
  }
  Bson& f64(const std::string& k, double v) {
    body += '\x01' + k + '\0';
    char b[8];
    std::memcpy(b, &v, 8);
    body.append(b, 8);
    return *this;
  }
  Bson& i64(const std::string& k, int64_t v) {
    body += '\x12' + k + '\0';
    for (int i = 0; i < 8; ++i) body.push_back(static_cast<char>(static_cast<uint64_t>(v) >> (8 * i) & 0xff));
    return *this;
  }
  Bson& date(const std::string& k, int64_t ms) {
    body += '\x09' + k + '\0';
    for (int i = 0; i < 8; ++i)
      body.push_back(static_cast<char>(static_cast<uint64_t>(ms) >> (8 * i) & 0xff));
    return *this;
  }
  Bson& doc(const std::string& k, const std::string& d, char type = '\x03') {
    body += type + k + '\0' + d;
    return *this;
  }
  std::string bytes() const {
    std::string out;
    le32(out, static_cast<int32_t>(body.size() + 5));
    return out + body + '\0';
  }
};

std::string op_msg(int32_t id, int32_t response_to, const std::string& doc, uint32_t flags = 0,
                   const std::string& sequence = "") {
  std::string body;
  le32(body, static_cast<int32_t>(flags));
  body += '\0' + doc + sequence;
  std::string m;
  le32(m, static_cast<int32_t>(16 + body.size()));
  le32(m, id);
  le32(m, response_to);
  le32(m, 2013);
  return m + body;
}

// The same message inside OP_COMPRESSED with compressor id `how`.
std::string compressed(const std::string& msg, uint8_t how) {
  const std::string body = msg.substr(16);
  std::string packed;
  if (how == 1) {
    snappy::Compress(body.data(), body.size(), &packed);
  } else if (how == 2) {
    uLongf n = compressBound(static_cast<uLong>(body.size()));
    packed.resize(n);
    compress(reinterpret_cast<Bytef*>(packed.data()), &n, reinterpret_cast<const Bytef*>(body.data()),
             body.size());
    packed.resize(n);
  } else {
    packed.resize(ZSTD_compressBound(body.size()));
    packed.resize(ZSTD_compress(packed.data(), packed.size(), body.data(), body.size(), 3));
  }
  std::string inner;
  le32(inner, 2013);
  le32(inner, static_cast<int32_t>(body.size()));
  inner += static_cast<char>(how);
  inner += packed;
  std::string m;
  le32(m, static_cast<int32_t>(16 + inner.size()));
  m += msg.substr(4, 8);
  le32(m, 2012);
  return m + inner;
}

struct MongoHarness : test::StreamTest {
  test::Conn conn{50000, 27017, 100, 900};
  MongoHarness() {
    const uint16_t ports[] = {27017};
    auto& s = decoders.enable("mongodb", ports);
    s.send_response = s.send_request = true;
    start();
  }
  void client(std::string_view s) { StreamTest::client(conn, s); }
  void server(std::string_view s) { StreamTest::server(conn, s); }
};

std::string find_cmd(const std::string& coll) {
  return Bson()
      .str("find", coll)
      .doc("filter", Bson().i32("a", 1).bytes())
      .i32("limit", 5)
      .str("$db", "shop")
      .bytes();
}

std::string cursor_reply(int n) {
  Bson batch;
  for (int i = 0; i < n; ++i) batch.doc(std::to_string(i), Bson().i32("a", i).bytes());
  return Bson()
      .doc("cursor", Bson().doc("firstBatch", batch.bytes(), '\x04').i32("id", 0).str("ns", "shop.x").bytes())
      .i32("ok", 1)
      .bytes();
}

TEST(Mongodb, CompressedWithEachCompressor) {
  MongoHarness h;
  for (uint8_t how : {1, 2, 3}) {
    const int32_t id = 10 + how;
    h.client(compressed(op_msg(id, 0, find_cmd("orders")), how));
    h.server(compressed(op_msg(100 + how, id, cursor_reply(3)), how));
  }
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  for (const auto& e : ev) {
    EXPECT_TRUE(contains(e, R"("method":"find")")) << e;
    EXPECT_TRUE(contains(e, R"("resource":"shop.orders")")) << e;
    EXPECT_TRUE(contains(e, R"x("query":"shop.orders.find({\"filter\":{\"a\":1},\"limit\":5}).limit(5)")x"))
        << e;
    EXPECT_TRUE(contains(e, R"("numberReturned":3)")) << e;
    EXPECT_TRUE(contains(e, R"("response":"{\"a\":0}\n{\"a\":1}\n{\"a\":2}")")) << e;
  }
  EXPECT_EQ(h.count("mongodb.compressed"), 6u);
  EXPECT_EQ(h.count("mongodb.decompress_errors"), 0u);
}

TEST(Mongodb, RepliesOutOfOrderPairByResponseTo) {
  MongoHarness h;
  h.client(op_msg(1, 0, find_cmd("a")) + op_msg(2, 0, find_cmd("b")));
  h.server(op_msg(50, 2, cursor_reply(2)) + op_msg(51, 1, cursor_reply(1)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("resource":"shop.b")") && contains(ev[0], R"("numberReturned":2)")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("resource":"shop.a")") && contains(ev[1], R"("numberReturned":1)")) << ev[1];
}

// Segments lost to the capture (test::converse_with_losses): the stream is taken up at
// the next message start (a cut reply's bytes passed over), replies still meet their
// requests by responseTo, and the requests whose replies were lost go out unanswered at
// the end. Before, such a gap left the connection.
TEST(Mongodb, LostSegmentsCostTheirOwnMessagesOnly) {
  MongoHarness h;
  auto query = [](int i) { return op_msg(i, 0, find_cmd("c" + std::to_string(i))); };
  auto reply = [](int i) { return op_msg(100 + i, i, cursor_reply(i)); };
  test::converse_with_losses(h, query, reply, 30);
  test::expect_losses_paired_by_id(
      h.finish(), [](const std::string& e) { return e[e.find("\"resource\":\"shop.c") + 18] - '0'; },
      [](int i) { return "\"numberReturned\":" + std::to_string(i) + "}"; });
  EXPECT_EQ(h.count("mongodb.resynced"), 3u);
  EXPECT_GT(h.count("mongodb.resync_skipped_bytes"), 0u);
  EXPECT_EQ(h.count("mongodb.violations"), 0u);
}

TEST(Mongodb, MoreToComeIsPublishedWithoutAReplyAndErrorsAreStatusError) {
  MongoHarness h;
  std::string seq;  // kind 1: size, "documents", two documents
  const std::string d1 = Bson().i32("x", 1).bytes(), d2 = Bson().i32("x", 2).bytes();
  std::string section = "documents";
  section += '\0';
  section += d1 + d2;
  seq += '\x01';
  le32(seq, static_cast<int32_t>(4 + section.size()));
  seq += section;
  h.client(op_msg(7, 0, Bson().str("insert", "logs").str("$db", "app").bytes(), 2, seq));
  h.client(op_msg(8, 0, Bson().str("drop", "gone").str("$db", "app").bytes()));
  h.server(op_msg(60, 8, Bson().i32("ok", 0).str("errmsg", "ns not found").i32("code", 26).bytes()));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("method":"insert")") && contains(ev[0], R"("message":"documents")"))
      << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")"));
  EXPECT_TRUE(contains(ev[1], R"("status":"Error")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("error":"\"ns not found\"")")) << ev[1];
}

// The streaming hello of a driver's monitoring connection (MongoDB 4.4+; an exhaust
// cursor the same way): one request with exhaustAllowed, replies with moreToCome, each
// naming the reply before it in responseTo. Each reply answers the hello; the one after
// the last reply without moreToCome, and the next request, pair as usual. Before, every
// reply after the first was an unmatched response.
TEST(Mongodb, StreamedRepliesEachAnswerTheRequest) {
  MongoHarness h;
  const std::string hello = Bson().i32("hello", 1).i32("maxAwaitTimeMS", 10000).str("$db", "admin").bytes();
  const std::string state = Bson().i32("isWritablePrimary", 1).i32("ok", 1).bytes();
  h.client(op_msg(5, 0, hello, 1u << 16));  // exhaustAllowed
  h.server(op_msg(90, 5, state, 2));        // moreToCome
  h.server(op_msg(91, 90, state, 2));
  h.server(op_msg(92, 91, state));  // the stream ends
  h.client(op_msg(6, 0, find_cmd("orders")));
  h.server(op_msg(93, 6, cursor_reply(1)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(contains(ev[i], R"("method":"hello")")) << ev[i];
    EXPECT_TRUE(contains(ev[i], R"("status":"OK")")) << ev[i];
  }
  EXPECT_TRUE(contains(ev[3], R"("method":"find")")) << ev[3];
  EXPECT_EQ(h.count("mongodb.unmatched_responses"), 0u);
  EXPECT_EQ(h.count("mongodb.transactions"), 4u);
}

TEST(Mongodb, MessageLongerThanTheHeadStreamsThrough) {
  MongoHarness h;
  h.client(op_msg(1, 0, find_cmd("big")));
  // A reply of 2 MB: read from its first 128 KiB, the rest passes by; the next pairs.
  Bson batch;
  const std::string filler(1000, 'f');
  for (int i = 0; i < 2000; ++i) batch.doc(std::to_string(i), Bson().str("f", filler).bytes());
  const std::string big =
      op_msg(70, 1, Bson().doc("cursor", Bson().doc("firstBatch", batch.bytes(), '\x04').bytes()).bytes());
  for (std::size_t i = 0; i < big.size(); i += 60000) h.server(std::string_view(big).substr(i, 60000));
  h.client(op_msg(2, 0, find_cmd("small")));
  h.server(op_msg(71, 2, cursor_reply(1)));
  // One document larger than the head: it is read as far as the head goes.
  h.client(op_msg(3, 0, find_cmd("one")));
  const std::string huge = op_msg(
      72, 3,
      Bson()
          .doc("cursor",
               Bson()
                   .doc("firstBatch",
                        Bson().doc("0", Bson().str("v", std::string(300'000, 'v')).bytes()).bytes(), '\x04')
                   .bytes())
          .bytes());
  for (std::size_t i = 0; i < huge.size(); i += 60000) h.server(std::string_view(huge).substr(i, 60000));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("resource":"shop.big")")) << ev[0].substr(0, 300);
  EXPECT_TRUE(contains(ev[0], "\"bytes\":" + std::to_string(big.size())));
  // The documents of its first 128 KiB (max_docs of them), not a count of what it held.
  EXPECT_TRUE(contains(ev[0], R"("response":"{\"f\":\"fff)")) << ev[0].substr(0, 300);
  EXPECT_TRUE(contains(ev[0], R"(\n[...]")"));
  EXPECT_FALSE(contains(ev[0], R"("numberReturned":)"));
  EXPECT_TRUE(contains(ev[0], "reply longer than 128 KiB")) << ev[0].substr(0, 300);
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")"));
  EXPECT_TRUE(contains(ev[1], R"("resource":"shop.small")"));
  EXPECT_TRUE(contains(ev[1], R"("numberReturned":1)"));
  EXPECT_FALSE(contains(ev[1], "reply longer"));
  EXPECT_TRUE(contains(ev[2], R"("response":"{\"v\":\"vvvv)")) << ev[2].substr(0, 300);
  EXPECT_TRUE(contains(ev[2], R"(vvv ...")")) << ev[2].substr(0, 1500);  // cut at max_doc_length
  EXPECT_EQ(h.count("mongodb.malformed"), 0u);
}

// skip and limit may be any number: doubles past int32's range (or NaN) are held to it,
// never cast out of range; a cursor id is an int64 kept to its last digit.
TEST(Mongodb, OutOfRangeNumbersAreHeldAndCursorIdsKeptWhole) {
  MongoHarness h;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  h.client(
      op_msg(1, 0, Bson().str("find", "a").f64("skip", 7.5e247).f64("limit", nan).str("$db", "s").bytes()));
  h.client(
      op_msg(2, 0, Bson().str("find", "b").f64("skip", -1e300).f64("limit", 1e300).str("$db", "s").bytes()));
  h.client(op_msg(3, 0, Bson().str("find", "c").f64("skip", 4.9).f64("limit", 2.0).str("$db", "s").bytes()));
  const int64_t id = 9007199254740993;  // 2^53 + 1: not a double
  h.server(op_msg(51, 1,
                  Bson()
                      .doc("cursor", Bson().doc("firstBatch", Bson().bytes(), '\x04').i64("id", id).bytes())
                      .i32("ok", 1)
                      .bytes()));
  h.server(op_msg(52, 2, cursor_reply(0)));
  h.server(op_msg(53, 3, cursor_reply(0)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], ".skip(2147483647)\"")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("cursorId":9007199254740993)")) << ev[0];
  EXPECT_FALSE(contains(ev[1], ".skip(")) << ev[1];
  EXPECT_FALSE(contains(ev[1], ".limit(")) << ev[1];
  EXPECT_TRUE(contains(ev[2], ".skip(4).limit(2)\"")) << ev[2];
}

// A BSON date is any signed 64-bit count of milliseconds: those of years 0000-9999
// print as ISO-8601 (before 1970 too, rounded toward the earlier second), the rest
// as Extended JSON's canonical {"$numberLong": ...}, even the extremes.
TEST(Mongodb, DatesPrintInIsoWithinYearsZeroToNineThousandNineHundredNinetyNine) {
  MongoHarness h;
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  const auto filter = Bson()
                          .date("a", 1700000000123)
                          .date("b", -1)
                          .date("c", -62167219200000)
                          .date("d", 253402300799999)
                          .date("e", 253402300800000)
                          .date("f", lo)
                          .date("g", hi)
                          .bytes();
  h.client(op_msg(1, 0, Bson().str("find", "t").doc("filter", filter).str("$db", "s").bytes()));
  h.server(op_msg(51, 1, cursor_reply(0)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"(\"a\":{\"$date\":\"2023-11-14T22:13:20.123Z\"})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"(\"b\":{\"$date\":\"1969-12-31T23:59:59.999Z\"})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"(\"c\":{\"$date\":\"0000-01-01T00:00:00.000Z\"})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"(\"d\":{\"$date\":\"9999-12-31T23:59:59.999Z\"})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"(\"e\":{\"$date\":{\"$numberLong\":\"253402300800000\"}})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"(\"f\":{\"$date\":{\"$numberLong\":\"-9223372036854775808\"}})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"(\"g\":{\"$date\":{\"$numberLong\":\"9223372036854775807\"}})")) << ev[0];
}

}  // namespace
}  // namespace tapbeat
