//! The one mapping from rollcall errors to gRPC status codes.
//!
//! `InvalidArgument`: malformed input, bad signatures. `FailedPrecondition`: a gap or
//! fork in a log. `ResourceExhausted`: a limit was hit. `Unavailable`: shutting down.
//! `Internal`: storage failures; the detail is logged, the caller gets a generic text.

use tonic::Status;

use crate::store::StoreError;
use crate::writer::AppendError;

/// Maps an append failure.
pub fn append_error(error: AppendError) -> Status {
    match error {
        AppendError::InvalidDraft { .. } => Status::invalid_argument(error.to_string()),
        AppendError::NotAuthorised { .. } => Status::permission_denied(error.to_string()),
        AppendError::StoreFailed(_) => Status::internal("storage failure; see the node's log"),
        AppendError::Stopped => Status::unavailable("the node is shutting down"),
    }
}

/// Maps a store failure (logged here, since the caller only sees a generic message).
pub fn store_error(error: StoreError) -> Status {
    tracing::error!(%error, "store failure while serving a request");
    Status::internal("storage failure; see the node's log")
}
