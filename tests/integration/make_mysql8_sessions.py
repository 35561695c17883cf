#!/usr/bin/env python3
"""Writes tests/data/mysql8/sessions.pcap and sessions.json: MySQL 8 clients, as they
speak to a MySQL 8 server, captured on lo.

The clients are Oracle's Connector/Python (pure-Python mode) and PyMySQL; the server is
mysql-mimic (a MySQL server written in Python, from PyPI), which offers what MySQL 8.0.23+
does that MariaDB does not: CLIENT_QUERY_ATTRIBUTES and CLIENT_DEPRECATE_EOF. Debian has no
MySQL 8 server. mysql-mimic has no caching_sha2_password; the server side of that plugin
(fast authentication from its cache, full authentication over a public-key request or in
clear text, as MySQL 8 does it) is written here after MySQL's documentation. The sessions:
- logins with caching_sha2_password: a cache miss (full authentication, the RSA public key
  asked for, as PyMySQL does; the password in clear, as Connector/Python sends it), a hit
  (fast authentication), a wrong password; mysql_native_password; an auth switch from
  caching_sha2_password to mysql_native_password;
- text queries with and without query attributes (Connector/Python's add_attribute), results
  of 0-300 rows, an error, attributes of every type Connector/Python sends (integers signed
  and unsigned, a double, strings, bytes, a DATETIME and a TIME);
- server-side prepared statements executed with parameters and with query attributes;
- COM_CHANGE_USER (Connector/Python's cmd_change_user) between queries, COM_PING,
  COM_INIT_DB, COM_RESET_CONNECTION, COM_STATISTICS;
sessions.json lists every statement the clients sent, in order per connection (client port),
with the row count or error the client saw: what tapbeat's events must show.

  sudo /usr/bin/python3 -m venv --system-site-packages /tmp/mm && /tmp/mm/bin/pip install mysql-mimic mysql-connector-python pymysql cryptography
  sudo /tmp/mm/bin/python tests/integration/make_mysql8_sessions.py
"""
import asyncio
import datetime
import hashlib
import json
import os
import subprocess
import sys
import threading
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
import mysql.connector
from mysql_mimic import MysqlServer, Session, auth
from mysql_mimic.errors import MysqlError, ErrorCode
import pymysql

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_login_captures import capture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "mysql8")
PORT = 13308
PASSWORDS = {"sha": "s3cret-sha", "nat": "n4tive", "sw": "sw1tch"}
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FastAuthDone(bytes):
    """An AuthMoreData packet after which the server goes on without a client packet."""


class CachingSha2(auth.AuthPlugin):
    """The server side of caching_sha2_password: the scramble checked against the cache
    (fast authentication, AuthMoreData 0x03 then OK), else full authentication (AuthMoreData
    0x04): the client sends the password in clear (over TLS, or as Connector/Python does),
    or asks for the server's RSA key (0x02) and sends it encrypted with the nonce."""

    name = "caching_sha2_password"
    client_plugin_name = "caching_sha2_password"
    cache = set()

    async def auth(self, auth_info=None):
        nonce = auth.utils.nonce(20)
        if auth_info and auth_info.handshake_plugin_name == self.name and auth_info.handshake_auth_data:
            nonce = auth_info.handshake_auth_data.rstrip(b"\x00")
        else:
            auth_info = yield nonce + b"\x00"
        password = PASSWORDS.get(auth_info.user.name, "")
        h1 = hashlib.sha256(password.encode()).digest()
        h2 = hashlib.sha256(hashlib.sha256(h1).digest() + nonce).digest()
        expected = bytes(a ^ b for a, b in zip(h1, h2))
        if auth_info.data != expected:
            yield auth.Forbidden()
            return
        if auth_info.user.name in self.cache:
            yield FastAuthDone(b"\x03")
            yield auth.Success(auth_info.user.name)
            return
        auth_info = yield b"\x04"
        if auth_info.data == b"\x02":
            pem = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
            auth_info = yield pem
            xored = KEY.decrypt(auth_info.data, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()),
                                                             algorithm=hashes.SHA1(), label=None))
            clear = bytes(c ^ nonce[i % len(nonce)] for i, c in enumerate(xored))
        else:
            clear = auth_info.data
        if clear.rstrip(b"\x00").decode() != password:
            yield auth.Forbidden()
            return
        self.cache.add(auth_info.user.name)
        yield auth.Success(auth_info.user.name)


