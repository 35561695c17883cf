#include "flow/tcp_reassembly.hpp"

#include <algorithm>
#include <cstring>

#include "net/packet.hpp"

namespace tapbeat {
TcpReassembler::TcpReassembler(const TcpLimits& limits, Counters& counters)
    : limits_(limits),
      counters_(counters),
      nodes_(new Node[std::max<uint64_t>(limits.total_bytes / kNodeBytes, 16)]),
      capacity_(static_cast<uint32_t>(std::max<uint64_t>(limits.total_bytes / kNodeBytes, 16))) {}

int32_t TcpReassembler::alloc() {
  if (free_ >= 0) {
    const int32_t i = free_;
    free_ = nodes_[i].next;
    return i;
  }
  if (never_used_ < capacity_) return static_cast<int32_t>(never_used_++);
  return -1;
}

void TcpReassembler::free_node(int32_t i) {
  nodes_[i].next = free_;
  free_ = i;
}

// Copies [seq, seq+len) into nodes (or points them at it, when stable), leaving bytes
// already buffered as they are.
bool TcpReassembler::store(TcpDirection& d, uint32_t seq, const uint8_t* p, uint32_t len, bool stable,
                           uint64_t ts_ns, bool waits, uint32_t needs) {
  while (len > 0) {
    // Find where seq goes: prev is the last node starting before it.
    int32_t prev = -1, cur = d.head;
    while (cur >= 0 && seq_diff(nodes_[cur].seq, seq) <= 0) {
      prev = cur;
      cur = nodes_[cur].next;
    }
    if (prev >= 0) {
      const uint32_t prev_end = nodes_[prev].seq + nodes_[prev].len;
      if (seq_diff(prev_end, seq) > 0) {  // overlaps the previous node: skip what it has
        const uint32_t skip = std::min<uint32_t>(len, prev_end - seq);
        counters_.inc(Counter::tcp_reasm_overlap);
        seq += skip;
        p += skip;
        len -= skip;
        continue;
      }
    }
    uint32_t take = std::min<uint32_t>(len, kNodeBytes);
    if (cur >= 0 && seq_diff(nodes_[cur].seq, seq + take) < 0)
      take = nodes_[cur].seq - seq;  // up to the next node
    if (d.buffered + take > limits_.stream_bytes) {
      counters_.inc(Counter::tcp_reasm_stream_full);
      return false;
    }
    const int32_t n = alloc();
    if (n < 0) {
      counters_.inc(Counter::tcp_reasm_pool_full);
      return false;
    }
    nodes_[n].seq = seq;
    nodes_[n].len = static_cast<uint16_t>(take);
    nodes_[n].ts_ns = ts_ns;
    nodes_[n].waits = waits;
    nodes_[n].needs = needs;
    if (stable) {
      nodes_[n].held = p;
    } else {
      std::memcpy(nodes_[n].data, p, take);
      nodes_[n].held = nodes_[n].data;
    }
    nodes_[n].next = cur;
    if (prev >= 0)
      nodes_[prev].next = n;
    else
      d.head = n;
    d.buffered += take;
    total_ += take;
    seq += take;
    p += take;
    len -= take;
  }
  return true;
}

// Delivers buffered nodes that continue the stream.
void TcpReassembler::drain(TcpDirection& d, StreamSink& sink) {
  if (d.head < 0) return;
  const uint64_t now = sink.now();
  while (d.head >= 0) {
    Node& n = nodes_[d.head];
    const int32_t ahead = seq_diff(n.seq, d.next_seq);
    if (ahead > 0 || n.waits) break;  // still a hole, or bytes that wait for the peer's
    const uint32_t end = n.seq + n.len;
    if (seq_diff(end, d.next_seq) > 0) {
      const uint32_t skip = d.next_seq - n.seq;
      sink.at(n.ts_ns);
      d.fresh = false;
      sink.on_data(n.held + skip, n.len - skip);
      d.next_seq = end;
    }
    const int32_t next = n.next;
    d.buffered -= n.len;
    total_ -= n.len;
    free_node(d.head);
    d.head = next;
  }
  sink.at(now);
}

// Gives up the hole before the first buffered node. acked_ns: when the peer had its
// bytes, where no earlier acknowledgement tells.
void TcpReassembler::skip_hole(TcpDirection& d, StreamSink& sink, uint64_t acked_ns, bool exact) {
  if (d.head < 0) return;
  const uint32_t missing = nodes_[d.head].seq - d.next_seq;
  counters_.inc(Counter::tcp_reasm_gaps);
  counters_.inc(Counter::tcp_reasm_gap_bytes, missing);
  const uint64_t known = exact ? 0 : acked_by(d, nodes_[d.head].seq);
  d.fresh = false;
  d.syn_only = false;  // a gap told: the side's stream has a place a new SYN cannot move
  sink.on_gap(missing, known ? known : acked_ns);
  d.next_seq = nodes_[d.head].seq;
  drain(d, sink);
}

void TcpReassembler::gap_to(TcpDirection& d, StreamSink& sink, uint32_t upto, uint64_t exact_acked_ns) {
  const uint32_t missing = upto - d.next_seq;
  counters_.inc(Counter::tcp_reasm_gaps);
  counters_.inc(Counter::tcp_reasm_gap_bytes, missing);
  d.fresh = false;
  d.syn_only = false;  // a gap told: the side's stream has a place a new SYN cannot move
  sink.on_gap(missing, exact_acked_ns ? exact_acked_ns : acked_by(d, upto));
  d.next_seq = upto;
}

void TcpReassembler::segment(TcpDirection& d, uint32_t seq, uint8_t flags, const uint8_t* payload,
                             uint32_t len, StreamSink& sink, bool stable, uint32_t lost_tail) {
  if (flags & tcp_flag::kSyn) {
    if (!d.synced) {
      d.next_seq = seq + 1;
      d.synced = true;
      d.syn_only = true;
      d.peer_ack_ns = 0;  // an acknowledgement noted before the SYN tells nothing
    } else if (d.syn_only && seq + 1 != d.next_seq && d.head < 0) {
      // The SYN (or SYN-ACK) sent again with another initial number before any byte of
      // this side: the handshake began anew, and what follows is numbered from this one
      // (a server answering each of a client's SYNs with a fresh SYN-ACK; Suricata's
      // "SYN/ACK resend with different seq"). Kept at the first, the side's bytes read
      // as retransmissions of bytes long past and were dropped.
      counters_.inc(Counter::tcp_reasm_syn_renumbered);
      d.next_seq = seq + 1;
    }
    seq += 1;  // the SYN takes one sequence number
  }
  if (keep_alive(d.sent_known, d.sent_end, seq, len, flags)) {
    counters_.inc(Counter::tcp_reasm_retransmissions);
    return;
  }
  if (beyond_window_unbelieved(d, seq, len)) {
    // Beginning beyond the window, nothing to say the bytes before it were sent:
    // passed over (its flags too), counted; the next such segment that goes on from
    // it, or the other side's acknowledgement of it, is believed.
    counters_.inc(Counter::tcp_reasm_beyond_window);
    counters_.inc(Counter::tcp_reasm_dropped_bytes, len);
    d.far_end = seq + len, d.far_seen = true;
    return;
  }
  if (!(flags & tcp_flag::kRst) && (!d.sent_known || seq_diff(seq + len, d.sent_end) > 0))
    d.sent_end = seq + len, d.sent_known = true;
  if (len > 0 || (flags & (tcp_flag::kFin | tcp_flag::kRst))) d.syn_only = false;
  if (!d.synced) {
    if (len == 0) {
      // A bare acknowledgement carries where this side's bytes go on: what the other
      // side's bytes may wait for (wait_for_peer) until this side's first bytes come.
      if (!(flags & (tcp_flag::kRst | tcp_flag::kFin))) d.next_seq = seq, d.hinted = true;
      return;
    }
    pick_up(d, seq);
  }
  const bool waits = d.seg_waits;
  d.seg_waits = false;
  bool keep = false;
  if (d.wait_ns || waits) {
    // No room to wait, or a loss to tell in its place: as before the wait.
    if (lost_tail || (len > 0 && past_wait_room(d, seq, len))) {
      if (d.wait_ns) give_up_all(d, sink, false);
    } else {
      keep = len > 0;
    }
  }
  if (len > 0 && moves_start_back(d, seq)) {
    // A stream picked up mid-way whose first bytes wait, none delivered: this segment,
    // numbered before them, is no retransmission but bytes sent before them that the
    // capture point wrote later. The stream begins here.
    counters_.inc(Counter::tcp_reasm_out_of_order);
    d.next_seq = seq;
  }
  if (len > 0) {
    const int32_t ahead = seq_diff(seq, d.next_seq);
    // Bytes of the stream where it stands: a segment passed over beyond the window was
    // none of it (injected), and one that goes on from it is no more believed for that.
    if (ahead <= 0 || static_cast<uint32_t>(ahead) <= limits_.window_bytes) d.far_seen = false;
    if (d.far_acked && seq_diff(d.next_seq, d.far_ack) >= 0) d.far_acked = false;  // reached
    if (ahead < 0) {
      const uint32_t old = 0u - static_cast<uint32_t>(ahead);  // 2^31 too, where -ahead would overflow
      if (old >= len) {
        counters_.inc(Counter::tcp_reasm_retransmissions);
        len = 0;
      } else {
        counters_.inc(Counter::tcp_reasm_overlap);
        payload += old;
        len -= old;
        seq = d.next_seq;
      }
    }
    bool kept = false;
    if (len > 0 && keep) {
      // Waiting for the other side's bytes (wait_for_peer), or behind bytes that do:
      // kept in order.
      if (seq != d.next_seq + d.buffered) counters_.inc(Counter::tcp_reasm_out_of_order);
      kept = store(d, seq, payload, len, stable, sink.now(), waits, d.seg_ack);
      if (kept && waits && !d.wait_ns) {
        counters_.inc(Counter::tcp_reasm_waited_for_peer);
        d.wait_ns = sink.now() ? sink.now() : 1;
      }
      if (kept) {
        drain(d, sink);  // bytes that filled a hole before those that wait go out
      } else {           // the pool ran out: what waits goes out, this segment's rest as any other
        if (d.wait_ns) give_up_all(d, sink, false);
        const int32_t behind = seq_diff(d.next_seq, seq);
        if (behind > 0) {
          const uint32_t done = std::min<uint32_t>(static_cast<uint32_t>(behind), len);
          payload += done;
          len -= done;
          seq += done;
        }
      }
    }
    if (!kept && len > 0 && seq == d.next_seq) {
      d.fresh = false;
      sink.on_data(payload, len);
      d.next_seq += len;
      drain(d, sink);
    } else if (!kept && len > 0) {
      counters_.inc(Counter::tcp_reasm_out_of_order);
      if (static_cast<uint32_t>(seq_diff(seq, d.next_seq)) + len > limits_.window_bytes) {
        // Too far ahead to wait for: the hole becomes a gap.
        counters_.inc(Counter::tcp_reasm_window_exceeded);
        d.far_seen = d.far_acked = false;
        if (d.head >= 0) skip_hole(d, sink);
        if (seq_diff(seq, d.next_seq) > 0) gap_to(d, sink, seq);
        const int32_t overlap = seq_diff(d.next_seq, seq);
        if (overlap < static_cast<int32_t>(len)) {
          const uint32_t skip = overlap > 0 ? static_cast<uint32_t>(overlap) : 0;
          d.fresh = false;
          sink.on_data(payload + skip, len - skip);
          d.next_seq = seq + len;
          drain(d, sink);
        }
      } else if (!store(d, seq, payload, len, stable, sink.now())) {
        // Out of room: stop waiting for the hole, then keep what this segment brings.
        skip_hole(d, sink);
        if (seq_diff(seq, d.next_seq) >= 0 && !store(d, seq, payload, len, stable, sink.now())) {
          counters_.inc(Counter::tcp_reasm_dropped_bytes, len);
        }
        drain(d, sink);
      }
    }
  }
  if (lost_tail && d.synced && seq_diff(seq + len, d.next_seq) == 0 && lost_tail <= limits_.window_bytes) {
    // The snap length cut the segment's end off: those bytes passed the capture point
    // and are lost, known at once (nothing after them need say so). The decoder hears
    // of the gap before the next segment's bytes; bytes held from beyond it follow.
    gap_to(d, sink, seq + len + lost_tail);
    drain(d, sink);
  }
  end_if_due(d, sink, false);  // the bytes a FIN came before have come
  if (flags & (tcp_flag::kFin | tcp_flag::kRst)) {
    if (d.wait_ns) {  // after the bytes that wait
      d.wait_end_flags = flags & (tcp_flag::kFin | tcp_flag::kRst);
      d.wait_end_seq = seq + len + lost_tail;
    } else {
      finish(d, flags, seq + len + lost_tail, sink);
    }
  }
}

void TcpReassembler::pick_up(TcpDirection& d, uint32_t seq) {
  // Stream picked up mid-way. Where the other side had already acknowledged a point
  // before this segment (its first packet seen carried the ACK), the bytes between
  // were sent and not captured: a connection's first bytes seen by the capture are
  // then a response's middle, its head lost. The stream starts at that point, this
  // segment held behind the hole as any other out of order, and the decoder hears
  // of the loss when an ACK, the window or the end gives the hole up. Further back
  // than the window, the acknowledgement is not believed.
  const int32_t unseen = d.peer_ack_ns ? seq_diff(seq, d.peer_ack) : 0;
  d.next_seq = unseen > 0 && static_cast<uint32_t>(unseen) < limits_.window_bytes ? d.peer_ack : seq;
  d.synced = true;
  d.hinted = false;
  d.fresh = true;
  counters_.inc(Counter::tcp_reasm_midstream);
}

void TcpReassembler::finish(TcpDirection& d, uint8_t flags, uint32_t end_seq, StreamSink& sink, bool now) {
  if (!now && (flags & tcp_flag::kFin) && !(flags & tcp_flag::kRst) && !d.fin && d.synced) {
    // Numbered past bytes not seen: a capture point that writes a connection's packets
    // from several queues can write the FIN before them. It waits for them; if they were
    // lost, the other side's acknowledgement of the FIN or the connection's end says so.
    const int32_t tail = seq_diff(end_seq, d.next_seq);
    if (tail > 0 && static_cast<uint32_t>(tail) <= limits_.window_bytes) {
      d.wait_end_flags = tcp_flag::kFin;
      d.wait_end_seq = end_seq;
      return;
    }
  }
  close(d, sink, false);
  // A FIN numbered past the bytes seen: the stream's tail was lost to the capture
  // (nothing after it would tell). Its decoder hears of the gap before the end, as of
  // any other. A number further ahead than the window is not believed.
  const int32_t tail = seq_diff(end_seq, d.next_seq);
  if ((flags & tcp_flag::kFin) && !d.fin && tail > 0 && static_cast<uint32_t>(tail) <= limits_.window_bytes)
    gap_to(d, sink, end_seq);
  if (!d.fin) {
    d.fin = true;
    sink.on_end();
  }
}

void TcpReassembler::wait_for_peer(TcpDirection& d, const TcpDirection& peer, uint32_t seq, uint32_t len,
                                   uint32_t ack) {
  d.seg_waits = false;
  if (len == 0 || d.fin || peer.fin || ack == 0) return;
  // A side whose wait ran out waits no more, but for peer bytes the capture has shown,
  // held behind a hole: this segment answers them, so it goes after them once the hole
  // is given up (or filled).
  if (d.no_wait && !(peer.synced && acks_held(peer, ack))) return;
  if (!peer.synced && !peer.hinted) {
    // A connection picked up mid-way, nothing of the peer's seen yet: this side's first
    // bytes may answer peer bytes the capture point writes a place later (or that came
    // before the capture began). They, and this side's segments after them, each wait
    // for what it acknowledged until the peer's next packets tell which (before_segment);
    // once this side's bytes went out, not again, but after a wait that ran out (those
    // answered bytes sent before the capture began; the next may answer bytes to come).
    if (d.synced && !d.wait_ns && !d.blind_expired) return;
  } else {
    // (Of a peer none of whose bytes were seen yet: from where its bare acknowledgements
    // said they go on.)
    const int32_t unseen = seq_diff(ack, peer.next_seq);
    if (unseen <= 0 || static_cast<uint32_t>(unseen) > limits_.window_bytes) return;
  }
  if (d.synced && seq_diff(seq + len, d.next_seq) <= 0 && !moves_start_back(d, seq))
    return;  // nothing new: a retransmission
  // The peer's held segments that wait for this side's bytes: none may wait for this
  // segment's while it waits for theirs (a sender does not answer bytes not sent yet,
  // but a retransmission with a newer acknowledgement could read so).
  for (int32_t i = peer.head; i >= 0; i = nodes_[i].next) {
    const Node& n = nodes_[i];
    if (n.waits && seq_diff(ack, n.seq) > 0 && seq_diff(n.needs, seq) > 0) return;
  }
  d.seg_waits = true;
  d.seg_ack = ack;
}

bool TcpReassembler::before_segment(TcpDirection (&dir)[2], int d, const TcpPacket& p, ConnectionSinks& sinks,
                                    uint64_t max_wait_ns, uint64_t reorder_ns) {
  TcpDirection& me = dir[d];
  TcpDirection& other = dir[1 - d];
  // A segment segment() passes over (beyond the window, not believed) tells nothing:
  // neither its numbers nor its acknowledgement are taken as evidence.
  if (beyond_window_unbelieved(me, p.seq, p.len)) return true;
  const bool acks = p.flags & tcp_flag::kAck;
  // Evidence of loss that came earlier: acted on once reorder_ns passed without the bytes,
  // or at once for this side when this segment lies further ahead than the window (its
  // hole is a gap at once: no capture point reorders that far).
  const bool far = p.len > 0 && me.synced && seq_diff(p.seq, me.next_seq) > 0 &&
                   static_cast<uint32_t>(seq_diff(p.seq, me.next_seq)) + p.len > limits_.window_bytes;
  const uint64_t my_time = far ? ~uint64_t{0} : p.ts_ns;
  for (int k = 0; k < 2; ++k)
    if (dir[k].suspect && !suspect_due(dir, k, k == d ? my_time : p.ts_ns, reorder_ns, sinks)) return false;
  if (me.wait_ns && other.suspect && p.len > 0) {
    // This side's bytes wait for the other side's, behind a hole whose loss is not
    // acted on yet, and this segment takes them past what a wait may hold (a long
    // answer sent within reorder_ns of the acknowledgement that showed the loss): the
    // loss is acted on now, so the other side's bytes go out behind their gap and
    // what waited for them after them. Else the wait given up would let this side's
    // answers out before the requests they answer.
    if (past_wait_room(me, p.seq, p.len) && !suspect_due(dir, 1 - d, ~uint64_t{0}, reorder_ns, sinks))
      return false;
  }
  if (other.wait_ns && !me.synced && !(p.flags & tcp_flag::kSyn)) {
    // The other side's bytes wait for this side's, none seen yet (a connection picked up
    // mid-way). This side's first bytes: its stream begins (pick_up), and the other
    // side's bytes that answer what came before that go out first, no loss told (sent
    // before the capture began); the rest wait as on any connection. A bare
    // acknowledgement says this side's bytes before its number were sent: what answers
    // no more than those goes once it waited reorder_ns for them (they may come late).
    if (p.len > 0) {
      pick_up(me, p.seq);
      release_waiting(other, me, sinks.dir(1 - d));
    } else if (!(p.flags & tcp_flag::kRst)) {
      unwait(other, p.seq, false, sinks.dir(1 - d), 0, p.ts_ns > reorder_ns ? p.ts_ns - reorder_ns : 0);
    }
    if (sinks.gone()) return false;
  }
  uint32_t upto = 0;
  if (other.wait_ns && me.synced && peer_sent(other, p.seq, p.len > 0, acks ? p.ack : 0, upto) &&
      seq_diff(upto, seen_to(me)) > 0) {
    // The other side's bytes wait for this side's. This segment begins past what some of
    // them wait for, or acknowledges them (this side had them, so it had sent what they
    // wait for): what the capture did not show of this side's bytes before then was
    // lost to it, or comes late. Once reorder_ns passed without it, the other side's bytes
    // that wait for no more go out, then this side's decoder hears of the gap (as when
    // nothing waited: a decoder that has seen none of the connection's bytes learns its
    // dialect from the other side's), and the bytes after it come after.
    suspect_sent(me, upto, acks ? p.ack : 0, p.ts_ns);
    if (!suspect_due(dir, d, my_time, reorder_ns, sinks)) return false;
  }
  if (acks && acks_hole(other, p.ack)) {
    // The other direction waits behind a hole: an acknowledgement that reaches the
    // bytes held says the hole's were lost to the capture (or come late), and that
    // direction's decoder hears of it before the bytes held.
    if (!(other.suspect & kSuspectAcked) || seq_diff(p.ack, other.suspect_hole_ack) > 0)
      other.suspect_hole_ack = p.ack;
    if (!(other.suspect & kSuspectAcked)) {
      const uint64_t known = acked_by(other, nodes_[other.head].seq);
      other.suspect_hole_acked_ns = known ? known : p.ts_ns;
    }
    if (!other.suspect) other.suspect_ns = p.ts_ns;
    other.suspect |= kSuspectAcked;
    if (!suspect_due(dir, 1 - d, p.ts_ns, reorder_ns, sinks)) return false;
  }
  if (acks && other.wait_end_flags && !other.wait_ns) {
    // The FIN that waits for bytes before it: taken once what the holes' acknowledgement
    // gave up reaches it. This side acknowledged up to it: the bytes before it were sent,
    // evidence of their loss as any other (they may come a place or two later).
    end_if_due(other, sinks.dir(1 - d), false);
    if (sinks.gone()) return false;
    if (other.wait_end_flags && seq_diff(p.ack, other.wait_end_seq) >= 0 &&
        seq_diff(other.wait_end_seq, seen_to(other)) > 0) {
      suspect_sent(other, other.wait_end_seq, 0, p.ts_ns);
      if (!suspect_due(dir, 1 - d, p.ts_ns, reorder_ns, sinks)) return false;
    }
  }
  for (int k = 0; k < 2; ++k) {
    // Bytes waiting for the other side's since longer than a capture point reorders the
    // directions: those were lost to the capture.
    if (!expire_wait(dir, k, p.ts_ns, max_wait_ns, sinks)) return false;
  }
  if (acks) {
    note_ack(other, p.ack, p.ts_ns);
    if (other.far_seen && other.synced && !other.fin && !other.wait_ns &&
        seq_diff(p.ack, other.far_end) >= 0) {
      // The other side's segment passed over beyond the window is acknowledged: its
      // stream did go on there. What came before that segment's end (its own bytes too,
      // passed over) was lost to the capture: the decoder hears of it now, not only
      // when a later segment of that side is believed (or never, at the connection's end).
      StreamSink& sink = sinks.dir(1 - d);
      while (other.head >= 0) skip_hole(other, sink);
      if (seq_diff(other.far_end, other.next_seq) > 0) gap_to(other, sink, other.far_end, p.ts_ns);
      other.far_seen = other.far_acked = false;
      counters_.inc(Counter::tcp_reasm_window_exceeded);
      if (sinks.gone()) return false;
    }
    wait_for_peer(me, other, p.seq + ((p.flags & tcp_flag::kSyn) ? 1 : 0), p.len, p.ack);
  }
  return true;
}

void TcpReassembler::suspect_sent(TcpDirection& x, uint32_t upto, uint32_t ack, uint64_t ts_ns) {
  if (!(x.suspect & kSuspectSent) || seq_diff(upto, x.suspect_upto) > 0) x.suspect_upto = upto;
  x.suspect_ack = ack;
  if (!(x.suspect & kSuspectSent)) {
    const uint64_t known = acked_by(x, upto);
    x.suspect_acked_ns = known ? known : ts_ns;
  }
  if (!x.suspect) x.suspect_ns = ts_ns;
  x.suspect |= kSuspectSent;
}

bool TcpReassembler::suspect_due(TcpDirection (&dir)[2], int k, uint64_t ts_ns, uint64_t reorder_ns,
                                 ConnectionSinks& sinks) {
  TcpDirection& x = dir[k];
  const uint8_t what = x.suspect;
  // The bytes came meanwhile (those the other side waited for, the hole's): no loss.
  const bool sent_came = !(what & kSuspectSent) || seq_diff(seen_to(x), x.suspect_upto) >= 0;
  const bool hole_gone =
      !(what & kSuspectAcked) || x.head < 0 || seq_diff(x.next_seq, x.suspect_hole_ack) >= 0;
  if (sent_came && hole_gone) {
    x.suspect = 0;
    return true;
  }
  if (ts_ns < x.suspect_ns + reorder_ns) return true;
  x.suspect = 0;
  if (!sent_came) {
    // Lost: the bytes not seen, up to the first held after them (those held come after
    // the gap, and the other side's bytes that wait for them wait on: acted on later,
    // the acknowledgement that came with the evidence says no more than that).
    uint32_t upto = x.suspect_upto;
    if (x.head >= 0 && seq_diff(nodes_[x.head].seq, x.next_seq) > 0 && seq_diff(nodes_[x.head].seq, upto) < 0)
      upto = nodes_[x.head].seq;
    give_up_waiting(dir[1 - k], upto, reorder_ns ? 0 : x.suspect_ack, sinks.dir(1 - k));
    if (sinks.gone()) return false;
    lost_up_to(x, upto, sinks.dir(k), reorder_ns ? x.suspect_acked_ns : 0);
    if (sinks.gone()) return false;
  }
  if (!hole_gone) {
    ack(x, x.suspect_hole_ack, sinks.dir(k), reorder_ns ? x.suspect_hole_acked_ns : 0);
    if (sinks.gone()) return false;
  }
  end_if_due(x, sinks.dir(k), false);  // a FIN that waited for those bytes
  if (sinks.gone()) return false;
  after_segment(dir, 1 - k, sinks);  // what waited for the bytes let out goes out
  return !sinks.gone();
}

bool TcpReassembler::peer_sent(const TcpDirection& d, uint32_t seq, bool data, uint32_t ack,
                               uint32_t& upto) const {
  if (!d.wait_ns) return false;
  bool found = false;
  uint32_t most = 0;
  for (int32_t i = d.head; i >= 0; i = nodes_[i].next) {
    const Node& n = nodes_[i];
    if (!n.waits) continue;
    if ((data && seq_diff(seq, n.needs) >= 0) || (ack && seq_diff(ack, n.seq) > 0)) {
      if (!found || seq_diff(n.needs, most) > 0) most = n.needs;
      found = true;
    }
  }
  if (found) upto = seq_diff(most, seq) > 0 ? seq : most;
  return found;
}

bool TcpReassembler::expire_wait(TcpDirection (&dir)[2], int k, uint64_t ts_ns, uint64_t max_ns,
                                 ConnectionSinks& sinks) {
  TcpDirection& d = dir[k];
  TcpDirection& peer = dir[1 - k];
  if (!d.wait_ns || ts_ns <= d.wait_ns + max_ns) return true;
  const uint32_t upto = waited_for(d);
  const uint64_t acked_ns = d.wait_ns;  // when the peer had them: the first held came then
  // A second such wait run out with the peer still unseen: its side is not captured.
  if (!peer.synced && d.blind_expired < 2) ++d.blind_expired;
  give_up_all(d, sinks.dir(k), peer.synced || d.blind_expired >= 2);
  if (sinks.gone()) return false;
  // Read, a copy of the lost bytes written later (a retransmission after the answer)
  // was a request after the answer it had, and took the next one's.
  lost_up_to(peer, upto, sinks.dir(1 - k), acked_ns);
  return !sinks.gone();
}

uint32_t TcpReassembler::waited_for(const TcpDirection& d) const {
  uint32_t most = d.next_seq;
  bool any = false;
  for (int32_t i = d.head; i >= 0; i = nodes_[i].next)
    if (nodes_[i].waits && (!any || seq_diff(nodes_[i].needs, most) > 0)) most = nodes_[i].needs, any = true;
  return most;
}

void TcpReassembler::lost_up_to(TcpDirection& d, uint32_t upto, StreamSink& sink, uint64_t acked_ns) {
  const int32_t missing = seq_diff(upto, d.next_seq);
  if (!d.synced || d.fin || (d.wait_ns && !acked_ns) || missing <= 0 ||
      static_cast<uint32_t>(missing) > limits_.window_bytes)
    return;
  counters_.inc(Counter::tcp_reasm_acked_gaps);
  const uint64_t now = acked_ns ? acked_ns : sink.now();
  // Holes before `upto` given up; a held segment in order (it waits for the peer's bytes)
  // is no hole, and nothing before it was lost.
  while (d.head >= 0 && seq_diff(nodes_[d.head].seq, upto) <= 0 && nodes_[d.head].seq != d.next_seq)
    skip_hole(d, sink, now, acked_ns != 0);
  if (seq_diff(upto, d.next_seq) > 0 && (d.head < 0 || seq_diff(nodes_[d.head].seq, d.next_seq) > 0)) {
    gap_to(d, sink, upto, acked_ns);
    drain(d, sink);
  }
}

void TcpReassembler::unwait(TcpDirection& d, uint32_t upto, bool given_up, StreamSink& sink, uint32_t ack,
                            uint64_t held_by) {
  bool any = false;
  for (int32_t i = d.head; i >= 0; i = nodes_[i].next) {
    if (!nodes_[i].waits) continue;
    if (seq_diff(upto, nodes_[i].needs) < 0 && !(ack && seq_diff(ack, nodes_[i].seq) > 0)) break;
    if (held_by != ~uint64_t{0} && nodes_[i].ts_ns > held_by) break;
    nodes_[i].waits = false;
    any = true;
  }
  if (!any) return;
  if (given_up) counters_.inc(Counter::tcp_reasm_wait_given_up);
  settle(d, sink);
}

void TcpReassembler::give_up_all(TcpDirection& d, StreamSink& sink, bool no_more) {
  counters_.inc(Counter::tcp_reasm_wait_given_up);
  d.no_wait = d.no_wait || no_more;
  for (int32_t i = d.head; i >= 0; i = nodes_[i].next) nodes_[i].waits = false;
  settle(d, sink);
}

void TcpReassembler::settle(TcpDirection& d, StreamSink& sink) {
  drain(d, sink);
  d.wait_ns = 0;
  for (int32_t i = d.head; i >= 0; i = nodes_[i].next) {
    if (nodes_[i].waits) {
      d.wait_ns = nodes_[i].ts_ns ? nodes_[i].ts_ns : 1;
      return;
    }
  }
  if (d.wait_end_flags) {
    const uint8_t flags = d.wait_end_flags;
    d.wait_end_flags = 0;
    finish(d, flags, d.wait_end_seq, sink);
  }
}

bool TcpReassembler::acks_hole(const TcpDirection& d, uint32_t ack) const {
  // Acknowledged at least to the first byte held: the bytes before it were received.
  // A number further ahead than the window is not believed (an ACK scan's, a forged one).
  // Bytes held in order are no hole: they wait for the other side's (held segments the
  // acknowledgement reaches were let out before, by before_segment).
  return d.synced && !d.fin && d.head >= 0 && seq_diff(ack, nodes_[d.head].seq) >= 0 &&
         nodes_[d.head].seq != d.next_seq &&
         static_cast<uint32_t>(seq_diff(ack, d.next_seq)) <= limits_.window_bytes;
}

void TcpReassembler::ack(TcpDirection& d, uint32_t ack, StreamSink& sink, uint64_t acked_ns) {
  if (!acks_hole(d, ack)) return;
  counters_.inc(Counter::tcp_reasm_acked_gaps);
  // Without an earlier acknowledgement of a hole's end, this one's is the first.
  const uint64_t now = acked_ns ? acked_ns : sink.now();
  while (d.head >= 0 && seq_diff(ack, nodes_[d.head].seq) >= 0 && nodes_[d.head].seq != d.next_seq)
    skip_hole(d, sink, now, acked_ns != 0);
}

void TcpReassembler::close(TcpDirection& d, StreamSink& sink, bool tail_acked) {
  if (d.wait_ns) {  // the other side's bytes never came: these go out as they are
    for (int32_t i = d.head; i >= 0; i = nodes_[i].next) nodes_[i].waits = false;
    settle(d, sink);
  }
  while (d.head >= 0) skip_hole(d, sink);
  d.suspect = 0;
  // The other side acknowledged bytes of d the capture never showed, none after them (the
  // stream's tail lost): a gap before the end, so that the decoder tells a loss, not a
  // message the connection's end cut. One number past the bytes seen is d's FIN, lost
  // alone (a FIN lost with bytes before it counts in the gap as one).
  if (tail_acked && d.peer_ack_ns && !d.wait_end_flags && seq_diff(d.peer_ack, d.next_seq) > 1)
    lost_up_to(d, d.peer_ack, sink, d.peer_ack_ns);
  end_if_due(d, sink, true);  // a FIN that waited for bytes that never came
}

void TcpReassembler::release(TcpDirection& d) {
  d.wait_ns = 0;
  d.wait_end_flags = 0;
  d.suspect = 0;
  d.seg_waits = false;
  while (d.head >= 0) {
    const int32_t next = nodes_[d.head].next;
    d.buffered -= nodes_[d.head].len;
    total_ -= nodes_[d.head].len;
    free_node(d.head);
    d.head = next;
  }
}

}  // namespace tapbeat
