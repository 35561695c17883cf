"""Cassandra (CQL native protocol) transactions.

From Packetbeat's captures: every request tshark dissects is published with its query,
responses pair by stream id (not by arrival), and nothing is malformed.

From live traffic: a real Cassandra node (cassandra-all from Maven Central, started by
scripts/cassandra) on loopback, the DataStax Python driver from Debian
(python3-cassandra) running a scripted workload over protocol v3, v4 (snappy, LZ4) and
v5 (plain and LZ4 segments), tapbeat capturing on lo through libpcap. Each event is
checked against what the client sent and what the driver read back."""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import GOLDEN_CONFIG, ROOT, events_of, final_stats, live_config, pcap, run_live, run_tapbeat

PORT = int(os.environ.get("TAPBEAT_CASSANDRA_PORT", "19042"))
STORAGE_PORT = PORT - 2000
V4 = "beats/cassandra/v4/"


def cql_events(capture, overrides=()):
    events, proc = events_of(pcap(capture), ["packetbeat.flows.enabled=false", "tapbeat.detect=ports", *overrides])
    return [e for e in events if e.get("type") == "cassandra"], final_stats(proc.stderr)


def tshark_requests(path):
    """How many CQL request frames tshark dissects (direction 0 in the version byte)."""
    out = subprocess.run(["tshark", "-r", path, "-d", "tcp.port==9042,cql", "-Y", "cql", "-T", "fields", "-E",
                          "occurrence=a", "-E", "aggregator=|", "-e", "cql.direction"],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() for d in line.split("|") if int(d, 16) == 0)


@pytest.mark.parametrize("capture", sorted(os.path.basename(p) for p in os.listdir(pcap(V4))))
def test_every_request_of_packetbeats_captures(capture):
    if not shutil.which("tshark"):
        pytest.fail("tshark is not installed (scripts/setup installs it)")
    events, s = cql_events(V4 + capture)
    # The request frames tshark sees; each is answered in these captures, except the
    # ones whose answer lies past the capture's end (published as unmatched).
    assert s["cassandra.requests"] == tshark_requests(pcap(V4 + capture))
    assert len(events) == s["cassandra.requests"]
    assert s["cassandra.malformed"] == 0 and s["cassandra.violations"] == 0
    assert s["cassandra.unmatched_responses"] == 0 and s["cassandra.decompress_errors"] == 0
    for e in events:
        rq, rp = e["cassandra"]["request"]["headers"], e["cassandra"].get("response", {}).get("headers")
        if rp:
            assert rq["stream"] == rp["stream"], e["cassandra"]
        if rq["op"] == "QUERY":
            assert e["cassandra"]["request"]["query"]


def test_compressed_pairs_by_stream_id():
    events, s = cql_events(V4 + "cassandra_compressed.pcap")
    assert s["cassandra.compressed"] > 0
    by_query = {e["cassandra"]["request"].get("query"): e for e in events}
    peers = by_query["SELECT * FROM system.peers"]["cassandra"]
    assert peers["request"]["headers"]["stream"] == peers["response"]["headers"]["stream"] == 64
    meta = peers["response"]["result"]["rows"]
    assert meta["num_rows"] == 0 and meta["meta"] == {"flags": "GlobalTableSpec", "col_count": 9,
                                                      "keyspace": "system", "table": "peers"}
    local = by_query["SELECT * FROM system.local WHERE key='local'"]["cassandra"]
    assert local["request"]["headers"]["stream"] == local["response"]["headers"]["stream"] == 0
    assert local["response"]["result"]["rows"]["num_rows"] == 1
    assert local["response"]["result"]["rows"]["meta"]["table"] == "local"


def test_compressed_without_startup_needs_compressor():
    # The STARTUP of the compressed capture names snappy; from the connection's second
    # frame on (as if the capture began there) only `compressor` says how to open them.
    events, s = cql_events(V4 + "cassandra_compressed.pcap", ["packetbeat.protocols.cassandra.compressor=snappy"])
    assert s["cassandra.no_compressor"] == 0


