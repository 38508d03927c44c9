//! `quiver serve`: an Arrow Flight SQL server over the database.
//!
//! Statement queries, prepared statements with `?` or `$1` parameters (a batch of parameter
//! sets runs every set), updates through ExecuteUpdate/DoPut, and the metadata calls clients
//! browse with. With tokens configured, every call needs `authorization: Bearer <token>`
//! (Handshake with basic credentials, any user and a token as password, returns it); a
//! token may be bound to one namespace and then sees and writes only that schema.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    IpcMessage, SchemaAsIpc, Ticket,
};
use base64::Engine;
use datafusion::arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use futures::{Stream, TryStreamExt};
use indexed_store::Database;
use parking_lot::Mutex;
use prost::Message;
use providers::catalog::{split_name, CATALOG_NAME, DEFAULT_SCHEMA};
use providers::convert::arrow_schema;
use providers::Quiver;
use tonic::metadata::MetadataValue;
use tonic::transport::Server;
use tonic::{Request, Response, Status, Streaming};

use crate::params::number_placeholders;

/// Who a token lets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The only namespace visible, or None for all.
    pub namespace: Option<String>,
}

/// The tokens the server accepts; empty means no authentication.
#[derive(Debug, Clone, Default)]
pub struct Tokens(HashMap<String, Grant>);

impl Tokens {
    /// Parses a token file: one token per line, optionally followed by the namespace it is
    /// bound to; blank lines and `#` comments are ignored.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut tokens = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let token = parts.next().unwrap_or_default().to_owned();
            let namespace = parts.next().map(str::to_owned);
            if parts.next().is_some() {
                return Err(format!(
                    "token file line {}: expected 'TOKEN [NAMESPACE]'",
                    i + 1
                ));
            }
            tokens.insert(token, Grant { namespace });
        }
        if tokens.is_empty() {
            return Err("the token file holds no token".into());
        }
        Ok(Tokens(tokens))
    }

    /// One token with access to everything.
    pub fn single(token: &str) -> Self {
        Tokens(HashMap::from([(
            token.to_owned(),
            Grant { namespace: None },
        )]))
    }

    fn enabled(&self) -> bool {
        !self.0.is_empty()
    }
}

struct Prepared {
    /// The planned statement, or None for DDL (which runs when executed, from `sql`).
    plan: Option<LogicalPlan>,
    sql: String,
    grant: Grant,
    /// Parameter sets bound by the client (rows of the batches), if any.
    parameters: Vec<RecordBatch>,
}

/// The Flight SQL service.
#[derive(Clone)]
pub struct QuiverFlightSql {
    db: Arc<Database>,
    tokens: Arc<Tokens>,
    sessions: Arc<Mutex<HashMap<Option<String>, Quiver>>>,
    prepared: Arc<Mutex<HashMap<String, Prepared>>>,
    next_handle: Arc<AtomicU64>,
}

type DoGetStream =
    Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static>>;

fn status(e: impl std::fmt::Display) -> Status {
    let text = e.to_string();
    if text.contains("not found")
        || text.contains("No field named")
        || text.contains("unknown ")
        || text.contains("Error during planning")
        || text.contains("SQL error")
    {
        Status::invalid_argument(text)
    } else if text.contains("duplicate primary key") || text.contains("unique index") {
        Status::already_exists(text)
    } else {
        Status::internal(text)
    }
}

fn sql_info() -> SqlInfoData {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "Quiver");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    b.build().expect("static SQL info")
}

fn schema_bytes(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(status)?;
    Ok(bytes)
}

fn info_for(
    schema: &Schema,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(status)?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

fn stream_batches(
    schema: SchemaRef,
    batches: impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
) -> DoGetStream {
    Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from),
    )
}

/// A reply of one batch.
fn one_batch(schema: SchemaRef, batch: RecordBatch) -> Result<Response<DoGetStream>, Status> {
    Ok(Response::new(stream_batches(
        schema,
        futures::stream::iter(vec![Ok(batch)]),
    )))
}

