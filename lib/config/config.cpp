#include "config/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "config/keystore.hpp"
#include "decode/registry.hpp"
#include "event/json_writer.hpp"
#include "event/yaml_json.hpp"
#include "flow/flow_table.hpp"

namespace tapbeat {

ConfigError::ConfigError(std::string file, std::string key, std::string reason)
    : std::runtime_error(file + ": " + (key.empty() ? "" : key + ": ") + reason),
      file_(std::move(file)),
      key_(std::move(key)),
      reason_(std::move(reason)) {}

namespace {

// ---- schema ---------------------------------------------------------------

using Kind = OptionKind;
using Spec = OptionSpec;
using Specs = std::vector<Spec>;

// Options of a protocol entry: the common ones and the protocol's own, from its
// descriptor; null when no protocol has that name.
const DecoderDescriptor* protocol_descriptor(const std::string& type) {
  const int i = decoder_index(type);
  return i < 0 ? nullptr : &decoder_registry()[i];
}

const Specs kInterfaces = {
    {"device", Kind::kString},
    {"type", Kind::kString},
    {"snaplen", Kind::kUint},
    {"buffer_size_mb", Kind::kUint},
    {"bpf_filter", Kind::kString},
    {"with_vlans", Kind::kBool},
    {"internal_networks", Kind::kStringList},
    {"file", Kind::kString},
    {"auto_promisc_mode", Kind::kBool},
    {"ignore_outgoing", Kind::kBool},
    {"fanout_group", Kind::kUint},
    {"poll_default_route", Kind::kDuration},
    {"metrics_interval", Kind::kDuration},
    {"loop", Kind::kUint},
    {"topspeed", Kind::kBool},
    {"dumpfile", Kind::kString},
    {"id", Kind::kString},
};

const Specs kFlows = {
    {"enabled", Kind::kBool},    {"timeout", Kind::kDuration},
    {"period", Kind::kDuration}, {"enable_delta_flow_reports", Kind::kBool},
    {"fields", Kind::kMap},      {"fields_under_root", Kind::kBool},
    {"keep_null", Kind::kBool},  {"index", Kind::kString},
    {"processors", Kind::kAny},  {"tags", Kind::kStringList},
};

const Specs kFlowTable = {{"max_flows", Kind::kUint}};
const Specs kFragments = {
    {"max_sets", Kind::kUint}, {"max_bytes", Kind::kUint}, {"timeout", Kind::kDuration}};
const Specs kEvents = {{"chunks", Kind::kUint}, {"chunk_kb", Kind::kUint}};

const Specs kDpdkPort = {
    {"device", Kind::kString}, {"rx_queues", Kind::kUint}, {"rx_descriptors", Kind::kUint}};
const Specs kDpdk = {
    {"eal_args", Kind::kStringList},
    {"lcores", Kind::kString},
    {"memory_channels", Kind::kUint},
    {"no_huge", Kind::kBool},
    {"no_pci", Kind::kBool},
    {"memory_mb", Kind::kUint},
    {"file_prefix", Kind::kString},
    {"ports", Kind::kAny},
    {"mempool_size", Kind::kUint},
    {"mbuf_cache", Kind::kUint},
    {"burst_size", Kind::kUint},
    {"promiscuous", Kind::kBool},
    {"mtu", Kind::kUint},
    {"idle", Kind::kString},
    {"exit_on_idle", Kind::kDuration},
};

const Specs kTapbeat = {
    {"interfaces", Kind::kAny},  // mapping, or a list of one mapping; checked below
    {"flows", Kind::kSection, &kFlows},
    {"protocols", Kind::kAny},  // list or dictionary form; checked below
    {"procs", Kind::kAny},
    {"ignore_outgoing", Kind::kBool},
    {"shutdown_timeout", Kind::kDuration},
    {"workers", Kind::kUint},
    {"stats_period", Kind::kDuration},
    {"flow_table", Kind::kSection, &kFlowTable},
    {"fragments", Kind::kSection, &kFragments},
    {"ring_mb", Kind::kUint},
    {"events", Kind::kSection, &kEvents},
    {"progress", Kind::kBool},
    {"detect", Kind::kString},
    {"dpdk", Kind::kSection, &kDpdk},
    {"npcap", Kind::kAny},
    {"overwrite_pipelines", Kind::kBool},
    {"user", Kind::kString},
};

const Specs kConsole = {
    {"enabled", Kind::kBool}, {"pretty", Kind::kBool}, {"codec", Kind::kAny}, {"bulk_max_size", Kind::kInt}};
const Specs kFile = {
    {"enabled", Kind::kBool},           {"path", Kind::kString},
    {"filename", Kind::kString},        {"rotate_every_kb", Kind::kUint},
    {"number_of_files", Kind::kUint},   {"permissions", Kind::kAny},
    {"rotate_on_startup", Kind::kBool}, {"codec", Kind::kAny},
};
const Specs kBackoff = {{"init", Kind::kDuration}, {"max", Kind::kDuration}};
const Specs kSasl = {{"mechanism", Kind::kString}};
const Specs kKafka = {
    {"enabled", Kind::kBool},
    {"hosts", Kind::kStringList},
    {"topic", Kind::kString},
    {"topics", Kind::kAny},
    {"key", Kind::kString},
    {"partition", Kind::kMap},
    {"required_acks", Kind::kInt},
    {"compression", Kind::kString},
    {"compression_level", Kind::kInt},
    {"max_message_bytes", Kind::kUint},
    {"client_id", Kind::kString},
    {"bulk_max_size", Kind::kInt},
    {"bulk_flush_frequency", Kind::kDuration},
    {"timeout", Kind::kDuration},
    {"broker_timeout", Kind::kDuration},
    {"max_retries", Kind::kInt},
    {"backoff", Kind::kSection, &kBackoff},
    {"headers", Kind::kAny},
    {"ssl", Kind::kMap},
    {"username", Kind::kString},
    {"password", Kind::kString},
    {"sasl", Kind::kSection, &kSasl},
    {"version", Kind::kString},
    {"metadata", Kind::kMap},
    {"keep_alive", Kind::kDuration},
    {"channel_buffer_size", Kind::kInt},
    {"codec", Kind::kAny},
    {"worker", Kind::kInt},
    {"librdkafka", Kind::kMap},
    {"idempotent", Kind::kBool},
    {"record_timestamp", Kind::kString},
};
const Specs kElasticsearch = {
    {"enabled", Kind::kBool},
    {"hosts", Kind::kStringList},
    {"protocol", Kind::kString},
    {"path", Kind::kString},
    {"username", Kind::kString},
    {"password", Kind::kString},
    {"api_key", Kind::kString},
    {"index", Kind::kString},
    {"indices", Kind::kAny},
    {"pipeline", Kind::kString},
    {"pipelines", Kind::kAny},
    {"ssl", Kind::kMap},
    {"bulk_max_size", Kind::kInt},
    {"worker", Kind::kInt},
    {"compression_level", Kind::kInt},
    {"timeout", Kind::kDuration},
    {"max_retries", Kind::kInt},
    {"backoff", Kind::kSection, &kBackoff},
    {"headers", Kind::kMap},
    {"parameters", Kind::kMap},
    {"proxy_url", Kind::kString},
    {"proxy_disable", Kind::kBool},
    {"loadbalance", Kind::kBool},
    {"allow_older_versions", Kind::kBool},
    {"escape_html", Kind::kBool},
    {"preset", Kind::kString},
    {"idle_connection_timeout", Kind::kDuration},
};
const Specs kLogstash = {
    {"enabled", Kind::kBool},
    {"hosts", Kind::kStringList},
    {"loadbalance", Kind::kBool},
    {"index", Kind::kString},
    {"ssl", Kind::kMap},
    {"timeout", Kind::kDuration},
    {"worker", Kind::kInt},
    {"workers", Kind::kInt},
    {"compression_level", Kind::kInt},
    {"bulk_max_size", Kind::kInt},
    {"ttl", Kind::kDuration},
    {"pipelining", Kind::kInt},
    {"slow_start", Kind::kBool},
    {"max_retries", Kind::kInt},
    {"backoff", Kind::kSection, &kBackoff},
    {"proxy_url", Kind::kString},
    {"proxy_use_local_resolver", Kind::kBool},
    {"escape_html", Kind::kBool},
};
const Specs kRedis = {
    {"enabled", Kind::kBool},
    {"hosts", Kind::kStringList},
    {"key", Kind::kString},
    {"keys", Kind::kAny},
    {"index", Kind::kString},
    {"datatype", Kind::kString},
    {"db", Kind::kInt},
    {"password", Kind::kString},
    {"loadbalance", Kind::kBool},
    {"worker", Kind::kInt},
    {"timeout", Kind::kDuration},
    {"max_retries", Kind::kInt},
    {"backoff", Kind::kSection, &kBackoff},
    {"bulk_max_size", Kind::kInt},
    {"ssl", Kind::kMap},
    {"proxy_url", Kind::kString},
    {"proxy_use_local_resolver", Kind::kBool},
    {"escape_html", Kind::kBool},
    {"codec", Kind::kMap},
};
const Specs kOutput = {
    {"console", Kind::kSection, &kConsole},   {"file", Kind::kSection, &kFile},
    {"kafka", Kind::kSection, &kKafka},       {"elasticsearch", Kind::kSection, &kElasticsearch},
    {"logstash", Kind::kSection, &kLogstash}, {"redis", Kind::kSection, &kRedis},
};

const Specs kTimestamp = {{"precision", Kind::kString}};
const Specs kQueueFlush = {{"min_events", Kind::kUint}, {"timeout", Kind::kDuration}};
const Specs kQueueMem = {{"events", Kind::kUint}, {"flush", Kind::kSection, &kQueueFlush}};
const Specs kQueueDisk = {
    {"path", Kind::kString},
    {"max_size", Kind::kAny},
    {"segment_size", Kind::kAny},
    {"read_ahead", Kind::kUint},
    {"write_ahead", Kind::kUint},
    {"retry_interval", Kind::kDuration},
    {"max_retry_interval", Kind::kDuration},
};
const Specs kQueue = {{"mem", Kind::kSection, &kQueueMem}, {"disk", Kind::kSection, &kQueueDisk}};

// Top-level keys of any Beat that tapbeat accepts; those it does not act on are
// reported once as a warning where that matters (processors).
const Specs kKeystore = {{"path", Kind::kString}};
const Specs kHttp = {{"enabled", Kind::kBool},      {"host", Kind::kString},    {"port", Kind::kPort},
                     {"allow_remote", Kind::kBool}, {"named_pipe", Kind::kAny}, {"pprof", Kind::kAny}};

const Specs kRoot = {
    {"tapbeat", Kind::kSection, &kTapbeat},
    {"keystore", Kind::kSection, &kKeystore},
    {"output", Kind::kSection, &kOutput},
    {"name", Kind::kString},
    {"tags", Kind::kStringList},
    {"fields", Kind::kMap},
    {"fields_under_root", Kind::kBool},
    {"processors", Kind::kAny},
    {"logging", Kind::kAny},
    {"path", Kind::kAny},
    {"setup", Kind::kAny},
    {"monitoring", Kind::kAny},
    {"http", Kind::kSection, &kHttp},
    {"queue", Kind::kSection, &kQueue},
    {"max_procs", Kind::kInt},
    {"seccomp", Kind::kAny},
    {"cloud", Kind::kAny},
    {"xpack", Kind::kAny},
    {"instrumentation", Kind::kAny},
    {"features", Kind::kAny},
    {"timestamp", Kind::kSection, &kTimestamp},
};

// ---- tree normalisation ---------------------------------------------------

// Maps whose keys are data, not settings: dots there are not paths.
bool is_verbatim_map(const std::string& key) {
  // processors and `when` conditions name event fields by their dotted names.
  return key == "librdkafka" || key == "fields" || key == "headers" || key == "parameters" ||
         key == "metadata" || key == "processors" || key == "when";
}

void deep_merge(YAML::Node dst, const YAML::Node& src) {
  for (auto it = src.begin(); it != src.end(); ++it) {
    const std::string k = it->first.as<std::string>();
    YAML::Node existing = dst[k];
    if (existing.IsMap() && it->second.IsMap()) {
      deep_merge(existing, it->second);
    } else {
      dst[k] = it->second;
    }
  }
}

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == '.') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

// Marks a scalar whose text came from a ${NAME} reference: it may be a secret
// (kSecretTag: a keystore entry went into it).
constexpr const char* kResolvedTag = "!tapbeat-resolved";
constexpr const char* kSecretTag = "!tapbeat-secret";

// ${NAME}, ${NAME:default} and ${NAME:?message} in a scalar, as Beats resolves
// them: a setting of the file by its dotted name (${path.data}; path.data is
// "data" when unset), else the keystore, else the environment; a default may hold another
// reference; "$$" is a literal '$'. A scalar that is one reference alone and
// resolves to a flow list or mapping ("[a, b]") takes that shape, as a list of
// hosts from one variable does in Beats. Errors name the key, never a value: a
// resolved scalar carries kResolvedTag, and describe() does not show it.
class References {
 public:
  References(std::string source, std::string keystore_path, YAML::Node doc = YAML::Node(),
             std::vector<std::string> overrides = {})
      : source_(std::move(source)),
        keystore_path_(std::move(keystore_path)),
        doc_(YAML::Clone(doc)),
        overrides_(std::move(overrides)) {}

