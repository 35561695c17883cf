#include "capture/pcap_source.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "capture/capture_file.hpp"

namespace tapbeat {
namespace {

class PcapHandle : public PcapSource {
 public:
  PcapHandle(pcap_t* p, bool live, bool nano) : p_(p), live_(live), nano_(nano) {
    dlt_ = static_cast<uint16_t>(pcap_datalink(p_));
    char err[PCAP_ERRBUF_SIZE];
    if (live_ && pcap_setnonblock(p_, 1, err) == 0) fd_ = pcap_get_selectable_fd(p_);
  }
  ~PcapHandle() override { pcap_close(p_); }
  uint32_t snaplen() const override { return static_cast<uint32_t>(pcap_snapshot(p_)); }

  Next next(Frame& out) override {
    struct pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    errno = 0;
    int rc = pcap_next_ex(p_, &h, &data);
    // libpcap's netfilter (nflog:N, nfqueue:N) reader, non-blocking, reports an empty
    // socket as an error with errno EAGAIN: nothing to read yet.
    if (rc == PCAP_ERROR && live_ && (errno == EAGAIN || errno == EWOULDBLOCK)) rc = 0;
    if (rc == 1) {
      out.data = data;
      out.cap_len = h->caplen;
      out.wire_len = h->len < h->caplen ? h->caplen : h->len;
      const uint64_t sub = static_cast<uint64_t>(h->ts.tv_usec);
      out.ts_ns = static_cast<uint64_t>(h->ts.tv_sec) * 1'000'000'000ull + (nano_ ? sub : sub * 1000);
      out.link_type = dlt_;
      return Next::kPacket;
    }
    if (rc == 0) {
      // Non-blocking handle: wait for the fd at most one clock tick, so an idle link
      // still moves the clock and a stop request is seen.
      if (fd_ >= 0 && idle_wait_) {
        struct pollfd pfd {
          fd_, POLLIN, 0
        };
        ::poll(&pfd, 1, 100);
      }
      return Next::kTimeout;
    }
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
  int wait_fd() const override { return fd_; }
  void set_idle_wait(bool wait) override { idle_wait_ = wait; }

 private:
  pcap_t* p_;
  int fd_ = -1;
  bool idle_wait_ = true;
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

}  // namespace

std::string bpf_filter_error(const std::string& filter) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
  if (!dead) return "libpcap could not compile filters";
  struct bpf_program prog {};
  std::string err;
  if (pcap_compile(dead, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
    err = pcap_geterr(dead);
  else
    pcap_freecode(&prog);
  pcap_close(dead);
  return err;
}

std::string resolve_device(const std::string& dev) {
  // Packetbeat accepts the index printed by `devices`.
  if (dev.empty() || dev.find_first_not_of("0123456789") != std::string::npos) return dev;
  const auto devs = list_devices();
  const std::size_t i = std::strtoul(dev.c_str(), nullptr, 10);
  if (i >= devs.size())
    throw std::runtime_error("device index " + dev + " is out of range (" + std::to_string(devs.size()) +
                             " devices; see `tapbeat devices`)");
  return devs[i].name;
}

namespace {

uint32_t read_mtu(const std::filesystem::path& dir) {
  std::ifstream in(dir / "mtu");
  uint32_t mtu = 0;
  return (in >> mtu) ? mtu : 0;
}

// libpcap compiles filters for a DLT; LINKTYPE_RAW (101) is DLT_RAW (12) on Linux.
int dlt_for_linktype(uint16_t linktype) { return linktype == 101 ? 12 : linktype; }

// Capture files are read by tapbeat's own reader, so pcapng interfaces may differ in
// link type; the BPF filter is compiled once per link type and run by libpcap.
class FileSource : public PcapSource {
 public:
  FileSource(const std::string& path, std::string filter)
      : file_(path), path_(path), filter_(std::move(filter)) {}
  ~FileSource() override {
    for (auto& [dlt, f] : filters_) {
      if (f.compiled) pcap_freecode(&f.prog);
    }
  }

  Next next(Frame& out) override {
    for (;;) {
      CaptureFile::Packet p;
      const auto st = file_.next(p);
      if (st == CaptureFile::Status::kEnd) return Next::kEnd;
      if (st == CaptureFile::Status::kError) return Next::kError;
      if (!filter_.empty() && !matches(p)) {
        ++filtered_;
        continue;
      }
      out = Frame{p.data, p.cap_len, p.wire_len, p.ts_ns, p.link_type};
      return Next::kPacket;
    }
  }
  std::string error() const override { return error_.empty() ? file_.error() : error_; }
  PcapStats stats() const override {
    PcapStats s;
    s.filtered = filtered_;
    return s;
  }
  bool live() const override { return false; }
  uint16_t link_type() const override { return file_.first_link_type(); }
  void break_loop() override {}

  // Compiles the filter for the file's first link type, so a bad filter fails at start.
  void check_filter() {
    if (!filter_.empty() && !compiled_for(file_.first_link_type())) throw std::runtime_error(error_);
  }

 private:
  struct Filter {
    bool compiled = false;
    struct bpf_program prog {};
  };
  const Filter* compiled_for(uint16_t dlt) {
    auto it = filters_.find(dlt);
    if (it != filters_.end()) return it->second.compiled ? &it->second : nullptr;
    Filter& f = filters_[dlt];
    pcap_t* dead = pcap_open_dead(dlt_for_linktype(dlt), 262144);
    if (dead && pcap_compile(dead, &f.prog, filter_.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0) {
      f.compiled = true;
    } else {
      error_ = path_ + ": invalid bpf_filter '" + filter_ + "' for link type " + std::to_string(dlt) + ": " +
               (dead ? pcap_geterr(dead) : "cannot open");
    }
    if (dead) pcap_close(dead);
    return f.compiled ? &f : nullptr;
  }
  bool matches(const CaptureFile::Packet& p) {
    const Filter* f = compiled_for(p.link_type);
    if (!f) return false;  // a link type the filter cannot express: nothing of it matches
    struct pcap_pkthdr h {};
    h.caplen = p.cap_len;
    h.len = p.wire_len;
    return pcap_offline_filter(&f->prog, &h, p.data) != 0;
  }

  bool stable_frames() const override { return file_.mapped(); }

  CaptureFile file_;
  std::string path_;
  std::string filter_;
  std::string error_;
  std::map<uint16_t, Filter> filters_;
  uint64_t filtered_ = 0;
};

}  // namespace

namespace {

// Several live devices, read in turn (up to kTurn frames each), all polled together
// for one clock tick when none has a frame.
class MultiSource : public PcapSource {
 public:
  MultiSource(std::vector<std::unique_ptr<PcapSource>> srcs, std::vector<std::string> names)
      : srcs_(std::move(srcs)), names_(std::move(names)) {
    for (auto& s : srcs_) s->set_idle_wait(false);
  }
  Next next(Frame& out) override {
    for (std::size_t tried = 0; tried < srcs_.size(); ++tried) {
      if (turn_ >= kTurn) turn_ = 0, cur_ = (cur_ + 1) % srcs_.size();
      const Next r = srcs_[cur_]->next(out);
      if (r == Next::kPacket) {
        ++turn_;
        return r;
      }
      if (r != Next::kTimeout) {
        error_ = names_[cur_] + ": " + srcs_[cur_]->error();
        return r;
      }
      turn_ = kTurn;  // idle: the next one's turn
    }
    std::vector<pollfd> fds;
    for (const auto& s : srcs_)
      if (s->wait_fd() >= 0) fds.push_back({s->wait_fd(), POLLIN, 0});
    ::poll(fds.data(), fds.size(), 100);
    return Next::kTimeout;
  }
  std::string error() const override { return error_; }
  PcapStats stats() const override {
    PcapStats t;
    for (const auto& s : srcs_) {
      const PcapStats p = s->stats();
      t.received += p.received;
      t.dropped += p.dropped;
      t.if_dropped += p.if_dropped;
    }
    return t;
  }
  std::vector<std::pair<std::string, PcapStats>> device_stats() const override {
    std::vector<std::pair<std::string, PcapStats>> out;
    for (std::size_t i = 0; i < srcs_.size(); ++i) out.emplace_back(names_[i], srcs_[i]->stats());
    return out;
  }
  bool live() const override { return true; }
  uint16_t link_type() const override { return srcs_.front()->link_type(); }
  void break_loop() override {
    for (auto& s : srcs_) s->break_loop();
  }
  uint32_t snaplen() const override {
    uint32_t m = 0;
    for (const auto& s : srcs_) m = std::max(m, s->snaplen());
    return m;
  }

 private:
  static constexpr unsigned kTurn = 64;
  std::vector<std::unique_ptr<PcapSource>> srcs_;
  std::vector<std::string> names_;
  std::size_t cur_ = 0;
  unsigned turn_ = 0;
  std::string error_;
};

}  // namespace

std::unique_ptr<PcapSource> PcapSource::open_many(const std::vector<PcapOptions>& each) {
  if (each.size() == 1) return open(each.front());
  std::vector<std::unique_ptr<PcapSource>> srcs;
  std::vector<std::string> names;
  for (const PcapOptions& o : each) {
    srcs.push_back(open(o));
    names.push_back(o.device);
  }
  return std::make_unique<MultiSource>(std::move(srcs), std::move(names));
}

std::unique_ptr<PcapSource> PcapSource::open(const PcapOptions& o) {
  char err[PCAP_ERRBUF_SIZE] = {};
  if (!o.file.empty()) {
    auto src = std::make_unique<FileSource>(o.file, o.bpf_filter);
    src->check_filter();
    return src;
  }
  const std::string dev = resolve_device(o.device);
  pcap_t* p = pcap_create(dev.c_str(), err);
  if (!p) throw std::runtime_error("cannot open device " + dev + ": " + err);
  const uint32_t snaplen = o.snaplen_fits_mtu ? snaplen_fitting_mtu(dev, o.snaplen) : o.snaplen;
  pcap_set_snaplen(p, static_cast<int>(snaplen));
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
  if (o.ignore_outgoing && pcap_setdirection(p, PCAP_D_IN) != 0) {
    const std::string why = pcap_geterr(p);
    pcap_close(p);
    throw std::runtime_error("cannot ignore outgoing packets on " + dev + ": " + why);
  }
  return std::make_unique<PcapHandle>(p, true, nano);
}

uint32_t snaplen_fitting_mtu(const std::string& device, uint32_t snaplen) {
  // Link header (Ethernet 14, Linux cooked v2 20) and two VLAN tags.
  return std::clamp(device_mtu(device) + 32, snaplen, uint32_t{262144});
}

uint32_t device_mtu(const std::string& device) {
  namespace fs = std::filesystem;
  const fs::path net = "/sys/class/net";
  const std::string dev = resolve_device(device);
  if (dev != "any") return read_mtu(net / dev);
  uint32_t mtu = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(net, ec)) mtu = std::max(mtu, read_mtu(e.path()));
  return mtu;
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
