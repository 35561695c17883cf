// DHCPv4 messages (RFC 2131) and their options (RFC 2132), read in place: the
// fixed BOOTP header, the magic cookie, the option area and, when option 52 says
// so, the `file` and `sname` fields as more options (RFC 2131 §4.1). An option
// given in several instances is joined in order (RFC 3396) in a scratch area.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace tapbeat {

inline constexpr uint32_t kBootpHeader = 236;  // op .. file, before the cookie
inline constexpr uint32_t kDhcpScratch = 64 * 1024;

struct Dhcpv4Message {
  uint8_t op = 0, htype = 0, hlen = 0, hops = 0;
  uint32_t xid = 0;
  uint16_t secs = 0, flags = 0;
  const uint8_t* ciaddr = nullptr;  // 4 bytes each
  const uint8_t* yiaddr = nullptr;
  const uint8_t* siaddr = nullptr;
  const uint8_t* giaddr = nullptr;
  std::span<const uint8_t> chaddr;  // hlen bytes (16 at most)
  std::string_view sname, file;     // up to their first NUL; empty when they carry options
  bool cookie = false;              // the DHCP magic cookie: options follow
  bool options_malformed = false;   // an option ran past the end of its area
  uint32_t joined = 0;              // options given in more than one instance
  // Each option code's data; null data: absent. Pad (0) and End (255) are not kept.
  std::array<std::span<const uint8_t>, 256> option{};
  std::array<bool, 256> present{};
  uint8_t order[254];  // codes in order of first appearance
  int n_order = 0;
};

enum class DhcpParse : uint8_t { kOk, kTooShort };

// `scratch` (kDhcpScratch bytes) holds joined options; spans may point into it.
DhcpParse parse_dhcpv4(std::span<const uint8_t> b, Dhcpv4Message& m, uint8_t* scratch);

// Names as Packetbeat writes them: the option's name (parameter_request_list),
// "unknown (N)" where it has none; the hardware type; the message type (lower case).
std::string_view dhcp_option_name(uint8_t code, char (&buf)[16]);
std::string_view dhcp_hardware_type_name(uint8_t htype, char (&buf)[16]);
std::string_view dhcp_message_type_name(uint8_t type, char (&buf)[16]);

}  // namespace tapbeat
