#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <utility>
#include <vector>

#include "event/mime_type.hpp"
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

TEST(Processors, ConvertAsBeatsConverts) {
  constexpr const char* kIn =
      R"({"@timestamp":"t","type":"flow","p":"443","h":"0x1F","n":-7,"big":4294967301,"f":2.75,"b":"T",)"
      R"("ip":"10.1.2.3","bad_ip":"10.1.2","s":12,"r":1.5e300,"yes":true})";
  Chain r(
      "- convert:\n"
      "    fields:\n"
      "      - {from: p, to: source.port, type: integer}\n"
      "      - {from: h, type: long}\n"
      "      - {from: n, type: string}\n"
      "      - {from: big, to: small, type: integer}\n"
      "      - {from: f, to: whole, type: long}\n"
      "      - {from: f, to: single, type: float}\n"
      "      - {from: b, to: flag, type: boolean}\n"
      "      - {from: ip, to: source.ip, type: ip}\n"
      "      - {from: s, to: d, type: double}\n"
      "      - {from: r, to: rs, type: string}\n"
      "      - {from: yes, to: ys, type: string}\n");
  const std::string out = r.apply(kIn);
  EXPECT_EQ(r.errors, 0u) << out;
  for (const char* want : {R"("source":{"port":443,"ip":"10.1.2.3"})", R"("h":31)", R"("n":"-7")",
                           R"("small":5)", R"("whole":2)", R"("single":2.75)", R"("flag":true)", R"("d":12)",
                           R"("rs":"1.5e+300")", R"("ys":"true")", R"("p":"443")"})
    EXPECT_NE(out.find(want), std::string::npos) << want << " in " << out;

  // rename mode moves the value; fail_on_error (the default) leaves the event as it
  // was when one conversion fails; without it the others go through.
  Chain moved("- convert: {fields: [{from: p, to: port, type: long}], mode: rename}\n");
  EXPECT_EQ(moved.apply(R"({"type":"flow","p":"80"})"), R"({"type":"flow","port":80})");
  Chain strict("- convert: {fields: [{from: p, type: long}, {from: bad_ip, type: ip}]}\n");
  EXPECT_EQ(strict.apply(kIn), "KEEP");
  EXPECT_EQ(strict.errors, 1u);
  Chain lenient(
      "- convert: {fields: [{from: p, type: long}, {from: bad_ip, type: ip}, {from: gone, type: long}], "
      "fail_on_error: false}\n");
  EXPECT_NE(lenient.apply(kIn).find(R"("p":443)"), std::string::npos);
  EXPECT_EQ(lenient.errors, 2u);  // the address, the missing field
  Chain missing(
      "- convert: {fields: [{from: gone, type: long}, {from: p, type: long}], ignore_missing: true}\n");
  EXPECT_NE(missing.apply(kIn).find(R"("p":443)"), std::string::npos);
  EXPECT_EQ(missing.errors, 0u);
  // Out of range for integer, not a number, an object: errors.
  Chain range("- convert: {fields: [{from: v, type: integer}], fail_on_error: false}\n");
  for (const char* e : {R"({"v":"2147483648"})", R"({"v":"12a"})", R"({"v":{"a":1}})", R"({"v":" 1"})"}) {
    range.errors = 0;
    EXPECT_EQ(range.apply(e), "KEEP") << e;
    EXPECT_EQ(range.errors, 1u) << e;
  }
}

