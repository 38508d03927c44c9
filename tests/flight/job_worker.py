"""A job worker over Flight SQL (ADBC), as a service would write one: claim a few jobs of a
queue with a short lease, work on each (a random pause), complete it, repeat. Each job it
completes is appended to a log file, one id per line, flushed at once. The kill test
(job_workers_killed.py) SIGKILLs these processes at random moments.

    python3 tests/flight/job_worker.py URI TOKEN QUEUE WORKER_NAME LOG_FILE
"""

import random
import sys
import time

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager


def main():
    uri, token, queue, worker, log_path = sys.argv[1:6]
    conn = flight_sql.connect(
        uri,
        db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {token}"},
        autocommit=True,  # each queue call commits on its own
    )
    cur = conn.cursor()
    with open(log_path, "a") as log:
        while True:
            cur.execute(f"SELECT job_id FROM claim_jobs('{queue}', '{worker}', 3, 1)")
            ids = [r[0] for r in cur.fetchall()]
            if not ids:
                time.sleep(0.05)
                continue
            for job_id in ids:
                time.sleep(random.uniform(0, 0.15))
                try:
                    cur.execute(f"SELECT job_id FROM complete_job('{job_id}', '{worker}', 'ok')")
                    cur.fetchall()
                except adbc_driver_manager.Error as e:
                    # The lease ran out and someone else took the job: not ours to report.
                    if "cannot become succeeded" not in str(e):
                        raise
                    continue
                log.write(job_id + "\n")
                log.flush()


if __name__ == "__main__":
    main()
