"""MySQL transactions: the queries of every MySQL capture agree with tshark's dissection,
and live traffic from a real MariaDB server (Debian's mariadb-server) on loopback,
captured by tapbeat on lo, gives each transaction's fields as the client saw them."""
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import assert_csv_table, captures_with_protocol, events_of, final_stats, live_config, pcap, run_live

PORTS = [3306, 3307, 13001]  # 3307 and 13001: ports Packetbeat's own MySQL tests configure


def tshark_commands(path):
    """(command, query) of each client command tshark dissects, in order."""
    decode = []
    for p in PORTS[1:]:
        decode += ["-d", f"tcp.port=={p},mysql"]
    out = subprocess.run(["tshark", "-n", "-r", path, *decode, "-Y", "mysql.command", "-T", "fields", "-E",
                          "separator=\x1f", "-E", "occurrence=a", "-E", "aggregator=\x1e", "-e", "mysql.command",
                          "-e", "mysql.query"], capture_output=True, text=True, timeout=120).stdout
    cmds = []
    for line in out.split("\n"):  # (splitlines() would also split at the separators)
        if not line:
            continue
        command, query = (line.split("\x1f") + [""])[:2]
        for i, c in enumerate(command.split("\x1e")):
            qs = query.split("\x1e") if query else []
            cmds.append((int(c), unescape(qs[i]) if i < len(qs) else ""))
    return cmds


