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
