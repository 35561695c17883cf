// X.509 certificates of a TLS handshake, parsed once per session through
// OpenSSL and written as Packetbeat writes them: tls.{client,server}.{hash.*,
// issuer, subject, not_before, not_after, x509.*, certificate_chain} and the
// detailed chain entries. Distinguished names read as Go's pkix.Name.String()
// writes them (Packetbeat's form: most specific first, "CN=...,O=...,C=...").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

struct x509_st;

namespace tapbeat {

class JsonWriter;

namespace tls {

class Digest;

struct X509Free {
  void operator()(x509_st* x) const;
};
using X509Ptr = std::unique_ptr<x509_st, X509Free>;

// Null when the bytes are not one DER certificate.
X509Ptr parse_certificate(std::span<const uint8_t> der);

// Members of tls.client / tls.server for the end-entity certificate: hash (one
// member per fingerprint kind in `fingerprints`, Digest::Kind bits), issuer,
// subject, not_before, not_after, and x509 when with_x509.
void write_leaf(JsonWriter& w, x509_st* x, std::span<const uint8_t> der, unsigned fingerprints,
                bool with_x509, Digest& d);
// The members of an x509 object (ECS x509.*).
void write_x509(JsonWriter& w, x509_st* x);
// PEM text of a certificate; out needs pem_size(der.size()) bytes. Returns the length.
std::size_t pem(std::span<const uint8_t> der, char* out);
constexpr std::size_t pem_size(std::size_t der) { return 28 + 26 + (der + 2) / 3 * 4 + (der + 47) / 48 + 1; }

}  // namespace tls
}  // namespace tapbeat
