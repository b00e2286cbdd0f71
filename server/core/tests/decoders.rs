//! Decoders never panic (issue 12): arbitrary bytes, and arbitrary well-formed protobuf
//! that is the wrong message or holds wrong values, fed to the envelope and header codec,
//! to every body of every kind, and from there to everything a received or authored
//! event reaches (authority, the audit rules, the projection, its findings and tables).
//! 10,000 cases each (`PROPTEST_CASES` overrides).

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use rollcall_core::audit::Projection;
use rollcall_core::audit::member::Stamp;
use rollcall_core::audit::rules::{self, AuthorContext};
use rollcall_core::audit::tables::{self, Register};
use rollcall_core::authority::Authority;
use rollcall_core::body::{ALL_KINDS, Body};
use rollcall_core::codec;
use rollcall_core::event::{BodyHash, EventHash, EventId, Header, ReplicaId, Seq};
use rollcall_core::{EventKind, HlcTime, Level, UnitPath, verify};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

/// One protobuf field of any number and wire type, with a value of that type.
#[derive(Clone, Debug)]
enum Field {
    Varint(u32, u64),
    Fixed64(u32, u64),
    Bytes(u32, Vec<u8>),
    Fixed32(u32, u32),
    /// A nested message of random fields (e.g. a `MemberForm`, a `Date`).
    Nested(u32, Vec<(u32, u64)>),
}

fn put_varint(buffer: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buffer.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buffer.put_u8(value as u8);
}

fn put_key(buffer: &mut BytesMut, number: u32, wire: u64) {
    put_varint(buffer, (u64::from(number) << 3) | wire);
}

/// Well-formed protobuf: any message's decoder reads it, with whatever it makes of the
/// values (strings that are not UTF-8, enums out of range, fields of the wrong type).
fn encode(fields: &[Field]) -> Bytes {
    let mut buffer = BytesMut::new();
    for field in fields {
        match field {
            Field::Varint(number, value) => {
                put_key(&mut buffer, *number, 0);
                put_varint(&mut buffer, *value);
            }
            Field::Fixed64(number, value) => {
                put_key(&mut buffer, *number, 1);
                buffer.put_u64_le(*value);
            }
            Field::Bytes(number, value) => {
                put_key(&mut buffer, *number, 2);
                put_varint(&mut buffer, value.len() as u64);
                buffer.put_slice(value);
            }
            Field::Fixed32(number, value) => {
                put_key(&mut buffer, *number, 5);
                buffer.put_u32_le(*value);
            }
            Field::Nested(number, inner) => {
                let mut nested = BytesMut::new();
                for (inner_number, value) in inner {
                    put_key(&mut nested, *inner_number, 0);
                    put_varint(&mut nested, *value);
                }
                put_key(&mut buffer, *number, 2);
                put_varint(&mut buffer, nested.len() as u64);
                buffer.put_slice(&nested);
            }
        }
    }
    buffer.freeze()
}

/// Strings that look like what bodies carry (ids, unit paths, names), and raw bytes.
fn arb_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z0-9/#-]{0,24}".prop_map(String::into_bytes),
        Just(b"hb/u1/c1/b1".to_vec()),
        Just(b"hb/u1/c2/b2".to_vec()),
        Just("张三".as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..24),
    ]
}

fn arb_value() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..12, any::<u64>(), Just(u64::from(u32::MAX)), Just(i64::MIN as u64)]
}

fn arb_field() -> impl Strategy<Value = Field> {
    let number = 1u32..24;
    prop_oneof![
        (number.clone(), arb_value()).prop_map(|(n, v)| Field::Varint(n, v)),
        (number.clone(), any::<u64>()).prop_map(|(n, v)| Field::Fixed64(n, v)),
        (number.clone(), arb_text()).prop_map(|(n, v)| Field::Bytes(n, v)),
        (number.clone(), any::<u32>()).prop_map(|(n, v)| Field::Fixed32(n, v)),
        (number, prop::collection::vec((1u32..24, arb_value()), 0..6)).prop_map(|(n, v)| Field::Nested(n, v)),
    ]
}

fn arb_protobuf() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(arb_field(), 0..10).prop_map(|fields| encode(&fields))
}

fn unit(text: &str) -> UnitPath {
    UnitPath::parse(text).expect("valid")
}

