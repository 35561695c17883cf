#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "decode/dns/dns_message.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
  return {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id),      static_cast<uint8_t>(flags >> 8),
          static_cast<uint8_t>(flags),   static_cast<uint8_t>(qd >> 8), static_cast<uint8_t>(qd),
          static_cast<uint8_t>(an >> 8), static_cast<uint8_t>(an),      static_cast<uint8_t>(ns >> 8),
          static_cast<uint8_t>(ns),      static_cast<uint8_t>(ar >> 8), static_cast<uint8_t>(ar)};
}
void add(Bytes& b, std::initializer_list<uint8_t> x) { b.insert(b.end(), x); }

struct Parsed {
  DnsMessage m;
  char arena[4096];
  DnsParse st;
};

std::unique_ptr<Parsed> parse(const Bytes& b) {
  auto p = std::make_unique<Parsed>();
  p->st = parse_dns(b.data(), static_cast<uint32_t>(b.size()), p->m, p->arena, sizeof p->arena);
  return p;
}

TEST(Dns, ResponseWithCompressedNamesAndRecords) {
  Bytes b = header(0x1234, 0x8180, 1, 3, 0, 1);
  add(b, {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1});  // question at 12
  add(b, {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34});              // A
  add(b, {0xC0, 12, 0, 15, 0, 1, 0, 0, 1, 0, 0, 9, 0, 10, 4, 'm', 'a', 'i', 'l', 0xC0, 12});  // MX
  add(b, {0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 5, 0, 6, 5, 'h', 'e', 'l', 'l', 'o'});              // TXT
  add(b, {0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0});                                           // OPT, DO, 4096
  auto p = parse(b);
  ASSERT_EQ(p->st, DnsParse::kOk);
  EXPECT_TRUE(p->m.response);
  EXPECT_TRUE(p->m.rd && p->m.ra);
  EXPECT_EQ(p->m.qname, "example.com");
  ASSERT_EQ(p->m.n_answers, 3);
  EXPECT_EQ(p->m.answers[0].data, "93.184.216.34");
  EXPECT_EQ(p->m.answers[0].ttl, 60u);
  EXPECT_EQ(p->m.answers[1].data, "mail.example.com");  // the preference apart, as Packetbeat
  ASSERT_EQ(p->m.answers[1].n_fields, 1);
  EXPECT_STREQ(p->m.answers[1].fields[0].key, "preference");
  EXPECT_EQ(p->m.answers[1].fields[0].number, 10u);
  EXPECT_EQ(p->m.answers[2].data, "hello");
  EXPECT_TRUE(p->m.has_opt);
  EXPECT_TRUE(p->m.opt_do);
  EXPECT_EQ(p->m.opt_udp_size, 4096);
  EXPECT_EQ(p->m.n_additionals, 0) << "OPT is not a record";
}

