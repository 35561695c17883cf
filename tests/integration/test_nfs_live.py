"""NFS live: nfs-ganesha (a user-space NFS server from Debian) exports a folder on
loopback, libnfs's command-line client reads it over NFSv3 and NFSv4, and tapbeat
publishes every call with its reply: the opcodes, NFS_OK, AUTH_SYS credentials."""
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import run_live

NFS_PORT, MOUNT_PORT = 12049, 12048

GANESHA_CONF = """NFS_CORE_PARAM {{
  Protocols = 3, 4; NFS_Port = {nfs}; MNT_Port = {mnt}; Bind_addr = 127.0.0.1;
  Enable_NLM = false; Enable_RQUOTA = false;
}}
NFSV4 {{ Graceless = true; }}
EXPORT {{
  Export_Id = 1; Path = {path}; Pseudo = /export; Access_Type = RW; Squash = No_Root_Squash;
  Protocols = 3, 4; Transports = TCP; SecType = sys;
  FSAL {{ Name = VFS; }}
}}
LOG {{ Default_Log_Level = WARN; }}
"""


@pytest.fixture
def ganesha(tmp_path):
    for tool in ("ganesha.nfsd", "rpcbind", "nfs-cat", "nfs-ls"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed (scripts/setup installs it)")
    if os.geteuid() != 0:
        pytest.skip("nfs-ganesha's VFS export needs root")
    export = tmp_path / "export"
    export.mkdir()
    (export / "hello.txt").write_text("hello over nfs\n")
    conf = tmp_path / "ganesha.conf"
    conf.write_text(GANESHA_CONF.format(nfs=NFS_PORT, mnt=MOUNT_PORT, path=export))
    # ganesha registers its programs with rpcbind: start one unless it runs already.
    rpcbind = None
    if subprocess.run(["rpcinfo", "-p", "127.0.0.1"], capture_output=True).returncode != 0:
        rpcbind = subprocess.Popen(["rpcbind", "-f", "-w"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    server = subprocess.Popen(["ganesha.nfsd", "-F", "-f", str(conf), "-L", str(tmp_path / "ganesha.log"),
                               "-p", str(tmp_path / "ganesha.pid"), "-N", "NIV_WARN"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", NFS_PORT), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("nfs-ganesha did not start: " + (tmp_path / "ganesha.log").read_text()[-2000:])
    yield export
    server.terminate()
    server.wait(timeout=20)
    if rpcbind:
        rpcbind.terminate()


def test_libnfs_reads_from_ganesha(tmp_path, ganesha):
    export = ganesha
    config = f"""packetbeat.interfaces:
  device: lo
  bpf_filter: "tcp port {NFS_PORT}"
packetbeat.flows: {{enabled: false}}
packetbeat.protocols:
  - type: nfs
    ports: [{NFS_PORT}]
output.console: {{}}
tapbeat.workers: 1
"""

    def clients():
        v3 = subprocess.run(["nfs-cat", f"nfs://127.0.0.1{export}/hello.txt?nfsport={NFS_PORT}&mountport="
                             f"{MOUNT_PORT}&version=3"], capture_output=True, text=True, timeout=30)
        assert v3.stdout == "hello over nfs\n", v3.stderr
        v4 = subprocess.run(["nfs-cat", f"nfs://127.0.0.1/export/hello.txt?nfsport={NFS_PORT}&version=4"],
                            capture_output=True, text=True, timeout=30)
        assert v4.stdout == "hello over nfs\n", v4.stderr
        ls = subprocess.run(["nfs-ls", f"nfs://127.0.0.1/export?nfsport={NFS_PORT}&version=4"],
                            capture_output=True, text=True, timeout=30)
        assert "hello.txt" in ls.stdout, ls.stderr
        time.sleep(1)

    out, err = run_live(config, tmp_path, clients)
    events = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    nfs = [e for e in events if e.get("type") == "nfs"]
    assert nfs, err[-2000:]
    # Every call was answered and paired, over TCP, with root's AUTH_SYS credentials.
    for e in nfs:
        assert e["rpc"]["status"] == "success" and "error" not in e, e
        assert e["network"]["transport"] == "tcp"
        assert e["server"]["port"] == NFS_PORT
    v3 = [e for e in nfs if e["nfs"]["version"] == 3]
    v4 = [e for e in nfs if e["nfs"]["version"] == 4]
    v3_ops = {e["nfs"]["opcode"] for e in v3}
    assert {"LOOKUP", "READ"} <= v3_ops, v3_ops
    read3 = [e for e in v3 if e["nfs"]["opcode"] == "READ"][0]
    assert read3["nfs"]["status"] == "NFS_OK" and read3["network"]["protocol"] == "nfsv3"
    assert read3["rpc"]["auth_flavor"] == "unix" and read3["user"]["id"] == 0
    assert read3["server"]["bytes"] > len("hello over nfs\n")
    v4_ops = {e["nfs"]["opcode"] for e in v4}
    assert {"READ", "READDIR"} <= v4_ops, v4_ops
    assert all("minor_version" in e["nfs"] and e["nfs"]["status"] == "NFS_OK" for e in v4
               if e["nfs"]["opcode"] in ("READ", "READDIR"))
