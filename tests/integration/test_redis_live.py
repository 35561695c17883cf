"""Redis transactions from live traffic: a real redis-server (Debian's) on loopback, a
scripted client, tapbeat capturing on lo through libpcap. Each transaction's fields are
checked against what the client sent and the server answered."""
import json
import os
import socket
import time

import pytest

from conftest import final_stats, live_config, run_live, server_process

PORT = 16379


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_replies(sock, n):
    """Reads n whole replies (simple framing: enough for this workload's types)."""
    buf = b""
    replies = []

    def parse(i):
        t = buf[i:i + 1]
        e = buf.index(b"\r\n", i)
        line = buf[i + 1:e]
        if t in (b"+", b"-", b":"):
            return line.decode(), e + 2
        if t == b"$":
            ln = int(line)
            if ln < 0:
                return None, e + 2
            if len(buf) < e + 2 + ln + 2:
                raise IndexError
            return buf[e + 2:e + 2 + ln].decode(), e + 2 + ln + 2
        if t == b"*":
            items, j = [], e + 2
            for _ in range(int(line)):
                v, j = parse(j)
                items.append(v)
            return items, j
        raise AssertionError(f"unexpected reply type {t!r}")

    pos = 0
    while len(replies) < n:
        chunk = sock.recv(1 << 20)
        assert chunk, "server closed"
        buf += chunk
        while len(replies) < n:
            try:
                v, nxt = parse(pos)
            except (IndexError, ValueError):
                break
            replies.append(v)
            pos = nxt
    return replies


