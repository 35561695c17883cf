// The Public Suffix List (publicsuffix.org, ICANN and private sections), for DNS's
// registered-domain fields: etld_plus_one, registered_domain, subdomain,
// top_level_domain. A copy is compiled in (public_suffix_list.dat beside this file,
// MPL-2.0, its VERSION line says which), as Packetbeat compiles in Go's table:
// Debian's package lags by years (without trafficmanager.net, for one). The copy is
// compiled in as its lookup table (scripts/embed_psl.py builds it as parse() builds
// one): nothing is read or hashed at start-up. A list read at run time (load, parse)
// is one flat table of offsets into a lower-cased copy of its text. Read-only once
// made (shared by workers); lookups allocate nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tapbeat {

class PublicSuffixList {
 public:
  // Rules in the list's text format. Throws std::runtime_error when the file cannot be read.
  static PublicSuffixList load(const std::string& path);
  static PublicSuffixList parse(std::string_view text);
  // The compiled-in copy.
  static PublicSuffixList bundled();
  static std::string_view bundled_version();  // its "// VERSION:" line's value

  // A slot of the open-addressing table: a rule's name in the names' text, and its
  // kinds (kRule, kWildcard, kException, kParent). len 0: empty.
  struct Slot {
    uint32_t off = 0;
    uint16_t len = 0;
    uint8_t kinds = 0;
  };
  // A table made ahead (the compiled-in list).
  struct Table {
    std::string_view names;
    const Slot* slots;
    std::size_t slot_count;  // a power of two
    std::size_t rules;
    std::string_view version;
  };
  // "a.b", "*.a.b", "!a.b"; kParent: a name some rule lies below ("b" for any of them).
  enum : uint8_t { kRule = 1, kWildcard = 2, kException = 4, kParent = 8 };

  struct Split {
    std::string_view suffix;      // public suffix ("co.uk"); empty when none
    std::string_view registered;  // suffix plus one label ("example.co.uk"); empty when none
    std::string_view subdomain;   // what is left of it ("www"); empty when none
  };
  // name: lower-case, dot-separated, no trailing dot. Views point into name.
  Split split(std::string_view name) const;
  std::size_t size() const { return size_; }

 private:
  uint8_t kinds_of(std::string_view name, uint64_t hash) const;
  void add(uint32_t off, uint16_t len, uint8_t kind);

  const Table* table_ = nullptr;  // the compiled-in table, or null: text_ and slots_
  std::string text_;              // a list read at run time, lower case
  std::vector<Slot> slots_;       // open addressing, a power of two at most half full
  std::size_t size_ = 0;          // rules (a name may be a rule and a wildcard's base: two)
};

}  // namespace tapbeat
