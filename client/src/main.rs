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
    /// deadlines and the rules in force.
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
    /// 单位名称：登记或更改下级单位的全称、简称、党组织类型和代码；查看名称 / unit names: record or change
    /// a unit's official name, short name, 党组织 type and code; list them.
    #[command(subcommand)]
    Unit(UnitCommand),
    /// 空白表格：党员基本情况登记表（带下拉列表和填写说明）/ blank forms to fill in: the per-member form.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// 查看党员 / show or list members.
    #[command(subcommand)]
    Member(MemberCommand),
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
        step: rollcall_client::record::CaseStep,
        /// 操作人 / the person acting.
        #[arg(long, global = true, default_value = "operator")]
        author: String,
    },
    /// 导入登记表或党内统计数据库导出表（XLSX/CSV，中文表头）/ import the member form or the statistics-database export.
    #[command(subcommand)]
    Import(ImportCommand),
    /// 报表：报送、查看核验结果、退回 / tables: submit, see the level above's verification, return.
    #[command(subcommand)]
    Report(ReportCommand),
    /// 与党内统计数据库的差异：列出、逐项核实 / statistics-database discrepancies: list and resolve.
    #[command(subcommand)]
    Statsdb(StatsdbCommand),
    /// 逐级汇总 / the rollup of a unit and of each unit below it.
    #[command(after_help = "示例 / Example:\n  rollcall rollup --node-dir demo/hb --unit hb/u01")]
    Rollup {
        #[command(flatten)]
        node: NodeArgs,
        /// 单位（默认为本节点）/ the unit (default: this node's).
        #[arg(long)]
        unit: Option<String>,
    },
    /// 表1-3（可导出 XLSX/CSV）/ table 1, 2 or 3 (export with --out FILE.xlsx or .csv).
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
    /// 由日志重算全部统计并报告是否有变化 / recompute every projection from the log and report whether it changed.
    Rebuild {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// 本机演示：一个省的真实节点层级与数据，Ctrl-C 停止 / a whole province of real nodes on this machine; Ctrl-C stops it.
    #[command(
        after_help = "示例 / Example:\n  rollcall demo                      # 2 所高校、8 个党支部、320 名党员\n  rollcall demo --size toy --exit-when-ready"
    )]
    Demo {
        /// 演示目录（将被清空）/ the demo's directory (emptied first).
        #[arg(long, default_value = "target/demo")]
        dir: PathBuf,
        /// 规模：toy | demo | province / size.
        #[arg(long, default_value = "demo")]
        size: String,
        /// 随机种子 / seed.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// 年度 / the campaign year.
        #[arg(long, default_value_t = 2026)]
        year: i32,
        /// 准备好后即停止（测试用）/ stop once ready (for tests).
        #[arg(long)]
        exit_when_ready: bool,
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

#[derive(Subcommand)]
enum TemplateCommand {
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
enum UnitCommand {
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
enum MemberCommand {
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
enum ReportCommand {
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
}

#[derive(Subcommand)]
enum ImportCommand {
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
enum StatsdbCommand {
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
enum Resolution {
    FormCorrect,
    DbCorrect,
    Both,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RegisterKind {
    /// 经查找取得联系党员登记表.
    Found,
    /// 经查找仍然无法取得联系党员登记表.
    StillLost,
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
        Command::Demo { dir, size, seed, year, exit_when_ready } => {
            demo(lang, &dir, &size, seed, year, exit_when_ready).await
        }
        Command::CampaignOpen { node, year, as_of, name, author } => {
            campaign_open(&node, lang, cli.json, year, as_of, name, author).await
        }
        Command::PolicySet {
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
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome =
                    rollcall_client::commands::change_policy(&mut backend, &changes, &reason, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::Template(TemplateCommand::Members { out, unit, rows }) => {
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
            match rollcall_client::template::write_member_form(&out, unit.as_ref().map(UnitPath::as_str), rows.clamp(1, 10_000)) {
                Ok(()) => {
                    if cli.json {
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
        Command::Unit(UnitCommand::Name { node, unit, name, short_name, org_type, org_code, author }) => {
            let named = pb::UnitNamed { unit_path: unit.to_string(), name, short_name, org_type, org_code };
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::name_unit(&mut backend, named, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::Unit(UnitCommand::List { node, unit }) => {
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::list_units(&mut backend, unit.as_deref(), lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::CampaignShow { node } => {
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::show_campaign(&mut backend, lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::Check { node, check, author } => {
            let (member, body) = rollcall_client::record::check_body(&check);
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome =
                    rollcall_client::commands::record_member_event(&mut backend, &member, body, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::Record { node, event, author } => {
            let (member, body) = match event.body() {
                Ok(pair) => pair,
                Err(message) => return fail(&message, 2),
            };
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome =
                    rollcall_client::commands::record_member_event(&mut backend, &member, body, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::Case { node, step, author } => {
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::record_case_step(&mut backend, &step, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::Import(ImportCommand::Members { node, file, unit, skip_invalid, author }) => {
            with_backend(&node, lang, cli.json, |backend| async move {
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
        Command::Import(ImportCommand::Statsdb { node, file, author }) => {
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::import_statsdb(&mut backend, &file, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::Statsdb(StatsdbCommand::List { node, unit }) => {
            query(
                &node,
                lang,
                cli.json,
                async |backend| backend
                .members(pb::MembersRequest {
                    unit_path: unit.unwrap_or_default(),
                    discrepancies: true,
                    limit: 100_000,
                    ..Default::default()
                })
                .await,
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
        Command::Statsdb(StatsdbCommand::Resolve { node, member, field, resolution, value, author }) => {
            let field = match rollcall_client::fields::parse_field(&field) {
                Ok(field) => field,
                Err(message) => return fail(&message, 2),
            };
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome = resolve_discrepancy(&mut backend, &member, field, resolution, value, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::Member(MemberCommand::Show { node, member_id, show_personal }) => {
            query(
                &node,
                lang,
                cli.json,
                async |backend| backend.member(pb::MemberRequest { member_id }).await,
                move |member: &pb::MemberResponse| rollcall_client::render::member_json(member, show_personal),
                rollcall_client::render::member_text,
            )
            .await
        }
        Command::Member(MemberCommand::List { node, unit, lost, pocket, flowing, found, stage, name, limit }) => {
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
                cli.json,
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
        Command::Rollup { node, unit } => {
            query(
                &node,
                lang,
                cli.json,
                async |backend| backend.rollup(pb::RollupRequest { unit_path: unit.unwrap_or_default() }).await,
                rollcall_client::render::rollup_json,
                rollcall_client::render::rollup_text,
            )
            .await
        }
        Command::Table { node, number, unit, out } => {
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
            print_or_fail(
                lang,
                cli.json,
                result,
                rollcall_client::render::table_json,
                rollcall_client::render::table_text,
            )
        }
        Command::Register { node, which, unit, out, show_personal } => {
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
            if cli.json {
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
        Command::Deadlines { node, unit } => {
            let mut backend = match backend(&node).await {
                Ok(backend) => backend,
                Err(code) => return code,
            };
            let result = backend.deadlines(pb::DeadlinesRequest { unit_path: unit.unwrap_or_default() }).await;
            backend.close().await;
            print_or_fail(
                lang,
                cli.json,
                result,
                rollcall_client::render::deadlines_json,
                rollcall_client::render::deadlines_text,
            )
        }
        Command::DashboardToken { node_dir, key, node_key, hours } => {
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
            if cli.json {
                println!("{}", serde_json::json!({ "token": token, "url": url, "expires_ms": expires }));
            } else {
                println!("{token}");
                if let Some(url) = url {
                    println!("{} {url}", lang.pick("看板：", "dashboard:"));
                }
            }
            ExitCode::SUCCESS
        }
        Command::Backup { node, out } => {
            let out = match std::path::absolute(&out) {
                Ok(out) => out,
                Err(error) => return fail(&error, 2),
            };
            query(
                &node,
                lang,
                cli.json,
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
        Command::Rebuild { node } => {
            query(
                &node,
                lang,
                cli.json,
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
        Command::Verify { dir } => {
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
        Command::Heads { node: NodeArgs { dir: Some(dir), .. } } => {
            let node = match open_embedded(&dir) {
                Ok(node) => node,
                Err(code) => return code,
            };
            let heads = node.store.heads();
            node.close().await;
            match heads {
                Ok(heads) => {
                    let heads: Vec<pb::ReplicaHead> = heads
                        .into_iter()
                        .map(|h| rollcall_server::rpc::head_to_proto(&h))
                        .collect();
                    print_heads(lang, cli.json, &heads);
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error, 1),
            }
        }
        Command::Heads { node } => {
            let mut client = match client(&node).await {
                Ok(client) => client,
                Err(code) => return code,
            };
            match client.heads(pb::HeadsRequest {}).await {
                Ok(response) => {
                    print_heads(lang, cli.json, &response.into_inner().heads);
                    ExitCode::SUCCESS
                }
                Err(status) => fail(&format!("{}: {}", lang.pick("节点拒绝", "node refused"), status.message()), 1),
            }
        }
        Command::Enroll {
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
            match enroll(&target, &child_key, &unit, role, valid_days, &label, parent_address, &out).await {
                Ok(bundle) => {
                    if let Some(named) = named {
                        let code = with_backend(&node, lang, cli.json, |backend| async move {
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
                    if cli.json {
                        println!(
                            "{}",
                            serde_json::json!({ "bundle": out.display().to_string(), "unit": bundle.unit, "role": bundle.role })
                        );
                    } else {
                        let (role_zh, next_zh, next_en) = match role {
                            Role::Node => (
                                "节点",
                                format!("在下级服务器上执行：rollcall-node join --dir 节点目录 --bundle {}", out.display()),
                                format!("on the child's server run: rollcall-node join --dir DIR --bundle {}", out.display()),
                            ),
                            Role::Laptop => (
                                "笔记本",
                                format!("在该笔记本上执行：rollcall join --dir ~/.rollcall --bundle {}", out.display()),
                                format!("on the laptop run: rollcall join --dir ~/.rollcall --bundle {}", out.display()),
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
                        println!(
                            "{} {}（{}）→ {}",
                            lang.pick("已登记", "enrolled"),
                            bundle.unit,
                            lang.pick(role_zh, &bundle.role),
                            out.display()
                        );
                        println!("{}", lang.pick(&next_zh, &next_en));
                    }
                    ExitCode::SUCCESS
                }
                Err(message) => fail(&format!("{}: {message}", lang.pick("登记失败", "enrollment failed")), 1),
            }
        }
        Command::Init { dir, unit } => {
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
        Command::Join { dir, bundle } => {
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
        Command::Sync { dir, timeout_secs } => {
            let node = match open_embedded(&dir) {
                Ok(node) => node,
                Err(code) => return code,
            };
            // A spinner with the events received so far, for syncs of more than a moment
            // (only on a terminal, never with --json).
            let spinner = if cli.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
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
                    if cli.json {
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
        Command::Correct { node, unit, member, field, value, reason, settles, author } => {
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
                    if cli.json {
                        println!("{}", serde_json::json!({ "event_id": event_id }));
                    } else {
                        println!("{} {event_id}", lang.pick("已更正，事件", "corrected, event"));
                    }
                    ExitCode::SUCCESS
                }
                Err(message) => fail(&format!("{}: {message}", lang.pick("更正失败", "correction failed")), 1),
            }
        }
        Command::Report(ReportCommand::Submit { node, table, author }) => {
            let tables: Vec<u32> = match table.as_str() {
                "all" => vec![1, 2, 3],
                "1" | "2" | "3" => vec![table.parse().expect("a digit")],
                other => {
                    return fail(&format!("--table {other}: {}", lang.pick("应为 1、2、3 或 all", "expected 1, 2, 3 or all")), 2);
                }
            };
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::submit_reports(&mut backend, &tables, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::Report(ReportCommand::List { node, unit }) => {
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::list_reports(&mut backend, unit.as_deref(), lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::Report(ReportCommand::Return { node, unit, table, reason, author }) => {
            if reason.trim().is_empty() {
                return fail(&lang.pick("--reason 不能为空", "--reason is required"), 2);
            }
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome =
                    rollcall_client::commands::return_report(&mut backend, &unit, table, &reason, &author, lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::Findings { node, unit } => {
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome = rollcall_client::commands::findings(&mut backend, unit.as_deref(), lang).await;
                (backend, outcome)
            })
            .await
        }
        Command::SettleDuplicate { node, member, keep, reason, author } => {
            if reason.trim().is_empty() {
                return fail(&lang.pick("--reason 不能为空", "--reason is required"), 2);
            }
            with_backend(&node, lang, cli.json, |backend| async move {
                let mut backend = backend;
                let outcome =
                    rollcall_client::commands::settle_duplicate(&mut backend, &member, &keep, &reason, &author, lang)
                        .await;
                (backend, outcome)
            })
            .await
        }
        Command::Conflicts { node } => {
            let mut backend = match backend(&node).await {
                Ok(backend) => backend,
                Err(code) => return code,
            };
            let conflicts = backend.conflicts().await.map_err(|refusal| refusal.message(lang).to_string());
            backend.close().await;
            match conflicts {
                Ok(response) => {
                    print_conflicts(lang, cli.json, &response);
                    ExitCode::SUCCESS
                }
                Err(message) => fail(&message, 1),
            }
        }
        Command::Revoke { node, child_key, after_seq, reason } => {
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
                    if cli.json {
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
                    fail(&format!("{}: {}", lang.pick("吊销失败", "revocation failed"), status.message()), 1)
                }
            }
        }
        Command::Status { node: NodeArgs { dir: Some(dir), .. } } => {
            // A laptop: what its last sync left unacknowledged, offline.
            let node = match open_embedded(&dir) {
                Ok(node) => node,
                Err(code) => return code,
            };
            let status = rollcall_server::rpc::sync_status(&node.store, &node.authority, &node.info, Vec::new());
            node.close().await;
            match status {
                Ok(status) => {
                    print_status(lang, cli.json, status);
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error, 1),
            }
        }
        Command::Status { node } => {
            let mut client = match client(&node).await {
                Ok(client) => client,
                Err(code) => return code,
            };
            match client.sync_status(pb::SyncStatusRequest {}).await {
                Ok(response) => {
                    print_status(lang, cli.json, response.into_inner());
                    ExitCode::SUCCESS
                }
                Err(status) => fail(&format!("{}: {}", lang.pick("节点拒绝", "node refused"), status.message()), 1),
            }
        }
        Command::AppendSample { node, unit, members, seed, author } => {
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
                    if cli.json {
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

/// Runs the demo province until Ctrl-C (or until ready, with `exit_when_ready`).
async fn demo(lang: Lang, dir: &std::path::Path, size: &str, seed: u64, year: i32, exit_when_ready: bool) -> ExitCode {
    use rollcall_client::demo;
    let Some(scale) = rollcall_client::generate::Scale::preset(size, seed) else {
        return fail(&format!("--size {size:?}: toy | demo | province"), 2);
    };
    let marker = dir.join(".rollcall-demo");
    if dir.exists() && !marker.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return fail(
            &format!(
                "{} {}",
                dir.display(),
                lang.pick("不是演示目录，不会清空它", "is not a demo directory; it will not be emptied")
            ),
            2,
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    if let Err(error) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&marker, "rollcall demo\n")) {
        return fail(&error, 1);
    }
    let started = std::time::Instant::now();
    let say = |text: &str| eprintln!("demo: {text}");
    say(&format!("{} {}", lang.pick("启动节点，规模", "starting nodes, size"), size));
    let cluster = match demo::start_hierarchy(dir, &scale, &|line| eprintln!("  {line}")) {
        Ok(cluster) => cluster,
        Err(error) => return fail(&error, 1),
    };
    say(lang.pick(
        "加载数据（经各节点 API，逐级办理处置程序）",
        "loading data through each node's API, dispositions step by step at their levels",
    ));
    let events = match demo::load(&cluster, &scale, year, &|line| eprintln!("  {line}")).await {
        Ok(events) => events,
        Err(error) => return fail(&error, 1),
    };
    say(lang.pick("党支部书记笔记本离线记录后同步", "a branch secretary's laptop records offline, then syncs"));
    let laptop = match demo::laptop(dir, &cluster) {
        Ok(laptop) => laptop,
        Err(error) => return fail(&error, 1),
    };
    if let Err(error) = demo::wait_converged(&cluster).await {
        return fail(&error, 1);
    }
    let province = cluster.nodes[0].dir.display().to_string();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("rollcall"));
    let shown = std::process::Command::new(&exe)
        .args(["--lang", if lang == Lang::Zh { "zh" } else { "en" }, "table", "2", "--node-dir", &province])
        .output();
    if let Ok(output) = shown {
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
    for command in [&["deadlines"][..], &["report", "list"][..]] {
        let shown = std::process::Command::new(&exe)
            .args(["--lang", if lang == Lang::Zh { "zh" } else { "en" }])
            .args(command)
            .args(["--node-dir", &province])
            .output();
        if let Ok(output) = shown {
            print!("{}", String::from_utf8_lossy(&output.stdout));
        }
    }
    println!();
    println!(
        "{} {} {} {events} {}，{:.1} s",
        lang.pick("就绪：", "ready:"),
        cluster.nodes.len(),
        lang.pick("个节点，", "nodes,"),
        lang.pick("个事件", "events"),
        started.elapsed().as_secs_f64()
    );
    for node in &cluster.nodes {
        println!("  {:<10} {:<22} {}  {}", node.level.name_zh(), node.unit, node.address, node.dir.display());
    }
    println!("  {:<10} {:<22} {}", lang.pick("笔记本", "laptop"), "", laptop.display());
    if let Some(url) = &cluster.nodes[0].dashboard {
        let operator =
            rollcall_server::config::read_key(&cluster.nodes[0].dir.join(rollcall_server::config::OPERATOR_KEY_FILE));
        let node_key = std::fs::read_to_string(cluster.nodes[0].dir.join("replica.pub"))
            .ok()
            .and_then(|t| ReplicaId::from_hex(t.trim()).ok());
        if let (Ok(operator), Some(node_key)) = (operator, node_key) {
            let token = rollcall_server::dashboard::token(
                &operator,
                node_key,
                rollcall_server::writer::now_ms() + 12 * 3_600_000,
            );
            println!(
                "{} {url}#token={token}",
                lang.pick("看板（凭证 12 小时有效）：", "dashboard (credential valid 12 hours):")
            );
            println!("{} {url}metrics", lang.pick("Prometheus 指标：", "Prometheus metrics:"));
        }
    }
    println!("{}", lang.pick("试试 / try:", "try:"));
    println!("  {} rollup --node-dir {province}", exe.display());
    println!("  {} table 1 --node-dir {province} --out 表1.xlsx", exe.display());
    println!("  {} member list --dir {} --lost", exe.display(), laptop.display());
    println!("  {} report list --node-dir {province}", exe.display());
    println!("  {} findings --node-dir {province}", exe.display());
    // Stop on a blocking thread: this runtime must keep running so that our own idle
    // connections answer the nodes' graceful shutdown.
    let stop = |cluster: rollcall_client::demo::Cluster| {
        tokio::task::spawn_blocking(move || cluster.stop(std::time::Duration::from_secs(30)))
    };
    if exit_when_ready {
        let clean = stop(cluster).await.unwrap_or(0);
        say(&format!("{} {clean}", lang.pick("已停止，正常退出的节点", "stopped; nodes that exited cleanly:")));
        return ExitCode::SUCCESS;
    }
    say(lang.pick("节点保持运行；按 Ctrl-C 停止", "the nodes keep running; press Ctrl-C to stop"));
    let _ = tokio::signal::ctrl_c().await;
    let total = cluster.nodes.len();
    let clean = stop(cluster).await.unwrap_or(0);
    say(&format!("{} {clean}/{total}", lang.pick("已停止", "stopped")));
    ExitCode::SUCCESS
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

/// Opens the campaign with the notice's four deadlines in the given year.
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

/// The 党组织 type a unit of this level usually is: 党委 above a branch, 党支部 at one.
fn default_org_type(unit: &UnitPath) -> i32 {
    match unit.level() {
        Some(rollcall_core::unit::Level::Branch) => pb::OrgType::Branch as i32,
        _ => pb::OrgType::Committee as i32,
    }
}

fn fail(error: &dyn std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("rollcall: {error:#}");
    ExitCode::from(code)
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
    out: &std::path::Path,
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
    bundle.write(out).map_err(|err| err.to_string())?;
    Ok(bundle)
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
        println!(
            "{}",
            serde_json::json!({ "edges": edges, "last_receipt": receipt, "unsent_up": status.unsent_up, "oldest_unsent_up_ms": status.oldest_unsent_up_ms })
        );
        return;
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
}

/// Milliseconds since the epoch as China Standard Time.
fn format_time(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.with_timezone(&offset).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

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

/// Opens this machine's own node directory as an embedded node (a laptop never listens).
fn open_embedded(dir: &std::path::Path) -> Result<rollcall_server::Node, ExitCode> {
    let config = rollcall_server::config::Config::load(dir, None).map_err(|error| fail(&error, 2))?;
    rollcall_server::Node::open(&config).map_err(|error| fail(&error, 1))
}

fn uuid_bytes(text: &str) -> Option<[u8; 16]> {
    hex::decode(text.replace('-', "")).ok()?.try_into().ok()
}

fn uuid_text(bytes: &[u8]) -> String {
    <[u8; 16]>::try_from(bytes).map(|id| rollcall_core::EventId(id).to_string()).unwrap_or_default()
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

/// A new id for one draft, so a node records it at most once.
fn fresh_draft_id() -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(uuid::Uuid::now_v7().as_bytes())
}
