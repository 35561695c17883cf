"""The command line behaves as Packetbeat users expect: subcommands, flags, exit codes
and one-line errors naming the file, the key and the reason."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import BIN, events_of, final_stats, free_port, pcap, ROOT, run_tapbeat, start_tapbeat, wait_for_line

TUTORIAL = os.path.join(ROOT, "tests", "data", "packetbeat-tutorial.yml")


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_tutorial_config_passes_test_config():
    proc = run_tapbeat(["test", "config", "-c", TUTORIAL])
    assert proc.stdout.strip() == "Config OK"
    assert "warn" not in proc.stderr


def test_shipped_config_passes_test_config():
    proc = run_tapbeat(["test", "config", "-c", os.path.join(ROOT, "configs", "tapbeat.yml")])
    assert proc.stdout.strip() == "Config OK"


def test_the_tutorial_output_without_elasticsearch(tmp_path):
    # The tutorial's config sends to Elasticsearch on localhost:9200, where nothing listens
    # here. `test output` says so; a run goes on, says so once, and at the end counts what
    # it could not deliver within the shutdown timeout (exit 1: events were lost).
    proc = run_tapbeat(["test", "output", "-c", TUTORIAL, "-E", "output.elasticsearch.timeout=1s"], check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("tapbeat: output.elasticsearch.hosts: no Elasticsearch host of http://localhost:9200 "
                           "answered within 1 s ("), last
    proc = run_tapbeat(["-c", TUTORIAL, "-I", pcap("beats/mysql_long.pcap"), "-t",
                        "-E", "tapbeat.shutdown_timeout=1s"], check=False)
    assert proc.returncode == 1
    assert "no Elasticsearch host of http://localhost:9200 answered" in proc.stderr
    assert "capture goes on" in proc.stderr
    stats = final_stats(proc.stderr)
    assert stats["events.emitted"] > 0 and stats["output.elasticsearch.acked"] == 0
    assert stats["output.elasticsearch.dropped.shutdown"] == stats["events.emitted"]
    assert stats["output.elasticsearch.dropped.retries"] == 0


def test_bad_config_exits_1_with_one_line(tmp_path):
    cfg = write(tmp_path, "bad.yml", "packetbeat.flows:\n  timeout: soon\noutput.console: {}\n")
    proc = run_tapbeat(["test", "config", "-c", cfg], check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"tapbeat: config error: {cfg}: tapbeat.flows.timeout: "
                                   "expected a duration such as 30s, 1m or 500ms, got 'soon'")
    assert proc.stderr.count("\n") == 1


def test_missing_config_file(tmp_path):
    proc = run_tapbeat(["test", "config", "-c", str(tmp_path / "nope.yml")], check=False)
    assert proc.returncode == 1
    assert "nope.yml: cannot open: No such file or directory" in proc.stderr


def test_unknown_key_is_a_warning_naming_it(tmp_path):
    cfg = write(tmp_path, "w.yml", "packetbeat.flows:\n  enabeld: true\noutput.console: {}\n")
    proc = run_tapbeat(["test", "config", "-c", cfg])
    assert "tapbeat.flows.enabeld: unknown setting, ignored" in proc.stderr


def test_override_with_E_reaches_any_key(tmp_path):
    cfg = write(tmp_path, "c.yml", "output.console: {}\n")
    proc = run_tapbeat(["test", "config", "-c", cfg, "-E", "packetbeat.flows.timeout=forever"], check=False)
    assert proc.returncode == 1
    assert "tapbeat.flows.timeout: expected a duration" in proc.stderr


def test_beats_paths_find_the_config_and_place_data_as_packetbeat_does(tmp_path):
    """Beats' path flags, as a packaged service passes them (--path.home, --path.config,
    no -c): a relative configuration file is read from --path.config, else --path.home;
    path.data and path.logs default to <path.home>/data and <path.home>/logs (the file
    output's events and the keystore go there); an explicit path.data wins."""
    home = tmp_path / "home"
    etc = tmp_path / "etc"
    home.mkdir()
    etc.mkdir()
    (etc / "tapbeat.yml").write_text("packetbeat.protocols:\n- {type: dns, ports: [53]}\noutput.file: {}\n")
    (home / "tapbeat.yml").write_text("packetbeat.protocols:\n- {type: dns, ports: [53]}\noutput.console: {}\n")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    sample = os.path.join(ROOT, "tests", "data", "sample.pcap")

    # Packetbeat's systemd unit: --environment systemd, then -c and the path flags.
    unit = run_tapbeat(["--environment", "systemd", "test", "config", "-c", str(etc / "tapbeat.yml"),
                        "--path.home", str(home), "--path.config", str(etc), "--path.data", str(tmp_path / "d"),
                        "--path.logs", str(tmp_path / "l")], cwd=elsewhere)
    assert unit.stdout.strip() == "Config OK"
    assert run_tapbeat(["--environment", "cloud", "test", "config"], check=False).returncode == 1
    # Without the flags, tapbeat.yml is looked for in the working directory.
    assert run_tapbeat(["test", "config"], check=False, cwd=elsewhere).returncode == 1
    ok = run_tapbeat(["test", "config", "--path.config", str(etc)], cwd=elsewhere)
    assert ok.stdout.strip() == "Config OK" and "path.config" not in ok.stderr
    # --path.home alone: the file beside it; with --path.config too, path.config's.
    run = run_tapbeat(["--path.home", str(home), "-I", sample, "-t"], cwd=elsewhere)
    assert any(json.loads(line).get("type") == "dns" for line in run.stdout.splitlines()), run.stdout[:200]
    run_tapbeat(["--path.home", str(home), "--path.config", str(etc), "-I", sample, "-t"], cwd=elsewhere)
    written = list((home / "data" / "events").iterdir())
    assert len(written) == 1 and '"type":"dns"' in written[0].read_text().replace(" ", "")
    # path.data set (the file, -E or its flag) wins over <path.home>/data.
    run_tapbeat(["--path.home", str(home), "--path.config", str(etc), "-I", sample, "-t",
                 "-E", f"path.data={tmp_path / 'data2'}"], cwd=elsewhere)
    assert len(list((tmp_path / "data2" / "events").iterdir())) == 1
    # The keystore is <path.data>/tapbeat.keystore: <path.home>/data/ here.
    created = subprocess.run([BIN, "keystore", "create", "--path.home", str(home), "--path.config", str(etc)],
                             capture_output=True, text=True, timeout=30, cwd=elsewhere)
    assert created.returncode == 0, created.stderr
    assert (home / "data" / "tapbeat.keystore").exists()
    # ${path.logs} reads <path.home>/logs.
    refs = write(tmp_path, "r.yml", "output.file: {path: '${path.logs}/x'}\n")
    exported = run_tapbeat(["export", "config", "-c", refs, "-E", f"path.home={home}"])
    assert f"{home}/logs/x" in exported.stdout


def test_a_switched_off_beats_feature_is_not_warned_about(tmp_path):
    """monitoring.enabled: false (or a section with enabled: false) asks for what tapbeat
    does anyway: no warning. Switched on, or a setting beside no switch, it is warned about;
    setup.template.enabled: false is warned about (`tapbeat setup` loads the template)."""
    off = write(tmp_path, "off.yml", "output.console: {}\nmonitoring:\n  enabled: false\n"
                "  elasticsearch: {hosts: ['x:9200']}\nsetup.dashboards.enabled: false\n"
                "xpack.monitoring.enabled: no\n")
    proc = run_tapbeat(["test", "config", "-c", off])
    assert "warn" not in proc.stderr, proc.stderr
    on = write(tmp_path, "on.yml", "output.console: {}\nmonitoring.enabled: true\n"
               "setup.kibana.host: 'k:5601'\nsetup.template.enabled: false\n")
    proc = run_tapbeat(["test", "config", "-c", on])
    for key in ("monitoring.enabled", "setup.kibana.host", "setup.template.enabled"):
        assert f"{key}: a Beats setting tapbeat does not apply" in proc.stderr, (key, proc.stderr)


def test_default_route_device_as_packetbeat_names_it(tmp_path):
    """packetbeat.interfaces.device: default_route captures on the device that carries
    the default route (found at start; poll_default_route is warned as not followed);
    without one, a config error says so."""
    routes = []
    with open("/proc/net/route") as f:
        next(f)
        for line in f:
            cols = line.split()
            if cols[1] == "00000000" and cols[7] == "00000000" and int(cols[3], 16) & 1 and cols[0] != "lo":
                routes.append((int(cols[6]), cols[0]))
    cfg = write(tmp_path, "dr.yml", "packetbeat.interfaces:\n  device: default_route_ipv4\n  poll_default_route: 1m\n"
                "packetbeat.protocols:\n- {type: dns, ports: [53]}\noutput.console: {}\n")
    if not routes:
        proc = run_tapbeat(["test", "config", "-c", cfg], check=False)
        assert proc.returncode == 1 and "no device carries a default route" in proc.stderr
        return
    dev = min(routes)[1]
    proc = run_tapbeat(["test", "config", "-c", cfg])
    assert f"poll_default_route: the default route's device ({dev}) is found at start" in proc.stderr
    if os.geteuid() != 0:
        pytest.skip("live capture needs root or cap_net_raw")
    p = start_tapbeat(["-c", cfg])
    try:
        wait_for_line(p, f"started: capturing on {dev}")
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=20)


