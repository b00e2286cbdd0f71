//! Authority over what an event *says* (issue 12), over the real wire: six real nodes
//! (province, university, two colleges, a branch under each) with TLS and RocksDB, and
//! an adversary holding one real laptop key of branch b1, sending signed events of its
//! own making over `Sync`.
//!
//! - events filed at b1 about members of b2 change nothing at b2 or above and are listed
//!   as findings; a re-registration of b2's member at b1 is a duplicate relation, found
//!   by the university (their lowest common ancestor), seen by both branches' colleges,
//!   counted once, and settled by the university through the CLI;
//! - a stub of an event the branch is entitled to hold in full is refused (and the full
//!   event still accepted after it); the committee's re-check signed by a laptop is
//!   refused;
//! - afterwards each college's own rollup equals the province's rollup of it, field by
//!   field;
//! - appends with draft ids are idempotent over the wire; the sign-off chain through the
//!   CLI at its levels; a revoked laptop hands in what it signed before its revocation
//!   and is told so in plain words.

use std::path::Path;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use rollcall_core::body::Body;
use rollcall_core::log::{Draft, Head, LocalWriter};
use rollcall_core::{EventId, EventKind, HlcTime, ReplicaId, UnitPath, codec, proto};
use rollcall_proto::v1 as pb;
use rollcall_tests::{
    ClusterNode, enroll_laptop, form_row, id_number, rollcall, rollcall_json, start_child, start_root, wait_until,
};
use tokio::sync::mpsc;

const B1: &str = "hb/u1/c1/b1";
const B2: &str = "hb/u1/c2/b2";
const CONVERGE: Duration = Duration::from_secs(60);

fn import(node: &ClusterNode, base: &Path, rows: &[Vec<String>]) {
    rollcall_tests::import_form(node, &base.join(format!("{}.csv", node.unit.replace('/', "_"))), rows);
}

