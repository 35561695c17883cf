#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "flow/flow_table.hpp"
#include "net/parse.hpp"
#include "packet_builder.hpp"

namespace tapbeat {
namespace {

using test::Frame;

struct Parsed {
  PacketMeta m;
  Counters c;
  ParseStatus st;
};

std::unique_ptr<Parsed> parse(const test::Bytes& b, uint16_t dlt = link_type::kEthernet,
                              uint32_t wire_len = 0) {
  auto p = std::make_unique<Parsed>();
  p->m.cap_len = static_cast<uint32_t>(b.size());
  p->m.wire_len = wire_len ? wire_len : static_cast<uint32_t>(b.size());
  p->st = parse_frame(b.data(), static_cast<uint32_t>(b.size()), dlt, p->m, p->c);
  return p;
}

uint64_t total(const Counters& c) {
  uint64_t t = 0;
  for (std::size_t i = 0; i < kEngineCounterCount; ++i) t += c.get(i);
  return t;
}

TEST(Parse, EthernetIpv4Tcp) {
  Frame f;
  f.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 6).tcp(1234, 80, 0x02).payload(10).finish();
  auto p = parse(f.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.ip_version, 4);
  EXPECT_EQ(p->m.l4_proto, 6);
  EXPECT_EQ(p->m.sport, 1234);
  EXPECT_EQ(p->m.dport, 80);
  EXPECT_EQ(p->m.tcp_flags, 0x02);
  EXPECT_EQ(p->m.l4_payload_len, 10u);
  EXPECT_TRUE(p->m.has_mac);
  EXPECT_EQ(p->m.mac_src[5], 1);
  EXPECT_EQ(p->m.src[0], 10);
  EXPECT_EQ(p->m.dst[3], 2);
  EXPECT_EQ(total(p->c), 0u);
}

TEST(Parse, EthernetPaddingIsTrimmedByIpTotalLength) {
  Frame f;
  f.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 17).udp(53, 5353).payload(2).finish();
  f.payload(12, 0);  // Ethernet pads short frames to 60 bytes
  auto p = parse(f.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.l4_payload_len, 2u);
}

TEST(Parse, VlanAndQinQ) {
  Frame f;
  f.eth(0x88A8)
      .vlan(101, 0x8100)
      .vlan(600, 0x0800)
      .ipv4("192.168.1.1", "192.168.1.2", 1)
      .icmp(8, 0, 7)
      .finish();
  auto p = parse(f.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  ASSERT_EQ(p->m.vlan_count, 2);
  EXPECT_EQ(p->m.vlan[0], 101);
  EXPECT_EQ(p->m.vlan[1], 600);
  EXPECT_EQ(p->m.icmp_type, 8);
  EXPECT_EQ(p->m.icmp_id, 7);
}

TEST(Parse, TooManyVlanTagsIsCounted) {
  Frame f;
  f.eth(0x8100);
  for (int i = 0; i < 5; ++i) f.vlan(static_cast<uint16_t>(i + 1), 0x8100);
  f.vlan(9, 0x0800).ipv4("1.1.1.1", "2.2.2.2", 6).tcp(1, 2).finish();
  auto p = parse(f.b);
  EXPECT_EQ(p->st, ParseStatus::kDrop);
  EXPECT_EQ(p->c.get(Counter::vlan_too_deep), 1u);
}

TEST(Parse, BridgeHeadersLeadToTheInnerFrame) {
  // 802.1ah PBB (B-VLAN, I-TAG, the customer's frame with its own VLAN) and FabricPath
  // (FTag/TTL, then the host's frame): the inner addresses and tags are the flow's.
  Frame pbb;
  pbb.eth(0x88A8, 0x11, 0x12).vlan(100, 0x88E7).raw({0x00, 0x01, 0x02, 0x03});
  pbb.eth(0x8100, 0x21, 0x22).vlan(7, 0x0800).ipv4("10.0.0.1", "10.0.0.2", 6).tcp(1234, 80).finish();
  auto p = parse(pbb.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.mac_src[5], 0x21);
  EXPECT_EQ(p->m.mac_dst[5], 0x22);
  ASSERT_EQ(p->m.vlan_count, 1);
  EXPECT_EQ(p->m.vlan[0], 7);
  EXPECT_EQ(p->m.dport, 80);
  Frame fp;
  fp.eth(0x8903, 0x31, 0x32).raw({0x00, 0x3f});
  fp.eth(0x86DD, 0x41, 0x42).ipv6("::1", "::2", 17).udp(5, 53).finish();
  auto q = parse(fp.b);
  ASSERT_EQ(q->st, ParseStatus::kOk);
  EXPECT_EQ(q->m.mac_src[5], 0x41);
  EXPECT_EQ(q->m.dport, 53);
  // VN-Tag and E-TAG sit before the EtherType, as a VLAN tag does.
  Frame vn;
  vn.eth(0x8926)
      .raw({0x80, 0x01, 0x00, 0x02, 0x08, 0x00})
      .ipv4("10.0.0.1", "10.0.0.2", 17)
      .udp(1, 2)
      .finish();
  auto v = parse(vn.b);
  ASSERT_EQ(v->st, ParseStatus::kOk) << total(v->c);
  EXPECT_EQ(v->m.dport, 2);
  Frame et;
  et.eth(0x893F).raw({0, 0, 0, 1, 0, 0, 0x81, 0x00, 0x00, 0x05, 0x08, 0x00});
  et.ipv4("10.0.0.1", "10.0.0.2", 17).udp(3, 4).finish();
  auto e = parse(et.b);
  ASSERT_EQ(e->st, ParseStatus::kOk);
  ASSERT_EQ(e->m.vlan_count, 1);
  EXPECT_EQ(e->m.vlan[0], 5);
  EXPECT_EQ(e->m.dport, 4);
  // Cut inside a header; nested past the bound.
  Frame cut;
  cut.eth(0x8926).raw({0x80, 0x01});
  EXPECT_EQ(parse(cut.b)->c.get(Counter::bridge_truncated), 1u);
  Frame deep;
  deep.eth(0x8903).raw({0, 1});
  for (int i = 0; i < 5; ++i) deep.eth(0x8903).raw({0, 1});
  deep.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 17).udp(3, 4).finish();
  EXPECT_EQ(parse(deep.b)->c.get(Counter::bridge_too_deep), 1u);
}

