"""Writes a synthetic capture of DNS transactions over UDP for the output tests:
`count` query/response pairs, each from its own client port (so each has its own
community_id), spread evenly over `seconds` of packet time. Every pair yields one
dns event, and with flows on, one flow event per client port.

    python3 tests/integration/dns_traffic.py OUT.pcap [COUNT] [SECONDS]
"""
import struct
import sys

CLIENT = bytes([10, 0, 0, 2])
SERVER = bytes([10, 0, 0, 53])
MAC_C = bytes.fromhex("020000000002")
MAC_S = bytes.fromhex("020000000035")


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src_mac, dst_mac, src, dst, sport, dport, payload, ident):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def qname(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def dns_pair(i):
    name = qname(f"host{i}.example.com")
    q = struct.pack("!HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1)
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, i % 250 + 1])
    r = struct.pack("!HHHHHH", i & 0xFFFF, 0x8180, 1, 1, 0, 0) + name + struct.pack("!HH", 1, 1) + answer
    return q, r


def write(path, count=2000, seconds=6.0, start=1_700_000_000.0):
    step = seconds / max(count, 1)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(count):
            t = start + i * step
            q, r = dns_pair(i)
            sport = 20000 + i % 40000
            for k, pkt in enumerate((frame(MAC_C, MAC_S, CLIENT, SERVER, sport, 53, q, 2 * i),
                                     frame(MAC_S, MAC_C, SERVER, CLIENT, 53, sport, r, 2 * i + 1))):
                ts = t + k * 0.0002
                sec = int(ts)
                usec = int(round((ts - sec) * 1e6))
                if usec >= 1_000_000:
                    sec, usec = sec + 1, usec - 1_000_000
                f.write(struct.pack("<IIII", sec, usec, len(pkt), len(pkt)) + pkt)


if __name__ == "__main__":
    write(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000,
          float(sys.argv[3]) if len(sys.argv) > 3 else 6.0)
