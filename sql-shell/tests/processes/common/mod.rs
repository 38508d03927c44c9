//! A `quiver serve` process on 127.0.0.1 and Flight SQL clients for it, shared by the
//! server's test files.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::FlightInfo;
use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray, UInt64Array};
use futures::TryStreamExt;
use tonic::transport::Channel;

/// A server process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The database directory.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("db")
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

/// Starts `quiver serve` with these tokens (a token file) and extra flags.
pub fn start_with(tokens: &str, extra: &[&str]) -> Server {
    start_binary(env!("CARGO_BIN_EXE_quiver"), tokens, extra)
}

/// Starts `quiver serve` with these tokens.
pub fn start(tokens: &str) -> Server {
    start_with(tokens, &[])
}

/// Starts a given `quiver` binary (the load test may run a release build).
pub fn start_binary(binary: &str, tokens: &str, extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("tokens");
    std::fs::write(&token_file, tokens).unwrap();
    let db = dir.path().join("db");
    let mut args = vec![
        "serve",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        token_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut child = Command::new(binary)
        .args(&args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start quiver serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().expect("server prints its address").unwrap();
    let addr = first.rsplit(' ').next().unwrap().to_owned();
    // Keep draining stderr so the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr, dir }
}

/// A client on its own connection, with a bearer token when given.
pub async fn client(server: &Server, token: Option<&str>) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = FlightSqlServiceClient::new(channel);
    if let Some(t) = token {
        c.set_token(t.to_owned());
    }
    c
}

/// Every batch of every endpoint.
pub async fn fetch(c: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Vec<RecordBatch> {
    try_fetch(c, info).await.unwrap()
}

/// Every batch of every endpoint, or the first error.
pub async fn try_fetch(
    c: &mut FlightSqlServiceClient<Channel>,
    info: FlightInfo,
) -> Result<Vec<RecordBatch>, arrow_flight::error::FlightError> {
    let mut out = Vec::new();
    for endpoint in info.endpoint {
        let stream = c.do_get(endpoint.ticket.unwrap()).await?;
        out.extend(stream.try_collect::<Vec<_>>().await?);
    }
    Ok(out)
}

/// The strings of a column.
pub fn strings(batches: &[RecordBatch], col: usize) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column(col)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            (0..a.len())
                .map(move |i| a.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The first value of the first column, as an integer (count(*), a DML row count).
pub fn first_int(batches: &[RecordBatch]) -> i64 {
    let column = batches[0].column(0);
    if let Some(a) = column.as_any().downcast_ref::<Int64Array>() {
        return a.value(0);
    }
    column
        .as_any()
        .downcast_ref::<UInt64Array>()
        .expect("an integer column")
        .value(0) as i64
}

/// The gRPC code of a Flight client error.
pub fn code(e: &arrow_flight::error::FlightError) -> tonic::Code {
    match e {
        arrow_flight::error::FlightError::Tonic(s) => s.code(),
        other => panic!("not a gRPC status: {other}"),
    }
}

/// Runs a statement and reads its result.
pub async fn query(c: &mut FlightSqlServiceClient<Channel>, sql: &str) -> Vec<RecordBatch> {
    let info = c.execute(sql.to_owned(), None).await.unwrap();
    fetch(c, info).await
}
