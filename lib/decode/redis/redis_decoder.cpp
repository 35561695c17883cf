#include "decode/redis/redis_decoder.hpp"

#include <algorithm>
#include <cstring>

#include "decode/transaction_event.hpp"
#include "event/emitter.hpp"
#include "util/bounded_text.hpp"
#include "util/encode.hpp"

namespace tapbeat {

// A reply's text, kept beside the decoder (forward-declared in the header).
struct RedisText : BoundedText<RedisDecoder::kKeepBytes + 64> {};

namespace {

// kEarly: a reply begun while a place had no command behind it (a lost command's).
// kGapInText: bytes of a value lost within the message's kept text (which then joins
// what came before and after them).
enum DirFlag : uint8_t { kPush = 2, kError = 4, kCut = 8, kLost = 16, kEnded = 32, kTextCut = 64 };
constexpr uint8_t kEarly = 1, kGapInText = 128;  // DirFlag bits too

constexpr const char* kUnmatchedRequest = "Unmatched request";
constexpr const char* kTooDeep = "Reply nested deeper than 8 levels: value cut at that depth";
constexpr const char* kTooDeepUnmatched = "Unmatched request; reply nested deeper than 8 levels";
constexpr const char* kReplyLost = "Unmatched request; its reply began in bytes the capture lost";
constexpr const char* kAnsweredBeforeItsEnd =
    "Unmatched request; its end was lost and its reply came before the capture showed the loss";
constexpr const char* kLossAmongCommands =
    "Packet loss while capturing commands sent before this one: its reply is not told apart from theirs";
constexpr const char* kEndedRequest = "Its command was cut short by the end of the connection";
constexpr const char* kEndedResponse = "Its reply was cut short by the end of the connection";
constexpr const char* kEndedUnmatched =
    "Unmatched request; its command was cut short by the end of the connection";
// Bytes passed over after a gap, looking for a message start, before the connection is
// left: a gap inside a value (up to 64 MiB) is found past. Lines longer than an inline
// command's limit (64 KiB, Redis's own) open no message.
constexpr uint32_t kMaxResyncSkip = 64u << 20;
constexpr uint32_t kMaxResyncLine = 64 * 1024;
static_assert(RedisState::kMaxDepth == 8, "the notes name the depth");

static_assert(sizeof(RedisState) <= kDecoderStateBytes, "Redis connection state must fit the session slot");

bool parse_int(const uint8_t* p, const uint8_t* end, int64_t& v) {
  bool neg = false;
  if (p < end && *p == '-') neg = true, ++p;
  if (p == end) return false;
  v = 0;
  for (; p < end; ++p) {
    if (*p < '0' || *p > '9' || v > (int64_t{1} << 40)) return false;
    v = v * 10 + (*p - '0');
  }
  if (neg) v = -v;
  return true;
}

// Reads RESP values out of a kept message prefix (which may stop mid-value).
struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool line(const uint8_t*& s, const uint8_t*& e) {
    const void* lf = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
    if (!lf) return false;
    s = p;
    e = static_cast<const uint8_t*>(lf);
    p = e + 1;
    if (e > s && e[-1] == '\r') --e;
    return true;
  }
};

// Passes over the aggregate whose header (n values, attributes counted) was just
// read, without recursion: nested values only add to the count still to come.
bool skip_values(Reader& r, int64_t n) {
  while (n > 0) {
    const uint8_t *s, *e;
    if (!r.line(s, e) || s == e) return false;
    int64_t v = 0;
    switch (*s) {
      case '$':
      case '!':
      case '=':
        if (!parse_int(s + 1, e, v)) return false;
        --n;
        if (v > 0) {
          if (r.end - r.p < v) return false;
          r.p += v;
          if (r.p + 2 <= r.end) r.p += 2;
        }
        break;
      case '*':
      case '~':
      case '>':
      case '%':
      case '|':
        if (!parse_int(s + 1, e, v)) return false;
        if (*s == '%' || *s == '|') v *= 2;
        if (*s != '|') --n;  // an attribute is not a value: the one it describes follows
        if (v > 0) n += v;
        break;
      default:
        --n;
    }
  }
  return true;
}

// What a server message is to pub/sub, read from its first bytes: an array or push
// whose first element names it. kMessage: what a subscription delivers (message,
// pmessage, smessage) or a client-side caching invalidation; kConfirm: a subscribe or
// unsubscribe confirmation, the command it confirms (upper case) in `command`, its
// channel or pattern in `channel` (empty when nil or not in the bytes kept), the
// subscriptions it leaves in `count` (-1 when not in the bytes kept).
enum class PubSub : uint8_t { kNone, kMessage, kConfirm };
PubSub pubsub_kind(std::string_view h, std::string_view& command, std::string_view& channel, int64_t& count) {
  static constexpr std::pair<std::string_view, std::string_view> kConfirms[] = {
      {"subscribe", "SUBSCRIBE"},     {"psubscribe", "PSUBSCRIBE"},     {"ssubscribe", "SSUBSCRIBE"},
      {"unsubscribe", "UNSUBSCRIBE"}, {"punsubscribe", "PUNSUBSCRIBE"}, {"sunsubscribe", "SUNSUBSCRIBE"}};
  Reader r{reinterpret_cast<const uint8_t*>(h.data()), reinterpret_cast<const uint8_t*>(h.data()) + h.size()};
  const uint8_t *s, *e;
  int64_t n = 0, len = 0;
  if (!r.line(s, e) || s == e || (*s != '*' && *s != '>') || !parse_int(s + 1, e, n) || n < 2)
    return PubSub::kNone;
  if (!r.line(s, e) || s == e || *s != '$' || !parse_int(s + 1, e, len) || len <= 0 || r.end - r.p < len + 2)
    return PubSub::kNone;
  const std::string_view word(reinterpret_cast<const char*>(r.p), static_cast<std::size_t>(len));
  r.p += len + 2;
  for (std::string_view m : {"message", "pmessage", "smessage", "invalidate"})
    if (word == m) return PubSub::kMessage;
  command = {};
  for (const auto& [w, c] : kConfirms)
    if (word == w) command = c;
  if (command.empty() || n != 3) return PubSub::kNone;
  count = -1;
  channel = {};
  if (!r.line(s, e) || s == e || *s != '$' || !parse_int(s + 1, e, len)) return PubSub::kConfirm;
  if (len > 0) {  // the channel (nil when none)
    if (r.end - r.p < len + 2) return PubSub::kConfirm;
    channel = {reinterpret_cast<const char*>(r.p), static_cast<std::size_t>(len)};
    r.p += len + 2;
  }
  int64_t left = 0;
  if (r.line(s, e) && s != e && *s == ':' && parse_int(s + 1, e, left)) count = left;
  return PubSub::kConfirm;
}

// Text of one value: strings as they are, numbers as written, aggregates as
// "[a, b]", null as "nil", an aggregate deeper than kMaxDepth as "[...]".
// Returns false when the kept bytes end inside it.
bool format_value(Reader& r, RedisText& out, int depth, char& type) {
  const uint8_t *s, *e;
  if (!r.line(s, e) || s == e) return false;
  type = static_cast<char>(*s);
  const std::string_view rest(reinterpret_cast<const char*>(s + 1), static_cast<std::size_t>(e - s - 1));
  switch (*s) {
    case '+':
    case '-':
    case ':':
    case ',':
    case '(':
      out.append(rest);
      return true;
    case '#':
      out.append(rest == "t" ? "true" : "false");
      return true;
    case '_':
      out.append("nil");
      return true;
    case '$':
    case '!':
    case '=': {
      int64_t n;
      if (!parse_int(s + 1, e, n)) return false;
      if (n < 0) {
        out.append("nil");
        return true;
      }
      const std::size_t have = static_cast<std::size_t>(r.end - r.p);
      const std::size_t k = std::min<std::size_t>(have, static_cast<std::size_t>(n));
      std::string_view v(reinterpret_cast<const char*>(r.p), k);
      if (*s == '=' && v.size() >= 4) v.remove_prefix(4);  // verbatim: "txt:" format prefix
      out.append(v);
      if (k < static_cast<std::size_t>(n)) return false;
      r.p += n;
      if (r.p + 2 <= r.end) r.p += 2;
      return true;
    }
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
      int64_t n;
      if (!parse_int(s + 1, e, n)) return false;
      if (n < 0) {
        out.append("nil");
        return true;
      }
      if (*s == '%' || *s == '|') n *= 2;
      if (depth >= RedisState::kMaxDepth && *s != '|') {
        out.append("[...]");
        return skip_values(r, n);
      }
      out.push_back('[');
      for (int64_t i = 0; i < n; ++i) {
        if (i) out.append(", ");
        char t;
        if (!format_value(r, out, depth + 1, t)) return false;
      }
      out.push_back(']');
      if (*s == '|') {  // an attribute comes before the value it describes
        out.clear();
        return format_value(r, out, depth, type);
      }
      return true;
    }
    default:
      return false;
  }
}

