#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>

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

// The lookup walks down from the top-level label and stops where no rule lies below;
// it answers as the rules read plainly do (the longest matching rule wins, an
// exception's suffix is its parent, a wildcard's base takes one label more, else the
// last label), here written out over a map of the list's rules: for names under every
// rule, wildcard and exception of the compiled-in list, deeper ones, names with empty
// labels and names no rule covers.
TEST(PublicSuffix, WalkFromTheTopAnswersAsTheLongestRule) {
  std::ifstream in(TAPBEAT_SOURCE_DIR "/lib/decode/dns/public_suffix_list.dat");
  ASSERT_TRUE(in) << "public_suffix_list.dat";
  std::unordered_map<std::string, int> kinds;  // 1 rule, 2 wildcard base, 4 exception
  std::string line;
  while (std::getline(in, line)) {
    std::string rule = line.substr(0, line.find_first_of(" \t\r"));
    if (rule.empty() || rule.rfind("//", 0) == 0) continue;
    for (char& c : rule) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (rule[0] == '!')
      kinds[rule.substr(1)] |= 4;
    else if (rule.rfind("*.", 0) == 0)
      kinds[rule.substr(2)] |= 2;
    else
      kinds[rule] |= 1;
  }
  auto kind = [&](std::string_view n) {
    const auto it = kinds.find(std::string(n));
    return it == kinds.end() ? 0 : it->second;
  };
  auto expected = [&](std::string_view name) {
    for (std::size_t start = 0;;) {
      const std::string_view cand = name.substr(start);
      const std::size_t dot = cand.find('.');
      const std::string_view parent =
          dot == std::string_view::npos ? std::string_view{} : cand.substr(dot + 1);
      if (kind(cand) & 4) return std::string(parent);
      if ((kind(cand) & 1) || (!parent.empty() && (kind(parent) & 2)) || dot == std::string_view::npos)
        return std::string(cand);
      start += dot + 1;
    }
  };
  const PublicSuffixList l = PublicSuffixList::bundled();
  std::size_t checked = 0;
  for (const auto& [base, k] : kinds) {
    for (const std::string& name : {base, "x." + base, "a.b." + base, "c.d.e." + base, "q" + base,
                                    "x.." + base, base + ".com", "www." + base + ".nope"}) {
      ASSERT_EQ(std::string(l.split(name).suffix), expected(name)) << name;
      ++checked;
    }
  }
  for (const char* name : {"a..b", ".com", "com.", "..", "x.y.z.w.v", "1.0.0.127.in-addr.arpa"}) {
    ASSERT_EQ(std::string(l.split(name).suffix), expected(name)) << name;
  }
  EXPECT_GT(checked, 70000u);
}

}  // namespace
}  // namespace tapbeat
