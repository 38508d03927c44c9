//! Errors the SQL layer raises itself, typed so that a front end (the Flight SQL server's
//! status codes, the shell's messages) can match on what went wrong instead of its text.
//! They travel inside `DataFusionError::External`, like the store's errors.

use datafusion::error::DataFusionError;

/// What a SQL statement asked for that Quiver refuses.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// No table of that name in the schema. Check the name with `SHOW TABLES`.
    #[error("table '{0}' not found")]
    TableNotFound(String),

    /// No index of that name that this session can see.
    #[error("index '{0}' not found")]
    IndexNotFound(String),

    /// A session restricted to one namespace named a table of another.
    #[error(
        "table '{table}' is outside namespace '{namespace}', the only one this session may change"
    )]
    OutsideNamespace {
        /// The table named.
        table: String,
        /// The namespace the session is bound to.
        namespace: String,
    },

    /// A list (a row of `lists`) that cannot run: written, or read by id. Fix its
    /// datasource, columns, filter, sort or page size.
    #[error("list '{list}': {reason}")]
    InvalidList {
        /// The list's id.
        list: String,
        /// What is wrong with it.
        reason: String,
    },

    /// `ON CONFLICT (...)` names columns that are neither the table's primary key nor a
    /// unique index. Name one of those, or create a unique index on the columns first.
    #[error("ON CONFLICT ({columns}) matches no primary key or unique index of table '{table}': name the primary key's columns or a unique index's")]
    NoConflictKey {
        /// The table written.
        table: String,
        /// The columns the clause named.
        columns: String,
    },

    /// One INSERT ... ON CONFLICT DO UPDATE proposed two rows for the same key, so it would
    /// change one row twice. Send each key once per statement.
    #[error("ON CONFLICT DO UPDATE would change the row of table '{table}' with key {key} twice in one statement: propose each key once per statement")]
    ConflictTwice {
        /// The table written.
        table: String,
        /// The key proposed twice.
        key: String,
    },

    /// A file this session may not read or write (a Flight SQL server's sessions use files
    /// only inside the directory given to `quiver serve --files`).
    #[error("file '{path}' refused: {reason}")]
    FileRefused {
        /// The path named.
        path: String,
        /// Why.
        reason: String,
    },

    /// A table's loader could not load the rows a query needs; nothing was written and the
    /// rows loaded before are kept. Fix the upstream (or its data) and run the query again.
    #[error("loading table '{table}'{} from {upstream} failed: {problem}; its previous rows are kept", key.as_ref().map(|k| format!(" (key {k})")).unwrap_or_default())]
    LoadFailed {
        /// The table.
        table: String,
        /// The loader's URL.
        upstream: String,
        /// The key being loaded; None for a table loaded whole.
        key: Option<String>,
        /// What went wrong.
        problem: LoadProblem,
    },

    /// BEGIN while a transaction is open: COMMIT or ROLLBACK it first.
    #[error("a transaction is already in progress: COMMIT or ROLLBACK it first")]
    TransactionInProgress,

    /// SAVEPOINT, ROLLBACK TO or RELEASE outside a transaction.
    #[error("{0} can only be used in a transaction: BEGIN one first")]
    NoTransaction(&'static str),

    /// A statement of a transaction while another statement of it still has rows to be read
    /// (statements of one transaction run one at a time): read the other's rows to the end
    /// or drop them first.
    #[error("transaction {0} is still running a statement: read its rows to the end (or drop them) first")]
    TransactionBusy(u64),

    /// A transaction handle that names no open transaction of this caller (unknown, another
    /// token's, or ended).
    #[error("transaction '{0}' is not open: begin a new one")]
    UnknownTransaction(String),

    /// A statement Quiver does not run in this context; the message says what to use.
    #[error("{what} is not supported {context}: {instead}")]
    Unsupported {
        /// The statement or clause.
        what: String,
        /// Where (for example "over Flight SQL").
        context: String,
        /// What to do instead.
        instead: String,
    },
}

impl From<SqlError> for DataFusionError {
    fn from(e: SqlError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}

/// Why a load failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadProblem {
    /// The upstream could not be reached (refused, DNS, TLS, connection lost).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// No complete answer within the loader's timeout.
    #[error("no answer within {0} s")]
    Timeout(u64),
    /// The upstream answered with an error status.
    #[error("{0}")]
    Status(String),
    /// The body or a document is not the JSON expected.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A row does not fit the table (a type, a NULL in a NOT NULL column, a wrong key).
    #[error("a row does not fit the table: {0}")]
    RowRefused(String),
}

/// A store error as DataFusion carries it (the source kept, its message unchanged).
pub(crate) fn store_err(e: indexed_store::StoreError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The store error a DataFusion error carries, if it carries one: how a caller tells a
/// serialization failure (`StoreError::SerializationFailure`: roll back and retry), a
/// duplicate key or a missing row from the rest, by type.
pub fn store_error(e: &DataFusionError) -> Option<&indexed_store::StoreError> {
    match e.find_root() {
        DataFusionError::External(inner) => inner.downcast_ref::<indexed_store::StoreError>(),
        _ => None,
    }
}

/// The [`SqlError`] a DataFusion error carries, if it carries one.
pub fn sql_error(e: &DataFusionError) -> Option<&SqlError> {
    match e.find_root() {
        DataFusionError::External(inner) => inner.downcast_ref::<SqlError>(),
        _ => None,
    }
}
