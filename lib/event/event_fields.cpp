#include "event/event_fields.hpp"

#include <arpa/inet.h>
#include <hs/hs.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace tapbeat {

std::string field_pointer(std::string_view dotted) {
  std::string p = "/";
  for (char c : dotted) {
    if (c == '.')
      p += '/';
    else if (c == '~')
      p += "~0";
    else if (c == '/')
      p += "~1";
    else
      p += c;
  }
  return p;
}

// ---- EventView -------------------------------------------------------------

void EventView::reset(std::string_view line) {
  if (buf_.size() < line.size() + simdjson::SIMDJSON_PADDING)
    buf_.resize(line.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(buf_.data(), line.data(), line.size());
  len_ = line.size();
  parsed_ = false;
}

bool EventView::at(const std::string& pointer, simdjson::dom::element& v) {
  if (!parsed_ && pointer.size() > 1 && pointer.find_first_of("~\"\\") == std::string::npos) {
    // A field whose first key is nowhere in the text is absent: no parse for it (a
    // condition on `tags` over events that have none). The events' writer puts every
    // key as its plain quoted text.
    const std::size_t end = pointer.find('/', 1);
    char key[128];
    const std::size_t n = (end == std::string::npos ? pointer.size() : end) - 1;
    if (n + 2 <= sizeof key) {
      key[0] = '"';
      std::memcpy(key + 1, pointer.data() + 1, n);
      key[n + 1] = '"';
      if (!memmem(buf_.data(), len_, key, n + 2)) return false;
    }
  }
  if (!parsed_) {
    if (parser_.parse(reinterpret_cast<const uint8_t*>(buf_.data()), len_, false).get(doc_) !=
        simdjson::SUCCESS)
      return false;
    parsed_ = true;
  }
  return doc_.at_pointer(pointer).get(v) == simdjson::SUCCESS;
}

bool EventView::get(const std::string& pointer, std::string& out) {
  simdjson::dom::element v;
  if (!at(pointer, v)) return false;
  switch (v.type()) {
    case simdjson::dom::element_type::NULL_VALUE:
      return false;
    case simdjson::dom::element_type::STRING: {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) return false;
      out.assign(s);
      return true;
    }
    default:
      out = simdjson::minify(v);
      return true;
  }
}

bool EventView::has(const std::string& pointer) {
  simdjson::dom::element v;
  return at(pointer, v) && !v.is_null();
}

bool EventView::timestamp_text(std::string_view& out) {
  // Every event the engine writes starts with it; other lines take the slow path.
  static constexpr std::string_view kPrefix = "{\"@timestamp\":\"";
  const std::string_view l = line();
  if (l.substr(0, kPrefix.size()) == kPrefix) {
    const std::size_t end = l.find('"', kPrefix.size());
    if (end == std::string_view::npos) return false;
    out = l.substr(kPrefix.size(), end - kPrefix.size());
    return true;
  }
  simdjson::dom::element v;
  static const std::string kPointer = "/@timestamp";
  if (!at(kPointer, v)) return false;
  return v.get_string().get(out) == simdjson::SUCCESS;
}

bool EventView::timestamp_ms(int64_t& out) {
  std::string_view text;
  return timestamp_text(text) && parse_iso_ms(text, out);
}

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

bool parse_iso_ms(std::string_view s, int64_t& out) {
  int y, mo, d, h, mi, se;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || s[10] != 'T' || !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) ||
      s[16] != ':' || !digits(s, 17, 2, se))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return false;
  int ms = 0;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int scale = 100;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      ms += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
  }
  if (i >= s.size() || s[i] != 'Z') return false;
  out = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60'000 + int64_t{se} * 1000 + ms;
  return true;
}

// ---- FormatString ----------------------------------------------------------

