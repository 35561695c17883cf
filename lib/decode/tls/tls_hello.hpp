// TLS hello messages (RFC 8446 §4.1.2-4.1.3, RFC 5246 §7.4.1, SSLv2-compatible
// ClientHello of RFC 5246 Appendix E.2): parsed in place (spans into the message),
// fingerprinted (JA3, JA3S, JA4's TLS client method) and written as Packetbeat's
// tls.client / tls.server / tls.detailed.*_hello fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

struct evp_md_ctx_st;
struct evp_md_st;

namespace tapbeat {

class JsonWriter;

namespace tls {

using Bytes = std::span<const uint8_t>;

// One reusable message digest context (created once per decoder, not per use).
class Digest {
 public:
  enum Kind : uint8_t { kMd5, kSha1, kSha256, kKinds };
  Digest();
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void begin(Kind k);
  void update(const void* p, std::size_t n);
  // Writes the digest, returns its length (16, 20 or 32).
  std::size_t end(uint8_t* out);

 private:
  evp_md_ctx_st* ctx_;
  evp_md_st* md_[kKinds];
};

struct Hello {
  uint16_t version = 0;  // legacy_version
  Bytes random, session_id;
  Bytes ciphers;                   // client: 2-byte codes (SSLv2: 3-byte specs)
  Bytes compression;               // client: methods offered
  Bytes extensions;                // the extension block without its length
  uint16_t cipher = 0;             // server: selected
  uint8_t compression_method = 0;  // server: selected
  bool sslv2 = false;              // an SSLv2-compatible ClientHello
};

// body: the handshake message without its 4-byte header. False: malformed.
bool parse_client_hello(Bytes body, Hello& h);
bool parse_server_hello(Bytes body, Hello& h);
// rec: an SSLv2 record's body (after its 2-byte length), message type 1 first.
bool parse_sslv2_client_hello(Bytes rec, Hello& h);

// The extension's data; found is false when the hello has none of that type.
Bytes find_extension(const Hello& h, uint16_t type, bool& found);
// The first host_name of server_name (empty: none).
std::string_view server_name(const Hello& h);
// The first protocol of application_layer_protocol_negotiation (empty: none).
std::string_view first_alpn(const Hello& h);
// The server's negotiated version: supported_versions when present, else legacy_version.
uint16_t negotiated_version(const Hello& server);
// session_ticket: 0 absent, 1 empty, 2 with a ticket.
int session_ticket(const Hello& h);

// tls.client members: ja3, ja4, server_name, supported_ciphers.
void write_client_fields(JsonWriter& w, const Hello& h, Digest& d);
// tls.server members: ja3s.
void write_server_fields(JsonWriter& w, const Hello& h, Digest& d);
// Members of tls.detailed.client_hello / server_hello.
void write_hello_detail(JsonWriter& w, const Hello& h, bool client);

// JA3 (or JA3S) MD5 in lower-case hex; out: 32 bytes.
void ja3(const Hello& h, bool client, Digest& d, char* out);
// JA4 (TLS over TCP): "t13d1516h2_8daaf6152771_e5627efa2ab1"; out: 36 bytes. Returns the length.
std::size_t ja4(const Hello& h, Digest& d, char* out);

// A big-endian 16-bit field (the bytes known to be there).
inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

}  // namespace tls
}  // namespace tapbeat
