#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "flow/tcp_reassembly.hpp"
#include "net/packet.hpp"

namespace tapbeat {
namespace {

// Records the stream as text, gaps as "[gap N]".
struct Recorder : StreamSink {
  std::string out;
  void on_data(const uint8_t* d, uint32_t n) override { out.append(reinterpret_cast<const char*>(d), n); }
  void on_gap(uint32_t n, uint64_t acked_ns) override {
    out += "[gap " + std::to_string(n) + "]";
    gap_acked_ns = acked_ns;
  }
  uint64_t gap_acked_ns = 0;
};

struct TcpReassembly : ::testing::Test {
  Counters c;
  TcpLimits limits;
  std::unique_ptr<TcpReassembler> r;
  TcpDirection d;
  Recorder rec;
  void SetUp() override { r = std::make_unique<TcpReassembler>(limits, c); }
  void seg(uint32_t seq, const std::string& s, uint8_t flags = 0) {
    r->segment(d, seq, flags, reinterpret_cast<const uint8_t*>(s.data()), static_cast<uint32_t>(s.size()),
               rec);
  }
};

TEST_F(TcpReassembly, InOrderAfterSyn) {
  seg(999, "", tcp_flag::kSyn);
  seg(1000, "hello ");
  seg(1006, "world");
  EXPECT_EQ(rec.out, "hello world");
  EXPECT_EQ(r->buffered_total(), 0u);
}

// A server that answers each of a client's SYNs with a fresh SYN-ACK, each with its own
// initial number (ndpi's tls_multiple_synack_different_seq.pcapng): the bytes follow
// the last one. A SYN-ACK sent again with the same number changes nothing, and once a
// byte of the side came, a SYN is no new start.
TEST_F(TcpReassembly, SynSentAgainWithAnotherInitialNumberRenumbersTheSide) {
  seg(238755595, "", tcp_flag::kSyn | tcp_flag::kAck);
  seg(238755595, "", tcp_flag::kSyn | tcp_flag::kAck);
  seg(2859879429u, "", tcp_flag::kSyn | tcp_flag::kAck);
  seg(2829651200u, "", tcp_flag::kSyn | tcp_flag::kAck);
  EXPECT_EQ(c.get(Counter::tcp_reasm_syn_renumbered), 2u);
  seg(2829651201u, "server hello");
  EXPECT_EQ(rec.out, "server hello");
  EXPECT_EQ(c.get(Counter::tcp_reasm_retransmissions), 0u);
  seg(5000, "", tcp_flag::kSyn | tcp_flag::kAck);
  seg(2829651213u, ", certificate");
  EXPECT_EQ(rec.out, "server hello, certificate");
  EXPECT_EQ(c.get(Counter::tcp_reasm_syn_renumbered), 2u);

  // Nor once a gap of the side was told (bytes the snap length cut from a segment of
  // no captured payload): its stream has a place.
  TcpDirection e;
  Recorder rec2;
  r->segment(e, 700, tcp_flag::kSyn, nullptr, 0, rec2);
  r->segment(e, 701, 0, nullptr, 0, rec2, false, 16);
  EXPECT_EQ(rec2.out, "[gap 16]");
  r->segment(e, 9000, tcp_flag::kSyn, nullptr, 0, rec2);
  EXPECT_EQ(e.next_seq, 717u);
  EXPECT_EQ(c.get(Counter::tcp_reasm_syn_renumbered), 2u);
}

TEST_F(TcpReassembly, ReordersWithinTheWindow) {
  seg(99, "", tcp_flag::kSyn);
  seg(110, "KLMNO");
  seg(105, "FGHIJ");
  EXPECT_EQ(rec.out, "");
  EXPECT_EQ(d.buffered, 10u);
  seg(100, "ABCDE");
  EXPECT_EQ(rec.out, "ABCDEFGHIJKLMNO");
  EXPECT_EQ(d.buffered, 0u);
  EXPECT_EQ(c.get(Counter::tcp_reasm_out_of_order), 2u);
  EXPECT_EQ(c.get(Counter::tcp_reasm_gaps), 0u);
}

TEST_F(TcpReassembly, RetransmissionsAndOverlapsAreTrimmed) {
  seg(0, "", tcp_flag::kSyn);
  seg(1, "abcdef");
  seg(1, "abc");     // full retransmission
  seg(4, "defGHI");  // overlaps "def", brings "GHI"
  seg(12, "mno");    // ahead
  seg(11, "lmn");    // overlaps the buffered "mn"
  seg(10, "j");
  EXPECT_EQ(rec.out, "abcdefGHIjlmno");
  EXPECT_EQ(c.get(Counter::tcp_reasm_retransmissions), 1u);
  EXPECT_GE(c.get(Counter::tcp_reasm_overlap), 2u);
}

// Segments whose bytes outlive the stream (a mapped capture file) are held by pointer:
// what is delivered, and every count and limit, is what copying gives. Random streams
// cut into segments of up to three nodes, reordered, repeated and overlapping, through
// a copying and a pointing reassembler side by side; then a held segment's bytes are
// changed in place before its hole fills, which only the pointing one shows.
TEST(TcpReassemblyStable, HeldByPointerDeliversWhatCopyingDelivers) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    TcpLimits limits;
    limits.window_bytes = 16 * 1024;
    limits.stream_bytes = 12 * 1024;
    limits.total_bytes = 16 * TcpReassembler::kNodeBytes;
    Counters cc, cp;
    TcpReassembler copying(limits, cc), pointing(limits, cp);
    TcpDirection dc, dp;
    Recorder rc, rp;
    std::string text(40'000, '\0');
    for (char& ch : text) ch = static_cast<char>('a' + rng() % 26);
    std::vector<std::pair<uint32_t, std::string>> segs;  // (offset, bytes): kept alive, as a mapped file
    for (uint32_t at = 0; at < text.size();) {
      const uint32_t n = std::min<uint32_t>(1 + rng() % (3 * TcpReassembler::kNodeBytes),
                                            static_cast<uint32_t>(text.size()) - at);
      segs.emplace_back(at, text.substr(at, n));
      if (rng() % 8 == 0) segs.emplace_back(at + n / 2, text.substr(at + n / 2, n - n / 2 + rng() % 64));
      at += n;
    }
    for (std::size_t i = 0; i + 1 < segs.size(); ++i)
      if (rng() % 3 == 0)
        std::swap(segs[i], segs[i + 1 + rng() % std::min<std::size_t>(4, segs.size() - i - 1)]);
    const uint32_t isn = static_cast<uint32_t>(rng());
    copying.segment(dc, isn, tcp_flag::kSyn, nullptr, 0, rc);
    pointing.segment(dp, isn, tcp_flag::kSyn, nullptr, 0, rp, true);
    for (auto& [off, bytes] : segs) {
      if (off + bytes.size() > text.size()) bytes.resize(text.size() - off);
      const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
      const auto n = static_cast<uint32_t>(bytes.size());
      copying.segment(dc, isn + 1 + off, 0, b, n, rc);
      pointing.segment(dp, isn + 1 + off, 0, b, n, rp, true);
      ASSERT_EQ(copying.buffered_total(), pointing.buffered_total());
    }
    copying.close(dc, rc);
    pointing.close(dp, rp);
    ASSERT_EQ(rc.out, rp.out) << "round " << round;
    for (Counter k :
         {Counter::tcp_reasm_out_of_order, Counter::tcp_reasm_retransmissions, Counter::tcp_reasm_overlap,
          Counter::tcp_reasm_gaps, Counter::tcp_reasm_gap_bytes, Counter::tcp_reasm_window_exceeded,
          Counter::tcp_reasm_stream_full, Counter::tcp_reasm_pool_full, Counter::tcp_reasm_dropped_bytes})
      ASSERT_EQ(cc.get(k), cp.get(k)) << "round " << round;
  }
  TcpLimits limits;
  Counters cc, cp;
  TcpReassembler copying(limits, cc), pointing(limits, cp);
  TcpDirection dc, dp;
  Recorder rc, rp;
  std::string later = "world";
  const auto* w = reinterpret_cast<const uint8_t*>(later.data());
  copying.segment(dc, 99, tcp_flag::kSyn, nullptr, 0, rc);
  pointing.segment(dp, 99, tcp_flag::kSyn, nullptr, 0, rp, true);
  copying.segment(dc, 106, 0, w, 5, rc);
  pointing.segment(dp, 106, 0, w, 5, rp, true);
  later = "WORLD";  // the same bytes in place
  const std::string first = "hello ";
  copying.segment(dc, 100, 0, reinterpret_cast<const uint8_t*>(first.data()), 6, rc);
  pointing.segment(dp, 100, 0, reinterpret_cast<const uint8_t*>(first.data()), 6, rp, true);
  EXPECT_EQ(rc.out, "hello world");
  EXPECT_EQ(rp.out, "hello WORLD");
}

TEST_F(TcpReassembly, HoleAtCloseBecomesAGap) {
  seg(0, "", tcp_flag::kSyn);
  seg(1, "abc");
  seg(10, "xyz");
  EXPECT_EQ(rec.out, "abc");
  seg(13, "", tcp_flag::kFin);  // past the hole: it waits for the hole's bytes
  EXPECT_EQ(rec.out, "abc");
  r->close(d, rec);  // the connection's end
  EXPECT_EQ(rec.out, "abc[gap 6]xyz");
  EXPECT_EQ(c.get(Counter::tcp_reasm_gap_bytes), 6u);
}

// Segments the snap length cut (the IP header's length says how much is missing): the
// bytes cut off are a gap at once, right after the bytes captured, and the next segment
// follows it in order; a segment cut whole (headers only) is a gap of its payload. A cut
// segment that arrives out of order tells nothing yet (its hole is given up as any other).
TEST_F(TcpReassembly, BytesCutByTheSnapLengthAreAGapAtOnce) {
  seg(0, "", tcp_flag::kSyn);
  const auto cut = [&](uint32_t seq, const std::string& s, uint32_t lost, uint8_t flags = 0) {
    r->segment(d, seq, flags, reinterpret_cast<const uint8_t*>(s.data()), static_cast<uint32_t>(s.size()),
               rec, false, lost);
  };
  cut(1, "GET /a", 10);  // bytes 7-16 cut off
  EXPECT_EQ(rec.out, "GET /a[gap 10]");
  seg(17, "next");
  cut(21, "", 5);  // only the headers captured
  EXPECT_EQ(rec.out, "GET /a[gap 10]next[gap 5]");
  cut(40, "late", 3);  // out of order: held, no gap yet
  EXPECT_EQ(rec.out, "GET /a[gap 10]next[gap 5]");
  seg(26, std::string(14, 'x'));  // fills the hole: the held segment follows
  EXPECT_EQ(rec.out, "GET /a[gap 10]next[gap 5]" + std::string(14, 'x') + "late");
  cut(47, "end", 4, tcp_flag::kFin);  // the FIN after the bytes cut off: one gap, then the end
  r->close(d, rec);                   // (at the connection's end: they might still have come)
  EXPECT_EQ(rec.out, "GET /a[gap 10]next[gap 5]" + std::string(14, 'x') + "late[gap 3]end[gap 4]");
  EXPECT_EQ(c.get(Counter::tcp_reasm_gaps), 4u);
}

// A FIN numbered past the last byte seen: the stream's tail was lost, and the decoder
// hears of it as a gap before the end (a data segment carrying the FIN, a bare FIN, a
// FIN behind a hole) once the connection ends (or the other side acknowledges the FIN:
// TcpReassemblyWait.FinWrittenBeforeItsBytesWaitsForThem). A RST's number, or one past
// the window, is not taken as loss.
TEST_F(TcpReassembly, TailLostBeforeTheFinIsAGap) {
  seg(0, "", tcp_flag::kSyn);
  seg(1, "abc");
  seg(10, "", tcp_flag::kFin);  // bytes 4-9 lost
  EXPECT_EQ(rec.out, "abc");
  r->close(d, rec);
  EXPECT_EQ(rec.out, "abc[gap 6]");
  EXPECT_EQ(c.get(Counter::tcp_reasm_gaps), 1u);
  EXPECT_EQ(c.get(Counter::tcp_reasm_gap_bytes), 6u);
  seg(10, "", tcp_flag::kFin);  // again: the end was heard
  EXPECT_EQ(rec.out, "abc[gap 6]");

  const auto run = [&](std::initializer_list<std::pair<uint32_t, std::string>> segs, uint8_t last_flags) {
    d = TcpDirection{};
    rec.out.clear();
    seg(0, "", tcp_flag::kSyn);
    std::size_t i = 0;
    for (const auto& [seq, text] : segs) seg(seq, text, ++i == segs.size() ? last_flags : 0);
    r->close(d, rec);
    return rec.out;
  };
  EXPECT_EQ(run({{1, "abc"}, {8, "xy"}}, tcp_flag::kFin), "abc[gap 4]xy");
  EXPECT_EQ(run({{1, "abc"}, {10, "xyz"}, {20, ""}}, tcp_flag::kFin), "abc[gap 6]xyz[gap 7]");
  EXPECT_EQ(run({{1, "abc"}, {4, "de"}}, tcp_flag::kFin), "abcde");
  EXPECT_EQ(run({{1, "abc"}, {10, ""}}, tcp_flag::kRst), "abc");
  EXPECT_EQ(run({{1, "abc"}, {1u << 30, ""}}, tcp_flag::kFin), "abc");
}

// The peer acknowledging bytes held behind a hole: the hole's bytes passed the capture
// point and were lost there, and the hole is given up then, not at the close. The
// bytes held come with their own packet's time.
struct TimedRecorder : Recorder {
  uint64_t clock = 0, cur = 0;
  void tick(uint64_t t) { clock = cur = t; }
  uint64_t now() const override { return clock; }
  void at(uint64_t t) override { cur = t; }
  void on_data(const uint8_t* d, uint32_t n) override {
    Recorder::on_data(d, n);
    if (cur != clock) out += "@" + std::to_string(cur);
  }
};

// One segment of d at time t.
void feed(TcpReassembler& r, TcpDirection& d, TimedRecorder& rec, uint64_t t, uint32_t seq,
          const std::string& s, uint8_t flags = 0) {
  rec.tick(t);
  r.segment(d, seq, flags, reinterpret_cast<const uint8_t*>(s.data()), static_cast<uint32_t>(s.size()), rec);
}

TEST(TcpReassemblyAck, AcknowledgedHoleIsGivenUpAtOnce) {
  Counters c;
  TcpReassembler r(TcpLimits{}, c);
  TcpDirection d;
  TimedRecorder rec;
  auto seg = [&](uint64_t t, uint32_t seq, const std::string& s, uint8_t flags = 0) {
    feed(r, d, rec, t, seq, s, flags);
  };
  seg(1, 0, "", tcp_flag::kSyn);
  seg(1, 1, "abc");
  seg(2, 10, "xyz");  // bytes 4-9 not seen (yet)
  rec.tick(3);
  r.ack(d, 8, rec);  // short of the bytes held: 4-7 may still come
  EXPECT_EQ(rec.out, "abc");
  seg(4, 4, "defg");
  EXPECT_EQ(rec.out, "abcdefg");
  rec.tick(5);
  r.ack(d, 11, rec);  // into the bytes held: 8-9 were lost
  EXPECT_EQ(rec.out, "abcdefg[gap 2]xyz@2");
  EXPECT_EQ(rec.cur, 5u);  // the packet's own time again after
  rec.tick(6);
  r.ack(d, 30, rec);  // past bytes not seen yet, none held: they may come late
  seg(7, 13, "mno");
  EXPECT_EQ(rec.out, "abcdefg[gap 2]xyz@2mno");
  EXPECT_EQ(c.get(Counter::tcp_reasm_acked_gaps), 1u);
  EXPECT_EQ(c.get(Counter::tcp_reasm_gap_bytes), 2u);
}

// A gap tells when the peer had all the lost bytes: the time of its acknowledgement of
// the hole's end where one came before the bytes held (a pipeline's client ACKs the lost
// replies, then sends its next batch), else that of the acknowledgement that gave the
// hole up; 0 where none tells (the connection's end).
TEST(TcpReassemblyAck, GapTellsWhenThePeerHadTheLostBytes) {
  Counters c;
  TcpReassembler r(TcpLimits{}, c);
  TimedRecorder rec;
  for (int earlier = 0; earlier < 3; ++earlier) {
    TcpDirection d;
    feed(r, d, rec, 1, 0, "", tcp_flag::kSyn);
    feed(r, d, rec, 1, 1, "abc");  // bytes 4-9 lost
    if (earlier == 1) {
      r.note_ack(d, 5, 2);   // part of the hole
      r.note_ack(d, 10, 3);  // all of it
      r.note_ack(d, 10, 4);  // again: not later
    }
    feed(r, d, rec, 5, 10, "xyz");
    rec.tick(6);
    if (earlier < 2) {
      r.ack(d, 13, rec);
      r.note_ack(d, 13, 6);
    } else {
      r.close(d, rec);
    }
    EXPECT_EQ(rec.gap_acked_ns, earlier == 1 ? 3u : earlier == 0 ? 6u : 0u) << earlier;
  }
}

// Both directions of one connection, writing to one log in the order the bytes reach
// their decoders: "c:" the client's, "s:" the server's, "|" an end.
struct TwoSides : ConnectionSinks {
  struct Side : TimedRecorder {
    std::string* log = nullptr;
    char tag = 0;
    void on_data(const uint8_t* d, uint32_t n) override {
      *log += std::string(1, tag) + ":" + std::string(reinterpret_cast<const char*>(d), n) + " ";
    }
    void on_gap(uint32_t n, uint64_t) override {
      *log += std::string(1, tag) + ":[gap " + std::to_string(n) + "] ";
    }
    void on_end() override { *log += std::string(1, tag) + ":| "; }
  };
  Counters c;
  TcpReassembler r{TcpLimits{}, c};
  TcpDirection dirs[2];
  Side side[2];
  std::string log;
  uint64_t reorder = 0;  // before_segment's reorder_ns
  StreamSink& dir(int k) override { return side[k]; }
  // syn: the connection seen from its handshake (else picked up mid-way).
  explicit TwoSides(bool syn = true) {
    side[0].log = side[1].log = &log;
    side[0].tag = 'c', side[1].tag = 's';
    if (!syn) return;
    packet(0, 1, 0, 99, 0, "", tcp_flag::kSyn);
    packet(1, 1, 0, 499, 0, "", tcp_flag::kSyn);
  }
  // One packet of side k at time t, as the worker takes it (max_wait: how long bytes
  // may wait for the other side's; 0 for 1000).
  void packet(int k, uint64_t t, uint64_t max_wait, uint32_t seq, uint32_t ack, const std::string& s,
              uint8_t flags = 0) {
    side[0].tick(t), side[1].tick(t);
    const uint8_t f = flags | (ack ? tcp_flag::kAck : 0);
    const auto len = static_cast<uint32_t>(s.size());
    ASSERT_TRUE(r.before_segment(dirs, k, {seq, ack, f, len, t}, *this, max_wait ? max_wait : 1000, reorder));
    r.segment(dirs[k], seq, f, reinterpret_cast<const uint8_t*>(s.data()), len, side[k]);
    r.after_segment(dirs, k, *this);
  }
};

// A capture point that takes a connection's packets from several queues or links may
// write them a place or two out of order: a request before the answer to the one before
// it, that answer after the next. A segment that begins past bytes the other side's held
// segments wait for, or an acknowledgement of bytes behind a hole, says those bytes were
// sent; they are taken as lost only once reorder_ns of capture time passed without them,
// and segments that answer bytes held for the other side wait for them in turn.
TEST(TcpReassemblyWait, PacketsAPlaceOrTwoOutOfOrderReachTheDecodersAsSent) {
  {
    TwoSides w;  // A's request, B's request, B's answer, A's answer
    w.reorder = 100;
    w.packet(0, 1, 0, 100, 500, "reqA");
    w.packet(0, 2, 0, 104, 505, "reqB");  // acknowledges A's answer, not seen: waits
    w.packet(1, 3, 0, 505, 108, "ansB");  // past A's answer: held, waits for reqB
    EXPECT_EQ(w.log, "c:reqA ");
    w.packet(1, 4, 0, 500, 104, "ansA-");
    EXPECT_EQ(w.log, "c:reqA s:ansA- c:reqB s:ansB ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_gaps), 0u);
  }
  {
    TwoSides w;  // A's answer lost: after reorder_ns, a gap, then the rest in order
    w.reorder = 100;
    w.packet(0, 1, 0, 100, 500, "reqA");
    w.packet(0, 2, 0, 104, 505, "reqB");
    w.packet(1, 3, 0, 505, 108, "ansB");
    w.packet(0, 50, 0, 108, 509, "");  // acknowledges ansB: evidence, not yet loss
    EXPECT_EQ(w.log, "c:reqA ");
    w.packet(0, 200, 0, 108, 509, "");  // 100 ns on: A's answer was lost (as at once below)
    EXPECT_EQ(w.log, "c:reqA c:reqB s:[gap 5] s:ansB ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_gaps), 1u);
  }
  {
    TwoSides w;  // the same at once without the grace, as before it
    w.packet(0, 1, 0, 100, 500, "reqA");
    w.packet(0, 2, 0, 104, 505, "reqB");
    w.packet(1, 3, 0, 505, 108, "ansB");
    EXPECT_EQ(w.log, "c:reqA c:reqB s:[gap 5] s:ansB ");
  }
}

// A connection picked up mid-way: a side's first bytes wait for the other side's next
// packet to tell whether the bytes they acknowledge come a place later (then those go
// first) or came before the capture began (then they go at once, no loss told). A bare
// acknowledgement of a side none of whose bytes were seen says where they go on; it lets
// out what answers bytes before it once reorder_ns passed. While a side's first bytes
// wait, a segment of it numbered before them begins its stream (no retransmission).
TEST(TcpReassemblyWait, ConnectionPickedUpMidwayReadsAnAnswerAfterTheRequestWrittenAfterIt) {
  {
    TwoSides w(false);  // the answer first, then the request it answers
    w.reorder = 100;
    w.packet(1, 1, 0, 500, 104, "ans1");
    EXPECT_EQ(w.log, "");
    w.packet(0, 2, 0, 100, 504, "req1");
    EXPECT_EQ(w.log, "c:req1 s:ans1 ");
    w.packet(0, 3, 0, 104, 504, "req2");
    w.packet(1, 4, 0, 504, 108, "ans2");
    EXPECT_EQ(w.log, "c:req1 s:ans1 c:req2 s:ans2 ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_gaps), 0u);
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_wait_given_up), 0u);
  }
  {
    TwoSides w(false);  // an answer to a request before the capture, then a request
    w.reorder = 100;
    w.packet(1, 1, 0, 500, 104, "old");
    w.packet(0, 2, 0, 104, 503, "req2");
    EXPECT_EQ(w.log, "s:old c:req2 ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_gaps), 0u);
  }
  {
    TwoSides w(false);  // answers to an old request and to one written two places late
    w.reorder = 100;
    w.packet(1, 1, 0, 500, 100, "old");
    w.packet(1, 2, 0, 503, 110, "ans1");
    w.packet(0, 3, 0, 110, 507, "req2");  // past what ans1 waits for: evidence, not loss
    EXPECT_EQ(w.log, "s:old ");
    w.packet(0, 4, 0, 100, 503, "req1-part2");
    EXPECT_EQ(w.log, "s:old c:req1-part2 s:ans1 c:req2 ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_gaps), 0u);
  }
  {
    TwoSides w(false);  // a request's second segment first, then its first: one stream
    w.reorder = 100;
    w.packet(0, 1, 0, 104, 500, "body");
    w.packet(0, 2, 0, 100, 500, "head");  // before the first seen, while that waits
    w.packet(1, 3, 0, 500, 108, "ans");
    EXPECT_EQ(w.log, "c:head c:body s:ans ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_retransmissions), 0u);
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_gaps), 0u);
  }
  {
    TwoSides w(false);  // a first answer's wait runs out; the next answer waits again
    w.reorder = 100;
    w.packet(1, 1, 0, 500, 104, "old");
    w.packet(1, 5000, 0, 503, 110, "ans1");  // 'old' let out (it answered bytes before the capture)
    EXPECT_EQ(w.log, "s:old ");
    w.packet(0, 5001, 0, 104, 507, "req1..");
    EXPECT_EQ(w.log, "s:old c:req1.. s:ans1 ");
  }
  {
    TwoSides w(false);  // the client's bare acknowledgement first: the answer goes at once
    w.reorder = 100;
    w.packet(0, 1, 0, 104, 500, "");
    w.packet(1, 2, 0, 500, 104, "old");
    EXPECT_EQ(w.log, "s:old ");
  }
  {
    TwoSides w(false);  // a bare acknowledgement after: the answer goes once reorder_ns passed
    w.reorder = 100;
    w.packet(1, 1, 0, 500, 104, "old");
    w.packet(0, 2, 0, 104, 503, "");
    EXPECT_EQ(w.log, "");
    w.packet(0, 150, 0, 104, 503, "");
    EXPECT_EQ(w.log, "s:old ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_gaps), 0u);
  }
}

// A side whose wait for the other side's bytes ran out (those were lost) waits no more,
// but for bytes of the other side the capture has shown, held behind a hole: an answer
// to them goes out after them. The bytes the wait was for are lost once it runs out:
// the hole is given up then, and what was held behind it goes.
TEST(TcpReassemblyWait, AfterAWaitRanOutAnAnswerStillFollowsTheHeldBytesItAnswers) {
  TwoSides w;
  w.reorder = 100;
  w.packet(0, 1, 0, 100, 500, "req1");
  w.packet(1, 2, 0, 500, 104, "ans1");
  // req2 (104-107) lost
  w.packet(1, 3, 0, 504, 108, "ans2");     // waits for req2
  w.packet(0, 2000, 0, 108, 508, "req3");  // the wait runs out: req2 lost, then req3
  EXPECT_EQ(w.log, "c:req1 s:ans1 s:ans2 c:[gap 4] c:req3 ");
  w.packet(1, 2001, 0, 508, 112, "ans3");  // answers req3
  EXPECT_EQ(w.log, "c:req1 s:ans1 s:ans2 c:[gap 4] c:req3 s:ans3 ");
}

// A capture point that writes a connection's packets from several queues may write its
// FIN before the last bytes: the FIN waits for them and the end follows them. Bytes the
// capture lost before a FIN: a gap, then the end, once the other side acknowledges up to
// the FIN (or the connection ends).
TEST(TcpReassemblyWait, FinWrittenBeforeItsBytesWaitsForThem) {
  {
    TwoSides w;
    w.packet(0, 1, 0, 100, 500, "GET");
    w.packet(1, 2, 0, 505, 103, "", tcp_flag::kFin);  // the FIN of 500-504's bytes, first
    EXPECT_EQ(w.log, "c:GET ");
    w.packet(1, 3, 0, 500, 103, "HELLO");
    EXPECT_EQ(w.log, "c:GET s:HELLO s:| ");
    w.packet(0, 4, 0, 103, 506, "");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_gaps), 0u);
  }
  {
    TwoSides w;  // the bytes lost: the client's acknowledgement of the FIN tells
    w.packet(0, 1, 0, 100, 500, "GET");
    w.packet(1, 2, 0, 505, 103, "", tcp_flag::kFin);
    w.packet(0, 3, 0, 103, 506, "");
    EXPECT_EQ(w.log, "c:GET s:[gap 5] s:| ");
  }
  {
    TwoSides w;  // the bytes lost, no acknowledgement: the connection's end tells
    w.packet(0, 1, 0, 100, 500, "GET");
    w.packet(1, 2, 0, 503, 103, "HEL");  // held behind bytes 500-502
    w.packet(1, 3, 0, 506, 103, "", tcp_flag::kFin);
    EXPECT_EQ(w.log, "c:GET ");
    w.r.close(w.dirs[1], w.side[1]);
    EXPECT_EQ(w.log, "c:GET s:[gap 3] s:HEL s:| ");
    EXPECT_EQ(w.r.buffered_total(), 0u);
  }
}

// A capture point that merges the two directions may write an answer before the request
// it acknowledges. The answer's bytes (its FIN too) wait until the request's reach what
// they acknowledge, and its decoder reads the two in the order they were sent.
TEST(TcpReassemblyWait, BytesAcknowledgingUnseenPeerBytesWaitForThem) {
  TwoSides w;
  w.packet(0, 2, 0, 100, 500, "GET1");
  w.packet(1, 3, 0, 500, 104, "R1");
  w.packet(1, 4, 0, 502, 108, "R2a");  // answers GET2, not yet seen
  w.packet(1, 5, 0, 505, 108, "R2b", tcp_flag::kFin);
  EXPECT_EQ(w.log, "c:GET1 s:R1 ");
  w.packet(0, 6, 0, 104, 502, "GE");  // part of it: still short of 108
  w.packet(0, 7, 0, 106, 502, "T2");
  EXPECT_EQ(w.log, "c:GET1 s:R1 c:GE c:T2 s:R2a s:R2b s:| ");
  EXPECT_EQ(w.c.get(Counter::tcp_reasm_waited_for_peer), 1u);
  EXPECT_EQ(w.c.get(Counter::tcp_reasm_wait_given_up), 0u);
  EXPECT_EQ(w.c.get(Counter::tcp_reasm_gaps), 0u);
  EXPECT_EQ(w.r.buffered_total(), 0u);
}

// Each held segment waits for what its own acknowledgement says: bytes that fill a hole
// before a waiting segment, acknowledging nothing unseen, go out at once; a later
// segment acknowledging more waits on after the first is let out.
TEST(TcpReassemblyWait, EachSegmentWaitsForWhatItAcknowledges) {
  TwoSides w;
  w.packet(0, 2, 0, 100, 500, "GET1");
  w.packet(1, 3, 0, 500, 104, "R1");
  w.packet(1, 4, 0, 504, 108, "R2");  // after a hole, answering GET2
  w.packet(1, 5, 0, 502, 104, "xx");  // the hole, answering nothing unseen
  EXPECT_EQ(w.log, "c:GET1 s:R1 s:xx ");
  w.packet(1, 6, 0, 506, 112, "R3");  // answering GET3
  w.packet(0, 7, 0, 104, 502, "GET2");
  EXPECT_EQ(w.log, "c:GET1 s:R1 s:xx c:GET2 s:R2 ");
  w.packet(0, 8, 0, 108, 506, "GET3");
  EXPECT_EQ(w.log, "c:GET1 s:R1 s:xx c:GET2 s:R2 c:GET3 s:R3 ");
  EXPECT_EQ(w.c.get(Counter::tcp_reasm_wait_given_up), 0u);
  EXPECT_EQ(w.r.buffered_total(), 0u);
}

// A long answer sent within the reorder time of the acknowledgement that showed the
// asking side's loss: its bytes wait for the lost ones until the wait would hold more
// than it may. The loss is then acted on first (the asking side's gap and the bytes
// held after it), and the answer goes out after them, as sent. Before, the wait was
// given up and the answer reached its decoder before the request it answers (a live
// memcached capture: every later pair of the connection one off).
TEST(TcpReassemblyWait, AnswerPastWhatAWaitHoldsGoesAfterTheLostBytes) {
  TwoSides w;
  w.reorder = 10;
  w.packet(0, 2, 0, 100, 500, "GET1");
  w.packet(0, 3, 0, 112, 500, "TAIL");  // 104..112 lost
  w.packet(1, 4, 0, 500, 116, "");      // acknowledges them: loss, acted on from t=14
  const std::string chunk(64 * 1024, 'a');
  for (uint32_t i = 0; i < 6; ++i) w.packet(1, 5, 0, 500 + i * 65536, 116, chunk);
  const std::size_t gap = w.log.find("c:[gap 8] c:TAIL "), answer = w.log.find("s:");
  ASSERT_NE(gap, std::string::npos) << w.log.substr(0, 200);
  ASSERT_NE(answer, std::string::npos);
  EXPECT_LT(gap, answer) << w.log.substr(0, 200);
  EXPECT_EQ(w.log.rfind("c:GET1 ", 0), 0u);
}

// The bytes waited for never come: lost to the capture. A later segment of the peer
// past them (the hole they leave, a gap), the peer acknowledging the bytes that wait,
// the time a capture point could reorder running out, the connection's end: each lets
// the waiting bytes go. After a wait ran out of time, that side waits no more.
TEST(TcpReassemblyWait, BytesWaitedForThatNeverComeAreLost) {
  {
    TwoSides w;  // the peer's next bytes come past the hole
    w.packet(1, 2, 0, 500, 104, "R1");
    w.packet(0, 3, 0, 104, 500, "GET2");
    EXPECT_EQ(w.log, "s:R1 c:[gap 4] c:GET2 ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_gaps), 1u);
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_wait_given_up), 1u);
  }
  {
    TwoSides w;  // the bytes waited for come out of order: the first of them late
    w.packet(0, 2, 0, 100, 500, "GET1");
    w.packet(1, 3, 0, 500, 110, "R1");
    w.packet(0, 4, 0, 106, 500, "T2..");
    EXPECT_EQ(w.log, "c:GET1 ");
    w.packet(0, 5, 0, 104, 500, "GE");
    EXPECT_EQ(w.log, "c:GET1 c:GE c:T2.. s:R1 ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_gaps), 0u);
  }
  {
    TwoSides w;  // the peer acknowledges the bytes that wait
    w.packet(1, 2, 0, 500, 104, "R1");
    w.packet(0, 3, 0, 104, 502, "");
    EXPECT_EQ(w.log, "s:R1 c:[gap 4] ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_wait_given_up), 1u);
    w.packet(0, 4, 0, 104, 502, "GET2");
    EXPECT_EQ(w.log, "s:R1 c:[gap 4] c:GET2 ");
  }
  {
    TwoSides w;  // out of time
    w.packet(1, 2, 10, 500, 104, "R1");
    w.packet(1, 5, 10, 502, 104, "R2");
    EXPECT_EQ(w.log, "");
    w.packet(1, 13, 10, 504, 104, "R3");
    EXPECT_EQ(w.log, "s:R1 s:R2 c:[gap 4] s:R3 ");  // what they waited for, lost
    EXPECT_TRUE(w.dirs[1].no_wait);
    w.packet(1, 14, 10, 506, 110, "R4");  // no second wait
    EXPECT_EQ(w.log, "s:R1 s:R2 c:[gap 4] s:R3 s:R4 ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_waited_for_peer), 1u);
  }
  {
    // Out of time, and a copy of the bytes waited for written later still (a
    // retransmission after the answer): passed over. Read, it was a request after the
    // answer it had, and the next answer went to it.
    TwoSides w;
    w.packet(1, 1, 0, 500, 104, "ans1");
    w.packet(0, 2000, 0, 100, 500, "req1");  // past the wait (1000)
    w.packet(0, 2001, 0, 104, 504, "req2");
    w.packet(1, 2002, 0, 504, 108, "ans2");
    EXPECT_EQ(w.log, "s:ans1 c:[gap 4] c:req2 s:ans2 ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_retransmissions), 1u);
  }
  {
    // The connection ends: the bytes the answer acknowledged, none of the client's
    // after them, lost (a gap before the end, not a message the end cut).
    TwoSides w;
    w.packet(1, 2, 0, 500, 104, "R1");
    w.r.close(w.dirs[0], w.side[0]);
    w.r.close(w.dirs[1], w.side[1]);
    EXPECT_EQ(w.log, "c:[gap 4] s:R1 ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_acked_gaps), 1u);
    EXPECT_EQ(w.r.buffered_total(), 0u);
  }
  {
    TwoSides w;  // one side only seen: nothing to wait for
    w.dirs[0] = TcpDirection{};
    w.packet(1, 2, 0, 500, 104, "R1");
    EXPECT_EQ(w.log, "s:R1 ");
    EXPECT_EQ(w.c.get(Counter::tcp_reasm_waited_for_peer), 0u);
  }
}

TEST_F(TcpReassembly, AcknowledgementsNotTakenAsLoss) {
  seg(0, "", tcp_flag::kSyn);
  seg(1, "abc");
  seg(10, "xyz");
  r->ack(d, 4u + limits.window_bytes + 1, rec);  // further ahead than the window: not believed
  r->ack(d, 2, rec);                             // behind: old
  EXPECT_EQ(rec.out, "abc");
  seg(4, "defghi");
  EXPECT_EQ(rec.out, "abcdefghixyz");
  seg(20, "late");  // held; then the FIN, and the connection's end gives its hole up
  seg(24, "", tcp_flag::kFin);
  r->close(d, rec);
  EXPECT_EQ(rec.out, "abcdefghixyz[gap 7]late");
  r->ack(d, 25, rec);     // the FIN's sequence number: nothing is held any more
  TcpDirection unsynced;  // nothing seen of the direction: nothing to lose
  r->ack(unsynced, 1000, rec);
  EXPECT_EQ(rec.out, "abcdefghixyz[gap 7]late");
  EXPECT_EQ(c.get(Counter::tcp_reasm_acked_gaps), 0u);
}

TEST_F(TcpReassembly, MidStreamStart) {
  seg(5000, "late");
  seg(5004, "comer");
  EXPECT_EQ(rec.out, "latecomer");
  EXPECT_EQ(c.get(Counter::tcp_reasm_midstream), 1u);
}

// A connection picked up mid-stream: the other side's first acknowledgement seen says
// where this side's stream stood. Bytes between it and the first segment seen were sent
// and not captured (a response whose head passed before the capture saw the flow): the
// segment waits behind that hole, which an ACK past it gives up as a gap before its
// bytes. tshark numbers such a stream from the same acknowledgement.
TEST(TcpReassemblyAck, MidStreamStartsWhereThePeerHadAcknowledged) {
  Counters c;
  TcpReassembler r(TcpLimits{}, c);
  TimedRecorder rec;
  TcpDirection d;
  r.note_ack(d, 1001, 1);  // the client's request acknowledges the server's bytes to 1001
  r.note_ack(d, 2000, 2);  // a later one: the first is where the stream stood
  feed(r, d, rec, 3, 1101, "body tail");
  EXPECT_EQ(rec.out, "");  // bytes 1001-1100 not seen
  feed(r, d, rec, 4, 1110, "HTTP/1.1 200 OK");
  rec.tick(5);
  r.ack(d, 1125, rec);
  EXPECT_EQ(rec.out, "[gap 100]body tail@3HTTP/1.1 200 OK@4");
  EXPECT_EQ(c.get(Counter::tcp_reasm_midstream), 1u);

  // The acknowledgement at or past the first byte seen, further back than the window, or
  // 0 (what generators such as scapy leave in the segments they build): the stream
  // starts at that byte, as without one.
  for (const uint32_t acked : {5000u, 7000u, 5000u - TcpLimits{}.window_bytes - 1, 0u}) {
    TcpDirection e;
    TimedRecorder out;
    r.note_ack(e, acked, 1);
    feed(r, e, out, 2, 5000, "late");
    EXPECT_EQ(out.out, "late") << acked;
  }
  // One noted before the direction's SYN tells nothing.
  TcpDirection f;
  TimedRecorder out;
  r.note_ack(f, 10, 1);
  feed(r, f, out, 2, 99, "", tcp_flag::kSyn);
  feed(r, f, out, 2, 100, "from the start");
  EXPECT_EQ(out.out, "from the start");
}

TEST_F(TcpReassembly, SequenceNumbersWrap) {
  seg(0xFFFFFFF0u, "", tcp_flag::kSyn);
  seg(0xFFFFFFF1u, std::string(15, 'a'));  // ends exactly at 0
  seg(5, "ccc");                           // ahead across the wrap
  seg(0, "bbbbb");
  EXPECT_EQ(rec.out, std::string(15, 'a') + "bbbbbccc");
}

// A segment that begins beyond the window is believed (the holes before it become gaps)
// once something says the bytes before it were sent: a segment that goes on from it
// (the stream taken up again past a loss larger than the window, one side seen), or the
// other side's acknowledgement reaching it. Alone it is passed over, counted: no stack
// takes data beyond its window, and one injected so made the stream skip its real bytes
// (a MySQL connection of 157 transactions lost 156 to one such segment).
TEST(TcpLimitsTest, BeyondTheWindowTheHoleIsGivenUpOnceBelieved) {
  Counters c;
  TcpLimits limits;
  limits.window_bytes = 100;
  TcpReassembler r(limits, c);
  TcpDirection d;
  Recorder rec;
  auto seg = [&](TcpDirection& dir, uint32_t seq, const std::string& s) {
    r.segment(dir, seq, 0, reinterpret_cast<const uint8_t*>(s.data()), static_cast<uint32_t>(s.size()), rec);
  };
  seg(d, 1000, "a");
  seg(d, 1050, "b");  // within the window: held
  seg(d, 1500, "c");  // beyond, nothing else: passed over
  EXPECT_EQ(rec.out, "a");
  EXPECT_EQ(c.get(Counter::tcp_reasm_beyond_window), 1u);
  seg(d, 1501, "d");  // goes on from it: both holes become gaps
  EXPECT_EQ(rec.out, "a[gap 49]b[gap 450]d");
  EXPECT_EQ(c.get(Counter::tcp_reasm_window_exceeded), 1u);
  EXPECT_EQ(d.buffered, 0u);

  // The other side acknowledged past it: believed at once.
  TcpDirection e;
  rec.out.clear();
  seg(e, 5000, "a");
  r.note_ack(e, 5600, 1);
  seg(e, 5500, "c");
  EXPECT_EQ(rec.out, "a[gap 499]c");

  // Injected far ahead, the stream going on in order between: nothing skipped, and an
  // injected segment that goes on from the last is not believed (the stream's own bytes
  // came between them).
  TcpDirection f;
  rec.out.clear();
  seg(f, 9000, "a");
  seg(f, 9001 + (1u << 30), "injected");
  seg(f, 9001, "b");
  seg(f, 9009 + (1u << 30), "again");
  seg(f, 9002, "c");
  EXPECT_EQ(rec.out, "abc");
  EXPECT_EQ(c.get(Counter::tcp_reasm_beyond_window), 3u);
}

TEST(TcpLimitsTest, StreamCapForcesTheGap) {
  Counters c;
  TcpLimits limits;
  limits.stream_bytes = 4000;
  TcpReassembler r(limits, c);
  TcpDirection d;
  Recorder rec;
  const std::string block(1000, 'x');
  auto seg = [&](uint32_t seq, const std::string& s) {
    r.segment(d, seq, 0, reinterpret_cast<const uint8_t*>(s.data()), static_cast<uint32_t>(s.size()), rec);
  };
  seg(0, "s");
  for (uint32_t i = 0; i < 6; ++i) seg(10 + i * 1000, block);  // hole at 1..9 never fills
  EXPECT_EQ(c.get(Counter::tcp_reasm_stream_full), 1u);
  EXPECT_EQ(rec.out.substr(0, 9), "s[gap 9]x");
  EXPECT_LE(d.buffered, 4000u);
  r.close(d, rec);
  EXPECT_EQ(rec.out.size(), 1 + std::string("[gap 9]").size() + 6000);
}

TEST(TcpLimitsTest, PoolExhaustionIsCountedAndReleased) {
  Counters c;
  TcpLimits limits;
  limits.total_bytes = 16 * TcpReassembler::kNodeBytes;  // 16 nodes for the worker
  TcpReassembler r(limits, c);
  TcpDirection a, b;
  Recorder ra, rb;
  const std::string block(TcpReassembler::kNodeBytes, 'y');
  for (uint32_t i = 0; i < 16; ++i)
    r.segment(a, 100 + i * block.size(), 0, reinterpret_cast<const uint8_t*>(block.data()),
              static_cast<uint32_t>(block.size()), ra);
  // a: first segment delivered (mid-stream start), then nothing pending.
  r.segment(a, 0, 0, nullptr, 0, ra);
  TcpDirection hole;
  Recorder rh;
  r.segment(hole, 0, 0, reinterpret_cast<const uint8_t*>("z"), 1, rh);
  for (uint32_t i = 0; i < 20; ++i)
    r.segment(hole, 10 + i * block.size(), 0, reinterpret_cast<const uint8_t*>(block.data()),
              static_cast<uint32_t>(block.size()), rh);
  EXPECT_GE(c.get(Counter::tcp_reasm_pool_full), 1u);
  r.release(hole);
  EXPECT_EQ(r.buffered_total(), 0u);
  (void)b;
  (void)rb;
}

}  // namespace
}  // namespace tapbeat