// An inline command's words as redis-server splits the line (sds.c, sdssplitargs):
// blanks separate them; double quotes take \xHH, \n, \r, \t, \b, \a and a backslash
// before any other byte; single quotes take \' alone; a closing quote must be
// followed by a blank or the line's end. The words are copied into buf (at least the
// line's size); -1 when the quotes do not balance (the server refuses the line:
// "Protocol error: unbalanced quotes in request").
int inline_args(std::string_view l, std::string_view* args, int max, char* buf) {
  const auto blank = [](char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
  };
  std::size_t i = 0, out = 0;
  int n = 0;
  while (n < max) {
    while (i < l.size() && blank(l[i])) ++i;
    if (i == l.size()) break;
    const std::size_t start = out;
    char quote = 0;
    for (bool done = false; !done;) {
      if (i == l.size()) {
        if (quote) return -1;  // unterminated
        break;
      }
      const char ch = l[i];
      if (quote && ch == quote) {  // the closing quote: a blank or the line's end after it
        if (i + 1 < l.size() && !blank(l[i + 1])) return -1;
        ++i;
        done = true;
      } else if (quote == '"' && ch == '\\' && i + 3 < l.size() && l[i + 1] == 'x' &&
                 hex_value(l[i + 2]) >= 0 && hex_value(l[i + 3]) >= 0) {
        buf[out++] = static_cast<char>(hex_value(l[i + 2]) * 16 + hex_value(l[i + 3]));
        i += 4;
      } else if (quote == '"' && ch == '\\' && i + 1 < l.size()) {
        const char e = l[i + 1];
        buf[out++] = e == 'n'   ? '\n'
                     : e == 'r' ? '\r'
                     : e == 't' ? '\t'
                     : e == 'b' ? '\b'
                     : e == 'a' ? '\a'
                                : e;
        i += 2;
      } else if (quote == '\'' && ch == '\\' && i + 1 < l.size() && l[i + 1] == '\'') {
        buf[out++] = '\'';
        i += 2;
      } else if (!quote && blank(ch)) {
        done = true;
      } else if (!quote && (ch == '"' || ch == '\'')) {
        quote = ch;
        ++i;
      } else {
        buf[out++] = ch;
        ++i;
      }
    }
    args[n++] = std::string_view(buf + start, out - start);
  }
  return n;
}

// A command: its arguments (a RESP array of bulk strings, or an inline line). buf
// holds an inline line's words (text.size() bytes); an inline line whose quotes do not
// balance is split at its blanks, as sent.
int command_args(std::string_view text, std::string_view* args, int max, char* buf) {
  Reader r{reinterpret_cast<const uint8_t*>(text.data()),
           reinterpret_cast<const uint8_t*>(text.data()) + text.size()};
  const uint8_t *s, *e;
  if (!r.line(s, e) || s == e) return 0;
  int n = 0;
  if (*s != '*') {  // inline command
    std::string_view l(reinterpret_cast<const char*>(s), static_cast<std::size_t>(e - s));
    if (const int k = inline_args(l, args, max, buf); k >= 0) return k;
    while (!l.empty() && n < max) {
      const std::size_t b = l.find_first_not_of(" \t");
      if (b == std::string_view::npos) break;
      l.remove_prefix(b);
      const std::size_t w = l.find_first_of(" \t");
      args[n++] = l.substr(0, w);
      l = w == std::string_view::npos ? std::string_view{} : l.substr(w);
    }
    return n;
  }
  int64_t count;
  if (!parse_int(s + 1, e, count) || count <= 0) return 0;
  for (int64_t i = 0; i < count && n < max; ++i) {
    if (!r.line(s, e) || s == e || (*s != '$' && *s != '+' && *s != ':')) {
      return n;
    }
    if (*s != '$') {
      args[n++] = std::string_view(reinterpret_cast<const char*>(s + 1), static_cast<std::size_t>(e - s - 1));
      continue;
    }
    int64_t len;
    if (!parse_int(s + 1, e, len) || len < 0) return n;
    const std::size_t have = static_cast<std::size_t>(r.end - r.p);
    const std::size_t k = std::min<std::size_t>(have, static_cast<std::size_t>(len));
    args[n++] = std::string_view(reinterpret_cast<const char*>(r.p), k);
    if (k < static_cast<std::size_t>(len)) {
      return n;
    }
    r.p += len;
    if (r.p + 2 <= r.end) r.p += 2;
  }
  return n;
}

