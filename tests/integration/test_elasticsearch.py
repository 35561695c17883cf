"""output.elasticsearch and `tapbeat setup --index-management` against a real node: an
OpenSearch 2 node (its _bulk, _index_template and data stream APIs are Elasticsearch 7
compatible) that scripts/opensearch assembles from Maven Central. A small HTTP proxy of
the test stands between tapbeat and the node where the test needs to see or disturb the
requests (headers, compression, refusals)."""
import collections
import glob
import gzip
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import (
    empty_pcap, canon as canon_event, console_events_of, final_stats, free_port, GOLDEN_CONFIG, pcap, ROOT,
    run_tapbeat, start_tapbeat, wait_for_line)

CAPTURE = pcap("ndpi/mixed/1kxun.pcap")
PORT = int(os.environ.get("TAPBEAT_OPENSEARCH_PORT", "19201"))
NODE = f"http://127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def node():
    env = dict(os.environ, OPENSEARCH_PORT=str(PORT))
    script = os.path.join(ROOT, "scripts", "opensearch")
    subprocess.run([script, "reset"], env=env, check=True, timeout=120)
    subprocess.run([script, "start"], env=env, check=True, timeout=900)
    # Every tbtest-* index is a data stream with the events' field types.
    run_tapbeat(es_args([NODE], "setup.template.name=tbtest", "setup.template.pattern=tbtest-*") +
                ["setup", "--index-management"])
    yield NODE
    subprocess.run([script, "stop"], env=env, timeout=120)


def call(method, path, body=None, base=NODE):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"{}")


def docs(index):
    call("POST", f"/{index}/_refresh")
    out = call("POST", f"/{index}/_search?size=10000", {"query": {"match_all": {}}})
    return [h["_source"] for h in out["hits"]["hits"]]




@pytest.fixture(scope="module")
def console_events():
    return console_events_of(CAPTURE)


def canon(e):
    return canon_event(e, metadata=False)


def es_args(hosts, *settings):
    args = ["-c", GOLDEN_CONFIG, "-E", "output.console.enabled=false",
            "-E", "output.elasticsearch.hosts=[" + ",".join(f'"{h}"' for h in hosts) + "]"]
    for s in settings:
        args += ["-E", s]
    return args


def run_to(hosts, *settings, check=True):
    # A run ends as soon as the node has taken everything; the default 5 s left for
    # what is in flight when the capture ends is too short for a node on a loaded
    # machine (a bulk request answered after it is counted as dropped.shutdown).
    if not any(s.startswith("tapbeat.shutdown_timeout=") for s in settings):
        settings += ("tapbeat.shutdown_timeout=60s",)
    return run_tapbeat(es_args(hosts, *settings) + ["-I", CAPTURE, "-t"], check=check)


def field_types(mapping, prefix=""):
    for k, v in mapping.get("properties", {}).items():
        if "properties" in v:
            yield from field_types(v, prefix + k + ".")
        else:
            yield prefix + k, v.get("type")


def test_setup_then_every_event_indexed_with_its_field_types(node, console_events):
    name = "setup-test"
    proc = run_tapbeat(es_args([node], f"setup.template.name={name}", f"setup.template.pattern={name}") +
                       ["setup", "--index-management"])
    assert "Index setup finished." in proc.stdout
    tpl = call("GET", f"/_index_template/{name}")["index_templates"][0]["index_template"]
    assert tpl["index_patterns"] == [name] and "data_stream" in tpl
    proc = run_to([node], f"output.elasticsearch.index={name}", "output.elasticsearch.bulk_max_size=50")
    stats = final_stats(proc.stderr)
    assert stats["output.elasticsearch.acked"] == len(console_events)
    assert stats["output.elasticsearch.bulk_requests"] >= len(console_events) // 50
    assert stats["output.elasticsearch.failed"] == 0
    got = docs(name)
    assert collections.Counter(canon(e) for e in got) == collections.Counter(canon(e) for e in console_events)
    assert all("@metadata" not in e for e in got)
    # The data stream's mapping: the types the template gives the events' fields.
    m = call("GET", f"/{name}/_mapping")
    types = dict(field_types(next(iter(m.values()))["mappings"]))
    for f, t in {"@timestamp": "date", "event.start": "date", "event.end": "date", "client.ip": "ip",
                 "source.ip": "ip", "destination.ip": "ip", "related.ip": "ip", "event.duration": "long",
                 "source.bytes": "long", "network.community_id": "keyword", "event.dataset": "keyword",
                 "url.full": "keyword", "flow.final": "boolean"}.items():
        assert types.get(f) == t, (f, types.get(f))


