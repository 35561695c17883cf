#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "decode/dhcpv4/dhcpv4_decoder.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

using test::contains;

struct DhcpHarness : test::StreamTest {
  DhcpHarness() {
    const uint16_t ports[] = {67, 68};
    decoders.enable<Dhcpv4Settings>("dhcpv4", ports);
    start();
  }
  void request(const std::string& m) { datagram("0.0.0.0", 68, "255.255.255.255", 67, m); }
  void reply(const std::string& m) { datagram("192.168.0.1", 67, "192.168.0.10", 68, m); }
  std::string one() {
    const auto ev = finish();
    return ev.size() == 1 ? ev[0] : "events: " + std::to_string(ev.size());
  }
};

std::string option(uint8_t code, const std::string& data) {
  return std::string(1, static_cast<char>(code)) + static_cast<char>(data.size()) + data;
}
std::string ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {char(a), char(b), char(c), char(d)}; }

// A BOOTP header (RFC 2131 §2): op, Ethernet, hlen 6, xid 0x01020304, the addresses
// given, sname/file as given, then the magic cookie and `options` when cookie.
std::string message(uint8_t op, const std::string& options, bool cookie = true,
                    const std::string& yiaddr = ip(0, 0, 0, 0), const std::string& sname = "",
                    const std::string& file = "") {
  std::string m;
  m += static_cast<char>(op);
  m += std::string("\x01\x06\x00", 3);
  m += std::string("\x01\x02\x03\x04", 4);  // xid
  m += std::string("\x00\x03\x80\x00", 4);  // secs 3, broadcast flag
  m += ip(0, 0, 0, 0) + yiaddr + ip(192, 168, 0, 1) + ip(0, 0, 0, 0);
  m += std::string("\x00\x0b\x82\x01\xfc\x42", 6) + std::string(10, '\0');
  m += sname + std::string(64 - sname.size(), '\0');
  m += file + std::string(128 - file.size(), '\0');
  if (cookie) m += "\x63\x82\x53\x63" + options;
  return m;
}

TEST(Dhcpv4, DiscoverAsPacketbeatWritesIt) {
  DhcpHarness h;
  h.request(message(1, option(53, "\x01") + option(55, std::string("\x01\x03\x06\x2a", 4)) +
                           option(50, ip(192, 168, 0, 10)) + option(12, std::string("laptop\0", 7)) +
                           option(61, std::string("\x01\x00\x0b\x82\x01\xfc\x42", 7)) + "\xff"));
  const std::string ev = h.one();
  EXPECT_TRUE(contains(ev, R"("op_code":"bootrequest")")) << ev;
  EXPECT_TRUE(contains(ev, R"("transaction_id":"0x01020304")")) << ev;
  EXPECT_TRUE(contains(ev, R"("client_mac":"00-0B-82-01-FC-42")")) << ev;
  EXPECT_TRUE(contains(ev, R"("flags":"broadcast")")) << ev;
  EXPECT_TRUE(contains(ev, R"("hardware_type":"Ethernet")")) << ev;
  EXPECT_TRUE(contains(ev, R"("seconds":3)")) << ev;
  EXPECT_TRUE(contains(ev, R"("message_type":"discover")")) << ev;
  EXPECT_TRUE(
      contains(ev, R"("parameter_request_list":["Subnet Mask","Router","Domain Name Server","NTP Servers"])"))
      << ev;
  EXPECT_TRUE(contains(ev, R"("requested_ip_address":"192.168.0.10")")) << ev;
  EXPECT_TRUE(contains(ev, R"("hostname":"laptop")")) << ev;  // the C string's NUL left out
  EXPECT_TRUE(contains(ev, R"("client_identifier":"01000b8201fc42")")) << ev;
  EXPECT_TRUE(contains(ev, R"("server_ip":"192.168.0.1")")) << ev;
  // The client sent it: it is the source, with its bytes; no bytes on the other side.
  EXPECT_TRUE(contains(ev, R"("source":{"bytes":)")) << ev;
  EXPECT_TRUE(contains(ev, R"("destination":{"ip":"255.255.255.255","port":67})")) << ev;
  EXPECT_EQ(h.count("dhcpv4.messages"), 1u);
}

