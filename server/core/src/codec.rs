//! The only producer of bytes that rollcall signs or stores.
//!
//! Headers use the protobuf encoding of `rollcall.v1.EventHeader`, made canonical by
//! rule: fields in field-number order, default values omitted, minimal varints, no
//! unknown fields. prost's encoder produces exactly that. The decoder's rule is prost's
//! decoding followed by re-encoding what it decoded and refusing any difference, so every
//! accepted header re-encodes to itself and two encodings of one header cannot both
//! verify. Every header a node receives or sends is decoded, so a fast path reads the
//! canonical form directly ([`canonical_header`]); it accepts only what that rule accepts,
//! with the same value, and anything it does not accept goes to the rule itself, which
//! names the error.
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
use crate::event::{BodyHash, EventHash, EventId, Header, ReplicaId, Seq, SignedEvent, VerifiedEvent};
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
    match canonical_header(bytes) {
        Some(header) => Ok(header),
        None => decode_header_by_reencoding(bytes),
    }
}

/// The rule of [`decode_header`]: prost's decoding, then the re-encoding that must give
/// `bytes` back. Decides every header [`canonical_header`] does not accept, and names
/// the error. Public as the reference the fast path is measured and tested against (the
/// sync bench, `decoders.rs`, `properties.rs`); [`decode_header`] is the one to call.
///
/// # Errors
///
/// As [`decode_header`].
pub fn decode_header_by_reencoding(bytes: &[u8]) -> Result<Header, CodecError> {
    check_header_size(bytes)?;
    let message = proto::EventHeader::decode(bytes)
        .map_err(|err| CodecError::Malformed { what: "header", detail: err.to_string() })?;
    header_from(message, bytes)
}

/// The header, when `bytes` are the canonical encoding of a header that
/// [`decode_header_by_reencoding`] accepts; `None` for anything else (which that rule then
/// decides). Reads the encoding in one pass, without decoding into a message and
/// encoding it again.
///
/// Why it accepts nothing the rule refuses, and decodes what it accepts to the same value:
/// it takes only field keys of one byte, in strictly increasing field numbers from 1 to
/// 11, each with its field's wire type; minimal varints; no field with its default value
/// (0, empty); lengths within the input; valid UTF-8 for the two strings; and values
/// within their field's type (a `uint32` at most `u32::MAX`, the `int32` kind's negative
/// values sign-extended as prost writes them). prost decodes such bytes to the message
/// they spell, and its encoder (field-number order, defaults omitted, minimal varints)
/// writes that message back as the same bytes. The conversions after that are the
/// rule's own, in [`header_from`]'s order, and any of them failing returns `None`.
fn canonical_header(bytes: &[u8]) -> Option<Header> {
    let mut rest = bytes;
    let mut last_field = 0;
    let mut varints = [0u64; 12];
    let mut slices: [&[u8]; 12] = [&[]; 12];
    while let Some((&key, tail)) = rest.split_first() {
        rest = tail;
        let (field, wire_type) = (key >> 3, key & 7);
        if key >= 0x80 || field <= last_field || field > 11 {
            return None;
        }
        last_field = field;
        match (field, wire_type) {
            (1 | 4 | 6 | 7 | 9, 0) => {
                let value = minimal_varint(&mut rest)?;
                if value == 0 {
                    return None;
                }
                varints[usize::from(field)] = value;
            }
            (2 | 3 | 5 | 8 | 10 | 11, 2) => {
                let len = usize::try_from(minimal_varint(&mut rest)?).ok()?;
                if len == 0 || len > rest.len() {
                    return None;
                }
                let (value, tail) = rest.split_at(len);
                slices[usize::from(field)] = value;
                rest = tail;
            }
            _ => return None,
        }
    }
    let uint32 = |value: u64| u32::try_from(value).ok();
    let kind_number = varints[9] as i32;
    if i64::from(kind_number) as u64 != varints[9] {
        return None;
    }
    let kind = EventKind::try_from(kind_number).ok().filter(|kind| *kind != EventKind::Unspecified)?;
    let author = std::str::from_utf8(slices[11]).ok()?;
    if author.len() > AUTHOR_BYTES_MAX {
        return None;
    }
    Some(Header {
        format_version: uint32(varints[1])?,
        event_id: EventId(slices[2].try_into().ok()?),
        replica: ReplicaId(slices[3].try_into().ok()?),
        seq: Seq(varints[4]),
        prev: EventHash(slices[5].try_into().ok()?),
        hlc: HlcTime { wall_ms: varints[6], logical: uint32(varints[7])? },
        unit_path: UnitPath::parse(std::str::from_utf8(slices[8]).ok()?).ok()?,
        kind,
        body_hash: BodyHash(slices[10].try_into().ok()?),
        author: author.to_owned(),
    })
}

