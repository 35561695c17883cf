#include "event/processors.hpp"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <sys/utsname.h>
#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>

#include "decode/dns/public_suffix.hpp"
#include "event/json_writer.hpp"
#include "event/mime_type.hpp"
#include "event/yaml_json.hpp"
#include "flow/community_id.hpp"
#include "util/encode.hpp"

namespace tapbeat {

namespace {

// ---- The event as a tree (nodes in the worker's arena) ----------------------

struct Node;
struct Member;
using Res = std::pmr::memory_resource;

struct Node {
  enum Kind : uint8_t { kScalar, kObject, kArray } kind = kScalar;
  std::pmr::string text;  // a scalar's JSON text
  std::pmr::vector<Member> members;
  std::pmr::vector<Node> items;
  // Defined below, where Member is complete.
  explicit Node(Res* r);
  Node(Node&&) noexcept;
  Node& operator=(Node&&) noexcept;
  ~Node();
};

struct Member {
  std::pmr::string key;
  Node value;
  Member(std::string_view k, Res* r) : key(k, r), value(r) {}
};

Node::Node(Res* r) : text(r), members(r), items(r) {}
Node::Node(Node&&) noexcept = default;
Node& Node::operator=(Node&&) noexcept = default;
Node::~Node() = default;

// JSON text of one scalar, written by JsonWriter (escaping as every event does).
template <typename Fn>
void scalar_text(std::vector<char>& buf, std::pmr::string& out, Fn&& write) {
  for (;;) {
    JsonWriter w(buf.data(), buf.size());
    write(w);
    if (!w.overflow()) {
      out.assign(buf.data(), w.size());
      return;
    }
    buf.resize(buf.size() * 2);
  }
}

void build(simdjson::dom::element e, Node& n, Res* r, std::vector<char>& buf) {
  using T = simdjson::dom::element_type;
  switch (e.type()) {
    case T::OBJECT: {
      n.kind = Node::kObject;
      const simdjson::dom::object obj = e.get_object().value_unsafe();  // outlives the loop
      for (auto field : obj) {
        n.members.emplace_back(field.key, r);
        build(field.value, n.members.back().value, r, buf);
      }
      return;
    }
    case T::ARRAY: {
      n.kind = Node::kArray;
      const simdjson::dom::array arr = e.get_array().value_unsafe();
      for (auto item : arr) {
        n.items.emplace_back(r);
        build(item, n.items.back(), r, buf);
      }
      return;
    }
    case T::STRING:
      scalar_text(buf, n.text, [&](JsonWriter& w) { w.string(e.get_string().value_unsafe()); });
      return;
    case T::INT64:
      scalar_text(buf, n.text, [&](JsonWriter& w) { w.sint(e.get_int64().value_unsafe()); });
      return;
    case T::UINT64:
      scalar_text(buf, n.text, [&](JsonWriter& w) { w.uint(e.get_uint64().value_unsafe()); });
      return;
    case T::DOUBLE:
      scalar_text(buf, n.text, [&](JsonWriter& w) { w.real(e.get_double().value_unsafe()); });
      return;
    case T::BOOL:
      n.text.assign(e.get_bool().value_unsafe() ? "true" : "false");
      return;
    case T::NULL_VALUE:
      n.text.assign("null");
      return;
  }
}

void write(const Node& n, JsonWriter& w) {
  if (n.kind == Node::kObject) {
    w.begin_object();
    for (const Member& m : n.members) {
      w.key(m.key);
      write(m.value, w);
    }
    w.end_object();
  } else if (n.kind == Node::kArray) {
    w.begin_array();
    for (const Node& i : n.items) write(i, w);
    w.end_array();
  } else {
    w.raw(n.text);
  }
}

Member* member(Node& obj, std::string_view key) {
  if (obj.kind != Node::kObject) return nullptr;
  for (Member& m : obj.members)
    if (m.key == key) return &m;
  return nullptr;
}

// The object holding a dotted path's last part, and that part; null when a part
// before it is missing (or, with create, is not an object).
Node* parent_of(Node& root, std::string_view path, std::string_view& last, bool create, Res* r) {
  Node* n = &root;
  for (;;) {
    const std::size_t dot = path.find('.');
    if (dot == std::string_view::npos) {
      last = path;
      return n->kind == Node::kObject ? n : nullptr;
    }
    const std::string_view part = path.substr(0, dot);
    Member* m = member(*n, part);
    if (!m) {
      if (!create || n->kind != Node::kObject) return nullptr;
      n->members.emplace_back(part, r);
      m = &n->members.back();
      m->value.kind = Node::kObject;
    }
    n = &m->value;
    path.remove_prefix(dot + 1);
  }
}

Node* find(Node& root, std::string_view path) {
  std::string_view last;
  Node* p = parent_of(root, path, last, false, nullptr);
  Member* m = p ? member(*p, last) : nullptr;
  return m ? &m->value : nullptr;
}

bool remove(Node& root, std::string_view path) {
  std::string_view last;
  Node* p = parent_of(root, path, last, false, nullptr);
  if (!p) return false;
  auto it =
      std::find_if(p->members.begin(), p->members.end(), [&](const Member& m) { return m.key == last; });
  if (it == p->members.end()) return false;
  p->members.erase(it);
  return true;
}

// Puts `value` at path (replacing what was there); false when a part on the way is
// not an object.
bool put(Node& root, std::string_view path, Node&& value, Res* r) {
  std::string_view last;
  Node* p = parent_of(root, path, last, true, r);
  if (!p) return false;
  if (Member* m = member(*p, last)) {
    m->value = std::move(value);
    return true;
  }
  p->members.emplace_back(last, r);
  p->members.back().value = std::move(value);
  return true;
}

void clone(const Node& from, Node& to, Res* r) {
  to.kind = from.kind;
  to.text.assign(from.text);
  for (const Member& m : from.members) {
    to.members.emplace_back(m.key, r);
    clone(m.value, to.members.back().value, r);
  }
  for (const Node& i : from.items) {
    to.items.emplace_back(r);
    clone(i, to.items.back(), r);
  }
}

// The content of a JSON string's text ("\"a\\nb\"" -> "a\nb"), parsed by `p`.
bool string_value(const std::pmr::string& json, simdjson::dom::parser& p, std::string_view& out) {
  simdjson::dom::element e;
  return p.parse(json.data(), json.size()).get(e) == simdjson::SUCCESS &&
         e.get_string().get(out) == simdjson::SUCCESS;
}

// A field's string value, where it is one.
enum class StringField { kString, kMissing, kNotString };
StringField string_field(Node& root, std::string_view path, simdjson::dom::parser& p, std::string_view& out) {
  const Node* n = find(root, path);
  if (!n) return StringField::kMissing;
  return n->kind == Node::kScalar && !n->text.empty() && n->text.front() == '"' &&
                 string_value(n->text, p, out)
             ? StringField::kString
             : StringField::kNotString;
}

// Bytes of s that hold at most n bytes / n characters without splitting a UTF-8 sequence.
std::size_t utf8_prefix_bytes(std::string_view s, std::size_t n) {
  if (n >= s.size()) return s.size();
  while (n > 0 && (static_cast<uint8_t>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}
std::size_t utf8_prefix_chars(std::string_view s, std::size_t n) {
  std::size_t i = 0;
  for (std::size_t chars = 0; i < s.size(); ++i) {
    if ((static_cast<uint8_t>(s[i]) & 0xC0) != 0x80 && chars++ == n) break;
  }
  return i;
}

// The object or array at path, made empty when absent; null when something else
// is there.
Node* find_or_make(Node& root, std::string_view path, Node::Kind kind, Res* r) {
  if (!find(root, path)) {
    Node n(r);
    n.kind = kind;
    put(root, path, std::move(n), r);
  }
  Node* n = find(root, path);
  return n && n->kind == kind ? n : nullptr;
}

// Adds `flag` to log.flags (Beats marks a truncated event so).
void add_flag(Node& root, std::string_view flag, Res* r) {
  Node* flags = find_or_make(root, "log.flags", Node::kArray, r);
  if (!flags) return;
  std::string text = "\"";
  text.append(flag);
  text += '"';
  for (const Node& i : flags->items)
    if (std::string_view(i.text) == text) return;
  flags->items.emplace_back(r);
  flags->items.back().text.assign(text);
}

// An address field's value ("\"10.0.0.1\"").
bool ip_value(const Node& n, IpBytes& ip, uint8_t& version) {
  if (n.kind != Node::kScalar || n.text.size() < 3 || n.text.front() != '"' || n.text.size() > 48)
    return false;
  const std::string text(n.text.data() + 1, n.text.size() - 2);
  ip = {};
  version = text.find(':') != std::string::npos ? 6 : 4;
  return inet_pton(version == 6 ? AF_INET6 : AF_INET, text.c_str(), ip.data()) == 1;
}

// A whole number up to max, written as a number or as a string of digits.
bool uint_value(const Node* n, uint32_t max, uint32_t& out) {
  if (!n || n->kind != Node::kScalar) return false;
  std::string_view t = n->text;
  if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || end != t.data() + t.size() || t.empty() || v > max) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

// IANA protocol numbers of the transport names Beats' community_id reads.
int transport_number(std::string_view name) {
  static const std::pair<std::string_view, int> kNames[] = {
      {"icmp", 1},    {"igmp", 2},   {"tcp", 6},   {"udp", 17},  {"gre", 47},  {"ipv6-icmp", 58},
      {"icmpv6", 58}, {"eigrp", 88}, {"ospf", 89}, {"pim", 103}, {"sctp", 132}};
  for (const auto& [n, v] : kNames)
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        }))
      return v;
  return -1;
}

// Fields every event keeps, whatever drop_fields or include_fields say (as Beats).
bool protected_field(std::string_view f) { return f == "@timestamp" || f == "@metadata" || f == "type"; }

std::string json_string(std::string_view s) {
  std::vector<char> buf(s.size() * 6 + 8);
  JsonWriter w(buf.data(), buf.size());
  w.string(s);
  return std::string(buf.data(), w.size());
}

// JSON text of any YAML value (yaml_json's typing, as `fields` are typed).
std::string yaml_json_text(const YAML::Node& n) {
  std::vector<char> buf(4096);
  for (;;) {
    JsonWriter w(buf.data(), buf.size());
    yaml_json(w, n);
    if (!w.overflow()) return std::string(buf.data(), w.size());
    buf.resize(buf.size() * 2);
  }
}

// add_fields' mapping as leaf paths and their JSON texts (nested mappings become
// dotted paths, so later processors can reach inside them).
void flatten(const YAML::Node& map, const std::string& prefix, std::vector<std::string>& paths,
             std::vector<std::string>& values) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string path = prefix + it->first.Scalar();
    if (it->second.IsMap()) {
      flatten(it->second, path + ".", paths, values);
    } else {
      paths.push_back(path);
      values.push_back(yaml_json_text(it->second));
    }
  }
}

