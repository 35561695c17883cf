#!/usr/bin/env python3
"""Golden runner: runs tapbeat on each case's capture and compares the NDJSON events
with the case's expected.ndjson.

A case is a folder tests/golden/<group>/<case>/ holding case.yml:
    pcap: shared:beats/mysql_long.pcap   # "shared:" = ../shared/pcaps, else relative to the case
    overrides: ["tapbeat.flows.period=-1"]  # optional -E settings
    source: ...                          # where the capture comes from, and its licence
and expected.ndjson, the baseline. Fields that cannot be deterministic (agent ids,
host name, version) are masked. Each case also runs with 3 workers and must give the
same events in some order.

    tests/golden/run.py [--bin build/tapbeat] [--update] [CASE_SUBSTRING...]
"""
import argparse
import json
import os
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("TAPBEAT_SHARED", os.path.join(ROOT, "..", "shared"))
MASKED = [("agent", "ephemeral_id"), ("agent", "id"), ("agent", "name"), ("agent", "version"),
          ("host", "name"), ("@metadata", "version")]


def resolve_pcap(case_dir, pcap):
    if pcap.startswith("shared:"):
        return os.path.join(SHARED, "pcaps", pcap[len("shared:"):])
    return os.path.join(case_dir, pcap)


def run_tapbeat(binary, case_dir, case, workers):
    cmd = [binary, "-c", os.path.join(HERE, "golden.yml"), "-I", resolve_pcap(case_dir, case["pcap"]), "-t",
           "-E", f"tapbeat.workers={workers}"]
    for o in case.get("overrides", []):
        cmd += ["-E", o]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    events = []
    for line in proc.stdout.splitlines():
        e = json.loads(line)
        for outer, inner in MASKED:
            if outer in e and inner in e[outer]:
                e[outer][inner] = "<masked>"
        events.append(e)
    return events


def canon(e):
    return json.dumps(e, sort_keys=True)


def find_cases(filters):
    cases = []
    for dirpath, _, files in os.walk(HERE):
        if "case.yml" in files:
            name = os.path.relpath(dirpath, HERE)
            if not filters or any(f in name for f in filters):
                cases.append((name, dirpath))
    return sorted(cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "tapbeat"))
    ap.add_argument("--update", action="store_true", help="rewrite expected.ndjson from this run")
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args()
    failed = passed = 0
    for name, d in find_cases(args.cases):
        with open(os.path.join(d, "case.yml")) as f:
            case = yaml.safe_load(f)
        expected_path = os.path.join(d, "expected.ndjson")
        try:
            got = run_tapbeat(args.bin, d, case, 1)
            if args.update:
                with open(expected_path, "w") as f:
                    for e in got:
                        f.write(json.dumps(e, separators=(",", ":")) + "\n")
                print(f"updated {name}: {len(got)} events")
                passed += 1
                continue
            with open(expected_path) as f:
                want = [json.loads(line) for line in f if line.strip()]
            problems = []
            if [canon(e) for e in got] != [canon(e) for e in want]:
                problems.append(f"1 worker: {len(got)} events, expected {len(want)}")
                for i, (g, w) in enumerate(zip(got, want)):
                    if canon(g) != canon(w):
                        problems.append(f"  first difference at event {i}:\n    got  {canon(g)}\n    want {canon(w)}")
                        break
            multi = run_tapbeat(args.bin, d, case, 3)
            if sorted(canon(e) for e in multi) != sorted(canon(e) for e in want):
                problems.append(f"3 workers: {len(multi)} events differ from the baseline as a set")
            if problems:
                failed += 1
                print(f"FAIL {name}\n" + "\n".join(problems))
            else:
                passed += 1
                print(f"ok   {name} ({len(want)} events)")
        except Exception as ex:  # a crash or bad output is a failure of that case
            failed += 1
            print(f"FAIL {name}: {ex}")
    print(f"golden: {passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
