//! rollcall-tests: the harness for multi-node, crash and simulation tests.
//!
//! - [`bin`] finds the real `rollcall-node` and `rollcall` binaries that
//!   `cargo test --workspace` builds before running any test.
//! - Nodes log at `warn` to the test's stderr; `NODE_LOG=<filter>` (a `RUST_LOG` filter,
//!   e.g. `rollcall_server::sync=debug`) shows more.
//! - [`NodeProcess`] runs a real node in a child process on `127.0.0.1:0` and learns its
//!   address from the `listening` line it prints, waiting on that condition with a
//!   deadline (never a sleep).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rollcall_core::ReplicaId;

pub mod nats;

/// The repository's root (where the test venv `.venv` lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the repository").to_path_buf()
}

/// The Python of the test venv (`deploy/setup-tests.sh` makes it: stock grpcio and the rest,
/// pinned in `tests/python/requirements.txt`).
///
/// # Panics
///
/// If the venv is missing.
pub fn venv_python() -> PathBuf {
    let path = repo_root().join(".venv/bin/python");
    assert!(path.exists(), "{} is missing: run `bash deploy/setup-tests.sh` (it makes the test venv)", path.display());
    path
}

/// How long a node may take to stop after SIGTERM (a clean stop writes the projection
/// snapshot: tens of seconds for the scale run's province).
pub const STOP_DEADLINE: Duration = Duration::from_secs(300);

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

/// Runs `deploy/NAME` with `args`, on the binaries next to the test executable.
pub fn deploy_script(name: &str, args: &[&Path]) -> std::process::Output {
    Command::new("bash")
        .arg(repo_root().join("deploy").join(name))
        .args(args)
        .env("ROLLCALL_BIN", bin("rollcall").parent().expect("bin dir"))
        .output()
        .expect("run script")
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
    /// A TLS channel to this node presenting the operator key of its directory `dir`.
    ///
    /// # Panics
    ///
    /// If the key cannot be read or the node refuses the connection.
    pub async fn operator_channel(&self, dir: &Path) -> tonic::transport::Channel {
        let key = rollcall_server::config::read_key(&dir.join(rollcall_server::config::OPERATOR_KEY_FILE))
            .expect("operator key");
        rollcall_server::connect::connect(&self.address, self.replica, &key).await.expect("connect")
    }

    /// Starts `rollcall-node run --dir DIR` and waits (with a deadline) for its
    /// `listening ADDRESS REPLICA` line.
    ///
    /// # Panics
    ///
    /// If the node exits or does not listen before [`START_DEADLINE`].
    pub fn start(dir: &Path) -> NodeProcess {
        NodeProcess::start_within(dir, START_DEADLINE)
    }

    /// [`NodeProcess::start`] with another deadline (a node holding millions of events
    /// rebuilds its projection before it listens).
    ///
    /// # Panics
    ///
    /// If the node exits or does not listen before `deadline`.
    pub fn start_within(dir: &Path, deadline: Duration) -> NodeProcess {
        let mut child = Command::new(bin("rollcall-node"))
            .args(["run", "--dir"])
            .arg(dir)
            .env("RUST_LOG", std::env::var("NODE_LOG").unwrap_or_else(|_| "warn".into()))
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
        let line = receiver.recv_timeout(deadline).expect("node printed its listening line in time");
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some("listening"), "unexpected first line {line:?}");
        let address = parts.next().expect("address").to_string();
        let replica = ReplicaId::from_hex(parts.next().expect("replica")).expect("replica hex");
        NodeProcess { child, address, replica }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (at most [`STOP_DEADLINE`]) for a clean exit and returns
    /// whether it was successful; a node that does not stop in time is killed and the
    /// answer is false.
    pub fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = std::time::Instant::now();
        while start.elapsed() < STOP_DEADLINE {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return false,
            }
        }
        false
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a cluster may take to converge.
pub const CONVERGE_DEADLINE: Duration = Duration::from_secs(90);

