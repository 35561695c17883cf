#include "decode/tls/tls_decoder.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <new>

#include "decode/tls/tls_hello.hpp"
#include "decode/tls/tls_names.hpp"
#include "decode/tls/tls_x509.hpp"
#include "event/emitter.hpp"
#include "event/json_writer.hpp"
#include "util/byte_reader.hpp"

namespace tapbeat {

static_assert(sizeof(TlsState) <= kDecoderStateBytes);

namespace {

enum Flags : uint8_t {
  kClientHelloSeen = 1,
  kServerHelloSeen = 2,
  kSent = 4,
  kCertRequested = 8,
  kPsk = 16,  // the TLS 1.3 ServerHello accepted a pre-shared key
  kHelloRetry = 32,
};

enum : uint8_t {
  kChangeCipherSpec = 20,
  kAlert = 21,
  kHandshake = 22,
  kApplicationData = 23,
  kHeartbeat = 24,
};

// ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3).
constexpr uint8_t kHelloRetryRandom[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
                                           0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
                                           0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

using tls::be16;
uint32_t be24(const uint8_t* p) { return static_cast<uint32_t>(load_be(p, 3)); }

bool tls13(uint16_t v) { return (v >= 0x0304 && (v >> 8) == 3) || tls::is_tls13_draft(v); }

}  // namespace

TlsDecoder::TlsDecoder(const DecoderSetup& s)
    : DecoderCommon(s),
      cfg_(s.settings<TlsSettings>()),
      cert_slots_(new CertSlot[kCertSlots]()),
      cert_arena_(new char[kCertArenaBytes]),
      cert_work_(new CertText[kMaxCertificates]),
      digest_(std::make_unique<tls::Digest>()),
      scratch_(std::make_unique<char[]>(kMaxText)),
      message_(std::make_unique<uint8_t[]>(kMaxHandshake + 4)),
      text_(std::make_unique<char[]>(kMaxText)) {
  for (uint32_t i = 0; i < kCertSlots; ++i) cert_slots_[i].pos = UINT64_MAX;
}

const TlsDecoder::CertSlot* TlsDecoder::find_certificate(std::span<const uint8_t> der, uint32_t slot) const {
  const CertSlot& c = cert_slots_[slot];
  // Valid while the ring has not come round over the blob. (A message's new certificates
  // are kept only once its text is written, so the blobs it reads stay as they are.)
  if (c.pos == UINT64_MAX || cert_written_ > c.pos + kCertArenaBytes || c.der_len != der.size())
    return nullptr;
  return std::memcmp(blob(c), der.data(), der.size()) == 0 ? &c : nullptr;
}

void TlsDecoder::keep_certificate(std::span<const uint8_t> der, uint32_t slot, const CertText& t) {
  const uint64_t len = der.size() + t.leaf.size() + t.x509.size() + t.hash.size();
  // A blob lies whole in the ring: one that would cross its end starts at the beginning.
  if (cert_written_ % kCertArenaBytes + len > kCertArenaBytes)
    cert_written_ += kCertArenaBytes - cert_written_ % kCertArenaBytes;
  CertSlot& c = cert_slots_[slot];
  c.pos = cert_written_;
  c.der_len = static_cast<uint32_t>(der.size());
  c.leaf_len = static_cast<uint32_t>(t.leaf.size());
  c.x509_len = static_cast<uint32_t>(t.x509.size());
  c.hash_len = static_cast<uint32_t>(t.hash.size());
  char* b = cert_arena_.get() + c.pos % kCertArenaBytes;
  std::memcpy(b, der.data(), der.size());
  b += der.size();
  for (const std::string_view v : {t.leaf, t.x509, t.hash}) {
    if (!v.empty()) std::memcpy(b, v.data(), v.size());
    b += v.size();
  }
  cert_written_ += len;
}

TlsDecoder::~TlsDecoder() = default;

void TlsDecoder::open(void* state) {
  auto& st = *new (state) TlsState();  // zeroed, chains empty
  st.client = -1;
}

DecodeResult TlsDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) {
  auto& st = *static_cast<TlsState*>(state);
  TlsState::Dir& d = st.dir[dir];
  if (!st.start_ns) st.start_ns = c.ts_at(0);  // the first packet of the first bytes
  const auto n = static_cast<uint32_t>(bytes.size());
  uint32_t at = 0;
  if (n == 0 || d.lost) return {n, 0, Verdict::kOk};
  if (!d.tls && d.records == 0) {
    // Cleartext first: a server's greeting (SMTP, IMAP, POP3, FTP: the side that did
    // not open the connection speaks first) or an XMPP stream header: its STARTTLS is
    // awaited. Anything else that is not a record is not TLS.
    if (!st.preamble && !(st.flags & (kClientHelloSeen | kServerHelloSeen)) && st.dir[1 - dir].records == 0 &&
        ((dir == 1 && bytes[0] >= 0x20 && bytes[0] < 0x7f) || (dir == 0 && bytes[0] == '<')))
      st.preamble = 1;
    if (st.preamble) {
      const DecodeResult r = cleartext(st, dir, bytes, at);
      if (!d.tls) return r;
      if (!st.dir[1 - dir].tls) st.start_ns = c.ts_at(at);  // the session starts with TLS, not the greeting
    } else {
      d.tls = 1;
    }
  }
  while (!d.encrypted && at < n) {
    const uint8_t* p = bytes.data() + at;
    const uint32_t left = n - at;
    // An SSLv2-compatible ClientHello opens a client's stream (2-byte header, high bit set).
    if (d.records == 0 && (p[0] & 0x80)) {
      if (left < 3) return {at, 3, Verdict::kNeedMore};
      const uint32_t len = (uint32_t{p[0] & 0x7fu} << 8) | p[1];
      if (p[2] != 1 || len < 9) return {at, 0, Verdict::kViolation};
      if (left < 2 + len) return {at, 2 + len, Verdict::kNeedMore};
      tls::Hello h;
      d.records = 1;
      if (tls::parse_sslv2_client_hello(bytes.subspan(at + 2, len), h)) {
        counters_.inc(TlsStat::sslv2_client_hellos);
        client_hello(st, dir, h);
      } else {
        counters_.inc(TlsStat::malformed);
      }
      at += 2 + len;
      continue;
    }
    if (left < 5) return {at, 5, Verdict::kNeedMore};
    const uint8_t type = p[0];
    const uint32_t len = be16(p + 3);
    if (type < kChangeCipherSpec || type > kHeartbeat || p[1] != 3 || p[2] > 4 || len > kMaxRecord) {
      return {at, 0, Verdict::kViolation};  // counted by the engine as tls.violations
    }
    if (d.records < 255) ++d.records;
    if (type == kApplicationData) {
      d.encrypted = 1;
      break;
    }
    if (left < 5 + len) return {at, 5 + len, Verdict::kNeedMore};
    const std::span<const uint8_t> body = bytes.subspan(at + 5, len);
    switch (type) {
      case kChangeCipherSpec:
        // TLS 1.3's is for middleboxes (RFC 8446 D.4): encryption starts with its records.
        if (!((st.flags & kServerHelloSeen) && tls13(st.version))) d.encrypted = 1;
        break;
      case kAlert:
        if (len == 2) {
          counters_.inc(TlsStat::alerts);
          if (st.n_alerts < TlsState::kMaxAlerts) {
            st.alert[st.n_alerts] = body[1];
            st.alert_level[st.n_alerts] = body[0];
            st.alert_dir[st.n_alerts++] = st.client < 0 ? 1 : dir == st.client;
          }
        } else {
          counters_.inc(TlsStat::malformed);
        }
        break;
      case kHandshake:
        handshake(st, dir, body);
        break;
      case kHeartbeat:
        counters_.inc(TlsStat::heartbeats);
        break;
      default:
        break;
    }
    at += 5 + len;
  }
  if (handshake_over(st)) {
    st.end_ns = c.ts_ns;
    publish(st, c);
    return {n, 0, Verdict::kDone};
  }
  return {n, 0, Verdict::kOk};
}

// Both directions encrypted, or no longer read after a gap: nothing more to learn.
bool TlsDecoder::handshake_over(const TlsState& st) {
  return (st.dir[0].encrypted || st.dir[0].lost) && (st.dir[1].encrypted || st.dir[1].lost);
}

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

// The command asking for TLS of SMTP (RFC 3207), IMAP (RFC 3501, after its tag),
// POP3 (RFC 2595), FTP (RFC 4217) or XMPP (RFC 6120).
bool asks_for_tls(std::string_view line) {
  if (starts_with_ci(line, "STARTTLS") || starts_with_ci(line, "STLS") || starts_with_ci(line, "AUTH TLS") ||
      starts_with_ci(line, "AUTH SSL"))
    return true;
  // XMPP's request is the empty element <starttls .../> (the server's feature has children).
  const std::size_t x = line.find("<starttls");
  if (x != std::string_view::npos) return line.ends_with('/');
  const std::size_t sp = line.find(' ');  // IMAP: "a1 STARTTLS"
  return sp != std::string_view::npos && sp > 0 && line[0] != '*' &&
         starts_with_ci(line.substr(sp + 1), "STARTTLS");
}

// The server's answer to it: 1 yes, -1 no, 0 another line (a continuation, an untagged one).
int tls_answer(std::string_view line) {
  if (line.find("<proceed") != std::string_view::npos) return 1;
  if (line.find("<failure") != std::string_view::npos) return -1;
  if (starts_with_ci(line, "+OK")) return 1;
  if (starts_with_ci(line, "-ERR")) return -1;
  if (line.size() >= 4 && std::isdigit(static_cast<unsigned char>(line[0])) && line[3] != '-') {
    if (starts_with_ci(line, "220") || starts_with_ci(line, "234")) return 1;  // SMTP, FTP
    if (line[0] == '4' || line[0] == '5') return -1;
    return 0;
  }
  const std::size_t sp = line.find(' ');  // IMAP: "a1 OK", "a1 NO", "a1 BAD"
  if (sp == std::string_view::npos || sp == 0 || line[0] == '*') return 0;
  const std::string_view rest = line.substr(sp + 1);
  if (starts_with_ci(rest, "OK")) return 1;
  if (starts_with_ci(rest, "NO") || starts_with_ci(rest, "BAD")) return -1;
  return 0;
}

}  // namespace

