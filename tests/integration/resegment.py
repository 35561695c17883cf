"""Rewrites a capture with every TCP payload cut into smaller segments: the same
bytes, in the same order, with the same timestamps, sequence numbers advanced
through each cut. A decoder that reads messages across segment boundaries must
publish the same events from both files.

Usage: resegment.py IN OUT [SEED]   (cut sizes drawn from a seeded generator:
mostly 1-16 bytes, some up to half the payload, so headers, length prefixes and
bodies all get split)."""
import random
import sys

import scapy.layers.l2  # noqa: F401 (registers the link types: Ethernet, Linux SLL, BSD loopback)
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw
from scapy.utils import PcapReader, PcapWriter


def cut_sizes(rng, n):
    sizes = []
    while n > 0:
        k = rng.randint(1, 16) if rng.random() < 0.7 else rng.randint(1, max(1, n // 2))
        k = min(k, n)
        sizes.append(k)
        n -= k
    return sizes


def resegment(src, dst, seed=1, sizes_of=None, nano=True):
    """sizes_of(n): the cut sizes of an n-byte payload (default: drawn as above)."""
    rng = random.Random(seed)
    sizes_of = sizes_of or (lambda n: cut_sizes(rng, n))
    packets = cut = 0
    reader = PcapReader(src)
    writer = PcapWriter(dst, linktype=getattr(reader, "linktype", None), nano=nano, sync=False)  # pcapng: from the packets
    for p in reader:
        packets += 1
        tcp = p.getlayer(TCP)
        ip = p.getlayer(IP) or p.getlayer(IPv6)
        payload = b""
        # Fragments, cut-short packets and IPv6 extension headers are left as they are.
        if tcp is not None and getattr(p, "wirelen", None) in (None, len(bytes(p))):
            if isinstance(ip, IP) and ip.frag == 0 and not ip.flags.MF:
                payload = bytes(tcp.payload)[:ip.len - 4 * ip.ihl - 4 * tcp.dataofs]
            elif isinstance(ip, IPv6) and ip.nh == 6:
                payload = bytes(tcp.payload)[:ip.plen - 4 * tcp.dataofs]
        if len(payload) < 2:
            writer.write(p)
            continue
        off = 0
        sizes = sizes_of(len(payload))
        for i, k in enumerate(sizes):
            q = p.copy()
            qt = q.getlayer(TCP)
            qt.remove_payload()
            qt.add_payload(Raw(payload[off:off + k]))
            qt.seq = (tcp.seq + off) & 0xFFFFFFFF
            if i != len(sizes) - 1:
                qt.flags = qt.flags & ~0x09  # FIN and PSH on the last piece only
            del qt.chksum
            qi = q.getlayer(IP) or q.getlayer(IPv6)
            if isinstance(qi, IP):
                del qi.len
                del qi.chksum
            else:
                del qi.plen
            q = q.__class__(bytes(q))
            q.time = p.time
            writer.write(q)
            off += k
        cut += len(sizes) - 1
    writer.close()
    return packets, cut


if __name__ == "__main__":
    n, c = resegment(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    print(f"{n} packets read, {c} segments added")
