"""interfaces.type: af_packet — TPACKET_V3 rings read in place by the workers, the
sockets of several workers (or of several processes, with fanout_group) joined in one
PACKET_FANOUT group. Live traffic on a veth pair whose inner end lives in a network
namespace, and on lo; each test checks exact packet counts, so a packet seen twice
(fanout not joined, loopback's outgoing copies) or split from its flow (an asymmetric
hash) fails it."""
import json
import signal
import subprocess
import time

import pytest

from conftest import BIN, capture_while, free_port, send_udp, start_tapbeat, wait_for_line


def ns_send_udp(veth, dst, flows, first_port, size=120, vlan_dev=None):
    """From inside the namespace: flow k (port first_port + k) gets k + 1 datagrams."""
    code = ("import socket\n"
            f"for k in range({flows}):\n"
            "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"    for _ in range(k + 1): s.sendto(b'q' * {size}, ('{dst}', {first_port} + k))\n"
            "    s.close()\n")
    subprocess.run(veth.in_ns("python3", "-c", code), check=True, timeout=30)


def run_capture(cfg_text, tmp_path, body, name="afp.yml", extra_args=()):
    cfg = tmp_path / name
    cfg.write_text(cfg_text)
    return capture_while([BIN, "-c", str(cfg), *extra_args], body)


def udp_flows(events, first_port, count):
    return {e["destination"]["port"]: e for e in events
            if e.get("network", {}).get("transport") == "udp" and e.get("event", {}).get("dataset") == "flow"
            and first_port <= e.get("destination", {}).get("port", 0) < first_port + count}


def config(device, workers, extra=""):
    return (f"packetbeat.interfaces: {{device: {device}, type: af_packet{extra}}}\n"
            "packetbeat.flows: {timeout: 30s, period: -1s}\n"
            "packetbeat.protocols:\n- {type: http, ports: [18081]}\n"
            f"tapbeat.workers: {workers}\ntapbeat.progress: false\noutput.console: {{}}\n")


