//! The Flight SQL service: statements, prepared statements with `?` or `$1` parameters (a
//! batch of parameter sets runs every set), updates through ExecuteUpdate and DoPut, and the
//! metadata calls.
//!
//! When a statement runs: a write (INSERT, UPDATE, DELETE) or DDL runs when the client asks
//! for its FlightInfo, so its outcome (a duplicate key, say) fails that call, and the ticket
//! then reads the affected row count. DB-API clients run DML with `execute` and never fetch:
//! a write deferred to the stream would be cancelled by their next call. A query is planned
//! at FlightInfo and runs when its ticket is read. Either way the ticket names a result
//! handle bound to the caller's grant (see `handles.rs`). The job functions (`claim_jobs`,
//! `complete_job`...) change the queue: they run at FlightInfo too, and their ticket reads
//! the jobs they wrote.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::EndTransaction;
use arrow_flight::sql::{
    ActionBeginTransactionRequest, ActionBeginTransactionResult,
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, ActionEndTransactionRequest, Any, CommandGetCatalogs,
    CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementQuery,
    CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{Stream, StreamExt, TryStreamExt};
use indexed_store::Database;
use parking_lot::Mutex;
use prost::Message;
use providers::runs_job_operation;
use providers::{FileAccess, ForwardedHeaders, PreparedStatement, Quiver, Transaction};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Grant, Tokens};
use super::errors::{internal, status};
use super::handles::Registry;
use super::limits::{bounded, Admission};
use super::metadata;
use super::replies::{
    batches_reply, bind, collect_parameters, count_batch, count_of, execute, forwarded,
    handle_text, info_for, one_batch, refuse_server_side_effects, schema_bytes, stream_batches,
    DoGetStream,
};
use super::transactions::{Clock, TransactionLimits, Transactions};
use crate::params::number_placeholders;

/// Open prepared statements one token may hold.
const PREPARED_PER_GRANT: usize = 10_000;
/// Results one token may leave unread.
const PENDING_PER_GRANT: usize = 10_000;

/// A prepared statement.
#[derive(Clone)]
enum Prepared {
    /// Quiver DDL, run from its text when executed.
    Ddl { sql: String, tx: Option<Binding> },
    /// A planned statement and the parameter sets bound to it (rows of the batches).
    Plan {
        statement: PreparedStatement,
        parameters: Vec<RecordBatch>,
        tx: Option<Binding>,
    },
}

/// The handle of the transaction a prepared statement was created in. Flight SQL's
/// executions of a prepared statement carry no transaction id, and ADBC's DB-API keeps a
/// cursor's prepared statement across `commit()`: once that transaction has ended, the
/// statement runs in the transaction its connection (the same token from the same client
/// address) has open, if exactly one; otherwise it fails. It never autocommits.
#[derive(Clone)]
struct Binding {
    handle: String,
}

/// What a ticket reads.
#[derive(Clone)]
enum Pending {
    /// A query to run, once per parameter set, one result after another.
    Rows(PreparedStatement, Vec<ParamValues>),
    /// A statement that already ran: its reply (a row count, the jobs a job function
    /// wrote, or nothing for DDL).
    Done(SchemaRef, Vec<RecordBatch>),
}

impl Pending {
    fn schema(&self) -> SchemaRef {
        match self {
            Pending::Rows(statement, _) => statement.schema(),
            Pending::Done(schema, _) => schema.clone(),
        }
    }

    fn done(batch: RecordBatch) -> Self {
        Pending::Done(batch.schema(), vec![batch])
    }

    /// The rows a write changed.
    fn count(&self) -> i64 {
        match self {
            Pending::Done(_, batches) => count_of(batches) as i64,
            // ExecuteUpdate of a query: nothing changed.
            Pending::Rows(..) => 0,
        }
    }
}

/// The Flight SQL service.
#[derive(Clone)]
pub struct QuiverFlightSql {
    db: Arc<Database>,
    tokens: Arc<Tokens>,
    sessions: Arc<Mutex<HashMap<Option<String>, Quiver>>>,
    prepared: Arc<Registry<Prepared>>,
    pending: Arc<Registry<Pending>>,
    admission: Arc<Admission>,
    /// The files every session may read and write.
    files: FileAccess,
    /// Open transactions, by handle.
    transactions: Arc<Transactions>,
}

impl QuiverFlightSql {
    /// A service over the database.
    pub fn new(db: Arc<Database>, tokens: Tokens, admission: Admission) -> Self {
        QuiverFlightSql {
            db,
            tokens: Arc::new(tokens),
            sessions: Arc::default(),
            prepared: Arc::new(Registry::new("prepared statement", PREPARED_PER_GRANT)),
            pending: Arc::new(Registry::new("result", PENDING_PER_GRANT)),
            admission: Arc::new(admission),
            files: FileAccess::Denied,
            transactions: Arc::new(Transactions::new(
                TransactionLimits::default(),
                Arc::new(std::time::Instant::now),
            )),
        }
    }

