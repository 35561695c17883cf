// Event field access, format strings, conditions, selectors and the disk queue.
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "event/event_fields.hpp"
#include "event/spool.hpp"

namespace tapbeat {
namespace {

const char* kEvent =
    R"({"@timestamp":"2026-11-26T21:20:16.123Z","type":"http","event":{"dataset":"http","duration":1500},)"
    R"("network":{"community_id":"1:abc=","transport":"tcp"},"source":{"ip":"10.1.2.3","port":40000},)"
    R"("http":{"response":{"status_code":404}},"tags":["a","b"],"status":"Error","nothing":null})";

TEST(EventView, ReadsStringsNumbersAndRawJson) {
  EventView ev;
  ev.reset(kEvent);
  std::string v;
  ASSERT_TRUE(ev.get(field_pointer("event.dataset"), v));
  EXPECT_EQ(v, "http");
  ASSERT_TRUE(ev.get(field_pointer("http.response.status_code"), v));
  EXPECT_EQ(v, "404");
  ASSERT_TRUE(ev.get(field_pointer("tags"), v));
  EXPECT_EQ(v, R"(["a","b"])");
  EXPECT_FALSE(ev.get(field_pointer("nothing"), v));
  EXPECT_FALSE(ev.get(field_pointer("event.missing"), v));
  EXPECT_TRUE(ev.has(field_pointer("network.community_id")));
  EXPECT_FALSE(ev.has(field_pointer("nothing")));
  int64_t ms = 0;
  ASSERT_TRUE(ev.timestamp_ms(ms));
  EXPECT_EQ(ms, 1795728016123);
}

TEST(EventView, TimestampNotFirstAndInvalidJson) {
  EventView ev;
  ev.reset(R"({"a":1,"@timestamp":"1970-01-02T00:00:00Z"})");
  int64_t ms = 0;
  ASSERT_TRUE(ev.timestamp_ms(ms));
  EXPECT_EQ(ms, 86'400'000);
  ev.reset(R"({"a":)");
  std::string v;
  EXPECT_FALSE(ev.get("/a", v));
  EXPECT_FALSE(ev.timestamp_ms(ms));
}

TEST(FormatString, FieldsDefaultsAndTime) {
  EventView ev;
  ev.reset(kEvent);
  std::string out;
  EXPECT_TRUE(FormatString("packets-%{[event.dataset]}").render(ev, out));
  EXPECT_EQ(out, "packets-http");
  out.clear();
  EXPECT_TRUE(FormatString("%{[event][dataset]}-%{[fields.log_topic]:misc}").render(ev, out));
  EXPECT_EQ(out, "http-misc");
  out.clear();
  EXPECT_FALSE(FormatString("%{[fields.log_topic]}").render(ev, out));
  out.clear();
  EXPECT_TRUE(FormatString("tapbeat-%{+yyyy.MM.dd}").render(ev, out));
  EXPECT_EQ(out, "tapbeat-2026.11.26");
  EXPECT_TRUE(FormatString("plain").constant());
  EXPECT_FALSE(FormatString("%{[type]}").constant());
  EXPECT_THROW(FormatString("%{[type]"), std::invalid_argument);
  EXPECT_THROW(FormatString("%{type}"), std::invalid_argument);
  EXPECT_THROW(FormatString("%{+yyyy.QQ}"), std::invalid_argument);
}

std::unique_ptr<Condition> cond(const char* yaml) { return Condition::parse(YAML::Load(yaml)); }

TEST(Condition, EachKind) {
  EventView ev;
  ev.reset(kEvent);
  EXPECT_TRUE(cond("equals: {type: http}")->match(ev));
  EXPECT_TRUE(cond("equals: {http.response.status_code: 404}")->match(ev));
  EXPECT_FALSE(cond("equals: {type: dns}")->match(ev));
  EXPECT_TRUE(cond("contains: {network.community_id: 'abc'}")->match(ev));
  EXPECT_TRUE(cond("regexp: {status: '^Err'}")->match(ev));
  EXPECT_TRUE(cond("range: {http.response.status_code.gte: 400}")->match(ev));
  EXPECT_TRUE(cond("range: {http.response.status_code: {gte: 400, lt: 500}}")->match(ev));
  EXPECT_FALSE(cond("range: {event.duration.lt: 1000}")->match(ev));
  EXPECT_TRUE(cond("has_fields: [source.ip, network.transport]")->match(ev));
  EXPECT_FALSE(cond("has_fields: [destination.ip]")->match(ev));
  EXPECT_TRUE(cond("network: {source.ip: private}")->match(ev));
  EXPECT_TRUE(cond("network: {source.ip: ['192.168.0.0/16', '10.0.0.0/8']}")->match(ev));
  EXPECT_FALSE(cond("network: {source.ip: loopback}")->match(ev));
  EXPECT_TRUE(cond("or: [{equals: {type: dns}}, {equals: {type: http}}]")->match(ev));
  EXPECT_FALSE(cond("and: [{equals: {type: dns}}, {equals: {type: http}}]")->match(ev));
  EXPECT_TRUE(cond("not: {equals: {type: dns}}")->match(ev));
}

TEST(Condition, RegexpAsGoWritesThemOnValuesOfAnyLength) {
  // Go's syntax as Beats users write it, and a value of 1 MB: a backtracking engine
  // (std::regex) ran out of stack on '.*bot.*' there and took the process down.
  const std::string long_ua = std::string(1 << 20, 'a') + " Googlebot/2.1";
  const std::string event = R"({"type":"http","user_agent":{"original":")" + long_ua +
                            R"("},"url":{"path":"/Index.HTML"},"n":"x\ny","e":""})";
  EventView ev;
  ev.reset(event);
  EXPECT_TRUE(cond("regexp: {user_agent.original: '.*bot.*'}")->match(ev));
  EXPECT_TRUE(cond("regexp: {user_agent.original: '(a|b)*G'}")->match(ev));
  EXPECT_FALSE(cond("regexp: {user_agent.original: '^.*bingbot'}")->match(ev));
  EXPECT_TRUE(cond("regexp: {url.path: '(?i)\\.html$'}")->match(ev));
  EXPECT_FALSE(cond("regexp: {url.path: '\\.html$'}")->match(ev));
  EXPECT_TRUE(cond("regexp: {url.path: '^/(?P<page>[[:alpha:]]+)\\.'}")->match(ev));
  EXPECT_TRUE(cond("regexp: {n: '(?s)x.y'}")->match(ev));
  EXPECT_FALSE(cond("regexp: {n: 'x.y'}")->match(ev));  // '.' stops at a newline, as in Go
  EXPECT_TRUE(cond("regexp: {e: '^$'}")->match(ev));    // an empty value
  EXPECT_FALSE(cond("regexp: {missing: '.*'}")->match(ev));
  EXPECT_TRUE(cond("regexp: {type: '^ht', url.path: 'Index'}")->match(ev));  // every field must match
  EXPECT_FALSE(cond("regexp: {type: '^ht', url.path: 'index'}")->match(ev));
  // Each thread matches with a scratch of its own.
  auto c = cond("regexp: {user_agent.original: 'Googlebot/[0-9]'}");
  bool other = false;
  std::thread t([&] {
    EventView mine;
    mine.reset(event);
    other = c->match(mine);
  });
  t.join();
  EXPECT_TRUE(other);
  try {
    cond("regexp: {url.path: 'a(b'}");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("regexp.url.path: 'a(b' is not a valid pattern: "),
              std::string::npos)
        << e.what();
  }
}

