"""Packetbeat's own test cases (../shared/expectations) for what tapbeat decodes so far
(flows, ICMP, DNS, HTTP and Redis), run against tapbeat.

Each case names a capture, the configuration deviations and what Packetbeat's system
tests assert about the flow events. The assertions are read from the data file, not
restated here."""
import json
import os
import re
import shutil
from datetime import datetime

import pytest
import yaml

from conftest import SHARED, events_of, flatten, pcap

EXPECTATIONS = os.path.join(SHARED, "expectations", "packetbeat-expectations.yaml")
# Cases whose capture lives in libbeat's flowhash test data: the same files as the
# community-id specification captures.
FLOWHASH = "libbeat/common/flowhash/testdata/pcap/"

# Where tapbeat's flows differ from Packetbeat's on purpose, with the reason.
KNOWN_DIFFERENCES = {
    "flow_community_id_icmp": "the capture's 4th packet is an ICMP time-exceeded from 10.0.0.1 to 10.0.0.2; "
    "tapbeat reports it as its own flow (2 flows), Packetbeat's test counts 1",
    "flow_community_id_icmp6": "Packetbeat splits the neighbour-discovery exchanges into flows keyed on "
    "quirks of its ICMPv6 flow id and publishes ids (e.g. 1:GpbEQrKqfWtsfsFiqg8fufoZe5Y=) that match no "
    "tuple of the capture under the Community ID specification; tapbeat follows the specification",
    "cassandra_compressed": "event 2: Packetbeat pairs responses with requests in arrival order, so it joins the "
    "request on stream 0 (SELECT * FROM system.local) with the response on stream 64 (the system.peers rows), and "
    "its rows parser reads num_rows from the first column spec's name ('\\x00\\x04pe' of 'peer' = 290917). "
    "tapbeat pairs by stream id as the protocol specifies: its event 2 is stream 64's SELECT * FROM system.peers "
    "with the peers rows (col_count 9, num_rows 0), and stream 0's query follows with the system.local row "
    "(test_cassandra.py asserts both)",
    "http_large_body": "the response's Content-Type is application/octet-stream and include_body_for is "
    "[binary]: no substring matches, so tapbeat (matching include_body_for against the Content-Type, as "
    "Packetbeat documents it) leaves the body out; Packetbeat's test expects it included",
}

# Events tapbeat publishes on purpose where Packetbeat's test run does not, removed
# before the case's assertions (which then hold for the rest), with the reason.
EXTRA_EVENTS = {
    "pgsql_extended_query": (
        lambda e: e.get("query") == "SET extra_float_digits = 3",
        "the JDBC driver's first batch (Parse, Bind, Execute, Sync for SET extra_float_digits = 3) is answered by "
        "ParseComplete, BindComplete, CommandComplete SET, ReadyForQuery (frames 7-8, as tshark dissects them): "
        "tapbeat publishes it; Packetbeat's test run publishes only the SELECT",
    ),
    "mysql_connection_phase": (
        lambda e: e.get("query") in {"select @@version_comment limit 1", "CREATE DATABASE test", "SHOW TABLES",
                                     "DROP DATABASE test"},
        "the capture holds five answered COM_QUERY commands after the handshake (tshark lists the same five); "
        "Packetbeat's test run publishes only SELECT DATABASE(), tapbeat publishes all five "
        "(test_mysql.py checks every MySQL capture's queries against tshark)",
    ),
    "http_10_connection_close": (
        lambda e: e.get("type") == "tls" and e.get("server.port") == 5432,
        "the capture's PostgreSQL connection (port 5432) asks for TLS with an SSLRequest, the server answers 'S' "
        "and a TLS 1.0 handshake follows: tapbeat hands the connection to its TLS decoder and publishes the "
        "session; Packetbeat's pgsql module stops there and its tls module does not watch port 5432",
    ),
    "http_unmatched_response": (
        lambda e: e.get("error.message") == "Unmatched request" and e.get("client.port") == 63081,
        "the request on port 63081 is never answered (the client resets at 1.5 s); tapbeat publishes it "
        "as 'Unmatched request' once transaction_timeout passes in packet time, as Packetbeat does live. "
        "Packetbeat's -t run ends before its wall-clock timeout fires and drops it at shutdown.",
    ),
}