std::vector<std::string> string_list(const YAML::Node& n, const std::string& key) {
  std::vector<std::string> out;
  if (n && n.IsScalar()) {
    out.push_back(n.Scalar());
  } else if (n && n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar())
        throw std::invalid_argument(key + "[" + std::to_string(i) + "]: expected a string");
      out.push_back(n[i].Scalar());
    }
  } else {
    throw std::invalid_argument(key + ": expected a list of field names");
  }
  return out;
}

// A processor's option that must be a non-empty text.
std::string required_text(const YAML::Node& body, const std::string& key, const char* option) {
  if (!body || !body[option] || !body[option].IsScalar() || body[option].Scalar().empty())
    throw std::invalid_argument(key + "." + option + ": required");
  return body[option].Scalar();
}

bool flag(const YAML::Node& n, const std::string& key, bool fallback) {
  if (!n) return fallback;
  if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) return n.Scalar() == "true";
  throw std::invalid_argument(key + ": expected true or false");
}

// Processors of Beats that tapbeat accepts without applying (a warning names them).
constexpr std::string_view kNotApplied[] = {"add_cloud_metadata",
                                            "add_docker_metadata",
                                            "add_kubernetes_metadata",
                                            "add_id",
                                            "add_process_metadata",
                                            "decode_base64_field",
                                            "decode_json_fields",
                                            "decompress_gzip_field",
                                            "dissect",
                                            "dns",
                                            "extract_array",
                                            "replace",
                                            "script",
                                            "syslog",
                                            "translate_sid",
                                            "urldecode",
                                            "rate_limit",
                                            "append"};

}  // namespace

// ---- Steps -----------------------------------------------------------------

struct ProcessorChain::Step {
  enum Kind {
    kDropEvent,
    kDropFields,
    kIncludeFields,
    kAddFields,  // also add_labels, add_locale, add_host_metadata, add_observer_metadata
    kAddTags,
    kRename,
    kCopy,
    kTruncate,
    kDirection,
    kConvert,
    kGate,  // an `if`: `when` is its condition, its outcome goes to gate
    kRegisteredDomain,
    kFingerprint,
    kCommunityId,
    kDetectMimeType,
    kFormattedIndex,
  } kind;
  uint16_t seed = 0;  // community_id
  // add_fields, add_host_metadata, ...: the fields as one JSON fragment ("host":{...}),
  // spliced into an event that has none of `tops` at its top level (no tree built);
  // empty where the fields do not make one tree.
  std::string splice;
  std::vector<std::string> tops;  // each as "\"key\":", for a search of the event's text
  std::string replaces;           // the top-level object it replaces (add_host_metadata: host)
  bool ignore_failure = false;    // registered_domain
  std::string key_text;           // detect_mime_type: the field's last key as the text writes it
  FormatString format;            // a protocol's or the flows' index
  uint8_t method = 0;             // fingerprint: a FingerprintMethod
  uint8_t encoding = 0;           // fingerprint: a FingerprintEncoding
  Gates gates;                    // the branches this step lies in; all must hold for it to run
  uint16_t gate = 0;              // kGate
  std::unique_ptr<Condition> when;
  // drop/include: names; add_fields: leaf paths; rename/copy: from; truncate: names;
  // direction: source, destination
  std::vector<std::string> fields;
  std::vector<std::string> values;  // add_fields: JSON texts; add_tags: JSON strings; rename/copy: to
  bool ignore_missing = false;
  bool literal_keys = false;   // add_labels: keys with dots are one key under target
  std::string target;          // add_tags, add_labels, add_network_direction; add_fields: object it replaces
  std::size_t max = 0;         // truncate_fields
  bool characters = false;     // truncate_fields: max counts characters, not bytes
  NetworkSet internal;         // add_network_direction
  std::string only_type;       // a protocol's or the flows' own processors: events of this type only
  std::vector<uint8_t> types;  // convert: each field's ConvertTo ("" to: in place)
  bool fail_on_error = true;   // convert: one failure leaves the event as it was
  bool rename_mode = false;    // convert: `to` replaces `from` (mode: rename)
};

namespace {

// add_labels: nested keys and list items joined by dots into one flat label name.
void flatten_labels(const YAML::Node& n, const std::string& prefix, std::vector<std::string>& keys,
                    std::vector<std::string>& values) {
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it)
      flatten_labels(it->second, prefix.empty() ? it->first.Scalar() : prefix + "." + it->first.Scalar(),
                     keys, values);
  } else if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i)
      flatten_labels(n[i], prefix + "." + std::to_string(i), keys, values);
  } else {
    keys.push_back(prefix);
    values.push_back(yaml_json_text(n));
  }
}

std::string read_first_line(const char* path) {
  std::FILE* f = std::fopen(path, "r");
  if (!f) return {};
  char buf[512] = {};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  std::string s = ok ? buf : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string os_release(const std::string& key) {
  std::FILE* f = std::fopen("/etc/os-release", "r");
  if (!f) return {};
  char buf[512];
  std::string out;
  while (std::fgets(buf, sizeof buf, f)) {
    std::string line = buf;
    if (line.rfind(key + "=", 0) != 0) continue;
    out = line.substr(key.size() + 1);
    while (!out.empty() && (out.back() == '\n' || out.back() == '"')) out.pop_back();
    if (!out.empty() && out.front() == '"') out.erase(0, 1);
  }
  std::fclose(f);
  return out;
}

// What add_host_metadata and add_observer_metadata write, read once at start-up.
// The hardware addresses of the host's interfaces but loopback, as ECS writes MACs.
std::vector<std::string> host_macs() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& dev : std::filesystem::directory_iterator("/sys/class/net", ec)) {
    const std::string text = read_first_line((dev.path() / "address").c_str());
    uint8_t mac[6];
    if (std::sscanf(text.c_str(), "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &mac[0], &mac[1], &mac[2], &mac[3],
                    &mac[4], &mac[5]) != 6 ||
        std::all_of(std::begin(mac), std::end(mac), [](uint8_t b) { return b == 0; }))
      continue;
    char f[17];
    format_mac(mac, f);
    out.emplace_back(f, sizeof f);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void host_metadata(const std::string& prefix, bool with_os, bool netinfo, std::vector<std::string>& paths,
                   std::vector<std::string>& values) {
  utsname u{};
  uname(&u);
  auto add = [&](const std::string& path, const std::string& v) {
    if (v.empty()) return;
    paths.push_back(prefix + path);
    values.push_back(json_string(v));
  };
  add("hostname", u.nodename);
  add("architecture", u.machine);
  if (prefix == "host.") {
    add("name", u.nodename);
    add("id", read_first_line("/etc/machine-id"));
  }
  if (with_os) {
    add("os.kernel", u.release);
    add("os.type", "linux");
    add("os.platform", os_release("ID"));
    add("os.name", os_release("NAME"));
    add("os.version", os_release("VERSION_ID"));
    add("os.family", os_release("ID_LIKE").empty() ? os_release("ID") : os_release("ID_LIKE"));
  }
  if (!netinfo) return;
  std::string macs = "[";
  for (const std::string& m : host_macs()) macs += (macs.size() > 1 ? "," : "") + json_string(m);
  if (macs.size() > 1) {
    paths.push_back(prefix + "mac");
    values.push_back(macs + "]");
  }
  std::string ips = "[";
  for (const auto& [ip, v] : host_addresses()) {
    char text[64];
    if (!inet_ntop(v == 4 ? AF_INET : AF_INET6, ip.data(), text, sizeof text)) continue;
    if (std::string_view(text) == "127.0.0.1" || std::string_view(text) == "::1") continue;
    ips += (ips.size() > 1 ? "," : "") + json_string(text);
  }
  if (ips.size() > 1) {
    paths.push_back(prefix + "ip");
    values.push_back(ips + "]");
  }
}

// The system's time zone as add_locale writes it: "+01:00" (offset) or "CET".
std::string locale_zone(bool abbreviation) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  if (abbreviation) return tm.tm_zone ? tm.tm_zone : "UTC";
  const long off = tm.tm_gmtoff;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%c%02ld:%02ld", off < 0 ? '-' : '+', std::labs(off) / 3600,
                std::labs(off) % 3600 / 60);
  return buf;
}

