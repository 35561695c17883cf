// What the L2–L4 parser extracts from one frame: a small, flat metadata struct.
//
// Lifetime: `l4_payload` and the fragment views point into the frame (or into the
// worker's reassembly buffer) and are valid only while that packet is processed.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "util/ip_bytes.hpp"

namespace tapbeat {

// Link types as libpcap reports them (DLT_*), which for these equal the LINKTYPE_*
// values stored in files, apart from DLT_RAW whose number differs by platform.
namespace link_type {
inline constexpr uint16_t kNull = 0;  // BSD loopback, host-order AF_ value
inline constexpr uint16_t kEthernet = 1;
inline constexpr uint16_t kPpp = 9;
inline constexpr uint16_t kRawDlt12 = 12;  // DLT_RAW on Linux
inline constexpr uint16_t kRawDlt14 = 14;  // DLT_RAW on OpenBSD
inline constexpr uint16_t kPppHdlc = 50;   // PPP in HDLC-like framing (RFC 1662)
inline constexpr uint16_t kRaw = 101;      // LINKTYPE_RAW
inline constexpr uint16_t kCiscoHdlc = 104;
inline constexpr uint16_t kIeee80211 = 105;  // 802.11 frames, no radio header
inline constexpr uint16_t kRadiotap = 127;   // 802.11 behind a radiotap header
inline constexpr uint16_t kUser2 = 149;      // user-defined: PKTAP where its header reads as one
inline constexpr uint16_t kLoop = 108;       // OpenBSD loopback, network-order AF_ value
inline constexpr uint16_t kLinuxSll = 113;
inline constexpr uint16_t kIpv4 = 228;
inline constexpr uint16_t kIpv6 = 229;
inline constexpr uint16_t kNflog = 239;  // Linux netfilter NFLOG messages
inline constexpr uint16_t kPktap = 258;  // Apple's PKTAP: per-packet header, then its own link type
inline constexpr uint16_t kLinuxSll2 = 276;
}  // namespace link_type

bool link_type_supported(uint16_t dlt);

// IpBytes: util/ip_bytes.hpp (IPv4 in the first 4 bytes, rest zero).

enum class Tunnel : uint8_t { kNone = 0, kGre, kErspan, kVxlan, kGeneve, kIpInIp, kGtpU, kTeredo, kAyiya };

struct PacketMeta {
  uint64_t ts_ns = 0;
  uint32_t wire_len = 0;
  uint32_t cap_len = 0;

  bool has_mac = false;
  uint8_t vlan_count = 0;  // tags seen on the (innermost) Ethernet header, max 2 kept
  uint8_t ip_version = 0;  // of the innermost IP header; 0 when not IP
  uint8_t l4_proto = 0;    // IP protocol number
  std::array<uint8_t, 6> mac_src{};
  std::array<uint8_t, 6> mac_dst{};
  std::array<uint16_t, 2> vlan{};  // outer first

  Tunnel tunnel = Tunnel::kNone;  // outermost encapsulation removed
  uint8_t tunnel_depth = 0;
  uint32_t tunnel_id = 0;  // VXLAN VNI, GRE key, ERSPAN session id

  IpBytes src{};
  IpBytes dst{};
  uint16_t sport = 0;
  uint16_t dport = 0;

  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  uint16_t icmp_id = 0;

  uint8_t tcp_flags = 0;
  // An 802.11 A-MSDU (several packets in one frame): how many subframes it holds (at
  // most kMaxAmsduSubframes), and the one this parse read's length (header and MSDU).
  // 0 for any other frame.
  uint8_t amsdu_subframes = 0;
  uint16_t amsdu_bytes = 0;
  uint32_t tcp_seq = 0;
  uint32_t tcp_ack = 0;

  const uint8_t* l4_payload = nullptr;
  uint32_t l4_payload_len = 0;
  // TCP and UDP: payload bytes past l4_payload_len that the segment or datagram carried
  // on the wire and the snap length cut off (the IP header's length, or UDP's, says how
  // many); 0 when none or unknown.
  uint32_t l4_lost = 0;

  // Set when the innermost IP packet is a fragment (status kFragment).
  struct Fragment {
    uint32_t id = 0;
    uint32_t offset_bytes = 0;
    bool more = false;
    uint8_t next_proto = 0;  // protocol of the reassembled payload
    const uint8_t* data = nullptr;
    uint32_t len = 0;
  } frag;

  // Reset the fields a parse sets, sixteen bytes a store: a memset of this size
  // compiles to `rep stos`, whose start-up cost was half of parse_one's time.
  void clear() {
    using Zero16 = char __attribute__((vector_size(16)));
    static_assert(sizeof(PacketMeta) % sizeof(Zero16) == 0);
    const Zero16 zero{};
    auto* p = reinterpret_cast<char*>(this);
#pragma GCC unroll 16
    for (std::size_t i = 0; i < sizeof(PacketMeta); i += sizeof zero) std::memcpy(p + i, &zero, sizeof zero);
  }
};

namespace tcp_flag {
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;
}

}  // namespace tapbeat
