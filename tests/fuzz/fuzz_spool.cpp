// libFuzzer target: the disk queue reading an arbitrary segment file (a damaged or
// hostile spool left by an earlier run), then appending and reading on after it.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "event/spool.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = "/tmp/tapbeat-fuzz-spool-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // Two segments: the input, then the input again behind a read offset taken from it.
  for (int k = 0; k < 2; ++k) {
    const std::string seg = dir + "/0000000000100000000" + std::to_string(k) + ".tbq";
    if (std::FILE* f = std::fopen(seg.c_str(), "wb")) {
      std::fwrite(data, 1, size, f);
      std::fclose(f);
    }
  }
  if (size > 0) {
    if (std::FILE* f = std::fopen((dir + "/00000000001000000001.tbq.offset").c_str(), "w")) {
      std::fprintf(f, "%u\n", static_cast<unsigned>(data[0]) * 7);
      std::fclose(f);
    }
  }
  tapbeat::Spool s({dir, 1 << 20, 64 << 10}, [](const std::string&) {});
  tapbeat::SpoolRecord r;
  uint32_t token = 0;
  uint64_t n = 0;
  while (n < 100000 && s.peek(r, token)) {
    volatile char sink = r.value.empty() ? 0 : r.value.back();
    (void)sink;
    s.pop();
    if (n++ % 2) s.ack(token);
  }
  s.push({"t", "k", "{\"a\":1}", 1});
  while (s.peek(r, token)) {
    s.pop();
    s.ack(token);
  }
  s.close();
  return 0;
}
