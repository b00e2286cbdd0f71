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
use rollcall_core::UnitPath;
use rollcall_core::limits::DRAFTS_PER_APPEND_MAX;
use rollcall_proto::v1 as pb;
use rollcall_server::config::STORE_DIR;

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
    /// 本机节点目录 / a node directory on this machine (uses node.addr, replica.pub, operator.key).
    #[arg(long, conflicts_with_all = ["node", "node_key", "key"])]
    node_dir: Option<PathBuf>,
    /// 节点地址 / node address host:port.
    #[arg(long, requires_all = ["node_key", "key"])]
    node: Option<String>,
    /// 节点公钥 / the node's replica key (64 hex digits).
    #[arg(long)]
    node_key: Option<String>,
    /// 操作员私钥文件 / the operator key file this client presents.
    #[arg(long)]
    key: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// 校验节点存储：签名、正文哈希、哈希链 / verify a node's store: signatures, body hashes, chains.
    #[command(after_help = "示例 / Example:\n  rollcall verify --dir /var/lib/rollcall")]
    Verify {
        /// 节点目录（或其 store 子目录）/ the node directory (or its store directory).
        #[arg(long)]
        dir: PathBuf,
    },
    /// 显示节点持有的各日志头 / show the log heads a node holds.
    Heads {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// 追加示例排查事件（演示用）/ append sample audit events (for the demo).
    #[command(
        after_help = "示例 / Example:\n  rollcall append-sample --node-dir demo/hb --unit hb/whu/cs/b01 --members 100"
    )]
    AppendSample {
        #[command(flatten)]
        node: NodeArgs,
        /// 党支部 / the branch the members belong to.
        #[arg(long)]
        unit: UnitPath,
        /// 党员人数 / number of members.
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// 随机种子 / seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// 操作人 / the person acting.
        #[arg(long, default_value = "demo-operator")]
        author: String,
    },
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
        Command::Verify { dir } => {
            let store_path = if dir.join(STORE_DIR).is_dir() { dir.join(STORE_DIR) } else { dir };
            match verify_store(&store_path, |n| {
                if !cli.json {
                    eprintln!("{} {n}", lang.pick("已校验事件", "verified events"));
                }
            }) {
                Ok(report) => {
                    if cli.json {
                        println!("{}", serde_json::to_string(&report).expect("report serialises"));
                    } else {
                        println!(
                            "{} {} {} {}",
                            left(lang.pick("副本", "replica"), 16),
                            right(lang.pick("事件", "events"), 10),
                            right(lang.pick("存根", "stubs"), 8),
                            right(lang.pick("日志头", "head"), 10)
                        );
                        for replica in &report.replicas {
                            println!(
                                "{:<16} {:>10} {:>8} {:>10}",
                                &replica.replica[..16],
                                replica.events,
                                replica.stubs,
                                replica.head_seq
                            );
                        }
                        println!(
                            "{}: {} {}, {} {}",
                            lang.pick("校验通过", "verified"),
                            report.replicas.len(),
                            lang.pick("个副本", "replicas"),
                            report.events,
                            lang.pick("个事件", "events")
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(VerifyFailure::Store(error)) => fail(&error, 2),
                Err(error) => {
                    if cli.json {
                        println!("{}", serde_json::json!({ "error": error.to_string() }));
                    }
                    fail(&format!("{}: {error}", lang.pick("校验失败", "verification failed")), 1)
                }
            }
        }
        Command::Heads { node } => {
            let mut client = match client(&node).await {
                Ok(client) => client,
                Err(code) => return code,
            };
            match client.heads(pb::HeadsRequest {}).await {
                Ok(response) => {
                    let heads = response.into_inner().heads;
                    if cli.json {
                        let rows: Vec<_> = heads.iter().map(|h| serde_json::json!({ "replica": hex::encode(&h.replica), "seq": h.seq, "hash": hex::encode(&h.hash) })).collect();
                        println!("{}", serde_json::Value::Array(rows));
                    } else {
                        println!(
                            "{} {}",
                            left(lang.pick("副本", "replica"), 64),
                            right(lang.pick("日志头", "head"), 10)
                        );
                        for head in heads {
                            println!("{:<64} {:>10}", hex::encode(&head.replica), head.seq);
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(status) => fail(&format!("{}: {}", lang.pick("节点拒绝", "node refused"), status.message()), 1),
            }
        }
        Command::AppendSample { node, unit, members, seed, author } => {
            let mut client = match client(&node).await {
                Ok(client) => client,
                Err(code) => return code,
            };
            let drafts = sample::member_drafts(&unit, members, seed, &author);
            let total = drafts.len();
            let mut last_seq = 0;
            for chunk in drafts.chunks(DRAFTS_PER_APPEND_MAX.min(1000)) {
                let request = pb::AppendRequest {
                    drafts: chunk
                        .iter()
                        .map(|draft| pb::EventDraft {
                            unit_path: draft.unit_path.to_string(),
                            kind: draft.kind as i32,
                            body: draft.body.clone(),
                            author: draft.author.clone(),
                        })
                        .collect(),
                };
                match client.append(request).await {
                    Ok(response) => last_seq = response.into_inner().events.last().map_or(last_seq, |e| e.seq),
                    Err(status) => {
                        return fail(&format!("{}: {}", lang.pick("追加失败", "append failed"), status.message()), 1);
                    }
                }
            }
            if cli.json {
                println!("{}", serde_json::json!({ "appended": total, "head_seq": last_seq }));
            } else {
                println!(
                    "{} {total} {}，{} {last_seq}",
                    lang.pick("已追加", "appended"),
                    lang.pick("个事件", "events"),
                    lang.pick("日志头", "head")
                );
            }
            ExitCode::SUCCESS
        }
    }
}

async fn client(args: &NodeArgs) -> Result<NodeClient<tonic::transport::Channel>, ExitCode> {
    let target = match (&args.node_dir, &args.node, &args.node_key, &args.key) {
        (Some(dir), _, _, _) => Target::from_node_dir(dir),
        (None, Some(node), Some(node_key), Some(key)) => Target::explicit(node, node_key, key),
        _ => return Err(fail(&"give --node-dir, or --node with --node-key and --key", 2)),
    };
    let target = target.map_err(|error| fail(&error, 2))?;
    let channel = target.connect().await.map_err(|error| fail(&error, 1))?;
    Ok(NodeClient::new(channel)
        .max_decoding_message_size(rollcall_core::limits::MESSAGE_BYTES_MAX)
        .max_encoding_message_size(rollcall_core::limits::MESSAGE_BYTES_MAX))
}

fn fail(error: &dyn std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("rollcall: {error:#}");
    ExitCode::from(code)
}