TEST(Processors, IfThenElseAsBeatsRunsIt) {
  // Packetbeat's shipped packetbeat.yml opens its processors with this block.
  const char* shipped =
      "- if.contains.tags: forwarded\n"
      "  then:\n"
      "    - drop_fields:\n"
      "        fields: [agent]\n"
      "  else:\n"
      "    - add_tags: {tags: [local]}\n";
  Chain c(shipped);
  const std::string forwarded =
      R"({"@timestamp":"2026-01-01T00:00:00.000Z","type":"http","agent":{"name":"a"},"tags":["forwarded"]})";
  EXPECT_EQ(c.apply(forwarded.c_str()),
            R"({"@timestamp":"2026-01-01T00:00:00.000Z","type":"http","tags":["forwarded"]})");
  const std::string out = c.apply();  // tags [t0]: the else branch
  EXPECT_NE(out.find(R"("tags":["t0","local"])"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("agent":{"name":"a"})"), std::string::npos) << out;
  EXPECT_TRUE(c.warnings.empty());

  // The condition is read once: a `then` step that changes what it tested does not stop
  // the next one; `then` may be one processor; `if` nests; `when` beside it still applies.
  Chain once(
      "- if: {equals: {status: OK}}\n"
      "  then:\n"
      "    - rename: {fields: [{from: status, to: state}]}\n"
      "    - add_tags: {tags: [after]}\n"
      "    - if.not.has_fields: [url.path]\n"
      "      then: {add_tags: {tags: [no_path]}}\n"
      "      else: {add_tags: {tags: [path], when.equals.url.path: /x}}\n"
      "  else: {drop_event: {}}\n");
  const std::string o = once.apply();
  EXPECT_NE(o.find(R"("state":"OK")"), std::string::npos) << o;
  EXPECT_NE(o.find(R"("tags":["t0","after","path"])"), std::string::npos) << o;
  EXPECT_EQ(once.apply(R"({"type":"http","status":"Error"})"), "DROP");
  EXPECT_NE(once.apply().find(R"("tags":["t0","after","path"])"), std::string::npos);  // the next event alike

  // Processors and their `when` written with dotted keys, as Beats expands them.
  const std::pair<const char*, const char*> dotted[] = {
      {"- drop_event.when.equals.url.path: /x\n", "DROP"},
      {"- drop_event: {when.equals.url.path: /x}\n- add_tags: {tags: [kept]}\n", "DROP"},
      {"- add_tags: {tags: [x], when.not.contains.tags: t0}\n", "KEEP"},
      {"- drop_event: {when.range.n.gte: 1, when.range.n.lt: 2}\n", "DROP"},
      {"- drop_event: {when.range.n.gte: 2}\n", "KEEP"},
  };
  for (const auto& [yaml, result] : dotted) EXPECT_EQ(Chain(yaml).apply(), result) << yaml;
  Chain mixed("- add_tags: {tags: [m]}\n  add_tags.when.equals.status: Error\n");
  EXPECT_EQ(mixed.apply(), "KEEP");
  Chain dotted_tags("- add_tags.tags: [d]\n  add_tags.when.has_fields: [status]\n");
  EXPECT_NE(dotted_tags.apply().find(R"("tags":["t0","d"])"), std::string::npos);
}

TEST(Processors, FingerprintAsBeatsHashesFields) {
  // "|field|value" for each field in name order, then "|" (the expected digests were
  // computed apart: Python's hashlib and base64, xxhsum -H1).
  const std::pair<const char*, const char*> cases[] = {
      {"{fields: [url.path, status, n]}", "5ab06bf5129c766e206a5eaa2969ee939093a7f5b067e14753fa847dd6080be9"},
      {"{fields: [status, n, url.path], method: md5}", "207b16021509af0ff1a086c84469c9aa"},
      {"{fields: [n, url.path, status], method: sha1, encoding: base32}", "TTKNSGYAIG22VPOTHHCN2FVXC3MTKIFE"},
      {"{fields: [n, url.path, status], method: sha384, encoding: base64}",
       "EhiCn/wyH/UJ3Tlgxfzr9OMtP7B+mZ9r8pRtWUhrRtV+8Ygc3x70fcQRj/U/Dkre"},
      {"{fields: [n, url.path, status], method: xxhash}", "cacc0918403b5b1a"},
      {"{fields: [status, missing], ignore_missing: true}",
       "110607edbdc8c5b317281016f33c24746b26d744437035fb6f47deae1d5c5838"},
  };
  for (const auto& [opts, digest] : cases) {
    Chain c(("- fingerprint: " + std::string(opts) + "\n").c_str());
    const std::string out = c.apply();
    EXPECT_NE(out.find(std::string(R"("fingerprint":")") + digest + "\""), std::string::npos) << opts << "\n"
                                                                                              << out;
    EXPECT_EQ(c.errors, 0u) << opts;
  }
  Chain target("- fingerprint: {fields: [status], target_field: event.hash}\n");
  EXPECT_NE(target.apply().find(R"("event":{"hash":"110607ed)"), std::string::npos);
  Chain missing("- fingerprint: {fields: [status, missing]}\n");  // a field missing: nothing written
  EXPECT_EQ(missing.apply(), "KEEP");
  EXPECT_EQ(missing.errors, 1u);
  Chain object("- fingerprint: {fields: [url]}\n");  // objects are refused, as Beats does
  EXPECT_EQ(object.apply(), "KEEP");
  EXPECT_EQ(object.errors, 1u);
}

TEST(Processors, RegisteredDomainFromThePublicSuffixList) {
  Chain c(
      "- registered_domain: {field: q, target_field: rd, target_etld_field: tld, target_subdomain_field: "
      "sub}\n");
  // a.b.sfb.trafficmanager.net: trafficmanager.net is a suffix of the list's private section.
  const std::pair<const char*, const char*> cases[] = {
      {R"({"q":"www.Example.CO.uk."})", R"("rd":"example.co.uk","tld":"co.uk","sub":"www")"},
      {R"({"q":"a.b.sfb.trafficmanager.net"})",
       R"("rd":"sfb.trafficmanager.net","tld":"trafficmanager.net")"},
      {R"({"q":"example.com"})", R"("rd":"example.com","tld":"com"})"},
  };
  for (const auto& [event, fields] : cases) {
    const std::string out = c.apply(event);
    EXPECT_NE(out.find(fields), std::string::npos) << event << " -> " << out;
  }
  EXPECT_EQ(c.errors, 0u);
  EXPECT_EQ(c.apply(R"({"q":"co.uk"})"), "KEEP");  // a public suffix has no registered domain
  EXPECT_EQ(c.apply(R"({"q":7})"), "KEEP");
  EXPECT_EQ(c.apply(R"({"x":1})"), "KEEP");
  EXPECT_EQ(c.errors, 3u);
  Chain quiet(
      "- registered_domain: {field: q, target_field: rd, ignore_missing: true, ignore_failure: true}\n");
  EXPECT_EQ(quiet.apply(R"({"q":"co.uk"})"), "KEEP");
  EXPECT_EQ(quiet.apply(R"({"x":1})"), "KEEP");
  EXPECT_EQ(quiet.errors, 0u);
}

std::string unhex(std::string_view h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

TEST(Processors, MimeTypesAsBeatsTellsThem) {
  // Beats' own cases for its detect_mime_type (libbeat/mime), on the value's bytes.
  simdjson::dom::parser json;
  const std::pair<std::string, const char*> cases[] = {
      {"<html>Test</html>", "text/html; charset=utf-8"},
      {unhex("4d5a90000300000004000000ffff"), "application/vnd.microsoft.portable-executable"},
      {unhex("7f454c460101010000000000000000000300030001000000f0dc01003400000080a3180000000000340020000800280"
             "01e001d0001"),
       "application/x-executable"},
      {unhex("cffaedfe0700000103000000020000001000000058050000850020000000000019000000480000005f5f504147455a4"
             "5524f"),
       "application/x-mach-binary"},
      {"{}", "application/json"},
      {"<test></test>", "text/xml"},
      {"Hello world!", "text/plain; charset=utf-8"},
      {unhex("89504e470d0a1a0a0000000d494844520000025800000258080200000031040f8b0000000467414d410000b18f0bfc6"
             "10500"),
       "image/png"},
      {std::string("\0\0", 2), ""},
      // Further: WHATWG sniffing after the signatures, JSON and XML among plain text.
      {"  <!DOCTYPE html><p>x", "text/html; charset=utf-8"},
      {"<?xml version=\"1.0\"?><a/>", "text/xml; charset=utf-8"},
      {"%PDF-1.7\n", "application/pdf"},
      {"PK\x03\x04\x14\x00", "application/zip"},
      {"GIF89a\x01\x00", "image/gif"},
      {" [1, 2, {\"a\": null}] ", "application/json"},
      {"42", "application/json"},
      {"intro <a x='1' y=\"&amp;&#x41;\"><b/>t<!-- c --><![CDATA[<]]></a> trailing", "text/xml"},
      {"<x><y></x></y>", "text/plain; charset=utf-8"},  // closed out of order
      {"<x k=1></x>", "text/plain; charset=utf-8"},     // an attribute not quoted
      {"<x>&nbsp;</x>", "text/plain; charset=utf-8"},   // an entity XML does not define
      {"<x><!-- x -- y --></x>", "text/plain; charset=utf-8"},
      {"<a href='x'>link</a>", "text/html; charset=utf-8"},
      {"a < b", "text/plain; charset=utf-8"},
      {"{\"a\": 1", "text/plain; charset=utf-8"},
      {"\xEF\xBB\xBF"
       "bom",
       "text/plain; charset=utf-8"},
      {"x\x01y", ""},  // binary bytes, no signature
  };
  for (const auto& [data, type] : cases) EXPECT_EQ(detect_mime_type(data, json), type) << data;
  // A NUL past the 512 bytes sniffing reads ends the XML reading (it had been taken for
  // a closing quote and read for ever; found by tests/fuzz/fuzz_mime).
  const std::string late_nul = std::string(600, 'a') + std::string(1, '\0') + "<x/>";
  EXPECT_EQ(detect_mime_type(late_nul, json), "text/plain; charset=utf-8");
  EXPECT_FALSE(xml_element(late_nul));
  EXPECT_FALSE(xml_element(std::string("PK\x03\x04", 4) + "_rels"));
}

TEST(Processors, DetectMimeTypeOnAStringField) {
  Chain c("- detect_mime_type: {field: http.response.body.content, target: http.response.mime_type}\n");
  const std::pair<const char*, const char*> cases[] = {
      {R"({"http":{"response":{"body":{"content":"<HTML><body>hi</body></HTML>"}}}})",
       R"({"http":{"response":{"body":{"content":"<HTML><body>hi</body></HTML>"},"mime_type":"text/html; charset=utf-8"}}})"},
      {R"({"http":{"response":{"body":{"content":"{\"ok\":true}"}}}})",
       R"({"http":{"response":{"body":{"content":"{\"ok\":true}"},"mime_type":"application/json"}}})"},
      // A PE image as the event writes it: the bytes that are not UTF-8 are U+FFFD.
      {R"({"http":{"response":{"body":{"content":"MZ\ufffd\u0000\u0003\u0000"}}}})",
       R"("mime_type":"application/vnd.microsoft.portable-executable")"},
  };
  for (const auto& [event, out] : cases) {
    const std::string got = c.apply(event);
    EXPECT_NE(got.find(out), std::string::npos) << event << " -> " << got;
  }
  // Missing, empty, not a string, or no type told: the event as it was, no error (as Beats).
  for (const char* event :
       {R"({"http":{"response":{"status_code":200}}})", R"({"http":{"response":{"body":{"content":""}}}})",
        R"({"http":{"response":{"body":{"content":7}}}})",
        R"({"http":{"response":{"body":{"content":"\u0000\u0000"}}}})"})
    EXPECT_EQ(c.apply(event), "KEEP") << event;
  EXPECT_EQ(c.errors, 0u);
  EXPECT_TRUE(c.warnings.empty());
  Chain meta("- detect_mime_type: {field: b, target: '@metadata.mime'}\n");
  EXPECT_EQ(meta.apply(R"({"@metadata":{"beat":"tapbeat"},"b":"hello"})"),
            R"({"@metadata":{"beat":"tapbeat","mime":"text/plain; charset=utf-8"},"b":"hello"})");
  EXPECT_THROW(Chain("- detect_mime_type: {field: b}\n"), std::invalid_argument);
  Chain extra("- detect_mime_type: {field: b, target: t, other: 1}\n");
  ASSERT_EQ(extra.warnings.size(), 1u);
  EXPECT_NE(extra.warnings[0].find("other"), std::string::npos);
}

