// Names of TLS code points as Packetbeat's tls module writes them: cipher suites
// (IANA's registry, generated from Wireshark's tables into tls_cipher_names.inc),
// signature schemes, groups, point formats, compression methods, extensions,
// alerts and versions. A code without a name is written "(unknown:0x....)".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tapbeat::tls {

// GREASE values (RFC 8701): 0x?a?a with both bytes equal.
constexpr bool is_grease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

// Empty when the code has no name.
std::string_view cipher_name(uint16_t code);
std::string_view signature_scheme_name(uint16_t code);
std::string_view group_name(uint16_t code);
std::string_view ec_point_format_name(uint8_t code);
std::string_view compression_name(uint8_t code);
std::string_view alert_name(uint8_t code);
// Extensions Packetbeat knows by name (the others are written as decimal numbers).
std::string_view extension_name(uint16_t code);

// "(unknown:0x00ff)" (4 hex digits) or "(unknown:0x0f)" (2); out: 24 bytes.
std::size_t unknown_code(uint32_t code, int hex_digits, char* out);
// The name, or the unknown form in out.
std::string_view name_or_unknown(std::string_view name, uint32_t code, int hex_digits, char* out);

// The drafts of TLS 1.3 (0x7fNN) and Facebook's variants of them (0xfbNN).
constexpr bool is_tls13_draft(uint16_t v) { return (v >> 8) == 0x7f || (v >> 8) == 0xfb; }

// "TLS 1.2", "SSL 3.0", "TLS 1.3 (draft 28)", "(raw 3.5)" for a wire version; out: 24 bytes.
std::string_view version_text(uint16_t v, char* out);
// ECS tls.version and tls.version_protocol: "1.2"/"tls", "3.0"/"ssl" (a TLS 1.3 draft:
// "1.3"), "a.b"/"unknown".
std::string_view ecs_version(uint16_t v, char* out);
const char* ecs_version_protocol(uint16_t v);

}  // namespace tapbeat::tls