bool ieq(std::string_view a, std::string_view upper) {
  if (a.size() != upper.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != upper[i]) return false;
  return true;
}

}  // namespace

RedisDecoder::RedisDecoder(const DecoderSetup& s)
    : DecoderCommon<RedisStat>(s),
      cfg_(s.settings<RedisSettings>()),
      req_text_(new uint8_t[kKeepBytes]),
      resp_text_(new uint8_t[kKeepBytes]),
      value_(std::make_unique<RedisText>()) {}

RedisDecoder::~RedisDecoder() = default;

void RedisDecoder::open(void* state) {
  auto& st = *static_cast<RedisState*>(state);
  st = RedisState{};
  st.client = -1;
}

bool RedisDecoder::skipped_value_done(RedisState::Dir& d) {
  // A bulk string inside a too-deep aggregate ended: that aggregate may be done.
  if (d.skip_left > 0) return false;
  d.skipping = 0;
  return element_done(d);
}

bool RedisDecoder::element_done(RedisState::Dir& d) {
  // Closes finished aggregates; true when the whole message is done.
  while (d.depth > 0) {
    const int top = d.depth - 1;
    if (--d.left[top] > 0) return false;
    const bool attr = d.attr_mask & (1u << top);
    d.attr_mask &= static_cast<uint8_t>(~(1u << top));
    --d.depth;
    if (attr) return false;  // the value the attribute describes follows at this level
  }
  return true;
}

DecodeResult RedisDecoder::data(void* state, const StreamInfo& c, int dir, std::span<const uint8_t> bytes) {
  RedisState& st = *static_cast<RedisState*>(state);
  RedisState::Dir& d = st.dir[dir];
  const uint8_t* p = bytes.data();
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  uint32_t off = 0;
  auto keep = [&](const uint8_t* b, uint32_t k) {
    const uint32_t room = d.text.len < kKeepBytes ? kKeepBytes - d.text.len : 0;
    const uint32_t w = std::min(k, room);
    if (w < k) d.flags |= kTextCut;
    if (w && store_.append(d.text, b, w) < w) counters_.inc(RedisStat::store_full);
  };
  // Bytes that are not RESP end decoding; the message they began is counted as
  // malformed, not as one the connection's end cut short.
  auto not_resp = [&]() -> DecodeResult {
    counters_.inc(RedisStat::malformed);
    d.in_msg = 0;
    return {off, 0, Verdict::kViolation};
  };
  if (d.resync) {
    // After a gap: whole lines are passed over until one opens a message of this side.
    const uint32_t from = off;
    const uint32_t passed_before = (d.resync & ~kMidLine) - 1;
    const Resync r = find_line_start(
        bytes, off, d.resync, kMaxResyncSkip, kMaxResyncLine, [&](const uint8_t* s, const uint8_t* le) {
          return message_start(s, le, dir != st.client) && followed_well(s, le, p + n, dir != st.client);
        });
    counters_.inc(RedisStat::resync_skipped_bytes, r.passed);
    if (r.passed) d.resync_ns = c.ts_at(from + r.passed - 1);
    if (!r.framed) return r.result;
    off = r.result.consumed;
    counters_.inc(RedisStat::resynced);
    if (d.owes && passed_before + r.passed > 0 && dir == st.client) owe_reply(st, d.resync_ns);
    d.owes = 0;
    if (st.lost_replies && dir != st.client) settle_lost_replies(st, c, passed_before + r.passed == 0);
  }
  while (off < n) {
    if (d.bulk_left) {
      const uint32_t k = static_cast<uint32_t>(std::min<uint64_t>(d.bulk_left, n - off));
      keep(p + off, k);
      d.bytes += k;
      d.bulk_left -= k;
      off += k;
      if (d.bulk_left == 0 && (d.skipping ? skipped_value_done(d) : element_done(d))) complete(st, c, dir);
      continue;
    }
    const void* lf = std::memchr(p + off, '\n', n - off);
    if (!lf) {
      if (n - off > kMaxLine) {
        return not_resp();
      }
      return {off, n - off + 1, Verdict::kNeedMore};
    }
    const uint8_t* s = p + off;
    const uint8_t* e = static_cast<const uint8_t*>(lf);
    const uint32_t line = static_cast<uint32_t>(e - s) + 1;
    const uint8_t* le = (e > s && e[-1] == '\r') ? e - 1 : e;
    if (!d.in_msg) {
      const uint8_t* w = s;
      while (w < le && (*w == ' ' || *w == '\t')) ++w;
      if (w == le) {  // a blank line between inline commands: the server passes it over
        off += line;
        continue;
      }
      d.in_msg = 1;
      d.start_ns = c.ts_at(off);  // the message's first packet
      d.bytes = 0;
      d.flags = 0;
      d.depth = 0;
      d.attr_mask = 0;
      d.skipping = 0;
      d.skip_left = 0;
      if (dir != st.client && st.place && !st.n_behind) d.flags |= kEarly;
    }
    keep(s, line);
    d.bytes += line;
    off += line;
    const uint8_t t = *s;
    int64_t v = 0;
    bool done = false;
    if (d.skipping) {
      // Inside an aggregate past kMaxDepth: each value counts one off what is still
      // to come there, a nested aggregate adds its own values, a bulk string's
      // payload streams through as usual.
      switch (t) {
        case '$':
        case '!':
        case '=':
          if (!parse_int(s + 1, le, v) || v > static_cast<int64_t>(kMaxBulk) || v < -1) {
            return not_resp();
          }
          --d.skip_left;
          if (v >= 0) d.bulk_left = static_cast<uint64_t>(v) + 2;
          break;
        case '*':
        case '~':
        case '>':
        case '%':
        case '|':
          if (!parse_int(s + 1, le, v) || v > kMaxAggregate || v < -1) {
            return not_resp();
          }
          if (t == '%' || t == '|') v *= 2;
          if (t != '|') --d.skip_left;
          if (v > 0) d.skip_left += static_cast<uint64_t>(v);
          break;
        case '+':
        case '-':
        case ':':
        case '_':
        case ',':
        case '#':
        case '(':
          --d.skip_left;
          break;
        default:
          return not_resp();
      }
      if (d.bulk_left == 0 && skipped_value_done(d)) complete(st, c, dir);
      continue;
    }
    switch (t) {
      case '+':
      case ':':
      case '_':
      case ',':
      case '#':
      case '(':
        done = element_done(d);
        break;
      case '-':
        if (d.depth == 0) d.flags |= kError;
        done = element_done(d);
        break;
      case '$':
      case '!':
      case '=':
        if (!parse_int(s + 1, le, v) || v > static_cast<int64_t>(kMaxBulk) || v < -1) {
          return not_resp();
        }
        if (t == '!' && d.depth == 0) d.flags |= kError;
        if (v < 0)
          done = element_done(d);
        else
          d.bulk_left = static_cast<uint64_t>(v) + 2;
        break;
      case '*':
      case '~':
      case '>':
      case '%':
      case '|':
        if (!parse_int(s + 1, le, v) || v > kMaxAggregate || v < -1) {
          return not_resp();
        }
        if (t == '>' && d.depth == 0) d.flags |= kPush;
        if (t == '%' || t == '|') v *= 2;
        if (v <= 0) {
          done = element_done(d);
        } else {
          if (d.depth == RedisState::kMaxDepth) {
            // Too deep to stack: framed by count from here (an attribute also
            // covers the value it describes), cut in the event's text.
            counters_.inc(RedisStat::too_deep);
            d.flags |= kCut;
            d.skipping = 1;
            d.skip_left = static_cast<uint64_t>(v) + (t == '|' ? 1 : 0);
            break;
          }
          if (t == '|') d.attr_mask |= static_cast<uint8_t>(1u << d.depth);
          d.left[d.depth++] = static_cast<uint32_t>(v);
        }
        break;
      default:
        // An inline command (telnet style) is one line of words; anything else, and
        // such a line from the server (which never answers inline), is not RESP.
        if (d.depth == 0 && (st.client < 0 || dir == st.client) &&
            ((t >= 'A' && t <= 'z') || t == ' ' || t == '\t' || t == '"' || t == '\'')) {
          done = true;
        } else {
          return not_resp();
        }
    }
    if (done) complete(st, c, dir);
  }
  return {off, 0, Verdict::kOk};
}

