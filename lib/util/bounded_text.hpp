// Text built in a fixed buffer: appends past the end are cut, never allocated.
// For event fields assembled from parts (a query line, a URL, a dig-like text).
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "util/hints.hpp"

namespace tapbeat {

template <std::size_t N>
struct BoundedText {
  char buf[N];
  std::size_t n = 0;

  void append(std::string_view v) {
    const std::size_t k = std::min(v.size(), N - n);
    copy_bytes(buf + n, v.data(), k);
    n += k;
  }
  void push_back(char ch) {
    if (n < N) buf[n++] = ch;
  }
  void append_uint(uint64_t v) {
    char d[20];
    append(std::string_view(d, static_cast<std::size_t>(std::to_chars(d, d + sizeof d, v).ptr - d)));
  }
  void clear() { n = 0; }
  std::string_view view() const { return {buf, n}; }
};

}  // namespace tapbeat
