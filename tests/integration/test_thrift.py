"""Thrift messages agree with tshark's dissection of the same captures.

Every capture INDEX.tsv lists for Thrift is read by tapbeat (thrift on 9090, framing
and protocol told by the bytes) and by tshark (its Thrift dissector on port 9090;
output cached in tests/data/tshark/thrift.json.gz): each call tshark dissects must
be one of tapbeat's events with the same client and method (events carry no sequence
id), and each reply or exception must have answered one there. The agreement must stay at or
above 95%."""
import collections
import os

from conftest import agreement_over, captures_with_protocol, events_of, pcap, tshark_rows

CAPTURES = [c for c in captures_with_protocol("thrift") if os.path.exists(pcap(c))]
OVERRIDES = ["packetbeat.flows.enabled=false", "tapbeat.detect=ports",
             "packetbeat.protocols=[{type: thrift, ports: [9090]}]"]
FIELDS = ["ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "thrift.method", "thrift.mtype", "thrift.seq_id"]


def tshark_messages(rel):
    """(client, method, seqid, 'call') per call and (client, method, seqid, 'reply') per
    reply or exception; a segment may carry several messages (values listed in order)."""
    rows = tshark_rows("thrift", rel, "thrift", FIELDS, before=["-d", "tcp.port==9090,thrift"], occurrence="a",
                       aggregate=True)
    msgs = collections.Counter()
    for v in rows:
        if not v[4]:
            continue
        src, dst = v[0] or v[1], v[2] or v[3]
        for method, mtype, seq in zip(v[4].split(","), v[5].split(","), v[6].split(",")):
            call = int(mtype, 16) in (1, 4)
            msgs[(src if call else dst, method, int(seq), "call" if call else "reply")] += 1
    return msgs


def tapbeat_messages(rel):
    events, _ = events_of(pcap(rel), OVERRIDES)
    msgs = collections.Counter()
    for e in events:
        if e.get("type") != "thrift":
            continue
        key = (e["client"]["ip"], e["method"])
        # The sequence id is not an event field: tshark's is matched by method and order.
        msgs[key + ("call",)] += 1
        if "return_value" in e["thrift"] or "exceptions" in e["thrift"]:
            msgs[key + ("reply",)] += 1
    return msgs


def by_method(counter):
    out = collections.Counter()
    for (client, method, _seq, kind), n in counter.items():
        out[(client, method, kind)] += n
    return out


def test_thrift_messages_agree_with_tshark():
    total, agreed, report = agreement_over(CAPTURES, lambda rel: by_method(tshark_messages(rel)), tapbeat_messages)
    assert total > 100, f"only {total} messages dissected: captures missing?"
    rate = agreed / total
    print(f"thrift vs tshark: {agreed}/{total} calls and replies ({rate:.2%})")
    assert rate >= 0.95, "\n".join(report)
    assert not report, "\n".join(report)
