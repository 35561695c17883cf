#!/usr/bin/env python3
"""Writes tests/data/loss/{redis,memcache,memcache-bin,http,pgsql}-pipe.pcap: one
connection each that sends 20 batches of 10 pipelined requests and waits for the batch's
answers before the next, to Debian's redis-server and memcached (text and binary
protocol), Python's http.server (HTTP/1.1 keep-alive) and PostgreSQL 15 (simple
queries), captured on lo with tcpdump; and {redis,memcache}-values-pipe.pcap, the same
with values of random bytes, every fourth one 5 KB (lines inside a value that read as
messages), rewritten in segments of 1448 bytes as an Ethernet wire carries them (values
spanning segments). test_capture_loss.py drops their segments one at a
time.

  sudo /usr/bin/python3 tests/integration/make_pipeline_captures.py [NAME...]
"""
import http.server
import os
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time

from make_login_captures import OUT, capture, make_all, start_postgres, stop, wait_port

BATCHES, DEPTH = 20, 10


def recv_until(s, done):
    buf = b""
    while not done(buf):
        data = s.recv(65536)
        if not data:
            break
        buf += data


def run_batches(port, request, answered):
    s = socket.create_connection(("127.0.0.1", port))
    for b in range(BATCHES):
        s.sendall(b"".join(request(b * DEPTH + j, j) for j in range(DEPTH)))
        recv_until(s, answered)
        time.sleep(0.01)
    s.close()


def resp(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def start_redis(port, base):
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                            "--bind", "127.0.0.1", "--dir", base], stdout=subprocess.DEVNULL)
    wait_port(port)
    return srv


def redis(base):
    port = 16400
    srv = start_redis(port, base)
    try:
        capture(port, os.path.join(OUT, "redis-pipe.pcap"), lambda: run_batches(
            port, lambda k, j: resp(b"SET", b"key%d" % k, b"v" * (50 + k)) if j % 2 == 0 else
            resp(b"GET", b"key%d" % (k - 1)),
            lambda buf: buf.count(b"+OK\r\n") + buf.count(b"$") >= DEPTH and buf.endswith(b"\r\n")))
    finally:
        stop(srv)


def memcache(base):
    port = 11998
    srv = subprocess.Popen(["memcached", "-p", str(port), "-U", "0", "-l", "127.0.0.1", "-u", "root"])
    try:
        wait_port(port)

        def request(k, j):
            v = b"v" * (20 + k)
            return b"set key%d 0 0 %d\r\n%s\r\n" % (k, len(v), v) if j % 2 == 0 else b"get key%d\r\n" % (k - 1)
        capture(port, os.path.join(OUT, "memcache-pipe.pcap"), lambda: run_batches(
            port, request, lambda buf: buf.count(b"STORED\r\n") + buf.count(b"END\r\n") >= DEPTH))
    finally:
        stop(srv)


