"""Payload detection against the ports, over every capture of ../shared/pcaps.

Each capture is read twice: with the golden configuration (every protocol on its
port) and with every TCP protocol that payload detection can find moved to a port the
captures do not use. Per capture, the transactions of those protocols (by type and
status) must be the same both ways: detection finds the protocol from the connection's
first bytes (a client's request, a mid-stream QUERY or OP_QUERY, a Thrift call, an SSL
2.0-format ClientHello, a server's hello when the capture missed the client's) and the decoder
gets every byte it would have got on its port. Where the two differ on purpose, the
capture and the reason are listed below.
"""
import collections
import concurrent.futures
import json
import os
import re
import subprocess

from conftest import BIN, GOLDEN_CONFIG, SHARED

# Protocol -> a port no capture here uses.
MOVED = {"http": 61001, "redis": 61002, "memcache": 61003, "mysql": 61004, "pgsql": 61005,
         "mongodb": 61006, "amqp": 61007, "cassandra": 61008, "tls": 61009, "thrift": 61010}

UDP_MEMCACHE = "memcache over UDP: payload detection reads TCP connections; UDP goes by port"
# capture (relative to ../shared/pcaps) -> why its transactions differ on purpose
KNOWN = {
    "beats/memcache/memcache_bin_udp_counter_ops.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_bin_udp_delete.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_bin_udp_multi_store.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_bin_udp_single_store.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_text_udp_counter_ops.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_text_udp_delete.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_text_udp_multi_store.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_text_udp_single_store.pcap": UDP_MEMCACHE,
}


def detect_config(tmp_path):
    text = open(GOLDEN_CONFIG).read()
    out, current = [], None
    for line in text.splitlines():
        m = re.match(r"\s*- type: (\w+)", line)
        if m:
            current = m.group(1)
        if current in MOVED and line.strip().startswith("ports:"):
            line = re.sub(r"ports: .*", f"ports: [{MOVED[current]}]", line)
        out.append(line)
    path = tmp_path / "detect.yml"
    path.write_text("\n".join(out) + "\n")
    return str(path)


def transactions(config, capture):
    p = subprocess.run([BIN, "-c", config, "-I", capture, "-t", "--strict.perms=false"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (capture, p.stderr[-2000:])
    counts = collections.Counter()
    for line in p.stdout.splitlines():
        e = json.loads(line)
        if e.get("type") in MOVED:
            counts[f"{e['type']}:{e.get('status')}"] += 1
    return counts


def test_payload_detection_gives_the_transactions_of_the_ports(tmp_path):
    root = os.path.join(SHARED, "pcaps")
    captures = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
                      if f.endswith((".pcap", ".pcapng", ".cap")))
    detect = detect_config(tmp_path)

    def both(capture):
        return capture, transactions(GOLDEN_CONFIG, capture), transactions(detect, capture)

    differ, total = {}, collections.Counter()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for capture, by_port, by_payload in pool.map(both, captures):
            total.update(by_port)
            if by_port != by_payload:
                differ[os.path.relpath(capture, root)] = (dict(by_port), dict(by_payload))
    assert sum(total.values()) > 3000, total  # the corpus's TCP transactions of those protocols
    unexpected = {c: d for c, d in differ.items() if c not in KNOWN}
    assert not unexpected, unexpected
    assert set(differ) == set(KNOWN), set(KNOWN) - set(differ)  # a listed reason that no longer holds