/// A varint at the start of `rest`, which it leaves after it, when it is written in the
/// fewest bytes its value needs (as prost writes every varint).
fn minimal_varint(rest: &mut &[u8]) -> Option<u64> {
    let before = rest.len();
    let value = prost::encoding::decode_varint(rest).ok()?;
    (before - rest.len() == prost::encoding::encoded_len_varint(value)).then_some(value)
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
    encode_envelope_into(&event.header, &event.signature, event.body.as_deref(), out);
}

/// The envelope of an event that has passed its checks, as [`encode_signed`] encodes it,
/// into `out` (cleared first): what the store writes for every event.
pub fn encode_verified_into(event: &VerifiedEvent, out: &mut Vec<u8>) {
    encode_envelope_into(&event.header_bytes, &event.signature, event.body.as_deref(), out);
}

/// The `SignedEvent` message of these parts, written field by field with prost's
/// encoding functions rather than through a message that would hold a counted reference
/// to each part: the parts of received events share their message's buffer, and the
/// writer, encoding every event it stores, would otherwise contend on that buffer's count
/// with the threads decoding the next messages. The same bytes as prost's encoding of the
/// message (a property test says so): fields 1 and 2 are plain `bytes`, left out when
/// empty; field 3 is `optional bytes`, written whenever present.
fn encode_envelope_into(header: &[u8], signature: &[u8], body: Option<&[u8]>, out: &mut Vec<u8>) {
    use prost::encoding::{WireType, encode_key, encode_varint};
    out.clear();
    let fields =
        [(1, (!header.is_empty()).then_some(header)), (2, (!signature.is_empty()).then_some(signature)), (3, body)];
    for (tag, part) in fields {
        if let Some(part) = part {
            encode_key(tag, WireType::LengthDelimited, out);
            encode_varint(part.len() as u64, out);
            out.extend_from_slice(part);
        }
    }
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn arb_header() -> impl Strategy<Value = Header> {
        let kind = (1i32..=80).prop_filter_map("a kind this build knows", |number| EventKind::try_from(number).ok());
        let ids = (any::<[u8; 16]>(), any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>());
        let numbers = (
            prop_oneof![Just(0u32), Just(crate::event::FORMAT_VERSION), any::<u32>()],
            prop_oneof![Just(0u64), 1u64..300, any::<u64>()],
            prop_oneof![Just(0u64), any::<u64>()],
            prop_oneof![Just(0u32), any::<u32>()],
        );
        let texts = ("[a-z0-9_-]{1,8}(/[a-z0-9_-]{1,8}){0,5}", "|[a-z0-9.@]{1,20}|.{1,12}");
        (ids, numbers, texts, kind).prop_map(
            |((event_id, replica, prev, body_hash), (format_version, seq, wall_ms, logical), (path, author), kind)| {
                Header {
                    format_version,
                    event_id: EventId(event_id),
                    replica: ReplicaId(replica),
                    seq: Seq(seq),
                    prev: EventHash(prev),
                    hlc: HlcTime { wall_ms, logical },
                    unit_path: UnitPath::parse(&path).expect("the strategy writes valid paths"),
                    kind,
                    body_hash: BodyHash(body_hash),
                    author,
                }
            },
        )
    }

    /// One edit of an encoded header: overwrite, insert or remove a byte, or cut the end.
    #[derive(Debug, Clone)]
    enum Edit {
        Set(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Truncate(usize),
    }

    fn arb_edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Set(at, byte)),
            (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Insert(at, byte)),
            any::<usize>().prop_map(Edit::Remove),
            any::<usize>().prop_map(Edit::Truncate),
        ]
    }

    fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
        let len = bytes.len();
        match *edit {
            Edit::Set(at, byte) if len > 0 => bytes[at % len] = byte,
            Edit::Insert(at, byte) => bytes.insert(at % (len + 1), byte),
            Edit::Remove(at) if len > 0 => {
                bytes.remove(at % len);
            }
            Edit::Truncate(at) => bytes.truncate(at % (len + 1)),
            _ => {}
        }
    }

    fn envelope_written_as_prost_writes_it(event: &SignedEvent) -> bool {
        let mut out = vec![0xff; 3];
        encode_signed_into(event, &mut out);
        out == to_proto(event).encode_to_vec() && decode_signed(&out).as_ref() == Ok(event)
    }

    /// Goal: the envelope's edge cases, each certain rather than probable: empty parts,
    /// and a body present but empty (written, as `optional` fields are).
    #[test]
    fn the_envelope_edge_cases_are_written_as_prost_writes_them() {
        for (header, signature, body) in [
            (&b""[..], &b""[..], None),
            (b"h", b"s", Some(&b""[..])),
            (b"", b"", Some(&b""[..])),
            (b"h", b"", Some(&b"b"[..])),
        ] {
            let event = SignedEvent {
                header: Bytes::copy_from_slice(header),
                signature: Bytes::copy_from_slice(signature),
                body: body.map(Bytes::copy_from_slice),
            };
            assert!(envelope_written_as_prost_writes_it(&event), "{event:?}");
        }
    }

    /// The fast path's promise: it accepts nothing the rule refuses, with the same value.
    fn agrees_with_the_rule(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Some(fast) = canonical_header(bytes) {
            prop_assert_eq!(decode_header_by_reencoding(bytes), Ok(fast), "{:02x?}", bytes);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Goal: every header the encoder writes takes the fast path, to the value the
        /// rule decodes. Method: arbitrary headers, defaults and extremes included.
        #[test]
        fn the_fast_path_takes_every_encoded_header(header in arb_header()) {
            let bytes = encode_header(&header);
            prop_assert_eq!(canonical_header(&bytes), Some(header.clone()));
            prop_assert_eq!(decode_header_by_reencoding(&bytes), Ok(header));
        }

        /// Goal: the fast path accepts nothing the rule refuses. Method: encoded headers
        /// after one to four edits (bytes overwritten, inserted, removed, the end cut),
        /// which make non-minimal varints, fields out of order or repeated, lengths past
        /// the end, wrong wire types, unknown fields and bad UTF-8.
        #[test]
        fn an_edited_header_is_accepted_only_as_the_rule_accepts_it(
            header in arb_header(),
            edits in prop::collection::vec(arb_edit(), 1..5),
        ) {
            let mut bytes = encode_header(&header).to_vec();
            for edit in &edits {
                apply(&mut bytes, edit);
                agrees_with_the_rule(&bytes)?;
            }
        }

        /// Goal: the envelope written field by field is prost's encoding of the message.
        /// Method: arbitrary parts, empty ones and an empty present body included.
        #[test]
        fn the_envelope_is_written_as_prost_writes_it(
            header in prop::collection::vec(any::<u8>(), 0..300),
            signature in prop::collection::vec(any::<u8>(), 0..70),
            body in prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
        ) {
            let event = SignedEvent { header: header.into(), signature: signature.into(), body: body.map(Bytes::from) };
            prop_assert!(envelope_written_as_prost_writes_it(&event));
        }

        /// Goal: bytes that are not a header at all never panic the fast path, and are
        /// accepted only as the rule accepts them (random bytes almost never spell a
        /// header: the edited headers above are the test of agreement).
        #[test]
        fn arbitrary_bytes_are_accepted_only_as_the_rule_accepts_them(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            agrees_with_the_rule(&bytes)?;
        }
    }

    /// Goal: the encodings the fast path must turn away, each named, go to the rule,
    /// which refuses them as before. Method: one valid header, written with each defect.
    #[test]
    fn non_canonical_spellings_leave_the_fast_path() {
        let header = Header {
            format_version: 1,
            event_id: EventId([1; 16]),
            replica: ReplicaId([2; 32]),
            seq: Seq(5),
            prev: EventHash([3; 32]),
            hlc: HlcTime { wall_ms: 1_700_000_000_000, logical: 0 },
            unit_path: UnitPath::parse("hb/whu/cs/b01").expect("valid"),
            kind: EventKind::MemberRegistered,
            body_hash: BodyHash([4; 32]),
            author: "sec-01".into(),
        };
        let good = encode_header(&header).to_vec();
        assert_eq!(decode_header(&good), Ok(header.clone()));
        // The seq (field 4, 0x20 then 0x05) in two bytes: 0x85 0x00.
        let at = good.windows(2).position(|pair| pair == [0x20, 0x05]).expect("seq field");
        let mut long_varint = good.clone();
        long_varint.splice(at + 1..at + 2, [0x85, 0x00]);
        // An explicit logical clock of 0 (field 7) after the wall clock (field 6).
        let wall_end = good.windows(2).position(|pair| pair == [0x42, 13]).expect("unit path field");
        let mut explicit_default = good.clone();
        explicit_default.splice(wall_end..wall_end, [0x38, 0x00]);
        // The format version (field 1) again at the end.
        let mut repeated = good.clone();
        repeated.extend([0x08, 0x01]);
        // An unknown field 12.
        let mut unknown = good.clone();
        unknown.extend([0x60, 0x01]);
        // A kind of -1 written in five bytes, as a uint32 would be.
        let kind_at = good.windows(2).position(|pair| pair == [0x48, EventKind::MemberRegistered as u8]).expect("kind");
        let mut short_negative = good.clone();
        short_negative.splice(kind_at + 1..kind_at + 2, [0xff, 0xff, 0xff, 0xff, 0x0f]);
        // A kind of 2^32 + 20: prost truncates it to 20 (a known kind), the re-encoding
        // is one byte, and the rule refuses it; the fast path must refuse it too.
        let mut kind_past_int32 = good.clone();
        kind_past_int32.splice(kind_at + 1..kind_at + 2, [0x94, 0x80, 0x80, 0x80, 0x10]);
        // A format version (field 1) of 2^35 - 1, past a uint32.
        let mut version_past_uint32 = good.clone();
        version_past_uint32.splice(0..2, [0x08, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        // A logical clock (field 7) of 2^32, past a uint32, before the unit path.
        let mut logical_past_uint32 = good.clone();
        logical_past_uint32.splice(wall_end..wall_end, [0x38, 0x80, 0x80, 0x80, 0x80, 0x10]);
        for (what, bytes) in [
            ("a varint in more bytes than it needs", long_varint),
            ("a default value written out", explicit_default),
            ("a field repeated", repeated),
            ("an unknown field", unknown),
            ("a negative kind not sign-extended", short_negative),
            ("a kind past int32 that truncates to a known one", kind_past_int32),
            ("a format version past uint32", version_past_uint32),
            ("a logical clock past uint32", logical_past_uint32),
        ] {
            assert_eq!(canonical_header(&bytes), None, "{what}");
            assert!(decode_header(&bytes).is_err(), "{what}");
        }
    }
}
