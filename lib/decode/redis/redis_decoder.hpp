// Redis (RESP2 and RESP3) behind the decoder seam, to Packetbeat's redis module:
// commands matched to replies in order per connection (pipelining: a FIFO of
// pending commands bounded by queue_max_messages and queue_max_bytes), pub/sub
// pushes told apart from replies, error replies as status Error; commands the
// client had the server not answer (CLIENT REPLY OFF / SKIP) published alone.
//
// Messages are framed by a streaming parser, so a large value streams through
// without being buffered; the first bytes of each message are kept (ChainStore) for
// method, resource, query and return value. Nesting deeper than kMaxDepth is still
// framed (its values counted, not stacked): the reply keeps its place in the
// pairing, its text is cut at that depth ("[...]"), and the event says so in
// error.message (counted in redis.too_deep). Only bytes that are not RESP detach.
#pragma once

#include <memory>

#include "decode/decoder.hpp"
#include "decode/redis/redis_counters.hpp"
#include "util/chain_store.hpp"

namespace tapbeat {

struct RedisText;

struct RedisSettings : ProtocolSettings {
  uint32_t queue_max_bytes = 1024 * 1024;  // command bytes waiting for replies, per connection
  uint32_t queue_max_messages = 20000;     // commands waiting for replies, per connection
};

struct RedisState {
  static constexpr int kMaxDepth = 8;
  struct Dir {
    uint8_t in_msg;
    uint8_t depth;
    uint8_t attr_mask;  // bit d: the aggregate at depth d is an attribute
    uint8_t flags;
    uint32_t left[kMaxDepth];
    uint8_t skipping;    // inside an aggregate nested deeper than kMaxDepth
    uint64_t skip_left;  // values still to come inside it (nested ones flattened)
    uint64_t bulk_left;  // bulk payload bytes (with its CRLF) still to come
    uint64_t bytes;      // message bytes so far
    uint32_t resync;     // after a gap: 1 + bytes of the lines passed over until one opens a message
    uint8_t owes;        // the client's gap fell between commands: bytes passed over after it
                         // end a command the gap began (its reply still to come)
    uint64_t resync_ns;  // when the last byte passed over was captured
    uint64_t start_ns;
    ChainStore::Chain text;  // the message's first bytes
  };
  Dir dir[2];
  ChainStore::Chain queue;  // pending commands: Pending records
  uint32_t n_pending;
  uint32_t pending_bytes;
  int8_t client;
  uint8_t pubsub;
  // CLIENT REPLY (Redis 3.2+): replies turned off until CLIENT REPLY ON, or skipped
  // for the command after CLIENT REPLY SKIP.
  uint8_t reply_off;
  uint8_t reply_skip;
  uint8_t monitor;     // MONITOR was sent: the server feeds back every command it runs
  uint64_t orphan_ns;  // when the last reply that found no command waiting began
  // The server's gap, until its stream is found again (settle_lost_replies).
  uint8_t lost_replies;
  uint8_t lost_after_cut;  // it cut a reply under way
  uint32_t lost_len;       // bytes lost
  uint64_t lost_acked_ns;  // when the client had them (0: not known)
  uint64_t server_ns;      // the server's last reply
  // The client's gap where the framing did not survive: how many commands the lost bytes
  // held is not known. A place (a Pending record, `place`) takes its turn in the queue
  // behind the commands waiting (lose_commands). Once it is the oldest, the replies that
  // reach it are the lost commands' until the first command behind it is whole; those
  // begun after are held (the last kMaxHeld). The client's first command after the server has
  // sent, with at least as many held as there are commands behind the place (or the
  // connection's end or expiry), ends it: the last held replies answer the commands
  // behind, in order, the others count unmatched (end_place). A batch-at-a-time client
  // sends again once its batch is answered; one that keeps sending while answers come
  // can see them paired before the lost commands' replies have all come.
  uint8_t place;       // a place is in the queue
  uint8_t place_seen;  // the server has sent since it was made
  uint16_t n_held;
  uint32_t n_behind;       // commands queued behind the place
  uint32_t place_answers;  // replies held
  ChainStore::Chain held;  // Pending records of the last replies held
};

class RedisDecoder final : public DecoderCommon<RedisStat> {
 public:
  static constexpr uint32_t kKeepBytes = 4096;        // message bytes kept for the event
  static constexpr uint64_t kMaxBulk = 512ull << 20;  // Redis's own proto-max-bulk-len
  static constexpr uint32_t kMaxAggregate = 1u << 24;
  static constexpr uint32_t kMaxLine = 64 * 1024;

