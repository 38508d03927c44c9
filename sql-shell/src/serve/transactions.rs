//! Flight SQL transactions (BeginTransaction, EndTransaction, `transaction_id` on
//! statements and prepared statements): each open transaction is a random handle bound to
//! the token that began it, as prepared statements are (`handles.rs`). Another token's
//! handle, an unknown one and an ended one all answer `NotFound`; a statement naming one
//! never runs on its own (never autocommits).
//!
//! Bounds: a token may hold only so many open transactions; one left idle past the idle
//! timeout, or open past its lifetime, is rolled back by the sweep (its snapshot and
//! memory freed); and each one's pending writes are capped (`ResourceExhausted`, rolled
//! back). A transaction whose client disconnected is rolled back by the sweep too.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexed_store::TransactionOptions;
use parking_lot::Mutex;
use providers::{Quiver, Transaction};
use tonic::Status;

use super::auth::Grant;

/// The bounds on transactions, from `quiver serve`'s flags.
#[derive(Debug, Clone)]
pub struct TransactionLimits {
    /// Open transactions one token may hold.
    pub per_grant: usize,
    /// Rolled back after this long without a statement.
    pub idle: Duration,
    /// Rolled back after this long open.
    pub lifetime: Duration,
    /// The most bytes one transaction's pending writes may hold.
    pub max_pending_bytes: usize,
    /// How long a statement waits for the previous statement of its transaction to finish
    /// (a client may send the next one while the last one's stream is still being torn
    /// down).
    pub turn_wait: Duration,
}

impl Default for TransactionLimits {
    fn default() -> Self {
        TransactionLimits {
            per_grant: 100,
            idle: Duration::from_secs(60),
            lifetime: Duration::from_secs(3600),
            max_pending_bytes: 64 << 20,
            turn_wait: Duration::from_secs(10),
        }
    }
}

/// What the server's clock reads (tests give their own).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

struct Open {
    owner: u32,
    /// The client address that began it.
    peer: Option<SocketAddr>,
    began: Instant,
    last_used: Instant,
    tx: Transaction,
}

/// The open transactions of the server.
pub struct Transactions {
    limits: TransactionLimits,
    clock: Clock,
    open: Mutex<HashMap<String, Open>>,
}

fn random_name() -> Result<String, Status> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Status::internal(format!("no randomness for a handle: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Transactions {
    /// None open yet; time read from `clock`.
    pub fn new(limits: TransactionLimits, clock: Clock) -> Self {
        Transactions {
            limits,
            clock,
            open: Mutex::default(),
        }
    }

    /// The bounds.
    pub fn limits(&self) -> &TransactionLimits {
        &self.limits
    }

    fn missing(handle: &str) -> Status {
        Status::not_found(format!(
            "no open transaction '{handle}' (committed, rolled back, expired, or never begun): a statement naming it does not run"
        ))
    }

    /// Begins a transaction in `session` for `grant`, asked from `peer`; returns its handle.
    pub fn begin(
        &self,
        grant: &Grant,
        session: &Quiver,
        peer: Option<SocketAddr>,
    ) -> Result<String, Status> {
        let name = random_name()?;
        let mut open = self.open.lock();
        let held = open.values().filter(|o| o.owner == grant.id).count();
        if held >= self.limits.per_grant {
            return Err(Status::resource_exhausted(format!(
                "this token holds {held} open transactions, the most allowed: commit or roll back some"
            )));
        }
        let tx = session.begin_with(TransactionOptions {
            max_pending_bytes: self.limits.max_pending_bytes,
            ..TransactionOptions::default()
        });
        tx.wait_for_turn(self.limits.turn_wait);
        let now = (self.clock)();
        open.insert(
            name.clone(),
            Open {
                owner: grant.id,
                peer,
                began: now,
                last_used: now,
                tx,
            },
        );
        Ok(name)
    }

    /// The open transaction `handle` of `grant` (`NotFound` for anything else).
    pub fn get(&self, grant: &Grant, handle: &str) -> Result<Transaction, Status> {
        let mut open = self.open.lock();
        match open.get_mut(handle) {
            Some(o) if o.owner == grant.id && o.tx.is_open() => {
                o.last_used = (self.clock)();
                Ok(o.tx.clone())
            }
            _ => Err(Self::missing(handle)),
        }
    }

    /// The transaction a prepared statement created in `handle` runs in: that one while it
    /// is open, else the one transaction `grant` has open from `peer` (the connection's
    /// next transaction: ADBC keeps prepared statements across commits). Never none: a
    /// statement that cannot be placed fails rather than autocommit.
    pub fn resolve(
        &self,
        grant: &Grant,
        handle: &str,
        peer: Option<SocketAddr>,
    ) -> Result<Transaction, Status> {
        if let Ok(tx) = self.get(grant, handle) {
            return Ok(tx);
        }
        let mut open = self.open.lock();
        let mut current = open
            .values_mut()
            .filter(|o| o.owner == grant.id && peer.is_some() && o.peer == peer && o.tx.is_open());
        match (current.next(), current.next()) {
            (Some(o), None) => {
                o.last_used = (self.clock)();
                Ok(o.tx.clone())
            }
            _ => Err(Status::failed_precondition(format!(
                "the transaction '{handle}' this statement was prepared in has ended, and its connection has no other transaction open: prepare the statement again (it never runs on its own)"
            ))),
        }
    }

    /// `grant`'s transaction `handle`, open or not, to end it: a transaction whose COMMIT
    /// failed keeps its handle until the client's ROLLBACK, which then succeeds (ADBC begins
    /// its next transaction only after that).
    pub fn entry(&self, grant: &Grant, handle: &str) -> Result<Transaction, Status> {
        let mut open = self.open.lock();
        match open.get_mut(handle) {
            Some(o) if o.owner == grant.id => {
                o.last_used = (self.clock)();
                Ok(o.tx.clone())
            }
            _ => Err(Self::missing(handle)),
        }
    }

    /// Forgets a handle (its transaction ended).
    pub fn forget(&self, handle: &str) {
        self.open.lock().remove(handle);
    }

    /// Rolls back the transactions idle past the idle timeout or open past their lifetime,
    /// and forgets them (and the handles of failed commits no ROLLBACK came for); returns
    /// how many were rolled back.
    pub fn sweep(&self) -> usize {
        let now = (self.clock)();
        let expired: Vec<Transaction> = {
            let mut open = self.open.lock();
            let names: Vec<String> = open
                .iter()
                .filter(|(_, o)| {
                    now.saturating_duration_since(o.last_used) >= self.limits.idle
                        || now.saturating_duration_since(o.began) >= self.limits.lifetime
                })
                .map(|(n, _)| n.clone())
                .collect();
            names
                .iter()
                .filter_map(|n| open.remove(n))
                .filter(|o| o.tx.is_open())
                .map(|o| o.tx)
                .collect()
        };
        for tx in &expired {
            tx.core().rollback();
        }
        expired.len()
    }

    /// How many are open.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.open.lock().len()
    }
}

