// Per-core flow table: fixed capacity, open addressing, LRU order for expiry and
// eviction.
//
// Ownership: one table per worker; not thread-safe. All memory is reserved by the
// constructor; find/insert/touch/remove never allocate. Flow pointers stay valid
// until remove() of that flow.
//
// The index is reserved for the full capacity but used from its first 2 MiB (one
// huge page), doubling in place as flows arrive; a page of memory is first written
// (and zeroed by the kernel) only when that many flows are live. A capture of a few
// thousand flows touches one page of index instead of the capacity's (16 MiB for a
// million flows), and its lookups stay in a table that caches hold.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "net/packet.hpp"
#include "util/big_array.hpp"
#include "util/hints.hpp"

namespace tapbeat {

// Direction-normalised identity of a flow: endpoint "a" is the smaller (address,
// port) pair. MACs and VLAN tags are part of it, as in Packetbeat's flow id.
struct FlowKey {
  IpBytes addr_a;
  IpBytes addr_b;
  uint16_t port_a;
  uint16_t port_b;
  uint8_t proto;
  uint8_t ip_version;
  uint8_t vlan_count;
  uint8_t has_mac;
  std::array<uint16_t, 2> vlan;
  uint32_t tunnel_id;
  std::array<uint8_t, 6> mac_a;
  std::array<uint8_t, 6> mac_b;
  uint32_t reserved;  // zero; keeps the key one cache line

  // Eight word compares folded together: no call, no early-exit branches.
  bool operator==(const FlowKey& o) const {
    uint64_t a[8], b[8];
    std::memcpy(a, this, sizeof a);
    std::memcpy(b, &o, sizeof b);
    uint64_t diff = 0;
    for (int i = 0; i < 8; ++i) diff |= a[i] ^ b[i];
    return diff == 0;
  }
};
static_assert(sizeof(FlowKey) == 64, "FlowKey is hashed and compared as one cache line");

// Word i of a key (a plain load: no copy of the key is made).
inline uint64_t key_word(const FlowKey& k, int i) {
  uint64_t w;
  std::memcpy(&w, reinterpret_cast<const char*>(&k) + 8 * i, sizeof w);
  return w;
}
// A TCP connection's key: the flow key without its link layer (MACs and VLAN tags). A
// capture point may see the two directions with link addresses that do not mirror each
// other, or one direction tagged and the other not (a SPAN of a trunk, traffic routed
// between VLANs): two flows, as Packetbeat reports them, yet one TCP conversation, as
// Packetbeat's and Zeek's transactions take it. Words 4 and 5 less has_mac, vlan_count
// and the tags; tunnel ids stay (overlays reuse addresses).
inline constexpr uint64_t kKeyWord4LessLink =
    ~((uint64_t{0xff} << (8 * (offsetof(FlowKey, has_mac) % 8))) |
      (uint64_t{0xff} << (8 * (offsetof(FlowKey, vlan_count) % 8))));
inline constexpr uint64_t kKeyWord5LessLink = ~uint64_t{0xffffffff};  // vlan[2]; tunnel_id kept
static_assert(std::endian::native == std::endian::little);
static_assert(offsetof(FlowKey, has_mac) / 8 == 4 && offsetof(FlowKey, vlan_count) / 8 == 4 &&
              offsetof(FlowKey, vlan) == 40 && offsetof(FlowKey, tunnel_id) == 44 &&
              offsetof(FlowKey, mac_a) == 48);

// The key without its link layer, written a word at a time: the whole-word reads of
// its hash and compares then forward from whole-word stores (byte stores into a copy,
// or a masked word in memory, stall each of them).
inline FlowKey without_link(const FlowKey& k) {
  FlowKey out;
  char* o = reinterpret_cast<char*>(&out);
  for (int i = 0; i < 6; ++i) {
    const uint64_t w = i == 4   ? key_word(k, i) & kKeyWord4LessLink
                       : i == 5 ? key_word(k, i) & kKeyWord5LessLink
                                : key_word(k, i);
    std::memcpy(o + 8 * i, &w, sizeof w);
  }
  std::memset(o + 48, 0, 16);  // MACs, reserved
  return out;
}

// Whether `conn`, a key without link layer, is `k` without its link layer, compared
// in registers.
inline bool is_without_link(const FlowKey& conn, const FlowKey& k) {
  uint64_t diff = (key_word(conn, 4) ^ key_word(k, 4)) & kKeyWord4LessLink;
  diff |= (key_word(conn, 5) ^ key_word(k, 5)) & kKeyWord5LessLink;
  for (int i : {0, 1, 2, 3}) diff |= key_word(conn, i) ^ key_word(k, i);
  return diff == 0;  // words 6 and 7 (MACs, reserved) are zero in `conn`
}

struct FlowCounts {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

struct alignas(kCacheLine) Flow {
  FlowKey key;  // cache line 0: compared on lookup
  // Cache line 1: everything a packet updates.
  uint64_t hash;
  uint64_t last_ts_ns;
  FlowCounts dir[2];  // [0] from the side that sent the first packet (source)
  uint32_t lru_prev;
  uint32_t lru_next;
  uint32_t lru_stamp;  // packet time (units of 2^20 ns) when last moved in LRU order
  bool source_is_a;    // the first packet came from endpoint a
  bool in_use;
  // Of a TCP connection (the engine's connection table): no decoder takes its bytes
  // (none found, or detached); its packets only keep it alive.
  bool undecoded;
  // Cache line 2: read when reporting.
  uint64_t first_ts_ns;
  FlowCounts reported[2];  // totals at the last report, for delta reports
  uint8_t icmp_type;       // of the first packet, for the community id
  uint8_t icmp_code;
  // A flow's TCP connection, as a slot of the connection table plus one (0: none): a
  // hint, checked against the connection's key before use (the slot may be reused).
  uint32_t conn_hint;
  // Of a TCP connection: the sequence number of the SYN that opened it, and what was
  // seen of its opening and closing (tcp_mark): a later SYN may begin another.
  uint32_t syn_seq;
  uint8_t tcp_marks;
};
namespace tcp_mark {
inline constexpr uint8_t kSynSeen = 1;  // a SYN without ACK opened it (syn_seq)
inline constexpr uint8_t kClosed = 2;   // either side sent FIN or RST
}  // namespace tcp_mark
static_assert(offsetof(Flow, in_use) < 2 * kCacheLine, "per-packet fields fit one cache line");

class FlowTable {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // At most 2^30 flows: the index (two buckets a flow) then stays below 2^31 buckets.
  static constexpr uint32_t kMaxCapacity = 1u << 30;
  explicit FlowTable(uint32_t capacity);
  // Memory a table of `capacity` flows reserves (slots, index, free list).
  static uint64_t bytes_for(uint32_t capacity) {
    const uint64_t c = capacity < 1 ? 1 : capacity;
    return c * sizeof(Flow) + std::bit_ceil(c * 2) * sizeof(Bucket) + c * sizeof(uint32_t);
  }
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Builds the normalised key of a parsed packet; from_a tells the packet's direction.
  static void make_key(const PacketMeta& m, FlowKey& key, bool& from_a);
  static uint64_t hash_key(const FlowKey& key);

