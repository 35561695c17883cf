#include "capture/af_packet.hpp"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace tapbeat {
namespace {

// ARPHRD_* of a device, from sysfs; -1 when it cannot be read.
int device_arphrd(const std::string& device) {
  std::ifstream in("/sys/class/net/" + device + "/type");
  int t = -1;
  return (in >> t) ? t : -1;
}

uint32_t next_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

[[noreturn]] void fail(const std::string& device, const std::string& what, int err) {
  std::string why = what + ": " + std::strerror(err);
  if (err == EPERM || err == EACCES) why += " (run as root or grant cap_net_raw,cap_net_admin to the binary)";
  throw std::runtime_error("cannot capture on " + device + " with af_packet: " + why);
}

void attach(int fd, const std::vector<sock_filter>& code, const std::string& device) {
  sock_fprog prog{static_cast<unsigned short>(code.size()), const_cast<sock_filter*>(code.data())};
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
    fail(device, "cannot attach the filter", errno);
}

}  // namespace

uint16_t af_packet_link_type(const std::string& device) {
  switch (device_arphrd(device)) {
    case 1:    // ARPHRD_ETHER
    case 772:  // ARPHRD_LOOPBACK: Ethernet framing with zero addresses
      return 1;
    case 65534:  // ARPHRD_NONE (tun): bare IP packets
    case 519:    // ARPHRD_RAWIP
      return 101;
    default:
      return 0;
  }
}

AfPacketRing::AfPacketRing(const AfPacketOptions& o)
    : device_(o.device),
      filter_(o.bpf_filter),
      fanout_group_(o.fanout_group),
      snaplen_(o.snaplen),
      block_timeout_ms_(o.block_timeout_ms) {
  const unsigned ifindex = ::if_nametoindex(o.device.c_str());
  if (ifindex == 0)
    throw std::runtime_error("cannot capture on " + o.device +
                             " with af_packet: no such device (list devices with `tapbeat devices`)");
  link_type_ = af_packet_link_type(o.device);
  if (link_type_ == 0)
    throw std::runtime_error("cannot capture on " + o.device + " with af_packet: its link type (ARPHRD " +
                             std::to_string(device_arphrd(o.device)) +
                             ") is not Ethernet or IP; capture it with type: pcap");
  loopback_ = device_arphrd(o.device) == 772;
  ignore_outgoing_ = loopback_ || o.ignore_outgoing;

  // Protocol 0: the socket takes nothing until bind() below, after the ring is set.
  fd_ = ::socket(AF_PACKET, SOCK_RAW, 0);
  if (fd_ < 0) fail(o.device, "cannot open a packet socket", errno);
  try {
    // Nothing passes until start(): the sockets of a fanout group must all have
    // joined before any takes a frame, or the first ones would see the others' flows.
    attach(fd_, {sock_filter{BPF_RET | BPF_K, 0, 0, 0}}, o.device);
    const int version = TPACKET_V3;
    if (::setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0)
      fail(o.device, "TPACKET_V3 is not available", errno);
    // A block holds at least one frame of snaplen with its headers; the ring holds this
    // socket's share of buffer_size_mb, at least four blocks.
    block_size_ = std::max<uint32_t>(next_pow2(o.snaplen + 512), 1u << 17);
    block_count_ = static_cast<uint32_t>(std::max<std::size_t>(o.ring_bytes / block_size_, 4));
    tpacket_req3 req{};
    req.tp_block_size = block_size_;
    req.tp_block_nr = block_count_;
    req.tp_frame_size = TPACKET_ALIGNMENT << 7;  // 2048: V3 frames are packed, this only sets tp_frame_nr
    req.tp_frame_nr = (block_size_ / req.tp_frame_size) * block_count_;
    req.tp_retire_blk_tov = o.block_timeout_ms;
    if (::setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
      fail(o.device,
           "cannot set up a ring of " + std::to_string(block_count_) + " blocks of " +
               std::to_string(block_size_) + " bytes",
           errno);
    void* m = ::mmap(nullptr, ring_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, 0);
    if (m == MAP_FAILED) fail(o.device, "cannot map the ring", errno);
    map_ = static_cast<uint8_t*>(m);
    // One socket alone can have the kernel skip outgoing copies; a fanout group's
    // sockets see what the group is given, so outgoing frames are skipped here.
    if (ignore_outgoing_ && fanout_group_ < 0) {
      const int one = 1;
      kernel_ignores_outgoing_ = ::setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0;
    }
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(ifindex);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
      fail(o.device, "cannot bind to the device", errno);
    if (o.promisc) {
      packet_mreq mr{};
      mr.mr_ifindex = static_cast<int>(ifindex);
      mr.mr_type = PACKET_MR_PROMISC;
      if (::setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0)
        fail(o.device, "cannot set promiscuous mode", errno);
    }
  } catch (...) {
    if (map_) ::munmap(map_, ring_bytes());
    ::close(fd_);
    throw;
  }
}

AfPacketRing::~AfPacketRing() {
  if (map_) ::munmap(map_, ring_bytes());
  if (fd_ >= 0) ::close(fd_);
}

void AfPacketRing::start() {
  if (fanout_group_ >= 0) {
    const int arg = (fanout_group_ & 0xffff) | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16);
    if (::setsockopt(fd_, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0)
      fail(device_,
           "cannot join fanout group " + std::to_string(fanout_group_) +
               " (a group in use by another process must be on the same device and mode)",
           errno);
  }
  // The real filter: libpcap compiles it (its accept returns snaplen, so the kernel
  // copies no more than that); without one, a filter that keeps snaplen bytes.
  std::vector<sock_filter> code{sock_filter{BPF_RET | BPF_K, 0, 0, snaplen_}};
  if (!filter_.empty()) {
    pcap_t* dead = pcap_open_dead(link_type_ == 101 ? DLT_RAW : DLT_EN10MB, static_cast<int>(snaplen_));
    bpf_program prog{};
    if (!dead || pcap_compile(dead, &prog, filter_.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      const std::string err = dead ? pcap_geterr(dead) : "cannot open";
      if (dead) pcap_close(dead);
      throw std::runtime_error(device_ + ": invalid bpf_filter '" + filter_ + "': " + err);
    }
    code.assign(reinterpret_cast<const sock_filter*>(prog.bf_insns),
                reinterpret_cast<const sock_filter*>(prog.bf_insns) + prog.bf_len);
    pcap_freecode(&prog);
    pcap_close(dead);
  }
  attach(fd_, code, device_);
}

void AfPacketRing::stop_intake() { attach(fd_, {sock_filter{BPF_RET | BPF_K, 0, 0, 0}}, device_); }

void AfPacketRing::release_block() {
  auto* b = reinterpret_cast<tpacket_block_desc*>(map_ + std::size_t{current_} * block_size_);
  __atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  current_ = current_ + 1 == block_count_ ? 0 : current_ + 1;
}

AfPacketStats AfPacketRing::stats() {
  tpacket_stats_v3 st{};
  socklen_t len = sizeof st;
  if (::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
    // The kernel resets its counters on each read (and tp_packets already includes
    // tp_drops): add them up here.
    received_.fetch_add(st.tp_packets, std::memory_order_relaxed);
    dropped_.fetch_add(st.tp_drops, std::memory_order_relaxed);
    freezes_.fetch_add(st.tp_freeze_q_cnt, std::memory_order_relaxed);
  }
  return AfPacketStats{received_.load(std::memory_order_relaxed), dropped_.load(std::memory_order_relaxed),
                       freezes_.load(std::memory_order_relaxed)};
}

}  // namespace tapbeat
