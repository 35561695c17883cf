// libFuzzer target: the pcap/pcapng reader on an arbitrary file.
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "capture/capture_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/tapbeat-fuzz-" + std::to_string(getpid()) + ".pcap";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    tapbeat::CaptureFile file(path);
    tapbeat::CaptureFile::Packet p;
    for (int i = 0; i < 10000 && file.next(p) == tapbeat::CaptureFile::Status::kPacket; ++i) {
      volatile uint8_t sink = p.cap_len ? p.data[p.cap_len - 1] : 0;
      (void)sink;
    }
  } catch (const std::runtime_error&) {
    // refusing a bad file with a message is the expected outcome
  }
  return 0;
}
