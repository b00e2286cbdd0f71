//! Verification of a single event: encodings, format version, signature, body hash,
//! body shape. Each failure is a distinct, named error.
//!
//! What this module deliberately does not check: chain order (that needs the
//! receiver's head, see [`crate::log`]) and authority (who may write what, which needs
//! the enrollment state).

use std::collections::HashMap;

use chacha20::ChaCha20Rng;
use chacha20::rand_core::SeedableRng;
use ed25519_dalek::{Signature, VerifyingKey};
use ed25519_zebra::{VerificationKey, VerificationKeyBytes, batch};
use sha2::{Digest, Sha256};

use crate::body::{Body, BodyError};
use crate::codec::{self, CodecError};
use crate::event::{FORMAT_VERSION, Header, ReplicaId, Seq, SignedEvent, VerifiedEvent};

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
    let (checked, signature) = check_all_but_signature(event)?;
    check_key(checked.header.replica)?;
    let key = VerificationKey::try_from(checked.header.replica.0)
        .map_err(|_| VerifyError::InvalidReplicaKey { replica: checked.header.replica })?;
    key.verify(&Signature::from_bytes(&signature), &event.header)
        .map_err(|_| VerifyError::BadSignature { replica: checked.header.replica, seq: checked.header.seq })?;
    Ok(checked)
}

/// Verifies many events with one batched signature check for all, and the same
/// result, event by event, as [`verify`]: if the batch fails, each signature is checked
/// alone to name the bad ones.
///
/// Batch and single verification agree on every input because both use the ZIP-215
/// (cofactored) validity rule (`ed25519-zebra`); with the cofactorless rule of
/// `verify_strict`, a key holder could craft a signature that passes some batches and
/// fails others, and replicas would disagree. Signatures of one key share the key's
/// terms in the batch equation, so a batch from one replica (a sync catch-up) costs
/// about half of a batch of distinct keys. The batch's random coefficients come from a
/// ChaCha20 stream seeded with a hash of every input (as ed25519-dalek's batch does), so
/// this stays a pure function: SHA-256 (the CPU's SHA extensions where it has them) of
/// each signature and its header's hash, which binds the key, the seq and the body.
pub fn verify_many(events: &[SignedEvent]) -> Vec<Result<VerifiedEvent, VerifyError>> {
    verify_many_owned(events.to_vec()).into_iter().map(|result| result.map_err(|refused| refused.error)).collect()
}

/// An event [`verify_many_owned`] refused, given back with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Why.
    pub error: VerifyError,
    /// The event as it came.
    pub event: SignedEvent,
}

/// [`verify_many`] of events the caller gives up: each event's parts move into its
/// result rather than being shared with the caller's copy. A sync receiver's events all
/// point into the buffer of the message they came in, so every share and every release
/// is an atomic operation on that buffer's one count, which the threads decoding the next
/// messages use too. A refused event comes back whole, for the caller to name it.
pub fn verify_many_owned(events: Vec<SignedEvent>) -> Vec<Result<VerifiedEvent, Refused>> {
    let mut results: Vec<Result<VerifiedEvent, Refused>> = Vec::with_capacity(events.len());
    let mut keys_checked: HashMap<ReplicaId, Result<(), VerifyError>> = HashMap::new();
    let mut batch = batch::Verifier::new();
    let mut transcript = Sha256::new();
    for event in events {
        let checked = check_encodings(&event, true).and_then(|(header, signature)| {
            let replica = header.replica;
            keys_checked.entry(replica).or_insert_with(|| check_key(replica)).clone()?;
            Ok((header, signature))
        });
        match checked {
            Ok((header, signature)) => {
                let checked = checked_event(header, event);
                let signature = Signature::from_bytes(&signature);
                transcript.update(signature.to_bytes());
                transcript.update(checked.hash.0);
                batch.queue((VerificationKeyBytes::from(checked.header.replica.0), signature, &checked.header_bytes));
                results.push(Ok(checked));
            }
            Err(error) => results.push(Err(Refused { error, event })),
        }
    }
    // Every event that passed its other checks is in the batch.
    if !results.iter().any(Result::is_ok) {
        return results;
    }
    let seed: [u8; 32] = transcript.finalize().into();
    if batch.verify(ChaCha20Rng::from_seed(seed)).is_ok() {
        return results;
    }
    // The batch failed: each signature alone names the bad ones.
    results
        .into_iter()
        .map(|result| match result {
            Ok(checked) if !signature_verifies_alone(&checked) => {
                let error = VerifyError::BadSignature { replica: checked.header.replica, seq: checked.header.seq };
                Err(Refused { error, event: checked.into_signed() })
            }
            other => other,
        })
        .collect()
}

