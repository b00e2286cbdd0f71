//! `rollcall-node`: initialise and run a rollcall node.
//!
//! Exit codes: 0 success; 1 the node failed while running; 2 bad usage, configuration
//! or key (the message names the file and the key).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rollcall_core::{Level, UnitPath};
use rollcall_server::bundle::{Bundle, join_node};
use rollcall_server::config::{self, Config};
use rollcall_server::store::StoreError;
use rollcall_server::{Node, NodeError, telemetry, tls_incoming};

#[derive(Parser)]
#[command(
    name = "rollcall-node",
    version,
    about = "rollcall node: keeps the signed event log of the Party-membership audit (党员组织关系集中排查) for one unit",
    long_about = "rollcall node: keeps the signed, hash-chained event log of the Party-membership audit \
(党员组织关系集中排查) for one unit of the organisation tree (province, university, college or branch), \
stores it in RocksDB and serves it over gRPC with mutual TLS.\n\n\
Start with `rollcall-node init`, then `rollcall-node run`."
)]
struct Cli {
    /// Log as JSON lines instead of text (logs go to stderr; filter with RUST_LOG).
    #[arg(long, global = true)]
    log_json: bool,
    /// 界面语言：zh（默认）或 en / the language of what the node prints: zh (default) or en.
    #[arg(long, global = true, default_value = "zh", value_parser = ["zh", "en"])]
    lang: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a node directory: replica key (mode 0600), operator key, commented rollcall.toml.
    #[command(after_help = "Example:\n  rollcall-node init --dir /var/lib/rollcall --unit hb/whu --level university")]
    Init {
        /// The node directory to create.
        #[arg(long)]
        dir: PathBuf,
        /// The unit this node serves: segments from the province down, e.g. hb/whu/cs.
        #[arg(long)]
        unit: UnitPath,
        /// province, university, college or branch (must match the unit's depth).
        #[arg(long)]
        level: Level,
        /// Address to listen on (host:port; port 0 picks a free port).
        #[arg(long, default_value = config::DEFAULT_LISTEN)]
        listen: String,
    },
    /// Join the hierarchy with the enrollment bundle the parent's operator made
    /// (`rollcall enroll`): pins the province's root key and the parent's address and key.
    #[command(after_help = "Example:\n  rollcall-node join --dir /var/lib/rollcall --bundle whu.bundle")]
    Join {
        /// The node directory made by `init`.
        #[arg(long)]
        dir: PathBuf,
        /// The bundle file.
        #[arg(long)]
        bundle: PathBuf,
    },
    /// Mark the node as recovering its own log (after a restore, or a store lost with the
    /// keys kept): it then signs nothing until its parent and children (nodes one level
    /// below, laptops of its unit) have sent back what they hold of it. `deploy/restore.sh` does this.
    #[command(
        after_help = "Examples:\n  rollcall-node recover --dir /var/lib/rollcall\n  rollcall-node recover --dir /var/lib/rollcall --end   (sign again without waiting: only when a peer that is waited for is gone for good)"
    )]
    Recover {
        /// The node directory.
        #[arg(long)]
        dir: PathBuf,
        /// End the recovery now instead (a running node notices within a second). A peer
        /// not heard may hold a later event of this node's log: the node would then sign
        /// a second event at that seq and be quarantined.
        #[arg(long)]
        end: bool,
    },
    /// Run the node until SIGINT or SIGTERM. Prints `listening ADDRESS REPLICA` on stdout once ready.
    #[command(after_help = "Example:\n  rollcall-node run --dir /var/lib/rollcall")]
    Run {
        /// The node directory made by `init`.
        #[arg(long)]
        dir: PathBuf,
        /// Override [listen] address from the config.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Serve the web dashboard and /metrics here (overrides [dashboard] address).
        #[arg(long)]
        dashboard: Option<SocketAddr>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_json);
    let zh = cli.lang == "zh";
    match cli.command {
        Command::Init { dir, unit, level, listen } => match config::init(&dir, &unit, level, &listen) {
            Ok((replica, operator)) => {
                let next = if level == Level::Province {
                    if zh {
                        format!("下一步：rollcall-node run --dir {}", dir.display())
                    } else {
                        format!("next: rollcall-node run --dir {}", dir.display())
                    }
                } else if zh {
                    "下一步：把本节点公钥交给上级节点的操作员登记（rollcall enroll），再用其凭证执行 rollcall-node join"
                        .to_string()
                } else {
                    "next: hand this node's key to the parent's operator (rollcall enroll), then rollcall-node join with the bundle".to_string()
                };
                if zh {
                    println!("已初始化 {}：{unit}（{}）", dir.display(), level.name_zh());
                    println!("本节点公钥（replica）  {}", replica.to_hex());
                    println!("操作员公钥（operator） {}", operator.to_hex());
                } else {
                    println!("initialised {} for {unit} ({level})", dir.display());
                    println!("replica  {}", replica.to_hex());
                    println!("operator {}", operator.to_hex());
                }
                println!("{next}");
                ExitCode::SUCCESS
            }
            Err(error) => fail_config(&error, zh),
        },
        Command::Join { dir, bundle } => match join(&dir, &bundle, zh) {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(message) => fail(&message, 2),
        },
        Command::Recover { dir, end } => match recover(&dir, end, zh) {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(message) => fail(&message, 2),
        },
        Command::Run { dir, listen, dashboard } => {
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => return fail(&error, 1),
            };
            runtime.block_on(run(dir, listen, dashboard, zh))
        }
    }
}

