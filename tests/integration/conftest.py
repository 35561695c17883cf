"""Shared helpers for the integration tests: where the binary and the shared captures
are, and how to run tapbeat on a capture and read its events."""
import collections
import csv
import json
import os
import select
import signal
import socket
import subprocess
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("TAPBEAT_SHARED", os.path.join(ROOT, "..", "shared"))
BIN = os.environ.get("TAPBEAT_BIN", os.path.join(ROOT, "build", "tapbeat"))
GOLDEN_CONFIG = os.path.join(ROOT, "tests", "golden", "golden.yml")


def pcap(rel):
    return os.path.join(SHARED, "pcaps", rel)


def index_rows():
    """Rows of ../shared/pcaps/INDEX.tsv whose capture is present (rows for
    duplicates name files that are not kept)."""
    with open(os.path.join(SHARED, "pcaps", "INDEX.tsv")) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if os.path.isfile(pcap(r["path"])):
                yield r


def captures_with_protocol(protocol):
    """Paths (relative to pcaps/) of the captures INDEX.tsv lists for a protocol, sorted."""
    return sorted(r["path"] for r in index_rows() if protocol in (r["protocols"] or "").split(","))


def agreement(want, got):
    """Counters of keys: (expected, found in got, up to 3 keys got lacks)."""
    n = sum(want.values())
    ok = sum(min(c, got[k]) for k, c in want.items())
    return n, ok, [k for k in want if got[k] < want[k]][:3]


def agreement_over(captures, expected, published):
    """expected(capture) and published(capture) give Counters of keys; returns the
    keys expected, those published too and a line per capture that falls short."""
    import concurrent.futures
    total = agreed = 0
    report = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # a tapbeat per core
        pairs = list(pool.map(lambda rel: (expected(rel), published(rel)), captures))
    for rel, (want, got) in zip(captures, pairs):
        n, ok, missing = agreement(want, got)
        total += n
        agreed += ok
        if ok < n:
            report.append(f"{rel}: {ok}/{n}, e.g. expected {missing}, published {list(got)[:3]}")
    return total, agreed, report


def assert_csv_table(response, rows, context, max_rows=10, max_row_length=1024):
    """A SQL decoder's `response`: the column names, then the first max_rows rows as
    CSV, each row's values cut at max_row_length bytes (Packetbeat's rule)."""
    import io
    table = list(csv.reader(io.StringIO(response)))
    assert len(table) == 1 + min(max_rows, len(rows)), context
    for row, want in zip(table[1:], rows):
        cut, n = [], 0
        for v in ("NULL" if v is None else str(v) for v in want):
            if n >= max_row_length:
                break
            cut.append(v[:max_row_length - n])
            n += len(cut[-1])
        assert row == cut, context


def run_tapbeat(args, timeout=120, check=True, **kw):
    proc = subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"tapbeat {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def free_port():
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def canon(event, metadata=True):
    """An event as JSON text without what differs from run to run (agent.ephemeral_id),
    and without @metadata unless `metadata`; for comparing what outputs delivered."""
    e = {k: v for k, v in event.items() if metadata or k != "@metadata"}
    e["agent"] = {k: v for k, v in e["agent"].items() if k != "ephemeral_id"}
    return json.dumps(e, sort_keys=True)