// As the server keeps its client's reply flags (networking.c: CLIENT REPLY and
// resetClient): ON clears both and is answered; OFF turns replies off; SKIP, unless
// they are off, drops the reply of the command after it; neither OFF nor SKIP is
// answered itself. A command is answered unless replies are off or it is the one
// skipped.
bool RedisDecoder::answered(RedisState& st, std::span<const std::string_view> args) {
  const bool client_reply = args.size() == 3 && ieq(args[0], "CLIENT") && ieq(args[1], "REPLY");
  const bool skipped = st.reply_skip;
  st.reply_skip = 0;
  if (client_reply && ieq(args[2], "ON")) {
    st.reply_off = 0;
    return true;
  }
  if (client_reply && ieq(args[2], "OFF")) {
    st.reply_off = 1;
    return false;
  }
  if (client_reply && ieq(args[2], "SKIP")) {
    if (!st.reply_off) st.reply_skip = 1;
    return false;
  }
  return !st.reply_off && !skipped;
}

void RedisDecoder::reply_lost(RedisState& st, const StreamInfo& c) {
  if (place_first(st)) {
    // Replies lost that the place would have held: which commands had theirs is not known.
    end_place(st, c, false);
    return;
  }
  Pending req;
  pop(st, req);
  if (req.owed) return;  // the lost bytes held the owed reply
  counters_.inc(RedisStat::unmatched_requests);
  counters_.inc(RedisStat::responses_lost);
  publish(c, st.client, &req, nullptr, kReplyLost);
  store_.release(req.text);
}

void RedisDecoder::settle_lost_replies(RedisState& st, const StreamInfo& c, bool whole) {
  st.lost_replies = 0;
  // Replies begun in the lost bytes: the first (the oldest command's, or the end of the
  // one the gap cut); another only where the first ended there, 3 bytes at least ("+\r\n",
  // RESP3's "_\r\n"; a cut one's end, 1), and the bytes hold another's start, or all of
  // it when the stream was found right after them (`whole`).
  const uint64_t first = st.lost_after_cut ? 1 : 3;
  if (st.lost_len < first + (whole ? 3 : 1)) return;
  while (st.n_pending) {
    Pending req;
    store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req);
    if (req.end_ns >= st.lost_acked_ns) break;  // ended after the client had them: answered later
    reply_lost(st, c);
  }
}

void RedisDecoder::owe_reply(RedisState& st, uint64_t tail_ns) {
  // A reply that found no command waiting, begun after those bytes were captured, was
  // that command's already.
  if (st.orphan_ns >= tail_ns) return;
  if (st.n_pending >= cfg_.queue_max_messages) {
    counters_.inc(RedisStat::queue_full);  // the owed reply then meets the next command
    return;
  }
  Pending owed{};
  owed.start_ns = owed.end_ns = tail_ns;
  owed.owed = true;
  if (store_.append(st.queue, reinterpret_cast<const uint8_t*>(&owed), sizeof owed) < sizeof owed) {
    counters_.inc(RedisStat::store_full);
    return;
  }
  ++st.n_pending;
  if (st.place) behind_place(st);
}

void RedisDecoder::lose_commands(RedisState& st, const StreamInfo& c) {
  if (st.place) return;
  if (!st.n_pending && c.gap_acked_ns && st.server_ns >= c.gap_acked_ns) return;
  Pending p{};
  p.start_ns = p.end_ns = c.ts_ns;
  p.place = true;
  if (store_.append(st.queue, reinterpret_cast<const uint8_t*>(&p), sizeof p) < sizeof p) {
    counters_.inc(RedisStat::store_full);
    return;
  }
  ++st.n_pending;
  st.place = 1;  // (nothing behind or held: end_place left it so)
  st.place_seen = 0;
}

bool RedisDecoder::place_first(RedisState& st) {
  if (!st.place || !st.n_pending) return false;
  Pending front;
  store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&front), sizeof front);
  return front.place;
}

void RedisDecoder::release_texts(const ChainStore::Chain& held, uint32_t from, uint32_t to) {
  for (uint32_t i = from; i < to; ++i) {
    Pending r;
    store_.copy_out(held, reinterpret_cast<uint8_t*>(&r), sizeof r, i * static_cast<uint32_t>(sizeof r));
    store_.release(r.text);
  }
}

void RedisDecoder::release_held(RedisState& st) {
  release_texts(st.held, 0, st.n_held);
  store_.release(st.held);
  st.n_held = 0;
}

