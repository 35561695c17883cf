// Log lines on stderr as JSON objects, as a Beat run with -e writes them.
#pragma once

#include <string_view>

namespace tapbeat {

void log_line(std::string_view level, std::string_view message);
// A log line with a pre-rendered JSON object attached under `key`.
void log_json(std::string_view level, std::string_view message, std::string_view key,
              std::string_view json);

}  // namespace tapbeat