def load_cases():
    with open(EXPECTATIONS) as f:
        doc = yaml.safe_load(f)
    return [c for c in doc["cases"] if c["case"].startswith(("flow_", "icmp", "dns_", "http_", "redis_", "memcache_", "mysql_", "pgsql_", "mongodb_", "amqp_", "cassandra_", "tls", "dhcpv4", "nfs", "thrift"))], doc["defaults"]


CASES, DEFAULTS = load_cases()


def capture_path(case):
    p = case["pcap"]
    if p.startswith(FLOWHASH):
        return pcap("community-id/flows/" + p[len(FLOWHASH):])
    return pcap("beats/" + p)


def overrides_for(case):
    cfg = case.get("config") or {}
    # Packetbeat's test config has flows off unless a case configures them, and finds
    # protocols by port only (tapbeat also classifies other flows by payload).
    out = [] if any(k.startswith("packetbeat.flows") for k in cfg) else ["packetbeat.flows.enabled=false"]
    out.append("tapbeat.detect=ports")
    for k, v in cfg.items():
        if k == "processors":
            # Flow cases: drop_event of non-flow events (only flow events are read
            # anyway). HTTP cases: detect_mime_type, which tapbeat's http decoder does
            # itself (http.*.mime_type from the included body).
            continue
        if isinstance(v, list):
            v = "[" + ",".join(str(x) for x in v) + "]"
        out.append(f"{k}={v}")
    return out


# Fields Packetbeat declares as objects: flattening stops there.
OBJECT_FIELDS = ("http.request.headers", "http.response.headers")


def flatten_case(e):
    out = {}

    def walk(obj, prefix):
        for k, v in obj.items():
            key = prefix + k
            if isinstance(v, dict) and key not in OBJECT_FIELDS:
                walk(v, key + ".")
            else:
                out[key] = v
    walk(e, "")
    return out


def lookup(e, field):
    """A dotted name, descending into object-type fields; name[i] indexes a list."""
    if field.endswith("]") and "[" in field:
        base, _, idx = field[:-1].rpartition("[")
        v = lookup(e, base)
        return v[int(idx)] if isinstance(v, list) and int(idx) < len(v) else None
    if field in e:
        return e[field]
    for obj in OBJECT_FIELDS:
        if field.startswith(obj + ".") and isinstance(e.get(obj), dict):
            return e[obj].get(field[len(obj) + 1:])
    return None


def has(e, field):
    return field in e or any(x.startswith(field + ".") for x in e) or lookup(e, field) is not None


def selected(case_expect, events):
    if "index" in case_expect:
        return [case_expect["index"]]
    idx = case_expect.get("indexes")
    if idx is None:
        idx = list(range(len(events)))
    elif isinstance(idx, str):
        a, _, b = idx.partition("-")
        idx = list(range(int(a), int(b) + 1 if b else len(events)))
    else:
        idx = list(idx)
    if "select" in case_expect:
        hits = [i for i in idx if all(lookup(events[i], k) == v for k, v in case_expect["select"].items())]
        assert len(hits) == 1, f"select {case_expect['select']} matches {len(hits)} events"
        return hits
    if "where" in case_expect:
        return [i for i in idx if all(lookup(events[i], k) in v for k, v in case_expect["where"].items())]
    return idx


def parse_time(s):
    # Nanosecond text trimmed to microseconds, as the tests compare.
    if "." in s:
        head, frac = s.rstrip("Z").split(".")
        s = f"{head}.{frac[:6].ljust(6, '0')}+00:00"
    else:
        s = s.rstrip("Z") + "+00:00"
    return datetime.fromisoformat(s)


