//! A node's restart (issue 16, P6): `cargo build --release --bins && cargo bench -p
//! rollcall-tests --bench restart` (`RESTART_MEMBERS`, default 200,000 sample members
//! at the province, about 2.25 events each; `RESTART_ROUNDS`, default 3).
//!
//! A province node (real process, RocksDB on the real disk) is filled with sample
//! events, then restarted in interleaved rounds two ways: **from the log** (its
//! projection snapshot deleted first: what every start cost before snapshots) and
//! **from the snapshot** its last clean stop wrote. Each figure is the time from process
//! start to its `listening` line; the stop is timed too (it writes the snapshot), and
//! the resident memory after the start and the snapshot's size are reported. Medians,
//! and the ratio of the two. `RESTART_KEEP=1` keeps the node directory (for profiling).

use std::time::Instant;

use rollcall_tests::{ClusterNode, NodeProcess, env_or, init_node, median, resident_kib, rollcall_json};

/// Starts the node, returns (seconds to `listening`, resident MiB, seconds to stop).
fn restart(node: &ClusterNode) -> (f64, f64, f64) {
    let started = Instant::now();
    let process = NodeProcess::start_within(&node.dir, std::time::Duration::from_secs(3600));
    let listening = started.elapsed().as_secs_f64();
    let resident = resident_kib(process.pid()) as f64 / 1024.0;
    let members = rollcall_json(&["rollup", "--node-dir", &node.dir_arg()])["total"]["metrics"]["members"].clone();
    assert!(members.as_u64().unwrap_or(0) > 0, "the restarted node answers: {members}");
    let stopping = Instant::now();
    assert!(process.stop(), "the node stops cleanly");
    (listening, resident, stopping.elapsed().as_secs_f64())
}

fn main() {
    let members = env_or("RESTART_MEMBERS", 200_000);
    let rounds = env_or("RESTART_ROUNDS", 3);
    let base =
        tempfile::Builder::new().prefix("rollcall-restart-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("dir");
    let dir = base.path().join("hb");
    init_node(&dir, "hb", "province");
    let node = ClusterNode { unit: "hb".into(), dir: dir.clone(), process: None };
    let filling = Instant::now();
    let serving = NodeProcess::start(&dir);
    let (mut added, mut branch) = (0, 0);
    while added < members {
        branch += 1;
        let count = (members - added).min(20_000);
        rollcall_json(&[
            "append-sample",
            "--node-dir",
            &node.dir_arg(),
            "--unit",
            &format!("hb/u{}/c1/b{branch}", branch % 11 + 1),
            "--members",
            &count.to_string(),
            "--seed",
            &branch.to_string(),
        ]);
        added += count;
    }
    assert!(serving.stop(), "the node stops cleanly");
    let heads = rollcall_json(&["heads", "--dir", &node.dir_arg()]);
    let events: u64 = heads.as_array().expect("heads").iter().map(|head| head["seq"].as_u64().unwrap_or(0)).sum();
    println!("filled: {members} members, {events} events in {:.0} s", filling.elapsed().as_secs_f64());
    let snapshot = dir.join("store.projection-snapshot");

    let (mut from_log, mut from_snapshot, mut stops) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        std::fs::remove_file(&snapshot).ok();
        let (log_start, log_rss, stop) = restart(&node);
        stops.push(stop);
        let bytes = std::fs::metadata(&snapshot).map(|m| m.len()).unwrap_or(0);
        let (snap_start, snap_rss, unchanged_stop) = restart(&node);
        println!(
            "round {round}: from the log {log_start:.2} s ({log_rss:.0} MiB), from the snapshot {snap_start:.2} s ({snap_rss:.0} MiB); snapshot {:.1} MiB ({:.0} bytes/member); stop writing it {stop:.2} s, stop with it current {unchanged_stop:.2} s",
            bytes as f64 / 1_048_576.0,
            bytes as f64 / members as f64,
        );
        from_log.push(log_start);
        from_snapshot.push(snap_start);
    }
    if std::env::var_os("RESTART_KEEP").is_some() {
        println!("kept: {}", base.keep().display());
    }
    let (log, snap) = (median(&mut from_log), median(&mut from_snapshot));
    println!(
        "median of {rounds}: from the log {log:.2} s, from the snapshot {snap:.2} s (ratio {:.1}x); stop with snapshot written {:.2} s",
        log / snap,
        median(&mut stops)
    );
}
