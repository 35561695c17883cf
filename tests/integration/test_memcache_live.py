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
        time.sleep(0.5)
        c.close()
        time.sleep(0.3)

    out, err = run_live(config, tmp_path, workload)
    s = final_stats(err)
    assert s["capture.pcap.dropped"] == 0
    assert s["stream.buffer_full"] == 0
    # Publication order is completion order (a noreply command is done at once):
    # compare in request order.
    def start(e):  # RFC 3339 with trailing zeros of the fraction dropped
        head, _, frac = e["event"]["start"].rstrip("Z").partition(".")
        return head, int(frac.ljust(9, "0"))
    raw = sorted((json.loads(l) for l in out.splitlines()), key=start)
    events = [e["memcache"] | {"status": e["status"]} for e in raw]
    cmds = [(e["request"]["command"], e["request"].get("keys")) for e in events]
    assert cmds == [("set", ["k1"]), ("set", ["big"]), ("get", ["k1", "nokey", "big"]), ("incr", ["n"]),
                    ("set", ["n"]), ("incr", ["n"]), ("delete", ["k1"]), ("set", ["q"]), ("stats", None)], cmds
    assert all(e["protocol_type"] == "text" and e["status"] == "OK" for e in events)
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
