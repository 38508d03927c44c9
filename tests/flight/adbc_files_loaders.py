"""Files and loaders through the client people use: the ADBC Flight SQL driver against
`quiver serve --files DIR`. Run by tests/flight/run_adbc.sh:

    python3 tests/flight/adbc_files_loaders.py grpc://127.0.0.1:50051 TOKEN FILES_DIR

Checks that COPY TO and COPY FROM work inside the allowed directory and are refused outside
it, and that a table whose rows come from an HTTP upstream (a small server started here)
loads a key once, receives the header the table forwards from the DB-API connection (and
not the Quiver token), and serves several connections asking at once with one upstream
call. Exits non-zero on the first failure.
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import adbc_driver_flightsql.dbapi as flight_sql
from adbc_client import PASSED, check

CALLS = []
LOCK = threading.Lock()
ROWS = {
    "ada": [
        {"id": "a1", "owner": "ada", "name": "Acme", "contacts": 3},
        {"id": "a2", "owner": "ada", "name": "Birch", "contacts": 5},
    ],
    "bo": [{"id": "b1", "owner": "bo", "name": "Cedar", "contacts": 1}],
}


class Upstream(BaseHTTPRequestHandler):
    def do_GET(self):
        owner = parse_qs(urlparse(self.path).query).get("owner", [""])[0]
        with LOCK:
            CALLS.append((owner, {k.lower(): v for k, v in self.headers.items()}))
        time.sleep(0.2)  # slow enough that concurrent queries overlap
        body = json.dumps(ROWS.get(owner, [])).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def connect(uri, token, headers=None):
    kwargs = {"adbc.flight.sql.authorization_header": f"Bearer {token}"}
    for name, value in (headers or {}).items():
        kwargs[f"adbc.flight.sql.rpc.call_header.{name}"] = value
    # COPY and loads run outside transactions: autocommit.
    return flight_sql.connect(uri, db_kwargs=kwargs, autocommit=True)


def main():
    uri, token, files = sys.argv[1], sys.argv[2], os.path.realpath(sys.argv[3])
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = upstream.server_address[1]

    with connect(uri, token) as conn:
        cur = conn.cursor()

        @check("COPY TO and COPY FROM inside --files")
        def _():
            cur.execute("CREATE TABLE files_src (id BIGINT PRIMARY KEY, body TEXT)")
            cur.executemany("INSERT INTO files_src VALUES (?, ?)", [(i, f"b{i}") for i in range(50)])
            # Runs at execute, like every write: the file exists without a fetch.
            cur.execute(f"COPY (SELECT * FROM files_src) TO '{files}/src.csv'")
            assert os.path.exists(f"{files}/src.csv")
            cur.execute("CREATE TABLE files_dst (id BIGINT PRIMARY KEY, body TEXT)")
            cur.execute(f"COPY files_dst FROM '{files}/src.csv'")
            cur.execute("SELECT count(*), min(body) FROM files_dst")
            assert cur.fetchone() == (50, "b0")
            cur.execute(f"SELECT count(*) FROM '{files}/src.csv'")
            assert cur.fetchone()[0] == 50

        @check("files outside --files are refused")
        def _():
            for sql in [
                "SELECT * FROM '/etc/hostname.csv'",
                f"COPY files_dst FROM '{files}/../outside.csv'",
                "COPY (SELECT 1) TO '/tmp/quiver-should-not-exist.csv'",
            ]:
                try:
                    cur.execute(sql)
                    cur.fetchall()
                except Exception as e:  # the driver raises its own error types
                    assert "refused" in str(e), f"{sql}: {e}"
                else:
                    raise AssertionError(f"{sql} was not refused")
            assert not os.path.exists("/tmp/quiver-should-not-exist.csv")

        cur.execute(
            "CREATE TABLE crm (id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT, contacts BIGINT) "
            f"WITH (loader = 'http://127.0.0.1:{port}/accounts', loader_key = 'owner', "
            "reload_after = '1h', forward_headers = 'x-crm-token')"
        )

    with connect(uri, token, {"x-crm-token": "secret-123"}) as conn:
        cur = conn.cursor()

        @check("a loader loads once and receives the forwarded header")
        def _():
            for _ in range(3):
                cur.execute("SELECT id, name FROM crm WHERE owner = ? ORDER BY id", parameters=("ada",))
                assert cur.fetchall() == [("a1", "Acme"), ("a2", "Birch")]
            assert len(CALLS) == 1, CALLS
            owner, headers = CALLS[0]
            assert owner == "ada"
            assert headers.get("x-crm-token") == "secret-123", headers
            assert "authorization" not in headers, headers
            cur.execute("SELECT key, rows, last_error FROM sys.loads WHERE table_name = 'crm'")
            assert cur.fetchall() == [("ada", 2, None)]

    @check("several connections asking for one key: one upstream call")
    def _():
        results = []

        def ask():
            with connect(uri, token) as c:
                cur = c.cursor()
                cur.execute("SELECT id FROM crm WHERE owner = 'bo'")
                results.append(cur.fetchall())

        threads = [threading.Thread(target=ask) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [[("b1",)]] * 6, results
        assert [c[0] for c in CALLS].count("bo") == 1, CALLS

    upstream.shutdown()
    print(f"adbc files and loaders: {len(PASSED)} checks passed")
    for name in PASSED:
        print(f"  ok: {name}")


if __name__ == "__main__":
    main()