fn header(kind: EventKind, unit_path: &UnitPath, seq: u64) -> Header {
    Header {
        format_version: 1,
        event_id: EventId([seq as u8; 16]),
        replica: ReplicaId([4; 32]),
        seq: Seq(seq),
        prev: EventHash([0; 32]),
        hlc: HlcTime { wall_ms: 1_743_000_000_000 + seq, logical: 0 },
        unit_path: unit_path.clone(),
        kind,
        body_hash: BodyHash([0; 32]),
        author: "fuzz".into(),
    }
}

/// Everything a decoded body reaches, at every level: none of it may panic.
fn exercise(projection: &mut Projection, kind: EventKind, body: &Body, seq: u64) {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 31).expect("valid");
    for (at, level) in
        [(unit("hb/u1/c1/b1"), Level::Branch), (unit("hb/u1/c1"), Level::College), (unit("hb"), Level::Province)]
    {
        let header = header(kind, &at, seq);
        let context = AuthorContext { unit: at.clone(), level, today, stamp: Stamp::of(&header) };
        let _ = rules::check(projection, &context, body);
        let undo = projection.apply(&header, body, level);
        if seq % 2 == 0 {
            projection.undo(undo);
        }
    }
}

/// What a node derives from a projection: findings, tables and registers.
fn derive_everything(projection: &Projection) {
    let everything = unit("hb");
    let _ = projection.findings_within(&everything);
    let _ = projection.duplicates_to_report(&unit("hb/u1"), None);
    for template in [&tables::TABLE_1, &tables::TABLE_2, &tables::TABLE_3] {
        let table = tables::compute(template, projection, &everything);
        let _ = tables::check(template, &table.cells);
    }
    let _ = tables::register(projection, &everything, Register::StillLost, false);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes as a stored or received envelope, and as a header.
    #[test]
    fn arbitrary_bytes_never_panic_the_codec(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(event) = codec::decode_signed(&bytes) {
            let _ = verify(&event);
        }
        let header = codec::decode_header(&bytes);
        // The rule (prost's decoding and the re-encoding check) decides exactly alike.
        prop_assert_eq!(&codec::decode_header_by_reencoding(&bytes), &header);
        prop_assert_eq!(
            codec::decode_signed_shared(Bytes::from(bytes.clone())).ok(),
            codec::decode_signed(&bytes).ok()
        );
        let authority = Authority::new(ReplicaId([1; 32]), unit("hb"));
        if let Ok(header) = codec::decode_header(&bytes) {
            let _ = authority.check_parts(&header, Some(&Bytes::from(bytes.clone())));
            let _ = authority.check_parts(&header, None);
        }
    }

    /// Well-formed protobuf of random fields as an envelope (its header and body fields
    /// filled with whatever the generator made).
    #[test]
    fn wrong_messages_never_panic_the_codec(message in arb_protobuf()) {
        if let Ok(event) = codec::decode_signed(&message) {
            let _ = verify(&event);
        }
        prop_assert_eq!(codec::decode_header_by_reencoding(&message), codec::decode_header(&message));
    }

    /// Arbitrary bytes, and random well-formed protobuf, as the body of every kind; what
    /// decodes is applied, judged and counted at every level.
    #[test]
    fn every_body_decoder_and_what_follows_never_panics(
        raw in prop::collection::vec(any::<u8>(), 0..200),
        message in arb_protobuf(),
        seq in 1u64..1_000,
    ) {
        let mut projection = Projection::new();
        let authority = Authority::new(ReplicaId([1; 32]), unit("hb"));
        for kind in ALL_KINDS {
            for bytes in [Bytes::from(raw.clone()), message.clone()] {
                let header = header(*kind, &unit("hb/u1/c1/b1"), seq);
                let _ = authority.check_parts(&header, Some(&bytes));
                if let Ok(body) = Body::decode(*kind, &bytes) {
                    exercise(&mut projection, *kind, &body, seq);
                }
            }
        }
        derive_everything(&projection);
    }
}

/// The input proptest found (CI, 2026-12-02): a vote whose three counts add up past
/// u32::MAX overflowed the rules' sum; kept as a fixed case.
#[test]
fn a_vote_whose_counts_overflow_u32_is_refused_not_a_panic() {
    let mut projection = Projection::new();
    let message = Bytes::from_static(b"8\x01P\x010\xff\xff\xff\xff\x0f\n\x01a");
    for kind in ALL_KINDS {
        if let Ok(body) = Body::decode(*kind, &message) {
            exercise(&mut projection, *kind, &body, 127);
        }
    }
    derive_everything(&projection);
}
