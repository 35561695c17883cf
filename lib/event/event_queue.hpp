// Per-worker event chunks handed to the output thread over SPSC rings.
//
// A worker appends NDJSON lines into its current chunk; a full (or periodically
// flushed) chunk goes to the output thread on `full_`, and comes back empty on
// `free_`. All chunks are allocated by the constructor; the hot path only moves
// pointers. Thread-safety: the worker is the only producer of full_ and consumer
// of free_, the output thread the reverse.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "util/spsc_ring.hpp"

namespace tapbeat {

struct EventChunk {
  char* data;
  uint32_t capacity;
  uint32_t len;
  uint32_t events;
};

class EventQueue {
 public:
  EventQueue(uint32_t chunks, uint32_t chunk_bytes)
      : storage_(new char[uint64_t{chunks} * chunk_bytes]), chunks_(chunks), full_(chunks), free_(chunks) {
    for (uint32_t i = 0; i < chunks; ++i) {
      chunks_[i] = EventChunk{storage_.get() + uint64_t{i} * chunk_bytes, chunk_bytes, 0, 0};
      EventChunk* c = &chunks_[i];
      free_.push_one(c);
    }
  }
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // Worker side.
  EventChunk* take_free() {
    EventChunk* c = nullptr;
    if (!free_.pop_one(c)) return nullptr;
    c->len = 0;
    c->events = 0;
    return c;
  }
  void submit(EventChunk* c) { full_.push_one(c); }  // never fails: as many slots as chunks

  // Output side.
  EventChunk* take_full() {
    EventChunk* c = nullptr;
    return full_.pop_one(c) ? c : nullptr;
  }
  void recycle(EventChunk* c) { free_.push_one(c); }
  bool idle() const { return full_.size() == 0; }

 private:
  std::unique_ptr<char[]> storage_;
  std::vector<EventChunk> chunks_;
  SpscRing<EventChunk*> full_;
  SpscRing<EventChunk*> free_;
};

}  // namespace tapbeat
