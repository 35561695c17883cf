#include "net/parse.hpp"

#include <algorithm>
#include <cstring>

#include "util/byte_reader.hpp"

namespace tapbeat {
namespace {

// EtherTypes (IEEE 802 numbers registry).
constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86DD;
constexpr uint16_t kEthVlan = 0x8100;     // 802.1Q
constexpr uint16_t kEthQinQ = 0x88A8;     // 802.1ad
constexpr uint16_t kEthQinQOld = 0x9100;  // pre-standard stacked tag
constexpr uint16_t kEthMpls = 0x8847;
constexpr uint16_t kEthMplsMc = 0x8848;
constexpr uint16_t kEthPppoeSession = 0x8864;
constexpr uint16_t kEthPbb = 0x88E7;         // 802.1ah backbone I-TAG (provider backbone bridging)
constexpr uint16_t kEthFabricPath = 0x8903;  // Cisco FabricPath
constexpr uint16_t kEthVnTag = 0x8926;       // Cisco VN-Tag
constexpr uint16_t kEthETag = 0x893F;        // 802.1BR E-TAG
constexpr int kMaxBridgeHeaders = 4;
constexpr uint16_t kEthTeb = 0x6558;      // transparent Ethernet bridging (GRE)
constexpr uint16_t kEthPpp = 0x880B;      // PPP (PPTP's enhanced GRE, RFC 2637 §4.1)
constexpr uint16_t kEthErspan2 = 0x88BE;  // ERSPAN type I/II (draft-foschiano-erspan §4.1)
constexpr uint16_t kEthErspan3 = 0x22EB;  // ERSPAN type III (draft-foschiano-erspan §4.2)

// PPP protocol numbers (RFC 1661, RFC 5072).
constexpr uint16_t kPppIpv4 = 0x0021;
constexpr uint16_t kPppIpv6 = 0x0057;

// IP protocol numbers (IANA).
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIpip = 4;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIpv6 = 41;
constexpr uint8_t kProtoGre = 47;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kProtoSctp = 132;
constexpr uint8_t kProtoUdpLite = 136;

// IPv6 extension headers (RFC 8200 §4).
constexpr uint8_t kExtHopByHop = 0;
constexpr uint8_t kExtRouting = 43;
constexpr uint8_t kExtFragment = 44;
constexpr uint8_t kExtAh = 51;
constexpr uint8_t kExtDestOpts = 60;
constexpr uint8_t kExtMobility = 135;
constexpr uint8_t kExtHip = 139;
constexpr uint8_t kExtShim6 = 140;

// BSD AF_INET / AF_INET6 values across platforms (pcap-linktype.html, DLT_NULL).
constexpr uint32_t kAfInet = 2;
bool is_af_inet6(uint32_t af) { return af == 10 || af == 24 || af == 28 || af == 30; }

class Parser {
 public:
  Parser(PacketMeta& m, Counters& c, unsigned amsdu_pick = 0) : m_(m), c_(c), amsdu_pick_(amsdu_pick) {}

  ParseStatus link(uint16_t dlt, const uint8_t* data, uint32_t len);
  ParseStatus ethernet(ByteReader r, int depth);
  ParseStatus ieee80211(ByteReader r, int depth = 0);
  ParseStatus nflog(ByteReader r);
  ParseStatus llc_snap(ByteReader r, int depth);
  ParseStatus amsdu(ByteReader r, int depth);
  ParseStatus ethertype(uint16_t type, ByteReader r, int depth);
  ParseStatus ip_guess(ByteReader r, int depth);
  ParseStatus ipv4(ByteReader r, int depth);
  ParseStatus ipv6(ByteReader r, int depth);
  ParseStatus transport(uint8_t proto, ByteReader r, int depth);
  ParseStatus ppp_protocol(uint16_t proto, ByteReader r, int depth);

 private:
  ParseStatus drop(Counter c) {
    c_.inc(c);
    return ParseStatus::kDrop;
  }
  ParseStatus tcp(ByteReader r);
  ParseStatus udp(ByteReader r, int depth);
  ParseStatus gtp_u(const uint8_t* p, uint32_t len, int depth);
  ParseStatus teredo(const uint8_t* p, uint32_t len, int depth);
  ParseStatus ayiya(const uint8_t* p, uint32_t len, int depth);
  ParseStatus sctp(ByteReader r);
  ParseStatus icmp(ByteReader r, bool v6);
  ParseStatus gre(ByteReader r, int depth);
  ParseStatus pptp_gre(uint16_t flags, uint16_t proto, ByteReader r, int depth);
  ParseStatus enter_tunnel(Tunnel t, uint32_t id, int depth);
  ParseStatus inner_ip(Tunnel t, uint32_t id, bool v6, ByteReader r, int depth);

