#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "decode/sip/sip_decoder.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

using test::contains;

struct SipHarness : test::StreamTest {
  test::Conn conn{40000, 5060, 100, 900};
  explicit SipHarness(void (*tune)(SipSettings&) = nullptr) {
    const uint16_t ports[] = {5060};
    SipSettings& s = decoders.enable<SipSettings>("sip", ports);
    if (tune) tune(s);
    start();
  }
  void udp(const std::string& m) { datagram("10.0.0.1", 5060, "10.0.0.2", 5060, m); }
  void tcp(const std::string& s, std::size_t piece = 0) {
    if (piece == 0) piece = s.size();
    for (std::size_t at = 0; at < s.size(); at += piece) client(conn, s.substr(at, piece));
  }
};

const std::string kSdp =
    "v=0\r\no=alice 2890844526 2890844527 IN IP4 192.0.2.10\r\ns=Call\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    "m=audio 49170 RTP/AVP 0\r\nc=IN IP4 198.51.100.1\r\na=rtpmap:0 PCMU/8000\r\n";

std::string invite(const std::string& call_id = "a84b4c76e66710@pc33.example.com", int cseq = 314159) {
  return "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
         "Via: SIP/2.0/TCP pc33.example.com;branch=z9hG4bK776asdhds\r\n"
         "Max-Forwards: 70\r\n"
         "To: Bob <sip:bob@biloxi.example.com>\r\n"
         "From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
         "Call-ID: " +
         call_id + "\r\nCSeq: " + std::to_string(cseq) +
         " INVITE\r\n"
         "Contact: <sip:alice@pc33.example.com:5070;transport=TCP>;expires=3600;q=0.7\r\n"
         "Allow: INVITE, ACK, Cancel\r\n"
         "Content-Type: application/SDP\r\n"
         "Content-Length: " +
         std::to_string(kSdp.size()) + "\r\n\r\n" + kSdp;
}

TEST(Sip, InviteWithSdpAsPacketbeatWritesIt) {
  SipHarness h;
  h.handshake(h.conn);
  h.tcp(invite());
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  const std::string& e = ev[0];
  EXPECT_TRUE(contains(e, R"("action":"sip-invite")")) << e;
  EXPECT_TRUE(contains(e, R"("sequence":314159)")) << e;
  EXPECT_TRUE(contains(e, R"("type":["info","protocol"])")) << e;
  EXPECT_TRUE(contains(e, R"("iana_number":"6")")) << e;
  EXPECT_TRUE(contains(e, R"("method":"INVITE")")) << e;
  EXPECT_TRUE(contains(e, R"("call_id":"a84b4c76e66710@pc33.example.com")")) << e;
  EXPECT_TRUE(contains(e, R"("allow":["invite","ack","cancel"])")) << e;
  EXPECT_TRUE(contains(e, R"("content_type":"application/sdp")")) << e;
  EXPECT_TRUE(contains(
      e,
      R"("from":{"display_info":"Alice Liddell","tag":"1928301774","uri":{"host":"atlanta.example.com","original":"sip:alice@atlanta.example.com","scheme":"sip","username":"alice"}})"))
      << e;
  EXPECT_TRUE(contains(
      e,
      R"("contact":{"expires":3600,"q":0.7,"transport":"tcp","uri":{"host":"pc33.example.com","original":"sip:alice@pc33.example.com:5070;transport=TCP","port":5070,"scheme":"sip","username":"alice"}})"))
      << e;
  // The session's connection, not the medium's.
  EXPECT_TRUE(contains(e, R"("connection":{"address":"192.0.2.10","info":"IN IP4 192.0.2.10"})")) << e;
  EXPECT_TRUE(contains(
      e,
      R"("owner":{"ip":"192.0.2.10","session_id":"2890844526","username":"alice","version":"2890844527"})"))
      << e;
  EXPECT_TRUE(contains(
      e,
      R"("related":{"hosts":["biloxi.example.com","atlanta.example.com","pc33.example.com","192.0.2.10"],"ip":["192.0.2.10","10.0.0.1","10.0.0.2"],"user":["bob","alice"]})"))
      << e;
  EXPECT_TRUE(contains(e, R"("via":{"original":["SIP/2.0/TCP pc33.example.com;branch=z9hG4bK776asdhds"]})"))
      << e;
  EXPECT_EQ(h.count("sip.requests"), 1u);
}

