// Cassandra's frame headers and message bodies (result metadata, schema changes,
// errors, prepared ids) written as the fields of cassandra's events
// (cassandra_event.cpp).
#pragma once

#include <string_view>

#include "decode/cassandra/cassandra_wire.hpp"
#include "event/json_writer.hpp"

namespace tapbeat::cassandra {

void field_cut(JsonWriter& w, std::string_view k, std::string_view v);
void hex_upper(JsonWriter& w, std::string_view k, std::string_view v);
void write_headers(JsonWriter& w, uint8_t version, uint8_t flags, int16_t stream, uint8_t op,
                   uint32_t length);
void prepared_id(JsonWriter& w, std::string_view k, std::string_view id);
void string_list(JsonWriter& w, std::string_view k, Cql& b, bool render = true);
void metadata(JsonWriter& w, std::string_view k, Cql& b, int version, bool prepared_req);
void schema_change(JsonWriter& w, std::string_view k, Cql& b);
void error_body(JsonWriter& w, Cql& b, int version);

}  // namespace tapbeat::cassandra