// Lines (or XML elements) before STARTTLS; sets the direction's `tls` once records follow.
DecodeResult TlsDecoder::cleartext(TlsState& st, int dir, std::span<const uint8_t> bytes, uint32_t& at) {
  TlsState::Dir& d = st.dir[dir];
  const auto n = static_cast<uint32_t>(bytes.size());
  while (at < n) {
    if (st.asked && dir == st.client && bytes[at] == 0x16) {  // the ClientHello, before the answer was read
      d.tls = 1;
      return {at, 0, Verdict::kOk};
    }
    uint32_t end = at;
    const uint32_t limit = std::min(n, at + kMaxClearLine);
    while (end < limit && bytes[end] != '\n' && bytes[end] != '>') ++end;
    if (end == limit) {
      if (limit == n && n - at < kMaxClearLine) return {at, n - at + 1, Verdict::kNeedMore};
      counters_.inc(TlsStat::starttls_absent);
      return {at, 0, Verdict::kDone};
    }
    const std::string_view line(reinterpret_cast<const char*>(bytes.data() + at), end - at);
    d.clear_bytes += end + 1 - at;
    at = end + 1;
    if (!st.asked) {
      if (asks_for_tls(line)) {
        st.asked = 1;
        st.client = static_cast<int8_t>(dir);
      }
    } else if (dir != st.client) {
      const int answer = tls_answer(line);
      if (answer > 0) {
        counters_.inc(TlsStat::starttls);
        d.tls = 1;
        return {at, 0, Verdict::kOk};
      }
      if (answer < 0) st.asked = 0;
    }
    if (d.clear_bytes > kMaxClearBytes) {
      counters_.inc(TlsStat::starttls_absent);
      return {at, 0, Verdict::kDone};
    }
  }
  return {n, 0, Verdict::kOk};
}

