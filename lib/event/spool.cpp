#include "event/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "util/fd_io.hpp"
#include "util/safe_file.hpp"

namespace tapbeat {
namespace {

constexpr uint64_t kFirstSeq = 1'000'000'000;  // room below for segments read first

void put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void put16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
}
uint32_t get32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint16_t get16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | (static_cast<uint8_t>(p[1]) << 8));
}

}  // namespace

Spool::Spool(SpoolSettings s, Report warn) : s_(std::move(s)), warn_(std::move(warn)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const std::string why = prepare_private_dir(s_.path); !why.empty()) throw std::runtime_error(why);
  if (::access(s_.path.c_str(), W_OK) != 0)
    throw std::runtime_error("cannot write to " + s_.path + ": " + std::strerror(errno));
  for (const auto& e : fs::directory_iterator(s_.path, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() != 24 || name.substr(20) != ".tbq") continue;
    char* end = nullptr;
    const uint64_t seq = std::strtoull(name.c_str(), &end, 10);
    if (end != name.c_str() + 20 || seq == 0) continue;
    Segment seg;
    seg.size = e.file_size(ec);
    bytes_ += seg.size;
    segments_[seq] = seg;
  }
  if (ec) throw std::runtime_error("cannot list " + s_.path + ": " + ec.message());
}

Spool::~Spool() { close(); }

std::string Spool::file_of(uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.tbq", static_cast<unsigned long long>(seq));
  return s_.path + "/" + name;
}

Spool::Push Spool::append(int& fd, uint64_t& seq, bool front, const SpoolRecord& r) {
  const uint64_t body = 12 + r.topic.size() + r.key.size() + r.value.size();
  const uint64_t total = kHeaderBytes + body;
  if (r.topic.size() > 0xFFFF || r.key.size() > 0xFFFF || body > kMaxRecordBytes) {
    error_ = "a record of " + std::to_string(body) + " bytes (topic " + std::to_string(r.topic.size()) +
             ", key " + std::to_string(r.key.size()) + ") passes the record format's limits";
    return Push::kError;
  }
  if (bytes_ + total > s_.max_bytes) return Push::kFull;
  if (fd >= 0 && !front && segments_[seq].size + total > s_.segment_bytes && segments_[seq].size > 0)
    close_writer();
  if (fd < 0) {
    if (front) {
      seq = segments_.empty() ? kFirstSeq - 1 : segments_.begin()->first - 1;
      if (read_seq_ != 0 && read_seq_ <= seq) seq = read_seq_ - 1;
    } else {
      seq = segments_.empty() ? kFirstSeq : segments_.rbegin()->first + 1;
    }
    std::string why;
    fd = open_append_private(file_of(seq), 0600, why);
    if (fd < 0) {
      error_ = file_of(seq) + ": " + why;
      return Push::kError;
    }
    segments_[seq] = Segment{};
  }
  wbuf_.resize(total);
  char* p = wbuf_.data();
  put16(p + 12, static_cast<uint16_t>(r.topic.size()));
  put16(p + 14, static_cast<uint16_t>(r.key.size()));
  for (int i = 0; i < 8; ++i) p[16 + i] = static_cast<char>(static_cast<uint64_t>(r.timestamp_ms) >> (8 * i));
  std::memcpy(p + 24, r.topic.data(), r.topic.size());
  std::memcpy(p + 24 + r.topic.size(), r.key.data(), r.key.size());
  std::memcpy(p + 24 + r.topic.size() + r.key.size(), r.value.data(), r.value.size());
  put32(p, kMagic);
  put32(p + 4, static_cast<uint32_t>(body));
  put32(p + 8,
        static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(p + 12), static_cast<uInt>(body))));
  if (!write_all(fd, p, total)) {
    error_ = file_of(seq) + ": " + std::strerror(errno);
    return Push::kError;
  }
  segments_[seq].size += total;
  bytes_ += total;
  ++written_;
  dirty_ = true;
  return Push::kOk;
}

Spool::Push Spool::push(const SpoolRecord& r) { return append(write_fd_, write_seq_, false, r); }
Spool::Push Spool::push_front(const SpoolRecord& r) { return append(front_fd_, front_seq_, true, r); }

void Spool::close_writer() {
  if (write_fd_ >= 0) {
    ::fdatasync(write_fd_);
    ::close(write_fd_);
    write_fd_ = -1;
  }
}