namespace {

// `[a.b]`, `[a][b]` -> "a.b"
std::string field_name(std::string_view spec) {
  std::string name;
  std::size_t i = 0;
  while (i < spec.size()) {
    if (spec[i] != '[')
      throw std::invalid_argument("expected '[' in field reference '" + std::string(spec) + "'");
    const std::size_t end = spec.find(']', i);
    if (end == std::string_view::npos)
      throw std::invalid_argument("unclosed '[' in '" + std::string(spec) + "'");
    if (end == i + 1) throw std::invalid_argument("empty field name in '" + std::string(spec) + "'");
    if (!name.empty()) name += '.';
    name.append(spec.substr(i + 1, end - i - 1));
    i = end + 1;
  }
  if (name.empty()) throw std::invalid_argument("empty field reference");
  return name;
}

void check_time_pattern(std::string_view p) {
  for (std::size_t i = 0; i < p.size();) {
    const char c = p[i];
    std::size_t n = 1;
    while (i + n < p.size() && p[i + n] == c) ++n;
    const bool ok = (c == 'y' && (n == 2 || n == 4)) ||
                    ((c == 'M' || c == 'd' || c == 'H' || c == 'm' || c == 's') && n == 2) ||
                    !std::isalpha(static_cast<unsigned char>(c));
    if (!ok)
      throw std::invalid_argument("time pattern '" + std::string(p) + "': '" + std::string(n, c) +
                                  "' is not supported (use yyyy, yy, MM, dd, HH, mm, ss)");
    i += n;
  }
}

// Renders a yyyy.MM.dd-style pattern from ISO text.
void render_time(std::string_view pattern, std::string_view iso, std::string& out) {
  for (std::size_t i = 0; i < pattern.size();) {
    const char c = pattern[i];
    std::size_t n = 1;
    while (i + n < pattern.size() && pattern[i + n] == c) ++n;
    switch (c) {
      case 'y':
        out.append(n == 4 ? iso.substr(0, 4) : iso.substr(2, 2));
        break;
      case 'M':
        out.append(iso.substr(5, 2));
        break;
      case 'd':
        out.append(iso.substr(8, 2));
        break;
      case 'H':
        out.append(iso.substr(11, 2));
        break;
      case 'm':
        out.append(iso.substr(14, 2));
        break;
      case 's':
        out.append(iso.substr(17, 2));
        break;
      default:
        out.append(n, c);
    }
    i += n;
  }
}

}  // namespace

FormatString::FormatString(std::string_view text) : text_(text) {
  std::size_t i = 0;
  std::string literal;
  while (i < text.size()) {
    if (text[i] == '%' && i + 1 < text.size() && text[i + 1] == '{') {
      const std::size_t end = text.find('}', i + 2);
      if (end == std::string_view::npos)
        throw std::invalid_argument("unclosed '%{' at offset " + std::to_string(i) + " in '" +
                                    std::string(text) + "'");
      std::string_view spec = text.substr(i + 2, end - i - 2);
      if (!literal.empty()) {
        parts_.push_back(Part{Part::kText, literal});
        literal.clear();
      }
      if (!spec.empty() && spec[0] == '+') {
        check_time_pattern(spec.substr(1));
        parts_.push_back(Part{Part::kTime, std::string(spec.substr(1))});
      } else {
        Part p{Part::kField, {}};
        // A default follows the closing bracket: %{[field]:default}.
        const std::size_t close = spec.rfind(']');
        if (close != std::string_view::npos && close + 1 < spec.size()) {
          if (spec[close + 1] != ':')
            throw std::invalid_argument("unexpected text after the field in '%{" + std::string(spec) + "}'");
          p.fallback = std::string(spec.substr(close + 2));
          p.has_fallback = true;
          spec = spec.substr(0, close + 1);
        }
        p.value = field_pointer(field_name(spec));
        parts_.push_back(std::move(p));
      }
      constant_ = false;
      i = end + 1;
    } else {
      literal += text[i++];
    }
  }
  if (!literal.empty()) parts_.push_back(Part{Part::kText, literal});
}

bool FormatString::render(EventView& ev, std::string& out) const {
  thread_local std::string value;
  for (const Part& p : parts_) {
    switch (p.kind) {
      case Part::kText:
        out += p.value;
        break;
      case Part::kField:
        if (ev.get(p.value, value))
          out += value;
        else if (p.has_fallback)
          out += p.fallback;
        else
          return false;
        break;
      case Part::kTime: {
        std::string_view iso;
        if (!ev.timestamp_text(iso) || iso.size() < 19) return false;
        render_time(p.value, iso, out);
        break;
      }
    }
  }
  return true;
}

// ---- Conditions ------------------------------------------------------------

namespace {

std::string scalar_text(const YAML::Node& n, const std::string& what) {
  if (!n.IsScalar()) throw std::invalid_argument(what + ": expected a value");
  return n.Scalar();
}

// equals (the whole value) and contains (a substring), over one or more fields.
class FieldText : public Condition {
 public:
  FieldText(const YAML::Node& n, bool whole) : whole_(whole) {
    const std::string name = whole ? "equals" : "contains";
    if (!n.IsMap() || n.size() == 0)
      throw std::invalid_argument(name + ": expected a mapping of field: value");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string f = it->first.as<std::string>();
      fields_.push_back({field_pointer(f), scalar_text(it->second, name + "." + f)});
    }
  }
  bool match(EventView& ev) const override {
    thread_local std::string v;
    for (const auto& [ptr, want] : fields_) {
      if (!ev.get(ptr, v)) return false;
      if (whole_ ? v != want : v.find(want) == std::string::npos) return false;
    }
    return true;
  }

