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

class ByteReader {
 public:
  ByteReader() = default;
  ByteReader(const uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  explicit ByteReader(std::span<const uint8_t> s) : data_(s.data()), size_(s.size()) {}

  std::size_t remaining() const { return size_ - pos_; }
  std::size_t position() const { return pos_; }
  const uint8_t* current() const { return data_ + pos_; }
  bool has(std::size_t n) const { return n <= size_ - pos_; }

  bool skip(std::size_t n) {
    if (!has(n)) return false;
    pos_ += n;
    return true;
  }
  bool u8(uint8_t& out) {
    if (!has(1)) return false;
    out = data_[pos_++];
    return true;
  }
  bool be16(uint16_t& out) {
    if (!has(2)) return false;
    out = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool le16(uint16_t& out) {
    if (!has(2)) return false;
    out = static_cast<uint16_t>(data_[pos_] | (data_[pos_ + 1] << 8));
    pos_ += 2;
    return true;
  }
  bool be32(uint32_t& out) {
    if (!has(4)) return false;
    out = (uint32_t{data_[pos_]} << 24) | (uint32_t{data_[pos_ + 1]} << 16) |
          (uint32_t{data_[pos_ + 2]} << 8) | uint32_t{data_[pos_ + 3]};
    pos_ += 4;
    return true;
  }
  bool le32(uint32_t& out) {
    if (!has(4)) return false;
    out = uint32_t{data_[pos_]} | (uint32_t{data_[pos_ + 1]} << 8) | (uint32_t{data_[pos_ + 2]} << 16) |
          (uint32_t{data_[pos_ + 3]} << 24);
    pos_ += 4;
    return true;
  }
  bool bytes(void* out, std::size_t n) {
    if (!has(n)) return false;
    std::memcpy(out, data_ + pos_, n);
    pos_ += n;
    return true;
  }
  // A view of the next n bytes, advancing past them.
  bool view(std::size_t n, std::span<const uint8_t>& out) {
    if (!has(n)) return false;
    out = {data_ + pos_, n};
    pos_ += n;
    return true;
  }
  // Peek without advancing.
  bool peek_u8(std::size_t offset, uint8_t& out) const {
    if (offset >= remaining()) return false;
    out = data_[pos_ + offset];
    return true;
  }
  bool peek_be16(std::size_t offset, uint16_t& out) const {
    if (remaining() < 2 || offset > remaining() - 2) return false;
    out = static_cast<uint16_t>((data_[pos_ + offset] << 8) | data_[pos_ + offset + 1]);
    return true;
  }

 private:
  const uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t pos_ = 0;
};

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

}  // namespace tapbeat
