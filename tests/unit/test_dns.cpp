#include <gtest/gtest.h>

#include <vector>

#include "decode/dns/dns_message.hpp"

namespace tapbeat {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
  return {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), static_cast<uint8_t>(flags >> 8),
          static_cast<uint8_t>(flags), 0, static_cast<uint8_t>(qd), 0, static_cast<uint8_t>(an),
          0, static_cast<uint8_t>(ns), 0, static_cast<uint8_t>(ar)};
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
  add(b, {0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 5, 0, 6, 5, 'h', 'e', 'l', 'l', 'o'});    // TXT
  add(b, {0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0});                                   // OPT, DO, 4096
  auto p = parse(b);
  ASSERT_EQ(p->st, DnsParse::kOk);
  EXPECT_TRUE(p->m.response);
  EXPECT_TRUE(p->m.rd && p->m.ra);
  EXPECT_EQ(p->m.qname, "example.com");
  ASSERT_EQ(p->m.n_answers, 3);
  EXPECT_EQ(p->m.answers[0].data, "93.184.216.34");
  EXPECT_EQ(p->m.answers[0].ttl, 60u);
  EXPECT_EQ(p->m.answers[1].data, "10 mail.example.com");
  EXPECT_EQ(p->m.answers[2].data, "hello");
  EXPECT_TRUE(p->m.has_opt);
  EXPECT_TRUE(p->m.opt_do);
  EXPECT_EQ(p->m.opt_udp_size, 4096);
  EXPECT_EQ(p->m.n_additionals, 0) << "OPT is not a record";
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
