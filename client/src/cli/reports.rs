//! `rollcall`'s commands for what is reported: rollups, tables 1-3, the registers, deadlines, report submission and verification: their arguments and their wiring, next to each other.
//! Each command builds its request, calls the node (or the laptop's own node) through the
//! backend and prints the answer; the logic lives in the library (`rollcall_client`).

#![allow(clippy::wildcard_imports)]

use crate::*;

#[derive(Subcommand)]
pub(crate) enum ReportsCommand {
    /// 逐级汇总 / the rollup of a unit and of each unit below it.
    #[command(after_help = "示例 / Example:\n  rollcall rollup --node-dir demo/hb --unit hb/u01")]
    Rollup {
        #[command(flatten)]
        node: NodeArgs,
        /// 单位（默认为本节点）/ the unit (default: this node's).
        #[arg(long)]
        unit: Option<String>,
    },
    /// 表1-3（可导出 XLSX/CSV/PDF）/ table 1, 2 or 3 (export with --out FILE.xlsx, .csv or .pdf).
    #[command(after_help = "示例 / Example:\n  rollcall table 2 --node-dir demo/hb --out 表2.xlsx")]
    Table {
        #[command(flatten)]
        node: NodeArgs,
        /// 表号 1、2、3 / table number.
        number: u32,
        /// 单位（默认为本节点）/ the unit (default: this node's).
        #[arg(long)]
        unit: Option<String>,
        /// 导出文件（.xlsx 或 .csv）/ write to this file (.xlsx or .csv).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// 登记表：经查找取得联系 / 仍无法取得联系 / the registers of members found again or still unreachable.
    #[command(after_help = "示例 / Example:\n  rollcall register still-lost --node-dir demo/hb --out 仍失联.xlsx")]
    Register {
        #[command(flatten)]
        node: NodeArgs,
        /// found | still-lost.
        which: RegisterKind,
        /// 单位（默认为本节点）/ the unit (default: this node's).
        #[arg(long)]
        unit: Option<String>,
        /// 导出文件（.xlsx 或 .csv）/ write to this file (.xlsx or .csv).
        #[arg(long)]
        out: Option<PathBuf>,
        /// 显示完整身份证号（仅限本节点操作员；默认隐去出生日期和顺序码）/ full ID numbers (operators
        /// only; masked by default).
        #[arg(long)]
        show_personal: bool,
    },
    /// 时间节点进度：已完成 / 按计划 / 有风险 / 已逾期 / where a unit stands against each deadline.
    Deadlines {
        #[command(flatten)]
        node: NodeArgs,
        /// 单位（默认为本节点）/ the unit (default: this node's).
        #[arg(long)]
        unit: Option<String>,
    },
    /// 报表：报送、查看核验结果、退回 / tables: submit, see the level above's verification, return.
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(Subcommand)]
pub(crate) enum ReportCommand {
    /// 报送本单位的表1-3（按当前数据计算并签名，上级收到后自动核算）/ submit this unit's tables 1-3
    /// (computed now and signed; the level above recomputes them when it holds the events).
    #[command(
        after_help = "示例 / Example:\n  rollcall report submit --node-dir /srv/whu --table all\n  rollcall report list --node-dir /srv/whu"
    )]
    Submit {
        #[command(flatten)]
        node: NodeArgs,
        /// 1、2、3 或 all / 1, 2, 3 or all.
        #[arg(long, default_value = "all")]
        table: String,
        /// 填报人 / the person submitting.
        #[arg(long, default_value = "operator")]
        author: String,
    },
    /// 本单位及下级单位的报送和核验情况 / this unit's and the units below's submissions and verdicts.
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// 单位（默认本节点）/ the unit (default: this node's).
        #[arg(long)]
        unit: Option<String>,
    },
    /// 退回下级单位报送的报表（须说明理由；对方重新报送）/ return a table a unit below submitted (with the reason).
    #[command(
        after_help = "示例 / Example:\n  rollcall report return --node-dir /srv/hb --unit hb/whu --table 2 --reason 失联人数与排查记录不符"
    )]
    Return {
        #[command(flatten)]
        node: NodeArgs,
        /// 报送单位 / the unit that submitted it.
        #[arg(long)]
        unit: String,
        /// 表号 / the table.
        #[arg(long)]
        table: u32,
        /// 退回理由 / the reason.
        #[arg(long)]
        reason: String,
        /// 操作人 / the person acting.
        #[arg(long, default_value = "operator")]
        author: String,
    },
    /// 导出报表报送证明：报送事件、检查点以内重算所需的全部事件、登记链和上级回执，由本节点签名，可脱机重算核验 / export the proof of a submitted table: the submission, every event up to its checkpoint, the enrollment chain and the receipt of the level above, signed by this node, verifiable offline.
    #[command(
        after_help = "示例 / Example:\n  rollcall report proof --node-dir /srv/hb --unit hb/whu --table 1 --out 表1报送证明.zip\n  rollcall verify report-proof 表1报送证明.zip --root <本省根密钥>\n\n重算需要党员登记事件全文：证明文件含个人信息，仅节点操作员可导出，请妥善保管。\nThe recomputation needs the members' registrations in full: the proof holds personal data (operators only)."
    )]
    Proof {
        #[command(flatten)]
        node: NodeArgs,
        /// 报送单位（默认本节点）/ the reporting unit (default: this node's).
        #[arg(long)]
        unit: Option<String>,
        /// 表号 1、2、3 / the table.
        #[arg(long)]
        table: u32,
        /// 输出文件（.zip）/ the file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum RegisterKind {
    /// 经查找取得联系党员登记表.
    Found,
    /// 经查找仍然无法取得联系党员登记表.
    StillLost,
}