// The records Packetbeat splits into fields, each with its names and encodings.
TEST(Dns, RecordsSplitAsPacketbeatWritesThem) {
  Bytes b = header(7, 0x8180, 1, 8, 0, 0);
  add(b, {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 6, 0, 1});
  auto rr = [&](uint8_t type, std::initializer_list<uint8_t> rdata) {
    add(b, {0xC0, 12, 0, type, 0, 1, 0, 0, 0x0e, 0x10, 0, static_cast<uint8_t>(rdata.size())});
    add(b, rdata);
  };
  rr(6, {3, 'n', 's',  '1',  0xC0, 12, 4,    'h',  'o', 's',  't',  0xC0, 12, 0, 0,    0,   1,
         0, 0,   0x1c, 0x20, 0,    0,  0x0e, 0x10, 0,   0x09, 0x3a, 0x80, 0,  0, 0x01, 0x2c});  // SOA
  rr(33, {0, 10, 0, 5, 0x13, 0xc4, 0xC0, 12});                                                  // SRV
  rr(48, {0x01, 0x01, 3, 8, 1, 2, 3});                                                          // DNSKEY
  rr(43, {0x4f, 0x66, 8, 2, 0xab, 0xcd});                                                       // DS
  rr(46, {0,    1,    13,   2,    0,    0,    0x0e, 0x10, 0x65, 0x92, 0x00,
          0x80, 0x65, 0x6c, 0x5c, 0x80, 0x12, 0x34, 0xC0, 12,   0xff, 0xee});  // RRSIG
  rr(47, {1, 'a', 0xC0, 12, 0, 1, 0x62});                                      // NSEC
  rr(50, {1, 0, 0, 10, 2, 0xaa, 0xbb, 5, 0, 0, 0, 0, 0, 0, 1, 0x40});          // NSEC3
  rr(13, {3, 'x', '8', '6', 5, 'L', 'i', 'n', 'u', 'x'});                      // HINFO: no form here
  auto p = parse(b);
  ASSERT_EQ(p->st, DnsParse::kOk);
  ASSERT_EQ(p->m.n_answers, 8);
  auto fields = [&](int i) {
    std::string out = std::string(p->m.answers[i].data);
    for (int f = 0; f < p->m.answers[i].n_fields; ++f) {
      const DnsField& d = p->m.answers[i].fields[f];
      out += std::string(" ") + d.key + "=" + (d.is_number ? std::to_string(d.number) : std::string(d.text));
    }
    return out;
  };
  EXPECT_EQ(
      fields(0),
      "ns1.example.com rname=host.example.com serial=1 refresh=7200 retry=3600 expire=604800 minimum=300");
  EXPECT_EQ(fields(1), "example.com priority=10 weight=5 port=5060");
  EXPECT_EQ(fields(2), "AQID flags=257 protocol=3 algorithm=RSASHA256");
  EXPECT_EQ(fields(3), "ABCD key_tag=20326 algorithm=RSASHA256 digest_type=SHA256");
  EXPECT_EQ(fields(4),
            "/+4= type_covered=A algorithm=ECDSAP256SHA256 labels=2 original_ttl=3600 "
            "expiration=20240101000000 inception=20231203104624 key_tag=4660 signer_name=example.com");
  EXPECT_EQ(fields(5), "a.example.com type_bits=A NS SOA");
  EXPECT_EQ(fields(6), "00000000 hash=SHA1 flags=0 iterations=10 salt=AABB type_bits=A");
  EXPECT_EQ(fields(7), "\\003x86\\005Linux");
}

TEST(Dns, SelfPointerIsRefused) {
  Bytes b = header(1, 0x0100, 1, 0, 0, 0);
  add(b, {0xC0, 12, 0, 1, 0, 1});  // points at itself
  EXPECT_EQ(parse(b)->st, DnsParse::kBadName);
}

TEST(Dns, ForwardPointerIsFollowed) {
  Bytes b = header(1, 0x0100, 1, 0, 0, 0);
  add(b, {0xC0, 18, 0, 1, 0, 1, 1, 'a', 0});  // the question's name is at offset 18, after it
  auto p = parse(b);
  ASSERT_EQ(p->st, DnsParse::kOk);
  EXPECT_EQ(p->m.qname, "a");
}

TEST(Dns, PointerChainsAreBounded) {
  Bytes b = header(1, 0x0100, 1, 0, 0, 0);
  add(b, {0xC0, 14, 0xC0, 12, 0, 1, 0, 1});  // two pointers naming each other
  EXPECT_EQ(parse(b)->st, DnsParse::kBadName);
}

TEST(Dns, NonPrintableLabelBytesAreEscaped) {
  Bytes b = header(1, 0x0100, 1, 0, 0, 0);
  add(b, {4, 'a', 1, '.', 0xFF, 0, 0, 1, 0, 1});
  auto p = parse(b);
  ASSERT_EQ(p->st, DnsParse::kOk);
  EXPECT_EQ(p->m.qname, "a\\001\\.\\255");
}

