//! Errors of the indexed store.

use kv_store::KvError;

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// What went wrong; every variant names the table, index, column or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] KvError),

    /// Insert of a primary key that already exists. Use upsert to overwrite.
    #[error("duplicate primary key {key} in table '{table}'")]
    DuplicateKey {
        /// Table.
        table: String,
        /// The key, as SQL-ish text.
        key: String,
    },

    /// A unique index already holds this value for another row. Nothing was written.
    #[error("unique index '{index}' on table '{table}' already contains {value}")]
    UniqueViolation {
        /// Table.
        table: String,
        /// Index.
        index: String,
        /// The indexed value(s).
        value: String,
    },

    /// Update of a primary key that does not exist. Use upsert to create it.
    #[error("no row with primary key {key} in table '{table}'")]
    NotFound {
        /// Table.
        table: String,
        /// The key.
        key: String,
    },

    /// A bulk load failed and deleting the rows it had already written failed too: those
    /// rows remain. Delete them (or drop the table) before loading again.
    #[error("load into '{table}' failed ({cause}) and {remaining} rows it wrote could not be removed: {source}")]
    LoadNotUndone {
        /// Table.
        table: String,
        /// Why the load failed.
        cause: String,
        /// Rows of the load still in the table.
        remaining: u64,
        /// Why deleting them failed.
        source: Box<StoreError>,
    },

    /// The source of a bulk load failed part way (an unreadable file, a value that does
    /// not convert); the rows the load had written were removed again. The caller holds
    /// the source's own error.
    #[error("the rows for a load into '{table}' stopped coming; what it wrote was undone")]
    LoadInputFailed {
        /// Table.
        table: String,
    },

    /// A job operation that its current state does not allow (completing a job whose lease
    /// another worker holds, cancelling a finished job...). Nothing was written; read the
    /// job again to see where it stands.
    #[error("job '{job_id}' is {status} and cannot become {wanted}: {reason}")]
    InvalidTransition {
        /// The job.
        job_id: String,
        /// Its current status.
        status: String,
        /// The status asked for.
        wanted: String,
        /// Why not.
        reason: String,
    },

    /// A job or queue request that cannot work (no queue name, a negative delay...).
    #[error("invalid job request: {0}")]
    InvalidJob(String),

    /// Data in a format newer than this build reads. Open it with a newer Quiver.
    #[error("{what} is stored in format {found}, newer than this Quiver reads (up to {supported}): open the database with a newer Quiver")]
    UnsupportedFormat {
        /// What (for example "table 'jobs'").
        what: String,
        /// The format found.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },

    /// No table of that name.
    #[error("unknown table '{0}'")]
    UnknownTable(String),

    /// A table of that name exists already.
    #[error("table '{0}' already exists")]
    TableExists(String),

    /// A view of that name exists already. Use CREATE OR REPLACE VIEW to change it.
    #[error("view '{0}' already exists (use CREATE OR REPLACE VIEW to change it)")]
    ViewExists(String),

    /// No view of that name.
    #[error("unknown view '{0}'")]
    UnknownView(String),

    /// A table or view that views are defined over cannot be dropped. Drop the views first,
    /// or drop with CASCADE to drop them too.
    #[error("cannot drop {kind} '{name}': used by view {}; drop the view first or add CASCADE", views.join(", "))]
    InUse {
        /// "table" or "view".
        kind: &'static str,
        /// The table or view.
        name: String,
        /// The views that use it.
        views: Vec<String>,
    },

    /// ALTER TABLE that would change what views over the table read (renaming or dropping
    /// a column, renaming the table). Drop the views, alter, and create them again.
    #[error("cannot {change} of table '{table}': view {} reads it; drop the view first and create it again after", views.join(", "))]
    AlterInUse {
        /// The table.
        table: String,
        /// What the ALTER does ("rename column 'a'").
        change: String,
        /// The views over the table.
        views: Vec<String>,
    },

    /// A column of that name exists already in the table.
    #[error("column '{column}' already exists in table '{table}'")]
    ColumnExists {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },

    /// A column the table's key, an index or its TTL uses cannot be dropped. Drop the index
    /// first (a key or TTL column cannot be dropped at all).
    #[error("cannot drop column '{column}' of table '{table}': {used_by} uses it")]
    ColumnInUse {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What uses it ("index 'by_status'", "the primary key", "the TTL").
        used_by: String,
    },

    /// A view that would (through other views) be defined over itself.
    #[error("view '{view}' would be defined over itself (through '{through}')")]
    ViewCycle {
        /// The view being defined.
        view: String,
        /// The view it reaches itself through.
        through: String,
    },

    /// No index of that name on the table.
    #[error("unknown index '{index}' on table '{table}'")]
    UnknownIndex {
        /// Table.
        table: String,
        /// Index.
        index: String,
    },

    /// An index of that name exists already.
    #[error("index '{index}' already exists on table '{table}'")]
    IndexExists {
        /// Table.
        table: String,
        /// Index.
        index: String,
    },

    /// No column of that name in the table.
    #[error("unknown column '{column}' in table '{table}'")]
    UnknownColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },

    /// A value does not fit its column.
    #[error("column '{column}' of table '{table}' is {expected}, got {got}")]
    TypeMismatch {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// The column's type.
        expected: String,
        /// What was given.
        got: String,
    },

    /// NULL given for a NOT NULL or primary-key column.
    #[error("column '{column}' of table '{table}' cannot be NULL")]
    NullViolation {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },

    /// A table or index definition that cannot work, with the reason.
    #[error("invalid definition of '{name}': {reason}")]
    InvalidDefinition {
        /// Table or index.
        name: String,
        /// Why.
        reason: String,
    },

    /// An index on the field a table's TTL expires by: entries would outlive their rows'
    /// meaning. Index another column, or drop the TTL.
    #[error("index '{index}' on table '{table}' uses column '{column}', the field the table's TTL expires by")]
    IndexOnExpiringField {
        /// Table.
        table: String,
        /// Index.
        index: String,
        /// Column.
        column: String,
    },

    /// The table is built in (jobs, users, lists) and cannot be changed that way.
    #[error("'{0}' is a system table: {1}")]
    SystemTable(String, &'static str),

    /// An access path that does not fit the index it names.
    #[error("invalid access path on '{index}': {reason}")]
    InvalidAccessPath {
        /// Index.
        index: String,
        /// Why.
        reason: String,
    },

    /// Stored bytes that do not decode: the database is damaged or from another version.
    #[error("corrupt data in partition '{partition}': {reason}")]
    Corrupt {
        /// Where.
        partition: String,
        /// What failed to decode.
        reason: String,
    },

    /// A key that does not decode.
    #[error("corrupt key: {0}")]
    Codec(#[from] CodecError),

    /// A transaction's commit (or a write inside it) would lose another transaction's
    /// change, or under SERIALIZABLE read what another one changed. Nothing was written:
    /// roll back and run the transaction again.
    #[error(
        "could not serialize access to '{table}': {reason}; roll back and retry the transaction"
    )]
    SerializationFailure {
        /// The table.
        table: String,
        /// What changed.
        reason: String,
    },

    /// A transaction's pending writes passed its cap: it was rolled back and its memory
    /// freed. Commit in smaller transactions.
    #[error("the transaction's pending writes passed {limit} bytes; it was rolled back (commit in smaller transactions)")]
    TransactionTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },

    /// A statement of the transaction failed before: only ROLLBACK (or ROLLBACK TO a
    /// savepoint) is accepted now.
    #[error("the transaction is aborted ({0}): statements are refused until ROLLBACK")]
    TransactionFailed(String),

    /// The transaction is over (committed or rolled back); begin a new one.
    #[error("the transaction is over ({0})")]
    TransactionClosed(String),

    /// ROLLBACK TO or RELEASE named no savepoint of the transaction.
    #[error("no savepoint '{0}' in this transaction")]
    UnknownSavepoint(String),

    /// A write in a READ ONLY transaction.
    #[error("cannot write table '{0}' in a READ ONLY transaction")]
    ReadOnlyTransaction(String),

    /// A background task failed (spawn_blocking join error).
    #[error("background task failed: {0}")]
    Task(String),
}

/// A key that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The key ended in the middle of a value.
    #[error("key truncated at byte {0}")]
    Truncated(usize),
    /// A byte that starts no known value.
    #[error("unknown type tag 0x{tag:02x} at byte {at}")]
    UnknownTag {
        /// The byte.
        tag: u8,
        /// Its offset.
        at: usize,
    },
    /// TEXT whose bytes are not UTF-8.
    #[error("text value is not valid UTF-8")]
    InvalidUtf8,
    /// A number whose integer part does not fit a 64-bit integer (bytes no encoder wrote).
    #[error("invalid number at byte {at}")]
    InvalidNumber {
        /// Its offset.
        at: usize,
    },
}
