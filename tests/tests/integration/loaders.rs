//! Tables that load their rows from an upstream service, against real upstreams on
//! 127.0.0.1: an HTTP server (axum) and a gRPC server (the `quiver.loader.Loader` service
//! tonic generates from `proto/quiver/loader.proto`).
//!
//! The promises checked: a query loads a key it needs once and then reads the store; a stale
//! key is loaded again and rows the upstream stopped returning disappear; only the headers a
//! table names reach the upstream; every way a load can fail (down, slow, error status,
//! malformed JSON, a row that does not fit) fails the query with a `LoadFailed` naming the
//! upstream, writes nothing and keeps the key's previous rows; sixteen concurrent queries
//! for one key cause one upstream call; EXPLAIN shows the loader and loads nothing.
//!
//! The failure test once caught a load outliving its query: a query whose scan ran in two
//! partitions failed on the first one's load error, the second partition had just started a
//! load of its own, and that half-done load stayed in the single-flight map, so the next
//! query received the old failure (a 503 for a malformed-JSON upstream). Loads now run in
//! their own task and always leave the map.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::DataFusionError;
use futures::{Stream, TryStreamExt};
use providers::loader_grpc::loader_server::{Loader, LoaderServer};
use providers::loader_grpc::{LoadRequest, LoadResponse};
use providers::LoadProblem;
use providers::{ForwardedHeaders, SqlError};
use quiver_tests::{render, TempDb};
use serde_json::{json, Value as Json};

/// What the HTTP upstream answers.
#[derive(Clone)]
enum Answer {
    /// The rows of the asked owner, as a JSON array.
    Rows,
    /// The same rows as NDJSON.
    Ndjson,
    /// This status and body.
    Status(u16),
    /// A body that is not JSON.
    Garbage,
    /// After this long.
    Slow(Duration),
}

struct HttpUpstream {
    rows: Mutex<HashMap<String, Vec<Json>>>,
    answer: Mutex<Answer>,
    calls: AtomicUsize,
    headers: Mutex<Vec<HashMap<String, String>>>,
}

impl HttpUpstream {
    fn new() -> Arc<Self> {
        Arc::new(HttpUpstream {
            rows: Mutex::default(),
            answer: Mutex::new(Answer::Rows),
            calls: AtomicUsize::new(0),
            headers: Mutex::default(),
        })
    }

    fn set_rows(&self, owner: &str, rows: Vec<Json>) {
        self.rows.lock().unwrap().insert(owner.into(), rows);
    }

