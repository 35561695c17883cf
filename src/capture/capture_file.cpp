#include "capture/capture_file.hpp"

#include <lz4frame.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tapbeat {
namespace {

// Magic numbers: pcap (tcpdump.org "pcap file format"), pcapng (draft-ietf-opsawg-pcapng).
constexpr uint32_t kPcapMagicUs = 0xA1B2C3D4;
constexpr uint32_t kPcapMagicNs = 0xA1B23C4D;
constexpr uint32_t kBlockSectionHeader = 0x0A0D0D0A;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint32_t kBlockInterface = 0x00000001;
constexpr uint32_t kBlockObsoletePacket = 0x00000002;
constexpr uint32_t kBlockSimplePacket = 0x00000003;
constexpr uint32_t kBlockEnhancedPacket = 0x00000006;
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptTsResol = 9;
constexpr uint16_t kOptTsOffset = 14;

uint32_t bswap32(uint32_t v) { return __builtin_bswap32(v); }

// A compressed capture file, as tshark reads them (gzip, zstd, LZ4 frames): read through
// a stdio stream that decompresses as it goes (fopencookie), so that the reader takes it
// as it takes a pipe. gzip members and zstd/LZ4 frames may follow one another.
enum class Packing { kNone, kGzip, kZstd, kLz4 };

Packing packing_of(const uint8_t m[4]) {
  if (m[0] == 0x1f && m[1] == 0x8b) return Packing::kGzip;
  if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return Packing::kZstd;
  if (m[0] == 0x04 && m[1] == 0x22 && m[2] == 0x4d && m[3] == 0x18) return Packing::kLz4;
  return Packing::kNone;
}

struct Unpacker {
  Packing kind;
  std::FILE* raw;
  z_stream z{};
  bool z_ready = false;  // inflateInit2 done: inflateEnd owed
  ZSTD_DStream* zs = nullptr;
  LZ4F_dctx* lz = nullptr;
  std::vector<uint8_t> in = std::vector<uint8_t>(256 * 1024);
  std::size_t in_pos = 0, in_len = 0;
  bool mid_frame = false;  // a member or frame begun and not ended
  bool failed = false;     // told once the bytes before the failure are taken
  std::string* error;      // the reader's: what went wrong, for its message
};

// Decompresses into buf[0, n): bytes given, 0 at the end, -1 on an error (named in *error).
ssize_t unpack_read(void* cookie, char* buf, std::size_t n) {
  auto& u = *static_cast<Unpacker*>(cookie);
  if (u.failed) return -1;
  std::size_t out = 0;
  // The bytes decompressed before a failure are given first; the failure on the next call.
  auto fail = [&](std::string why) -> ssize_t {
    *u.error = std::move(why);
    u.failed = true;
    return out ? static_cast<ssize_t>(out) : -1;
  };
  while (out < n) {
    if (u.in_pos == u.in_len) {
      u.in_len = std::fread(u.in.data(), 1, u.in.size(), u.raw);
      u.in_pos = 0;
      if (u.in_len == 0) {
        if (u.mid_frame) return fail("compressed data ends inside a frame");
        break;
      }
    }
    const uint8_t* src = u.in.data() + u.in_pos;
    const std::size_t avail = u.in_len - u.in_pos, out_before = out;
    if (u.kind == Packing::kGzip) {
      u.z.next_in = const_cast<uint8_t*>(src);
      u.z.avail_in = static_cast<uInt>(avail);
      u.z.next_out = reinterpret_cast<uint8_t*>(buf + out);
      u.z.avail_out = static_cast<uInt>(std::min<std::size_t>(n - out, 1u << 30));
      const int rc = inflate(&u.z, Z_NO_FLUSH);
      out = static_cast<std::size_t>(reinterpret_cast<char*>(u.z.next_out) - buf);
      u.in_pos += avail - u.z.avail_in;
      u.mid_frame = rc != Z_STREAM_END;
      if (rc == Z_STREAM_END) {
        inflateReset(&u.z);  // another member may follow
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return fail(std::string("gzip: ") + (u.z.msg ? u.z.msg : "corrupt data"));
      }
    } else if (u.kind == Packing::kZstd) {
      ZSTD_inBuffer ib{src, avail, 0};
      ZSTD_outBuffer ob{buf + out, n - out, 0};
      const std::size_t rc = ZSTD_decompressStream(u.zs, &ob, &ib);
      if (ZSTD_isError(rc)) return fail(std::string("zstd: ") + ZSTD_getErrorName(rc));
      out += ob.pos;
      u.in_pos += ib.pos;
      u.mid_frame = rc != 0;
    } else {
      std::size_t dst = n - out, used = avail;
      const std::size_t rc = LZ4F_decompress(u.lz, buf + out, &dst, src, &used, nullptr);
      if (LZ4F_isError(rc)) return fail(std::string("lz4: ") + LZ4F_getErrorName(rc));
      out += dst;
      u.in_pos += used;
      u.mid_frame = rc != 0;
    }
    // A decoder that takes no byte and gives none would spin: the data is not its.
    if (out == out_before && u.in_len - u.in_pos == avail) return fail("the decompressor makes no progress");
  }
  return static_cast<ssize_t>(out);
}

// Frees u and its decoder's state (not raw).
void free_unpacker(Unpacker* u) {
  if (u->z_ready) inflateEnd(&u->z);
  if (u->zs) ZSTD_freeDStream(u->zs);
  if (u->lz) LZ4F_freeDecompressionContext(u->lz);
  delete u;
}

int unpack_close(void* cookie) {
  auto* u = static_cast<Unpacker*>(cookie);
  const int rc = std::fclose(u->raw);
  free_unpacker(u);
  return rc;
}

// A stream of raw's decompressed bytes (raw then belongs to it); null where the
// decompressor cannot start.
std::FILE* unpacked(std::FILE* raw, Packing kind, std::string* error) {
  auto* u = new Unpacker{kind, raw};
  u->error = error;
  bool ok = true;
  if (kind == Packing::kGzip) {
    ok = u->z_ready = inflateInit2(&u->z, 16 + MAX_WBITS) == Z_OK;  // a gzip header and trailer
  } else if (kind == Packing::kZstd) {
    u->zs = ZSTD_createDStream();
    ok = u->zs && !ZSTD_isError(ZSTD_initDStream(u->zs));
  } else {
    ok = !LZ4F_isError(LZ4F_createDecompressionContext(&u->lz, LZ4F_VERSION));
  }
  std::FILE* f =
      ok ? fopencookie(u, "rb", cookie_io_functions_t{unpack_read, nullptr, nullptr, unpack_close}) : nullptr;
  if (!f) free_unpacker(u);
  return f;
}

}  // namespace

