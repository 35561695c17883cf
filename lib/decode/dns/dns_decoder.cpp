#include "decode/dns/dns_decoder.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "util/bounded_text.hpp"

namespace tapbeat {

DnsDecoder::DnsDecoder(const DecoderSetup& s)
    : settings_(s.settings<DnsSettings>()),
      counters_(s.counter_set<DnsStat>()),
      out_(s.out),
      agent_(s.agent),
      internal_(s.internal_networks),
      tracker_(settings_.timeout_ns, counters_),
      // Not value-initialised: the record arrays (~0.5 MB each) are written as read.
      query_(std::make_unique_for_overwrite<DnsMessage>()),
      response_(std::make_unique_for_overwrite<DnsMessage>()),
      arena_(new char[2 * kArenaBytes]) {}

void DnsDecoder::datagram(const PacketMeta& m) {
  DnsExchange ex;
  if (tracker_.on_message(m, {m.l4_payload, m.l4_payload_len}, ex)) publish(ex);
}

void DnsDecoder::tick(uint64_t now_ns) {
  DnsExchange ex;
  while (tracker_.expire_one(now_ns, ex)) publish(ex);
}

void DnsDecoder::finish() {
  DnsExchange ex;
  while (tracker_.flush_one(ex)) publish(ex);
}

namespace {

// A DNS-over-TCP connection's state: per direction, whether a gap left its framing
// unknown.
struct DnsTcpState {
  uint8_t resync[2];
};
static_assert(sizeof(DnsTcpState) <= kDecoderStateBytes);

// After a gap: do the bytes at `p` (a length prefix and the message it frames, whole)
// look like a DNS message starting there? A header whose counts, opcode and reserved
// bit a name server would accept, and a question's first label where one is counted.
bool plausible_message(const uint8_t* p, uint32_t len) {
  if (len < 12) return false;
  const uint8_t* h = p + 2;
  const unsigned opcode = (h[2] >> 3) & 0xF;
  if (opcode != 0 && opcode != 4 && opcode != 5) return false;  // QUERY, NOTIFY, UPDATE
  if (h[3] & 0x40) return false;                                // the Z bit
  const unsigned qd = h[4] << 8 | h[5];
  if (qd > 1) return false;
  for (int i = 6; i < 12; i += 2)
    if (static_cast<uint32_t>(h[i] << 8 | h[i + 1]) > len / 11)
      return false;  // a record takes 11 bytes at least
  return qd == 0 || (h[12] <= 63 && 12u + 1 + h[12] + 4 <= len);
}

}  // namespace

// DNS over TCP (RFC 1035 §4.2.2, RFC 7766): each message behind a 2-byte length.
// Several messages may share a segment and one may span many (AXFR).
DecodeResult DnsDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> b) {
  DnsTcpState& st = *static_cast<DnsTcpState*>(state);
  uint32_t off = 0;
  const uint32_t n = static_cast<uint32_t>(b.size());
  while (n - off >= 2) {
    const uint32_t len = static_cast<uint32_t>(b[off] << 8 | b[off + 1]);
    if (n - off < 2 + len) return {off, 2 + len, Verdict::kNeedMore};
    if (st.resync[dir]) {
      // The first bytes after a gap: a message that starts here, or the framing is
      // lost (the gap ended inside a message).
      if (!plausible_message(b.data() + off, len)) return {off, 0, Verdict::kViolation};
      st.resync[dir] = 0;
      counters_.inc(DnsStat::tcp_resynced);
    }
    if (len > 0) {
      PacketMeta m;
      m.ip_version = c.ip_version;
      m.l4_proto = 6;
      m.ts_ns = c.ts_at(off);  // the message's first packet
      m.src = c.addr[dir];
      m.dst = c.addr[1 - dir];
      m.sport = c.port[dir];
      m.dport = c.port[1 - dir];
      DnsExchange ex;
      if (tracker_.on_message(m, b.subspan(off + 2, len), ex)) publish(ex);
    }
    off += 2 + len;
  }
  return {off, 2, off == n ? Verdict::kOk : Verdict::kNeedMore};
}

