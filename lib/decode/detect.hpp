// Payload detection (tapbeat.detect: payload): Hyperscan block-mode databases of
// every TCP decoder's probes (the narrow ones, then the wide ones where none of those
// matches), matched against the first payload bytes of connections whose ports no
// protocol claims; matches of decoders the run does not enable are passed over. The
// databases are compiled when tapbeat is built (probe_db_gen writes them into the
// binary) and loaded at start.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "decode/registry.hpp"

struct hs_database;
struct hs_scratch;

namespace tapbeat {

class PayloadDetector {
 public:
  // Bytes of a direction looked at (its first segments' in order); the probes are
  // anchored at its start.
  static constexpr uint32_t kScanBytes = 256;
  // Payload segments a connection may show before it is declared undetected. Shorter
  // ones than kTinySegment (a line typed or sent in pieces) do not count: kScanBytes
  // bounds them.
  static constexpr uint32_t kBudgetSegments = 4;
  static constexpr uint32_t kTinySegment = 8;

  using Enabled = std::array<bool, kMaxDecoders>;

  // Loads the built-in database (compiles the probes when this Hyperscan refuses
  // it) for the decoders `plan` enables; empty when none of them has probes.
  // Throws std::runtime_error naming the probe Hyperscan refused.
  explicit PayloadDetector(const DecoderPlan& plan);
  ~PayloadDetector();
  PayloadDetector(const PayloadDetector&) = delete;
  PayloadDetector& operator=(const PayloadDetector&) = delete;

  bool empty() const { return db_[0] == nullptr && db_[1] == nullptr; }
  // True when the built-in databases were loaded (false: compiled at start).
  bool precompiled() const { return precompiled_; }

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

  // What classify() returns when only probes of decoders the run does not enable
  // match: the bytes are a protocol, one not decoded (TLS with only HTTP enabled).
  static constexpr int kNotEnabled = -2;
  // Decoder index of the first enabled decoder's probe that matches (the wide probes
  // read only where no other matches); else kNotEnabled when another decoder's probe
  // matches, -1 when none does.
  int classify(Scratch& s, std::span<const uint8_t> payload, bool from_first_sender) const;
  // The first bytes of a connection the port of `port_decoder` claimed: the index of an
  // enabled decoder whose decisive probe matches them when none of `port_decoder`'s
  // probes does (HTTP on MySQL's port); kNotEnabled when only a decisive probe of a
  // decoder the run does not enable does; else -1 (the port's decoder keeps them). The
  // wide probes are read only where no other is the port protocol's or decisive.
  int overrule(Scratch& s, std::span<const uint8_t> payload, bool from_first_sender, int port_decoder) const;

 private:
  hs_database* db_[2] = {nullptr, nullptr};  // narrow probes, wide probes (DetectProbe::wide)
  bool precompiled_ = false;
  Enabled enabled_{};
};

// Every TCP decoder's narrow (or wide) probes compiled for the build's CPU family with
// no optional CPU features, serialized (hs_serialize_database); empty when there are
// none. Used by probe_db_gen.
std::string compile_probe_database(bool wide);

// The database of the narrow (or wide) probes probe_db_gen wrote at build time
// (probe_db.cpp); empty in the generator itself (probe_db_none.cpp).
std::span<const uint8_t> precompiled_probe_database(bool wide);

}  // namespace tapbeat
