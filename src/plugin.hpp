// Optional parts of the binary that bring large libraries (DPDK capture, the Kafka
// output) are shared modules loaded when a run uses them: a run that reads a file or
// captures with libpcap does not load, relocate and initialise DPDK's or librdkafka's
// libraries (2.6 ms of every start, measured in bench/RESULTS.md).
//
// A module is looked up beside the binary (the build tree: build/tapbeat-dpdk.so) and
// then in ../lib/tapbeat relative to it (an install: /usr/lib/tapbeat). It resolves the
// engine's symbols against the binary, which exports them (meson export_dynamic).
#pragma once

namespace tapbeat {

// The address of `symbol` in module tapbeat-<name>.so, loaded on first use. Throws
// std::runtime_error naming the module, where it was looked for and why it failed.
void* plugin_symbol(const char* name, const char* symbol);

}  // namespace tapbeat