def test_two_workers_share_a_veth_by_flow(tmp_path, veth):
    # An HTTP server in the namespace; requests from this side, so the outer end sees
    # both directions of each connection.
    server = subprocess.Popen(veth.in_ns("python3", "-m", "http.server", "18081", "--bind", f"{veth.net}.2"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://{veth.net}.2:18081/"]).returncode == 0:
                break
            time.sleep(0.1)

        def traffic():
            ns_send_udp(veth, f"{veth.net}.1", 24, 46000)
            for k in range(12):
                subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://{veth.net}.2:18081/?k={k}"], check=True)

        started, events, stats, _ = run_capture(config(veth.outer, 2), tmp_path, traffic)
    finally:
        server.kill()
        server.wait()
    assert f"capturing on {veth.outer} (fanout group" in started and "af_packet (TPACKET_V3" in started
    flows = [e for e in events if e.get("event", {}).get("dataset") == "flow"
             and 46000 <= e.get("destination", {}).get("port", 0) < 46024]
    # Each flow once (no socket saw another's packets), every packet counted.
    assert sorted(f["destination"]["port"] for f in flows) == list(range(46000, 46024))
    for f in flows:
        assert f["source"]["packets"] == f["destination"]["port"] - 46000 + 1
        assert f["source"]["bytes"] == f["source"]["packets"] * (14 + 20 + 8 + 120)
    # Both directions of every connection reached one worker: each request is paired.
    http = [e for e in events if e.get("type") == "http"]
    assert sorted(e["url"]["query"] for e in http if "query" in e.get("url", {})) == sorted(
        f"k={k}" for k in range(12))
    assert all(e["http"]["response"]["status_code"] == 200 for e in http)
    assert stats["capture.af_packet.dropped"] == 0 and stats["capture.af_packet.queue_freezes"] == 0
    assert stats["capture.af_packet.received"] == stats["packets.received"]
    assert stats["capture.af_packet.outgoing_skipped"] == 0


def test_loopback_packets_are_seen_once(tmp_path):
    port = free_port()
    cfg = config("lo", 1)
    started, events, stats, _ = run_capture(cfg, tmp_path, lambda: send_udp(port, 9, 300))
    assert "capturing on lo with af_packet" in started  # one worker: no fanout group
    (flow,) = [e for e in events if e.get("destination", {}).get("port") == port]
    assert flow["source"]["packets"] == 9 and flow["source"]["bytes"] == 9 * (14 + 20 + 8 + 300)
    # lo shows each packet sent and received: the sent copy is skipped (by the kernel
    # for one socket alone).
    assert stats["capture.af_packet.received"] == stats["packets.received"] + \
        stats["capture.af_packet.outgoing_skipped"]


def test_loopback_in_a_fanout_group_skips_outgoing_copies(tmp_path):
    port = free_port()
    started, events, stats, _ = run_capture(config("lo", 2), tmp_path, lambda: send_udp(port, 9, 300))
    (flow,) = [e for e in events if e.get("destination", {}).get("port") == port]
    assert flow["source"]["packets"] == 9
    assert stats["capture.af_packet.outgoing_skipped"] >= 9
    assert stats["capture.af_packet.received"] == stats["packets.received"] + \
        stats["capture.af_packet.outgoing_skipped"]


def test_filter_snaplen_and_ignore_outgoing(tmp_path, veth):
    def traffic():
        ns_send_udp(veth, f"{veth.net}.1", 3, 46100, size=1000)  # in: kept on 46101 only
        code = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                f"for _ in range(5): s.sendto(b'o' * 1000, ('{veth.net}.2', 46101))\n")
        subprocess.run(["python3", "-c", code], check=True)  # out: ignored

    extra = ", bpf_filter: 'udp port 46101', snaplen: 200, ignore_outgoing: true"
    _, events, stats, _ = run_capture(config(veth.outer, 2, extra), tmp_path, traffic)
    flows = [e for e in events if e.get("event", {}).get("dataset") == "flow"]
    assert [(f["source"]["ip"], f["destination"]["port"], f["source"]["packets"]) for f in flows] == [
        (f"{veth.net}.2", 46101, 2)]
    # Cut at snaplen, counted at the length on the wire.
    assert flows[0]["source"]["bytes"] == 2 * (14 + 20 + 8 + 1000)
    assert stats["packets.snaplen_truncated"] == 2
    assert stats["packets.received"] == 2


def test_vlan_tag_taken_off_by_the_kernel_is_put_back(tmp_path, veth):
    # A tagged frame sent into the veth is untagged on receipt: the packet socket gets
    # the tag beside the frame (as from a NIC's VLAN offload), and the frame goes
    # back to the decoders with its tag.
    code = ("import socket, struct\n"
            "def csum(b):\n"
            "    s = sum(struct.unpack('!10H', b))\n"
            "    s = (s >> 16) + (s & 0xffff)\n"
            "    return ~(s + (s >> 16)) & 0xffff\n"
            "udp = struct.pack('!HHHH', 40000, 46200, 8 + 64, 0) + b'v' * 64\n"
            "ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,\n"
            "                 socket.inet_aton('10.198.100.2'), socket.inet_aton('10.198.100.1'))\n"
            "ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]\n"
            "eth = b'\\xff' * 6 + b'\\x02\\0\\0\\0\\0\\x07' + struct.pack('!HHH', 0x8100, 100, 0x0800)\n"
            "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
            f"s.bind(('{veth.inner}', 0))\n"
            "for _ in range(3): s.send(eth + ip + udp)\n")
    _, events, stats, _ = run_capture(config(veth.outer, 1), tmp_path,
                                      lambda: subprocess.run(veth.in_ns("python3", "-c", code), check=True))
    (flow,) = [e for e in events if e.get("destination", {}).get("port") == 46200]
    assert flow["flow"]["vlan"] == 100
    assert flow["source"]["packets"] == 3 and flow["source"]["bytes"] == 3 * (14 + 4 + 20 + 8 + 64)


def test_processes_sharing_a_fanout_group_split_the_flows(tmp_path, veth):
    cfgs, procs = [], []
    for k in range(2):
        cfg = tmp_path / f"g{k}.yml"
        cfg.write_text(config(veth.outer, 1, ", fanout_group: 4242"))
        cfgs.append(cfg)
    try:
        for cfg in cfgs:
            procs.append(start_tapbeat(["-c", str(cfg)]))
            assert "(fanout group 4242)" in wait_for_line(procs[-1], "started: capturing on")[-1]
        ns_send_udp(veth, f"{veth.net}.1", 40, 46300)
        time.sleep(1)
    finally:
        outs = []
        for p in procs:
            p.send_signal(signal.SIGINT)
            outs.append(p.communicate(timeout=30))
    seen = []
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        events = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        mine = udp_flows(events, 46300, 40)
        assert mine, "the kernel gave this process none of 40 flows"
        for port, f in mine.items():
            assert f["source"]["packets"] == port - 46300 + 1
        seen += list(mine)
    assert sorted(seen) == list(range(46300, 46340))  # each flow in exactly one process


@pytest.mark.parametrize("iface,key,why", [
    ("{device: lo, type: af_packet, fanout_group: 70000}", "tapbeat.interfaces.fanout_group",
     "must be between 0 and 65535"),
    ("{device: lo, type: af_packet, metrics_interval: 0s}", "tapbeat.interfaces.metrics_interval",
     "must be greater than zero"),
    ("[{device: lo, type: af_packet}, {device: eth0, type: pcap}]", "tapbeat.interfaces[1].type",
     "differs from the first interface's 'af_packet'"),
])
def test_bad_settings_name_the_key(tmp_path, iface, key, why):
    cfg = tmp_path / "bad.yml"
    cfg.write_text(f"packetbeat.interfaces: {iface}\noutput.console: {{}}\n")
    p = subprocess.run([BIN, "test", "config", "-c", str(cfg)], capture_output=True, text=True)
    assert p.returncode != 0
    assert key in p.stderr and why in p.stderr, p.stderr


def test_missing_device_and_any(tmp_path):
    cfg = tmp_path / "none.yml"
    cfg.write_text("packetbeat.interfaces: {device: tbnosuch0, type: af_packet}\noutput.console: {}\n")
    p = subprocess.run([BIN, "-c", str(cfg)], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0 and "cannot capture on tbnosuch0 with af_packet: no such device" in p.stderr
    # `any` is captured with libpcap, with a warning saying so.
    port = free_port()
    cfg.write_text("packetbeat.interfaces: {device: any, type: af_packet, fanout_group: 7}\n"
                   "packetbeat.flows: {timeout: 30s, period: -1s}\ntapbeat.progress: false\noutput.console: {}\n")
    p = start_tapbeat(["-c", str(cfg)])
    try:
        lines = wait_for_line(p, "started: capturing on any")
        assert any("`any` is captured with libpcap" in l for l in lines)
        send_udp(port, 3, 10)
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0
    assert any(json.loads(l).get("destination", {}).get("port") == port for l in out.splitlines() if l)


def test_pcap_settings_warn_about_af_packet_only_keys(tmp_path):
    cfg = tmp_path / "w.yml"
    cfg.write_text("packetbeat.interfaces: {device: lo, fanout_group: 3}\noutput.console: {}\n")
    p = subprocess.run([BIN, "test", "config", "-c", str(cfg)], capture_output=True, text=True)
    assert p.returncode == 0
    assert "tapbeat.interfaces.fanout_group" in p.stderr and "applies to type af_packet only" in p.stderr
