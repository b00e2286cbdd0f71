//! Bad input over the real wire: a node (real process, TLS, RocksDB) receives a sync
//! batch mixing good and bad events from an enrolled child, refuses each bad one with
//! its reason in the acknowledgement, stores the good ones, and stays up; a batch over
//! the count limit and a message over the size limit end the session without harm.

use std::time::Duration;

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use rollcall_core::body::Body;
use rollcall_core::log::{Draft, Head, LocalWriter};
use rollcall_core::{EventId, EventKind, HlcTime, ReplicaId, UnitPath, codec, proto};
use rollcall_proto::v1 as pb;
use rollcall_tests::{rollcall, start_root};
use tokio::sync::mpsc;

fn note(writer: &mut LocalWriter, key: &SigningKey, idx: u64, unit: &str) -> pb::SignedEvent {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&idx.to_be_bytes());
    let body = Body::ConductNoted(proto::ConductNoted {
        member_id: format!("m{idx}"),
        summary: "s".into(),
        violation_reported: false,
    });
    let draft = Draft {
        unit_path: UnitPath::parse(unit).expect("valid"),
        kind: EventKind::ConductNoted,
        body: body.encode(),
        author: "t".into(),
    };
    codec::to_proto(&writer.prepare(1_000 + idx, EventId(id), draft).expect("valid").sign(key).to_signed())
}

async fn open_session(
    address: &str,
    node: ReplicaId,
    key: &SigningKey,
) -> (mpsc::Sender<pb::SyncMessage>, tonic::Streaming<pb::SyncMessage>) {
    let (sender, inbound, _client) = rollcall_tests::open_sync_session(address, node, key).await;
    (sender, inbound)
}

async fn next_ack(inbound: &mut tonic::Streaming<pb::SyncMessage>) -> pb::SyncAck {
    rollcall_tests::next_sync_ack(inbound).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_are_refused_and_the_rest_is_stored() {
    let base = tempfile::tempdir().expect("temp dir");
    let province = start_root(base.path(), "hb");
    let node_key = province.replica();
    let address = province.process.as_ref().expect("running").address.clone();

    // Enroll a university key held by this test, through the real CLI.
    let child = SigningKey::from_bytes(&[42; 32]);
    let child_replica = ReplicaId(child.verifying_key().to_bytes());
    let bundle = base.path().join("u9.bundle");
    let output = rollcall(&[
        "enroll",
        "--node-dir",
        &province.dir_arg(),
        "--child-key",
        &child_replica.to_hex(),
        "--unit",
        "hb/u9",
        "--out",
        &bundle.display().to_string(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let mut writer = LocalWriter::new(child_replica, Head::EMPTY, HlcTime::default());
    let first = note(&mut writer, &child, 1, "hb/u9");
    let second = note(&mut writer, &child, 2, "hb/u9");
    let mut forged = note(&mut LocalWriter::new(child_replica, Head::EMPTY, HlcTime::default()), &child, 7, "hb/u9");
    let mut signature = forged.signature.to_vec();
    signature[5] ^= 0x10;
    forged.signature = Bytes::from(signature);
    let mut altered = second.clone();
    altered.body = Some(Bytes::from_static(b"\x0a\x03m99"));
    let outside = note(&mut writer.clone(), &child, 3, "hb/u8");
    let stranger = SigningKey::from_bytes(&[43; 32]);
    let unenrolled = note(
        &mut LocalWriter::new(ReplicaId(stranger.verifying_key().to_bytes()), Head::EMPTY, HlcTime::default()),
        &stranger,
        1,
        "hb/u9",
    );

    let (sender, mut inbound) = open_session(&address, node_key, &child).await;
    let batch = vec![first.clone(), forged, altered, second.clone(), outside, unenrolled];
    sender
        .send(pb::SyncMessage { message: Some(pb::sync_message::Message::Events(pb::SyncEvents { events: batch })) })
        .await
        .expect("send");
    let ack = next_ack(&mut inbound).await;
    assert_eq!(ack.accepted, 2, "{ack:?}");
    let reasons: Vec<&str> = ack.rejections.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("bad signature")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("body hash mismatch")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("outside the author's subtree")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("is not enrolled")), "{reasons:?}");

    // A replayed batch: duplicates, nothing new, nothing refused.
    sender
        .send(pb::SyncMessage {
            message: Some(pb::sync_message::Message::Events(pb::SyncEvents { events: vec![first, second] })),
        })
        .await
        .expect("send");
    let ack = next_ack(&mut inbound).await;
    assert_eq!((ack.accepted, ack.duplicates, ack.rejections.len()), (0, 2, 0));

    // Over the count limit: the node ends the session.
    let too_many: Vec<pb::SignedEvent> = (0..rollcall_core::limits::EVENTS_PER_MESSAGE_MAX as u64 + 1)
        .map(|i| note(&mut writer.clone(), &child, 100 + i, "hb/u9"))
        .collect();
    sender
        .send(pb::SyncMessage { message: Some(pb::sync_message::Message::Events(pb::SyncEvents { events: too_many })) })
        .await
        .expect("send");
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match inbound.message().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the session ended");

    // Over the size limit (16 MiB): refused by the transport.
    let (sender, mut inbound) = open_session(&address, node_key, &child).await;
    let huge = pb::SignedEvent {
        header: Bytes::from(vec![0u8; 64]),
        signature: Bytes::from(vec![0u8; 64]),
        body: Some(Bytes::from(vec![7u8; 17 * 1024 * 1024])),
    };
    sender
        .send(pb::SyncMessage {
            message: Some(pb::sync_message::Message::Events(pb::SyncEvents { events: vec![huge] })),
        })
        .await
        .expect("send");
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match inbound.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(status) => return Some(status.code()),
            }
        }
    })
    .await
    .expect("the session ended");
    assert_eq!(outcome, None, "the node closed the session on the oversized message");

    // The node is still up and holds exactly the two good events of the child.
    let heads = province.heads();
    assert_eq!(heads.get(&child_replica.to_hex()), Some(&2));
    let report = rollcall_tests::rollcall_json(&["verify", "--dir", &province.dir_arg()]);
    assert!(report["events"].as_u64().expect("events") >= 3);
}
