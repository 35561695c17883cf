#include "net/ipfrag.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace tapbeat {

FragTable::FragTable(const FragLimits& limits, Counters& counters) : limits_(limits), counters_(counters) {
  const uint32_t nsets = std::max<uint32_t>(limits.max_sets, 1);
  sets_.resize(nsets);
  const uint32_t nbuckets = std::bit_ceil(nsets * 2);
  buckets_.assign(nbuckets, -1);
  bucket_mask_ = nbuckets - 1;
  free_sets_.reserve(nsets);
  for (int32_t i = static_cast<int32_t>(nsets) - 1; i >= 0; --i) free_sets_.push_back(i);
  const uint64_t nblocks = std::max<uint64_t>(limits.max_bytes / kBlockBytes, kBlocksPerSet);
  pool_.reset(new uint8_t[nblocks * kBlockBytes]);
  free_blocks_.reserve(nblocks);
  for (int64_t i = static_cast<int64_t>(nblocks) - 1; i >= 0; --i)
    free_blocks_.push_back(static_cast<int32_t>(i));
  scratch_.reset(new uint8_t[kMaxDatagramBytes + 1]);
}

uint32_t FragTable::bucket_of(const PacketMeta& m) const {
  uint64_t h = m.frag.id * 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 16; i += 4) {
    uint32_t a, b;
    std::memcpy(&a, m.src.data() + i, 4);
    std::memcpy(&b, m.dst.data() + i, 4);
    h = (h ^ (uint64_t{a} << 32 | b)) * 0xFF51AFD7ED558CCDull;
  }
  h ^= m.frag.next_proto;
  return static_cast<uint32_t>(h >> 32) & bucket_mask_;
}

int32_t FragTable::find(const PacketMeta& m, uint32_t bucket) const {
  for (int32_t i = buckets_[bucket]; i >= 0; i = sets_[i].hash_next) {
    const Set& s = sets_[i];
    if (s.id == m.frag.id && s.proto == m.frag.next_proto && s.version == m.ip_version && s.src == m.src &&
        s.dst == m.dst)
      return i;
  }
  return -1;
}

int32_t FragTable::create(const PacketMeta& m, uint32_t bucket, uint64_t now_ns) {
  if (free_sets_.empty()) {
    // Full: the oldest set is the least likely to complete.
    counters_.inc(Counter::frag_table_full);
    release(oldest_);
  }
  const int32_t idx = free_sets_.back();
  free_sets_.pop_back();
  Set& s = sets_[idx];
  s.src = m.src;
  s.dst = m.dst;
  s.id = m.frag.id;
  s.proto = m.frag.next_proto;
  s.version = m.ip_version;
  s.in_use = true;
  s.total_len = 0;
  s.nranges = 0;
  s.frames = 0;
  s.wire_bytes = 0;
  s.first_ts_ns = now_ns;
  std::fill(std::begin(s.blocks), std::end(s.blocks), -1);
  s.bucket = bucket;
  s.hash_next = buckets_[bucket];
  buckets_[bucket] = idx;
  s.age_prev = newest_;
  s.age_next = -1;
  if (newest_ >= 0) sets_[newest_].age_next = idx;
  newest_ = idx;
  if (oldest_ < 0) oldest_ = idx;
  ++active_;
  counters_.set(Counter::frag_sets_active, active_);
  return idx;
}

void FragTable::release(int32_t idx) {
  Set& s = sets_[idx];
  for (int32_t& b : s.blocks) {
    if (b >= 0) free_blocks_.push_back(b);
    b = -1;
  }
  int32_t* link = &buckets_[s.bucket];
  while (*link != idx) link = &sets_[*link].hash_next;
  *link = s.hash_next;
  if (s.age_prev >= 0)
    sets_[s.age_prev].age_next = s.age_next;
  else
    oldest_ = s.age_next;
  if (s.age_next >= 0)
    sets_[s.age_next].age_prev = s.age_prev;
  else
    newest_ = s.age_prev;
  s.in_use = false;
  free_sets_.push_back(idx);
  --active_;
  counters_.set(Counter::frag_sets_active, active_);
}

bool FragTable::write_bytes(Set& s, uint32_t begin, const uint8_t* data, uint32_t len) {
  while (len > 0) {
    const uint32_t bi = begin / kBlockBytes;
    const uint32_t off = begin % kBlockBytes;
    if (s.blocks[bi] < 0) {
      if (free_blocks_.empty()) return false;
      s.blocks[bi] = free_blocks_.back();
      free_blocks_.pop_back();
    }
    const uint32_t n = std::min(len, kBlockBytes - off);
    std::memcpy(pool_.get() + uint64_t(s.blocks[bi]) * kBlockBytes + off, data, n);
    begin += n;
    data += n;
    len -= n;
  }
  return true;
}