  // Warms the index line a later find() of this hash reads.
  void prefetch(uint64_t hash) const { prefetch_read(&index_[bucket(hash)]); }
  // Once the index line is in cache: warms the flow the hash most likely names.
  void prefetch_flow(uint64_t hash) const {
    const Bucket& b = index_[bucket(hash)];
    if (b.tag == tag_of(hash)) {
      const Flow* f = &flows_[b.slot];
      prefetch_write(f);
      prefetch_write(reinterpret_cast<const char*>(f) + kCacheLine);
    }
  }

  Flow* find(const FlowKey& key, uint64_t hash);
  // Inserts a new flow at the LRU tail. Precondition: !full() and key absent.
  // Doubles the index in use when it is half full (one pass over the live flows).
  Flow* insert(const FlowKey& key, uint64_t hash);
  void touch(Flow* f);  // most recently active
  void remove(Flow* f);

  bool full() const { return size_ == capacity_; }
  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  // Buckets of the index in use now (grows to twice the capacity, a power of two).
  uint32_t index_buckets() const { return mask_ + 1; }
  // Dense index of a flow's slot (0..capacity-1), for arrays kept beside the table.
  uint32_t slot_of(const Flow* f) const { return index_of(f); }
  // The flow in a slot, live or not (check in_use and the key).
  Flow* at_slot(uint32_t slot) { return &flows_[slot]; }
  Flow* oldest() { return lru_head_ == kNone ? nullptr : &flows_[lru_head_]; }
  Flow* next(const Flow* f) { return f->lru_next == kNone ? nullptr : &flows_[f->lru_next]; }

 private:
  struct Bucket {
    uint32_t tag;   // the hash's low 31 bits and a set top bit; 0 = empty
    uint32_t slot;  // index into flows_
  };
  // The bucket index is the tag's low bits (mask_ < 2^31), so an entry's home is read
  // from the index itself: deletion shifts entries back without loading their flows.
  uint32_t bucket(uint64_t hash) const { return static_cast<uint32_t>(hash) & mask_; }
  static uint32_t tag_of(uint64_t hash) { return static_cast<uint32_t>(hash) | 0x80000000u; }
  uint32_t index_of(const Flow* f) const { return static_cast<uint32_t>(f - flows_.get()); }
  void lru_unlink(uint32_t i);
  void lru_append(uint32_t i);
  void place(uint64_t hash, uint32_t slot);
  void grow();

  uint32_t capacity_;
  uint32_t size_ = 0;
  uint32_t max_mask_;  // the index reserved: max_mask_ + 1 buckets
  uint32_t mask_;      // the part in use
  BigArray<Flow> flows_;
  BigArray<Bucket> index_;
  BigArray<uint32_t> free_;  // stack of released slots
  uint32_t free_top_ = 0;
  uint32_t never_used_ = 0;  // slots [never_used_, capacity_) were never handed out
  uint32_t lru_head_ = kNone;
  uint32_t lru_tail_ = kNone;
};

}  // namespace tapbeat
