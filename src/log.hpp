// Log lines as JSON objects (or text with logging.json: false), on stderr as a
// Beat run with -e writes them and/or in rotated files (logging.to_files), below
// logging.level left out. Until configure_logging() runs: everything to stderr.
#pragma once

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace tapbeat {

// Applies logging.*; throws std::runtime_error when the log folder or file cannot
// be used. Call once, before other threads log.
void configure_logging(const LoggingConfig& cfg);

// Every message passes through redact_credentials() first.
void log_line(std::string_view level, std::string_view message);
// A log line with a pre-rendered JSON object attached under `key`.
void log_json(std::string_view level, std::string_view message, std::string_view key, std::string_view json);

// `text` with the credentials of every URL in it masked: scheme://user:xxxxx@host
// (a user part without a password, which may be a token, becomes xxxxx). Used on every
// log line and every error message the command line prints.
std::string redact_credentials(std::string_view text);

}  // namespace tapbeat
