//! `rollcall`'s commands for the audit itself: the campaign and its policy, unit names, the member form, the five checks, the search, management actions, dispositions, corrections, findings: their arguments and their wiring, next to each other.
//! Each command builds its request, calls the node (or the laptop's own node) through the
//! backend and prints the answer; the logic lives in the library (`rollcall_client`).

#![allow(clippy::wildcard_imports)]

use crate::*;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// 省级开启排查工作并下达时间节点 / open the campaign and set its deadlines (province).
    #[command(
        after_help = "示例 / Example:\n  rollcall campaign-open --node-dir demo/hb --year 2025 --as-of 2025-03-31"
    )]
    CampaignOpen {
        #[command(flatten)]
        node: NodeArgs,
        /// 年度 / the year.
        #[arg(long)]
        year: i32,
        /// 统计截止日期（默认当年3月31日）/ as-of date of the tables (default: March 31 of the year).
        #[arg(long)]
        as_of: Option<String>,
        /// 名称 / the campaign's name.
        #[arg(long)]
        name: Option<String>,
        /// 操作人 / the person acting.
        #[arg(long, default_value = "operator")]
        author: String,
    },
    /// 查看排查工作：名称、统计截止日期、时间节点和适用的规则 / show the campaign: its name, as-of date,
    /// deadlines and the policy in force.
    CampaignShow {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// 省级调整排查政策（只改所列各项，自本事件起各级适用）/ the province changes the campaign's
    /// policy (only the fields given; every level applies it from this event on).
    #[command(
        after_help = "示例 / Example:\n  rollcall policy-set --node-dir demo/hb --lost-contact-months 12 --reason 省委组织部通知\n\n当前政策见 rollcall campaign-show / the policy in force: rollcall campaign-show"
    )]
    PolicySet {
        #[command(flatten)]
        node: NodeArgs,
        /// 自行脱党除名所需查找次数（通知：3）/ search attempts before removal for self-separation (notice: 3).
        #[arg(long)]
        self_separation_attempts: Option<u32>,
        /// 所需查找方式种数（通知：2）/ different search methods needed (notice: 2).
        #[arg(long)]
        self_separation_methods: Option<u32>,
        /// 所需查找跨度（月，通知：6）/ months the search must span (notice: 6).
        #[arg(long)]
        self_separation_months: Option<u32>,
        /// 到会须超过应到会人数的百分比（通知：50）/ quorum, per cent of those who should attend (notice: 50).
        #[arg(long)]
        quorum_percent: Option<u32>,
        /// 赞成须超过应到会人数的百分比（通知：50）/ majority, per cent of those who should attend (notice: 50).
        #[arg(long)]
        majority_percent: Option<u32>,
        /// 认定失联的月数（通知：6）/ months without organisation life or dues before a member is lost (notice: 6).
        #[arg(long)]
        lost_contact_months: Option<u32>,
        /// 认定“口袋”党员的月数（通知：6）/ months a transfer letter may go without receipt (notice: 6).
        #[arg(long)]
        pocket_months: Option<u32>,
        /// 调整依据 / why (e.g. the notice that sets it).
        #[arg(long)]
        reason: String,
        /// 操作人 / the person acting.
        #[arg(long, default_value = "operator")]
        author: String,
    },
    /// 空白表格：党员基本情况登记表（带下拉列表和填写说明）/ blank forms to fill in: the per-member form.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// 单位名称：登记或更改下级单位的全称、简称、党组织类型和代码；查看名称 / unit names: record or change
    /// a unit's official name, short name, 党组织 type and code; list them.
    #[command(subcommand)]
    Unit(UnitCommand),
    /// 五核查：档案、联系状态、介绍信存根、现实表现 / the five checks.
    #[command(
        after_help = "示例 / Example:\n  rollcall check contact --dir ~/rollcall --member M1 --status lost --last-life 2024-05-01 --situation left-job\n  rollcall check archive --dir ~/rollcall --member M1 --present application-form --present political-review"
    )]
    Check {
        #[command(flatten)]
        node: NodeArgs,
        #[command(subcommand)]
        check: rollcall_client::record::Check,
        /// 操作人 / the person acting.
        #[arg(long, global = true, default_value = "operator")]
        author: String,
    },
    /// 查找、签字、规范管理、移交、档案等记录 / record a search attempt, sign-off, management action, referral, archive material.
    #[command(
        after_help = "示例 / Example:\n  rollcall record attempt --dir ~/rollcall --member M1 --method department --department public-security\n  rollcall record locate --dir ~/rollcall --member M1 --cause left-job --attitude-correct\n  rollcall record action --dir ~/rollcall --member M1 --kind card --card-number L2026001"
    )]
    Record {
        #[command(flatten)]
        node: NodeArgs,
        #[command(subcommand)]
        event: rollcall_client::record::MemberEvent,
        /// 操作人 / the person acting.
        #[arg(long, global = true, default_value = "operator")]
        author: String,
    },
    /// 组织处置：提出、调查、预审、表决、审批、退回、备案、申诉、限期改正审查 / disposition case steps.
    #[command(
        after_help = "示例 / Example:\n  rollcall case propose --dir ~/rollcall --member M1 --type self-separation --trigger lost-case --facts \"失联两年\"\n  rollcall case vote --dir ~/rollcall --case K123 --total 20 --present 15 --for 14 --against 1"
    )]
    Case {
        #[command(flatten)]
        node: NodeArgs,
        #[command(subcommand)]
        step: CaseCommand,
        /// 操作人 / the person acting.
        #[arg(long, global = true, default_value = "operator")]
        author: String,
    },
    /// 导入登记表或党内统计数据库导出表（XLSX/CSV，中文表头）/ import the member form or the statistics-database export.
    #[command(subcommand)]
    Import(ImportCommand),
    /// 与党内统计数据库的差异：列出、逐项核实 / statistics-database discrepancies: list and resolve.
    #[command(subcommand)]
    Statsdb(StatsdbCommand),
    /// 查看党员 / show or list members.
    #[command(subcommand)]
    Member(MemberCommand),
    /// 更正党员信息项 / correct a field of a member's record.
    #[command(
        after_help = "示例 / Example:\n  rollcall correct --dir ~/.rollcall --unit hb/whu/cs/b01 --member M --field 联系电话 --value 13800000000\n\n解决冲突时用 --settles 列出被取代的更正事件 / to settle a conflict, list the corrections it settles with --settles"
    )]
    Correct {
        #[command(flatten)]
        node: NodeArgs,
        /// 党员所在党支部 / the member's branch.
        #[arg(long)]
        unit: UnitPath,
        /// 党员编号 / the member id.
        #[arg(long)]
        member: String,
        /// 信息项（中文或英文名）/ the field (Chinese or English name).
        #[arg(long)]
        field: String,
        /// 新值 / the new value.
        #[arg(long)]
        value: String,
        /// 理由 / why.
        #[arg(long, default_value = "")]
        reason: String,
        /// 本更正解决的冲突更正事件编号（逗号分隔）/ event ids of the corrections this one settles.
        #[arg(long, value_delimiter = ',')]
        settles: Vec<String>,
        /// 操作人 / the person acting.
        #[arg(long, default_value = "operator")]
        author: String,
    },
    /// 列出组织关系问题：重复组织关系、未在本单位登记的党员的记录 / list relation findings: members registered at
    /// two branches, and events filed where the member is not registered (counted nowhere).
    Findings {
        #[command(flatten)]
        node: NodeArgs,
        /// 只看该单位及其下级 / only this unit's subtree (default: the node's whole scope).
        #[arg(long)]
        unit: Option<String>,
    },
    /// 处理重复组织关系：保留在一个党支部，其余解除（须由共同上级党组织办理）/ settle a duplicate relation:
    /// keep the member at one branch, release the others (by the level above both).
    #[command(
        after_help = "示例 / Example:\n  rollcall findings --node-dir /srv/whu\n  rollcall settle-duplicate --node-dir /srv/whu --member M --keep hb/whu/cs/b01 --reason 本人在该支部工作"
    )]
    SettleDuplicate {
        #[command(flatten)]
        node: NodeArgs,
        /// 党员编号 / the member's id.
        #[arg(long)]
        member: String,
        /// 保留组织关系的党支部 / the branch that keeps the relation.
        #[arg(long)]
        keep: String,
        /// 处理依据 / the reason (required).
        #[arg(long)]
        reason: String,
        /// 操作人 / the person acting.
        #[arg(long, default_value = "operator")]
        author: String,
    },
    /// 列出信息冲突（离线并发更正）/ list conflicting corrections (concurrent offline edits).
    Conflicts {
        #[command(flatten)]
        node: NodeArgs,
    },
}

