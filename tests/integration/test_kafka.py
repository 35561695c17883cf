"""output.kafka against a real Apache Kafka broker (KRaft, started by scripts/kafka on
TAPBEAT_KAFKA_PORT, 19092 by default), consumed back with kcat.

What is checked: the events in Kafka equal the console output for the same capture;
keys, record timestamps, headers and topic rules route as configured; the hash
partitioner keeps a conversation in one partition; a broker killed and restarted in
the middle of a run still gets every event exactly once; an unreachable broker at
start is a clear error, or fills the disk queue, which a later run drains in order.
"""
import collections
import datetime
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from conftest import BIN, ROOT, final_stats, run_tapbeat, wait_for_line
import dns_traffic

PORT = int(os.environ.get("TAPBEAT_KAFKA_PORT", "19092"))
BROKER = f"127.0.0.1:{PORT}"
SCRIPT = os.path.join(ROOT, "scripts", "kafka")
ENV = dict(os.environ, KAFKA_PORT=str(PORT))


def kafka(*args, check=True):
    return subprocess.run([SCRIPT, *args], env=ENV, capture_output=True, text=True, timeout=300, check=check)


@pytest.fixture(scope="module")
def broker():
    p = kafka("start", check=False)
    if p.returncode != 0:
        pytest.fail("scripts/kafka start failed:\n" + p.stderr[-3000:])
    yield BROKER


@pytest.fixture(scope="module")
def traffic(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("kafka") / "dns.pcap")
    dns_traffic.write(path, count=2000, seconds=6.0)
    return path


BASE = """packetbeat.interfaces.device: any
packetbeat.interfaces.internal_networks: [private]
packetbeat.flows: {timeout: 2s, period: -1s}
packetbeat.protocols:
  - {type: dns, ports: [53]}
  - {type: icmp, enabled: true}
tapbeat.workers: 1
tapbeat.progress: false
tapbeat.stats_period: 1h
"""


def write_config(tmp_path, output, extra=""):
    # Runs that expect every event delivered wait up to 60 s for the broker (a run ends as
    # soon as all are acknowledged): right after a test restarts the broker, this 2-core
    # machine has taken more than the default 5 s to acknowledge 4,000 records.
    if "shutdown_timeout" not in extra:
        extra += "tapbeat.shutdown_timeout: 60s\n"
    path = tmp_path / "tapbeat.yml"
    path.write_text(BASE + extra + output)
    return str(path)


# Where no broker answers: the disk queue's tests spool there (no broker to stop and start).
NOWHERE = "127.0.0.1:1"


def kafka_output(topic, extra="", hosts=BROKER):
    return f"""output.kafka:
  hosts: ["{hosts}"]
  topic: "{topic}"
  timeout: 5s
  backoff: {{init: 100ms, max: 1s}}
{extra}"""


def consume(topic, expect=None, timeout=60):
    """Every record of `topic`: (partition, key, timestamp_ms, headers, value)."""
    deadline = time.time() + timeout
    while True:
        p = subprocess.run(["kcat", "-b", BROKER, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                            "-f", "%p\t%k\t%T\t%h\t%s\n"], capture_output=True, text=True, timeout=120)
        records = [tuple(line.split("\t", 4)) for line in p.stdout.splitlines() if line]
        if expect is None or len(records) >= expect or time.time() > deadline:
            return records
        time.sleep(0.5)


def normal(line):
    """An event without what differs between two runs."""
    e = json.loads(line)
    e["agent"].pop("ephemeral_id", None)
    return json.dumps(e, sort_keys=True)


def console_events(capture, tmp_path):
    cfg = write_config(tmp_path, "output.console: {}\n")
    proc = run_tapbeat(["-c", cfg, "-I", capture, "-t"])
    return proc.stdout.splitlines()


