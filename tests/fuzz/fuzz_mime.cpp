// libFuzzer target: detect_mime_type's signatures, sniffing and XML reading on
// arbitrary bytes (an HTTP body as the decoder and the processor hand it over).
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "event/mime_type.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static simdjson::dom::parser json;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  tapbeat::detect_mime_type(bytes, json);
  tapbeat::xml_element(bytes);  // also where sniffing finds binary bytes
  return 0;
}
