// TLS (SSL 3.0, TLS 1.0-1.3) behind the decoder seam, to Packetbeat's tls module:
// one event per session with what its handshake showed in clear: hellos (JA3,
// JA3S, JA4, extensions), certificates (X.509 through OpenSSL, parsed once),
// alerts, resumption, the negotiated version, cipher and ALPN.
//
// Records are read whole (the engine holds a partial one); handshake messages split
// across records are put together in the store, up to kMaxHandshake (a larger one
// is skipped and counted, the session goes on). A direction is encrypted from its
// ChangeCipherSpec (TLS 1.3: from its first application_data record, its
// ChangeCipherSpec being the compatibility one) and its later bytes are not read;
// once both are, the session is published and the decoder leaves the connection.
// A session that does not get there is published at FIN, a gap, or the
// connection's end, with status Error.
//
// A connection that opens in cleartext on a TLS port (SMTP, IMAP, POP3, FTP, XMPP
// listed in tls.ports) is read line by line until the client asks for TLS
// (STARTTLS, STLS, AUTH TLS, <starttls/>) and the server agrees (220, OK, +OK, 234,
// <proceed/>); records follow in each direction from there. Without that within
// kMaxClearBytes the decoder leaves the connection (tls.starttls_absent).
//
// What the event shows of a hello or certificate is written as JSON text when the
// message is read (per-connection text in the store, bounded by kMaxText); the
// connection's state keeps only the facts the event decides on.
#pragma once

#include <memory>
#include <string_view>

#include "decode/decoder.hpp"
#include "decode/tls/tls_counters.hpp"
#include "util/chain_store.hpp"

namespace tapbeat {

namespace tls {
class Digest;
struct Hello;
}  // namespace tls

struct TlsSettings : ProtocolSettings {
  bool send_certificates = true;
  bool include_raw_certificates = false;
  bool include_detailed_fields = true;
  unsigned fingerprints = 1u << 1;  // tls::Digest::Kind bits; sha1
};

struct TlsState {
  enum Frag : uint8_t {
    kClientFields,  // tls.client members of the ClientHello
    kClientHello,   // tls.detailed.client_hello members
    kServerFields,  // tls.server members of the ServerHello
    kServerHello,   // tls.detailed.server_hello members
    kClientCert,    // tls.client members of its certificate
    kClientChain,   // tls.detailed.client_certificate_chain elements
    kServerCert,    // tls.server members of its certificate
    kServerChain,   // tls.detailed.server_certificate_chain elements
    kServerName,    // the SNI host name, raw
    kFrags,
  };
  struct Span {
    uint32_t off, len;
  };
  struct Dir {
    ChainStore::Chain hs;  // a handshake message split across records
    uint32_t hs_skip;      // bytes of an oversized handshake message still to skip
    uint8_t encrypted;
    uint8_t key_exchange;  // sent a (Client|Server)KeyExchange
    uint8_t certificate;   // sent a Certificate
    uint8_t records;       // records read (saturating)
    uint8_t ended;         // sent FIN or RST
    uint8_t tls;           // past a cleartext preamble (STARTTLS): records from here on
    uint8_t lost;          // a gap before encryption: its records are no longer read
    uint32_t clear_bytes;  // bytes of that preamble
  };
  static constexpr int kMaxAlerts = 8;

