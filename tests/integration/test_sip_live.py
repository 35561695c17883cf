"""SIP live: sipp (Debian's sip-tester) runs its built-in UAC against its UAS on
loopback, over UDP and over TCP, and tapbeat publishes every message of the calls:
INVITE, 180 Ringing, 200 OK, ACK, BYE, 200 OK per call, each with its Call-ID, CSeq
and SDP."""
import collections
import json
import shutil
import subprocess
import time

import pytest

from conftest import run_live

CALLS = 2


def calls(transport):
    if not shutil.which("sipp"):
        pytest.fail("sipp is not installed (scripts/setup installs sip-tester)")
    t = ["-t", "t1"] if transport == "tcp" else []
    uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", "15060", "-m", str(CALLS), "-nostdin"] + t,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        subprocess.run(["sipp", "-sn", "uac", "127.0.0.1:15060", "-i", "127.0.0.1", "-p", "15061", "-m", str(CALLS),
                        "-d", "100", "-nostdin"] + t, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        uas.wait(timeout=10)
    finally:
        uas.kill()
    time.sleep(0.5)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_calls(tmp_path, transport):
    config = """packetbeat.interfaces:
  device: lo
  bpf_filter: "port 15060"
packetbeat.flows: {enabled: false}
packetbeat.protocols:
  - type: sip
    ports: [15060]
output.console: {}
tapbeat.workers: 1
"""
    out, err = run_live(config, tmp_path, lambda: calls(transport))
    events = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    sip = [e for e in events if e.get("type") == "sip"]
    by_call = collections.defaultdict(list)
    for e in sip:
        assert e["network"]["transport"] == transport
        s = e["sip"]
        by_call[s["call_id"]].append(s["method"] if s["type"] == "request" else s["code"])
    assert len(by_call) == CALLS, by_call
    for call_id, msgs in by_call.items():
        # sipp's UAS answers 180 then 200; the UAC acknowledges, pauses, hangs up.
        assert msgs == ["INVITE", 180, 200, "ACK", "BYE", 200], (call_id, msgs)
    invites = [e for e in sip if e["sip"].get("method") == "INVITE"]
    for inv in invites:
        s = inv["sip"]
        assert s["cseq"]["method"] == "INVITE" and inv["event"]["sequence"] == s["cseq"]["code"]
        assert s["sdp"]["connection"]["address"] == "127.0.0.1"
        assert inv["source"]["port"] == 15061 or transport == "tcp"
        assert inv["destination"]["port"] == 15060 and inv["server"]["port"] == 15060
        assert inv["event"]["original"].startswith("INVITE sip:")
    oks = [e for e in sip if e["sip"].get("code") == 200]
    assert all(e["event"]["outcome"] == "success" and e["status"] == "OK" for e in oks)
    # Responses go from the server (sender) to the client: source is the UAS.
    assert all(e["source"]["port"] == 15060 for e in sip if e["sip"]["type"] == "response")
