// Requests awaiting their answers, kept per connection in a ChainStore chain as
// records: a fixed header H (trivially copyable, with a `uint32_t texts` member: the
// bytes of text that follow it), then those texts. For decoders whose answers name
// their request by an id (MongoDB's responseTo, Cassandra's stream id), so that any
// record may be taken out, not only the oldest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <type_traits>
#include <vector>

#include "util/chain_store.hpp"

namespace tapbeat {

// For a fixed table of requests awaiting their answers that a housekeeping tick scans
// for the ones past their timeout: how many wait, and a time at or before the oldest
// one's, so that a tick scans the table only when one may be due (a table of a
// thousand slots scanned at every tick cost more than the decoding of a busy
// connection). An answered request leaves the bound where it was: it stays at or
// before the oldest, and the next scan (rescan(), then keep() for each request that
// stays) brings it up.
class WaitWatch {
 public:
  void add(uint64_t ts_ns) {
    ++waiting_;
    if (ts_ns < oldest_ns_) oldest_ns_ = ts_ns;
  }
  void remove() {
    if (waiting_ && --waiting_ == 0) oldest_ns_ = kNone;
  }
  uint32_t waiting() const { return waiting_; }
  // Whether a request may be past timeout_ns at now_ns.
  bool due(uint64_t now_ns, uint64_t timeout_ns) const {
    return waiting_ && now_ns > oldest_ns_ && now_ns - oldest_ns_ > timeout_ns;
  }
  void rescan() { oldest_ns_ = kNone; }
  void keep(uint64_t ts_ns) {
    if (ts_ns < oldest_ns_) oldest_ns_ = ts_ns;
  }
  // A tick over a table of slots (each with `used` and its request's `ts_ns`): when one
  // may be due, expire(slot) for each past timeout_ns (it publishes and frees the slot,
  // calling remove()), the bound brought up from the others.
  template <class Slot, class Expire>
  void sweep(Slot* slots, std::size_t n, uint64_t now_ns, uint64_t timeout_ns, Expire&& expire) {
    if (!due(now_ns, timeout_ns)) return;
    rescan();
    for (std::size_t i = 0; i < n; ++i) {
      Slot& s = slots[i];
      if (!s.used) continue;
      if (now_ns > s.ts_ns + timeout_ns)
        expire(s);
      else
        keep(s.ts_ns);
    }
  }

 private:
  static constexpr uint64_t kNone = UINT64_MAX;
  uint32_t waiting_ = 0;
  uint64_t oldest_ns_ = kNone;
};

class PendingRecords {
 public:
  explicit PendingRecords(ChainStore& store) : store_(store) {}

  // Appends h and its texts (h.texts must be their total length). False when the
  // store has no room for all of it: nothing is appended then.
  template <class H>
  bool push(ChainStore::Chain& c, uint32_t& n, const H& h, std::initializer_list<std::string_view> texts) {
    static_assert(std::is_trivially_copyable_v<H>);
    if (store_.room(c) < sizeof h + uint64_t{h.texts}) return false;
    store_.append(c, reinterpret_cast<const uint8_t*>(&h), sizeof h);
    for (std::string_view t : texts)
      store_.append(c, reinterpret_cast<const uint8_t*>(t.data()), static_cast<uint32_t>(t.size()));
    ++n;
    return true;
  }

  // The oldest record's header.
  template <class H>
  bool front(const ChainStore::Chain& c, uint32_t n, H& h) const {
    return n && store_.copy_out(c, reinterpret_cast<uint8_t*>(&h), sizeof h) == sizeof h;
  }

  // Takes out the first record whose header satisfies match: its header into h, its
  // texts into `texts` (valid until the next take). False when none matches. `lost`
  // is set when the chain could not be rebuilt around a record taken from its middle
  // (the store ran out): the other records are dropped then.
  template <class H, class Match>
  bool take(ChainStore::Chain& c, uint32_t& n, Match&& match, H& h, std::string_view& texts, bool& lost) {
    lost = false;
    uint32_t at = 0;
    for (uint32_t i = 0; i < n; ++i) {
      store_.copy_out(c, reinterpret_cast<uint8_t*>(&h), sizeof h, at);
      const uint32_t rec = sizeof h + h.texts;
      if (!match(h)) {
        at += rec;
        continue;
      }
      record_.resize(h.texts);
      store_.copy_out(c, record_.data(), h.texts, at + sizeof h);
      --n;
      if (at == 0) {
        store_.drop_front(c, rec);  // the usual case: answers in order
      } else {
        rest_.resize(c.len - rec);
        store_.copy_out(c, rest_.data(), at, 0);
        store_.copy_out(c, rest_.data() + at, c.len - at - rec, at + rec);
        store_.release(c);
        if (store_.append(c, rest_.data(), static_cast<uint32_t>(rest_.size())) < rest_.size()) {
          store_.release(c);
          n = 0;
          lost = true;
        }
      }
      texts = {reinterpret_cast<const char*>(record_.data()), record_.size()};
      return true;
    }
    return false;
  }

 private:
  ChainStore& store_;
  std::vector<uint8_t> record_, rest_;
};

}  // namespace tapbeat
