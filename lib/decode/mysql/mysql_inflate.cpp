#include "decode/mysql/mysql_inflate.hpp"

#include <zlib.h>
#include <zstd.h>

#include <cstring>

namespace tapbeat::mysql {

namespace {
// A zstd frame's magic number, as it lies on the wire (little-endian 0xFD2FB528).
constexpr uint8_t kZstdMagic[4] = {0x28, 0xb5, 0x2f, 0xfd};
// Windows as large as a MySQL packet (16 MiB): a frame asking for more is refused.
constexpr int kZstdWindowLogMax = 24;
}  // namespace

bool zstd_frame(const uint8_t* q) { return std::memcmp(q, kZstdMagic, 4) == 0; }

bool zlib_stream(const uint8_t* q) {
  return (q[0] & 0x0f) == 8 && (q[0] >> 4) <= 7 && ((q[0] << 8) | q[1]) % 31 == 0;
}

Inflater::Inflater() = default;

Inflater::~Inflater() {
  if (auto* z = static_cast<z_stream*>(zlib_)) {
    inflateEnd(z);
    delete z;
  }
  ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(zstd_));
}

bool Inflater::set_up(bool zstd) {
  if (zstd && !zstd_) {
    ZSTD_DCtx* d = ZSTD_createDCtx();
    if (!d) return false;
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, kZstdWindowLogMax);
    zstd_ = d;
  }
  if (!zstd && !zlib_) {
    auto* z = new z_stream{};
    if (inflateInit(z) != Z_OK) {
      delete z;
      return false;
    }
    zlib_ = z;
  }
  return true;
}

void Inflater::begin(const uint8_t* in, uint32_t n) {
  in_ = in;
  in_len_ = n;
  in_at_ = 0;
  ended_ = false;
  is_zstd_ = n >= 4 && zstd_frame(in);
  failed_ = !set_up(is_zstd_);
  if (failed_) return;
  if (is_zstd_) {
    ZSTD_DCtx_reset(static_cast<ZSTD_DCtx*>(zstd_), ZSTD_reset_session_only);
  } else {
    auto* z = static_cast<z_stream*>(zlib_);
    inflateReset(z);
    z->next_in = const_cast<uint8_t*>(in);
    z->avail_in = n;
  }
}

void Inflater::feed(const uint8_t* in, uint32_t n) {
  in_ = in;
  in_len_ = n;
  in_at_ = 0;
  if (!is_zstd_ && !failed_) {
    auto* z = static_cast<z_stream*>(zlib_);
    z->next_in = const_cast<uint8_t*>(in);
    z->avail_in = n;
  }
}

uint32_t Inflater::run(uint8_t* out, uint32_t cap) {
  if (ended_ || failed_ || cap == 0) return 0;
  if (is_zstd_) {
    ZSTD_outBuffer o{out, cap, 0};
    ZSTD_inBuffer i{in_, in_len_, in_at_};
    const std::size_t r = ZSTD_decompressStream(static_cast<ZSTD_DCtx*>(zstd_), &o, &i);
    in_at_ = static_cast<uint32_t>(i.pos);
    if (ZSTD_isError(r))
      failed_ = true;
    else if (r == 0)
      ended_ = true;
    return static_cast<uint32_t>(o.pos);
  }
  auto* z = static_cast<z_stream*>(zlib_);
  z->next_out = out;
  z->avail_out = cap;
  const int r = inflate(z, Z_NO_FLUSH);
  if (r == Z_STREAM_END)
    ended_ = true;
  else if (r != Z_OK && r != Z_BUF_ERROR)
    failed_ = true;
  return cap - z->avail_out;
}

}  // namespace tapbeat::mysql