void RedisDecoder::behind_place(RedisState& st) {
  if (++st.n_behind > 1) return;
  // The first command behind it: the replies held so far came before it was whole, so
  // are the lost commands'.
  counters_.inc(RedisStat::unmatched_responses, st.place_answers);
  release_held(st);
  st.place_answers = 0;
}

void RedisDecoder::hold_reply(RedisState& st, Pending& m, bool early) {
  if (!st.n_behind || early) {
    // Begun before any command behind the place was whole (the capture's order, which
    // the reassembler keeps with each side's acknowledgements): a lost command's (and, as
    // a reply no command waits for, it may be the one a command the gap began owes).
    counters_.inc(RedisStat::unmatched_responses);
    st.orphan_ns = m.start_ns;
    store_.release(m.text);
    return;
  }
  ++st.place_answers;
  if (st.n_held == kMaxHeld) {
    release_texts(st.held, 0, 1);
    store_.drop_front(st.held, sizeof(Pending));
    --st.n_held;
  }
  if (store_.append(st.held, reinterpret_cast<const uint8_t*>(&m), sizeof m) < sizeof m) {
    // Those held go too (the last ones held must be the last ones sent).
    counters_.inc(RedisStat::store_full);
    store_.release(m.text);
    release_held(st);
    return;
  }
  ++st.n_held;
}

void RedisDecoder::end_place(RedisState& st, const StreamInfo& c, bool pair) {
  Pending place;
  pop(st, place);
  st.place = 0;
  const uint32_t m = st.n_behind, kept = st.n_held;
  const uint32_t paired = pair && st.place_answers >= m ? std::min(kept, m) : 0;
  counters_.inc(RedisStat::unmatched_responses, st.place_answers - paired);
  ChainStore::Chain held = st.held;
  st.held = ChainStore::Chain{};
  st.n_held = 0;
  st.n_behind = 0;
  st.place_answers = 0;
  uint32_t next = kept - paired;  // the held replies before the last `paired` go unanswering
  release_texts(held, 0, next);
  for (uint32_t i = 0; i < m && st.n_pending; ++i) {
    Pending req;
    pop(st, req);
    if (i < m - paired) {
      if (!req.owed) {
        counters_.inc(RedisStat::unmatched_requests);
        publish(c, st.client, &req, nullptr, kLossAmongCommands);
      }
    } else {
      Pending resp;
      store_.copy_out(held, reinterpret_cast<uint8_t*>(&resp), sizeof resp,
                      next++ * static_cast<uint32_t>(sizeof resp));
      if (!req.owed) publish(c, st.client, &req, &resp, nullptr);
      store_.release(resp.text);
    }
    store_.release(req.text);
  }
  store_.release(held);
}

void RedisDecoder::pop(RedisState& st, Pending& out) {
  store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&out), sizeof out);
  store_.drop_front(st.queue, sizeof out);
  --st.n_pending;
  st.pending_bytes -= std::min(out.text.len, st.pending_bytes);
}

void RedisDecoder::complete(RedisState& st, const StreamInfo& c, int dir) {
  RedisState::Dir& d = st.dir[dir];
  Pending m{.text = d.text,
            .start_ns = d.start_ns,
            .end_ns = c.ts_ns,
            .bytes = d.bytes,
            .cut = (d.flags & kCut) != 0,
            .lost = (d.flags & kLost) != 0,
            .ended = (d.flags & kEnded) != 0,
            .text_cut = (d.flags & kTextCut) != 0,
            .owed = false,
            .place = false,
            .gap_in_text = (d.flags & kGapInText) != 0};
  const uint8_t flags = d.flags;
  d.in_msg = 0;
  d.text = ChainStore::Chain{};
  // The side talking to a configured server port is the client; else the first
  // message tells: commands are arrays of bulk strings or inline words, replies are
  // anything else (an array reply, first on a connection picked up midway or after
  // a lost command, is taken for a command then).
  if (st.client < 0) st.client = static_cast<int8_t>(cfg_.client_by_port(c.port));
  if (st.client < 0) {
    uint8_t first = 0;
    store_.copy_out(m.text, &first, 1);
    st.client = static_cast<int8_t>((first == '*' || (first >= 'A' && first <= 'z')) ? dir : 1 - dir);
  }
  if (dir == st.client) {
    counters_.inc(RedisStat::requests);
    // The client sends again after the server has: the commands behind the place have
    // had their replies if enough came.
    if (st.place_seen && st.place_answers >= st.n_behind && place_first(st)) end_place(st, c, true);
    if (m.lost && st.orphan_ns >= m.start_ns) {
      // Its end lost, and a reply found no command waiting after it began: that reply
      // was its own (the capture showed the loss only later, with the client's next
      // bytes). It goes out alone; waiting, it would take the next command's reply.
      counters_.inc(RedisStat::unmatched_requests);
      publish(c, st.client, &m, nullptr, kAnsweredBeforeItsEnd);
      store_.release(m.text);
      return;
    }
    uint8_t head[64];
    const uint32_t k = store_.copy_out(m.text, head, sizeof head);
    std::string_view a[3];
    char words[sizeof head];
    const int n = command_args({reinterpret_cast<const char*>(head), k}, a, 3, words);
    if (!answered(st, std::span<const std::string_view>(a, static_cast<std::size_t>(n > 0 ? n : 0)))) {
      counters_.inc(RedisStat::unanswered_by_request);
      publish(c, st.client, &m, nullptr, nullptr, true);
      store_.release(m.text);
      return;
    }
    // The queue's bytes are those it holds: a command's text, kept to kKeepBytes (a SET of
    // a value larger than queue_max_bytes still waits for its reply, as Packetbeat, which
    // holds it whole, takes it too).
    if (st.n_pending >= cfg_.queue_max_messages ||
        uint64_t{st.pending_bytes} + m.text.len > cfg_.queue_max_bytes) {
      counters_.inc(RedisStat::queue_full);  // dropped, counted
      store_.release(m.text);
      return;
    }
    if (store_.append(st.queue, reinterpret_cast<const uint8_t*>(&m), sizeof m) < sizeof m) {
      counters_.inc(RedisStat::store_full);
      store_.release(m.text);
      return;
    }
    ++st.n_pending;
    st.pending_bytes += m.text.len;
    if (st.place) behind_place(st);
    // Subscribing puts a RESP2 connection into push mode.
    if (n >= 1 && (ieq(a[0], "SUBSCRIBE") || ieq(a[0], "PSUBSCRIBE") || ieq(a[0], "SSUBSCRIBE")))
      st.pubsub = 1;
    if (n == 1 && ieq(a[0], "MONITOR")) st.monitor = 1;
    return;
  }
  counters_.inc(RedisStat::responses);
  bool push = flags & kPush;
  if (push || st.pubsub) {
    // Pub/sub: what a subscription delivers is pushed (RESP3) or, in a RESP2
    // connection's subscribed mode, sent as an array; neither answers a command. A
    // subscribe or unsubscribe confirmation (a push in RESP3) answers the command of its
    // name waiting first; the command names several channels, the server confirms each
    // one: those after the first answer nothing.
    uint8_t head[256];
    const uint32_t k = store_.copy_out(m.text, head, sizeof head);
    std::string_view confirms, channel;
    int64_t left = -1;
    const PubSub kind = pubsub_kind({reinterpret_cast<const char*>(head), k}, confirms, channel, left);
    if (kind == PubSub::kConfirm) {
      if (left >= 0) st.pubsub = left > 0;  // RESP2 leaves subscribed mode with the last channel
      push = true;
      if (st.n_pending) {
        // The server confirms a command's channels in the order it names them: the
        // first confirmation of the command waiting is for its first channel (an
        // UNSUBSCRIBE of every channel names none).
        Pending req;
        store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req);
        uint8_t rh[256];
        const uint32_t rk = store_.copy_out(req.text, rh, sizeof rh);
        std::string_view a[2];
        char words[sizeof rh];
        const int na = command_args({reinterpret_cast<const char*>(rh), rk}, a, 2, words);
        const bool kept_whole = rk < sizeof rh;
        if (na >= 1 && ieq(a[0], confirms) &&
            (na < 2 || channel.empty() || channel == a[1] || (!kept_whole && channel.starts_with(a[1]))))
          push = false;
      }
    } else if (kind == PubSub::kMessage) {
      push = true;
    }
  }
  if (!push && st.monitor) {
    // MONITOR's feed: a simple string per command the server runs,
    // "+<seconds>.<microseconds> [<db> <client>] ...", asked for once.
    uint8_t head[24];
    const uint32_t k = store_.copy_out(m.text, head, sizeof head);
    const std::string_view h(reinterpret_cast<const char*>(head), k);
    const std::size_t dot = h.find('.');
    push = h.size() > 2 && h[0] == '+' && h[1] >= '0' && h[1] <= '9' && dot != std::string_view::npos &&
           h.find(" [", dot) != std::string_view::npos;
  }
  if (push) {
    counters_.inc(RedisStat::push_messages);
    store_.release(m.text);
    return;
  }
  st.server_ns = c.ts_ns;
  if (st.place) st.place_seen = 1;
  if (st.n_pending) {
    Pending req;
    store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req);
    if (req.place) {
      hold_reply(st, m, flags & kEarly);
      return;
    }
    if (req.owed) {
      // Before that command's last bytes were captured, a reply answers an earlier one
      // the gap took: alone, as a reply no command waits for; from then on, it is the
      // owed reply.
      if (m.start_ns >= req.end_ns) pop(st, req);
      counters_.inc(RedisStat::unmatched_responses);
      store_.release(m.text);
      return;
    }
  }
  if (st.n_pending == 0) {
    counters_.inc(RedisStat::unmatched_responses);
    st.orphan_ns = m.start_ns;
    store_.release(m.text);
    // A reply while replies were taken to be off: the server refused the CLIENT REPLY
    // (an ACL's NOPERM, a server before 3.2) and answers; the commands after pair.
    st.reply_off = 0;
    st.reply_skip = 0;
    return;
  }
  Pending req;
  pop(st, req);
  publish(c, st.client, &req, &m, nullptr);
  store_.release(req.text);
  store_.release(m.text);
}

