// Every protocol of the registry, without a list kept here: its facts hold
// together, its settings come from its own schema, and its decoder keeps the
// seam's contract over arbitrary input (tests/support/decoder_harness.hpp).
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "decode/registry.hpp"
#include "decoder_harness.hpp"
#include "engine/decoder_set.hpp"

namespace tapbeat {
namespace {

TEST(Registry, EveryProtocolIsAConfigurationTypeWithItsOwnCounters) {
  const auto reg = decoder_registry();
  ASSERT_FALSE(reg.empty());
  const auto& known = known_protocols();
  for (const DecoderDescriptor& d : reg) {
    SCOPED_TRACE(std::string(d.name));
    EXPECT_NE(std::find(known.begin(), known.end(), std::string(d.name)), known.end());
    for (std::size_t i = 0; i < d.counters.size(); ++i) {
      EXPECT_EQ(d.counters[i].index, i);
      EXPECT_EQ(counter_index(d.counters[i].name), static_cast<int>(d.counter_base + i));
    }
    if (d.create && (d.transports & (kTransportTcp | kTransportUdp))) {
      EXPECT_FALSE(d.default_ports.empty());
    }
  }
  std::set<std::string_view> names;
  for (const CounterSpec& c : counter_catalogue()) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

TEST(Registry, SettingsComeFromTheEntryAndTheCommonOptionsAreReadOnce) {
  for (const DecoderDescriptor& d : decoder_registry()) {
    SCOPED_TRACE(std::string(d.name));
    DecoderSet plain, exercised;
    const ProtocolSettings& s = plain.enable(d.name, d.default_ports);
    EXPECT_EQ(s.timeout_ns, 10'000'000'000u);
    EXPECT_EQ(std::vector<uint16_t>(s.ports),
              std::vector<uint16_t>(d.default_ports.begin(), d.default_ports.end()));
    // Its exercise options are options it declares, with values it accepts.
    const ProtocolSettings& e = exercised.enable_exercised(d.name, 2'000'000'000);
    EXPECT_TRUE(e.send_request && e.send_response);
    EXPECT_EQ(e.timeout_ns, 2'000'000'000u);
  }
}

// Bytes a decoder might see from a confused or hostile peer: records of random
// length and content in both directions, gaps among them.
std::vector<uint8_t> random_records(std::mt19937& rng, int records) {
  std::vector<uint8_t> in;
  for (int i = 0; i < records; ++i) {
    const uint8_t op = static_cast<uint8_t>(rng() % 8 == 0 ? 2 | (rng() & 1) : rng() & 1);
    const uint16_t len = static_cast<uint16_t>(rng() % 600);
    in.push_back(op);
    in.push_back(static_cast<uint8_t>(len >> 8));
    in.push_back(static_cast<uint8_t>(len));
    if (op & 2) continue;
    for (uint16_t k = 0; k < len; ++k)
      in.push_back(static_cast<uint8_t>(rng() % 4 ? rng() % 96 + 32 : rng()));
  }
  return in;
}

TEST(Registry, EveryDecoderKeepsTheSeamsContractOnArbitraryInput) {
  std::mt19937 rng(20261202);
  int decoders = 0;
  for (const DecoderDescriptor& d : decoder_registry()) {
    if (!d.create || d.default_ports.empty()) continue;
    SCOPED_TRACE(std::string(d.name));
    ++decoders;
    DecoderSet set;
    const ProtocolSettings& s = set.enable_exercised(d.name);
    test::DecoderHarness h;
    h.dec = d.create(h.setup(d.name, &s));
    for (int round = 0; round < 200; ++round) {
      const std::vector<uint8_t> in = random_records(rng, 1 + round % 12);
      if (d.transports & kTransportTcp) {
        ASSERT_TRUE(h.run(in.data(), in.size(), d.default_ports[0])) << round;
      }
      if (d.transports & kTransportUdp) {
        ASSERT_TRUE(h.datagram(in.data(), in.size(), d.default_ports[0], round & 1)) << round;
      }
    }
  }
  EXPECT_GE(decoders, 9);
}

}  // namespace
}  // namespace tapbeat
