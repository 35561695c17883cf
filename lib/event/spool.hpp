// The disk queue (`queue.disk`): events an output cannot hand on yet (broker down
// or slow) are appended to segment files and read back, oldest first, when it can.
//
// Files: <path>/<seq>.tbq, sequence numbers in read order. A record is
//   u32 magic "TBQ1" | u32 body length | u32 CRC-32 of the body
//   body: u16 topic length | u16 key length | i64 timestamp (ms) | topic | key | value
// all little-endian. A read record is checked (magic, bounds, CRC, the value parsed as
// JSON by simdjson); a corrupt or truncated segment is reported, counted and skipped
// past, an invalid record is counted and skipped. A segment is deleted once every
// record read from it has been acknowledged (delivered or spooled again), so a crash
// repeats records rather than losing them (at least once). On close, the offset read
// up to in a partly read segment is kept beside it (<seq>.tbq.offset).
//
// Thread-safety: one thread (the output thread). Allocation: buffers grow to the
// largest segment and are reused; push() does one write() per record.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tapbeat {

struct SpoolRecord {
  std::string_view topic;
  std::string_view key;
  std::string_view value;
  int64_t timestamp_ms = 0;
};

struct SpoolSettings {
  std::string path;
  uint64_t max_bytes = 10ull << 30;       // queue.disk.max_size
  uint64_t segment_bytes = 100ull << 20;  // queue.disk.segment_size
};

class Spool {
 public:
  static constexpr uint32_t kMagic = 0x31514254;  // "TBQ1"
  static constexpr std::size_t kHeaderBytes = 12;
  static constexpr uint32_t kMaxRecordBytes = 64u << 20;

  using Report = std::function<void(const std::string&)>;
  // Creates the folder and finds the segments a previous run left. Throws
  // std::runtime_error naming the path when it cannot.
  Spool(SpoolSettings s, Report warn);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  enum class Push { kOk, kFull, kError };
  // Appends at the tail. kFull: max_bytes would be passed (the caller counts the drop).
  Push push(const SpoolRecord& r);
  // Appends to a segment read before every other: records handed back at shutdown,
  // which are older than anything spooled. Opened on first use, until close().
  Push push_front(const SpoolRecord& r);

  // The next unread record (views valid until the next peek/pop). False when none.
  bool peek(SpoolRecord& out, uint32_t& token);
  // The peeked record is taken; ack(token) when it is delivered or spooled again.
  void pop();
  void ack(uint32_t token);

  bool empty();  // nothing left to read
  uint64_t bytes() const { return bytes_; }
  void sync();  // fdatasync the segment being written
  // Syncs, keeps the read offset of a partly read segment, closes files.
  void close();

  uint64_t records_written() const { return written_; }
  uint64_t records_read() const { return read_; }
  uint64_t corrupt_segments() const { return corrupt_; }
  uint64_t invalid_records() const { return invalid_; }
  const std::string& error() const { return error_; }

 private:
  struct Segment {
    uint64_t size = 0;
    bool read_done = false;    // every record read (or the rest skipped)
    uint64_t outstanding = 0;  // read, not yet acknowledged
  };
  std::string file_of(uint64_t seq) const;
  Push append(int& fd, uint64_t& seq, bool front, const SpoolRecord& r);
  bool load(uint64_t seq);
  void finish_reading();
  void maybe_delete(uint64_t seq);
  void close_writer();

  SpoolSettings s_;
  Report warn_;
  std::map<uint64_t, Segment> segments_;
  uint64_t bytes_ = 0;
  int write_fd_ = -1;
  uint64_t write_seq_ = 0;
  int front_fd_ = -1;
  uint64_t front_seq_ = 0;
  bool dirty_ = false;

  // Reader: the whole segment in memory (it is immutable once read).
  uint64_t read_seq_ = 0;  // 0: none loaded
  std::vector<char> rbuf_;
  std::size_t rlen_ = 0, roff_ = 0, peeked_next_ = 0;
  bool peeked_ = false;
  simdjson::dom::parser json_;

  std::vector<char> wbuf_;
  uint64_t written_ = 0, read_ = 0, corrupt_ = 0, invalid_ = 0;
  std::string error_;
};

}  // namespace tapbeat
