#include "decode/memcache/memcache_decoder.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "decode/memcache/memcache_wire.hpp"
#include "decode/pending.hpp"
#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "util/byte_reader.hpp"
#include "util/encode.hpp"

namespace tapbeat {

namespace {
// Bytes passed over after a gap, looking for a message start, before the connection is
// left: 64 MiB, so a gap inside a value that large is found past. Text lines longer
// than the 8 KiB a command or reply line has are passed over as they come; a binary
// header is chained to the next (find_message_start), so none is taken inside a value.
constexpr uint32_t kMaxResyncSkip = 64u << 20;
constexpr uint32_t kMaxLine = 8192;
constexpr uint32_t kBinaryHeader = 24;  // a binary message's fixed header
}  // namespace

using namespace memcache;  // its wire format: memcache_wire.hpp
namespace {

static_assert(sizeof(MemcacheState) <= kDecoderStateBytes,
              "memcache connection state must fit the session slot");
static_assert(std::is_trivially_copyable_v<McMsg>);

// A meta key sent base64-encoded (flag b), decoded into out (room for 3/4 of the text);
// false when it is not base64, and the key is then published as sent.
bool base64_key(std::string_view in, char* out, std::size_t& n) {
  auto value = [](char ch) -> int {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
  };
  if (in.empty() || in.size() % 4 != 0) return false;
  n = 0;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=') : 0;
    uint32_t v = 0;
    for (int j = 0; j < 4; ++j) {
      const int x = j >= 4 - pad ? 0 : value(in[i + static_cast<std::size_t>(j)]);
      if (x < 0) return false;
      v = v << 6 | static_cast<uint32_t>(x);
    }
    out[n++] = static_cast<char>(v >> 16);
    if (pad < 2) out[n++] = static_cast<char>(v >> 8);
    if (pad < 1) out[n++] = static_cast<char>(v);
  }
  return true;
}

// A meta reply to a quiet (q) meta request: its O token or echoed key says whether it
// is that request's; without them, whether the request could have given it. A quiet
// request passed over got the reply quiet mode leaves out.
bool answers_quiet_meta(const McMsg& req, const McMsg& resp) {
  const bool error = resp.bits & kError;
  if (!(resp.bits & kMeta) && !error) return true;
  if ((req.bits & kHasToken) && (resp.bits & kHasToken)) return req.token == resp.token;
  if ((req.bits & kHasKey) && (resp.bits & kHasKey)) return req.key_hash == resp.key_hash;
  return quiet_meta_may_answer(req.command, req.bits & kHasCas, resp.reply_kind, error);
}

}  // namespace

// Pending UDP requests, matched by addresses, ports and request id.
struct MemcacheDecoder::Udp {
  struct Entry {
    bool used;
    IpBytes client, server;
    uint16_t cport, sport, request_id;
    uint8_t ip_version;
    McMsg msg;
  };
  Entry e[kUdpPending];
  WaitWatch watch;  // when tick() has an entry to look at
};

namespace {
// A UDP exchange's ends as a StreamInfo, the client's first (its request is the source).
StreamInfo udp_exchange(uint8_t ip_version, const IpBytes& client, const IpBytes& server, uint16_t cport,
                        uint16_t sport, uint64_t ts_ns) {
  StreamInfo c;
  c.ip_version = ip_version;
  c.addr[0] = client, c.addr[1] = server, c.port[0] = cport, c.port[1] = sport;
  c.ts_ns = ts_ns;
  return c;
}
}  // namespace

MemcacheDecoder::MemcacheDecoder(const DecoderSetup& s)
    : DecoderCommon<MemcacheStat>(s), cfg_(s.settings<MemcacheSettings>()), udp_(std::make_unique<Udp>()) {
  std::memset(static_cast<void*>(udp_.get()), 0, sizeof(Udp));
  udp_->watch = WaitWatch{};
  if (cfg_.max_values != 0) {
    value_raw_ = std::make_unique<uint8_t[]>(kMaxValueBytes);
    value_text_ = std::make_unique<char[]>(kMaxValueBytes / 3 * 4 + 4);
  }
}

MemcacheDecoder::~MemcacheDecoder() = default;

void MemcacheDecoder::open(void* state) {
  auto& st = *static_cast<MemcacheState*>(state);
  std::memset(static_cast<void*>(&st), 0, sizeof st);
  st.client = -1;
  st.queue = ChainStore::Chain{};
  for (auto& d : st.dir) d.cur.keys = d.cur.vals = ChainStore::Chain{};
}

namespace {

// A line (s to its end le) that opens a text message after a gap (memcache::resync_line)
// and what follows it holds together: its data block ends with CRLF where its length
// says, and the next line opens a message of the same side too, as far as the bytes
// (to end) go. A line inside a value's bytes seldom passes both.
bool text_opens(const uint8_t* s, const uint8_t* le, const uint8_t* end, bool reply) {
  uint64_t data = 0;
  if (!resync_line({reinterpret_cast<const char*>(s), static_cast<std::size_t>(le - s)}, reply, data))
    return false;
  const uint8_t* next = le < end && *le == '\r' ? le + 1 : le;
  if (next < end && *next == '\n') ++next;
  if (data) {
    if (static_cast<uint64_t>(end - next) < data + 2) return true;
    next += data;
    if (next[0] != '\r' || next[1] != '\n') return false;
    next += 2;
  }
  if (next >= end) return true;
  const auto* lf = static_cast<const uint8_t*>(std::memchr(next, '\n', static_cast<std::size_t>(end - next)));
  if (!lf) {  // the next line's start: printable
    for (const uint8_t* q = next; q < end; ++q)
      if ((*q < 0x20 || *q > 0x7e) && *q != '\r') return false;
    return true;
  }
  const uint8_t* nle = lf > next && lf[-1] == '\r' ? lf - 1 : lf;
  uint64_t unused = 0;
  return resync_line({reinterpret_cast<const char*>(next), static_cast<std::size_t>(nle - next)}, reply,
                     unused);
}

// Whether a binary header of a request (magic 0x80) or a response (0x81) starts at h
// and holds together: a known opcode, the raw data type, extras and key within the body
// and of sizes the protocol uses (extras 20 bytes at most, keys 250), a response's
// status one the protocol defines. What a resync after a gap looks for.
bool binary_header_at(const uint8_t* h, bool response) {
  if (h[0] != (response ? 0x81 : 0x80) || !opcode_of(h[1]) || h[5] != 0) return false;
  const uint32_t keylen = static_cast<uint32_t>(load_be(h + 2, 2)), extlen = h[4];
  const uint32_t body = static_cast<uint32_t>(load_be(h + 8, 4));
  if (extlen > 20 || keylen > 250 || extlen + keylen > body || body > (64u << 20)) return false;
  if (!response) return true;
  const uint16_t status = static_cast<uint16_t>(load_be(h + 6, 2));
  return std::string_view(status_name(status)) != "Unknown";
}

}  // namespace

// One message (or, for multi-line text replies, one line of it) from p. On
// success `done` tells whether `out` is a whole message; returns consumed bytes.
void MemcacheDecoder::keep_key(McMsg& m, std::string_view k) {
  if (m.keys.len >= kMaxKeysText) {
    m.bits |= kKeysCut;
    return;
  }
  if (m.keys.len) store_.append(m.keys, reinterpret_cast<const uint8_t*>(" "), 1);
  store_.append(m.keys, reinterpret_cast<const uint8_t*>(k.data()),
                static_cast<uint32_t>(std::min<std::size_t>(k.size(), 250)));
}

void MemcacheDecoder::begin_value(McMsg& m, MemcacheState::Dir& d, uint64_t len) {
  d.keep_left = 0;
  if (cfg_.max_values == 0 || (cfg_.max_values > 0 && m.values_kept >= cfg_.max_values)) return;
  uint32_t keep =
      cfg_.max_bytes_per_value ? std::min(cfg_.max_bytes_per_value, kMaxValueBytes) : kMaxValueBytes;
  if (len > keep && keep == kMaxValueBytes) m.value_notes |= kValueTooLong;
  keep = static_cast<uint32_t>(std::min<uint64_t>(len, keep));
  if (m.vals.len + 4 + keep > kMaxValuesBytes) {
    m.value_notes |= kValuesLeftOut;
    return;
  }
  const uint64_t room = store_.room(m.vals);
  if (room < 4 + uint64_t{keep}) {  // the block store is short of room: as much as there is
    m.value_notes |= kValueCut;
    if (room <= 4) return;
    keep = static_cast<uint32_t>(room - 4);
  }
  d.value_at = m.vals.len;
  store_.append(m.vals, reinterpret_cast<const uint8_t*>(&keep), 4);
  ++m.values_kept;
  d.keep_left = keep;
}