# Where tapbeat's index template types a field otherwise than Packetbeat 7.17.29's, on purpose.
TYPE_DIFFERENCES = {
    "http.request.body.content": "wildcard, as ECS 8 and Packetbeat 8 type it (7.17: keyword, whose 1024-character "
                                 "cap leaves longer bodies unsearchable)",
    "http.response.body.content": "as http.request.body.content",
    "memcache.response.cas_unique": "unsigned_long: a CAS value is a 64-bit unsigned number; long refuses the upper half",
    "memcache.request.cas_unique": "as memcache.response.cas_unique",
    "pgsql.error_code": "keyword: the SQLSTATE is five characters, letters among them (42P01); long refuses those",
}


def test_one_setting_lands_events_where_packetbeat_dashboards_look(node, console_events):
    # output.elasticsearch.index alone: setup names the template after the index, the
    # events go into the data stream packetbeat-tapbeat, and Packetbeat's data view
    # (packetbeat-*) finds every one of them, each field typed as Packetbeat's own
    # template types it (fields of every protocol: the golden cases' events too).
    index = "output.elasticsearch.index=packetbeat-tapbeat"
    proc = run_tapbeat(es_args([node], index) + ["setup", "--index-management"])
    assert "Index setup finished." in proc.stdout
    tpl = call("GET", "/_index_template/packetbeat-tapbeat")["index_templates"][0]["index_template"]
    assert tpl["index_patterns"] == ["packetbeat-tapbeat"] and "data_stream" in tpl
    stats = final_stats(run_to([node], index).stderr)
    assert stats["output.elasticsearch.acked"] == len(console_events)
    call("POST", "/packetbeat-*/_refresh")
    assert call("GET", "/packetbeat-*/_count")["count"] == len(console_events)
    golden = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "golden", "*", "*", "expected.ndjson"))):
        with open(path) as f:
            golden += [json.loads(line) for line in f]
    body = "".join(json.dumps({"create": {"_index": "packetbeat-tapbeat"}}) + "\n" +
                   json.dumps({k: v for k, v in e.items() if k != "@metadata"}) + "\n" for e in golden)
    req = urllib.request.Request(NODE + "/_bulk", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=120) as r:
        res = json.loads(r.read())
    assert not res["errors"], [i for i in res["items"] if "error" in i["create"]][:3]
    m = call("GET", "/packetbeat-tapbeat/_mapping")
    ours = dict(field_types(next(iter(m.values()))["mappings"]))
    with open(os.path.join(ROOT, "tests", "data", "packetbeat-7.17.29-field-types.json")) as f:
        theirs = json.load(f)
    shared = [f for f in ours if f in theirs]
    assert len(shared) > 300
    differ = {f: (ours[f], theirs[f]) for f in shared if ours[f] != theirs[f] and f not in TYPE_DIFFERENCES}
    assert differ == {}


def test_index_format_string_routes_by_event_type(node, console_events):
    run_to([node], "output.elasticsearch.index=tbtest-route-%{[type]}", "output.elasticsearch.compression_level=0")
    want = collections.Counter(e["type"] for e in console_events)
    for typ, n in want.items():
        assert len(docs(f"tbtest-route-{typ}")) == n, typ