void TlsDecoder::handshake(TlsState& st, int dir, std::span<const uint8_t> body) {
  TlsState::Dir& d = st.dir[dir];
  std::size_t at = 0;
  if (d.hs_skip) {
    const std::size_t k = std::min<std::size_t>(d.hs_skip, body.size());
    d.hs_skip -= static_cast<uint32_t>(k);
    at = k;
  }
  if (!d.hs.empty() && at < body.size()) {
    const auto rest = static_cast<uint32_t>(body.size() - at);
    if (store_.append(d.hs, body.data() + at, rest) < rest) {
      counters_.inc(TlsStat::text_full);
      store_.release(d.hs);
      return;
    }
    at = body.size();
    while (d.hs.len >= 4) {
      uint8_t h[4];
      store_.copy_out(d.hs, h, 4);
      const uint32_t mlen = be24(h + 1);
      if (mlen > kMaxHandshake) {
        counters_.inc(TlsStat::handshake_too_large);
        d.hs_skip = 4 + mlen - d.hs.len;
        store_.release(d.hs);
        return;
      }
      if (d.hs.len < 4 + mlen) return;
      store_.copy_out(d.hs, message_.get(), 4 + mlen);
      store_.drop_front(d.hs, 4 + mlen);
      message(st, dir, h[0], {message_.get() + 4, mlen});
    }
    if (d.hs.len == 0) store_.release(d.hs);
    return;
  }
  while (at + 4 <= body.size()) {
    const uint32_t mlen = be24(body.data() + at + 1);
    if (at + 4 + mlen <= body.size()) {
      message(st, dir, body[at], body.subspan(at + 4, mlen));
      at += 4 + mlen;
      continue;
    }
    if (mlen > kMaxHandshake) {
      counters_.inc(TlsStat::handshake_too_large);
      d.hs_skip = static_cast<uint32_t>(4 + mlen - (body.size() - at));
      return;
    }
    break;
  }
  if (at < body.size()) {
    const auto rest = static_cast<uint32_t>(body.size() - at);
    if (store_.append(d.hs, body.data() + at, rest) < rest) {
      counters_.inc(TlsStat::text_full);
      store_.release(d.hs);
    }
  }
}

