"""HTTP shapes outside the usual list, against a real server: Python's http.server
(Debian's python3) on loopback, captured live by tapbeat. The server answers an
HTTP/0.9 request with a bare body and every unknown method with 501; each request
must come out as one transaction, as the server read it."""
import json
import os
import socket
import sys
import time

import pytest

from conftest import final_stats, live_config, run_live, server_process

PORT = 18080


@pytest.fixture
def web_root(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("live capture needs root or cap_net_raw")
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_text("hello from a real server\n" * 4)
    p = server_process([sys.executable, "-m", "http.server", str(PORT), "--bind", "127.0.0.1", "--directory",
                        str(root)], PORT, b"HEAD / HTTP/1.0\r\n\r\n", b"HTTP/1.0 200")
    yield root
    p.terminate()
    p.wait(timeout=10)


def exchange(request):
    """One request on its own connection; the server's whole answer (it closes)."""
    with socket.create_connection(("127.0.0.1", PORT)) as c:
        c.sendall(request)
        answer = b""
        while chunk := c.recv(65536):
            answer += chunk
    return answer


def test_http09_lowercase_and_unusual_methods_against_a_real_server(tmp_path, web_root):
    requests = [
        # Python's server reads header lines after a versionless request line too:
        # the blank line ends them (and is not part of the HTTP/0.9 head).
        ("0.9", b"GET /hello.txt\r\n\r\n"),
        ("lower", b"get /hello.txt HTTP/1.0\r\n\r\n"),
        ("token", b"CCM_POST /cgi HTTP/1.0\r\nContent-Length: 0\r\n\r\n"),
        ("asterisk", b"OPTIONS * HTTP/1.0\r\n\r\n"),
        ("plain", b"GET /hello.txt HTTP/1.0\r\n\r\n"),
    ]
    answers = {}

    def workload():
        for name, req in requests:
            answers[name] = exchange(req)
            time.sleep(0.05)
        time.sleep(0.5)

    out, err = run_live(live_config("http", PORT), tmp_path, workload)
    body = (web_root / "hello.txt").read_bytes()
    # What the server itself did: a bare body for 0.9, 501 for methods it lacks.
    assert answers["0.9"] == body
    assert answers["lower"].startswith(b"HTTP/1.0 501")
    assert answers["token"].startswith(b"HTTP/1.0 501")
    assert answers["plain"].startswith(b"HTTP/1.0 200")
    events = [json.loads(l) for l in out.splitlines()]
    http = sorted((e for e in events if e["type"] == "http"), key=lambda e: e["event"]["start"])
    assert [e["method"] for e in http] == ["GET", "get", "CCM_POST", "OPTIONS", "GET"], [e.get("query") for e in http]
    v09, lower, token, star, plain = http
    assert v09["http"]["version"] == "0.9"
    assert "status_code" not in v09["http"]["response"]
    assert v09["http"]["response"]["body"]["bytes"] == len(body)
    assert v09["error"]["message"] == "HTTP/0.9 request: no version on the request line"
    for e in (lower, token, star):
        assert e["http"]["response"]["status_code"] == 501, e["http"]
        assert e["status"] == "Error"
    assert star["query"] == "OPTIONS *"
    assert plain["http"]["response"]["status_code"] == 200
    stats = final_stats(err)
    assert stats.get("http.unmatched_responses", 0) == 0
    assert stats.get("http.unmatched_requests", 0) == 0
    assert stats["http.versionless_requests"] == 1


def test_loopback_frames_longer_than_65535_are_captured_whole(tmp_path, web_root):
    """lo's MTU is 65536: a bulk transfer puts frames of up to 65550 bytes on it. With
    snaplen left unset, live capture takes the device's largest frame, so none is cut
    (a cut frame would be a hole in the stream); set shorter by hand, a warning says so."""
    mtu = int(open("/sys/class/net/lo/mtu").read())
    size = 1 << 20
    (web_root / "big.bin").write_bytes(os.urandom(size))
    answers = []

    def workload():
        for _ in range(3):
            answers.append(exchange(b"GET /big.bin HTTP/1.0\r\n\r\n"))
            time.sleep(0.2)
        time.sleep(0.5)

    # A kernel buffer that holds all of it: a busy machine must not drop frames here.
    config = live_config("http", PORT).replace("  device: lo\n", "  device: lo\n  buffer_size_mb: 128\n")
    out, err = run_live(config, tmp_path, workload)
    started = next(line for line in err.splitlines() if "started: capturing on lo" in line)
    assert f"snaplen {mtu + 32}" in started, started
    s = final_stats(err)
    assert s["packets.snaplen_truncated"] == 0 and s["http.gaps"] == 0 and s["capture.pcap.dropped"] == 0, s
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["http"]["response"]["body"]["bytes"] for e in events] == [size] * 3, s
    assert all(len(a) > size for a in answers)

    config = live_config("http", PORT).replace("  device: lo\n", "  device: lo\n  snaplen: 65535\n")
    out, err = run_live(config, tmp_path, lambda: time.sleep(0.1), name="short.yml")
    assert f"interfaces.snaplen 65535 is shorter than lo's largest frame (MTU {mtu})" in err


