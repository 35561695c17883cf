#!/usr/bin/env python3
"""Writes gre_more.pcap: GRE as access points and overlays send it besides RFC 2784's
own payloads: an Aruba access point's client frames (GRE protocol 0x8210, an 802.11
QoS data frame to the DS with LLC/SNAP, a DNS query and, from the DS, its answer) and
GRE-in-UDP (RFC 8086, UDP port 4754: IPv4/TCP, and an Ethernet frame with IPv6/UDP),
plus a datagram to port 4754 that is no GRE and stays UDP; and VXLAN on the Linux
kernel's default port 8472 (flannel's: a TCP handshake between two pods), plus a
datagram to 8472 whose header is not VXLAN's, which stays UDP.
Deterministic: run it again and the file is byte-identical.    ./gen.py"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pcapfile  # noqa: E402
from pcapfile import dns_a, eth, ip4, ip6, mac, tcp, udp  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gre_more.pcap")
T0 = 1_700_000_000


frames = []

# Aruba: AP 198.51.100.10 <-> controller 198.51.100.1, GRE protocol 0x8210. The client
# (MAC :71) sends to the DS through the AP (BSSID :70); the answer comes from the DS.
bssid, client, router = mac(0x70), mac(0x71), mac(0x72)
llc = bytes([0xAA, 0xAA, 0x03, 0, 0, 0]) + struct.pack("!H", 0x0800)
to_ds = bytes([0x88, 0x01, 0, 0]) + bssid + client + router + b"\x10\x00" + b"\x00\x00"
from_ds = bytes([0x88, 0x02, 0, 0]) + client + bssid + router + b"\x20\x00" + b"\x00\x00"
query = ip4("10.12.0.5", "10.12.0.53", 17, udp(41000, 53, dns_a(0x5151, "aruba.example")))
reply = ip4("10.12.0.53", "10.12.0.5", 17, udp(53, 41000, dns_a(0x5151, "aruba.example", "192.0.2.80", 60)))
for wlan, ap_first in ((to_ds + llc + query, True), (from_ds + llc + reply, False)):
    gre = struct.pack("!HH", 0, 0x8210) + wlan
    outer = ip4("198.51.100.10", "198.51.100.1", 47, gre) if ap_first else ip4("198.51.100.1", "198.51.100.10", 47, gre)
    frames.append(eth(0x0800, 1, 2) + outer if ap_first else eth(0x0800, 2, 1) + outer)

# GRE-in-UDP: IPv4/TCP handshake (with a key), then an Ethernet frame (TEB) with IPv6/UDP.
for sp, dp, seq, ack, flags, fwd in ((50001, 443, 7, 0, 0x02, True), (443, 50001, 70, 8, 0x12, False),
                                     (50001, 443, 8, 71, 0x10, True)):
    inner = ip4("10.13.0.1", "10.13.0.2", 6, tcp(sp, dp, seq, ack, flags)) if fwd else \
        ip4("10.13.0.2", "10.13.0.1", 6, tcp(sp, dp, seq, ack, flags))
    gre = struct.pack("!HHI", 0x2000, 0x0800, 4242) + inner
    outer = ip4("203.0.113.1", "203.0.113.2", 17, udp(33000, 4754, gre)) if fwd else \
        ip4("203.0.113.2", "203.0.113.1", 17, udp(33001, 4754, gre))
    frames.append((eth(0x0800, 3, 4) if fwd else eth(0x0800, 4, 3)) + outer)
teb = eth(0x86DD, 0x81, 0x82) + ip6("2001:db8:13::1", "2001:db8:13::2", 17, udp(5000, 5001, b"t" * 24))
frames.append(eth(0x0800, 3, 4) + ip4("203.0.113.1", "203.0.113.2", 17, udp(33002, 4754, struct.pack("!HH", 0, 0x6558) + teb)))
# Not GRE (a version other than 0): a UDP datagram to port 4754.
frames.append(eth(0x0800, 3, 4) + ip4("203.0.113.1", "203.0.113.2", 17, udp(33003, 4754, b"\x00\x07\x08\x00junk")))

# VXLAN on 8472 (VNI 1), node 192.168.50.1 <-> 192.168.50.2, pods 10.244.0.5 <-> 10.244.1.7.
for sp, dp, seq, ack, flags, fwd in ((38000, 8080, 1, 0, 0x02, True), (8080, 38000, 9, 2, 0x12, False)):
    pod = ip4("10.244.0.5", "10.244.1.7", 6, tcp(sp, dp, seq, ack, flags)) if fwd else \
        ip4("10.244.1.7", "10.244.0.5", 6, tcp(sp, dp, seq, ack, flags))
    inner = (eth(0x0800, 0x91, 0x92) if fwd else eth(0x0800, 0x92, 0x91)) + pod
    vxlan = struct.pack("!II", 0x08000000, 1 << 8) + inner
    outer = ip4("192.168.50.1", "192.168.50.2", 17, udp(51000, 8472, vxlan)) if fwd else \
        ip4("192.168.50.2", "192.168.50.1", 17, udp(51001, 8472, vxlan))
    frames.append((eth(0x0800, 5, 6) if fwd else eth(0x0800, 6, 5)) + outer)
frames.append(eth(0x0800, 5, 6) + ip4("192.168.50.1", "192.168.50.2", 17, udp(51002, 8472, b"\x08\x01" + bytes(40))))

pcapfile.write(OUT, frames, T0)
