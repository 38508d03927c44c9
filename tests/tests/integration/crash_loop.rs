//! Crash safety, the way RocksDB's crash tests do it: a child process writes a random
//! workload and logs every operation it starts and every acknowledgement it gets; the parent
//! kills it with SIGKILL at a random moment, reopens the database, runs verify(), and checks
//! that the database holds exactly the acknowledged writes (plus, possibly, the one write
//! that was in flight when the kill landed). 30 rounds by default;
//! `QUIVER_CRASH_ITERATIONS=300` for a longer run.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use indexed_store::{Database, Value};

type State = HashMap<String, Option<(i64, Option<String>)>>;

/// Applies one logged operation to the model, as the store would have if it succeeded.
fn apply(state: &mut State, op: &str, key: &str, val: i64, email: &str) {
    let row = Some((val, (email != "NULL").then(|| email.to_owned())));
    match op {
        "insert" | "update" | "upsert" => {
            state.insert(key.to_owned(), row);
        }
        _ => {
            state.insert(key.to_owned(), None);
        }
    }
}

fn stored(db: &Database, key: &str) -> Option<(i64, Option<String>)> {
    let t = db.row_table("kv").expect("kv exists");
    t.get(&vec![Value::Text(key.to_owned())])
        .unwrap()
        .map(|row| {
            let val = match &row[1] {
                Value::Int(v) => *v,
                other => panic!("val is {other:?}"),
            };
            let email = match &row[2] {
                Value::Text(e) => Some(e.clone()),
                _ => None,
            };
            (val, email)
        })
}

/// Runs a worker (`WORKER DB_DIR LOG_FILE SEED`) for `pause`, then kills it with SIGKILL:
/// the pause only picks the moment of the kill. A worker that ended on its own (it could not
/// open the database, or panicked) fails the test rather than making the round vacuous.
fn run_then_kill(worker: &str, db_dir: &Path, log_path: &Path, round: u64, pause: Duration) {
    let mut child = Command::new(worker)
        .args([
            db_dir.to_str().unwrap(),
            log_path.to_str().unwrap(),
            &(round + 1).to_string(),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(pause);
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "round {round}: {worker} ended before it was killed: {status}"
    );
}

#[test]
fn killed_writers_lose_no_acknowledged_write() {
    let iterations: u64 = std::env::var("QUIVER_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    let log_path = dir.path().join("ops.log");
    let mut rng = indexed_store::workload::Rng::new(0x5eed);
    let mut model: State = HashMap::new();
    let mut acknowledged = 0;
    for round in 0..iterations {
        let _ = std::fs::remove_file(&log_path);
        let pause = Duration::from_millis(150 + rng.below(250));
        run_then_kill(
            env!("CARGO_BIN_EXE_crash_worker"),
            &db_dir,
            &log_path,
            round,
            pause,
        );

        // Replay the log: acknowledged successes change the model; at most one operation
        // (the last started) may be in flight.
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let mut started: Option<(String, String, i64, String)> = None;
        for line in log.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["I", _, op, key, val, email] => {
                    started = Some((
                        op.to_string(),
                        key.to_string(),
                        val.parse().unwrap(),
                        email.to_string(),
                    ));
                }
                ["A", _, outcome] if *outcome == "ok" || *outcome == "err" => {
                    let (op, key, val, email) = started.take().expect("ack follows intent");
                    if *outcome == "ok" {
                        apply(&mut model, &op, &key, val, &email);
                        acknowledged += 1;
                    }
                }
                // A line cut short by the kill: an unfinished acknowledgement leaves the
                // operation in flight.
                _ => {}
            }
        }

        let db = Database::open(&db_dir).expect("reopen after kill");
        let reports = db.verify().unwrap();
        assert!(
            reports.iter().all(|r| r.is_ok()),
            "round {round}: {reports:?}"
        );
        let mut in_flight_applied = false;
        for (key, want) in model.clone() {
            let got = stored(&db, &key);
            if got == want {
                continue;
            }
            // What the log says about this key, for the failure message.
            let lines: Vec<&str> = log.lines().collect();
            let history: Vec<String> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.contains(&format!(" {key} ")))
                .map(|(i, l)| format!("{l} -> {}", lines.get(i + 1).copied().unwrap_or("(killed)")))
                .collect();
            let history = &history[history.len().saturating_sub(6)..];
            if started.as_ref().is_none_or(|s| s.1 != key) {
                panic!("round {round}: {key} is {got:?}, acknowledged {want:?}; this round's log for it: {history:#?}; in flight: {started:?}");
            }
            // Only the in-flight operation may explain a difference, and only on its key.
            let Some((op, k, val, email)) = &started else {
                panic!("round {round}: {key} is {got:?}, acknowledged {want:?}")
            };
            assert_eq!(
                &key, k,
                "round {round}: {key} is {got:?}, acknowledged {want:?}"
            );
            let mut with = model.clone();
            apply(&mut with, op, k, *val, email);
            assert_eq!(got, with[&key], "round {round}: {key}");
            in_flight_applied = true;
        }
        // No row the log cannot explain. A worker killed while it opened a new database
        // (before it created `kv`) leaves no table, which is right only if nothing was
        // acknowledged.
        let Some(table) = db.row_table("kv") else {
            assert_eq!(acknowledged, 0, "round {round}: kv is gone");
            continue;
        };
        let reader = table.reader();
        for row in reader.scan_all().unwrap() {
            let row = row.unwrap();
            let Value::Text(id) = &row[0] else {
                panic!("id is {:?}", row[0])
            };
            let explained = model.get(id).is_some_and(|v| v.is_some())
                || started.as_ref().is_some_and(|s| &s.1 == id);
            assert!(explained, "round {round}: row {id} was never acknowledged");
        }
        drop(reader);
        drop(table);
        if let Some((op, k, val, email)) = started {
            let mut with = model.clone();
            apply(&mut with, &op, &k, val, &email);
            if in_flight_applied || (!model.contains_key(&k) && stored(&db, &k) == with[&k]) {
                // The write landed before the kill: it is part of the state from now on.
                model = with;
            }
        }
        drop(db);
    }
    assert!(
        acknowledged > iterations,
        "the workload made progress ({acknowledged} acknowledged writes)"
    );
}

