//! Transactions: statements grouped into one atomic write, reading one snapshot.
//!
//! # The life of a transaction
//!
//! 1. [`Database::begin`] makes the transaction; its first statement (not BEGIN, as in
//!    PostgreSQL) registers it with the database's write versions (`kv_store::Versions`)
//!    and takes its snapshot in the same instant: every write is either in the snapshot or
//!    recorded as after it. (A client that begins its next transaction as soon as it
//!    commits, as ADBC does, then reads what was committed up to its next statement.)
//! 2. Its statements read [`Transaction::statement_view`]: the snapshot with the writes of
//!    the statements before, merged in key order (`kv_store::Overlay`), through every access
//!    path (point reads, index walks either way, covered scans, skip scans, counters).
//! 3. Its writes are checked against what it sees, as an autocommit write is against the
//!    database, then held in memory ([`Staging::stage`]); nothing reaches RocksDB.
//! 4. [`Transaction::commit`] locks each table it wrote (its gate and the key stripes of
//!    its writes), checks that no key it writes was committed by another writer after its
//!    snapshot (first committer wins), and under SERIALIZABLE that nothing it read was
//!    either, then writes everything as one batch. Any check failing is
//!    [`StoreError::SerializationFailure`]: nothing is written, retry the transaction.
//! 5. A rollback (or dropping an open transaction) throws the writes away and runs the
//!    undo actions of what took effect at once (job claims).
//!
//! REPEATABLE READ is snapshot isolation as PostgreSQL means it: write skew between two
//! transactions that read each other's rows is possible; SERIALIZABLE refuses the second
//! commit. A statement that fails leaves the transaction failed, as in PostgreSQL: every
//! later statement is refused until ROLLBACK, or ROLLBACK TO a savepoint taken before.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use kv_store::{
    Overlay, Pending, PendingWrites, ReadSet, ReadView, Recording, StorageBackend, Versions,
    WriteBatch,
};
use parking_lot::Mutex;

use super::handle::Database;
use super::intents::Intents;
use crate::error::{StoreError, StoreResult};
use crate::schema::Partition;
use crate::table::{system_now, Participant, Staging};

/// How a transaction is isolated from concurrent ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Snapshot isolation: one snapshot for every read, first committer wins on a row.
    #[default]
    RepeatableRead,
    /// Also refuses a commit whose reads another transaction changed: no write skew.
    Serializable,
}

impl Isolation {
    /// Its SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }
}

/// What a transaction may do, and how much it may hold.
#[derive(Debug, Clone)]
pub struct TransactionOptions {
    /// Its isolation.
    pub isolation: Isolation,
    /// READ ONLY: every write is refused.
    pub read_only: bool,
    /// The most bytes its pending writes may hold; past it the transaction is rolled back
    /// with [`StoreError::TransactionTooLarge`].
    pub max_pending_bytes: usize,
    /// Who opened it (a namespace, for `sys.transactions`).
    pub owner: String,
}

impl Default for TransactionOptions {
    fn default() -> Self {
        TransactionOptions {
            isolation: Isolation::default(),
            read_only: false,
            max_pending_bytes: 64 << 20,
            owner: "public".into(),
        }
    }
}

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionStatus {
    /// Statements may run.
    Active,
    /// A statement failed: only ROLLBACK (or ROLLBACK TO a savepoint) is accepted.
    Failed(String),
    /// Committed.
    Committed,
    /// Rolled back.
    RolledBack,
}

/// An open transaction's row in `sys.transactions`.
#[derive(Debug, Clone)]
pub struct TransactionInfo {
    /// Its number, unique in this process.
    pub id: u64,
    /// Who opened it.
    pub owner: String,
    /// Its isolation.
    pub isolation: Isolation,
    /// READ ONLY.
    pub read_only: bool,
    /// When it began (µs since the epoch).
    pub started_at: i64,
    /// Rows it has written (inserted, changed or deleted) and not committed.
    pub pending_rows: usize,
    /// Bytes its pending writes hold.
    pub pending_bytes: usize,
    /// Where it stands.
    pub status: TransactionStatus,
}

/// A transaction of a [`Database`] (see the module doc).
pub struct Transaction {
    db: Weak<Database>,
    id: u64,
    options: TransactionOptions,
    started_at: i64,
    /// What its snapshot is taken from (held, so the snapshot can be taken without the
    /// database handle).
    versions: Arc<Versions>,
    backend: Arc<dyn StorageBackend>,
    intents: Arc<Intents>,
    reads: Option<Arc<ReadSet>>,
    state: Mutex<State>,
}

