//! `rollcall`'s commands for keeping a node: verification, backup, rebuild, dashboard credentials, sample data: their arguments and their wiring, next to each other.
//! Each command builds its request, calls the node (or the laptop's own node) through the
//! backend and prints the answer; the logic lives in the library (`rollcall_client`).

#![allow(clippy::wildcard_imports)]

use crate::*;

#[derive(Subcommand)]
pub(crate) enum AdminCommand {
    /// 生成看板凭证（操作员或已登记的查看者签名，有效期内可查看本单位看板）/ a dashboard credential, signed by an operator key or an enrolled viewer's key.
    #[command(
        after_help = "示例 / Example:\n  rollcall dashboard-token --node-dir /srv/hb            # 管理员：全省 / operator: the whole node\n  rollcall dashboard-token --key viewer/replica.key --node-key <节点公钥> --hours 8   # 查看者：本单位 / a viewer: its unit"
    )]
    DashboardToken {
        /// 本机节点目录（用其 operator.key、replica.pub、dashboard.addr）/ a node directory on this machine.
        #[arg(long, conflicts_with_all = ["key", "node_key"])]
        node_dir: Option<PathBuf>,
        /// 签名私钥文件（查看者的 replica.key）/ the signing key file (a viewer's replica.key).
        #[arg(long, requires = "node_key")]
        key: Option<PathBuf>,
        /// 节点公钥 / the node's replica key (hex).
        #[arg(long)]
        node_key: Option<String>,
        /// 有效小时数 / hours of validity.
        #[arg(long, default_value_t = 12)]
        hours: u64,
    },
    /// 备份节点存储（运行中亦可）/ back up a node's store (also while it runs): a RocksDB checkpoint.
    #[command(
        after_help = "示例 / Example:\n  rollcall backup --node-dir /srv/hb --out /backup/hb-20260401/store\n完整备份（含配置与密钥）见 deploy/backup.sh / for config and keys too, see deploy/backup.sh"
    )]
    Backup {
        #[command(flatten)]
        node: NodeArgs,
        /// 备份目录（不得已存在）/ where to write it (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// 由日志重算全部统计并报告是否有变化 / recompute every projection from the log and report whether it changed.
    Rebuild {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// 校验节点存储：签名、正文哈希、哈希链 / verify a node's store: signatures, body hashes, chains.
    #[command(after_help = "示例 / Example:\n  rollcall verify --dir /var/lib/rollcall")]
    Verify {
        /// 节点目录（或其 store 子目录）/ the node directory (or its store directory).
        #[arg(long)]
        dir: PathBuf,
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

/// Runs one of these commands.
pub(crate) async fn run(command: AdminCommand, lang: Lang, json: bool) -> ExitCode {
    match command {
        AdminCommand::DashboardToken { node_dir, key, node_key, hours } => {
            use rollcall_server::config::{OPERATOR_KEY_FILE, REPLICA_PUB_FILE, read_key};
            let (signing, node, address) = match (&node_dir, &key, &node_key) {
                (Some(dir), _, _) => {
                    let signing = match read_key(&dir.join(OPERATOR_KEY_FILE)) {
                        Ok(key) => key,
                        Err(error) => return fail(&error, 2),
                    };
                    let node = std::fs::read_to_string(dir.join(REPLICA_PUB_FILE))
                        .map_err(|e| e.to_string())
                        .and_then(|t| ReplicaId::from_hex(t.trim()));
                    let address =
                        std::fs::read_to_string(dir.join("dashboard.addr")).ok().map(|a| a.trim().to_string());
                    (signing, node, address)
                }
                (None, Some(key), Some(node_key)) => match read_key(key) {
                    Ok(signing) => (signing, ReplicaId::from_hex(node_key), None),
                    Err(error) => return fail(&error, 2),
                },
                _ => {
                    return fail(
                        &lang.pick(
                            "请给出 --node-dir，或 --key 与 --node-key",
                            "give --node-dir, or --key with --node-key",
                        ),
                        2,
                    );
                }
            };
            let node = match node {
                Ok(node) => node,
                Err(message) => return fail(&message, 2),
            };
            let expires = rollcall_server::writer::now_ms() + hours * 3_600_000;
            let token = rollcall_server::dashboard::token(&signing, node, expires);
            let url = address.map(|a| format!("http://{a}/#token={token}"));
            if json {
                println!("{}", serde_json::json!({ "token": token, "url": url, "expires_ms": expires }));
            } else {
                println!("{token}");
                if let Some(url) = url {
                    println!("{} {url}", lang.pick("看板：", "dashboard:"));
                }
            }
            ExitCode::SUCCESS
        }
        AdminCommand::Backup { node, out } => {
            let out = match std::path::absolute(&out) {
                Ok(out) => out,
                Err(error) => return fail(&error, 2),
            };
            query(
                &node,
                lang,
                json,
                async |backend| backend.checkpoint(&out).await,
                |r: &pb::CheckpointResponse| serde_json::json!({ "path": r.path, "events": r.events }),
                |r: &pb::CheckpointResponse, lang: Lang| {
                    format!(
                        "{} {}（{} {}）\n",
                        lang.pick("已备份到", "backed up to"),
                        r.path,
                        r.events,
                        lang.pick("个事件", "events")
                    )
                },
            )
            .await
        }
        AdminCommand::Rebuild { node } => {
            query(
                &node,
                lang,
                json,
                async |backend| backend.rebuild().await,
                |r: &pb::RebuildResponse| serde_json::json!({ "events": r.events, "applied": r.applied, "members": r.members, "changed": r.changed, "millis": r.millis }),
                |r: &pb::RebuildResponse, lang: Lang| {
                    format!(
                        "{} {} {}，{} {} {}，{} {}：{}\n",
                        lang.pick("已读取", "read"),
                        r.events,
                        lang.pick("个事件", "events"),
                        r.members,
                        lang.pick("名党员", "members"),
                        lang.pick("", ""),
                        r.millis,
                        lang.pick("毫秒", "ms"),
                        if r.changed {
                            lang.pick("与增量结果不同，已替换", "differed from the incremental state; replaced")
                        } else {
                            lang.pick("与增量结果一致", "identical to the incremental state")
                        }
                    )
                },
            )
            .await
        }
        AdminCommand::Verify { dir } => {
            // A node directory: its identity lets verify check the scope of stubs too.
            let identity = rollcall_server::config::Config::load(&dir, None).ok().map(|config| {
                rollcall_client::verify::NodeIdentity {
                    root: config.root_key,
                    root_unit: config.root_unit.clone(),
                    unit: config.unit.clone(),
                    chain: rollcall_server::bundle::read_chain(&dir),
                }
            });
            let store_path = if dir.join(STORE_DIR).is_dir() { dir.join(STORE_DIR) } else { dir };
            match verify_store(&store_path, identity.as_ref(), |n| {
                if !json {
                    eprintln!("{} {n}", lang.pick("已校验事件", "verified events"));
                }
            }) {
                Ok(report) => {
                    if json {
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
                    if json {
                        println!("{}", serde_json::json!({ "error": error.to_string() }));
                    }
                    fail(&format!("{}: {error}", lang.pick("校验失败", "verification failed")), 1)
                }
            }
        }
        AdminCommand::AppendSample { node, unit, members, seed, author } => {
            let mut backend = match backend(&node).await {
                Ok(backend) => backend,
                Err(code) => return code,
            };
            let drafts = sample::member_drafts(&unit, members, seed, &author);
            let total = drafts.len();
            let mut outcome = Ok(());
            for chunk in drafts.chunks(DRAFTS_PER_APPEND_MAX.min(1000)) {
                if let Err(refusal) = backend.append(chunk.to_vec()).await {
                    outcome = Err(refusal);
                    break;
                }
            }
            let offline = node.dir.is_some();
            backend.close().await;
            match outcome {
                Ok(()) => {
                    if json {
                        println!("{}", serde_json::json!({ "appended": total }));
                    } else {
                        println!(
                            "{} {total} {}{}",
                            lang.pick("已追加", "appended"),
                            lang.pick("个事件", "events"),
                            if offline { lang.pick("（离线，待同步）", " (offline, to sync)") } else { "" }
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(refusal) => {
                    fail(&format!("{}: {}", lang.pick("追加失败", "append failed"), refusal.message(lang)), 1)
                }
            }
        }
    }
}
