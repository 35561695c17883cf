#!/usr/bin/env python3
"""Live sessions with large values, for scripts/drop-each: one connection each to
Debian's MariaDB and PostgreSQL 15 (30 rounds of an INSERT of random bytes, 5 KB or
200 KB, a SELECT of it and a SELECT over the table), Python's http.server (30 GETs of
5 KB and 200 KB random bodies, some chunked, and 30 POSTs of 4 KB and 200 KB), RabbitMQ
(30 publishes of 4 KB and 200 KB bodies, each fetched back, queues declared between) and
memcached's binary protocol (20 pipelined batches of 10 Set/GetK, values of 5 KB and
200 KB). Captured on lo with tcpdump (lo's MTU set to 16384 meanwhile, so that no frame
passes the 65,535 bytes a pcap record holds, and put back), then rewritten in 1448-byte
segments as an Ethernet wire carries them. The captures are written to OUT_DIR (not
kept in the tree: 3-10 MB each), with a configuration for each.

  sudo /usr/bin/python3 tests/integration/make_value_sessions.py OUT_DIR [mysql pgsql http amqp memcache]
  scripts/drop-each build/tapbeat OUT_DIR/mysql.yml OUT_DIR/mysql.pcap
"""
import http.client
import http.server
import os
import random
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time

import make_login_captures as L
import make_pipeline_captures as M

OUT = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
PORTS = {"mysql": L.MYSQL_PORT, "pgsql": L.PG_PORT, "http": 18080, "amqp": 15674, "memcache": 11995}


def capture(port, path, work):
    L.capture(port, path, work, buffer_kb=65536)  # a 200 KB burst is no loss to the kernel


def sizes(i, every=3):
    return 200000 if i % every == 0 else 5000


def insert_select_rounds(c, rnd):
    """30 rounds on a cursor over table b (k, v): an INSERT of random bytes, a SELECT of
    it, a SELECT over the table."""
    for i in range(30):
        c.execute("INSERT INTO b VALUES (%s, %s)", (i, rnd.randbytes(sizes(i))))
        c.execute("SELECT v FROM b WHERE k = %s", (i,))
        c.fetchall()
        c.execute("SELECT k, LENGTH(v) FROM b WHERE k <= %s", (i,))
        c.fetchall()


def mysql(base, path):
    import pymysql
    srv = L.start_mariadb(base, "b (k INT PRIMARY KEY, v LONGBLOB)", "--innodb-buffer-pool-size=64M",
                          "--max-allowed-packet=64M")
    try:
        rnd = random.Random(7)

        def work():
            conn = pymysql.connect(host="127.0.0.1", port=L.MYSQL_PORT, user="app", password="secret", database="t",
                                   autocommit=True)
            with conn.cursor() as c:
                insert_select_rounds(c, rnd)
            conn.close()
        capture(L.MYSQL_PORT, path, work)
    finally:
        L.stop(srv)


def pgsql(base, path):
    srv = L.start_postgres(base, L.PG_PORT)
    import psycopg2
    rnd = random.Random(8)
    try:
        def work():
            conn = psycopg2.connect(host="127.0.0.1", port=L.PG_PORT, user="postgres", dbname="postgres")
            conn.autocommit = True
            c = conn.cursor()
            c.execute("CREATE TABLE b (k INT PRIMARY KEY, v BYTEA)")
            insert_select_rounds(c, rnd)
            conn.close()
        capture(L.PG_PORT, path, work)
    finally:
        L.stop(srv)