fn ok(args: &[&str]) -> String {
    let output = rollcall(args);
    assert!(
        output.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn refused(args: &[&str]) -> String {
    let output = rollcall(args);
    assert!(!output.status.success(), "{args:?} was accepted: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn member_json(node: &ClusterNode, member: &str) -> Option<serde_json::Value> {
    let output = rollcall(&["member", "show", member, "--node-dir", &node.dir_arg(), "--json"]);
    output.status.success().then(|| serde_json::from_slice(&output.stdout).expect("json"))
}

fn rollup(node: &ClusterNode, unit: &str) -> serde_json::Value {
    rollcall_json(&["rollup", "--node-dir", &node.dir_arg(), "--unit", unit])
}

fn findings(node: &ClusterNode) -> Vec<serde_json::Value> {
    rollcall_json(&["findings", "--node-dir", &node.dir_arg()]).as_array().expect("array").clone()
}

fn signed(writer: &mut LocalWriter, key: &SigningKey, index: u64, body: Body) -> pb::SignedEvent {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&index.to_be_bytes());
    id[8..].copy_from_slice(&key.verifying_key().to_bytes()[..8]);
    let draft = Draft {
        unit_path: UnitPath::parse(B1).expect("valid"),
        kind: body.kind(),
        body: body.encode(),
        author: "adversary".into(),
    };
    let now = rollcall_server::writer::now_ms();
    codec::to_proto(&writer.prepare(now, EventId(id), draft).expect("valid").sign(key).to_signed())
}

async fn send_and_ack(
    sender: &mpsc::Sender<pb::SyncMessage>,
    inbound: &mut tonic::Streaming<pb::SyncMessage>,
    events: Vec<pb::SignedEvent>,
) -> pb::SyncAck {
    sender
        .send(pb::SyncMessage { message: Some(pb::sync_message::Message::Events(pb::SyncEvents { events })) })
        .await
        .expect("send");
    rollcall_tests::next_sync_ack(inbound).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_key_speaks_only_for_its_own_members() {
    let base = tempfile::tempdir().expect("temp dir");
    let hb = start_root(base.path(), "hb");
    let u1 = start_child(base.path(), &hb, "hb/u1");
    let c1 = start_child(base.path(), &u1, "hb/u1/c1");
    let c2 = start_child(base.path(), &u1, "hb/u1/c2");
    let b1 = start_child(base.path(), &c1, B1);
    let b2 = start_child(base.path(), &c2, B2);
    ok(&["campaign-open", "--node-dir", &hb.dir_arg(), "--year", "2026", "--as-of", "2026-03-31"]);

    let member = |id17: &str| rollcall_client::import::member_id_for(&id_number(id17));
    let (m1, m2, m3) = (member("42010219800101001"), member("42010219850303003"), member("42010219860404004"));
    import(&b1, base.path(), &[form_row("张一", "42010219800101001", "1980-01-01", B1)]);
    import(
        &b2,
        base.path(),
        &[
            form_row("李三", "42010219850303003", "1985-03-03", B2),
            form_row("赵四", "42010219860404004", "1986-04-04", B2),
        ],
    );
    wait_until("the province holds b2's members", CONVERGE, || member_json(&hb, &m3).is_some());

    // The adversary: a laptop key of b1, enrolled through the real CLI.
    let key = SigningKey::from_bytes(&[77; 32]);
    let replica = ReplicaId(key.verifying_key().to_bytes());
    let bundle = base.path().join("adversary.bundle");
    ok(&[
        "enroll",
        "--node-dir",
        &b1.dir_arg(),
        "--child-key",
        &replica.to_hex(),
        "--unit",
        B1,
        "--role",
        "laptop",
        "--out",
        bundle.to_str().expect("path"),
    ]);
    let b1_address = b1.process.as_ref().expect("running").address.clone();
    let (sender, mut inbound, mut client) = rollcall_tests::open_sync_session(&b1_address, b1.replica(), &key).await;

    let mut writer = LocalWriter::new(replica, Head::EMPTY, HlcTime::default());
    let attempt_on_m3 = signed(
        &mut writer,
        &key,
        1,
        Body::ContactAttempted(proto::ContactAttempted {
            member_id: m3.clone(),
            method: proto::ContactMethod::Phone as i32,
            attempted_on: Some(proto::Date { year: 2026, month: 3, day: 1 }),
            outcome: proto::contact_attempted::Outcome::NoResponse as i32,
            ..Default::default()
        }),
    );
    let rename_m3 = signed(
        &mut writer,
        &key,
        2,
        Body::RecordCorrected(proto::RecordCorrected {
            member_id: m3.clone(),
            field: proto::MemberField::Name as i32,
            new_value: "王五".into(),
            reason: "x".into(),
            settles: vec![],
        }),
    );
    let mut form = rollcall_core::proto::MemberForm {
        name: "李三".into(),
        gender: proto::Gender::Male as i32,
        ethnicity_code: 1,
        id_number: id_number("42010219850303003"),
        birth_date: Some(proto::Date { year: 1985, month: 3, day: 3 }),
        education_code: 21,
        category: proto::MemberCategory::Full as i32,
        joined_date: Some(proto::Date { year: 2005, month: 7, day: 1 }),
        full_member_date: Some(proto::Date { year: 2006, month: 7, day: 1 }),
        membership_status: proto::MembershipStatus::Normal as i32,
        person_group: proto::PersonGroup::Staff as i32,
        ..Default::default()
    };
    form.branch_unit_path = B1.into();
    let register_m2_again = signed(
        &mut writer,
        &key,
        3,
        Body::MemberRegistered(proto::MemberRegistered { member_id: m2.clone(), form: Some(form), source: 1 }),
    );
    let note_on_m1 = signed(
        &mut writer,
        &key,
        4,
        Body::ConductNoted(proto::ConductNoted {
            member_id: m1.clone(),
            summary: "表现良好".into(),
            violation_reported: false,
        }),
    );
    let mut stub = note_on_m1.clone();
    stub.body = None;
    let recheck_by_laptop = signed(
        &mut writer.clone(),
        &key,
        5,
        Body::FormSignedOff(proto::FormSignedOff {
            member_id: m1.clone(),
            stage: proto::form_signed_off::Stage::CommitteeRechecked as i32,
            signed_on: None,
        }),
    );

    let ack = send_and_ack(&sender, &mut inbound, vec![attempt_on_m3, rename_m3, register_m2_again, stub]).await;
    assert_eq!(ack.accepted, 3, "b1 cannot tell whom b2 holds: {ack:?}");
    assert_eq!(ack.rejections.len(), 1, "{ack:?}");
    assert!(ack.rejections[0].reason.contains("not as a stub"), "{ack:?}");
    let ack = send_and_ack(&sender, &mut inbound, vec![note_on_m1, recheck_by_laptop]).await;
    assert_eq!(ack.accepted, 1, "the full event after its refused stub: {ack:?}");
    assert!(ack.rejections.iter().any(|r| r.reason.contains("is recorded at college level")), "{ack:?}");
    drop(sender);
    // The same attacks through Append with the branch node's own operator key: the
    // audit rules refuse them where they are authored.
    let b1_target = rollcall_client::target::Target::from_node_dir(&b1.dir).expect("target");
    let mut b1_operator = rollcall_client::NodeClient::new(b1_target.connect().await.expect("connect"));
    let attack = |body: Body| Draft {
        unit_path: UnitPath::parse(B1).expect("valid"),
        kind: body.kind(),
        body: body.encode(),
        author: "adversary".into(),
    };
    let about_m3 = attack(Body::RecordCorrected(proto::RecordCorrected {
        member_id: m3.clone(),
        field: proto::MemberField::Name as i32,
        new_value: "王五".into(),
        reason: "x".into(),
        settles: vec![],
    }));
    let status =
        b1_operator.append(rollcall_client::append_request(&[about_m3])).await.expect_err("not a member of b1");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("not registered"), "{status:?}");
    let recheck = attack(Body::FormSignedOff(proto::FormSignedOff {
        member_id: m1.clone(),
        stage: proto::form_signed_off::Stage::CommitteeRechecked as i32,
        signed_on: None,
    }));
    let status = b1_operator.append(rollcall_client::append_request(&[recheck])).await.expect_err("the college's");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("is recorded at college level"), "{status:?}");

    // The laptop key may sync with its branch, not act as the branch's operator.
    let status = client
        .append(pb::AppendRequest { drafts: vec![] })
        .await
        .expect_err("a laptop key is not an operator of the branch node");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("not an operator"), "{status:?}");

    // The adversary's four events reach the province; the university finds the duplicate.
    wait_until("the province holds the adversary's events", CONVERGE, || hb.heads().get(&replica.to_hex()) == Some(&4));
    let duplicate_seen = |node: &ClusterNode| {
        findings(node).iter().any(|f| f["kind"] == "duplicate_relation" && f["member_id"] == m2.as_str())
    };
    wait_until("the duplicate relation reaches both colleges", CONVERGE, || {
        duplicate_seen(&c1) && duplicate_seen(&c2) && duplicate_seen(&b1)
    });

    // b2's members are untouched everywhere.
    for node in [&b2, &c2, &u1, &hb] {
        let shown = member_json(node, &m3).expect("m3");
        assert_eq!(shown["name"], "赵四", "at {}: {shown}", node.unit);
        assert_eq!(shown["unit"], B2, "at {}", node.unit);
        assert_eq!(shown["contact_attempts"], 0, "at {}: {shown}", node.unit);
    }
    let shown = member_json(&hb, &m2).expect("m2");
    assert_eq!(shown["unit"], B2, "m2 counts at b2, the earlier registration: {shown}");

    // The findings at the university: the duplicate, counted at b2, and the events filed
    // at b1 about m3, counted nowhere.
    let at_u1 = findings(&u1);
    let duplicate = at_u1.iter().find(|f| f["kind"] == "duplicate_relation").expect("duplicate");
    assert_eq!(duplicate["units"], serde_json::json!([B1, B2]));
    assert_eq!(duplicate["counted_at"], B2);
    let stray = at_u1.iter().find(|f| f["kind"] == "unregistered").expect("events about m3 at b1");
    assert_eq!(stray["member_id"], m3.as_str());
    assert_eq!(stray["unit"], B1);
    assert_eq!(stray["events"], 2);
    let text = ok(&["findings", "--node-dir", &u1.dir_arg()]);
    assert!(text.contains("重复组织关系") && text.contains("未在本单位登记"), "{text}");
    // Asked about b1 alone (what a viewer of b1 may ask any node above it), the findings
    // name nothing outside b1: not where m3 or m2 is registered, not m3's name. Else a
    // branch key could ask "is this ID number a member, where, and by what name?" of the
    // whole province by filing one event about it.
    let at_b1 = rollcall_json(&["findings", "--node-dir", &u1.dir_arg(), "--unit", B1]);
    let at_b1 = at_b1.as_array().expect("array");
    let stray = at_b1.iter().find(|f| f["kind"] == "unregistered").expect("events about m3 at b1");
    assert_eq!(stray["units"], serde_json::json!([]), "{stray}");
    assert_eq!(stray["name"], "", "{stray}");
    let duplicate = at_b1.iter().find(|f| f["kind"] == "duplicate_relation").expect("duplicate");
    assert_eq!(duplicate["units"], serde_json::json!([B1]), "{duplicate}");
    assert_eq!(duplicate["counted_at"], "", "{duplicate}");
    assert!(!serde_json::to_string(at_b1).expect("json").contains(B2), "{at_b1:?}");

    // Each college's own rollup equals the province's rollup of it, field by field.
    for (college, unit) in [(&c1, "hb/u1/c1"), (&c2, "hb/u1/c2")] {
        wait_until(&format!("{unit}'s rollup agrees with the province's"), CONVERGE, || {
            rollup(college, unit) == rollup(&hb, unit)
        });
    }

    // A college cannot settle what it does not own; the university can.
    let refusal = refused(&[
        "settle-duplicate",
        "--node-dir",
        &c1.dir_arg(),
        "--member",
        &m2,
        "--keep",
        B1,
        "--reason",
        "本人在b1",
    ]);
    assert!(refusal.contains("hb/u1"), "{refusal}");
    ok(&["settle-duplicate", "--node-dir", &u1.dir_arg(), "--member", &m2, "--keep", B2, "--reason", "本人在b2工作"]);
    wait_until("the settlement reaches c1", CONVERGE, || {
        findings(&c1).iter().any(|f| f["kind"] == "duplicate_relation" && f["settled"] == true)
    });
    for (college, unit) in [(&c1, "hb/u1/c1"), (&c2, "hb/u1/c2")] {
        wait_until(&format!("{unit}'s rollup agrees after the settlement"), CONVERGE, || {
            rollup(college, unit) == rollup(&hb, unit)
        });
    }

    // The sign-off chain through the CLI, each stage at its level.
    let signoff = |node: &ClusterNode, stage: &str| {
        rollcall(&["record", "signoff", "--node-dir", &node.dir_arg(), "--member", &m1, "--stage", stage])
    };
    let refusal = String::from_utf8_lossy(&signoff(&b1, "branch").stderr).to_string();
    assert!(refusal.contains("本人确认"), "the missing stage is named: {refusal}");
    let refusal = String::from_utf8_lossy(&signoff(&b1, "committee").stderr).to_string();
    assert!(refusal.contains("须由院系记录"), "the level that records it is named: {refusal}");
    assert!(signoff(&b1, "member").status.success());
    assert!(signoff(&b1, "branch").status.success());
    wait_until("c1 holds b1's sign-offs", CONVERGE, || signoff(&c1, "committee").status.success());
    wait_until("the province counts m1's form re-checked", CONVERGE, || {
        rollup(&hb, "hb/u1/c1")["total"]["metrics"]["forms_signed"] == 1
    });

    // Appends with draft ids are recorded once, whatever is retried.
    let target = rollcall_client::target::Target::from_node_dir(&b2.dir).expect("target");
    let mut operator = rollcall_client::NodeClient::new(target.connect().await.expect("connect"));
    let drafts = vec![Draft {
        unit_path: UnitPath::parse(B2).expect("valid"),
        kind: EventKind::ConductNoted,
        body: Body::ConductNoted(proto::ConductNoted {
            member_id: m3.clone(),
            summary: "按时交纳党费".into(),
            violation_reported: false,
        })
        .encode(),
        author: "secretary".into(),
    }];
    let request = rollcall_client::idempotent_append_request(&drafts);
    let first = operator.append(request.clone()).await.expect("append").into_inner();
    let again = operator.append(request.clone()).await.expect("a retry is answered").into_inner();
    assert_eq!(first, again, "the retry names the event the first attempt recorded");
    let heads = b2.heads();
    assert_eq!(heads.get(&b2.replica().to_hex()), Some(&first.events[0].seq), "nothing recorded twice");
    let mut mixed = rollcall_client::idempotent_append_request(&[drafts[0].clone(), drafts[0].clone()]);
    mixed.drafts[0].draft_id = request.drafts[0].draft_id.clone();
    let status = operator.append(mixed).await.expect_err("half a retry is not a retry");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_laptop_hands_in_what_it_signed_before_its_revocation() {
    let base = tempfile::tempdir().expect("temp dir");
    let hb = start_root(base.path(), "hb");
    let u1 = start_child(base.path(), &hb, "hb/u1");
    let c1 = start_child(base.path(), &u1, "hb/u1/c1");
    let b1 = start_child(base.path(), &c1, B1);
    let laptop = enroll_laptop(base.path(), &b1, "laptop");
    let laptop_arg = laptop.display().to_string();
    ok(&["append-sample", "--dir", &laptop_arg, "--unit", B1, "--members", "3"]);
    let own = std::fs::read_to_string(laptop.join("replica.pub")).expect("replica.pub");
    let own = own.trim().to_string();
    let local_head = |dir: &str| -> u64 {
        rollcall_json(&["heads", "--dir", dir])
            .as_array()
            .expect("array")
            .iter()
            .find(|h| h["replica"] == own.as_str())
            .and_then(|h| h["seq"].as_u64())
            .unwrap_or(0)
    };
    let signed_before = local_head(&laptop_arg);
    assert!(signed_before > 0);
    // The laptop is lost and revoked after what it signed so far; it signs more.
    ok(&[
        "revoke",
        "--node-dir",
        &b1.dir_arg(),
        "--child-key",
        &own,
        "--after-seq",
        &signed_before.to_string(),
        "--reason",
        "笔记本遗失后找回",
    ]);
    ok(&["append-sample", "--dir", &laptop_arg, "--unit", B1, "--members", "2", "--seed", "9"]);
    let signed_after = local_head(&laptop_arg);
    assert!(signed_after > signed_before);

    let output = rollcall(&["sync", "--dir", &laptop_arg, "--timeout-secs", "60"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("吊销") && stderr.contains(&format!("第 {signed_before} 条")), "{stderr}");
    wait_until("the branch holds what the laptop signed before its revocation", CONVERGE, || {
        b1.heads().get(&own) == Some(&signed_before)
    });
    let json = rollcall_json(&["sync", "--dir", &laptop_arg, "--timeout-secs", "60"]);
    assert_eq!(json["revoked_after_seq"].as_u64(), Some(signed_before), "{json}");
    assert_eq!(json["received"], 0, "a revoked laptop receives nothing: {json}");
    assert_eq!(b1.heads().get(&own), Some(&signed_before), "nothing after the revocation is taken");
}
