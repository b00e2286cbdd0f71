//! A hand-computed branch of twelve members (issue 13), run through the CLI on four real
//! nodes (branch, college, university, province), as a branch secretary and a college
//! official would. Every expected cell below was worked out by hand from the notice and
//! FORMS.md for the campaign as of 2026-03-31, member by member (the comment beside each
//! member says what the notice makes of it); none was produced by the code.
//!
//! | member  | group   | category | what was recorded                                   | counts as |
//! |---------|---------|----------|-----------------------------------------------------|-----------|
//! | 张一    | 教职工  | 正式     | five checks, form confirmed, checked and re-checked | 已核查, 已签字确认, 已复核 |
//! | 王二    | 教职工  | 正式     | five checks (archive lacks 转正申请书), form signed  | 已核查, 档案不全, 已签字确认 |
//! | 李三    | 教职工  | 预备     | phone corrected, archive, flowing with card, conduct | 已核查, 信息已更正, 流动 (持证) |
//! | 赵四    | 离退休  | 正式     | lost since 2025-06-01 (9 months), 居住地改变, 2 attempts | 仍失联, 6个月以上不满1年 |
//! | 钱五    | 离退休  | 正式     | lost since 2019-12-01 (6 years 3 months), 出国（境） | 仍失联, 6年至10年 |
//! | 孙六    | 毕业生  | 正式     | lost since 2022-07-01, found 2026-03-01, 纳入组织管理 | 取得联系 (本年), 表3 纳入 |
//! | 周七    | 在校生  | 预备     | lost since 2024-11-20 (16 months), 其他; 取消预备党员资格 approved | 仍失联, 1年至5年, 表3 取消预备 |
//! | 吴八    | 其他    | 正式     | lost since 2014-05-01 (11 years 10 months), 外出务工经商 | 仍失联, 11年及以上, 情形“其他” |
//! | 郑九    | 教职工  | 正式     | letter out 2025-06-01, valid to 2025-09-01, no receipt | 口袋党员 |
//! | 冯十    | 教职工  | 正式     | lost since 2025-01-10, found 2026-02-01, 保留组织关系 | 取得联系 (本年), 保留 |
//! | 陈十一  | 离退休  | 正式     | five checks, archive: 违规入党, form signed          | 已核查, 疑似违规入党, 已签字确认 |
//! | 褚十二  | 毕业生  | 预备     | in contact (2026-02-01)                              | members only |

use std::collections::HashMap;
use std::time::Duration;

use rollcall_tests::{ClusterNode, rollcall, rollcall_json, start_child, start_root, wait_until};
use serde_json::{Value, json};

const CONVERGE: Duration = Duration::from_secs(60);

