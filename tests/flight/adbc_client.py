"""A real Python client against `quiver serve`: the ADBC Flight SQL driver (adbc-driver-flightsql
with pyarrow), used the way DB-API code uses it. Run by tests/flight/run_adbc.sh after it
starts a server:

    python3 tests/flight/adbc_client.py grpc://127.0.0.1:50051 TOKEN
    python3 tests/flight/adbc_client.py grpc+tls://127.0.0.1:50052 TOKEN --tls-root cert.pem

Checks queries and prepared statements, DML run with `execute` and never fetched (each must
take effect, and a duplicate key must raise), executemany, several connections incrementing
one counter at once (no lost update), metadata listing, and that a bad token is refused.
Exits non-zero on the first failure.
"""

import sys
import threading

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager

PASSED = []


def check(name):
    def wrap(f):
        f()
        PASSED.append(name)
        return f

    return wrap


def connect(uri, token, root_cert=None):
    kwargs = {"adbc.flight.sql.authorization_header": f"Bearer {token}"}
    if root_cert:
        with open(root_cert) as f:
            kwargs[adbc_driver_flightsql.DatabaseOptions.TLS_ROOT_CERTS.value] = f.read()
    # Each statement commits on its own here; tests/flight/adbc_transactions.py checks the
    # DB-API default (autocommit off: commit() and rollback()).
    return flight_sql.connect(uri, db_kwargs=kwargs, autocommit=True)


def scalar(cur, sql, parameters=None):
    cur.execute(sql, parameters=parameters)
    return cur.fetchone()[0]


