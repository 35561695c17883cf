// Community ID v1 flow hash (corelight community-id-spec, "Community ID Flow Hashing").
//
// Not on the per-packet path: computed once per flow report.
#pragma once

#include <cstddef>
#include <cstdint>

#include "net/packet.hpp"

namespace tapbeat {

// Text length of a v1 id: "1:" + base64 of a SHA-1 digest.
inline constexpr std::size_t kCommunityIdLen = 30;

// For ICMP (1) and ICMPv6 (58) pass the message type as sport and code as dport;
// the spec's type/code mapping is applied here. has_ports is false for protocols
// the spec hashes without ports (anything but TCP, UDP, SCTP, ICMP, ICMPv6).
// Writes kCommunityIdLen bytes into out.
void community_id_v1(const IpBytes& saddr, const IpBytes& daddr, uint8_t ip_version, uint8_t proto,
                     uint16_t sport, uint16_t dport, uint16_t seed, char* out);

// ICMP request/response pairing per the spec (and used for flow keys): returns true
// and the counterpart type when `type` belongs to a two-way pair.
bool icmp_counterpart(bool v6, uint8_t type, uint8_t& counterpart);

}  // namespace tapbeat