/// A step of a case, or its dossier.
#[derive(Subcommand)]
pub(crate) enum CaseCommand {
    #[command(flatten)]
    Step(rollcall_client::record::CaseStep),
    /// 导出案卷：本案及该党员在本支部的全部签名事件、登记链、上级回执和摘要（PDF、XLSX），由本节点签名，可脱机核验 / export a case's dossier: every signed event of the case and of the member at its branch, the enrollment chain, the receipts of the level above and a summary (PDF, XLSX), signed by this node, verifiable offline.
    #[command(
        after_help = "示例 / Example:\n  rollcall case dossier --node-dir /srv/hb --case K123 --out 案卷-K123.zip\n  rollcall verify dossier 案卷-K123.zip --root <本省根密钥>\n\n公民身份号码默认打码，登记表等含个人信息的事件只附存根；--show-personal 全部附上（仅节点操作员）\nID numbers are masked and events holding personal data go as stubs unless --show-personal (operators only)."
    )]
    Dossier {
        /// 案件编号 / the case.
        #[arg(long)]
        case: String,
        /// 党支部（同一编号在多个党支部时须指明）/ the branch (when the id is filed at several).
        #[arg(long)]
        unit: Option<UnitPath>,
        /// 输出文件（.zip）/ the file to write (.zip).
        #[arg(long)]
        out: PathBuf,
        /// 附上个人信息全文 / include personal data in full.
        #[arg(long)]
        show_personal: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum TemplateCommand {
    /// 空白《党员基本情况登记表》：下拉列表、填写说明、示例；填好后用 rollcall import members 导入 / the
    /// blank per-member form (drop-downs, instructions, an example); fill it in and import it.
    #[command(
        after_help = "示例 / Example:\n  rollcall template members --out 登记表.xlsx --unit hb/whu/cs/b01\n  rollcall import members 登记表.xlsx --node-dir /srv/b01"
    )]
    Members {
        /// 输出文件（.xlsx）/ the file to write (.xlsx).
        #[arg(long)]
        out: PathBuf,
        /// 预填的所在党支部 / the branch to pre-fill in every row.
        #[arg(long)]
        unit: Option<UnitPath>,
        /// 空白行数 / blank rows.
        #[arg(long, default_value_t = 200)]
        rows: u32,
    },
}