// Compact header names, a folded header, keep-alives, two messages in one segment
// and the same bytes one at a time give the same events.
TEST(Sip, FramingOverTcpHoldsWhateverTheSegments) {
  const std::string msgs = "\r\n\r\n" + invite("one") +
                           "SIP/2.0 486 Busy Here\r\n"
                           "v: SIP/2.0/TCP pc33.example.com;branch=z9hG4bK776asdhds\r\n"
                           "t: Bob\r\n <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
                           "f: <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
                           "i: one\r\nCSeq: 314159 INVITE\r\nl: 0\r\n\r\n"
                           "\r\n" +
                           invite("two", 2);
  std::vector<std::string> whole, bytewise;
  {
    SipHarness h;
    h.handshake(h.conn);
    h.tcp(msgs);
    whole = h.finish();
    EXPECT_EQ(h.count("sip.keepalives"), 2u);
  }
  {
    SipHarness h;
    h.handshake(h.conn);
    h.tcp(msgs, 1);
    bytewise = h.finish();
  }
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_TRUE(contains(whole[1], R"("code":486)")) << whole[1];
  EXPECT_TRUE(contains(whole[1], R"("outcome":"failure")")) << whole[1];
  EXPECT_TRUE(contains(whole[1], R"("status":"Error")")) << whole[1];
  EXPECT_TRUE(contains(whole[1], R"("reason":"Busy Here")")) << whole[1];
  EXPECT_TRUE(contains(whole[1], R"("action":"sip-invite")")) << whole[1];
  EXPECT_TRUE(contains(whole[1], R"("to":{"display_info":"Bob","tag":"a6c85cf")")) << whole[1];  // unfolded
  EXPECT_TRUE(contains(whole[1], R"("call_id":"one")")) << whole[1];
  EXPECT_TRUE(contains(whole[2], R"("call_id":"two")")) << whole[2];
  ASSERT_EQ(bytewise.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    // Equal but for the capture times (one segment per byte moves them on).
    auto strip = [](std::string s) {
      for (const char* k : {"\"@timestamp\":\"", "\"end\":\"", "\"start\":\""}) {
        for (std::size_t at = s.find(k); at != std::string::npos; at = s.find(k, at + 1))
          s.erase(at + std::strlen(k), s.find('"', at + std::strlen(k)) - at - std::strlen(k));
      }
      return s;
    };
    EXPECT_EQ(strip(whole[i]), strip(bytewise[i]));
  }
}

// A body over the limit is left out and passed over; the next message is read.
TEST(Sip, LargeBodyIsSkippedAndTheConnectionGoesOn) {
  SipHarness h;
  h.handshake(h.conn);
  const std::string big(SipDecoder::kMaxBody + 10, 'x');
  h.tcp(
      "MESSAGE sip:bob@example.com SIP/2.0\r\nCall-ID: big\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
      "Content-Length: " +
          std::to_string(big.size()) + "\r\n\r\n" + big + invite("after"),
      1400);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("message":"SIP body not complete)")) << ev[0].substr(0, 600);
  EXPECT_TRUE(contains(ev[1], R"("call_id":"after")")) << ev[1];
  EXPECT_EQ(h.count("sip.body_too_large"), 1u);
}