    /// The service with these bounds on transactions, time read from `clock`.
    pub fn with_transactions(mut self, limits: TransactionLimits, clock: Clock) -> Self {
        self.transactions = Arc::new(Transactions::new(limits, clock));
        self
    }

    /// The service with the files its sessions may read and write (none by default).
    pub fn with_files(mut self, files: FileAccess) -> Self {
        self.files = files;
        self
    }

    /// Drops prepared statements and unread results idle for `idle`, and rolls back the
    /// transactions idle or open too long; returns how many.
    pub fn sweep(&self, idle: std::time::Duration) -> usize {
        self.prepared.sweep(idle) + self.pending.sweep(idle) + self.transactions.sweep()
    }

    /// The transaction a call names (`NotFound` unless it is the caller's and open), or
    /// None for a call outside one.
    fn transaction(
        &self,
        grant: &Grant,
        id: Option<&bytes::Bytes>,
    ) -> Result<Option<Transaction>, Status> {
        id.map(|id| self.transactions.get(grant, &handle_text(id)))
            .transpose()
    }

    fn grant<T>(&self, request: &Request<T>) -> Result<Grant, Status> {
        self.tokens.authenticate(request.metadata())
    }

    /// The session a grant works in: for a tenant, a catalog that holds only its namespace.
    /// Every statement and metadata call of the grant goes through it.
    fn session(&self, grant: &Grant) -> Quiver {
        let mut sessions = self.sessions.lock();
        sessions
            .entry(grant.namespace.clone())
            .or_insert_with(|| {
                match &grant.namespace {
                    Some(ns) => Quiver::restricted(self.db.clone(), ns),
                    None => Quiver::new(self.db.clone()),
                }
                .with_file_access(self.files.clone())
            })
            .clone()
    }

    /// Runs Quiver DDL now.
    async fn run_ddl(
        &self,
        session: &Quiver,
        tx: Option<&Transaction>,
        sql: &str,
    ) -> Result<Pending, Status> {
        let admitted = self.admission.admit().await?;
        admitted
            .within(async {
                // In a transaction that has written nothing it runs on its own; in one that
                // has, it is refused (see `providers::Transaction`).
                let ran = match tx {
                    Some(tx) => tx.query(sql).await.map(drop),
                    None => match session.sql(sql).await {
                        Ok(frame) => frame.collect().await.map(drop),
                        Err(e) => Err(e),
                    },
                };
                ran.map_err(status)
            })
            .await?;
        Ok(Pending::done(RecordBatch::new_empty(Arc::new(
            Schema::empty(),
        ))))
    }

    /// Runs a statement that changes data once per plan, now; returns what they returned.
    async fn run_now(
        &self,
        statement: &PreparedStatement,
        runs: Vec<ParamValues>,
    ) -> Result<Vec<RecordBatch>, Status> {
        let admitted = self.admission.admit().await?;
        let work = async {
            let mut all = Vec::new();
            for params in runs {
                let stream = execute(
                    statement,
                    params,
                    admitted.runtime.clone(),
                    ForwardedHeaders::default(),
                )
                .await
                .map_err(status)?;
                let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(status)?;
                all.extend(batches);
            }
            Ok(all)
        };
        admitted.within(work).await
    }

    /// What a statement's ticket will read: writes and DDL run here. With a transaction,
    /// the statement runs in it.
    async fn start_statement(
        &self,
        grant: &Grant,
        sql: &str,
        transaction: Option<&bytes::Bytes>,
    ) -> Result<Pending, Status> {
        let session = self.session(grant);
        let tx = self.transaction(grant, transaction)?;
        if Quiver::is_ddl(sql) {
            return self.run_ddl(&session, tx.as_ref(), sql).await;
        }
        let statement = match tx {
            Some(tx) => tx.prepare(sql).await.map_err(status)?,
            None => session.prepare(sql).await.map_err(status)?,
        };
        self.start_plans(statement, vec![ParamValues::List(Vec::new())])
            .await
    }

    /// What a prepared statement's ticket will read: writes and DDL run here.
    async fn start_prepared(
        &self,
        grant: &Grant,
        handle: &str,
        peer: Option<SocketAddr>,
    ) -> Result<Pending, Status> {
        let session = self.session(grant);
        let bound = |b: &Option<Binding>| {
            b.as_ref()
                .map(|b| self.transactions.resolve(grant, &b.handle, peer))
                .transpose()
        };
        match self.prepared.get(grant, handle)? {
            Prepared::Ddl { sql, tx } => {
                let tx = bound(&tx)?;
                self.run_ddl(&session, tx.as_ref(), &sql).await
            }
            Prepared::Plan {
                statement,
                parameters,
                tx,
            } => {
                let statement = match bound(&tx)? {
                    Some(tx) => statement.in_transaction(tx),
                    None => statement,
                };
                let runs = bind(&statement, &parameters)?;
                self.start_plans(statement, runs).await
            }
        }
    }

