#include "engine/worker.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
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
  if (s.dns.enabled) {
    dns_ = std::make_unique<DnsTracker>(s.dns.timeout_ns, counters_);
    dns_query_ = std::make_unique<DnsMessage>();
    dns_response_ = std::make_unique<DnsMessage>();
    dns_arena_.reset(new char[2 * kDnsArenaBytes]);
    if (s.dns.tcp) {
      tcp_ = std::make_unique<TcpReassembler>(s.tcp, counters_);
      sessions_ = BigArray<TcpSession>(flows_.capacity());
      dns_tcp_pool_.reset(new uint8_t[uint64_t{kDnsTcpBlocks} * kDnsTcpBlockBytes]);
      dns_tcp_free_.reserve(kDnsTcpBlocks);
      for (int32_t i = kDnsTcpBlocks - 1; i >= 0; --i) dns_tcp_free_.push_back(i);
      dns_sink_ = std::make_unique<DnsStreamSink>(*this);
    }
  }
  track_flows_ = s.flows_enabled || tcp_ != nullptr;
}

bool Worker::parse_one(const RawPacket& p, Parsed& out) {
  PacketMeta& m = out.meta;
  m.clear();
  m.ts_ns = p.ts_ns;
  m.cap_len = p.cap_len;
  m.wire_len = p.wire_len;
  out.flow = nullptr;
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
  if (track_flows_) {
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
    // Stage 4b: TCP streams of flows a decoder follows.
    if (tcp_) {
      const std::vector<bool>& ports = *settings_.dns.ports;
      for (std::size_t i = 0; i < n; ++i) {
        const PacketMeta& m = parsed_[i].meta;
        if (parsed_[i].ok && m.l4_proto == 6 && (ports[m.dport] || ports[m.sport])) tcp_session(parsed_[i]);
      }
    }
  }
  // Stage 5: transactions.
  if (dns_) {
    DnsExchange ex;
    const std::vector<bool>& ports = *settings_.dns.ports;
    for (std::size_t i = 0; i < n; ++i) {
      const PacketMeta& m = parsed_[i].meta;
      if (!parsed_[i].ok || m.l4_proto != 17 || !(ports[m.dport] || ports[m.sport])) continue;
      if (dns_->on_message(m, {m.l4_payload, m.l4_payload_len}, ex)) publish(ex);
    }
  }
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
      retire(*flows_.oldest());
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
  if (dns_) {
    DnsExchange ex;
    while (dns_->expire_one(now_ns_, ex)) publish(ex);
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
    if (f->last_ts_ns + settings_.flow_timeout_ns >= now_ns) break;
    retire(*f);
    counters_.inc(Counter::flow_expired);
  }
  counters_.set(Counter::flow_active, flows_.size());
}

void Worker::periodic_report() {
  for (Flow* f = flows_.oldest(); f; f = flows_.next(f)) report(*f, false);
}

void Worker::finish() {
  // Flows first: closing their streams may complete transactions.
  if (track_flows_) {
    while (Flow* f = flows_.oldest()) retire(*f);
    counters_.set(Counter::flow_active, 0);
  }
  if (icmp_) {
    IcmpEvent ev;
    while (icmp_->flush_one(ev)) publish(ev);
  }
  if (dns_) {
    DnsExchange ex;
    while (dns_->flush_one(ex)) publish(ex);
  }
  flush();
}

void Worker::retire(Flow& f) {
  end_session(f);
  report(f, true);  // a no-op when flow events are off
  flows_.remove(&f);
}

void Worker::tcp_session(Parsed& p) {
  Flow* f = p.flow;
  if (!f) return;
  TcpSession& s = sessions_[flows_.slot_of(f)];
  if (s.kind == 0 || s.owner_ts_ns != f->first_ts_ns) {
    s = TcpSession{};
    s.owner_ts_ns = f->first_ts_ns;
    s.kind = 1;
  }
  const int d = p.from_a == f->source_is_a ? 0 : 1;
  dns_sink_->bind(&s.dns[d], &p.meta);
  tcp_->segment(s.dir[d], p.meta.tcp_seq, p.meta.tcp_flags, p.meta.l4_payload, p.meta.l4_payload_len, *dns_sink_);
}