CaptureFile::CaptureFile(const std::string& path) : path_(path) {
  f_ = std::fopen(path.c_str(), "rb");
  if (!f_) throw std::runtime_error("cannot read capture file " + path + ": " + std::strerror(errno));
  // Refuses the file: closes what is open (no destructor runs) and says why; a
  // decompression error, where the stream set one, says more than the short read it caused.
  auto refuse = [&](const char* why) {
    if (map_) ::munmap(const_cast<uint8_t*>(map_), map_len_);
    std::fclose(f_);
    map_ = nullptr;
    f_ = nullptr;
    throw std::runtime_error("cannot read capture file " + path + ": " + (error_.empty() ? why : error_));
  };
  buf_.resize(64 * 1024);
  struct stat st {};
  const bool regular = ::fstat(fileno(f_), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
  uint8_t head[4] = {};
  const Packing packing = regular && ::pread(fileno(f_), head, 4, 0) == 4 ? packing_of(head) : Packing::kNone;
  if (packing != Packing::kNone) {
    std::FILE* u = unpacked(f_, packing, &error_);
    if (!u) refuse("its decompressor did not start");
    f_ = u;
  } else if (regular) {
    void* m = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fileno(f_), 0);
    if (m != MAP_FAILED) {
      map_ = static_cast<const uint8_t*>(m);
      map_len_ = static_cast<std::size_t>(st.st_size);
      ::madvise(m, map_len_, MADV_SEQUENTIAL);
    }
  }
  uint32_t magic = 0;
  if (read_some(&magic, 4) != 4) refuse("shorter than a file header");
  if (magic == kBlockSectionHeader) {
    pcapng_ = true;
    uint32_t len = 0;
    if (!read_exact(&len, 4) || !read_section_header(len)) refuse("truncated section header");
    return;
  }
  if (magic == kPcapMagicUs || magic == kPcapMagicNs) {
    swapped_ = false;
  } else if (bswap32(magic) == kPcapMagicUs || bswap32(magic) == kPcapMagicNs) {
    swapped_ = true;
  } else {
    refuse("not a pcap or pcapng file");
  }
  nano_ = (swapped_ ? bswap32(magic) : magic) == kPcapMagicNs;
  uint8_t hdr[20];
  if (!read_exact(hdr, sizeof hdr)) refuse("truncated file header");
  snaplen_ = u32(hdr + 12);
  // The low 16 bits are the link type; the upper bits carry FCS information.
  first_link_type_ = static_cast<uint16_t>(u32(hdr + 16) & 0xFFFF);
}

