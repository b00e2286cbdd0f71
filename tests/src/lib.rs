//! rollcall-tests: the harness for multi-node, crash and simulation tests.
//!
//! - [`bin`] finds the real `rollcall-node` and `rollcall` binaries that
//!   `cargo test --workspace` builds before running any test.
//! - [`NodeProcess`] runs a real node in a child process on `127.0.0.1:0` and learns its
//!   address from the `listening` line it prints, waiting on that condition with a
//!   deadline (never a sleep).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rollcall_core::ReplicaId;

/// How long a node may take to start listening.
pub const START_DEADLINE: Duration = Duration::from_secs(30);

/// The path of a workspace binary next to the test executable.
///
/// # Panics
///
/// If the binary has not been built (run the tests with `cargo test --workspace`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo test --workspace` (it builds every binary first) or `cargo build --bins`",
        path.display()
    );
    path
}

/// Creates a node directory with `rollcall-node init`.
///
/// # Panics
///
/// If `init` fails.
pub fn init_node(dir: &Path, unit: &str, level: &str) {
    let output = Command::new(bin("rollcall-node"))
        .args(["init", "--dir"])
        .arg(dir)
        .args(["--unit", unit, "--level", level, "--listen", "127.0.0.1:0"])
        .output()
        .expect("running rollcall-node init");
    assert!(output.status.success(), "init failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// A node running in a child process.
pub struct NodeProcess {
    child: Child,
    /// host:port it listens on.
    pub address: String,
    /// Its replica key.
    pub replica: ReplicaId,
}

impl NodeProcess {
    /// Starts `rollcall-node run --dir DIR` and waits (with a deadline) for its
    /// `listening ADDRESS REPLICA` line.
    ///
    /// # Panics
    ///
    /// If the node exits or does not listen before [`START_DEADLINE`].
    pub fn start(dir: &Path) -> NodeProcess {
        let mut child = Command::new(bin("rollcall-node"))
            .args(["run", "--dir"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning rollcall-node");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let line = receiver.recv_timeout(START_DEADLINE).expect("node printed its listening line in time");
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some("listening"), "unexpected first line {line:?}");
        let address = parts.next().expect("address").to_string();
        let replica = ReplicaId::from_hex(parts.next().expect("replica")).expect("replica hex");
        NodeProcess { child, address, replica }
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit and returns whether it was successful.
    pub fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().map(|status| status.success()).unwrap_or(false)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