  YAML::Node scalar(const YAML::Node& n, const std::string& key) {
    const std::string& text = n.Scalar();
    std::size_t end = 0;
    const bool one =
        text.size() > 3 && text.compare(0, 2, "${") == 0 && closing(text, 2, end) && end == text.size() - 1;
    used_keystore_ = false;
    const std::string v = resolve(text, key, 0);
    if (one && !v.empty() && (v.front() == '[' || v.front() == '{')) {
      try {
        return YAML::Load(v);
      } catch (const YAML::Exception&) {
      }
    }
    YAML::Node out(v);
    out.SetTag(v == text ? n.Tag() : used_keystore_ ? kSecretTag : kResolvedTag);  // untouched: no "${", "$$"
    return out;
  }

 private:
  // The '}' closing the reference whose name starts at `from` (nested ones skipped).
  static bool closing(const std::string& t, std::size_t from, std::size_t& end) {
    int open = 1;
    for (std::size_t i = from; i < t.size(); ++i) {
      if (t.compare(i, 2, "${") == 0) {
        ++open;
        ++i;
      } else if (t[i] == '}' && --open == 0) {
        end = i;
        return true;
      }
    }
    return false;
  }

  std::string resolve(const std::string& t, const std::string& key, int depth) {
    if (depth > 8) throw ConfigError(source_, key, "references nest deeper than 8 levels");
    std::string out;
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (t.compare(i, 2, "$$") == 0) {
        out += '$';
        ++i;
        continue;
      }
      if (t.compare(i, 2, "${") != 0) {
        out += t[i];
        continue;
      }
      std::size_t end = 0;
      if (!closing(t, i + 2, end)) throw ConfigError(source_, key, "a ${ without its closing }");
      const std::string inner = t.substr(i + 2, end - i - 2);
      const std::size_t colon = inner.find(':');
      const std::string name = inner.substr(0, colon);
      if (name.empty()) throw ConfigError(source_, key, "${} names no variable");
      if (const auto v = setting(name, key, depth)) {
        out += *v;
      } else if (const auto v = lookup(name)) {
        out += *v;
      } else if (colon == std::string::npos) {
        throw ConfigError(source_, key,
                          "${" + name + "} is neither in the keystore (" + keystore_path_ +
                              ") nor in the environment; give it a default with ${" + name + ":value}");
      } else if (inner.compare(colon + 1, 1, "?") == 0) {
        throw ConfigError(source_, key, "${" + name + "}: " + inner.substr(colon + 2));
      } else {
        out += resolve(inner.substr(colon + 1), key, depth + 1);
      }
      i = end;
    }
    return out;
  }

  // A scalar setting of the file by its dotted name, nested or written flat
  // ("path.data: x" or "path: {data: x}"), itself resolved.
  std::optional<std::string> setting(const std::string& name, const std::string& key, int depth) {
    if (name.find('.') == std::string::npos) return std::nullopt;
    // -E (and the path flags) come before the file, as Beats merges them before resolving;
    // the last one given wins.
    for (auto o = overrides_.rbegin(); o != overrides_.rend(); ++o) {
      const std::size_t eq = o->find('=');
      if (eq == std::string::npos || o->compare(0, eq, name) != 0 || eq != name.size()) continue;
      try {
        const YAML::Node v = YAML::Load(o->substr(eq + 1));
        if (v.IsScalar()) return resolve(v.Scalar(), key, depth + 1);
      } catch (const YAML::Exception&) {
      }
      return resolve(o->substr(eq + 1), key, depth + 1);
    }
    std::vector<std::string> parts = split_dots(name);
    for (std::size_t flat = parts.size(); doc_ && doc_.IsMap() && flat >= 1; --flat) {
      // The first `flat` parts as one key, the rest nested below it.
      std::string head;
      for (std::size_t i = 0; i < flat; ++i) head += (i ? "." : "") + parts[i];
      if (const auto text = scalar_at(doc_, head, parts, flat)) return resolve(*text, key, depth + 1);
    }
    // Beats' defaults: <path.home>/data, <path.home>/logs and path.config = path.home where
    // path.home is set, else beside the working directory.
    if (name == "path.data" || name == "path.logs" || name == "path.config") {
      const auto home = setting("path.home", key, depth);
      const std::string leaf = name == "path.data" ? "data" : name == "path.logs" ? "logs" : "";
      if (home) return leaf.empty() ? *home : *home + "/" + leaf;
      return leaf.empty() ? std::string(".") : leaf;
    }
    return std::nullopt;
  }

  // The scalar at node[head][parts[i]]... (i from `from`); yaml-cpp's nodes for
  // missing keys are neither assigned nor reset, hence the recursion. Const
  // lookups: a missing key is never added.
  static std::optional<std::string> scalar_at(const YAML::Node& node, const std::string& head,
                                              const std::vector<std::string>& parts, std::size_t from) {
    if (!node.IsMap()) return std::nullopt;
    const YAML::Node child = node[head];
    if (!child) return std::nullopt;
    if (from == parts.size())
      return child.IsScalar() ? std::optional<std::string>(child.Scalar()) : std::nullopt;
    return scalar_at(child, parts[from], parts, from + 1);
  }

  std::optional<std::string> lookup(const std::string& name) {
    if (!keystore_ && !keystore_path_.empty()) {
      try {
        keystore_ = std::make_unique<Keystore>(Keystore::open(keystore_path_));
      } catch (const KeystoreError& e) {
        throw ConfigError(source_, "keystore.path", e.what());
      }
    }
    if (keystore_)
      if (auto v = keystore_->get(name)) {
        used_keystore_ = true;
        return v;
      }
    if (const char* e = std::getenv(name.c_str())) return std::string(e);
    return std::nullopt;
  }

  std::string source_, keystore_path_;
  YAML::Node doc_;
  std::vector<std::string> overrides_;  // -E key=value
  std::unique_ptr<Keystore> keystore_;
  bool used_keystore_ = false;
};

// What expand() may still produce: values left and nesting depth. An alias repeated
// inside aliases (a "billion laughs" document) meets the first bound, not the memory's.
struct ExpandBudget {
  std::string source;
  std::size_t values = kMaxConfigValues;
  References* refs = nullptr;  // ${NAME} resolution; null: scalars are kept as written
  void take(int depth) {
    if (values == 0)
      throw ConfigError(source, "",
                        "the configuration expands to more than " + std::to_string(kMaxConfigValues) +
                            " values (YAML aliases repeated inside aliases?)");
    --values;
    if (depth > kMaxConfigDepth)
      throw ConfigError(source, "",
                        "the configuration nests deeper than " + std::to_string(kMaxConfigDepth) + " levels");
  }
};

