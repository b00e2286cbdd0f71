//! The scale run (issue 7): a generated province synced up a real hierarchy on this
//! machine. A province node and `SCALE_UNIVERSITIES` university nodes (real processes,
//! TLS, RocksDB, enrolled through the real flow); each university records the
//! generated histories of its 20 colleges × 25 branches through its API (a university
//! may record about any unit below it), in parallel, while syncing up to the province.
//! Reports the append rate at the universities, the ingest rate at the province, the
//! time until the province's tables count every member, the province's memory
//! and disk. Then the province loses its store: it is restored from a backup taken
//! right after it enrolled the universities and opened the campaign (`deploy/backup.sh`,
//! `deploy/restore.sh`), and catches up from all the universities at once while it
//! recovers its own log (it signs nothing until every university has said what it holds
//! of it): the time until it holds every event, signs again and counts every member,
//! and its catch-up rate at province scale. Then its restart: stopped cleanly and started
//! again holding everything (its stop writes the projection snapshot, its start reads
//! it), the time to `listening` and to its first answer (issue 16, P6).
//!
//! `cargo build --release --bins && SCALE_MEMBERS=3000000 cargo bench -p rollcall-tests --bench scale`
//! (`SCALE_MEMBERS`, default 300,000; `SCALE_UNIVERSITIES`, default 4; `SCALE_WIPE=0` skips
//! the restore and catch-up; `SCALE_KEEP=1` keeps the node directories, stopped, for a
//! look at the stores).

use std::time::{Duration, Instant};

use rollcall_client::generate::{self, Scale};
use rollcall_tests::{deploy_script, env_or, resident_kib, rollcall_json, start_child, start_root};

fn held_at(node: &rollcall_tests::ClusterNode) -> u64 {
    node.heads().values().sum()
}

/// Waits until the province's rollup counts `total_members` (members and those
/// transferred out).
fn wait_counted(province: &rollcall_tests::ClusterNode, total_members: u64, deadline: Instant) {
    loop {
        let rollup = rollcall_json(&["rollup", "--node-dir", &province.dir_arg()]);
        let metrics = &rollup["total"]["metrics"];
        let counted = metrics["members"].as_u64().unwrap_or(0) + metrics["transferred_out"].as_u64().unwrap_or(0);
        if counted == total_members {
            return;
        }
        assert!(Instant::now() < deadline, "the province's tables never counted every member");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn du_bytes(path: &std::path::Path) -> u64 {
    walk(path)
}

fn walk(path: &std::path::Path) -> u64 {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            std::fs::read_dir(path).map_or(0, |entries| entries.filter_map(Result::ok).map(|e| walk(&e.path())).sum())
        }
        Ok(meta) => meta.len(),
        Err(_) => 0,
    }
}

