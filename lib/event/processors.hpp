// Beats processors on finished events (the root `processors:` list): drop_event,
// drop_fields, include_fields, add_fields, add_labels, add_tags, rename,
// copy_fields, truncate_fields, add_locale, add_host_metadata,
// add_observer_metadata, add_network_direction, registered_domain, fingerprint,
// community_id and detect_mime_type, each with an optional `when` condition, and
// Beats' conditional `if` / `then` / `else` (lists or one processor, nested), applied in order by the worker
// that wrote the event. Conditions may be written with dotted keys as in Beats (`when.not.contains.tags:
// forwarded`, `if.equals.http.response.status_code: 200`). Other processors Beats knows are accepted with a
// warning and not applied; a name Beats does not know is a config error.
//
// An event passes through untouched when no processor changes it. A change parses
// the event into a tree whose nodes live in the worker's arena (reset per event, so
// a warmed-up worker allocates nothing) and writes it again.
//
// Thread-safety: a ProcessorChain is immutable after parsing and shared by the
// workers; each worker has its own ProcessorState.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <memory_resource>
#include <string>
#include <string_view>
#include <vector>

#include "event/event_fields.hpp"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace tapbeat {

class ProcessorState;

class ProcessorChain {
 public:
  using Warn = std::function<void(const std::string& key, const std::string& why)>;
  // `list`: the `processors` sequence. Throws std::invalid_argument whose message
  // starts with the offending key ("processors[1].rename.fields[0]: ...").
  ProcessorChain(const YAML::Node& list, const Warn& warn);
  ProcessorChain();
  ~ProcessorChain();
  // Appends a list; only_type non-empty: its processors see only events of that
  // `type` (a protocol's own processors, "flow" for packetbeat.flows.processors).
  // name_key names the list in errors and warnings.
  void add(const YAML::Node& list, const std::string& name_key, const std::string& only_type,
           const Warn& warn);
  // A protocol's or the flows' `index` (Beats' add_formatted_index): the format
  // string rendered on each event of that type into @metadata.raw_index, which the
  // Elasticsearch output takes as the event's index. Throws std::invalid_argument
  // (naming name_key) for a format that does not parse.
  void add_index(const std::string& format, const std::string& name_key, const std::string& only_type);
  bool empty() const { return steps_.empty(); }

  enum class Result { kKeep, kDrop, kChanged };
  // kChanged: the new event text is state.text(). errors counts steps that could
  // not do what they were asked (a missing field without ignore_missing, a rename
  // onto an existing field).
  Result apply(std::string_view event, ProcessorState& state, uint64_t& errors) const;

  struct Step;
  // An `if` branch's steps each carry the branch's gate and side: (gate, true) for
  // `then`, (gate, false) for `else`; an `if` evaluates its condition once, into its gate.
  using Gates = std::vector<std::pair<uint16_t, bool>>;

 private:
  void add_list(const YAML::Node& list, const std::string& name_key, const std::string& only_type,
                const Warn& warn, const Gates& gates);
  std::vector<std::unique_ptr<Step>> steps_;
  uint16_t gate_count_ = 0;
};

class ProcessorState {
 public:
  ProcessorState();
  ~ProcessorState();
  ProcessorState(const ProcessorState&) = delete;
  ProcessorState& operator=(const ProcessorState&) = delete;
  std::string_view text() const { return {out_.data(), out_len_}; }

 private:
  friend class ProcessorChain;
  std::vector<char> arena_buf_;
  std::pmr::monotonic_buffer_resource arena_;
  EventView view_;
  std::vector<char> scratch_ = std::vector<char>(4096);  // one scalar's JSON text
  simdjson::dom::parser aux_;                            // one string value (truncate_fields)
  std::string type_;                                     // the event's type, for scoped processors
  std::vector<uint8_t> gates_;                           // each `if`'s outcome for this event
  std::string work_;    // registered_domain: the name lower-cased; fingerprint: the text hashed
  std::string padded_;  // an event's text with simdjson's padding
  simdjson::ondemand::parser ondemand_;  // finds a top-level member's place in the text
  evp_md_ctx_st* md_ = nullptr;          // fingerprint's digest context, made at its first use
  std::vector<char> out_;
  std::size_t out_len_ = 0;
};

}  // namespace tapbeat