YAML::Node expand(const YAML::Node& n, bool verbatim, ExpandBudget& budget, int depth = 0,
                  const std::string& path = "") {
  budget.take(depth);
  if (n.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.as<std::string>();
      // YAML forbids a key twice in one mapping; yaml-cpp would keep the first silently.
      if (!seen.insert(key).second)
        throw ConfigError(budget.source, key,
                          "set twice in the same mapping (line " + std::to_string(it->first.Mark().line + 1) +
                              "); keep one");
      std::vector<std::string> parts = verbatim ? std::vector<std::string>{key} : split_dots(key);
      YAML::Node value = expand(it->second, verbatim || is_verbatim_map(parts.back()), budget, depth + 1,
                                path.empty() ? key : path + "." + key);
      for (auto p = parts.rbegin(); p != parts.rend() - 1; ++p) {
        YAML::Node wrap(YAML::NodeType::Map);
        wrap[*p] = value;
        value = wrap;
      }
      YAML::Node single(YAML::NodeType::Map);
      single[parts.front()] = value;
      deep_merge(out, single);
    }
    return out;
  }
  if (n.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& e : n)
      out.push_back(expand(e, verbatim, budget, depth + 1, path + "[" + std::to_string(out.size()) + "]"));
    return out;
  }
  if (budget.refs && n.IsScalar() && n.Scalar().find('$') != std::string::npos)
    return budget.refs->scalar(n, path);
  return YAML::Clone(n);
}

std::string normalise_key(const std::string& key) {
  if (key.rfind("packetbeat.", 0) == 0) return "tapbeat." + key.substr(11);
  if (key == "packetbeat") return "tapbeat";
  return key;
}

// Sets root.a.b.c = value. Through a list of protocol entries, a name selects the
// entry of that type (tapbeat.protocols.dns.include_authorities), as in Packetbeat.
void set_path(YAML::Node root, const std::vector<std::string>& parts, const YAML::Node& value) {
  YAML::Node cur = root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (cur.IsSequence()) {
      YAML::Node found;
      bool have = false;
      for (std::size_t k = 0; k < cur.size(); ++k) {
        YAML::Node e = cur[k];
        if (e.IsMap() && e["type"] && e["type"].IsScalar() && e["type"].Scalar() == parts[i]) {
          found.reset(e);
          have = true;
        }
      }
      if (!have) {
        YAML::Node e(YAML::NodeType::Map);
        e["type"] = parts[i];
        cur.push_back(e);
        found.reset(cur[cur.size() - 1]);
      }
      cur.reset(found);
      continue;
    }
    YAML::Node next = cur[parts[i]];
    if (!next.IsMap() && !next.IsSequence()) {
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = cur[parts[i]];
    }
    cur.reset(next);
  }
  cur[parts.back()] = value;
}

// ---- value checks ---------------------------------------------------------

struct Ctx {
  std::string file;
  std::vector<std::string>* warnings;

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw ConfigError(file, key, why);
  }
  void warn(const std::string& key, const std::string& why) const {
    warnings->push_back(file + ": " + key + ": " + why);
  }
};

std::string describe(const YAML::Node& n) {
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "null";
  if (n.Tag() == kResolvedTag || n.Tag() == kSecretTag) return "the value of a ${} reference (not shown)";
  return "'" + n.Scalar() + "'";
}

bool scalar_int(const YAML::Node& n, int64_t& out) {
  if (!n.IsScalar()) return false;
  const std::string& s = n.Scalar();
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 0);
  if (errno != 0 || *end != '\0') return false;
  out = v;
  return true;
}

bool scalar_bool(const YAML::Node& n, bool& out) {
  if (!n.IsScalar()) return false;
  const std::optional<bool> v = parse_bool_text(n.Scalar());
  if (v) out = *v;
  return v.has_value();
}

void check_value(const Ctx& ctx, const std::string& key, const YAML::Node& n, const Spec& spec);

void check_section(const Ctx& ctx, const std::string& prefix, const YAML::Node& n, const Specs& specs) {
  if (n.IsNull()) return;
  if (!n.IsMap()) ctx.fail(prefix, "expected a mapping, got " + describe(n));
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string k = it->first.as<std::string>();
    const std::string full = prefix.empty() ? k : prefix + "." + k;
    auto s = std::find_if(specs.begin(), specs.end(), [&](const Spec& x) { return k == x.name; });
    if (s == specs.end()) {
      ctx.warn(full, "unknown setting, ignored");
      continue;
    }
    check_value(ctx, full, it->second, *s);
  }
}

void check_value(const Ctx& ctx, const std::string& key, const YAML::Node& n, const Spec& spec) {
  int64_t i = 0;
  bool b = false;
  switch (spec.kind) {
    case Kind::kBool:
      if (!scalar_bool(n, b)) ctx.fail(key, "expected true or false, got " + describe(n));
      return;
    case Kind::kInt:
      if (!scalar_int(n, i)) ctx.fail(key, "expected an integer, got " + describe(n));
      return;
    case Kind::kUint:
      if (!scalar_int(n, i) || i < 0 || i > int64_t{UINT32_MAX})
        ctx.fail(key, "expected a non-negative integer of at most " + std::to_string(UINT32_MAX) + ", got " +
                          describe(n));
      return;
    case Kind::kPort:
      if (!scalar_int(n, i) || i < 1 || i > 65535)
        ctx.fail(key, "expected a port number 1-65535, got " + describe(n));
      return;
    case Kind::kFloat:
      if (!n.IsScalar()) ctx.fail(key, "expected a number, got " + describe(n));
      return;
    case Kind::kPortList:
    case Kind::kIntList:
    case Kind::kStringList: {
      if (n.IsNull()) return;
      if (!n.IsSequence()) {
        if (spec.kind == Kind::kStringList && n.IsScalar()) return;  // one value is a list of one
        ctx.fail(key, "expected a list, got " + describe(n));
      }
      for (std::size_t k = 0; k < n.size(); ++k) {
        const std::string ek = key + "[" + std::to_string(k) + "]";
        if (spec.kind == Kind::kPortList) {
          check_value(ctx, ek, n[k], Spec{"", Kind::kPort});
        } else if (spec.kind == Kind::kIntList) {
          check_value(ctx, ek, n[k], Spec{"", Kind::kInt});
        } else if (!n[k].IsScalar()) {
          ctx.fail(ek, "expected a string, got " + describe(n[k]));
        }
      }
      return;
    }
    case Kind::kDuration:
      if (!n.IsScalar() || !parse_duration_ns(n.Scalar()))
        ctx.fail(key, "expected a duration such as 30s, 1m or 500ms, got " + describe(n));
      return;
    case Kind::kString:
      if (n.IsNull()) return;
      if (!n.IsScalar()) ctx.fail(key, "expected a string, got " + describe(n));
      return;
    case Kind::kMap:
      if (!n.IsNull() && !n.IsMap()) ctx.fail(key, "expected a mapping, got " + describe(n));
      return;
    case Kind::kAny:
      return;
    case Kind::kSection:
      check_section(ctx, key, n, *spec.children);
      return;
  }
}

template <typename T>
T get_uint(const YAML::Node& n, T fallback) {
  // Held to T's range (never wrapped), so a bound checked after it sees the real size.
  int64_t v = 0;
  if (!n || !scalar_int(n, v)) return fallback;
  if (v < int64_t{std::numeric_limits<T>::min()}) return std::numeric_limits<T>::min();
  if (static_cast<uint64_t>(v) > uint64_t{std::numeric_limits<T>::max()})
    return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}
bool get_bool(const YAML::Node& n, bool fallback) {
  bool v = false;
  return (n && scalar_bool(n, v)) ? v : fallback;
}
std::string get_string(const YAML::Node& n, const std::string& fallback) {
  return (n && n.IsScalar()) ? n.Scalar() : fallback;
}
int64_t get_duration(const YAML::Node& n, int64_t fallback) {
  if (!n || !n.IsScalar()) return fallback;
  auto d = parse_duration_ns(n.Scalar());
  return d ? *d : fallback;
}
std::vector<std::string> get_strings(const YAML::Node& n) { return yaml_texts(n); }

// Reads n.a.b without creating or tripping over missing keys.
YAML::Node at(const YAML::Node& n, const char* a, const char* b = nullptr) {
  if (!n || !n.IsMap()) return YAML::Node();
  const YAML::Node& cn = n;
  YAML::Node x = cn[a];
  if (!b || !x) return x;
  return at(x, b);
}

// path.data or path.logs as Beats reads them: the setting, else <path.home>/data or
// <path.home>/logs where path.home is set, else "data" or "logs" beside the working directory.
std::string path_setting(const YAML::Node& root, const char* which) {
  if (const YAML::Node v = at(root, "path", which); v && v.IsScalar() && !v.Scalar().empty())
    return v.Scalar();
  const YAML::Node home = at(root, "path", "home");
  if (home && home.IsScalar() && !home.Scalar().empty()) return home.Scalar() + "/" + which;
  return which;
}

void check_positive_duration(const Ctx& ctx, const std::string& key, const YAML::Node& n) {
  if (n && get_duration(n, 1) <= 0) ctx.fail(key, "must be greater than zero");
}

bool valid_network(const std::string& s) {
  static const std::set<std::string> kNamed = {"loopback",
                                               "private",
                                               "public",
                                               "multicast",
                                               "unicast",
                                               "link_local_unicast",
                                               "link_local_multicast",
                                               "interface_local_multicast",
                                               "unspecified",
                                               "global_unicast"};
  if (kNamed.count(s)) return true;
  const auto slash = s.find('/');
  if (slash == std::string::npos) return false;
  const std::string addr = s.substr(0, slash);
  const std::string bits = s.substr(slash + 1);
  if (bits.empty() || bits.find_first_not_of("0123456789") != std::string::npos) return false;
  const int prefix = std::atoi(bits.c_str());
  const bool v6 = addr.find(':') != std::string::npos;
  if (prefix > (v6 ? 128 : 32)) return false;
  if (v6) return addr.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos;
  int dots = 0;
  for (char c : addr) {
    if (c == '.')
      ++dots;
    else if (c < '0' || c > '9')
      return false;
  }
  return dots == 3;
}

// ---- sections -------------------------------------------------------------

}  // namespace

