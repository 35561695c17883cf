// The Cassandra decoder on hand-written CQL conversations: what Packetbeat's captures
// do not hold (v5 segments split anywhere, envelopes spanning segments, checksum
// errors, pushed events, prepared statements, error details, LZ4 frames, compressed
// frames longer than the read head). The live test checks the same paths against a
// real node; here each is pinned down alone.
#include <gtest/gtest.h>
#include <lz4.h>
#include <snappy.h>
#include <zlib.h>

#include <algorithm>
#include <string>

#include "decode/cassandra/cassandra_decoder.hpp"
#include "engine/decoder_set.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

using test::contains;

std::string be16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string be32(uint32_t v) {
  return be16(static_cast<uint16_t>(v >> 16)) + be16(static_cast<uint16_t>(v & 0xffff));
}
std::string str(const std::string& s) { return be16(static_cast<uint16_t>(s.size())) + s; }
std::string long_str(const std::string& s) { return be32(static_cast<uint32_t>(s.size())) + s; }

enum : uint8_t {
  kError = 0,
  kStartup = 1,
  kReady = 2,
  kQuery = 7,
  kResult = 8,
  kPrepare = 9,
  kExecute = 10,
  kEvent = 12,
  kBatch = 13,
  kOptions = 5,
  kSupported = 6
};

std::string frame(uint8_t version, bool response, int16_t stream, uint8_t op, const std::string& body,
                  uint8_t flags = 0) {
  return std::string{static_cast<char>(version | (response ? 0x80 : 0)), static_cast<char>(flags)} +
         be16(static_cast<uint16_t>(stream)) + std::string(1, static_cast<char>(op)) +
         be32(static_cast<uint32_t>(body.size())) + body;
}

std::string query(const std::string& q) { return long_str(q) + be16(1) + std::string(1, '\0'); }

// RESULT Rows with a global table spec, one int column "id", n rows of 4-byte ints.
std::string rows(int n, int32_t flags = 1, const std::string& paging = "") {
  std::string b = be32(2) + be32(static_cast<uint32_t>(flags)) + be32(1);
  if (flags & 2) b += be32(static_cast<uint32_t>(paging.size())) + paging;
  b += str("ks") + str("tbl") + str("id") + be16(0x0009) + be32(static_cast<uint32_t>(n));
  for (int i = 0; i < n; ++i) b += be32(4) + be32(static_cast<uint32_t>(i));
  return b;
}

// Cassandra's checksums of v5 segments, computed here from their definitions.
uint32_t crc24(uint64_t v, int len) {
  uint32_t crc = 0x875060;
  for (int i = 0; i < len; ++i, v >>= 8) {
    crc ^= static_cast<uint32_t>(v & 0xff) << 16;
    for (int k = 0; k < 8; ++k) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1974F0B;
    }
  }
  return crc & 0xffffff;
}

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(v >> (8 * i) & 0xff));
  return s;
}

// An uncompressed v5 segment around payload; bad_crc spoils the payload's CRC32.
std::string segment(const std::string& payload, bool self_contained, bool bad_crc = false) {
  const uint64_t h = payload.size() | (self_contained ? 1u << 17 : 0u);
  const uint8_t init[4] = {0xFA, 0x2D, 0x55, 0xCA};
  uint32_t crc = static_cast<uint32_t>(crc32(
      crc32(0, init, 4), reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
  if (bad_crc) crc ^= 1;
  return le(h, 3) + le(crc24(h, 3), 3) + payload + le(crc, 4);
}

// An LZ4-compressed v5 segment (8-byte header).
std::string lz4_segment(const std::string& payload) {
  std::string packed(static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(payload.size()))), '\0');
  packed.resize(static_cast<std::size_t>(LZ4_compress_default(
      payload.data(), packed.data(), static_cast<int>(payload.size()), static_cast<int>(packed.size()))));
  const uint64_t h = packed.size() | static_cast<uint64_t>(payload.size()) << 17 | uint64_t{1} << 34;
  const uint8_t init[4] = {0xFA, 0x2D, 0x55, 0xCA};
  const uint32_t crc = static_cast<uint32_t>(crc32(
      crc32(0, init, 4), reinterpret_cast<const Bytef*>(packed.data()), static_cast<uInt>(packed.size())));
  return le(h, 5) + le(crc24(h, 5), 3) + packed + le(crc, 4);
}

