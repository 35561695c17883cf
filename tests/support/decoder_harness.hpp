// One protocol decoder with everything a worker gives it (counters, event output,
// chain store, agent), driven without a worker. Shared by the fuzz targets
// (fuzz_protocol), the micro benchmarks and the registry's unit test.
//
// Stream input: records of [op][len hi][len lo][bytes]; op bit 0 is the direction
// (1: from the server), bit 1 makes the record a gap of `len` bytes instead (bits
// 2-4: how many records back the other side had acknowledged them, 0: not known). Bytes
// are fed the way the engine feeds them (what the decoder did not consume is held
// until `need` bytes are there).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "decode/decoder.hpp"
#include "decode/registry.hpp"
#include "event/agent.hpp"
#include "event/emitter.hpp"
#include "event/event_queue.hpp"
#include "json_check.hpp"
#include "util/chain_store.hpp"

namespace tapbeat::test {

struct DecoderHarness {
  Counters counters;
  EventQueue queue{4, 1 << 20};
  std::atomic<bool> stop{false};
  EventEmitter out{queue, counters, false, stop};
  ChainStore store{4096};
  AgentInfo agent = [] {
    AgentInfo a{"h", "h", "i", "e", "0"};
    prepare_agent(a);  // as the pipeline does
    return a;
  }();
  std::unique_ptr<Decoder> dec;
  alignas(8) uint8_t conn[kDecoderStateBytes];

  // What a worker gives the decoder of protocol `name` with settings `cfg`.
  DecoderSetup setup(std::string_view name, const ProtocolSettings* cfg) {
    return DecoderSetup{
        counters, decoder_registry()[decoder_index(name)].counter_base, out, store, agent, nullptr, cfg};
  }
  // A counter by its stats name.
  uint64_t count(std::string_view name) const {
    return counters.get(static_cast<std::size_t>(counter_index(name)));
  }
  // Hands the full event chunks back.
  void drain() {
    out.flush();
    while (EventChunk* c = queue.take_full()) queue.recycle(c);
  }
  // The same, false when an event is not one line of valid JSON.
  bool drain_checked() {
    out.flush();
    bool ok = true;
    while (EventChunk* c = queue.take_full()) {
      ok = check_events(*c) && ok;
      queue.recycle(c);
    }
    return ok;
  }

  // One connection between port 40000 and server_port: the records of `data`,
  // then its transactions timed out and the connection closed. False when the
  // decoder broke the seam's contract (consumed bytes it was not given, kept a
  // block of the store after close) or wrote an event that is not JSON.
  bool run(const uint8_t* data, std::size_t size, uint16_t server_port) {
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
    std::size_t off = 0;
    bool ok = true;
    while (off + 3 <= size) {
      const uint8_t op = data[off];
      const uint32_t len = static_cast<uint32_t>(data[off + 1] << 8 | data[off + 2]);
      off += 3;
      const int dir = op & 1;
      c.ts_ns += 1'000'000;
      if (op & 2) {
        held[dir].clear();
        need[dir] = 0;
        const uint64_t back = (op >> 2) & 7;
        c.gap_acked_ns = back ? c.ts_ns - (back - 1) * 1'000'000 : 0;
        const bool kept = dec->gap(conn, c, dir, len);
        c.gap_acked_ns = 0;
        if (!kept) break;
        continue;
      }
      const uint32_t n = static_cast<uint32_t>(std::min<std::size_t>(len, size - off));
      held[dir].insert(held[dir].end(), data + off, data + off + n);
      off += n;
      if (held[dir].size() < need[dir]) continue;
      const DecodeResult r = dec->data(conn, c, dir, {held[dir].data(), held[dir].size()});
      if (r.verdict == Verdict::kViolation || r.verdict == Verdict::kDone) break;
      if (r.consumed > held[dir].size()) {
        ok = false;  // consumed bytes it was not given
        break;
      }
      held[dir].erase(held[dir].begin(), held[dir].begin() + r.consumed);
      need[dir] = r.verdict == Verdict::kNeedMore ? r.need : static_cast<uint32_t>(held[dir].size() + 1);
    }
    dec->expire(conn, c, c.ts_ns + 60'000'000'000);
    dec->close(conn, c);
    if (store.blocks_in_use() != 0) ok = false;  // every held byte goes back
    return drain_checked() && ok;
  }

  // One datagram between port 40000 and server_port (from the server when
  // from_server), then every pending transaction timed out. False as run().
  bool datagram(const uint8_t* data, std::size_t size, uint16_t server_port, bool from_server) {
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
    const bool released = store.blocks_in_use() == 0;
    return drain_checked() && released;
  }
};

}  // namespace tapbeat::test
