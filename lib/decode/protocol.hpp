// What a protocol says about its configuration.
//
// A packetbeat.protocols entry reaches a protocol as a ProtocolConfig: checked
// against the common options and the protocol's own schema (its descriptor's
// `options`), then turned into typed settings by the descriptor's `configure`.
// The common options every protocol shares (ports, send_request, send_response,
// transaction_timeout) are read once, into ProtocolSettings, the base of every
// protocol's settings. Start-up only: allocates freely.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "util/options.hpp"

namespace tapbeat {

// One entry of packetbeat.protocols, its values checked against the schemas.
struct ProtocolConfig {
  std::string type;
  bool enabled = true;
  std::vector<uint16_t> ports;
  YAML::Node options;  // every other option
  // Beats' per-protocol `tags` (after the global ones) and `fields` merged over the
  // global ones, as the JSON members every event of the protocol carries; set by
  // the configuration reader.
  std::vector<std::string> tags;
  std::string field_members;

  // Typed reads of checked options; the fallback when the option is absent.
  bool flag(const char* key, bool fallback) const;
  uint64_t duration_ns(const char* key, uint64_t fallback) const;
  uint32_t uint(const char* key, uint32_t fallback) const;
  std::string text(const char* key, const std::string& fallback) const;
  std::vector<std::string> texts(const char* key) const;  // a list, or one value as a list of one
};

// A value a protocol refuses. `key` is relative to the entry ("ignored_ops[2]");
// the configuration reader names the file and the entry.
class OptionError : public std::invalid_argument {
 public:
  OptionError(std::string key, const std::string& why) : std::invalid_argument(why), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

// The options every protocol has, read once. A protocol's settings derive from it.
struct ProtocolSettings {
  virtual ~ProtocolSettings() = default;
  std::vector<uint16_t> ports;
  uint64_t timeout_ns = 10'000'000'000;  // transaction_timeout: also its connections' idle lifetime
  bool send_request = false;
  bool send_response = false;
  // The client's direction when one side of the connection (and only one) is a
  // configured server port (`ports`); -1 otherwise.
  int client_by_port(const uint16_t (&port)[2]) const;
};

// A setting known but not applied, or applied differently: (key relative to the
// entry, what happens instead).
using OptionWarn = std::function<void(const std::string& key, const std::string& what)>;

// A list of strings, or one value as a list of one; empty when absent.
std::vector<std::string> yaml_texts(const YAML::Node& n);

// Reads the common options of `p` into `s` (over the protocol's defaults).
void read_common_options(const ProtocolConfig& p, ProtocolSettings& s);

// The options every entry may have besides its protocol's own.
const std::vector<OptionSpec>& common_protocol_options();

}  // namespace tapbeat
