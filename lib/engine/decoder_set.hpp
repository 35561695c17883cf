// The decoders of one run: the settings of each enabled protocol, which ports it
// claims, and the payload detector, with the DecoderPlan every worker reads.
// Built once at start-up, from the configuration or (tests, benchmarks) by hand;
// one loop over the registry, naming no protocol.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "decode/detect.hpp"
#include "decode/registry.hpp"

namespace tapbeat {

class DecoderSet {
 public:
  DecoderSet();
  ~DecoderSet();
  DecoderSet(const DecoderSet&) = delete;
  DecoderSet& operator=(const DecoderSet&) = delete;

  // Every enabled protocol of the configuration; `warn` receives what is left
  // out (a protocol without a decoder in this version, an option known but not
  // applied). Payload detection follows tapbeat.detect.
  static std::unique_ptr<DecoderSet> from_config(const Config& cfg,
                                                 const std::function<void(const std::string&)>& warn);

  // By hand: the protocol `name` with the settings an entry without options
  // gives, on `ports`; returns them to change before the workers start. S is the
  // protocol's settings type (std::bad_cast otherwise). Ports claimed twice on one
  // transport throw std::invalid_argument.
  template <class S = ProtocolSettings>
  S& enable(std::string_view name, std::span<const uint16_t> ports = {}) {
    return dynamic_cast<S&>(enable_entry(entry(name, ports), nullptr));
  }
  // Every protocol with a decoder on its default ports. exercise: with its
  // exercise_options and send_request/send_response on (fuzzers, the
  // no-allocation test); otherwise as an entry without options (benchmarks).
  // timeout_ns: every transaction_timeout (0: the default).
  void enable_all(bool exercise, uint64_t timeout_ns = 0);
  // One protocol as enable_all(true, timeout_ns) enables it (a fuzz target's).
  ProtocolSettings& enable_exercised(std::string_view name, uint64_t timeout_ns = 0);
  void enable_detection();  // after the protocols

  const DecoderPlan& plan() const { return plan_; }
  // The idle lifetime of a TCP connection no decoder has taken (yet): the
  // shortest transaction timeout of the enabled TCP decoders. A decoded
  // connection lives its own protocol's transaction_timeout.
  uint64_t tcp_timeout_ns() const;

 private:
  static ProtocolConfig entry(std::string_view name, std::span<const uint16_t> ports);
  ProtocolSettings& enable_entry(const ProtocolConfig& p, const OptionWarn* warn);
  void claim(int decoder, uint8_t transports, std::span<const uint16_t> ports);
  DecoderPlan plan_;
  std::array<std::unique_ptr<ProtocolSettings>, kMaxDecoders> settings_;
  std::unique_ptr<PayloadDetector> detector_;
};

}  // namespace tapbeat
