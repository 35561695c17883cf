// Small text encoders used by event writers: base64, hex, MAC and IP text, times.
// Pure functions writing into caller buffers; no allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "util/ip_bytes.hpp"

namespace tapbeat {

// Standard base64 with padding (RFC 4648 §4). out needs 4*ceil(n/3) bytes.
std::size_t base64_encode(const uint8_t* in, std::size_t n, char* out);
// Hex of n bytes, lower case (upper: upper case); out needs 2n bytes.
void hex_encode(const uint8_t* in, std::size_t n, char* out, bool upper = false);
// The value of a hex digit in either case; -1 for any other byte.
constexpr int hex_value(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}
// URL-safe alphabet without padding (RFC 4648 §5).
std::size_t base64url_encode(const uint8_t* in, std::size_t n, char* out);

// "AA-BB-CC-DD-EE-FF", upper case, as Beats writes MACs (ECS). out: 17 bytes.
void format_mac(const uint8_t mac[6], char* out);

// Dotted quad or RFC 5952 text. out: 46 bytes. Returns the length.
std::size_t format_ip(const IpBytes& ip, uint8_t version, char* out);

// "2006-01-02T15:04:05.000Z" (24 bytes), the Beats @timestamp form.
std::size_t format_time_ms(uint64_t unix_ns, char* out);
// "2006-01-02T15:04:05" plus a fraction of exactly `digits` digits (0-9) and "Z":
// Beats' timestamp.precision (millisecond, microsecond, nanosecond). out: 31 bytes.
std::size_t format_time_digits(uint64_t unix_ns, int digits, char* out);
// RFC 3339 with nanoseconds, trailing zeros trimmed (Go's RFC3339Nano). out: 32 bytes.
std::size_t format_time_nano(uint64_t unix_ns, char* out);
// "2006-01-02T15:04:05" (19 bytes) of a broken-down UTC time (struct tm's fields: years
// since 1900, months 0-11); years outside 0-9999 are written modulo 10000.
void format_civil(int tm_year, int tm_mon, int tm_mday, int tm_hour, int tm_min, int tm_sec, char* out);

}  // namespace tapbeat
