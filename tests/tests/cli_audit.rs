//! The CLI of the audit on an embedded node (a node directory used with `--dir`, as on
//! a laptop): golden human and JSON output of the main commands, the XLSX round trip
//! (form written by a spreadsheet library → import → table 2 exported → read back with
//! calamine, every cell compared with numbers written by hand), and bad input — each
//! rejected with a precise message and nothing written.
//!
//! `UPDATE_GOLDEN=1` rewrites the golden files in `tests/golden/` (review the diff).

use std::path::{Path, PathBuf};

use rollcall_tests::{init_node, rollcall, rollcall_json};

use rollcall_client::import::FORM_HEADERS as HEADERS;

fn id_number(first17: &str) -> String {
    format!("{first17}{}", rollcall_core::audit::rules::id_check_digit(first17))
}

/// Six members in two branches of two colleges (the dataset of the golden tables).
fn rows() -> Vec<Vec<String>> {
    let row = |name: &str,
               gender: &str,
               id17: &str,
               birth: &str,
               category: &str,
               branch: &str,
               lost: &str,
               since: &str,
               group: &str| {
        vec![
            name,
            gender,
            "汉族",
            &id_number(id17),
            birth,
            "大学本科",
            category,
            branch,
            "2005-07-01",
            if category == "正式党员" { "2006-07-01" } else { "" },
            "",
            "13800000000",
            "湖北省武汉市",
            "正常",
            lost,
            since,
            "否",
            "",
            group,
        ]
        .into_iter()
        .map(str::to_string)
        .collect()
    };
    vec![
        row("张一", "男", "42010219800101001", "1980-01-01", "正式党员", "hb/u1/c1/b1", "是", "2023-01-10", "教职工"),
        row(
            "王二",
            "女",
            "42010219500202002",
            "1950-02-02",
            "正式党员",
            "hb/u1/c1/b1",
            "是",
            "2010-05-01",
            "离退休人员",
        ),
        row(
            "李三",
            "男",
            "42010219850303003",
            "1985-03-03",
            "正式党员",
            "hb/u1/c2/b2",
            "是",
            "2024-07-01",
            "高校毕业生",
        ),
        row("赵四", "女", "42010219860404004", "1986-04-04", "正式党员", "hb/u1/c2/b2", "是", "2018-02-01", "在校学生"),
        row("钱五", "男", "42010219870505005", "1987-05-05", "正式党员", "hb/u1/c2/b2", "否", "", "教职工"),
        row("孙六", "女", "42010219860606006", "1986-06-06", "预备党员", "hb/u1/c1/b1", "否", "", "教职工"),
    ]
}

fn write_xlsx(path: &Path, headers: &[&str], rows: &[Vec<String>]) {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 0, "党员基本情况登记表").expect("title");
    for (column, header) in headers.iter().enumerate() {
        sheet.write_string(1, column as u16, *header).expect("header");
    }
    for (index, row) in rows.iter().enumerate() {
        for (column, value) in row.iter().enumerate() {
            sheet.write_string(2 + index as u32, column as u16, value).expect("cell");
        }
    }
    workbook.save(path).expect("save xlsx");
}

struct Fixture {
    _base: tempfile::TempDir,
    dir: String,
    base: PathBuf,
}

fn fixture() -> Fixture {
    let base = tempfile::tempdir().expect("temp dir");
    let node = base.path().join("hb");
    init_node(&node, "hb", "province");
    Fixture { dir: node.display().to_string(), base: base.path().to_path_buf(), _base: base }
}