/// The event's signature checked on its own, as a failed batch's fallback.
fn signature_verifies_alone(checked: &VerifiedEvent) -> bool {
    VerificationKey::try_from(checked.header.replica.0)
        .and_then(|key| key.verify(&Signature::from_bytes(checked.signature()), &checked.header_bytes))
        .is_ok()
}

/// Re-checks an event read back from the node's own store, which verified it fully on
/// the way in: the encodings, the format version, the seq and the body's hash, but not
/// the signature nor the body's shape. For the sync sender's read path, where the
/// signature is the costliest part of the work and the receiver verifies every event
/// anyway; the caller also checks that consecutive events chain, and RocksDB checks its
/// blocks. Anything that is not the node's own store goes through [`verify`].
///
/// # Errors
///
/// [`VerifyError`] names the first check that failed.
///
/// By value: the event's parts move into the result (a sender reads thousands a second
/// and only relays them).
pub fn recheck_stored(event: SignedEvent) -> Result<VerifiedEvent, VerifyError> {
    let (header, _) = check_encodings(&event, false)?;
    Ok(checked_event(header, event))
}

/// Every check of [`verify`] but the key and the signature: the encodings, the format
/// version, the seq, the body's hash and shape. Returns the event as it will be once its
/// signature is checked, with the signature to check.
fn check_all_but_signature(event: &SignedEvent) -> Result<(VerifiedEvent, [u8; 64]), VerifyError> {
    let (header, signature) = check_encodings(event, true)?;
    Ok((checked_event(header, event.clone()), signature))
}

/// The event whose checks passed, from its decoded header and its parts.
fn checked_event(header: Header, event: SignedEvent) -> VerifiedEvent {
    VerifiedEvent {
        hash: codec::event_hash(&event.header),
        header,
        header_bytes: event.header,
        signature: event.signature,
        body: event.body,
    }
}

/// The event's header, decoded, and its signature, once everything but the signature
/// checks out.
fn check_encodings(event: &SignedEvent, decode_body: bool) -> Result<(Header, [u8; 64]), VerifyError> {
    let header = codec::decode_header(&event.header)?;
    if header.format_version != FORMAT_VERSION {
        return Err(VerifyError::UnsupportedFormatVersion { found: header.format_version, supported: FORMAT_VERSION });
    }
    if header.seq.0 == 0 {
        return Err(VerifyError::ZeroSeq);
    }
    let signature: [u8; 64] =
        event.signature.as_ref().try_into().map_err(|_| VerifyError::SignatureLength { len: event.signature.len() })?;
    if let Some(body) = &event.body {
        if codec::body_hash(body) != header.body_hash {
            return Err(VerifyError::BodyHashMismatch { replica: header.replica, seq: header.seq });
        }
        if decode_body {
            Body::decode(header.kind, body).map_err(|error| VerifyError::Body {
                replica: header.replica,
                seq: header.seq,
                error,
            })?;
        }
    }
    Ok((header, signature))
}

/// A replica key must be a point of the curve and not of small order (a weak key, for
/// which one signature verifies many messages): ZIP-215 alone would accept one. Every
/// signer's key is checked here, and every enrolled key (`Authority`) by the same rule.
pub fn is_valid_replica_key(replica: &ReplicaId) -> bool {
    VerifyingKey::from_bytes(&replica.0).is_ok_and(|key| !key.is_weak())
}

fn check_key(replica: ReplicaId) -> Result<(), VerifyError> {
    if is_valid_replica_key(&replica) { Ok(()) } else { Err(VerifyError::InvalidReplicaKey { replica }) }
}
