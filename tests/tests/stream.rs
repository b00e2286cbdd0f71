//! The event stream (issue 6): a consumer that disconnects at random points and
//! resumes from its last cursor, over 10,000 events with appends arriving meanwhile,
//! misses nothing and sees nothing twice; a viewer enrolled for one college receives
//! only that college's events, is refused another college's subtree, and a caller
//! with no enrollment is refused.

use rollcall_client::sample::{SampleRng, member_drafts};
use rollcall_proto::v1 as pb;
use rollcall_proto::v1::node_client::NodeClient;
use rollcall_server::config::{OPERATOR_KEY_FILE, read_key};
use rollcall_server::connect;
use rollcall_tests::{NodeProcess, init_node, rollcall};

async fn append_members(
    client: &mut NodeClient<tonic::transport::Channel>,
    branch: &str,
    members: usize,
    seed: u64,
) -> usize {
    let drafts = member_drafts(&rollcall_core::UnitPath::parse(branch).expect("unit"), members, seed, "stream-test");
    for chunk in drafts.chunks(1000) {
        client.append(rollcall_client::append_request(chunk)).await.expect("append");
    }
    drafts.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_subscriptions_miss_nothing_and_repeat_nothing() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("hb");
    init_node(&dir, "hb", "province");
    let node = NodeProcess::start(&dir);
    let channel = node.operator_channel(&dir).await;
    let mut client = NodeClient::new(channel.clone());
    let mut total = 0;
    for (branch, seed) in [("hb/u1/c1/b1", 1), ("hb/u1/c2/b1", 2), ("hb/u2/c1/b1", 3)] {
        total += append_members(&mut client, branch, 1500, seed).await;
    }
    assert!(total >= 10_000, "{total} events");

    let mut rng = SampleRng::new(7);
    let mut seen: Vec<u64> = Vec::new();
    let mut cursor = 0;
    let mut resumed = 0;
    let mut appended_live = false;
    while seen.len() < total {
        let mut stream = client
            .subscribe(pb::SubscribeRequest { after: cursor, ..Default::default() })
            .await
            .expect("subscribe")
            .into_inner();
        resumed += 1;
        let take = 1 + rng.below(2500) as usize;
        let mut taken = 0;
        while taken < take {
            let Some(response) = stream.message().await.expect("stream") else { break };
            for event in &response.events {
                seen.push(event.cursor);
                taken += 1;
            }
            cursor = response.cursor;
            if response.caught_up && seen.len() >= total {
                break;
            }
        }
        drop(stream); // Disconnect mid-stream.
        if !appended_live && seen.len() > total / 2 {
            // Events arriving while the consumer is away or reading are not lost either.
            total += append_members(&mut client, "hb/u1/c1/b2", 300, 9).await;
            appended_live = true;
        }
    }
    assert!(resumed > 4, "the consumer resumed several times ({resumed})");
    assert_eq!(seen.len(), total, "no event missed or repeated");
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "cursors strictly increase: no duplicate, order kept");
    assert!(node.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_only_its_subtree() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("hb");
    init_node(&dir, "hb", "province");
    let node = NodeProcess::start(&dir);
    let operator = read_key(&dir.join(OPERATOR_KEY_FILE)).expect("operator key");
    let mut client = NodeClient::new(connect::connect(&node.address, node.replica, &operator).await.expect("connect"));
    append_members(&mut client, "hb/u1/c1/b1", 50, 1).await;
    append_members(&mut client, "hb/u1/c2/b1", 50, 2).await;

    // A viewer for college hb/u1/c1, enrolled through the real flow.
    let viewer_dir = base.path().join("viewer");
    let viewer_arg = viewer_dir.display().to_string();
    assert!(rollcall(&["init", "--dir", &viewer_arg, "--unit", "hb/u1/c1"]).status.success());
    let viewer_key_hex = std::fs::read_to_string(viewer_dir.join("replica.pub")).expect("pub");
    let bundle = base.path().join("viewer.bundle").display().to_string();
    let output = rollcall(&[
        "enroll",
        "--node-dir",
        &dir.display().to_string(),
        "--child-key",
        viewer_key_hex.trim(),
        "--unit",
        "hb/u1/c1",
        "--role",
        "viewer",
        "--out",
        &bundle,
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let viewer_key = read_key(&viewer_dir.join("replica.key")).expect("viewer key");
    let mut viewer =
        NodeClient::new(connect::connect(&node.address, node.replica, &viewer_key).await.expect("viewer connects"));

    let mut stream = viewer.subscribe(pb::SubscribeRequest::default()).await.expect("subscribe").into_inner();
    let mut received = 0;
    let mut registrations = 0;
    loop {
        let response = stream.message().await.expect("stream").expect("open");
        for event in &response.events {
            let signed = rollcall_core::codec::from_proto(event.event.clone().expect("event")).expect("decodes");
            let header = rollcall_core::codec::decode_header(&signed.header).expect("header");
            // A registration's body is the form, ID number, phone and address in full: a
            // viewer gets it as a stub (it still verifies: the header names the body's hash).
            if header.kind == rollcall_core::EventKind::MemberRegistered {
                registrations += 1;
                assert!(signed.body.is_none(), "a viewer received a registration's body");
                rollcall_core::verify::verify(&signed).expect("a stub verifies");
            }
            assert!(
                header.unit_path.as_str().starts_with("hb/u1/c1"),
                "a viewer of hb/u1/c1 received {}",
                header.unit_path
            );
            received += 1;
        }
        if response.caught_up {
            break;
        }
    }
    assert!(received >= 100, "the viewer received its college's events ({received})");
    assert!(registrations > 0, "the viewer's scope has registrations");
    let refused = viewer.subscribe(pb::SubscribeRequest { unit_path: "hb/u1/c2".into(), ..Default::default() }).await;
    assert_eq!(refused.err().map(|s| s.code()), Some(tonic::Code::PermissionDenied));
    let rollup = viewer.rollup(pb::RollupRequest::default()).await.expect("a viewer reads its rollup").into_inner();
    assert_eq!(rollup.total.expect("total").unit_path, "hb/u1/c1");
    // Personal data stays masked for a viewer: forms, one member, and the register.
    let listed = viewer
        .members(pb::MembersRequest { include_forms: true, limit: 5, ..Default::default() })
        .await
        .expect("a viewer lists its members")
        .into_inner();
    let form = listed.members[0].form.clone().expect("form");
    assert!(form.id_number.contains("********") && form.phone.contains('*'), "masked for a viewer: {form:?}");
    let one = viewer
        .member(pb::MemberRequest { member_id: listed.members[0].member_id.clone() })
        .await
        .expect("a viewer reads one member")
        .into_inner();
    assert!(one.form.expect("form").id_number.contains("********"));
    let full = viewer.register(pb::RegisterRequest { show_personal: true, ..Default::default() }).await;
    assert_eq!(full.err().map(|s| s.code()), Some(tonic::Code::PermissionDenied), "full ID numbers: operators only");
    let operator_view = client
        .members(pb::MembersRequest { include_forms: true, limit: 1, ..Default::default() })
        .await
        .expect("the operator lists")
        .into_inner();
    assert!(!operator_view.members[0].form.clone().expect("form").id_number.contains('*'), "in full for the operator");
    // Heads answers a viewer (the logs of replicas enrolled within its unit: none here,
    // every event was written by the province's node), and another unit's log is refused.
    let heads = viewer.heads(pb::HeadsRequest {}).await.expect("a viewer reads its heads").into_inner();
    assert!(heads.heads.iter().all(|h| h.replica.as_ref() != node.replica.0.as_slice()), "not the province's log");
    let province_log =
        viewer.read_log(pb::ReadLogRequest { replica: node.replica.0.to_vec().into(), from_seq: 0, limit: 1 }).await;
    assert_eq!(province_log.err().map(|s| s.code()), Some(tonic::Code::PermissionDenied));
    let writes = viewer.append(pb::AppendRequest { drafts: vec![] }).await;
    assert_eq!(writes.err().map(|s| s.code()), Some(tonic::Code::PermissionDenied), "viewers write nothing");

    // SyncStatus answers a viewer too, confined like Heads: no edge outside its unit,
    // none of the province's own logs, no exports (operators only).
    let status = viewer.sync_status(pb::SyncStatusRequest {}).await.expect("a viewer reads sync status").into_inner();
    assert!(status.edges.iter().all(|edge| edge.unit.starts_with("hb/u1/c1")), "{:?}", status.edges);
    assert!(status.local_heads.iter().all(|h| h.replica.as_ref() != node.replica.0.as_slice()));
    assert!(status.exports.is_empty() && status.last_receipt.is_none());

    // A key nobody enrolled completes TLS and is told why, in a gRPC status (English,
    // and Chinese in the metadata the CLI reads).
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let channel = connect::connect(&node.address, node.replica, &stranger).await.expect("TLS completes");
    let refused = NodeClient::new(channel).subscribe(pb::SubscribeRequest::default()).await.expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    assert!(refused.message().contains("nor enrolled in its province"), "{refused:?}");
    let chinese = refused.metadata().get_bin("rollcall-rule-zh-bin").and_then(|v| v.to_bytes().ok()).expect("zh");
    assert!(String::from_utf8_lossy(&chinese).contains("未在本省登记"));
    // …and its connection does not stay: the node closes it after the grace
    // (NOT_ADMITTED_GRACE), so keys nobody enrolled cannot hold the node's sockets.
    {
        use rollcall_server::tls::{KeySet, TlsIdentity, client_config};
        use tokio::io::AsyncReadExt;
        let config = client_config(
            &TlsIdentity::for_key(&stranger).expect("identity"),
            std::sync::Arc::new(KeySet(vec![node.replica])),
        )
        .expect("config");
        let tcp = tokio::net::TcpStream::connect(&node.address).await.expect("tcp");
        let name = rustls::pki_types::ServerName::try_from("rollcall").expect("name");
        let mut tls =
            tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.expect("tls");
        let closed = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            let mut buffer = [0u8; 4096];
            loop {
                match tls.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the node closed a not-admitted connection within its grace");
    }
    assert!(node.stop());
}

/// Goal (issue 15): 200 events with 250 KiB bodies never make one response larger than a
/// stock client accepts (4 MiB by default): a subscription from 0 on default client
/// limits receives every one, exactly once, and so does ReadLog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_never_jam_a_cursor() {
    let sizes = large_bodies(None).await;
    assert!(sizes.iter().any(|&n| n > 1), "the default 1 MiB bound holds several 250 KiB events: {sizes:?}");
}

/// The bound is the node's `[limits] stream_message_bytes`: at 64 KiB every 250 KiB event
/// goes alone, and still every event arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_bound_closes_smaller_responses() {
    let sizes = large_bodies(Some(65_536)).await;
    assert!(sizes.iter().all(|&n| n == 1), "one large event per response: {sizes:?}");
}

/// Appends 200 events with 250 KiB bodies and reads them back by Subscribe and ReadLog on
/// a client with default limits; returns how many events each Subscribe response held.
async fn large_bodies(stream_message_bytes: Option<usize>) -> Vec<usize> {
    use rollcall_core::body::Body;
    use rollcall_core::log::Draft;
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("hb");
    init_node(&dir, "hb", "province");
    if let Some(bytes) = stream_message_bytes {
        let mut config = std::fs::read_to_string(dir.join("rollcall.toml")).expect("config");
        config.push_str(&format!("\n[limits]\nstream_message_bytes = {bytes}\n"));
        std::fs::write(dir.join("rollcall.toml"), config).expect("write config");
    }
    let node = NodeProcess::start(&dir);
    let channel = node.operator_channel(&dir).await;
    // A client with tonic's defaults: 4 MiB per message decoded.
    let mut client = NodeClient::new(channel);
    let branch = rollcall_core::UnitPath::parse("hb/u1/c1/b1").expect("unit");
    let registered = member_drafts(&branch, 1, 5, "stream-test");
    client.append(rollcall_client::append_request(&registered)).await.expect("register");
    let member_id = match Body::decode(registered[0].kind, &registered[0].body).expect("body") {
        Body::MemberRegistered(registered) => registered.member_id,
        other => panic!("{other:?}"),
    };
    let summary = "表现".repeat(250 * 1024 / 6); // 250 KiB of UTF-8 text
    for _ in 0..20 {
        let drafts: Vec<Draft> = (0..10)
            .map(|_| {
                let body = Body::ConductNoted(rollcall_core::proto::ConductNoted {
                    member_id: member_id.clone(),
                    summary: summary.clone(),
                    violation_reported: false,
                });
                Draft { unit_path: branch.clone(), kind: body.kind(), body: body.encode(), author: "t".into() }
            })
            .collect();
        client.append(rollcall_client::append_request(&drafts)).await.expect("append 10 large events");
    }
    let total = registered.len() + 200;
    let mut stream = client
        .subscribe(pb::SubscribeRequest { after: 0, ..Default::default() })
        .await
        .expect("subscribe")
        .into_inner();
    let mut cursors = Vec::new();
    let mut sizes = Vec::new();
    while cursors.len() < total {
        let response = stream.message().await.expect("no message over the client's limit").expect("open");
        cursors.extend(response.events.iter().map(|e| e.cursor));
        // Responses of the large events only (the sample's first events are small).
        if response.events.first().is_some_and(|e| e.cursor > registered.len() as u64) {
            sizes.push(response.events.len());
        }
    }
    assert_eq!(cursors, (1..=total as u64).collect::<Vec<_>>(), "every event once, in order");
    let log = client
        .read_log(pb::ReadLogRequest { replica: node.replica.0.to_vec().into(), from_seq: 0, limit: 0 })
        .await
        .expect("read log")
        .into_inner();
    let mut log = log;
    let mut read = 0;
    while let Some(message) = log.message().await.expect("no message over the client's limit") {
        read += message.events.len();
    }
    assert!(read >= total, "ReadLog returned {read} of {total}");
    sizes.retain(|&n| n > 0);
    sizes
}
