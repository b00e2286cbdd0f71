//! Tables submitted, recomputed, returned and resubmitted on real nodes (issue 13): a
//! university submits tables 1-3 with `rollcall report submit`; the province recomputes
//! each from the events at its checkpoint and records its verdict; a submission whose
//! cells do not follow from its checkpoint (a stale spreadsheet) is listed cell by cell;
//! the province returns a table with a reason, which reaches the university, and the
//! resubmission is verified; the 4-15 deadline is judged on verified submissions.

use std::time::Duration;

use rollcall_core::body::Body;
use rollcall_core::log::Draft;
use rollcall_core::{UnitPath, proto};
use rollcall_proto::v1 as pb;
use rollcall_tests::{ClusterNode, rollcall, rollcall_json, start_child, start_root, wait_until};

const CONVERGE: Duration = Duration::from_secs(60);

fn import(node: &ClusterNode, base: &std::path::Path, name: &str, rows: &[(&str, &str, &str)]) {
    let rows: Vec<Vec<String>> =
        rows.iter().map(|(person, id17, birth)| rollcall_tests::form_row(person, id17, birth, &node.unit)).collect();
    rollcall_tests::import_form(node, &base.join(name), &rows);
}

/// A `ReportSubmitted` of hb/u1 with the cells and checkpoint given, appended through the
/// university's operator as any client could (not computed by the node).
async fn submit_raw(
    operator: &mut rollcall_client::NodeClient<tonic::transport::Channel>,
    campaign_id: &str,
    table: u32,
    cells: Vec<proto::TableCell>,
    checkpoint: Vec<pb::ReplicaHead>,
    author: &str,
) {
    let body =
        Body::ReportSubmitted(proto::ReportSubmitted { campaign_id: campaign_id.into(), table, cells, checkpoint });
    let draft = Draft {
        unit_path: UnitPath::parse("hb/u1").expect("valid"),
        kind: body.kind(),
        body: body.encode(),
        author: author.into(),
    };
    operator.append(rollcall_client::idempotent_append_request(&[draft])).await.expect("appended");
}

