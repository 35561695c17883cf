// Thrift messages in the binary (strict and old) and compact protocols, read into
// Packetbeat's text forms: a struct as "(1: 63, 2: \"x\")" (names from the IDL at
// the top level), lists "[a, b]", sets "{a, b}", maps "{k: v}", strings quoted
// (or hex when not UTF-8), with its limits on strings, collections and fields.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "util/bounded_text.hpp"

namespace tapbeat {

enum class ThriftProtocol : uint8_t { kBinary, kCompact };

struct ThriftLimits {
  uint32_t string_max = 200;
  uint32_t collection_max = 15;
  uint32_t struct_fields_max = 500;
  bool obfuscate_strings = false;
};

// Message types.
inline constexpr uint8_t kThriftCall = 1, kThriftReply = 2, kThriftException = 3, kThriftOneway = 4;

using ThriftText = BoundedText<8192>;

struct ThriftMessage {
  std::string_view method;
  uint8_t type = 0;
  uint32_t seqid = 0;
  bool exception = false;  // a reply whose field is not the result (id 0), or an EXCEPTION message
  ThriftText text;         // a call's parameters, a reply's value or exceptions
  uint32_t values_cut = 0, fields_dropped = 0;
  std::size_t end = 0;  // bytes the message took
  bool unread = false;  // a frame past the decoder's limit: its header alone was read
};

enum class ThriftParse : uint8_t { kOk, kNeedMore, kBad };

// Whether a message's header, as parse() reads it, is one: a known type, a name of
// printable ASCII.
bool header_valid(const ThriftMessage& m);

// Parses one message at the start of `b`. kNeedMore sets `need` (bytes of b needed);
// `names` (field id -> name) is looked up by the caller from the method and applied
// to a call's parameters or a reply's exceptions.
class ThriftParser {
 public:
  using Names = std::map<int, std::string>;
  using NamesOf = const Names* (*)(const void* ctx, std::string_view method, bool exceptions);

  ThriftParse parse(std::span<const uint8_t> b, ThriftProtocol p, const ThriftLimits& lim, NamesOf names,
                    const void* ctx, ThriftMessage& m, std::size_t& need);
};

// A walk over one unframed message that keeps none of it, resumed delivery after
// delivery: for a message longer than the engine holds, whose end only its encoding
// tells. Each step reads one field or element head whole (one split over deliveries
// is read again from its first byte); a string's or binary's bytes pass as they come.
struct ThriftSkip {
  static constexpr int kDepth = 32;  // structs and collections open at once (the libraries stop at 64)
  struct Frame {
    uint32_t left;    // a collection's values still to come (a map's keys and values)
    int16_t last_id;  // a compact struct's last field id
    uint8_t kind;     // struct, list (sets too) or map, as the binary protocol numbers them
    uint8_t elem;     // a list's element type; a map's key type
    uint8_t value;    // a map's value type
  };
  Frame stack[kDepth];
  uint32_t string_left = 0;  // bytes of a string or binary still to pass over
  int16_t first_id = 0;      // the message's first field id (a reply: 0 is the result)
  bool has_first = false;    // ... read
  uint8_t depth = 0;
  bool started = false;  // its header was read
  ThriftProtocol protocol = ThriftProtocol::kBinary;
};

enum class ThriftSkipResult : uint8_t { kMore, kDone, kBad };

// Walks on over `b`, the message's next bytes; `used`: bytes passed (up to the
// message's end on kDone; on kMore a head split at b's end is left for the next call).
ThriftSkipResult thrift_skip(ThriftSkip& s, std::span<const uint8_t> b, std::size_t& used);

// Which protocol and framing the first bytes of a direction use; false when they
// do not say (an old-style binary message without a version: the configured ones).
bool thrift_detect(std::span<const uint8_t> b, ThriftProtocol& p, bool& framed);

}  // namespace tapbeat