std::string snappy_body(const std::string& b) {
  std::string out;
  snappy::Compress(b.data(), b.size(), &out);
  return out;
}

std::string lz4_body(const std::string& b) {
  std::string packed(static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(b.size()))), '\0');
  packed.resize(static_cast<std::size_t>(LZ4_compress_default(
      b.data(), packed.data(), static_cast<int>(b.size()), static_cast<int>(packed.size()))));
  return be32(static_cast<uint32_t>(b.size())) + packed;
}

std::string startup(const std::string& compression = "") {
  std::string m = compression.empty() ? be16(1) : be16(2) + str("COMPRESSION") + str(compression);
  return m + str("CQL_VERSION") + str("3.0.0");
}

struct CqlHarness : test::StreamTest {
  test::Conn conn{50000, 9042, 100, 900};
  explicit CqlHarness(uint32_t ignored_ops = 0) {
    const uint16_t ports[] = {9042};
    decoders.enable<CassandraSettings>("cassandra", ports).ignored_ops = ignored_ops;
    start();
    handshake(conn);
  }
  // Sent in TCP segments of at most `piece` bytes (a frame may be split anywhere).
  void client(std::string_view s, std::size_t piece = 32768) {
    for (std::size_t i = 0; i < s.size(); i += piece) StreamTest::client(conn, s.substr(i, piece));
  }
  void server(std::string_view s, std::size_t piece = 32768) {
    for (std::size_t i = 0; i < s.size(); i += piece) StreamTest::server(conn, s.substr(i, piece));
  }
};

TEST(Cassandra, ResponsesPairByStreamIdWhateverTheirOrder) {
  CqlHarness h;
  h.client(frame(4, false, 1, kQuery, query("SELECT a")) + frame(4, false, 2, kQuery, query("SELECT b")));
  h.server(frame(4, true, 2, kResult, rows(2)) + frame(4, true, 1, kResult, rows(1)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"x("query":"SELECT b")x") && contains(ev[0], R"x("num_rows":2)x")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"x("query":"SELECT a")x") && contains(ev[1], R"x("num_rows":1)x")) << ev[1];
  EXPECT_TRUE(
      contains(ev[0], R"x("meta":{"flags":"GlobalTableSpec","col_count":1,"keyspace":"ks","table":"tbl"})x"))
      << ev[0];
  EXPECT_TRUE(
      contains(ev[0], R"x("headers":{"version":"4","flags":"Default","stream":2,"op":"QUERY","length":15})x"))
      << ev[0];
  EXPECT_TRUE(contains(ev[0], R"x("client":{"bytes":24,)x")) << ev[0];
}

