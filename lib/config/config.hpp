// Packetbeat-compatible configuration: YAML -> typed, validated settings.
//
// `packetbeat.` and `tapbeat.` prefixes are equivalent; dotted keys nest as in any
// Beat. Unknown keys become warnings naming the key; wrong types and values throw
// ConfigError naming the file, the key and the reason. Start-up only: allocates freely.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/dpdk_config.hpp"
#include "decode/protocol.hpp"
#include "event/processors.hpp"
#include "util/options.hpp"

namespace tapbeat {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, std::string key, std::string reason);
  const std::string& file() const { return file_; }
  const std::string& key() const { return key_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string file_, key_, reason_;
};

struct InterfaceConfig {
  std::string device = "any";
  std::string type = "pcap";  // pcap | af_packet (TPACKET_V3 rings, one per worker) | dpdk
  uint32_t snaplen = 65535;
  bool snaplen_set = false;  // false: live capture raises snaplen to the device's largest frame
  uint32_t buffer_size_mb = 30;
  std::string bpf_filter;
  bool with_vlans = false;
  std::vector<std::string> internal_networks;
  std::string file;  // read this capture instead of a device
  bool auto_promisc_mode = false;
  bool ignore_outgoing = false;
  bool topspeed = false;  // a capture file read as fast as it goes (as -t)
  // af_packet: the PACKET_FANOUT group the workers' sockets join (-1: a group of this
  // process's own when there are several workers), and how often the kernel's
  // counters are read.
  int32_t fanout_group = -1;
  uint64_t metrics_interval_ns = 5'000'000'000;
};

struct FlowsConfig {
  bool enabled = false;  // on when the section is present
  uint64_t timeout_ns = 30'000'000'000;
  int64_t period_ns = 10'000'000'000;  // < 0: final reports only
  bool enable_delta_flow_reports = false;
};

struct OutputConfig {
  std::string type;     // console | file | kafka | elasticsearch | logstash
  bool pretty = false;  // console
  std::string path;     // file (default: path.data + "/events")
  std::string filename = "tapbeat";
  uint64_t rotate_every_kb = 10240;
  uint32_t number_of_files = 7;
  uint32_t permissions = 0600;
  bool rotate_on_startup = true;
  YAML::Node raw;  // the whole section, for later outputs
};

// Beats' `queue`: the output's in-memory bound, or a disk queue that takes the
// events an output cannot hand on yet.
struct QueueConfig {
  uint32_t mem_events = 0;                // queue.mem.events; 0: the output's default
  bool disk = false;                      // queue.disk present
  std::string disk_path;                  // default <path.data>/diskqueue
  uint64_t disk_max_bytes = 10ull << 30;  // queue.disk.max_size
  uint64_t disk_segment_bytes = 100ull << 20;
};

struct EngineConfig {
  std::string detect = "payload";  // payload | ports | off (tapbeat.detect)
  uint32_t workers = 0;            // 0: cores - 1, at least 1
  uint64_t stats_period_ns = 30'000'000'000;
  uint64_t shutdown_timeout_ns = 5'000'000'000;
  uint32_t max_flows = 1u << 20;        // whole process, split over workers
  uint32_t frag_max_sets = 1024;        // per worker
  uint64_t frag_max_bytes = 16u << 20;  // per worker
  uint64_t frag_timeout_ns = 30'000'000'000;
  uint32_t ring_mb = 32;       // packet ring per worker
  uint32_t event_chunks = 64;  // per worker
  uint32_t event_chunk_kb = 256;
  bool progress = true;
  // Started as root, the user tapbeat runs as once the capture is open (tapbeat.user);
  // "root" keeps root. user_set: named in the config (a missing user is then an error).
  std::string user = "tapbeat";
  bool user_set = false;
};

