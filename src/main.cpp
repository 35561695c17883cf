// tapbeat command line, with Packetbeat's habits:
//   tapbeat [run] -c FILE [-I PCAP] [-t] [-e] [-E key=value]...
//   tapbeat test config -c FILE
//   tapbeat test output -c FILE
//   tapbeat setup --index-management -c FILE
//   tapbeat devices
//   tapbeat version
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "capture/dpdk/dpdk_runtime.hpp"
#include "capture/pcap_source.hpp"
#include "config/config.hpp"
#include "config/keystore.hpp"
#include "control.hpp"
#include "log.hpp"
#include "output/elasticsearch_sink.hpp"
#include "output/sink.hpp"
#include "runtime.hpp"
#include "version.hpp"

namespace {

using tapbeat::ConfigError;

const char* kUsage =
    "tapbeat analyses network traffic and ships Packetbeat-compatible events.\n"
    "\n"
    "Usage:\n"
    "  tapbeat [run] [flags]        capture and publish events (the default)\n"
    "  tapbeat test config [flags]  check the configuration and exit\n"
    "  tapbeat test output [flags]  check the configuration, then connect to the output\n"
    "  tapbeat setup [flags]        load the index template into Elasticsearch\n"
    "  tapbeat devices              list the devices libpcap can capture on\n"
    "  tapbeat keystore SUBCOMMAND  manage secrets referenced as ${NAME} (create, add, list, remove)\n"
    "  tapbeat export config|template  print the configuration as loaded (secrets masked) or the\n"
    "                               Elasticsearch index template\n"
    "  tapbeat version              print the version\n"
    "\n"
    "Run `tapbeat COMMAND --help` for a command's flags.\n";

const char* kRunUsage =
    "Usage: tapbeat [run] [flags]\n"
    "\n"
    "Flags:\n"
    "  -c FILE          configuration file (default tapbeat.yml; a relative one is read from\n"
    "                   --path.config, else --path.home, where given)\n"
    "  --path.home, --path.config, --path.data, --path.logs DIR  Beats' paths (path.data and\n"
    "                   path.logs default to <path.home>/data and <path.home>/logs)\n"
    "  -I FILE          read packets from a pcap or pcapng file instead of a device\n"
    "  -t               read the file as fast as possible (packet timestamps are kept)\n"
    "  -e               log to stderr only (logging.to_stderr: true, logging.to_files: false)\n"
    "  -E KEY=VALUE     override a configuration setting, e.g. -E tapbeat.workers=4\n"
    "  -d SELECTORS     debug messages on (logging.level: debug; every selector)\n"
    "  --strict.perms=false  accept a config file owned by another user or writable by group/others\n"
    "  --environment ENV  Beats' flag (systemd, container, ...): logs go to stderr by default anyway\n"
    "  -h, --help       this help\n";

const char* kTestUsage =
    "Usage: tapbeat test config [flags]\n"
    "       tapbeat test output [flags]\n"
    "\n"
    "config: loads and checks the configuration as a run would, short of opening the\n"
    "capture and connecting; prints warnings for unknown settings, then \"Config OK\"\n"
    "and exits 0, or exits 1 with the first error.\n"
    "output: the same checks, then connects to the output (Kafka, Logstash,\n"
    "Elasticsearch) as a run starts; exits 0 when a host answers, 1 otherwise.\n"
    "\n"
    "Flags:\n"
    "  -c FILE          configuration file (default tapbeat.yml)\n"
    "  -E KEY=VALUE     override a configuration setting\n"
    "  -h, --help       this help\n";

const char* kSetupUsage =
    "Usage: tapbeat setup [--index-management] [flags]\n"
    "\n"
    "Loads the index template of tapbeat's events (a data stream with the field types\n"
    "they use; setup.template.name and setup.template.pattern, default tapbeat-<version>)\n"
    "into the cluster of output.elasticsearch. Dashboards are Packetbeat's own: load them\n"
    "with `packetbeat setup --dashboards`.\n"
    "\n"
    "Flags:\n"
    "  --index-management  the index template (the default and only part)\n"
    "  -c FILE             configuration file (default tapbeat.yml)\n"
    "  -E KEY=VALUE        override a configuration setting\n"
    "  -h, --help          this help\n";
const char* kKeystoreUsage =
    "Usage: tapbeat keystore create [--force]\n"
    "       tapbeat keystore add NAME [--stdin] [--force]\n"
    "       tapbeat keystore list\n"
    "       tapbeat keystore remove NAME...\n"
    "\n"
    "Secrets the configuration references as ${NAME} (looked up in the keystore, then the\n"
    "environment). The keystore is keystore.path, default <path.data>/tapbeat.keystore, encrypted\n"
    "with the password in TAPBEAT_KEYSTORE_PASSWORD (empty when unset). `add` reads the value from\n"
    "standard input (a prompt without echo on a terminal). -c and -E apply as for a run.\n";
const char* kDevicesUsage =
    "Usage: tapbeat devices\n\nLists the capture devices with their index and addresses.\n";
const char* kVersionUsage = "Usage: tapbeat version\n\nPrints tapbeat's version and the libraries it uses.\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Args {
  std::vector<std::string> command;
  std::string config = "tapbeat.yml";
  bool config_set = false;
  std::string pcap;
  bool topspeed = false;
  bool help = false;
  bool index_management = false;
  bool dashboards = false;
  bool strict_perms = true;
  bool force = false;       // keystore create/add
  bool from_stdin = false;  // keystore add
  std::vector<std::string> overrides;
  std::string config_dir;  // --path.config
  std::string home_dir;    // --path.home
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) throw UsageError(std::string("flag ") + flag + " needs a value");
      return argv[++i];
    };
    // Go's flag package also accepts --flag and -flag=value.
    if (s.rfind("--", 0) == 0 && s != "--help") s = s.substr(1);
    std::string inline_value;
    bool has_inline = false;
    if (s.size() > 2 && s[0] == '-' && s.find('=') != std::string::npos && s.rfind("-E", 0) != 0) {
      inline_value = s.substr(s.find('=') + 1);
      s = s.substr(0, s.find('='));
      has_inline = true;
    }
    auto take = [&](const char* flag) { return has_inline ? inline_value : value(flag); };
    if (s == "-h" || s == "-help" || s == "--help") {
      a.help = true;
    } else if (s == "-c") {
      a.config = take("-c");
      a.config_set = true;
    } else if (s == "-I") {
      a.pcap = take("-I");
    } else if (s == "-t") {
      a.topspeed = true;
    } else if (s == "-e") {
      // Beats' -e: log to stderr only.
      a.overrides.push_back("logging.to_stderr=true");
      a.overrides.push_back("logging.to_files=false");
    } else if (s == "-systemTest" || s == "-N") {
    } else if (s == "-E") {
      a.overrides.push_back(value("-E"));
    } else if (s.rfind("-E", 0) == 0 && s.size() > 2) {
      a.overrides.push_back(s.substr(2));
    } else if (s == "-index-management") {
      a.index_management = true;
    } else if (s == "-dashboards") {
      a.dashboards = true;
    } else if (s == "-d") {
      // Beats' debug selectors: debug messages on (tapbeat has no per-selector filter).
      take("-d");
      a.overrides.push_back("logging.level=debug");
    } else if (s == "-strict.perms") {
      // A Go bool flag: -strict.perms, -strict.perms=true or -strict.perms=false.
      if (has_inline && inline_value != "true" && inline_value != "false")
        throw UsageError("-strict.perms takes true or false, not '" + inline_value + "'");
      a.strict_perms = !has_inline || inline_value == "true";
    } else if (s == "-path.home" || s == "-path.config" || s == "-path.data" || s == "-path.logs") {
      // As Beats' flags: the setting of the same name; path.config (else path.home) is
      // also where a relative -c is read from.
      const std::string dir = take(s.c_str());
      a.overrides.push_back(s.substr(1) + "=" + dir);
      if (s == "-path.config") a.config_dir = dir;
      if (s == "-path.home") a.home_dir = dir;
    } else if (s == "-environment") {
      // Beats' --environment (the flag Packetbeat's systemd unit passes): it picks the
      // default log output, stderr for systemd and container, as tapbeat's default is.
      const std::string env = take("-environment");
      if (env != "default" && env != "systemd" && env != "container" && env != "macos_service" &&
          env != "windows_service")
        throw UsageError(
            "--environment takes default, systemd, container, macos_service or windows_service, not '" + env +
            "'");
    } else if (s == "-force") {
      a.force = true;
    } else if (s == "-stdin") {
      a.from_stdin = true;
    } else if (!s.empty() && s[0] == '-') {
      throw UsageError("unknown flag " + std::string(argv[i]));
    } else {
      a.command.push_back(s);
    }
  }
  // Beats' cfgfile: a relative configuration file lies in path.config, else path.home,
  // as the flags give them (a service started with --path.config /etc/tapbeat and no -c).
  const std::string& base = a.config_dir.empty() ? a.home_dir : a.config_dir;
  if (!base.empty() && !a.config.empty() && a.config[0] != '/') a.config = base + "/" + a.config;
  return a;
}