// The device that carries the default route, as Packetbeat's default_route devices name
// it: IPv4's from /proc/net/route, IPv6's from /proc/net/ipv6_route (an up route to
// 0.0.0.0/0 or ::/0 through a device other than lo, the lowest metric); empty if none.
std::string default_route_device(bool v4, bool v6, const std::string& proc) {
  std::string best;
  unsigned long best_metric = ~0ul;
  auto consider = [&](const std::string& dev, unsigned long flags, unsigned long metric) {
    if (dev != "lo" && (flags & 0x1) && !(flags & 0x200) && metric < best_metric)
      best = dev, best_metric = metric;
  };
  if (v4) {
    std::ifstream f(proc + "/net/route");
    std::string line;
    std::getline(f, line);  // the header
    while (std::getline(f, line)) {
      std::istringstream in(line);
      std::string dev, dest, gw, flags, refcnt, use, metric, mask;
      if (in >> dev >> dest >> gw >> flags >> refcnt >> use >> metric >> mask && dest == "00000000" &&
          mask == "00000000")
        consider(dev, std::stoul(flags, nullptr, 16), std::stoul(metric));
    }
  }
  if (v6 && best.empty()) {
    std::ifstream f(proc + "/net/ipv6_route");
    std::string dest, dlen, src, slen, next, metric, refcnt, use, flags, dev;
    while (f >> dest >> dlen >> src >> slen >> next >> metric >> refcnt >> use >> flags >> dev)
      if (dest == std::string(32, '0') && dlen == "00")
        consider(dev, std::stoul(flags, nullptr, 16), std::stoul(metric, nullptr, 16));
  }
  return best;
}

namespace {

void read_interface(const Ctx& ctx, const std::string& key, const YAML::Node& n, InterfaceConfig& i) {
  check_section(ctx, key, n, kInterfaces);
  i.device = get_string(n["device"], i.device);
  // Packetbeat's default_route devices: the device that carries the default route now
  // (found at start; a route that moves later is not followed).
  if (i.device == "default_route" || i.device == "default_route_ipv4" || i.device == "default_route_ipv6") {
    const std::string dev =
        default_route_device(i.device != "default_route_ipv6", i.device != "default_route_ipv4");
    if (dev.empty()) ctx.fail(key + ".device", "'" + i.device + "': no device carries a default route");
    i.device = dev;
    if (n["poll_default_route"])
      ctx.warn(key + ".poll_default_route",
               "the default route's device (" + dev + ") is found at start and not polled for changes");
  }
  i.type = get_string(n["type"], i.type);
  if (i.type != "pcap" && i.type != "af_packet" && i.type != "dpdk" && i.type != "autodetect")
    ctx.fail(key + ".type", "'" + i.type + "' is not one of pcap, af_packet, dpdk");
  i.snaplen_set = n["snaplen"].IsDefined();
  i.snaplen = get_uint<uint32_t>(n["snaplen"], i.snaplen);
  if (i.snaplen < 64 || i.snaplen > 262144) ctx.fail(key + ".snaplen", "must be between 64 and 262144");
  i.buffer_size_mb = get_uint<uint32_t>(n["buffer_size_mb"], i.buffer_size_mb);
  if (i.buffer_size_mb == 0) ctx.fail(key + ".buffer_size_mb", "must be at least 1");
  i.bpf_filter = get_string(n["bpf_filter"], "");
  i.with_vlans = get_bool(n["with_vlans"], false);
  i.internal_networks = get_strings(n["internal_networks"]);
  for (std::size_t k = 0; k < i.internal_networks.size(); ++k) {
    if (!valid_network(i.internal_networks[k]))
      ctx.fail(key + ".internal_networks[" + std::to_string(k) + "]",
               "'" + i.internal_networks[k] + "' is neither a CIDR nor a named network " +
                   "(private, loopback, unicast, multicast, ...)");
  }
  i.file = get_string(n["file"], "");
  i.auto_promisc_mode = get_bool(n["auto_promisc_mode"], false);
  i.ignore_outgoing = get_bool(n["ignore_outgoing"], false);
  i.topspeed = get_bool(n["topspeed"], false);
  // Packetbeat's options for files and dumps that tapbeat does not have.
  if (get_uint<uint32_t>(n["loop"], 1) > 1) ctx.warn(key + ".loop", "a capture file is read once; ignored");
  if (!get_string(n["dumpfile"], "").empty())
    ctx.warn(key + ".dumpfile", "captured packets are not written to a file; ignored");
  if (n["id"]) ctx.warn(key + ".id", "interfaces are not told apart by an id in the metrics; ignored");
  if (n["fanout_group"]) {
    const uint32_t g = get_uint<uint32_t>(n["fanout_group"], 0);
    if (g > 0xffff) ctx.fail(key + ".fanout_group", "must be between 0 and 65535");
    i.fanout_group = static_cast<int32_t>(g);
  }
  check_positive_duration(ctx, key + ".metrics_interval", n["metrics_interval"]);
  i.metrics_interval_ns =
      static_cast<uint64_t>(get_duration(n["metrics_interval"], static_cast<int64_t>(i.metrics_interval_ns)));
  if (i.type != "af_packet") {
    for (const char* k : {"fanout_group", "metrics_interval"})
      if (n[k]) ctx.warn(key + "." + k, "applies to type af_packet only; ignored");
  }
}

void read_interfaces(const Ctx& ctx, const YAML::Node& in, Config& cfg) {
  if (!in) return;
  const std::string key = "tapbeat.interfaces";
  if (!in.IsSequence()) return read_interface(ctx, key, in, cfg.interfaces);
  if (in.size() == 0) ctx.fail(key, "an empty list: name at least one interface");
  read_interface(ctx, key + "[0]", in[0], cfg.interfaces);
  std::set<std::string> devices{cfg.interfaces.device};
  for (std::size_t k = 1; k < in.size(); ++k) {
    const std::string at = key + "[" + std::to_string(k) + "]";
    InterfaceConfig i;
    i.type = cfg.interfaces.type;  // an entry without a type is captured as the first one
    read_interface(ctx, at, in[k], i);
    if (i.type != cfg.interfaces.type)
      ctx.fail(at + ".type", "'" + i.type + "' differs from the first interface's '" + cfg.interfaces.type +
                                 "': the interfaces listed are captured one way");
    // Several interfaces: live devices captured through libpcap, side by side.
    if (!i.file.empty() || !cfg.interfaces.file.empty())
      ctx.fail(at + ".file", "a capture file is read alone; list it as the only interface");
    if (i.type == "dpdk" || cfg.interfaces.type == "dpdk")
      ctx.fail(at + ".type", "DPDK ports are listed in tapbeat.dpdk.ports, not as several interfaces");
    if (i.device == "any" || cfg.interfaces.device == "any")
      ctx.fail(at + ".device", "`any` already captures every device; list devices without it");
    if (!devices.insert(i.device).second) ctx.fail(at + ".device", "'" + i.device + "' is listed twice");
    for (const std::string& net : i.internal_networks)
      if (std::find(cfg.interfaces.internal_networks.begin(), cfg.interfaces.internal_networks.end(), net) ==
          cfg.interfaces.internal_networks.end())
        cfg.interfaces.internal_networks.push_back(net);
    cfg.more_interfaces.push_back(std::move(i));
  }
}

void read_flows(const Ctx& ctx, const YAML::Node& n, Config& cfg) {
  if (!n) return;
  FlowsConfig& f = cfg.flows;
  f.enabled = get_bool(n["enabled"], true);
  check_positive_duration(ctx, "tapbeat.flows.timeout", n["timeout"]);
  f.timeout_ns = static_cast<uint64_t>(get_duration(n["timeout"], static_cast<int64_t>(f.timeout_ns)));
  f.period_ns = get_duration(n["period"], f.period_ns);
  if (f.period_ns == 0) ctx.fail("tapbeat.flows.period", "must be positive, or -1 for final reports only");
  f.enable_delta_flow_reports = get_bool(n["enable_delta_flow_reports"], false);
  if (get_bool(n["keep_null"], false))
    ctx.warn("tapbeat.flows.keep_null", "fields without a value are left out; ignored");
}

ProtocolConfig read_protocol(const Ctx& ctx, const std::string& key, const YAML::Node& n,
                             const std::string& type) {
  const DecoderDescriptor* desc = protocol_descriptor(type);
  if (!desc) {
    std::string known;
    for (const std::string& name : known_protocols()) known += (known.empty() ? "" : ", ") + name;
    ctx.fail(key, "unknown protocol '" + type + "' (known: " + known + ")");
  }
  Specs all = common_protocol_options();
  all.insert(all.end(), desc->options.begin(), desc->options.end());
  check_section(ctx, key, n, all);
  ProtocolConfig p;
  p.type = type;
  p.enabled = get_bool(n["enabled"], true);
  if (const YAML::Node ports = n["ports"]; ports && ports.IsSequence()) {
    for (const auto& e : ports) p.ports.push_back(get_uint<uint16_t>(e, 0));
  }
  if (desc->transports != kTransportIcmp && p.enabled && p.ports.empty() && n["ports"] &&
      !n["ports"].IsNull() && n["ports"].size() == 0) {
    ctx.warn(key + ".ports", "empty: the protocol is only found by payload detection");
  }
  // Packetbeat's way to turn a protocol off is to comment out its ports (its shipped
  // packetbeat.yml says so beside each one): no ports, no traffic for it.
  if (desc->transports != kTransportIcmp && p.enabled && (!n["ports"] || n["ports"].IsNull())) {
    p.enabled = false;
    ctx.warn(key + ".ports",
             "not set: " + type +
                 " is off, as in Packetbeat (list its ports to decode it; `ports: []` finds it "
                 "by payload detection alone)");
  }
  p.options = YAML::Node(YAML::NodeType::Map);
  for (auto o = n.begin(); o != n.end(); ++o) {
    const std::string ok = o->first.as<std::string>();
    if (ok != "type" && ok != "enabled" && ok != "ports") p.options[ok] = YAML::Clone(o->second);
  }
  check_positive_duration(ctx, key + ".transaction_timeout", n["transaction_timeout"]);
  if (get_bool(n["keep_null"], false))
    ctx.warn(key + ".keep_null", "fields without a value are left out; ignored");
  if (n["ignore_outgoing"])
    ctx.warn(key + ".ignore_outgoing",
             "set packetbeat.ignore_outgoing or the interface's: outgoing packets are left out for every "
             "protocol or none; ignored");
  // Value checks beyond types are the protocol's: its configure() refuses what it
  // cannot use (warnings wait for the run, which applies the settings).
  try {
    desc->configure(p, [](const std::string&, const std::string&) {});
  } catch (const OptionError& e) {
    ctx.fail(key + "." + e.key(), e.what());
  }
  return p;
}

void read_protocols(const Ctx& ctx, const YAML::Node& n, Config& cfg) {
  if (!n || n.IsNull()) return;
  std::set<std::string> seen;
  std::map<uint16_t, std::string> port_owner;
  auto add = [&](ProtocolConfig p, const std::string& key) {
    if (!seen.insert(p.type).second) ctx.fail(key, "protocol '" + p.type + "' is configured twice");
    // Ports decide the protocol: one port, one protocol (as Packetbeat insists).
    for (uint16_t port : p.enabled ? p.ports : std::vector<uint16_t>{}) {
      auto [it, fresh] = port_owner.emplace(port, p.type);
      if (!fresh && it->second != p.type)
        ctx.fail(key + ".ports", "port " + std::to_string(port) + " is already claimed by " + it->second);
    }
    cfg.protocols.push_back(std::move(p));
  };
  if (n.IsSequence()) {
    for (std::size_t k = 0; k < n.size(); ++k) {
      const std::string key = "tapbeat.protocols[" + std::to_string(k) + "]";
      const YAML::Node e = n[k];
      if (!e.IsMap()) ctx.fail(key, "expected a mapping with a type, got " + describe(e));
      if (!e["type"] || !e["type"].IsScalar())
        ctx.fail(key + ".type", "missing: every entry names its protocol");
      add(read_protocol(ctx, key, e, e["type"].Scalar()), key);
    }
  } else if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string type = it->first.as<std::string>();
      const std::string key = "tapbeat.protocols." + type;
      YAML::Node body = it->second.IsNull() ? YAML::Node(YAML::NodeType::Map) : it->second;
      if (!body.IsMap()) ctx.fail(key, "expected a mapping, got " + describe(body));
      add(read_protocol(ctx, key, body, type), key);
    }
  } else {
    ctx.fail("tapbeat.protocols", "expected a list or a mapping, got " + describe(n));
  }
}

