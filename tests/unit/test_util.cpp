#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <ctime>
#include <limits>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "decode/transaction_event.hpp"
#include "event/agent.hpp"
#include "event/emitter.hpp"
#include "event/event_queue.hpp"
#include "event/json_writer.hpp"
#include "util/encode.hpp"
#include "util/packet_ring.hpp"
#include "util/spsc_ring.hpp"

namespace tapbeat {
namespace {

TEST(JsonWriter, EscapesAndReplacesInvalidUtf8) {
  char buf[256];
  JsonWriter w(buf, sizeof buf);
  w.begin_object();
  w.field("a", std::string_view("q\"b\\n\n\x01\xC3\xA9\xFF", 10));
  w.field_uint("n", 42);
  w.begin_array("l");
  w.boolean(true);
  w.sint(-1);
  w.end_array();
  w.end_object();
  EXPECT_EQ(w.view(), "{\"a\":\"q\\\"b\\\\n\\n\\u0001\xC3\xA9\xEF\xBF\xBD\",\"n\":42,\"l\":[true,-1]}");
  EXPECT_FALSE(w.overflow());
}

// An event too large for an empty output chunk is written again with its long strings
// cut (whole UTF-8 characters), each bounded alike, shorter at each try, and counted;
// one whose fixed part alone does not fit is dropped, counted.
TEST(EventEmitter, EventTooLargeForAChunkHasItsLongValuesCut) {
  EventQueue q(4, 16 * 1024);
  Counters c;
  std::atomic<bool> stop{false};
  EventEmitter em(q, c, false, stop);
  const std::string body = "\xC3\xA9" + std::string(40'000, 'b');  // starts with a 2-byte character
  const std::string raw(20'000, 'r');
  em.emit([&](JsonWriter& w) {
    w.begin_object();
    w.field("note", w.cutting() ? "cut" : "whole");
    w.field("body", body);
    w.key("raw");
    w.string_parts(raw, raw);
    w.field("small", "kept whole");
    w.end_object();
  });
  em.emit([&](JsonWriter& w) {  // its fixed part alone is past 16 KiB
    w.begin_object();
    for (int i = 0; i < 2000; ++i) w.field_uint("n", 1234567890);
    w.end_object();
  });
  em.flush();
  EventChunk* chunk = q.take_full();
  ASSERT_NE(chunk, nullptr);
  const std::string line(chunk->data, chunk->len);
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  ASSERT_EQ(parser.parse(line).get(e), simdjson::SUCCESS) << line.substr(0, 200);
  EXPECT_EQ(std::string_view(e["note"]), "cut");
  const std::string_view b = e["body"];
  EXPECT_LT(b.size(), 16u * 1024);
  EXPECT_GE(b.size(), 64u);
  EXPECT_EQ(b.substr(0, 2), "\xC3\xA9");
  EXPECT_EQ(std::string_view(e["small"]), "kept whole");
  const std::string_view r = e["raw"];
  EXPECT_EQ(r.size(), b.size());  // the same bound for a string of two parts
  EXPECT_EQ(c.get(Counter::events_values_cut), 1u);
  EXPECT_EQ(c.get(Counter::events_dropped_too_large), 1u);
  EXPECT_EQ(c.get(Counter::events_emitted), 1u);

  // The cut falls before a character the bound splits.
  char buf[64];
  JsonWriter w(buf, sizeof buf);
  w.cut_strings_to(2);
  w.string("a\xC3\xA9z");
  EXPECT_EQ(w.view(), "\"a\"");
  EXPECT_EQ(w.strings_cut(), 1u);
}

TEST(JsonWriter, RealsAreAlwaysNumbersJsonReadersTake) {
  char buf[256];
  JsonWriter w(buf, sizeof buf);
  w.begin_array();
  for (double d : {0.5, 3.0, -1e-7, 1234567890123456789.0, 2.748972759408349e20, -1e300,
                   std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()})
    w.real(d);
  w.end_array();
  EXPECT_EQ(
      w.view(),
      R"([0.5,3,-1e-07,1234567890123456768,2.748972759408349e+20,-1e+300,"NaN","Infinity","-Infinity"])");
}

TEST(JsonWriter, OverflowNeverWritesPastTheBuffer) {
  char buf[16] = {};
  buf[10] = 'Z';
  JsonWriter w(buf, 10);
  w.begin_object();
  w.field("key", "a long value that does not fit");
  EXPECT_TRUE(w.overflow());
  EXPECT_EQ(buf[10], 'Z');
  EXPECT_EQ(w.view(), R"({"key":"a )");  // what fitted: a prefix of the whole, nothing stale
}

TEST(JsonWriter, NumbersAreWrittenInPlaceOnlyWhereTheyFit) {
  // Written in place when 20 bytes are left, else copied: the same text either way,
  // and nothing past the buffer when it does not fit.
  const std::string want = "[18446744073709551615,-9223372036854775808,7]";
  for (std::size_t cap = 0; cap <= want.size() + 25; ++cap) {
    std::string buf(cap + 8, 'Z');
    JsonWriter w(buf.data(), cap);
    w.begin_array();
    w.uint(std::numeric_limits<uint64_t>::max());
    w.sint(std::numeric_limits<int64_t>::min());
    w.uint(7);
    w.end_array();
    EXPECT_EQ(buf.substr(cap), std::string(8, 'Z')) << cap;
    EXPECT_EQ(w.overflow(), cap < want.size()) << cap;
    if (!w.overflow()) {
      EXPECT_EQ(w.view(), want);
    }
  }
}

TEST(JsonWriter, PlainFastPathsAndEscapedOnesWriteTheSame) {
  // Keys and strings of up to 64 plain bytes take the one-copy path; longer or
  // escaped ones the general path. Both separate and nest the same way.
  char buf[512];
  JsonWriter w(buf, sizeof buf);
  w.begin_object();
  w.field("short", "plain");
  w.field(std::string(70, 'k'), std::string(70, 'v'));
  w.field("q\"k", "tab\t");
  w.begin_array("l");
  w.string("a");
  w.string(std::string(65, 'b'));
  w.end_array();
  w.end_object();
  EXPECT_EQ(w.view(), "{\"short\":\"plain\",\"" + std::string(70, 'k') + "\":\"" + std::string(70, 'v') +
                          "\",\"q\\\"k\":\"tab\\t\",\"l\":[\"a\",\"" + std::string(65, 'b') + "\"]}");
  char e[64];
  JsonWriter ew(e, sizeof e);
  ew.begin_object();
  ew.field("k", std::string_view{});  // an empty view with a null pointer
  ew.key(std::string_view{});
  ew.string(std::string_view{});
  ew.end_object();
  EXPECT_EQ(ew.view(), "{\"k\":\"\",\"\":\"\"}");
  char small[8];
  JsonWriter o(small, sizeof small);
  o.field("abcdef", "x");  // the fast path needs room for all of it: the general one records overflow
  EXPECT_TRUE(o.overflow());
}

TEST(JsonWriter, AsciiTextIsWrittenAsStringsAreAtEveryCapacity) {
  // Text tapbeat formats itself (an address, a time, a digest) skips the scan for bytes
  // to escape; what it writes, and where it stops short, is what string() does.
  const std::string addr = "2001:db8::ff00:42:8329", digest = "1:" + std::string(70, 'x');
  for (std::size_t cap = 0; cap <= 120; ++cap) {
    std::string a(cap + 8, 'Z'), b(cap + 8, 'Z');
    JsonWriter wa(a.data(), cap), wb(b.data(), cap);
    wa.begin_object();
    wb.begin_object();
    wa.field_ascii("ip", addr);
    wb.field("ip", addr);
    wa.begin_array("ids");
    wb.begin_array("ids");
    wa.ascii(digest);
    wb.string(digest);
    wa.ascii("");
    wb.string("");
    wa.end_array();
    wb.end_array();
    wa.end_object();
    wb.end_object();
    EXPECT_EQ(wa.overflow(), wb.overflow()) << cap;
    EXPECT_EQ(a.substr(cap), std::string(8, 'Z')) << cap;
    if (!wa.overflow()) {
      EXPECT_EQ(wa.view(), wb.view()) << cap;
    }
  }
}

TEST(TransactionEvent, EveryMemberWrittenWholeOrRecordedAsOverflowAtEveryCapacity) {
  // Every optional member set, strings to escape (long and short), more related
  // addresses than the two ends: the event reads as JSON with each member once, in
  // order; at every capacity it is written whole or records overflow, never past the end.
  const std::string long_domain = "a\"b." + std::string(200, 'd') + ".example";
  const std::string_view more_ips[] = {"10.9.9.9", "192.0.2.1", "10.9.9.9", "2001:db8::\"1"};
  const std::string_view hosts_more[] = {"ref\\erer.example"};
  const std::string_view users[] = {"alice", "b\tob"};
  TransactionFields t;
  t.type = "http";
  t.ok = false;
  t.error = "Response: \"cut\"";
  t.error_more = "packet loss";
  t.start_ns = 1'700'000'000'123'456'789ull;
  t.end_ns = t.start_ns + 5'000'000;
  set_ends(t, 6, 6, IpBytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 54321,
           IpBytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, 8080);
  t.client_bytes = 1234;
  t.server_bytes = 56789;
  t.event_type_extra = "protocol";
  t.network_protocol = "http";
  t.event_action = "act\"ion";
  t.event_outcome = "failure";
  t.server_domain = long_domain;
  t.related_host = "host.example";
  t.related_hosts_more = hosts_more;
  t.forwarded_ip = "198.51.100.7";
  t.related_ips = more_ips;
  t.event_category_extra = "authentication";
  t.has_sequence = true;
  t.event_sequence = -42;
  t.event_original = std::string_view("INVITE sip:x\r\n", 14);
  t.event_reason = "why";
  t.network_application = "app";
  t.iana_number = true;
  t.related_users = users;
  t.user_name = "us\"er";
  t.client_domain = "client.example";
  t.has_user_id = t.has_group_id = true;
  t.user_id = 1000;
  t.group_id = 100;
  AgentInfo agent;
  agent.hostname = "h\"" + std::string(100, 'h');
  prepare_agent(agent);
  NetworkSet internal;
  const auto write = [&](JsonWriter& w) {
    begin_transaction(w, t, agent, &internal);
    end_transaction(w);
  };
  std::string full(16384, '\0');
  JsonWriter big(full.data(), full.size());
  write(big);
  ASSERT_FALSE(big.overflow());
  const std::string want(big.view());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(want).get(doc), simdjson::SUCCESS) << want;
  std::size_t at = 0;
  for (
      const char* part :
      {R"("client":{"bytes":1234,"domain":"client.example","ip":"2001:db8::1","port":54321},)",
       R"("destination":{"bytes":56789,"domain":"a\"b.dddd)",
       R"("error":{"message":["Response: \"cut\"","packet loss"]})",
       R"("event":{"action":"act\"ion","category":["network","authentication"],"dataset":"http","duration":5000000,)",
       R"("kind":"event","original":"INVITE sip:x\r\n","outcome":"failure","reason":"why","sequence":-42,)",
       R"("type":["connection","protocol"]},"group":{"id":100},"host":{"name":"h\"hhh)",
       R"("network":{"application":"app","bytes":58023,"forwarded_ip":"198.51.100.7","community_id":"1:)",
       R"("iana_number":"6","protocol":"http","transport":"tcp","type":"ipv6"},)",
       R"("related":{"hosts":["host.example","ref\\erer.example"],"ip":["2001:db8::1","2001:db8::2","10.9.9.9","192.0.2.1","2001:db8::\"1"],"user":["alice","b\tob"]},)",
       R"("server":{"bytes":56789,"domain":"a\"b.)", R"("source":{"bytes":1234,"domain":"client.example",)",
       R"("status":"Error","type":"http","user":{"id":1000,"name":"us\"er"}})"}) {
    const std::size_t found = want.find(part, at);
    EXPECT_NE(found, std::string::npos) << part << " in " << want;
    if (found != std::string::npos) at = found;
  }
  auto every_capacity = [&](const std::string& whole) {
    for (std::size_t cap = 0; cap <= whole.size() + 2048; ++cap) {
      std::string buf(cap + 8, 'Z');
      JsonWriter w(buf.data(), cap);
      write(w);
      EXPECT_EQ(buf.substr(cap), std::string(8, 'Z')) << cap;
      if (!w.overflow()) {
        EXPECT_EQ(w.view(), whole) << cap;
      }
    }
  };
  every_capacity(want);
  // The same with every string short and plain (none escaped): the text takes its
  // room again after each string all the same.
  const std::string_view plain_ips[] = {"10.9.9.9", "192.0.2.1"};
  const std::string_view plain_hosts[] = {"referer.example"};
  const std::string_view plain_users[] = {"alice", "bob"};
  t.error = "Response: cut";
  t.event_action = "action";
  t.server_domain = "server.example";
  t.related_ips = plain_ips;
  t.related_hosts_more = plain_hosts;
  t.related_users = plain_users;
  t.event_original = "INVITE sip:x";
  t.user_name = "user";
  agent.hostname = "vm";
  prepare_agent(agent);
  std::string plain_full(16384, '\0');
  JsonWriter plain_big(plain_full.data(), plain_full.size());
  write(plain_big);
  ASSERT_FALSE(plain_big.overflow());
  ASSERT_EQ(parser.parse(std::string(plain_big.view())).get(doc), simdjson::SUCCESS);
  every_capacity(std::string(plain_big.view()));
}

