#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "decode/tls/tls_decoder.hpp"
#include "decode/tls/tls_hello.hpp"
#include "decode/tls/tls_names.hpp"
#include "stream_test.hpp"
#include "tls_messages.hpp"
#include "util/encode.hpp"

namespace tapbeat {
namespace {

using test::contains;

using namespace test::tls_wire;

struct TlsHarness : test::StreamTest {
  test::Conn conn{50000, 443, 100, 900};
  explicit TlsHarness(void (*tune)(TlsSettings&) = nullptr) {
    const uint16_t ports[] = {443};
    TlsSettings& s = decoders.enable<TlsSettings>("tls", ports);
    if (tune) tune(s);
    start();
    handshake(conn);
  }
  void client(const std::string& s, std::size_t piece = 0) { send(true, s, piece); }
  void server(const std::string& s, std::size_t piece = 0) { send(false, s, piece); }
  void send(bool from_client, const std::string& s, std::size_t piece) {
    if (piece == 0) piece = s.size();
    for (std::size_t at = 0; at < s.size(); at += piece) {
      const std::string part = s.substr(at, piece);
      from_client ? StreamTest::client(conn, part) : StreamTest::server(conn, part);
    }
  }
};

// The "tls" object of an event line.
std::string tls_object(const std::string& line) {
  const std::size_t at = line.find("\"tls\":{");
  return at == std::string::npos ? std::string() : line.substr(at, line.find(",\"type\":\"tls\"") - at);
}

// A TLS 1.2 handshake with a certificate, each direction's flight in `piece`-byte segments.
std::string tls12_session(std::size_t piece, TlsHarness& h) {
  static const std::string cert = certificate_der("server.example.org");
  h.client(record(22, client_hello({})), piece);
  const std::string sh_exts = ext(0xff01, u8(0)) + ext(11, u8(1) + u8(0)) + ext(16, u16(3) + u8(2) + "h2");
  h.server(record(22, server_hello(0xc02f, sh_exts) + certificate_message({cert})) +
               record(22, handshake(12, u8(3) + u16(29) + u8(1) + "k")) + record(22, handshake(14, "")),
           piece);
  h.client(record(22, handshake(16, u8(1) + "k")) + record(20, u8(1)) + record(22, std::string(40, '\x55')),
           piece);
  h.server(record(20, u8(1)) + record(22, std::string(40, '\x66')), piece);
  const auto ev = h.finish();
  return ev.size() == 1 ? ev[0] : std::string("events: ") + std::to_string(ev.size());
}

// Codes without a name (GREASE values in every Chrome hello) as Packetbeat writes them:
// lower-case hex, at least the code's width.
TEST(Tls, UnknownCodesAreWrittenWithTheirWidth) {
  char out[24];
  EXPECT_EQ(tls::name_or_unknown({}, 0x0a0a, 4, out), "(unknown:0x0a0a)");
  EXPECT_EQ(tls::name_or_unknown({}, 0x5, 2, out), "(unknown:0x05)");
  EXPECT_EQ(tls::name_or_unknown({}, 0x12345, 4, out), "(unknown:0x12345)");
  EXPECT_EQ(tls::name_or_unknown("TLS_AES_128_GCM_SHA256", 0x1301, 4, out), "TLS_AES_128_GCM_SHA256");
}

TEST(Tls, HandshakeGivesPacketbeatsFields) {
  TlsHarness h;
  const std::string ev = tls12_session(0, h);
  EXPECT_TRUE(contains(ev, R"("status":"OK")")) << ev;
  EXPECT_TRUE(contains(ev, R"("domain":"example.org")")) << ev;
  EXPECT_TRUE(contains(ev, R"("cipher":"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")")) << ev;
  EXPECT_TRUE(contains(ev, R"("curve":"x25519")")) << ev;
  EXPECT_TRUE(contains(ev, R"("next_protocol":"h2")")) << ev;
  EXPECT_TRUE(contains(ev, R"("established":true,"resumed":false)")) << ev;
  EXPECT_TRUE(contains(ev, R"("version":"1.2","version_protocol":"tls")")) << ev;
  // GREASE is left out of the cipher list and the fingerprints.
  EXPECT_TRUE(contains(
      ev,
      R"("supported_ciphers":["TLS_AES_128_GCM_SHA256","TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256","TLS_RSA_WITH_AES_128_CBC_SHA"])"))
      << ev;
  // JA3 string: 771,4865-49199-47,0-10-11-13-16-23,29-23,0
  uint8_t md[16];
  unsigned n = 0;
  const std::string ja3 = "771,4865-49199-47,0-10-11-13-16-23,29-23,0";
  EVP_Digest(ja3.data(), ja3.size(), md, &n, EVP_md5(), nullptr);
  char hex[33];
  hex_encode(md, 16, hex);
  EXPECT_TRUE(contains(ev, R"("ja3":")" + std::string(hex, 32) + "\"")) << ev;
  // JA4: TCP, TLS 1.2, SNI, 3 ciphers, 6 extensions, ALPN "h2".
  EXPECT_TRUE(contains(ev, R"("ja4":"t12d0306h2_)")) << ev;
  EXPECT_TRUE(contains(ev, R"("ja3s":")")) << ev;
  EXPECT_TRUE(contains(ev, R"("subject":"CN=server.example.org,O=Acme\\, Inc.,C=SE")")) << ev;
  EXPECT_TRUE(contains(
      ev,
      R"("public_key_algorithm":"ECDSA","public_key_size":256,"serial_number":"4242","signature_algorithm":"ECDSA-SHA256")"))
      << ev;
  EXPECT_TRUE(contains(ev, R"("_unparsed_":["23"])")) << ev;
  EXPECT_TRUE(contains(ev, R"("_unparsed_":["renegotiation_info"])")) << ev;
  EXPECT_FALSE(contains(ev, R"("bytes")")) << ev;  // Packetbeat's TLS events carry no byte counts
  EXPECT_EQ(h.count("tls.established"), 1u);
  EXPECT_EQ(h.count("tls.certificates"), 1u);
}

TEST(Tls, RecordsCutIntoOneByteSegmentsGiveTheSameEvent) {
  TlsHarness whole, bytewise;
  const std::string a = tls_object(tls12_session(0, whole));
  const std::string b = tls_object(tls12_session(1, bytewise));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);
}

TEST(Tls, HandshakeMessageSplitAcrossRecords) {
  TlsHarness h;
  const std::string ch = client_hello({});
  h.client(record(22, ch.substr(0, 3)) + record(22, ch.substr(3, 40)) + record(22, ch.substr(43)));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("server_name":"example.org")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"Error")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("established":false)")) << ev[0];
  EXPECT_FALSE(contains(ev[0], R"("duration")")) << ev[0];
}

TEST(Tls, OversizedHandshakeMessageIsSkippedAndTheSessionGoesOn) {
  TlsHarness h;
  h.client(record(22, client_hello({})));
  // A certificate message of 70,000 bytes, over the 64 KiB limit, in five records.
  std::string big = handshake(11, std::string(70000, '\0'));
  std::string flight = record(22, server_hello(0x1301, ext(43, u16(0x0303))));
  for (std::size_t at = 0; at < big.size(); at += 16000) flight += record(22, big.substr(at, 16000));
  flight += record(21, u8(2) + u8(40));  // a fatal handshake_failure alert after it
  h.server(flight, 1400);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(h.count("tls.handshake_too_large"), 1u);
  EXPECT_TRUE(contains(ev[0], R"("alert_types":["handshake_failure"])")) << ev[0];
  // And the alert whole, as Packetbeat writes it beside its type.
  EXPECT_TRUE(contains(
      ev[0], R"("alerts":[{"code":40,"severity":"fatal","source":"server","type":"handshake_failure"}])"))
      << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("cipher":"TLS_AES_128_GCM_SHA256")")) << ev[0];
}

TEST(Tls, Tls13HelloRetryAndCompatibilityChangeCipherSpec) {
  TlsHarness h;
  ClientHelloSpec c;
  c.versions = {0x0304, 0x0303};
  h.client(record(22, client_hello(c), 0x0301));
  static const uint8_t kRetry[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
                                     0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
                                     0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
  const std::string tls13 = ext(43, u16(0x0304));
  h.server(record(22, server_hello(0x1301, tls13 + ext(51, u16(23)),
                                   std::string(reinterpret_cast<const char*>(kRetry), 32))) +
           record(20, u8(1)));
  // The client's compatibility CCS and its second ClientHello: still in clear.
  h.client(record(20, u8(1)) + record(22, client_hello(c)));
  h.server(record(22, server_hello(0x1301, tls13 + ext(51, u16(23) + u16(1) + "k") + ext(41, u16(0)))) +
           record(23, std::string(30, '\x77')));
  h.client(record(23, std::string(30, '\x78')));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("version":"1.3")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("established":true,"resumed":true)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("curve":"secp256r1")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("resumption_method":"ticket")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("random":"3333)")) << ev[0];  // the real ServerHello, not the retry
  EXPECT_EQ(h.count("tls.client_hellos"), 2u);
  EXPECT_EQ(h.count("tls.server_hellos"), 2u);
}

// Part of the client's handshake lost to the capture (the server's ACK of it seen, as
// in a ClientHello whose second segment went missing): the client's records are read
// no further, the server's still are, and the session goes out with the server's
// hello and certificate once the server encrypts, not established.
TEST(Tls, HandshakeBytesLostOnOneSideLeaveTheOtherRead) {
  TlsHarness h;
  const std::string hello = record(22, client_hello({}));
  h.client(hello.substr(0, 40));
  h.lose(true, h.conn, hello.substr(40));
  static const std::string cert = certificate_der("server.example.org");
  h.server(record(22, server_hello(0xc02f, "") + certificate_message({cert})) +
           record(22, handshake(14, "")));
  h.client(record(22, handshake(16, u8(1) + "k")) + record(20, u8(1)) + record(22, std::string(40, '\x55')));
  h.server(record(20, u8(1)) + record(22, std::string(40, '\x66')));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("cipher":"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("subject":{"common_name":"server.example.org")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("established":false)")) << ev[0];
  EXPECT_EQ(h.count("tls.gaps"), 1u);
  EXPECT_EQ(h.count("tls.violations"), 0u);
}

