//! deploy/: the example configurations parse and describe their level, and the systemd
//! units pass `systemd-analyze verify` (when the tool is present) with their paths
//! pointed at the built binaries.

use std::path::Path;

fn deploy() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").join("deploy")
}

#[test]
fn example_configurations_describe_their_level() {
    for (level, depth) in [("province", 1), ("university", 2), ("college", 3), ("branch", 4)] {
        let text = std::fs::read_to_string(deploy().join("config").join(format!("{level}.toml"))).expect("config");
        let value: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{level}.toml: {e}"));
        assert_eq!(value["node"]["level"].as_str(), Some(level));
        assert_eq!(value["node"]["unit"].as_str().map(|u| u.split('/').count()), Some(depth));
        assert!(value.get("province").is_some());
        assert_eq!(value.get("parent").is_some(), level != "province", "{level}");
    }
}

#[test]
fn systemd_units_verify() {
    if std::process::Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("systemd-analyze is not installed here; skipping");
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    let binaries = rollcall_tests::bin("rollcall-node").parent().expect("bin dir").to_path_buf();
    for name in ["rollcall-node@.service", "rollcall-backup@.service", "rollcall-backup@.timer"] {
        let text = std::fs::read_to_string(deploy().join("systemd").join(name)).expect("unit");
        let text = text
            .replace("/usr/local/bin/", &format!("{}/", binaries.display()))
            .replace("/usr/local/share/rollcall/deploy/", &format!("{}/", deploy().display()));
        std::fs::write(work.path().join(name.replace('@', "@demo")), text).expect("write");
    }
    let units: Vec<std::path::PathBuf> =
        ["rollcall-node@demo.service", "rollcall-backup@demo.service", "rollcall-backup@demo.timer"]
            .iter()
            .map(|n| work.path().join(n))
            .collect();
    let output =
        std::process::Command::new("systemd-analyze").arg("verify").args(&units).output().expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Complaints about the test machine itself (no user "rollcall", no running systemd) are not about the units.
    let relevant: Vec<&str> = stderr
        .lines()
        .filter(|line| {
            line.contains("rollcall")
                && !line.contains("User")
                && !line.contains("Group")
                && !line.contains("Failed to")
        })
        .collect();
    assert!(relevant.is_empty(), "systemd-analyze verify: {stderr}");
}
