// memcache's text and binary protocols (commands, opcodes, replies), parsed in place: views into the caller's
// bytes, no allocation, every length bounded by the bytes at hand. The decoder's state and pairing are in
// memcache_decoder.cpp.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "util/fnv.hpp"

namespace tapbeat::memcache {

enum McBit : uint16_t {
  kIsResponse = 1,
  kQuiet = 2,  // binary quiet opcode, text noreply, or a meta command's q flag
  kHasCas = 4,
  kHasCounter = 8,
  kHasExptime = 16,
  kHasDelta = 32,
  kBinary = 64,
  kError = 128,
  kMeta = 256,      // a meta command (mg, ms, md, ma, mn, me) or its reply
  kHasFlags = 512,  // meta: F (request) or f (reply) given
  kHasInitial = 1024,
  kHasToken = 2048,   // meta: an O(paque) token, its hash in McMsg::token
  kHasKey = 4096,     // meta: the key (the request's, or the one a reply echoes), its hash in McMsg::key_hash
  kHasOpaque = 8192,  // meta: the O token is a number (McMsg::opaque)
  kLost = 16384,      // the message's end (a line's, a value's) fell in a gap of the capture
  kKeysCut = 32768,   // keys past MemcacheDecoder::kMaxKeysText of text not kept
};

// Commands: name (memcache.*.command), type (memcache.request.type).
struct Command {
  std::string_view name;  // a view: command_index() compares lengths first, no strlen
  const char* type;
};
inline constexpr Command kCommands[] = {
    {"unknown", "UNKNOWN"},
    {"get", "Load"},
    {"gets", "Load"},
    {"set", "Store"},
    {"add", "Store"},
    {"replace", "Store"},
    {"append", "Store"},
    {"prepend", "Store"},
    {"cas", "Store"},
    {"delete", "Delete"},
    {"incr", "Counter"},
    {"decr", "Counter"},
    {"touch", "Store"},  // as Packetbeat types it
    {"stats", "Stats"},
    {"flush_all", "Delete"},  // as Packetbeat types it
    {"version", "Info"},
    {"verbosity", "Info"},
    {"quit", "Info"},
    {"noop", "Info"},
    {"gat", "Load"},
    {"gats", "Load"},
    // The meta commands (memcached 1.6+): get, set, delete, arithmetic, no-op, debug.
    {"mg", "Load"},
    {"ms", "Store"},
    {"md", "Delete"},
    {"ma", "Counter"},
    {"mn", "Info"},
    {"me", "Info"},
};
inline constexpr uint8_t kCmdFlushAll = 14, kCmdVerbosity = 16, kCmdGat = 19, kCmdGats = 20;
// get, gets, gat, gats: answered by VALUE lines and END.
inline constexpr bool retrieval(uint8_t command) {
  return command == 1 || command == 2 || command == kCmdGat || command == kCmdGats;
}
inline constexpr uint8_t kCmdMg = 21, kCmdMs = 22, kCmdMd = 23, kCmdMa = 24, kCmdMn = 25, kCmdMe = 26;
inline uint8_t command_index(std::string_view s) {
  for (uint8_t i = 1; i < std::size(kCommands); ++i)
    if (s == kCommands[i].name) return i;
  return 0;
}

// Binary opcodes: Packetbeat's names, and the command each stands for.
struct Opcode {
  uint8_t code;
  const char* name;
  const char* command;
  bool quiet;
};
inline constexpr Opcode kOpcodes[] = {
    {0x00, "Get", "get", false},         {0x01, "Set", "set", false},
    {0x02, "Add", "add", false},         {0x03, "Replace", "replace", false},
    {0x04, "Delete", "delete", false},   {0x05, "Increment", "incr", false},
    {0x06, "Decrement", "decr", false},  {0x07, "Quit", "quit", false},
    {0x08, "Flush", "flush_all", false}, {0x09, "GetQ", "get", true},
    {0x0a, "No-op", "noop", false},      {0x0b, "Version", "version", false},
    {0x0c, "GetK", "get", false},        {0x0d, "GetKQ", "get", true},
    {0x0e, "Append", "append", false},   {0x0f, "Prepend", "prepend", false},
    {0x10, "Stat", "stats", false},      {0x11, "SetQ", "set", true},
    {0x12, "AddQ", "add", true},         {0x13, "ReplaceQ", "replace", true},
    {0x14, "DeleteQ", "delete", true},   {0x15, "IncrementQ", "incr", true},
    {0x16, "DecrementQ", "decr", true},  {0x17, "QuitQ", "quit", true},
    {0x18, "FlushQ", "flush_all", true}, {0x19, "AppendQ", "append", true},
    {0x1a, "PrependQ", "prepend", true}, {0x1b, "Verbosity", "verbosity", false},
    {0x1c, "Touch", "touch", false},     {0x1d, "GAT", "gat", false},
    {0x1e, "GATQ", "gat", true},
};
inline const Opcode* opcode_of(uint8_t code) {
  for (const Opcode& o : kOpcodes)
    if (o.code == code) return &o;
  return nullptr;
}

// Binary status names as Packetbeat writes them (its codes.go).
inline const char* status_name(uint16_t s) {
  switch (s) {
    case 0x00:
      return "Success";
    case 0x01:
      return "Key not found";
    case 0x02:
      return "Key exists";
    case 0x03:
      return "Value too large";
    case 0x04:
      return "Invalid arguments";
    case 0x05:
      return "Item not stored";
    case 0x06:
      return "Incr/Decr on non-numeric value.";
    case 0x07:
      return "The vbucket belongs to another server";
    case 0x20:
      return "Authentication error";
    case 0x21:
      return "Authentication continue";
    case 0x81:
      return "Unknown command";
    case 0x82:
      return "Out of memory";
    case 0x83:
      return "Not supported";
    case 0x84:
      return "Internal error";
    case 0x85:
      return "Busy";
    case 0x86:
      return "Temporary failure";
    default:
      return "Unknown";
  }
}

// Text replies: keyword, memcache.response.type, whether it is an error.
struct Reply {
  std::string_view word;
  const char* type;
  bool error;
};
inline constexpr Reply kReplies[] = {
    {"", "UNKNOWN", false},
    {"STORED", "Success", false},
    {"NOT_STORED", "Fail", false},
    {"EXISTS", "Fail", false},
    {"NOT_FOUND", "Fail", false},
    {"DELETED", "Success", false},
    {"TOUCHED", "Success", false},
    {"OK", "Success", false},
    {"END", "Load", false},
    {"VALUE", "Load", false},
    {"STAT", "Stats", false},
    {"VERSION", "Info", false},
    {"ERROR", "Fail", true},
    {"CLIENT_ERROR", "Fail", true},
    {"SERVER_ERROR", "Fail", true},
    // Meta replies: a value, done, a miss (as END: Load), not stored, exists, not found,
    // the no-op's answer, the debug answer.
    {"VA", "Load", false},
    {"HD", "Success", false},
    {"EN", "Load", false},
    {"NS", "Fail", false},
    {"EX", "Fail", false},
    {"NF", "Fail", false},
    {"MN", "Info", false},
    {"ME", "Info", false},
    {"", "Counter", false},  // a number: incr/decr result
};
inline constexpr uint8_t kReplyCounter = std::size(kReplies) - 1;
inline constexpr uint8_t kReplyStored = 1, kReplyNotStored = 2, kReplyExists = 3, kReplyNotFound = 4,
                         kReplyDeleted = 5, kReplyTouched = 6;
inline constexpr uint8_t kReplyEnd = 8, kReplyValue = 9, kReplyStat = 10;
inline constexpr uint8_t kReplyVa = 15, kReplyHd = 16, kReplyEn = 17, kReplyNs = 18, kReplyEx = 19,
                         kReplyNf = 20, kReplyMn = 21, kReplyMe = 22;
inline bool meta_reply(uint8_t r) { return r >= kReplyVa && r <= kReplyMe; }
// A text reply's keyword: its index into kReplies, 0 when none (a counter's number is
// not a keyword).
inline uint8_t reply_index(std::string_view word) {
  for (uint8_t i = 1; i < kReplyCounter; ++i)
    if (word == kReplies[i].word) return i;
  return 0;
}

// Whether a meta command sent with q (quiet) can have given this reply. Quiet mode leaves
// out the reply that says the usual thing (memcached 1.6: mg's miss EN; ms, md and ma's
// HD, and ma's VA); errors and the other outcomes are still sent. EX (and NF for ms) come
// only of a compare-and-swap (C).
inline bool quiet_meta_may_answer(uint8_t cmd, bool cas, uint8_t reply, bool error) {
  if (error) return true;
  switch (cmd) {
    case kCmdMg:
      return reply == kReplyVa || reply == kReplyHd;
    case kCmdMs:
      return reply == kReplyNs || (cas && (reply == kReplyEx || reply == kReplyNf));
    case kCmdMd:
      return reply == kReplyNf || (cas && reply == kReplyEx);
    case kCmdMa:
      return reply == kReplyNf || reply == kReplyNs || (cas && reply == kReplyEx);
    case kCmdMn:
      return reply == kReplyMn;
    case kCmdMe:
      return reply == kReplyMe || reply == kReplyEn;
    default:
      return true;
  }
}

// A meta token's hash (a key as sent, an opaque): matches a reply to its request.
inline uint32_t token_hash(std::string_view s) { return fnv1a32(s); }

inline bool parse_u64(std::string_view s, uint64_t& v) {
  v = 0;
  if (s.empty() || s.size() > 20) return false;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<uint64_t>(ch - '0');
  }
  return true;
}

