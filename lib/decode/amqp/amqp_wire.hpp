// AMQP 0-9-1's frames and method arguments, parsed in place: views into the caller's bytes, no allocation,
// every length bounded by the bytes at hand. The decoder's state and pairing are
// in amqp_decoder.cpp.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "util/byte_reader.hpp"

namespace tapbeat::amqp {

enum MethodFlag : uint8_t {
  kAnswer = 1,   // an -ok (or get-empty): pairs with the pending request
  kContent = 2,  // content (header and body frames) follows
  kAsync = 4,    // published alone
  kConn = 8,     // connection information (hide_connection_information)
  kClose = 16,   // an Error when its reply-code is 300 or more
};

// Argument lists: o octet, S short, L long, Q long long, s short string, l long
// string, b bit, t table, T timestamp, e a short string left out when empty (the
// default exchange, where Packetbeat leaves it out); a name starting with '-' is
// reserved and left out.
struct Method {
  uint16_t cls, id;
  const char* name;
  const char* args;  // "type:name|type:name..."
  uint8_t flags;
};

inline constexpr Method kMethods[] = {
    {10, 10, "connection.start", "o:version-major|o:version-minor|t:server-properties|l:mechanisms|l:locales",
     kConn},
    {10, 11, "connection.start-ok", "t:client-properties|s:mechanism|l:-response|s:locale", kConn | kAnswer},
    {10, 20, "connection.secure", "l:-challenge", kConn},
    {10, 21, "connection.secure-ok", "l:-response", kConn | kAnswer},
    {10, 30, "connection.tune", "S:channel-max|L:frame-max|S:heartbeat", kConn},
    {10, 31, "connection.tune-ok", "S:channel-max|L:frame-max|S:heartbeat", kConn | kAnswer},
    {10, 40, "connection.open", "s:virtual-host|s:-reserved|b:-reserved", kConn},
    {10, 41, "connection.open-ok", "s:-reserved", kConn | kAnswer},
    {10, 50, "connection.close", "S:reply-code|s:reply-text|S:class-id|S:method-id", kClose},
    {10, 51, "connection.close-ok", "", kAnswer},
    {10, 60, "connection.blocked", "s:reason", kConn | kAsync},
    {10, 61, "connection.unblocked", "", kConn | kAsync},
    {20, 10, "channel.open", "s:-reserved", kConn},
    {20, 11, "channel.open-ok", "l:-reserved", kConn | kAnswer},
    {20, 20, "channel.flow", "b:active", kConn},
    {20, 21, "channel.flow-ok", "b:active", kConn | kAnswer},
    {20, 40, "channel.close", "S:reply-code|s:reply-text|S:class-id|S:method-id", kClose},
    {20, 41, "channel.close-ok", "", kAnswer},
    {40, 10, "exchange.declare",
     "S:-reserved|s:exchange|s:exchange-type|b:passive|b:durable|b:auto-delete|b:internal|b:no-wait|t:"
     "arguments",
     0},
    {40, 11, "exchange.declare-ok", "", kAnswer},
    {40, 20, "exchange.delete", "S:-reserved|s:exchange|b:if-unused|b:no-wait", 0},
    {40, 21, "exchange.delete-ok", "", kAnswer},
    {40, 30, "exchange.bind", "S:-reserved|s:destination|s:source|s:routing-key|b:no-wait|t:arguments", 0},
    {40, 31, "exchange.bind-ok", "", kAnswer},
    {40, 40, "exchange.unbind", "S:-reserved|s:destination|s:source|s:routing-key|b:no-wait|t:arguments", 0},
    {40, 51, "exchange.unbind-ok", "", kAnswer},
    {50, 10, "queue.declare",
     "S:-reserved|s:queue|b:passive|b:durable|b:exclusive|b:auto-delete|b:no-wait|t:arguments", 0},
    {50, 11, "queue.declare-ok", "s:queue|L:message-count|L:consumer-count", kAnswer},
    {50, 20, "queue.bind", "S:-reserved|s:queue|e:exchange|s:routing-key|b:no-wait|t:arguments", 0},
    {50, 21, "queue.bind-ok", "", kAnswer},
    {50, 30, "queue.purge", "S:-reserved|s:queue|b:no-wait", 0},
    {50, 31, "queue.purge-ok", "L:message-count", kAnswer},
    {50, 40, "queue.delete", "S:-reserved|s:queue|b:if-unused|b:if-empty|b:no-wait", 0},
    {50, 41, "queue.delete-ok", "L:message-count", kAnswer},
    {50, 50, "queue.unbind", "S:-reserved|s:queue|e:exchange|s:routing-key|t:arguments", 0},
    {50, 51, "queue.unbind-ok", "", kAnswer},
    {60, 10, "basic.qos", "L:prefetch-size|S:prefetch-count|b:global", kConn},
    {60, 11, "basic.qos-ok", "", kConn | kAnswer},
    {60, 20, "basic.consume",
     "S:-reserved|s:queue|s:consumer-tag|b:no-local|b:no-ack|b:exclusive|b:no-wait|t:arguments", 0},
    {60, 21, "basic.consume-ok", "s:consumer-tag", kAnswer},
    {60, 30, "basic.cancel", "s:consumer-tag|b:no-wait", 0},
    {60, 31, "basic.cancel-ok", "s:consumer-tag", kAnswer},
    {60, 40, "basic.publish", "S:-reserved|e:exchange|s:routing-key|b:mandatory|b:immediate",
     kContent | kAsync},
    {60, 50, "basic.return", "S:reply-code|s:reply-text|s:exchange|s:routing-key", kContent | kAsync},
    {60, 60, "basic.deliver", "s:consumer-tag|Q:delivery-tag|b:redelivered|e:exchange|s:routing-key",
     kContent | kAsync},
    {60, 70, "basic.get", "S:-reserved|s:queue|b:no-ack", 0},
    {60, 71, "basic.get-ok", "Q:delivery-tag|b:redelivered|e:exchange|s:routing-key|L:message-count",
     kContent | kAsync},
    {60, 72, "basic.get-empty", "s:-reserved", kAnswer},
    {60, 80, "basic.ack", "Q:delivery-tag|b:multiple", kAsync},
    {60, 90, "basic.reject", "Q:delivery-tag|b:requeue", kAsync},
    {60, 100, "basic.recover-async", "b:requeue", kAsync},
    {60, 110, "basic.recover", "b:requeue", 0},
    {60, 111, "basic.recover-ok", "", kAnswer},
    {60, 120, "basic.nack", "Q:delivery-tag|b:multiple|b:requeue", kAsync},
    {85, 10, "confirm.select", "b:no-wait", 0},
    {85, 11, "confirm.select-ok", "", kAnswer},
    {90, 10, "tx.select", "", 0},
    {90, 11, "tx.select-ok", "", kAnswer},
    {90, 20, "tx.commit", "", 0},
    {90, 21, "tx.commit-ok", "", kAnswer},
    {90, 30, "tx.rollback", "", 0},
    {90, 31, "tx.rollback-ok", "", kAnswer},
};

// A method's argument list read once, when the program is built: the decoder walks these
// instead of splitting the text at every frame.
struct Arg {
  char type;
  bool skip;  // reserved: read, left out
  std::string_view name;
};
inline constexpr std::size_t kMaxArgs = 10;
struct Args {
  uint8_t n = 0;
  Arg arg[kMaxArgs] = {};
};
constexpr Args parse_args(std::string_view spec) {
  Args out;
  while (!spec.empty()) {
    const std::size_t bar = spec.find('|');
    const std::string_view one = spec.substr(0, bar);
    spec = bar == std::string_view::npos ? std::string_view{} : spec.substr(bar + 1);
    if (out.n == kMaxArgs || one.size() < 3) throw "an AMQP argument list longer than kMaxArgs, or malformed";
    const std::string_view name = one.substr(2);
    out.arg[out.n++] = {one[0], name.front() == '-', name};
  }
  return out;
}
inline constexpr auto kMethodArgs = [] {
  std::array<Args, std::size(kMethods)> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = parse_args(kMethods[i].args);
  return out;
}();
inline const Args& args_of(const Method& m) { return kMethodArgs[static_cast<std::size_t>(&m - kMethods)]; }

// (class, method id) -> the method, by table: classes 10, 20, 40, 50, 60, 85, 90, ids below 128.
constexpr int class_slot(uint16_t cls) {
  switch (cls) {
    case 10:
      return 0;
    case 20:
      return 1;
    case 40:
      return 2;
    case 50:
      return 3;
    case 60:
      return 4;
    case 85:
      return 5;
    case 90:
      return 6;
    default:
      return -1;
  }
}
inline constexpr auto kMethodIndex = [] {
  std::array<std::array<uint8_t, 128>, 7> t{};
  for (std::size_t i = 0; i < std::size(kMethods); ++i) {
    const int slot = class_slot(kMethods[i].cls);
    if (slot < 0 || kMethods[i].id >= 128) throw "an AMQP method outside the index";
    t[static_cast<std::size_t>(slot)][kMethods[i].id] = static_cast<uint8_t>(i + 1);
  }
  return t;
}();
inline const Method* find_method(uint16_t cls, uint16_t id) {
  const int slot = class_slot(cls);
  if (slot < 0 || id >= 128) return nullptr;
  const uint8_t k = kMethodIndex[static_cast<std::size_t>(slot)][id];
  return k ? &kMethods[k - 1] : nullptr;
}

inline bool shortstr(ByteReader& r, std::string_view& out) {
  uint8_t n;
  std::span<const uint8_t> v;
  if (!r.u8(n) || !r.view(n, v)) return false;
  out = {reinterpret_cast<const char*>(v.data()), v.size()};
  return true;
}

inline bool longstr(ByteReader& r, std::string_view& out) {
  uint32_t n;
  std::span<const uint8_t> v;
  if (!r.be32(n) || !r.view(n, v)) return false;
  out = {reinterpret_cast<const char*>(v.data()), v.size()};
  return true;
}

inline bool be64(ByteReader& r, uint64_t& v) {
  uint32_t hi, lo;
  if (!r.be32(hi) || !r.be32(lo)) return false;
  v = uint64_t{hi} << 32 | lo;
  return true;
}

}  // namespace tapbeat::amqp