TEST(Dns, NameLongerThan255IsRefused) {
  Bytes b = header(1, 0x0100, 1, 0, 0, 0);
  for (int i = 0; i < 5; ++i) {
    b.push_back(60);
    b.insert(b.end(), 60, 'a');
  }
  add(b, {0, 0, 1, 0, 1});
  EXPECT_EQ(parse(b)->st, DnsParse::kBadName);
}

TEST(Dns, TruncatedMessages) {
  Bytes b = header(1, 0x8180, 1, 1, 0, 0);
  add(b, {1, 'a', 0, 0, 1, 0, 1, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2});  // RDATA cut short
  EXPECT_EQ(parse(b)->st, DnsParse::kTruncated);
  EXPECT_EQ(parse(Bytes{1, 2, 3})->st, DnsParse::kTruncated);
  for (std::size_t n = 0; n < b.size(); ++n) {
    Bytes cut(b.begin(), b.begin() + static_cast<long>(n));
    EXPECT_NE(parse(cut)->st, DnsParse::kOk) << n;
  }
}

TEST(Dns, ArenaLimitIsReported) {
  Bytes b = header(1, 0x8180, 0, 40, 0, 0);
  for (int i = 0; i < 40; ++i) {
    b.push_back(60);
    b.insert(b.end(), 60, 'z');
    add(b, {0, 0, 16, 0, 1, 0, 0, 0, 1, 0, 61, 60});
    b.insert(b.end(), 60, 'y');
  }
  auto p = std::make_unique<Parsed>();
  char small[512];
  p->st = parse_dns(b.data(), static_cast<uint32_t>(b.size()), p->m, small, sizeof small);
  EXPECT_EQ(p->st, DnsParse::kArenaFull);
  EXPECT_EQ(p->m.n_answers + static_cast<int>(p->m.not_rendered), 40);  // the rest counted
  EXPECT_GT(p->m.not_rendered, 0u);
}

TEST(Dns, Names) {
  EXPECT_STREQ(dns_type_name(65), "HTTPS");
  EXPECT_STREQ(dns_type_name(257), "CAA");
  EXPECT_STREQ(dns_rcode_name(3), "NXDOMAIN");
  EXPECT_STREQ(dns_opcode_name(0), "QUERY");
  EXPECT_STREQ(dns_class_name(1), "IN");
}

// EDNS options as Packetbeat (miekg/dns) writes them: NSID and COOKIE in lower-case hex,
// Client Subnet as address/source/scope with the address's missing bytes zero.
TEST(Dns, EdnsOptionsAsPacketbeatWritesThem) {
  for (const bool v6 : {false, true}) {
    Bytes b = header(7, 0x8180, 0, 0, 0, 1);
    Bytes opts = {0, 3,  0, 3, 'a',  'b',  0xC1,         // NSID
                  0, 10, 0, 4, 0xDE, 0xAD, 0xBE, 0xEF};  // COOKIE
    if (v6)
      add(opts, {0, 8, 0, 10, 0, 2, 56, 0, 0x20, 0x01, 0x04, 0x70, 0x1f, 0x0b});  // 2001:470:1f0b::/56
    else
      add(opts, {0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2});  // 192.0.2.0/24
    add(b, {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(opts.size())});
    b.insert(b.end(), opts.begin(), opts.end());
    const auto p = parse(b);
    ASSERT_EQ(p->st, DnsParse::kOk);
    ASSERT_TRUE(p->m.has_opt);
    EXPECT_EQ(p->m.opt_nsid, "6162c1");
    EXPECT_EQ(p->m.opt_cookie, "deadbeef");
    EXPECT_EQ(p->m.opt_subnet, v6 ? "[2001:470:1f0b::]/56/0" : "192.0.2.0/24/0");
  }
}