std::vector<std::pair<std::string, std::string>> from_to(const YAML::Node& f, const std::string& key) {
  if (!f || !f.IsSequence()) throw std::invalid_argument(key + ": expected a list of {from, to}");
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t k = 0; k < f.size(); ++k) {
    if (!f[k]["from"] || !f[k]["to"] || !f[k]["from"].IsScalar() || !f[k]["to"].IsScalar())
      throw std::invalid_argument(key + "[" + std::to_string(k) + "]: expected from and to");
    out.emplace_back(f[k]["from"].Scalar(), f[k]["to"].Scalar());
  }
  return out;
}

// convert's target types, as Beats names them.
enum ConvertTo : uint8_t { kToNone, kToString, kToInteger, kToLong, kToFloat, kToDouble, kToBoolean, kToIp };

ConvertTo convert_type(const std::string& name) {
  static const std::pair<std::string_view, ConvertTo> kNames[] = {
      {"string", kToString}, {"integer", kToInteger}, {"long", kToLong}, {"float", kToFloat},
      {"double", kToDouble}, {"boolean", kToBoolean}, {"ip", kToIp}};
  for (const auto& [n, t] : kNames)
    if (n == name) return t;
  return kToNone;
}

// A JSON number's text as Go's %v prints it (integers as written, others shortest).
template <typename F>
void number_text(F v, std::pmr::string& out) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.assign(buf, r.ptr);
}

// An integer from text as Beats reads it: decimal, or hexadecimal after 0x; the whole
// text, within `bits`.
bool text_integer(std::string_view t, int bits, int64_t& out) {
  bool neg = false;
  std::string_view d = t;
  if (!d.empty() && (d.front() == '+' || d.front() == '-')) neg = d.front() == '-', d.remove_prefix(1);
  int base = 10;
  if (d.size() > 2 && d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) base = 16, d.remove_prefix(2);
  if (d.empty()) return false;
  uint64_t mag = 0;
  const auto r = std::from_chars(d.data(), d.data() + d.size(), mag, base);
  if (r.ec != std::errc() || r.ptr != d.data() + d.size()) return false;
  const uint64_t limit = (1ull << (bits - 1)) - (neg ? 0 : 1);
  if (mag > limit) return false;
  out = neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
  return true;
}

// One value converted as Beats' convert processor converts it; out holds its JSON
// text. False when it cannot be (a missing value, an object or list, text that does
// not parse).
bool convert_value(const Node& in, ConvertTo to, simdjson::dom::parser& p, std::vector<char>& scratch,
                   std::pmr::string& out) {
  if (in.kind != Node::kScalar || in.text.empty()) return false;
  simdjson::dom::element e;
  if (p.parse(in.text.data(), in.text.size()).get(e) != simdjson::SUCCESS) return false;
  std::string_view str;
  const bool is_string = e.get_string().get(str) == simdjson::SUCCESS;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  const bool is_int = e.get_int64().get(i) == simdjson::SUCCESS;
  const bool is_uint = !is_int && e.get_uint64().get(u) == simdjson::SUCCESS;
  const bool is_real = !is_int && !is_uint && e.get_double().get(d) == simdjson::SUCCESS;
  if (is_uint) i = static_cast<int64_t>(u);  // Go's int64(uint64) wraps
  if (is_real) i = std::isfinite(d) && std::fabs(d) < 9.2e18 ? static_cast<int64_t>(d) : INT64_MIN;
  const bool number = is_int || is_uint || is_real;
  switch (to) {
    case kToString:
      if (e.is_null()) return false;
      if (is_string) {
        out.assign(in.text);
      } else {
        std::pmr::string text(out.get_allocator());
        if (is_real)
          number_text(d, text);
        else
          text.assign(in.text);  // integers and true/false print as their JSON text
        scalar_text(scratch, out, [&](JsonWriter& w) { w.string(text); });
      }
      return true;
    case kToInteger:
    case kToLong: {
      const int bits = to == kToInteger ? 32 : 64;
      if (is_string) {
        if (!text_integer(str, bits, i)) return false;
      } else if (!number) {
        return false;
      } else if (bits == 32) {
        i = static_cast<int32_t>(static_cast<uint32_t>(i));  // Go's int32(v) keeps the low bits
      }
      number_text(i, out);
      return true;
    }
    case kToFloat:
    case kToDouble: {
      if (is_string) {
        std::string t(str);
        char* end = nullptr;
        errno = 0;
        d = std::strtod(t.c_str(), &end);
        if (t.empty() || end != t.c_str() + t.size() || errno == ERANGE ||
            std::isspace(static_cast<unsigned char>(t[0])))
          return false;
      } else if (is_int || is_uint) {
        d = is_int ? static_cast<double>(i) : static_cast<double>(u);
      } else if (!is_real) {
        return false;
      }
      if (!std::isfinite(d)) return false;  // JSON has no infinities
      if (to == kToFloat)
        number_text(static_cast<float>(d), out);
      else
        number_text(d, out);
      return true;
    }
    case kToBoolean: {
      bool b = false;
      if (e.get_bool().get(b) == simdjson::SUCCESS) {
      } else if (is_string && (str == "1" || str == "t" || str == "T" || str == "true" || str == "TRUE" ||
                               str == "True")) {
        b = true;
      } else if (!(is_string && (str == "0" || str == "f" || str == "F" || str == "false" || str == "FALSE" ||
                                 str == "False"))) {
        return false;
      }
      out.assign(b ? "true" : "false");
      return true;
    }
    case kToIp: {
      if (!is_string) return false;
      uint8_t addr[16];
      const std::string t(str);
      if (inet_pton(AF_INET, t.c_str(), addr) != 1 && inet_pton(AF_INET6, t.c_str(), addr) != 1) return false;
      out.assign(in.text);
      return true;
    }
    case kToNone:
      out.assign(in.text);
      return true;
  }
  return false;
}

}  // namespace

namespace {

enum FingerprintMethod : uint8_t { kMd5, kSha1, kSha256, kSha384, kSha512, kXxhash };
enum FingerprintEncoding : uint8_t { kHex, kBase32, kBase64 };

// Go's base32.StdEncoding (RFC 4648 §6, with padding), as Beats' fingerprint writes it.
void base32_append(const uint8_t* in, std::size_t n, std::pmr::string& out) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  for (std::size_t i = 0; i < n; i += 5) {
    uint8_t b[5] = {};
    const std::size_t k = std::min<std::size_t>(5, n - i);
    std::memcpy(b, in + i, k);
    const uint64_t v = (uint64_t{b[0]} << 32) | (uint64_t{b[1]} << 24) | (uint64_t{b[2]} << 16) |
                       (uint64_t{b[3]} << 8) | b[4];
    static constexpr std::size_t kChars[] = {0, 2, 4, 5, 7, 8};
    for (std::size_t c = 0; c < 8; ++c)
      out.push_back(c < kChars[k] ? kAlphabet[(v >> (35 - 5 * c)) & 31] : '=');
  }
}

constexpr std::string_view kFieldConditions[] = {"equals", "contains", "regexp", "range", "network"};

