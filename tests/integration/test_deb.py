"""The Debian package: scripts/build-deb builds it from build/tapbeat; it is installed
with dpkg, started as its unit starts it (as root here, where no systemd runs: tapbeat
then gives root up to the package's user once the capture is open), stopped, and
purged, leaving nothing behind."""
import grp
import os
import pwd
import shutil
import signal
import subprocess

import pytest

from conftest import BIN, ROOT, final_stats, send_udp, wait_for_line


def dpkg(*args, check=True):
    return subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=300, check=check)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("dpkg-deb"):
        pytest.skip("installing a package needs root and dpkg")
    if dpkg("-s", "tapbeat", check=False).returncode == 0:
        pytest.skip("a tapbeat package is installed on this host already; not touching it")
    out = tmp_path_factory.mktemp("deb")
    deb = subprocess.run([os.path.join(ROOT, "scripts", "build-deb"), str(out)], capture_output=True, text=True,
                         timeout=300, check=True).stdout.strip()
    dpkg("-i", deb)
    yield deb
    dpkg("--purge", "tapbeat", check=False)


def test_package_contents_and_install(installed):
    info = dpkg("-I", installed).stdout
    assert "Package: tapbeat" in info and "libpcap0.8" in info and "adduser" in info
    files = dpkg("-c", installed).stdout
    for f in ("./usr/bin/tapbeat", "./etc/tapbeat/tapbeat.yml", "./lib/systemd/system/tapbeat.service",
              "./usr/share/doc/tapbeat/README.md"):
        assert f in files, f
    assert dpkg("-s", "tapbeat").stdout.count("Status: install ok installed") == 1
    user = pwd.getpwnam("tapbeat")
    assert user.pw_shell == "/usr/sbin/nologin" and grp.getgrgid(user.pw_gid).gr_name == "tapbeat"
    for d in ("/var/lib/tapbeat", "/var/log/tapbeat"):
        st = os.stat(d)
        assert st.st_uid == user.pw_uid and st.st_mode & 0o777 == 0o750, d
    st = os.stat("/etc/tapbeat/tapbeat.yml")
    assert st.st_uid == 0 and st.st_gid == user.pw_gid and st.st_mode & 0o777 == 0o640
    with open("/lib/systemd/system/tapbeat.service") as f:
        unit = f.read()
    assert "User=tapbeat" in unit and "DynamicUser" not in unit
    assert "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN" in unit
    assert "ExecStart=/usr/bin/tapbeat -c /etc/tapbeat/tapbeat.yml" in unit
    assert "Config OK" in subprocess.run(["/usr/bin/tapbeat", "test", "config", "-c", "/etc/tapbeat/tapbeat.yml"],
                                         capture_output=True, text=True, timeout=30).stdout
    # The modules the build has are installed where the installed binary loads them.
    for m in ("dpdk", "kafka"):
        if os.path.exists(os.path.join(os.path.dirname(BIN), f"tapbeat-{m}.so")):
            assert f"./usr/lib/tapbeat/tapbeat-{m}.so" in files, m
    if os.path.exists(os.path.join(os.path.dirname(BIN), "tapbeat-dpdk.so")):
        assert "DPDK " in subprocess.run(["/usr/bin/tapbeat", "version"], capture_output=True, text=True,
                                         timeout=30).stdout


def test_started_as_the_unit_starts_it(installed):
    with open("/lib/systemd/system/tapbeat.service") as f:
        exec_start = next(l for l in f if l.startswith("ExecStart=")).split("=", 1)[1].split()
    uid = pwd.getpwnam("tapbeat").pw_uid
    p = subprocess.Popen(exec_start + ["-E", "packetbeat.interfaces.device=lo", "-E", "tapbeat.progress=false"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = wait_for_line(p, "started: capturing on lo", timeout=30)
        assert any(f"running as user tapbeat (uid {uid}" in l for l in seen), "".join(seen)
        with open(f"/proc/{p.pid}/status") as f:
            assert next(l for l in f if l.startswith("Uid:")).split()[1:] == [str(uid)] * 4
        send_udp(45991, 1, 64)
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err[-2000:]
    assert final_stats(err)["capture.pcap.received"] >= 1
    # The shipped config writes events to files under path.data, as the user.
    events = "/var/lib/tapbeat/events"
    assert os.stat(events).st_uid == uid and any(n.endswith(".ndjson") for n in os.listdir(events))


def test_purge_leaves_nothing(installed):
    dpkg("--purge", "tapbeat")
    assert dpkg("-s", "tapbeat", check=False).returncode != 0
    for path in ("/usr/bin/tapbeat", "/etc/tapbeat/tapbeat.yml", "/var/lib/tapbeat", "/var/log/tapbeat",
                 "/lib/systemd/system/tapbeat.service"):
        assert not os.path.exists(path), path
    with pytest.raises(KeyError):
        pwd.getpwnam("tapbeat")
