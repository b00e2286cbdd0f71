//! Catch-up benchmark (`cargo bench -p rollcall-tests --bench catchup`).
//!
//! A province node (real process, TLS, RocksDB on the real disk) holds N events about a
//! university (default 1,000,000; `CATCHUP_EVENTS=n` to change); a new, empty university
//! node is enrolled through the real flow and started; the figure is the time from its
//! start until it holds all N events, each signature verified and every batch durable.
//! Ed25519 verification (single and `verify_batch` of 256) is measured in the same run.

use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey, Verifier};
use rollcall_client::sample::member_drafts;
use rollcall_core::UnitPath;
use rollcall_proto::v1 as pb;
use rollcall_server::config::{OPERATOR_KEY_FILE, read_key};
use rollcall_server::connect;
use rollcall_tests::{start_child, start_root};

fn verify_rates() -> (f64, f64) {
    let key = SigningKey::from_bytes(&[5; 32]);
    let messages: Vec<Vec<u8>> = (0..4096u32).map(|i| [i.to_be_bytes().as_slice(), &[0x5a; 176]].concat()).collect();
    let signatures: Vec<_> = messages.iter().map(|m| key.sign(m)).collect();
    let public = key.verifying_key();
    let start = Instant::now();
    for (message, signature) in messages.iter().zip(&signatures) {
        public.verify(message, signature).expect("valid");
    }
    let single = messages.len() as f64 / start.elapsed().as_secs_f64();
    let keys = vec![public; 256];
    let start = Instant::now();
    for (chunk, sigs) in messages.chunks(256).zip(signatures.chunks(256)) {
        let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        ed25519_dalek::verify_batch(&refs, sigs, &keys).expect("valid batch");
    }
    let batch = messages.len() as f64 / start.elapsed().as_secs_f64();
    (single, batch)
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("catchup bench: run with `cargo bench -p rollcall-tests --bench catchup`");
        return;
    }
    let n_events: usize = std::env::var("CATCHUP_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let (single, batch) = verify_rates();
    println!("ed25519 verify, 1 core: {single:.0}/s single, {batch:.0}/s in batches of 256");

    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let province = start_root(base.path(), "hb");
    let address = province.process.as_ref().expect("running").address.clone();
    let operator = read_key(&province.dir.join(OPERATOR_KEY_FILE)).expect("operator key");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let unit = UnitPath::parse("hb/u1/c1/b1").expect("valid");
    let generation = Instant::now();
    runtime.block_on(async {
        let channel = connect::connect(&address, province.replica(), &operator).await.expect("connect");
        let mut client = pb::node_client::NodeClient::new(channel);
        let mut appended = 0;
        let mut seed = 0;
        while appended < n_events {
            seed += 1;
            let drafts = member_drafts(&unit, 400, seed, "bench");
            for chunk in drafts.chunks(1000) {
                let take = chunk.len().min(n_events - appended);
                let request = pb::AppendRequest {
                    drafts: chunk[..take]
                        .iter()
                        .map(|d| pb::EventDraft {
                            unit_path: d.unit_path.to_string(),
                            kind: d.kind as i32,
                            body: d.body.clone(),
                            author: d.author.clone(),
                        })
                        .collect(),
                };
                client.append(request).await.expect("append");
                appended += take;
                if appended >= n_events {
                    break;
                }
            }
        }
    });
    println!("generated {n_events} events at the province in {:.1} s", generation.elapsed().as_secs_f64());
    let province_head = province.heads()[&province.replica().to_hex()];

    let start = Instant::now();
    let university = start_child(base.path(), &province, "hb/u1");
    let university_operator = read_key(&university.dir.join(OPERATOR_KEY_FILE)).expect("operator key");
    let university_address = university.process.as_ref().expect("running").address.clone();
    let province_key = province.replica();
    // The enrollment appended one more event at the province.
    let target = province_head + 1;
    let held = runtime.block_on(async {
        let channel =
            connect::connect(&university_address, university.replica(), &university_operator).await.expect("connect");
        let mut client = pb::node_client::NodeClient::new(channel);
        loop {
            let heads = client.heads(pb::HeadsRequest {}).await.expect("heads").into_inner().heads;
            let held = heads.iter().find(|h| h.replica.as_ref() == province_key.0).map_or(0, |h| h.seq);
            if held >= target {
                return held;
            }
            assert!(start.elapsed() < Duration::from_secs(3600), "catch-up did not finish within an hour");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let rate = held as f64 / seconds;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!(
        "catch-up of {held} events from an empty replica over TLS loopback: {seconds:.2} s, {rate:.0} events/s (includes the node's start)"
    );
    println!("ratio to batch verification x {cores} cores: {:.2}", rate / (batch * cores));
    println!("ratio to single verification x {cores} cores: {:.2}", rate / (single * cores));
}
