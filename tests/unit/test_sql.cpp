// The SQL decoders on hand-written conversations: what live servers and captures in
// the integration tests do not show (CLIENT_DEPRECATE_EOF result sets, packets over
// 16 MB, LOCAL INFILE, unknown statements, TLS switches, holes), and the CSV text.
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <random>
#include <string>

#include "decode/mysql/mysql_decoder.hpp"
#include "decode/pgsql/pgsql_decoder.hpp"
#include "decode/sql/sql_text.hpp"
#include "engine/decoder_set.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

using test::contains;

TEST(SqlText, CsvFollowsGoEncodingCsvAndPacketbeatRowCut) {
  CsvLine l(10);
  l.reset(true);
  l.add("id");
  l.add("a,b");
  l.add(" lead");
  l.add("say \"hi\"");
  EXPECT_EQ(l.view(), R"(id,"a,b"," lead","say ""hi""")");
  // Rows: line breaks escaped; values past max_row_length bytes left out, the one
  // that crosses it cut.
  l.reset(false);
  l.add("12345");
  l.add("a\nb");
  l.add("xyzw");
  l.add("never");
  EXPECT_EQ(l.values(), 3u);
  EXPECT_EQ(l.view(), "12345,a\\nb,xy");
  l.reset(false);
  l.add("");
  l.add("\\.");
  EXPECT_EQ(l.view(), ",\"\\.\"");
}

TEST(SqlText, MethodIsTheFirstWordUpperCase) {
  char m[16];
  const std::string_view q = sql_trim(" \r\n\tselect\r\n*  from t ;\n");
  EXPECT_EQ(q, "select\r\n*  from t ;");
  EXPECT_EQ(std::string_view(m, sql_method(q, m, sizeof m)), "SELECT");
  EXPECT_EQ(std::string_view(m, sql_method("averyveryverylongword", m, 8)), "AVERYVER");
}

TEST(SqlText, ClientByPortNeedsExactlyOneServerSide) {
  SqlSettings s;
  s.ports = {3306, 3307};
  EXPECT_EQ(s.client_by_port({40000, 3306}), 0);
  EXPECT_EQ(s.client_by_port({3307, 40000}), 1);
  EXPECT_EQ(s.client_by_port({3306, 3307}), -1);
  EXPECT_EQ(s.client_by_port({1, 2}), -1);
}

std::string mysql_packet(uint8_t seq, const std::string& payload) {
  const std::size_t n = payload.size();
  return std::string{static_cast<char>(n & 0xff), static_cast<char>(n >> 8 & 0xff),
                     static_cast<char>(n >> 16 & 0xff), static_cast<char>(seq)} +
         payload;
}

// A TLS ClientHello and ServerHello where the protocol's messages were expected:
// nothing is published, the connection is counted as encrypted, nothing as malformed.
template <class Harness>
void expect_tls_takes_over(Harness& h, const std::string& encrypted, const std::string& malformed) {
  h.client(std::string("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", 10));  // handshake type 1
  h.server(std::string("\x16\x03\x03\x00\x05world", 10));
  EXPECT_TRUE(h.finish().empty());
  EXPECT_EQ(h.count(encrypted), 1u);
  EXPECT_EQ(h.count(malformed), 0u);
}

std::string lenenc(const std::string& s) { return std::string(1, static_cast<char>(s.size())) + s; }

std::string column(uint8_t seq, const std::string& table, const std::string& name) {
  return mysql_packet(seq, lenenc("def") + lenenc("db") + lenenc(table) + lenenc(table) + lenenc(name) +
                               lenenc(name) +
                               std::string("\x0c\x21\x00\xff\x00\x00\x00\xfd\x00\x00\x00\x00\x00", 13));
}

struct MysqlHarness : test::StreamTest {
  test::Conn conn{50000, 3306, 100, 900};
  MysqlHarness() {
    const uint16_t ports[] = {3306};
    auto& s = decoders.enable("mysql", ports);
    s.send_response = s.send_request = true;
    start();
  }
  void client(std::string_view s) { StreamTest::client(conn, s); }
  void server(std::string_view s) { StreamTest::server(conn, s); }
  // Sent in segments of at most 60000 bytes.
  void server_big(const std::string& s) {
    for (std::size_t i = 0; i < s.size(); i += 60000) server(std::string_view(s).substr(i, 60000));
  }
};

// A query longer than the 16 KiB a request keeps (a bulk INSERT of 44 KB) is published
// cut there, counted and noted; the statements after it pair as before. The cut had
// gone unnoted.
std::string bulk_insert() {
  std::string q = "INSERT INTO t VALUES ";
  for (int i = 0; i < 1500; ++i)
    q += (i ? ",(" : "(") + std::to_string(i) + ",'" + std::string(20, 'x') + "')";
  return q;
}

TEST(Mysql, QueryLongerThanTheLimitIsCutAndNoted) {
  MysqlHarness h;
  const std::string m = mysql_packet(0, "\x03" + bulk_insert());
  for (std::size_t at = 0; at < m.size(); at += 1400) h.client(m.substr(at, 1400));
  h.server(mysql_packet(1, std::string("\x00\xc8\x00\x02\x00\x00\x00", 7)));  // 200 rows
  h.client(mysql_packet(0, "\x03SELECT 1"));
  h.server(mysql_packet(1, std::string("\x00\x00\x00\x02\x00\x00\x00", 7)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("message":"query longer than 16 KiB; cut")")) << ev[0].substr(0, 300);
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")")) << ev[0].substr(0, 300);
  EXPECT_TRUE(contains(ev[0], R"("affected_rows":200)")) << ev[0].substr(0, 300);
  EXPECT_FALSE(contains(ev[1], "message")) << ev[1];
  EXPECT_EQ(h.count("mysql.query_truncated"), 1u);
}

TEST(Mysql, DeprecateEofResultSetEndsWithOkAndMoreResultsChain) {
  MysqlHarness h;
  h.client(mysql_packet(0, "\x03SELECT a FROM t; SELECT b FROM u"));
  // No EOF after the column definitions; the rows end with an OK packet headed 0xfe
  // whose status says more results follow, then the second result set.
  const std::string more_ok("\xfe\x00\x00\x0a\x00\x00\x00", 7), last_ok("\xfe\x00\x00\x02\x00\x00\x00", 7);
  h.server(mysql_packet(1, "\x01") + column(2, "t", "a") + mysql_packet(3, lenenc("x")) +
           mysql_packet(4, lenenc("y")) + mysql_packet(5, more_ok) + mysql_packet(6, "\x01") +
           column(7, "u", "b") + mysql_packet(8, lenenc("z")) + mysql_packet(9, last_ok));
  h.client(mysql_packet(0, "\x03SELECT 1"));
  h.server(mysql_packet(1, std::string("\x00\x00\x00\x02\x00\x00\x00", 7)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("num_rows":3)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("num_fields":1)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("path":"db.t, db.u")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("response":"a\nx\ny\nz\n")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("query":"SELECT 1")")) << ev[1];
  EXPECT_EQ(h.count("mysql.transactions"), 2u);
  EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u);
}

// path as Packetbeat writes it from the column definitions (its mysql.go): each
// column's "schema.table" once, a computed column's (no schema, no table) "." too,
// each one not already read in the path. A MariaDB session's 67 transactions (COUNT(*),
// @@version, SLEEP, EXPLAIN among them) agree with Packetbeat 7.17's field for field.
TEST(Mysql, PathOfComputedColumnsAsPacketbeatWritesIt) {
  const auto computed = [](uint8_t seq, const std::string& name) {
    return mysql_packet(seq, lenenc("def") + lenenc("") + lenenc("") + lenenc("") + lenenc(name) +
                                 lenenc("") +
                                 std::string("\x0c\x3f\x00\x15\x00\x00\x00\x08\x81\x00\x00\x00\x00", 13));
  };
  const std::string eof("\xfe\x00\x00\x02\x00", 5);
  MysqlHarness h;
  h.client(mysql_packet(0, "\x03SELECT COUNT(*) FROM t"));
  h.server(mysql_packet(1, "\x01") + computed(2, "COUNT(*)") + mysql_packet(3, eof) +
           mysql_packet(4, lenenc("3")) + mysql_packet(5, eof));
  h.client(mysql_packet(0, "\x03SELECT 1, a FROM t"));
  h.server(mysql_packet(1, "\x02") + computed(2, "1") + column(3, "t", "a") + mysql_packet(4, eof) +
           mysql_packet(5, eof));
  h.client(mysql_packet(0, "\x03SELECT a, 1 FROM t"));
  h.server(mysql_packet(1, "\x02") + column(2, "t", "a") + computed(3, "1") + mysql_packet(4, eof) +
           mysql_packet(5, eof));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("path":".")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("path":"., db.t")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("path":"db.t")")) << ev[2];
}

TEST(Mysql, PacketOver16MbStreamsThroughWithItsContinuation) {
  MysqlHarness h;
  h.client(mysql_packet(0, "\x03SELECT big FROM t"));
  // A row of 0xffffff bytes (a value of 16777211 bytes), continued by a packet of
  // 100 bytes; then the EOF.
  const uint32_t value = 0xffffff - 5;
  std::string row = std::string("\xfe", 1) + std::string{static_cast<char>(value & 0xff),
                                                         static_cast<char>(value >> 8 & 0xff),
                                                         static_cast<char>(value >> 16 & 0xff),
                                                         0,
                                                         0,
                                                         0,
                                                         0,
                                                         0};
  row.resize(0xffffff + 100 - 1, 'v');
  const std::string eof("\xfe\x00\x00\x02\x00", 5);
  std::string resp = mysql_packet(1, "\x01") + column(2, "t", "big") + mysql_packet(3, eof);
  resp += mysql_packet(4, row.substr(0, 0xffffff - 1) + "v");
  resp += mysql_packet(5, std::string(100, 'w'));
  resp += mysql_packet(6, eof);
  h.server_big(resp);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("num_rows":1)")) << ev[0].substr(0, 400);
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")"));
  EXPECT_TRUE(contains(ev[0], "\"bytes\":" + std::to_string(resp.size()))) << "server bytes";
  EXPECT_EQ(h.count("mysql.malformed"), 0u);
}

TEST(Mysql, LocalInfileEndsWithTheServersOk) {
  MysqlHarness h;
  h.client(mysql_packet(0, "\x03LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t"));
  h.server(mysql_packet(1, "\xfb/tmp/x"));
  h.client(mysql_packet(2, "1,a\n2,b\n") + mysql_packet(3, ""));
  h.server(mysql_packet(4, std::string("\x00\x02\x00\x02\x00\x00\x00", 7)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("affected_rows":2)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("method":"LOAD")"));
}

// COM_STMT_EXECUTE with a cursor (CURSOR_TYPE_READ_ONLY): the column definitions end
// with an EOF (or, with CLIENT_DEPRECATE_EOF, an OK headed 0xfe) whose status says a
// cursor is open; that ends the response, the rows come in answer to COM_STMT_FETCH.
// Before, the execute waited for rows, took the fetches' for its own and was published
// unanswered (MariaDB 10.11, captured on lo with a hand-made client).
TEST(Mysql, ExecuteThatOpensACursorEndsAtItsColumns) {
  MysqlHarness h;
  h.client(mysql_packet(0, "\x16SELECT id FROM t"));
  h.server(mysql_packet(1, std::string("\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12)) +
           column(2, "t", "id") + mysql_packet(3, std::string("\xfe\x00\x00\x02\x00", 5)));
  const std::string execute("\x17\x01\x00\x00\x00\x01\x01\x00\x00\x00", 10);  // flags 1: read-only cursor
  const std::string fetch("\x1c\x01\x00\x00\x00\x02\x00\x00\x00", 9);         // two rows
  const std::string row = mysql_packet(1, std::string("\x00\x00", 2) + lenenc("7"));
  h.client(mysql_packet(0, execute));
  h.server(mysql_packet(1, "\x01") + column(2, "t", "id") +
           mysql_packet(3, std::string("\xfe\x00\x00\x42\x00", 5)));  // CURSOR_EXISTS | AUTOCOMMIT
  h.client(mysql_packet(0, fetch));
  h.server(row + mysql_packet(2, std::string("\xfe\x00\x00\x82\x00", 5)));  // LAST_ROW_SENT
  h.client(mysql_packet(0, execute));
  h.server(mysql_packet(1, "\x01") + column(2, "t", "id") +
           mysql_packet(3, std::string("\xfe\x00\x00\x42\x00\x00\x00", 7)));  // as an OK headed 0xfe
  h.client(mysql_packet(0, fetch));
  h.server(row + mysql_packet(2, std::string("\xfe\x00\x00\x82\x00\x00\x00", 7)));
  h.client(mysql_packet(0, "\x03SELECT 1"));
  h.server(mysql_packet(1, std::string("\x00\x00\x00\x02\x00\x00\x00", 7)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  for (int i : {1, 2}) {
    EXPECT_TRUE(contains(ev[i], R"("query":"SELECT id FROM t")")) << ev[i];
    EXPECT_TRUE(contains(ev[i], R"("status":"OK")")) << ev[i];
    EXPECT_TRUE(contains(ev[i], R"("num_fields":1)")) << ev[i];
    EXPECT_TRUE(contains(ev[i], R"("num_rows":0)")) << ev[i];
  }
  EXPECT_TRUE(contains(ev[3], R"("query":"SELECT 1")")) << ev[3];
  EXPECT_EQ(h.count("mysql.unmatched_requests"), 0u);
  EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u);
  EXPECT_EQ(h.count("mysql.other_commands"), 2u);  // the fetches
}

// MariaDB's COM_STMT_BULK_EXECUTE (0xfa: a prepared statement run for many rows of
// parameters, what MariaDB's connectors send for a batch): published with its
// statement's query and the server's OK, and the connection goes on. It had been taken
// for bytes that are not MySQL and the connection left.
TEST(Mysql, MariadbBulkExecuteIsPublishedWithItsStatement) {
  MysqlHarness h;
  h.client(mysql_packet(0, "\x16INSERT INTO t VALUES (?, ?)"));
  h.server(mysql_packet(1, std::string("\x00\x03\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00", 12)) +
           column(2, "", "?") + column(3, "", "?") + mysql_packet(4, std::string("\xfe\x00\x00\x02\x00", 5)));
  // Statement 3, SEND_TYPES_TO_SERVER, types LONGLONG and VAR_STRING, two rows.
  std::string bulk("\xfa\x03\x00\x00\x00\x80\x00\x08\x00\xfd\x00", 11);
  for (char i : {'1', '2'})
    bulk += std::string("\x00", 1) + std::string(1, static_cast<char>(i - '0')) + std::string(7, '\0') +
            std::string("\x00\x01", 2) + std::string(1, i);
  h.client(mysql_packet(0, bulk));
  h.server(mysql_packet(1, std::string("\x00\x02\x00\x02\x00\x00\x00", 7)));
  h.client(mysql_packet(0, "\x03SELECT 1"));
  h.server(mysql_packet(1, std::string("\x00\x00\x00\x02\x00\x00\x00", 7)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[1], R"q("query":"INSERT INTO t VALUES (?, ?)")q")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("affected_rows":2)")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("status":"OK")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("query":"SELECT 1")")) << ev[2];
  EXPECT_EQ(h.count("mysql.malformed"), 0u);
  EXPECT_EQ(h.count("mysql.violations"), 0u);
}

TEST(Mysql, ExecuteOfAnUnknownStatementSaysSo) {
  MysqlHarness h;
  h.client(mysql_packet(0, std::string("\x17\x07\x00\x00\x00\x00\x01\x00\x00\x00", 10)));
  h.server(mysql_packet(1, std::string("\x00\x00\x00\x02\x00\x00\x00", 7)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("query":"Request Execute Statement")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("message":"The actual query being used is unknown")")) << ev[0];
}

TEST(Mysql, TlsRequestStopsDecodingAndIsCounted) {
  MysqlHarness h;
  std::string greeting =
      "\x0a"
      "10.11.6-MariaDB";
  greeting += std::string(40, '\x01');
  h.server(mysql_packet(0, greeting));
  std::string ssl(32, '\0');
  ssl[1] = 0x08;  // CLIENT_SSL (0x800)
  h.client(mysql_packet(1, ssl));
  h.client(std::string("\x16\x03\x01\x00\x05hello", 10));
  const auto ev = h.finish();
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(h.count("mysql.tls_connections"), 1u);
  EXPECT_EQ(h.count("mysql.malformed"), 0u);
}

// A MySQL 8 conversation, byte for byte as 8.0.23+ servers and clients write it:
// CLIENT_QUERY_ATTRIBUTES negotiated, caching_sha2_password's full authentication
// with a public-key request, queries with and without attributes, a prepared
// statement executed with an attribute, COM_CHANGE_USER with an auth switch.
std::string le16s(uint16_t v) { return {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)}; }
std::string le32s(uint32_t v) {
  return le16s(static_cast<uint16_t>(v & 0xffff)) + le16s(static_cast<uint16_t>(v >> 16));
}

std::string mysql8_greeting(uint32_t caps) {
  std::string g =
      "\x0a"
      "8.0.36";
  g += '\0';
  g += le32s(42) + "abcdefgh" + std::string(1, '\0') + le16s(static_cast<uint16_t>(caps & 0xffff)) + "\xff" +
       le16s(2) + le16s(static_cast<uint16_t>(caps >> 16)) + "\x15" + std::string(10, '\0') + "ijklmnopqrst" +
       std::string(1, '\0') + "caching_sha2_password" + std::string(1, '\0');
  return g;
}

constexpr uint32_t kCaps8 = 0x200 | 0x8000 | (1u << 19) | (1u << 24) | (1u << 27) | (1u << 16) | 0x8;

std::string mysql8_login() {
  std::string resp = le32s(kCaps8) + le32s(1 << 24) + "\xff" + std::string(23, '\0') + "app" +
                     std::string(1, '\0') + "\x20" + std::string(32, 's') + "shop" + std::string(1, '\0') +
                     "caching_sha2_password" + std::string(1, '\0');
  return resp;
}

const std::string kOk8("\x00\x00\x00\x02\x00\x00\x00", 7);

// A MySQL 4.0 login (protocol 10 without CLIENT_PROTOCOL_41): the client's handshake
// response carries two bytes of capabilities and three of maximum packet size, which are
// not the high half of the capabilities (read as such, 0xffffff's bytes asked for zstd
// compression, and the commands after the OK were read as compressed packets); the old
// column definitions and the one-byte EOFs frame the result set as the new ones do.
TEST(Mysql, Pre41LoginAndResultSetAreRead) {
  MysqlHarness h;
  std::string greeting =
      "\x0a"
      "4.0.24";
  greeting += std::string(1, '\0') + le32s(7) + "abcdefgh" + std::string(1, '\0') + le16s(0x202c) + "\x08" +
              le16s(2) + std::string(13, '\0');
  h.server(mysql_packet(0, greeting));
  h.client(mysql_packet(1, le16s(0x2485) + "\xff\xff\xff" + "root" + std::string(1, '\0') + "qwertyui"));
  h.server(mysql_packet(2, std::string("\x00\x00\x00\x02\x00", 5)));
  h.client(mysql_packet(0, "\x03SELECT a FROM t"));
  const std::string old_field =
      lenenc("t") + lenenc("a") + "\x03\x0b\x00\x00" + "\x01\x03" + "\x03\x00\x00\x00";
  h.server(mysql_packet(1, "\x01") + mysql_packet(2, old_field) + mysql_packet(3, "\xfe") +
           mysql_packet(4, lenenc("7")) + mysql_packet(5, lenenc("8")) + mysql_packet(6, "\xfe"));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("query":"SELECT a FROM t")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("num_rows":2)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")")) << ev[0];
  EXPECT_EQ(h.count("mysql.compressed_connections"), 0u);
  EXPECT_EQ(h.count("mysql.malformed"), 0u);
}

const std::string kEofOk8("\xfe\x00\x00\x02\x00\x00\x00", 7);

// The server's greeting lost, on a connection whose ports do not tell (both ends on a
// configured port): the login at sequence 1 (capabilities with CLIENT_PROTOCOL_41, 23
// bytes of zeros) says its sender is the client. Before, any first packet but a command
// at sequence 0 was taken for the server's, and every query of the connection went out
// as an unmatched response (a capture of 157 statements, its first packet dropped).
TEST(Mysql, LoginTellsTheClientWhenTheGreetingWasLost) {
  test::StreamTest h;
  const uint16_t ports[] = {3306, 50000};
  h.decoders.enable("mysql", ports);
  h.start();
  test::Conn c{50000, 3306, 100, 900};
  h.handshake(c);
  h.lose(false, c, mysql_packet(0, mysql8_greeting(kCaps8)));
  h.client(c, mysql_packet(1, mysql8_login()));
  h.server(c, mysql_packet(2, kOk8));
  for (int i = 1; i <= 2; ++i) {
    h.client(c, mysql_packet(0,
                             "\x03"
                             "SELECT " +
                                 std::to_string(i)));
    h.server(c, mysql_packet(1, kOk8));
  }
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("query":"SELECT 1")") && contains(ev[0], R"("status":"OK")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("query":"SELECT 2")") && contains(ev[1], R"("status":"OK")")) << ev[1];
  EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u);
}

TEST(Mysql, Mysql8QueryAttributesCachingSha2AndChangeUser) {
  MysqlHarness h;
  h.server(mysql_packet(0, mysql8_greeting(kCaps8)));
  h.client(mysql_packet(1, mysql8_login()));
  h.server(mysql_packet(2, "\x01\x04"));  // AuthMoreData: perform full authentication
  h.client(mysql_packet(3, "\x02"));      // request the server's public key
  h.server(mysql_packet(4, "\x01-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY-----\n"));
  h.client(mysql_packet(5, std::string(256, '\x5a')));  // the password, RSA-encrypted
  h.server(mysql_packet(6, kOk8));
  // COM_QUERY with no attributes: parameter count 0, one parameter set.
  h.client(mysql_packet(0, std::string("\x03\x00\x01", 3) + "SELECT name FROM users"));
  h.server(mysql_packet(1, "\x01") + column(2, "users", "name") + mysql_packet(3, lenenc("ann")) +
           mysql_packet(4, kEofOk8));
  // COM_QUERY with one attribute: trace_id = "ab12" (MYSQL_TYPE_VAR_STRING).
  h.client(mysql_packet(0, std::string("\x03\x01\x01\x00\x01\xfd\x00", 7) + lenenc("trace_id") +
                               lenenc("ab12") + "UPDATE users SET n = 1"));
  h.server(mysql_packet(1, std::string("\x00\x03\x00\x02\x00\x00\x00", 7)));
  // A prepared statement with one parameter, executed with one attribute more:
  // PARAMETER_COUNT_AVAILABLE, count 2, bitmap, bound, (type, flags, name) each, values.
  h.client(mysql_packet(0, "\x16SELECT name FROM users WHERE id = ?"));
  h.server(mysql_packet(1, std::string("\x00\x05\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00", 12)) +
           column(2, "", "?") + column(3, "users", "name"));
  h.client(mysql_packet(0, std::string("\x17\x05\x00\x00\x00\x08\x01\x00\x00\x00\x02\x00\x01", 13) +
                               std::string("\x08\x00", 2) + lenenc("") + std::string("\xfd\x00", 2) +
                               lenenc("trace_id") + std::string("\x07\x00\x00\x00\x00\x00\x00\x00", 8) +
                               lenenc("ab12")));
  h.server(mysql_packet(1, "\x01") + column(2, "users", "name") +
           mysql_packet(3, std::string("\x00\x00", 2) + lenenc("bob")) + mysql_packet(4, kEofOk8));
  // COM_CHANGE_USER, answered by an auth switch, the client's answer, then OK.
  h.client(mysql_packet(
      0, "\x11root" + std::string(1, '\0') + "\x14" + std::string(20, 'p') + "shop" + std::string(1, '\0')));
  h.server(mysql_packet(
      1, "\xfemysql_native_password" + std::string(1, '\0') + std::string(20, 'n') + std::string(1, '\0')));
  h.client(mysql_packet(2, std::string(20, 'q')));
  h.server(mysql_packet(3, kOk8));
  h.client(mysql_packet(0, std::string("\x03\x00\x01", 3) + "SELECT 1"));
  h.server(mysql_packet(1, kOk8));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_TRUE(contains(ev[0], R"("query":"SELECT name FROM users")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("method":"SELECT")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("num_rows":1)")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("query":"UPDATE users SET n = 1")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("affected_rows":3)")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("method":"PREPARE")") ||
              contains(ev[2], R"("query":"SELECT name FROM users WHERE id = ?")"))
      << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("params":["7"])")) << ev[3];
  EXPECT_TRUE(contains(ev[3], R"("query":"SELECT name FROM users WHERE id = ?")")) << ev[3];
  EXPECT_TRUE(contains(ev[4], R"("query":"SELECT 1")")) << ev[4];
  EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u);
  EXPECT_EQ(h.count("mysql.unmatched_requests"), 0u);
  EXPECT_EQ(h.count("mysql.login_failures"), 0u);
  EXPECT_EQ(h.count("mysql.malformed"), 0u);
  EXPECT_EQ(h.count("mysql.violations"), 0u);
}

// COM_FIELD_LIST (the mysql client asks for each table's columns after a USE, for its
// completion) on a CLIENT_DEPRECATE_EOF connection: the definitions end with an OK
// packet headed 0xfe (7 bytes), not a 5-byte EOF. The response ends there, counted,
// and the statements after it pair with their own responses (before, the OK was read as
// one more definition and the response never ended: the next command dropped it
// uncounted).
TEST(Mysql, FieldListEndsWithTheOkOfDeprecateEof) {
  MysqlHarness h;
  h.server(mysql_packet(0, mysql8_greeting(kCaps8)));
  h.client(mysql_packet(1, mysql8_login()));
  h.server(mysql_packet(2, kOk8));
  for (const char* table : {"columns_priv", "db"}) {
    h.client(mysql_packet(0, std::string("\x04") + table + std::string(1, '\0')));
    h.server(column(1, table, "Host") + column(2, table, "User") + mysql_packet(3, kEofOk8));
  }
  h.client(mysql_packet(0, std::string("\x03\x00\x01", 3) + "SELECT name FROM users"));
  h.server(mysql_packet(1, "\x01") + column(2, "users", "name") + mysql_packet(3, lenenc("ann")) +
           mysql_packet(4, kEofOk8));
  h.client(mysql_packet(0, std::string("\x03\x00\x01", 3) + "UPDATE users SET n = 1"));
  h.server(mysql_packet(1, std::string("\x00\x03\x00\x02\x00\x00\x00", 7)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("query":"SELECT name FROM users")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("num_rows":1)")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("query":"UPDATE users SET n = 1")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("affected_rows":3)")) << ev[1];
  EXPECT_EQ(h.count("mysql.other_commands"), 2u);
  EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u);
  EXPECT_EQ(h.count("mysql.unmatched_requests"), 0u);
  EXPECT_EQ(h.count("mysql.malformed"), 0u);
}

// A login switched to caching_sha2_password by the server (the client offered
// mysql_native_password with no data), passed by its fast path (AuthMoreData 0x03, then
// OK), the statements after it, and COM_STATISTICS, whose answer is a bare string: the
// statements pair with their responses, and the string ends its command's response
// (before, it was read as a result set's column count, 'U' for 85 columns, and the
// response never ended: the next command dropped it uncounted).
TEST(Mysql, AuthSwitchToCachingSha2FastPathAndStatistics) {
  MysqlHarness h;
  h.server(mysql_packet(0, mysql8_greeting(kCaps8)));
  std::string login = le32s(kCaps8) + le32s(1 << 24) + "\xff" + std::string(23, '\0') + "root" +
                      std::string(1, '\0') + "\x00" + "mysql_native_password" + std::string(1, '\0');
  h.client(mysql_packet(1, login));
  h.server(mysql_packet(2,
                        "\xfe"
                        "caching_sha2_password" +
                            std::string(1, '\0') + std::string(20, 'V') + std::string(1, '\0')));
  h.client(mysql_packet(3, std::string(32, '\xf7')));
  h.server(mysql_packet(4, "\x01\x03") + mysql_packet(5, kOk8));
  for (const char* q : {"select @@version_comment limit 1", "select DATABASE(), USER() limit 1"}) {
    h.client(mysql_packet(0, std::string("\x03\x00\x01", 3) + q));
    h.server(mysql_packet(1, "\x01") + column(2, "", "v") + mysql_packet(3, lenenc("x")) +
             mysql_packet(4, kEofOk8));
  }
  h.client(mysql_packet(0, "\x09"));
  h.server(mysql_packet(1, "Uptime: 83  Threads: 2  Questions: 5  Slow queries: 0  Opens: 117"));
  h.client(mysql_packet(0, std::string("\x03\x00\x01", 3) + "SELECT 1"));
  h.server(mysql_packet(1, kOk8));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("query":"select @@version_comment limit 1")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("num_rows":1)")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("query":"select DATABASE(), USER() limit 1")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("query":"SELECT 1")")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("status":"OK")")) << ev[2];
  EXPECT_EQ(h.count("mysql.login_failures"), 0u);
  EXPECT_EQ(h.count("mysql.other_commands"), 1u);
  EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u);
  EXPECT_EQ(h.count("mysql.unmatched_requests"), 0u);
  EXPECT_EQ(h.count("mysql.malformed"), 0u);
}

// A login switched to sha256_password, whose client has no TLS and asks for the
// server's RSA key (AuthMoreData 0x01 answered by the key in PEM, then the password
// encrypted with it, 256 bytes), and one whose caching_sha2_password cache misses (the
// server asks for full authentication, AuthMoreData 0x04; the client asks for the key
// with 0x02, as Navicat and the mysql client do without TLS), each once refused (ERR
// 1045) and once passed: a refusal is one login failure and nothing else; after a pass
// the statements pair.
TEST(Mysql, PasswordEncryptedWithTheServersPublicKey) {
  const std::string pem =
      "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwp+ZvMw7i8dEUQK43WIz\n" +
      std::string(300, 'A') + "\n-----END PUBLIC KEY-----\n";
  for (const int run : {0, 1, 2, 3}) {
    const bool refused = run % 2 == 0;
    MysqlHarness h;
    h.server(mysql_packet(0, mysql8_greeting(kCaps8)));
    h.client(mysql_packet(1, mysql8_login()));
    if (run < 2) {
      h.server(mysql_packet(2,
                            "\xfe"
                            "sha256_password" +
                                std::string(1, '\0') + std::string(20, 'V') + std::string(1, '\0')));
      h.client(mysql_packet(3, "\x01"));
    } else {  // caching_sha2_password's full authentication: the key asked for with 0x02
      h.server(mysql_packet(2, "\x01\x04"));
      h.client(mysql_packet(3, "\x02"));
    }
    h.server(mysql_packet(4, "\x01" + pem));
    h.client(mysql_packet(5, std::string(256, '\x9d')));
    if (refused) {
      h.server(mysql_packet(
          6, "\xff\x15\x04#28000Access denied for user 'dsm1'@'10.21.179.53' (using password: YES)"));
      EXPECT_TRUE(h.finish().empty());
      EXPECT_EQ(h.count("mysql.login_failures"), 1u);
    } else {
      h.server(mysql_packet(6, kOk8));
      h.client(mysql_packet(0, std::string("\x03\x00\x01", 3) + "SELECT 1"));
      h.server(mysql_packet(1, "\x01") + column(2, "", "1") + mysql_packet(3, lenenc("1")) +
               mysql_packet(4, kEofOk8));
      const auto ev = h.finish();
      ASSERT_EQ(ev.size(), 1u);
      EXPECT_TRUE(contains(ev[0], R"("query":"SELECT 1")")) << ev[0];
      EXPECT_TRUE(contains(ev[0], R"("num_rows":1)")) << ev[0];
      EXPECT_EQ(h.count("mysql.login_failures"), 0u);
    }
    EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u) << refused;
    EXPECT_EQ(h.count("mysql.unmatched_requests"), 0u) << refused;
    EXPECT_EQ(h.count("mysql.malformed"), 0u) << refused;
    EXPECT_EQ(h.count("mysql.violations"), 0u) << refused;
  }
}

// A segment of the login lost to the capture: the commands after it are read and
// paired (before, a gap in the login left the connection). The server's OK lost: the
// client's command at sequence 0 shows the login over. The handshake response lost:
// query attributes it may have negotiated are recognised by their shape. A lost SSL
// request shows as the client's TLS record.
TEST(Mysql, LoginSegmentLostLeavesTheCommandsRead) {
  auto query = [](int i) {
    return mysql_packet(0, std::string("\x03\x00\x01", 3) + "SELECT " + std::to_string(i));
  };
  const std::string login = mysql_packet(1, mysql8_login());
  for (int lost = 0; lost < 2; ++lost) {
    MysqlHarness h;
    h.handshake(h.conn);
    h.server(mysql_packet(0, mysql8_greeting(kCaps8)));
    if (lost == 1) {
      test::StreamTest::lose(true, h.conn, login);
    } else {
      h.client(login);
    }
    if (lost == 0) {
      test::StreamTest::lose(false, h.conn, mysql_packet(2, kOk8));
    } else {
      h.server(mysql_packet(2, kOk8));
    }
    for (int i = 1; i <= 3; ++i) {
      h.client(query(i));
      h.server(mysql_packet(1, kOk8));
    }
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 3u) << lost;
    for (int i = 1; i <= 3; ++i) {
      EXPECT_TRUE(contains(ev[i - 1], "\"query\":\"SELECT " + std::to_string(i) + "\"")) << ev[i - 1];
      EXPECT_TRUE(contains(ev[i - 1], R"("status":"OK")")) << ev[i - 1];
    }
    EXPECT_EQ(h.count("mysql.gaps"), 1u) << lost;
    EXPECT_EQ(h.count("mysql.violations"), 0u) << lost;
  }
  MysqlHarness h;
  h.handshake(h.conn);
  h.server(mysql_packet(0, mysql8_greeting(kCaps8)));
  std::string ssl(32, '\0');
  ssl[1] = 0x08;
  test::StreamTest::lose(true, h.conn, mysql_packet(1, ssl));
  expect_tls_takes_over(h, "mysql.tls_connections", "mysql.malformed");
}

// Picked up after the handshake: attributes are recognised by their shape, and a
// query that starts with a line break is still read as sent.
TEST(Mysql, QueryAttributesMidstream) {
  MysqlHarness h;
  h.client(mysql_packet(0, std::string("\x03\x00\x01", 3) + "SELECT 2"));
  h.server(mysql_packet(1, kOk8));
  h.client(mysql_packet(0, "\x03\nSELECT 3"));
  h.server(mysql_packet(1, kOk8));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("query":"SELECT 2")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("query":"SELECT 3")")) << ev[1];
  EXPECT_EQ(h.count("mysql.malformed"), 0u);
}

// A compressed packet: compressed length, sequence, uncompressed length (0: sent as it
// is), then the payload: the packets inside, zlib-compressed, zstd-compressed or raw.
enum class Z { kZlib, kZstd, kRaw };
std::string compressed_packet(uint8_t seq, const std::string& inner, Z how) {
  std::string body = inner;
  uint32_t ulen = static_cast<uint32_t>(inner.size());
  if (how == Z::kZlib) {
    uLongf n = compressBound(inner.size());
    body.resize(n);
    compress2(reinterpret_cast<Bytef*>(body.data()), &n, reinterpret_cast<const Bytef*>(inner.data()),
              inner.size(), 6);
    body.resize(n);
  } else if (how == Z::kZstd) {
    body.resize(ZSTD_compressBound(inner.size()));
    body.resize(ZSTD_compress(body.data(), body.size(), inner.data(), inner.size(), 3));
  }
  if (how == Z::kRaw || body.size() >= inner.size()) {  // not smaller: sent as it is, as servers do
    body = inner;
    ulen = 0;
  }
  const uint32_t clen = static_cast<uint32_t>(body.size());
  return std::string{static_cast<char>(clen & 0xff),       static_cast<char>(clen >> 8 & 0xff),
                     static_cast<char>(clen >> 16 & 0xff), static_cast<char>(seq),
                     static_cast<char>(ulen & 0xff),       static_cast<char>(ulen >> 8 & 0xff),
                     static_cast<char>(ulen >> 16 & 0xff)} +
         body;
}

// The compressed protocol (zlib with CLIENT_COMPRESS; MySQL 8's zstd, asked for without
// it), from the login's OK on: queries and result sets read out of compressed packets,
// a packet split over two of them, payloads sent as they are, a result set in one
// compressed packet longer than the engine holds (200 KB of random bytes, inflated as
// it comes), and a compressed packet the capture lost (the stream taken up again at the
// next header that holds together). Before, the connection was counted and left.
TEST(Mysql, CompressedConnectionsAreInflatedAndRead) {
  const std::string kAttrs("\x03\x00\x01", 3);  // COM_QUERY, no attributes in one set
  for (const uint32_t compress : {0x20u, 1u << 26}) {
    const Z z = compress == 0x20u ? Z::kZlib : Z::kZstd;
    MysqlHarness h;
    h.server(mysql_packet(0, mysql8_greeting(kCaps8 | compress)));
    std::string login = mysql8_login();
    login.replace(0, 4, le32s(kCaps8 | compress));
    h.client(mysql_packet(1, login));
    h.server(mysql_packet(2, kOk8));
    auto result = [](const std::string& value) {
      return mysql_packet(1, "\x01") + column(2, "t", "v") + mysql_packet(3, kEofOk8.substr(0, 5)) +
             mysql_packet(4, lenenc(value).size() < 252
                                 ? lenenc(value)
                                 : "\xfd" +
                                       std::string{static_cast<char>(value.size() & 0xff),
                                                   static_cast<char>(value.size() >> 8 & 0xff),
                                                   static_cast<char>(value.size() >> 16)} +
                                       value) +
             mysql_packet(5, kEofOk8.substr(0, 5));
    };
    h.client(compressed_packet(0, mysql_packet(0, kAttrs + "SELECT v FROM t WHERE k = 1"), z));
    const std::string r1 = result("one");
    h.server(compressed_packet(0, r1.substr(0, 30), z));  // the column definition over two
    h.server(compressed_packet(1, r1.substr(30), z));
    h.client(compressed_packet(0, mysql_packet(0, kAttrs + "SELECT v FROM t WHERE k = 2"), Z::kRaw));
    h.server(compressed_packet(0, result("two"), Z::kRaw));
    std::string big(200000, '\0');
    uint32_t x = 1;
    for (char& ch : big) x = x * 1103515245u + 12345u, ch = static_cast<char>(x >> 24);
    h.client(compressed_packet(0, mysql_packet(0, kAttrs + "SELECT v FROM t WHERE k = 3"), z));
    h.server_big(compressed_packet(0, result(big), z));
    h.client(compressed_packet(0, mysql_packet(0, kAttrs + "SELECT v FROM t WHERE k = 4"), z));
    MysqlHarness::lose(false, h.conn, compressed_packet(0, result("four"), z));
    h.client(compressed_packet(0, mysql_packet(0, kAttrs + "SELECT v FROM t WHERE k = 5"), z));
    h.server(compressed_packet(0, result("five"), z));
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 5u) << compress;
    for (int i = 0; i < 5; ++i)
      EXPECT_TRUE(contains(ev[i], "\"query\":\"SELECT v FROM t WHERE k = " + std::to_string(i + 1) + "\""))
          << compress << " " << ev[i];
    EXPECT_TRUE(contains(ev[0], R"("num_rows":1)") && contains(ev[0], R"("response":"v\none\n")")) << ev[0];
    EXPECT_TRUE(contains(ev[1], R"("response":"v\ntwo\n")")) << ev[1];
    EXPECT_TRUE(contains(ev[2], R"("num_rows":1)") && contains(ev[2], R"("status":"OK")")) << ev[2];
    EXPECT_TRUE(contains(ev[3], "Unmatched request")) << ev[3];
    EXPECT_TRUE(contains(ev[4], R"("response":"v\nfive\n")")) << ev[4];
    EXPECT_EQ(h.count("mysql.compressed_connections"), 1u) << compress;
    EXPECT_EQ(h.count("mysql.decompress_errors"), 0u) << compress;
    EXPECT_EQ(h.count("mysql.malformed"), 0u) << compress;
    EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u) << compress;
    EXPECT_EQ(h.count("mysql.resynced"), 2u) << compress;  // the compressed framing, then the packets'

    EXPECT_EQ(h.count("stream.detached"), 0u) << compress;
  }
}

// A compressed connection whose login's OK the capture lost, and one the capture picked
// up after its login: compression is found in the client's first command (a compressed
// header that holds together, whose payload inflates, where no command is: the command
// byte of a payload sent as it is reads as COM_SLEEP), and a response whose packets go
// on from the sequence of a command sent in two compressed packets is found after a
// lost one. Before, both connections were left.
TEST(Mysql, CompressedConnectionFoundWithoutTheLoginsOk) {
  const std::string kAttrs("\x03\x00\x01", 3);
  auto result = [](const std::string& value, uint8_t seq) {
    return mysql_packet(seq, "\x01") + column(seq + 1, "t", "v") +
           mysql_packet(seq + 2, kEofOk8.substr(0, 5)) + mysql_packet(seq + 3, lenenc(value)) +
           mysql_packet(seq + 4, kEofOk8.substr(0, 5));
  };
  for (const bool with_login : {true, false}) {
    MysqlHarness h;
    if (with_login) {
      h.server(mysql_packet(0, mysql8_greeting(kCaps8 | 0x20)));
      std::string login = mysql8_login();
      login.replace(0, 4, le32s(kCaps8 | 0x20));
      h.client(mysql_packet(1, login));
      MysqlHarness::lose(false, h.conn, mysql_packet(2, kOk8));
    }
    const std::string q1 =
        mysql_packet(0, kAttrs + "SELECT v FROM t WHERE k = 1 /*" + std::string(40, 'x') + "*/");
    h.client(compressed_packet(0, q1, Z::kZlib));
    h.server(compressed_packet(1, result("one", 1), Z::kZlib));
    h.client(compressed_packet(0, mysql_packet(0, kAttrs + "SELECT 2"), Z::kRaw));
    MysqlHarness::lose(false, h.conn, compressed_packet(1, result("two", 1), Z::kRaw));
    // A command in two compressed packets: its response's packets are numbered from 2.
    const std::string q3 = mysql_packet(0, kAttrs + "SELECT v FROM t WHERE k = 3");
    h.client(compressed_packet(0, q3.substr(0, 10), Z::kRaw) + compressed_packet(1, q3.substr(10), Z::kRaw));
    h.server(compressed_packet(2, result("three", 2), Z::kRaw));
    h.client(compressed_packet(0, mysql_packet(0, kAttrs + "SELECT 4"), Z::kRaw));
    h.server(compressed_packet(1, result("four", 1), Z::kRaw));
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 4u) << with_login;
    EXPECT_TRUE(contains(ev[0], R"("response":"v\none\n")")) << ev[0];
    EXPECT_TRUE(contains(ev[1], R"("query":"SELECT 2")") && contains(ev[1], "Unmatched request")) << ev[1];
    EXPECT_TRUE(contains(ev[2], R"("response":"v\nthree\n")")) << ev[2];
    EXPECT_TRUE(contains(ev[3], R"("query":"SELECT 4")") && contains(ev[3], R"("response":"v\nfour\n")"))
        << ev[3];
    EXPECT_EQ(h.count("mysql.compressed_connections"), 1u) << with_login;
    EXPECT_EQ(h.count("stream.detached"), 0u) << with_login;
  }
}

// A query whose response the capture lost goes out unanswered when the server's next
// bytes show the loss; the next query meets its own response.
TEST(Mysql, UnansweredQueryIsPublishedAsUnmatched) {
  MysqlHarness h;
  const std::string ok = mysql_packet(1, std::string("\x00\x00\x00\x02\x00\x00\x00", 7));
  h.client(mysql_packet(0, "\x03SELECT SLEEP(100)"));
  MysqlHarness::lose(false, h.conn, ok);
  h.client(mysql_packet(0, "\x03SELECT 2"));
  h.server(ok);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("message":"Unmatched request")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"Error")"));
  EXPECT_TRUE(contains(ev[1], R"("query":"SELECT 2")"));
  EXPECT_TRUE(contains(ev[1], R"("status":"OK")"));
  EXPECT_EQ(h.count("mysql.unmatched_requests"), 1u);
}

// Commands a client sends without waiting for the responses (pipelined: MariaDB's
// Connector/J sends a prepare and its execute together, the Node.js connector queries
// in a row) are answered in the order sent. A second command before any of the first's
// response had been taken for the end of the first (published unanswered), and every
// response after it went to the command before its own.
TEST(Mysql, PipelinedCommandsAreAnsweredInTurn) {
  MysqlHarness h;
  const std::string eof("\xfe\x00\x00\x02\x00", 5);
  auto one_row = [&](const std::string& v) {
    return mysql_packet(1, "\x01") + column(2, "t", "a") + mysql_packet(3, eof) + mysql_packet(4, lenenc(v)) +
           mysql_packet(5, eof);
  };
  h.client(mysql_packet(0, "\x03SELECT 1") + mysql_packet(0, "\x03SELECT 2") +
           mysql_packet(0, "\x03SELECT 3"));
  h.server(one_row("one"));
  h.client(mysql_packet(0, "\x03SELECT 4"));  // sent as the first response came
  const std::string two = one_row("two");
  h.server(two.substr(0, 20));
  h.client(mysql_packet(0, "\x03SELECT 5"));  // sent while the second one came
  h.server(two.substr(20) + one_row("three"));
  h.server(one_row("four"));
  h.server(one_row("five"));
  h.client(mysql_packet(0, "\x03SELECT 6"));
  h.server(one_row("six"));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 6u);
  const char* values[] = {"one", "two", "three", "four", "five", "six"};
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(contains(ev[i], "\"query\":\"SELECT " + std::to_string(i + 1) + "\"")) << ev[i];
    EXPECT_TRUE(contains(ev[i], "\"response\":\"a\\n" + std::string(values[i]) + "\\n\"")) << ev[i];
  }
  EXPECT_EQ(h.count("mysql.pipelined"), 4u);
  EXPECT_EQ(h.count("mysql.unmatched_requests"), 0u);
  EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u);
}

// A command sent while a pipelined connection's response is coming leaves what was read
// of that response as it was: its rows so far, its column count and names, its size.
TEST(Mysql, CommandSentInsideAResponseLeavesItWhole) {
  MysqlHarness h;
  const std::string eof("\xfe\x00\x00\x02\x00", 5);
  const std::string head = mysql_packet(1, "\x01") + column(2, "t", "a") + mysql_packet(3, eof);
  const std::string rows = mysql_packet(4, lenenc("r1")) + mysql_packet(5, lenenc("r2"));
  const std::string tail = mysql_packet(6, lenenc("r3")) + mysql_packet(7, eof);
  h.client(mysql_packet(0, "\x03SELECT 1") + mysql_packet(0, "\x03SELECT 2"));
  h.server(head + rows);
  h.client(mysql_packet(0, "\x03SELECT 3"));  // behind SELECT 2, two rows into SELECT 1's answer
  h.server(tail + head + tail + head + tail);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("num_rows":3)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("num_fields":1)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("response":"a\nr1\nr2\nr3\n")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], "\"bytes\":" + std::to_string(head.size() + rows.size() + tail.size())))
      << ev[0];
  for (int i : {1, 2}) EXPECT_TRUE(contains(ev[i], R"("num_rows":1)")) << ev[i];
  EXPECT_EQ(h.count("mysql.pipelined"), 2u);
  EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u);
}

// A capture of the client's side alone (no response ever seen): every command goes out
// unanswered, in the order sent, the queue behind the first bounded (kMaxWaiting): none
// is lost.
TEST(Mysql, CommandsOfAClientWhoseServerIsNotSeenAllGoOutUnanswered) {
  MysqlHarness h;
  for (int i = 1; i <= 100; ++i) h.client(mysql_packet(0, "\x03SELECT " + std::to_string(i)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(contains(ev[i], "\"query\":\"SELECT " + std::to_string(i + 1) + "\"")) << ev[i];
    EXPECT_TRUE(contains(ev[i], R"("message":"Unmatched request")")) << ev[i];
  }
  EXPECT_EQ(h.count("mysql.unmatched_requests"), 100u);
}

// MariaDB Connector/J with server-side prepared statements: the prepare and an execute
// of statement -1 (the one just prepared) sent together, and execute results without
// their column definitions (MARIADB_CLIENT_CACHE_METADATA: a byte after the column count
// says none follow), read with the columns the prepare response defined. Before, the
// prepare took the execute's response, every execute after was of an unknown statement,
// and the rows of a result without definitions were read as definitions.
TEST(Mysql, MariadbPrepareAndExecuteTogetherWithCachedMetadata) {
  MysqlHarness h;
  const std::string ok_eof("\xfe\x00\x00\x02\x00\x00\x00", 7);  // CLIENT_DEPRECATE_EOF's OK
  auto int_column = [](uint8_t seq, const std::string& name) {
    return mysql_packet(seq, lenenc("def") + lenenc("t") + lenenc("jt") + lenenc("jt") + lenenc(name) +
                                 lenenc(name) +
                                 std::string("\x0c\x3f\x00\x0b\x00\x00\x00\x03\x03\x50\x00\x00\x00", 13));
  };
  auto execute = [](uint32_t id, int32_t param) {
    std::string e("\x17", 1);
    for (int k = 0; k < 4; ++k) e += static_cast<char>(id >> (8 * k));
    e +=
        std::string("\x00\x01\x00\x00\x00\x00\x01\x03\x00", 9);  // no cursor, 1 iteration; bitmap; types LONG
    for (int k = 0; k < 4; ++k) e += static_cast<char>(param >> (8 * k));
    return mysql_packet(0, e);
  };
  auto row = [](uint8_t seq, int id, const std::string& name) {
    std::string r("\x00\x00", 2);  // header, NULL bitmap (2 columns + 2 bits)
    for (int k = 0; k < 4; ++k) r += static_cast<char>(id >> (8 * k));
    return mysql_packet(seq, r + lenenc(name));
  };
  const std::string counted_only = mysql_packet(1, std::string("\x02\x00", 2));  // 2 columns, none follow
  h.client(mysql_packet(0, "\x16SELECT id, name FROM jt WHERE id < ?") + execute(0xffffffff, 3));
  // Statement 7: 2 columns, 1 parameter; the parameter's and the columns' definitions.
  h.server(mysql_packet(1, std::string("\x00\x07\x00\x00\x00\x02\x00\x01\x00\x00\x00\x00", 12)) +
           int_column(2, "?") + int_column(3, "id") + column(4, "jt", "name"));
  h.server(counted_only + row(2, 1, "one") + row(3, 2, "two") + mysql_packet(4, ok_eof));
  h.client(execute(7, 2));
  h.server(counted_only + row(2, 1, "one") + mysql_packet(3, ok_eof));
  h.client(mysql_packet(0, "\x03SELECT 1"));
  h.server(mysql_packet(1, std::string("\x00\x00\x00\x02\x00\x00\x00", 7)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  for (int i : {0, 1, 2})
    EXPECT_TRUE(contains(ev[i], R"("query":"SELECT id, name FROM jt WHERE id < ?")")) << ev[i];
  EXPECT_TRUE(contains(ev[1], R"("num_rows":2)")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("response":"1,one\n2,two\n")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("num_rows":1)")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("response":"1,one\n")")) << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("query":"SELECT 1")")) << ev[3];
  EXPECT_EQ(h.count("mysql.pipelined"), 1u);
  for (const char* none : {"mysql.columns_unknown", "mysql.unmatched_requests", "mysql.unmatched_responses",
                           "mysql.unknown_statements"})
    EXPECT_EQ(h.count(none), 0u) << none;
}

// A segment of a pipelined batch lost on the client's side: how many commands it held
// is not known, so the responses after those of the commands ahead of it are not paired
// as they come; once the client sends after the server has answered at least the
// commands behind the loss, those commands take the last responses, in order (an OK, a
// result set's row count, a prepare's statement), and the lost ones' are counted
// unmatched. Before, each command behind the loss took the response before its own (the
// insert ids, the rows and the statement shifted by one).
TEST(Mysql, CommandsLostInAPipelinedBatchLeaveTheOthersTheirOwnResponses) {
  MysqlHarness h;
  auto ok = [](uint8_t insert_id) {
    return mysql_packet(
        1, std::string("\x00\x01", 2) + static_cast<char>(insert_id) + std::string("\x02\x00\x00\x00", 4));
  };
  const std::string eof("\xfe\x00\x00\x02\x00", 5);
  const std::string lost = mysql_packet(0, "\x03INSERT INTO t VALUES (2)");
  h.client(mysql_packet(0, "\x03INSERT INTO t VALUES (1)"));
  MysqlHarness::lose(true, h.conn, lost);
  h.client(mysql_packet(0, "\x03SELECT a FROM t") + mysql_packet(0, "\x16SELECT a FROM t WHERE a = ?") +
           mysql_packet(0, "\x03INSERT INTO t VALUES (5)") + mysql_packet(0, "\x03INSERT INTO t VALUES (1)"));
  const std::string rows = mysql_packet(1, "\x01") + column(2, "t", "a") + mysql_packet(3, eof) +
                           mysql_packet(4, lenenc("x")) + mysql_packet(5, lenenc("y")) + mysql_packet(6, eof);
  // Statement 7: 1 column, 1 parameter.
  const std::string prepared =
      mysql_packet(1, std::string("\x00\x07\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00", 12)) +
      column(2, "", "?") + mysql_packet(3, eof) + column(4, "t", "a") + mysql_packet(5, eof);
  const std::string duplicate =
      mysql_packet(1, std::string("\xff\x26\x04#23000", 9) + "Duplicate entry '1' for key 'PRIMARY'");
  h.server(ok(1) + ok(2) + rows + prepared + ok(5) + duplicate);
  std::string execute("\x17\x07\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x00\x05\x00\x00\x00", 18);
  h.client(mysql_packet(0, execute));
  h.server(mysql_packet(1, "\x01") + column(2, "t", "a") + mysql_packet(3, eof) +
           mysql_packet(4, std::string("\x00\x00", 2) + lenenc("x")) + mysql_packet(5, eof));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 6u);
  EXPECT_TRUE(contains(ev[0], "\"query\":\"INSERT INTO t VALUES (1)\"")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("insert_id":1)")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("query":"SELECT a FROM t")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("num_rows":2)")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("num_fields":1)")) << ev[1];
  EXPECT_TRUE(contains(ev[1], "\"bytes\":" + std::to_string(rows.size()))) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("query":"SELECT a FROM t WHERE a = ?")")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("status":"OK")")) << ev[2];
  EXPECT_TRUE(contains(ev[3], "\"query\":\"INSERT INTO t VALUES (5)\"")) << ev[3];
  EXPECT_TRUE(contains(ev[3], R"("insert_id":5)")) << ev[3];
  EXPECT_TRUE(contains(ev[4], "\"query\":\"INSERT INTO t VALUES (1)\"")) << ev[4];
  EXPECT_TRUE(contains(ev[4], R"("status":"Error")")) << ev[4];
  EXPECT_TRUE(contains(ev[4], R"("error_code":1062)")) << ev[4];
  EXPECT_TRUE(contains(ev[4], R"("error_message":"23000: Duplicate entry '1' for key 'PRIMARY'")")) << ev[4];
  EXPECT_TRUE(contains(ev[4], "\"bytes\":" + std::to_string(duplicate.size()))) << ev[4];
  // The statement the prepare behind the loss made is known to the execute after.
  EXPECT_TRUE(contains(ev[5], R"("query":"SELECT a FROM t WHERE a = ?")")) << ev[5];
  EXPECT_TRUE(contains(ev[5], R"("num_rows":1)")) << ev[5];
  for (const auto& e : ev) EXPECT_FALSE(contains(e, "\"message\"")) << e;
  EXPECT_EQ(h.count("mysql.unmatched_responses"), 1u);  // the lost insert's
  EXPECT_EQ(h.count("mysql.unmatched_requests"), 0u);
  EXPECT_EQ(h.count("mysql.unknown_statements"), 0u);
}

// The same loss when the client sends again before the server has answered the commands
// behind it (a client that does not wait for its batch): the new command waits behind
// them, and once the server has answered them all every command takes its own.
TEST(Mysql, CommandSentBeforeTheCommandsBehindALossAreAnsweredWaitsBehindThem) {
  MysqlHarness h;
  auto ok = [](uint8_t insert_id) {
    return mysql_packet(
        1, std::string("\x00\x01", 2) + static_cast<char>(insert_id) + std::string("\x02\x00\x00\x00", 4));
  };
  h.client(mysql_packet(0, "\x03INSERT INTO t VALUES (1)"));
  MysqlHarness::lose(true, h.conn, mysql_packet(0, "\x03INSERT INTO t VALUES (2)"));
  h.client(mysql_packet(0, "\x03INSERT INTO t VALUES (3)") + mysql_packet(0, "\x03INSERT INTO t VALUES (4)"));
  h.server(ok(1) + ok(2));
  h.client(mysql_packet(0, "\x03INSERT INTO t VALUES (6)"));  // 3 and 4 not answered yet
  h.server(ok(3) + ok(4) + ok(6));
  h.client(mysql_packet(0, "\x03INSERT INTO t VALUES (7)"));
  h.server(ok(7));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 5u);
  const int id[] = {1, 3, 4, 6, 7};
  for (int i = 0; i < 5; ++i) {
    const std::string n = std::to_string(id[i]);
    EXPECT_TRUE(contains(ev[i], "INSERT INTO t VALUES (" + n + ")")) << ev[i];
    EXPECT_TRUE(contains(ev[i], "\"insert_id\":" + n)) << ev[i];
  }
  EXPECT_EQ(h.count("mysql.unmatched_requests"), 0u);
  EXPECT_EQ(h.count("mysql.unmatched_responses"), 1u);
}

// A response of a pipelined batch lost on the server's side: which of the commands sent
// before the client had the lost bytes were answered in them is not known; the responses
// after the loss answer the last commands, so once the server has sent as many as could
// be left (or at the connection's end) those take them in order and the first go out
// unanswered. Before, every command of the batch sent before that went out unanswered.
TEST(Mysql, ResponseLostInAPipelinedBatchCostsItsOwnCommandOnly) {
  auto ok = [](uint8_t insert_id) {
    return mysql_packet(
        1, std::string("\x00\x01", 2) + static_cast<char>(insert_id) + std::string("\x02\x00\x00\x00", 4));
  };
  for (const bool next_batch : {true, false}) {
    MysqlHarness h;
    std::string batch;
    for (int i = 1; i <= 5; ++i)
      batch += mysql_packet(0, "\x03INSERT INTO t VALUES (" + std::to_string(i) + ")");
    h.client(batch);
    h.server(ok(1));
    MysqlHarness::lose(false, h.conn, ok(2));
    h.server(ok(3) + ok(4) + ok(5));
    if (next_batch) {
      h.client(mysql_packet(0, "\x03INSERT INTO t VALUES (6)"));
      h.server(ok(6));
    }
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), next_batch ? 6u : 5u);
    for (int i = 1; i <= static_cast<int>(ev.size()); ++i) {
      const std::string n = std::to_string(i), &e = ev[i - 1];
      EXPECT_TRUE(contains(e, "INSERT INTO t VALUES (" + n + ")")) << e;
      if (i == 2)
        EXPECT_TRUE(contains(e, R"("message":"Unmatched request")")) << e;
      else
        EXPECT_TRUE(contains(e, "\"insert_id\":" + n)) << e;
    }
    EXPECT_EQ(h.count("mysql.unmatched_requests"), 1u);
    EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u);
  }
}

// Its events: queries 1-8 but the lost 6, in order; 2 and 4 unanswered (saying
// `unanswered`), the others with their one-row response (column `column`, value i).
void expect_conversation_with_losses(const std::vector<std::string>& ev, const std::string& unanswered,
                                     const std::string& column) {
  ASSERT_EQ(ev.size(), 7u);
  const int number[] = {1, 2, 3, 4, 5, 7, 8};
  for (std::size_t k = 0; k < ev.size(); ++k) {
    const std::string n = std::to_string(number[k]);
    EXPECT_TRUE(contains(ev[k], "\"query\":\"SELECT " + n + "\"")) << ev[k];
    const std::string answer = "\"response\":\"" + column + "\\n" + n + "\\n\"";
    EXPECT_TRUE(contains(ev[k], n == "2" || n == "4" ? unanswered : answer)) << ev[k];
  }
}

// Past the login, a response lost whole or cut at its start leaves its query
// unanswered, a query lost leaves its response unmatched, and the stream is taken up
// where a packet opens a message again, every later pair its own. Before, any gap
// outside a packet's payload left the connection.
TEST(Mysql, LostSegmentsCostTheirOwnMessagesOnly) {
  MysqlHarness h;
  auto query = [](int i) { return mysql_packet(0, "\x03SELECT " + std::to_string(i)); };
  auto rows = [](int i) {
    const std::string eof("\xfe\x00\x00\x02\x00", 5);
    return mysql_packet(1, "\x01") + column(2, "t", "a") + mysql_packet(3, eof) +
           mysql_packet(4, lenenc(std::to_string(i))) + mysql_packet(5, eof);
  };
  test::converse_with_losses(h, query, rows, 10);
  expect_conversation_with_losses(h.finish(), R"("message":"Unmatched request")", "a");
  EXPECT_EQ(h.count("mysql.gaps"), 3u);
  EXPECT_EQ(h.count("mysql.resynced"), 3u);
  EXPECT_GT(h.count("mysql.resync_skipped_bytes"), 0u);
  EXPECT_GT(h.count("mysql.unmatched_responses"), 0u);  // the lost query's
  EXPECT_EQ(h.count("mysql.violations"), 0u);
}

// After a gap the next bytes are taken as a message start only when they hold
// together as one: value bytes lost into (the first segment of a response, of a large
// INSERT) begin with what reads as a packet header of megabytes (a response's sequence 1
// and a column count byte; a command's sequence 0 and COM_QUERY), which had passed over
// every later message (a live MariaDB capture with 200 KB random values, one segment
// dropped: 60 requests unmatched). Now the response's start must be an OK/ERR of a
// reply's length or a column count followed by the result's next packet, a command one
// of a length it can have with text after a query's command byte; each loss costs its
// own exchange. A waiting command whose response began in lost bytes goes out when the
// client loses bytes too (the next command's head), not with the next response found.
TEST(Mysql, ValueBytesAfterAGapAreNoMessageStart) {
  MysqlHarness h;
  const std::string eof("\xfe\x00\x00\x02\x00", 5);
  auto result = [&](const std::string& value) {
    return mysql_packet(1, "\x01") + column(2, "b", "v") + mysql_packet(3, eof) +
           mysql_packet(4, "\xfc" +
                               std::string{static_cast<char>(value.size() & 0xff),
                                           static_cast<char>(value.size() >> 8)} +
                               value) +
           mysql_packet(5, eof);
  };
  // A value whose bytes at 2,000 read as a response header: 5.4 MB, sequence 1, 0xdb.
  std::string value(3000, 'v');
  value.replace(2000, 5, std::string("\x75\x94\x53\x01\xdb", 5));
  h.client(mysql_packet(0, "\x03SELECT v FROM b WHERE k = 1"));
  const std::string r1 = result(value);
  const std::size_t cut = r1.find(std::string("\x75\x94\x53\x01\xdb", 5));
  MysqlHarness::lose(false, h.conn, r1.substr(0, cut));
  h.server(r1.substr(cut));
  // An INSERT whose value bytes after its lost first segment read as a 4 MB COM_QUERY.
  std::string insert = "\x03INSERT INTO b VALUES (2, '" + std::string(3000, 'w') + "')";
  insert.replace(2000, 6, std::string("\xff\xff\x40\x00\x03\x85", 6));
  const std::string q2 = mysql_packet(0, insert);
  const std::size_t cut2 = q2.find(std::string("\xff\xff\x40\x00\x03\x85", 6));
  MysqlHarness::lose(true, h.conn, q2.substr(0, cut2));
  h.client(q2.substr(cut2));
  h.server(mysql_packet(1, std::string("\x00\x01\x00\x02\x00\x00\x00", 7)));
  for (int i = 3; i <= 5; ++i) {
    h.client(mysql_packet(0, "\x03SELECT v FROM b WHERE k = " + std::to_string(i)));
    h.server(result("value " + std::to_string(i)));
  }
  const auto ev = h.finish();
  int paired = 0;
  for (const std::string& e : ev) {
    for (int i = 3; i <= 5; ++i)
      if (contains(e, "WHERE k = " + std::to_string(i) + "\"")) {
        EXPECT_TRUE(contains(e, "value " + std::to_string(i))) << e;
        EXPECT_TRUE(contains(e, R"("status":"OK")")) << e;
        ++paired;
      }
  }
  EXPECT_EQ(paired, 3);
  // The first query's response began in the lost bytes: out unanswered, noted, not
  // paired with the INSERT's OK.
  ASSERT_FALSE(ev.empty());
  EXPECT_TRUE(contains(ev[0], "WHERE k = 1")) << ev[0];
  EXPECT_TRUE(contains(ev[0], "Packet loss while capturing the response")) << ev[0];
  EXPECT_FALSE(contains(ev[0], "affected_rows")) << ev[0];
  EXPECT_EQ(h.count("mysql.violations"), 0u);
}

// "SELECT i", the odd ones long enough to be cut by a snap length of 100 bytes.
std::string cut_query(int i) {
  return "SELECT " + std::to_string(i) + (i % 2 ? " FROM a_table_with_a_long_name WHERE x = 1" : "");
}

// The events of cut_query(1..4) each answered by its one-row result (column `column`,
// value i): all paired, in order, the cut ones noting the loss.
void expect_cut_queries_paired(const std::vector<std::string>& ev, const std::string& column) {
  ASSERT_EQ(ev.size(), 4u);
  for (int i = 1; i <= 4; ++i) {
    const std::string& e = ev[static_cast<std::size_t>(i - 1)];
    EXPECT_TRUE(contains(e, "\"query\":\"SELECT " + std::to_string(i))) << e;
    EXPECT_TRUE(contains(e, "\"response\":\"" + column + "\\n" + std::to_string(i) + "\\n\"")) << e;
    EXPECT_TRUE(contains(e, R"("status":"OK")")) << e;
    EXPECT_EQ(contains(e, "Packet loss while capturing the request"), i % 2 == 1) << e;
  }
}

// A capture with a snap length of 100 bytes (46 of each segment's payload): queries
// longer than that keep their first bytes, and each is published with its response
// (the one-row result whose value names the query, a packet to a segment) and a note;
// short ones as whole.
// Before, a cut query was dropped at the gap and its response published unmatched.
TEST(Mysql, QueriesCutByTheSnapLengthStillPair) {
  MysqlHarness h;
  h.snap = 100;
  const std::string eof("\xfe\x00\x00\x02\x00", 5);
  for (int i = 1; i <= 4; ++i) {
    const std::string q = cut_query(i);
    h.client(mysql_packet(0, "\x03" + q));
    // The response a packet to a segment, each within the snap length.
    h.server(mysql_packet(1, "\x01"));
    h.server(column(2, "t", "a"));
    h.server(mysql_packet(3, eof));
    h.server(mysql_packet(4, lenenc(std::to_string(i))));
    h.server(mysql_packet(5, eof));
  }
  expect_cut_queries_paired(h.finish(), "a");
  EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u);
}

std::string pg(char type, const std::string& body) {
  const uint32_t n = static_cast<uint32_t>(body.size() + 4);
  return std::string{type, static_cast<char>(n >> 24), static_cast<char>(n >> 16 & 0xff),
                     static_cast<char>(n >> 8 & 0xff), static_cast<char>(n & 0xff)} +
         body;
}

// "SELECT i" and its result: one row, column n, value i.
std::string pg_query(int i) { return pg('Q', "SELECT " + std::to_string(i) + std::string(1, '\0')); }
std::string pg_result(int i) {
  const std::string v = std::to_string(i);
  return pg('T', std::string("\x00\x01n\0", 4) + std::string(18, '\0')) +
         pg('D', std::string("\x00\x01\x00\x00\x00", 5) + static_cast<char>(v.size()) + v) +
         pg('C', std::string("SELECT 1\0", 9)) + pg('Z', "I");
}

struct PgsqlHarness : test::StreamTest {
  test::Conn conn{50000, 5432, 100, 900};
  PgsqlHarness() {
    const uint16_t ports[] = {5432};
    decoders.enable("pgsql", ports).send_response = true;
    start();
  }
  void client(std::string_view s) { StreamTest::client(conn, s); }
  void server(std::string_view s) { StreamTest::server(conn, s); }
};

// A batch that binds a statement parsed in an earlier one (a JDBC driver's S_1 once its
// prepare threshold is reached: Bind/Execute/Sync only) has that statement's query; it
// had none (an empty query and method). A statement closed is forgotten.
TEST(Pgsql, BatchesBindingAStatementParsedBeforeCarryItsQuery) {
  PgsqlHarness h;
  const std::string z(1, '\0');
  const std::string ready = pg('Z', "I"), no_params = std::string(2, '\0');
  const auto bind_execute = [&](const std::string& stmt) {
    return pg('B', z + stmt + z + no_params + no_params + no_params) + pg('E', z + std::string(4, '\0')) +
           pg('S', "");
  };
  h.client(pg('P', "S_1" + z + "SELECT name FROM users" + z + no_params) + pg('S', ""));
  h.server(pg('1', "") + ready);
  for (int i = 0; i < 2; ++i) {
    h.client(bind_execute("S_1"));
    h.server(pg('2', "") + pg('C', "SELECT 0" + z) + ready);
  }
  h.client(pg('C', "SS_1" + z) + pg('S', ""));  // Close statement S_1
  h.server(pg('3', "") + ready);
  h.client(bind_execute("S_1"));
  h.server(pg('E', "SERROR" + z + "C26000" + z + "Mprepared statement \"S_1\" does not exist" + z + z) +
           ready);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 5u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(contains(ev[i], R"("query":"SELECT name FROM users")")) << ev[i];
  EXPECT_TRUE(contains(ev[1], R"("method":"SELECT")")) << ev[1];
  EXPECT_FALSE(contains(ev[4], "SELECT name FROM users")) << ev[4];  // closed: forgotten
  EXPECT_EQ(h.count("pgsql.statements_evicted"), 0u);
}

// A connection cycling through more named statements than the table holds (pgJDBC
// caches up to 256 a connection): those the table lets go of wait in the spilled log
// and come back when bound, so every batch has its query, the first bound again after
// 299 others; a statement closed is forgotten wherever it is. Past the log's 64 KiB of
// queries the oldest is forgotten, counted: a batch binding it has no query. Before,
// the table's 32 were all a connection remembered.
TEST(Pgsql, NamedStatementsPastTheTableWaitInTheSpilledLog) {
  PgsqlHarness h;
  const std::string z(1, '\0'), ready = pg('Z', "I"), no_params(2, '\0');
  auto parse = [&](int i, const std::string& pad) {
    h.client(pg('P', "S_" + std::to_string(i) + z + "SELECT " + std::to_string(i) + pad + z + no_params) +
             pg('S', ""));
    h.server(pg('1', "") + ready);
  };
  auto bind = [&](int i) {
    h.client(pg('B', z + "S_" + std::to_string(i) + z + no_params + no_params + no_params) +
             pg('E', z + std::string(4, '\0')) + pg('S', ""));
    h.server(pg('2', "") + pg('C', "SELECT 1" + z) + ready);
  };
  constexpr int kMany = 300;
  for (int i = 1; i <= kMany; ++i) parse(i, "");
  for (int i = 1; i <= kMany; ++i) bind(i);
  h.client(pg('C', "S" + std::string("S_7") + z) + pg('S', ""));  // Close: forgotten
  h.server(pg('3', "") + ready);
  bind(7);
  // Queries of 1 KiB: the log holds about 64 of them; the first of 120 is forgotten.
  const std::string pad = " /*" + std::string(1000, 'x') + "*/";
  for (int i = 1001; i <= 1120; ++i) parse(i, pad);
  bind(1001);
  bind(1120);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), static_cast<std::size_t>(2 * kMany + 2 + 120 + 2));
  for (int i = 1; i <= kMany; ++i)
    ASSERT_TRUE(contains(ev[kMany + i - 1], "\"query\":\"SELECT " + std::to_string(i) + "\""))
        << i << " " << ev[kMany + i - 1];
  EXPECT_FALSE(contains(ev[2 * kMany + 1], "SELECT 7")) << ev[2 * kMany + 1];
  EXPECT_FALSE(contains(ev[2 * kMany + 122], "SELECT 1001")) << ev[2 * kMany + 122];
  EXPECT_TRUE(contains(ev[2 * kMany + 123], "\"query\":\"SELECT 1120 /*")) << ev[2 * kMany + 123];
  EXPECT_GT(h.count("pgsql.statements_evicted"), 0u);
  EXPECT_EQ(h.count("pgsql.store_full"), 0u);
}

// The same for PostgreSQL: a simple query longer than the snap length keeps its first
// bytes and is published with its response and a note.
TEST(Pgsql, QueriesCutByTheSnapLengthStillPair) {
  PgsqlHarness h;
  h.snap = 100;
  for (int i = 1; i <= 4; ++i) {
    const std::string q = cut_query(i);
    h.client(pg('Q', q + std::string(1, '\0')));
    const std::string v = std::to_string(i);  // the response a message to a segment
    h.server(pg('T', std::string("\x00\x01n\0", 4) + std::string(18, '\0')));
    h.server(pg('D', std::string("\x00\x01\x00\x00\x00", 5) + static_cast<char>(v.size()) + v));
    h.server(pg('C', std::string("SELECT 1\0", 9)));
    h.server(pg('Z', "I"));
  }
  expect_cut_queries_paired(h.finish(), "n");
  EXPECT_EQ(h.count("pgsql.unmatched_responses"), 0u);
}

TEST(Pgsql, QueryLongerThanTheLimitIsCutAndNoted) {
  PgsqlHarness h;
  const std::string m = pg('Q', bulk_insert() + std::string(1, '\0'));
  for (std::size_t at = 0; at < m.size(); at += 1400) h.client(m.substr(at, 1400));
  h.server(pg('C', std::string("INSERT 0 1500\0", 14)) + pg('Z', "I"));
  h.client(pg('Q', std::string("SELECT 1\0", 9)));
  h.server(pg('C', std::string("SELECT 1\0", 9)) + pg('Z', "I"));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("message":"query longer than 16 KiB; cut")")) << ev[0].substr(0, 300);
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")")) << ev[0].substr(0, 300);
  EXPECT_TRUE(contains(ev[0], "INSERT INTO t VALUES (0,'x")) << ev[0].substr(0, 300);
  EXPECT_FALSE(contains(ev[1], "message")) << ev[1];
  EXPECT_EQ(h.count("pgsql.query_truncated"), 1u);
}

TEST(Pgsql, AcceptedSslRequestStopsDecoding) {
  PgsqlHarness h;
  h.client(std::string("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8));
  h.server("S");
  h.client(std::string("\x16\x03\x01\x00\x05hello", 10));
  EXPECT_TRUE(h.finish().empty());
  EXPECT_EQ(h.count("pgsql.encrypted_connections"), 1u);
  EXPECT_EQ(h.count("pgsql.malformed"), 0u);
}

TEST(Pgsql, RefusedSslRequestGoesOnInTheClear) {
  PgsqlHarness h;
  h.client(std::string("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8));
  h.server("N");
  const std::string params = std::string("user\0app\0\0", 10);
  const uint32_t n = static_cast<uint32_t>(8 + params.size());
  h.client(std::string{0, 0, 0, static_cast<char>(n), 0, 3, 0, 0} + params);
  h.server(pg('R', std::string(4, '\0')) + pg('S', std::string("a\0b\0", 4)) + pg('Z', "I"));
  h.client(pg('Q', std::string("SELECT 1;\0", 10)));
  h.server(pg('T', std::string("\x00\x01n\0", 4) + std::string(18, '\0')) +
           pg('D', std::string("\x00\x01\x00\x00\x00\x01"
                               "1",
                               7)) +
           pg('C', std::string("SELECT 1\0", 9)) + pg('Z', "I"));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("query":"SELECT 1")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("response":"n\n1\n")")) << ev[0];
}

// PostgreSQL 17's direct SSL: the client opens with a TLS ClientHello, no SSL request.
TEST(Pgsql, DirectSslHandsTheConnectionToTls) {
  PgsqlHarness h;
  expect_tls_takes_over(h, "pgsql.encrypted_connections", "pgsql.malformed");
}

// A segment of the startup lost to the capture: the queries after it are read and
// paired (before, a gap in the startup left the connection). The SSL request lost: the
// server's 'N' that answers it is passed over. The server's authentication and
// ReadyForQuery lost: the queries meet the responses that come next (the bytes lost
// were the startup's end, not a response's start). The startup message lost: the
// authentication messages are passed over.
TEST(Pgsql, StartupSegmentLostLeavesTheQueriesRead) {
  const std::string ssl("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8);
  const std::string params("user\0app\0\0", 10);
  const uint32_t len = static_cast<uint32_t>(8 + params.size());
  const std::string startup = std::string{0, 0, 0, static_cast<char>(len), 0, 3, 0, 0} + params;
  const std::string ready = pg('R', std::string(4, '\0')) + pg('S', std::string("a\0b\0", 4)) + pg('Z', "I");
  for (int lost = 0; lost < 3; ++lost) {
    PgsqlHarness h;
    h.handshake(h.conn);
    auto send = [&](bool client, int which, const std::string& s) {
      if (which == lost)
        test::StreamTest::lose(client, h.conn, s);
      else if (client)
        h.client(s);
      else
        h.server(s);
    };
    send(true, 0, ssl);
    h.server("N");
    send(true, 2, startup);
    h.server(pg('R', std::string("\x00\x00\x00\x03", 4)));  // a clear-text password, please
    h.client(pg('p', std::string("secret\0", 7)));
    send(false, 1, ready);
    for (int i = 1; i <= 3; ++i) {
      h.client(pg_query(i));
      h.server(pg_result(i));
    }
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 3u) << lost;
    for (int i = 1; i <= 3; ++i) {
      const std::string n = std::to_string(i);
      EXPECT_TRUE(contains(ev[i - 1], "\"query\":\"SELECT " + n + "\"")) << ev[i - 1];
      EXPECT_TRUE(contains(ev[i - 1], "\"response\":\"n\\n" + n + "\\n\"")) << ev[i - 1];
    }
    EXPECT_EQ(h.count("pgsql.gaps"), 1u) << lost;
    EXPECT_EQ(h.count("pgsql.responses_lost"), 0u) << lost;
    EXPECT_EQ(h.count("pgsql.violations"), 0u) << lost;
  }
}

TEST(Pgsql, HoleInsideARowKeepsFramingAndIsNoted) {
  PgsqlHarness h;
  h.client(pg('Q', std::string("SELECT v FROM t\0", 16)));
  const std::string value(20000, 'v');
  const std::string row = pg('D', std::string("\x00\x01\x00\x00\x4e\x20", 6) + value);
  h.server(pg('T', std::string("\x00\x01v\0", 4) + std::string(18, '\0')) + row.substr(0, 3000));
  h.conn.sseq += 10000;  // 10000 bytes of the row never captured
  h.server(row.substr(13000) + pg('C', std::string("SELECT 1\0", 9)) + pg('Z', "I"));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("num_rows":1)")) << ev[0].substr(0, 300);
  EXPECT_TRUE(contains(ev[0], R"("message":"Packet loss while capturing the response")"));
  EXPECT_EQ(h.count("pgsql.gaps"), 1u);
}

// The same losses: a response whose start was lost leaves its query out alone with a
// note, a gap that ends inside a message is passed over to the next message start, and
// every later pair is its own. Before, any gap outside a message's payload left the
// connection.
TEST(Pgsql, LostSegmentsCostTheirOwnMessagesOnly) {
  PgsqlHarness h;
  test::converse_with_losses(h, pg_query, pg_result, 8);
  expect_conversation_with_losses(h.finish(), "its response began in bytes the capture lost", "n");
  EXPECT_EQ(h.count("pgsql.responses_lost"), 2u);
  EXPECT_EQ(h.count("pgsql.resynced"), 3u);
  EXPECT_GT(h.count("pgsql.resync_skipped_bytes"), 0u);
  EXPECT_EQ(h.count("pgsql.violations"), 0u);
}

// Pipelined batches of three queries, the client waiting for each batch's answers.
// A segment holding a whole batch's responses lost: the batch goes out unanswered, and
// the next batch meets its own responses (before, every later query took the response
// three before its own). One response of a batch lost: only its query.
TEST(Pgsql, LostResponsesOfAPipelinePairTheRestRight) {
  PgsqlHarness h;
  h.handshake(h.conn);
  auto batch = [](int first) { return pg_query(first) + pg_query(first + 1) + pg_query(first + 2); };
  auto answers = [](int first) { return pg_result(first) + pg_result(first + 1) + pg_result(first + 2); };
  h.client(batch(1));
  h.server(answers(1));
  h.client(batch(4));
  test::StreamTest::lose(false, h.conn, answers(4));  // the client has them: its next batch ACKs them
  h.client(batch(7));
  h.server(answers(7));
  h.client(batch(10));
  h.server(pg_result(10));
  test::StreamTest::lose(false, h.conn, pg_result(11));
  h.client("");  // the client's ACK of the lost response
  h.server(pg_result(12));
  h.client(pg_query(13));
  h.server(pg_result(13));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 13u);
  for (int i = 1; i <= 13; ++i) {
    const std::string& e = ev[i - 1];
    const std::string n = std::to_string(i);
    EXPECT_TRUE(contains(e, "\"query\":\"SELECT " + n + "\"")) << e;
    const bool lost = (i >= 4 && i <= 6) || i == 11;
    EXPECT_TRUE(contains(
        e, lost ? "its response began in bytes the capture lost" : "\"response\":\"n\\n" + n + "\\n\""))
        << i << " " << e;
  }
  EXPECT_EQ(h.count("pgsql.responses_lost"), 4u);
  EXPECT_EQ(h.count("pgsql.unmatched_responses"), 0u);
}

// The last segment of an extended-protocol batch lost (its Execute and Sync), the
// server's answer seen before the client's next query shows the loss: the answer's
// ReadyForQuery closes the batch, which gets it, and the next query gets its own.
// Before, the batch stayed open, took the next query's response, and every later pair
// was one off (a live capture's INSERT with a 1 MiB parameter, its last segment dropped:
// 32 transactions lost).
TEST(Pgsql, BatchWhoseSyncWasLostTakesItsOwnAnswer) {
  PgsqlHarness h;
  const std::string z(1, '\0'), no_params(2, '\0');
  h.client(pg_query(1));
  h.server(pg_result(1));
  h.client(pg('P', z + "SELECT 2" + z + no_params) + pg('B', z + z + no_params + no_params + no_params));
  test::StreamTest::lose(true, h.conn, pg('E', z + std::string(4, '\0')) + pg('S', ""));
  h.server(pg('1', "") + pg('2', "") + pg('D', std::string("\x00\x01\x00\x00\x00\x01", 6) + "2") +
           pg('C', "SELECT 1" + z) + pg('Z', "I"));
  for (int i = 3; i <= 5; ++i) {
    h.client(pg_query(i));
    h.server(pg_result(i));
  }
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_TRUE(contains(ev[1], R"("query":"SELECT 2")") && contains(ev[1], R"("status":"OK")")) << ev[1];
  for (int i : {1, 3, 4, 5})
    EXPECT_TRUE(contains(ev[i - 1], "\"response\":\"n\\n" + std::to_string(i) + "\\n\"")) << ev[i - 1];
  EXPECT_EQ(h.count("pgsql.unmatched_responses"), 0u);
  EXPECT_EQ(h.count("pgsql.unmatched_requests"), 0u);
}

// A query whose last bytes the capture lost, answered before the capture showed the
// loss: the server's response, acknowledging the lost bytes, waits for them, goes out
// when the wait is given up and finds no query waiting (the query is read only at the
// gap, told with the client's next bytes). The query then goes out alone, noted, and
// each later query meets its own response. Before, it waited and took the next query's
// response, every later pair one off (a live capture of 10 KB INSERTs, each segment
// dropped in turn: 20 runs lost 4 to 88 transactions).
TEST(Pgsql, QueryWhoseEndWasLostAfterItsResponseCameGoesOutAlone) {
  PgsqlHarness h;
  const std::string z(1, '\0');
  h.client(pg_query(1));
  h.server(pg_result(1));
  const std::string insert = pg('Q', "INSERT INTO t VALUES ('" + std::string(6000, 'x') + "')" + z);
  h.client(std::string_view(insert).substr(0, 1448));
  h.client(std::string_view(insert).substr(1448, 1448));
  test::StreamTest::lose(true, h.conn, std::string_view(insert).substr(2896));
  h.server(pg('C', "INSERT 0 1" + z) + pg('Z', "I"));
  h.ts += 2'000'000'000;  // the next query, seconds later
  for (int i = 3; i <= 5; ++i) {
    h.client(pg_query(i));
    h.server(pg_result(i));
  }
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_TRUE(contains(ev[1], R"("query":"INSERT INTO t VALUES)")) << ev[1].substr(0, 300);
  EXPECT_TRUE(contains(ev[1], "its end was lost after its response came")) << ev[1].substr(0, 300);
  for (int i : {1, 3, 4, 5}) {
    const std::string& e = ev[i == 1 ? 0 : i - 1];
    EXPECT_TRUE(contains(e, "\"query\":\"SELECT " + std::to_string(i) + "\"")) << e;
    EXPECT_TRUE(contains(e, "\"response\":\"n\\n" + std::to_string(i) + "\\n\"")) << e;
  }
}

// A segment lost with the head of a 1 MiB binary value (a bytea row in binary format,
// a Bind's parameter), either side: the rest of the value is passed over to the next
// message, and every later pair is its own. Random bytes hold a plausible header (a type
// letter, a length under 1 GiB) at one position in fifty: a start is taken only where
// the message's body holds together and the next header follows it. Before, the resync
// read a header inside the value, and the connection was left or its later responses
// went to the wrong queries (a live capture's 1 MiB values, each segment dropped in
// turn: 6 of 983 runs left the connection, 18 lost more than their own transaction).
TEST(Pgsql, LostHeadOfALongBinaryValueIsPassedOver) {
  PgsqlHarness h;
  std::mt19937 rng(7);
  auto in_segments = [&](bool from_client, const std::string& bytes, std::size_t from) {
    for (std::size_t at = from; at < bytes.size(); at += 8192)
      from_client ? h.client(std::string_view(bytes).substr(at, 8192))
                  : h.server(std::string_view(bytes).substr(at, 8192));
  };
  const std::string z(1, '\0');
  int q = 1;
  for (int round = 0; round < 4; ++round) {
    const std::string value = test::random_bytes(rng, 1 << 20);
    const uint32_t n = static_cast<uint32_t>(value.size());
    const std::string len{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                          static_cast<char>(n)};
    h.client(pg_query(q));
    h.server(pg_result(q++));
    // The row's head lost: T, and the first bytes of D.
    h.client(pg('Q', "SELECT b FROM t" + z));
    const std::string rows = pg('T', std::string("\x00\x01"
                                                 "b\0",
                                                 4) +
                                         std::string(18, '\0')) +
                             pg('D', std::string("\x00\x01", 2) + len + value) + pg('C', "SELECT 1" + z) +
                             pg('Z', "I");
    test::StreamTest::lose(false, h.conn, std::string_view(rows).substr(0, 5000 + 3000 * round));
    in_segments(false, rows, 5000 + 3000 * round);
    h.client(pg_query(q));
    h.server(pg_result(q++));
    // The Bind's head lost, its parameter a 1 MiB value.
    const std::string insert = pg('P', z + "INSERT INTO t VALUES ($1)" + z + std::string(2, '\0')) +
                               pg('B', z + z + std::string("\x00\x01\x00\x01\x00\x01", 6) + len + value +
                                           std::string("\x00\x00", 2)) +
                               pg('D', "P" + z) + pg('E', z + std::string(4, '\0')) + pg('S', "");
    test::StreamTest::lose(true, h.conn, std::string_view(insert).substr(0, 7000 + 2000 * round));
    in_segments(true, insert, 7000 + 2000 * round);
    h.server(pg('1', "") + pg('2', "") + pg('n', "") + pg('C', "INSERT 0 1" + z) + pg('Z', "I"));
  }
  h.client(pg_query(q));
  h.server(pg_result(q++));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 17u);
  for (int round = 0, i = 0, k = 1; round < 4; ++round) {
    EXPECT_TRUE(contains(ev[i], "\"response\":\"n\\n" + std::to_string(k) + "\\n\"")) << ev[i];
    EXPECT_TRUE(contains(ev[i + 1], "its response began in bytes the capture lost")) << ev[i + 1];
    EXPECT_TRUE(contains(ev[i + 2], "\"response\":\"n\\n" + std::to_string(k + 1) + "\\n\"")) << ev[i + 2];
    EXPECT_TRUE(contains(ev[i + 3], R"("status":"OK")") && contains(ev[i + 3], R"("num_rows":0)"))
        << ev[i + 3];
    i += 4, k += 2;
  }
  EXPECT_TRUE(contains(ev[16], "\"response\":\"n\\n9\\n\"")) << ev[16];
  EXPECT_EQ(h.count("pgsql.resynced"), 8u);
  EXPECT_GT(h.count("pgsql.resync_skipped_bytes"), 8000000u);
  EXPECT_EQ(h.count("pgsql.violations"), 0u);
  EXPECT_EQ(h.count("pgsql.unmatched_responses"), 4u);  // the rest of each response whose head was lost
  EXPECT_EQ(h.count("stream.detached"), 0u);
}

}  // namespace
}  // namespace tapbeat
