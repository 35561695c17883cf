// SPSC ring of variable-length packet records (a "bip buffer").
//
// The capture thread copies each frame once (or, for a mapped file, its address) into the ring of the worker
// that owns its flow; the worker reads a burst of records in place and releases them after the whole burst is
// processed. Records are 64-byte aligned so a header always fits before the end of the buffer; a record that
// would straddle the end is preceded by a padding record.
//
// Thread-safety: one producer, one consumer. No allocation after construction.
// Lifetime: a record's bytes stay valid until the consumer calls release() past it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "util/hints.hpp"

namespace tapbeat {

// kPacketRef: the payload is the frame's address, not its bytes (frames that stay
// valid for the whole run, as a mapped capture file's do).
enum class RecordKind : uint16_t { kPacket = 0, kPadding = 1, kClock = 2, kPacketRef = 3 };

struct RecordHeader {
  uint64_t ts_ns;         // packet time (kPacket) or capture clock (kClock)
  uint32_t record_bytes;  // whole record, header included, 64-aligned
  uint32_t cap_len;
  uint32_t wire_len;
  uint32_t hash;
  uint16_t link_type;  // LINKTYPE_* of the source
  RecordKind kind;
  uint32_t shared;  // RawPacket::shared
};
static_assert(sizeof(RecordHeader) == 32);

class PacketRing {
 public:
  static constexpr std::size_t kAlign = 64;

  explicit PacketRing(std::size_t capacity_bytes)
      : capacity_((capacity_bytes + kAlign - 1) / kAlign * kAlign),
        buf_(static_cast<uint8_t*>(::operator new[](capacity_, std::align_val_t{kAlign}))) {}
  ~PacketRing() { ::operator delete[](buf_, std::align_val_t{kAlign}); }
  PacketRing(const PacketRing&) = delete;
  PacketRing& operator=(const PacketRing&) = delete;

  static std::size_t record_size(std::size_t payload) {
    return (sizeof(RecordHeader) + payload + kAlign - 1) / kAlign * kAlign;
  }
  std::size_t capacity() const { return capacity_; }

  // Producer: room for a record with `payload` bytes after the header, or nullptr
  // when the ring is full (the caller decides whether to wait or to count a drop).
  // The returned header is zeroed apart from record_bytes; call commit() after filling.
  RecordHeader* reserve(std::size_t payload) {
    const std::size_t need = record_size(payload);
    if (need > capacity_ / 2) return nullptr;  // would starve the ring; caller counts it
    const uint64_t head = head_.load(std::memory_order_relaxed);
    const std::size_t pos = head_pos_;
    const std::size_t pad = (pos + need > capacity_) ? capacity_ - pos : 0;
    if (capacity_ - (head - cached_tail_) < pad + need) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (capacity_ - (head - cached_tail_) < pad + need) return nullptr;
    }
    if (pad) {
      auto* p = reinterpret_cast<RecordHeader*>(buf_ + pos);
      std::memset(p, 0, sizeof *p);
      p->kind = RecordKind::kPadding;
      p->record_bytes = static_cast<uint32_t>(pad);
    }
    pending_pad_ = pad;
    auto* h = reinterpret_cast<RecordHeader*>(buf_ + (pad ? 0 : pos));
    std::memset(h, 0, sizeof *h);
    h->record_bytes = static_cast<uint32_t>(need);
    return h;
  }
  void commit(RecordHeader* h) {
    head_pos_ = wrap(static_cast<std::size_t>(reinterpret_cast<uint8_t*>(h) - buf_) + h->record_bytes);
    head_.store(head_.load(std::memory_order_relaxed) + pending_pad_ + h->record_bytes,
                std::memory_order_release);
  }
  static uint8_t* payload(RecordHeader* h) { return reinterpret_cast<uint8_t*>(h + 1); }
  static const uint8_t* payload(const RecordHeader* h) { return reinterpret_cast<const uint8_t*>(h + 1); }

  // Consumer's place: bytes read since the start (compared with the producer's count)
  // and where that is in the buffer. Positions are carried, never taken modulo the
  // capacity: a division per record was a tenth of the reader's and the worker's
  // ring work.
  struct Cursor {
    uint64_t count = 0;
    std::size_t pos = 0;
  };

  // Consumer: next unread record at `cursor`, or nullptr when none. Padding is
  // skipped. Move past it with advance(). Warms the record a few lines on, when the
  // producer has written it already: a file's packets come as one 64-byte record each,
  // and each one's line was last written by the other core.
  const RecordHeader* peek(Cursor& cursor) {
    for (;;) {
      if (cursor.count == cached_head_) {
        cached_head_ = head_.load(std::memory_order_acquire);
        if (cursor.count == cached_head_) return nullptr;
      }
      const auto* h = reinterpret_cast<const RecordHeader*>(buf_ + cursor.pos);
      if (cached_head_ - cursor.count > kAhead && cursor.pos + kAhead < capacity_)
        prefetch_read(buf_ + cursor.pos + kAhead);
      if (h->kind != RecordKind::kPadding) return h;
      advance(cursor, h);
    }
  }
  void advance(Cursor& cursor, const RecordHeader* h) const {
    cursor.count += h->record_bytes;
    cursor.pos = wrap(cursor.pos + h->record_bytes);
  }
  Cursor read_cursor() const { return {tail_.load(std::memory_order_relaxed), tail_pos_}; }
  // Consumer: everything before cursor may now be overwritten.
  void release(const Cursor& cursor) {
    tail_pos_ = cursor.pos;
    tail_.store(cursor.count, std::memory_order_release);
  }

  bool empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
  }

 private:
  const std::size_t capacity_;
  uint8_t* const buf_;
  static constexpr std::size_t kAhead = 8 * kAlign;
  // A record ends at most at the buffer's end (padding fills what a record would
  // straddle): a position reaching it wraps to 0.
  std::size_t wrap(std::size_t pos) const { return pos == capacity_ ? 0 : pos; }

  alignas(kCacheLine) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;
  std::size_t head_pos_ = 0;  // producer's: where head_ is in the buffer
  std::size_t pending_pad_ = 0;
  alignas(kCacheLine) std::atomic<uint64_t> tail_{0};
  uint64_t cached_head_ = 0;
  std::size_t tail_pos_ = 0;  // consumer's: where tail_ is in the buffer
};

}  // namespace tapbeat