void MemcacheDecoder::keep_value(McMsg& m, MemcacheState::Dir& d, const uint8_t* p, uint32_t n) {
  const uint32_t k = std::min(n, d.keep_left);
  const uint32_t got = store_.append(m.vals, p, k);
  d.keep_left -= got;
  if (got < k) end_value_early(m, d);  // the store filled up meanwhile
}

void MemcacheDecoder::end_value_early(McMsg& m, MemcacheState::Dir& d) {
  if (d.keep_left == 0) return;
  const uint32_t kept = m.vals.len - d.value_at - 4;
  store_.write_at(m.vals, d.value_at, reinterpret_cast<const uint8_t*>(&kept), 4);
  m.value_notes |= kValueCut;
  d.keep_left = 0;
}

// A text command's keys from its words: the first after the command (stats, flush_all
// and verbosity take none), and every one of get and gets; gat and gats name their
// expiry first, then their keys.
void MemcacheDecoder::text_keys(McMsg& m, const std::string_view* w, int nw, std::string_view line) {
  const bool gat = m.command == kCmdGat || m.command == kCmdGats;
  if (nw > 1 && m.command != 13 && m.command != 14 && m.command != 16 && !gat) keep_key(m, w[1]);
  if (!retrieval(m.command)) return;
  for (int i = 2; i < nw; ++i) keep_key(m, w[i]);
  if (nw < kMaxWords) return;
  // A multi-get longer than the words read: its other keys from the rest of the line.
  std::string_view rest =
      line.substr(static_cast<std::size_t>(w[nw - 1].data() + w[nw - 1].size() - line.data()));
  std::string_view more[16];
  for (int k; (k = split_words(rest, more, 16)) > 0;) {
    for (int i = 0; i < k; ++i) keep_key(m, more[i]);
    rest = rest.substr(static_cast<std::size_t>(more[k - 1].data() + more[k - 1].size() - rest.data()));
  }
}

