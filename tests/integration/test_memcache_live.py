"""Memcache transactions from live traffic: a real memcached (Debian's) on loopback, a
scripted text-protocol client, tapbeat capturing on lo through libpcap. Each
transaction's fields are checked against what the client sent and the server answered."""
import json
import os
import socket
import time

import pytest

from conftest import final_stats, live_config, run_live, server_process

PORT = 21211


def exchange(sock, data, end_markers):
    sock.sendall(data)
    buf = b""
    while not any(buf.endswith(m) for m in end_markers):
        chunk = sock.recv(1 << 20)
        assert chunk, "server closed"
        buf += chunk
    return buf


def in_request_order(out):
    """Each event's memcache fields and status, in request order: publication order is
    completion order (a noreply command, a quiet one passed over, is done at once)."""
    def start(e):  # RFC 3339 with trailing zeros of the fraction dropped
        head, _, frac = e["event"]["start"].rstrip("Z").partition(".")
        return head, int(frac.ljust(9, "0"))
    raw = sorted((json.loads(l) for l in out.splitlines()), key=start)
    return [e["memcache"] | {"status": e["status"]} for e in raw]


@pytest.fixture
def memcached():
    if os.geteuid() != 0:
        pytest.skip("live capture needs root or cap_net_raw")
    p = server_process(["memcached", "-l", "127.0.0.1", "-p", str(PORT), "-U", "0", "-u", "root", "-m", "64"], PORT,
                       b"version\r\n", b"VERSION")
    yield
    p.terminate()
    p.wait(timeout=10)


def test_memcache_live_transactions(tmp_path, memcached):
    config = live_config("memcache", PORT)
    big = b"x" * 300_000
    stats = []

    def workload():
        c = socket.create_connection(("127.0.0.1", PORT))
        assert exchange(c, b"set k1 5 0 5\r\nhello\r\n", [b"\r\n"]) == b"STORED\r\n"
        assert exchange(c, b"set big 0 0 %d\r\n%s\r\n" % (len(big), big), [b"\r\n"]) == b"STORED\r\n"
        r = exchange(c, b"get k1 nokey big\r\n", [b"END\r\n"])
        assert r.startswith(b"VALUE k1 5 5\r\nhello\r\n")
        assert exchange(c, b"incr n 1\r\n", [b"\r\n"]) == b"NOT_FOUND\r\n"
        assert exchange(c, b"set n 0 0 1\r\n7\r\n", [b"\r\n"]) == b"STORED\r\n"
        assert exchange(c, b"incr n 5\r\n", [b"\r\n"]) == b"12\r\n"
        assert exchange(c, b"delete k1\r\n", [b"\r\n"]) == b"DELETED\r\n"
        c.sendall(b"set q 0 0 1 noreply\r\nq\r\n")
        stats.append(exchange(c, b"stats\r\n", [b"END\r\n"]))
        # An administrative command the decoder does not name, answered by lines of its
        # own then END (they had ended decoding), and gat's expiry before its keys.
        assert b"key=n " in exchange(c, b"lru_crawler metadump all\r\n", [b"END\r\n"])
        assert exchange(c, b"gat 100 n nokey\r\n", [b"END\r\n"]) == b"VALUE n 0 2\r\n12\r\nEND\r\n"
        time.sleep(0.5)
        c.close()
        time.sleep(0.3)

    out, err = run_live(config, tmp_path, workload)
    s = final_stats(err)
    assert s["capture.pcap.dropped"] == 0
    assert s["stream.buffer_full"] == 0
    events = in_request_order(out)
    cmds = [(e["request"]["command"], e["request"].get("keys")) for e in events]
    assert cmds == [("set", ["k1"]), ("set", ["big"]), ("get", ["k1", "nokey", "big"]), ("incr", ["n"]),
                    ("set", ["n"]), ("incr", ["n"]), ("delete", ["k1"]), ("set", ["q"]), ("stats", None),
                    ("unknown", ["metadump"]), ("gat", ["n", "nokey"])], cmds
    # A miss (NOT_FOUND) is an error, as Packetbeat's status has it; the rest are OK.
    assert [e["status"] for e in events] == ["OK"] * 3 + ["Error"] + ["OK"] * 7, [e["status"] for e in events]
    assert all(e["protocol_type"] == "text" for e in events)
    assert events[0]["request"]["flags"] == 5 and events[0]["request"]["bytes"] == 5
    assert events[0]["response"]["type"] == "Success"
    assert events[1]["request"]["bytes"] == len(big)
    get = events[2]["response"]
    assert get["keys"] == ["k1", "big"] and get["count_values"] == 2 and get["bytes"] == 5 + len(big)
    assert events[3]["response"]["command"] == "NOT_FOUND" and events[3]["response"]["type"] == "Fail"
    assert events[5]["request"]["delta"] == 5 and events[5]["response"]["value"] == 12
    assert events[6]["response"]["command"] == "DELETED"
    assert events[7]["request"]["noreply"] is True and "response" not in events[7]
    want_stats = {l.split(" ", 2)[1] for l in stats[0].decode().splitlines() if l.startswith("STAT ")}
    assert {x["name"] for x in events[8]["response"]["stats"]} == want_stats
    assert events[9]["response"]["command"] == "END"
    assert events[10]["request"]["exptime"] == 100 and events[10]["response"]["keys"] == ["n"]
    assert s["memcache.malformed"] == 0 and s.get("memcache.violations", 0) == 0