  Dir dir[2];
  ChainStore::Chain text;
  Span frag[kFrags];
  uint64_t start_ns;
  uint64_t end_ns;
  int8_t client;     // the direction that sent the ClientHello; -1: not known
  uint8_t preamble;  // 1: the connection opened in cleartext (SMTP, IMAP, POP3, FTP, XMPP)
  uint8_t asked;     // the client asked for TLS (STARTTLS, STLS, AUTH TLS, <starttls/>)
  uint8_t flags;
  uint16_t client_version;  // ClientHello legacy_version
  uint16_t version;         // negotiated (ServerHello, supported_versions first)
  uint16_t cipher;
  uint16_t curve;         // TLS 1.3 key_share group, or the ECDHE ServerKeyExchange's named curve
  uint8_t client_ticket;  // session_ticket: 0 absent, 1 empty, 2 with a ticket
  uint8_t server_ticket;
  uint8_t client_sid_len, server_sid_len;
  uint8_t client_sid[32], server_sid[32];
  uint8_t alpn_len;
  char alpn[64];
  uint8_t n_alerts;
  uint8_t alert[kMaxAlerts];        // descriptions
  uint8_t alert_dir[kMaxAlerts];    // who sent it: 1 client, 0 server
  uint8_t alert_level[kMaxAlerts];  // 1 warning, 2 fatal
};

class TlsDecoder final : public DecoderCommon<TlsStat> {
 public:
  static constexpr uint32_t kMaxRecord = 16384 + 2048;   // TLSCiphertext's bound (RFC 5246 §6.2.3)
  static constexpr uint32_t kMaxHandshake = 64 * 1024;   // one handshake message put together
  static constexpr uint32_t kMaxText = 128 * 1024;       // event text kept per session
  static constexpr int kMaxCertificates = 10;            // certificates of one message parsed
  static constexpr uint32_t kMaxClearLine = 4096;        // a cleartext line before STARTTLS
  static constexpr uint32_t kMaxClearBytes = 64 * 1024;  // cleartext before STARTTLS, per direction
  // Certificates recently seen by the worker, kept with their DER (found by a hash of its
  // ends and length, taken only when every byte is equal) and their fields written: a
  // server's chain is parsed and fingerprinted once, not once per session. Each kept one
  // is a blob in a ring of kCertArenaBytes (DER, then its texts), its slot valid until
  // the ring comes round over it: no eviction to run, memory in proportion to the texts.
  static constexpr uint32_t kCertSlots = 4096;
  static constexpr uint64_t kCertArenaBytes = 8u << 20;
  static constexpr uint32_t kCertDer = 8192;    // larger certificates are not kept
  static constexpr uint32_t kLeafText = 2048;   // issuer, subject, validity members
  static constexpr uint32_t kX509Text = 16384;  // x509 object members
  static constexpr uint32_t kHashText = 512;    // the hash object (fingerprints)

  explicit TlsDecoder(const DecoderSetup& s);
  ~TlsDecoder() override;
  void open(void* state) override;
  DecodeResult data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) override;
  bool gap(void* state, const StreamInfo& c, int dir, uint32_t len) override;
  void end(void* state, const StreamInfo& c, int dir) override;
  void close(void* state, const StreamInfo& c) override;
  bool expire(void* state, const StreamInfo& c, uint64_t now_ns) override;

 private:
  DecodeResult cleartext(TlsState& st, int dir, std::span<const uint8_t> bytes, uint32_t& at);
  void handshake(TlsState& st, int dir, std::span<const uint8_t> body);
  void message(TlsState& st, int dir, uint8_t type, std::span<const uint8_t> m);
  void client_hello(TlsState& st, int dir, const tls::Hello& h);
  void server_hello(TlsState& st, int dir, const tls::Hello& h);
  void certificates(TlsState& st, int dir, std::span<const uint8_t> m);
  template <class F>
  void put(TlsState& st, TlsState::Frag k, F&& write);
  void put_text(TlsState& st, TlsState::Frag k, std::string_view s);
  void publish(TlsState& st, const StreamInfo& c);
  void release(TlsState& st);
  static bool handshake_over(const TlsState& st);

  // One certificate of the message at hand: its texts, written here or found kept.
  struct CertText {
    std::string_view leaf, x509, hash;
    int32_t keep_slot;  // read now, to be kept in this slot; -1: found kept, or too large
    char leaf_buf[kLeafText];
    char x509_buf[kX509Text];
    char hash_buf[kHashText];
  };
  struct CertSlot {
    uint64_t pos;  // where its blob starts in the ring's stream of bytes; valid when set
    uint32_t der_len, leaf_len, x509_len, hash_len;
  };
  // The kept certificate equal to `der`, or null.
  const CertSlot* find_certificate(std::span<const uint8_t> der, uint32_t slot) const;
  // Keeps `der` with its texts in the ring.
  void keep_certificate(std::span<const uint8_t> der, uint32_t slot, const CertText& t);
  const char* blob(const CertSlot& c) const { return cert_arena_.get() + c.pos % kCertArenaBytes; }

  const TlsSettings& cfg_;
  std::unique_ptr<CertSlot[]> cert_slots_;  // kCertSlots, direct-mapped
  std::unique_ptr<char[]> cert_arena_;      // kCertArenaBytes, a ring
  uint64_t cert_written_ = 0;               // bytes ever written to the ring
  std::unique_ptr<CertText[]> cert_work_;   // kMaxCertificates: one message's certificates
  std::unique_ptr<tls::Digest> digest_;
  std::unique_ptr<char[]> scratch_;     // one fragment being written
  std::unique_ptr<uint8_t[]> message_;  // one handshake message put together
  std::unique_ptr<char[]> text_;        // a session's text, read back for its event
};

}  // namespace tapbeat
