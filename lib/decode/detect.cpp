#include "decode/detect.hpp"

#include <hs/hs.h>

#include <stdexcept>
#include <vector>

namespace tapbeat {

PayloadDetector::PayloadDetector(const DecoderPlan& plan) {
  std::vector<const char*> exprs;
  std::vector<unsigned> flags, ids;
  const auto reg = decoder_registry();
  for (std::size_t i = 0; i < reg.size(); ++i) {
    if (!plan.enabled(i) || !(reg[i].transports & kTransportTcp)) continue;
    for (const DetectProbe& p : reg[i].probes) {
      exprs.push_back(p.regex);
      flags.push_back(HS_FLAG_DOTALL | HS_FLAG_SINGLEMATCH);
      ids.push_back(static_cast<unsigned>(i) << 1 | (p.client_only ? 1u : 0u));
    }
  }
  if (exprs.empty()) return;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                       HS_MODE_BLOCK, nullptr, &db_, &err) != HS_SUCCESS) {
    std::string what = "payload detection: Hyperscan refused ";
    what += err && err->expression >= 0 ? exprs[static_cast<std::size_t>(err->expression)] : "the probes";
    what += ": ";
    what += err ? err->message : "unknown error";
    hs_free_compile_error(err);
    throw std::runtime_error(what);
  }
}

PayloadDetector::~PayloadDetector() {
  if (db_) hs_free_database(db_);
}

PayloadDetector::Scratch::Scratch(const PayloadDetector& d) {
  if (d.db_ && hs_alloc_scratch(d.db_, &s_) != HS_SUCCESS)
    throw std::runtime_error("payload detection: no scratch");
}

PayloadDetector::Scratch::~Scratch() {
  if (s_) hs_free_scratch(s_);
}

namespace {

struct Match {
  bool from_first_sender;
  int decoder = -1;
};

int on_match(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
  Match& m = *static_cast<Match*>(ctx);
  if ((id & 1u) && !m.from_first_sender) return 0;
  m.decoder = static_cast<int>(id >> 1);
  return 1;  // first match decides
}

}  // namespace

int PayloadDetector::classify(Scratch& s, std::span<const uint8_t> payload, bool from_first_sender) const {
  if (!db_ || payload.empty()) return -1;
  Match m{from_first_sender};
  const unsigned n = static_cast<unsigned>(payload.size() < kScanBytes ? payload.size() : kScanBytes);
  hs_scan(db_, reinterpret_cast<const char*>(payload.data()), n, 0, s.get(), on_match, &m);
  return m.decoder;
}

}  // namespace tapbeat
