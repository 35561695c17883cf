#include "engine/worker.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>

#include "decode/transaction_event.hpp"
#include "flow/flow_event.hpp"
#include "net/parse.hpp"
#include "util/encode.hpp"
#include "util/hints.hpp"

namespace tapbeat {
namespace {

// A SOCKS proxy's handshake (SOCKS 5: RFC 1928, with RFC 1929's user/password; SOCKS 4
// and 4a), passed over so that payload detection sees the protocol it carries (HTTP
// through a proxy on 1080), as Zeek follows it. One message a segment, as clients and
// proxies send them; anything else ends the attempt and is classified as it is.
enum SocksState : uint8_t {
  kSocksNone,
  k5Greeted,
  k5Auth,
  k5AuthSent,
  k5Chosen,
  k5Requested,
  k4Requested,
  kSocksOpen,
  kSocksNot
};

// TcpSession::preamble.
enum Preamble : uint8_t {
  kPreambleNone,       // the client's first bytes were seen
  kPreambleAtStart,    // seen from its SYN: the client's first bytes may be a PROXY header
  kPreambleMidstream,  // picked up mid-stream or at the server's SYN-ACK: either side may be the client
};

// TcpSession::first_scan.
enum FirstScan : uint8_t {
  kFirstScanNone,       // scanned, or a byte taken: the port's decoder keeps the connection
  kFirstScanAtStart,    // seen from its SYN: client probes look at the first sender's bytes
  kFirstScanMidstream,  // picked up mid-stream or at the SYN-ACK: at either side's
};

// Whether the segment is the handshake's next message (then it is passed over).
bool socks_step(uint8_t& st, bool from_client, const uint8_t* b, uint32_t n) {
  switch (st) {
    case kSocksNone:
      if (!from_client) break;
      if (n >= 3 && b[0] == 5 && b[1] >= 1 && n == 2u + b[1]) return st = k5Greeted, true;
      // VN 4, CONNECT or BIND, port, address, user id ending in NUL (4a: and a host name).
      if (n >= 9 && b[0] == 4 && (b[1] == 1 || b[1] == 2) && b[n - 1] == 0) return st = k4Requested, true;
      break;
    case k5Greeted:
      if (from_client || n != 2 || b[0] != 5) break;
      if (b[1] == 0) return st = k5Chosen, true;
      if (b[1] == 2) return st = k5Auth, true;
      break;
    case k5Auth:
      if (from_client && n >= 3 && b[0] == 1) return st = k5AuthSent, true;
      break;
    case k5AuthSent:
      if (!from_client && n == 2 && b[0] == 1 && b[1] == 0) return st = k5Chosen, true;
      break;
    case k5Chosen: {
      // VER 5, CONNECT/BIND/UDP ASSOCIATE, RSV 0, an IPv4, name or IPv6 address, port.
      if (!from_client || n < 7 || b[0] != 5 || b[1] < 1 || b[1] > 3 || b[2] != 0) break;
      const uint32_t addr = b[3] == 1 ? 4u : b[3] == 4 ? 16u : b[3] == 3 ? 1u + b[4] : 0u;
      if (addr && n == 6u + addr) return st = k5Requested, true;
      break;
    }
    case k5Requested:
      if (from_client || n < 7 || b[0] != 5) break;
      st = b[1] == 0 ? kSocksOpen : kSocksNot;  // refused: nothing follows
      return true;
    case k4Requested:
      if (from_client || n != 8 || b[0] != 0) break;
      st = b[1] == 0x5A ? kSocksOpen : kSocksNot;
      return true;
    default:
      return false;
  }
  st = kSocksNot;
  return false;
}

// The length of a PROXY protocol header (HAProxy's, v1 text or v2 binary) that b starts
// with, whole; 0 when there is none. A load balancer sends it first on the connection to
// its backend, before the client's own bytes: the address it names is the client's.
uint32_t proxy_header_len(const uint8_t* b, uint32_t n) {
  static constexpr uint8_t kV2[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  if (n >= 16 && std::memcmp(b, kV2, sizeof kV2) == 0) {
    // Version 2, LOCAL or PROXY; family and protocol; the length of what follows.
    if ((b[12] & 0xF0) != 0x20 || (b[12] & 0x0F) > 1) return 0;
    const uint32_t len = 16u + (uint32_t{b[14]} << 8 | b[15]);
    return len <= n ? len : 0;
  }
  // "PROXY TCP4|TCP6|UNKNOWN ...\r\n", 107 bytes at most.
  if (n < 8 || std::memcmp(b, "PROXY ", 6) != 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(b) + 6, std::min<uint32_t>(n, 107) - 6);
  if (!rest.starts_with("TCP4 ") && !rest.starts_with("TCP6 ") && !rest.starts_with("UNKNOWN")) return 0;
  const std::size_t crlf = rest.find("\r\n");
  return crlf == std::string_view::npos ? 0 : static_cast<uint32_t>(6 + crlf + 2);
}

}  // namespace

uint64_t Worker::flow_bytes(uint32_t capacity, bool tcp_streams) {
  uint64_t b = FlowTable::bytes_for(capacity);
  if (tcp_streams) b += FlowTable::bytes_for(capacity) + uint64_t{capacity} * sizeof(TcpSession);
  return b;
}

Worker::Worker(const WorkerSettings& s)
    : settings_(s),
      flows_(s.flow_capacity),
      frags_(s.frag, counters_),
      events_(s.event_chunks, s.event_chunk_bytes),
      out_(events_, counters_, s.block_on_output_full, stop_),
      store_(s.decoders ? s.stream_store_blocks : 0),
      lru_granularity_(static_cast<uint32_t>(
          std::max<uint64_t>(lru_stamp(s.flow_timeout_ns / kLruGranularityDivisor), 1))),
      conn_lru_granularity_(static_cast<uint32_t>(
          std::max<uint64_t>(lru_stamp(s.tcp_transaction_timeout_ns / kLruGranularityDivisor), 1))) {
  counters_.set(Counter::flow_capacity, flows_.capacity());
  out_.set_processors(s.processors);
  stale_after_ns_ = s.tcp_transaction_timeout_ns;
  if (const DecoderPlan* plan = s.decoders) {
    const auto reg = decoder_registry();
    for (std::size_t i = 0; i < reg.size(); ++i) {
      if (!plan->enabled(i)) continue;
      const DecoderSetup setup{counters_,
                               reg[i].counter_base,
                               out_,
                               store_,
                               s.protocol_agents[i] ? *s.protocol_agents[i] : *s.agent,
                               s.internal_networks,
                               plan->config[i]};
      decoders_[i] = reg[i].create(setup);
      conn_timeout_ns_[i] = plan->config[i]->timeout_ns;
      stale_after_ns_ = std::max(stale_after_ns_, conn_timeout_ns_[i]);
      if (reg[i].transports & kTransportIcmp) icmp_decoder_ = static_cast<int>(i);
      if (reg[i].name == "tls") tls_decoder_ = static_cast<int>(i);
    }
    if (plan->any_tcp()) {
      tcp_ = std::make_unique<TcpReassembler>(s.tcp, counters_);
      conns_ = std::make_unique<FlowTable>(s.flow_capacity);
      sessions_ = BigArray<TcpSession>(conns_->capacity(), Fill::kFromBottom);
      stream_scratch_.reset(new uint8_t[kStreamScratchBytes]);
      probe_replay_.reset(new uint8_t[kProbeKeepBytes]);
      if (plan->detector) detect_scratch_ = std::make_unique<PayloadDetector::Scratch>(*plan->detector);
    }
  }
  track_flows_ = s.flows_enabled;
}

bool Worker::parse_one(const RawPacket& p, Parsed& out, unsigned amsdu_subframe) {
  PacketMeta& m = out.meta;
  m.clear();
  m.ts_ns = p.ts_ns;
  m.cap_len = p.cap_len;
  m.wire_len = p.wire_len;
  out.flow = nullptr;
  out.frames = 1;
  out.wire_bytes = p.wire_len;
  out.first_ts_ns = p.ts_ns;
  out.in_frame = true;
  if (!owns(p, amsdu_subframe)) {  // another worker's packet of a shared A-MSDU: the others are read
    m.amsdu_subframes = share_meta_.amsdu_subframes;
    return false;
  }
  if (amsdu_subframe == 0) {  // the frame, counted once
    counters_.inc(Counter::packets);
    counters_.inc(Counter::bytes, p.wire_len);
    if (p.cap_len < p.wire_len) counters_.inc(Counter::snaplen_truncated);
  }
  ParseStatus st = parse_frame(p.data, p.cap_len, p.link_type, m, counters_, amsdu_subframe);
  if (m.amsdu_subframes) out.wire_bytes = m.amsdu_bytes;  // one packet of several in the frame
  for (int depth = 0; st == ParseStatus::kFragment; ++depth) {
    FragTable::Datagram d;
    if (!frags_.add(m, now_ns_ > p.ts_ns ? now_ns_ : p.ts_ns, d)) return false;
    out.in_frame = false;  // the fragment table's buffer, reused
    out.frames = d.frames;
    out.wire_bytes = d.wire_bytes;
    out.first_ts_ns = d.first_ts_ns;
    if (depth >= kMaxEncapDepth) {
      counters_.inc(Counter::tunnel_too_deep);
      return false;
    }
    st = parse_transport(d.proto, d.data, d.len, m, counters_, m.tunnel_depth);
  }
  // A frame that carries no IP (ARP, LLDP, STP, ...) is a flow of its MAC pair and
  // VLANs, as Packetbeat reports it; it reaches no decoder (l4_proto 0).
  if (st == ParseStatus::kNonIp) return m.has_mac && m.ip_version == 0;
  return st == ParseStatus::kOk;
}

void Worker::process(std::span<const RawPacket> burst) {
  while (!burst.empty()) burst = burst.subspan(process_some(burst.first(std::min(burst.size(), kBurstSize))));
}

std::size_t Worker::process_some(std::span<const RawPacket> burst) {
  std::size_t n = burst.size();
  // Stage 1: parse, with the next packets' first bytes on their way into cache. A
  // datagram rebuilt from fragments lies in the fragment table's one buffer, which the
  // next completed datagram overwrites: the stages run up to it, and the rest of the
  // burst after (before, two fragmented datagrams completed in one burst gave the
  // first the second's bytes).
  for (std::size_t i = 0; i < n && i < kPrefetchOffset; ++i) prefetch_read(burst[i].data);
  uint64_t latest = now_ns_;
  burst_clock_ns_ = now_ns_;  // the clock before this burst (a burst spans time)
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kPrefetchOffset < n) prefetch_read(burst[i + kPrefetchOffset].data);
    Parsed& p = parsed_[i];
    p.ok = parse_one(burst[i], p);
    if (burst[i].ts_ns > latest) latest = burst[i].ts_ns;
    // An 802.11 A-MSDU's first packet goes with the burst, its others after it.
    if (!p.in_frame || p.meta.amsdu_subframes > 1) n = i + 1;
  }
  now_ns_ = latest;
  run_stages(n);
  if (n && parsed_[n - 1].meta.amsdu_subframes > 1)
    rest_of_amsdu(burst[n - 1], parsed_[n - 1].meta.amsdu_subframes);
  if (now_ns_ >= next_housekeeping_ns_) on_clock(now_ns_);
  return n;
}

