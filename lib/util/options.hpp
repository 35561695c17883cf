// Option schemas and the scalar forms of configuration values, shared by the
// configuration reader and the protocols that declare their own options.
// Start-up only: allocates freely.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tapbeat {

enum class OptionKind : uint8_t {
  kBool,
  kInt,
  kUint,
  kPort,
  kPortList,
  kDuration,
  kString,
  kStringList,
  kIntList,
  kFloat,
  kMap,      // free-form mapping
  kAny,      // anything, not inspected
  kSection,  // mapping checked against children
};

// One option: its key and the kind of value it takes.
struct OptionSpec {
  const char* name;
  OptionKind kind;
  const std::vector<OptionSpec>* children = nullptr;  // kSection
};

// "10s", "1m30s", "250ms", a bare number of seconds; nullopt when it is none of them.
std::optional<int64_t> parse_duration_ns(const std::string& text);
// true/yes/on/y and false/no/off/n in any case; nullopt otherwise.
std::optional<bool> parse_bool_text(std::string text);

}  // namespace tapbeat
