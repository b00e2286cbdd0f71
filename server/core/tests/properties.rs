//! Property tests of the event format: codec round trips, canonicality, single-bit
//! flips, and chain rules; and of kept corrections (`conflict::FieldEdits`): a function
//! of the set of corrections, within their bounds too. Run with `cargo test -p rollcall-core`; failures are
//! persisted under `proptest-regressions/`.

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use prost::Message;
use rollcall_core::body::{ALL_KINDS, Body};
use rollcall_core::codec::{self, decode_header, encode_header};
use rollcall_core::log::{ChainError, Draft, Head, LocalWriter, check_next};
use rollcall_core::{EventId, EventKind, HlcTime, ReplicaId, SignedEvent, UnitPath, proto, verify};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn replica_of(key: &SigningKey) -> ReplicaId {
    ReplicaId(key.verifying_key().to_bytes())
}

fn arb_unit_path() -> impl Strategy<Value = UnitPath> {
    prop::collection::vec("[a-z0-9_-]{1,8}", 1..5)
        .prop_map(|segments| UnitPath::parse(&segments.join("/")).expect("generated valid"))
}

fn arb_kind() -> impl Strategy<Value = EventKind> {
    prop::sample::select(ALL_KINDS.to_vec())
}

/// A body that decodes as its kind: a note-like string in the right message.
fn body_for(kind: EventKind, text: &str) -> Bytes {
    let member_id = text.to_string();
    let body = match kind {
        EventKind::MemberRegistered => Body::MemberRegistered(proto::MemberRegistered {
            member_id,
            form: Some(proto::MemberForm { name: text.to_string(), ..Default::default() }),
            source: 1,
        }),
        EventKind::ContactAttempted => Body::ContactAttempted(proto::ContactAttempted {
            member_id,
            method: proto::ContactMethod::Phone as i32,
            note: text.to_string(),
            ..Default::default()
        }),
        EventKind::ConductNoted => {
            Body::ConductNoted(proto::ConductNoted { member_id, summary: text.to_string(), violation_reported: true })
        }
        // Every message's default is a valid (empty) encoding of that kind.
        _ => return Bytes::new(),
    };
    body.encode()
}

fn arb_draft() -> impl Strategy<Value = Draft> {
    (arb_unit_path(), arb_kind(), "[a-z0-9 ]{0,40}", "[a-z0-9.:]{0,20}")
        .prop_map(|(unit_path, kind, text, author)| Draft { unit_path, kind, body: body_for(kind, &text), author })
}

