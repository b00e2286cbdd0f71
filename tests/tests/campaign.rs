//! The campaign as a province runs it (issue 13), through the CLI on four real nodes:
//! units named by the level above and shown by name everywhere, the province's policy
//! changed and applied below, and a failed branch vote that says so.

use std::time::Duration;

use rollcall_tests::{ClusterNode, rollcall, rollcall_json, start_child, start_root, wait_until};

const CONVERGE: Duration = Duration::from_secs(60);

fn ok(args: &[&str]) -> String {
    let output = rollcall(args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

fn name(namer: &ClusterNode, unit: &str, name: &str, short: &str, org_type: &str) -> String {
    ok(&[
        "unit",
        "name",
        "--node-dir",
        &namer.dir_arg(),
        "--unit",
        unit,
        "--name",
        name,
        "--short-name",
        short,
        "--org-type",
        org_type,
        "--org-code",
        "4200101",
    ])
}

fn named_at(node: &ClusterNode, unit: &str) -> Option<String> {
    rollcall_json(&["unit", "list", "--node-dir", &node.dir_arg()])
        .as_array()?
        .iter()
        .find(|u| u["unit"] == unit && u["named"] == true)
        .map(|u| u["short_name"].as_str().unwrap_or_default().to_string())
}

fn member_of(node: &ClusterNode) -> String {
    rollcall_json(&["member", "list", "--node-dir", &node.dir_arg()])["members"][0]["member_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_province_names_its_units_sets_its_policy_and_a_failed_vote_says_so() {
    let base = tempfile::tempdir().expect("temp dir");
    let hb = start_root(base.path(), "hb");
    let u1 = start_child(base.path(), &hb, "hb/u1");
    let c1 = start_child(base.path(), &u1, "hb/u1/c1");
    let b1 = start_child(base.path(), &c1, "hb/u1/c1/b1");

    // Each level names the one below; the province names itself.
    name(&hb, "hb", "中共湖北省委教育工作委员会", "省委教育工委", "612");
    name(&hb, "hb/u1", "中共武汉大学委员会", "武汉大学党委", "611");
    let said = name(&u1, "hb/u1/c1", "中共武汉大学计算机学院委员会", "计算机学院党委", "611");
    assert!(said.contains("计算机学院党委"), "{said}");
    name(&c1, "hb/u1/c1/b1", "武汉大学计算机学院教工第一党支部", "教工第一党支部", "631");
    // A unit does not name itself; a type that does not fit the level is refused by name.
    let itself = rollcall(&[
        "unit",
        "name",
        "--node-dir",
        &b1.dir_arg(),
        "--unit",
        "hb/u1/c1/b1",
        "--name",
        "自封支部",
        "--org-type",
        "631",
    ]);
    assert_eq!(itself.status.code(), Some(1));
    let misfit = rollcall(&[
        "unit",
        "name",
        "--node-dir",
        &u1.dir_arg(),
        "--unit",
        "hb/u1/c1",
        "--name",
        "某学院",
        "--org-type",
        "631",
    ]);
    assert!(String::from_utf8_lossy(&misfit.stderr).contains("层级"), "{}", String::from_utf8_lossy(&misfit.stderr));
    wait_until("the branch's name reaches the province", CONVERGE, || {
        named_at(&hb, "hb/u1/c1/b1").as_deref() == Some("教工第一党支部")
    });

    // The campaign, with the notice's policy; two members at the branch.
    let today = rollcall_core::audit::dates::cst_day(rollcall_server::writer::now_ms());
    let year = today.format("%Y").to_string();
    ok(&["campaign-open", "--node-dir", &hb.dir_arg(), "--year", &year, "--as-of", &today.to_string()]);
    let rows: Vec<Vec<String>> =
        [("张一", "42010219800101001", "1980-01-01"), ("王二", "42010219810202002", "1981-02-02")]
            .iter()
            .map(|(person, id17, birth)| rollcall_tests::form_row(person, id17, birth, &b1.unit))
            .collect();
    rollcall_tests::import_form(&b1, &base.path().join("登记表.csv"), &rows);
    wait_until("the province holds the members", CONVERGE, || {
        rollcall_json(&["rollup", "--node-dir", &hb.dir_arg()])["total"]["metrics"]["members"] == 2
    });

    // Names everywhere: the rollup, table 1's 填报单位 and rows, deadlines and reports.
    let rollup = ok(&["rollup", "--node-dir", &hb.dir_arg(), "--unit", "hb/u1"]);
    assert!(rollup.contains("计算机学院党委（hb/u1/c1）"), "{rollup}");
    let table = ok(&["table", "1", "--node-dir", &u1.dir_arg()]);
    assert!(table.contains("填报单位（盖章）：中共武汉大学委员会"), "{table}");
    assert!(table.contains("计算机学院党委"), "{table}");
    let table_json = rollcall_json(&["table", "1", "--node-dir", &u1.dir_arg()]);
    assert_eq!(table_json["rows"][1]["unit"], "hb/u1/c1", "--json keeps the path");
    assert!(table_json["definitions"].to_string().contains("五核查"), "the column definitions ship with the table");
    let member = ok(&["member", "list", "--node-dir", &hb.dir_arg()]);
    assert!(member.contains("教工第一党支部"), "{member}");
    let units = ok(&["unit", "list", "--node-dir", &u1.dir_arg()]);
    assert!(units.contains("中共湖北省委教育工作委员会") && units.contains("611 党委"), "{units}");

    // The policy: only the province sets it; below, campaign-show says it changed.
    let shown = ok(&["campaign-show", "--node-dir", &b1.dir_arg()]);
    assert!(
        shown.contains("适用政策（通知的规定）") && shown.contains("认定失联的月数（未参加组织生活且未交纳党费）：6"),
        "{shown}"
    );
    let by_university =
        rollcall(&["policy-set", "--node-dir", &u1.dir_arg(), "--majority-percent", "66", "--reason", "x"]);
    assert_eq!(by_university.status.code(), Some(1));
    let out_of_bounds =
        rollcall(&["policy-set", "--node-dir", &hb.dir_arg(), "--quorum-percent", "20", "--reason", "x"]);
    assert!(String::from_utf8_lossy(&out_of_bounds.stderr).contains("应在50至99之间"));
    ok(&["policy-set", "--node-dir", &hb.dir_arg(), "--majority-percent", "66", "--reason", "省委组织部通知"]);
    wait_until("the branch applies the province's policy", CONVERGE, || {
        rollcall_json(&["campaign-show", "--node-dir", &b1.dir_arg()])["policy"]["majority_percent"] == 66
    });
    let shown = ok(&["campaign-show", "--node-dir", &b1.dir_arg()]);
    assert!(shown.contains("省级已调整1次") && shown.contains("66（已调整）"), "{shown}");

    // A correction-period case voted 5 of 9 in favour: more than half, not more than 66%.
    let member = member_of(&b1);
    let proposed = ok(&[
        "--json",
        "case",
        "propose",
        "--node-dir",
        &b1.dir_arg(),
        "--member",
        &member,
        "--type",
        "correction-period",
        "--trigger",
        "audit-finding",
        "--ground",
        "work",
        "--facts",
        "长期不参加组织生活",
    ]);
    let case = serde_json::from_str::<serde_json::Value>(&proposed).expect("json")["case_id"]
        .as_str()
        .expect("case id")
        .to_string();
    ok(&[
        "case",
        "investigate",
        "--node-dir",
        &b1.dir_arg(),
        "--case",
        &case,
        "--report",
        "经谈话核实",
        "--talked-by",
        "甲",
        "--talked-by",
        "乙",
    ]);
    wait_until("the case reaches the college", CONVERGE, || {
        rollcall(&["case", "prereview", "--node-dir", &c1.dir_arg(), "--case", &case, "--opinion", "同意"])
            .status
            .success()
    });
    wait_until("the pre-review reaches the branch", CONVERGE, || {
        rollcall_json(&["member", "list", "--node-dir", &b1.dir_arg(), "--stage", "pre_reviewed"])["members"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    });
    let voted = ok(&[
        "case",
        "vote",
        "--node-dir",
        &b1.dir_arg(),
        "--case",
        &case,
        "--total",
        "9",
        "--present",
        "8",
        "--for",
        "5",
        "--against",
        "3",
    ]);
    assert!(voted.contains("支部大会未通过"), "{voted}");
    assert!(voted.contains("赞成 5 票，应到会 9 人，须超过66%即至少 6 票"), "{voted}");
    assert!(voted.contains("案件就此结束"), "what may follow: {voted}");
}
