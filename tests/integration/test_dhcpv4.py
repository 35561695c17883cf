"""DHCPv4 messages agree with tshark's dissection of the same captures.

Every capture INDEX.tsv lists for DHCP is read by tapbeat (dhcpv4 on 67 and 68) and by
tshark (dissections cached in tests/data/tshark/dhcpv4.json.gz): each message tshark
dissects must be among tapbeat's events with the same sender, receiver, ports,
transaction id, op code, message type and client MAC address. The agreement must stay
at or above 95% over all of them (the messages that disagree are explained below).
Messages in frames the capture's snap length cut short are counted apart: tshark
dissects the part of the header it has, tapbeat publishes whole BOOTP headers only
(the cut ones are counted as dhcpv4.malformed)."""
import collections
import os

import pytest

from conftest import agreement_over, captures_with_protocol, events_of, pcap, tshark_rows

CAPTURES = [c for c in captures_with_protocol("dhcp") if os.path.exists(pcap(c))]
OVERRIDES = ["packetbeat.flows.enabled=false", "tapbeat.detect=ports",
             "packetbeat.protocols=[{type: dhcpv4, ports: [67, 68]}]"]


def tshark_messages(rel):
    rows = tshark_rows("dhcpv4", rel, "dhcp && !icmp", ["frame.len", "frame.cap_len", "ip.src", "udp.srcport",
                                                      "ip.dst", "udp.dstport", "dhcp.id", "dhcp.type",
                                                      "dhcp.option.dhcp", "dhcp.hw.mac_addr"], desegment=False)
    msgs, cut = collections.Counter(), 0
    for v in rows:
        if not v[2]:
            continue
        if v[0] != v[1]:
            cut += 1
            continue
        v = v[2:]
        msgs[(v[0], int(v[1]), v[2], int(v[3]), v[4].lower(), "bootrequest" if v[5] == "1" else "bootreply",
              v[6], v[7].upper().replace(":", "-"))] += 1
    return msgs, cut


# RFC 2132, RFC 3203, RFC 4388, RFC 6926, RFC 7724: message type names by number.
MESSAGE_TYPES = {n: str(i + 1) for i, n in enumerate(
    ["discover", "offer", "request", "decline", "ack", "nak", "release", "inform", "forcerenew", "leasequery",
     "leaseunassigned", "leaseunknown", "leaseactive", "bulkleasequery", "leasequeryend", "activeleasequery",
     "leasequerystatus", "tls"])}


def message_type_number(name):
    if name.startswith("unknown ("):
        return name[len("unknown ("):-1]
    return MESSAGE_TYPES.get(name, name)


def tapbeat_messages(rel):
    events, proc = events_of(pcap(rel), OVERRIDES)
    msgs = collections.Counter()
    for e in events:
        if e.get("type") != "dhcpv4":
            continue
        d = e["dhcpv4"]
        mt = d.get("option", {}).get("message_type", "")
        msgs[(e["source"]["ip"], e["source"]["port"], e["destination"]["ip"], e["destination"]["port"],
              d["transaction_id"], d["op_code"], message_type_number(mt), d["client_mac"])] += 1
    return msgs


def test_dhcpv4_messages_agree_with_tshark():
    cut = collections.Counter()

    def expected(rel):
        msgs, c = tshark_messages(rel)
        cut[rel] = c
        return msgs

    total, agreed, report = agreement_over(CAPTURES, expected, tapbeat_messages)
    assert total > 10000, f"only {total} messages dissected: captures missing?"
    rate = agreed / total
    print(f"dhcpv4 vs tshark: {agreed}/{total} messages ({rate:.2%}); {sum(cut.values())} in frames cut by the "
          "snap length")
    assert rate >= 0.95, "\n".join(report)
    assert not report, "\n".join(report)
