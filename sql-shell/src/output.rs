//! Printing results: aligned table (default), CSV, TSV, JSON (one array) and NDJSON.

use std::fmt::Write as _;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table with borders.
    Table,
    /// Comma-separated, with a header line.
    Csv,
    /// Tab-separated, with a header line.
    Tsv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Format as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown format '{s}': use table, csv, tsv, json or ndjson"))
    }
}

fn cells(batch: &RecordBatch) -> Result<Vec<Vec<Option<String>>>, String> {
    let options = FormatOptions::default();
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Ok((0..batch.num_rows())
        .map(|i| {
            batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(c, f)| {
                    if c.is_null(i) {
                        None
                    } else {
                        Some(f.value(i).to_string())
                    }
                })
                .collect()
        })
        .collect())
}

fn csv_field(s: &str, sep: char) -> String {
    if s.contains(sep) || s.contains('"') || s.contains('\n') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_value(dt: &DataType, cell: &Option<String>) -> String {
    match cell {
        None => "null".into(),
        Some(s) if dt.is_numeric() && s.parse::<f64>().is_ok_and(|f| f.is_finite()) => s.clone(),
        Some(s) if *dt == DataType::Boolean => s.clone(),
        Some(s) => json_string(s),
    }
}

/// Renders batches in a format.
pub fn render(batches: &[RecordBatch], format: Format) -> Result<String, String> {
    let Some(first) = batches.first() else {
        return Ok(String::new());
    };
    let schema = first.schema();
    let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    let mut out = String::new();
    match format {
        Format::Table => {
            out = pretty_format_batches(batches)
                .map_err(|e| e.to_string())?
                .to_string();
            out.push('\n');
        }
        Format::Csv | Format::Tsv => {
            let sep = if format == Format::Csv { ',' } else { '\t' };
            let header: Vec<String> = names.iter().map(|n| csv_field(n, sep)).collect();
            out.push_str(&header.join(&sep.to_string()));
            out.push('\n');
            for b in batches {
                for row in cells(b)? {
                    let fields: Vec<String> = row
                        .iter()
                        .map(|c| c.as_deref().map_or(String::new(), |s| csv_field(s, sep)))
                        .collect();
                    out.push_str(&fields.join(&sep.to_string()));
                    out.push('\n');
                }
            }
        }
        Format::Json | Format::Ndjson => {
            let mut objects = Vec::new();
            for b in batches {
                for row in cells(b)? {
                    let fields: Vec<String> = row
                        .iter()
                        .zip(schema.fields())
                        .map(|(c, f)| {
                            format!("{}:{}", json_string(f.name()), json_value(f.data_type(), c))
                        })
                        .collect();
                    objects.push(format!("{{{}}}", fields.join(",")));
                }
            }
            if format == Format::Json {
                out.push('[');
                out.push_str(&objects.join(","));
                out.push_str("]\n");
            } else {
                for o in objects {
                    out.push_str(&o);
                    out.push('\n');
                }
            }
        }
    }
    Ok(out)
}
