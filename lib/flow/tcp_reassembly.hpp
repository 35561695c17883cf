// TCP stream reassembly per direction, bounded.
//
// In-order bytes go straight to the sink from the packet (no copy). Segments ahead of
// the next expected byte, within `window_bytes`, are copied into a per-worker node
// pool (or, where the packet's bytes outlive the stream, as in a mapped capture file,
// held by pointer: a body the decoder skips is then never read) and delivered once the
// hole fills; retransmissions are dropped and overlaps
// trimmed (first arrival wins). When the window, the per-stream cap or the pool runs
// out, or the other direction acknowledges bytes the hole holds, the hole is given up:
// the sink gets a gap of the missing length and the buffered bytes after it. Every
// such event is counted.
//
// Per worker; not thread-safe. The pool is allocated at construction; segment(),
// close() and release() allocate nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "net/packet.hpp"
#include "util/counters.hpp"

namespace tapbeat {

// Receives one direction's bytes in order.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual void on_data(const uint8_t* data, uint32_t len) = 0;
  // len bytes are missing at this point. acked_ns: the capture time by which the
  // other side had acknowledged them all (0: not known); what it sent from then on
  // was sent with the lost bytes in hand.
  virtual void on_gap(uint32_t len, uint64_t acked_ns) = 0;
  virtual void on_end() {}  // FIN or RST: the sender is done
  // The time of the packet being handled, and the time the bytes delivered next
  // arrived: bytes held behind a hole are delivered with their own packet's time.
  virtual uint64_t now() const { return 0; }
  virtual void at(uint64_t ts_ns) { (void)ts_ns; }
};

// The sinks of both directions of one connection, for the steps of a packet that may
// deliver to either (TcpReassembler::before_segment, after_segment).
class ConnectionSinks {
 public:
  virtual ~ConnectionSinks() = default;
  virtual StreamSink& dir(int k) = 0;  // direction k's sink, ready to deliver
  // The connection was let go while bytes were delivered (its decoder detached): no
  // further step is taken.
  virtual bool gone() const { return false; }
};

// A TCP packet's header fields the steps around its segment read.
struct TcpPacket {
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint32_t len = 0;  // payload bytes captured
  uint64_t ts_ns = 0;
};

// Sequence space arithmetic (RFC 9293 section 3.4): negative when a is before b.
inline int32_t seq_diff(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }

// Reassembly state of one direction; lives in the flow's session slot.
struct TcpDirection {
  uint32_t next_seq = 0;      // next byte expected
  bool synced = false;        // next_seq is known (SYN or first data seen)
  bool hinted = false;        // not synced, but a bare acknowledgement said where next_seq is
  bool fresh = false;         // picked up mid-way (pick_up), none of its bytes delivered yet
  bool syn_only = false;      // synced by a SYN, no byte or FIN of this side seen since
  uint8_t blind_expired = 0;  // waits run out while none of the other side's bytes were seen
  bool fin = false;
  bool no_wait = false;    // a wait for the other side's bytes ran out: none again
  bool seg_waits = false;  // the segment handed to segment() next waits (wait_for_peer)
  int32_t head = -1;       // buffered nodes, sorted by sequence number
  uint32_t buffered = 0;   // bytes held for this direction
  // The furthest the other side acknowledged past next_seq (bytes not seen yet), and
  // the time of the packet that took it there; stale once next_seq passes it. Before
  // `synced`: the first acknowledgement the other side was seen to send (0 ns: none).
  uint32_t peer_ack = 0;
  // While wait_ns is set, bytes of this direction are held until the other side's reach
  // what their segments acknowledged, the first of them since wait_ns (see
  // TcpReassembler::wait_for_peer). seg_ack: the acknowledgement of the segment that
  // comes next.
  uint32_t seg_ack = 0;
  uint64_t peer_ack_ns = 0;
  uint64_t wait_ns = 0;
  // A FIN or RST that came while waiting, taken once the wait ends, or a FIN numbered
  // past bytes not seen yet (a capture point can write it before them), taken once they
  // came, the other side acknowledged it, or the connection ended: its flags and the
  // sequence number past its segment's bytes.
  uint8_t wait_end_flags = 0;
  uint32_t wait_end_seq = 0;
  // Evidence that bytes of this direction the capture has not shown were sent: a later
  // segment of it begins past bytes the other side's held segments wait for (kSuspectSent,
  // up to suspect_upto; suspect_ack: that segment's acknowledgement), or the other side
  // acknowledged bytes behind a hole (kSuspectAcked, suspect_hole_ack). A capture point
  // can write them late: they are taken as lost once `reorder_ns` of capture time passed
  // without them (see before_segment), at once when it is 0.
  uint8_t suspect = 0;
  // Where this side's segments seen so far end (bare acknowledgements too), if
  // sent_known: a keep-alive probe is numbered just before it.
  bool sent_known = false;
  // A segment of this side beyond the window, not believed (far_seen: where it ended),
  // and the furthest the other side acknowledged beyond the window (far_acked: that).
  // Both forgotten when the stream jumps (or reaches far_ack).
  bool far_seen = false, far_acked = false;
  uint32_t sent_end = 0;
  uint32_t far_end = 0, far_ack = 0;
  uint64_t suspect_ns = 0;
  // When the other side had those bytes, as known when the evidence came (each kind's).
  uint64_t suspect_acked_ns = 0, suspect_hole_acked_ns = 0;
  uint32_t suspect_upto = 0, suspect_ack = 0, suspect_hole_ack = 0;
};
inline constexpr uint8_t kSuspectSent = 1, kSuspectAcked = 2;