/// Builds a chain of `drafts` signed by `key`, at increasing times.
fn chain(key: &SigningKey, drafts: Vec<Draft>) -> Vec<SignedEvent> {
    let mut writer = LocalWriter::new(replica_of(key), Head::EMPTY, HlcTime::default());
    drafts
        .into_iter()
        .enumerate()
        .map(|(idx, draft)| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(idx as u64 + 1).to_be_bytes());
            let prepared =
                writer.prepare(1_700_000_000_000 + idx as u64, EventId(id), draft).expect("generated drafts are valid");
            prepared.sign(key).to_signed()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Goal: the header codec round-trips. Method: author an event from an arbitrary
    /// draft, decode its header bytes, re-encode, compare bytes and values.
    #[test]
    fn header_round_trip(draft in arb_draft(), seed in any::<u8>()) {
        let events = chain(&key(seed), vec![draft]);
        let header = decode_header(&events[0].header).expect("own header decodes");
        prop_assert_eq!(encode_header(&header), events[0].header.clone());
        prop_assert_eq!(&codec::decode_header_by_reencoding(&events[0].header).expect("the rule too"), &header);
        let envelope = codec::encode_signed(&events[0]);
        prop_assert_eq!(codec::decode_signed(&envelope).expect("own envelope decodes"), events[0].clone());
    }

    /// Goal: canonicality. Method: feed arbitrary bytes to the header decoder; whatever
    /// it accepts must re-encode to exactly the same bytes.
    #[test]
    fn accepted_header_bytes_reencode_to_themselves(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(header) = decode_header(&bytes) {
            let reencoded = encode_header(&header);
            prop_assert_eq!(reencoded.as_ref(), bytes.as_slice());
        }
    }

    /// Goal: canonicality against the most likely attack: the same header re-encoded with
    /// a field appended (unknown field) or duplicated must be rejected.
    #[test]
    fn non_canonical_header_is_rejected(draft in arb_draft(), extra_field in 12u32..100, value in 1u64..1000) {
        let events = chain(&key(1), vec![draft]);
        let mut bytes = events[0].header.to_vec();
        prost::encoding::uint64::encode(extra_field, &value, &mut bytes);
        prop_assert!(decode_header(&bytes).is_err());
        prop_assert!(codec::decode_header_by_reencoding(&bytes).is_err());
        let mut duplicated = events[0].header.to_vec();
        prost::encoding::uint64::encode(4, &7, &mut duplicated);
        prop_assert!(decode_header(&duplicated).is_err());
        prop_assert!(codec::decode_header_by_reencoding(&duplicated).is_err());
    }

    /// Goal: every single-bit flip of a signed event is rejected. Method: flip each bit
    /// of the header, the signature and the body in turn and verify.
    #[test]
    fn every_bit_flip_is_rejected(draft in arb_draft(), seed in any::<u8>()) {
        let event = chain(&key(seed), vec![draft]).remove(0);
        prop_assert!(verify(&event).is_ok());
        let parts = [event.header.clone(), event.signature.clone(), event.body.clone().unwrap_or_default()];
        for (part_idx, part) in parts.iter().enumerate() {
            for bit in 0..part.len() * 8 {
                let mut flipped = part.to_vec();
                flipped[bit / 8] ^= 1 << (bit % 8);
                let mut tampered = event.clone();
                match part_idx {
                    0 => tampered.header = Bytes::from(flipped),
                    1 => tampered.signature = Bytes::from(flipped),
                    _ => tampered.body = Some(Bytes::from(flipped)),
                }
                prop_assert!(verify(&tampered).is_err(), "part {} bit {} accepted", part_idx, bit);
            }
        }
    }

    /// Goal: chain rules. Method: build a valid chain, then check that it is accepted in
    /// order, and that a gap, a reordering and a wrong prev are each rejected with
    /// their named reason.
    #[test]
    fn chain_breaks_are_rejected(drafts in prop::collection::vec(arb_draft(), 4..8), skip in 1usize..3) {
        let k = key(7);
        let replica = replica_of(&k);
        let events: Vec<_> = chain(&k, drafts).iter().map(|e| verify(e).expect("valid")).collect();
        let mut head = Head::EMPTY;
        for event in &events {
            prop_assert_eq!(check_next(replica, &head, event), Ok(()));
            head = Head::of(event);
        }
        // Gap: skip `skip` events after the first.
        let first = Head::of(&events[0]);
        let skipped = &events[1 + skip];
        let gap_is_rejected = matches!(check_next(replica, &first, skipped), Err(ChainError::Gap { .. }));
        prop_assert!(gap_is_rejected);
        // Reordering: an earlier event after a later head.
        let later = Head::of(&events[2]);
        let reorder_is_rejected =
            matches!(check_next(replica, &later, &events[1]), Err(ChainError::NotAfterHead { .. }));
        prop_assert!(reorder_is_rejected);
        // Wrong prev: a head with the right seq but another hash (a fork).
        let forked = Head { seq: events[0].seq(), hash: events[1].hash() };
        let fork_is_rejected =
            matches!(check_next(replica, &forked, &events[1]), Err(ChainError::PrevMismatch { .. }));
        prop_assert!(fork_is_rejected);
        // Another replica's event never extends this log.
        let other = chain(&key(8), vec![Draft { unit_path: UnitPath::parse("hb").expect("valid"), kind: EventKind::ConductNoted, body: Bytes::new(), author: String::new() }]);
        let other = verify(&other[0]).expect("valid");
        let wrong_replica_is_rejected =
            matches!(check_next(replica, &Head::EMPTY, &other), Err(ChainError::WrongReplica { .. }));
        prop_assert!(wrong_replica_is_rejected);
    }

    /// Goal: decoders never panic on arbitrary input (the fuzz harness's property on stable).
    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), kind in arb_kind()) {
        let _ = codec::decode_signed(&bytes);
        let _ = decode_header(&bytes);
        let _ = Body::decode(kind, &bytes);
    }
}

