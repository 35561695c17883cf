"""PostgreSQL transactions: the requests of every PostgreSQL capture agree with tshark's
dissection, and live traffic from a real PostgreSQL server (Debian's postgresql) on
loopback, captured by tapbeat on lo, gives each transaction's fields as the client saw
them: simple queries, pipelined queries, the extended protocol, errors and COPY."""
import io
import json
import os
import pwd
import shutil
import socket
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import assert_csv_table, captures_with_protocol, events_of, final_stats, live_config, pcap, run_live
from test_mysql import unescape

SERVER_PORT = 5432


def sql_text(q):
    q = q.strip(" \r\n\t")
    while q.endswith(";"):
        q = q[:-1].strip(" \r\n\t")
    return q


def tshark_requests(path):
    """The query of each request tshark dissects, in order: a simple query, or the
    first Parse of an extended batch (up to Sync)."""
    out = subprocess.run(["tshark", "-n", "-r", path, "-d", f"tcp.port=={SERVER_PORT},pgsql", "-Y",
                          f"pgsql && tcp.dstport=={SERVER_PORT}", "-T", "fields", "-E", "separator=\x1f", "-E",
                          "occurrence=a", "-E", "aggregator=\x1e", "-e", "pgsql.type", "-e", "pgsql.query"],
                         capture_output=True, text=True, timeout=120).stdout
    requests, batch = [], None
    for line in out.split("\n"):  # (splitlines() would also split at the separators)
        if not line:
            continue
        types, queries = (line.split("\x1f") + [""])[:2]
        queries = [unescape(q) for q in queries.split("\x1e")] if queries else []
        for t in types.split("\x1e"):
            if t == "Simple query":
                requests.append(sql_text(queries.pop(0)))
            elif t in ("Parse", "Bind", "Describe", "Execute", "Close", "Flush", "Sync", "Function call"):
                if batch is None:
                    batch = [None]
                if t == "Parse":
                    q = queries.pop(0)
                    if batch[0] is None:
                        batch[0] = sql_text(q)
                if t in ("Sync", "Function call"):
                    requests.append(batch[0] or "")
                    batch = None
    return requests


# Captures that hold what is not PostgreSQL on purpose: the decoder counts it as
# malformed (and detaches), with how many.
NOT_PGSQL = {
    "suricata-verify/pgsql/pgsql-bug-6080-probe-test-01/input.pcap": (
        1, "port 5432 carries another protocol (':3l33t.server.org' sent first by the side on 5432)"),
    "suricata-verify/pgsql/pgsql/pgsql-events/UnknownMessage.pcap": (
        1, "a frontend message of an unknown type, on purpose (Suricata's unknown-message event)"),
}


@pytest.mark.parametrize("capture", captures_with_protocol("pgsql"))
def test_requests_agree_with_tshark(capture):
    events, proc = events_of(pcap(capture), ["packetbeat.flows.enabled=false"])
    mine = [sql_text(e["query"]) for e in events if e["type"] == "pgsql"]
    stats = final_stats(proc.stderr)
    if stats.get("pgsql.encrypted_connections"):
        # After an accepted SSL request tshark dissects nothing either.
        assert not tshark_requests(pcap(capture)) or mine
    theirs = tshark_requests(pcap(capture))
    assert mine == theirs
    bad = NOT_PGSQL.get(capture, (0, ""))[0]
    assert stats.get("pgsql.malformed", 0) == bad and stats.get("pgsql.violations", 0) == bad


# --- live: a real PostgreSQL server ------------------------------------------------

PORT = 15432


def pg_bin(tool):
    for v in ("17", "16", "15", "14", "13"):
        p = f"/usr/lib/postgresql/{v}/bin/{tool}"
        if os.path.exists(p):
            return p
    pytest.fail(f"{tool} is not installed (scripts/setup installs postgresql)")


