#include "engine/worker.hpp"

#include <algorithm>
#include <thread>

#include "event/flow_event.hpp"
#include "net/parse.hpp"

namespace tapbeat {

Worker::Worker(const WorkerSettings& s)
    : settings_(s),
      flows_(s.flow_capacity),
      frags_(s.frag, counters_),
      events_(s.event_chunks, s.event_chunk_bytes),
      lru_granularity_(static_cast<uint32_t>(std::max<uint64_t>(lru_stamp(s.flow_timeout_ns / kLruGranularityDivisor), 1))) {
  counters_.set(Counter::flow_capacity, flows_.capacity());
}

bool Worker::parse_one(const RawPacket& p, Parsed& out) {
  PacketMeta& m = out.meta;
  m.clear();
  m.ts_ns = p.ts_ns;
  m.cap_len = p.cap_len;
  m.wire_len = p.wire_len;
  out.frames = 1;
  out.wire_bytes = p.wire_len;
  out.first_ts_ns = p.ts_ns;
  counters_.inc(Counter::packets);
  counters_.inc(Counter::bytes, p.wire_len);
  if (p.cap_len < p.wire_len) counters_.inc(Counter::snaplen_truncated);
  ParseStatus st = parse_frame(p.data, p.cap_len, p.link_type, m, counters_);
  for (int depth = 0; st == ParseStatus::kFragment; ++depth) {
    FragTable::Datagram d;
    if (!frags_.add(m, now_ns_ > p.ts_ns ? now_ns_ : p.ts_ns, d)) return false;
    out.frames = d.frames;
    out.wire_bytes = d.wire_bytes;
    out.first_ts_ns = d.first_ts_ns;
    if (depth >= kMaxEncapDepth) {
      counters_.inc(Counter::tunnel_too_deep);
      return false;
    }
    st = parse_transport(d.proto, d.data, d.len, m, counters_, m.tunnel_depth);
  }
  return st == ParseStatus::kOk;
}

void Worker::process(std::span<const RawPacket> burst) {
  const std::size_t n = burst.size() < kBurstSize ? burst.size() : kBurstSize;
  // Stage 1: parse, with the next packets' first bytes on their way into cache.
  for (std::size_t i = 0; i < n && i < kPrefetchOffset; ++i) prefetch_read(burst[i].data);
  uint64_t latest = now_ns_;
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kPrefetchOffset < n) prefetch_read(burst[i + kPrefetchOffset].data);
    Parsed& p = parsed_[i];
    p.ok = parse_one(burst[i], p);
    if (burst[i].ts_ns > latest) latest = burst[i].ts_ns;
  }
  now_ns_ = latest;
  if (settings_.flows_enabled) {
    // Stage 2: keys, then hashes in a separate pass, so the hash reads whole words
    // of keys whose byte-sized stores have already retired (no store-forwarding
    // stalls), and the index lines start on their way.
    for (std::size_t i = 0; i < n; ++i)
      if (parsed_[i].ok) FlowTable::make_key(parsed_[i].meta, parsed_[i].key, parsed_[i].from_a);
    for (std::size_t i = 0; i < n; ++i) {
      if (!parsed_[i].ok) continue;
      parsed_[i].hash = FlowTable::hash_key(parsed_[i].key);
      flows_.prefetch(parsed_[i].hash);
    }
    // Stage 3: with the index lines arriving, start the flow lines on their way.
    for (std::size_t i = 0; i < n; ++i)
      if (parsed_[i].ok) flows_.prefetch_flow(parsed_[i].hash);
    // Stage 4: look up and account.
    for (std::size_t i = 0; i < n; ++i)
      if (parsed_[i].ok) account(parsed_[i]);
  }
  if (now_ns_ >= next_housekeeping_ns_) on_clock(now_ns_);
}