def test_a_protocols_and_the_flows_own_index_as_packetbeat_takes_them(node, console_events, tmp_path):
    """packetbeat.protocols[].index and packetbeat.flows.index (Beats' add_formatted_index):
    those events go to their own index, as written, the others to output.elasticsearch.index."""
    text = open(GOLDEN_CONFIG).read()
    assert "  - type: dns\n    ports: [53]\n" in text and "  timeout: 2s\n" in text
    text = text.replace("  - type: dns\n    ports: [53]\n",
                        "  - type: dns\n    ports: [53]\n    index: 'tbtest-own-dns-%{[agent.version]}'\n")
    text = text.replace("  timeout: 2s\n", "  timeout: 2s\n  index: tbtest-own-flows\n")
    cfg = tmp_path / "own-index.yml"
    cfg.write_text(text)
    args = es_args([node], "output.elasticsearch.index=tbtest-own-rest", "tapbeat.shutdown_timeout=60s")
    args[args.index(GOLDEN_CONFIG)] = str(cfg)
    proc = run_tapbeat(args + ["-I", CAPTURE, "-t"])
    assert "index" not in "".join(l for l in proc.stderr.splitlines() if '"warn"' in l)
    want = collections.Counter(e["type"] for e in console_events)
    version = next(e["agent"]["version"] for e in console_events)
    assert want["dns"] and want["flow"]
    assert len(docs(f"tbtest-own-dns-{version}")) == want["dns"]
    assert len(docs("tbtest-own-flows")) == want["flow"]
    assert len(docs("tbtest-own-rest")) == sum(n for t, n in want.items() if t not in ("dns", "flow"))


def test_refused_documents_are_counted_by_error_type(node, console_events):
    # An index where client.bytes must be an IP address: every event carrying it is
    # refused (mapper_parsing_exception); the others are indexed.
    call("PUT", "/strict-test", {"mappings": {"properties": {"client": {"properties": {"bytes": {"type": "ip"}}}}}})
    proc = run_to([node], "output.elasticsearch.index=strict-test")
    refused = sum(1 for e in console_events if "bytes" in e.get("client", {}))
    assert refused > 0
    stats = final_stats(proc.stderr)
    assert stats["output.elasticsearch.failed"] == refused
    assert stats["output.elasticsearch.failed.mapper_parsing_exception"] == refused
    assert stats["output.elasticsearch.acked"] == len(console_events) - refused
    assert "event refused (status 400, mapper_parsing_exception)" in proc.stderr
    assert len(docs("strict-test")) == len(console_events) - refused


class Proxy:
    """Forwards to the node; records what tapbeat sent; refuses the first `refuse`
    bulk requests with `status`; answers the first `slow` bulk requests `delay` seconds
    after the node did (the node has indexed them by then)."""

    def __init__(self, refuse=0, status=429, slow=0, delay=0.0, port=0):
        self.requests = []
        self.refuse = refuse
        self.slow = slow
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self.forward(None)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.forward(body)

            def forward(self, body):
                proxy.requests.append((self.command, self.path, dict(self.headers), body))
                if self.command == "POST" and proxy.refuse > 0:
                    proxy.refuse -= 1
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("content-type", "content-encoding")}
                req = urllib.request.Request(NODE + self.path, data=body, method=self.command, headers=headers)
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        status, data = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, data = e.code, e.read()
                if self.command == "POST" and proxy.slow > 0:
                    proxy.slow -= 1
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()

    def bulks(self):
        return [r for r in self.requests if r[0] == "POST" and r[1].startswith("/_bulk")]


def test_refused_requests_are_sent_again_with_backoff(node, console_events):
    proxy = Proxy(refuse=2, status=429)
    try:
        proc = run_to([proxy.url], "output.elasticsearch.index=tbtest-retry", "output.elasticsearch.backoff.init=100ms")
    finally:
        proxy.close()
    stats = final_stats(proc.stderr)
    assert stats["output.elasticsearch.request_errors"] == 2
    assert stats["output.elasticsearch.retried"] > 0
    assert stats["output.elasticsearch.acked"] == len(console_events)
    assert collections.Counter(canon(e) for e in docs("tbtest-retry")) == \
        collections.Counter(canon(e) for e in console_events)


