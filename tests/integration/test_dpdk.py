"""The DPDK path, run here without hugepages or NICs: net_pcap replaying captures
(one queue, software distribution over two workers, and two queues owned by two
workers), net_af_packet on a veth pair whose far end lives in a network namespace
this test creates, and a net_ring port. The DPDK path must find the same flows, with
the same packet and byte counts, as the libpcap path on the same capture; packet times
differ (DPDK stamps packets when it receives them)."""
import collections
import json
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest

from conftest import BIN, ROOT, events_of, final_stats, pcap, run_tapbeat, wait_for_line

pytestmark = pytest.mark.skipif("DPDK" not in run_tapbeat(["version"]).stdout,
                                reason="this build has no DPDK backend (libdpdk not found at build time)")


def dpdk_config(tmp_path, ports, lcores="0@0,1@1", extra=""):
    prefix = "tbt" + uuid.uuid4().hex[:8]
    port_lines = "\n".join(f"    - {p}" for p in ports)
    text = f"""packetbeat.interfaces.type: dpdk
packetbeat.flows: {{timeout: 1h, period: -1}}
tapbeat.dpdk:
  lcores: "{lcores}"
  no_huge: true
  no_pci: true
  memory_mb: 512
  mempool_size: 8192
  file_prefix: {prefix}
  exit_on_idle: 700ms
  idle: backoff
  ports:
{port_lines}
{extra}
output.console: {{}}
tapbeat.stats_period: 1h
"""
    path = tmp_path / "dpdk.yml"
    path.write_text(text)
    return str(path)


def flow_identity(events):
    """Flows as a multiset of what identifies them and what they counted; times left out."""
    out = collections.Counter()
    for e in events:
        if e.get("type") != "flow":
            continue
        s, d = e["source"], e["destination"]
        out[json.dumps([e["network"].get("community_id"), e["network"].get("transport"), e["flow"].get("vlan"),
                        [s.get("ip"), s.get("port"), s.get("mac"), s.get("packets"), s.get("bytes")],
                        [d.get("ip"), d.get("port"), d.get("mac"), d.get("packets"), d.get("bytes")],
                        e["flow"]["final"]])] += 1
    return out


def run_dpdk(cfg, timeout=60):
    proc = subprocess.run([BIN, "-c", cfg], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(l) for l in proc.stdout.splitlines()], proc


def pcap_path_flows(*captures):
    total = collections.Counter()
    for c in captures:
        events, _ = events_of(c, ["tapbeat.flows.timeout=1h"])
        total += flow_identity(events)
    return total


# Captures cut by a snap length are left out: the pcap PMD gives mbufs the captured
# length only, so the wire length (and with it byte counts and the IP length check)
# cannot match. 1kxun.pcap has frames over 2 KB: they arrive in chained mbufs.
CAPTURES = ["beats/mysql_long.pcap", "ndpi/mixed/1kxun.pcap", "beats/802.1q-q-in-q-icmp.pcap",
            "tcpdump/flows/gso-ipv4-vxlan-ipv4.pcap", "chrissanders/flows/ipv6_fragments.pcapng"]


@pytest.mark.parametrize("rel", CAPTURES)
def test_net_pcap_replay_finds_the_same_flows_as_libpcap(tmp_path, rel):
    cfg = dpdk_config(tmp_path, [f"net_pcap0,rx_pcap={pcap(rel)}"])
    events, proc = run_dpdk(cfg)
    assert flow_identity(events) == pcap_path_flows(pcap(rel))
    s = final_stats(proc.stderr)
    assert s["dpdk.port0.ipackets"] == s["packets.received"]


def test_software_distribution_over_two_workers(tmp_path):
    rel = "ndpi/mixed/1kxun.pcap"
    cfg = dpdk_config(tmp_path, [f"net_pcap0,rx_pcap={pcap(rel)}"], lcores="0@0,1@1,2@1")
    events, proc = run_dpdk(cfg)
    assert "software distribution" in proc.stderr
    assert flow_identity(events) == pcap_path_flows(pcap(rel))
    s = final_stats(proc.stderr)
    assert s["workers"] == 2 and s["dpdk.distributor.packets"] == s["packets.received"]
    assert s["dpdk.distributor.dropped"] == 0


