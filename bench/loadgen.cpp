// tapbeat-loadgen: sends the Ethernet frames of a capture file out of a device at a set
// rate, in a loop, through a packet socket that bypasses the qdisc (sendmmsg batches).
// With --vary, each pass adds the pass number to both IPv4 addresses of every packet
// (the IP checksum fixed), so each pass is new flows whose two directions still pair.
// bench/loadtest drives it; on a capture host it drives a NIC or a TAP the same way.
//   tapbeat-loadgen --iface DEV --pcap FILE --rate PPS --seconds S [--vary]
// Prints one JSON line: sent, send_errors, seconds, rate, passes.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "capture/capture_file.hpp"

namespace {

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

struct Frame {
  std::vector<uint8_t> bytes;
  int ip4 = -1;  // offset of the IPv4 header, -1 when not IPv4
};

int ipv4_offset(const std::vector<uint8_t>& f) {
  std::size_t off = 12;
  for (int tags = 0; tags < 2 && off + 4 <= f.size(); ++tags) {
    const unsigned type = (f[off] << 8) | f[off + 1];
    if (type == 0x0800)
      return off + 22 <= f.size() && (f[off + 2] >> 4) == 4 ? static_cast<int>(off + 2) : -1;
    if (type != 0x8100 && type != 0x88a8) return -1;
    off += 4;
  }
  return -1;
}

void add_to_addresses(uint8_t* ip, uint32_t k) {
  for (int a : {12, 16}) {
    uint32_t v;
    std::memcpy(&v, ip + a, 4);
    v = htonl(ntohl(v) + k);
    std::memcpy(ip + a, &v, 4);
  }
  ip[10] = ip[11] = 0;
  const unsigned len = (ip[0] & 0x0f) * 4u;
  uint32_t sum = 0;
  for (unsigned i = 0; i + 1 < len; i += 2) sum += (ip[i] << 8) | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  const uint16_t c = static_cast<uint16_t>(~sum);
  ip[10] = static_cast<uint8_t>(c >> 8);
  ip[11] = static_cast<uint8_t>(c);
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "tapbeat-loadgen: %s\nusage: tapbeat-loadgen --iface DEV --pcap FILE --rate PPS "
               "--seconds S [--vary] [--batch N]\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string iface, pcap;
  double rate = 0, seconds = 0;
  bool vary = false;
  unsigned batch = 64;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--iface")
      iface = val();
    else if (a == "--pcap")
      pcap = val();
    else if (a == "--rate")
      rate = std::atof(val().c_str());
    else if (a == "--seconds")
      seconds = std::atof(val().c_str());
    else if (a == "--batch")
      batch = static_cast<unsigned>(std::atoi(val().c_str()));
    else if (a == "--vary")
      vary = true;
    else
      usage(("unknown argument " + a).c_str());
  }
  if (iface.empty() || pcap.empty() || rate <= 0 || seconds <= 0 || batch == 0 || batch > 1024)
    usage("--iface, --pcap, a positive --rate and --seconds are required");

  std::vector<Frame> frames;
  uint64_t skipped = 0;
  {
    tapbeat::CaptureFile file(pcap);
    tapbeat::CaptureFile::Packet p;
    while (file.next(p) == tapbeat::CaptureFile::Status::kPacket) {
      if (p.link_type != 1 || p.cap_len < 14 || p.cap_len > 9000) {
        ++skipped;
        continue;
      }
      Frame f;
      f.bytes.assign(p.data, p.data + p.cap_len);
      f.ip4 = ipv4_offset(f.bytes);
      frames.push_back(std::move(f));
    }
    if (!file.error().empty() && frames.empty()) usage((pcap + ": " + file.error()).c_str());
  }
  if (frames.empty()) usage("no Ethernet frames in the capture");

  const unsigned ifindex = ::if_nametoindex(iface.c_str());
  if (!ifindex) usage(("no device " + iface).c_str());
  const int fd = ::socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) usage(std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  const int sndbuf = 16 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = static_cast<int>(ifindex);
  to.sll_halen = 6;

  // Frames of a pass after the first are rewritten into this scratch space, batch by batch.
  std::vector<std::vector<uint8_t>> scratch(batch, std::vector<uint8_t>(9000));
  std::vector<mmsghdr> msgs(batch);
  std::vector<iovec> iov(batch);
  uint64_t sent = 0, errors = 0, pass = 0;
  std::size_t next = 0;
  const uint64_t start = now_ns();
  const uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);
  const double ns_per_packet = 1e9 / rate;
  for (;;) {
    const uint64_t now = now_ns();
    if (now >= end) break;
    const uint64_t due = start + static_cast<uint64_t>(static_cast<double>(sent + errors) * ns_per_packet);
    if (now < due) {
      if (due - now > 50'000) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now - 20'000));
      continue;
    }
    // As many as are due, up to a batch.
    const uint64_t owed =
        static_cast<uint64_t>(static_cast<double>(now - start) / ns_per_packet) + 1 - sent - errors;
    const unsigned n = static_cast<unsigned>(std::min<uint64_t>(owed, batch));
    for (unsigned i = 0; i < n; ++i) {
      Frame& f = frames[next];
      uint8_t* data = f.bytes.data();
      if (vary && pass > 0 && f.ip4 >= 0) {
        std::memcpy(scratch[i].data(), f.bytes.data(), f.bytes.size());
        data = scratch[i].data();
        add_to_addresses(data + f.ip4, static_cast<uint32_t>(pass));
      }
      iov[i] = iovec{data, f.bytes.size()};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_name = &to;
      msgs[i].msg_hdr.msg_namelen = sizeof to;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      if (++next == frames.size()) next = 0, ++pass;
    }
    const int r = ::sendmmsg(fd, msgs.data(), n, 0);
    if (r < 0) {
      errors += n;
    } else {
      sent += static_cast<unsigned>(r);
      errors += n - static_cast<unsigned>(r);
    }
  }
  const double took = static_cast<double>(now_ns() - start) / 1e9;
  std::printf(
      "{\"sent\":%llu,\"send_errors\":%llu,\"seconds\":%.3f,\"rate\":%.0f,\"passes\":%llu,"
      "\"frames\":%zu,\"skipped_frames\":%llu}\n",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(errors), took,
      static_cast<double>(sent) / took, static_cast<unsigned long long>(pass), frames.size(),
      static_cast<unsigned long long>(skipped));
  ::close(fd);
  return 0;
}
