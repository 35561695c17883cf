// Byte-level builders of TLS handshake messages and records, for tests and benchmarks.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>
#include <vector>

namespace tapbeat::test::tls_wire {

inline std::string u8(unsigned v) { return std::string(1, static_cast<char>(v & 0xff)); }
inline std::string u16(unsigned v) { return u8(v >> 8) + u8(v); }
inline std::string u24(unsigned v) { return u8(v >> 16) + u16(v); }
inline std::string record(unsigned type, const std::string& body, unsigned version = 0x0303) {
  return u8(type) + u16(version) + u16(static_cast<unsigned>(body.size())) + body;
}
inline std::string handshake(unsigned type, const std::string& body) {
  return u8(type) + u24(static_cast<unsigned>(body.size())) + body;
}
inline std::string ext(unsigned type, const std::string& data) {
  return u16(type) + u16(static_cast<unsigned>(data.size())) + data;
}

struct ClientHelloSpec {
  unsigned version = 0x0303;
  std::vector<unsigned> ciphers = {0x0a0a, 0x1301, 0xc02f, 0x002f};  // a GREASE value first
  std::string sni = "example.org";
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  std::vector<unsigned> groups = {0x2a2a, 29, 23};
  std::vector<unsigned> versions;  // supported_versions (empty: none)
  std::string session_id = std::string(32, '\x11');
};

inline std::string client_hello(const ClientHelloSpec& s) {
  std::string cs;
  for (unsigned c : s.ciphers) cs += u16(c);
  std::string exts;
  exts += ext(0x1a1a, "");  // GREASE extension
  if (!s.sni.empty())
    exts += ext(0, u16(static_cast<unsigned>(s.sni.size()) + 3) + u8(0) +
                       u16(static_cast<unsigned>(s.sni.size())) + s.sni);
  std::string groups;
  for (unsigned g : s.groups) groups += u16(g);
  exts += ext(10, u16(static_cast<unsigned>(groups.size())) + groups);
  exts += ext(11, u8(1) + u8(0));
  exts += ext(13, u16(4) + u16(0x0403) + u16(0x0804));
  if (!s.alpn.empty()) {
    std::string a;
    for (const auto& p : s.alpn) a += u8(static_cast<unsigned>(p.size())) + p;
    exts += ext(16, u16(static_cast<unsigned>(a.size())) + a);
  }
  if (!s.versions.empty()) {
    std::string v;
    for (unsigned x : s.versions) v += u16(x);
    exts += ext(43, u8(static_cast<unsigned>(v.size())) + v);
  }
  exts += ext(23, "");  // extended_master_secret: written by number in _unparsed_
  const std::string body = u16(s.version) + std::string(32, '\x22') +
                           u8(static_cast<unsigned>(s.session_id.size())) + s.session_id +
                           u16(static_cast<unsigned>(cs.size())) + cs + u8(1) + u8(0) +
                           u16(static_cast<unsigned>(exts.size())) + exts;
  return handshake(1, body);
}

inline std::string server_hello(unsigned cipher, const std::string& exts,
                                const std::string& random = std::string(32, '\x33'),
                                const std::string& session_id = std::string(32, '\x44')) {
  return handshake(2, u16(0x0303) + random + u8(static_cast<unsigned>(session_id.size())) + session_id +
                          u16(cipher) + u8(0) + u16(static_cast<unsigned>(exts.size())) + exts);
}

// A self-signed certificate (EC P-256), DER.
inline std::string certificate_der(const char* cn) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("SE"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Acme, Inc."),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key, EVP_sha256());
  unsigned char* der = nullptr;
  const int n = i2d_X509(x, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

inline std::string certificate_message(const std::vector<std::string>& ders) {
  std::string list;
  for (const auto& d : ders) list += u24(static_cast<unsigned>(d.size())) + d;
  return handshake(11, u24(static_cast<unsigned>(list.size())) + list);
}

}  // namespace tapbeat::test::tls_wire
