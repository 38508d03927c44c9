//! The server under load and under fire: 32 concurrent clients for a bounded time against a
//! real `quiver serve` on 127.0.0.1. Most run a mix of prepared point reads, top-k, counts,
//! inserts, updates and deletes; the others disconnect mid-stream, send malformed requests,
//! call without a token, or probe another namespace with a tenant token.
//!
//! Afterwards: no error other than the refusals each fault client expects, every
//! acknowledged write present (a model of each writer's rows is compared with the table),
//! the server exits cleanly on SIGTERM, and `quiver verify` finds nothing wrong. Peak RSS,
//! throughput and p50/p99 latency per operation are printed.
//!
//! `cargo test --workspace --test processes load::` runs it for 10 seconds against the debug build. The
//! README's figures come from the release build for 60 seconds:
//! `QUIVER_LOAD_SECONDS=60 cargo test --release --workspace --test processes load:: -- --nocapture`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{client, code, fetch, first_int, query, start_binary, strings, Server};
use arrow_flight::Ticket;
use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::TryStreamExt;
use parking_lot::Mutex;
use tonic::Code;

const SEED_ROWS: usize = 20_000;
const CLIENTS: usize = 32;
const STATUSES: [&str; 3] = ["active", "pending", "rejected"];

/// Latencies per operation, and errors nobody expected.
#[derive(Default)]
struct Tally {
    latencies: Mutex<BTreeMap<&'static str, Vec<Duration>>>,
    unexpected: Mutex<Vec<String>>,
    refusals: AtomicU64,
}

impl Tally {
    fn record(&self, op: &'static str, took: Duration) {
        self.latencies.lock().entry(op).or_default().push(took);
    }

    fn unexpected(&self, what: String) {
        self.unexpected.lock().push(what);
    }
}

fn one_string(value: &str) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("$1", DataType::Utf8, true)]));
    RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec![value]))]).unwrap()
}

fn string_and_int(s: &str, i: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("$1", DataType::Utf8, true),
        Field::new("$2", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![s])),
            Arc::new(Int64Array::from(vec![i])),
        ],
    )
    .unwrap()
}

async fn seed(server: &Server) {
    let mut c = client(server, Some("admin")).await;
    for sql in [
        "CREATE TABLE accounts (id TEXT PRIMARY KEY, status TEXT NOT NULL, contacts_count BIGINT, owner TEXT)",
        "CREATE INDEX by_status_contacts ON accounts (status, contacts_count)",
        "CREATE INDEX by_owner ON accounts (owner)",
        "CREATE TABLE tenant_a.notes (id BIGINT PRIMARY KEY, body TEXT)",
    ] {
        c.execute_update(sql.into(), None).await.unwrap();
    }
    for chunk in (0..SEED_ROWS).collect::<Vec<_>>().chunks(2000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    "('acc-{i:08}', '{}', {}, 'owner-{}')",
                    STATUSES[i % 3],
                    (i * 7919) % 100_000,
                    i % 1000
                )
            })
            .collect();
        c.execute_update(
            format!("INSERT INTO accounts VALUES {}", values.join(",")),
            None,
        )
        .await
        .unwrap();
    }
}