void TlsDecoder::message(TlsState& st, int dir, uint8_t type, std::span<const uint8_t> m) {
  switch (type) {
    case 1: {  // ClientHello (a second one, after a HelloRetryRequest, keeps the first's fields)
      tls::Hello h;
      if (!tls::parse_client_hello(m, h)) {
        counters_.inc(TlsStat::malformed);
        return;
      }
      client_hello(st, dir, h);
      return;
    }
    case 2: {  // ServerHello (or HelloRetryRequest)
      tls::Hello h;
      if (!tls::parse_server_hello(m, h)) {
        counters_.inc(TlsStat::malformed);
        return;
      }
      server_hello(st, dir, h);
      return;
    }
    case 11:  // Certificate
      certificates(st, dir, m);
      return;
    case 12:  // ServerKeyExchange: an ECDHE one names its curve first (RFC 8422 §5.4)
      st.dir[dir].key_exchange = 1;
      if (m.size() >= 3 && m[0] == 3) {
        const std::string_view cipher = tls::cipher_name(st.cipher);
        if (cipher.starts_with("TLS_ECDHE_") || cipher.starts_with("TLS_ECDH_anon_"))
          st.curve = be16(m.data() + 1);
      }
      return;
    case 13:  // CertificateRequest
      st.flags |= kCertRequested;
      return;
    case 16:  // ClientKeyExchange
      st.dir[dir].key_exchange = 1;
      return;
    default:
      return;
  }
}

void TlsDecoder::client_hello(TlsState& st, int dir, const tls::Hello& h) {
  counters_.inc(TlsStat::client_hellos);
  if (st.flags & kClientHelloSeen) return;
  st.flags |= kClientHelloSeen;
  if (st.client < 0) st.client = static_cast<int8_t>(dir);
  st.client_version = h.version;
  st.client_sid_len = static_cast<uint8_t>(h.session_id.size());
  if (!h.session_id.empty()) std::memcpy(st.client_sid, h.session_id.data(), h.session_id.size());
  st.client_ticket = static_cast<uint8_t>(tls::session_ticket(h));
  put(st, TlsState::kClientFields, [&](JsonWriter& w) { tls::write_client_fields(w, h, *digest_); });
  if (cfg_.include_detailed_fields)
    put(st, TlsState::kClientHello, [&](JsonWriter& w) { tls::write_hello_detail(w, h, true); });
  if (const std::string_view sni = tls::server_name(h); !sni.empty())
    put_text(st, TlsState::kServerName, sni);
}