void read_outputs(const Ctx& ctx, const YAML::Node& root, Config& cfg) {
  const YAML::Node n = root["output"];
  if (!n) return;
  std::vector<std::string> enabled;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string type = it->first.as<std::string>();
    if (type != "console" && type != "file" && type != "kafka" && type != "elasticsearch" &&
        type != "logstash" && type != "redis")
      continue;  // already warned as unknown
    if (get_bool(it->second["enabled"], true)) enabled.push_back(type);
  }
  if (enabled.size() > 1)
    ctx.fail("output",
             "more than one output is enabled (" + enabled[0] + ", " + enabled[1] + "); enable exactly one");
  if (enabled.empty()) return;
  OutputConfig o;
  o.type = enabled[0];
  const YAML::Node s = n[o.type];
  o.raw = YAML::Clone(s);
  const std::string key = "output." + o.type;
  if (o.type == "console") {
    o.pretty = get_bool(s["pretty"], false);
  } else if (o.type == "file") {
    // Default: the data folder (path.data, "data" beside the working directory unless
    // set), never a folder every user can write to.
    o.path = get_string(s["path"], path_setting(root, "data") + "/events");
    if (o.path.empty()) ctx.fail(key + ".path", "must not be empty");
    o.filename = get_string(s["filename"], o.filename);
    if (o.filename.empty() || o.filename.find('/') != std::string::npos)
      ctx.fail(key + ".filename", "must be a plain file name");
    o.rotate_every_kb = get_uint<uint64_t>(s["rotate_every_kb"], o.rotate_every_kb);
    if (o.rotate_every_kb < 1) ctx.fail(key + ".rotate_every_kb", "must be at least 1");
    o.number_of_files = get_uint<uint32_t>(s["number_of_files"], o.number_of_files);
    if (o.number_of_files < 2 || o.number_of_files > 1024)
      ctx.fail(key + ".number_of_files", "must be between 2 and 1024");
    o.rotate_on_startup = get_bool(s["rotate_on_startup"], true);
    if (const YAML::Node p = s["permissions"]) {
      const std::string text = p.Scalar();
      char* end = nullptr;
      const long v = std::strtol(text.c_str(), &end, 8);
      if (text.empty() || *end != '\0' || v < 0 || v > 0777)
        ctx.fail(key + ".permissions", "expected an octal file mode such as 0600, got " + describe(p));
      o.permissions = static_cast<uint32_t>(v);
    }
  } else {
    // Network outputs: validated now, built later.
    const auto hosts = get_strings(s["hosts"]);
    if (hosts.empty()) ctx.fail(key + ".hosts", "missing: list at least one host");
    for (std::size_t k = 0; k < hosts.size(); ++k)
      if (hosts[k].empty()) ctx.fail(key + ".hosts[" + std::to_string(k) + "]", "empty host");
    // Beats' settings of the Elasticsearch output that tapbeat's does not have.
    if (o.type == "elasticsearch") {
      if (const YAML::Node p = s["preset"]; p && p.IsScalar() && p.Scalar() != "custom")
        ctx.warn(
            key + ".preset",
            "'" + p.Scalar() + "' is not applied; set bulk_max_size, worker and the queue directly; ignored");
      if (s["idle_connection_timeout"])
        ctx.warn(key + ".idle_connection_timeout",
                 "idle connections are kept as libcurl keeps them; ignored");
    }
    if (o.type == "kafka") {
      if (const YAML::Node a = s["required_acks"]) {
        const int64_t v = get_uint<int64_t>(a, 1);
        if (v < -1 || v > 1) ctx.fail(key + ".required_acks", "must be -1, 0 or 1");
      }
      const std::string c = get_string(s["compression"], "gzip");
      if (c != "none" && c != "gzip" && c != "snappy" && c != "lz4" && c != "zstd")
        ctx.fail(key + ".compression", "'" + c + "' is not one of none, gzip, snappy, lz4, zstd");
      if (const YAML::Node p = s["partition"]; p && p.IsMap()) {
        if (p.size() != 1) ctx.fail(key + ".partition", "name exactly one of hash, random, round_robin");
        const std::string kind = p.begin()->first.as<std::string>();
        if (kind != "hash" && kind != "random" && kind != "round_robin")
          ctx.fail(key + ".partition." + kind, "unknown partitioner; use hash, random or round_robin");
      }
      if (!s["topic"] && !s["topics"]) ctx.fail(key + ".topic", "missing: set topic or topics");
    }
  }
  cfg.output = std::move(o);
}

void read_queue(const Ctx& ctx, const YAML::Node& root, Config& cfg) {
  const YAML::Node q = root["queue"];
  if (!q) return;
  QueueConfig& out = cfg.queue;
  out.mem_events = get_uint<uint32_t>(at(q, "mem", "events"), out.mem_events);
  if (at(q, "mem", "events") && out.mem_events < 32) ctx.fail("queue.mem.events", "must be at least 32");
  // Beats' batching of the memory queue: tapbeat's output takes events as they come
  // (as Beats with min_events 0 or 1 and timeout 0s, which are not warned about).
  if (const YAML::Node f = at(q, "mem", "flush"); f && f.IsMap()) {
    if (f["min_events"] && get_uint<uint32_t>(f["min_events"], 0) > 1)
      ctx.warn("queue.mem.flush.min_events", "the output takes events as they come; ignored");
    if (f["timeout"] && get_duration(f["timeout"], 0) > 0)
      ctx.warn("queue.mem.flush.timeout", "the output takes events as they come; ignored");
  }
  const YAML::Node d = q["disk"];
  if (!d) return;
  for (const char* k : {"read_ahead", "write_ahead", "retry_interval", "max_retry_interval"})
    if (d[k])
      ctx.warn(std::string("queue.disk.") + k, "a Beats disk queue setting tapbeat's does not have; ignored");
  if (q["mem"]) ctx.fail("queue", "set queue.mem or queue.disk, not both");
  out.disk = true;
  const std::string data = path_setting(root, "data");
  out.disk_path = get_string(d["path"], data + "/diskqueue");
  if (out.disk_path.empty()) ctx.fail("queue.disk.path", "must not be empty");
  auto size = [&](const char* key, uint64_t fallback) {
    const YAML::Node n = d[key];
    if (!n) return fallback;
    const auto v = n.IsScalar() ? parse_byte_size(n.Scalar()) : std::nullopt;
    if (!v)
      ctx.fail(std::string("queue.disk.") + key,
               "expected a byte size such as 10GB or 200MiB, got " + describe(n));
    return *v;
  };
  out.disk_max_bytes = size("max_size", out.disk_max_bytes);
  if (out.disk_max_bytes < (1u << 20)) ctx.fail("queue.disk.max_size", "must be at least 1MiB");
  out.disk_segment_bytes =
      size("segment_size", std::clamp<uint64_t>(out.disk_max_bytes / 10, 1u << 20, 100u << 20));
  if (out.disk_segment_bytes < (64u << 10) || out.disk_segment_bytes > out.disk_max_bytes)
    ctx.fail("queue.disk.segment_size", "must be between 64KiB and queue.disk.max_size");
}

// Beats' logging.metrics: its period where tapbeat.stats_period is not set; enabled: false
// logs no metrics line (the final stats line still).
void read_metrics_logging(const Ctx& ctx, const YAML::Node& root, Config& cfg) {
  const YAML::Node m = at(root, "logging", "metrics");
  if (!m || !m.IsMap()) return;
  if (!at(root, "tapbeat", "stats_period")) {
    check_positive_duration(ctx, "logging.metrics.period", m["period"]);
    cfg.engine.stats_period_ns =
        static_cast<uint64_t>(get_duration(m["period"], static_cast<int64_t>(cfg.engine.stats_period_ns)));
  }
  if (!get_bool(m["enabled"], true)) cfg.engine.stats_period_ns = 0;
}

