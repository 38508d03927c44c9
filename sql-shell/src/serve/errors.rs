//! The one place that turns an error into a gRPC status. The code and the SQLSTATE come
//! from the error's type (the store's `StoreError`, the SQL layer's `SqlError`, DataFusion's
//! and Arrow's variants), never from its message; the message goes to the client unchanged.
//!
//! The SQLSTATE (PostgreSQL's codes) travels as the metadata `x-quiver-sqlstate`, which
//! clients see beside the status (ADBC lists it among an error's details): `40001` is a
//! serialization failure, to roll back and retry; `25P02` a statement in a failed
//! transaction; `23505` a duplicate key.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use indexed_store::StoreError;
use providers::SqlError;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// The metadata key of the SQLSTATE.
pub const SQLSTATE_KEY: &str = "x-quiver-sqlstate";

/// The status a DataFusion error (with whatever it carries) becomes.
pub fn status(e: DataFusionError) -> Status {
    let (code, sqlstate) = class_of(&e);
    let mut status = Status::new(code, e.to_string());
    status
        .metadata_mut()
        .insert(SQLSTATE_KEY, MetadataValue::from_static(sqlstate));
    status
}

/// The status of an error that is not DataFusion's (Arrow encoding, I/O).
pub fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

/// A gRPC code and a SQLSTATE.
type Class = (Code, &'static str);

fn class_of(e: &DataFusionError) -> Class {
    match e {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            class_of(inner)
        }
        DataFusionError::Shared(inner) => class_of(inner),
        DataFusionError::Collection(all) => all.first().map_or(INTERNAL, class_of),
        DataFusionError::External(boxed) => external_class(boxed.as_ref()),
        DataFusionError::ArrowError(a, _) => arrow_class(a),
        // Bad SQL, unknown columns, ambiguous names: the statement is at fault.
        DataFusionError::SQL(..) => (Code::InvalidArgument, "42601"),
        DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => {
            (Code::InvalidArgument, "42000")
        }
        DataFusionError::NotImplemented(_) => (Code::Unimplemented, "0A000"),
        DataFusionError::ResourcesExhausted(_) => (Code::ResourceExhausted, "53000"),
        DataFusionError::Configuration(_) => (Code::InvalidArgument, "22023"),
        _ => INTERNAL,
    }
}

const INTERNAL: Class = (Code::Internal, "XX000");

