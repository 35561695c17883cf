// Thrift IDL files (services, their functions' parameters and exceptions), read at
// start-up so that events name methods' services, parameters and exceptions.
// Structs, enums, typedefs and constants are passed over (Packetbeat names only the
// top level).
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tapbeat {

struct ThriftIdlMethod {
  std::string service;
  std::map<int, std::string> params, exceptions;  // field id -> name
  bool oneway = false;                            // no reply is sent
};

class ThriftIdl {
 public:
  // Throws std::runtime_error naming the file and line of what it cannot read.
  void load(const std::string& path);
  void parse(std::string_view text, const std::string& where);
  const ThriftIdlMethod* find(std::string_view method) const;
  std::size_t methods() const { return methods_.size(); }

 private:
  std::map<std::string, ThriftIdlMethod, std::less<>> methods_;
};

}  // namespace tapbeat