fn ok(args: &[&str]) -> String {
    let output = rollcall(args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

/// One member's row of the form: (name, id17, birth, category, group, joined, full member on).
type Person = (&'static str, &'static str, &'static str, &'static str, &'static str, &'static str, &'static str);

const PEOPLE: [Person; 12] = [
    ("张一", "42010219800101001", "1980-01-01", "正式党员", "教职工", "2005-07-01", "2006-07-01"),
    ("王二", "42010219810202002", "1981-02-02", "正式党员", "教职工", "2005-07-01", "2006-07-01"),
    ("李三", "42010220000303003", "2000-03-03", "预备党员", "教职工", "2025-09-01", ""),
    ("赵四", "42010219500404004", "1950-04-04", "正式党员", "离退休人员", "2005-07-01", "2006-07-01"),
    ("钱五", "42010219550505005", "1955-05-05", "正式党员", "离退休人员", "2005-07-01", "2006-07-01"),
    ("孙六", "42010219980606006", "1998-06-06", "正式党员", "高校毕业生", "2018-05-01", "2019-05-01"),
    ("周七", "42010220030707007", "2003-07-07", "预备党员", "在校学生", "2024-06-01", ""),
    ("吴八", "42010219700808008", "1970-08-08", "正式党员", "其他", "2005-07-01", "2006-07-01"),
    ("郑九", "42010219750909009", "1975-09-09", "正式党员", "教职工", "2005-07-01", "2006-07-01"),
    ("冯十", "42010219851010010", "1985-10-10", "正式党员", "教职工", "2005-07-01", "2006-07-01"),
    ("陈十一", "42010219451111011", "1945-11-11", "正式党员", "离退休人员", "2005-07-01", "2006-07-01"),
    ("褚十二", "42010220011212012", "2001-12-12", "预备党员", "高校毕业生", "2025-10-01", ""),
];

/// A table's cells as JSON rows (`null` blank).
fn cells(node: &ClusterNode, table: &str) -> Vec<Value> {
    let table = rollcall_json(&["table", table, "--node-dir", &node.dir_arg()]);
    table["rows"].as_array().expect("rows").iter().map(|row| row["cells"].clone()).collect()
}

fn register(node: &ClusterNode, which: &str) -> Vec<Vec<String>> {
    let register = rollcall_json(&["register", which, "--node-dir", &node.dir_arg()]);
    register["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("cells")
                .iter()
                .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
                .collect()
        })
        .collect()
}

/// A JSON row from a compact notation: numbers, `N` for blank.
macro_rules! row {
    ($($cell:tt),* $(,)?) => { json!([$(row!(@cell $cell)),*]) };
    (@cell N) => { Value::Null };
    (@cell $value:literal) => { json!($value) };
}

#[test]
fn a_hand_computed_branch_through_four_levels() {
    let base = tempfile::tempdir().expect("temp dir");
    let hb = start_root(base.path(), "hb");
    let u1 = start_child(base.path(), &hb, "hb/u1");
    let c1 = start_child(base.path(), &u1, "hb/u1/c1");
    let b1 = start_child(base.path(), &c1, "hb/u1/c1/b1");
    let (branch, college) = (b1.dir_arg(), c1.dir_arg());
    ok(&[
        "unit",
        "name",
        "--node-dir",
        &hb.dir_arg(),
        "--unit",
        "hb/u1",
        "--name",
        "中共武汉大学委员会",
        "--short-name",
        "武汉大学党委",
        "--org-type",
        "611",
    ]);
    ok(&[
        "unit",
        "name",
        "--node-dir",
        &u1.dir_arg(),
        "--unit",
        "hb/u1/c1",
        "--name",
        "中共武汉大学计算机学院委员会",
        "--short-name",
        "计算机学院党委",
        "--org-type",
        "611",
    ]);
    ok(&[
        "unit",
        "name",
        "--node-dir",
        &college,
        "--unit",
        "hb/u1/c1/b1",
        "--name",
        "武汉大学计算机学院教工第一党支部",
        "--short-name",
        "教工第一党支部",
        "--org-type",
        "631",
    ]);
    ok(&["campaign-open", "--node-dir", &hb.dir_arg(), "--year", "2026", "--as-of", "2026-03-31"]);

    // The branch imports its twelve forms.
    let rows: Vec<Vec<String>> = PEOPLE
        .iter()
        .map(|(name, id17, birth, category, group, joined, full)| {
            let mut row = rollcall_tests::form_row(name, id17, birth, &b1.unit);
            row[6] = (*category).to_string();
            row[8] = (*joined).to_string();
            row[9] = (*full).to_string();
            row[18] = (*group).to_string();
            row
        })
        .collect();
    rollcall_tests::import_form(&b1, &base.path().join("登记表.csv"), &rows);
    let listed = rollcall_json(&["member", "list", "--node-dir", &branch]);
    let id: HashMap<String, String> = listed["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["name"].as_str().expect("name").to_string(), m["member_id"].as_str().expect("id").to_string()))
        .collect();
    assert_eq!(id.len(), 12);
    let at_branch = |args: &[&str]| {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--node-dir", &branch]);
        ok(&full)
    };
    let check = |kind: &str, who: &str, more: &[&str]| {
        let mut args = vec!["check", kind, "--member", &id[who]];
        args.extend(more);
        at_branch(&args)
    };
    let all_materials = [
        "--present",
        "application-form",
        "--present",
        "application-letter",
        "--present",
        "political-review",
        "--present",
        "full-membership",
        "--present",
        "training",
    ];
    let in_contact = |on: &'static str| ["--status", "in-contact", "--last-life", on, "--last-dues", on];
    let lost = |since: &'static str, situation: &'static str| {
        ["--status", "lost", "--last-life", since, "--last-dues", since, "--situation", situation]
    };
    let sign = |who: &str, stage: &str| at_branch(&["record", "signoff", "--member", &id[who], "--stage", stage]);

    // 张一: the five checks and the whole chain of the form.
    sign("张一", "member");
    sign("张一", "branch");
    check("archive", "张一", &all_materials);
    check("contact", "张一", &in_contact("2026-03-10"));
    check("conduct", "张一", &["--summary", "表现良好"]);
    ok(&["record", "signoff", "--node-dir", &college, "--member", &id["张一"], "--stage", "committee"]);
    // 王二: the five checks; the archive lacks the 转正申请书 a full member must have.
    sign("王二", "member");
    sign("王二", "branch");
    check(
        "archive",
        "王二",
        &[
            "--present",
            "application-form",
            "--present",
            "application-letter",
            "--present",
            "political-review",
            "--present",
            "training",
        ],
    );
    check("contact", "王二", &in_contact("2026-03-10"));
    check("conduct", "王二", &["--summary", "表现良好"]);
    // 李三: the roster checked by correcting the phone; a flowing member with a card.
    at_branch(&[
        "correct",
        "--unit",
        &b1.unit,
        "--member",
        &id["李三"],
        "--field",
        "联系电话",
        "--value",
        "13900000000",
        "--reason",
        "号码变更",
    ]);
    check(
        "archive",
        "李三",
        &[
            "--present",
            "application-form",
            "--present",
            "application-letter",
            "--present",
            "political-review",
            "--present",
            "training",
        ],
    );
    check(
        "contact",
        "李三",
        &[
            "--status",
            "flowing",
            "--last-life",
            "2026-03-05",
            "--last-dues",
            "2026-03-05",
            "--outflow-date",
            "2025-12-01",
            "--outflow-reason",
            "外出务工",
            "--destination",
            "广东/深圳/南山",
            "--card",
        ],
    );
    check("conduct", "李三", &["--summary", "流动期间表现正常"]);
    // 赵四, 钱五, 吴八: lost and still unreachable.
    check("contact", "赵四", &lost("2025-06-01", "residence"));
    at_branch(&["record", "attempt", "--member", &id["赵四"], "--method", "phone", "--on", "2026-03-02"]);
    at_branch(&["record", "attempt", "--member", &id["赵四"], "--method", "visit", "--on", "2026-03-09"]);
    check("contact", "钱五", &lost("2019-12-01", "abroad"));
    check("contact", "吴八", &lost("2014-05-01", "migrant-work"));
    // 孙六: lost, found this year, included in management.
    check("contact", "孙六", &lost("2022-07-01", "graduated"));
    at_branch(&[
        "record",
        "locate",
        "--member",
        &id["孙六"],
        "--cause",
        "graduated",
        "--attitude-correct",
        "--on",
        "2026-03-01",
    ]);
    at_branch(&["record", "action", "--member", &id["孙六"], "--kind", "include", "--on", "2026-03-02"]);
    // 冯十: lost abroad, found, the relation retained (application, college, university).
    check("contact", "冯十", &lost("2025-01-10", "abroad"));
    at_branch(&[
        "record",
        "locate",
        "--member",
        &id["冯十"],
        "--cause",
        "abroad",
        "--attitude-correct",
        "--on",
        "2026-02-01",
    ]);
    at_branch(&[
        "record",
        "action",
        "--member",
        &id["冯十"],
        "--kind",
        "retain",
        "--written-application",
        "--college-approved",
        "2026-02-10",
        "--university-registered",
        "2026-02-20",
        "--on",
        "2026-02-20",
    ]);
    // 郑九: a transfer letter without receipt, expired: a pocket member.
    check("transfer", "郑九", &["--out-on", "2025-06-01", "--to", "某市某局机关党委", "--valid-until", "2025-09-01"]);
    // 陈十一: the five checks; the archive review finds an irregular admission.
    sign("陈十一", "member");
    sign("陈十一", "branch");
    let mut irregular = all_materials.to_vec();
    irregular.push("--irregular");
    check("archive", "陈十一", &irregular);
    check("contact", "陈十一", &in_contact("2026-03-01"));
    check("conduct", "陈十一", &["--summary", "表现一般"]);
    // 褚十二: in contact, nothing else yet.
    check("contact", "褚十二", &in_contact("2026-02-01"));
    // 周七: lost; a probationary member's status cancelled through the whole procedure.
    check("contact", "周七", &lost("2024-11-20", "other"));
    let proposed = rollcall_json(&[
        "case",
        "propose",
        "--node-dir",
        &branch,
        "--member",
        &id["周七"],
        "--type",
        "cancel-probationary",
        "--trigger",
        "lost-case",
        "--facts",
        "预备期内失联，多方查找无果",
    ]);
    let case = proposed["case_id"].as_str().expect("case id").to_string();
    at_branch(&["case", "investigate", "--case", &case, "--report", "经查无法联系本人", "--unreachable"]);
    wait_until("the case reaches the college", CONVERGE, || {
        rollcall(&["case", "prereview", "--node-dir", &college, "--case", &case, "--opinion", "同意"]).status.success()
    });
    let stage_at = |node: &str| {
        rollcall_json(&["member", "show", "--node-dir", node, &id["周七"]])["cases"][0]["stage"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    wait_until("the pre-review reaches the branch", CONVERGE, || stage_at(&branch) == "pre_reviewed");
    at_branch(&["case", "vote", "--case", &case, "--total", "9", "--present", "8", "--for", "7", "--against", "1"]);
    wait_until("the vote reaches the college", CONVERGE, || stage_at(&college) == "voted");
    ok(&["case", "approve", "--node-dir", &college, "--case", &case, "--body", "计算机学院党委"]);

    // Everything reaches the province.
    wait_until("the province holds the branch's whole history", CONVERGE, || {
        let rollup = rollcall_json(&["rollup", "--node-dir", &hb.dir_arg()]);
        rollup["total"]["metrics"]["members"] == 12
            && rollup["total"]["metrics"]["forms_signed"] == 1
            && rollup["total"]["metrics"]["cancel_probationary"] == 1
    });

    // 表1 at the college: one row, the branch.
    // 党委 党总支 党支部 | 总数 正式 预备 | 已核查 更正 档案不全 违规 | 流动 持证 | 口袋 已解决 | 保留 | 排查出的 取得联系 仍失联 | 已签字确认 已复核
    let branch_row = row![N, N, 1, 12, 9, 3, 4, 1, 1, 1, 1, 1, 1, N, 1, 6, 2, 4, 3, 1];
    assert_eq!(cells(&c1, "1"), vec![branch_row.clone(), branch_row]);
    let table = rollcall_json(&["table", "1", "--node-dir", &college]);
    assert_eq!(table["rows"][1]["label"], "教工第一党支部");
    assert_eq!(table["unit_name"], "中共武汉大学计算机学院委员会");
    // At the university the row is the college (a 党委 and its branch); at the province,
    // the university (its 党委, the college's, the branch).
    let college_row = row![1, N, 1, 12, 9, 3, 4, 1, 1, 1, 1, 1, 1, N, 1, 6, 2, 4, 3, 1];
    assert_eq!(cells(&u1, "1"), vec![college_row.clone(), college_row]);
    let university_row = row![2, N, 1, 12, 9, 3, 4, 1, 1, 1, 1, 1, 1, N, 1, 6, 2, 4, 3, 1];
    assert_eq!(cells(&hb, "1"), vec![university_row.clone(), university_row]);

    // 表2: still unreachable as of 2026-03-31, by duration and situation; found this year.
    // 数量 | 6月-1年 1-5年 6-10年 11年+ | 离职 毕业 单位改变 出国 居住地 其他 | 本年取得联系
    let table_2 = vec![
        row![4, 1, 1, 1, 1, N, N, N, 1, 1, 2, 2], // 总计
        row![N, N, N, N, N, N, N, N, N, N, N, 1], // 教职工: 冯十 found
        row![2, 1, N, 1, N, N, N, N, 1, 1, N, N], // 离退休: 赵四, 钱五
        row![N, N, N, N, N, N, N, N, N, N, N, 1], // 高校毕业生: 孙六 found
        row![2, N, 1, N, 1, N, N, N, N, N, 2, N], // 其他: 周七 (在校), 吴八
    ];
    for node in [&c1, &u1, &hb] {
        assert_eq!(cells(node, "2"), table_2, "table 2 at {}", node.unit);
    }
    // 表3: 纳入组织管理 孙六, 取消预备党员资格 周七, 保留组织关系 冯十.
    let table_3 = vec![
        row![1, 1, 1, N, N, N, N, N, N, N],
        row![N, N, 1, N, N, N, N, N, N, N],
        row![N, N, N, N, N, N, N, N, N, N],
        row![1, N, N, N, N, N, N, N, N, N],
        row![N, 1, N, N, N, N, N, N, N, N],
    ];
    for node in [&c1, &u1, &hb] {
        assert_eq!(cells(node, "3"), table_3, "table 3 at {}", node.unit);
    }

    // The registers, with FORMS.md's columns: 序号 姓名 性别 出生年月 公民身份证号 (masked)
    // 入党时间 人员类别 身份 所在党支部 失去联系时间 失去联系情形 查找方式及次数
    // [取得联系时间] 规范管理或组织处置情况 备注. 在校学生 is 其他 on the form.
    let masked = |name: &str| {
        let id17 = PEOPLE.iter().find(|p| p.0 == name).expect("person").1;
        rollcall_core::audit::tables::mask_id_number(&rollcall_tests::id_number(id17))
    };
    let line = |cells: &[&str]| cells.iter().map(|c| (*c).to_string()).collect::<Vec<_>>();
    let branch_name = "教工第一党支部";
    assert_eq!(
        register(&c1, "still-lost"),
        vec![
            line(&[
                "1",
                "吴八",
                "女",
                "1970年8月",
                &masked("吴八"),
                "2005年7月",
                "正式党员",
                "其他",
                branch_name,
                "2014年5月至2026年3月",
                "①外出务工经商",
                "",
                "",
                ""
            ]),
            line(&[
                "2",
                "周七",
                "男",
                "2003年7月",
                &masked("周七"),
                "2024年6月",
                "预备党员",
                "其他",
                branch_name,
                "2024年11月至2026年3月",
                "⑦其他",
                "",
                "取消预备党员资格（已审批）",
                ""
            ]),
            line(&[
                "3",
                "赵四",
                "女",
                "1950年4月",
                &masked("赵四"),
                "2005年7月",
                "正式党员",
                "离退休人员",
                branch_name,
                "2025年6月至2026年3月",
                "⑥居住地改变",
                "电话1次、登门走访1次；共2次",
                "",
                ""
            ]),
            line(&[
                "4",
                "钱五",
                "男",
                "1955年5月",
                &masked("钱五"),
                "2005年7月",
                "正式党员",
                "离退休人员",
                branch_name,
                "2019年12月至2026年3月",
                "⑤出国（境）",
                "",
                "",
                ""
            ]),
        ]
    );
    assert_eq!(
        register(&hb, "found"),
        vec![
            line(&[
                "1",
                "冯十",
                "女",
                "1985年10月",
                &masked("冯十"),
                "2005年7月",
                "正式党员",
                "教职工",
                branch_name,
                "2025年1月至2026年2月",
                "⑤出国（境）",
                "",
                "2026年2月1日",
                "保留组织关系",
                ""
            ]),
            line(&[
                "2",
                "孙六",
                "女",
                "1998年6月",
                &masked("孙六"),
                "2018年5月",
                "正式党员",
                "高校毕业生",
                branch_name,
                "2022年7月至2026年3月",
                "③毕业后去向不明",
                "",
                "2026年3月1日",
                "纳入组织管理",
                ""
            ]),
        ]
    );
    // The full ID number only for the node's operator who asks for it.
    let full = rollcall_json(&["register", "still-lost", "--node-dir", &college, "--show-personal"]);
    assert_eq!(full["rows"][0][4], rollcall_tests::id_number("42010219700808008"));
}