// A query longer than the 16 KiB kept is cut there, counted and now noted on the
// event (the cut had been silent there); the one after it is whole.
TEST(Cassandra, QueryLongerThanTheLimitIsCutAndNoted) {
  CqlHarness h;
  std::string q = "INSERT INTO t (id, v) VALUES (1, '" + std::string(20000, 'v') + "')";
  h.client(frame(4, false, 1, kQuery, query(q)), 1400);
  h.server(frame(4, true, 1, kResult, be32(1)));
  h.client(frame(4, false, 2, kQuery, query("SELECT a")));
  h.server(frame(4, true, 2, kResult, rows(1)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(
      contains(ev[0], R"("message":"query cut: longer than 16 KiB, or in a frame longer than 128 KiB")"))
      << ev[0].substr(0, 400);
  EXPECT_FALSE(contains(ev[1], R"("message")")) << ev[1];
  EXPECT_EQ(h.count("cassandra.query_cut"), 1u);
}

// Segments lost to the capture (test::converse_with_losses): the stream is taken up at
// the next frame start (a cut response's bytes passed over), responses still meet their
// requests by stream id, and the requests whose responses were lost go out unanswered at
// the end. Before, such a gap left the connection.
TEST(Cassandra, LostSegmentsCostTheirOwnFramesOnly) {
  CqlHarness h;
  auto request = [](int i) {
    return frame(4, false, static_cast<int16_t>(i), kQuery, query("SELECT " + std::to_string(i)));
  };
  auto response = [](int i) { return frame(4, true, static_cast<int16_t>(i), kResult, rows(i)); };
  test::converse_with_losses(h, request, response, 12);
  test::expect_losses_paired_by_id(
      h.finish(), [](const std::string& e) { return e[e.find("\"query\":\"SELECT ") + 16] - '0'; },
      [](int i) { return "\"num_rows\":" + std::to_string(i) + "}"; });
  EXPECT_EQ(h.count("cassandra.resynced"), 3u);
  EXPECT_GT(h.count("cassandra.resync_skipped_bytes"), 0u);
  EXPECT_EQ(h.count("cassandra.violations"), 0u);
}

// A response lost whole, its stream id then taken again by the client (drivers reuse an
// id once its response came): the request waiting on it goes out unanswered, and the
// new request meets its own response. Before, the old request took the new one's
// response and the new one none (a capture's READY lost: its STARTUP published with a
// later query's 5 KB result).
TEST(Cassandra, StreamIdReusedAfterALostResponse) {
  CqlHarness h;
  auto request = [](int i) { return frame(4, false, 7, kQuery, query("SELECT " + std::to_string(i))); };
  auto response = [](int i) { return frame(4, true, 7, kResult, rows(i)); };
  h.client(request(1));
  test::StreamTest::lose(false, h.conn, response(1));
  for (int i = 2; i <= 3; ++i) {
    h.client(request(i));
    h.server(response(i));
  }
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("query":"SELECT 1")") &&
              contains(ev[0], "its response was in bytes the capture lost"))
      << ev[0];
  for (int i = 2; i <= 3; ++i)
    EXPECT_TRUE(contains(ev[i - 1], "\"query\":\"SELECT " + std::to_string(i) + "\"") &&
                contains(ev[i - 1], "\"num_rows\":" + std::to_string(i) + "}"))
        << ev[i - 1];
}

TEST(Cassandra, PushedEventIsPublishedAlone) {
  CqlHarness h;
  h.client(frame(4, false, 0, kOptions, ""));
  h.server(
      frame(4, true, 0, kSupported, be16(1) + str("COMPRESSION") + be16(2) + str("snappy") + str("lz4")));
  h.server(frame(4, true, -1, kEvent,
                 str("SCHEMA_CHANGE") + str("CREATED") + str("TABLE") + str("ks") + str("t1")));
  h.server(frame(4, true, -1, kEvent,
                 str("STATUS_CHANGE") + str("UP") + std::string(1, 4) + std::string("\x7f\x00\x00\x02", 4) +
                     be32(9042)));
  h.server(frame(4, true, -1, kEvent,
                 str("TOPOLOGY_CHANGE") + str("NEW_NODE") + std::string(1, 16) +
                     std::string("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16) + be32(9042)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(contains(
      ev[3], R"x("event":{"type":"TOPOLOGY_CHANGE","change":"NEW_NODE","host":"2001:db8::1","port":9042})x"))
      << ev[3];
  EXPECT_TRUE(contains(ev[0], R"x("supported":{"COMPRESSION":["snappy","lz4"]})x")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"x("no_request":true)x")) << ev[1];
  EXPECT_TRUE(contains(
      ev[1],
      R"x("event":{"type":"SCHEMA_CHANGE","schema_change":{"change":"CREATED","target":"TABLE","keyspace":"ks","object":"t1"}})x"))
      << ev[1];
  EXPECT_TRUE(contains(ev[1], R"x("stream":-1,"op":"EVENT")x")) << ev[1];
  EXPECT_TRUE(
      contains(ev[2], R"x("event":{"type":"STATUS_CHANGE","change":"UP","host":"127.0.0.2","port":9042})x"))
      << ev[2];
  EXPECT_EQ(h.count("cassandra.events"), 3u);
}

TEST(Cassandra, ExecuteAndBatchNameTheirPreparedStatements) {
  CqlHarness h;
  const std::string id = "0123456789abcdef";
  h.client(frame(4, false, 5, kPrepare, long_str("INSERT INTO t (a) VALUES (?)")));
  // Prepared: id, request metadata (flags global, 1 column, 1 pk index), result metadata (no metadata).
  h.server(frame(4, true, 5, kResult,
                 be32(4) + str(id) + be32(1) + be32(1) + be32(1) + be16(0) + str("ks") + str("t") + str("a") +
                     be16(9) + be32(4) + be32(0)));
  h.client(frame(4, false, 6, kExecute, str(id) + be16(1) + std::string(1, 1) + be16(1) + be32(4) + be32(7)));
  h.server(frame(4, true, 6, kResult, be32(1)));
  // A batch: the prepared insert with one value, then a plain statement.
  h.client(frame(4, false, 7, kBatch,
                 std::string(1, 0) + be16(2) + std::string(1, 1) + str(id) + be16(1) + be32(4) + be32(8) +
                     std::string(1, 0) + long_str("DELETE FROM t WHERE a = 1") + be16(0) + be16(1) +
                     std::string(1, 0)));
  h.server(frame(4, true, 7, kResult, be32(1)));
  h.client(frame(4, false, 8, kExecute, str("unknown-id-00000") + be16(1) + std::string(1, 0)));
  h.server(frame(4, true, 8, kError,
                 be32(0x2500) + str("Prepared query with ID 756e not found") + str("unknown-id-00000")));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(contains(
      ev[0],
      R"x("prepared":{"prepared_id":"30313233-3435-3637-3839-616263646566","req_meta":{"flags":"GlobalTableSpec","col_count":1,"pkey_columns":[0],"keyspace":"ks","table":"t"},"resp_meta":{"flags":"NoMetaData","col_count":0}})x"))
      << ev[0];
  EXPECT_TRUE(contains(ev[1], R"x("op":"EXECUTE","length":)x") &&
              contains(ev[1], R"x("query":"INSERT INTO t (a) VALUES (?)")x"))
      << ev[1];
  EXPECT_TRUE(contains(ev[2], R"x("query":"INSERT INTO t (a) VALUES (?); DELETE FROM t WHERE a = 1")x"))
      << ev[2];
  EXPECT_FALSE(contains(ev[3], R"x("query")x")) << ev[3];
  EXPECT_TRUE(contains(
      ev[3],
      R"x("error":{"code":9472,"msg":"Prepared query with ID 756e not found","type":"errUnprepared","details":{"stmt_id":"756E6B6E6F776E2D69642D3030303030"}})x"))
      << ev[3];
  EXPECT_TRUE(contains(ev[3], R"x("status":"Error")x")) << ev[3];
  EXPECT_EQ(h.count("cassandra.unknown_prepared"), 1u);
}

TEST(Cassandra, ErrorDetailsByCodeAndVersion) {
  CqlHarness h;
  h.client(frame(4, false, 1, kQuery, query("q1")) + frame(4, false, 2, kQuery, query("q2")) +
           frame(4, false, 3, kQuery, query("q3")));
  h.server(frame(4, true, 1, kError,
                 be32(0x1000) + str("Cannot achieve consistency") + be16(4) + be32(2) + be32(1)));
  h.server(
      frame(4, true, 2, kError,
            be32(0x1300) + str("Read failure") + be16(6) + be32(1) + be32(2) + be32(1) + std::string(1, 1)));
  h.server(frame(4, true, 3, kError, be32(0x2400) + str("exists") + str("ks") + str("t")));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(
      ev[0], R"x("type":"errUnavailable","details":{"read_consistency":"QUORUM","required":2,"alive":1})x"))
      << ev[0];
  EXPECT_TRUE(contains(
      ev[1],
      R"x("type":"errReadFailure","details":{"read_consistency":"LOCAL_QUORUM","received":1,"blockfor":2,"num_failures":1,"data_present":true})x"))
      << ev[1];
  EXPECT_TRUE(contains(ev[2], R"x("type":"errAlreadyExists","details":{"keyspace":"ks","table":"t"})x"))
      << ev[2];
  EXPECT_EQ(h.count("cassandra.malformed"), 0u);
}

