"""Prepared point lookups over Flight SQL with the Python ADBC DB-API, from 1 and 8 client
processes at once, each with its own connection: lookups per second in all, and the median
and p99 latency of one lookup (execute with a parameter, then fetch). Run by
bench/flight/run.sh, which starts a release `quiver serve`:

    bench/flight/run.sh            # 10,000 rows, 10 s per client count
"""

import multiprocessing as mp
import random
import statistics
import sys
import time

import adbc_driver_flightsql.dbapi as flight_sql

ROWS = 10_000


def connect(uri, token):
    # Each lookup commits on its own (bench/flight/bank.py measures transactions).
    return flight_sql.connect(
        uri,
        db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {token}"},
        autocommit=True,
    )


def setup(uri, token):
    with connect(uri, token) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS bench_accounts (id BIGINT PRIMARY KEY, name TEXT, n BIGINT)")
        rows = [(i, f"name-{i}", i * 7) for i in range(ROWS)]
        for start in range(0, ROWS, 1000):
            cur.executemany("INSERT OR REPLACE INTO bench_accounts VALUES (?, ?, ?)", rows[start : start + 1000])
        conn.commit()


def client(uri, token, seconds, out):
    rng = random.Random()
    latencies = []
    with connect(uri, token) as conn:
        cur = conn.cursor()
        sql = "SELECT name, n FROM bench_accounts WHERE id = ?"
        # Warm-up: the first execute prepares the statement on the server.
        cur.execute(sql, parameters=(0,))
        cur.fetchall()
        end = time.perf_counter() + seconds
        while True:
            start = time.perf_counter()
            if start >= end:
                break
            key = rng.randrange(ROWS)
            cur.execute(sql, parameters=(key,))
            rows = cur.fetchall()
            latencies.append(time.perf_counter() - start)
            assert rows == [(f"name-{key}", key * 7)], rows
    out.put(latencies)


def run(uri, token, clients, seconds):
    # Spawned, not forked: gRPC's threads do not survive a fork of a process that used it.
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=client, args=(uri, token, seconds, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    latencies = []
    for _ in procs:
        latencies.extend(out.get())
    for p in procs:
        p.join()
        assert p.exitcode == 0, f"a client failed ({p.exitcode})"
    latencies.sort()
    per_second = len(latencies) / seconds
    median = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"| {clients} | {per_second:,.0f} | {median:.2f} | {p99:.2f} |")


def main():
    uri, token = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    setup(uri, token)
    print("| clients | prepared point lookups/s | median ms | p99 ms |")
    print("|---:|---:|---:|---:|")
    for clients in (1, 8):
        run(uri, token, clients, seconds)


if __name__ == "__main__":
    main()
