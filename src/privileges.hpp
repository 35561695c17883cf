// Started as root, tapbeat gives root up once its capture is open: the rest of the run
// (decoding, outputs, the monitoring endpoint) holds no privilege.
#pragma once

#include "config/config.hpp"

namespace tapbeat {

// When the effective user is root: becomes tapbeat.user (default "tapbeat"), its
// group and no supplementary groups, for good (root cannot be taken back), and checks
// that the folders the run writes later (file output, disk queue, log files) are
// writable by it, warning for each that is not. "root" keeps root; a default user that
// does not exist keeps root (with a warning when capturing live); a named one that
// does not exist is an error (std::runtime_error), as is any failure to change. Not
// root: nothing.
void drop_root(const Config& cfg, bool live);

}  // namespace tapbeat
