#!/usr/bin/env python3
"""tapbeat against Packetbeat, event for event and field for field.

Two steps:

  record   runs a Packetbeat binary (7.17.x, built from the Go module proxy with
           bench/packetbeat-ref/build.sh) over captures and stores what it published,
           one gzip'd NDJSON file per capture, under tests/data/packetbeat-reference/.
           The reference changes only when the captures or the Packetbeat version do,
           so the test suite reads it instead of building and running Packetbeat.
  compare  runs tapbeat over the same captures with the same configuration and
           matches its events to the reference: per protocol, the events matched and,
           for every field, how many matched events differ, lack it or add it.

Both runs use one configuration (CONFIG below: the protocols both decode on their
default ports, flows with final reports only). Events are matched by type, the
client and server ends (address and port) and the start time to the millisecond;
fields that cannot agree (agent and host identity, @metadata, flow.id, which each
tool hashes its own way) are left out of the comparison.

usage:
  bench/packetbeat_compare.py record --packetbeat PATH [--captures-from INDEX] [CAPTURE...]
  bench/packetbeat_compare.py compare [--tapbeat build/tapbeat] [--json OUT] [CAPTURE...]
"""
import argparse
import collections
import gzip
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "pcaps")
REFERENCE = os.path.join(ROOT, "tests", "data", "packetbeat-reference")

PROTOCOLS = {"icmp", "dns", "http", "memcache", "mysql", "pgsql", "redis", "mongodb", "amqp", "cassandra", "tls", "dhcp", "sip", "nfs", "thrift"}

CONFIG = """packetbeat.interfaces.device: any
packetbeat.interfaces.internal_networks: [private]
packetbeat.flows:
  timeout: 2s
  period: -1s
packetbeat.protocols:
  - type: icmp
    enabled: true
  - type: dns
    ports: [53]
  - type: http
    ports: [80, 8080, 8000, 8001, 8002, 8888, 9200, 5000]
  - type: memcache
    ports: [11211]
  - type: mysql
    ports: [3306]
  - type: pgsql
    ports: [5432]
  - type: redis
    ports: [6379, 6380]
  - type: mongodb
    ports: [27017]
  - type: amqp
    ports: [5672]
  - type: cassandra
    ports: [9042]
  - type: tls
    ports: [443]
  - type: dhcpv4
    ports: [67, 68]
  - type: sip
    ports: [5060]
  - type: nfs
    ports: [2049]
  - type: thrift
    ports: [9090]
"""

# Fields each tool fills in its own way, whatever the traffic.
IGNORED_PREFIXES = ("agent.", "host.", "@metadata.", "ecs.", "flow.id", "process.", "event.ingested", "log.",
                    "input.", "observer.")


def captures_from_index(index):
    """Captures whose INDEX.tsv protocols name one that both tools decode."""
    out = []
    with open(index) as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index("protocols")
        for line in f:
            row = line.rstrip("\n").split("\t")
            protos = {p.strip().lower() for p in row[col].replace(";", ",").split(",")}
            if protos & (PROTOCOLS | {"tcp", "udp"}):
                out.append(row[0])
    return out


def flatten(obj, prefix=""):
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = obj
    return out


def normalise(event):
    flat = flatten(event)
    return {k: v for k, v in flat.items() if not k.startswith(IGNORED_PREFIXES)}


# Packetbeat stamps flows read from a file with the wall clock: their times are not
# compared, and flows are matched by their ends alone (in order among equals).
FLOW_TIMES = ("@timestamp", "event.start", "event.end", "event.duration")


# Packetbeat names the answering end the client of an "Unmatched response" (client.port
# 8080 on beats/http_unmatched.pcap); tapbeat keeps it the server. Such events are matched
# with their ends in either order, and their end fields are not compared.
UNMATCHED_RESPONSE = "Unmatched response"
END_FIELDS = ("client.", "server.", "source.", "destination.")


def orientation_free(e):
    return e.get("error.message") == UNMATCHED_RESPONSE


def key_of(e):
    start = str(e.get("event.start", e.get("@timestamp", "")))[:23]  # to the millisecond
    if orientation_free(e):
        ends = sorted([(str(e.get("client.ip")), str(e.get("client.port"))),
                       (str(e.get("server.ip")), str(e.get("server.port")))])
        return (e.get("type"), "unmatched response", tuple(ends), start)
    if e.get("type") == "flow":
        if "source.ip" not in e:  # a link-layer flow (ARP, LLDP, ...): its MAC pair, either notation
            macs = sorted(str(e.get(k, "")).lower().replace("-", ":") for k in ("source.mac", "destination.mac"))
            return ("flow", "link", tuple(macs))
        ends = sorted([(str(e.get("source.ip")), str(e.get("source.port"))),
                       (str(e.get("destination.ip")), str(e.get("destination.port")))])
        return ("flow", str(e.get("network.transport")), tuple(ends))
    return (e.get("type"), str(e.get("client.ip")), e.get("client.port"), str(e.get("server.ip")),
            e.get("server.port"), start)


def reference_path(capture):
    return os.path.join(REFERENCE, capture + ".ndjson.gz")


