// AF_PACKET capture with a TPACKET_V3 ring: the kernel writes frames into blocks of a
// memory area shared with tapbeat, and the worker that owns the socket reads them in
// place and hands each block back when done. Several workers' sockets on one device
// join one PACKET_FANOUT group: the kernel spreads packets by its symmetric flow hash
// (after reassembling IP fragments), so both directions of a flow reach one worker.
// No capture thread and no copy between the kernel's ring and the decoders.
#pragma once

#include <linux/if_packet.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace tapbeat {

struct AfPacketOptions {
  std::string device;
  uint32_t snaplen = 65535;
  std::size_t ring_bytes = 30u << 20;  // this socket's share of buffer_size_mb
  std::string bpf_filter;              // compiled with libpcap for Ethernet
  bool promisc = false;
  bool ignore_outgoing = false;
  // PACKET_FANOUT group to join (< 0: none): the kernel splits a device's packets
  // among the sockets of one group, across processes too (Packetbeat's fanout_group).
  int fanout_group = -1;
  uint32_t block_timeout_ms = 10;  // a block that is not full is handed over after this
};

struct AfPacketStats {
  uint64_t received = 0;       // tp_packets: every packet the socket was offered
  uint64_t dropped = 0;        // tp_drops: no free block in the ring
  uint64_t queue_freezes = 0;  // tp_freeze_q_cnt: times the ring was full
};

class AfPacketRing {
 public:
  // Opens, maps and binds the socket, with a filter that takes nothing until
  // start() (so sockets of one group are all joined before any of them sees a frame).
  // Throws std::runtime_error naming the device and the reason.
  explicit AfPacketRing(const AfPacketOptions& o);
  ~AfPacketRing();
  AfPacketRing(const AfPacketRing&) = delete;
  AfPacketRing& operator=(const AfPacketRing&) = delete;

  // Joins the fanout group and installs the real filter. Throws as the constructor.
  void start();

  struct Frame {
    const uint8_t* data;
    uint32_t cap_len;
    uint32_t wire_len;
    uint64_t ts_ns;
    uint16_t vlan_tci;  // the tag the kernel took off the frame (VLAN offload)
    uint16_t vlan_tpid;
    bool vlan_valid;
  };

  // Takes no more frames (a filter that refuses all; the kernel counts none of them).
  // What the ring holds is still read: the block being filled is handed over within
  // block_timeout_ms().
  void stop_intake();
  uint32_t block_timeout_ms() const { return block_timeout_ms_; }

  // The next block the kernel has filled, or null. Its frames stay valid until
  // release_block(); visit them with for_each_frame().
  const tpacket_block_desc* ready_block() const;
  template <typename F>
  void for_each_frame(const tpacket_block_desc* b, F&& f) const;
  void release_block();

  int fd() const { return fd_; }
  uint16_t link_type() const { return link_type_; }
  uint32_t snaplen() const { return snaplen_; }
  const std::string& device() const { return device_; }
  std::size_t ring_bytes() const { return static_cast<std::size_t>(block_size_) * block_count_; }
  // Reads the kernel's counters (which reading resets) and adds them to the running
  // totals; safe from any thread.
  AfPacketStats stats();
  uint64_t skipped_outgoing() const { return skipped_outgoing_.load(std::memory_order_relaxed); }

 private:
  bool frame_of(const tpacket3_hdr* h, Frame& out) const;

  std::string device_;
  std::string filter_;
  int fd_ = -1;
  int fanout_group_ = -1;
  uint16_t link_type_ = 1;
  uint32_t snaplen_;
  uint32_t block_timeout_ms_;
  bool loopback_ = false;
  bool ignore_outgoing_ = false;
  bool kernel_ignores_outgoing_ = false;
  uint8_t* map_ = nullptr;
  uint32_t block_size_ = 0;
  uint32_t block_count_ = 0;
  uint32_t current_ = 0;
  std::atomic<uint64_t> received_{0}, dropped_{0}, freezes_{0};
  mutable std::atomic<uint64_t> skipped_outgoing_{0};
};

inline const tpacket_block_desc* AfPacketRing::ready_block() const {
  const auto* b = reinterpret_cast<const tpacket_block_desc*>(map_ + std::size_t{current_} * block_size_);
  const uint32_t status = __atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
  return (status & TP_STATUS_USER) ? b : nullptr;
}

template <typename F>
void AfPacketRing::for_each_frame(const tpacket_block_desc* b, F&& f) const {
  const uint32_t n = b->hdr.bh1.num_pkts;
  const auto* base = reinterpret_cast<const uint8_t*>(b);
  uint32_t off = b->hdr.bh1.offset_to_first_pkt;
  Frame fr{};
  for (uint32_t i = 0; i < n && off; ++i) {
    const auto* h = reinterpret_cast<const tpacket3_hdr*>(base + off);
    if (frame_of(h, fr)) f(fr);
    off += h->tp_next_offset;
    if (h->tp_next_offset == 0) break;
  }
}

inline bool AfPacketRing::frame_of(const tpacket3_hdr* h, Frame& out) const {
  const auto* p = reinterpret_cast<const uint8_t*>(h);
  if (ignore_outgoing_ && !kernel_ignores_outgoing_) {
    // Loopback shows each packet twice (sent, then received); keep the received one.
    const auto* sll = reinterpret_cast<const sockaddr_ll*>(p + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
    if (sll->sll_pkttype == PACKET_OUTGOING) {
      skipped_outgoing_.store(skipped_outgoing_.load(std::memory_order_relaxed) + 1,
                              std::memory_order_relaxed);
      return false;
    }
  }
  out.data = p + h->tp_mac;
  out.cap_len = h->tp_snaplen < snaplen_ ? h->tp_snaplen : snaplen_;
  out.wire_len = h->tp_len < out.cap_len ? out.cap_len : h->tp_len;
  out.ts_ns = uint64_t{h->tp_sec} * 1'000'000'000ull + h->tp_nsec;
  out.vlan_valid = (h->tp_status & TP_STATUS_VLAN_VALID) != 0;
  out.vlan_tci = static_cast<uint16_t>(h->hv1.tp_vlan_tci);
  out.vlan_tpid =
      (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? static_cast<uint16_t>(h->hv1.tp_vlan_tpid) : 0x8100;
  return true;
}

// The link type (LINKTYPE_*) tapbeat reads from `device` through af_packet, or 0 when
// af_packet frames of that device's kind are not supported.
uint16_t af_packet_link_type(const std::string& device);

}  // namespace tapbeat