inline int split_words(std::string_view line, std::string_view* w, int max) {
  int n = 0;
  while (!line.empty() && n < max) {
    const std::size_t b = line.find_first_not_of(' ');
    if (b == std::string_view::npos) break;
    line.remove_prefix(b);
    const std::size_t e = line.find(' ');
    w[n++] = line.substr(0, e);
    line = e == std::string_view::npos ? std::string_view{} : line.substr(e);
  }
  return n;
}

// A text reply rather than a command (replies are upper case, commands lower).
inline bool looks_like_reply(std::string_view s) {
  for (const char* w : {"VALUE ", "STORED", "END",     "STAT ",    "DELETED",      "NOT_",         "ERROR",
                        "OK",     "EXISTS", "TOUCHED", "VERSION ", "CLIENT_ERROR", "SERVER_ERROR", "VA ",
                        "HD",     "EN",     "NS",      "EX",       "NF",           "MN",           "ME "})
    if (s.starts_with(w)) return true;
  return !s.empty() && s[0] >= '0' && s[0] <= '9';
}

// After a gap, a text line taken to open a message must be one whole: printable
// words, a command's name first (reply false), or a reply line as the server writes it
// (reply true): a status word alone, VALUE/VA/STAT/VERSION/ME/errors with their words, a
// number (incr, decr). `data`: the bytes of the data block that follows the line (a
// storage command's, a VALUE's, a meta set's or VA's), 0 when none.
inline bool resync_line(std::string_view line, bool reply, uint64_t& data) {
  data = 0;
  if (line.empty()) return false;
  for (char ch : line)
    if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) return false;
  std::string_view w[6];
  const int n = split_words(line, w, 6);
  if (n == 0) return false;
  if (!reply) {
    const uint8_t c = command_index(w[0]);
    if (c == 0) return false;
    const std::string_view name = kCommands[c].name;
    if (name == "set" || name == "add" || name == "replace" || name == "append" || name == "prepend" ||
        name == "cas")
      return n >= 5 && parse_u64(w[2], data) && parse_u64(w[3], data) && parse_u64(w[4], data);
    if (c == kCmdMs) return n >= 3 && parse_u64(w[2], data);
    return true;
  }
  const std::string_view a = w[0];
  if (a == "VALUE") return n >= 4 && parse_u64(w[2], data) && parse_u64(w[3], data);
  if (a == "VA") return n >= 2 && parse_u64(w[1], data);
  if (a == "STAT" || a == "ME") return n >= 2;
  if (a == "VERSION" || a == "CLIENT_ERROR" || a == "SERVER_ERROR" || a == "HD") return true;
  if (n == 1) {
    for (const char* word : {"STORED", "END", "DELETED", "NOT_STORED", "NOT_FOUND", "EXISTS", "TOUCHED", "OK",
                             "ERROR", "EN", "NS", "EX", "NF", "MN"})
      if (a == word) return true;
    uint64_t v = 0;
    return parse_u64(a, v);
  }
  return a == "NS" || a == "EX" || a == "NF";  // meta replies with flags
}

}  // namespace tapbeat::memcache