def test_two_queues_two_workers(tmp_path):
    a, b = pcap("beats/mysql_long.pcap"), pcap("ndpi/mixed/teams.pcap")
    port = f"{{device: 'net_pcap0,rx_pcap={a},rx_pcap={b}', rx_queues: 2}}"
    cfg = dpdk_config(tmp_path, [port], lcores="0@0,1@1,2@1")
    events, proc = run_dpdk(cfg)
    s = final_stats(proc.stderr)
    assert s["dpdk.port0.q0.ipackets"] > 0 and s["dpdk.port0.q1.ipackets"] > 0
    assert s["dpdk.distributor.packets"] == 0
    assert flow_identity(events) == pcap_path_flows(a, b)


def test_net_ring_port_starts_and_stops_cleanly(tmp_path):
    cfg = dpdk_config(tmp_path, ["net_ring0"])
    p = subprocess.Popen([BIN, "-c", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "net_ring0 (net_ring)" in err
    assert final_stats(err)["dpdk.port0.ipackets"] == 0


def test_af_packet_on_veth_sees_live_traffic(tmp_path, veth):
    ns, outer = veth.ns, veth.outer
    cfg = dpdk_config(tmp_path, [f"net_af_packet0,iface={outer}"])
    p = subprocess.Popen([BIN, "-c", cfg, "-E", "tapbeat.dpdk.exit_on_idle=0s"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(p, "started: DPDK capture", timeout=30)
        sender = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                  "for _ in range(9): s.sendto(b'z' * 300, ('10.199.0.1', 45123))\n")
        subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", sender], check=True, timeout=20)
        time.sleep(1)
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    flows = [json.loads(l) for l in out.splitlines()]
    udp = [f for f in flows if f["destination"].get("port") == 45123]
    assert len(udp) == 1, out
    assert udp[0]["source"]["ip"] == "10.199.0.2"
    assert udp[0]["source"]["packets"] == 9
    assert udp[0]["source"]["bytes"] == 9 * (14 + 20 + 8 + 300)


def test_unknown_port_names_the_fix(tmp_path):
    cfg = dpdk_config(tmp_path, ["0000:99:00.0"])
    cfg_text = open(cfg).read().replace("no_pci: true", "no_pci: false")
    open(cfg, "w").write(cfg_text)
    proc = subprocess.run([BIN, "-c", cfg], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "no DPDK port named '0000:99:00.0'" in proc.stderr and "scripts/bind-nic" in proc.stderr


def test_one_lcore_is_not_enough(tmp_path):
    cfg = dpdk_config(tmp_path, [f"net_pcap0,rx_pcap={pcap('beats/mysql_long.pcap')}"], lcores="0")
    proc = subprocess.run([BIN, "-c", cfg], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "tapbeat.dpdk.lcores: needs at least two lcores" in proc.stderr


def test_software_distribution_gives_an_amsdu_to_each_worker_owning_one_of_its_packets(tmp_path):
    # Aruba GRE carrying 802.11 A-MSDUs whose packets belong to several flows: each worker
    # that owns one gets the frame (one mbuf reference each) and reads its own, so the
    # flows are those of the pcap path, and the frame is counted once. The last frame is
    # 3 KB, in chained mbufs: its last packet's owner is found past the first segment.
    cap = os.path.join(ROOT, "tests", "golden", "encap", "amsdu", "amsdu.pcap")
    cfg = dpdk_config(tmp_path, [f"net_pcap0,rx_pcap={cap}"], lcores="0@0,1@1,2@1,3@1,4@1")
    events, proc = run_dpdk(cfg)
    assert flow_identity(events) == pcap_path_flows(cap)
    s = final_stats(proc.stderr)
    assert s["workers"] == 4 and s["dpdk.distributor.packets"] == s["packets.received"] == 8
    assert s["decode.wlan.amsdu"] == 3 and s["dpdk.distributor.dropped"] == 0
