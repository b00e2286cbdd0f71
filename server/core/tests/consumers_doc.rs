//! CONSUMERS.md's table of kinds and bodies is the code's: every kind, its number, its
//! wire name and its body message, and nothing else (issue 15: it must not drift).

use rollcall_core::body::{ALL_KINDS, Body};

#[test]
fn the_consumers_table_lists_every_kind_and_its_body() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../CONSUMERS.md")).expect("CONSUMERS.md");
    let rows: Vec<(i32, String, String)> = doc
        .lines()
        .filter(|line| line.starts_with("| ") && line.contains("` | `"))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let number = cells.get(1)?.parse().ok()?;
            Some((number, cells.get(2)?.trim_matches('`').to_string(), cells.get(3)?.trim_matches('`').to_string()))
        })
        .collect();
    assert_eq!(rows.len(), ALL_KINDS.len(), "one row per kind");
    for kind in ALL_KINDS {
        let row =
            rows.iter().find(|(number, _, _)| *number == *kind as i32).unwrap_or_else(|| panic!("{kind:?} missing"));
        assert_eq!(row.1, kind.as_str_name(), "{kind:?}'s wire name");
        // The body message of a kind is the one its decoder produces.
        let body = Body::decode(*kind, &[]).expect("an empty body decodes as the kind's message");
        let message = format!("{body:?}");
        let name = message.split('(').next().unwrap_or_default();
        assert_eq!(row.2, name, "{kind:?}'s body message");
    }
}