TEST(Cassandra, WarningsTracingAndPaging) {
  CqlHarness h;
  h.client(frame(4, false, 1, kQuery, query("SELECT * FROM big"), 0x02));
  const std::string trace_id(16, '\x11');
  h.server(frame(4, true, 1, kResult,
                 trace_id + be16(1) + str("Aggregation query used") + rows(3, 3, "\xab\xcd"), 0x02 | 0x08));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"x("flags":"Tracing","stream":1,"op":"QUERY")x")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"x("flags":"Tracing|Warning","stream":1,"op":"RESULT")x")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"x("warnings":["Aggregation query used"])x")) << ev[0];
  EXPECT_TRUE(contains(
      ev[0],
      R"x("meta":{"flags":"GlobalTableSpec|HasMorePages","col_count":1,"paging_state":"ABCD","keyspace":"ks","table":"tbl"},"num_rows":3)x"))
      << ev[0];
}

TEST(Cassandra, IgnoredOpsAndUnansweredRequests) {
  CqlHarness h(1u << kOptions);
  h.client(frame(4, false, 0, kOptions, ""));
  h.server(frame(4, true, 0, kSupported, be16(0)));
  h.client(frame(4, false, 1, kQuery, query("SELECT never_answered")));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"x("message":"Unmatched request")x")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"x("query":"SELECT never_answered")x")) << ev[0];
  EXPECT_EQ(h.count("cassandra.ignored"), 1u);
  EXPECT_EQ(h.count("cassandra.unmatched_requests"), 1u);
}

