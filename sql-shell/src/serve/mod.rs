//! `quiver serve`: an Arrow Flight SQL server over the database.
//!
//! - `auth`: tokens, grants and the Handshake;
//! - `handles`: prepared statements and unread results, bound to the grant that made them;
//! - `transactions`: open transactions, bound to the grant that began them, and their bounds;
//! - `service`: the Flight SQL calls and when statements run;
//! - `metadata`: GetCatalogs, GetDbSchemas, GetTables, GetTableTypes, GetSqlInfo;
//! - `errors`: the one mapping from errors to gRPC status codes;
//! - `limits`: per-query memory and time, and how many queries run at once;
//! - this module: the server's lifecycle (listening, TLS, start-up checks, shutdown).

mod auth;
mod errors;
mod handles;
mod limits;
mod metadata;
mod replies;
mod service;
mod transactions;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use indexed_store::Database;
use providers::FileAccess;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use auth::Tokens;
pub use limits::Limits;
use service::QuiverFlightSql;
pub use transactions::TransactionLimits;

/// Everything `quiver serve` is told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Accepted tokens (empty: no authentication).
    pub tokens: Tokens,
    /// PEM certificate chain and private key, for TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Listen beyond loopback without tokens.
    pub allow_unauthenticated: bool,
    /// Listen beyond loopback with tokens but without TLS.
    pub allow_plaintext: bool,
    /// Per-query limits.
    pub limits: Limits,
    /// Largest gRPC message accepted or sent, in bytes.
    pub max_message_bytes: usize,
    /// HTTP/2 keepalive ping interval (and TCP keepalive).
    pub keepalive: Duration,
    /// Prepared statements and unread results unused this long are dropped.
    pub handle_idle_timeout: Duration,
    /// The directory whose files sessions may read and write (`COPY`, file names as
    /// tables); None: no files.
    pub files: Option<PathBuf>,
    /// Bounds on transactions: per token, idle, lifetime, pending bytes.
    pub transactions: TransactionLimits,
}

/// Refuses to start a server that would expose the database by accident: reachable
/// beyond this machine without tokens, or with tokens crossing the network in clear text.
pub fn check_exposure(options: &ServeOptions) -> Result<(), String> {
    let ip = options.listen.ip();
    if ip.is_loopback() {
        return Ok(());
    }
    if !options.tokens.enabled() && !options.allow_unauthenticated {
        return Err(format!(
            "refusing to listen on {} without tokens: anyone who can reach it could read and change every table. Pass --token-file (or set QUIVER_TOKEN), listen on 127.0.0.1, or pass --allow-unauthenticated if that is what you mean",
            options.listen
        ));
    }
    if options.tokens.enabled() && options.tls.is_none() && !options.allow_plaintext {
        return Err(format!(
            "refusing to listen on {} with tokens but without TLS: the tokens would cross the network in clear text. Pass --tls-cert and --tls-key, or --allow-plaintext if the network is trusted",
            options.listen
        ));
    }
    Ok(())
}

fn tls_config(cert: &PathBuf, key: &PathBuf) -> Result<ServerTlsConfig, String> {
    let read = |p: &PathBuf, what: &str| {
        std::fs::read(p).map_err(|e| format!("cannot read TLS {what} '{}': {e}", p.display()))
    };
    Ok(ServerTlsConfig::new().identity(Identity::from_pem(
        read(cert, "certificate")?,
        read(key, "key")?,
    )))
}

/// Serves until SIGINT or SIGTERM, then lets in-flight calls finish and flushes the database.
pub async fn serve(db: Arc<Database>, options: ServeOptions) -> Result<(), String> {
    check_exposure(&options)?;
    let admission = limits::Admission::new(options.limits.clone())
        .map_err(|e| format!("cannot set up query limits: {e}"))?;
    let files = match &options.files {
        Some(dir) => FileAccess::under(dir)
            .map_err(|e| format!("cannot use --files {}: {e}", dir.display()))?,
        None => FileAccess::Denied,
    };
    let service = QuiverFlightSql::new(db.clone(), options.tokens.clone(), admission)
        .with_files(files)
        .with_transactions(
            options.transactions.clone(),
            Arc::new(std::time::Instant::now),
        );

    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(options.keepalive))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)));
    let scheme = if let Some((cert, key)) = &options.tls {
        builder = builder
            .tls_config(tls_config(cert, key)?)
            .map_err(|e| format!("invalid TLS certificate or key: {e}"))?;
        "grpc+tls"
    } else {
        "grpc"
    };

    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Small replies must leave at once: with Nagle's algorithm on, a client's sequential
    // calls each waited ~40 ms for the previous reply's last segment.
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(options.keepalive));
    eprintln!("Quiver Flight SQL listening on {local}");
    eprintln!("  connect with {scheme}://{local}");

    let sweeper = {
        let service = service.clone();
        let idle = options.handle_idle_timeout;
        tokio::spawn(async move {
            let shortest = idle.min(options.transactions.idle);
            let every = (shortest / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
            loop {
                tokio::time::sleep(every).await;
                service.sweep(idle);
            }
        })
    };
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        eprintln!("shutting down: finishing in-flight calls");
    };
    let flight = FlightServiceServer::new(service)
        .max_decoding_message_size(options.max_message_bytes)
        .max_encoding_message_size(options.max_message_bytes);
    let served = builder
        .add_service(flight)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    sweeper.abort();
    served.map_err(|e| format!("server failed: {e}"))?;
    db.flush().map_err(|e| e.to_string())?;
    eprintln!("database flushed; bye");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(listen: &str, tokens: Tokens, tls: bool) -> ServeOptions {
        ServeOptions {
            listen: listen.parse().unwrap(),
            tokens,
            tls: tls.then(|| ("c.pem".into(), "k.pem".into())),
            allow_unauthenticated: false,
            allow_plaintext: false,
            limits: Limits {
                query_memory: 1 << 20,
                query_timeout: Duration::from_secs(1),
                max_concurrent: 1,
                queue_timeout: Duration::from_secs(1),
            },
            max_message_bytes: 1 << 20,
            keepalive: Duration::from_secs(30),
            handle_idle_timeout: Duration::from_secs(60),
            files: None,
            transactions: TransactionLimits::default(),
        }
    }

    #[test]
    fn exposure_needs_tokens_and_tls_or_an_explicit_flag() {
        let token = || Tokens::single("t");
        assert!(check_exposure(&options("127.0.0.1:1", Tokens::default(), false)).is_ok());
        assert!(check_exposure(&options("[::1]:1", Tokens::default(), false)).is_ok());
        let open = check_exposure(&options("0.0.0.0:1", Tokens::default(), false)).unwrap_err();
        assert!(open.contains("--allow-unauthenticated"), "{open}");
        let clear = check_exposure(&options("0.0.0.0:1", token(), false)).unwrap_err();
        assert!(clear.contains("--tls-cert"), "{clear}");
        assert!(check_exposure(&options("0.0.0.0:1", token(), true)).is_ok());

        let mut o = options("0.0.0.0:1", Tokens::default(), false);
        o.allow_unauthenticated = true;
        assert!(check_exposure(&o).is_ok());
        let mut o = options("10.1.2.3:1", token(), false);
        o.allow_plaintext = true;
        assert!(check_exposure(&o).is_ok());
    }
}
