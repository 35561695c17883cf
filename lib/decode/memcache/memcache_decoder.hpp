// Memcache behind the decoder seam, to Packetbeat's memcache module: the text and
// the binary protocol, over TCP (requests matched to responses in order, binary
// quiet commands by opaque, with noop flushing them) and over UDP (the 8-byte frame
// header; requests matched by request id within udptransactiontimeout).
//
// Values are counted and, with maxvalues set, kept as they stream past (each up to
// maxbytespervalue and kMaxValueBytes, a message's up to kMaxValuesBytes, in the block
// store) and published base64-encoded as Packetbeat publishes them; a value larger than
// the engine hands over whole streams through.
#pragma once

#include <memory>
#include <string_view>

#include "decode/decoder.hpp"
#include "decode/memcache/memcache_counters.hpp"
#include "util/chain_store.hpp"

namespace tapbeat {

struct MemcacheSettings : ProtocolSettings {
  bool parse_unknown = false;
  uint64_t udp_timeout_ns = 200'000'000;  // udptransactiontimeout
  int32_t max_values = 0;                 // maxvalues: values kept per message, 0 none, < 0 all
  uint32_t max_bytes_per_value = 0;       // maxbytespervalue: 0 as far as kMaxValueBytes
};

// McMsg::value_notes
enum McValueNote : uint8_t {
  kValueCut = 1,       // a value kept shorter than the bound (the store full, the capture's loss)
  kValueTooLong = 2,   // a value past kMaxValueBytes, kept as far as that
  kValuesLeftOut = 4,  // values past kMaxValuesBytes of a message not kept
};

// One parsed message, summarised (keys kept in a chain, bounded).
struct McMsg {
  ChainStore::Chain keys;  // keys separated by ' '
  ChainStore::Chain vals;  // values kept (maxvalues): each a 4-byte length, then its bytes
  uint64_t start_ns, end_ns;
  uint64_t wire_bytes;   // message size on the wire
  uint64_t value_bytes;  // bytes of values (request.bytes / response.bytes)
  uint64_t cas;
  uint64_t delta, initial;
  uint64_t counter;  // incr/decr result
  uint32_t exptime, flags, opaque;
  uint32_t count_values;
  uint32_t token, key_hash;  // meta: hashes of the O token and of the key as sent
  uint16_t status;           // binary status
  uint8_t opcode;            // binary opcode
  uint8_t command;           // index into the command table
  uint16_t bits;             // McBit
  uint8_t reply_kind;        // text replies: index into the reply table
  uint16_t vbucket;          // binary requests
  uint16_t values_kept;      // values in vals
  uint8_t value_notes;       // McValueNote
  // No request: the reply owed to a text command whose first bytes the client's gap took
  // and whose last bytes were passed over after it (captured up to end_ns). Never
  // published; a reply begun from end_ns on is that command's.
  uint8_t owed;
};

struct MemcacheState {
  struct Dir {
    uint64_t skip;      // value bytes still to stream past
    uint8_t in_value;   // a message waits for its value to pass
    uint8_t owes;       // the client's gap fell between commands: bytes passed over after it
                        // end a command the gap began (its reply still to come)
    uint8_t cut_taken;  // cut_short() took the client's line the gap cut
    uint8_t pad;
    uint32_t resync;     // after a gap: 1 + the bytes passed over until a message starts
    uint64_t resync_ns;  // when the last byte passed over was captured
    McMsg cur;           // the message whose value is streaming, or a text reply being gathered
    uint8_t gathering;   // a multi-line text reply (VALUE... END, STAT... END) is open
    uint8_t pad2[3];
    uint32_t keep_left;  // bytes of the streaming value still to keep in cur.vals
    uint32_t value_at;   // where in cur.vals the streaming value's length is
  };
  Dir dir[2];
  ChainStore::Chain queue;  // pending requests (McMsg records)
  LostAnswers lost;         // after a gap in text replies
  uint32_t n_pending;
  int8_t client;
  uint8_t binary;          // protocol_type, once known: 1 text, 2 binary
  uint8_t took_cut_reply;  // a reply the capture cut short was taken; its gap follows
  uint8_t end_may_follow;  // ... and its END, if not lost, may still come (absorbed)
  uint8_t lost_get;        // a gap took the head of a retrieval's reply (VALUE ... END)
  uint8_t client_lost;     // the client's framing was lost once (requests may be missing)
  uint64_t orphan_ns;      // when the last reply that found no request waiting began
};

class MemcacheDecoder final : public DecoderCommon<MemcacheStat> {
 public:
  static constexpr uint32_t kMaxKeysText = 16 * 1024;  // a request's or reply's keys, space-separated
  static constexpr uint32_t kMaxPending = 4096;
  static constexpr uint32_t kUdpPending = 1024;
  // Bounds of the values kept: one value, and all of one message (base64, they fit an
  // output chunk).
  static constexpr uint32_t kMaxValueBytes = 64 * 1024;
  static constexpr uint32_t kMaxValuesBytes = 128 * 1024;