void Worker::rest_of_amsdu(const RawPacket& frame, unsigned subframes) {
  // Subframes 1.. of the frame, a burst's worth at a time, each cut after a datagram
  // rebuilt from fragments (it lies in the fragment table's one buffer).
  for (unsigned next = 1; next < subframes;) {
    std::size_t n = 0;
    while (n < kBurstSize && next < subframes) {
      Parsed& p = parsed_[n++];
      p.ok = parse_one(frame, p, next++);
      if (!p.in_frame) break;
    }
    run_stages(n);
  }
}

bool Worker::owns_shared(const RawPacket& frame, unsigned subframe) {
  if (settings_.workers <= 1) return true;
  const uint32_t h = subframe_hash(frame.data, frame.cap_len, frame.wire_len, frame.link_type, subframe,
                                   share_meta_, share_counters_);
  return worker_of(h, settings_.workers) == settings_.id;
}

void Worker::run_stages(std::size_t n) {
  if (track_flows_ || tcp_) {
    // Stage 2: keys, then hashes in a separate pass, so the hash reads whole words
    // of keys whose byte-sized stores have already retired (no store-forwarding
    // stalls), and the index lines start on their way.
    for (std::size_t i = 0; i < n; ++i) {
      if (!parsed_[i].ok) continue;
      FlowTable::make_key(parsed_[i].meta, parsed_[i].key, parsed_[i].from_a);
      parsed_[i].conn_hashed = false;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!parsed_[i].ok) continue;
      parsed_[i].hash = FlowTable::hash_key(parsed_[i].key);
      if (track_flows_) flows_.prefetch(parsed_[i].hash);
    }
    if (track_flows_) {
      // Stage 3: with the index lines arriving, start the flow lines on their way.
      for (std::size_t i = 0; i < n; ++i)
        if (parsed_[i].ok) flows_.prefetch_flow(parsed_[i].hash);
      // Stage 4: look up and account.
      for (std::size_t i = 0; i < n; ++i)
        if (parsed_[i].ok) account(parsed_[i]);
    }
    // Stage 4b: TCP streams, to the decoder that claims (or detects) each flow.
    if (tcp_) {
      for (std::size_t i = 0; i < n; ++i)
        if (parsed_[i].ok && parsed_[i].meta.l4_proto == 6) tcp_session(parsed_[i]);
    }
  }
  // Stage 5: datagram transactions (UDP by port, ICMP).
  if (const DecoderPlan* plan = settings_.decoders) {
    for (std::size_t i = 0; i < n; ++i) {
      if (!parsed_[i].ok) continue;
      const PacketMeta& m = parsed_[i].meta;
      if (m.l4_proto == 17) {
        const uint8_t d = plan->udp_ports[m.dport] ? plan->udp_ports[m.dport] : plan->udp_ports[m.sport];
        if (d) decoders_[d - 1]->datagram(m);
      } else if ((m.l4_proto == 1 || m.l4_proto == 58) && icmp_decoder_ >= 0) {
        decoders_[icmp_decoder_]->datagram(m);
      }
    }
  }
}

