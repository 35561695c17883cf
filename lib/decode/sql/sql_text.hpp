// What the SQL decoders (MySQL, PostgreSQL) share: their Packetbeat settings, the
// method of a query (its first word, upper case), and the `response` text, a CSV
// table of the column names and the first max_rows rows with each row cut at
// max_row_length bytes of values (Go's encoding/csv quoting, line breaks inside
// values written as \n and \r), as Packetbeat publishes it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "decode/protocol.hpp"
#include "event/json_writer.hpp"
#include "util/chain_store.hpp"

namespace tapbeat {

struct SqlSettings : ProtocolSettings {
  uint32_t max_rows = 10;                            // rows of a result kept for `response`
  uint32_t max_row_length = 1024;                    // bytes of values kept per row
  uint64_t statement_timeout_ns = 3600'000'000'000;  // MySQL: prepared statements remembered
};

// Reads max_rows, max_row_length and statement_timeout (MySQL) of `p` into `s`.
void read_sql_options(const ProtocolConfig& p, SqlSettings& s);

// The query without surrounding blanks (" \r\n\t").
std::string_view sql_trim(std::string_view q);
// The query's first word in upper case, cut at cap bytes; returns its length.
std::size_t sql_method(std::string_view trimmed_query, char* out, std::size_t cap);

// One CSV line built value by value in a buffer of the decoder's.
class CsvLine {
 public:
  // max_row_length bounds the bytes of values; header lines are not cut.
  explicit CsvLine(uint32_t max_row_length);
  void reset(bool header) {
    n_ = 0;
    row_len_ = 0;
    values_ = 0;
    header_ = header;
  }
  // Appends one value (Packetbeat's rule: once max_row_length bytes of values are
  // in, later values are left out; the value that crosses it is cut).
  void add(std::string_view v);
  uint32_t values() const { return values_; }
  std::string_view view() const { return {buf_.get(), n_}; }

 private:
  void put(char c) {
    if (n_ < cap_) buf_[n_++] = c;
  }
  std::unique_ptr<char[]> buf_;
  std::size_t cap_;
  std::size_t n_ = 0;
  uint32_t row_len_ = 0;
  uint32_t values_ = 0;
  uint32_t max_;
  bool header_ = false;
};

// The end of a SQL transaction event: `request` (send_request) and `response`
// (send_response, when answered: the CSV table).
void write_sql_texts(JsonWriter& w, const SqlSettings& cfg, std::string_view request, bool answered,
                     std::string_view table);

// Appends line + '\n' to a table chain kept below cap bytes; false when it did
// not fit (the store ran out or the cap was reached).
bool sql_table_append(ChainStore& store, ChainStore::Chain& table, std::string_view line, uint32_t cap);

}  // namespace tapbeat
