//! The export to NATS JetStream (`cargo build --release --bins && cargo bench -p
//! rollcall-tests --bench export`), side by side with a plain publisher.
//!
//! One `nats-server` with JetStream (file storage, one replica) on 127.0.0.1, from the
//! test venv (`deploy/setup-tests.sh`). A province node (real process, RocksDB on the real
//! disk) holds N sample events (default 200,000; `EXPORT_EVENTS=n`); `[export.nats]` is
//! then turned on and the node restarted. The figure is events per second from the
//! export's first connection to its durable cursor reaching N (every event acknowledged
//! by JetStream, the cursor synced), read from `rollcall status` every 20 ms.
//!
//! Baseline, in the same sitting: a plain `async-nats` publisher sending N messages of
//! the same average size to another stream with a `Nats-Msg-Id` each, 1,024
//! acknowledgements in flight (what the export allows), awaiting every acknowledgement.
//! `EXPORT_ROUNDS` (default 3) interleaved rounds; medians and the ratio.

use std::time::{Duration, Instant};

use rollcall_tests::nats::NatsCluster;
use rollcall_tests::{ClusterNode, NodeProcess, init_node, median, rollcall_json, wait_until};

/// Exports `events` events from a fresh node; returns (events/s, average payload bytes).
fn export_round(base: &std::path::Path, url: &str, round: usize, events: usize) -> (f64, f64) {
    let dir = base.join(format!("hb-{round}"));
    init_node(&dir, "hb", "province");
    let mut node = ClusterNode { unit: "hb".into(), dir: dir.clone(), process: Some(NodeProcess::start(&dir)) };
    let mut held = 0u64;
    let mut seed = 1;
    while held < events as u64 {
        let members = ((events as u64 - held) / 2).clamp(100, 20_000);
        let value = rollcall_json(&[
            "append-sample",
            "--node-dir",
            &node.dir_arg(),
            "--unit",
            &format!("hb/u1/c1/b{seed}"),
            "--members",
            &members.to_string(),
            "--seed",
            &seed.to_string(),
        ]);
        held += value["appended"].as_u64().expect("appended");
        seed += 1;
    }
    assert!(node.process.take().expect("running").stop());
    let stream = format!("BENCH_EXPORT_{round}");
    let mut config = std::fs::read_to_string(dir.join("rollcall.toml")).expect("config");
    config.push_str(&format!(
        "\n[export.nats]\nservers = [\"{url}\"]\nstream = \"{stream}\"\nsubject_prefix = \"bench{round}\"\n"
    ));
    std::fs::write(dir.join("rollcall.toml"), config).expect("write config");
    node.process = Some(NodeProcess::start(&dir));
    let status = || rollcall_json(&["status", "--node-dir", &node.dir_arg()])["exports"][0].clone();
    let mut first: Option<(Instant, u64)> = None;
    let mut last = Instant::now();
    wait_until("the export caught up", Duration::from_secs(600), || {
        let now = status();
        let cursor = now["cursor"].as_u64().unwrap_or(0);
        if first.is_none() && now["connected"] == true {
            first = Some((Instant::now(), cursor));
        }
        last = Instant::now();
        cursor == held
    });
    let (started, at_start) = first.expect("connected");
    let rate = (held - at_start) as f64 / last.duration_since(started).as_secs_f64();
    assert!(node.process.take().expect("running").stop());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let bytes = runtime.block_on(async {
        let client = async_nats::connect(url).await.expect("connect");
        let mut stream = async_nats::jetstream::new(client).get_stream(&stream).await.expect("stream");
        let info = stream.info().await.expect("info");
        info.state.bytes as f64 / info.state.messages.max(1) as f64
    });
    (rate, bytes)
}

/// A plain publisher: `events` messages of `bytes` bytes, each with a message id.
fn publisher_round(url: &str, round: usize, events: usize, bytes: usize) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        use async_nats::jetstream;
        let client = async_nats::connect(url).await.expect("connect");
        let context = jetstream::context::ContextBuilder::new().max_ack_inflight(1024).build(client);
        let name = format!("BENCH_PLAIN_{round}");
        context
            .get_or_create_stream(jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![format!("plain{round}.>")],
                duplicate_window: Duration::from_secs(600),
                ..Default::default()
            })
            .await
            .expect("stream");
        let payload = bytes::Bytes::from(vec![0x5a; bytes]);
        let started = Instant::now();
        let mut acks = Vec::with_capacity(1024);
        for index in 0..events {
            let message =
                jetstream::message::PublishMessage::build().payload(payload.clone()).message_id(format!("r:{index}"));
            acks.push(
                context.send_publish(format!("plain{round}.hb.u1.member_registered"), message).await.expect("publish"),
            );
            if acks.len() == 512 {
                for ack in acks.drain(..) {
                    ack.await.expect("ack");
                }
            }
        }
        for ack in acks {
            ack.await.expect("ack");
        }
        events as f64 / started.elapsed().as_secs_f64()
    })
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!(
            "export bench: run with `cargo build --release --bins && cargo bench -p rollcall-tests --bench export`"
        );
        return;
    }
    let events: usize = std::env::var("EXPORT_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let rounds: usize = std::env::var("EXPORT_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let base = tempfile::tempdir().expect("temp dir");
    let cluster = NatsCluster::start(base.path(), 1);
    let url = cluster.urls()[0].clone();
    let (mut exports, mut plains) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (export, bytes) = export_round(base.path(), &url, round, events);
        let plain = publisher_round(&url, round, events, bytes as usize);
        println!(
            "round {round}: rollcall export {export:.0} events/s; plain async-nats publisher {plain:.0} msgs/s ({bytes:.0} B each); ratio {:.2}",
            export / plain
        );
        exports.push(export);
        plains.push(plain);
    }
    let (export, plain) = (median(&mut exports), median(&mut plains));
    println!(
        "export: median of {rounds}: rollcall export {export:.0} events/s, plain publisher {plain:.0} msgs/s, ratio {:.2} ({events} events, JetStream R1 file storage, one nats-server on 127.0.0.1)",
        export / plain
    );
}