struct TcpLimits {
  uint32_t window_bytes = 256 * 1024;  // how far ahead of a hole data is kept
  uint32_t stream_bytes = 512 * 1024;  // bytes buffered per direction
  uint64_t total_bytes = 64ull << 20;  // bytes buffered by the worker
};

class TcpReassembler {
 public:
  static constexpr uint32_t kNodeBytes = 1448;

  TcpReassembler(const TcpLimits& limits, Counters& counters);
  TcpReassembler(const TcpReassembler&) = delete;
  TcpReassembler& operator=(const TcpReassembler&) = delete;

  // A direction's place in its stream set from outside segment(), while payload
  // detection reads a connection before the reassembler does: the point its stream
  // goes on from (after its SYN; bytes before it taken elsewhere), or unknown again
  // (its next segment's bytes begin it, as for a stream picked up mid-way). Only while
  // nothing is held for it.
  static void start_at(TcpDirection& d, uint32_t seq) { d.next_seq = seq, d.synced = true; }
  static void unsync(TcpDirection& d) {
    d.next_seq = 0, d.synced = false, d.hinted = false, d.fresh = false, d.syn_only = false;
  }

  // One segment of this direction. flags: TCP flags (SYN, FIN, RST). stable: the
  // payload's bytes stay valid as long as the reassembler may hold them (a mapped
  // capture file); a segment that waits for a hole is then held by pointer. Limits
  // and counts are the same either way.
  // lost_tail: bytes the segment carried past `len` that the capture cut off (the snap
  // length): known lost, a gap right after the segment's bytes when they are in order.
  void segment(TcpDirection& d, uint32_t seq, uint8_t flags, const uint8_t* payload, uint32_t len,
               StreamSink& sink, bool stable = false, uint32_t lost_tail = 0);
  // The other direction acknowledged d's bytes up to `ack` (its next expected one).
  // Where that reaches bytes held behind a hole, the hole's bytes passed the capture
  // point and were lost to it (the peer has them): the hole is given up then, as
  // Zeek's and Suricata's reassemblers read an ACK above a hole, rather than held
  // until the window fills or the connection ends, and what follows reaches the
  // decoder in its time. An ACK past bytes not yet seen, with none held after them,
  // is not taken as loss: the two directions may reach the capture out of order (a
  // TAP's two ports, two interfaces), and the bytes come a little later.
  // (acked_ns: when the acknowledgement came, where it is acted on later; 0: now.)
  void ack(TcpDirection& d, uint32_t ack, StreamSink& sink, uint64_t acked_ns = 0);
  // Whether `ack` reaches bytes d holds behind a hole (ack() would give the hole up).
  bool acks_hole(const TcpDirection& d, uint32_t ack) const;
  // Whether a segment of d (len bytes from seq) takes the bytes d holds past what a
  // wait for the peer may hold: the stream's buffer, or further ahead than the window.
  bool past_wait_room(const TcpDirection& d, uint32_t seq, uint32_t len) const {
    const int32_t reach = seq_diff(seq + len, d.next_seq);
    return d.buffered + len > limits_.stream_bytes ||
           (reach > 0 && static_cast<uint32_t>(reach) > limits_.window_bytes);
  }
  // Notes an acknowledgement of d's bytes by the other side at ts_ns (after ack()):
  // one past bytes not seen yet tells, at a gap, when the peer had the lost bytes.
  // Before d's first byte is seen (a connection picked up mid-stream), the first such
  // acknowledgement is kept: where d's stream starts, see segment(). An acknowledgement
  // number of 0 is not taken: it is what packet generators leave in segments they
  // build (scapy's default), far more often than a real one at that number.
  void note_ack(TcpDirection& d, uint32_t ack, uint64_t ts_ns) const {
    if (!d.synced) {
      if (!d.peer_ack_ns && ack != 0) {
        d.peer_ack = ack;
        d.peer_ack_ns = ts_ns;
      }
      return;
    }
    if (seq_diff(ack, d.next_seq) <= 0) return;
    if (d.peer_ack_ns && seq_diff(d.peer_ack, d.next_seq) > 0 && seq_diff(ack, d.peer_ack) <= 0) return;
    if (static_cast<uint32_t>(seq_diff(ack, d.next_seq)) > limits_.window_bytes) {
      if (!d.far_acked || seq_diff(ack, d.far_ack) > 0) d.far_ack = ack, d.far_acked = true;
      return;
    }
    d.peer_ack = ack;
    d.peer_ack_ns = ts_ns;
  }
  // What a connection's packet from direction d does before its segment (segment()):
  // bytes of the other side that wait for this side's (wait_for_peer) and that the
  // packet shows were lost go out, this side's loss told as a gap after them; the
  // other side's hole this packet acknowledges is given up (ack()); waits older than
  // max_wait_ns go out; the acknowledgement is noted, and the segment told whether it
  // waits. False when the connection was let go meanwhile (sinks.gone()).
  // Evidence of loss (the other side's acknowledgement of bytes behind a hole, a segment
  // beginning past bytes the other side waits for) is acted on once reorder_ns of capture
  // time passed without the bytes (0: at once): a capture point can write them late.
  bool before_segment(TcpDirection (&dir)[2], int d, const TcpPacket& p, ConnectionSinks& sinks,
                      uint64_t max_wait_ns, uint64_t reorder_ns = 0);
  // After the segment: the other side's bytes that waited for what it brought go out,
  // then this side's that waited for those, and so on while either side moves on.
  void after_segment(TcpDirection (&dir)[2], int d, ConnectionSinks& sinks) {
    for (int k = 1 - d, still = 0; still < 2 && !sinks.gone(); k = 1 - k) {
      const uint32_t was = dir[k].next_seq;
      if (dir[k].wait_ns) release_waiting(dir[k], dir[1 - k], sinks.dir(k));
      still = dir[k].next_seq == was ? still + 1 : 0;
    }
  }
  // The connection ended: buffered bytes after a hole go out behind a gap, and bytes the
  // other side acknowledged that the capture never showed are a gap before the end
  // (tail_acked; not where d's own FIN or RST ends it: finish() tells that tail).
  void close(TcpDirection& d, StreamSink& sink, bool tail_acked = true);
  // Before close(): evidence of loss not acted on yet is (the bytes did not come late),
  // so that each side's bytes still go out in the order they were sent. False when the
  // connection was let go meanwhile.
  bool settle_evidence(TcpDirection (&dir)[2], ConnectionSinks& sinks) {
    for (int k = 0; k < 2; ++k)
      if (dir[k].suspect && !suspect_due(dir, k, ~uint64_t{0}, 1, sinks)) return false;
    return true;
  }
  // Drops buffered bytes without delivering them (flow evicted or detached).
  void release(TcpDirection& d);

