//! The exported forms as an organisation department prints them (issue 14): the XLSX
//! structure read back (sheet names, merged grouped headings, the 栏次 row, numbers as
//! numbers, the foot, print settings), each form opened and printed by a real
//! spreadsheet program (LibreOffice, headless) and its pages counted and read
//! (`pdfinfo`, `pdftotext`), and the blank per-member form filled in and imported.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use calamine::{Data, Reader};
use rollcall_tests::{id_number, init_node, rollcall, rollcall_json};

struct Province {
    dir: String,
    base: PathBuf,
    _temp: tempfile::TempDir,
}

fn ok(args: &[&str]) -> String {
    let output = rollcall(args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

/// A province node holding one college with three named branches of generated members.
fn province() -> Province {
    let temp = tempfile::tempdir().expect("temp dir");
    let node = temp.path().join("hb");
    init_node(&node, "hb", "province");
    let dir = node.display().to_string();
    ok(&["campaign-open", "--dir", &dir, "--year", "2026", "--as-of", "2026-03-31"]);
    ok(&[
        "unit",
        "name",
        "--dir",
        &dir,
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
        "--dir",
        &dir,
        "--unit",
        "hb/u1/c1",
        "--name",
        "中共武汉大学计算机学院委员会",
        "--short-name",
        "计算机学院党委",
        "--org-type",
        "611",
    ]);
    for (branch, name, seed) in
        [("b1", "教工第一党支部", "1"), ("b2", "本科生第一党支部", "2"), ("b3", "研究生第一党支部", "3")]
    {
        let unit = format!("hb/u1/c1/{branch}");
        ok(&[
            "unit",
            "name",
            "--dir",
            &dir,
            "--unit",
            &unit,
            "--name",
            &format!("计算机学院{name}"),
            "--short-name",
            name,
            "--org-type",
            "631",
        ]);
        ok(&["append-sample", "--dir", &dir, "--unit", &unit, "--members", "40", "--seed", seed]);
    }
    Province { dir, base: temp.path().to_path_buf(), _temp: temp }
}

fn zip_entry(path: &Path, name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).expect("open")).expect("zip");
    let mut text = String::new();
    archive.by_name(name).expect(name).read_to_string(&mut text).expect("utf-8");
    text
}

fn export(p: &Province, args: &[&str], name: &str) -> PathBuf {
    let out = p.base.join(name);
    let mut all = args.to_vec();
    all.extend(["--dir", &p.dir, "--out", out.to_str().expect("path")]);
    ok(&all);
    out
}

