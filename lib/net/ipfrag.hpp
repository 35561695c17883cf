// IPv4 and IPv6 fragment reassembly, per worker, bounded in sets, bytes and time.
//
// Memory is preallocated at construction: a pool of fixed blocks shared by all
// sets of this worker, and a fixed array of sets. Overlapping fragments keep the
// bytes that arrived first (counted as frag.overlap). Every refusal is counted.
// Hot path: no allocation, no locks. Not thread-safe: one table per worker.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "net/packet.hpp"
#include "util/counters.hpp"

namespace tapbeat {

struct FragLimits {
  uint32_t max_sets = 1024;              // datagrams being reassembled at once
  uint64_t max_bytes = 16u << 20;        // fragment payload held at once
  uint64_t timeout_ns = 30'000'000'000;  // a set older than this is discarded
};

class FragTable {
 public:
  static constexpr uint32_t kBlockBytes = 2048;
  static constexpr uint32_t kMaxDatagramBytes = 65535;
  static constexpr uint32_t kBlocksPerSet = (kMaxDatagramBytes + kBlockBytes) / kBlockBytes;
  static constexpr uint32_t kMaxRanges = 64;  // fragments per datagram (frag.too_many_fragments)

  struct Datagram {
    const uint8_t* data;  // reassembled transport payload; valid until the next add()
    uint32_t len;
    uint8_t proto;
    uint32_t frames;      // frames that made it up, this one included
    uint64_t wire_bytes;  // their wire lengths summed
    uint64_t first_ts_ns;
  };

  FragTable(const FragLimits& limits, Counters& counters);
  FragTable(const FragTable&) = delete;
  FragTable& operator=(const FragTable&) = delete;

  // Adds the fragment in meta.frag. Returns true with `out` filled when the
  // datagram is complete; false when the fragment is held or refused.
  bool add(const PacketMeta& meta, uint64_t now_ns, Datagram& out);

  // Discards sets older than the timeout.
  void expire(uint64_t now_ns);

  uint32_t active_sets() const { return active_; }

 private:
  struct Range {
    uint32_t begin, end;
  };
  struct Set {
    IpBytes src, dst;
    uint32_t id;
    uint8_t proto;
    uint8_t version;
    bool in_use;
    uint32_t total_len;  // 0 until the last fragment is seen
    uint32_t nranges;
    uint32_t frames;
    uint64_t wire_bytes;
    uint64_t first_ts_ns;
    int32_t hash_next;
    int32_t age_prev, age_next;
    uint32_t bucket;
    Range ranges[kMaxRanges];
    int32_t blocks[kBlocksPerSet];
  };

  uint32_t bucket_of(const PacketMeta& m) const;
  int32_t find(const PacketMeta& m, uint32_t bucket) const;
  int32_t create(const PacketMeta& m, uint32_t bucket, uint64_t now_ns);
  void release(int32_t idx);
  bool store(Set& s, uint32_t begin, const uint8_t* data, uint32_t len);
  bool write_bytes(Set& s, uint32_t begin, const uint8_t* data, uint32_t len);

  FragLimits limits_;
  Counters& counters_;
  std::vector<Set> sets_;
  std::vector<int32_t> buckets_;
  uint32_t bucket_mask_;
  std::vector<int32_t> free_sets_;
  std::unique_ptr<uint8_t[]> pool_;
  std::vector<int32_t> free_blocks_;
  int32_t oldest_ = -1, newest_ = -1;
  uint32_t active_ = 0;
  std::unique_ptr<uint8_t[]> scratch_;
};

}  // namespace tapbeat