#[derive(Subcommand)]
pub(crate) enum UnitCommand {
    /// 登记或更改单位名称（由上级单位记录；省级可登记本级）/ name or rename a unit (recorded by a
    /// level above it; the province may name its own).
    #[command(
        after_help = "示例 / Example:\n  rollcall unit name --node-dir /srv/whu --unit hb/whu/cs --name 中共武汉大学计算机学院委员会 --short-name 计算机学院党委 --org-type 611\n  rollcall unit name --node-dir /srv/cs --unit hb/whu/cs/b01 --name 计算机学院教工第一党支部 --org-type 631\n\n党组织类型 / types: 611 党委, 612 党工委, 621 党总支, 631 党支部, 632 联合党支部"
    )]
    Name {
        #[command(flatten)]
        node: NodeArgs,
        /// 单位 / the unit, e.g. hb/whu/cs.
        #[arg(long)]
        unit: UnitPath,
        /// 全称 / the official name.
        #[arg(long)]
        name: String,
        /// 简称 / the short name.
        #[arg(long, default_value = "")]
        short_name: String,
        /// 党组织类型：611、612、621、631、632 / the 党组织 type code.
        #[arg(long)]
        org_type: i32,
        /// 党组织代码（全国党员管理信息系统）/ the organisation's code in the national system.
        #[arg(long, default_value = "")]
        org_code: String,
        /// 操作人 / the person acting.
        #[arg(long, default_value = "operator")]
        author: String,
    },
    /// 本单位、上级及下级单位的名称 / the names of this unit, the units above and below.
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// 单位（默认本节点）/ the unit (default: this node's).
        #[arg(long)]
        unit: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum MemberCommand {
    /// 查看一名党员 / show one member.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// 党员编号 / the member id.
        member_id: String,
        /// 显示完整身份证号（默认隐去中间位，--json 亦然）/ the full ID number (masked by default,
        /// in --json too).
        #[arg(long)]
        show_personal: bool,
    },
    /// 列出党员（可筛选）/ list members, filtered.
    #[command(
        after_help = "示例 / Example:\n  rollcall member list --dir ~/rollcall --lost\n  rollcall member list --node-dir demo/hb --stage open"
    )]
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// 单位 / the unit.
        #[arg(long)]
        unit: Option<String>,
        /// 仍失联 / still lost.
        #[arg(long)]
        lost: bool,
        /// 口袋党员 / pocket members.
        #[arg(long)]
        pocket: bool,
        /// 流动党员 / flowing members.
        #[arg(long)]
        flowing: bool,
        /// 已取得联系 / found again.
        #[arg(long)]
        found: bool,
        /// 处置阶段（如 proposed、voted；open 表示进行中）/ case stage (e.g. proposed, voted; open: any open case).
        #[arg(long)]
        stage: Option<String>,
        /// 姓名包含 / name contains.
        #[arg(long)]
        name: Option<String>,
        /// 最多显示 / show at most.
        #[arg(long, default_value_t = 200)]
        limit: u32,
    },
}