  uint64_t buffered_total() const { return total_; }
  uint32_t window_bytes() const { return limits_.window_bytes; }

  // A segment of a synced side that begins further past its next byte than the window:
  // the bytes between were lost to the capture (more than the window holds) when the
  // other side acknowledged up to it (an injected segment is acknowledged by no one; an
  // acknowledgement short of it may be a stale one, of the port's last connection), or
  // when it goes on from the last such segment of this side with none of the stream's
  // own bytes between (the stream taken up again past the loss, one side captured).
  // Else it is no byte of the stream: no stack takes data beyond its window, and one
  // injected so would make the monitor skip the stream's real bytes.
  bool beyond_window_believed(const TcpDirection& d, uint32_t seq) const {
    if (d.far_acked && seq_diff(d.far_ack, seq) >= 0) return true;
    if (!d.far_seen) return false;
    const int32_t from_last = seq_diff(seq, d.far_end);
    return from_last >= 0 && static_cast<uint32_t>(from_last) <= limits_.window_bytes;
  }
  // A segment beginning beyond the window that is not believed: no byte of the stream.
  bool beyond_window_unbelieved(const TcpDirection& d, uint32_t seq, uint32_t len) const {
    const int32_t ahead = seq_diff(seq, d.next_seq);
    return len > 0 && d.synced && ahead > 0 && static_cast<uint32_t>(ahead) > limits_.window_bytes &&
           !beyond_window_believed(d, seq);
  }
  // An RST numbered further from where its side's segments seen so far end, and from
  // where the other side acknowledged them, than the window: no stack takes it (RFC 5961
  // section 3; one injected from off the path to reset a connection a monitor watches,
  // or a stray one). Nothing of the side seen: any RST is taken (the answer to a SYN).
  bool rst_out_of_window(const TcpDirection& d, uint32_t seq) const {
    const auto far = [&](uint32_t from) {
      const int32_t diff = seq_diff(seq, from);
      return (diff < 0 ? 0u - static_cast<uint32_t>(diff) : static_cast<uint32_t>(diff)) >
             limits_.window_bytes;
    };
    return d.sent_known && far(d.sent_end) && (!d.peer_ack_ns || far(d.peer_ack));
  }
  // A keep-alive probe (tshark's rule): one byte (what Windows sends; Linux sends none)
  // numbered just before where the side's segments seen so far end (`sent_end`, known:
  // a bare acknowledgement's number counts). No byte of the stream: not the start of a
  // stream picked up mid-way, nor the last byte of a hole the capture left.
  static bool keep_alive(bool known, uint32_t sent_end, uint32_t seq, uint32_t len, uint8_t flags) {
    return known && len == 1 && seq + 1 == sent_end &&
           !(flags & (tcp_flag::kSyn | tcp_flag::kFin | tcp_flag::kRst));
  }

