//! `rollcall`: the command-line tool for branch secretaries and operators.
//!
//! Exit codes: 0 success; 1 the operation failed (e.g. `verify` found an inconsistency,
//! the node refused); 2 bad usage or configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rollcall_client::NodeClient;
use rollcall_client::i18n::{Lang, pad_left_aligned as left, pad_right_aligned as right};
use rollcall_client::sample;
use rollcall_client::target::Target;
use rollcall_client::verify::{VerifyFailure, verify_store};
use rollcall_core::authority::Role;
use rollcall_core::body::Body;
use rollcall_core::limits::DRAFTS_PER_APPEND_MAX;
use rollcall_core::{EventKind, ReplicaId, UnitPath, codec};
use rollcall_proto::v1 as pb;
use rollcall_server::bundle::Bundle;
use rollcall_server::config::STORE_DIR;

mod cli {
    pub(crate) mod admin;
    pub(crate) mod audit;
    pub(crate) mod demo;
    pub(crate) mod network;
    pub(crate) mod reports;
}

#[derive(Parser)]
#[command(
    name = "rollcall",
    version,
    about = "rollcall 党员组织关系集中排查工具 / the Party-membership audit tool",
    long_about = "rollcall 党员组织关系集中排查工具：核查、查找、处置、建档，逐级汇总。\n\
rollcall, the tool of the Party-membership audit: check members, find lost ones, dispose, archive, roll up."
)]
struct Cli {
    /// 界面语言 / interface language.
    #[arg(long, global = true, value_enum, default_value = "zh")]
    lang: Lang,
    /// 输出 JSON / print JSON for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct NodeArgs {
    /// 本机笔记本节点目录（离线可用）/ this laptop's own node directory (works offline).
    #[arg(long, global = true, conflicts_with_all = ["node_dir", "node", "node_key", "key"])]
    dir: Option<PathBuf>,
    /// 本机节点目录 / a node directory on this machine (uses node.addr, replica.pub, operator.key).
    #[arg(long, global = true, conflicts_with_all = ["node", "node_key", "key"])]
    node_dir: Option<PathBuf>,
    /// 节点地址 / node address host:port.
    #[arg(long, global = true, requires_all = ["node_key", "key"])]
    node: Option<String>,
    /// 节点公钥 / the node's replica key (64 hex digits).
    #[arg(long, global = true)]
    node_key: Option<String>,
    /// 操作员私钥文件 / the operator key file this client presents.
    #[arg(long, global = true)]
    key: Option<PathBuf>,
}

/// The commands, by area: each area's module holds its commands' arguments and wiring.
#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Audit(cli::audit::AuditCommand),
    #[command(flatten)]
    Reports(cli::reports::ReportsCommand),
    #[command(flatten)]
    Network(cli::network::NetworkCommand),
    #[command(flatten)]
    Admin(cli::admin::AdminCommand),
    #[command(flatten)]
    Demo(cli::demo::DemoCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error, 1),
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let lang = cli.lang;
    match cli.command {
        Command::Audit(command) => cli::audit::run(command, lang, cli.json).await,
        Command::Reports(command) => cli::reports::run(command, lang, cli.json).await,
        Command::Network(command) => cli::network::run(command, lang, cli.json).await,
        Command::Admin(command) => cli::admin::run(command, lang, cli.json).await,
        Command::Demo(command) => cli::demo::run(command, lang).await,
    }
}

fn resolve_target(args: &NodeArgs) -> Result<Target, ExitCode> {
    let target = match (&args.node_dir, &args.node, &args.node_key, &args.key) {
        (Some(dir), _, _, _) => Target::from_node_dir(dir),
        (None, Some(node), Some(node_key), Some(key)) => Target::explicit(node, node_key, key),
        _ => return Err(fail(&"give --node-dir, or --node with --node-key and --key", 2)),
    };
    target.map_err(|error| fail(&error, 2))
}

async fn client(args: &NodeArgs) -> Result<NodeClient<tonic::transport::Channel>, ExitCode> {
    let target = resolve_target(args)?;
    let channel = target.connect().await.map_err(|error| fail(&error, 1))?;
    Ok(NodeClient::new(channel)
        .max_decoding_message_size(rollcall_core::limits::MESSAGE_BYTES_MAX)
        .max_encoding_message_size(rollcall_core::limits::MESSAGE_BYTES_MAX))
}

/// Runs `work` against the node named by `args`, closes it, prints the outcome.
async fn with_backend<F, Fut>(args: &NodeArgs, _lang: Lang, json: bool, work: F) -> ExitCode
where
    F: FnOnce(rollcall_client::backend::Backend) -> Fut,
    Fut: std::future::Future<Output = (rollcall_client::backend::Backend, rollcall_client::commands::Outcome)>,
{
    let backend = match backend(args).await {
        Ok(backend) => backend,
        Err(code) => return code,
    };
    let (backend, outcome) = work(backend).await;
    backend.close().await;
    match outcome {
        rollcall_client::commands::Outcome::Done { text, json: value } => {
            if json {
                println!("{value}");
            } else {
                print!("{text}");
            }
            ExitCode::SUCCESS
        }
        rollcall_client::commands::Outcome::Failed { message, json: value, details } => {
            if json {
                println!("{value}");
            }
            for line in &details {
                eprintln!("  {line}");
            }
            fail(&message, 1)
        }
    }
}

