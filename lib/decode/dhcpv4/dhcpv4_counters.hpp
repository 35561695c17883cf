// DHCPv4's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class Dhcpv4Stat : uint16_t {
  messages,           // events published (one per message)
  bootp,              // of them, BOOTP messages without the DHCP magic cookie (no options)
  malformed,          // datagrams shorter than the BOOTP header: not published
  options_malformed,  // option areas that ran past their end: published up to there
  options_long,       // options split over several instances (RFC 3396), joined
  kCount,
};

inline constexpr CounterSpec kDhcpv4Counters[] = {
    counter(Dhcpv4Stat::messages, "dhcpv4.messages"),
    counter(Dhcpv4Stat::bootp, "dhcpv4.bootp"),
    counter(Dhcpv4Stat::malformed, "dhcpv4.malformed"),
    counter(Dhcpv4Stat::options_malformed, "dhcpv4.options_malformed"),
    counter(Dhcpv4Stat::options_long, "dhcpv4.options_long"),
};
static_assert(counters_in_order<Dhcpv4Stat>(kDhcpv4Counters));

}  // namespace tapbeat
