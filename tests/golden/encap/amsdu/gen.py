#!/usr/bin/env python3
"""Writes amsdu.pcap: an Aruba access point's client traffic in GRE (protocol 0x8210,
802.11 QoS data frames) where the AP's frames to the client are A-MSDUs (IEEE
802.11-2020 §9.3.2.2.2: several packets in one frame, each a subframe of destination,
source, length, LLC/SNAP and the packet, padded to four bytes but the last), as Zeek's
gre-aruba-amsdu.pcap carries them. The client sends a DNS query over IPv4 and one over
IPv6 and two pipelined HTTP requests; the AP answers the handshake in a one-subframe
A-MSDU, then both HTTP responses and both DNS answers in one four-subframe A-MSDU, and
a third query's answer past 2 KB into a frame after two 1,400-byte datagrams.
Deterministic: run it again and the file is byte-identical.    ./gen.py"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pcapfile  # noqa: E402
from pcapfile import dns_a, eth, ip4, ip6, mac, tcp, udp  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "amsdu.pcap")
T0 = 1_700_000_000

bssid, client, router = mac(0x70), mac(0x71), mac(0x72)


def llc(ethertype):
    return bytes([0xAA, 0xAA, 0x03, 0, 0, 0]) + struct.pack("!H", ethertype)


def to_ds(packet, ethertype=0x0800):
    return bytes([0x88, 0x01, 0, 0]) + bssid + client + router + b"\x10\x00" + b"\x00\x00" + llc(ethertype) + packet


def amsdu(packets):
    """From the DS: QoS control with A-MSDU present (bit 7), then the subframes."""
    body = b""
    for k, (packet, ethertype) in enumerate(packets):
        msdu = llc(ethertype) + packet
        sub = client + router + struct.pack("!H", len(msdu)) + msdu
        if k + 1 < len(packets):
            sub += b"\0" * (-len(sub) % 4)
        body += sub
    return bytes([0x88, 0x02, 0, 0]) + client + bssid + router + b"\x20\x00" + b"\x80\x00" + body


def gre(wlan, from_ap):
    g = struct.pack("!HH", 0, 0x8210) + wlan
    if from_ap:
        return eth(0x0800, 1, 2) + ip4("198.51.100.10", "198.51.100.1", 47, g)
    return eth(0x0800, 2, 1) + ip4("198.51.100.1", "198.51.100.10", 47, g)


C, S, R = "10.12.0.5", "10.12.0.80", "10.12.0.53"
C6, R6 = "2001:db8:12::5", "2001:db8:12::53"
get = b"GET /a HTTP/1.1\r\nHost: amsdu.example\r\n\r\nGET /b HTTP/1.1\r\nHost: amsdu.example\r\n\r\n"
ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
frames = [
    gre(to_ds(ip4(C, R, 17, udp(41000, 53, dns_a(0x5151, "amsdu.example")))), True),
    gre(to_ds(ip6(C6, R6, 17, udp(41001, 53, dns_a(0x5252, "six.amsdu.example"))), 0x86DD), True),
    gre(to_ds(ip4(C, S, 6, tcp(40000, 80, 100, 0, 0x02))), True),
    gre(amsdu([(ip4(S, C, 6, tcp(80, 40000, 500, 101, 0x12)), 0x0800)]), False),
    gre(to_ds(ip4(C, S, 6, tcp(40000, 80, 101, 501, 0x18, get))), True),
    gre(amsdu([(ip4(S, C, 6, tcp(80, 40000, 501, 101 + len(get), 0x18, ok)), 0x0800),
               (ip4(S, C, 6, tcp(80, 40000, 501 + len(ok), 101 + len(get), 0x18, missing)), 0x0800),
               (ip4(R, C, 17, udp(53, 41000, dns_a(0x5151, "amsdu.example", "192.0.2.80", 60))), 0x0800),
               (ip6(R6, C6, 17, udp(53, 41001, dns_a(0x5252, "six.amsdu.example", "192.0.2.81", 60))), 0x86DD)]),
        False),
    # A frame longer than one DPDK mbuf (it arrives chained): a query's answer at its
    # end, past 2 KB, after 1,400-byte datagrams of another flow.
    gre(to_ds(ip4(C, R, 17, udp(41002, 53, dns_a(0x5353, "far.amsdu.example")))), True),
    gre(amsdu([(ip4(S, C, 17, udp(5004, 5004, bytes(1400))), 0x0800),
               (ip4(S, C, 17, udp(5004, 5004, bytes(1400))), 0x0800),
               (ip4(R, C, 17, udp(53, 41002, dns_a(0x5353, "far.amsdu.example", "192.0.2.82", 60))), 0x0800)]),
        False),
]
pcapfile.write(OUT, frames, T0)
