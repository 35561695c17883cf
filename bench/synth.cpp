#include "synth.hpp"

#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>

namespace tapbeat::bench {

SizeMix SizeMix::parse(const std::string& spec) {
  SizeMix m;
  std::size_t pos = 0;
  while (pos < spec.size()) {
    std::size_t end = spec.find(',', pos);
    if (end == std::string::npos) end = spec.size();
    const std::string part = spec.substr(pos, end - pos);
    const std::size_t colon = part.find(':');
    const unsigned long size = std::stoul(part.substr(0, colon));
    const unsigned long weight = colon == std::string::npos ? 1 : std::stoul(part.substr(colon + 1));
    if (size < 60 || size > 9000 || weight == 0) throw std::invalid_argument("bad size mix entry " + part);
    m.sizes.push_back(static_cast<uint32_t>(size));
    m.weights.push_back(static_cast<uint32_t>(weight));
    pos = end + 1;
  }
  if (m.sizes.empty()) throw std::invalid_argument("empty size mix");
  return m;
}

namespace {
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
}  // namespace

Synth make_synthetic(uint32_t flows, uint64_t packets, const SizeMix& mix, uint32_t seed) {
  Synth s;
  std::mt19937 rng(seed);
  std::discrete_distribution<std::size_t> pick(mix.weights.begin(), mix.weights.end());
  uint64_t total = 0;
  std::vector<uint32_t> lens(packets);
  for (auto& l : lens) total += (l = mix.sizes[pick(rng)]);
  s.bytes.resize(total);
  s.packets.reserve(packets);
  uint64_t off = 0;
  for (uint64_t i = 0; i < packets; ++i) {
    const uint32_t flow = static_cast<uint32_t>(i % flows);
    const bool reply = (i / flows) % 2 == 1;
    const bool udp = flow % 4 == 3;
    const uint32_t len = lens[i];
    uint8_t* p = s.bytes.data() + off;
    std::memset(p, 0, len);
    // Ethernet
    const uint8_t client_mac[6] = {0x02, 0, 0, 0, 0, 1}, server_mac[6] = {0x02, 0, 0, 0, 0, 2};
    std::memcpy(p, reply ? client_mac : server_mac, 6);
    std::memcpy(p + 6, reply ? server_mac : client_mac, 6);
    put16(p + 12, 0x0800);
    // IPv4: client 10.x.y.z (one per flow), server 192.168.(flow%256).1
    uint8_t* ip = p + 14;
    ip[0] = 0x45;
    put16(ip + 2, static_cast<uint16_t>(len - 14));
    ip[8] = 64;
    ip[9] = udp ? 17 : 6;
    const uint8_t client[4] = {10, static_cast<uint8_t>(flow >> 16), static_cast<uint8_t>(flow >> 8),
                               static_cast<uint8_t>(flow)};
    const uint8_t server[4] = {192, 168, static_cast<uint8_t>(flow % 251), 1};
    std::memcpy(ip + 12, reply ? server : client, 4);
    std::memcpy(ip + 16, reply ? client : server, 4);
    uint8_t* l4 = ip + 20;
    const uint16_t cport = static_cast<uint16_t>(1024 + flow % 60000), sport = udp ? 53 : 443;
    put16(l4, reply ? sport : cport);
    put16(l4 + 2, reply ? cport : sport);
    if (udp) {
      put16(l4 + 4, static_cast<uint16_t>(len - 34));
    } else {
      l4[12] = 0x50;
      l4[13] = 0x10;  // ACK
    }
    s.packets.push_back(
        SynthPacket{static_cast<uint32_t>(off), len, 1'700'000'000'000'000'000ull + i * 1000});
    off += len;
  }
  return s;
}

void write_pcap(const Synth& s, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + path);
  const uint32_t hdr[6] = {0xA1B2C3D4, 0x00040002, 0, 0, 65535, 1};
  std::fwrite(hdr, sizeof hdr, 1, f);
  for (const auto& p : s.packets) {
    const uint32_t rec[4] = {static_cast<uint32_t>(p.ts_ns / 1'000'000'000),
                             static_cast<uint32_t>(p.ts_ns / 1000 % 1'000'000), p.len, p.len};
    std::fwrite(rec, sizeof rec, 1, f);
    std::fwrite(s.bytes.data() + p.offset, 1, p.len, f);
  }
  if (std::fclose(f) != 0) throw std::runtime_error("cannot write " + path);
}

}  // namespace tapbeat::bench
