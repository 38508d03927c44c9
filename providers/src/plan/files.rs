//! Files in SQL: which files a session may read and write, and `COPY table FROM 'file'`.
//!
//! A session that may read files names them as tables (`SELECT * FROM 'accounts.parquet'`,
//! DataFusion's URL tables; the format comes from the extension: `.csv` with a header row,
//! `.json` or `.ndjson` with one object per line, `.parquet`, `.arrow`) and writes them with
//! DataFusion's `COPY (SELECT ...) TO 'file'`. `COPY t FROM 'file'` is Quiver's: it becomes
//! `INSERT INTO t (cols) SELECT cols FROM 'file'`, matching the file's columns to the table's
//! by name, so a large file streams through the bulk write path (see `bulk_insert.rs`).
//!
//! Who may touch files is decided here, once ([`FileAccess`]): an embedding program and the
//! shell may use any file the process can; a Flight SQL server's sessions none, unless the
//! server was started with a directory they may use.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::GetExt;
use datafusion::datasource::file_format::json::JsonFormatFactory;
use datafusion::datasource::file_format::{FileFormat, FileFormatFactory};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{CopySource, CopyTarget, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::SqlError;
use crate::names::quote_ident;

/// The files a session may read (as tables, `COPY FROM`) and write (`COPY TO`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FileAccess {
    /// None: file names are not tables, and COPY is refused.
    #[default]
    Denied,
    /// Any file the process may open (embedded use, the shell).
    Anywhere,
    /// Files inside this directory only (after resolving `..` and symbolic links). Make it
    /// with [`FileAccess::under`], which resolves the directory itself once: a path given
    /// here unresolved is compared as it is, so it may refuse files inside it.
    Under(PathBuf),
}

impl FileAccess {
    /// Files inside `dir` only; fails when `dir` cannot be resolved (it does not exist).
    pub fn under(dir: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(FileAccess::Under(dir.as_ref().canonicalize()?))
    }

    /// True when the session may name files at all.
    pub fn allows_files(&self) -> bool {
        !matches!(self, FileAccess::Denied)
    }

    /// Refuses `path` unless this access allows it, naming the path and why.
    pub fn check(&self, path: &str) -> Result<()> {
        let refuse = |reason: String| -> Result<()> {
            Err(SqlError::FileRefused {
                path: path.to_owned(),
                reason,
            }
            .into())
        };
        match self {
            FileAccess::Anywhere => Ok(()),
            FileAccess::Denied => refuse(
                "this session may not read or write files (a Flight SQL server allows a directory with `quiver serve --files DIR`)".into(),
            ),
            FileAccess::Under(dir) => {
                if path.contains("://") {
                    return refuse("only local files are allowed here".into());
                }
                if resolve(Path::new(path)).starts_with(dir) {
                    Ok(())
                } else {
                    refuse(format!("it is outside {}, the directory this server allows", dir.display()))
                }
            }
        }
    }
}

/// `path` made absolute with `..` and symbolic links resolved as far as it exists (a file
/// COPY TO is about to create does not exist yet: its directory is resolved).
fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    if let Ok(real) = absolute.canonicalize() {
        return real;
    }
    let mut clean = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    match (clean.parent(), clean.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map(|d| d.join(name))
            .unwrap_or(clean.clone()),
        _ => clean,
    }
}

/// True when a table reference names a file rather than a table: a path, or a name with a
/// file extension DataFusion reads.
pub fn is_file_reference(name: &str) -> bool {
    const EXTENSIONS: [&str; 5] = [".csv", ".json", ".ndjson", ".parquet", ".arrow"];
    let lower = name.to_ascii_lowercase();
    name.contains('/') || name.contains('\\') || EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

/// Parses what DataFusion's parser refuses but Quiver runs: `COPY t FROM 'file'`. Each
/// statement of the script comes back as DataFusion's parser would give it, except COPY
/// FROM, which stays sqlparser's `Statement::Copy` until [`copy_from_as_insert`] plans it.
/// None when the script has no COPY FROM (the caller reports DataFusion's own error).
pub(crate) fn parse_with_copy_from(sql: &str) -> Option<Vec<DFStatement>> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql).ok()?;
    if !statements.iter().any(is_copy_from) {
        return None;
    }
    statements
        .into_iter()
        .map(|s| {
            if is_copy_from(&s) {
                return Some(DFStatement::Statement(Box::new(s)));
            }
            let mut again =
                DFParser::parse_sql_with_dialect(&s.to_string(), &GenericDialect {}).ok()?;
            if again.len() == 1 {
                again.pop_front()
            } else {
                None
            }
        })
        .collect()
}

