// libFuzzer target: the Memcache decoder behind the seam (stream_harness.hpp), over
// TCP; the first input byte's low bit also sends the rest as one UDP datagram.
#include "decode/memcache/memcache_decoder.hpp"
#include "stream_harness.hpp"

using namespace tapbeat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static MemcacheSettings cfg;
  static fuzz::StreamHarness h;
  if (!h.dec) h.dec = std::make_unique<MemcacheDecoder>(h.setup(&cfg));
  if (size > 0 && (data[0] & 0x80)) {
    PacketMeta m;
    m.ip_version = 4;
    m.l4_proto = 17;
    m.src[15] = 1;
    m.dst[15] = 2;
    m.sport = static_cast<uint16_t>(40000 + (data[0] & 1));
    m.dport = (data[0] & 1) ? 40000 : 11211;
    if (data[0] & 1) m.sport = 11211;
    m.ts_ns = 1'000'000'000;
    m.l4_payload = data + 1;
    m.l4_payload_len = static_cast<uint32_t>(size - 1);
    h.dec->datagram(m);
    h.dec->tick(UINT64_MAX);
    if (h.store.blocks_in_use() != 0) __builtin_trap();
    h.out.flush();
    fuzz::drain_checked(h.queue);
    return 0;
  }
  h.run(data, size, 11211);
  return 0;
}
