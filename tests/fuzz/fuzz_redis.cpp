// libFuzzer target: the Redis decoder behind the seam (stream_harness.hpp), small
// queue limits so that they are hit.
#include "decode/redis/redis_decoder.hpp"
#include "stream_harness.hpp"

using namespace tapbeat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static RedisSettings cfg = [] {
    RedisSettings s;
    s.send_request = s.send_response = true;
    s.queue_max_messages = 8;
    s.queue_max_bytes = 2048;
    return s;
  }();
  static fuzz::StreamHarness h;
  if (!h.dec) h.dec = std::make_unique<RedisDecoder>(h.setup(&cfg));
  h.run(data, size, 6379);
  return 0;
}
