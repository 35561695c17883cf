// Log lines on stderr as JSON objects, as a Beat run with -e writes them.
#pragma once

#include <string>
#include <string_view>

namespace tapbeat {

// Every message passes through redact_credentials() first.
void log_line(std::string_view level, std::string_view message);
// A log line with a pre-rendered JSON object attached under `key`.
void log_json(std::string_view level, std::string_view message, std::string_view key, std::string_view json);

// `text` with the credentials of every URL in it masked: scheme://user:xxxxx@host
// (a user part without a password, which may be a token, becomes xxxxx). Used on every
// log line and every error message the command line prints.
std::string redact_credentials(std::string_view text);

}  // namespace tapbeat
