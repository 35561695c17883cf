// Large zero-filled arrays for per-core tables, mapped lazily: pages are touched
// only when used, so a table sized for a million flows costs nothing until flows
// arrive, and start-up stays fast. Start-up only (constructor allocates).
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

namespace tapbeat {

// How an array's elements come into use, which decides where huge pages pay.
enum class Fill {
  kSpread,      // anywhere from the start (a hash index): huge pages throughout
  kFromBottom,  // from element 0 up (slots handed out in order, reused LIFO)
};

template <typename T>
class BigArray {
  static_assert(std::is_trivially_destructible_v<T>);

 public:
  BigArray() = default;
  explicit BigArray(std::size_t n, Fill fill = Fill::kSpread) : n_(n) {
    if (n == 0) return;
    void* p = ::mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    // Random access over hundreds of MiB: huge pages spare a TLB walk per lookup.
    // Advice only; where transparent huge pages are off nothing changes. An array
    // filled from the bottom takes them past its first 2 MiB only: a huge page is
    // zeroed whole at its first touch, 2 MiB for the first few slots of a run that
    // may use no more (eight such pages were most of a small run's page zeroing).
    constexpr std::size_t kHuge = 2u << 20;
    std::size_t from = 0;
    if (fill == Fill::kFromBottom) {
      const auto at = reinterpret_cast<std::uintptr_t>(p);
      // Past the first 2 MiB-aligned block that lies whole inside the array.
      from = ((at + kHuge - 1) & ~(std::uintptr_t{kHuge} - 1)) + kHuge - at;
    }
    if (bytes() >= from + kHuge) ::madvise(static_cast<char*>(p) + from, bytes() - from, MADV_HUGEPAGE);
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
