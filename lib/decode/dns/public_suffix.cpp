#include "decode/dns/public_suffix.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tapbeat {

extern const PublicSuffixList::Table kBundledPublicSuffixes;  // generated from public_suffix_list.dat

PublicSuffixList PublicSuffixList::bundled() {
  PublicSuffixList l;
  l.table_ = &kBundledPublicSuffixes;
  l.size_ = kBundledPublicSuffixes.rules;
  return l;
}

std::string_view PublicSuffixList::bundled_version() { return kBundledPublicSuffixes.version; }

PublicSuffixList PublicSuffixList::load(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("cannot read the public suffix list " + path +
                             " (install the publicsuffix package)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str());
}

namespace {

// FNV-1a 64 over the name's bytes from its last to its first (what scripts/embed_psl.py
// hashes the compiled-in table with): a name's hash goes on from its parent's, so a
// walk from the top-level label down hashes each byte once.
constexpr uint64_t kHashStart = 0xCBF29CE484222325ull;
uint64_t hash_step(uint64_t h, char c) { return (h ^ static_cast<uint8_t>(c)) * 0x100000001B3ull; }
uint64_t hash_of(std::string_view s) {
  uint64_t h = kHashStart;
  for (std::size_t i = s.size(); i-- > 0;) h = hash_step(h, s[i]);
  return h;
}

}  // namespace

PublicSuffixList PublicSuffixList::parse(std::string_view text) {
  PublicSuffixList l;
  l.text_.assign(text);
  // ASCII letters only (as tolower in the C locale), in a loop the compiler vectorizes;
  // a libc call per byte of the list's 230 KB was a millisecond at every start.
  for (char& c : l.text_) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  // At most one rule a line and a name above it at each dot: the table is sized
  // before it is filled.
  const std::size_t names = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1 +
                            static_cast<std::size_t>(std::count(text.begin(), text.end(), '.'));
  l.slots_.resize(std::bit_ceil(names * 2));
  const std::string_view t = l.text_;
  std::size_t pos = 0;
  while (pos < t.size()) {
    std::size_t end = t.find('\n', pos);
    if (end == std::string_view::npos) end = t.size();
    std::string_view line = t.substr(pos, end - pos);
    const std::size_t at = pos;
    pos = end + 1;
    // A rule is the line's first whitespace-delimited word; comments start with //.
    const std::size_t ws = line.find_first_of(" \t\r");
    if (ws != std::string_view::npos) line = line.substr(0, ws);
    if (line.empty() || line.substr(0, 2) == "//" || line.size() > UINT16_MAX) continue;
    uint8_t kind = kRule;
    std::size_t skip = 0;
    if (line[0] == '!')
      kind = kException, skip = 1;
    else if (line.rfind("*.", 0) == 0)
      kind = kWildcard, skip = 2;
    if (line.size() == skip) continue;
    l.add(static_cast<uint32_t>(at + skip), static_cast<uint16_t>(line.size() - skip), kind);
    // Every name above the rule's is marked: a lookup walking down from the top-level
    // label goes on only while a rule may lie below.
    for (std::size_t i = skip; i < line.size(); ++i)
      if (line[i] == '.' && i + 1 < line.size())
        l.add(static_cast<uint32_t>(at + i + 1), static_cast<uint16_t>(line.size() - i - 1), kParent);
  }
  return l;
}

void PublicSuffixList::add(uint32_t off, uint16_t len, uint8_t kind) {
  const std::string_view name(text_.data() + off, len);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash_of(name) & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.len == 0) {
      s = Slot{off, len, kind};
      if (kind != kParent) ++size_;
      return;
    }
    if (std::string_view(text_.data() + s.off, s.len) == name) {
      if (kind != kParent && !(s.kinds & kind)) ++size_;
      s.kinds |= kind;
      return;
    }
  }
}

uint8_t PublicSuffixList::kinds_of(std::string_view name, uint64_t hash) const {
  const Slot* slots = table_ ? table_->slots : slots_.data();
  const std::size_t count = table_ ? table_->slot_count : slots_.size();
  const char* names = table_ ? table_->names.data() : text_.data();
  if (count == 0) return 0;
  const std::size_t mask = count - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots[i];
    if (s.len == 0) return 0;
    if (s.len == name.size() && std::memcmp(names + s.off, name.data(), s.len) == 0) return s.kinds;
  }
}

PublicSuffixList::Split PublicSuffixList::split(std::string_view name) const {
  Split out;
  if (name.empty() || name == ".") return out;
  // The longest rule that matches wins (an exception rule's suffix is its parent; a
  // wildcard's base matches one label more; the implicit rule "*" is the last label).
  // The name's suffixes are looked up from the top-level label down, each one's hash
  // going on from its parent's, and only while the table says a rule lies below
  // (kParent) or a wildcard covers the next: two or three lookups for most names, where
  // the walk down from the whole name took two at every label.
  std::string_view suffix;
  uint64_t h = kHashStart;
  std::size_t start = name.size();  // of the suffix looked up
  uint8_t above = 0;                // the kinds of the suffix one label shorter
  for (;;) {
    const std::size_t end = start;                             // the parent's start, past the dot
    if (start < name.size()) h = hash_step(h, name[--start]);  // the dot
    while (start > 0 && name[start - 1] != '.') h = hash_step(h, name[--start]);
    const std::string_view cand = name.substr(start);
    const uint8_t kinds = kinds_of(cand, h);
    if (kinds & kException)
      suffix = end < name.size() ? name.substr(end) : std::string_view{};
    else if ((kinds & kRule) || (above & kWildcard) || end == name.size())
      suffix = cand;
    if (start == 0 || !(kinds & (kParent | kWildcard))) break;
    above = kinds;
  }
  out.suffix = suffix;
  if (suffix.size() >= name.size()) return out;
  // One more label to the left of the suffix.
  const std::size_t before = name.size() - suffix.size() - 1;  // the dot before the suffix
  const std::size_t label_start = name.rfind('.', before - 1);
  const std::size_t reg_start = label_start == std::string_view::npos ? 0 : label_start + 1;
  out.registered = name.substr(reg_start);
  if (reg_start > 0) out.subdomain = name.substr(0, reg_start - 1);
  return out;
}

}  // namespace tapbeat
