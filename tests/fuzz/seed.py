#!/usr/bin/env python3
"""Builds seed corpora for the fuzzers from captures: frames (prefixed with the fuzzer's
link-type byte) for fuzz_worker, DNS messages for fuzz_dns, small files for
fuzz_capture_file, connections in fuzz_tcp's records, bodies for fuzz_mime (what follows an
HTTP head in a segment on port 80), and for each decoder fuzz_protocol serves (the list
`TAPBEAT_FUZZ_LIST=1 fuzz_protocol` prints: name, transports, ports) its TCP
payloads as stream records and its UDP payloads as datagram records.
    seed.py OUTDIR PROTOCOL_LIST CAPTURE..."""
import os
import struct
import zlib
import sys

LINK_INDEX = {1: 0, 113: 1, 276: 2, 0: 3, 101: 4, 228: 5, 229: 6, 9: 7, 108: 8, 104: 9, 105: 10, 127: 11, 239: 12, 258: 13,
              149: 14}


def frames(path):
    data = open(path, "rb").read()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        return  # pcapng: the worker corpus takes classic pcaps only
    link = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        off += 16
        yield link, data[off:off + caplen]
        off += caplen


def main():
    out = sys.argv[1]
    protocols = []  # (name, tcp, udp, ports)
    for line in open(sys.argv[2]):
        name, transports, ports = line.split()
        protocols.append((name, "tcp" in transports, "udp" in transports, {int(p) for p in ports.split(",")}))
    for sub in ["worker", "tcp", "dns_message", "file", "spool", "mime"] + [p[0] for p in protocols]:
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    n = 0
    for path in sys.argv[3:]:
        if os.path.getsize(path) < 4096:
            with open(os.path.join(out, "file", f"{n}"), "wb") as f:
                f.write(open(path, "rb").read())
        for link, frame in frames(path):
            if link not in LINK_INDEX or n > 2000:
                continue
            n += 1
            with open(os.path.join(out, "worker", f"{n}"), "wb") as f:
                f.write(bytes([LINK_INDEX[link]]) + frame)
            # A DNS message: the UDP payload of an Ethernet/IPv4/UDP frame on port 53.
            if link == 1 and len(frame) > 42 and frame[12:14] == b"\x08\x00" and frame[23] == 17:
                ihl = (frame[14] & 15) * 4
                udp = 14 + ihl
                if 53 in struct.unpack("!HH", frame[udp:udp + 4]):
                    with open(os.path.join(out, "dns_message", f"{n}"), "wb") as f:
                        f.write(frame[udp + 8:])
            # A record for a decoder's fuzzer: a TCP payload (stream record) or UDP payload
            # (datagram record) on one of its ports. (Ethernet, Linux cooked capture or BSD
            # loopback: the IPv4 header after 14, 16 or 4 bytes.)
            ip = 14 if link == 1 and frame[12:14] == b"\x08\x00" else \
                16 if link == 113 and frame[14:16] == b"\x08\x00" else \
                4 if link == 0 and frame[:4] in (b"\x02\x00\x00\x00", b"\x00\x00\x00\x02") else None
            if ip is None or len(frame) <= ip + 28 or frame[ip + 9] not in (6, 17):
                continue
            is_tcp = frame[ip + 9] == 6
            ihl = (frame[ip] & 15) * 4
            l4 = ip + ihl
            if len(frame) < l4 + (20 if is_tcp else 8):
                continue
            sport, dport = struct.unpack("!HH", frame[l4:l4 + 4])
            payload = frame[l4 + (frame[l4 + 12] >> 4) * 4:] if is_tcp else frame[l4 + 8:]
            if is_tcp and 80 in (sport, dport) and b"\r\n\r\n" in payload:
                body = payload.split(b"\r\n\r\n", 1)[1]
                if body:
                    with open(os.path.join(out, "mime", f"{n}"), "wb") as f:
                        f.write(body)
            for name, tcp, udp, ports in protocols:
                if not payload or not ({sport, dport} & ports) or not (tcp if is_tcp else udp):
                    continue
                direction = 1 if sport in ports else 0
                with open(os.path.join(out, name, f"{n}"), "wb") as f:
                    if is_tcp:
                        f.write(bytes([direction]) + struct.pack("!H", min(len(payload), 65535)) + payload)
                    else:
                        f.write(bytes([0x80 | direction]) + payload)
    # Disk-queue segments (lib/event/spool.hpp's record format) of a few events.
    for k in range(4):
        seg = b""
        for i in range(k + 1):
            value = b'{"@timestamp":"2026-01-01T00:00:00Z","n":%d,"s":"%s"}' % (i, b"x" * (i * 40))
            topic, key = b"tapbeat", b"1:abc=" if i % 2 else b""
            body = struct.pack("<HHq", len(topic), len(key), 1767225600000 + i) + topic + key + value
            seg += struct.pack("<III", 0x31514254, len(body), zlib.crc32(body)) + body
        with open(os.path.join(out, "spool", f"{k}"), "wb") as f:
            f.write(seg)
    # Connections for fuzz_tcp: initial sequence numbers, then records (flags and side,
    # sequence and acknowledgement offsets, length, milliseconds): a handshake and three
    # exchanges, the second's answer written before its request, the third's request lost.
    def rec(side, flags, seq, ack, length, ms=1):
        return struct.pack("<BHHBB", side | flags, seq, ack, length, ms)
    syn, ack_flag, fin = 0x02, 0x10, 0x04
    for k, isn in enumerate([(1000, 5000), (0xFFFFFF00, 0x7FFFFFF0)]):
        conn = struct.pack("<II", *isn) + rec(0, syn, 0, 0, 0) + rec(1, syn | ack_flag, 0, 0, 0)
        conn += rec(0, ack_flag, 0, 0, 40) + rec(1, ack_flag, 0, 40, 60)
        conn += rec(1, ack_flag, 60, 80, 60) + rec(0, ack_flag, 40, 60, 40)
        conn += rec(1, ack_flag, 120, 120, 60, 200) + rec(0, ack_flag, 120, 180, 0)
        conn += rec(0, ack_flag | fin, 120, 180, 0) + rec(1, ack_flag | fin, 180, 121, 0)
        with open(os.path.join(out, "tcp", f"{k}"), "wb") as f:
            f.write(conn)
    print(f"seeded {n} frames")


if __name__ == "__main__":
    main()
