"""MySQL 8 clients as they speak to a MySQL 8 server: tests/data/mysql8/sessions.pcap
(written by make_mysql8_sessions.py: Connector/Python and PyMySQL against mysql-mimic,
with caching_sha2_password's full and fast authentication, an auth switch, query
attributes, prepared statements, COM_CHANGE_USER and COM_RESET_CONNECTION). Every
statement the clients sent (sessions.json, with the rows or the error each client saw)
is published with its text, rows and status, in the order sent; and again when each
connection is picked up after its login (the capture without the packets before its first
query), where the query attributes' counts must be told from the text without the
handshake that negotiated them."""
import json
import os
import struct

import pytest

from conftest import ROOT, events_of, final_stats

DATA = os.path.join(ROOT, "tests", "data", "mysql8")
CONFIG = ("packetbeat.protocols:\n- {type: mysql, ports: [13308]}\ntapbeat.workers: 1\ntapbeat.progress: false\n"
          "output.console: {}\n")


def run(capture, tmp_path):
    cfg = tmp_path / "mysql8.yml"
    cfg.write_text(CONFIG)
    cfg.chmod(0o600)
    events, proc = events_of(capture, config=str(cfg))
    return events, final_stats(proc.stderr)


def sessions():
    with open(os.path.join(DATA, "sessions.json")) as f:
        return [s for s in json.load(f) if s.get("port")]


def check(events, where):
    by_port = {}
    for e in events:
        if e.get("type") == "mysql":
            by_port.setdefault(e["client"]["port"], []).append(e)
    checked = 0
    for s in sessions():
        got = by_port.get(s["port"], [])
        at = 0
        for st in s["statements"]:
            while at < len(got) and not (got[at].get("query") == st["query"] and
                                         got[at].get("mysql", {}).get("num_rows", 0) == st["rows"] and
                                         (got[at].get("status") == "Error") == (st["error"] is not None)):
                at += 1
            assert at < len(got), (f"{where}: {s['client']} connection {s['port']} ({s['login']}): "
                                   f"{st} not published in order; events: "
                                   f"{[(e.get('query'), e.get('mysql', {}).get('num_rows')) for e in got]}")
            if st["error"] is not None:
                assert got[at]["mysql"]["error_code"] == st["error"]
            at += 1
            checked += 1
        assert all(e.get("status") in ("OK", "Error") for e in got), where
    return checked


def test_every_statement_of_mysql8_clients_is_published(tmp_path):
    events, stats = run(os.path.join(DATA, "sessions.pcap"), tmp_path)
    assert check(events, "whole capture") == sum(len(s["statements"]) for s in sessions())
    assert stats["mysql.unmatched_requests"] == 0 and stats["mysql.unmatched_responses"] == 0
    assert stats["mysql.login_failures"] == 1  # the wrong password, and no successful login taken for one
    assert stats["mysql.violations"] == 0 and stats["mysql.malformed"] == 0


def after_logins(src, dst):
    """The capture without each connection's packets before its client's first
    COM_QUERY (sequence 0, command 3)."""
    with open(src, "rb") as f:
        data = f.read()
    out, at, started = [data[:24]], 24, set()
    while at + 16 <= len(data):
        caplen = struct.unpack("<I", data[at + 8:at + 12])[0]
        rec = data[at:at + 16 + caplen]
        at += 16 + caplen
        frame = rec[16:]
        ihl = (frame[14] & 0x0F) * 4
        tcp = frame[14 + ihl:]
        sport, dport = struct.unpack(">HH", tcp[:4])
        payload = tcp[(tcp[12] >> 4) * 4:]
        conn = (min(sport, dport), max(sport, dport))
        if conn not in started and dport == 13308 and len(payload) > 4 and payload[3] == 0 and payload[4] == 3:
            started.add(conn)
        if conn in started:
            out.append(rec)
    with open(dst, "wb") as f:
        f.write(b"".join(out))


def test_mysql8_connections_picked_up_after_their_login(tmp_path):
    cut = str(tmp_path / "after-logins.pcap")
    after_logins(os.path.join(DATA, "sessions.pcap"), cut)
    events, stats = run(cut, tmp_path)
    assert check(events, "after logins") == sum(len(s["statements"]) for s in sessions())
    assert stats["mysql.violations"] == 0


