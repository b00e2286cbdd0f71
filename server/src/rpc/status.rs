//! The one mapping from rollcall errors to gRPC status codes.
//!
//! `InvalidArgument`: malformed input, bad signatures. `FailedPrecondition`: a gap or
//! fork in a log. `ResourceExhausted`: a limit was hit. `Unavailable`: shutting down.
//! `Internal`: storage failures; the detail is logged, the caller gets a generic text.
//! A rule of the audit refusing a draft is `FailedPrecondition`: the message is English,
//! and the Chinese text travels in the binary metadata [`RULE_ZH_METADATA`].

use tonic::Status;

use crate::queries::QueryError;
use crate::store::StoreError;

/// Metadata key of the Chinese text of a refusal a person can act on: a rule of the
/// audit or authority (UTF-8 bytes).
pub const RULE_ZH_METADATA: &str = "rollcall-rule-zh-bin";
use crate::writer::AppendError;

/// Maps an append failure.
pub fn append_error(error: AppendError) -> Status {
    let zh = error.message_zh();
    let mut status = match error {
        AppendError::InvalidDraft { .. } => Status::invalid_argument(error.to_string()),
        AppendError::NotAuthorised { .. } => Status::permission_denied(error.to_string()),
        AppendError::RuleViolated { .. } => Status::failed_precondition(error.to_string()),
        AppendError::StoreFailed(_) => Status::internal("storage failure; see the node's log"),
        AppendError::Stopped => Status::unavailable("the node is shutting down"),
        AppendError::PartlyRecorded { .. } => Status::invalid_argument(error.to_string()),
        AppendError::InFlight => Status::aborted(error.to_string()),
        AppendError::RepeatedDraftId => Status::invalid_argument(error.to_string()),
        AppendError::Recovering => Status::failed_precondition(error.to_string()),
    };
    if let Some(zh) = zh {
        status.metadata_mut().insert_bin(RULE_ZH_METADATA, tonic::metadata::MetadataValue::from_bytes(zh.as_bytes()));
    }
    status
}

/// Maps a store failure (logged here, since the caller only sees a generic message).
pub fn store_error(error: StoreError) -> Status {
    tracing::error!(%error, "store failure while serving a request");
    Status::internal("storage failure; see the node's log")
}

/// Maps a refused query.
pub fn query_error(error: QueryError) -> Status {
    match error {
        QueryError::BadUnit(_) | QueryError::NoTable(_) => Status::invalid_argument(error.to_string()),
        QueryError::OutsideScope { .. } => Status::permission_denied(error.to_string()),
        QueryError::NoMember(_) => Status::not_found(error.to_string()),
    }
}

/// Maps a dossier that cannot be built.
pub fn dossier_error(error: crate::dossier::DossierError) -> Status {
    use crate::dossier::DossierError as E;
    let zh = error.message_zh();
    let mut status = match error {
        E::NoCase { .. } | E::NoReport { .. } => Status::not_found(error.to_string()),
        E::Ambiguous { .. } => Status::invalid_argument(error.to_string()),
        E::OutsideScope { .. } => Status::permission_denied(error.to_string()),
        E::Store(store) => return store_error(store),
        E::SelfCheck(_) | E::Archive(_) => {
            tracing::error!(%error, "a dossier could not be built");
            Status::internal(error.to_string())
        }
    };
    status.metadata_mut().insert_bin(RULE_ZH_METADATA, tonic::metadata::MetadataValue::from_bytes(zh.as_bytes()));
    status
}