bool RedisDecoder::gap(void* state, const StreamInfo& c, int dir, uint32_t len) {
  RedisState& st = *static_cast<RedisState*>(state);
  RedisState::Dir& d = st.dir[dir];
  counters_.inc(RedisStat::gaps);
  if (d.in_msg && d.bulk_left >= len) {
    // Inside a value: the framing survives. A command whose bytes the gap took, answered
    // before the capture showed the loss (complete()), is one whose end was lost.
    if (st.client >= 0 && dir == st.client && st.orphan_ns >= d.start_ns) d.flags |= kLost;
    if (d.bytes < kKeepBytes) d.flags |= kGapInText;
    d.bulk_left -= len;
    d.bytes += len;
    if (d.bulk_left == 0 && (d.skipping ? skipped_value_done(d) : element_done(d))) complete(st, c, dir);
    return true;
  }
  // The framing is lost. A message the gap cut short (a command or a reply whose end
  // the capture lost, as a small snap length cuts them) is taken as far as it went,
  // noted: a command waits for its reply, a reply answers the oldest command. Where
  // no reply was under way, the lost bytes began the reply of the oldest command
  // waiting (a server answers in order): that command goes out alone, saying so. So
  // does every command that ended before the client had all the lost bytes, unless the
  // lost bytes are too few for another reply (a pipeline's replies may all have been in
  // them; one that ended later was not answered there). The replies after the gap meet
  // their own commands, or none. On the client's side, a command the gap began whose
  // last bytes are passed over after it still owes a reply (owe_reply). The next line
  // that opens a message takes up the stream.
  if (st.client < 0) st.client = static_cast<int8_t>(cfg_.client_by_port(c.port));
  const bool reply_cut = d.in_msg && st.client >= 0 && dir != st.client && st.n_pending;
  d.owes = st.client >= 0 && dir == st.client && !d.in_msg;
  if (d.in_msg && st.client >= 0 && !d.skipping) d.bytes += len;  // on the wire, as far as the gap tells
  take_partial(st, c, dir, kLost);
  if (st.client >= 0 && dir == st.client) lose_commands(st, c);
  if (st.client >= 0 && dir != st.client) {
    if (st.lost_replies) settle_lost_replies(st, c, false);  // a gap again before the stream was found
    if (!reply_cut && st.n_pending) reply_lost(st, c);
    // The commands after it that ended before the client had the lost bytes: their
    // replies may have been there too. Whether the lost bytes could hold one more is
    // known once the stream is found again (settle_lost_replies).
    st.lost_replies = 1;
    st.lost_after_cut = reply_cut;
    st.lost_len = len;
    st.lost_acked_ns = c.gap_acked_ns;
  }
  d.resync = 1;
  return true;
}

