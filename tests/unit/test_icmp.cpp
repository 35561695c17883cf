#include <gtest/gtest.h>

#include "decode/icmp/icmp.hpp"
#include "net/networks.hpp"
#include "net/parse.hpp"
#include "packet_builder.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

using test::Frame;

struct Packet {
  test::Bytes bytes;
  PacketMeta meta;
};

std::unique_ptr<Packet> icmp(const char* src, const char* dst, uint8_t type, uint8_t code, uint16_t id,
                             uint16_t seq, uint64_t ts, std::size_t data = 4, bool v6 = false) {
  auto p = std::make_unique<Packet>();
  Frame f;
  if (v6)
    f.eth(0x86DD).ipv6(src, dst, 58).icmp(type, code, id, seq).payload(data).finish();
  else
    f.eth(0x0800).ipv4(src, dst, 1).icmp(type, code, id, seq).payload(data).finish();
  p->bytes = f.b;
  Counters c;
  p->meta.cap_len = p->meta.wire_len = static_cast<uint32_t>(p->bytes.size());
  EXPECT_EQ(parse_frame(p->bytes.data(), p->meta.cap_len, link_type::kEthernet, p->meta, c),
            ParseStatus::kOk);
  p->meta.ts_ns = ts;
  return p;
}

// A tracker with a 10 s timeout and its counters.
class Icmp : public ::testing::Test {
 protected:
  Counters block;
  CounterSet<IcmpStat> c{block, 0};
  IcmpTracker t{10'000'000'000, c};
  IcmpEvent ev;
};

TEST_F(Icmp, EchoRequestAndReplyMakeOneTransaction) {
  EXPECT_FALSE(t.on_packet(icmp("10.0.0.1", "10.0.0.2", 8, 0, 5, 1, 1000)->meta, ev));
  ASSERT_TRUE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 5, 1, 5000)->meta, ev));
  EXPECT_EQ(ev.error, nullptr);
  EXPECT_TRUE(ev.has_request && ev.has_response);
  EXPECT_EQ(ev.req_type, 8);
  EXPECT_EQ(ev.resp_type, 0);
  EXPECT_EQ(ev.req_bytes, 4u);
  EXPECT_EQ(ev.resp_ts_ns - ev.req_ts_ns, 4000u);
  EXPECT_EQ(ev.client[3], 1);
  EXPECT_EQ(ev.server[3], 2);
  EXPECT_EQ(c.get(IcmpStat::transactions), 1u);
}

// A repeated request (same identifier and sequence) closes the earlier one with
// Packetbeat's note and waits in its place: three requests, one reply, three events.
TEST_F(Icmp, RepeatedRequestClosesTheEarlierOne) {
  EXPECT_FALSE(t.on_packet(icmp("10.0.0.1", "10.0.0.2", 8, 0, 5, 1, 1000)->meta, ev));
  ASSERT_TRUE(t.on_packet(icmp("10.0.0.1", "10.0.0.2", 8, 0, 5, 1, 2000)->meta, ev));
  EXPECT_STREQ(ev.error,
               "Another request with the same Id and Seq was received so this request was closed "
               "without receiving a response.");
  EXPECT_EQ(ev.req_ts_ns, 1000u);
  ASSERT_TRUE(t.on_packet(icmp("10.0.0.1", "10.0.0.2", 8, 0, 5, 1, 3000)->meta, ev));
  EXPECT_EQ(ev.req_ts_ns, 2000u);
  ASSERT_TRUE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 5, 1, 3500)->meta, ev));
  EXPECT_EQ(ev.error, nullptr);
  EXPECT_EQ(ev.req_ts_ns, 3000u);
  EXPECT_EQ(c.get(IcmpStat::duplicate_requests), 2u);
}