def main():
    uri, token = sys.argv[1], sys.argv[2]
    root_cert = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--tls-root" else None
    table = "adbc_tls" if root_cert else "adbc_people"

    with connect(uri, token, root_cert) as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE IF NOT EXISTS {table} (id BIGINT PRIMARY KEY, name TEXT)")

        @check("executemany and read back")
        def _():
            cur.executemany(f"INSERT INTO {table} VALUES (?, ?)", [(1, "ann"), (2, "bob")])
            assert cur.rowcount == 2, f"INSERT reported {cur.rowcount} rows"
            cur.execute(f"SELECT name FROM {table} ORDER BY id")
            assert [r[0] for r in cur.fetchall()] == ["ann", "bob"]

        @check("prepared statement with a parameter")
        def _():
            cur.execute(f"SELECT name FROM {table} WHERE id = ?", parameters=(2,))
            assert cur.fetchall() == [("bob",)]

        @check("DML with execute and no fetch takes effect")
        def _():
            for i in range(100, 120):
                cur.execute(f"INSERT INTO {table} VALUES ({i}, 'loop')")
            for i in range(120, 130):
                cur.execute(f"INSERT INTO {table} VALUES (?, 'param')", parameters=(i,))
            cur.execute(f"UPDATE {table} SET name = 'changed' WHERE id >= 125")
            cur.execute(f"DELETE FROM {table} WHERE id >= 128")
            assert scalar(cur, f"SELECT count(*) FROM {table} WHERE name = 'loop'") == 20
            assert scalar(cur, f"SELECT count(*) FROM {table} WHERE name = 'param'") == 5
            assert scalar(cur, f"SELECT count(*) FROM {table} WHERE name = 'changed'") == 3

        @check("a duplicate key raises at execute")
        def _():
            try:
                cur.execute(f"INSERT INTO {table} VALUES (1, 'again')")
            except adbc_driver_manager.Error as e:
                assert "duplicate primary key 1" in str(e), f"unexpected error: {e}"
            else:
                raise AssertionError("a duplicate INSERT raised nothing")
            assert scalar(cur, f"SELECT name FROM {table} WHERE id = 1") == "ann"

        @check("upsert with ON CONFLICT and RETURNING, execute without fetch")
        def _():
            cur.execute(
                f"INSERT INTO {table} VALUES (1, 'ann') "
                f"ON CONFLICT (id) DO UPDATE SET name = {table}.name || '+' || excluded.name"
            )
            assert scalar(cur, f"SELECT name FROM {table} WHERE id = 1") == "ann+ann"
            cur.execute(
                f"INSERT INTO {table} VALUES (?, ?) ON CONFLICT (id) DO NOTHING RETURNING id, name",
                parameters=(300, "new"),
            )
            assert cur.fetchall() == [(300, "new")]
            cur.execute(f"UPDATE {table} SET name = 'ann' WHERE id = 1 RETURNING name")
            assert cur.fetchall() == [("ann",)]
            cur.execute(f"DELETE FROM {table} WHERE id = 300 RETURNING id")
            assert cur.fetchall() == [(300,)]

        @check("DATE, TIMESTAMPTZ, DECIMAL, UUID and JSON read back as Python types")
        def _():
            import datetime
            import decimal

            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {table}_types "
                "(id UUID PRIMARY KEY, day DATE, at TIMESTAMPTZ, doc JSON, amount DECIMAL(12, 2))"
            )
            cur.execute(
                f"INSERT INTO {table}_types VALUES (?, ?, ?, ?, ?)",
                parameters=(
                    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                    "2024-02-29",
                    "2024-02-29T10:00:00+02:00",
                    '{"a": 1}',
                    "1000000000.01",
                ),
            )
            cur.execute(f"SELECT id, day, at, doc, doc->>'a', amount, amount * 3 FROM {table}_types")
            row = cur.fetchone()
            assert row[5] == decimal.Decimal("1000000000.01"), row
            assert row[6] == decimal.Decimal("3000000000.03"), row
            assert row[0] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", row
            assert row[1] == datetime.date(2024, 2, 29), row
            want = datetime.datetime(2024, 2, 29, 8, 0, tzinfo=datetime.timezone.utc)
            assert row[2] == want and row[2].utcoffset() == datetime.timedelta(0), row
            assert row[3] == '{"a": 1}' and row[4] == "1", row
            cur.execute(f"DROP TABLE {table}_types")

        if not root_cert:

            @check("metadata lists the table")
            def _():
                objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
                tables = [
                    t["table_name"]
                    for c in objects
                    for s in c["catalog_db_schemas"]
                    for t in (s["db_schema_tables"] or [])
                ]
                assert table in tables, f"metadata lists {tables}"

            @check("metadata lists a view as a VIEW")
            def _():
                cur.execute(f"CREATE OR REPLACE VIEW {table}_view AS SELECT name FROM {table}")
                objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
                kinds = {
                    t["table_name"]: t["table_type"]
                    for c in objects
                    for s in c["catalog_db_schemas"]
                    for t in (s["db_schema_tables"] or [])
                }
                assert kinds.get(f"{table}_view") == "VIEW", f"metadata lists {kinds}"
                assert scalar(cur, f"SELECT count(*) FROM {table}_view WHERE name = 'bob'") == 1
                cur.execute(f"DROP VIEW {table}_view")

            @check("four connections incrementing one counter lose nothing")
            def _():
                cur.execute("CREATE TABLE IF NOT EXISTS adbc_counters (id TEXT PRIMARY KEY, n BIGINT)")
                cur.execute("INSERT INTO adbc_counters VALUES ('a', 0)")
                errors = []

                def worker():
                    try:
                        with connect(uri, token) as c:
                            k = c.cursor()
                            for _ in range(50):
                                k.execute("UPDATE adbc_counters SET n = n + 1 WHERE id = 'a'")
                            k.close()
                    except Exception as e:  # reported below
                        errors.append(e)

                threads = [threading.Thread(target=worker) for _ in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                assert not errors, errors
                n = scalar(cur, "SELECT n FROM adbc_counters WHERE id = 'a'")
                assert n == 200, f"4 x 50 increments ended at {n}"

        cur.close()

    @check("a bad token is refused")
    def _():
        try:
            with connect(uri, "not-the-token", root_cert) as bad:
                c = bad.cursor()
                c.execute("SELECT 1")
                c.fetchall()
            raise AssertionError("a bad token was accepted")
        except adbc_driver_manager.Error as e:
            assert "nauthenticated" in str(e) or "invalid token" in str(e), f"unexpected error: {e}"

    mode = "tls" if root_cert else "adbc"
    print(f"{mode}: {len(PASSED)} passed, 0 failed")


if __name__ == "__main__":
    main()
