"""What the encapsulation cases' gen.py scripts share: header builders (checksums left
zero) and the classic pcap file they write: Ethernet, microsecond timestamps, ten frames
a second from t0 (a millisecond apart), each whole."""
import ipaddress
import struct


def mac(n):
    return bytes([0x02, 0, 0, 0, 0, n])


def eth(t, src=1, dst=2):
    return mac(dst) + mac(src) + struct.pack("!H", t)


def ip4(src, dst, proto, payload, ident=1, frag=0):
    a = bytes(map(int, src.split("."))); b = bytes(map(int, dst.split(".")))
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0, a, b) + payload


def ip6(src, dst, nxt, payload):
    return struct.pack("!IHBB", 0x60000000, len(payload), nxt, 64) + ipaddress.IPv6Address(src).packed + \
        ipaddress.IPv6Address(dst).packed + payload


def tcp(sp, dp, seq=1, ack=0, flags=0x18, data=b""):
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 0x50, flags, 65535, 0, 0) + data


def udp(sp, dp, data=b""):
    return struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data


def dns_a(ident, name, addr=None, ttl=300):
    """A DNS query for name's A record (RD set), or with addr its answer (RD, RA)."""
    q = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\x00" + \
        struct.pack("!HH", 1, 1)
    if addr is None:
        return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + q
    rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, ttl, 4) + ipaddress.IPv4Address(addr).packed
    return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + q + rr


def write(path, frames, t0):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", t0 + i // 10, (i % 10) * 1000, len(fr), len(fr)))
            f.write(fr)
    print(f"wrote {path}: {len(frames)} frames")
