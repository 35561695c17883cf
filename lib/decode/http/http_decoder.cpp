#include "decode/http/http_decoder.hpp"

#include <simdjson.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "decode/http/http_parse.hpp"
#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "util/bounded_text.hpp"
#include "util/encode.hpp"

namespace tapbeat {
namespace {

using http::Head;

enum Phase : uint8_t {
  kStart,
  kBody,
  kChunkSize,
  kChunkData,
  kChunkEnd,
  kTrailer,
  kUntilClose,
  kResync,
  kUpgraded,
  kHeadRest
};

// HttpMessage::notes: the head's http::Anomaly bits, and these.
enum Note : uint8_t {
  kNoteBadChunk = 64,  // chunk framing broken: the message ends there
  kNoteHeadCut = 128,  // head longer than kMaxHeadBytes
};
static_assert((http::kNoVersion | http::kNoTarget | http::kFolded | http::kLengthMismatch |
               http::kLengthAndChunked | http::kOtherCoding) < kNoteBadChunk);
constexpr uint8_t kAmbiguous =
    http::kFolded | http::kLengthMismatch | http::kLengthAndChunked | http::kOtherCoding;

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

// Packetbeat's notes (packetbeat/protos/http).
constexpr const char* kUnmatchedRequest = "Unmatched request";
constexpr const char* kUnmatchedResponse = "Unmatched response";
constexpr const char* kLossRequest = "Packet loss while capturing the request";
constexpr const char* kLossResponse = "Packet loss while capturing the response";

// Bytes skipped looking for the first message start of a direction before the
// stream is declared not HTTP.
constexpr uint32_t kMaxSkip = 64 * 1024;
constexpr uint64_t kMaxChunk = 1ull << 40;

static_assert(sizeof(HttpState) <= kDecoderStateBytes, "HTTP connection state must fit the session slot");
static_assert(std::is_trivially_copyable_v<HttpState>);

bool matches_any(std::string_view content_type, const std::vector<std::string>& list) {
  if (content_type.empty()) return false;
  for (const std::string& s : list)
    if (http::icontains(content_type, s)) return true;
  return false;
}

bool listed(std::string_view name, const std::vector<std::string>& list) {
  for (const std::string& s : list)
    if (http::iequals(name, s)) return true;
  return false;
}

bool parse_uint(std::string_view s, uint64_t& v) {
  v = 0;
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

// A MIME type from the first bytes of a body (for http.*.mime_type).
const char* sniff_mime(std::string_view b) {
  std::string_view s = b;
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  if (s.size() >= 3 && static_cast<uint8_t>(s[0]) == 0x1f && static_cast<uint8_t>(s[1]) == 0x8b)
    return "application/gzip";
  if (s.starts_with("%PDF-")) return "application/pdf";
  if (s.starts_with("\x89PNG")) return "image/png";
  if (s.starts_with("GIF8")) return "image/gif";
  if (s.starts_with("\xff\xd8\xff")) return "image/jpeg";
  if (http::icontains(s.substr(0, 64), "<!doctype html") || http::icontains(s.substr(0, 64), "<html") ||
      http::icontains(s.substr(0, 64), "<head") || http::icontains(s.substr(0, 64), "<body"))
    return "text/html; charset=utf-8";
  if (s.starts_with("<?xml")) return "text/xml; charset=utf-8";
  if (!s.empty() && (s.front() == '{' || s.front() == '[')) {
    const char last = s.back();
    if (last == '}' || last == ']' || last == '\n') return "application/json";
  }
  // Text when every byte is printable ASCII, a blank, or part of UTF-8.
  for (unsigned char c : b.substr(0, 512))
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') return "application/octet-stream";
  return "text/plain; charset=utf-8";
}

}  // namespace

struct HttpDecoder::Scratch {
  Head req_head, resp_head, start_head;
  uint8_t req[kMaxKeptBytes];
  uint8_t resp[kMaxKeptBytes];
  uint8_t inflated[kMaxKeptBytes + simdjson::SIMDJSON_PADDING];
  char params[32 * 1024];
  char joined[16 * 1024];
  char raw[2][kMaxHeadBytes];
  char note[512];
  simdjson::dom::parser json;
};

HttpDecoder::HttpDecoder(const DecoderSetup& s)
    : DecoderCommon<HttpStat>(s), cfg_(s.settings<HttpSettings>()), scratch_(std::make_unique<Scratch>()) {
  if (scratch_->json.allocate(kMaxKeptBytes)) throw std::bad_alloc();
}

HttpDecoder::~HttpDecoder() = default;

void HttpDecoder::open(void* state) {
  auto& st = *static_cast<HttpState*>(state);
  st = HttpState{};
  st.client = -1;
  for (auto& d : st.dir) d.msg.text = ChainStore::Chain{};
  for (auto& m : st.pending) m.text = ChainStore::Chain{};
}

void HttpDecoder::release(HttpMessage& m) { store_.release(m.text); }

void HttpDecoder::keep(HttpState::Dir& d, const uint8_t* p, uint32_t n) {
  if (!d.keep || n == 0) return;
  const uint32_t room = d.kept_limit > d.msg.text.len ? d.kept_limit - d.msg.text.len : 0;
  const uint32_t want = std::min(n, room);
  const uint32_t got = store_.append(d.msg.text, p, want);
  if (got < want) counters_.inc(HttpStat::store_full);
  if (got < n) {
    d.msg.flags |= kTruncated;
    d.keep = 0;
  }
}

bool HttpDecoder::start_message(HttpState& st, const StreamInfo& c, int dir, std::span<const uint8_t> head,
                                bool cut) {
  Head& h = scratch_->start_head;  // publish() (reachable from here) uses the other two
  if (!http::parse_head(std::string_view(reinterpret_cast<const char*>(head.data()), head.size()), h))
    return false;
  HttpState::Dir& d = st.dir[dir];
  d.seen = 1;
  const uint64_t first_ns = d.head_ns ? d.head_ns : c.ts_ns;
  d.head_ns = 0;
  if (h.response && h.status >= 100 && h.status < 200 && h.status != 101 && !cut) {
    counters_.inc(HttpStat::informational);  // 100 Continue, 103 Early Hints: the final response follows
    return true;
  }
  if (st.client < 0) st.client = static_cast<int8_t>(h.response ? 1 - dir : dir);
  if (h.response && dir != st.client && st.dir[st.client].active) {
    // The server answers before the request's body is all there (a body shorter
    // than its Content-Length, a client that stops sending): the request ends here.
    st.dir[st.client].msg.flags |= kTruncated;
    complete(st, c, st.client);
  }
  d.active = 1;
  d.msg = HttpMessage{};
  d.msg.start_ns = first_ns;
  d.msg.bytes = head.size();
  d.msg.head_len = static_cast<uint32_t>(head.size());
  d.msg.status = h.status;
  d.msg.notes = h.anomalies;
  if (cut) d.msg.notes |= kNoteHeadCut;
  if (h.anomalies & kAmbiguous) counters_.inc(HttpStat::ambiguous_framing);
  if (h.anomalies & http::kNoVersion) counters_.inc(HttpStat::versionless_requests);
  if (h.response) d.msg.flags |= kResponse;
  if (const uint32_t got = store_.append(d.msg.text, head.data(), static_cast<uint32_t>(head.size()));
      got < head.size()) {
    counters_.inc(HttpStat::store_full);
    d.msg.flags |= kTruncated;
  }
  counters_.inc(h.response ? HttpStat::responses : HttpStat::requests);

  // Framing as RFC 9112 6.3 reads it: chunked as the last coding wins over any
  // Content-Length; another coding delimits a response by the close and leaves a
  // request without a body (a server answers 400); the first Content-Length.
  const uint64_t content_length = h.content_length;
  const bool has_length = h.has_length && !(h.anomalies & http::kOtherCoding);
  if (h.anomalies & http::kLengthMismatch) counters_.inc(HttpStat::bad_content_length);
  const bool chunked = h.chunked;
  const std::string_view type = h.get("content-type");

  // What is kept of the body: what the event includes, and a request's form
  // parameters (url.query).
  const bool include = matches_any(type, h.response ? cfg_.response_body_for : cfg_.request_body_for);
  const bool form = !h.response && http::icontains(type, "x-www-form-urlencoded");
  d.keep = (include || form) && !(d.msg.flags & kTruncated);
  d.kept_limit = static_cast<uint32_t>(std::min<uint64_t>(cfg_.max_message_size, kMaxKeptBytes));
  if (d.keep) d.msg.flags |= kBodyKept;
  if (include) d.msg.flags |= kIncludeBody;

  bool body = false;
  if (h.response) {
    const bool to_head = st.n_pending > 0 && (st.pending[st.first_pending].flags & kHeadRequest);
    const bool to_connect = st.n_pending > 0 && (st.pending[st.first_pending].flags & kConnect);
    if (h.status == 101 || (to_connect && h.status >= 200 && h.status < 300)) {
      d.phase = kUpgraded;  // the connection leaves HTTP (WebSocket, h2c, a CONNECT tunnel)
    } else if (to_head || h.status == 204 || h.status == 304) {
    } else if (chunked) {
      d.phase = kChunkSize, body = true;
    } else if (has_length) {
      d.left = content_length, body = content_length > 0;
      if (body) d.phase = kBody;
    } else {
      d.phase = kUntilClose, body = true;  // ends when the server closes (HTTP/1.0 style)
    }
  } else {
    if (http::iequals(h.method, "head")) d.msg.flags |= kHeadRequest;
    if (http::iequals(h.method, "connect")) d.msg.flags |= kConnect;
    if (chunked) {
      d.phase = kChunkSize, body = true;
    } else if (has_length && content_length > 0) {
      d.left = content_length, body = true;
      d.phase = kBody;
    }
  }
  if (chunked) d.msg.flags |= kChunked;
  if (cut) {
    // The rest of the head streams by uncounted in the text; the framing read from
    // its first kMaxHeadBytes applies after its blank line.
    d.rest_phase = d.phase;
    d.rest_body = body;
    d.eol = 1;
    d.phase = kHeadRest;
    return true;
  }
  if (!body) {
    const bool upgraded = d.phase == kUpgraded;
    complete(st, c, dir);
    if (upgraded) d.phase = kUpgraded;
  }
  return true;
}

void HttpDecoder::start_headless(HttpState& st, const StreamInfo& c, int dir) {
  // The answer to an HTTP/0.9 request: no status line, no headers, a body that
  // ends when the server closes.
  HttpState::Dir& d = st.dir[dir];
  d.active = 1;
  d.seen = 1;
  d.msg = HttpMessage{};
  d.msg.start_ns = d.head_ns ? d.head_ns : c.ts_ns;
  d.head_ns = 0;
  d.msg.flags = kResponse;
  d.msg.notes = http::kNoVersion;
  d.keep = 0;
  d.phase = kUntilClose;
  counters_.inc(HttpStat::responses);
}

void HttpDecoder::framing_error(HttpState& st, const StreamInfo& c, int dir) {
  // Chunk framing no server would accept: the message ends here with a note, and
  // the direction looks for the next message start.
  HttpState::Dir& d = st.dir[dir];
  counters_.inc(HttpStat::bad_chunks);
  d.msg.notes |= kNoteBadChunk;
  d.msg.flags |= kTruncated;
  complete(st, c, dir);
  d.phase = kResync;
}

const char* HttpDecoder::compose_note(const char* note, uint8_t notes) {
  if (!notes) return note;
  static constexpr std::pair<uint8_t, const char*> kTexts[] = {
      {http::kNoVersion, "HTTP/0.9 request: no version on the request line"},
      {http::kNoTarget, "request line without a target"},
      {http::kFolded, "obsolete line folding in a header"},
      {http::kLengthMismatch,
       "Content-Length repeated with different values or not a number; the first used"},
      {http::kLengthAndChunked, "Content-Length and Transfer-Encoding together; framed by Transfer-Encoding"},
      {http::kOtherCoding, "Transfer-Encoding without chunked as its last coding"},
      {kNoteBadChunk, "invalid chunk framing; the message ends there"},
      {kNoteHeadCut, "head longer than 64 KiB; cut"},
  };
  BoundedText<sizeof scratch_->note - 1> out;
  if (note) out.append(note);
  for (const auto& [bit, text] : kTexts) {
    if (!(notes & bit)) continue;
    if (!out.view().empty()) out.append("; ");
    out.append(text);
  }
  const std::string_view v = out.view();
  std::memcpy(scratch_->note, v.data(), v.size());
  scratch_->note[v.size()] = '\0';
  return scratch_->note;
}

void HttpDecoder::complete(HttpState& st, const StreamInfo& c, int dir) {
  HttpState::Dir& d = st.dir[dir];
  HttpMessage m = d.msg;
  m.end_ns = c.ts_ns;
  d.msg = HttpMessage{};
  d.active = 0;
  d.phase = kStart;
  d.keep = 0;
  if (!(m.flags & kResponse)) {
    if (st.n_pending == HttpState::kMaxPending) {
      // More requests in flight than the state holds: this one goes out unanswered
      // (the earlier ones keep their place in line for the responses to come).
      counters_.inc(HttpStat::pipeline_overflow);
      publish(c, st.client, &m, nullptr, kUnmatchedRequest);
      release(m);
      return;
    }
    st.pending[(st.first_pending + st.n_pending) % HttpState::kMaxPending] = m;
    ++st.n_pending;
    return;
  }
  if (st.n_pending == 0) {
    counters_.inc(HttpStat::unmatched_responses);
    publish(c, st.client, nullptr, &m, kUnmatchedResponse);
  } else {
    HttpMessage& req = st.pending[st.first_pending];
    publish(c, st.client, &req, &m, nullptr);
    release(req);
    st.first_pending = static_cast<uint8_t>((st.first_pending + 1) % HttpState::kMaxPending);
    --st.n_pending;
  }
  release(m);
}

DecodeResult HttpDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) {
  HttpState& st = *static_cast<HttpState*>(state);
  HttpState::Dir& d = st.dir[dir];
  const uint8_t* p = bytes.data();
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  uint32_t off = 0;
  // Bytes that start no message are passed over and counted; false when the
  // direction never showed a message start within kMaxSkip (it is not HTTP).
  auto pass_over = [&](uint32_t len) {
    if (!d.seen && d.skipped + len > kMaxSkip) return false;
    d.skipped += len;
    d.head_ns = 0;
    counters_.inc(HttpStat::skipped_bytes, len);
    d.phase = kResync;
    return true;
  };
  while (off < n) {
    switch (d.phase) {
      case kUpgraded:
        return {n, 0, Verdict::kDone};
      case kResync:
      case kStart: {
        while (off < n && (p[off] == '\r' || p[off] == '\n')) ++off;
        if (off == n) break;
        if (d.head_ns == 0) d.head_ns = c.ts_ns;  // the message's first packet
        const http::StartKind k = http::start_kind(p + off, n - off);
        if (k == http::StartKind::kNeedMore) return {off, n - off + 1, Verdict::kNeedMore};
        if (st.client >= 0 && dir != st.client && k != http::StartKind::kResponse && st.n_pending > 0 &&
            (st.pending[st.first_pending].notes & http::kNoVersion)) {
          start_headless(st, c, dir);  // the answer to an HTTP/0.9 request
          break;
        }
        if (k == http::StartKind::kNotHttp) {
          // A capture that starts mid-message, or bytes after a hole: skip this
          // segment's bytes and look again at the next.
          if (!pass_over(n - off)) return {off, 0, Verdict::kViolation};
          return {n, 0, Verdict::kOk};
        }
        std::size_t end = http::head_end(p + off, n - off);
        if (k == http::StartKind::kRequest && end == 0) {
          // A request line without a version (HTTP/0.9) is the whole head when
          // nothing follows it yet; header lines after it are read up to the
          // blank line, as servers that accept such lines (and Suricata) read them.
          const std::size_t le = http::line_end(p + off, n - off);
          if (le == n - off && http::versionless_request_line({reinterpret_cast<const char*>(p + off), le}))
            end = le;
        }
        bool cut = false;
        if (end == 0) {
          if (n - off < kMaxHeadBytes) return {off, n - off + 1, Verdict::kNeedMore};
          // A head past the limit: its first kMaxHeadBytes, up to the last whole
          // line, are the head; the rest is passed over to its blank line.
          counters_.inc(HttpStat::head_too_large);
          const uint8_t* q = p + off;
          std::size_t last = kMaxHeadBytes;
          while (last > 0 && q[last - 1] != '\n') --last;
          end = last;
          cut = true;
        }
        d.phase = kStart;
        if (end == 0 || !start_message(st, c, dir, {p + off, end}, cut)) {
          // Starts like a message but does not parse (a status line without a
          // three-digit code, a first line past kMaxHeadBytes): passed over.
          counters_.inc(HttpStat::malformed);
          const uint32_t skip = end ? static_cast<uint32_t>(end) : n - off;
          if (!pass_over(skip)) return {off, 0, Verdict::kViolation};
          off += skip;
          break;
        }
        off += static_cast<uint32_t>(end);
        break;
      }
      case kHeadRest: {
        // The rest of a cut head, up to its blank line (LF, optional CR, LF).
        uint32_t i = off;
        bool done = false;
        while (i < n && !done) {
          const uint8_t ch = p[i++];
          if (ch == '\n') {
            done = d.eol;
            d.eol = 1;
          } else if (ch != '\r') {
            d.eol = 0;
          }
        }
        d.msg.bytes += i - off;
        off = i;
        if (done) {
          d.phase = d.rest_phase;
          if (!d.rest_body) {
            const bool upgraded = d.phase == kUpgraded;
            complete(st, c, dir);
            if (upgraded) d.phase = kUpgraded;
          }
        }
        break;
      }
      case kBody:
      case kChunkData:
      case kUntilClose: {
        uint64_t k = n - off;
        if (d.phase != kUntilClose && k > d.left) k = d.left;
        keep(d, p + off, static_cast<uint32_t>(k));
        d.msg.body_bytes += k;
        d.msg.bytes += k;
        off += static_cast<uint32_t>(k);
        if (d.phase != kUntilClose) {
          d.left -= k;
          if (d.left == 0) {
            if (d.phase == kBody)
              complete(st, c, dir);
            else
              d.phase = kChunkEnd;
          }
        }
        break;
      }
      case kChunkSize: {
        const void* lf = std::memchr(p + off, '\n', n - off);
        if (!lf) {
          if (n - off > 1024) {
            framing_error(st, c, dir);
            break;
          }
          return {off, n - off + 1, Verdict::kNeedMore};
        }
        const uint32_t line = static_cast<uint32_t>(static_cast<const uint8_t*>(lf) - (p + off)) + 1;
        uint64_t size = 0;
        uint32_t i = 0;
        int digit;
        while (i < line && (digit = [](uint8_t ch) {
                             if (ch >= '0' && ch <= '9') return ch - '0';
                             if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
                             if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
                             return -1;
                           }(p[off + i])) >= 0) {
          size = size << 4 | static_cast<uint64_t>(digit);
          if (size > kMaxChunk) break;
          ++i;
        }
        // Leading zeros are read as the number they pad; a size past kMaxChunk
        // (2^40: no real body, and what overflows 64 bits in a lax parser) or no
        // digit at all ends the message.
        if (i == 0 || size > kMaxChunk) {
          framing_error(st, c, dir);
          off += line;
          break;
        }
        d.msg.bytes += line;
        off += line;
        if (size == 0) {
          d.phase = kTrailer;
        } else {
          d.left = size;
          d.phase = kChunkData;
        }
        break;
      }
      case kChunkEnd: {
        if (p[off] == '\n') {
          off += 1, d.msg.bytes += 1;
        } else if (p[off] == '\r') {
          if (n - off < 2) return {off, 2, Verdict::kNeedMore};
          if (p[off + 1] != '\n') {
            framing_error(st, c, dir);
            break;
          }
          off += 2, d.msg.bytes += 2;
        } else {
          framing_error(st, c, dir);  // chunk data longer than its size said
          break;
        }
        d.phase = kChunkSize;
        break;
      }
      case kTrailer: {
        const void* lf = std::memchr(p + off, '\n', n - off);
        if (!lf) {
          if (n - off > 8192) {
            framing_error(st, c, dir);
            break;
          }
          return {off, n - off + 1, Verdict::kNeedMore};
        }
        const uint32_t line = static_cast<uint32_t>(static_cast<const uint8_t*>(lf) - (p + off)) + 1;
        const bool blank = line == 1 || (line == 2 && p[off] == '\r');
        d.msg.bytes += line;
        off += line;
        if (blank) complete(st, c, dir);
        break;
      }
    }
  }
  return {off, 0, Verdict::kOk};
}

bool HttpDecoder::gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
  HttpState& st = *static_cast<HttpState*>(state);
  HttpState::Dir& d = st.dir[dir];
  counters_.inc(HttpStat::gaps);
  if (d.active && (d.phase == kBody || d.phase == kChunkData || d.phase == kUntilClose) &&
      (d.phase == kUntilClose || len <= d.left)) {
    // The hole lies inside the body: the message is still whole in its framing.
    d.msg.flags |= kLossy | kTruncated;
    d.keep = 0;
    d.msg.bytes += len;
    d.msg.body_bytes += len;
    if (d.phase != kUntilClose) {
      d.left -= len;
      if (d.left == 0) {
        if (d.phase == kBody)
          complete(st, c, dir);
        else
          d.phase = kChunkEnd;
      }
    }
    return true;
  }
  if (d.active && d.phase != kUpgraded) {
    // The framing is lost: what was seen of the message is published as lossy.
    d.msg.flags |= kLossy;
    complete(st, c, dir);
  }
  if (d.phase != kUpgraded) d.phase = kResync;
  d.head_ns = 0;
  return true;
}

