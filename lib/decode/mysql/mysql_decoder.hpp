// MySQL (client/server protocol 4.1, MariaDB alike) behind the decoder seam, to
// Packetbeat's mysql module: COM_QUERY, COM_STMT_PREPARE and COM_STMT_EXECUTE
// (parameters decoded from the binary protocol with the types the statement was
// bound with) are published with the response they got: OK (affected_rows,
// insert_id), ERR (error_code, "SQLSTATE: message"), or a result set (num_fields,
// num_rows, the tables as `path`, text or binary rows for `response`).
//
// Packets are framed by their 4-byte header and streamed: only the first bytes of
// a packet that the event needs are asked of the engine (a bounded head), the rest
// passes by, so a 16 MB row or query never sits in memory. The connection phase
// (handshake, authentication, TLS or compression switch) is followed to tell the
// client from the server and to stop at what cannot be read (a gap in it leaves the
// rest read as on a connection picked up midway); commands that get no
// response (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA, COM_QUIT) are not waited for;
// multi-result responses (SERVER_MORE_RESULTS_EXISTS) and LOCAL INFILE end where
// the server says they do. Other commands are followed but not published (as
// Packetbeat), and counted. MySQL 8: query attributes (CLIENT_QUERY_ATTRIBUTES,
// negotiated in the handshake, or recognised by shape on a connection picked up
// midway) are passed over to the query text and parameters; COM_CHANGE_USER and
// every authentication exchange (auth switch, caching_sha2_password's AuthMoreData,
// public-key request) run to the server's OK or ERR before commands resume.
//
// The compressed protocol (CLIENT_COMPRESS, zlib; MySQL 8's zstd), in effect from the
// server's OK that ends the login: each compressed packet (a 7-byte header: length,
// sequence, length uncompressed, 0 for a payload sent as it is) is inflated, in
// bounded pieces, into the packets above, which are read as they are on a plain
// connection; their bytes the next compressed packet goes on with are held between.
// A compressed packet too large for the engine to hold whole is inflated from its
// first part (a long query's or row's head) and the rest passed over.
#pragma once

#include <memory>

#include "decode/decoder.hpp"
#include "decode/mysql/mysql_counters.hpp"
#include "decode/mysql/mysql_inflate.hpp"
#include "decode/sql/sql_text.hpp"
#include "util/chain_store.hpp"