TEST(JsonWriter, EveryByteToEscapeIsFoundAtEveryPlaceInShortStrings) {
  // The plainness check reads words, the tail as overlapping ones: a byte to escape
  // is found whatever the length and wherever it stands, and plain text of any
  // length takes the one-copy path unchanged.
  const unsigned char unsafe[] = {0x00, 0x01, 0x1F, '"', '\\', 0x7F + 1, 0xC3, 0xFF};
  char buf[256];
  for (std::size_t n = 0; n <= 64; ++n) {
    std::string s(n, 'x');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(0x20 + (i * 7) % 95);  // printable ASCII
    for (char& c : s)
      if (c == '"' || c == '\\') c = 'y';
    JsonWriter plain(buf, sizeof buf);
    plain.string(s);
    EXPECT_EQ(plain.view(), "\"" + s + "\"") << n;
    for (std::size_t at = 0; at < n; ++at) {
      for (unsigned char u : unsafe) {
        std::string t = s;
        t[at] = static_cast<char>(u);
        JsonWriter w(buf, sizeof buf);
        w.string(t);
        EXPECT_NE(w.view(), "\"" + t + "\"") << "length " << n << ", byte " << int{u} << " at " << at;
        JsonWriter k(buf, sizeof buf);
        k.key(t);
        EXPECT_NE(k.view(), "\"" + t + "\":") << "key length " << n << ", byte " << int{u} << " at " << at;
      }
    }
  }
}