 private:
  bool whole_;
  std::vector<std::pair<std::string, std::string>> fields_;
};

// regexp: Go's regular expressions as Beats reads them, run by Hyperscan (linear in the
// value's length, no recursion: a backtracking engine's stack runs out on a value of
// a few hundred KB, a body or a long query). RE2 syntax is PCRE's as Hyperscan takes
// it (flags (?i)(?m)(?s), classes, \Q..\E, named groups); `$` also matches before a
// final newline, as in PCRE. Values are UTF-8 (simdjson checked them), so '.' is a
// character; \d, \w, \s stay ASCII as in Go.
class Regexp : public Condition {
 public:
  explicit Regexp(const YAML::Node& n) {
    if (!n.IsMap() || n.size() == 0)
      throw std::invalid_argument("regexp: expected a mapping of field: pattern");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string f = it->first.as<std::string>();
      const std::string pat = scalar_text(it->second, "regexp." + f);
      hs_database_t* db = nullptr;
      hs_compile_error_t* err = nullptr;
      if (hs_compile(pat.c_str(), HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY | HS_FLAG_UTF8, HS_MODE_BLOCK,
                     nullptr, &db, &err) != HS_SUCCESS) {
        const std::string why = err && err->message ? err->message : "not compiled";
        hs_free_compile_error(err);
        throw std::invalid_argument("regexp." + f + ": '" + pat + "' is not a valid pattern: " + why);
      }
      fields_.push_back({field_pointer(f), Database(db)});
      std::lock_guard<std::mutex> lock(scratch_mutex());
      if (hs_alloc_scratch(db, &prototype()) != HS_SUCCESS) throw std::runtime_error("regexp: no scratch");
      generation().fetch_add(1, std::memory_order_release);
    }
  }
  bool match(EventView& ev) const override {
    thread_local std::string v;
    hs_scratch_t* s = thread_scratch();
    for (const auto& [ptr, db] : fields_) {
      if (!ev.get(ptr, v)) return false;
      bool hit = false;
      hs_scan(db.get(), v.data(), static_cast<unsigned>(v.size()), 0, s, on_match, &hit);
      if (!hit) return false;
    }
    return true;
  }

 private:
  struct FreeDatabase {
    void operator()(hs_database_t* db) const { hs_free_database(db); }
  };
  using Database = std::unique_ptr<hs_database_t, FreeDatabase>;
  static int on_match(unsigned, unsigned long long, unsigned long long, unsigned, void* hit) {
    *static_cast<bool*>(hit) = true;
    return 1;  // one match is the answer
  }
  // One scratch per thread, cloned from a prototype every pattern compiled so far has
  // grown (conditions are built at start and on a reload; matched by the workers).
  static std::mutex& scratch_mutex() {
    static std::mutex m;
    return m;
  }
  static hs_scratch_t*& prototype() {
    static hs_scratch_t* p = nullptr;
    return p;
  }
  static std::atomic<uint64_t>& generation() {
    static std::atomic<uint64_t> g{0};
    return g;
  }
  static hs_scratch_t* thread_scratch() {
    struct Owned {
      hs_scratch_t* s = nullptr;
      uint64_t generation = 0;
      ~Owned() { hs_free_scratch(s); }
    };
    thread_local Owned mine;
    if (mine.generation != generation().load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(scratch_mutex());
      hs_free_scratch(mine.s);
      mine.s = nullptr;
      if (hs_clone_scratch(prototype(), &mine.s) != HS_SUCCESS)
        throw std::runtime_error("regexp: no scratch");
      mine.generation = generation().load(std::memory_order_relaxed);
    }
    return mine.s;
  }
  std::vector<std::pair<std::string, Database>> fields_;
};

