// AMQP 0-9-1 behind the decoder seam, to Packetbeat's amqp module. Frames (method,
// content header, body, heartbeat) are read with their arguments: a synchronous
// method is paired with its -ok answer on the same channel; asynchronous ones
// (basic.publish, basic.deliver, basic.return, basic.get-ok with their content;
// basic.ack, nack, reject; anything sent with no-wait) are published alone, and a
// channel.close or connection.close with an error code is an Error event.
//
// Fields: `method` and `event.action` ("amqp." + method), `amqp.*` with the
// arguments' names of the specification (queue, exchange, routing-key, durable,
// no-wait, reply-code, ...), content properties (content-type, delivery-mode,
// headers, ...), `arguments` and `headers` tables (parse_arguments,
// parse_headers), `request`/`response` (a message body cut at max_body_length, as
// text when its content type is textual, else its bytes as numbers). Connection
// handshake methods are followed but published only when
// hide_connection_information is false.
#pragma once

#include <memory>

#include "decode/amqp/amqp_counters.hpp"
#include "decode/decoder.hpp"
#include "util/chain_store.hpp"

namespace tapbeat {

struct AmqpSettings : ProtocolSettings {
  uint32_t max_body_length = 1000;
  bool parse_headers = true;
  bool parse_arguments = true;
  bool hide_connection_information = true;
};

struct AmqpState {
  struct Dir {
    uint32_t skip;          // bytes of the current frame past what was read
    uint8_t skipping_body;  // those bytes are a content body's
    uint8_t content;        // a content method waits for its header and body
    uint16_t channel;       // its channel
    uint64_t body_left;     // body bytes still to come
    uint64_t body_size;
    uint64_t start_ns;
    // A basic.get-ok's content: the basic.get it answers, its first packet and size
    // (get_bytes 0: none was waiting).
    uint64_t get_start_ns;
    uint64_t get_bytes;
    ChainStore::Chain fields;  // the content method's fields (key \0 JSON value \0 ...)
    ChainStore::Chain body;    // the body's first max_body_length bytes
    char method[32];
    uint8_t method_len;
    uint8_t textual;  // the content type is text or JSON
    uint32_t resync;  // after a gap: 1 + bytes passed over looking for a frame start
  };
  Dir dir[2];
  int8_t client;  // -1 unknown yet
  uint32_t n_pending;
  ChainStore::Chain pending;  // synchronous requests awaiting their -ok
};

class AmqpDecoder final : public DecoderCommon<AmqpStat> {
 public:
  // A frame read whole, its framing included: frame_max as RabbitMQ and its clients
  // negotiate it, 131,072 (the engine holds up to 128 KiB).
  static constexpr uint32_t kMaxFrame = 128 * 1024;
  static constexpr uint32_t kMaxPending = 64;            // requests awaiting an answer per connection
  static constexpr uint32_t kMaxFieldsText = 16 * 1024;  // one method's rendered fields

  explicit AmqpDecoder(const DecoderSetup& s);
  ~AmqpDecoder() override;
  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void close(void* state, const StreamInfo& c) override;
  bool expire(void* state, const StreamInfo& c, uint64_t now_ns) override;

  struct Event;
  struct Pending;

 private:
  template <class Match>
  uint32_t take_pending(AmqpState& st, Match&& match, Pending& h);
  bool method_frame(AmqpState& st, const StreamInfo& c, int dir, uint16_t channel, const uint8_t* p,
                    uint32_t n);
  void content_header(AmqpState& st, const StreamInfo& c, int dir, const uint8_t* p, uint32_t n);
  void content_body(AmqpState& st, const StreamInfo& c, int dir, const uint8_t* p, uint32_t n);
  void content_done(AmqpState& st, const StreamInfo& c, int dir);
  void unanswered(AmqpState& st, const StreamInfo& c);
  void publish_unanswered(AmqpState& st, const StreamInfo& c, const Pending& h, uint32_t k);
  void publish(const StreamInfo& c, int client, const Event& e);

  const AmqpSettings& cfg_;
  std::unique_ptr<struct AmqpScratch> scratch_;
  uint64_t frame_ns_ = 0;  // capture time of the method frame being read: its first byte's
};

}  // namespace tapbeat
