"""Thrift live: Debian's python3-thrift library speaks to itself on loopback in the
binary and compact protocols, framed and buffered, and tapbeat (its transport and
protocol told by the bytes, the service named by an IDL file) publishes each call
with its result, an exception as Error, and a oneway call alone; a call longer than the
128 KiB the engine holds (a 300 KB string) is published for its header with its result,
and the call after it pairs as before."""
import json
import socket
import threading
import time

import pytest

from conftest import run_live

thrift = pytest.importorskip("thrift", reason="python3-thrift is not installed (scripts/setup installs it)")
from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.Thrift import TMessageType, TType  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

IDL = """
exception Oops { 1: string why }
service Adder {
  i32 add(1: i32 num1, 2: i32 num2) throws (1: Oops oops),
  oneway void note(1: string text)
}
"""
PROTOCOLS = {"binary": TBinaryProtocol.TBinaryProtocolFactory(), "compact": TCompactProtocol.TCompactProtocolFactory()}
BIG = "a big value " * 25000  # 300 KB
TRANSPORTS = {"framed": TTransport.TFramedTransportFactory(), "buffered": TTransport.TBufferedTransportFactory()}


def serve(listener, proto_factory, trans_factory, calls):
    client = TSocket.TSocket()
    client.handle, _ = listener.accept()
    trans = trans_factory.getTransport(client)
    proto = proto_factory.getProtocol(trans)
    for _ in range(calls):
        name, mtype, seqid = proto.readMessageBegin()
        proto.readStructBegin()
        args = {}
        while True:
            _, ftype, fid = proto.readFieldBegin()
            if ftype == TType.STOP:
                break
            args[fid] = proto.readI32() if ftype == TType.I32 else proto.readString()
            proto.readFieldEnd()
        proto.readStructEnd()
        proto.readMessageEnd()
        if mtype == TMessageType.ONEWAY:
            continue
        proto.writeMessageBegin(name, TMessageType.REPLY, seqid)
        proto.writeStructBegin("result")
        if args[1] + args[2] < 0:  # the declared exception
            proto.writeFieldBegin("oops", TType.STRUCT, 1)
            proto.writeStructBegin("Oops")
            proto.writeFieldBegin("why", TType.STRING, 1)
            proto.writeString("negative")
            proto.writeFieldEnd()
            proto.writeFieldStop()
            proto.writeStructEnd()
        else:
            proto.writeFieldBegin("success", TType.I32, 0)
            proto.writeI32(args[1] + args[2])
        proto.writeFieldEnd()
        proto.writeFieldStop()
        proto.writeStructEnd()
        proto.writeMessageEnd()
        trans.flush()
    trans.close()


def call(proto, trans, seqid, name, mtype, fields):
    proto.writeMessageBegin(name, mtype, seqid)
    proto.writeStructBegin("args")
    for fid, ftype, value in fields:
        proto.writeFieldBegin("f", ftype, fid)
        proto.writeI32(value) if ftype == TType.I32 else proto.writeString(value)
        proto.writeFieldEnd()
    proto.writeFieldStop()
    proto.writeStructEnd()
    proto.writeMessageEnd()
    trans.flush()
    if mtype == TMessageType.ONEWAY:
        return
    proto.readMessageBegin()
    proto.skip(TType.STRUCT)
    proto.readMessageEnd()


def conversations(port):
    for proto_name, pf in PROTOCOLS.items():
        for trans_name, tf in TRANSPORTS.items():
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(1)
            server = threading.Thread(target=serve, args=(listener, pf, tf, 5))
            server.start()
            sock = TSocket.TSocket("127.0.0.1", port)
            trans = tf.getTransport(sock)
            trans.open()
            proto = pf.getProtocol(trans)
            call(proto, trans, 1, "add", TMessageType.CALL, [(1, TType.I32, 40), (2, TType.I32, 2)])
            call(proto, trans, 2, "note", TMessageType.ONEWAY, [(1, TType.STRING, f"{proto_name}/{trans_name}")])
            call(proto, trans, 3, "add", TMessageType.CALL, [(1, TType.I32, -5), (2, TType.I32, 1)])
            call(proto, trans, 4, "add", TMessageType.CALL, [(1, TType.I32, 1), (2, TType.I32, 2), (3, TType.STRING, BIG)])
            call(proto, trans, 5, "add", TMessageType.CALL, [(1, TType.I32, 40), (2, TType.I32, 2)])
            server.join(10)
            trans.close()
            listener.close()
            time.sleep(0.2)


def test_python_thrift_binary_and_compact_framed_and_buffered(tmp_path):
    port = 19090
    (tmp_path / "adder.thrift").write_text(IDL)
    config = f"""packetbeat.interfaces:
  device: lo
  bpf_filter: "tcp port {port}"
packetbeat.flows: {{enabled: false}}
packetbeat.protocols:
  - type: thrift
    ports: [{port}]
    idl_files: ["{tmp_path / 'adder.thrift'}"]
output.console: {{}}
tapbeat.workers: 1
"""
    out, err = run_live(config, tmp_path, lambda: (conversations(port), time.sleep(1)))
    events = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    th = [e for e in events if e.get("type") == "thrift"]
    assert len(th) == 20, [e.get("query") for e in th]
    adds = [e for e in th if e["method"] == "add"]
    notes = [e for e in th if e["method"] == "note"]
    assert len(adds) == 16 and len(notes) == 4
    assert all(e["path"] == "Adder" and e["thrift"]["service"] == "Adder" for e in th)
    big = [e for e in adds if "error" in e and "longer than 128 KiB" in e["error"]["message"]]
    assert len(big) == 4 and all(e["status"] == "OK" and e["thrift"]["return_value"] == "3" and
                                 e["thrift"]["params"] == "" and e["client"]["bytes"] > 300000 for e in big), big
    ok = [e for e in adds if e["status"] == "OK" and e not in big]
    failed = [e for e in adds if e["status"] == "Error"]
    assert len(ok) == 8 and all(e["thrift"]["params"] == "(num1: 40, num2: 2)" and
                                e["thrift"]["return_value"] == "42" for e in ok), ok
    assert len(failed) == 4 and all(e["thrift"]["exceptions"] == '(oops: (1: "negative"))' for e in failed), failed
    texts = sorted(e["thrift"]["params"] for e in notes)
    assert texts == ['(text: "binary/buffered")', '(text: "binary/framed")', '(text: "compact/buffered")',
                     '(text: "compact/framed")'], texts
    assert all("return_value" not in e["thrift"] and e["status"] == "OK" for e in notes)
    assert all(e["client"]["bytes"] > 0 for e in th)