/// This laptop's own node directory when none is named: `$ROLLCALL_DIR`, else
/// `~/.rollcall`.
fn default_laptop_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROLLCALL_DIR") {
        return PathBuf::from(dir);
    }
    std::env::var_os("HOME").map_or_else(|| PathBuf::from(".rollcall"), |home| PathBuf::from(home).join(".rollcall"))
}

/// Reaches the node named by `args`: this laptop's own (`--dir`, or the default
/// directory when no node is named at all) or a remote one.
async fn backend(args: &NodeArgs) -> Result<rollcall_client::backend::Backend, ExitCode> {
    let nothing_named = args.dir.is_none() && args.node_dir.is_none() && args.node.is_none();
    match &args.dir {
        Some(dir) => open_embedded(dir).map(rollcall_client::backend::Backend::Embedded),
        None if nothing_named => {
            let dir = default_laptop_dir();
            if !dir.join("rollcall.toml").exists() {
                return Err(fail(
                    &format!(
                        "没有指定节点，默认目录 {} 也不存在：先 rollcall init，或用 --dir / --node-dir 指定 / no node named and no laptop node at {} (run rollcall init, or give --dir or --node-dir)",
                        dir.display(),
                        dir.display()
                    ),
                    2,
                ));
            }
            open_embedded(&dir).map(rollcall_client::backend::Backend::Embedded)
        }
        None => client(args).await.map(rollcall_client::backend::Backend::Remote),
    }
}

/// Opens the node named by `node`, makes one call, closes the node (an embedded one
/// finishes its last write), and prints the answer or the refusal.
async fn query<T>(
    node: &NodeArgs,
    lang: Lang,
    json: bool,
    call: impl AsyncFnOnce(&mut rollcall_client::backend::Backend) -> Result<T, rollcall_client::backend::Refusal>,
    to_json: impl Fn(&T) -> serde_json::Value,
    to_text: impl Fn(&T, Lang) -> String,
) -> ExitCode {
    let mut backend = match backend(node).await {
        Ok(backend) => backend,
        Err(code) => return code,
    };
    let result = call(&mut backend).await;
    backend.close().await;
    print_or_fail(lang, json, result, to_json, to_text)
}

/// Prints a response as JSON or text, or the refusal (exit 1).
fn print_or_fail<T>(
    lang: Lang,
    json: bool,
    result: Result<T, rollcall_client::backend::Refusal>,
    to_json: impl Fn(&T) -> serde_json::Value,
    to_text: impl Fn(&T, Lang) -> String,
) -> ExitCode {
    match result {
        Ok(response) => {
            if json {
                println!("{}", to_json(&response));
            } else {
                print!("{}", to_text(&response, lang));
            }
            ExitCode::SUCCESS
        }
        Err(refusal) => {
            if json {
                println!("{}", serde_json::json!({ "error": refusal.en, "rule": refusal.rule }));
            }
            fail(&refusal.message(lang), 1)
        }
    }
}

fn fail(error: &dyn std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("rollcall: {error:#}");
    ExitCode::from(code)
}

/// Opens this machine's own node directory as an embedded node (a laptop never listens).
fn open_embedded(dir: &std::path::Path) -> Result<rollcall_server::Node, ExitCode> {
    let config = rollcall_server::config::Config::load(dir, None).map_err(|error| fail(&error, 2))?;
    rollcall_server::Node::open(&config).map_err(|error| fail(&error, 1))
}

/// Writes an archive whole (beside the target, then renamed), readable by its owner only
/// when it holds personal data.
fn write_archive(out: &std::path::Path, bytes: &[u8], personal: bool) -> Result<(), ExitCode> {
    let partial = out.with_extension("zip.partial");
    let written = (|| -> std::io::Result<()> {
        // A partial file left by an earlier attempt keeps its mode: start afresh.
        match std::fs::remove_file(&partial) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if personal {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&partial)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
        std::fs::rename(&partial, out)
    })();
    written.map_err(|error| {
        let _ = std::fs::remove_file(&partial);
        fail(&format!("{}: {error}", out.display()), 1)
    })
}

fn uuid_bytes(text: &str) -> Option<[u8; 16]> {
    hex::decode(text.replace('-', "")).ok()?.try_into().ok()
}

fn uuid_text(bytes: &[u8]) -> String {
    <[u8; 16]>::try_from(bytes).map(|id| rollcall_core::EventId(id).to_string()).unwrap_or_default()
}

/// A new id for one draft, so a node records it at most once.
fn fresh_draft_id() -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(uuid::Uuid::now_v7().as_bytes())
}

fn format_time(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.with_timezone(&offset).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}