DecodeResult MemcacheDecoder::parse(MemcacheState& st, int dir, const uint8_t* p, uint32_t n,
                                    uint64_t first_ns, bool request, McMsg& out, bool& done) {
  done = false;
  MemcacheState::Dir& d = st.dir[dir];
  auto add_key = [&](std::string_view k) { keep_key(out, k); };
  if (p[0] == 0x80 || p[0] == 0x81) {  // binary
    if (n < 24) return {0, 24, Verdict::kNeedMore};
    const uint8_t op = p[1];
    const uint32_t keylen = static_cast<uint32_t>(load_be(p + 2, 2));
    const uint32_t extlen = p[4];
    const uint32_t body = static_cast<uint32_t>(load_be(p + 8, 4));
    if (extlen + keylen > body || body > (64u << 20)) {
      counters_.inc(MemcacheStat::malformed);
      return {0, 0, Verdict::kViolation};
    }
    if (n < 24 + extlen + keylen) return {0, 24 + extlen + keylen, Verdict::kNeedMore};
    st.binary = 2;
    const Opcode* oc = opcode_of(op);
    if (!oc && !cfg_.parse_unknown) counters_.inc(MemcacheStat::unknown_commands);
    const bool resp = p[0] == 0x81;
    if (!d.gathering) {
      out = McMsg{};
      out.start_ns = first_ns;
    }
    out.bits |= kBinary | (resp ? kIsResponse : 0) | (oc && oc->quiet ? kQuiet : 0);
    out.opcode = op;
    out.command = oc ? command_index(oc->command) : 0;
    out.opaque = static_cast<uint32_t>(load_be(p + 12, 4));
    out.cas = load_be(p + 16, 8);
    if (out.cas) out.bits |= kHasCas;
    if (resp)
      out.status = static_cast<uint16_t>(load_be(p + 6, 2));
    else
      out.vbucket = static_cast<uint16_t>(load_be(p + 6, 2));
    const uint8_t* ext = p + 24;
    const uint8_t* key = ext + extlen;
    const uint32_t vlen = body - extlen - keylen;
    const std::string_view k(reinterpret_cast<const char*>(key), keylen);
    if (!resp) {
      if ((out.command >= 3 && out.command <= 8) && extlen >= 8) {  // set family: flags, exptime
        out.flags = static_cast<uint32_t>(load_be(ext, 4));
        out.exptime = static_cast<uint32_t>(load_be(ext + 4, 4));
        out.bits |= kHasExptime;
      } else if ((out.command == 10 || out.command == 11) && extlen >= 20) {  // incr/decr
        out.delta = load_be(ext, 8);
        out.initial = load_be(ext + 8, 8);
        out.exptime = static_cast<uint32_t>(load_be(ext + 16, 4));
        out.bits |= kHasDelta | kHasExptime;
      } else if (extlen >= 4 && (out.command == 12 || out.command == 19)) {
        out.exptime = static_cast<uint32_t>(load_be(ext, 4));
        out.bits |= kHasExptime;
      } else if (extlen >= 4 && out.command == kCmdVerbosity) {
        out.counter = load_be(ext, 4);
        out.bits |= kHasCounter;
      }
      if (keylen) add_key(k);
      if (vlen) out.count_values = 1, out.value_bytes = vlen, begin_value(out, d, vlen);
    } else {
      if (extlen >= 4) out.flags = static_cast<uint32_t>(load_be(ext, 4));
      if (op == 0x10) {  // stat: one name/value per packet, an empty key ends them
        if (n < 24 + body) return {0, 24 + body, Verdict::kNeedMore};
        out.wire_bytes += 24 + body;
        if (keylen == 0) {
          d.gathering = 0;
          done = true;
        } else {
          d.gathering = 1;
          if (out.keys.len < 8192) {
            std::string_view v(reinterpret_cast<const char*>(key + keylen), vlen);
            if (out.keys.len) store_.append(out.keys, reinterpret_cast<const uint8_t*>("\n"), 1);
            store_.append(out.keys, key, keylen);
            store_.append(out.keys, reinterpret_cast<const uint8_t*>("\t"), 1);
            store_.append(out.keys, reinterpret_cast<const uint8_t*>(v.data()),
                          static_cast<uint32_t>(v.size()));
          }
        }
        return {24 + body, 0, Verdict::kOk};
      }
      if ((out.command == 10 || out.command == 11) && out.status == 0 && vlen == 8) {
        if (n < 24 + body) return {0, 24 + body, Verdict::kNeedMore};
        out.counter = load_be(key + keylen, 8);
        out.bits |= kHasCounter;
        out.wire_bytes = 24 + body;
        done = true;
        return {24 + body, 0, Verdict::kOk};
      }
      if (keylen) add_key(k);
      if (vlen && out.status == 0) out.count_values = 1, out.value_bytes = vlen, begin_value(out, d, vlen);
      if (out.status != 0) out.bits |= kError;
    }
    out.wire_bytes = 24 + body;
    // The value streams past (it may be larger than anything held).
    d.skip = vlen;
    d.in_value = 1;
    if (vlen == 0) {
      d.in_value = 0;
      done = true;
    }
    return {24 + extlen + keylen, 0, Verdict::kOk};
  }
  // Text: one line.
  const void* lf = std::memchr(p, '\n', n);
  if (!lf) {
    if (n > kMaxLine) {
      counters_.inc(MemcacheStat::malformed);
      return {0, 0, Verdict::kViolation};
    }
    return {0, n + 1, Verdict::kNeedMore};
  }
  const uint32_t line_len = static_cast<uint32_t>(static_cast<const uint8_t*>(lf) - p) + 1;
  std::string_view line(reinterpret_cast<const char*>(p), line_len - 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  for (char ch : line)
    if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t') {
      counters_.inc(MemcacheStat::malformed);
      return {0, 0, Verdict::kViolation};
    }
  st.binary = st.binary ? st.binary : 1;
  std::string_view* const w = words_;
  const int nw = split_words(line, w, kMaxWords);
  for (int i = nw; i < nw + 6; ++i) w[i] = {};  // the fixed positions read below are empty when absent
  if (!d.gathering) {
    out = McMsg{};
    out.start_ns = first_ns;
  }
  out.wire_bytes += line_len;
  if (nw == 0) return {line_len, 0, Verdict::kOk};
  // A value of `bytes` follows the line: counted, then streamed past.
  auto value_follows = [&](uint64_t bytes) -> DecodeResult {
    if (bytes > (64u << 20)) {
      counters_.inc(MemcacheStat::malformed);
      return {0, 0, Verdict::kViolation};
    }
    out.count_values = 1;
    out.value_bytes = bytes;
    out.wire_bytes += bytes + 2;
    begin_value(out, d, bytes);
    d.skip = bytes + 2;
    d.in_value = 1;
    return {line_len, 0, Verdict::kOk};
  };
  // The flags of a meta command or reply from word `first` on: a letter, then its token.
  auto meta_flags = [&](int first, std::string_view& key, bool& b64) {
    uint64_t v;
    for (int i = first; i < nw; ++i) {
      const std::string_view arg = w[i].substr(1);
      switch (w[i][0]) {
        case 'q':
          if (request) out.bits |= kQuiet;
          break;
        case 'b':
          b64 = true;
          break;
        case 'k':
          if (!request) key = arg;
          break;
        case 'O':
          out.token = token_hash(arg);
          out.bits |= kHasToken;
          if (parse_u64(arg, v) && v <= UINT32_MAX)
            out.opaque = static_cast<uint32_t>(v), out.bits |= kHasOpaque;
          break;
        case 'T':
          if (request && parse_u64(arg, v)) out.exptime = static_cast<uint32_t>(v), out.bits |= kHasExptime;
          break;
        case 'F':
        case 'f':
          if ((w[i][0] == 'F') == request && parse_u64(arg, v))
            out.flags = static_cast<uint32_t>(v), out.bits |= kHasFlags;
          break;
        case 'C':
        case 'c':
          if ((w[i][0] == 'C') == request && parse_u64(arg, v)) out.cas = v, out.bits |= kHasCas;
          break;
        case 'D':
          if (request && out.command == kCmdMa && parse_u64(arg, v)) out.delta = v, out.bits |= kHasDelta;
          break;
        case 'J':
          if (request && out.command == kCmdMa && parse_u64(arg, v)) out.initial = v, out.bits |= kHasInitial;
          break;
        default:
          break;
      }
    }
  };
  auto meta_key = [&](std::string_view key, bool b64) {
    if (key.empty()) return;
    out.key_hash = token_hash(key);
    out.bits |= kHasKey;
    char plain[192];
    std::size_t len = 0;
    if (b64 && key.size() <= 256 && base64_key(key, plain, len))
      add_key({plain, len});
    else
      add_key(key);
  };
  if (request) {
    out.command = command_index(w[0]);
    if (out.command == 0) counters_.inc(MemcacheStat::unknown_commands);
    if (out.command >= kCmdMg) {  // meta: the key, then flags (ms: the value's size first)
      out.bits |= kMeta;
      std::string_view key = out.command == kCmdMn ? std::string_view{} : w[1];
      uint64_t bytes = 0;
      // An ms without a size is answered CLIENT_ERROR, and its value read as a command.
      const bool with_value = out.command == kCmdMs && parse_u64(w[2], bytes);
      bool b64 = false;
      meta_flags(out.command == kCmdMn ? 1 : out.command == kCmdMs ? 3 : 2, key, b64);
      meta_key(key, b64);
      if (with_value) return value_follows(bytes);
      done = true;
      return {line_len, 0, Verdict::kOk};
    }
    const bool store = out.command >= 3 && out.command <= 8;
    text_keys(out, w, nw, line);
    if (out.command == 13 && nw > 1) {  // stats args, kept as raw_args
      const std::string_view args = line.substr(static_cast<std::size_t>(w[1].data() - line.data()));
      store_.append(out.keys, reinterpret_cast<const uint8_t*>(args.data()),
                    static_cast<uint32_t>(args.size()));
    }
    if ((nw > 1 && w[nw - 1] == "noreply") || out.command == 17)
      out.bits |= kQuiet;  // quit is never answered
    uint64_t v;
    if (store && nw >= 5) {
      if (parse_u64(w[2], v)) out.flags = static_cast<uint32_t>(v);
      if (parse_u64(w[3], v)) out.exptime = static_cast<uint32_t>(v), out.bits |= kHasExptime;
      uint64_t bytes = 0;
      if (!parse_u64(w[4], bytes)) {
        counters_.inc(MemcacheStat::malformed);
        return {0, 0, Verdict::kViolation};
      }
      if (out.command == 8 && nw >= 6 && parse_u64(w[5], v)) out.cas = v, out.bits |= kHasCas;
      return value_follows(bytes);
    }
    if ((out.command == 10 || out.command == 11) && nw >= 3 && parse_u64(w[2], v))
      out.delta = v, out.bits |= kHasDelta;
    if (out.command == 12 && nw >= 3 && parse_u64(w[2], v))
      out.exptime = static_cast<uint32_t>(v), out.bits |= kHasExptime;
    if ((out.command == kCmdGat || out.command == kCmdGats) && nw >= 3 && parse_u64(w[1], v))
      out.exptime = static_cast<uint32_t>(v), out.bits |= kHasExptime;
    // flush_all's delay (0 without one, as Packetbeat writes it); verbosity's level (a
    // request's counter).
    if (out.command == kCmdFlushAll) {
      out.bits |= kHasExptime;
      if (nw >= 2 && parse_u64(w[1], v)) out.exptime = static_cast<uint32_t>(v);
    }
    if (out.command == kCmdVerbosity && nw >= 2 && parse_u64(w[1], v))
      out.counter = v, out.bits |= kHasCounter;
    done = true;
    return {line_len, 0, Verdict::kOk};
  }
  // A reply line.
  out.bits |= kIsResponse;
  uint8_t r = reply_index(w[0]);
  uint64_t v;
  if (r == 0 && parse_u64(w[0], v)) {
    r = kReplyCounter;
    out.counter = v;
    out.bits |= kHasCounter;
  }
  if (r == 0 && (d.gathering ? out.reply_kind == 0 : oldest_is_unknown(st))) {
    // The reply of a command this decoder does not know (an administrative one:
    // lru_crawler metadump, slabs, extstore ...): its lines are gathered until one that
    // is a reply (END, OK, an error) ends it.
    d.gathering = 1;
    return {line_len, 0, Verdict::kOk};
  }
  if (r == 0) {
    counters_.inc(MemcacheStat::malformed);
    return {0, 0, Verdict::kViolation};
  }
  if (!d.gathering || out.reply_kind == 0 || r == kReplyEnd)
    out.reply_kind = out.reply_kind && r == kReplyEnd ? out.reply_kind : r;
  if (kReplies[r].error) out.bits |= kError;
  if (meta_reply(r)) {  // VA <size> <flags>, HD/EN/NS/EX/NF/MN <flags>, ME <key> <name=value>...
    out.bits |= kMeta;
    d.gathering = 0;
    std::string_view key = r == kReplyMe ? w[1] : std::string_view{};
    bool b64 = false;
    uint64_t size = 0;
    if (r == kReplyVa && (nw < 2 || !parse_u64(w[1], size))) {
      counters_.inc(MemcacheStat::malformed);
      return {0, 0, Verdict::kViolation};
    }
    if (r != kReplyMe) meta_flags(r == kReplyVa ? 2 : 1, key, b64);
    meta_key(key, b64);
    if (r != kReplyVa) {
      done = true;
      return {line_len, 0, Verdict::kOk};
    }
    // ma's answer with v is the number as a value: read when it is at hand.
    if (size <= 20 && n - line_len >= size &&
        parse_u64({reinterpret_cast<const char*>(p + line_len), static_cast<std::size_t>(size)}, v))
      out.counter = v, out.bits |= kHasCounter;
    return value_follows(size);
  }
  if (r == kReplyValue) {
    d.gathering = 1;
    uint64_t bytes = 0;
    if (nw < 4 || !parse_u64(w[3], bytes) || bytes > (64u << 20)) {
      counters_.inc(MemcacheStat::malformed);
      return {0, 0, Verdict::kViolation};
    }
    add_key(w[1]);
    if (out.count_values == 0) {  // the first value's flags and CAS stand for the reply, as Packetbeat merges
      if (parse_u64(w[2], v)) out.flags = static_cast<uint32_t>(v);
      if (nw >= 5 && parse_u64(w[4], v)) out.cas = v, out.bits |= kHasCas;
    }
    ++out.count_values;
    out.value_bytes += bytes;
    out.wire_bytes += bytes + 2;
    begin_value(out, d, bytes);
    d.skip = bytes + 2;
    d.in_value = 1;
    return {line_len, 0, Verdict::kOk};
  }
  if (r == kReplyStat) {
    d.gathering = 1;
    if (nw >= 2 && out.keys.len < 8192) {
      if (out.keys.len) store_.append(out.keys, reinterpret_cast<const uint8_t*>("\n"), 1);
      store_.append(out.keys, reinterpret_cast<const uint8_t*>(w[1].data()),
                    static_cast<uint32_t>(w[1].size()));
      store_.append(out.keys, reinterpret_cast<const uint8_t*>("\t"), 1);
      const std::string_view val =
          nw >= 3 ? line.substr(static_cast<std::size_t>(w[2].data() - line.data())) : "";
      store_.append(out.keys, reinterpret_cast<const uint8_t*>(val.data()),
                    static_cast<uint32_t>(val.size()));
    }
    return {line_len, 0, Verdict::kOk};
  }
  d.gathering = 0;
  done = true;
  return {line_len, 0, Verdict::kOk};
}

