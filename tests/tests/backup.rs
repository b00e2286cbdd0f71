//! Backup and restore (issue 7): `deploy/backup.sh` takes a checkpoint of a running
//! node; `deploy/restore.sh` restores it into a new directory; the restored node's
//! `rollcall verify` passes and its projections (rollup, tables 1-3, a rebuild) equal
//! the original's. A node backed up while stopped works the same way. A node restored
//! from a backup older than its log hears its later events back from its parent and
//! goes on after them, never signing a second event at a seq it used.

use std::path::Path;
use std::process::Command;

use std::time::Duration;

use rollcall_tests::{
    ClusterNode, NodeProcess, bin, init_node, rollcall, rollcall_json, start_child, start_root, wait_until,
};

fn script(name: &str, args: &[&Path]) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    Command::new("bash")
        .arg(root.join("deploy").join(name))
        .args(args)
        .env("ROLLCALL_BIN", bin("rollcall").parent().expect("bin dir"))
        .output()
        .expect("run script")
}

fn projections(dir: &Path) -> Vec<serde_json::Value> {
    let dir = dir.display().to_string();
    let mut all = vec![rollcall_json(&["rollup", "--dir", &dir])];
    for table in ["1", "2", "3"] {
        all.push(rollcall_json(&["table", table, "--dir", &dir]));
    }
    all
}

#[test]
fn a_restored_node_verifies_and_has_the_same_projections() {
    let base = tempfile::tempdir().expect("temp dir");
    let node = base.path().join("hb");
    init_node(&node, "hb", "province");
    let running = NodeProcess::start(&node);
    let node_dir = node.display().to_string();
    assert!(rollcall(&["campaign-open", "--node-dir", &node_dir, "--year", "2026"]).status.success());
    for (branch, seed) in [("hb/u1/c1/b1", "1"), ("hb/u1/c2/b1", "2")] {
        let output =
            rollcall(&["append-sample", "--node-dir", &node_dir, "--unit", branch, "--members", "40", "--seed", seed]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }

    let backup = base.path().join("backup-online");
    let output = script("backup.sh", &[&node, &backup]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("the node is running"));
    assert!(running.stop(), "the node stopped cleanly");

    let restored = base.path().join("restored");
    let output = script("restore.sh", &[&backup, &restored]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("taken while the node ran"),
        "a backup of a running node is restored with a warning: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let original = projections(&node);
    assert!(original[0]["total"]["metrics"]["members"].as_u64().unwrap_or(0) >= 70, "{}", original[0]);
    assert_eq!(projections(&restored), original, "the restored node derives the same projections");
    let rebuilt = rollcall_json(&["rebuild", "--dir", &restored.display().to_string()]);
    assert_eq!(rebuilt["changed"], false, "{rebuilt}");

    // The restored node runs, with the same identity.
    let again = NodeProcess::start(&restored);
    assert_eq!(again.replica.to_hex(), std::fs::read_to_string(node.join("replica.pub")).expect("pub").trim());
    assert!(again.stop());

    // A stopped node is backed up from its store directly; an existing target is refused.
    let offline = base.path().join("backup-offline");
    let output = script("backup.sh", &[&node, &offline]);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("the node is stopped"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success());
    let output = script("restore.sh", &[&offline, &restored]);
    assert_eq!(output.status.code(), Some(2), "restoring over an existing directory is refused");
    let output = script("restore.sh", &[&offline, &base.path().join("restored-offline")]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("WARNING"),
        "a backup of a stopped node is restored without the warning: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn append_sample(node: &ClusterNode, branch: &str, members: &str, seed: &str) {
    let output = rollcall(&[
        "append-sample",
        "--node-dir",
        &node.dir_arg(),
        "--unit",
        branch,
        "--members",
        members,
        "--seed",
        seed,
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Goal: a node restored from a backup older than its log does not sign a second event
/// at a seq it used (an equivocation its parent would quarantine it for): its parent
/// sends its later events back, and it goes on after them. Method: a university records
/// a branch's members and is backed up; it records more, which reach the province; it
/// is stopped, restored from the backup and started; once the province has sent its
/// later events back, it records again, and the province accepts the new events after
/// the old ones.
#[test]
fn a_restored_node_goes_on_after_its_own_later_events() {
    let base = tempfile::tempdir().expect("temp dir");
    let deadline = Duration::from_secs(60);
    let province = start_root(base.path(), "hb");
    let mut university = start_child(base.path(), &province, "hb/u1");
    let replica = university.replica().to_hex();
    let held = |node: &ClusterNode| node.heads().get(&replica).copied().unwrap_or(0);

    append_sample(&university, "hb/u1/c1/b1", "10", "1");
    let backup = base.path().join("backup");
    let output = script("backup.sh", &[&university.dir, &backup]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let backed_up = held(&university);
    append_sample(&university, "hb/u1/c1/b2", "10", "2");
    let signed = held(&university);
    assert!(signed > backed_up, "events after the backup: {backed_up} then {signed}");
    wait_until("the province holds the university's log", deadline, || held(&province) == signed);
    assert!(university.process.take().expect("runs").stop(), "the university stopped cleanly");

    let restored_dir = base.path().join("restored");
    let output = script("restore.sh", &[&backup, &restored_dir]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let restored =
        ClusterNode { unit: "hb/u1".into(), process: Some(NodeProcess::start(&restored_dir)), dir: restored_dir };
    wait_until("the province sends the university's later events back", deadline, || held(&restored) == signed);
    append_sample(&restored, "hb/u1/c1/b3", "5", "3");
    let after = held(&restored);
    assert!(after > signed, "the restored university records after its old head: {signed} then {after}");
    wait_until("the province accepts the restored university's new events", deadline, || held(&province) == after);
    let verified = rollcall(&["verify", "--dir", &restored.dir_arg()]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
}