void TlsDecoder::server_hello(TlsState& st, int dir, const tls::Hello& h) {
  counters_.inc(TlsStat::server_hellos);
  if (st.client < 0) st.client = static_cast<int8_t>(1 - dir);
  st.flags |= kServerHelloSeen;
  if (h.random.size() == 32 && std::memcmp(h.random.data(), kHelloRetryRandom, 32) == 0)
    st.flags |= kHelloRetry;
  else
    st.flags &= static_cast<uint8_t>(~kHelloRetry);
  st.version = tls::negotiated_version(h);
  st.cipher = h.cipher;
  st.server_sid_len = static_cast<uint8_t>(h.session_id.size());
  if (!h.session_id.empty()) std::memcpy(st.server_sid, h.session_id.data(), h.session_id.size());
  st.server_ticket = static_cast<uint8_t>(tls::session_ticket(h));
  bool found;
  tls::find_extension(h, 41, found);  // pre_shared_key
  if (found) st.flags |= kPsk;
  const tls::Bytes ks = tls::find_extension(h, 51, found);  // key_share: the group first
  if (found && ks.size() >= 2) st.curve = be16(ks.data());
  const std::string_view alpn = tls::first_alpn(h);
  st.alpn_len = static_cast<uint8_t>(std::min(alpn.size(), sizeof st.alpn));
  if (st.alpn_len) std::memcpy(st.alpn, alpn.data(), st.alpn_len);
  put(st, TlsState::kServerFields, [&](JsonWriter& w) { tls::write_server_fields(w, h, *digest_); });
  if (cfg_.include_detailed_fields)
    put(st, TlsState::kServerHello, [&](JsonWriter& w) { tls::write_hello_detail(w, h, false); });
}

// Certificate (RFC 5246 §7.4.2): certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>.
void TlsDecoder::certificates(TlsState& st, int dir, std::span<const uint8_t> m) {
  if (m.size() < 3 || be24(m.data()) + 3u != m.size()) {
    counters_.inc(TlsStat::malformed);
    return;
  }
  st.dir[dir].certificate = 1;
  const bool server = st.client < 0 || dir != st.client;
  std::span<const uint8_t> der[kMaxCertificates];
  int n = 0;
  for (std::size_t at = 3; at + 3 <= m.size();) {
    const uint32_t len = be24(m.data() + at);
    if (at + 3 + len > m.size()) {
      counters_.inc(TlsStat::malformed);
      break;
    }
    const std::span<const uint8_t> one = m.subspan(at + 3, len);
    at += 3 + len;
    if (n == kMaxCertificates) {
      counters_.inc(TlsStat::certificates_skipped);
      continue;
    }
    CertText& t = cert_work_[n];
    // The slot: a hash of the DER's length and ends (the serial number near the start,
    // the signature at the end); a kept one is this certificate only when all bytes match.
    const bool keep = one.size() <= kCertDer;
    uint32_t slot = 0;
    if (keep) {
      uint32_t h = 2166136261u ^ static_cast<uint32_t>(one.size());
      const std::size_t k = std::min<std::size_t>(32, one.size());
      for (std::size_t i = 0; i < k; ++i) h = (h ^ one[i]) * 16777619u;
      for (std::size_t i = one.size() - k; i < one.size(); ++i) h = (h ^ one[i]) * 16777619u;
      slot = h % kCertSlots;
    }
    t.keep_slot = -1;
    if (const CertSlot* kept = keep ? find_certificate(one, slot) : nullptr) {
      counters_.inc(TlsStat::certificates_cached);
      const char* b = blob(*kept) + kept->der_len;
      t.leaf = {b, kept->leaf_len};
      t.x509 = {b + kept->leaf_len, kept->x509_len};
      t.hash = {b + kept->leaf_len + kept->x509_len, kept->hash_len};
    } else {
      JsonWriter leaf(t.leaf_buf, kLeafText), x509(t.x509_buf, kX509Text), hash(t.hash_buf, kHashText);
      if (!tls::render_certificate(one, leaf, x509)) {
        counters_.inc(TlsStat::certificates_invalid);
        continue;
      }
      if (cfg_.fingerprints) tls::write_hashes(hash, one, cfg_.fingerprints, *digest_);
      if (leaf.overflow() || x509.overflow() || hash.overflow()) {
        counters_.inc(TlsStat::text_full);
        continue;
      }
      t.leaf = {t.leaf_buf, leaf.size()};
      t.x509 = {t.x509_buf, x509.size()};
      t.hash = {t.hash_buf, hash.size()};
      t.keep_slot = keep ? static_cast<int32_t>(slot) : -1;
    }
    counters_.inc(TlsStat::certificates);
    der[n++] = one;
  }
  if (n == 0) return;
  const bool x509 = cfg_.send_certificates && cfg_.include_detailed_fields;
  put(st, server ? TlsState::kServerCert : TlsState::kClientCert, [&](JsonWriter& w) {
    if (cfg_.fingerprints) w.raw(cert_work_[0].hash);
    w.raw(cert_work_[0].leaf);
    if (x509) {
      w.begin_object("x509");
      w.raw(cert_work_[0].x509);
      w.end_object();
    }
    if (cfg_.include_raw_certificates) {
      w.begin_array("certificate_chain");
      char* text = text_.get();  // free while a fragment is written
      for (int i = 0; i < n; ++i) {
        if (tls::pem_size(der[i].size()) > kMaxText) continue;
        w.string({text, tls::pem(der[i], text)});
      }
      w.end_array();
    }
  });
  if (x509 && n > 1) {
    put(st, server ? TlsState::kServerChain : TlsState::kClientChain, [&](JsonWriter& w) {
      for (int i = 1; i < n; ++i) {
        w.begin_object();
        w.raw(cert_work_[i].x509);
        w.end_object();
      }
    });
  }
  // The certificates read now are kept once nothing reads the ring for this message.
  for (int i = 0; i < n; ++i)
    if (cert_work_[i].keep_slot >= 0)
      keep_certificate(der[i], static_cast<uint32_t>(cert_work_[i].keep_slot), cert_work_[i]);
}

