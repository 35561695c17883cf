#include "flow/flow_table.hpp"

#include <algorithm>
#include <bit>

#include "flow/community_id.hpp"

namespace tapbeat {

namespace {
// Buckets the index starts with: one 2 MiB huge page of them.
constexpr uint32_t kFirstBuckets = (2u << 20) / 8;
}  // namespace

FlowTable::FlowTable(uint32_t capacity)
    : capacity_(std::clamp(capacity, 1u, kMaxCapacity)),
      max_mask_(static_cast<uint32_t>(std::bit_ceil(uint64_t{capacity_} * 2)) - 1),
      mask_(std::min(max_mask_, kFirstBuckets - 1)),
      flows_(capacity_, Fill::kFromBottom),
      index_(uint64_t{max_mask_} + 1),
      free_(capacity_, Fill::kFromBottom) {
  static_assert(sizeof(Bucket) == 8, "kFirstBuckets counts 8-byte buckets");
}

void FlowTable::make_key(const PacketMeta& m, FlowKey& k, bool& from_a) {
  std::memset(&k, 0, sizeof k);
  k.proto = m.l4_proto;
  k.ip_version = m.ip_version;
  k.vlan_count = m.vlan_count;
  k.vlan = m.vlan;
  k.tunnel_id = m.tunnel_id;
  k.has_mac = m.has_mac;
  uint16_t sport = m.sport, dport = m.dport;
  const bool icmp = m.l4_proto == 1 || m.l4_proto == 58;
  if (icmp) {
    // A request and its reply share a flow: key on the request type of the pair
    // and the identifier; other messages on type and code.
    uint8_t other = 0;
    if (icmp_counterpart(m.l4_proto == 58, m.icmp_type, other)) {
      sport = std::min(m.icmp_type, other);
      dport = m.icmp_id;
    } else {
      sport = m.icmp_type;
      dport = m.icmp_code;
    }
  }
  // Any total order normalises the direction; two word compares are cheaper than
  // a byte-wise one and need no library call.
  uint64_t s0, s1, d0, d1;
  std::memcpy(&s0, m.src.data(), 8);
  std::memcpy(&s1, m.src.data() + 8, 8);
  std::memcpy(&d0, m.dst.data(), 8);
  std::memcpy(&d1, m.dst.data() + 8, 8);
  const bool less = s0 != d0 ? s0 < d0 : s1 < d1;
  const bool equal = s0 == d0 && s1 == d1;
  from_a = less || (equal && (icmp || sport <= dport));
  if (m.ip_version == 0) from_a = std::memcmp(m.mac_src.data(), m.mac_dst.data(), 6) <= 0;  // link-layer flow
  if (from_a) {
    k.addr_a = m.src;
    k.addr_b = m.dst;
    k.mac_a = m.mac_src;
    k.mac_b = m.mac_dst;
  } else {
    k.addr_a = m.dst;
    k.addr_b = m.src;
    k.mac_a = m.mac_dst;
    k.mac_b = m.mac_src;
  }
  if (icmp) {
    k.port_a = sport;
    k.port_b = dport;
  } else {
    k.port_a = from_a ? sport : dport;
    k.port_b = from_a ? dport : sport;
  }
}

namespace {
// 64x64->128 multiply folded to 64 bits (the "mum" step of wyhash-style hashes).
inline uint64_t mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
}  // namespace

uint64_t FlowTable::hash_key(const FlowKey& k) {
  // Four independent multiplies over word pairs, so they pipeline, then one mix.
  uint64_t w[8];
  std::memcpy(w, &k, sizeof w);
  const uint64_t h = mum(w[0] ^ 0xA0761D6478BD642Full, w[1] ^ 0xE7037ED1A0B428DBull) ^
                     mum(w[2] ^ 0x8EBC6AF09C88C6E3ull, w[3] ^ 0x589965CC75374CC3ull) ^
                     mum(w[4] ^ 0x1D8E4E27C47D124Full, w[5] ^ 0xA0761D6478BD642Full) ^
                     mum(w[6] ^ 0xE7037ED1A0B428DBull, w[7] ^ 0x8EBC6AF09C88C6E3ull);
  return mum(h ^ 0x589965CC75374CC3ull, 0x1D8E4E27C47D124Full);
}

Flow* FlowTable::find(const FlowKey& key, uint64_t hash) {
  const uint32_t tag = tag_of(hash);
  for (uint32_t b = bucket(hash);; b = (b + 1) & mask_) {
    const Bucket& e = index_[b];
    if (e.tag == 0) return nullptr;
    if (e.tag == tag) {
      Flow& f = flows_[e.slot];
      if (f.hash == hash && f.key == key) return &f;
    }
  }
}

Flow* FlowTable::insert(const FlowKey& key, uint64_t hash) {
  const uint32_t slot = free_top_ > 0 ? free_[--free_top_] : never_used_++;
  Flow& f = flows_[slot];
  f = Flow{};
  f.key = key;
  f.hash = hash;
  f.in_use = true;
  if (size_ >= (mask_ + 1) / 2 && mask_ < max_mask_) grow();
  place(hash, slot);
  lru_append(slot);
  ++size_;
  return &f;
}

void FlowTable::place(uint64_t hash, uint32_t slot) {
  uint32_t b = bucket(hash);
  while (index_[b].tag != 0) b = (b + 1) & mask_;
  index_[b] = Bucket{tag_of(hash), slot};
}

// The index is derived from the flows: cleared, widened, and every live flow placed
// again (the LRU list holds each exactly once). The load stays at most one half, as
// in the full-size index.
void FlowTable::grow() {
  std::memset(&index_[0], 0, (uint64_t{mask_} + 1) * sizeof(Bucket));
  mask_ = mask_ * 2 + 1;
  for (uint32_t i = lru_head_; i != kNone; i = flows_[i].lru_next) place(flows_[i].hash, i);
}

void FlowTable::touch(Flow* f) {
  const uint32_t i = index_of(f);
  if (lru_tail_ == i) return;
  lru_unlink(i);
  lru_append(i);
}

void FlowTable::remove(Flow* f) {
  const uint32_t slot = index_of(f);
  uint32_t b = bucket(f->hash);
  while (index_[b].slot != slot || index_[b].tag == 0) b = (b + 1) & mask_;
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  uint32_t hole = b;
  for (uint32_t j = (hole + 1) & mask_; index_[j].tag != 0; j = (j + 1) & mask_) {
    const uint32_t home = index_[j].tag & mask_;
    const bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
    if (movable) {
      index_[hole] = index_[j];
      hole = j;
    }
  }
  index_[hole] = Bucket{0, 0};
  lru_unlink(slot);
  f->in_use = false;
  free_[free_top_++] = slot;
  --size_;
}

void FlowTable::lru_unlink(uint32_t i) {
  Flow& f = flows_[i];
  if (f.lru_prev != kNone)
    flows_[f.lru_prev].lru_next = f.lru_next;
  else
    lru_head_ = f.lru_next;
  if (f.lru_next != kNone)
    flows_[f.lru_next].lru_prev = f.lru_prev;
  else
    lru_tail_ = f.lru_prev;
  f.lru_prev = f.lru_next = kNone;
}

void FlowTable::lru_append(uint32_t i) {
  Flow& f = flows_[i];
  f.lru_prev = lru_tail_;
  f.lru_next = kNone;
  if (lru_tail_ != kNone)
    flows_[lru_tail_].lru_next = i;
  else
    lru_head_ = i;
  lru_tail_ = i;
}

}  // namespace tapbeat