def unescape(text):
    """tshark's field text with its escapes (\\n, \\r, \\t, \\\\, \\") undone."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append({"n": "\n", "r": "\r", "t": "\t"}.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@pytest.mark.parametrize("capture", captures_with_protocol("mysql"))
def test_queries_agree_with_tshark(capture):
    events, proc = events_of(pcap(capture), ["packetbeat.flows.enabled=false",
                                             f"packetbeat.protocols.mysql.ports=[{','.join(map(str, PORTS))}]"])
    mine = [e for e in events if e["type"] == "mysql"]
    theirs = tshark_commands(pcap(capture))
    # COM_QUERY and COM_STMT_PREPARE carry their SQL text; COM_STMT_EXECUTE names a
    # statement (its query is the prepared one).
    texts = [q.strip(" \r\n\t") for c, q in theirs if c in (3, 22)]
    executes = sum(1 for c, _ in theirs if c == 23)
    assert texts, "tshark saw no query"
    got_texts = [e["query"] for e in mine if "params" not in e and e["query"] != "Request Execute Statement"]
    assert got_texts == texts
    assert len(mine) - len(got_texts) == executes
    stats = final_stats(proc.stderr)
    assert stats.get("mysql.malformed", 0) == 0 and stats.get("mysql.violations", 0) == 0


# --- live: a real MariaDB server ---------------------------------------------------

PORT = 13306


@pytest.fixture
def mariadb(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("live capture needs root or cap_net_raw")
    for tool in ("mariadb-install-db", "mariadbd"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            pytest.fail(f"{tool} is not installed (scripts/setup installs mariadb-server)")
    data = tmp_path / "mdb"
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                    "--auth-root-authentication-method=normal", "--skip-test-db"], check=True,
                   capture_output=True, timeout=120)
    server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    p = subprocess.Popen([server, "--no-defaults", f"--datadir={data}", "--user=root", f"--port={PORT}",
                          "--bind-address=127.0.0.1", f"--socket={tmp_path}/mdb.sock", "--skip-name-resolve",
                          "--innodb-buffer-pool-size=16M", "--skip-log-bin", f"--pid-file={tmp_path}/mdb.pid"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=1) as s:
                if s.recv(64)[4:5] == b"\x0a":  # the server's greeting
                    break
        except OSError:
            time.sleep(0.2)
    else:
        p.kill()
        pytest.fail("mariadbd did not start")
    yield
    p.terminate()
    p.wait(timeout=30)


def read_result(conn):
    """Reads a binary-protocol result set (column definitions, EOF, rows, EOF)."""
    first = conn._read_packet()
    if first.is_ok_packet() or first.is_error_packet():
        return first, 0
    ncols = first.read_length_encoded_integer()
    for _ in range(ncols):
        conn._read_packet()
    conn._read_packet()  # EOF
    rows = 0
    while not conn._read_packet().is_eof_packet():
        rows += 1
    return ncols, rows


def prepare(conn, sql):
    conn._execute_command(0x16, sql)
    ok = conn._read_packet().get_all_data()
    stmt_id, ncols, nparams = struct.unpack("<IHH", ok[1:9])
    for _ in range(nparams):
        conn._read_packet()
    if nparams:
        conn._read_packet()  # EOF
    for _ in range(ncols):
        conn._read_packet()
    if ncols:
        conn._read_packet()  # EOF
    return stmt_id


def execute(conn, stmt_id, params, bind):
    """COM_STMT_EXECUTE with (LONGLONG | VAR_STRING) parameters; types sent when bind."""
    body = struct.pack("<IBI", stmt_id, 0, 1) + b"\x00" * ((len(params) + 7) // 8) + bytes([1 if bind else 0])
    if bind:
        body += b"".join(b"\x08\x00" if isinstance(v, int) else b"\xfd\x00" for v in params)
    for v in params:
        if isinstance(v, int):
            body += struct.pack("<q", v)
        else:
            b = v.encode()
            body += bytes([len(b)]) + b
    conn._execute_command(0x17, body)
    return read_result(conn)


def test_mariadb_live_transactions(tmp_path, mariadb):
    import pymysql
    from pymysql.constants import CLIENT

    config = live_config("mysql", PORT, "    send_request: true\n    send_response: true\n")
    expect = []  # dicts of what each published transaction must show, in order

    def workload():
        conn = pymysql.connect(host="127.0.0.1", port=PORT, user="root", password="", autocommit=True,
                               client_flag=CLIENT.MULTI_STATEMENTS)
        cur = conn.cursor()

        def q(sql, **want):
            try:
                n = cur.execute(sql)
                rows = cur.fetchall()
                while cur.nextset():
                    rows += cur.fetchall()
                expect.append(dict(query=sql, status="OK", rows=rows, n=n, lastrowid=cur.lastrowid,
                                   nfields=len(cur.description or []), **want))
            except pymysql.err.MySQLError as e:
                expect.append(dict(query=sql, status="Error", code=e.args[0], message=e.args[1], **want))

        q("CREATE DATABASE tapbeat_live")
        q("USE tapbeat_live")
        q("CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200), note TEXT)")
        values = ", ".join(f"('item {i}', {'NULL' if i % 3 == 0 else repr('note, ' + str(i))})" for i in range(30))
        q(f"INSERT INTO items (name, note) VALUES {values}", affected=30)
        q("INSERT INTO items (name, note) VALUES ('last', 'with \"quotes\"')", affected=1, insert_id=31)
        q("SELECT id, name, note FROM items ORDER BY id", path="tapbeat_live.items")
        q("UPDATE items SET name = CONCAT(name, '!') WHERE id <= 10", affected=10)
        q("SELECT * FROM missing_table")
        q("SELECT REPEAT('x', 1000000) AS big")
        q("SELECT id, REPEAT('y', 5000) AS filler FROM items")
        q("DELETE FROM items WHERE id > 20", affected=11)
        q("SELECT 1 AS a; SELECT 2 AS b, 3 AS c", multi=True)
        stmt = prepare(conn, "SELECT id, name FROM items WHERE id = ? AND name <> ?")
        expect.append(dict(query="SELECT id, name FROM items WHERE id = ? AND name <> ?", status="OK", prepare=True))
        for i, (params, bind) in enumerate([([3, "zz"], True), ([5, "item 4!"], False), ([7, "zz"], False)]):
            ncols, rows = execute(conn, stmt, params, bind)
            expect.append(dict(query="SELECT id, name FROM items WHERE id = ? AND name <> ?", status="OK",
                               params=[str(v) for v in params], exec_rows=rows, nfields=ncols))
        # With a read-only cursor: the response ends at the column definitions' EOF (its
        # status says CURSOR_EXISTS); the rows come in answer to COM_STMT_FETCH (not published).
        conn._execute_command(0x17, struct.pack("<IBI", stmt, 1, 1) + b"\x00\x01\x08\x00\xfd\x00" +
                              struct.pack("<q", 9) + b"\x02zz")
        ncols = conn._read_packet().read_length_encoded_integer()
        for _ in range(ncols):
            conn._read_packet()
        assert conn._read_packet().get_all_data()[3] & 0x40  # SERVER_STATUS_CURSOR_EXISTS
        expect.append(dict(query="SELECT id, name FROM items WHERE id = ? AND name <> ?", status="OK",
                           params=["9", "zz"], exec_rows=0, nfields=ncols))
        conn._execute_command(0x1c, struct.pack("<II", stmt, 100))  # COM_STMT_FETCH
        while not conn._read_packet().is_eof_packet():
            pass
        # MariaDB's COM_STMT_BULK_EXECUTE (0xfa): refused without the bulk capability this
        # hand-made client does not negotiate; published with the server's answer, and the
        # statements after it decoded (it had ended decoding as bytes that are not MySQL).
        conn._execute_command(0xfa, struct.pack("<IH", stmt, 128) + b"\x08\x00\xfd\x00" + b"\x00" +
                              struct.pack("<q", 9) + b"\x00\x02zz")
        try:
            conn._read_packet()
            expect.append(dict(query="SELECT id, name FROM items WHERE id = ? AND name <> ?", status="OK", bulk=True))
        except pymysql.err.MySQLError as e:
            expect.append(dict(query="SELECT id, name FROM items WHERE id = ? AND name <> ?", status="Error",
                               code=e.args[0], message=e.args[1], sqlstate="HY000"))
        conn._execute_command(0x19, struct.pack("<I", stmt))  # COM_STMT_CLOSE: no response
        q("DROP DATABASE tapbeat_live")
        conn.close()
        time.sleep(0.5)

    out, err = run_live(config, tmp_path, workload)
    events = [json.loads(l) for l in out.splitlines()]
    got = [e for e in events if e["type"] == "mysql" and e["server"]["port"] == PORT]
    assert [e["query"] for e in got] == [x["query"] for x in expect], final_stats(err)
    for e, x in zip(got, expect):
        ctx = x["query"][:60]
        m = e["mysql"]
        assert e["status"] == x["status"], ctx
        assert e["method"] == x["query"].split()[0].upper(), ctx
        assert e["request"].strip() == x["query"], ctx
        assert e["source"]["bytes"] > 0 and e["destination"]["bytes"] > 0, ctx
        assert e["event"]["duration"] >= 0, ctx
        if x["status"] == "Error":
            assert m["error_code"] == x["code"], ctx
            assert m["error_message"].split(": ", 1)[1] == x["message"], ctx
            assert m["error_message"][:5] == x.get("sqlstate", "42S02"), ctx
            continue
        if "affected" in x:
            assert m["affected_rows"] == x["affected"], ctx
        if "insert_id" in x:
            assert m["insert_id"] == x["insert_id"], ctx
        if "path" in x:
            assert e["path"] == x["path"], ctx
        if "params" in x:
            assert e["params"] == x["params"], ctx
            assert m["num_rows"] == x["exec_rows"] and m["num_fields"] == x["nfields"], ctx
            continue
        if x.get("bulk"):
            continue
        if x.get("prepare"):
            assert m["num_fields"] == 2, ctx
            continue
        if x.get("multi"):
            assert m["num_rows"] == 2 and m["num_fields"] == 1, ctx  # both results; fields of the first
            continue
        assert m["num_rows"] == len(x["rows"]), ctx
        assert m["num_fields"] == x["nfields"], ctx
        if x["rows"]:
            assert_csv_table(e["response"], x["rows"], ctx)
    stats = final_stats(err)
    assert stats["mysql.malformed"] == 0 and stats["mysql.violations"] == 0
    assert stats["mysql.unmatched_responses"] == 0 and stats["mysql.unmatched_requests"] == 0
    assert stats["mysql.statements_dropped"] == 0 and stats["mysql.unknown_statements"] == 0


def test_mariadb_compressed_protocol_live(tmp_path, mariadb):
    # The compressed protocol (CLIENT_COMPRESS, zlib) as Debian's mariadb client and
    # mariadb-dump speak it with --compress: every statement published with its result,
    # a 600 KB value of random text (compressed packets longer than the engine holds,
    # inflated as they come) among them. tshark's dissection of the same traffic misses
    # the statements inside such packets.
    config = live_config("mysql", PORT, "    send_request: true\n    send_response: true\n")
    rnd = os.urandom(300000).hex()
    script = ("CREATE DATABASE z; USE z; CREATE TABLE kv (k INT PRIMARY KEY, v LONGTEXT);\n"
              "INSERT INTO kv VALUES (1, 'small');\nSELECT v FROM kv WHERE k = 1;\n"
              "INSERT INTO kv VALUES (2, REPEAT('abc', 100000));\n"
              f"INSERT INTO kv VALUES (3, '{rnd}');\n"
              "SELECT k, LENGTH(v) FROM kv ORDER BY k;\nSELECT v FROM kv WHERE k = 3;\n"
              "SELECT seq FROM seq_1_to_3000;\nSELECT * FROM missing;\nSELECT 'done';\n")

    def workload():
        r = subprocess.run(["mariadb", "--compress", "--force", "-h", "127.0.0.1", "-P", str(PORT), "-u", "root"],
                           input=script.encode(), capture_output=True, timeout=60)
        assert b"done" in r.stdout, r.stderr
        r = subprocess.run(["mariadb-dump", "--compress", "-h", "127.0.0.1", "-P", str(PORT), "-u", "root", "z"],
                           capture_output=True, timeout=60)
        assert rnd.encode() in r.stdout, r.stderr[-500:]
        time.sleep(0.5)

    out, err = run_live(config, tmp_path, workload)
    stats = final_stats(err)
    assert stats["capture.pcap.dropped"] == 0
    assert stats["mysql.compressed_connections"] == 2
    events = [json.loads(l) for l in out.splitlines()]
    by_query = {e["query"][:40]: e for e in events}
    assert by_query["SELECT v FROM kv WHERE k = 1"]["mysql"]["num_rows"] == 1
    assert by_query["SELECT v FROM kv WHERE k = 1"]["response"] == "v\nsmall\n"
    lengths = by_query["SELECT k, LENGTH(v) FROM kv ORDER BY k"]
    assert lengths["response"] == "k,LENGTH(v)\n1,5\n2,300000\n3,600000\n", lengths["response"]
    big = by_query["SELECT v FROM kv WHERE k = 3"]
    assert big["status"] == "OK" and big["mysql"]["num_rows"] == 1 and "error" not in big
    assert big["destination"]["bytes"] > 600000
    assert by_query[f"INSERT INTO kv VALUES (3, '{rnd[:13]}"]["error"]["message"] == "query longer than 16 KiB; cut"
    assert by_query["SELECT seq FROM seq_1_to_3000"]["mysql"]["num_rows"] == 3000
    assert by_query["SELECT * FROM missing"]["mysql"]["error_code"] == 1146
    assert by_query["SELECT 'done'"]["response"] == "done\ndone\n"
    dump = next(e for e in events if "SQL_NO_CACHE" in e["query"])
    assert dump["mysql"]["num_rows"] == 3 and dump["status"] == "OK" and "error" not in dump
    assert all(e["status"] == "OK" for e in events if e["query"] != "SELECT * FROM missing"), \
        [(e["query"][:40], e.get("error")) for e in events if e["status"] != "OK"]
    assert stats["mysql.malformed"] == 0 and stats["mysql.decompress_errors"] == 0
    assert stats["mysql.unmatched_responses"] == 0 and stats["mysql.unmatched_requests"] == 0
    assert stats.get("mysql.violations", 0) == 0 and stats["mysql.resynced"] == 0
