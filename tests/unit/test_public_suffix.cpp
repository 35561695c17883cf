#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

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

// The compiled-in table (built by scripts/embed_psl.py) answers as the list's text
// parsed at run time does: for every rule of the file, names under it, wildcard and
// exception names, and names that no rule covers.
TEST(PublicSuffix, CompiledTableAnswersAsTheParsedText) {
  std::ifstream in(TAPBEAT_SOURCE_DIR "/lib/decode/dns/public_suffix_list.dat");
  ASSERT_TRUE(in) << "public_suffix_list.dat";
  std::stringstream text;
  text << in.rdbuf();
  const PublicSuffixList parsed = PublicSuffixList::parse(text.str());
  const PublicSuffixList bundled = PublicSuffixList::bundled();
  EXPECT_EQ(bundled.size(), parsed.size());
  std::istringstream lines(text.str());
  std::string line;
  std::size_t checked = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line.rfind("//", 0) == 0) continue;
    std::string rule = line.substr(0, line.find_first_of(" \t\r"));
    for (char& c : rule) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    const std::string base = rule[0] == '!'             ? rule.substr(1)
                             : rule.rfind("*.", 0) == 0 ? rule.substr(2)
                                                        : rule;
    for (const std::string& name : {base, "x." + base, "a.b." + base, "zz" + base, base + ".nope"}) {
      const auto p = parsed.split(name), b = bundled.split(name);
      ASSERT_EQ(std::string(b.suffix) + "|" + std::string(b.registered) + "|" + std::string(b.subdomain),
                std::string(p.suffix) + "|" + std::string(p.registered) + "|" + std::string(p.subdomain))
          << name;
      ++checked;
    }
  }
  EXPECT_GT(checked, 45000u);
}

}  // namespace
}  // namespace tapbeat
