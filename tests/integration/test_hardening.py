"""Hostile or careless input around the process, as an operator or another local user
could give it: credentials must not reach the logs, output files must not be written
through links planted by someone else, a configuration must not cost unbounded memory
or time to read, and `tapbeat test config` must refuse what a run refuses."""
import datetime
import os
import resource
import signal
import subprocess
import time

import pytest

from conftest import BIN, GOLDEN_CONFIG, ROOT, pcap, run_tapbeat, wait_for_line
from test_shutdown import SilentElasticsearch

SAMPLE = os.path.join(ROOT, "tests", "data", "sample.pcap")
CONFIG = os.path.join(ROOT, "configs", "tapbeat.yml")


def run(args, timeout=60, mem_mb=None):
    def limit():
        if mem_mb:
            resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, preexec_fn=limit)


# ---- credentials ----------------------------------------------------------------------

def test_credentials_in_a_host_url_are_masked_when_connected_and_when_unreachable():
    es = SilentElasticsearch()
    try:
        host = es.url.replace("http://", "http://elastic:Pa55word@")
        proc = run(["-c", GOLDEN_CONFIG, "-I", SAMPLE, "-t", "-E", "output.console.enabled=false",
                    "-E", f'output.elasticsearch.hosts=["{host}"]', "-E", "tapbeat.shutdown_timeout=1s"])
    finally:
        es.close()
    assert "connected to http://elastic:xxxxx@127.0.0.1" in proc.stderr
    assert "Pa55word" not in proc.stderr + proc.stdout
    proc = run(["test", "output", "-c", GOLDEN_CONFIG, "-E", "output.console.enabled=false",
                "-E", 'output.elasticsearch.hosts=["https://elastic:Pa55word@127.0.0.1:1"]',
                "-E", "output.elasticsearch.timeout=1s"])
    assert proc.returncode != 0 and "elastic:xxxxx@127.0.0.1:1" in proc.stderr
    assert "Pa55word" not in proc.stderr
    # A run goes on without the host; its warning masks the credentials too.
    proc = subprocess.Popen([BIN, "-c", GOLDEN_CONFIG, "-I", SAMPLE, "-E", "output.console.enabled=false",
                             "-E", 'output.elasticsearch.hosts=["https://elastic:Pa55word@127.0.0.1:1"]',
                             "-E", "tapbeat.shutdown_timeout=0s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = wait_for_line(proc, "capture goes on")[-1]
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "elastic:xxxxx@127.0.0.1:1" in line
    assert "Pa55word" not in line + rest


@pytest.mark.parametrize("arg", ["Pa55word", "output.elasticsearch.password=[Pa55word",
                                 "output.kafka.password=Pa55word\n---\nx"])
def test_a_malformed_override_does_not_echo_its_value(arg):
    proc = run(["test", "config", "-c", GOLDEN_CONFIG, "-E", arg])
    assert proc.returncode == 1 and "config error: -E" in proc.stderr
    assert "Pa55word" not in proc.stderr


# ---- files written as root -------------------------------------------------------------

def today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")


def file_run(path, *extra):
    return run(["-c", CONFIG, "-I", SAMPLE, "-t", "-E", f"output.file.path={path}", *extra])


@pytest.mark.parametrize("rotate", ["true", "false"])
def test_a_planted_symlink_is_never_written_through(tmp_path, rotate):
    victim = tmp_path / "victim"
    victim.write_text("one line\n")
    victim.chmod(0o600)
    planted = tmp_path / "shared"
    planted.mkdir()
    planted.chmod(0o1777)  # sticky and world-writable, as /tmp
    for name in (f"tapbeat-{today()}.ndjson", f"tapbeat-{today()}-1.ndjson"):
        (planted / name).symlink_to(victim)
    proc = file_run(planted, "-E", f"output.file.rotate_on_startup={rotate}")
    assert victim.read_text() == "one line\n"
    if rotate == "false":
        assert proc.returncode == 1 and "is a symbolic link; refusing to write through it" in proc.stderr
    else:  # the links are passed over as existing files; events go to a new file of tapbeat's own
        assert proc.returncode == 0, proc.stderr[-1000:]
        written = [p for p in planted.iterdir() if not p.is_symlink()]
        assert written and all(p.stat().st_uid == os.geteuid() for p in written)


def test_a_planted_hard_link_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("one line\n")
    out = tmp_path / "out"
    out.mkdir()
    os.link(victim, out / f"tapbeat-{today()}.ndjson")
    proc = file_run(out, "-E", "output.file.rotate_on_startup=false")
    assert proc.returncode == 1 and "hard links; refusing" in proc.stderr
    assert victim.read_text() == "one line\n"


def test_folders_another_user_controls_are_refused(tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    proc = file_run(open_dir)
    assert proc.returncode == 1 and "writable by every user and not sticky" in proc.stderr
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    proc = file_run(theirs)
    assert proc.returncode == 1 and "belongs to uid 65534" in proc.stderr
    # The same refusals from `test config`, which creates nothing.
    for d in (open_dir, theirs):
        proc = run(["test", "config", "-c", CONFIG, "-E", f"output.file.path={d}"])
        assert proc.returncode == 1 and "output.file.path" in proc.stderr
    fresh = tmp_path / "not" / "yet"
    assert run(["test", "config", "-c", CONFIG, "-E", f"output.file.path={fresh}"]).returncode == 0
    assert not fresh.exists() and not fresh.parent.exists()


def test_the_default_file_path_is_under_path_data(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("tapbeat.interfaces.device: any\noutput.file: {}\n")
    proc = run(["-c", str(cfg), "-I", SAMPLE, "-t", "-E", f"path.data={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert (tmp_path / "events").is_dir() and (tmp_path / "events").stat().st_mode & 0o777 == 0o750
    assert any((tmp_path / "events").iterdir())


# ---- reading the configuration ------------------------------------------------------------

BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] +
                 [f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")]) + "\n"


def test_an_alias_bomb_is_refused_in_bounded_memory_and_time(tmp_path):
    cfg = tmp_path / "bomb.yml"
    cfg.write_text(BOMB)
    t0 = time.monotonic()
    proc = run(["test", "config", "-c", str(cfg)], timeout=30, mem_mb=1024)
    assert proc.returncode == 1
    assert "expands to more than 100000 values" in proc.stderr, proc.stderr[-500:]
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("path,why", [("/dev/zero", "is not a regular file"), ("/dev/urandom", "is not a regular file"),
                                      ("/tmp", "is a directory")])
def test_a_config_that_is_not_a_file_is_refused(path, why):
    proc = run(["test", "config", "-c", path], timeout=30, mem_mb=1024)
    assert proc.returncode == 1 and why in proc.stderr


def test_a_config_larger_than_the_bound_is_refused(tmp_path):
    cfg = tmp_path / "big.yml"
    cfg.write_text("# " + "x" * (5 << 20) + "\noutput.console: {}\n")
    proc = run(["test", "config", "-c", str(cfg)], mem_mb=1024)
    assert proc.returncode == 1 and "is larger than 4 MiB" in proc.stderr


def test_strict_perms_as_beats(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("output.console: {}\n")
    cfg.chmod(0o664)
    proc = run(["test", "config", "-c", str(cfg)])
    assert proc.returncode == 1 and "is writable by group or others (mode 0664)" in proc.stderr
    assert run(["test", "config", "-c", str(cfg), "--strict.perms=false"]).returncode == 0
    cfg.chmod(0o644)
    os.chown(cfg, 65534, 65534)
    proc = run(["test", "config", "-c", str(cfg)])
    assert proc.returncode == 1 and "must be owned by the user running tapbeat" in proc.stderr
    assert run(["test", "config", "-c", str(cfg), "-strict.perms=false"]).returncode == 0


def test_test_output_with_nothing_to_connect_to():
    proc = run(["test", "output", "-c", GOLDEN_CONFIG])
    assert proc.returncode == 0 and "console output: nothing to connect to; settings OK" in proc.stdout


# ---- test config refuses what a run refuses ------------------------------------------------

CONSOLE_OFF = ["-E", "output.console.enabled=false"]
PARITY = {
    "unknown output only": ("output.mqtt: {hosts: [a]}\n", [], "no output is configured"),
    "no output": ("tapbeat.interfaces.device: any\n", [], "no output is configured"),
    "empty file": ("", [], "no output is configured"),
    "bad BPF": ("output.console: {}\n", ["-E", "tapbeat.interfaces.bpf_filter=tcpx port 80"],
                "bpf_filter"),
    "file path under a file": ("output.file: {path: /etc/hostname/events}\n", [], "output.file.path"),
    "Elasticsearch port 99999": ("output.elasticsearch: {hosts: ['127.0.0.1:99999']}\n", [],
                                 "port 99999 is out of range"),
    "Elasticsearch URL with a bad scheme": ("output.elasticsearch: {hosts: ['htp://127.0.0.1:9200']}\n", [],
                                           "the scheme must be http or https"),
    "Elasticsearch URL with a space": ("output.elasticsearch: {hosts: ['http://local host:9200']}\n", [],
                                       "has no place in a host name"),
    "Kafka port 99999": ("output.kafka: {hosts: ['127.0.0.1:99999'], topic: t}\n", [], "port 99999 is out of range"),
    "Logstash port 99999": ("output.logstash: {hosts: ['127.0.0.1:99999']}\n", [], "output.logstash.hosts"),
    "api_key and password": ("output.elasticsearch: {hosts: ['127.0.0.1:9200'], api_key: 'a:b', password: p}\n", [],
                             "output.elasticsearch.api_key: api_key and username/password exclude each other"),
    "bad SASL mechanism": ("output.kafka: {hosts: ['127.0.0.1:9092'], topic: t, username: u, password: p, "
                           "sasl: {mechanism: BOGUS}}\n", [], "output.kafka.sasl.mechanism"),
    "missing CA for Elasticsearch": ("output.elasticsearch: {hosts: ['127.0.0.1:9200'], "
                                     "ssl: {certificate_authorities: [/nonexistent/ca.pem]}}\n", [],
                                     "output.elasticsearch.ssl.certificate_authorities"),
    "missing client certificate for Elasticsearch": ("output.elasticsearch: {hosts: ['127.0.0.1:9200'], "
                                                     "ssl: {certificate: /nonexistent/c.pem, key: /nonexistent/k.pem}}\n",
                                                     [], "output.elasticsearch.ssl.certificate: cannot read"),
    "missing CA for Kafka": ("output.kafka: {hosts: ['127.0.0.1:9092'], topic: t, "
                             "ssl: {certificate_authorities: [/nonexistent/ca.pem]}}\n", [], "output.kafka"),
    "missing CA for Logstash": ("output.logstash: {hosts: ['127.0.0.1:5044'], "
                                "ssl: {certificate_authorities: [/nonexistent/ca.pem]}}\n", [],
                                "output.logstash.ssl.certificate_authorities"),
    "max_flows past 32 bits": ("output.console: {}\n", ["-E", "tapbeat.flow_table.max_flows=4294967296"],
                               "tapbeat.flow_table.max_flows: expected a non-negative integer of at most"),
    "max_flows past 2^30": ("output.console: {}\n", ["-E", "tapbeat.flow_table.max_flows=2000000000"],
                            "tapbeat.flow_table.max_flows: must be at most 1073741824"),
    "max_flows past the machine's memory": ("output.console: {}\n", ["-E", "tapbeat.flow_table.max_flows=1073741824"],
                                            "of flow tables"),
    "burst_size that would wrap": ("output.console: {}\n", ["-E", "tapbeat.dpdk.burst_size=65537"],
                                   "tapbeat.dpdk.burst_size"),
    "duplicate key": ("output.console: {}\ntapbeat.workers: 1\ntapbeat.workers: 2\n", [], "set twice"),
    "second document": ("output.console: {}\n---\ntapbeat.workers: 2\n", [], "holds 2 YAML documents"),
    "second document in -E": ("output.console: {}\n", ["-E", "tapbeat.workers=1\n---\n2"], "more than one YAML document"),
}


@pytest.mark.parametrize("case", sorted(PARITY))
def test_test_config_refuses_what_a_run_refuses(tmp_path, case):
    text, extra, why = PARITY[case]
    cfg = tmp_path / "c.yml"
    cfg.write_text(text)
    checked = run(["test", "config", "-c", str(cfg), *extra])
    assert checked.returncode == 1 and why in checked.stderr, checked.stderr[-800:]
    ran = run(["-c", str(cfg), "-I", SAMPLE, "-t", *extra], timeout=60)
    assert ran.returncode == 1 and why in ran.stderr, ran.stderr[-800:]
