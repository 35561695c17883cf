#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "decode/nfs/nfs_decoder.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

using test::contains;

std::string u32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
std::string opaque(const std::string& s) {
  return u32(static_cast<uint32_t>(s.size())) + s + std::string((4 - s.size() % 4) % 4, '\0');
}

// An RPC call with AUTH_SYS credentials (uid 1000, gid 100, gids 100 and 27).
std::string call(uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc, const std::string& args) {
  const std::string cred = u32(1234) + opaque("client1") + u32(1000) + u32(100) + u32(2) + u32(100) + u32(27);
  return u32(xid) + u32(0) + u32(2) + u32(prog) + u32(vers) + u32(proc) + u32(1) + opaque(cred) + u32(0) +
         u32(0) + args;
}
std::string reply(uint32_t xid, uint32_t nfs_status, const std::string& rest = "") {
  return u32(xid) + u32(1) + u32(0) + u32(0) + u32(0) + u32(0) + u32(nfs_status) + rest;
}
std::string record(const std::string& m, bool last = true) {
  return u32(static_cast<uint32_t>(m.size()) | (last ? 0x80000000u : 0)) + m;
}

struct NfsHarness : test::StreamTest {
  test::Conn conn{800, 2049, 100, 900};
  explicit NfsHarness(uint64_t timeout_ns = 0) {
    const uint16_t ports[] = {2049};
    NfsSettings& s = decoders.enable<NfsSettings>("nfs", ports);
    if (timeout_ns) s.timeout_ns = timeout_ns;
    start();
  }
  void send(bool from_client, const std::string& s, std::size_t piece = 0) {
    if (piece == 0) piece = s.size();
    for (std::size_t at = 0; at < s.size(); at += piece)
      from_client ? client(conn, s.substr(at, piece)) : server(conn, s.substr(at, piece));
  }
};

TEST(Nfs, V3LookupOverTcpAsPacketbeatWritesIt) {
  for (std::size_t piece : {std::size_t{0}, std::size_t{1}}) {
    NfsHarness h;
    h.handshake(h.conn);
    h.send(true, record(call(0xa19a75d0, 100003, 3, 3, opaque("fh") + opaque("missing.txt"))), piece);
    h.send(false, record(reply(0xa19a75d0, 2, std::string(8, '\0'))), piece);
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 1u) << piece;
    const std::string& e = ev[0];
    EXPECT_TRUE(contains(e, R"("nfs":{"opcode":"LOOKUP","status":"NFSERR_NOENT","version":3})")) << e;
    EXPECT_TRUE(contains(
        e,
        R"("rpc":{"auth_flavor":"unix","cred":{"gid":100,"gids":[100,27],"machinename":"client1","stamp":1234,"uid":1000},"status":"success","xid":"a19a75d0"})"))
        << e;
    EXPECT_TRUE(contains(e, R"("action":"nfs.LOOKUP")")) << e;
    EXPECT_TRUE(contains(e, R"("protocol":"nfsv3")")) << e;
    EXPECT_TRUE(contains(e, R"("user":{"id":1000})")) << e;
    EXPECT_TRUE(contains(e, R"("group":{"id":100})")) << e;
    EXPECT_TRUE(contains(e, R"("client":{"bytes":)")) << e;
    EXPECT_TRUE(contains(e, R"("domain":"client1")")) << e;
    EXPECT_TRUE(contains(e, R"("status":"OK")")) << e;
    EXPECT_EQ(h.count("nfs.transactions"), 1u);
  }
}