void Worker::end_session(Flow& f) {
  if (!tcp_) return;
  TcpSession& s = sessions_[flows_.slot_of(&f)];
  if (s.kind == 0 || s.owner_ts_ns != f.first_ts_ns) return;
  // Data held behind a hole still reaches the decoder, after a gap.
  for (int d = 0; d < 2; ++d) {
    PacketMeta m;
    m.ip_version = f.key.ip_version;
    m.l4_proto = 6;
    m.ts_ns = f.last_ts_ns;
    const bool a_sends = (d == 0) == f.source_is_a;
    m.src = a_sends ? f.key.addr_a : f.key.addr_b;
    m.dst = a_sends ? f.key.addr_b : f.key.addr_a;
    m.sport = a_sends ? f.key.port_a : f.key.port_b;
    m.dport = a_sends ? f.key.port_b : f.key.port_a;
    dns_sink_->bind(&s.dns[d], &m);
    tcp_->close(s.dir[d], *dns_sink_);
    dns_frame_free(s.dns[d]);
  }
  s.kind = 0;
}

void Worker::dns_frame_free(DnsFrame& f) {
  if (f.block >= 0) dns_tcp_free_.push_back(f.block);
  f = DnsFrame{};
}

void Worker::DnsStreamSink::on_data(const uint8_t* data, uint32_t len) {
  DnsFrame& f = *frame_;
  while (len > 0) {
    if (f.discard) {  // rest of a message that found no buffer
      const uint32_t k = std::min(len, f.discard);
      f.discard -= k;
      data += k;
      len -= k;
      continue;
    }
    if (f.have_len < 2) {
      f.len_bytes[f.have_len++] = *data++;
      --len;
      if (f.have_len == 2) {
        f.need = static_cast<uint32_t>(f.len_bytes[0] << 8 | f.len_bytes[1]);
        f.have = 0;
        if (f.need == 0) f.have_len = 0;
      }
      continue;
    }
    if (f.block < 0) {
      if (w_.dns_tcp_free_.empty()) {
        w_.counters_.inc(Counter::dns_tcp_no_buffer);
        f.discard = f.need;
        f.have_len = 0;
        continue;
      }
      f.block = w_.dns_tcp_free_.back();
      w_.dns_tcp_free_.pop_back();
    }
    uint8_t* buf = w_.dns_tcp_pool_.get() + uint64_t(f.block) * kDnsTcpBlockBytes;
    const uint32_t k = std::min(len, f.need - f.have);
    std::memcpy(buf + f.have, data, k);
    f.have += k;
    data += k;
    len -= k;
    if (f.have == f.need) {
      DnsExchange ex;
      if (w_.dns_->on_message(*meta_, {buf, f.need}, ex)) w_.publish(ex);
      f.have_len = 0;
      f.have = f.need = 0;
    }
  }
}

void Worker::DnsStreamSink::on_gap(uint32_t) {
  // A message cut by a hole cannot be decoded; framing restarts after the gap only
  // if a message boundary follows it, which TCP does not say: count and resynchronise
  // on the next length prefix.
  if (frame_->have_len || frame_->discard) w_.counters_.inc(Counter::dns_tcp_gap);
  w_.dns_frame_free(*frame_);
}