class Range : public Condition {
 public:
  explicit Range(const YAML::Node& n) {
    if (!n.IsMap() || n.size() == 0)
      throw std::invalid_argument("range: expected a mapping such as http.response.status_code.gte: 400");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.as<std::string>();
      // Both `field.gte: 1` and `field: {gte: 1}` (the dotted form arrives expanded).
      auto add = [&](const std::string& field, const std::string& op, const YAML::Node& v) {
        Bound b;
        b.pointer = field_pointer(field);
        if (op == "gte")
          b.op = Op::kGte;
        else if (op == "gt")
          b.op = Op::kGt;
        else if (op == "lte")
          b.op = Op::kLte;
        else if (op == "lt")
          b.op = Op::kLt;
        else
          throw std::invalid_argument("range." + field + "." + op + ": use gte, gt, lte or lt");
        const std::string t = scalar_text(v, "range." + field + "." + op);
        char* end = nullptr;
        b.value = std::strtod(t.c_str(), &end);
        if (t.empty() || *end)
          throw std::invalid_argument("range." + field + "." + op + ": '" + t + "' is not a number");
        bounds_.push_back(b);
      };
      std::function<void(const std::string&, const YAML::Node&)> walk = [&](const std::string& path,
                                                                            const YAML::Node& v) {
        if (v.IsMap()) {
          for (auto jt = v.begin(); jt != v.end(); ++jt) {
            const std::string k = jt->first.as<std::string>();
            if (k == "gte" || k == "gt" || k == "lte" || k == "lt")
              add(path, k, jt->second);
            else
              walk(path + "." + k, jt->second);
          }
        } else {
          const std::size_t dot = path.rfind('.');
          if (dot == std::string::npos)
            throw std::invalid_argument("range." + path + ": name a bound (gte, gt, lte, lt)");
          add(path.substr(0, dot), path.substr(dot + 1), v);
        }
      };
      walk(key, it->second);
    }
  }
  bool match(EventView& ev) const override {
    thread_local std::string v;
    for (const Bound& b : bounds_) {
      if (!ev.get(b.pointer, v)) return false;
      char* end = nullptr;
      const double x = std::strtod(v.c_str(), &end);
      if (v.empty() || *end) return false;
      const bool ok = b.op == Op::kGte   ? x >= b.value
                      : b.op == Op::kGt  ? x > b.value
                      : b.op == Op::kLte ? x <= b.value
                                         : x < b.value;
      if (!ok) return false;
    }
    return true;
  }

 private:
  enum class Op { kGte, kGt, kLte, kLt };
  struct Bound {
    std::string pointer;
    Op op;
    double value;
  };
  std::vector<Bound> bounds_;
};

class HasFields : public Condition {
 public:
  explicit HasFields(const YAML::Node& n) {
    if (!n.IsSequence() || n.size() == 0)
      throw std::invalid_argument("has_fields: expected a list of field names");
    for (const auto& f : n) pointers_.push_back(field_pointer(scalar_text(f, "has_fields")));
  }
  bool match(EventView& ev) const override {
    for (const auto& p : pointers_)
      if (!ev.has(p)) return false;
    return true;
  }

 private:
  std::vector<std::string> pointers_;
};

class Network : public Condition {
 public:
  explicit Network(const YAML::Node& n) {
    if (!n.IsMap() || n.size() == 0)
      throw std::invalid_argument("network: expected a mapping of field: network(s)");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string f = it->first.as<std::string>();
      std::vector<std::string> entries;
      const YAML::Node value = it->second;  // the iterator's proxy is a temporary
      if (value.IsSequence()) {
        for (const auto& e : value) entries.push_back(scalar_text(e, "network." + f));
      } else {
        entries.push_back(scalar_text(value, "network." + f));
      }
      try {
        fields_.push_back({field_pointer(f), NetworkSet(entries)});
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("network." + f + ": " + e.what());
      }
    }
  }
  bool match(EventView& ev) const override {
    thread_local std::string v;
    for (const auto& [ptr, set] : fields_) {
      if (!ev.get(ptr, v)) return false;
      IpBytes ip{};
      const bool v6 = v.find(':') != std::string::npos;
      if (inet_pton(v6 ? AF_INET6 : AF_INET, v.c_str(), ip.data()) != 1) return false;
      if (!set.contains(ip, v6 ? 6 : 4)) return false;
    }
    return true;
  }

 private:
  std::vector<std::pair<std::string, NetworkSet>> fields_;
};

class AnyOf : public Condition {
 public:
  AnyOf(const YAML::Node& n, bool all) : all_(all) {
    const char* name = all ? "and" : "or";
    if (!n.IsSequence() || n.size() == 0)
      throw std::invalid_argument(std::string(name) + ": expected a list of conditions");
    for (std::size_t i = 0; i < n.size(); ++i) {
      try {
        subs_.push_back(Condition::parse(n[i]));
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string(name) + "[" + std::to_string(i) + "]." + e.what());
      }
    }
  }
  bool match(EventView& ev) const override {
    for (const auto& c : subs_)
      if (c->match(ev) != all_) return !all_;
    return all_;
  }

 private:
  bool all_;
  std::vector<std::unique_ptr<Condition>> subs_;
};

