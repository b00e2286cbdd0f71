//! Backup and restore (issue 7): `deploy/backup.sh` takes a checkpoint of a running
//! node; `deploy/restore.sh` restores it into a new directory; the restored node's
//! `rollcall verify` passes and its projections (rollup, tables 1-3, a rebuild) equal
//! the original's. A node backed up while stopped works the same way.

use std::path::Path;
use std::process::Command;

use rollcall_tests::{NodeProcess, bin, init_node, rollcall, rollcall_json};

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
}
