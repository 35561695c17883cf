// Writes events into the worker's current output chunk: one JSON line per event,
// a fresh chunk when the current one is full. A worker and its decoders share one.
//
// Live capture drops an event when every chunk is in flight (counted); reading a
// file waits for the output instead, since pausing loses nothing.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "event/event_queue.hpp"
#include "event/json_writer.hpp"
#include "event/processors.hpp"
#include "util/counters.hpp"

namespace tapbeat {

class EventEmitter {
 public:
  EventEmitter(EventQueue& q, Counters& counters, bool block_on_full, const std::atomic<bool>& stop)
      : q_(q), counters_(counters), block_(block_on_full), stop_(stop) {}

  // The root `processors` applied to every event (null: none).
  void set_processors(const ProcessorChain* chain) {
    chain_ = chain && !chain->empty() ? chain : nullptr;
    if (chain_ && !state_) state_ = std::make_unique<ProcessorState>();
  }

  // write(JsonWriter&) writes one whole event.
  template <typename Fn>
  void emit(Fn&& write) {
    const std::size_t n = place(write);
    if (!n) return;
    if (chain_) return process(n);
    commit(n);
  }

  // Hands the partially filled chunk to the output.
  void flush() {
    if (!chunk_ || chunk_->len == 0) return;
    q_.submit(chunk_);
    chunk_ = nullptr;
  }

 private:
  void commit(std::size_t n) {
    chunk_->len += static_cast<uint32_t>(n);
    chunk_->events += 1;
    counters_.inc(Counter::events_emitted);
  }

  // Writes one event with put(JsonWriter&) and a newline at the end of the current
  // chunk, in a fresh chunk when it does not fit. One that does not fit an empty chunk
  // either is written again with its long string values cut (a body, a raw message, a
  // query: the writer bounds each one, the event says so in error.message), shorter at
  // each try (counted in events.values_cut). Returns the bytes written, 0 when the event
  // is dropped (counted).
  template <typename Put>
  std::size_t place(Put&& put) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!ensure_chunk()) {
        counters_.inc(Counter::events_dropped_output_full);
        return 0;
      }
      JsonWriter w(chunk_->data + chunk_->len, chunk_->capacity - chunk_->len);
      put(w);
      w.newline();
      if (!w.overflow()) return w.size();
      if (chunk_->len == 0) break;  // does not fit even an empty chunk
      flush();
    }
    if (!chunk_ || chunk_->len != 0) {  // the loop leaves an empty chunk; should it not, a fresh one
      flush();
      if (!ensure_chunk()) {
        counters_.inc(Counter::events_dropped_output_full);
        return 0;
      }
    }
    for (const uint32_t part : {2u, 8u, 64u, 1024u}) {
      JsonWriter w(chunk_->data, chunk_->capacity);
      w.cut_strings_to(std::max<std::size_t>(chunk_->capacity / part, 64));
      put(w);
      w.newline();
      if (w.overflow()) continue;
      counters_.inc(Counter::events_values_cut);
      return w.size();
    }
    counters_.inc(Counter::events_dropped_too_large);
    return 0;
  }

  // The event just placed (n bytes with its newline) through the processors: kept,
  // dropped (counted), or replaced by what they made of it.
  void process(std::size_t n) {
    uint64_t errors = 0;
    const auto r = chain_->apply(std::string_view(chunk_->data + chunk_->len, n - 1), *state_, errors);
    if (errors) counters_.inc(Counter::processors_errors, errors);
    if (r == ProcessorChain::Result::kDrop) return counters_.inc(Counter::events_dropped_processors);
    if (r == ProcessorChain::Result::kKeep) return commit(n);
    const std::string_view text = state_->text();  // held by the state, not the chunk
    if (const std::size_t m = place([&](JsonWriter& w) { w.raw(text); })) commit(m);
  }

  bool ensure_chunk() {
    if (chunk_) return true;
    chunk_ = q_.take_free();
    while (!chunk_ && block_ && !stop_.load(std::memory_order_relaxed)) {
      std::this_thread::yield();
      chunk_ = q_.take_free();
    }
    return chunk_ != nullptr;
  }

  EventQueue& q_;
  Counters& counters_;
  bool block_;
  const std::atomic<bool>& stop_;
  EventChunk* chunk_ = nullptr;
  const ProcessorChain* chain_ = nullptr;
  std::unique_ptr<ProcessorState> state_;
};

}  // namespace tapbeat