def test_ignored_ops_and_headers_off():
    events, _ = cql_events(V4 + "cassandra_mixed_frame.pcap",
                           ["packetbeat.protocols.cassandra.ignored_ops=[OPTIONS,REGISTER,STARTUP]",
                            "packetbeat.protocols.cassandra.send_request_header=false",
                            "packetbeat.protocols.cassandra.send_response_header=false"])
    assert events and all("headers" not in e["cassandra"].get("request", {}) for e in events)
    assert all("headers" not in e["cassandra"].get("response", {}) for e in events)
    assert all("query" in e["cassandra"]["request"] for e in events)  # only QUERYs are left


def test_bad_ignored_op_is_a_config_error():
    p = run_tapbeat(["-c", GOLDEN_CONFIG, "-I", pcap(V4 + "cassandra_select.pcap"), "-t", "-E",
                     "packetbeat.protocols.cassandra.ignored_ops=[QUERY,SELECT]"], check=False)
    assert p.returncode != 0
    assert "ignored_ops[1]" in p.stderr and "'SELECT' is not a CQL opcode" in p.stderr


# ---------------------------------------------------------------------------------------
# Live: a Cassandra node and the Python driver.

@pytest.fixture(scope="module")
def node():
    if os.geteuid() != 0:
        pytest.skip("live capture needs root or cap_net_raw")
    env = dict(os.environ, CASSANDRA_PORT=str(PORT), CASSANDRA_STORAGE_PORT=str(STORAGE_PORT))
    script = os.path.join(ROOT, "scripts", "cassandra")
    subprocess.run([script, "reset"], env=env, check=True, timeout=120)
    subprocess.run([script, "start"], env=env, check=True, timeout=900)
    yield PORT
    subprocess.run([script, "stop"], env=env, timeout=120)


BIG = 300_000  # bytes of a blob: more than one v5 segment, more than a frame's read head
BLOB = os.urandom(BIG)  # random: compression leaves it as long


def workload(version, compression, ks):
    """Runs the scripted session; returns what the client knows of each of its requests."""
    from cassandra.cluster import Cluster
    from cassandra.query import BatchStatement, SimpleStatement
    from cassandra import InvalidRequest
    from cassandra.protocol import SyntaxException

    known = {}
    cluster = Cluster(["127.0.0.1"], port=PORT, protocol_version=version, compression=compression or False)
    s = cluster.connect()
    try:
        q = f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        s.execute(q)
        known[q] = ("schemaChanged", "KEYSPACE")
        q = f"CREATE TABLE {ks}.t (id int PRIMARY KEY, v text, b blob)"
        s.execute(q)
        known[q] = ("schemaChanged", "TABLE")
        q = f"USE {ks}"
        s.execute(q)
        known[q] = ("set_keyspace", ks)
        for i in range(20):
            q = f"INSERT INTO t (id, v) VALUES ({i}, 'value {i}')"
            s.execute(q)
            known[q] = ("void",)
        ins = s.prepare("INSERT INTO t (id, v, b) VALUES (?, ?, ?)")
        known["prepare:INSERT INTO t (id, v, b) VALUES (?, ?, ?)"] = ("prepared", ins.query_id.hex())
        for i in range(20, 23):
            s.execute(ins, (i, f"prepared {i}", b"\x00\x01"))
        s.execute(ins, (99, "big", BLOB))
        known["execute:INSERT INTO t (id, v, b) VALUES (?, ?, ?)"] = ("void", 4)
        batch = BatchStatement()
        for i in range(100, 110):
            batch.add(SimpleStatement(f"INSERT INTO t (id, v) VALUES ({i}, '{'w' * 150}')"))
        s.execute(batch)
        known["batch"] = ("void", 10)
        rows = list(s.execute(SimpleStatement("SELECT id, v FROM t WHERE id < 1000 ALLOW FILTERING",
                                              fetch_size=10)))
        known["paged"] = ("rows", len(rows))
        big = s.execute("SELECT b FROM t WHERE id = 99").one()
        assert big.b == BLOB
        known["SELECT b FROM t WHERE id = 99"] = ("rows", 1)
        for q, exc, code in ((f"SELECT * FROM {ks}.missing", InvalidRequest, 0x2200),
                             ("SELEC nothing", SyntaxException, 0x2000)):
            try:
                s.execute(q)
                raise AssertionError(f"{q} did not fail")
            except exc:
                known[q] = ("error", code)
        q = f"DROP KEYSPACE {ks}"
        s.execute(q)
        known[q] = ("schemaChanged", "KEYSPACE")
    finally:
        cluster.shutdown()
    return known


