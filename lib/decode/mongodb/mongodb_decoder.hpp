// MongoDB wire protocol behind the decoder seam, to Packetbeat's mongodb module.
// Requests (OP_MSG with its document sequences, OP_QUERY, OP_GET_MORE, and the
// legacy OP_INSERT, OP_UPDATE, OP_DELETE, OP_KILL_CURSORS) are matched to replies
// (OP_MSG, OP_REPLY) by requestID / responseTo, so pipelined and out-of-order
// replies pair right; OP_COMPRESSED is opened (snappy, zlib, zstd). Requests that
// get no reply (legacy writes, OP_MSG with moreToCome) are published at once.
//
// Fields: `method` (the command: the first key of the command document, or the
// legacy operation), `resource` (database.collection), `query` (the shell-like
// `resource.method(arguments)` without bulk payloads), `mongodb.*` (Packetbeat's:
// fullCollectionName, numberToSkip, numberToReturn, numberReturned, startingFrom,
// cursorId, selector, update, returnFieldsSelector, message, error), `request`
// (with payloads) and `response` (one JSON document per line, max_docs, each cut at
// max_doc_length). BSON is rendered as JSON with bounded depth and size.
//
// A message is read whole up to kMaxHead bytes; a longer one is read from its
// first kMaxHead bytes (its documents as far as those go, the last one cut; noted in a
// reply, whose document count is left out) and the rest passes by. Every length from
// the wire is checked against the message.
#pragma once

#include <memory>
#include <string>

#include "decode/decoder.hpp"
#include "decode/mongodb/mongodb_counters.hpp"
#include "util/chain_store.hpp"

namespace tapbeat {

struct MongodbSettings : ProtocolSettings {
  uint32_t max_docs = 10;          // documents in `response`; 0: all
  uint32_t max_doc_length = 5000;  // characters per document; 0: whole
};

struct MongodbState {
  uint32_t skip[2];           // bytes of the current message past its head
  uint32_t resync[2];         // after a gap: 1 + bytes passed over looking for a message start
  int8_t client;              // direction of the client; -1 unknown yet
  uint32_t n_pending;         // requests waiting for their reply
  ChainStore::Chain pending;  // Pending records, each followed by its texts
};

class MongodbDecoder final : public DecoderCommon<MongodbStat> {
 public:
  static constexpr uint32_t kMaxMessage = 48u << 20;  // MongoDB's maxMessageSizeBytes
  static constexpr uint32_t kMaxHead = 128 * 1024;    // bytes of a message read (the engine holds up to this)
  static constexpr uint32_t kMaxDecompressed = 16u << 20;
  static constexpr uint32_t kMaxPending = 256;     // requests awaiting replies per connection
  static constexpr uint32_t kMaxText = 64 * 1024;  // a rendered query, request or document list

  explicit MongodbDecoder(const DecoderSetup& s);
  ~MongodbDecoder() override;
  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void close(void* state, const StreamInfo& c) override;
  bool expire(void* state, const StreamInfo& c, uint64_t now_ns) override;

  struct Request;  // a parsed request, texts rendered
  struct Reply;

 private:
  bool message(MongodbState& st, const StreamInfo& c, int dir, const uint8_t* p, uint32_t head, uint32_t len);
  void publish(const StreamInfo& c, int client, const Request& rq, const Reply* rp, const char* note);
  bool pop(MongodbState& st, int32_t response_to, Request& out, bool any);
  void wait_for_reply(MongodbState& st, const Request& rq);

  const MongodbSettings& cfg_;
  std::unique_ptr<struct MongodbScratch> scratch_;
  uint64_t msg_ns_ = 0;  // capture time of the message being read: its first byte's
};

}  // namespace tapbeat
