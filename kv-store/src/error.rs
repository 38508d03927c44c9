//! Errors of the storage layer.

/// Result of a storage operation.
pub type KvResult<T> = Result<T, KvError>;

/// What went wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The partition was never created or has been dropped. Create it first
    /// (`create_partition`), or check the table still exists.
    #[error("unknown partition '{0}'")]
    UnknownPartition(String),

    /// A partition name that the backend cannot store (empty, or the reserved default).
    #[error("invalid partition name '{0}': {1}")]
    InvalidPartitionName(String, &'static str),

    /// RocksDB refused an operation; the message is RocksDB's own.
    #[error("rocksdb error during {operation}: {source}")]
    Rocks {
        /// What we were doing (open, write, read, iterate, ...).
        operation: &'static str,
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },

    /// An operation the caller may not make here (a range delete inside a transaction).
    #[error("not supported: {0}")]
    Unsupported(String),

    /// Opening the database directory failed before RocksDB was reached.
    #[error("cannot open database at '{path}': {source}")]
    Open {
        /// The directory.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl KvError {
    pub(crate) fn rocks(operation: &'static str) -> impl FnOnce(rocksdb::Error) -> KvError {
        move |source| KvError::Rocks { operation, source }
    }
}