@pytest.mark.parametrize("version,compression", [(3, None), (4, "snappy"), (4, "lz4"), (5, None), (5, "lz4")],
                         ids=["v3", "v4-snappy", "v4-lz4", "v5", "v5-lz4"])
def test_live(node, tmp_path, version, compression):
    ks = f"tb_v{version}_{compression or 'plain'}"
    known = {}
    config = live_config("cassandra", PORT, "")

    def body():
        known.update(workload(version, compression, ks))
        time.sleep(0.5)  # the last answers reach tapbeat's capture before it stops

    out, err = run_live(config, tmp_path, body)
    s = final_stats(err)
    assert s["capture.pcap.dropped"] == 0 and s["stream.buffer_full"] == 0 and s["packets.snaplen_truncated"] == 0
    for k in ("malformed", "crc_errors", "decompress_errors", "no_compressor", "unmatched_responses", "violations",
              "unknown_opcodes", "queue_full", "store_full", "response_cut"):
        assert s[f"cassandra.{k}"] == 0, f"{k}: " + json.dumps(
            {n: v for n, v in s.items() if v and n.startswith(("cassandra.", "tcp_", "stream.", "flow"))})
    if compression:
        assert s["cassandra.compressed"] > 0
    events = [json.loads(line) for line in out.splitlines()]
    events = [e for e in events if e.get("type") == "cassandra"]
    # Requests still open when the driver closed its connections are published as unmatched.
    assert s["cassandra.transactions"] + s["cassandra.events"] + s["cassandra.unmatched_requests"] == len(events)
    unmatched = [e for e in events if e.get("error", {}).get("message") == "Unmatched request"]
    assert len(unmatched) == s["cassandra.unmatched_requests"] and len(unmatched) <= 2, unmatched
    for e in events:
        c = e["cassandra"]
        if "no_request" in c:
            assert c["response"]["headers"]["op"] == "EVENT" and c["response"]["headers"]["stream"] == -1
            continue
        if "response" not in c:
            continue
        assert c["request"]["headers"]["version"] == str(version)
        assert c["response"]["headers"]["stream"] == c["request"]["headers"]["stream"]
        assert e["client"]["bytes"] == 9 + c["request"]["headers"]["length"]
        assert e["server"]["bytes"] == 9 + c["response"]["headers"]["length"]
    by_query = {}
    for e in events:
        q = e["cassandra"].get("request", {}).get("query")
        by_query.setdefault((e["cassandra"].get("request", {}).get("headers", {}).get("op"), q), []).append(e)

    def one(op, q):
        got = by_query.get((op, q))
        assert got, f"no {op} event for {q!r}; queries seen: {sorted(str(k) for k in by_query)[:40]}"
        return got[0]["cassandra"], got

    for q, want in known.items():
        if q.startswith(("prepare:", "execute:", "batch", "paged")):
            continue
        c, got = one("QUERY", q)
        assert "response" in c, (q, got)
        rp = c["response"]
        if want[0] == "error":
            assert rp["headers"]["op"] == "ERROR" and rp["error"]["code"] == want[1], rp
            assert rp["error"]["type"] == {0x2200: "errInvalid", 0x2000: "errSyntax"}[want[1]]
            assert rp["error"]["msg"]
            continue
        assert rp["result"]["type"] == want[0], (q, rp)
        if want[0] == "schemaChanged":
            assert rp["result"]["schema_change"]["target"] == want[1]
            assert rp["result"]["schema_change"]["keyspace"] == ks
        elif want[0] == "set_keyspace":
            assert rp["result"]["keyspace"] == ks
        elif want[0] == "rows":
            assert rp["result"]["rows"]["num_rows"] == want[1]
            assert rp["result"]["rows"]["meta"]["table"] == "t"

    text = "INSERT INTO t (id, v, b) VALUES (?, ?, ?)"
    c, _ = one("PREPARE", text)
    assert c["response"]["result"]["type"] == "prepared"
    want_id = known["prepare:" + text][1]
    assert c["response"]["result"]["prepared"]["prepared_id"].replace("-", "") == want_id
    assert c["response"]["result"]["prepared"]["req_meta"]["col_count"] == 3
    _, executes = one("EXECUTE", text)
    assert len(executes) == 4 and all(e["cassandra"]["response"]["result"]["type"] == "void" for e in executes)
    big = [e for e in executes if e["client"]["bytes"] > BIG]
    assert len(big) == 1  # the 300 kB blob: its size from the header, its query from the PREPARE
    assert s["cassandra.unknown_prepared"] == 0

    batches = [e for e in events if e["cassandra"].get("request", {}).get("headers", {}).get("op") == "BATCH"]
    assert len(batches) == 1
    c = batches[0]["cassandra"]
    assert c["request"]["query"].count("INSERT INTO t (id, v) VALUES") == 10
    assert c["response"]["result"]["type"] == "void"
    if version >= 4:  # warnings came with v4: this batch is over the node's 1 KiB warn size
        assert "Warning" in c["response"]["headers"]["flags"].split("|")
        assert any("Batch" in w for w in c["response"]["warnings"]), c["response"]

    pages = by_query[("QUERY", "SELECT id, v FROM t WHERE id < 1000 ALLOW FILTERING")]
    counts = [e["cassandra"]["response"]["result"]["rows"]["num_rows"] for e in pages]
    assert sum(counts) == known["paged"][1] and max(counts) <= 10
    flags = [e["cassandra"]["response"]["result"]["rows"]["meta"]["flags"] for e in pages]
    assert sum("HasMorePages" in f for f in flags) == len(pages) - 1
    assert all(e["cassandra"]["response"]["result"]["rows"]["meta"].get("paging_state") for e in pages
               if "HasMorePages" in e["cassandra"]["response"]["result"]["rows"]["meta"]["flags"])

    # The driver's control connection REGISTERed for schema changes: the node pushes them.
    pushed = [e["cassandra"]["response"]["event"] for e in events if e["cassandra"].get("no_request")]
    assert s["cassandra.events"] == len(pushed)
    changes = {(p["schema_change"]["change"], p["schema_change"]["target"]) for p in pushed
               if p["type"] == "SCHEMA_CHANGE" and p["schema_change"]["keyspace"] == ks}
    assert ("CREATED", "KEYSPACE") in changes and ("CREATED", "TABLE") in changes, pushed

    c, _ = one("QUERY", "SELECT b FROM t WHERE id = 99")
    assert c["response"]["headers"]["length"] > BIG  # the row came back whole; its head was read
    # Frames (v3/v4) or envelopes (v5) longer than the read head: the blob's INSERT and SELECT.
    assert s["cassandra.too_large"] == 2


def test_found_by_payload_on_another_port():
    # Cassandra configured on another port: the connections of the capture open with
    # OPTIONS and STARTUP, which the payload signatures recognise.
    events, proc = events_of(pcap(V4 + "cassandra_mixed_frame.pcap"),
                             ["packetbeat.flows.enabled=false", "tapbeat.detect=payload",
                              "packetbeat.protocols.cassandra.ports=[19999]"])
    s = final_stats(proc.stderr)
    ops = [e["cassandra"]["request"]["headers"]["op"] for e in events if e.get("type") == "cassandra"]
    assert ops[:3] == ["OPTIONS", "STARTUP", "REGISTER"], ops
    assert s["detect.by_payload"] >= 2 and s["cassandra.malformed"] == 0