DecodeResult MemcacheDecoder::data(void* state, const StreamInfo& c, int dir,
                                   std::span<const uint8_t> bytes) {
  MemcacheState& st = *static_cast<MemcacheState*>(state);
  MemcacheState::Dir& d = st.dir[dir];
  const uint8_t* p = bytes.data();
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  uint32_t off = 0;
  const auto binary_opens = [&](const uint8_t* s, uint32_t) -> uint64_t {
    return binary_header_at(s, dir != st.client) ? kBinaryHeader + load_be(s + 8, 4) : 0;
  };
  if (d.resync && st.binary == 0 && st.client >= 0) {
    // The protocol not told yet (the connection's first bytes lost): a binary header of
    // this side followed by the next one where its length says is binary's start (lines
    // are still looked for otherwise, text being the usual one).
    uint32_t probe = 1;
    if (find_message_start(bytes, off, kBinaryHeader, probe, UINT32_MAX, binary_opens).framed) st.binary = 2;
  }
  if (d.resync) {
    if (st.binary == 2) d.resync &= ~kMidLine;  // binary told meanwhile: bytes, not lines, are passed over
    const uint32_t passed_before = (d.resync & ~kMidLine) - 1;
    // After a gap: text passes over whole lines until one opens a command (its first
    // word one of the commands) or a reply of this side; binary passes over bytes until
    // a header of this side that holds together (binary_header_at).
    const Resync r = st.binary == 2 ? find_message_start(bytes, off, kBinaryHeader, d.resync, kMaxResyncSkip,
                                                         [&](const uint8_t* s, uint32_t a) {
                                                           const uint64_t o = binary_opens(s, a);
                                                           return o ? o | kOpensLong : 0;
                                                         })
                                    : find_line_start(bytes, off, d.resync, kMaxResyncSkip, kMaxLine,
                                                      [&](const uint8_t* s, const uint8_t* le) {
                                                        if (st.client < 0)  // the sides not known yet
                                                          return text_opens(s, le, p + n, false) ||
                                                                 text_opens(s, le, p + n, true);
                                                        return text_opens(s, le, p + n, dir != st.client);
                                                      });
    counters_.inc(MemcacheStat::resync_skipped_bytes, r.passed);
    if (r.passed) d.resync_ns = c.ts_at(r.result.consumed - 1);
    if (!r.framed) return r.result;
    off = r.result.consumed;
    counters_.inc(MemcacheStat::resynced);
    if (d.owes && st.binary == 1 && dir == st.client && passed_before + r.passed > 0)
      owe_reply(st, d.resync_ns);
    d.owes = 0;
    const bool lost_get = st.lost_get && dir != st.client;
    if (dir != st.client) st.lost_get = 0;
    if (dir != st.client && st.binary == 1 && passed_before + r.passed > 0 && n - off >= 4 &&
        std::memcmp(p + off, "END", 3) == 0 &&
        (p[off + 3] == '\n' || (n - off >= 5 && p[off + 3] == '\r' && p[off + 4] == '\n'))) {
      // Value bytes passed over after the gap, then END: the end of a retrieval reply
      // whose head was lost, not a miss for the next: the command that went out at the
      // gap, or (the lost bytes began with another's reply) the retrieval waiting first,
      // which goes out now, its reply begun in the lost bytes.
      if (!lost_get && st.n_pending) {
        McMsg req;
        store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req);
        if (!req.owed && !(req.bits & (kQuiet | kMeta | kBinary)) && retrieval(req.command)) {
          drop_pending(st, req);
          lose_reply(st, c, req);
        }
      }
      off += p[off + 3] == '\n' ? 4 : 5;
    }
  }
  while (off < n) {
    if (d.in_value) {
      const uint32_t k = static_cast<uint32_t>(std::min<uint64_t>(d.skip, n - off));
      if (d.keep_left) keep_value(d.cur, d, p + off, k);
      d.skip -= k;
      off += k;
      if (d.skip == 0) {
        d.in_value = 0;
        if (!d.gathering) on_message(st, c, d.cur);
      }
      continue;
    }
    if (st.client < 0) st.client = static_cast<int8_t>(cfg_.client_by_port(c.port));
    if (st.client < 0) {
      // The first message: binary magic says which side; text commands are words.
      if (p[off] == 0x80)
        st.client = static_cast<int8_t>(dir);
      else if (p[off] == 0x81)
        st.client = static_cast<int8_t>(1 - dir);
      else
        st.client = static_cast<int8_t>(
            looks_like_reply({reinterpret_cast<const char*>(p + off), n - off}) ? 1 - dir : dir);
    }
    bool done = false;
    const DecodeResult r = parse(st, dir, p + off, n - off, c.ts_at(off), dir == st.client, d.cur, done);
    if (r.verdict == Verdict::kViolation) return {off, 0, Verdict::kViolation};
    if (r.verdict == Verdict::kNeedMore) return {off, r.need, Verdict::kNeedMore};
    off += r.consumed;
    if (done) on_message(st, c, d.cur);
  }
  return {off, 0, Verdict::kOk};
}

bool MemcacheDecoder::oldest_is_unknown(const MemcacheState& st) const {
  if (st.n_pending == 0) return false;
  McMsg req;
  store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req);
  return req.command == 0 && !(req.bits & kBinary);
}

void MemcacheDecoder::drop_pending(MemcacheState& st, McMsg& out) {
  store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&out), sizeof out);
  store_.drop_front(st.queue, sizeof out);
  --st.n_pending;
}

