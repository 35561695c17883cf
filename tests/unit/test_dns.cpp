#include <gtest/gtest.h>

#include <vector>

#include "decode/dns/dns_message.hpp"

namespace tapbeat {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
  return {static_cast<uint8_t>(id >> 8),
          static_cast<uint8_t>(id),
          static_cast<uint8_t>(flags >> 8),
          static_cast<uint8_t>(flags),
          0,
          static_cast<uint8_t>(qd),
          0,
          static_cast<uint8_t>(an),
          0,
          static_cast<uint8_t>(ns),
          0,
          static_cast<uint8_t>(ar)};
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
}

TEST(Dns, Names) {
  EXPECT_STREQ(dns_type_name(65), "HTTPS");
  EXPECT_STREQ(dns_type_name(257), "CAA");
  EXPECT_STREQ(dns_rcode_name(3), "NXDOMAIN");
  EXPECT_STREQ(dns_opcode_name(0), "QUERY");
  EXPECT_STREQ(dns_class_name(1), "IN");
}

}  // namespace
}  // namespace tapbeat
