// The decoders of one run: the settings of each enabled protocol, which ports it
// claims, and the payload detector, with the DecoderPlan every worker reads.
// Built once at start-up, from the configuration or (tests, benchmarks) by hand.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "config/config.hpp"
#include "decode/amqp/amqp_decoder.hpp"
#include "decode/cassandra/cassandra_decoder.hpp"
#include "decode/detect.hpp"
#include "decode/dns/dns_decoder.hpp"
#include "decode/http/http_decoder.hpp"
#include "decode/icmp/icmp_decoder.hpp"
#include "decode/memcache/memcache_decoder.hpp"
#include "decode/mongodb/mongodb_decoder.hpp"
#include "decode/mysql/mysql_decoder.hpp"
#include "decode/pgsql/pgsql_decoder.hpp"
#include "decode/redis/redis_decoder.hpp"
#include "decode/registry.hpp"

namespace tapbeat {

class DecoderSet {
 public:
  DecoderSet();
  DecoderSet(const DecoderSet&) = delete;
  DecoderSet& operator=(const DecoderSet&) = delete;

  // Every enabled protocol of the configuration that tapbeat decodes; `warn`
  // receives what is left out (a protocol without a decoder, a missing Public
  // Suffix List). Payload detection follows tapbeat.detect.
  static std::unique_ptr<DecoderSet> from_config(const Config& cfg, const std::function<void(const std::string&)>& warn);

  // By hand. Ports claimed twice on one transport throw std::invalid_argument.
  void enable_icmp();
  void enable_dns(std::span<const uint16_t> ports);
  void enable_http(std::span<const uint16_t> ports);
  void enable_redis(std::span<const uint16_t> ports);
  void enable_memcache(std::span<const uint16_t> ports);
  void enable_mysql(std::span<const uint16_t> ports);
  void enable_pgsql(std::span<const uint16_t> ports);
  void enable_mongodb(std::span<const uint16_t> ports);
  void enable_amqp(std::span<const uint16_t> ports);
  void enable_cassandra(std::span<const uint16_t> ports);
  void enable_detection();  // after the protocols

  IcmpSettings icmp;
  DnsSettings dns;
  HttpSettings http;
  RedisSettings redis;
  MemcacheSettings memcache;
  MysqlSettings mysql;
  PgsqlSettings pgsql;
  MongodbSettings mongodb;
  AmqpSettings amqp;
  CassandraSettings cassandra;
  const DecoderPlan& plan() const { return plan_; }
  // The shortest transaction timeout of the TCP decoders (how long a connection
  // may sit idle before its pending transactions are checked).
  uint64_t tcp_timeout_ns() const;

 private:
  void claim(int decoder, uint8_t transports, std::span<const uint16_t> ports);
  DecoderPlan plan_;
  std::unique_ptr<PublicSuffixList> psl_;
  std::unique_ptr<PayloadDetector> detector_;
};

}  // namespace tapbeat
