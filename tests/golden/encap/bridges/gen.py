#!/usr/bin/env python3
"""Writes bridges.pcap: conversations behind the bridge headers that sit between a
frame's addresses and its packet: 802.1ah PBB (a DNS query and its answer, B-VLAN 100
outside, the customer's VLAN 7 inside), Cisco FabricPath (an HTTP exchange over TCP
with its handshake and close), Cisco VN-Tag and 802.1BR E-TAG (UDP each way).
Deterministic: run it again and the file is byte-identical.    ./gen.py"""
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pcapfile  # noqa: E402
from pcapfile import dns_a, eth, ip4, tcp, udp  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bridges.pcap")
T0 = 1_700_000_000


frames = []

# PBB: B-DA/B-SA, 802.1ad B-VLAN 100, I-TAG (I-SID 0x010203), then the customer's frame.
for fwd in (True, False):
    c_src, c_dst = (0x21, 0x22) if fwd else (0x22, 0x21)
    pkt = ip4("10.8.0.1", "10.8.0.53", 17, udp(40001, 53, dns_a(0x1234, "example.com")), frag=0x4000) if fwd else \
        ip4("10.8.0.53", "10.8.0.1", 17, udp(53, 40001, dns_a(0x1234, "example.com", "93.184.216.34")), frag=0x4000)
    customer = eth(0x8100, c_src, c_dst) + struct.pack("!HH", 7, 0x0800) + pkt
    frames.append(eth(0x88A8, 0x11, 0x12) + struct.pack("!HH", 100, 0x88E7) + struct.pack("!I", 0x00010203) + customer)

# FabricPath: outer switch addresses, 0x8903, FTag/TTL, then the hosts' frame, then the
# frame check sequence the switches' frames keep.
def fabric(src, dst, seg):
    inner = eth(0x0800, 0x41, 0x42) if src == "10.9.0.1" else eth(0x0800, 0x42, 0x41)
    frame = eth(0x8903, 0x31, 0x32) + struct.pack("!H", 0x003F) + inner + ip4(src, dst, 6, seg, frag=0x4000)
    return frame + struct.pack("<I", zlib.crc32(frame))

req = b"GET /bridged HTTP/1.1\r\nHost: fp.example\r\n\r\n"
resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
c, s = "10.9.0.1", "10.9.0.2"
frames += [
    fabric(c, s, tcp(50000, 80, 100, 0, 0x02)),
    fabric(s, c, tcp(80, 50000, 900, 101, 0x12)),
    fabric(c, s, tcp(50000, 80, 101, 901, 0x10)),
    fabric(c, s, tcp(50000, 80, 101, 901, 0x18, req)),
    fabric(s, c, tcp(80, 50000, 901, 101 + len(req), 0x18, resp)),
    fabric(c, s, tcp(50000, 80, 101 + len(req), 901 + len(resp), 0x11)),
    fabric(s, c, tcp(80, 50000, 901 + len(resp), 102 + len(req), 0x11)),
    fabric(c, s, tcp(50000, 80, 102 + len(req), 902 + len(resp), 0x10)),
]

# VN-Tag (direction, pointer, destination and source virtual interfaces), then 0x0800.
for fwd in (True, False):
    pkt = ip4("10.10.0.1", "10.10.0.2", 17, udp(6000, 6001, b"v" * 30)) if fwd else \
        ip4("10.10.0.2", "10.10.0.1", 17, udp(6001, 6000, b"w" * 50))
    frames.append((eth(0x8926, 0x51, 0x52) if fwd else eth(0x8926, 0x52, 0x51)) + struct.pack("!I", 0x80010002 if fwd else 0x00020001) +
                  struct.pack("!H", 0x0800) + pkt)

# E-TAG (802.1BR: 6 bytes), then an 802.1Q tag (VLAN 5), then 0x0800.
pkt = ip4("10.11.0.1", "10.11.0.2", 17, udp(7000, 7001, b"e" * 20))
frames.append(eth(0x893F, 0x61, 0x62) + bytes([0, 0, 0, 1, 0, 0]) + struct.pack("!HHH", 0x8100, 5, 0x0800) + pkt)

pcapfile.write(OUT, frames, T0)