#[cfg(test)]
mod tests {
    //! The registry's bounds, with a clock the test moves: idle and lifetime expiry roll
    //! back (the store's transaction is over, its snapshot and writes freed), the per-token
    //! cap, handles bound to their token, and many transactions abandoned at once.

    use std::sync::atomic::{AtomicU64, Ordering};

    use indexed_store::{Database, TransactionStatus};

    use super::*;

    struct Fixture {
        session: Quiver,
        db: Arc<Database>,
        now_ms: Arc<AtomicU64>,
        registry: Transactions,
    }

    fn fixture(limits: TransactionLimits) -> Fixture {
        let db = Arc::new(Database::in_memory().unwrap());
        let base = Instant::now();
        let now_ms = Arc::new(AtomicU64::new(0));
        let clock: Clock = {
            let now_ms = now_ms.clone();
            Arc::new(move || base + Duration::from_millis(now_ms.load(Ordering::SeqCst)))
        };
        Fixture {
            session: Quiver::new(db.clone()),
            db,
            now_ms,
            registry: Transactions::new(limits, clock),
        }
    }

    impl Fixture {
        fn advance(&self, d: Duration) {
            self.now_ms
                .fetch_add(d.as_millis() as u64, Ordering::SeqCst);
        }
    }

    /// The rows of `t`.
    async fn count(session: &Quiver) -> i64 {
        use datafusion::arrow::array::{Array, Int64Array};
        let batches = session
            .sql("SELECT count(*) FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let column = batches[0].column(0);
        column
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    }

    fn grant(id: u32) -> Grant {
        Grant {
            id,
            namespace: None,
        }
    }

    fn limits() -> TransactionLimits {
        TransactionLimits {
            per_grant: 3,
            idle: Duration::from_secs(60),
            lifetime: Duration::from_secs(600),
            max_pending_bytes: 1 << 20,
            turn_wait: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn an_idle_transaction_is_rolled_back_and_its_handle_forgotten() {
        let f = fixture(limits());
        f.session
            .sql("CREATE TABLE t (id BIGINT PRIMARY KEY)")
            .await
            .unwrap();
        let h = f.registry.begin(&grant(1), &f.session, None).unwrap();
        let tx = f.registry.get(&grant(1), &h).unwrap();
        tx.query("INSERT INTO t VALUES (1)").await.unwrap();
        f.advance(Duration::from_secs(59));
        assert_eq!(f.registry.sweep(), 0);
        // Using it again restarts the idle time.
        f.registry.get(&grant(1), &h).unwrap();
        f.advance(Duration::from_secs(59));
        assert_eq!(f.registry.sweep(), 0);
        f.advance(Duration::from_secs(1));
        assert_eq!(f.registry.sweep(), 1);
        assert_eq!(tx.status(), TransactionStatus::RolledBack);
        assert!(
            f.db.transactions().is_empty(),
            "the store's transaction is over"
        );
        assert_eq!(
            f.registry.get(&grant(1), &h).unwrap_err().code(),
            tonic::Code::NotFound
        );
        assert!(tx.query("SELECT 1").await.is_err(), "never autocommits");
        assert_eq!(count(&f.session).await, 0);
    }

    #[tokio::test]
    async fn a_transaction_in_use_is_rolled_back_at_the_end_of_its_lifetime() {
        let f = fixture(limits());
        let h = f.registry.begin(&grant(1), &f.session, None).unwrap();
        for _ in 0..10 {
            f.advance(Duration::from_secs(59));
            f.registry.get(&grant(1), &h).unwrap();
            assert_eq!(f.registry.sweep(), 0);
        }
        f.advance(Duration::from_secs(10));
        assert_eq!(f.registry.sweep(), 1);
        assert!(f.registry.get(&grant(1), &h).is_err());
    }

    #[tokio::test]
    async fn handles_are_bound_to_their_token_and_capped_per_token() {
        let f = fixture(limits());
        let handles: Vec<String> = (0..3)
            .map(|_| f.registry.begin(&grant(1), &f.session, None).unwrap())
            .collect();
        let refused = f.registry.begin(&grant(1), &f.session, None).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        // Another token has its own allowance and cannot see these.
        f.registry.begin(&grant(2), &f.session, None).unwrap();
        assert_eq!(
            f.registry.get(&grant(2), &handles[0]).unwrap_err().code(),
            tonic::Code::NotFound
        );
        assert_eq!(
            f.registry.entry(&grant(2), &handles[0]).unwrap_err().code(),
            tonic::Code::NotFound
        );
        // Ending one frees its place; its handle is then unknown.
        f.registry
            .entry(&grant(1), &handles[0])
            .unwrap()
            .rollback()
            .await;
        f.registry.forget(&handles[0]);
        assert!(f.registry.get(&grant(1), &handles[0]).is_err());
        f.registry.begin(&grant(1), &f.session, None).unwrap();
    }

    #[tokio::test]
    async fn two_hundred_abandoned_transactions_are_all_rolled_back() {
        let f = fixture(TransactionLimits {
            per_grant: 100,
            ..limits()
        });
        f.session
            .sql("CREATE TABLE t (id BIGINT PRIMARY KEY)")
            .await
            .unwrap();
        for i in 0..200u32 {
            let g = grant(i % 2);
            let h = f.registry.begin(&g, &f.session, None).unwrap();
            let tx = f.registry.get(&g, &h).unwrap();
            tx.query(&format!("INSERT INTO t VALUES ({i})"))
                .await
                .unwrap();
            // The client goes away without a word.
        }
        assert_eq!(f.db.transactions().len(), 200);
        f.advance(Duration::from_secs(60));
        assert_eq!(f.registry.sweep(), 200);
        assert_eq!(f.registry.len(), 0);
        assert!(f.db.transactions().is_empty());
        assert_eq!(count(&f.session).await, 0);
        // The server goes on: a new transaction commits.
        let h = f.registry.begin(&grant(0), &f.session, None).unwrap();
        let tx = f.registry.entry(&grant(0), &h).unwrap();
        tx.query("INSERT INTO t VALUES (1)").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&f.session).await, 1);
    }

    /// A prepared statement of an ended transaction runs in its connection's next one
    /// (ADBC's DB-API keeps prepared statements across `commit()`), never on its own.
    #[tokio::test]
    async fn a_statement_of_an_ended_transaction_follows_its_connection() {
        let f = fixture(limits());
        let (p, q): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1000".parse().unwrap(),
            "127.0.0.1:2000".parse().unwrap(),
        );
        let first = f.registry.begin(&grant(1), &f.session, Some(p)).unwrap();
        f.registry
            .entry(&grant(1), &first)
            .unwrap()
            .rollback()
            .await;
        f.registry.forget(&first);
        let none = f.registry.resolve(&grant(1), &first, Some(p)).unwrap_err();
        assert_eq!(none.code(), tonic::Code::FailedPrecondition);
        let next = f.registry.begin(&grant(1), &f.session, Some(p)).unwrap();
        f.registry.begin(&grant(1), &f.session, Some(q)).unwrap();
        let tx = f.registry.resolve(&grant(1), &first, Some(p)).unwrap();
        assert_eq!(
            tx.core().id(),
            f.registry.get(&grant(1), &next).unwrap().core().id()
        );
        // Another token from the same address, or no address, finds nothing.
        assert!(f.registry.resolve(&grant(2), &first, Some(p)).is_err());
        assert!(f.registry.resolve(&grant(1), &first, None).is_err());
        // Two open from one address: ambiguous, refused.
        f.registry.begin(&grant(1), &f.session, Some(p)).unwrap();
        assert!(f.registry.resolve(&grant(1), &first, Some(p)).is_err());
    }
}