void HttpDecoder::end(void* state, const StreamInfo& c, int dir) {
  // A body delimited by the close ends with the sender's FIN.
  HttpState& st = *static_cast<HttpState*>(state);
  if (st.dir[dir].active && st.dir[dir].phase == kUntilClose) complete(st, c, dir);
}

void HttpDecoder::close(void* state, const StreamInfo& c) {
  HttpState& st = *static_cast<HttpState*>(state);
  // Requests first, so that a response the close completes finds its request.
  for (int k = 0; k < 2; ++k) {
    const int dir = k == 0 ? (st.client < 0 ? 0 : st.client) : (st.client < 0 ? 1 : 1 - st.client);
    HttpState::Dir& d = st.dir[dir];
    if (!d.active) continue;
    if (d.phase != kUntilClose) d.msg.flags |= kLossy;  // cut short by the end of the connection
    complete(st, c, dir);
  }
  while (st.n_pending) {
    HttpMessage& req = st.pending[st.first_pending];
    counters_.inc(HttpStat::unmatched_requests);
    publish(c, st.client, &req, nullptr, kUnmatchedRequest);
    release(req);
    st.first_pending = static_cast<uint8_t>((st.first_pending + 1) % HttpState::kMaxPending);
    --st.n_pending;
  }
  for (auto& d : st.dir) store_.release(d.msg.text);
}