TEST(Parse, MplsStack) {
  Frame f;
  f.eth(0x8847)
      .raw({0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40})  // two labels, BoS on 2nd
      .ipv4("10.1.1.1", "10.2.2.2", 17)
      .udp(1000, 2000)
      .finish();
  auto p = parse(f.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.dport, 2000);
}

TEST(Parse, MplsWithoutBottomOfStackIsTruncated) {
  Frame f;
  f.eth(0x8847).raw({0x00, 0x01, 0x00, 0x40});
  auto p = parse(f.b);
  EXPECT_EQ(p->st, ParseStatus::kDrop);
  EXPECT_EQ(p->c.get(Counter::mpls_truncated), 1u);
}

TEST(Parse, Ipv6WithExtensionHeaders) {
  Frame f;
  f.eth(0x86DD)
      .ipv6("2001:db8::1", "2001:db8::2", 0)  // hop-by-hop
      .raw({60, 0, 0, 0, 0, 0, 0, 0})         // -> destination options
      .raw({6, 0, 0, 0, 0, 0, 0, 0})          // -> TCP
      .tcp(443, 50000)
      .finish();
  auto p = parse(f.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.ip_version, 6);
  EXPECT_EQ(p->m.l4_proto, 6);
  EXPECT_EQ(p->m.sport, 443);
}

TEST(Parse, Ipv6ExtensionHeaderLyingAboutItsLength) {
  Frame f;
  f.eth(0x86DD).ipv6("2001:db8::1", "2001:db8::2", 0).raw({6, 200, 0, 0, 0, 0, 0, 0}).finish();
  auto p = parse(f.b);
  EXPECT_EQ(p->st, ParseStatus::kDrop);
  EXPECT_EQ(p->c.get(Counter::ipv6_ext_truncated), 1u);
}

TEST(Parse, Ipv6Fragment) {
  Frame f;
  f.eth(0x86DD)
      .ipv6("2001:db8::1", "2001:db8::2", 44)
      .raw({17, 0, 0x00, 0x01, 0, 0, 0, 42})
      .payload(16)
      .finish();
  auto p = parse(f.b);
  ASSERT_EQ(p->st, ParseStatus::kFragment);
  EXPECT_EQ(p->m.frag.id, 42u);
  EXPECT_EQ(p->m.frag.offset_bytes, 0u);
  EXPECT_TRUE(p->m.frag.more);
  EXPECT_EQ(p->m.frag.next_proto, 17);
  EXPECT_EQ(p->m.frag.len, 16u);
}

TEST(Parse, Ipv4FragmentFields) {
  Frame f;
  f.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 17, 77, 0x2000 | 3).payload(16).finish();
  auto p = parse(f.b);
  ASSERT_EQ(p->st, ParseStatus::kFragment);
  EXPECT_EQ(p->m.frag.offset_bytes, 24u);
  EXPECT_TRUE(p->m.frag.more);
  EXPECT_EQ(p->m.frag.id, 77u);
}

TEST(Parse, TruncatedHeadersAreCountedPerLayer) {
  struct Case {
    test::Bytes bytes;
    Counter counter;
  };
  Frame eth;
  eth.raw({1, 2, 3, 4, 5});
  Frame ip;
  ip.eth(0x0800).raw({0x45, 0, 0, 40, 0, 0});
  Frame tcp;
  tcp.eth(0x0800).ipv4("1.1.1.1", "2.2.2.2", 6).raw({0, 1, 0, 2, 0, 0}).finish();
  Frame udp;
  udp.eth(0x0800).ipv4("1.1.1.1", "2.2.2.2", 17).raw({0, 1, 0}).finish();
  Frame icmp;
  icmp.eth(0x0800).ipv4("1.1.1.1", "2.2.2.2", 1).raw({8}).finish();
  Frame v6;
  v6.eth(0x86DD).raw({0x60, 0, 0, 0});
  for (const Case& c : {Case{eth.b, Counter::link_truncated}, Case{ip.b, Counter::ipv4_truncated},
                        Case{tcp.b, Counter::tcp_truncated}, Case{udp.b, Counter::udp_truncated},
                        Case{icmp.b, Counter::icmp_truncated}, Case{v6.b, Counter::ipv6_truncated}}) {
    auto p = parse(c.bytes);
    EXPECT_EQ(p->st, ParseStatus::kDrop) << kEngineCounters[static_cast<int>(c.counter)].name;
    EXPECT_EQ(p->c.get(c.counter), 1u) << kEngineCounters[static_cast<int>(c.counter)].name;
    EXPECT_EQ(total(p->c), 1u) << "exactly one counter per malformed packet";
  }
}

TEST(Parse, LyingIpv4TotalLength) {
  Frame f;
  f.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 6).tcp(1, 2).finish();
  test::set16(f.b, 14 + 2, 1500);  // claims more than the frame holds
  auto p = parse(f.b);
  EXPECT_EQ(p->st, ParseStatus::kDrop);
  EXPECT_EQ(p->c.get(Counter::ipv4_bad_total_length), 1u);
  // The same frame cut by the snap length is parsed as far as it goes.
  auto q = parse(f.b, link_type::kEthernet, 1514);
  EXPECT_EQ(q->st, ParseStatus::kOk);
}