namespace tapbeat {

// Packetbeat's mysql options.
using MysqlSettings = SqlSettings;

struct MysqlState {
  static constexpr int kMaxTypedColumns = 64;  // binary rows: columns decoded by type
  static constexpr int kPathBytes = 192;
  struct Dir {
    uint32_t skip;   // payload bytes of the current packet still to pass over
    uint8_t cont;    // the current packet is 0xffffff long: a continuation follows
    uint8_t seq;     // sequence id of the last packet
    uint8_t resync;  // after a gap: kResyncNext, kResyncAfterPeer (0: framed)
    // The compressed protocol: after a gap, the next compressed header is looked for;
    // bytes of a compressed packet still to pass over (zskip), to read as they are
    // (zraw: a payload sent uncompressed) or to inflate as they come (zleft: one too
    // long to hold whole, with a streaming inflater lent, zstream - 1, its length
    // uncompressed zulen, zgot of it read out so far); the packets' bytes read out of
    // compressed ones that the next goes on with (held, the first of them from held_ns).
    uint8_t zresync;
    uint8_t zstream;
    uint32_t zskip, zraw, zleft, zulen, zgot;
    uint64_t held_ns;
    ChainStore::Chain held;
  };
  Dir dir[2];
  int8_t client;  // direction of the client; -1 unknown yet
  uint8_t phase;  // connection: handshake, authentication, commands, done
  uint8_t conn;   // what the handshake negotiated (ConnFlag bits)
  uint8_t zseq;   // compressed: the sequence of the client's last compressed packet
  uint8_t resp;   // where the response to the pending command is
  uint8_t flags;  // transaction flags (error, gap, truncated)
  // The pending command.
  uint8_t cmd;          // 0: none
  uint8_t binary_rows;  // the response's rows are in the binary protocol
  uint16_t path_len;
  uint32_t stmt_id;
  uint64_t start_ns, end_ns;
  uint64_t req_bytes, resp_bytes;
  ChainStore::Chain request;  // head of the command packet
  // The response so far.
  uint32_t cols_left, params_left;
  uint32_t num_fields;
  uint32_t stmt_params;  // prepare: parameters of the new statement
  uint64_t num_rows;
  uint64_t affected_rows, insert_id;
  uint16_t error_code;
  uint16_t col_index;
  uint64_t unsigned_cols;  // bit i: column i is unsigned
  uint8_t col_types[kMaxTypedColumns];
  char path[kPathBytes];
  ChainStore::Chain table;  // `response`: CSV of names and rows
  ChainStore::Chain error;  // "SQLSTATE: message" of an ERR
  // Prepared statements of the connection: Statement records.
  ChainStore::Chain statements;
  uint32_t n_statements;
  uint32_t last_prepared;  // id of the statement last prepared (MariaDB's execute of id -1)
  uint8_t has_last_prepared;
  // Commands sent behind the pending one (pipelined), oldest first: Waiting records.
  uint8_t n_waiting;
  ChainStore::Chain waiting;
  // Bytes lost to the capture among pipelined commands or their responses: how many
  // commands they held, or which commands' responses, is not known. A place
  // (kLostCommands) takes its turn among the commands (client bytes: behind those seen;
  // server bytes, two or more commands sent before the client had them: ahead of all);
  // the responses that reach it are held (lost_resp), not paired as they come. The
  // client's first command after the server has sent (lost_seen) ends it once the
  // responses are as many as the commands behind it (server bytes: one fewer), or the
  // connection's end or expiry does: the last
  // responses answer the last commands, in order (a plain OK, an ERR, a result set, a
  // prepare's OK are published with their command; any other leaves it unanswered), the others go
  // out unanswered, noted, and pairing starts again. (Client bytes lost with nothing
  // waiting, the server having sent since it had them: their responses have come,
  // unpaired, and no place is needed.)
  uint8_t lost;  // a place is pending or waiting: what it stands for (LostKind)
  uint8_t lost_seen;
  uint8_t n_lost_resp;
  uint32_t lost_answers;
  uint32_t lost_taken;  // responses taken (counted unmatched unless paired at the end)
  uint64_t server_ns;   // the server's last packet
  // The last responses the place took (LostAnswer records, up to kMaxWaiting): those
  // of the commands behind it, once it ends, when they were that many.
  ChainStore::Chain lost_resp;
};

class MysqlDecoder final : public DecoderCommon<MysqlStat> {
 public:
  static constexpr uint32_t kMaxRequestHead = 16 * 1024;  // bytes of a command kept (query text, parameters)
  static constexpr uint32_t kMaxColumnDef = 4096;         // bytes of a column definition read
  static constexpr uint32_t kMaxErrorHead = 1024;         // bytes of an OK or ERR packet read
  static constexpr uint32_t kMaxStatements = 256;         // prepared statements remembered per connection
  static constexpr uint32_t kStatementQuery = 2048;       // bytes of a prepared statement's query kept
  static constexpr uint32_t kMaxParams = 64;              // parameters decoded per execute
  static constexpr uint32_t kMaxTable = 1u << 20;         // bytes of `response` text

