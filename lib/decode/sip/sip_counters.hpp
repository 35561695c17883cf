// SIP's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class SipStat : uint16_t {
  requests,        // request events published
  responses,       // response events published
  keepalives,      // CRLF keep-alives between messages (RFC 5626 4.4.1)
  not_sip,         // datagrams on a SIP port that are not SIP messages: not published
  headers_cut,     // Via, Allow or Supported entries past the per-message limit (left out of the event)
  head_too_large,  // TCP heads over 64 KiB: published for their first lines, the rest and the body skipped
  body_too_large,  // bodies over the limit: published without them (TCP: skipped)
  body_truncated,  // bodies shorter than their Content-Length (UDP): published as they are
  gaps,            // gaps in a TCP stream: the decoder looks for the next message
  violations,      // TCP streams that are not SIP: detached
  kCount,
};

inline constexpr CounterSpec kSipCounters[] = {
    counter(SipStat::requests, "sip.requests"),
    counter(SipStat::responses, "sip.responses"),
    counter(SipStat::keepalives, "sip.keepalives"),
    counter(SipStat::not_sip, "sip.not_sip"),
    counter(SipStat::headers_cut, "sip.headers_cut"),
    counter(SipStat::head_too_large, "sip.head_too_large"),
    counter(SipStat::body_too_large, "sip.body_too_large"),
    counter(SipStat::body_truncated, "sip.body_truncated"),
    counter(SipStat::gaps, "sip.gaps"),
    counter(SipStat::violations, "sip.violations"),
};
static_assert(counters_in_order<SipStat>(kSipCounters));

}  // namespace tapbeat