/// A regular client: reads and writes its own rows, keeping the model of what it was told.
async fn worker(
    server: Arc<Server>,
    id: usize,
    until: Instant,
    tally: Arc<Tally>,
) -> BTreeMap<String, i64> {
    let mut c = client(&server, Some("admin")).await;
    let mut point = c
        .prepare("SELECT * FROM accounts WHERE id = ?".into(), None)
        .await
        .unwrap();
    let mut topk = c
        .prepare(
            "SELECT id, contacts_count FROM accounts WHERE status = ? ORDER BY contacts_count DESC LIMIT 50"
                .into(),
            None,
        )
        .await
        .unwrap();
    let mut insert = c
        .prepare(
            "INSERT INTO accounts VALUES (?, 'pending', ?, 'load')".into(),
            None,
        )
        .await
        .unwrap();
    let mut update = c
        .prepare(
            "UPDATE accounts SET contacts_count = contacts_count + 1 WHERE id = ?".into(),
            None,
        )
        .await
        .unwrap();
    let mut delete = c
        .prepare("DELETE FROM accounts WHERE id = ?".into(), None)
        .await
        .unwrap();
    let mut mine: BTreeMap<String, i64> = BTreeMap::new();
    let mut seq = 0u64;
    let mut step = 0usize;
    while Instant::now() < until {
        step += 1;
        let started = Instant::now();
        let (op, outcome): (&'static str, Result<(), String>) = match step % 10 {
            0..=3 => {
                let key = format!("acc-{:08}", (step * 7 + id * 131) % SEED_ROWS);
                point.set_parameters(one_string(&key)).unwrap();
                let r = async {
                    let info = point.execute().await.map_err(|e| e.to_string())?;
                    let rows: usize = fetch(&mut c, info).await.iter().map(|b| b.num_rows()).sum();
                    (rows == 1)
                        .then_some(())
                        .ok_or(format!("{key}: {rows} rows"))
                }
                .await;
                ("point read (prepared)", r)
            }
            4 | 5 => {
                topk.set_parameters(one_string(STATUSES[step % 3])).unwrap();
                let r = async {
                    let info = topk.execute().await.map_err(|e| e.to_string())?;
                    let rows: usize = fetch(&mut c, info).await.iter().map(|b| b.num_rows()).sum();
                    (rows == 50)
                        .then_some(())
                        .ok_or(format!("top-k gave {rows} rows"))
                }
                .await;
                ("top-k 50 (prepared)", r)
            }
            6 => {
                let n = first_int(
                    &query(
                        &mut c,
                        "SELECT count(*) FROM accounts WHERE status = 'active'",
                    )
                    .await,
                );
                let r = (n > 0).then_some(()).ok_or(format!("count {n}"));
                ("count by status", r)
            }
            7 => {
                seq += 1;
                let key = format!("load-{id:02}-{seq:06}");
                insert.set_parameters(string_and_int(&key, 0)).unwrap();
                let r = insert.execute_update().await.map_err(|e| e.to_string());
                if r.is_ok() {
                    mine.insert(key, 0);
                }
                ("insert (prepared)", r.map(|_| ()))
            }
            8 => match mine.keys().nth(step % mine.len().max(1)).cloned() {
                Some(key) => {
                    update.set_parameters(one_string(&key)).unwrap();
                    let r = update.execute_update().await.map_err(|e| e.to_string());
                    match r {
                        Ok(1) => {
                            *mine.get_mut(&key).unwrap() += 1;
                            ("update by id (prepared)", Ok(()))
                        }
                        Ok(n) => ("update by id (prepared)", Err(format!("updated {n} rows"))),
                        Err(e) => ("update by id (prepared)", Err(e)),
                    }
                }
                None => continue,
            },
            _ => match mine.keys().next().cloned().filter(|_| mine.len() > 20) {
                Some(key) => {
                    delete.set_parameters(one_string(&key)).unwrap();
                    let r = delete.execute_update().await.map_err(|e| e.to_string());
                    if r.is_ok() {
                        mine.remove(&key);
                    }
                    ("delete by id (prepared)", r.map(|_| ()))
                }
                None => continue,
            },
        };
        tally.record(op, started.elapsed());
        if let Err(e) = outcome {
            tally.unexpected(format!("client {id} {op}: {e}"));
        }
    }
    mine
}

