#include <gtest/gtest.h>

#include <numeric>

#include "net/ipfrag.hpp"
#include "net/parse.hpp"
#include "packet_builder.hpp"

namespace tapbeat {
namespace {

// Payload bytes 0..n-1 (mod 251) so reassembly order is checkable.
test::Bytes pattern(std::size_t n) {
  test::Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i % 251);
  return b;
}

PacketMeta frag_meta(const test::Bytes& data, uint32_t offset, uint32_t len, bool more, uint32_t id = 9) {
  PacketMeta m;
  m.ip_version = 4;
  m.src = {10, 0, 0, 1};
  m.dst = {10, 0, 0, 2};
  m.wire_len = len + 34;
  m.frag.id = id;
  m.frag.offset_bytes = offset;
  m.frag.more = more;
  m.frag.next_proto = 17;
  m.frag.data = data.data() + offset;
  m.frag.len = len;
  return m;
}

struct FragFixture : ::testing::Test {
  Counters c;
  FragLimits limits;
  std::unique_ptr<FragTable> t;
  void SetUp() override { t = std::make_unique<FragTable>(limits, c); }
};

TEST_F(FragFixture, InOrderAndOutOfOrder) {
  const auto data = pattern(3000);
  for (bool reverse : {false, true}) {
    std::vector<PacketMeta> parts = {frag_meta(data, 0, 1480, true), frag_meta(data, 1480, 1480, true),
                                     frag_meta(data, 2960, 40, false)};
    if (reverse) std::reverse(parts.begin(), parts.end());
    FragTable::Datagram d{};
    EXPECT_FALSE(t->add(parts[0], 1, d));
    EXPECT_FALSE(t->add(parts[1], 2, d));
    ASSERT_TRUE(t->add(parts[2], 3, d));
    ASSERT_EQ(d.len, 3000u);
    EXPECT_EQ(std::memcmp(d.data, data.data(), 3000), 0);
    EXPECT_EQ(d.frames, 3u);
    EXPECT_EQ(d.proto, 17);
    EXPECT_EQ(d.first_ts_ns, 1u);
    EXPECT_EQ(t->active_sets(), 0u);
  }
  EXPECT_EQ(c.get(Counter::frag_reassembled), 2u);
  EXPECT_EQ(c.get(Counter::frag_fragments), 6u);
}

TEST_F(FragFixture, OverlapKeepsFirstBytesAndIsCounted) {
  const auto data = pattern(48);
  auto other = data;
  for (auto& b : other) b = 0xEE;
  FragTable::Datagram d{};
  EXPECT_FALSE(t->add(frag_meta(data, 0, 24, true), 1, d));
  EXPECT_FALSE(t->add(frag_meta(other, 16, 16, true), 2, d));  // overlaps 16..24
  ASSERT_TRUE(t->add(frag_meta(data, 32, 16, false), 3, d));
  EXPECT_EQ(c.get(Counter::frag_overlap), 1u);
  ASSERT_EQ(d.len, 48u);
  EXPECT_EQ(std::memcmp(d.data, data.data(), 24), 0) << "first arrival wins";
  EXPECT_EQ(d.data[24], 0xEE);
}

TEST_F(FragFixture, TimeoutDiscardsIncompleteSets) {
  const auto data = pattern(64);
  FragTable::Datagram d{};
  EXPECT_FALSE(t->add(frag_meta(data, 0, 32, true), 1'000, d));
  EXPECT_EQ(t->active_sets(), 1u);
  t->expire(1'000 + limits.timeout_ns + 1);
  EXPECT_EQ(t->active_sets(), 0u);
  EXPECT_EQ(c.get(Counter::frag_timeout), 1u);
}

TEST_F(FragFixture, OversizedDatagramIsRefused) {
  const auto data = pattern(70000);
  FragTable::Datagram d{};
  EXPECT_FALSE(t->add(frag_meta(data, 65528, 64, false), 1, d));
  EXPECT_EQ(c.get(Counter::frag_too_large), 1u);
}

TEST_F(FragFixture, MisalignedMiddleFragmentIsMalformed) {
  const auto data = pattern(64);
  FragTable::Datagram d{};
  EXPECT_FALSE(t->add(frag_meta(data, 0, 13, true), 1, d));
  EXPECT_EQ(c.get(Counter::frag_bad), 1u);
}

TEST_F(FragFixture, ConflictingLastFragmentsDropTheSet) {
  const auto data = pattern(128);
  FragTable::Datagram d{};
  EXPECT_FALSE(t->add(frag_meta(data, 64, 16, false), 1, d));
  EXPECT_FALSE(t->add(frag_meta(data, 96, 16, false), 2, d));
  EXPECT_EQ(c.get(Counter::frag_bad), 1u);
  EXPECT_EQ(t->active_sets(), 0u);
}

TEST(Frag, FullTableEvictsOldestSet) {
  Counters c;
  FragLimits limits;
  limits.max_sets = 2;
  FragTable t(limits, c);
  const auto data = pattern(64);
  FragTable::Datagram d{};
  for (uint32_t id = 1; id <= 3; ++id) EXPECT_FALSE(t.add(frag_meta(data, 0, 32, true, id), id, d));
  EXPECT_EQ(c.get(Counter::frag_table_full), 1u);
  EXPECT_EQ(t.active_sets(), 2u);
  // Set 1 was evicted: its last fragment alone cannot complete it.
  EXPECT_FALSE(t.add(frag_meta(data, 32, 32, false, 1), 4, d));
  // Set 3 survives and completes.
  EXPECT_TRUE(t.add(frag_meta(data, 32, 32, false, 3), 5, d));
}

TEST(Frag, ByteLimitIsEnforced) {
  Counters c;
  FragLimits limits;
  limits.max_bytes = 65536;  // 32 blocks of 2 KiB
  FragTable t(limits, c);
  const auto data = pattern(65000);
  FragTable::Datagram d{};
  // Two sets each wanting ~40 KB cannot both be held.
  EXPECT_FALSE(t.add(frag_meta(data, 0, 40000, true, 1), 1, d));
  EXPECT_FALSE(t.add(frag_meta(data, 0, 40000, true, 2), 2, d));
  EXPECT_EQ(c.get(Counter::frag_bytes_limit), 1u);
}

TEST(Frag, TooManyFragments) {
  Counters c;
  FragTable t(FragLimits{}, c);
  const auto data = pattern(65000);
  FragTable::Datagram d{};
  // Every other 8-byte slot, so no two ranges merge.
  for (uint32_t i = 0; i <= FragTable::kMaxRanges; ++i) t.add(frag_meta(data, i * 16, 8, true), i, d);
  EXPECT_EQ(c.get(Counter::frag_too_many), 1u);
}

}  // namespace
}  // namespace tapbeat
