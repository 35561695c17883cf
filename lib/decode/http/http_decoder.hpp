// HTTP/1.x behind the decoder seam, to Packetbeat's http module: requests matched
// to responses in order per connection (pipelining), chunked and close-delimited
// bodies, 100 Continue, gaps mid-body (published with Packetbeat's packet-loss
// note), every option of the module (headers, cookies, real IP header, bodies with
// gzip/deflate decoding, hidden parameters, redaction, raw request/response).
//
// Heads are read as servers read them, leniently: any method token, versions and
// status lines in any case, HTTP/0.9 (a request line without a version, answered
// by a body that ends at the close), obsolete line folding. Framing follows RFC
// 9112 (Transfer-Encoding over Content-Length), and every shape that front ends
// and back ends may frame differently (request smuggling) is published with a note
// in error.message and counted in http.ambiguous_framing: the request that may be
// smuggled inside a body is decoded as the next message, never swallowed. A head
// past kMaxHeadBytes is cut (its framing read from what was kept; headers past the
// cut are passed over unread), a bad chunk ends its message: the connection stays.
//
// A message's head and the body bytes to keep wait for the answer in a chain of
// the worker's ChainStore; the rest of the body is counted and skipped as it
// streams by. The connection state is fixed-size, in the flow's session slot.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "decode/decoder.hpp"
#include "decode/http/http_counters.hpp"
#include "util/chain_store.hpp"

namespace tapbeat {

struct HttpSettings : ProtocolSettings {
  bool send_all_headers = false;
  std::vector<std::string> send_headers;  // lower case
  bool split_cookie = false;
  std::string real_ip_header;                 // lower case; empty: none
  std::vector<std::string> request_body_for;  // content-type substrings (lower case)
  std::vector<std::string> response_body_for;
  bool decode_body = true;
  std::vector<std::string> hide_keywords;  // lower case
  bool redact_authorization = false;
  std::vector<std::string> redact_headers;  // lower case
  uint32_t max_message_size = 10 * 1024 * 1024;
};

// HttpMessage::notes: the head's http::Anomaly bits, and these.
enum HttpNote : uint16_t {
  kNoteBadChunk = 256,     // chunk framing broken: the message ends there
  kNoteHeadCut = 512,      // head longer than kMaxHeadBytes
  kNoteReplyLost = 1024,   // the response's first bytes fell in a gap of the capture
  kNoteHeadLost = 2048,    // the head's end fell in a gap of the capture
  kNoteLineLost = 4096,    // the request line's end fell in a gap: no version was seen
  kNoteHeadEnded = 8192,   // the connection ended before the head's blank line
  kNoteBodyEnded = 16384,  // the sender ended before the body its framing announced
  kNoteHostPort = 32768,   // the Host header names a port other than the connection's
};

// One message being parsed, or waiting for its answer.
struct HttpMessage {
  ChainStore::Chain text;  // head, then the body bytes kept
  uint64_t start_ns;
  uint64_t end_ns;
  uint64_t bytes;          // on the wire
  uint64_t body_bytes;     // body (without chunk framing)
  uint32_t head_len : 18;  // at most kMaxHeadBytes
  uint32_t status : 10;    // 0-999
  uint32_t flags : 8;
  uint32_t notes : 15;   // what the event's error.message says about the framing
  uint32_t unasked : 1;  // a response whose head came with no request waiting, no body byte
                         // but line ends read yet
};

struct HttpState {
  static constexpr int kMaxPending = 16;  // requests in flight (pipelining) held here
  // Requests in flight beyond kMaxPending wait in the worker's block store, in order
  // (a scanner pipelines dozens); past this many more, they go out unanswered.
  static constexpr uint16_t kMaxSpilled = 1008;
  struct Dir {
    uint8_t phase;
    uint8_t active;
    uint8_t keep;          // body bytes go into msg.text
    uint8_t seen;          // a message started on this direction
    uint8_t rest_phase;    // a head cut at kMaxHeadBytes: the phase after its end
    uint8_t rest_body;     //   and whether a body follows it
    uint8_t eol;           //   the bytes skipped so far end a line
    uint8_t rest_framing;  //   what framed it so far (kRest* bits)
    uint8_t scan;          // after a framing error: the next message is looked for line by line
    uint64_t head_ns;      // first packet of the head being gathered; 0: none
    uint32_t kept_limit;   // bytes of text kept at most
    uint32_t skipped;      // bytes skipped looking for a message start
    uint64_t left;         // body or chunk bytes to come
    uint64_t other_left;   // Content-Length given twice: the larger's bytes past the smaller's
    HttpMessage msg;
  };
  Dir dir[2];
  int8_t client;  // direction carrying requests; -1 until known
  uint8_t n_pending;
  uint8_t first_pending;
  uint16_t n_spilled;
  ChainStore::Chain spilled;  // HttpMessage records, oldest first
  // A response that came while no request waited but the client's next head had begun
  // (a server answering 400, 408, 414 or 431 to a head it would not read to its end):
  // one HttpMessage record, held for that request. Empty: none.
  ChainStore::Chain held;
  HttpMessage pending[kMaxPending];
};

class HttpDecoder final : public DecoderCommon<HttpStat> {
 public:
  // Message text linearised for publishing: head plus kept body, at most this much.
  static constexpr uint32_t kMaxKeptBytes = 1u << 20;
  static constexpr uint32_t kMaxHeadBytes = 64 * 1024;
  // A CONNECT tunnel's first bytes, either side's, before its protocol is looked for.
  static constexpr uint32_t kTunnelPeek = 8;