/// Runs one of these commands.
pub(crate) async fn run(command: ReportsCommand, lang: Lang, json: bool) -> ExitCode {
    match command {
        ReportsCommand::Rollup { node, unit } => {
            query(
                &node,
                lang,
                json,
                async |backend| backend.rollup(pb::RollupRequest { unit_path: unit.unwrap_or_default() }).await,
                rollcall_client::render::rollup_json,
                rollcall_client::render::rollup_text,
            )
            .await
        }
        ReportsCommand::Table { node, number, unit, out } => {
            let mut backend = match backend(&node).await {
                Ok(backend) => backend,
                Err(code) => return code,
            };
            let result = backend.table(pb::TableRequest { unit_path: unit.unwrap_or_default(), table: number }).await;
            backend.close().await;
            if let (Some(path), Ok(table)) = (&out, &result) {
                let sheet = rollcall_client::export::table_sheet(table, lang == Lang::Zh);
                if let Err(error) = rollcall_client::export::write_by_extension(&sheet, path) {
                    return fail(&error, 1);
                }
                eprintln!("{} {}", lang.pick("已导出", "written"), path.display());
            }
            print_or_fail(lang, json, result, rollcall_client::render::table_json, rollcall_client::render::table_text)
        }
        ReportsCommand::Register { node, which, unit, out, show_personal } => {
            let mut backend = match backend(&node).await {
                Ok(backend) => backend,
                Err(code) => return code,
            };
            let unit = unit.unwrap_or_default();
            let still_lost = matches!(which, RegisterKind::StillLost);
            let result = backend.register(pb::RegisterRequest { unit_path: unit, still_lost, show_personal }).await;
            backend.close().await;
            let sheet = match &result {
                Ok(register) => rollcall_client::export::register_sheet(register, lang == Lang::Zh),
                Err(refusal) => return fail(&refusal.message(lang), 1),
            };
            if let Some(path) = &out {
                if let Err(error) = rollcall_client::export::write_by_extension(&sheet, path) {
                    return fail(&error, 1);
                }
                eprintln!("{} {}", lang.pick("已导出", "written"), path.display());
            }
            if json {
                let rows: Vec<_> = sheet
                    .rows
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|c| match c {
                                rollcall_client::export::Cell::Text(t) => serde_json::json!(t),
                                rollcall_client::export::Cell::Number(n) => serde_json::json!(n),
                                rollcall_client::export::Cell::Blank => serde_json::json!(""),
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect();
                println!("{}", serde_json::json!({ "title": sheet.title, "headings": sheet.headings, "rows": rows }));
            } else {
                let rows: Vec<Vec<String>> = sheet
                    .rows
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|c| match c {
                                rollcall_client::export::Cell::Text(t) => t.clone(),
                                rollcall_client::export::Cell::Number(n) => n.to_string(),
                                rollcall_client::export::Cell::Blank => String::new(),
                            })
                            .collect()
                    })
                    .collect();
                print!(
                    "{}\n{}\n{}",
                    sheet.title,
                    sheet.subtitle,
                    rollcall_client::render::grid(&sheet.headings, &rows)
                );
                println!("{} {}", lang.pick("共", "total"), rows.len());
            }
            ExitCode::SUCCESS
        }
        ReportsCommand::Deadlines { node, unit } => {
            let mut backend = match backend(&node).await {
                Ok(backend) => backend,
                Err(code) => return code,
            };
            let result = backend.deadlines(pb::DeadlinesRequest { unit_path: unit.unwrap_or_default() }).await;
            backend.close().await;
            print_or_fail(
                lang,
                json,
                result,
                rollcall_client::render::deadlines_json,
                rollcall_client::render::deadlines_text,
            )
        }
        ReportsCommand::Report(ReportCommand::Submit { node, table, author }) => {
            let tables: Vec<u32> = match table.as_str() {
                "all" => vec![1, 2, 3],
                "1" | "2" | "3" => vec![table.parse().expect("a digit")],
                other => {
                    return fail(
                        &format!("--table {other}: {}", lang.pick("应为 1、2、3 或 all", "expected 1, 2, 3 or all")),
                        2,
                    );
                }
            };
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::submit_reports(&mut backend, &tables, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        ReportsCommand::Report(ReportCommand::Proof { node, unit, table, out }) => {
            let request = pb::ReportProofRequest { unit_path: unit.unwrap_or_default(), table };
            let mut backend = match backend(&node).await {
                Ok(backend) => backend,
                Err(code) => return code,
            };
            let result = backend.report_proof(request).await;
            backend.close().await;
            let proof = match result {
                Ok(proof) => proof,
                Err(refusal) => {
                    if json {
                        println!("{}", serde_json::json!({ "error": refusal.en }));
                    }
                    return fail(&refusal.message(lang), 1);
                }
            };
            if let Err(code) = write_archive(&out, &proof.bytes, true) {
                return code;
            }
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "file": out.display().to_string(),
                        "bytes": proof.bytes.len(),
                        "events": proof.events,
                        "recomputed": proof.stage,
                    })
                );
            } else {
                println!(
                    "{} {}（{} {}，{}，{} KB）",
                    lang.pick("报送证明已导出：", "proof written:"),
                    out.display(),
                    proof.events,
                    lang.pick("个事件", "events"),
                    match proof.stage.as_str() {
                        "equal" => lang.pick("按检查点重算与报送一致", "the recomputation equals the submission"),
                        _ => lang.pick("按检查点重算与报送有差异", "the recomputation differs from the submission"),
                    },
                    proof.bytes.len().div_ceil(1024)
                );
                println!(
                    "{}",
                    lang.pick(
                        "文件含党员登记信息（重算所需），已设为仅本人可读，请妥善保管。",
                        "the file holds members' registrations (the recomputation needs them); it is readable by you only."
                    )
                );
                println!(
                    "{} rollcall verify report-proof {} --root <{}>",
                    lang.pick("脱机核验：", "verify offline:"),
                    out.display(),
                    lang.pick("本省根密钥", "the province's root key")
                );
            }
            ExitCode::SUCCESS
        }
        ReportsCommand::Report(ReportCommand::List { node, unit }) => {
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::list_reports(&mut backend, unit.as_deref(), lang).await;
                (backend, outcome)
            })
            .await
        }
        ReportsCommand::Report(ReportCommand::Return { node, unit, table, reason, author }) => {
            if reason.trim().is_empty() {
                return fail(&lang.pick("--reason 不能为空", "--reason is required"), 2);
            }
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome =
                    rollcall_client::commands::return_report(&mut backend, &unit, table, &reason, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
    }
}
