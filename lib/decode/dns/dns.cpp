#include "decode/dns/dns.hpp"

#include <algorithm>
#include <cstring>

#include "util/hints.hpp"

namespace tapbeat {
namespace {

// Packetbeat's notes (packetbeat/protos/dns).
constexpr const char* kNoResponse = "No response to this query was received";
constexpr const char* kOrphanResponse = "Response: received without an associated Query";
constexpr const char* kDuplicateQuery =
    "Another query with the same DNS ID from this client was received so this query was closed without "
    "receiving a "
    "response";

void make_key(const PacketMeta& m, bool query, uint16_t id, FlowKey& k) {
  std::memset(&k, 0, sizeof k);
  k.proto = m.l4_proto;
  k.ip_version = m.ip_version;
  k.addr_a = query ? m.src : m.dst;
  k.addr_b = query ? m.dst : m.src;
  k.port_a = query ? m.sport : m.dport;
  k.port_b = query ? m.dport : m.sport;
  k.tunnel_id = id;
}

// An exchange of the connection a query's key names, nothing else filled in.
void start_exchange(const FlowKey& k, DnsExchange& out) {
  out = DnsExchange{};
  out.ip_version = k.ip_version;
  out.proto = k.proto;
  out.client = k.addr_a;
  out.server = k.addr_b;
  out.client_port = k.port_a;
  out.server_port = k.port_b;
}

}  // namespace

DnsTracker::DnsTracker(uint64_t timeout_ns, CounterSet<DnsStat> counters)
    : timeout_ns_(timeout_ns),
      counters_(counters),
      pending_(kPending),
      kept_(new uint8_t[uint64_t{kPending} * kMaxKeptQuery]),
      kept_len_(new uint16_t[kPending]),
      early_bytes_(new uint8_t[uint64_t{kEarly} * kMaxEarlyAnswer]) {}

void DnsTracker::take_early(uint32_t i, DnsExchange& out) {
  Early& e = early_[i];
  out.response = {early_bytes_.get() + uint64_t{i} * kMaxEarlyAnswer, e.len};
  out.response_cut = e.cut;
  out.response_ts_ns = e.ts_ns;
  e.used = false;
  --n_early_;
}

void DnsTracker::orphan(uint32_t i, DnsExchange& out) {
  start_exchange(early_[i].key, out);
  out.error = kOrphanResponse;
  take_early(i, out);
  counters_.inc(DnsStat::orphan_responses);
}

void DnsTracker::from_pending(Flow& f, DnsExchange& out) {
  start_exchange(f.key, out);
  out.request_ts_ns = f.first_ts_ns;
  const uint32_t slot = pending_.slot_of(&f);
  const uint16_t len = kept_len_[slot] & 0x7fff;
  std::memcpy(lone_, kept_.get() + uint64_t{slot} * kMaxKeptQuery, len);
  out.request = {lone_, len};
  out.request_cut = kept_len_[slot] & 0x8000;
}

bool DnsTracker::on_message(const PacketMeta& m, std::span<const uint8_t> msg, DnsExchange& out) {
  if (msg.size() < 12) {
    counters_.inc(DnsStat::malformed);
    return false;
  }
  counters_.inc(DnsStat::messages);
  const bool cut = m.l4_proto == 17 && m.l4_lost > 0;  // cut by the snap length
  const uint16_t id = static_cast<uint16_t>(msg[0] << 8 | msg[1]);
  const bool response = msg[2] & 0x80;
  FlowKey k;
  make_key(m, !response, id, k);
  const uint64_t h = FlowTable::hash_key(k);
  Flow* f = pending_.find(k, h);
  if (!response && n_early_) {
    // Its response came first (held below): the two are the transaction.
    for (uint32_t i = 0; i < kEarly; ++i) {
      Early& e = early_[i];
      if (!e.used || e.key.tunnel_id != k.tunnel_id || std::memcmp(&e.key, &k, sizeof k) != 0 ||
          m.ts_ns > e.ts_ns + kEarlyNs)
        continue;
      start_exchange(k, out);
      out.request = msg;
      out.request_cut = cut;
      out.request_ts_ns = m.ts_ns;
      take_early(i, out);
      counters_.inc(DnsStat::transactions);
      counters_.inc(DnsStat::answers_before_query);
      return true;
    }
  }
  if (!response) {
    bool ready = false;
    if (f) {  // same id from the same client: the older query is closed unanswered
      from_pending(*f, out);
      out.error = kDuplicateQuery;
      pending_.remove(f);
      counters_.inc(DnsStat::unanswered);
      ready = true;
    } else if (pending_.full()) {
      from_pending(*pending_.oldest(), out);
      out.error = kNoResponse;
      pending_.remove(pending_.oldest());
      counters_.inc(DnsStat::pending_full);
      ready = true;
    }
    Flow* n = pending_.insert(k, h);
    n->first_ts_ns = n->last_ts_ns = m.ts_ns;
    const uint32_t slot = pending_.slot_of(n);
    const uint32_t keep = std::min<uint32_t>(static_cast<uint32_t>(msg.size()), kMaxKeptQuery);
    if (keep < msg.size()) counters_.inc(DnsStat::query_truncated);
    copy_bytes(kept_.get() + uint64_t{slot} * kMaxKeptQuery, msg.data(), keep);
    static_assert(kMaxKeptQuery < 0x8000);
    kept_len_[slot] = static_cast<uint16_t>(keep | (cut ? 0x8000u : 0u));
    return ready;
  }
  if (f) {
    from_pending(*f, out);
    pending_.remove(f);
    counters_.inc(DnsStat::transactions);
  } else if (m.l4_proto == 17 && n_early_ < kEarly && msg.size() <= kMaxEarlyAnswer) {
    // No query seen: held a while for one written after it (see kEarlyNs). Over TCP
    // the reassembler already hands a query over before an answer written ahead of it.
    uint32_t i = 0;
    while (early_[i].used) ++i;
    Early& e = early_[i];
    e.key = k;
    e.ts_ns = m.ts_ns;
    e.len = static_cast<uint16_t>(msg.size());
    e.cut = cut;
    e.used = true;
    ++n_early_;
    copy_bytes(early_bytes_.get() + uint64_t{i} * kMaxEarlyAnswer, msg.data(), msg.size());
    return false;
  } else {
    start_exchange(k, out);
    out.error = kOrphanResponse;
    counters_.inc(DnsStat::orphan_responses);
  }
  out.response = msg;
  out.response_cut = cut;
  out.response_ts_ns = m.ts_ns;
  return true;
}

bool DnsTracker::expire_one(uint64_t now_ns, DnsExchange& out) {
  for (uint32_t i = 0; n_early_ && i < kEarly; ++i) {
    if (early_[i].used && early_[i].ts_ns + kEarlyNs < now_ns) {
      orphan(i, out);
      return true;
    }
  }
  Flow* f = pending_.oldest();
  if (!f || f->first_ts_ns + timeout_ns_ >= now_ns) return false;
  from_pending(*f, out);
  out.error = kNoResponse;
  pending_.remove(f);
  counters_.inc(DnsStat::unanswered);
  return true;
}

bool DnsTracker::flush_one(DnsExchange& out) {
  for (uint32_t i = 0; n_early_ && i < kEarly; ++i) {
    if (early_[i].used) {
      orphan(i, out);
      return true;
    }
  }
  Flow* f = pending_.oldest();
  if (!f) return false;
  from_pending(*f, out);
  out.error = kNoResponse;
  pending_.remove(f);
  counters_.inc(DnsStat::unanswered);
  return true;
}

}  // namespace tapbeat