// A transport header cut by the snap length still names its flow: the packet counts
// there with no payload (a 54-byte snap of a segment with options, a UDP header cut
// after its ports). Without a snap length the same bytes are a truncated header.
TEST(Parse, TransportHeaderCutBySnapLengthKeepsTheFlow) {
  Frame t;
  t.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 6).tcp(1234, 80).finish();
  t.b[14 + 20 + 12] = 0x80;  // 32-byte header: options past the 20 captured bytes
  auto p = parse(t.b, link_type::kEthernet, 1514);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.sport, 1234);
  EXPECT_EQ(p->m.dport, 80);
  EXPECT_EQ(p->m.l4_payload_len, 0u);
  EXPECT_EQ(parse(t.b)->c.get(Counter::tcp_truncated), 1u);
  test::Bytes cut(t.b.begin(), t.b.begin() + 14 + 20 + 10);  // flags not captured: no flow
  EXPECT_EQ(parse(cut, link_type::kEthernet, 1514)->c.get(Counter::tcp_truncated), 1u);

  Frame u;
  u.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 17).udp(5353, 53).finish();
  test::Bytes ucut(u.b.begin(), u.b.begin() + 14 + 20 + 4);
  auto q = parse(ucut, link_type::kEthernet, 300);
  ASSERT_EQ(q->st, ParseStatus::kOk);
  EXPECT_EQ(q->m.dport, 53);
  EXPECT_EQ(q->m.l4_payload_len, 0u);
  EXPECT_EQ(parse(ucut)->st, ParseStatus::kDrop);  // without a snap length the IP length lies
}

TEST(Parse, BadIpv4HeaderLengthAndVersion) {
  Frame f;
  f.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 6).tcp(1, 2).finish();
  test::Bytes ihl = f.b;
  ihl[14] = 0x44;
  EXPECT_EQ(parse(ihl)->c.get(Counter::ipv4_bad_header_length), 1u);
  test::Bytes ver = f.b;
  ver[14] = 0x55;
  EXPECT_EQ(parse(ver)->c.get(Counter::ipv4_bad_version), 1u);
}

TEST(Parse, TcpDataOffsetBeyondSegment) {
  Frame f;
  f.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 6).tcp(1, 2).finish();
  f.b[14 + 20 + 12] = 0xF0;  // 60-byte header in a 20-byte segment
  auto p = parse(f.b);
  EXPECT_EQ(p->c.get(Counter::tcp_truncated), 1u);
  f.b[14 + 20 + 12] = 0x40;  // 16 bytes: below the minimum
  EXPECT_EQ(parse(f.b)->c.get(Counter::tcp_bad_header_length), 1u);
}

TEST(Parse, UdpLengthBelowHeader) {
  Frame f;
  f.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 17).udp(1, 2).finish();
  test::set16(f.b, 14 + 20 + 4, 4);
  EXPECT_EQ(parse(f.b)->c.get(Counter::udp_bad_length), 1u);
}

TEST(Parse, ArpIsNonIp) {
  Frame f;
  f.eth(0x0806).payload(28);
  auto p = parse(f.b);
  EXPECT_EQ(p->st, ParseStatus::kNonIp);
  EXPECT_EQ(p->c.get(Counter::non_ip), 1u);
}

TEST(Parse, LinuxSllAndSll2) {
  Frame sll;
  sll.raw({0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00})
      .ipv4("1.1.1.1", "2.2.2.2", 17)
      .udp(5, 6)
      .finish();
  auto p = parse(sll.b, link_type::kLinuxSll);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_FALSE(p->m.has_mac);
  EXPECT_EQ(p->m.dport, 6);
  Frame sll2;
  sll2.raw({0x86, 0xDD, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0})
      .ipv6("::1", "::2", 17)
      .udp(7, 8)
      .finish();
  auto q = parse(sll2.b, link_type::kLinuxSll2);
  ASSERT_EQ(q->st, ParseStatus::kOk);
  EXPECT_EQ(q->m.ip_version, 6);
  EXPECT_EQ(q->m.dport, 8);
}

// An NFLOG message (libpcap's pcap/nflog.h) around `packet`: NFULA_PACKET_HDR, a prefix,
// then NFULA_PAYLOAD, each attribute's length and type in the given byte order.
test::Bytes nflog_message(uint8_t family, const test::Bytes& packet, bool big) {
  test::Bytes b{family, 0, 0, 5};
  auto attr = [&](uint16_t type, const test::Bytes& value) {
    const uint16_t len = static_cast<uint16_t>(4 + value.size());
    const uint8_t l0 = big ? len >> 8 : len & 0xff, l1 = big ? len & 0xff : len >> 8;
    const uint8_t t0 = big ? type >> 8 : type & 0xff, t1 = big ? type & 0xff : type >> 8;
    b.insert(b.end(), {l0, l1, t0, t1});
    b.insert(b.end(), value.begin(), value.end());
    while (b.size() % 4) b.push_back(0);
  };
  attr(1, {0x08, 0x00, 3, 0});   // NFULA_PACKET_HDR: hw_protocol, hook
  attr(10, {'i', 'n', ':', 0});  // NFULA_PREFIX
  attr(9, packet);
  return b;
}

TEST(Parse, NflogEitherByteOrderAndCutBySnapLength) {
  Frame ip;
  ip.ipv4("10.0.0.1", "10.0.0.2", 6).tcp(40000, 80).payload(30).finish();
  for (const bool big : {false, true}) {
    const test::Bytes msg = nflog_message(2, ip.b, big);
    auto p = parse(msg, link_type::kNflog);
    ASSERT_EQ(p->st, ParseStatus::kOk) << big;
    EXPECT_EQ(p->m.sport, 40000);
    EXPECT_EQ(p->m.dport, 80);
    EXPECT_EQ(p->m.l4_payload_len, 30u);
    // The snap length cut the message inside the packet: its headers are still read.
    const test::Bytes cut(msg.begin(), msg.end() - 20);
    auto q = parse(cut, link_type::kNflog, static_cast<uint32_t>(msg.size()));
    ASSERT_EQ(q->st, ParseStatus::kOk) << big;
    EXPECT_EQ(q->m.dport, 80);
  }
  Frame ip6;
  ip6.ipv6("::1", "::2", 17).udp(5353, 53).finish();
  auto p6 = parse(nflog_message(10, ip6.b, false), link_type::kNflog);
  ASSERT_EQ(p6->st, ParseStatus::kOk);
  EXPECT_EQ(p6->m.ip_version, 6);
  // A message without a packet; an attribute longer than the message.
  test::Bytes none{2, 0, 0, 0, 8, 0, 1, 0, 8, 0, 3, 0};
  auto n = parse(none, link_type::kNflog);
  EXPECT_EQ(n->st, ParseStatus::kNonIp);
  EXPECT_EQ(n->c.get(Counter::non_ip), 1u);
  test::Bytes bad{2, 0, 0, 0, 64, 0, 1, 0, 8, 0, 3, 0};
  auto x = parse(bad, link_type::kNflog);
  EXPECT_EQ(x->st, ParseStatus::kDrop);
  EXPECT_EQ(x->c.get(Counter::link_truncated), 1u);
}

