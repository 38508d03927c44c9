"""Workers that die mid-job: submits jobs over Flight SQL, runs worker processes
(job_worker.py) and SIGKILLs random ones every few tenths of a second, starting new ones,
until every job has reached a final state. Then checks that every job succeeded, that no job
was completed twice (the completion logs hold each id at most once), and that jobs whose
worker died were retried with their attempt counted.

    python3 tests/flight/job_workers_killed.py URI TOKEN
"""

import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import adbc_driver_flightsql.dbapi as flight_sql

JOBS = 150
WORKERS = 4
DEADLINE_SECONDS = 90


def main():
    uri, token = sys.argv[1], sys.argv[2]
    conn = flight_sql.connect(
        uri,
        db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {token}"},
        autocommit=True,  # each queue call commits on its own
    )
    cur = conn.cursor()
    for i in range(JOBS):
        cur.execute(f"SELECT job_id FROM submit_job('killq', 'work', '{{}}', 'kill-{i}', 0, 20)")
        cur.fetchall()

    logs = tempfile.mkdtemp()
    here = os.path.dirname(os.path.abspath(__file__))
    procs = {}
    started = 0
    kills = 0

    def spawn():
        nonlocal started
        started += 1
        name = f"w{started}"
        log = os.path.join(logs, name)
        procs[name] = subprocess.Popen(
            [sys.executable, os.path.join(here, "job_worker.py"), uri, token, "killq", name, log]
        )

    for _ in range(WORKERS):
        spawn()
    deadline = time.time() + DEADLINE_SECONDS
    final = 0
    while time.time() < deadline:
        time.sleep(random.uniform(0.2, 0.5))
        cur.execute(
            "SELECT count(*) FROM jobs WHERE queue = 'killq' AND status IN ('succeeded', 'failed', 'cancelled')"
        )
        final = cur.fetchone()[0]
        if final == JOBS:
            break
        for p in procs.values():
            if p.poll() is not None:
                raise AssertionError(f"a worker exited on its own with {p.returncode}")
        victim = random.choice(list(procs))
        procs.pop(victim).send_signal(signal.SIGKILL)
        kills += 1
        spawn()
    for p in procs.values():
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert final == JOBS, f"only {final} of {JOBS} jobs finished in {DEADLINE_SECONDS} s"

    cur.execute("SELECT status, count(*), sum(attempts), max(attempts) FROM jobs WHERE queue = 'killq' GROUP BY status")
    rows = cur.fetchall()
    assert [r[0] for r in rows] == ["succeeded"], f"final states: {rows}"
    attempts, most = rows[0][2], rows[0][3]
    completed = []
    for name in os.listdir(logs):
        with open(os.path.join(logs, name)) as f:
            completed.extend(line.strip() for line in f if line.strip())
    assert len(completed) == len(set(completed)), "a job was completed twice"
    assert len(completed) <= JOBS
    assert attempts >= JOBS
    print(
        f"kill loop: {JOBS} jobs, {started} workers started, {kills} killed, "
        f"{attempts} attempts (most {most} for one job), {len(completed)} completions logged"
    )
    print("kill loop: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
