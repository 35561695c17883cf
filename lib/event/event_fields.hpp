// Reading fields of a finished event, for the outputs: Beats format strings
// (`%{[event.dataset]}`, `%{[fields.topic]:default}`, `%{+yyyy.MM.dd}`), `when`
// conditions (equals, contains, regexp, range, has_fields, network, and, or, not) and
// the topic/index selectors built from them (`topic` plus `topics` rules with
// mappings and defaults).
//
// Thread-safety: an EventView belongs to one thread (the output thread); formats,
// conditions and selectors are immutable after parsing and may be shared.
// Allocation: parsing allocates (start-up); EventView reuses its buffers, so
// rendering allocates only when a result outgrows the caller's string.
#pragma once

#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/networks.hpp"

namespace tapbeat {

// A dotted field name as a JSON pointer ("event.dataset" -> "/event/dataset").
std::string field_pointer(std::string_view dotted);

// One compact JSON event, copied into a padded buffer and navigated lazily.
class EventView {
 public:
  // `line`: one JSON object, without the trailing newline.
  void reset(std::string_view line);
  std::string_view line() const { return {buf_.data(), len_}; }

  // The value at `pointer` (from field_pointer): strings unescaped, numbers and
  // booleans as their JSON text, objects and arrays as raw JSON. False when absent
  // or null.
  bool get(const std::string& pointer, std::string& out);
  // The whole event, parsed; false when it is not JSON.
  bool document(simdjson::dom::element& out) { return at("", out); }
  bool has(const std::string& pointer);
  // @timestamp as milliseconds since the epoch; false when absent or unreadable.
  bool timestamp_ms(int64_t& out);
  // @timestamp's text ("2026-11-26T21:20:16.123Z").
  bool timestamp_text(std::string_view& out);

 private:
  bool at(const std::string& pointer, simdjson::dom::element& v);

  std::vector<char> buf_;
  std::size_t len_ = 0;
  bool parsed_ = false;
  // DOM rather than On-Demand: the DOM parser picks the CPU's kernel at run time.
  simdjson::dom::parser parser_;
  simdjson::dom::element doc_;
};

// ISO-8601 UTC text (as the events write it) to milliseconds since the epoch.
bool parse_iso_ms(std::string_view text, int64_t& out);

// A Beats format string. Throws std::invalid_argument with the reason when malformed.
class FormatString {
 public:
  FormatString() = default;
  explicit FormatString(std::string_view text);

  // Appends the rendered text to `out`. False when a field is missing and has no
  // default (out is then unspecified).
  bool render(EventView& ev, std::string& out) const;
  bool constant() const { return constant_; }
  const std::string& text() const { return text_; }
  bool empty() const { return text_.empty(); }

 private:
  struct Part {
    enum Kind { kText, kField, kTime } kind;
    std::string value;  // literal text, JSON pointer or time pattern
    std::string fallback;
    bool has_fallback = false;
  };
  std::string text_;
  std::vector<Part> parts_;
  bool constant_ = true;
};

// A `when` condition. parse() throws std::invalid_argument naming the sub-key.
class Condition {
 public:
  virtual ~Condition() = default;
  virtual bool match(EventView& ev) const = 0;
  static std::unique_ptr<Condition> parse(const YAML::Node& n);
};

// `topic` + `topics` (or `index` + `indices`, ...): rules first, in order; the first
// that matches and yields a name wins; otherwise the single format.
class Selector {
 public:
  Selector() = default;
  // `section` holds `single_key` and/or `list_key`. Throws std::invalid_argument
  // whose message starts with the offending key ("topics[1].when: ...").
  Selector(const YAML::Node& section, const std::string& single_key, const std::string& list_key);

  // Writes the chosen name into `out` (cleared first). False when nothing matched.
  bool select(EventView& ev, std::string& out) const;
  // True when every event gets the same name (no rules, constant format).
  bool constant() const { return rules_.empty() && single_.constant(); }
  bool empty() const { return rules_.empty() && single_.empty(); }

 private:
  struct Rule {
    FormatString format;
    std::map<std::string, std::string> mappings;
    std::string fallback;
    bool has_fallback = false;
    std::unique_ptr<Condition> when;
  };
  std::vector<Rule> rules_;
  FormatString single_;
};

}  // namespace tapbeat