  explicit MemcacheDecoder(const DecoderSetup& s);
  ~MemcacheDecoder() override;
  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool cut_short(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void close(void* state, const StreamInfo& c) override;
  bool expire(void* state, const StreamInfo& c, uint64_t now_ns) override;
  void datagram(const PacketMeta& m) override;
  void tick(uint64_t now_ns) override;
  void finish() override;

  struct Udp;

 private:
  void keep_key(McMsg& m, std::string_view k);  // one more key, within kMaxKeysText
  // A value of len bytes begins streaming into m: kept (d.keep_left of it) when the
  // settings and bounds let it be.
  void begin_value(McMsg& m, MemcacheState::Dir& d, uint64_t len);
  // Streaming bytes of the value under way: what is still to keep of them.
  void keep_value(McMsg& m, MemcacheState::Dir& d, const uint8_t* p, uint32_t n);
  // The value under way ends before its kept bytes did (a gap, a cut): its length
  // says what was kept.
  void end_value_early(McMsg& m, MemcacheState::Dir& d);
  void release(McMsg& m) {
    store_.release(m.keys);
    store_.release(m.vals);
  }
  // Writes the kept values of m: one string (a text storage command's value, as
  // Packetbeat writes a request's) or an array.
  void write_values(JsonWriter& w, const McMsg& m, bool one);
  // A text command's keys from its words w (nw of the line's, at most kMaxWords).
  void text_keys(McMsg& m, const std::string_view* w, int nw, std::string_view line);
  // first_ns: when p's first byte was captured (a message's time is its first packet's).
  DecodeResult parse(MemcacheState& st, int dir, const uint8_t* p, uint32_t n, uint64_t first_ns,
                     bool request, McMsg& out, bool& done);
  void on_message(MemcacheState& st, const StreamInfo& c, McMsg& m);
  // answer_unknown: a quiet request alone whose answer (a hit) may have been in bytes
  // the capture lost: noted so.
  void publish(const StreamInfo& c, int client, bool binary, bool udp, const McMsg* req, const McMsg* resp,
               bool answer_unknown = false);
  void drop_pending(MemcacheState& st, McMsg& out);
  // A request taken out goes unanswered: its reply was in bytes the capture lost.
  void lose_reply(MemcacheState& st, const StreamInfo& c, McMsg& req);
  bool cut_reply(MemcacheState& st, const StreamInfo& c, MemcacheState::Dir& d,
                 std::span<const uint8_t> held);
  void take_cut_reply(MemcacheState& st, const StreamInfo& c, MemcacheState::Dir& d);
  // A gap took the direction's framing: the message under way is dropped and the stream
  // is looked for again (data()'s resync).
  void lose_framing(MemcacheState::Dir& d);
  // After the client's gap, the first text command found again: where bytes were passed
  // over before it (the end of a command the gap began), that command's reply is owed.
  void owe_reply(MemcacheState& st, uint64_t tail_ns);
  // Whether a text reply can be the answer to req (its kind, and a value's key).
  bool can_answer(const McMsg& req, const McMsg& reply) const;
  // Whether a request waiting (any of them) can have got this reply.
  bool answers_pending(const MemcacheState& st, const McMsg& reply) const;
  // Whether the request waiting first is a text command of no known name.
  bool oldest_is_unknown(const MemcacheState& st) const;

  const MemcacheSettings& cfg_;
  std::unique_ptr<Udp> udp_;
  static constexpr int kMaxWords = 260;    // the words of a text line read into words_
  std::string_view words_[kMaxWords + 6];  // (a member: not zeroed for every line)
  char keys_text_[2][kMaxKeysText + 256];  // a transaction's keys, copied out to be written
  std::unique_ptr<uint8_t[]> value_raw_;   // a kept value copied out (maxvalues set)
  std::unique_ptr<char[]> value_text_;     // ... and base64-encoded
};

}  // namespace tapbeat
