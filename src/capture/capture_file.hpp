// Reader for capture files: pcap (microsecond and nanosecond, either byte order) and
// pcapng (several sections and interfaces, each with its own link type, timestamp
// resolution and offset). libpcap refuses pcapng files whose interfaces differ in
// link type; tapbeat decodes each packet with its own interface's link type.
//
// A regular file is mapped (read-only, sequential): next() hands out pointers into the
// mapping, valid until the reader is destroyed, and copies nothing. Other files (pipes)
// are read through stdio into a buffer allocated at start-up, a packet's bytes valid
// until the next call (mapped() tells which); so is a compressed file (gzip, zstd, LZ4
// frames, as tshark reads them), through a stream that decompresses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace tapbeat {

class CaptureFile {
 public:
  // Blocks larger than this are treated as corruption, not read.
  static constexpr uint32_t kMaxBlockBytes = 16u << 20;

  struct Packet {
    const uint8_t* data;
    uint32_t cap_len;
    uint32_t wire_len;
    uint64_t ts_ns;
    uint16_t link_type;  // LINKTYPE_* of the packet's interface
  };
  enum class Status { kPacket, kEnd, kError };

  // Throws std::runtime_error naming the file and what is wrong with it.
  explicit CaptureFile(const std::string& path);
  ~CaptureFile();
  CaptureFile(const CaptureFile&) = delete;
  CaptureFile& operator=(const CaptureFile&) = delete;

  // A mapped classic pcap's record is read here, inline into the caller: the record
  // header as four words, the packet handed out in registers. Everything else (stdio,
  // pcapng, a record that claims too much or runs past the end) goes the long way.
  Status next(Packet& out) {
    if (map_ && !pcapng_ && map_len_ - pos_ >= 16) {
      const uint8_t* rec = map_ + pos_;
      uint32_t h[4];
      std::memcpy(h, rec, sizeof h);
      if (swapped_)
        for (uint32_t& v : h) v = __builtin_bswap32(v);
      const uint32_t caplen = h[2];
      if (caplen <= kMaxBlockBytes && map_len_ - pos_ - 16 >= caplen) {
        pos_ += 16 + std::size_t{caplen};
        prefetch_ahead();
        return pcap_packet(h, rec + 16, out);
      }
    }
    return pcapng_ ? next_pcapng(out) : next_pcap(out);
  }
  const std::string& error() const { return error_; }
  // Link type of the first interface (pcap: the file's), 1 when none was seen yet.
  uint16_t first_link_type() const { return first_link_type_; }
  bool is_pcapng() const { return pcapng_; }
  // Packets' bytes stay valid for the reader's lifetime (the file is mapped).
  bool mapped() const { return map_ != nullptr; }

 private:
  struct Interface {
    uint16_t link_type;
    uint32_t snaplen;
    bool ts_pow2;         // if_tsresol MSB: negative power of 2, else of 10
    uint8_t ts_exponent;  // units are 10^-n or 2^-n seconds
    int64_t ts_offset_s;  // if_tsoffset
  };

  bool read_exact(void* p, std::size_t n);
  // n bytes: in the mapping, or read into buf_ at `at`; null when the file ends first.
  const uint8_t* take(std::size_t n, std::size_t at = 0);
  // Up to n bytes into p; how many there were.
  std::size_t read_some(void* p, std::size_t n);
  Status fail(const std::string& why);
  Status next_pcap(Packet& out);
  // A classic pcap record's packet, from its header's four words (host order) and bytes.
  Status pcap_packet(const uint32_t (&h)[4], const uint8_t* data, Packet& out) const {
    out.data = data;
    out.cap_len = h[2];
    out.wire_len = h[3] < h[2] ? h[2] : h[3];
    out.ts_ns = uint64_t{h[0]} * 1'000'000'000ull + (nano_ ? h[1] : uint64_t{h[1]} * 1000);
    out.link_type = first_link_type_;
    return Status::kPacket;
  }
  Status next_pcapng(Packet& out);
  bool read_section_header(uint32_t block_len);
  void add_interface(const uint8_t* body, uint32_t len);
  uint32_t u32(const uint8_t* p) const;
  uint16_t u16(const uint8_t* p) const;
  uint64_t to_ns(const Interface& itf, uint64_t ts) const;
  // The mapped bytes up to 8 KiB ahead of the reader, fetched a cache line at a time
  // while the packets before them are decoded. Decoding reads a packet's headers and
  // seldom its payload: reads that sparse, crossing a page every few packets, leave the
  // hardware's stream prefetcher behind, and each record header was a miss to memory.
  void prefetch_ahead() {
    if (!map_) return;
    const std::size_t end = map_len_ - pos_ < 8192 ? map_len_ : pos_ + 8192;
    if (pf_ < pos_) pf_ = pos_ & ~std::size_t{63};
    for (; pf_ < end; pf_ += 64) __builtin_prefetch(map_ + pf_);
  }

  std::string path_;
  std::FILE* f_ = nullptr;
  const uint8_t* map_ = nullptr;  // the whole file when it is a regular one
  std::size_t map_len_ = 0, pos_ = 0;
  std::size_t pf_ = 0;  // prefetched up to here
  bool pcapng_ = false;
  bool swapped_ = false;  // file byte order differs from the host's
  bool nano_ = false;     // classic pcap with nanosecond timestamps
  uint16_t first_link_type_ = 1;
  uint32_t snaplen_ = 0;
  std::vector<Interface> interfaces_;
  std::vector<uint8_t> buf_;
  std::string error_;
};

}  // namespace tapbeat