/// Goal: each verification failure has its own name. Method: build one bad event per
/// reason by hand.
#[test]
fn verification_failures_are_named() {
    use rollcall_core::VerifyError;
    let k = key(3);
    let draft = Draft {
        unit_path: UnitPath::parse("hb/whu").expect("valid"),
        kind: EventKind::ConductNoted,
        body: body_for(EventKind::ConductNoted, "x"),
        author: "staff-1".into(),
    };
    let good = chain(&k, vec![draft]).remove(0);
    let header = decode_header(&good.header).expect("valid");

    let mut short_signature = good.clone();
    short_signature.signature = Bytes::from_static(&[0; 10]);
    assert!(matches!(verify(&short_signature), Err(VerifyError::SignatureLength { len: 10 })));

    let mut wrong_body = good.clone();
    wrong_body.body = Some(Bytes::from_static(b"other"));
    assert!(matches!(verify(&wrong_body), Err(VerifyError::BodyHashMismatch { .. })));

    let stub = SignedEvent { body: None, ..good.clone() };
    assert!(verify(&stub).expect("a stub verifies").is_stub());

    // A header from a future format, validly signed.
    let mut future = header.clone();
    future.format_version = 2;
    let bytes = encode_header(&future);
    let signature = ed25519_dalek::Signer::sign(&k, &bytes).to_bytes();
    let future_event = SignedEvent { header: bytes, signature: Bytes::copy_from_slice(&signature), body: None };
    assert!(matches!(verify(&future_event), Err(VerifyError::UnsupportedFormatVersion { found: 2, supported: 1 })));

    // A validly signed header whose body hash matches bytes that are not the kind's message.
    let garbage = Bytes::from_static(&[0xff, 0xff, 0xff]);
    let mut lying = header.clone();
    lying.body_hash = codec::body_hash(&garbage);
    let bytes = encode_header(&lying);
    let signature = ed25519_dalek::Signer::sign(&k, &bytes).to_bytes();
    let lying_event = SignedEvent { header: bytes, signature: Bytes::copy_from_slice(&signature), body: Some(garbage) };
    assert!(matches!(verify(&lying_event), Err(VerifyError::Body { .. })));

    // A draft whose body is not its kind's message is refused before signing.
    let mut writer = LocalWriter::new(replica_of(&k), Head::EMPTY, HlcTime::default());
    let bad_draft = Draft {
        unit_path: UnitPath::parse("hb").expect("valid"),
        kind: EventKind::MemberRegistered,
        body: Bytes::from_static(&[0x0a, 0xff]),
        author: String::new(),
    };
    assert!(writer.prepare(0, EventId([1; 16]), bad_draft).is_err());
    assert_eq!(writer.head(), Head::EMPTY);

    // The envelope decoder reports malformed bytes.
    let truncated = proto::SignedEvent { header: good.header.clone(), signature: good.signature.clone(), body: None }
        .encode_to_vec();
    assert!(codec::decode_signed(&truncated[..truncated.len() - 3]).is_err());
}

