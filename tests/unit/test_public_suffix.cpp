#include <gtest/gtest.h>

#include "decode/dns/public_suffix.hpp"

namespace tapbeat {
namespace {

const PublicSuffixList& sample() {
  static const PublicSuffixList l = PublicSuffixList::parse(
      "// comment\ncom\nuk\nco.uk\n*.ck\n!www.ck\njp\n*.kawasaki.jp\n!city.kawasaki.jp\n");
  return l;
}

std::string all(std::string_view name) {
  const auto s = sample().split(name);
  return std::string(s.suffix) + "|" + std::string(s.registered) + "|" + std::string(s.subdomain);
}

TEST(PublicSuffix, RulesWildcardsExceptions) {
  EXPECT_EQ(all("www.example.com"), "com|example.com|www");
  EXPECT_EQ(all("example.com"), "com|example.com|");
  EXPECT_EQ(all("com"), "com||");
  EXPECT_EQ(all("a.b.example.co.uk"), "co.uk|example.co.uk|a.b");
  EXPECT_EQ(all("a.www.ck"), "ck|www.ck|a") << "exception: www.ck is registrable";
  EXPECT_EQ(all("www.test.ck"), "test.ck|www.test.ck|") << "wildcard *.ck";
  EXPECT_EQ(all("a.b.test.ck"), "test.ck|b.test.ck|a") << "wildcard *.ck";
  EXPECT_EQ(all("x.city.kawasaki.jp"), "kawasaki.jp|city.kawasaki.jp|x");
  EXPECT_EQ(all("x.other.kawasaki.jp"), "other.kawasaki.jp|x.other.kawasaki.jp|");
  EXPECT_EQ(all("example.unknowntld"), "unknowntld|example.unknowntld|") << "implicit * rule";
  EXPECT_EQ(all("."), "||");
}

// The compiled-in list: both sections, including private suffixes that Packetbeat's
// table has and older lists lack.
TEST(PublicSuffix, BundledListHasBothSections) {
  const PublicSuffixList l = PublicSuffixList::bundled();
  EXPECT_GT(l.size(), 9000u);
  EXPECT_FALSE(PublicSuffixList::bundled_version().empty());
  const auto s = l.split("www.bbc.co.uk");
  EXPECT_EQ(s.registered, "bbc.co.uk");
  EXPECT_EQ(s.suffix, "co.uk");
  const auto t = l.split("eu.sfb.trafficmanager.net");  // private section (Microsoft)
  EXPECT_EQ(t.suffix, "trafficmanager.net");
  EXPECT_EQ(t.registered, "sfb.trafficmanager.net");
  EXPECT_EQ(t.subdomain, "eu");
}

}  // namespace
}  // namespace tapbeat
