// The Public Suffix List (publicsuffix.org; Debian package publicsuffix), for DNS's
// registered-domain fields: etld_plus_one, registered_domain, subdomain,
// top_level_domain. Loaded at start-up, read-only afterwards (shared by workers);
// lookups allocate nothing.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>

namespace tapbeat {

class PublicSuffixList {
 public:
  static constexpr const char* kDefaultPath = "/usr/share/publicsuffix/public_suffix_list.dat";

  // Rules in the list's text format. Throws std::runtime_error when the file cannot be read.
  static PublicSuffixList load(const std::string& path);
  static PublicSuffixList parse(std::string_view text);

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