void MemcacheDecoder::on_message(MemcacheState& st, const StreamInfo& c, McMsg& m) {
  m.end_ns = c.ts_ns;
  McMsg msg = m;
  m = McMsg{};
  const bool binary = msg.bits & kBinary;
  if (!(msg.bits & kIsResponse)) {
    counters_.inc(MemcacheStat::requests);
    if ((msg.bits & kQuiet) && !binary && !(msg.bits & kMeta)) {  // text noreply: no answer comes
      publish(c, st.client, false, false, &msg, nullptr);
      release(msg);
      return;
    }
    if ((msg.bits & kLost) && st.orphan_ns >= msg.start_ns) {
      // Its end lost, and a reply found no request waiting after it began: that reply
      // was its own (the capture showed the loss only later, with the client's next
      // bytes). It goes out alone; waiting, it would take the next request's reply.
      counters_.inc(MemcacheStat::unmatched_requests);
      publish(c, st.client, binary, false, &msg, nullptr);
      release(msg);
      return;
    }
    if (st.n_pending >= kMaxPending ||
        store_.append(st.queue, reinterpret_cast<const uint8_t*>(&msg), sizeof msg) < sizeof msg) {
      counters_.inc(MemcacheStat::queue_full);
      release(msg);
      return;
    }
    ++st.n_pending;
    st.lost.on_request(msg.start_ns);
    return;
  }
  const bool end_may_follow = st.end_may_follow;
  st.end_may_follow = 0;
  if (end_may_follow && !st.n_pending && !binary && msg.reply_kind == kReplyEnd && !msg.count_values) {
    release(msg);  // the END of a reply taken at a cut (take_cut_reply)
    return;
  }
  counters_.inc(MemcacheStat::responses);
  if (st.n_pending) {
    McMsg req;
    store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req);
    if (req.owed) {
      // Before that command's last bytes were captured, a reply answers an earlier one
      // the gap took: alone, as a reply no request waits for; from then on, it is the
      // owed reply.
      if (msg.start_ns >= req.end_ns) drop_pending(st, req);
      counters_.inc(MemcacheStat::unmatched_responses);
      publish(c, st.client, binary, false, nullptr, &msg);
      release(msg);
      return;
    }
  }
  // Binary: quiet requests before the answered one got no answer (a hit-less
  // GetKQ, a successful SetQ): they are published alone, as done.
  while (st.n_pending) {
    McMsg req;
    store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req);
    if (binary && req.opaque != msg.opaque && (req.bits & kQuiet)) {
      drop_pending(st, req);
      // Sent before the client had bytes of replies the capture lost: a hit may have
      // been among them.
      publish(c, st.client, true, false, &req, nullptr, st.lost.may_have_lost(req.start_ns));
      release(req);
      continue;
    }
    // Meta: a quiet request this reply is not for got the reply quiet mode leaves out.
    if ((req.bits & (kMeta | kQuiet)) == (kMeta | kQuiet) && !answers_quiet_meta(req, msg)) {
      drop_pending(st, req);
      publish(c, st.client, false, false, &req, nullptr);
      release(req);
      continue;
    }
    // Text, once the client's bytes were lost (and none of the server's): a reply that
    // cannot be the oldest request's (STORED for a get, a value of a key it did not ask
    // for) answers one the capture lost, as a binary one above.
    if (!binary && st.client_lost && !st.lost.active() && !can_answer(req, msg)) break;
    if (binary && !can_answer(req, msg) && !answers_pending(st, msg)) {
      // Binary: a response whose opcode and opaque answer no request waiting answers
      // one the capture lost (a client segment dropped): published alone, and the
      // requests waiting keep theirs to come. Taken for the oldest, every later pair
      // of the connection would be one off.
      break;
    }
    drop_pending(st, req);
    // (A binary response that repeats the request's non-zero opaque is its, whatever the
    // timing says.)
    const bool lost =
        st.lost.lost(req.start_ns, msg.start_ns) && !(binary && req.opaque && can_answer(req, msg));
    if (st.n_pending && (lost || ((st.lost.active() || binary) && !can_answer(req, msg)))) {
      // After a gap: a reply that began after a request sent with the lost bytes in
      // hand, or one this request cannot have got, shows its reply was in them.
      lose_reply(st, c, req);
      continue;
    }
    publish(c, st.client, binary, false, &req, &msg);
    release(req);
    release(msg);
    return;
  }
  // An answer to nothing seen (a capture that starts after its request, a request the
  // capture lost): published alone, as Packetbeat publishes it; counted only when it is
  // a bare END, which names nothing (what a gap leaves of a cut reply, or a miss).
  counters_.inc(MemcacheStat::unmatched_responses);
  st.orphan_ns = msg.start_ns;
  if (binary || msg.reply_kind != kReplyEnd || msg.count_values)
    publish(c, st.client, binary, false, nullptr, &msg);
  release(msg);
}

void MemcacheDecoder::lose_reply(MemcacheState& st, const StreamInfo& c, McMsg& req) {
  counters_.inc(MemcacheStat::unmatched_requests);
  counters_.inc(MemcacheStat::responses_lost);
  publish(c, st.client, req.bits & kBinary, false, &req, nullptr);
  release(req);
}

bool MemcacheDecoder::answers_pending(const MemcacheState& st, const McMsg& reply) const {
  McMsg req;
  for (uint32_t i = 0; i < st.n_pending; ++i) {
    store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req, i * sizeof req);
    if (can_answer(req, reply)) return true;
  }
  return false;
}

bool MemcacheDecoder::can_answer(const McMsg& req, const McMsg& reply) const {
  // Binary: a response repeats its request's opcode and opaque.
  if (reply.bits & kBinary)
    return (req.bits & kBinary) && req.opcode == reply.opcode && req.opaque == reply.opaque;
  if ((reply.bits & kError) || (req.bits & kMeta) || (reply.bits & kMeta)) return true;
  const std::string_view type = kCommands[req.command].type;
  switch (reply.reply_kind) {
    case kReplyValue: {  // the first value's key is one the request asked for
      char want[256], got[256];
      const uint32_t nw = store_.copy_out(req.keys, reinterpret_cast<uint8_t*>(want), sizeof want);
      const uint32_t ng = store_.copy_out(reply.keys, reinterpret_cast<uint8_t*>(got), sizeof got);
      const std::string_view keys(want, nw),
          first = std::string_view(got, ng).substr(0, std::string_view(got, ng).find(' '));
      if (type != "Load") return false;
      if (first.empty() || nw == sizeof want || ng == sizeof got) return true;  // cut: not told
      for (std::size_t at = 0; at <= keys.size();) {
        const std::size_t end = std::min(keys.find(' ', at), keys.size());
        if (keys.substr(at, end - at) == first) return true;
        at = end + 1;
      }
      return false;
    }
    case kReplyEnd:
      return type == "Load" || type == "Stats";
    case kReplyStored:
    case kReplyNotStored:
    case kReplyExists:
      return type == "Store";
    case kReplyNotFound:
      return type == "Store" || type == "Delete" || type == "Counter" || type == "Touch";
    case kReplyDeleted:
      return type == "Delete";
    case kReplyTouched:
      return type == "Touch";
    case kReplyCounter:
      return type == "Counter";
    case kReplyStat:
      return type == "Stats";
    default:
      return true;
  }
}

// A text command line the capture lost the end of (cut by the snap length, a segment
// lost): its command and keys as far as they go are the request, noted, waiting for its
// reply (a storage command's value, lost with the line's end, is not counted). Meta
// commands and binary messages are left to the gap.
bool MemcacheDecoder::cut_short(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> held) {
  MemcacheState& st = *static_cast<MemcacheState*>(state);
  MemcacheState::Dir& d = st.dir[dir];
  if (st.binary == 2 || d.in_value || held.empty() || held[0] == 0x80 || held[0] == 0x81) return false;
  if (st.client < 0) st.client = static_cast<int8_t>(cfg_.client_by_port(c.port));
  if (st.client < 0) return false;
  if (dir != st.client) return st.binary == 1 && cut_reply(st, c, d, held);
  if (d.gathering) return false;
  const std::string_view line(reinterpret_cast<const char*>(held.data()), held.size());
  if (line.find('\n') != std::string_view::npos) return false;
  std::string_view* const w = words_;
  const int nw = split_words(line, w, kMaxWords);
  const uint8_t cmd = nw >= 2 ? command_index(w[0]) : 0;
  if (cmd == 0 || cmd >= kCmdMg) return false;
  st.binary = 1;  // the connection's first command may be the one cut
  McMsg m{};
  m.start_ns = c.ts_at(0);  // the held line's first packet
  m.wire_bytes = held.size();
  m.command = cmd;
  m.bits = kLost;
  text_keys(m, w, nw, line);
  if (d.resync) {  // the line opens a command: the stream was found again there
    counters_.inc(MemcacheStat::resynced);
    d.resync = 0;
  }
  d.cut_taken = 1;
  on_message(st, c, m);
  return true;
}

// A text reply line the capture lost the end of: the reply it begins answers the oldest
// request, noted, a VALUE line giving its key, flags and size as far as they are whole.
// A reply gathered over lines (VALUE ... END) is the reply so far; the line cut after
// it is its END when it begins as one (whole but for the line feed: not lost). Meta
// replies are left to the gap.
bool MemcacheDecoder::cut_reply(MemcacheState& st, const StreamInfo& c, MemcacheState::Dir& d,
                                std::span<const uint8_t> held) {
  if (st.n_pending == 0) return false;
  std::string_view line(reinterpret_cast<const char*>(held.data()), held.size());
  if (line.find('\n') != std::string_view::npos) return false;
  if (d.gathering) {
    d.cur.wire_bytes += held.size();
    if (!line.empty() && std::string_view("END\r").starts_with(line)) {
      d.gathering = 0;
      on_message(st, c, d.cur);
      st.took_cut_reply = 1;  // the gap begins with the END's last bytes
      return true;
    }
    take_cut_reply(st, c, d);
    return true;
  }
  const bool whole = !line.empty() && line.back() == '\r';
  if (whole) line.remove_suffix(1);
  std::string_view w[6];
  const int nw = split_words(line, w, 6);
  // The last word may be cut unless the line is whole or a space follows it.
  const int complete = whole || (!line.empty() && line.back() == ' ') ? nw : nw - 1;
  if (complete < 1) return false;
  const uint8_t r = reply_index(w[0]);
  uint64_t v = 0;
  const bool counter = r == 0 && whole && parse_u64(w[0], v);
  if ((r == 0 && !counter) || meta_reply(r)) return false;
  McMsg& m = d.cur;
  m = McMsg{};
  m.start_ns = c.ts_at(0);  // the held line's first packet
  m.wire_bytes = held.size();
  m.bits = kIsResponse | (r && kReplies[r].error ? kError : 0);
  m.reply_kind = counter ? kReplyCounter : r;
  if (counter) m.counter = v, m.bits |= kHasCounter;
  if (r == kReplyValue) {
    m.count_values = 1;
    if (complete >= 2) keep_key(m, w[1]);
    if (complete >= 3 && parse_u64(w[2], v)) m.flags = static_cast<uint32_t>(v);
    if (complete >= 4 && parse_u64(w[3], v)) m.value_bytes = v;
  } else if (r == kReplyStat && complete >= 2) {
    keep_key(m, w[1]);
  }
  take_cut_reply(st, c, d);
  return true;
}