fn main() {
    let members = env_or("SCALE_MEMBERS", 300_000);
    let universities = env_or("SCALE_UNIVERSITIES", 4);
    let per_branch = (members / (universities * 20 * 25)).max(1);
    let scale = Scale { universities, colleges: 20, branches: 25, members: per_branch, seed: 2026 };
    println!(
        "scale run: {} members ({universities} university nodes × 500 branches × {per_branch})",
        scale.total_members()
    );
    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let mut province = start_root(base.path(), "hb");
    let nodes: Vec<_> =
        (1..=universities).map(|u| start_child(base.path(), &province, &format!("hb/u{u:03}"))).collect();
    let opened = rollcall_json(&["campaign-open", "--node-dir", &province.dir_arg(), "--year", "2026"]);
    assert!(opened.get("event_id").is_some(), "{opened}");
    // The backup the province is restored from after the run: its enrollments and the
    // campaign, nothing of the universities' data. A restored province listens where
    // the universities look for it.
    let wipe = std::env::var("SCALE_WIPE").map_or(true, |value| value != "0");
    province.pin_address();
    let backup = base.path().join("hb-backup");
    if wipe {
        let output = deploy_script("backup.sh", &[&province.dir, &backup]);
        assert!(output.status.success(), "backup: {}", String::from_utf8_lossy(&output.stderr));
    }
    let backed_up = held_at(&province);

    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let appended: u64 = runtime.block_on(async {
        let mut tasks = Vec::new();
        for (index, node) in nodes.iter().enumerate() {
            let dir = node.dir.clone();
            let university = format!("hb/u{:03}", index + 1);
            tasks.push(tokio::spawn(async move {
                let target = rollcall_client::target::Target::from_node_dir(&dir).expect("target");
                let mut client = rollcall_client::NodeClient::new(target.connect().await.expect("connect"))
                    .max_decoding_message_size(rollcall_core::limits::MESSAGE_BYTES_MAX)
                    .max_encoding_message_size(rollcall_core::limits::MESSAGE_BYTES_MAX);
                let mut count = 0u64;
                for (unit, level) in generate::hierarchy(&Scale { universities: 1, ..scale }) {
                    if level != rollcall_core::Level::Branch {
                        continue;
                    }
                    // The generator's first university, renamed to this node's.
                    let branch = rollcall_core::UnitPath::parse(&unit.as_str().replacen("hb/u001", &university, 1))
                        .expect("unit");
                    let plan = generate::branch_plan(&branch, &scale, 2026);
                    for chunk in plan.drafts.chunks(rollcall_core::limits::DRAFTS_PER_APPEND_MAX) {
                        client.append(rollcall_client::append_request(chunk)).await.expect("append");
                        count += chunk.len() as u64;
                    }
                }
                count
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("task");
        }
        total
    });
    let append_seconds = started.elapsed().as_secs_f64();
    println!(
        "appended {appended} events at the universities in {append_seconds:.1} s = {:.0} events/s",
        appended as f64 / append_seconds
    );

    let expected: u64 = nodes.iter().map(|n| n.heads().get(&n.replica().to_hex()).copied().unwrap_or(0)).sum::<u64>()
        + province.heads().get(&province.replica().to_hex()).copied().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(6 * 3600);
    let mut peak_rss = 0;
    let pid = province.process.as_ref().map_or(0, |p| p.pid());
    while held_at(&province) < expected {
        assert!(Instant::now() < deadline, "the province did not catch up");
        peak_rss = peak_rss.max(resident_kib(pid));
        std::thread::sleep(Duration::from_millis(500));
    }
    let synced_seconds = started.elapsed().as_secs_f64();
    println!(
        "province holds every university's log {synced_seconds:.1} s after the start: ingest {:.0} events/s over the run",
        expected as f64 / synced_seconds
    );
    let total_members = scale.total_members() as u64;
    wait_counted(&province, total_members, deadline);
    let tables_seconds = started.elapsed().as_secs_f64();
    let table = rollcall_json(&["table", "2", "--node-dir", &province.dir_arg()]);
    assert_eq!(table["check_failures"], serde_json::json!([]), "table 2 checks at the province");
    peak_rss = peak_rss.max(resident_kib(pid));
    println!("province tables 1-3 count all {total_members} members {tables_seconds:.1} s after the start");
    println!(
        "province memory (peak resident) {:.0} MiB; province store on disk {:.0} MiB ({:.0} bytes/member)",
        peak_rss as f64 / 1024.0,
        du_bytes(&province.dir.join("store")) as f64 / 1_048_576.0,
        du_bytes(&province.dir.join("store")) as f64 / total_members as f64
    );

    if wipe {
        // The province's store is lost: restored from the backup of its enrollments, it
        // catches up from every university at once, signing nothing until each has said
        // what it holds of the province's own log.
        let process = province.process.take().expect("the province runs");
        assert!(process.stop(), "the province stopped cleanly");
        let restored = base.path().join("hb-restored");
        let output = deploy_script("restore.sh", &[&backup, &restored]);
        assert!(output.status.success(), "restore: {}", String::from_utf8_lossy(&output.stderr));
        province.dir = restored;
        let restoring = Instant::now();
        province.process = Some(rollcall_tests::NodeProcess::start_within(&province.dir, Duration::from_secs(3600)));
        let pid = province.process.as_ref().map_or(0, |p| p.pid());
        let mut peak_rss = 0;
        let (mut recovered_seconds, mut held_seconds) = (None, None);
        while recovered_seconds.is_none() || held_seconds.is_none() {
            assert!(Instant::now() < deadline, "the restored province did not catch up");
            peak_rss = peak_rss.max(resident_kib(pid));
            if held_seconds.is_none() && held_at(&province) >= expected {
                held_seconds = Some(restoring.elapsed().as_secs_f64());
            }
            if recovered_seconds.is_none()
                && rollcall_json(&["status", "--node-dir", &province.dir_arg()])["recovery"].is_null()
            {
                recovered_seconds = Some(restoring.elapsed().as_secs_f64());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        wait_counted(&province, total_members, deadline);
        let counted_seconds = restoring.elapsed().as_secs_f64();
        let held_seconds = held_seconds.expect("held");
        println!(
            "province restored from its backup of {backed_up} events and caught up from {universities} universities at once: {} events in {held_seconds:.1} s = {:.0} events/s (process start to holding every event); signing again (recovered) {:.1} s, tables count all {total_members} members {counted_seconds:.1} s after the start; peak resident {:.0} MiB",
            expected - backed_up,
            (expected - backed_up) as f64 / held_seconds,
            recovered_seconds.expect("recovered"),
            peak_rss as f64 / 1024.0
        );
    }

    // Restart (P6): the province stopped cleanly and started again, holding everything:
    // the time from process start to `listening`, then to its first answer.
    // The stop writes the projection snapshot the start then reads.
    let process = province.process.take().expect("the province runs");
    let stopping = Instant::now();
    assert!(process.stop(), "the province stopped cleanly");
    println!(
        "province stop: {:.1} s, projection snapshot written: {:.0} MiB",
        stopping.elapsed().as_secs_f64(),
        std::fs::metadata(province.dir.join("store.projection-snapshot")).map_or(0, |m| m.len()) as f64 / 1_048_576.0
    );
    let restarting = Instant::now();
    province.process = Some(rollcall_tests::NodeProcess::start_within(&province.dir, Duration::from_secs(3600)));
    let listening = restarting.elapsed().as_secs_f64();
    let asked = Instant::now();
    let rollup = rollcall_json(&["rollup", "--node-dir", &province.dir_arg()]);
    let answered = asked.elapsed().as_secs_f64();
    let metrics = &rollup["total"]["metrics"];
    let counted = metrics["members"].as_u64().unwrap_or(0) + metrics["transferred_out"].as_u64().unwrap_or(0);
    assert_eq!(counted, total_members, "the restarted province counts every member");
    let resident = resident_kib(province.process.as_ref().map_or(0, |p| p.pid()));
    println!(
        "province restart: listening {listening:.1} s after the process started, first rollup answered {:.0} ms later; resident {:.0} MiB after the restart",
        answered * 1000.0,
        resident as f64 / 1024.0
    );
    if std::env::var_os("SCALE_KEEP").is_some() {
        if let Some(process) = province.process.take() {
            assert!(process.stop(), "the province stops cleanly");
        }
        drop(province);
        drop(nodes);
        println!("kept: {}", base.keep().display());
    }
}
