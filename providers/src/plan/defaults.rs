//! `DEFAULT` as a value in `INSERT ... VALUES`, filled in before DataFusion plans the
//! statement.

use datafusion::error::Result;
use datafusion::sql::sqlparser::ast;

use crate::names::last_name;
use crate::table::QuiverTable;

/// `INSERT ... VALUES (1, DEFAULT)`: each bare `DEFAULT` becomes its column's DEFAULT
/// expression (NULL without one), as in PostgreSQL. DataFusion would read it as a column.
pub(crate) async fn fill_default_keywords(
    state: &datafusion::execution::SessionState,
    statement: &mut datafusion::sql::parser::Statement,
) -> Result<()> {
    use datafusion::sql::parser::Statement as DFStatement;
    let DFStatement::Statement(s) = statement else {
        return Ok(());
    };
    let ast::Statement::Insert(insert) = s.as_mut() else {
        return Ok(());
    };
    let Some(ast::SetExpr::Values(values)) = insert.source.as_mut().map(|q| q.body.as_mut()) else {
        return Ok(());
    };
    let is_default = |e: &ast::Expr| matches!(e, ast::Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"));
    if !values.rows.iter().any(|r| r.content.iter().any(is_default)) {
        return Ok(());
    }
    let ast::TableObject::TableName(name) = &insert.table else {
        return Ok(());
    };
    let reference = datafusion::common::TableReference::from(name.to_string().as_str());
    let provider = state
        .schema_for_ref(reference.clone())?
        .table(reference.table())
        .await?;
    let Some(table) = provider
        .as_ref()
        .and_then(|p| p.downcast_ref::<QuiverTable>())
    else {
        return Ok(());
    };
    let schema = table.access().schema();
    let targets: Vec<String> = if insert.columns.is_empty() {
        schema.columns.iter().map(|c| c.name.clone()).collect()
    } else {
        insert.columns.iter().map(last_name).collect()
    };
    let parser_dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
    for row in &mut values.rows {
        for (i, e) in row.content.iter_mut().enumerate() {
            if !is_default(e) {
                continue;
            }
            let default = targets
                .get(i)
                .and_then(|c| schema.columns.iter().find(|d| &d.name == c))
                .and_then(|c| c.default.clone());
            *e = match default {
                Some(text) => datafusion::sql::sqlparser::parser::Parser::new(&parser_dialect)
                    .try_with_sql(&text)?
                    .parse_expr()?,
                None => ast::Expr::Value(ast::Value::Null.into()),
            };
        }
    }
    Ok(())
}