// The reply under way (d.cur) ends where the capture lost its bytes: it answers the
// oldest request, noted; the gap that follows is its rest, not another reply (the
// replies after it tell whether more were lost), and a bare END after the gap, with
// no request waiting, is its end.
void MemcacheDecoder::take_cut_reply(MemcacheState& st, const StreamInfo& c, MemcacheState::Dir& d) {
  d.cur.bits |= kLost;
  const bool gathered = !(d.cur.bits & kBinary) && (d.gathering || d.cur.reply_kind == kReplyValue);
  end_value_early(d.cur, d);
  d.in_value = 0;
  d.skip = 0;
  d.gathering = 0;
  on_message(st, c, d.cur);
  st.took_cut_reply = 1;
  st.end_may_follow = gathered;
}

void MemcacheDecoder::owe_reply(MemcacheState& st, uint64_t tail_ns) {
  // A reply that found no request waiting, begun after those bytes were captured, was
  // that command's already.
  if (st.orphan_ns >= tail_ns) return;
  McMsg owed{};
  owed.start_ns = owed.end_ns = tail_ns;
  owed.owed = 1;
  if (st.n_pending >= kMaxPending ||
      store_.append(st.queue, reinterpret_cast<const uint8_t*>(&owed), sizeof owed) < sizeof owed) {
    counters_.inc(MemcacheStat::queue_full);  // the owed reply then meets the next request
    return;
  }
  ++st.n_pending;
}

void MemcacheDecoder::lose_framing(MemcacheState::Dir& d) {
  release(d.cur);
  d.cur = McMsg{};
  d.keep_left = 0;
  d.in_value = 0;
  d.skip = 0;
  d.gathering = 0;
  d.resync = 1;
}

bool MemcacheDecoder::gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
  MemcacheState& st = *static_cast<MemcacheState*>(state);
  MemcacheState::Dir& d = st.dir[dir];
  counters_.inc(MemcacheStat::gaps);
  if (d.in_value && d.skip >= len) {
    end_value_early(d.cur, d);  // kept as far as the gap: a value's prefix
    d.skip -= len;
    if (d.skip == 0) {
      d.in_value = 0;
      // A request whose value's end the gap took, answered before the capture showed the
      // loss (on_message): its end was lost, as one the gap cut at a line.
      if (dir == st.client && !(d.cur.bits & kIsResponse) && st.orphan_ns >= d.cur.start_ns)
        d.cur.bits |= kLost;
      if (!d.gathering) on_message(st, c, d.cur);
    }
    return true;
  }
  if (st.client < 0) st.client = static_cast<int8_t>(cfg_.client_by_port(c.port));
  if (dir == st.client) st.client_lost = 1;
  d.owes = dir == st.client && !d.in_value && !d.cut_taken;
  d.cut_taken = 0;
  if (st.binary == 0 || st.client < 0) {
    // Before the first message told the protocol (text or binary) or the sides: nothing
    // waits; the stream is taken up at the next line that opens a command or a reply
    // (text, the usual one, until a message of the other side says binary).
    lose_framing(d);
    return true;
  }
  // A message whose head was whole and whose value (or, for a reply gathered over
  // lines, whose lines after a whole one) the gap took is published as far as it went.
  if (dir == st.client && d.in_value && !(d.cur.bits & kIsResponse)) {
    d.cur.bits |= kLost;
    end_value_early(d.cur, d);
    d.in_value = 0;
    d.skip = 0;
    on_message(st, c, d.cur);
  } else if (dir != st.client && st.n_pending && !st.took_cut_reply && (d.cur.bits & kIsResponse) &&
             (d.in_value || d.gathering)) {
    take_cut_reply(st, c, d);
  }
  const bool took = dir != st.client && st.took_cut_reply;
  if (dir != st.client) st.took_cut_reply = 0;
  // The framing is lost. A message cut by the gap is dropped; on the reply side the
  // lost bytes began the reply to the oldest request waiting (replies come in order),
  // which goes out unanswered, and the replies after the gap meet their own requests.
  // The next line that opens a message (text) or the next header that holds together
  // (binary) takes up the stream.
  lose_framing(d);
  // The requests after it sent before the client had all the lost bytes may have had
  // their replies there too (a pipeline); the replies that come tell (on_message).
  if (dir != st.client && st.n_pending) {
    McMsg req;
    store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req);
    if (req.owed) {
      drop_pending(st, req);  // the lost bytes held the owed reply
    } else if (!(req.bits & kQuiet) && !took) {
      drop_pending(st, req);
      lose_reply(st, c, req);
      st.lost_get = st.binary == 1 && retrieval(req.command);
    }
    st.lost.on_gap(c.gap_acked_ns);
    for (uint32_t i = 0; st.lost.waiting() && i < st.n_pending; ++i) {
      store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req, i * sizeof req);
      st.lost.on_request(req.start_ns);
    }
  }
  return true;
}

void MemcacheDecoder::close(void* state, const StreamInfo& c) {
  MemcacheState& st = *static_cast<MemcacheState*>(state);
  while (st.n_pending) {
    McMsg req;
    drop_pending(st, req);
    if (req.owed) continue;
    // A quiet binary request needs no answer; others went unanswered.
    if (!(req.bits & kQuiet)) counters_.inc(MemcacheStat::unmatched_requests);
    publish(c, st.client, req.bits & kBinary, false, &req, nullptr);
    release(req);
  }
  store_.release(st.queue);
  for (auto& d : st.dir) release(d.cur);
}

bool MemcacheDecoder::expire(void* state, const StreamInfo& c, uint64_t now_ns) {
  MemcacheState& st = *static_cast<MemcacheState*>(state);
  while (st.n_pending) {
    McMsg req;
    store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req);
    if (req.start_ns + cfg_.timeout_ns >= now_ns) break;
    drop_pending(st, req);
    if (req.owed) continue;
    if (!(req.bits & kQuiet)) counters_.inc(MemcacheStat::unmatched_requests);
    publish(c, st.client, req.bits & kBinary, false, &req, nullptr);
    release(req);
  }
  return st.n_pending > 0;
}

