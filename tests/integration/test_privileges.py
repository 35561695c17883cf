"""Started as root, tapbeat gives root up once the capture is open (tapbeat.user): every
thread runs as that user afterwards, capture goes on, and root cannot be taken back."""
import json
import os
import pwd
import signal
import subprocess
import uuid

import pytest

from conftest import BIN, final_stats, send_udp, wait_for_line


@pytest.fixture
def system_user():
    if os.geteuid() != 0:
        pytest.skip("dropping root needs root")
    name = f"tbu{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    yield name, pwd.getpwnam(name).pw_uid
    subprocess.run(["userdel", name], capture_output=True)


def ids(pid):
    """Real, effective, saved and filesystem uids of every thread of pid."""
    out = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    out.update(int(v) for v in line.split()[1:])
    return out


def test_root_is_given_up_once_the_capture_is_open(tmp_path, system_user):
    user, uid = system_user
    cfg = tmp_path / "t.yml"
    cfg.write_text(f"packetbeat.interfaces.device: lo\ntapbeat.user: {user}\n"
                   "packetbeat.flows: {timeout: 30s, period: -1s}\ntapbeat.workers: 2\n"
                   "tapbeat.progress: false\noutput.console: {}\n")
    p = subprocess.Popen([BIN, "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = wait_for_line(p, "started: capturing on lo")
        assert any(f"running as user {user} (uid {uid}" in l for l in seen), "".join(seen)
        assert ids(p.pid) == {uid}  # every thread: real, effective, saved and filesystem uid
        send_udp(45777, 5, 100)
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err[-2000:]
    flows = [json.loads(l) for l in out.splitlines()]
    assert [f["source"]["packets"] for f in flows if f["destination"].get("port") == 45777] == [5]
    assert final_stats(err)["capture.pcap.received"] >= 5


def test_folders_the_user_cannot_write_are_named(tmp_path, system_user):
    # The output opens after root is given up: a folder under root's 0700 tmp_path is
    # out of the user's reach, said by name before the output refuses to start.
    user, _ = system_user
    out = tmp_path / "events"
    cfg = tmp_path / "t.yml"
    cfg.write_text(f"packetbeat.interfaces.device: lo\ntapbeat.user: {user}\ntapbeat.progress: false\n"
                   f"output.file: {{path: '{out}'}}\n")
    proc = subprocess.run([BIN, "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert f"output.file.path {out} is not writable by user {user}" in proc.stderr
    assert "tapbeat: output.file.path: cannot create" in proc.stderr


def test_a_named_user_that_does_not_exist_is_an_error(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("dropping root needs root")
    cfg = tmp_path / "t.yml"
    cfg.write_text("packetbeat.interfaces.device: lo\ntapbeat.user: no-such-user-here\noutput.console: {}\n")
    proc = subprocess.run([BIN, "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "tapbeat.user: no user 'no-such-user-here' on this host" in proc.stderr