/// Writes or removes the recovery marker of the node at `dir`.
fn recover(dir: &std::path::Path, end: bool, zh: bool) -> Result<String, String> {
    if !dir.join("rollcall.toml").is_file() {
        return Err(if zh {
            format!("{} 不是节点目录（缺少 rollcall.toml）", dir.display())
        } else {
            format!("{} is not a node directory (no rollcall.toml)", dir.display())
        });
    }
    let marker = rollcall_server::recovery::marker_path(dir);
    if end {
        return match std::fs::remove_file(&marker) {
            Ok(()) => Ok(if zh {
                "已结束恢复：节点将不再等待其余节点，立即恢复签署。".to_string()
            } else {
                "recovery ended: the node signs again without waiting for the rest.".to_string()
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Ok(if zh { "节点不在恢复中。".to_string() } else { "the node is not recovering.".to_string() })
            }
            Err(error) => Err(format!("{}: {error}", marker.display())),
        };
    }
    let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    std::fs::write(&marker, format!("{stamp}\n")).map_err(|error| format!("{}: {error}", marker.display()))?;
    Ok(if zh {
        "已标记为恢复中：节点启动后在上级和下级（下一级节点、本单位笔记本）送回它此前签署的事件之前不签署任何事件；rollcall status 显示正在等待哪些节点。".to_string()
    } else {
        "marked as recovering: once started, the node signs nothing until its parent and children (nodes one level below, laptops of its unit) have sent back what it signed before; rollcall status shows whom it waits for.".to_string()
    })
}

async fn run(dir: PathBuf, listen: Option<SocketAddr>, dashboard_override: Option<SocketAddr>, zh: bool) -> ExitCode {
    let config = match Config::load(&dir, listen) {
        Ok(config) => config,
        Err(error) => return fail_config(&error, zh),
    };
    let node = match Node::open(&config) {
        Ok(node) => node,
        // A configuration that points at what it may not use is a usage error.
        Err(NodeError::Config(error)) => return fail_config(&error, zh),
        Err(error @ NodeError::Store(StoreError::WrongReplica { .. })) => {
            return fail(&error, 2);
        }
        Err(error) => return fail(&error, 1),
    };
    let tls = match node.server_tls() {
        Ok(tls) => tls,
        Err(error) => return fail(&error, 1),
    };
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => return fail(&format!("binding {}: {error}", config.listen), 1),
    };
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(error) => return fail(&error, 1),
    };
    let address_file = dir.join(config::ADDRESS_FILE);
    let temporary = dir.join(format!("{}.tmp", config::ADDRESS_FILE));
    if let Err(error) =
        std::fs::write(&temporary, format!("{address}\n")).and_then(|()| std::fs::rename(&temporary, &address_file))
    {
        return fail(&format!("writing {}: {error}", address_file.display()), 1);
    }
    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(error) => return fail(&format!("installing signal handlers: {error}"), 1),
    };
    let replica = node.info.replica;
    tracing::info!(%address, replica = %replica.short(), unit = %config.unit, level = %config.level, "node listening");
    println!("listening {address} {}", replica.to_hex());
    // The dashboard (if configured) stops with the node.
    let (dashboard_stop, dashboard_stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = dashboard_stop.send(true);
    };
    let dashboard_file = dir.join(DASHBOARD_ADDRESS_FILE);
    let mut dashboard_task = None;
    if let Some(dashboard_address) = dashboard_override.or(config.dashboard) {
        let listener = match tokio::net::TcpListener::bind(dashboard_address).await {
            Ok(listener) => listener,
            Err(error) => return fail(&format!("binding the dashboard to {dashboard_address}: {error}"), 1),
        };
        let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        // Written beside and renamed, so a reader never sees the file empty.
        let temporary = dir.join(format!("{DASHBOARD_ADDRESS_FILE}.tmp"));
        if let Err(error) =
            std::fs::write(&temporary, format!("{bound}\n")).and_then(|()| std::fs::rename(&temporary, &dashboard_file))
        {
            return fail(&format!("writing {}: {error}", dashboard_file.display()), 1);
        }
        tracing::info!(address = %bound, "dashboard listening");
        println!("dashboard http://{bound}/");
        if zh {
            eprintln!("网页仪表盘：http://{bound}/（查看凭证：rollcall dashboard-token --node-dir {}）", dir.display());
        }
        let state = node.dashboard(dashboard_stopping);
        dashboard_task = Some(tokio::spawn(rollcall_server::dashboard::serve(listener, state)));
    }
    let incoming = tls_incoming(listener, tls, node.access_check());
    let result = node.serve(incoming, shutdown).await;
    if let Some(task) = dashboard_task {
        let _ = task.await;
        let _ = std::fs::remove_file(&dashboard_file);
    }
    let _ = std::fs::remove_file(&address_file);
    match result {
        Ok(()) => {
            tracing::info!("node stopped");
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error, 1),
    }
}