bool DnsDecoder::gap(void* state, const StreamInfo&, int dir, uint32_t) {
  // Messages lost to the capture (a segment carries one or a few whole): the next bytes
  // are taken as a length prefix if the message it frames looks like one, else the
  // connection is left (a gap that ended inside a message).
  counters_.inc(DnsStat::tcp_gap);
  static_cast<DnsTcpState*>(state)->resync[dir] = 1;
  return true;
}

namespace {

void dns_record(JsonWriter& w, const DnsRecord& r) {
  // Keys in name order, as Packetbeat's encoder writes a record's map.
  const char* keys[5 + DnsRecord::kMaxFields] = {"class", "data", "name", "ttl", "type"};
  int idx[5 + DnsRecord::kMaxFields];
  int n = 0;
  for (int i = 0; i < 5; ++i) idx[n++] = -1 - i;
  for (int i = 0; i < r.n_fields; ++i) idx[n++] = i;
  auto key = [&](int k) { return k < 0 ? keys[-1 - k] : r.fields[k].key; };
  for (int i = 5; i < n; ++i)  // the five fixed keys are in order already
    for (int j = i; j > 0 && std::strcmp(key(idx[j - 1]), key(idx[j])) > 0; --j)
      std::swap(idx[j - 1], idx[j]);
  w.begin_object();
  for (int i = 0; i < n; ++i) {
    const int k = idx[i];
    if (k >= 0) {
      const DnsField& f = r.fields[k];
      if (f.is_number)
        w.field_uint(f.key, f.number);
      else
        w.field(f.key, f.text);
      continue;
    }
    switch (-1 - k) {
      case 0: {
        char n[8];
        w.field("class", dns_class_text(r.klass, n));
        break;
      }
      case 1:
        w.field("data", r.data);
        break;
      case 2:
        w.field("name", r.name);
        break;
      case 3: {
        BoundedText<10> ttl;  // a string, as Packetbeat writes it (the index template maps it to long)
        ttl.append_uint(r.ttl);
        w.field("ttl", ttl.view());
        break;
      }
      default: {
        char n[8];
        w.field("type", dns_type_text(r.type, n));
      }
    }
  }
  w.end_object();
}

// Written only when there are records, as Packetbeat does.
void dns_records(JsonWriter& w, const char* key, const DnsRecord* rs, int n) {
  if (n == 0) return;
  w.begin_array(key);
  for (int i = 0; i < n; ++i) dns_record(w, rs[i]);
  w.end_array();
}

// A dig-like text of the message, for send_request / send_response.
void dns_text(JsonWriter& w, const char* key, const DnsMessage& m) {
  BoundedText<16384> text;
  auto put = [&](std::string_view s) { text.append(s); };
  auto num = [&](uint64_t v) { text.append_uint(v); };
  // miekg/dns's text for a type or class without a name: TYPE65280, CLASS7.
  auto dig_type = [&](uint16_t t) {
    if (const char* n = dns_type_name(t)) return put(n);
    put("TYPE"), num(t);
  };
  auto dig_class = [&](uint16_t k) {
    if (const char* n = dns_class_name(k)) return put(n);
    put("CLASS"), num(k);
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
    dig_class(m.qclass);
    put("\t");
    dig_type(m.qtype);
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
      dig_class(rs[i].klass);
      put("\t");
      dig_type(rs[i].type);
      put("\t");
      // The RDATA in its order: MX, SRV, DS, DNSKEY and RRSIG fields come first.
      if (!rs[i].data_last) put(rs[i].data);
      for (int f = 0; f < rs[i].n_fields; ++f) {
        if (f || !rs[i].data_last) put(" ");
        const DnsField& fd = rs[i].fields[f];
        if (fd.is_number)
          num(fd.number);
        else
          put(fd.text);
      }
      if (rs[i].data_last) {
        if (rs[i].n_fields) put(" ");
        put(rs[i].data);
      }
      put("\n");
    }
  };
  section("; ANSWER SECTION:\n", m.answers, m.n_answers);
  section("; AUTHORITY SECTION:\n", m.authorities, m.n_authorities);
  section("; ADDITIONAL SECTION:\n", m.additionals, m.n_additionals);
  w.field(key, text.view());
}

}  // namespace

