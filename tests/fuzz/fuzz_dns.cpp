// libFuzzer target: the DNS message parser on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "decode/dns/dns_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto msg = std::make_unique<tapbeat::DnsMessage>();
  static char arena[16384];
  std::vector<uint8_t> copy(data, data + size);
  tapbeat::parse_dns(copy.data(), static_cast<uint32_t>(copy.size()), *msg, arena, sizeof arena);
  return 0;
}
