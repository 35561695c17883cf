#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "decode/amqp/amqp_decoder.hpp"
#include "engine/decoder_set.hpp"
#include "engine/worker.hpp"
#include "stream_test.hpp"

namespace tapbeat {
namespace {

// AMQP 1.0 (RabbitMQ 4, Qpid, ActiveMQ, Azure Service Bus) and 0-10 share the port and the
// "AMQP" header with 0-9-1 but are other protocols: counted by name and left, where their
// frames had been read as malformed 0-9-1 (amqp.malformed, a violation). The 0-9-1 header
// still opens a connection that is read.
TEST(Amqp, OtherVersionsHeadersAreCountedAndLeft) {
  using namespace std::string_literals;
  test::StreamTest h;
  const uint16_t ports[] = {5672};
  h.decoders.enable("amqp", ports);
  h.start();
  const std::string open10 =
      "\x00\x00\x00\x21\x02\x00\x00\x00\x00\x53\x10\xc0\x14\x01\xa1\x11"
      "container-id-0001"s;
  const std::string headers[] = {"AMQP\x00\x01\x00\x00"s, "AMQP\x03\x01\x00\x00"s, "AMQP\x01\x01\x00\x0a"s};
  uint16_t port = 40000;
  for (const std::string& header : headers) {
    test::Conn c{port++, 5672};
    h.handshake(c);
    h.client(c, header + open10);
    h.server(c, header + open10);
  }
  const auto ev = h.finish();
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(h.count("amqp.other_versions"), 3u);
  EXPECT_EQ(h.count("amqp.malformed"), 0u);
  EXPECT_EQ(h.count(Counter::stream_detached), 0u);
}

}  // namespace
}  // namespace tapbeat