// Past 64 bytes strings go through the escaper, which scans sixteen bytes a step: each
// byte to escape is escaped wherever it stands, alone or with another after it, and
// the bytes around it are copied unchanged, at every length across a few steps.
TEST(JsonWriter, LongStringsAreEscapedWhereverTheByteStands) {
  const std::pair<unsigned char, std::string> unsafe[] = {
      {0x00, "\\u0000"}, {0x01, "\\u0001"}, {0x1F, "\\u001f"},      {'"', "\\\""},
      {'\\', "\\\\"},    {'\n', "\\n"},     {0xFF, "\xEF\xBF\xBD"}, {0x80, "\xEF\xBF\xBD"}};
  std::vector<char> buf(1024);
  for (std::size_t n = 65; n <= 113; ++n) {
    std::string s(n, 'x');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(0x20 + (i * 7) % 95);
    for (char& c : s)
      if (c == '"' || c == '\\') c = 'y';
    for (std::size_t at = 0; at < n; ++at) {
      for (const auto& [u, esc] : unsafe) {
        std::string t = s, want = s;
        t[at] = static_cast<char>(u);
        want.replace(at, 1, esc);
        const std::size_t second = at + 17;
        if (second < n) {  // another one further on, past the next step
          t[second] = '"';
          want.replace(second + esc.size() - 1, 1, "\\\"");
        }
        JsonWriter w(buf.data(), buf.size());
        w.string(t);
        ASSERT_EQ(w.view(), "\"" + want + "\"") << "length " << n << ", byte " << int{u} << " at " << at;
      }
    }
    // A valid two-byte UTF-8 sequence across a step's end stays as it is.
    for (std::size_t at = 0; at + 1 < n; ++at) {
      std::string t = s;
      t[at] = '\xC3';
      t[at + 1] = '\xA9';
      JsonWriter w(buf.data(), buf.size());
      w.string(t);
      ASSERT_EQ(w.view(), "\"" + t + "\"") << "length " << n << " at " << at;
    }
  }
}