def test_memcache_meta_protocol_live(tmp_path, memcached):
    # The meta protocol (memcached 1.6+; what current clients such as Dalli speak): each
    # command paired with the reply this memcached gave, quiet pipelines ended by mn
    # matched reply by reply, and a classic command after them still read.
    config = live_config("memcache", PORT)
    replies = []

    def workload():
        c = socket.create_connection(("127.0.0.1", PORT))
        replies.append(exchange(c, b"ms mk 5 T60 F3\r\nhello\r\n", [b"\r\n"]))
        replies.append(exchange(c, b"mg mk v f t k O7\r\n", [b"hello\r\n"]))
        replies.append(exchange(c, b"mg bWs= b s v\r\n", [b"hello\r\n"]))  # mk, base64
        replies.append(exchange(c, b"ma mn N0 J10 v\r\n", [b"\r\n10\r\n"]))
        replies.append(exchange(c, b"ma mn D5 v\r\n", [b"\r\n15\r\n"]))
        # A quiet multi-get: one hit, one miss (left out by the server), then the no-op.
        replies.append(exchange(c, b"mg nokey v q k\r\nmg mk v q k\r\nmn\r\n", [b"MN\r\n"]))
        replies.append(exchange(c, b"ms mk 2 q\r\nhi\r\nmd nokey q\r\nmn\r\n", [b"MN\r\n"]))
        replies.append(exchange(c, b"get mk\r\n", [b"END\r\n"]))
        time.sleep(0.5)
        c.close()
        time.sleep(0.3)

    out, err = run_live(config, tmp_path, workload)
    s = final_stats(err)
    assert replies[5] == b"VA 5 kmk\r\nhello\r\nMN\r\n" and replies[6] == b"NF\r\nMN\r\n", replies
    assert s["capture.pcap.dropped"] == 0
    assert s["memcache.malformed"] == 0 and s["stream.detached"] == 0
    assert s["memcache.unmatched_requests"] == 0 and s["memcache.unmatched_responses"] == 0
    events = in_request_order(out)
    got = [(e["request"]["command"], e["request"].get("keys"), e.get("response", {}).get("command"))
           for e in events]
    assert got == [("ms", ["mk"], "HD"), ("mg", ["mk"], "VA"), ("mg", ["mk"], "VA"), ("ma", ["mn"], "VA"),
                   ("ma", ["mn"], "VA"), ("mg", ["nokey"], None), ("mg", ["mk"], "VA"), ("mn", None, "MN"),
                   ("ms", ["mk"], None), ("md", ["nokey"], "NF"), ("mn", None, "MN"), ("get", ["mk"], "VALUE")], got
    # md of a missing key (NF) is an error, as a text NOT_FOUND is; the rest are OK.
    assert [e["status"] for e in events] == ["OK"] * 9 + ["Error"] + ["OK"] * 2, [e["status"] for e in events]
    ms, mg = events[0], events[1]
    assert ms["request"] | {} == {"bytes": 5, "command": "ms", "count_values": 1, "exptime": 60, "flags": 3,
                                  "keys": ["mk"], "quiet": False, "type": "Store"}, ms
    assert mg["request"]["opaque"] == 7 and mg["response"]["opaque"] == 7
    assert mg["response"]["flags"] == 3 and mg["response"]["bytes"] == 5 and mg["response"]["keys"] == ["mk"]
    assert events[3]["request"]["initial"] == 10 and events[3]["response"]["value"] == 10
    assert events[4]["request"]["delta"] == 5 and events[4]["response"]["value"] == 15
    assert events[4]["response"]["type"] == "Counter"
    assert events[5]["request"]["quiet"] is True and events[8]["request"]["quiet"] is True
    assert events[9]["response"]["type"] == "Fail"