def run_packetbeat(binary, capture, tmp):
    cfg = os.path.join(tmp, "packetbeat.yml")
    out = os.path.join(tmp, "out")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    with open(cfg, "w") as f:
        f.write(CONFIG + "packetbeat.shutdown_timeout: 1s\n"
                f"output.file:\n  path: {out}\n  filename: events\n  rotate_every_kb: 10000000\n"
                "logging.level: error\n")
    os.chmod(cfg, 0o600)
    subprocess.run([binary, "-c", cfg, "-I", os.path.join(SHARED, capture), "-t", "--strict.perms=false",
                    "--path.data", os.path.join(tmp, "data"), "--path.logs", os.path.join(tmp, "logs")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
    events = []
    for name in sorted(os.listdir(out)):
        with open(os.path.join(out, name)) as f:
            events += [json.loads(l) for l in f if l.strip()]
    return events


def run_tapbeat(binary, capture, tmp):
    cfg = os.path.join(tmp, "tapbeat.yml")
    with open(cfg, "w") as f:
        f.write(CONFIG + "tapbeat.workers: 1\ntapbeat.progress: false\noutput.console: {pretty: false}\n")
    proc = subprocess.run([binary, "-c", cfg, "-I", os.path.join(SHARED, capture), "-t", "--strict.perms=false"],
                          capture_output=True, text=True, timeout=300, check=False)
    return [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]


def record(args):
    import concurrent.futures
    import threading
    captures = args.captures or captures_from_index(os.path.join(SHARED, "INDEX.tsv"))
    local = threading.local()
    done = [0]

    def one(c):
        if not hasattr(local, "tmp"):
            local.tmp = tempfile.mkdtemp(prefix="pbref-")
        events = run_packetbeat(args.packetbeat, c, local.tmp)
        path = reference_path(c)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with gzip.open(path, "wt") as f:
            for e in events:
                f.write(json.dumps(normalise(e), sort_keys=True) + "\n")
        done[0] += 1
        print(f"[{done[0]}/{len(captures)}] {c}: {len(events)} events", file=sys.stderr)

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, captures))


def compare_events(ref, got, stats, protocol_of):
    """Matches got to ref by key (in order among equal keys) and counts differences."""
    pending = collections.defaultdict(list)
    for e in got:
        pending[key_of(e)].append(e)
    for r in ref:
        proto = protocol_of(r)
        s = stats[proto]
        s["reference"] += 1
        bucket = pending.get(key_of(r))
        if not bucket:
            s["unmatched_reference"] += 1
            continue
        g = bucket.pop(0)
        s["matched"] += 1
        flow = r.get("type") == "flow"
        ends_free = orientation_free(r)
        for k, v in r.items():
            if flow and k in FLOW_TIMES:
                continue
            if ends_free and k.startswith(END_FIELDS):
                continue
            s["fields_compared"] += 1
            if k not in g:
                s["missing"][k] += 1
            elif g[k] != v:
                s["differ"][k] += 1
            else:
                s["fields_equal"] += 1
        for k in g:
            if k not in r and not (flow and k in FLOW_TIMES) and not (ends_free and k.startswith(END_FIELDS)):
                s["extra"][k] += 1
    for bucket in pending.values():
        for g in bucket:
            stats[protocol_of(g)]["unmatched_tapbeat"] += 1


def new_stats():
    return {"reference": 0, "matched": 0, "unmatched_reference": 0, "unmatched_tapbeat": 0, "fields_compared": 0,
            "fields_equal": 0, "missing": collections.Counter(), "differ": collections.Counter(),
            "extra": collections.Counter()}


def compare(args):
    captures = args.captures or sorted(
        os.path.relpath(os.path.join(d, f), REFERENCE)[:-len(".ndjson.gz")]
        for d, _, fs in os.walk(REFERENCE) for f in fs if f.endswith(".ndjson.gz"))
    stats = collections.defaultdict(new_stats)
    protocol_of = lambda e: e.get("type", "?")
    with tempfile.TemporaryDirectory() as tmp:
        for c in captures:
            with gzip.open(reference_path(c), "rt") as f:
                ref = [json.loads(l) for l in f if l.strip()]
            got = [normalise(e) for e in run_tapbeat(args.tapbeat, c, tmp)]
            compare_events(ref, got, stats, protocol_of)
    report = {}
    for proto, s in sorted(stats.items()):
        report[proto] = {
            "reference_events": s["reference"],
            "matched": s["matched"],
            "event_agreement": round(s["matched"] / s["reference"], 4) if s["reference"] else None,
            "field_agreement": round(s["fields_equal"] / s["fields_compared"], 4) if s["fields_compared"] else None,
            "unmatched_reference": s["unmatched_reference"],
            "unmatched_tapbeat": s["unmatched_tapbeat"],
            "differ": dict(s["differ"].most_common()),
            "missing": dict(s["missing"].most_common()),
            "extra": dict(s["extra"].most_common()),
        }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)
    for proto, r in report.items():
        print(f"{proto:10s} events {r['matched']}/{r['reference_events']} ({r['event_agreement']}), "
              f"fields {r['field_agreement']}, tapbeat only {r['unmatched_tapbeat']}")
        for kind in ("differ", "missing", "extra"):
            top = list(r[kind].items())[:args.top]
            if top:
                print(f"    {kind}: " + ", ".join(f"{k} {n}" for k, n in top))
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--packetbeat", required=True)
    r.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    r.add_argument("captures", nargs="*", help="paths under ../shared/pcaps (default: from INDEX.tsv)")
    c = sub.add_parser("compare")
    c.add_argument("--tapbeat", default=os.path.join(ROOT, "build", "tapbeat"))
    c.add_argument("--json")
    c.add_argument("--top", type=int, default=8)
    c.add_argument("captures", nargs="*")
    args = ap.parse_args()
    if args.cmd == "record":
        record(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