template <class F>
void TlsDecoder::put(TlsState& st, TlsState::Frag k, F&& write) {
  JsonWriter w(scratch_.get(), kMaxText);
  write(w);
  if (w.overflow()) {
    counters_.inc(TlsStat::text_full);
    return;
  }
  put_text(st, k, w.view());
}

void TlsDecoder::put_text(TlsState& st, TlsState::Frag k, std::string_view s) {
  if (s.empty()) return;
  if (st.text.len + s.size() > kMaxText) {
    counters_.inc(TlsStat::text_full);
    return;
  }
  const uint32_t off = st.text.len;
  const auto len = static_cast<uint32_t>(s.size());
  if (store_.append(st.text, reinterpret_cast<const uint8_t*>(s.data()), len) < len) {
    counters_.inc(TlsStat::text_full);
    return;
  }
  st.frag[k] = {off, len};
}

void TlsDecoder::publish(TlsState& st, const StreamInfo& c) {
  if (st.flags & kSent) return;
  st.flags |= kSent;
  const bool hello = st.flags & (kClientHelloSeen | kServerHelloSeen);
  if (!hello && !st.frag[TlsState::kServerCert].len && !st.frag[TlsState::kClientCert].len) {
    release(st);
    return;
  }
  const uint32_t held = store_.copy_out(st.text, reinterpret_cast<uint8_t*>(text_.get()), kMaxText);
  const auto frag = [&](TlsState::Frag k) {
    const TlsState::Span s = st.frag[k];
    return s.len && s.off + s.len <= held ? std::string_view(text_.get() + s.off, s.len) : std::string_view{};
  };
  const bool established = st.dir[0].encrypted && st.dir[1].encrypted;
  const bool server_hello = st.flags & kServerHelloSeen;
  const uint16_t version = server_hello ? st.version : st.client_version;

  bool resumed = false;
  const char* method = nullptr;
  if (server_hello && tls13(st.version)) {
    resumed = st.flags & kPsk;  // RFC 8446 §2.2: resumption is a PSK from a ticket
    if (resumed) method = "ticket";
  } else if (server_hello) {
    const bool full =
        st.dir[0].key_exchange || st.dir[1].key_exchange || st.dir[0].certificate || st.dir[1].certificate;
    const bool id_match = st.client_sid_len && st.client_sid_len == st.server_sid_len &&
                          std::memcmp(st.client_sid, st.server_sid, st.client_sid_len) == 0;
    const bool ticket = st.client_ticket == 2 && st.server_ticket;
    resumed = !full && (id_match || ticket);
    if (resumed) method = ticket ? "ticket" : "id";
  }

  TransactionFields t;
  t.type = "tls";
  t.ok = established;
  t.start_ns = st.start_ns;
  t.end_ns = established ? st.end_ns : 0;
  t.omit_duration = !established;
  t.omit_bytes = true;
  set_connection(t, c, st.client, 6, "tls");
  t.server_domain = frag(TlsState::kServerName);

  counters_.inc(TlsStat::sessions);
  if (established) counters_.inc(TlsStat::established);
  out_.emit([&](JsonWriter& w) {
    char buf[32];
    begin_transaction(w, t, agent_, internal_);
    w.begin_object("tls");
    if (version) {
      w.field("version", tls::ecs_version(version, buf));
      w.field("version_protocol", tls::ecs_version_protocol(version));
    }
    w.field_bool("established", established);
    w.field_bool("resumed", resumed);
    if (server_hello) {
      w.field("cipher", tls::name_or_unknown(tls::cipher_name(st.cipher), st.cipher, 4, buf));
      if (st.curve) w.field("curve", tls::name_or_unknown(tls::group_name(st.curve), st.curve, 4, buf));
    }
    if (st.alpn_len) w.field("next_protocol", std::string_view(st.alpn, st.alpn_len));
    for (int side = 0; side < 2; ++side) {  // client, then server
      const std::string_view a = frag(side == 0 ? TlsState::kClientFields : TlsState::kServerFields);
      const std::string_view b = frag(side == 0 ? TlsState::kClientCert : TlsState::kServerCert);
      if (a.empty() && b.empty()) continue;
      w.begin_object(side == 0 ? "client" : "server");
      if (!a.empty()) w.raw(a);
      if (!b.empty()) w.raw(b);
      w.end_object();
    }
    if (cfg_.include_detailed_fields) {
      w.begin_object("detailed");
      if (st.n_alerts) {
        w.begin_array("alert_types");
        for (int pass = 1; pass >= 0; --pass)  // the client's, then the server's
          for (int i = 0; i < st.n_alerts; ++i)
            if (st.alert_dir[i] == pass)
              w.string(tls::name_or_unknown(tls::alert_name(st.alert[i]), st.alert[i], 2, buf));
        w.end_array();
        // Each alert whole, as Packetbeat writes them beside the types (its alerts.go).
        w.begin_array("alerts");
        for (int pass = 1; pass >= 0; --pass)
          for (int i = 0; i < st.n_alerts; ++i) {
            if (st.alert_dir[i] != pass) continue;
            w.begin_object();
            w.field_uint("code", st.alert[i]);
            const uint8_t level = st.alert_level[i];
            w.field("severity", level == 1   ? std::string_view("warning")
                                : level == 2 ? std::string_view("fatal")
                                             : tls::name_or_unknown({}, level, 2, buf));
            w.field("source", pass ? "client" : "server");
            w.field("type", tls::name_or_unknown(tls::alert_name(st.alert[i]), st.alert[i], 2, buf));
            w.end_object();
          }
        w.end_array();
      }
      w.field_bool("client_certificate_requested", (st.flags & kCertRequested) != 0);
      static constexpr struct {
        TlsState::Frag frag;
        const char* key;
        bool array;
      } kDetail[] = {
          {TlsState::kClientChain, "client_certificate_chain", true},
          {TlsState::kClientHello, "client_hello", false},
          {TlsState::kServerChain, "server_certificate_chain", true},
          {TlsState::kServerHello, "server_hello", false},
      };
      for (const auto& k : kDetail) {
        const std::string_view f = frag(k.frag);
        if (f.empty()) continue;
        if (k.array)
          w.begin_array(k.key);
        else
          w.begin_object(k.key);
        w.raw(f);
        if (k.array)
          w.end_array();
        else
          w.end_object();
      }
      if (method) w.field("resumption_method", method);
      if (version) w.field("version", tls::version_text(version, buf));
      w.end_object();
    }
    w.end_object();
    end_transaction(w);
  });
  release(st);
}

