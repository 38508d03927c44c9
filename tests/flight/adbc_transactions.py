"""Transactions from the Python ADBC DB-API with autocommit off, its default: connecting
warns of nothing, commit() commits, rollback() rolls back, a connection reads its own
writes and no one else does before its commit, a statement kept by a cursor runs again in
the connection's next transaction, and of two transactions writing one row the second
writer fails with a serialization error (SQLSTATE 40001 among the error's details), rolls
back and succeeds when retried. Run by
tests/flight/run_adbc.sh:

    python3 tests/flight/adbc_transactions.py grpc://127.0.0.1:50051 TOKEN
"""

import sys
import warnings

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager

PASSED = []
SERIALIZATION_FAILURE = (b"x-quiver-sqlstate", b"40001")


def check(name):
    def wrap(f):
        f()
        PASSED.append(name)
        return f

    return wrap


def main():
    uri, token = sys.argv[1], sys.argv[2]

    def connect():
        return flight_sql.connect(
            uri, db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {token}"}
        )

    def count(cur, where="TRUE"):
        cur.execute(f"SELECT count(*) FROM tx_people WHERE {where}")
        return cur.fetchone()[0]

    @check("connecting with autocommit off warns of nothing")
    def _():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with connect() as conn:
                assert not conn.adbc_connection.get_option(
                    "adbc.connection.autocommit"
                ) in ("true", True), "autocommit should be off"

    with connect() as conn, connect() as other:
        cur, look = conn.cursor(), other.cursor()

        @check("DDL as a transaction's first statement, then commit()")
        def _():
            cur.execute("CREATE TABLE tx_people (id BIGINT PRIMARY KEY, name TEXT)")
            conn.commit()
            assert count(look) == 0
            other.commit()

        @check("rollback() undoes the writes")
        def _():
            cur.execute("INSERT INTO tx_people VALUES (1, 'ann'), (2, 'bob')")
            assert count(cur) == 2, "its own writes"
            assert count(look) == 0, "nobody else's"
            other.commit()
            conn.rollback()
            assert count(cur) == 0
            conn.commit()

        @check("commit() makes the writes visible, all at once")
        def _():
            cur.execute("INSERT INTO tx_people VALUES (1, 'ann')")
            cur.execute("INSERT INTO tx_people VALUES (2, 'bob')")
            conn.commit()
            assert count(look) == 2
            other.commit()

        @check("a cursor's statement runs again in the next transaction")
        def _():
            for i in range(10, 15):
                cur.execute("INSERT INTO tx_people VALUES (?, 'loop')", parameters=(i,))
                conn.commit()
            cur.execute("INSERT INTO tx_people VALUES (?, 'loop')", parameters=(15,))
            conn.rollback()
            assert count(look, "name = 'loop'") == 5
            other.commit()

        @check("the second of two writers of one row fails at once, rolls back, retries")
        def _():
            cur.execute("UPDATE tx_people SET name = 'first' WHERE id = 1")
            try:
                look.execute("UPDATE tx_people SET name = 'second' WHERE id = 1")
            except adbc_driver_manager.Error as e:
                assert SERIALIZATION_FAILURE in (e.details or []), f"not a serialization failure: {e}"
                assert "tx_people" in str(e), f"the table is not named: {e}"
            else:
                raise AssertionError("the second writer was not refused")
            other.rollback()
            conn.commit()
            look.execute("UPDATE tx_people SET name = 'second' WHERE id = 1")
            other.commit()
            cur.execute("SELECT name FROM tx_people WHERE id = 1")
            assert cur.fetchone()[0] == "second"
            conn.commit()

        cur.close()
        look.close()

    print(f"adbc transactions: {len(PASSED)} passed, 0 failed")


if __name__ == "__main__":
    main()