void print_warnings(const tapbeat::Config& cfg) {
  for (const auto& w : cfg.warnings) tapbeat::log_line("warn", w);
}

[[noreturn]] void config_fail(const ConfigError& e) {
  std::fprintf(stderr, "tapbeat: config error: %s\n", tapbeat::redact_credentials(e.what()).c_str());
  std::exit(1);
}

// The configuration of -c and -E, its warnings logged (where logging.* says, for a
// command that runs: `with_logging`); a config error exits 1.
tapbeat::Config load_or_exit(const Args& args, bool with_logging = false) {
  try {
    tapbeat::Config cfg = tapbeat::load_config(args.config, args.overrides, args.strict_perms);
    if (with_logging) {
      try {
        tapbeat::configure_logging(cfg.logging);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "tapbeat: %s\n", e.what());
        std::exit(1);
      }
    }
    print_warnings(cfg);
    return cfg;
  } catch (const ConfigError& e) {
    config_fail(e);
  }
}

// `test output`: the output opened as a run opens it, except that a host must answer
// within its timeout (a run would go on and wait for one; the Kafka disk queue does not
// stand in for a broker here), then closed.
int cmd_test_output(tapbeat::Config cfg) {
  const std::string type = cfg.output->type;
  if (type == "console" || type == "file") {
    tapbeat::make_sink(cfg, tapbeat::SinkOpen::kCheckOnly);
    std::printf("%s output: nothing to connect to; settings OK\n", type.c_str());
    return 0;
  }
  cfg.queue.disk = false;
  auto sink = tapbeat::make_sink(cfg, tapbeat::SinkOpen::kRequireConnection);
  sink->close(tapbeat::mono_ns());
  std::printf("%s output: connection OK\n", type.c_str());
  return 0;
}