class Native(auth.NativePasswordAuthPlugin):
    pass


class Users(auth.IdentityProvider):
    def get_plugins(self):
        return [CachingSha2(), Native()]

    async def get_user(self, username):
        if username not in PASSWORDS:
            return None
        if username == "sha":
            return auth.User(name=username, auth_plugin="caching_sha2_password")
        return auth.User(name=username, auth_plugin="mysql_native_password",
                         auth_string=Native.create_auth_string(PASSWORDS[username]))


class Tables(Session):
    async def query(self, expression, sql, attrs):
        text = sql.lower()
        if "no_such_table" in text:
            raise MysqlError("Table 't.no_such_table' doesn't exist", code=ErrorCode.UNKNOWN_ERROR)
        n = 0
        for word in text.replace(",", " ").split():
            if word.isdigit():
                n = int(word)
                break
        if text.startswith(("insert", "update", "delete")):
            return [], []
        return [(i, f"row-{i}-" + "v" * (i % 40)) for i in range(n)], ["id", "name"]

    async def schema(self):
        return {"t": {"items": {"id": "INT", "name": "TEXT"}}}


def patch_fast_auth():
    """mysql-mimic reads a client packet after every AuthMoreData; after fast
    authentication's 0x03 the server sends its OK with none in between."""
    from mysql_mimic import connection as conn_mod

    original = conn_mod.Connection.authenticate

    class Stream:
        def __init__(self, inner):
            self.inner, self.pending = inner, False

        def __getattr__(self, name):
            return getattr(self.inner, name)

        async def write(self, data, *a, **k):
            self.pending = data[:2] == b"\x01\x03"
            return await self.inner.write(data, *a, **k)

        async def read(self, *a, **k):
            if self.pending:
                self.pending = False
                return b""
            return await self.inner.read(*a, **k)

    async def authenticate(self, *args, **kwargs):
        inner = self.stream
        self.stream = Stream(inner)
        try:
            return await original(self, *args, **kwargs)
        finally:
            self.stream = inner

    conn_mod.Connection.authenticate = authenticate


