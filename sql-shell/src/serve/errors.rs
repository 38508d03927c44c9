//! The one place that turns an error into a gRPC status. The code comes from the error's
//! type (the store's `StoreError`, the SQL layer's `SqlError`, DataFusion's and Arrow's
//! variants), never from its message; the message goes to the client unchanged.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use indexed_store::StoreError;
use providers::SqlError;
use tonic::{Code, Status};

/// The status a DataFusion error (with whatever it carries) becomes.
pub fn status(e: DataFusionError) -> Status {
    let code = code_of(&e);
    Status::new(code, e.to_string())
}

/// The status of an error that is not DataFusion's (Arrow encoding, I/O).
pub fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

fn code_of(e: &DataFusionError) -> Code {
    match e {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            code_of(inner)
        }
        DataFusionError::Shared(inner) => code_of(inner),
        DataFusionError::Collection(all) => all.first().map_or(Code::Internal, code_of),
        DataFusionError::External(boxed) => external_code(boxed.as_ref()),
        DataFusionError::ArrowError(a, _) => arrow_code(a),
        // Bad SQL, unknown columns, ambiguous names: the statement is at fault.
        DataFusionError::SQL(..) | DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => {
            Code::InvalidArgument
        }
        DataFusionError::NotImplemented(_) => Code::Unimplemented,
        DataFusionError::ResourcesExhausted(_) => Code::ResourceExhausted,
        DataFusionError::Configuration(_) => Code::InvalidArgument,
        _ => Code::Internal,
    }
}

fn external_code(e: &(dyn std::error::Error + Send + Sync + 'static)) -> Code {
    if let Some(store) = e.downcast_ref::<StoreError>() {
        return store_code(store);
    }
    if let Some(sql) = e.downcast_ref::<SqlError>() {
        return match sql {
            SqlError::TableNotFound(_)
            | SqlError::IndexNotFound(_)
            | SqlError::UnknownTransaction(_) => Code::NotFound,
            SqlError::TransactionInProgress
            | SqlError::NoTransaction(_)
            | SqlError::TransactionBusy(_) => Code::FailedPrecondition,
            SqlError::LoadFailed { .. } => Code::Unavailable,
            SqlError::OutsideNamespace { .. } | SqlError::FileRefused { .. } => {
                Code::PermissionDenied
            }
            SqlError::Unsupported { .. }
            | SqlError::InvalidList { .. }
            | SqlError::NoConflictKey { .. } => Code::InvalidArgument,
            // The rows sent conflict with each other, as with a duplicate key.
            SqlError::ConflictTwice { .. } => Code::AlreadyExists,
        };
    }
    if let Some(df) = e.downcast_ref::<DataFusionError>() {
        return code_of(df);
    }
    if let Some(a) = e.downcast_ref::<ArrowError>() {
        return arrow_code(a);
    }
    if let Some(status) = e.downcast_ref::<Status>() {
        return status.code();
    }
    Code::Internal
}

fn arrow_code(e: &ArrowError) -> Code {
    match e {
        ArrowError::ExternalError(inner) => external_code(inner.as_ref()),
        ArrowError::CastError(_)
        | ArrowError::ParseError(_)
        | ArrowError::InvalidArgumentError(_)
        | ArrowError::DivideByZero
        | ArrowError::ArithmeticOverflow(_)
        | ArrowError::ComputeError(_) => Code::InvalidArgument,
        ArrowError::MemoryError(_) => Code::ResourceExhausted,
        _ => Code::Internal,
    }
}

fn store_code(e: &StoreError) -> Code {
    match e {
        StoreError::DuplicateKey { .. }
        | StoreError::UniqueViolation { .. }
        | StoreError::TableExists(_)
        | StoreError::ViewExists(_)
        | StoreError::IndexExists { .. }
        | StoreError::ColumnExists { .. } => Code::AlreadyExists,
        StoreError::NotFound { .. }
        | StoreError::UnknownTable(_)
        | StoreError::UnknownView(_)
        | StoreError::UnknownIndex { .. } => Code::NotFound,
        StoreError::UnknownColumn { .. }
        | StoreError::TypeMismatch { .. }
        | StoreError::NullViolation { .. }
        | StoreError::InvalidDefinition { .. }
        | StoreError::IndexOnExpiringField { .. }
        | StoreError::SystemTable(..)
        | StoreError::InvalidAccessPath { .. }
        | StoreError::InvalidJob(_) => Code::InvalidArgument,
        StoreError::LoadInputFailed { .. } => Code::InvalidArgument,
        StoreError::InvalidTransition { .. }
        | StoreError::InUse { .. }
        | StoreError::AlterInUse { .. }
        | StoreError::ColumnInUse { .. } => Code::FailedPrecondition,
        StoreError::ViewCycle { .. } | StoreError::UnknownSavepoint(_) => Code::InvalidArgument,
        // Another transaction won: roll back and retry.
        StoreError::SerializationFailure { .. } => Code::Aborted,
        StoreError::TransactionTooLarge { .. } => Code::ResourceExhausted,
        StoreError::TransactionFailed(_)
        | StoreError::TransactionClosed(_)
        | StoreError::ReadOnlyTransaction(_) => Code::FailedPrecondition,
        StoreError::Storage(_)
        | StoreError::UnsupportedFormat { .. }
        | StoreError::LoadNotUndone { .. }
        | StoreError::Corrupt { .. }
        | StoreError::Codec(_)
        | StoreError::Task(_) => Code::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
        DataFusionError::External(Box::new(e))
    }

    #[test]
    fn codes_follow_the_error_type_not_its_text() {
        let cases = [
            (
                external(StoreError::DuplicateKey {
                    table: "t".into(),
                    key: "(1)".into(),
                }),
                Code::AlreadyExists,
            ),
            (
                external(StoreError::UniqueViolation {
                    table: "t".into(),
                    index: "i".into(),
                    value: "x".into(),
                }),
                Code::AlreadyExists,
            ),
            (
                external(SqlError::TableNotFound("quiver.public.nope".into())),
                Code::NotFound,
            ),
            (
                external(SqlError::OutsideNamespace {
                    table: "b.t".into(),
                    namespace: "a".into(),
                }),
                Code::PermissionDenied,
            ),
            // A message that says "internal" or "not found" does not change the code.
            (
                DataFusionError::Plan("something not found internally".into()),
                Code::InvalidArgument,
            ),
            (
                DataFusionError::Execution("unknown table".into()),
                Code::Internal,
            ),
            (
                DataFusionError::ArrowError(Box::new(ArrowError::CastError("bad".into())), None),
                Code::InvalidArgument,
            ),
            (
                DataFusionError::ResourcesExhausted("memory".into()),
                Code::ResourceExhausted,
            ),
            (
                DataFusionError::Context(
                    "while writing".into(),
                    Box::new(external(StoreError::UnknownTable("t".into()))),
                ),
                Code::NotFound,
            ),
            (
                external(DataFusionError::External(Box::new(
                    Status::deadline_exceeded("slow"),
                ))),
                Code::DeadlineExceeded,
            ),
        ];
        for (error, code) in cases {
            let text = error.to_string();
            assert_eq!(status(error).code(), code, "{text}");
        }
    }
}
