"""DNS transactions agree with tshark's dissection of the same captures.

Over every DNS capture of ../shared/pcaps, each DNS response tshark decodes on port 53
(UDP or TCP) is looked up among tapbeat's DNS events by message id, query name, response
code and answer count. The agreement rate over all responses must stay above 98%;
the files that disagree are listed with the reason found by inspection."""
import collections
import concurrent.futures
import os

from conftest import captures_with_protocol, events_of, flatten, pcap, tshark_output

RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET",
          "NOTAUTH", "NOTZONE", "DSOTYPENI"]
# Extended codes (EDNS, RFC 6891): tapbeat reports them whole, tshark the header's 4 bits.
EXTENDED = {"BADVERS": 16, "BADKEY": 17, "BADTIME": 18, "BADMODE": 19, "BADNAME": 20, "BADALG": 21,
            "BADTRUNC": 22, "BADCOOKIE": 23}
# Captures left out, with the reason found by inspection.
EXCLUDED = {
    "ndpi/mixed/badpackets.pcap": "DNS responses in first fragments whose IP total length exceeds the frame "
                                  "(cut without the capture saying so): tapbeat refuses them as "
                                  "decode.ipv4.bad_total_length, tshark dissects the partial data",
}


def rcode_name(code):
    return RCODES[code] if code < len(RCODES) else str(code)


def header_rcode(name):
    """The 4-bit header code behind a name tapbeat reports."""
    if name in EXTENDED:
        return rcode_name(EXTENDED[name] & 0xF)
    return name


def tshark_responses(rel):
    # DNS quoted inside ICMP errors is tshark's; tapbeat reports the ICMP message.
    args = ["-Y", "dns.flags.response == 1 && (udp.port == 53 || tcp.port == 53) && !icmp && !icmpv6",
            "-T", "fields", "-E", "separator=|", "-E", "occurrence=f",
            "-e", "dns.id", "-e", "dns.qry.name", "-e", "dns.flags.rcode", "-e", "dns.count.answers"]
    out = tshark_output("dns_responses", rel, args, timeout=120)
    got = collections.Counter()
    for line in out.splitlines():
        i, name, rcode, answers = (line.split("|") + ["", "", "", ""])[:4]
        if not i:
            continue
        rc = int(rcode) if rcode else 0
        got[(int(i, 16) if i.startswith("0x") else int(i), comparable_name(name), rcode_name(rc),
             int(answers or 0))] += 1
    return got


def comparable_name(name):
    r"""Names both tools write the same way; None where their notations differ: tshark
    writes bytes outside ASCII as replacement characters and marks names it could not
    read as <...>, tapbeat writes RFC 1035 \DDD escapes."""
    if name == "<root>":
        return "."
    name = name.lower().rstrip(".")
    if not name:
        return None
    if name.startswith("<") or any(ord(c) > 126 or ord(c) < 32 for c in name) or "\\" in name:
        return None
    return name


def tapbeat_responses(path):
    events, _ = events_of(path, ["packetbeat.flows.enabled=false"])
    got = collections.Counter()
    for e in events:
        if e.get("type") != "dns":
            continue
        d = e["dns"]
        if "response_code" not in d:
            continue
        name = d.get("question", {}).get("name", "")
        name = "." if name == "." else comparable_name(name) if name else None
        got[(d["id"], name, header_rcode(d["response_code"]), d["answers_count"])] += 1
    return got


def test_dns_agreement_with_tshark():
    total = matched = 0
    disagreements = []

    def both(rel):
        want = tshark_responses(rel)
        return rel, want, (tapbeat_responses(pcap(rel)) if want else None)

    captures = [rel for rel in captures_with_protocol("dns") if rel not in EXCLUDED]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # a tapbeat per core
        results = list(pool.map(both, captures))
    for rel, want, got in results:
        if not want:
            continue
        n = sum(want.values())
        # Where a name is not comparable, match on id, code and count alone.
        loose = collections.Counter((k[0], k[2], k[3]) for k in got.elements())
        ok = 0
        for k, c in want.items():
            if k[1] is None:
                take = min(c, loose[(k[0], k[2], k[3])])
            else:
                take = min(c, got.get(k, 0))
            loose[(k[0], k[2], k[3])] -= take
            ok += take
        total += n
        matched += ok
        if ok < n:
            missing = [k for k in want if got.get(k, 0) < want[k]][:3]
            disagreements.append(f"{rel}: {ok}/{n}, e.g. {missing}")
    rate = matched / total if total else 0
    print(f"DNS responses: tapbeat agrees with tshark on {matched} of {total} ({100 * rate:.2f}%)")
    for rel, why in EXCLUDED.items():
        print(f"  excluded {rel}: {why}")
    for d in disagreements:
        print("  " + d)
    assert total > 500
    assert rate >= 0.98, "\n".join(disagreements)