 private:
  struct Node {
    uint32_t seq;
    uint16_t len;
    bool waits;  // for the peer's bytes to reach `needs` (wait_for_peer)
    int32_t next;
    uint32_t needs;
    uint64_t ts_ns;       // when its packet came
    const uint8_t* held;  // the bytes: `data`, or a stable packet's own
    uint8_t data[kNodeBytes];
  };
  // A segment of d carrying `len` bytes from `seq` acknowledges the other side's bytes
  // up to `ack`, past any of them seen (peer.next_seq), none held: the capture point had
  // the two directions out of order (a TAP's or a SPAN's two directions merged, a
  // response stamped before the request it answers). The segment's bytes, and d's after
  // them, are held in order until the peer's reach `ack` (release_waiting()), so that a
  // decoder reads a request before its response; each held segment waits for what it
  // acknowledged. Not when the peer is waiting itself, has ended, or is behind a hole
  // (ack() reads that as loss), nor further ahead than the window. Called before
  // segment() with the same segment; counted in tcp.reassembly.waited_for_peer.
  void wait_for_peer(TcpDirection& d, const TcpDirection& peer, uint32_t seq, uint32_t len, uint32_t ack);
  // dir[k]'s evidence of loss, if reorder_ns passed since it came or the bytes came:
  // acted on (or dropped). False when the connection was let go meanwhile.
  bool suspect_due(TcpDirection (&dir)[2], int k, uint64_t ts_ns, uint64_t reorder_ns,
                   ConnectionSinks& sinks);
  // Notes evidence that x's bytes up to `upto` were sent (kSuspectSent; ack: that of the
  // segment that showed it, 0: none), first seen at ts_ns.
  void suspect_sent(TcpDirection& x, uint32_t upto, uint32_t ack, uint64_t ts_ns);
  // Whether `ack` reaches past d's next byte but no further than the bytes d holds.
  bool acks_held(const TcpDirection& d, uint32_t ack) const {
    if (d.head < 0 || seq_diff(ack, d.next_seq) <= 0) return false;
    int32_t last = d.head;
    while (nodes_[last].next >= 0) last = nodes_[last].next;
    return seq_diff(ack, nodes_[last].seq + nodes_[last].len) <= 0;
  }
  // How far d's bytes were seen in order: delivered, and held in order after them
  // (segments that wait for the peer's bytes).
  uint32_t seen_to(const TcpDirection& d) const {
    uint32_t to = d.next_seq;
    for (int32_t i = d.head; i >= 0 && seq_diff(nodes_[i].seq, to) <= 0; i = nodes_[i].next)
      if (seq_diff(nodes_[i].seq + nodes_[i].len, to) > 0) to = nodes_[i].seq + nodes_[i].len;
    return to;
  }
  // The peer's bytes reached what some of d's held segments wait for: those go out.
  void release_waiting(TcpDirection& d, const TcpDirection& peer, StreamSink& sink) {
    if (d.wait_ns && peer.synced) unwait(d, peer.next_seq, false, sink);
  }
  // What a segment of d's peer shows of the peer's bytes that d's held segments wait
  // for: a segment with data from `seq` on was sent after the bytes before it, and an
  // acknowledgement `ack` (0: none) that reaches held segments says the peer had them,
  // so it had sent what they wait for. False when it shows nothing of them; else `upto`:
  // how far the peer's bytes were sent (the most those segments need, no further than
  // `seq`).
  bool peer_sent(const TcpDirection& d, uint32_t seq, bool data, uint32_t ack, uint32_t& upto) const;
  // d's bytes before `upto` that the capture has not shown were sent (the peer's
  // acknowledgement of them came back): lost to the capture, a gap before d's next bytes
  // (counted as an acknowledged hole). Not further ahead than the window.
  // acked_ns: when that was known, where it is acted on later (0: now); then also while
  // d's own later bytes wait for the peer's (those answer the peer's that waited for d's).
  void lost_up_to(TcpDirection& d, uint32_t upto, StreamSink& sink, uint64_t acked_ns = 0);
  // How far the peer's bytes reach that d's held segments wait for (the most they
  // acknowledged).
  uint32_t waited_for(const TcpDirection& d) const;
  // The peer's bytes up to `upto` were lost to the capture: d's held segments that wait
  // for no more than those, or that the peer acknowledged (`ack`, 0: none), go out,
  // counted in tcp.reassembly.wait_given_up.
  void give_up_waiting(TcpDirection& d, uint32_t upto, uint32_t ack, StreamSink& sink) {
    if (d.wait_ns) unwait(d, upto, true, sink, ack);
  }
  // dir[k] waited since before `ts_ns - max_ns`: the peer's bytes were lost to the
  // capture. All of dir[k]'s bytes go out, then the peer's decoder hears of the gap up to
  // what they acknowledged (a copy of those bytes written later still is a
  // retransmission), and dir[k] waits no more on this connection (where none of the
  // peer's bytes were seen, its first bytes answered bytes sent before the capture began:
  // its later ones may wait for the peer's once more). Every wait given up (this, the
  // limits, the peer's bytes lost) is counted in tcp.reassembly.wait_given_up. False when
  // the connection was let go meanwhile.
  bool expire_wait(TcpDirection (&dir)[2], int k, uint64_t ts_ns, uint64_t max_ns, ConnectionSinks& sinks);
  int32_t alloc();
  void free_node(int32_t i);
  // waits/needs: the nodes wait for the peer's bytes to reach `needs`.
  bool store(TcpDirection& d, uint32_t seq, const uint8_t* p, uint32_t len, bool stable, uint64_t ts_ns,
             bool waits = false, uint32_t needs = 0);
  // Delivers buffered nodes that continue the stream, up to one that waits.
  void drain(TcpDirection& d, StreamSink& sink);
  // Held segments that wait for the peer's bytes up to `upto`, or that the peer
  // acknowledged (`ack`, 0: none), wait no more (in order, to the first that is
  // neither): they go out; given_up counts it. held_by: only those that came by then.
  void unwait(TcpDirection& d, uint32_t upto, bool given_up, StreamSink& sink, uint32_t ack = 0,
              uint64_t held_by = ~uint64_t{0});
  // d's first bytes of a stream picked up mid-way, at seq: where its stream begins.
  void pick_up(TcpDirection& d, uint32_t seq);
  // A segment of d from `seq` on, before d's next byte, moves the start of d's stream back
  // to it: d was picked up mid-way and its first bytes still wait for the other side's
  // (none delivered), within the window.
  bool moves_start_back(const TcpDirection& d, uint32_t seq) const {
    return d.fresh && d.wait_ns && seq_diff(seq, d.next_seq) < 0 &&
           static_cast<uint32_t>(seq_diff(d.next_seq, seq)) <= limits_.window_bytes;
  }
  // Every held segment waits no more (a wait given up; no_more: d waits no more).
  void give_up_all(TcpDirection& d, StreamSink& sink, bool no_more);
  // After held segments stopped waiting: what may go out goes, and the wait is what
  // still waits (or over, the FIN or RST that came meanwhile taken).
  void settle(TcpDirection& d, StreamSink& sink);
  // FIN or RST: what waits behind a hole goes out, then the end (end_seq: past the
  // segment's bytes and what the capture cut off them). A FIN past bytes not seen, within
  // the window, waits for them (TcpDirection::wait_end_flags) unless `now`.
  void finish(TcpDirection& d, uint8_t flags, uint32_t end_seq, StreamSink& sink, bool now = false);
  // The FIN that waited for bytes before it: taken once they came, or (lost) when `force`.
  void end_if_due(TcpDirection& d, StreamSink& sink, bool force) {
    if (!d.wait_end_flags || d.wait_ns || (!force && seq_diff(d.next_seq, d.wait_end_seq) < 0)) return;
    const uint8_t flags = d.wait_end_flags;
    d.wait_end_flags = 0;
    finish(d, flags, d.wait_end_seq, sink, true);
  }
  // exact: acked_ns is when the peer had the bytes (what a later acknowledgement says
  // is not taken instead).
  void skip_hole(TcpDirection& d, StreamSink& sink, uint64_t acked_ns = 0, bool exact = false);
  // The bytes from d's next up to `upto`, none held, given up as a gap (counted and told).
  void gap_to(TcpDirection& d, StreamSink& sink, uint32_t upto, uint64_t exact_acked_ns = 0);
  // When the peer had acknowledged d's bytes up to `end` (0: not known).
  static uint64_t acked_by(const TcpDirection& d, uint32_t end) {
    return d.peer_ack_ns && seq_diff(d.peer_ack, end) >= 0 && seq_diff(d.peer_ack, d.next_seq) > 0
               ? d.peer_ack_ns
               : 0;
  }

  TcpLimits limits_;
  Counters& counters_;
  std::unique_ptr<Node[]> nodes_;
  uint32_t capacity_;
  int32_t free_ = -1;
  uint32_t never_used_ = 0;
  uint64_t total_ = 0;
};

}  // namespace tapbeat
