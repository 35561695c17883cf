// output.elasticsearch: the bulk API (Elasticsearch 7/8, OpenSearch), and the index
// template `tapbeat setup --index-management` installs.
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "output/sink.hpp"

namespace tapbeat {

// Throws ConfigError for a bad setting; with SinkOpen::kRequireConnection,
// std::runtime_error when no host answers within output.elasticsearch.timeout. A run opens it
// with no host answering: events wait in its queue until one does.
std::unique_ptr<Sink> make_elasticsearch_sink(const Config& cfg, SinkOpen how = SinkOpen::kRun);

// The index template of the events (setup.template.name / pattern, default
// "tapbeat-<version>"): a data stream with the field types the events use. Returns
// the template's name and its JSON body.
std::pair<std::string, std::string> index_template(const Config& cfg);

// `tapbeat setup --index-management`: installs index_template() through
// output.elasticsearch (PUT _index_template/<name>). Throws with a clear message.
void setup_index_management(const Config& cfg);

}  // namespace tapbeat
