"""DHCPv4 live: dnsmasq serves addresses on one end of a veth pair, udhcpc asks for
one from a network namespace at the other end, and tapbeat, capturing on the
server's end, publishes each message of the exchange as one dhcpv4 event."""
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import run_live


@pytest.fixture
def dhcp_link(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("dnsmasq", "udhcpc"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed (scripts/setup installs it)")
    tag = uuid.uuid4().hex[:6]
    ns, inner, outer = f"tbdh{tag}", f"tbdi{tag}", f"tbdo{tag}"
    cmds = [["ip", "netns", "add", ns], ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner],
            ["ip", "link", "set", inner, "netns", ns], ["ip", "addr", "add", "10.198.0.1/24", "dev", outer],
            ["ip", "link", "set", outer, "up"], ["ip", "netns", "exec", ns, "ip", "link", "set", inner, "up"]]
    for c in cmds:
        subprocess.run(c, check=True, capture_output=True)
    server = subprocess.Popen(
        ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root", f"--interface={outer}",
         "--bind-interfaces", "--dhcp-range=10.198.0.50,10.198.0.60,255.255.255.0,1h", "--dhcp-authoritative", "--no-ping",
         "--dhcp-option=option:router,10.198.0.1", "--dhcp-option=option:dns-server,10.198.0.1",
         "--dhcp-option=option:domain-name,tapbeat.test", f"--dhcp-leasefile={tmp_path}/leases",
         f"--pid-file={tmp_path}/dnsmasq.pid"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    yield ns, inner, outer
    server.terminate()
    server.wait(timeout=10)
    subprocess.run(["ip", "link", "del", outer], capture_output=True)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_a_lease_from_dnsmasq_to_udhcpc(tmp_path, dhcp_link):
    ns, inner, outer = dhcp_link
    config = f"""packetbeat.interfaces:
  device: {outer}
packetbeat.flows: {{enabled: false}}
packetbeat.protocols:
  - type: dhcpv4
    ports: [67, 68]
output.console: {{}}
tapbeat.workers: 1
"""

    def lease():
        # Discover, offer, request, ack (-q: udhcpc leaves once it has the lease).
        subprocess.run(["ip", "netns", "exec", ns, "udhcpc", "-i", inner, "-f", "-q", "-n", "-t", "5",
                        "-T", "1", "-s", "/bin/true", "-x", "hostname:tapbeat-client"],
                       check=True, capture_output=True, timeout=30)
        time.sleep(1)

    out, err = run_live(config, tmp_path, lease)
    import json
    events = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    dhcp = [e for e in events if e.get("type") == "dhcpv4"]
    types = [e["dhcpv4"].get("option", {}).get("message_type") for e in dhcp]
    # A client that hears nothing within its timeout asks again: repeats are kept apart.
    firsts = [i for i, t in enumerate(types) if i == 0 or types[i - 1] != t]
    assert [types[i] for i in firsts] == ["discover", "offer", "request", "ack"], types
    discover, offer, request, ack = (dhcp[i] for i in firsts)
    assert len({e["dhcpv4"]["transaction_id"] for e in (discover, offer, request, ack)}) == 1
    assert discover["dhcpv4"]["op_code"] == "bootrequest" and offer["dhcpv4"]["op_code"] == "bootreply"
    assert discover["dhcpv4"]["option"]["hostname"] == "tapbeat-client"
    assert discover["source"]["port"] == 68 and discover["destination"]["port"] == 67
    assert offer["source"]["ip"] == "10.198.0.1" and offer["server"]["ip"] == "10.198.0.1"
    assigned = ack["dhcpv4"]["assigned_ip"]
    assert assigned.startswith("10.198.0.") and 50 <= int(assigned.rsplit(".", 1)[1]) <= 60
    assert request["dhcpv4"]["option"]["requested_ip_address"] == assigned
    opts = ack["dhcpv4"]["option"]
    assert opts["server_identifier"] == "10.198.0.1"
    assert opts["router"] == ["10.198.0.1"] and opts["dns_servers"] == ["10.198.0.1"]
    assert opts["domain_name"] == "tapbeat.test"
    assert opts["subnet_mask"] == "255.255.255.0" and opts["ip_address_lease_time_sec"] == 3600
    assert ack["client"]["ip"] == assigned and ack["destination"]["ip"] == assigned
    # The client's MAC: the inner end's address, as ECS writes it.
    mac = subprocess.run(["ip", "netns", "exec", ns, "cat", f"/sys/class/net/{inner}/address"],
                         capture_output=True, text=True).stdout.strip().upper().replace(":", "-")
    assert all(e["dhcpv4"]["client_mac"] == mac for e in dhcp)