  PacketMeta& m_;
  uint32_t ip_lost_ = 0;  // bytes of the innermost IP payload the snap length cut off
  int bridged_ = 0;       // bridge headers (PBB, FabricPath, VN-Tag, E-TAG) passed
  Counters& c_;
  unsigned amsdu_pick_;  // the A-MSDU subframe to read
};

ParseStatus Parser::link(uint16_t dlt, const uint8_t* data, uint32_t len) {
  ByteReader r(data, len);
  switch (dlt) {
    case link_type::kEthernet:
      return ethernet(r, 0);
    case link_type::kRaw:
    case link_type::kRawDlt12:
    case link_type::kRawDlt14:
      return ip_guess(r, 0);
    case link_type::kIpv4:
      return ipv4(r, 0);
    case link_type::kIpv6:
      return ipv6(r, 0);
    case link_type::kNull:
    case link_type::kLoop: {
      uint32_t le = 0, be = 0;
      if (!r.has(4)) return drop(Counter::link_truncated);
      ByteReader p = r;
      p.le32(le);
      ByteReader q = r;
      q.be32(be);
      r.skip(4);
      const uint32_t af = dlt == link_type::kLoop ? be : (le < 256 ? le : be);
      if (af == kAfInet) return ipv4(r, 0);
      if (is_af_inet6(af)) return ipv6(r, 0);
      c_.inc(Counter::non_ip);
      return ParseStatus::kNonIp;
    }
    case link_type::kLinuxSll: {
      // Linux cooked capture v1: 16-byte header, protocol last (pcap-linktype LINUX_SLL).
      uint16_t proto = 0;
      if (!r.skip(14) || !r.be16(proto)) return drop(Counter::link_truncated);
      return ethertype(proto, r, 0);
    }
    case link_type::kLinuxSll2: {
      // Linux cooked capture v2: 20-byte header, protocol first (LINUX_SLL2).
      uint16_t proto = 0;
      if (!r.be16(proto) || !r.skip(18)) return drop(Counter::link_truncated);
      return ethertype(proto, r, 0);
    }
    case link_type::kPpp:
    case link_type::kPppHdlc: {
      uint8_t b0 = 0, b1 = 0;
      if (r.peek_u8(0, b0) && r.peek_u8(1, b1) && b0 == 0xFF && b1 == 0x03) r.skip(2);
      uint8_t first = 0;
      if (!r.u8(first)) return drop(Counter::ppp_truncated);
      uint16_t proto = first;
      if ((first & 1) == 0) {  // two-byte protocol field (RFC 1661 §2)
        uint8_t second = 0;
        if (!r.u8(second)) return drop(Counter::ppp_truncated);
        proto = static_cast<uint16_t>(first << 8 | second);
      }
      return ppp_protocol(proto, r, 0);
    }
    case link_type::kCiscoHdlc: {
      uint16_t proto = 0;
      if (!r.skip(2) || !r.be16(proto)) return drop(Counter::link_truncated);
      return ethertype(proto, r, 0);
    }
    case link_type::kIeee80211:
      return ieee80211(r);
    case link_type::kNflog:
      return nflog(r);
    case link_type::kPktap:
    case link_type::kUser2: {
      // Apple's PKTAP (pcap-linktype LINKTYPE_PKTAP, libpcap's pcap/pktap.h; written as
      // DLT_USER2 by older macOS, read so where its header is one): a header in the
      // capturing host's (little-endian) order giving its own length (108 bytes at
      // least), the kind of record (1: a packet) and the packet's link type; the packet
      // follows it.
      uint32_t hlen = 0, kind = 0, inner = 0;
      ByteReader h = r;
      const bool read = h.le32(hlen) && h.le32(kind) && h.le32(inner);
      const bool valid = read && hlen >= 108 && kind == 1 && inner != link_type::kPktap &&
                         inner != link_type::kUser2 && inner <= 0xffff &&
                         link_type_supported(static_cast<uint16_t>(inner));
      if (!valid && dlt == link_type::kUser2) return drop(Counter::link_unsupported);
      if (!read || (hlen >= 108 && !r.skip(hlen))) return drop(Counter::link_truncated);
      if (!valid) return drop(Counter::link_unsupported);
      return link(static_cast<uint16_t>(inner), r.current(), r.remaining());
    }
    case link_type::kRadiotap: {
      // Radiotap (radiotap.org): version, pad, the header's length (little-endian),
      // then the radio fields, which no flow needs.
      uint16_t hlen = 0;
      if (!r.skip(2) || !r.le16(hlen) || hlen < 8 || !r.skip(hlen - 4u)) return drop(Counter::wlan_truncated);
      return ieee80211(r);
    }
    default:
      return drop(Counter::link_unsupported);
  }
}

ParseStatus Parser::nflog(ByteReader r) {
  // Linux NFLOG (pcap-linktype LINKTYPE_NFLOG, libpcap's pcap/nflog.h): address family,
  // version, resource id, then type-length-value attributes, each a multiple of 4 bytes,
  // whose length (header included) and type are in the capturing host's byte order. The
  // packet is NFULA_PAYLOAD's (9) value, from its IP header; the snap length may cut it.
  // The order is read off the first attribute: its type is one of the few NFULA_* ones
  // one way only (little-endian where both read alike).
  uint8_t family = 0;
  if (!r.u8(family) || !r.skip(3)) return drop(Counter::link_truncated);
  auto le16 = [](const uint8_t* a) { return static_cast<uint32_t>(a[0] | a[1] << 8); };
  auto be16 = [](const uint8_t* a) { return static_cast<uint32_t>(a[0] << 8 | a[1]); };
  auto known = [](uint32_t type) { return (type & 0x7fff) >= 1 && (type & 0x7fff) < 64; };
  const bool big = r.has(4) && !known(le16(r.current() + 2)) && known(be16(r.current() + 2));
  while (r.has(4)) {
    const uint8_t* a = r.current();
    const uint32_t len = big ? be16(a) : le16(a);
    const uint32_t type = (big ? be16(a + 2) : le16(a + 2)) & 0x7fff;  // less NLA_F_NESTED
    if (len < 4 || (len > r.remaining() && type != 9)) return drop(Counter::link_truncated);
    if (type == 9) {
      ByteReader payload(a + 4, std::min<std::size_t>(len, r.remaining()) - 4);
      if (family == 2) return ipv4(payload, 0);   // AF_INET
      if (family == 10) return ipv6(payload, 0);  // AF_INET6 (Linux)
      return ip_guess(payload, 0);
    }
    r.skip(std::min<uint32_t>((len + 3u) & ~3u, r.remaining()));
  }
  c_.inc(Counter::non_ip);  // a message with no packet in it
  return ParseStatus::kNonIp;
}

ParseStatus Parser::ieee80211(ByteReader r, int depth) {
  // IEEE 802.11-2020 §9.2.4, §9.3.2.1: frame control, duration, three addresses,
  // sequence control, a fourth address between access points (to and from DS), QoS
  // control in QoS data frames, HT control after it when the order bit is set; then
  // LLC/SNAP. Data frames carry packets; management and control frames, data
  // subtypes without a body and protected (encrypted) bodies are counted.
  const uint8_t* h = r.current();
  if (!r.has(24)) return drop(Counter::wlan_truncated);
  const uint8_t fc0 = h[0], fc1 = h[1];
  const unsigned subtype = fc0 >> 4u;
  if (((fc0 >> 2) & 3) != 2 || (subtype & 0x4)) return drop(Counter::wlan_not_data);
  if (fc1 & 0x40) return drop(Counter::wlan_protected);
  const bool to_ds = fc1 & 0x01, from_ds = fc1 & 0x02, qos = subtype & 0x8;
  uint32_t len = to_ds && from_ds ? 30 : 24;
  bool aggregate = false;
  if (qos) {
    if (!r.has(len + 2)) return drop(Counter::wlan_truncated);
    aggregate = h[len] & 0x80;  // A-MSDU present (QoS control bit 7)
    len += (fc1 & 0x80) ? 6 : 2;
  }
  if (!r.has(len)) return drop(Counter::wlan_truncated);
  // Destination and source by the DS bits (§9.3.2.1.1, Table 9-58).
  const uint8_t* dst = to_ds ? h + 16 : h + 4;
  const uint8_t* src = from_ds ? (to_ds ? h + 24 : h + 16) : h + 10;
  std::memcpy(m_.mac_dst.data(), dst, 6);
  std::memcpy(m_.mac_src.data(), src, 6);
  m_.has_mac = true;
  m_.vlan_count = 0;
  r.skip(len);
  return aggregate ? amsdu(r, depth) : llc_snap(r, depth);
}

ParseStatus Parser::amsdu(ByteReader r, int depth) {
  // IEEE 802.11-2020 §9.3.2.2.2: A-MSDU subframes, each a destination, a source and a
  // big-endian length, that many bytes of MSDU (LLC/SNAP and its packet), then padding
  // to a multiple of four bytes but after the last. The subframe amsdu_pick_ names is
  // read (its addresses are the packet's ends); all are counted. An MSDU the capture
  // cut short is read as far as it goes, as any packet cut by the snap length.
  unsigned count = 0;
  const uint8_t* picked = nullptr;
  uint32_t picked_len = 0;
  while (r.remaining() >= 14) {
    const uint8_t* s = r.current();
    const uint32_t n = static_cast<uint32_t>(s[12] << 8 | s[13]);
    if (count == kMaxAmsduSubframes) {
      if (amsdu_pick_ == 0) c_.inc(Counter::wlan_amsdu_too_many);  // once a frame
      break;
    }
    if (count == amsdu_pick_) {
      picked = s;
      picked_len = std::min<uint32_t>(n, static_cast<uint32_t>(r.remaining()) - 14);
      m_.amsdu_bytes = static_cast<uint16_t>(std::min<uint32_t>(14 + n, 0xFFFF));
    }
    ++count;
    const std::size_t step = (14u + n + 3u) & ~std::size_t{3};
    if (step >= r.remaining()) break;
    r.skip(step);
  }
  m_.amsdu_subframes = static_cast<uint8_t>(count);
  if (!picked) return drop(Counter::wlan_truncated);
  if (amsdu_pick_ == 0) c_.inc(Counter::wlan_amsdu);
  std::memcpy(m_.mac_dst.data(), picked, 6);
  std::memcpy(m_.mac_src.data(), picked + 6, 6);
  return llc_snap(ByteReader(picked + 14, picked_len), depth);
}

ParseStatus Parser::llc_snap(ByteReader r, int depth) {
  // IEEE 802.2 LLC: only SNAP (AA AA 03, OUI, EtherType) can carry IP.
  uint8_t dsap = 0, ssap = 0, ctrl = 0;
  uint16_t type = 0;
  if (r.peek_u8(0, dsap) && r.peek_u8(1, ssap) && r.peek_u8(2, ctrl) && dsap == 0xAA && ssap == 0xAA &&
      ctrl == 0x03 && r.skip(6) && r.be16(type))
    return ethertype(type, r, depth);
  c_.inc(Counter::non_ip);
  return ParseStatus::kNonIp;
}

ParseStatus Parser::ethernet(ByteReader r, int depth) {
  if (!r.has(14)) return drop(Counter::link_truncated);
  // Inner Ethernet (VXLAN, ERSPAN, GRE TEB) replaces the outer addresses and tags:
  // the flow is the mirrored or tunnelled conversation.
  r.bytes(m_.mac_dst.data(), 6);
  r.bytes(m_.mac_src.data(), 6);
  m_.has_mac = true;
  m_.vlan_count = 0;
  uint16_t type = 0;
  r.be16(type);
  if (type < 0x0600) return llc_snap(r, depth);  // an IEEE 802.3 length
  return ethertype(type, r, depth);
}

ParseStatus Parser::ethertype(uint16_t type, ByteReader r, int depth) {
  int tags = 0;
  while (type == kEthVlan || type == kEthQinQ || type == kEthQinQOld) {
    if (++tags > kMaxVlanTags) return drop(Counter::vlan_too_deep);
    uint16_t tci = 0;
    if (!r.be16(tci) || !r.be16(type)) return drop(Counter::vlan_truncated);
    if (m_.vlan_count < m_.vlan.size()) m_.vlan[m_.vlan_count++] = tci & 0x0FFF;
  }
  switch (type) {
    case kEthIpv4:
      return ipv4(r, depth);
    case kEthIpv6:
      return ipv6(r, depth);
    case kEthMpls:
    case kEthMplsMc: {
      for (int i = 0;; ++i) {
        if (i >= kMaxMplsLabels) return drop(Counter::mpls_too_deep);
        uint32_t lse = 0;
        if (!r.be32(lse)) return drop(Counter::mpls_truncated);
        if (lse & 0x100) break;  // bottom of stack (RFC 3032 §2.1)
      }
      uint8_t first = 0;
      if (!r.peek_u8(0, first)) return drop(Counter::mpls_truncated);
      if ((first >> 4) == 4 || (first >> 4) == 6) return ip_guess(r, depth);
      // A pseudowire control word (first nibble 0, RFC 4385) is followed by Ethernet.
      if ((first >> 4) == 0 && r.skip(4)) return ethernet(r, depth);
      return drop(Counter::mpls_unknown_payload);
    }
    case kEthPbb:
    case kEthFabricPath: {
      // A bridge's header around the customer's or host's own Ethernet frame, whose
      // addresses and tags the flow takes (as a tunnel's inner frame): 802.1ah's 4-byte
      // I-TAG; FabricPath's FTag and TTL (the outer addresses were its switches').
      if (++bridged_ > kMaxBridgeHeaders) return drop(Counter::bridge_too_deep);
      if (!r.skip(type == kEthPbb ? 4 : 2)) return drop(Counter::bridge_truncated);
      return ethernet(r, depth);
    }
    case kEthVnTag:
    case kEthETag: {
      // A tag between the addresses and the EtherType, as a VLAN tag is: VN-Tag 4 bytes,
      // 802.1BR's E-TAG 6.
      if (++bridged_ > kMaxBridgeHeaders) return drop(Counter::bridge_too_deep);
      uint16_t next = 0;
      if (!r.skip(type == kEthVnTag ? 4 : 6) || !r.be16(next)) return drop(Counter::bridge_truncated);
      return ethertype(next, r, depth);
    }
    case kEthPppoeSession: {
      // RFC 2516 §4: ver/type, code, session id, length, then the PPP protocol.
      uint16_t len = 0, proto = 0;
      if (!r.skip(4) || !r.be16(len) || !r.be16(proto)) return drop(Counter::pppoe_truncated);
      return ppp_protocol(proto, r, depth);
    }
    default:
      c_.inc(Counter::non_ip);
      return ParseStatus::kNonIp;
  }
}

ParseStatus Parser::ppp_protocol(uint16_t proto, ByteReader r, int depth) {
  if (proto == kPppIpv4) return ipv4(r, depth);
  if (proto == kPppIpv6) return ipv6(r, depth);
  c_.inc(Counter::non_ip);
  return ParseStatus::kNonIp;
}

ParseStatus Parser::ip_guess(ByteReader r, int depth) {
  uint8_t first = 0;
  if (!r.peek_u8(0, first)) return drop(Counter::ipv4_truncated);
  if ((first >> 4) == 6) return ipv6(r, depth);
  return ipv4(r, depth);
}

ParseStatus Parser::ipv4(ByteReader r, int depth) {
  // RFC 791 §3.1.
  const uint8_t* hdr = r.current();
  if (!r.has(20)) return drop(Counter::ipv4_truncated);
  const uint8_t vihl = hdr[0];
  if ((vihl >> 4) != 4) return drop(Counter::ipv4_bad_version);
  const uint32_t ihl = (vihl & 0x0F) * 4u;
  if (ihl < 20) return drop(Counter::ipv4_bad_header_length);
  if (!r.has(ihl)) return drop(Counter::ipv4_truncated);
  uint32_t total = static_cast<uint32_t>(hdr[2] << 8 | hdr[3]);
  // Zero is what TSO and IPv4 BIG TCP leave in packets captured on the sending
  // host (the length exceeds 16 bits or is filled in by the NIC): use the frame.
  if (total == 0) total = static_cast<uint32_t>(r.remaining());
  if (total < ihl) return drop(Counter::ipv4_bad_total_length);
  const bool snapped = m_.cap_len < m_.wire_len;
  uint32_t avail = static_cast<uint32_t>(r.remaining());
  ip_lost_ = 0;
  if (total > avail) {
    // Cut by the snap length: parse what is there. Otherwise the header lies.
    if (!snapped) return drop(Counter::ipv4_bad_total_length);
    ip_lost_ = total - avail;
  } else {
    avail = total;  // drop Ethernet padding
  }
  m_.ip_version = 4;
  m_.src.fill(0);
  m_.dst.fill(0);
  std::memcpy(m_.src.data(), hdr + 12, 4);
  std::memcpy(m_.dst.data(), hdr + 16, 4);
  const uint8_t proto = hdr[9];
  m_.l4_proto = proto;
  const uint16_t frag = static_cast<uint16_t>(hdr[6] << 8 | hdr[7]);
  const bool more = frag & 0x2000;
  const uint32_t offset = (frag & 0x1FFFu) * 8u;
  ByteReader payload(hdr + ihl, avail - ihl);
  if (more || offset != 0) {
    m_.frag.id = static_cast<uint32_t>(hdr[4] << 8 | hdr[5]);
    m_.frag.offset_bytes = offset;
    m_.frag.more = more;
    m_.frag.next_proto = proto;
    m_.frag.data = payload.current();
    m_.frag.len = static_cast<uint32_t>(payload.remaining());
    return ParseStatus::kFragment;
  }
  return transport(proto, payload, depth);
}

ParseStatus Parser::ipv6(ByteReader r, int depth) {
  // RFC 8200 §3.
  const uint8_t* hdr = r.current();
  if (!r.has(40)) return drop(Counter::ipv6_truncated);
  if ((hdr[0] >> 4) != 6) return drop(Counter::ipv6_bad_version);
  const uint32_t plen = static_cast<uint32_t>(hdr[4] << 8 | hdr[5]);
  r.skip(40);
  uint32_t avail = static_cast<uint32_t>(r.remaining());
  const bool snapped = m_.cap_len < m_.wire_len;
  ip_lost_ = 0;
  if (plen == 0) {
    // Jumbogram (RFC 2675) or a zero-length payload: take what is there.
  } else if (plen > avail) {
    if (!snapped) return drop(Counter::ipv6_bad_payload_length);
    ip_lost_ = plen - avail;
  } else {
    avail = plen;
  }
  m_.ip_version = 6;
  std::memcpy(m_.src.data(), hdr + 8, 16);
  std::memcpy(m_.dst.data(), hdr + 24, 16);
  ByteReader p(r.current(), avail);
  uint8_t next = hdr[6];
  for (int i = 0;; ++i) {
    switch (next) {
      case kExtHopByHop:
      case kExtRouting:
      case kExtDestOpts:
      case kExtMobility:
      case kExtHip:
      case kExtShim6: {
        if (i >= kMaxIpv6ExtHeaders) return drop(Counter::ipv6_too_many_ext);
        uint8_t nh = 0, len8 = 0;
        if (!p.u8(nh) || !p.u8(len8) || !p.skip(6u + len8 * 8u)) return drop(Counter::ipv6_ext_truncated);
        next = nh;
        continue;
      }
      case kExtAh: {
        // RFC 4302 §2.2: payload length in 4-octet units, minus 2.
        if (i >= kMaxIpv6ExtHeaders) return drop(Counter::ipv6_too_many_ext);
        uint8_t nh = 0, len4 = 0;
        if (!p.u8(nh) || !p.u8(len4) || !p.skip((len4 + 2u) * 4u - 2u))
          return drop(Counter::ipv6_ext_truncated);
        next = nh;
        continue;
      }
      case kExtFragment: {
        // RFC 8200 §4.5.
        if (i >= kMaxIpv6ExtHeaders) return drop(Counter::ipv6_too_many_ext);
        uint8_t nh = 0, reserved = 0;
        uint16_t off = 0;
        uint32_t id = 0;
        if (!p.u8(nh) || !p.u8(reserved) || !p.be16(off) || !p.be32(id))
          return drop(Counter::ipv6_ext_truncated);
        const uint32_t offset = (off >> 3) * 8u;
        const bool more = off & 1;
        if (offset == 0 && !more) {  // atomic fragment (RFC 6946): not fragmented at all
          next = nh;
          continue;
        }
        m_.l4_proto = nh;
        m_.frag.id = id;
        m_.frag.offset_bytes = offset;
        m_.frag.more = more;
        m_.frag.next_proto = nh;
        m_.frag.data = p.current();
        m_.frag.len = static_cast<uint32_t>(p.remaining());
        return ParseStatus::kFragment;
      }
      default:
        m_.l4_proto = next;
        return transport(next, p, depth);
    }
  }
}

ParseStatus Parser::enter_tunnel(Tunnel t, uint32_t id, int depth) {
  if (depth + 1 > kMaxEncapDepth) return drop(Counter::tunnel_too_deep);
  if (m_.tunnel == Tunnel::kNone) {
    m_.tunnel = t;
    m_.tunnel_id = id;
  }
  m_.tunnel_depth = static_cast<uint8_t>(depth + 1);
  return ParseStatus::kOk;
}

// Into a tunnel that carries an IP packet: the tunnel noted and counted, the packet
// parsed as the flow.
ParseStatus Parser::inner_ip(Tunnel t, uint32_t id, bool v6, ByteReader r, int depth) {
  if (enter_tunnel(t, id, depth) == ParseStatus::kDrop) return ParseStatus::kDrop;
  c_.inc(Counter::tunnel_decapsulated);
  return v6 ? ipv6(r, depth + 1) : ipv4(r, depth + 1);
}

ParseStatus Parser::transport(uint8_t proto, ByteReader r, int depth) {
  m_.l4_proto = proto;
  switch (proto) {
    case kProtoTcp:
      return tcp(r);
    case kProtoUdp:
    case kProtoUdpLite:
      return udp(r, depth);
    case kProtoSctp:
      return sctp(r);
    case kProtoIcmp:
      return icmp(r, false);
    case kProtoIcmpv6:
      return icmp(r, true);
    case kProtoGre:
      return gre(r, depth);
    case kProtoIpip:
    case kProtoIpv6:
      return inner_ip(Tunnel::kIpInIp, 0, proto == kProtoIpv6, r, depth);
    default:
      // Other IP protocols (ESP, OSPF, VRRP, ...) are flows without ports.
      m_.sport = m_.dport = 0;
      m_.l4_payload = r.current();
      m_.l4_payload_len = static_cast<uint32_t>(r.remaining());
      return ParseStatus::kOk;
  }
}

ParseStatus Parser::tcp(ByteReader r) {
  // RFC 9293 §3.1.
  const uint8_t* h = r.current();
  // A header cut by the snap length still names the flow (ports, sequence numbers
  // and flags are in its first 14 bytes): the packet counts in its flow, with no
  // payload. Otherwise a short header is an error.
  const bool snapped = m_.cap_len < m_.wire_len;
  uint32_t off = 0;
  if (r.has(20)) {
    off = (h[12] >> 4) * 4u;
    if (off < 20) return drop(Counter::tcp_bad_header_length);
  }
  if (off == 0 || !r.has(off)) {
    if (!snapped || !r.has(14)) return drop(Counter::tcp_truncated);
    off = static_cast<uint32_t>(r.remaining());
    m_.l4_lost = 0;  // unknown: the header itself is cut (not an outer datagram's count)
  } else {
    m_.l4_lost = ip_lost_;  // the header whole: what the snap length cut is payload
  }
  m_.sport = static_cast<uint16_t>(h[0] << 8 | h[1]);
  m_.dport = static_cast<uint16_t>(h[2] << 8 | h[3]);
  m_.tcp_seq = uint32_t{h[4]} << 24 | uint32_t{h[5]} << 16 | uint32_t{h[6]} << 8 | h[7];
  m_.tcp_ack = uint32_t{h[8]} << 24 | uint32_t{h[9]} << 16 | uint32_t{h[10]} << 8 | h[11];
  m_.tcp_flags = h[13];
  r.skip(off);
  m_.l4_payload = r.current();
  m_.l4_payload_len = static_cast<uint32_t>(r.remaining());
  return ParseStatus::kOk;
}

ParseStatus Parser::udp(ByteReader r, int depth) {
  // RFC 768.
  const uint8_t* h = r.current();
  if (!r.has(8)) {
    // Cut by the snap length inside the header: the ports still name the flow.
    if (m_.cap_len >= m_.wire_len || !r.has(4)) return drop(Counter::udp_truncated);
    m_.sport = static_cast<uint16_t>(h[0] << 8 | h[1]);
    m_.dport = static_cast<uint16_t>(h[2] << 8 | h[3]);
    m_.l4_payload = h + r.remaining();
    m_.l4_payload_len = 0;
    return ParseStatus::kOk;
  }
  m_.sport = static_cast<uint16_t>(h[0] << 8 | h[1]);
  m_.dport = static_cast<uint16_t>(h[2] << 8 | h[3]);
  const uint32_t len = static_cast<uint32_t>(h[4] << 8 | h[5]);
  r.skip(8);
  uint32_t payload = static_cast<uint32_t>(r.remaining());
  if (m_.l4_proto == kProtoUdp) {
    // Length 0 is legal only for IPv6 jumbograms (RFC 2675 §4); take what is there.
    if (len != 0 && len < 8) return drop(Counter::udp_bad_length);
    if (len > payload + 8) {
      if (m_.cap_len >= m_.wire_len) return drop(Counter::udp_bad_length);
      m_.l4_lost = len - 8 - payload;  // cut by the snap length
    } else if (len != 0) {
      payload = len - 8;
    }
  }
  m_.l4_payload = r.current();
  m_.l4_payload_len = payload;
  if (m_.l4_proto == kProtoUdp && m_.dport == kGenevePort && payload >= 8) {
    // RFC 8926 §3.4: ver(2) opt len(6, 4-byte units), flags, protocol type, VNI, reserved.
    ByteReader g(r.current(), payload);
    uint8_t vo = 0, flags = 0;
    uint16_t proto = 0;
    uint32_t vni = 0;
    g.u8(vo);
    g.u8(flags);
    g.be16(proto);
    g.be32(vni);
    if ((vo >> 6) == 0 && g.skip((vo & 0x3Fu) * 4u)) {
      if (proto == kEthTeb || proto == kEthIpv4 || proto == kEthIpv6) {
        if (enter_tunnel(Tunnel::kGeneve, vni >> 8, depth) == ParseStatus::kDrop) return ParseStatus::kDrop;
        c_.inc(Counter::tunnel_decapsulated);
        if (proto == kEthTeb) return ethernet(g, depth + 1);
        return proto == kEthIpv4 ? ipv4(g, depth + 1) : ipv6(g, depth + 1);
      }
    } else {
      c_.inc(Counter::geneve_truncated);
      return ParseStatus::kDrop;
    }
  }
  if (m_.l4_proto == kProtoUdp && (m_.dport == kGtpUPort || m_.sport == kGtpUPort) && payload >= 8)
    return gtp_u(r.current(), payload, depth);
  if (m_.l4_proto == kProtoUdp && (m_.dport == kTeredoPort || m_.sport == kTeredoPort) && payload >= 40)
    return teredo(r.current(), payload, depth);
  if (m_.l4_proto == kProtoUdp && (m_.dport == kAyiyaPort || m_.sport == kAyiyaPort) && payload >= 8)
    return ayiya(r.current(), payload, depth);
  if (m_.l4_proto == kProtoUdp && m_.dport == kGreUdpPort && payload >= 4) {
    // GRE-in-UDP (RFC 8086 §3): a GRE header, version 0, carrying a packet or frame
    // tapbeat reads; anything else on the port stays UDP.
    const uint8_t* g = r.current();
    const uint16_t flags = static_cast<uint16_t>(g[0] << 8 | g[1]),
                   proto = static_cast<uint16_t>(g[2] << 8 | g[3]);
    if ((flags & 0x4FFF) == 0 &&
        (proto == kEthIpv4 || proto == kEthIpv6 || proto == kEthTeb || proto == kEthMpls))
      return gre(ByteReader(g, payload), depth);
  }
  const bool linux_vxlan = m_.dport == kLinuxVxlanPort && payload >= 8 + 14;
  if (m_.l4_proto == kProtoUdp && (m_.dport == kVxlanPort || linux_vxlan) && payload >= 8) {
    // RFC 7348 §5: flags (I bit 0x08), 24 reserved bits, VNI, reserved. On Linux's own
    // port, which other applications may use, only a header exactly so.
    const uint8_t* h = r.current();
    ByteReader v(h, payload);
    uint8_t flags = 0;
    uint32_t vni = 0;
    v.u8(flags);
    v.skip(3);
    v.be32(vni);
    const bool exact = flags == 0x08 && (h[1] | h[2] | h[3] | h[7]) == 0;
    if (m_.dport == kVxlanPort ? (flags & 0x08) != 0 : exact) {
      if (enter_tunnel(Tunnel::kVxlan, vni >> 8, depth) == ParseStatus::kDrop) return ParseStatus::kDrop;
      c_.inc(Counter::tunnel_decapsulated);
      return ethernet(v, depth + 1);
    }
  }
  return ParseStatus::kOk;
}

ParseStatus Parser::gtp_u(const uint8_t* p, uint32_t len, int depth) {
  // 3GPP TS 29.281 §5: flags (version 1, PT 1 = GTP, E/S/PN), message type, length of
  // what follows the first 8 bytes, TEID; with E, S or PN set, sequence number, N-PDU
  // number and the first extension header's type; extension headers (length in
  // 4-byte units, covering itself and the next type). Only a G-PDU (type 255) carries
  // a user's packet; echo, error indication and end marker stay UDP of the tunnel.
  if ((p[0] >> 5) != 1 || !(p[0] & 0x10) || p[1] != 0xFF) return ParseStatus::kOk;
  const uint32_t declared = 8u + (uint32_t{p[2]} << 8 | p[3]);
  ByteReader g(p, declared < len ? declared : len);
  g.skip(8);
  if (p[0] & 0x07) {
    uint8_t next = 0;
    if (!g.skip(3) || !g.u8(next)) return drop(Counter::gtp_truncated);
    for (int i = 0; next != 0; ++i) {
      uint8_t units = 0;
      if (i == 16 || !g.u8(units) || units == 0 || !g.skip(units * 4u - 2) || !g.u8(next))
        return drop(Counter::gtp_truncated);
    }
  }
  uint8_t first = 0;
  if (!g.peek_u8(0, first)) return ParseStatus::kOk;  // no user packet (an empty G-PDU)
  const int version = first >> 4;
  if (version != 4 && version != 6) return ParseStatus::kOk;  // not IP: the tunnel's own flow
  // Each direction of a bearer has its own TEID: the inner flow is not split by it.
  return inner_ip(Tunnel::kGtpU, 0, version == 6, g, depth);
}

ParseStatus Parser::teredo(const uint8_t* p, uint32_t len, int depth) {
  // RFC 4380 §5.1.1: an optional authentication indicator (0x0001, client id and
  // authentication value lengths, both, an 8-byte nonce, confirmation byte), an
  // optional origin indication (0x0000, port, address: 8 bytes), then one IPv6
  // packet filling the rest. Anything else on the port is plain UDP.
  ByteReader t(p, len);
  uint16_t tag = 0;
  if (t.peek_be16(0, tag) && tag == 0x0001) {
    uint8_t id_len = 0, au_len = 0;
    if (!t.skip(2) || !t.u8(id_len) || !t.u8(au_len) || !t.skip(id_len + au_len + 9u))
      return ParseStatus::kOk;
  }
  if (t.peek_be16(0, tag) && tag == 0x0000 && !t.skip(8)) return ParseStatus::kOk;
  uint8_t v = 0;
  uint16_t plen = 0;
  // The IPv6 packet fills the datagram (or the part the snap length kept).
  const bool snapped = m_.cap_len < m_.wire_len;
  if (!t.peek_u8(0, v) || (v >> 4) != 6 || !t.peek_be16(4, plen) ||
      !(t.remaining() == 40u + plen || (snapped && t.remaining() < 40u + plen)))
    return ParseStatus::kOk;
  return inner_ip(Tunnel::kTeredo, 0, true, t, depth);
}

ParseStatus Parser::ayiya(const uint8_t* p, uint32_t len, int depth) {
  // draft-massar-v6ops-ayiya §6.1: identity length (2^n bytes) and type, signature
  // length (4-byte words) and hash, authentication method and opcode, next header,
  // epoch time; identity and signature; then the packet. Opcode 1 (forward) with an
  // IPv6 or IPv4 packet is followed; heartbeats and the rest stay UDP of the tunnel.
  const uint32_t header = 8u + (1u << (p[0] >> 4)) + 4u * (p[1] >> 4);
  const uint8_t next = p[3];
  if ((p[2] & 0x0F) != 1 || (next != kProtoIpv6 && next != kProtoIpip) || len <= header)
    return ParseStatus::kOk;
  ByteReader a(p + header, len - header);
  uint8_t first = 0;
  a.peek_u8(0, first);
  if ((first >> 4) != (next == kProtoIpv6 ? 6 : 4)) return ParseStatus::kOk;
  return inner_ip(Tunnel::kAyiya, 0, next == kProtoIpv6, a, depth);
}

ParseStatus Parser::sctp(ByteReader r) {
  // RFC 9260 §3.1: common header, ports first.
  const uint8_t* h = r.current();
  if (!r.has(12)) return drop(Counter::sctp_truncated);
  m_.sport = static_cast<uint16_t>(h[0] << 8 | h[1]);
  m_.dport = static_cast<uint16_t>(h[2] << 8 | h[3]);
  r.skip(12);
  m_.l4_payload = r.current();
  m_.l4_payload_len = static_cast<uint32_t>(r.remaining());
  return ParseStatus::kOk;
}

ParseStatus Parser::icmp(ByteReader r, bool v6) {
  // RFC 792 / RFC 4443: type, code, checksum, then (for queries) identifier, sequence.
  const uint8_t* h = r.current();
  if (!r.has(4)) return drop(v6 ? Counter::icmpv6_truncated : Counter::icmp_truncated);
  m_.icmp_type = h[0];
  m_.icmp_code = h[1];
  m_.icmp_id = r.has(6) ? static_cast<uint16_t>(h[4] << 8 | h[5]) : 0;
  m_.sport = m_.dport = 0;
  r.skip(4);
  m_.l4_payload = r.current();
  m_.l4_payload_len = static_cast<uint32_t>(r.remaining());
  return ParseStatus::kOk;
}

ParseStatus Parser::pptp_gre(uint16_t flags, uint16_t proto, ByteReader r, int depth) {
  // RFC 2637 §4.1: key (payload length, call id) always present, then the
  // sequence and acknowledgment numbers when S and A are set; PPP inside.
  uint16_t payload_len = 0;
  if (proto != kEthPpp || !(flags & 0x2000)) return drop(Counter::gre_unsupported);
  if (!r.be16(payload_len) || !r.skip(2)) return drop(Counter::gre_truncated);  // the call id: see below
  if ((flags & 0x1000) && !r.skip(4)) return drop(Counter::gre_truncated);
  if ((flags & 0x0080) && !r.skip(4)) return drop(Counter::gre_truncated);
  // An acknowledgment alone, or PPP's own control (LCP, CCP, ...): the packet
  // belongs to the GRE flow between the two ends, as other IP protocols do.
  auto outer = [&] {
    m_.sport = m_.dport = 0;
    m_.l4_payload = r.current();
    m_.l4_payload_len = static_cast<uint32_t>(r.remaining());
    return ParseStatus::kOk;
  };
  if (payload_len == 0 || r.remaining() == 0) return outer();
  // PPP: address and control (FF 03) unless compressed away, then a one- or
  // two-byte protocol (RFC 1661 §2, RFC 1662 §3.2).
  uint8_t b0 = 0, b1 = 0;
  if (r.peek_u8(0, b0) && r.peek_u8(1, b1) && b0 == 0xFF && b1 == 0x03) r.skip(2);
  uint8_t first = 0, second = 0;
  uint16_t ppp = 0;
  if (!r.peek_u8(0, first)) return drop(Counter::ppp_truncated);
  if (first & 1) {
    ppp = first;
  } else {
    if (!r.peek_u8(1, second)) return drop(Counter::ppp_truncated);
    ppp = static_cast<uint16_t>(first << 8 | second);
  }
  if (ppp != kPppIpv4 && ppp != kPppIpv6) return outer();
  r.skip(first & 1 ? 1 : 2);
  // Each side's packets carry its peer's call id (RFC 2637 4.1): the two directions of a
  // session differ in it, so it stays out of the key, as GTP-U's tunnel ids do.
  if (enter_tunnel(Tunnel::kGre, 0, depth) == ParseStatus::kDrop) return ParseStatus::kDrop;
  c_.inc(Counter::tunnel_decapsulated);
  return ppp_protocol(ppp, r, depth + 1);
}

ParseStatus Parser::gre(ByteReader r, int depth) {
  // RFC 2784 / RFC 2890: C, K, S flags, version 0. Version 1 is PPTP's (RFC 2637).
  uint16_t flags = 0, proto = 0;
  if (!r.be16(flags) || !r.be16(proto)) return drop(Counter::gre_truncated);
  const unsigned version = flags & 0x7;
  if (version == 1) return pptp_gre(flags, proto, r, depth);
  if (version != 0) return drop(Counter::gre_unsupported);
  uint32_t key = 0;
  const bool has_seq = flags & 0x1000;
  if ((flags & 0x8000) && !r.skip(4)) return drop(Counter::gre_truncated);
  if ((flags & 0x2000) && !r.be32(key)) return drop(Counter::gre_truncated);
  if (has_seq && !r.skip(4)) return drop(Counter::gre_truncated);
  if (flags & 0x4000) {
    // Source routing (RFC 1701) is obsolete: refuse rather than guess.
    return drop(Counter::gre_unsupported);
  }
  switch (proto) {
    case kEthIpv4:
    case kEthIpv6:
    case kEthTeb:
    case kEthMpls: {
      if (enter_tunnel(Tunnel::kGre, key, depth) == ParseStatus::kDrop) return ParseStatus::kDrop;
      c_.inc(Counter::tunnel_decapsulated);
      if (proto == kEthTeb) return ethernet(r, depth + 1);
      if (proto == kEthMpls) return ethertype(kEthMpls, r, depth + 1);
      return proto == kEthIpv4 ? ipv4(r, depth + 1) : ipv6(r, depth + 1);
    }
    case kEthErspan2: {
      uint32_t session = 0;
      if (has_seq) {
        // ERSPAN type II header: ver(4) vlan(12), cos/en/t/session id(10), reserved/index.
        uint16_t w0 = 0, w1 = 0;
        if (!r.be16(w0) || !r.be16(w1) || !r.skip(4)) return drop(Counter::erspan_truncated);
        session = w1 & 0x03FF;
      }
      // Type I (no sequence number) has no ERSPAN header at all.
      if (enter_tunnel(Tunnel::kErspan, session, depth) == ParseStatus::kDrop) return ParseStatus::kDrop;
      c_.inc(Counter::tunnel_decapsulated);
      return ethernet(r, depth + 1);
    }
    case kEthErspan3: {
      // ERSPAN type III: 12-byte header, then an 8-byte platform sub-header when O=1.
      uint16_t w0 = 0, w1 = 0, w5 = 0;
      if (!r.be16(w0) || !r.be16(w1) || !r.skip(6) || !r.be16(w5)) return drop(Counter::erspan_truncated);
      if ((w5 & 0x0001) && !r.skip(8)) return drop(Counter::erspan_truncated);
      if (enter_tunnel(Tunnel::kErspan, w1 & 0x03FF, depth) == ParseStatus::kDrop) return ParseStatus::kDrop;
      c_.inc(Counter::tunnel_decapsulated);
      return ethernet(r, depth + 1);
    }
    default:
      if (((proto & 0xFF0F) == 0x8200) || ((proto & 0xFF0F) == 0x8300 && proto <= 0x8370) ||
          proto == 0x9000) {
        // Aruba's access points tunnel their clients' 802.11 frames to the controller in
        // GRE with protocol types 0x8200-0x82F0 and 0x8300-0x8370 (low nibble 0) and
        // 0x9000 (Zeek reads these, among a wider set).
        if (enter_tunnel(Tunnel::kGre, key, depth) == ParseStatus::kDrop) return ParseStatus::kDrop;
        c_.inc(Counter::tunnel_decapsulated);
        return ieee80211(r, depth + 1);
      }
      return drop(Counter::gre_unsupported);
  }
}

}  // namespace

bool link_type_supported(uint16_t dlt) {
  switch (dlt) {
    case link_type::kNull:
    case link_type::kEthernet:
    case link_type::kPpp:
    case link_type::kRawDlt12:
    case link_type::kRawDlt14:
    case link_type::kPppHdlc:
    case link_type::kRaw:
    case link_type::kCiscoHdlc:
    case link_type::kLoop:
    case link_type::kLinuxSll:
    case link_type::kIpv4:
    case link_type::kIpv6:
    case link_type::kLinuxSll2:
    case link_type::kNflog:
    case link_type::kPktap:
    case link_type::kUser2:
    case link_type::kIeee80211:
    case link_type::kRadiotap:
      return true;
    default:
      return false;
  }
}

ParseStatus parse_frame(const uint8_t* data, uint32_t cap_len, uint16_t link_type, PacketMeta& meta,
                        Counters& counters, unsigned amsdu_subframe) {
  Parser p(meta, counters, amsdu_subframe);
  return p.link(link_type, data, cap_len);
}

ParseStatus parse_transport(uint8_t proto, const uint8_t* data, uint32_t len, PacketMeta& meta,
                            Counters& counters, int depth) {
  Parser p(meta, counters);
  return p.transport(proto, ByteReader(data, len), depth);
}

namespace {

// The addresses as four words (src a b, dst c d: an IPv4 address's word padded with
// zeros, as PacketMeta holds it), the protocol and the tunnel id.
uint32_t mix_hash(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint8_t proto, uint32_t tunnel_id) {
  // XOR of the two addresses is direction-free; a multiplicative mix spreads it.
  uint64_t h = (a ^ c) * 0x9E3779B97F4A7C15ull;
  h ^= (b ^ d) + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
  h ^= (uint64_t{proto} << 32) | tunnel_id;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  return static_cast<uint32_t>(h);
}

}  // namespace

uint32_t symmetric_hash(const PacketMeta& m) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  std::memcpy(&a, m.src.data(), 8);
  std::memcpy(&b, m.src.data() + 8, 8);
  std::memcpy(&c, m.dst.data(), 8);
  std::memcpy(&d, m.dst.data() + 8, 8);
  return mix_hash(a, b, c, d, m.l4_proto, m.tunnel_id);
}

