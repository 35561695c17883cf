"""HTTP transactions agree with tshark's dissection of the same captures.

Over every HTTP capture of ../shared/pcaps, each response tshark pairs with its request
(http.request_in) gives (method, path, status code); tapbeat's transactions on the same
file, with its HTTP ports and payload detection, give the same triples. The agreement
rate over all of tshark's pairs must stay above 99.5% (626 of 626 agree); files left out are listed with the
reason found by inspection."""
import collections
import concurrent.futures
import os
import re
import sys
import urllib.parse

from conftest import agreement, captures_with_protocol, events_of, pcap, tshark_output

# Packetbeat's default HTTP ports; other ports are found by payload detection.
HTTP_PORTS = "[80,8080,8000,5000,8002]"
EXCLUDED = {
    "ndpi/http/log4j-webapp-exploit.pcap": "the login POST is answered 19.3 s after it was sent, past the 10 s "
                                           "transaction_timeout: tapbeat publishes an unmatched request and an "
                                           "unmatched response, as Packetbeat does; tshark has no timeout",
    "ndpi/http/http-manipulated.pcap": "'GET' and 19 spaces before the target: tshark splits on the first space "
                                       "and reads an empty target; tapbeat splits on the run of blanks as "
                                       "servers do (RFC 9112 section 3) and reads /aaaa..._very_long_uri",
    "suricata-verify/http/http-uri-spaces/input.pcap": "a request target with a space in it ('GET /uri afterspace "
                                                       "HTTP/1.1'): tapbeat takes everything up to the version as "
                                                       "the target, tshark stops at the first space",
}
# The HTTP Evader corpus (suricata-verify/http/http-evader-*): responses malformed
# on purpose (status codes like '2xx' or '100' as a final answer, LF-CR line ends,
# NUL bytes in status lines, bogus Transfer-Encoding values). tshark dissects them
# leniently; tapbeat publishes a status line without a three-digit code with a note
# (http.bad_status_codes), refuses other shapes (http.malformed) or frames them as a
# client would (1xx is never final).
EVADER = "suricata-verify/http/http-evader/"


def path_of(uri):
    for scheme in ("http://", "https://"):
        if uri.lower().startswith(scheme):
            rest = uri[len(scheme):]
            uri = rest[rest.find("/"):] if "/" in rest else "/"
    # Decoded as Go's url.Parse decodes it (Packetbeat's url.path, which tapbeat
    # follows): percent escapes, '+' kept; a bad escape leaves it as sent.
    path = uri.split("#")[0].split("?")[0]
    if "%" not in path or re.search(r"%(?![0-9A-Fa-f]{2})", path):
        return path
    return urllib.parse.unquote(path, errors="replace")


def tshark_pairs(rel):
    args = ["-Y", "http.request || http.response", "-T", "fields",
            "-E", "separator=|", "-E", "occurrence=f", "-e", "frame.number", "-e", "http.request.method",
            "-e", "http.request.uri", "-e", "http.response.code", "-e", "http.request_in"]
    out = tshark_output("http_pairs", rel, args)
    requests, pairs = {}, collections.Counter()
    for line in out.splitlines():
        frame, method, uri, code, req_in = (line.split("|") + [""] * 5)[:5]
        if method:
            requests[frame] = (method, path_of(uri))
        elif code and req_in in requests:
            pairs[requests[req_in] + (int(code),)] += 1
    return pairs


def tapbeat_pairs(path):
    events, _ = events_of(path, ["packetbeat.flows.enabled=false", f"packetbeat.protocols.http.ports={HTTP_PORTS}",
                                 "packetbeat.protocols.dns.enabled=false"])
    got = collections.Counter()
    for e in events:
        h = e.get("http") or {}
        if e.get("type") == "http" and "request" in h and "response" in h:
            # A status line without a three-digit code has no status_code unless it starts
            # with one to three digits (http.bad_status_codes).
            # CONNECT's target is an authority: the tunnel's far end (url.domain, url.port), no path.
            url = e["url"]
            target = url["path"] if "path" in url else f"{url.get('domain', '')}:{url.get('port', '')}"
            got[(h["request"]["method"], target, h["response"].get("status_code"))] += 1
    return got


def test_http_agreement_with_tshark():
    files = captures_with_protocol("http")
    assert len(files) > 20, "the shared corpus lists fewer HTTP captures than expected"
    total = agreed = 0
    disagree = []

    def both(f):
        want = tshark_pairs(f)
        return f, want, (tapbeat_pairs(pcap(f)) if want else collections.Counter())

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(both, [f for f in files if f not in EXCLUDED]))
    evader_total = evader_agreed = 0
    for f, want, got in results:
        if not want:
            continue
        if f.startswith(EVADER):  # reported, not held to the rate
            evader_total += sum(want.values())
            evader_agreed += sum(min(c, got[k]) for k, c in want.items())
            continue
        n, ok, missing = agreement(want, got)
        total += n
        agreed += ok
        if ok < n:
            disagree.append(f"{f}: {ok}/{n} (e.g. {missing})")
    rate = agreed / total
    print(f"HTTP agreement with tshark: {agreed}/{total} = {rate:.2%} over {len(files)} captures", file=sys.stderr)
    for d in disagree:
        print("  " + d, file=sys.stderr)
    if evader_total:
        print(f"HTTP Evader corpus (malformed on purpose, not held to the rate): {evader_agreed}/{evader_total} = "
              f"{evader_agreed / evader_total:.2%}", file=sys.stderr)
    assert total > 100
    assert rate > 0.995, "\n".join(disagree[:40])
