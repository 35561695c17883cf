// Shared by the stream-decoder fuzz targets: a decoder fed the way the engine feeds
// it (unconsumed bytes held until `need` is met), with gaps and both directions.
// Input: records of [op][len hi][len lo][bytes]; op bit 0 is the direction, bit 1
// makes the record a gap of `len` bytes instead of data.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "decode/decoder.hpp"
#include "event/agent.hpp"
#include "event/emitter.hpp"
#include "event/event_queue.hpp"
#include "json_check.hpp"
#include "util/chain_store.hpp"

namespace tapbeat::fuzz {

struct StreamHarness {
  Counters counters;
  EventQueue queue{4, 1 << 20};
  std::atomic<bool> stop{false};
  EventEmitter out{queue, counters, false, stop};
  ChainStore store{4096};
  AgentInfo agent{"h", "h", "i", "e", "0"};
  std::unique_ptr<Decoder> dec;
  alignas(8) uint8_t conn[kDecoderStateBytes];

  DecoderSetup setup(std::size_t counter_base, const ProtocolSettings* config) {
    return DecoderSetup{counters, counter_base, out, store, agent, nullptr, config};
  }

  // One datagram of `size` bytes between port 40000 and server_port (from the
  // server when from_server), then every pending transaction timed out.
  void datagram(const uint8_t* data, size_t size, uint16_t server_port, bool from_server) {
    PacketMeta m;
    m.ip_version = 4;
    m.l4_proto = 17;
    m.src[15] = from_server ? 2 : 1;
    m.dst[15] = from_server ? 1 : 2;
    m.sport = from_server ? server_port : 40000;
    m.dport = from_server ? 40000 : server_port;
    m.ts_ns = 1'000'000'000;
    m.l4_payload = data;
    m.l4_payload_len = static_cast<uint32_t>(size);
    dec->datagram(m);
    dec->tick(UINT64_MAX);
    if (store.blocks_in_use() != 0) __builtin_trap();
    out.flush();
    drain_checked(queue);
  }

  void run(const uint8_t* data, size_t size, uint16_t server_port) {
    StreamInfo c;
    c.addr[0][15] = 1;
    c.addr[1][15] = 2;
    c.port[0] = 40000;
    c.port[1] = server_port;
    c.ts_ns = 1'000'000'000;
    std::memset(conn, 0, sizeof conn);
    dec->open(conn);
    std::vector<uint8_t> held[2];
    uint32_t need[2] = {0, 0};
    size_t off = 0;
    while (off + 3 <= size) {
      const uint8_t op = data[off];
      const uint32_t len = static_cast<uint32_t>(data[off + 1] << 8 | data[off + 2]);
      off += 3;
      const int dir = op & 1;
      c.ts_ns += 1'000'000;
      if (op & 2) {
        held[dir].clear();
        need[dir] = 0;
        if (!dec->gap(conn, c, dir, len)) break;
        continue;
      }
      const uint32_t n = static_cast<uint32_t>(std::min<size_t>(len, size - off));
      held[dir].insert(held[dir].end(), data + off, data + off + n);
      off += n;
      if (held[dir].size() < need[dir]) continue;
      const DecodeResult r = dec->data(conn, c, dir, {held[dir].data(), held[dir].size()});
      if (r.verdict == Verdict::kViolation || r.verdict == Verdict::kDone) break;
      if (r.consumed > held[dir].size()) __builtin_trap();  // consumed bytes it was not given
      held[dir].erase(held[dir].begin(), held[dir].begin() + r.consumed);
      need[dir] = r.verdict == Verdict::kNeedMore ? r.need : static_cast<uint32_t>(held[dir].size() + 1);
    }
    dec->expire(conn, c, c.ts_ns + 60'000'000'000);
    dec->close(conn, c);
    if (store.blocks_in_use() != 0) __builtin_trap();  // every held byte went back
    out.flush();
    drain_checked(queue);
  }
};

}  // namespace tapbeat::fuzz