TEST(Processors, AProtocolsIndexGoesToRawIndexOfItsEventsOnly) {
  // packetbeat.protocols[].index / packetbeat.flows.index, as Beats' add_formatted_index.
  Chain c("[]");
  c.chain.add_index("web-%{[type]}-%{+yyyy.MM}", "tapbeat.protocols[1].index", "http");
  c.chain.add_index("dns-%{[missing]}", "tapbeat.protocols[0].index", "dns");
  EXPECT_EQ(
      c.apply(),
      R"({"@timestamp":"2026-01-01T00:00:00.000Z","@metadata":{"beat":"tapbeat","raw_index":"web-http-2026.01"},)"
      R"("type":"http","agent":{"name":"a"},"url":{"full":"http://h/x","path":"/x"},"status":"OK","n":1.5,)"
      R"("tags":["t0"]})");
  // A field the format names is missing: no index, counted.
  EXPECT_EQ(c.apply(R"({"@timestamp":"2026-01-01T00:00:00.000Z","@metadata":{},"type":"dns"})"), "KEEP");
  EXPECT_EQ(c.errors, 1u);
  EXPECT_EQ(c.apply(R"({"@metadata":{},"type":"flow"})"), "KEEP");  // neither's type
  EXPECT_THROW(c.chain.add_index("x-%{[type]", "tapbeat.flows.index", "flow"), std::invalid_argument);
}

