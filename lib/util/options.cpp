#include "util/options.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace tapbeat {

std::optional<int64_t> parse_duration_ns(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t i = 0;
  bool neg = false;
  if (text[0] == '-' || text[0] == '+') {
    neg = text[0] == '-';
    i = 1;
  }
  if (i == text.size()) return std::nullopt;
  // A bare number means seconds, as in Beats.
  if (text.find_first_not_of("0123456789.", i) == std::string::npos) {
    char* end = nullptr;
    const double secs = std::strtod(text.c_str() + i, &end);
    if (*end != '\0' || !std::isfinite(secs) || secs > 9.2e9) return std::nullopt;
    const int64_t ns = static_cast<int64_t>(std::llround(secs * 1e9));
    return neg ? -ns : ns;
  }
  long double total = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (i == start) return std::nullopt;
    char* end = nullptr;
    const std::string num = text.substr(start, i - start);
    const long double v = std::strtold(num.c_str(), &end);
    if (*end != '\0') return std::nullopt;
    const std::size_t ustart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const std::string unit = text.substr(ustart, i - ustart);
    if (unit == "ns")
      total += v;
    else if (unit == "us" || unit == "µs")
      total += v * 1e3L;
    else if (unit == "ms")
      total += v * 1e6L;
    else if (unit == "s")
      total += v * 1e9L;
    else if (unit == "m")
      total += v * 60e9L;
    else if (unit == "h")
      total += v * 3600e9L;
    else
      return std::nullopt;
  }
  if (total > 9.2e18L) return std::nullopt;
  const int64_t ns = static_cast<int64_t>(total);
  return neg ? -ns : ns;
}

std::optional<bool> parse_bool_text(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "true" || s == "yes" || s == "on" || s == "y") return true;
  if (s == "false" || s == "no" || s == "off" || s == "n") return false;
  return std::nullopt;
}

}  // namespace tapbeat
