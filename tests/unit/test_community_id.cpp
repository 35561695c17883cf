#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "flow/community_id.hpp"

namespace tapbeat {
namespace {

IpBytes addr(const std::string& s, uint8_t& version) {
  IpBytes b{};
  version = s.find(':') != std::string::npos ? 6 : 4;
  inet_pton(version == 6 ? AF_INET6 : AF_INET, s.c_str(), b.data());
  return b;
}

std::string cid(const std::string& s, const std::string& d, uint8_t proto, uint16_t sp, uint16_t dp,
                uint16_t seed = 0) {
  uint8_t v = 0;
  const IpBytes a = addr(s, v), b = addr(d, v);
  char out[kCommunityIdLen];
  community_id_v1(a, b, v, proto, sp, dp, seed, out);
  return std::string(out, kCommunityIdLen);
}

TEST(CommunityId, SpecificationTable) {
  EXPECT_EQ(cid("1.2.3.4", "5.6.7.8", 6, 1122, 3344), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
  EXPECT_EQ(cid("5.6.7.8", "1.2.3.4", 6, 3344, 1122), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
  EXPECT_EQ(cid("1.2.3.4", "5.6.7.8", 17, 1122, 3344), "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=");
  EXPECT_EQ(cid("1.2.3.4", "5.6.7.8", 132, 1122, 3344), "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=");
  EXPECT_EQ(cid("1.2.3.4", "5.6.7.8", 1, 8, 0), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");
  EXPECT_EQ(cid("5.6.7.8", "1.2.3.4", 1, 0, 0), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");
  EXPECT_EQ(cid("1.2.3.4", "5.6.7.8", 1, 11, 0), "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=");
  EXPECT_EQ(
      cid("fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 58, 128, 0),
      "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=");
  EXPECT_EQ(
      cid("fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 58, 146, 0),
      "1:fYC8+pz24E+EhANP1EZhpX0Dw10=");
  EXPECT_EQ(cid("1.2.3.4", "5.6.7.8", 46, 0, 0), "1:ikv3kmf89luf73WPz1jOs49S768=");
  EXPECT_EQ(cid("5.6.7.8", "1.2.3.4", 46, 0, 0), "1:ikv3kmf89luf73WPz1jOs49S768=");
}

// Every tuple of the specification's default-settings baseline.
TEST(CommunityId, SpecificationBaseline) {
  std::ifstream in(TAPBEAT_SHARED_DIR "/pcaps/community-id/expected/baseline_deflt.json");
  ASSERT_TRUE(in) << "baseline missing under " TAPBEAT_SHARED_DIR;
  std::stringstream ss;
  ss << in.rdbuf();
  const YAML::Node all = YAML::Load(ss.str());  // JSON is YAML
  ASSERT_GT(all.size(), 20u);
  for (const auto& e : all) {
    const uint16_t sp = e["sport"] && !e["sport"].IsNull() ? e["sport"].as<uint16_t>() : 0;
    const uint16_t dp = e["dport"] && !e["dport"].IsNull() ? e["dport"].as<uint16_t>() : 0;
    EXPECT_EQ(cid(e["saddr"].as<std::string>(), e["daddr"].as<std::string>(),
                  static_cast<uint8_t>(e["proto"].as<int>()), sp, dp),
              e["communityid"].as<std::string>())
        << e["saddr"].as<std::string>() << " -> " << e["daddr"].as<std::string>() << " proto "
        << e["proto"].as<int>() << " " << sp << "/" << dp;
  }
}

}  // namespace
}  // namespace tapbeat