// An option whose length runs past the OPT record, or bytes too few for an option's
// head: the options before it are kept, the message parses, and it is marked (counted
// as dns.edns_malformed when published).
TEST(Dns, MalformedEdnsOptionEndsTheListAndIsMarked) {
  const Bytes nsid = {0, 3, 0, 2, 'a', 'b'};
  for (const Bytes& tail : {Bytes{0, 10, 0, 9, 1, 2}, Bytes{0, 10}, Bytes{}}) {
    Bytes opts = nsid;
    opts.insert(opts.end(), tail.begin(), tail.end());
    Bytes b = header(7, 0x8180, 0, 0, 0, 1);
    add(b, {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(opts.size())});
    b.insert(b.end(), opts.begin(), opts.end());
    const auto p = parse(b);
    ASSERT_EQ(p->st, DnsParse::kOk);
    EXPECT_EQ(p->m.opt_nsid, "6162");
    EXPECT_TRUE(p->m.opt_cookie.empty());
    EXPECT_EQ(p->m.opt_malformed, !tail.empty()) << tail.size();
  }
}

// Packetbeat's EDNS notes on a UDP transaction (RFC 6891): they go in error.message,
// a list when there are two, and leave the status to the response code.
struct DnsRun {
  std::vector<std::string> ev;
  uint64_t cut = 0, malformed = 0, not_rendered = 0;
};

// A query for a.example and its response with `answers` A records, each with an OPT
// record or not; the response captured with a snap length of response_snap (0: whole).
DnsRun dns_exchange(bool query_opt, bool response_opt, int answers, uint32_t response_snap = 0) {
  test::StreamTest h;
  const uint16_t ports[] = {53};
  h.decoders.enable("dns", ports);
  h.start();
  const Bytes question = {1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1};
  const Bytes opt = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};  // root, OPT, 4096, no options
  Bytes q = header(0x0102, 0x0100, 1, 0, 0, query_opt ? 1 : 0);
  q.insert(q.end(), question.begin(), question.end());
  if (query_opt) q.insert(q.end(), opt.begin(), opt.end());
  Bytes r = header(0x0102, 0x8180, 1, static_cast<uint16_t>(answers), 0, response_opt ? 1 : 0);
  r.insert(r.end(), question.begin(), question.end());
  for (int i = 0; i < answers; ++i)
    add(r, {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, static_cast<uint8_t>(i)});
  if (response_opt) r.insert(r.end(), opt.begin(), opt.end());
  h.datagram("10.0.0.1", 40000, "10.0.0.53", 53, std::string(q.begin(), q.end()));
  h.snap = response_snap;
  h.datagram("10.0.0.53", 53, "10.0.0.1", 40000, std::string(r.begin(), r.end()));
  DnsRun run{h.finish()};
  run.cut = h.count("dns.cut_by_capture");
  run.malformed = h.count("dns.malformed");
  run.not_rendered = h.count("dns.records_not_rendered");
  return run;
}

std::string dns_exchange_event(bool query_opt, bool response_opt, int answers) {
  const DnsRun run = dns_exchange(query_opt, response_opt, answers);
  return run.ev.size() == 1 ? run.ev[0] : "events: " + std::to_string(run.ev.size());
}

