//! A parent stops cleanly while its children are still connected: their sync sessions
//! (streams the children never hang up) must not hold its graceful shutdown, and the
//! children reconnect by themselves once it is back, losing nothing.
//! Run with `cargo test -p rollcall-tests --test shutdown` (after `cargo build --bins`).

use std::time::Duration;

use rollcall_tests::{NodeProcess, rollcall, start_child, start_root, wait_until};

const CONVERGE_DEADLINE: Duration = Duration::from_secs(60);
/// Much shorter than the harness's stop deadline: a clean stop takes well under a second.
const QUICK_STOP: Duration = Duration::from_secs(10);

/// Goal: a node with live child sessions stops cleanly and promptly, and sync resumes
/// when it restarts. Method: province ← university ← college, all live; the university
/// (parent of the college, child of the province) gets SIGTERM; it must exit with
/// success within 10 s; the college then appends while its parent is down; the
/// university restarts, and the college's event reaches the province.
#[test]
fn a_parent_with_live_children_stops_cleanly_and_sync_resumes() {
    let base = tempfile::tempdir().expect("temp dir");
    let province = start_root(base.path(), "hb");
    let mut university = start_child(base.path(), &province, "hb/u1");
    let college = start_child(base.path(), &university, "hb/u1/c1");
    let college_replica = college.replica().to_hex();
    let university_replica = university.replica().to_hex();
    let university_head = university.heads()[&university_replica];
    wait_until("the university's log (the college's enrollment) to reach the province", CONVERGE_DEADLINE, || {
        province.heads().get(&university_replica).copied().unwrap_or(0) >= university_head
    });
    wait_until("the college's session with the university", CONVERGE_DEADLINE, || {
        let status = rollcall_tests::rollcall_json(&["status", "--node-dir", &university.dir_arg()]);
        status["edges"]
            .as_array()
            .is_some_and(|edges| edges.iter().any(|edge| edge["unit"] == "hb/u1/c1" && edge["connected"] == true))
    });

    let process = university.process.take().expect("running");
    // The restarted university must listen where the college looks for it.
    let config_path = university.dir.join(rollcall_server::config::CONFIG_FILE);
    let config = std::fs::read_to_string(&config_path).expect("config");
    assert!(config.contains("address = \"127.0.0.1:0\""), "{config}");
    std::fs::write(&config_path, config.replace("127.0.0.1:0", &process.address)).expect("config");
    let started = std::time::Instant::now();
    assert!(process.stop(), "the university exits cleanly with its child's session open");
    assert!(started.elapsed() < QUICK_STOP, "the university took {:?} to stop", started.elapsed());

    let appended = rollcall(&[
        "append-sample",
        "--node-dir",
        &college.dir_arg(),
        "--unit",
        "hb/u1/c1/b9",
        "--members",
        "3",
        "--seed",
        "5",
    ]);
    assert!(appended.status.success(), "{}", String::from_utf8_lossy(&appended.stderr));
    let college_head = college.heads()[&college_replica];

    university.process = Some(NodeProcess::start(&university.dir));
    wait_until("the college's new events to reach the province", CONVERGE_DEADLINE, || {
        province.heads().get(&college_replica).copied().unwrap_or(0) >= college_head
    });

    for node in [college, university, province] {
        if let Some(process) = node.process {
            assert!(process.stop(), "{} stopped cleanly", node.unit);
        }
    }
}