/// Fault clients: each kind expects one refusal, and anything else is a failure.
async fn faulty(server: Arc<Server>, kind: usize, until: Instant, tally: Arc<Tally>) {
    while Instant::now() < until {
        let started = Instant::now();
        let (op, result): (&'static str, Result<(), String>) = match kind {
            // Start a large result, read one batch, hang up.
            0 => {
                let mut c = client(&server, Some("admin")).await;
                let info = c
                    .execute("SELECT * FROM accounts".into(), None)
                    .await
                    .unwrap();
                let mut stream = c
                    .do_get(info.endpoint[0].ticket.clone().unwrap())
                    .await
                    .unwrap();
                let first = stream.try_next().await;
                drop(stream);
                drop(c);
                (
                    "disconnect mid-stream",
                    first.map(|_| ()).map_err(|e| e.to_string()),
                )
            }
            // Malformed SQL, a ticket that is not one, a handle that does not exist.
            1 => {
                let mut c = client(&server, Some("admin")).await;
                let mut r = Ok(());
                let e = c.execute("SELEKT * FRM".into(), None).await.unwrap_err();
                if code(&e) != Code::InvalidArgument {
                    r = Err(format!("bad SQL gave {e}"));
                }
                let e = c
                    .do_get(Ticket::new(b"\x00garbage".to_vec()))
                    .await
                    .err()
                    .map(|e| code(&e));
                if !matches!(e, Some(Code::InvalidArgument | Code::Unimplemented)) {
                    r = Err(format!("a garbage ticket gave {e:?}"));
                }
                tally.refusals.fetch_add(2, Ordering::Relaxed);
                ("malformed requests", r)
            }
            // No token.
            2 => {
                let mut c = client(&server, None).await;
                let e = c.execute("SELECT 1".into(), None).await.unwrap_err();
                tally.refusals.fetch_add(1, Ordering::Relaxed);
                let r = (code(&e) == Code::Unauthenticated)
                    .then_some(())
                    .ok_or(format!("no token gave {e}"));
                ("no token", r)
            }
            // A tenant probing the public namespace.
            _ => {
                let mut c = client(&server, Some("tenant-token")).await;
                let e = c
                    .execute("SELECT count(*) FROM public.accounts".into(), None)
                    .await
                    .unwrap_err();
                tally.refusals.fetch_add(1, Ordering::Relaxed);
                let r = (code(&e) == Code::NotFound)
                    .then_some(())
                    .ok_or(format!("tenant probe gave {e}"));
                ("tenant probe", r)
            }
        };
        tally.record(op, started.elapsed());
        if let Err(e) = result {
            tally.unexpected(format!("{op}: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_with_faults() {
    let seconds: u64 = std::env::var("QUIVER_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let binary =
        std::env::var("QUIVER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_quiver").to_owned());
    let server = Arc::new(start_binary(&binary, "admin\ntenant-token tenant_a\n", &[]));
    seed(&server).await;

    // One client's sequential small calls: with Nagle's algorithm on the server's sockets
    // each waited ~40 ms (21 calls/s); reported, not asserted.
    let sequential = {
        let mut c = client(&server, Some("admin")).await;
        let mut point = c
            .prepare("SELECT * FROM accounts WHERE id = ?".into(), None)
            .await
            .unwrap();
        let t = Instant::now();
        for i in 0..200 {
            point
                .set_parameters(one_string(&format!("acc-{:08}", i * 13)))
                .unwrap();
            let info = point.execute().await.unwrap();
            assert_eq!(fetch(&mut c, info).await[0].num_rows(), 1);
        }
        200.0 / t.elapsed().as_secs_f64()
    };

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let regular = CLIENTS - 8;
    let workers: Vec<_> = (0..regular)
        .map(|id| tokio::spawn(worker(server.clone(), id, until, tally.clone())))
        .collect();
    let faults: Vec<_> = (0..8)
        .map(|k| tokio::spawn(faulty(server.clone(), k % 4, until, tally.clone())))
        .collect();
    let mut models = Vec::new();
    for w in workers {
        models.push(w.await.unwrap());
    }
    for f in faults {
        f.await.unwrap();
    }
    let elapsed = started.elapsed();

    // Every acknowledged write is there, exactly as acknowledged.
    let mut c = client(&server, Some("admin")).await;
    let batches = query(
        &mut c,
        "SELECT id, contacts_count FROM accounts WHERE owner = 'load' ORDER BY id",
    )
    .await;
    let mut stored: BTreeMap<String, i64> = BTreeMap::new();
    for b in &batches {
        let ids = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        let counts = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..b.num_rows() {
            stored.insert(ids.value(i).to_owned(), counts.value(i));
        }
    }
    let expected: BTreeMap<String, i64> = models.into_iter().flatten().collect();
    assert_eq!(stored.len(), expected.len(), "rows of acknowledged writes");
    assert_eq!(stored, expected, "acknowledged writes");
    assert_eq!(
        strings(
            &query(&mut c, "SELECT id FROM accounts WHERE id = 'acc-00000007'").await,
            0
        ),
        vec!["acc-00000007"]
    );

    let rss = peak_rss_mib(server.child.id());
    let unexpected = tally.unexpected.lock().clone();
    let mut report = format!(
        "one client, sequential prepared point reads: {sequential:.0} per second\nload: {CLIENTS} clients for {:.1} s against {binary}\n{:<26} {:>8} {:>9} {:>9} {:>9}\n",
        elapsed.as_secs_f64(),
        "operation",
        "count",
        "per s",
        "p50 ms",
        "p99 ms"
    );
    let mut latencies: HashMap<&'static str, Vec<Duration>> =
        tally.latencies.lock().clone().into_iter().collect();
    let mut names: Vec<&&str> = latencies.keys().collect::<Vec<_>>();
    names.sort();
    let names: Vec<&'static str> = names.into_iter().copied().collect();
    for name in names {
        let l = latencies.get_mut(name).unwrap();
        l.sort();
        report.push_str(&format!(
            "{:<26} {:>8} {:>9.0} {:>9.2} {:>9.2}\n",
            name,
            l.len(),
            l.len() as f64 / elapsed.as_secs_f64(),
            percentile(l, 0.5).as_secs_f64() * 1e3,
            percentile(l, 0.99).as_secs_f64() * 1e3,
        ));
    }
    report.push_str(&format!(
        "expected refusals: {}, unexpected errors: {}, acknowledged rows checked: {}, peak RSS: {}\n",
        tally.refusals.load(Ordering::Relaxed),
        unexpected.len(),
        expected.len(),
        rss.map_or("unknown".into(), |m| format!("{m:.0} MiB"))
    ));
    eprintln!("{report}");
    assert!(unexpected.is_empty(), "unexpected errors: {unexpected:#?}");

    // A clean shutdown, and the indexes agree with the tables.
    let mut server = Arc::try_unwrap(server).unwrap_or_else(|_| panic!("server still shared"));
    drop(c);
    assert!(server.terminate().success());
    let verify = std::process::Command::new(&binary)
        .args(["verify", server.db().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
