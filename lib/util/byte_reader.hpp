// Bounds-checked reader over untrusted wire bytes.
//
// Contract: never reads outside [data, data+size). Every accessor returns false
// (and leaves the output untouched) when the bytes are not there; endianness is
// explicit in the name. No allocation, no exceptions; safe on the hot path.
// The reader does not own the bytes: views it returns live as long as the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace tapbeat {

// Loads at a position already known to hold the bytes (a length checked before,
// a header the reader has passed): explicit endianness, no bounds check.
inline uint64_t load_be(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = v << 8 | p[i];
  return v;
}
inline uint64_t load_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}
inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(load_be(p, 2)); }
inline uint32_t load_be32(const uint8_t* p) { return static_cast<uint32_t>(load_be(p, 4)); }
inline uint32_t load_le24(const uint8_t* p) { return static_cast<uint32_t>(load_le(p, 3)); }
inline uint32_t load_le32(const uint8_t* p) { return static_cast<uint32_t>(load_le(p, 4)); }
inline int32_t load_le_i32(const uint8_t* p) { return static_cast<int32_t>(load_le32(p)); }
inline uint64_t load_le64(const uint8_t* p) { return load_le(p, 8); }

// Two words (where it is and how much is left): passed and returned by value in
// registers. A third word spills the by-value copies the parsers hand each other to
// the stack, and each is read back over narrower stores (a store-forwarding stall
// per layer of every packet).
class ByteReader {
 public:
  ByteReader() = default;
  ByteReader(const uint8_t* data, std::size_t size) : cur_(data), left_(size) {}
  explicit ByteReader(std::span<const uint8_t> s) : cur_(s.data()), left_(s.size()) {}

  std::size_t remaining() const { return left_; }
  const uint8_t* current() const { return cur_; }
  bool has(std::size_t n) const { return n <= left_; }

  bool skip(std::size_t n) {
    if (!has(n)) return false;
    advance(n);
    return true;
  }
  bool u8(uint8_t& out) {
    if (!has(1)) return false;
    out = cur_[0];
    advance(1);
    return true;
  }
  bool be16(uint16_t& out) {
    if (!has(2)) return false;
    out = load_be16(cur_);
    advance(2);
    return true;
  }
  bool le16(uint16_t& out) {
    if (!has(2)) return false;
    out = static_cast<uint16_t>(load_le(cur_, 2));
    advance(2);
    return true;
  }
  bool be32(uint32_t& out) {
    if (!has(4)) return false;
    out = load_be32(cur_);
    advance(4);
    return true;
  }
  bool le32(uint32_t& out) {
    if (!has(4)) return false;
    out = load_le32(cur_);
    advance(4);
    return true;
  }
  bool bytes(void* out, std::size_t n) {
    if (!has(n)) return false;
    std::memcpy(out, cur_, n);
    advance(n);
    return true;
  }
  // A view of the next n bytes, advancing past them.
  bool view(std::size_t n, std::span<const uint8_t>& out) {
    if (!has(n)) return false;
    out = {cur_, n};
    advance(n);
    return true;
  }
  // Peek without advancing.
  bool peek_u8(std::size_t offset, uint8_t& out) const {
    if (offset >= left_) return false;
    out = cur_[offset];
    return true;
  }
  bool peek_be16(std::size_t offset, uint16_t& out) const {
    if (left_ < 2 || offset > left_ - 2) return false;
    out = load_be16(cur_ + offset);
    return true;
  }

 private:
  void advance(std::size_t n) {
    cur_ += n;
    left_ -= n;
  }
  const uint8_t* cur_ = nullptr;
  std::size_t left_ = 0;
};
static_assert(sizeof(ByteReader) == 2 * sizeof(void*));

}  // namespace tapbeat