// Beats' logging.*: where tapbeat's own log lines go.
struct LoggingConfig {
  std::string level = "info";  // debug | info | warning | error
  bool to_stderr = true;
  bool to_files = false;
  bool json = true;
  std::string files_path;  // default <path.logs> ("logs")
  std::string files_name = "tapbeat";
  uint64_t rotate_every_bytes = 10 * 1024 * 1024;
  uint32_t keep_files = 7;
  uint32_t permissions = 0600;
  bool rotate_on_startup = true;  // logging.files.rotateonstartup: a non-empty file rotated at start
  uint64_t interval_ns = 0;       // logging.files.interval: also rotated each period; 0: by size only
};

// The monitoring endpoint (Beats' http.*).
struct MonitoringConfig {
  bool enabled = false;
  std::string host = "localhost";
  uint16_t port = 5066;
};

struct Config {
  LoggingConfig logging;
  MonitoringConfig http;
  // Global `fields` (fields_under_root) as JSON members for every event.
  std::string field_members;
  std::string file;  // where it came from, for messages
  InterfaceConfig interfaces;
  // packetbeat.interfaces as a list: the devices after the first (live pcap capture
  // only; every one feeds the same workers).
  std::vector<InterfaceConfig> more_interfaces;
  FlowsConfig flows;
  std::vector<ProtocolConfig> protocols;
  std::optional<OutputConfig> output;
  QueueConfig queue;
  // The root `processors` (parsed and checked at load; empty when none).
  std::shared_ptr<const ProcessorChain> processors;
  EngineConfig engine;
  DpdkConfig dpdk;
  std::string name;                   // agent.name override
  std::vector<std::string> tags;      // tags on every event
  int timestamp_digits = 3;           // timestamp.precision: millisecond 3, microsecond 6, nanosecond 9
  std::vector<std::string> warnings;  // unknown keys and ignored settings
  YAML::Node root;                    // normalised tree (prefixes merged, dots expanded)

  const ProtocolConfig* protocol(const std::string& type) const;
};

// Bounds on what a configuration may cost to read: the file's size, and the values
// its tree expands to (YAML aliases can make a small file expand without end).
inline constexpr std::size_t kMaxConfigBytes = 4u << 20;
inline constexpr std::size_t kMaxConfigValues = 100'000;
inline constexpr int kMaxConfigDepth = 64;

// Loads `path`, applies `overrides` ("dotted.key=value", value read as YAML).
// strict_perms: as Beats' strict.perms, the file must be owned by the user running
// tapbeat or by root and not writable by group or others. Throws ConfigError.
Config load_config(const std::string& path, const std::vector<std::string>& overrides,
                   bool strict_perms = true);
// Same, from YAML text; `name` is what messages call the source.
Config load_config_text(const std::string& text, const std::string& name,
                        const std::vector<std::string>& overrides);

// Beats byte size: "10GB", "200MiB", 4096.
std::optional<uint64_t> parse_byte_size(const std::string& text);

// parse_duration_ns (Go-style: "1m30s", "500ms", "-1s"; a bare number is seconds): util/options.hpp.

// The capture filter Packetbeat generates when flows are off: the protocols' ports
// (and ICMP when enabled), with a VLAN variant when with_vlans is set.
std::string generated_bpf_filter(const Config& cfg);
// The device of the default route (IPv4 first where both are asked), read from
// <proc>/net/route and <proc>/net/ipv6_route; empty where there is none.
std::string default_route_device(bool v4, bool v6, const std::string& proc = "/proc");

// `tapbeat export config`: the configuration as loaded (references resolved, -E
// applied, packetbeat.* and tapbeat.* merged) as YAML; credentials (password,
// api_key, token, ... and any value taken from the keystore) shown as xxxxx.
std::string export_config(const Config& cfg);

// The keystore's file for the configuration `config_file` (read leniently: it may
// not exist yet) and the -E overrides: keystore.path, else
// <path.data>/tapbeat.keystore.
std::string keystore_file(const std::string& config_file, const std::vector<std::string>& overrides);

// Names of protocols tapbeat knows (the config keys), for validation and docs.
const std::vector<std::string>& known_protocols();

}  // namespace tapbeat