TEST_F(Icmp, ReplyMatchesOnlyItsSequence) {
  t.on_packet(icmp("10.0.0.1", "10.0.0.2", 8, 0, 5, 1, 1000)->meta, ev);
  EXPECT_FALSE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 5, 2, 2000)->meta, ev)) << "held";
  ASSERT_TRUE(t.expire_one(2000 + IcmpTracker::kEarlyNs + 1, ev));
  EXPECT_STREQ(ev.error, "Response was received without an associated request.");
  EXPECT_FALSE(ev.has_request);
  EXPECT_EQ(c.get(IcmpStat::orphan_responses), 1u);
  // The request is still pending and expires as unanswered.
  EXPECT_FALSE(t.expire_one(5'000'000'000, ev));
  ASSERT_TRUE(t.expire_one(20'000'000'000, ev));
  EXPECT_STREQ(ev.error, "Request was received without an associated response.");
  EXPECT_TRUE(ev.has_request && !ev.has_response);
  EXPECT_EQ(c.get(IcmpStat::unanswered), 1u);
}

TEST_F(Icmp, ErrorMessagesArePublishedAloneFromTheirSender) {
  // As Packetbeat: a request from the router that sent it, status Error, no note;
  // its size is what follows the 8-byte header.
  ASSERT_TRUE(t.on_packet(icmp("192.0.2.1", "10.0.0.1", 3, 3, 0, 0, 1000, 28)->meta, ev));
  EXPECT_TRUE(ev.has_request);
  EXPECT_FALSE(ev.has_response);
  EXPECT_EQ(ev.client, icmp("192.0.2.1", "10.0.0.1", 3, 3, 0, 0, 0)->meta.src);
  EXPECT_EQ(ev.req_type, 3);
  EXPECT_EQ(ev.req_code, 3);
  EXPECT_EQ(ev.req_bytes, 28u);
  EXPECT_TRUE(ev.error_message_type);
  EXPECT_EQ(ev.error, nullptr);
  EXPECT_EQ(c.get(IcmpStat::single_messages), 1u);
  EXPECT_FALSE(t.flush_one(ev)) << "nothing waits";
  EXPECT_STREQ(icmp_message_name(4, 3), "DestinationUnreachable");
  EXPECT_STREQ(icmp_message_name(6, 135), "NeighborSolicitation");
}

TEST_F(Icmp, NeighbourDiscoveryMessagesStandAlone) {
  // A solicitation goes to the solicited-node group, the advertisement comes back to
  // the soliciting address: each is its own event with status OK, none waits for a
  // reply (pairing them left every solicitation "unanswered").
  ASSERT_TRUE(t.on_packet(icmp("fe80::1", "ff02::1:ff00:2", 135, 0, 0, 0, 1000, 20, true)->meta, ev));
  EXPECT_TRUE(ev.has_request && !ev.has_response && !ev.error_message_type && !ev.error);
  EXPECT_EQ(ev.req_type, 135);
  EXPECT_EQ(ev.req_bytes, 20u) << "what follows the 8-byte header";
  ASSERT_TRUE(t.on_packet(icmp("fe80::2", "fe80::1", 136, 0, 0, 0, 2000, 20, true)->meta, ev));
  EXPECT_TRUE(ev.has_request && !ev.has_response && !ev.error);
  EXPECT_EQ(ev.req_type, 136);
  ASSERT_TRUE(t.on_packet(icmp("fe80::2", "fe80::1", 1, 4, 0, 0, 3000, 40, true)->meta, ev));
  EXPECT_TRUE(ev.error_message_type);
  EXPECT_EQ(c.get(IcmpStat::single_messages), 3u);
  EXPECT_EQ(c.get(IcmpStat::orphan_responses), 0u);
  EXPECT_FALSE(t.flush_one(ev));
}

TEST_F(Icmp, EchoReplyWithoutRequestIsAnOrphan) {
  // Held kEarlyNs for a request written after it, then published alone.
  EXPECT_FALSE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 7, 1, 1000)->meta, ev));
  EXPECT_FALSE(t.expire_one(1000 + IcmpTracker::kEarlyNs, ev));
  ASSERT_TRUE(t.expire_one(1000 + IcmpTracker::kEarlyNs + 1, ev));
  EXPECT_TRUE(ev.has_response && !ev.has_request);
  EXPECT_EQ(ev.resp_ts_ns, 1000u);
  EXPECT_STREQ(ev.error, "Response was received without an associated request.");
  EXPECT_EQ(c.get(IcmpStat::orphan_responses), 1u);
  EXPECT_FALSE(t.flush_one(ev));
}