// Every record of a section is rendered, as Packetbeat writes them (200 answers: it
// had stopped at 64, uncounted); past 512 a section the rest are counted and noted,
// the counts still giving them all.
TEST(DnsTransaction, LargeAnswerSectionsAreRenderedToTheLimitAndCounted) {
  const auto count = [](const std::string& e, std::string_view what) {
    std::size_t n = 0;
    for (std::size_t at = e.find(what); at != std::string::npos; at = e.find(what, at + 1)) ++n;
    return n;
  };
  const DnsRun two_hundred = dns_exchange(false, true, 200);
  ASSERT_EQ(two_hundred.ev.size(), 1u);
  EXPECT_EQ(count(two_hundred.ev[0], R"("data":"192.0.2.)"), 200u);
  EXPECT_TRUE(test::contains(two_hundred.ev[0], R"("answers_count":200)"))
      << two_hundred.ev[0].substr(0, 800);
  EXPECT_FALSE(test::contains(two_hundred.ev[0], "not rendered"));
  EXPECT_EQ(two_hundred.not_rendered, 0u);

  const DnsRun six_hundred = dns_exchange(false, true, 600);
  ASSERT_EQ(six_hundred.ev.size(), 1u);
  EXPECT_EQ(count(six_hundred.ev[0], R"("data":"192.0.2.)"), 512u);
  EXPECT_TRUE(test::contains(six_hundred.ev[0], R"("answers_count":600)"));
  EXPECT_TRUE(
      test::contains(six_hundred.ev[0], "records past 512 a section or 128 KiB of text not rendered"));
  EXPECT_TRUE(test::contains(six_hundred.ev[0], R"("status":"OK")"));
  EXPECT_EQ(six_hundred.not_rendered, 88u);
  EXPECT_EQ(six_hundred.malformed, 0u);
}

TEST(DnsTransaction, MalformedEdnsOptionIsCounted) {
  test::StreamTest h;
  const uint16_t ports[] = {53};
  h.decoders.enable("dns", ports);
  h.start();
  const Bytes question = {1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1};
  // OPT with a COOKIE option that claims 8 bytes and has 2.
  const Bytes opt = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 8, 1, 2};
  Bytes q = header(0x0102, 0x0100, 1, 0, 0, 1);
  q.insert(q.end(), question.begin(), question.end());
  q.insert(q.end(), opt.begin(), opt.end());
  Bytes r = header(0x0102, 0x8180, 1, 0, 0, 1);
  r.insert(r.end(), question.begin(), question.end());
  r.insert(r.end(), opt.begin(), opt.end());
  h.datagram("10.0.0.1", 40000, "10.0.0.53", 53, std::string(q.begin(), q.end()));
  h.datagram("10.0.0.53", 53, "10.0.0.1", 40000, std::string(r.begin(), r.end()));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(h.count("dns.edns_malformed"), 2u);
  EXPECT_EQ(h.count("dns.malformed"), 0u);
  EXPECT_TRUE(test::contains(ev[0], R"("status":"OK")")) << ev[0];
}

// A capture point that merges the two directions can write a resolver's answer before
// the query it answers. The answer is held (100 ms of capture time at most) and the
// query that comes then pairs with it: one transaction, OK, of duration 0. An answer
// whose query never comes, or comes later than that, goes out without a query as
// before; the late query waits for an answer of its own.
TEST(DnsTransaction, AnswerCapturedBeforeItsQueryPairsWithIt) {
  test::StreamTest h;
  const uint16_t ports[] = {53};
  h.decoders.enable("dns", ports);
  h.start();
  const Bytes question = {1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1};
  auto message = [&](uint16_t id, bool response) {
    Bytes m = header(id, response ? 0x8180 : 0x0100, 1, 0, 0, 0);
    m.insert(m.end(), question.begin(), question.end());
    return std::string(m.begin(), m.end());
  };
  h.datagram("10.0.0.53", 53, "10.0.0.1", 40000, message(7, true));
  h.datagram("10.0.0.1", 40000, "10.0.0.53", 53, message(7, false));
  h.datagram("10.0.0.53", 53, "10.0.0.1", 40001, message(8, true));  // never asked
  h.datagram("10.0.0.53", 53, "10.0.0.1", 40002, message(9, true));
  h.ts += 300'000'000;  // the query far later than its answer
  h.datagram("10.0.0.1", 40002, "10.0.0.53", 53, message(9, false));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(test::contains(ev[0], R"("id":7,)") && test::contains(ev[0], R"("status":"OK")")) << ev[0];
  EXPECT_TRUE(test::contains(ev[0], R"("duration":0,)")) << ev[0];
  int orphans = 0, unanswered = 0;
  for (std::size_t i = 1; i < ev.size(); ++i) {
    orphans += test::contains(ev[i], "received without an associated Query");
    unanswered += test::contains(ev[i], "No response to this query was received") &&
                  test::contains(ev[i], R"("id":9,)");
  }
  EXPECT_EQ(orphans, 2);
  EXPECT_EQ(unanswered, 1);
  EXPECT_EQ(h.count("dns.answers_before_query"), 1u);
  EXPECT_EQ(h.count("dns.orphan_responses"), 2u);
  EXPECT_EQ(h.count("dns.transactions"), 1u);
}

// DNS over TCP with a query lost to the capture (the server's ACK of it seen): the
// reply to it is an orphan, and the next query, found behind its length prefix, pairs
// with its reply. A gap that ends inside a message leaves the connection instead.
std::string tcp_message(uint16_t id, bool response) {
  const Bytes question = {1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1};
  Bytes m = header(id, response ? 0x8180 : 0x0100, 1, response ? 1 : 0, 0, 0);
  m.insert(m.end(), question.begin(), question.end());
  if (response) add(m, {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1});
  std::string out{static_cast<char>(m.size() >> 8), static_cast<char>(m.size() & 0xFF)};
  return out + std::string(m.begin(), m.end());
}

TEST(DnsTransaction, TcpQueryLostToTheCaptureLeavesTheNextPaired) {
  for (const bool cut_inside : {false, true}) {
    test::StreamTest h;
    const uint16_t ports[] = {53};
    h.decoders.enable("dns", ports);
    h.start();
    test::Conn c;
    c.server_port = 53;
    h.handshake(c);
    h.client(c, tcp_message(1, false));
    h.server(c, tcp_message(1, true));
    const std::string lost = tcp_message(2, false);
    // Lost: the whole query, or it and the first 5 bytes of the next.
    h.lose(true, c, lost);
    const std::string next = tcp_message(3, false);
    if (cut_inside) h.lose(true, c, next.substr(0, 5));
    h.server(c, tcp_message(2, true));  // acknowledges what was lost
    h.client(c, cut_inside ? next.substr(5) : next);
    h.server(c, tcp_message(3, true));
    const auto ev = h.finish();
    EXPECT_EQ(h.count("dns.tcp.gap"), 1u);
    if (cut_inside) {
      // The bytes after the gap do not frame a message: nothing more is read.
      ASSERT_EQ(ev.size(), 2u);
      EXPECT_EQ(h.count("dns.tcp.resynced"), 0u);
      EXPECT_EQ(h.count("dns.tcp.violations"), 1u);
      continue;
    }
    ASSERT_EQ(ev.size(), 3u);
    EXPECT_TRUE(test::contains(ev[0], R"("id":1,)") && test::contains(ev[0], R"("status":"OK")")) << ev[0];
    EXPECT_TRUE(test::contains(ev[1], R"("id":2,)")) << ev[1];
    EXPECT_TRUE(test::contains(ev[1], "received without an associated Query")) << ev[1];
    EXPECT_TRUE(test::contains(ev[2], R"("id":3,)") && test::contains(ev[2], R"("status":"OK")")) << ev[2];
    EXPECT_EQ(h.count("dns.tcp.resynced"), 1u);
  }
}

TEST(DnsTransaction, EdnsNotesAsPacketbeatWritesThem) {
  std::string e = dns_exchange_event(true, false, 1);
  EXPECT_TRUE(test::contains(e, R"("error":{"message":"Responder does not support EDNS"})")) << e;
  EXPECT_TRUE(test::contains(e, R"("status":"OK")")) << e;
  e = dns_exchange_event(false, true, 1);
  EXPECT_TRUE(test::contains(e, R"("error":{"message":"Unexpected EDNS answer"})")) << e;
  e = dns_exchange_event(true, true, 1);
  EXPECT_FALSE(test::contains(e, R"("error")")) << e;
  e = dns_exchange_event(false, false, 1);
  EXPECT_FALSE(test::contains(e, R"("error")")) << e;
  // 40 answers: a 683-byte response without OPT.
  e = dns_exchange_event(true, false, 40);
  EXPECT_TRUE(test::contains(e,
                             R"("error":{"message":["Response: Non-EDNS packet has size greater than 512",)"
                             R"("Responder does not support EDNS"]})"))
      << e;
  EXPECT_TRUE(test::contains(e, R"("status":"OK")")) << e;
}

// A response whose OPT record carries the upper bits of a 12-bit response code, and
// questions for names no registered domain lies in, as Packetbeat writes them (its
// dns.go, miekg/dns): ext_rcode names the upper bits' share (1: 16, BADVERS, which
// RFC 6891 names so in an OPT record; Packetbeat's table says BADSIG), the response
// code is the 12 bits (an upper part of 32 gives 512, no status OK); the root and a
// suffix of one dot are their own registered domain, a name of one label has none.
TEST(DnsTransaction, ExtendedResponseCodesAndSuffixOnlyNamesAsPacketbeatWritesThem) {
  struct Case {
    std::vector<std::string> labels;
    uint8_t ext, rcode;
    std::vector<std::string> want, absent;
  };
  const Case cases[] = {
      {{},
       1,
       0,
       {R"("ext_rcode":"BADVERS")", R"("response_code":"BADVERS")", R"("registered_domain":".")",
        R"("status":"Error")"},
       {"top_level_domain"}},
      {{"com"},
       1,
       7,
       {R"("ext_rcode":"BADVERS")", R"("response_code":"BADCOOKIE")"},
       {"registered_domain", "top_level_domain"}},
      {{"co", "uk"},
       32,
       0,
       {R"("response_code":"512")", R"("status":"Error")", R"("registered_domain":"co.uk")",
        R"("top_level_domain":"uk")"},
       {"etld_plus_one", "subdomain"}},
      {{"www", "example", "co", "uk"},
       0,
       0,
       {R"("ext_rcode":"NOERROR")", R"("status":"OK")", R"("registered_domain":"example.co.uk")",
        R"("top_level_domain":"co.uk")", R"("subdomain":"www")"},
       {}},
  };
  for (const Case& k : cases) {
    test::StreamTest h;
    const uint16_t ports[] = {53};
    h.decoders.enable("dns", ports);
    h.start();
    Bytes question;
    for (const std::string& l : k.labels) {
      question.push_back(static_cast<uint8_t>(l.size()));
      question.insert(question.end(), l.begin(), l.end());
    }
    add(question, {0, 0, 2, 0, 1});  // NS, IN
    Bytes q = header(7, 0x0100, 1, 0, 0, 1);
    q.insert(q.end(), question.begin(), question.end());
    add(q, {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});
    Bytes r = header(7, static_cast<uint16_t>(0x8180 | k.rcode), 1, 0, 0, 1);
    r.insert(r.end(), question.begin(), question.end());
    add(r, {0, 0, 41, 0x10, 0, k.ext, 0, 0, 0, 0, 0});
    h.datagram("10.0.0.1", 40000, "10.0.0.53", 53, std::string(q.begin(), q.end()));
    h.datagram("10.0.0.53", 53, "10.0.0.1", 40000, std::string(r.begin(), r.end()));
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 1u);
    for (const std::string& w : k.want) EXPECT_TRUE(test::contains(ev[0], w)) << w << "\n" << ev[0];
    for (const std::string& a : k.absent) EXPECT_FALSE(test::contains(ev[0], a)) << a << "\n" << ev[0];
  }
}