def test_auth_headers_parameters_and_compression(node):
    proxy = Proxy()
    try:
        run_to([proxy.url], "output.elasticsearch.index=tbtest-auth", "output.elasticsearch.api_key=myid:mykey",
               "output.elasticsearch.headers.X-Origin=tapbeat", "output.elasticsearch.parameters.refresh=false",
               "output.elasticsearch.bulk_max_size=100")
        run_to([proxy.url], "output.elasticsearch.index=tbtest-auth", "output.elasticsearch.username=elastic",
               "output.elasticsearch.password=changeme", "output.elasticsearch.compression_level=0")
    finally:
        proxy.close()
    bulks = proxy.bulks()
    keyed = [r for r in bulks if r[2].get("Authorization", "").startswith("ApiKey")]
    basic = [r for r in bulks if r[2].get("Authorization", "").startswith("Basic")]
    assert keyed and basic
    import base64
    assert keyed[0][2]["Authorization"] == "ApiKey " + base64.b64encode(b"myid:mykey").decode()
    assert basic[0][2]["Authorization"] == "Basic " + base64.b64encode(b"elastic:changeme").decode()
    assert keyed[0][2]["X-Origin"] == "tapbeat" and "refresh=false" in keyed[0][1]
    # Compressed unless compression_level is 0; each document is a create action.
    assert keyed[0][2].get("Content-Encoding") == "gzip" and "Content-Encoding" not in basic[0][2]
    lines = gzip.decompress(keyed[0][3]).decode().splitlines()
    action = json.loads(lines[0])["create"]
    assert action["_index"] == "tbtest-auth" and set(action) == {"_index", "_id"}
    assert "@metadata" not in json.loads(lines[1])
    # Every document has its own id: 22 characters of base64url.
    ids = [json.loads(l)["create"]["_id"] for l in lines[0::2]]
    assert len(set(ids)) == len(ids) and all(len(i) == 22 and i.replace("-", "").replace("_", "").isalnum() for i in ids)


def test_answers_slower_than_the_timeout_do_not_duplicate_documents(node, console_events):
    # The first three bulk requests are indexed but answered after tapbeat's timeout:
    # the retries name the same document ids, the node answers 409, and each event is
    # indexed once (without ids the node would hold the first three batches twice).
    proxy = Proxy(slow=3, delay=3)
    try:
        proc = run_to([proxy.url], "output.elasticsearch.index=tbtest-slow", "output.elasticsearch.timeout=1s",
                      "output.elasticsearch.backoff.init=100ms", "output.elasticsearch.bulk_max_size=100")
    finally:
        proxy.close()
    stats = final_stats(proc.stderr)
    assert stats["output.elasticsearch.timed_out"] == 3
    assert stats["output.elasticsearch.acked"] == len(console_events)
    assert 0 < stats["output.elasticsearch.duplicates"] <= 300
    assert stats["output.elasticsearch.dropped.retries"] == 0 and stats["output.elasticsearch.unconfirmed"] == 0
    assert collections.Counter(canon(e) for e in docs("tbtest-slow")) == \
        collections.Counter(canon(e) for e in console_events)


def test_answers_that_never_come_in_time_are_counted_as_unconfirmed(node, console_events):
    # Every answer comes after the timeout: tapbeat gives up after max_retries and says
    # so (unconfirmed, not "dropped"), and the node holds every event exactly once.
    proxy = Proxy(slow=10 ** 6, delay=2)
    try:
        proc = run_to([proxy.url], "output.elasticsearch.index=tbtest-unanswered", "output.elasticsearch.timeout=1s",
                      "output.elasticsearch.backoff.init=100ms", "output.elasticsearch.max_retries=1", check=False)
    finally:
        proxy.close()
    stats = final_stats(proc.stderr)
    assert stats["output.elasticsearch.acked"] == 0
    assert stats["output.elasticsearch.unconfirmed"] == len(console_events)
    assert stats["output.elasticsearch.dropped.retries"] == 0
    assert "the cluster may have indexed them, at most once each" in proc.stderr
    assert collections.Counter(canon(e) for e in docs("tbtest-unanswered")) == \
        collections.Counter(canon(e) for e in console_events)