TEST(Parse, PktapHeaderThenItsLinkType) {
  Frame eth;
  eth.eth(0x0800).ipv4("10.0.0.1", "10.0.0.2", 17).udp(1234, 53).finish();
  auto pktap = [&](uint32_t hlen, uint32_t kind, uint32_t dlt) {
    test::Bytes b(hlen < 12 ? 12 : hlen, 0);
    for (int i = 0; i < 4; ++i) {
      b[i] = static_cast<uint8_t>(hlen >> (8 * i));
      b[4 + i] = static_cast<uint8_t>(kind >> (8 * i));
      b[8 + i] = static_cast<uint8_t>(dlt >> (8 * i));
    }
    b.insert(b.end(), eth.b.begin(), eth.b.end());
    return b;
  };
  for (const uint16_t dlt : {link_type::kPktap, link_type::kUser2}) {
    auto p = parse(pktap(108, 1, link_type::kEthernet), dlt);
    ASSERT_EQ(p->st, ParseStatus::kOk) << dlt;
    EXPECT_TRUE(p->m.has_mac);
    EXPECT_EQ(p->m.dport, 53);
    // Not a packet record, a header too short, a link type it cannot name: counted.
    EXPECT_EQ(parse(pktap(108, 2, link_type::kEthernet), dlt)->c.get(Counter::link_unsupported), 1u);
    EXPECT_EQ(parse(pktap(12, 1, link_type::kEthernet), dlt)->c.get(Counter::link_unsupported), 1u);
    EXPECT_EQ(parse(pktap(108, 1, link_type::kPktap), dlt)->c.get(Counter::link_unsupported), 1u);
  }
  const test::Bytes short_header = pktap(108, 1, link_type::kEthernet);
  auto cut = parse(test::Bytes(short_header.begin(), short_header.begin() + 60), link_type::kPktap);
  EXPECT_EQ(cut->c.get(Counter::link_truncated), 1u);
}

TEST(Parse, NullLoopbackBothByteOrders) {
  Frame le;
  le.raw({2, 0, 0, 0}).ipv4("127.0.0.1", "127.0.0.1", 6).tcp(1, 2).finish();
  EXPECT_EQ(parse(le.b, link_type::kNull)->st, ParseStatus::kOk);
  Frame be6;
  be6.raw({0, 0, 0, 30}).ipv6("::1", "::1", 6).tcp(1, 2).finish();
  EXPECT_EQ(parse(be6.b, link_type::kNull)->m.ip_version, 6);
  EXPECT_EQ(parse(be6.b, link_type::kLoop)->m.ip_version, 6);
}

TEST(Parse, RawIp) {
  Frame f;
  f.ipv6("::1", "::2", 58).icmp(128, 0, 5).finish();
  auto p = parse(f.b, link_type::kRaw);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.icmp_type, 128);
  EXPECT_EQ(parse(f.b, link_type::kIpv6)->st, ParseStatus::kOk);
  EXPECT_EQ(parse(f.b, link_type::kRawDlt12)->st, ParseStatus::kOk);
}

TEST(Parse, UnsupportedLinkType) {
  Frame f;
  f.payload(40);
  auto p = parse(f.b, 147);
  EXPECT_EQ(p->st, ParseStatus::kDrop);
  EXPECT_EQ(p->c.get(Counter::link_unsupported), 1u);
}

TEST(Parse, VxlanInnerFlow) {
  Frame f;
  f.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 17)
      .udp(40000, 4789)
      .raw({0x08, 0, 0, 0, 0, 0, 0x2A, 0})  // VNI 42
      .eth(0x0800, 7, 8)
      .ipv4("10.0.0.1", "10.0.0.2", 6)
      .tcp(5555, 80)
      .finish();
  auto p = parse(f.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.tunnel, Tunnel::kVxlan);
  EXPECT_EQ(p->m.tunnel_id, 42u);
  EXPECT_EQ(p->m.sport, 5555);
  EXPECT_EQ(p->m.src[0], 10);
  EXPECT_EQ(p->m.mac_src[5], 7);
  EXPECT_EQ(p->c.get(Counter::tunnel_decapsulated), 1u);
}