TEST(Condition, ErrorsNameTheKey) {
  try {
    cond("or: [{equals: {type: dns}}, {frobnicate: {}}]");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("or[1].frobnicate: unknown condition"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(cond("regexp: {status: '('}"), std::invalid_argument);
  EXPECT_THROW(cond("range: {a.between: 3}"), std::invalid_argument);
}

TEST(Selector, RulesMappingsDefaultsThenTopic) {
  const YAML::Node s = YAML::Load(R"(
topic: "tapbeat-%{[type]}"
topics:
  - topic: "errors"
    when: {equals: {status: "Error"}}
  - topic: "%{[event.dataset]}"
    mappings: {dns: "names"}
    default: "other"
)");
  Selector sel(s, "topic", "topics");
  EventView ev;
  std::string out;
  ev.reset(kEvent);
  ASSERT_TRUE(sel.select(ev, out));
  EXPECT_EQ(out, "errors");
  ev.reset(R"({"type":"dns","status":"OK","event":{"dataset":"dns"}})");
  ASSERT_TRUE(sel.select(ev, out));
  EXPECT_EQ(out, "names");
  ev.reset(R"({"type":"flow","event":{"dataset":"flow"}})");
  ASSERT_TRUE(sel.select(ev, out));
  EXPECT_EQ(out, "other");
  ev.reset(R"({"type":"flow"})");
  ASSERT_TRUE(sel.select(ev, out));
  EXPECT_EQ(out, "other");  // the second rule's default: its field is missing
  const YAML::Node only = YAML::Load("topic: '%{[type]}'");
  Selector sel2(only, "topic", "topics");
  ev.reset(R"({"x":1})");
  EXPECT_FALSE(sel2.select(ev, out));
  EXPECT_THROW(Selector(YAML::Load("topics: [{topic: a, whn: {}}]"), "topic", "topics"),
               std::invalid_argument);
}

TEST(ByteSize, UnitsAndErrors) {
  EXPECT_EQ(parse_byte_size("10GB"), 10'000'000'000ull);
  EXPECT_EQ(parse_byte_size("200MiB"), 200ull << 20);
  EXPECT_EQ(parse_byte_size("4096"), 4096ull);
  EXPECT_EQ(parse_byte_size("1 kib"), 1024ull);
  EXPECT_FALSE(parse_byte_size("ten"));
  EXPECT_FALSE(parse_byte_size("5XB"));
}

// ---- disk queue -------------------------------------------------------------

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tapbeat-spool-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string event_n(int i) {
  return R"({"@timestamp":"2026-01-01T00:00:00Z","n":)" + std::to_string(i) + "}";
}

std::vector<std::string> drain(Spool& s, bool ack = true) {
  std::vector<std::string> out;
  SpoolRecord r;
  uint32_t token = 0;
  while (s.peek(r, token)) {
    out.emplace_back(r.value);
    s.pop();
    if (ack) s.ack(token);
  }
  return out;
}

TEST(Spool, KeepsOrderAcrossSegmentsAndRestarts) {
  TempDir d;
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& m) { warnings.push_back(m); };
  {
    Spool s({d.path, 1 << 20, 64 << 10}, warn);
    for (int i = 0; i < 3000; ++i) {
      const std::string v = event_n(i);
      ASSERT_EQ(s.push({"topic", "key", v, 1000 + i}), Spool::Push::kOk);
    }
    EXPECT_GT(std::distance(std::filesystem::directory_iterator(d.path), {}), 1);  // several segments
    // Read part, acknowledge it, and stop.
    SpoolRecord r;
    uint32_t token = 0;
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(s.peek(r, token));
      EXPECT_EQ(r.value, event_n(i));
      EXPECT_EQ(r.topic, "topic");
      EXPECT_EQ(r.key, "key");
      EXPECT_EQ(r.timestamp_ms, 1000 + i);
      s.pop();
      s.ack(token);
    }
    s.close();
  }
  Spool s({d.path, 1 << 20, 64 << 10}, warn);
  const auto rest = drain(s);
  ASSERT_EQ(rest.size(), 2990u);
  for (int i = 0; i < 2990; ++i) ASSERT_EQ(rest[static_cast<std::size_t>(i)], event_n(i + 10));
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.bytes(), 0u);
  EXPECT_TRUE(warnings.empty());
}