void Worker::account(Parsed& p) {
  Flow* f = flows_.find(p.key, p.hash);
  if (!f) {
    if (flows_.full()) {
      // Oldest idle flow makes room; it still gets its final report.
      Flow* victim = flows_.oldest();
      report(*victim, true);
      flows_.remove(victim);
      counters_.inc(Counter::flow_evicted);
    }
    f = flows_.insert(p.key, p.hash);
    f->first_ts_ns = p.first_ts_ns;
    f->last_ts_ns = p.first_ts_ns;
    f->lru_stamp = lru_stamp(p.meta.ts_ns);
    f->source_is_a = p.from_a;
    f->icmp_type = p.meta.icmp_type;
    f->icmp_code = p.meta.icmp_code;
    counters_.inc(Counter::flow_created);
    counters_.set(Counter::flow_active, flows_.size());
  } else {
    // Moving a flow in LRU order costs three random cache lines; do it only when its
    // position is older than the granularity. Expiry and eviction are then at most
    // one granularity late, a small fraction of the timeout.
    const uint32_t stamp = lru_stamp(p.meta.ts_ns);
    if (stamp - f->lru_stamp >= lru_granularity_) {
      flows_.touch(f);
      f->lru_stamp = stamp;
    }
  }
  const int dir = p.from_a == f->source_is_a ? 0 : 1;
  f->dir[dir].packets += p.frames;
  f->dir[dir].bytes += p.wire_bytes;
  if (p.meta.ts_ns > f->last_ts_ns) f->last_ts_ns = p.meta.ts_ns;
}

void Worker::on_clock(uint64_t now_ns) {
  if (now_ns > now_ns_) now_ns_ = now_ns;
  if (now_ns_ < next_housekeeping_ns_) return;
  next_housekeeping_ns_ = now_ns_ + kHousekeepingNs;
  frags_.expire(now_ns_);
  if (!settings_.flows_enabled) return;
  expire(now_ns_);
  if (settings_.flow_period_ns > 0) {
    const uint64_t period = static_cast<uint64_t>(settings_.flow_period_ns);
    if (next_report_ns_ == 0) {
      next_report_ns_ = now_ns_ + period;
    } else if (now_ns_ >= next_report_ns_) {
      periodic_report();
      // Skip periods the clock jumped over: one report per tick, not a burst of them.
      next_report_ns_ += (now_ns_ - next_report_ns_) / period * period + period;
    }
  }
}

void Worker::expire(uint64_t now_ns) {
  // The list is ordered by lru_stamp, which trails each flow's last packet by less
  // than the granularity: stopping at the first live flow leaves none expired for
  // longer than that.
  while (Flow* f = flows_.oldest()) {
    if (f->last_ts_ns + settings_.flow_timeout_ns >= now_ns) break;
    report(*f, true);
    flows_.remove(f);
    counters_.inc(Counter::flow_expired);
  }
  counters_.set(Counter::flow_active, flows_.size());
}

void Worker::periodic_report() {
  for (Flow* f = flows_.oldest(); f; f = flows_.next(f)) report(*f, false);
}

void Worker::finish() {
  if (settings_.flows_enabled) {
    while (Flow* f = flows_.oldest()) {
      report(*f, true);
      flows_.remove(f);
    }
    counters_.set(Counter::flow_active, 0);
  }
  flush();
}

void Worker::report(Flow& f, bool final) {
  FlowCounts counts[2] = {f.dir[0], f.dir[1]};
  if (settings_.delta_reports) {
    for (int d = 0; d < 2; ++d) {
      counts[d].packets -= f.reported[d].packets;
      counts[d].bytes -= f.reported[d].bytes;
    }
  }
  f.reported[0] = f.dir[0];
  f.reported[1] = f.dir[1];
  counters_.inc(Counter::flow_reports);
  const uint64_t ts = now_ns_;
  emit([&](JsonWriter& w) { write_flow_event(w, f, final, ts, counts, *settings_.agent); });
}

bool Worker::ensure_chunk() {
  if (chunk_) return true;
  chunk_ = events_.take_free();
  while (!chunk_ && settings_.block_on_output_full && !stop_.load(std::memory_order_relaxed)) {
    std::this_thread::yield();
    chunk_ = events_.take_free();
  }
  return chunk_ != nullptr;
}

template <typename Fn>
void Worker::emit(Fn&& write) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!ensure_chunk()) {
      counters_.inc(Counter::events_dropped_output_full);
      return;
    }
    JsonWriter w(chunk_->data + chunk_->len, chunk_->capacity - chunk_->len);
    write(w);
    w.newline();
    if (!w.overflow()) {
      chunk_->len += static_cast<uint32_t>(w.size());
      chunk_->events += 1;
      counters_.inc(Counter::events_emitted);
      return;
    }
    if (chunk_->len == 0) break;  // does not fit even an empty chunk
    flush();
  }
  counters_.inc(Counter::events_dropped_too_large);
}

void Worker::flush() {
  if (!chunk_) return;
  if (chunk_->len == 0) return;
  events_.submit(chunk_);
  chunk_ = nullptr;
}

}  // namespace tapbeat
