#include "decode/icmp/icmp.hpp"

#include <algorithm>
#include <cstring>

namespace tapbeat {
namespace {

// Packetbeat's model (and gopacket's): of ICMPv4 the echo, timestamp, information
// and address mask messages pair a request with its reply by identifier and
// sequence number; of ICMPv6 the echo. Every other message is published alone, as
// a request from its sender: error messages (destination unreachable, time
// exceeded, ...) with status Error, the rest (neighbour and router discovery, MLD,
// redirects, extended echo) with status OK. Pairing neighbour or router
// solicitations with advertisements by address pair fails on real links (the
// solicitation goes to a multicast group, the answer comes from another address),
// leaving every solicitation "unanswered".
bool is_reply(uint8_t version, uint8_t type) {
  if (version == 4) return type == 0 || type == 14 || type == 16 || type == 18;
  return type == 129;
}

bool waits_for_reply(uint8_t version, uint8_t type) {
  if (version == 4) return type == 8 || type == 13 || type == 15 || type == 17;
  return type == 128;
}

bool is_error_message(uint8_t version, uint8_t type) {
  if (version == 4) return type == 3 || type == 4 || type == 11 || type == 12;
  return type >= 1 && type <= 4;
}

void key_for(const PacketMeta& m, bool request, FlowKey& k) {
  std::memset(&k, 0, sizeof k);
  k.proto = m.l4_proto;
  k.ip_version = m.ip_version;
  // The requester is a, the responder b, whichever way this packet goes.
  k.addr_a = request ? m.src : m.dst;
  k.addr_b = request ? m.dst : m.src;
  k.port_a = m.icmp_id;
  k.port_b = static_cast<uint16_t>(m.l4_payload_len >= 4 ? (m.l4_payload[2] << 8 | m.l4_payload[3])
                                                         : 0);  // sequence
}

// The message body, which Packetbeat counts as its size: what follows the 8-byte
// header (type, code, checksum and the word after it, identifier and sequence number
// or unused), whatever the type and version.
uint32_t message_bytes(const PacketMeta& m) {
  const uint32_t n = m.l4_payload_len;  // after type, code and checksum
  return n >= 4 ? n - 4 : 0;
}

// This message as the event's request or response.
void set_message(const PacketMeta& m, bool request, IcmpEvent& out) {
  (request ? out.has_request : out.has_response) = true;
  (request ? out.req_type : out.resp_type) = m.icmp_type;
  (request ? out.req_code : out.resp_code) = m.icmp_code;
  (request ? out.req_bytes : out.resp_bytes) = message_bytes(m);
  (request ? out.req_ts_ns : out.resp_ts_ns) = m.ts_ns;
}

// An event of this message alone: a request goes from the client, a response to it.
void alone(const PacketMeta& m, bool request, IcmpEvent& out) {
  out = IcmpEvent{};
  out.version = m.ip_version;
  out.client = request ? m.src : m.dst;
  out.server = request ? m.dst : m.src;
  set_message(m, request, out);
}

}  // namespace

const char* icmp_message_name(uint8_t version, uint8_t type) {
  if (version == 4) {
    switch (type) {
      case 0:
        return "EchoReply";
      case 3:
        return "DestinationUnreachable";
      case 4:
        return "SourceQuench";
      case 5:
        return "Redirect";
      case 8:
        return "EchoRequest";
      case 9:
        return "RouterAdvertisement";
      case 10:
        return "RouterSolicitation";
      case 11:
        return "TimeExceeded";
      case 12:
        return "ParameterProblem";
      case 13:
        return "TimestampRequest";
      case 14:
        return "TimestampReply";
      case 15:
        return "InfoRequest";
      case 16:
        return "InfoReply";
      case 17:
        return "AddressMaskRequest";
      case 18:
        return "AddressMaskReply";
      default:
        return "Unknown";
    }
  }
  switch (type) {
    case 1:
      return "DestinationUnreachable";
    case 2:
      return "PacketTooBig";
    case 3:
      return "TimeExceeded";
    case 4:
      return "ParameterProblem";
    case 128:
      return "EchoRequest";
    case 129:
      return "EchoReply";
    case 130:
      return "MulticastListenerQuery";
    case 131:
      return "MulticastListenerReport";
    case 132:
      return "MulticastListenerDone";
    case 133:
      return "RouterSolicitation";
    case 134:
      return "RouterAdvertisement";
    case 135:
      return "NeighborSolicitation";
    case 136:
      return "NeighborAdvertisement";
    case 137:
      return "Redirect";
    case 138:
      return "RouterRenumbering";
    case 139:
      return "NodeInformationQuery";
    case 140:
      return "NodeInformationResponse";
    case 143:
      return "MulticastListenerReportV2";
    case 144:
      return "HomeAgentAddressDiscoveryRequest";
    case 145:
      return "HomeAgentAddressDiscoveryReply";
    default:
      return "Unknown";
  }
}

namespace {
// Packetbeat's notes, word for word (its icmp.go).
constexpr const char* kDuplicateRequest =
    "Another request with the same Id and Seq was received so this request was closed without receiving a "
    "response.";
constexpr const char* kOrphanedRequest = "Request was received without an associated response.";
constexpr const char* kOrphanedResponse = "Response was received without an associated request.";
}  // namespace

IcmpTracker::IcmpTracker(uint64_t timeout_ns, CounterSet<IcmpStat> counters)
    : timeout_ns_(timeout_ns), counters_(counters), pending_(kPending) {}

void IcmpTracker::from_pending(const Flow& f, IcmpEvent& out) const {
  out = IcmpEvent{};
  out.version = f.key.ip_version;
  out.client = f.key.addr_a;
  out.server = f.key.addr_b;
  out.has_request = true;
  out.req_type = f.icmp_type;
  out.req_code = f.icmp_code;
  out.req_bytes = static_cast<uint32_t>(f.dir[0].bytes);
  out.req_ts_ns = f.first_ts_ns;
}

void IcmpTracker::take_early(uint32_t i, IcmpEvent& out) {
  Early& e = early_[i];
  out.has_response = true;
  out.resp_type = e.type;
  out.resp_code = e.code;
  out.resp_bytes = e.bytes;
  out.resp_ts_ns = e.ts_ns;
  e.used = false;
  --n_early_;
}

void IcmpTracker::orphan(uint32_t i, IcmpEvent& out) {
  out = IcmpEvent{};
  out.version = early_[i].key.ip_version;
  out.client = early_[i].key.addr_a;
  out.server = early_[i].key.addr_b;
  out.error = kOrphanedResponse;
  take_early(i, out);
  counters_.inc(IcmpStat::orphan_responses);
}

bool IcmpTracker::on_packet(const PacketMeta& m, IcmpEvent& out) {
  const uint8_t v = m.ip_version;
  counters_.inc(IcmpStat::messages);
  FlowKey k;
  if (!is_reply(v, m.icmp_type) && !waits_for_reply(v, m.icmp_type)) {
    counters_.inc(IcmpStat::single_messages);
    alone(m, true, out);
    out.error_message_type = is_error_message(v, m.icmp_type);
    return true;
  }
  if (waits_for_reply(v, m.icmp_type)) {
    key_for(m, true, k);
    const uint64_t h = FlowTable::hash_key(k);
    for (uint32_t i = 0; n_early_ && i < kEarly; ++i) {
      // Its reply came first (held below): the two are the transaction.
      const Early& e = early_[i];
      if (!e.used || m.ts_ns > e.ts_ns + kEarlyNs || std::memcmp(&e.key, &k, sizeof k) != 0) continue;
      alone(m, true, out);
      take_early(i, out);
      counters_.inc(IcmpStat::transactions);
      counters_.inc(IcmpStat::replies_before_request);
      remember(h);
      return true;
    }
    // The request waits in pending_; what is published to make its place goes out.
    bool published = true;
    if (Flow* dup = pending_.find(k, h)) {
      // A request with the same identifier and sequence (a retransmission, a
      // repeated solicitation): the earlier one is published unanswered, as
      // Packetbeat does, and this one waits in its place (inserted anew, so that
      // the expiry order stays by time).
      counters_.inc(IcmpStat::duplicate_requests);
      from_pending(*dup, out);
      out.error = kDuplicateRequest;
      pending_.remove(dup);
    } else if (pending_.full()) {
      // The oldest request is published unanswered to make room.
      from_pending(*pending_.oldest(), out);
      out.error = kOrphanedRequest;
      pending_.remove(pending_.oldest());
      counters_.inc(IcmpStat::pending_full);
    } else {
      published = false;
    }
    Flow* f = pending_.insert(k, h);
    f->first_ts_ns = f->last_ts_ns = m.ts_ns;
    f->icmp_type = m.icmp_type;
    f->icmp_code = m.icmp_code;
    f->dir[0].bytes = message_bytes(m);
    return published;
  }
  key_for(m, false, k);
  const uint64_t h = FlowTable::hash_key(k);
  if (Flow* f = pending_.find(k, h)) {
    from_pending(*f, out);
    set_message(m, false, out);
    pending_.remove(f);
    counters_.inc(IcmpStat::transactions);
    remember(h);
    return true;
  }
  if (n_early_ < kEarly && std::find(recent_, recent_ + kRecent, h) == recent_ + kRecent) {
    // No request seen: held a while for one written after it (see kEarlyNs). The same
    // reply seen again (a duplicate, a retransmitted request answered twice) takes
    // the place of the one held, which goes out alone.
    uint32_t i = 0;
    bool published = false;
    for (uint32_t j = 0; n_early_ && j < kEarly; ++j) {
      if (early_[j].used && std::memcmp(&early_[j].key, &k, sizeof k) == 0) {
        orphan(j, out);
        published = true;
        break;
      }
    }
    while (early_[i].used) ++i;
    early_[i] = Early{k, m.ts_ns, message_bytes(m), m.icmp_type, m.icmp_code, true};
    ++n_early_;
    return published;
  }
  // A reply without its request: alone, from the requester's side.
  counters_.inc(IcmpStat::orphan_responses);
  alone(m, false, out);
  out.error = kOrphanedResponse;
  return true;
}

bool IcmpTracker::expire_one(uint64_t now_ns, IcmpEvent& out) {
  for (uint32_t i = 0; n_early_ && i < kEarly; ++i) {
    if (early_[i].used && early_[i].ts_ns + kEarlyNs < now_ns) {
      orphan(i, out);
      return true;
    }
  }
  Flow* f = pending_.oldest();
  if (!f || f->first_ts_ns + timeout_ns_ >= now_ns) return false;
  from_pending(*f, out);
  out.error = kOrphanedRequest;
  pending_.remove(f);
  counters_.inc(IcmpStat::unanswered);
  return true;
}

bool IcmpTracker::flush_one(IcmpEvent& out) {
  for (uint32_t i = 0; n_early_ && i < kEarly; ++i) {
    if (early_[i].used) {
      orphan(i, out);
      return true;
    }
  }
  Flow* f = pending_.oldest();
  if (!f) return false;
  from_pending(*f, out);
  out.error = kOrphanedRequest;
  pending_.remove(f);
  counters_.inc(IcmpStat::unanswered);
  return true;
}

}  // namespace tapbeat