/// The signature of `message` by the key of `seed`, made by hand with a nonce point that
/// carries the curve's point of order 2: only the key holder can make it; the strict
/// (cofactorless) rule refuses it and the ZIP-215 (cofactored) rule accepts it.
fn torsion_signature(seed: [u8; 32], message: &[u8]) -> [u8; 64] {
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};
    let expanded = Sha512::digest(seed);
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&expanded[..32]);
    secret[0] &= 248;
    secret[31] &= 127;
    secret[31] |= 64;
    let secret = Scalar::from_bytes_mod_order(secret);
    let public = EdwardsPoint::mul_base(&secret).compress().to_bytes();
    assert_eq!(public, SigningKey::from_bytes(&seed).verifying_key().to_bytes(), "the secret scalar is the key's");
    // (0, -1): y = p - 1, little-endian.
    let mut minus_one = [0xff; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let order_two = CompressedEdwardsY(minus_one).decompress().expect("a point");
    assert!(order_two.is_small_order() && !order_two.is_identity_for_tests(), "a point of order two");
    let nonce = Scalar::from_bytes_mod_order([42; 32]);
    let nonce_point = (EdwardsPoint::mul_base(&nonce) + order_two).compress().to_bytes();
    let challenge = Scalar::from_bytes_mod_order_wide(
        &Sha512::new().chain_update(nonce_point).chain_update(public).chain_update(message).finalize().into(),
    );
    let s = nonce + challenge * secret;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&nonce_point);
    signature[32..].copy_from_slice(&s.to_bytes());
    signature
}

trait IdentityForTests {
    fn is_identity_for_tests(&self) -> bool;
}

impl IdentityForTests for curve25519_dalek::edwards::EdwardsPoint {
    fn is_identity_for_tests(&self) -> bool {
        use curve25519_dalek::traits::IsIdentity;
        self.is_identity()
    }
}