TEST(Spool, UnacknowledgedRecordsAreReadAgain) {
  TempDir d;
  auto warn = [](const std::string&) {};
  {
    Spool s({d.path, 1 << 20, 1 << 20}, warn);
    for (int i = 0; i < 5; ++i) s.push({"t", "", event_n(i), 0});
    EXPECT_EQ(drain(s, /*ack=*/false).size(), 5u);
    s.close();
  }
  Spool s({d.path, 1 << 20, 1 << 20}, warn);
  EXPECT_EQ(drain(s).size(), 5u);  // at least once
}

TEST(Spool, FrontSegmentIsReadFirst) {
  TempDir d;
  Spool s({d.path, 1 << 20, 1 << 20}, [](const std::string&) {});
  s.push({"t", "", event_n(2), 0});
  s.push_front({"t", "", event_n(0), 0});
  s.push_front({"t", "", event_n(1), 0});
  const auto all = drain(s);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], event_n(0));
  EXPECT_EQ(all[1], event_n(1));
  EXPECT_EQ(all[2], event_n(2));
}

TEST(Spool, FullIsReported) {
  TempDir d;
  Spool s({d.path, 1 << 20, 64 << 10}, [](const std::string&) {});
  const std::string big(100'000, 'x');
  const std::string v = "\"" + big + "\"";
  int ok = 0;
  Spool::Push last = Spool::Push::kOk;
  for (int i = 0; i < 20 && last == Spool::Push::kOk; ++i) {
    last = s.push({"t", "", v, 0});
    ok += last == Spool::Push::kOk;
  }
  EXPECT_EQ(last, Spool::Push::kFull);
  EXPECT_EQ(ok, 10);
  EXPECT_LE(s.bytes(), 1u << 20);
}

TEST(Spool, CorruptTruncatedAndInvalidAreSkippedAndReported) {
  TempDir d;
  std::vector<std::string> warnings;
  {
    Spool s({d.path, 1 << 20, 1 << 20}, [](const std::string&) {});
    s.push({"t", "", event_n(0), 0});
    s.push({"t", "", "{not json", 0});
    s.push({"t", "", event_n(2), 0});
    s.close();
  }
  const auto seg = std::filesystem::directory_iterator(d.path)->path();
  // A second segment whose middle record has a flipped byte, then a truncated one.
  const auto size = std::filesystem::file_size(seg);
  std::string bytes(size, '\0');
  {
    std::ifstream in(seg, std::ios::binary);
    in.read(bytes.data(), static_cast<std::streamsize>(size));
  }
  std::string second = bytes;
  second[second.size() - 5] ^= 0x40;  // inside the last record's value: CRC mismatch
  const std::string seg2 = d.path + "/00000000001000000001.tbq";
  std::ofstream(seg2, std::ios::binary).write(second.data(), static_cast<std::streamsize>(second.size()));
  const std::string seg3 = d.path + "/00000000001000000002.tbq";
  std::ofstream(seg3, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 7));

  Spool s({d.path, 1 << 20, 1 << 20}, [&](const std::string& m) { warnings.push_back(m); });
  const auto got = drain(s);
  // Segment 1: records 0 and 2 (1 is not JSON); segment 2: 0 (2 fails its CRC);
  // segment 3: 0 (2 is cut short).
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], event_n(0));
  EXPECT_EQ(got[1], event_n(2));
  EXPECT_EQ(got[2], event_n(0));
  EXPECT_EQ(got[3], event_n(0));
  EXPECT_EQ(s.invalid_records(), 3u);
  EXPECT_EQ(s.corrupt_segments(), 2u);
  bool crc = false, truncated = false;
  for (const auto& w : warnings) {
    crc = crc || w.find("checksum mismatch") != std::string::npos;
    truncated = truncated || w.find("truncated record") != std::string::npos;
  }
  EXPECT_TRUE(crc);
  EXPECT_TRUE(truncated);
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace tapbeat