def send_udp(port, count, size, host="127.0.0.1"):
    """`count` datagrams of `size` bytes to host:port, then half a second for a capture
    to see them."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(count):
            s.sendto(b"x" * size, (host, port))
    time.sleep(0.5)


class Veth:
    """A veth pair: the outer end (`outer`, address net.1) in this namespace, the inner
    end in network namespace `ns` (address net.2). Close it to remove both."""

    def __init__(self, net):
        if os.geteuid() != 0:
            pytest.skip("network namespaces need root")
        tag = uuid.uuid4().hex[:6]
        self.ns, self.inner, self.outer, self.net = f"tbns{tag}", f"tbi{tag}", f"tbo{tag}", net
        for c in (["ip", "netns", "add", self.ns],
                  ["ip", "link", "add", self.outer, "type", "veth", "peer", "name", self.inner],
                  ["ip", "link", "set", self.inner, "netns", self.ns],
                  ["ip", "addr", "add", f"{net}.1/24", "dev", self.outer], ["ip", "link", "set", self.outer, "up"],
                  self.in_ns("ip", "addr", "add", f"{net}.2/24", "dev", self.inner),
                  self.in_ns("ip", "link", "set", self.inner, "up")):
            subprocess.run(c, check=True, capture_output=True)

    def in_ns(self, *argv):
        return ["ip", "netns", "exec", self.ns] + list(argv)

    def close(self):
        subprocess.run(["ip", "link", "del", self.outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


@pytest.fixture
def veth():
    v = Veth("10.199.0")
    yield v
    v.close()


def empty_pcap(folder):
    """A capture file with no packets in `folder` (a run that only drains its queue)."""
    path = folder / "empty.pcap"
    path.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    return path


def console_events_of(capture):
    """The events the golden config writes to the console for `capture`."""
    proc = run_tapbeat(["-c", GOLDEN_CONFIG, "-I", capture, "-t"])
    return [json.loads(line) for line in proc.stdout.splitlines()]


def start_tapbeat(args):
    """tapbeat in the background, stderr piped (read it with wait_for_line, then communicate())."""
    return subprocess.Popen([BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def capture_while(argv, traffic):
    """Runs tapbeat (argv: its command line, a namespace's `ip netns exec` before it) until
    it captures, then traffic(), then stops it with SIGINT: its start line, its events,
    final stats and stderr."""
    p = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = wait_for_line(p, "started: capturing on")[-1]
        traffic()
        time.sleep(1)
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err[-3000:]
    return started, [json.loads(l) for l in out.splitlines() if l.startswith("{")], final_stats(err), err


def events_of(capture, overrides=(), config=GOLDEN_CONFIG, cwd=None):
    args = ["-c", config, "-I", capture, "-t"]
    for o in overrides:
        args += ["-E", o]
    proc = run_tapbeat(args, cwd=cwd)
    return [json.loads(line) for line in proc.stdout.splitlines()], proc


def final_stats(stderr):
    for line in reversed(stderr.splitlines()):
        if '"final stats"' in line:
            return json.loads(line)["stats"]
    raise AssertionError("no final stats line in:\n" + stderr[-2000:])


def wait_for_line(proc, text, timeout=20):
    """Reads proc's stderr until a line containing text; returns the lines read.

    Reads the descriptor a byte at a time, never through the file object's buffer: a
    buffered read could take lines after the one waited for, which a later
    communicate() (reading the descriptor itself) would then never see."""
    deadline = time.time() + timeout
    fd = proc.stderr.fileno()
    seen = []
    line = bytearray()
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        b = os.read(fd, 1)
        if not b:  # the process closed stderr (exited)
            seen.append(line.decode(errors="replace"))
            break
        line += b
        if b == b"\n":
            seen.append(line.decode(errors="replace"))
            line = bytearray()
            if text in seen[-1]:
                break
    assert seen and text in seen[-1], "".join(seen) + line.decode(errors="replace")
    return seen


def live_config(protocol, port, extra=""):
    """tapbeat on lo for one TCP port, flows off, one protocol, events on stdout."""
    return f"""packetbeat.interfaces:
  device: lo
  bpf_filter: "tcp port {port}"
packetbeat.flows: {{enabled: false}}
packetbeat.protocols:
  - type: {protocol}
    ports: [{port}]
{extra}output.console: {{}}
tapbeat.workers: 1
timestamp.precision: nanosecond
"""


def server_process(argv, port, probe, ready):
    """Starts a real server from Debian's packages and waits until a connection to
    127.0.0.1:port that sends `probe` reads a reply starting with `ready`."""
    import shutil
    import socket
    if not shutil.which(argv[0]):
        pytest.fail(f"{argv[0]} is not installed (scripts/setup installs it)")
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(probe)
                if s.recv(256).startswith(ready):
                    return p
        except OSError:
            time.sleep(0.1)
    p.kill()
    pytest.fail(f"{argv[0]} did not start")


def run_live(config_text, tmp_path, body, name="live.yml"):
    """Runs tapbeat live with this config until body() returns, then stops it with
    SIGINT; returns its stdout and stderr (all of it)."""
    import signal
    cfg = tmp_path / name
    cfg.write_text(config_text)
    p = subprocess.Popen([BIN, "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        seen = wait_for_line(p, "started: capturing on")
        body()
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    err = "".join(seen) + err
    assert p.returncode == 0, err
    return out, err


def flatten(obj, prefix=""):
    out = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


@pytest.fixture(scope="session")
def shared_dir():
    if not os.path.isdir(os.path.join(SHARED, "pcaps")):
        pytest.fail(f"shared captures not found at {SHARED}")
    return SHARED


# ---- tshark's dissections, recorded ----------------------------------------
# The comparisons with tshark read its output for each capture from
# tests/data/tshark/<kind>.json.gz, recorded once (the shared captures do not
# change): a capture or command not recorded there is dissected live.
#   TAPBEAT_UPDATE_TSHARK=1 pytest tests/integration/test_http_vs_tshark.py ...
# dissects every capture again and rewrites the file.
TSHARK_DIR = os.path.join(ROOT, "tests", "data", "tshark")
UPDATE_TSHARK = os.environ.get("TAPBEAT_UPDATE_TSHARK") == "1"
_tshark_cache = {}
_tshark_dirty = set()
_tshark_live = collections.Counter()  # kind -> dissections not found in the recording


def _tshark_file(kind):
    return os.path.join(TSHARK_DIR, kind + ".json.gz")


def tshark_output(kind, rel, args, timeout=300):
    """tshark -n -r CAPTURE ARGS... for ../shared/pcaps/REL: its standard output."""
    import gzip
    if kind not in _tshark_cache:
        entries = {}
        if not UPDATE_TSHARK and os.path.exists(_tshark_file(kind)):
            with gzip.open(_tshark_file(kind), "rt") as f:
                entries = json.load(f)
        _tshark_cache[kind] = entries
    entries = _tshark_cache[kind]
    path = pcap(rel)
    key = json.dumps([rel, os.path.getsize(path), list(args)])
    if key not in entries:
        out = subprocess.run(["tshark", "-n", "-r", path] + list(args), capture_output=True, text=True,
                             timeout=timeout).stdout
        entries[key] = out
        _tshark_dirty.add(kind)
        _tshark_live[kind] += 1
    return entries[key]


def tshark_rows(kind, rel, display_filter, fields, before=(), occurrence="f", aggregate=False, desegment=True):
    """tshark -T fields for the capture (recorded under `kind`): one list of the
    fields' values per frame that has them all."""
    args = list(before) + ["-Y", display_filter, "-T", "fields", "-E", "separator=|", "-E", f"occurrence={occurrence}"]
    if aggregate:
        args += ["-E", "aggregator=,"]
    if desegment:
        args += ["-o", "tcp.desegment_tcp_streams:TRUE"]
    for f in fields:
        args += ["-e", f]
    out = tshark_output(kind, rel, args)
    return [v for v in (line.split("|") for line in out.splitlines()) if len(v) >= len(fields)]


def pytest_terminal_summary(terminalreporter):
    """A dissection missing from the recording runs tshark live (tens of seconds for a
    kind): say so, so that the recording is brought up to date."""
    if _tshark_live and not UPDATE_TSHARK:
        terminalreporter.write_line(
            "tshark dissections not recorded, run live: " +
            ", ".join(f"{k} {n}" for k, n in sorted(_tshark_live.items())) +
            " (record them: TAPBEAT_UPDATE_TSHARK=1 pytest on the tests that read them)", yellow=True)


def pytest_sessionfinish(session, exitstatus):
    import gzip
    if not UPDATE_TSHARK:
        return
    os.makedirs(TSHARK_DIR, exist_ok=True)
    for kind in _tshark_dirty:
        with gzip.open(_tshark_file(kind), "wt", compresslevel=9) as f:
            json.dump(_tshark_cache[kind], f, sort_keys=True, separators=(",", ":"))