    fn answer(&self, a: Answer) {
        *self.answer.lock().unwrap() = a;
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn accounts(
    State(up): State<Arc<HttpUpstream>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    up.calls.fetch_add(1, Ordering::SeqCst);
    up.headers.lock().unwrap().push(
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
    );
    let owner = query.get("owner").cloned().unwrap_or_default();
    let rows = up
        .rows
        .lock()
        .unwrap()
        .get(&owner)
        .cloned()
        .unwrap_or_default();
    let answer = up.answer.lock().unwrap().clone();
    match answer {
        Answer::Rows => (StatusCode::OK, Json::Array(rows).to_string()),
        Answer::Ndjson => (
            StatusCode::OK,
            rows.iter().map(|r| format!("{r}\n")).collect::<String>(),
        ),
        Answer::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            "upstream is having a bad day".into(),
        ),
        Answer::Garbage => (StatusCode::OK, "[{\"id\": \"a1\",".into()),
        Answer::Slow(pause) => {
            tokio::time::sleep(pause).await;
            (StatusCode::OK, Json::Array(rows).to_string())
        }
    }
}

async fn serve_http(up: Arc<HttpUpstream>) -> SocketAddr {
    let app = Router::new()
        .route("/accounts", get(accounts))
        .with_state(up);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn accounts_table(db: &TempDb, addr: SocketAddr, reload_after: &str) {
    db.query(&format!(
        "CREATE TABLE accounts (id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, \
         contacts BIGINT) WITH (loader = 'http://{addr}/accounts', loader_key = 'owner', \
         reload_after = '{reload_after}', forward_headers = 'x-crm-token', loader_timeout = '2s')"
    ))
    .await
    .unwrap();
    db.query("CREATE INDEX accounts_by_owner ON accounts (owner)")
        .await
        .unwrap();
}

/// An upstream serving two of ada's accounts and a database whose `accounts` loads from it.
async fn ada_upstream(reload_after: &str) -> (Arc<HttpUpstream>, TempDb) {
    let up = HttpUpstream::new();
    up.set_rows(
        "ada",
        vec![
            account("a1", "ada", "Acme", 3),
            account("a2", "ada", "Birch", 5),
        ],
    );
    let addr = serve_http(up.clone()).await;
    let db = TempDb::new();
    accounts_table(&db, addr, reload_after).await;
    (up, db)
}

fn account(id: &str, owner: &str, name: &str, contacts: i64) -> Json {
    json!({"id": id, "owner": owner, "name": name, "contacts": contacts, "ignored": [1, 2]})
}

async fn owned(db: &TempDb, owner: &str) -> Result<Vec<Vec<String>>, DataFusionError> {
    db.rows(&format!(
        "SELECT id, name, contacts FROM accounts WHERE owner = '{owner}' ORDER BY id"
    ))
    .await
}

/// The rows of a prepared query for one owner, run with these forwarded headers.
async fn forwarding(
    query: &providers::PreparedStatement,
    owner: &str,
    headers: &ForwardedHeaders,
) -> Vec<Vec<String>> {
    let rows: Vec<_> = query
        .execute_forwarding(
            ParamValues::from(vec![ScalarValue::from(owner)]),
            None,
            headers.clone(),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    render(&rows)
}

fn load_problem(e: &DataFusionError) -> Option<&LoadProblem> {
    let mut current = e;
    loop {
        match current {
            DataFusionError::Shared(inner) => current = inner,
            DataFusionError::External(inner) => {
                return match inner.downcast_ref::<SqlError>() {
                    Some(SqlError::LoadFailed { problem, .. }) => Some(problem),
                    _ => None,
                }
            }
            DataFusionError::Context(_, inner) => current = inner,
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_loads_once_then_reads_the_store_and_forwards_only_named_headers() {
    let (up, db) = ada_upstream("1h").await;

    let query = db
        .quiver
        .prepare("SELECT id, name FROM accounts WHERE owner = $1 ORDER BY id")
        .await
        .unwrap();
    let headers = ForwardedHeaders(HashMap::from([
        ("x-crm-token".to_owned(), "secret".to_owned()),
        ("authorization".to_owned(), "Bearer quiver-token".to_owned()),
    ]));
    for _ in 0..3 {
        assert_eq!(
            forwarding(&query, "ada", &headers).await,
            [["a1", "Acme"], ["a2", "Birch"]]
        );
    }
    assert_eq!(up.calls(), 1, "later queries read the store");
    let seen = up.headers.lock().unwrap()[0].clone();
    assert_eq!(seen.get("x-crm-token").map(String::as_str), Some("secret"));
    assert!(!seen.contains_key("authorization"), "not named: {seen:?}");
    // A query that names no owner reads what is stored and calls nobody.
    assert_eq!(
        db.rows("SELECT count(*) FROM accounts").await.unwrap(),
        [["2"]]
    );
    assert_eq!(up.calls(), 1);
    assert_eq!(
        db.rows("SELECT table_name, key, rows, last_error FROM sys.loads")
            .await
            .unwrap(),
        [["accounts", "ada", "2", "NULL"]]
    );
    // IN loads each key it names that is missing.
    up.set_rows("bo", vec![account("b1", "bo", "Cedar", 1)]);
    assert_eq!(
        db.rows("SELECT id FROM accounts WHERE owner IN ('ada', 'bo') ORDER BY id")
            .await
            .unwrap(),
        [["a1"], ["a2"], ["b1"]]
    );
    assert_eq!(up.calls(), 2);
    db.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_key_reloads_and_rows_the_upstream_dropped_disappear() {
    let (up, db) = ada_upstream("1s").await;
    assert_eq!(owned(&db, "ada").await.unwrap().len(), 2);
    // Upstream: a2 gone, a1 changed, a3 new, sent as NDJSON this time.
    up.set_rows(
        "ada",
        vec![
            account("a1", "ada", "Acme Ltd", 4),
            account("a3", "ada", "Cedar", 1),
        ],
    );
    up.answer(Answer::Ndjson);
    assert_eq!(owned(&db, "ada").await.unwrap().len(), 2, "still fresh");
    assert_eq!(up.calls(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        owned(&db, "ada").await.unwrap(),
        [["a1", "Acme Ltd", "4"], ["a3", "Cedar", "1"]]
    );
    assert_eq!(up.calls(), 2);
    db.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failed_load_names_the_upstream_and_keeps_the_previous_rows() {
    let up = HttpUpstream::new();
    up.set_rows("ada", vec![account("a1", "ada", "Acme", 3)]);
    let addr = serve_http(up.clone()).await;
    let db = TempDb::new();
    // Reloaded by every query, so each one below tries the upstream again.
    accounts_table(&db, addr, "0s").await;
    let before = owned(&db, "ada").await.unwrap();
    assert_eq!(before, [["a1", "Acme", "3"]]);

    // What the upstream would send if it answered: the old row changed, a new one.
    up.set_rows(
        "ada",
        vec![
            account("a1", "ada", "Changed", 9),
            account("a9", "ada", "New", 1),
        ],
    );
    type Check = fn(&LoadProblem) -> bool;
    let cases: Vec<(&str, Answer, Check)> = vec![
        (
            "error status",
            Answer::Status(503),
            |p| matches!(p, LoadProblem::Status(s) if s.contains("503")),
        ),
        ("malformed JSON", Answer::Garbage, |p| {
            matches!(p, LoadProblem::Malformed(_))
        }),
        ("slow", Answer::Slow(Duration::from_secs(4)), |p| {
            matches!(p, LoadProblem::Timeout(2))
        }),
    ];
    for (what, answer, expected) in cases {
        up.answer(answer);
        let err = owned(&db, "ada").await.unwrap_err();
        let problem = load_problem(&err).unwrap_or_else(|| panic!("{what}: {err}"));
        assert!(expected(problem), "{what}: {problem:?}");
        assert!(err.to_string().contains(&addr.to_string()), "{what}: {err}");
        // Read without a key, so no load: what is stored is unchanged.
        assert_eq!(
            db.rows("SELECT id, name, contacts FROM accounts ORDER BY id")
                .await
                .unwrap(),
            before,
            "{what}"
        );
    }
    up.answer(Answer::Rows);

    // Rows that do not fit: a number that is text, a NOT NULL column missing, another key.
    let unfit = [
        json!({"id": "a1", "owner": "ada", "name": "x", "contacts": "lots"}),
        json!({"id": "a1", "owner": "ada"}),
        json!({"id": "a1", "owner": "bo", "name": "x"}),
    ];
    for row in unfit {
        up.set_rows("ada", vec![account("a5", "ada", "Fine", 1), row.clone()]);
        let err = owned(&db, "ada").await.unwrap_err();
        assert!(
            matches!(load_problem(&err), Some(LoadProblem::RowRefused(_))),
            "{row}: {err}"
        );
        assert_eq!(
            db.rows("SELECT id, name, contacts FROM accounts ORDER BY id")
                .await
                .unwrap(),
            before,
            "{row}"
        );
    }
    let last = db
        .rows("SELECT rows, last_error IS NOT NULL FROM sys.loads")
        .await
        .unwrap();
    assert_eq!(last, [["1", "true"]]);
    db.assert_verified();

    // Down: nothing listens where this table's loader points.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = closed.local_addr().unwrap();
    drop(closed);
    db.query(&format!(
        "CREATE TABLE mirror (id TEXT PRIMARY KEY) WITH (loader = 'http://{gone}/x')"
    ))
    .await
    .unwrap();
    let err = db.rows("SELECT * FROM mirror").await.unwrap_err();
    assert!(
        matches!(load_problem(&err), Some(LoadProblem::Unreachable(_))),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_queries_for_one_key_cause_one_upstream_call() {
    let (up, db) = ada_upstream("1h").await;
    up.answer(Answer::Slow(Duration::from_millis(300)));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let quiver = db.quiver.clone();
        tasks.push(tokio::spawn(async move {
            render(
                &quiver
                    .query("SELECT id FROM accounts WHERE owner = 'ada' ORDER BY id")
                    .await
                    .unwrap(),
            )
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), [["a1"], ["a2"]]);
    }
    assert_eq!(up.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_the_loader_and_loads_nothing() {
    let up = HttpUpstream::new();
    let addr = serve_http(up.clone()).await;
    let db = TempDb::new();
    accounts_table(&db, addr, "1h").await;
    let plan = db
        .physical_plan("SELECT * FROM accounts WHERE owner = 'ada'")
        .await
        .unwrap();
    assert!(
        plan.contains("LoaderExec: load owner IN ('ada')")
            && plan.contains(&format!("upstream=http://{addr}/accounts"))
            && plan.contains("IndexScanExec"),
        "{plan}"
    );
    assert_eq!(up.calls(), 0);
    // A tenant cannot make the server fetch URLs.
    let tenant = providers::Quiver::restricted(db.quiver.database().clone(), "acme");
    let err = tenant
        .sql(&format!(
            "CREATE TABLE acme.probe (id TEXT PRIMARY KEY) WITH (loader = 'http://{addr}/x')"
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.find_root(),
            DataFusionError::External(e) if matches!(e.downcast_ref::<SqlError>(), Some(SqlError::Unsupported { .. }))
        ),
        "{err}"
    );
}

/// A gRPC upstream serving documents per key.
struct GrpcUpstream {
    documents: HashMap<String, Vec<String>>,
    calls: AtomicUsize,
    seen: Mutex<Vec<LoadRequest>>,
}

/// The upstream as tonic serves it (a handle the test keeps a copy of).
struct Served(Arc<GrpcUpstream>);

#[tonic::async_trait]
impl Loader for Served {
    type LoadStream = Pin<Box<dyn Stream<Item = Result<LoadResponse, tonic::Status>> + Send>>;

    async fn load(
        &self,
        request: tonic::Request<LoadRequest>,
    ) -> Result<tonic::Response<Self::LoadStream>, tonic::Status> {
        let up = &self.0;
        up.calls.fetch_add(1, Ordering::SeqCst);
        let request = request.into_inner();
        up.seen.lock().unwrap().push(request.clone());
        if request.collection != "crm_accounts" {
            return Err(tonic::Status::not_found("no such collection"));
        }
        let docs = up
            .documents
            .get(&request.key)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|document| Ok(LoadResponse { document }));
        Ok(tonic::Response::new(Box::pin(futures::stream::iter(docs))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_upstream_serves_a_table() {
    let up = Arc::new(GrpcUpstream {
        documents: HashMap::from([
            (
                "ada".to_owned(),
                vec![
                    account("a1", "ada", "Acme", 3).to_string(),
                    account("a2", "ada", "Birch", 5).to_string(),
                ],
            ),
            ("bad".to_owned(), vec!["{\"id\": ".to_owned()]),
        ]),
        calls: AtomicUsize::new(0),
        seen: Mutex::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = LoaderServer::new(Served(up.clone()));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let db = TempDb::new();
    db.query(&format!(
        "CREATE TABLE accounts (id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT, \
         contacts BIGINT) WITH (loader = 'grpc://{addr}/crm_accounts', loader_key = 'owner', \
         forward_headers = 'x-crm-token')"
    ))
    .await
    .unwrap();
    let query = db
        .quiver
        .prepare("SELECT id, contacts FROM accounts WHERE owner = $1 ORDER BY id")
        .await
        .unwrap();
    let headers = ForwardedHeaders(HashMap::from([(
        "x-crm-token".to_owned(),
        "secret".to_owned(),
    )]));
    for _ in 0..2 {
        assert_eq!(
            forwarding(&query, "ada", &headers).await,
            [["a1", "3"], ["a2", "5"]]
        );
    }
    assert_eq!(up.calls.load(Ordering::SeqCst), 1);
    let seen = up.seen.lock().unwrap()[0].clone();
    assert_eq!(
        (seen.collection.as_str(), seen.key.as_str()),
        ("crm_accounts", "ada")
    );
    assert_eq!(
        seen.metadata.get("x-crm-token").map(String::as_str),
        Some("secret")
    );
    let err = db
        .rows("SELECT * FROM accounts WHERE owner = 'bad'")
        .await
        .unwrap_err();
    assert!(
        matches!(load_problem(&err), Some(LoadProblem::Malformed(_))),
        "{err}"
    );
    assert_eq!(
        db.rows("SELECT count(*) FROM accounts").await.unwrap(),
        [["2"]]
    );
}
