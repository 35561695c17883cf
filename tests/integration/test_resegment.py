"""Every TCP decoder publishes the same events whatever the segmentation: each TCP
capture of Packetbeat's (and the Cassandra captures) is rewritten with its payloads
cut into many small segments (resegment.py: same bytes, order and timestamps) and
tapbeat's events from both files must be equal, field for field. (Protocols are
found by port here: payload detection looks at a flow's first segment.)"""
import glob
import json
import os

import pytest

from conftest import SHARED, run_tapbeat
from resegment import resegment

CONFIG = """packetbeat.interfaces.device: any
packetbeat.flows.enabled: false
packetbeat.protocols:
  - {type: http, ports: [80, 8080, 8000, 8002, 5000, 9200], send_request: true, send_response: true,
     include_body_for: [text, json, form, html]}
  - {type: redis, ports: [6379, 6380], send_request: true, send_response: true}
  - {type: memcache, ports: [11211], send_request: true, send_response: true}
  - {type: mysql, ports: [3306, 3307, 13001], send_request: true, send_response: true}
  - {type: pgsql, ports: [5432], send_request: true, send_response: true}
  - {type: mongodb, ports: [27017, 9991], send_request: true, send_response: true}
  - {type: amqp, ports: [5672], send_request: true, send_response: true}
  - {type: cassandra, ports: [9042], send_request: true, send_response: true}
  - {type: dns, ports: [53], send_request: true, send_response: true}
tapbeat.workers: 1
tapbeat.detect: ports
tapbeat.progress: false
tapbeat.stats_period: 1h
timestamp.precision: nanosecond
output.console: {}
"""

PREFIXES = ("http_", "redis_", "memcache_", "mysql_", "pgsql_", "mongo", "amqp_", "cassandra_", "dns_tcp")
# Captures that give no transaction on purpose: nothing to compare.
NO_EVENTS = {"mongodb_invalid_opcode_2269.pcap": "an unknown opcode: the connection is left undecoded"}
CAPTURES = sorted(
    p for p in glob.glob(os.path.join(SHARED, "pcaps", "beats", "**", "*.pcap"), recursive=True)
    if os.path.basename(p).startswith(PREFIXES) and "_udp_" not in os.path.basename(p)
    and os.path.basename(p) not in NO_EVENTS)


def events(cfg, capture):
    proc = run_tapbeat(["-c", str(cfg), "-I", capture, "-t"])
    evs = [json.loads(line) for line in proc.stdout.splitlines()]
    for e in evs:
        e.pop("agent", None)
    return sorted(json.dumps(e, sort_keys=True) for e in evs)


@pytest.mark.parametrize("capture", CAPTURES, ids=[os.path.basename(c)[:-5] for c in CAPTURES])
def test_same_events_when_resegmented(capture, tmp_path):
    assert CAPTURES, "no captures found"
    cfg = tmp_path / "tapbeat.yml"
    cfg.write_text(CONFIG)
    want = events(cfg, capture)
    assert want, "the capture gives no event"
    for seed in (1, 2):
        out = tmp_path / f"cut{seed}.pcap"
        _, added = resegment(capture, str(out), seed)
        assert added > 0
        got = events(cfg, str(out))
        missing = [e for e in want if e not in got]
        extra = [e for e in got if e not in want]
        assert not missing and not extra, (
            f"seed {seed}: {len(missing)} events missing, {len(extra)} differ or extra\n"
            f"want: {[m[:1500] for m in missing[:2]]}\ngot:  {[x[:1500] for x in extra[:2]]}")