void MemcacheDecoder::datagram(const PacketMeta& m) {
  // The UDP frame header: request id, sequence number, datagram count, reserved.
  if (m.l4_payload_len < 9) {
    counters_.inc(MemcacheStat::malformed);
    return;
  }
  const uint8_t* p = m.l4_payload;
  const uint16_t id = static_cast<uint16_t>(load_be(p, 2));
  const uint16_t seq = static_cast<uint16_t>(load_be(p + 2, 2)),
                 count = static_cast<uint16_t>(load_be(p + 4, 2));
  if (count != 1 || seq != 0) {
    counters_.inc(MemcacheStat::udp_multi_datagram);  // replies over several datagrams: not reassembled
    return;
  }
  MemcacheState st;
  std::memset(static_cast<void*>(&st), 0, sizeof st);
  st.queue = ChainStore::Chain{};
  for (auto& d : st.dir) d.cur.keys = d.cur.vals = ChainStore::Chain{};
  const StreamInfo c = udp_exchange(m.ip_version, m.src, m.dst, m.sport, m.dport, m.ts_ns);
  const uint8_t first = p[8];
  const std::string_view text(reinterpret_cast<const char*>(p + 8), m.l4_payload_len - 8);
  const bool request = first == 0x80 || (first != 0x81 && !looks_like_reply(text));
  st.client = request ? 0 : 1;
  McMsg msg{};
  const uint8_t* q = p + 8;
  uint32_t left = m.l4_payload_len - 8;
  bool done = false;
  while (left && !done) {
    const DecodeResult r = parse(st, 0, q, left, c.ts_ns, request, msg, done);
    if (r.verdict != Verdict::kOk) {
      counters_.inc(MemcacheStat::malformed);
      release(msg);
      return;
    }
    q += r.consumed;
    left -= r.consumed;
    if (st.dir[0].in_value) {  // a value inside the datagram
      const uint32_t k = static_cast<uint32_t>(std::min<uint64_t>(st.dir[0].skip, left));
      if (st.dir[0].keep_left) keep_value(msg, st.dir[0], q, k);
      end_value_early(msg, st.dir[0]);  // a value past the datagram's end: as far as it went
      q += k;
      left -= k;
      st.dir[0].in_value = 0;
      if (!st.dir[0].gathering) done = true;
    }
  }
  msg.start_ns = msg.end_ns = m.ts_ns;
  msg.wire_bytes = m.l4_payload_len - 8;
  Udp& u = *udp_;
  if (request) {
    counters_.inc(MemcacheStat::requests);
    if (msg.bits & kQuiet) {  // noreply / quiet: nothing comes back
      publish(c, 0, msg.bits & kBinary, true, &msg, nullptr);
      release(msg);
      return;
    }
    Udp::Entry* slot = nullptr;
    for (auto& e : u.e)
      if (!e.used) {
        slot = &e;
        break;
      }
    if (!slot) {
      counters_.inc(MemcacheStat::queue_full);
      release(msg);
      return;
    }
    *slot = Udp::Entry{true, m.src, m.dst, m.sport, m.dport, id, m.ip_version, msg};
    u.watch.add(msg.start_ns);
    return;
  }
  counters_.inc(MemcacheStat::responses);
  for (auto& e : u.e) {
    if (e.used && e.request_id == id && e.client == m.dst && e.server == m.src && e.cport == m.dport &&
        e.sport == m.sport) {
      publish(udp_exchange(m.ip_version, e.client, e.server, e.cport, e.sport, m.ts_ns), 0,
              msg.bits & kBinary, true, &e.msg, &msg);
      release(e.msg);
      release(msg);
      e.used = false;
      u.watch.remove();
      return;
    }
  }
  // An answer to nothing seen, published alone as over TCP (a bare END only counted).
  counters_.inc(MemcacheStat::unmatched_responses);
  if ((msg.bits & kBinary) || msg.reply_kind != kReplyEnd || msg.count_values) {
    publish(udp_exchange(m.ip_version, m.dst, m.src, m.dport, m.sport, m.ts_ns), 0, msg.bits & kBinary, true,
            nullptr, &msg);
  }
  release(msg);
}

void MemcacheDecoder::tick(uint64_t now_ns) {
  if (!udp_->watch.due(now_ns, cfg_.udp_timeout_ns)) return;
  udp_->watch.rescan();
  for (auto& e : udp_->e) {
    if (!e.used) continue;
    if (e.msg.start_ns + cfg_.udp_timeout_ns >= now_ns) {
      udp_->watch.keep(e.msg.start_ns);
      continue;
    }
    counters_.inc(MemcacheStat::unmatched_requests);
    publish(udp_exchange(e.ip_version, e.client, e.server, e.cport, e.sport, 0), 0, e.msg.bits & kBinary,
            true, &e.msg, nullptr);
    release(e.msg);
    e.used = false;
    udp_->watch.remove();
  }
}

void MemcacheDecoder::finish() { tick(UINT64_MAX); }

void MemcacheDecoder::publish(const StreamInfo& c, int client, bool binary, bool udp, const McMsg* req,
                              const McMsg* resp, bool answer_unknown) {
  TransactionFields t;
  t.type = "memcache";
  const bool quiet_alone = req && !resp && (req->bits & kQuiet);
  t.ok = (resp && !(resp->bits & kError)) || quiet_alone;
  // Packetbeat's status (its computeTransactionStatus): an answer alone is a client
  // error, a request unanswered (not by request) a server error; a binary answer's
  // status says (past 0x80 the server's); a text answer of failure is an error (a
  // miss, not stored, ERROR), the client's or the server's where it says so.
  if (!req) {
    t.status = "Client Error";
  } else if (!resp) {
    if (!quiet_alone) t.status = "Server Error";
  } else if (binary) {
    if (resp->status > 0x80) t.status = "Server Error";
  } else if (!(resp->bits & kMeta) || resp->reply_kind == kReplyNs || resp->reply_kind == kReplyNf) {
    const uint8_t k = resp->reply_kind;
    if (kReplies[k].word == "CLIENT_ERROR")
      t.status = "Client Error";
    else if (kReplies[k].word == "SERVER_ERROR")
      t.status = "Server Error";
    else if (k == kReplyNotStored || k == kReplyNotFound || k == kReplyNs || k == kReplyNf)
      t.ok = false;
  }
  // Packetbeat's note for a request it publishes without an answer (its pushAllTCPTrans).
  if (req && !resp && !quiet_alone) t.error = "Unfinished transaction";
  if (!req) t.error = "Invalid transaction. Request missing";  // Packetbeat's words
  if (!t.error && req && (req->bits & kLost)) t.error = kLossRequest;
  if (!t.error && resp && (resp->bits & kLost)) t.error = kLossResponse;
  if (!t.error && quiet_alone && answer_unknown) t.error = kLossResponse;
  if ((req && (req->bits & kKeysCut)) || (resp && (resp->bits & kKeysCut))) {
    counters_.inc(MemcacheStat::keys_cut);
    static_assert(kMaxKeysText == 16 * 1024, "the note names it");
    t.add_note("keys past 16 KiB of text not kept");
  }
  const uint8_t value_notes = (req ? req->value_notes : 0) | (resp ? resp->value_notes : 0);
  if (value_notes) {
    counters_.inc(MemcacheStat::values_cut);
    static_assert(kMaxValueBytes == 64 * 1024 && kMaxValuesBytes == 128 * 1024, "the notes name them");
    if (value_notes & kValueTooLong) t.add_note("values longer than 64 KiB: their first 64 KiB kept");
    if (value_notes & kValuesLeftOut) t.add_note("values past 128 KiB of a message not kept");
    if (value_notes & kValueCut) t.add_note("a value kept in part: the capture or the block store ended it");
  }
  t.start_ns = req ? req->start_ns : resp->start_ns;
  t.end_ns = resp ? resp->start_ns : req->end_ns;  // the response's first packet, as Packetbeat ends it
  t.request_only = !resp;                          // noreply, quit, or never answered
  t.response_only = !req;
  set_connection(t, c, client, udp ? 17 : 6, "memcache");
  t.client_bytes = req ? req->wire_bytes : 0;
  t.server_bytes = resp ? resp->wire_bytes : 0;
  if (req && resp) counters_.inc(MemcacheStat::transactions);
  // event.action and event.outcome as Packetbeat writes them: "memcache." and the
  // request's type in lower case; success for a request answered without error.
  char action[40];
  if (req) {
    std::size_t n = 0;
    for (const char* p = "memcache."; *p;) action[n++] = *p++;
    for (const char* p = kCommands[req->command].type; *p && n < sizeof action;)
      action[n++] = static_cast<char>(std::tolower(static_cast<unsigned char>(*p++)));
    t.event_action = std::string_view(action, n);
  }
  // Packetbeat's outcome is the answer's status code's: success for any text answer and
  // a binary one of status 0.
  if (resp && (!binary || resp->status == 0)) t.event_outcome = "success";
  char(&kb)[2][kMaxKeysText + 256] = keys_text_;
  std::size_t kl[2] = {0, 0};
  if (req) kl[0] = store_.copy_out(req->keys, reinterpret_cast<uint8_t*>(kb[0]), sizeof kb[0]);
  if (resp) kl[1] = store_.copy_out(resp->keys, reinterpret_cast<uint8_t*>(kb[1]), sizeof kb[1]);
  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    w.begin_object("memcache");
    w.field("protocol_type", binary ? "binary" : "text");
    auto keys = [&](int i) {
      w.begin_array("keys");
      std::string_view s(kb[i], kl[i]);
      while (!s.empty()) {
        const std::size_t sp = s.find(' ');
        w.string(s.substr(0, sp));
        s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp + 1);
      }
      w.end_array();
    };
    if (req) {
      const McMsg& r = *req;
      w.begin_object("request");
      // As Packetbeat writes them: a value's bytes and count only when there is one,
      // flags where the command carries them (binary: set, add, replace; text: the
      // storage commands).
      const bool with_value = r.count_values > 0;
      if (with_value) w.field_uint("bytes", r.value_bytes);
      if (r.bits & kHasCas) w.field_uint("cas_unique", r.cas);
      w.field("command", kCommands[r.command].name);
      if (with_value) w.field_uint("count_values", r.count_values);
      if (r.bits & kHasDelta) w.field_uint("delta", r.delta);
      if (r.bits & kHasExptime) w.field_uint("exptime", r.exptime);
      if (binary ? (r.command >= 3 && r.command <= 5)
                 : (r.command >= 3 && r.command <= 8) || (r.bits & kHasFlags))
        w.field_uint("flags", r.flags);
      if ((binary && (r.bits & kHasDelta)) || (r.bits & kHasInitial)) w.field_uint("initial", r.initial);
      if (r.command == 13) {
        w.field("raw_args", std::string_view(kb[0], kl[0]));
      } else if (kl[0]) {
        keys(0);
      }
      // Text: whether the request said noreply, as Packetbeat writes it for the commands
      // whose syntax it gives one (storage, delete, incr/decr, touch; false for quit, never
      // answered but not by request); not for retrievals, stats, flush_all, version,
      // verbosity.
      const bool takes_noreply = (r.command >= 3 && r.command <= 12) || r.command == 17;
      if (!binary && takes_noreply) w.field_bool("noreply", (r.bits & kQuiet) && r.command != 17);
      if (r.command == kCmdVerbosity && (r.bits & kHasCounter)) w.field_uint("verbosity", r.counter);
      if (r.bits & kMeta) {  // a meta command's O token (when a number) and q flag, as binary's
        if (r.bits & kHasOpaque) w.field_uint("opaque", r.opaque);
        w.field_bool("quiet", r.bits & kQuiet);
      }
      if (binary) {
        const Opcode* oc = opcode_of(r.opcode);
        w.field("opcode", oc ? oc->name : "UNKNOWN");
        w.field_uint("opcode_value", r.opcode);
        w.field_uint("opaque", r.opaque);
        w.field_bool("quiet", r.bits & kQuiet);
        w.field_uint("vbucket", r.vbucket);
      }
      w.field("type", kCommands[r.command].type);
      // A text storage command's value is one string, as Packetbeat writes a request's;
      // binary requests' values are a list, as its binary serializer writes them.
      if (with_value && r.values_kept) write_values(w, r, !binary);
      w.end_object();
    }
    if (resp) {
      const McMsg& r = *resp;
      w.begin_object("response");
      // Binary: the command the opcode stands for; flags with get's answers alone (text:
      // with values). A meta VA answering ma is the counter's value, as incr's number is.
      const bool counter = (r.bits & kMeta) && r.reply_kind == kReplyVa && req && req->command == kCmdMa;
      const bool with_value = r.count_values > 0 && !counter;
      if (with_value) w.field_uint("bytes", r.value_bytes);
      // A text VALUE reply's CAS (0 without one, as Packetbeat writes every VALUE's).
      if ((r.bits & kHasCas) || (!binary && !(r.bits & kMeta) && r.reply_kind == kReplyValue))
        w.field_uint("cas_unique", r.cas);
      if (!binary)
        w.field("command", r.reply_kind == kReplyCounter ? "<counter_op_res>" : kReplies[r.reply_kind].word);
      else
        w.field("command", kCommands[r.command].name);
      if (with_value) w.field_uint("count_values", r.count_values);
      if (binary ? r.command == 1 : (r.bits & kMeta) ? (r.bits & kHasFlags) != 0 : with_value)
        w.field_uint("flags", r.flags);
      const bool stats = binary ? r.opcode == 0x10 : r.reply_kind == kReplyStat;
      if (stats) {
        w.begin_array("stats");
        std::string_view s(kb[1], kl[1]);
        while (!s.empty()) {
          const std::size_t nl = s.find('\n');
          const std::string_view item = s.substr(0, nl);
          s = nl == std::string_view::npos ? std::string_view{} : s.substr(nl + 1);
          const std::size_t tab = item.find('\t');
          w.begin_object();
          w.field("name", item.substr(0, tab));
          w.field("value", tab == std::string_view::npos ? std::string_view{} : item.substr(tab + 1));
          w.end_object();
        }
        w.end_array();
      } else if (kl[1]) {
        keys(1);
      }
      if ((r.bits & kMeta) && (r.bits & kHasOpaque)) w.field_uint("opaque", r.opaque);
      if (binary) {
        const Opcode* oc = opcode_of(r.opcode);
        w.field("opcode", oc ? oc->name : "UNKNOWN");
        w.field_uint("opcode_value", r.opcode);
        w.field_uint("opaque", r.opaque);
        w.field("status", status_name(r.status));
        w.field_uint("status_code", r.status);
      }
      const char* type = binary    ? (stats ? "Stats" : kCommands[req ? req->command : r.command].type)
                         : counter ? "Counter"
                                   : kReplies[r.reply_kind].type;
      w.field("type", type);
      if ((r.bits & kHasCounter) && (!(r.bits & kMeta) || counter)) w.field_uint("value", r.counter);
      if (with_value && r.values_kept) write_values(w, r, false);
      w.end_object();
    }
    w.end_object();
    end_transaction(w);
  });
}

