"""802.11 captures (a monitor-mode interface: radiotap, or bare 802.11 frames): data
frames carry the same flows and transactions an Ethernet capture of the same exchange
gives. Frames written by scapy's 802.11 layers, read back by tshark as the same
conversation."""
import subprocess

from scapy.all import (DNS, DNSQR, DNSRR, GRE, IP, LLC, SNAP, TCP, UDP, Dot11, Dot11Beacon, Dot11Elt, Dot11QoS,
                       Ether, RadioTap, Raw, mac2str, wrpcap)

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


# An A-MSDU (IEEE 802.11-2020 §9.3.2.2.2): the access point sends the station several
# packets in one QoS data frame, each a subframe of destination, source, length, LLC/SNAP
# and the packet, padded to four bytes but the last. Two HTTP responses of a pipeline and
# a DNS answer of another flow ride in one frame here.
PIPELINE = [
    (True, IP(src=CLIENT, dst="10.0.0.1") / UDP(sport=5353, dport=53) /
     DNS(id=7, rd=1, qd=DNSQR(qname="example.com"))),
    (True, IP(src=CLIENT, dst=SERVER) / TCP(sport=40000, dport=80, flags="S", seq=100)),
    (False, IP(src=SERVER, dst=CLIENT) / TCP(sport=80, dport=40000, flags="SA", seq=500, ack=101)),
    (True, IP(src=CLIENT, dst=SERVER) / TCP(sport=40000, dport=80, flags="PA", seq=101, ack=501) /
     Raw(b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\nGET /b HTTP/1.1\r\nHost: example.com\r\n\r\n")),
]
AGGREGATED = [
    IP(src=SERVER, dst=CLIENT) / TCP(sport=80, dport=40000, flags="PA", seq=501, ack=175) /
    Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
    IP(src=SERVER, dst=CLIENT) / TCP(sport=80, dport=40000, flags="PA", seq=541, ack=175) /
    Raw(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    IP(src="10.0.0.1", dst=CLIENT) / UDP(sport=53, dport=5353) /
    DNS(id=7, qr=1, rd=1, ra=1, qd=DNSQR(qname="example.com"), an=DNSRR(rrname="example.com", rdata="93.184.216.34")),
]


def amsdu_frame(packets, src_of):
    body = b""
    for k, p in enumerate(packets):
        msdu = bytes(LLC() / SNAP() / p)
        sub = mac2str(STA) + mac2str(src_of(p)) + len(msdu).to_bytes(2, "big") + msdu
        if k + 1 < len(packets):
            sub += b"\0" * (-len(sub) % 4)
        body += sub
    return Dot11(type=2, subtype=8, FCfield="from-DS", addr1=STA, addr2=AP, addr3=ROUTER) / Dot11QoS(
        A_MSDU_Present=1) / Raw(body)


def amsdu_frames():
    frames = []
    for up, p in PIPELINE:
        wlan = (Dot11(type=2, subtype=8, FCfield="to-DS", addr1=AP, addr2=STA, addr3=ROUTER) if up else
                Dot11(type=2, subtype=8, FCfield="from-DS", addr1=STA, addr2=AP, addr3=ROUTER))
        frames.append(wlan / Dot11QoS() / LLC() / SNAP() / p)
    frames.append(amsdu_frame(AGGREGATED, lambda p: ROUTER))
    return frames


def test_amsdu_subframes_are_packets_of_their_flows(tmp_path):
    eth = [Ether(src=STA, dst=ROUTER) / p if up else Ether(src=ROUTER, dst=STA) / p for up, p in PIPELINE]
    eth += [Ether(src=ROUTER, dst=STA) / p for p in AGGREGATED]
    wrpcap(str(tmp_path / "eth.pcap"), eth)
    want, _ = events_of(str(tmp_path / "eth.pcap"))
    assert sorted(e["type"] for e in want if e["type"] != "flow") == ["dns", "http", "http"]
    # Monitor mode (radiotap) and Aruba's GRE from an access point (protocol 0x8200:
    # the client's 802.11 frames, as Zeek's gre-aruba-amsdu.pcap carries them).
    radiotap = [RadioTap() / f for f in amsdu_frames()]
    aruba = [Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / GRE(proto=0x8200) / f for f in amsdu_frames()]
    for name, frames in (("radiotap", radiotap), ("aruba", aruba)):
        path = str(tmp_path / f"{name}.pcap")
        wrpcap(path, frames)
        # tshark reads both answers and the DNS response out of the one frame.
        tsh = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "http.response.code", "-e", "dns.a"],
                             capture_output=True, text=True, timeout=60).stdout.splitlines()
        assert tsh[-1].split() == ["200,404", "93.184.216.34"], (name, tsh)
        # With several workers the frame goes to each worker that owns one of its
        # packets (the DNS answer's flow and the HTTP flow may be two workers'), and
        # the frame is counted once.
        for workers in (1, 3, 4):
            got, proc = events_of(path, [f"tapbeat.workers={workers}"])
            assert shape(got) == shape(want), (name, workers)
            assert sorted(e["type"] for e in got if e["type"] != "flow") == ["dns", "http", "http"], (name, workers)
            stats = final_stats(proc.stderr)
            assert stats["decode.wlan.amsdu"] == 1 and stats["packets.received"] == len(frames), (name, workers)
            assert stats["decode.wlan.not_data"] == 0 and stats["decode.wlan.truncated"] == 0, (name, workers)