bool HttpDecoder::expire(void* state, const StreamInfo& c, uint64_t now_ns) {
  HttpState& st = *static_cast<HttpState*>(state);
  while (st.n_pending) {
    HttpMessage& req = st.pending[st.first_pending];
    if (req.start_ns + cfg_.timeout_ns >= now_ns) break;
    // A response on its way (e.g. one the close will end) answers this request.
    if (st.client >= 0 && st.dir[1 - st.client].active) break;
    counters_.inc(HttpStat::unmatched_requests);
    publish(c, st.client, &req, nullptr, kUnmatchedRequest);
    release(req);
    st.first_pending = static_cast<uint8_t>((st.first_pending + 1) % HttpState::kMaxPending);
    --st.n_pending;
  }
  return st.n_pending > 0 || st.dir[0].active || st.dir[1].active;
}

namespace {

// Body bytes for the event: decoded when the message says gzip or deflate.
std::string_view body_view(const Head& h, std::string_view body, bool decode, uint8_t* out, uint32_t cap,
                           CounterSet<HttpStat>& counters) {
  if (!decode) return body;
  const std::string_view enc = h.get("content-encoding");
  const bool gzip = http::icontains(enc, "gzip"), deflate = http::icontains(enc, "deflate");
  if (!gzip && !deflate) return body;
  for (int attempt = 0; attempt < 2; ++attempt) {
    z_stream z{};
    // gzip: gzip or zlib header (32 + 15); deflate: zlib, then raw as some servers send.
    const int bits = gzip ? 15 + 32 : attempt == 0 ? 15 : -15;
    if (inflateInit2(&z, bits) != Z_OK) return body;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
    z.avail_in = static_cast<uInt>(body.size());
    z.next_out = out;
    z.avail_out = cap;
    const int rc = inflate(&z, Z_FINISH);
    const uint32_t got = cap - z.avail_out;
    inflateEnd(&z);
    if (rc == Z_STREAM_END || rc == Z_BUF_ERROR || (rc == Z_OK && got > 0)) {
      if (rc != Z_STREAM_END) counters.inc(HttpStat::body_decode_partial);
      return {reinterpret_cast<const char*>(out), got};
    }
    if (gzip) break;
  }
  counters.inc(HttpStat::body_decode_failed);
  return body;
}

}  // namespace

