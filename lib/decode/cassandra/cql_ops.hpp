// The CQL native protocol's opcodes by name (Packetbeat's names): one table for the
// decoder and for checking packetbeat.protocols.cassandra.ignored_ops in the config.
#pragma once

#include <cctype>
#include <cstdint>
#include <string_view>

namespace tapbeat {

// Index: the opcode (0x04, v1's CREDENTIALS, is not used since v3).
inline constexpr const char* kCqlOpNames[] = {
    "ERROR",     "STARTUP", "READY",          "AUTHENTICATE",  nullptr,       "OPTIONS",
    "SUPPORTED", "QUERY",   "RESULT",         "PREPARE",       "EXECUTE",     "REGISTER",
    "EVENT",     "BATCH",   "AUTH_CHALLENGE", "AUTH_RESPONSE", "AUTH_SUCCESS"};
inline constexpr uint8_t kCqlMaxOp = 0x10;

// Opcode by name, in any case; -1 when there is none.
inline int cql_opcode(std::string_view name) {
  for (int i = 0; i <= kCqlMaxOp; ++i) {
    if (!kCqlOpNames[i]) continue;
    const std::string_view n = kCqlOpNames[i];
    bool same = n.size() == name.size();
    for (std::size_t k = 0; same && k < n.size(); ++k)
      same = n[k] == std::toupper(static_cast<unsigned char>(name[k]));
    if (same) return i;
  }
  return -1;
}

}  // namespace tapbeat
