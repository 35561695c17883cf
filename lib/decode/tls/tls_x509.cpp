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
  format_civil(tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, out);
  std::memcpy(out + 19, ".000Z", 5);
  return {out, 24};
}

// Go's names of signature algorithms (crypto/x509), which Packetbeat writes.
const char* signature_name(const X509_ALGOR* alg, char* buf, std::size_t cap) {
  const ASN1_OBJECT* obj = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&obj, &ptype, &pval, alg);
  const int nid = OBJ_obj2nid(obj);
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
      // RSASSA-PSS-params (RFC 4055): the hash, SHA-1 when absent.
      int md = NID_sha1;
      if (ptype == V_ASN1_SEQUENCE) {
        if (auto* pss = static_cast<RSA_PSS_PARAMS*>(
                ASN1_item_unpack(static_cast<const ASN1_STRING*>(pval), ASN1_ITEM_rptr(RSA_PSS_PARAMS)))) {
          if (pss->hashAlgorithm) md = OBJ_obj2nid(pss->hashAlgorithm->algorithm);
          RSA_PSS_PARAMS_free(pss);
        } else {
          md = NID_undef;
        }
      }
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
    default:
      if (!obj || OBJ_obj2txt(buf, static_cast<int>(cap), obj, 0) <= 0) return nullptr;
      return buf;
  }
}

// A certificate's parts, each decoded on its own (see render_certificate).
struct Parts {
  long version = 0;  // 0 for v1
  ASN1_INTEGER* serial = nullptr;
  X509_NAME* issuer = nullptr;
  X509_NAME* subject = nullptr;
  ASN1_TIME* not_before = nullptr;
  ASN1_TIME* not_after = nullptr;
  X509_ALGOR* signature = nullptr;  // the outer signatureAlgorithm
  GENERAL_NAMES* alt_names = nullptr;
  const char* key_algorithm = nullptr;
  int key_bits = 0;
  Parts() = default;
  Parts(const Parts&) = delete;
  Parts& operator=(const Parts&) = delete;
  ~Parts() {
    ASN1_INTEGER_free(serial);
    X509_NAME_free(issuer);
    X509_NAME_free(subject);
    ASN1_TIME_free(not_before);
    ASN1_TIME_free(not_after);
    X509_ALGOR_free(signature);
    GENERAL_NAMES_free(alt_names);
  }
};

// The members of an x509 object (ECS x509.*).
void write_x509(JsonWriter& w, const Parts& x) {
  char buf[128];
  if (GENERAL_NAMES* names = x.alt_names) {
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
  }
  write_name(w, "issuer", x.issuer);
  if (const std::string_view t = time_text(x.not_after, buf); !t.empty()) w.field("not_after", t);
  if (const std::string_view t = time_text(x.not_before, buf); !t.empty()) w.field("not_before", t);
  if (x.key_algorithm) w.field("public_key_algorithm", x.key_algorithm);
  if (x.key_bits > 0) w.field_uint("public_key_size", static_cast<uint64_t>(x.key_bits));
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(x.serial, nullptr)) {
    if (char* dec = BN_bn2dec(bn)) {
      w.field("serial_number", dec);
      OPENSSL_free(dec);
    }
    BN_free(bn);
  }
  if (const char* sig = signature_name(x.signature, buf, sizeof buf)) w.field("signature_algorithm", sig);
  write_name(w, "subject", x.subject);
  w.field_uint("version_number", static_cast<uint64_t>(x.version + 1));
}

// DER (X.690 10.1): one element at p, definite length, a tag of one byte.
struct Tlv {
  uint8_t tag = 0;
  const uint8_t* start = nullptr;  // the element, header included
  const uint8_t* body = nullptr;
  std::size_t len = 0;
  std::size_t size() const { return static_cast<std::size_t>(body - start) + len; }
};
bool read_tlv(const uint8_t*& p, const uint8_t* end, Tlv& t) {
  if (end - p < 2 || (p[0] & 0x1f) == 0x1f) return false;
  t.tag = p[0];
  t.start = p;
  const uint8_t* q = p + 2;
  std::size_t n = p[1];
  if (n & 0x80) {
    const std::size_t k = n & 0x7f;
    if (k == 0 || k > 4 || static_cast<std::size_t>(end - q) < k) return false;
    n = 0;
    for (std::size_t i = 0; i < k; ++i) n = n << 8 | *q++;
  }
  if (static_cast<std::size_t>(end - q) < n) return false;
  t.body = q;
  t.len = n;
  p = q + n;
  return true;
}