TEST(Agent, PreparedMembersEqualTheOnesRenderedEachTime) {
  AgentInfo a{"name \"q\"", "host", "id-1", "eph-2", "1.2.3"};
  a.tags = {"t1", "t\u00e92"};
  char b1[1024], b2[1024];
  JsonWriter w1(b1, sizeof b1), w2(b2, sizeof b2);
  w1.begin_object();
  write_beat_fields(w1, 1433536241436363000ull, a);
  w1.field("after", "x");
  w1.end_object();
  prepare_agent(a);
  ASSERT_FALSE(a.fixed_members.empty());
  w2.begin_object();
  write_beat_fields(w2, 1433536241436363000ull, a);
  w2.field("after", "x");
  w2.end_object();
  EXPECT_EQ(w1.view(), w2.view());
  EXPECT_TRUE(w2.view().starts_with("{\"@timestamp\":\"2015-06-05T20:30:41.436Z\",\"@metadata\":{"))
      << w2.view();
}

TEST(Encode, TimesMacsAndBase64) {
  char out[64];
  EXPECT_EQ(std::string(out, format_time_ms(1433536241436363000ull, out)), "2015-06-05T20:30:41.436Z");
  EXPECT_EQ(std::string(out, format_time_nano(1433536241436363000ull, out)), "2015-06-05T20:30:41.436363Z");
  EXPECT_EQ(std::string(out, format_time_nano(0, out)), "1970-01-01T00:00:00Z");
  // The same second again (kept from the last call), then the next one.
  EXPECT_EQ(std::string(out, format_time_ms(1433536241999000000ull, out)), "2015-06-05T20:30:41.999Z");
  EXPECT_EQ(std::string(out, format_time_ms(1433536242000000000ull, out)), "2015-06-05T20:30:42.000Z");
  // Broken-down times (a certificate's, a BSON date's), before 1970 and far after.
  format_civil(50, 0, 2, 3, 4, 5, out);
  EXPECT_EQ(std::string(out, 19), "1950-01-02T03:04:05");
  format_civil(8099, 11, 31, 23, 59, 59, out);
  EXPECT_EQ(std::string(out, 19), "9999-12-31T23:59:59");
  const uint8_t mac[6] = {0x0a, 0, 0x27, 0, 0, 0xff};
  format_mac(mac, out);
  EXPECT_EQ(std::string(out, 17), "0A-00-27-00-00-FF");
  const uint8_t b[] = {'f', 'o', 'o', 'b'};
  EXPECT_EQ(std::string(out, base64_encode(b, 4, out)), "Zm9vYg==");
  EXPECT_EQ(std::string(out, base64url_encode(b, 4, out)), "Zm9vYg");
}