void TlsDecoder::release(TlsState& st) {
  store_.release(st.text);
  for (auto& d : st.dir) store_.release(d.hs);
  std::memset(st.frag, 0, sizeof st.frag);
}

bool TlsDecoder::gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
  (void)len;
  auto& st = *static_cast<TlsState*>(state);
  TlsState::Dir& d = st.dir[dir];
  counters_.inc(TlsStat::gaps);
  if (d.encrypted) return true;  // past its handshake: nothing there is read
  // Handshake bytes lost: a record boundary cannot be found again with certainty, so
  // this direction is read no further; the other direction's handshake still is, and
  // the session goes out once that one is over too (or at the connection's end).
  store_.release(d.hs);
  d.hs_skip = 0;
  d.lost = 1;
  if (!handshake_over(st)) return true;
  st.end_ns = c.ts_ns;
  publish(st, c);
  return true;  // nothing more is read (data() ends the decoding): not a connection left at a gap
}

// A half-close does not end a handshake (the other side's flight may still come):
// the session is published once both directions have ended.
void TlsDecoder::end(void* state, const StreamInfo& c, int dir) {
  auto& st = *static_cast<TlsState*>(state);
  st.dir[dir].ended = 1;
  if (st.dir[1 - dir].ended) publish(st, c);
}

