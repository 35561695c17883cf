"""802.11 captures (a monitor-mode interface: radiotap, or bare 802.11 frames): data
frames carry the same flows and transactions an Ethernet capture of the same exchange
gives. Frames written by scapy's 802.11 layers, read back by tshark as the same
conversation."""
import subprocess

from scapy.all import (IP, LLC, SNAP, TCP, Dot11, Dot11Beacon, Dot11Elt, Dot11QoS, Ether, RadioTap, Raw,
                       wrpcap)

from conftest import events_of, final_stats

CLIENT, SERVER = "10.0.0.5", "93.184.216.34"
STA, AP, ROUTER = "aa:aa:aa:aa:aa:01", "bb:bb:bb:bb:bb:01", "cc:cc:cc:cc:cc:01"
EXCHANGE = [
    (True, TCP(sport=40000, dport=80, flags="S", seq=100)),
    (False, TCP(sport=80, dport=40000, flags="SA", seq=500, ack=101)),
    (True, TCP(sport=40000, dport=80, flags="PA", seq=101, ack=501) /
     Raw(b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n")),
    (False, TCP(sport=80, dport=40000, flags="PA", seq=501, ack=140) /
     Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")),
]


def wireless(radiotap):
    frames = []
    for up, l4 in EXCHANGE:
        ip = IP(src=CLIENT, dst=SERVER) if up else IP(src=SERVER, dst=CLIENT)
        # To the AP: addr1 AP, addr2 the station, addr3 the router; back: addr1 the station, addr3 the router.
        wlan = (Dot11(type=2, subtype=8, FCfield="to-DS", addr1=AP, addr2=STA, addr3=ROUTER) if up else
                Dot11(type=2, subtype=8, FCfield="from-DS", addr1=STA, addr2=AP, addr3=ROUTER))
        f = wlan / Dot11QoS() / LLC() / SNAP() / ip / l4
        frames.append(RadioTap(present="Flags+Rate+Channel+dBm_AntSignal", Rate=54, ChannelFrequency=2437,
                               dBm_AntSignal=-40) / f if radiotap else f)
    beacon = Dot11(type=0, subtype=8, addr1="ff:ff:ff:ff:ff:ff", addr2=AP, addr3=AP) / Dot11Beacon() / Dot11Elt(
        ID="SSID", info="x")
    frames.append(RadioTap() / beacon if radiotap else beacon)
    return frames


def ethernet():
    return [Ether(src=STA, dst=ROUTER) / IP(src=CLIENT, dst=SERVER) / l4 if up else
            Ether(src=ROUTER, dst=STA) / IP(src=SERVER, dst=CLIENT) / l4 for up, l4 in EXCHANGE]


def shape(events):
    keep = []
    for e in events:
        if e["type"] == "http":
            keep.append(("http", e["url"]["full"], e["http"]["response"]["status_code"], e["status"]))
        elif e["type"] == "flow":
            keep.append(("flow", e["source"]["ip"], e["source"]["mac"], e["destination"]["mac"],
                         e["network"]["packets"]))
    return sorted(keep)


def test_wireless_captures_give_the_ethernet_captures_events(tmp_path):
    wrpcap(str(tmp_path / "eth.pcap"), ethernet())
    want, _ = events_of(str(tmp_path / "eth.pcap"))
    assert ("http", "http://example.com/x", 200, "OK") in shape(want)
    for name, radiotap in (("radiotap", True), ("dot11", False)):
        path = str(tmp_path / f"{name}.pcap")
        wrpcap(path, wireless(radiotap))
        conv = subprocess.run(["tshark", "-r", path, "-q", "-z", "conv,tcp"], capture_output=True, text=True,
                              timeout=60).stdout
        assert "10.0.0.5:40000" in conv and "93.184.216.34:80" in conv, conv  # tshark reads the same exchange
        got, proc = events_of(path)
        assert shape(got) == shape(want), name
        stats = final_stats(proc.stderr)
        assert stats["decode.wlan.not_data"] == 1 and stats["decode.link.unsupported"] == 0, name