fn is_copy_from(s: &Statement) -> bool {
    matches!(s, Statement::Copy { to: false, .. })
}

/// The file a statement reads or writes by COPY, if it is one.
pub(crate) fn copied_file(statement: &DFStatement) -> Option<&str> {
    match statement {
        DFStatement::CopyTo(c) => Some(&c.target),
        DFStatement::Statement(s) => match s.as_ref() {
            Statement::Copy {
                target: CopyTarget::File { filename },
                ..
            } => Some(filename),
            _ => None,
        },
        DFStatement::Explain(e) => copied_file(&e.statement),
        _ => None,
    }
}

/// Rewrites `COPY t [(cols)] FROM 'file'` into the INSERT it means; other statements are
/// left alone. The file's columns are matched to the table's by name: a file column the
/// table lacks is refused by name, a table column the file lacks takes its default.
pub(crate) async fn copy_from_as_insert(
    state: &SessionState,
    statement: &mut DFStatement,
) -> Result<()> {
    let DFStatement::Statement(s) = statement else {
        return Ok(());
    };
    let Statement::Copy {
        source,
        to: false,
        target,
        options,
        legacy_options,
        ..
    } = s.as_ref()
    else {
        return Ok(());
    };
    let unsupported = |what: &str, instead: &str| -> DataFusionError {
        SqlError::Unsupported {
            what: what.into(),
            context: "in COPY ... FROM".into(),
            instead: instead.into(),
        }
        .into()
    };
    let CopySource::Table {
        table_name,
        columns,
    } = source
    else {
        return Err(unsupported(
            "a query",
            "name a table: COPY accounts FROM 'accounts.csv'",
        ));
    };
    let CopyTarget::File { filename } = target else {
        return Err(unsupported(
            "reading from standard input or a program",
            "name a file: COPY accounts FROM 'accounts.csv'",
        ));
    };
    if !options.is_empty() || !legacy_options.is_empty() {
        return Err(unsupported(
            "WITH options",
            "the format comes from the file's extension (.csv with a header row, .json or .ndjson, .parquet, .arrow)",
        ));
    }
    let file_columns = file_columns(state, filename).await?;
    let wanted: Vec<String> = if columns.is_empty() {
        file_columns.clone()
    } else {
        columns.iter().map(|c| c.value.clone()).collect()
    };
    for c in &wanted {
        if !file_columns.contains(c) {
            return Err(DataFusionError::Plan(format!(
                "file '{filename}' has no column '{c}' (its columns: {})",
                file_columns.join(", ")
            )));
        }
    }
    let list = wanted
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = format!(
        "INSERT INTO {table_name} ({list}) SELECT {list} FROM '{}'",
        filename.replace('\'', "''")
    );
    let mut parsed = DFParser::parse_sql_with_dialect(&insert, &GenericDialect {})?;
    *statement = parsed
        .pop_front()
        .ok_or_else(|| DataFusionError::Internal(format!("COPY became no statement: {insert}")))?;
    Ok(())
}

/// The column names of a file, as DataFusion reads it.
async fn file_columns(state: &SessionState, filename: &str) -> Result<Vec<String>> {
    let probe = format!("SELECT * FROM '{}'", filename.replace('\'', "''"));
    let plan = state.create_logical_plan(&probe).await?;
    Ok(plan
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

/// The file access a session's state carries (set by `Quiver`); none when absent.
pub(crate) fn access_of(state: &SessionState) -> Arc<FileAccess> {
    state
        .config()
        .get_extension::<FileAccess>()
        .unwrap_or_default()
}

/// `.ndjson` files, read and written as DataFusion's (newline-delimited) JSON format, which
/// knows only the `.json` extension.
#[derive(Debug, Default)]
pub(crate) struct NdjsonFormat(JsonFormatFactory);

impl GetExt for NdjsonFormat {
    fn get_ext(&self) -> String {
        "ndjson".into()
    }
}

impl FileFormatFactory for NdjsonFormat {
    fn create(
        &self,
        state: &dyn Session,
        format_options: &HashMap<String, String>,
    ) -> Result<Arc<dyn FileFormat>> {
        self.0.create(state, format_options)
    }

    fn default(&self) -> Arc<dyn FileFormat> {
        self.0.default()
    }
}