class Not : public Condition {
 public:
  explicit Not(const YAML::Node& n) {
    try {
      sub_ = Condition::parse(n);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("not.") + e.what());
    }
  }
  bool match(EventView& ev) const override { return !sub_->match(ev); }

 private:
  std::unique_ptr<Condition> sub_;
};

}  // namespace

std::unique_ptr<Condition> Condition::parse(const YAML::Node& n) {
  if (!n.IsMap() || n.size() != 1)
    throw std::invalid_argument(
        "expected one condition: equals, contains, regexp, range, has_fields, network, and, or, not");
  const std::string kind = n.begin()->first.as<std::string>();
  const YAML::Node body = n.begin()->second;
  if (kind == "equals") return std::make_unique<FieldText>(body, true);
  if (kind == "contains") return std::make_unique<FieldText>(body, false);
  if (kind == "regexp") return std::make_unique<Regexp>(body);
  if (kind == "range") return std::make_unique<Range>(body);
  if (kind == "has_fields") return std::make_unique<HasFields>(body);
  if (kind == "network") return std::make_unique<Network>(body);
  if (kind == "and") return std::make_unique<AnyOf>(body, true);
  if (kind == "or") return std::make_unique<AnyOf>(body, false);
  if (kind == "not") return std::make_unique<Not>(body);
  throw std::invalid_argument(
      kind + ": unknown condition; use equals, contains, regexp, range, has_fields, network, and, or, not");
}

// ---- Selector --------------------------------------------------------------

Selector::Selector(const YAML::Node& section, const std::string& single_key, const std::string& list_key) {
  if (const YAML::Node s = section[single_key]) {
    if (!s.IsScalar()) throw std::invalid_argument(single_key + ": expected a string");
    try {
      single_ = FormatString(s.Scalar());
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(single_key + ": " + e.what());
    }
  }
  const YAML::Node list = section[list_key];
  if (!list) return;
  if (!list.IsSequence()) throw std::invalid_argument(list_key + ": expected a list of rules");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = list_key + "[" + std::to_string(i) + "]";
    const YAML::Node r = list[i];
    if (!r.IsMap()) throw std::invalid_argument(at + ": expected a mapping");
    Rule rule;
    for (auto it = r.begin(); it != r.end(); ++it) {
      const std::string k = it->first.as<std::string>();
      if (k != single_key && k != "mappings" && k != "default" && k != "when")
        throw std::invalid_argument(at + "." + k + ": unknown setting; use " + single_key +
                                    ", mappings, default, when");
    }
    if (!r[single_key] || !r[single_key].IsScalar())
      throw std::invalid_argument(at + "." + single_key + ": missing");
    try {
      rule.format = FormatString(r[single_key].Scalar());
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(at + "." + single_key + ": " + e.what());
    }
    if (const YAML::Node m = r["mappings"]) {
      if (!m.IsMap()) throw std::invalid_argument(at + ".mappings: expected a mapping");
      for (auto it = m.begin(); it != m.end(); ++it)
        rule.mappings[it->first.as<std::string>()] = it->second.as<std::string>();
    }
    if (const YAML::Node d = r["default"]) {
      rule.fallback = d.as<std::string>();
      rule.has_fallback = true;
    }
    if (const YAML::Node w = r["when"]) {
      try {
        rule.when = Condition::parse(w);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(at + ".when." + e.what());
      }
    }
    rules_.push_back(std::move(rule));
  }
}

bool Selector::select(EventView& ev, std::string& out) const {
  thread_local std::string scratch;  // per thread: a Selector is shared read-only
  for (const Rule& r : rules_) {
    if (r.when && !r.when->match(ev)) continue;
    scratch.clear();
    if (!r.format.render(ev, scratch)) {
      if (!r.has_fallback) continue;
      out = r.fallback;
      return true;
    }
    if (!r.mappings.empty()) {
      const auto it = r.mappings.find(scratch);
      if (it != r.mappings.end()) {
        out = it->second;
        return true;
      }
      if (r.has_fallback) {
        out = r.fallback;
        return true;
      }
      continue;
    }
    out = scratch;
    if (!out.empty()) return true;
  }
  out.clear();
  return !single_.empty() && single_.render(ev, out) && !out.empty();
}

}  // namespace tapbeat
