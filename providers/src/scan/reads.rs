//! Where the scans of one statement read, handed to every node of its plan through the task
//! context it runs with (a `SessionConfig` extension).
//!
//! - Outside a transaction, a statement planned and run by Quiver gets a
//!   [`StatementReads::snapshot`]: the first scan that starts takes a snapshot of the
//!   database and every other scan of the statement reads the same one (a join, a UNION,
//!   subqueries, the page a `list()` reads), so a statement never sees a write land half way
//!   through it. A DataFrame from `Quiver::sql` carries a
//!   [`StatementReads::per_execution`]: each time it is collected its scans share one
//!   snapshot, told apart by the task context DataFusion hands every node of one execution.
//!   A plan run with neither reads a snapshot per scan.
//! - Inside a transaction every statement gets [`StatementReads::Transaction`]: scans read
//!   what the transaction sees (its snapshot with the writes of its statements before this
//!   one), and writes are staged in it.

use std::sync::{Arc, OnceLock, Weak};

use datafusion::execution::TaskContext;
use indexed_store::{RowAccess, RowReader, Transaction};
use kv_store::ReadView;
use parking_lot::Mutex;

/// Where a statement reads (see the module doc).
pub enum StatementReads {
    /// One snapshot of the database, taken by the first scan that starts.
    Snapshot(OnceLock<Arc<dyn ReadView>>),
    /// One snapshot per execution (per task context), for a plan that may run more than
    /// once; an execution's entry goes when its task context does.
    PerExecution(Mutex<Vec<(Weak<TaskContext>, Arc<dyn ReadView>)>>),
    /// The transaction the statement is part of.
    Transaction(Arc<Transaction>),
}

impl std::fmt::Debug for StatementReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatementReads::Snapshot(_) => write!(f, "StatementReads::Snapshot"),
            StatementReads::PerExecution(_) => write!(f, "StatementReads::PerExecution"),
            StatementReads::Transaction(tx) => {
                write!(f, "StatementReads::Transaction({})", tx.id())
            }
        }
    }
}

impl StatementReads {
    /// One snapshot for the statement, not taken yet.
    pub fn snapshot() -> Self {
        StatementReads::Snapshot(OnceLock::new())
    }

    /// One snapshot per execution, not taken yet.
    pub fn per_execution() -> Self {
        StatementReads::PerExecution(Mutex::new(Vec::new()))
    }

    /// The reads of the statement a task context runs, if it says.
    pub fn of(context: &TaskContext) -> Option<Arc<StatementReads>> {
        context.session_config().get_extension::<StatementReads>()
    }

    /// The transaction the statement is part of.
    pub fn transaction(&self) -> Option<&Arc<Transaction>> {
        match self {
            StatementReads::Transaction(tx) => Some(tx),
            StatementReads::Snapshot(_) | StatementReads::PerExecution(_) => None,
        }
    }

    /// A reader of `table` for the statement, run by the execution `context`.
    pub fn reader(
        &self,
        table: &dyn RowAccess,
        context: &Arc<TaskContext>,
    ) -> Arc<dyn RowReader + Send + Sync> {
        match self {
            StatementReads::Snapshot(view) => {
                table.shared_reader_on(view.get_or_init(|| table.snapshot()).clone())
            }
            StatementReads::PerExecution(runs) => {
                let view = {
                    let mut runs = runs.lock();
                    runs.retain(|(c, _)| c.strong_count() > 0);
                    let run = runs
                        .iter()
                        .find(|(c, _)| std::ptr::eq(c.as_ptr(), Arc::as_ptr(context)));
                    match run {
                        Some((_, view)) => view.clone(),
                        None => {
                            let view = table.snapshot();
                            runs.push((Arc::downgrade(context), view.clone()));
                            view
                        }
                    }
                };
                table.shared_reader_on(view)
            }
            StatementReads::Transaction(tx) => table.shared_reader_on(tx.statement_view()),
        }
    }
}
