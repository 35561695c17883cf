#include "decode/cassandra/cassandra_event.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace tapbeat::cassandra {

void field_cut(JsonWriter& w, std::string_view k, std::string_view v) { w.field(k, v.substr(0, kMaxString)); }

void hex_upper(JsonWriter& w, std::string_view k, std::string_view v) {
  char buf[2 * 256 + 1];
  const std::size_t n = std::min<std::size_t>(v.size(), 256);
  for (std::size_t i = 0; i < n; ++i) std::snprintf(buf + 2 * i, 3, "%02X", uint8_t(v[i]));
  w.field(k, std::string_view(buf, 2 * n));
}

// A frame header as Packetbeat's cassandra.*.headers (the version as a string).
void write_headers(JsonWriter& w, uint8_t version, uint8_t flags, int16_t stream, uint8_t op,
                   uint32_t length) {
  char v[4], fb[96];
  w.begin_object("headers");
  w.field("version",
          std::string_view(v, static_cast<std::size_t>(std::snprintf(v, sizeof v, "%u", version))));
  w.field("flags", header_flags(fb, sizeof fb, flags));
  w.field_int("stream", stream);
  w.field("op", kCqlOpNames[op]);
  w.field_uint("length", length);
  w.end_object();
}

// A prepared id as Packetbeat shows it: a UUID when 16 bytes, else hex.
void prepared_id(JsonWriter& w, std::string_view k, std::string_view id) {
  if (id.size() != 16) return hex_upper(w, k, id);
  char buf[40];
  std::size_t n = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) buf[n++] = '-';
    n += static_cast<std::size_t>(std::snprintf(buf + n, sizeof buf - n, "%02x", uint8_t(id[i])));
  }
  w.field(k, std::string_view(buf, n));
}

// A [string list] rendered as an array (its first kMaxListItems entries); a key
// past kMaxListItems in the enclosing object is walked over, not rendered.
void string_list(JsonWriter& w, std::string_view k, Cql& b, bool render) {
  const uint16_t n = b.short_();
  if (!render) {
    for (uint16_t i = 0; i < n && b.ok(); ++i) b.string();
    return;
  }
  w.begin_array(k);
  for (uint16_t i = 0; i < n && b.ok(); ++i) {
    const std::string_view s = b.string();
    if (b.ok() && i < kMaxListItems) w.string(s.substr(0, kMaxString));
  }
  w.end_array();
}

// Result metadata (rows, or a prepared statement's): Packetbeat's meta fields; the
// column specs are walked to reach what follows.
void metadata(JsonWriter& w, std::string_view k, Cql& b, int version, bool prepared_req) {
  char fb[96];
  const int32_t flags = b.int_();
  const int32_t cols = b.int_();
  w.begin_object(k);
  w.field("flags", row_flags(fb, sizeof fb, flags));
  w.field_int("col_count", cols);
  if (prepared_req && version >= 4) {
    const int32_t pk = b.int_();
    w.begin_array("pkey_columns");
    for (int32_t i = 0; i < pk && b.ok() && i < 1024; ++i) w.uint(b.short_());
    w.end_array();
  }
  if (!prepared_req && (flags & kHasMorePages)) hex_upper(w, "paging_state", b.bytes());
  if (!prepared_req && version >= 5 && (flags & kMetadataChanged)) b.short_bytes();
  if (!(flags & kNoMetadata) && b.ok()) {
    const bool global = flags & kGlobalTableSpec;
    if (global) {
      field_cut(w, "keyspace", b.string());
      field_cut(w, "table", b.string());
    }
    for (int32_t i = 0; i < cols && b.ok(); ++i) {
      if (!global) {
        const std::string_view ks = b.string(), tb = b.string();
        if (i == 0 && b.ok()) field_cut(w, "keyspace", ks), field_cut(w, "table", tb);
      }
      b.string();
      b.skip_type();
    }
  }
  w.end_object();
}

void schema_change(JsonWriter& w, std::string_view k, Cql& b) {
  w.begin_object(k);
  field_cut(w, "change", b.string());
  const std::string_view target = b.string();
  field_cut(w, "target", target);
  if (target == "KEYSPACE") {
    field_cut(w, "keyspace", b.string());
  } else if (target == "TABLE" || target == "TYPE") {
    field_cut(w, "keyspace", b.string());
    field_cut(w, "object", b.string());
  } else if (target == "FUNCTION" || target == "AGGREGATE") {
    field_cut(w, "keyspace", b.string());
    field_cut(w, "name", b.string());
    string_list(w, "args", b);
  }
  w.end_object();
}

void error_body(JsonWriter& w, Cql& b, int version) {
  const int32_t code = b.int_();
  const std::string_view msg = b.string();
  w.begin_object("error");
  w.field_int("code", code);
  field_cut(w, "msg", msg);
  w.field("type", error_type(code));
  auto reason_map = [&]() -> int32_t {  // v5: <endpoint><failure code> pairs
    const int32_t n = b.int_();
    for (int32_t i = 0; i < n && b.ok(); ++i) b.skip(b.byte()), b.short_();
    return n;
  };
  switch (code) {
    case 0x1000:
      w.begin_object("details");
      w.field("read_consistency", consistency(b.short_()));
      w.field_int("required", b.int_());
      w.field_int("alive", b.int_());
      w.end_object();
      break;
    case 0x1100:
    case 0x1700:
      w.begin_object("details");
      w.field("read_consistency", consistency(b.short_()));
      w.field_int("received", b.int_());
      w.field_int("blockfor", b.int_());
      if (code == 0x1100) field_cut(w, "write_type", b.string());
      w.end_object();
      break;
    case 0x1200:
      w.begin_object("details");
      w.field("read_consistency", consistency(b.short_()));
      w.field_int("received", b.int_());
      w.field_int("blockfor", b.int_());
      w.field_bool("data_present", b.byte() != 0);
      w.end_object();
      break;
    case 0x1300:
    case 0x1500: {
      w.begin_object("details");
      w.field("read_consistency", consistency(b.short_()));
      w.field_int("received", b.int_());
      w.field_int("blockfor", b.int_());
      const int32_t failures = version >= 5 ? reason_map() : b.int_();
      w.field_int("num_failures", failures);
      if (code == 0x1300)
        w.field_bool("data_present", b.byte() != 0);
      else
        field_cut(w, "write_type", b.string());
      w.end_object();
      break;
    }
    case 0x1400:
      w.begin_object("details");
      field_cut(w, "keyspace", b.string());
      field_cut(w, "function", b.string());
      string_list(w, "arg_types", b);
      w.end_object();
      break;
    case 0x2400:
      w.begin_object("details");
      field_cut(w, "keyspace", b.string());
      field_cut(w, "table", b.string());
      w.end_object();
      break;
    case 0x2500:
      w.begin_object("details");
      hex_upper(w, "stmt_id", b.short_bytes());
      w.end_object();
      break;
    default:
      break;
  }
  w.end_object();
}

}  // namespace tapbeat::cassandra