// GTP-U (3GPP TS 29.281): a G-PDU's user packet is the flow, with or without the
// optional fields and extension headers, and the two directions (each with its own
// TEID) are one flow; echo and the other signalling messages stay UDP of the tunnel;
// extension headers that run past the datagram are counted, not read.
TEST(Parse, GtpUserPlaneInnerFlow) {
  Frame plain;
  plain.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 17)
      .udp(2152, 2152)
      .raw({0x30, 0xFF, 0x00, 40, 0, 0, 0, 7})  // G-PDU, TEID 7, 40 bytes follow
      .ipv4("10.0.0.1", "10.0.0.2", 6)
      .tcp(5555, 80)
      .finish();
  auto p = parse(plain.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.tunnel, Tunnel::kGtpU);
  EXPECT_EQ(p->m.tunnel_id, 0u);
  EXPECT_EQ(p->m.src[0], 10);
  EXPECT_EQ(p->m.sport, 5555);
  EXPECT_EQ(p->m.dport, 80);
  EXPECT_EQ(p->c.get(Counter::tunnel_decapsulated), 1u);

  Frame ext;  // E and S set: sequence number, N-PDU number, a PDU session container
  ext.eth(0x0800)
      .ipv4("192.0.2.2", "192.0.2.1", 17)
      .udp(2152, 2152)
      .raw({0x36, 0xFF, 0x00, 56, 0, 0, 0, 9, 0x12, 0x34, 0, 0x85, 0x01, 0x00, 0x09, 0x00})
      .ipv6("2001:db8::1", "2001:db8::2", 17)
      .udp(1000, 53)
      .finish();
  p = parse(ext.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.tunnel, Tunnel::kGtpU);
  EXPECT_EQ(p->m.ip_version, 6);
  EXPECT_EQ(p->m.dport, 53);

  Frame echo;  // echo request: the tunnel's own UDP flow
  echo.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 17)
      .udp(2152, 2152)
      .raw({0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0});
  echo.finish();
  p = parse(echo.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.tunnel, Tunnel::kNone);
  EXPECT_EQ(p->m.dport, 2152);

  Frame cut;  // an extension header claiming 4 x 255 bytes
  cut.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 17)
      .udp(40000, 2152)
      .raw({0x34, 0xFF, 0x00, 48, 0, 0, 0, 9, 0, 0, 0, 0x85, 0xFF, 0x00, 0x09, 0x00})
      .ipv4("10.0.0.1", "10.0.0.2", 6)
      .tcp(5555, 80)
      .finish();
  p = parse(cut.b);
  EXPECT_EQ(p->st, ParseStatus::kDrop);
  EXPECT_EQ(p->c.get(Counter::gtp_truncated), 1u);
}

// Teredo (RFC 4380): an IPv6 packet in UDP to or from port 3544, after an optional
// origin indication, is the flow; other bytes on the port are plain UDP.
TEST(Parse, TeredoInnerFlow) {
  Frame t;
  t.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 17)
      .udp(3544, 40000)
      .raw({0x00, 0x00, 0x9C, 0x40, 1, 2, 3, 4})  // origin indication
      .ipv6("2001::1", "2001::2", 6)
      .tcp(5555, 80)
      .finish();
  auto p = parse(t.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.tunnel, Tunnel::kTeredo);
  EXPECT_EQ(p->m.ip_version, 6);
  EXPECT_EQ(p->m.sport, 5555);
  EXPECT_EQ(p->c.get(Counter::tunnel_decapsulated), 1u);

  Frame other;
  other.eth(0x0800).ipv4("192.0.2.1", "192.0.2.2", 17).udp(40000, 3544).payload(60).finish();
  p = parse(other.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.tunnel, Tunnel::kNone);
  EXPECT_EQ(p->m.dport, 3544);
  EXPECT_EQ(p->c.get(Counter::tunnel_decapsulated), 0u);
}

// AYIYA: a forwarded packet after the identity and signature is the flow; a
// heartbeat (opcode 0) stays UDP of the tunnel.
TEST(Parse, AyiyaInnerFlow) {
  Frame f;
  f.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 17)
      .udp(5072, 5072)
      .raw({0x41, 0x52, 0x11, 41, 0, 0, 0, 0})  // 16-byte identity, 5-word signature, forward, IPv6
      .payload(16 + 20, 0)
      .ipv6("2001::1", "2001::2", 6)
      .tcp(5555, 80)
      .finish();
  auto p = parse(f.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.tunnel, Tunnel::kAyiya);
  EXPECT_EQ(p->m.ip_version, 6);
  EXPECT_EQ(p->m.dport, 80);

  Frame beat;
  beat.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 17)
      .udp(5072, 5072)
      .raw({0x41, 0x52, 0x10, 59, 0, 0, 0, 0})
      .payload(36, 0)
      .finish();
  p = parse(beat.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.tunnel, Tunnel::kNone);
  EXPECT_EQ(p->m.dport, 5072);
}

// 802.11 data frames (bare, or behind radiotap): the packet after LLC/SNAP is the flow,
// its MACs taken by the DS bits; management frames and encrypted bodies are counted.
TEST(Parse, WirelessDataFrames) {
  Frame qos;  // radiotap, then QoS data from the distribution system: DA = addr1, SA = addr3
  qos.raw({0, 0, 8, 0, 0, 0, 0, 0})
      .raw({0x88, 0x02, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0})
      .raw({0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00})
      .ipv4("10.0.0.1", "10.0.0.2", 6)
      .tcp(5555, 80)
      .finish();
  auto p = parse(qos.b, link_type::kRadiotap);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.dport, 80);
  EXPECT_EQ(p->m.mac_dst[0], 1);
  EXPECT_EQ(p->m.mac_src[0], 3);

  Frame up;  // bare 802.11, data to the distribution system: DA = addr3, SA = addr2
  up.raw({0x08, 0x01, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 0, 0})
      .raw({0xAA, 0xAA, 0x03, 0, 0, 0, 0x86, 0xDD})
      .ipv6("2001::1", "2001::2", 17)
      .udp(1000, 53)
      .finish();
  p = parse(up.b, link_type::kIeee80211);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.ip_version, 6);
  EXPECT_EQ(p->m.mac_dst[0], 3);
  EXPECT_EQ(p->m.mac_src[0], 2);

  Frame beacon;
  beacon.raw({0x80, 0x00, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0})
      .payload(40);
  p = parse(beacon.b, link_type::kIeee80211);
  EXPECT_EQ(p->st, ParseStatus::kDrop);
  EXPECT_EQ(p->c.get(Counter::wlan_not_data), 1u);

  Frame sealed;  // protected: the body is encrypted
  sealed.raw({0x08, 0x41, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 0, 0}).payload(60);
  p = parse(sealed.b, link_type::kIeee80211);
  EXPECT_EQ(p->st, ParseStatus::kDrop);
  EXPECT_EQ(p->c.get(Counter::wlan_protected), 1u);
}

