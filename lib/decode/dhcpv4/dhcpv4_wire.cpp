#include "decode/dhcpv4/dhcpv4_wire.hpp"

#include <cstdio>
#include <cstring>

#include "util/byte_reader.hpp"

namespace tapbeat {
namespace {

constexpr uint8_t kCookie[4] = {99, 130, 83, 99};
constexpr uint8_t kPad = 0, kEnd = 255, kOverload = 52;

std::string_view c_text(const uint8_t* p, std::size_t n) {
  const void* nul = std::memchr(p, 0, n);
  return {reinterpret_cast<const char*>(p),
          nul ? static_cast<std::size_t>(static_cast<const uint8_t*>(nul) - p) : n};
}

struct Joiner {
  Dhcpv4Message& m;
  uint8_t* scratch;
  uint32_t used = 0;

  void add(uint8_t code, std::span<const uint8_t> data) {
    if (!m.present[code]) {
      m.present[code] = true;
      m.option[code] = data;
      m.order[m.n_order++] = code;
      return;
    }
    // A second instance: the value is the instances' concatenation (RFC 3396 §7).
    std::span<const uint8_t>& have = m.option[code];
    const uint32_t n = static_cast<uint32_t>(have.size() + data.size());
    if (used + n > kDhcpScratch) return;  // cannot grow past a datagram's size anyway
    uint8_t* at = scratch + used;
    if (!have.empty()) std::memmove(at, have.data(), have.size());
    if (!data.empty()) std::memcpy(at + have.size(), data.data(), data.size());
    have = {at, n};
    used += n;
    ++m.joined;
  }

