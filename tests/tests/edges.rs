//! The smaller edges of issue 12, each with the real binaries: a node pointed at another
//! node's store refuses with exit 2 and leaves that store byte for byte as it was; a
//! configuration error names the line and the key; a node directory is its owner's only;
//! a key that is not an operator is told so.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rollcall_tests::{NodeProcess, bin, init_node, rollcall};

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            files.insert(entry.file_name().to_string_lossy().to_string(), std::fs::read(entry.path()).expect("read"));
        }
    }
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

#[test]
fn a_node_pointed_at_another_nodes_store_touches_nothing_and_exits_2() {
    let base = tempfile::tempdir().expect("temp dir");
    let first = base.path().join("first");
    let second = base.path().join("second");
    init_node(&first, "hb", "province");
    init_node(&second, "hb", "province");
    let node = NodeProcess::start(&first);
    assert!(node.stop(), "the first node stops cleanly");
    // Someone restores the first node's store into the second node's directory.
    copy_dir(&first.join("store"), &second.join("store"));
    let before = snapshot(&second.join("store"));
    let output = Command::new(bin("rollcall-node")).args(["run", "--dir"]).arg(&second).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "a usage error: {stderr}");
    assert!(stderr.contains("store"), "the message names the store: {stderr}");
    assert_eq!(snapshot(&second.join("store")), before, "not a byte of the other node's store was written");
}

#[test]
fn a_configuration_error_names_the_line_and_the_key() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("node");
    init_node(&dir, "hb", "province");
    let path = dir.join("rollcall.toml");
    let text = std::fs::read_to_string(&path).expect("read config");
    let broken = text.replace("level = \"province\"", "level = 3");
    assert_ne!(text, broken, "the generated configuration sets the level");
    std::fs::write(&path, &broken).expect("write");
    let output = Command::new(bin("rollcall-node")).args(["run", "--dir"]).arg(&dir).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let line = broken.lines().position(|line| line.starts_with("level = 3")).expect("the line") + 1;
    assert!(stderr.contains(&format!("line {line}")), "names the line: {stderr}");
    assert!(stderr.contains("level = 3"), "shows the key: {stderr}");

    std::fs::write(&path, text.replace("[node]", "[node")).expect("write");
    let output = Command::new(bin("rollcall-node")).args(["run", "--dir"]).arg(&dir).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line"), "a syntax error names its line: {stderr}");
}

#[cfg(unix)]
#[test]
fn node_and_laptop_directories_are_their_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let base = tempfile::tempdir().expect("temp dir");
    let node = base.path().join("node");
    init_node(&node, "hb", "province");
    let laptop = base.path().join("laptop");
    let output = rollcall(&["init", "--dir", laptop.to_str().expect("path"), "--unit", "hb/u1/c1/b1"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for dir in [&node, &laptop] {
        let mode = std::fs::metadata(dir).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is mode {mode:o}", dir.display());
    }
}

#[test]
fn a_key_that_is_not_an_operator_is_told_so() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("hb");
    init_node(&dir, "hb", "province");
    let node = NodeProcess::start(&dir);
    // A key the node does not know at all: the node says why, and the CLI shows it.
    let stranger = base.path().join("stranger.key");
    std::fs::write(&stranger, format!("{}\n", "11".repeat(32))).expect("write key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stranger, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let output = rollcall(&[
        "rollup",
        "--node",
        &node.address,
        "--node-key",
        &node.replica.to_hex(),
        "--key",
        stranger.to_str().expect("path"),
        "--lang",
        "en",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("is neither an operator of this node (hb) nor enrolled in its province"), "{stderr}");
}

/// `rollcall verify` reports an event of the node's own scope held without its body
/// (what a stub accepted in scope would have left behind), and accepts the same store
/// once the event is held in full.
#[test]
fn verify_reports_a_body_lost_in_scope() {
    use rollcall_core::body::Body;
    use rollcall_core::log::{Draft, Head, LocalWriter};
    use rollcall_core::{EventId, EventKind, HlcTime, UnitPath, proto};
    use rollcall_server::config::{REPLICA_KEY_FILE, read_key};
    use rollcall_server::store::Store;

    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("hb");
    init_node(&dir, "hb", "province");
    let key = read_key(&dir.join(REPLICA_KEY_FILE)).expect("key");
    let replica = rollcall_server::config::replica_of(&key);
    let body = Body::ConductNoted(proto::ConductNoted {
        member_id: "m1".into(),
        summary: "表现良好".into(),
        violation_reported: false,
    });
    let draft = Draft {
        unit_path: UnitPath::parse("hb/u1/c1/b1").expect("valid"),
        kind: EventKind::ConductNoted,
        body: body.encode(),
        author: "t".into(),
    };
    let mut writer = LocalWriter::new(replica, Head::EMPTY, HlcTime::default());
    let event = writer.prepare(1_000, EventId([1; 16]), draft).expect("valid").sign(&key);
    let verify = || rollcall(&["verify", "--dir", dir.to_str().expect("path"), "--lang", "en"]);
    {
        let store = Store::open(&dir.join("store")).expect("store");
        store.claim_local_replica(replica).expect("claim");
        store.write_events(&[event.to_stub()], 1).expect("write the stub");
    }
    let output = verify();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("held without its body"), "{stderr}");
    {
        let store = Store::open(&dir.join("store")).expect("store");
        store.write_events(&[event], 1).expect("write the event in full");
    }
    let output = verify();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Goal (issue 14): rollcall-node speaks Chinese by default and English when asked, and
/// says the next step.
#[test]
fn the_node_speaks_chinese_by_default() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("whu");
    let output = Command::new(bin("rollcall-node"))
        .args(["init", "--unit", "hb/whu", "--level", "university", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&dir)
        .output()
        .expect("init");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("已初始化")
            && text.contains("（高校）")
            && text.contains("下一步：把本节点公钥交给上级节点的操作员登记"),
        "{text}"
    );
    let missing = base.path().join("missing");
    let output = Command::new(bin("rollcall-node")).args(["run", "--dir"]).arg(&missing).output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("无法读取"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output =
        Command::new(bin("rollcall-node")).args(["--lang", "en", "run", "--dir"]).arg(&missing).output().expect("run");
    assert!(String::from_utf8_lossy(&output.stderr).contains("reading"), "{}", String::from_utf8_lossy(&output.stderr));
}