void read_engine(const Ctx& ctx, const YAML::Node& t, Config& cfg) {
  EngineConfig& e = cfg.engine;
  e.workers = get_uint<uint32_t>(t["workers"], e.workers);
  if (e.workers > 1024) ctx.fail("tapbeat.workers", "at most 1024");
  check_positive_duration(ctx, "tapbeat.stats_period", t["stats_period"]);
  e.stats_period_ns =
      static_cast<uint64_t>(get_duration(t["stats_period"], static_cast<int64_t>(e.stats_period_ns)));
  if (const YAML::Node s = t["shutdown_timeout"]; s && get_duration(s, 0) < 0)
    ctx.fail("tapbeat.shutdown_timeout", "must not be negative");
  e.shutdown_timeout_ns =
      static_cast<uint64_t>(get_duration(t["shutdown_timeout"], static_cast<int64_t>(e.shutdown_timeout_ns)));
  e.user_set = t["user"].IsDefined();
  e.user = get_string(t["user"], e.user);
  if (e.user.empty()) ctx.fail("tapbeat.user", "must name a user (root keeps root)");
  e.max_flows = get_uint<uint32_t>(at(t, "flow_table", "max_flows"), e.max_flows);
  if (e.max_flows < 16) ctx.fail("tapbeat.flow_table.max_flows", "must be at least 16");
  if (e.max_flows > FlowTable::kMaxCapacity)
    ctx.fail("tapbeat.flow_table.max_flows", "must be at most " + std::to_string(FlowTable::kMaxCapacity));
  e.frag_max_sets = get_uint<uint32_t>(at(t, "fragments", "max_sets"), e.frag_max_sets);
  if (e.frag_max_sets < 1) ctx.fail("tapbeat.fragments.max_sets", "must be at least 1");
  e.frag_max_bytes = get_uint<uint64_t>(at(t, "fragments", "max_bytes"), e.frag_max_bytes);
  if (e.frag_max_bytes < 65536) ctx.fail("tapbeat.fragments.max_bytes", "must be at least 65536");
  check_positive_duration(ctx, "tapbeat.fragments.timeout", at(t, "fragments", "timeout"));
  e.frag_timeout_ns = static_cast<uint64_t>(
      get_duration(at(t, "fragments", "timeout"), static_cast<int64_t>(e.frag_timeout_ns)));
  e.ring_mb = get_uint<uint32_t>(t["ring_mb"], e.ring_mb);
  if (e.ring_mb < 1 || e.ring_mb > 4096) ctx.fail("tapbeat.ring_mb", "must be between 1 and 4096");
  e.event_chunks = get_uint<uint32_t>(at(t, "events", "chunks"), e.event_chunks);
  if (e.event_chunks < 2) ctx.fail("tapbeat.events.chunks", "must be at least 2");
  e.event_chunk_kb = get_uint<uint32_t>(at(t, "events", "chunk_kb"), e.event_chunk_kb);
  if (e.event_chunk_kb < 16 || e.event_chunk_kb > 65536)
    ctx.fail("tapbeat.events.chunk_kb", "must be between 16 and 65536");
  e.progress = get_bool(t["progress"], true);
  if (const YAML::Node d = t["detect"]) {
    const std::string v = get_string(d, "");
    if (v != "payload" && v != "ports" && v != "off")
      ctx.fail("tapbeat.detect", "'" + v + "' is not one of payload, ports, off");
    e.detect = v;
  }
}

void read_dpdk(const Ctx& ctx, const YAML::Node& n, Config& cfg) {
  DpdkConfig& d = cfg.dpdk;
  const std::string key = "tapbeat.dpdk";
  if (n && n.IsMap()) {
    d.eal_args = get_strings(n["eal_args"]);
    d.lcores = get_string(n["lcores"], "");
    if (d.lcores.find_first_not_of("0123456789,-@()") != std::string::npos)
      ctx.fail(key + ".lcores", "'" + d.lcores + "' is not an lcore list such as 0-4 or 0,2,4");
    d.memory_channels = get_uint<uint32_t>(n["memory_channels"], 0);
    d.no_huge = get_bool(n["no_huge"], false);
    d.no_pci = get_bool(n["no_pci"], false);
    d.memory_mb = get_uint<uint32_t>(n["memory_mb"], 0);
    d.file_prefix = get_string(n["file_prefix"], d.file_prefix);
    d.mempool_size = get_uint<uint32_t>(n["mempool_size"], d.mempool_size);
    if (d.mempool_size < 1024) ctx.fail(key + ".mempool_size", "must be at least 1024 mbufs");
    d.mbuf_cache = get_uint<uint32_t>(n["mbuf_cache"], d.mbuf_cache);
    if (d.mbuf_cache > 512) ctx.fail(key + ".mbuf_cache", "at most 512 (RTE_MEMPOOL_CACHE_MAX_SIZE)");
    d.burst_size = get_uint<uint16_t>(n["burst_size"], d.burst_size);
    if (d.burst_size < 1 || d.burst_size > 32)
      ctx.fail(key + ".burst_size", "must be between 1 and 32 (the worker's burst)");
    d.promiscuous = get_bool(n["promiscuous"], true);
    d.mtu = get_uint<uint32_t>(n["mtu"], 0);
    if (d.mtu && (d.mtu < 68 || d.mtu > 9600)) ctx.fail(key + ".mtu", "must be between 68 and 9600");
    const std::string idle = get_string(n["idle"], "poll");
    if (idle != "poll" && idle != "backoff")
      ctx.fail(key + ".idle", "'" + idle + "' is not one of poll, backoff");
    d.idle_backoff = idle == "backoff";
    d.exit_on_idle_ns = static_cast<uint64_t>(std::max<int64_t>(get_duration(n["exit_on_idle"], 0), 0));
    const YAML::Node ports = n["ports"];
    if (ports && !ports.IsSequence())
      ctx.fail(key + ".ports", "expected a list of ports, got " + describe(ports));
    for (std::size_t i = 0; ports && i < ports.size(); ++i) {
      const std::string pk = key + ".ports[" + std::to_string(i) + "]";
      const YAML::Node p = ports[i];
      if (p.IsScalar()) {
        d.ports.push_back(DpdkPortConfig{p.Scalar()});
        continue;
      }
      check_section(ctx, pk, p, kDpdkPort);
      DpdkPortConfig pc;
      pc.device = get_string(p["device"], "");
      if (pc.device.empty()) ctx.fail(pk + ".device", "missing: a PCI address or a vdev string");
      pc.rx_queues = get_uint<uint16_t>(p["rx_queues"], 0);
      if (pc.rx_queues > 128) ctx.fail(pk + ".rx_queues", "at most 128");
      pc.rx_descriptors = get_uint<uint16_t>(p["rx_descriptors"], pc.rx_descriptors);
      if (pc.rx_descriptors < 64 || pc.rx_descriptors > 16384 ||
          (pc.rx_descriptors & (pc.rx_descriptors - 1)))
        ctx.fail(pk + ".rx_descriptors", "must be a power of two between 64 and 16384");
      d.ports.push_back(pc);
    }
  }
  if (cfg.interfaces.type == "dpdk" && d.ports.empty())
    ctx.fail(key + ".ports", "missing: interfaces.type is dpdk, list at least one port");
}

// Where the keystore is, read before anything is resolved: keystore.path, else
// <path.data>/tapbeat.keystore, from -E or the file (environment references in
// those two settings resolved, the keystore's own obviously not).
std::string keystore_path(const YAML::Node& doc, const std::vector<std::string>& overrides) {
  std::string ks, data, home;
  auto scalar = [](const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : std::string(); };
  if (doc.IsMap()) {
    ks = scalar(doc["keystore.path"]);
    if (ks.empty() && doc["keystore"] && doc["keystore"].IsMap()) ks = scalar(doc["keystore"]["path"]);
    data = scalar(doc["path.data"]);
    if (data.empty() && doc["path"] && doc["path"].IsMap()) data = scalar(doc["path"]["data"]);
    home = scalar(doc["path.home"]);
    if (home.empty() && doc["path"] && doc["path"].IsMap()) home = scalar(doc["path"]["home"]);
  }
  for (const std::string& o : overrides) {
    if (o.rfind("keystore.path=", 0) == 0) ks = o.substr(14);
    if (o.rfind("path.data=", 0) == 0) data = o.substr(10);
    if (o.rfind("path.home=", 0) == 0) home = o.substr(10);
  }
  if (data.empty() && !home.empty()) data = home + "/data";
  References env_only("", "", doc);
  auto resolve = [&](const std::string& v) {
    return v.find('$') == std::string::npos ? v : env_only.scalar(YAML::Node(v), "keystore.path").Scalar();
  };
  if (!ks.empty()) return resolve(ks);
  return (data.empty() ? std::string("data") : resolve(data)) + "/tapbeat.keystore";
}

