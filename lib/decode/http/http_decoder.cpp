#include "decode/http/http_decoder.hpp"

#include <algorithm>
#include <cstring>

#include "decode/http/http_message.hpp"
#include "decode/http/http_wire.hpp"
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
  kTunnel,  // a CONNECT tunnel: another stream (TLS, usually) from here on
  kHeadRest
};

static_assert((http::kNoVersion | http::kNoTarget | http::kFolded | http::kLengthMismatch |
               http::kLengthAndChunked | http::kOtherCoding | http::kBadStatus | http::kHeadersDropped) <
              kNoteBadChunk);
static_assert(HttpDecoder::kMaxHeadBytes < (1u << 18), "HttpMessage::head_len holds a head's length");
// What framed a cut head so far (HttpState::Dir::rest_framing).
constexpr uint8_t kRestByStatus = 1;  // a response that has no body (HEAD, 204, 304) or leaves HTTP
constexpr uint8_t kRestCoding = 2;    // Transfer-Encoding seen
constexpr uint8_t kRestLength = 4;    // Content-Length seen
// A header line past a cut head is read whole (for its framing) when it ends within this.
constexpr uint32_t kMaxFramingLine = 1024;

constexpr uint8_t kAmbiguous =
    http::kFolded | http::kLengthMismatch | http::kLengthAndChunked | http::kOtherCoding;

// Packetbeat's notes (packetbeat/protos/http).
constexpr const char* kUnmatchedRequest = "Unmatched request";
constexpr const char* kUnmatchedResponse = "Unmatched response";

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

}  // namespace

HttpDecoder::HttpDecoder(const DecoderSetup& s)
    // Default-initialized, not value-initialized: the 3 MiB of buffers are written before
    // they are read, and zeroing them faulted in every page at start-up.
    : DecoderCommon<HttpStat>(s), cfg_(s.settings<HttpSettings>()), scratch_(new Scratch) {
  if (scratch_->json.allocate(kMaxKeptBytes)) throw std::bad_alloc();
  hidden_.assign(cfg_.hide_keywords.begin(), cfg_.hide_keywords.end());
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
                                HeadEnd how) {
  const bool cut = how != HeadEnd::kWhole;
  // publish() (reachable from here) reads the cache, never parses into it.
  const Head* parsed =
      scratch_->heads.parse(std::string_view(reinterpret_cast<const char*>(head.data()), head.size()));
  if (!parsed) return false;
  const Head& h = *parsed;
  HttpState::Dir& d = st.dir[dir];
  d.seen = 1;
  d.scan = 0;
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
  if (how == HeadEnd::kTooLarge) d.msg.notes |= kNoteHeadCut;
  if (how == HeadEnd::kLost) d.msg.notes |= kNoteHeadLost;
  if (how == HeadEnd::kEnded) d.msg.notes |= kNoteHeadEnded;
  if (how == HeadEnd::kLineLost)
    d.msg.notes = static_cast<uint16_t>((d.msg.notes & ~http::kNoVersion) | kNoteLineLost);
  if (how == HeadEnd::kLineEnded)
    d.msg.notes = static_cast<uint16_t>((d.msg.notes & ~http::kNoVersion) | kNoteHeadEnded);
  if (h.anomalies & kAmbiguous) counters_.inc(HttpStat::ambiguous_framing);
  if ((d.msg.notes & http::kNoVersion)) counters_.inc(HttpStat::versionless_requests);
  if (h.anomalies & http::kBadStatus) counters_.inc(HttpStat::bad_status_codes);
  if (h.dropped_headers) counters_.inc(HttpStat::headers_dropped, h.dropped_headers);
  if (h.response) d.msg.flags |= kResponse;
  if (const uint32_t got = store_.append(d.msg.text, head.data(), static_cast<uint32_t>(head.size()));
      got < head.size()) {
    counters_.inc(HttpStat::store_full);
    d.msg.flags |= kTruncated;
  }
  counters_.inc(h.response ? HttpStat::responses : HttpStat::requests);

  // Framing as RFC 9112 6.3 reads it: chunked as the last coding wins over any
  // Content-Length; another coding delimits a response by the close and leaves a
  // request without a body (a server answers 400); the first Content-Length. A request
  // with two that differ (a front end and a back end may each take one, and a request
  // hide in the body of the other's): the body runs to the smaller, and on to the
  // larger where what follows the smaller starts no request.
  const bool has_length = h.has_length && !(h.anomalies & http::kOtherCoding);
  uint64_t content_length = h.content_length;
  d.other_left = 0;
  if (has_length && !h.response && h.other_length != http::Head::kNoLength) {
    content_length = std::min(h.content_length, h.other_length);
    d.other_left = std::max(h.content_length, h.other_length) - content_length;
  }
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
  bool by_status = false;  // the status (or the request) says there is no body to frame
  if (h.response) {
    const bool to_head = st.n_pending > 0 && (st.pending[st.first_pending].flags & kHeadRequest);
    const bool to_connect = st.n_pending > 0 && (st.pending[st.first_pending].flags & kConnect);
    if (h.status == 101 || (to_connect && h.status >= 200 && h.status < 300)) {
      d.phase =
          h.status == 101 ? kUpgraded : kTunnel;  // the connection leaves HTTP (WebSocket, h2c, a tunnel)
      by_status = true;
    } else if (to_head || h.status == 204 || h.status == 304) {
      by_status = true;
    } else if (chunked) {
      d.phase = kChunkSize, body = true;
    } else if (has_length) {
      d.left = content_length, body = content_length > 0;
      if (body) d.phase = kBody;
    } else {
      d.phase = kUntilClose, body = true;  // ends when the server closes (HTTP/1.0 style)
      d.msg.unasked = st.n_pending == 0;
    }
  } else {
    if (http::iequals(h.method, "head")) d.msg.flags |= kHeadRequest;
    if (http::iequals(h.method, "connect")) d.msg.flags |= kConnect;
    if (chunked) {
      d.phase = kChunkSize, body = true;
    } else if (has_length && (content_length > 0 || d.other_left > 0)) {
      d.left = content_length, body = true;
      d.phase = kBody;
    }
  }
  if (chunked) d.msg.flags |= kChunked;
  if (cut) {
    // The rest of the head streams by uncounted in the text; the framing read from
    // its first kMaxHeadBytes, and from the framing headers of the rest
    // (frame_rest_line), applies after its blank line.
    d.rest_phase = d.phase;
    d.rest_body = body;
    d.rest_framing =
        static_cast<uint8_t>((by_status ? kRestByStatus : 0) |
                             (h.chunked || (h.anomalies & http::kOtherCoding) ? kRestCoding : 0) |
                             (h.has_length || (h.anomalies & http::kLengthMismatch) ? kRestLength : 0));
    d.eol = 1;
    d.phase = kHeadRest;
    return true;
  }
  if (!body) {
    const uint8_t upgraded = d.phase;
    complete(st, c, dir);
    if (upgraded == kUpgraded || upgraded == kTunnel) d.phase = upgraded;
  }
  return true;
}

