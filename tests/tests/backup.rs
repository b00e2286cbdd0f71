//! Backup and restore (issue 7): `deploy/backup.sh` takes a checkpoint of a running
//! node; `deploy/restore.sh` restores it into a new directory; the restored node's
//! `rollcall verify` passes and its projections (rollup, tables 1-3, a rebuild) equal
//! the original's. A node backed up while stopped works the same way. A node restored
//! from a backup older than its log recovers it before it signs anything: it hears its
//! later events back from its parent or its children and goes on after them, never
//! signing a second event at a seq it used. That holds for the province too, whose
//! universities each hold some of its events only as stubs.

use std::path::Path;
use std::process::Command;

use std::time::Duration;

use rollcall_tests::{
    ClusterNode, NodeProcess, bin, init_node, rollcall, rollcall_json, start_child, start_root, wait_until,
};

fn script(name: &str, args: &[&Path]) -> std::process::Output {
    rollcall_tests::deploy_script(name, args)
}

/// Runs a deploy script that must succeed (its stderr shown if it does not).
fn script_ok(name: &str, args: &[&Path]) -> std::process::Output {
    let output = script(name, args);
    assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
    output
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
    let output = script_ok("backup.sh", &[&node, &backup]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("the node is running"));
    assert!(running.stop(), "the node stopped cleanly");

    let restored = base.path().join("restored");
    let output = script_ok("restore.sh", &[&backup, &restored]);
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
    let output = script_ok("restore.sh", &[&offline, &base.path().join("restored-offline")]);
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("WARNING"),
        "a backup of a stopped node is restored without the warning: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Names `unit` through `node` (a 党委, type 611): an event of `node`'s own log.
fn name_unit(node: &ClusterNode, unit: &str, name: &str) {
    let named =
        rollcall(&["unit", "name", "--node-dir", &node.dir_arg(), "--unit", unit, "--name", name, "--org-type", "611"]);
    assert!(named.status.success(), "{}", String::from_utf8_lossy(&named.stderr));
}

/// Whom a node waits for while it recovers its own log (`null`: not recovering).
fn recovery(node: &ClusterNode) -> serde_json::Value {
    rollcall_json(&["status", "--node-dir", &node.dir_arg()])["recovery"].clone()
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
    script_ok("backup.sh", &[&university.dir, &backup]);
    let backed_up = held(&university);
    append_sample(&university, "hb/u1/c1/b2", "10", "2");
    let signed = held(&university);
    assert!(signed > backed_up, "events after the backup: {backed_up} then {signed}");
    wait_until("the province holds the university's log", deadline, || held(&province) == signed);
    assert!(university.process.take().expect("runs").stop(), "the university stopped cleanly");

    let restored_dir = base.path().join("restored");
    script_ok("restore.sh", &[&backup, &restored_dir]);
    let restored =
        ClusterNode { unit: "hb/u1".into(), process: Some(NodeProcess::start(&restored_dir)), dir: restored_dir };
    wait_until("the province sends the university's later events back", deadline, || held(&restored) == signed);
    wait_until("the restored university ends its recovery", deadline, || recovery(&restored).is_null());
    assert!(!restored.dir.join("recovering").exists(), "the marker is gone once recovered");
    append_sample(&restored, "hb/u1/c1/b3", "5", "3");
    let after = held(&restored);
    assert!(after > signed, "the restored university records after its old head: {signed} then {after}");
    wait_until("the province accepts the restored university's new events", deadline, || held(&province) == after);
    let verified = rollcall(&["verify", "--dir", &restored.dir_arg()]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
}

/// Goal: a province restored from a backup older than its log gets its log back from
/// its universities before it signs anything, though neither university holds all of
/// it in full (each holds the province's verdicts on the other's tables as stubs), and
/// then goes on after it: no university ever sees two events at one seq of the
/// province's log. Method: a province and two universities; the province is backed up
/// while it runs; each university records members and submits tables 1-3, which the
/// province verifies (its verdicts are filed at the university: stubs at the other);
/// the province stops and is restored from the backup. With one university stopped it
/// stays recovering: it refuses to record and says whom it waits for. Once the second
/// university is back, it holds its old log again, in full, and signs again after it;
/// both universities accept what it signs next.
#[test]
fn a_restored_province_recovers_its_log_from_its_universities_before_it_signs() {
    let base = tempfile::tempdir().expect("temp dir");
    let deadline = Duration::from_secs(60);
    let mut province = start_root(base.path(), "hb");
    // The restored province must listen where its universities look for it.
    province.pin_address();
    let u1 = start_child(base.path(), &province, "hb/u1");
    let mut u2 = start_child(base.path(), &province, "hb/u2");
    let province_replica = province.replica().to_hex();
    let held = |node: &ClusterNode| node.heads().get(&province_replica).copied().unwrap_or(0);
    let today = rollcall_core::audit::dates::cst_day(rollcall_server::writer::now_ms());
    let year = (today.format("%Y").to_string().parse::<i32>().expect("a year") + 1).to_string();
    let opened = rollcall(&["campaign-open", "--node-dir", &province.dir_arg(), "--year", &year]);
    assert!(opened.status.success(), "{}", String::from_utf8_lossy(&opened.stderr));

    let backup = base.path().join("backup");
    script_ok("backup.sh", &[&province.dir, &backup]);
    let backed_up = held(&province);

    let verified = |node: &ClusterNode| {
        rollcall_json(&["report", "list", "--node-dir", &node.dir_arg()])
            .as_array()
            .expect("array")
            .iter()
            .filter(|report| report["state"] == "verified")
            .count()
    };
    // The second university's verdicts first: the first university then holds the
    // province's log as stubs from the first event after the backup, and can send
    // nothing of it in full until the second has sent those.
    for (university, branch, seed, verdicts) in [(&u2, "hb/u2/c1/b1", "2", 3), (&u1, "hb/u1/c1/b1", "1", 6)] {
        append_sample(university, branch, "8", seed);
        let submitted = rollcall(&["report", "submit", "--node-dir", &university.dir_arg(), "--table", "all"]);
        assert!(submitted.status.success(), "{}", String::from_utf8_lossy(&submitted.stderr));
        wait_until("the province verifies the university's tables", deadline, || verified(&province) == verdicts);
    }
    wait_until("each university holds the province's whole log", deadline, || {
        let signed = held(&province);
        held(&u1) == signed && held(&u2) == signed
    });
    assert!(province.process.take().expect("runs").stop(), "the province stopped cleanly");
    // What each university holds of the province's log now that it is stopped (a last
    // receipt may have reached one and not the other).
    let (at_u1, at_u2) = (held(&u1), held(&u2));
    let signed = at_u1.max(at_u2);
    assert!(signed >= backed_up + 6, "the province signed six verdicts after the backup: {backed_up} then {signed}");
    assert!(u2.process.take().expect("runs").stop(), "the second university stopped cleanly");

    let restored_dir = base.path().join("restored");
    let output = script_ok("restore.sh", &[&backup, &restored_dir]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("marked as recovering"));
    assert!(restored_dir.join("recovering").exists());
    let restored =
        ClusterNode { unit: "hb".into(), process: Some(NodeProcess::start(&restored_dir)), dir: restored_dir };

    // One university is away: the province waits for it and signs nothing meanwhile.
    // The first university holds more of its log than it can send in full; the second
    // is not heard.
    wait_until("the province hears the first university", deadline, || {
        recovery(&restored)["waiting"].as_array().is_some_and(|waiting| {
            let wait = |unit: &str| waiting.iter().find(|wait| wait["unit"] == unit).cloned();
            waiting.len() == 2
                && wait("hb/u1").is_some_and(|wait| wait["heard"] == true && wait["holds_seq"] == at_u1)
                && wait("hb/u2").is_some_and(|wait| wait["heard"] == false)
        })
    });
    let refused = rollcall(&["campaign-open", "--node-dir", &restored.dir_arg(), "--year", &year]);
    assert!(!refused.status.success(), "a recovering province records nothing");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("恢复"), "the refusal says why, in Chinese: {said}");
    assert!(
        held(&restored) + 3 <= signed,
        "the first university cannot send the verdicts on the second's tables in full, nor what follows them"
    );
    let status = rollcall(&["status", "--node-dir", &restored.dir_arg()]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("正在恢复") && status.contains("hb/u2"), "{status}");

    u2.process = Some(NodeProcess::start(&u2.dir));
    wait_until("the province recovers its log from both universities", deadline, || recovery(&restored).is_null());
    // Its whole old log: whatever it signs from now on (receipts first) comes after it.
    assert!(held(&restored) >= signed, "{} of {signed}", held(&restored));
    assert!(!restored.dir.join("recovering").exists());

    // It signs again after its old head, and both universities take it.
    name_unit(&restored, "hb/u1", "第一大学党委");
    wait_until("both universities accept what the province signs next", deadline, || {
        let now = held(&restored);
        now > signed && held(&u1) == now && held(&u2) == now
    });
    for node in [&u1, &u2] {
        let status = rollcall_json(&["status", "--node-dir", &node.dir_arg()]);
        let edge = status["edges"].as_array().expect("edges").iter().find(|edge| edge["unit"] == "hb").cloned();
        assert_eq!(
            edge.expect("the edge to the province")["rejected"],
            0,
            "{} refused nothing of the province",
            node.unit
        );
    }
    let verified = rollcall(&["verify", "--dir", &restored.dir_arg()]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
}

/// Goal: an operator whose waited-for peer is gone for good can end the recovery, and
/// the running node signs again. Method: a university restored while its province is
/// down waits for the province and refuses to record; `rollcall-node recover --end`
/// removes the marker; the node notices and records.
#[test]
fn the_operator_can_end_a_recovery_that_waits_for_a_peer_that_is_gone() {
    let base = tempfile::tempdir().expect("temp dir");
    let deadline = Duration::from_secs(60);
    let mut province = start_root(base.path(), "hb");
    let mut university = start_child(base.path(), &province, "hb/u1");
    let backup = base.path().join("backup");
    script_ok("backup.sh", &[&university.dir, &backup]);
    assert!(university.process.take().expect("runs").stop());
    assert!(province.process.take().expect("runs").stop());

    let restored_dir = base.path().join("restored");
    script_ok("restore.sh", &[&backup, &restored_dir]);
    let restored =
        ClusterNode { unit: "hb/u1".into(), process: Some(NodeProcess::start(&restored_dir)), dir: restored_dir };
    wait_until("the university says it waits for the province", deadline, || {
        recovery(&restored)["waiting"]
            .as_array()
            .is_some_and(|waiting| waiting.len() == 1 && waiting[0]["unit"] == "hb" && waiting[0]["heard"] == false)
    });
    let refused = rollcall(&[
        "append-sample",
        "--node-dir",
        &restored.dir_arg(),
        "--unit",
        "hb/u1/c1/b1",
        "--members",
        "2",
        "--seed",
        "1",
    ]);
    assert!(!refused.status.success(), "a recovering node records nothing");

    let ended = Command::new(bin("rollcall-node"))
        .args(["--lang", "en", "recover", "--end", "--dir"])
        .arg(&restored.dir)
        .output()
        .expect("run rollcall-node recover");
    assert!(ended.status.success(), "{}", String::from_utf8_lossy(&ended.stderr));
    assert!(String::from_utf8_lossy(&ended.stdout).contains("recovery ended"));
    wait_until("the running node notices", deadline, || recovery(&restored).is_null());
    append_sample(&restored, "hb/u1/c1/b1", "2", "1");
}

/// Goal: a province and its university restored at the same time, each from a backup
/// older than its log, both get their logs back and sign again without a fork, though
/// each one's copy of the other's log is stale and only the college below holds the
/// rest. Method: province ← university ← college; both upper nodes are backed up; the
/// province names a unit and the university records members (events the college holds);
/// both are stopped and restored; started together, both end their recoveries, hold
/// their whole old logs, and what they sign next reaches the college, which refuses
/// nothing.
#[test]
fn a_province_and_its_university_restored_at_once_both_recover() {
    let base = tempfile::tempdir().expect("temp dir");
    let deadline = Duration::from_secs(90);
    let mut province = start_root(base.path(), "hb");
    province.pin_address();
    let mut university = start_child(base.path(), &province, "hb/u1");
    university.pin_address();
    let college = start_child(base.path(), &university, "hb/u1/c1");
    let (province_replica, university_replica) = (province.replica().to_hex(), university.replica().to_hex());
    let held = |node: &ClusterNode, of: &str| node.heads().get(of).copied().unwrap_or(0);

    let (province_backup, university_backup) = (base.path().join("hb-backup"), base.path().join("u1-backup"));
    for (node, backup) in [(&province, &province_backup), (&university, &university_backup)] {
        script_ok("backup.sh", &[&node.dir, backup]);
    }
    name_unit(&province, "hb/u1/c1", "第一学院党委");
    append_sample(&university, "hb/u1/c1/b1", "6", "1");
    wait_until("the college holds both upper logs", deadline, || {
        held(&college, &province_replica) == held(&province, &province_replica)
            && held(&college, &university_replica) == held(&university, &university_replica)
            && held(&province, &university_replica) == held(&university, &university_replica)
    });
    assert!(province.process.take().expect("runs").stop());
    assert!(university.process.take().expect("runs").stop());
    let (province_signed, university_signed) = (held(&college, &province_replica), held(&college, &university_replica));

    let mut restored = Vec::new();
    for (unit, backup, name) in [("hb", &province_backup, "hb-restored"), ("hb/u1", &university_backup, "u1-restored")]
    {
        let dir = base.path().join(name);
        script_ok("restore.sh", &[backup, &dir]);
        restored.push(ClusterNode { unit: unit.into(), process: None, dir });
    }
    for node in &mut restored {
        node.process = Some(NodeProcess::start(&node.dir));
    }
    let (province, university) = (&restored[0], &restored[1]);
    wait_until("both end their recoveries", deadline, || {
        recovery(province).is_null() && recovery(university).is_null()
    });
    assert!(held(province, &province_replica) >= province_signed, "the province's whole old log");
    assert!(held(university, &university_replica) >= university_signed, "the university's whole old log");

    append_sample(university, "hb/u1/c1/b2", "3", "2");
    name_unit(province, "hb/u1", "第一大学党委");
    wait_until("the college accepts what both sign next", deadline, || {
        let (p, u) = (held(province, &province_replica), held(university, &university_replica));
        p > province_signed
            && u > university_signed
            && held(&college, &province_replica) == p
            && held(&college, &university_replica) == u
    });
    let status = rollcall_json(&["status", "--node-dir", &college.dir_arg()]);
    let edge = status["edges"].as_array().expect("edges").iter().find(|edge| edge["unit"] == "hb/u1").cloned();
    assert_eq!(edge.expect("the edge to the university")["rejected"], 0, "the college refused nothing");
}
