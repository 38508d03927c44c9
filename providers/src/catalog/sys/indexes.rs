//! `sys.indexes`: one row per index of every table, primary keys included.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result;

use super::{SysContext, SysTable};

/// `sys.indexes`: one row per index of every table (primary keys included).
pub(super) struct Indexes;

impl SysTable for Indexes {
    fn name(&self) -> &'static str {
        "indexes"
    }

    fn batch(&self, ctx: &SysContext) -> Result<RecordBatch> {
        let (mut table, mut index, mut columns, mut unique, mut include, mut kind) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for t in ctx.db.table_names() {
            let Some(access) = ctx.db.table(&t) else {
                continue;
            };
            let s = access.schema();
            table.push(t.clone());
            index.push("PRIMARY".to_owned());
            columns.push(s.primary_key.join(", "));
            unique.push(true);
            include.push(String::new());
            kind.push("primary".to_owned());
            for i in &s.indexes {
                table.push(t.clone());
                index.push(i.name.clone());
                columns.push(
                    i.columns
                        .iter()
                        .map(|c| {
                            if c.order.is_desc() {
                                format!("{} DESC", c.name)
                            } else {
                                c.name.clone()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                unique.push(i.unique);
                include.push(i.include.join(", "));
                let list = i.columns.iter().any(|c| {
                    s.column_index(&c.name)
                        .is_some_and(|p| s.columns[p].ty.is_list())
                });
                kind.push(if list { "multi-key" } else { "secondary" }.to_owned());
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("index_name", DataType::Utf8, false),
            Field::new("columns", DataType::Utf8, false),
            Field::new("is_unique", DataType::Boolean, false),
            Field::new("include", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
        ]));
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(table)),
            Arc::new(StringArray::from(index)),
            Arc::new(StringArray::from(columns)),
            Arc::new(BooleanArray::from(unique)),
            Arc::new(StringArray::from(include)),
            Arc::new(StringArray::from(kind)),
        ];
        Ok(RecordBatch::try_new(schema, arrays)?)
    }
}