/// Runs the `rollcall` CLI and returns its output.
///
/// # Panics
///
/// If the binary cannot be started.
pub fn rollcall(args: &[&str]) -> std::process::Output {
    Command::new(bin("rollcall")).args(args).output().expect("running rollcall")
}

/// Runs `rollcall ARGS --json` and parses stdout.
///
/// # Panics
///
/// If the command fails or prints no JSON.
pub fn rollcall_json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let output = rollcall(&all);
    assert!(
        output.status.success(),
        "rollcall {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("rollcall printed JSON")
}

/// Waits until `condition` holds, checking it again and again until `deadline`.
///
/// # Panics
///
/// With `what` if the deadline passes first.
pub fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !condition() {
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A node of a test hierarchy: its directory and its running process.
pub struct ClusterNode {
    /// The unit it serves.
    pub unit: String,
    /// Its directory.
    pub dir: PathBuf,
    /// The running process (None while stopped).
    pub process: Option<NodeProcess>,
}

impl ClusterNode {
    /// Its replica key.
    ///
    /// # Panics
    ///
    /// If `replica.pub` is missing.
    pub fn replica(&self) -> ReplicaId {
        let text = std::fs::read_to_string(self.dir.join("replica.pub")).expect("replica.pub");
        ReplicaId::from_hex(&text).expect("replica hex")
    }

    /// The directory as a string, for CLI arguments.
    pub fn dir_arg(&self) -> String {
        self.dir.display().to_string()
    }

    /// Writes the address the running node listens on into its configuration, so that
    /// it listens there again when restarted, or restored from a backup taken after
    /// this (its children look for it there).
    ///
    /// # Panics
    ///
    /// If the node is not running or its configuration does not listen on port 0.
    pub fn pin_address(&self) {
        let config_path = self.dir.join(rollcall_server::config::CONFIG_FILE);
        let config = std::fs::read_to_string(&config_path).expect("config");
        assert!(config.contains("address = \"127.0.0.1:0\""), "{config}");
        let address = &self.process.as_ref().expect("the node runs").address;
        std::fs::write(&config_path, config.replace("127.0.0.1:0", address)).expect("config");
    }

    /// The heads the running node holds: replica hex → seq.
    pub fn heads(&self) -> std::collections::BTreeMap<String, u64> {
        let value = rollcall_json(&["heads", "--node-dir", &self.dir_arg()]);
        value
            .as_array()
            .expect("heads is an array")
            .iter()
            .map(|h| (h["replica"].as_str().expect("replica").to_string(), h["seq"].as_u64().expect("seq")))
            .collect()
    }
}

/// Creates and starts the province (root) node of a test hierarchy.
pub fn start_root(base: &Path, unit: &str) -> ClusterNode {
    let dir = base.join(unit.replace('/', "_"));
    init_node(&dir, unit, "province");
    let process = NodeProcess::start(&dir);
    ClusterNode { unit: unit.to_string(), dir, process: Some(process) }
}

/// Creates a child node through the real enrollment flow (`init`, `rollcall enroll` on
/// the parent, `rollcall-node join`) and starts it.
///
/// # Panics
///
/// If any step fails.
pub fn start_child(base: &Path, parent: &ClusterNode, unit: &str) -> ClusterNode {
    let dir = base.join(unit.replace('/', "_"));
    let level = match unit.split('/').count() {
        2 => "university",
        3 => "college",
        _ => "branch",
    };
    init_node(&dir, unit, level);
    let child_key = std::fs::read_to_string(dir.join("replica.pub")).expect("replica.pub");
    let bundle = dir.join("enrollment.bundle");
    let output = rollcall(&[
        "enroll",
        "--node-dir",
        &parent.dir_arg(),
        "--child-key",
        child_key.trim(),
        "--unit",
        unit,
        "--out",
        &bundle.display().to_string(),
    ]);
    assert!(output.status.success(), "enroll {unit}: {}", String::from_utf8_lossy(&output.stderr));
    let output = Command::new(bin("rollcall-node"))
        .args(["join", "--dir"])
        .arg(&dir)
        .arg("--bundle")
        .arg(&bundle)
        .output()
        .expect("running join");
    assert!(output.status.success(), "join {unit}: {}", String::from_utf8_lossy(&output.stderr));
    let process = NodeProcess::start(&dir);
    ClusterNode { unit: unit.to_string(), dir, process: Some(process) }
}

/// Creates a branch laptop with `rollcall init`, enrolls it at `branch` through the
/// branch node's operator (`rollcall enroll --role laptop`) and joins it: the real
/// flow a secretary follows. Returns the laptop's directory.
///
/// # Panics
///
/// If a step fails.
pub fn enroll_laptop(base: &Path, branch: &ClusterNode, name: &str) -> PathBuf {
    let dir = base.join(name);
    let dir_arg = dir.display().to_string();
    let output = rollcall(&["init", "--dir", &dir_arg, "--unit", &branch.unit]);
    assert!(output.status.success(), "init: {}", String::from_utf8_lossy(&output.stderr));
    let key = std::fs::read_to_string(dir.join("replica.pub")).expect("replica.pub");
    let bundle = base.join(format!("{name}.bundle")).display().to_string();
    let output = rollcall(&[
        "enroll",
        "--node-dir",
        &branch.dir_arg(),
        "--child-key",
        key.trim(),
        "--unit",
        &branch.unit,
        "--role",
        "laptop",
        "--out",
        &bundle,
    ]);
    assert!(output.status.success(), "enroll: {}", String::from_utf8_lossy(&output.stderr));
    let output = rollcall(&["join", "--dir", &dir_arg, "--bundle", &bundle]);
    assert!(output.status.success(), "join: {}", String::from_utf8_lossy(&output.stderr));
    dir
}

/// A raw sync session opened by a test holding a child's key (what an adversary with a
/// stolen key can do): the hello is sent; returns the sender of further messages and the
/// node's answers.
///
/// # Panics
///
/// If the connection or the session is refused.
pub async fn open_sync_session(
    address: &str,
    node: ReplicaId,
    key: &ed25519_dalek::SigningKey,
) -> (
    tokio::sync::mpsc::Sender<rollcall_proto::v1::SyncMessage>,
    tonic::Streaming<rollcall_proto::v1::SyncMessage>,
    rollcall_proto::v1::node_client::NodeClient<tonic::transport::Channel>,
) {
    use rollcall_proto::v1 as pb;
    let channel = rollcall_server::connect::connect(address, node, key).await.expect("connect");
    let mut client = pb::node_client::NodeClient::new(channel);
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    sender
        .send(pb::SyncMessage {
            message: Some(pb::sync_message::Message::Hello(pb::SyncHello { heads: vec![], ..Default::default() })),
        })
        .await
        .expect("send hello");
    let inbound =
        client.sync(tokio_stream::wrappers::ReceiverStream::new(receiver)).await.expect("sync accepted").into_inner();
    (sender, inbound, client)
}

/// The node's next acknowledgement on a raw sync session (30 s deadline).
///
/// # Panics
///
/// If the stream ends or fails first.
pub async fn next_sync_ack(
    inbound: &mut tonic::Streaming<rollcall_proto::v1::SyncMessage>,
) -> rollcall_proto::v1::SyncAck {
    use rollcall_proto::v1 as pb;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), inbound.message())
            .await
            .expect("an answer before the deadline")
            .expect("stream alive")
            .expect("not closed");
        if let Some(pb::sync_message::Message::Ack(ack)) = message.message {
            return ack;
        }
    }
}

