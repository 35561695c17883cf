// What the HTTP decoder's two halves share: http_decoder.cpp frames and pairs
// messages, http_event.cpp writes a transaction's fields. Internal to this folder.
#pragma once

#include <simdjson.h>

#include <cstdint>

#include "decode/http/http_decoder.hpp"
#include "decode/http/http_wire.hpp"
#include "util/bounded_text.hpp"

namespace tapbeat {

// HttpMessage::flags.
enum Flag : uint8_t {
  kResponse = 1,
  kLossy = 2,         // bytes of this message were missing from the capture
  kHeadRequest = 4,   // a HEAD request: its response has no body
  kBodyKept = 8,      // body bytes follow the head in the text
  kIncludeBody = 16,  // the body goes into the event (include_*body_for)
  kTruncated = 32,    // the text kept is shorter than the message
  kChunked = 64,
  kConnect = 128,  // a CONNECT request: a 2xx answer opens a tunnel
};

struct HttpDecoder::Scratch {
  http::Head req_head, resp_head;
  http::HeadCache heads;  // parsed as messages start, taken again when they are written
  uint8_t req[kMaxKeptBytes];
  uint8_t resp[kMaxKeptBytes];
  uint8_t inflated[kMaxKeptBytes + simdjson::SIMDJSON_PADDING];
  char params[32 * 1024];
  // url.path, `query` and url.full as long as a head may make them (a path cut would be
  // a path Packetbeat writes whole): the path decoded, escaped again for url.full.
  char path[kMaxHeadBytes];
  char escaped[3 * kMaxHeadBytes];
  BoundedText<kMaxHeadBytes + 32> query_line;                 // method, a space, the path
  BoundedText<3 * kMaxHeadBytes + sizeof params + 512> full;  // scheme, host, port, path, parameters
  char joined[16 * 1024];
  char raw[2][kMaxHeadBytes];
  char note[512];
  simdjson::dom::parser json;
};

}  // namespace tapbeat
