// BSON rendered as JSON for MongoDB's event fields (mongodb_event.cpp).
#pragma once

#include <initializer_list>
#include <string_view>

#include "decode/mongodb/mongodb_wire.hpp"
#include "event/json_writer.hpp"

namespace tapbeat::mongodb {

// One value as (relaxed) Extended JSON; documents deeper than kMaxDepth are "(too deep)".
void render_value(JsonWriter& w, const Elem& e, int depth);
// A document or array element's members; `skip` names keys left out (the command
// of a query, bulk payloads).
void render_members(JsonWriter& w, Doc d, int depth, bool array,
                    std::initializer_list<std::string_view> skip = {});
void render_doc(JsonWriter& w, const Elem& e, int depth, bool array);

}  // namespace tapbeat::mongodb
