#include "decode/registry.hpp"

#include "decode/amqp/amqp_decoder.hpp"
#include "decode/cassandra/cassandra_decoder.hpp"
#include "decode/dns/dns_decoder.hpp"
#include "decode/http/http_decoder.hpp"
#include "decode/icmp/icmp_decoder.hpp"
#include "decode/memcache/memcache_decoder.hpp"
#include "decode/mongodb/mongodb_decoder.hpp"
#include "decode/mysql/mysql_decoder.hpp"
#include "decode/pgsql/pgsql_decoder.hpp"
#include "decode/redis/redis_decoder.hpp"

namespace tapbeat {
namespace {

// Every decoder, once. Adding a protocol is adding its descriptor here.
const DecoderDescriptor* const kRegistry[] = {
    &kIcmpDescriptor,
    &kDnsDescriptor,
    &kHttpDescriptor,
    &kRedisDescriptor,
    &kMemcacheDescriptor,
    &kMysqlDescriptor,
    &kPgsqlDescriptor,
    &kMongodbDescriptor,
    &kAmqpDescriptor,
    &kCassandraDescriptor,
};
static_assert(std::size(kRegistry) <= kMaxDecoders);

struct Table {
  DecoderDescriptor d[std::size(kRegistry)];
  Table() {
    for (std::size_t i = 0; i < std::size(kRegistry); ++i) d[i] = *kRegistry[i];
  }
};

}  // namespace

std::span<const DecoderDescriptor> decoder_registry() {
  static const Table t;
  return t.d;
}

int decoder_index(std::string_view name) {
  const auto r = decoder_registry();
  for (std::size_t i = 0; i < r.size(); ++i)
    if (r[i].name == name) return static_cast<int>(i);
  return -1;
}

std::string validate_registry() {
  const auto r = decoder_registry();
  for (std::size_t i = 0; i < r.size(); ++i) {
    const DecoderDescriptor& d = r[i];
    const std::string name(d.name);
    if (d.name.empty()) return "decoder " + std::to_string(i) + " has no name";
    for (std::size_t j = 0; j < i; ++j)
      if (r[j].name == d.name) return "decoder name '" + name + "' is registered twice";
    if (d.transports == 0) return "decoder '" + name + "' has no transport";
    if (d.state_size > kDecoderStateBytes)
      return "decoder '" + name + "' needs " + std::to_string(d.state_size) + " bytes of connection state, more than " +
             std::to_string(kDecoderStateBytes);
    if (!d.probes.empty() && !(d.transports & kTransportTcp))
      return "decoder '" + name + "' has payload probes but no TCP transport";
    if (!d.create) return "decoder '" + name + "' cannot be created";
  }
  return "";
}

bool DecoderPlan::any_tcp() const {
  const auto r = decoder_registry();
  for (std::size_t i = 0; i < r.size(); ++i)
    if (config[i] && (r[i].transports & kTransportTcp)) return true;
  return false;
}

}  // namespace tapbeat
