//! Crash test with the real binary: append continuously from several clients, `kill -9`
//! the node at random moments (after a random number of acknowledged events), restart,
//! and repeat 20 times. Then `rollcall verify` must pass and every acknowledged event
//! must be present with the id that was acknowledged.
//!
//! The seed is printed; `CRASH_SEED=<n>` replays a schedule.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rollcall_client::NodeClient;
use rollcall_client::sample::{SampleRng, member_drafts};
use rollcall_core::{Seq, UnitPath};
use rollcall_server::config::{OPERATOR_KEY_FILE, STORE_DIR, read_key};
use rollcall_server::connect;
use rollcall_server::store::Store;
use rollcall_tests::{NodeProcess, bin, init_node};
use tokio::sync::watch;

/// Kills per run; `CRASH_ROUNDS=100` for the long run recorded in BENCHMARKS.md.
const ROUNDS: usize = 20;
const APPENDERS: usize = 4;
const ACK_DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_event() {
    let seed: u64 = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261127);
    eprintln!("crash test seed {seed} (replay with CRASH_SEED={seed})");
    let mut rng = SampleRng::new(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    init_node(dir.path(), "hb", "province");
    let operator = read_key(&dir.path().join(OPERATOR_KEY_FILE)).expect("operator key");
    let branch = UnitPath::parse("hb/whu/cs/b01").expect("valid");
    // Members are registered once (the audit rules refuse a second registration); the
    // appenders then record checks and contact attempts about them, which may repeat.
    let (registrations, drafts): (Vec<_>, Vec<_>) = member_drafts(&branch, 400, seed, "crash-test")
        .into_iter()
        .partition(|draft| draft.kind == rollcall_core::EventKind::MemberRegistered);
    let mut registrations = Some(registrations);
    let acked: Arc<Mutex<Vec<(u64, Vec<u8>)>>> = Arc::default();
    let mut replica = None;

    let rounds: usize = std::env::var("CRASH_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(ROUNDS);
    eprintln!("{rounds} kills (CRASH_ROUNDS overrides)");
    for round in 0..rounds {
        let node = NodeProcess::start(dir.path());
        replica = Some(node.replica);
        let channel = connect::connect(&node.address, node.replica, &operator).await.expect("connect");
        if let Some(registrations) = registrations.take() {
            let response = NodeClient::new(channel.clone())
                .append(rollcall_client::append_request(&registrations))
                .await
                .expect("registrations appended");
            let mut acked = acked.lock().expect("lock");
            for event in response.into_inner().events {
                acked.push((event.seq, event.event_id.to_vec()));
            }
        }
        let (count_sender, mut count_receiver) = watch::channel(acked.lock().expect("lock").len());
        let count_sender = Arc::new(count_sender);
        let mut appenders = Vec::new();
        for appender in 0..APPENDERS {
            let mut client = NodeClient::new(channel.clone());
            let acked = acked.clone();
            let count_sender = count_sender.clone();
            let drafts = drafts.clone();
            let mut rng = SampleRng::new(seed ^ ((round * APPENDERS + appender) as u64 + 1));
            appenders.push(tokio::spawn(async move {
                loop {
                    let n = 1 + rng.below(8) as usize;
                    let start = rng.below((drafts.len() - n) as u64) as usize;
                    let request = rollcall_client::append_request(&drafts[start..start + n]);
                    let Ok(response) = client.append(request).await else { return };
                    let mut acked = acked.lock().expect("lock");
                    for event in response.into_inner().events {
                        acked.push((event.seq, event.event_id.to_vec()));
                    }
                    count_sender.send_replace(acked.len());
                }
            }));
        }
        let before = *count_receiver.borrow();
        let target = before + 20 + rng.below(300) as usize;
        tokio::time::timeout(ACK_DEADLINE, count_receiver.wait_for(|n| *n >= target))
            .await
            .expect("appends are acknowledged before the deadline")
            .expect("counter alive");
        node.kill_9();
        for appender in appenders {
            let _ = appender.await;
        }
        eprintln!("round {round}: {} events acknowledged so far", acked.lock().expect("lock").len());
    }

    let output = std::process::Command::new(bin("rollcall"))
        .args(["verify", "--json", "--dir"])
        .arg(dir.path())
        .output()
        .expect("running rollcall verify");
    assert!(
        output.status.success(),
        "rollcall verify failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("verify prints JSON");
    let acked = acked.lock().expect("lock");
    let stored_events = report["events"].as_u64().expect("event count");
    assert!(stored_events >= acked.len() as u64, "{stored_events} stored < {} acknowledged", acked.len());

    let store = Store::open_read_only(&dir.path().join(STORE_DIR)).expect("open store");
    let replica = replica.expect("at least one round ran");
    let mut seqs: Vec<u64> = acked.iter().map(|(seq, _)| *seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), acked.len(), "no seq was acknowledged twice");
    for (seq, event_id) in acked.iter() {
        let event =
            store.get(replica, Seq(*seq)).expect("read").unwrap_or_else(|| panic!("acknowledged seq {seq} is missing"));
        assert_eq!(event.header().event_id.0.as_slice(), event_id.as_slice(), "seq {seq} holds another event");
    }
    eprintln!("{} acknowledged events all present among {stored_events} stored", acked.len());
}
