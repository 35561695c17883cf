"""The events do not depend on how packets reach the engine: one worker or two (each
its share of the flows, through rings the reader fills while the workers run), packets
spread in time or close together (many to a burst).

The capture is ndpi/dns/dns_fragmented.pcap (DNS answers in two IP fragments each),
then the same packets 10 microseconds apart, then a few captures of other protocols.
Close together, several fragmented answers complete in one burst; each must keep its own
bytes (before, the first took the second's: its query went unanswered, the other answer
was published twice)."""
import importlib.machinery
import importlib.util
import json
import os
import subprocess

from conftest import ROOT, final_stats, pcap, run_tapbeat

# bench/mix-cpu's retime(): a capture's packets re-timed a fixed gap apart, as the mixes are.
_loader = importlib.machinery.SourceFileLoader("mix_cpu", os.path.join(ROOT, "bench", "mix-cpu"))
mix_cpu = importlib.util.module_from_spec(importlib.util.spec_from_loader("mix_cpu", _loader))
_loader.exec_module(mix_cpu)

CONFIG = """packetbeat.flows: {timeout: 30s, period: 10s}
packetbeat.protocols:
- {type: icmp, enabled: true}
- {type: dns, ports: [53]}
- {type: http, ports: [80, 8080]}
tapbeat.progress: false
output.console: {}
"""
OTHERS = ["beats/http_post.pcap", "beats/http_over_vlan.pcap", "beats/dns_google_com.pcap", "beats/icmp/icmp4_ping.pcap",
          "beats/802.1q-q-in-q-icmp.pcap"]


def run(config, capture, workers):
    proc = run_tapbeat(["-c", config, "-I", capture, "-t", "--strict.perms=false", "-E", f"tapbeat.workers={workers}",
                        "-E", "tapbeat.ring_mb=1"])
    events = sorted(json.dumps({k: v for k, v in json.loads(l).items() if k != "agent"}, sort_keys=True)
                    for l in proc.stdout.splitlines())
    return events, final_stats(proc.stderr)


def test_two_workers_and_close_packets_give_the_same_events(tmp_path):
    config = tmp_path / "tapbeat.yml"
    config.write_text(CONFIG)
    fragmented = pcap("ndpi/dns/dns_fragmented.pcap")
    close = tmp_path / "close.pcap"
    mix_cpu.retime(fragmented, close, 1.7e9, 10e-6)
    mix = tmp_path / "mix.pcap"
    subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", mix, fragmented, close] + [pcap(c) for c in OTHERS],
                   check=True)
    _, alone = run(config, fragmented, 1)
    assert alone["frag.reassembled"] > 2 and alone["dns.orphan_responses"] == 0
    one, stats = run(config, mix, 1)
    # The close copy pairs as the spread one does.
    _, close_stats = run(config, close, 1)
    assert close_stats["dns.transactions"] == alone["dns.transactions"]
    assert close_stats["dns.orphan_responses"] == 0
    for _ in range(3):
        two, stats2 = run(config, mix, 2)
        assert two == one
        assert stats2["events.emitted"] == stats["events.emitted"]


TIMEOUT_CAPTURES = ["ndpi/mixed/netflix.pcap", "ndpi/mixed/teams.pcap", "ndpi/mixed/reddit.pcap"]


def test_flows_that_time_out_are_reported_alike_by_one_worker_and_three(tmp_path):
    """Real captures whose flows time out within them (the golden configuration: a 2 s
    flow timeout, final reports only), read by one worker and by three: the same events.
    A flow that timed out is stamped when it did (its last packet plus the timeout);
    before, it was stamped when a clock tick found it so, and the ticks of three workers
    (each its own packets and the reader's ticks) are not one worker's: 7 captures of
    ../shared/pcaps differed in a flow's @timestamp, these three among them."""
    with open(os.path.join(ROOT, "tests", "golden", "golden.yml")) as f:
        config_text = f.read()
    config = tmp_path / "golden.yml"
    config.write_text(config_text)
    for capture in TIMEOUT_CAPTURES:
        path = pcap(capture)
        if not os.path.exists(path):
            continue
        one, _ = run(config, path, 1)
        three, _ = run(config, path, 3)
        assert any('"type": "flow"' in e for e in one), capture
        assert one == three, capture