void HttpDecoder::publish(const StreamInfo& c, int client, HttpMessage* req, HttpMessage* resp,
                          const char* note) {
  Scratch& s = *scratch_;
  std::string_view rq_text, rs_text;
  if (req) {
    const uint32_t n = store_.copy_out(req->text, s.req, kMaxKeptBytes);
    rq_text = {reinterpret_cast<const char*>(s.req), n};
    if (!http::parse_head(rq_text.substr(0, std::min<std::size_t>(n, req->head_len)), s.req_head))
      req = nullptr;
  }
  const bool headless = resp && resp->head_len == 0;  // the answer to an HTTP/0.9 request
  if (headless) {
    s.resp_head.n_headers = 0;
    s.resp_head.status = 0;
    s.resp_head.phrase = {};
    s.resp_head.version = "0.9";
  } else if (resp) {
    const uint32_t n = store_.copy_out(resp->text, s.resp, kMaxKeptBytes);
    rs_text = {reinterpret_cast<const char*>(s.resp), n};
    if (!http::parse_head(rs_text.substr(0, std::min<std::size_t>(n, resp->head_len)), s.resp_head))
      resp = nullptr;
  }
  if (!req && !resp) return;
  const Head& rq = s.req_head;
  const Head& rs = s.resp_head;
  if (req && resp) counters_.inc(HttpStat::transactions);

  TransactionFields t;
  t.type = "http";
  t.ok = req && resp && rs.status < 400;
  if (!note && req && (req->flags & kLossy)) note = kLossRequest;
  if (!note && resp && (resp->flags & kLossy)) note = kLossResponse;
  // The answer's own HTTP/0.9 mark repeats the request's.
  const uint8_t notes = (req ? req->notes : 0) | (resp ? resp->notes & ~(req ? http::kNoVersion : 0) : 0);
  t.error = compose_note(note, notes);
  t.start_ns = req ? req->start_ns : resp->start_ns;
  // Packetbeat's transaction ends when the response starts (its first packet).
  t.end_ns = resp ? resp->start_ns : req->end_ns;
  set_connection(t, c, client, 6, "http");
  t.client_bytes = req ? req->bytes : 0;
  t.server_bytes = resp ? resp->bytes : 0;

  // Host, path, parameters.
  std::string_view host, path, query_string, port_text;
  uint32_t port = t.server_port;
  if (req) {
    std::string_view uri = rq.uri;
    std::string_view host_hdr = rq.get("host");
    for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
      if (uri.size() > scheme.size() && http::iequals(uri.substr(0, scheme.size()), scheme)) {
        uri.remove_prefix(scheme.size());
        const std::size_t slash = uri.find('/');
        if (host_hdr.empty()) host_hdr = uri.substr(0, slash);
        uri = slash == std::string_view::npos ? std::string_view("/") : uri.substr(slash);
      }
    }
    const std::size_t hash = uri.find('#');
    if (hash != std::string_view::npos) uri = uri.substr(0, hash);
    const std::size_t q = uri.find('?');
    path = uri.substr(0, q);
    if (q != std::string_view::npos) query_string = uri.substr(q + 1);
    host = host_hdr;
    if (!host.empty() && host.front() == '[') {
      const std::size_t rb = host.find(']');
      if (rb != std::string_view::npos) {
        if (rb + 1 < host.size() && host[rb + 1] == ':') port_text = host.substr(rb + 2);
        host = host.substr(1, rb - 1);
      }
    } else if (const std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
      port_text = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    uint64_t p = 0;
    if (!port_text.empty() && parse_uint(port_text, p) && p > 0 && p < 65536) port = static_cast<uint32_t>(p);
  }
  char ip_text[48];
  if (req && host.empty()) host = std::string_view(ip_text, format_ip(t.server, t.ip_version, ip_text));
  const bool host_is_ip = !host.empty() && (host.find(':') != std::string_view::npos ||
                                            host.find_first_not_of("0123456789.") == std::string_view::npos);
  if (req && !host_is_ip) {
    t.server_domain = host;
    t.related_host = host;
  }

  // Form parameters from a url-encoded request body join the query string.
  std::string_view req_body = req && (req->flags & kBodyKept)
                                  ? rq_text.substr(std::min<std::size_t>(rq_text.size(), req->head_len))
                                  : std::string_view{};
  std::string_view resp_body = resp && (resp->flags & kBodyKept)
                                   ? rs_text.substr(std::min<std::size_t>(rs_text.size(), resp->head_len))
                                   : std::string_view{};
  std::string_view hidden_items[32];
  http::KeywordList hidden{hidden_items, std::min<std::size_t>(cfg_.hide_keywords.size(), 32)};
  for (std::size_t i = 0; i < hidden.n; ++i) hidden_items[i] = cfg_.hide_keywords[i];
  std::string_view params;
  const bool form = req && http::icontains(rq.get("content-type"), "x-www-form-urlencoded");
  if (req) {
    const std::size_t n = http::encode_params(query_string, form ? req_body : std::string_view{}, hidden,
                                              s.params, sizeof s.params);
    params = {s.params, n};
  }

  char user[256];
  std::size_t user_len = 0;
  if (req) user_len = http::basic_auth_user(rq.get("authorization"), user, sizeof user);
  if (user_len) t.related_user = {user, user_len};
  std::string_view forwarded;
  if (req && !cfg_.real_ip_header.empty()) {
    forwarded = rq.get(cfg_.real_ip_header);
    forwarded = forwarded.substr(0, forwarded.find(','));
    while (!forwarded.empty() && forwarded.back() == ' ') forwarded.remove_suffix(1);
    t.forwarded_ip = forwarded;
  }

  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    auto headers = [&](const Head& h, const HttpMessage& m, bool request) {
      w.begin_object("headers");
      uint64_t length = 0;
      if (!parse_uint(h.get("content-length"), length)) length = m.body_bytes;  // chunked or close-delimited
      w.field_uint("content-length", length);
      if (const std::string_view ct = h.get("content-type"); !ct.empty()) w.field("content-type", ct);
      const bool any = cfg_.send_all_headers || !cfg_.send_headers.empty();
      for (uint32_t i = 0; any && i < h.n_headers; ++i) {
        const std::string_view name = h.headers[i].name;
        if (http::iequals(name, "content-length") || http::iequals(name, "content-type")) continue;
        char lname[128];
        if (name.size() >= sizeof lname) continue;
        for (std::size_t k = 0; k < name.size(); ++k)
          lname[k] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[k])));
        const std::string_view ln(lname, name.size());
        if (!cfg_.send_all_headers && !listed(ln, cfg_.send_headers)) continue;
        bool earlier = false;
        for (uint32_t j = 0; j < i && !earlier; ++j) earlier = http::iequals(h.headers[j].name, ln);
        if (earlier) continue;
        // Repeated headers joined with ", ", as one value.
        std::size_t jl = 0;
        for (uint32_t j = i; j < h.n_headers; ++j) {
          if (!http::iequals(h.headers[j].name, ln)) continue;
          const std::string_view v = h.headers[j].value;
          if (jl && jl + 2 <= sizeof s.joined) s.joined[jl++] = ',', s.joined[jl++] = ' ';
          const std::size_t k = std::min(v.size(), sizeof s.joined - jl);
          std::memcpy(s.joined + jl, v.data(), k);
          jl += k;
        }
        const std::string_view value(s.joined, jl);
        if (cfg_.redact_authorization && (ln == "authorization" || ln == "proxy-authorization")) {
          w.field(ln, "*");
        } else if (listed(ln, cfg_.redact_headers)) {
          w.field(ln, "REDACTED");
        } else if (cfg_.split_cookie && ln == (request ? "cookie" : "set-cookie")) {
          // name=value pairs separated by ';', names in lower case, last one wins.
          struct Kv {
            std::string_view k;
            std::string_view v;
            char key[64];
            std::size_t kl;
          };
          Kv kvs[64];
          int nk = 0;
          std::string_view rest = value;
          while (!rest.empty()) {
            const std::size_t semi = rest.find(';');
            std::string_view part = rest.substr(0, semi);
            rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
            const std::size_t eq = part.find('=');
            if (eq == std::string_view::npos) continue;
            std::string_view k = part.substr(0, eq), v = part.substr(eq + 1);
            while (!k.empty() && k.front() == ' ') k.remove_prefix(1);
            while (!k.empty() && k.back() == ' ') k.remove_suffix(1);
            while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
            while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
            if (k.empty() || k.size() >= 64) continue;
            Kv kv;
            kv.kl = k.size();
            for (std::size_t x = 0; x < k.size(); ++x)
              kv.key[x] = static_cast<char>(std::tolower(static_cast<unsigned char>(k[x])));
            kv.v = v;
            int found = -1;
            for (int x = 0; x < nk; ++x)
              if (std::string_view(kvs[x].key, kvs[x].kl) == std::string_view(kv.key, kv.kl)) found = x;
            if (found >= 0)
              kvs[found].v = v;
            else if (nk < 64)
              kvs[nk++] = kv;
          }
          w.begin_object(ln);
          for (int x = 0; x < nk; ++x) w.field(std::string_view(kvs[x].key, kvs[x].kl), kvs[x].v);
          w.end_object();
        } else {
          w.field(ln, value);
        }
      }
      w.end_object();
    };
    auto body = [&](const Head& h, const HttpMessage& m, std::string_view kept) -> std::string_view {
      if (m.body_bytes == 0) return {};
      w.begin_object("body");
      w.field_uint("bytes", m.body_bytes);
      std::string_view content;
      if ((m.flags & kIncludeBody) && !kept.empty()) {
        content = body_view(h, kept, cfg_.decode_body, s.inflated, kMaxKeptBytes, counters_);
        if (&h == &rq && form && hidden.n) content = params;  // hidden parameters stay hidden
        if (http::icontains(h.get("content-type"), "json") && !(m.flags & kTruncated)) {
          // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a padded copy.
          uint8_t* buf = s.inflated;
          if (content.data() != reinterpret_cast<const char*>(s.inflated)) {
            std::memcpy(buf, content.data(), content.size());
            content = {reinterpret_cast<const char*>(buf), content.size()};
          }
          std::memset(buf + content.size(), 0, simdjson::SIMDJSON_PADDING);
          if (s.json.parse(buf, content.size(), false).error()) counters_.inc(HttpStat::json_invalid);
        }
        w.field("content", content);
      }
      w.end_object();
      return content;
    };
    w.begin_object("http");
    if (req) {
      w.begin_object("request");
      const std::string_view content = body(rq, *req, req_body);
      w.field_uint("bytes", req->bytes);
      headers(rq, *req, true);
      w.field("method", rq.method);
      if (!content.empty()) w.field("mime_type", sniff_mime(content));
      if (const std::string_view ref = rq.get("referer"); !ref.empty()) w.field("referrer", ref);
      w.end_object();
    }
    if (resp) {
      w.begin_object("response");
      const std::string_view content = body(rs, *resp, resp_body);
      w.field_uint("bytes", resp->bytes);
      headers(rs, *resp, false);
      if (!content.empty()) w.field("mime_type", sniff_mime(content));
      if (!headless) w.field_uint("status_code", rs.status);
      char phrase[128];
      const std::size_t pl = std::min(rs.phrase.size(), sizeof phrase);
      for (std::size_t i = 0; i < pl; ++i)
        phrase[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(rs.phrase[i])));
      if (!headless) w.field("status_phrase", std::string_view(phrase, pl));
      w.end_object();
    }
    w.field("version", req ? rq.version : rs.version);
    w.end_object();
    if (req) {
      w.field("method", rq.method);
      char q[2048];
      const int qn =
          std::snprintf(q, sizeof q, "%.*s %.*s", static_cast<int>(rq.method.size()), rq.method.data(),
                        static_cast<int>(std::min<std::size_t>(path.size(), 1900)), path.data());
      w.field("query", std::string_view(q, static_cast<std::size_t>(std::min<int>(qn, sizeof q - 1))));
    }
    // Raw text: the head (authorization values masked when asked), and the body when included.
    auto raw = [&](const char* key, std::string_view text, const HttpMessage& m, int slot) {
      std::string_view head = text.substr(0, std::min<std::size_t>(text.size(), m.head_len));
      char* buf = s.raw[slot];
      const std::size_t hn = std::min(head.size(), sizeof s.raw[slot]);
      if (hn) std::memcpy(buf, head.data(), hn);  // an HTTP/0.9 answer has no head (and no text)
      if (cfg_.redact_authorization) {
        for (std::size_t i = 0; i < hn;) {
          std::size_t e = i;
          while (e < hn && buf[e] != '\n') ++e;
          const std::string_view line(buf + i, e - i);
          const std::size_t colon = line.find(':');
          if (colon != std::string_view::npos &&
              (http::iequals(line.substr(0, colon), "authorization") ||
               http::iequals(line.substr(0, colon), "proxy-authorization"))) {
            std::size_t end = e;
            if (end > i && buf[end - 1] == '\r') --end;
            for (std::size_t k = i + colon + 1; k < end; ++k) buf[k] = '*';
          }
          i = e + 1;
        }
      }
      if (!(m.flags & kIncludeBody) || text.size() <= head.size()) {
        w.field(key, std::string_view(buf, hn));
        return;
      }
      w.key(key);
      // Head and body as one string: the writer escapes both pieces into one value.
      // Hidden form parameters stay hidden here too.
      const bool hide_body = slot == 0 && form && hidden.n;
      w.string_parts(std::string_view(buf, hn), hide_body ? params : text.substr(head.size()));
    };
    if (cfg_.send_request && req) raw("request", rq_text, *req, 0);
    if (cfg_.send_response && resp) raw("response", rs_text, *resp, 1);
    if (req) {
      w.begin_object("url");
      w.field("domain", host);
      const std::size_t slash = path.rfind('/');
      const std::string_view last = path.substr(slash == std::string_view::npos ? 0 : slash + 1);
      if (const std::size_t dot = last.rfind('.'); dot != std::string_view::npos && dot + 1 < last.size())
        w.field("extension", last.substr(dot + 1));
      BoundedText<4096> full;
      full.append("http://");
      const bool v6 = host.find(':') != std::string_view::npos;
      if (v6) full.append("[");
      full.append(host);
      if (v6) full.append("]");
      char pt[8];
      if (port != 80) {
        full.append(":");
        full.append(std::string_view(pt, static_cast<std::size_t>(std::snprintf(pt, sizeof pt, "%u", port))));
      }
      full.append(path.empty() ? std::string_view("/") : path);
      if (!params.empty()) {
        full.append("?");
        full.append(params);
      }
      w.field("full", full.view());
      w.field("path", path);
      if (port != 80) w.field_uint("port", port);
      if (!params.empty()) w.field("query", params);
      w.field("scheme", "http");
      w.end_object();
      if (user_len) {
        w.begin_object("user");
        w.field("name", std::string_view(user, user_len));
        w.end_object();
      }
      if (const std::string_view ua = rq.get("user-agent"); !ua.empty()) {
        w.begin_object("user_agent");
        w.field("original", ua);
        w.end_object();
      }
    }
    end_transaction(w);
  });
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<HttpDecoder>(s); }

