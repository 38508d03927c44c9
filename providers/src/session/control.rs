//! The statements that control transactions: `BEGIN` / `START TRANSACTION [READ ONLY |
//! READ WRITE] [ISOLATION LEVEL ...]`, `COMMIT` (`END`), `ROLLBACK`, `SAVEPOINT name`,
//! `ROLLBACK TO [SAVEPOINT] name`, `RELEASE [SAVEPOINT] name`.

use datafusion::error::Result;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Statement, TransactionAccessMode, TransactionIsolationLevel, TransactionMode,
};
use indexed_store::Isolation;

use crate::error::SqlError;
use crate::names::ident;

/// A transaction-control statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// BEGIN or START TRANSACTION, with its isolation and whether it is READ ONLY.
    Begin {
        /// REPEATABLE READ unless SERIALIZABLE is asked for.
        isolation: Isolation,
        /// READ ONLY.
        read_only: bool,
    },
    /// COMMIT (or END).
    Commit,
    /// ROLLBACK.
    Rollback,
    /// SAVEPOINT name.
    Savepoint(String),
    /// ROLLBACK TO [SAVEPOINT] name.
    RollbackTo(String),
    /// RELEASE [SAVEPOINT] name.
    Release(String),
}

impl Control {
    /// The statement a transaction-control statement is, or None for any other.
    pub fn of(statement: &DFStatement) -> Result<Option<Control>> {
        let DFStatement::Statement(s) = statement else {
            return Ok(None);
        };
        Ok(Some(match s.as_ref() {
            Statement::StartTransaction {
                modes, statements, ..
            } => {
                if !statements.is_empty() {
                    return Err(SqlError::Unsupported {
                        what: "a BEGIN ... END block of statements".into(),
                        context: "in Quiver".into(),
                        instead: "send BEGIN, then each statement, then COMMIT".into(),
                    }
                    .into());
                }
                Self::begin(modes)?
            }
            Statement::Commit { chain: true, .. } | Statement::Rollback { chain: true, .. } => {
                return Err(SqlError::Unsupported {
                    what: "AND CHAIN".into(),
                    context: "in Quiver".into(),
                    instead: "end the transaction, then BEGIN again".into(),
                }
                .into())
            }
            Statement::Commit { .. } => Control::Commit,
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => Control::RollbackTo(ident(name)),
            Statement::Rollback { .. } => Control::Rollback,
            Statement::Savepoint { name } => Control::Savepoint(ident(name)),
            Statement::ReleaseSavepoint { name } => Control::Release(ident(name)),
            _ => return Ok(None),
        }))
    }

    fn begin(modes: &[TransactionMode]) -> Result<Control> {
        let mut isolation = Isolation::RepeatableRead;
        let mut read_only = false;
        for mode in modes {
            match mode {
                TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => read_only = true,
                TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => read_only = false,
                TransactionMode::IsolationLevel(TransactionIsolationLevel::Serializable) => {
                    isolation = Isolation::Serializable
                }
                // READ COMMITTED and READ UNCOMMITTED get the stronger snapshot isolation, as
                // PostgreSQL gives READ UNCOMMITTED its READ COMMITTED.
                TransactionMode::IsolationLevel(
                    TransactionIsolationLevel::RepeatableRead
                    | TransactionIsolationLevel::ReadCommitted
                    | TransactionIsolationLevel::ReadUncommitted
                    | TransactionIsolationLevel::Snapshot,
                ) => isolation = Isolation::RepeatableRead,
            }
        }
        Ok(Control::Begin {
            isolation,
            read_only,
        })
    }
}