class Bodies(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        n = int(self.path.split("/")[-1])
        body = random.Random(n).randbytes(sizes(n))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if n % 4 == 1:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for at in range(0, len(body), 7000):
                chunk = body[at:at + 7000]
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def http_bodies(base, path):
    del base
    port = PORTS["http"]

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
    srv = Server(("127.0.0.1", port), Bodies)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    rnd = random.Random(5)

    def work():
        c = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(30):
            c.request("GET", f"/get/{i}")
            c.getresponse().read()
            c.request("POST", f"/post/{i}", body=rnd.randbytes(200000 if i % 5 == 0 else 4000),
                      headers={"Content-Type": "application/octet-stream"})
            c.getresponse().read()
        c.close()
    try:
        capture(port, path, work)
    finally:
        srv.shutdown()


def amqp(base, path):
    import pika
    port = PORTS["amqp"]
    env = dict(os.environ, RABBITMQ_NODE_PORT=str(port), RABBITMQ_NODENAME="tapbeat-values@localhost",
               RABBITMQ_MNESIA_BASE=base + "/mnesia", RABBITMQ_LOG_BASE=base + "/log",
               RABBITMQ_ENABLED_PLUGINS_FILE=base + "/plugins", RABBITMQ_DIST_PORT="25680",
               RABBITMQ_CONFIG_FILE=base + "/none")
    p = subprocess.Popen(["/usr/lib/rabbitmq/bin/rabbitmq-server"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"AMQP\x00\x00\x09\x01")
                    if s.recv(8)[:1] == b"\x01":
                        break
            except OSError:
                time.sleep(0.3)
        rnd = random.Random(3)

        def work():
            conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, frame_max=131072))
            ch = conn.channel()
            ch.queue_declare("q")
            for i in range(30):
                ch.basic_publish("", "q", rnd.randbytes(200000 if i % 3 == 0 else 4000),
                                 pika.BasicProperties(content_type="application/octet-stream", headers={"i": i}))
                ch.basic_get("q", auto_ack=True)
                ch.queue_declare("q%d" % i)
            conn.close()
        capture(port, path, work)
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=30)


def memcache(base, path):
    del base
    port = PORTS["memcache"]
    srv = subprocess.Popen(["memcached", "-p", str(port), "-U", "0", "-l", "127.0.0.1", "-u", "root", "-B", "binary",
                            "-I", "2m"])
    rnd = random.Random(11)
    try:
        L.wait_port(port)

        def request(k, j):
            if j % 2 == 0:
                key, value, extras, op = b"key%d" % k, rnd.randbytes(sizes(k, 7)), struct.pack("!II", 0, 0), 0x01
            else:
                key, value, extras, op = b"key%d" % (k - 1), b"", b"", 0x0c
            body = len(extras) + len(key) + len(value)
            return struct.pack("!BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, body, k, 0) + extras + key + value

        def answered(buf):
            n = at = 0
            while at + 24 <= len(buf):
                at += 24 + struct.unpack("!I", buf[at + 8:at + 12])[0]
                n += at <= len(buf)
            return n >= M.DEPTH
        capture(port, path, lambda: M.run_batches(port, request, answered))
    finally:
        L.stop(srv)


MAKERS = {"mysql": mysql, "pgsql": pgsql, "http": http_bodies, "amqp": amqp, "memcache": memcache}


def main():
    names = sys.argv[2:] or list(MAKERS)
    os.makedirs(OUT, exist_ok=True)
    mtu = open("/sys/class/net/lo/mtu").read().strip()
    subprocess.run(["ip", "link", "set", "dev", "lo", "mtu", "16384"], check=True)
    base = tempfile.mkdtemp(prefix="tb-values-", dir="/tmp")
    try:
        for name in names:
            path = os.path.join(OUT, name + ".pcap")
            MAKERS[name](base, path)
            M.wire_segments(path)
            with open(os.path.join(OUT, name + ".yml"), "w") as f:
                f.write(f"packetbeat.flows.enabled: false\npacketbeat.protocols:\n"
                        f"- {{type: {name}, ports: [{PORTS[name]}]}}\noutput.console: {{}}\n")
    finally:
        subprocess.run(["ip", "link", "set", "dev", "lo", "mtu", mtu], check=True)
        subprocess.run(["rm", "-rf", base])


if __name__ == "__main__":
    main()