fn join(dir: &std::path::Path, bundle_path: &std::path::Path, zh: bool) -> Result<String, String> {
    let key = config::read_key(&dir.join(config::REPLICA_KEY_FILE)).map_err(|err| err.to_string())?;
    let bundle = Bundle::read(bundle_path).map_err(|err| err.to_string())?;
    let checked = bundle.check_for(bundle_path, config::replica_of(&key)).map_err(|err| err.to_string())?;
    join_node(dir, &checked).map_err(|err| err.to_string())?;
    Ok(if zh {
        format!(
            "已加入：{} 作为 {}（{}）；上级节点 {}，地址 {}\n下一步：rollcall-node run --dir {}",
            dir.display(),
            checked.unit,
            checked.level.name_zh(),
            checked.parent_key.short(),
            checked.parent_address,
            dir.display()
        )
    } else {
        format!(
            "joined {} as {} ({}); parent {} at {}\nnext: rollcall-node run --dir {}",
            dir.display(),
            checked.unit,
            checked.level,
            checked.parent_key.short(),
            checked.parent_address,
            dir.display()
        )
    })
}

/// Registers the SIGINT and SIGTERM handlers now (before the node says it is
/// listening, so a signal sent right after that line is never the default, abrupt one)
/// and returns the future that completes on the first of them.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tracing::info!("shutdown requested");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Written while the dashboard listens: its bound address.
const DASHBOARD_ADDRESS_FILE: &str = "dashboard.addr";

/// A configuration problem, in the language asked for (exit 2: usage or configuration).
fn fail_config(error: &config::ConfigError, zh: bool) -> ExitCode {
    if zh {
        eprintln!("rollcall-node：{}", error.message_zh());
        ExitCode::from(2)
    } else {
        fail(error, 2)
    }
}

fn fail(error: &dyn std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("rollcall-node: {error:#}");
    ExitCode::from(code)
}