// However many header lines a message has, every one is read: a Content-Length after
// 200 others frames the message over TCP (it had been left out with the lines past the
// 128th: the body was taken for the next message's start and the INVITE after it lost).
TEST(Sip, EveryHeaderLineCountsHoweverMany) {
  SipHarness h;
  h.handshake(h.conn);
  std::string many;
  for (int i = 0; i < 200; ++i) many += "X-Extra-" + std::to_string(i) + ": v\r\n";
  h.tcp("MESSAGE sip:bob@example.com SIP/2.0\r\n" + many +
            "Call-ID: many\r\nCSeq: 7 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello" +
            invite("after"),
        1400);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("call_id":"many")")) << ev[0].substr(0, 600);
  EXPECT_TRUE(contains(ev[0], R"("cseq":{"code":7,"method":"MESSAGE"})")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("call_id":"after")")) << ev[1];
  EXPECT_EQ(h.count("sip.violations"), 0u);
}

// A head past 64 KiB costs that message's lines past the limit and its body, not the
// connection: it is published for its first lines, noted, and the rest of it is read
// line by line to its empty line, where a Content-Length (in the first lines or after
// them; the last one, as a whole head is read) says how much body to pass over.
TEST(Sip, HeadPastTheLimitCostsThatMessageOnly) {
  for (const bool length_after_cut : {false, true}) {
    for (const std::size_t piece : {std::size_t{1400}, std::size_t{1}}) {
      if (piece == 1 && length_after_cut) continue;  // one byte a segment: once is enough
      SipHarness h;
      h.handshake(h.conn);
      const std::string body = "body bytes that are not a start line\r\nSIP/2.0 200 OK\r\n\r\n";
      const std::string length = "Content-Length: " + std::to_string(body.size()) + "\r\n";
      std::string big = "MESSAGE sip:bob@example.com SIP/2.0\r\nCall-ID: big-head\r\nCSeq: 9 MESSAGE\r\n";
      if (!length_after_cut) big += length;
      big += "X-Long: " + std::string(SipDecoder::kMaxHead + 5000, 'v') + "\r\n";
      for (int i = 0; i < 50; ++i) big += "X-After-" + std::to_string(i) + ": w\r\n";
      big += "X-Long-Too: " + std::string(3000, 'u') + "\r\n";
      if (length_after_cut) big += "l: " + std::to_string(body.size()) + "\r\n";
      h.tcp(big + "\r\n" + body + invite("after"), piece);
      const auto ev = h.finish();
      ASSERT_EQ(ev.size(), 2u) << length_after_cut << " " << piece;
      EXPECT_TRUE(contains(ev[0], R"("call_id":"big-head")")) << ev[0].substr(0, 300);
      EXPECT_TRUE(contains(ev[0], R"(SIP head over 64 KiB)")) << ev[0].substr(0, 300);
      EXPECT_TRUE(contains(ev[1], R"("call_id":"after")")) << ev[1];
      EXPECT_EQ(h.count("sip.head_too_large"), 1u);
      EXPECT_EQ(h.count("sip.violations"), 0u);
    }
  }
}

TEST(Sip, NotSipOnTheTcpPortIsLeft) {
  SipHarness h;
  h.handshake(h.conn);
  h.tcp("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(h.finish().empty());
  EXPECT_EQ(h.count("sip.violations"), 1u);
}

TEST(Sip, UdpMessagesAndTheirOptions) {
  {
    SipHarness h;
    const std::string reg =
        "REGISTER sip:registrar.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060\r\n"
        "From: <sip:carol@example.com>;tag=1\r\nTo: <sip:carol@example.com>\r\nCall-ID: r1\r\nCSeq: 2 "
        "REGISTER\r\n"
        "Authorization: Digest username=\"carol\", realm=\"example.com\", uri=\"sip:registrar.example.com\", "
        "response=\"abc\"\r\nContent-Length: 0\r\n\r\n";
    h.udp(reg);
    h.udp("\r\n\r\n");
    h.udp("not a sip message at all\r\n\r\n");
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_TRUE(contains(ev[0], R"("category":["network","authentication"])")) << ev[0];
    EXPECT_TRUE(contains(ev[0], R"("user":{"name":"carol"})")) << ev[0];
    EXPECT_TRUE(contains(
        ev[0], R"("auth":{"realm":"example.com","scheme":"Digest","uri":{"host":"registrar.example.com")"))
        << ev[0];
    EXPECT_TRUE(contains(ev[0], R"("iana_number":"17")")) << ev[0];
    EXPECT_TRUE(contains(ev[0], R"("original":"REGISTER sip:registrar)")) << ev[0];
    EXPECT_EQ(h.count("sip.keepalives"), 1u);
    EXPECT_EQ(h.count("sip.not_sip"), 1u);
  }
  {
    SipHarness h([](SipSettings& s) {
      s.parse_authorization = false;
      s.parse_body = false;
      s.keep_original = false;
      s.transports = kTransportUdp;
    });
    h.udp(invite());
    h.handshake(h.conn);
    h.tcp(invite("tcp"));  // transport_protocol: udp
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_FALSE(contains(ev[0], R"("sdp")")) << ev[0];
    EXPECT_FALSE(contains(ev[0], R"("original":"INVITE)")) << ev[0];
    EXPECT_FALSE(contains(ev[0], R"("call_id":"tcp")")) << ev[0];
  }
}

// After a hole in the stream the decoder finds the next start line.
TEST(Sip, GapResynchronisesOnTheNextStartLine) {
  SipHarness h;
  h.handshake(h.conn);
  h.tcp(invite("first"));
  h.conn.cseq += 100;  // 100 bytes never seen
  h.tcp("tail of a lost message\r\nmore\r\n" + invite("second"));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[1], R"("call_id":"second")")) << ev[1];
  EXPECT_EQ(h.count("sip.gaps"), 1u);
}

}  // namespace
}  // namespace tapbeat