@pytest.fixture
def redis_server(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("live capture needs root or cap_net_raw")
    p = server_process(["redis-server", "--port", str(PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                        "no", "--dir", str(tmp_path)], PORT, resp("PING"), b"+PONG")
    yield
    p.terminate()
    p.wait(timeout=10)


def test_redis_live_transactions(tmp_path, redis_server):
    config = live_config("redis", PORT, "    send_request: true\n")
    sent = []  # (args, reply) in order on the main connection

    def workload():
        c = socket.create_connection(("127.0.0.1", PORT))
        big = "v" * 200_000
        script = [("SET", "k1", "hello"), ("GET", "k1"), ("LPUSH", "l1", "a"), ("GET", "l1"), ("DEL", "nokey"),
                  ("SET", "big", big), ("STRLEN", "big"), ("GET", "missing"), ("LRANGE", "l1", 0, -1)]
        for cmd in script:
            c.sendall(resp(*cmd))
            sent.append((cmd, read_replies(c, 1)[0]))
        # Pipelining: 50 commands in one write, 50 replies read afterwards.
        c.sendall(b"".join(resp("INCR", "ctr") for _ in range(50)))
        for r in read_replies(c, 50):
            sent.append((("INCR", "ctr"), r))
        # Pub/sub: a subscriber on its own connection; its pushes are not replies.
        sub = socket.create_connection(("127.0.0.1", PORT))
        sub.sendall(resp("SUBSCRIBE", "news"))
        read_replies(sub, 1)
        for i in range(3):
            c.sendall(resp("PUBLISH", "news", f"m{i}"))
            sent.append((("PUBLISH", "news", f"m{i}"), read_replies(c, 1)[0]))
        read_replies(sub, 3)
        time.sleep(0.5)
        c.close()
        sub.close()
        time.sleep(0.3)

    out, err = run_live(config, tmp_path, workload)
    events = [json.loads(l) for l in out.splitlines()]
    main = [e for e in events if e["type"] == "redis" and e["server"]["port"] == PORT and e.get("method") != "SUBSCRIBE"]
    assert len(main) == len(sent), [e.get("query", "")[:40] for e in main]
    for e, (cmd, reply) in zip(main, sent):
        args = [str(a) for a in cmd]
        assert e["method"] == args[0].upper()
        assert e.get("resource") == (args[1] if len(args) > 1 else None)
        if args[0] == "SET" and args[1] == "big":
            # The kept text is bounded; the query starts as sent.
            assert e["query"].startswith("SET big vvvv"), e["query"][:40]
            assert e["source"]["bytes"] == len(resp(*cmd))
        else:
            assert e["query"] == " ".join(args)
        if isinstance(reply, str) and reply.startswith("WRONGTYPE"):
            assert e["status"] == "Error" and e["redis"]["error"] == reply
            continue
        assert e["status"] == "OK"
        want = "nil" if reply is None else ("[" + ", ".join(reply) + "]" if isinstance(reply, list) else reply)
        assert e["redis"]["return_value"] == want, (cmd, e["redis"])
        assert e["request"].startswith("*")
    stats = final_stats(err)
    assert stats["redis.push_messages"] == 3
    assert stats["capture.pcap.dropped"] == 0


def read_any(f):
    """Reads one RESP2/RESP3 value from a buffered socket file; returns its nesting depth."""
    line = f.readline()
    t, rest = line[:1], line[1:-2]
    if t in b"$!=":
        n = int(rest)
        if n >= 0:
            f.read(n + 2)
        return 0
    if t in b"*~>%|":
        n = int(rest) * (2 if t in b"%|" else 1)
        deepest = max([1 + read_any(f) for _ in range(max(n, 0))], default=1)
        return max(deepest, read_any(f)) if t == b"|" else deepest
    assert t in b"+-:_,#(", line
    return 0


@pytest.mark.parametrize("proto", [2, 3])
def test_reply_nested_past_the_limit_keeps_the_connection(tmp_path, redis_server, proto):
    """COMMAND DOCS of a current redis-server nests 12 levels (deeper than the decoder
    stacks): that reply is cut with a note, and every command after it on the
    connection is still paired and published."""
    config = live_config("redis", PORT, "")
    depth = {}

    def workload():
        c = socket.create_connection(("127.0.0.1", PORT))
        f = c.makefile("rb")
        if proto == 3:
            c.sendall(resp("HELLO", "3"))
            read_any(f)
        c.sendall(resp("COMMAND", "DOCS"))
        depth["docs"] = read_any(f)
        for i in range(5):
            c.sendall(resp("SET", f"k{i}", f"v{i}"))
            read_any(f)
            c.sendall(resp("GET", f"k{i}"))
            read_any(f)
        time.sleep(0.3)
        c.close()
        time.sleep(0.3)

    out, err = run_live(config, tmp_path, workload)
    assert depth["docs"] > 8  # the server's reply really is deeper than the limit
    events = [json.loads(l) for l in out.splitlines()]
    redis = [e for e in events if e["type"] == "redis" and e["server"]["port"] == PORT]
    methods = [e["method"] for e in redis]
    assert methods == (["HELLO"] if proto == 3 else []) + ["COMMAND DOCS"] + ["SET", "GET"] * 5, methods
    docs = redis[methods.index("COMMAND DOCS")]
    assert docs["status"] == "OK"
    # Both limits, each noted: the depth, and the 4 KiB of text kept (the reply is longer).
    assert docs["error"]["message"] == ["Reply nested deeper than 8 levels: value cut at that depth",
                                        "message longer than 4 KiB; its text cut"]
    assert docs["redis"]["return_value"].startswith("[")  # its kept first 4 KiB
    gets = [e for e in redis if e["method"] == "GET"]
    assert [e["redis"]["return_value"] for e in gets] == [f"v{i}" for i in range(5)]
    assert all("error" not in e for e in gets)
    stats = final_stats(err)
    assert stats["redis.too_deep"] >= 1  # one per aggregate cut
    assert stats.get("redis.violations", 0) == 0
    assert stats.get("stream.detached", 0) == 0
    assert stats.get("redis.unmatched_responses", 0) == 0


def test_client_reply_off_and_skip_keep_the_pairing(tmp_path, redis_server):
    """CLIENT REPLY OFF, SKIP and ON: the server leaves commands unanswered at the
    client's request (what a bulk loader does). Each unanswered command is published
    alone (status OK, event.start alone, counted in redis.unanswered_by_request) and
    every answered one with its own reply; before, the replies paired shifted for the
    rest of the connection. Which commands the server answers is read from the socket,
    a step at a time."""
    config = live_config("redis", PORT, "")
    steps = [("CLIENT", "REPLY", "OFF"), ("SET", "a", "1"), ("INCR", "a"), ("CLIENT", "REPLY", "ON"), ("GET", "a"),
             ("CLIENT", "REPLY", "SKIP"), ("INCR", "a"), ("GET", "a"),
             ("CLIENT", "REPLY", "OFF"), ("CLIENT", "REPLY", "SKIP"), ("INCR", "a"), ("CLIENT", "REPLY", "ON"),
             ("GET", "a"), ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "ON"), ("GET", "a")]
    answers = []  # per step: the reply, or None when the server sent none

    def workload():
        c = socket.create_connection(("127.0.0.1", PORT))
        for cmd in steps:
            c.sendall(resp(*cmd))
            c.settimeout(0.3)  # a reply comes at once on loopback, or never
            try:
                got = c.recv(1 << 16)
            except socket.timeout:
                got = b""
            if not got:
                answers.append(None)
            elif got[:1] == b"$":
                answers.append(got.split(b"\r\n")[1].decode())
            else:
                answers.append(got[1:-2].decode())
        c.close()
        time.sleep(0.3)

    out, err = run_live(config, tmp_path, workload)
    # The server's own behaviour, as the client saw it (Redis 3.2+).
    assert answers == [None, None, None, "OK", "2", None, None, "3", None, None, None, "OK", "4", None, "OK", "4"]
    events = [json.loads(l) for l in out.splitlines()]
    redis = [e for e in events if e["type"] == "redis" and e["server"]["port"] == PORT and e["method"] != "ECHO"]
    assert [e["query"] for e in redis] == [" ".join(cmd) for cmd in steps]
    for e, answer in zip(redis, answers):
        assert e["status"] == "OK", e
        if answer is None:
            assert "return_value" not in e["redis"] and "end" not in e["event"], e
        else:
            assert e["redis"]["return_value"] == answer and "end" in e["event"], e
    stats = final_stats(err)
    assert stats["redis.unanswered_by_request"] == answers.count(None)
    assert stats.get("redis.unmatched_responses", 0) == 0 and stats.get("redis.unmatched_requests", 0) == 0


def test_refused_client_reply_off_leaves_replies_on(tmp_path, redis_server):
    """A user whose ACL denies CLIENT sends CLIENT REPLY OFF: the server refuses it
    (NOPERM) and goes on answering; the commands after it pair with their replies."""
    config = live_config("redis", PORT, "")
    got = []

    def workload():
        admin = socket.create_connection(("127.0.0.1", PORT))
        admin.sendall(resp("ACL", "SETUSER", "app", "on", "nopass", "~*", "+@all", "-client"))
        assert read_replies(admin, 1) == ["OK"]
        admin.close()
        c = socket.create_connection(("127.0.0.1", PORT))
        for cmd in [("AUTH", "app", "x"), ("CLIENT", "REPLY", "OFF"), ("SET", "a", "1"), ("GET", "a")]:
            c.sendall(resp(*cmd))
            got.append(read_replies(c, 1)[0])
        c.close()
        time.sleep(0.3)

    out, err = run_live(config, tmp_path, workload)
    assert got[1].startswith("NOPERM") and got[2:] == ["OK", "1"]
    events = [json.loads(l) for l in out.splitlines()]
    redis = [e for e in events if e["type"] == "redis" and e["server"]["port"] == PORT and e["method"] in ("SET", "GET")]
    assert [e["redis"].get("return_value") for e in redis] == ["OK", "1"]
    stats = final_stats(err)
    assert stats["redis.unmatched_responses"] == 1 and stats["redis.unanswered_by_request"] == 1


def test_inline_commands_are_split_as_the_server_splits_them(tmp_path, redis_server):
    """Inline (telnet-style) commands with quoted arguments, the shapes of a pipeline
    typed by hand: the server unquotes them (double quotes with their escapes, single
    quotes with \\' alone) and refuses a line whose quotes do not balance, closing the
    connection. Each event's resource and query carry the arguments the server read
    (read back with GET over RESP); the refused line is paired with its error."""
    config = live_config("redis", PORT, "")
    lines = [b'SET key "my value with spaces"', b"SET key2 'my value with single quotes'",
             b"SET key3 'my value with \"double\" inners'", b'SET key4 "my value with \'single\' inners"',
             b'SET key5 "my value with \\"escaped\\" quotes"', b"SET key6 'my value with \\'escaped\\' quotes'",
             b'SET "key 7" "tab\\there\\x41\\n"', b' \t \r\n   SET   key8   plain  ', b'SET bad1 "unclosed double quotes']
    keys = ["key", "key2", "key3", "key4", "key5", "key6", "key 7", "key8"]
    replies, stored = [], {}

    def workload():
        c = socket.create_connection(("127.0.0.1", PORT))
        for line in lines:
            c.sendall(line + b"\r\n")
            replies.append(read_replies(c, 1)[0])
        c.settimeout(2)
        assert c.recv(1) == b""  # the server closed the connection after the refusal
        c.close()
        g = socket.create_connection(("127.0.0.1", PORT))
        for k in keys:
            g.sendall(resp("GET", k))
            stored[k] = read_replies(g, 1)[0]
        g.close()
        time.sleep(0.3)

    out, err = run_live(config, tmp_path, workload)
    assert replies[:-1] == ["OK"] * 8 and "unbalanced quotes" in replies[-1]
    assert stored["key5"] == 'my value with "escaped" quotes' and stored["key 7"] == "tab\there\x41\n"
    events = [json.loads(l) for l in out.splitlines()]
    sets = [e for e in events if e["type"] == "redis" and e["server"]["port"] == PORT and e["method"] == "SET"]
    assert len(sets) == 9
    for e, k in zip(sets, keys):
        assert e["resource"] == k and e["query"] == f"SET {k} {stored[k]}", e
        assert e["status"] == "OK" and e["redis"]["return_value"] == "OK", e
    refused = sets[-1]
    assert refused["status"] == "Error" and "unbalanced quotes" in refused["redis"]["error"], refused
    assert refused["resource"] == "bad1", refused  # split at its blanks, as sent
    stats = final_stats(err)
    assert stats.get("redis.unmatched_responses", 0) == 0 and stats.get("redis.unmatched_requests", 0) == 0


@pytest.mark.parametrize("proto", [2, 3])
def test_pubsub_confirmations_answer_their_commands(tmp_path, redis_server, proto):
    """Pub/sub over RESP2 and RESP3: SUBSCRIBE and UNSUBSCRIBE of several channels are
    confirmed once per channel (arrays in RESP2's subscribed mode, pushes in RESP3), and
    what a subscription delivers arrives unasked. The first confirmation answers its
    command, the others and the deliveries answer none (redis.push_messages), and the
    connection back out of subscribed mode pairs an array reply whose first element is
    "message" as a reply. Before, RESP3 confirmations answered nothing (SUBSCRIBE took
    the next command's reply and every pair after shifted) and RESP2's extra ones were
    taken for the next commands' replies."""
    config = live_config("redis", PORT, "")
    steps = [("HELLO", proto), ("RPUSH", "l", "message", "x"), ("SUBSCRIBE", "a", "b", "c"), ("PSUBSCRIBE", "p*"),
             ("PING",), ("UNSUBSCRIBE",), ("PUNSUBSCRIBE",), ("LRANGE", "l", "0", "-1"), ("GET", "nokey"),
             ("DEL", "l")]

    def workload():
        c = socket.create_connection(("127.0.0.1", PORT))
        other = socket.create_connection(("127.0.0.1", PORT))
        for cmd in steps:
            c.sendall(resp(*cmd))
            if cmd[0] in ("SUBSCRIBE", "PSUBSCRIBE"):  # a delivery while subscribed
                time.sleep(0.1)
                other.sendall(resp("PUBLISH", "b" if cmd[0] == "SUBSCRIBE" else "pq", "hi"))
                other.recv(100)
            time.sleep(0.1)
        c.close()
        other.close()
        time.sleep(0.3)

    out, err = run_live(config, tmp_path, workload)
    events = [json.loads(l) for l in out.splitlines()]
    redis = [e for e in events if e["type"] == "redis" and e["server"]["port"] == PORT and e["method"] != "ECHO"
             and e["method"] != "PUBLISH"]
    assert [e["query"] for e in redis] == [" ".join(map(str, cmd)) for cmd in steps]
    values = [e["redis"].get("return_value") for e in redis]
    assert [e["status"] for e in redis] == ["OK"] * len(steps)
    assert values[2] == "[subscribe, a, 1]" and values[3] == "[psubscribe, p*, 4]"
    assert values[4] == ("PONG" if proto == 3 else "[pong, ]")
    assert values[5].startswith("[unsubscribe, ") and values[6] == "[punsubscribe, p*, 0]"
    assert values[7:] == ["[message, x]", "nil", "1"]
    stats = final_stats(err)
    assert stats["redis.push_messages"] == 6  # two deliveries, two further confirmations each of (UN)SUBSCRIBE
    assert stats.get("redis.unmatched_responses", 0) == 0 and stats.get("redis.unmatched_requests", 0) == 0
