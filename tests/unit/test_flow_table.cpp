#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <set>
#include <string>

#include "event/agent.hpp"
#include "event/json_writer.hpp"
#include "flow/flow_event.hpp"
#include "flow/flow_table.hpp"

namespace tapbeat {
namespace {

FlowKey key_for(uint32_t i) {
  PacketMeta m;
  m.ip_version = 4;
  m.l4_proto = 6;
  m.src = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
  m.dst = {192, 168, 0, 1};
  m.sport = static_cast<uint16_t>(1024 + i % 50000);
  m.dport = 80;
  FlowKey k;
  bool from_a;
  FlowTable::make_key(m, k, from_a);
  return k;
}

TEST(FlowKey, BothDirectionsGiveOneKey) {
  PacketMeta a;
  a.ip_version = 4;
  a.l4_proto = 17;
  a.src = {10, 0, 0, 1};
  a.dst = {10, 0, 0, 2};
  a.sport = 5000;
  a.dport = 53;
  a.has_mac = true;
  a.mac_src = {1, 1, 1, 1, 1, 1};
  a.mac_dst = {2, 2, 2, 2, 2, 2};
  PacketMeta b = a;
  std::swap(b.src, b.dst);
  std::swap(b.sport, b.dport);
  std::swap(b.mac_src, b.mac_dst);
  FlowKey ka, kb;
  bool fa, fb;
  FlowTable::make_key(a, ka, fa);
  FlowTable::make_key(b, kb, fb);
  EXPECT_EQ(ka, kb);
  EXPECT_NE(fa, fb);
  EXPECT_EQ(FlowTable::hash_key(ka), FlowTable::hash_key(kb));
}

TEST(FlowKey, IcmpEchoRequestAndReplyShareAFlow) {
  PacketMeta req;
  req.ip_version = 4;
  req.l4_proto = 1;
  req.src = {10, 0, 0, 1};
  req.dst = {10, 0, 0, 2};
  req.icmp_type = 8;
  req.icmp_id = 77;
  PacketMeta rep = req;
  std::swap(rep.src, rep.dst);
  rep.icmp_type = 0;
  FlowKey a, b;
  bool fa, fb;
  FlowTable::make_key(req, a, fa);
  FlowTable::make_key(rep, b, fb);
  EXPECT_EQ(a, b);
  EXPECT_NE(fa, fb);
  rep.icmp_id = 78;  // another ping session is another flow
  FlowTable::make_key(rep, b, fb);
  EXPECT_FALSE(a == b);
}

TEST(FlowKey, VlanSeparatesFlows) {
  PacketMeta m;
  m.ip_version = 4;
  m.l4_proto = 6;
  m.src = {10, 0, 0, 1};
  m.dst = {10, 0, 0, 2};
  FlowKey a, b;
  bool f;
  FlowTable::make_key(m, a, f);
  m.vlan_count = 1;
  m.vlan[0] = 10;
  FlowTable::make_key(m, b, f);
  EXPECT_FALSE(a == b);
}

// A connection's key is the flow key less its link layer: without_link clears exactly
// has_mac, the two MACs, vlan_count and the tags (the tunnel id stays), and
// is_without_link tells a packet's key from a connection key by every other byte.
TEST(FlowKey, KeyWithoutLinkDiffersOnlyInLinkFields) {
  PacketMeta m;
  m.ip_version = 6;
  m.l4_proto = 6;
  for (int i = 0; i < 16; ++i)
    m.src[i] = static_cast<uint8_t>(i + 1), m.dst[i] = static_cast<uint8_t>(0x80 + i);
  m.sport = 40000;
  m.dport = 443;
  m.vlan_count = 2;
  m.vlan = {10, 20};
  m.tunnel_id = 77;
  m.has_mac = true;
  m.mac_src = {1, 2, 3, 4, 5, 6};
  m.mac_dst = {7, 8, 9, 10, 11, 12};
  FlowKey k;
  bool from_a;
  FlowTable::make_key(m, k, from_a);
  const FlowKey c = without_link(k);
  FlowKey expect = k;
  expect.has_mac = 0;
  expect.mac_a = expect.mac_b = std::array<uint8_t, 6>{};
  expect.vlan_count = 0;
  expect.vlan = {0, 0};
  EXPECT_EQ(std::memcmp(&c, &expect, sizeof c), 0);
  EXPECT_TRUE(is_without_link(c, k));
  EXPECT_TRUE(is_without_link(c, c));
  // Every byte outside the link fields tells the keys apart; the link fields do not.
  for (std::size_t at = 0; at < sizeof(FlowKey); ++at) {
    FlowKey other = k;
    reinterpret_cast<uint8_t*>(&other)[at] ^= 0x5a;
    const bool link = at == offsetof(FlowKey, has_mac) || at == offsetof(FlowKey, vlan_count) ||
                      (at >= offsetof(FlowKey, vlan) && at < offsetof(FlowKey, vlan) + sizeof other.vlan) ||
                      (at >= offsetof(FlowKey, mac_a) && at < offsetof(FlowKey, mac_b) + sizeof other.mac_b);
    if (at >= offsetof(FlowKey, reserved)) continue;  // always zero in a made key
    EXPECT_EQ(is_without_link(c, other), link) << "byte " << at;
    EXPECT_EQ(without_link(other) == c, link) << "byte " << at;
  }
}

TEST(FlowTable, InsertFindRemoveKeepsProbeChainsIntact) {
  FlowTable t(1000);
  std::vector<Flow*> flows;
  for (uint32_t i = 0; i < 1000; ++i) {
    const FlowKey k = key_for(i);
    const uint64_t h = FlowTable::hash_key(k);
    ASSERT_EQ(t.find(k, h), nullptr);
    flows.push_back(t.insert(k, h));
  }
  EXPECT_TRUE(t.full());
  // Remove every third flow; every other must still be found.
  for (uint32_t i = 0; i < 1000; i += 3) t.remove(flows[i]);
  for (uint32_t i = 0; i < 1000; ++i) {
    const FlowKey k = key_for(i);
    Flow* f = t.find(k, FlowTable::hash_key(k));
    if (i % 3 == 0)
      EXPECT_EQ(f, nullptr) << i;
    else
      EXPECT_EQ(f, flows[i]) << i;
  }
  EXPECT_EQ(t.size(), 1000u - 334u);
}

// The index starts at 262,144 buckets and doubles at half load: 480 k live flows make it
// grow twice, with removals between the doublings, and every flow is still found where
// it was inserted, every removed one gone, and LRU order unchanged by the rehashing.
TEST(FlowTable, IndexGrowsAsFlowsArriveAndKeepsEveryFlow) {
  constexpr uint32_t kFlows = 500'000;
  FlowTable t(1u << 20);
  const uint32_t first = t.index_buckets();
  EXPECT_EQ(first, 262'144u);
  std::vector<Flow*> flows;
  for (uint32_t i = 0; i < kFlows; ++i) {
    const FlowKey k = key_for(i);
    const uint64_t h = FlowTable::hash_key(k);
    ASSERT_EQ(t.find(k, h), nullptr) << i;
    flows.push_back(t.insert(k, h));
    if (i == 100'000) {
      for (uint32_t j = 0; j < 100'000; j += 5) t.remove(flows[j]);
    }
  }
  EXPECT_EQ(t.index_buckets(), 4 * first);
  uint32_t live = 0;
  for (uint32_t i = 0; i < kFlows; ++i) {
    const FlowKey k = key_for(i);
    Flow* f = t.find(k, FlowTable::hash_key(k));
    if (i < 100'000 && i % 5 == 0) {
      EXPECT_EQ(f, nullptr) << i;
    } else {
      EXPECT_EQ(f, flows[i]) << i;
      ++live;
    }
  }
  EXPECT_EQ(t.size(), live);
  // LRU order is insertion order (no touches): the oldest live flow is flows[1].
  EXPECT_EQ(t.oldest(), flows[1]);
  EXPECT_EQ(t.next(flows[1]), flows[2]);
}

TEST(FlowTable, SmallTableUsesItsWholeIndexFromTheStart) {
  FlowTable t(1000);
  EXPECT_EQ(t.index_buckets(), 2048u);
}

TEST(FlowTable, LruOrderFollowsActivity) {
  FlowTable t(8);
  Flow* a = t.insert(key_for(1), FlowTable::hash_key(key_for(1)));
  Flow* b = t.insert(key_for(2), FlowTable::hash_key(key_for(2)));
  Flow* c = t.insert(key_for(3), FlowTable::hash_key(key_for(3)));
  EXPECT_EQ(t.oldest(), a);
  t.touch(a);
  EXPECT_EQ(t.oldest(), b);
  EXPECT_EQ(t.next(b), c);
  EXPECT_EQ(t.next(c), a);
  EXPECT_EQ(t.next(a), nullptr);
}

TEST(FlowTable, SlotsAreReused) {
  FlowTable t(4);
  for (int round = 0; round < 100; ++round) {
    std::vector<Flow*> fs;
    for (uint32_t i = 0; i < 4; ++i) {
      const FlowKey k = key_for(static_cast<uint32_t>(round * 4) + i);
      fs.push_back(t.insert(k, FlowTable::hash_key(k)));
    }
    for (Flow* f : fs) t.remove(f);
  }
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.oldest(), nullptr);
}

TEST(FlowEvent, WrittenWholeOrRecordedAsOverflowAtEveryCapacity) {
  // The longest members a flow event has (IPv6 addresses, two VLAN ids, 20-digit
  // counts, nanosecond times): written whole where they fit, else overflow and nothing
  // past the buffer, at every capacity up to past the room the writer asks for.
  PacketMeta m;
  m.ip_version = 6;
  m.l4_proto = 6;
  m.src = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22, 0x33, 0x44};
  m.dst = {0xfe, 0x80, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22};
  m.sport = 65535;
  m.dport = 443;
  m.has_mac = true;
  m.mac_src = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  m.mac_dst = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06};
  m.vlan_count = 2;
  m.vlan = {4094, 4093};
  Flow f{};
  bool from_a;
  FlowTable::make_key(m, f.key, from_a);
  f.source_is_a = from_a;
  f.first_ts_ns = 1'700'000'000'123'456'789ull;
  f.last_ts_ns = f.first_ts_ns + 987'654'321;
  f.dir[0] = {UINT64_MAX / 3, UINT64_MAX / 5};
  f.dir[1] = {UINT64_MAX / 7, UINT64_MAX / 11};
  const FlowCounts counts[2] = {f.dir[0], f.dir[1]};
  AgentInfo agent;
  agent.hostname = "host \"quoted\" " + std::string(80, 'h');  // escaped, the room asked for again after it
  agent.timestamp_digits = 9;
  prepare_agent(agent);
  // The whole event, then the same at every capacity: whole, or overflow and nothing
  // past the end.
  const auto whole = [&] {
    std::string full(8192, '\0');
    JsonWriter big(full.data(), full.size());
    write_flow_event(big, f, true, f.last_ts_ns, counts, agent);
    EXPECT_FALSE(big.overflow());
    return std::string(big.view());
  };
  const auto every_capacity = [&](const std::string& want) {
    for (std::size_t cap = 0; cap <= want.size() + 2048; ++cap) {
      std::string buf(cap + 8, 'Z');
      JsonWriter w(buf.data(), cap);
      write_flow_event(w, f, true, f.last_ts_ns, counts, agent);
      EXPECT_EQ(buf.substr(cap), std::string(8, 'Z')) << cap;
      if (!w.overflow()) {
        EXPECT_EQ(w.view(), want) << cap;
      }
    }
  };
  const std::string want = whole();
  for (const char* part :
       {R"("destination":{"bytes":)", R"("ip":"2001:db8:1234:5678:9abc:def0:1122:3344")",
        R"("mac":"01-02-03-04-05-06")", R"("vlan":[4094,4093]})", R"("type":["connection","end"])",
        R"("host":{"name":"host \"quoted\" hhhh)", R"("transport":"tcp","type":"ipv6"},"source":{)",
        R"("port":65535},"type":"flow"})"})
    EXPECT_NE(want.find(part), std::string::npos) << part << " in " << want;
  every_capacity(want);
  // With the usual short host name, no string of the event is escaped: the text takes
  // its room again after each all the same.
  agent.hostname = "vm";
  prepare_agent(agent);
  every_capacity(whole());
}

}  // namespace
}  // namespace tapbeat