    async fn start_plans(
        &self,
        statement: PreparedStatement,
        runs: Vec<ParamValues>,
    ) -> Result<Pending, Status> {
        let plan = statement.logical_plan();
        refuse_server_side_effects(&plan)?;
        let write = providers::is_write(&plan);
        if write && providers::returns_rows(&plan) {
            // INSERT/UPDATE/DELETE ... RETURNING: written now, its rows read by the ticket.
            let batches = self.run_now(&statement, runs).await?;
            return Ok(Pending::Done(statement.schema(), batches));
        }
        if write {
            let count = count_of(&self.run_now(&statement, runs).await?);
            return Ok(Pending::done(count_batch(count)?));
        }
        if runs_job_operation(&plan) {
            let batches = self.run_now(&statement, runs).await?;
            return Ok(Pending::Done(statement.schema(), batches));
        }
        Ok(Pending::Rows(statement, runs))
    }

    /// A FlightInfo whose ticket reads `pending`.
    fn info_reading(
        &self,
        grant: &Grant,
        pending: Pending,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = pending.schema();
        let handle = self.pending.insert(grant, pending)?;
        let ticket = TicketStatementQuery {
            statement_handle: handle.into_bytes().into(),
        };
        info_for(&schema, ticket.as_any().encode_to_vec(), descriptor)
    }

