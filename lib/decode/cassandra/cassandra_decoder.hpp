// Cassandra's CQL native protocol (v3, v4, v5) behind the decoder seam, to
// Packetbeat's cassandra module.
//
// Framing: v3/v4 frames (9-byte header, body, optionally compressed with snappy or
// LZ4 as negotiated by STARTUP's COMPRESSION option, or `compressor` when the
// connection began before the capture). v5 switches to segments after the server's
// READY or AUTHENTICATE: 6-byte headers (8 when LZ4-compressed) with a CRC24,
// payloads of up to 128 KiB - 1 bytes followed by a CRC32, holding whole envelopes
// (self-contained) or a part of one large envelope. Both checksums are verified.
//
// Correlation: a response answers the request with the same stream id on the
// connection, whatever the order (drivers keep hundreds of streams in flight);
// server-pushed EVENTs (stream -1) are published alone with cassandra.no_request.
//
// Fields (Packetbeat's): cassandra.request.{headers.*, query} (QUERY and PREPARE
// texts, EXECUTE by the prepared id's statement when its PREPARE was seen, BATCH
// statements joined by "; "), cassandra.response.{headers.*, result.{type, rows.{num_rows,
// meta.*}, keyspace, schema_change.*, prepared.*}, supported, authentication.class,
// warnings, event.*, error.{code, msg, type, details.*}}. send_request,
// send_response, send_request_header, send_response_header, ignored_ops (no event
// for a transaction whose request or response op is listed).
//
// Bounds: a frame is read from its first kMaxHead bytes (what lies past passes by);
// a compressed frame is opened only when whole within that (a RESULT first as far as
// kResultPrefix: its rows are not read); decompressed bodies are capped at
// kMaxDecompressed; texts at kMaxQuery; pending requests per connection at
// kMaxPending. Every limit hit and every malformed field is counted.
#pragma once

#include <memory>
#include <string>

#include "decode/cassandra/cassandra_counters.hpp"
#include "decode/cassandra/cql_ops.hpp"
#include "decode/decoder.hpp"
#include "util/chain_store.hpp"

namespace tapbeat {

namespace cassandra {
class Cql;
}

enum class CqlCompressor : uint8_t { kNone, kSnappy, kLz4 };

struct CassandraSettings : ProtocolSettings {
  CassandraSettings() { send_request = send_response = true; }  // Packetbeat's defaults for cassandra
  bool send_request_header = true;
  bool send_response_header = true;
  CqlCompressor compressor = CqlCompressor::kNone;  // when STARTUP was not seen
  uint32_t ignored_ops = 0;                         // bit per opcode
};

struct CassandraState {
  uint32_t skip[2];           // bytes of the current frame (v3/v4) or segment payload past what is read
  uint32_t envelope_left[2];  // v5: bytes of a large envelope still to come in later segments
  uint32_t payload_left[2];   // v5: payload bytes of the current segment not yet read
  uint32_t crc[2];            // v5: CRC32 of the current segment's payload
  uint8_t seg_phase[2];       // v5: 0 header, 1 payload, 2 trailing CRC32
  uint8_t seg_self[2];        // v5: current segment is self-contained
  uint8_t segmented[2];       // v5 framing in force
  uint32_t seg_raw_len[2];    // v5: uncompressed length of the current LZ4 segment (0: stored as it is)
  int8_t client;              // direction of the client; -1 unknown yet
  uint32_t resync[2];         // after a gap: 1 + bytes passed over looking for a frame or segment start
  uint8_t seg_lost[2];        // v5, after a gap: parts of an envelope whose start was lost are passed over
  CqlCompressor compressor;
  uint32_t n_pending;
  ChainStore::Chain pending;  // Stored records, each followed by its query text
};

class CassandraDecoder final : public DecoderCommon<CassandraStat> {
 public:
  static constexpr uint32_t kMaxFrame = 256u << 20;  // the protocol's frame limit
  static constexpr uint32_t kMaxHead = 128 * 1024;   // bytes of a frame read (the engine holds up to this)
  static constexpr uint32_t kMaxSegmentPayload = (1u << 17) - 1;
  static constexpr uint32_t kMaxDecompressed = 4u << 20;
  // A compressed RESULT is opened this far first (its kind, metadata and row count);
  // further only when its head is longer.
  static constexpr uint32_t kResultPrefix = 4096;
  static constexpr uint32_t kMaxPending = 1024;            // requests awaiting responses per connection
  static constexpr uint32_t kMaxQuery = 16 * 1024;         // a query (or batch) text kept
  static constexpr uint32_t kMaxResponseText = 16 * 1024;  // a rendered response
  static constexpr uint32_t kPreparedSlots = 1024;         // prepared statements remembered per worker
  static constexpr uint32_t kMaxPreparedQuery = 2048;

  explicit CassandraDecoder(const DecoderSetup& s);
  ~CassandraDecoder() override;
  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void close(void* state, const StreamInfo& c) override;
  bool expire(void* state, const StreamInfo& c, uint64_t now_ns) override;

  struct Frame;    // one frame or envelope: header and (possibly cut) body
  struct Request;  // a request as kept until its response

 private:
  DecodeResult legacy(CassandraState& st, const StreamInfo& c, int dir, const uint8_t* p, uint32_t n);
  DecodeResult segments(CassandraState& st, const StreamInfo& c, int dir, const uint8_t* p, uint32_t n);
  bool payload(CassandraState& st, const StreamInfo& c, int dir, const uint8_t* p, uint32_t n);
  bool frame(CassandraState& st, const StreamInfo& c, int dir, const Frame& f);
  bool read_header(const uint8_t* p, uint8_t min_version, Frame& f);
  void request(CassandraState& st, const StreamInfo& c, const Frame& f);
  void response(CassandraState& st, const StreamInfo& c, const Frame& f);
  bool render_response(JsonWriter& w, cassandra::Cql& b, const Frame& f, std::string_view& new_prepared);
  bool inflate(CqlCompressor comp, const uint8_t* in, uint32_t n, std::size_t out);
  bool pop(CassandraState& st, int16_t stream, Request& out, bool any);
  void publish(const StreamInfo& c, int client, const Request* rq, const Frame* rp, std::string_view rendered,
               const char* note);

  const CassandraSettings& cfg_;
  std::unique_ptr<struct CassandraScratch> scratch_;
  uint64_t frame_ns_ = 0;  // capture time of the frame (v5: the segment) being read: its first byte's
};

}  // namespace tapbeat
