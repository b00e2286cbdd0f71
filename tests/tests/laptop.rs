//! The offline story end to end, with real processes, TLS and RocksDB: two laptops of one
//! branch are created with `rollcall init`, enrolled by the branch node's operator
//! (`rollcall enroll --role laptop`), joined (`rollcall join`), record members while
//! offline, then reconcile with `rollcall sync`. Their work reaches the province; then
//! the college records something about the branch, and the laptops' next sync brings it.

use rollcall_tests::{
    CONVERGE_DEADLINE, enroll_laptop as laptop, rollcall, rollcall_json, start_child, start_root, wait_until,
};

fn heads_of(dir: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    rollcall_json(&["heads", "--dir", &dir.display().to_string()])
        .as_array()
        .expect("array")
        .iter()
        .map(|h| (h["replica"].as_str().expect("replica").to_string(), h["seq"].as_u64().expect("seq")))
        .collect()
}

#[test]
fn laptops_work_offline_and_reconcile() {
    let base = tempfile::tempdir().expect("temp dir");
    let province = start_root(base.path(), "hb");
    let university = start_child(base.path(), &province, "hb/u1");
    let college = start_child(base.path(), &university, "hb/u1/c1");
    let branch = start_child(base.path(), &college, "hb/u1/c1/b1");
    let first = laptop(base.path(), &branch, "laptop-secretary");
    let second = laptop(base.path(), &branch, "laptop-committee");

    // Offline: no sync; each laptop records members of the branch.
    for (dir, seed) in [(&first, "1"), (&second, "2")] {
        let report = rollcall_json(&[
            "append-sample",
            "--dir",
            &dir.display().to_string(),
            "--unit",
            &branch.unit,
            "--members",
            "30",
            "--seed",
            seed,
        ]);
        assert!(report["appended"].as_u64().expect("appended") >= 60);
    }
    let first_key = std::fs::read_to_string(first.join("replica.pub")).expect("pub").trim().to_string();
    let first_head = heads_of(&first)[&first_key];
    assert!(province.heads().get(&first_key).is_none(), "nothing left the laptop while offline");

    // While they were offline the college recorded a lot about the branch: the branch's
    // backlog to a laptop is long, and the laptop's own is acknowledged long before the
    // branch says it has caught up (a sync must still end only when both are done).
    let output = rollcall(&[
        "append-sample",
        "--node-dir",
        &college.dir_arg(),
        "--unit",
        &branch.unit,
        "--members",
        "1500",
        "--seed",
        "5",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let college_key = college.replica().to_hex();
    let college_head = college.heads()[&college_key];
    wait_until("the branch node to hold the college's backlog", CONVERGE_DEADLINE, || {
        branch.heads().get(&college_key).copied().unwrap_or(0) >= college_head
    });

    // Reconcile both ways.
    for dir in [&first, &second] {
        let summary = rollcall_json(&["sync", "--dir", &dir.display().to_string()]);
        assert!(summary["sent"].as_u64().expect("sent") > 0, "{summary}");
        assert!(summary["received"].as_u64().expect("received") >= college_head, "{summary}");
        assert_eq!(summary["rejected"].as_u64(), Some(0), "{summary}");
    }
    wait_until("the laptop's work to reach the province", CONVERGE_DEADLINE, || {
        province.heads().get(&first_key).copied() == Some(first_head)
    });

    // The college records something about the branch; the laptop's next sync brings it.
    let output = rollcall(&[
        "append-sample",
        "--node-dir",
        &college.dir_arg(),
        "--unit",
        &branch.unit,
        "--members",
        "1",
        "--seed",
        "7",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let college_head = college.heads()[&college_key];
    wait_until("the branch node to hold the college's event", CONVERGE_DEADLINE, || {
        branch.heads().get(&college_key).copied().unwrap_or(0) >= college_head
    });
    rollcall_json(&["sync", "--dir", &first.display().to_string()]);
    assert!(
        heads_of(&first).get(&college_key).copied().unwrap_or(0) >= college_head,
        "the laptop holds the college's event"
    );
    let report = rollcall_json(&["verify", "--dir", &first.display().to_string()]);
    assert!(report["events"].as_u64().expect("events") > first_head);

    // Both laptops correct the same member's phone while offline: both corrections are
    // kept and the conflict is visible everywhere they meet, until a person settles it.
    // A member the college registered: both laptops received it in their syncs.
    let member = "hb.u1.c1.b1-5-000001";
    let mut ids = Vec::new();
    for (dir, phone) in [(&first, "13800000001"), (&second, "13900000002")] {
        let out = rollcall_json(&[
            "correct",
            "--dir",
            &dir.display().to_string(),
            "--unit",
            &branch.unit,
            "--member",
            member,
            "--field",
            "联系电话",
            "--value",
            phone,
        ]);
        ids.push(out["event_id"].as_str().expect("event id").to_string());
    }
    for dir in [&first, &second, &first] {
        rollcall_json(&["sync", "--dir", &dir.display().to_string()]);
    }
    let conflicts = rollcall_json(&["conflicts", "--node-dir", &branch.dir_arg()]);
    let conflicts = conflicts.as_array().expect("array");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["member_id"], member);
    assert_eq!(conflicts[0]["candidates"].as_array().expect("candidates").len(), 2);
    let on_laptop = rollcall_json(&["conflicts", "--dir", &first.display().to_string()]);
    assert_eq!(on_laptop.as_array().expect("array").len(), 1, "the laptop shows the conflict too");

    let settles = ids.join(",");
    rollcall_json(&[
        "correct",
        "--dir",
        &first.display().to_string(),
        "--unit",
        &branch.unit,
        "--member",
        member,
        "--field",
        "phone",
        "--value",
        "13900000002",
        "--settles",
        &settles,
    ]);
    rollcall_json(&["sync", "--dir", &first.display().to_string()]);
    let settled = rollcall_json(&["conflicts", "--node-dir", &branch.dir_arg()]);
    assert!(settled.as_array().expect("array").is_empty(), "{settled}");

    // The committee member's laptop is lost: the branch revokes it after what it has
    // synced. Work it signs afterwards is refused; what it signed before stays.
    let second_key = std::fs::read_to_string(second.join("replica.pub")).expect("pub").trim().to_string();
    let second_head = heads_of(&second)[&second_key];
    let revoked = rollcall_json(&[
        "revoke",
        "--node-dir",
        &branch.dir_arg(),
        "--child-key",
        &second_key,
        "--after-seq",
        &second_head.to_string(),
        "--reason",
        "笔记本遗失",
    ]);
    assert_eq!(revoked["after_seq"].as_u64(), Some(second_head));
    rollcall_json(&[
        "append-sample",
        "--dir",
        &second.display().to_string(),
        "--unit",
        &branch.unit,
        "--members",
        "1",
        "--seed",
        "77",
    ]);
    // A revoked laptop may still hand in (never receive) what it signed up to its
    // revocation; what it signed after is refused.
    let handed_in = rollcall_json(&["sync", "--dir", &second.display().to_string(), "--timeout-secs", "30"]);
    assert_eq!(handed_in["revoked_after_seq"].as_u64(), Some(second_head), "{handed_in}");
    assert_eq!(handed_in["received"], 0, "{handed_in}");
    assert!(handed_in["refused_by_parent"].as_u64().unwrap_or(0) > 0, "{handed_in}");
    assert_eq!(branch.heads().get(&second_key).copied(), Some(second_head), "its earlier work stays, nothing after");
}