fn external_class(e: &(dyn std::error::Error + Send + Sync + 'static)) -> Class {
    if let Some(store) = e.downcast_ref::<StoreError>() {
        return store_class(store);
    }
    if let Some(sql) = e.downcast_ref::<SqlError>() {
        return sql_class(sql);
    }
    if let Some(df) = e.downcast_ref::<DataFusionError>() {
        return class_of(df);
    }
    if let Some(a) = e.downcast_ref::<ArrowError>() {
        return arrow_class(a);
    }
    if let Some(status) = e.downcast_ref::<Status>() {
        let sqlstate = match status.code() {
            Code::DeadlineExceeded => "57014",
            Code::ResourceExhausted => "53000",
            _ => "XX000",
        };
        return (status.code(), sqlstate);
    }
    INTERNAL
}

fn sql_class(e: &SqlError) -> Class {
    match e {
        SqlError::TableNotFound(_) => (Code::NotFound, "42P01"),
        SqlError::IndexNotFound(_) => (Code::NotFound, "42704"),
        SqlError::UnknownTransaction(_) => (Code::NotFound, "25P01"),
        SqlError::TransactionInProgress => (Code::FailedPrecondition, "25001"),
        SqlError::NoTransaction(_) => (Code::FailedPrecondition, "25P01"),
        SqlError::TransactionBusy(_) => (Code::FailedPrecondition, "55006"),
        SqlError::LoadFailed { .. } => (Code::Unavailable, "58000"),
        SqlError::OutsideNamespace { .. } | SqlError::FileRefused { .. } => {
            (Code::PermissionDenied, "42501")
        }
        SqlError::Unsupported { .. } => (Code::InvalidArgument, "0A000"),
        SqlError::InvalidList { .. } | SqlError::NoConflictKey { .. } => {
            (Code::InvalidArgument, "42000")
        }
        // The rows sent conflict with each other, as with a duplicate key.
        SqlError::ConflictTwice { .. } => (Code::AlreadyExists, "21000"),
    }
}

fn arrow_class(e: &ArrowError) -> Class {
    match e {
        ArrowError::ExternalError(inner) => external_class(inner.as_ref()),
        ArrowError::DivideByZero => (Code::InvalidArgument, "22012"),
        ArrowError::ArithmeticOverflow(_) => (Code::InvalidArgument, "22003"),
        ArrowError::CastError(_) | ArrowError::ParseError(_) => (Code::InvalidArgument, "22P02"),
        ArrowError::InvalidArgumentError(_) | ArrowError::ComputeError(_) => {
            (Code::InvalidArgument, "22000")
        }
        ArrowError::MemoryError(_) => (Code::ResourceExhausted, "53200"),
        _ => INTERNAL,
    }
}

fn store_class(e: &StoreError) -> Class {
    match e {
        StoreError::DuplicateKey { .. } | StoreError::UniqueViolation { .. } => {
            (Code::AlreadyExists, "23505")
        }
        StoreError::TableExists(_) | StoreError::ViewExists(_) | StoreError::IndexExists { .. } => {
            (Code::AlreadyExists, "42P07")
        }
        StoreError::ColumnExists { .. } => (Code::AlreadyExists, "42701"),
        StoreError::NotFound { .. } => (Code::NotFound, "02000"),
        StoreError::UnknownTable(_) | StoreError::UnknownView(_) => (Code::NotFound, "42P01"),
        StoreError::UnknownIndex { .. } => (Code::NotFound, "42704"),
        StoreError::UnknownColumn { .. } => (Code::InvalidArgument, "42703"),
        StoreError::TypeMismatch { .. } => (Code::InvalidArgument, "42804"),
        StoreError::NullViolation { .. } => (Code::InvalidArgument, "23502"),
        StoreError::InvalidDefinition { .. }
        | StoreError::IndexOnExpiringField { .. }
        | StoreError::SystemTable(..)
        | StoreError::InvalidAccessPath { .. }
        | StoreError::InvalidJob(_)
        | StoreError::LoadInputFailed { .. } => (Code::InvalidArgument, "22023"),
        StoreError::InvalidTransition { .. } => (Code::FailedPrecondition, "55000"),
        StoreError::InUse { .. }
        | StoreError::AlterInUse { .. }
        | StoreError::ColumnInUse { .. } => (Code::FailedPrecondition, "2BP01"),
        StoreError::ViewCycle { .. } => (Code::InvalidArgument, "42P17"),
        StoreError::UnknownSavepoint(_) => (Code::InvalidArgument, "3B001"),
        // Another transaction won: roll back and retry.
        StoreError::SerializationFailure { .. } => (Code::Aborted, "40001"),
        StoreError::TransactionTooLarge { .. } => (Code::ResourceExhausted, "54000"),
        StoreError::TransactionFailed(_) => (Code::FailedPrecondition, "25P02"),
        StoreError::TransactionClosed(_) => (Code::FailedPrecondition, "25P01"),
        StoreError::ReadOnlyTransaction(_) => (Code::FailedPrecondition, "25006"),
        StoreError::Storage(_)
        | StoreError::UnsupportedFormat { .. }
        | StoreError::LoadNotUndone { .. }
        | StoreError::Corrupt { .. }
        | StoreError::Codec(_)
        | StoreError::Task(_) => INTERNAL,
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
        // The SQLSTATE travels beside the code.
        let failure = status(external(StoreError::SerializationFailure {
            table: "t".into(),
            reason: "r".into(),
        }));
        assert_eq!(failure.code(), Code::Aborted);
        assert_eq!(
            failure
                .metadata()
                .get(SQLSTATE_KEY)
                .unwrap()
                .to_str()
                .unwrap(),
            "40001"
        );
    }
}
