#include "privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "log.hpp"

namespace tapbeat {

void drop_root(const Config& cfg, bool live) {
  if (::geteuid() != 0) return;
  const std::string& user = cfg.engine.user;
  if (user == "root") {
    log_line("info", "running as root (tapbeat.user: root)");
    return;
  }
  errno = 0;
  const passwd* pw = ::getpwnam(user.c_str());
  if (!pw) {
    const std::string why = "no user '" + user + "' on this host";
    if (cfg.engine.user_set) throw std::runtime_error("tapbeat.user: " + why);
    if (!live) return;  // reading a file as root, with no user made for tapbeat: as asked
    log_line("warn", "running as root: " + why +
                         " to give root up to once the capture is open (the .deb package makes it; or set "
                         "tapbeat.user, root to keep root)");
    return;
  }
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  auto fail = [&](const char* step) {
    throw std::runtime_error(std::string("cannot become user ") + user + ": " + step + ": " +
                             std::strerror(errno));
  };
  if (::setgroups(0, nullptr) != 0) fail("setgroups");
  if (::setresgid(gid, gid, gid) != 0) fail("setresgid");
  if (::setresuid(uid, uid, uid) != 0) fail("setresuid");
  if (::setuid(0) == 0 || ::geteuid() == 0)
    throw std::runtime_error("root could be taken back after dropping it");
  log_line("info", "capture open; running as user " + user + " (uid " + std::to_string(uid) + ", gid " +
                       std::to_string(gid) + ") from here on");
  // Folders the run writes to later: rotated files, disk-queue segments, log files.
  std::vector<std::pair<std::string, std::string>> dirs;
  if (cfg.output && cfg.output->type == "file") dirs.emplace_back("output.file.path", cfg.output->path);
  if (cfg.queue.disk) dirs.emplace_back("queue.disk.path", cfg.queue.disk_path);
  if (cfg.logging.to_files) dirs.emplace_back("logging.files.path", cfg.logging.files_path);
  for (const auto& [key, dir] : dirs) {
    if (::access(dir.c_str(), W_OK | X_OK) != 0 && errno != ENOENT)
      log_line("warn", key + " " + dir + " is not writable by user " + user +
                           ", which tapbeat runs as now (chown it to " + user + ", or set tapbeat.user)");
  }
}

}  // namespace tapbeat
