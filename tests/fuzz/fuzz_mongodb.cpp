// libFuzzer target: the MongoDB decoder behind the seam (stream_harness.hpp), with
// requests and responses kept so that the BSON rendering runs.
#include "decode/mongodb/mongodb_decoder.hpp"
#include "stream_harness.hpp"

using namespace tapbeat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static MongodbSettings cfg = [] {
    MongodbSettings s;
    s.send_request = s.send_response = true;
    s.max_docs = 4;
    s.max_doc_length = 200;
    return s;
  }();
  static fuzz::StreamHarness h;
  if (!h.dec) h.dec = std::make_unique<MongodbDecoder>(h.setup(&cfg));
  h.run(data, size, 27017);
  return 0;
}
