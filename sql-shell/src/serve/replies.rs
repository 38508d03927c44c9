//! How the service's results travel: FlightInfo with a ticket, record batches and row
//! counts as Flight data, parameter sets read from DoPut, and what a call forwards to the
//! loaders.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, IpcMessage, SchemaAsIpc, Ticket};
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::{Stream, TryStreamExt};
use providers::{ForwardedHeaders, PreparedStatement, SqlError};
use tonic::{Request, Response, Status};

use super::errors::{internal, status};

pub(super) type DoGetStream =
    Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static>>;

pub(super) fn schema_bytes(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(internal)?;
    Ok(bytes)
}

pub(super) fn info_for(
    schema: &Schema,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(internal)?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

pub(super) fn stream_batches(
    schema: SchemaRef,
    batches: impl Stream<Item = Result<RecordBatch, Status>> + Send + 'static,
) -> DoGetStream {
    Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches.map_err(FlightError::from))
            .map_err(Status::from),
    )
}

/// A reply of one batch.
pub(super) fn one_batch(
    schema: SchemaRef,
    batch: RecordBatch,
) -> Result<Response<DoGetStream>, Status> {
    batches_reply(schema, vec![batch])
}

/// A reply of batches at hand.
pub(super) fn batches_reply(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<Response<DoGetStream>, Status> {
    Ok(Response::new(stream_batches(
        schema,
        futures::stream::iter(batches.into_iter().map(Ok)),
    )))
}

pub(super) fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

/// The reply of a write: one row, the rows it changed.
pub(super) fn count_batch(count: u64) -> Result<RecordBatch, Status> {
    let column: ArrayRef = Arc::new(UInt64Array::from(vec![count]));
    RecordBatch::try_new(count_schema(), vec![column]).map_err(internal)
}

/// The rows of a result's `count` column, summed (DML), or 0.
pub(super) fn count_of(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter(|b| b.num_columns() == 1 && b.schema().field(0).name() == "count")
        .filter_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .map(|a| a.iter().flatten().sum::<u64>())
        })
        .sum()
}

/// True for a statement that changes rows (DML; job functions are told apart by
/// [`runs_job_operation`]).
/// Refuses what must not run over the network: statements that change the session (shared
/// by every client of a token), DataFusion's own DDL (external tables read the server's
/// files) and COPY (writes them).
pub(super) fn refuse_server_side_effects(plan: &LogicalPlan) -> Result<(), Status> {
    let what = match plan {
        LogicalPlan::Statement(s) => s.name().to_owned(),
        LogicalPlan::Ddl(d) => d.name().to_owned(),
        // COPY reaches a plan only when the session's FileAccess allowed its file.
        _ => return Ok(()),
    };
    Err(status(
        SqlError::Unsupported {
            what,
            context: "over Flight SQL".into(),
            instead: "the server's session is shared by every client of a token; use Flight SQL prepared statements for parameters, CREATE/DROP TABLE or INDEX for schema changes, and COPY for files (in the directory given to `quiver serve --files`)".into(),
        }
        .into(),
    ))
}

/// The parameter sets bound to a prepared statement, one Vec per row.
pub(super) fn parameter_sets(batches: &[RecordBatch]) -> Result<Vec<Vec<ScalarValue>>, Status> {
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

/// The parameter values of each run: one per bound parameter set (or one empty set, for a
/// statement without parameters).
pub(super) fn bind(
    statement: &PreparedStatement,
    parameters: &[RecordBatch],
) -> Result<Vec<ParamValues>, Status> {
    let wanted = statement.parameter_types().map_err(status)?.len();
    if wanted == 0 {
        return Ok(vec![ParamValues::List(Vec::new())]);
    }
    let sets = parameter_sets(parameters)?;
    if sets.is_empty() {
        return Err(Status::invalid_argument(format!(
            "the statement has {wanted} parameter(s) and none were bound"
        )));
    }
    sets.into_iter()
        .map(|values| {
            if values.len() != wanted {
                return Err(Status::invalid_argument(format!(
                    "the statement has {wanted} parameter(s), a set has {}",
                    values.len()
                )));
            }
            Ok(ParamValues::from(values))
        })
        .collect()
}

pub(super) async fn collect_parameters(
    stream: PeekableFlightDataStream,
) -> Result<Vec<RecordBatch>, Status> {
    // A DoPut may carry only the command (an empty message): no parameters then.
    let messages = stream.try_filter(|m| futures::future::ready(!m.data_header.is_empty()));
    let decoded =
        FlightRecordBatchStream::new_from_flight_data(messages.map_err(FlightError::from));
    decoded.try_collect().await.map_err(Status::from)
}

/// Runs a plan with an admitted query's runtime (its memory pool).
pub(super) async fn execute(
    statement: &PreparedStatement,
    params: ParamValues,
    runtime: Arc<RuntimeEnv>,
    headers: ForwardedHeaders,
) -> DfResult<SendableRecordBatchStream> {
    statement
        .execute_forwarding(params, Some(runtime), headers)
        .await
}

/// The call's headers, for the loaders of the tables a read needs (each passes on only the
/// headers its table's `forward_headers` names).
pub(super) fn forwarded<T>(request: &Request<T>) -> ForwardedHeaders {
    let headers = request
        .metadata()
        .clone()
        .into_headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    ForwardedHeaders(headers)
}

pub(super) fn handle_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