def test_memcache_values_live(tmp_path, memcached):
    # maxvalues and maxbytespervalue as Packetbeat applies them: a storage command's value
    # and a get's values published base64-encoded, each cut to maxbytespervalue, at most
    # maxvalues of a reply; text and binary alike; a value of 300 KB streams past, cut.
    import base64
    import struct
    config = live_config("memcache", PORT, "    maxvalues: 2\n    maxbytespervalue: 8\n")
    big = bytes(range(256)) * 1200

    def binary(magic, op, key, value, extras=b"", opaque=0):
        return struct.pack(">BBHBBHIIQ", magic, op, len(key), len(extras), 0, 0,
                           len(extras) + len(key) + len(value), opaque, 0) + extras + key + value

    def workload():
        c = socket.create_connection(("127.0.0.1", PORT))
        assert exchange(c, b"set v1 0 0 5\r\nhello\r\n", [b"\r\n"]) == b"STORED\r\n"
        assert exchange(c, b"set v2 0 0 %d\r\n%s\r\n" % (len(big), big), [b"\r\n"]) == b"STORED\r\n"
        assert exchange(c, b"set v3 0 0 3\r\nabc\r\n", [b"\r\n"]) == b"STORED\r\n"
        assert exchange(c, b"get v1 v2 v3\r\n", [b"END\r\n"]).count(b"VALUE") == 3
        c.close()
        b = socket.create_connection(("127.0.0.1", PORT))
        b.sendall(binary(0x80, 0x01, b"bk", b"binary value", extras=b"\0" * 8, opaque=5))
        assert len(b.recv(1 << 16)) == 24
        b.sendall(binary(0x80, 0x00, b"bk", b"", opaque=6))
        r = b""
        while len(r) < 24 + 4 + 12:
            r += b.recv(1 << 16)
        assert r.endswith(b"binary value")
        time.sleep(0.5)
        b.close()
        time.sleep(0.3)

    out, err = run_live(config, tmp_path, workload)
    s = final_stats(err)
    assert s["capture.pcap.dropped"] == 0 and s["memcache.malformed"] == 0
    events = in_request_order(out)
    got = [(e["request"]["command"], e["request"].get("values"), e.get("response", {}).get("values"))
           for e in events]
    b64 = lambda v: base64.b64encode(v).decode()
    assert got == [("set", b64(b"hello"), None), ("set", b64(big[:8]), None), ("set", b64(b"abc"), None),
                   ("get", None, [b64(b"hello"), b64(big[:8])]),
                   ("set", [b64(b"binary v")], None), ("get", None, [b64(b"binary v")])], got
    assert events[3]["response"]["count_values"] == 3 and events[3]["response"]["bytes"] == 5 + len(big) + 3
    assert s.get("memcache.values_cut", 0) == 0