def test_usage_errors():
    proc = run_tapbeat(["--bogus"], check=False)
    assert proc.returncode == 1 and "unknown flag --bogus" in proc.stderr
    proc = run_tapbeat(["frobnicate"], check=False)
    assert proc.returncode == 1 and "unknown command 'frobnicate'" in proc.stderr
    proc = run_tapbeat(["-c"], check=False)
    assert proc.returncode == 1 and "flag -c needs a value" in proc.stderr


@pytest.mark.parametrize("cmd", [["--help"], ["run", "--help"], ["test", "config", "--help"], ["devices", "--help"],
                                 ["version", "--help"]])
def test_help_on_each_command(cmd):
    proc = run_tapbeat(cmd)
    assert proc.stdout.startswith("Usage") or proc.stdout.startswith("tapbeat analyses")


def test_version():
    proc = run_tapbeat(["version"])
    assert re.match(r"tapbeat version \d+\.\d+\.\d+ \(\w+\), libpcap version", proc.stdout)


def test_modules_load_beside_the_binary_or_fail_naming_where_they_were_looked_for(tmp_path):
    # DPDK capture and the Kafka output are modules loaded by the runs that use them
    # (src/plugin.hpp). The binary alone, without its modules: a run that needs one
    # fails at start naming the module and the paths it tried; a run that needs
    # neither works; version says what it could not load.
    build = os.path.dirname(BIN)
    have = {m: os.path.exists(os.path.join(build, f"tapbeat-{m}.so")) for m in ("dpdk", "kafka")}
    if not any(have.values()):
        pytest.skip("this build has neither module (no libdpdk, no librdkafka)")
    alone = tmp_path / "bin" / "tapbeat"
    alone.parent.mkdir()
    alone.write_bytes(open(BIN, "rb").read())
    alone.chmod(0o755)
    sample = os.path.join(ROOT, "tests", "data", "sample.pcap")
    cfg = tmp_path / "k.yml"
    cfg.write_text("output.kafka: {hosts: ['127.0.0.1:1'], topic: t}\n")
    run = lambda args: subprocess.run([str(alone), *args, "--strict.perms=false"], capture_output=True, text=True,
                                      timeout=60)
    if have["kafka"]:
        proc = run(["-c", str(cfg), "-I", sample])
        assert proc.returncode != 0
        assert "output.kafka" in proc.stderr and "tapbeat-kafka.so is not installed (looked for " in proc.stderr
        assert str(tmp_path / "bin" / "tapbeat-kafka.so") in proc.stderr
    if have["dpdk"]:
        v = subprocess.run([str(alone), "version"], capture_output=True, text=True, timeout=30).stdout
        assert v.rstrip().endswith("without DPDK"), v
        assert "DPDK " in run_tapbeat(["version"]).stdout
    cfg.write_text("packetbeat.flows: {timeout: 30s}\noutput.console: {}\n")
    proc = run(["-c", str(cfg), "-I", sample, "-t"])
    assert proc.returncode == 0 and proc.stdout.count('"type":"flow"') > 0
    # With the modules beside it again, they load.
    for m, ok in have.items():
        if ok:
            (tmp_path / "bin" / f"tapbeat-{m}.so").write_bytes(open(os.path.join(build, f"tapbeat-{m}.so"), "rb").read())
    if have["dpdk"]:
        v = subprocess.run([str(alone), "version"], capture_output=True, text=True, timeout=30).stdout
        assert "DPDK " in v and "without DPDK" not in v, v


