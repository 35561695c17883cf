#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "event/processors.hpp"

namespace tapbeat {
namespace {

constexpr const char* kEvent =
    R"({"@timestamp":"2026-01-01T00:00:00.000Z","@metadata":{"beat":"tapbeat"},"type":"http",)"
    R"("agent":{"name":"a"},"url":{"full":"http://h/x","path":"/x"},"status":"OK","n":1.5,"tags":["t0"]})";

struct Chain {
  std::vector<std::string> warnings;
  ProcessorChain chain;
  ProcessorState state;
  uint64_t errors = 0;
  explicit Chain(const char* yaml)
      : chain(YAML::Load(yaml),
              [this](const std::string& k, const std::string& w) { warnings.push_back(k + ": " + w); }) {}
  std::string apply(const char* event = kEvent) {
    const auto r = chain.apply(event, state, errors);
    if (r == ProcessorChain::Result::kDrop) return "DROP";
    if (r == ProcessorChain::Result::kKeep) return "KEEP";
    return std::string(state.text());
  }
};

TEST(Processors, DropFieldsKeepsTimestampMetadataAndTypeAndCountsMissingOnes) {
  Chain r("- drop_fields: {fields: [agent, url.full, '@timestamp', type, missing]}\n");
  EXPECT_EQ(r.apply(),
            R"({"@timestamp":"2026-01-01T00:00:00.000Z","@metadata":{"beat":"tapbeat"},"type":"http",)"
            R"("url":{"path":"/x"},"status":"OK","n":1.5,"tags":["t0"]})");
  EXPECT_EQ(r.errors, 1u);
  Chain quiet("- drop_fields: {fields: [missing], ignore_missing: true}\n");
  EXPECT_EQ(quiet.apply(), "KEEP");
  EXPECT_EQ(quiet.errors, 0u);
}

TEST(Processors, IncludeFieldsKeepsOnlyTheListedOnes) {
  Chain r("- include_fields: {fields: [url.path, status]}\n");
  EXPECT_EQ(r.apply(),
            R"({"@timestamp":"2026-01-01T00:00:00.000Z","@metadata":{"beat":"tapbeat"},"type":"http",)"
            R"("url":{"path":"/x"},"status":"OK"})");
}

TEST(Processors, AddFieldsAddTagsAndRename) {
  Chain r(
      "- add_fields: {target: project, fields: {name: p, id: 7, on: true, q: '7', nested: {a: [x, 2]}}}\n"
      "- add_fields: {target: '', fields: {root_field: r}}\n"
      "- add_tags: {tags: [web, prod]}\n"
      "- add_tags: {tags: one, target: labels.list}\n"
      "- rename: {fields: [{from: url.full, to: url.original}, {from: status, to: n}, {from: nope, to: "
      "x}]}\n");
  const std::string out = r.apply();
  EXPECT_NE(out.find(R"("project":{"name":"p","id":7,"on":true,"q":"7","nested":{"a":["x",2]}})"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(R"("root_field":"r")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("tags":["t0","web","prod"])"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("labels":{"list":["one"]})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("url":{"path":"/x","original":"http://h/x"})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("status":"OK")"), std::string::npos) << "a rename onto an existing field is refused";
  EXPECT_EQ(r.errors, 2u);  // status -> n (exists), nope (missing)
}

TEST(Processors, LabelsCopyTruncateAndDirection) {
  Chain r(
      "- add_labels: {labels: {number: 1, with.dots: test, nested: {with.dots: n}, array: [do, re]}}\n"
      "- copy_fields: {fields: [{from: url, to: origin.url}, {from: status, to: type}]}\n"
      "- truncate_fields: {fields: [url.full, n], max_bytes: 6}\n"
      "- add_network_direction: {source: src, destination: dst, target: network.direction, "
      "internal_networks: [private]}\n");
  const std::string out = r.apply(
      R"({"@timestamp":"t","type":"http","url":{"full":"http://h/x","path":"/x"},"status":"OK","n":1.5,)"
      R"("src":"10.0.0.1","dst":"8.8.8.8"})");
  EXPECT_NE(out.find(R"("labels":{"number":1,"with.dots":"test","nested.with.dots":"n","array.0":"do",)"
                     R"("array.1":"re"})"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(R"("origin":{"url":{"full":"http://h/x","path":"/x"}})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("url":{"full":"http:/","path":"/x"})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("log":{"flags":["truncated"]})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("network":{"direction":"outbound"})"), std::string::npos) << out;
  EXPECT_EQ(r.errors, 2u);  // copy onto the existing type; truncate a number
  Chain chars("- truncate_fields: {fields: [s], max_characters: 2}\n");
  EXPECT_EQ(chars.apply(R"({"s":"\u00e9t\u00e9"})"),
            "{\"s\":\"\u00e9t\",\"log\":{\"flags\":[\"truncated\"]}}")
      << "UTF-8 is cut between characters";
}

TEST(Processors, LocaleAndHostMetadata) {
  Chain r("- add_locale: ~\n- add_host_metadata: ~\n- add_observer_metadata: ~\n");
  const std::string out = r.apply(R"({"host":{"name":"old"},"type":"flow"})");
  EXPECT_NE(out.find(R"("event":{"timezone":")"), std::string::npos) << out;
  EXPECT_EQ(out.find(R"("name":"old")"), std::string::npos) << "host is replaced";
  EXPECT_NE(out.find(R"("host":{"hostname":")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("os":{"kernel":")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("observer":{"hostname":")"), std::string::npos) << out;
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Processors, WhenSeesTheEventAsEarlierProcessorsLeftIt) {
  Chain r(
      "- rename: {fields: [{from: status, to: outcome}]}\n"
      "- drop_event: {when: {equals: {outcome: OK}}}\n");
  EXPECT_EQ(r.apply(), "DROP");
  Chain keep("- drop_event: {when: {equals: {type: dns}}}\n");
  EXPECT_EQ(keep.apply(), "KEEP");
  Chain all("- drop_event: {}\n");
  EXPECT_EQ(all.apply(), "DROP");
  Chain cond("- add_tags: {tags: [error], when: {not: {equals: {status: OK}}}}\n");
  EXPECT_EQ(cond.apply(), "KEEP");
}

TEST(Processors, SameResultEventAfterEvent) {
  // The arena is reset per event: the hundredth event comes out like the first.
  Chain r("- drop_fields: {fields: [agent]}\n- add_tags: {tags: [x]}\n");
  const std::string first = r.apply();
  for (int i = 0; i < 100; ++i) ASSERT_EQ(r.apply(), first);
}

TEST(Processors, ConfigErrorsNameTheKeyAndUnappliedOnesWarn) {
  auto error_of = [](const char* yaml) {
    try {
      ProcessorChain c(YAML::Load(yaml), [](const std::string&, const std::string&) {});
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of("- frobnicate: {}\n"), "processors[0].frobnicate: unknown processor");
  EXPECT_EQ(error_of("- drop_fields: {fields: {a: 1}}\n").rfind("processors[0].drop_fields.fields:", 0), 0u);
  EXPECT_EQ(error_of("- rename: {fields: [{from: a}]}\n").rfind("processors[0].rename.fields[0]:", 0), 0u);
  EXPECT_EQ(error_of("- drop_event: {when: {equal: {a: b}}}\n").rfind("processors[0].drop_event.when:", 0),
            0u);
  EXPECT_EQ(error_of("processors: 1\n"), "processors: expected a list");
  Chain r("- add_cloud_metadata: ~\n- drop_fields: {fields: [agent]}\n");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0],
            "processors[0].add_cloud_metadata: the add_cloud_metadata processor is not applied by tapbeat; "
            "ignored");
}

}  // namespace
}  // namespace tapbeat
