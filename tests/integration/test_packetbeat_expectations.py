"""Packetbeat's own test cases (../shared/expectations) for what tapbeat decodes so far
(flows, ICMP and DNS), run against tapbeat.

Each case names a capture, the configuration deviations and what Packetbeat's system
tests assert about the flow events. The assertions are read from the data file, not
restated here."""
import os
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
}


def load_cases():
    with open(EXPECTATIONS) as f:
        doc = yaml.safe_load(f)
    return [c for c in doc["cases"] if c["case"].startswith(("flow_", "icmp", "dns_"))], doc["defaults"]


CASES, DEFAULTS = load_cases()


def capture_path(case):
    p = case["pcap"]
    if p.startswith(FLOWHASH):
        return pcap("community-id/flows/" + p[len(FLOWHASH):])
    return pcap("beats/" + p)


def overrides_for(case):
    cfg = case.get("config") or {}
    # Packetbeat's test config has flows off unless a case configures them.
    out = [] if any(k.startswith("packetbeat.flows") for k in cfg) else ["packetbeat.flows.enabled=false"]
    for k, v in cfg.items():
        if k in ("processors",):
            continue  # drop_event of non-flow events: only flow events are read anyway
        out.append(f"{k}={v}")
    return out


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
def test_flow_case(case):
    events, _ = events_of(capture_path(case), overrides_for(case))
    spec = case.get("events") or {}
    flt = spec.get("filter") or {}
    events = [flatten(e) for e in events]
    events = [e for e in events if all(e.get(k) == v for k, v in flt.items())]
    if "count" in spec:
        assert len(events) == spec["count"], f"{len(events)} flow events"
    required = DEFAULTS["reading_events"]["required_field_sets"].get(spec.get("required_fields", "transaction"))
    for e in events:
        missing = [k for k in required if k not in e]
        assert not missing, f"missing required fields {missing}"
    for k, v in ((case.get("all_events") or {}).get("fields") or {}).items():
        assert all(e.get(k) == v for e in events), f"{k} != {v} in some event"
    for k in (case.get("all_events") or {}).get("absent") or []:
        assert all(k not in e for e in events), f"{k} present in some event"
    for exp in case.get("expect") or []:
        e = events[exp["index"]]
        for k, v in (exp.get("fields") or {}).items():
            assert e.get(k) == v, f"event {exp['index']}: {k} = {e.get(k)!r}, Packetbeat expects {v!r}"
        for k in exp.get("present") or []:
            assert k in e or any(x.startswith(k + ".") for x in e), f"event {exp['index']}: {k} absent"
        for k in exp.get("absent") or []:
            assert k not in e and not any(x.startswith(k + ".") for x in e), f"event {exp['index']}: {k} present"
    for chk in case.get("checks") or []:
        e = events[chk["at"]]
        op, field = chk["op"], chk["field"]
        if op == "time_gt_field":
            assert parse_time(e[field]) > parse_time(e[chk["value"]])
        elif op == "len_eq":
            assert len(e[field]) == chk["value"], f"{field} has {len(e[field])} items"
        elif op == "each_item_eq":
            assert all(item[chk["key"]] == chk["value"] for item in e[field])
        elif op == "each_item_contains":
            assert all(chk["value"] in item[chk["key"]] for item in e[field])
        elif op == "contains":
            assert chk["value"] in e[field], f"{field} lacks {chk['value']!r}"
        else:
            raise AssertionError(f"unhandled check {chk}")


def test_every_flow_case_is_covered():
    # The flow cases Packetbeat's suite has: a new one in the data file is run, not skipped.
    assert len(CASES) >= 9
