//! `rollcall`'s commands for enrollment and sync: enrolling children, laptops joining, sync, revocation, status and heads: their arguments and their wiring, next to each other.
//! Each command builds its request, calls the node (or the laptop's own node) through the
//! backend and prints the answer; the logic lives in the library (`rollcall_client`).

#![allow(clippy::wildcard_imports)]

use crate::*;

#[derive(Subcommand)]
pub(crate) enum NetworkCommand {
    /// 登记下级节点、笔记本或查看者，生成入网凭证 / enroll a child node, laptop or viewer and write its bundle.
    #[command(
        after_help = "示例 / Example:\n  rollcall enroll --node-dir /var/lib/rollcall --child-key <hex> --unit hb/whu --out whu.bundle\n\n然后在下级执行 / then on the child:  rollcall-node join --dir DIR --bundle whu.bundle"
    )]
    Enroll {
        #[command(flatten)]
        node: NodeArgs,
        /// 下级的公钥（其 replica.pub）/ the child's public key (its replica.pub).
        #[arg(long)]
        child_key: String,
        /// 下级单位 / the child's unit, e.g. hb/whu.
        #[arg(long)]
        unit: UnitPath,
        /// node | laptop | viewer.
        #[arg(long, default_value = "node")]
        role: Role,
        /// 有效天数（0 表示不过期）/ days of validity (0: no expiry).
        #[arg(long, default_value_t = 0)]
        valid_days: u64,
        /// 名称 / a human name for the machine.
        #[arg(long, default_value = "")]
        label: String,
        /// 本节点对下级公布的地址（默认为连接所用地址）/ the address the child should dial (default: the one used here).
        #[arg(long)]
        parent_address: Option<String>,
        /// 凭证文件 / where to write the bundle.
        #[arg(long)]
        out: PathBuf,
        /// 下级单位全称（同时登记单位名称，见 rollcall unit name）/ the child unit's official name (also
        /// records it, as rollcall unit name does).
        #[arg(long)]
        name: Option<String>,
        /// 简称 / its short name.
        #[arg(long, default_value = "")]
        short_name: String,
        /// 党组织类型：611、612、621、631、632 / its 党组织 type code.
        #[arg(long)]
        org_type: Option<i32>,
        /// 党组织代码 / its code in the national system.
        #[arg(long, default_value = "")]
        org_code: String,
    },
    /// 为使用标准 gRPC 库的数据组生成读取凭证目录（证书、密钥、示例）/ write the directory a data team's stock
    /// gRPC client reads a unit's events with (certificate, key, trust, example).
    #[command(
        after_help = "示例 / Example:\n  rollcall consumer --node-dir /srv/hb --unit hb/whu --out 武汉大学数据组 --label 省委组织部数据组\n\n\
目录中的 README.md 说明如何用 Python grpcio 等连接 / the directory's README.md shows how to connect with Python grpcio and others.\n\
登记一个只读的查看者（--role viewer）并把证书与其绑定；吊销该查看者即收回 / enrolls a read-only viewer and binds the certificate to it; revoking the viewer revokes it."
    )]
    Consumer {
        #[command(flatten)]
        node: NodeArgs,
        /// 可读取的单位（默认为节点本单位）/ the unit whose subtree it reads (default: the node's).
        #[arg(long)]
        unit: Option<UnitPath>,
        /// 要生成的目录（须为新目录或空目录）/ the directory to write (new or empty).
        #[arg(long)]
        out: PathBuf,
        /// 有效天数（0 表示不过期）/ days of validity (0: no expiry).
        #[arg(long, default_value_t = 365)]
        valid_days: u64,
        /// 使用方名称 / who uses it, e.g. 省委组织部数据组.
        #[arg(long, default_value = "数据组")]
        label: String,
        /// 使用方连接的地址（默认为此处所用地址）/ the address the consumer dials (default: the one used here).
        #[arg(long)]
        address: Option<String>,
    },
    /// 初始化本机笔记本节点（党支部书记离线使用）/ create this laptop's node (a branch secretary works offline).
    #[command(
        after_help = "示例 / Example:\n  rollcall init --dir ~/.rollcall --unit hb/whu/cs/b01\n\n然后把打印的公钥交给党支部节点的操作员登记（rollcall enroll --role laptop），\n再执行 / then hand the printed key to the branch node's operator (rollcall enroll --role laptop) and run:\n  rollcall join --dir ~/.rollcall --bundle laptop.bundle"
    )]
    Init {
        /// 目录（默认 ~/.rollcall）/ the directory to create (default ~/.rollcall).
        #[arg(long, default_value_os_t = default_laptop_dir())]
        dir: PathBuf,
        /// 所在党支部 / the branch.
        #[arg(long)]
        unit: UnitPath,
    },
    /// 用入网凭证加入 / join with the enrollment bundle.
    Join {
        /// 目录（默认 ~/.rollcall）/ the laptop's directory (default ~/.rollcall).
        #[arg(long, default_value_os_t = default_laptop_dir())]
        dir: PathBuf,
        /// 凭证文件 / the bundle file.
        #[arg(long)]
        bundle: PathBuf,
    },
    /// 与上级同步（双向，完成后退出）/ sync with the node above, both ways, then exit.
    #[command(after_help = "示例 / Example:\n  rollcall sync --dir ~/.rollcall")]
    Sync {
        /// 本机笔记本节点目录（默认 ~/.rollcall）/ this laptop's node directory (default ~/.rollcall).
        #[arg(long, default_value_os_t = default_laptop_dir())]
        dir: PathBuf,
        /// 最长等待秒数 / give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// 吊销下级节点或笔记本（其后事件一律拒收）/ revoke a child node or laptop (its later events are refused).
    #[command(
        after_help = "示例 / Example:\n  rollcall revoke --node-dir /srv/b01 --child-key <hex> --after-seq 120 --reason 笔记本遗失\n\n--after-seq 之前（含）签署的事件仍然有效 / events it signed up to --after-seq stay valid"
    )]
    Revoke {
        #[command(flatten)]
        node: NodeArgs,
        /// 被吊销的公钥 / the key to revoke.
        #[arg(long)]
        child_key: String,
        /// 最后一个有效序号（例如离线工作的最后一条）/ the last seq that stays valid.
        #[arg(long)]
        after_seq: u64,
        /// 理由 / why.
        #[arg(long)]
        reason: String,
    },
    /// 同步状态：各连接的收发、未发送事件、上级回执 / sync status: per edge, unsent events, the last receipt from the level above.
    Status {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// 显示节点持有的各日志头 / show the log heads a node holds.
    Heads {
        #[command(flatten)]
        node: NodeArgs,
    },
}

