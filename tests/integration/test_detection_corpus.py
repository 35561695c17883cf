"""Payload detection against the ports, over every capture of ../shared/pcaps.

Each capture is read twice: with the golden configuration (every protocol on its
port) and with every TCP protocol that payload detection can find moved to a port the
captures do not use. Per capture, the transactions of those protocols (by type and
status) must be the same both ways: detection finds the protocol from the connection's
first bytes (a client's request, a mid-stream QUERY or OP_QUERY, a Thrift call, an SSL
2.0-format ClientHello, a server's hello when the capture missed the client's) and the decoder
gets every byte it would have got on its port. Where the two differ on purpose, the
capture and the reason are listed below.
"""
import collections
import concurrent.futures
import json
import os
import re
import subprocess

from conftest import BIN, GOLDEN_CONFIG, SHARED

# Protocol -> a port no capture here uses.
MOVED = {"http": 61001, "redis": 61002, "memcache": 61003, "mysql": 61004, "pgsql": 61005,
         "mongodb": 61006, "amqp": 61007, "cassandra": 61008, "tls": 61009, "thrift": 61010}

UDP_MEMCACHE = "memcache over UDP: payload detection reads TCP connections; UDP goes by port"
# capture (relative to ../shared/pcaps) -> why its transactions differ on purpose
KNOWN = {
    "beats/memcache/memcache_bin_udp_counter_ops.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_bin_udp_delete.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_bin_udp_multi_store.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_bin_udp_single_store.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_text_udp_counter_ops.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_text_udp_delete.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_text_udp_multi_store.pcap": UDP_MEMCACHE,
    "beats/memcache/memcache_text_udp_single_store.pcap": UDP_MEMCACHE,
}


def config_with_ports(tmp_path, name, ports):
    """The golden configuration with the ports of the protocols `ports` names replaced."""
    text = open(GOLDEN_CONFIG).read()
    out, current = [], None
    for line in text.splitlines():
        m = re.match(r"\s*- type: (\w+)", line)
        if m:
            current = m.group(1)
        if current in ports and line.strip().startswith("ports:"):
            line = re.sub(r"ports: .*", f"ports: {ports[current]}", line)
        out.append(line)
    path = tmp_path / name
    path.write_text("\n".join(out) + "\n")
    return str(path)


def detect_config(tmp_path):
    return config_with_ports(tmp_path, "detect.yml", {p: [port] for p, port in MOVED.items()})


_golden = {}  # capture -> (all, tcp only): the golden configuration's counts, read once for both tests


