// A worker with decoders on, fed TCP segments of hand-written conversations, and the
// event lines it published. Shared by the decoder tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/decoder_set.hpp"
#include "engine/worker.hpp"
#include "packet_builder.hpp"

namespace tapbeat::test {

struct Conn {
  uint16_t client_port = 40000, server_port = 80;
  uint32_t cseq = 1000, sseq = 5000;
};

struct StreamTest {
  AgentInfo agent{"host", "host", "id", "eph", "0.0.0"};
  DecoderSet decoders;
  std::unique_ptr<Worker> w;
  std::vector<Bytes> keep;
  uint64_t ts = 1'000'000'000'000;

  // After the decoders are enabled.
  void start() {
    WorkerSettings s;
    s.agent = &agent;
    s.flows_enabled = false;
    s.event_chunks = 4;
    s.event_chunk_bytes = 256 * 1024;
    s.decoders = &decoders.plan();
    s.tcp_transaction_timeout_ns = decoders.tcp_timeout_ns();
    w = std::make_unique<Worker>(s);
  }
  // A segment with ACK set acknowledges what the other side has sent so far (its
  // next sequence number in `c`), as a peer that received it all does.
  void frame(bool from_client, const Conn& c, uint8_t flags, uint32_t seq, std::string_view payload) {
    Frame f;
    const bool acks = flags & tcp_flag::kAck;
    if (from_client)
      f.eth(0x0800, 1, 2)
          .ipv4("10.0.0.1", "10.0.0.2", 6)
          .tcp(c.client_port, c.server_port, flags, seq, acks ? c.sseq : 0);
    else
      f.eth(0x0800, 2, 1)
          .ipv4("10.0.0.2", "10.0.0.1", 6)
          .tcp(c.server_port, c.client_port, flags, seq, acks ? c.cseq : 0);
    f.text(payload);
    push(f);
  }
  uint32_t snap = 0;  // the capture's snap length: frames cut to it (0: whole)
  // The frame, a millisecond after the previous one.
  void push(Frame& f) {
    keep.push_back(f.finish().b);
    ts += 1'000'000;
    const auto size = static_cast<uint32_t>(keep.back().size());
    RawPacket p{keep.back().data(), snap && size > snap ? snap : size, size, ts, 0, link_type::kEthernet};
    w->process({&p, 1});
  }
  // One UDP datagram from src:sport to dst:dport.
  void datagram(const char* src, uint16_t sport, const char* dst, uint16_t dport, std::string_view payload) {
    Frame f;
    f.eth(0x0800, 1, 2).ipv4(src, dst, 17).udp(sport, dport).text(payload);
    push(f);
  }
  void handshake(Conn& c) {
    frame(true, c, tcp_flag::kSyn, c.cseq++, "");
    frame(false, c, tcp_flag::kSyn | tcp_flag::kAck, c.sseq++, "");
  }
  void client(Conn& c, std::string_view s) {
    frame(true, c, tcp_flag::kAck | tcp_flag::kPsh, c.cseq, s);
    c.cseq += static_cast<uint32_t>(s.size());
  }
  void server(Conn& c, std::string_view s) {
    frame(false, c, tcp_flag::kAck | tcp_flag::kPsh, c.sseq, s);
    c.sseq += static_cast<uint32_t>(s.size());
  }
  // Bytes a side sent that the capture lost: their sequence numbers are used, nothing
  // is seen; the other side's next segment acknowledges them.
  static void lose(bool from_client, Conn& c, std::string_view s) {
    (from_client ? c.cseq : c.sseq) += static_cast<uint32_t>(s.size());
  }
  // Takes the events of the chunks filled so far (a test with more events than the
  // chunks hold drains them as it goes); finish() returns them with the rest.
  void drain() {
    while (EventChunk* ch = w->events().take_full()) {
      std::string_view s(ch->data, ch->len);
      for (std::size_t start = 0; start < s.size();) {
        const std::size_t nl = s.find('\n', start);
        drained.emplace_back(s.substr(start, nl - start));
        start = nl + 1;
      }
      w->events().recycle(ch);
    }
  }
  std::vector<std::string> drained;
  std::vector<std::string> finish() {
    w->finish();
    drain();
    return std::move(drained);
  }
  uint64_t count(Counter c) const { return w->counters().get(c); }
  // A counter by its stats name (a protocol's: "http.transactions").
  uint64_t count(std::string_view name) const { return w->counters().get(index_of(name)); }
  static std::size_t index_of(std::string_view name) {
    const int i = counter_index(name);
    if (i < 0) throw std::invalid_argument("no counter named " + std::string(name));
    return static_cast<std::size_t>(i);
  }
};

// One connection through segments lost to the capture, each acknowledged by the other
// side (the next segment held behind the hole until then): exchange 1 whole; 2's
// response lost whole; 3; 4's response without its first `cut` bytes; 5; 6's query
// lost; 7; 8.
template <class Harness, class Query, class Response>
inline void converse_with_losses(Harness& h, Query query, Response response, std::size_t cut) {
  for (int i = 1; i <= 8; ++i) {
    const std::string q = query(i), r = response(i);
    if (i == 6)
      Harness::lose(true, h.conn, q);
    else
      h.client(q);
    if (i == 2) {
      Harness::lose(false, h.conn, r);
    } else if (i == 4) {
      Harness::lose(false, h.conn, r.substr(0, cut));
      h.server(r.substr(cut));
    } else {
      h.server(r);
    }
  }
}

inline bool contains(const std::string& s, const std::string& part);

// The events of converse_with_losses where responses name their request (by id): the
// exchanges 1-8 but 6 (its request lost), 2 and 4 unanswered with status Error, the
// others carrying `answer(i)`. `number` finds an event's exchange number.
template <class Number, class Answer>
inline void expect_losses_paired_by_id(const std::vector<std::string>& ev, Number number, Answer answer) {
  ASSERT_EQ(ev.size(), 7u);
  for (const std::string& e : ev) {
    const int i = number(e);
    ASSERT_TRUE(i >= 1 && i <= 8 && i != 6) << e;
    const bool lost = i == 2 || i == 4;
    EXPECT_EQ(contains(e, answer(i)), !lost) << e;
    EXPECT_EQ(contains(e, R"("status":"Error")"), lost) << e;
  }
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// n bytes from a seeded generator (a binary value's bytes), each of `alphabet` values
// from `first` on (256 from 0: any byte).
inline std::string random_bytes(std::mt19937& rng, std::size_t n, unsigned alphabet = 256,
                                unsigned first = 0) {
  std::string v(n, '\0');
  for (char& c : v) c = static_cast<char>(rng() % alphabet + first);
  return v;
}

}  // namespace tapbeat::test
