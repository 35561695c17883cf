#include "decode/detect.hpp"

#include <hs/hs.h>

#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace tapbeat {

namespace {

// Two databases hold the probes of every TCP decoder, whichever the run enables: the
// narrow probes, and the wide ones (DetectProbe::wide), matched only where no narrow
// probe matches. They do not depend on the config, so the build compiles them
// once (probe_db_gen) and a run loads them instead of compiling (tens of milliseconds).
// A probe's id is its decoder's index, shifted, with decisive in bit 1 and client_only
// in bit 0; matches of decoders the run does not enable are passed over.
constexpr unsigned kIdClientOnly = 1, kIdDecisive = 2, kIdShift = 2;

struct Probes {
  std::vector<const char*> exprs;
  std::vector<unsigned> flags, ids;
};

Probes all_probes(bool wide) {
  Probes p;
  const auto reg = decoder_registry();
  for (std::size_t i = 0; i < reg.size(); ++i) {
    if (!(reg[i].transports & kTransportTcp)) continue;
    for (const DetectProbe& probe : reg[i].probes) {
      if (probe.wide != wide) continue;
      p.exprs.push_back(probe.regex);
      p.flags.push_back(HS_FLAG_DOTALL | HS_FLAG_SINGLEMATCH);
      p.ids.push_back(static_cast<unsigned>(i) << kIdShift | (probe.decisive ? kIdDecisive : 0u) |
                      (probe.client_only ? kIdClientOnly : 0u));
    }
  }
  return p;
}

// `platform` null: this CPU's features.
hs_database_t* compile(const hs_platform_info_t* platform, bool wide) {
  const Probes p = all_probes(wide);
  if (p.exprs.empty()) return nullptr;
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(p.exprs.data(), p.flags.data(), p.ids.data(), static_cast<unsigned>(p.exprs.size()),
                       HS_MODE_BLOCK, platform, &db, &err) != HS_SUCCESS) {
    std::string what = "payload detection: Hyperscan refused ";
    what += err && err->expression >= 0 ? p.exprs[static_cast<std::size_t>(err->expression)] : "the probes";
    what += ": ";
    what += err ? err->message : "unknown error";
    hs_free_compile_error(err);
    throw std::runtime_error(what);
  }
  return db;
}

}  // namespace

std::string compile_probe_database(bool wide) {
  // Built for any x86-64 (or whatever the build's CPU family is), so the binary runs
  // on other machines than the one that built it.
  const hs_platform_info_t generic{HS_TUNE_FAMILY_GENERIC, 0, 0, 0};
  hs_database_t* db = compile(&generic, wide);
  if (!db) return {};
  char* bytes = nullptr;
  std::size_t n = 0;
  const hs_error_t rc = hs_serialize_database(db, &bytes, &n);
  hs_free_database(db);
  if (rc != HS_SUCCESS) throw std::runtime_error("payload detection: cannot serialize the probe database");
  std::string out(bytes, n);
  std::free(bytes);
  return out;
}

PayloadDetector::PayloadDetector(const DecoderPlan& plan) {
  const auto reg = decoder_registry();
  bool any = false;
  for (std::size_t i = 0; i < reg.size() && i < enabled_.size(); ++i) {
    enabled_[i] = plan.enabled(i) && (reg[i].transports & kTransportTcp) && !reg[i].probes.empty();
    any = any || enabled_[i];
  }
  if (!any) return;
  // A database from another Hyperscan version (a library upgraded under the binary)
  // is refused by hs_deserialize_database; the probes are then compiled here.
  precompiled_ = true;
  for (int k = 0; k < 2; ++k) {
    const std::span<const uint8_t> built = precompiled_probe_database(k == 1);
    if (!built.empty() && hs_deserialize_database(reinterpret_cast<const char*>(built.data()), built.size(),
                                                  &db_[k]) == HS_SUCCESS)
      continue;
    db_[k] = compile(nullptr, k == 1);  // null: no such probes
    if (db_[k]) precompiled_ = false;
  }
}

