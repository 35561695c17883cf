#include "capture/pcap_source.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>

#include <cstdlib>
#include <stdexcept>

namespace tapbeat {
namespace {

class PcapHandle : public PcapSource {
 public:
  PcapHandle(pcap_t* p, bool live, bool nano) : p_(p), live_(live), nano_(nano) {
    dlt_ = static_cast<uint16_t>(pcap_datalink(p_));
  }
  ~PcapHandle() override { pcap_close(p_); }

  Next next(Frame& out) override {
    struct pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(p_, &h, &data);
    if (rc == 1) {
      out.data = data;
      out.cap_len = h->caplen;
      out.wire_len = h->len < h->caplen ? h->caplen : h->len;
      const uint64_t sub = static_cast<uint64_t>(h->ts.tv_usec);
      out.ts_ns = static_cast<uint64_t>(h->ts.tv_sec) * 1'000'000'000ull + (nano_ ? sub : sub * 1000);
      out.link_type = dlt_;
      return Next::kPacket;
    }
    if (rc == 0) return Next::kTimeout;
    if (rc == PCAP_ERROR_BREAK) return Next::kEnd;
    error_ = pcap_geterr(p_);
    return Next::kError;
  }
  std::string error() const override { return error_; }
  PcapStats stats() const override {
    PcapStats s;
    struct pcap_stat ps {};
    if (live_ && pcap_stats(p_, &ps) == 0) {
      s.received = ps.ps_recv;
      s.dropped = ps.ps_drop;
      s.if_dropped = ps.ps_ifdrop;
    }
    return s;
  }
  bool live() const override { return live_; }
  uint16_t link_type() const override { return dlt_; }
  void break_loop() override { pcap_breakloop(p_); }

 private:
  pcap_t* p_;
  bool live_;
  bool nano_;
  uint16_t dlt_;
  std::string error_;
};

void apply_filter(pcap_t* p, const std::string& filter, const std::string& what) {
  if (filter.empty()) return;
  struct bpf_program prog {};
  if (pcap_compile(p, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    const std::string err = pcap_geterr(p);
    pcap_close(p);
    throw std::runtime_error(what + ": invalid bpf_filter '" + filter + "': " + err);
  }
  const int rc = pcap_setfilter(p, &prog);
  pcap_freecode(&prog);
  if (rc != 0) {
    const std::string err = pcap_geterr(p);
    pcap_close(p);
    throw std::runtime_error(what + ": cannot set bpf_filter: " + err);
  }
}

std::string resolve_device(const std::string& dev) {
  // Packetbeat accepts the index printed by `devices`.
  if (dev.empty() || dev.find_first_not_of("0123456789") != std::string::npos) return dev;
  const auto devs = list_devices();
  const std::size_t i = std::strtoul(dev.c_str(), nullptr, 10);
  if (i >= devs.size())
    throw std::runtime_error("device index " + dev + " is out of range (" +
                             std::to_string(devs.size()) + " devices; see `tapbeat devices`)");
  return devs[i].name;
}

// A pcapng file with a section header and no interfaces is valid and holds no packets.
class EmptySource : public PcapSource {
 public:
  Next next(Frame&) override { return Next::kEnd; }
  std::string error() const override { return {}; }
  PcapStats stats() const override { return {}; }
  bool live() const override { return false; }
  uint16_t link_type() const override { return 1; }
  void break_loop() override {}
};

}  // namespace

std::unique_ptr<PcapSource> PcapSource::open(const PcapOptions& o) {
  char err[PCAP_ERRBUF_SIZE] = {};
  if (!o.file.empty()) {
    pcap_t* p = pcap_open_offline_with_tstamp_precision(o.file.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
    if (!p && std::string(err).find("no Interface Description Blocks") != std::string::npos)
      return std::make_unique<EmptySource>();
    if (!p) throw std::runtime_error("cannot read capture file " + o.file + ": " + err);
    apply_filter(p, o.bpf_filter, o.file);
    return std::make_unique<PcapHandle>(p, false, true);
  }
  const std::string dev = resolve_device(o.device);
  pcap_t* p = pcap_create(dev.c_str(), err);
  if (!p) throw std::runtime_error("cannot open device " + dev + ": " + err);
  pcap_set_snaplen(p, static_cast<int>(o.snaplen));
  pcap_set_promisc(p, o.promisc ? 1 : 0);
  pcap_set_timeout(p, 100);  // ms: the reader wakes to keep the clock moving
  pcap_set_buffer_size(p, static_cast<int>(o.buffer_size_mb) << 20);
  const bool nano = pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) == 0;
  const int rc = pcap_activate(p);
  if (rc < 0) {
    std::string why = pcap_geterr(p);
    if (rc == PCAP_ERROR_PERM_DENIED)
      why += " (run as root or grant cap_net_raw,cap_net_admin to the binary)";
    if (rc == PCAP_ERROR_NO_SUCH_DEVICE) why += " (list devices with `tapbeat devices`)";
    pcap_close(p);
    throw std::runtime_error("cannot capture on " + dev + ": " + why);
  }
  apply_filter(p, o.bpf_filter, dev);
  return std::make_unique<PcapHandle>(p, true, nano);
}

std::vector<DeviceInfo> list_devices() {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_if_t* all = nullptr;
  if (pcap_findalldevs(&all, err) != 0) throw std::runtime_error(std::string("cannot list devices: ") + err);
  std::vector<DeviceInfo> out;
  for (pcap_if_t* d = all; d; d = d->next) {
    DeviceInfo info{d->name, d->description ? d->description : "", {}};
    for (pcap_addr_t* a = d->addresses; a; a = a->next) {
      if (!a->addr) continue;
      char buf[INET6_ADDRSTRLEN] = {};
      if (a->addr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->addr)->sin_addr, buf, sizeof buf);
      } else if (a->addr->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->addr)->sin6_addr, buf, sizeof buf);
      } else {
        continue;
      }
      info.addresses.emplace_back(buf);
    }
    out.push_back(std::move(info));
  }
  pcap_freealldevs(all);
  return out;
}

std::string pcap_library_version() { return pcap_lib_version(); }

}  // namespace tapbeat