// An 802.11 A-MSDU: several packets in one QoS data frame, each a subframe of
// destination, source, length and LLC/SNAP with its packet, padded to four bytes but the
// last. parse_frame reads the subframe it is told and counts them all.
TEST(Parse, AmsduSubframesReadOneByOne) {
  auto msdu = [](const char* dst, uint16_t dport, std::size_t payload) {
    Frame f;
    f.raw({0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00})
        .ipv4("10.0.0.1", dst, 17)
        .udp(1000, dport)
        .payload(payload)
        .finish();
    return f.b;
  };
  // QoS data from the distribution system, A-MSDU present (QoS control bit 7).
  test::Bytes frame = {0x88, 0x02, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 0, 0, 0x80, 0};
  const std::vector<test::Bytes> msdus = {msdu("10.0.0.2", 53, 3), msdu("10.0.0.3", 123, 10),
                                          msdu("10.0.0.4", 5353, 1)};
  for (std::size_t k = 0; k < msdus.size(); ++k) {
    const uint8_t d = static_cast<uint8_t>(0xD0 + k), s = static_cast<uint8_t>(0x50 + k);
    const auto n = static_cast<uint8_t>(msdus[k].size());
    test::Bytes sub = {d, 0, 0, 0, 0, 1, s, 0, 0, 0, 0, 1, 0, n};
    sub.insert(sub.end(), msdus[k].begin(), msdus[k].end());
    if (k + 1 < msdus.size()) sub.resize((sub.size() + 3) & ~std::size_t{3});
    frame.insert(frame.end(), sub.begin(), sub.end());
  }
  const uint16_t ports[] = {53, 123, 5353};
  for (unsigned k = 0; k < 3; ++k) {
    PacketMeta m;
    Counters c;
    m.cap_len = m.wire_len = static_cast<uint32_t>(frame.size());
    ASSERT_EQ(parse_frame(frame.data(), m.cap_len, link_type::kIeee80211, m, c, k), ParseStatus::kOk) << k;
    EXPECT_EQ(m.amsdu_subframes, 3);
    EXPECT_EQ(m.amsdu_bytes, 14 + msdus[k].size());
    EXPECT_EQ(m.dport, ports[k]);
    EXPECT_EQ(m.mac_dst[0], 0xD0 + k);  // the subframe's ends, not the frame's
    EXPECT_EQ(m.mac_src[0], 0x50 + k);
    EXPECT_EQ(c.get(Counter::wlan_amsdu), k == 0 ? 1u : 0u);  // the frame once
  }
  // Every prefix, every subframe: no read past the bytes, the subframes whole or cut.
  for (std::size_t len = 0; len <= frame.size(); ++len) {
    test::Bytes cut(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(len));
    for (unsigned k = 0; k < 4; ++k) {
      PacketMeta m;
      Counters c;
      m.cap_len = static_cast<uint32_t>(len);
      m.wire_len = static_cast<uint32_t>(frame.size());
      const ParseStatus st = parse_frame(cut.data(), m.cap_len, link_type::kIeee80211, m, c, k);
      if (st != ParseStatus::kOk) EXPECT_GT(total(c), 0u) << len << " " << k;  // a drop is counted
    }
  }
  // Past kMaxAmsduSubframes: the rest counted once a frame.
  test::Bytes many = {0x88, 0x02, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 0, 0, 0x80, 0};
  for (int k = 0; k < 70; ++k) {
    test::Bytes sub = {1, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0};  // an empty MSDU, padded
    many.insert(many.end(), sub.begin(), sub.end());
  }
  for (unsigned k : {0u, 5u}) {
    PacketMeta m;
    Counters c;
    m.cap_len = m.wire_len = static_cast<uint32_t>(many.size());
    EXPECT_EQ(parse_frame(many.data(), m.cap_len, link_type::kIeee80211, m, c, k), ParseStatus::kNonIp);
    EXPECT_EQ(m.amsdu_subframes, kMaxAmsduSubframes);
    EXPECT_EQ(c.get(Counter::wlan_amsdu_too_many), k == 0 ? 1u : 0u);
  }
  // A frame that is not an A-MSDU reads the same whatever subframe is named.
  Frame plain;
  plain.raw({0x88, 0x02, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0})
      .raw({0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00})
      .ipv4("10.0.0.1", "10.0.0.2", 6)
      .tcp(5555, 80)
      .finish();
  PacketMeta m;
  Counters c;
  m.cap_len = m.wire_len = static_cast<uint32_t>(plain.b.size());
  ASSERT_EQ(parse_frame(plain.b.data(), m.cap_len, link_type::kIeee80211, m, c, 2), ParseStatus::kOk);
  EXPECT_EQ(m.dport, 80);
  EXPECT_EQ(m.amsdu_subframes, 0);
}

TEST(Parse, GreAndErspan) {
  Frame gre;
  gre.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 47)
      .raw({0x20, 0, 0x08, 0x00, 0, 0, 0, 9})  // key 9
      .ipv4("10.0.0.1", "10.0.0.2", 17)
      .udp(1, 2)
      .finish();
  auto p = parse(gre.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.tunnel, Tunnel::kGre);
  EXPECT_EQ(p->m.tunnel_id, 9u);
  EXPECT_EQ(p->m.dport, 2);

  Frame e2;  // ERSPAN II: GRE with sequence number, 8-byte ERSPAN header, inner Ethernet
  e2.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 47)
      .raw({0x10, 0, 0x88, 0xBE, 0, 0, 0, 1})
      .raw({0x10, 0x00, 0x00, 0x05, 0, 0, 0, 0})
      .eth(0x0800, 3, 4)
      .ipv4("10.0.0.3", "10.0.0.4", 6)
      .tcp(1000, 443)
      .finish();
  auto q = parse(e2.b);
  ASSERT_EQ(q->st, ParseStatus::kOk);
  EXPECT_EQ(q->m.tunnel, Tunnel::kErspan);
  EXPECT_EQ(q->m.tunnel_id, 5u);
  EXPECT_EQ(q->m.dport, 443);

  Frame e3;  // ERSPAN III: 12-byte header without the platform sub-header
  e3.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 47)
      .raw({0x10, 0, 0x22, 0xEB, 0, 0, 0, 1})
      .raw({0x20, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0})
      .eth(0x0800, 3, 4)
      .ipv4("10.0.0.3", "10.0.0.4", 17)
      .udp(53, 53)
      .finish();
  auto r = parse(e3.b);
  ASSERT_EQ(r->st, ParseStatus::kOk);
  EXPECT_EQ(r->m.tunnel_id, 7u);
  EXPECT_EQ(r->m.sport, 53);
}

