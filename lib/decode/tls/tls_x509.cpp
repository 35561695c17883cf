#include "decode/tls/tls_x509.hpp"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>

#include "decode/tls/tls_hello.hpp"
#include "event/json_writer.hpp"
#include "util/bounded_text.hpp"
#include "util/encode.hpp"

namespace tapbeat::tls {

namespace {

constexpr std::size_t kMaxValue = 1024;  // bytes of one name attribute kept

// One attribute value as UTF-8 (cut at kMaxValue).
struct Utf8 {
  unsigned char* p = nullptr;
  int n = -1;
  explicit Utf8(const ASN1_STRING* s) { n = s ? ASN1_STRING_to_UTF8(&p, s) : -1; }
  ~Utf8() { OPENSSL_free(p); }
  std::string_view view() const {
    return n < 0 ? std::string_view{}
                 : std::string_view(reinterpret_cast<const char*>(p),
                                    std::min<std::size_t>(static_cast<std::size_t>(n), kMaxValue));
  }
};

// The attributes Go's pkix.Name parses into fields, in the order its
// ToRDNSequence lays them out.
struct Std {
  int nid;
  const char* key;  // Go's short name in the DN text
  const char* ecs;  // ECS x509.{issuer,subject}.* member (null: none)
};
constexpr Std kStd[] = {
    {NID_countryName, "C", "country"},
    {NID_stateOrProvinceName, "ST", "state_or_province"},
    {NID_localityName, "L", "locality"},
    {NID_streetAddress, "STREET", nullptr},
    {NID_postalCode, "POSTALCODE", nullptr},
    {NID_organizationName, "O", "organization"},
    {NID_organizationalUnitName, "OU", "organizational_unit"},
    {NID_commonName, "CN", "common_name"},
    {NID_serialNumber, "SERIALNUMBER", nullptr},
};

int std_index(int nid) {
  for (int i = 0; i < static_cast<int>(std::size(kStd)); ++i)
    if (kStd[i].nid == nid) return i;
  return -1;
}

template <std::size_t N>
void escaped(BoundedText<N>& t, std::string_view v) {
  for (std::size_t k = 0; k < v.size(); ++k) {
    const char c = v[k];
    bool esc = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';';
    if (c == ' ') esc = k == 0 || k == v.size() - 1;
    if (c == '#') esc = k == 0;
    if (esc) t.push_back('\\');
    t.push_back(c);
  }
}

bool printable_string(std::string_view v) {
  for (char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::strchr(" '()+,-./:=?", c) != nullptr;
    if (!ok || c == 0) return false;
  }
  return true;
}

// Go's pkix.Name.String(): the parsed attributes (one RDN per kind, most specific
// first: SERIALNUMBER, CN, OU, O, POSTALCODE, STREET, L, ST, C), then the others
// in reverse as OID=#<DER hex>.
template <std::size_t N>
void dn_text(const X509_NAME* name, BoundedText<N>& t) {
  const int n = X509_NAME_entry_count(name);
  bool first = true;
  const auto sep = [&](char c) {
    if (!first) t.push_back(c);
    first = false;
  };
  for (int s = static_cast<int>(std::size(kStd)) - 1; s >= 0; --s) {
    const bool single = kStd[s].nid == NID_commonName || kStd[s].nid == NID_serialNumber;
    int last = -1;
    if (single)
      for (int i = 0; i < n; ++i)
        if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, i))) == kStd[s].nid) last = i;
    bool in_rdn = false;
    for (int i = 0; i < n; ++i) {
      const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
      if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != kStd[s].nid || (single && i != last)) continue;
      const Utf8 v(X509_NAME_ENTRY_get_data(e));
      if (v.n < 0 || (single && v.n == 0)) continue;
      if (in_rdn) {
        t.push_back('+');
      } else {
        sep(',');
        in_rdn = true;
      }
      t.append(kStd[s].key);
      t.push_back('=');
      escaped(t, v.view());
    }
  }
  for (int i = n - 1; i >= 0; --i) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    const ASN1_OBJECT* o = X509_NAME_ENTRY_get_object(e);
    if (std_index(OBJ_obj2nid(o)) >= 0) continue;
    const Utf8 v(X509_NAME_ENTRY_get_data(e));
    if (v.n < 0) continue;
    char oid[80];
    const int on = OBJ_obj2txt(oid, sizeof oid, o, 1);
    if (on <= 0) continue;
    sep(',');
    t.append(std::string_view(oid, std::min<std::size_t>(static_cast<std::size_t>(on), sizeof oid - 1)));
    t.append("=#");
    const std::string_view val = v.view();
    const uint8_t hdr[4] = {static_cast<uint8_t>(printable_string(val) ? 0x13 : 0x0c), 0x82,
                            static_cast<uint8_t>(val.size() >> 8), static_cast<uint8_t>(val.size())};
    const std::size_t hn = val.size() < 128 ? 2 : 4;
    const uint8_t short_hdr[2] = {hdr[0], static_cast<uint8_t>(val.size())};
    char hx[8];
    hex_encode(hn == 2 ? short_hdr : hdr, hn, hx);
    t.append(std::string_view(hx, 2 * hn));
    for (char c : val) {
      const uint8_t b = static_cast<uint8_t>(c);
      hex_encode(&b, 1, hx);
      t.append(std::string_view(hx, 2));
    }
  }
}

