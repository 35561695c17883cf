// libFuzzer target: the HTTP decoder behind the seam (stream_harness.hpp), every
// option on.
#include "decode/http/http_decoder.hpp"
#include "stream_harness.hpp"

using namespace tapbeat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static HttpSettings cfg = [] {
    HttpSettings s;
    s.send_all_headers = s.split_cookie = s.redact_authorization = true;
    s.send_request = s.send_response = true;
    s.request_body_for = s.response_body_for = {"text", "json", "form", "octet"};
    s.hide_keywords = {"pass"};
    s.redact_headers = {"x-secret"};
    s.real_ip_header = "x-forwarded-for";
    s.max_message_size = 4096;
    return s;
  }();
  static fuzz::StreamHarness h;
  if (!h.dec) h.dec = std::make_unique<HttpDecoder>(h.setup(&cfg));
  h.run(data, size, 80);
  return 0;
}