def test_devices_lists_loopback():
    proc = run_tapbeat(["devices"])
    assert re.search(r"^\d+: lo ", proc.stdout, re.M)


def test_unreadable_capture_file(tmp_path):
    bad = write(tmp_path, "bad.pcap", "this is not a capture")
    cfg = write(tmp_path, "c.yml", "output.console: {}\n")
    proc = run_tapbeat(["-c", cfg, "-I", bad, "-t"], check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("bad.pcap: not a pcap or pcapng file")


def test_compressed_capture_files_read_as_tshark_reads_them(tmp_path):
    """A capture compressed with gzip (two members), zstd or LZ4 gives the plain file's
    events; one cut short gives the events before the cut and says why it ended."""
    import gzip
    import lz4.frame
    plain = open(os.path.join(ROOT, "tests", "data", "sample.pcap"), "rb").read()
    cfg = os.path.join(ROOT, "configs", "sample.yml")

    def events(path):
        proc = run_tapbeat(["-c", cfg, "-I", str(path), "-t"], check=False)
        out = []
        for line in proc.stdout.splitlines():
            e = json.loads(line)
            e.pop("agent")
            out.append(json.dumps(e, sort_keys=True))
        return proc, out

    _, want = events(os.path.join(ROOT, "tests", "data", "sample.pcap"))
    assert len(want) > 10
    zstd = subprocess.run(["zstd", "-q", "-c"], input=plain, capture_output=True, check=True).stdout
    packed = {"gz": gzip.compress(plain[:4000]) + gzip.compress(plain[4000:]), "zst": zstd,
              "lz4": lz4.frame.compress(plain)}
    for ext, data in packed.items():
        path = tmp_path / f"sample.pcap.{ext}"
        path.write_bytes(data)
        proc, got = events(path)
        assert proc.returncode == 0 and got == want, (ext, proc.stderr[-2000:])
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(gzip.compress(plain)[:-2000])
    proc, got = events(cut)
    assert 0 < len(got) < len(want) and "compressed data ends inside a frame" in proc.stderr, proc.stderr[-2000:]


def test_file_output_rotates_and_keeps_number_of_files(tmp_path):
    out = tmp_path / "out"
    cfg = write(tmp_path, "f.yml", f"""packetbeat.flows: {{timeout: 1h, period: -1}}
output.file:
  path: {out}
  filename: packetbeat
  rotate_every_kb: 2
  number_of_files: 3
tapbeat.workers: 1
""")
    run_tapbeat(["-c", cfg, "-I", pcap("community-id/flows/combined.pcap"), "-t"])
    files = sorted(os.listdir(out))
    assert len(files) == 3, files
    assert all(re.match(r"packetbeat-\d{8}(-\d+)?\.ndjson$", f) for f in files), files
    for f in files:
        size = os.path.getsize(out / f)
        lines = (out / f).read_text().splitlines()
        assert lines and all(json.loads(l)["type"] == "flow" for l in lines)
        assert size <= 2048 or len(lines) == 1, f"{f}: {size} bytes in {len(lines)} events"


def test_console_pretty(tmp_path):
    cfg = write(tmp_path, "p.yml", "packetbeat.flows: {period: -1}\noutput.console: {pretty: true}\n")
    proc = run_tapbeat(["-c", cfg, "-I", pcap("beats/mysql_long.pcap"), "-t"])
    assert proc.stdout.startswith('{\n  "@timestamp": ')
    assert json.loads(proc.stdout)["source"]["packets"] == 22


def test_bpf_filter_applies_to_files(tmp_path):
    events, proc = events_of(pcap("community-id/flows/combined.pcap"), ["packetbeat.interfaces.bpf_filter=udp"])
    assert events and all(e["network"]["transport"] == "udp" for e in events)
    bad = run_tapbeat(["-c", os.path.join(ROOT, "tests", "golden", "golden.yml"), "-I",
                       pcap("community-id/flows/combined.pcap"), "-t", "-E", "packetbeat.interfaces.bpf_filter=udp port"],
                      check=False)
    assert bad.returncode == 1 and "invalid bpf_filter 'udp port'" in bad.stderr


def test_stats_count_every_packet(tmp_path):
    _, proc = events_of(pcap("tcpdump/flows/LINKTYPE_IPV4_invalid.pcap"))
    s = final_stats(proc.stderr)
    assert s["capture.read"] == 1 and s["packets.received"] == 1
    assert s["decode.ipv4.bad_version"] == 1


def test_replay_without_t_follows_capture_time():
    # http_minitwit.pcap spans 1.72 s of packet time: replayed at capture speed the run
    # takes at least that long; with -t it is read as fast as possible.
    cfg = os.path.join(ROOT, "tests", "golden", "golden.yml")
    capture = pcap("beats/http_minitwit.pcap")
    start = time.monotonic()
    paced = run_tapbeat(["-c", cfg, "-I", capture])
    paced_s = time.monotonic() - start
    start = time.monotonic()
    fast = run_tapbeat(["-c", cfg, "-I", capture, "-t"])
    fast_s = time.monotonic() - start
    assert paced_s >= 1.7, paced_s
    assert fast_s < 1.0, fast_s
    def events(out):
        evs = [json.loads(l) for l in out.splitlines()]
        for e in evs:
            del e["agent"]["ephemeral_id"]  # new every run
        return evs
    assert events(paced.stdout) == events(fast.stdout)  # packet timestamps are kept either way


def test_live_capture_on_loopback(tmp_path):
    """Live capture through libpcap on lo: UDP datagrams sent by this test become one flow."""
    if os.geteuid() != 0:
        pytest.skip("live capture needs root or cap_net_raw")
    cfg = write(tmp_path, "live.yml", """packetbeat.interfaces:
  device: lo
  bpf_filter: "udp port 45999"
packetbeat.flows: {timeout: 30s, period: -1}
output.console: {}
tapbeat.workers: 2
""")
    p = subprocess.Popen([BIN, "-c", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The "started" line is logged once the capture handle is active.
        seen = wait_for_line(p, "started: capturing on lo")
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 45999))
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(5):
            tx.sendto(b"x" * 100, ("127.0.0.1", 45999))
        time.sleep(0.5)
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    err = "".join(seen) + err
    assert p.returncode == 0, err
    events = [json.loads(l) for l in out.splitlines()]
    flows = [e for e in events if e["destination"].get("port") == 45999]
    assert len(flows) == 1, out
    f = flows[0]
    assert f["flow"]["final"] is True
    assert f["source"]["packets"] == 5
    assert f["source"]["bytes"] == 5 * (14 + 20 + 8 + 100)  # lo has an Ethernet header
    s = final_stats(err)
    assert s["capture.pcap.dropped"] == 0


def test_keystore_secrets_reach_the_config_and_never_the_output(tmp_path):
    """`tapbeat keystore` as a Packetbeat user runs it: create, add from stdin, list;
    the configuration's ${NAME} takes the keystore's value (before the environment);
    the secret is in no output, log or error, and the file is 0600."""
    data = tmp_path / "data"
    cfg = tmp_path / "tapbeat.yml"
    cfg.write_text(f"path.data: {data}\n"
                   "tapbeat.interfaces.device: ${CAPTURE_DEVICE:any}\n"
                   "tapbeat.flows: {enabled: true, period: -1s}\n"
                   "output.console:\n  pretty: ${CONSOLE_PRETTY}\n")
    cfg.chmod(0o600)
    env = dict(os.environ)
    env.pop("CONSOLE_PRETTY", None)
    env.pop("TAPBEAT_KEYSTORE_PASSWORD", None)

    def ks(*args, stdin=None):
        return subprocess.run([BIN, "keystore", *args, "-c", str(cfg)], input=stdin, capture_output=True,
                              text=True, timeout=30, env=env)

    missing = run_tapbeat(["test", "config", "-c", str(cfg)], check=False, env=env)
    assert missing.returncode == 1 and "output.console.pretty" in missing.stderr and "CONSOLE_PRETTY" in missing.stderr
    assert ks("list").returncode == 1  # no keystore yet: Beats' "create it first"
    assert ks("create").returncode == 0
    assert ks("create").returncode == 1  # never replaced without --force
    added = ks("add", "CONSOLE_PRETTY", "--stdin", stdin="true\n")
    assert added.returncode == 0, added.stderr
    assert ks("list").stdout.split() == ["CONSOLE_PRETTY"]
    # --path.data is path.data, as Beats' flag: no keystore in another folder.
    assert ks("list", "--path.data", str(tmp_path / "elsewhere")).returncode == 1
    assert (data / "tapbeat.keystore").stat().st_mode & 0o777 == 0o600
    assert b"true" not in (data / "tapbeat.keystore").read_bytes()[6:]  # encrypted, not in clear
    env["CONSOLE_PRETTY"] = "false"  # the keystore wins over the environment
    run = run_tapbeat(["-c", str(cfg), "-I", os.path.join(ROOT, "tests", "data", "sample.pcap"), "-t",
                       "--strict.perms=false"], env=env)
    assert run.stdout.startswith("{\n"), run.stdout[:80]  # pretty: true came from the keystore
    # A secret referenced where a boolean belongs: the error names the key, not the value.
    assert ks("add", "CONSOLE_PRETTY", "--stdin", stdin="hunter2-secret\n").returncode == 1  # exists
    assert ks("add", "CONSOLE_PRETTY", "--stdin", "--force", stdin="hunter2-secret\n").returncode == 0
    bad = run_tapbeat(["test", "config", "-c", str(cfg)], check=False, env=env)
    assert bad.returncode == 1 and "output.console.pretty" in bad.stderr
    assert "hunter2-secret" not in bad.stderr + bad.stdout
    assert ks("remove", "CONSOLE_PRETTY").returncode == 0
    assert ks("list").stdout.split() == []


def test_fields_and_tags_global_and_per_protocol(tmp_path):
    """Beats' `fields`, `fields_under_root` and `tags`, global and per protocol: a
    protocol's events carry the global ones and its own (its fields over the global
    ones); flows carry the global ones; a field under the root that would repeat one
    of the event's is left out with a warning; a protocol's `index` names its events'
    index; per-protocol options tapbeat does not apply are warned about, each by its key."""
    cfg = tmp_path / "tapbeat.yml"
    cfg.write_text(
        "fields: {env: prod, rack: 12, ratio: 0.5, ok: true, quoted: \"42\", team: all}\n"
        "tags: [mirror]\n"
        "packetbeat.flows: {enabled: true, period: -1s}\n"
        "packetbeat.protocols:\n"
        "- type: dns\n  ports: [53]\n  tags: [resolver]\n  fields: {team: dns-ops, type: bad}\n"
        "  fields_under_root: true\n  processors: [{add_tags: {tags: [own]}}]\n  index: dns-%{+yyyy}\n  keep_null: true\n"
        "- type: http\n  ports: [80]\n"
        "output.console: {}\n")
    cfg.chmod(0o600)
    proc = run_tapbeat(["-c", str(cfg), "-I", pcap("beats/dns_google_com.pcap"), "-t"])
    events = [json.loads(l) for l in proc.stdout.splitlines()]
    dns = [e for e in events if e["type"] == "dns"]
    flows = [e for e in events if e["type"] == "flow"]
    assert dns and flows
    for e in dns:
        assert e["tags"] == ["mirror", "resolver", "own"]  # the protocol's own processors: its events only
        assert e["fields"] == {"env": "prod", "rack": 12, "ratio": 0.5, "ok": True, "quoted": "42", "team": "all"}
        assert e["team"] == "dns-ops" and e["type"] == "dns"
        assert e["@metadata"]["raw_index"] == "dns-" + e["@timestamp"][:4]  # its own index, as Beats writes it
    for e in flows:
        assert e["tags"] == ["mirror"] and e["fields"]["team"] == "all" and "team" not in e
        assert "raw_index" not in e["@metadata"]
    for key in ("fields.type", "keep_null"):
        assert f"protocols[0].{key}" in proc.stderr or f"protocols.dns.{key}" in proc.stderr, key
    assert "protocols[0].index" not in proc.stderr


def test_root_processors_drop_edit_and_count(tmp_path):
    """The root `processors` list applies to every event, in order, each with its
    `when`: DNS events dropped (counted events.dropped.processors), fields dropped,
    added, renamed, tags added; a processor tapbeat does not apply is warned about by
    its key; a bad one is a config error naming file and key."""
    cfg = tmp_path / "tapbeat.yml"
    cfg.write_text(
        "packetbeat.flows: {enabled: true, period: -1s, processors: [{add_fields: {target: '', fields: {kind: f}}}]}\n"
        "packetbeat.protocols:\n- type: dns\n  ports: [53]\n  processors: [{add_tags: {tags: [dns-own]}}]\n"
        "processors:\n"
        "  - drop_event: {when: {equals: {type: dns}}}\n"
        "  - drop_fields: {fields: [agent, ecs, host], ignore_missing: true}\n"
        "  - add_fields: {target: site, fields: {name: lab, rack: 4}}\n"
        "  - rename: {fields: [{from: network.community_id, to: network.cid}]}\n"
        "  - add_tags: {tags: [mirrored], when: {equals: {network.transport: udp}}}\n"
        "  - add_cloud_metadata: ~\n"
        "  - convert: {fields: [{from: destination.port, to: labels.dport, type: string},"
        " {from: source.bytes, type: string}], mode: rename, ignore_missing: true}\n"
        "output.console: {}\n")
    cfg.chmod(0o600)
    proc = run_tapbeat(["-c", str(cfg), "-I", pcap("beats/dns_google_com.pcap"), "-t"])
    events = [json.loads(l) for l in proc.stdout.splitlines()]
    stats = final_stats(proc.stderr)
    assert events and all(e["type"] == "flow" for e in events)
    assert stats["events.dropped.processors"] == stats["dns.transactions"] + stats.get("dns.unanswered_queries", 0) > 0
    assert stats["events.emitted"] == len(events)
    for e in events:
        assert "agent" not in e and "ecs" not in e and "host" not in e
        assert e["site"] == {"name": "lab", "rack": 4}
        assert "community_id" not in e["network"] and e["network"]["cid"].startswith("1:")
        assert ("mirrored" in e.get("tags", [])) == (e["network"]["transport"] == "udp")
        assert e["kind"] == "f" and "dns-own" not in e.get("tags", [])  # flows' own processors ran first
        assert "port" not in e["destination"] and e["labels"]["dport"] == "53"  # convert, mode rename
        assert isinstance(e["source"]["bytes"], str) and int(e["source"]["bytes"]) > 0  # in place
    assert "processors[5].add_cloud_metadata: the add_cloud_metadata processor is not applied by tapbeat" in proc.stderr
    bad = write(tmp_path, "bad.yml", "processors:\n  - rename: {fields: [{from: a}]}\noutput.console: {}\n")
    proc = run_tapbeat(["test", "config", "-c", bad], check=False)
    assert proc.returncode == 1 and "processors[0].rename.fields[0]: expected from and to" in proc.stderr


SHIPPED_PROCESSORS = """processors:
  - # Add forwarded to tags when processing data from a network tap or mirror.
    if.contains.tags: forwarded
    then:
      - drop_fields:
          fields: [host]
    else:
      - add_host_metadata: ~
  - add_cloud_metadata: ~
  - add_docker_metadata: ~
  - detect_mime_type:
      field: http.request.body.content
      target: http.request.mime_type
  - detect_mime_type:
      field: http.response.body.content
      target: http.response.mime_type
"""


@pytest.mark.parametrize("forwarded", [True, False])
def test_packetbeats_shipped_processors_run_as_packetbeat_runs_them(tmp_path, forwarded):
    """The processors block of the packetbeat.yml Packetbeat 7.10+ ships (`if.contains.tags:
    forwarded`, then/else) loads as it is: a tap's events (tags: [forwarded]) lose `host`,
    others get the host's metadata; the processors tapbeat does not apply are warned about."""
    cfg = write(tmp_path, "pb.yml", "packetbeat.protocols:\n- {type: dns, ports: [53]}\noutput.console: {}\n"
                + ("tags: [forwarded]\n" if forwarded else "") + SHIPPED_PROCESSORS)
    proc = run_tapbeat(["-c", cfg, "-I", pcap("beats/dns_google_com.pcap"), "-t", "--strict.perms=false"])
    events = [json.loads(l) for l in proc.stdout.splitlines()]
    assert events
    for e in events:
        if forwarded:
            assert "host" not in e and "forwarded" in e["tags"]
        else:
            assert e["host"]["hostname"] == socket.gethostname() and "os" in e["host"], e.get("host")
    for i, name in ((1, "add_cloud_metadata"), (2, "add_docker_metadata")):
        assert f"processors[{i}].{name}: the {name} processor is not applied by tapbeat" in proc.stderr
    assert not any(f"processors[{i}]" in proc.stderr for i in (0, 3, 4))


def test_shipped_detect_mime_type_processors_tell_the_bodies_types(tmp_path):
    """The block's two detect_mime_type processors on Packetbeat's http_post.pcap with the
    bodies included give the types Packetbeat's test_0063_http_body asserts (the form's
    body is plain text, the reply's HTML); a processor on another field writes its own
    target from the event's value, and a message without a body gets no type."""
    cfg = write(tmp_path, "pb.yml", "packetbeat.protocols:\n- type: http\n  ports: [80, 8080]\n"
                "  include_body_for: [x-www-form-urlencoded, text/html]\n"
                "output.console: {}\n" + SHIPPED_PROCESSORS
                + "  - detect_mime_type: {field: url.full, target: labels.url_type}\n")
    proc = run_tapbeat(["-c", cfg, "-I", pcap("beats/http_post.pcap"), "-t", "--strict.perms=false"])
    events = [json.loads(l) for l in proc.stdout.splitlines() if '"type":"http"' in l]
    assert len(events) == 1, proc.stdout
    h = events[0]["http"]
    assert h["request"]["body"]["content"] and h["response"]["body"]["content"]
    assert h["request"]["mime_type"] == "text/plain; charset=utf-8"
    assert h["response"]["mime_type"] == "text/html; charset=utf-8"
    assert events[0]["labels"]["url_type"] == "text/plain; charset=utf-8"
    assert not any(f"processors[{i}]" in proc.stderr for i in (0, 3, 4, 5))
    proc = run_tapbeat(["-c", cfg, "-I", pcap("beats/http_basicauth.pcap"), "-t", "--strict.perms=false"])
    events = [json.loads(l) for l in proc.stdout.splitlines()]
    assert events and all(("mime_type" in e["http"][side]) == ("body" in e["http"][side])
                          for e in events for side in ("request", "response"))
    assert "body" not in events[0]["http"]["request"]  # a GET
    assert all(e["labels"]["url_type"] == "text/plain; charset=utf-8" for e in events)


def test_a_protocol_whose_ports_are_commented_out_is_off_as_in_packetbeat(tmp_path):
    """Packetbeat's packetbeat.yml has users turn a protocol off by commenting out its
    ports: such an HTTP entry publishes nothing (payload detection would have found the
    sample's HTTP on port 80), says so at start, and `ports: []` still finds it by payload."""
    sample = os.path.join(ROOT, "tests", "data", "sample.pcap")
    base = "packetbeat.flows: {enabled: false}\npacketbeat.protocols:\n- type: dns\n  ports: [53]\n"
    off = write(tmp_path, "off.yml", base + "- type: http\n  # ports: [80, 8080]\noutput.console: {}\n")
    proc = run_tapbeat(["-c", off, "-I", sample, "-t"])
    types = sorted({json.loads(l)["type"] for l in proc.stdout.splitlines()})
    assert types == ["dns"], types
    assert "ports: not set: http is off, as in Packetbeat" in proc.stderr
    detected = write(tmp_path, "on.yml", base + "- type: http\n  ports: []\noutput.console: {}\n")
    proc = run_tapbeat(["-c", detected, "-I", sample, "-t"])
    types = sorted({json.loads(l)["type"] for l in proc.stdout.splitlines()})
    assert types == ["dns", "http"], types


def test_export_config_masks_credentials_and_export_template_is_the_setup_template(tmp_path):
    data = tmp_path / "data"
    cfg = tmp_path / "tapbeat.yml"
    cfg.write_text(f"path.data: {data}\n"
                   "output.elasticsearch:\n  hosts: ${ES_HOSTS}\n  username: ${ES_USER}\n  password: plain-pw\n"
                   "  api_key: ${ES_USER}\n")
    cfg.chmod(0o600)
    env = dict(os.environ, ES_HOSTS='["es1:9200", "es2:9200"]')
    env.pop("TAPBEAT_KEYSTORE_PASSWORD", None)
    for args, stdin in ((["create"], None), (["add", "ES_USER", "--stdin"], "keystore-user")):
        assert subprocess.run([BIN, "keystore", *args, "-c", str(cfg)], input=stdin, capture_output=True, text=True,
                              env=env, timeout=30).returncode == 0
    out = run_tapbeat(["export", "config", "-c", str(cfg)], env=env).stdout
    assert "es1:9200" in out and "es2:9200" in out  # from the environment, not a secret
    assert "plain-pw" not in out and "keystore-user" not in out  # a password key; a keystore value anywhere
    assert out.count("xxxxx") == 3, out
    template = json.loads(run_tapbeat(["export", "template", "-c", str(cfg)], env=env).stdout)
    props = template["template"]["mappings"]["properties"]
    assert props["http"]["properties"]["request"]["properties"]["body"]["properties"]["content"]["type"] == "wildcard"
    assert any("resolved_ips" in t for t in template["template"]["mappings"]["dynamic_templates"])




def test_monitoring_endpoint_serves_identity_stats_and_prometheus_metrics(tmp_path):
    """http.enabled: a running capture answers curl-style GETs on /, /stats (nested
    counters, and Beats' beat/libbeat/system blocks), /state and /metrics (per worker,
    per protocol), while HTTP traffic it decodes
    moves the counters; a non-loopback host is refused without http.allow_remote."""
    import urllib.request
    if os.geteuid() != 0:
        pytest.skip("live capture needs root or cap_net_raw")
    from conftest import live_config
    web, mon = free_port(), free_port()
    cfg = tmp_path / "mon.yml"
    cfg.write_text(live_config("http", web, f"http.enabled: true\nhttp.port: {mon}\n"))
    cfg.chmod(0o600)
    refused = run_tapbeat(["test", "config", "-c", str(cfg), "-E", "http.host=0.0.0.0"], check=False)
    assert refused.returncode == 1 and "http.host" in refused.stderr and "allow_remote" in refused.stderr
    assert run_tapbeat(["test", "config", "-c", str(cfg), "-E", "http.host=0.0.0.0",
                        "-E", "http.allow_remote=true"]).returncode == 0
    server = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", str(web), "--bind", "127.0.0.1"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p = subprocess.Popen([BIN, "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(p, "started: capturing on lo")
        get = lambda path: urllib.request.urlopen(f"http://127.0.0.1:{mon}{path}", timeout=5)
        ident = json.load(get("/"))
        assert ident["beat"] == "tapbeat" and ident["uuid"] and ident["version"]
        deadline = time.time() + 10
        while True:  # the web server may need a moment
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{web}/", timeout=2).read()
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(0.2)
        for _ in range(3):
            urllib.request.urlopen(f"http://127.0.0.1:{web}/", timeout=2).read()
        deadline = time.time() + 10
        while json.load(get("/stats"))["http"]["transactions"] < 4:
            assert time.time() < deadline, "http.transactions never reached 4 on /stats"
            time.sleep(0.2)
        stats = json.load(get("/stats"))
        assert stats["packets"]["received"] > 0 and "events" in stats and "output" in stats
        # Beats' own blocks, for Metricbeat's beat module and Stack Monitoring, from the
        # same counters: published events are the ones emitted, acked the ones written.
        deadline = time.time() + 10
        while stats["libbeat"]["output"]["events"]["acked"] < stats["events"]["emitted"]:
            assert time.time() < deadline, stats["libbeat"]
            time.sleep(0.2)
            stats = json.load(get("/stats"))
        lb = stats["libbeat"]
        assert lb["output"]["type"] == "console" and lb["pipeline"]["clients"] == stats["workers"]
        assert lb["pipeline"]["events"]["published"] == stats["events"]["emitted"] >= 4
        assert lb["output"]["events"]["acked"] == stats["output"]["events"]["written"]
        assert stats["beat"]["info"]["ephemeral_id"] == ident["ephemeral_id"]
        assert stats["beat"]["info"]["uptime"]["ms"] > 0 and stats["beat"]["memstats"]["rss"] > 1 << 20
        assert stats["beat"]["handles"]["open"] > 0 and stats["system"]["cpu"]["cores"] >= 1
        state = json.load(get("/state"))
        assert state["output"]["name"] == "console" and state["service"]["id"] == ident["uuid"]
        metrics = get("/metrics").read().decode()
        assert "# TYPE tapbeat_protocol_transactions counter" in metrics
        assert re.search(r'^tapbeat_protocol_transactions\{protocol="http",worker="0"\} [4-9]', metrics, re.M), metrics
        assert re.search(r'^tapbeat_packets_received\{worker="0"\} [1-9]', metrics, re.M)
        try:
            get("/nope")
            assert False, "404 expected"
        except urllib.error.HTTPError as e:
            assert e.code == 404
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=20)
        server.terminate()
        server.wait(timeout=10)
    assert p.returncode == 0


