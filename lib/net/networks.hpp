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

 private:
  struct Cidr {
    IpBytes net;
    uint8_t version;
    uint8_t bits;
  };
  std::vector<Cidr> cidrs_;
  std::vector<std::string> named_;
};

// "inbound", "outbound", "internal" or "external", as Packetbeat derives them from
// internal_networks; nullptr when no internal networks are configured.
const char* network_direction(const NetworkSet& internal, const IpBytes& src, const IpBytes& dst,
                              uint8_t version);

}  // namespace tapbeat
