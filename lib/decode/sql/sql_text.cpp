#include "decode/sql/sql_text.hpp"

#include <algorithm>

namespace tapbeat {

void read_sql_options(const ProtocolConfig& p, SqlSettings& s) {
  s.max_rows = p.uint("max_rows", s.max_rows);
  s.max_row_length = p.uint("max_row_length", s.max_row_length);
  s.statement_timeout_ns = p.duration_ns("statement_timeout", s.statement_timeout_ns);
}

namespace {
bool blank(char c) { return c == ' ' || c == '\r' || c == '\n' || c == '\t'; }
}  // namespace

std::string_view sql_trim(std::string_view q) {
  while (!q.empty() && blank(q.front())) q.remove_prefix(1);
  while (!q.empty() && blank(q.back())) q.remove_suffix(1);
  return q;
}

std::size_t sql_method(std::string_view q, char* out, std::size_t cap) {
  std::size_t n = 0;
  for (char c : q) {
    if (blank(c) || n == cap) break;
    out[n++] = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
  }
  return n;
}

CsvLine::CsvLine(uint32_t max_row_length)
    : cap_(std::size_t{max_row_length} * 4 + 8192), max_(max_row_length) {
  buf_ = std::make_unique<char[]>(cap_);
}

void CsvLine::add(std::string_view v) {
  if (!header_) {
    if (row_len_ >= max_) return;
    if (row_len_ + v.size() > max_) v = v.substr(0, max_ - row_len_);
    row_len_ += static_cast<uint32_t>(v.size());
  }
  if (values_++) put(',');
  // Quoted when it holds a separator, a quote or a line break, starts with a blank,
  // or is the lone "\." (Go's encoding/csv); line breaks are written escaped.
  bool quote = v == "\\.";
  if (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '\v' || v.front() == '\f'))
    quote = true;
  for (char c : v)
    if (c == ',' || c == '"' || (c == '\r' && header_)) quote = true;
  if (quote) put('"');
  for (char c : v) {
    if (c == '\n') {
      put('\\'), put('n');
    } else if (c == '\r' && !header_) {
      put('\\'), put('r');
    } else if (c == '"') {
      put('"'), put('"');
    } else {
      put(c);
    }
  }
  if (quote) put('"');
}

void write_sql_texts(JsonWriter& w, const SqlSettings& cfg, std::string_view request, bool answered,
                     std::string_view table) {
  if (cfg.send_request) w.field("request", request);
  if (cfg.send_response && answered) w.field("response", table);
}

bool sql_table_append(ChainStore& store, ChainStore::Chain& table, std::string_view line, uint32_t cap) {
  if (table.len + line.size() + 1 > cap) return false;
  const uint32_t k = static_cast<uint32_t>(line.size());
  if (store.append(table, reinterpret_cast<const uint8_t*>(line.data()), k) < k) return false;
  const uint8_t lf = '\n';
  return store.append(table, &lf, 1) == 1;
}

}  // namespace tapbeat
