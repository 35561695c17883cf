#include "engine/worker.hpp"

#include <algorithm>
#include <thread>

#include "event/flow_event.hpp"
#include "event/transaction_event.hpp"
#include "util/encode.hpp"
#include "net/parse.hpp"

namespace tapbeat {

Worker::Worker(const WorkerSettings& s)
    : settings_(s),
      flows_(s.flow_capacity),
      frags_(s.frag, counters_),
      events_(s.event_chunks, s.event_chunk_bytes),
      lru_granularity_(static_cast<uint32_t>(std::max<uint64_t>(lru_stamp(s.flow_timeout_ns / kLruGranularityDivisor), 1))) {
  counters_.set(Counter::flow_capacity, flows_.capacity());
  if (s.icmp_enabled) icmp_ = std::make_unique<IcmpTracker>(s.icmp_timeout_ns, counters_);
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
  // Stage 5: transactions.
  if (icmp_) {
    IcmpEvent ev;
    for (std::size_t i = 0; i < n; ++i) {
      const PacketMeta& m = parsed_[i].meta;
      if (parsed_[i].ok && (m.l4_proto == 1 || m.l4_proto == 58) && icmp_->on_packet(m, ev)) publish(ev);
    }
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
  if (icmp_) {
    IcmpEvent ev;
    while (icmp_->expire_one(now_ns_, ev)) publish(ev);
  }
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
  if (icmp_) {
    IcmpEvent ev;
    while (icmp_->flush_one(ev)) publish(ev);
  }
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

void Worker::publish(const IcmpEvent& ev) {
  TransactionFields t;
  t.type = "icmp";
  t.ok = ev.error == nullptr;
  t.error = ev.error;
  t.start_ns = ev.has_request ? ev.req_ts_ns : ev.resp_ts_ns;
  t.end_ns = ev.has_response ? ev.resp_ts_ns : 0;
  t.ip_version = ev.version;
  t.proto = ev.version == 6 ? 58 : 1;
  t.client = ev.client;
  t.server = ev.server;
  t.client_bytes = ev.req_bytes;
  t.server_bytes = ev.resp_bytes;
  // The community id follows the first message, as seen from its sender.
  if (ev.has_request) {
    t.cid_sport = ev.req_type;
    t.cid_dport = ev.req_code;
  } else {
    t.cid_from_server = true;  // the lone message goes from server to client
    t.cid_sport = ev.resp_type;
    t.cid_dport = ev.resp_code;
  }
  emit([&](JsonWriter& w) {
    begin_transaction(w, t, *settings_.agent, settings_.internal_networks);
    w.begin_object("icmp");
    auto message = [&](const char* name, uint8_t type, uint8_t code) {
      w.begin_object(name);
      w.field_uint("code", code);
      w.field("message", icmp_message_name(ev.version, type));
      w.field_uint("type", type);
      w.end_object();
    };
    if (ev.has_request) message("request", ev.req_type, ev.req_code);
    if (ev.has_response) message("response", ev.resp_type, ev.resp_code);
    w.field_uint("version", ev.version);
    w.end_object();
    char ip[48];
    const IpBytes& target = ev.has_request ? ev.server : ev.client;
    w.field("path", std::string_view(ip, format_ip(target, ev.version, ip)));
    end_transaction(w);
  });
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
