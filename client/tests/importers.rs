//! The importers never panic (issue 12): arbitrary bytes named .xlsx or .csv, and
//! CSV files with the form's headers in any order and any text in every cell, go through
//! the same path as `rollcall import members` (read, map the columns, check every cell).
//! 10,000 cases each (`PROPTEST_CASES` overrides).

use proptest::prelude::*;
use rollcall_client::import::{self, FORM_HEADERS};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

/// What the form's cells hold, and what they should not.
fn arb_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("张三".to_string()),
        Just("男".to_string()),
        Just("女".to_string()),
        Just("汉族".to_string()),
        Just("420102198001010011".to_string()),
        Just("42010219800101001X".to_string()),
        Just("1980-01-01".to_string()),
        Just("1980年1月1日".to_string()),
        Just("2099-12-31".to_string()),
        Just("0000-00-00".to_string()),
        Just("正式党员".to_string()),
        Just("预备党员".to_string()),
        Just("hb/u1/c1/b1".to_string()),
        Just("hb//".to_string()),
        Just("是".to_string()),
        Just("否".to_string()),
        Just("教职工".to_string()),
        Just("\"quoted, with comma\"".to_string()),
        "[0-9]{1,20}",
        "\\PC{0,12}",
    ]
}

fn run_import(path: &std::path::Path) {
    let Ok(sheet) = import::read_sheet(path) else { return };
    let Ok(columns) = import::map_columns(path, &sheet.headers, &[]) else { return };
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 31).expect("valid");
    let default_unit = rollcall_core::UnitPath::parse("hb/u1/c1/b1").ok();
    let _ = import::parse_members(&sheet, &columns, default_unit.as_ref(), today);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_importers(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        zip_like in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut content = bytes;
        if zip_like {
            // A ZIP signature in front, so the XLSX reader gets past its first check.
            content.splice(0..0, *b"PK\x03\x04");
        }
        for name in ["登记表.xlsx", "登记表.csv", "登记表.xls"] {
            let path = dir.path().join(name);
            std::fs::write(&path, &content).expect("write");
            run_import(&path);
        }
    }

    #[test]
    fn any_cells_in_any_column_order_never_panic_the_form_import(
        order in Just((0..FORM_HEADERS.len()).collect::<Vec<_>>()).prop_shuffle(),
        keep in 1usize..=19,
        rows in prop::collection::vec(prop::collection::vec(arb_cell(), 0..22), 0..6),
        title in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("登记表.csv");
        let headers: Vec<&str> = order.iter().take(keep).map(|index| FORM_HEADERS[*index]).collect();
        let mut text = String::new();
        if title {
            text.push_str("党员基本情况登记表\n");
        }
        text.push_str(&headers.join(","));
        text.push('\n');
        for row in &rows {
            text.push_str(&row.join(","));
            text.push('\n');
        }
        std::fs::write(&path, text).expect("write");
        run_import(&path);
    }
}
