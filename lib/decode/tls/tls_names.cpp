#include "decode/tls/tls_names.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace tapbeat::tls {
namespace {

struct Named {
  uint16_t code;
  std::string_view name;
};

constexpr Named kCiphers[] = {
#include "decode/tls/tls_cipher_names.inc"
};

// TLS 1.3 signature schemes (RFC 8446 §4.2.3) under the names Packetbeat writes
// (its rsa_pss_* are the registry's rsa_pss_rsae_*), plus the registry's later ones.
constexpr Named kSignatureSchemes[] = {
    {0x0201, "rsa_pkcs1_sha1"},
    {0x0203, "ecdsa_sha1"},
    {0x0401, "rsa_pkcs1_sha256"},
    {0x0403, "ecdsa_secp256r1_sha256"},
    {0x0501, "rsa_pkcs1_sha384"},
    {0x0503, "ecdsa_secp384r1_sha384"},
    {0x0601, "rsa_pkcs1_sha512"},
    {0x0603, "ecdsa_secp521r1_sha512"},
    {0x0804, "rsa_pss_sha256"},
    {0x0805, "rsa_pss_sha384"},
    {0x0806, "rsa_pss_sha512"},
    {0x0807, "ed25519"},
    {0x0808, "ed448"},
    {0x0809, "rsa_pss_pss_sha256"},
    {0x080a, "rsa_pss_pss_sha384"},
    {0x080b, "rsa_pss_pss_sha512"},
    {0x081a, "ecdsa_brainpoolP256r1tls13_sha256"},
    {0x081b, "ecdsa_brainpoolP384r1tls13_sha384"},
    {0x081c, "ecdsa_brainpoolP512r1tls13_sha512"},
};

// Supported groups (IANA "TLS Supported Groups").
constexpr Named kGroups[] = {
    {1, "sect163k1"},
    {2, "sect163r1"},
    {3, "sect163r2"},
    {4, "sect193r1"},
    {5, "sect193r2"},
    {6, "sect233k1"},
    {7, "sect233r1"},
    {8, "sect239k1"},
    {9, "sect283k1"},
    {10, "sect283r1"},
    {11, "sect409k1"},
    {12, "sect409r1"},
    {13, "sect571k1"},
    {14, "sect571r1"},
    {15, "secp160k1"},
    {16, "secp160r1"},
    {17, "secp160r2"},
    {18, "secp192k1"},
    {19, "secp192r1"},
    {20, "secp224k1"},
    {21, "secp224r1"},
    {22, "secp256k1"},
    {23, "secp256r1"},
    {24, "secp384r1"},
    {25, "secp521r1"},
    {26, "brainpoolP256r1"},
    {27, "brainpoolP384r1"},
    {28, "brainpoolP512r1"},
    {29, "x25519"},
    {30, "x448"},
    {256, "ffdhe2048"},
    {257, "ffdhe3072"},
    {258, "ffdhe4096"},
    {259, "ffdhe6144"},
    {260, "ffdhe8192"},
    {0x11eb, "SecP256r1MLKEM768"},
    {0x11ec, "X25519MLKEM768"},
    {0x6399, "X25519Kyber768Draft00"},
    {65281, "arbitrary_explicit_prime_curves"},
    {65282, "arbitrary_explicit_char2_curves"},
};

// The extensions Packetbeat names; it writes the others as decimal numbers.
constexpr Named kExtensions[] = {
    {0, "server_name_indication"},
    {1, "max_fragment_length"},
    {2, "client_certificate_url"},
    {3, "trusted_ca_keys"},
    {4, "truncated_hmac"},
    {5, "status_request"},
    {6, "user_mapping"},
    {7, "client_authz"},
    {8, "server_authz"},
    {9, "cert_type"},
    {10, "supported_groups"},
    {11, "ec_points_formats"},
    {12, "srp"},
    {13, "signature_algorithms"},
    {16, "application_layer_protocol_negotiation"},
    {35, "session_ticket"},
    {43, "supported_versions"},
    {0xff01, "renegotiation_info"},
};

// Alert descriptions (RFC 8446 §6, RFC 5246 §7.2 and the IANA registry).
constexpr Named kAlerts[] = {
    {0, "close_notify"},
    {10, "unexpected_message"},
    {20, "bad_record_mac"},
    {21, "decryption_failed"},
    {22, "record_overflow"},
    {30, "decompression_failure"},
    {40, "handshake_failure"},
    {41, "no_certificate"},
    {42, "bad_certificate"},
    {43, "unsupported_certificate"},
    {44, "certificate_revoked"},
    {45, "certificate_expired"},
    {46, "certificate_unknown"},
    {47, "illegal_parameter"},
    {48, "unknown_ca"},
    {49, "access_denied"},
    {50, "decode_error"},
    {51, "decrypt_error"},
    {60, "export_restriction"},
    {70, "protocol_version"},
    {71, "insufficient_security"},
    {80, "internal_error"},
    {86, "inappropriate_fallback"},
    {90, "user_canceled"},
    {100, "no_renegotiation"},
    {109, "missing_extension"},
    {110, "unsupported_extension"},
    {111, "certificate_unobtainable"},
    {112, "unrecognized_name"},
    {113, "bad_certificate_status_response"},
    {114, "bad_certificate_hash_value"},
    {115, "unknown_psk_identity"},
    {116, "certificate_required"},
    {120, "no_application_protocol"},
};

template <std::size_t N>
constexpr bool sorted(const Named (&t)[N]) {
  for (std::size_t i = 1; i < N; ++i)
    if (t[i - 1].code >= t[i].code) return false;
  return true;
}
static_assert(sorted(kCiphers) && sorted(kSignatureSchemes) && sorted(kGroups) && sorted(kExtensions) &&
              sorted(kAlerts));

template <std::size_t N>
std::string_view find(const Named (&t)[N], uint16_t code) {
  const Named* it = std::lower_bound(t, t + N, code, [](const Named& n, uint16_t c) { return n.code < c; });
  return it != t + N && it->code == code ? it->name : std::string_view{};
}

}  // namespace

