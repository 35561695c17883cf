#include "event/yaml_json.hpp"

#include <cerrno>
#include <cstdlib>
#include <string>

namespace tapbeat {

void yaml_json(JsonWriter& w, const YAML::Node& n) {
  if (n.IsMap()) {
    w.begin_object();
    for (auto it = n.begin(); it != n.end(); ++it) {
      w.key(it->first.Scalar());
      yaml_json(w, it->second);
    }
    w.end_object();
  } else if (n.IsSequence()) {
    w.begin_array();
    for (const auto& e : n) yaml_json(w, e);
    w.end_array();
  } else if (!n.IsDefined() || n.IsNull()) {
    w.raw("null");
  } else {
    const std::string& t = n.Scalar();
    char* end = nullptr;
    errno = 0;
    const long long i = t.empty() ? 0 : std::strtoll(t.c_str(), &end, 10);
    const bool integer =
        !t.empty() && errno == 0 && *end == '\0' && t.find_first_not_of("-0123456789") == std::string::npos;
    const double d = std::strtod(t.c_str(), &end);
    if (n.Tag() == "!") {
      w.string(t);  // quoted: a string whatever it looks like
    } else if (t == "true" || t == "false") {
      w.boolean(t == "true");
    } else if (integer) {
      w.sint(i);
    } else if (!t.empty() && *end == '\0' && t.find_first_of("0123456789") != std::string::npos &&
               t.find_first_not_of("-+.0123456789eE") == std::string::npos) {
      w.real(d);
    } else {
      w.string(t);
    }
  }
}

}  // namespace tapbeat
