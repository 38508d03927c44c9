//! `quiver`: the SQL shell over a Quiver database.

mod demo;
mod output;
mod params;
mod repl;
mod serve;
mod shell;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use providers::Quiver;

use crate::output::Format;
use crate::shell::Shell;

/// mimalloc rather than the system allocator: a bulk load makes and frees millions of small
/// keys, and measured loads ran ~20% faster with it (README, benchmark section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The database directory used when none is given.
const DEFAULT_DB: &str = "quiver-data";

#[derive(Parser)]
#[command(
    name = "quiver",
    version,
    about = "SQL shell for Quiver, an embedded indexed store",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// Database directory (created when missing).
    #[arg(default_value = DEFAULT_DB)]
    db_dir: PathBuf,
    /// Run this SQL (repeatable) and exit.
    #[arg(short = 'c', long = "command")]
    commands: Vec<String>,
    /// Run the SQL script in this file and exit.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Load the demo data first (as `quiver demo`).
    #[arg(long)]
    demo: bool,
    /// Rows of demo accounts.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
}

#[derive(Subcommand)]
// Parsed once at start-up: the size of the `serve` variant's flags costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Create the reference accounts workload plus sample jobs, users and lists, then open the prompt.
    Demo {
        /// Database directory.
        #[arg(default_value = DEFAULT_DB)]
        db_dir: PathBuf,
        /// Rows of accounts.
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Serve the database over Arrow Flight SQL until SIGINT/SIGTERM.
    Serve {
        /// Database directory.
        #[arg(default_value = DEFAULT_DB)]
        db_dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: std::net::SocketAddr,
        /// File of accepted tokens, one per line: `TOKEN [NAMESPACE]` (a namespace binds the
        /// token to that schema). Without it (and without QUIVER_TOKEN) calls need no token.
        #[arg(long)]
        token_file: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Check that every index agrees with its table; exits non-zero on any problem.
    Verify {
        /// Database directory.
        db_dir: PathBuf,
    },
}

/// How `quiver serve` protects itself; every default is in the README.
#[derive(clap::Args, Clone)]
struct ServerArgs {
    /// PEM certificate chain for TLS (with --tls-key); clients then connect with grpc+tls://.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Directory whose files clients may read and write with COPY and file names as tables
    /// (`COPY accounts FROM '/srv/in/a.csv'`); without it, no files.
    #[arg(long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// Allow listening beyond loopback without tokens.
    #[arg(long)]
    allow_unauthenticated: bool,
    /// Allow listening beyond loopback with tokens but without TLS.
    #[arg(long)]
    allow_plaintext: bool,
    /// Memory one query's sorts, aggregates and joins may use, in MiB (no spilling to disk).
    #[arg(long, default_value_t = 1024)]
    query_memory_mb: usize,
    /// Seconds a query may run before it is stopped.
    #[arg(long, default_value_t = 300)]
    query_timeout_secs: u64,
    /// Queries that run at once; the others wait.
    #[arg(long, default_value_t = 64)]
    max_concurrent_queries: usize,
    /// Seconds a query waits for a place before it is refused.
    #[arg(long, default_value_t = 10)]
    queue_timeout_secs: u64,
    /// Largest gRPC message accepted or sent, in MiB.
    #[arg(long, default_value_t = 64)]
    max_message_mb: usize,
    /// Seconds between HTTP/2 keepalive pings (and the TCP keepalive time).
    #[arg(long, default_value_t = 30)]
    keepalive_secs: u64,
    /// Seconds after which an unused prepared statement or unread result is dropped.
    #[arg(long, default_value_t = 600)]
    handle_idle_secs: u64,
    /// MiB one transaction's pending writes may hold; past it the transaction is rolled
    /// back (ResourceExhausted).
    #[arg(long, default_value_t = 64)]
    tx_max_mb: usize,
    /// Seconds a transaction may sit without a statement before the server rolls it back.
    #[arg(long, default_value_t = 60)]
    tx_idle_secs: u64,
    /// Seconds a transaction may stay open before the server rolls it back.
    #[arg(long, default_value_t = 3600)]
    tx_lifetime_secs: u64,
    /// Open transactions one token may hold.
    #[arg(long, default_value_t = 100)]
    tx_per_token: usize,
}

impl ServerArgs {
    fn options(&self, listen: std::net::SocketAddr, tokens: serve::Tokens) -> serve::ServeOptions {
        use std::time::Duration;
        serve::ServeOptions {
            listen,
            tokens,
            tls: self.tls_cert.clone().zip(self.tls_key.clone()),
            allow_unauthenticated: self.allow_unauthenticated,
            allow_plaintext: self.allow_plaintext,
            limits: serve::Limits {
                query_memory: self.query_memory_mb.saturating_mul(1 << 20),
                query_timeout: Duration::from_secs(self.query_timeout_secs),
                max_concurrent: self.max_concurrent_queries,
                queue_timeout: Duration::from_secs(self.queue_timeout_secs),
            },
            max_message_bytes: self.max_message_mb.saturating_mul(1 << 20),
            keepalive: Duration::from_secs(self.keepalive_secs.max(1)),
            handle_idle_timeout: Duration::from_secs(self.handle_idle_secs.max(1)),
            files: self.files.clone(),
            transactions: serve::TransactionLimits {
                per_grant: self.tx_per_token.max(1),
                idle: Duration::from_secs(self.tx_idle_secs.max(1)),
                lifetime: Duration::from_secs(self.tx_lifetime_secs.max(1)),
                max_pending_bytes: self.tx_max_mb.saturating_mul(1 << 20),
                turn_wait: Duration::from_secs(self.queue_timeout_secs.max(1)),
            },
        }
    }
}

fn open(dir: &PathBuf) -> Result<Quiver, String> {
    Quiver::open(dir).map_err(|e| format!("cannot open database '{}': {e}", dir.display()))
}

async fn run(cli: Cli) -> Result<(), String> {
    let mut args = cli.run.clone();
    match cli.command {
        Some(Command::Verify { db_dir }) => {
            let shell = Shell::new(open(&db_dir)?, Format::Table);
            return shell.verify();
        }
        Some(Command::Serve {
            db_dir,
            listen,
            token_file,
            server,
        }) => {
            let tokens = match (
                token_file,
                std::env::var("QUIVER_TOKEN").ok().filter(|t| !t.is_empty()),
            ) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read token file '{}': {e}", path.display()))?;
                    serve::Tokens::parse(&text)?
                }
                (None, Some(token)) => serve::Tokens::single(&token),
                (None, None) => serve::Tokens::default(),
            };
            let options = server.options(listen, tokens);
            serve::check_exposure(&options)?;
            let quiver = open(&db_dir)?;
            return serve::serve(quiver.database().clone(), options).await;
        }
        Some(Command::Demo {
            db_dir,
            rows,
            format,
        }) => {
            args.db_dir = db_dir;
            args.rows = rows;
            args.format = format;
            args.demo = true;
        }
        None => {}
    }
    let quiver = open(&args.db_dir)?;
    let interactive =
        args.commands.is_empty() && args.file.is_none() && std::io::stdin().is_terminal();
    if args.demo {
        let done = demo::load(
            quiver.database(),
            args.rows,
            std::io::stderr().is_terminal(),
        )?;
        eprintln!("{done}");
    }
    let mut shell = Shell::new(quiver, args.format);
    if !args.commands.is_empty() || args.file.is_some() {
        for sql in &args.commands {
            if sql.trim_start().starts_with('\\') {
                shell.meta(sql).await?;
            } else {
                shell.run_sql(sql).await?;
            }
        }
        if let Some(path) = &args.file {
            let sql = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
            shell.run_sql(&sql).await?;
        }
        return Ok(());
    }
    if !interactive {
        let mut sql = String::new();
        std::io::stdin()
            .read_to_string(&mut sql)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        shell.timing = false;
        return shell.run_sql(&sql).await;
    }
    repl::run(&mut shell).await
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", e.lines().collect::<Vec<_>>().join(" "));
            ExitCode::FAILURE
        }
    }
}
