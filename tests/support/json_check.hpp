// Every event a decoder writes is one line of valid JSON (simdjson checks syntax
// and UTF-8). Shared by the fuzz targets (which stop at the first bad event) and
// the decoder harness.
#pragma once

#include <simdjson.h>

#include <cstdio>
#include <cstring>
#include <string_view>

#include "event/event_queue.hpp"

namespace tapbeat::test {

// False (with the event on stderr) when an event of the chunk is not one JSON object.
inline bool check_events(const EventChunk& c) {
  static simdjson::dom::parser parser;
  std::string_view rest(c.data, c.len);
  uint32_t lines = 0;
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return false;  // an event not ended by its newline
    const std::string_view line = rest.substr(0, nl);
    simdjson::dom::element doc;
    const simdjson::error_code err = parser.parse(line.data(), line.size()).get(doc);
    if (err || !doc.is_object()) {
      std::fprintf(stderr, "event is not a JSON object (%s): %.*s\n",
                   err ? simdjson::error_message(err) : "another JSON value", static_cast<int>(line.size()),
                   line.data());
      return false;
    }
    rest.remove_prefix(nl + 1);
    ++lines;
  }
  return lines == c.events;  // the chunk's count says otherwise when not
}

// Checks and recycles every full chunk of `q`; a fuzzer stops at a bad event.
inline void drain_checked_or_trap(EventQueue& q) {
  while (EventChunk* ch = q.take_full()) {
    if (!check_events(*ch)) __builtin_trap();
    q.recycle(ch);
  }
}

}  // namespace tapbeat::test