// COMPOUND: SEQUENCE, PUTFH and GETATTR set the scene; READDIR is what it is for.
TEST(Nfs, V4CompoundReportsItsFirstClassOperation) {
  NfsHarness h;
  h.handshake(h.conn);
  const std::string ops = u32(4) + u32(53) + std::string(16, 's') + u32(1) + u32(0) + u32(0) + u32(0) +
                          u32(22) + opaque("filehandle") + u32(9) + u32(1) + u32(0x18) + u32(26) +
                          std::string(20, '\0');
  h.send(true, record(call(8, 100003, 4, 1, opaque("readdir") + u32(1) + ops)));
  h.send(false, record(reply(8, 0)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(
      ev[0], R"("nfs":{"minor_version":1,"opcode":"READDIR","status":"NFS_OK","tag":"readdir","version":4})"))
      << ev[0];
}

// A call over several fragments, a large WRITE passed over (a hole inside its data
// keeps the framing), a call to another program, and a call never answered.
TEST(Nfs, FragmentsGapsOtherProgramsAndUnansweredCalls) {
  NfsHarness h;
  h.handshake(h.conn);
  const std::string write =
      call(1, 100003, 3, 7, opaque("fh") + std::string(16, '\0') + opaque(std::string(9000, 'w')));
  h.send(true, record(write.substr(0, 3000), false) + record(write.substr(3000)), 1400);
  h.send(false, record(reply(1, 0)));
  h.send(true, record(call(2, 100005, 3, 1, opaque("/export"))));  // MOUNT
  const std::string big =
      call(3, 100003, 3, 7, opaque("fh") + std::string(16, '\0') + opaque(std::string(20000, 'w')));
  const std::string rec = record(big);
  h.send(true, rec.substr(0, 2000));
  h.conn.cseq += 10000;  // lost inside the WRITE's data
  h.send(true, rec.substr(12000));
  h.send(false, record(reply(3, 0)));
  h.send(true, record(call(4, 100003, 3, 1, opaque("fh"))));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("opcode":"WRITE","status":"NFS_OK")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("xid":"00000003")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("message":"Unmatched request")")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("opcode":"GETATTR")")) << ev[2];
  EXPECT_EQ(h.count("nfs.other_programs"), 1u);
  EXPECT_EQ(h.count("nfs.gaps"), 1u);
  EXPECT_EQ(h.count("nfs.unmatched_requests"), 1u);
}

TEST(Nfs, UdpCallsAndRepliesAndNotRpcOverTcp) {
  NfsHarness h;
  h.datagram("10.0.0.1", 700, "10.0.0.2", 2049, call(9, 100003, 2, 4, opaque("fh") + opaque("name")));
  h.datagram("10.0.0.2", 2049, "10.0.0.1", 700, reply(9, 0));
  h.handshake(h.conn);
  h.send(true, "GET / HTTP/1.1\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("nfs":{"opcode":"LOOKUP","status":"NFS_OK","version":2})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("transport":"udp")")) << ev[0];
  EXPECT_EQ(h.count("nfs.violations"), 1u);
}

// The calls waiting for their replies are looked at when the capture clock moves on:
// each unanswered one goes out once its own timeout has passed, neither before nor
// never, whether or not calls before it were answered in the meantime.
TEST(Nfs, UnansweredCallsGoOutAtTheirOwnTimeout) {
  const uint64_t timeout = 10'000'000'000;
  NfsHarness h(timeout);
  const uint64_t t0 = h.ts;
  const auto at = [&](uint64_t t, uint32_t xid, bool is_call) {
    h.ts = t - 1'000'000;  // push() adds the millisecond back
    if (is_call)
      h.datagram("10.0.0.1", 700, "10.0.0.2", 2049, call(xid, 100003, 3, 1, opaque("fh")));
    else
      h.datagram("10.0.0.2", 2049, "10.0.0.1", 700, reply(xid, 0));
    h.w->flush();
    h.drain();
    return h.drained.size();
  };
  at(t0, 1, true);
  at(t0 + 1'000'000, 2, true);
  EXPECT_EQ(at(t0 + 2'000'000, 1, false), 1u);  // call 1 answered; call 2 waits
  EXPECT_EQ(at(t0 + timeout / 2, 3, true), 1u);
  EXPECT_EQ(at(t0 + timeout - 1'000'000'000 / 2, 99, false), 1u);  // not yet: call 2 is not due
  EXPECT_EQ(at(t0 + timeout + 1'000'000'000 / 2, 98, false), 2u);  // call 2 is due, call 3 not
  EXPECT_TRUE(contains(h.drained[1], R"("xid":"00000002")")) << h.drained[1];
  EXPECT_TRUE(contains(h.drained[1], R"("message":"Unmatched request")")) << h.drained[1];
  EXPECT_EQ(at(t0 + timeout / 2 + timeout - 1'000'000'000 / 2, 97, false), 2u);
  EXPECT_EQ(at(t0 + timeout / 2 + timeout + 1'000'000'000 / 2, 96, false), 3u);  // call 3's turn
  EXPECT_TRUE(contains(h.drained[2], R"("xid":"00000003")")) << h.drained[2];
  EXPECT_EQ(h.finish().size(), 3u);
  EXPECT_EQ(h.count("nfs.unmatched_requests"), 2u);
}

}  // namespace
}  // namespace tapbeat