    /// The reply stream of a pending result.
    async fn read(
        &self,
        pending: Pending,
        headers: ForwardedHeaders,
    ) -> Result<Response<DoGetStream>, Status> {
        let schema = pending.schema();
        let (statement, runs) = match pending {
            Pending::Done(_, batches) => return batches_reply(schema, batches),
            Pending::Rows(statement, runs) => (statement, runs),
        };
        let admitted = self.admission.admit().await?;
        let mut runs = runs.into_iter();
        let first = runs
            .next()
            .ok_or_else(|| Status::internal("no parameter set to run"))?;
        // The first result's errors (planning, a missing table) fail the call itself.
        let first = admitted
            .within(async {
                execute(&statement, first, admitted.runtime.clone(), headers.clone())
                    .await
                    .map_err(status)
            })
            .await?;
        let rest: Vec<ParamValues> = runs.collect();
        let stream = if rest.is_empty() {
            first
        } else {
            // Several parameter sets: the results one after another.
            let runtime = admitted.runtime.clone();
            let more = futures::stream::iter(rest)
                .then(move |params| {
                    let (statement, runtime) = (statement.clone(), runtime.clone());
                    let headers = headers.clone();
                    async move { execute(&statement, params, runtime, headers).await }
                })
                .try_flatten();
            Box::pin(RecordBatchStreamAdapter::new(
                schema.clone(),
                first.chain(more),
            ))
        };
        Ok(Response::new(stream_batches(
            schema,
            bounded(stream, admitted),
        )))
    }
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
        let token = self.tokens.handshake(request.metadata())?;
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        };
        let mut response: Response<
            Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>,
        > = Response::new(Box::pin(futures::stream::iter(vec![Ok(reply)])));
        if !token.is_empty() {
            let value = MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|_| Status::invalid_argument("the token is not a valid header value"))?;
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
        let pending = self
            .start_statement(&grant, &query.query, query.transaction_id.as_ref())
            .await?;
        self.info_reading(&grant, pending, request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let grant = self.grant(&request)?;
        let pending = self
            .pending
            .take(&grant, &handle_text(&ticket.statement_handle))?;
        self.read(pending, forwarded(&request)).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let grant = self.grant(&request)?;
        let pending = self
            .start_prepared(
                &grant,
                &handle_text(&cmd.prepared_statement_handle),
                request.remote_addr(),
            )
            .await?;
        self.info_reading(&grant, pending, request.into_inner())
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        // Our FlightInfos never hand out this ticket; a client that builds it itself gets
        // the statement run now, as GetFlightInfo + DoGet would.
        let grant = self.grant(&request)?;
        let pending = self
            .start_prepared(
                &grant,
                &handle_text(&cmd.prepared_statement_handle),
                request.remote_addr(),
            )
            .await?;
        self.read(pending, forwarded(&request)).await
    }

    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let grant = self.grant(&request)?;
        let handle = handle_text(&cmd.prepared_statement_handle);
        // Check ownership before reading the client's data.
        self.prepared.get(&grant, &handle)?;
        let parameters = collect_parameters(request.into_inner()).await?;
        self.prepared.update(&grant, &handle, |p| {
            if let Prepared::Plan { parameters: p, .. } = p {
                *p = parameters;
            }
        })?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle.into_bytes().into()),
        })
    }

    async fn do_put_prepared_statement_update(
        &self,
        cmd: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let grant = self.grant(&request)?;
        let handle = handle_text(&cmd.prepared_statement_handle);
        self.prepared.get(&grant, &handle)?;
        let peer = request.remote_addr();
        let parameters = collect_parameters(request.into_inner()).await?;
        if !parameters.is_empty() {
            self.prepared.update(&grant, &handle, |p| {
                if let Prepared::Plan { parameters: p, .. } = p {
                    *p = parameters;
                }
            })?;
        }
        Ok(self.start_prepared(&grant, &handle, peer).await?.count())
    }

    async fn do_put_statement_update(
        &self,
        cmd: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let grant = self.grant(&request)?;
        Ok(self
            .start_statement(&grant, &cmd.query, cmd.transaction_id.as_ref())
            .await?
            .count())
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let grant = self.grant(&request)?;
        let sql = number_placeholders(&query.query);
        let tx = self.transaction(&grant, query.transaction_id.as_ref())?;
        let binding = query.transaction_id.as_ref().map(|id| Binding {
            handle: handle_text(id),
        });
        if Quiver::is_ddl(&sql) {
            let handle = self
                .prepared
                .insert(&grant, Prepared::Ddl { sql, tx: binding })?;
            let empty = schema_bytes(&Schema::empty())?;
            return Ok(ActionCreatePreparedStatementResult {
                prepared_statement_handle: handle.into_bytes().into(),
                dataset_schema: empty.clone(),
                parameter_schema: empty,
            });
        }
        let statement = match &tx {
            Some(tx) => tx.prepare(&sql).await.map_err(status)?,
            None => self.session(&grant).prepare(&sql).await.map_err(status)?,
        };
        let plan = statement.logical_plan();
        refuse_server_side_effects(&plan)?;
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
        let handle = self.prepared.insert(
            &grant,
            Prepared::Plan {
                statement,
                parameters: Vec::new(),
                tx: binding,
            },
        )?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into_bytes().into(),
            dataset_schema: dataset,
            parameter_schema: parameters,
        })
    }

    async fn do_action_begin_transaction(
        &self,
        _query: ActionBeginTransactionRequest,
        request: Request<Action>,
    ) -> Result<ActionBeginTransactionResult, Status> {
        let grant = self.grant(&request)?;
        let handle =
            self.transactions
                .begin(&grant, &self.session(&grant), request.remote_addr())?;
        Ok(ActionBeginTransactionResult {
            transaction_id: handle.into_bytes().into(),
        })
    }

    async fn do_action_end_transaction(
        &self,
        query: ActionEndTransactionRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let grant = self.grant(&request)?;
        let handle = handle_text(&query.transaction_id);
        let tx = self.transactions.entry(&grant, &handle)?;
        match EndTransaction::try_from(query.action) {
            Ok(EndTransaction::Commit) => {
                tx.commit().await.map_err(status)?;
                self.transactions.forget(&handle);
                Ok(())
            }
            // Also what follows a failed COMMIT (the transaction is already rolled back).
            Ok(EndTransaction::Rollback) => {
                self.transactions.forget(&handle);
                tx.rollback().await;
                Ok(())
            }
            _ => {
                // Not understood: rolled back, never committed by guess.
                self.transactions.forget(&handle);
                tx.rollback().await;
                Err(Status::invalid_argument(format!(
                    "EndTransaction action {} is neither COMMIT nor ROLLBACK; the transaction was rolled back",
                    query.action
                )))
            }
        }
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let grant = self.grant(&request)?;
        // Closing is idempotent: a handle already closed, expired or not the caller's
        // answers the same, so closing reveals nothing about other grants' handles.
        let _ = self
            .prepared
            .take(&grant, &handle_text(&query.prepared_statement_handle));
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.grant(&request)?;
        info_for(
            &query.into_builder().schema(),
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
        let (schema, batch) = metadata::catalogs(query)?;
        one_batch(schema, batch)
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
        let (schema, batch) = metadata::schemas(&self.session(&grant), query)?;
        one_batch(schema, batch)
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
        let (schema, batch) = metadata::tables(&self.session(&grant), query).await?;
        one_batch(schema, batch)
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.grant(&request)?;
        info_for(
            &metadata::table_types_schema(),
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
        one_batch(metadata::table_types_schema(), metadata::table_types()?)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.grant(&request)?;
        let info = metadata::sql_info(self.transactions.limits().idle);
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
        let info = metadata::sql_info(self.transactions.limits().idle);
        let builder = query.into_builder(&info);
        let schema = builder.schema();
        one_batch(schema, builder.build().map_err(internal)?)
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