/// A valid citizen ID number from its first 17 characters (the check digit appended).
pub fn id_number(first17: &str) -> String {
    format!("{first17}{}", rollcall_core::audit::rules::id_check_digit(first17))
}

/// One row of the per-member form (the columns of `FORM_HEADERS`) for a full member who
/// joined in 2005, with the sex its ID number's 17th digit says (odd: 男; the import
/// checks it).
pub fn form_row(name: &str, id17: &str, birth: &str, branch: &str) -> Vec<String> {
    let id = id_number(id17);
    let sex = if id17.ends_with(['1', '3', '5', '7', '9']) { "男" } else { "女" };
    [
        name,
        sex,
        "汉族",
        &id,
        birth,
        "大学本科",
        "正式党员",
        branch,
        "2005-07-01",
        "2006-07-01",
        "",
        "13800000000",
        "湖北省武汉市",
        "正常",
        "否",
        "",
        "否",
        "",
        "教职工",
    ]
    .into_iter()
    .map(str::to_string)
    .collect()
}

/// Writes `rows` as a CSV member form at `path` and imports it at `node` through the CLI.
///
/// # Panics
///
/// If the import does not take every row.
pub fn import_form(node: &ClusterNode, path: &Path, rows: &[Vec<String>]) {
    let mut text = rollcall_client::import::FORM_HEADERS.join(",");
    text.push('\n');
    for row in rows {
        text.push_str(&row.join(","));
        text.push('\n');
    }
    std::fs::write(path, text).expect("write csv");
    let imported = rollcall_json(&["import", "members", path.to_str().expect("path"), "--node-dir", &node.dir_arg()]);
    assert_eq!(imported["imported"].as_u64(), Some(rows.len() as u64), "{imported}");
}

