"""TLS sessions from live traffic: OpenSSL's s_server (Debian's openssl) on loopback,
Python's ssl module and curl as clients, tapbeat capturing on lo through libpcap.
Each session's event is checked against what the client negotiated: version, SNI,
ALPN, cipher, client certificate, resumption (TLS 1.2 ticket, TLS 1.3 PSK) and a
handshake refused with an alert."""
import json
import socket
import ssl
import subprocess
import time

import pytest

from conftest import final_stats, live_config, run_live

PORT = 18443


def iana_name(openssl_name):
    """The IANA name of a cipher suite Python's ssl module names in OpenSSL's words."""
    out = subprocess.run(["openssl", "ciphers", "-stdname", "ALL:@SECLEVEL=0"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split(" - ")
        if len(parts) >= 2 and parts[1].split()[0] == openssl_name:
            return parts[0].strip()
    return openssl_name  # TLS 1.3 suites carry their IANA names


def make_certs(d):
    """A CA, a server certificate for localhost and a client certificate (EC P-256)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "2", "-subj", "/C=SE/O=Tapbeat Test/CN=Test CA")
    for name, cn in (("server", "localhost"), ("client", "test-client")):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/C=SE/O=Tapbeat Test/CN={cn}")
        (d / f"{name}.ext").write_text(f"subjectAltName=DNS:{cn},IP:127.0.0.1\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")


def s_server(d, *extra):
    p = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{PORT}", "-cert", "server.pem", "-key",
                          "server.key", "-CAfile", "ca.pem", "-www", "-alpn", "h2,http/1.1", *extra],
                         cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.1)
    p.kill()
    pytest.fail("openssl s_server did not start")


def context(d, version, cert=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(d / "ca.pem"))
    ctx.minimum_version = ctx.maximum_version = version
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    if cert:
        ctx.load_cert_chain(str(d / "client.pem"), str(d / "client.key"))
    return ctx


def session(ctx, reuse=None):
    with socket.create_connection(("127.0.0.1", PORT)) as raw:
        port = raw.getsockname()[1]
        with ctx.wrap_socket(raw, server_hostname="localhost", session=reuse) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            while s.recv(65536):
                pass
            return s.session, s.cipher()[0], s.version(), s.session_reused, port


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    make_certs(d)
    return d


def events_by_port(out):
    return {e["client"]["port"]: e for e in (json.loads(line) for line in out.splitlines()) if e.get("type") == "tls"}


def test_tls12_and_tls13_sessions_with_resumption_and_client_certificates(certs, tmp_path):
    server = s_server(certs, "-verify", "1")
    results = {}

    def body():
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = context(certs, v, cert=True)
            first = session(ctx)
            again = session(ctx, reuse=first[0])
            results[v] = (first, again)
        time.sleep(1)

    try:
        out, err = run_live(live_config("tls", PORT, "    send_certificates: true\n"), tmp_path, body)
    finally:
        server.kill()
    ev = events_by_port(out)
    (f12, r12), (f13, r13) = results[ssl.TLSVersion.TLSv1_2], results[ssl.TLSVersion.TLSv1_3]
    assert r12[3] and r13[3], "the clients did not resume (the test's own premise)"
    for first, again, version in ((f12, r12, "1.2"), (f13, r13, "1.3")):
        e, r = ev[first[4]], ev[again[4]]
        for x, py in ((e, first), (r, again)):
            t = x["tls"]
            assert x["status"] == "OK" and t["established"] is True, t
            assert t["version"] == version and t["version_protocol"] == "tls"
            assert t["cipher"] == iana_name(py[1]), (t["cipher"], py[1])
            assert t["client"]["server_name"] == "localhost"
            assert x["server"]["domain"] == "localhost"
            assert len(t["client"]["ja3"]) == 32 and t["client"]["ja4"].startswith("t" + version.replace(".", "") + "d")
            assert t["detailed"]["client_hello"]["extensions"]["application_layer_protocol_negotiation"] == [
                "h2", "http/1.1"]
        assert e["tls"]["resumed"] is False
        assert r["tls"]["resumed"] is True, r["tls"]
        assert r["tls"]["detailed"]["resumption_method"] in ("ticket", "id")
    # TLS 1.2 shows the server's and the client's certificates and the request for one;
    # TLS 1.3 encrypts them (its first session still names the negotiated ALPN nowhere in clear).
    t12 = ev[f12[4]]["tls"]
    assert t12["next_protocol"] == "h2"
    assert t12["server"]["x509"]["subject"]["common_name"] == "localhost"
    assert t12["server"]["x509"]["alternative_names"] == ["localhost", "127.0.0.1"]
    assert t12["server"]["issuer"] == "CN=Test CA,O=Tapbeat Test,C=SE"
    assert t12["client"]["x509"]["subject"]["common_name"] == "test-client"
    assert t12["detailed"]["client_certificate_requested"] is True
    assert "x509" not in ev[f13[4]]["tls"].get("server", {})
    stats = final_stats(err)
    assert stats["tls.sessions"] == 4 and stats["tls.established"] == 4


def test_refused_handshake_reports_the_alert(certs, tmp_path):
    server = s_server(certs, "-tls1_2")
    refused = []

    def body():
        try:
            session(context(certs, ssl.TLSVersion.TLSv1_3))
        except (ssl.SSLError, ConnectionResetError) as e:
            refused.append(e)
        time.sleep(1)

    try:
        out, err = run_live(live_config("tls", PORT), tmp_path, body)
    finally:
        server.kill()
    assert refused, "the server accepted TLS 1.3 (the test's own premise)"
    (e,) = events_by_port(out).values()
    assert e["status"] == "Error" and e["tls"]["established"] is False
    assert e["tls"]["detailed"]["alert_types"] == ["protocol_version"], e["tls"]
    assert "duration" not in e["event"]


def test_curl_over_tls(certs, tmp_path):
    server = s_server(certs)

    def body():
        subprocess.run(["curl", "-s", "--cacert", str(certs / "ca.pem"), "--http1.1", "--tlsv1.2", "--tls-max", "1.2",
                        "--resolve", f"localhost:{PORT}:127.0.0.1", f"https://localhost:{PORT}/"],
                       check=True, capture_output=True, timeout=20)
        time.sleep(1)

    try:
        out, _ = run_live(live_config("tls", PORT), tmp_path, body)
    finally:
        server.kill()
    (e,) = events_by_port(out).values()
    t = e["tls"]
    assert t["established"] and t["version"] == "1.2" and t["next_protocol"] == "http/1.1"
    assert t["client"]["server_name"] == "localhost"


def test_postgres_sslrequest_hands_the_connection_to_tls(certs, tmp_path):
    """A real PostgreSQL server with ssl on: the client's SSLRequest, the server's 'S', then
    TLS on the same connection, which the pgsql decoder hands to the TLS decoder."""
    import os
    import pwd
    import shutil
    import tempfile

    import psycopg2

    from test_pgsql import pg_bin

    if os.geteuid() != 0:
        pytest.skip("live capture needs root or cap_net_raw")
    port = 15433
    user = pwd.getpwnam("postgres")
    base = tempfile.mkdtemp(prefix="tapbeat-pgtls-", dir="/tmp")
    data = os.path.join(base, "data")
    for name in ("server.pem", "server.key"):
        shutil.copy(certs / name, os.path.join(base, name))
        os.chown(os.path.join(base, name), user.pw_uid, user.pw_gid)
        os.chmod(os.path.join(base, name), 0o600)
    os.chown(base, user.pw_uid, user.pw_gid)
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_postgres + [pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    server = subprocess.Popen(as_postgres + [pg_bin("postgres"), "-D", data, "-p", str(port), "-h", "127.0.0.1", "-k",
                                             base, "-c", "fsync=off", "-c", "ssl=on", "-c",
                                             f"ssl_cert_file={base}/server.pem", "-c", f"ssl_key_file={base}/server.key"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while subprocess.run(as_postgres + [pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                             capture_output=True).returncode != 0:
            assert time.time() < deadline, "postgres did not start"
            time.sleep(0.2)
        config = live_config("pgsql", port, f"  - type: tls\n    ports: [{PORT}]\n")

        def body():
            conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                                    sslmode="require")
            assert conn.info.ssl_in_use
            cur = conn.cursor()
            cur.execute("SELECT 1")
            conn.close()
            time.sleep(1)

        out, err = run_live(config, tmp_path, body)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)
    tls = [e for e in (json.loads(line) for line in out.splitlines()) if e.get("type") == "tls"]
    assert len(tls) == 1, out[-2000:]
    t = tls[0]["tls"]
    assert tls[0]["server"]["port"] == port and t["established"] is True and t["version"] == "1.3", t
    assert final_stats(err)["stream.starttls"] == 1