  explicit HttpDecoder(const DecoderSetup& s);
  ~HttpDecoder() override;

  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool cut_short(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) override;
  bool unfinished(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void end(void* state, const StreamInfo& c, int dir) override;
  void close(void* state, const StreamInfo& c) override;
  bool expire(void* state, const StreamInfo& c, uint64_t now_ns) override;

 private:
  struct Scratch;
  // How a head given to start_message() ends: whole, cut at kMaxHeadBytes (the rest
  // passed over to its blank line), cut by a gap, a request line cut by a gap (no
  // version to read), cut by the sender's end, or a request line cut by it.
  enum class HeadEnd : uint8_t { kWhole, kTooLarge, kLost, kLineLost, kEnded, kLineEnded };
  // A head cut short before its blank line, by a gap (cut_short) or the end (unfinished).
  bool take_cut_head(HttpState& st, const StreamInfo& c, int dir, std::span<const uint8_t> held, bool at_end);
  bool start_message(HttpState& st, const StreamInfo& c, int dir, std::span<const uint8_t> head, HeadEnd how);
  void start_headless(HttpState& st, const StreamInfo& c, int dir);
  // A header line past a cut head's first kMaxHeadBytes: a framing header frames the
  // message as it would have in the head.
  void frame_rest_line(HttpState::Dir& d, std::string_view line);
  void framing_error(HttpState& st, const StreamInfo& c, int dir);
  const char* compose_note(const char* note, uint16_t notes);
  void keep(HttpState::Dir& d, const uint8_t* p, uint32_t n);
  void complete(HttpState& st, const StreamInfo& c, int dir);
  void publish(const StreamInfo& c, int client, HttpMessage* req, HttpMessage* resp, const char* note);
  void release(HttpMessage& m);
  // The oldest pending request leaves the line (answered or given up): the first
  // spilled one, if any, takes the place at its end.
  void pop_pending(HttpState& st);
  void lose_response(HttpState& st, const StreamInfo& c);
  // A response with no request waiting: held for the client's head in progress (true),
  // or published unmatched by the caller (false).
  bool hold_response(HttpState& st, const HttpMessage& m);
  // The response being read, begun with no request waiting, ends at its head and goes
  // out alone (an answer to a CONNECT the capture lost: see the kUntilClose phase).
  void end_unasked(HttpState& st, const StreamInfo& c, int dir);
  // The held response, if any, out of the store into out.
  bool take_held(HttpState& st, HttpMessage& out);
  // The held response, if any, goes out unmatched (its request never came whole).
  void publish_held(HttpState& st, const StreamInfo& c);

  const HttpSettings& cfg_;
  std::unique_ptr<Scratch> scratch_;
  std::vector<std::string_view> hidden_;  // cfg_.hide_keywords, as the parameter encoder takes them
};

}  // namespace tapbeat