constexpr DetectProbe kProbes[] = {
    // A request line: a method, a space, an origin-form, asterisk or absolute target.
    {R"(^(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|TRACE|PROPFIND|PROPPATCH|MKCOL|COPY|MOVE|LOCK|UNLOCK|REPORT|SEARCH|PURGE) (/|\*|https?://))",
     true},
    // CONNECT names an authority: host:port.
    {R"(^CONNECT [^ /]+:[0-9]{1,5} HTTP/1\.[01]\r?\n)", true},
    // A status line (a server that speaks first, or a capture that missed the request).
    {R"(^HTTP/1\.[01] [1-5][0-9][0-9] )", false},
};

const OptionSpec kSettingOptions[] = {
    {"send_headers", OptionKind::kAny},
    {"send_all_headers", OptionKind::kBool},
    {"split_cookie", OptionKind::kBool},
    {"real_ip_header", OptionKind::kString},
    {"include_body_for", OptionKind::kStringList},
    {"include_request_body_for", OptionKind::kStringList},
    {"include_response_body_for", OptionKind::kStringList},
    {"decode_body", OptionKind::kBool},
    {"hide_keywords", OptionKind::kStringList},
    {"redact_authorization", OptionKind::kBool},
    {"redact_headers", OptionKind::kStringList},
    {"max_message_size", OptionKind::kUint},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  auto out = std::make_unique<HttpSettings>();
  HttpSettings& s = *out;
  auto lower_list = [](const YAML::Node& n) {
    std::vector<std::string> out;
    if (n && n.IsSequence())
      for (const auto& e : n) {
        std::string v = e.as<std::string>();
        for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        out.push_back(v);
      }
    return out;
  };
  const YAML::Node& o = p.options;
  if (const YAML::Node h = o["send_headers"]) {
    if (h.IsScalar())
      s.send_all_headers = p.flag("send_headers", false);  // send_headers: true
    else
      s.send_headers = lower_list(h);
  }
  s.send_all_headers = s.send_all_headers || p.flag("send_all_headers", false);
  s.split_cookie = p.flag("split_cookie", false);
  if (o["real_ip_header"]) {
    s.real_ip_header = o["real_ip_header"].as<std::string>();
    for (char& c : s.real_ip_header) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const auto both = lower_list(o["include_body_for"]);
  s.request_body_for = lower_list(o["include_request_body_for"]);
  s.response_body_for = lower_list(o["include_response_body_for"]);
  s.request_body_for.insert(s.request_body_for.end(), both.begin(), both.end());
  s.response_body_for.insert(s.response_body_for.end(), both.begin(), both.end());
  s.decode_body = p.flag("decode_body", true);
  s.hide_keywords = lower_list(o["hide_keywords"]);
  s.redact_authorization = p.flag("redact_authorization", false);
  s.redact_headers = lower_list(o["redact_headers"]);
  if (o["max_message_size"]) s.max_message_size = o["max_message_size"].as<uint32_t>();
  s.timeout_ns = p.duration_ns("transaction_timeout", s.timeout_ns);
  return out;
}

const uint16_t kDefaultPorts[] = {80, 8080, 8000, 5000, 8002};

}  // namespace

const DecoderDescriptor& http_protocol() {
  static const DecoderDescriptor d = {
      .name = "http",
      .transports = kTransportTcp,
      .probes = kProbes,
      .state_size = sizeof(HttpState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kHttpCounters,
      .violations = static_cast<int>(HttpStat::violations),
      .index_template = {.properties = R"("http": {"properties": {
      "request": {"properties": {"body": {"properties": {"content": {"type": "text"}, "bytes": {"type": "long"}}},
                                 "headers": {"type": "object", "enabled": false}}},
      "response": {"properties": {"body": {"properties": {"content": {"type": "text"}, "bytes": {"type": "long"}}},
                                  "headers": {"type": "object", "enabled": false}}}}})"},
      .exercise_options =
          "{send_all_headers: true, split_cookie: true, include_body_for: [text, json, form, octet], "
          "hide_keywords: [pass], redact_authorization: true, redact_headers: [x-secret], real_ip_header: "
          "x-forwarded-for, max_message_size: 4096}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