// parts[from..] as nested mappings around a copy of value (a new node each: yaml-cpp's
// assignment to a bound node would overwrite the node it is bound to).
YAML::Node nest(const std::vector<std::string>& parts, std::size_t from, const YAML::Node& value) {
  if (from >= parts.size()) return YAML::Clone(value);
  YAML::Node wrap(YAML::NodeType::Map);
  wrap[parts[from]] = nest(parts, from + 1, value);
  return wrap;
}

// A condition written with dotted keys, as Beats reads them: `not.contains.tags: x` is
// {not: {contains: {tags: x}}}; after a field condition's name the rest is the field's
// dotted name (`equals.http.response.status_code: 200`).
YAML::Node condition_from_dots(const std::vector<std::string>& parts, std::size_t from,
                               const YAML::Node& value) {
  YAML::Node out(YAML::NodeType::Map);
  if (from >= parts.size()) return YAML::Clone(value);
  const std::string& kind = parts[from];
  if (kind == "not") {
    out[kind] = condition_from_dots(parts, from + 1, value);
  } else if (std::find(std::begin(kFieldConditions), std::end(kFieldConditions), kind) !=
                 std::end(kFieldConditions) &&
             from + 1 < parts.size()) {
    std::string field;
    for (std::size_t i = from + 1; i < parts.size(); ++i) field += (i > from + 1 ? "." : "") + parts[i];
    YAML::Node fields(YAML::NodeType::Map);
    fields[field] = YAML::Clone(value);
    out[kind] = fields;
  } else {
    out[kind] = nest(parts, from + 1, value);
  }
  return out;
}

// Merges b into a (maps key by key; anything else: b's).
void merge_condition(YAML::Node a, const YAML::Node& b) {
  for (auto it = b.begin(); it != b.end(); ++it) {
    const std::string k = it->first.Scalar();
    YAML::Node existing = a[k];
    if (existing && existing.IsMap() && it->second.IsMap())
      merge_condition(existing, it->second);
    else
      a[k] = it->second;
  }
}

// The condition named `name` in a mapping, from `name: {...}` and every `name.a.b: v`;
// nullopt where there is none.
std::optional<YAML::Node> gather_condition(const YAML::Node& map, const std::string& name) {
  YAML::Node out;
  bool found = false;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string k = it->first.Scalar();
    YAML::Node part;
    if (k == name) {
      part = it->second;
    } else if (k.size() > name.size() + 1 && k.compare(0, name.size() + 1, name + ".") == 0) {
      std::vector<std::string> parts;
      std::size_t start = name.size() + 1;
      for (std::size_t dot; (dot = k.find('.', start)) != std::string::npos; start = dot + 1)
        parts.push_back(k.substr(start, dot - start));
      parts.push_back(k.substr(start));
      part = condition_from_dots(parts, 0, it->second);
    } else {
      continue;
    }
    if (!found) {
      out = YAML::Clone(part);
      found = true;
    } else if (out.IsMap() && part.IsMap()) {
      merge_condition(out, part);
    } else {
      throw std::invalid_argument(name + ": set twice");
    }
  }
  if (!found) return std::nullopt;
  return out;
}

bool condition_key(const std::string& k, const std::string& name) {
  return k == name || (k.size() > name.size() && k.compare(0, name.size() + 1, name + ".") == 0);
}

}  // namespace

namespace {

// Where the top-level member `key` lies in an event's text: 1 with [b, e) its `"key":{...}`
// (an object), 0 where the object has no such member, -1 where the text does not read
// (or the member is not an object): the caller takes the long way.
int top_member(std::string_view text, std::string_view key, std::string& padded,
               simdjson::ondemand::parser& parser, std::size_t& b, std::size_t& e) {
  padded.assign(text);
  padded.append(simdjson::SIMDJSON_PADDING, ' ');
  simdjson::ondemand::document doc;
  simdjson::ondemand::object obj;
  if (parser.iterate(padded.data(), text.size(), padded.size()).get(doc) || doc.get_object().get(obj))
    return -1;
  const char* base = padded.data();
  for (auto field : obj) {
    simdjson::ondemand::raw_json_string k;
    if (field.key().get(k)) return -1;
    if (!k.unsafe_is_equal(key)) continue;
    simdjson::ondemand::object value;
    std::string_view raw;
    if (field.value().get_object().get(value) || value.raw_json().get(raw)) return -1;
    b = static_cast<std::size_t>(k.raw() - 1 - base);
    e = static_cast<std::size_t>(raw.data() + raw.size() - base);
    return 1;
  }
  return 0;
}

// The JSON fragment of paths and their JSON values as nested objects, members in the
// order put() makes them ("a.b": 1, "a.c": 2 -> "a":{"b":1,"c":2}); false where one path
// lies below another's value or crosses it (put() would refuse or replace it then).
bool fragment_of(const std::vector<std::string>& paths, const std::vector<std::string>& values,
                 std::string& out, std::vector<std::string>& tops) {
  struct Tree {
    std::string key;
    std::string value;  // a leaf's JSON text
    bool leaf = false;
    std::vector<Tree> kids;
  } root;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    Tree* t = &root;
    std::string_view rest = paths[i];
    for (;;) {
      const std::size_t dot = rest.find('.');
      const std::string_view part = rest.substr(0, dot);
      auto it = std::find_if(t->kids.begin(), t->kids.end(), [&](const Tree& k) { return k.key == part; });
      if (it == t->kids.end()) {
        t->kids.push_back(Tree{std::string(part), {}, false, {}});
        it = t->kids.end() - 1;
      }
      t = &*it;
      if (dot == std::string_view::npos) {
        if (!t->kids.empty()) return false;
        t->leaf = true;
        t->value = values[i];
        break;
      }
      if (t->leaf) return false;
      rest.remove_prefix(dot + 1);
    }
  }
  std::function<void(const Tree&)> write = [&](const Tree& t) {
    for (std::size_t k = 0; k < t.kids.size(); ++k) {
      if (k) out += ',';
      out += json_string(t.kids[k].key) + ':';
      if (t.kids[k].leaf) {
        out += t.kids[k].value;
      } else {
        out += '{';
        write(t.kids[k]);
        out += '}';
      }
    }
  };
  write(root);
  for (const Tree& k : root.kids) tops.push_back(json_string(k.key) + ':');
  return true;
}

// A processor's option, written nested (`netinfo: {enabled: false}`) or dotted
// (`netinfo.enabled: false`).
YAML::Node option(const YAML::Node& body, const std::string& dotted) {
  if (!body || !body.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  if (const YAML::Node flat = body[dotted]) return flat;
  const std::size_t dot = dotted.find('.');
  if (dot == std::string::npos) return YAML::Node(YAML::NodeType::Undefined);
  return option(body[dotted.substr(0, dot)], dotted.substr(dot + 1));
}

// Each processor's options, as Beats documents them: read, or known and not applied
// (warned), anything else warned as unknown. `when` is every processor's.
struct Options {
  std::string_view processor;
  std::vector<std::string_view> read;
  std::vector<std::pair<std::string_view, std::string_view>> not_applied;  // option, why
};
const Options kOptions[] = {
    {"drop_event", {}, {}},
    {"drop_fields", {"fields", "ignore_missing"}, {}},
    {"include_fields", {"fields"}, {}},
    {"add_fields", {"fields", "target"}, {}},
    {"add_tags", {"tags", "target"}, {}},
    {"add_labels", {"labels"}, {}},
    {"add_locale", {"format"}, {}},
    {"rename",
     {"fields", "ignore_missing"},
     {{"fail_on_error", "a field that cannot be renamed is skipped and counted, the others renamed"}}},
    {"copy_fields",
     {"fields", "ignore_missing"},
     {{"fail_on_error", "a field that cannot be copied is skipped and counted, the others copied"}}},
    {"truncate_fields",
     {"fields", "max_bytes", "max_characters", "ignore_missing"},
     {{"fail_on_error", "a field that cannot be cut is skipped and counted, the others cut"}}},
    {"add_host_metadata",
     {"replace_fields", "netinfo", "geo"},
     {{"cache", "the host's metadata is read once, at start"}}},
    {"add_observer_metadata", {"netinfo", "geo"}, {{"cache", "the host's metadata is read once, at start"}}},
    {"add_network_direction", {"source", "destination", "target", "internal_networks"}, {}},
    {"convert", {"fields", "ignore_missing", "fail_on_error", "mode"}, {{"tag", "no error tag is added"}}},
    {"registered_domain",
     {"field", "target_field", "target_etld_field", "target_subdomain_field", "ignore_missing",
      "ignore_failure"},
     {{"id", "processor ids are not used"}}},
    {"fingerprint", {"fields", "target_field", "method", "encoding", "ignore_missing"}, {}},
    {"community_id", {"fields", "target", "seed"}, {}},
    {"detect_mime_type", {"field", "target"}, {}},
};

// Warns about each option of a processor's body that it does not read.
void check_options(const std::string& name, const YAML::Node& body, const std::string& key,
                   const ProcessorChain::Warn& warn) {
  if (!body || !body.IsMap()) return;
  const auto* o = std::find_if(std::begin(kOptions), std::end(kOptions),
                               [&](const Options& e) { return e.processor == name; });
  if (o == std::end(kOptions)) return;
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string k = it->first.Scalar();
    const std::string head = k.substr(0, k.find('.'));
    if (head == "when" || std::find(o->read.begin(), o->read.end(), head) != o->read.end()) continue;
    if (head == "fail_on_error" && it->second.IsScalar() && it->second.Scalar() == "false")
      continue;  // as tapbeat does
    const auto na = std::find_if(o->not_applied.begin(), o->not_applied.end(),
                                 [&](const auto& e) { return e.first == head; });
    warn(key + "." + k, na != o->not_applied.end()
                            ? "not applied by tapbeat (" + std::string(na->second) + "); ignored"
                            : "unknown option of " + name + "; ignored");
  }
}

}  // namespace