@pytest.mark.parametrize("name", ["mariadb-jdbc", "mariadb-node"])
def test_mariadb_connectors_that_pipeline(tmp_path, name):
    """MariaDB's connectors against Debian's MariaDB (tests/data/mysql8, make_jdbc_capture.py):
    Connector/J 3.5 with server-side prepared statements sends each prepare with its first
    execute of statement -1, and execute results come without column definitions; the
    Node.js connector pipelines the queries and executes of each batch. Every statement
    the program ran is published in order with the rows or affected rows the driver saw."""
    cfg = tmp_path / "mariadb.yml"
    cfg.write_text(CONFIG.replace("13308", "13317"))
    cfg.chmod(0o600)
    events, proc = events_of(os.path.join(DATA, name + ".pcap"), config=str(cfg))
    stats = final_stats(proc.stderr)
    got = [e for e in events if e.get("type") == "mysql"]
    at = 0
    with open(os.path.join(DATA, name + ".tsv")) as f:
        expected = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for query, kind, count in expected:
        field = "num_rows" if kind == "rows" else "affected_rows"
        while at < len(got) and not (got[at].get("query") == query and got[at].get("status") == "OK" and
                                     got[at].get("mysql", {}).get(field) == int(count)):
            at += 1
        assert at < len(got), (query, kind, count, [(e.get("query"), e.get("mysql")) for e in got])
        at += 1
    assert stats["mysql.pipelined"] > 0
    assert stats["mysql.unmatched_requests"] == 0 and stats["mysql.unmatched_responses"] == 0
    assert stats["mysql.unknown_statements"] == 0 and stats["mysql.columns_unknown"] == 0


def transaction_key(e):
    m = e.get("mysql", {})
    return (e.get("query"), e.get("status"), e["source"].get("bytes"), e["destination"].get("bytes"),
            m.get("num_rows"), m.get("affected_rows"), m.get("insert_id"))


@pytest.mark.parametrize("name", ["mariadb-jdbc", "mariadb-node"])
def test_mariadb_connectors_with_each_segment_lost(tmp_path, name):
    """The pipelining connectors' captures with each TCP data segment dropped in turn (from
    either side): no command is published with a response the whole capture does not give
    it (a lost segment's commands, or responses, leave those after them their own), and a
    run misses at most the transactions whose bytes the segment held, beyond a prepare
    lost, whose statement's executes are then of an unknown statement (6: the Node.js
    connector's largest client segment holds three prepares and their executes).
    Before, a command lost from a pipelined batch shifted every response after it onto
    the command before its own (253 such events over the Node.js capture's runs), and a
    response lost cost every command of the batch."""
    import collections
    cfg = tmp_path / "mariadb.yml"
    cfg.write_text(CONFIG.replace("13308", "13317"))
    cfg.chmod(0o600)
    with open(os.path.join(DATA, name + ".pcap"), "rb") as f:
        data = f.read()
    records, at = [], 24
    while at < len(data):
        incl = struct.unpack("<I", data[at + 8:at + 12])[0]
        records.append((at, at + 16 + incl))
        at += 16 + incl

    def transactions(path):
        events, _ = events_of(path, config=str(cfg))
        return [e for e in events if e.get("type") == "mysql"]

    whole = collections.Counter(map(transaction_key, transactions(os.path.join(DATA, name + ".pcap"))))
    prepares = {k[0] for k in whole if k[2] and k[0] and "?" in k[0]}
    cut = tmp_path / "cut.pcap"
    runs = 0
    for s, e in records:
        frame = data[s + 16:e]
        ihl = (frame[14] & 0x0F) * 4
        total = struct.unpack(">H", frame[16:18])[0]
        if 14 + total - (14 + ihl + (frame[14 + ihl + 12] >> 4) * 4) <= 0:
            continue
        cut.write_bytes(data[:s] + data[e:])
        got = transactions(str(cut))
        answered = collections.Counter(transaction_key(x) for x in got
                                       if x["destination"].get("bytes") and not x.get("error"))
        wrong = answered - whole
        assert not wrong, f"record at {s}: paired with a response the whole capture does not give: {wrong}"
        missing = whole - collections.Counter(map(transaction_key, got))
        unknown_statement = [x for x in got if x.get("query") == "Request Execute Statement"]
        assert sum(missing.values()) <= 6 + len(unknown_statement), (s, missing)
        runs += 1
    assert runs > 90 and prepares