bool quick_symmetric_hash(const uint8_t* f, uint32_t cap_len, uint16_t link_type, uint32_t& hash) {
  // Each test below stands for a path of the parser that ends in kOk with these
  // addresses, protocol 6 and no tunnel: Ethernet with no tag, the IP header whole and
  // its length within the frame (Ethernet padding after it), not a fragment, a TCP
  // header of at least 20 bytes that the IP length holds whole.
  if (link_type != link_type::kEthernet || cap_len < 14 + 40) return false;
  const uint8_t* ip = f + 14;
  const uint32_t avail = cap_len - 14;
  if (f[12] == 0x08 && f[13] == 0x00) {
    const uint32_t total = uint32_t{ip[2]} << 8 | ip[3];
    if (ip[0] != 0x45 || ip[9] != kProtoTcp || ((ip[6] & 0x3F) | ip[7]) != 0 || total < 40 || total > avail)
      return false;
    const uint32_t off = (ip[20 + 12] >> 4) * 4u;
    if (off < 20 || 20 + off > total) return false;
    uint32_t s, d;
    std::memcpy(&s, ip + 12, 4);
    std::memcpy(&d, ip + 16, 4);
    hash = mix_hash(s, 0, d, 0, kProtoTcp, 0);
    return true;
  }
  if (f[12] == 0x86 && f[13] == 0xDD) {
    const uint32_t plen = uint32_t{ip[4]} << 8 | ip[5];
    if (cap_len < 14 + 60 || (ip[0] >> 4) != 6 || ip[6] != kProtoTcp || plen < 20 || 40 + plen > avail)
      return false;
    const uint32_t off = (ip[40 + 12] >> 4) * 4u;
    if (off < 20 || off > plen) return false;
    uint64_t w[4];
    std::memcpy(w, ip + 8, 32);
    hash = mix_hash(w[0], w[1], w[2], w[3], kProtoTcp, 0);
    return true;
  }
  return false;
}