// An address the monitoring endpoint may bind without http.allow_remote:
// localhost, 127.0.0.0/8, ::1.
bool loopback_address(const std::string& host) {
  if (host == "localhost") return true;
  in_addr a4{};
  if (::inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  return ::inet_pton(AF_INET6, host.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

// Beats settings tapbeat knows and does not apply: one warning per key set.
void warn_leaves(const Ctx& ctx, const std::string& key, const YAML::Node& n,
                 const std::set<std::string>& applied) {
  if (applied.count(key)) return;
  // A feature tapbeat does not have, switched off (monitoring.enabled: false, a section
  // with enabled: false): tapbeat does as it says. The index template is loaded by
  // `tapbeat setup`, so setup.template's switch is not one of these.
  if (n.IsNull()) return;  // `setup.kibana:` with every line below commented out: nothing set
  const bool template_setting = key.rfind("setup.template", 0) == 0;
  auto off = [](const YAML::Node& v) { return v && v.IsScalar() && !get_bool(v, true); };
  if (!template_setting && n.IsMap() && off(n["enabled"])) return;
  if (!template_setting && off(n) && key.size() > 8 && key.compare(key.size() - 8, 8, ".enabled") == 0)
    return;
  // Settings whose value asks for what tapbeat does: `tapbeat setup` always loads (and
  // replaces) the template; tapbeat never logs to syslog or the event log.
  static const std::map<std::string, bool> kAsTapbeatDoes = {{"setup.template.enabled", true},
                                                             {"setup.template.overwrite", true},
                                                             {"logging.to_syslog", false},
                                                             {"logging.to_eventlog", false}};
  if (const auto it = kAsTapbeatDoes.find(key);
      it != kAsTapbeatDoes.end() && n.IsScalar() && get_bool(n, !it->second) == it->second)
    return;
  // Debug output of every component (`logging.selectors: ["*"]`, Beats' own advice for
  // debugging) is what tapbeat's log has; a list naming components is warned.
  if (key == "logging.selectors" && n.IsSequence() && n.size() > 0 &&
      std::all_of(n.begin(), n.end(), [](const YAML::Node& s) { return s.IsScalar() && s.Scalar() == "*"; }))
    return;
  if (n.IsMap() && n.size() > 0) {
    for (auto it = n.begin(); it != n.end(); ++it)
      warn_leaves(ctx, key + "." + it->first.Scalar(), it->second, applied);
    return;
  }
  ctx.warn(key, "a Beats setting tapbeat does not apply; ignored");
}

void warn_not_applied(const Ctx& ctx, const YAML::Node& root) {
  static const std::set<std::string> kApplied = {"setup.template.name",
                                                 "setup.template.pattern",
                                                 "setup.template.settings.index.number_of_shards",
                                                 "path.home",
                                                 "path.config",
                                                 "path.data",
                                                 "path.logs",
                                                 "logging.level",
                                                 "logging.metrics.enabled",
                                                 "logging.metrics.period",
                                                 "logging.to_stderr",
                                                 "logging.to_files",
                                                 "logging.json",
                                                 "logging.files.path",
                                                 "logging.files.name",
                                                 "logging.files.rotateeverybytes",
                                                 "logging.files.keepfiles",
                                                 "logging.files.rotateonstartup",
                                                 "logging.files.interval",
                                                 "logging.files.permissions"};
  for (const char* section : {"logging", "monitoring", "setup", "max_procs", "seccomp", "cloud", "xpack",
                              "instrumentation", "features", "path"})
    if (const YAML::Node n = root[section]) warn_leaves(ctx, section, n, kApplied);
}

void read_logging(const Ctx& ctx, const YAML::Node& root, LoggingConfig& l) {
  const YAML::Node n = root["logging"];
  l.files_path = path_setting(root, "logs");
  if (!n) return;
  l.level = get_string(n["level"], l.level);
  if (l.level == "warn") l.level = "warning";
  if (l.level != "debug" && l.level != "info" && l.level != "warning" && l.level != "error" &&
      l.level != "critical")
    ctx.fail("logging.level", "'" + l.level + "' is not one of debug, info, warning, error");
  l.to_stderr = get_bool(n["to_stderr"], l.to_stderr);
  l.to_files = get_bool(n["to_files"], l.to_files);
  l.json = get_bool(n["json"], l.json);
  if (const YAML::Node f = n["files"]) {
    l.files_path = get_string(f["path"], l.files_path);
    l.files_name = get_string(f["name"], l.files_name);
    if (l.files_name.empty() || l.files_name.find('/') != std::string::npos)
      ctx.fail("logging.files.name", "must be a file name without '/'");
    l.rotate_on_startup = get_bool(f["rotateonstartup"], l.rotate_on_startup);
    if (const YAML::Node i = f["interval"]) {
      const int64_t ns = get_duration(i, -1);
      if (ns != 0 && ns < 1'000'000'000)
        ctx.fail("logging.files.interval", "expected a duration of at least 1s (or 0: by size only)");
      l.interval_ns = static_cast<uint64_t>(ns);
    }
    l.rotate_every_bytes = get_uint<uint64_t>(f["rotateeverybytes"], l.rotate_every_bytes);
    if (l.rotate_every_bytes < 4096) ctx.fail("logging.files.rotateeverybytes", "must be at least 4096");
    l.keep_files = get_uint<uint32_t>(f["keepfiles"], l.keep_files);
    if (l.keep_files < 2 || l.keep_files > 1024)
      ctx.fail("logging.files.keepfiles", "must be between 2 and 1024");
    if (f["permissions"]) {
      const std::string perm = get_string(f["permissions"], "0600");
      char* end = nullptr;
      const unsigned long v = std::strtoul(perm.c_str(), &end, 8);
      if (*end != '\0' || v > 0777)
        ctx.fail("logging.files.permissions", "'" + perm + "' is not an octal file mode");
      l.permissions = static_cast<uint32_t>(v);
    }
  }
}

// ---- fields ---------------------------------------------------------------

// A YAML value as JSON: plain scalars that read as numbers, booleans or null are
// those, quoted ones and the rest strings.
// Top-level names of tapbeat's events: fields_under_root may not add one again (a
// JSON object with a key twice is refused by Elasticsearch).
bool event_root_name(const std::string& k) {
  static const std::set<std::string> kNames = {
      "@timestamp", "@metadata",    "agent",   "ecs",     "host",     "event",   "type",       "status",
      "source",     "destination",  "client",  "server",  "network",  "related", "flow",       "error",
      "method",     "query",        "path",    "request", "response", "url",     "user_agent", "tags",
      "fields",     "observer",     "process", "user",    "resource", "params",  "notes",      "bytes_in",
      "bytes_out",  "responsetime", "tls",     "dhcpv4",  "rpc",      "nfs",     "sip",        "thrift"};
  if (kNames.count(k)) return true;
  for (const DecoderDescriptor& d : decoder_registry())
    if (d.name == k) return true;
  return false;
}

// `fields` under "fields" or, with fields_under_root, at the event's root; the
// second set (a protocol's) over the first (the global one).
std::string field_members(const Ctx& ctx, const std::string& key, const YAML::Node& global, bool global_root,
                          const YAML::Node& own, bool own_root) {
  YAML::Node nested(YAML::NodeType::Map), root(YAML::NodeType::Map);
  if (global && global.IsMap()) deep_merge(global_root ? root : nested, global);
  if (own && own.IsMap()) deep_merge(own_root ? root : nested, own);
  if (nested.size() == 0 && root.size() == 0) return "";
  std::string buf(256 * 1024, '\0');
  JsonWriter w(buf.data(), buf.size());
  if (nested.size() > 0) {
    w.key("fields");
    yaml_json(w, nested);
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string k = it->first.Scalar();
    if (event_root_name(k)) {
      ctx.warn(key + "." + k, "fields_under_root would repeat a field tapbeat's events have; left out");
      continue;
    }
    w.key(k);
    yaml_json(w, it->second);
  }
  if (w.overflow()) ctx.fail(key, "fields render to more than 256 KiB of JSON");
  return std::string(w.view());
}

// Processors as Beats orders them: a protocol's own and the flows' first (each on
// its events only), then the root list on every event.
void read_processors(const Ctx& ctx, const YAML::Node& croot, Config& cfg) {
  auto chain = std::make_shared<ProcessorChain>();
  const auto warn = [&](const std::string& key, const std::string& why) { ctx.warn(key, why); };
  try {
    const YAML::Node t = croot["tapbeat"];
    const YAML::Node protocols = t ? t["protocols"] : YAML::Node();
    // A section's `index` first (Beats' add_formatted_index comes before its processors).
    auto own = [&](const YAML::Node& n, const std::string& key, const std::string& type) {
      if (const YAML::Node i = n["index"]; i && i.IsScalar() && !i.Scalar().empty())
        chain->add_index(i.Scalar(), key + ".index", type);
      chain->add(n["processors"], key + ".processors", type, warn);
    };
    if (protocols && protocols.IsSequence()) {
      for (std::size_t i = 0; i < protocols.size(); ++i)
        if (protocols[i].IsMap() && protocols[i]["type"] && protocols[i]["type"].IsScalar())
          own(protocols[i], "tapbeat.protocols[" + std::to_string(i) + "]", protocols[i]["type"].Scalar());
    } else if (protocols && protocols.IsMap()) {
      for (auto it = protocols.begin(); it != protocols.end(); ++it)
        if (it->second.IsMap())
          own(it->second, "tapbeat.protocols." + it->first.Scalar(), it->first.Scalar());
    }
    if (const YAML::Node f = t ? t["flows"] : YAML::Node(); f && f.IsMap()) own(f, "tapbeat.flows", "flow");
    chain->add(croot["processors"], "processors", "", warn);
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    const std::size_t colon = what.find(": ");
    ctx.fail(what.substr(0, colon), colon == std::string::npos ? what : what.substr(colon + 2));
  }
  if (!chain->empty()) cfg.processors = std::move(chain);
}

Config build(YAML::Node doc, const std::string& file, const std::vector<std::string>& overrides) {
  Config cfg;
  cfg.file = file;
  Ctx ctx{file, &cfg.warnings};
  if (doc.IsNull()) doc = YAML::Node(YAML::NodeType::Map);
  if (!doc.IsMap()) ctx.fail("", "the top level must be a mapping, got " + describe(doc));
  References refs(file, keystore_path(doc, overrides), doc, overrides);
  ExpandBudget budget{file};
  budget.refs = &refs;
  YAML::Node root = expand(doc, false, budget);
  // packetbeat.* and tapbeat.* are one section; tapbeat.* wins where both set a key.
  YAML::Node merged(YAML::NodeType::Map);
  if (root["packetbeat"]) deep_merge(merged, root["packetbeat"]);
  if (root["tapbeat"]) deep_merge(merged, root["tapbeat"]);
  root.remove("packetbeat");
  if (merged.size() > 0) root["tapbeat"] = merged;

  for (const std::string& o : overrides) {
    const auto eq = o.find('=');
    // The value may be a secret: errors name the key (or the argument's position) only.
    if (eq == std::string::npos || eq == 0)
      throw ConfigError("-E (argument " + std::to_string(&o - overrides.data() + 1) + ")", "",
                        "expected key=value");
    const std::string key = normalise_key(o.substr(0, eq));
    YAML::Node value;
    try {
      const std::vector<YAML::Node> docs = YAML::LoadAll(o.substr(eq + 1));
      if (docs.size() > 1) throw ConfigError("-E", key, "the value holds more than one YAML document");
      if (!docs.empty()) value = docs[0];
    } catch (const YAML::Exception& ex) {
      throw ConfigError("-E", key, "value is not valid YAML (" + ex.msg + ")");
    }
    if (value.IsNull() && o.size() > eq + 1) value = YAML::Node(o.substr(eq + 1));
    set_path(root, split_dots(key), expand(value, false, budget, 0, key));
  }

  check_section(ctx, "", root, kRoot);
  const YAML::Node& croot = root;
  const YAML::Node t = croot["tapbeat"];
  if (t) {
    read_interfaces(ctx, t["interfaces"], cfg);
    read_flows(ctx, t["flows"], cfg);
    read_protocols(ctx, t["protocols"], cfg);
    if (const YAML::Node io = t["ignore_outgoing"]) cfg.interfaces.ignore_outgoing = get_bool(io, false);
    if (t["procs"] && get_bool(at(t, "procs", "enabled"), false))
      ctx.warn("tapbeat.procs", "process monitoring is not supported; ignored");
    read_engine(ctx, t, cfg);
    read_dpdk(ctx, t["dpdk"], cfg);
  }
  read_metrics_logging(ctx, croot, cfg);
  read_processors(ctx, croot, cfg);
  warn_not_applied(ctx, croot);
  read_logging(ctx, croot, cfg.logging);
  read_outputs(ctx, croot, cfg);
  read_queue(ctx, croot, cfg);
  if (const YAML::Node h = croot["http"]) {
    MonitoringConfig& m = cfg.http;
    m.enabled = get_bool(h["enabled"], false);
    m.host = get_string(h["host"], m.host);
    m.port = get_uint<uint16_t>(h["port"], m.port);
    if (m.enabled && !get_bool(h["allow_remote"], false) && !loopback_address(m.host))
      ctx.fail("http.host",
               "'" + m.host + "' is not a loopback address: the endpoint shows every counter and " +
                   "the configuration's identity; set http.allow_remote: true to serve it there");
    if (h["named_pipe"]) ctx.warn("http.named_pipe", "named pipes are Windows'; ignored");
    if (h["pprof"]) ctx.warn("http.pprof", "Go's profiler is not in tapbeat; ignored");
  }
  cfg.name = get_string(croot["name"], "");
  cfg.tags = get_strings(croot["tags"]);
  const bool global_root = get_bool(croot["fields_under_root"], false);
  cfg.field_members = field_members(ctx, "fields", croot["fields"], global_root, YAML::Node(), false);
  for (std::size_t i = 0; i < cfg.protocols.size(); ++i) {
    ProtocolConfig& p = cfg.protocols[i];
    const YAML::Node& o = p.options;
    p.tags = cfg.tags;
    for (const std::string& t : get_strings(o["tags"])) p.tags.push_back(t);
    p.field_members = field_members(ctx, "tapbeat.protocols." + p.type + ".fields", croot["fields"],
                                    global_root, o["fields"], get_bool(o["fields_under_root"], false));
  }
  if (const YAML::Node p = at(croot, "timestamp", "precision")) {
    const std::string v = get_string(p, "");
    if (v == "millisecond")
      cfg.timestamp_digits = 3;
    else if (v == "microsecond")
      cfg.timestamp_digits = 6;
    else if (v == "nanosecond")
      cfg.timestamp_digits = 9;
    else
      ctx.fail("timestamp.precision", "'" + v + "' is not one of millisecond, microsecond, nanosecond");
  }
  cfg.root = root;
  return cfg;
}

}  // namespace

namespace {

// Keys whose values are credentials wherever they appear.
bool secret_key(const std::string& k) {
  static const char* const kNames[] = {"password", "passwd",        "api_key",        "token",
                                       "secret",   "sasl.password", "key_passphrase", "client_secret"};
  for (const char* n : kNames)
    if (k == n || k.ends_with(std::string(".") + n)) return true;
  return false;
}

YAML::Node exported(const YAML::Node& n) {
  if (n.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      out[k] = secret_key(k) && it->second.IsScalar() ? YAML::Node("xxxxx") : exported(it->second);
    }
    return out;
  }
  if (n.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& e : n) out.push_back(exported(e));
    return out;
  }
  if (n.IsScalar()) {
    YAML::Node out(n.Tag() == kSecretTag ? std::string("xxxxx") : n.Scalar());
    if (n.Tag() == "!") out.SetStyle(YAML::EmitterStyle::Default);
    return out;
  }
  return YAML::Clone(n);
}

}  // namespace

std::string export_config(const Config& cfg) {
  YAML::Emitter e;
  e << exported(cfg.root);
  return std::string(e.c_str()) + "\n";
}

std::string keystore_file(const std::string& config_file, const std::vector<std::string>& overrides) {
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(config_file);
  } catch (const YAML::Exception&) {
  }
  return keystore_path(doc, overrides);
}