ProcessorChain::ProcessorChain(const YAML::Node& list, const Warn& warn) {
  add(list, "processors", "", warn);
}

void ProcessorChain::add(const YAML::Node& list, const std::string& name_key, const std::string& only_type,
                         const Warn& warn) {
  add_list(list, name_key, only_type, warn, {});
}

void ProcessorChain::add_list(const YAML::Node& list, const std::string& name_key,
                              const std::string& only_type, const Warn& warn, const Gates& gates) {
  if (!list || list.IsNull()) return;
  // `then` and `else` (inside a branch) may hold one processor instead of a list.
  const bool one = list.IsMap() && !gates.empty();
  if (!list.IsSequence() && !one) throw std::invalid_argument(name_key + ": expected a list");
  for (std::size_t i = 0; i < (one ? 1 : list.size()); ++i) {
    const YAML::Node entry = one ? list : list[i];
    const std::string at = one ? name_key : name_key + "[" + std::to_string(i) + "]";
    // Beats' conditional processor: if (a condition), then, else.
    bool conditional = false;
    if (entry.IsMap())
      for (auto it = entry.begin(); it != entry.end(); ++it)
        conditional = conditional || condition_key(it->first.Scalar(), "if");
    if (conditional) {
      auto g = std::make_unique<Step>();
      g->kind = Step::kGate;
      for (auto it = entry.begin(); it != entry.end(); ++it) {
        const std::string k = it->first.Scalar();
        if (!condition_key(k, "if") && k != "then" && k != "else")
          throw std::invalid_argument(at + "." + k + ": unknown key beside if, then and else");
      }
      if (!entry["then"]) throw std::invalid_argument(at + ".then: required with if");
      try {
        g->when = Condition::parse(*gather_condition(entry, "if"));
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(at + ".if: " + e.what());
      }
      if (gate_count_ == UINT16_MAX) throw std::invalid_argument(at + ": too many if processors");
      g->gate = gate_count_++;
      g->gates = gates;
      g->only_type = only_type;
      const uint16_t id = g->gate;
      steps_.push_back(std::move(g));
      for (const bool side : {true, false}) {
        Gates inner = gates;
        inner.emplace_back(id, side);
        add_list(entry[side ? "then" : "else"], at + (side ? ".then" : ".else"), only_type, warn, inner);
      }
      continue;
    }
    // One processor: `name: {...}`, or written with dotted keys as Beats expands them
    // (`drop_event.when.equals.type: flow`, `add_tags.tags: [x]`).
    // (yaml-cpp's assignment of one node to another aliases them: each node is bound once.)
    const std::string first = entry.IsMap() && entry.size() >= 1 ? entry.begin()->first.Scalar() : "";
    const bool dotted = entry.IsMap() && (entry.size() > 1 || first.find('.') != std::string::npos);
    const std::string name = first.substr(0, dotted ? first.find('.') : std::string::npos);
    YAML::Node gathered(YAML::NodeType::Map);
    if (dotted) {
      for (auto it = entry.begin(); it != entry.end(); ++it) {
        const std::string k = it->first.Scalar();
        if (k == name && it->second.IsMap()) {  // `add_tags: {tags: [x]}` beside `add_tags.when...`
          for (auto b = it->second.begin(); b != it->second.end(); ++b)
            gathered[b->first.Scalar()] = YAML::Clone(b->second);
          continue;
        }
        if (k.compare(0, name.size(), name) != 0 || k.size() <= name.size() || k[name.size()] != '.')
          throw std::invalid_argument(at + ": expected one processor, as `- drop_fields: {fields: [...]}`");
        gathered[k.substr(name.size() + 1)] = YAML::Clone(it->second);
      }
    }
    if (name.empty())
      throw std::invalid_argument(at + ": expected one processor, as `- drop_fields: {fields: [...]}`");
    const YAML::Node body = dotted ? gathered : entry.begin()->second;
    const std::string key = at + "." + name;
    if (std::find(std::begin(kNotApplied), std::end(kNotApplied), name) != std::end(kNotApplied)) {
      warn(key, "the " + name + " processor is not applied by tapbeat; ignored");
      continue;
    }
    check_options(name, body, key, warn);
    auto s = std::make_unique<Step>();
    s->gates = gates;
    if (body && !body.IsNull() && !body.IsMap()) throw std::invalid_argument(key + ": expected a mapping");
    std::optional<YAML::Node> when;
    try {
      if (body && body.IsMap()) when = gather_condition(body, "when");
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(key + "." + e.what());
    }
    if (when) {
      const YAML::Node& w = *when;
      try {
        s->when = Condition::parse(w);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(key + ".when: " + e.what());
      }
    }
    if (name == "drop_event") {
      s->kind = Step::kDropEvent;
    } else if (name == "drop_fields" || name == "include_fields") {
      s->kind = name == "drop_fields" ? Step::kDropFields : Step::kIncludeFields;
      s->fields = string_list(body ? body["fields"] : YAML::Node(), key + ".fields");
      s->ignore_missing = flag(body["ignore_missing"], key + ".ignore_missing", false);
    } else if (name == "add_fields") {
      s->kind = Step::kAddFields;
      const YAML::Node f = body ? body["fields"] : YAML::Node();
      if (!f || !f.IsMap()) throw std::invalid_argument(key + ".fields: expected a mapping of fields");
      const std::string target = body["target"] ? body["target"].Scalar() : "fields";
      flatten(f, target.empty() ? "" : target + ".", s->fields, s->values);
    } else if (name == "add_tags") {
      s->kind = Step::kAddTags;
      s->target = body && body["target"] ? body["target"].Scalar() : "tags";
      if (s->target.empty()) throw std::invalid_argument(key + ".target: must not be empty");
      for (const std::string& t : string_list(body ? body["tags"] : YAML::Node(), key + ".tags"))
        s->values.push_back(json_string(t));
    } else if (name == "rename" || name == "copy_fields") {
      s->kind = name == "rename" ? Step::kRename : Step::kCopy;
      for (auto& [from, to] : from_to(body ? body["fields"] : YAML::Node(), key + ".fields")) {
        s->fields.push_back(from);
        s->values.push_back(to);
      }
      s->ignore_missing = flag(body["ignore_missing"], key + ".ignore_missing", false);
    } else if (name == "add_labels") {
      s->kind = Step::kAddFields;
      const YAML::Node l = body ? body["labels"] : YAML::Node();
      if (!l || !l.IsMap()) throw std::invalid_argument(key + ".labels: expected a mapping of labels");
      flatten_labels(l, "", s->fields, s->values);
      s->literal_keys = true;
      s->target = "labels";
    } else if (name == "add_locale") {
      s->kind = Step::kAddFields;
      const std::string format = body && body["format"] ? body["format"].Scalar() : "offset";
      if (format != "offset" && format != "abbreviation")
        throw std::invalid_argument(key + ".format: expected offset or abbreviation");
      s->fields.push_back("event.timezone");
      s->values.push_back(json_string(locale_zone(format == "abbreviation")));
    } else if (name == "add_host_metadata" || name == "add_observer_metadata") {
      s->kind = Step::kAddFields;
      const bool host = name == "add_host_metadata";
      const std::string prefix = host ? "host." : "observer.";
      host_metadata(prefix, true, flag(option(body, "netinfo.enabled"), key + ".netinfo.enabled", true),
                    s->fields, s->values);
      // geo: the place as the user names it (name, location "lat, lon", continent_name,
      // country_iso_code, region_name, region_iso_code, city_name).
      if (const YAML::Node geo = option(body, "geo"); geo && geo.IsMap()) {
        for (auto g = geo.begin(); g != geo.end(); ++g) {
          const std::string k = g->first.Scalar();
          const std::string v = g->second.IsScalar() ? g->second.Scalar() : "";
          if (k == "location") {
            double lat = 0, lon = 0;
            char extra = 0;
            if (std::sscanf(v.c_str(), "%lf , %lf %c", &lat, &lon, &extra) != 2 || lat < -90 || lat > 90 ||
                lon < -180 || lon > 180)
              throw std::invalid_argument(key + ".geo.location: expected \"latitude, longitude\"");
            char text[64];
            std::snprintf(text, sizeof text, "{\"lat\":%.6g,\"lon\":%.6g}", lat, lon);
            s->fields.push_back(prefix + "geo.location");
            s->values.push_back(text);
          } else if (k == "name" || k == "continent_name" || k == "country_iso_code" || k == "region_name" ||
                     k == "region_iso_code" || k == "city_name") {
            s->fields.push_back(prefix + "geo." + k);
            s->values.push_back(json_string(v));
          } else {
            throw std::invalid_argument(key + ".geo." + k + ": unknown field");
          }
        }
      }
      if (host && flag(body["replace_fields"], key + ".replace_fields", true)) s->target = "host";
    } else if (name == "truncate_fields") {
      s->kind = Step::kTruncate;
      s->fields = string_list(body ? body["fields"] : YAML::Node(), key + ".fields");
      s->ignore_missing = flag(body["ignore_missing"], key + ".ignore_missing", false);
      const YAML::Node b = body["max_bytes"], c = body["max_characters"];
      if (!b == !c) throw std::invalid_argument(key + ": set one of max_bytes and max_characters");
      const YAML::Node m = b ? b : c;
      char* end = nullptr;
      const long v = m.IsScalar() ? std::strtol(m.Scalar().c_str(), &end, 10) : -1;
      if (v <= 0 || !end || *end)
        throw std::invalid_argument(key + (b ? ".max_bytes" : ".max_characters") +
                                    ": expected a positive number");
      s->max = static_cast<std::size_t>(v);
      s->characters = !b;
    } else if (name == "add_network_direction") {
      s->kind = Step::kDirection;
      for (const char* k : {"source", "destination", "target"})
        if (!body || !body[k] || !body[k].IsScalar())
          throw std::invalid_argument(key + "." + k + ": required");
      s->fields = {body["source"].Scalar(), body["destination"].Scalar()};
      s->target = body["target"].Scalar();
      try {
        s->internal = NetworkSet(string_list(body["internal_networks"], key + ".internal_networks"));
      } catch (const std::invalid_argument& e) {
        const std::string w = e.what();
        throw std::invalid_argument(w.rfind(key, 0) == 0 ? w : key + ".internal_networks: " + w);
      }
    } else if (name == "registered_domain") {
      // As Beats: the registered domain (public suffix plus one label) of a name,
      // its public suffix and the labels before it where asked.
      s->kind = Step::kRegisteredDomain;
      s->fields = {required_text(body, key, "field")};
      s->target = required_text(body, key, "target_field");
      for (const char* k : {"target_etld_field", "target_subdomain_field"})
        s->values.push_back(body[k] && body[k].IsScalar() ? body[k].Scalar() : "");
      s->ignore_missing = flag(body["ignore_missing"], key + ".ignore_missing", false);
      s->ignore_failure = flag(body["ignore_failure"], key + ".ignore_failure", false);
    } else if (name == "detect_mime_type") {
      // As Beats: the MIME type of a string field's bytes into `target`; a field that
      // is missing, empty or not a string, or bytes of no known type, leave it unset.
      s->kind = Step::kDetectMimeType;
      s->fields = {required_text(body, key, "field")};
      s->target = required_text(body, key, "target");
      const std::string& f = s->fields[0];
      s->key_text = json_string(f.substr(f.rfind('.') + 1)) + ':';
    } else if (name == "fingerprint") {
      // As Beats: a hash of "|field|value" for each field in name order, then "|".
      s->kind = Step::kFingerprint;
      s->fields = string_list(body ? body["fields"] : YAML::Node(), key + ".fields");
      if (s->fields.empty()) throw std::invalid_argument(key + ".fields: list at least one field");
      std::sort(s->fields.begin(), s->fields.end());
      s->fields.erase(std::unique(s->fields.begin(), s->fields.end()), s->fields.end());
      s->target = body["target_field"] && body["target_field"].IsScalar() ? body["target_field"].Scalar()
                                                                          : "fingerprint";
      const std::string method = body["method"] ? body["method"].Scalar() : "sha256";
      static const std::pair<const char*, FingerprintMethod> kMethods[] = {
          {"md5", kMd5},       {"sha1", kSha1},     {"sha256", kSha256},
          {"sha384", kSha384}, {"sha512", kSha512}, {"xxhash", kXxhash}};
      const auto m = std::find_if(std::begin(kMethods), std::end(kMethods),
                                  [&](const auto& e) { return method == e.first; });
      if (m == std::end(kMethods))
        throw std::invalid_argument(key + ".method: expected md5, sha1, sha256, sha384, sha512 or xxhash");
      s->method = m->second;
      const std::string enc = body["encoding"] ? body["encoding"].Scalar() : "hex";
      if (enc != "hex" && enc != "base32" && enc != "base64")
        throw std::invalid_argument(key + ".encoding: expected hex, base32 or base64");
      s->encoding = enc == "hex" ? kHex : enc == "base32" ? kBase32 : kBase64;
      s->ignore_missing = flag(body["ignore_missing"], key + ".ignore_missing", false);
    } else if (name == "community_id") {
      // As Beats: the Community ID of the event's own five-tuple (fields renamed under
      // `fields`), into `target`; an event without them is left as it is.
      s->kind = Step::kCommunityId;
      static const std::pair<const char*, const char*> kFields[] = {{"source_ip", "source.ip"},
                                                                    {"source_port", "source.port"},
                                                                    {"destination_ip", "destination.ip"},
                                                                    {"destination_port", "destination.port"},
                                                                    {"iana_number", "network.iana_number"},
                                                                    {"transport", "network.transport"},
                                                                    {"icmp_type", "icmp.type"},
                                                                    {"icmp_code", "icmp.code"}};
      const YAML::Node f = body ? body["fields"] : YAML::Node();
      if (f && !f.IsNull() && !f.IsMap()) throw std::invalid_argument(key + ".fields: expected a mapping");
      for (const auto& [k, def] : kFields)
        s->fields.push_back(f && f.IsMap() && f[k] && f[k].IsScalar() ? f[k].Scalar() : def);
      s->target = body && body["target"] && body["target"].IsScalar() ? body["target"].Scalar()
                                                                      : "network.community_id";
      if (body && body["seed"]) {
        char* end = nullptr;
        const std::string text = body["seed"].IsScalar() ? body["seed"].Scalar() : "";
        const long v = std::strtol(text.c_str(), &end, 10);
        if (text.empty() || *end || v < 0 || v > 65535)
          throw std::invalid_argument(key + ".seed: expected a number 0-65535");
        s->seed = static_cast<uint16_t>(v);
      }
    } else if (name == "convert") {
      s->kind = Step::kConvert;
      const YAML::Node f = body ? body["fields"] : YAML::Node();
      if (!f || !f.IsSequence() || f.size() == 0)
        throw std::invalid_argument(key + ".fields: expected a list of {from, to, type}");
      for (std::size_t k = 0; k < f.size(); ++k) {
        const std::string at_k = key + ".fields[" + std::to_string(k) + "]";
        if (!f[k].IsMap() || !f[k]["from"] || !f[k]["from"].IsScalar() || f[k]["from"].Scalar().empty())
          throw std::invalid_argument(at_k + ".from: required");
        const std::string to = f[k]["to"] && f[k]["to"].IsScalar() ? f[k]["to"].Scalar() : "";
        ConvertTo type = kToNone;
        if (const YAML::Node t = f[k]["type"]) {
          type = convert_type(t.IsScalar() ? t.Scalar() : "");
          if (type == kToNone)
            throw std::invalid_argument(
                at_k + ".type: expected integer, long, float, double, string, boolean or ip");
        } else if (to.empty()) {
          throw std::invalid_argument(at_k + ": set type, to or both");
        }
        s->fields.push_back(f[k]["from"].Scalar());
        s->values.push_back(to);
        s->types.push_back(type);
      }
      s->ignore_missing = flag(body["ignore_missing"], key + ".ignore_missing", false);
      s->fail_on_error = flag(body["fail_on_error"], key + ".fail_on_error", true);
      const std::string mode = body["mode"] ? body["mode"].Scalar() : "copy";
      if (mode != "copy" && mode != "rename")
        throw std::invalid_argument(key + ".mode: expected copy or rename");
      s->rename_mode = mode == "rename";
    } else {
      throw std::invalid_argument(key + ": unknown processor");
    }
    if (s->kind == Step::kAddFields && !s->literal_keys && !s->fields.empty() &&
        !fragment_of(s->fields, s->values, s->splice, s->tops))
      s->splice.clear(), s->tops.clear();
    if (!s->splice.empty() && !s->target.empty()) {
      // The object it replaces: a top-level one is cut out of the text; one below
      // another must be absent, as the others.
      const std::string top = json_string(s->target.substr(0, s->target.find('.'))) + ':';
      if (s->target.find('.') == std::string::npos)
        s->replaces = s->target;
      else if (std::find(s->tops.begin(), s->tops.end(), top) == s->tops.end())
        s->tops.push_back(top);
    }
    s->only_type = only_type;
    steps_.push_back(std::move(s));
  }
}