/// A reply with no columns and no rows (DDL that already ran).
fn no_rows() -> Response<DoGetStream> {
    Response::new(stream_batches(
        Arc::new(Schema::empty()),
        futures::stream::empty(),
    ))
}

/// The rows of a result's `count` column, summed (DML), or 0.
fn count_of(batches: &[RecordBatch]) -> i64 {
    batches
        .iter()
        .filter(|b| b.num_columns() == 1 && b.schema().field(0).name() == "count")
        .filter_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .map(|a| a.iter().flatten().sum::<u64>())
        })
        .sum::<u64>() as i64
}

impl QuiverFlightSql {
    /// A service over the database.
    pub fn new(db: Arc<Database>, tokens: Tokens) -> Self {
        QuiverFlightSql {
            db,
            tokens: Arc::new(tokens),
            sessions: Arc::default(),
            prepared: Arc::default(),
            next_handle: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The grant of a request's bearer token.
    fn grant<T>(&self, request: &Request<T>) -> Result<Grant, Status> {
        if !self.tokens.enabled() {
            return Ok(Grant { namespace: None });
        }
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| {
                Status::unauthenticated(
                    "missing authorization: send 'Bearer <token>' or use Handshake",
                )
            })?
            .to_str()
            .map_err(|_| Status::unauthenticated("authorization header is not text"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| Status::unauthenticated("authorization must be 'Bearer <token>'"))?;
        self.tokens
            .0
            .get(token.trim())
            .cloned()
            .ok_or_else(|| Status::unauthenticated("invalid token"))
    }

    fn session(&self, grant: &Grant) -> Quiver {
        let mut sessions = self.sessions.lock();
        sessions
            .entry(grant.namespace.clone())
            .or_insert_with(|| match &grant.namespace {
                Some(ns) => Quiver::restricted(self.db.clone(), ns),
                None => Quiver::new(self.db.clone()),
            })
            .clone()
    }

    /// The namespace a write or query may touch under a grant.
    fn visible(&self, grant: &Grant, namespace: &str) -> bool {
        grant.namespace.as_deref().is_none_or(|ns| ns == namespace)
    }

    async fn run_sql(&self, grant: &Grant, sql: &str) -> Result<Vec<RecordBatch>, Status> {
        let session = self.session(grant);
        session
            .sql(sql)
            .await
            .map_err(status)?
            .collect()
            .await
            .map_err(status)
    }

    fn new_handle(&self) -> String {
        format!("ps-{}", self.next_handle.fetch_add(1, Ordering::Relaxed))
    }

    /// The parameter sets bound to a prepared statement, one Vec per row.
    fn parameter_sets(batches: &[RecordBatch]) -> Result<Vec<Vec<ScalarValue>>, Status> {
        let mut sets = Vec::new();
        for b in batches {
            for row in 0..b.num_rows() {
                let values = b
                    .columns()
                    .iter()
                    .map(|c| ScalarValue::try_from_array(c, row))
                    .collect::<Result<Vec<_>, DataFusionError>>()
                    .map_err(status)?;
                sets.push(values);
            }
        }
        Ok(sets)
    }

    /// Runs a prepared DDL statement; false when the statement is not DDL.
    async fn run_prepared_ddl(&self, handle: &str) -> Result<bool, Status> {
        let (sql, grant) = {
            let prepared = self.prepared.lock();
            let p = prepared
                .get(handle)
                .ok_or_else(|| Status::not_found(format!("no prepared statement '{handle}'")))?;
            if p.plan.is_some() {
                return Ok(false);
            }
            (p.sql.clone(), p.grant.clone())
        };
        self.run_sql(&grant, &sql).await?;
        Ok(true)
    }

    async fn execute_prepared(&self, handle: &str) -> Result<(Quiver, Vec<LogicalPlan>), Status> {
        let (plan, grant, parameters) = {
            let prepared = self.prepared.lock();
            let p = prepared
                .get(handle)
                .ok_or_else(|| Status::not_found(format!("no prepared statement '{handle}'")))?;
            let plan = p
                .plan
                .clone()
                .ok_or_else(|| Status::internal("DDL has no plan"))?;
            (plan, p.grant.clone(), p.parameters.clone())
        };
        let session = self.session(&grant);
        let wanted = plan.get_parameter_types().map_err(status)?.len();
        let sets = Self::parameter_sets(&parameters)?;
        if wanted == 0 {
            return Ok((session, vec![plan]));
        }
        if sets.is_empty() {
            return Err(Status::invalid_argument(format!(
                "the statement has {wanted} parameter(s) and none were bound"
            )));
        }
        let plans = sets
            .into_iter()
            .map(|values| {
                if values.len() != wanted {
                    return Err(Status::invalid_argument(format!(
                        "the statement has {wanted} parameter(s), a set has {}",
                        values.len()
                    )));
                }
                plan.clone().with_param_values(values).map_err(status)
            })
            .collect::<Result<Vec<_>, Status>>()?;
        Ok((session, plans))
    }
}

async fn collect_parameters(stream: PeekableFlightDataStream) -> Result<Vec<RecordBatch>, Status> {
    // A DoPut may carry only the command (an empty message): no parameters then.
    let messages = stream.try_filter(|m| futures::future::ready(!m.data_header.is_empty()));
    let decoded =
        FlightRecordBatchStream::new_from_flight_data(messages.map_err(FlightError::from));
    decoded.try_collect().await.map_err(status)
}

#[tonic::async_trait]
impl FlightSqlService for QuiverFlightSql {
    type FlightService = QuiverFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let token = if self.tokens.enabled() {
            let header = request
                .metadata()
                .get("authorization")
                .and_then(|h| h.to_str().ok())
                .ok_or_else(|| {
                    Status::unauthenticated(
                        "handshake needs basic credentials (any user, a token as password)",
                    )
                })?;
            let encoded = header
                .strip_prefix("Basic ")
                .ok_or_else(|| Status::unauthenticated("handshake needs 'Basic' credentials"))?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| Status::unauthenticated("credentials are not base64"))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| Status::unauthenticated("credentials are not text"))?;
            let (_, password) = text
                .split_once(':')
                .ok_or_else(|| Status::unauthenticated("credentials must be user:password"))?;
            if !self.tokens.0.contains_key(password) {
                return Err(Status::unauthenticated("invalid token"));
            }
            password.to_owned()
        } else {
            String::new()
        };
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        };
        let mut response: Response<
            Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>,
        > = Response::new(Box::pin(futures::stream::iter(vec![Ok(reply)])));
        if !token.is_empty() {
            let value = MetadataValue::try_from(format!("Bearer {token}")).map_err(status)?;
            response.metadata_mut().insert("authorization", value);
        }
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let grant = self.grant(&request)?;
        if Quiver::is_ddl(&query.query) {
            // DDL runs now; the ticket then reads nothing.
            self.run_sql(&grant, &query.query).await?;
            let ticket = TicketStatementQuery {
                statement_handle: Vec::new().into(),
            };
            return info_for(
                &Schema::empty(),
                ticket.as_any().encode_to_vec(),
                request.into_inner(),
            );
        }
        let plan = self
            .session(&grant)
            .prepare(&query.query)
            .await
            .map_err(status)?;
        let schema = plan.schema().as_arrow().clone();
        let ticket = TicketStatementQuery {
            statement_handle: query.query.into_bytes().into(),
        };
        info_for(
            &schema,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let grant = self.grant(&request)?;
        let sql = String::from_utf8(ticket.statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("ticket is not SQL"))?;
        if sql.is_empty() {
            return Ok(no_rows());
        }
        let session = self.session(&grant);
        let plan = session.prepare(&sql).await.map_err(status)?;
        let df = session.execute_plan(plan).await.map_err(status)?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let stream = df.execute_stream().await.map_err(status)?;
        Ok(Response::new(stream_batches(
            schema,
            stream.map_err(|e| FlightError::ExternalError(Box::new(e))),
        )))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.grant(&request)?;
        let handle = String::from_utf8_lossy(&cmd.prepared_statement_handle).into_owned();
        if self.run_prepared_ddl(&handle).await? {
            return info_for(
                &Schema::empty(),
                cmd.as_any().encode_to_vec(),
                request.into_inner(),
            );
        }
        let schema = {
            let prepared = self.prepared.lock();
            let p = prepared
                .get(&handle)
                .ok_or_else(|| Status::not_found(format!("no prepared statement '{handle}'")))?;
            p.plan
                .as_ref()
                .map(|plan| plan.schema().as_arrow().clone())
                .unwrap_or_else(Schema::empty)
        };
        info_for(&schema, cmd.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.grant(&request)?;
        let handle = String::from_utf8_lossy(&cmd.prepared_statement_handle).into_owned();
        if self
            .prepared
            .lock()
            .get(&handle)
            .is_some_and(|p| p.plan.is_none())
        {
            // DDL ran when its FlightInfo was asked for.
            return Ok(no_rows());
        }
        let (session, plans) = self.execute_prepared(&handle).await?;
        let schema: SchemaRef = Arc::new(plans[0].schema().as_arrow().clone());
        // Several parameter sets: the results one after another.
        let mut batches = Vec::new();
        for plan in plans {
            batches.extend(
                session
                    .execute_plan(plan)
                    .await
                    .map_err(status)?
                    .collect()
                    .await
                    .map_err(status)?,
            );
        }
        Ok(Response::new(stream_batches(
            schema,
            futures::stream::iter(batches.into_iter().map(Ok)),
        )))
    }

    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        self.grant(&request)?;
        let handle = String::from_utf8_lossy(&cmd.prepared_statement_handle).into_owned();
        let parameters = collect_parameters(request.into_inner()).await?;
        let mut prepared = self.prepared.lock();
        let p = prepared
            .get_mut(&handle)
            .ok_or_else(|| Status::not_found(format!("no prepared statement '{handle}'")))?;
        p.parameters = parameters;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle.into_bytes().into()),
        })
    }

    async fn do_put_prepared_statement_update(
        &self,
        cmd: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.grant(&request)?;
        let handle = String::from_utf8_lossy(&cmd.prepared_statement_handle).into_owned();
        let parameters = collect_parameters(request.into_inner()).await?;
        if !parameters.is_empty() {
            if let Some(p) = self.prepared.lock().get_mut(&handle) {
                p.parameters = parameters;
            }
        }
        if self.run_prepared_ddl(&handle).await? {
            return Ok(0);
        }
        let (session, plans) = self.execute_prepared(&handle).await?;
        let mut total = 0;
        for plan in plans {
            let batches = session
                .execute_plan(plan)
                .await
                .map_err(status)?
                .collect()
                .await
                .map_err(status)?;
            total += count_of(&batches);
        }
        Ok(total)
    }

    async fn do_put_statement_update(
        &self,
        cmd: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let grant = self.grant(&request)?;
        let batches = self.run_sql(&grant, &cmd.query).await?;
        Ok(count_of(&batches))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let grant = self.grant(&request)?;
        let sql = number_placeholders(&query.query);
        if Quiver::is_ddl(&sql) {
            let handle = self.new_handle();
            let empty = schema_bytes(&Schema::empty())?;
            self.prepared.lock().insert(
                handle.clone(),
                Prepared {
                    plan: None,
                    sql,
                    grant,
                    parameters: Vec::new(),
                },
            );
            return Ok(ActionCreatePreparedStatementResult {
                prepared_statement_handle: handle.into_bytes().into(),
                dataset_schema: empty.clone(),
                parameter_schema: empty,
            });
        }
        let plan = self.session(&grant).prepare(&sql).await.map_err(status)?;
        let types = plan.get_parameter_types().map_err(status)?;
        let mut names: Vec<&String> = types.keys().collect();
        names.sort_by_key(|n| {
            n.trim_start_matches('$')
                .parse::<usize>()
                .unwrap_or(usize::MAX)
        });
        let fields: Vec<Field> = names
            .iter()
            .map(|n| {
                Field::new(
                    n.as_str(),
                    types[*n].clone().unwrap_or(DataType::Utf8),
                    true,
                )
            })
            .collect();
        let dataset = schema_bytes(plan.schema().as_arrow())?;
        let parameters = schema_bytes(&Schema::new(fields))?;
        let handle = self.new_handle();
        self.prepared.lock().insert(
            handle.clone(),
            Prepared {
                plan: Some(plan),
                sql,
                grant,
                parameters: Vec::new(),
            },
        );
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into_bytes().into(),
            dataset_schema: dataset,
            parameter_schema: parameters,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        self.grant(&request)?;
        let handle = String::from_utf8_lossy(&query.prepared_statement_handle).into_owned();
        self.prepared.lock().remove(&handle);
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.grant(&request)?;
        info_for(
            &query.clone().into_builder().schema(),
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.grant(&request)?;
        let mut builder = query.into_builder();
        builder.append(CATALOG_NAME);
        let schema = builder.schema();
        one_batch(schema, builder.build().map_err(status)?)
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.grant(&request)?;
        info_for(
            &query.clone().into_builder().schema(),
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let grant = self.grant(&request)?;
        let mut namespaces: Vec<String> = self
            .db
            .table_names()
            .iter()
            .map(|t| split_name(t).0.to_owned())
            .collect();
        namespaces.push(DEFAULT_SCHEMA.to_owned());
        namespaces.sort();
        namespaces.dedup();
        let mut builder = query.into_builder();
        for ns in namespaces.into_iter().filter(|ns| self.visible(&grant, ns)) {
            builder.append(CATALOG_NAME, ns);
        }
        let schema = builder.schema();
        one_batch(schema, builder.build().map_err(status)?)
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.grant(&request)?;
        info_for(
            &query.clone().into_builder().schema(),
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let grant = self.grant(&request)?;
        let mut builder = query.into_builder();
        for stored in self.db.table_names() {
            let (ns, table) = split_name(&stored);
            if !self.visible(&grant, ns) {
                continue;
            }
            let Some(access) = self.db.table(&stored) else {
                continue;
            };
            let schema = arrow_schema(&access.schema());
            builder
                .append(CATALOG_NAME, ns, table, "TABLE", &schema)
                .map_err(status)?;
        }
        let schema = builder.schema();
        one_batch(schema, builder.build().map_err(status)?)
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.grant(&request)?;
        let schema = Schema::new(vec![Field::new("table_type", DataType::Utf8, false)]);
        info_for(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.grant(&request)?;
        let schema = Arc::new(Schema::new(vec![Field::new(
            "table_type",
            DataType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(datafusion::arrow::array::StringArray::from(vec![
                "TABLE",
            ]))],
        )
        .map_err(status)?;
        one_batch(schema, batch)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.grant(&request)?;
        let info = sql_info();
        info_for(
            query.clone().into_builder(&info).schema().as_ref(),
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.grant(&request)?;
        let info = sql_info();
        let builder = query.into_builder(&info);
        let schema = builder.schema();
        one_batch(schema, builder.build().map_err(status)?)
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<DoGetStream>, Status> {
        self.grant(&request)?;
        Err(Status::unimplemented(format!(
            "Quiver does not serve {}",
            message.type_url
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Serves until SIGINT or SIGTERM, then lets in-flight calls finish and flushes the database.
pub async fn serve(db: Arc<Database>, listen: SocketAddr, tokens: Tokens) -> Result<(), String> {
    let service = QuiverFlightSql::new(db.clone(), tokens);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("Quiver Flight SQL listening on {local}");
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        eprintln!("shutting down: finishing in-flight calls");
    };
    Server::builder()
        .add_service(FlightServiceServer::new(service))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
        .map_err(|e| format!("server failed: {e}"))?;
    db.flush().map_err(|e| e.to_string())?;
    eprintln!("database flushed; bye");
    Ok(())
}