def test_logging_level_files_rotation_text_format_and_e(tmp_path):
    """logging.*: below the level left out; to files (0600, rotated at
    rotateeverybytes, keepfiles generations) instead of stderr; json: false gives
    Beats' tab-separated lines; -e puts everything back on stderr."""
    logs = tmp_path / "logs"
    cfg = tmp_path / "l.yml"
    cfg.write_text("tapbeat.flows: {enabled: true, period: -1s}\noutput.console: {}\nsetup.kibana.host: k\n"
                   "logging:\n  level: warning\n  to_files: true\n  to_stderr: false\n  json: false\n"
                   f"  files: {{path: {logs}, name: tb, rotateeverybytes: 4096, keepfiles: 2}}\n")
    cfg.chmod(0o600)
    sample = os.path.join(ROOT, "tests", "data", "sample.pcap")
    for _ in range(40):
        proc = run_tapbeat(["-c", str(cfg), "-I", sample, "-t"])
        assert proc.stderr == ""
    assert sorted(os.listdir(logs)) == ["tb", "tb.1"]  # keepfiles 2: the current file and one before it
    for name in ("tb", "tb.1"):
        assert (logs / name).stat().st_mode & 0o777 == 0o600
        assert (logs / name).stat().st_size <= 4096
    lines = (logs / "tb").read_text().splitlines()
    assert lines and all(l.split("\t")[1] == "WARN" and l.split("\t")[2] == "tapbeat" for l in lines), lines[:3]
    assert not any("started" in l for l in lines)  # info is below warning
    e = run_tapbeat(["-c", str(cfg), "-I", sample, "-t", "-e"])
    assert "setup.kibana.host" in e.stderr
    bad = run_tapbeat(["test", "config", "-c", str(cfg), "-E", "logging.level=loud"], check=False)
    assert bad.returncode == 1 and "logging.level" in bad.stderr


