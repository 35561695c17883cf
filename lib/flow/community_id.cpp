#include "flow/community_id.hpp"

#include <cstring>

#include "util/encode.hpp"
#include "util/sha1.hpp"

namespace tapbeat {

bool icmp_counterpart(bool v6, uint8_t type, uint8_t& counterpart) {
  if (!v6) {
    // RFC 792 / RFC 950 / RFC 1256: echo, timestamp, info, address mask, router.
    switch (type) {
      case 8:
        counterpart = 0;
        return true;
      case 0:
        counterpart = 8;
        return true;
      case 13:
        counterpart = 14;
        return true;
      case 14:
        counterpart = 13;
        return true;
      case 15:
        counterpart = 16;
        return true;
      case 16:
        counterpart = 15;
        return true;
      case 17:
        counterpart = 18;
        return true;
      case 18:
        counterpart = 17;
        return true;
      case 10:
        counterpart = 9;
        return true;
      case 9:
        counterpart = 10;
        return true;
      default:
        return false;
    }
  }
  // RFC 4443, RFC 2710 (MLD), RFC 4861 (ND), RFC 4620 (node info), RFC 6275 (HA discovery).
  switch (type) {
    case 128:
      counterpart = 129;
      return true;
    case 129:
      counterpart = 128;
      return true;
    case 130:
      counterpart = 131;
      return true;
    case 131:
      counterpart = 130;
      return true;
    case 133:
      counterpart = 134;
      return true;
    case 134:
      counterpart = 133;
      return true;
    case 135:
      counterpart = 136;
      return true;
    case 136:
      counterpart = 135;
      return true;
    case 139:
      counterpart = 140;
      return true;
    case 140:
      counterpart = 139;
      return true;
    case 144:
      counterpart = 145;
      return true;
    case 145:
      counterpart = 144;
      return true;
    default:
      return false;
  }
}

void community_id_v1(const IpBytes& saddr, const IpBytes& daddr, uint8_t ip_version, uint8_t proto,
                     uint16_t sport, uint16_t dport, uint16_t seed, char* out) {
  const std::size_t alen = ip_version == 6 ? 16 : 4;
  bool has_ports = proto == 6 || proto == 17 || proto == 132 || proto == 1 || proto == 58;
  bool one_way = false;
  if (proto == 1 || proto == 58) {
    uint8_t other = 0;
    if (icmp_counterpart(proto == 58, static_cast<uint8_t>(sport), other)) {
      dport = other;
    } else {
      one_way = true;
    }
  }
  const uint8_t* sa = saddr.data();
  const uint8_t* da = daddr.data();
  const int cmp = std::memcmp(sa, da, alen);
  // Order the endpoints so both directions hash alike; one-way ICMP keeps its direction.
  if (!one_way && (cmp > 0 || (cmp == 0 && has_ports && sport > dport))) {
    std::swap(sa, da);
    std::swap(sport, dport);
  }
  uint8_t buf[2 + 16 + 16 + 2 + 4];
  std::size_t n = 0;
  buf[n++] = static_cast<uint8_t>(seed >> 8);
  buf[n++] = static_cast<uint8_t>(seed);
  std::memcpy(buf + n, sa, alen);
  n += alen;
  std::memcpy(buf + n, da, alen);
  n += alen;
  buf[n++] = proto;
  buf[n++] = 0;
  if (has_ports) {
    buf[n++] = static_cast<uint8_t>(sport >> 8);
    buf[n++] = static_cast<uint8_t>(sport);
    buf[n++] = static_cast<uint8_t>(dport >> 8);
    buf[n++] = static_cast<uint8_t>(dport);
  }
  uint8_t digest[20];
  sha1(buf, n, digest);  // a quarter of an event's cost through EVP (util/sha1.hpp)
  out[0] = '1';
  out[1] = ':';
  base64_encode(digest, 20, out + 2);
}

}  // namespace tapbeat
