// Writes events into the worker's current output chunk: one JSON line per event,
// a fresh chunk when the current one is full. A worker and its decoders share one.
//
// Live capture drops an event when every chunk is in flight (counted); reading a
// file waits for the output instead, since pausing loses nothing.
#pragma once

#include <atomic>
#include <thread>

#include "event/event_queue.hpp"
#include "event/json_writer.hpp"
#include "util/counters.hpp"

namespace tapbeat {

class EventEmitter {
 public:
  EventEmitter(EventQueue& q, Counters& counters, bool block_on_full, const std::atomic<bool>& stop)
      : q_(q), counters_(counters), block_(block_on_full), stop_(stop) {}

  // write(JsonWriter&) writes one whole event.
  template <typename Fn>
  void emit(Fn&& write) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!ensure_chunk()) {
        counters_.inc(Counter::events_dropped_output_full);
        return;
      }
      JsonWriter w(chunk_->data + chunk_->len, chunk_->capacity - chunk_->len);
      write(w);
      w.newline();
      if (!w.overflow()) {
        chunk_->len += static_cast<uint32_t>(w.size());
        chunk_->events += 1;
        counters_.inc(Counter::events_emitted);
        return;
      }
      if (chunk_->len == 0) break;  // does not fit even an empty chunk
      flush();
    }
    counters_.inc(Counter::events_dropped_too_large);
  }

  // Hands the partially filled chunk to the output.
  void flush() {
    if (!chunk_ || chunk_->len == 0) return;
    q_.submit(chunk_);
    chunk_ = nullptr;
  }

 private:
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
};

}  // namespace tapbeat
