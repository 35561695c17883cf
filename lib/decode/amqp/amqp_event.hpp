// AMQP field tables and method arguments written as the JSON of amqp's event
// fields (amqp_event.cpp), and the "key\0value\0" list they are kept in until a
// method is published.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "decode/amqp/amqp_wire.hpp"
#include "event/json_writer.hpp"
#include "util/byte_reader.hpp"

namespace tapbeat::amqp {

// Rendered fields: "key\0JSON value\0" pairs, merged at publish time.
class Fields {
 public:
  Fields(char* buf, std::size_t cap) : buf_(buf), cap_(cap) {}
  // Starts a value for key; the value is written with w() and closed with end().
  JsonWriter& begin(std::string_view key) {
    if (len_ + key.size() + 2 < cap_) {
      std::memcpy(buf_ + len_, key.data(), key.size());
      len_ += key.size();
      buf_[len_++] = '\0';
    } else {
      full_ = true;
    }
    w_ = JsonWriter(buf_ + len_, full_ ? 0 : cap_ - len_ - 1);
    return w_;
  }
  void end() {
    if (full_ || w_.overflow()) {  // the pair is dropped whole
      full_ = true;
      return;
    }
    len_ += w_.size();
    buf_[len_++] = '\0';
  }
  std::string_view view() const { return {buf_, len_}; }
  bool full() const { return full_; }

 private:
  char* buf_;
  std::size_t cap_;
  std::size_t len_ = 0;
  bool full_ = false;
  JsonWriter w_{nullptr, 0};
};

// Walks "key\0value\0" pairs.
template <class F>
void each_field(std::string_view fields, F&& f) {
  while (!fields.empty()) {
    const std::size_t a = fields.find('\0');
    if (a == std::string_view::npos) return;
    const std::size_t b = fields.find('\0', a + 1);
    if (b == std::string_view::npos) return;
    f(fields.substr(0, a), fields.substr(a + 1, b - a - 1));
    fields.remove_prefix(b + 1);
  }
}

void timestamp_text(JsonWriter& w, uint64_t secs);
bool field_value(ByteReader& r, JsonWriter& w, int depth);

// A field table as a JSON object.
bool table(ByteReader& r, JsonWriter& w, int depth);
bool field_value(ByteReader& r, JsonWriter& w, int depth);

}  // namespace tapbeat::amqp