TEST(Tls, NotTlsDetaches) {
  TlsHarness h;
  h.client("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto ev = h.finish();
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(h.count("tls.violations"), 1u);
}

TEST(Tls, FingerprintOptionsAndRawCertificates) {
  TlsHarness h([](TlsSettings& s) {
    s.include_raw_certificates = true;
    s.fingerprints = 1u << tls::Digest::kSha256;
    s.send_certificates = false;
  });
  const std::string ev = tls12_session(0, h);
  EXPECT_TRUE(contains(ev, R"("hash":{"sha256":")")) << ev;
  EXPECT_TRUE(contains(ev, R"("certificate_chain":["-----BEGIN CERTIFICATE-----\n)")) << ev;
  EXPECT_FALSE(contains(ev, R"("x509")")) << ev;
}

TEST(Tls, PostgresSslRequestHandsTheConnectionToTls) {
  test::StreamTest h;
  const uint16_t pg[] = {5432};
  const uint16_t tls_ports[] = {443};
  h.decoders.enable("pgsql", pg);
  h.decoders.enable<TlsSettings>("tls", tls_ports);
  h.start();
  test::Conn c{51000, 5432, 10, 20};
  h.handshake(c);
  h.client(c, std::string("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8));
  h.server(c, "S");
  h.client(c, record(22, client_hello({})));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("type":"tls")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("port":5432)")) << ev[0];
  EXPECT_EQ(h.count(Counter::stream_starttls), 1u);
}

}  // namespace
}  // namespace tapbeat

namespace tapbeat {
namespace {

// A text protocol's STARTTLS on a TLS port: the cleartext dialogue, then TLS.
struct StartTlsCase {
  uint16_t port;
  std::vector<std::pair<bool, std::string>> dialogue;  // (from client, text) before the ClientHello
};

std::string starttls_session(const StartTlsCase& k, bool hello_before_answer = false) {
  test::StreamTest h;
  const uint16_t ports[] = {k.port};
  h.decoders.enable<TlsSettings>("tls", ports);
  h.start();
  test::Conn c{52000, k.port, 10, 20};
  h.handshake(c);
  for (std::size_t i = 0; i < k.dialogue.size(); ++i) {
    const bool last = i + 1 == k.dialogue.size();
    if (last && hello_before_answer) h.client(c, record(22, client_hello({})));
    k.dialogue[i].first ? h.client(c, k.dialogue[i].second) : h.server(c, k.dialogue[i].second);
  }
  if (!hello_before_answer) h.client(c, record(22, client_hello({})));
  h.server(c, record(22, server_hello(0x1301, ext(43, u16(0x0304)))) + record(23, std::string(20, 'x')));
  h.client(c, record(23, std::string(20, 'y')));
  const auto ev = h.finish();
  EXPECT_EQ(h.count("tls.starttls"), 1u) << k.port;
  return ev.size() == 1 ? ev[0] : "events: " + std::to_string(ev.size());
}

TEST(TlsStartTls, TextProtocolsUpgradeOnTheirPorts) {
  const StartTlsCase cases[] = {
      {25,
       {{false, "220 mx.example.org ESMTP\r\n"},
        {true, "EHLO client.example.org\r\n"},
        {false, "250-mx.example.org\r\n250-STARTTLS\r\n250 SIZE 1000\r\n"},
        {true, "MAIL FROM:<a@b.example>\r\n"},
        {false, "530 5.7.0 Must issue a STARTTLS command first\r\n"},
        {true, "STARTTLS\r\n"},
        {false, "220 2.0.0 Ready to start TLS\r\n"}}},
      {143,
       {{false, "* OK IMAP4rev1 ready\r\n"},
        {true, "a1 STARTTLS\r\n"},
        {false, "* BYE not really\r\na1 OK Begin TLS negotiation now\r\n"}}},
      {110, {{false, "+OK POP3 ready\r\n"}, {true, "STLS\r\n"}, {false, "+OK Begin TLS\r\n"}}},
      {21, {{false, "220 FTP ready\r\n"}, {true, "AUTH TLS\r\n"}, {false, "234 AUTH TLS successful\r\n"}}},
      {5222,
       {{true, "<?xml version='1.0'?><stream:stream to='example.org' xmlns='jabber:client' version='1.0'>"},
        {false,
         "<stream:stream from='example.org' id='1' version='1.0'><stream:features>"
         "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"},
        {true, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"},
        {false, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"}}},
  };
  for (const auto& k : cases) {
    const std::string ev = starttls_session(k);
    EXPECT_TRUE(contains(ev, R"("established":true)")) << k.port << ": " << ev;
    EXPECT_TRUE(contains(ev, R"("server_name":"example.org")")) << k.port << ": " << ev;
    EXPECT_TRUE(contains(ev, R"("client":{"ip":"10.0.0.1","port":52000})")) << k.port << ": " << ev;
  }
}

TEST(TlsStartTls, ClientHelloAheadOfTheAnswerAndARefusal) {
  // The ClientHello delivered before the server's 220 (capture order): still read.
  const std::string ev = starttls_session(
      {587, {{false, "220 ready\r\n"}, {true, "STARTTLS\r\n"}, {false, "220 go ahead\r\n"}}}, true);
  EXPECT_TRUE(contains(ev, R"("established":true)")) << ev;

  // A refused STARTTLS and a session that stays in clear: no event; the decoder leaves after its limit.
  test::StreamTest h;
  const uint16_t ports[] = {25};
  h.decoders.enable<TlsSettings>("tls", ports);
  h.start();
  test::Conn c{52001, 25, 10, 20};
  h.handshake(c);
  h.server(c, "220 ready\r\n");
  h.client(c, "STARTTLS\r\n");
  h.server(c, "454 TLS not available\r\n");
  for (int i = 0; i < 100; ++i) {
    h.client(c, "RCPT TO:<" + std::string(700, 'r') + "@example.org>\r\n");
    h.server(c, "250 OK\r\n");
  }
  EXPECT_TRUE(h.finish().empty());
  EXPECT_EQ(h.count("tls.starttls"), 0u);
  EXPECT_EQ(h.count("tls.starttls_absent"), 1u);
}

}  // namespace
}  // namespace tapbeat

#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "decode/tls/tls_x509.hpp"
#include "event/json_writer.hpp"

namespace tapbeat {
namespace {

// A self-signed certificate of `key`, with a subject alternative name; its DER.
std::vector<uint8_t> self_signed(EVP_PKEY* key, const EVP_MD* md, bool pss) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set_int64(X509_get_serialNumber(x), 0x1234567890LL);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("DE"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Ex, Inc."), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("a.example"),
                             -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:a.example,IP:192.0.2.1,DNS:b.example");
  X509_add_ext(x, san, -1);
  X509_EXTENSION_free(san);
  EVP_MD_CTX* mctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  EVP_DigestSignInit(mctx, &pctx, md, nullptr, key);
  if (pss) EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
  X509_sign_ctx(x, mctx);
  EVP_MD_CTX_free(mctx);
  unsigned char* der = nullptr;
  const int n = i2d_X509(x, &der);
  std::vector<uint8_t> out(der, der + (n > 0 ? n : 0));
  OPENSSL_free(der);
  X509_free(x);
  return out;
}

EVP_PKEY* pss_key() {
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA-PSS", nullptr);
  if (ctx && EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 1024) > 0)
    EVP_PKEY_generate(ctx, &key);
  EVP_PKEY_CTX_free(ctx);
  return key;
}

// The certificate is read part by part (OpenSSL's d2i_X509 decodes the public key
// through its provider decoders, many times the cost of the rest); each kind of key
// and signature reads as X509_get0_pubkey and EVP_PKEY_get_bits give them, the SAN,
// names, validity and serial as before.
TEST(TlsX509, CertificatesReadAsOpenSslReadsThem) {
  struct Case {
    const char* what;
    EVP_PKEY* key;
    const EVP_MD* md;
    bool pss;
    const char* algorithm;  // public_key_algorithm, or null
    const char* signature;
  };
  const Case cases[] = {
      {"rsa", EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}), EVP_sha256(), false, "RSA",
       "SHA256-RSA"},
      {"rsa pss sig", EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}), EVP_sha384(), true, "RSA",
       "SHA384-RSAPSS"},
      {"rsa-pss key", pss_key(), EVP_sha256(), false, "RSA", "SHA256-RSAPSS"},
      {"p-256", EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_sha256(), false, "ECDSA",
       "ECDSA-SHA256"},
      {"p-384", EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"), EVP_sha384(), false, "ECDSA",
       "ECDSA-SHA384"},
      {"p-521", EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521"), EVP_sha512(), false, "ECDSA",
       "ECDSA-SHA512"},
      {"secp256k1", EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp256k1"), EVP_sha256(), false, "ECDSA",
       "ECDSA-SHA256"},
      {"ed25519", EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), nullptr, false, "Ed25519", "Ed25519"},
      {"ed448", EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448"), nullptr, false, nullptr, "ED448"},
  };
  for (const Case& c : cases) {
    ASSERT_NE(c.key, nullptr) << c.what;
    const std::vector<uint8_t> der = self_signed(c.key, c.md, c.pss);
    ASSERT_FALSE(der.empty()) << c.what;
    char lb[4096], xb[16384];
    JsonWriter leaf(lb, sizeof lb), x509(xb, sizeof xb);
    leaf.begin_object();
    x509.begin_object();
    ASSERT_TRUE(tls::render_certificate(der, leaf, x509)) << c.what;
    leaf.end_object();
    x509.end_object();
    const std::string l(lb, leaf.size()), x(xb, x509.size());
    EXPECT_TRUE(test::contains(l, R"("subject":"CN=a.example,O=Ex\\, Inc.,C=DE")")) << c.what << l;
    EXPECT_TRUE(test::contains(x, R"("alternative_names":["a.example","b.example","192.0.2.1"])"))
        << c.what << x;
    EXPECT_TRUE(test::contains(x, R"("serial_number":"78187493520")")) << c.what << x;
    EXPECT_TRUE(test::contains(x, R"("version_number":3)")) << c.what << x;
    EXPECT_TRUE(test::contains(x, std::string(R"("signature_algorithm":")") + c.signature + "\""))
        << c.what << x;
    // The key as OpenSSL's own decoding of the whole certificate gives it.
    const unsigned char* p = der.data();
    X509* ref = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    ASSERT_NE(ref, nullptr);
    const EVP_PKEY* pk = X509_get0_pubkey(ref);
    ASSERT_NE(pk, nullptr) << c.what;
    const int bits = EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519 ? 0 : EVP_PKEY_get_bits(pk);
    if (bits > 0)
      EXPECT_TRUE(test::contains(x, R"("public_key_size":)" + std::to_string(bits) + ",")) << c.what << x;
    else
      EXPECT_FALSE(test::contains(x, "public_key_size")) << c.what << x;
    if (c.algorithm)
      EXPECT_TRUE(test::contains(x, std::string(R"("public_key_algorithm":")") + c.algorithm + "\""))
          << c.what << x;
    else
      EXPECT_FALSE(test::contains(x, "public_key_algorithm")) << c.what << x;
    X509_free(ref);
    EVP_PKEY_free(c.key);
    // Not a certificate: cut short, or with a byte after it.
    std::vector<uint8_t> cut(der.begin(), der.end() - 1), more = der;
    more.push_back(0);
    JsonWriter l2(lb, sizeof lb), x2(xb, sizeof xb);
    EXPECT_FALSE(tls::render_certificate(cut, l2, x2)) << c.what;
    EXPECT_FALSE(tls::render_certificate(more, l2, x2)) << c.what;
  }
}

}  // namespace
}  // namespace tapbeat

namespace tapbeat {
namespace {

// A certificate named `cn` with `sans` alternative names, signed by `key`; its DER.
std::string named_certificate(EVP_PKEY* key, const std::string& cn, int sans) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set_int64(X509_get_serialNumber(x),
                         1000 + static_cast<int64_t>(std::hash<std::string>{}(cn) >> 20));
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  std::string names;
  for (int i = 0; i < sans; ++i) names += (i ? ",DNS:host-" : "DNS:host-") + std::to_string(i) + "-" + cn;
  if (sans) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, names.c_str());
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  }
  X509_sign(x, key, EVP_sha256());
  unsigned char* der = nullptr;
  const int n = i2d_X509(x, &der);
  std::string out(reinterpret_cast<char*>(der), n > 0 ? static_cast<std::size_t>(n) : 0);
  OPENSSL_free(der);
  X509_free(x);
  return out;
}

// The worker keeps certificates it has read, with their texts, in a ring of 8 MiB: more
// distinct certificates than it holds (each session's leaf, and one intermediate in every
// chain), then the first ones again. Every event carries its own certificate's fields,
// whether read or kept, and the kept ones are taken again.
TEST(TlsCertificateCache, KeptCertificatesAreTheirOwnAfterTheRingComesRound) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(key, nullptr);
  const std::string common = named_certificate(key, "intermediate.example", 3);
  constexpr int kLeaves = 900;  // ~11 KB kept each (DER and texts): ~10 MB, past the ring
  std::vector<std::string> leaves;
  for (int i = 0; i < kLeaves; ++i) leaves.push_back(named_certificate(key, "leaf" + std::to_string(i), 280));
  ASSERT_LE(leaves[0].size(), 8192u);
  ASSERT_GT(leaves[0].size(), 4096u);
  test::StreamTest h;
  const uint16_t ports[] = {443};
  h.decoders.enable<TlsSettings>("tls", ports);
  h.start();
  std::vector<int> order;
  for (int i = 0; i < kLeaves; ++i) order.push_back(i);
  for (int i = 0; i < 40; ++i) order.push_back(i);  // overwritten in the ring by now: read again
  for (int i = kLeaves - 40; i < kLeaves; ++i) order.push_back(i);  // still kept
  uint16_t port = 10000;
  for (const int i : order) {
    test::Conn c{port++, 443};
    h.handshake(c);
    h.client(c, record(22, client_hello({})));
    h.server(c, record(22, server_hello(0xc02f, "") +
                               certificate_message({leaves[static_cast<std::size_t>(i)], common})) +
                    record(22, handshake(14, "")));
    // Ended: the session's event is written now, and taken every few sessions.
    h.frame(true, c, tcp_flag::kFin | tcp_flag::kAck, c.cseq++, "");
    h.frame(false, c, tcp_flag::kFin | tcp_flag::kAck, c.sseq++, "");
    if (port % 8 == 0) h.drain();
  }
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), order.size());
  for (std::size_t k = 0; k < ev.size(); ++k) {
    const std::string cn = "leaf" + std::to_string(order[k]);
    ASSERT_TRUE(test::contains(ev[k], R"("subject":"CN=)" + cn + "\"")) << k << " " << ev[k].substr(0, 400);
    ASSERT_TRUE(test::contains(ev[k], R"("alternative_names":["host-0-)" + cn + "\"")) << k;
    ASSERT_TRUE(test::contains(ev[k], R"("common_name":"intermediate.example")")) << k;
  }
  // Every leaf and the intermediate read at least once, the first leaves twice (the ring
  // came round over them); the intermediate and the last leaves taken again (slots are
  // direct-mapped: a rare collision reads one more).
  EXPECT_EQ(h.count("tls.certificates"), 2 * order.size());
  EXPECT_LE(h.count("tls.certificates_cached"), 2 * order.size() - (1 + kLeaves + 40));
  EXPECT_GE(h.count("tls.certificates_cached"), order.size());
  EVP_PKEY_free(key);
}

}  // namespace
}  // namespace tapbeat