#[test]
fn the_tables_are_laid_out_as_the_official_forms() {
    let p = province();
    let table_2 = export(&p, &["table", "2", "--unit", "hb/u1/c1"], "表2.xlsx");
    let workbook = zip_entry(&table_2, "xl/workbook.xml");
    assert!(workbook.contains(r#"name="表2""#), "the sheet is named after the table: {workbook}");
    assert!(
        workbook.contains("_xlnm.Print_Titles") && workbook.contains("$1:$5"),
        "title and headings repeat: {workbook}"
    );
    assert!(workbook.contains("_xlnm.Print_Area") && workbook.contains("$A$1:$N$"), "print area: {workbook}");
    let sheet = zip_entry(&table_2, "xl/worksheets/sheet1.xml");
    for expected in [
        r#"paperSize="9""#,
        r#"orientation="landscape""#,
        // Fit to one page wide and tall (1 and 1 are the defaults the file leaves out).
        r#"<pageSetUpPr fitToPage="1"/>"#,
        r#"ySplit="5""#,
        // 类别, 代码 and the first and last counts span both heading rows; the groups span
        // their columns (表四: 失去联系时间 2-5, 失去联系情形 6-11).
        r#"<mergeCell ref="A3:A4"/>"#,
        r#"<mergeCell ref="B3:B4"/>"#,
        r#"<mergeCell ref="C3:C4"/>"#,
        r#"<mergeCell ref="D3:G3"/>"#,
        r#"<mergeCell ref="H3:M3"/>"#,
        r#"<mergeCell ref="N3:N4"/>"#,
    ] {
        assert!(sheet.contains(expected), "{expected} in sheet1.xml");
    }
    assert!(!sheet.contains("fitToWidth") && !sheet.contains("fitToHeight"), "one page wide and tall");

    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&table_2).expect("xlsx");
    let range = book.worksheet_range("表2").expect("sheet 表2");
    let text = |row: u32, column: u32| range.get_value((row, column)).map(ToString::to_string).unwrap_or_default();
    assert_eq!(text(0, 0), "表2 与党组织失去联系党员情况汇总表");
    assert_eq!(text(1, 0), "填报单位（盖章）：中共武汉大学计算机学院委员会");
    assert!(text(1, 7).contains("统计截止日期：2026年3月31日"), "{}", text(1, 7));
    assert_eq!(text(2, 2), "截止2026年3月31日未取得联系党员数量");
    assert_eq!(
        (text(2, 3), text(3, 3), text(3, 6)),
        ("失去联系时间".into(), "6个月以上不满1年".into(), "11年及以上".into())
    );
    assert_eq!((text(2, 7), text(3, 7), text(3, 12)), ("失去联系情形".into(), "离职".into(), "其他".into()));
    assert_eq!(text(2, 13), "一年内已取得联系党员数量");
    let column_numbers: Vec<String> = (0..14).map(|c| text(4, c)).collect();
    assert_eq!(column_numbers, ["甲", "乙", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]);
    let labels: Vec<(String, String)> = (5..10).map(|r| (text(r, 0), text(r, 1))).collect();
    assert_eq!(
        labels,
        [
            ("总计", "01"),
            ("教职工（含解除劳动关系的）", "02"),
            ("离退休人员", "03"),
            ("高校毕业生", "04"),
            ("其他", "05")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // Counts are numbers, blanks are empty (never 0 or text), and they match the API.
    let api = rollcall_json(&["table", "2", "--dir", &p.dir, "--unit", "hb/u1/c1"]);
    for (row, expected) in api["rows"].as_array().expect("rows").iter().enumerate() {
        for (column, value) in expected["cells"].as_array().expect("cells").iter().enumerate() {
            let cell = range.get_value((5 + row as u32, 2 + column as u32));
            match (value.as_i64(), cell) {
                (Some(n), Some(Data::Float(f))) => assert_eq!(*f as i64, n),
                (None, None | Some(Data::Empty)) => {}
                (want, got) => panic!("row {row} column {column}: expected {want:?}, found {got:?}"),
            }
        }
    }
    assert!(text(11, 0).starts_with("填报人："), "the foot: {}", text(11, 0));
    assert!(
        text(11, 0).contains("审核人：") && text(11, 0).contains("联系电话：") && text(11, 0).contains("填报日期：")
    );

    // Table 1: rows by unit name, grouped headings as FORMS.md, the column definitions
    // on a 说明 sheet.
    let table_1 = export(&p, &["table", "1", "--unit", "hb/u1/c1"], "表1.xlsx");
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&table_1).expect("xlsx");
    assert_eq!(book.sheet_names(), ["表1", "说明"]);
    let range = book.worksheet_range("表1").expect("表1");
    let text = |row: u32, column: u32| range.get_value((row, column)).map(ToString::to_string).unwrap_or_default();
    let groups: Vec<String> = [2, 5, 8, 12, 14, 16, 17, 20].iter().map(|c| text(2, *c)).collect();
    assert_eq!(
        groups,
        ["党组织数", "党员数", "核查情况", "流动党员", "口袋党员", "保留组织关系", "失联党员", "登记表"]
    );
    let rows: Vec<String> = (6..9).map(|r| text(r, 0)).collect();
    assert_eq!(rows, ["教工第一党支部", "本科生第一党支部", "研究生第一党支部"], "branches by name, in path order");
    let legend = book.worksheet_range("说明").expect("说明");
    let legend_text: String = legend.rows().flatten().map(ToString::to_string).collect();
    assert!(legend_text.contains("五核查"), "the definition of 已核查: {legend_text}");

    // A register: 序号 as numbers, the ID number masked, the foot.
    let register = export(&p, &["register", "still-lost", "--unit", "hb/u1/c1"], "仍失联.xlsx");
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&register).expect("xlsx");
    let name = book.sheet_names()[0].clone();
    assert_eq!(name, "经查找仍然无法取得联系党员登记表");
    let range = book.worksheet_range(&name).expect("register");
    let headings: Vec<String> =
        (0..14).map(|c| range.get_value((2, c)).map(ToString::to_string).unwrap_or_default()).collect();
    assert_eq!(headings[0], "序号");
    assert_eq!(headings[4], "公民身份证号");
    assert_eq!(headings[6], "人员类别（正式党员/预备党员）");
    assert_eq!(headings[7], "身份（教职工/离退休人员/高校毕业生/其他）");
    assert_eq!(headings[11], "查找方式及次数");
    assert!(!headings.iter().any(|h| h == "取得联系时间"), "the still-lost register has no 取得联系时间");
    assert_eq!(range.get_value((3, 0)), Some(&Data::Float(1.0)), "序号 is a number");
    let id = range.get_value((3, 4)).map(ToString::to_string).unwrap_or_default();
    assert!(id.len() == 18 && id[6..14].chars().all(|c| c == '*'), "masked: {id}");
    let sheet = zip_entry(&register, "xl/worksheets/sheet1.xml");
    assert!(sheet.contains(r#"ySplit="3""#), "frozen under the headings");
    let workbook = zip_entry(&register, "xl/workbook.xml");
    assert!(workbook.contains("$1:$3"), "the headings repeat on every page: {workbook}");
}

/// Converts `files` to PDF with LibreOffice headless (its own profile, so tests may run
/// side by side) into `out`.
fn print_to_pdf(files: &[PathBuf], out: &Path) {
    let profile = out.join("profile");
    let mut command = Command::new("soffice");
    command
        .arg(format!("-env:UserInstallation=file://{}", profile.display()))
        .args(["--headless", "--convert-to", "pdf", "--outdir"])
        .arg(out)
        .args(files);
    let output = command.output().expect("soffice (installed by deploy/setup-tests.sh)");
    assert!(output.status.success(), "soffice: {}", String::from_utf8_lossy(&output.stderr));
}

fn pdf_pages(pdf: &Path) -> u32 {
    let info = Command::new("pdfinfo").arg(pdf).output().expect("pdfinfo (poppler-utils)");
    let text = String::from_utf8_lossy(&info.stdout).to_string();
    text.lines()
        .find_map(|line| line.strip_prefix("Pages:").map(|n| n.trim().parse().expect("a count")))
        .unwrap_or_else(|| panic!("no page count in {text}"))
}

fn pdf_page_text(pdf: &Path, page: u32) -> String {
    let output = Command::new("pdftotext")
        .args(["-f", &page.to_string(), "-l", &page.to_string(), "-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext");
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[test]
fn a_colleges_forms_print_on_one_page_each() {
    let p = province();
    let files = vec![
        export(&p, &["table", "1", "--unit", "hb/u1/c1"], "table1.xlsx"),
        export(&p, &["table", "2", "--unit", "hb/u1/c1"], "table2.xlsx"),
        export(&p, &["table", "3", "--unit", "hb/u1/c1"], "table3.xlsx"),
        export(&p, &["register", "still-lost", "--unit", "hb/u1/c1"], "still-lost.xlsx"),
        export(&p, &["register", "found", "--unit", "hb/u1/c1"], "found.xlsx"),
    ];
    let out = p.base.join("pdf");
    std::fs::create_dir_all(&out).expect("mkdir");
    print_to_pdf(&files, &out);
    let pdf = |name: &str| out.join(name).with_extension("pdf");
    for (name, title, pages) in [
        ("table1", "党员组织关系集中排查情况统计表", 2), // the form, then its 说明 sheet
        ("table2", "与党组织失去联系党员情况汇总表", 1),
        ("table3", "失联党员规范管理及组织处置情况汇总表", 1),
    ] {
        assert_eq!(pdf_pages(&pdf(name)), pages, "{name} prints on one page (plus its notes)");
        let first = pdf_page_text(&pdf(name), 1);
        let squeezed: String = first.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(squeezed.contains(title), "{name}: the title on page 1: {first}");
        assert!(
            squeezed.contains("填报单位（盖章）：中共武汉大学计算机学院委员会"),
            "{name}: the unit on page 1: {first}"
        );
        assert!(squeezed.contains("填报人"), "{name}: the foot on page 1: {first}");
    }
    for name in ["still-lost", "found"] {
        let pages = pdf_pages(&pdf(name));
        let first: String = pdf_page_text(&pdf(name), 1).chars().filter(|c| !c.is_whitespace()).collect();
        assert!(first.contains("登记表") && first.contains("序号"), "{name}: {first}");
        // The headings repeat on every page.
        for page in 2..=pages {
            let text: String = pdf_page_text(&pdf(name), page).chars().filter(|c| !c.is_whitespace()).collect();
            assert!(text.contains("序号") && text.contains("所在党支部"), "{name} page {page}: {text}");
        }
    }
}

/// Goal: every export also as PDF (drawn by rollcall, a CJK font's subset embedded): a
/// college's table on one page with its title, unit and foot; a register on as many
/// pages as it needs, its headings on each.
#[test]
fn the_forms_export_as_pdf() {
    let p = province();
    let table = export(&p, &["table", "2", "--unit", "hb/u1/c1"], "表2.pdf");
    assert_eq!(pdf_pages(&table), 1);
    let text: String = pdf_page_text(&table, 1).chars().filter(|c| !c.is_whitespace()).collect();
    for expected in [
        "表2与党组织失去联系党员情况汇总表",
        "填报单位（盖章）：中共武汉大学计算机学院委员会",
        "统计截止日期：2026年3月31日",
        "失去联系情形",
        "失去联系时间",
        "总计01",
        "填报人",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    let fonts = Command::new("pdffonts").arg(&table).output().expect("pdffonts");
    let fonts = String::from_utf8_lossy(&fonts.stdout).to_string();
    assert!(fonts.lines().skip(2).all(|line| line.contains(" yes ")), "every font embedded: {fonts}");
    let table_1 = export(&p, &["table", "1", "--unit", "hb/u1/c1"], "表1.pdf");
    assert_eq!(pdf_pages(&table_1), 2, "the form, then its 说明");
    let notes: String = pdf_page_text(&table_1, 2).chars().filter(|c| !c.is_whitespace()).collect();
    assert!(notes.contains("五核查"), "{notes}");
    let register = export(&p, &["register", "found", "--unit", "hb/u1/c1"], "取得联系.pdf");
    for page in 1..=pdf_pages(&register) {
        let text: String = pdf_page_text(&register, page).chars().filter(|c| !c.is_whitespace()).collect();
        assert!(text.contains("序号") && text.contains("所在党支部"), "page {page}: {text}");
    }
    // Without a CJK font the refusal says what to install.
    let out = p.base.join("无字体.pdf");
    let refused = std::process::Command::new(rollcall_tests::bin("rollcall"))
        .args(["table", "2", "--dir", &p.dir, "--out", out.to_str().expect("path")])
        .env("ROLLCALL_PDF_FONT", p.base.join("no-such-font.ttf"))
        .output()
        .expect("rollcall");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no-such-font.ttf"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn the_blank_member_form_filled_in_imports() {
    let temp = tempfile::tempdir().expect("temp dir");
    let node = temp.path().join("hb");
    init_node(&node, "hb", "province");
    let dir = node.display().to_string();
    let template = temp.path().join("登记表.xlsx");
    let branch = "hb/u1/c1/b1";
    let said =
        ok(&["template", "members", "--out", template.to_str().expect("path"), "--unit", branch, "--rows", "40"]);
    assert!(said.contains("已生成"), "{said}");
    // Drop-downs on the code-list columns, from a hidden code sheet; instructions.
    let sheet = zip_entry(&template, "xl/worksheets/sheet1.xml");
    assert_eq!(sheet.matches(r#"<dataValidation type="list""#).count(), 9, "{sheet}");
    let workbook = zip_entry(&template, "xl/workbook.xml");
    assert!(workbook.contains(r#"name="代码" sheetId="3" state="hidden""#), "{workbook}");
    assert!(workbook.contains(r#"name="填写说明""#));
    // Imported untouched: forty blank rows (所在党支部 pre-filled) are nobody.
    let untouched = rollcall(&["import", "members", template.to_str().expect("path"), "--dir", &dir]);
    assert!(!untouched.status.success(), "an empty form imports nobody");
    assert!(
        String::from_utf8_lossy(&untouched.stderr).contains("文件为空"),
        "{}",
        String::from_utf8_lossy(&untouched.stderr)
    );

    // Fill twenty rows into the form's own cells (keeping its validations and styles),
    // as a spreadsheet program would, then import.
    let people: Vec<Vec<String>> = (0..20)
        .map(|n| {
            let male = n % 2 == 0;
            let id17 =
                format!("420102198{}0{}1{}00{}", n % 10, n % 9 + 1, n % 2, if male { 1 } else { 2 } + (n % 4) * 2);
            let birth = format!("198{}-0{}-1{}", n % 10, n % 9 + 1, n % 2);
            [
                format!("党员{n:02}"),
                (if male { "男" } else { "女" }).into(),
                "汉族".into(),
                id_number(&id17),
                birth,
                "大学本科".into(),
                (if n % 5 == 0 { "预备党员" } else { "正式党员" }).into(),
                String::new(), // 所在党支部: pre-filled
                "2015-07-01".into(),
                (if n % 5 == 0 { "" } else { "2016-07-01" }).into(),
                String::new(),
                "13800000000".into(),
                "湖北省武汉市".into(),
                "正常".into(),
                "否".into(),
                String::new(),
                (if n % 3 == 0 { "是" } else { "否" }).into(),
                (if n % 3 == 0 { "广东/深圳/南山" } else { "" }).into(),
                (["教职工", "离退休人员", "高校毕业生", "在校学生", "其他"][n % 5]).into(),
            ]
            .to_vec()
        })
        .collect();
    // Two of them lost, with the situation from the form's 失去联系情形 drop-down.
    let mut people = people;
    for person in people.iter_mut().take(2) {
        person[14] = "是".into();
        person[15] = "2024-05-01".into();
        person.push("⑥居住地改变".into());
    }
    let filled = temp.path().join("已填写.xlsx");
    fill_form(&template, &filled, &people);
    let imported = rollcall_json(&["import", "members", filled.to_str().expect("path"), "--dir", &dir]);
    assert_eq!(imported["imported"], 20, "{imported}");
    let listed = rollcall_json(&["member", "list", "--dir", &dir, "--unit", branch]);
    let mut names: Vec<String> = listed["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["name"].as_str().unwrap_or_default().into())
        .collect();
    names.sort();
    assert_eq!(names, people.iter().map(|p| p[0].clone()).collect::<Vec<_>>());
    let rollup = rollcall_json(&["rollup", "--dir", &dir, "--unit", branch]);
    let metrics = &rollup["total"]["metrics"];
    assert_eq!(
        (metrics["members"].as_u64(), metrics["probationary"].as_u64(), metrics["flowing"].as_u64()),
        (Some(20), Some(4), Some(7))
    );
    assert_eq!(metrics["situation_residence"].as_u64(), Some(2), "the form's 失去联系情形 counts in table 2");
}

/// Writes `rows` into the blank form `template` (its first rows under the headings),
/// as inline strings in the cells the form already has, and saves it as `out`.
fn fill_form(template: &Path, out: &Path, rows: &[Vec<String>]) {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(template).expect("open")).expect("zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(out).expect("create"));
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).expect("entry");
        let name = entry.name().expect("entry name").to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        if name == "xl/worksheets/sheet1.xml" {
            let mut xml = String::from_utf8(bytes).expect("utf-8");
            for (r, row) in rows.iter().enumerate() {
                for (c, value) in row.iter().enumerate() {
                    if value.is_empty() {
                        continue;
                    }
                    let reference = format!("{}{}", rollcall_client::import::column_letter(c), r + 4);
                    let start =
                        xml.find(&format!(r#"<c r="{reference}" "#)).unwrap_or_else(|| panic!("no cell {reference}"));
                    let end = start + xml[start..].find("/>").expect("an empty cell") + 2;
                    let style = xml[start..end].split("s=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("0");
                    let cell = format!(r#"<c r="{reference}" s="{style}" t="inlineStr"><is><t>{value}</t></is></c>"#);
                    xml.replace_range(start..end, &cell);
                }
            }
            bytes = xml.into_bytes();
        }
        writer.start_file(name, zip::write::SimpleFileOptions::default()).expect("start");
        writer.write_all(&bytes).expect("write");
    }
    writer.finish().expect("finish");
}
