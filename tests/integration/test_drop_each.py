"""Loss costs its own transaction only: every TCP segment with payload of real captures
(or 40 of them, evenly spaced) dropped in turn (scripts/drop-each), tapbeat with the
golden configuration reads what is left. In these captures each packet carries at most
one transaction's bytes, so no run may lose more than one transaction, and none may
leave a connection. Captures chosen for the losses fixed: a MySQL login without its
greeting (157 statements lost before), a Thrift connection's first call (17 calls),
PostgreSQL results of 5,000 rows (a resync that left the connection), and one capture
of each other TCP protocol with request/response pairs."""
import os
import re
import subprocess
import sys

import pytest

from conftest import BIN, ROOT, SHARED

CAPTURES = [
    "beats/mysql_int_string_operations.pcap",
    "beats/mysql_long_result.pcap",
    "beats/thrift_tutorial.pcap",
    "beats/thrift_tutorial_framed_transport.pcap",
    "suricata-verify/pgsql/pgsql/pgsql-5000-query-results/input.pcap",
    "beats/pgsql_extended_query.pcap",
    "beats/pgsql_long_result.pcap",
    "beats/amqp_publish.pcap",
    "beats/cassandra/v4/cassandra_select.pcap",
    "beats/memcache/memcache_bin_tcp_counter_ops.pcap",
    "beats/memcache/memcache_text_tcp_multi_store_load.pcap",
    "beats/mongodb_more_rows.pcap",
    "beats/nfs_v3.pcap",
]


@pytest.mark.parametrize("capture", CAPTURES)
def test_each_dropped_segment_costs_one_transaction_at_most(capture):
    path = os.path.join(SHARED, "pcaps", capture)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing (../shared holds the captures)")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "drop-each"), BIN,
                        os.path.join(ROOT, "tests", "golden", "golden.yml"), path, "--sample", "40", "--jobs", "2"],
                       capture_output=True, text=True, timeout=600)
    m = re.search(r"(\d+) transactions whole", p.stdout)
    assert m and int(m.group(1)) > 0, p.stdout + p.stderr
    m = re.search(r"runs that left a connection: (\d+) of (\d+); worst loss (\d+)", p.stdout)
    assert m, p.stdout + p.stderr
    left, runs, worst = map(int, m.groups())
    assert runs > 0
    assert left == 0 and worst <= 1, p.stdout
