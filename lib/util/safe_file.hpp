// Files a privileged tapbeat writes (event files, the disk queue) opened so that another
// local user cannot redirect the writes: no symbolic or hard links followed, no folder
// that someone else controls. Control threads only (these block).
#pragma once

#include <sys/types.h>

#include <string>

namespace tapbeat {

// Creates `dir` (and its parents, mode 0750 for new ones) if missing, then checks it:
// a directory, owned by the user running tapbeat or by root, and not writable by
// others unless sticky (as /tmp). Returns "" or why the folder is refused.
std::string prepare_private_dir(const std::string& dir);

// What prepare_private_dir() would say, without creating anything: an existing `dir`
// is checked as there; a missing one needs its nearest existing parent to be a folder
// tapbeat can write to.
std::string check_private_dir(const std::string& dir);

// Opens `file` for appending (created with `mode` when missing) without following a
// symbolic link, and keeps it only if it is a regular file with one link owned by the
// user running tapbeat. Returns the descriptor, or -1 with `err` set.
int open_append_private(const std::string& file, mode_t mode, std::string& err);

}  // namespace tapbeat