def test_disk_queue_keeps_what_no_host_took_for_the_next_start(node, console_events, tmp_path):
    # No node: events go to the disk queue past what the requests in flight carry (100),
    # and what the output held joins them at the end. The next start, with nothing to
    # capture and the node up, indexes every one of them once.
    spool = tmp_path / "spool"
    queue = ["output.elasticsearch.index=tbtest-spooled", f"queue.disk.path={spool}",
             "output.elasticsearch.bulk_max_size=100", "tapbeat.shutdown_timeout=1s"]
    proc = run_to([f"127.0.0.1:{free_port()}"], *queue, check=False)
    stats = final_stats(proc.stderr)
    assert stats["output.elasticsearch.acked"] == 0 and stats["output.elasticsearch.dropped.retries"] == 0
    assert stats["output.queue.disk.spooled"] == len(console_events)
    assert "kept in the disk queue for the next start" in proc.stderr
    empty = empty_pcap(tmp_path)
    queue[-1] = "tapbeat.shutdown_timeout=60s"  # ends as soon as all is indexed
    proc = run_tapbeat(es_args([node], *queue) + ["-I", str(empty), "-t"])
    stats = final_stats(proc.stderr)
    assert stats["output.queue.disk.read"] == stats["output.elasticsearch.acked"] == len(console_events)
    assert collections.Counter(canon(e) for e in docs("tbtest-spooled")) == \
        collections.Counter(canon(e) for e in console_events)
    assert not any(f.endswith(".tbq") for f in os.listdir(spool))




def test_test_output_connects_to_the_node(node):
    proc = run_tapbeat(es_args([node]) + ["test", "output"])
    assert "elasticsearch output: connection OK" in proc.stdout
    assert "connected to" in proc.stderr
    proc = run_tapbeat(es_args([f"127.0.0.1:{free_port()}"], "output.elasticsearch.timeout=1s") + ["test", "output"],
                       check=False)
    assert proc.returncode == 1 and "no Elasticsearch host of" in proc.stderr


def test_node_down_at_start_does_not_stop_capture(node, console_events):
    # Nothing answers at start: the run says so and goes on; the events wait in the
    # queue (refused connections are not attempts, so max_retries 0 drops nothing) and
    # are indexed once the node is reachable, 1 s later, through the proxy on that port.
    port = free_port()
    proc = start_tapbeat(es_args([f"127.0.0.1:{port}"], "output.elasticsearch.index=tbtest-late",
                                 "output.elasticsearch.max_retries=0", "output.elasticsearch.backoff.init=100ms",
                                 "output.elasticsearch.backoff.max=200ms") + ["-I", CAPTURE, "-t"])
    proxy = None
    try:
        seen = wait_for_line(proc, "capture goes on")
        assert f"no Elasticsearch host of http://127.0.0.1:{port} answered" in seen[-1]
        time.sleep(1)
        proxy = Proxy(port=port)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        if proxy:
            proxy.close()
    assert proc.returncode == 0, err[-2000:]
    stats = final_stats(err)
    assert stats["output.elasticsearch.acked"] == len(console_events)
    assert stats["output.elasticsearch.request_errors"] >= 1
    assert stats["output.elasticsearch.dropped.retries"] == 0
    assert "answers; " in err and "waiting events are being sent" in err
    assert collections.Counter(canon(e) for e in docs("tbtest-late")) == \
        collections.Counter(canon(e) for e in console_events)


@pytest.mark.parametrize("setting,key", [
    ("output.elasticsearch.compression_level=10", "output.elasticsearch.compression_level"),
    ("output.elasticsearch.api_key=nocolon", "output.elasticsearch.api_key"),
    ("output.elasticsearch.protocol=ftp", "output.elasticsearch.protocol"),
    ("output.elasticsearch.index=%{[unclosed", "output.elasticsearch"),
])
def test_bad_settings_name_their_key(setting, key):
    proc = run_to(["127.0.0.1:1"], setting, check=False)
    assert proc.returncode != 0 and key in proc.stderr, proc.stderr[-800:]
