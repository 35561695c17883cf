// X.509 certificates of a TLS handshake, parsed once per session through
// OpenSSL and written as Packetbeat writes them: tls.{client,server}.{hash.*,
// issuer, subject, not_before, not_after, x509.*, certificate_chain} and the
// detailed chain entries. Distinguished names read as Go's pkix.Name.String()
// writes them (Packetbeat's form: most specific first, "CN=...,O=...,C=...").
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace tapbeat {

class JsonWriter;

namespace tls {

class Digest;

// Writes a DER certificate's fields as JSON members, parsing it once: into `leaf`
// the end-entity members of tls.client / tls.server (issuer, not_after, not_before,
// subject), into `x509` the members of an ECS x509 object. False when the bytes are
// not one certificate.
bool render_certificate(std::span<const uint8_t> der, JsonWriter& leaf, JsonWriter& x509);
// The fingerprints of `fingerprints` (Digest::Kind bits) as a tls.*.hash object.
void write_hashes(JsonWriter& w, std::span<const uint8_t> der, unsigned fingerprints, Digest& d);
// PEM text of a certificate; out needs pem_size(der.size()) bytes. Returns the length.
std::size_t pem(std::span<const uint8_t> der, char* out);
constexpr std::size_t pem_size(std::size_t der) { return 28 + 26 + (der + 2) / 3 * 4 + (der + 47) / 48 + 1; }

}  // namespace tls
}  // namespace tapbeat
