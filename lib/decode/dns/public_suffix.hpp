// The Public Suffix List (publicsuffix.org, ICANN and private sections), for DNS's
// registered-domain fields: etld_plus_one, registered_domain, subdomain,
// top_level_domain. A copy is compiled in (public_suffix_list.dat beside this file,
// MPL-2.0, its VERSION line says which), as Packetbeat compiles in Go's table:
// Debian's package lags by years (without trafficmanager.net, for one). Parsed at
// start-up, read-only afterwards (shared by workers); lookups allocate nothing.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>

namespace tapbeat {

class PublicSuffixList {
 public:
  // Rules in the list's text format. Throws std::runtime_error when the file cannot be read.
  static PublicSuffixList load(const std::string& path);
  static PublicSuffixList parse(std::string_view text);
  // The compiled-in copy.
  static PublicSuffixList bundled();
  static std::string_view bundled_version();  // its "// VERSION:" line's value

  struct Split {
    std::string_view suffix;      // public suffix ("co.uk"); empty when none
    std::string_view registered;  // suffix plus one label ("example.co.uk"); empty when none
    std::string_view subdomain;   // what is left of it ("www"); empty when none
  };
  // name: lower-case, dot-separated, no trailing dot. Views point into name.
  Split split(std::string_view name) const;
  std::size_t size() const { return rules_.size() + wildcards_.size() + exceptions_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Set = std::unordered_set<std::string, Hash, std::equal_to<>>;
  Set rules_, wildcards_, exceptions_;  // "a.b", "*.a.b" stored as "a.b", "!a.b" as "a.b"
};

}  // namespace tapbeat