// A line (without its line end) that can open a message: a command is an array of
// bulk strings (what clients send; inline commands are not looked for), a reply any
// RESP2/RESP3 type with a well-formed header.
bool RedisDecoder::message_start(const uint8_t* s, const uint8_t* le, bool reply) {
  if (s == le) return false;
  int64_t v = 0;
  if (!reply) return *s == '*' && parse_int(s + 1, le, v) && v > 0 && v <= kMaxAggregate;
  switch (*s) {
    case '$':
    case '!':
    case '=':
      return parse_int(s + 1, le, v) && v >= -1 && v <= static_cast<int64_t>(kMaxBulk);
    case '*':
    case '~':
    case '>':
    case '%':
    case '|':
      return parse_int(s + 1, le, v) && v >= -1 && v <= kMaxAggregate;
    case ':':
    case '(':
      return parse_int(s + 1, le, v);
    case '_':
      return le == s + 1;
    case '#':
      return le == s + 2 && (s[1] == 't' || s[1] == 'f');
    case '+':
    case '-':
    case ',':
      for (const uint8_t* q = s + 1; q < le; ++q)
        if (*q < 0x20 || *q > 0x7e) return false;
      return le > s + 1;
    default:
      return false;
  }
}

// After a gap, a line that opens a message is one of a few bytes' evidence: inside a
// binary value's bytes a line such as "+A" or ":5" comes every few kilobytes. It is
// taken where what follows it holds together as far as the bytes at hand go: a bulk
// string's bytes end with a line end where its length says, an aggregate's first
// element or the message after a one-line reply opens a message too; or nothing follows
// yet (the last bytes of a burst).
bool RedisDecoder::followed_well(const uint8_t* s, const uint8_t* le, const uint8_t* end, bool reply) {
  const uint8_t* next = le < end && *le == '\r' ? le + 1 : le;
  if (next < end && *next == '\n') ++next;
  int64_t v = 0;
  if (*s == '$' || *s == '!' || *s == '=') {
    if (!parse_int(s + 1, le, v) || v < 0) return true;  // a null: nothing of its own follows
    if (static_cast<uint64_t>(end - next) < static_cast<uint64_t>(v) + 2) return true;
    next += v;
    if (next[0] != '\r' || next[1] != '\n') return false;
    next += 2;
  } else if (std::strchr("*~>%|", *s) && parse_int(s + 1, le, v) && v > 0) {
    // The first element opens a message of either side's kinds (a command's elements
    // are bulk strings; a reply's any type).
    reply = true;
  }
  if (next >= end) return true;
  const void* lf = std::memchr(next, '\n', static_cast<std::size_t>(end - next));
  if (!lf) return std::strchr("+-:$*_#,(!=~>%|", *next) != nullptr;
  const uint8_t* nle = static_cast<const uint8_t*>(lf);
  if (nle > next && nle[-1] == '\r') --nle;
  return message_start(next, nle, reply);
}

void RedisDecoder::cut_by_end(RedisState& st, const StreamInfo& c, int dir, bool take) {
  RedisState::Dir& d = st.dir[dir];
  if (!d.in_msg) return;
  // As at a gap: a command or reply under way is taken as far as it went, noted (a
  // command then waits for its reply, a reply answers the oldest command); counted.
  counters_.inc(RedisStat::cut_by_end);
  if (st.client < 0) st.client = static_cast<int8_t>(cfg_.client_by_port(c.port));
  take_partial(st, c, dir, take ? kEnded : 0);
}

void RedisDecoder::take_partial(RedisState& st, const StreamInfo& c, int dir, uint8_t why) {
  RedisState::Dir& d = st.dir[dir];
  if (d.in_msg && why && st.client >= 0 && !d.skipping) {
    d.flags |= why;
    complete(st, c, dir);
  } else if (d.in_msg) {
    store_.release(d.text);
    d.text = ChainStore::Chain{};
    d.in_msg = 0;
  }
  d.bulk_left = 0;
  d.skipping = 0;
  d.skip_left = 0;
}

void RedisDecoder::end(void* state, const StreamInfo& c, int dir) {
  cut_by_end(*static_cast<RedisState*>(state), c, dir, true);
}

void RedisDecoder::close(void* state, const StreamInfo& c) {
  RedisState& st = *static_cast<RedisState*>(state);
  for (int dir = 0; dir < 2; ++dir) cut_by_end(st, c, dir, false);
  if (st.lost_replies) settle_lost_replies(st, c, false);
  while (st.n_pending) {
    if (place_first(st)) {
      end_place(st, c, true);
      continue;
    }
    Pending req;
    pop(st, req);
    if (req.owed) continue;
    counters_.inc(RedisStat::unmatched_requests);
    publish(c, st.client, &req, nullptr, kUnmatchedRequest);
    store_.release(req.text);
  }
  store_.release(st.queue);
  store_.release(st.held);
  for (auto& d : st.dir) store_.release(d.text);
}

bool RedisDecoder::expire(void* state, const StreamInfo& c, uint64_t now_ns) {
  RedisState& st = *static_cast<RedisState*>(state);
  while (st.n_pending) {
    Pending req;
    store_.copy_out(st.queue, reinterpret_cast<uint8_t*>(&req), sizeof req);
    if (req.start_ns + cfg_.timeout_ns >= now_ns) break;
    if (req.place) {
      end_place(st, c, true);
      continue;
    }
    pop(st, req);
    if (req.owed) continue;
    counters_.inc(RedisStat::unmatched_requests);
    publish(c, st.client, &req, nullptr, kUnmatchedRequest);
    store_.release(req.text);
  }
  return st.n_pending > 0;
}

namespace {
// Whether `first second` names one command: Packetbeat's two-word commands (CLIENT
// GETNAME, KILL, LIST, PAUSE, SETNAME; CONFIG GET, RESETSTAT, REWRITE, SET; DEBUG OBJECT,
// SEGFAULT; SCRIPT EXISTS, FLUSH, KILL, LOAD), and any subcommand of the containers it
// has no one-word name for (CLIENT INFO, CONFIG, ACL, CLUSTER, COMMAND DOCS, FUNCTION,
// MEMORY, MODULE, LATENCY, XINFO, XGROUP); OBJECT, SLOWLOG and PUBSUB stay one word
// with the subcommand for resource, as Packetbeat writes them.
bool two_word_command(std::string_view first, std::string_view second) {
  static constexpr std::string_view kContainers[] = {"CLIENT",  "CONFIG",  "DEBUG",    "SCRIPT", "ACL",
                                                     "CLUSTER", "COMMAND", "FUNCTION", "MEMORY", "MODULE",
                                                     "LATENCY", "XINFO",   "XGROUP"};
  if (second.empty()) return false;
  for (std::string_view c : kContainers)
    if (ieq(first, c)) return true;
  return false;
}
}  // namespace

