#include "decode/decoder_set.hpp"

#include <algorithm>
#include <stdexcept>

namespace tapbeat {

DecoderSet::DecoderSet() {
  if (const std::string bad = validate_registry(); !bad.empty()) throw std::logic_error("decoder registry: " + bad);
}

void DecoderSet::claim(int d, uint8_t transports, std::span<const uint16_t> ports) {
  const auto reg = decoder_registry();
  for (uint16_t p : ports) {
    for (auto* table : {&plan_.tcp_ports, &plan_.udp_ports}) {
      if (table == &plan_.tcp_ports ? !(transports & kTransportTcp) : !(transports & kTransportUdp)) continue;
      uint8_t& slot = (*table)[p];
      if (slot && slot != d + 1)
        throw std::invalid_argument("port " + std::to_string(p) + " is claimed by both " +
                                    std::string(reg[slot - 1].name) + " and " + std::string(reg[d].name));
      slot = static_cast<uint8_t>(d + 1);
    }
  }
}

void DecoderSet::enable_icmp() { plan_.config[decoder_index("icmp")] = &icmp; }

void DecoderSet::enable_dns(std::span<const uint16_t> ports) {
  const int d = decoder_index("dns");
  plan_.config[d] = &dns;
  claim(d, kTransportTcp | kTransportUdp, ports);
}

void DecoderSet::enable_http(std::span<const uint16_t> ports) {
  const int d = decoder_index("http");
  plan_.config[d] = &http;
  claim(d, kTransportTcp, ports);
}

void DecoderSet::enable_redis(std::span<const uint16_t> ports) {
  const int d = decoder_index("redis");
  plan_.config[d] = &redis;
  claim(d, kTransportTcp, ports);
}

void DecoderSet::enable_memcache(std::span<const uint16_t> ports) {
  const int d = decoder_index("memcache");
  plan_.config[d] = &memcache;
  claim(d, kTransportTcp | kTransportUdp, ports);
}

void DecoderSet::enable_mysql(std::span<const uint16_t> ports) {
  const int d = decoder_index("mysql");
  plan_.config[d] = &mysql;
  mysql.set_ports(ports);
  claim(d, kTransportTcp, ports);
}

void DecoderSet::enable_pgsql(std::span<const uint16_t> ports) {
  const int d = decoder_index("pgsql");
  plan_.config[d] = &pgsql;
  pgsql.set_ports(ports);
  claim(d, kTransportTcp, ports);
}

void DecoderSet::enable_mongodb(std::span<const uint16_t> ports) {
  const int d = decoder_index("mongodb");
  plan_.config[d] = &mongodb;
  claim(d, kTransportTcp, ports);
}

void DecoderSet::enable_amqp(std::span<const uint16_t> ports) {
  const int d = decoder_index("amqp");
  plan_.config[d] = &amqp;
  claim(d, kTransportTcp, ports);
}

void DecoderSet::enable_cassandra(std::span<const uint16_t> ports) {
  const int d = decoder_index("cassandra");
  plan_.config[d] = &cassandra;
  claim(d, kTransportTcp, ports);
}

void DecoderSet::enable_detection() {
  detector_ = std::make_unique<PayloadDetector>(plan_);
  plan_.detector = detector_->empty() ? nullptr : detector_.get();
}

uint64_t DecoderSet::tcp_timeout_ns() const {
  uint64_t t = UINT64_MAX;
  if (plan_.config[decoder_index("http")]) t = std::min(t, http.timeout_ns);
  if (plan_.config[decoder_index("dns")]) t = std::min(t, dns.timeout_ns);
  if (plan_.config[decoder_index("redis")]) t = std::min(t, redis.timeout_ns);
  if (plan_.config[decoder_index("memcache")]) t = std::min(t, memcache.timeout_ns);
  if (plan_.config[decoder_index("mysql")]) t = std::min(t, mysql.timeout_ns);
  if (plan_.config[decoder_index("pgsql")]) t = std::min(t, pgsql.timeout_ns);
  if (plan_.config[decoder_index("mongodb")]) t = std::min(t, mongodb.timeout_ns);
  if (plan_.config[decoder_index("amqp")]) t = std::min(t, amqp.timeout_ns);
  if (plan_.config[decoder_index("cassandra")]) t = std::min(t, cassandra.timeout_ns);
  return t == UINT64_MAX ? 10'000'000'000 : t;
}

std::unique_ptr<DecoderSet> DecoderSet::from_config(const Config& cfg,
                                                    const std::function<void(const std::string&)>& warn) {
  auto s = std::make_unique<DecoderSet>();
  std::string flows_only;
  for (const ProtocolConfig& p : cfg.protocols) {
    if (!p.enabled) continue;
    try {
      if (p.type == "icmp") {
        s->icmp.timeout_ns = p.duration_ns("transaction_timeout", s->icmp.timeout_ns);
        s->enable_icmp();
      } else if (p.type == "dns") {
        DnsSettings& d = s->dns;
        d.timeout_ns = p.duration_ns("transaction_timeout", d.timeout_ns);
        d.include_authorities = p.flag("include_authorities", false);
        d.include_additionals = p.flag("include_additionals", false);
        d.send_request = p.flag("send_request", false);
        d.send_response = p.flag("send_response", false);
        s->psl_ = std::make_unique<PublicSuffixList>(PublicSuffixList::bundled());
        d.public_suffixes = s->psl_.get();
        s->enable_dns(p.ports);
      } else if (p.type == "http") {
        s->http = http_settings(p);
        s->enable_http(p.ports);
      } else if (p.type == "memcache") {
        s->memcache = memcache_settings(p);
        if (p.options["maxvalues"] && p.options["maxvalues"].as<int>() != 0)
          warn("packetbeat.protocols.memcache.maxvalues: values are counted and sized but not published in this "
               "version (memcache.*.values is left out)");
        s->enable_memcache(p.ports);
      } else if (p.type == "mysql") {
        s->mysql = sql_settings(p);
        s->enable_mysql(p.ports);
      } else if (p.type == "pgsql") {
        s->pgsql = sql_settings(p);
        s->enable_pgsql(p.ports);
      } else if (p.type == "mongodb") {
        s->mongodb = mongodb_settings(p);
        s->enable_mongodb(p.ports);
      } else if (p.type == "amqp") {
        s->amqp = amqp_settings(p);
        s->enable_amqp(p.ports);
      } else if (p.type == "cassandra") {
        s->cassandra = cassandra_settings(p);
        s->enable_cassandra(p.ports);
      } else if (p.type == "redis") {
        s->redis = redis_settings(p);
        s->enable_redis(p.ports);
      } else {
        flows_only += (flows_only.empty() ? "" : ", ") + p.type;
      }
    } catch (const std::invalid_argument& e) {
      throw ConfigError(cfg.file, "packetbeat.protocols." + p.type + ".ports", e.what());
    }
  }
  if (!flows_only.empty())
    warn("protocols without a transaction decoder in this version (reported as flows only): " + flows_only);
  if (cfg.engine.detect == "payload") s->enable_detection();
  return s;
}

}  // namespace tapbeat
