#include "net/networks.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>
#include <stdexcept>

namespace tapbeat {
namespace {

bool in_prefix(const IpBytes& ip, const IpBytes& net, unsigned bits) {
  for (unsigned i = 0; i < bits / 8; ++i)
    if (ip[i] != net[i]) return false;
  if (bits % 8) {
    const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - bits % 8));
    if ((ip[bits / 8] & mask) != (net[bits / 8] & mask)) return false;
  }
  return true;
}

bool cidr(const IpBytes& ip, uint8_t version, const char* text) {
  char buf[64];
  std::strncpy(buf, text, sizeof buf - 1);
  buf[sizeof buf - 1] = 0;
  char* slash = std::strchr(buf, '/');
  *slash = 0;
  IpBytes net{};
  const bool v6 = std::strchr(buf, ':') != nullptr;
  if ((v6 ? 6 : 4) != version) return false;
  inet_pton(v6 ? AF_INET6 : AF_INET, buf, net.data());
  return in_prefix(ip, net, static_cast<unsigned>(std::atoi(slash + 1)));
}

// The named networks of Beats' network conditions (libbeat conditions/network.go).
bool named(const std::string& name, const IpBytes& ip, uint8_t v) {
  if (name == "loopback") return v == 4 ? ip[0] == 127 : cidr(ip, v, "::1/128");
  if (name == "unspecified") return v == 4 ? cidr(ip, v, "0.0.0.0/32") : cidr(ip, v, "::/128");
  if (name == "link_local_unicast") return v == 4 ? cidr(ip, v, "169.254.0.0/16") : cidr(ip, v, "fe80::/10");
  if (name == "link_local_multicast") return v == 4 ? cidr(ip, v, "224.0.0.0/24") : cidr(ip, v, "ff02::/16");
  if (name == "interface_local_multicast") return v == 6 && cidr(ip, v, "ff01::/16");
  if (name == "multicast") return v == 4 ? cidr(ip, v, "224.0.0.0/4") : cidr(ip, v, "ff00::/8");
  if (name == "private")
    return v == 4
               ? (cidr(ip, v, "10.0.0.0/8") || cidr(ip, v, "172.16.0.0/12") || cidr(ip, v, "192.168.0.0/16"))
               : cidr(ip, v, "fc00::/7");
  if (name == "unicast" || name == "global_unicast") {
    const bool special = named("multicast", ip, v) || named("unspecified", ip, v) ||
                         (v == 4 && ip[0] == 255 && ip[1] == 255 && ip[2] == 255 && ip[3] == 255);
    if (name == "unicast") return !special;
    return !special && !named("loopback", ip, v) && !named("link_local_unicast", ip, v);
  }
  if (name == "public")
    return !named("private", ip, v) && !named("loopback", ip, v) && !named("multicast", ip, v) &&
           !named("link_local_unicast", ip, v) && !named("unspecified", ip, v);
  return false;
}

}  // namespace

NetworkSet::NetworkSet(const std::vector<std::string>& entries) {
  for (const auto& e : entries) {
    const auto slash = e.find('/');
    if (slash == std::string::npos) {
      named_.push_back(e);
      continue;
    }
    Cidr c{};
    const std::string addr = e.substr(0, slash);
    c.version = addr.find(':') != std::string::npos ? 6 : 4;
    if (inet_pton(c.version == 6 ? AF_INET6 : AF_INET, addr.c_str(), c.net.data()) != 1)
      throw std::invalid_argument("'" + e + "' is not a CIDR");
    c.bits = static_cast<uint8_t>(std::stoi(e.substr(slash + 1)));
    cidrs_.push_back(c);
  }
}

bool NetworkSet::contains(const IpBytes& ip, uint8_t version) const {
  for (const Cidr& c : cidrs_)
    if (c.version == version && in_prefix(ip, c.net, c.bits)) return true;
  for (const std::string& n : named_)
    if (named(n, ip, version)) return true;
  return false;
}

bool NetworkSet::is_host(const IpBytes& ip, uint8_t version) const {
  for (const auto& [h, v] : host_)
    if (v == version && h == ip) return true;
  return false;
}

namespace {
// Loopback, link-local unicast or link-local multicast (Go's net.IP predicates).
bool link_scoped(const IpBytes& ip, uint8_t v) {
  if (v == 4)
    return ip[0] == 127 || (ip[0] == 169 && ip[1] == 254) || (ip[0] == 224 && ip[1] == 0 && ip[2] == 0);
  static constexpr IpBytes kLoopback6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return ip == kLoopback6 || (ip[0] == 0xFE && (ip[1] & 0xC0) == 0x80) ||
         (ip[0] == 0xFF && (ip[1] & 0x0F) == 0x02);
}
}  // namespace

const char* network_direction(const NetworkSet& internal, const IpBytes& src, const IpBytes& dst,
                              uint8_t version) {
  if (link_scoped(dst, version) || internal.is_host(dst, version)) return "ingress";
  if (link_scoped(src, version) || internal.is_host(src, version)) return "egress";
  if (internal.empty()) return "unknown";
  const bool s = internal.contains(src, version), d = internal.contains(dst, version);
  if (s && d) return "internal";
  if (s) return "outbound";
  if (d) return "inbound";
  return "external";
}

std::vector<std::pair<IpBytes, uint8_t>> host_addresses() {
  std::vector<std::pair<IpBytes, uint8_t>> out;
  ifaddrs* all = nullptr;
  if (getifaddrs(&all) != 0) return out;
  for (const ifaddrs* a = all; a; a = a->ifa_next) {
    if (!a->ifa_addr) continue;
    IpBytes ip{};
    if (a->ifa_addr->sa_family == AF_INET) {
      std::memcpy(ip.data(), &reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr, 4);
      out.emplace_back(ip, 4);
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      std::memcpy(ip.data(), &reinterpret_cast<const sockaddr_in6*>(a->ifa_addr)->sin6_addr, 16);
      out.emplace_back(ip, 6);
    }
  }
  freeifaddrs(all);
  return out;
}

}  // namespace tapbeat