// A type or class without a name is written as its number, a string (Packetbeat's
// dnsTypeToString: "65280"; the query "class IN, type 65280, ..."), type 0 as miekg/dns
// names it ("None"); they had been a JSON number and "?" in the query text.
TEST(DnsTransaction, TypesAndClassesWithoutANameAsPacketbeatWritesThem) {
  struct Case {
    uint16_t type, klass;
    const char* want[3];
  };
  const Case cases[] = {
      {65280,
       1,
       {R"("name":"a.example","type":"65280"})", R"("query":"class IN, type 65280, a.example")",
        R"("type":"65280")"}},
      {0,
       7,
       {R"("question":{"class":"7",)", R"("query":"class 7, type None, a.example")",
        R"("name":"a.example","type":"None"})"}},
  };
  for (const Case& k : cases) {
    test::StreamTest h;
    const uint16_t ports[] = {53};
    h.decoders.enable("dns", ports);
    h.start();
    Bytes question = {1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
    add(question, {static_cast<uint8_t>(k.type >> 8), static_cast<uint8_t>(k.type),
                   static_cast<uint8_t>(k.klass >> 8), static_cast<uint8_t>(k.klass)});
    Bytes q = header(9, 0x0100, 1, 0, 0, 0);
    q.insert(q.end(), question.begin(), question.end());
    Bytes r = header(9, 0x8180, 1, 1, 0, 0);
    r.insert(r.end(), question.begin(), question.end());
    add(r,
        {0xC0, 12, static_cast<uint8_t>(k.type >> 8), static_cast<uint8_t>(k.type),
         static_cast<uint8_t>(k.klass >> 8), static_cast<uint8_t>(k.klass), 0, 0, 0, 30, 0, 2, 0xAB, 0xCD});
    h.datagram("10.0.0.1", 40000, "10.0.0.53", 53, std::string(q.begin(), q.end()));
    h.datagram("10.0.0.53", 53, "10.0.0.1", 40000, std::string(r.begin(), r.end()));
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 1u);
    for (const char* w : k.want) EXPECT_TRUE(test::contains(ev[0], w)) << w << "\n" << ev[0];
  }
}

