#include "util/safe_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tapbeat {
namespace {

// Why an existing folder is refused: not a folder, another user's, or open to every
// user without the sticky bit. "" when it is fit.
std::string refusal_of(const std::string& dir, const struct stat& st) {
  if (!S_ISDIR(st.st_mode)) return dir + " is not a directory";
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0)
    return dir + " belongs to uid " + std::to_string(st.st_uid) + ", not to the user running tapbeat (uid " +
           std::to_string(me) + ") or root: its owner could redirect the writes";
  if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
    return dir + " is writable by every user and not sticky: anyone could plant a link there";
  return {};
}

}  // namespace

std::string prepare_private_dir(const std::string& dir) {
  if (dir.empty()) return "an empty path";
  // mkdir -p, one component at a time; existing components are left as they are.
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    const std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), 0750) != 0 && errno != EEXIST)
      return "cannot create " + part + ": " + std::strerror(errno);
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return "cannot read " + dir + ": " + std::strerror(errno);
  return refusal_of(dir, st);
}

std::string check_private_dir(const std::string& dir) {
  if (dir.empty()) return "an empty path";
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return refusal_of(dir, st);
  std::string parent = dir;
  for (;;) {
    const std::size_t slash = parent.find_last_of('/', parent.size() > 1 ? parent.size() - 2 : 0);
    parent = slash == std::string::npos ? "." : slash == 0 ? "/" : parent.substr(0, slash);
    if (::stat(parent.c_str(), &st) == 0) break;
    if (parent == "." || parent == "/") return "cannot read " + parent + ": " + std::strerror(errno);
  }
  if (!S_ISDIR(st.st_mode)) return parent + " is not a directory, so " + dir + " cannot be created";
  if (::access(parent.c_str(), W_OK | X_OK) != 0)
    return dir + " does not exist and cannot be created: " + parent + ": " + std::strerror(errno);
  return {};
}

int open_append_private(const std::string& file, mode_t mode, std::string& err) {
  const int fd =
      ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode);
  if (fd < 0) {
    err = errno == ELOOP ? file + " is a symbolic link; refusing to write through it" : std::strerror(errno);
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    err = std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    err = file + " is not a regular file";
  } else if (st.st_uid != ::geteuid()) {
    err = file + " belongs to uid " + std::to_string(st.st_uid) + ", not to the user running tapbeat";
  } else if (st.st_nlink != 1) {
    err = file + " has " + std::to_string(st.st_nlink) + " hard links; refusing to write through them";
  } else {
    // Blocking writes from here on (O_NONBLOCK only kept open() off FIFOs).
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
  }
  ::close(fd);
  return -1;
}

}  // namespace tapbeat