def serve(ready):
    async def main():
        server = MysqlServer(session_factory=Tables, identity_provider=Users(), port=PORT, host="127.0.0.1")
        await server.start_server()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def work(log):
    def conn_cp(user, **kw):
        return mysql.connector.connect(host="127.0.0.1", port=PORT, user=user, password=PASSWORDS[user],
                                       use_pure=True, database="t", ssl_disabled=True, **kw)

    def run(session, cur, sql, params=None, attrs=None):
        if attrs:
            for k, v in attrs.items():
                cur.add_attribute(k, v)
        try:
            cur.execute(sql, params) if params is not None else cur.execute(sql)
            rows = cur.fetchall() if cur.with_rows else []
            session["statements"].append({"query": sql, "rows": len(rows), "error": None,
                                          "prepared": params is not None})
        except mysql.connector.Error as e:
            session["statements"].append({"query": sql, "rows": 0, "error": e.errno, "prepared": params is not None})
        if attrs:
            cur.clear_attributes()

    # PyMySQL: caching_sha2_password's full authentication (the RSA key asked for), then a
    # fast one from the cache; a wrong password.
    for attempt in range(2):
        c = pymysql.connect(host="127.0.0.1", port=PORT, user="sha", password=PASSWORDS["sha"], database="t",
                            ssl_disabled=True)
        s = {"client": "pymysql", "port": c._sock.getsockname()[1], "login": "full" if attempt == 0 else "fast",
             "statements": []}
        with c.cursor() as cur:
            for sql in ("SELECT id, name FROM items LIMIT 3", "SELECT id FROM items LIMIT 120"):
                cur.execute(sql)
                s["statements"].append({"query": sql, "rows": len(cur.fetchall()), "error": None, "prepared": False})
        c.close()
        log.append(s)
    try:
        pymysql.connect(host="127.0.0.1", port=PORT, user="sha", password="wrong", database="t", ssl_disabled=True)
    except pymysql.err.OperationalError:
        log.append({"client": "pymysql", "login": "refused", "statements": []})

    # Connector/Python with query attributes, prepared statements, change user.
    CachingSha2.cache.clear()  # Connector/Python's first login: full authentication, password in clear
    for user in ("sha", "nat", "sw"):
        kw = {"auth_plugin": "caching_sha2_password"} if user == "sw" else {}
        c = conn_cp(user, **kw)
        s = {"client": "connector", "port": c._socket.sock.getsockname()[1], "login": user, "statements": []}
        cur = c.cursor()
        run(s, cur, "SELECT id, name FROM items LIMIT 5")
        run(s, cur, "SELECT id, name FROM items LIMIT 7", attrs={"trace_id": "abc-123", "n": 42})
        run(s, cur, "SELECT id FROM items LIMIT 300", attrs={"a": "x" * 300})
        run(s, cur, "SELECT * FROM no_such_table")
        run(s, cur, "INSERT INTO items VALUES (1, 'one')", attrs={"k": 1.5})
        run(s, cur, "SELECT id FROM items LIMIT 11",
            attrs={"i": -5, "u": 2**40, "f": 2.5, "s": "text", "b": b"\x00\x01bin",
                   "d": datetime.datetime(2026, 12, 6, 12, 30, 15, 250000), "t": datetime.time(1, 2, 3)})
        c.ping()
        c.cmd_init_db("t")
        run(s, cur, "SELECT id, name FROM items LIMIT 2")
        try:
            c.cmd_statistics()
        except (mysql.connector.Error, UnicodeDecodeError):  # mysql-mimic answers it with an error
            pass
        pcur = c.cursor(prepared=True)
        run(s, pcur, "SELECT id, name FROM items WHERE id > ? LIMIT 4", params=(1,))
        run(s, pcur, "SELECT id, name FROM items WHERE id > ? LIMIT 4", params=(2,), attrs={"p": "q"})
        run(s, pcur, "SELECT id FROM items WHERE name = ? LIMIT 9", params=("z" * 50,))
        run(s, pcur, "SELECT id FROM items WHERE name = ? AND id > ? AND ts < ? AND b = ? LIMIT 3",
            params=("a", -7, datetime.datetime(2026, 1, 2, 3, 4, 5), b"\x00\xff"),
            attrs={"span": "s-1", "w": 3.25, "n": 10**12})
        pcur.close()
        if user == "nat":
            c.cmd_change_user(username="sha", password=PASSWORDS["sha"], database="t")
            cur = c.cursor()
            run(s, cur, "SELECT id FROM items LIMIT 6", attrs={"after": "change_user"})
            c.cmd_reset_connection()
            run(s, cur, "SELECT id FROM items LIMIT 8")
        cur.close()
        c.close()
        log.append(s)


def main():
    os.makedirs(OUT, exist_ok=True)
    patch_fast_auth()
    ready = threading.Event()
    threading.Thread(target=serve, args=(ready,), daemon=True).start()
    ready.wait(10)
    log = []
    pcap = os.path.join(OUT, "sessions.pcap")
    capture(PORT, pcap, lambda: work(log))
    with open(os.path.join(OUT, "sessions.json"), "w") as f:
        json.dump(log, f, indent=1)
    print(f"{pcap}: {sum(len(s['statements']) for s in log)} statements in {len(log)} connections")


if __name__ == "__main__":
    main()
