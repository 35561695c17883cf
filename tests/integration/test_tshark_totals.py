"""Per-flow packet and byte totals agree with tshark's dissection of the same file.

tshark is the oracle: for a sample of ../shared/pcaps it lists every TCP and UDP frame
(addresses, ports, frame length); per conversation and direction the frames and bytes
must equal what tapbeat's flow events report. tapbeat's flows are also keyed by MAC
and VLAN, so they are summed per 5-tuple before comparing. Files with IP fragments or
tunnels are left out of the sample: there tshark and tapbeat attribute frames to
different layers by design."""
import collections
import os

import pytest

from conftest import events_of, index_rows, pcap, tshark_output

SAMPLE_EVERY = 12        # every 12th eligible capture of the index
MAX_PACKETS = 20000


def sample():
    rows = []
    for r in index_rows():
        try:
            n = int(r["packets"] or 0)
        except ValueError:
            continue
        if r["link_type"] in ("ether", "null", "linux-sll", "rawip", "rawip4", "rawip6") and 0 < n <= MAX_PACKETS:
            rows.append(r["path"])
    rows.sort()
    return rows[::SAMPLE_EVERY]


def tshark_conversations(rel):
    fields = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport",
              "udp.dstport", "frame.len", "ip.flags.mf", "ip.frag_offset", "ipv6.fraghdr.nxt",
              "frame.protocols"]
    args = ["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
            "-T", "fields", "-E", "separator=|", "-E", "occurrence=a"]
    for f in fields:
        args += ["-e", f]
    out = tshark_output("conversations", rel, args, timeout=120)
    conv = collections.defaultdict(lambda: [0, 0, 0, 0])  # a->b packets, bytes, b->a packets, bytes
    for line in out.splitlines():
        v = line.split("|")
        protos = v[12].split(":")
        if any(p in protos for p in ("gre", "vxlan", "geneve", "erspan", "mpls", "pppoe", "icmp", "icmpv6", "ipx", "teredo", "gtp")):
            return None
        if (v[9] and v[9] != "0") or (v[10] and v[10] != "0") or v[11]:
            return None  # fragments
        if protos.count("ip") + protos.count("ipv6") != 1 or ("tcp" not in protos and "udp" not in protos):
            continue
        src, dst = (v[0], v[1]) if v[0] else (v[2], v[3])
        sport, dport = (v[4], v[5]) if v[4] else (v[6], v[7])
        if not sport:
            return None  # tshark saw the transport but could not read its ports
        if "," in src + dst + sport + dport:
            continue
        proto = "tcp" if v[4] else "udp"
        if proto == "udp" and {sport, dport} & {"4789", "6081"}:
            return None  # VXLAN or Geneve that tshark did not open
        a, b = (src, int(sport)), (dst, int(dport))
        key = (proto,) + tuple(sorted([a, b]))
        c = conv[key]
        first = a == key[1]
        c[0 if first else 2] += 1
        c[1 if first else 3] += int(v[8])
    return conv


def tapbeat_conversations(path):
    events, _ = events_of(path, ["tapbeat.flows.timeout=1h"])
    conv = collections.defaultdict(lambda: [0, 0, 0, 0])
    for e in events:
        t = e["network"].get("transport")
        if t not in ("tcp", "udp") or e.get("type") != "flow":
            continue
        s, d = e["source"], e["destination"]
        a, b = (s["ip"], s["port"]), (d["ip"], d["port"])
        key = (t,) + tuple(sorted([a, b]))
        first = a == key[1]
        c = conv[key]
        for side, ep in ((0 if first else 2, s), (2 if first else 0, d)):
            c[side] += ep.get("packets", 0)
            c[side + 1] += ep.get("bytes", 0)
    return conv


SAMPLE = sample()


def test_sample_is_large_enough():
    assert len(SAMPLE) >= 40


@pytest.mark.parametrize("rel", SAMPLE)
def test_totals_match_tshark(rel):
    path = pcap(rel)
    want = tshark_conversations(rel)
    if want is None:
        pytest.skip("fragments or tunnels: not comparable conversation by conversation")
    got = tapbeat_conversations(path)
    for key, w in want.items():
        assert got.get(key) == w, f"{key}: tapbeat {got.get(key)} vs tshark {w} (a->b pkts, bytes, b->a pkts, bytes)"
    assert len(got) == len(want), f"tapbeat has conversations tshark lacks: {set(got) - set(want)}"