  // One option area; false when an option runs past its end.
  bool walk(std::span<const uint8_t> area) {
    std::size_t i = 0;
    while (i < area.size()) {
      const uint8_t code = area[i];
      if (code == kEnd) return true;
      if (code == kPad) {
        ++i;
        continue;
      }
      if (i + 2 > area.size() || i + 2 + area[i + 1] > area.size()) return false;
      add(code, area.subspan(i + 2, area[i + 1]));
      i += 2u + area[i + 1];
    }
    return true;  // no End: the area ends with the datagram (as most parsers accept)
  }
};

}  // namespace

DhcpParse parse_dhcpv4(std::span<const uint8_t> b, Dhcpv4Message& m, uint8_t* scratch) {
  if (b.size() < kBootpHeader) return DhcpParse::kTooShort;
  const uint8_t* p = b.data();
  m.op = p[0];
  m.htype = p[1];
  m.hlen = p[2];
  m.hops = p[3];
  m.xid = load_be32(p + 4);
  m.secs = load_be16(p + 8);
  m.flags = load_be16(p + 10);
  m.ciaddr = p + 12;
  m.yiaddr = p + 16;
  m.siaddr = p + 20;
  m.giaddr = p + 24;
  m.chaddr = {p + 28, m.hlen < 16 ? m.hlen : 16u};
  const std::span<const uint8_t> sname(p + 44, 64), file(p + 108, 128);
  m.cookie = b.size() >= kBootpHeader + 4 && std::memcmp(p + kBootpHeader, kCookie, 4) == 0;
  uint8_t overload = 0;
  if (m.cookie) {
    Joiner j{m, scratch};
    m.options_malformed = !j.walk(b.subspan(kBootpHeader + 4));
    if (m.present[kOverload] && m.option[kOverload].size() == 1) overload = m.option[kOverload][0];
    // The overloaded fields are read after the option area, file before sname (RFC 2131 §4.1).
    if (overload & 1) m.options_malformed |= !j.walk(file);
    if (overload & 2) m.options_malformed |= !j.walk(sname);
  }
  m.sname = (overload & 2) ? std::string_view() : c_text(sname.data(), sname.size());
  m.file = (overload & 1) ? std::string_view() : c_text(file.data(), file.size());
  return DhcpParse::kOk;
}

namespace {

// Option names (RFC 2132 and later, IANA's registry) as Packetbeat prints them.
constexpr const char* kOptionNames[] = {
    "Pad",
    "Subnet Mask",
    "Time Offset",
    "Router",
    "Time Server",
    "Name Server",
    "Domain Name Server",
    "Log Server",
    "Quote Server",
    "LPR Server",
    "Impress Server",
    "Resource Location Server",
    "Host Name",
    "Boot File Size",
    "Merit Dump File",
    "Domain Name",
    "Swap Server",
    "Root Path",
    "Extensions Path",
    "IP Forwarding enable/disable",
    "Non-local Source Routing enable/disable",
    "Policy Filter",
    "Maximum Datagram Reassembly Size",
    "Default IP Time-to-live",
    "Path MTU Aging Timeout",
    "Path MTU Plateau Table",
    "Interface MTU",
    "All Subnets Are Local",
    "Broadcast Address",
    "Perform Mask Discovery",
    "Mask Supplier",
    "Perform Router Discovery",
    "Router Solicitation Address",
    "Static Routing Table",
    "Trailer Encapsulation",
    "ARP Cache Timeout",
    "Ethernet Encapsulation",
    "Default TCP TTL",
    "TCP Keepalive Interval",
    "TCP Keepalive Garbage",
    "Network Information Service Domain",
    "Network Information Servers",
    "NTP Servers",
    "Vendor Specific Information",
    "NetBIOS over TCP/IP Name Server",
    "NetBIOS over TCP/IP Datagram Distribution Server",
    "NetBIOS over TCP/IP Node Type",
    "NetBIOS over TCP/IP Scope",
    "X Window System Font Server",
    "X Window System Display Manager",
    "Requested IP Address",
    "IP Addresses Lease Time",
    "Option Overload",
    "DHCP Message Type",
    "Server Identifier",
    "Parameter Request List",
    "Message",
    "Maximum DHCP Message Size",
    "Renew Time Value",
    "Rebinding Time Value",
    "Class Identifier",
    "Client identifier",
    "NetWare/IP Domain Name",
    "NetWare/IP Information",
    "Network Information Service+ Domain",
    "Network Information Service+ Servers",
    "TFTP Server Name",
    "Bootfile Name",
    "Mobile IP Home Agent",
    "SMTP Server",
    "POP Server",
    "NNTP Server",
    "Default WWW Server",
    "Default Finger Server",
    "Default IRC Server",
    "StreetTalk Server",
    "StreetTalk Directory Assistance Server",
    "User Class Information",
    "SLP DIrectory Agent",
    "SLP Service Scope",
    "Rapid Commit",
    "FQDN",
    "Relay Agent Information",
    "Internet Storage Name Service",
    nullptr,
    "NDS Servers",
    "NDS Tree Name",
    "NDS Context",
    "BCMCS Controller Domain Name List",
    "BCMCS Controller IPv4 Address List",
    "Authentication",
    "Client Last Transaction Time",
    "Associated IP",
    "Client System Architecture Type",
    "Client Network Interface Identifier",
    "LDAP",
    nullptr,
    "Client Machine Identifier",
    "OpenGroup's User Authentication",
    "GEOCONF_CIVIC",
    "IEEE 1003.1 TZ String",
    "Reference to the TZ Database",
};

struct Named {
  uint8_t code;
  const char* name;
};
constexpr Named kLaterOptionNames[] = {
    {112, "NetInfo Parent Server Address"},
    {113, "NetInfo Parent Server Tag"},
    {114, "URL"},
    {116, "Auto-Configure"},
    {117, "Name Service Search"},
    {118, "Subnet Selection"},
    {119, "DNS Domain Search List"},
    {120, "SIP Servers"},
    {121, "Classless Static Route"},
    {122, "CCC, CableLabs Client Configuration"},
    {123, "GeoConf"},
    {124, "Vendor-Identifying Vendor Class"},
    {125, "Vendor-Identifying Vendor-Specific"},
    {128, "TFTP Server IP Address"},
    {129, "Call Server IP Address"},
    {130, "Discrimination String"},
    {131, "RemoteStatistics Server IP Address"},
    {132, "802.1P VLAN ID"},
    {133, "802.1Q L2 Priority"},
    {134, "Diffserv Code Point"},
    {135, "HTTP Proxy for phone-specific applications"},
    {136, "PANA Authentication Agent"},
    {137, "LoST Server"},
    {138, "CAPWAP Access Controller Addresses"},
    {139, "OPTION-IPv4_Address-MoS"},
    {140, "OPTION-IPv4_FQDN-MoS"},
    {141, "SIP UA Configuration Service Domains"},
    {142, "OPTION-IPv4_Address-ANDSF"},
    {143, "OPTION-IPv6_Address-ANDSF"},
    {150, "TFTP Server Address"},
    {151, "Status Code"},
    {152, "Base Time"},
    {153, "Start Time of State"},
    {154, "Query Start Time"},
    {155, "Query End Time"},
    {156, "DHCP Staet"},
    {157, "Data Source"},
    {175, "Etherboot"},
    {176, "IP Telephone"},
    {177, "Etherboot / PacketCable and CableHome"},
    {208, "PXELinux Magic String"},
    {209, "PXELinux Config File"},
    {210, "PXELinux Path Prefix"},
    {211, "PXELinux Reboot Time"},
    {212, "OPTION_6RD"},
    {213, "OPTION_V4_ACCESS_DOMAIN"},
    {220, "Subnet Allocation"},
    {221, "Virtual Subnet Selection"},
    {255, "End"},
};

// IANA's ARP hardware types.
constexpr const char* kHardwareTypes[] = {
    nullptr,
    "Ethernet",
    "Experimental Ethernet",
    "Amateur Radio AX.25",
    "Proteon ProNET Token Ring",
    "Chaos",
    "IEEE 802",
    "ARCNET",
    "Hyperchannel",
    "Lanstar",
    "Autonet Short Address",
    "LocalTalk",
    "LocalNet",
    "Ultra link",
    "SMDS",
    "Frame Relay",
    "ATM",
    "HDLC",
    "Fibre Channel",
    "ATM 2",
    "Serial Line",
    "ATM 3",
    "MIL-STD-188-220",
    "Metricom",
    "IEEE 1394.1995",
    "MAPOS",
    "Twinaxial",
    "EUI-64",
    "HIPARP",
    "IP and ARP over ISO 7816-3",
    "ARPSec",
    "IPsec tunnel",
    "Infiniband",
    "CAI, TIA-102 Project 25 Common Air Interface",
    "Wiegand Interface",
    "Pure IP",
};

// DHCP message types (RFC 2132 §9.6, RFC 3203, RFC 4388, RFC 6926, RFC 7724).
constexpr const char* kMessageTypes[] = {
    nullptr,        "discover",    "offer",          "request",       "decline",          "ack",
    "nak",          "release",     "inform",         "forcerenew",    "leasequery",       "leaseunassigned",
    "leaseunknown", "leaseactive", "bulkleasequery", "leasequeryend", "activeleasequery", "leasequerystatus",
    "tls",
};

std::string_view unknown(uint8_t v, char (&buf)[16]) {
  const int n = std::snprintf(buf, sizeof buf, "unknown (%u)", v);
  return {buf, static_cast<std::size_t>(n)};
}

}  // namespace

std::string_view dhcp_option_name(uint8_t code, char (&buf)[16]) {
  if (code < std::size(kOptionNames) && kOptionNames[code]) return kOptionNames[code];
  for (const Named& n : kLaterOptionNames)
    if (n.code == code) return n.name;
  return unknown(code, buf);
}

std::string_view dhcp_hardware_type_name(uint8_t htype, char (&buf)[16]) {
  if (htype < std::size(kHardwareTypes) && kHardwareTypes[htype]) return kHardwareTypes[htype];
  return unknown(htype, buf);
}

std::string_view dhcp_message_type_name(uint8_t type, char (&buf)[16]) {
  if (type < std::size(kMessageTypes) && kMessageTypes[type]) return kMessageTypes[type];
  return unknown(type, buf);
}

}  // namespace tapbeat
