#!/usr/bin/env python3
"""Writes tests/data/mysql8/mariadb-jdbc.pcap and mariadb-jdbc.tsv: MariaDB Connector/J
(jdbc/Prepared.java) against Debian's MariaDB with server-side prepared statements,
captured on lo. The driver sends each prepare together with its first execute (statement
-1) and the server leaves column definitions out of execute results (cached metadata);
the TSV lists every statement the program ran with the count it saw. With `node`, the
same for MariaDB's Node.js connector (node/pipelined.js: queries and executes pipelined)
into mariadb-node.pcap and mariadb-node.tsv.

  curl -sSfO https://repo1.maven.org/maven2/org/mariadb/jdbc/mariadb-java-client/3.5.7/mariadb-java-client-3.5.7.jar
  sudo /usr/bin/python3 tests/integration/make_jdbc_capture.py mariadb-java-client-3.5.7.jar
  (cd /tmp/nm && npm install mariadb@3)
  sudo /usr/bin/python3 tests/integration/make_jdbc_capture.py node /tmp/nm
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_login_captures as logins  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "data", "mysql8")
PORT = 13317


def main():
    if sys.argv[1] == "node":  # the folder where `npm install mariadb@3` ran
        name, cwd = "mariadb-node", os.path.abspath(sys.argv[2])
        argv = ["node", os.path.join(HERE, "node", "pipelined.js"), str(PORT)]
        env = dict(os.environ, NODE_PATH=os.path.join(cwd, "node_modules"))
    else:
        name, cwd, env = "mariadb-jdbc", None, None
        argv = ["java", "-cp", os.path.abspath(sys.argv[1]), os.path.join(HERE, "jdbc", "Prepared.java"), str(PORT)]
    logins.MYSQL_PORT = PORT
    base = tempfile.mkdtemp(prefix="tapbeat-jdbc-")
    os.chmod(base, 0o755)
    srv = logins.start_mariadb(base, "kv (k INT PRIMARY KEY)")
    printed = []
    try:
        def work():
            p = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=cwd, env=env)
            printed.append(p.stdout)
        logins.capture(PORT, os.path.join(OUT, name + ".pcap"), work, buffer_kb=65536)
    finally:
        logins.stop(srv)
        shutil.rmtree(base)
    with open(os.path.join(OUT, name + ".tsv"), "w") as f:
        f.write(printed[0])
    print(f"{len(printed[0].splitlines())} statements")


if __name__ == "__main__":
    main()