namespace {
// A name no registered domain lies in (a public suffix itself, or the root): as
// Packetbeat writes it when the Public Suffix List gives no eTLD+1, the name is its
// registered domain if it holds one dot, and what follows the dot its top-level
// domain ('co.uk': co.uk and uk; '.': '.'); otherwise neither ('com', 'localhost').
void suffix_only(JsonWriter& w, std::string_view name) {
  const std::size_t dot = name.find('.');
  if (dot == std::string_view::npos || name.find('.', dot + 1) != std::string_view::npos) return;
  w.field("registered_domain", name);
  if (dot + 1 < name.size()) w.field("top_level_domain", name.substr(dot + 1));
}
}  // namespace

void DnsDecoder::publish(const DnsExchange& ex) {
  DnsMessage& q = *query_;
  DnsMessage& r = *response_;
  // A message with a corrupt part is reported as far as it parsed (and counted).
  // One message, parsed into out with its own half of the arena: whether its header was.
  const auto parse = [&](std::span<const uint8_t> msg, bool cut, DnsMessage& out, char* arena) {
    if (msg.empty()) return false;
    const DnsParse st = parse_dns(msg.data(), static_cast<uint32_t>(msg.size()), out, arena, kArenaBytes);
    if (st != DnsParse::kOk && st != DnsParse::kArenaFull)
      counters_.inc(cut ? DnsStat::cut_by_capture : DnsStat::malformed);
    if (out.not_rendered) counters_.inc(DnsStat::records_not_rendered, out.not_rendered);
    if (out.opt_malformed && !cut) counters_.inc(DnsStat::edns_malformed);
    return out.header_ok;
  };
  const bool have_q = parse(ex.request, ex.request_cut, q, arena_.get());
  const bool have_r = parse(ex.response, ex.response_cut, r, arena_.get() + kArenaBytes);
  const DnsMessage* head = have_q ? &q : have_r ? &r : nullptr;
  TransactionFields t;
  t.type = "dns";
  t.error = ex.error;
  t.ok = !ex.error && (!have_r || r.rcode == 0);
  // A message the snap length cut short: what it shows, with Packetbeat's loss note.
  if (!t.error && ex.response_cut) t.error = kLossResponse;
  if (!t.error && ex.request_cut) t.error = kLossRequest;
  // Packetbeat's notes on a UDP response's EDNS (RFC 6891 7: a responder without EDNS
  // answers without OPT; a message over 512 bytes needs it). Notes only: the status
  // stays the response code's.
  // (Not for a message cut short: its OPT record, last, may be what the snap length cut.)
  if (have_r && ex.proto == 17 && !ex.response_cut && !ex.request_cut) {
    // Two at most: a response with an error note (orphaned) has no query to compare.
    const char* notes[3] = {ex.error, nullptr, nullptr};
    int n = ex.error ? 1 : 0;
    if (!r.has_opt && ex.response.size() > 512)
      notes[n++] = "Response: Non-EDNS packet has size greater than 512";
    if (have_q && q.has_opt && !r.has_opt) notes[n++] = "Responder does not support EDNS";
    if (have_q && !q.has_opt && r.has_opt) notes[n++] = "Unexpected EDNS answer";
    t.error = notes[0];
    t.error_more = notes[1];
  }
  // Records past the limits (kMaxRecords a section, the arena's text): the counts give
  // them all, the arrays the ones rendered; said where a note's place is free.
  if (const DnsMessage* m = have_r ? &r : have_q ? &q : nullptr; m && m->not_rendered) {
    static_assert(DnsMessage::kMaxRecords == 512 && kArenaBytes == 128 * 1024, "the note names both");
    static constexpr const char* kNotRendered = "records past 512 a section or 128 KiB of text not rendered";
    t.add_note(kNotRendered);
  }
  t.start_ns = ex.request.empty() ? ex.response_ts_ns : ex.request_ts_ns;
  t.end_ns = ex.response.empty() ? 0 : ex.response_ts_ns;
  t.request_only = ex.response.empty();
  t.response_only = ex.request.empty();
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
  // related.ip also lists the addresses the answers resolve to, as Packetbeat does.
  std::string_view resolved[DnsMessage::kMaxRecords];
  std::size_t n_resolved = 0;
  if (have_r)
    for (int i = 0; i < r.n_answers && n_resolved < DnsMessage::kMaxRecords; ++i)
      if (r.answers[i].type == 1 || r.answers[i].type == 28) resolved[n_resolved++] = r.answers[i].data;
  t.related_ips = {resolved, n_resolved};
  const DnsSettings& opt = settings_;
  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    // The question's class and type as text, written in dns.question and in `query`.
    char class_num[8], type_num[8];
    const std::string_view qclass = head ? dns_class_text(head->qclass, class_num) : std::string_view{};
    const std::string_view qtype = head ? dns_type_text(head->qtype, type_num) : std::string_view{};
    w.begin_object("dns");
    // The answer's sections and flags; a query that got none (unanswered, or its id
    // reused) shows its own, as Packetbeat writes it, with dns.type query.
    if (have_r || have_q) {
      const DnsMessage& r = have_r ? *response_ : *query_;
      // The EDNS OPT pseudo-record is not an additional record (as Packetbeat counts).
      w.field_uint("additionals_count", r.arcount - (r.has_opt && r.arcount ? 1 : 0));
      if (opt.include_additionals) dns_records(w, "additionals", r.additionals, r.n_additionals);
      w.field_uint("answers_count", r.ancount);
      dns_records(w, "answers", r.answers, r.n_answers);
      w.field_uint("authorities_count", r.nscount);
      if (opt.include_authorities) dns_records(w, "authorities", r.authorities, r.n_authorities);
      {  // ~250 bytes of fixed layout
        JsonWriter::Text x(w, 256);
        static constexpr std::string_view kFlagKeys[] = {
            R"("flags":{"authentic_data":)", R"(,"authoritative":)",     R"(,"checking_disabled":)",
            R"(,"recursion_available":)",    R"(,"recursion_desired":)", R"(,"truncated_response":)"};
        const bool on[] = {r.ad, r.aa, r.cd, r.ra, r.rd, r.tc};
        for (std::size_t i = 0; i < 6; ++i) {
          x.raw(kFlagKeys[i]);
          x.raw(on[i] ? "true" : "false");
        }
        x.lit(R"(},"header_flags":[)");
        bool first = true;
        const auto header_flag = [&](bool on, const char(&name)[5]) {
          if (!on) return;
          x.comma(first);
          x.lit(name);
        };
        header_flag(r.aa, R"("AA")");
        header_flag(r.tc, R"("TC")");
        header_flag(r.rd, R"("RD")");
        header_flag(r.ra, R"("RA")");
        header_flag(r.ad, R"("AD")");
        header_flag(r.cd, R"("CD")");
        header_flag(r.has_opt && r.opt_do, R"("DO")");  // EDNS DNSSEC OK, one of ECS's header flags
        x.lit("]");
        x.done();
      }
      if (r.has_opt) {
        w.begin_object("opt");
        if (!r.opt_cookie.empty()) w.field("cookie", r.opt_cookie);
        w.field_bool("do", r.opt_do);
        // The upper bits' share of the response code (its low four bits zero), as
        // Packetbeat names it: 1 is 16, BADVERS.
        w.field("ext_rcode", dns_rcode_name(static_cast<uint16_t>(r.opt_ext_rcode << 4)));
        if (!r.opt_nsid.empty()) w.field("nsid", r.opt_nsid);
        if (!r.opt_subnet.empty()) w.field("subnet", r.opt_subnet);
        w.field_uint("udp_size", r.opt_udp_size);
        BoundedText<3> v;
        v.append_uint(r.opt_version);
        w.field("version", v.view());
        w.end_object();
      }
      bool any_ip = false;
      for (int i = 0; i < r.n_answers; ++i)
        any_ip = any_ip || r.answers[i].type == 1 || r.answers[i].type == 28;
      if (any_ip) {
        w.begin_array("resolved_ip");
        for (int i = 0; i < r.n_answers; ++i)
          if (r.answers[i].type == 1 || r.answers[i].type == 28) w.string(r.answers[i].data);
        w.end_array();
      }
      if (std::strcmp(dns_rcode_name(r.rcode), "UNKNOWN") == 0) {
        BoundedText<4> code;
        code.append_uint(r.rcode);
        w.field("response_code", code.view());
      } else {
        w.field("response_code", dns_rcode_name(r.rcode));
      }
    }
    if (head) {
      w.field_uint("id", head->id);
      w.field("op_code", dns_opcode_name(head->opcode));
      if (head->has_question) {
        w.begin_object("question");
        w.field("class", qclass);
        if (opt.public_suffixes && head->qname == ".") {
          suffix_only(w, head->qname);
        } else if (opt.public_suffixes && head->qname.size() < 1024) {
          char lower[1024];
          std::size_t n = head->qname.size();
          for (std::size_t i = 0; i < n; ++i) {  // ASCII letters only, as std::tolower in the C locale
            const char ch = head->qname[i];
            lower[i] = ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch;
          }
          if (n && lower[n - 1] == '.') --n;
          const PublicSuffixList::Split sp = opt.public_suffixes->split(std::string_view(lower, n));
          // The parts as the name was sent (the lookup is on the lower-case copy,
          // whose bytes sit at the same offsets).
          auto as_sent = [&](std::string_view part) {
            return head->qname.substr(static_cast<std::size_t>(part.data() - lower), part.size());
          };
          if (!sp.registered.empty()) {
            w.field("etld_plus_one", as_sent(sp.registered));
            w.field("registered_domain", as_sent(sp.registered));
            if (!sp.subdomain.empty()) w.field("subdomain", as_sent(sp.subdomain));
            if (!sp.suffix.empty()) w.field("top_level_domain", as_sent(sp.suffix));
          } else {
            suffix_only(w, head->qname);
          }
        }
        w.field("name", head->qname);
        w.field("type", qtype);
        w.end_object();
      }
    }
    w.field("type", have_r ? "answer" : "query");
    w.end_object();
    if (head) {
      w.field("method", dns_opcode_name(head->opcode));
      if (head->has_question) {
        BoundedText<1100> q;  // a name escaped (\ddd for a byte) may reach 1 KB
        q.append("class ");
        q.append(qclass);
        q.append(", type ");
        q.append(qtype);
        q.append(", ");
        q.append(head->qname);
        w.field("query", q.view());
        w.field("resource", head->qname);
      }
    }
    if (opt.send_request && have_q) dns_text(w, "request", q);
    if (opt.send_response && have_r) dns_text(w, "response", r);
    end_transaction(w);
  });
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<DnsDecoder>(s); }