def transactions(config, capture, tcp_only=False):
    if config == GOLDEN_CONFIG and capture in _golden:
        return _golden[capture][tcp_only]
    p = subprocess.run([BIN, "-c", config, "-I", capture, "-t", "--strict.perms=false"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (capture, p.stderr[-2000:])
    counts, tcp = collections.Counter(), collections.Counter()
    for line in p.stdout.splitlines():
        e = json.loads(line)
        if e.get("type") in MOVED:
            counts[f"{e['type']}:{e.get('status')}"] += 1
            if e.get("network", {}).get("transport") == "tcp":
                tcp[f"{e['type']}:{e.get('status')}"] += 1
    if config == GOLDEN_CONFIG:
        _golden[capture] = (counts, tcp)
    return tcp if tcp_only else counts


def assert_golden_transactions_but(config, known, tcp_only=False):
    """Per capture, the transactions with `config` are the golden configuration's, but
    for the captures `known` lists (each with its reason, each still differing)."""
    root = os.path.join(SHARED, "pcaps")
    captures = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
                      if f.endswith((".pcap", ".pcapng", ".cap")))

    def both(capture):
        return capture, transactions(GOLDEN_CONFIG, capture, tcp_only), transactions(config, capture, tcp_only)

    differ, total = {}, collections.Counter()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for capture, golden, other in pool.map(both, captures):
            total.update(golden)
            if golden != other:
                differ[os.path.relpath(capture, root)] = (dict(golden), dict(other))
    assert sum(total.values()) > 3000, total  # the corpus's TCP transactions of those protocols
    unexpected = {c: d for c, d in differ.items() if c not in known}
    assert not unexpected, unexpected
    assert set(differ) == set(known), set(known) - set(differ)  # a listed reason that no longer holds


def test_payload_detection_gives_the_transactions_of_the_ports(tmp_path):
    assert_golden_transactions_but(detect_config(tmp_path), KNOWN)


# Each protocol's port given to another decoder (decoder -> the protocol whose port it
# takes), the protocol itself moved to a port no capture uses: its traffic is then on
# another protocol's port, as HTTP through a database's port a firewall lets pass is.
# A connection whose first bytes a decisive probe of another protocol names, and none of
# the port's, goes to that protocol (detect.port_overruled): the transactions must be
# those of the protocol's own port.
CLAIMS = {"mysql": "http", "redis": "mysql", "dns": "redis", "memcache": "pgsql", "http": "memcache",
          "pgsql": "mongodb", "mongodb": "amqp", "amqp": "cassandra", "cassandra": "tls", "tls": "thrift"}
GOLDEN_PORTS = {"http": [80], "mysql": [3306], "redis": [6379, 6380], "pgsql": [5432], "memcache": [11211],
                "mongodb": [27017], "amqp": [5672], "cassandra": [9042], "tls": [443], "thrift": [9090]}

MIDSTREAM = ("picked up mid-stream (no SYN) and begun by a message no decisive probe knows (a query, an "
             "OP_QUERY or OP_MSG, a memcache or Thrift request): the port's decoder keeps it")
SNAPPED = ("the snap length kept the request line's first 30 bytes, short of its version: the port's "
           "decoder took them; the response's status line then handed the connection to HTTP")
KNOWN_CLAIMED = {c: MIDSTREAM for c in (
    "beats/cassandra/v4/cassandra_create_index.pcap",
    "beats/cassandra/v4/cassandra_create_keyspace.pcap",
    "beats/cassandra/v4/cassandra_create_table.pcap",
    "beats/cassandra/v4/cassandra_insert.pcap",
    "beats/cassandra/v4/cassandra_select.pcap",
    "beats/cassandra/v4/cassandra_select_via_index.pcap",
    "beats/cassandra/v4/cassandra_trace_err.pcap",
    "beats/memcache/memcache_bin_tcp_counter_ops.pcap",
    "beats/memcache/memcache_bin_tcp_delete.pcap",
    "beats/memcache/memcache_bin_tcp_multi_store_load.pcap",
    "beats/memcache/memcache_bin_tcp_single_load_store.pcap",
    "beats/memcache/memcache_bin_tcp_stats.pcap",
    "beats/memcache/memcache_text_tcp_counter_ops.pcap",
    "beats/memcache/memcache_text_tcp_delete.pcap",
    "beats/memcache/memcache_text_tcp_multi_store_load.pcap",
    "beats/memcache/memcache_text_tcp_single_load_store.pcap",
    "beats/memcache/memcache_text_tcp_stats.pcap",
    "beats/mongo_3.0_session.pcap",
    "beats/mongo_one_row.pcap",
    "beats/mongodb_create_collection.pcap",
    "beats/mongodb_find.pcap",
    "beats/mongodb_insert_duplicate_key.pcap",
    "beats/mongodb_inserts.pcap",
    "beats/mongodb_more_rows.pcap",
    "beats/mongodb_reply_request_reply.pcap",
    "beats/mongodb_use_db.pcap",
    "beats/mysql_affected_rows.pcap",
    "beats/mysql_err_database_not_selected.pcap",
    "beats/mysql_long.pcap",
    "beats/mysql_long_result.pcap",
    "beats/mysql_windows_lineending.pcap",
    "beats/mysql_with_gap.pcap",
    "beats/pgsql_insert.pcap",
    "beats/pgsql_insert_error.pcap",
    "beats/pgsql_long_result.pcap",
    "beats/pgsql_request_response.pcap",
)}
KNOWN_CLAIMED.update({
    "community-id/flows/combined.pcap": SNAPPED,
    "community-id/flows/tcp.pcap": SNAPPED,
    "zeek/flows/communityid__tcp.pcap": SNAPPED,
    "scapy/http/test__pcaps__http_chunk.pcap": "picked up mid-stream, a keep-alive's stray byte first: the "
                                               "port's decoder took it before the request came",
    "suricata-verify/http/http-not09-file/input.pcap": "the client's bytes are not HTTP (binary); the server's "
                                                       "400 answer comes after the port's decoder took them",
})


def claims_config(tmp_path):
    ports = {p: [port] for p, port in MOVED.items()}
    for decoder, taken in CLAIMS.items():
        ports[decoder] = GOLDEN_PORTS[taken] + ([53] if decoder == "dns" else [])
    return config_with_ports(tmp_path, "claims.yml", ports)


def test_protocols_on_each_others_ports_give_the_transactions_of_their_own(tmp_path):
    assert_golden_transactions_but(claims_config(tmp_path), KNOWN_CLAIMED, tcp_only=True)