// Timestamps at every precision against gmtime_r, in an order that moves between
// seconds, days and years and back (the kept last second and last day must follow).
TEST(Encode, TimesAtEveryPrecisionAreGmtimes) {
  std::mt19937_64 rng(3339);
  char out[64], want[64];
  for (int round = 0; round < 20000; ++round) {
    const uint64_t ns = rng() % 4'102'444'800'000'000'000ull;  // 1970 to 2100
    const int digits = static_cast<int>(rng() % 10);
    const time_t secs = static_cast<time_t>(ns / 1'000'000'000);
    struct tm tm;
    ASSERT_NE(gmtime_r(&secs, &tm), nullptr);
    int n = std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                          tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (digits == 9) {  // Go's RFC3339Nano: trailing zeros dropped
      char frac[16];
      std::snprintf(frac, sizeof frac, "%09u", static_cast<unsigned>(ns % 1'000'000'000));
      int len = 9;
      while (len > 0 && frac[len - 1] == '0') --len;
      if (len) n += std::snprintf(want + n, sizeof want - static_cast<std::size_t>(n), ".%.*s", len, frac);
    } else if (digits > 0) {
      char frac[16];
      std::snprintf(frac, sizeof frac, "%09u", static_cast<unsigned>(ns % 1'000'000'000));
      n += std::snprintf(want + n, sizeof want - static_cast<std::size_t>(n), ".%.*s", digits, frac);
    }
    want[n++] = 'Z';
    ASSERT_EQ(std::string(out, format_time_digits(ns, digits, out)),
              std::string(want, static_cast<std::size_t>(n)))
        << ns << " at " << digits;
    // The same day, another second.
    const uint64_t later = ns - ns % 86'400'000'000'000ull + (rng() % 86'400) * 1'000'000'000ull;
    const time_t ls = static_cast<time_t>(later / 1'000'000'000);
    ASSERT_NE(gmtime_r(&ls, &tm), nullptr);
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    ASSERT_EQ(std::string(out, format_time_digits(later, 0, out)), want);
  }
}

TEST(Encode, Ipv6TextIsInetNtops) {
  // Addresses with zero runs of every length and place (the "::" choice), the IPv4
  // forms, and random ones; each written as glibc's inet_ntop writes it.
  std::mt19937 rng(5952);
  std::vector<IpBytes> cases;
  for (int k = 0; k < 20000; ++k) {
    IpBytes a{};
    for (int w = 0; w < 8; ++w) {
      const unsigned pick = rng() % 4;
      const uint16_t v = pick == 0   ? 0
                         : pick == 1 ? static_cast<uint16_t>(rng() % 16)
                                     : static_cast<uint16_t>(rng());
      a[static_cast<std::size_t>(2 * w)] = static_cast<uint8_t>(v >> 8);
      a[static_cast<std::size_t>(2 * w + 1)] = static_cast<uint8_t>(v);
    }
    if (k % 7 == 0) std::fill(a.begin(), a.begin() + 10, 0), a[10] = a[11] = 0xff;  // ::ffff:a.b.c.d
    if (k % 11 == 0) std::fill(a.begin(), a.begin() + 12, 0);                       // ::a.b.c.d
    cases.push_back(a);
  }
  cases.push_back(IpBytes{});  // ::
  IpBytes one{};
  one[15] = 1;
  cases.push_back(one);  // ::1
  for (const IpBytes& a : cases) {
    char want[INET6_ADDRSTRLEN], got[64];
    ASSERT_NE(inet_ntop(AF_INET6, a.data(), want, sizeof want), nullptr);
    const std::size_t n = format_ip(a, 6, got);
    ASSERT_EQ(std::string(got, n), want);
    ASSERT_EQ(got[n], '\0');
  }
}

TEST(Encode, Ipv4TextIsInetNtopsWithinSixteenBytes) {
  // Every byte value in every place, and random addresses: inet_ntop's text, its
  // terminating NUL, nothing written past 16 bytes.
  std::mt19937 rng(7);
  std::vector<IpBytes> cases;
  for (unsigned v = 0; v < 256; ++v)
    for (int place = 0; place < 4; ++place) {
      IpBytes a{};
      for (int i = 0; i < 4; ++i)
        a[static_cast<std::size_t>(i)] = static_cast<uint8_t>(i == place ? v : 255 - v);
      cases.push_back(a);
    }
  for (int k = 0; k < 5000; ++k) {
    IpBytes a{};
    for (int i = 0; i < 4; ++i) a[static_cast<std::size_t>(i)] = static_cast<uint8_t>(rng());
    cases.push_back(a);
  }
  for (const IpBytes& a : cases) {
    char want[INET_ADDRSTRLEN], got[24];
    std::memset(got, 'Z', sizeof got);
    ASSERT_NE(inet_ntop(AF_INET, a.data(), want, sizeof want), nullptr);
    const std::size_t n = format_ip(a, 4, got);
    ASSERT_EQ(std::string(got, n), want);
    ASSERT_EQ(got[n], '\0');
    ASSERT_EQ(std::string(got + 16, 8), std::string(8, 'Z'));
  }
}

TEST(SpscRing, TransfersEverythingInOrderAcrossThreads) {
  SpscRing<uint64_t> r(64);
  constexpr uint64_t kN = 200000;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kN;)
      if (r.push_one(i)) ++i;
  });
  uint64_t expect = 0, v = 0;
  while (expect < kN)
    if (r.pop_one(v)) {
      ASSERT_EQ(v, expect++);
    }
  producer.join();
}

// An output that keeps up gets the same few chunks back, so the rest of the queue's
// memory is never written; under back-pressure every chunk is still there to fill.
TEST(EventQueue, RecycledChunksComeBeforeUnusedOnesAndAllAreAvailable) {
  EventQueue q(8, 4096);
  std::set<EventChunk*> used;
  for (int i = 0; i < 100; ++i) {
    EventChunk* c = q.take_free();
    ASSERT_NE(c, nullptr);
    used.insert(c);
    c->len = 10;
    q.submit(c);
    EventChunk* out = q.take_full();
    ASSERT_EQ(out, c);
    q.recycle(out);
  }
  EXPECT_EQ(used.size(), 1u);
  std::vector<EventChunk*> held;
  while (EventChunk* c = q.take_free()) {
    EXPECT_EQ(c->len, 0u);
    held.push_back(c);
  }
  EXPECT_EQ(held.size(), 8u);
  EXPECT_EQ(std::set<EventChunk*>(held.begin(), held.end()).size(), 8u);
  for (EventChunk* c : held) q.submit(c);
  for (int i = 0; i < 8; ++i) q.recycle(q.take_full());
  EXPECT_NE(q.take_free(), nullptr);
}

// Positions wrap by comparison, not modulo: a capacity that is no power of two too.
class PacketRingWrap : public ::testing::TestWithParam<std::size_t> {};
INSTANTIATE_TEST_SUITE_P(Capacities, PacketRingWrap, ::testing::Values(4096, 4096 + 3 * 64));

TEST_P(PacketRingWrap, RecordsWrapAndStayIntact) {
  PacketRing ring(GetParam());
  constexpr int kN = 20000;
  std::thread producer([&] {
    for (int i = 0; i < kN;) {
      const std::size_t len = 1 + (i * 37) % 700;
      RecordHeader* h = ring.reserve(len);
      if (!h) continue;
      h->cap_len = static_cast<uint32_t>(len);
      h->ts_ns = static_cast<uint64_t>(i);
      std::memset(PacketRing::payload(h), i & 0xFF, len);
      ring.commit(h);
      ++i;
    }
  });
  int seen = 0;
  while (seen < kN) {
    PacketRing::Cursor cursor = ring.read_cursor();
    const RecordHeader* h = ring.peek(cursor);
    if (!h) continue;
    ASSERT_EQ(h->ts_ns, static_cast<uint64_t>(seen));
    ASSERT_EQ(h->cap_len, 1 + (seen * 37) % 700);
    const uint8_t* p = PacketRing::payload(h);
    ASSERT_EQ(p[0], seen & 0xFF);
    ASSERT_EQ(p[h->cap_len - 1], seen & 0xFF);
    ring.advance(cursor, h);
    ring.release(cursor);
    ++seen;
  }
  producer.join();
  EXPECT_EQ(ring.reserve(GetParam()), nullptr) << "a record over half the ring is refused";
  EXPECT_TRUE(ring.empty());
}

}  // namespace
}  // namespace tapbeat
