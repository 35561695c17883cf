"""The classic pcap file the encapsulation cases' gen.py scripts write: Ethernet, microsecond
timestamps, ten frames a second from t0 (a millisecond apart), each whole."""
import struct


def write(path, frames, t0):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", t0 + i // 10, (i % 10) * 1000, len(fr), len(fr)))
            f.write(fr)
    print(f"wrote {path}: {len(frames)} frames")