CaptureFile::~CaptureFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_len_);
  if (f_) std::fclose(f_);
}

std::size_t CaptureFile::read_some(void* p, std::size_t n) {
  if (!map_) return std::fread(p, 1, n, f_);
  const std::size_t k = std::min(n, map_len_ - pos_);
  std::memcpy(p, map_ + pos_, k);
  pos_ += k;
  return k;
}

const uint8_t* CaptureFile::take(std::size_t n, std::size_t at) {
  if (map_) {
    if (map_len_ - pos_ < n) {
      pos_ = map_len_;
      return nullptr;
    }
    const uint8_t* p = map_ + pos_;
    pos_ += n;
    return p;
  }
  if (at + n > buf_.size()) buf_.resize(at + n);
  return std::fread(buf_.data() + at, 1, n, f_) == n ? buf_.data() + at : nullptr;
}

uint32_t CaptureFile::u32(const uint8_t* p) const {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped_ ? bswap32(v) : v;
}
uint16_t CaptureFile::u16(const uint8_t* p) const {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return swapped_ ? __builtin_bswap16(v) : v;
}

bool CaptureFile::read_exact(void* p, std::size_t n) { return read_some(p, n) == n; }

CaptureFile::Status CaptureFile::fail(const std::string& why) {
  // A decompression error (set by the stream) says more than the short read it caused.
  if (error_.empty()) error_ = why;
  return Status::kError;
}

CaptureFile::Status CaptureFile::next_pcap(Packet& out) {
  // A mapped file's record header is read where it lies (no copy through memcpy).
  uint8_t copy[16];
  const uint8_t* rec = copy;
  const std::size_t got =
      map_ ? std::min<std::size_t>(sizeof copy, map_len_ - pos_) : read_some(copy, sizeof copy);
  if (got == 0) return Status::kEnd;
  if (got != sizeof copy) return fail("truncated packet header");
  if (map_) {
    rec = map_ + pos_;
    pos_ += sizeof copy;
  }
  const uint32_t h[4] = {u32(rec), u32(rec + 4), u32(rec + 8), u32(rec + 12)};
  const uint32_t caplen = h[2];
  if (caplen > kMaxBlockBytes) return fail("packet record claims " + std::to_string(caplen) + " bytes");
  const uint8_t* data = take(caplen);
  if (!data) return fail("truncated packet data");
  prefetch_ahead();
  return pcap_packet(h, data, out);
}

bool CaptureFile::read_section_header(uint32_t block_len_raw) {
  // The byte-order magic follows the length; it decides how everything is read.
  uint32_t bom = 0;
  if (!read_exact(&bom, 4)) return fail("truncated section header"), false;
  if (bom == kByteOrderMagic)
    swapped_ = false;
  else if (bswap32(bom) == kByteOrderMagic)
    swapped_ = true;
  else
    return fail("bad byte-order magic in section header"), false;
  const uint32_t block_len = swapped_ ? bswap32(block_len_raw) : block_len_raw;
  if (block_len < 28 || block_len > kMaxBlockBytes || block_len % 4 != 0)
    return fail("bad section header length " + std::to_string(block_len)), false;
  std::vector<uint8_t> rest(block_len - 12);
  if (!read_exact(rest.data(), rest.size())) return fail("truncated section header"), false;
  interfaces_.clear();  // interface ids are per section
  return true;
}