@pytest.fixture
def postgres():
    if os.geteuid() != 0:
        pytest.skip("live capture needs root or cap_net_raw")
    user = pwd.getpwnam("postgres")  # the server refuses to run as root; Debian's package adds this user
    base = tempfile.mkdtemp(prefix="tapbeat-pg-", dir="/tmp")
    os.chown(base, user.pw_uid, user.pw_gid)
    data = os.path.join(base, "data")

    def as_postgres(argv, **kw):
        return subprocess.run(["runuser", "-u", "postgres", "--", *argv], **kw)

    as_postgres([pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"], check=True,
                capture_output=True, timeout=120)
    p = subprocess.Popen(["runuser", "-u", "postgres", "--", pg_bin("postgres"), "-D", data, "-p", str(PORT), "-h",
                          "127.0.0.1", "-k", base, "-c", "fsync=off", "-c", "shared_buffers=16MB"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        r = as_postgres([pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(PORT)], capture_output=True)
        if r.returncode == 0:
            break
        time.sleep(0.2)
    else:
        p.kill()
        pytest.fail("postgres did not start")
    yield
    p.terminate()
    p.wait(timeout=30)
    shutil.rmtree(base, ignore_errors=True)


class RawClient:
    """The frontend protocol by hand, for what psycopg2 does not send: pipelined simple
    queries and the extended protocol."""

    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT))
        params = b"user\0postgres\0database\0postgres\0\0"
        self.s.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
        self.read_until_ready()
        self.buf = b""

    def msg(self, t, body=b""):
        return t + struct.pack("!I", 4 + len(body)) + body

    def read_until_ready(self):
        """Messages up to ReadyForQuery: [(type, body)]."""
        buf, out = getattr(self, "buf", b""), []
        while True:
            while len(buf) >= 5:
                t, n = buf[:1], struct.unpack("!I", buf[1:5])[0]
                if len(buf) < 1 + n:
                    break
                out.append((t, buf[5:1 + n]))
                buf = buf[1 + n:]
                if t == b"Z":
                    self.buf = buf
                    return out
            chunk = self.s.recv(65536)
            assert chunk, "server closed"
            buf += chunk

    def close(self):
        self.s.sendall(self.msg(b"X"))
        self.s.close()


def test_postgres_live_transactions(tmp_path, postgres):
    import psycopg2

    config = live_config("pgsql", PORT, "    send_request: true\n    send_response: true\n")
    expect = []  # what each published transaction must show, in order

    def workload():
        conn = psycopg2.connect(host="127.0.0.1", port=PORT, user="postgres", dbname="postgres")
        conn.autocommit = True
        cur = conn.cursor()

        def q(sql, **want):
            try:
                cur.execute(sql)
                rows = cur.fetchall() if cur.description else []
                expect.append(dict(query=sql, status="OK", rows=rows, nfields=len(cur.description or []), **want))
            except psycopg2.Error as e:
                expect.append(dict(query=sql, status="Error", code=e.pgcode, message=e.diag.message_primary,
                                   severity=e.diag.severity, **want))

        q("CREATE TABLE items (id serial PRIMARY KEY, name text, note text)")
        values = ", ".join(f"('item {i}', {'NULL' if i % 3 == 0 else repr('note, ' + str(i))})" for i in range(30))
        q(f"INSERT INTO items (name, note) VALUES {values}")
        q("SELECT id, name, note FROM items ORDER BY id")
        q("SELECT * FROM missing_table")
        q("SELECT repeat('x', 1000000) AS big")
        q("SELECT id, repeat('y', 5000) AS filler FROM items")
        data = "".join(f"copied {i}\tline {i}\n" for i in range(100))
        cur.copy_expert("COPY items (name, note) FROM STDIN", io.StringIO(data))
        expect.append(dict(query="COPY items (name, note) FROM STDIN", status="OK", copy_rows=100))
        out = io.StringIO()
        cur.copy_expert("COPY (SELECT id FROM items) TO STDOUT", out)
        expect.append(dict(query="COPY (SELECT id FROM items) TO STDOUT", status="OK", copy_rows=130))
        q("SELECT 1 AS a; SELECT 2 AS b", multi=True)
        conn.close()

        raw = RawClient()
        # Two simple queries in one write: answered in order.
        raw.s.sendall(raw.msg(b"Q", b"SELECT 1 AS one\0") + raw.msg(b"Q", b"SELECT 'a' AS x, 'b' AS y\0"))
        raw.read_until_ready()
        raw.read_until_ready()
        expect.append(dict(query="SELECT 1 AS one", status="OK", rows=[(1,)], nfields=1))
        expect.append(dict(query="SELECT 'a' AS x, 'b' AS y", status="OK", rows=[("a", "b")], nfields=2))
        # The extended protocol: Parse, Bind (one text parameter), Describe, Execute, Sync.
        sql = b"SELECT $1::int + 1 AS n"
        batch = (raw.msg(b"P", b"\0" + sql + b"\0" + struct.pack("!H", 0)) +
                 raw.msg(b"B", b"\0\0" + struct.pack("!HH", 0, 1) + struct.pack("!I", 2) + b"41" +
                         struct.pack("!H", 0)) +
                 raw.msg(b"D", b"P\0") + raw.msg(b"E", b"\0" + struct.pack("!I", 0)) + raw.msg(b"S"))
        raw.s.sendall(batch)
        got = raw.read_until_ready()
        assert [t for t, _ in got] == [b"1", b"2", b"T", b"D", b"C", b"Z"]
        expect.append(dict(query=sql.decode(), status="OK", rows=[(42,)], nfields=1, request_bytes=len(batch)))
        # An error in the extended protocol.
        raw.s.sendall(raw.msg(b"P", b"\0SELECT nope FROM nowhere\0" + struct.pack("!H", 0)) + raw.msg(b"S"))
        raw.read_until_ready()
        expect.append(dict(query="SELECT nope FROM nowhere", status="Error", code="42P01",
                           message='relation "nowhere" does not exist', severity="ERROR"))
        raw.close()
        time.sleep(0.5)

    out, err = run_live(config, tmp_path, workload)
    events = [json.loads(l) for l in out.splitlines()]
    got = [e for e in events if e["type"] == "pgsql" and e["server"]["port"] == PORT]
    assert [e["query"] for e in got] == [x["query"] for x in expect], final_stats(err)
    for e, x in zip(got, expect):
        ctx = x["query"][:60]
        m = e["pgsql"]
        assert e["status"] == x["status"], ctx
        assert e["method"] == x["query"].split()[0].upper(), ctx
        assert e["request"].strip() == x["query"], ctx
        assert e["source"]["bytes"] > 0 and e["destination"]["bytes"] > 0, ctx
        if "request_bytes" in x:
            assert e["source"]["bytes"] == x["request_bytes"], ctx
        if x["status"] == "Error":
            assert (m["error_code"], m["error_message"], m["error_severity"]) == (x["code"], x["message"],
                                                                                 x["severity"]), ctx
            continue
        if "copy_rows" in x:
            assert m["num_rows"] == x["copy_rows"], ctx
            continue
        if x.get("multi"):
            assert m["num_rows"] == 2 and m["num_fields"] == 1, ctx  # both results; fields of the first
            continue
        assert m["num_rows"] == len(x["rows"]) and m["num_fields"] == x["nfields"], ctx
        if x["rows"]:
            assert_csv_table(e["response"], x["rows"], ctx)
    stats = final_stats(err)
    assert stats["pgsql.malformed"] == 0 and stats["pgsql.violations"] == 0
    assert stats["pgsql.unmatched_responses"] == 0 and stats["pgsql.unmatched_requests"] == 0


def test_named_statements_of_a_statement_cache_live(tmp_path, postgres):
    # What pgJDBC does past its prepare threshold: each of 100 statements parsed once
    # under its own name (S_1 ... S_100), then bound again and again without a Parse,
    # cycling through them. Every batch is published with its statement's query, though
    # the connection's state holds 32 (the rest wait in the block store).
    config = live_config("pgsql", PORT, "    send_request: true\n    send_response: true\n")
    n = 100

    def workload():
        raw = RawClient()
        for i in range(1, n + 1):
            sql = f"SELECT {i} AS n, $1::int AS p".encode()
            raw.s.sendall(raw.msg(b"P", f"S_{i}".encode() + b"\0" + sql + b"\0" + struct.pack("!H", 0)) +
                          raw.msg(b"S"))
            raw.read_until_ready()
        for rnd in range(2):
            for i in range(1, n + 1):
                raw.s.sendall(raw.msg(b"B", b"\0" + f"S_{i}".encode() + b"\0" + struct.pack("!HH", 0, 1) +
                                      struct.pack("!I", 1) + b"7" + struct.pack("!H", 0)) +
                              raw.msg(b"E", b"\0" + struct.pack("!I", 0)) + raw.msg(b"S"))
                got = raw.read_until_ready()
                assert [t for t, _ in got] == [b"2", b"D", b"C", b"Z"], got
        raw.close()
        time.sleep(0.5)

    out, err = run_live(config, tmp_path, workload)
    events = [json.loads(l) for l in out.splitlines()]
    got = [e for e in events if e["type"] == "pgsql" and e["server"]["port"] == PORT]
    binds = got[n:]
    assert len(binds) == 2 * n, [e["query"] for e in got][:5]
    assert [e["query"] for e in binds] == [f"SELECT {i} AS n, $1::int AS p" for i in range(1, n + 1)] * 2
    # No Describe: the rows come without their names.
    assert all(e["pgsql"]["num_rows"] == 1 and e["response"] == f"{i % n + 1},7\n"
               for i, e in enumerate(binds)), binds[0]["response"]
    stats = final_stats(err)
    assert stats["pgsql.statements_evicted"] == 0 and stats["pgsql.store_full"] == 0
    assert stats["pgsql.unmatched_responses"] == 0 and stats["pgsql.unmatched_requests"] == 0
