#!/usr/bin/env python3
"""Writes tests/data/loss/mysql-logins.pcap and pgsql-logins.pcap: many short
connections, each a login and two statements, to Debian's MariaDB (password users,
mysql_native_password; some wrong passwords) and PostgreSQL 15 (scram-sha-256 over an
SSL request the server refuses, some without one; some wrong passwords), captured on lo
with tcpdump. test_capture_loss.py drops their login segments one at a time.

  sudo /usr/bin/python3 tests/integration/make_login_captures.py
"""
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import psycopg2
import pymysql

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "loss")
MYSQL_PORT, PG_PORT = 13307, 15433


def wait_port(port):
    import socket
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"nothing listens on {port}")


def capture(port, path, work, buffer_kb=None):
    """tcpdump on lo while work() runs; buffer_kb: its kernel buffer (-B), for bursts of
    large values the default one would drop."""
    log = path + ".log"
    buffer = ["-B", str(buffer_kb)] if buffer_kb else []
    with open(log, "w") as err:
        p = subprocess.Popen(["tcpdump", "-i", "lo", *buffer, "--immediate-mode", "-U", "-Z", "root", "-w", path, "tcp",
                              "port", str(port)], stdout=subprocess.DEVNULL, stderr=err)
    while "listening" not in open(log).read():  # tcpdump says so once it captures
        time.sleep(0.1)
    try:
        work()
    finally:
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=10)
        print(path, open(log).read().strip().replace("\n", "; "))
        os.unlink(log)


def start_mariadb(base, table, *options):
    """A MariaDB server in base/mdb on 127.0.0.1:MYSQL_PORT with database t, its table
    `table` (a CREATE TABLE's columns) and user app/secret."""
    data = os.path.join(base, "mdb")
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                    "--auth-root-authentication-method=normal", "--skip-test-db"], check=True, capture_output=True)
    srv = subprocess.Popen(["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}", "--user=root",
                            f"--port={MYSQL_PORT}", "--bind-address=127.0.0.1", f"--socket={base}/mdb.sock",
                            "--skip-name-resolve", "--skip-log-bin", *options],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(MYSQL_PORT)
        root = pymysql.connect(unix_socket=f"{base}/mdb.sock", user="root")
        with root.cursor() as c:
            c.execute("CREATE DATABASE t")
            c.execute("CREATE USER 'app'@'%' IDENTIFIED BY 'secret'")
            c.execute("GRANT ALL ON t.* TO 'app'@'%'")
            c.execute(f"CREATE TABLE t.{table}")
        root.close()
    except BaseException:
        stop(srv)
        raise
    return srv


def mysql(base):
    srv = start_mariadb(base, "kv (k INT PRIMARY KEY, v VARCHAR(64))", "--innodb-buffer-pool-size=16M")
    try:
        def work():
            for i in range(24):
                if i % 8 == 7:
                    try:
                        pymysql.connect(host="127.0.0.1", port=MYSQL_PORT, user="app", password="wrong")
                    except pymysql.err.OperationalError:
                        pass
                    continue
                conn = pymysql.connect(host="127.0.0.1", port=MYSQL_PORT, user="app", password="secret",
                                       database="t", autocommit=True)
                with conn.cursor() as c:
                    c.execute(f"INSERT INTO kv VALUES ({i}, 'value {i}')")
                    c.execute(f"SELECT v FROM kv WHERE k = {i}")
                conn.close()
        capture(MYSQL_PORT, os.path.join(OUT, "mysql-logins.pcap"), work)
    finally:
        stop(srv)


PG_BIN = "/usr/lib/postgresql/15/bin/"


def as_postgres(argv, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], **kw)


def start_postgres(base, port, hba=None):
    """A PostgreSQL 15 server in base/pg on 127.0.0.1:port (trust, or pg_hba.conf `hba`)."""
    user = pwd.getpwnam("postgres")
    os.chown(base, user.pw_uid, user.pw_gid)
    data = os.path.join(base, "pg")
    as_postgres([PG_BIN + "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"], check=True,
                capture_output=True)
    if hba:
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            f.write(hba)
    srv = subprocess.Popen(["runuser", "-u", "postgres", "--", PG_BIN + "postgres", "-D", data, "-p", str(port),
                            "-h", "127.0.0.1", "-k", base, "-c", "fsync=off"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    time.sleep(1)
    return srv


def stop(srv):
    srv.terminate()
    srv.wait(timeout=30)


def make_all(prefix, *makers):
    """Runs each maker(base) with a scratch folder, tcpdump being there."""
    if shutil.which("tcpdump") is None:
        sys.exit("tcpdump is not installed")
    base = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    try:
        for make in makers:
            make(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def pgsql(base):
    srv = start_postgres(base, PG_PORT, "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    try:
        as_postgres([PG_BIN + "psql", "-h", base, "-p", str(PG_PORT), "-U", "postgres", "-c",
                     "ALTER USER postgres PASSWORD 'secret'; CREATE TABLE kv (k int primary key, v text);"],
                    check=True, capture_output=True)

        def work():
            for i in range(24):
                ssl = "disable" if i % 3 == 2 else "prefer"
                pw = "wrong" if i % 8 == 7 else "secret"
                try:
                    conn = psycopg2.connect(host="127.0.0.1", port=PG_PORT, user="postgres", password=pw,
                                            dbname="postgres", sslmode=ssl)
                except psycopg2.OperationalError:
                    continue
                conn.autocommit = True
                with conn.cursor() as c:
                    c.execute(f"INSERT INTO kv VALUES ({i}, 'value {i}')")
                    c.execute(f"SELECT v FROM kv WHERE k = {i}")
                    c.fetchall()
                conn.close()
        capture(PG_PORT, os.path.join(OUT, "pgsql-logins.pcap"), work)
    finally:
        stop(srv)


def main():
    make_all("tapbeat-logins-", mysql, pgsql)


if __name__ == "__main__":
    main()