PARAMS = [
    pytest.param(c, id=c["case"],
                 marks=[pytest.mark.xfail(reason=KNOWN_DIFFERENCES[c["case"]], strict=True)]
                 if c["case"] in KNOWN_DIFFERENCES else [])
    for c in CASES
]


@pytest.mark.parametrize("case", PARAMS)
def test_case(case, tmp_path):
    # Thrift cases name IDL files that Packetbeat's tests copy into its working folder.
    for f in (case.get("config") or {}).get("packetbeat.protocols.thrift.idl_files", []):
        shutil.copy(os.path.join(SHARED, "expectations", "thrift-idl", f), tmp_path / f)
    events, _ = events_of(capture_path(case), overrides_for(case), cwd=tmp_path)
    spec = case.get("events") or {}
    flt = spec.get("filter") or {}
    raw = spec.get("format") == "raw_json"
    events = [flatten_case(e) for e in events]
    events = [e for e in events if all(e.get(k) == v for k, v in flt.items())]
    if case["case"] in EXTRA_EVENTS:
        extra, _reason = EXTRA_EVENTS[case["case"]]
        assert any(extra(e) for e in events), "the extra event is no longer published: update EXTRA_EVENTS"
        events = [e for e in events if not extra(e)]
    if "count" in spec:
        assert len(events) == spec["count"], f"{len(events)} events: {[e.get('type') for e in events]}"
    if "min_count" in spec:
        assert len(events) >= spec["min_count"], f"{len(events)} events"
    required = DEFAULTS["reading_events"]["required_field_sets"].get(spec.get("required_fields", "transaction"))
    for e in events:
        missing = [k for k in required if k not in e]
        assert not missing, f"missing required fields {missing}"
    for k, v in ((case.get("all_events") or {}).get("fields") or {}).items():
        assert all(lookup(e, k) == v for e in events), f"{k} != {v} in some event"
    for k in (case.get("all_events") or {}).get("absent") or []:
        assert all(not has(e, k) for e in events), f"{k} present in some event"
    for k in (case.get("all_events") or {}).get("present") or []:
        assert all(has(e, k) for e in events), f"{k} absent in some event"
    for exp in case.get("expect") or []:
        for i in selected(exp, events):
            e = events[i]
            for k, v in (exp.get("fields") or {}).items():
                assert lookup(e, k) == v, f"event {i}: {k} = {lookup(e, k)!r}, Packetbeat expects {v!r}"
            for k in exp.get("present") or []:
                assert has(e, k), f"event {i}: {k} absent"
            for k in exp.get("absent") or []:
                assert not has(e, k), f"event {i}: {k} present"
            for k in exp.get("truthy") or []:
                assert lookup(e, k), f"event {i}: {k} = {lookup(e, k)!r}, not truthy"
            for k in exp.get("falsy") or []:
                assert not lookup(e, k), f"event {i}: {k} = {lookup(e, k)!r}, not falsy"
            for a, b in exp.get("equal_fields") or []:
                assert lookup(e, a) == lookup(e, b), f"event {i}: {a} != {b}"
    for chk in case.get("checks") or []:
        at = chk["at"]
        if at == "all":
            targets = range(len(events))
        elif isinstance(at, str):
            a, _, b = at.partition("-")
            targets = range(int(a), int(b) + 1 if b else len(events))
        else:
            targets = [at]
        if chk["op"] == "distinct_values_eq":
            vals = [lookup(events[i], chk["field"]) for i in targets]
            assert sorted(vals) == sorted(chk["value"]) and len(set(vals)) == len(vals), vals
            continue
        for i in targets:
            check(events[i], chk)
    assert not raw or events, "raw_json case read no event"


