//! CLI behaviour of `rollcall` through the real binary: help in both languages, and
//! precise errors with the documented exit codes for bad input. (Its presence also
//! makes `cargo test --workspace` build the `rollcall` binary that the multi-node tests
//! in `tests/` drive.)

use std::process::Command;

fn rollcall(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rollcall")).args(args).output().expect("running rollcall");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Help explains itself in Chinese and English and lists the commands.
#[test]
fn help_lists_the_commands() {
    let (code, stdout, _) = rollcall(&["--help"]);
    assert_eq!(code, 0);
    for expected in ["党员组织关系集中排查", "verify", "enroll", "status", "--lang"] {
        assert!(stdout.contains(expected), "help lacks {expected:?}:\n{stdout}");
    }
}

/// Verifying a directory that holds no store fails with exit code 2 and names the path.
#[test]
fn verify_of_a_missing_store_names_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nothing-here");
    let (code, stdout, stderr) = rollcall(&["verify", "--dir", missing.to_str().expect("utf-8 path")]);
    assert_eq!(code, 2, "stdout {stdout} stderr {stderr}");
    assert!(stderr.starts_with("rollcall: "), "{stderr}");
    assert!(stderr.contains("nothing-here"), "{stderr}");
}

/// A command that needs a node says how to name one.
#[test]
fn a_node_must_be_named() {
    let (code, _, stderr) = rollcall(&["heads"]);
    assert_eq!(code, 2);
    assert_eq!(stderr, "rollcall: give --node-dir, or --node with --node-key and --key\n");
    let (code, _, stderr) = rollcall(&["heads", "--node-dir", "/nonexistent/node"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/node/node.addr") && stderr.contains("is the node running?"), "{stderr}");
}