TEST(Cassandra, CompressedFramesAsStartupNegotiated) {
  for (const std::string how : {"snappy", "lz4"}) {
    CqlHarness h;
    auto pack = [&](const std::string& b) { return how == "snappy" ? snappy_body(b) : lz4_body(b); };
    h.client(frame(4, false, 0, kStartup, startup(how)));
    h.server(frame(4, true, 0, kReady, ""));
    h.client(frame(4, false, 1, kQuery, pack(query("SELECT id FROM tbl")), 0x01));
    h.server(frame(4, true, 1, kResult, pack(rows(5)), 0x01));
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 2u) << how;
    EXPECT_TRUE(contains(ev[1], R"x("query":"SELECT id FROM tbl")x")) << ev[1];
    EXPECT_TRUE(contains(ev[1], R"x("flags":"Compress","stream":1,"op":"RESULT")x")) << ev[1];
    EXPECT_TRUE(contains(ev[1], R"x("num_rows":5)x")) << ev[1];
    EXPECT_EQ(h.count("cassandra.compressed"), 2u) << how;
    EXPECT_EQ(h.count("cassandra.decompress_errors"), 0u) << how;
  }
}

// Text that compresses little (so that the frame stays longer than the read head).
std::string noise(std::size_t n) {
  std::string s(n, ' ');
  uint32_t x = 12345;
  for (auto& ch : s) ch = static_cast<char>('a' + (x = x * 1103515245 + 12345) % 26);
  return s;
}