def check(e, chk):
    op, field = chk["op"], chk.get("field")
    v = lookup(e, field) if field else None
    if op == "time_gt_field":
        assert parse_time(v) > parse_time(e[chk["value"]])
    elif op in ("gt", "ge", "lt", "ne"):
        ok = {"gt": v > chk["value"] if v is not None else False, "ge": v is not None and v >= chk["value"],
              "lt": v is not None and v < chk["value"], "ne": v != chk["value"]}[op]
        assert ok, f"{field} = {v!r} not {op} {chk['value']!r}"
    elif op == "len_eq":
        assert len(v) == chk["value"], f"{field} has length {len(v)}"
    elif op == "len_gt":
        assert v is not None and len(v) > chk["value"], f"{field} has length {None if v is None else len(v)}"
    elif op == "len_lt":
        assert v is not None and len(v) < chk["value"], f"{field} has length {None if v is None else len(v)}"
    elif op == "type":
        want = {"string": str, "int": int, "object": dict}[chk["value"]]
        assert isinstance(v, want), f"{field} is {type(v).__name__}"
    elif op == "regex":
        assert v is not None and re.search(chk["value"], v), f"{field} = {v!r} does not match {chk['value']}"
    elif op == "no_string_value_contains":
        bad = [k for k, x in e.items() if isinstance(x, str) and chk["value"] in x]
        assert not bad, f"{bad} contain {chk['value']!r}"
    elif op == "each_item_truthy":
        assert v and all(all(item.get(k) for k in chk["keys"]) for item in v), v
    elif op == "each_item_eq":
        assert all(item[chk["key"]] == chk["value"] for item in v)
    elif op == "each_item_contains":
        assert all(chk["value"] in item[chk["key"]] for item in v)
    elif op in ("line_count", "line_lengths_eq", "line_lengths_lt"):
        assert chk["lines"] in ("strip_split_lf", "splitlines"), chk
        lines = v.strip().split("\n") if chk["lines"] == "strip_split_lf" else v.splitlines()
        if op == "line_count":
            assert len(lines) == chk["value"], f"{field} has {len(lines)} lines"
        elif op == "line_lengths_lt":
            bad = [(i, len(x)) for i, x in enumerate(lines) if len(x) >= chk["value"]]
            assert not bad, f"{field}: lines too long (index, length): {bad[:5]}"
        else:
            bad = [(i, len(x)) for i, x in enumerate(lines) if i >= chk["from_line"] and len(x) != chk["value"]]
            assert not bad, f"{field}: lines of other lengths (index, length): {bad[:5]}"
    elif op == "item_eq":
        assert isinstance(v, list) and len(v) > chk["item"] and v[chk["item"]] == chk["value"], f"{field} = {v!r}"
    elif op == "contains":
        assert chk["value"] in v, f"{field} lacks {chk['value']!r}"
    elif op == "in":
        assert v in chk["value"], f"{field} = {v!r}, not one of {chk['value']}"
    else:
        raise AssertionError(f"unhandled check {chk}")


def test_every_flow_case_is_covered():
    # The flow cases Packetbeat's suite has: a new one in the data file is run, not skipped.
    assert len(CASES) >= 9


