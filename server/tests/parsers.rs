//! The node's file parsers never panic (issue 12): arbitrary text as `rollcall.toml`
//! and as an enrollment bundle, and bundles whose fields hold any values, are refused
//! with an error or read, never a crash. 10,000 cases each (`PROPTEST_CASES` overrides).

use proptest::prelude::*;
use rollcall_core::ReplicaId;
use rollcall_server::bundle::Bundle;
use rollcall_server::config::Config;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

/// TOML-looking lines with the configuration's keys and any values.
fn arb_config() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "unit",
        "level",
        "address",
        "replica_key",
        "operator_keys",
        "root_key",
        "root_unit",
        "key",
        "[node]",
        "[listen]",
        "[keys]",
        "[access]",
        "[province]",
        "[parent]",
        "[dashboard]",
    ]);
    let value = prop_oneof![
        Just("\"hb\"".to_string()),
        Just("\"province\"".to_string()),
        Just("\"127.0.0.1:0\"".to_string()),
        Just("[\"00\"]".to_string()),
        Just("42".to_string()),
        Just("true".to_string()),
        "\"[a-z0-9/:.]{0,40}\"",
        "\\PC{0,20}",
    ];
    prop::collection::vec((key, value), 0..12).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(key, value)| if key.starts_with('[') { key.to_string() } else { format!("{key} = {value}") })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn arb_bundle() -> impl Strategy<Value = String> {
    let field = prop::sample::select(vec![
        "role",
        "unit",
        "replica",
        "root_key",
        "root_unit",
        "parent_key",
        "parent_address",
        "enrollment",
        "chain",
    ]);
    let value = prop_oneof![
        Just("\"node\"".to_string()),
        Just("\"laptop\"".to_string()),
        Just("\"hb/u1\"".to_string()),
        Just("1".to_string()),
        Just("[\"0a\", \"zz\"]".to_string()),
        "\"[0-9a-f]{0,80}\"",
        "\\PC{0,20}",
    ];
    prop::collection::vec((field, value), 0..12)
        .prop_map(|lines| lines.into_iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_configuration_text_is_read_or_refused(text in prop_oneof![arb_config(), "\\PC{0,200}"]) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("rollcall.toml"), text).expect("write");
        let _ = Config::load(dir.path(), None);
    }

    #[test]
    fn any_bundle_text_is_read_or_refused(text in prop_oneof![arb_bundle(), "\\PC{0,200}"]) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.bundle");
        std::fs::write(&path, text).expect("write");
        if let Ok(bundle) = Bundle::read(&path) {
            let _ = bundle.check_for(&path, ReplicaId([7; 32]));
        }
    }
}