void MemcacheDecoder::write_values(JsonWriter& w, const McMsg& m, bool one) {
  if (one)
    w.key("values");
  else
    w.begin_array("values");
  uint32_t at = 0;
  for (uint32_t i = 0; i < m.values_kept && at + 4 <= m.vals.len; ++i) {
    uint32_t len = 0;
    store_.copy_out(m.vals, reinterpret_cast<uint8_t*>(&len), 4, at);
    const uint32_t got = store_.copy_out(m.vals, value_raw_.get(), std::min(len, kMaxValueBytes), at + 4);
    at += 4 + len;
    w.ascii({value_text_.get(), base64_encode(value_raw_.get(), got, value_text_.get())});
    if (one) break;
  }
  if (!one) w.end_array();
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<MemcacheDecoder>(s); }

constexpr DetectProbe kProbes[] = {
    // Binary request magic, a known opcode with the extras length it requires (8 for
    // set/add/replace, 20 for incr/decr, 4 for touch/gat/verbosity, 0 or 4 for flush, 0
    // for the rest), a key under 512 bytes and the header's zero data type. (Any extras
    // length took Thrift's calls, 80 01 00 01 00 00, for a set without its extras.)
    {R"(^\x80(?:[\x01-\x03\x11-\x13][\x00-\x01][\s\S]\x08|[\x05\x06\x15\x16][\x00-\x01][\s\S]\x14|[\x00\x04\x07\x09-\x10\x14\x17\x19\x1a][\x00-\x01][\s\S]\x00|[\x08\x18][\x00-\x01][\s\S][\x00\x04]|[\x1b-\x1e][\x00-\x01][\s\S]\x04)\x00)",
     true},
    // Text commands.
    {R"(^(get|gets|set|add|replace|append|prepend|cas|delete|incr|decr|touch) [!-~]{1,250}( [0-9]+)*( noreply)?\r\n)",
     true},
    {R"(^(stats|version|flush_all)( [ -~]*)?\r\n)", true},
    // Meta commands (memcached 1.6+): mg/md/ma/me key [flags], ms key size [flags].
    {R"(^m[gdae] [!-~]{1,250}( [!-~]+)*\r\n)", true},
    {R"(^ms [!-~]{1,250} [0-9]+( [!-~]+)*\r\n)", true},
};

const OptionSpec kSettingOptions[] = {
    {"parseunknown", OptionKind::kBool},
    {"maxvalues", OptionKind::kInt},
    {"maxbytespervalue", OptionKind::kUint},
    {"udptransactiontimeout", OptionKind::kDuration},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  auto out = std::make_unique<MemcacheSettings>();
  MemcacheSettings& s = *out;
  s.parse_unknown = p.flag("parseunknown", false);
  s.udp_timeout_ns = p.duration_ns("udptransactiontimeout", s.udp_timeout_ns);
  if (p.options["maxvalues"]) s.max_values = p.options["maxvalues"].as<int32_t>();
  if (p.options["maxbytespervalue"]) {
    s.max_bytes_per_value = p.options["maxbytespervalue"].as<uint32_t>();
    if (s.max_values != 0 && s.max_bytes_per_value > MemcacheDecoder::kMaxValueBytes)
      warn("maxbytespervalue",
           "values are kept up to 64 KiB each; longer ones are cut there (noted on the event)");
  }
  return out;
}

const uint16_t kDefaultPorts[] = {11211};

}  // namespace

const DecoderDescriptor& memcache_protocol() {
  static const DecoderDescriptor d = {
      .name = "memcache",
      .transports = kTransportTcp | kTransportUdp,
      .probes = kProbes,
      .state_size = sizeof(MemcacheState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kMemcacheCounters,
      .violations = static_cast<int>(MemcacheStat::violations),
      .index_template =
          {.dynamic_templates =
               R"({"cas_values": {"path_match": "memcache.*.cas_unique", "mapping": {"type": "unsigned_long"}}})"},
      .exercise_options = "{parseunknown: true, maxvalues: -1, maxbytespervalue: 100}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
