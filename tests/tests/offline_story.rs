//! The offline story end to end (issue 5), with real processes, TLS and RocksDB: a
//! branch secretary's laptop imports its members and records checks, contact attempts
//! and a disposition proposal with no network; syncs; the college pre-reviews; the
//! laptop syncs, holds the branch meeting's vote offline, syncs again; the college
//! approves; the laptop's next sync shows the new stage.

use rollcall_tests::{CONVERGE_DEADLINE, enroll_laptop, rollcall, rollcall_json, start_child, start_root, wait_until};

fn id_number(first17: &str) -> String {
    format!("{first17}{}", rollcall_core::audit::rules::id_check_digit(first17))
}

fn ok(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let output = rollcall(&all);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("json")
}

fn stage(dir_flag: &str, dir: &str, member: &str) -> Option<String> {
    let output = rollcall(&["member", "show", dir_flag, dir, member, "--json"]);
    if !output.status.success() {
        return None;
    }
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    shown["cases"][0]["stage"].as_str().map(str::to_string)
}

#[test]
fn a_laptop_records_offline_and_follows_the_procedure_through_syncs() {
    let base = tempfile::tempdir().expect("temp dir");
    let province = start_root(base.path(), "hb");
    let university = start_child(base.path(), &province, "hb/u1");
    let college = start_child(base.path(), &university, "hb/u1/c1");
    let branch = start_child(base.path(), &college, "hb/u1/c1/b1");
    ok(&["campaign-open", "--node-dir", &province.dir_arg(), "--year", "2026"]);
    let laptop = enroll_laptop(base.path(), &branch, "secretary");
    let laptop = laptop.display().to_string();

    // Offline: import the branch's form, then record the checks and the search.
    let form = base.path().join("form.csv");
    let id = id_number("42010220000101001");
    std::fs::write(
        &form,
        format!(
            "\u{feff}姓名,性别,民族,公民身份证号,出生日期,学历,人员类别,所在党支部,加入党组织日期,转为正式党员日期,工作岗位,联系电话,家庭住址,党籍状态,是否为失联党员,失去联系日期,是否为流动党员,外出流向\n\
             周七,男,汉族,{id},2000-01-01,大学本科,预备党员,hb/u1/c1/b1,2024-06-01,,,13800000000,武汉,正常,是,2025-01-01,否,\n"
        ),
    )
    .expect("write form");
    assert_eq!(ok(&["import", "members", form.to_str().expect("path"), "--dir", &laptop])["imported"], 1);
    let member = rollcall_client::import::member_id_for(&id);
    ok(&[
        "check",
        "contact",
        "--dir",
        &laptop,
        "--member",
        &member,
        "--status",
        "lost",
        "--last-life",
        "2025-01-01",
        "--last-dues",
        "2025-01-01",
        "--situation",
        "graduated",
    ]);
    ok(&["record", "attempt", "--dir", &laptop, "--member", &member, "--method", "phone", "--on", "2025-08-01"]);
    ok(&[
        "record",
        "attempt",
        "--dir",
        &laptop,
        "--member",
        &member,
        "--method",
        "department",
        "--department",
        "education",
        "--on",
        "2025-10-01",
    ]);
    let proposed = ok(&[
        "case",
        "propose",
        "--dir",
        &laptop,
        "--member",
        &member,
        "--type",
        "cancel-probationary",
        "--trigger",
        "lost-case",
        "--facts",
        "预备期内失联，多方查找无果",
    ]);
    let case = proposed["case_id"].as_str().expect("case id").to_string();
    assert_eq!(proposed["stage"], "proposed", "the step says where it led: {proposed}");
    let investigated = rollcall(&[
        "case",
        "investigate",
        "--dir",
        &laptop,
        "--case",
        &case,
        "--report",
        "经查无法联系本人",
        "--unreachable",
    ]);
    let text = String::from_utf8_lossy(&investigated.stdout);
    assert!(text.contains(&format!("案件 {case}：现为“已调查核实”")), "the case id and the new stage: {text}");
    // A vote before the college's pre-review: the refusal names what is missing.
    let early =
        rollcall(&["case", "vote", "--dir", &laptop, "--case", &case, "--total", "9", "--present", "8", "--for", "8"]);
    assert_eq!(early.status.code(), Some(1));
    let refusal = String::from_utf8_lossy(&early.stderr);
    assert!(refusal.contains("还缺院系党委的预审"), "{refusal}");
    assert_eq!(stage("--dir", &laptop, &member).as_deref(), Some("investigated"));
    assert!(stage("--node-dir", &college.dir_arg(), &member).is_none(), "nothing left the laptop yet");

    // Sync; the college sees the case and pre-reviews it.
    ok(&["sync", "--dir", &laptop]);
    wait_until("the case to reach the college", CONVERGE_DEADLINE, || {
        stage("--node-dir", &college.dir_arg(), &member).as_deref() == Some("investigated")
    });
    // The college may not vote for the branch: the rules answer in Chinese.
    let output = rollcall(&[
        "case",
        "vote",
        "--node-dir",
        &college.dir_arg(),
        "--case",
        &case,
        "--total",
        "9",
        "--present",
        "8",
        "--for",
        "8",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("院系不能记录“支部大会表决”"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    ok(&["case", "prereview", "--node-dir", &college.dir_arg(), "--case", &case, "--opinion", "同意提交支部大会"]);
    wait_until("the pre-review to reach the branch node", CONVERGE_DEADLINE, || {
        stage("--node-dir", &branch.dir_arg(), &member).as_deref() == Some("pre_reviewed")
    });

    // The laptop syncs, sees the pre-review, and records the meeting's vote offline.
    ok(&["sync", "--dir", &laptop]);
    assert_eq!(stage("--dir", &laptop, &member).as_deref(), Some("pre_reviewed"));
    let no_quorum =
        rollcall(&["case", "vote", "--dir", &laptop, "--case", &case, "--total", "9", "--present", "4", "--for", "4"]);
    assert!(
        String::from_utf8_lossy(&no_quorum.stderr).contains("不足法定人数"),
        "{}",
        String::from_utf8_lossy(&no_quorum.stderr)
    );
    ok(&[
        "case",
        "vote",
        "--dir",
        &laptop,
        "--case",
        &case,
        "--total",
        "9",
        "--present",
        "8",
        "--for",
        "7",
        "--against",
        "1",
        "--defended",
    ]);
    ok(&["sync", "--dir", &laptop]);
    wait_until("the vote to reach the college", CONVERGE_DEADLINE, || {
        stage("--node-dir", &college.dir_arg(), &member).as_deref() == Some("voted")
    });
    ok(&["case", "approve", "--node-dir", &college.dir_arg(), "--case", &case, "--body", "计算机学院党委"]);
    wait_until("the approval to reach the branch node", CONVERGE_DEADLINE, || {
        stage("--node-dir", &branch.dir_arg(), &member).as_deref() == Some("approved")
    });

    // The laptop's next sync shows the new stage (the sync says what moved, as a person
    // would write it, in both languages); the province counts it in table 3.
    let synced = String::from_utf8(rollcall(&["sync", "--dir", &laptop]).stdout).expect("utf-8");
    assert!(
        synced.starts_with("同步完成：发送 ") && synced.contains(" 条，接收 ") && synced.trim_end().ends_with('条'),
        "{synced}"
    );
    let synced = String::from_utf8(rollcall(&["--lang", "en", "sync", "--dir", &laptop]).stdout).expect("utf-8");
    assert!(
        synced.starts_with("synced: sent ")
            && synced.contains(" events, received ")
            && synced.trim_end().ends_with("events"),
        "{synced}"
    );
    assert_eq!(stage("--dir", &laptop, &member).as_deref(), Some("approved"));
    let shown = String::from_utf8(rollcall(&["member", "show", "--dir", &laptop, &member]).stdout).expect("utf-8");
    assert!(shown.contains("取消预备党员资格 · 已审批"), "{shown}");
    wait_until("the province to count the disposition", CONVERGE_DEADLINE, || {
        let table = rollcall_json(&["table", "3", "--node-dir", &province.dir_arg()]);
        table["rows"][0]["cells"][1] == 1
    });
    for node in [branch, college, university, province] {
        if let Some(process) = node.process {
            assert!(process.stop(), "{} stopped cleanly", node.unit);
        }
    }
}