// The query text carries the whole name however long its escaped form (a DNS tunnel's
// labels of binary bytes, \ddd each: 1 KB); it had been cut at 599 bytes, silently.
TEST(DnsTransaction, QueryTextCarriesTheWholeEscapedName) {
  test::StreamTest h;
  const uint16_t ports[] = {53};
  h.decoders.enable("dns", ports);
  h.start();
  Bytes question;
  for (int l = 0; l < 3; ++l) {
    question.push_back(63);
    for (int i = 0; i < 63; ++i) question.push_back(static_cast<uint8_t>(0xC0 + i % 32));
  }
  add(question, {3, 's', 'e', 'a', 0, 0, 10, 0, 1});  // NULL, IN
  Bytes q = header(5, 0x0100, 1, 0, 0, 0);
  q.insert(q.end(), question.begin(), question.end());
  h.datagram("10.0.0.1", 40000, "10.0.0.53", 53, std::string(q.begin(), q.end()));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  const std::size_t at = ev[0].find(R"("query":"class IN, type NULL, )");
  ASSERT_NE(at, std::string::npos) << ev[0];
  const std::size_t end = ev[0].find('"', at + 9);
  EXPECT_TRUE(ev[0].substr(at, end - at).ends_with(".sea")) << ev[0].substr(at, end - at).size();
}

// A response the capture's snap length cut short (old captures: tcpdump's 68 or 96
// bytes; tcpdump's own dns_udp_2.pcap, 98): published for what it shows with Packetbeat's
// loss note, counted as cut by the capture, not as malformed, and without the EDNS notes
// its missing OPT record would have given ("Responder does not support EDNS" before).
TEST(DnsTransaction, ResponseCutByTheSnapLengthIsLossNotMalformed) {
  const DnsRun run = dns_exchange(true, true, 40, 400);
  ASSERT_EQ(run.ev.size(), 1u);
  EXPECT_TRUE(test::contains(run.ev[0], R"("error":{"message":"Packet loss while capturing the response"})"))
      << run.ev[0];
  EXPECT_TRUE(test::contains(run.ev[0], R"("answers_count":40)")) << run.ev[0];
  EXPECT_EQ(run.cut, 1u);
  EXPECT_EQ(run.malformed, 0u);
  const DnsRun whole = dns_exchange(true, true, 40);
  EXPECT_EQ(whole.cut + whole.malformed, 0u);
}

}  // namespace
}  // namespace tapbeat