PayloadDetector::~PayloadDetector() {
  for (hs_database* db : db_)
    if (db) hs_free_database(db);
}

PayloadDetector::Scratch::Scratch(const PayloadDetector& d) {
  // One scratch serves both databases (hs_alloc_scratch grows it for the second).
  for (hs_database* db : d.db_)
    if (db && hs_alloc_scratch(db, &s_) != HS_SUCCESS)
      throw std::runtime_error("payload detection: no scratch");
}

PayloadDetector::Scratch::~Scratch() {
  if (s_) hs_free_scratch(s_);
}

namespace {

struct Match {
  const PayloadDetector::Enabled* enabled;
  bool from_first_sender;
  int decoder = -1;
  bool other = false;  // a probe of a decoder the run does not enable matched
  bool any = false;    // a probe matched (of this side's)
};

int on_match(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
  Match& m = *static_cast<Match*>(ctx);
  const unsigned decoder = id >> kIdShift;
  if ((id & kIdClientOnly) && !m.from_first_sender) return 0;
  m.any = true;
  if (decoder >= m.enabled->size() || !(*m.enabled)[decoder]) {
    m.other = true;
    return 0;
  }
  m.decoder = static_cast<int>(decoder);
  return 1;  // first match decides
}

struct Overrule {
  const PayloadDetector::Enabled* enabled;
  bool from_first_sender;
  unsigned port_decoder;
  int decoder = -1;       // the first enabled decoder whose decisive probe matched
  bool other = false;     // a decisive probe of a decoder the run does not enable matched
  bool port_own = false;  // a probe of the port's decoder matched: it keeps the connection
  bool decided = false;   // a decisive probe matched
};

int on_overrule_match(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
  Overrule& m = *static_cast<Overrule*>(ctx);
  const unsigned decoder = id >> kIdShift;
  if ((id & kIdClientOnly) && !m.from_first_sender) return 0;
  if (decoder == m.port_decoder) {
    m.port_own = true;
    return 1;
  }
  if (!(id & kIdDecisive)) return 0;
  m.decided = true;
  if (decoder >= m.enabled->size() || !(*m.enabled)[decoder]) {
    m.other = true;
  } else if (m.decoder < 0) {
    m.decoder = static_cast<int>(decoder);
  }
  return 0;
}

}  // namespace

int PayloadDetector::overrule(Scratch& s, std::span<const uint8_t> payload, bool from_first_sender,
                              int port_decoder) const {
  if (empty() || payload.empty()) return -1;
  Overrule m{&enabled_, from_first_sender, static_cast<unsigned>(port_decoder)};
  const unsigned n = static_cast<unsigned>(payload.size() < kScanBytes ? payload.size() : kScanBytes);
  const char* p = reinterpret_cast<const char*>(payload.data());
  if (db_[0]) hs_scan(db_[0], p, n, 0, s.get(), on_overrule_match, &m);
  if (!m.port_own && !m.decided && db_[1]) hs_scan(db_[1], p, n, 0, s.get(), on_overrule_match, &m);
  if (m.port_own) return -1;
  return m.decoder >= 0 ? m.decoder : m.other ? kNotEnabled : -1;
}

int PayloadDetector::classify(Scratch& s, std::span<const uint8_t> payload, bool from_first_sender) const {
  if (empty() || payload.empty()) return -1;
  Match m{&enabled_, from_first_sender};
  const unsigned n = static_cast<unsigned>(payload.size() < kScanBytes ? payload.size() : kScanBytes);
  const char* p = reinterpret_cast<const char*>(payload.data());
  if (db_[0]) hs_scan(db_[0], p, n, 0, s.get(), on_match, &m);
  if (!m.any && db_[1]) hs_scan(db_[1], p, n, 0, s.get(), on_match, &m);
  return m.decoder >= 0 ? m.decoder : m.other ? kNotEnabled : -1;
}

}  // namespace tapbeat
