"""output.redis against a real redis-server (Debian's), started per test on a free
port: lists (RPUSH) and channels (PUBLISH), key format strings, password and db, TLS,
a server down at start, refused commands counted, and bad settings."""
import collections
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import (
    empty_pcap, canon, console_events_of, final_stats, free_port, GOLDEN_CONFIG, pcap, run_tapbeat,
    start_tapbeat, wait_for_line)

CAPTURE = pcap("ndpi/mixed/1kxun.pcap")




class RedisServer:
    def __init__(self, port=None, args=()):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="tb-redis-")
        self.p = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", self.dir, *args],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.password = args[args.index("--requirepass") + 1] if "--requirepass" in args else None
        self.tls = "--tls-port" in args
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.tls or self.call("PING") == "PONG":
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def call(self, *args, db=0):
        """One command over RESP; returns the decoded reply (lists as lists)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            f = s.makefile("rwb")
            cmds = []
            if self.password:
                cmds.append(("AUTH", self.password))
            if db:
                cmds.append(("SELECT", str(db)))
            cmds.append(args)
            for c in cmds:
                f.write(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in c))
            f.flush()
            replies = [read_reply(f) for _ in cmds]
            return replies[-1]

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)


def read_reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:].decode()
    if kind in (b"+", b"-"):
        return rest if kind == b"+" else RuntimeError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        return [read_reply(f) for _ in range(int(rest))]
    raise AssertionError(f"unexpected reply {line!r}")




@pytest.fixture(scope="module")
def console_events():
    return console_events_of(CAPTURE)


def cfg_args(port, *settings):
    args = ["-c", GOLDEN_CONFIG, "-E", "output.console.enabled=false", "-E", f'output.redis.hosts=["127.0.0.1:{port}"]']
    for s in settings:
        args += ["-E", s]
    return args


def to_args(port, *settings):
    return cfg_args(port, *settings) + ["-I", CAPTURE, "-t"]


def test_lists_per_event_type_with_password_and_db(console_events):
    srv = RedisServer(args=["--requirepass", "s3cret"])
    try:
        proc = run_tapbeat(to_args(srv.port, "output.redis.key=tb-%{[type]}", "output.redis.password=s3cret",
                                   "output.redis.db=2", "output.redis.bulk_max_size=100"))
        by_type = collections.defaultdict(list)
        for e in console_events:
            by_type[e["type"]].append(canon(e))
        for typ, want in by_type.items():
            got = srv.call("LRANGE", f"tb-{typ}", "0", "-1", db=2)
            assert [canon(json.loads(x)) for x in got] == want, typ  # every event, in order
        assert srv.call("KEYS", "*") == []  # nothing in db 0
    finally:
        srv.stop()
    stats = final_stats(proc.stderr)
    assert stats["output.redis.acked"] == len(console_events)
    assert stats["output.redis.batches"] >= len(console_events) // 100
    assert stats["output.redis.failed"] == 0 and stats["output.redis.dropped.retries"] == 0


def test_channel_publishes_each_event(console_events):
    srv = RedisServer()
    got = []
    ready = threading.Event()

    def subscribe():
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
            f = s.makefile("rwb")
            f.write(b"*2\r\n$9\r\nSUBSCRIBE\r\n$9\r\ntb-events\r\n")
            f.flush()
            read_reply(f)
            ready.set()
            while len(got) < len(console_events):
                msg = read_reply(f)
                got.append(msg[2])

    t = threading.Thread(target=subscribe, daemon=True)
    t.start()
    try:
        assert ready.wait(10)
        proc = run_tapbeat(to_args(srv.port, "output.redis.key=tb-events", "output.redis.datatype=channel"))
        t.join(30)
    finally:
        srv.stop()
    assert [canon(json.loads(m)) for m in got] == [canon(e) for e in console_events]
    assert final_stats(proc.stderr)["output.redis.acked"] == len(console_events)


def test_tls_verified_against_the_ca(console_events, tmp_path):
    cert, key = tmp_path / "r.crt", tmp_path / "r.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    port = free_port()
    srv = RedisServer(port=free_port(), args=["--tls-port", str(port), "--tls-cert-file", str(cert),
                                              "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
                                              "--tls-auth-clients", "no"])
    try:
        run_tapbeat(to_args(port, f"output.redis.ssl.certificate_authorities=[{cert}]"))
        assert len(srv.call("LRANGE", "tapbeat", "0", "-1")) == len(console_events)  # the default key
        # Without the CA the certificate is refused: `test output` says why.
        proc = run_tapbeat(["test", "output"] + cfg_args(port, "output.redis.ssl.enabled=true",
                                                          "output.redis.timeout=1s"), check=False)
        assert proc.returncode == 1 and "certificate" in proc.stderr, proc.stderr[-800:]
    finally:
        srv.stop()


def test_server_down_at_start_then_up_gets_every_event(console_events):
    port = free_port()
    proc = start_tapbeat(to_args(port, "output.redis.backoff.init=100ms", "output.redis.backoff.max=200ms",
                                 "output.redis.max_retries=0"))
    srv = None
    try:
        seen = wait_for_line(proc, "capture goes on")
        assert f"output.redis.hosts: no Redis host of 127.0.0.1:{port} answered" in seen[-1]
        time.sleep(1)
        srv = RedisServer(port=port)
        _, err = proc.communicate(timeout=120)
        got = srv.call("LRANGE", "tapbeat", "0", "-1")
    finally:
        proc.kill()
        if srv:
            srv.stop()
    assert proc.returncode == 0, err[-2000:]
    assert [canon(json.loads(x)) for x in got] == [canon(e) for e in console_events]
    stats = final_stats(err)
    assert stats["output.redis.connection_errors"] >= 1 and stats["output.redis.dropped.retries"] == 0


def test_disk_queue_keeps_what_no_host_took_for_the_next_start(console_events, tmp_path):
    port = free_port()
    queue = [f"queue.disk.path={tmp_path / 'spool'}", "tapbeat.shutdown_timeout=1s"]
    stats = final_stats(run_tapbeat(to_args(port, *queue), check=False).stderr)
    assert stats["output.queue.disk.spooled"] == len(console_events) and stats["output.redis.acked"] == 0
    empty = empty_pcap(tmp_path)
    srv = RedisServer(port=port)
    try:
        proc = run_tapbeat(cfg_args(port, *queue[:1], "tapbeat.shutdown_timeout=60s") + ["-I", str(empty), "-t"])
        got = srv.call("LRANGE", "tapbeat", "0", "-1")
    finally:
        srv.stop()
    assert final_stats(proc.stderr)["output.queue.disk.read"] == len(console_events)
    assert [canon(json.loads(x)) for x in got] == [canon(e) for e in console_events]  # in order


def test_refused_commands_are_counted_by_error(console_events):
    # The key holds a string: every RPUSH is refused (WRONGTYPE), counted, and the run ends.
    srv = RedisServer()
    try:
        assert srv.call("SET", "taken", "x") == "OK"
        proc = run_tapbeat(to_args(srv.port, "output.redis.key=taken"), check=False)
    finally:
        srv.stop()
    stats = final_stats(proc.stderr)
    assert stats["output.redis.failed"] == stats["output.redis.failed.wrongtype"] == len(console_events)
    assert stats["output.redis.acked"] == 0
    assert "events refused: WRONGTYPE" in proc.stderr


@pytest.mark.parametrize("setting,key", [
    ("output.redis.datatype=set", "output.redis.datatype"),
    ("output.redis.db=-1", "output.redis.db"),
    ("output.redis.key=%{[type]", "output.redis"),
    ("output.redis.proxy_url=socks5://h:1080", "output.redis.proxy_url"),
    ("output.redis.ssl.verification_mode=sometimes", "output.redis.ssl.verification_mode"),
])
def test_bad_settings_name_their_key(setting, key):
    proc = run_tapbeat(["test", "config"] + cfg_args(1, setting), check=False)
    assert proc.returncode == 1 and key in proc.stderr, proc.stderr[-800:]


def test_test_output_requires_a_host():
    srv = RedisServer()
    try:
        proc = run_tapbeat(["test", "output"] + cfg_args(srv.port))
        assert "redis output: connection OK" in proc.stdout
    finally:
        srv.stop()
    proc = run_tapbeat(["test", "output"] + cfg_args(free_port(), "output.redis.timeout=1s"), check=False)
    assert proc.returncode == 1 and "no Redis host of 127.0.0.1" in proc.stderr
