//! Running SQL and meta commands, and printing what they return.

use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use indexed_store::{Database, TransactionStatus};
use indicatif::{ProgressBar, ProgressStyle};
use providers::Quiver;

use crate::output::{render, Format};

/// The state of a shell session.
pub struct Shell {
    /// The database session.
    pub quiver: Quiver,
    /// Output format.
    pub format: Format,
    /// Print row count and elapsed time after each statement.
    pub timing: bool,
}

/// Help for the meta commands.
pub const HELP: &str = "\
Meta commands:
  \\d              list tables
  \\d NAME         describe a table: columns, primary key, indexes, TTL
  \\di             list indexes
  \\format FORMAT  output format: table, csv, tsv, json, ndjson
  \\timing         toggle row count and elapsed time after each statement
  \\verify         check that every index agrees with its table
  \\?              this help
  \\q              quit (Ctrl-D works too)
SQL statements end with ';' and may span lines. Ctrl-C cancels the statement being typed or run.";

impl Shell {
    /// A shell over a database.
    pub fn new(quiver: Quiver, format: Format) -> Self {
        Shell {
            quiver,
            format,
            timing: true,
        }
    }

    /// The prompt: `quiver> `, `quiver*> ` inside a transaction (as psql marks one), and
    /// `quiver!> ` in a failed one, which only ROLLBACK ends.
    pub fn prompt(&self) -> &'static str {
        match self.quiver.transaction().map(|t| t.status()) {
            None => "quiver> ",
            Some(TransactionStatus::Failed(_)) => "quiver!> ",
            Some(_) => "quiver*> ",
        }
    }

    fn print(&self, batches: &[RecordBatch]) -> Result<(), String> {
        print!("{}", render(batches, self.format)?);
        Ok(())
    }

    /// Runs every statement of `sql` in order, printing each result; stops at the first error.
    pub async fn run_sql(&mut self, sql: &str) -> Result<(), String> {
        let statements = providers::parse(sql).map_err(|e| e.to_string())?;
        // One statement (what the prompt sends) goes through the plan cache by its text, so
        // running it again skips planning; a script's statements are planned one by one.
        let single = statements.len() == 1;
        for statement in statements {
            let start = Instant::now();
            let run = async {
                if single {
                    self.quiver.query(sql.trim()).await
                } else {
                    match self.quiver.statement(statement).await {
                        Ok(frame) => frame.collect().await,
                        Err(e) => Err(e),
                    }
                }
            };
            let batches = with_progress(&self.quiver, run)
                .await
                .map_err(|e| e.to_string())?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            let has_columns = batches.first().is_some_and(|b| b.num_columns() > 0);
            if has_columns {
                self.print(&batches)?;
            }
            if self.timing && self.format == Format::Table {
                let what = if has_columns {
                    format!("{rows} row{}", if rows == 1 { "" } else { "s" })
                } else {
                    "OK".into()
                };
                println!("{what} in {:.3} ms", start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        Ok(())
    }

    /// Runs a meta command (a line starting with `\`); returns true to quit.
    pub async fn meta(&mut self, line: &str) -> Result<bool, String> {
        let mut words = line.trim().trim_end_matches(';').split_whitespace();
        let command = words.next().unwrap_or("");
        let arg = words.next();
        match (command, arg) {
            ("\\q", _) => return Ok(true),
            ("\\?", _) | ("\\h", _) | ("\\help", _) => println!("{HELP}"),
            ("\\timing", _) => {
                self.timing = !self.timing;
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
            }
            ("\\format", Some(f)) => {
                self.format = f.parse()?;
                println!("Output format is {f}.");
            }
            ("\\format", None) => println!("Output format is {:?}. Use \\format table|csv|tsv|json|ndjson.", self.format),
            ("\\d", None) => {
                self.run_sql(
                    "SELECT table_schema AS schema, table_name AS name, CASE WHEN table_type = 'VIEW' THEN 'view' WHEN table_name IN ('jobs', 'users', 'lists') AND table_schema = 'public' THEN 'system table' ELSE 'table' END AS kind \
                     FROM information_schema.tables WHERE table_catalog = 'quiver' AND table_schema NOT IN ('information_schema', 'sys') ORDER BY 1, 2",
                )
                .await?
            }
            ("\\d", Some(name)) => self.describe(name)?,
            ("\\di", _) => self.run_sql("SELECT * FROM sys.indexes ORDER BY table_name, index_name").await?,
            ("\\verify", _) => self.verify()?,
            (other, _) => return Err(format!("unknown meta command '{other}'; \\? lists them")),
        }
        Ok(false)
    }

    fn describe(&self, name: &str) -> Result<(), String> {
        let db: &Database = self.quiver.database();
        if let (None, Some(view)) = (db.table(name), db.view(name)) {
            println!("View \"{}\"", view.name);
            println!("  AS {}", view.sql);
            println!("Reads: {}", view.depends_on.join(", "));
            return Ok(());
        }
        let table = db
            .table(name)
            .ok_or_else(|| format!("unknown table or view '{name}'"))?;
        let s = table.schema();
        println!(
            "Table \"{}\"{}",
            s.name,
            if Database::is_system(&s.name) {
                " (system)"
            } else {
                ""
            }
        );
        let width = s
            .columns
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        println!("  {:width$}  {:12}  nullable", "column", "type");
        for c in &s.columns {
            let nullable = c.nullable && !s.primary_key.contains(&c.name);
            println!(
                "  {:width$}  {:12}  {}",
                c.name,
                c.ty.to_string(),
                if nullable { "yes" } else { "no" }
            );
        }
        println!("Primary key: ({})", s.primary_key.join(", "));
        for i in &s.indexes {
            let cols: Vec<String> = i
                .columns
                .iter()
                .map(|c| {
                    if c.order.is_desc() {
                        format!("{} DESC", c.name)
                    } else {
                        c.name.clone()
                    }
                })
                .collect();
            let include = if i.include.is_empty() {
                String::new()
            } else {
                format!(" INCLUDE ({})", i.include.join(", "))
            };
            println!(
                "Index: {}{} ({}){include}",
                if i.unique { "UNIQUE " } else { "" },
                i.name,
                cols.join(", ")
            );
        }
        if let Some(ttl) = &s.ttl {
            match &ttl.column {
                Some(c) => println!("TTL: rows expire {} s after '{c}'", ttl.seconds),
                None => println!("TTL: rows expire {} s after they were written", ttl.seconds),
            }
        }
        Ok(())
    }

    /// Runs the integrity check on every table and prints what it found.
    pub fn verify(&self) -> Result<(), String> {
        let reports = self.quiver.database().verify().map_err(|e| e.to_string())?;
        let mut problems = 0;
        for r in &reports {
            if r.is_ok() {
                println!(
                    "{}: ok ({} rows, {} index entries)",
                    r.table, r.records, r.entries
                );
            } else {
                problems += r.problems.len();
                println!("{}: {} problem(s)", r.table, r.problems.len());
                for p in &r.problems {
                    println!("  {p}");
                }
            }
        }
        if problems > 0 {
            Err(format!("verify found {problems} problem(s)"))
        } else {
            Ok(())
        }
    }
}

/// Runs `work`, showing on the terminal how many rows a large INSERT or COPY FROM has
/// written so far (nothing for statements that write through the bulk path no rows).
async fn with_progress<T>(quiver: &Quiver, work: impl std::future::Future<Output = T>) -> T {
    let progress = quiver.write_progress();
    let start = progress.rows();
    // Draws on stderr, and only when it is a terminal.
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} writing: {pos} rows ({per_sec})") {
        bar.set_style(style);
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => {
                bar.finish_and_clear();
                return out;
            }
            _ = tick.tick() => {
                let written = progress.rows().saturating_sub(start);
                if written > 0 {
                    bar.set_position(written);
                }
            }
        }
    }
}