void Worker::report(Flow& f, bool final) {
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

namespace {

void dns_record(JsonWriter& w, const DnsRecord& r) {
  w.begin_object();
  if (const char* c = dns_class_name(r.klass)) w.field("class", c); else w.field_uint("class", r.klass);
  w.field("data", r.data);
  w.field("name", r.name);
  w.field_uint("ttl", r.ttl);
  if (const char* t = dns_type_name(r.type)) w.field("type", t); else w.field_uint("type", r.type);
  w.end_object();
}

void dns_records(JsonWriter& w, const char* key, const DnsRecord* rs, int n) {
  w.begin_array(key);
  for (int i = 0; i < n; ++i) dns_record(w, rs[i]);
  w.end_array();
}

// A dig-like text of the message, for send_request / send_response.
void dns_text(JsonWriter& w, const char* key, const DnsMessage& m) {
  char buf[16384];
  std::size_t n = 0;
  auto put = [&](std::string_view s) {
    const std::size_t k = std::min(s.size(), sizeof buf - n);
    std::memcpy(buf + n, s.data(), k);
    n += k;
  };
  auto num = [&](uint64_t v) {
    char t[24];
    put(std::string_view(t, static_cast<std::size_t>(std::snprintf(t, sizeof t, "%llu", static_cast<unsigned long long>(v)))));
  };
  put("opcode: ");
  put(dns_opcode_name(m.opcode));
  put(", status: ");
  put(dns_rcode_name(m.rcode));
  put(", id: ");
  num(m.id);
  put("\n");
  if (m.has_question) {
    put("; QUESTION SECTION:\n;");
    put(m.qname);
    put("\t");
    put(dns_class_name(m.qclass) ? dns_class_name(m.qclass) : "?");
    put("\t");
    put(dns_type_name(m.qtype) ? dns_type_name(m.qtype) : "?");
    put("\n");
  }
  auto section = [&](const char* title, const DnsRecord* rs, int k) {
    if (!k) return;
    put(title);
    for (int i = 0; i < k; ++i) {
      put(rs[i].name);
      put("\t");
      num(rs[i].ttl);
      put("\t");
      put(dns_class_name(rs[i].klass) ? dns_class_name(rs[i].klass) : "?");
      put("\t");
      put(dns_type_name(rs[i].type) ? dns_type_name(rs[i].type) : "?");
      put("\t");
      put(rs[i].data);
      put("\n");
    }
  };
  section("; ANSWER SECTION:\n", m.answers, m.n_answers);
  section("; AUTHORITY SECTION:\n", m.authorities, m.n_authorities);
  section("; ADDITIONAL SECTION:\n", m.additionals, m.n_additionals);
  w.field(key, std::string_view(buf, n));
}

}  // namespace

void Worker::publish(const DnsExchange& ex) {
  DnsMessage& q = *dns_query_;
  DnsMessage& r = *dns_response_;
  // A message with a corrupt part is reported as far as it parsed (and counted).
  bool have_q = false, have_r = false;
  if (!ex.request.empty()) {
    const DnsParse st = parse_dns(ex.request.data(), static_cast<uint32_t>(ex.request.size()), q, dns_arena_.get(),
                                  kDnsArenaBytes);
    if (st != DnsParse::kOk) counters_.inc(Counter::dns_malformed);
    have_q = q.header_ok;
  }
  if (!ex.response.empty()) {
    const DnsParse st = parse_dns(ex.response.data(), static_cast<uint32_t>(ex.response.size()), r,
                                  dns_arena_.get() + kDnsArenaBytes, kDnsArenaBytes);
    if (st != DnsParse::kOk) counters_.inc(Counter::dns_malformed);
    have_r = r.header_ok;
  }
  const DnsMessage* head = have_q ? &q : have_r ? &r : nullptr;
  TransactionFields t;
  t.type = "dns";
  t.error = ex.error;
  t.ok = !ex.error && (!have_r || r.rcode == 0);
  t.start_ns = ex.request.empty() ? ex.response_ts_ns : ex.request_ts_ns;
  t.end_ns = ex.response.empty() ? 0 : ex.response_ts_ns;
  t.ip_version = ex.ip_version;
  t.proto = ex.proto;
  t.client = ex.client;
  t.server = ex.server;
  t.client_port = ex.client_port;
  t.server_port = ex.server_port;
  t.client_bytes = ex.request.size();
  t.server_bytes = ex.response.size();
  t.cid_sport = ex.client_port;
  t.cid_dport = ex.server_port;
  t.event_type_extra = "protocol";
  t.network_protocol = "dns";
  const auto& opt = settings_.dns;
  emit([&](JsonWriter& w) {
    begin_transaction(w, t, *settings_.agent, settings_.internal_networks);
    w.begin_object("dns");
    if (have_r) {
      w.field_uint("additionals_count", r.arcount);
      if (opt.include_additionals) dns_records(w, "additionals", r.additionals, r.n_additionals);
      w.field_uint("answers_count", r.ancount);
      dns_records(w, "answers", r.answers, r.n_answers);
      w.field_uint("authorities_count", r.nscount);
      if (opt.include_authorities) dns_records(w, "authorities", r.authorities, r.n_authorities);
      w.begin_object("flags");
      w.field_bool("authentic_data", r.ad);
      w.field_bool("authoritative", r.aa);
      w.field_bool("checking_disabled", r.cd);
      w.field_bool("recursion_available", r.ra);
      w.field_bool("recursion_desired", r.rd);
      w.field_bool("truncated_response", r.tc);
      w.end_object();
      w.begin_array("header_flags");
      if (r.aa) w.string("AA");
      if (r.tc) w.string("TC");
      if (r.rd) w.string("RD");
      if (r.ra) w.string("RA");
      if (r.ad) w.string("AD");
      if (r.cd) w.string("CD");
      w.end_array();
      if (r.has_opt) {
        w.begin_object("opt");
        w.field_bool("do", r.opt_do);
        w.field("ext_rcode", dns_rcode_name(r.opt_ext_rcode));
        w.field_uint("udp_size", r.opt_udp_size);
        char v[8];
        w.field("version", std::string_view(v, static_cast<std::size_t>(std::snprintf(v, sizeof v, "%u", r.opt_version))));
        w.end_object();
      }
      bool any_ip = false;
      for (int i = 0; i < r.n_answers; ++i) any_ip = any_ip || r.answers[i].type == 1 || r.answers[i].type == 28;
      if (any_ip) {
        w.begin_array("resolved_ip");
        for (int i = 0; i < r.n_answers; ++i)
          if (r.answers[i].type == 1 || r.answers[i].type == 28) w.string(r.answers[i].data);
        w.end_array();
      }
      if (std::strcmp(dns_rcode_name(r.rcode), "UNKNOWN") == 0) {
        char code[8];
        w.field("response_code", std::string_view(code, static_cast<std::size_t>(std::snprintf(code, sizeof code, "%u", r.rcode))));
      } else {
        w.field("response_code", dns_rcode_name(r.rcode));
      }
    }
    if (head) {
      w.field_uint("id", head->id);
      w.field("op_code", dns_opcode_name(head->opcode));
      if (head->has_question) {
        w.begin_object("question");
        if (const char* c = dns_class_name(head->qclass)) w.field("class", c);
        if (opt.public_suffixes && head->qname.size() < 1024 && head->qname != ".") {
          char lower[1024];
          std::size_t n = head->qname.size();
          for (std::size_t i = 0; i < n; ++i)
            lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(head->qname[i])));
          if (n && lower[n - 1] == '.') --n;
          const PublicSuffixList::Split sp = opt.public_suffixes->split(std::string_view(lower, n));
          if (!sp.registered.empty()) {
            w.field("etld_plus_one", sp.registered);
            w.field("registered_domain", sp.registered);
          }
          if (!sp.subdomain.empty()) w.field("subdomain", sp.subdomain);
          if (!sp.suffix.empty()) w.field("top_level_domain", sp.suffix);
        }
        w.field("name", head->qname);
        if (const char* ty = dns_type_name(head->qtype)) w.field("type", ty); else w.field_uint("type", head->qtype);
        w.end_object();
      }
    }
    w.field("type", "answer");
    w.end_object();
    if (head) {
      w.field("method", dns_opcode_name(head->opcode));
      if (head->has_question) {
        char qb[600];
        const int k = std::snprintf(qb, sizeof qb, "class %s, type %s, %.*s",
                                    dns_class_name(head->qclass) ? dns_class_name(head->qclass) : "?",
                                    dns_type_name(head->qtype) ? dns_type_name(head->qtype) : "?",
                                    static_cast<int>(head->qname.size()), head->qname.data());
        w.field("query", std::string_view(qb, static_cast<std::size_t>(std::min<int>(k, sizeof qb - 1))));
        w.field("resource", head->qname);
      }
    }
    if (opt.send_request && have_q) dns_text(w, "request", q);
    if (opt.send_response && have_r) dns_text(w, "response", r);
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
