// queue.disk for the Logstash and Elasticsearch outputs: a sink in front of the
// output that keeps on disk (event/spool.hpp) what the output cannot take yet.
//
// While the output takes every event offered, events go straight to it. From the
// first event it refuses (its memory queue, queue.mem.events, is full: the hosts are
// down or slow), events go to the disk queue, and are read back in order and offered
// to the output as it takes them again; new events follow them, through the disk
// queue, until it is empty. So the workers never wait on a slow output and drop
// nothing while the disk queue has room (full: dropped, counted).
// At the end of a run what the output still holds (sent and not acknowledged, or
// waiting) is handed back and kept on disk in front of the rest, with what was never
// read back: the next start sends it first. A record leaves the disk queue when the
// output takes it; a SIGKILL loses what the output held in memory then.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "output/sink.hpp"

namespace tapbeat {

// Wraps `inner` (named `type` in messages). Throws ConfigError (queue.disk.path) when
// the folder cannot be made or read.
std::unique_ptr<Sink> make_disk_queue_sink(const Config& cfg, const std::string& type,
                                           std::unique_ptr<Sink> inner);

}  // namespace tapbeat
