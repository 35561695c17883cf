// Whole writes to a file descriptor. Control threads only (it blocks).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace tapbeat {

// Writes all n bytes, retrying short writes and EINTR. False on an error, with
// errno telling which.
inline bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace tapbeat