void RedisDecoder::publish(const StreamInfo& c, int client, const Pending* req, const Pending* resp,
                           const char* note, bool unanswered_by_request) {
  std::string_view rq, rs;
  if (req)
    rq = {reinterpret_cast<const char*>(req_text_.get()),
          store_.copy_out(req->text, req_text_.get(), kKeepBytes)};
  if (resp)
    rs = {reinterpret_cast<const char*>(resp_text_.get()),
          store_.copy_out(resp->text, resp_text_.get(), kKeepBytes)};
  std::string_view* args = args_;
  char words[kKeepBytes];  // an inline command's words, unquoted
  const int n = req ? command_args(rq, args, static_cast<int>(std::size(args_)), words) : 0;
  RedisText& value = *value_;
  value.clear();
  char type = 0;
  if (resp) {
    Reader r{reinterpret_cast<const uint8_t*>(rs.data()),
             reinterpret_cast<const uint8_t*>(rs.data()) + rs.size()};
    format_value(r, value, 0, type);
  }
  const bool is_error = type == '-' || type == '!';
  TransactionFields t;
  t.type = "redis";
  t.ok = (req && resp && !is_error) || unanswered_by_request;
  t.request_only = unanswered_by_request;  // event.start alone: no answer was to come
  t.error = note == kUnmatchedRequest && req && req->ended ? kEndedUnmatched : note;
  if ((req && req->cut) || (resp && resp->cut)) t.error = note ? kTooDeepUnmatched : kTooDeep;
  if (!t.error && resp && (resp->lost || resp->gap_in_text)) t.error = kLossResponse;
  if (!t.error && req && (req->lost || req->gap_in_text)) t.error = kLossRequest;
  if (!t.error && resp && resp->ended) t.error = kEndedResponse;
  if (!t.error && req && req->ended) t.error = kEndedRequest;
  if ((req && req->text_cut) || (resp && resp->text_cut)) {
    // What Packetbeat writes whole (query, return_value) is kept to kKeepBytes a message.
    static_assert(kKeepBytes == 4096, "the note names it");
    counters_.inc(RedisStat::text_cut);
    t.add_note("message longer than 4 KiB; its text cut");
  }
  t.start_ns = req ? req->start_ns : resp->start_ns;
  t.end_ns = resp ? resp->start_ns : req->end_ns;  // the reply's first packet, as Packetbeat ends it
  set_connection(t, c, client, 6, "redis");
  t.client_bytes = req ? req->bytes : 0;
  t.server_bytes = resp ? resp->bytes : 0;
  if (req && resp) counters_.inc(RedisStat::transactions);
  // The command's name, upper case; a container command's subcommand joins it (its
  // argument is then the resource), as Packetbeat names CLIENT SETNAME and its kind.
  char method[64];
  std::size_t ml = 0;
  const int name_words = n > 1 && two_word_command(args[0], args[1]) ? 2 : n > 0 ? 1 : 0;
  for (int i = 0; i < name_words; ++i) {
    if (i) method[ml++] = ' ';
    for (char ch : args[i].substr(0, 31))
      method[ml++] = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  // event.action and event.outcome as Packetbeat writes them: "redis." and the command
  // in lower case; failure for an error reply (no outcome otherwise).
  char action[6 + sizeof method];
  if (req && ml) {
    std::memcpy(action, "redis.", 6);
    for (std::size_t i = 0; i < ml; ++i)
      action[6 + i] = static_cast<char>(std::tolower(static_cast<unsigned char>(method[i])));
    t.event_action = std::string_view(action, 6 + ml);
  }
  if (resp && is_error) t.event_outcome = "failure";
  out_.emit([&](JsonWriter& w) {
    begin_transaction(w, t, agent_, internal_);
    if (n > 0) {
      w.field("method", std::string_view(method, ml));
      BoundedText<kKeepBytes> q;
      for (int i = 0; i < n; ++i) {
        if (i) q.push_back(' ');
        q.append(args[i]);
      }
      w.field("query", q.view());
    }
    w.begin_object("redis");
    if (resp) {
      if (is_error)
        w.field("error", value.view());
      else
        w.field("return_value", value.view());
    }
    w.end_object();
    if (cfg_.send_request && req) w.field("request", rq);
    // Packetbeat writes a request's resource even when empty (PING, CLIENT GETNAME).
    if (n > 0) w.field("resource", n > name_words ? args[name_words] : std::string_view{});
    if (cfg_.send_response && resp) w.field("response", rs);
    end_transaction(w);
  });
}

namespace {

std::unique_ptr<Decoder> create(const DecoderSetup& s) { return std::make_unique<RedisDecoder>(s); }

// Both decisive (Redis on another protocol's port): an array of bulk strings whose first
// is a word is no other protocol's first bytes. Inline commands ("GET key") have no probe.
constexpr DetectProbe kProbes[] = {
    // A command: an array of bulk strings whose first is a word ("*3\r\n$3\r\nSET\r\n").
    {R"(^\*[1-9][0-9]{0,6}\r\n\$[1-9][0-9]?\r\n[A-Za-z]{2,20}\r\n)", true, true},
    // RESP3 handshake.
    {R"(^\*[1-9]\r\n\$5\r\nHELLO\r\n)", true, true},
};

const OptionSpec kSettingOptions[] = {
    {"queue_max_bytes", OptionKind::kUint},
    {"queue_max_messages", OptionKind::kUint},
};

std::unique_ptr<ProtocolSettings> configure(const ProtocolConfig& p, const OptionWarn& warn) {
  (void)warn;
  auto out = std::make_unique<RedisSettings>();
  RedisSettings& s = *out;
  if (p.options["queue_max_bytes"]) s.queue_max_bytes = p.options["queue_max_bytes"].as<uint32_t>();
  if (p.options["queue_max_messages"]) s.queue_max_messages = p.options["queue_max_messages"].as<uint32_t>();
  return out;
}

const uint16_t kDefaultPorts[] = {6379};

}  // namespace

const DecoderDescriptor& redis_protocol() {
  static const DecoderDescriptor d = {
      .name = "redis",
      .transports = kTransportTcp,
      .probes = kProbes,
      .state_size = sizeof(RedisState),
      .default_ports = kDefaultPorts,
      .options = kSettingOptions,
      .configure = configure,
      .counters = kRedisCounters,
      .violations = static_cast<int>(RedisStat::violations),
      .index_template = {},
      .exercise_options = "{queue_max_messages: 8, queue_max_bytes: 2048}",
      .create = create,
  };
  return d;
}

}  // namespace tapbeat
