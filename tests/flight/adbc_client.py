"""A real Python client against `quiver serve`: the ADBC Flight SQL driver (adbc-driver-flightsql
with pyarrow). Run by .ci/run after it starts a server:

    python3 tests/flight/adbc_client.py grpc://127.0.0.1:50051 TOKEN

Checks a query, a prepared statement with a parameter, an INSERT, metadata listing, and that
a bad token is refused. Exits non-zero on the first failure.
"""

import sys

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager


def connect(uri, token):
    return flight_sql.connect(uri, db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {token}"})


def main():
    uri, token = sys.argv[1], sys.argv[2]
    with connect(uri, token) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS adbc_people (id BIGINT PRIMARY KEY, name TEXT)")
        cur.executemany("INSERT INTO adbc_people VALUES (?, ?)", [(1, "ann"), (2, "bob")])
        assert cur.rowcount == 2, f"INSERT reported {cur.rowcount} rows"

        cur.execute("SELECT name FROM adbc_people ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == ["ann", "bob"]

        cur.execute("SELECT name FROM adbc_people WHERE id = ?", parameters=(2,))
        assert cur.fetchall() == [("bob",)], "prepared statement with a parameter"

        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        tables = [t["table_name"] for c in objects for s in c["catalog_db_schemas"] for t in (s["db_schema_tables"] or [])]
        assert "adbc_people" in tables, f"metadata lists {tables}"
        cur.close()

    try:
        with connect(uri, "not-the-token") as bad:
            c = bad.cursor()
            c.execute("SELECT 1")
            c.fetchall()
        raise AssertionError("a bad token was accepted")
    except adbc_driver_manager.Error as e:
        assert "nauthenticated" in str(e) or "invalid token" in str(e), f"unexpected error: {e}"

    print("adbc: 5 passed, 0 failed")


if __name__ == "__main__":
    main()