PROXY_PORT = 18081


def connect_proxy():
    """A forward proxy for CONNECT alone (as squid or a corporate proxy serves it): it
    reads the CONNECT, dials the target, answers 200 and relays bytes both ways until
    either side closes. One connection at a time, in a thread."""
    import threading
    listener = socket.create_server(("127.0.0.1", PROXY_PORT))

    def relay(a, b):
        try:
            while chunk := a.recv(65536):
                b.sendall(chunk)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def serve():
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                head += client.recv(4096)
            target = head.split(b" ")[1].decode()
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            t = threading.Thread(target=relay, args=(upstream, client), daemon=True)
            t.start()
            relay(client, upstream)
            t.join(timeout=5)
            client.close()
            upstream.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_plain_http_through_a_connect_tunnel_is_published(tmp_path, web_root):
    """A client asks a proxy for a tunnel to the web server and sends a plain request
    through it: the request to the far end is an HTTP transaction of the proxy
    connection (as Packetbeat and Zeek read it), besides the CONNECT itself and the
    proxy's own connection to the server."""
    listener = connect_proxy()
    answers = []

    def workload():
        with socket.create_connection(("127.0.0.1", PROXY_PORT)) as c:
            c.sendall(f"CONNECT 127.0.0.1:{PORT} HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\n\r\n".encode())
            time.sleep(0.1)
            c.sendall(b"GET /hello.txt HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while chunk := c.recv(65536):
                answer += chunk
            answers.append(answer)
        time.sleep(0.5)

    config = live_config("http", PORT).replace(f'"tcp port {PORT}"', f'"tcp port {PORT} or tcp port {PROXY_PORT}"')
    config = config.replace(f"ports: [{PORT}]", f"ports: [{PORT}, {PROXY_PORT}]")
    try:
        out, err = run_live(config, tmp_path, workload)
    finally:
        listener.close()
    body = (web_root / "hello.txt").read_bytes()
    assert answers and answers[0].startswith(b"HTTP/1.1 200 Connection established") and answers[0].endswith(body)
    events = [json.loads(line) for line in out.splitlines()]
    through = [e for e in events if e["server"]["port"] == PROXY_PORT]
    direct = [e for e in events if e["server"]["port"] == PORT]
    assert [e["method"] for e in through] == ["CONNECT", "GET"], [e.get("query") for e in events]
    tunnelled = through[1]
    assert tunnelled["url"]["path"] == "/hello.txt" and tunnelled["status"] == "OK", tunnelled
    assert tunnelled["http"]["response"]["status_code"] == 200
    assert tunnelled["http"]["response"]["body"]["bytes"] == len(body)
    assert [e["url"]["path"] for e in direct] == ["/hello.txt"]
    s = final_stats(err)
    assert s["stream.tunnels"] == 1 and s["http.unmatched_responses"] == 0, s


def test_a_source_port_reused_by_a_new_connection(tmp_path, web_root):
    """A client that binds the same source port for each connection (closing with a
    reset, as load generators and some NAT gateways do): the kernel opens each with
    new sequence numbers on the same ports. Each is a connection of its own, its request
    paired with its response."""
    import struct
    src_port = 18999

    def workload():
        for _ in range(3):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            c.bind(("127.0.0.1", src_port))
            c.connect(("127.0.0.1", PORT))
            c.sendall(b"GET /hello.txt HTTP/1.0\r\n\r\n")
            while c.recv(65536):
                pass
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
            c.close()
            time.sleep(0.1)
        time.sleep(0.5)

    out, err = run_live(live_config("http", PORT), tmp_path, workload)
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["client"]["port"] for e in events] == [src_port] * 3, [e.get("error") for e in events]
    assert all(e["status"] == "OK" and e["http"]["response"]["status_code"] == 200 for e in events), events
    s = final_stats(err)
    assert s["stream.port_reuse"] == 2, s
    assert s["http.unmatched_requests"] == 0 and s["http.unmatched_responses"] == 0, s
