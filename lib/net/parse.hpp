// L2–L4 parsing of one frame into PacketMeta.
//
// Hot path: no allocation, no exceptions, no syscalls. Every wire read goes through
// ByteReader; every malformed input bumps exactly one named counter and yields kDrop.
// Encapsulations (GRE incl. ERSPAN II/III, VXLAN, Geneve, IP-in-IP, MPLS, PPPoE) are
// removed up to kMaxEncapDepth and the innermost IP flow is described.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "net/packet.hpp"
#include "util/counters.hpp"

namespace tapbeat {

enum class ParseStatus : uint8_t {
  kOk,        // meta describes an IP packet with its transport
  kFragment,  // meta.frag holds an IP fragment to reassemble
  kNonIp,     // a well-formed frame that carries no IP (ARP, LLDP, ...)
  kDrop,      // malformed or unsupported; a counter says which
};

// Nested encapsulations beyond this are dropped (decode.tunnel.too_deep).
inline constexpr int kMaxEncapDepth = 4;
// 802.1Q/802.1ad tags beyond this are dropped (decode.vlan.too_deep).
inline constexpr int kMaxVlanTags = 4;
// MPLS label stack depth limit (decode.mpls.too_deep).
inline constexpr int kMaxMplsLabels = 8;
// IPv6 extension headers walked before giving up (decode.ipv6.too_many_ext).
inline constexpr int kMaxIpv6ExtHeaders = 8;

// Well-known UDP port for VXLAN (RFC 7348 §5).
inline constexpr uint16_t kVxlanPort = 4789;
// The Linux kernel's VXLAN port when none is given (flannel's, Cisco OTV's).
inline constexpr uint16_t kLinuxVxlanPort = 8472;
inline constexpr uint16_t kGreUdpPort = 4754;  // GRE-in-UDP (RFC 8086)
// Well-known UDP port for Geneve (RFC 8926 §3.3).
inline constexpr uint16_t kGenevePort = 6081;
// GTP-U, user plane of mobile networks (3GPP TS 29.281 §4.4.2): either end.
inline constexpr uint16_t kGtpUPort = 2152;
// Teredo, IPv6 over UDP (RFC 4380 §2.6: the server's port): either end.
inline constexpr uint16_t kTeredoPort = 3544;
// AYIYA, IP over UDP (draft-massar-v6ops-ayiya §6.1, as SixXS ran it): either end.
inline constexpr uint16_t kAyiyaPort = 5072;

// Subframes of one 802.11 A-MSDU read; those past it are counted decode.wlan.amsdu_too_many.
inline constexpr unsigned kMaxAmsduSubframes = 64;

// An 802.11 A-MSDU frame carries several packets: parse_frame reads the subframe
// `amsdu_subframe` names (0 first) and sets meta.amsdu_subframes to how many there are;
// a caller reads the others by parsing the frame again with 1, 2, ... (a frame that is
// not an A-MSDU reads the same whatever it names).
ParseStatus parse_frame(const uint8_t* data, uint32_t cap_len, uint16_t link_type, PacketMeta& meta,
                        Counters& counters, unsigned amsdu_subframe = 0);

// Continues with the payload of a reassembled IP datagram whose header fields
// (addresses, version) are already in meta.
ParseStatus parse_transport(uint8_t proto, const uint8_t* data, uint32_t len, PacketMeta& meta,
                            Counters& counters, int depth);

// Symmetric hash of what identifies a flow's owner: both directions, and every
// fragment of a datagram, give the same value. Uses the innermost addresses, the
// protocol and the tunnel id, not the ports (fragments have none).
uint32_t symmetric_hash(const PacketMeta& meta);

// symmetric_hash of an untagged Ethernet frame carrying a whole TCP header in IPv4
// (no options, no fragment) or IPv6 (no extension header), read from the frame's
// fixed offsets: what parse_frame then symmetric_hash give, for the packets that make
// up most traffic, without building their PacketMeta or reading their TCP header
// past its length. false for any other frame (parse it).
bool quick_symmetric_hash(const uint8_t* data, uint32_t cap_len, uint16_t link_type, uint32_t& hash);

// The symmetric hash that picks a frame's worker: quick_symmetric_hash where it
// applies, else parse_frame into `meta` (cleared first; the caller keeps one, as a
// fresh PacketMeta per frame costs its initialisers) and symmetric_hash. 0 for a frame
// that does not parse. `counters` takes the parse's counts (a dispatcher's scratch:
// the workers count each frame themselves).
uint32_t dispatch_hash(const uint8_t* data, uint32_t cap_len, uint32_t wire_len, uint16_t link_type,
                       PacketMeta& meta, Counters& counters);

// dispatch_hash's parse for one subframe of an 802.11 A-MSDU frame (0: the first,
// what dispatch_hash gives the frame): a worker that owns some of a frame's packets
// tells its own by it.
uint32_t subframe_hash(const uint8_t* data, uint32_t cap_len, uint32_t wire_len, uint16_t link_type,
                       unsigned amsdu_subframe, PacketMeta& meta, Counters& counters);

// The worker, of n, a dispatcher gives a hash to.
inline std::size_t worker_of(uint32_t hash, std::size_t n) {
  return static_cast<std::size_t>((uint64_t{hash} * n) >> 32);
}

// The workers (of n) that own a packet of the 802.11 A-MSDU frame dispatch_hash has just
// read into meta (meta.amsdu_subframes > 1, its hash `first`): each once, the first
// subframe's owner first (it counts the frame). Returns how many it wrote to `to`.
std::size_t amsdu_owners(const uint8_t* data, uint32_t cap_len, uint32_t wire_len, uint16_t link_type,
                         uint32_t first, std::size_t n, PacketMeta& meta, Counters& counters,
                         std::array<uint16_t, kMaxAmsduSubframes>& to);

}  // namespace tapbeat