struct State {
    /// Its snapshot and the version it was taken at (see `kv_store::Versions`), from its
    /// first statement on.
    snapshot: Option<(u64, Arc<dyn ReadView>)>,
    pending: PendingWrites,
    participants: BTreeMap<String, Arc<dyn Participant>>,
    /// Keys whose write is based on a read of the database after the snapshot.
    bases: HashMap<(Arc<str>, Vec<u8>), u64>,
    undo: Vec<Box<dyn FnOnce() + Send>>,
    /// The keys it holds intents on (see `intents.rs`), given back when it ends.
    intents: Vec<(Arc<str>, Vec<u8>)>,
    savepoints: Vec<Savepoint>,
    /// The state at the start of the running statement: what its failure goes back to.
    statement: Option<Box<Savepoint>>,
    /// What the running statement reads.
    view: Option<Arc<dyn ReadView>>,
    status: TransactionStatus,
}

struct Savepoint {
    name: String,
    pending: PendingWrites,
    participants: BTreeMap<String, Arc<dyn Participant>>,
    bases: HashMap<(Arc<str>, Vec<u8>), u64>,
    undo_len: usize,
}

impl State {
    fn mark(&self, name: &str) -> Savepoint {
        Savepoint {
            name: name.to_owned(),
            pending: self.pending.clone(),
            participants: self.participants.clone(),
            bases: self.bases.clone(),
            undo_len: self.undo.len(),
        }
    }

    /// Back to a savepoint: its writes, and the undo actions taken since run now.
    fn restore(&mut self, to: &Savepoint) {
        self.pending = to.pending.clone();
        self.participants = to.participants.clone();
        self.bases = to.bases.clone();
        for undo in self.undo.drain(to.undo_len..).rev() {
            undo();
        }
    }
}

impl Database {
    /// Begins a transaction (see [`Transaction`]). It ends with `commit` or `rollback`;
    /// dropped while open, it rolls back.
    pub fn begin(self: &Arc<Self>, options: TransactionOptions) -> Arc<Transaction> {
        let id = self.next_transaction.fetch_add(1, Ordering::Relaxed) + 1;
        let tx = Arc::new(Transaction {
            db: Arc::downgrade(self),
            id,
            reads: (options.isolation == Isolation::Serializable).then(|| Arc::new(ReadSet::new())),
            options,
            started_at: system_now(),
            versions: self.versions.clone(),
            backend: self.backend.clone(),
            intents: self.intents.clone(),
            state: Mutex::new(State {
                snapshot: None,
                pending: PendingWrites::new(),
                participants: BTreeMap::new(),
                bases: HashMap::new(),
                undo: Vec::new(),
                intents: Vec::new(),
                savepoints: Vec::new(),
                statement: None,
                view: None,
                status: TransactionStatus::Active,
            }),
        });
        self.transactions.lock().insert(id, Arc::downgrade(&tx));
        tx
    }

    /// The open transactions, oldest first.
    pub fn transactions(&self) -> Vec<TransactionInfo> {
        let open: Vec<Arc<Transaction>> = {
            let mut map = self.transactions.lock();
            map.retain(|_, t| t.strong_count() > 0);
            map.values().filter_map(Weak::upgrade).collect()
        };
        let mut infos: Vec<TransactionInfo> = open.iter().map(|t| t.info()).collect();
        infos.sort_by_key(|i| i.id);
        infos
    }
}

impl Transaction {
    /// Its number.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How it was begun.
    pub fn options(&self) -> &TransactionOptions {
        &self.options
    }

    /// When it began (µs since the epoch).
    pub fn started_at(&self) -> i64 {
        self.started_at
    }

    /// Where it stands.
    pub fn status(&self) -> TransactionStatus {
        self.state.lock().status.clone()
    }

    /// Its row of `sys.transactions`.
    pub fn info(&self) -> TransactionInfo {
        let state = self.state.lock();
        TransactionInfo {
            id: self.id,
            owner: self.options.owner.clone(),
            isolation: self.options.isolation,
            read_only: self.options.read_only,
            started_at: self.started_at,
            pending_rows: state
                .pending
                .keys()
                .filter(|(partition, _, _)| Partition::is_records(partition))
                .count(),
            pending_bytes: state.pending.bytes(),
            status: state.status.clone(),
        }
    }

    /// Bytes of the writes waiting for COMMIT.
    pub fn pending_bytes(&self) -> usize {
        self.state.lock().pending.bytes()
    }

