//! The only producer of bytes that rollcall signs or stores.
//!
//! Headers use the protobuf encoding of `rollcall.v1.EventHeader`, made canonical by
//! rule: fields in field-number order, default values omitted, minimal varints, no
//! unknown fields. prost's encoder produces exactly that; the decoder enforces it by
//! re-encoding what it decoded and refusing any difference, so every accepted header
//! re-encodes to itself and two encodings of one header cannot both verify.
//!
//! The envelope (`SignedEvent`: header, signature, body) is also canonical, but it is
//! not signed; only its three byte strings matter, and they are kept as received.
//!
//! Bodies are bound by hash and never re-encoded after signing, so their decoding is
//! lenient (see [`crate::body`]).

use bytes::Bytes;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::EventKind;
use crate::event::{BodyHash, EventHash, EventId, Header, ReplicaId, Seq, SignedEvent};
use crate::hlc::HlcTime;
use crate::limits::{AUTHOR_BYTES_MAX, BODY_BYTES_MAX, HEADER_BYTES_MAX};
use crate::proto;
use crate::unit::UnitPath;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a protobuf message of the expected type.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// The header decoded but does not re-encode to the same bytes.
    #[error("header is not canonically encoded")]
    NonCanonical,
    /// A fixed-size field has the wrong length.
    #[error("{field} is {len} bytes, expected {expected}")]
    FieldLength {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The required length.
        expected: usize,
    },
    /// The header's unit path is invalid.
    #[error("invalid unit path: {0}")]
    UnitPath(#[from] crate::unit::UnitPathError),
    /// The kind is not one this build knows.
    #[error("unknown event kind {0}")]
    UnknownKind(i32),
    /// A size limit was exceeded.
    #[error("{what} is {len} bytes, more than {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Encodes a header to its canonical bytes.
pub fn encode_header(header: &Header) -> Bytes {
    let message = proto::EventHeader {
        format_version: header.format_version,
        event_id: Bytes::copy_from_slice(&header.event_id.0),
        replica: Bytes::copy_from_slice(&header.replica.0),
        seq: header.seq.0,
        prev: Bytes::copy_from_slice(&header.prev.0),
        hlc_wall_ms: header.hlc.wall_ms,
        hlc_logical: header.hlc.logical,
        unit_path: header.unit_path.as_str().to_string(),
        kind: header.kind as i32,
        body_hash: Bytes::copy_from_slice(&header.body_hash.0),
        author: header.author.clone(),
    };
    Bytes::from(message.encode_to_vec())
}

/// Decodes canonical header bytes.
///
/// # Errors
///
/// [`CodecError`] for malformed, non-canonical or out-of-range input.
pub fn decode_header(bytes: &[u8]) -> Result<Header, CodecError> {
    check_header_size(bytes)?;
    let message = proto::EventHeader::decode(bytes)
        .map_err(|err| CodecError::Malformed { what: "header", detail: err.to_string() })?;
    header_from(message, bytes)
}

/// [`decode_header`] of bytes already shared (a received or stored envelope): the
/// message's byte fields are views into `bytes` rather than copies of them, so the hot
/// paths (every received event, every event sent) allocate nothing for them.
///
/// # Errors
///
/// As [`decode_header`].
pub fn decode_header_shared(bytes: &Bytes) -> Result<Header, CodecError> {
    check_header_size(bytes)?;
    let message = proto::EventHeader::decode(bytes.clone())
        .map_err(|err| CodecError::Malformed { what: "header", detail: err.to_string() })?;
    header_from(message, bytes)
}

fn check_header_size(bytes: &[u8]) -> Result<(), CodecError> {
    if bytes.len() > HEADER_BYTES_MAX {
        return Err(CodecError::TooLarge { what: "header", len: bytes.len(), max: HEADER_BYTES_MAX });
    }
    Ok(())
}

/// How long a header is re-encoded on the stack to check it is canonical (headers are
/// about 180 bytes; a longer one, up to [`HEADER_BYTES_MAX`], is re-encoded on the heap).
const HEADER_REENCODED_ON_STACK: usize = 512;

/// The header of a decoded message, once the message is known to re-encode to `bytes`
/// exactly.
fn header_from(message: proto::EventHeader, bytes: &[u8]) -> Result<Header, CodecError> {
    if message.encoded_len() != bytes.len() {
        return Err(CodecError::NonCanonical);
    }
    let canonical = if bytes.len() <= HEADER_REENCODED_ON_STACK {
        let mut scratch = [0u8; HEADER_REENCODED_ON_STACK];
        let mut out = &mut scratch[..bytes.len()];
        message.encode(&mut out).is_ok() && scratch[..bytes.len()] == *bytes
    } else {
        message.encode_to_vec() == bytes
    };
    if !canonical {
        return Err(CodecError::NonCanonical);
    }
    let kind = EventKind::try_from(message.kind).map_err(|_| CodecError::UnknownKind(message.kind))?;
    if kind == EventKind::Unspecified {
        return Err(CodecError::UnknownKind(message.kind));
    }
    if message.author.len() > AUTHOR_BYTES_MAX {
        return Err(CodecError::TooLarge { what: "author", len: message.author.len(), max: AUTHOR_BYTES_MAX });
    }
    Ok(Header {
        format_version: message.format_version,
        event_id: EventId(fixed("event_id", &message.event_id)?),
        replica: ReplicaId(fixed("replica", &message.replica)?),
        seq: Seq(message.seq),
        prev: EventHash(fixed("prev", &message.prev)?),
        hlc: HlcTime { wall_ms: message.hlc_wall_ms, logical: message.hlc_logical },
        unit_path: UnitPath::parse(&message.unit_path)?,
        kind,
        body_hash: BodyHash(fixed("body_hash", &message.body_hash)?),
        author: message.author,
    })
}

/// Encodes the envelope that is stored and sent.
pub fn encode_signed(event: &SignedEvent) -> Vec<u8> {
    to_proto(event).encode_to_vec()
}

/// The envelope as a protobuf message, for embedding in RPC messages.
pub fn to_proto(event: &SignedEvent) -> proto::SignedEvent {
    proto::SignedEvent { header: event.header.clone(), signature: event.signature.clone(), body: event.body.clone() }
}

/// [`to_proto`] by value: the parts move rather than share.
pub fn into_proto(event: SignedEvent) -> proto::SignedEvent {
    proto::SignedEvent { header: event.header, signature: event.signature, body: event.body }
}

/// [`encode_signed`] into `out` (cleared first), for a writer that encodes many.
pub fn encode_signed_into(event: &SignedEvent, out: &mut Vec<u8>) {
    out.clear();
    to_proto(event).encode(out).expect("a Vec grows as needed");
}

/// From an RPC message. Checks only sizes; [`crate::verify`] checks the rest.
///
/// # Errors
///
/// [`CodecError::TooLarge`] when a part exceeds its limit.
pub fn from_proto(message: proto::SignedEvent) -> Result<SignedEvent, CodecError> {
    if message.header.len() > HEADER_BYTES_MAX {
        return Err(CodecError::TooLarge { what: "header", len: message.header.len(), max: HEADER_BYTES_MAX });
    }
    if let Some(body) = &message.body
        && body.len() > BODY_BYTES_MAX
    {
        return Err(CodecError::TooLarge { what: "body", len: body.len(), max: BODY_BYTES_MAX });
    }
    Ok(SignedEvent { header: message.header, signature: message.signature, body: message.body })
}

/// Decodes a stored or received envelope.
///
/// # Errors
///
/// [`CodecError`] for malformed or oversized input.
pub fn decode_signed(bytes: &[u8]) -> Result<SignedEvent, CodecError> {
    let message = proto::SignedEvent::decode(bytes)
        .map_err(|err| CodecError::Malformed { what: "signed event", detail: err.to_string() })?;
    from_proto(message)
}

/// [`decode_signed`] of bytes already shared (values read from the store in one
/// buffer): the envelope's three parts are views into `bytes`, not copies.
///
/// # Errors
///
/// As [`decode_signed`].
pub fn decode_signed_shared(bytes: Bytes) -> Result<SignedEvent, CodecError> {
    let message = proto::SignedEvent::decode(bytes)
        .map_err(|err| CodecError::Malformed { what: "signed event", detail: err.to_string() })?;
    from_proto(message)
}

/// SHA-256 of a header's bytes.
pub fn event_hash(header_bytes: &[u8]) -> EventHash {
    EventHash(Sha256::digest(header_bytes).into())
}

/// SHA-256 of a body's bytes.
pub fn body_hash(body: &[u8]) -> BodyHash {
    BodyHash(Sha256::digest(body).into())
}

fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], CodecError> {
    bytes.try_into().map_err(|_| CodecError::FieldLength { field, len: bytes.len(), expected: N })
}