void CaptureFile::add_interface(const uint8_t* body, uint32_t len) {
  Interface itf{static_cast<uint16_t>(u16(body)), u32(body + 4), false, 6, 0};
  // Options: code, length, value padded to 4 bytes.
  uint32_t pos = 8;
  while (pos + 4 <= len) {
    const uint16_t code = u16(body + pos), olen = u16(body + pos + 2);
    pos += 4;
    if (code == kOptEnd || pos + olen > len) break;
    if (code == kOptTsResol && olen >= 1) {
      itf.ts_pow2 = body[pos] & 0x80;
      itf.ts_exponent = body[pos] & 0x7F;
    } else if (code == kOptTsOffset && olen >= 8) {
      uint64_t v;
      std::memcpy(&v, body + pos, 8);
      if (swapped_) v = __builtin_bswap64(v);
      itf.ts_offset_s = static_cast<int64_t>(v);
    }
    pos += (olen + 3u) & ~3u;
  }
  if (interfaces_.empty()) first_link_type_ = itf.link_type;
  interfaces_.push_back(itf);
}

uint64_t CaptureFile::to_ns(const Interface& itf, uint64_t ts) const {
  unsigned __int128 ns;
  if (itf.ts_pow2) {
    ns = (static_cast<unsigned __int128>(ts) * 1'000'000'000u) >>
         (itf.ts_exponent > 63 ? 63 : itf.ts_exponent);
  } else if (itf.ts_exponent <= 9) {
    uint64_t mul = 1;
    for (int i = itf.ts_exponent; i < 9; ++i) mul *= 10;
    ns = static_cast<unsigned __int128>(ts) * mul;
  } else {
    uint64_t div = 1;
    for (int i = 9; i < itf.ts_exponent && i < 28; ++i) div *= 10;
    ns = ts / div;
  }
  ns += static_cast<unsigned __int128>(itf.ts_offset_s) * 1'000'000'000u;
  return static_cast<uint64_t>(ns);
}

CaptureFile::Status CaptureFile::next_pcapng(Packet& out) {
  for (;;) {
    uint8_t head[8];
    const std::size_t got = read_some(head, sizeof head);
    if (got == 0) return Status::kEnd;
    if (got != sizeof head) return fail("truncated block header");
    uint32_t type;
    std::memcpy(&type, head, 4);
    if (type == kBlockSectionHeader) {
      // A new section: its length is read once its byte-order magic is known.
      uint32_t raw_len;
      std::memcpy(&raw_len, head + 4, 4);
      if (!read_section_header(raw_len)) return Status::kError;
      continue;
    }
    type = swapped_ ? bswap32(type) : type;
    const uint32_t len = u32(head + 4);
    if (len < 12 || len % 4 != 0 || len > kMaxBlockBytes)
      return fail("bad block length " + std::to_string(len));
    const uint32_t body_len = len - 12;
    const uint8_t* b = take(body_len + 4);
    if (!b) return fail("truncated block");
    switch (type) {
      case kBlockInterface:
        if (body_len < 8) return fail("interface block too short");
        add_interface(b, body_len);
        continue;
      case kBlockEnhancedPacket:
      case kBlockObsoletePacket: {
        if (body_len < 20) return fail("packet block too short");
        // EPB: interface id (4); OPB: interface id (2) + drops (2). Then ts high, ts low.
        const uint32_t ifid = type == kBlockEnhancedPacket ? u32(b) : u16(b);
        const uint64_t ts = (uint64_t{u32(b + 4)} << 32) | u32(b + 8);
        const uint32_t caplen = u32(b + 12), wire = u32(b + 16);
        if (ifid >= interfaces_.size())
          return fail("packet names interface " + std::to_string(ifid) + " before it is described");
        if (caplen > body_len - 20) return fail("packet block's captured length exceeds the block");
        const Interface& itf = interfaces_[ifid];
        prefetch_ahead();
        out.data = b + 20;
        out.cap_len = caplen;
        out.wire_len = wire < caplen ? caplen : wire;
        out.ts_ns = to_ns(itf, ts);
        out.link_type = itf.link_type;
        return Status::kPacket;
      }
      case kBlockSimplePacket: {
        if (interfaces_.empty()) return fail("simple packet block before any interface");
        if (body_len < 4) return fail("simple packet block too short");
        const Interface& itf = interfaces_[0];
        const uint32_t wire = u32(b);
        uint32_t caplen = body_len - 4;
        if (wire < caplen) caplen = wire;
        if (itf.snaplen && caplen > itf.snaplen) caplen = itf.snaplen;
        out.data = b + 4;
        out.cap_len = caplen;
        out.wire_len = wire;
        out.ts_ns = 0;  // simple packet blocks carry no timestamp
        out.link_type = itf.link_type;
        return Status::kPacket;
      }
      default:
        continue;  // statistics, name resolution, custom and unknown blocks
    }
  }
}

}  // namespace tapbeat