#[derive(Subcommand)]
pub(crate) enum ImportCommand {
    /// 导入《党员基本情况登记表》（全部有效才导入）/ import the per-member form (all rows valid, or nothing).
    #[command(
        after_help = "示例 / Example:\n  rollcall import members 登记表.xlsx --dir ~/rollcall --unit hb/whu/cs/b01\n\n表头（中文）/ headers: 姓名 性别 民族 公民身份证号 出生日期 学历 人员类别 所在党支部 加入党组织日期\n  转为正式党员日期 工作岗位 联系电话 家庭住址 党籍状态 是否为失联党员 失去联系日期 是否为流动党员 外出流向\n  （可选 / optional: 党员编号 籍贯 人员分组）"
    )]
    Members {
        #[command(flatten)]
        node: NodeArgs,
        /// 文件（.xlsx 或 .csv）/ the file.
        file: PathBuf,
        /// 所在党支部（表中“所在党支部”不是路径时）/ the branch, when the 所在党支部 column is not a unit path.
        #[arg(long)]
        unit: Option<UnitPath>,
        /// 跳过无效行，只导入有效行并报告 / import the valid rows and report the others.
        #[arg(long)]
        skip_invalid: bool,
        /// 操作人 / the person acting.
        #[arg(long, default_value = "operator")]
        author: String,
    },
    /// 导入党内统计数据库导出表并逐项比对 / import the statistics-database export and compare item by item.
    Statsdb {
        #[command(flatten)]
        node: NodeArgs,
        /// 文件（.xlsx 或 .csv）/ the file.
        file: PathBuf,
        /// 操作人 / the person acting.
        #[arg(long, default_value = "operator")]
        author: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum StatsdbCommand {
    /// 列出未核实的差异 / list open discrepancies.
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// 单位 / the unit.
        #[arg(long)]
        unit: Option<String>,
    },
    /// 核实一项差异 / resolve one discrepancy.
    #[command(
        after_help = "示例 / Example:\n  rollcall statsdb resolve --dir ~/rollcall --member M1 --field 出生日期 --resolution db-correct"
    )]
    Resolve {
        #[command(flatten)]
        node: NodeArgs,
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 信息项 / the field.
        #[arg(long)]
        field: String,
        /// form-correct（登记表正确，更正数据库）| db-correct（数据库正确，更正登记表）| both（两者均更正为 --value）.
        #[arg(long, value_enum)]
        resolution: Resolution,
        /// 核实后的值（both 时必填）/ the verified value (required with both).
        #[arg(long)]
        value: Option<String>,
        /// 操作人 / the person acting.
        #[arg(long, default_value = "operator")]
        author: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Resolution {
    FormCorrect,
    DbCorrect,
    Both,
}

/// Runs one of these commands.
pub(crate) async fn run(command: AuditCommand, lang: Lang, json: bool) -> ExitCode {
    match command {
        AuditCommand::CampaignOpen { node, year, as_of, name, author } => {
            campaign_open(&node, lang, json, year, as_of, name, author).await
        }
        AuditCommand::PolicySet {
            node,
            self_separation_attempts,
            self_separation_methods,
            self_separation_months,
            quorum_percent,
            majority_percent,
            lost_contact_months,
            pocket_months,
            reason,
            author,
        } => {
            if reason.trim().is_empty() {
                return fail(&lang.pick("--reason 不能为空", "--reason is required"), 2);
            }
            let changes: Vec<(&'static str, u32)> = [
                ("self_separation_attempts", self_separation_attempts),
                ("self_separation_methods", self_separation_methods),
                ("self_separation_months", self_separation_months),
                ("quorum_percent", quorum_percent),
                ("majority_percent", majority_percent),
                ("lost_contact_months", lost_contact_months),
                ("pocket_months", pocket_months),
            ]
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| (key, value)))
            .collect();
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome =
                    rollcall_client::commands::change_policy(&mut backend, &changes, &reason, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::Template(TemplateCommand::Members { out, unit, rows }) => {
            if out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() != Some("xlsx") {
                return fail(&lang.pick("--out 应以 .xlsx 结尾", "--out must end in .xlsx"), 2);
            }
            if let Some(unit) = &unit
                && unit.level() != Some(rollcall_core::unit::Level::Branch)
            {
                return fail(
                    &format!("--unit {unit}: {}", lang.pick("应为党支部（第4级）", "expected a branch (level 4)")),
                    2,
                );
            }
            match rollcall_client::template::write_member_form(
                &out,
                unit.as_ref().map(UnitPath::as_str),
                rows.clamp(1, 10_000),
            ) {
                Ok(()) => {
                    if json {
                        println!("{}", serde_json::json!({ "written": out.display().to_string(), "rows": rows }));
                    } else {
                        println!(
                            "{} {}（{} {rows} {}）",
                            lang.pick("已生成", "written"),
                            out.display(),
                            lang.pick("空白行", "blank rows:"),
                            lang.pick("行", "")
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&format!("{}: {error}", out.display()), 1),
            }
        }
        AuditCommand::Unit(UnitCommand::Name { node, unit, name, short_name, org_type, org_code, author }) => {
            let named = pb::UnitNamed { unit_path: unit.to_string(), name, short_name, org_type, org_code };
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::name_unit(&mut backend, named, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::Unit(UnitCommand::List { node, unit }) => {
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::list_units(&mut backend, unit.as_deref(), lang).await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::CampaignShow { node } => {
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::show_campaign(&mut backend, lang).await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::Check { node, check, author } => {
            let (member, body) = rollcall_client::record::check_body(&check);
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome =
                    rollcall_client::commands::record_member_event(&mut backend, &member, body, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::Record { node, event, author } => {
            let (member, body) = match event.body() {
                Ok(pair) => pair,
                Err(message) => return fail(&message, 2),
            };
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome =
                    rollcall_client::commands::record_member_event(&mut backend, &member, body, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::Case { node, step: CaseCommand::Dossier { case, unit, out, show_personal }, .. } => {
            case_dossier(&node, lang, json, case, unit, &out, show_personal).await
        }
        AuditCommand::Case { node, step: CaseCommand::Step(step), author } => {
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::record_case_step(&mut backend, &step, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::Import(ImportCommand::Members { node, file, unit, skip_invalid, author }) => {
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::import_members(
                    &mut backend,
                    &file,
                    unit.as_ref(),
                    skip_invalid,
                    &author,
                    lang,
                )
                .await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::Import(ImportCommand::Statsdb { node, file, author }) => {
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::import_statsdb(&mut backend, &file, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::Statsdb(StatsdbCommand::List { node, unit }) => {
            query(
                &node,
                lang,
                json,
                async |backend| {
                    backend
                        .members(pb::MembersRequest {
                            unit_path: unit.unwrap_or_default(),
                            discrepancies: true,
                            limit: 100_000,
                            ..Default::default()
                        })
                        .await
                },
                |r: &pb::MembersResponse| {
                    serde_json::json!(
                        r.members
                            .iter()
                            .flat_map(|m| m.discrepancies.iter().filter(|d| d.open).map(move |d| serde_json::json!({
                                "member_id": m.member_id, "field": rollcall_client::fields::field_name(d.field, false),
                                "form_value": d.form_value, "stats_db_value": d.stats_db_value,
                            })))
                            .collect::<Vec<_>>()
                    )
                },
                |r: &pb::MembersResponse, lang: Lang| {
                    let headings: Vec<String> = [
                        ("党员编号", "member"),
                        ("姓名", "name"),
                        ("信息项", "field"),
                        ("登记表", "form"),
                        ("统计库", "database"),
                    ]
                    .iter()
                    .map(|(zh, en)| lang.pick(zh, en).to_string())
                    .collect();
                    let rows: Vec<Vec<String>> = r
                        .members
                        .iter()
                        .flat_map(|m| {
                            m.discrepancies.iter().filter(|d| d.open).map(move |d| {
                                vec![
                                    m.member_id.clone(),
                                    m.name.clone(),
                                    rollcall_client::fields::field_name(d.field, lang == Lang::Zh),
                                    d.form_value.clone(),
                                    d.stats_db_value.clone(),
                                ]
                            })
                        })
                        .collect();
                    if rows.is_empty() {
                        return lang.pick("没有未核实的差异\n", "no open discrepancies\n").to_string();
                    }
                    rollcall_client::render::grid(&headings, &rows)
                },
            )
            .await
        }
        AuditCommand::Statsdb(StatsdbCommand::Resolve { node, member, field, resolution, value, author }) => {
            let field = match rollcall_client::fields::parse_field(&field) {
                Ok(field) => field,
                Err(message) => return fail(&message, 2),
            };
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome = resolve_discrepancy(&mut backend, &member, field, resolution, value, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::Member(MemberCommand::Show { node, member_id, show_personal }) => {
            query(
                &node,
                lang,
                json,
                async |backend| backend.member(pb::MemberRequest { member_id }).await,
                move |member: &pb::MemberResponse| rollcall_client::render::member_json(member, show_personal),
                rollcall_client::render::member_text,
            )
            .await
        }
        AuditCommand::Member(MemberCommand::List { node, unit, lost, pocket, flowing, found, stage, name, limit }) => {
            let mut backend = match backend(&node).await {
                Ok(backend) => backend,
                Err(code) => return code,
            };
            let request = pb::MembersRequest {
                unit_path: unit.unwrap_or_default(),
                lost,
                pocket,
                flowing,
                found,
                stage: stage.unwrap_or_default(),
                name_contains: name.unwrap_or_default(),
                limit,
                ..Default::default()
            };
            let result = backend.members(request).await;
            backend.close().await;
            print_or_fail(
                lang,
                json,
                result,
                |r: &pb::MembersResponse| {
                    serde_json::json!({
                        "total": r.total,
                        "members": r.members.iter().map(|m| serde_json::json!({
                            "member_id": m.member_id, "name": m.name, "unit": m.unit_path,
                        })).collect::<Vec<_>>(),
                    })
                },
                rollcall_client::render::members_text,
            )
        }
        AuditCommand::Correct { node, unit, member, field, value, reason, settles, author } => {
            let field = match rollcall_client::fields::parse_field(&field) {
                Ok(field) => field,
                Err(message) => return fail(&message, 2),
            };
            let mut settles_ids = Vec::new();
            for text in &settles {
                match uuid_bytes(text) {
                    Some(bytes) => settles_ids.push(bytes::Bytes::copy_from_slice(&bytes)),
                    None => return fail(&format!("--settles: {text:?} is not an event id"), 2),
                }
            }
            let body = Body::RecordCorrected(pb::RecordCorrected {
                member_id: member,
                field: field as i32,
                new_value: value,
                reason,
                settles: settles_ids,
            });
            let draft = rollcall_core::log::Draft {
                unit_path: unit,
                kind: EventKind::RecordCorrected,
                body: body.encode(),
                author,
            };
            let appended = match &node.dir {
                Some(dir) => {
                    let embedded = match open_embedded(dir) {
                        Ok(node) => node,
                        Err(code) => return code,
                    };
                    let result = embedded.writer.append(vec![draft]).await.map_err(|err| err.to_string());
                    embedded.close().await;
                    result.map(|events| events.first().map(|e| e.event_id.to_string()).unwrap_or_default())
                }
                None => {
                    let mut client = match client(&node).await {
                        Ok(client) => client,
                        Err(code) => return code,
                    };
                    let request = pb::AppendRequest {
                        drafts: vec![pb::EventDraft {
                            unit_path: draft.unit_path.to_string(),
                            kind: draft.kind as i32,
                            body: draft.body,
                            author: draft.author,
                            draft_id: fresh_draft_id(),
                        }],
                    };
                    client.append(request).await.map_err(|status| status.message().to_string()).map(|response| {
                        response.into_inner().events.first().map(|e| uuid_text(&e.event_id)).unwrap_or_default()
                    })
                }
            };
            match appended {
                Ok(event_id) => {
                    if json {
                        println!("{}", serde_json::json!({ "event_id": event_id }));
                    } else {
                        println!("{} {event_id}", lang.pick("已更正，事件", "corrected, event"));
                    }
                    ExitCode::SUCCESS
                }
                Err(message) => fail(&format!("{}: {message}", lang.pick("更正失败", "correction failed")), 1),
            }
        }
        AuditCommand::Findings { node, unit } => {
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::findings(&mut backend, unit.as_deref(), lang).await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::SettleDuplicate { node, member, keep, reason, author } => {
            if reason.trim().is_empty() {
                return fail(&lang.pick("--reason 不能为空", "--reason is required"), 2);
            }
            with_backend(&node, lang, json, |backend| async move {
                let mut backend = backend;
                let outcome =
                    rollcall_client::commands::settle_duplicate(&mut backend, &member, &keep, &reason, &author, lang)
                        .await;
                (backend, outcome)
            })
            .await
        }
        AuditCommand::Conflicts { node } => {
            let mut backend = match backend(&node).await {
                Ok(backend) => backend,
                Err(code) => return code,
            };
            let conflicts = backend.conflicts().await.map_err(|refusal| refusal.message(lang).to_string());
            backend.close().await;
            match conflicts {
                Ok(response) => {
                    print_conflicts(lang, json, &response);
                    ExitCode::SUCCESS
                }
                Err(message) => fail(&message, 1),
            }
        }
    }
}

/// Opens the campaign with the notice's four deadlines in the given year.
/// Asks the node for a case's dossier and writes it whole (beside the target, then renamed).
async fn case_dossier(
    node: &NodeArgs,
    lang: Lang,
    json: bool,
    case_id: String,
    unit: Option<UnitPath>,
    out: &std::path::Path,
    show_personal: bool,
) -> ExitCode {
    let request =
        pb::CaseDossierRequest { case_id, unit_path: unit.map(|u| u.to_string()).unwrap_or_default(), show_personal };
    let mut backend = match backend(node).await {
        Ok(backend) => backend,
        Err(code) => return code,
    };
    let result = backend.case_dossier(request).await;
    backend.close().await;
    let dossier = match result {
        Ok(dossier) => dossier,
        Err(refusal) => {
            if json {
                println!("{}", serde_json::json!({ "error": refusal.en }));
            }
            return fail(&refusal.message(lang), 1);
        }
    };
    if let Err(code) = write_archive(out, &dossier.bytes, show_personal) {
        return code;
    }
    for warning in &dossier.warnings {
        eprintln!("{}: {warning}", lang.pick("注意", "note"));
    }
    let stage = rollcall_core::audit::case::Stage::from_name(&dossier.stage);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "file": out.display().to_string(),
                "bytes": dossier.bytes.len(),
                "events": dossier.events,
                "stage": dossier.stage,
                "warnings": dossier.warnings,
            })
        );
    } else {
        println!(
            "{} {}（{} {}，{} {}，{} KB）",
            lang.pick("案卷已导出：", "dossier written:"),
            out.display(),
            dossier.events,
            lang.pick("个证据事件", "evidence events"),
            lang.pick("阶段", "stage"),
            stage.map_or(dossier.stage.clone(), |s| lang.pick(s.name_zh(), s.as_str()).to_string()),
            dossier.bytes.len().div_ceil(1024)
        );
        println!(
            "{} rollcall verify dossier {} --root <{}>",
            lang.pick("脱机核验：", "verify offline:"),
            out.display(),
            lang.pick("本省根密钥", "the province's root key")
        );
    }
    ExitCode::SUCCESS
}

async fn campaign_open(
    node: &NodeArgs,
    lang: Lang,
    json: bool,
    year: i32,
    as_of: Option<String>,
    name: Option<String>,
    author: String,
) -> ExitCode {
    use rollcall_core::audit::dates;
    let as_of = match as_of {
        None => pb::Date { year, month: 3, day: 31 },
        Some(text) => match dates::parse(&text) {
            Some(date) => dates::from_naive(date),
            None => {
                return fail(
                    &format!(
                        "--as-of {text:?}: {}",
                        lang.pick("日期格式应为 2025-03-31", "expected a date such as 2025-03-31")
                    ),
                    2,
                );
            }
        },
    };
    let deadline = |kind: pb::DeadlineKind, month, day| pb::Deadline {
        kind: kind as i32,
        due: Some(pb::Date { year, month, day }),
    };
    let body = Body::CampaignOpened(pb::CampaignOpened {
        campaign_id: format!("{year}"),
        name: name.unwrap_or_else(|| format!("{year}年党员组织关系集中排查")),
        year,
        deadlines: vec![
            deadline(pb::DeadlineKind::UniversityTables, 4, 15),
            deadline(pb::DeadlineKind::ProvinceTables, 4, 20),
            deadline(pb::DeadlineKind::MemberDatabase, 5, 31),
            deadline(pb::DeadlineKind::Dispositions, 8, 31),
        ],
        as_of: Some(as_of),
        policy: None,
    });
    let mut backend = match backend(node).await {
        Ok(backend) => backend,
        Err(code) => return code,
    };
    let unit = match backend.unit().await.map(|u| UnitPath::parse(&u)) {
        Ok(Ok(unit)) => unit,
        _ => return fail(&lang.pick("无法读取节点单位", "cannot read the node's unit"), 1),
    };
    let draft =
        rollcall_core::log::Draft { unit_path: unit, kind: EventKind::CampaignOpened, body: body.encode(), author };
    let result = backend.append(vec![draft]).await;
    // Say what was opened: the name, the as-of date and the four deadlines, as
    // campaign-show reads them back from the node.
    let shown = match &result {
        Ok(_) => match rollcall_client::commands::show_campaign(&mut backend, lang).await {
            rollcall_client::commands::Outcome::Done { text, .. } => text,
            rollcall_client::commands::Outcome::Failed { .. } => String::new(),
        },
        Err(_) => String::new(),
    };
    backend.close().await;
    print_or_fail(
        lang,
        json,
        result,
        |ids: &Vec<String>| serde_json::json!({ "event_id": ids.first() }),
        move |_, lang| format!("{}\n{shown}", lang.pick("已开启排查工作。", "campaign opened.")),
    )
}

/// Resolves a statistics-database discrepancy; when the form was wrong, corrects it in
/// the same append.
async fn resolve_discrepancy(
    backend: &mut rollcall_client::backend::Backend,
    member: &str,
    field: pb::MemberField,
    resolution: Resolution,
    value: Option<String>,
    author: &str,
    lang: Lang,
) -> rollcall_client::commands::Outcome {
    use rollcall_client::commands::Outcome;
    let found = match backend.member(pb::MemberRequest { member_id: member.to_string() }).await {
        Ok(found) => found,
        Err(refusal) => {
            return Outcome::Failed {
                message: refusal.message(lang).to_string(),
                json: serde_json::json!({ "error": refusal.en }),
                details: vec![],
            };
        }
    };
    let Some(discrepancy) = found.discrepancies.iter().find(|d| d.field == field as i32 && d.open) else {
        return Outcome::Failed {
            message: lang.pick("该信息项没有未核实的差异", "no open discrepancy on that field").to_string(),
            json: serde_json::json!({ "error": "no open discrepancy on that field" }),
            details: vec![],
        };
    };
    let (kind, corrected) = match resolution {
        Resolution::FormCorrect => (pb::stats_discrepancy_resolved::Resolution::FormCorrectDbUpdated, None),
        Resolution::DbCorrect => {
            (pb::stats_discrepancy_resolved::Resolution::DbCorrectFormUpdated, Some(discrepancy.stats_db_value.clone()))
        }
        Resolution::Both => match value {
            Some(value) => (pb::stats_discrepancy_resolved::Resolution::BothCorrected, Some(value)),
            None => {
                return Outcome::Failed {
                    message: lang
                        .pick("both 须用 --value 给出核实后的值", "both needs --value: the verified value")
                        .to_string(),
                    json: serde_json::json!({ "error": "--value required" }),
                    details: vec![],
                };
            }
        },
    };
    let Ok(unit) = UnitPath::parse(&found.unit_path) else {
        return Outcome::Failed { message: "bad unit".into(), json: serde_json::json!({}), details: vec![] };
    };
    let final_value = corrected.clone().unwrap_or_else(|| discrepancy.form_value.clone());
    let mut drafts = Vec::new();
    if let Some(new_value) = corrected {
        drafts.push(rollcall_core::log::Draft {
            unit_path: unit.clone(),
            kind: EventKind::RecordCorrected,
            body: Body::RecordCorrected(pb::RecordCorrected {
                member_id: member.to_string(),
                field: field as i32,
                new_value,
                reason: "与党内统计数据库核对".into(),
                settles: vec![],
            })
            .encode(),
            author: author.to_string(),
        });
    }
    drafts.push(rollcall_core::log::Draft {
        unit_path: unit,
        kind: EventKind::StatsDiscrepancyResolved,
        body: Body::StatsDiscrepancyResolved(pb::StatsDiscrepancyResolved {
            member_id: member.to_string(),
            field: field as i32,
            resolution: kind as i32,
            value: final_value,
        })
        .encode(),
        author: author.to_string(),
    });
    match backend.append(drafts).await {
        Ok(ids) => Outcome::Done {
            text: format!("{}\n", lang.pick("差异已核实", "discrepancy resolved")),
            json: serde_json::json!({ "event_ids": ids }),
        },
        Err(refusal) => Outcome::Failed {
            message: refusal.message(lang).to_string(),
            json: serde_json::json!({ "error": refusal.en }),
            details: vec![],
        },
    }
}

fn print_conflicts(lang: Lang, json: bool, response: &pb::ConflictsResponse) {
    if json {
        let rows: Vec<_> = response
            .conflicts
            .iter()
            .map(|c| {
                serde_json::json!({
                    "member_id": c.member_id,
                    "field": rollcall_client::fields::field_name(c.field, false),
                    "unit": c.unit_path,
                    "candidates": c.candidates.iter().map(|k| serde_json::json!({
                        "event_id": uuid_text(&k.event_id), "replica": hex::encode(&k.replica), "value": k.value,
                        "author": k.author, "current": k.current,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return;
    }
    if response.conflicts.is_empty() {
        println!("{}", lang.pick("没有信息冲突", "no conflicts"));
        return;
    }
    for conflict in &response.conflicts {
        println!(
            "{} {} {} {}（{}）",
            lang.pick("党员", "member"),
            conflict.member_id,
            lang.pick("信息项", "field"),
            rollcall_client::fields::field_name(conflict.field, lang == Lang::Zh),
            conflict.unit_path
        );
        for candidate in &conflict.candidates {
            println!(
                "  {} {} {} {} {}",
                if candidate.current { "*" } else { " " },
                uuid_text(&candidate.event_id),
                left(&candidate.value, 24),
                candidate.author,
                format_time(candidate.hlc_wall_ms)
            );
        }
    }
    println!(
        "{}",
        lang.pick(
            "* 为暂行值；用 rollcall correct --settles 解决",
            "* is the value in force; settle with rollcall correct --settles"
        )
    );
}