  explicit RedisDecoder(const DecoderSetup& s);
  ~RedisDecoder() override;
  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void end(void* state, const StreamInfo& c, int dir) override;
  static bool message_start(const uint8_t* s, const uint8_t* le, bool reply);
  // Whether the bytes after a line that opens a message (up to end) hold together.
  static bool followed_well(const uint8_t* s, const uint8_t* le, const uint8_t* end, bool reply);
  void close(void* state, const StreamInfo& c) override;
  bool expire(void* state, const StreamInfo& c, uint64_t now_ns) override;

 private:
  struct Pending {
    ChainStore::Chain text;
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t bytes;
    bool cut;       // nested deeper than kMaxDepth
    bool lost;      // its end fell in a gap of the capture: taken as far as it went
    bool ended;     // its sender or the connection ended before it did: taken as far as it went
    bool text_cut;  // longer than kKeepBytes: its text kept that far
    // No command: the reply owed to one whose first bytes the client's gap took and
    // whose last bytes were passed over after it (captured up to end_ns). Never
    // published; a reply begun from end_ns on is that command's.
    bool owed;
    // No command: the place of the commands a client's gap took (RedisState::place).
    bool place;
    bool gap_in_text;  // bytes inside a value lost where its text was kept: noted
  };
  static constexpr uint16_t kMaxHeld = 1024;  // replies a place holds
  // The client's gap took commands: a place for them joins the queue, unless one is
  // there already (it holds these too) or nothing waits and the server has sent since it
  // had the lost bytes (their replies have come, unmatched).
  void lose_commands(RedisState& st, const StreamInfo& c);
  // A command (or an owed reply's) queued behind the place.
  void behind_place(RedisState& st);
  // A reply reaching the place: a lost command's, or held.
  void hold_reply(RedisState& st, Pending& m, bool early);
  // The place, the oldest in the queue, ends with every command behind it: the last held
  // replies answer them where `pair` and there are enough; else they go out alone.
  void end_place(RedisState& st, const StreamInfo& c, bool pair);
  bool place_first(RedisState& st);
  void release_held(RedisState& st);  // the held replies and their texts
  void release_texts(const ChainStore::Chain& held, uint32_t from, uint32_t to);  // of records [from, to)
  // After the client's gap, the first command found again: where bytes were passed over
  // before it (the end of a command the gap began), that command's reply is owed.
  void owe_reply(RedisState& st, uint64_t tail_ns);
  // The oldest command goes out alone: its reply began in bytes the capture lost.
  void reply_lost(RedisState& st, const StreamInfo& c);
  // After the server's gap, its stream found again (whole: right where the lost bytes
  // end): the commands whose replies may have been in them too go out alone.
  void settle_lost_replies(RedisState& st, const StreamInfo& c, bool whole);
  bool element_done(RedisState::Dir& d);
  bool skipped_value_done(RedisState::Dir& d);
  void complete(RedisState& st, const StreamInfo& c, int dir);
  // A message the end of its sender (take: published as far as it went) or of the
  // connection (a detach's garbage among them: released) leaves unfinished; counted.
  void cut_by_end(RedisState& st, const StreamInfo& c, int dir, bool take);
  // A message under way its framing can no longer finish: taken as far as it went with
  // `why` (kLost, kEnded) among its flags, or released (why 0, or it cannot be taken).
  void take_partial(RedisState& st, const StreamInfo& c, int dir, uint8_t why);
  void pop(RedisState& st, Pending& out);
  // Whether the server answers this command, by the CLIENT REPLY mode it sets or finds.
  static bool answered(RedisState& st, std::span<const std::string_view> args);
  void publish(const StreamInfo& c, int client, const Pending* req, const Pending* resp, const char* note,
               bool unanswered_by_request = false);

  const RedisSettings& cfg_;
  std::unique_ptr<uint8_t[]> req_text_, resp_text_;
  std::unique_ptr<struct RedisText> value_;
  // A command's arguments as publish() reads them: a member, not a local that each
  // event would zero (1 KB).
  std::string_view args_[64];
};

}  // namespace tapbeat