def test_log_files_rotate_on_startup_and_on_interval_as_beats_does(tmp_path):
    """logging.files.rotateonstartup (Beats' default true: a new file each start; false
    appends) and logging.files.interval (a new file each period as well as by size)."""
    sample = os.path.join(ROOT, "tests", "data", "sample.pcap")

    def files_after_two_runs(name, extra):
        logs = tmp_path / name
        cfg = write(tmp_path, name + ".yml", "output.console: {}\nlogging:\n  to_files: true\n  to_stderr: false\n"
                    f"  files: {{path: {logs}, name: tb{extra}}}\n")
        for _ in range(2):
            run_tapbeat(["-c", cfg, "-I", sample, "-t"])
        return sorted(os.listdir(logs))

    assert files_after_two_runs("default", "") == ["tb", "tb.1"]
    assert files_after_two_runs("append", ", rotateonstartup: false") == ["tb"]
    logs = tmp_path / "interval"
    err = run_held_by_output(tmp_path, "logging.metrics.period: 200ms\nlogging:\n  to_files: true\n"
                             f"  files: {{path: {logs}, name: tb, interval: 1s, keepfiles: 10}}\n", 2.5)
    assert len(os.listdir(logs)) >= 3, (sorted(os.listdir(logs)), err[-500:])
    bad = write(tmp_path, "bad.yml", "output.console: {}\nlogging.files.interval: 10ms\n")
    proc = run_tapbeat(["test", "config", "-c", bad], check=False)
    assert proc.returncode == 1 and "logging.files.interval" in proc.stderr