void HttpDecoder::frame_rest_line(HttpState::Dir& d, std::string_view line) {
  std::string_view value;
  const http::FramingHeader which = http::framing_header(line, value);
  if (which == http::FramingHeader::kNone) return;
  const uint16_t before = d.msg.notes;
  const bool response = d.msg.flags & kResponse;
  if (which == http::FramingHeader::kCoding) {
    // "identity" alone is no coding (parse_head reads it so too).
    if (!(d.rest_framing & kRestCoding) && http::only_identity(value)) return;
    // The last coding chunked frames the body, over any Content-Length (RFC 9112
    // 6.3); another coding: a response runs to the close, a request has no body.
    if (d.rest_framing & kRestLength) d.msg.notes |= http::kLengthAndChunked;
    d.rest_framing |= kRestCoding;
    if (!(d.rest_framing & kRestByStatus)) {
      if (http::last_coding_chunked(value)) {
        d.rest_phase = kChunkSize, d.rest_body = 1;
        d.msg.flags |= kChunked;
      } else {
        d.msg.notes |= http::kOtherCoding;
        d.msg.flags &= static_cast<uint8_t>(~kChunked);
        d.rest_phase = response ? kUntilClose : kStart;
        d.rest_body = response;
      }
      d.other_left = 0;
    }
  } else {
    uint64_t length = 0;
    const bool ok = http::read_length(value, length);
    if (!ok || ((d.rest_framing & kRestLength) && !(d.rest_framing & kRestCoding) && length != d.left)) {
      d.msg.notes |= http::kLengthMismatch;  // the first Content-Length still frames the body
    } else if (d.rest_framing & kRestCoding) {
      d.msg.notes |= http::kLengthAndChunked;
    } else if (!(d.rest_framing & (kRestLength | kRestByStatus))) {
      d.left = length;
      d.rest_phase = length ? kBody : kStart;
      d.rest_body = length > 0;
    }
    d.rest_framing |= kRestLength;
  }
  if ((d.msg.notes & kAmbiguous) && !(before & kAmbiguous)) counters_.inc(HttpStat::ambiguous_framing);
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
  d.scan = 1;
}

