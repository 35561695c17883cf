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

// What a head shows that servers and proxies may read differently (the shapes of
// request smuggling) or that is not HTTP/1.1 as written: published, with a note.
enum Anomaly : uint16_t {
  kNoVersion = 1,          // a request line without a version: HTTP/0.9
  kNoTarget = 2,           // a request line without a target
  kFolded = 4,             // obsolete line folding (a header continued on the next line)
  kLengthMismatch = 8,     // Content-Length repeated with different values, or not a number
  kLengthAndChunked = 16,  // Content-Length and Transfer-Encoding together
  kOtherCoding = 32,       // Transfer-Encoding whose last coding is not chunked
  kBadStatus = 64,         // a status code that is not three digits ("2XX", "2", "2000"): its
                           // leading digits, when one to three, are the code, as tshark reads it
  kHeadersDropped = 128,   // more header lines than Head keeps: the rest not kept (framing still read)
};

// A field added here is copied in HeadCache::reparse() too.
struct Head {
  static constexpr uint32_t kMaxHeaders = 128;
  // Past kMaxHeaders, the headers the decoder and the event read (framing, Host, the
  // types and the fields Packetbeat publishes) still find a slot in this many more.
  static constexpr uint32_t kReserved = 16;
  bool response = false;
  bool chunked = false;         // Transfer-Encoding's last coding is chunked
  bool has_length = false;      // a Content-Length that reads as a number
  uint16_t anomalies = 0;       // Anomaly bits
  uint64_t content_length = 0;  // the first Content-Length
  // A second Content-Length with another value (request smuggling's "CL.CL"); kNoLength
  // when none. The decoder frames the body by the one the next message follows.
  static constexpr uint64_t kNoLength = ~uint64_t{0};
  uint64_t other_length = kNoLength;
  std::string_view method, uri;  // request
  std::string_view version;      // "1.1" ("0.9" for a request line without one)
  uint16_t status = 0;           // response
  std::string_view phrase;
  Header headers[kMaxHeaders + kReserved];
  uint32_t n_headers = 0;
  uint32_t dropped_headers = 0;  // header lines not kept

  // Empty again, as constructed: every field but the header slots, which n_headers
  // bounds (a Head{} assigned would zero and copy all 128 of them, 4 KiB, per message).
  void reset() {
    response = chunked = has_length = false;
    anomalies = 0;
    content_length = 0;
    other_length = kNoLength;
    method = uri = version = phrase = {};
    status = 0;
    n_headers = dropped_headers = 0;
  }
  // First header of that name (case-insensitive); empty view when absent.
  std::string_view get(std::string_view lower_name) const;
  bool has(std::string_view lower_name) const;
};

// What the first bytes of a message are: a request line, a status line, not HTTP,
// or too few bytes to say. A status line starts "HTTP/<digit>" in any case. A
// request line is a method (any RFC 9110 token, at most 32 characters) and a
// target: an upper-case method may be followed by any target, or by nothing (a
// request line without a target); another token needs "/", "*" or "scheme://".
enum class StartKind { kRequest, kResponse, kNotHttp, kNeedMore };
StartKind start_kind(const uint8_t* p, std::size_t n);

// Offset just past the blank line that ends the head, or 0 when it is not there yet.
std::size_t head_end(const uint8_t* p, std::size_t n);

// Offset just past the first line's LF, or 0 when it is not there yet.
std::size_t line_end(const uint8_t* p, std::size_t n);

// True when a request line carries no version (HTTP/0.9: the head is that line).
bool versionless_request_line(std::string_view line);

// Parses a whole head (start line and header lines). False when the start line is
// neither a status line nor a request line.
bool parse_head(std::string_view text, Head& out);

// Transfer-Encoding's value: whether its last coding is chunked; whether every coding
// it names is "identity".
bool last_coding_chunked(std::string_view value);
bool only_identity(std::string_view value);

// Content-Length's value: a number, or a list of equal ones ("5, 5"). False for
// anything else (a mismatch, as servers that refuse it read it).
bool read_length(std::string_view value, uint64_t& out);

// Which framing header a header line (without its line end) is, with its value.
enum class FramingHeader : uint8_t { kNone, kLength, kCoding };
FramingHeader framing_header(std::string_view line, std::string_view& value);

// The last few heads parsed, each with its own copy of the text. A message's head is
// parsed when the message starts and again when its transaction is written (from the
// copy kept with the message); the second time, a head whose text equals a remembered
// one is taken from it, its views moved onto the new text, not parsed again (the parse
// reads the text alone, so equal text gives an equal head).
class HeadCache {
 public:
  static constexpr std::size_t kSlots = 16;
  static constexpr std::size_t kMaxText = 4096;  // longer heads are parsed each time

  // parse_head() of text, remembered (heads up to kMaxText bytes): the head, its views
  // into the cache's copy (a longer head's into text), valid until the next parse();
  // null when text is not a head.
  const Head* parse(std::string_view text);
  // parse_head() of text, from a remembered head when one has this text.
  bool reparse(std::string_view text, Head& out) const;

 private:
  struct Slot {
    uint32_t len = 0;  // 0: empty
    bool ok = false;
    Head head;
    char text[kMaxText];
  };
  Slot slots_[kSlots];
  std::size_t next_ = 0;
  Head long_;  // a head longer than kMaxText
};

// Whether n bytes of a, in any case, are the lower-case bytes of l.
bool iequals_bytes(const char* a, const char* l, std::size_t n);
// The lengths compared inline first: most header names are told apart by theirs.
inline bool iequals(std::string_view a, std::string_view lower) {
  return a.size() == lower.size() && iequals_bytes(a.data(), lower.data(), a.size());
}
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

// A request path as Go's url.Parse gives it (Packetbeat's url.path): percent
// escapes decoded, '+' kept. False on a bad escape (out then holds what was decoded
// before it). len is the length written (decoded bytes past cap are dropped).
bool path_unescape(std::string_view in, char* out, std::size_t cap, std::size_t& len);
// A decoded path escaped for url.full as Go's URL.String() escapes it. Returns the
// length written (stops before an escape that would pass cap).
std::size_t path_escape(std::string_view in, char* out, std::size_t cap);

// user name of an "Authorization: Basic ..." value; empty when there is none.
std::size_t basic_auth_user(std::string_view authorization, char* out, std::size_t cap);

}  // namespace tapbeat::http
