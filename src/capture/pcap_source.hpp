// libpcap capture: live devices (including `any`) and capture files (pcap, pcapng,
// nanosecond variants). The only place besides dpdk/ that includes pcap.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tapbeat {

struct PcapOptions {
  std::string file;  // read this file; else capture from device
  std::string device = "any";
  uint32_t snaplen = 65535;
  // Live: raise snaplen to the device's largest frame (MTU plus link and VLAN headers;
  // for `any`, the largest MTU of all devices). Loopback's MTU of 65536 makes frames
  // longer than the customary 65535.
  bool snaplen_fits_mtu = false;
  uint32_t buffer_size_mb = 30;
  std::string bpf_filter;
  bool promisc = false;
  bool ignore_outgoing = false;  // live: only packets the host receives
};

struct PcapStats {
  uint64_t received = 0;    // ps_recv
  uint64_t dropped = 0;     // ps_drop: no room in the kernel buffer
  uint64_t if_dropped = 0;  // ps_ifdrop: dropped by the interface or driver
  uint64_t filtered = 0;    // file: packets the BPF filter did not match
};

class PcapSource {
 public:
  // Throws std::runtime_error naming the device or file and the reason.
  static std::unique_ptr<PcapSource> open(const PcapOptions& opts);
  virtual ~PcapSource() = default;

  enum class Next { kPacket, kTimeout, kEnd, kError };
  struct Frame {
    const uint8_t* data;
    uint32_t cap_len;
    uint32_t wire_len;
    uint64_t ts_ns;
    uint16_t link_type;
  };
  // The frame's bytes are valid until the next call.
  virtual Next next(Frame& out) = 0;
  virtual std::string error() const = 0;
  virtual PcapStats stats() const = 0;
  virtual bool live() const = 0;
  virtual uint16_t link_type() const = 0;
  virtual void break_loop() = 0;
  // The snap length in force (live: after snaplen_fits_mtu); 0 for files.
  virtual uint32_t snaplen() const { return 0; }
  // Live: the kernel's counters of each device captured, by device name.
  virtual std::vector<std::pair<std::string, PcapStats>> device_stats() const { return {}; }
  // Live: the descriptor poll() waits on for packets (-1: none), and whether next()
  // itself waits up to a clock tick when nothing is there (true unless one source of
  // several).
  virtual int wait_fd() const { return -1; }
  // A frame's bytes stay valid until the source is destroyed (a mapped file), not
  // only until the next call.
  virtual bool stable_frames() const { return false; }
  virtual void set_idle_wait(bool) {}

  // Several live devices read by one thread (one producer for the workers' rings):
  // each in turn, polled together when all are idle. Throws as open() does.
  static std::unique_ptr<PcapSource> open_many(const std::vector<PcapOptions>& each);
};

// A device named by its index in `tapbeat devices` (as Packetbeat accepts), by name.
// Throws std::runtime_error for an index out of range.
std::string resolve_device(const std::string& device);

// The largest MTU of the device (`any`: of every device), from /sys/class/net; 0 when
// it cannot be read.
uint32_t device_mtu(const std::string& device);
// The snap length a live capture of `device` takes when none is set: its largest frame
// (MTU, link header, two VLAN tags), at least `snaplen`, at most 262144.
uint32_t snaplen_fitting_mtu(const std::string& device, uint32_t snaplen);

struct DeviceInfo {
  std::string name;
  std::string description;
  std::vector<std::string> addresses;
};
// Throws std::runtime_error when libpcap cannot list devices.
std::vector<DeviceInfo> list_devices();

std::string pcap_library_version();

// Why libpcap refuses `filter` (compiled for Ethernet), or "" when it compiles.
std::string bpf_filter_error(const std::string& filter);

}  // namespace tapbeat