std::string_view cipher_name(uint16_t code) { return find(kCiphers, code); }
std::string_view signature_scheme_name(uint16_t code) { return find(kSignatureSchemes, code); }
std::string_view group_name(uint16_t code) { return find(kGroups, code); }
std::string_view extension_name(uint16_t code) { return find(kExtensions, code); }
std::string_view alert_name(uint8_t code) { return find(kAlerts, code); }

std::string_view ec_point_format_name(uint8_t code) {
  switch (code) {
    case 0:
      return "uncompressed";
    case 1:
      return "ansiX962_compressed_prime";
    case 2:
      return "ansiX962_compressed_char2";
    default:
      return {};
  }
}

std::string_view compression_name(uint8_t code) {
  switch (code) {
    case 0:
      return "NULL";
    case 1:
      return "DEFLATE";
    case 64:
      return "LZS";
    default:
      return {};
  }
}

std::size_t unknown_code(uint32_t code, int hex_digits, char* out) {
  // "(unknown:0x%0*x)": at least hex_digits digits (GREASE values of every Chrome hello
  // come here, so no printf).
  int digits = 1;
  while (digits < 8 && (code >> (4 * digits)) != 0) ++digits;
  if (digits < hex_digits) digits = hex_digits > 8 ? 8 : hex_digits;
  std::memcpy(out, "(unknown:0x", 11);
  std::size_t n = 11;
  for (int i = digits - 1; i >= 0; --i) out[n++] = "0123456789abcdef"[(code >> (4 * i)) & 15];
  out[n++] = ')';
  return n;
}

std::string_view name_or_unknown(std::string_view name, uint32_t code, int hex_digits, char* out) {
  if (!name.empty()) return name;
  return {out, unknown_code(code, hex_digits, out)};
}

std::string_view version_text(uint16_t v, char* out) {
  const unsigned major = v >> 8, minor = v & 0xff;
  int n;
  if (major == 0x7f)
    n = std::snprintf(out, 24, "TLS 1.3 (draft %u)", minor);
  else if (major == 0xfb)
    n = std::snprintf(out, 24, "TLS 1.3 (fb draft %u)", minor);
  else if (v == 0x0300)
    return "SSL 3.0";
  else if (v == 0x0002)
    return "SSL 2.0";
  else if (v == 0x0301)  // the usual ones without formatting (a field of every hello)
    return "TLS 1.0";
  else if (v == 0x0302)
    return "TLS 1.1";
  else if (v == 0x0303)
    return "TLS 1.2";
  else if (v == 0x0304)
    return "TLS 1.3";
  else if (major == 3)
    n = std::snprintf(out, 24, "TLS 1.%u", minor - 1);
  else
    n = std::snprintf(out, 24, "(raw %u.%u)", major, minor);
  return {out, n > 0 ? static_cast<std::size_t>(n) : 0};
}

std::string_view ecs_version(uint16_t v, char* out) {
  const unsigned major = v >> 8, minor = v & 0xff;
  int n;
  if (is_tls13_draft(v))
    return "1.3";
  else if (v == 0x0300)
    return "3.0";
  else if (v == 0x0002)
    return "2.0";
  else if (v >= 0x0301 && v <= 0x0304)
    return std::string_view("1.01.11.21.3").substr((v - 0x0301) * 3u, 3);
  else if (major == 3)
    n = std::snprintf(out, 24, "1.%u", minor - 1);
  else
    n = std::snprintf(out, 24, "%u.%u", major, minor);
  return {out, n > 0 ? static_cast<std::size_t>(n) : 0};
}

const char* ecs_version_protocol(uint16_t v) {
  if (v == 0x0300 || v == 0x0002) return "ssl";
  return (v >> 8) == 3 || is_tls13_draft(v) ? "tls" : "unknown";
}

}  // namespace tapbeat::tls