fn ok(args: &[&str]) -> String {
    let output = rollcall(args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The province's view of the university's submission of `table`.
fn report_of(node: &ClusterNode, unit: &str, table: u64) -> serde_json::Value {
    rollcall_json(&["report", "list", "--node-dir", &node.dir_arg()])
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["unit"] == unit && r["table"] == table)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

fn tables_deadline(node: &ClusterNode) -> serde_json::Value {
    rollcall_json(&["deadlines", "--node-dir", &node.dir_arg()])["deadlines"]
        .as_array()
        .expect("deadlines")
        .iter()
        .find(|d| d["kind"] == "university_tables" || d["kind"] == "UNIVERSITY_TABLES")
        .cloned()
        .expect("the 4-15 deadline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_is_recomputed_returned_and_resubmitted() {
    let base = tempfile::tempdir().expect("temp dir");
    let hb = start_root(base.path(), "hb");
    let u1 = start_child(base.path(), &hb, "hb/u1");
    let c1 = start_child(base.path(), &u1, "hb/u1/c1");
    let b1 = start_child(base.path(), &c1, "hb/u1/c1/b1");
    // Next year's campaign, so its deadlines are still ahead and "done" is reachable on
    // time; its tables are as of today.
    let today = rollcall_core::audit::dates::cst_day(rollcall_server::writer::now_ms());
    let year = (today.format("%Y").to_string().parse::<i32>().expect("a year") + 1).to_string();
    ok(&["campaign-open", "--node-dir", &hb.dir_arg(), "--year", &year, "--as-of", &today.to_string()]);
    import(
        &b1,
        base.path(),
        "一.csv",
        &[("张一", "42010219800101001", "1980-01-01"), ("王二", "42010219810202002", "1981-02-02")],
    );
    wait_until("the university holds the branch's members", CONVERGE, || rollup_members(&u1) == 2);
    let before = tables_deadline(&u1);
    assert!(before["blockers"].to_string().contains("tables_missing"), "{before}");

    // Submitted through the CLI; verified by the province.
    let submitted = ok(&["report", "submit", "--node-dir", &u1.dir_arg(), "--table", "all"]);
    assert!(submitted.contains("已报送"), "{submitted}");
    wait_until("the province verifies tables 1-3", CONVERGE, || {
        (1..=3).all(|table| report_of(&hb, "hb/u1", table)["state"] == "verified")
    });
    wait_until("the university sees the verdicts", CONVERGE, || {
        (1..=3).all(|table| report_of(&u1, "hb/u1", table)["state"] == "verified")
    });
    wait_until("the 4-15 deadline is done once received and verified", CONVERGE, || {
        tables_deadline(&u1)["state"] == "done"
    });

    // A stale spreadsheet: table 2's cells as they were, but a checkpoint after a new
    // member was registered. The province lists the differing cell.
    let target = rollcall_client::target::Target::from_node_dir(&u1.dir).expect("target");
    let mut operator = rollcall_client::NodeClient::new(target.connect().await.expect("connect"));
    let stale =
        operator.table(pb::TableRequest { unit_path: String::new(), table: 1 }).await.expect("table").into_inner();
    import(&b1, base.path(), "二.csv", &[("李三", "42010219820303003", "1982-03-03")]);
    wait_until("the university holds the new member", CONVERGE, || rollup_members(&u1) == 3);
    let fresh =
        operator.table(pb::TableRequest { unit_path: String::new(), table: 1 }).await.expect("table").into_inner();
    submit_raw(&mut operator, &year, 1, stale.cells.clone(), fresh.checkpoint.clone(), "stale spreadsheet").await;
    wait_until("the province finds the stale table differs", CONVERGE, || {
        report_of(&hb, "hb/u1", 1)["state"] == "differs"
    });
    let differing = report_of(&hb, "hb/u1", 1);
    let cells = differing["differences"].as_array().expect("differences");
    assert!(
        cells.iter().any(|c| c["row"] == 0 && c["submitted"] == 2 && c["recomputed"] == 3),
        "the total's members cell, 2 submitted against 3 recomputed: {differing}"
    );
    let listed = ok(&["report", "list", "--node-dir", &hb.dir_arg()]);
    assert!(listed.contains("有差异") && listed.contains("报送 2") && listed.contains("核算 3"), "{listed}");
    assert!(tables_deadline(&u1)["blockers"].to_string().contains("tables_differ"));

    // A checkpoint that leaves the branch's log out (so a recomputation would see no
    // members at all) falls short of what the province acknowledged: never verified.
    let b1_key = b1.replica();
    let without_branch: Vec<pb::ReplicaHead> =
        fresh.checkpoint.iter().filter(|h| h.replica.as_ref() != b1_key.0.as_slice()).cloned().collect();
    assert!(without_branch.len() < fresh.checkpoint.len(), "the checkpoint named the branch's log");
    submit_raw(&mut operator, &year, 3, vec![], without_branch, "leaves a branch out").await;
    wait_until("the province refuses to verify a checkpoint short of its receipts", CONVERGE, || {
        let verdict = report_of(&hb, "hb/u1", 3);
        verdict["state"] == "differs"
            && verdict["differences"].as_array().is_some_and(|d| {
                d.iter()
                    .any(|c| c["row"] == 0 && c["column"] == 0 && c["submitted"].is_null() && c["recomputed"].is_null())
            })
    });
    ok(&["report", "submit", "--node-dir", &u1.dir_arg(), "--table", "3"]);
    wait_until("an honest resubmission is verified", CONVERGE, || report_of(&hb, "hb/u1", 3)["state"] == "verified");

    // The province returns it; the university sees why, resubmits, and it is verified.
    let refused = rollcall(&[
        "report",
        "return",
        "--node-dir",
        &u1.dir_arg(),
        "--unit",
        "hb/u1",
        "--table",
        "1",
        "--reason",
        "x",
    ]);
    assert!(!refused.status.success(), "a unit cannot return its own table");
    ok(&[
        "report",
        "return",
        "--node-dir",
        &hb.dir_arg(),
        "--unit",
        "hb/u1",
        "--table",
        "1",
        "--reason",
        "党员总数与登记表不符，请重新核算",
    ]);
    wait_until("the university sees its table returned", CONVERGE, || {
        report_of(&u1, "hb/u1", 1)["return_reason"] == "党员总数与登记表不符，请重新核算"
    });
    assert_eq!(report_of(&u1, "hb/u1", 1)["state"], "returned");
    let again = rollcall(&[
        "report",
        "return",
        "--node-dir",
        &hb.dir_arg(),
        "--unit",
        "hb/u1",
        "--table",
        "1",
        "--reason",
        "再次",
    ]);
    assert!(!again.status.success(), "a returned table is not returned twice");
    assert!(tables_deadline(&u1)["blockers"].to_string().contains("tables_returned"));
    ok(&["report", "submit", "--node-dir", &u1.dir_arg(), "--table", "1"]);
    wait_until("the resubmission is verified", CONVERGE, || report_of(&hb, "hb/u1", 1)["state"] == "verified");
    wait_until("the deadline is done again", CONVERGE, || tables_deadline(&u1)["state"] == "done");
    let _ = c1;
}

fn rollup_members(node: &ClusterNode) -> u64 {
    rollcall_json(&["rollup", "--node-dir", &node.dir_arg()])["total"]["metrics"]["members"].as_u64().unwrap_or(0)
}