fn ok(args: &[&str]) -> String {
    let output = rollcall(args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The dataset loaded through the CLI as a person would: campaign, form import, checks.
fn loaded() -> Fixture {
    let f = fixture();
    ok(&["campaign-open", "--dir", &f.dir, "--year", "2026", "--as-of", "2026-03-31"]);
    let form = f.base.join("登记表.xlsx");
    write_xlsx(&form, &HEADERS, &rows());
    let imported = rollcall_json(&["import", "members", form.to_str().expect("path"), "--dir", &f.dir]);
    assert_eq!(imported["imported"], 6, "{imported}");
    let member = |id17: &str| rollcall_client::import::member_id_for(&id_number(id17));
    let (zhang, wang, li, zhao) = (
        member("42010219800101001"),
        member("42010219500202002"),
        member("42010219850303003"),
        member("42010219860404004"),
    );
    for (id, since, situation) in
        [(&zhang, "2023-01-10", "left-job"), (&wang, "2010-05-01", "residence"), (&zhao, "2018-02-01", "abroad")]
    {
        ok(&[
            "check",
            "contact",
            "--dir",
            &f.dir,
            "--member",
            id,
            "--status",
            "lost",
            "--last-life",
            since,
            "--last-dues",
            since,
            "--situation",
            situation,
        ]);
    }
    ok(&["record", "attempt", "--dir", &f.dir, "--member", &li, "--method", "phone", "--on", "2026-02-01"]);
    ok(&[
        "record",
        "locate",
        "--dir",
        &f.dir,
        "--member",
        &li,
        "--cause",
        "graduated",
        "--attitude-correct",
        "--on",
        "2026-03-01",
    ]);
    ok(&["record", "action", "--dir", &f.dir, "--member", &li, "--kind", "include", "--on", "2026-03-02"]);
    // The campaign as an official reads it: name, as-of date, the four deadlines, the rules.
    let shown = ok(&["campaign-show", "--dir", &f.dir]);
    for expected in [
        "统计截止日期：2026-03-31",
        "2026-04-15",
        "2026-08-31",
        "适用政策（通知的规定）",
        "自行脱党除名所需查找次数：3",
    ] {
        assert!(shown.contains(expected), "{expected:?} in {shown}");
    }
    // The sign-off chain is recorded at the branch and the college (tests/body_authority.rs);
    // this province node records neither.
    let refused = rollcall(&["record", "signoff", "--dir", &f.dir, "--member", &zhang, "--stage", "committee"]);
    assert!(!refused.status.success(), "a province node does not sign a member's form");
    f
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

#[test]
fn golden_outputs_of_the_main_commands() {
    let f = loaded();
    golden("table2.zh.txt", &ok(&["table", "2", "--dir", &f.dir]));
    golden("table2.en.txt", &ok(&["--lang", "en", "table", "2", "--dir", &f.dir]));
    golden("table1.zh.txt", &ok(&["table", "1", "--dir", &f.dir, "--unit", "hb/u1"]));
    golden("table3.json", &ok(&["table", "3", "--dir", &f.dir, "--json"]));
    golden("rollup.zh.txt", &ok(&["rollup", "--dir", &f.dir]));
    golden("members-lost.zh.txt", &ok(&["member", "list", "--dir", &f.dir, "--lost"]));
    golden("register-still-lost.zh.txt", &ok(&["register", "still-lost", "--dir", &f.dir]));
    // A refusal: its message on stderr, exit code 1, nothing on stdout.
    let zhang = rollcall_client::import::member_id_for(&id_number("42010219800101001"));
    let output = rollcall(&[
        "case",
        "propose",
        "--dir",
        &f.dir,
        "--member",
        &zhang,
        "--type",
        "self-separation",
        "--trigger",
        "lost-case",
        "--facts",
        "失联",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    golden("refusal.zh.txt", &String::from_utf8_lossy(&output.stderr));
    let output =
        rollcall(&["--lang", "en", "record", "attempt", "--dir", &f.dir, "--member", &zhang, "--method", "department"]);
    assert_eq!(output.status.code(), Some(1));
    golden("refusal.en.txt", &String::from_utf8_lossy(&output.stderr));
}

#[test]
fn table_2_round_trips_through_xlsx() {
    let f = loaded();
    let out = f.base.join("表2.xlsx");
    ok(&["table", "2", "--dir", &f.dir, "--out", out.to_str().expect("path")]);
    use calamine::{Data, Reader};
    let mut workbook = calamine::open_workbook_auto(&out).expect("open exported xlsx");
    let range = workbook.worksheet_range_at(0).expect("a sheet").expect("readable");
    let cell = |row: u32, column: u32| -> Option<i64> {
        match range.get_value((row, column)) {
            Some(Data::Float(value)) => Some(*value as i64),
            Some(Data::Int(value)) => Some(*value),
            Some(Data::Empty) | None => None,
            Some(other) => panic!("unexpected cell ({row},{column}): {other:?}"),
        }
    };
    let text = |row: u32, column: u32| range.get_value((row, column)).map(ToString::to_string).unwrap_or_default();
    assert!(text(0, 0).contains("与党组织失去联系党员情况汇总表"));
    assert_eq!(text(1, 0), "填报单位（盖章）：hb");
    assert!((0..14).any(|c| text(1, c) == "统计截止日期：2026年3月31日"), "the as-of date on the unit's line");
    assert_eq!(text(2, 2), "截止2026年3月31日未取得联系党员数量");
    let labels: Vec<String> = (5..10).map(|row| text(row, 0)).collect();
    assert_eq!(labels, ["总计", "教职工（含解除劳动关系的）", "离退休人员", "高校毕业生", "其他"]);
    // Written by hand: still lost 张一 (staff, 38 months, left job), 王二 (retired, 190
    // months, residence), 赵四 (student → 其他, 97 months, abroad); 李三 found in 2026.
    //            still  6m-1y 1-5y 6-10y 11+  离职 毕业 单位 出国 居住 其他 本年找回
    let n = None;
    let expected: [[Option<i64>; 12]; 5] = [
        [Some(3), n, Some(1), Some(1), Some(1), Some(1), n, n, Some(1), Some(1), n, Some(1)],
        [Some(1), n, Some(1), n, n, Some(1), n, n, n, n, n, n],
        [Some(1), n, n, n, Some(1), n, n, n, n, Some(1), n, n],
        [n, n, n, n, n, n, n, n, n, n, n, Some(1)],
        [Some(1), n, n, Some(1), n, n, n, n, Some(1), n, n, n],
    ];
    for (row, values) in expected.iter().enumerate() {
        for (column, value) in values.iter().enumerate() {
            assert_eq!(cell(5 + row as u32, 2 + column as u32), *value, "row {row} column {column}");
        }
    }
    // CSV as well, with a BOM so Excel reads the Chinese.
    let csv = f.base.join("表2.csv");
    ok(&["table", "2", "--dir", &f.dir, "--out", csv.to_str().expect("path")]);
    let bytes = std::fs::read(&csv).expect("csv");
    assert!(bytes.starts_with("\u{feff}".as_bytes()));
    assert!(String::from_utf8(bytes).expect("utf-8").contains("总计,01,3,,1,1,1,1,,,1,1,,1"));
}

fn member_count(f: &Fixture) -> u64 {
    rollcall_json(&["member", "list", "--dir", &f.dir])["total"].as_u64().expect("total")
}

#[test]
fn bad_input_is_refused_precisely_and_nothing_is_written() {
    let f = fixture();
    let import = |file: &Path| rollcall(&["import", "members", file.to_str().expect("path"), "--dir", &f.dir]);
    let stderr = |output: &std::process::Output| String::from_utf8_lossy(&output.stderr).to_string();
    let mut cases: Vec<(&str, PathBuf, Vec<&str>)> = Vec::new();

    let wrong_header = f.base.join("wrong-header.xlsx");
    let mut headers = HEADERS.to_vec();
    headers[3] = "证件号";
    write_xlsx(&wrong_header, &headers, &rows());
    cases.push(("wrong header", wrong_header, vec!["表头中没有“公民身份证号”列"]));

    let bad_id = f.base.join("bad-id.xlsx");
    let mut data = rows();
    let id = data[1][3].clone();
    data[1][3] = format!("{}{}", &id[..17], if id.ends_with('0') { '1' } else { '0' });
    write_xlsx(&bad_id, &HEADERS, &data);
    cases.push(("invalid ID", bad_id, vec!["第4行 D列（公民身份证号）：公民身份证号无效（校验位不符）"]));

    let future = f.base.join("future.xlsx");
    let mut data = rows();
    data[0][8] = "2099-07-01".into();
    write_xlsx(&future, &HEADERS, &data);
    cases.push(("date in the future", future, vec!["第3行 I列（加入党组织日期）：日期 2099-07-01 晚于今天"]));

    // Cells that contradict each other, each named by row and column.
    let contradictions = f.base.join("contradictions.xlsx");
    let mut data = rows();
    data[0][1] = "女".into(); // 张一's ID number ends its serial in 1: a man.
    data[5][9] = "2007-07-01".into(); // 孙六 is probationary.
    data[2][8] = "2002-07-01".into(); // 李三, born 1985-03-03, would have joined at 17.
    write_xlsx(&contradictions, &HEADERS, &data);
    cases.push((
        "contradicting cells",
        contradictions,
        vec![
            "第3行 B列（性别）：与身份证号第17位（1，奇数为男、偶数为女）不一致",
            "第8行 J列（转为正式党员日期）：预备党员不应有转为正式党员日期",
            "第5行 I列（加入党组织日期）：入党时未满18周岁（出生 1985-03-03，入党 2002-07-01）",
        ],
    ));

    let duplicate = f.base.join("duplicate.xlsx");
    let mut data = rows();
    data.push(data[0].clone());
    write_xlsx(&duplicate, &HEADERS, &data);
    cases.push(("duplicated member", duplicate, vec!["第9行 D列（公民身份证号）：与第3行为同一人（身份证号重复）"]));

    let empty = f.base.join("empty.csv");
    std::fs::write(&empty, "").expect("write");
    cases.push(("empty file", empty, vec!["文件为空"]));

    let only_header = f.base.join("only-header.xlsx");
    write_xlsx(&only_header, &HEADERS, &[]);
    cases.push(("no rows", only_header, vec!["文件为空"]));

    let renamed = f.base.join("not-really.xlsx");
    std::fs::write(&renamed, "姓名,性别\n张三,男\n").expect("write");
    cases.push(("not an XLSX file", renamed, vec!["无法读取", "not a valid spreadsheet"]));

    for (name, file, expected) in &cases {
        let output = import(file);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", stderr(&output));
        for text in expected {
            assert!(stderr(&output).contains(text), "{name}: expected {text:?} in {}", stderr(&output));
        }
        assert_eq!(member_count(&f), 0, "{name}: nothing written");
    }
    let some_bad = f.base.join("bad-id.xlsx");
    let report =
        rollcall_json(&["import", "members", some_bad.to_str().expect("path"), "--dir", &f.dir, "--skip-invalid"]);
    assert_eq!(report["imported"], 5, "{report}");
    assert_eq!(report["skipped"][0]["row"], 4, "{report}");
    assert_eq!(member_count(&f), 5);
    // Importing the same people again is a duplicate, named by row, and writes nothing.
    let good = f.base.join("good.xlsx");
    write_xlsx(&good, &HEADERS, &rows());
    let output = import(&good);
    assert!(stderr(&output).contains("第3行 D列（公民身份证号）：该党员已登记（重复导入）"), "{}", stderr(&output));
    assert_eq!(member_count(&f), 5);

    // Dates after the campaign's as-of date (but not in the future), each named.
    let g = fixture();
    ok(&["campaign-open", "--dir", &g.dir, "--year", "2026", "--as-of", "2026-03-31"]);
    let late = g.base.join("late.xlsx");
    let mut data = rows();
    data[0][8] = "2026-05-01".into();
    data[1][9] = "2026-06-01".into();
    write_xlsx(&late, &HEADERS, &data);
    let output = rollcall(&["import", "members", late.to_str().expect("path"), "--dir", &g.dir]);
    assert_eq!(output.status.code(), Some(1));
    for text in [
        "第3行 I列（加入党组织日期）：2026-05-01 晚于本次排查的统计截止日期 2026-03-31（截至该日尚未入党）",
        "第4行 J列（转为正式党员日期）：2026-06-01 晚于本次排查的统计截止日期 2026-03-31",
    ] {
        assert!(stderr(&output).contains(text), "expected {text:?} in {}", stderr(&output));
    }
    assert_eq!(member_count(&g), 0, "nothing written");
}

#[test]
fn statistics_database_discrepancies_are_found_and_resolved() {
    let f = loaded();
    let export = f.base.join("统计库.csv");
    let mut data = rows();
    data[0][4] = "1980-01-02".into(); // 出生日期 differs for 张一
    data[4][11] = "13900000000".into(); // 联系电话 differs for 钱五
    let mut text = String::from("\u{feff}");
    text.push_str(&HEADERS.join(","));
    text.push('\n');
    for row in &data {
        text.push_str(&row.join(","));
        text.push('\n');
    }
    std::fs::write(&export, text).expect("write");
    let report = rollcall_json(&["import", "statsdb", export.to_str().expect("path"), "--dir", &f.dir]);
    assert_eq!(report["discrepancies"], 2, "{report}");
    let listed = rollcall_json(&["statsdb", "list", "--dir", &f.dir]);
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    let zhang = rollcall_client::import::member_id_for(&id_number("42010219800101001"));
    ok(&[
        "statsdb",
        "resolve",
        "--dir",
        &f.dir,
        "--member",
        &zhang,
        "--field",
        "出生日期",
        "--resolution",
        "form-correct",
    ]);
    let listed = rollcall_json(&["statsdb", "list", "--dir", &f.dir]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let qian = rollcall_client::import::member_id_for(&id_number("42010219870505005"));
    ok(&["statsdb", "resolve", "--dir", &f.dir, "--member", &qian, "--field", "phone", "--resolution", "db-correct"]);
    assert_eq!(rollcall_json(&["statsdb", "list", "--dir", &f.dir]).as_array().map(Vec::len), Some(0));
    let shown = ok(&["member", "show", "--dir", &f.dir, &qian]);
    assert!(shown.contains("139****0000"), "the form now holds the database's phone (masked): {shown}");
}

#[test]
fn the_laptop_directory_is_the_default_node() {
    let f = loaded();
    let output = std::process::Command::new(rollcall_tests::bin("rollcall"))
        .args(["member", "list", "--json"])
        .env("ROLLCALL_DIR", &f.dir)
        .output()
        .expect("run rollcall");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(listed["total"], 6);
    let output = std::process::Command::new(rollcall_tests::bin("rollcall"))
        .args(["member", "list"])
        .env("ROLLCALL_DIR", f.base.join("nowhere"))
        .output()
        .expect("run rollcall");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("先 rollcall init"));
}

/// Goal (issue 14): the messages a secretary reads, in Chinese and English, as a person
/// would write them.
#[test]
fn messages_read_as_a_person_would_write_them() {
    let f = fixture();
    // campaign-open says what it opened (in English too, on another node).
    let g = fixture();
    let opened = ok(&["--lang", "en", "campaign-open", "--dir", &g.dir, "--year", "2026", "--as-of", "2026-03-31"]);
    assert!(
        opened.contains("campaign opened.")
            && opened.contains("as of: 2026-03-31")
            && opened.contains("policy in force"),
        "{opened}"
    );
    // campaign-open says what it opened.
    let opened = ok(&["campaign-open", "--dir", &f.dir, "--year", "2026", "--as-of", "2026-03-31"]);
    for expected in
        ["已开启排查工作。", "2026年党员组织关系集中排查", "统计截止日期：2026-03-31", "2026-04-15  高校报送表1-3"]
    {
        assert!(opened.contains(expected), "{expected:?} in {opened}");
    }
    let form = f.base.join("登记表.xlsx");
    write_xlsx(&form, &HEADERS, &rows());
    ok(&["import", "members", form.to_str().expect("path"), "--dir", &f.dir]);
    let zhang = rollcall_client::import::member_id_for(&id_number("42010219800101001"));
    // One step refused: no "第1条" / "draft 0" in front of the reason.
    let refused = rollcall(&["record", "attempt", "--dir", &f.dir, "--member", &zhang, "--method", "department"]);
    let refusal = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(refusal.contains("通过部门查找时须注明部门") && !refusal.contains("第1条"), "{refusal}");
    let refused =
        rollcall(&["--lang", "en", "record", "attempt", "--dir", &f.dir, "--member", &zhang, "--method", "department"]);
    let refusal = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(refusal.contains("must name the department") && !refusal.contains("draft 0"), "{refusal}");
    // One method, one attempt: singular in English.
    ok(&["record", "attempt", "--dir", &f.dir, "--member", &zhang, "--method", "phone", "--on", "2026-03-02"]);
    let shown = ok(&["--lang", "en", "member", "show", "--dir", &f.dir, &zhang]);
    assert!(shown.contains("contact attempts: 1 (1 method)"), "{shown}");
    let shown = ok(&["member", "show", "--dir", &f.dir, &zhang]);
    assert!(shown.contains("查找记录: 1 次（1 种方式）"), "{shown}");
    // --json masks the ID number like the text, unless asked.
    let masked = rollcall_json(&["member", "show", "--dir", &f.dir, &zhang]);
    assert_eq!(masked["id_number"].as_str().map(|id| id.contains("********")), Some(true), "{masked}");
    let full = rollcall_json(&["member", "show", "--dir", &f.dir, &zhang, "--show-personal"]);
    assert_eq!(full["id_number"], id_number("42010219800101001"));
    // Enrolling a laptop says what to run on the laptop, in Chinese.
    let laptop = f.base.join("laptop");
    ok(&["init", "--dir", laptop.to_str().expect("path"), "--unit", "hb/u1/c1/b1"]);
    let key = std::fs::read_to_string(laptop.join("replica.pub")).expect("key");
    let bundle = f.base.join("laptop.bundle");
    let node = rollcall_tests::NodeProcess::start(Path::new(&f.dir));
    let enrolled = ok(&[
        "enroll",
        "--node-dir",
        &f.dir,
        "--child-key",
        key.trim(),
        "--unit",
        "hb/u1/c1/b1",
        "--role",
        "laptop",
        "--out",
        bundle.to_str().expect("path"),
    ]);
    drop(node);
    assert!(
        enrolled.contains("（笔记本）") && enrolled.contains("在该笔记本上执行：rollcall join --dir ~/.rollcall"),
        "{enrolled}"
    );
    assert!(!enrolled.contains("rollcall-node join") && !enrolled.contains("(laptop)"), "{enrolled}");
    let laptop_en = f.base.join("laptop-en");
    ok(&["init", "--dir", laptop_en.to_str().expect("path"), "--unit", "hb/u1/c1/b1"]);
    let key = std::fs::read_to_string(laptop_en.join("replica.pub")).expect("key");
    let node = rollcall_tests::NodeProcess::start(Path::new(&f.dir));
    let enrolled = ok(&[
        "--lang",
        "en",
        "enroll",
        "--node-dir",
        &f.dir,
        "--child-key",
        key.trim(),
        "--unit",
        "hb/u1/c1/b1",
        "--role",
        "laptop",
        "--out",
        f.base.join("laptop-en.bundle").to_str().expect("path"),
    ]);
    drop(node);
    assert!(
        enrolled.contains("(laptop)") && enrolled.contains("on the laptop run: rollcall join --dir ~/.rollcall"),
        "{enrolled}"
    );
}
