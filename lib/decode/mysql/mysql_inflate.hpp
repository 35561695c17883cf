// The payloads of MySQL's compressed protocol: each compressed packet's is one zlib
// stream (CLIENT_COMPRESS) or one zstd frame (CLIENT_ZSTD_COMPRESSION_ALGORITHM), told
// apart by their first bytes; inflated in pieces into a bounded buffer, and fed in
// pieces as they come. Each kind's state is set up at its first payload (a worker that
// sees no compressed connection holds none) and reset for each one after.
#pragma once

#include <cstdint>

namespace tapbeat::mysql {

// Whether q (4 bytes) begins a zstd frame (its magic number), or a zlib stream (a
// header of method 8 with a window up to 32 KiB and a check that holds).
bool zstd_frame(const uint8_t* q);
bool zlib_stream(const uint8_t* q);

class Inflater {
 public:
  Inflater();
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Starts a payload: the n bytes of it at hand (all of it, or its first part).
  void begin(const uint8_t* in, uint32_t n);
  // The payload's next n bytes (the ones before all taken by run()).
  void feed(const uint8_t* in, uint32_t n);
  // Writes up to cap more bytes of it to out; fewer when its end or the end of the
  // bytes at hand comes first, or the data is not zlib or zstd (failed()).
  uint32_t run(uint8_t* out, uint32_t cap);
  bool ended() const { return ended_; }
  bool failed() const { return failed_; }

 private:
  bool set_up(bool zstd);  // false: out of memory
  void* zlib_ = nullptr;   // z_stream
  void* zstd_ = nullptr;   // ZSTD_DCtx
  const uint8_t* in_ = nullptr;
  uint32_t in_len_ = 0, in_at_ = 0;
  bool is_zstd_ = false, ended_ = false, failed_ = false;
};

}  // namespace tapbeat::mysql