// A capture point that merges the two directions can write a reply before its request
// (a LAN ping answered within the timestamps' skew): the reply is held kEarlyNs and the
// request that comes in that time makes the transaction with it (duration 0). A request
// later than that, or of another sequence, does not; a second copy of a held reply
// sends the first out alone; the table full, a reply goes out alone at once; at the
// end, what is held goes out alone.
TEST_F(Icmp, ReplyCapturedBeforeItsRequestPairsWithIt) {
  EXPECT_FALSE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 5, 1, 1000)->meta, ev));
  ASSERT_TRUE(t.on_packet(icmp("10.0.0.1", "10.0.0.2", 8, 0, 5, 1, 1001)->meta, ev));
  EXPECT_EQ(ev.error, nullptr);
  EXPECT_TRUE(ev.has_request && ev.has_response);
  EXPECT_EQ(ev.req_type, 8);
  EXPECT_EQ(ev.resp_type, 0);
  EXPECT_EQ(ev.req_ts_ns, 1001u);
  EXPECT_EQ(ev.resp_ts_ns, 1000u);
  EXPECT_EQ(ev.client[3], 1);
  EXPECT_EQ(ev.server[3], 2);
  EXPECT_EQ(c.get(IcmpStat::replies_before_request), 1u);
  EXPECT_FALSE(t.flush_one(ev)) << "nothing left";

  // Too late, and another sequence: the request waits, the reply goes out alone.
  EXPECT_FALSE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 5, 2, 5000)->meta, ev));
  EXPECT_FALSE(
      t.on_packet(icmp("10.0.0.1", "10.0.0.2", 8, 0, 5, 2, 5000 + IcmpTracker::kEarlyNs + 1)->meta, ev));
  EXPECT_FALSE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 5, 3, 6000)->meta, ev));
  EXPECT_FALSE(t.on_packet(icmp("10.0.0.1", "10.0.0.2", 8, 0, 5, 4, 6001)->meta, ev));
  // The same reply twice: the first goes out alone, the second is held.
  ASSERT_TRUE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 5, 3, 6002)->meta, ev));
  EXPECT_EQ(ev.resp_ts_ns, 6000u);
  EXPECT_STREQ(ev.error, "Response was received without an associated request.");
  int alone = 0;
  while (t.flush_one(ev)) alone += !ev.has_request;
  EXPECT_EQ(alone, 2) << "sequence 2's reply and sequence 3's second";
  EXPECT_EQ(c.get(IcmpStat::replies_before_request), 1u);
  EXPECT_EQ(c.get(IcmpStat::orphan_responses), 3u);

  // A tunnel's second reply to one request (the key a transaction just had) is not held.
  EXPECT_FALSE(t.on_packet(icmp("10.0.0.1", "10.0.0.2", 8, 0, 7, 0, 7000)->meta, ev));
  ASSERT_TRUE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 7, 0, 7001)->meta, ev));
  EXPECT_EQ(ev.error, nullptr);
  ASSERT_TRUE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 7, 0, 7002)->meta, ev));
  EXPECT_STREQ(ev.error, "Response was received without an associated request.");
  EXPECT_FALSE(t.on_packet(icmp("10.0.0.1", "10.0.0.2", 8, 0, 7, 0, 7003)->meta, ev)) << "waits for its own";
  EXPECT_EQ(c.get(IcmpStat::orphan_responses), 4u);
  while (t.flush_one(ev)) {
  }

  // The hold full: a reply past it goes out alone at once.
  for (uint16_t i = 0; i < IcmpTracker::kEarly; ++i)
    EXPECT_FALSE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 6, i, 9000)->meta, ev));
  ASSERT_TRUE(t.on_packet(icmp("10.0.0.2", "10.0.0.1", 0, 0, 6, 99, 9001)->meta, ev));
  EXPECT_EQ(ev.resp_ts_ns, 9001u);
  EXPECT_STREQ(ev.error, "Response was received without an associated request.");
}

TEST_F(Icmp, FullPendingTablePublishesTheOldestRequest) {
  for (uint32_t i = 0; i < IcmpTracker::kPending; ++i)
    EXPECT_FALSE(t.on_packet(icmp("10.0.0.1", "10.0.0.2", 8, 0, 1, static_cast<uint16_t>(i), i)->meta, ev));
  ASSERT_TRUE(t.on_packet(icmp("10.0.0.1", "10.0.0.3", 8, 0, 1, 0, 99999)->meta, ev));
  EXPECT_STREQ(ev.error, "Request was received without an associated response.");
  EXPECT_EQ(ev.req_ts_ns, 0u);
  EXPECT_EQ(c.get(IcmpStat::pending_full), 1u);
}

