//! Verification of a single event: encodings, format version, signature, body hash,
//! body shape. Each failure is a distinct, named error.
//!
//! What this module deliberately does not check: chain order (that needs the
//! receiver's head, see [`crate::log`]) and authority (who may write what, which needs
//! the enrollment state).

use ed25519_dalek::{Signature, VerifyingKey};

use crate::body::{Body, BodyError};
use crate::codec::{self, CodecError};
use crate::event::{FORMAT_VERSION, ReplicaId, Seq, SignedEvent, VerifiedEvent};

/// Why an event was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header bytes are malformed, non-canonical or out of range.
    #[error("bad header: {0}")]
    Header(#[from] CodecError),
    /// The header was written by a format this build does not know.
    #[error("unsupported format version {found} (this build reads {supported})")]
    UnsupportedFormatVersion {
        /// The header's version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// Seq 0 is not a position in a log.
    #[error("seq 0 is not a valid position")]
    ZeroSeq,
    /// The replica field is not a valid Ed25519 public key.
    #[error("replica {replica:?} is not a valid Ed25519 public key")]
    InvalidReplicaKey {
        /// The replica field.
        replica: ReplicaId,
    },
    /// The signature is not 64 bytes.
    #[error("signature is {len} bytes, expected 64")]
    SignatureLength {
        /// Its length.
        len: usize,
    },
    /// The signature does not verify against the replica's key.
    #[error("bad signature on {replica:?} seq {seq}")]
    BadSignature {
        /// The claimed writer.
        replica: ReplicaId,
        /// The claimed position.
        seq: Seq,
    },
    /// The body does not hash to the header's body hash.
    #[error("body hash mismatch on {replica:?} seq {seq}")]
    BodyHashMismatch {
        /// The writer.
        replica: ReplicaId,
        /// The position.
        seq: Seq,
    },
    /// The body is not the message of the header's kind.
    #[error("bad body on {replica:?} seq {seq}: {error}")]
    Body {
        /// The writer.
        replica: ReplicaId,
        /// The position.
        seq: Seq,
        /// What is wrong.
        error: BodyError,
    },
}

/// Verifies one event.
///
/// # Errors
///
/// [`VerifyError`] names the first check that failed.
pub fn verify(event: &SignedEvent) -> Result<VerifiedEvent, VerifyError> {
    let header = codec::decode_header(&event.header)?;
    if header.format_version != FORMAT_VERSION {
        return Err(VerifyError::UnsupportedFormatVersion { found: header.format_version, supported: FORMAT_VERSION });
    }
    if header.seq.0 == 0 {
        return Err(VerifyError::ZeroSeq);
    }
    let key = VerifyingKey::from_bytes(&header.replica.0)
        .map_err(|_| VerifyError::InvalidReplicaKey { replica: header.replica })?;
    let signature: [u8; 64] =
        event.signature.as_ref().try_into().map_err(|_| VerifyError::SignatureLength { len: event.signature.len() })?;
    key.verify_strict(&event.header, &Signature::from_bytes(&signature))
        .map_err(|_| VerifyError::BadSignature { replica: header.replica, seq: header.seq })?;
    if let Some(body) = &event.body {
        if codec::body_hash(body) != header.body_hash {
            return Err(VerifyError::BodyHashMismatch { replica: header.replica, seq: header.seq });
        }
        Body::decode(header.kind, body).map_err(|error| VerifyError::Body {
            replica: header.replica,
            seq: header.seq,
            error,
        })?;
    }
    Ok(VerifiedEvent {
        hash: codec::event_hash(&event.header),
        header,
        header_bytes: event.header.clone(),
        signature,
        body: event.body.clone(),
    })
}