/// A benchmark's setting from the environment: `name` parsed, else `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The median of a benchmark's rounds (sorts `values`; the upper one of an even count).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The kernel's clock ticks a second (`getconf CLK_TCK`), the unit of `/proc`'s CPU times.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let output = Command::new("getconf").arg("CLK_TCK").output().expect("running getconf");
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("CLK_TCK is a number")
    })
}

/// The CPU time process `pid` has used, user and system, all threads, in seconds
/// (`/proc/<pid>/stat` fields 14 and 15; 0 once it has exited).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let Some((_, after_name)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Field 3 (the state) is fields[0], so utime (14) and stime (15) are 11 and 12.
    (ticks(11) + ticks(12)) / clock_ticks_per_second()
}

/// The CPU time so far of the live threads of process `pid`, in seconds, summed by
/// thread name (`rollcall-writer`, `rocksdb:high`, `tokio-rt-worker`, ...); threads that
/// have ended are not counted (the process total, [`cpu_seconds`], still counts them).
pub fn cpu_seconds_by_thread(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut by_name = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return by_name };
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let (Some((_, rest)), Some((_, after_name))) = (stat.split_once('('), stat.rsplit_once(')')) else { continue };
        let name = rest[..rest.len() - after_name.len() - 1].to_string();
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |index: usize| fields.get(index).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        *by_name.entry(name).or_insert(0.0) += (ticks(11) + ticks(12)) / clock_ticks_per_second();
    }
    by_name
}

/// The machine's CPU time so far, (busy, idle) in seconds summed over its cores
/// (`/proc/stat`; idle includes waiting for I/O, steal is in neither).
pub fn machine_cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|line| line.starts_with("cpu ")) else { return (0.0, 0.0) };
    let ticks: Vec<f64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user); time
    // stolen by the hypervisor is neither this machine's work nor its idle.
    let idle = ticks.iter().skip(3).take(2).sum::<f64>();
    let busy = ticks.iter().take(3).sum::<f64>() + ticks.iter().skip(5).take(2).sum::<f64>();
    (busy / clock_ticks_per_second(), idle / clock_ticks_per_second())
}

/// The resident set of process `pid` in KiB (`VmRSS`; 0 once it has exited).
pub fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()))
        .unwrap_or(0)
}