def test_events_in_kafka_equal_the_console_output(broker, traffic, tmp_path):
    topic = f"tb-equal-{uuid.uuid4().hex[:8]}"
    expected = console_events(traffic, tmp_path)
    cfg = write_config(tmp_path, kafka_output(topic))
    proc = run_tapbeat(["-c", cfg, "-I", traffic, "-t"])
    stats = final_stats(proc.stderr)
    assert stats["output.kafka.acked"] == len(expected) == 4000
    assert stats["output.kafka.failed"] == 0
    records = consume(topic, expect=len(expected))
    assert collections.Counter(normal(r[4]) for r in records) == collections.Counter(normal(l) for l in expected)
    # Key: network.community_id; record timestamp: @timestamp.
    for _, key, ts, _, value in records:
        e = json.loads(value)
        assert key == e["network"]["community_id"]
        y, rest = e["@timestamp"][:19], e["@timestamp"][19:]
        t = datetime.datetime.strptime(y, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
        ms = int(t.timestamp() * 1000) + (int(rest[1:4]) if rest.startswith(".") else 0)
        assert int(ts) == ms


def test_topic_rules_keys_and_headers_route_as_configured(broker, traffic, tmp_path):
    tag = uuid.uuid4().hex[:8]
    extra = f"""  topics:
    - topic: "flows-{tag}"
      when.equals: {{type: flow}}
    - topic: "%{{[event.dataset]}}"
      mappings: {{dns: "names-{tag}"}}
      default: "other-{tag}"
  key: "%{{[source.port]}}"
  headers:
    - {{key: origin, value: tapbeat-test}}
  compression: lz4
"""
    cfg = write_config(tmp_path, kafka_output(f"fallback-{tag}", extra))
    proc = run_tapbeat(["-c", cfg, "-I", traffic, "-t"])
    stats = final_stats(proc.stderr)
    assert stats["output.kafka.acked"] == 4000
    flows = consume(f"flows-{tag}", expect=2000)
    names = consume(f"names-{tag}", expect=2000)
    assert len(flows) == 2000 and len(names) == 2000
    assert all(json.loads(r[4])["type"] == "flow" for r in flows)
    assert all(json.loads(r[4])["type"] == "dns" for r in names)
    for _, key, _, headers, value in flows + names:
        assert key == str(json.loads(value)["source"]["port"])
        assert headers == "origin=tapbeat-test"


def test_hash_partitioner_keeps_a_conversation_in_one_partition(broker, traffic, tmp_path):
    topic = f"tb-parts-{uuid.uuid4().hex[:8]}"
    p = kafka("topic", topic, "4", check=False)
    assert p.returncode == 0, p.stderr
    cfg = write_config(tmp_path, kafka_output(topic))
    run_tapbeat(["-c", cfg, "-I", traffic, "-t"])
    records = consume(topic, expect=4000)
    assert len(records) == 4000
    by_key = collections.defaultdict(set)
    for part, key, _, _, _ in records:
        by_key[key].add(part)
    assert len(by_key) == 2000  # one community_id per client port, flow and dns share it
    assert all(len(parts) == 1 for parts in by_key.values())
    used = collections.Counter(part for part, *_ in records)
    assert len(used) == 4 and min(used.values()) > 500, used


# Nothing is lost; a record repeats only in the case the README names ("At least once, without
# duplicates"): librdkafka took a new producer id or epoch (the broker no longer knew the
# producer, or their sequences disagreed) and resent under it records the broker had written,
# which output.kafka.producer_id_changes counts. Mostly the restart repeats nothing at all.
def test_broker_killed_and_restarted_mid_run_loses_nothing_and_repeats_only_under_a_new_producer_epoch(
        broker, traffic, tmp_path):
    topic = f"tb-crash-{uuid.uuid4().hex[:8]}"
    expected = console_events(traffic, tmp_path)
    cfg = write_config(tmp_path, kafka_output(topic), extra="tapbeat.shutdown_timeout: 90s\n")
    # Real-time replay: the capture spans 6 s of packet time.
    proc = subprocess.Popen([BIN, "-c", cfg, "-I", traffic], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    kafka("kill")
    time.sleep(3.0)
    started = kafka("start", check=False)
    out, err = proc.communicate(timeout=180)
    assert started.returncode == 0, started.stderr
    assert proc.returncode == 0, err[-3000:]
    stats = final_stats(err)
    assert stats["output.kafka.acked"] == len(expected), {k: v for k, v in stats.items() if k.startswith("output")}
    assert stats["output.kafka.broker_errors"] > 0  # it did see the broker go away
    assert stats["output.kafka.failed"] == 0 and stats["output.kafka.queued"] == 0
    records = consume(topic, expect=len(expected))
    got = collections.Counter(normal(r[4]) for r in records)
    want = collections.Counter(normal(l) for l in expected)
    missing = want - got
    repeated = got - want
    output = {k: v for k, v in stats.items() if k.startswith("output.kafka")}
    kafka_log = [l for l in err.splitlines() if "output.kafka" in l and "final stats" not in l][-40:]
    assert not missing, (sum(missing.values()), output, kafka_log)
    assert not repeated or output["output.kafka.producer_id_changes"] > 0, (sum(repeated.values()), output, kafka_log)
    # In order within the partition: dns events come out in packet-time order (a record
    # repeated under a new epoch counted where it first came).
    seen, dns_ts = set(), []
    for r in records:
        if r[4] in seen:
            continue
        seen.add(r[4])
        if json.loads(r[4])["type"] == "dns":
            dns_ts.append(json.loads(r[4])["@timestamp"])
    assert dns_ts == sorted(dns_ts)


def test_sigterm_with_the_broker_down_stops_within_shutdown_timeout(broker, traffic, tmp_path):
    # No disk queue: once the broker is gone, events wait in memory (queue.mem.events)
    # and then in the workers' chunks. SIGTERM must end the run within shutdown_timeout
    # with every event either in the topic or counted as lost.
    topic = f"tb-stop-{uuid.uuid4().hex[:8]}"
    cfg = write_config(tmp_path, kafka_output(topic).replace("timeout: 5s", "timeout: 120s"),
                       extra="tapbeat.shutdown_timeout: 2s\nqueue.mem.events: 64\n")
    proc = subprocess.Popen([BIN, "-c", cfg, "-I", traffic], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        kafka("kill")
        time.sleep(2.5)
        assert proc.poll() is None
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("tapbeat did not stop within 30 s of SIGTERM with the broker down")
        took = time.monotonic() - t0
    finally:
        assert kafka("start", check=False).returncode == 0
    assert took < 2.0 + 3.0, took
    stats = final_stats(err)
    out = {k: v for k, v in stats.items() if k.startswith("output") or k.startswith("events")}
    assert stats["output.kafka.acked"] + stats["output.kafka.failed"] == stats["output.events.written"], out
    assert stats["events.emitted"] == stats["output.events.written"] + stats["output.events.dropped_shutdown"], out
    assert stats["output.kafka.failed"] + stats["output.events.dropped_shutdown"] > 0, out
    # The topic holds what was acknowledged, and of the failed ones at most those that
    # were in flight when the broker died (written by it, never answered).
    held = len(consume(topic, expect=stats["output.kafka.acked"], timeout=30))
    assert stats["output.kafka.acked"] <= held <= stats["output.kafka.acked"] + stats["output.kafka.possibly_persisted"], out


def test_record_timestamp_received_stamps_records_when_published(broker, traffic, tmp_path):
    # The capture's packets are from 2023: with record_timestamp: received, records carry
    # the time tapbeat published them, so a topic's retention keeps a replayed capture.
    topic = f"tb-rts-{uuid.uuid4().hex[:8]}"
    before = int(time.time() * 1000)
    cfg = write_config(tmp_path, kafka_output(topic, "  record_timestamp: received\n"))
    proc = run_tapbeat(["-c", cfg, "-I", traffic, "-t"])
    after = int(time.time() * 1000)
    acked = final_stats(proc.stderr)["output.kafka.acked"]
    records = consume(topic, expect=acked)
    assert len(records) == acked > 0
    assert all(before <= int(r[2]) <= after for r in records)
    bad = write_config(tmp_path, kafka_output(topic, "  record_timestamp: packet\n"))
    proc = run_tapbeat(["test", "config", "-c", bad], check=False)
    assert proc.returncode == 1 and "output.kafka.record_timestamp" in proc.stderr


def test_test_output_connects_to_the_broker(broker, tmp_path):
    cfg = write_config(tmp_path, kafka_output("tb-test-output"))
    proc = run_tapbeat(["test", "output", "-c", cfg])
    assert "kafka output: connection OK" in proc.stdout
    # A disk queue does not stand in for a broker here.
    down = tmp_path / "down.yml"
    down.write_text(BASE + f"queue.disk: {{path: '{tmp_path / 'spool'}'}}\n" +
                    'output.kafka: {hosts: ["127.0.0.1:1"], topic: t, timeout: 2s}\n')
    proc = run_tapbeat(["test", "output", "-c", str(down)], check=False)
    assert proc.returncode == 1 and "no Kafka broker of 127.0.0.1:1 answered" in proc.stderr


def test_unreachable_broker_at_start_does_not_stop_capture(tmp_path, traffic):
    # No broker: the run says so and goes on, its events waiting in librdkafka's queue
    # (messages never expire there). Stopped by a signal, what waited is counted lost.
    cfg = tmp_path / "t.yml"
    cfg.write_text(BASE + 'output.kafka: {hosts: ["127.0.0.1:1"], topic: t, timeout: 2s}\n'
                   "tapbeat.shutdown_timeout: 0s\n")
    proc = subprocess.Popen([BIN, "-c", str(cfg), "-I", traffic, "-t"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        seen = wait_for_line(proc, "capture goes on")
        assert "output.kafka.hosts: no Kafka broker of 127.0.0.1:1 answered within 2" in seen[-1]
        assert "queue.disk" in seen[-1]
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    stats = final_stats(err)
    assert stats["output.kafka.acked"] == 0 and stats["events.emitted"] > 0
    # Every emitted event is accounted for: lost at the output or never taken from a worker.
    assert stats["output.kafka.failed"] + stats["output.events.dropped_shutdown"] == stats["events.emitted"]
    assert "lost (output.kafka.failed)" in err


def test_unreachable_broker_fills_the_disk_queue_and_a_later_run_drains_it(broker, traffic, tmp_path):
    topic = f"tb-spool-{uuid.uuid4().hex[:8]}"
    spool = tmp_path / "spool"
    queue = f"queue.disk: {{path: '{spool}', max_size: 64MiB}}\ntapbeat.shutdown_timeout: 2s\n"
    expected = console_events(traffic, tmp_path)
    cfg = write_config(tmp_path, kafka_output(topic, hosts=NOWHERE), extra=queue)
    proc = run_tapbeat(["-c", cfg, "-I", traffic, "-t"])
    stats = final_stats(proc.stderr)
    assert stats["output.kafka.acked"] == 0
    assert stats["output.queue.disk.spooled"] == len(expected)
    assert "events go to the disk queue" in proc.stderr
    assert any(f.endswith(".tbq") for f in os.listdir(spool))
    # A second run with nothing to capture: it sends what the first one spooled.
    empty = tmp_path / "empty.pcap"
    dns_traffic.write(str(empty), count=0)
    cfg = write_config(tmp_path, kafka_output(topic), extra=queue.replace("2s", "60s"))
    proc = run_tapbeat(["-c", cfg, "-I", str(empty), "-t"])
    stats = final_stats(proc.stderr)
    assert stats["output.queue.disk.read"] == len(expected)
    assert stats["output.kafka.acked"] == len(expected)
    assert "holds" in proc.stderr and "from an earlier run" in proc.stderr
    records = consume(topic, expect=len(expected))
    assert collections.Counter(normal(r[4]) for r in records) == collections.Counter(normal(l) for l in expected)
    # The disk queue drained in order: the records come back in the order they were written.
    assert [normal(r[4]) for r in records] == [normal(l) for l in expected]
    assert not any(f.endswith(".tbq") for f in os.listdir(spool))


def test_bad_kafka_settings_name_the_key(tmp_path):
    cases = [
        ('output.kafka: {hosts: [a:9092], topic: "%{[type]"}', "output.kafka: topic: unclosed"),
        ('output.kafka: {hosts: [a:9092], topic: t, compression: brotli}', "output.kafka.compression"),
        ('output.kafka: {hosts: [a:9092], topic: t, required_acks: 1, idempotent: true}', "output.kafka.idempotent"),
        ('output.kafka: {hosts: [a:9092], topic: t, librdkafka: {no.such.property: 1}}', "output.kafka.librdkafka.no.such.property"),
        ('output.kafka: {hosts: [a:9092], topic: t, partition: {round_robin: {group_events: 0}}}', "group_events"),
        ('output.kafka: {hosts: [a:9092], topic: t}\nqueue.disk: {max_size: lots}', "queue.disk.max_size"),
    ]
    for text, key in cases:
        cfg = tmp_path / "bad.yml"
        cfg.write_text(BASE + text + "\n")
        proc = run_tapbeat(["-c", str(cfg), "-I", os.path.join(ROOT, "tests", "data", "sample.pcap"), "-t"], check=False)
        assert proc.returncode != 0, text
        assert key in proc.stderr, (text, proc.stderr[-1000:])


def test_hash_fields_partition_direct_and_spooled_events_alike(broker, traffic, tmp_path):
    # Every event has network.transport "udp": hashing that one field puts them all in
    # one partition, whether they go straight to the broker or through the disk queue.
    direct, spooled = (f"tb-hashf-{k}-{uuid.uuid4().hex[:8]}" for k in ("direct", "spooled"))
    for t in (direct, spooled):
        assert kafka("topic", t, "4", check=False).returncode == 0
    hashed = "  partition.hash: {hash: [network.transport]}\n"
    proc = run_tapbeat(["-c", write_config(tmp_path, kafka_output(direct, hashed)), "-I", traffic, "-t"])
    assert final_stats(proc.stderr)["output.kafka.acked"] == 4000
    queue = f"queue.disk: {{path: '{tmp_path / 'spool'}', max_size: 64MiB}}\ntapbeat.shutdown_timeout: 2s\n"
    run_tapbeat(["-c", write_config(tmp_path, kafka_output(spooled, hashed, NOWHERE), extra=queue), "-I", traffic,
                 "-t"], check=False)
    empty = tmp_path / "empty.pcap"
    dns_traffic.write(str(empty), count=0)
    run_tapbeat(["-c", write_config(tmp_path, kafka_output(spooled, hashed), extra=queue.replace("2s", "60s")),
                 "-I", str(empty), "-t"])
    for t in (direct, spooled):
        records = consume(t, expect=4000)
        assert len(records) == 4000
        assert len({part for part, *_ in records}) == 1, (t, collections.Counter(p for p, *_ in records))
