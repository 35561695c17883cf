// libFuzzer target: the PostgreSQL decoder behind the seam (stream_harness.hpp), with
// responses and requests kept so that the CSV path runs.
#include "decode/pgsql/pgsql_decoder.hpp"
#include "stream_harness.hpp"

using namespace tapbeat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static PgsqlSettings cfg = [] {
    PgsqlSettings s;
    s.send_request = s.send_response = true;
    s.max_rows = 4;
    s.max_row_length = 64;
    s.ports[0] = 5432;
    s.n_ports = 1;
    return s;
  }();
  static fuzz::StreamHarness h;
  if (!h.dec) h.dec = std::make_unique<PgsqlDecoder>(h.setup(&cfg));
  h.run(data, size, 5432);
  return 0;
}
