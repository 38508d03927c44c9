//! The metadata calls clients browse with (GetCatalogs, GetDbSchemas, GetTables,
//! GetTableTypes, GetSqlInfo). Each lists what the caller's session can see: the schemas and
//! tables come from that session's catalog, which for a tenant is restricted to its
//! namespace, so visibility is decided where queries decide it and nowhere else.

use std::sync::Arc;

use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::{CommandGetCatalogs, CommandGetDbSchemas, CommandGetTables, SqlInfo};
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::TableType;
use providers::SYS_SCHEMA;
use providers::{Quiver, CATALOG_NAME};
use tonic::Status;

use super::errors;

/// The table types Quiver reports.
const TABLE_TYPES: [&str; 3] = ["TABLE", "SYSTEM TABLE", "VIEW"];

/// What GetSqlInfo answers; `transaction_timeout` is how long a transaction may sit idle.
pub fn sql_info(transaction_timeout: std::time::Duration) -> SqlInfoData {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "Quiver");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    // BeginTransaction and EndTransaction (savepoints through SQL only).
    b.append(SqlInfo::FlightSqlServerTransaction, 1i32);
    b.append(SqlInfo::SqlTransactionsSupported, true);
    // REPEATABLE READ (snapshot isolation) by default; SERIALIZABLE on request.
    b.append(SqlInfo::SqlDefaultTransactionIsolation, 3i32);
    b.append(
        SqlInfo::SqlSupportedTransactionsIsolationLevels,
        (1i32 << 3) | (1i32 << 4),
    );
    b.append(
        SqlInfo::FlightSqlServerTransactionTimeout,
        i32::try_from(transaction_timeout.as_millis()).unwrap_or(i32::MAX),
    );
    b.build().expect("static SQL info")
}

/// The schema of GetTableTypes' reply.
pub fn table_types_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "table_type",
        DataType::Utf8,
        false,
    )]))
}

/// GetTableTypes.
pub fn table_types() -> Result<RecordBatch, Status> {
    RecordBatch::try_new(
        table_types_schema(),
        vec![Arc::new(StringArray::from(TABLE_TYPES.to_vec()))],
    )
    .map_err(errors::internal)
}

/// GetCatalogs.
pub fn catalogs(query: CommandGetCatalogs) -> Result<(SchemaRef, RecordBatch), Status> {
    let mut builder = query.into_builder();
    builder.append(CATALOG_NAME);
    Ok((builder.schema(), builder.build().map_err(errors::internal)?))
}

/// The schemas of the Quiver catalog the session sees.
fn visible_schemas(session: &Quiver) -> Vec<String> {
    let mut names = session
        .context()
        .catalog(CATALOG_NAME)
        .map(|c| c.schema_names())
        .unwrap_or_default();
    names.sort();
    names
}

/// GetDbSchemas.
pub fn schemas(
    session: &Quiver,
    query: CommandGetDbSchemas,
) -> Result<(SchemaRef, RecordBatch), Status> {
    let mut builder = query.into_builder();
    for ns in visible_schemas(session) {
        builder.append(CATALOG_NAME, ns);
    }
    Ok((builder.schema(), builder.build().map_err(errors::internal)?))
}

/// GetTables (with each table's Arrow schema when the client asks for it).
pub async fn tables(
    session: &Quiver,
    query: CommandGetTables,
) -> Result<(SchemaRef, RecordBatch), Status> {
    let mut builder = query.into_builder();
    let Some(catalog) = session.context().catalog(CATALOG_NAME) else {
        return Err(Status::internal("the session has no Quiver catalog"));
    };
    for ns in visible_schemas(session) {
        let Some(schema) = catalog.schema(&ns) else {
            continue;
        };
        let mut names = schema.table_names();
        names.sort();
        for name in names {
            // A table dropped since it was listed is simply left out.
            let Ok(Some(table)) = schema.table(&name).await else {
                continue;
            };
            let kind = if table.table_type() == TableType::View {
                "VIEW"
            } else if ns == SYS_SCHEMA {
                "SYSTEM TABLE"
            } else {
                "TABLE"
            };
            builder
                .append(CATALOG_NAME, &ns, &name, kind, &table.schema())
                .map_err(errors::internal)?;
        }
    }
    Ok((builder.schema(), builder.build().map_err(errors::internal)?))
}