# Packetbeat's golden events (test_0099): whole-event equality after its removed keys.
# Keys where tapbeat differs on purpose, with the reason.
GOLDEN_DIFFERENCES = {
    "@metadata.beat": "events name the beat that made them: tapbeat, not packetbeat",
    "tls.client.ja4": "beyond Packetbeat: JA4 of the ClientHello",
    "tls.server.ja3s": "beyond Packetbeat: ECS tls.server.ja3s",
    "tls.curve": "beyond Packetbeat: ECS tls.curve (the ECDHE ServerKeyExchange's curve, TLS 1.3's key_share group)",
}
# Keys of one case where tapbeat differs on purpose: (case, key prefix) -> reason.
GOLDEN_CASE_DIFFERENCES = {
    ("non_established_tls", "tls.server."): "the client half-closes right after its ClientHello (frame 5) and the "
    "server's hello, certificates and key exchange follow (frames 7-17) before it ends the connection; Packetbeat "
    "publishes at the first FIN and shows none of them, tapbeat publishes once both sides have ended, with them",
    ("non_established_tls", "tls.detailed.server_"): "as tls.server.*: the server's flight after the client's FIN",
    ("non_established_tls", "tls.cipher"): "as tls.server.*: the ServerHello after the client's FIN",
    ("non_established_tls", "tls.next_protocol"): "as tls.server.*: the ServerHello after the client's FIN",
    ("sip", "sip.contact."): "Packetbeat fills sip.contact from the To header (its populateContactFields parses "
    "m.to); tapbeat reports the Contact header: its display name, URI (with ;transport=), expires, q, line",
    ("sip_authenticated_register", "sip.contact."): "as in the sip case: the Contact header, not To's",
    ("sip_through_tcp", "sip.contact."): "as in the sip case: the Contact header, not To's",
    ("sip_authenticated_register", "related.hosts"): "the Contact header's host (192.168.1.2) joins related.hosts; "
    "Packetbeat lists To's host twice instead and, for P-Associated-URI, 'sip.cybercity.dk>' (its URI is not taken "
    "out of its angle brackets)",
    ("sip_authenticated_register", "sip.private.uri."): "P-Associated-URI is a name-addr (RFC 7315): tapbeat reports "
    "the URI inside <...> (scheme 'sip', host 'sip.cybercity.dk'); Packetbeat parses the brackets into it ('<sip', "
    "'sip.cybercity.dk>')",
    ("sip_through_tcp", "network.iana_number"): "SIP over TCP: tapbeat writes 6; Packetbeat writes 17 whatever the "
    "transport",
    ("tls_1_3", "tls.detailed.resumption_method"): "the TLS 1.3 ServerHello accepts a pre-shared key (extension 41): "
    "a resumption from a ticket (RFC 8446 2.2). Packetbeat says 'id' because the server echoes the legacy session "
    "id, which every TLS 1.3 server in compatibility mode does, resumed or not",
}
DECODED = {"dns", "http", "icmp", "tls", "sip"}


def golden_cases():
    with open(EXPECTATIONS) as f:
        doc = yaml.safe_load(f)
    g = doc["golden"]
    return [c for c in g["cases"] if set(c["event_types"]) <= DECODED], g["removed_keys"]


GOLDEN, REMOVED = golden_cases()


def flat_all(o, prefix=""):
    out = {}
    for k, v in o.items():
        if isinstance(v, dict):
            out.update(flat_all(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


@pytest.mark.parametrize("case", GOLDEN, ids=[c["case"] for c in GOLDEN])
def test_golden_case(case):
    overrides = ["packetbeat.flows.enabled=false", "tapbeat.detect=ports"]
    overrides += [f"{k}={v}" for k, v in (case.get("config") or {}).items()]
    events, _ = events_of(capture_path(case), overrides)
    with open(os.path.join(SHARED, "expectations", case["expected_file"])) as f:
        expected = json.load(f)
    drop = set(REMOVED) | set(GOLDEN_DIFFERENCES)
    differs = [prefix for (c, prefix) in GOLDEN_CASE_DIFFERENCES if c == case["case"]]

    def kept(k):
        return k not in drop and not any(k.startswith(p) for p in differs)

    got = [{k: v for k, v in flat_all(e).items() if kept(k)} for e in events]
    want = [{k: v for k, v in e.items() if kept(k)} for e in expected]
    assert len(got) == case["event_count"] == len(want)
    for w in want:
        assert w in got, f"no event equals the expected {w.get('type')} event; closest differences: " + str(
            sorted({k for g in got if g.get("type") == w.get("type") for k in set(g) | set(w) if g.get(k) != w.get(k)}))


def test_golden_cases_for_decoded_protocols_exist():
    assert [c["case"] for c in GOLDEN] == ["non_established_tls", "established_tls", "tls_all_options",
                                           "tls_not_detailed", "tls_no_certs", "tls_1_3", "sip", "sip_authenticated_register",
                                           "sip_through_tcp", "http_basic_auth"]