// A secret from standard input: the whole input less one trailing line break; on a
// terminal, a prompt with echo off.
std::string read_secret(const std::string& name, bool from_stdin) {
  const bool tty = !from_stdin && ::isatty(STDIN_FILENO);
  termios saved{};
  if (tty) {
    std::fprintf(stderr, "Enter value for %s: ", name.c_str());
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string v;
  if (tty) {
    std::getline(std::cin, v);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::fputs("\n", stderr);
  } else {
    v.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (!v.empty() && v.back() == '\n') v.pop_back();
    if (!v.empty() && v.back() == '\r') v.pop_back();
  }
  return v;
}

int cmd_keystore(const Args& args) {
  const std::vector<std::string>& cmd = args.command;
  if (args.help || cmd.size() < 2) {
    std::fputs(kKeystoreUsage, args.help ? stdout : stderr);
    return args.help ? 0 : 1;
  }
  const std::string& sub = cmd[1];
  tapbeat::Keystore ks = tapbeat::Keystore::open(tapbeat::keystore_file(args.config, args.overrides));
  if (sub == "create") {
    if (ks.exists() && !args.force) {
      std::fprintf(stderr, "tapbeat: %s already exists; --force replaces it with an empty one\n",
                   ks.path().c_str());
      return 1;
    }
    for (const std::string& n : ks.names()) ks.remove(n);
    ks.save();
    std::printf("Created tapbeat keystore %s\n", ks.path().c_str());
    return 0;
  }
  if (!ks.exists()) {
    std::fprintf(stderr, "tapbeat: no keystore at %s; create it with `tapbeat keystore create`\n",
                 ks.path().c_str());
    return 1;
  }
  if (sub == "list") {
    for (const std::string& n : ks.names()) std::printf("%s\n", n.c_str());
    return 0;
  }
  if (sub == "add") {
    if (cmd.size() != 3) return std::fputs(kKeystoreUsage, stderr), 1;
    const std::string& name = cmd[2];
    if (!tapbeat::valid_keystore_name(name)) {
      std::fprintf(stderr, "tapbeat: '%s' is not a keystore name (letters, digits, '_', '.', '-')\n",
                   name.c_str());
      return 1;
    }
    if (ks.get(name) && !args.force) {
      std::fprintf(stderr, "tapbeat: %s is in the keystore already; --force replaces it\n", name.c_str());
      return 1;
    }
    ks.set(name, read_secret(name, args.from_stdin));
    ks.save();
    std::printf("Added %s to the keystore\n", name.c_str());
    return 0;
  }
  if (sub == "remove") {
    if (cmd.size() < 3) return std::fputs(kKeystoreUsage, stderr), 1;
    for (std::size_t i = 2; i < cmd.size(); ++i)
      if (!ks.remove(cmd[i])) {
        std::fprintf(stderr, "tapbeat: %s is not in the keystore\n", cmd[i].c_str());
        return 1;
      }
    ks.save();
    return 0;
  }
  std::fprintf(stderr, "tapbeat: unknown keystore command '%s'\n%s", sub.c_str(), kKeystoreUsage);
  return 1;
}

int cmd_version() {
  const std::string dpdk = tapbeat::dpdk_version();
  std::printf("tapbeat version %s (%s), %s, %s\n", tapbeat::kTapbeatVersion, tapbeat::kTapbeatArch,
              tapbeat::pcap_library_version().c_str(), dpdk.empty() ? "without DPDK" : dpdk.c_str());
  return 0;
}

int cmd_devices() {
  const auto devs = tapbeat::list_devices();
  for (std::size_t i = 0; i < devs.size(); ++i) {
    std::printf("%zu: %s (%s)", i, devs[i].name.c_str(),
                devs[i].description.empty() ? "No description available" : devs[i].description.c_str());
    if (!devs[i].addresses.empty()) {
      std::printf(" (");
      for (std::size_t k = 0; k < devs[i].addresses.size(); ++k)
        std::printf("%s%s", k ? " " : "", devs[i].addresses[k].c_str());
      std::printf(")");
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = parse_args(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "tapbeat: %s (see tapbeat --help)\n", e.what());
    return 1;
  }
  const std::vector<std::string>& cmd = args.command;
  const std::string verb = cmd.empty() ? "run" : cmd[0];
  try {
    if (verb == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (verb == "version") {
      if (args.help) return std::fputs(kVersionUsage, stdout), 0;
      return cmd_version();
    }
    if (verb == "keystore") return cmd_keystore(args);
    if (verb == "export") {
      if (args.help || cmd.size() != 2 || (cmd[1] != "config" && cmd[1] != "template")) {
        std::fputs(
            "Usage: tapbeat export config [flags]\n       tapbeat export template [flags]\n\n"
            "config: the configuration as loaded (${} resolved, -E applied), credentials masked.\n"
            "template: the index template setup --index-management loads, as JSON.\n",
            args.help ? stdout : stderr);
        return args.help ? 0 : 1;
      }
      const tapbeat::Config cfg = load_or_exit(args);
      if (cmd[1] == "config") {
        std::fputs(tapbeat::export_config(cfg).c_str(), stdout);
      } else {
        const auto [name, body] = tapbeat::index_template(cfg);
        std::printf("%s\n", body.c_str());
      }
      return 0;
    }
    if (verb == "devices") {
      if (args.help) return std::fputs(kDevicesUsage, stdout), 0;
      return cmd_devices();
    }
    if (verb == "test") {
      if (args.help || cmd.size() < 2) {
        if (!args.help) {
          std::fprintf(stderr, "tapbeat: `test` needs a subcommand: config or output\n");
          return 1;
        }
        return std::fputs(kTestUsage, stdout), 0;
      }
      if (cmd[1] == "output") {
        tapbeat::Config cfg = load_or_exit(args);
        tapbeat::check_run_config(cfg);
        return cmd_test_output(cfg);
      }
      if (cmd[1] != "config") {
        std::fprintf(stderr, "tapbeat: unknown test '%s' (known: config, output)\n", cmd[1].c_str());
        return 1;
      }
      try {
        const auto cfg = tapbeat::load_config(args.config, args.overrides, args.strict_perms);
        print_warnings(cfg);
        tapbeat::check_run_config(cfg);
      } catch (const ConfigError& e) {
        config_fail(e);
      }
      std::printf("Config OK\n");
      return 0;
    }
    if (verb == "setup") {
      if (args.help) return std::fputs(kSetupUsage, stdout), 0;
      if (args.dashboards) {
        std::fprintf(stderr,
                     "tapbeat: dashboards are Packetbeat's: load them with `packetbeat setup --dashboards` "
                     "(they read the same fields)\n");
        return 1;
      }
      tapbeat::setup_index_management(load_or_exit(args));
      std::printf("Index setup finished.\n");
      return 0;
    }
    if (verb != "run") {
      std::fprintf(stderr, "tapbeat: unknown command '%s'\n%s", verb.c_str(), kUsage);
      return 1;
    }
    if (args.help) {
      if (cmd.empty()) std::fputs(kUsage, stdout), std::fputs("\n", stdout);
      std::fputs(kRunUsage, stdout);
      return 0;
    }
    const tapbeat::Config cfg = load_or_exit(args, true);
    tapbeat::RunOptions opts;
    opts.pcap_file = args.pcap;
    opts.topspeed = args.topspeed || cfg.interfaces.topspeed;
    return tapbeat::run(cfg, opts);
  } catch (const ConfigError& e) {
    config_fail(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapbeat: %s\n", tapbeat::redact_credentials(e.what()).c_str());
    return 1;
  }
}