// PPTP's enhanced GRE (version 1, protocol 0x880B): key = payload length and call id,
// sequence and acknowledgment numbers, then PPP (address/control and protocol, full
// or compressed) carrying IPv4. An acknowledgment alone or PPP control is the GRE
// flow itself.
TEST(Parse, PptpGreCarryingPpp) {
  Frame full;  // S and A set, FF 03, two-byte protocol 0x0021
  full.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 47)
      .raw({0x30, 0x81, 0x88, 0x0B, 0, 32, 0, 7})
      .raw({0, 0, 0, 1, 0, 0, 0, 0})
      .raw({0xFF, 0x03, 0x00, 0x21})
      .ipv4("10.0.0.1", "10.0.0.2", 6)
      .tcp(1234, 80)
      .finish();
  auto p = parse(full.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.tunnel, Tunnel::kGre);
  // Each side sends its peer's call id: not the flow's, or its two directions would be
  // two flows (the answer below carries call id 9).
  EXPECT_EQ(p->m.tunnel_id, 0u);
  EXPECT_EQ(p->m.src[0], 10);
  EXPECT_EQ(p->m.dport, 80);

  Frame compressed;  // S only, no address/control, one-byte protocol 0x21
  compressed.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 47)
      .raw({0x30, 0x01, 0x88, 0x0B, 0, 29, 0, 7})
      .raw({0, 0, 0, 2})
      .raw({0x21})
      .ipv4("10.0.0.1", "10.0.0.2", 17)
      .udp(53, 53)
      .finish();
  auto q = parse(compressed.b);
  ASSERT_EQ(q->st, ParseStatus::kOk);
  EXPECT_EQ(q->m.sport, 53);

  Frame answer;  // the other direction of the first: the peer's call id (9)
  answer.eth(0x0800, 2, 1)
      .ipv4("192.0.2.2", "192.0.2.1", 47)
      .raw({0x30, 0x81, 0x88, 0x0B, 0, 32, 0, 9})
      .raw({0, 0, 0, 1, 0, 0, 0, 1})
      .raw({0xFF, 0x03, 0x00, 0x21})
      .ipv4("10.0.0.2", "10.0.0.1", 6)
      .tcp(80, 1234)
      .finish();
  auto b = parse(answer.b);
  ASSERT_EQ(b->st, ParseStatus::kOk);
  FlowKey ka, kb;
  bool from_a = false;
  FlowTable::make_key(p->m, ka, from_a);
  FlowTable::make_key(b->m, kb, from_a);
  EXPECT_TRUE(ka == kb);

  Frame ack;  // acknowledgment only: no payload
  ack.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 47)
      .raw({0x20, 0x81, 0x88, 0x0B, 0, 0, 0, 7})
      .raw({0, 0, 0, 1})
      .finish();
  auto a = parse(ack.b);
  ASSERT_EQ(a->st, ParseStatus::kOk);
  EXPECT_EQ(a->m.l4_proto, 47);
  EXPECT_EQ(a->m.src[0], 192);

  Frame lcp;  // PPP LCP (0xC021): PPTP's own control
  lcp.eth(0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 47)
      .raw({0x30, 0x01, 0x88, 0x0B, 0, 8, 0, 7})
      .raw({0, 0, 0, 3})
      .raw({0xFF, 0x03, 0xC0, 0x21, 1, 1, 0, 4})
      .finish();
  auto l = parse(lcp.b);
  ASSERT_EQ(l->st, ParseStatus::kOk);
  EXPECT_EQ(l->m.l4_proto, 47);
}

TEST(Parse, IpInIpAndNestingLimit) {
  Frame f;
  f.eth(0x0800).ipv4("192.0.2.1", "192.0.2.2", 4).ipv4("10.0.0.1", "10.0.0.2", 6).tcp(1, 2).finish();
  auto p = parse(f.b);
  ASSERT_EQ(p->st, ParseStatus::kOk);
  EXPECT_EQ(p->m.tunnel, Tunnel::kIpInIp);
  EXPECT_EQ(p->m.src[0], 10);
  Frame deep;
  deep.eth(0x0800);
  for (int i = 0; i <= kMaxEncapDepth; ++i) deep.ipv4("192.0.2.1", "192.0.2.2", 4);
  deep.ipv4("10.0.0.1", "10.0.0.2", 6).tcp(1, 2).finish();
  auto q = parse(deep.b);
  EXPECT_EQ(q->st, ParseStatus::kDrop);
  EXPECT_EQ(q->c.get(Counter::tunnel_too_deep), 1u);
}

TEST(Parse, SymmetricHashIsDirectionFree) {
  Frame a, b;
  a.eth(0x0800).ipv4("10.0.0.1", "10.9.9.9", 6).tcp(1234, 80).finish();
  b.eth(0x0800, 2, 1).ipv4("10.9.9.9", "10.0.0.1", 6).tcp(80, 1234).finish();
  EXPECT_EQ(symmetric_hash(parse(a.b)->m), symmetric_hash(parse(b.b)->m));
}

