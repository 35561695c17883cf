// Where event bytes go: console or rotating files. Runs on the output thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace tapbeat {

class Sink {
 public:
  virtual ~Sink() = default;
  // `lines` holds whole NDJSON lines. Returns false on an I/O error (reported via error()).
  virtual bool write(std::string_view lines) = 0;
  virtual bool flush() = 0;
  virtual std::string error() const { return error_; }

 protected:
  std::string error_;
};

// Throws std::runtime_error with a clear message when the sink cannot be opened.
std::unique_ptr<Sink> make_sink(const OutputConfig& cfg);

// Re-indents one compact JSON line (our own output) two spaces per level.
void pretty_print(std::string_view line, std::string& out);

}  // namespace tapbeat