/// Runs one of these commands.
pub(crate) async fn run(command: NetworkCommand, lang: Lang, json: bool) -> ExitCode {
    match command {
        NetworkCommand::Heads { node: NodeArgs { dir: Some(dir), .. } } => {
            let node = match open_embedded(&dir) {
                Ok(node) => node,
                Err(code) => return code,
            };
            let heads = node.store.heads();
            node.close().await;
            match heads {
                Ok(heads) => {
                    let heads: Vec<pb::ReplicaHead> =
                        heads.into_iter().map(|h| rollcall_server::rpc::head_to_proto(&h)).collect();
                    print_heads(lang, json, &heads);
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error, 1),
            }
        }
        NetworkCommand::Heads { node } => {
            let mut client = match client(&node).await {
                Ok(client) => client,
                Err(code) => return code,
            };
            match client.heads(pb::HeadsRequest {}).await {
                Ok(response) => {
                    print_heads(lang, json, &response.into_inner().heads);
                    ExitCode::SUCCESS
                }
                Err(status) => fail(&format!("{}: {}", lang.pick("节点拒绝", "node refused"), status.message()), 1),
            }
        }
        NetworkCommand::Enroll {
            node,
            child_key,
            unit,
            role,
            valid_days,
            label,
            parent_address,
            out,
            name,
            short_name,
            org_type,
            org_code,
        } => {
            let target = match resolve_target(&node) {
                Ok(target) => target,
                Err(code) => return code,
            };
            // The name is checked before anything is recorded, so a bad name enrolls nothing.
            let named = name.map(|name| pb::UnitNamed {
                unit_path: unit.to_string(),
                name,
                short_name,
                org_type: org_type.unwrap_or_else(|| default_org_type(&unit)),
                org_code,
            });
            if named.is_some() && role != Role::Node {
                return fail(
                    &lang.pick(
                        "--name 只用于登记下级单位的节点（--role node）：笔记本和查看者属于已有单位",
                        "--name is for a child unit's node (--role node): laptops and viewers belong to a unit already named",
                    ),
                    2,
                );
            }
            if let Some(named) = &named
                && let Err(violation) = rollcall_core::audit::rules::check_unit_name(named)
            {
                return fail(&lang.pick(&violation.message_zh(), &violation.to_string()), 2);
            }
            let enrolled = enroll(&target, &child_key, &unit, role, valid_days, &label, parent_address).await;
            match enrolled.and_then(|bundle| bundle.write(&out).map(|()| bundle).map_err(|err| err.to_string())) {
                Ok(bundle) => {
                    if let Some(named) = named {
                        let code = with_backend(&node, lang, json, |backend| async move {
                            let mut backend = backend;
                            let outcome =
                                rollcall_client::commands::name_unit(&mut backend, named, "operator", lang).await;
                            (backend, outcome)
                        })
                        .await;
                        if code != ExitCode::SUCCESS {
                            return code;
                        }
                    }
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({ "bundle": out.display().to_string(), "unit": bundle.unit, "role": bundle.role })
                        );
                    } else {
                        let (role_zh, next_zh, next_en) = match role {
                            Role::Node => (
                                "节点",
                                format!(
                                    "在下级服务器上执行：rollcall-node join --dir 节点目录 --bundle {}",
                                    out.display()
                                ),
                                format!(
                                    "on the child's server run: rollcall-node join --dir DIR --bundle {}",
                                    out.display()
                                ),
                            ),
                            Role::Laptop => (
                                "笔记本",
                                format!("在该笔记本上执行：rollcall join --dir ~/.rollcall --bundle {}", out.display()),
                                format!(
                                    "on the laptop run: rollcall join --dir ~/.rollcall --bundle {}",
                                    out.display()
                                ),
                            ),
                            Role::Viewer => (
                                "查看者",
                                format!(
                                    "将凭证 {} 交给查看者；其用自己的密钥签发查看令牌（rollcall dashboard-token --key 查看者密钥）",
                                    out.display()
                                ),
                                format!(
                                    "hand {} to the viewer, who signs dashboard tokens with its own key (rollcall dashboard-token --key VIEWER.key)",
                                    out.display()
                                ),
                            ),
                        };
                        match lang {
                            Lang::Zh => println!("已登记 {}（{role_zh}）→ {}", bundle.unit, out.display()),
                            Lang::En => println!("enrolled {} ({}) → {}", bundle.unit, bundle.role, out.display()),
                        }
                        println!("{}", lang.pick(&next_zh, &next_en));
                    }
                    ExitCode::SUCCESS
                }
                Err(message) => fail(&format!("{}: {message}", lang.pick("登记失败", "enrollment failed")), 1),
            }
        }
        NetworkCommand::Consumer { node, unit, out, valid_days, label, address } => {
            let target = match resolve_target(&node) {
                Ok(target) => target,
                Err(code) => return code,
            };
            if let Err(error) = rollcall_client::consumer::check_new(&out) {
                return fail(&error, 2);
            }
            match consumer(&target, unit, valid_days, &label, address, &out).await {
                Ok(files) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({
                                "dir": out.display().to_string(),
                                "unit": files.unit.to_string(),
                                "viewer_key": files.viewer_key.to_hex(),
                                "address": files.address,
                            })
                        );
                    } else {
                        match lang {
                            Lang::Zh => {
                                println!("已为 {} 生成读取凭证 → {}", files.unit, out.display());
                                println!(
                                    "查看者密钥 {}（吊销：rollcall revoke --child-key {} --after-seq 0）",
                                    files.viewer_key.to_hex(),
                                    files.viewer_key.to_hex()
                                );
                                println!("把整个目录交给使用方；其 README.md 说明如何连接（client.key 须保密）");
                            }
                            Lang::En => {
                                println!("consumer credentials for {} → {}", files.unit, out.display());
                                println!(
                                    "viewer key {} (to revoke: rollcall revoke --child-key {} --after-seq 0)",
                                    files.viewer_key.to_hex(),
                                    files.viewer_key.to_hex()
                                );
                                println!(
                                    "hand the whole directory over; its README.md shows how to connect (keep client.key secret)"
                                );
                            }
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(message) => fail(
                    &format!("{}: {message}", lang.pick("生成读取凭证失败", "writing the consumer credentials failed")),
                    1,
                ),
            }
        }
        NetworkCommand::Init { dir, unit } => {
            let Some(level) = unit.level() else {
                return fail(&format!("{unit} is not at a known level"), 2);
            };
            match rollcall_server::config::init(&dir, &unit, level, "127.0.0.1:0") {
                Ok((replica, _)) => {
                    println!("{} {}", lang.pick("已创建", "created"), dir.display());
                    println!(
                        "{}: {}",
                        lang.pick("本机公钥（交给上级登记）", "this laptop's key (hand it to the node above)"),
                        replica.to_hex()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error, 2),
            }
        }
        NetworkCommand::Join { dir, bundle } => {
            let joined = rollcall_server::config::read_key(&dir.join(rollcall_server::config::REPLICA_KEY_FILE))
                .map_err(|err| err.to_string())
                .and_then(|key| {
                    let file = Bundle::read(&bundle).map_err(|err| err.to_string())?;
                    let checked = file
                        .check_for(&bundle, rollcall_server::config::replica_of(&key))
                        .map_err(|err| err.to_string())?;
                    rollcall_server::bundle::join_node(&dir, &checked).map_err(|err| err.to_string())?;
                    Ok(checked)
                });
            match joined {
                Ok(checked) => {
                    println!(
                        "{} {} ({}) → {}",
                        lang.pick("已加入", "joined"),
                        checked.unit,
                        checked.role.as_str(),
                        checked.parent_address
                    );
                    ExitCode::SUCCESS
                }
                Err(message) => fail(&message, 2),
            }
        }
        NetworkCommand::Sync { dir, timeout_secs } => {
            let node = match open_embedded(&dir) {
                Ok(node) => node,
                Err(code) => return code,
            };
            // A spinner with the events received so far, for syncs of more than a moment
            // (only on a terminal, never with --json).
            let spinner = if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                indicatif::ProgressBar::hidden()
            } else {
                indicatif::ProgressBar::new_spinner()
            };
            spinner.set_message(lang.pick("正在与上级同步…", "syncing with the level above…").to_string());
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            let laptop_unit = Some(node.info.unit.to_string());
            let mut positions = node.writer.ingest_position();
            let start_position = *positions.borrow();
            let progress = spinner.clone();
            let received_label = lang.pick("已接收并保存", "received and stored");
            let watcher = tokio::spawn(async move {
                while positions.changed().await.is_ok() {
                    let now = *positions.borrow();
                    progress.set_message(format!("{received_label} {}", now.saturating_sub(start_position)));
                }
            });
            let outcome = tokio::time::timeout(std::time::Duration::from_secs(timeout_secs), node.sync_with_parent())
                .await
                .unwrap_or_else(|_| {
                    Err(format!("not finished within {timeout_secs} s; what was acknowledged is kept, run it again"))
                });
            watcher.abort();
            spinner.finish_and_clear();
            node.close().await;
            match outcome {
                Ok(summary) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({
                                "sent": summary.sent,
                                "received": summary.received,
                                "rejected": summary.rejected,
                                "refused_by_parent": summary.refused_by_peer,
                                "revoked_after_seq": summary.revoked_after,
                            })
                        );
                    } else {
                        let refused = if summary.rejected + summary.refused_by_peer > 0 {
                            lang.pick("（有拒收，见日志）", " (some refused, see the log)")
                        } else {
                            ""
                        };
                        match lang {
                            Lang::Zh => {
                                println!("同步完成：发送 {} 条，接收 {} 条{refused}", summary.sent, summary.received)
                            }
                            Lang::En => println!(
                                "synced: sent {} events, received {} events{refused}",
                                summary.sent, summary.received
                            ),
                        }
                    }
                    if let Some(after) = summary.revoked_after {
                        let unit = laptop_unit.as_deref().unwrap_or("");
                        eprintln!(
                            "{}",
                            match lang {
                                Lang::Zh => format!(
                                    "注意：本笔记本已被党支部（{unit}）吊销，只承认第 {after} 条（含）之前签署的记录。\
                                     这些记录已上交；之后的 {} 条被拒收。本机今后不再接收数据，请向党支部重新登记新的笔记本。",
                                    summary.refused_by_peer
                                ),
                                Lang::En => format!(
                                    "note: this laptop was revoked by its branch ({unit}) after seq {after}: what it signed \
                                     up to that seq was handed in; {} later events were refused. It receives nothing any \
                                     more: enroll a new laptop with the branch.",
                                    summary.refused_by_peer
                                ),
                            }
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(message) => fail(&format!("{}: {message}", lang.pick("同步失败", "sync failed")), 1),
            }
        }
        NetworkCommand::Revoke { node, child_key, after_seq, reason } => {
            let child = match ReplicaId::from_hex(&child_key) {
                Ok(child) => child,
                Err(message) => return fail(&format!("--child-key: {message}"), 2),
            };
            let mut client = match client(&node).await {
                Ok(client) => client,
                Err(code) => return code,
            };
            let chain =
                match client.enrollment_chain(pb::EnrollmentChainRequest { replica: child.0.to_vec().into() }).await {
                    Ok(response) => response.into_inner().events,
                    Err(status) => {
                        return fail(
                            &format!(
                                "{}: {}",
                                lang.pick("找不到该公钥的登记", "no enrollment of that key"),
                                status.message()
                            ),
                            1,
                        );
                    }
                };
            let unit = chain
                .last()
                .and_then(|event| codec::from_proto(event.clone()).ok())
                .and_then(|signed| rollcall_core::verify(&signed).ok())
                .map(|event| event.header().unit_path.to_string());
            let Some(unit) = unit else {
                return fail(&lang.pick("该公钥的登记事件无法读取", "the enrollment of that key cannot be read"), 1);
            };
            let body = Body::ReplicaRevoked(pb::ReplicaRevoked {
                public_key: child.0.to_vec().into(),
                revoked_after_seq: after_seq,
                reason,
            });
            let request = pb::AppendRequest {
                drafts: vec![pb::EventDraft {
                    unit_path: unit.clone(),
                    kind: EventKind::ReplicaRevoked as i32,
                    body: body.encode(),
                    author: "operator".into(),
                    draft_id: fresh_draft_id(),
                }],
            };
            match client.append(request).await {
                Ok(_) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({ "revoked": child.to_hex(), "unit": unit, "after_seq": after_seq })
                        );
                    } else {
                        println!(
                            "{} {} ({unit})，{} {after_seq}",
                            lang.pick("已吊销", "revoked"),
                            child.short(),
                            lang.pick("有效至序号", "valid up to seq")
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(status) => {
                    let refusal = rollcall_client::backend::Refusal::from_status(&status);
                    fail(&format!("{}: {}", lang.pick("吊销失败", "revocation failed"), refusal.message(lang)), 1)
                }
            }
        }
        NetworkCommand::Status { node: NodeArgs { dir: Some(dir), .. } } => {
            // A laptop: what its last sync left unacknowledged, offline.
            let node = match open_embedded(&dir) {
                Ok(node) => node,
                Err(code) => return code,
            };
            let status = rollcall_server::rpc::sync_status(&node.store, &node.authority, &node.info, Vec::new());
            node.close().await;
            match status {
                Ok(status) => {
                    print_status(lang, json, status);
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error, 1),
            }
        }
        NetworkCommand::Status { node } => {
            let mut client = match client(&node).await {
                Ok(client) => client,
                Err(code) => return code,
            };
            match client.sync_status(pb::SyncStatusRequest {}).await {
                Ok(response) => {
                    print_status(lang, json, response.into_inner());
                    ExitCode::SUCCESS
                }
                Err(status) => fail(&format!("{}: {}", lang.pick("节点拒绝", "node refused"), status.message()), 1),
            }
        }
    }
}