// quick_symmetric_hash takes a frame only where the parser ends in kOk, and gives
// symmetric_hash of what the parser read; every other frame is left to the parser.
// dispatch_hash, with one PacketMeta reused for every frame as the dispatchers keep it,
// gives what a fresh parse gives (nothing of the frame before leaks into the next).
void expect_quick_hash_agrees(const uint8_t* data, uint32_t cap_len, uint32_t wire_len, uint16_t dlt,
                              const std::string& what, int& taken) {
  {
    static PacketMeta reused;
    static Counters reused_counters;
    PacketMeta fresh;
    fresh.cap_len = cap_len;
    fresh.wire_len = wire_len;
    Counters c;
    const ParseStatus st = parse_frame(data, cap_len, dlt, fresh, c);
    const uint32_t want = st == ParseStatus::kOk || st == ParseStatus::kFragment ? symmetric_hash(fresh) : 0;
    ASSERT_EQ(dispatch_hash(data, cap_len, wire_len, dlt, reused, reused_counters), want) << what;
  }
  uint32_t quick = 0;
  if (!quick_symmetric_hash(data, cap_len, dlt, quick)) return;
  ++taken;
  PacketMeta m;
  m.cap_len = cap_len;
  m.wire_len = wire_len;
  Counters c;
  ASSERT_EQ(parse_frame(data, cap_len, dlt, m, c), ParseStatus::kOk) << what;
  ASSERT_EQ(quick, symmetric_hash(m)) << what;
}

TEST(Parse, QuickHashIsTheParsersForTheFramesItTakes) {
  int taken = 0;
  auto check = [&](const test::Bytes& b, const std::string& what, bool want) {
    int before = taken;
    expect_quick_hash_agrees(b.data(), static_cast<uint32_t>(b.size()), static_cast<uint32_t>(b.size()),
                             link_type::kEthernet, what, taken);
    EXPECT_EQ(taken > before, want) << what;
  };
  Frame v4, v6, opts, frag, vlan, udp, tso, v6ext;
  v4.eth(0x0800).ipv4("10.0.0.1", "10.9.9.9", 6).tcp(1234, 80).payload(5).finish();
  check(v4.b, "IPv4 TCP", true);
  v6.eth(0x86DD).ipv6("2001:db8::1", "2001:db8::2", 6).tcp(1234, 80).payload(5).finish();
  check(v6.b, "IPv6 TCP", true);
  frag.eth(0x0800).ipv4("10.0.0.1", "10.9.9.9", 6, 7, 0x2000).tcp(1234, 80).payload(8).finish();
  check(frag.b, "first fragment", false);
  vlan.eth(0x8100).vlan(5, 0x0800).ipv4("10.0.0.1", "10.9.9.9", 6).tcp(1234, 80).finish();
  check(vlan.b, "VLAN", false);
  udp.eth(0x0800).ipv4("10.0.0.1", "10.9.9.9", 17).udp(1234, 4789).payload(30).finish();
  check(udp.b, "UDP (a tunnel's port)", false);
  v6ext.eth(0x86DD).ipv6("::1", "::2", 0).raw({6, 0, 0, 0, 0, 0, 0, 0}).tcp(1, 2).payload(4).finish();
  check(v6ext.b, "IPv6 with a hop-by-hop header", false);
  tso = v4;
  tso.b[14 + 2] = tso.b[14 + 3] = 0;  // total length 0, as TSO leaves it
  check(tso.b, "IPv4 length 0", false);
  opts = v4;
  opts.b[14] = 0x46;  // a header of 24 bytes
  check(opts.b, "IPv4 options", false);
  test::Bytes cut(v4.b.begin(), v4.b.end() - 10);  // the IP length past the frame
  check(cut, "cut frame", false);
  test::Bytes padded = v4.b;
  padded.resize(v4.b.size() + 12, 0);  // Ethernet padding after the IP length
  check(padded, "padded frame", true);
  Frame bad_off = v4;
  bad_off.b[14 + 20 + 12] = 0x40;  // a TCP data offset of 16
  check(bad_off.b, "TCP data offset below 20", false);

  // Every frame of real captures (Ethernet, classic pcap): where the quick hash takes
  // one, the parser agrees.
  taken = 0;
  for (const char* name :
       {"/pcaps/beats/http_minitwit.pcap", "/pcaps/ndpi/mixed/1kxun.pcap",
        "/pcaps/beats/mysql_int_string_operations.pcap", "/pcaps/zeek/flows/communityid__ipv6.pcap",
        "/pcaps/suricata-verify/tls/tls/tls-subjectaltname/input.pcap"}) {
    std::ifstream in(std::string(TAPBEAT_SHARED_DIR) + name, std::ios::binary);
    if (!in) continue;
    const std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    uint32_t magic = 0, dlt = 0;
    ASSERT_GE(file.size(), 24u);
    std::memcpy(&magic, file.data(), 4);
    std::memcpy(&dlt, file.data() + 20, 4);
    if (magic != 0xA1B2C3D4 || dlt != link_type::kEthernet) continue;
    for (std::size_t at = 24; at + 16 <= file.size();) {
      uint32_t caplen = 0, len = 0;
      std::memcpy(&caplen, file.data() + at + 8, 4);
      std::memcpy(&len, file.data() + at + 12, 4);
      if (at + 16 + caplen > file.size()) break;
      expect_quick_hash_agrees(file.data() + at + 16, caplen, len, link_type::kEthernet,
                               std::string(name) + " @" + std::to_string(at), taken);
      at += 16 + caplen;
    }
  }
  EXPECT_GT(taken, 1000) << "the real captures' TCP frames";
}

TEST(Parse, EveryPrefixOfAValidFrameIsSafe) {
  Frame f;
  f.eth(0x8100)
      .vlan(5, 0x0800)
      .ipv4("192.0.2.1", "192.0.2.2", 17)
      .udp(40000, 4789)
      .raw({0x08, 0, 0, 0, 0, 0, 1, 0})
      .eth(0x86DD)
      .ipv6("::1", "::2", 0)
      .raw({6, 0, 0, 0, 0, 0, 0, 0})
      .tcp(1, 2)
      .payload(3)
      .finish();
  for (std::size_t n = 0; n <= f.b.size(); ++n) {
    test::Bytes cut(f.b.begin(), f.b.begin() + static_cast<long>(n));
    auto p = parse(cut, link_type::kEthernet, static_cast<uint32_t>(f.b.size()));
    if (p->st == ParseStatus::kDrop) {
      EXPECT_EQ(total(p->c) - p->c.get(Counter::tunnel_decapsulated), 1u) << "prefix " << n;
    }
  }
}

}  // namespace
}  // namespace tapbeat
