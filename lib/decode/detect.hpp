// Payload detection (tapbeat.detect: payload): a Hyperscan block-mode database of
// every enabled TCP decoder's probes, matched against the first payload bytes of
// connections whose ports no protocol claims.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "decode/registry.hpp"

struct hs_database;
struct hs_scratch;

namespace tapbeat {

class PayloadDetector {
 public:
  // Bytes of a segment looked at; the probes are anchored at its start.
  static constexpr uint32_t kScanBytes = 256;
  // Payload segments a connection may show before it is declared undetected.
  static constexpr uint32_t kBudgetSegments = 4;

  // Compiles the probes of the decoders `plan` enables. Throws std::runtime_error
  // naming the probe Hyperscan refused.
  explicit PayloadDetector(const DecoderPlan& plan);
  ~PayloadDetector();
  PayloadDetector(const PayloadDetector&) = delete;
  PayloadDetector& operator=(const PayloadDetector&) = delete;

  bool empty() const { return db_ == nullptr; }

  // Per-worker matching space.
  class Scratch {
   public:
    explicit Scratch(const PayloadDetector& d);
    ~Scratch();
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    hs_scratch* get() const { return s_; }

   private:
    hs_scratch* s_ = nullptr;
  };

  // Decoder index of the first probe that matches, or -1.
  int classify(Scratch& s, std::span<const uint8_t> payload, bool from_first_sender) const;

 private:
  hs_database* db_ = nullptr;
};

}  // namespace tapbeat
