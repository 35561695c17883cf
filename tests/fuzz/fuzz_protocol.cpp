// libFuzzer target for every registered decoder, one at a time: the environment's
// TAPBEAT_FUZZ_PROTOCOL names it, with the settings its descriptor's
// exercise_options give (DecoderSet::enable_exercised). TAPBEAT_FUZZ_LIST=1 prints
// each decoder as "name transports port,port" (transports: tcp, udp or tcp+udp)
// and exits: scripts/test and seed.py read that list, so a new protocol is fuzzed
// without a line here.
//
// Input: stream records for a TCP decoder (tests/support/decoder_harness.hpp); for a decoder
// with UDP, an input whose first byte has bit 7 set is one datagram instead (bit 0:
// from the server).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "decoder_harness.hpp"
#include "engine/decoder_set.hpp"

using namespace tapbeat;

namespace {

struct Target {
  DecoderSet set;
  const DecoderDescriptor* desc = nullptr;
  test::DecoderHarness h;
  uint16_t port = 0;
};

Target* target = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* list = std::getenv("TAPBEAT_FUZZ_LIST"); list && *list == '1') {
    for (const DecoderDescriptor& d : decoder_registry()) {
      if (!d.create || !(d.transports & (kTransportTcp | kTransportUdp)) || d.default_ports.empty()) continue;
      const bool tcp = d.transports & kTransportTcp, udp = d.transports & kTransportUdp;
      std::string ports;
      for (uint16_t p : d.default_ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
      std::printf("%s %s %s\n", std::string(d.name).c_str(),
                  tcp && udp ? "tcp+udp"
                  : tcp      ? "tcp"
                             : "udp",
                  ports.c_str());
    }
    std::exit(0);
  }
  const char* name = std::getenv("TAPBEAT_FUZZ_PROTOCOL");
  const int i = name ? decoder_index(name) : -1;
  if (i < 0 || !decoder_registry()[i].create) {
    std::fprintf(stderr, "set TAPBEAT_FUZZ_PROTOCOL to a decoder's name (TAPBEAT_FUZZ_LIST=1 lists them)\n");
    std::exit(2);
  }
  target = new Target;
  target->desc = &decoder_registry()[i];
  const ProtocolSettings& s = target->set.enable_exercised(name);
  target->port = target->desc->default_ports.empty() ? 1 : target->desc->default_ports[0];
  target->h.dec = target->desc->create(target->h.setup(target->desc->name, &s));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Target& t = *target;
  const bool udp = t.desc->transports & kTransportUdp, tcp = t.desc->transports & kTransportTcp;
  if (udp && size > 0 && ((data[0] & 0x80) || !tcp)) {
    if (!t.h.datagram(data + 1, size - 1, t.port, data[0] & 1)) __builtin_trap();
    return 0;
  }
  if (tcp && !t.h.run(data, size, t.port)) __builtin_trap();
  return 0;
}