void Worker::account(Parsed& p) {
  Flow* f = flows_.find(p.key, p.hash);
  if (!f) {
    if (flows_.full()) {
      // Oldest idle flow makes room; it still gets its final report.
      retire(*flows_.oldest(), now_ns_);
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
  p.flow = f;
  // A TCP packet's connection and session lines start on their way now: tcp_session
  // reads them after the whole burst is accounted. A flow with no hint yet (new, mostly)
  // looks its connection up by key: the index line it probes first starts instead (cold
  // in a large table, that lookup cost as much as every packet's flow lookup together).
  if (tcp_ && p.meta.l4_proto == 6) {
    if (f->conn_hint) {
      const uint32_t slot = f->conn_hint - 1;
      const char* c = reinterpret_cast<const char*>(conns_->at_slot(slot));
      prefetch_read(c);
      prefetch_read(c + kCacheLine);
      const char* s = reinterpret_cast<const char*>(&sessions_[slot]);
      prefetch_write(s);
      prefetch_write(s + kCacheLine);
    } else {
      p.conn_hash = p.key.has_mac || p.key.vlan_count ? FlowTable::hash_key(without_link(p.key)) : p.hash;
      p.conn_hashed = true;
      conns_->prefetch(p.conn_hash);
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
  for (auto& d : decoders_)
    if (d) d->tick(now_ns_);
  if (tcp_) {
    expire_connections(now_ns_);
    if (now_ns_ >= next_sweep_ns_) {
      next_sweep_ns_ = now_ns_ + kTransactionSweepNs;
      sweep_transactions(now_ns_);
    }
  }
  if (!track_flows_) return;
  expire(now_ns_);
  if (settings_.flows_enabled && settings_.flow_period_ns > 0) {
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
    if (!timed_out(*f, now_ns)) break;
    // Expired flows are cold: their index line and the next flow start on their way
    // while this one's final report is written (the index probe of the removal was
    // nearly all of FlowTable::remove's time).
    flows_.prefetch(f->hash);
    if (Flow* n = flows_.next(f)) prefetch_read(n);
    time_out(*f);
  }
  counters_.set(Counter::flow_active, flows_.size());
}

void Worker::time_out(Flow& f) {
  // Stamped when it timed out, not when a tick found it so: the clock's ticks depend
  // on the traffic around (and on how many workers share it), the flow's time does not.
  retire(f, f.last_ts_ns + settings_.flow_timeout_ns);
  counters_.inc(Counter::flow_expired);
}

void Worker::periodic_report() {
  for (Flow* f = flows_.oldest(); f;) {
    Flow* next = flows_.next(f);
    if (timed_out(*f, now_ns_)) {
      // Timed out, but behind a live flow in the LRU order (kept to a granularity):
      // its final report, stamped when it timed out, not a periodic one stamped later.
      time_out(*f);
    } else {
      report(*f, false, now_ns_);
    }
    f = next;
  }
  counters_.set(Counter::flow_active, flows_.size());
}

void Worker::finish() {
  // Connections first: closing their streams may complete transactions.
  if (tcp_) {
    while (Flow* c = conns_->oldest()) close_connection(*c);
  }
  if (track_flows_) {
    while (Flow* f = flows_.oldest()) retire(*f, now_ns_);
    counters_.set(Counter::flow_active, 0);
  }
  for (auto& d : decoders_)
    if (d) d->finish();
  flush();
}

void Worker::retire(Flow& f, uint64_t ts_ns) {
  report(f, true, ts_ns);  // a no-op when flow events are off
  flows_.remove(&f);
}

StreamInfo Worker::stream_info(const Flow& f, uint64_t ts_ns) const {
  StreamInfo c;
  stream_info(f, ts_ns, c);
  return c;
}

void Worker::stream_info(const Flow& f, uint64_t ts_ns, StreamInfo& c) const {
  c.ip_version = f.key.ip_version;
  c.addr[0] = f.source_is_a ? f.key.addr_a : f.key.addr_b;
  c.addr[1] = f.source_is_a ? f.key.addr_b : f.key.addr_a;
  c.port[0] = f.source_is_a ? f.key.port_a : f.key.port_b;
  c.port[1] = f.source_is_a ? f.key.port_b : f.key.port_a;
  c.ts_ns = ts_ns;
}

void Worker::attach(TcpSession& s, int decoder) {
  s.state = kDecoding;
  s.decoder = static_cast<uint8_t>(decoder);
  std::memset(s.data, 0, sizeof s.data);
  decoders_[decoder]->open(s.data);
}

Flow* Worker::connection(Parsed& p) {
  // The connection key is the flow key without its link layer (without_link).
  // The packet's flow remembers its connection's slot: no key copy, hash or probe.
  Flow* c = nullptr;
  if (p.flow && p.flow->conn_hint) {
    Flow* h = conns_->at_slot(p.flow->conn_hint - 1);
    if (h->in_use && is_without_link(h->key, p.key)) c = h;
  }
  // A packet whose flow key has no link layer has the connection's key and hash.
  const auto key_and_hash = [&p]() -> std::pair<FlowKey, uint64_t> {
    const FlowKey key = without_link(p.key);
    if (p.conn_hashed) return {key, p.conn_hash};
    return {key, p.key.has_mac || p.key.vlan_count ? FlowTable::hash_key(key) : p.hash};
  };
  if (!c) {
    const auto [key, hash] = key_and_hash();
    c = conns_->find(key, hash);
    if (!c) c = new_connection(p, key, hash);
  }
  const PacketMeta& m = p.meta;
  if (m.tcp_flags & (tcp_flag::kSyn | tcp_flag::kFin | tcp_flag::kRst)) {
    const bool opening = (m.tcp_flags & (tcp_flag::kSyn | tcp_flag::kAck)) == tcp_flag::kSyn;
    // The same ports again: a SYN other than the one that opened this connection (a
    // client reusing its port, another behind the same NAT address), or any SYN once
    // this one was closed when its opening was not seen. The connection ends (its
    // decoder publishes what it held) and the SYN begins another; a SYN sent again
    // keeps it.
    if (opening && ((c->tcp_marks & tcp_mark::kSynSeen) ? m.tcp_seq != c->syn_seq
                                                        : (c->tcp_marks & tcp_mark::kClosed) != 0)) {
      counters_.inc(Counter::stream_port_reuse);
      close_connection(*c);
      const auto [key, hash] = key_and_hash();
      c = new_connection(p, key, hash);
    }
    if (opening && !(c->tcp_marks & tcp_mark::kSynSeen)) {
      c->syn_seq = m.tcp_seq;
      c->tcp_marks |= tcp_mark::kSynSeen;
    }
    if (m.tcp_flags & tcp_flag::kFin) c->tcp_marks |= tcp_mark::kClosed;  // an RST: tcp_session
  }
  const uint32_t stamp = lru_stamp(m.ts_ns);
  if (stamp - c->lru_stamp >= conn_lru_granularity_) {
    conns_->touch(c);
    c->lru_stamp = stamp;
  }
  if (m.ts_ns > c->last_ts_ns) c->last_ts_ns = m.ts_ns;
  if (p.flow) p.flow->conn_hint = conns_->slot_of(c) + 1;
  return c;
}

Flow* Worker::new_connection(const Parsed& p, const FlowKey& key, uint64_t hash) {
  if (conns_->full()) {
    close_connection(*conns_->oldest());
    counters_.inc(Counter::stream_evicted);
  }
  Flow* c = conns_->insert(key, hash);
  c->first_ts_ns = p.meta.ts_ns;
  c->last_ts_ns = p.meta.ts_ns;
  c->lru_stamp = lru_stamp(p.meta.ts_ns);
  c->source_is_a = p.from_a;
  sessions_[conns_->slot_of(c)].state = kNoSession;
  return c;
}

void Worker::tcp_session(Parsed& p) {
  const PacketMeta& m = p.meta;
  if (m.ts_ns + stale_after_ns_ < burst_clock_ns_) {
    // Stamped further back than any transaction could wait: a copy of a
    // conversation whose connection is gone (captures merged or replayed out of
    // order). Decoding it would only make orphans.
    counters_.inc(Counter::stream_stale_segments);
    return;
  }
  Flow* f = connection(p);
  const bool rst = m.tcp_flags & tcp_flag::kRst;
  // Nothing more is done for such a connection's packets than connection() did: its
  // session (another line) is not read.
  if (f->undecoded) {
    if (rst) f->tcp_marks |= tcp_mark::kClosed;
    return;
  }
  TcpSession& s = sessions_[conns_->slot_of(f)];
  const int d = p.from_a == f->source_is_a ? 0 : 1;
  if (rst) {
    // One no stack would take ends nothing here either (its acknowledgement is not
    // believed): before, it ended the side's stream, and what the side sent after it
    // was lost to its decoder.
    if (s.state != kNoSession && tcp_->rst_out_of_window(s.dir[d], m.tcp_seq)) {
      counters_.inc(Counter::tcp_reasm_rst_out_of_window);
      return;
    }
    f->tcp_marks |= tcp_mark::kClosed;
  }
  if (s.state == kNoSession) {
    s.decoder = 0;
    s.probes_left = 0;
    s.in_progress = false;
    s.port_claim_untested = false;
    s.first_scan = kFirstScanNone;
    s.tls_first_untested = false;
    s.socks = kSocksNone;
    s.preamble = (m.tcp_flags & (tcp_flag::kSyn | tcp_flag::kAck)) == tcp_flag::kSyn ? kPreambleAtStart
                                                                                     : kPreambleMidstream;
    // Each one written whole: a chained assignment read the one just written back (a
    // store-forwarding stall, on a line the store had yet to fetch: a third of this
    // function's time with HTTP on).
    s.dir[0] = TcpDirection{};
    s.dir[1] = TcpDirection{};
    s.buf[0] = StreamBuffer{};
    s.buf[1] = StreamBuffer{};
    const DecoderPlan& plan = *settings_.decoders;
    // Ports decide first: the first packet's destination, then its source.
    const uint8_t by_port = plan.tcp_ports[m.dport] ? plan.tcp_ports[m.dport] : plan.tcp_ports[m.sport];
    if (by_port) {
      attach(s, by_port - 1);
      counters_.inc(Counter::detect_by_port);
      // Only for a connection seen from its SYN: mid-stream bytes refuse every decoder,
      // and random ones can match a short probe.
      s.port_claim_untested = plan.detector != nullptr && (m.tcp_flags & tcp_flag::kSyn);
      // Decisive probes look at the first bytes of either kind: they are long and
      // specific, and the port's own probes matching keeps the port's decoder.
      s.first_scan = !plan.detector                   ? kFirstScanNone
                     : s.preamble == kPreambleAtStart ? kFirstScanAtStart
                                                      : kFirstScanMidstream;
      s.tls_first_untested =
          tls_decoder_ >= 0 && by_port - 1 != tls_decoder_ && (m.tcp_flags & tcp_flag::kSyn);
    } else if (plan.detector) {
      s.state = kProbing;
      s.probes_left = PayloadDetector::kBudgetSegments;
    } else {
      s.state = kUndetected;
      f->undecoded = true;
      counters_.inc(Counter::detect_undetected);
    }
  }
  // The other side's bytes gathered while this connection was probed, when this
  // segment's tell the protocol: they go to the decoder too, before this segment's or
  // after, as the two sides sent them (early_after).
  TcpPacket early_seg{};
  bool early_after = false;
  TcpPacket late_seg{};  // the part of those bytes that answers later ones (StreamBuffer::split)
  bool late_after = false;
  bool earlier_first = false;              // this side's bytes gathered before this segment go first
  uint32_t lost_mine = 0, lost_other = 0;  // bytes lost before this side's first, the other's
  bool prepended = false;                  // this segment's bytes went in front of those (see below)
  uint32_t resume_seq = 0;                 // then where this side's stream goes on
  if (s.state == kProbing) {
    // A SYN tells where its side's bytes begin: once a protocol is found, the
    // reassembler knows what either side sent that the capture has not shown yet (an
    // answer written before its request waits for it).
    if ((m.tcp_flags & tcp_flag::kSyn) && !s.dir[d].synced) TcpReassembler::start_at(s.dir[d], m.tcp_seq + 1);
    StreamBuffer& buf = s.buf[d];
    if (m.l4_payload_len == 0) {
      // Where this side's bytes go on (a keep-alive probe's stray byte comes before it).
      if (!(m.tcp_flags & (tcp_flag::kSyn | tcp_flag::kFin | tcp_flag::kRst)))
        buf.bare_seq = m.tcp_seq, buf.bare_seen = true;
      return;
    }
    {
      // Bytes numbered before the side's first (a keep-alive probe's stray byte on a
      // connection idle since its handshake, or before a bare acknowledgement's number
      // on one picked up mid-way) or all among the bytes kept (sent again): nothing to
      // probe or keep, as the reassembler drops them once a decoder reads the
      // connection. Kept, the stray byte went in front of the first message and the
      // decoder found a violation there (a TLS connection on a port of its own, lost).
      const uint32_t first = m.tcp_seq + ((m.tcp_flags & tcp_flag::kSyn) ? 1 : 0);
      const uint32_t end = first + m.l4_payload_len;
      const bool before_start = s.dir[d].synced
                                    ? seq_diff(end, s.dir[d].next_seq) <= 0
                                    : TcpReassembler::keep_alive(buf.bare_seen, buf.bare_seq, m.tcp_seq,
                                                                 m.l4_payload_len, m.tcp_flags);
      const bool kept_already =
          !buf.held.empty() && seq_diff(first, buf.need - buf.held.len) >= 0 && seq_diff(end, buf.need) <= 0;
      if (before_start || kept_already) {
        counters_.inc(Counter::tcp_reasm_retransmissions);
        return;
      }
      // Beyond the window from where the side's bytes stand (its SYN's, or past the bytes
      // kept): no stack takes it, and kept, it would start the probe again without the
      // bytes kept (see TcpReassembler::beyond_window_unbelieved).
      const uint32_t from = !buf.held.empty() ? buf.need : s.dir[d].next_seq;
      if ((!buf.held.empty() || s.dir[d].synced) && seq_diff(first, from) > 0 &&
          static_cast<uint32_t>(seq_diff(first, from)) > tcp_->window_bytes()) {
        counters_.inc(Counter::tcp_reasm_beyond_window);
        return;
      }
      buf.bare_seen = false;
    }
    // A PROXY protocol header first: what follows it is classified.
    const uint8_t* payload = m.l4_payload;
    uint32_t payload_len = m.l4_payload_len;
    // (Picked up mid-stream, either side's bytes may be the connection's first: a
    // capture that begins at the balancer's first segment.)
    if ((d == 0 && s.preamble == kPreambleAtStart) || s.preamble == kPreambleMidstream) {
      if (const uint32_t h = proxy_header_len(payload, payload_len)) {
        payload += h;
        payload_len -= h;
        if (payload_len == 0) {  // alone in its segment, never delivered: passed over here
          if (s.preamble == kPreambleAtStart) s.preamble = kPreambleNone;
          counters_.inc(Counter::detect_proxy_protocol);
          s.buf[d].need = m.tcp_seq + m.l4_payload_len;  // bytes seen and not kept (see below)
          s.buf[d].skipped = true;
          return;
        }
        s.buf[d].skipped = true;  // the header's bytes are not kept
      }
    }
    if (s.socks < kSocksOpen && socks_step(s.socks, d == 0, payload, payload_len)) {
      s.buf[d].need = m.tcp_seq + m.l4_payload_len;  // bytes seen and not kept (see below)
      s.buf[d].skipped = true;
      if (s.socks == kSocksOpen) {  // the tunnelled protocol's bytes come next
        counters_.inc(Counter::detect_socks);
        s.probes_left = PayloadDetector::kBudgetSegments;
      }
      return;
    }
    // A direction's bytes gather across its segments while they follow in order (a
    // first line its writer sent in pieces: "GE", then "T / HTTP/1.1"); each probe looks
    // at all that came since the last that reached as far as a probe reads (the window),
    // the next after that alone. A segment out of order starts again. The bytes are
    // kept (kProbeKeepBytes) for the decoder that a later segment of either side finds.
    StreamBuffer& acc = s.buf[d];
    const uint32_t first =
        m.tcp_seq + ((m.tcp_flags & tcp_flag::kSyn) ? 1 : 0);  // data in a SYN (TCP Fast Open)
    const bool follows = !acc.held.empty() && first == acc.need;
    const uint32_t ack = (m.tcp_flags & tcp_flag::kAck) ? m.tcp_ack : 0;
    // A segment that ends where the bytes kept begin, sent before them and written after
    // (a request's head after its body): kept in front of them, the stream read from it.
    if (!follows && !acc.held.empty() && payload == m.l4_payload &&
        first + payload_len == acc.need - acc.held.len && acc.held.len + payload_len <= kProbeKeepBytes) {
      const uint32_t later = store_.copy_out(acc.held, probe_replay_.get(), kProbeKeepBytes);
      ChainStore::Chain both{};
      if (store_.append(both, payload, payload_len) == payload_len &&
          store_.append(both, probe_replay_.get(), later) == later) {
        store_.release(acc.held);
        acc.held = both;
        if (acc.split)
          acc.split += payload_len;
        else if (ack && seq_diff(acc.held_ack, ack) > 0)
          acc.split = payload_len, acc.split_ack = acc.held_ack, acc.split_ns = acc.held_ns;
        acc.held_ns = m.ts_ns;
        acc.held_ack = ack;
        acc.window = 0;
        prepended = true;
        counters_.inc(Counter::tcp_reasm_out_of_order);
      } else {
        store_.release(both);
      }
    }
    if (!follows && !prepended) {
      // Bytes kept that this segment does not send again (it starts past them: a loss,
      // or a retransmission of their end) will reach no decoder. A protocol found later
      // reads this side from here (tcp.reassembly.midstream).
      if (!acc.held.empty()) {
        const int32_t past = seq_diff(first, acc.need - acc.held.len);
        if (past > 0) acc.probe_dropped += std::min<uint32_t>(static_cast<uint32_t>(past), acc.held.len);
        acc.skipped = true;
      }
      store_.release(acc.held);
      acc.window = 0;
      acc.split = 0;
    }
    uint8_t scan[PayloadDetector::kScanBytes];
    const uint32_t had = prepended    ? store_.copy_out(acc.held, scan, sizeof scan)
                         : acc.window ? store_.copy_out(acc.held, scan, acc.window, acc.held.len - acc.window)
                                      : 0;
    const uint32_t take = prepended ? 0 : std::min<uint32_t>(payload_len, sizeof scan - had);
    copy_bytes(scan + had, payload, take);
    // A probe of what clients send looks at the first sender's bytes, or at either
    // side's when the connection was picked up without its SYN (the first packet seen
    // may be the server's: its response is then found after the request it answers).
    const bool client_side = d == 0 || s.preamble == kPreambleMidstream;
    int found = settings_.decoders->detector->classify(*detect_scratch_, {scan, had + take}, client_side);
    // What came before this segment may be no part of the protocol (a keep-alive's
    // stray byte at a capture's start, then the request): this segment alone is looked
    // at too. The bytes before it still reach the decoder first, which passes over
    // what it does not read (as it does on the protocol's port).
    if (found < 0 && found != PayloadDetector::kNotEnabled && had > 0 && take > 0)
      found = settings_.decoders->detector->classify(*detect_scratch_, {payload, take}, client_side);
    if (found >= 0 && decoders_[found]) {
      // Where this side's bytes at hand begin: those kept, else this segment's. On a
      // side seen from its SYN, none read and passed over before them, the bytes
      // between the SYN and them were lost to the capture: a gap its decoder hears of
      // before them (lost_start), as the reassembler tells a hole.
      const uint32_t mine = prepended ? first : first - acc.held.len;
      if (s.dir[d].synced && !acc.skipped && seq_diff(mine, s.dir[d].next_seq) > 0)
        lost_mine = static_cast<uint32_t>(seq_diff(mine, s.dir[d].next_seq));
      // This side's stream goes on at this segment, the bytes gathered before it going
      // first (prepended: after the bytes kept, this segment's among them).
      if (prepended)
        TcpReassembler::start_at(s.dir[d], acc.need);
      else if (s.dir[d].synced)
        TcpReassembler::start_at(s.dir[d], first);
      // The other side's bytes gathered in order (a reply or greeting no probe knew, or
      // an answer a capture point that merges the two directions wrote before the
      // request it answers) go through the reassembler as one segment: after this
      // side's bytes when their first segment acknowledged some of them (held until
      // this side's reach what they acknowledged), before them otherwise. Bytes of that
      // side not kept (out of order, past kProbeKeepBytes): its stream starts at its
      // next segment, as it was picked up mid-way.
      StreamBuffer& other = s.buf[1 - d];
      if (!other.held.empty()) {
        early_seg.len = store_.copy_out(other.held, probe_replay_.get(), kProbeKeepBytes);
        early_seg.seq = other.need - other.held.len;
        early_seg.ack = other.held_ack;
        early_seg.flags = other.held_ack ? tcp_flag::kAck : 0;
        early_seg.ts_ns = other.held_ns;
        early_after = other.held_ack && seq_diff(other.held_ack, mine) > 0;
        if (other.split && other.split < early_seg.len) {
          // Those bytes from the first segment that acknowledged more on (an answer the
          // capture point wrote before the request it answers): a segment of their own,
          // after this side's bytes when they acknowledge some of them.
          late_seg = {early_seg.seq + other.split, other.split_ack, tcp_flag::kAck,
                      early_seg.len - other.split, other.split_ns};
          late_after = seq_diff(other.split_ack, mine) > 0;
          early_seg.len = other.split;
        }
        if (s.dir[1 - d].synced && !other.skipped && seq_diff(early_seg.seq, s.dir[1 - d].next_seq) > 0) {
          lost_other = static_cast<uint32_t>(seq_diff(early_seg.seq, s.dir[1 - d].next_seq));
          TcpReassembler::start_at(s.dir[1 - d], early_seg.seq);  // after the gap (lost_start)
        } else if (s.dir[1 - d].synced && s.dir[1 - d].next_seq != early_seg.seq) {
          TcpReassembler::unsync(s.dir[1 - d]);
        }
      } else if (other.need) {
        TcpReassembler::unsync(s.dir[1 - d]);
      }
      store_.release(other.held);
      other.need = 0;
      other.window = 0;
      other.split = acc.split = 0;
      if (prepended) resume_seq = acc.need;
      const ChainStore::Chain earlier = acc.held;  // this direction's bytes before this segment
      const uint64_t earlier_ns = acc.held_ns;
      attach(s, found);
      counters_.inc(Counter::detect_by_payload);
      counters_.inc(Counter::detect_probe_bytes_dropped, uint64_t{acc.probe_dropped} + other.probe_dropped);
      acc.probe_dropped = other.probe_dropped = 0;
      acc.held = earlier, acc.held_ns = earlier_ns, acc.need = 0, acc.window = 0;
      earlier_first = !earlier.empty();
    } else {
      // A protocol this run does not decode (TLS with only HTTP on) stays that: no
      // further segment is looked at.
      if (found == PayloadDetector::kNotEnabled ||
          (payload_len >= PayloadDetector::kTinySegment && --s.probes_left == 0)) {
        for (int k = 0; k < 2; ++k) store_.release(s.buf[k].held);
        s.state = kUndetected;
        f->undecoded = true;
        counters_.inc(Counter::detect_undetected);
        return;
      }
      if (prepended) return;  // kept already, up to acc.need
      if (acc.held.empty()) {
        acc.held_ns = m.ts_ns;
        acc.held_ack = ack;
        acc.split = 0;
      } else if (!acc.split && acc.held_ack && seq_diff(ack, acc.held_ack) > 0) {
        acc.split = acc.held.len, acc.split_ack = ack, acc.split_ns = m.ts_ns;
      }
      // With half the store taken (many connections probed at once), no more than a
      // probe reads is kept: the decoders' own messages come first.
      const uint32_t keep = store_.blocks_in_use() < store_.capacity() / 2 ? kProbeKeepBytes : sizeof scan;
      const uint32_t before = acc.held.len;
      if (before + payload_len > keep || store_.append(acc.held, payload, payload_len) < payload_len) {
        acc.probe_dropped += before + payload_len;
        acc.skipped = true;
        store_.release(acc.held);
        acc.window = 0;
        acc.split = 0;
      } else {
        // As much as a probe reads: the next segment looks alone.
        acc.window = had + take < sizeof scan ? had + take : 0;
      }
      acc.need = first + m.l4_payload_len;  // where the next segment in order begins
      return;
    }
  }
  if (s.state != kDecoding) {
    f->undecoded = true;
    return;
  }
  // The other side's bytes read while probing that came first, this segment, the other
  // side's that answer it; each side's first bytes after the gap that lost its start.
  if (lost_other && !early_after) lost_start(s, *f, 1 - d, lost_other, early_seg.ts_ns);
  if (early_seg.len && !early_after && s.state == kDecoding)
    stream_segment(s, *f, 1 - d, early_seg, probe_replay_.get(), false, 0, false);
  if (lost_mine && s.state == kDecoding)
    lost_start(s, *f, d, lost_mine, earlier_first ? s.buf[d].held_ns : m.ts_ns);
  if (late_seg.len && !late_after && s.state == kDecoding)
    stream_segment(s, *f, 1 - d, late_seg, probe_replay_.get() + early_seg.len, false, 0, false);
  if (s.state == kDecoding && prepended)  // its bytes among those gathered: its numbers only
    stream_segment(s, *f, d, {resume_seq, m.tcp_ack, m.tcp_flags, 0, m.ts_ns}, nullptr, false, 0, true);
  else if (s.state == kDecoding)
    stream_segment(s, *f, d, {m.tcp_seq, m.tcp_ack, m.tcp_flags, m.l4_payload_len, m.ts_ns}, m.l4_payload,
                   stable_frames_ && p.in_frame, m.l4_lost, earlier_first);
  if (lost_other && early_after && s.state == kDecoding)
    lost_start(s, *f, 1 - d, lost_other, early_seg.ts_ns);
  if (early_seg.len && early_after && s.state == kDecoding)
    stream_segment(s, *f, 1 - d, early_seg, probe_replay_.get(), false, 0, false);
  if (late_seg.len && late_after && s.state == kDecoding)
    stream_segment(s, *f, 1 - d, late_seg, probe_replay_.get() + early_seg.len, false, 0, false);
  if (s.state != kDecoding) {
    // The decoder let the connection go while bytes were delivered: what either side
    // holds is dropped and the connection's packets are only counted from now on.
    tcp_->release(s.dir[0]);
    tcp_->release(s.dir[1]);
    f->undecoded = true;
  }
}

bool Worker::stream_segment(TcpSession& s, const Flow& f, int dir, const TcpPacket& seg, const uint8_t* bytes,
                            bool stable, uint32_t lost, bool earlier_first) {
  // Filled in place: a StreamInfo returned and copied is read back in wide loads
  // over its narrow stores, a store-forwarding stall on every segment.
  stream_info(f, seg.ts_ns, sink_.info());
  Sides sides(*this, s);
  if (!tcp_->before_segment(s.dir, dir, seg, sides, kPeerWaitNs, kReorderNs)) return false;
  sink_.bind(&s, dir);
  if (earlier_first) {
    // Bytes payload detection gathered before the segment that told the protocol: the
    // decoder reads them first; the reassembler begins at this segment.
    deliver(s, dir, sink_.info(), nullptr, 0);
    if (s.state != kDecoding) return false;
  }
  tcp_->segment(s.dir[dir], seg.seq, seg.flags, bytes, seg.len, sink_, stable, lost);
  if (s.state == kDecoding) tcp_->after_segment(s.dir, dir, sides);
  return s.state == kDecoding;
}

void Worker::deliver(TcpSession& s, int dir, const StreamInfo& info, const uint8_t* data, uint32_t len) {
  if (s.state != kDecoding) return;
  if ((dir == 0 && s.preamble == kPreambleAtStart) || s.preamble == kPreambleMidstream) {
    // The client's first bytes of a connection seen from its SYN: a PROXY protocol
    // header there is the balancer's, not the protocol's (HTTP would read "PROXY" as a
    // method and the request after it as a header line). Of a connection picked up
    // mid-stream, the first bytes delivered, either side's: the capture may have begun
    // just after the SYN (a one-packet sample); the header's strict form (a v1 line of
    // addresses and ports, v2's 12-byte signature) is not found inside other bytes.
    s.preamble = kPreambleNone;
    if (const uint32_t h = proxy_header_len(data, len)) {
      counters_.inc(Counter::detect_proxy_protocol);
      data += h;
      len -= h;
      if (len == 0) return;
    }
  }
  s.in_progress = true;
  StreamBuffer& b = s.buf[dir];
  if (b.held.empty()) {
    feed(s, dir, info, data, len);
    return;
  }
  // A partial message waits: add to it, and hand the held bytes over once the
  // decoder's need is met, a scratch buffer at a time (a segment can take the held
  // bytes past the buffer; what does not fit follows in the next round). The bytes
  // held before this segment came with earlier packets: the decoder is told how many
  // and when the first came (StreamInfo::ts_at), to time a message by its first packet.
  uint32_t earlier = b.held.len;
  if (store_.append(b.held, data, len) < len) {
    counters_.inc(Counter::stream_store_full);
    detach(s, info, false);
    return;
  }
  StreamInfo held_info = info;
  while (s.state == kDecoding && !b.held.empty() && b.held.len >= b.need) {
    const uint32_t n = store_.copy_out(b.held, stream_scratch_.get(), kStreamScratchBytes);
    store_.drop_front(b.held, n);
    ChainStore::Chain tail = b.held;  // after what the decoder leaves unconsumed
    b.held = ChainStore::Chain{};
    b.need = 0;
    held_info.held_ns = b.held_ns;
    held_info.held_len = earlier;
    feed(s, dir, held_info, stream_scratch_.get(), n);
    if (s.state != kDecoding) {
      store_.release(tail);
      return;
    }
    const uint32_t used = n - b.held.len;  // feed() holds what the decoder left
    earlier = earlier > used ? earlier - used : 0;
    if (tail.empty()) break;
    if (b.held.empty()) {
      b.held = tail;
      b.held_ns = held_info.ts_at(n);
      continue;
    }
    for (uint32_t at = 0; at < tail.len;) {  // unconsumed rest, then the tail
      const uint32_t k = store_.copy_out(tail, stream_scratch_.get(), kStreamScratchBytes, at);
      if (store_.append(b.held, stream_scratch_.get(), k) < k) {
        counters_.inc(Counter::stream_store_full);
        store_.release(tail);
        detach(s, info, false);
        return;
      }
      at += k;
    }
    store_.release(tail);
  }
}

// The decoder takes what it can of p[0, n); the rest is held until `need` bytes are.
void Worker::feed(TcpSession& s, int dir, const StreamInfo& info, const uint8_t* p, uint32_t n) {
  StreamBuffer& b = s.buf[dir];
  if (n == 0) return;
  if (s.tls_first_untested) {
    // TLS from the first byte on another protocol's port (HTTPS on 80 or 8080, a
    // database's TLS on its plaintext port, PostgreSQL 17's direct TLS): the port's
    // decoder would skip or misread the records.
    s.tls_first_untested = false;
    if (tls_client_hello(p, n)) {
      counters_.inc(Counter::detect_tls_on_port);
      s.port_claim_untested = false;
      hand_over(s, tls_decoder_, dir, info, p, n);
      return;
    }
  }
  if (s.first_scan != kFirstScanNone && overruled(s, dir, info, p, n)) return;
  const DecodeResult r = decoders_[s.decoder]->data(s.data, info, dir, {p, n});
  if (r.verdict == Verdict::kStartTls && tls_decoder_ >= 0 && s.decoder != tls_decoder_) {
    // STARTTLS and its kin: the protocol's decoder publishes what it has, the TLS
    // decoder takes the connection from the next byte; held bytes of the other
    // direction go to it with that direction's next delivery.
    counters_.inc(Counter::stream_starttls);
    const uint32_t used = r.consumed < n ? r.consumed : n;
    hand_over(s, tls_decoder_, dir, info, p + used, n - used);
    return;
  }
  if (r.verdict == Verdict::kTunnel) {
    const uint32_t used = r.consumed < n ? r.consumed : n;
    if (used < n) {
      tunnel(s, dir, info, p + used, n - used);
    } else if (!s.buf[1 - dir].held.empty()) {
      // None of the tunnel's bytes here: the other side's that the decoder held while
      // the tunnel's answer was awaited (a ClientHello sent ahead of it) are its first.
      s.buf[1 - dir].need = 0;
      deliver(s, 1 - dir, info, nullptr, 0);
    }
    return;
  }
  if (r.verdict == Verdict::kViolation && s.port_claim_untested && redetect(s, dir, info, p, n)) return;
  if (r.verdict == Verdict::kViolation || r.verdict == Verdict::kDone || r.verdict == Verdict::kStartTls) {
    detach(s, info, r.verdict == Verdict::kViolation);
    return;
  }
  const uint32_t used = r.consumed < n ? r.consumed : n;
  if (used) {  // the port's protocol took bytes: it is that
    s.port_claim_untested = false;
    s.first_scan = kFirstScanNone;
  }
  if (used == n) return;
  const uint32_t rest = n - used;
  const uint32_t need = r.verdict == Verdict::kNeedMore && r.need > rest ? r.need : rest + 1;
  if (need > kStreamScratchBytes) {
    counters_.inc(Counter::stream_buffer_full);
    detach(s, info, true);
    return;
  }
  b.held_ns = info.ts_at(used);  // b.held is empty here: the rest starts it
  if (store_.append(b.held, p + used, rest) < rest) {
    counters_.inc(Counter::stream_store_full);
    detach(s, info, false);
    return;
  }
  b.need = need;
}

// The decoder a port chose refused the connection's first bytes, none taken before:
// payload detection looks at them (plaintext HTTP on 443, a database on a web port),
// and a protocol they show takes the connection from its start, with the other
// direction's waiting bytes. False: nothing shows, the caller detaches as before.
bool Worker::redetect(TcpSession& s, int dir, const StreamInfo& info, const uint8_t* p, uint32_t n) {
  s.port_claim_untested = false;
  const int found = settings_.decoders->detector->classify(*detect_scratch_, {p, n}, dir == 0);
  if (found < 0 || found == s.decoder || !decoders_[found]) return false;
  counters_.inc(Counter::detect_port_refused);
  hand_over(s, found, dir, info, p, n);
  return true;
}

// The first bytes of a connection its port gave to a decoder, none taken yet: another
// protocol's decisive probe matching them, and none of the port protocol's, says the
// connection is that protocol (HTTP or a database on another's port, as a tunnel through
// a port a firewall lets pass is): it goes to that decoder from its start, or is left
// undecoded where the run does not enable it. Scanned again as bytes come while the
// decoder takes none, up to the bytes probes look at. True: the connection left the
// port's decoder.
bool Worker::overruled(TcpSession& s, int dir, const StreamInfo& info, const uint8_t* p, uint32_t n) {
  // A probe of what clients send looks at the first sender's bytes, or at either
  // side's on a connection picked up without its SYN (as payload detection does).
  const bool client_side = dir == 0 || s.first_scan == kFirstScanMidstream;
  if (const auto owns = decoder_registry()[s.decoder].owns_start; owns && owns({p, n})) {
    s.first_scan = kFirstScanNone;
    return false;
  }
  if (n >= PayloadDetector::kScanBytes) s.first_scan = kFirstScanNone;
  const int found = settings_.decoders->detector->overrule(*detect_scratch_, {p, n}, client_side, s.decoder);
  if (found == -1) return false;  // never the port's own: its probes keep it
  counters_.inc(Counter::detect_port_overruled);
  s.port_claim_untested = false;
  s.first_scan = kFirstScanNone;
  if (found == PayloadDetector::kNotEnabled || !decoders_[found]) {
    detach(s, info, false);
    return true;
  }
  hand_over(s, found, dir, info, p, n);
  return true;
}

// A tunnel's first bytes, either side's, say what it carries: TLS from a ClientHello,
// else what payload detection finds (without it: the decoder that opened the tunnel
// again, the client's bytes being most often a request to the far end, as proxies
// carry them). A protocol no decoder takes leaves the flow alone.
void Worker::tunnel(TcpSession& s, int dir, const StreamInfo& info, const uint8_t* p, uint32_t n) {
  counters_.inc(Counter::stream_tunnels);
  int to = -1;
  if (tls_decoder_ >= 0 && tls_client_hello(p, n)) {
    to = tls_decoder_;
  } else if (const PayloadDetector* d = settings_.decoders->detector) {
    const int found = d->classify(*detect_scratch_, {p, n}, dir == 0);
    if (found >= 0 && decoders_[found]) to = found;
  } else if (dir == 0) {
    to = s.decoder;
  }
  if (to < 0) {
    counters_.inc(Counter::detect_undetected);
    detach(s, info, false);
    return;
  }
  hand_over(s, to, dir, info, p, n);
}

void Worker::hand_over(TcpSession& s, int to, int dir, const StreamInfo& info, const uint8_t* p, uint32_t n) {
  decoders_[s.decoder]->close(s.data, info);
  attach(s, to);
  feed(s, dir, info, p, n);
  if (s.state == kDecoding && !s.buf[1 - dir].held.empty()) {
    s.buf[1 - dir].need = 0;
    deliver(s, 1 - dir, info, nullptr, 0);
  }
}

void Worker::detach(TcpSession& s, const StreamInfo& info, bool violation) {
  if (s.state != kDecoding) return;
  if (violation) {
    const DecoderDescriptor& d = decoder_registry()[s.decoder];
    if (d.violations >= 0) counters_.inc_at(d.counter_base + static_cast<std::size_t>(d.violations));
    counters_.inc(Counter::stream_detached);
  }
  s.state = kDetached;  // first: close() must not come back here
  decoders_[s.decoder]->close(s.data, info);
  // Called from inside the reassembler's delivery: its segments are released by the
  // caller of segment() / close(), once that returns.
  for (int d = 0; d < 2; ++d) store_.release(s.buf[d].held);
}

void Worker::Sink::on_data(const uint8_t* data, uint32_t len) { w_.deliver(*s_, dir_, info_, data, len); }

void Worker::Sink::on_gap(uint32_t len, uint64_t acked_ns) {
  TcpSession& s = *s_;
  if (s.state != kDecoding) return;
  s.in_progress = true;
  info_.gap_acked_ns = acked_ns;
  // The partial message goes to the decoder first: a head the hole cut short may still
  // be published for what it shows.
  w_.give_up_held(s, dir_, info_, false);
  const bool kept = w_.decoders_[s.decoder]->gap(s.data, info_, dir_, len);
  info_.gap_acked_ns = 0;
  if (!kept) {
    // The decoder could not find its way past the loss: the connection's rest is not
    // decoded, counted.
    w_.counters_.inc(Counter::stream_gap_detached);
    w_.detach(s, info_, false);
  }
}

void Worker::Sink::on_end() {
  if (s_->state != kDecoding) return;
  w_.give_up_held(*s_, dir_, info_, true);
  if (s_->state == kDecoding) w_.decoders_[s_->decoder]->end(s_->data, info_, dir_);
}

// Bytes a side's SYN says it sent before the first the capture showed, found lost when
// payload detection names the protocol from later ones: counted as a hole and told to
// the decoder before that side's first bytes (held for it, not a message cut short).
void Worker::lost_start(TcpSession& s, const Flow& f, int dir, uint32_t len, uint64_t ts_ns) {
  counters_.inc(Counter::tcp_reasm_gaps);
  counters_.inc(Counter::tcp_reasm_gap_bytes, len);
  StreamInfo info;
  stream_info(f, ts_ns, info);
  s.in_progress = true;
  if (!decoders_[s.decoder]->gap(s.data, info, dir, len)) {
    counters_.inc(Counter::stream_gap_detached);
    detach(s, info, false);
  }
}

void Worker::give_up_held(TcpSession& s, int dir, const StreamInfo& info, bool at_end) {
  StreamBuffer& b = s.buf[dir];
  if (b.held.empty()) return;
  // The partial message can no longer be completed: the decoder takes what it can of
  // it (as much as the scratch holds), else its bytes are counted.
  uint8_t* held = stream_scratch_.get();
  const uint32_t k = store_.copy_out(b.held, held, kStreamScratchBytes);
  Decoder& dec = *decoders_[s.decoder];
  StreamInfo at = info;
  at.held_ns = b.held_ns;
  at.held_len = k;
  const bool took =
      at_end ? dec.unfinished(s.data, at, dir, {held, k}) : dec.cut_short(s.data, at, dir, {held, k});
  if (!took)
    counters_.inc(at_end ? Counter::stream_unfinished_bytes : Counter::stream_gap_dropped_bytes, b.held.len);
  store_.release(b.held);
  b.need = 0;
}

void Worker::settle_evidence(const Flow& f, TcpSession& s, uint64_t ts_ns) {
  // The bytes some evidence says were sent did not come late: it is acted on now.
  if (!s.dir[0].suspect && !s.dir[1].suspect) return;
  stream_info(f, ts_ns, sink_.info());
  Sides sides(*this, s);
  tcp_->settle_evidence(s.dir, sides);
}

void Worker::sweep_transactions(uint64_t now_ns) {
  // Transactions waiting past their timeout on connections that still carry
  // traffic (idle ones are closed by expire_connections). A decoder that answers
  // "nothing in progress" is not asked again until the connection delivers more.
  for (Flow* f = conns_->oldest(); f; f = conns_->next(f)) {
    if (f->undecoded) continue;
    TcpSession& s = sessions_[conns_->slot_of(f)];
    // Evidence of loss no later packet of the connection came to act on: the decoders
    // hear of the loss before their transactions expire.
    if (s.state == kDecoding) settle_evidence(*f, s, now_ns);
    if (s.state == kDecoding && s.in_progress)
      s.in_progress = decoders_[s.decoder]->expire(s.data, stream_info(*f, now_ns), now_ns);
  }
}

uint64_t Worker::idle_lifetime_ns(const TcpSession& s) const {
  return s.state == kDecoding ? conn_timeout_ns_[s.decoder] : settings_.tcp_transaction_timeout_ns;
}

void Worker::expire_connections(uint64_t now_ns) {
  // A connection lives as long as its own protocol's transaction_timeout without
  // traffic, as Packetbeat's TCP connections do; one no decoder has taken lives
  // the shortest of them (tcp_transaction_timeout_ns). The list is in order of
  // last traffic, so the walk stops at the first connection younger than that
  // shortest lifetime; connections of a protocol with a longer timeout that are
  // idle in between are passed over until their own time comes (none are when
  // every protocol has the same timeout, Packetbeat's default).
  for (Flow* c = conns_->oldest(); c;) {
    if (c->last_ts_ns + settings_.tcp_transaction_timeout_ns >= now_ns) break;
    Flow* next = conns_->next(c);
    if (next) prefetch_read(next);
    const uint64_t lifetime =
        c->undecoded ? settings_.tcp_transaction_timeout_ns : idle_lifetime_ns(sessions_[conns_->slot_of(c)]);
    if (c->last_ts_ns + lifetime < now_ns) {
      conns_->prefetch(c->hash);
      close_connection(*c);
    }
    c = next;
  }
  counters_.set(Counter::stream_connections, conns_->size());
}

void Worker::close_connection(Flow& c) {
  end_session(c);
  conns_->remove(&c);
}

void Worker::end_session(Flow& f) {
  TcpSession& s = sessions_[conns_->slot_of(&f)];
  if (s.state == kDecoding) {
    const StreamInfo info = stream_info(f, f.last_ts_ns);
    settle_evidence(f, s, f.last_ts_ns);
    // Data held behind a hole still reaches the decoder, after a gap.
    for (int d = 0; d < 2 && s.state == kDecoding; ++d) {
      sink_.bind(&s, d, info);
      tcp_->close(s.dir[d], sink_);
    }
    for (int d = 0; d < 2 && s.state == kDecoding; ++d) give_up_held(s, d, info, true);
    if (s.state == kDecoding) {
      s.state = kDetached;
      decoders_[s.decoder]->close(s.data, info);
      for (int d = 0; d < 2; ++d) store_.release(s.buf[d].held);
    }
  }
  if (s.state == kProbing) {  // ended before its bytes told a protocol
    if (s.probes_left < PayloadDetector::kBudgetSegments || !s.buf[0].held.empty() || !s.buf[1].held.empty())
      counters_.inc(Counter::detect_undetected);
    for (int d = 0; d < 2; ++d) store_.release(s.buf[d].held);
  }
  if (s.state != kNoSession) {
    tcp_->release(s.dir[0]);
    tcp_->release(s.dir[1]);
  }
  s.state = kNoSession;
}

void Worker::report(Flow& f, bool final, uint64_t ts_ns) {
  if (!settings_.flows_enabled) return;
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
  out_.emit([&](JsonWriter& w) { write_flow_event(w, f, final, ts_ns, counts, *settings_.agent); });
}

void Worker::flush() { out_.flush(); }

}  // namespace tapbeat
