#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.hpp"
#include "config/keystore.hpp"

namespace tapbeat {
namespace {

// The Packetbeat tutorial's configuration, which must load unchanged.
std::string tutorial() {
  std::ifstream in(TAPBEAT_SOURCE_DIR "/tests/data/packetbeat-tutorial.yml");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Config load(const std::string& text, std::vector<std::string> overrides = {}) {
  return load_config_text(text, "test.yml", overrides);
}

// The exact one-line message a bad config gives.
std::string error_of(const std::string& text, std::vector<std::string> overrides = {}) {
  try {
    load(text, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Config, TutorialConfigLoads) {
  const Config c = load(tutorial());
  EXPECT_EQ(c.interfaces.device, "any");
  EXPECT_TRUE(c.flows.enabled);
  EXPECT_EQ(c.flows.timeout_ns, 30'000'000'000u);
  EXPECT_EQ(c.flows.period_ns, 10'000'000'000);
  ASSERT_EQ(c.protocols.size(), 5u);
  EXPECT_EQ(c.protocols[0].type, "icmp");
  EXPECT_TRUE(c.protocols[0].enabled);
  const ProtocolConfig* http = c.protocol("http");
  ASSERT_NE(http, nullptr);
  EXPECT_EQ(http->ports, (std::vector<uint16_t>{80, 8080, 8000, 5000, 8002}));
  EXPECT_TRUE(c.protocol("dns")->options["include_authorities"].as<bool>());
  ASSERT_TRUE(c.output.has_value());
  EXPECT_EQ(c.output->type, "elasticsearch");
  EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
}

TEST(Config, TapbeatAndPacketbeatPrefixesAreOneSection) {
  const Config c =
      load("tapbeat.interfaces.device: eth1\npacketbeat.interfaces.snaplen: 1500\noutput.console: {}\n");
  EXPECT_EQ(c.interfaces.device, "eth1");
  EXPECT_EQ(c.interfaces.snaplen, 1500u);
  EXPECT_TRUE(c.interfaces.snaplen_set);
  EXPECT_EQ(c.output->type, "console");
}

TEST(Config, SnaplenLeftUnsetFollowsTheDevice) {
  // Unset snaplen keeps 65535 and lets live capture raise it to the MTU.
  const Config c = load("tapbeat.interfaces.device: lo\noutput.console: {}\n");
  EXPECT_EQ(c.interfaces.snaplen, 65535u);
  EXPECT_FALSE(c.interfaces.snaplen_set);
}

TEST(Config, DictionaryFormOfProtocols) {
  const Config c = load(
      "packetbeat.protocols:\n  http:\n    ports: [80]\n    send_headers: [Host]\n  dns:\n    ports: [53]\n");
  ASSERT_EQ(c.protocols.size(), 2u);
  EXPECT_EQ(c.protocol("http")->ports, std::vector<uint16_t>{80});
  EXPECT_TRUE(c.protocol("http")->options["send_headers"].IsSequence());
}

TEST(Config, OverridesApplyToAnyDottedKey) {
  const Config c = load(tutorial(), {"packetbeat.flows.period=-1", "tapbeat.workers=3",
                                     "output.elasticsearch.enabled=false", "output.console.pretty=true"});
  EXPECT_EQ(c.flows.period_ns, -1'000'000'000);
  EXPECT_EQ(c.engine.workers, 3u);
  EXPECT_EQ(c.output->type, "console");
  EXPECT_TRUE(c.output->pretty);
}

TEST(Config, OverridesReachProtocolEntriesByType) {
  const Config c = load(tutorial(), {"packetbeat.protocols.dns.include_authorities=false",
                                     "packetbeat.protocols.redis.ports=[6380]"});
  EXPECT_FALSE(c.protocol("dns")->options["include_authorities"].as<bool>());
  EXPECT_EQ(c.protocol("dns")->ports, std::vector<uint16_t>{53});
  ASSERT_NE(c.protocol("redis"), nullptr);
  EXPECT_EQ(c.protocol("redis")->ports, std::vector<uint16_t>{6380});
  EXPECT_EQ(c.protocols.size(), 6u);
}

TEST(Config, UnknownKeysWarnWithTheirName) {
  const Config c = load("packetbeat.flows:\n  timout: 5s\nbogus: 1\noutput.console: {}\n");
  std::vector<std::string> w = c.warnings;
  std::sort(w.begin(), w.end());
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0], "test.yml: bogus: unknown setting, ignored");
  EXPECT_EQ(w[1], "test.yml: tapbeat.flows.timout: unknown setting, ignored");
}

TEST(Config, BadValuesGiveExactErrors) {
  EXPECT_EQ(error_of("packetbeat.flows.timeout: 3x\n"),
            "test.yml: tapbeat.flows.timeout: expected a duration such as 30s, 1m or 500ms, got '3x'");
  EXPECT_EQ(error_of("packetbeat.flows.enabled: maybe\n"),
            "test.yml: tapbeat.flows.enabled: expected true or false, got 'maybe'");
  EXPECT_EQ(error_of("packetbeat.protocols:\n- type: http\n  ports: [80, 70000]\n"),
            "test.yml: tapbeat.protocols[0].ports[1]: expected a port number 1-65535, got '70000'");
  EXPECT_EQ(error_of("packetbeat.protocols:\n- type: gopher\n"),
            "test.yml: tapbeat.protocols[0]: unknown protocol 'gopher' (known: amqp, cassandra, dhcpv4, dns, "
            "http, icmp, memcache, mongodb, mysql, nfs, pgsql, redis, sip, thrift, tls)");
  EXPECT_EQ(error_of("packetbeat.protocols:\n- ports: [80]\n"),
            "test.yml: tapbeat.protocols[0].type: missing: every entry names its protocol");
  EXPECT_EQ(error_of("packetbeat.protocols:\n- type: http\n- type: http\n"),
            "test.yml: tapbeat.protocols[1]: protocol 'http' is configured twice");
  EXPECT_EQ(error_of("packetbeat.interfaces.type: netmap\n"),
            "test.yml: tapbeat.interfaces.type: 'netmap' is not one of pcap, af_packet, dpdk");
  EXPECT_EQ(error_of("packetbeat.interfaces.internal_networks: [10.0.0.0/33]\n"),
            "test.yml: tapbeat.interfaces.internal_networks[0]: '10.0.0.0/33' is neither a CIDR nor a named "
            "network (private, loopback, unicast, multicast, ...)");
  EXPECT_EQ(error_of("output.console: {}\noutput.file: {}\n"),
            "test.yml: output: more than one output is enabled (console, file); enable exactly one");
  EXPECT_EQ(error_of("output.kafka:\n  hosts: [a:9092]\n  topic: t\n  compression: brotli\n"),
            "test.yml: output.kafka.compression: 'brotli' is not one of none, gzip, snappy, lz4, zstd");
  EXPECT_EQ(error_of("output.kafka:\n  topic: t\n"),
            "test.yml: output.kafka.hosts: missing: list at least one host");
  EXPECT_EQ(error_of("output.file:\n  number_of_files: 1\n"),
            "test.yml: output.file.number_of_files: must be between 2 and 1024");
  EXPECT_EQ(error_of("packetbeat.flows.period: 0s\n"),
            "test.yml: tapbeat.flows.period: must be positive, or -1 for final reports only");
  EXPECT_EQ(error_of("packetbeat.flows: [1]\n"), "test.yml: tapbeat.flows: expected a mapping, got a list");
  EXPECT_EQ(error_of("a: [1\n"),
            "test.yml: YAML syntax error at line 2, column 1: end of sequence flow not found");
  EXPECT_EQ(error_of("", {"novalue"}), "-E (argument 1): expected key=value");
}

TEST(Config, DpdkSection) {
  const Config c = load(R"(packetbeat.interfaces.type: dpdk
tapbeat.dpdk:
  lcores: "0@0,1@1"
  no_huge: true
  no_pci: true
  memory_mb: 512
  ports:
    - net_pcap0,rx_pcap=a.pcap
    - {device: "0000:03:00.0", rx_queues: 4, rx_descriptors: 2048}
output.console: {}
)");
  ASSERT_EQ(c.dpdk.ports.size(), 2u);
  EXPECT_TRUE(c.dpdk.ports[0].is_vdev());
  EXPECT_EQ(c.dpdk.ports[0].name(), "net_pcap0");
  EXPECT_FALSE(c.dpdk.ports[1].is_vdev());
  EXPECT_EQ(c.dpdk.ports[1].rx_queues, 4);
  const std::vector<std::string> argv = c.dpdk.eal_argv();
  const std::vector<std::string> want = {"tapbeat",
                                         "--lcores",
                                         "0@0,1@1",
                                         "-m",
                                         "512",
                                         "--no-huge",
                                         "--no-pci",
                                         "--file-prefix",
                                         "tapbeat",
                                         "--vdev",
                                         "net_pcap0,rx_pcap=a.pcap"};
  EXPECT_EQ(argv, want);
  EXPECT_EQ(error_of("packetbeat.interfaces.type: dpdk\n"),
            "test.yml: tapbeat.dpdk.ports: missing: interfaces.type is dpdk, list at least one port");
  EXPECT_EQ(error_of("tapbeat.dpdk.ports: [{device: x, rx_descriptors: 1000}]\n"),
            "test.yml: tapbeat.dpdk.ports[0].rx_descriptors: must be a power of two between 64 and 16384");
  EXPECT_EQ(error_of("tapbeat.dpdk.burst_size: 64\n"),
            "test.yml: tapbeat.dpdk.burst_size: must be between 1 and 32 (the worker's burst)");
  EXPECT_EQ(error_of("tapbeat.dpdk.idle: sleepy\n"),
            "test.yml: tapbeat.dpdk.idle: 'sleepy' is not one of poll, backoff");
}

TEST(Config, Durations) {
  EXPECT_EQ(parse_duration_ns("30s"), 30'000'000'000);
  EXPECT_EQ(parse_duration_ns("1m30s"), 90'000'000'000);
  EXPECT_EQ(parse_duration_ns("500ms"), 500'000'000);
  EXPECT_EQ(parse_duration_ns("-1s"), -1'000'000'000);
  EXPECT_EQ(parse_duration_ns("-1"), -1'000'000'000);
  EXPECT_EQ(parse_duration_ns("1.5h"), 5400'000'000'000);
  EXPECT_EQ(parse_duration_ns("2"), 2'000'000'000);
  EXPECT_FALSE(parse_duration_ns("s"));
  EXPECT_FALSE(parse_duration_ns("10 s"));
  EXPECT_FALSE(parse_duration_ns("1d"));
}

TEST(Config, GeneratedBpfFilterFromPorts) {
  Config c = load(
      "packetbeat.protocols:\n- type: icmp\n- type: dns\n  ports: [53]\n- type: http\n  ports: [80, 8080]\n"
      "- type: redis\n  ports: [6379]\n  enabled: false\n");
  // Payload detection (the default) finds HTTP on any port: every TCP packet is kept.
  EXPECT_EQ(generated_bpf_filter(c), "tcp or udp port 53 or icmp or icmp6");
  c.engine.detect = "ports";  // Packetbeat's rule, Packetbeat's filter
  EXPECT_EQ(generated_bpf_filter(c), "port 53 or tcp port 80 or tcp port 8080 or icmp or icmp6");
  c.interfaces.with_vlans = true;
  EXPECT_EQ(
      generated_bpf_filter(c),
      "(port 53 or tcp port 80 or tcp port 8080 or icmp or icmp6) or (vlan and (port 53 or tcp port 80 or "
      "tcp port 8080 or icmp or icmp6))");
}

TEST(Config, AProtocolWithItsPortsCommentedOutIsOffAsInPacketbeat) {
  // Packetbeat's shipped packetbeat.yml: "You can disable the HTTP protocol by commenting
  // out the list of ports"; an empty list is tapbeat's payload detection alone.
  const Config c = load(
      "packetbeat.protocols:\n- type: icmp\n- type: http\n#  ports: [80]\n- type: tls\n  ports: []\n"
      "- type: dns\n  ports: [53]\nsetup.kibana:\n#  host: x\n");
  ASSERT_EQ(c.protocols.size(), 4u);
  EXPECT_TRUE(c.protocols[0].enabled);   // icmp: no ports to list
  EXPECT_FALSE(c.protocols[1].enabled);  // http: off
  EXPECT_TRUE(c.protocols[2].enabled);   // tls: found by payload detection
  EXPECT_TRUE(c.protocols[3].enabled);
  auto warned = [&](const std::string& text) {
    return std::any_of(c.warnings.begin(), c.warnings.end(),
                       [&](const std::string& w) { return w.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(warned("tapbeat.protocols[1].ports: not set: http is off, as in Packetbeat"));
  EXPECT_TRUE(warned("tapbeat.protocols[2].ports: empty: the protocol is only found by payload detection"));
  EXPECT_FALSE(warned("setup.kibana"));  // a section with nothing set below it
  EXPECT_EQ(generated_bpf_filter(c), "tcp or udp port 53 or icmp or icmp6");  // tls: payload detection
}

TEST(Config, DefaultRouteDeviceFromTheKernelsTables) {
  // Tables as the kernel writes them: IPv4 through wan1 (metric 100) and wan0 (metric
  // 50), a down route through wan2; IPv6 through wan6, beside lo's reject route.
  const std::string dir = ::testing::TempDir() + "/proc-routes";
  std::filesystem::create_directories(dir + "/net");
  std::ofstream(dir + "/net/route")
      << "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
         "wan1\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
         "wan0\t00000000\t010300C0\t0003\t0\t0\t50\t00000000\t0\t0\t0\n"
         "wan2\t00000000\t010400C0\t0002\t0\t0\t1\t00000000\t0\t0\t0\n"
         "lan0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
  std::ofstream(dir + "/net/ipv6_route")
      << "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
         "fd000000000000000000000000000001 00000400 00000002 00000000 00000003     wan6\n"
         "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
         "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
  EXPECT_EQ(default_route_device(true, true, dir), "wan0");
  EXPECT_EQ(default_route_device(false, true, dir), "wan6");
  EXPECT_EQ(default_route_device(true, false, dir), "wan0");
  EXPECT_EQ(default_route_device(true, true, dir + "/none"), "");
  std::ofstream(dir + "/net/route") << "Iface\tDestination\n";  // no IPv4 default: IPv6's
  EXPECT_EQ(default_route_device(true, true, dir), "wan6");
  EXPECT_EQ(default_route_device(true, false, dir), "");
}

TEST(Config, LibrdkafkaPropertiesKeepTheirDots) {
  const Config c =
      load("output.kafka:\n  hosts: [b:9092]\n  topic: t\n  librdkafka:\n    queue.buffering.max.ms: 5\n");
  EXPECT_EQ(c.output->raw["librdkafka"]["queue.buffering.max.ms"].as<int>(), 5);
}

}  // namespace
}  // namespace tapbeat

namespace tapbeat {
namespace {

// ${NAME} references, resolved from the keystore, then the environment.
TEST(ConfigReferences, EnvironmentDefaultsNestingEscapesAndShapes) {
  ::setenv("TB_TEST_DEVICE", "eth7", 1);
  ::setenv("TB_TEST_HOSTS", "[\"es1:9200\", \"es2:9200\"]", 1);
  ::unsetenv("TB_TEST_MISSING");
  const Config c = load(
      "tapbeat.interfaces.device: ${TB_TEST_DEVICE}\n"
      "tapbeat.interfaces.bpf_filter: \"port ${TB_TEST_MISSING:${TB_TEST_ALSO_MISSING:53}} and not $$x\"\n"
      "output.elasticsearch:\n"
      "  hosts: ${TB_TEST_HOSTS}\n"
      "  username: \"${TB_TEST_MISSING:elastic}\"\n",
      {"path.data=/nonexistent-tapbeat-test"});
  EXPECT_EQ(c.interfaces.device, "eth7");
  EXPECT_EQ(c.interfaces.bpf_filter, "port 53 and not $x");
  const YAML::Node hosts = c.root["output"]["elasticsearch"]["hosts"];
  ASSERT_TRUE(hosts.IsSequence());  // one reference alone takes the list's shape
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[1].as<std::string>(), "es2:9200");
  EXPECT_EQ(c.root["output"]["elasticsearch"]["username"].as<std::string>(), "elastic");
  // -E values are resolved too.
  EXPECT_EQ(load("", {"tapbeat.interfaces.device=${TB_TEST_DEVICE}", "path.data=/nonexistent-tapbeat-test"})
                .interfaces.device,
            "eth7");
}

TEST(ConfigReferences, ASettingOfTheFileByItsDottedName) {
  const Config c = load(
      "path: {data: /var/lib/tb}\n"
      "queue.disk: {path: \"${path.data}/q\"}\n"
      "output.file: {path: \"${path.data}/events\", filename: \"${output.file.prefix:tb}\"}\n");
  EXPECT_EQ(c.queue.disk_path, "/var/lib/tb/q");
  ASSERT_TRUE(c.output);
  EXPECT_EQ(c.output->path, "/var/lib/tb/events");
  EXPECT_EQ(c.output->filename, "tb");
  EXPECT_EQ(load("queue.disk.path: ${path.data}/q\n").queue.disk_path, "data/q");  // path.data's default
  EXPECT_NE(error_of("name: ${name}\n").find("${name} is neither"), std::string::npos);
  EXPECT_NE(error_of("a.b: ${a.b}\nname: ${a.b}\n").find("nest deeper than 8"), std::string::npos);
}

TEST(ConfigReferences, AMissingValueNamesTheKeyAndTheVariableNeverAValue) {
  ::unsetenv("TB_TEST_MISSING");
  ::setenv("TB_TEST_SECRET", "s3cr3t-value", 1);
  const std::string e =
      error_of("output.elasticsearch:\n  password: ${TB_TEST_MISSING}\n  username: ${TB_TEST_SECRET}\n",
               {"path.data=/nonexistent-tapbeat-test"});
  EXPECT_NE(e.find("output.elasticsearch.password"), std::string::npos) << e;
  EXPECT_NE(e.find("${TB_TEST_MISSING} is neither in the keystore"), std::string::npos) << e;
  EXPECT_EQ(e.find("s3cr3t-value"), std::string::npos) << e;
  EXPECT_NE(error_of("name: ${TB_TEST_MISSING:?set TB_TEST_MISSING to the beat's name}\n")
                .find("name: ${TB_TEST_MISSING}: set TB_TEST_MISSING to the beat's name"),
            std::string::npos);
  EXPECT_NE(error_of("name: \"${TB_TEST_MISSING\"\n").find("without its closing }"), std::string::npos);
}

TEST(ConfigReferences, TheKeystoreComesBeforeTheEnvironment) {
  char dir[] = "/tmp/tapbeat-ks-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string data = std::string(dir) + "/data";
  Keystore ks = Keystore::open(data + "/tapbeat.keystore");
  EXPECT_FALSE(ks.exists());
  ks.set("TB_TEST_PW", "from-keystore");
  ks.save();
  ::setenv("TB_TEST_PW", "from-environment", 1);
  const Config c =
      load("path.data: " + data + "\noutput.elasticsearch:\n  hosts: [a]\n  password: ${TB_TEST_PW}\n");
  EXPECT_EQ(c.root["output"]["elasticsearch"]["password"].as<std::string>(), "from-keystore");
  // Read back as saved; another password does not open it.
  EXPECT_EQ(Keystore::open(data + "/tapbeat.keystore").names(), std::vector<std::string>{"TB_TEST_PW"});
  ::setenv("TAPBEAT_KEYSTORE_PASSWORD", "another", 1);
  EXPECT_THROW(Keystore::open(data + "/tapbeat.keystore"), KeystoreError);
  ::unsetenv("TAPBEAT_KEYSTORE_PASSWORD");
  std::remove((data + "/tapbeat.keystore").c_str());
  ::rmdir(data.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace tapbeat

namespace tapbeat {
namespace {

TEST(Config, IndexOfAProtocolOrTheFlowsIsAppliedKeepNullWarned) {
  const Config c = load(
      "packetbeat.flows: {timeout: 30s, index: flows-x, keep_null: true}\n"
      "packetbeat.protocols:\n- {type: dns, ports: [53], index: 'dns-%{[agent.version]}', keep_null: true, "
      "ignore_outgoing: true}\n");
  auto warned = [&](const std::string& key) {
    return std::any_of(c.warnings.begin(), c.warnings.end(),
                       [&](const std::string& w) { return w.find(": " + key + ": ") != std::string::npos; });
  };
  EXPECT_TRUE(warned("tapbeat.flows.keep_null"));  // was taken without a word
  EXPECT_TRUE(warned("tapbeat.protocols[0].keep_null"));
  EXPECT_TRUE(warned("tapbeat.protocols[0].ignore_outgoing"));  // the interface's setting, not a protocol's
  EXPECT_FALSE(warned("tapbeat.protocols[0].index"));           // now applied: @metadata.raw_index
  EXPECT_FALSE(warned("tapbeat.flows.index"));
  ASSERT_TRUE(c.processors);
  EXPECT_FALSE(c.processors->empty());
}

TEST(Config, QueueAndOutputTuningTapbeatDoesNotHaveIsWarned) {
  // Each had been accepted without a word.
  const Config c = load(
      "queue.disk: {max_size: 1GB, read_ahead: 512, write_ahead: 2048, retry_interval: 1s, "
      "max_retry_interval: "
      "30s}\n"
      "output.elasticsearch: {hosts: ['http://127.0.0.1:9200'], preset: balanced, idle_connection_timeout: "
      "3s}\n");
  for (const char* key : {"queue.disk.read_ahead", "queue.disk.write_ahead", "queue.disk.retry_interval",
                          "queue.disk.max_retry_interval", "output.elasticsearch.preset",
                          "output.elasticsearch.idle_connection_timeout"})
    EXPECT_TRUE(std::any_of(c.warnings.begin(), c.warnings.end(), [&](const std::string& w) {
      return w.find(std::string(": ") + key + ": ") != std::string::npos;
    })) << key;
  const Config mem = load("queue.mem: {events: 4096, flush.min_events: 512, flush.timeout: 5s}\n");
  EXPECT_EQ(mem.warnings.size(), 2u);
  // Batching switched off, and the custom preset, ask for what tapbeat does.
  const Config quiet = load(
      "queue.mem: {events: 4096, flush: {min_events: 0, timeout: 0s}}\n"
      "output.elasticsearch: {hosts: ['http://127.0.0.1:9200'], preset: custom}\n");
  EXPECT_TRUE(quiet.warnings.empty()) << quiet.warnings.front();
}

TEST(Config, BeatsSettingsThatAreNotAppliedAreEachWarnedAbout) {
  const Config c = load(
      "logging.level: debug\nlogging.selectors: [\"*\"]\nlogging.metrics.enabled: true\n"
      "logging.metrics.period: 10s\nsetup.kibana.host: \"k:5601\"\nmonitoring.enabled: true\n"
      "xpack.monitoring: {enabled: false, elasticsearch: {hosts: [x]}}\n"
      "setup.template.enabled: true\nsetup.template.overwrite: false\nlogging.to_syslog: false\n"
      "setup.template.name: x\nsetup.template.pattern: \"x-*\"\npath.data: /tmp/d\nmax_procs: 2\n");
  auto warned = [&](const std::string& key) {
    return std::any_of(c.warnings.begin(), c.warnings.end(),
                       [&](const std::string& w) { return w.find(": " + key + ": ") != std::string::npos; });
  };
  for (const char* key : {"setup.kibana.host", "max_procs", "monitoring.enabled", "setup.template.overwrite"})
    EXPECT_TRUE(warned(key)) << key;
  for (const char* key : {"setup.template.name", "setup.template.pattern", "path.data", "logging.level",
                          "logging.metrics.enabled", "logging.metrics.period"})
    EXPECT_FALSE(warned(key)) << key;  // applied
  // A feature tapbeat does not have, switched off: nothing of its section is warned about.
  for (const char* key : {"xpack.monitoring.enabled", "xpack.monitoring.elasticsearch.hosts",
                          "setup.template.enabled", "logging.to_syslog"})
    EXPECT_FALSE(warned(key)) << key;
  EXPECT_EQ(c.engine.stats_period_ns, 10'000'000'000u);  // logging.metrics.period
  // Debug output of every component ("*", as tapbeat's log has it) is no warning; a
  // list of Beats' component names is.
  EXPECT_FALSE(warned("logging.selectors"));
  const Config named = load("logging.level: debug\nlogging.selectors: [publisher, dns]\n");
  EXPECT_TRUE(std::any_of(named.warnings.begin(), named.warnings.end(), [](const std::string& w) {
    return w.find(": logging.selectors: ") != std::string::npos;
  }));
}

}  // namespace
}  // namespace tapbeat
