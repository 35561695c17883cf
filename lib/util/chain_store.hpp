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
#include "util/hints.hpp"

namespace tapbeat {

class ChainStore {
 public:
  static constexpr uint32_t kBlockBytes = 2048;
  static constexpr uint32_t kPayload = kBlockBytes - sizeof(int32_t);

  struct Chain {
    int32_t head = -1;
    int32_t tail = -1;
    uint32_t len = 0;       // bytes held, from head_off on
    uint32_t head_off = 0;  // bytes of the head block already dropped
    bool empty() const { return len == 0; }
  };

  explicit ChainStore(uint32_t blocks) : blocks_(blocks, Fill::kFromBottom), capacity_(blocks) {}
  ChainStore(const ChainStore&) = delete;
  ChainStore& operator=(const ChainStore&) = delete;

  // Appends up to len bytes; returns how many were stored.
  uint32_t append(Chain& c, const uint8_t* p, uint32_t len) {
    uint32_t done = 0;
    while (done < len) {
      const uint32_t total = c.head_off + c.len;
      uint32_t used = c.tail < 0 ? kPayload : (total - 1) % kPayload + 1;  // bytes in the tail block
      if (used == kPayload) {
        const int32_t b = alloc();
        if (b < 0) break;
        if (c.tail >= 0)
          blocks_[c.tail].next = b;
        else
          c.head = b;
        c.tail = b;
        used = 0;
      }
      const uint32_t k = len - done < kPayload - used ? len - done : kPayload - used;
      copy_bytes(blocks_[c.tail].data + used, p + done, k);
      done += k;
      c.len += k;
    }
    return done;
  }

  // Copies min(len - from, cap) bytes, starting `from` bytes into the chain, to dst;
  // returns the count.
  uint32_t copy_out(const Chain& c, uint8_t* dst, uint32_t cap, uint32_t from = 0) const {
    return visit(c, from, cap,
                 [dst](uint8_t* b, uint32_t done, uint32_t k) { copy_bytes(dst + done, b, k); });
  }
  // Overwrites min(len, c.len - from) bytes starting `from` bytes into the chain
  // (a record updated in place); returns the count.
  uint32_t write_at(const Chain& c, uint32_t from, const uint8_t* src, uint32_t len) {
    return visit(c, from, len,
                 [src](uint8_t* b, uint32_t done, uint32_t k) { copy_bytes(b, src + done, k); });
  }
  // Forgets the first n bytes (a FIFO of records); whole blocks go back at once.
  void drop_front(Chain& c, uint32_t n) {
    if (n >= c.len) {
      release(c);
      return;
    }
    c.len -= n;
    c.head_off += n;
    while (c.head_off >= kPayload) {
      const int32_t next = blocks_[c.head].next;
      blocks_[c.head].next = free_;
      free_ = c.head;
      ++free_count_;
      c.head = next;
      c.head_off -= kPayload;
    }
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

  // Bytes that can still be appended to c: the rest of its tail block and every
  // block the store has left.
  uint64_t room(const Chain& c) const {
    const uint32_t total = c.head_off + c.len;
    const uint32_t tail_left = c.tail < 0 ? 0 : kPayload - ((total - 1) % kPayload + 1);
    return tail_left + uint64_t{capacity_ - blocks_in_use()} * kPayload;
  }
  uint32_t capacity() const { return capacity_; }
  uint32_t blocks_in_use() const { return never_used_ - free_count_; }

 private:
  // Calls f(block bytes, offset in the range, count) over the chain's bytes
  // [from, from + min(len, c.len - from)); returns that count.
  template <typename F>
  uint32_t visit(const Chain& c, uint32_t from, uint32_t len, F&& f) const {
    if (from >= c.len) return 0;
    uint32_t done = 0;
    const uint32_t want = c.len - from < len ? c.len - from : len;
    uint32_t skip = c.head_off + from;
    for (int32_t b = c.head; b >= 0 && done < want; b = blocks_[b].next) {
      if (skip >= kPayload) {
        skip -= kPayload;
        continue;
      }
      const uint32_t avail = kPayload - skip;
      const uint32_t k = want - done < avail ? want - done : avail;
      f(const_cast<uint8_t*>(blocks_[b].data) + skip, done, k);
      done += k;
      skip = 0;
    }
    return done;
  }
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