    fn db(&self) -> StoreResult<Arc<Database>> {
        self.db
            .upgrade()
            .ok_or_else(|| StoreError::TransactionClosed("its database was closed".into()))
    }

    /// Refuses anything but ROLLBACK on a transaction that is not active.
    fn check_active(state: &State) -> StoreResult<()> {
        match &state.status {
            TransactionStatus::Active => Ok(()),
            TransactionStatus::Failed(why) => Err(StoreError::TransactionFailed(why.clone())),
            TransactionStatus::Committed => Err(StoreError::TransactionClosed("committed".into())),
            TransactionStatus::RolledBack => {
                Err(StoreError::TransactionClosed("rolled back".into()))
            }
        }
    }

    /// Starts a statement: its reads see the writes of the statements before it (not its
    /// own), and its failure undoes its writes and fails the transaction. Returns the view
    /// the statement reads.
    pub fn begin_statement(&self) -> StoreResult<Arc<dyn ReadView>> {
        let mut state = self.state.lock();
        Self::check_active(&state)?;
        state.statement = Some(Box::new(state.mark("")));
        let view = self.overlay(&mut state);
        state.view = Some(view.clone());
        Ok(view)
    }

    /// Ends the running statement: on failure its writes are undone and the transaction
    /// fails with `error` (only ROLLBACK is accepted after it).
    pub fn end_statement(&self, failure: Option<&str>) {
        let mut state = self.state.lock();
        state.view = None;
        let Some(mark) = state.statement.take() else {
            return;
        };
        if let (Some(why), TransactionStatus::Active) = (failure, &state.status) {
            state.restore(&mark);
            state.status = TransactionStatus::Failed(why.to_owned());
        }
    }

    /// Ends a statement whose rows were dropped before their end: one that wrote nothing
    /// yet (a query read only in part) ends as if it finished; one that wrote is undone and
    /// fails the transaction, as a cancelled statement does in PostgreSQL.
    pub fn cancel_statement(&self) {
        let wrote = {
            let state = self.state.lock();
            match &state.statement {
                Some(mark) => {
                    mark.pending.bytes() != state.pending.bytes()
                        || mark.undo_len != state.undo.len()
                }
                None => false,
            }
        };
        self.end_statement(wrote.then_some("the statement was cancelled before it finished"));
    }

    /// True once it has written something (or claimed jobs): what it would commit or
    /// roll back.
    pub fn has_written(&self) -> bool {
        let state = self.state.lock();
        !state.pending.is_empty() || !state.undo.is_empty()
    }

    /// Takes its snapshot again, now, forgetting what it read: what lets DDL run inside a
    /// transaction that has written nothing (on its own, as if the transaction had ended
    /// just before it and begun again after it; nothing is lost, as there is nothing to
    /// commit) and the transaction see what the DDL made. Refused once it has written.
    pub fn restart(&self) -> StoreResult<()> {
        let db = self.db()?;
        let mut state = self.state.lock();
        Self::check_active(&state)?;
        if !state.pending.is_empty() || !state.undo.is_empty() {
            return Err(StoreError::Task(
                "a transaction that has written cannot take a new snapshot".into(),
            ));
        }
        // The next statement takes a new one.
        if let Some((old, _)) = state.snapshot.take() {
            db.versions.end(old);
        }
        state.bases.clear();
        if let Some(reads) = &self.reads {
            reads.clear();
        }
        Ok(())
    }

    /// What the running statement reads (see [`begin_statement`](Self::begin_statement));
    /// between statements, the snapshot with every write so far.
    pub fn statement_view(&self) -> Arc<dyn ReadView> {
        let mut state = self.state.lock();
        match &state.view {
            Some(view) => view.clone(),
            None => self.overlay(&mut state),
        }
    }

    /// The snapshot with every write so far, the running statement's included: what its
    /// writes are checked against (a key it inserted is taken for the next one).
    pub fn latest_view(&self) -> Arc<dyn ReadView> {
        self.overlay(&mut self.state.lock())
    }

    /// Its snapshot's version, the snapshot taken now if no statement has taken it yet.
    fn start(&self, state: &mut State) -> u64 {
        self.snapshot(state).0
    }

    fn snapshot(&self, state: &mut State) -> (u64, Arc<dyn ReadView>) {
        state
            .snapshot
            .get_or_insert_with(|| {
                let (start, view) = self.versions.begin(&*self.backend);
                (start, Arc::from(view))
            })
            .clone()
    }

