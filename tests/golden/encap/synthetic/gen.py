#!/usr/bin/env python3
"""Writes synthetic.pcap: one conversation per encapsulation tapbeat removes (GRE with a
key, ERSPAN II and III, MPLS, PPPoE, IP-in-IP, IPv6-in-IPv4, QinQ), IPv4 fragments out
of order with an overlap, IPv6 fragments, and two malformed frames. Deterministic:
run it again and the file is byte-identical.    ./gen.py  (writes beside itself)"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pcapfile  # noqa: E402
from pcapfile import eth, ip4, ip6, udp  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "synthetic.pcap")
T0 = 1_700_000_000


def tcp(sp, dp, flags=0x18, data=b""):
    return struct.pack("!HHIIBBHHH", sp, dp, 1, 0, 0x50, flags, 65535, 0, 0) + data


frames = []


def add(frame):
    frames.append(frame)


# GRE (key 77) carrying IPv4/UDP, both directions.
for fwd in (True, False):
    inner = ip4("10.1.0.1", "10.1.0.2", 17, udp(5000, 53, b"q" * 20)) if fwd else \
        ip4("10.1.0.2", "10.1.0.1", 17, udp(53, 5000, b"r" * 40))
    gre = struct.pack("!HHI", 0x2000, 0x0800, 77) + inner
    outer = ip4("192.0.2.1", "192.0.2.2", 47, gre) if fwd else ip4("192.0.2.2", "192.0.2.1", 47, gre)
    add((eth(0x0800) if fwd else eth(0x0800, 2, 1)) + outer)
# ERSPAN II (session 5) carrying Ethernet/IPv4/TCP.
inner = eth(0x0800, 3, 4) + ip4("10.2.0.1", "10.2.0.2", 6, tcp(40000, 80, 0x02))
erspan2 = struct.pack("!HHI", 0x1000, 0x88BE, 1) + struct.pack("!HHI", 0x1000, 5, 0) + inner
add(eth(0x0800) + ip4("192.0.2.1", "192.0.2.3", 47, erspan2))
# ERSPAN III (session 9) with the platform sub-header, carrying Ethernet/VLAN 30/IPv6/UDP.
inner = eth(0x8100, 5, 6) + struct.pack("!HH", 30, 0x86DD) + ip6("2001:db8::1", "2001:db8::2", 17, udp(123, 123, b"n" * 48))
erspan3 = struct.pack("!HHI", 0x1000, 0x22EB, 2) + struct.pack("!HHIHH", 0x2000, 9, 0, 0, 1) + bytes(8) + inner
add(eth(0x0800) + ip4("192.0.2.1", "192.0.2.4", 47, erspan3))
# MPLS, two labels, IPv4/TCP.
add(eth(0x8847) + struct.pack("!II", 0x00010040, 0x00020140) + ip4("10.3.0.1", "10.3.0.2", 6, tcp(1234, 443)))
# PPPoE session carrying IPv6/UDP.
ppp = ip6("2001:db8:1::1", "2001:db8:1::2", 17, udp(546, 547, b"d" * 10))
add(eth(0x8864) + struct.pack("!BBHHH", 0x11, 0, 0x0042, len(ppp) + 2, 0x0057) + ppp)
# IPv4-in-IPv4 and IPv6-in-IPv4.
add(eth(0x0800) + ip4("192.0.2.10", "192.0.2.11", 4, ip4("10.4.0.1", "10.4.0.2", 17, udp(7, 7, b"e"))))
add(eth(0x0800) + ip4("192.0.2.10", "192.0.2.12", 41, ip6("2001:db8:2::1", "2001:db8:2::2", 6, tcp(22, 50000))))
# QinQ (802.1ad 100, 802.1Q 200).
add(eth(0x88A8) + struct.pack("!HHHH", 100, 0x8100, 200, 0x0800) + ip4("10.5.0.1", "10.5.0.2", 6, tcp(8080, 9090)))
# IPv4 datagram in three fragments, sent last-first, the middle one overlapping the first.
payload = udp(6000, 6001, bytes(range(256)) * 4)
add(eth(0x0800) + ip4("10.6.0.1", "10.6.0.2", 17, payload[1000:], 99, 1000 // 8))
add(eth(0x0800) + ip4("10.6.0.1", "10.6.0.2", 17, payload[496:1000], 99, 0x2000 | 496 // 8))
add(eth(0x0800) + ip4("10.6.0.1", "10.6.0.2", 17, payload[:512], 99, 0x2000))
# IPv6 datagram in two fragments.
payload = udp(7000, 7001, b"v" * 600)
for off, more, part in ((0, 1, payload[:304]), (304, 0, payload[304:])):
    fh = struct.pack("!BBHI", 17, 0, off | more, 4242)
    add(eth(0x86DD) + ip6("2001:db8:3::1", "2001:db8:3::2", 44, fh + part))
# Malformed: a TCP header cut short, and an IPv4 header length below 20.
add(eth(0x0800) + ip4("10.7.0.1", "10.7.0.2", 6, b"\x00\x01\x00\x02\x00"))
bad = bytearray(ip4("10.7.0.3", "10.7.0.4", 17, udp(1, 2))); bad[0] = 0x44
add(eth(0x0800) + bytes(bad))

pcapfile.write(OUT, frames, T0)