TEST(Cassandra, CompressedFrameLongerThanTheHeadIsOpenedFromItsPrefix) {
  for (const std::string how : {"snappy", "lz4"}) {
    CqlHarness h;
    auto pack = [&](const std::string& b) { return how == "snappy" ? snappy_body(b) : lz4_body(b); };
    const std::string text = "SELECT '" + noise(400'000) + "'";
    const std::string body = pack(query(text));
    ASSERT_GT(body.size(), 140'000u) << how;
    h.client(frame(4, false, 0, kStartup, startup(how)));
    h.server(frame(4, true, 0, kReady, ""));
    h.client(frame(4, false, 1, kQuery, body, 0x01));
    h.server(frame(4, true, 1, kResult, pack(be32(1)), 0x01));
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 2u) << how;
    // The query as kept: its first kMaxQuery bytes, equal to the text sent.
    const std::string kept = text.substr(0, 16 * 1024);
    EXPECT_TRUE(contains(ev[1], R"x("query":")x" + kept + "\"")) << how;
    EXPECT_TRUE(contains(ev[1], R"x("result":{"type":"void"})x")) << how;
    EXPECT_EQ(h.count("cassandra.too_large"), 1u) << how;
    EXPECT_EQ(h.count("cassandra.query_cut"), 1u) << how;
    EXPECT_EQ(h.count("cassandra.malformed"), 0u) << how;
  }
}

// RESULT Rows without a global table spec: `cols` int columns with long names, then
// `n` rows of them.
std::string wide_rows(int cols, int n) {
  std::string b = be32(2) + be32(0) + be32(static_cast<uint32_t>(cols));
  for (int c = 0; c < cols; ++c)
    b += str("ks") + str("tbl") + str("column_with_a_long_name_" + std::to_string(c)) + be16(0x0009);
  b += be32(static_cast<uint32_t>(n));
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < cols; ++c) b += be32(4) + be32(static_cast<uint32_t>(i * c));
  return b;
}

// A compressed result is opened as far as its head (kind, metadata, row count) and
// wholly only when its head reaches past that part: the same fields either way.
TEST(Cassandra, CompressedResultsAreOpenedAsFarAsTheirHead) {
  for (const std::string how : {"snappy", "lz4"}) {
    const std::string small_head = wide_rows(3, 4000);  // ~100 KB, a head of ~130 bytes
    const std::string large_head = wide_rows(300, 2);   // a head of ~12 KB
    ASSERT_GT(large_head.size() - 2 * 300 * 8, 2u * 4096);
    std::vector<std::string> plain, packed;
    for (const bool compress : {false, true}) {
      CqlHarness h;
      auto pack = [&](const std::string& b) {
        return !compress ? b : how == "snappy" ? snappy_body(b) : lz4_body(b);
      };
      const uint8_t flags = compress ? 0x01 : 0x00;
      h.client(frame(4, false, 0, kStartup, startup(compress ? how : "")));
      h.server(frame(4, true, 0, kReady, ""));
      h.client(frame(4, false, 1, kQuery, pack(query("SELECT * FROM ks.tbl")), flags));
      h.server(frame(4, true, 1, kResult, pack(small_head), flags));
      h.client(frame(4, false, 2, kQuery, pack(query("SELECT * FROM ks.wide")), flags));
      h.server(frame(4, true, 2, kResult, pack(large_head), flags));
      const auto ev = h.finish();
      ASSERT_EQ(ev.size(), 3u) << how;
      EXPECT_EQ(h.count("cassandra.compressed"), compress ? 4u : 0u) << how;
      EXPECT_EQ(h.count("cassandra.decompress_errors"), 0u) << how;
      EXPECT_EQ(h.count("cassandra.malformed"), 0u) << how;
      for (std::size_t i = 1; i < 3; ++i) {
        const std::size_t at = ev[i].find(R"("response":{)");
        ASSERT_NE(at, std::string::npos) << ev[i];
        const std::string response = ev[i].substr(at, ev[i].find('}', ev[i].find("num_rows", at)) - at);
        (compress ? packed : plain).push_back(response);
      }
    }
    ASSERT_EQ(plain.size(), 2u);
    ASSERT_EQ(packed.size(), 2u);
    EXPECT_TRUE(contains(
        plain[0],
        R"x("rows":{"meta":{"flags":"Default","col_count":3,"keyspace":"ks","table":"tbl"},"num_rows":4000)x"))
        << plain[0];
    EXPECT_TRUE(contains(plain[1], R"x("col_count":300,"keyspace":"ks","table":"tbl"},"num_rows":2)x"))
        << plain[1];
    // The response's fields compressed are those of the plain frame, but for the
    // header's flag and length.
    for (std::size_t i = 0; i < 2; ++i) {
      std::string expect = plain[i];
      const std::string flag = R"("flags":"Default","stream")";
      const std::size_t f = expect.find(flag);
      ASSERT_NE(f, std::string::npos) << expect;
      expect.replace(f, flag.size(), R"("flags":"Compress","stream")");
      auto no_length = [](std::string r) {
        const std::size_t l = r.find(R"("length":)");
        return l == std::string::npos ? r : r.erase(l, r.find('}', l) - l);
      };
      expect = no_length(expect);
      packed[i] = no_length(packed[i]);
      EXPECT_EQ(packed[i], expect) << how;
    }
  }
}