/// The 党组织 type a unit of this level usually is: 党委 above a branch, 党支部 at one.
fn default_org_type(unit: &UnitPath) -> i32 {
    match unit.level() {
        Some(rollcall_core::unit::Level::Branch) => pb::OrgType::Branch as i32,
        _ => pb::OrgType::Committee as i32,
    }
}

#[allow(clippy::too_many_arguments)]
async fn enroll(
    target: &Target,
    child_key: &str,
    unit: &UnitPath,
    role: Role,
    valid_days: u64,
    label: &str,
    parent_address: Option<String>,
) -> Result<Bundle, String> {
    let child = ReplicaId::from_hex(child_key).map_err(|err| format!("--child-key: {err}"))?;
    let channel = target.connect().await.map_err(|err| err.to_string())?;
    let mut client = NodeClient::new(channel);
    let identity = client.identity(pb::IdentityRequest {}).await.map_err(|s| s.message().to_string())?.into_inner();
    let level = unit.level().ok_or_else(|| format!("{unit} is not at a known level"))?;
    let valid_until_ms = if valid_days == 0 { 0 } else { rollcall_server::writer::now_ms() + valid_days * 86_400_000 };
    let body = Body::ReplicaEnrolled(pb::ReplicaEnrolled {
        public_key: child.0.to_vec().into(),
        unit_path: unit.to_string(),
        level: level.to_proto() as i32,
        role: role.to_proto() as i32,
        valid_until_ms,
        label: label.to_string(),
    });
    let draft = pb::EventDraft {
        unit_path: unit.to_string(),
        kind: EventKind::ReplicaEnrolled as i32,
        body: body.encode(),
        author: "operator".into(),
        draft_id: fresh_draft_id(),
    };
    let appended = client
        .append(pb::AppendRequest { drafts: vec![draft] })
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    let seq = appended.events.first().map(|e| e.seq).ok_or("the node appended nothing")?;
    let mut stream = client
        .read_log(pb::ReadLogRequest { replica: identity.replica.clone(), from_seq: seq, limit: 1 })
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    let event = stream
        .message()
        .await
        .map_err(|s| s.message().to_string())?
        .and_then(|batch| batch.events.into_iter().next())
        .ok_or("the enrollment event could not be read back")?;
    let signed = codec::from_proto(event).map_err(|err| err.to_string())?;
    let chain = client
        .enrollment_chain(pb::EnrollmentChainRequest { replica: child.0.to_vec().into() })
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner()
        .events
        .into_iter()
        .map(|event| codec::from_proto(event).map(|signed| hex::encode(codec::encode_signed(&signed))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| err.to_string())?;
    let bundle = Bundle {
        chain,
        root_key: hex::encode(&identity.root_key),
        root_unit: identity.root_unit,
        parent_address: parent_address.unwrap_or_else(|| target.address.clone()),
        parent_key: hex::encode(&identity.replica),
        replica: child.to_hex(),
        unit: unit.to_string(),
        role: role.as_str().to_string(),
        enrollment: hex::encode(codec::encode_signed(&signed)),
    };
    Ok(bundle)
}

/// Enrolls a fresh viewer key for `unit`, binds a P-256 certificate to it and writes the
/// consumer's directory; the viewer key itself is dropped here.
async fn consumer(
    target: &Target,
    unit: Option<UnitPath>,
    valid_days: u64,
    label: &str,
    address: Option<String>,
    out: &std::path::Path,
) -> Result<rollcall_client::consumer::ConsumerFiles, String> {
    let channel = target.connect().await.map_err(|err| err.to_string())?;
    let identity = NodeClient::new(channel)
        .identity(pb::IdentityRequest {})
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    if identity.stock_certificate_pem.is_empty() {
        return Err("the node serves no certificate for stock clients: upgrade it".to_string());
    }
    let node_unit = UnitPath::parse(&identity.unit_path).map_err(|err| err.to_string())?;
    let unit = unit.unwrap_or(node_unit);
    let viewer = rollcall_server::config::fresh_key();
    let viewer_key = rollcall_server::config::replica_of(&viewer);
    // The enrollment goes through the same path as `rollcall enroll --role viewer`; its
    // bundle (for a rollcall node, not a stock client) is not part of the directory.
    let bundle = enroll(target, &viewer_key.to_hex(), &unit, Role::Viewer, valid_days, label, address.clone()).await?;
    let valid_until_ms = if valid_days == 0 { 0 } else { rollcall_server::writer::now_ms() + valid_days * 86_400_000 };
    // The binding itself does not expire: the enrollment's validity (checked at every
    // call) and its revocation govern it.
    let client = rollcall_server::tls::bound_certificate(&viewer, 0, label).map_err(|err| err.to_string())?;
    let files = rollcall_client::consumer::ConsumerFiles {
        address: bundle.parent_address,
        unit,
        viewer_key,
        node_key: replica_of_bytes(&identity.replica)?,
        node_unit: identity.unit_path,
        root_key: replica_of_bytes(&identity.root_key)?,
        root_unit: identity.root_unit,
        client,
        node_certificate_pem: identity.stock_certificate_pem,
        valid_until_ms,
    };
    rollcall_client::consumer::write(out, &files).map_err(|err| err.to_string())?;
    Ok(files)
}

fn replica_of_bytes(bytes: &[u8]) -> Result<ReplicaId, String> {
    bytes.try_into().map(ReplicaId).map_err(|_| format!("a key of {} bytes, expected 32", bytes.len()))
}

fn print_status(lang: Lang, json: bool, status: pb::SyncStatusResponse) {
    if json {
        let edges: Vec<_> = status
            .edges
            .iter()
            .map(|e| {
                serde_json::json!({
                    "replica": hex::encode(&e.replica), "unit": e.unit, "connected": e.connected, "sent": e.sent,
                    "received": e.received, "rejected": e.rejected, "unsent": e.unsent, "oldest_unsent_ms": e.oldest_unsent_ms, "last_ack_ms": e.last_ack_ms,
                })
            })
            .collect();
        let receipt = status.last_receipt.as_ref().map(|r| serde_json::json!({
            "by": hex::encode(&r.by), "stored_at_ms": r.stored_at_ms, "receipt_seq": r.receipt_seq,
            "heads": r.heads.iter().map(|h| serde_json::json!({ "replica": hex::encode(&h.replica), "seq": h.seq })).collect::<Vec<_>>(),
        }));
        let exports: Vec<_> = status
            .exports
            .iter()
            .map(|x| {
                serde_json::json!({
                    "kind": x.kind, "target": x.target, "servers": x.servers, "cursor": x.cursor, "position": x.position,
                    "lag": x.position.saturating_sub(x.cursor), "connected": x.connected, "published": x.published,
                    "duplicates": x.duplicates, "last_export_ms": x.last_export_ms, "last_error": x.last_error,
                })
            })
            .collect();
        let recovery = status.recovery.as_ref().map(|r| serde_json::json!({
            "waiting": r.waiting.iter().map(|w| serde_json::json!({ "replica": hex::encode(&w.replica), "unit": w.unit, "heard": w.heard, "holds_seq": w.holds_seq, "recovering": w.recovering })).collect::<Vec<_>>(),
        }));
        println!(
            "{}",
            serde_json::json!({ "edges": edges, "last_receipt": receipt, "unsent_up": status.unsent_up, "oldest_unsent_up_ms": status.oldest_unsent_up_ms, "exports": exports, "recovery": recovery })
        );
        return;
    }
    if let Some(recovery) = &status.recovery {
        println!(
            "{}",
            lang.pick(
                "本节点正在恢复自己的日志，暂不签署任何事件；正在等待：",
                "this node is recovering its own log and signs nothing yet; waiting for:"
            )
        );
        for wait in &recovery.waiting {
            let why = if wait.recovering {
                lang.pick(
                    "同样在恢复中：待它收齐其他相邻节点的事件后才计其所持",
                    "recovering too: what it holds counts once it has heard all its other peers",
                )
                .to_string()
            } else if wait.heard {
                match lang {
                    Lang::Zh => format!("持有本节点日志至第 {} 条，本节点尚未收齐", wait.holds_seq),
                    Lang::En => format!("holds this node's log up to seq {}, not all back here yet", wait.holds_seq),
                }
            } else {
                lang.pick("自本节点启动以来尚未送来其持有的事件", "has not sent what it holds since this node started")
                    .to_string()
            };
            println!("  {} {}", left(&wait.unit, 24), why);
        }
    }
    println!(
        "{} {} {} {} {} {} {} {}",
        left(lang.pick("连接单位", "peer unit"), 24),
        left(lang.pick("状态", "state"), 8),
        right(lang.pick("已发送", "sent"), 8),
        right(lang.pick("已接收", "received"), 9),
        right(lang.pick("未发送", "unsent"), 8),
        left(lang.pick("最早未发送", "oldest unsent"), 17),
        right(lang.pick("拒收", "rejected"), 9),
        lang.pick("最近确认", "last ack")
    );
    for edge in &status.edges {
        println!(
            "{} {} {} {} {} {} {} {}",
            left(&edge.unit, 24),
            left(if edge.connected { lang.pick("在线", "online") } else { lang.pick("离线", "offline") }, 8),
            right(&edge.sent.to_string(), 8),
            right(&edge.received.to_string(), 9),
            right(&edge.unsent.to_string(), 8),
            left(&format_time(edge.oldest_unsent_ms), 17),
            right(&edge.rejected.to_string(), 9),
            format_time(edge.last_ack_ms)
        );
    }
    match &status.last_receipt {
        Some(receipt) => {
            let events: u64 = receipt.heads.iter().map(|h| h.seq).sum();
            println!(
                "{}: {} ({} {} {})",
                lang.pick("上级回执", "receipt from the level above"),
                format_time(receipt.stored_at_ms),
                lang.pick("已收到", "holding"),
                events,
                lang.pick("个事件", "events")
            );
        }
        None => println!("{}", lang.pick("上级回执: 尚无", "receipt from the level above: none yet")),
    }
    if status.unsent_up > 0 {
        let hours = rollcall_server::writer::now_ms().saturating_sub(status.oldest_unsent_up_ms) / 3_600_000;
        println!(
            "{}: {} {}，{} {}（{} {}）",
            lang.pick("上级尚未确认", "not yet acknowledged above"),
            status.unsent_up,
            lang.pick("个事件", "events"),
            lang.pick("最早的记于", "the oldest written"),
            format_time(status.oldest_unsent_up_ms),
            hours,
            lang.pick("小时前", "hours ago")
        );
    }
    for export in &status.exports {
        let lag = export.position.saturating_sub(export.cursor);
        let state = match (export.connected, lag) {
            (true, 0) => lang.pick("已全部导出", "up to date").to_string(),
            (true, _) => lang.pick("导出中", "exporting").to_string(),
            (false, _) if export.last_error.is_empty() => lang.pick("连接中", "connecting").to_string(),
            (false, _) => format!("{}{}", lang.pick("中断：", "interrupted: "), export.last_error),
        };
        let last = format_time(export.last_export_ms);
        let servers = export.servers.join(", ");
        match lang {
            Lang::Zh => {
                println!(
                    "导出到 NATS JetStream 流 {}（{servers}）：落后 {lag} 个事件，最近导出 {last}；{state}",
                    export.target
                )
            }
            Lang::En => println!(
                "export to the NATS JetStream stream {} ({servers}): behind by {lag} events, last exported {last}; {state}",
                export.target
            ),
        }
    }
}

/// Milliseconds since the epoch as China Standard Time.

fn print_heads(lang: Lang, json: bool, heads: &[pb::ReplicaHead]) {
    if json {
        let rows: Vec<_> = heads
            .iter()
            .map(|h| serde_json::json!({ "replica": hex::encode(&h.replica), "seq": h.seq, "hash": hex::encode(&h.hash) }))
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return;
    }
    println!("{} {}", left(lang.pick("副本", "replica"), 64), right(lang.pick("日志头", "head"), 10));
    for head in heads {
        println!("{:<64} {:>10}", hex::encode(&head.replica), head.seq);
    }
}
