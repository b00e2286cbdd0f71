//! Multi-node sync over loopback with real TLS and real RocksDB: a province, two
//! universities, two colleges each, two branches each (15 real processes), every child
//! enrolled through the real flow (`init`, `rollcall enroll`, `rollcall-node join`).
//! Branches and colleges append audit events; the test waits (with a deadline) until
//! every log has reached every node whose scope holds it, then checks every store with
//! `rollcall verify`, that a branch holds a sibling's member data only as stubs, and that
//! receipts from the level above reached the branches.

use std::collections::BTreeMap;

use rollcall_core::Seq;
use rollcall_core::body::is_infrastructure;
use rollcall_server::store::Store;
use rollcall_tests::{
    CONVERGE_DEADLINE, ClusterNode, enroll_laptop, rollcall, rollcall_json, start_child, start_root, wait_until,
};

#[test]
fn a_province_hierarchy_converges_within_scopes() {
    let base = tempfile::tempdir().expect("temp dir");
    let province = start_root(base.path(), "hb");
    let mut nodes: Vec<ClusterNode> = Vec::new();
    let mut branches: Vec<usize> = Vec::new();
    let mut colleges: Vec<usize> = Vec::new();
    let mut universities: Vec<usize> = Vec::new();
    for university in ["u1", "u2"] {
        let u_unit = format!("hb/{university}");
        let u = start_child(base.path(), &province, &u_unit);
        nodes.push(u);
        let u_idx = nodes.len() - 1;
        universities.push(u_idx);
        for college in ["c1", "c2"] {
            let c_unit = format!("{u_unit}/{college}");
            let c = start_child(base.path(), &nodes[u_idx], &c_unit);
            nodes.push(c);
            let c_idx = nodes.len() - 1;
            colleges.push(c_idx);
            for branch in ["b1", "b2"] {
                let b = start_child(base.path(), &nodes[c_idx], &format!("{c_unit}/{branch}"));
                nodes.push(b);
                branches.push(nodes.len() - 1);
            }
        }
    }

    // The province opens the campaign; it flows down to every node.
    let opened =
        rollcall(&["campaign-open", "--node-dir", &province.dir_arg(), "--year", "2026", "--as-of", "2026-03-31"]);
    assert!(opened.status.success(), "campaign: {}", String::from_utf8_lossy(&opened.stderr));

    // Every branch records its members; a college notes something about its second branch.
    for (seed, &idx) in branches.iter().enumerate() {
        let node = &nodes[idx];
        let output = rollcall(&[
            "append-sample",
            "--node-dir",
            &node.dir_arg(),
            "--unit",
            &node.unit,
            "--members",
            "15",
            "--seed",
            &seed.to_string(),
        ]);
        assert!(output.status.success(), "append at {}: {}", node.unit, String::from_utf8_lossy(&output.stderr));
    }
    let college = &nodes[colleges[0]];
    let sibling_unit = format!("{}/b2", college.unit);
    let output = rollcall(&[
        "append-sample",
        "--node-dir",
        &college.dir_arg(),
        "--unit",
        &sibling_unit,
        "--members",
        "2",
        "--seed",
        "99",
    ]);
    assert!(output.status.success(), "college append: {}", String::from_utf8_lossy(&output.stderr));

    // Convergence: each node's own log head has reached every node whose scope holds it.
    let all: Vec<&ClusterNode> = std::iter::once(&province).chain(nodes.iter()).collect();
    wait_until("every log to reach every node in its scope", CONVERGE_DEADLINE, || {
        let own_heads: Vec<(String, String, u64)> = all
            .iter()
            .map(|node| {
                let replica = node.replica().to_hex();
                let seq = node.heads().get(&replica).copied().unwrap_or(0);
                (node.unit.clone(), replica, seq)
            })
            .collect();
        all.iter().all(|holder| {
            let held: BTreeMap<String, u64> = holder.heads();
            own_heads.iter().all(|(unit, replica, seq)| {
                let in_scope = unit_within(unit, &holder.unit) || unit_within(&holder.unit, unit);
                !in_scope || held.get(replica).copied().unwrap_or(0) >= *seq
            })
        })
    });

    // Nothing out of scope: a branch holds no log of a sibling branch or another college.
    let b1 = &nodes[branches[0]];
    let b2 = &nodes[branches[1]];
    let held = b1.heads();
    assert!(!held.contains_key(&b2.replica().to_hex()), "a branch holds its sibling's log");
    assert!(!held.contains_key(&nodes[branches[2]].replica().to_hex()), "a branch holds another college's branch log");
    assert!(held.contains_key(&province.replica().to_hex()), "a branch holds the province's log");

    // Every store verifies.
    for node in &all {
        let report = rollcall_json(&["verify", "--dir", &node.dir_arg()]);
        assert!(report["events"].as_u64().expect("count") > 0, "{} verified nothing", node.unit);
    }

    // The college's events about b2 reach b1 only as stubs, and b2 in full.
    let college_replica = college.replica();
    let stubs_at = |node: &ClusterNode| -> (usize, usize) {
        let store = Store::open_read_only(&node.dir.join("store")).expect("open store read-only");
        let events = store.read_log(college_replica, Seq(1), 100_000).expect("read college log");
        // Enrollments and receipts about b2 are infrastructure: no personal data, always in full.
        let about_b2: Vec<_> = events
            .iter()
            .filter(|e| e.header().unit_path.as_str() == sibling_unit && !is_infrastructure(e.header().kind))
            .collect();
        (about_b2.iter().filter(|e| e.is_stub()).count(), about_b2.len())
    };
    let (stubs_b1, total_b1) = stubs_at(b1);
    assert!(total_b1 > 0, "b1 holds the college's events about b2 (as stubs)");
    assert_eq!(stubs_b1, total_b1, "b1 holds a body of an event about its sibling b2");
    let (stubs_b2, total_b2) = stubs_at(b2);
    assert_eq!((stubs_b2, total_b2 > 0), (0, true), "b2 holds its own events in full");

    // Receipts: every branch knows what its college has made durable, and when.
    for &idx in &branches {
        let node = &nodes[idx];
        wait_until(&format!("a receipt at {}", node.unit), CONVERGE_DEADLINE, || {
            let status = rollcall_json(&["status", "--node-dir", &node.dir_arg()]);
            let own = node.replica().to_hex();
            status["last_receipt"]["heads"].as_array().is_some_and(|heads| {
                heads.iter().any(|h| h["replica"].as_str() == Some(own.as_str()) && h["seq"].as_u64().unwrap_or(0) > 0)
            })
        });
    }

    // The audit on real nodes. The rollup invariant: each college and university computes
    // for itself what the province computes for it from its own copy of the events.
    for &idx in colleges.iter().chain(&universities) {
        let node = &nodes[idx];
        let own = rollcall_json(&["rollup", "--node-dir", &node.dir_arg()]);
        let seen_above = rollcall_json(&["rollup", "--node-dir", &province.dir_arg(), "--unit", &node.unit]);
        assert_eq!(
            own["total"], seen_above["total"],
            "rollup of {} differs between its node and the province",
            node.unit
        );
        assert!(own["total"]["metrics"]["members"].as_u64().unwrap_or(0) >= 30, "{} counts its members", node.unit);
    }
    // Table 2 of the province is the sum of its universities' tables 2, cell by cell.
    let province_table = rollcall_json(&["table", "2", "--node-dir", &province.dir_arg()]);
    assert_eq!(province_table["check_failures"], serde_json::json!([]), "table 2 checks");
    let mut summed = vec![vec![0i64; 12]; 5];
    for &idx in &universities {
        let table = rollcall_json(&["table", "2", "--node-dir", &nodes[idx].dir_arg()]);
        for (row, cells) in table["rows"].as_array().expect("rows").iter().enumerate() {
            for (column, cell) in cells["cells"].as_array().expect("cells").iter().enumerate() {
                summed[row][column] += cell.as_i64().unwrap_or(0);
            }
        }
    }
    let province_cells: Vec<Vec<i64>> = province_table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["cells"].as_array().expect("cells").iter().map(|c| c.as_i64().unwrap_or(0)).collect())
        .collect();
    assert_eq!(province_cells, summed, "the province's table 2 is the sum of its universities'");
    assert!(summed[0][0] > 0, "some members are still lost in the sample");
    // The deadlines reached every level with the campaign; a rebuild changes nothing.
    let deadlines = rollcall_json(&["deadlines", "--node-dir", &nodes[branches[0]].dir_arg()]);
    assert_eq!(deadlines["deadlines"].as_array().map(Vec::len), Some(4), "{deadlines}");
    let rebuilt = rollcall_json(&["rebuild", "--node-dir", &province.dir_arg()]);
    assert_eq!(rebuilt["changed"], false, "{rebuilt}");
    assert!(rebuilt["members"].as_u64().unwrap_or(0) >= 122, "{rebuilt}");

    // Two offline laptops inside the topology (branch hb/u1/c1/b1): both correct one
    // member offline; each shows what the level above has not acknowledged; both
    // reconcile; the conflict is visible at the branch node and reaches the province.
    let b1 = &nodes[branches[0]];
    let laptops: Vec<String> = ["secretary", "committee"]
        .iter()
        .map(|name| enroll_laptop(base.path(), b1, name).display().to_string())
        .collect();
    for laptop in &laptops {
        let synced = rollcall_json(&["sync", "--dir", laptop]);
        assert_eq!(synced["rejected"].as_u64(), Some(0), "{synced}");
    }
    let member = rollcall_json(&["member", "list", "--dir", &laptops[0], "--limit", "1"])["members"][0]["member_id"]
        .as_str()
        .expect("a member of b1")
        .to_string();
    for (laptop, phone) in laptops.iter().zip(["13800000001", "13900000002"]) {
        let out = rollcall(&[
            "correct", "--dir", laptop, "--unit", &b1.unit, "--member", &member, "--field", "phone", "--value", phone,
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let status = rollcall_json(&["status", "--dir", laptop]);
        assert!(status["unsent_up"].as_u64().unwrap_or(0) >= 1, "offline work is shown as unacknowledged: {status}");
        assert!(status["oldest_unsent_up_ms"].as_u64().unwrap_or(0) > 0, "{status}");
    }
    for laptop in &laptops {
        rollcall_json(&["sync", "--dir", laptop]);
    }
    // The first laptop went offline before the second synced its correction: the branch
    // node shows a backlog toward it, and how old the oldest unsent event is.
    let status = rollcall_json(&["status", "--node-dir", &b1.dir_arg()]);
    let laptop_edges: Vec<&serde_json::Value> = status["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|edge| edge["unit"].as_str() == Some(b1.unit.as_str()))
        .collect();
    assert_eq!(laptop_edges.len(), 2, "the branch node has an edge per laptop: {status}");
    let behind = laptop_edges
        .iter()
        .find(|edge| edge["unsent"].as_u64().unwrap_or(0) >= 1)
        .unwrap_or_else(|| panic!("an offline laptop's backlog is shown: {status}"));
    let oldest = behind["oldest_unsent_ms"].as_u64().unwrap_or(0);
    let now_ms = rollcall_server::writer::now_ms();
    assert!(oldest > 0 && oldest <= now_ms + 1000, "the age of the oldest unsent event is shown: {status}");
    for laptop in &laptops {
        rollcall_json(&["sync", "--dir", laptop]);
    }
    wait_until("the branch node to show the laptops' conflict", CONVERGE_DEADLINE, || {
        rollcall_json(&["conflicts", "--node-dir", &b1.dir_arg()]).as_array().is_some_and(|c| c.len() == 1)
    });
    wait_until("the laptops' work to be acknowledged above", CONVERGE_DEADLINE, || {
        laptops.iter().all(|laptop| {
            rollcall_json(&["sync", "--dir", laptop]);
            rollcall_json(&["status", "--dir", laptop])["unsent_up"] == 0
        })
    });
    let at_province = rollcall_json(&["member", "show", "--node-dir", &province.dir_arg(), &member]);
    assert_eq!(at_province["conflicts"], 1, "the province sees the conflict too: {at_province}");
    let metrics_ok = rollcall_json(&["verify", "--dir", &laptops[1]]);
    assert!(metrics_ok["events"].as_u64().unwrap_or(0) > 0);

    for node in nodes.into_iter().rev().chain(std::iter::once(province)) {
        if let Some(process) = node.process {
            assert!(process.stop(), "{} stopped cleanly", node.unit);
        }
    }
}

fn unit_within(unit: &str, ancestor: &str) -> bool {
    unit == ancestor || unit.starts_with(&format!("{ancestor}/"))
}
