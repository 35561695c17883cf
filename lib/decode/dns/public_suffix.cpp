#include "decode/dns/public_suffix.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tapbeat {

extern const std::string_view kPublicSuffixListText;  // generated from public_suffix_list.dat

PublicSuffixList PublicSuffixList::bundled() { return parse(kPublicSuffixListText); }

std::string_view PublicSuffixList::bundled_version() {
  constexpr std::string_view kTag = "// VERSION: ";
  const std::size_t at = kPublicSuffixListText.find(kTag);
  if (at == std::string_view::npos) return {};
  const std::string_view rest = kPublicSuffixListText.substr(at + kTag.size());
  return rest.substr(0, rest.find('\n'));
}

PublicSuffixList PublicSuffixList::load(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("cannot read the public suffix list " + path +
                             " (install the publicsuffix package)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str());
}

PublicSuffixList PublicSuffixList::parse(std::string_view text) {
  PublicSuffixList l;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // A rule is the line's first whitespace-delimited word; comments start with //.
    const std::size_t ws = line.find_first_of(" \t\r");
    if (ws != std::string_view::npos) line = line.substr(0, ws);
    if (line.empty() || line.substr(0, 2) == "//") continue;
    std::string rule(line);
    for (char& c : rule) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (rule[0] == '!')
      l.exceptions_.insert(rule.substr(1));
    else if (rule.rfind("*.", 0) == 0)
      l.wildcards_.insert(rule.substr(2));
    else
      l.rules_.insert(rule);
  }
  return l;
}

PublicSuffixList::Split PublicSuffixList::split(std::string_view name) const {
  Split out;
  if (name.empty() || name == ".") return out;
  // Walk the name's suffixes from the longest; the longest matching rule wins, an
  // exception rule's suffix is its parent, and the implicit rule "*" applies last.
  std::string_view suffix;
  std::size_t start = 0;
  for (;;) {
    const std::string_view cand = name.substr(start);
    const std::size_t dot = cand.find('.');
    const std::string_view parent = dot == std::string_view::npos ? std::string_view{} : cand.substr(dot + 1);
    if (exceptions_.find(cand) != exceptions_.end()) {
      suffix = parent;
      break;
    }
    if (rules_.find(cand) != rules_.end() ||
        (!parent.empty() && wildcards_.find(parent) != wildcards_.end())) {
      suffix = cand;
      break;
    }
    if (dot == std::string_view::npos) {
      suffix = cand;  // the implicit "*" rule: the last label
      break;
    }
    start += dot + 1;
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
