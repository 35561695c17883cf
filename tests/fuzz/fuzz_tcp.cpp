// libFuzzer target: both directions of one TCP connection through the reassembler, as
// the worker takes each packet (before_segment, segment, after_segment): reordered,
// lost, repeated and overlapping segments, acknowledgements of bytes not seen yet (an
// answer written before its request), FIN and RST, the snap length's cut, limits
// reached. Each direction's bytes carry a pattern of their sequence number; what the
// reassembler hands a sink must continue the stream where the last bytes or gap left
// it and carry the pattern of where it says it is. At the end every byte held is
// released. Each input is one connection: 8 bytes of initial sequence numbers, then
// records of 7 bytes (flags and direction, sequence and acknowledgement offsets, length,
// milliseconds since the last packet); a SYN may bring another initial number.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "flow/tcp_reassembly.hpp"
#include "net/packet.hpp"

using namespace tapbeat;

namespace {

uint8_t pattern(int dir, uint32_t offset) { return static_cast<uint8_t>(offset * 131u + 7u * dir + 1u); }

struct Side : StreamSink {
  const TcpDirection* d = nullptr;
  int dir = 0;
  uint32_t isn = 0;
  bool started = false;
  uint32_t expect = 0;
  uint64_t clock = 0;
  void check_position() {
    if (!started) {
      started = true;
      expect = d->next_seq;
    }
    if (d->next_seq != expect) __builtin_trap();  // a byte skipped or repeated
  }
  void on_data(const uint8_t* p, uint32_t n) override {
    check_position();
    for (uint32_t i = 0; i < n; ++i)
      if (p[i] != pattern(dir, d->next_seq + i - isn)) __builtin_trap();  // bytes of another place
    expect += n;
  }
  void on_gap(uint32_t n, uint64_t) override {
    check_position();
    expect += n;
  }
  uint64_t now() const override { return clock; }
};

struct Sides : ConnectionSinks {
  Side side[2];
  StreamSink& dir(int k) override { return side[k]; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  Counters counters;
  TcpLimits limits;
  limits.window_bytes = 4096;
  limits.stream_bytes = 8192;
  limits.total_bytes = 64 * 1024;
  TcpReassembler r(limits, counters);
  TcpDirection dir[2];
  Sides sinks;
  uint32_t isn[2];
  std::memcpy(isn, data, sizeof isn);
  // The first number's low bit: evidence of loss acted on at once, or after 2 ms (the
  // worker's reorder grace, longer than a record's step of 0-255 ms would skip often).
  const uint64_t reorder_ns = (isn[0] & 1) ? 2'000'000 : 0;
  for (int k = 0; k < 2; ++k) {
    sinks.side[k].d = &dir[k];
    sinks.side[k].dir = k;
    sinks.side[k].isn = isn[k];
  }
  uint64_t ts = 1'000'000'000;
  std::vector<uint8_t> payload;
  for (size_t at = 8; at + 7 <= size; at += 7) {
    const uint8_t* rec = data + at;
    const int k = rec[0] & 1;
    uint8_t flags = 0;
    if (rec[0] & 0x02) flags |= tcp_flag::kSyn;
    if (rec[0] & 0x04) flags |= tcp_flag::kFin;
    if (rec[0] & 0x08) flags |= tcp_flag::kRst;
    if (rec[0] & 0x10) flags |= tcp_flag::kAck;
    const uint32_t lost_tail = (rec[0] & 0x20) ? 16 : 0;
    // A SYN carries the initial number: the stream's offsets count from it. With 0x40,
    // a SYN sent again with another one (a server answering each SYN with a fresh
    // SYN-ACK): where the reassembler takes it up (tcp.reassembly.syn_renumbered), the
    // side's bytes count from it on.
    const bool new_isn = (flags & tcp_flag::kSyn) && (rec[0] & 0x40);
    const uint32_t syn_isn = new_isn ? isn[k] + 1 + (rec[1] | rec[2] << 8) * 7919u : isn[k];
    const uint32_t seq = (flags & tcp_flag::kSyn) ? syn_isn : isn[k] + 1 + (rec[1] | rec[2] << 8);
    const uint32_t ack = isn[1 - k] + 1 + (rec[3] | rec[4] << 8);
    const uint32_t len = (flags & tcp_flag::kSyn) ? 0 : rec[5];
    ts += uint64_t{rec[6]} * 1'000'000;
    payload.resize(len);
    for (uint32_t i = 0; i < len; ++i) payload[i] = pattern(k, seq + i - isn[k]);
    sinks.side[0].clock = sinks.side[1].clock = ts;
    if (!r.before_segment(dir, k, {seq, ack, flags, len, ts}, sinks, 100'000'000, reorder_ns))
      __builtin_trap();
    const uint64_t renumbered = counters.get(Counter::tcp_reasm_syn_renumbered);
    const bool told = sinks.side[k].started;
    r.segment(dir[k], seq, flags, payload.data(), len, sinks.side[k], false, lost_tail);
    if (counters.get(Counter::tcp_reasm_syn_renumbered) != renumbered) {
      // Only a side none of whose bytes or gaps reached its sink begins anew (the
      // segment's own cut tail may follow, from the new place).
      if (told) __builtin_trap();
      isn[k] = syn_isn;
      sinks.side[k].isn = syn_isn;
    }
    r.after_segment(dir, k, sinks);
  }
  if (!r.settle_evidence(dir, sinks)) __builtin_trap();  // as the worker does at the end
  for (int k = 0; k < 2; ++k) r.close(dir[k], sinks.side[k]);
  if (r.buffered_total() != 0) __builtin_trap();  // held bytes never given back
  return 0;
}