TEST(Cassandra, V5SegmentsSplitAnywhereAndEnvelopesSpanningThem) {
  CqlHarness h;
  h.client(frame(5, false, 0, kStartup, startup()));
  h.server(frame(5, true, 0, kReady, ""));
  // Two requests in one self-contained segment, sent a few bytes at a time.
  h.client(
      segment(frame(5, false, 1, kQuery, query("SELECT a")) + frame(5, false, 2, kQuery, query("SELECT b")),
              true),
      5);
  // A 200-row answer in two segments (not self-contained), then the other answer.
  const std::string big = frame(5, true, 1, kResult, rows(200));
  h.server(segment(big.substr(0, 60), false) + segment(big.substr(60), false) +
           segment(frame(5, true, 2, kResult, be32(1)), true));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);  // STARTUP/READY, then the two queries
  EXPECT_TRUE(contains(ev[1], R"x("query":"SELECT a")x") && contains(ev[1], R"x("num_rows":200)x")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"x("version":"5")x")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"x("query":"SELECT b")x") && contains(ev[2], R"x("type":"void")x")) << ev[2];
  EXPECT_EQ(h.count("cassandra.crc_errors"), 0u);
  EXPECT_EQ(h.count("cassandra.malformed"), 0u);
  EXPECT_EQ(h.count("cassandra.too_large"), 1u);  // the envelope read from its first part
}

// v5 segments lost to the capture (test::converse_with_losses, each message in a
// self-contained segment): the stream is taken up at the next segment header its CRC24
// vouches for, responses meet their requests by stream id, and the requests whose
// responses were lost go out unanswered. Then a large answer in two segments whose
// first is lost: the second (a part without an envelope header) is passed over and the
// answer after it pairs. Before, a gap in v5 framing left the connection.
TEST(Cassandra, V5LostSegmentsCostTheirOwnEnvelopesOnly) {
  CqlHarness h;
  h.client(frame(5, false, 0, kStartup, startup()));
  h.server(frame(5, true, 0, kReady, ""));
  auto request = [](int i) {
    return segment(frame(5, false, static_cast<int16_t>(i), kQuery, query("SELECT " + std::to_string(i))),
                   true);
  };
  auto response = [](int i) {
    return segment(frame(5, true, static_cast<int16_t>(i), kResult, rows(i)), true);
  };
  test::converse_with_losses(h, request, response, 12);
  h.client(segment(
      frame(5, false, 9, kQuery, query("SELECT 9")) + frame(5, false, 10, kQuery, query("SELECT 10")), true));
  const std::string big = frame(5, true, 9, kResult, rows(200));
  test::StreamTest::lose(false, h.conn, segment(big.substr(0, 60), false));
  h.server(segment(big.substr(60), false) + segment(frame(5, true, 10, kResult, rows(3)), true));
  auto ev = h.finish();
  ASSERT_EQ(ev.size(), 10u);  // STARTUP/READY, 7 of exchanges 1-8, 10, and 9 unanswered
  ev.erase(ev.begin());
  const auto take = [&](const std::string& q) {
    const auto it = std::find_if(ev.begin(), ev.end(), [&](const std::string& e) { return contains(e, q); });
    const std::string e = it == ev.end() ? std::string() : *it;
    if (it != ev.end()) ev.erase(it);
    return e;
  };
  const std::string ten = take(R"x("query":"SELECT 10")x"), nine = take(R"x("query":"SELECT 9")x");
  EXPECT_TRUE(contains(ten, R"x("num_rows":3)x") && contains(ten, R"x("status":"OK")x")) << ten;
  EXPECT_TRUE(contains(nine, R"x("status":"Error")x") && !contains(nine, "num_rows")) << nine;
  test::expect_losses_paired_by_id(
      ev, [](const std::string& e) { return e[e.find("\"query\":\"SELECT ") + 16] - '0'; },
      [](int i) { return "\"num_rows\":" + std::to_string(i) + "}"; });
  EXPECT_EQ(h.count("cassandra.resynced"), 4u);
  EXPECT_EQ(h.count("cassandra.violations"), 0u);
  EXPECT_EQ(h.count("cassandra.crc_errors"), 0u);
}