const ProtocolConfig* Config::protocol(const std::string& type) const {
  for (const auto& p : protocols)
    if (p.type == type) return &p;
  return nullptr;
}

const std::vector<std::string>& known_protocols() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const DecoderDescriptor& d : decoder_registry()) v.emplace_back(d.name);
    std::sort(v.begin(), v.end());
    return v;
  }();
  return names;
}

std::string generated_bpf_filter(const Config& cfg) {
  std::vector<std::string> parts;
  bool icmp = false;
  // Payload detection (tapbeat.detect: payload) finds TCP protocols on any port: the
  // filter keeps every TCP packet then, and narrows UDP to the ports alone.
  bool every_tcp = false;
  for (const auto& p : cfg.protocols) {
    const DecoderDescriptor* d = protocol_descriptor(p.type);
    if (p.enabled && d && (d->transports & kTransportTcp) && !d->probes.empty() &&
        cfg.engine.detect == "payload")
      every_tcp = true;
  }
  if (every_tcp) parts.push_back("tcp");
  for (const auto& p : cfg.protocols) {
    const DecoderDescriptor* d = protocol_descriptor(p.type);
    if (!p.enabled || !d) continue;
    icmp = icmp || (d->transports & kTransportIcmp);
    const bool tcp = (d->transports & kTransportTcp) && !every_tcp, udp = d->transports & kTransportUdp;
    for (uint16_t port : p.ports) {
      const std::string n = std::to_string(port);
      if (tcp && udp)
        parts.push_back("port " + n);
      else if (udp)
        parts.push_back("udp port " + n);
      else if (tcp)
        parts.push_back("tcp port " + n);
    }
  }
  std::sort(parts.begin(), parts.end());
  parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
  if (icmp) {
    parts.push_back("icmp");
    parts.push_back("icmp6");
  }
  std::string f;
  for (const auto& p : parts) f += (f.empty() ? "" : " or ") + p;
  if (f.empty()) return f;
  if (cfg.interfaces.with_vlans) f = "(" + f + ") or (vlan and (" + f + "))";
  return f;
}

Config load_config_text(const std::string& text, const std::string& name,
                        const std::vector<std::string>& overrides) {
  YAML::Node doc;
  try {
    const std::vector<YAML::Node> docs = YAML::LoadAll(text);
    if (docs.size() > 1)
      throw ConfigError(name, "",
                        "holds " + std::to_string(docs.size()) +
                            " YAML documents (--- separators); "
                            "a configuration is one");
    if (!docs.empty()) doc = docs[0];
  } catch (const YAML::ParserException& ex) {
    throw ConfigError(name, "",
                      "YAML syntax error at line " + std::to_string(ex.mark.line + 1) + ", column " +
                          std::to_string(ex.mark.column + 1) + ": " + ex.msg);
  }
  return build(doc, name, overrides);
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides, bool strict_perms) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ConfigError(path, "", "cannot open: " + std::string(std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw ConfigError(path, "", "cannot stat: " + std::string(std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) throw ConfigError(path, "", "is a directory, not a configuration file");
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
    throw ConfigError(path, "", "is not a regular file (a device or socket cannot be a configuration)");
  if (strict_perms && S_ISREG(st.st_mode)) {
    const uid_t me = ::geteuid();
    if (st.st_uid != me && st.st_uid != 0)
      throw ConfigError(path, "",
                        "must be owned by the user running tapbeat (uid=" + std::to_string(me) +
                            ") or by root, not uid " + std::to_string(st.st_uid) +
                            " (strict.perms; --strict.perms=false disables the check)");
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      throw ConfigError(path, "",
                        std::string("is writable by group or others (mode ") + mode +
                            "): run chmod go-w (strict.perms; --strict.perms=false disables the check)");
    }
  }
  // Read at most one byte past the bound (a FIFO or /proc file may not know its size).
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ConfigError(path, "", "cannot read: " + std::string(std::strerror(errno)));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigBytes)
      throw ConfigError(path, "",
                        "is larger than " + std::to_string(kMaxConfigBytes >> 20) +
                            " MiB, the most a "
                            "configuration may be");
  }
  return load_config_text(text, path, overrides);
}

// "10GB", "200MiB", "512kb", 1048576: Beats' byte sizes (decimal and binary units).
std::optional<uint64_t> parse_byte_size(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 19) return std::nullopt;
  const uint64_t n = std::stoull(text.substr(0, i));
  std::string unit;
  for (std::size_t j = i; j < text.size(); ++j)
    if (text[j] != ' ') unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[j])));
  static const std::map<std::string, uint64_t> kUnits = {{"", 1},
                                                         {"b", 1},
                                                         {"k", 1000},
                                                         {"kb", 1000},
                                                         {"kib", 1ull << 10},
                                                         {"m", 1000000},
                                                         {"mb", 1000000},
                                                         {"mib", 1ull << 20},
                                                         {"g", 1000000000},
                                                         {"gb", 1000000000},
                                                         {"gib", 1ull << 30},
                                                         {"t", 1000000000000},
                                                         {"tb", 1000000000000},
                                                         {"tib", 1ull << 40}};
  const auto it = kUnits.find(unit);
  if (it == kUnits.end() || n > UINT64_MAX / it->second) return std::nullopt;
  return n * it->second;
}

}  // namespace tapbeat
