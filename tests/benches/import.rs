//! Import benchmark (issue 5): 10,000 members from an XLSX form into a laptop-style
//! embedded node with the real `rollcall import members` (parse, check every cell, look
//! for duplicates at the node, append with the audit rules, fsync). Target: < 5 s.
//!
//! `cargo build --release --bins && cargo bench -p rollcall-tests --bench import`
//! (`IMPORT_ROWS`, default 10,000; 5 runs, each into a fresh node; prints the median).

use std::time::Instant;

use rollcall_tests::{bin, init_node};

use rollcall_client::import::FORM_HEADERS as HEADERS;

fn main() {
    let rows: usize = std::env::var("IMPORT_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let form = base.path().join("form.xlsx");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (column, header) in HEADERS.iter().enumerate() {
        sheet.write_string(0, column as u16, *header).expect("header");
    }
    for i in 0..rows {
        let year = 1950 + (i % 55);
        let first17 = format!("4201{:02}{year:04}{:02}{:02}{:03}", i % 100, 1 + i % 12, 1 + i % 28, (i / 100) % 1000);
        let id = format!("{first17}{}", rollcall_core::audit::rules::id_check_digit(&first17));
        let lost = i % 8 == 0;
        let values = [
            "王建华".to_string(),
            // The ID number's 17th digit says the sex (odd: 男); the import checks it.
            if (i / 100) % 2 == 1 { "男" } else { "女" }.into(),
            "汉族".into(),
            id,
            format!("{year:04}-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
            "大学本科".into(),
            "正式党员".into(),
            format!("hb/u1/c{}/b{}", i % 10, i % 7),
            format!("{:04}-07-01", year + 20),
            format!("{:04}-07-01", year + 21),
            "11".into(),
            format!("138{i:08}"),
            "湖北省武汉市洪山区珞喻路1037号".into(),
            "正常".into(),
            if lost { "是" } else { "否" }.into(),
            if lost { "2020-05-01".into() } else { String::new() },
            "否".into(),
            String::new(),
            "教职工".into(),
        ];
        for (column, value) in values.iter().enumerate() {
            sheet.write_string(1 + i as u32, column as u16, value).expect("cell");
        }
    }
    workbook.save(&form).expect("save");
    let mut seconds = Vec::new();
    for run in 0..5 {
        let node = base.path().join(format!("node{run}"));
        init_node(&node, "hb", "province");
        let started = Instant::now();
        let output = std::process::Command::new(bin("rollcall"))
            .args(["import", "members"])
            .arg(&form)
            .arg("--dir")
            .arg(&node)
            .arg("--json")
            .output()
            .expect("run import");
        let elapsed = started.elapsed().as_secs_f64();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(report["imported"].as_u64(), Some(rows as u64), "{report}");
        seconds.push(elapsed);
    }
    seconds.sort_by(f64::total_cmp);
    println!(
        "import {rows} members from XLSX: median {:.2} s over 5 runs ({:.2} · {:.2} · {:.2} · {:.2} · {:.2}); target < 5 s, ratio {:.2}",
        seconds[2],
        seconds[0],
        seconds[1],
        seconds[2],
        seconds[3],
        seconds[4],
        seconds[2] / 5.0
    );
}
