//! `rollcall`'s commands for keeping a node: verification, backup, rebuild, dashboard credentials, sample data: their arguments and their wiring, next to each other.
//! Each command builds its request, calls the node (or the laptop's own node) through the
//! backend and prints the answer; the logic lives in the library (`rollcall_client`).

#![allow(clippy::wildcard_imports)]

use crate::*;

/// What `rollcall verify` checks besides a store.
#[derive(Subcommand)]
pub(crate) enum VerifyCommand {
    /// 脱机核验案卷（只需本省根密钥，无需节点和网络）/ verify a dossier offline with only the province's root key.
    #[command(
        after_help = "示例 / Example:\n  rollcall verify dossier 案卷-K123.zip --root 3f9a…（64 位十六进制）\n\n退出码 / exit: 0 核验通过 verified；1 发现不符 a difference found；2 文件无法读取 unreadable"
    )]
    Dossier {
        /// 案卷文件（.zip）/ the dossier.
        file: PathBuf,
        /// 本省根密钥（64 位十六进制）/ the province's root key (64 hex digits).
        #[arg(long)]
        root: String,
        /// 核验通过后打印摘要 / print the summary after the checks.
        #[arg(long)]
        summary: bool,
    },
    /// 脱机核验报表报送证明：按检查点重算该表并与报送比对，核对上级回执与截止日期 / verify a report proof offline: recompute the table from its checkpoint, compare, check the receipt against the deadline.
    #[command(
        name = "report-proof",
        after_help = "示例 / Example:\n  rollcall verify report-proof 表1报送证明.zip --root <本省根密钥>\n\n退出码 / exit: 0 核验通过 verified；1 发现不符 a difference found；2 文件无法读取 unreadable"
    )]
    ReportProof {
        /// 证明文件（.zip）/ the proof.
        file: PathBuf,
        /// 本省根密钥（64 位十六进制）/ the province's root key (64 hex digits).
        #[arg(long)]
        root: String,
        /// 核验通过后打印摘要 / print the summary after the checks.
        #[arg(long)]
        summary: bool,
    },
}

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
    /// 校验节点存储：签名、正文哈希、哈希链；或脱机核验案卷 / verify a node's store (signatures, body hashes, chains), or a dossier offline.
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "示例 / Example:\n  rollcall verify --dir /var/lib/rollcall\n  rollcall verify dossier 案卷-K123.zip --root <本省根密钥>"
    )]
    Verify {
        /// 节点目录（或其 store 子目录）/ the node directory (or its store directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(subcommand)]
        what: Option<VerifyCommand>,
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
        AdminCommand::Verify { what: Some(VerifyCommand::Dossier { file, root, summary }), .. } => {
            verify_archive(&file, &root, summary, lang, json, rollcall_server::dossier::verify)
        }
        AdminCommand::Verify { what: Some(VerifyCommand::ReportProof { file, root, summary }), .. } => {
            verify_archive(&file, &root, summary, lang, json, rollcall_server::dossier::verify_report_proof)
        }
        AdminCommand::Verify { dir: None, what: None } => fail(
            &lang.pick(
                "请给出 --dir（校验节点存储）或 dossier 文件 --root 根密钥（核验案卷）",
                "give --dir (verify a store) or dossier FILE --root KEY (verify a dossier)",
            ),
            2,
        ),
        AdminCommand::Verify { dir: Some(dir), what: None } => {
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

/// `rollcall verify dossier` and `report-proof`: every check printed, exit 1 on any difference.
fn verify_archive(
    file: &std::path::Path,
    root: &str,
    print_summary: bool,
    lang: Lang,
    json: bool,
    verify: fn(&[u8], ReplicaId) -> Result<rollcall_server::dossier::Verdict, rollcall_server::dossier::DossierError>,
) -> ExitCode {
    let root = match ReplicaId::from_hex(root.trim()) {
        Ok(root) => root,
        Err(error) => return fail(&format!("--root: {error}"), 2),
    };
    let bytes = match std::fs::metadata(file).and_then(|meta| {
        if meta.len() > rollcall_server::dossier::DOSSIER_BYTES_MAX {
            Err(std::io::Error::other("larger than 1 GiB: not a dossier"))
        } else {
            std::fs::read(file)
        }
    }) {
        Ok(bytes) => bytes,
        Err(error) => return fail(&format!("{}: {error}", file.display()), 2),
    };
    let verdict = match verify(&bytes, root) {
        Ok(verdict) => verdict,
        Err(error) => {
            if json {
                println!("{}", serde_json::json!({ "verified": false, "error": error.to_string() }));
            }
            return fail(&format!("{}: {}", file.display(), lang.pick(&error.message_zh(), &error.to_string())), 2);
        }
    };
    let manifest = &verdict.manifest;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "verified": verdict.problems.is_empty(),
                "case_id": manifest.case_id,
                "unit": manifest.unit,
                "member_id": manifest.member_id,
                "stage": manifest.stage,
                "table": manifest.table,
                "report": manifest.report,
                "exporter": manifest.exporter,
                "exported_at": manifest.exported_at,
                "checked": verdict.checked.iter().map(|(_, en)| en).collect::<Vec<_>>(),
                "notes": verdict.notes.iter().map(|(_, en)| en).collect::<Vec<_>>(),
                "problems": verdict.problems.iter().map(|p| serde_json::json!({ "zh": p.zh, "en": p.en })).collect::<Vec<_>>(),
            })
        );
    } else {
        if manifest.table == 0 {
            println!(
                "{} {}：{} {}（{}），{} {}，{} {} {}",
                lang.pick("核验案卷", "verifying dossier"),
                file.display(),
                lang.pick("案件", "case"),
                manifest.case_id,
                manifest.unit,
                lang.pick("党员", "member"),
                manifest.member_id,
                lang.pick("导出于", "exported at"),
                manifest.exported_at,
                manifest.exporter.get(..8).unwrap_or_default()
            );
        } else {
            println!(
                "{} {}：{} {}{}，{} {} {}",
                lang.pick("核验报送证明", "verifying report proof"),
                file.display(),
                manifest.unit,
                lang.pick("表", "table "),
                manifest.table,
                lang.pick("导出于", "exported at"),
                manifest.exported_at,
                manifest.exporter.get(..8).unwrap_or_default()
            );
        }
        for (zh, en) in &verdict.checked {
            println!("  ✓ {}", lang.pick(zh, en));
        }
        for (zh, en) in &verdict.notes {
            println!("  · {}", lang.pick(zh, en));
        }
        for problem in &verdict.problems {
            println!("  ✗ {}", lang.pick(&problem.zh, &problem.en));
        }
        if verdict.problems.is_empty() && print_summary {
            println!();
            print!("{}", verdict.summary);
        }
    }
    if verdict.problems.is_empty() {
        if !json {
            println!("{}", lang.pick("结论：核验通过", "verified: every check passed"));
        }
        ExitCode::SUCCESS
    } else {
        fail(
            &format!(
                "{} {} {}",
                lang.pick("结论：发现", "not verified:"),
                verdict.problems.len(),
                lang.pick("处不符", "differences found")
            ),
            1,
        )
    }
}