    fn overlay(&self, state: &mut State) -> Arc<dyn ReadView> {
        let (_, base) = self.snapshot(state);
        let view: Arc<dyn ReadView> = Arc::new(Overlay::new(base, state.pending.clone()));
        match &self.reads {
            Some(reads) => Arc::new(Recording::new(view, reads.clone())),
            None => view,
        }
    }

    /// `SAVEPOINT name`.
    pub fn savepoint(&self, name: &str) -> StoreResult<()> {
        let mut state = self.state.lock();
        Self::check_active(&state)?;
        let mark = state.mark(name);
        state.savepoints.push(mark);
        Ok(())
    }

    /// `ROLLBACK TO [SAVEPOINT] name`: back to the writes as they were then; the savepoint
    /// stays, and a failed transaction is active again.
    pub fn rollback_to(&self, name: &str) -> StoreResult<()> {
        let mut state = self.state.lock();
        if matches!(
            state.status,
            TransactionStatus::Committed | TransactionStatus::RolledBack
        ) {
            Self::check_active(&state)?;
        }
        let at = Self::savepoint_position(&state, name)?;
        state.savepoints.truncate(at + 1);
        let mark = state.savepoints.pop().expect("the savepoint just found");
        state.restore(&mark);
        state.savepoints.push(mark);
        state.status = TransactionStatus::Active;
        Ok(())
    }

    /// `RELEASE [SAVEPOINT] name`: forgets it and the savepoints after it, keeping the writes.
    pub fn release(&self, name: &str) -> StoreResult<()> {
        let mut state = self.state.lock();
        Self::check_active(&state)?;
        let at = Self::savepoint_position(&state, name)?;
        state.savepoints.truncate(at);
        Ok(())
    }

    fn savepoint_position(state: &State, name: &str) -> StoreResult<usize> {
        state
            .savepoints
            .iter()
            .rposition(|s| s.name == name)
            .ok_or_else(|| StoreError::UnknownSavepoint(name.to_owned()))
    }

    /// Throws the writes away and runs the undo actions (claims given back). A transaction
    /// that is already over is left as it is.
    pub fn rollback(&self) {
        let undo = {
            let mut state = self.state.lock();
            if matches!(
                state.status,
                TransactionStatus::Committed | TransactionStatus::RolledBack
            ) {
                return;
            }
            state.status = TransactionStatus::RolledBack;
            state.pending = PendingWrites::new();
            state.participants.clear();
            state.savepoints.clear();
            std::mem::take(&mut state.undo)
        };
        for u in undo.into_iter().rev() {
            u();
        }
        self.finish();
    }

    fn finish(&self) {
        let (snapshot, intents) = {
            let mut state = self.state.lock();
            (state.snapshot.take(), std::mem::take(&mut state.intents))
        };
        self.intents.release(self.id, &intents);
        if let Some((start, _)) = snapshot {
            self.versions.end(start);
        }
        if let Some(db) = self.db.upgrade() {
            db.transactions.lock().remove(&self.id);
        }
    }

    /// Commits: checks the writes (and under SERIALIZABLE the reads) against what other
    /// writers committed since the snapshot and writes them as one batch, or writes nothing
    /// and fails with [`StoreError::SerializationFailure`] (the transaction is then rolled
    /// back). A failed transaction is rolled back and its failure returned.
    pub fn commit(&self) -> StoreResult<()> {
        let result = self.try_commit();
        match &result {
            Ok(()) => self.finish(),
            Err(_) => self.rollback(),
        }
        result
    }

    fn try_commit(&self) -> StoreResult<()> {
        let db = self.db()?;
        let mut state = self.state.lock();
        if let TransactionStatus::Failed(why) = &state.status {
            return Err(StoreError::TransactionFailed(why.clone()));
        }
        Self::check_active(&state)?;
        if state.pending.is_empty() {
            state.status = TransactionStatus::Committed;
            return Ok(());
        }
        // Taken by the first write, as any read is: this only looks it up.
        let start = self.start(&mut state);
        let _serial = (self.options.isolation == Isolation::Serializable)
            .then(|| db.serializable_commits.lock());
        let held: Vec<Box<dyn crate::table::Held + '_>> = state
            .participants
            .values()
            .map(|p| {
                let keys: Vec<(&str, &[u8])> = state
                    .pending
                    .keys()
                    .filter(|(part, _, op)| p.owns(part) && !matches!(op, Pending::Add(_)))
                    .map(|(part, key, _)| (part, key))
                    .collect();
                p.lock(&keys)
            })
            .collect();
        self.check_commit(&db, &state, start)?;
        let batch: WriteBatch = state.pending.to_batch();
        db.backend.write(batch.clone())?;
        for p in state.participants.values() {
            p.committed(&batch);
        }
        drop(held);
        state.status = TransactionStatus::Committed;
        state.undo.clear();
        Ok(())
    }