uint32_t dispatch_hash(const uint8_t* data, uint32_t cap_len, uint32_t wire_len, uint16_t link_type,
                       PacketMeta& meta, Counters& counters) {
  uint32_t hash = 0;
  if (quick_symmetric_hash(data, cap_len, link_type, hash)) {
    meta.amsdu_subframes = 0;  // what the caller reads of meta
    return hash;
  }
  return subframe_hash(data, cap_len, wire_len, link_type, 0, meta, counters);
}

std::size_t amsdu_owners(const uint8_t* data, uint32_t cap_len, uint32_t wire_len, uint16_t link_type,
                         uint32_t first, std::size_t n, PacketMeta& meta, Counters& counters,
                         std::array<uint16_t, kMaxAmsduSubframes>& to) {
  const unsigned subframes = meta.amsdu_subframes;
  std::size_t count = 0;
  to[count++] = static_cast<uint16_t>(worker_of(first, n));
  for (unsigned s = 1; s < subframes; ++s) {
    const auto w = static_cast<uint16_t>(
        worker_of(subframe_hash(data, cap_len, wire_len, link_type, s, meta, counters), n));
    if (std::find(to.begin(), to.begin() + static_cast<std::ptrdiff_t>(count), w) ==
        to.begin() + static_cast<std::ptrdiff_t>(count))
      to[count++] = w;
  }
  return count;
}

uint32_t subframe_hash(const uint8_t* data, uint32_t cap_len, uint32_t wire_len, uint16_t link_type,
                       unsigned amsdu_subframe, PacketMeta& meta, Counters& counters) {
  meta.clear();
  meta.cap_len = cap_len;
  meta.wire_len = wire_len;
  const ParseStatus st = parse_frame(data, cap_len, link_type, meta, counters, amsdu_subframe);
  return st == ParseStatus::kOk || st == ParseStatus::kFragment ? symmetric_hash(meta) : 0;
}

}  // namespace tapbeat