void write_name(JsonWriter& w, const char* key, const X509_NAME* name) {
  w.begin_object(key);
  const int n = X509_NAME_entry_count(name);
  // ECS members in key order; the first value of each kind (the common name: the last, as Go keeps).
  struct Member {
    const char* ecs;
    int nid;
    bool last;
  };
  static constexpr Member kMembers[] = {
      {"common_name", NID_commonName, true},
      {"country", NID_countryName, false},
      {"distinguished_name", 0, false},
      {"locality", NID_localityName, false},
      {"organization", NID_organizationName, false},
      {"organizational_unit", NID_organizationalUnitName, false},
      {"state_or_province", NID_stateOrProvinceName, false},
  };
  for (const Member& m : kMembers) {
    if (m.nid == 0) {
      BoundedText<4096> dn;
      dn_text(name, dn);
      w.field(m.ecs, dn.view());
      continue;
    }
    int pick = -1;
    for (int i = 0; i < n; ++i) {
      if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, i))) != m.nid) continue;
      pick = i;
      if (!m.last) break;
    }
    if (pick < 0) continue;
    const Utf8 v(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, pick)));
    if (v.n > 0) w.field(m.ecs, v.view());
  }
  w.end_object();
}

std::string_view time_text(const ASN1_TIME* t, char* out) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  const int n = std::snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900, tm.tm_mon + 1,
                              tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return {out, n > 0 ? static_cast<std::size_t>(n) : 0};
}

// Go's names of signature algorithms (crypto/x509), which Packetbeat writes.
const char* signature_name(const X509* x, char* buf, std::size_t cap) {
  const int nid = X509_get_signature_nid(x);
  switch (nid) {
    case NID_md2WithRSAEncryption:
      return "MD2-RSA";
    case NID_md5WithRSAEncryption:
      return "MD5-RSA";
    case NID_sha1WithRSAEncryption:
      return "SHA1-RSA";
    case NID_sha256WithRSAEncryption:
      return "SHA256-RSA";
    case NID_sha384WithRSAEncryption:
      return "SHA384-RSA";
    case NID_sha512WithRSAEncryption:
      return "SHA512-RSA";
    case NID_dsaWithSHA1:
      return "DSA-SHA1";
    case NID_dsa_with_SHA256:
      return "DSA-SHA256";
    case NID_ecdsa_with_SHA1:
      return "ECDSA-SHA1";
    case NID_ecdsa_with_SHA256:
      return "ECDSA-SHA256";
    case NID_ecdsa_with_SHA384:
      return "ECDSA-SHA384";
    case NID_ecdsa_with_SHA512:
      return "ECDSA-SHA512";
    case NID_ED25519:
      return "Ed25519";
    case NID_rsassaPss: {
      int md = NID_undef;
      X509_get_signature_info(const_cast<X509*>(x), &md, nullptr, nullptr, nullptr);
      switch (md) {
        case NID_sha256:
          return "SHA256-RSAPSS";
        case NID_sha384:
          return "SHA384-RSAPSS";
        case NID_sha512:
          return "SHA512-RSAPSS";
        default:
          return "RSAPSS";
      }
    }
    default: {
      const X509_ALGOR* alg = nullptr;
      X509_get0_signature(nullptr, &alg, x);
      const ASN1_OBJECT* o = nullptr;
      if (alg) X509_ALGOR_get0(&o, nullptr, nullptr, alg);
      if (!o || OBJ_obj2txt(buf, static_cast<int>(cap), o, 0) <= 0) return nullptr;
      return buf;
    }
  }
}