TEST(Processors, CommunityIdOfTheEventsOwnFiveTuple) {
  // Values from the Community ID specification's baseline (../shared/pcaps/community-id/expected).
  Chain c("- community_id: ~\n");
  const std::pair<const char*, const char*> cases[] = {
      {R"({"source":{"ip":"128.232.110.120","port":34855},"destination":{"ip":"66.35.250.204","port":80},)"
       R"("network":{"transport":"tcp"}})",
       "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
      {R"({"source":{"ip":"8.8.8.8","port":53},"destination":{"ip":"192.168.1.52","port":54585},)"
       R"("network":{"transport":"UDP"}})",
       "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
      {R"({"source":{"ip":"192.168.0.89"},"destination":{"ip":"192.168.0.1"},"network":{"transport":"icmp"},)"
       R"("icmp":{"type":8,"code":0}})",
       "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
      {R"({"source":{"ip":"192.168.170.8","port":"7"},"destination":{"ip":"192.168.170.56","port":7},)"
       R"("network":{"iana_number":132,"transport":"x"}})",
       "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
      {R"({"source":{"ip":"10.1.12.1"},"destination":{"ip":"10.1.12.2"},"network":{"iana_number":"46"}})",
       "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
  };
  for (const auto& [event, id] : cases) {
    const std::string out = c.apply(event);
    EXPECT_NE(out.find(std::string(R"("community_id":")") + id + "\""), std::string::npos) << out;
  }
  // Without the fields it needs, the event is left as it is (as Beats).
  EXPECT_EQ(c.apply(R"({"source":{"ip":"1.2.3.4","port":1},"destination":{"ip":"5.6.7.8"},)"
                    R"("network":{"transport":"tcp"}})"),
            "KEEP");
  EXPECT_EQ(
      c.apply(R"({"source":{"ip":"1.2.3.4"},"destination":{"ip":"::1"},"network":{"transport":"gre"}})"),
      "KEEP");
  EXPECT_EQ(c.errors, 0u);
  Chain renamed("- community_id: {fields: {source_ip: a, destination_ip: b, transport: t}, target: cid}\n");
  EXPECT_NE(renamed.apply(R"({"a":"10.1.12.1","b":"10.1.12.2","t":"gre"})").find(R"("cid":"1:)"),
            std::string::npos);
}

TEST(Processors, HostMetadataOptionsAndUnreadOptionsWarn) {
  Chain off(
      "- add_host_metadata: {netinfo.enabled: false, geo: {name: rack1, location: '40.7128, -74.0060', "
      "country_iso_code: US}}\n");
  const std::string out = off.apply();
  EXPECT_NE(
      out.find(R"("geo":{"name":"rack1","location":{"lat":40.7128,"lon":-74.006},"country_iso_code":"US"})"),
      std::string::npos)
      << out;
  EXPECT_EQ(out.find(R"("ip":)"), std::string::npos) << out;
  EXPECT_EQ(out.find(R"("mac":)"), std::string::npos) << out;
  EXPECT_TRUE(off.warnings.empty());
  Chain nested("- add_observer_metadata: {netinfo: {enabled: false}}\n");
  EXPECT_EQ(nested.apply().find(R"("ip":)"), std::string::npos);

  Chain odd(
      "- rename: {fields: [{from: a, to: b}], fail_on_error: true, bogus: 1}\n"
      "- copy_fields: {fields: [{from: a, to: c}], fail_on_error: false}\n"
      "- add_host_metadata: {cache.ttl: 5m}\n");
  ASSERT_EQ(odd.warnings.size(), 3u);
  EXPECT_EQ(odd.warnings[0],
            "processors[0].rename.fail_on_error: not applied by tapbeat (a field that cannot be renamed is "
            "skipped and counted, the others renamed); ignored");
  EXPECT_EQ(odd.warnings[1], "processors[0].rename.bogus: unknown option of rename; ignored");
  EXPECT_EQ(odd.warnings[2],
            "processors[2].add_host_metadata.cache.ttl: not applied by tapbeat (the host's metadata is read "
            "once, at start); ignored");
}

TEST(Processors, FieldsAddedToTheTextAsTheTreeWouldAddThem) {
  // New top-level keys go at the end of the event's text; a key present at the top level
  // is merged (the tree); add_host_metadata's host is replaced wherever it stands, with
  // the comma beside it; a "host" only below the top level is no matter.
  Chain add("- add_fields: {target: '', fields: {observer.name: o, observer.type: tap, labels.x: 1}}\n");
  EXPECT_EQ(add.apply(R"({"a":1,"b":{"c":2}})"),
            R"({"a":1,"b":{"c":2},"observer":{"name":"o","type":"tap"},"labels":{"x":1}})");
  EXPECT_EQ(add.apply(R"({})"), R"({"observer":{"name":"o","type":"tap"},"labels":{"x":1}})");
  EXPECT_EQ(add.apply(R"({"observer":{"id":"i"},"z":0})"),
            R"({"observer":{"id":"i","name":"o","type":"tap"},"z":0,"labels":{"x":1}})");
  Chain host("- add_host_metadata: {netinfo.enabled: false}\n");
  for (const char* event :
       {R"({"a":1,"host":{"name":"old","ip":["1.2.3.4"]},"b":2})", R"({"host":{"name":"old"},"b":2})",
        R"({"a":1,"host":{"name":"old"}})", R"({"a":1,"url":{"host":"h"}})"}) {
    const std::string out = host.apply(event);
    EXPECT_EQ(out.find(R"("name":"old")"), std::string::npos) << out;
    EXPECT_EQ(out.find(R"("host":{)"), out.rfind(R"("host":{)")) << out;  // one host
    EXPECT_EQ(out.find(",,"), std::string::npos) << out;
    EXPECT_EQ(out.find("{,"), std::string::npos) << out;
    EXPECT_NE(out.find(R"(,"host":{"hostname":)"), std::string::npos) << out;  // at the end
  }
  EXPECT_NE(host.apply(R"({"a":1,"url":{"host":"h"}})").find(R"("url":{"host":"h"})"), std::string::npos);
  EXPECT_EQ(host.errors + add.errors, 0u);
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
  EXPECT_EQ(
      error_of("- convert: {fields: [{from: a, type: number}]}\n"),
      "processors[0].convert.fields[0].type: expected integer, long, float, double, string, boolean or ip");
  EXPECT_EQ(error_of("- convert: {fields: [{from: a}]}\n"),
            "processors[0].convert.fields[0]: set type, to or both");
  EXPECT_EQ(error_of("- convert: {fields: [{from: a, type: ip}], mode: move}\n"),
            "processors[0].convert.mode: expected copy or rename");
  Chain r("- add_cloud_metadata: ~\n- drop_fields: {fields: [agent]}\n");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0],
            "processors[0].add_cloud_metadata: the add_cloud_metadata processor is not applied by tapbeat; "
            "ignored");
}

}  // namespace
}  // namespace tapbeat