void ProcessorChain::add_index(const std::string& format, const std::string& name_key,
                               const std::string& only_type) {
  auto s = std::make_unique<Step>();
  s->kind = Step::kFormattedIndex;
  try {
    s->format = FormatString(format);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(name_key + ": " + e.what());
  }
  s->only_type = only_type;
  steps_.push_back(std::move(s));
}

ProcessorChain::ProcessorChain() = default;
ProcessorChain::~ProcessorChain() = default;

ProcessorState::ProcessorState()
    : arena_buf_(1 << 20), arena_(arena_buf_.data(), arena_buf_.size()), out_(1 << 16) {}
ProcessorState::~ProcessorState() { EVP_MD_CTX_free(md_); }

ProcessorChain::Result ProcessorChain::apply(std::string_view event, ProcessorState& st,
                                             uint64_t& errors) const {
  st.arena_.release();
  Res* r = &st.arena_;
  std::vector<char>& buf = st.out_;
  st.view_.reset(event);
  Node root(r);
  // The event's current text: `event` as it came, a spliced copy in out_ (spliced), or
  // the tree (built), written out on demand.
  bool built = false, changed = false, view_current = true, spliced = false;
  auto current = [&] { return spliced ? st.text() : event; };
  auto text = [&] {
    for (;;) {
      JsonWriter w(buf.data(), buf.size());
      write(root, w);
      if (!w.overflow()) {
        st.out_len_ = w.size();
        return;
      }
      buf.resize(buf.size() * 2);
    }
  };
  // The view (for conditions, the type, an index, the tree) made to read the current text.
  auto refresh_view = [&] {
    if (view_current) return;
    if (built) text();
    st.view_.reset(st.text());
    view_current = true;
  };
  if (gate_count_) st.gates_.assign(gate_count_, 0);
  for (const auto& step : steps_) {
    const Step& s = *step;
    bool open = true;
    for (const auto& [g, side] : s.gates) open = open && (st.gates_[g] != 0) == side;
    if (!open) continue;
    if (s.when || !s.only_type.empty()) {
      refresh_view();
      if (!s.only_type.empty() && (!st.view_.get("/type", st.type_) || st.type_ != s.only_type)) continue;
      if (s.kind == Step::kGate) {
        st.gates_[s.gate] = s.when->match(st.view_) ? 1 : 0;
        continue;
      }
      if (s.when && !s.when->match(st.view_)) continue;
    }
    if (s.kind == Step::kDropEvent) return Result::kDrop;
    // Fields added to an event that has none of their top-level keys: spliced into its
    // text, with no tree (most events, with add_host_metadata and the like on each).
    if (!built && !s.splice.empty()) {
      std::string_view cur = current();
      std::size_t close = cur.rfind('}');
      bool absent = close != std::string_view::npos && !cur.empty() && cur.front() == '{';
      bool cut = false;
      std::size_t cut_from = 0, cut_to = 0;
      for (const std::string& t : s.tops) {
        if (!absent || !memmem(cur.data(), cur.size(), t.data(), t.size())) continue;
        // The key is in the text: at the top level, the one it replaces is cut out;
        // any other sends the event to the tree; below the top level it is no matter.
        std::size_t b = 0, e = 0;
        const int where =
            top_member(cur, std::string_view(t).substr(1, t.size() - 3), st.padded_, st.ondemand_, b, e);
        if (where < 0 || (where > 0 && (cut || s.replaces.empty() || json_string(s.replaces) + ':' != t)))
          absent = false;
        else if (where > 0)
          cut = true, cut_from = b, cut_to = e;
      }
      if (absent) {
        std::string& next = st.work_;
        if (cut) {
          // The member and one comma beside it.
          std::size_t from = cut_from, to = cut_to;
          std::size_t before = cur.find_last_not_of(" \t\r\n", from - 1);
          const std::size_t after = cur.find_first_not_of(" \t\r\n", to);
          if (cur[before] == ',')
            from = before;
          else if (after != std::string_view::npos && cur[after] == ',')
            to = after + 1;
          next.assign(cur.substr(0, from));
          next.append(cur.substr(to, close - to));
        } else {
          next.assign(cur.substr(0, close));
        }
        if (next.find_first_not_of(" \t\r\n", 1) != std::string::npos) next += ',';  // members before it
        next += s.splice;
        next += '}';
        if (buf.size() < next.size()) buf.resize(std::max(next.size(), buf.size() * 2));
        std::memcpy(buf.data(), next.data(), next.size());
        st.out_len_ = next.size();
        spliced = changed = true;
        view_current = false;
        continue;
      }
    }
    // The index is rendered on the event as it stands (a field it names may be missing).
    if (s.kind == Step::kFormattedIndex) {
      refresh_view();
      st.work_.clear();
      if (!s.format.render(st.view_, st.work_) || st.work_.empty()) {
        ++errors;
        continue;
      }
    }
    // A field whose last key is nowhere in the text is missing: nothing to tell, no tree.
    if (!built && !s.key_text.empty()) {
      const std::string_view cur = current();
      if (!memmem(cur.data(), cur.size(), s.key_text.data(), s.key_text.size())) continue;
    }
    if (!built) {
      refresh_view();  // the spliced text, if any
      simdjson::dom::element doc;
      if (!st.view_.document(doc)) return Result::kKeep;  // not JSON: left as written
      build(doc, root, r, st.scratch_);
      built = true;
    }
    bool did = false;
    // A value put at path: the event changed, or a part on the way is not an object.
    auto place = [&](std::string_view path, Node&& v) {
      if (put(root, path, std::move(v), r))
        did = true;
      else
        ++errors;
    };
    switch (s.kind) {
      case Step::kGate:
        break;  // handled above
      case Step::kCommunityId: {
        // fields: source ip, source port, destination ip, destination port, iana number,
        // transport, icmp type, icmp code.
        const Node* sip = find(root, s.fields[0]);
        const Node* dip = find(root, s.fields[2]);
        IpBytes a{}, b{};
        uint8_t va = 0, vb = 0;
        if (!sip || !dip || !ip_value(*sip, a, va) || !ip_value(*dip, b, vb) || va != vb) break;
        uint32_t proto = 0;
        if (!uint_value(find(root, s.fields[4]), 255, proto)) {
          std::string_view name;
          if (string_field(root, s.fields[5], st.aux_, name) != StringField::kString) break;
          const int n = transport_number(name);
          if (n < 0) break;
          proto = static_cast<uint32_t>(n);
        }
        uint32_t sport = 0, dport = 0;
        if (proto == 6 || proto == 17 || proto == 132) {
          if (!uint_value(find(root, s.fields[1]), 65535, sport) ||
              !uint_value(find(root, s.fields[3]), 65535, dport))
            break;
        } else if (proto == 1 || proto == 58) {
          if (!uint_value(find(root, s.fields[6]), 255, sport) ||
              !uint_value(find(root, s.fields[7]), 255, dport))
            break;
        }
        char id[kCommunityIdLen];
        community_id_v1(a, b, va, static_cast<uint8_t>(proto), static_cast<uint16_t>(sport),
                        static_cast<uint16_t>(dport), s.seed, id);
        Node v(r);
        v.text.push_back('"');
        v.text.append(id, sizeof id);
        v.text.push_back('"');
        place(s.target, std::move(v));
        break;
      }
      case Step::kRegisteredDomain: {
        std::string_view name;
        if (const StringField got = string_field(root, s.fields[0], st.aux_, name);
            got != StringField::kString) {
          if (got == StringField::kMissing ? !s.ignore_missing : !s.ignore_failure) ++errors;
          break;
        }
        std::string& lower = st.work_;
        lower.assign(name);
        while (!lower.empty() && lower.back() == '.') lower.pop_back();
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        static const PublicSuffixList kList = PublicSuffixList::bundled();
        const PublicSuffixList::Split sp = kList.split(lower);
        if (sp.registered.empty()) {
          if (!s.ignore_failure) ++errors;  // a public suffix itself, or no name
          break;
        }
        const std::string_view parts[] = {sp.registered, sp.suffix, sp.subdomain};
        const std::string* targets[] = {&s.target, &s.values[0], &s.values[1]};
        for (std::size_t i = 0; i < 3; ++i) {
          if (targets[i]->empty() || parts[i].empty()) continue;
          Node v(r);
          scalar_text(st.scratch_, v.text, [&](JsonWriter& w) { w.string(parts[i]); });
          place(*targets[i], std::move(v));
        }
        break;
      }
      case Step::kFormattedIndex: {
        Node v(r);
        scalar_text(st.scratch_, v.text, [&](JsonWriter& w) { w.string(st.work_); });
        place("@metadata.raw_index", std::move(v));
        break;
      }
      case Step::kDetectMimeType: {
        std::string_view value;
        if (string_field(root, s.fields[0], st.aux_, value) != StringField::kString || value.empty()) break;
        st.work_.assign(value);  // the JSON check below parses with the parser value lies in
        const std::string_view type = detect_mime_type(st.work_, st.aux_);
        if (type.empty()) break;
        Node v(r);
        scalar_text(st.scratch_, v.text, [&](JsonWriter& w) { w.string(type); });
        place(s.target, std::move(v));
        break;
      }
      case Step::kFingerprint: {
        std::string& text = st.work_;
        text.clear();
        bool ok = true;
        for (const std::string& f : s.fields) {
          const Node* n = find(root, f);
          if (!n) {
            ok = ok && s.ignore_missing;
            continue;
          }
          if (n->kind != Node::kScalar) {
            ok = false;  // Beats refuses objects and lists
            break;
          }
          std::string_view v = n->text;  // numbers and booleans as written
          if (!v.empty() && v.front() == '"' && !string_value(n->text, st.aux_, v)) ok = false;
          if (v == "null") v = "<nil>";  // Go's %v of nil
          text.append("|").append(f).append("|").append(v);
        }
        if (!ok) {
          ++errors;
          break;
        }
        text.push_back('|');
        uint8_t digest[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        if (s.method == kXxhash) {
          XXH64_canonical_t c;
          XXH64_canonicalFromHash(&c, XXH64(text.data(), text.size(), 0));
          std::memcpy(digest, c.digest, sizeof c.digest);
          len = sizeof c.digest;
        } else {
          static const EVP_MD* const kMds[] = {EVP_md5(), EVP_sha1(), EVP_sha256(), EVP_sha384(),
                                               EVP_sha512()};
          if (!st.md_) st.md_ = EVP_MD_CTX_new();
          if (!st.md_ || !EVP_DigestInit_ex(st.md_, kMds[s.method], nullptr) ||
              !EVP_DigestUpdate(st.md_, text.data(), text.size()) ||
              !EVP_DigestFinal_ex(st.md_, digest, &len)) {
            ++errors;
            break;
          }
        }
        Node v(r);
        v.text.push_back('"');
        char enc[EVP_MAX_MD_SIZE * 2];
        if (s.encoding == kHex) {
          hex_encode(digest, len, enc);
          v.text.append(enc, 2 * std::size_t{len});
        } else if (s.encoding == kBase64) {
          v.text.append(enc, base64_encode(digest, len, enc));
        } else {
          base32_append(digest, len, v.text);
        }
        v.text.push_back('"');
        place(s.target, std::move(v));
        break;
      }
      case Step::kDropFields:
        for (const std::string& f : s.fields) {
          if (protected_field(f)) continue;
          if (remove(root, f))
            did = true;
          else if (!s.ignore_missing)
            ++errors;
        }
        break;
      case Step::kIncludeFields: {
        Node kept(r);
        kept.kind = Node::kObject;
        auto keep = [&](std::string_view f) {
          if (Node* n = find(root, f)) put(kept, f, std::move(*n), r);
        };
        for (std::string_view f : {"@timestamp", "@metadata", "type"}) keep(f);
        for (const std::string& f : s.fields) keep(f);
        root = std::move(kept);
        did = true;
        break;
      }
      case Step::kAddFields: {
        if (!s.literal_keys && !s.target.empty()) remove(root, s.target);  // add_host_metadata replaces host
        Node* labels = s.literal_keys ? find_or_make(root, s.target, Node::kObject, r) : nullptr;
        if (s.literal_keys && !labels) {
          ++errors;
          break;
        }
        for (std::size_t i = 0; i < s.fields.size(); ++i) {
          Node n(r);
          n.text.assign(s.values[i]);  // written as it is (a scalar or a list)
          if (labels) {
            if (Member* m = member(*labels, s.fields[i])) {
              m->value = std::move(n);
            } else {
              labels->members.emplace_back(s.fields[i], r);
              labels->members.back().value = std::move(n);
            }
            did = true;
          } else if (put(root, s.fields[i], std::move(n), r)) {
            did = true;
          } else {
            ++errors;
          }
        }
        break;
      }
      case Step::kTruncate:
        for (const std::string& f : s.fields) {
          std::string_view text;
          const StringField got = string_field(root, f, st.aux_, text);
          if (got != StringField::kString) {
            if (got == StringField::kNotString || !s.ignore_missing) ++errors;  // only strings are cut
            continue;
          }
          Node* n = find(root, f);
          const std::size_t cut =
              s.characters ? utf8_prefix_chars(text, s.max) : utf8_prefix_bytes(text, s.max);
          if (cut >= text.size()) continue;
          scalar_text(st.scratch_, n->text, [&](JsonWriter& w) { w.string(text.substr(0, cut)); });
          add_flag(root, "truncated", r);
          did = true;
        }
        break;
      case Step::kDirection: {
        const Node* src = find(root, s.fields[0]);
        const Node* dst = find(root, s.fields[1]);
        IpBytes a{}, b{};
        uint8_t va = 0, vb = 0;
        if (!src || !dst || !ip_value(*src, a, va) || !ip_value(*dst, b, vb) || va != vb) {
          ++errors;
          break;
        }
        const bool si = s.internal.contains(a, va), di = s.internal.contains(b, vb);
        Node n(r);
        n.text.assign(si && di ? "\"internal\"" : si ? "\"outbound\"" : di ? "\"inbound\"" : "\"external\"");
        place(s.target, std::move(n));
        break;
      }
      case Step::kAddTags: {
        Node* tags = find_or_make(root, s.target, Node::kArray, r);
        if (!tags) {
          ++errors;
          break;
        }
        for (const std::string& t : s.values) {
          tags->items.emplace_back(r);
          tags->items.back().text.assign(t);
        }
        did = true;
        break;
      }
      case Step::kRename:
      case Step::kCopy:
        for (std::size_t i = 0; i < s.fields.size(); ++i) {
          Node* from = find(root, s.fields[i]);
          if (!from) {
            if (!s.ignore_missing) ++errors;
            continue;
          }
          if (find(root, s.values[i])) {  // Beats refuses to overwrite
            ++errors;
            continue;
          }
          Node value(r);
          if (s.kind == Step::kCopy) {
            clone(*from, value, r);
          } else {
            value = std::move(*from);
            remove(root, s.fields[i]);
          }
          place(s.values[i], std::move(value));
        }
        break;
      case Step::kConvert: {
        // Every value converted first; with fail_on_error one failure leaves the event
        // as this processor found it (as Beats).
        std::pmr::vector<Node> converted(r);
        std::pmr::vector<uint8_t> skip(r);
        bool failed = false;
        for (std::size_t i = 0; i < s.fields.size() && !failed; ++i) {
          converted.emplace_back(r);
          skip.push_back(0);
          const Node* from = find(root, s.fields[i]);
          if (!from && s.ignore_missing) {
            skip.back() = 1;
            continue;
          }
          if (!from || !convert_value(*from, static_cast<ConvertTo>(s.types[i]), st.aux_, st.scratch_,
                                      converted.back().text)) {
            ++errors;
            if (s.fail_on_error)
              failed = true;
            else
              skip.back() = 1;
          }
        }
        if (failed) break;
        Node saved(r);
        const bool undo = s.fail_on_error && s.fields.size() > 1;
        if (undo) clone(root, saved, r);
        for (std::size_t i = 0; i < s.fields.size(); ++i) {
          if (skip[i]) continue;
          const std::string& to = s.values[i].empty() ? s.fields[i] : s.values[i];
          if (!put(root, to, std::move(converted[i]), r)) {
            ++errors;
            if (s.fail_on_error) {
              failed = true;
              break;
            }
            continue;
          }
          if (s.rename_mode && !s.values[i].empty() && s.values[i] != s.fields[i]) remove(root, s.fields[i]);
          did = true;
        }
        if (failed && undo) root = std::move(saved);
        if (failed) did = undo || did;
        break;
      }
      case Step::kDropEvent:
        break;
    }
    if (did) changed = true, view_current = false;
  }
  if (!changed) return Result::kKeep;
  if (built) text();
  return Result::kChanged;
}

}  // namespace tapbeat
