"""Stopping while an output does not take events: SIGTERM, SIGINT and SIGHUP stop the
run within tapbeat.shutdown_timeout of the first signal, a second signal ends the wait
at once, and whatever was not delivered is counted in the final stats (never waited
for without end, never lost uncounted). The outputs here are servers that accept the
connection and then never answer: a Lumberjack peer that does not read, and an HTTP
server that answers Elasticsearch's `GET /` but never a bulk request."""
import http.server
import json
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BIN, GOLDEN_CONFIG, final_stats, pcap

CAPTURE = pcap("ndpi/mixed/1kxun.pcap")


class SilentTcp:
    """Accepts connections and never reads from them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class SilentElasticsearch:
    """Answers `GET /` as a cluster does; a bulk request is read and never answered."""

    def __init__(self):
        self.release = threading.Event()
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                body = json.dumps({"version": {"number": "8.11.0"}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                srv.release.wait(300)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()


def start(output_args, *settings, topspeed=True):
    args = [BIN, "-c", GOLDEN_CONFIG, "-I", CAPTURE, "-E", "output.console.enabled=false", *output_args,
            "-E", "queue.mem.events=32"]
    if topspeed:
        args.append("-t")
    for s in settings:
        args += ["-E", s]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_and_time(proc, sig=signal.SIGTERM, wait=3.0, again_after=None, limit=30):
    time.sleep(wait)
    assert proc.poll() is None, "tapbeat ended before the signal:\n" + proc.stderr.read()[-2000:]
    t0 = time.monotonic()
    proc.send_signal(sig)
    if again_after is not None:
        time.sleep(again_after)
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"tapbeat did not stop within {limit} s of signal {sig}:\n" + err[-2000:])
    return time.monotonic() - t0, err


def accounted(stats):
    """What the workers emitted is delivered or counted: handed to the sink (acked or
    counted there) or dropped at shutdown before the sink took it."""
    assert stats["events.emitted"] == (stats["output.events.written"] + stats["output.events.failed"] +
                                       stats["output.events.dropped_shutdown"])


@pytest.fixture
def silent_logstash():
    s = SilentTcp()
    yield ["-E", f'output.logstash.hosts=["127.0.0.1:{s.port}"]']
    s.close()


@pytest.fixture
def silent_es():
    s = SilentElasticsearch()
    yield ["-E", f'output.elasticsearch.hosts=["{s.url}"]', "-E", "output.elasticsearch.timeout=120s"]
    s.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_stops_within_shutdown_timeout_while_logstash_takes_nothing(silent_logstash, sig):
    proc = start(silent_logstash, "tapbeat.shutdown_timeout=2s")
    took, err = stop_and_time(proc, sig)
    assert took < 2.0 + 3.0, took
    stats = final_stats(err)
    accounted(stats)
    # The 32 events the sink held and the ones it never took are counted as lost.
    assert stats["output.logstash.dropped.shutdown"] == 32
    assert stats["output.events.dropped_shutdown"] > 0
    assert "not taken by the output within tapbeat.shutdown_timeout" in err
    assert f"stopped by signal {int(sig)}" in err
    assert proc.returncode == 1  # events were lost


def test_a_signal_after_the_end_of_the_file_releases_a_worker_waiting_on_the_output(silent_logstash):
    # Two small event chunks: the worker reading the file fills them and waits for the
    # output (a file run loses nothing by waiting) after the capture has read the whole
    # file; SIGTERM must still release it at the deadline and stop the run.
    proc = start(silent_logstash, "tapbeat.shutdown_timeout=2s", "tapbeat.events.chunks=2",
                 "tapbeat.events.chunk_kb=16")
    took, err = stop_and_time(proc, signal.SIGTERM)
    assert took < 2.0 + 3.0, took
    stats = final_stats(err)
    accounted(stats)
    assert stats["capture.read"] == stats["packets.received"]  # the whole file was read before the signal
    assert stats["output.logstash.dropped.shutdown"] == 32


def test_a_second_signal_ends_the_wait_at_once(silent_logstash):
    proc = start(silent_logstash, "tapbeat.shutdown_timeout=120s")
    took, err = stop_and_time(proc, signal.SIGTERM, again_after=1.0)
    assert took < 1.0 + 3.0, took
    stats = final_stats(err)
    accounted(stats)
    assert stats["output.logstash.dropped.shutdown"] == 32


def test_sigterm_stops_while_elasticsearch_never_answers(silent_es):
    proc = start(silent_es, "tapbeat.shutdown_timeout=2s")
    took, err = stop_and_time(proc, signal.SIGTERM)
    assert took < 2.0 + 3.0, took
    stats = final_stats(err)
    accounted(stats)
    assert stats["output.elasticsearch.dropped.shutdown"] == 32
    assert stats["output.elasticsearch.acked"] == 0


def test_sighup_is_a_graceful_stop_with_final_flows():
    # Paced replay (packet time): SIGHUP after a second stops it like SIGTERM, with the
    # final flow reports written and the final stats logged (exit 0: nothing was lost).
    proc = subprocess.Popen([BIN, "-c", GOLDEN_CONFIG, "-I", CAPTURE, "-E", "tapbeat.shutdown_timeout=5s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    assert proc.poll() is None
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "stopped by signal 1" in err
    events = [json.loads(l) for l in out.splitlines()]
    finals = [e for e in events if e.get("type") == "flow" and e["flow"]["final"]]
    assert finals, "no final flow report after SIGHUP"
    stats = final_stats(err)
    assert stats["output.events.written"] == len(events)