// A query over TCP: length, id, flags with QR clear and opcode QUERY/IQUERY/STATUS,
// one question, no answers.
constexpr DetectProbe kProbes[] = {
    {R"(^[\x00-\xff]{4}[\x00-\x17][\x00-\x3f]\x00\x01\x00\x00)", true},
};

const OptionSpec kSettingOptions[] = {
    {"include_authorities", OptionKind::kBool},
    {"include_additionals", OptionKind::kBool},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  auto s = std::make_unique<DnsSettings>();
  s->include_authorities = p.flag("include_authorities", false);
  s->include_additionals = p.flag("include_additionals", false);
  // The compiled-in list, parsed once for the process and never changed.
  static const PublicSuffixList kList = PublicSuffixList::bundled();
  s->public_suffixes = &kList;
  return s;
}

const uint16_t kDefaultPorts[] = {53};

}  // namespace

const DecoderDescriptor& dns_protocol() {
  static const DecoderDescriptor d = {
      .name = "dns",
      .transports = kTransportTcp | kTransportUdp,
      .probes = kProbes,
      .state_size = 0,
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kDnsCounters,
      .violations = static_cast<int>(DnsStat::tcp_violations),
      // Packetbeat's types where dynamic mapping would choose others: the id a
      // keyword, answers' TTL (written as text, as Packetbeat writes it) a number.
      .index_template =
          {.properties = R"("dns": {"properties": {"id": {"type": "keyword"},
                                 "answers": {"properties": {"ttl": {"type": "long"}}}}})",
           .dynamic_templates =
               R"({"resolved_ips": {"path_match": "dns.resolved_ip", "mapping": {"type": "ip"}}})"},
      .exercise_options = "{include_authorities: true, include_additionals: true}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