const char* HttpDecoder::compose_note(const char* note, uint16_t notes) {
  if (!notes) return note;
  static constexpr std::pair<uint16_t, const char*> kTexts[] = {
      {http::kNoVersion, "HTTP/0.9 request: no version on the request line"},
      {http::kNoTarget, "request line without a target"},
      {http::kFolded, "obsolete line folding in a header"},
      {http::kLengthMismatch, "Content-Length repeated with different values or not a number"},
      {http::kLengthAndChunked, "Content-Length and Transfer-Encoding together; framed by Transfer-Encoding"},
      {http::kOtherCoding, "Transfer-Encoding without chunked as its last coding"},
      {http::kBadStatus, "status line without a three-digit status code"},
      {http::kHeadersDropped, "more than 128 header lines; the rest not kept (framing read from all)"},
      {kNoteBadChunk, "invalid chunk framing; the message ends there"},
      {kNoteHeadCut, "head longer than 64 KiB; cut"},
      {kNoteReplyLost, "its response began in bytes the capture lost"},
      {kNoteHeadLost, "its head was cut short by bytes the capture lost"},
      {kNoteLineLost, "its request line was cut short by bytes the capture lost"},
      {kNoteHeadEnded, "its head was cut short by the end of the connection"},
      {kNoteBodyEnded, "its body was cut short by the end of the connection"},
      {kNoteHostPort, "Host header port number mismatch"},  // Packetbeat's words
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

namespace {

// The message a direction was reading, ended now; the direction waits for the next.
HttpMessage take_message(HttpState::Dir& d, const StreamInfo& c) {
  HttpMessage m = d.msg;
  m.end_ns = c.ts_ns;
  d.msg = HttpMessage{};
  d.active = 0;
  d.phase = kStart;
  d.keep = 0;
  return m;
}

}  // namespace

void HttpDecoder::complete(HttpState& st, const StreamInfo& c, int dir) {
  HttpMessage m = take_message(st.dir[dir], c);
  if (!(m.flags & kResponse)) {
    HttpMessage resp;
    if (st.n_pending == 0 && take_held(st, resp)) {
      // The response that came while this request's head was still coming.
      publish(c, st.client, &m, &resp, nullptr);
      release(m);
      release(resp);
      return;
    }
    if (st.n_pending == HttpState::kMaxPending) {
      // The line is full: the request waits in the block store behind it, while that
      // has a block to spare. Past kMaxSpilled more, it goes out unanswered (the
      // earlier ones keep their place in line for the responses to come).
      if (st.n_spilled < HttpState::kMaxSpilled && store_.capacity() - store_.blocks_in_use() >= 2) {
        static_assert(sizeof m <= ChainStore::kPayload, "a record takes at most one new block");
        store_.append(st.spilled, reinterpret_cast<const uint8_t*>(&m), sizeof m);
        ++st.n_spilled;
        return;
      }
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
    if (hold_response(st, m)) return;
    counters_.inc(HttpStat::unmatched_responses);
    publish(c, st.client, nullptr, &m, kUnmatchedResponse);
  } else {
    HttpMessage& req = st.pending[st.first_pending];
    publish(c, st.client, &req, &m, nullptr);
    release(req);
    pop_pending(st);
  }
  release(m);
}

void HttpDecoder::end_unasked(HttpState& st, const StreamInfo& c, int dir) {
  HttpMessage m = take_message(st.dir[dir], c);
  counters_.inc(HttpStat::unmatched_responses);
  publish(c, st.client, nullptr, &m, kUnmatchedResponse);
  release(m);
}

bool HttpDecoder::hold_response(HttpState& st, const HttpMessage& m) {
  // Held only where the client's head began before the response (a capture picked up
  // mid-stream, whose first response answers a request not captured, has its next
  // request begin after it) and the store has a block for it.
  if (st.client < 0) return false;
  const HttpState::Dir& cd = st.dir[st.client];
  if (cd.active || cd.head_ns == 0 || cd.head_ns > m.start_ns) return false;
  if (store_.capacity() - store_.blocks_in_use() < 2) return false;
  static_assert(sizeof m <= ChainStore::kPayload, "a record takes at most one new block");
  if (!st.held.empty()) return false;  // one at a time: a second goes out as it is
  store_.append(st.held, reinterpret_cast<const uint8_t*>(&m), sizeof m);
  counters_.inc(HttpStat::responses_held);
  return true;
}

bool HttpDecoder::take_held(HttpState& st, HttpMessage& out) {
  if (st.held.empty()) return false;
  store_.copy_out(st.held, reinterpret_cast<uint8_t*>(&out), sizeof out);
  store_.release(st.held);
  return true;
}

void HttpDecoder::publish_held(HttpState& st, const StreamInfo& c) {
  HttpMessage resp;
  if (!take_held(st, resp)) return;
  counters_.inc(HttpStat::unmatched_responses);
  publish(c, st.client, nullptr, &resp, kUnmatchedResponse);
  release(resp);
}

void HttpDecoder::pop_pending(HttpState& st) {
  st.first_pending = static_cast<uint8_t>((st.first_pending + 1) % HttpState::kMaxPending);
  --st.n_pending;
  if (!st.n_spilled) return;
  HttpMessage m;
  store_.copy_out(st.spilled, reinterpret_cast<uint8_t*>(&m), sizeof m);
  store_.drop_front(st.spilled, sizeof m);
  --st.n_spilled;
  st.pending[(st.first_pending + st.n_pending) % HttpState::kMaxPending] = m;
  ++st.n_pending;
}

namespace {

// Where, after the first line of p[0, n), a line starts the next message of a side: a
// request line with its version (client), a status line (server). 0: none whole here.
std::size_t next_message_line(const uint8_t* p, std::size_t n, bool request) {
  std::size_t at = 0;
  for (;;) {
    const void* lf = std::memchr(p + at, '\n', n - at);
    if (!lf) return 0;
    at = static_cast<std::size_t>(static_cast<const uint8_t*>(lf) - p) + 1;
    while (at < n && (p[at] == '\r' || p[at] == '\n')) ++at;
    if (at >= n) return 0;
    const http::StartKind k = http::start_kind(p + at, n - at);
    if (k != (request ? http::StartKind::kRequest : http::StartKind::kResponse)) continue;
    if (!request) return at;
    const std::size_t le = http::line_end(p + at, n - at);
    if (le && !http::versionless_request_line({reinterpret_cast<const char*>(p + at), le})) return at;
  }
}

// Whether p[0, n) opens with a status line: "HTTP/1.", a digit, a blank, a three-digit
// status and a blank (in any case, as start_kind reads a status line).
bool status_line_at(const uint8_t* p, std::size_t n) {
  if (n < 13 || http::start_kind(p, n) != http::StartKind::kResponse) return false;
  return p[5] == '1' && p[6] == '.' && p[7] >= '0' && p[7] <= '9' && p[8] == ' ' && p[9] >= '1' &&
         p[9] <= '5' && p[10] >= '0' && p[10] <= '9' && p[11] >= '0' && p[11] <= '9' &&
         (p[12] == ' ' || p[12] == '\r' || p[12] == '\n');
}

// Whether p[0, n) opens a request as clients write one: line ends, then a versioned
// request line whose method is upper case. Too few bytes to tell, or only line ends: true.
bool request_follows(const uint8_t* p, std::size_t n) {
  std::size_t at = 0;
  while (at < n && (p[at] == '\r' || p[at] == '\n')) ++at;
  if (at == n) return true;
  const http::StartKind k = http::start_kind(p + at, n - at);
  if (k == http::StartKind::kNeedMore) return true;
  if (k != http::StartKind::kRequest) return false;
  std::size_t m = at;
  while (m < n && p[m] >= 'A' && p[m] <= 'Z') ++m;
  if (m == n) return true;
  if (p[m] != ' ' && p[m] != '\t') return false;
  const std::size_t le = http::line_end(p + at, n - at);
  return !le || !http::versionless_request_line({reinterpret_cast<const char*>(p + at), le});
}

}  // namespace

DecodeResult HttpDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) {
  HttpState& st = *static_cast<HttpState*>(state);
  HttpState::Dir& d = st.dir[dir];
  const uint8_t* p = bytes.data();
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  uint32_t off = 0;
  // Bytes that start no message are passed over and counted; false when neither
  // direction showed a message start within kMaxSkip (it is not HTTP). Where the other
  // side's messages were read, this side's first bytes seen may be a long body whose
  // head the capture lost (a 200 KB response's first segment): passed over to the next
  // message however long.
  auto pass_over = [&](uint32_t len) {
    if (dir == st.client) publish_held(st, c);  // what the client sent was no request
    if (!d.seen && !st.dir[1 - dir].seen && d.skipped + len > kMaxSkip) return false;
    d.skipped += len;
    d.head_ns = 0;
    counters_.inc(HttpStat::skipped_bytes, len);
    d.phase = kResync;
    return true;
  };
  // Once a CONNECT's answer opened the tunnel, every byte either side sends is its, but
  // for line ends left after the messages (no tunnelled protocol starts with one). Its
  // first bytes are handed on once there are enough to tell its protocol by.
  auto tunnel_from = [&](uint32_t at) -> DecodeResult {
    while (at < n && (p[at] == '\r' || p[at] == '\n')) ++at;
    if (at < n && n - at < kTunnelPeek) return {at, kTunnelPeek, Verdict::kNeedMore};
    return {at, 0, Verdict::kTunnel};
  };
  if (st.client >= 0 && st.dir[1 - st.client].phase == kTunnel) return tunnel_from(0);
  while (off < n) {
    switch (d.phase) {
      case kUpgraded:
        return {n, 0, Verdict::kDone};
      case kTunnel:
        return tunnel_from(off);
      case kResync:
      case kStart: {
        while (off < n && (p[off] == '\r' || p[off] == '\n')) ++off;
        if (off == n) break;
        if (d.head_ns == 0) d.head_ns = c.ts_at(off);  // the message's first packet
        {
          // HTTP/2 with prior knowledge (RFC 9113 3.3: h2c, cleartext gRPC): the client's
          // connection preface, then binary frames HTTP/1 has no words for. Not a
          // request named PRI; the connection leaves this decoder.
          static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
          const uint32_t have = std::min<uint32_t>(n - off, static_cast<uint32_t>(kPreface.size()));
          if (std::memcmp(p + off, kPreface.data(), have) == 0) {
            if (have < kPreface.size())
              return {off, static_cast<uint32_t>(kPreface.size()), Verdict::kNeedMore};
            counters_.inc(HttpStat::http2_prior_knowledge);
            return {n, 0, Verdict::kDone};
          }
        }
        const http::StartKind k = http::start_kind(p + off, n - off);
        if (k == http::StartKind::kNeedMore) return {off, n - off + 1, Verdict::kNeedMore};
        if (st.client >= 0 && dir != st.client && k != http::StartKind::kResponse && st.n_pending > 0 &&
            (st.pending[st.first_pending].notes & http::kNoVersion)) {
          start_headless(st, c, dir);  // the answer to an HTTP/0.9 request
          break;
        }
        if (dir == st.client && st.n_pending > 0 && (st.pending[st.first_pending].flags & kConnect)) {
          // The tunnel's first bytes (a ClientHello, a request to the far end) before the
          // CONNECT's answer was delivered: held for what the answer hands the connection to.
          return {off, n - off + 1, Verdict::kNeedMore};
        }
        if (k == http::StartKind::kNotHttp ||
            (k == http::StartKind::kRequest && d.phase == kResync && st.client >= 0 && dir != st.client)) {
          // A capture that starts mid-message, or bytes after a hole: skip this
          // segment's bytes and look again at the next. (A server sends no requests:
          // on its side, after a hole, a body's bytes that read as a request line are
          // not one.) After a framing error, or where bytes no message starts with
          // follow a message of this side read whole, the next message may follow in
          // this very segment (a request smuggled behind a chunk size past 2^64, as a
          // server whose count wrapped reads it; a chunked body's bytes behind a
          // request whose Transfer-Encoding ends in another coding, which a server
          // reads as no body): it is looked for line by line, a request taken only
          // with its version.
          if ((d.scan || (d.phase == kStart && d.seen)) && k == http::StartKind::kNotHttp) {
            if (const std::size_t next =
                    next_message_line(p + off, n - off, st.client < 0 || dir == st.client)) {
              if (!pass_over(static_cast<uint32_t>(next))) return {off, 0, Verdict::kViolation};
              off += static_cast<uint32_t>(next);
              break;
            }
          }
          // Bytes held from earlier packets (a lost message's last bytes, too few to
          // tell) joined by this segment: a message may begin where the segment does.
          if (const uint32_t seg = c.held_len; seg > off && seg < n) {
            const http::StartKind at_seg = http::start_kind(p + seg, n - seg);
            if (at_seg == (st.client >= 0 && dir != st.client ? http::StartKind::kResponse
                                                              : http::StartKind::kRequest) &&
                (at_seg == http::StartKind::kResponse || request_follows(p + seg, n - seg))) {
              if (!pass_over(seg - off)) return {off, 0, Verdict::kViolation};
              off = seg;
              break;
            }
          }
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
        if (end == 0 ||
            !start_message(st, c, dir, {p + off, end}, cut ? HeadEnd::kTooLarge : HeadEnd::kWhole)) {
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
        // The rest of a cut head, line by line up to its blank line (LF, optional CR,
        // LF). A line that begins here is read whole when it ends within
        // kMaxFramingLine bytes: a Content-Length or Transfer-Encoding past the cut
        // still frames the message; longer lines stream by.
        uint32_t i = off;
        bool done = false;
        while (i < n && !done) {
          if (d.eol) {
            const uint32_t look = std::min<uint32_t>(n - i, kMaxFramingLine);
            const auto* lf = static_cast<const uint8_t*>(std::memchr(p + i, '\n', look));
            if (!lf && look < kMaxFramingLine) {
              d.msg.bytes += i - off;
              return {i, n - i + 1, Verdict::kNeedMore};
            }
            if (lf) {
              const uint32_t len = static_cast<uint32_t>(lf - (p + i));
              uint32_t text = 0;
              while (text < len && p[i + text] == '\r') ++text;
              done = text == len;  // a blank line ends the head
              if (!done) frame_rest_line(d, {reinterpret_cast<const char*>(p + i), len});
              i += len + 1;
              continue;
            }
            d.eol = 0;
          }
          const auto* lf = static_cast<const uint8_t*>(std::memchr(p + i, '\n', n - i));
          i = lf ? static_cast<uint32_t>(lf - p) + 1 : n;
          d.eol = lf != nullptr;
        }
        d.msg.bytes += i - off;
        off = i;
        if (done) {
          d.phase = d.rest_phase;
          if (!d.rest_body) {
            const uint8_t after = d.phase;
            complete(st, c, dir);
            if (after == kUpgraded || after == kTunnel) d.phase = after;
          }
        }
        break;
      }
      case kBody:
      case kChunkData:
      case kUntilClose: {
        if (d.phase == kUntilClose && d.msg.unasked && d.msg.status >= 200 && d.msg.status < 300) {
          // A success no request waiting for it (the capture lost that request), framed by
          // nothing, whose body would begin with a status line (after line ends a server
          // wrote past its head): the answer to a CONNECT, the tunnel's first response
          // after it. It ends there, alone: read to the connection's end, it took the
          // tunnel's responses for its body and paired at the end with a request sent
          // after it. Any other byte begins its body, which runs to the close.
          uint32_t at = off;
          while (at < n && (p[at] == '\r' || p[at] == '\n')) ++at;
          if (at < n && status_line_at(p + at, n - at)) {
            keep(d, p + off, at - off);
            d.msg.body_bytes += at - off;
            d.msg.bytes += at - off;
            off = at;
            end_unasked(st, c, dir);
            break;
          }
          if (at < n) d.msg.unasked = 0;
        }
        uint64_t k = n - off;
        if (d.phase != kUntilClose && k > d.left) k = d.left;
        keep(d, p + off, static_cast<uint32_t>(k));
        d.msg.body_bytes += k;
        d.msg.bytes += k;
        off += static_cast<uint32_t>(k);
        if (d.phase != kUntilClose) {
          d.left -= k;
          if (d.left == 0 && d.phase == kBody && d.other_left) {
            // The smaller of two Content-Lengths reached: the next bytes tell which frames it.
            if (off == n) break;
            if (!request_follows(p + off, n - off)) {
              d.left = d.other_left;
              d.other_left = 0;
              break;
            }
            d.other_left = 0;
          }
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
        while (i < line && (digit = hex_value(static_cast<char>(p[off + i]))) >= 0) {
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
  // A tunnel opened by the message just read: another stream from the next byte.
  if (d.phase == kTunnel) return tunnel_from(off);
  return {off, 0, Verdict::kOk};
}

// The oldest request waiting goes out unanswered: its response began in bytes the
// capture lost.
void HttpDecoder::lose_response(HttpState& st, const StreamInfo& c) {
  HttpMessage& req = st.pending[st.first_pending];
  req.notes |= kNoteReplyLost;
  counters_.inc(HttpStat::unmatched_requests);
  counters_.inc(HttpStat::responses_lost);
  publish(c, st.client, &req, nullptr, kUnmatchedRequest);
  release(req);
  pop_pending(st);
}

// A head the capture lost the end of (a packet cut by the snap length, a segment lost):
// its whole lines are the message's head, published with a note as a lossy message
// (gap() completes it), so that a request still meets its response and a response its
// request. A request line without its end gives its method and its target as far as
// it goes (no version: the response's is published); a status line without its end,
// its version and code when the code is whole.
bool HttpDecoder::cut_short(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) {
  if (!take_cut_head(*static_cast<HttpState*>(state), c, dir, held, false)) return false;
  counters_.inc(HttpStat::heads_cut_by_gap);
  return true;
}

// A head whose sender stopped before its blank line (a request line and no CRLF, a
// response's status and headers and then the close), as Zeek logs it: its whole lines
// are the head, a last line without its end taken as far as it went, and the message
// ends there, noted. A response pairs with its request.
bool HttpDecoder::unfinished(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) {
  HttpState& st = *static_cast<HttpState*>(state);
  if (!take_cut_head(st, c, dir, held, true)) return false;
  counters_.inc(HttpStat::heads_cut_by_end);
  HttpState::Dir& d = st.dir[dir];
  if (d.active && d.phase == kHeadRest) complete(st, c, dir);
  return true;
}

bool HttpDecoder::take_cut_head(HttpState& st, const StreamInfo& c, int dir, std::span<const uint8_t> held,
                                bool at_end) {
  HttpState::Dir& d = st.dir[dir];
  if (d.active || (d.phase != kStart && d.phase != kResync)) return false;  // not waiting for a head
  const uint8_t* p = held.data();
  std::size_t n = held.size();
  while (n && (*p == '\r' || *p == '\n')) ++p, --n;
  const http::StartKind k = http::start_kind(p, n);
  if (k != http::StartKind::kRequest && k != http::StartKind::kResponse) return false;
  if (k == http::StartKind::kRequest && d.phase == kResync && st.client >= 0 && dir != st.client)
    return false;
  std::size_t end = n;
  while (end > 0 && p[end - 1] != '\n') --end;
  HeadEnd how = at_end ? HeadEnd::kEnded : HeadEnd::kLost;
  uint8_t line[1024];
  if (at_end && end < n) {
    // The sender stopped inside a line: the line as far as it went, given its end (a
    // start line keeps its version when it was sent, a header its value so far).
    std::size_t m = n;
    while (m > end && (p[m - 1] == '\r' || p[m - 1] == ' ' || p[m - 1] == '\t')) --m;
    if (m > end && m + 2 <= sizeof line) {
      std::memcpy(line, p, m);
      line[m] = '\r';
      line[m + 1] = '\n';
      p = line;
      end = m + 2;
    }
  }
  if (end == 0) {
    // The start line itself is cut: a request's "METHOD TARGET" as far as the target
    // goes (a version begun after it dropped), a response's "HTTP/x.y CODE" when its
    // code is whole (a phrase begun after it dropped); given a line end.
    const auto blank = [](uint8_t ch) { return ch == ' ' || ch == '\t'; };
    std::size_t m = 0;
    while (m < n && !blank(p[m])) ++m;
    std::size_t t = m;
    while (t < n && blank(p[t])) ++t;
    std::size_t te = t;
    if (k == http::StartKind::kRequest) {
      while (te < n && !blank(p[te]) && p[te] != '\r') ++te;
      te = std::min(te, sizeof line - 2);  // a target longer than that: its first bytes
    } else {
      while (te < n && te < t + 3 && p[te] >= '0' && p[te] <= '9') ++te;
      if (te != t + 3 || (te < n && !blank(p[te]) && p[te] != '\r')) return false;
    }
    if (m == 0 || te <= t || te + 2 > sizeof line) return false;
    std::memcpy(line, p, te);
    line[te] = '\r';
    line[te + 1] = '\n';
    p = line;
    end = te + 2;
    if (k == http::StartKind::kRequest) how = at_end ? HeadEnd::kLineEnded : HeadEnd::kLineLost;
  }
  if (!start_message(st, c, dir, {p, end}, how)) return false;
  d.msg.bytes = held.size();  // what was captured of it, not the line end given
  return true;
}

bool HttpDecoder::gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
  HttpState& st = *static_cast<HttpState*>(state);
  HttpState::Dir& d = st.dir[dir];
  counters_.inc(HttpStat::gaps);
  if (d.active && (d.phase == kBody || d.phase == kChunkData || d.phase == kUntilClose) &&
      (d.phase == kUntilClose || len <= d.left)) {
    // The hole lies inside the body: the message is still whole in its framing. Its
    // body keeps the size the framing gives; its bytes are those captured, as
    // Packetbeat counts them (the event says the response lost packets).
    d.msg.flags |= kLossy | kTruncated;
    d.keep = 0;
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
  const bool server = dir != st.client && st.client >= 0;
  // Lost between two responses: the bytes lost begin the next one, the answer to the
  // oldest request waiting (a server sends nothing else, in order). That request goes
  // out without it, and the responses after the gap meet their own requests instead of
  // each the one before.
  if (!d.active && d.phase == kStart && server && st.n_pending) lose_response(st, c);
  if (d.active && d.phase != kUpgraded) {
    // The framing is lost: what was seen of the message is published as lossy. A
    // body the hole runs past the end of still had its Content-Length.
    if (d.phase == kBody) d.msg.body_bytes += d.left;
    d.msg.flags |= kLossy;
    complete(st, c, dir);
  }
  // Requests sent before the client had all the lost bytes may have been answered in
  // them (a pipeline); one sent later was not. They go out unanswered too, rather than
  // each meet the response after its own.
  while (server && d.phase != kUpgraded && st.n_pending &&
         st.pending[st.first_pending].start_ns < c.gap_acked_ns)
    lose_response(st, c);
  if (d.phase != kUpgraded) d.phase = kResync;
  d.scan = 0;  // after a hole, bytes are looked at from the next segment on
  d.head_ns = 0;
  if (dir == st.client) publish_held(st, c);  // its request's head was lost (a cut one paired above)
  return true;
}

void HttpDecoder::end(void* state, const StreamInfo& c, int dir) {
  // A body delimited by the close ends with the sender's FIN. One its Content-Length or
  // chunks said was longer ends there too, short (the sender stopped: a FIN numbered
  // past the bytes seen had been a gap, a loss, before this), noted; Packetbeat likewise
  // publishes what came at a FIN.
  HttpState& st = *static_cast<HttpState*>(state);
  HttpState::Dir& d = st.dir[dir];
  if (!d.active) return;
  if (d.phase == kUntilClose || (d.phase == kBody && d.left == 0)) {  // (the smaller of two lengths)
    complete(st, c, dir);
  } else if (d.phase == kBody || d.phase == kChunkSize || d.phase == kChunkData || d.phase == kChunkEnd ||
             d.phase == kTrailer || d.phase == kHeadRest) {
    d.msg.notes |= d.phase == kHeadRest ? kNoteHeadEnded : kNoteBodyEnded;
    d.msg.flags |= kTruncated;
    complete(st, c, dir);
  }
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
  publish_held(st, c);
  while (st.n_pending) {
    HttpMessage& req = st.pending[st.first_pending];
    counters_.inc(HttpStat::unmatched_requests);
    publish(c, st.client, &req, nullptr, kUnmatchedRequest);
    release(req);
    pop_pending(st);
  }
  for (auto& d : st.dir) store_.release(d.msg.text);
  store_.release(st.held);
}

bool HttpDecoder::expire(void* state, const StreamInfo& c, uint64_t now_ns) {
  HttpState& st = *static_cast<HttpState*>(state);
  if (!st.held.empty()) {
    uint64_t start_ns = 0;  // HttpMessage::start_ns, read in place
    store_.copy_out(st.held, reinterpret_cast<uint8_t*>(&start_ns), sizeof start_ns,
                    offsetof(HttpMessage, start_ns));
    if (start_ns + cfg_.timeout_ns < now_ns) publish_held(st, c);
  }
  while (st.n_pending) {
    HttpMessage& req = st.pending[st.first_pending];
    if (req.start_ns + cfg_.timeout_ns >= now_ns) break;
    // A response on its way (e.g. one the close will end) answers this request.
    if (st.client >= 0 && st.dir[1 - st.client].active) break;
    counters_.inc(HttpStat::unmatched_requests);
    publish(c, st.client, &req, nullptr, kUnmatchedRequest);
    release(req);
    pop_pending(st);
  }
  return st.n_pending > 0 || st.dir[0].active || st.dir[1].active || !st.held.empty();
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<HttpDecoder>(s); }

// A status line ("HTTP/" and a digit) or a request line (a method token, then blanks and
// a target, or an upper-case token and the line's end): no other protocol's decisive
// probe matches such bytes (TLS, PostgreSQL and Cassandra begin with bytes no token
// holds, a MySQL greeting's second byte is 0 or 1, a Redis array is "*" and digits, then
// CR; AMQP's header has a 0 after "AMQP").
bool owns_start(std::span<const uint8_t> first) {
  const http::StartKind k = http::start_kind(first.data(), first.size());
  return k == http::StartKind::kRequest || k == http::StartKind::kResponse;
}

// Decisive (HTTP on another protocol's port): a request line with its version, one whose
// target runs on as only a path does, one without a version that a header line follows,
// CONNECT's, a status line. A known method before a path alone is not: a Redis inline
// command reads "GET /key" too. The three that read a line on (any method to its version,
// a long target, a header after a versionless line) are wide: read where no other matches.
constexpr DetectProbe kProbes[] = {
    // A request line: a method, blanks (servers take a run of them), an origin-form,
    // asterisk or absolute target.
    {R"(^(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|TRACE|PROPFIND|PROPPATCH|MKCOL|COPY|MOVE|LOCK|UNLOCK|REPORT|SEARCH|PURGE) [ \t]{0,63}(/|\*|https?://))",
     true},
    // Any other method (an RFC 9110 token: QUERY, WebDAV's and vendors' own, a method in
    // lower case), taken only with the line's HTTP version (in either case, as servers
    // read it): a token, blanks, a target, the version, its end. A target too long for
    // the bytes scanned to reach the version is taken when it runs on, 160 visible bytes
    // without a blank: an origin-form path no other protocol's first line looks like.
    {R"(^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}[ \t]{1,63}(/|\*|[Hh][Tt][Tt][Pp][Ss]?://)[^\r\n]{0,200}[ \t][Hh][Tt][Tt][Pp]/1\.[01]\r?\n)",
     true, true, true},
    {R"(^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}[ \t]{1,8}/[!-~]{160})", true, true, true},
    // A request line without its version (HTTP/0.9's shape) that a header line follows,
    // as some clients and malware write one: a known method, a path, the line's end, a
    // field name and its colon.
    {R"(^(GET|POST|PUT|DELETE|HEAD|OPTIONS) /[!-~]{0,200}\r?\n[A-Za-z][A-Za-z0-9-]{0,40}:)", true, true,
     true},
    // CONNECT names an authority: host:port.
    {R"(^CONNECT [^ /]+:[0-9]{1,5} HTTP/1\.[01]\r?\n)", true, true},
    // A status line (a server that speaks first, or a capture that missed the request).
    {R"(^[Hh][Tt][Tt][Pp]/1\.[01] [1-5][0-9][0-9] )", false, true},
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
      .owns_start = owns_start,
      .state_size = sizeof(HttpState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kHttpCounters,
      .violations = static_cast<int>(HttpStat::violations),
      .index_template = {.properties = R"("http": {"properties": {
      "request": {"properties": {"body": {"properties": {"content": {"type": "wildcard"}, "bytes": {"type": "long"}}},
                                 "headers": {"type": "object", "enabled": false}}},
      "response": {"properties": {"body": {"properties": {"content": {"type": "wildcard"}, "bytes": {"type": "long"}}},
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