TEST(Dhcpv4, ReplyGoesFromTheServer) {
  DhcpHarness h;
  h.reply(message(2,
                  option(53, "\x05") + option(1, ip(255, 255, 255, 0)) +
                      option(3, ip(192, 168, 0, 1) + ip(192, 168, 0, 2)) + option(6, ip(8, 8, 8, 8)) +
                      option(51, std::string("\x00\x00\x0e\x10", 4)) +
                      option(2, std::string("\xff\xff\xf1\xf0", 4)) + option(15, "example.org") + "\xff",
                  true, ip(192, 168, 0, 10), "boot-server", "pxelinux.0"));
  const std::string ev = h.one();
  EXPECT_TRUE(contains(ev, R"("op_code":"bootreply")")) << ev;
  EXPECT_TRUE(contains(ev, R"("message_type":"ack")")) << ev;
  EXPECT_TRUE(contains(ev, R"("assigned_ip":"192.168.0.10")")) << ev;
  EXPECT_TRUE(contains(ev, R"("router":["192.168.0.1","192.168.0.2"])")) << ev;
  EXPECT_TRUE(contains(ev, R"("dns_servers":["8.8.8.8"])")) << ev;
  EXPECT_TRUE(contains(ev, R"("ip_address_lease_time_sec":3600)")) << ev;
  EXPECT_TRUE(contains(ev, R"("utc_time_offset_sec":-3600)")) << ev;
  EXPECT_TRUE(contains(ev, R"("domain_name":"example.org")")) << ev;
  EXPECT_TRUE(contains(ev, R"("server_name":"boot-server")")) << ev;
  EXPECT_TRUE(contains(ev, R"("boot_file_name":"pxelinux.0")")) << ev;
  // The server sent it: the source, with the datagram's bytes; the client has none.
  const std::string bytes = std::to_string(h.keep.back().size() - 42);
  EXPECT_TRUE(contains(ev, R"("source":{"bytes":)" + bytes + R"(,"ip":"192.168.0.1","port":67})")) << ev;
  EXPECT_TRUE(contains(ev, R"("server":{"bytes":)" + bytes + R"(,"ip":"192.168.0.1","port":67})")) << ev;
  EXPECT_TRUE(contains(ev, R"("client":{"ip":"192.168.0.10","port":68})")) << ev;
  EXPECT_TRUE(contains(ev, R"("network":{"bytes":)" + bytes)) << ev;
}

// Option 52 moves options into `file` and `sname` (read in that order); an option
// given twice is one value, the instances joined (RFC 3396).
TEST(Dhcpv4, OverloadedFieldsAndLongOptionsAreRead) {
  DhcpHarness h;
  std::string file = option(56, "first half, ") + "\xff";
  std::string sname = option(56, "second half") + "\xff";
  h.reply(message(2, option(53, "\x06") + option(52, "\x03") + "\xff", true, ip(0, 0, 0, 0), sname, file));
  const std::string ev = h.one();
  EXPECT_TRUE(contains(ev, R"("message":"first half, second half")")) << ev;
  EXPECT_FALSE(contains(ev, R"("server_name")")) << ev;     // sname carried options
  EXPECT_FALSE(contains(ev, R"("boot_file_name")")) << ev;  // so did file
  EXPECT_EQ(h.count("dhcpv4.options_long"), 1u);
}

// Unknown options keep their code, name and bytes; one that runs past the end is
// cut there: the event has what came before it, noted, and the message is counted.
TEST(Dhcpv4, OtherOptionsAndAMalformedOneArePublished) {
  DhcpHarness h;
  h.request(message(1, option(53, "\x03") + option(77, "iPXE") + option(230, "\x01\x02") + "\x0c\x20short"));
  const std::string ev = h.one();
  EXPECT_TRUE(contains(ev, R"("other":[{"code":77,"data":"69505845","name":"User Class Information"},)"
                           R"x({"code":230,"data":"0102","name":"unknown (230)"}])x"))
      << ev;
  EXPECT_TRUE(contains(ev, R"("message_type":"request")")) << ev;
  EXPECT_FALSE(contains(ev, R"("hostname")")) << ev;
  EXPECT_TRUE(contains(ev, R"("error":{"message":"DHCP option runs past the end)")) << ev;
  EXPECT_TRUE(contains(ev, R"("status":"OK")")) << ev;
  EXPECT_EQ(h.count("dhcpv4.options_malformed"), 1u);
}

TEST(Dhcpv4, BootpWithoutCookieAndShortDatagrams) {
  DhcpHarness h;
  h.request(message(1, "", false));
  h.request(std::string(100, '\x01'));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("op_code":"bootrequest")")) << ev[0];
  EXPECT_FALSE(contains(ev[0], R"("option")")) << ev[0];
  EXPECT_EQ(h.count("dhcpv4.bootp"), 1u);
  EXPECT_EQ(h.count("dhcpv4.malformed"), 1u);
}

}  // namespace
}  // namespace tapbeat
