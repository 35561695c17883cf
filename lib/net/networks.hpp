// Classifies addresses as local or not, for network.direction: CIDRs and the named
// networks Beats accepts in internal_networks (private, loopback, unicast, ...).
// Built at start-up; read-only afterwards (shared by workers).
#pragma once

#include <string>
#include <vector>

#include "net/packet.hpp"

namespace tapbeat {

class NetworkSet {
 public:
  NetworkSet() = default;
  // Throws std::invalid_argument naming an entry it cannot read.
  explicit NetworkSet(const std::vector<std::string>& entries);
  bool contains(const IpBytes& ip, uint8_t version) const;
  bool empty() const { return cidrs_.empty() && named_.empty(); }

  // This host's own addresses, for network.direction (live capture only: the host
  // that reads a capture file is not the one that recorded it).
  void set_host_addresses(std::vector<std::pair<IpBytes, uint8_t>> ips) { host_ = std::move(ips); }
  bool is_host(const IpBytes& ip, uint8_t version) const;

 private:
  struct Cidr {
    IpBytes net;
    uint8_t version;
    uint8_t bits;
  };
  std::vector<Cidr> cidrs_;
  std::vector<std::string> named_;
  std::vector<std::pair<IpBytes, uint8_t>> host_;
};

// network.direction as Packetbeat derives it: "ingress" when the destination is a
// loopback, link-local or link-local multicast address or one of this host's,
// "egress" when the source is; otherwise from internal_networks ("internal",
// "outbound", "inbound", "external"), or "unknown" when none are configured.
const char* network_direction(const NetworkSet& internal, const IpBytes& src, const IpBytes& dst,
                              uint8_t version);

// The addresses of this host's interfaces (getifaddrs); empty when unreadable.
std::vector<std::pair<IpBytes, uint8_t>> host_addresses();

}  // namespace tapbeat