// Significant bits of a DER INTEGER's content (leading zero bytes left out).
int integer_bits(const uint8_t* p, std::size_t n) {
  while (n > 0 && *p == 0) ++p, --n;
  if (n == 0) return 0;
  return static_cast<int>((n - 1) * 8) + (32 - __builtin_clz(static_cast<unsigned>(*p)));
}

bool oid_is(const Tlv& t, std::string_view der_body) {
  return t.tag == 0x06 && t.len == der_body.size() && std::memcmp(t.body, der_body.data(), t.len) == 0;
}

// The subject public key's algorithm and size from SubjectPublicKeyInfo (RFC 5280
// 4.1.2.7), as OpenSSL's EVP_PKEY gives them: RSA's modulus, a named curve's order,
// Ed25519 without a size. Other keys go through OpenSSL's decoders (d2i_PUBKEY):
// d2i_X509 decodes every certificate's key that way, which costs a certificate's
// parse many times over (OpenSSL 3's decoder set-up per key).
void key_info(const Tlv& spki, Parts& x) {
  const uint8_t* p = spki.body;
  const uint8_t* end = spki.body + spki.len;
  Tlv alg, key, oid, param;
  if (read_tlv(p, end, alg) && alg.tag == 0x30 && read_tlv(p, end, key) && key.tag == 0x03 && key.len > 1 &&
      key.body[0] == 0) {
    const uint8_t* a = alg.body;
    const uint8_t* aend = alg.body + alg.len;
    if (read_tlv(a, aend, oid)) {
      const bool has_param = read_tlv(a, aend, param);
      static constexpr std::string_view kRsa("\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01", 9);
      static constexpr std::string_view kEc("\x2a\x86\x48\xce\x3d\x02\x01", 7);
      static constexpr std::string_view kEd25519("\x2b\x65\x70", 3);
      if (oid_is(oid, kRsa)) {  // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
        const uint8_t* k = key.body + 1;
        Tlv seq, n;
        if (read_tlv(k, key.body + key.len, seq) && seq.tag == 0x30) {
          const uint8_t* s = seq.body;
          if (read_tlv(s, seq.body + seq.len, n) && n.tag == 0x02 && integer_bits(n.body, n.len) > 0) {
            x.key_algorithm = "RSA";
            x.key_bits = integer_bits(n.body, n.len);
            return;
          }
        }
      } else if (oid_is(oid, kEc) && has_param) {
        struct Curve {
          std::string_view oid;
          int bits;
        };
        static constexpr Curve kCurves[] = {
            {{"\x2a\x86\x48\xce\x3d\x03\x01\x07", 8}, 256},  // P-256
            {{"\x2b\x81\x04\x00\x22", 5}, 384},              // P-384
            {{"\x2b\x81\x04\x00\x23", 5}, 521},              // P-521
        };
        for (const Curve& c : kCurves)
          if (oid_is(param, c.oid)) {
            x.key_algorithm = "ECDSA";
            x.key_bits = c.bits;
            return;
          }
      } else if (oid_is(oid, kEd25519) && !has_param) {
        x.key_algorithm = "Ed25519";
        return;
      }
    }
  }
  const unsigned char* q = spki.start;
  EVP_PKEY* pk = d2i_PUBKEY(nullptr, &q, static_cast<long>(spki.size()));
  if (!pk) return;
  switch (EVP_PKEY_get_base_id(pk)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
      x.key_algorithm = "RSA";
      break;
    case EVP_PKEY_DSA:
      x.key_algorithm = "DSA";
      break;
    case EVP_PKEY_EC:
      x.key_algorithm = "ECDSA";
      break;
    case EVP_PKEY_ED25519:
      x.key_algorithm = "Ed25519";
      break;
    default:
      break;
  }
  if (const int bits = EVP_PKEY_get_bits(pk); bits > 0 && EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519)
    x.key_bits = bits;
  EVP_PKEY_free(pk);
}

// One element decoded by OpenSSL from its DER (d2i_* of that type), null when it does not.
template <class T>
T* decode(T* (*d2i)(T**, const unsigned char**, long), const Tlv& t) {
  const unsigned char* q = t.start;
  return d2i(nullptr, &q, static_cast<long>(t.size()));
}

// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
// (RFC 5280 4.1), walked here; its parts decoded by OpenSSL one by one.
bool parse(std::span<const uint8_t> der, Parts& x) {
  const uint8_t* p = der.data();
  const uint8_t* end = der.data() + der.size();
  Tlv cert, tbs, sig_alg, sig;
  if (!read_tlv(p, end, cert) || cert.tag != 0x30 || p != end) return false;
  const uint8_t* c = cert.body;
  const uint8_t* cend = cert.body + cert.len;
  if (!read_tlv(c, cend, tbs) || tbs.tag != 0x30 || !read_tlv(c, cend, sig_alg) || sig_alg.tag != 0x30 ||
      !read_tlv(c, cend, sig) || sig.tag != 0x03 || c != cend)
    return false;
  const uint8_t* t = tbs.body;
  const uint8_t* tend = tbs.body + tbs.len;
  Tlv e;
  if (!read_tlv(t, tend, e)) return false;
  if (e.tag == 0xa0) {  // [0] EXPLICIT Version
    const uint8_t* v = e.body;
    Tlv vi;
    if (!read_tlv(v, e.body + e.len, vi) || vi.tag != 0x02 || vi.len == 0 || vi.len > 4) return false;
    long ver = 0;
    for (std::size_t i = 0; i < vi.len; ++i) ver = ver << 8 | vi.body[i];
    x.version = ver;
    if (!read_tlv(t, tend, e)) return false;
  }
  Tlv inner_alg, issuer, validity, subject, spki;
  if (e.tag != 0x02 || !read_tlv(t, tend, inner_alg) || inner_alg.tag != 0x30 || !read_tlv(t, tend, issuer) ||
      !read_tlv(t, tend, validity) || validity.tag != 0x30 || !read_tlv(t, tend, subject) ||
      !read_tlv(t, tend, spki) || spki.tag != 0x30)
    return false;
  const uint8_t* v = validity.body;
  Tlv nb, na;
  if (!read_tlv(v, validity.body + validity.len, nb) || !read_tlv(v, validity.body + validity.len, na))
    return false;
  x.serial = decode(d2i_ASN1_INTEGER, e);
  x.issuer = decode(d2i_X509_NAME, issuer);
  x.subject = decode(d2i_X509_NAME, subject);
  x.not_before = decode(d2i_ASN1_TIME, nb);
  x.not_after = decode(d2i_ASN1_TIME, na);
  x.signature = decode(d2i_X509_ALGOR, sig_alg);
  if (!x.serial || !x.issuer || !x.subject || !x.not_before || !x.not_after || !x.signature) return false;
  key_info(spki, x);
  // [1] issuerUniqueID, [2] subjectUniqueID, [3] extensions: the subject's alternative
  // names (2.5.29.17) when the extension is there once, as X509_get_ext_d2i gives them.
  while (t < tend) {
    if (!read_tlv(t, tend, e)) return false;
    if (e.tag != 0xa3) continue;
    const uint8_t* q = e.body;
    Tlv exts;
    if (!read_tlv(q, e.body + e.len, exts) || exts.tag != 0x30) return false;
    const uint8_t* r = exts.body;
    const uint8_t* rend = exts.body + exts.len;
    Tlv found;
    int seen = 0;
    while (r < rend) {
      Tlv ext, oid, f;
      if (!read_tlv(r, rend, ext) || ext.tag != 0x30) return false;
      const uint8_t* u = ext.body;
      const uint8_t* uend = ext.body + ext.len;
      if (!read_tlv(u, uend, oid) || !read_tlv(u, uend, f)) return false;
      if (f.tag == 0x01 && !read_tlv(u, uend, f)) return false;  // critical
      if (f.tag != 0x04) return false;
      if (oid_is(oid, std::string_view("\x55\x1d\x11", 3))) found = f, ++seen;
    }
    if (seen == 1) {
      const unsigned char* g = found.body;
      x.alt_names = d2i_GENERAL_NAMES(nullptr, &g, static_cast<long>(found.len));
    }
  }
  return true;
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
  Parts x;
  if (!parse(der, x)) return false;
  char buf[40];
  BoundedText<4096> dn;
  dn_text(x.issuer, dn);
  leaf.field("issuer", dn.view());
  if (const std::string_view t = time_text(x.not_after, buf); !t.empty()) leaf.field("not_after", t);
  if (const std::string_view t = time_text(x.not_before, buf); !t.empty()) leaf.field("not_before", t);
  dn.clear();
  dn_text(x.subject, dn);
  leaf.field("subject", dn.view());
  write_x509(x509, x);
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