TEST(Networks, DirectionFromInternalNetworks) {
  NetworkSet internal({"private", "198.51.100.0/24"});
  IpBytes a{10, 0, 0, 1}, b{8, 8, 8, 8}, c{198, 51, 100, 7}, d{192, 168, 1, 1};
  EXPECT_STREQ(network_direction(internal, a, b, 4), "outbound");
  EXPECT_STREQ(network_direction(internal, b, c, 4), "inbound");
  EXPECT_STREQ(network_direction(internal, a, d, 4), "internal");
  EXPECT_STREQ(network_direction(internal, b, b, 4), "external");
  EXPECT_STREQ(network_direction(NetworkSet{}, a, b, 4), "unknown");
  NetworkSet v6({"loopback", "fc00::/7"});
  IpBytes lo{};
  lo[15] = 1;
  EXPECT_TRUE(v6.contains(lo, 6));
  IpBytes ula{0xfd};
  EXPECT_TRUE(v6.contains(ula, 6));
  EXPECT_FALSE(v6.contains(b, 4));
}

TEST(Networks, HostBasedDirectionComesFirst) {
  // Packetbeat's order: to a loopback, link-local or this host's address is ingress,
  // from one egress, before internal_networks are consulted.
  NetworkSet internal({"private"});
  IpBytes lo{127, 0, 0, 1}, lo2{127, 0, 0, 2}, ll{169, 254, 3, 4}, mc{224, 0, 0, 251}, pub{8, 8, 8, 8};
  IpBytes host{10, 0, 0, 9}, peer{10, 0, 0, 1};
  EXPECT_STREQ(network_direction(internal, lo, lo2, 4), "ingress");
  EXPECT_STREQ(network_direction(internal, ll, pub, 4), "egress");
  EXPECT_STREQ(network_direction(internal, peer, mc, 4), "ingress");
  EXPECT_STREQ(network_direction(internal, peer, host, 4), "internal");
  internal.set_host_addresses({{host, 4}});
  EXPECT_STREQ(network_direction(internal, peer, host, 4), "ingress");
  EXPECT_STREQ(network_direction(internal, host, pub, 4), "egress");
  IpBytes ll6{0xfe, 0x80}, mc6{0xff, 0x02}, lo6{};
  lo6[15] = 1;
  IpBytes g6{0x20, 0x01, 0x0d, 0xb8};
  EXPECT_STREQ(network_direction(internal, g6, ll6, 6), "ingress");
  EXPECT_STREQ(network_direction(internal, g6, mc6, 6), "ingress");
  EXPECT_STREQ(network_direction(internal, lo6, g6, 6), "egress");
  EXPECT_STREQ(network_direction(internal, g6, g6, 6), "external");
}

// An echo reply whose request the capture missed, and a request never answered, as
// Packetbeat publishes them (its icmp.go): its notes word for word, and path the
// address the request went to, which for the orphaned reply is the reply's sender.
// The community id stays the conversation's (the request's and its flow's), where
// Packetbeat hashes the orphaned reply as if sent the other way.
TEST(IcmpEvents, OrphanedRepliesAndUnansweredRequestsAsPacketbeatWritesThem) {
  test::StreamTest h;
  h.decoders.enable("icmp");
  h.start();
  const auto send = [&](const char* src, const char* dst, uint8_t type, uint16_t seq) {
    Frame f;
    f.eth(0x0800, 1, 2).ipv4(src, dst, 1).icmp(type, 0, 9, seq).payload(8);
    h.push(f);
  };
  send("10.0.0.2", "10.0.0.1", 0, 1);  // the reply alone
  send("10.0.0.1", "10.0.0.2", 8, 2);  // a request never answered
  const auto ev = h.finish();          // (the held reply goes out first at the end)
  ASSERT_EQ(ev.size(), 2u);
  const auto has = [](const std::string& e, const char* s) { return e.find(s) != std::string::npos; };
  EXPECT_TRUE(has(ev[0], R"("message":"Response was received without an associated request.")")) << ev[0];
  EXPECT_TRUE(has(ev[0], R"("path":"10.0.0.2")")) << ev[0];
  EXPECT_TRUE(has(ev[0], R"("client":{"ip":"10.0.0.1"})")) << ev[0];
  EXPECT_TRUE(has(ev[1], R"("message":"Request was received without an associated response.")")) << ev[1];
  EXPECT_TRUE(has(ev[1], R"("path":"10.0.0.2")")) << ev[1];
  const auto cid = [](const std::string& e) { return e.substr(e.find(R"("community_id":)"), 48); };
  EXPECT_EQ(cid(ev[0]), cid(ev[1])) << "one conversation, one community id";
}

}  // namespace
}  // namespace tapbeat