void TlsDecoder::close(void* state, const StreamInfo& c) {
  auto& st = *static_cast<TlsState*>(state);
  publish(st, c);
  release(st);
}

bool TlsDecoder::expire(void* state, const StreamInfo& c, uint64_t now_ns) {
  (void)c, (void)now_ns;
  return !(static_cast<TlsState*>(state)->flags & kSent);
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<TlsDecoder>(s); }

// All three decisive (TLS on another protocol's port, also when the run does not decode
// TLS: the port's decoder is then left out). The SSL 2.0-format hello's first byte is
// binary memcache's magic, but its third and fourth (01 03) would be a key of 259 bytes,
// past memcached's 250.
constexpr DetectProbe kProbes[] = {
    // A ClientHello record: handshake, SSL 3.0-TLS 1.3 record version, message type 1.
    {R"(^\x16\x03[\x00-\x04][\x00-\x47].\x01[\x00-\x01]..\x03[\x00-\x04])", true, true},
    // An SSL 2.0-format ClientHello (a two-byte record header, message type 1, SSL 3.0 to
    // TLS 1.2 offered), as older clients open a TLS connection.
    {R"(^[\x80-\x81][\x2e-\xff]\x01\x03[\x00-\x03][\x00-\x01][\s\S]\x00[\x00-\x20]\x00[\x10-\x20])", true,
     true},
    // A ServerHello record (the server's side, when the capture missed the client's).
    {R"(^\x16\x03[\x00-\x04][\x00-\x47][\s\S]\x02\x00[\s\S]{2}\x03[\x00-\x04])", false, true},
};

const OptionSpec kSettingOptions[] = {
    {"send_certificates", OptionKind::kBool},
    {"include_raw_certificates", OptionKind::kBool},
    {"include_detailed_fields", OptionKind::kBool},
    {"fingerprints", OptionKind::kStringList},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  auto out = std::make_unique<TlsSettings>();
  TlsSettings& s = *out;
  if (p.options["send_certificates"]) s.send_certificates = p.options["send_certificates"].as<bool>();
  if (p.options["include_raw_certificates"])
    s.include_raw_certificates = p.options["include_raw_certificates"].as<bool>();
  if (p.options["include_detailed_fields"])
    s.include_detailed_fields = p.options["include_detailed_fields"].as<bool>();
  if (p.options["fingerprints"]) {
    s.fingerprints = 0;
    const std::vector<std::string> names = yaml_texts(p.options["fingerprints"]);
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string& f = names[i];
      if (f == "md5")
        s.fingerprints |= 1u << tls::Digest::kMd5;
      else if (f == "sha1")
        s.fingerprints |= 1u << tls::Digest::kSha1;
      else if (f == "sha256")
        s.fingerprints |= 1u << tls::Digest::kSha256;
      else
        throw OptionError("fingerprints[" + std::to_string(i) + "]",
                          "'" + f + "' is not a fingerprint algorithm (md5, sha1, sha256)");
    }
  }
  return out;
}

const uint16_t kDefaultPorts[] = {443, 993, 995, 5223, 8443, 8883, 9243};

// Certificate validity as dates (ECS); a PEM chain whole (keyword without a length cap).
#define TAPBEAT_TLS_VALIDITY                                                                     \
  R"("not_after": {"type": "date"}, "not_before": {"type": "date"}, )"                           \
  R"("x509": {"properties": {"not_after": {"type": "date"}, "not_before": {"type": "date"}}}, )" \
  R"("certificate_chain": {"type": "keyword"})"
constexpr std::string_view kTemplateProperties =
    R"("tls": {"properties": {"client": {"properties": {)" TAPBEAT_TLS_VALIDITY R"(}}, )"
    R"("server": {"properties": {)" TAPBEAT_TLS_VALIDITY R"(}}}})";
#undef TAPBEAT_TLS_VALIDITY

}  // namespace

const DecoderDescriptor& tls_protocol() {
  static const DecoderDescriptor d = {
      .name = "tls",
      .transports = kTransportTcp,
      .probes = kProbes,
      .state_size = sizeof(TlsState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kTlsCounters,
      .violations = static_cast<int>(TlsStat::violations),
      .index_template = {.properties = kTemplateProperties,
                         .dynamic_templates = R"({"x509_version": {"path_match": "tls.*version_number", )"
                                              R"("mapping": {"type": "keyword"}}})"},
      .exercise_options = "{include_raw_certificates: true, fingerprints: [md5, sha1, sha256]}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
