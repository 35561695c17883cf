// PostgreSQL (frontend/backend protocol 3.0) behind the decoder seam, to Packetbeat's
// pgsql module. A request is a simple query ('Q') or an extended-query batch (Parse,
// Bind, Describe, Execute ... up to Sync); its response is everything the server
// sends up to ReadyForQuery (its size: the messages that carry results, as
// Packetbeat counts it): row description (num_fields, column names), data rows
// (num_rows, the first max_rows for `response`), CommandComplete, ErrorResponse
// (severity, SQLSTATE code, message), COPY in either direction. Requests and
// responses pair in order, so pipelined queries match. The startup phase (SSL and
// GSS encryption requests, authentication, parameters) is followed and not
// published; an accepted SSL/GSS request ends decoding (the rest is encrypted), and a
// client that opens with a TLS record (PostgreSQL 17's direct SSL) hands the
// connection to the TLS decoder. A gap during the startup, or a side whose first bytes
// are not a message on a connection picked up midway, is taken up at the next message
// start as after any gap.
//
// Messages are framed by their type and length and streamed: only the first bytes
// an event needs are asked of the engine, the rest passes by.
#pragma once

#include <memory>

#include "decode/decoder.hpp"
#include "decode/pgsql/pgsql_counters.hpp"
#include "decode/sql/sql_text.hpp"
#include "util/chain_store.hpp"

namespace tapbeat {

// Packetbeat's pgsql options.
using PgsqlSettings = SqlSettings;

struct PgsqlState {
  struct Dir {
    uint32_t skip;    // payload bytes of the current message still to pass over
    uint32_t resync;  // after a gap: 1 + bytes passed over looking for a message start
    uint8_t framed;   // a message of this side was read
  };
  Dir dir[2];
  int8_t client;       // direction of the client; -1 unknown yet
  uint8_t phase;       // startup, SSL answer awaited, queries, done
  uint8_t req_open;    // an extended-query batch is being sent
  uint8_t req_flags;   // the request being sent: lost the end of a message, its query cut (ReqFlag)
  uint8_t resp_open;   // a response is under way
  uint8_t resp_flags;  // error, gap, truncated, copy
  uint8_t err_code_len, err_sev_len;
  char err_code[5];
  char err_severity[16];
  LostAnswers lost;        // after a gap in the responses
  uint32_t n_requests;     // closed requests waiting for their response
  uint32_t pending_bytes;  // bytes those requests keep
  uint32_t num_fields;
  uint64_t num_rows;
  uint64_t copy_rows;                  // rows a COPY reported in its CommandComplete
  uint64_t resp_start_ns, resp_bytes;  // the response's first message's time, its size
  // The start of the last response that found no request waiting (0: none): a request
  // whose end the capture lost and that began before it was answered by it.
  uint64_t orphan_ns;
  // The first message Packetbeat reads as the response (it passes the others over): the
  // transaction's end; 0 until one comes.
  uint64_t resp_answer_ns;
  // The request being sent.
  uint64_t req_start_ns, req_bytes;
  uint64_t copy_in_bytes;  // COPY FROM STDIN data of the request whose response is under way
  ChainStore::Chain req_query;
  // Closed requests (Request records, each followed by its query bytes).
  ChainStore::Chain requests;
  // The response so far.
  ChainStore::Chain table;  // `response`: CSV of names and rows
  ChainStore::Chain err_msg;
  // Statements a Parse named (and the unnamed one), remembered for the batches that bind
  // them without parsing again (JDBC's S_1 after its prepare threshold): the hash of the
  // name and the query, forgotten at Close. When all kMaxNamed are taken the oldest
  // moves to `spilled`, a log of (hash, length, query) records in the block store, up
  // to PgsqlDecoder::kMaxSpilledBytes (past that its oldest are forgotten, counted); one
  // found there moves back, in the place of the oldest here.
  struct Named {
    uint32_t hash;
    uint8_t used;
    ChainStore::Chain text;
  };
  static constexpr int kMaxNamed = 32;
  Named named[kMaxNamed];
  uint8_t named_next;
  uint16_t n_spilled;
  ChainStore::Chain spilled;
};

class PgsqlDecoder final : public DecoderCommon<PgsqlStat> {
 public:
  static constexpr uint32_t kMaxMessage = 1u << 30;     // PostgreSQL's own limit on a message
  static constexpr uint32_t kMaxQueryHead = 16 * 1024;  // bytes of a query kept
  static constexpr uint32_t kMaxRowDescription = 16 * 1024;
  static constexpr uint32_t kMaxErrorHead = 2048;
  static constexpr uint32_t kMaxPending = 256;  // requests waiting for responses per connection
  static constexpr uint32_t kMaxPendingBytes = 256 * 1024;
  static constexpr uint32_t kMaxTable = 1u << 20;
  // Named statements past the table's kMaxNamed: their queries' bytes per connection
  // (pgJDBC caches up to 256 statements a connection, of 1 MiB of queries).
  static constexpr uint32_t kMaxSpilledBytes = 64 * 1024;

  explicit PgsqlDecoder(const DecoderSetup& s);
  ~PgsqlDecoder() override;
  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool cut_short(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void close(void* state, const StreamInfo& c) override;
  bool expire(void* state, const StreamInfo& c, uint64_t now_ns) override;

 private:
  struct Request {
    uint64_t start_ns, end_ns, bytes;
    uint32_t query_len;
    uint32_t flags;  // ReqFlag: a message of it lost its end to the capture, its query cut
  };
  uint32_t head_wanted(const PgsqlState& st, bool client, uint8_t type, uint32_t len) const;
  bool client_message(PgsqlState& st, const StreamInfo& c, uint8_t type, const uint8_t* p, uint32_t len,
                      uint32_t head);
  bool server_message(PgsqlState& st, const StreamInfo& c, uint8_t type, const uint8_t* p, uint32_t len,
                      uint32_t head);
  void close_request(PgsqlState& st, const StreamInfo& c);
  // Named statements: the one a name (hashed) stands for, remembered from its Parse.
  PgsqlState::Named* find_statement(PgsqlState& st, std::string_view name);
  // The table's oldest entry for a new statement: itself moved to the spilled log when used.
  PgsqlState::Named& take_slot(PgsqlState& st);
  // Rewrites st.spilled from spill_[0, len) (records of n_spilled); false: the store is full.
  bool store_spilled(PgsqlState& st, uint32_t len);
  void remember_statement(PgsqlState& st, std::string_view name, std::string_view query);
  void start_response(PgsqlState& st, bool answer);
  void finish_response(PgsqlState& st, const StreamInfo& c);
  bool pop_request(PgsqlState& st, Request& r, uint32_t& query_len);
  // A request taken out goes unanswered: its response began in bytes the capture lost.
  void lose_response(PgsqlState& st, const StreamInfo& c, const Request& req, uint32_t query_len);
  void publish(PgsqlState& st, const StreamInfo& c, const Request* req, uint32_t query_len, bool answered,
               const char* note);
  void reset_response(PgsqlState& st);

  const PgsqlSettings& cfg_;
  std::unique_ptr<uint8_t[]> query_;  // a request's query at publish time
  std::unique_ptr<uint8_t[]> spill_;  // a connection's spilled statements, rewritten
  std::unique_ptr<uint8_t[]> table_;  // `response` text at publish time
  CsvLine line_;
  uint64_t msg_ns_ = 0;  // capture time of the first byte of the message being read
};

}  // namespace tapbeat