    /// The checks of a commit, under the locks of what it writes.
    fn check_commit(&self, db: &Database, state: &State, start: u64) -> StoreResult<()> {
        if let Some(p) = state.participants.values().find(|p| !p.unchanged()) {
            return Err(StoreError::SerializationFailure {
                table: p.table(),
                reason: "the table was altered (or an index created or dropped) after the transaction began".into(),
            });
        }
        for (partition, key, op) in state.pending.keys() {
            if matches!(op, Pending::Add(_)) {
                // Counter adds commute: every writer's lands.
                continue;
            }
            let since = state
                .bases
                .get(&(Arc::from(partition), key.to_vec()))
                .copied()
                .unwrap_or(start);
            if db.versions.written_since(partition, key, since) {
                return Err(StoreError::SerializationFailure {
                    table: Partition::table_of(partition).to_owned(),
                    reason: "a row it writes was changed by another transaction after its snapshot"
                        .into(),
                });
            }
        }
        if let Some(partition) = self
            .reads
            .as_ref()
            .and_then(|r| r.written_since(&db.versions, start))
        {
            return Err(StoreError::SerializationFailure {
                table: Partition::table_of(&partition).to_owned(),
                reason: "a row it read was changed by another transaction after its snapshot (SERIALIZABLE)".into(),
            });
        }
        Ok(())
    }
}

impl Staging for Transaction {
    fn view(&self) -> Arc<dyn ReadView> {
        self.latest_view()
    }

    fn current_version(&self) -> u64 {
        self.db
            .upgrade()
            .map_or(u64::MAX, |db| db.versions.current())
    }

    fn check_unchanged(&self, table: &str, partition: &str, key: &[u8]) -> StoreResult<()> {
        let db = self.db()?;
        let since = {
            let mut state = self.state.lock();
            let start = self.start(&mut state);
            state
                .bases
                .get(&(Arc::from(partition), key.to_vec()))
                .copied()
                .unwrap_or(start)
        };
        if db.versions.written_since(partition, key, since) {
            return Err(StoreError::SerializationFailure {
                table: table.to_owned(),
                reason: "the row was changed by another transaction after this one's snapshot"
                    .into(),
            });
        }
        Ok(())
    }

    fn based_on(&self, partition: &str, key: &[u8], version: u64) {
        self.state
            .lock()
            .bases
            .entry((Arc::from(partition), key.to_vec()))
            .or_insert(version);
    }

    fn stage(&self, participant: Arc<dyn Participant>, batch: WriteBatch) -> StoreResult<()> {
        let mut state = self.state.lock();
        Self::check_active(&state)?;
        if self.options.read_only {
            return Err(StoreError::ReadOnlyTransaction(participant.table()));
        }
        let table = participant.table();
        match state.participants.get(&table) {
            Some(p) if !p.unchanged() => {
                return Err(StoreError::SerializationFailure {
                    table,
                    reason: "the table was altered after the transaction first wrote it".into(),
                })
            }
            Some(_) => {}
            None => {
                state.participants.insert(table, participant);
            }
        }
        // First writer wins: a key another open transaction has written fails this one now.
        let keys = batch
            .ops()
            .iter()
            .filter(|op| !matches!(op, kv_store::BatchOp::Add { .. }))
            .map(|op| (op.partition(), op.key()));
        match self.intents.take(self.id, keys) {
            Ok(taken) => state.intents.extend(taken),
            Err(partition) => {
                return Err(StoreError::SerializationFailure {
                    table: Partition::table_of(&partition).to_owned(),
                    reason: "a row it writes is being written by another open transaction".into(),
                })
            }
        }
        state.pending.apply(&batch)?;
        if state.pending.bytes() > self.options.max_pending_bytes {
            let limit = self.options.max_pending_bytes;
            state.pending = PendingWrites::new();
            state.status =
                TransactionStatus::Failed(format!("its pending writes passed {limit} bytes"));
            return Err(StoreError::TransactionTooLarge { limit });
        }
        Ok(())
    }

    fn on_rollback(&self, undo: Box<dyn FnOnce() + Send>) {
        self.state.lock().undo.push(undo);
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // Abandoned while open: rolled back.
        self.rollback();
    }
}