def run_held_by_output(tmp_path, extra, seconds):
    """A run whose output never answers holds reading at the memory queue (32 events):
    it lasts until stopped; stopped after `seconds`, its stderr. `extra`: more settings."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = write(tmp_path, "held.yml", "packetbeat.protocols: [{type: dns, ports: [53]}, {type: http, ports: [80]}]\n"
                f"output.logstash: {{hosts: ['127.0.0.1:{port}']}}\nqueue.mem.events: 32\n"
                "tapbeat.shutdown_timeout: 0s\n" + extra)
    proc = start_tapbeat(["-c", cfg, "-I", pcap("ndpi/mixed/1kxun.pcap"), "-t"])
    try:
        wait_for_line(proc, "capture goes on")
        time.sleep(seconds)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return err


def test_periodic_stats_log_what_changed_nested_with_rates(tmp_path):
    # A run whose output never answers holds reading at the memory queue (32 events):
    # it lasts until stopped, logging its metrics every 200 ms as Beats does: nested,
    # counts as their increase over the period, levels as they are, no zeros; rates.
    err = run_held_by_output(tmp_path, "tapbeat.stats_period: 200ms\n", 1.5)
    lines = [json.loads(l) for l in err.splitlines() if "Non-zero metrics in the last 0.2s" in l]
    assert len(lines) >= 3, err[-2000:]

    def leaves(tree, prefix=""):
        for k, v in tree.items():
            assert "." not in k, k  # nested by dotted name
            if isinstance(v, dict):
                yield from leaves(v, prefix + k + ".")
            else:
                yield prefix + k, v

    received = 0
    for line in lines:
        metrics = dict(leaves(line["monitoring"]["metrics"]))
        assert all(v != 0 for v in metrics.values()), metrics
        assert metrics["workers"] == 1 and metrics["flow.capacity"] > 0  # levels, every time
        received += metrics.get("packets.received", 0)
        if "packets.received" in metrics:
            assert line["monitoring"]["rates_per_s"]["packets.received"] == pytest.approx(
                metrics["packets.received"] / 0.2, rel=0.01)
    stats = final_stats(err)
    assert 0 < received <= stats["packets.received"]
    assert any("output.logstash.connection_errors" in dict(leaves(l["monitoring"]["metrics"])) for l in lines)


@pytest.mark.parametrize("metrics,lines_expected", [("{period: 200ms}", True), ("{enabled: false, period: 200ms}", False)])
def test_beats_logging_metrics_settings_set_the_metrics_line(tmp_path, metrics, lines_expected):
    """Beats' logging.metrics.period sets how often the metrics line is logged (where
    tapbeat.stats_period is not set) and logging.metrics.enabled: false logs none; the
    final stats line is there either way, and neither setting is warned about."""
    err = run_held_by_output(tmp_path, f"logging.metrics: {metrics}\n", 1.0)
    lines = [l for l in err.splitlines() if "Non-zero metrics in the last" in l]
    if lines_expected:
        assert len(lines) >= 2 and all("in the last 0.2s" in l for l in lines), err[-2000:]
    else:
        assert lines == [], lines[:2]
    assert "logging.metrics" not in err  # applied: no warning
    final_stats(err)


def test_export_template_is_named_after_the_index(tmp_path):
    base = ["export", "template", "-c", os.path.join(ROOT, "configs", "sample.yml"), "-E", "output.console.enabled=false",
            "-E", 'output.elasticsearch.hosts=["es:9200"]']
    for index, pattern in (("packetbeat-tapbeat", "packetbeat-tapbeat"), ("tb-%{[type]}-x", "tb-*")):
        out = json.loads(run_tapbeat(base + ["-E", f"output.elasticsearch.index={index}"]).stdout)
        assert out["index_patterns"] == [pattern]
    out = json.loads(run_tapbeat(base + ["-E", "output.elasticsearch.index=tb-%{[type]}",
                                         "-E", "setup.template.pattern=mine-*"]).stdout)
    assert out["index_patterns"] == ["mine-*"]


@pytest.mark.parametrize("cut, why", [(10, "truncated packet header"), (40, "truncated packet data")])
def test_a_capture_cut_short_keeps_the_packets_before_the_cut(tmp_path, cut, why):
    # tests/data/sample.pcap with its last packet record cut `cut` bytes after the record
    # starts: inside the 16-byte header, or inside the packet's bytes. Every packet before
    # it is read and counted, and the run says how the file ends.
    data = open(os.path.join(ROOT, "tests", "data", "sample.pcap"), "rb").read()
    pos, last = 24, 24
    while pos < len(data):
        last = pos
        pos += 16 + int.from_bytes(data[pos + 8:pos + 12], "little")
    assert pos == len(data)
    packets = 0
    p = 24
    while p < last:
        packets += 1
        p += 16 + int.from_bytes(data[p + 8:p + 12], "little")
    cut_file = tmp_path / "cut.pcap"
    cut_file.write_bytes(data[:last + cut])
    proc = run_tapbeat(["-c", os.path.join(ROOT, "tests", "golden", "golden.yml"), "-I", str(cut_file), "-t"])
    assert f"ends with an error, events up to it are kept: {why}" in proc.stderr
    assert final_stats(proc.stderr)["capture.read"] == packets
    assert proc.stdout.strip()


def test_pcap_byte_orders_and_resolutions_give_the_same_events(tmp_path):
    # tests/data/sample.pcap rewritten big-endian, and with nanosecond timestamps in
    # either byte order: the same packets, so the same events, to the nanosecond.
    data = open(os.path.join(ROOT, "tests", "data", "sample.pcap"), "rb").read()
    assert data[:4] == bytes.fromhex("d4c3b2a1")  # little-endian, microseconds

    def rewrite(big, nano):
        o = "big" if big else "little"
        out = bytearray((0xA1B23C4D if nano else 0xA1B2C3D4).to_bytes(4, o))
        out += int.from_bytes(data[4:6], "little").to_bytes(2, o) + int.from_bytes(data[6:8], "little").to_bytes(2, o)
        for i in range(8, 24, 4):
            out += int.from_bytes(data[i:i + 4], "little").to_bytes(4, o)
        pos = 24
        while pos < len(data):
            sec, sub, cap, wire = (int.from_bytes(data[pos + k:pos + k + 4], "little") for k in (0, 4, 8, 12))
            for v in (sec, sub * 1000 if nano else sub, cap, wire):
                out += v.to_bytes(4, o)
            out += data[pos + 16:pos + 16 + cap]
            pos += 16 + cap
        path = tmp_path / f"{o}-{'ns' if nano else 'us'}.pcap"
        path.write_bytes(bytes(out))
        return str(path)

    def events(path):
        got, proc = events_of(path, ["timestamp.precision=nanosecond"])
        assert proc.returncode == 0, proc.stderr
        for e in got:
            e.pop("agent", None)
        return got

    want = events(os.path.join(ROOT, "tests", "data", "sample.pcap"))
    assert len(want) > 10
    for big, nano in ((True, False), (False, True), (True, True)):
        assert events(rewrite(big, nano)) == want, (big, nano)


def test_interface_file_options_as_packetbeat_reads_them(tmp_path):
    """packetbeat.interfaces.file with topspeed: true is read as fast as it goes, as with
    -t (Packetbeat's redis_session.pcap spans 67 s of capture time; paced, the run would
    last as long); loop, dumpfile and id, which tapbeat does not have, are warned about
    by key (they had been taken without a word)."""
    cfg = write(tmp_path, "file.yml",
                f"packetbeat.interfaces:\n  file: {pcap('beats/redis_session.pcap')}\n  topspeed: true\n"
                "  loop: 3\n  dumpfile: /tmp/never-written.pcap\n  id: mirror-1\n"
                "packetbeat.protocols:\n- {type: redis, ports: [6379]}\noutput.console: {}\n")
    proc = run_tapbeat(["-c", cfg, "--strict.perms=false"], timeout=30)
    redis = [json.loads(l) for l in proc.stdout.splitlines() if '"type":"redis"' in l]
    assert len(redis) >= 10, proc.stdout[-2000:]
    for key in ("loop", "dumpfile", "id"):
        assert f"interfaces.{key}: " in proc.stderr, key
    assert not os.path.exists("/tmp/never-written.pcap")
