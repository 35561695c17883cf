"""Several interfaces in one process: packetbeat.interfaces as a list of live devices,
each the outer end of a veth pair whose inner end lives in a network namespace that
sends UDP and DNS over it; one tapbeat reads both and reports each one's traffic,
with each device's kernel counters in the stats."""
import shutil
import subprocess
import time

import pytest

from conftest import BIN, Veth, capture_while


@pytest.fixture
def two_veths():
    made = []
    try:
        for net in ("10.196.0", "10.197.0"):
            made.append(Veth(net))
        yield [(v.ns, v.outer, v.net) for v in made]
    finally:
        for v in made:
            v.close()


def send(ns, dst, port, count, size):
    code = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for _ in range({count}): s.sendto(b'z' * {size}, ('{dst}', {port}))\n")
    subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", code], check=True, timeout=20)


def test_two_devices_in_one_process(tmp_path, two_veths):
    (ns_a, dev_a, net_a), (ns_b, dev_b, net_b) = two_veths
    cfg = tmp_path / "t.yml"
    cfg.write_text("packetbeat.interfaces:\n"
                   f"  - device: {dev_a}\n"
                   f"  - device: {dev_b}\n    snaplen: 1500\n    bpf_filter: udp\n"
                   "packetbeat.flows: {timeout: 30s, period: -1s}\n"
                   "tapbeat.workers: 2\ntapbeat.progress: false\noutput.console: {}\n")
    def traffic():
        send(ns_a, f"{net_a}.1", 45001, 7, 200)
        send(ns_b, f"{net_b}.1", 45002, 11, 300)

    line, flows, stats, _ = capture_while([BIN, "-c", str(cfg)], traffic)
    assert f"capturing on {dev_a}, {dev_b}" in line
    a = [f for f in flows if f.get("destination", {}).get("port") == 45001]
    b = [f for f in flows if f.get("destination", {}).get("port") == 45002]
    assert len(a) == 1 and a[0]["source"]["ip"] == f"{net_a}.2" and a[0]["source"]["packets"] == 7
    assert len(b) == 1 and b[0]["source"]["ip"] == f"{net_b}.2" and b[0]["source"]["packets"] == 11
    assert b[0]["source"]["bytes"] == 11 * (14 + 20 + 8 + 300)
    assert stats[f"capture.devices.{dev_a}.received"] >= 7
    assert stats[f"capture.devices.{dev_b}.received"] >= 11
    assert stats["capture.pcap.received"] == stats[f"capture.devices.{dev_a}.received"] + \
        stats[f"capture.devices.{dev_b}.received"]


@pytest.mark.parametrize("second,key,why", [
    ("{device: any}", "tapbeat.interfaces[1].device", "`any` already captures every device"),
    ("{device: lo}", "tapbeat.interfaces[1].device", "'lo' is listed twice"),
    ("{device: eth9, file: x.pcap}", "tapbeat.interfaces[1].file", "a capture file is read alone"),
])
def test_bad_interface_lists_name_the_entry(tmp_path, second, key, why):
    cfg = tmp_path / "bad.yml"
    cfg.write_text(f"packetbeat.interfaces: [{{device: lo}}, {second}]\noutput.console: {{}}\n")
    proc = subprocess.run([BIN, "test", "config", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and key in proc.stderr and why in proc.stderr, proc.stderr


def test_nflog_device_reads_the_packets_netfilter_logs(tmp_path, veth):
    """`device: nflog:N`: libpcap's netfilter log reader, fed by an iptables NFLOG rule
    in the namespace; its link type (NFLOG) carries each logged packet as an attribute.
    Read non-blocking, an empty socket is no error."""
    if not shutil.which("iptables"):
        pytest.fail("iptables is not installed (scripts/setup installs it)")
    rule = ["OUTPUT", "-o", veth.inner, "-p", "udp", "--dport", "45003", "-j", "NFLOG", "--nflog-group", "7"]
    added = subprocess.run(veth.in_ns("iptables", "-A", *rule), capture_output=True, text=True, timeout=30)
    if added.returncode != 0:  # a kernel without netfilter's NFLOG target
        pytest.skip(f"iptables could not add an NFLOG rule: {added.stderr.strip()}")
    cfg = tmp_path / "t.yml"
    cfg.write_text("packetbeat.interfaces.device: nflog:7\n"
                   "packetbeat.flows: {timeout: 30s, period: -1s}\n"
                   "tapbeat.progress: false\noutput.console: {}\n")
    def traffic():
        time.sleep(1.5)  # idle first: the reader waits, it does not fail
        send(veth.ns, f"{veth.net}.1", 45003, 9, 120)
        send(veth.ns, f"{veth.net}.1", 45004, 4, 120)  # not logged

    _, flows, stats, _ = capture_while(veth.in_ns(BIN, "-c", str(cfg)), traffic)
    assert [(f["source"]["ip"], f["destination"]["port"], f["source"]["packets"]) for f in flows] == \
        [(f"{veth.net}.2", 45003, 9)], flows
    assert stats["capture.read"] == 9 and stats["decode.link.unsupported"] == 0 and \
        stats["decode.link.truncated"] == 0, stats