TEST(Cassandra, V5Lz4SegmentsAndChecksumErrors) {
  CqlHarness h;
  h.client(frame(5, false, 0, kStartup, startup("lz4")));
  h.server(frame(5, true, 0, kReady, ""));
  h.client(lz4_segment(frame(5, false, 1, kQuery, query("SELECT " + std::string(300, 'x')))));
  h.server(lz4_segment(frame(5, true, 1, kResult, rows(3))));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[1], R"x("num_rows":3)x")) << ev[1];
  EXPECT_EQ(h.count("cassandra.compressed"), 2u);
  EXPECT_EQ(h.count("cassandra.crc_errors"), 0u);

  CqlHarness bad;
  bad.client(frame(5, false, 0, kStartup, startup()));
  bad.server(frame(5, true, 0, kReady, ""));
  bad.client(segment(frame(5, false, 1, kQuery, query("SELECT 1")), true, /*bad_crc=*/true));
  bad.server(segment(frame(5, true, 1, kResult, be32(1)), true));
  std::string spoiled = segment(frame(5, false, 2, kQuery, query("SELECT 2")), true);
  spoiled[4] ^= 0x40;  // the header's CRC24
  bad.client(spoiled);
  const auto bev = bad.finish();
  ASSERT_EQ(bev.size(), 2u);  // the payload CRC error is counted, the transaction kept
  EXPECT_TRUE(contains(bev[1], R"x("query":"SELECT 1")x")) << bev[1];
  EXPECT_EQ(bad.count("cassandra.crc_errors"), 2u);
  EXPECT_EQ(bad.count("cassandra.violations"), 1u);  // a header that fails its CRC: framing lost
}

TEST(Cassandra, AuthenticationClassAndV5SwitchOnAuthenticate) {
  CqlHarness h;
  h.client(frame(5, false, 0, kStartup, startup()));
  h.server(frame(5, true, 0, 0x03, str("org.apache.cassandra.auth.PasswordAuthenticator")));
  // From AUTHENTICATE on, v5 segments: the credentials and their success.
  const std::string token = std::string(1, '\0') + "cassandra" + std::string(1, '\0') + "secret";
  h.client(segment(frame(5, false, 1, 0x0F, be32(static_cast<uint32_t>(token.size())) + token), true));
  h.server(segment(frame(5, true, 1, 0x10, be32(0xffffffff)), true));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(
      contains(ev[0], R"x("authentication":{"class":"org.apache.cassandra.auth.PasswordAuthenticator"})x"))
      << ev[0];
  EXPECT_TRUE(contains(ev[1], R"x("op":"AUTH_RESPONSE")x") && contains(ev[1], R"x("op":"AUTH_SUCCESS")x"))
      << ev[1];
  EXPECT_FALSE(contains(ev[1], "secret")) << ev[1];  // tokens are not published
  EXPECT_EQ(h.count("cassandra.crc_errors"), 0u);
}

TEST(Cassandra, NotCqlIsAViolation) {
  CqlHarness h;
  h.client("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto ev = h.finish();
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(h.count("cassandra.violations"), 1u);
}

}  // namespace
}  // namespace tapbeat
