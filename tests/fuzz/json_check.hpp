// Shared by the fuzz targets: every event a decoder writes is one line of valid
// JSON (simdjson checks syntax and UTF-8); anything else stops the fuzzer.
#pragma once

#include <simdjson.h>

#include <cstdio>
#include <cstring>
#include <string_view>

#include "event/event_queue.hpp"

namespace tapbeat::fuzz {

inline void check_events(const EventChunk& c) {
  static simdjson::dom::parser parser;
  std::string_view rest(c.data, c.len);
  uint32_t lines = 0;
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) __builtin_trap();  // an event not ended by its newline
    const std::string_view line = rest.substr(0, nl);
    simdjson::dom::element doc;
    const simdjson::error_code err = parser.parse(line.data(), line.size()).get(doc);
    if (err || !doc.is_object()) {
      std::fprintf(stderr, "event is not a JSON object (%s): %.*s\n",
                   err ? simdjson::error_message(err) : "another JSON value", static_cast<int>(line.size()),
                   line.data());
      __builtin_trap();
    }
    rest.remove_prefix(nl + 1);
    ++lines;
  }
  if (lines != c.events) __builtin_trap();  // the chunk's count says otherwise
}

// Checks and recycles every full chunk of `q`.
inline void drain_checked(EventQueue& q) {
  while (EventChunk* ch = q.take_full()) {
    check_events(*ch);
    q.recycle(ch);
  }
}

}  // namespace tapbeat::fuzz