// Writes the parts of [begin, begin+len) not yet covered, then merges the ranges.
bool FragTable::store(Set& s, uint32_t begin, const uint8_t* data, uint32_t len) {
  const uint32_t end = begin + len;
  uint32_t cursor = begin;
  bool overlap = false;
  for (uint32_t i = 0; i < s.nranges && cursor < end; ++i) {
    const Range& r = s.ranges[i];
    if (r.end <= cursor) continue;
    if (r.begin >= end) break;
    if (r.begin > cursor && !write_bytes(s, cursor, data + (cursor - begin), r.begin - cursor)) return false;
    overlap = true;
    cursor = std::max(cursor, r.end);
  }
  if (cursor < end && !write_bytes(s, cursor, data + (cursor - begin), end - cursor)) return false;
  if (overlap) counters_.inc(Counter::frag_overlap);
  // Insert [begin, end) and merge neighbours (ranges stay sorted and disjoint).
  Range merged{begin, end};
  Range out[kMaxRanges + 1];
  uint32_t n = 0;
  bool placed = false;
  for (uint32_t i = 0; i < s.nranges; ++i) {
    const Range r = s.ranges[i];
    if (r.end < merged.begin) {
      out[n++] = r;
    } else if (r.begin > merged.end) {
      if (!placed) out[n++] = merged, placed = true;
      out[n++] = r;
    } else {
      merged.begin = std::min(merged.begin, r.begin);
      merged.end = std::max(merged.end, r.end);
    }
  }
  if (!placed) out[n++] = merged;
  if (n > kMaxRanges) return false;
  std::copy(out, out + n, s.ranges);
  s.nranges = n;
  return true;
}

bool FragTable::add(const PacketMeta& m, uint64_t now_ns, Datagram& out) {
  counters_.inc(Counter::frag_fragments);
  const auto& f = m.frag;
  // Every fragment but the last carries a multiple of 8 bytes (RFC 791, RFC 8200 §4.5).
  if ((f.more && (f.len == 0 || f.len % 8 != 0))) {
    counters_.inc(Counter::frag_bad);
    return false;
  }
  const uint32_t bucket = bucket_of(m);
  int32_t idx = find(m, bucket);
  if (uint64_t{f.offset_bytes} + f.len > kMaxDatagramBytes) {
    counters_.inc(Counter::frag_too_large);
    if (idx >= 0) release(idx);
    return false;
  }
  if (idx < 0) idx = create(m, bucket, now_ns);
  Set& s = sets_[idx];
  const uint32_t end = f.offset_bytes + f.len;
  if (!f.more) {
    if (s.total_len != 0 && s.total_len != end) {
      counters_.inc(Counter::frag_bad);
      release(idx);
      return false;
    }
    s.total_len = end;
  }
  if (s.total_len != 0 && end > s.total_len) {
    counters_.inc(Counter::frag_bad);
    release(idx);
    return false;
  }
  if (s.nranges >= kMaxRanges) {
    counters_.inc(Counter::frag_too_many);
    release(idx);
    return false;
  }
  if (!store(s, f.offset_bytes, f.data, f.len)) {
    counters_.inc(Counter::frag_bytes_limit);
    release(idx);
    return false;
  }
  s.frames += 1;
  s.wire_bytes += m.wire_len;
  if (s.total_len == 0 || s.nranges != 1 || s.ranges[0].begin != 0 || s.ranges[0].end != s.total_len)
    return false;
  // Complete: copy the blocks out into one contiguous datagram.
  for (uint32_t pos = 0; pos < s.total_len; pos += kBlockBytes) {
    const uint32_t n = std::min(kBlockBytes, s.total_len - pos);
    std::memcpy(scratch_.get() + pos, pool_.get() + uint64_t(s.blocks[pos / kBlockBytes]) * kBlockBytes, n);
  }
  out = Datagram{scratch_.get(), s.total_len, s.proto, s.frames, s.wire_bytes, s.first_ts_ns};
  counters_.inc(Counter::frag_reassembled);
  release(idx);
  return true;
}

void FragTable::expire(uint64_t now_ns) {
  while (oldest_ >= 0 && sets_[oldest_].first_ts_ns + limits_.timeout_ns < now_ns) {
    counters_.inc(Counter::frag_timeout);
    release(oldest_);
  }
}

}  // namespace tapbeat
