// libFuzzer target: the HTTP decoder behind the seam, fed the way the engine feeds
// it (unconsumed bytes held until `need` is met), with gaps and both directions.
// Input: records of [op][len hi][len lo][bytes]; op bit 0 is the direction, bit 1
// makes the record a gap of `len` bytes instead of data. Every option is on.
#include <cstdint>
#include <cstring>
#include <vector>

#include "decode/http/http_decoder.hpp"
#include "event/agent.hpp"
#include "event/emitter.hpp"
#include "event/event_queue.hpp"
#include "util/chain_store.hpp"

using namespace tapbeat;

namespace {

struct State {
  Counters counters;
  EventQueue queue{4, 1 << 20};
  std::atomic<bool> stop{false};
  EventEmitter out{queue, counters, false, stop};
  ChainStore store{4096};
  AgentInfo agent{"h", "h", "i", "e", "0"};
  HttpSettings cfg;
  std::unique_ptr<HttpDecoder> dec;
  alignas(8) uint8_t conn[kDecoderStateBytes];
  State() {
    cfg.send_all_headers = cfg.split_cookie = cfg.redact_authorization = true;
    cfg.send_request = cfg.send_response = true;
    cfg.request_body_for = cfg.response_body_for = {"text", "json", "form", "octet"};
    cfg.hide_keywords = {"pass"};
    cfg.redact_headers = {"x-secret"};
    cfg.real_ip_header = "x-forwarded-for";
    cfg.max_message_size = 4096;
    dec = std::make_unique<HttpDecoder>(DecoderSetup{counters, out, store, agent, nullptr, &cfg});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static State st;
  StreamInfo c;
  c.addr[0][15] = 1;
  c.addr[1][15] = 2;
  c.port[0] = 40000;
  c.port[1] = 80;
  c.ts_ns = 1'000'000'000;
  std::memset(st.conn, 0, sizeof st.conn);
  st.dec->open(st.conn);
  std::vector<uint8_t> held[2];
  uint32_t need[2] = {0, 0};
  bool attached = true;
  size_t off = 0;
  while (attached && off + 3 <= size) {
    const uint8_t op = data[off];
    const uint32_t len = static_cast<uint32_t>(data[off + 1] << 8 | data[off + 2]);
    off += 3;
    const int dir = op & 1;
    c.ts_ns += 1'000'000;
    if (op & 2) {
      held[dir].clear();
      attached = st.dec->gap(st.conn, c, dir, len);
      continue;
    }
    const uint32_t n = static_cast<uint32_t>(std::min<size_t>(len, size - off));
    held[dir].insert(held[dir].end(), data + off, data + off + n);
    off += n;
    if (held[dir].size() < need[dir]) continue;
    const DecodeResult r = st.dec->data(st.conn, c, dir, {held[dir].data(), held[dir].size()});
    if (r.verdict == Verdict::kViolation || r.verdict == Verdict::kDone) {
      attached = false;
      break;
    }
    if (r.consumed > held[dir].size()) __builtin_trap();  // the decoder consumed bytes it was not given
    held[dir].erase(held[dir].begin(), held[dir].begin() + r.consumed);
    need[dir] = r.verdict == Verdict::kNeedMore ? r.need : static_cast<uint32_t>(held[dir].size() + 1);
  }
  st.dec->expire(st.conn, c, c.ts_ns + 60'000'000'000);
  st.dec->close(st.conn, c);
  if (st.store.blocks_in_use() != 0) __builtin_trap();  // every message's bytes went back
  st.out.flush();
  while (EventChunk* ch = st.queue.take_full()) st.queue.recycle(ch);
  return 0;
}
