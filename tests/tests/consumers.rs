//! Consumers nobody here wrote (issue 15): a province's data team with Python's stock
//! `grpcio` (BoringSSL: no Ed25519) and only the directory `rollcall consumer` hands it,
//! and a consumer of the NATS JetStream stream a node exports into.
//!
//! The Python side is `tests/python/stock_grpcio.py`, which imports the very
//! `consume.py` the directory carries (and CONSUMERS.md quotes); it runs in the test
//! venv `deploy/setup-tests.sh` makes, with the versions pinned in
//! `tests/python/requirements.txt`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rollcall_tests::{repo_root, rollcall, rollcall_json, start_root, venv_python};

/// A child process killed when the test ends, passed or not (a consumer that reads a live
/// stream never exits by itself).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines a child prints, as they come (read on a thread of their own).
fn lines_of(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    received
}

/// How long the Python consumer may take for everything.
const PYTHON_DEADLINE: Duration = Duration::from_secs(300);

fn events_held(node: &rollcall_tests::ClusterNode) -> u64 {
    node.heads().values().sum()
}

fn append_sample(node: &rollcall_tests::ClusterNode, unit: &str, members: usize, seed: u64) -> u64 {
    let value = rollcall_json(&[
        "append-sample",
        "--node-dir",
        &node.dir_arg(),
        "--unit",
        unit,
        "--members",
        &members.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
    value["appended"].as_u64().expect("appended")
}

fn consumer_dir(node: &rollcall_tests::ClusterNode, out: &std::path::Path, unit: &str) -> serde_json::Value {
    rollcall_json(&[
        "consumer",
        "--node-dir",
        &node.dir_arg(),
        "--unit",
        unit,
        "--out",
        out.to_str().expect("path"),
        "--label",
        "省委组织部数据组",
    ])
}

/// Goal: with only the files `rollcall consumer` wrote, stock grpcio checks health,
/// finds `rollcall.v1.Node` through reflection v1 and v1alpha (with `event.proto`), and
/// subscribes from 0 across at least five random disconnects, over more than 10,000
/// events with live appends in the middle: every event exactly once, every signature,
/// body hash and chain link verified in Python.
#[test]
fn stock_grpcio_reads_every_event_exactly_once_with_the_files_rollcall_hands_out() {
    let base = tempfile::tempdir().expect("temp dir");
    let province = start_root(base.path(), "hb");
    append_sample(&province, "hb/whu/cs/b01", 4_500, 1);
    let dir = base.path().join("数据组");
    let made = consumer_dir(&province, &dir, "hb");
    assert_eq!(made["unit"], "hb");
    // What a data team gets: the files, its secret key private, the README's example the
    // very code that runs below.
    for file in ["client.pem", "client.key", "node.pem", "connection.json", "consume.py", "README.md"] {
        assert!(dir.join(file).exists(), "{file} is missing");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("client.key")).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "client.key is mode {mode:o}");
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("readme");
    let example = std::fs::read_to_string(dir.join("consume.py")).expect("example");
    assert!(readme.contains(&example), "the README quotes the example that runs");
    let consumers_md = std::fs::read_to_string(repo_root().join("CONSUMERS.md")).expect("CONSUMERS.md");
    assert!(consumers_md.contains(&example), "CONSUMERS.md quotes the example that runs");

    let backlog = events_held(&province);
    assert!(backlog >= 10_000, "the backlog is {backlog} events");
    let live_unit = rollcall_core::UnitPath::parse("hb/whu/cs/b02").expect("unit");
    let live = rollcall_client::sample::member_drafts(&live_unit, 300, 2, "demo-operator").len() as u64;

    let python = Command::new(venv_python())
        .arg(repo_root().join("tests/python/stock_grpcio.py"))
        .args(["--bundle", dir.to_str().expect("path")])
        .args(["--backlog", &backlog.to_string(), "--live", &live.to_string(), "--disconnects", "6"])
        .args(["--deadline", &PYTHON_DEADLINE.as_secs().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("running the Python consumer");
    let mut python = KillOnDrop(python);
    let received = lines_of(python.0.stdout.take().expect("stdout"));
    let next_line = |prefix: &str| -> String {
        loop {
            let line = received.recv_timeout(PYTHON_DEADLINE).unwrap_or_else(|_| panic!("no {prefix} line in time"));
            if line.starts_with(prefix) {
                return line;
            }
        }
    };
    let caught_up = next_line("CAUGHT_UP");
    assert_eq!(caught_up, format!("CAUGHT_UP {backlog}"));
    // Live events while the consumer keeps disconnecting and resuming.
    assert_eq!(append_sample(&province, live_unit.as_str(), 300, 2), live);
    let result = next_line("RESULT");
    let status = python.0.wait().expect("python exits");
    assert!(status.success(), "the Python consumer failed: {status}");
    let result: serde_json::Value =
        serde_json::from_str(result.trim_start_matches("RESULT").trim()).expect("result JSON");
    eprintln!("the stock grpcio consumer: backlog {backlog}, live {live}: {result}");
    assert_eq!(result["events"].as_u64(), Some(backlog + live), "{result}");
    assert_eq!(result["verified"].as_u64(), Some(backlog + live), "{result}");
    assert!(result["disconnects"].as_u64() >= Some(5), "{result}");
    assert!(province.process.expect("running").stop());
}

/// Goal: a consumer the node does not admit is told why in a gRPC status, through the
/// stock client — a revoked viewer, and a certificate bound to a key nobody enrolled.
#[test]
fn a_consumer_the_node_does_not_admit_is_told_why() {
    let base = tempfile::tempdir().expect("temp dir");
    let province = start_root(base.path(), "hb");
    let dir = base.path().join("consumer");
    let made = consumer_dir(&province, &dir, "hb");
    let run_example = |dir: &std::path::Path| {
        let output = Command::new(venv_python())
            .arg(dir.join("consume.py"))
            .args(["--after", "0"])
            .output()
            .expect("running consume.py");
        (
            output.status.success(),
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
        )
    };

    // A certificate bound to a key nobody enrolled (everything else as handed out).
    let stranger_dir = base.path().join("stranger");
    std::fs::create_dir_all(&stranger_dir).expect("dir");
    for entry in std::fs::read_dir(&dir).expect("read dir").map_while(Result::ok) {
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), stranger_dir.join(entry.file_name())).expect("copy");
        }
    }
    let proto_dir = stranger_dir.join("proto/rollcall/v1");
    std::fs::create_dir_all(&proto_dir).expect("proto dir");
    for file in ["event.proto", "node.proto"] {
        std::fs::copy(dir.join("proto/rollcall/v1").join(file), proto_dir.join(file)).expect("copy proto");
    }
    let nobody = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let bound = rollcall_server::tls::bound_certificate(&nobody, 0, "nobody").expect("certificate");
    std::fs::write(stranger_dir.join("client.pem"), bound.certificate_pem).expect("write");
    std::fs::write(stranger_dir.join("client.key"), bound.private_key_pem).expect("write");
    let (ok, output) = run_example(&stranger_dir);
    assert!(!ok && output.contains("UNAUTHENTICATED") && output.contains("nor enrolled in its province"), "{output}");

    // The handed-out directory, admitted: a subscription opens and stays open (live).
    let mut open_stream = KillOnDrop(
        Command::new(venv_python())
            .arg(dir.join("consume.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running consume.py"),
    );
    let received = lines_of(open_stream.0.stdout.take().expect("stdout"));
    let first = received.recv_timeout(PYTHON_DEADLINE).expect("the admitted consumer prints its first event");
    assert!(first.contains("REPLICA_ENROLLED"), "{first}");

    // Its viewer revoked: the open stream ends at its next batch, and a new call is refused.
    let viewer = made["viewer_key"].as_str().expect("viewer key");
    let revoked = rollcall(&[
        "revoke",
        "--node-dir",
        &province.dir_arg(),
        "--child-key",
        viewer,
        "--after-seq",
        "0",
        "--reason",
        "数据组解散",
    ]);
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    append_sample(&province, "hb/whu/cs/b01", 5, 1);
    let mut ended = None;
    rollcall_tests::wait_until("the open stream ended", PYTHON_DEADLINE, || {
        ended = open_stream.0.try_wait().expect("try_wait");
        ended.is_some()
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut open_stream.0.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    assert!(!ended.expect("ended").success() && stderr.contains("was revoked after seq 0"), "{stderr}");
    assert!(
        received.try_iter().all(|line| !line.contains("hb/whu/cs/b01")),
        "no event written after the revocation reached the revoked consumer"
    );
    let (ok, output) = run_example(&dir);
    assert!(!ok && output.contains("UNAUTHENTICATED") && output.contains("was revoked after seq 0"), "{output}");
    assert!(province.process.expect("running").stop());
}

/// Goal: a node configured with `[export.nats]` delivers every event it holds to a real
/// three-server JetStream cluster (a stream replicated three times), exactly once and in
/// order per log, while one NATS server is killed and restarted and the node itself is
/// killed (SIGKILL) and restarted mid-way; a consumer of the stream verifies every
/// signature; `rollcall status` shows the export caught up.
#[test]
fn the_jetstream_export_delivers_every_event_once_across_server_and_node_restarts() {
    use rollcall_tests::nats::NatsCluster;
    use rollcall_tests::{ClusterNode, NodeProcess, init_node, wait_until};

    let base = tempfile::tempdir().expect("temp dir");
    let mut cluster = NatsCluster::start(base.path(), 3);
    let dir = base.path().join("hb");
    init_node(&dir, "hb", "province");
    let servers: Vec<String> = cluster.urls().iter().map(|url| format!("{url:?}")).collect();
    let mut config = std::fs::read_to_string(dir.join("rollcall.toml")).expect("config");
    config.push_str(&format!(
        "\n[export.nats]\nservers = [{}]\nstream = \"ROLLCALL_HB\"\nreplicas = 3\n",
        servers.join(", ")
    ));
    std::fs::write(dir.join("rollcall.toml"), config).expect("write config");
    let mut province = ClusterNode { unit: "hb".into(), dir: dir.clone(), process: Some(NodeProcess::start(&dir)) };
    let export_status = |node: &ClusterNode| -> serde_json::Value {
        let status = rollcall_json(&["status", "--node-dir", &node.dir_arg()]);
        status["exports"][0].clone()
    };

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // The stream's leader, from JetStream itself: the server whose loss disturbs the
    // export most (a new leader must be elected while the node publishes).
    let stream_leader = |urls: Vec<String>| -> String {
        runtime.block_on(async move {
            let addresses: Vec<async_nats::ServerAddr> = urls.iter().map(|url| url.parse().expect("url")).collect();
            let client = async_nats::connect(addresses).await.expect("connect to NATS");
            let mut stream = async_nats::jetstream::new(client).get_stream("ROLLCALL_HB").await.expect("stream");
            let info = stream.info().await.expect("info");
            info.cluster.as_ref().and_then(|cluster| cluster.leader.clone()).expect("a leader")
        })
    };
    wait_until("the export connected and made its stream", Duration::from_secs(60), || {
        export_status(&province)["connected"] == true
    });

    append_sample(&province, "hb/whu/cs/b01", 11_400, 1);
    // The stream's leader killed while the export publishes: the stream keeps its quorum
    // (2 of 3) once a new leader is elected, and the node's publishes are retried.
    let leader = stream_leader(cluster.urls());
    let leader = cluster.servers.iter().position(|server| server.name == leader).expect("a server of ours");
    cluster.servers[leader].kill();
    let during_outage = export_status(&province);
    append_sample(&province, "hb/whu/cs/b02", 11_400, 2);
    cluster.servers[leader].restart();
    append_sample(&province, "hb/whu/cs/b03", 11_400, 3);
    // The node killed (SIGKILL) while its export is behind, then restarted.
    let before_kill = export_status(&province);
    province.process.take().expect("running").kill_9();
    province.process = Some(NodeProcess::start(&dir));
    append_sample(&province, "hb/whu/cs/b04", 11_400, 4);
    let held = events_held(&province);
    assert!(held >= 100_000, "{held} events");
    wait_until("the export caught up", Duration::from_secs(240), || {
        let status = export_status(&province);
        status["connected"] == true && status["cursor"].as_u64() == Some(held) && status["lag"] == 0
    });
    eprintln!("export while the stream's leader was down: {during_outage}");
    eprintln!("export just before the node was killed: {before_kill}");
    assert!(before_kill["published"].as_u64() > Some(0), "the export ran before the kill: {before_kill}");
    let caught_up = export_status(&province);
    assert!(caught_up["last_error"].as_str().is_some_and(str::is_empty), "{caught_up}");
    eprintln!("export caught up: {caught_up}");

    // A consumer of the stream: every event of the node once, in order per log, signed.
    let urls = cluster.urls();
    let node_key = province.replica();
    let (count, replicas) = runtime.block_on(async move {
        use async_nats::jetstream;
        use prost::Message;
        use tokio_stream::StreamExt;
        let addresses: Vec<async_nats::ServerAddr> = urls.iter().map(|url| url.parse().expect("url")).collect();
        let client = async_nats::connect(addresses).await.expect("connect to NATS");
        let context = jetstream::new(client);
        let mut stream = context.get_stream("ROLLCALL_HB").await.expect("the stream exists");
        let info = stream.info().await.expect("info").clone();
        assert_eq!(info.config.num_replicas, 3);
        assert_eq!(info.state.messages, held, "the stream holds exactly the node's events");
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
            .await
            .expect("an ordered consumer");
        let mut messages = consumer.messages().await.expect("messages");
        let mut last_seq: std::collections::HashMap<Vec<u8>, u64> = std::collections::HashMap::new();
        let mut count = 0u64;
        while count < held {
            let message = tokio::time::timeout(Duration::from_secs(30), messages.next())
                .await
                .expect("the stream delivers in time")
                .expect("open")
                .expect("a message");
            let signed = rollcall_proto::v1::SignedEvent::decode(message.payload.clone()).expect("a SignedEvent");
            let signed = rollcall_core::codec::from_proto(signed).expect("decodes");
            let verified = rollcall_core::verify::verify(&signed).expect("signature and body hash verify");
            let header = verified.header();
            let id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).expect("a message id").to_string();
            assert_eq!(id, format!("{}:{}", header.replica.to_hex(), header.seq.0));
            let node = message.headers.as_ref().and_then(|h| h.get("Rollcall-Node")).expect("node").to_string();
            assert_eq!(node, node_key.to_hex());
            let previous = last_seq.insert(header.replica.0.to_vec(), header.seq.0).unwrap_or(0);
            assert_eq!(header.seq.0, previous + 1, "log {} in order, once", header.replica.short());
            assert!(message.subject.starts_with("rollcall.hb"), "{}", message.subject);
            count += 1;
        }
        (count, last_seq.len())
    });
    assert_eq!(count, held);
    assert!(replicas >= 1);
    assert!(province.process.take().expect("running").stop());
}
