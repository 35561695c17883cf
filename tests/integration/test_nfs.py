"""NFS calls and replies agree with tshark's dissection of the same captures.

Every capture INDEX.tsv lists for NFS is read by tapbeat (nfs on 2049, TCP and UDP)
and by tshark (its NFS dissector; output cached in tests/data/tshark/nfs.json.gz):
each NFS call tshark dissects must be in one of tapbeat's events with the same
client, RPC xid and NFS version, and each reply must have answered it there (the
event carries rpc.status). The agreement must stay at or above 95%."""
import collections
import os

from conftest import agreement_over, captures_with_protocol, events_of, pcap, tshark_rows

CAPTURES = [c for c in captures_with_protocol("nfs") if os.path.exists(pcap(c))]
OVERRIDES = ["packetbeat.flows.enabled=false", "tapbeat.detect=ports",
             "packetbeat.protocols=[{type: nfs, ports: [2049]}]"]
FIELDS = ["ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "rpc.xid", "rpc.msgtyp", "rpc.programversion"]


def tshark_messages(rel):
    """(client, xid, version) per call and (client, xid, 'reply') per reply; a TCP
    segment may carry several RPC messages (tshark lists their values in order)."""
    rows = tshark_rows("nfs", rel, "nfs", FIELDS, occurrence="a", aggregate=True)
    msgs = collections.Counter()
    for v in rows:
        if not v[4]:
            continue
        src, dst = v[0] or v[1], v[2] or v[3]
        xids, types = v[4].split(","), v[5].split(",")
        version = int(v[6].split(",")[0]) if v[6] else 0
        for xid, t in zip(xids, types):
            msgs[(src, int(xid, 16), version) if t == "0" else (dst, int(xid, 16), "reply")] += 1
    return msgs


def tapbeat_messages(rel):
    events, _ = events_of(pcap(rel), OVERRIDES)
    msgs = collections.Counter()
    for e in events:
        if e.get("type") != "nfs":
            continue
        key = (e["client"]["ip"], int(e["rpc"]["xid"], 16))
        msgs[key + (e["nfs"]["version"],)] += 1
        if "status" in e["rpc"]:
            msgs[key + ("reply",)] += 1
    return msgs


def test_nfs_messages_agree_with_tshark():
    total, agreed, report = agreement_over(CAPTURES, tshark_messages, tapbeat_messages)
    assert total > 400, f"only {total} messages dissected: captures missing?"
    rate = agreed / total
    print(f"nfs vs tshark: {agreed}/{total} calls and replies ({rate:.2%})")
    assert rate >= 0.95, "\n".join(report)
    assert not report, "\n".join(report)
