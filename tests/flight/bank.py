"""Bank transfers over Flight SQL with the Python ADBC DB-API, autocommit off (the DB-API
default, so every statement runs in a transaction until commit()).

Client processes each move money between two random accounts: two UPDATEs, then
commit(). A statement refused with a serialization failure (SQLSTATE 40001, which the
server sends as the `x-quiver-sqlstate` detail of the error) is rolled back and retried. An auditor process sums every balance inside
a transaction, again and again: each sum must be the opening total, since a transfer is
either wholly in its snapshot or wholly out. At the end the total must be exact.

    python3 tests/flight/bank.py URI TOKEN [--clients 16] [--accounts 1000]
                                           [--transfers 100 | --seconds 10] [--json]

Prints (or with --json, writes one JSON line of) committed transactions per second, the
aborted share, the audits run and the violations found; exits non-zero on any violation.
Used by tests/flight/run_adbc.sh (a short run) and bench/flight/run.sh (the benchmark).
"""

import argparse
import json
import multiprocessing as mp
import random
import sys
import time

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager

OPENING = 1_000
SERIALIZATION_FAILURE = (b"x-quiver-sqlstate", b"40001")


def connect(uri, token):
    return flight_sql.connect(
        uri, db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {token}"}
    )


def is_serialization_failure(e):
    return isinstance(e, adbc_driver_manager.Error) and SERIALIZATION_FAILURE in (e.details or [])


def setup(uri, token, accounts):
    with connect(uri, token) as conn:
        cur = conn.cursor()
        # DDL as a transaction's first statement runs on its own.
        cur.execute("CREATE TABLE bank_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)")
        conn.commit()
        rows = [(i, OPENING) for i in range(accounts)]
        for start in range(0, accounts, 1000):
            cur.executemany("INSERT INTO bank_accounts VALUES (?, ?)", rows[start : start + 1000])
        conn.commit()
        cur.close()


def client(uri, token, accounts, transfers, seconds, seed, out):
    rng = random.Random(seed)
    committed = aborted = 0
    latencies = []
    with connect(uri, token) as conn:
        debit, credit = conn.cursor(), conn.cursor()
        deadline = time.time() + seconds if seconds else None
        while (committed < transfers) if deadline is None else (time.time() < deadline):
            a, b = rng.sample(range(accounts), 2)
            amount = rng.randint(1, 50)
            began = time.perf_counter()
            try:
                debit.execute("UPDATE bank_accounts SET balance = balance - ? WHERE id = ?", (amount, a))
                credit.execute("UPDATE bank_accounts SET balance = balance + ? WHERE id = ?", (amount, b))
                conn.commit()
                committed += 1
                latencies.append(time.perf_counter() - began)
            except adbc_driver_manager.Error as e:
                if not is_serialization_failure(e):
                    raise
                aborted += 1
                conn.rollback()
        debit.close()
        credit.close()
    out.put(("client", committed, aborted, latencies))


def auditor(uri, token, accounts, stop, out):
    audits = violations = 0
    with connect(uri, token) as conn:
        cur = conn.cursor()
        while not stop.is_set():
            cur.execute("SELECT sum(balance), count(*) FROM bank_accounts")
            total, n = cur.fetchone()
            conn.commit()
            audits += 1
            if total != OPENING * accounts or n != accounts:
                violations += 1
                print(f"audit saw {total} over {n} accounts", file=sys.stderr)
        cur.close()
    out.put(("auditor", audits, violations, None))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("uri")
    p.add_argument("token")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--transfers", type=int, default=100, help="per client (without --seconds)")
    p.add_argument("--seconds", type=float, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    setup(args.uri, args.token, args.accounts)
    # Spawned, not forked: the driver's Go runtime, started by setup(), does not survive a fork.
    ctx = mp.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    audit = ctx.Process(target=auditor, args=(args.uri, args.token, args.accounts, stop, out))
    audit.start()
    began = time.time()
    clients = [
        ctx.Process(
            target=client,
            args=(args.uri, args.token, args.accounts, args.transfers, args.seconds, seed, out),
        )
        for seed in range(args.clients)
    ]
    for c in clients:
        c.start()
    results = [out.get() for _ in clients]
    elapsed = time.time() - began
    stop.set()
    audit_result = out.get()
    for proc in clients + [audit]:
        proc.join()
        assert proc.exitcode == 0, f"a process failed with {proc.exitcode}"

    committed = sum(r[1] for r in results)
    aborted = sum(r[2] for r in results)
    latencies = sorted(l for r in results for l in r[3])
    audits, violations = audit_result[1], audit_result[2]
    with connect(args.uri, args.token) as conn:
        cur = conn.cursor()
        cur.execute("SELECT sum(balance), count(*) FROM bank_accounts")
        total, n = cur.fetchone()
        cur.close()
    if total != OPENING * args.accounts or n != args.accounts:
        violations += 1
        print(f"final total {total} over {n} accounts", file=sys.stderr)
    report = {
        "clients": args.clients,
        "accounts": args.accounts,
        "committed": committed,
        "aborted": aborted,
        "aborted_share": aborted / max(1, committed + aborted),
        "tx_per_s": committed / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
        "audits": audits,
        "violations": violations,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"bank: {committed} transfers committed by {args.clients} clients at "
            f"{report['tx_per_s']:.0f}/s, {aborted} aborted ({100 * report['aborted_share']:.2f}%), "
            f"{audits} audits, {violations} violations"
        )
    if violations:
        sys.exit(1)


if __name__ == "__main__":
    main()
