// Large zero-filled arrays for per-core tables, mapped lazily: pages are touched
// only when used, so a table sized for a million flows costs nothing until flows
// arrive, and start-up stays fast. Start-up only (constructor allocates).
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <type_traits>

namespace tapbeat {

template <typename T>
class BigArray {
  static_assert(std::is_trivially_destructible_v<T>);

 public:
  BigArray() = default;
  explicit BigArray(std::size_t n) : n_(n) {
    if (n == 0) return;
    void* p = ::mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    // Random access over hundreds of MiB: huge pages spare a TLB walk per lookup.
    // Advice only; where transparent huge pages are off nothing changes.
    if (bytes() >= (2u << 20)) ::madvise(p, bytes(), MADV_HUGEPAGE);
    p_ = static_cast<T*>(p);  // anonymous pages read as zero: a valid all-zero T
  }
  ~BigArray() {
    if (p_) ::munmap(p_, bytes());
  }
  BigArray(const BigArray&) = delete;
  BigArray& operator=(const BigArray&) = delete;
  BigArray& operator=(BigArray&& o) noexcept {
    if (this != &o) {
      if (p_) ::munmap(p_, bytes());
      p_ = o.p_;
      n_ = o.n_;
      o.p_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }

  T& operator[](std::size_t i) { return p_[i]; }
  const T& operator[](std::size_t i) const { return p_[i]; }
  T* get() { return p_; }
  const T* get() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  std::size_t bytes() const { return n_ * sizeof(T); }
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace tapbeat
