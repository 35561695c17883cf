"""output.logstash against a real Lumberjack v2 server: Elastic's go-lumber (server/v2),
in a small program of the project's (tests/integration/lumberjack), built with the Go
toolchain from the Go module proxy. The events the server receives equal the console
output for the same capture; windows, compression, load balancing, failover, a server
that dies mid-run, TLS, and bad settings are checked."""
import collections
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import (
    empty_pcap, canon, final_stats, free_port, GOLDEN_CONFIG, pcap, ROOT, run_tapbeat, start_tapbeat,
    wait_for_line)

CAPTURE = pcap("ndpi/mixed/1kxun.pcap")
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def lumberjack(tmp_path_factory):
    if not shutil.which("go"):
        pytest.fail("the Go toolchain is not installed (scripts/setup installs golang-go where go is missing)")
    out = tmp_path_factory.mktemp("lj") / "lumberjack"
    subprocess.run(["go", "build", "-o", str(out), "."], cwd=os.path.join(HERE, "lumberjack"), check=True,
                   timeout=600, capture_output=True)
    return str(out)




class Server:
    def __init__(self, binary, tmp_path, port=None, args=()):
        self.port = port or free_port()
        self.out = tmp_path / f"lj-{self.port}-{time.monotonic_ns()}.ndjson"
        self.p = subprocess.Popen([binary, "-addr", f"127.0.0.1:{self.port}", "-out", str(self.out), *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        assert line.startswith("listening on"), line + self.p.stderr.read()

    def events(self):
        if not self.out.exists():
            return []
        return [json.loads(l) for l in self.out.read_text().splitlines()]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
        self.p.wait(timeout=10)




@pytest.fixture(scope="module")
def console_events():
    proc = run_tapbeat(["-c", GOLDEN_CONFIG, "-I", CAPTURE, "-t"])
    return collections.Counter(canon(json.loads(l)) for l in proc.stdout.splitlines())


def to_args(hosts, *settings):
    args = ["-c", GOLDEN_CONFIG, "-I", CAPTURE, "-t", "-E", "output.console.enabled=false",
            "-E", "output.logstash.hosts=[" + ",".join(f'"{h}"' for h in hosts) + "]"]
    for s in settings:
        args += ["-E", s]
    return args


def run_to(hosts, *settings, check=True, timeout=120):
    return run_tapbeat(to_args(hosts, *settings), check=check, timeout=timeout)


@pytest.mark.parametrize("level", [3, 0])
def test_events_equal_console_output(lumberjack, tmp_path, console_events, level):
    srv = Server(lumberjack, tmp_path)
    try:
        proc = run_to([f"127.0.0.1:{srv.port}"], f"output.logstash.compression_level={level}",
                      "output.logstash.bulk_max_size=100")
    finally:
        srv.stop()
    got = collections.Counter(canon(e) for e in srv.events())
    assert got == console_events
    stats = final_stats(proc.stderr)
    n = sum(console_events.values())
    assert stats["output.logstash.acked"] == n
    assert stats["output.logstash.windows"] >= n // 100
    assert stats["output.logstash.dropped.retries"] == 0 and stats["output.logstash.dropped.shutdown"] == 0


def test_index_names_the_beat(lumberjack, tmp_path):
    srv = Server(lumberjack, tmp_path)
    try:
        run_to([f"127.0.0.1:{srv.port}"], "output.logstash.index=netmon")
    finally:
        srv.stop()
    events = srv.events()
    assert events and all(e["@metadata"]["beat"] == "netmon" for e in events)


def test_loadbalance_spreads_windows_over_hosts(lumberjack, tmp_path, console_events):
    a, b = Server(lumberjack, tmp_path), Server(lumberjack, tmp_path, args=["-ack-delay", "20ms"])
    try:
        proc = run_to([f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"], "output.logstash.loadbalance=true",
                      "output.logstash.bulk_max_size=20")
    finally:
        a.stop()
        b.stop()
    ea, eb = a.events(), b.events()
    assert ea and eb, (len(ea), len(eb))
    assert collections.Counter(canon(e) for e in ea + eb) == console_events
    assert final_stats(proc.stderr)["output.logstash.connections"] == 2


def test_failover_to_the_next_host(lumberjack, tmp_path, console_events):
    dead = free_port()  # nothing listens there
    srv = Server(lumberjack, tmp_path)
    try:
        proc = run_to([f"127.0.0.1:{dead}", f"127.0.0.1:{srv.port}"], "output.logstash.backoff.init=100ms")
    finally:
        srv.stop()
    assert collections.Counter(canon(e) for e in srv.events()) == console_events
    stats = final_stats(proc.stderr)
    assert stats["output.logstash.connection_errors"] >= 1
    assert f"127.0.0.1:{dead}" in proc.stderr


def test_server_dies_mid_run_and_every_event_arrives(lumberjack, tmp_path, console_events):
    # The server exits on its 3rd window without acknowledging it; another starts on
    # the same port; tapbeat sends the unacknowledged events again.
    first = Server(lumberjack, tmp_path, args=["-exit-after-batches", "3"])
    port = first.port
    p = subprocess.Popen([os.path.join(ROOT, "build", "tapbeat") if not os.environ.get("TAPBEAT_BIN")
                          else os.environ["TAPBEAT_BIN"], "-c", GOLDEN_CONFIG, "-I", CAPTURE, "-t", "-E",
                          "output.console.enabled=false", "-E", f'output.logstash.hosts=["127.0.0.1:{port}"]', "-E",
                          "output.logstash.bulk_max_size=50", "-E", "output.logstash.backoff.init=200ms", "-E",
                          "tapbeat.shutdown_timeout=30s"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert first.p.wait(timeout=60) == 3
    second = Server(lumberjack, tmp_path, port=port)
    try:
        out, err = p.communicate(timeout=90)
    finally:
        second.stop()
    assert p.returncode == 0, err[-2000:]
    got = collections.Counter(canon(e) for e in first.events() + second.events())
    assert got == console_events  # nothing lost, nothing twice (the dead server wrote none of its last window)
    stats = final_stats(err)
    assert stats["output.logstash.retried"] >= 50 and stats["output.logstash.connection_errors"] >= 1
    assert stats["output.logstash.acked"] == sum(console_events.values())


def test_test_output_connects_to_a_host(lumberjack, tmp_path):
    srv = Server(lumberjack, tmp_path)
    try:
        proc = run_tapbeat(["test", "output", "-c", GOLDEN_CONFIG, "-E", "output.console.enabled=false",
                            "-E", f'output.logstash.hosts=["127.0.0.1:{srv.port}"]'])
    finally:
        srv.stop()
    assert "logstash output: connection OK" in proc.stdout
    proc = run_tapbeat(["test", "output", "-c", GOLDEN_CONFIG, "-E", "output.console.enabled=false",
                        "-E", f'output.logstash.hosts=["127.0.0.1:{srv.port}"]', "-E", "output.logstash.timeout=1s"],
                       check=False)
    assert proc.returncode == 1 and "no Logstash host of" in proc.stderr


def server_later(proc, line, delay, binary, tmp_path, port):
    """Once tapbeat (running in the background) logs `line`, a server on `port` after
    `delay` seconds; returns the lines read, the server (stopped) and tapbeat's stderr."""
    srv = None
    try:
        seen = wait_for_line(proc, line)
        time.sleep(delay)
        srv = Server(binary, tmp_path, port=port)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        if srv:
            srv.stop()
    return seen, srv, err


def test_server_gone_and_back_gets_every_event_once(lumberjack, tmp_path, console_events):
    # The only server exits on its 2nd window (unacknowledged) and comes back 2 s later
    # on the same port. The window in flight counts one failed attempt (max_retries 1
    # lets it go again); the refused connections meanwhile count none, so nothing is
    # dropped however long the server stays away, and reading waits for it.
    port = free_port()
    first = Server(lumberjack, tmp_path, port=port, args=["-exit-after-batches", "2"])
    proc = start_tapbeat(to_args([f"127.0.0.1:{port}"], "output.logstash.bulk_max_size=50",
                                 "output.logstash.max_retries=1", "output.logstash.backoff.init=50ms",
                                 "output.logstash.backoff.max=100ms", "queue.mem.events=64"))
    _, second, err = server_later(proc, "retrying with backoff", 2, lumberjack, tmp_path, port)
    first.stop()
    stats = final_stats(err)
    total = sum(console_events.values())
    assert len(first.events()) == 50
    assert stats["output.logstash.acked"] == total
    assert stats["output.logstash.connection_errors"] >= 3
    assert stats["output.logstash.dropped.retries"] == 0 and stats["output.logstash.dropped.shutdown"] == 0
    assert collections.Counter(canon(e) for e in first.events() + second.events()) == console_events


def test_host_down_at_start_does_not_stop_capture(lumberjack, tmp_path, console_events):
    # Nothing listens at start: the run says so and goes on; the events wait in the
    # queue and reach the server started 1 s later. `test output` still requires a host.
    port = free_port()
    proc = start_tapbeat(to_args([f"127.0.0.1:{port}"], "output.logstash.max_retries=0",
                                 "output.logstash.backoff.init=100ms", "output.logstash.backoff.max=200ms"))
    seen, srv, err = server_later(proc, "capture goes on", 1, lumberjack, tmp_path, port)
    assert f"output.logstash.hosts: no Logstash host of 127.0.0.1:{port} answered" in seen[-1]
    assert proc.returncode == 0, err[-2000:]
    stats = final_stats(err)
    assert stats["output.logstash.acked"] == sum(console_events.values())
    assert stats["output.logstash.dropped.retries"] == 0
    assert collections.Counter(canon(e) for e in srv.events()) == console_events
    proc = run_tapbeat(["test", "output", "-c", GOLDEN_CONFIG, "-E", "output.console.enabled=false",
                        "-E", f'output.logstash.hosts=["127.0.0.1:{free_port()}"]', "-E", "output.logstash.timeout=1s"],
                       check=False)
    assert proc.returncode == 1 and "answered within 1 s" in proc.stderr


def test_disk_queue_keeps_what_no_host_took_for_the_next_start(lumberjack, tmp_path, console_events):
    # No host: past what the output keeps in memory with a disk queue (its windows in
    # flight: 2 x 50 events) events go to the disk queue, and at the end what the output
    # still held joins them there. The next start, with nothing to
    # capture and a server up, sends them all, once each, and empties the disk queue.
    spool = tmp_path / "spool"
    queue = [f"queue.disk.path={spool}", "output.logstash.bulk_max_size=50", "tapbeat.shutdown_timeout=1s"]
    total = sum(console_events.values())
    proc = run_to([f"127.0.0.1:{free_port()}"], *queue, check=False)
    stats = final_stats(proc.stderr)
    assert stats["output.logstash.acked"] == 0
    assert stats["output.queue.disk.spooled"] == total
    assert stats["output.queue.disk.dropped_full"] == 0 and stats["output.logstash.dropped.shutdown"] == 0
    assert "the output is not keeping up; events go to the disk queue" in proc.stderr
    assert "100 events not delivered within tapbeat.shutdown_timeout: 100 kept in the disk queue" in proc.stderr
    assert any(f.endswith(".tbq") for f in os.listdir(spool))
    empty = empty_pcap(tmp_path)
    queue[-1] = "tapbeat.shutdown_timeout=60s"  # ends as soon as all is acknowledged
    srv = Server(lumberjack, tmp_path)
    try:
        proc = run_tapbeat([str(empty) if a == CAPTURE else a for a in to_args([f"127.0.0.1:{srv.port}"], *queue)])
    finally:
        srv.stop()
    stats = final_stats(proc.stderr)
    assert "from an earlier run" in proc.stderr
    assert stats["output.queue.disk.read"] == total and stats["output.logstash.acked"] == total
    assert collections.Counter(canon(e) for e in srv.events()) == console_events
    assert not any(f.endswith(".tbq") for f in os.listdir(spool))


def make_cert(tmp_path, name, san):
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls_verified_against_the_ca(lumberjack, tmp_path, console_events):
    cert, key = make_cert(tmp_path, "localhost", "IP:127.0.0.1")
    srv = Server(lumberjack, tmp_path, args=["-tls-cert", str(cert), "-tls-key", str(key)])
    try:
        run_to([f"127.0.0.1:{srv.port}"], f"output.logstash.ssl.certificate_authorities=[{cert}]")
    finally:
        srv.stop()
    assert collections.Counter(canon(e) for e in srv.events()) == console_events


def test_tls_refuses_a_certificate_for_another_host(lumberjack, tmp_path):
    cert, key = make_cert(tmp_path, "elsewhere", "DNS:elsewhere.example")
    srv = Server(lumberjack, tmp_path, args=["-tls-cert", str(cert), "-tls-key", str(key)])
    try:
        proc = run_tapbeat(["test", "output", "-c", GOLDEN_CONFIG, "-E", "output.console.enabled=false",
                            "-E", f'output.logstash.hosts=["127.0.0.1:{srv.port}"]',
                            "-E", f"output.logstash.ssl.certificate_authorities=[{cert}]",
                            "-E", "output.logstash.timeout=2s"], check=False)
        assert proc.returncode == 1
        assert "no Logstash host of 127.0.0.1" in proc.stderr and "certificate" in proc.stderr, proc.stderr[-1500:]
        assert srv.events() == []
        # verification_mode none takes it.
        run_to([f"127.0.0.1:{srv.port}"], "output.logstash.ssl.verification_mode=none")
        assert srv.events()
    finally:
        srv.stop()


@pytest.mark.parametrize("setting,key", [
    ("output.logstash.compression_level=12", "output.logstash.compression_level"),
    ("output.logstash.proxy_url=socks5://h:1080", "output.logstash.proxy_url"),
    ("output.logstash.ssl.verification_mode=sometimes", "output.logstash.ssl.verification_mode"),
    ("output.logstash.max_retries=-5", "output.logstash.max_retries"),
])
def test_bad_settings_name_their_key(setting, key):
    proc = run_to(["127.0.0.1:1"], setting, check=False)
    assert proc.returncode != 0 and key in proc.stderr, proc.stderr[-800:]