  explicit MysqlDecoder(const DecoderSetup& s);
  ~MysqlDecoder() override;
  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  // Bytes of the packets inflated (or read) out of the compressed packets ahead of the
  // parser at a time.
  static constexpr uint32_t kInflateBytes = 256 * 1024;
  // A compressed packet longer than this (with its header) is inflated as it comes, by
  // one of kStreams inflaters lent to a direction for it (none free: read from its first
  // part, the rest passed over).
  static constexpr uint32_t kMaxCompressedWhole = 128 * 1024;
  static constexpr int kStreams = 8;
  bool cut_short(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void close(void* state, const StreamInfo& c) override;
  bool expire(void* state, const StreamInfo& c, uint64_t now_ns) override;

 private:
  struct Statement;
  // The packets of a direction's bytes (on a compressed connection, those inflated out
  // of its compressed packets: `inner`).
  DecodeResult packets(MysqlState& st, const StreamInfo& c, int dir, std::span<const uint8_t> bytes,
                       bool inner);
  DecodeResult compressed(MysqlState& st, const StreamInfo& c, int dir, std::span<const uint8_t> bytes);
  // Runs bytes of a compressed packet's payload through the packet parser after the
  // bytes held: what z inflates of the input it was given, or (z null) raw's k bytes, sent
  // as they are. What the parser has not taken is held for the next. Produced: the
  // bytes read out.
  Verdict inflate_through(MysqlState& st, const StreamInfo& c, int dir, mysql::Inflater* z,
                          const uint8_t* raw, uint32_t k, uint64_t at_ns, uint64_t& produced);
  // Compression found in effect without the login's OK (lost, or before the capture).
  void begin_compressed(MysqlState& st);
  // Whether the first bytes of the payload of the compressed packet at h inflate
  // (avail: bytes at h, 12 or more).
  bool inflates(const uint8_t* h, uint32_t avail);
  // A streaming inflater for st's direction dir (-1: none free); given back.
  int lend_stream(const MysqlState& st, int dir);
  void give_back_stream(MysqlState& st, int dir);
  // The framing of the packets is lost (a capture gap, a compressed packet not read):
  // the parser takes the stream up where a message opens.
  bool lose_framing(MysqlState& st, const StreamInfo& c, int dir);
  uint32_t head_wanted(const MysqlState& st, int dir, uint32_t len, uint8_t first) const;
  // One packet: its payload's first `head` bytes of len; at_ns, its first byte's capture time.
  bool client_packet(MysqlState& st, const StreamInfo& c, const uint8_t* p, uint32_t len, uint32_t head,
                     uint64_t at_ns);
  bool server_packet(MysqlState& st, const StreamInfo& c, const uint8_t* p, uint32_t len, uint32_t head,
                     uint64_t at_ns);
  void column(MysqlState& st, const uint8_t* p, uint32_t head);
  void row(MysqlState& st, const uint8_t* p, uint32_t head);
  static bool opens_cursor(const uint8_t* p, uint32_t head);
  void ok_packet(MysqlState& st, const uint8_t* p, uint32_t head, bool eof_header);
  void error_packet(MysqlState& st, const uint8_t* p, uint32_t head);
  void finish_response(MysqlState& st, const StreamInfo& c);
  void publish(MysqlState& st, const StreamInfo& c, const char* note);
  void reset_transaction(MysqlState& st);
  void reset_transaction_fields(MysqlState& st);
  bool find_statement(MysqlState& st, uint32_t id, uint64_t now_ns, Statement& out, uint32_t& offset);
  void remember_statement(MysqlState& st, uint64_t now_ns);
  void forget_statement(MysqlState& st, uint32_t id);
  void keep_columns(MysqlState& st, uint64_t now_ns);
  bool use_kept_columns(MysqlState& st, uint64_t now_ns);
  // Commands sent behind the pending one (pipelined): MysqlState::waiting, in order.
  struct Waiting;
  static constexpr uint8_t kMaxWaiting = 64;
  void begin_command(MysqlState& st, const StreamInfo& c, uint8_t cmd, const uint8_t* p, uint32_t len,
                     uint32_t head, uint64_t at_ns, bool behind);
  bool can_wait_behind(const MysqlState& st) const;
  static Waiting waiting_of(const MysqlState& st);
  static void load_waiting(MysqlState& st, const Waiting& w);
  void push_waiting(MysqlState& st);
  void pop_waiting(MysqlState& st);
  // Queues a command (read as the pending one is) behind the pending one; false when
  // the store had no room for it.
  bool queue_behind(MysqlState& st, const StreamInfo& c, uint8_t cmd, const uint8_t* p, uint32_t len,
                    uint32_t head, uint64_t at_ns);
  // Client bytes lost among commands: the place of the commands they held (MysqlState::lost).
  void lose_commands(MysqlState& st, const StreamInfo& c);
  // Server bytes lost ahead of the pending command's response: a place ahead of every
  // command when two or more could have been answered in them (false: none).
  bool lose_responses(MysqlState& st, const StreamInfo& c);
  // The place pending, the client's next command: whether the responses to the commands
  // behind it can have come.
  static bool lost_answered(const MysqlState& st);
  // The place ends (at_end: the connection's end or expiry): the commands behind it are
  // published with the responses kept for them, or unanswered.
  struct LostAnswer;
  void end_lost(MysqlState& st, const StreamInfo& c, bool at_end);
  void give_up_pending(MysqlState& st, const StreamInfo& c, bool at_end);
  void lost_response(MysqlState& st, const uint8_t* p, uint32_t len, uint32_t head, uint8_t seq,
                     uint64_t at_ns);

  const MysqlSettings& cfg_;
  std::unique_ptr<uint8_t[]> scratch_;  // a command's head, a statement's query
  std::unique_ptr<uint8_t[]> table_;    // `response` text at publish time
  CsvLine line_;
  std::unique_ptr<uint8_t[]> inflated_;  // kInflateBytes: held and inflated bytes for the parser
  mysql::Inflater inflater_;             // compressed packets held whole
  struct Stream {
    mysql::Inflater z;
    const MysqlState* owner = nullptr;  // the connection it is lent to, and which direction
    int dir = 0;
  };
  std::unique_ptr<Stream[]> streams_;  // kStreams
  bool cutting_ = false;               // in cut_short: the command read is one whose end was lost
};

}  // namespace tapbeat