/// Goal: replicas decide every event alike however their batches are composed, even an
/// event whose signature its key holder crafted to pass some batch equations and fail
/// others under the cofactorless rule. Method: one event of a chain gets a signature
/// whose nonce point carries a small-order component; `verify` decides it, and
/// `verify_many` over every window of the chain (alone, first, last, in the middle,
/// with bad neighbours) must decide every event exactly as `verify` does.
#[test]
fn a_crafted_torsion_signature_is_decided_alike_in_every_batch() {
    let seed = [11u8; 32];
    let signing_key = SigningKey::from_bytes(&seed);
    let drafts = (0..9)
        .map(|n| Draft {
            unit_path: UnitPath::parse("hb/u1").expect("valid"),
            kind: EventKind::MemberRegistered,
            body: body_for(EventKind::MemberRegistered, &format!("note {n}")),
            author: "test".into(),
        })
        .collect();
    let mut events = chain(&signing_key, drafts);
    let crafted = 4;
    events[crafted].signature = Bytes::copy_from_slice(&torsion_signature(seed, &events[crafted].header));
    // A neighbour with a plainly bad signature, so some batches fail and fall back.
    let mut bad = events[7].signature.to_vec();
    bad[3] ^= 1;
    events[7].signature = Bytes::from(bad);
    let strict = signing_key.verifying_key().verify_strict(
        &events[crafted].header,
        &ed25519_dalek::Signature::from_bytes(events[crafted].signature.as_ref().try_into().expect("64 bytes")),
    );
    assert!(strict.is_err(), "the crafted signature is the edge case: the strict rule refuses it");
    let alone: Vec<_> = events.iter().map(verify).collect();
    assert!(alone[crafted].is_ok(), "the cofactored rule accepts what only the key holder could sign");
    assert!(alone[7].is_err());
    for start in 0..events.len() {
        for end in start + 1..=events.len() {
            let batched = rollcall_core::verify_many(&events[start..end]);
            assert_eq!(batched, alone[start..end].to_vec(), "window {start}..{end}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Goal: batched verification decides exactly as one-by-one verification. Method:
    /// a chain of valid events with arbitrary single-bit flips in some signatures and
    /// headers; `verify_many` must agree with `verify` on every event.
    #[test]
    fn verify_many_agrees_with_verify(drafts in prop::collection::vec(arb_draft(), 1..12), flips in prop::collection::vec((any::<usize>(), any::<bool>(), any::<u16>()), 0..4)) {
        let mut events = chain(&key(9), drafts);
        for (which, in_signature, bit) in flips {
            let idx = which % events.len();
            let part = if in_signature { &mut events[idx].signature } else { &mut events[idx].header };
            let mut bytes = part.to_vec();
            let bit = bit as usize % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            *part = Bytes::from(bytes);
        }
        let many = rollcall_core::verify_many(&events);
        for (event, batched) in events.iter().zip(many) {
            prop_assert_eq!(batched, verify(event));
        }
        // Given up to it, it decides the same, and gives each refused event back whole.
        let owned = rollcall_core::verify_many_owned(events.clone());
        for (event, batched) in events.iter().zip(owned) {
            match (batched, verify(event)) {
                (Ok(accepted), Ok(alone)) => prop_assert_eq!(accepted, alone),
                (Err(refused), Err(alone)) => {
                    prop_assert_eq!(refused.error, alone);
                    prop_assert_eq!(&refused.event, event);
                }
                (batched, alone) => prop_assert!(false, "batched {:?}, alone {:?}", batched, alone),
            }
        }
    }
}

/// Corrections of a few fields of a few members, some settling others, as (member, field,
/// value index, the earlier corrections it settles, by index).
fn arb_corrections() -> impl Strategy<Value = Vec<(u8, i32, u8, Vec<usize>)>> {
    prop::collection::vec((0u8..2, 1i32..3, 0u8..3, prop::collection::vec(0usize..12, 0..3)), 1..12)
}

proptest! {
    /// Goal: the corrections held and the conflicts shown are a function of the set of
    /// corrections (DESIGN.md section 4), whatever order they are applied in and however
    /// often one arrives; the compact lists keep that.
    #[test]
    fn field_edits_are_a_function_of_the_set(corrections in arb_corrections(), order in any::<prop::sample::Index>(), seed in any::<u64>()) {
        use rollcall_core::conflict::FieldEdits;
        use rollcall_core::event::{BodyHash, EventHash, Seq};
        let id = |i: usize| EventId([i as u8 + 1; 16]);
        let events: Vec<(rollcall_core::Header, proto::RecordCorrected)> = corrections
            .iter()
            .enumerate()
            .map(|(i, (member, field, value, settles))| {
                let header = rollcall_core::Header {
                    format_version: 1,
                    event_id: id(i),
                    replica: ReplicaId([i as u8 % 3; 32]),
                    seq: Seq(i as u64 + 1),
                    prev: EventHash([0; 32]),
                    hlc: HlcTime { wall_ms: 1_000 + (i as u64 * 7) % 5, logical: 0 },
                    unit_path: UnitPath::parse("hb/u1/c1/b1").expect("valid"),
                    kind: EventKind::RecordCorrected,
                    body_hash: BodyHash([0; 32]),
                    author: format!("a{i}"),
                };
                let correction = proto::RecordCorrected {
                    member_id: format!("m{member}"),
                    field: *field,
                    new_value: format!("v{value}"),
                    reason: String::new(),
                    settles: settles.iter().filter(|s| **s < i).map(|s| Bytes::copy_from_slice(&id(*s).0)).collect(),
                };
                (header, correction)
            })
            .collect();
        // One `FieldEdits` a member, as the projection keeps them.
        let apply = |held: &mut std::collections::BTreeMap<String, FieldEdits>, (header, correction): &(rollcall_core::Header, proto::RecordCorrected)| {
            held.entry(correction.member_id.clone()).or_default().apply_parts(header, correction);
        };
        let mut in_order = std::collections::BTreeMap::new();
        for event in &events {
            apply(&mut in_order, event);
        }
        // Another order: rotated, reversed in part by the seed, one event applied twice.
        let mut shuffled: Vec<usize> = (0..events.len()).collect();
        let pivot = order.index(events.len());
        shuffled.rotate_left(pivot);
        if seed % 2 == 0 {
            shuffled.reverse();
        }
        shuffled.push(pivot);
        let mut other = std::collections::BTreeMap::new();
        for index in shuffled {
            apply(&mut other, &events[index]);
        }
        prop_assert_eq!(&in_order, &other);
        let unit = UnitPath::parse("hb/u1/c1/b1").expect("valid");
        for (member, edits) in &in_order {
            prop_assert_eq!(edits.conflicts(member, &unit), other[member].conflicts(member, &unit));
            prop_assert_eq!(edits.values().collect::<Vec<_>>(), other[member].values().collect::<Vec<_>>());
            for field in 1..3 {
                prop_assert_eq!(edits.current(field), other[member].current(field));
                prop_assert_eq!(edits.last_corrected(field), other[member].last_corrected(field));
                // The value in force is the conflict view's current one.
                let in_conflict = edits.conflicts(member, &unit).into_iter().find(|c| c.field == field);
                if let Some(conflict) = in_conflict {
                    prop_assert_eq!(Some(conflict.current().value.as_str()), edits.value(field));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Goal: where floods meet a member's bounds (the lowest 64 fields, the latest 64
    /// corrections of a field, the lowest 256 settled ids), what is kept is still a
    /// function of the set of corrections: any order, any repeats, one value.
    #[test]
    fn bounded_field_edits_are_a_function_of_the_set(
        corrections in prop::collection::vec(
            (0i32..90, 0u64..40, prop::collection::vec(0usize..400, 0..6)),
            100..220,
        ),
        wide in any::<bool>(),
        pivot in any::<prop::sample::Index>(),
    ) {
        use rollcall_core::conflict::FieldEdits;
        use rollcall_core::event::{BodyHash, EventHash, Seq};
        let id = |i: usize| EventId([(i % 256) as u8, (i / 256) as u8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7]);
        let events: Vec<(rollcall_core::Header, proto::RecordCorrected)> = corrections
            .iter()
            .enumerate()
            .map(|(i, (field, wall, settles))| {
                let header = rollcall_core::Header {
                    format_version: 1,
                    event_id: id(i),
                    replica: ReplicaId([(i % 5) as u8; 32]),
                    seq: Seq(i as u64 + 1),
                    prev: EventHash([0; 32]),
                    hlc: HlcTime { wall_ms: 1_000 + wall, logical: 0 },
                    unit_path: UnitPath::parse("hb/u1/c1/b1").expect("valid"),
                    kind: EventKind::RecordCorrected,
                    body_hash: BodyHash([0; 32]),
                    author: format!("作者{i}"),
                };
                let correction = proto::RecordCorrected {
                    member_id: "m".into(),
                    // Many fields, or two fields with many corrections each.
                    field: if wide { *field } else { field % 2 },
                    new_value: format!("值{}", i % 4),
                    reason: String::new(),
                    settles: settles.iter().map(|s| Bytes::copy_from_slice(&id(*s).0)).collect(),
                };
                (header, correction)
            })
            .collect();
        let mut forward = FieldEdits::default();
        for (header, correction) in &events {
            forward.apply_parts(header, correction);
        }
        let mut order: Vec<usize> = (0..events.len()).rev().collect();
        order.rotate_left(pivot.index(events.len()));
        order.extend(0..events.len() / 2);
        let mut other = FieldEdits::default();
        for index in order {
            other.apply_parts(&events[index].0, &events[index].1);
        }
        prop_assert_eq!(&forward, &other);
        let unit = UnitPath::parse("hb/u1/c1/b1").expect("valid");
        prop_assert_eq!(forward.conflicts("m", &unit), other.conflicts("m", &unit));
        prop_assert_eq!(forward.values().collect::<Vec<_>>(), other.values().collect::<Vec<_>>());
        prop_assert!(forward.values().count() <= rollcall_core::limits::MARKED_FIELDS_PER_MEMBER_MAX);
    }
}