/// The same, with transactions: a child makes bank transfers (two balance updates and a
/// `transfers` row per transaction) from four tasks until it is SIGKILLed. After every
/// kill each transfer is wholly present or wholly absent: every balance is its opening
/// amount moved by exactly the transfers whose rows are there; every transfer whose COMMIT
/// returned is there; nothing is there that never began. `QUIVER_CRASH_ITERATIONS` scales
/// it as above.
#[test]
fn killed_transactions_are_wholly_present_or_absent() {
    const ACCOUNTS: i64 = 50;
    const OPENING: i64 = 1_000;
    let iterations: u64 = std::env::var("QUIVER_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    let mut rng = indexed_store::workload::Rng::new(0xba4c);
    let mut committed_total = 0;
    for round in 0..iterations {
        let log_path = dir.path().join(format!("bank-{round}.log"));
        let pause = Duration::from_millis(300 + rng.below(400));
        run_then_kill(
            env!("CARGO_BIN_EXE_bank_worker"),
            &db_dir,
            &log_path,
            round,
            pause,
        );

        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let mut began: HashMap<String, (i64, i64, i64)> = HashMap::new();
        let mut acknowledged = Vec::new();
        for line in log.lines() {
            match line.split(' ').collect::<Vec<_>>().as_slice() {
                ["I", id, from, to, amount] => {
                    let parse = |s: &str| s.parse::<i64>().ok();
                    if let (Some(f), Some(t), Some(a)) = (parse(from), parse(to), parse(amount)) {
                        began.insert(id.to_string(), (f, t, a));
                    }
                }
                ["A", id] => acknowledged.push(id.to_string()),
                _ => {}
            }
        }
        // A runtime per round: dropping it (after `quiver`, declared later) waits for the
        // scans' blocking tasks, the last holders of the database, so the next worker can
        // take RocksDB's lock.
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let quiver = providers::Quiver::open(&db_dir).expect("reopen after kill");
        for report in quiver.database().verify().unwrap() {
            assert!(report.is_ok(), "round {round}: {report:?}");
        }
        let rows = |sql: &str| {
            runtime.block_on(async {
                match quiver.sql(sql).await {
                    Ok(frame) => quiver_tests::render(&frame.collect().await.unwrap()),
                    // Killed before it made its tables.
                    Err(_) => Vec::new(),
                }
            })
        };
        let transfers = rows("SELECT id, source, target, amount FROM transfers");
        let balances = rows("SELECT id, balance FROM accounts ORDER BY id");
        if balances.is_empty() {
            assert!(
                acknowledged.is_empty(),
                "round {round}: the accounts are gone"
            );
            continue;
        }
        let mut expected = vec![OPENING; ACCOUNTS as usize];
        let mut present = std::collections::HashSet::new();
        for t in &transfers {
            let n = |i: usize| t[i].parse::<i64>().unwrap();
            expected[n(1) as usize] -= n(3);
            expected[n(2) as usize] += n(3);
            present.insert(t[0].clone());
            // Earlier rounds' transfers are in earlier logs; this round's must have begun.
            if t[0].starts_with(&format!("{}-", round + 1)) {
                assert_eq!(
                    began.get(&t[0]),
                    Some(&(n(1), n(2), n(3))),
                    "round {round}: transfer {} was never begun as stored",
                    t[0]
                );
            }
        }
        let actual: Vec<i64> = balances.iter().map(|r| r[1].parse().unwrap()).collect();
        assert_eq!(
            actual, expected,
            "round {round}: balances are not the opening amounts moved by the transfers present"
        );
        assert_eq!(actual.iter().sum::<i64>(), ACCOUNTS * OPENING);
        for id in &acknowledged {
            assert!(
                present.contains(id),
                "round {round}: committed transfer {id} is lost"
            );
        }
        committed_total += acknowledged.len();
        drop(quiver);
    }
    assert!(
        committed_total as u64 > iterations,
        "the workload made progress ({committed_total} transfers committed)"
    );
}
