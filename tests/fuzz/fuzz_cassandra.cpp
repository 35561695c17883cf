// libFuzzer target: the Cassandra (CQL) decoder behind the seam (stream_harness.hpp):
// v3/v4 frames, the switch to v5 segments, snappy and LZ4 bodies (compressor snappy
// until a STARTUP in the input names another), pushed events and prepared statements.
#include "decode/cassandra/cassandra_decoder.hpp"
#include "stream_harness.hpp"

using namespace tapbeat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static CassandraSettings cfg = [] {
    CassandraSettings s;
    s.compressor = CqlCompressor::kSnappy;
    s.ignored_ops = 1u << 5;  // OPTIONS
    return s;
  }();
  static fuzz::StreamHarness h;
  if (!h.dec) h.dec = std::make_unique<CassandraDecoder>(h.setup(&cfg));
  h.run(data, size, 9042);
  return 0;
}
