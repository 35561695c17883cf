// libFuzzer target: the AMQP decoder behind the seam (stream_harness.hpp), with
// requests and responses kept so that bodies and tables are rendered.
#include "decode/amqp/amqp_decoder.hpp"
#include "stream_harness.hpp"

using namespace tapbeat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static AmqpSettings cfg = [] {
    AmqpSettings s;
    s.send_request = s.send_response = true;
    s.max_body_length = 64;
    s.hide_connection_information = false;
    return s;
  }();
  static fuzz::StreamHarness h;
  if (!h.dec) h.dec = std::make_unique<AmqpDecoder>(h.setup(&cfg));
  h.run(data, size, 5672);
  return 0;
}
