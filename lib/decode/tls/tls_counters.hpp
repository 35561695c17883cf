// TLS's counters: registered into each worker's block at start-up through its
// descriptor; the names are the keys of the stats output.
#pragma once

#include <cstdint>

#include "util/counters.hpp"

namespace tapbeat {

enum class TlsStat : uint16_t {
  sessions,              // events published
  established,           // of them, handshakes that completed
  client_hellos,         // ClientHello messages read (SSLv2-compatible ones too)
  server_hellos,         // ServerHello messages read (a HelloRetryRequest too)
  sslv2_client_hellos,   // SSLv2-compatible ClientHellos
  certificates,          // X.509 certificates read
  certificates_cached,   // of them, found in the worker's cache (not parsed again)
  certificates_invalid,  // certificates the X.509 parser refused (left out of the event)
  certificates_skipped,  // certificates past max_certificates of one message (left out)
  alerts,                // alerts read in clear
  heartbeats,            // heartbeat records (RFC 6520) seen before encryption
  handshake_too_large,   // handshake messages over the size limit: skipped, the session goes on
  malformed,             // handshake messages that do not parse: left out, the session goes on
  text_full,             // event fields cut: the per-session text limit or the store was full
  gaps,                  // gaps in a handshake: the session is published with what was seen
  starttls,              // cleartext connections upgraded to TLS (STARTTLS and its kin)
  starttls_absent,       // cleartext connections on a TLS port that did not upgrade: left
  violations,            // streams that are not TLS records: detached
  kCount,
};

inline constexpr CounterSpec kTlsCounters[] = {
    counter(TlsStat::sessions, "tls.sessions"),
    counter(TlsStat::established, "tls.established"),
    counter(TlsStat::client_hellos, "tls.client_hellos"),
    counter(TlsStat::server_hellos, "tls.server_hellos"),
    counter(TlsStat::sslv2_client_hellos, "tls.sslv2_client_hellos"),
    counter(TlsStat::certificates, "tls.certificates"),
    counter(TlsStat::certificates_cached, "tls.certificates_cached"),
    counter(TlsStat::certificates_invalid, "tls.certificates_invalid"),
    counter(TlsStat::certificates_skipped, "tls.certificates_skipped"),
    counter(TlsStat::alerts, "tls.alerts"),
    counter(TlsStat::heartbeats, "tls.heartbeats"),
    counter(TlsStat::handshake_too_large, "tls.handshake_too_large"),
    counter(TlsStat::malformed, "tls.malformed"),
    counter(TlsStat::text_full, "tls.text_full"),
    counter(TlsStat::gaps, "tls.gaps"),
    counter(TlsStat::starttls, "tls.starttls"),
    counter(TlsStat::starttls_absent, "tls.starttls_absent"),
    counter(TlsStat::violations, "tls.violations"),
};
static_assert(counters_in_order<TlsStat>(kTlsCounters));

}  // namespace tapbeat
