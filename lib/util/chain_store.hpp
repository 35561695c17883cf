// Bytes kept across packets (partial messages of a stream, messages waiting for
// their answer) in chains of small fixed blocks from one per-worker store.
//
// A chain costs nothing until bytes are appended; blocks return to the store when
// the chain is released. The store is mapped lazily (BigArray), so a large
// capacity costs only the pages used. append() stores fewer bytes than asked when
// the store runs out; callers count that. No allocation after construction.
#pragma once

#include <cstdint>
#include <cstring>

#include "util/big_array.hpp"

namespace tapbeat {

class ChainStore {
 public:
  static constexpr uint32_t kBlockBytes = 2048;
  static constexpr uint32_t kPayload = kBlockBytes - sizeof(int32_t);

  struct Chain {
    int32_t head = -1;
    int32_t tail = -1;
    uint32_t len = 0;
    bool empty() const { return len == 0; }
  };

  explicit ChainStore(uint32_t blocks) : blocks_(blocks), capacity_(blocks) {}
  ChainStore(const ChainStore&) = delete;
  ChainStore& operator=(const ChainStore&) = delete;

  // Appends up to len bytes; returns how many were stored.
  uint32_t append(Chain& c, const uint8_t* p, uint32_t len) {
    uint32_t done = 0;
    while (done < len) {
      uint32_t used = c.len == 0 ? kPayload : (c.len - 1) % kPayload + 1;  // bytes in the tail block
      if (used == kPayload) {
        const int32_t b = alloc();
        if (b < 0) break;
        if (c.tail >= 0) blocks_[c.tail].next = b; else c.head = b;
        c.tail = b;
        used = 0;
      }
      const uint32_t k = len - done < kPayload - used ? len - done : kPayload - used;
      std::memcpy(blocks_[c.tail].data + used, p + done, k);
      done += k;
      c.len += k;
    }
    return done;
  }

  // Copies the first min(len, cap) bytes of the chain to dst; returns the count.
  uint32_t copy_out(const Chain& c, uint8_t* dst, uint32_t cap) const {
    uint32_t done = 0;
    const uint32_t want = c.len < cap ? c.len : cap;
    for (int32_t b = c.head; b >= 0 && done < want; b = blocks_[b].next) {
      const uint32_t k = want - done < kPayload ? want - done : kPayload;
      std::memcpy(dst + done, blocks_[b].data, k);
      done += k;
    }
    return done;
  }

  void release(Chain& c) {
    for (int32_t b = c.head; b >= 0;) {
      const int32_t next = blocks_[b].next;
      blocks_[b].next = free_;
      free_ = b;
      ++free_count_;
      b = next;
    }
    c = Chain{};
  }

  uint32_t capacity() const { return capacity_; }
  uint32_t blocks_in_use() const { return never_used_ - free_count_; }

 private:
  struct Block {
    int32_t next;
    uint8_t data[kPayload];
  };
  int32_t alloc() {
    int32_t b;
    if (free_ >= 0) {
      b = free_;
      free_ = blocks_[b].next;
      --free_count_;
    } else if (never_used_ < capacity_) {
      b = static_cast<int32_t>(never_used_++);
    } else {
      return -1;
    }
    blocks_[b].next = -1;
    return b;
  }

  BigArray<Block> blocks_;
  uint32_t capacity_;
  int32_t free_ = -1;
  uint32_t free_count_ = 0;
  uint32_t never_used_ = 0;
};

}  // namespace tapbeat