bool Spool::load(uint64_t seq) {
  // A segment is read only once nothing more is written to it.
  if (seq == write_seq_ && write_fd_ >= 0) close_writer();
  if (seq == front_seq_ && front_fd_ >= 0) {
    ::close(front_fd_);
    front_fd_ = -1;
  }
  const std::string file = file_of(seq);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    warn_("disk queue: cannot open " + file + ": " + std::strerror(errno) + "; skipped");
    ++corrupt_;
    return false;
  }
  struct stat st {};
  ::fstat(fd, &st);
  rlen_ = static_cast<std::size_t>(st.st_size);
  if (rbuf_.size() < rlen_ + simdjson::SIMDJSON_PADDING) rbuf_.resize(rlen_ + simdjson::SIMDJSON_PADDING);
  std::size_t got = 0;
  while (got < rlen_) {
    const ssize_t n = ::read(fd, rbuf_.data() + got, rlen_ - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  rlen_ = got;
  roff_ = 0;
  // A clean shutdown left the offset read up to.
  const std::string off_file = file + ".offset";
  if (FILE* f = std::fopen(off_file.c_str(), "r")) {
    unsigned long long off = 0;
    if (std::fscanf(f, "%llu", &off) == 1 && off <= rlen_) roff_ = static_cast<std::size_t>(off);
    std::fclose(f);
    std::remove(off_file.c_str());
  }
  read_seq_ = seq;
  return true;
}

void Spool::finish_reading() {
  segments_[read_seq_].read_done = true;
  const uint64_t seq = read_seq_;
  read_seq_ = 0;
  maybe_delete(seq);
}

void Spool::maybe_delete(uint64_t seq) {
  auto it = segments_.find(seq);
  if (it == segments_.end() || !it->second.read_done || it->second.outstanding > 0) return;
  std::remove(file_of(seq).c_str());
  bytes_ -= std::min(bytes_, it->second.size);
  segments_.erase(it);
}

bool Spool::peek(SpoolRecord& out, uint32_t& token) {
  for (;;) {
    if (read_seq_ == 0) {
      uint64_t next = 0;
      for (const auto& [seq, seg] : segments_)
        if (!seg.read_done) {
          next = seq;
          break;
        }
      if (next == 0) return false;
      if (!load(next)) {
        segments_[next].read_done = true;
        maybe_delete(next);
        continue;
      }
    }
    if (roff_ >= rlen_) {
      finish_reading();
      continue;
    }
    const char* p = rbuf_.data() + roff_;
    const std::size_t left = rlen_ - roff_;
    auto skip_rest = [&](const std::string& why) {
      warn_("disk queue: " + file_of(read_seq_) + ": " + why + " at offset " + std::to_string(roff_) +
            "; the remaining " + std::to_string(left) + " bytes of the segment are skipped");
      ++corrupt_;
      finish_reading();
    };
    if (left < kHeaderBytes) {
      skip_rest("truncated record header");
      continue;
    }
    if (get32(p) != kMagic) {
      skip_rest("bad record marker");
      continue;
    }
    const uint32_t body = get32(p + 4);
    if (body < 12 || body > kMaxRecordBytes || body > left - kHeaderBytes) {
      skip_rest(body > left - kHeaderBytes ? "truncated record"
                                           : "impossible record length " + std::to_string(body));
      continue;
    }
    const char* b = p + kHeaderBytes;
    if (get32(p + 8) != static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(b), body))) {
      skip_rest("checksum mismatch");
      continue;
    }
    const uint16_t tlen = get16(b), klen = get16(b + 2);
    if (12ull + tlen + klen > body) {
      skip_rest("record fields overrun the record");
      continue;
    }
    uint64_t ts = 0;
    for (int i = 7; i >= 0; --i) ts = (ts << 8) | static_cast<uint8_t>(b[4 + i]);
    out.timestamp_ms = static_cast<int64_t>(ts);
    out.topic = std::string_view(b + 12, tlen);
    out.key = std::string_view(b + 12 + tlen, klen);
    out.value = std::string_view(b + 12 + tlen + klen, body - 12 - tlen - klen);
    const std::size_t next = roff_ + kHeaderBytes + body;
    // The buffer is padded past the file's end, so the value can be parsed in place.
    simdjson::dom::element doc;
    if (json_.parse(reinterpret_cast<const uint8_t*>(out.value.data()), out.value.size(), false).get(doc) !=
        simdjson::SUCCESS) {
      ++invalid_;
      if (invalid_ <= 10 || (invalid_ & (invalid_ - 1)) == 0)
        warn_("disk queue: " + file_of(read_seq_) + ": record at offset " + std::to_string(roff_) +
              " is not valid JSON; skipped (" + std::to_string(invalid_) + " so far)");
      roff_ = next;
      continue;
    }
    peeked_ = true;
    peeked_next_ = next;
    token = static_cast<uint32_t>(read_seq_);
    return true;
  }
}

void Spool::pop() {
  if (!peeked_) return;
  peeked_ = false;
  roff_ = peeked_next_;
  ++segments_[read_seq_].outstanding;
  ++read_;
  if (roff_ >= rlen_) finish_reading();
}

void Spool::ack(uint32_t token) {
  // Sequence numbers stay below 2^32 (the first is 10^9), so the token is the seq.
  auto it = segments_.find(token);
  if (it == segments_.end() || it->second.outstanding == 0) return;
  --it->second.outstanding;
  maybe_delete(token);
}

bool Spool::empty() {
  if (read_seq_ != 0 && roff_ < rlen_) return false;
  for (const auto& [seq, seg] : segments_)
    if (!seg.read_done && seq != read_seq_) return false;
  return true;
}

void Spool::sync() {
  if (!dirty_) return;
  if (write_fd_ >= 0) ::fdatasync(write_fd_);
  if (front_fd_ >= 0) ::fdatasync(front_fd_);
  dirty_ = false;
}

void Spool::close() {
  sync();
  close_writer();
  if (front_fd_ >= 0) {
    ::close(front_fd_);
    front_fd_ = -1;
  }
  // Only when every record read so far is accounted for; otherwise the segment is
  // read again from its start (repeats, not losses).
  if (read_seq_ != 0 && roff_ > 0 && roff_ < rlen_ && segments_[read_seq_].outstanding == 0) {
    const std::string off_file = file_of(read_seq_) + ".offset";
    if (FILE* f = std::fopen(off_file.c_str(), "w")) {
      std::fprintf(f, "%llu\n", static_cast<unsigned long long>(roff_));
      std::fclose(f);
    }
  }
  read_seq_ = 0;
}

}  // namespace tapbeat
