// Per-worker event chunks handed to the output thread over SPSC rings.
//
// A worker appends NDJSON lines into its current chunk; a full (or periodically
// flushed) chunk goes to the output thread on `full_`, and comes back empty on
// `free_`. All chunks are allocated by the constructor; the hot path only moves
// pointers. Thread-safety: the worker is the only producer of full_ and consumer
// of free_, the output thread the reverse.
//
// Chunks no one has written yet wait on a worker-owned stack and are taken only when
// no recycled chunk is ready: a worker whose output keeps up circulates two or three
// chunks that stay in cache, and the rest of the queue's memory is never touched (its
// pages are never faulted in and zeroed). The capacity is the same: under back-pressure
// every chunk can be in flight.
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
      : storage_(new char[uint64_t{chunks} * chunk_bytes]),
        chunks_(chunks),
        full_(chunks),
        free_(chunks),
        unused_(chunks) {
    // Taken from the back: chunk 0 first, so memory is touched from its start.
    for (uint32_t i = 0; i < chunks; ++i) {
      chunks_[i] = EventChunk{storage_.get() + uint64_t{i} * chunk_bytes, chunk_bytes, 0, 0};
      unused_[chunks - 1 - i] = &chunks_[i];
    }
  }
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // Worker side.
  EventChunk* take_free() {
    EventChunk* c = nullptr;
    if (!free_.pop_one(c)) {
      if (unused_.empty()) return nullptr;
      c = unused_.back();
      unused_.pop_back();
    }
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
  std::vector<EventChunk*> unused_;  // worker-owned; never grows
};

}  // namespace tapbeat
