// Builds frames byte by byte for unit tests: each layer appends its header, lengths
// are fixed up by finish(). Checksums are left zero (tapbeat does not verify them).
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace tapbeat::test {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
inline void set16(Bytes& b, std::size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

inline Bytes ip4(const char* s) {
  Bytes b(4);
  inet_pton(AF_INET, s, b.data());
  return b;
}
inline Bytes ip6(const char* s) {
  Bytes b(16);
  inet_pton(AF_INET6, s, b.data());
  return b;
}

struct Frame {
  Bytes b;
  // Offsets of headers whose length fields finish() fills in.
  std::vector<std::size_t> ipv4_at, ipv6_at, udp_at;

  Frame& eth(uint16_t type, uint8_t src_last = 1, uint8_t dst_last = 2) {
    Bytes dst = {0x02, 0, 0, 0, 0, dst_last}, src = {0x02, 0, 0, 0, 0, src_last};
    b.insert(b.end(), dst.begin(), dst.end());
    b.insert(b.end(), src.begin(), src.end());
    put16(b, type);
    return *this;
  }
  Frame& vlan(uint16_t id, uint16_t next) {
    // The TPID sits in the previous header's type field; this appends TCI + next type.
    put16(b, id);
    put16(b, next);
    return *this;
  }
  Frame& ipv4(const char* src, const char* dst, uint8_t proto, uint16_t id = 1, uint16_t frag = 0) {
    ipv4_at.push_back(b.size());
    b.push_back(0x45);
    b.push_back(0);
    put16(b, 0);  // total length: finish()
    put16(b, id);
    put16(b, frag);
    b.push_back(64);
    b.push_back(proto);
    put16(b, 0);
    auto s = ip4(src), d = ip4(dst);
    b.insert(b.end(), s.begin(), s.end());
    b.insert(b.end(), d.begin(), d.end());
    return *this;
  }
  Frame& ipv6(const char* src, const char* dst, uint8_t next) {
    ipv6_at.push_back(b.size());
    put32(b, 0x60000000);
    put16(b, 0);  // payload length: finish()
    b.push_back(next);
    b.push_back(64);
    auto s = ip6(src), d = ip6(dst);
    b.insert(b.end(), s.begin(), s.end());
    b.insert(b.end(), d.begin(), d.end());
    return *this;
  }
  Frame& tcp(uint16_t sport, uint16_t dport, uint8_t flags = 0x18, uint32_t seq = 1, uint32_t ack = 0) {
    put16(b, sport);
    put16(b, dport);
    put32(b, seq);
    put32(b, ack);
    b.push_back(0x50);
    b.push_back(flags);
    put16(b, 65535);
    put32(b, 0);
    return *this;
  }
  Frame& udp(uint16_t sport, uint16_t dport) {
    udp_at.push_back(b.size());
    put16(b, sport);
    put16(b, dport);
    put16(b, 0);
    put16(b, 0);
    return *this;
  }
  Frame& icmp(uint8_t type, uint8_t code, uint16_t id = 0, uint16_t seq = 0) {
    b.push_back(type);
    b.push_back(code);
    put16(b, 0);
    put16(b, id);
    put16(b, seq);
    return *this;
  }
  Frame& raw(std::initializer_list<uint8_t> bytes) {
    b.insert(b.end(), bytes);
    return *this;
  }
  Frame& text(std::string_view t) {
    b.insert(b.end(), t.begin(), t.end());
    return *this;
  }
  Frame& payload(std::size_t n, uint8_t fill = 'x') {
    b.insert(b.end(), n, fill);
    return *this;
  }
  Frame& finish() {
    for (std::size_t at : ipv4_at) set16(b, at + 2, static_cast<uint16_t>(b.size() - at));
    for (std::size_t at : ipv6_at) set16(b, at + 4, static_cast<uint16_t>(b.size() - at - 40));
    for (std::size_t at : udp_at) set16(b, at + 4, static_cast<uint16_t>(b.size() - at));
    return *this;
  }
};

}  // namespace tapbeat::test
