// HTTP/1.x message heads and URL parameters, parsed in place (views into the
// caller's bytes; no allocation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tapbeat::http {

struct Header {
  std::string_view name;   // as sent
  std::string_view value;  // without surrounding blanks
};

struct Head {
  static constexpr uint32_t kMaxHeaders = 128;
  bool response = false;
  std::string_view method, uri;  // request
  std::string_view version;      // "1.1"
  uint16_t status = 0;           // response
  std::string_view phrase;
  Header headers[kMaxHeaders];
  uint32_t n_headers = 0;
  uint32_t dropped_headers = 0;  // beyond kMaxHeaders

  // First header of that name (case-insensitive); empty view when absent.
  std::string_view get(std::string_view lower_name) const;
  bool has(std::string_view lower_name) const;
};

// What the first bytes of a message are: a request line, a status line, not HTTP,
// or too few bytes to say.
enum class StartKind { kRequest, kResponse, kNotHttp, kNeedMore };
StartKind start_kind(const uint8_t* p, std::size_t n);

// Offset just past the blank line that ends the head, or 0 when it is not there yet.
std::size_t head_end(const uint8_t* p, std::size_t n);

// Parses a whole head (start line and header lines). False when the start line is
// not HTTP/1.x.
bool parse_head(std::string_view text, Head& out);

bool iequals(std::string_view a, std::string_view lower);
bool icontains(std::string_view hay, std::string_view lower_needle);

// URL-encoded parameters (a query string or a form body): decoded, the values of
// `hidden` keys (lower case) replaced by "xxxxx", sorted by key and re-encoded the
// way Go's url.Values.Encode does (Packetbeat's url.query). Returns the length
// written to out (truncated at cap).
struct KeywordList {
  const std::string_view* items = nullptr;
  std::size_t n = 0;
};
std::size_t encode_params(std::string_view query, std::string_view form, KeywordList hidden, char* out,
                          std::size_t cap);

// user name of an "Authorization: Basic ..." value; empty when there is none.
std::size_t basic_auth_user(std::string_view authorization, char* out, std::size_t cap);

}  // namespace tapbeat::http
