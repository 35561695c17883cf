"""AMQP 0-9-1 transactions from live traffic: a real RabbitMQ broker (Debian's
rabbitmq-server) on loopback, a scripted pika client, tapbeat capturing on lo through
libpcap. Each event is checked against what the client asked and the broker answered."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import final_stats, live_config, run_live

PORT = 15673


@pytest.fixture
def rabbitmq(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("live capture needs root or cap_net_raw")
    server = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    if not os.path.exists(server):
        pytest.fail("rabbitmq-server is not installed (scripts/setup installs it)")
    env = dict(os.environ, RABBITMQ_NODE_PORT=str(PORT), RABBITMQ_NODENAME="tapbeat-amqp-test@localhost",
               RABBITMQ_MNESIA_BASE=str(tmp_path / "mnesia"), RABBITMQ_LOG_BASE=str(tmp_path / "log"),
               RABBITMQ_ENABLED_PLUGINS_FILE=str(tmp_path / "plugins"), RABBITMQ_DIST_PORT="25679",
               RABBITMQ_CONFIG_FILE=str(tmp_path / "none"))
    p = subprocess.Popen([server], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=1) as s:
                s.sendall(b"AMQP\x00\x00\x09\x01")
                if s.recv(8)[:1] == b"\x01":  # connection.start
                    break
        except OSError:
            time.sleep(0.3)
    else:
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail("rabbitmq-server did not start")
    yield
    os.killpg(p.pid, signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)


def test_rabbitmq_live_transactions(tmp_path, rabbitmq):
    import pika

    config = live_config("amqp", PORT, "    send_request: true\n    send_response: true\n")
    got_messages = []

    def workload():
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", PORT))
        ch = conn.channel()
        ch.exchange_declare("tb-logs", exchange_type="fanout", durable=True)
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, "tb-logs")
        ch.queue_declare("tb-work", durable=False, auto_delete=True)
        for i in range(3):
            ch.basic_publish("tb-logs", "", f"log line {i}".encode(),
                             pika.BasicProperties(content_type="text/plain", headers={"n": i}))
        ch.basic_publish("", "tb-work", b"\x00\x01\x02", pika.BasicProperties(content_type="application/octet-stream"))
        time.sleep(0.3)
        for _ in range(3):
            method, props, body = ch.basic_get(q, auto_ack=False)
            got_messages.append(body.decode())
            ch.basic_ack(method.delivery_tag)
        empty = ch.basic_get(q)
        assert empty[0] is None
        try:
            ch.queue_declare("tb-missing", passive=True)
        except pika.exceptions.ChannelClosedByBroker:
            pass
        conn.close()
        time.sleep(0.5)

    out, err = run_live(config, tmp_path, workload)
    events = [json.loads(l) for l in out.splitlines()]
    events = [e for e in events if e["type"] == "amqp"]
    by = {}
    for e in events:
        by.setdefault(e["method"], []).append(e)
    assert got_messages == ["log line 0", "log line 1", "log line 2"]
    ex = by["exchange.declare"][0]
    assert ex["amqp"]["exchange"] == "tb-logs" and ex["amqp"]["exchange-type"] == "fanout"
    assert ex["amqp"]["durable"] is True and ex["status"] == "OK"
    assert ex["event"]["action"] == "amqp.exchange.declare"
    declared = [e for e in by["queue.declare"] if e["amqp"].get("queue", "").startswith("amq.gen-")]
    assert len(declared) == 1 and declared[0]["amqp"]["exclusive"] is True  # the server named it
    assert "message-count" in declared[0]["amqp"] and "consumer-count" in declared[0]["amqp"]
    assert by["queue.bind"][0]["amqp"]["exchange"] == "tb-logs"
    pubs = by["basic.publish"]
    assert [p["request"] for p in pubs[:3]] == ["log line 0", "log line 1", "log line 2"]
    assert pubs[0]["amqp"]["content-type"] == "text/plain" and pubs[0]["amqp"]["headers"] == {"n": 0}
    assert pubs[3]["request"] == "0 1 2" and pubs[3]["amqp"]["routing-key"] == "tb-work"
    gets = by["basic.get"]
    assert [g["response"] for g in gets] == ["log line 0", "log line 1", "log line 2"]
    assert [g["amqp"]["delivery-tag"] for g in gets] == [1, 2, 3]
    assert len(by["basic.get-empty"]) == 1
    assert len(by["basic.ack"]) == 3
    closes = [e for e in by["channel.close"] if e["status"] == "Error"]
    assert len(closes) == 1 and closes[0]["amqp"]["reply-code"] == 404
    assert "tb-missing" in closes[0]["amqp"]["reply-text"]
    assert "connection.start" not in by and "channel.open" not in by  # hide_connection_information
    stats = final_stats(err)
    assert stats["amqp.malformed"] == 0 and stats["amqp.violations"] == 0
    assert stats["amqp.unmatched_responses"] == 0