// The members of an x509 object (ECS x509.*).
void write_x509(JsonWriter& w, X509* x) {
  char buf[128];
  if (auto* names =
          static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr))) {
    const int n = sk_GENERAL_NAME_num(names);
    bool any = false;
    // DNS names, then IP addresses, e-mail addresses and URIs.
    for (int kind : {GEN_DNS, GEN_IPADD, GEN_EMAIL, GEN_URI}) {
      for (int i = 0; i < n && i < 1024; ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
        if (g->type != kind) continue;
        if (!any) w.begin_array("alternative_names");
        any = true;
        if (kind == GEN_IPADD) {
          const ASN1_OCTET_STRING* ip = g->d.iPAddress;
          IpBytes a{};
          const int len = ASN1_STRING_length(ip);
          if (len != 4 && len != 16) continue;
          std::memcpy(a.data(), ASN1_STRING_get0_data(ip), static_cast<std::size_t>(len));
          w.string(std::string_view(buf, format_ip(a, len == 4 ? 4 : 6, buf)));
        } else {
          const ASN1_IA5STRING* s = kind == GEN_DNS     ? g->d.dNSName
                                    : kind == GEN_EMAIL ? g->d.rfc822Name
                                                        : g->d.uniformResourceIdentifier;
          w.string(std::string_view(
              reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
              std::min<std::size_t>(static_cast<std::size_t>(ASN1_STRING_length(s)), kMaxValue)));
        }
      }
    }
    if (any) w.end_array();
    GENERAL_NAMES_free(names);
  }
  write_name(w, "issuer", X509_get_issuer_name(x));
  if (const std::string_view t = time_text(X509_get0_notAfter(x), buf); !t.empty()) w.field("not_after", t);
  if (const std::string_view t = time_text(X509_get0_notBefore(x), buf); !t.empty()) w.field("not_before", t);
  if (const EVP_PKEY* pk = X509_get0_pubkey(x)) {
    const char* alg = nullptr;
    switch (EVP_PKEY_get_base_id(pk)) {
      case EVP_PKEY_RSA:
      case EVP_PKEY_RSA_PSS:
        alg = "RSA";
        break;
      case EVP_PKEY_DSA:
        alg = "DSA";
        break;
      case EVP_PKEY_EC:
        alg = "ECDSA";
        break;
      case EVP_PKEY_ED25519:
        alg = "Ed25519";
        break;
      default:
        break;
    }
    if (alg) w.field("public_key_algorithm", alg);
    if (const int bits = EVP_PKEY_get_bits(pk); bits > 0 && EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519)
      w.field_uint("public_key_size", static_cast<uint64_t>(bits));
  }
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr)) {
    if (char* dec = BN_bn2dec(bn)) {
      w.field("serial_number", dec);
      OPENSSL_free(dec);
    }
    BN_free(bn);
  }
  if (const char* sig = signature_name(x, buf, sizeof buf)) w.field("signature_algorithm", sig);
  write_name(w, "subject", X509_get_subject_name(x));
  w.field_uint("version_number", static_cast<uint64_t>(X509_get_version(x) + 1));
}

}  // namespace

void write_hashes(JsonWriter& w, std::span<const uint8_t> der, unsigned fingerprints, Digest& d) {
  char buf[72];
  w.begin_object("hash");
  static constexpr const char* kKeys[Digest::kKinds] = {"md5", "sha1", "sha256"};
  for (int k = 0; k < Digest::kKinds; ++k) {
    if (!(fingerprints & (1u << k))) continue;
    uint8_t md[32];
    d.begin(static_cast<Digest::Kind>(k));
    d.update(der.data(), der.size());
    const std::size_t n = d.end(md);
    hex_encode(md, n, buf, true);
    w.field(kKeys[k], std::string_view(buf, 2 * n));
  }
  w.end_object();
}

bool render_certificate(std::span<const uint8_t> der, JsonWriter& leaf, JsonWriter& x509) {
  if (der.empty() || der.size() > (1u << 24)) return false;
  const unsigned char* p = der.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (!x) return false;
  if (p != der.data() + der.size()) {  // bytes after the certificate
    X509_free(x);
    return false;
  }
  char buf[40];
  BoundedText<4096> dn;
  dn_text(X509_get_issuer_name(x), dn);
  leaf.field("issuer", dn.view());
  if (const std::string_view t = time_text(X509_get0_notAfter(x), buf); !t.empty())
    leaf.field("not_after", t);
  if (const std::string_view t = time_text(X509_get0_notBefore(x), buf); !t.empty())
    leaf.field("not_before", t);
  dn.clear();
  dn_text(X509_get_subject_name(x), dn);
  leaf.field("subject", dn.view());
  write_x509(x509, x);
  X509_free(x);
  return true;
}

std::size_t pem(std::span<const uint8_t> der, char* out) {
  static constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----\n";
  static constexpr std::string_view kEnd = "-----END CERTIFICATE-----\n";
  std::size_t n = 0;
  std::memcpy(out, kBegin.data(), kBegin.size());
  n += kBegin.size();
  for (std::size_t at = 0; at < der.size(); at += 48) {
    const std::size_t k = std::min<std::size_t>(48, der.size() - at);
    n += base64_encode(der.data() + at, k, out + n);
    out[n++] = '\n';
  }
  std::memcpy(out + n, kEnd.data(), kEnd.size());
  return n + kEnd.size();
}

}  // namespace tapbeat::tls
