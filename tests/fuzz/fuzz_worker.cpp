// libFuzzer target: one frame through the whole worker (L2-L4 parse, fragments, flow
// table, TCP reassembly, payload detection, every decoder, event writing). The first input byte
// picks the link type (its high bit: the frame was cut by the snap length); the rest is the frame. Several
// inputs in a row build up state. Each frame the dispatcher's quick hash takes must parse, to the
// same hash.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/decoder_set.hpp"
#include "engine/worker.hpp"
#include "json_check.hpp"
#include "net/parse.hpp"

using namespace tapbeat;

namespace {
constexpr uint16_t kLinkTypes[] = {link_type::kEthernet,  link_type::kLinuxSll,  link_type::kLinuxSll2,
                                   link_type::kNull,      link_type::kRaw,       link_type::kIpv4,
                                   link_type::kIpv6,      link_type::kPpp,       link_type::kLoop,
                                   link_type::kCiscoHdlc, link_type::kIeee80211, link_type::kRadiotap,
                                   link_type::kNflog,     link_type::kPktap,     link_type::kUser2};

struct State {
  AgentInfo agent{"fuzz", "fuzz", "id", "eph", "0"};
  DecoderSet decoders;
  NetworkSet internal{{"private"}};
  std::unique_ptr<Worker> worker;
  uint64_t ts = 1'000'000'000;
  State() {
    // Every decoder on its usual ports with every option that opens a path, and
    // payload detection on any other port.
    decoders.enable_all(true);
    decoders.enable_detection();
    WorkerSettings s;
    s.agent = &agent;
    s.flow_capacity = 1024;
    s.flow_timeout_ns = 5'000'000'000;
    s.flow_period_ns = 2'000'000'000;
    s.event_chunks = 4;
    s.event_chunk_bytes = 256 * 1024;
    s.decoders = &decoders.plan();
    s.internal_networks = &internal;
    s.tcp.total_bytes = 1u << 20;
    worker = std::make_unique<Worker>(s);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static State st;
  if (size < 1) return 0;
  const uint16_t lt = kLinkTypes[(data[0] & 0x7f) % (sizeof kLinkTypes / sizeof kLinkTypes[0])];
  std::vector<uint8_t> frame(data + 1, data + size);  // exact size: reads past it are caught
  st.ts += 7'000'000;
  // The first byte's high bit: a frame cut by the snap length (the wire had more).
  const auto cap = static_cast<uint32_t>(frame.size());
  RawPacket p{frame.data(), cap, (data[0] & 0x80) ? cap + 1500 : cap, st.ts, 0, lt};
  // The dispatcher's quick hash, where it takes a frame, is what the parser gives.
  if (uint32_t quick = 0; quick_symmetric_hash(frame.data(), cap, lt, quick)) {
    PacketMeta m;
    m.cap_len = cap;
    m.wire_len = p.wire_len;
    Counters c;
    if (parse_frame(frame.data(), cap, lt, m, c) != ParseStatus::kOk || symmetric_hash(m) != quick)
      __builtin_trap();
  }
  st.worker->process({&p, 1});
  test::drain_checked_or_trap(st.worker->events());
  return 0;
}
