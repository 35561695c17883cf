// A YAML value as JSON, typed as Beats types settings that become event fields
// (`fields`, add_fields, add_labels): true/false as booleans, integers and decimal
// numbers as numbers, every quoted scalar and anything else as a string.
#pragma once

#include <yaml-cpp/yaml.h>

#include "event/json_writer.hpp"

namespace tapbeat {

void yaml_json(JsonWriter& w, const YAML::Node& n);

}  // namespace tapbeat