def memcache_binary(base):
    del base  # no files
    port = 11997
    srv = subprocess.Popen(["memcached", "-p", str(port), "-U", "0", "-l", "127.0.0.1", "-u", "root", "-B",
                            "binary"])
    try:
        wait_port(port)

        def request(k, j):
            # Set (extras: flags, expiry) and GetK (the response carries the key), the
            # request's number in the opaque; values of a length of their own.
            if j % 2 == 0:
                key, value, extras = b"key%d" % k, b"v" * (20 + k), struct.pack("!II", 0, 0)
                op = 0x01
            else:
                key, value, extras, op = b"key%d" % (k - 1), b"", b"", 0x0c
            body = len(extras) + len(key) + len(value)
            return struct.pack("!BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, body, k, 0) + extras + key + value

        def answered(buf):  # DEPTH whole responses
            n = at = 0
            while at + 24 <= len(buf):
                at += 24 + struct.unpack("!I", buf[at + 8:at + 12])[0]
                n += at <= len(buf)
            return n >= DEPTH
        capture(port, os.path.join(OUT, "memcache-bin-pipe.pcap"), lambda: run_batches(port, request, answered))
    finally:
        stop(srv)


def wire_segments(path, mss=1448):
    """Rewrites a capture of lo (whose segments reach 64 KB) with each TCP payload in
    segments of at most `mss` bytes, as an Ethernet wire carries them."""
    from resegment import resegment
    raw = path + ".lo"
    os.rename(path, raw)
    resegment(raw, path, sizes_of=lambda n: [mss] * (n // mss) + ([n % mss] if n % mss else []), nano=False)
    os.unlink(raw)


def random_value(k):
    """The k-th SET's value: random bytes (a fixed seed per value), every fourth one 5 KB."""
    import random
    return random.Random(k).randbytes(5000 if k % 4 == 0 else 40 + k % 50)


def replies_in(buf, simple, head, length_of, trailer):
    """The whole replies buf begins with: `simple`, or a `head` line (length_of(line): the
    bytes of the value after it), the value and `trailer`."""
    n = at = 0
    while at < len(buf):
        if buf.startswith(simple, at):
            at += len(simple)
        elif buf.startswith(head, at):
            e = buf.find(b"\r\n", at)
            if e < 0:
                break
            at = e + 2 + length_of(buf[at:e]) + len(trailer)
            if at > len(buf):
                break
        else:
            break
        n += 1
    return n


def values_pipeline(port, name, request, answered):
    path = os.path.join(OUT, name)
    capture(port, path, lambda: run_batches(port, request, answered))
    wire_segments(path)


def redis_values(base):
    port = 16401
    srv = start_redis(port, base)
    try:
        values_pipeline(
            port, "redis-values-pipe.pcap",
            lambda k, j: resp(b"SET", b"key%d" % k, random_value(k)) if j % 2 == 0 else resp(b"GET", b"key%d" % (k - 1)),
            lambda buf: replies_in(buf, b"+OK\r\n", b"$", lambda line: int(line[1:]), b"\r\n") >= DEPTH)
    finally:
        stop(srv)


def memcache_values(base):
    del base  # no files
    port = 11996
    srv = subprocess.Popen(["memcached", "-p", str(port), "-U", "0", "-l", "127.0.0.1", "-u", "root"])
    try:
        wait_port(port)

        def request(k, j):
            if j % 2 == 0:
                v = random_value(k)
                return b"set key%d 0 0 %d\r\n%s\r\n" % (k, len(v), v)
            return b"get key%d\r\n" % (k - 1)
        values_pipeline(
            port, "memcache-values-pipe.pcap", request,
            lambda buf: replies_in(buf, b"STORED\r\n", b"VALUE ", lambda line: int(line.split()[3]),
                                   b"\r\nEND\r\n") >= DEPTH)
    finally:
        stop(srv)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b"r" * (100 + 13 * int(self.path.split("/")[-1]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def http_server(base):
    del base  # no files
    port = 18082

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
    srv = Server(("127.0.0.1", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        capture(port, os.path.join(OUT, "http-pipe.pcap"), lambda: run_batches(
            port, lambda k, j: b"GET /p/%d HTTP/1.1\r\nHost: x\r\n\r\n" % k,
            lambda buf: buf.count(b"HTTP/1.") >= DEPTH and buf.endswith(b"r")))
    finally:
        srv.shutdown()


def pgsql(base):
    port = 15434
    srv = start_postgres(base, port)
    try:
        def work():
            s = socket.create_connection(("127.0.0.1", port))
            params = b"user\0postgres\0database\0postgres\0\0"
            s.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
            recv_until(s, lambda buf: buf.endswith(b"Z\x00\x00\x00\x05I"))
            for b in range(BATCHES):
                batch = b""
                for j in range(DEPTH):
                    q = b"SELECT %d AS n, repeat('x', %d) AS pad\0" % (b * DEPTH + j, 10 + b * DEPTH + j)
                    batch += b"Q" + struct.pack("!I", 4 + len(q)) + q
                s.sendall(batch)
                recv_until(s, lambda buf: buf.count(b"Z\x00\x00\x00\x05I") >= DEPTH)
                time.sleep(0.01)
            s.sendall(b"X\x00\x00\x00\x04")
            s.close()
        capture(port, os.path.join(OUT, "pgsql-pipe.pcap"), work)
    finally:
        stop(srv)


if __name__ == "__main__":
    makers = {"redis": redis, "memcache": memcache, "memcache-bin": memcache_binary, "http": http_server,
              "pgsql": pgsql, "redis-values": redis_values, "memcache-values": memcache_values}
    make_all("tapbeat-pipes-", *(makers[n] for n in (sys.argv[1:] or makers)))
