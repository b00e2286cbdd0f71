//! Recording the audit from the command line: one subcommand per task of the notice —
//! the five checks, sign-off, search (attempts, located, the receiving unit's answer),
//! management actions, referrals, archive materials, and every step of a disposition
//! case. Each builds one event body; the unit is the member's branch as the node knows
//! it, so a secretary never types a unit path; the node's audit rules judge it and
//! answer in Chinese (or English).

use clap::{Args, Subcommand, ValueEnum};
use rollcall_core::audit::dates;
use rollcall_core::body::Body;
use rollcall_core::proto as pb;

/// A date argument: `2025-03-05`, `2025/3/5`, `2025年3月5日`; today when omitted.
#[derive(Clone, Debug)]
pub struct DateArg(pub pb::Date);

impl std::str::FromStr for DateArg {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        dates::parse(text)
            .map(|d| DateArg(dates::from_naive(d)))
            .ok_or_else(|| format!("{text:?}: 日期格式应为 2025-03-05 / expected a date such as 2025-03-05"))
    }
}

/// Today in China Standard Time.
pub fn today() -> pb::Date {
    dates::from_naive(dates::cst_day(rollcall_server::writer::now_ms()))
}

fn on(date: &Option<DateArg>) -> Option<pb::Date> {
    Some(date.as_ref().map_or_else(today, |d| d.0.clone()))
}

macro_rules! choices {
    ($name:ident => $proto:ty { $($variant:ident = $value:expr, $doc:literal;)* }) => {
        #[doc = concat!("Values of ", stringify!($proto), ".")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
        pub enum $name {
            $(
                #[doc = $doc]
                $variant,
            )*
        }
        impl $name {
            /// The wire value.
            pub fn proto(self) -> i32 {
                match self { $($name::$variant => $value as i32,)* }
            }
        }
    };
}

choices!(ContactStatusArg => pb::ContactStatus {
    InContact = pb::ContactStatus::InContact, "正常联系";
    Flowing = pb::ContactStatus::FlowingStatus, "流动党员";
    Lost = pb::ContactStatus::LostStatus, "失联党员";
});

choices!(SituationArg => pb::LostSituation {
    MigrantWork = pb::LostSituation::MigrantWorkOrBusiness, "外出务工经商";
    Restructured = pb::LostSituation::EmployerRestructured, "单位改制或破产";
    Graduated = pb::LostSituation::GraduatedWhereaboutsUnknown, "毕业后去向不明";
    EmployerChanged = pb::LostSituation::EmployerChanged, "工作单位改变";
    Abroad = pb::LostSituation::Abroad, "出国（境）";
    Residence = pb::LostSituation::ResidenceChanged, "居住地改变";
    LeftJob = pb::LostSituation::LeftJob, "离职";
    Other = pb::LostSituation::OtherSituation, "其他";
});

choices!(MethodArg => pb::ContactMethod {
    Phone = pb::ContactMethod::Phone, "电话";
    Sms = pb::ContactMethod::Sms, "短信";
    Visit = pb::ContactMethod::HomeVisit, "登门走访";
    People = pb::ContactMethod::ThroughPeople, "亲朋好友";
    Department = pb::ContactMethod::ThroughDepartment, "部门查找（须 --department）";
    Social = pb::ContactMethod::SocialNetwork, "网络社交平台";
    Telecom = pb::ContactMethod::TelecomOperator, "电信运营商";
    Hotline = pb::ContactMethod::Hotline12371, "12371 热线";
    Origin = pb::ContactMethod::OriginOrgDept, "原籍地组织部门";
    Other = pb::ContactMethod::OtherMethod, "其他方式";
});

choices!(DepartmentArg => pb::Department {
    PublicSecurity = pb::Department::PublicSecurity, "公安（户籍）";
    HumanResources = pb::Department::HumanResources, "人社（社保）";
    Education = pb::Department::EducationDept, "教育（学籍）";
    Health = pb::Department::Health, "卫生健康（医保）";
    CivilAffairs = pb::Department::CivilAffairs, "民政";
    Housing = pb::Department::Housing, "房产";
    Business = pb::Department::BusinessRegistration, "工商";
    Tax = pb::Department::Tax, "税务";
});

choices!(OutcomeArg => pb::contact_attempted::Outcome {
    NoResponse = pb::contact_attempted::Outcome::NoResponse, "未取得联系";
    Lead = pb::contact_attempted::Outcome::LeadObtained, "获得线索";
    Reached = pb::contact_attempted::Outcome::Reached, "已联系上";
    Deceased = pb::contact_attempted::Outcome::ConfirmedDeceased, "确认已去世";
});

choices!(ActionArg => pb::ManagementAction {
    Transfer = pb::ManagementAction::TransferRelation, "转出组织关系（须 --to）";
    Card = pb::ManagementAction::FlowingCard, "发流动党员活动证（须 --card-number）";
    Reissue = pb::ManagementAction::ReissueTransfer, "补转组织关系（须 --to）";
    Retain = pb::ManagementAction::RetainAbroad, "保留组织关系（须书面申请、院系批准、高校登记）";
    Stop = pb::ManagementAction::StopMembership, "停止党籍（须 --files-to）";
    Include = pb::ManagementAction::IncludeInManagement, "纳入组织管理";
});

choices!(MaterialArg => pb::ArchiveMaterial {
    ApplicationForm = pb::ArchiveMaterial::ApplicationForm, "入党志愿书";
    ApplicationLetter = pb::ArchiveMaterial::ApplicationLetter, "入党申请书";
    PoliticalReview = pb::ArchiveMaterial::PoliticalReview, "政治审查材料";
    FullMembership = pb::ArchiveMaterial::FullMembershipApplication, "转正申请书";
    Training = pb::ArchiveMaterial::TrainingRecords, "培养教育考察材料";
});

choices!(CustodyArg => pb::archive_material_added::Custody {
    PersonnelFile = pb::archive_material_added::Custody::PersonnelFile, "本人人事档案";
    Committee = pb::archive_material_added::Custody::GrassrootsCommittee, "基层党委";
    County = pb::archive_material_added::Custody::CountyOrgDept, "县级党委组织部门";
});

choices!(StageArg => pb::form_signed_off::Stage {
    Member = pb::form_signed_off::Stage::MemberConfirmed, "本人确认";
    Branch = pb::form_signed_off::Stage::BranchChecked, "支部初核";
    Committee = pb::form_signed_off::Stage::CommitteeRechecked, "基层党委复核";
});

choices!(ReferArg => pb::violation_referred::Authority {
    Discipline = pb::violation_referred::Authority::DisciplineCommission, "纪检机关";
    Police = pb::violation_referred::Authority::PublicSecurityBureau, "公安机关";
    Other = pb::violation_referred::Authority::OtherAuthority, "其他机关";
});

choices!(DispositionArg => pb::DispositionType {
    Withdrawal = pb::DispositionType::WithdrawalRemoval, "退党除名";
    CorrectionPeriod = pb::DispositionType::CorrectionPeriod, "限期改正";
    Persuade = pb::DispositionType::PersuadeToWithdraw, "劝退";
    RemovalAfterPersuasion = pb::DispositionType::RemovalAfterPersuasion, "劝而不退除名";
    SelfSeparation = pb::DispositionType::SelfSeparationRemoval, "自行脱党除名";
    CancelProbationary = pb::DispositionType::CancelProbationary, "取消预备党员资格";
    NonRecognition = pb::DispositionType::NonRecognition, "不予承认";
});

choices!(GroundArg => pb::UnqualifiedGround {
    Ideals = pb::UnqualifiedGround::IdealsLacking, "理想信念缺失";
    Political = pb::UnqualifiedGround::PoliticalWavering, "政治立场动摇";
    Purpose = pb::UnqualifiedGround::PurposeWeak, "宗旨观念淡薄";
    Work = pb::UnqualifiedGround::WorkSlack, "工作消极懈怠";
    Discipline = pb::UnqualifiedGround::DisciplineLax, "组织纪律散漫";
    Moral = pb::UnqualifiedGround::MoralMisconduct, "道德行为不端";
});

choices!(TriggerArg => pb::DispositionTrigger {
    LostCase = pb::DispositionTrigger::LostCase, "失联";
    SixMonths = pb::DispositionTrigger::SixMonthRule, "连续6个月";
    AuditFinding = pb::DispositionTrigger::AuditFinding, "排查发现";
    Request = pb::DispositionTrigger::RequestToLeave, "本人要求退党";
});

choices!(AppealOutcomeArg => pb::disposition_appealed::Outcome {
    Pending = pb::disposition_appealed::Outcome::Pending, "待复议";
    Upheld = pb::disposition_appealed::Outcome::Upheld, "维持";
    Overturned = pb::disposition_appealed::Outcome::Overturned, "撤销";
});

/// The five checks (五核查).
#[derive(Subcommand, Clone, Debug)]
pub enum Check {
    /// 档案核查：材料、身份存疑、违规入党 / archive review.
    Archive {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 档案中已有的材料（可多次）/ materials present (repeat).
        #[arg(long = "present", value_enum)]
        present: Vec<MaterialArg>,
        /// 身份存疑 / identity doubtful.
        #[arg(long)]
        identity_doubtful: bool,
        /// 违规入党 / irregular admission.
        #[arg(long)]
        irregular: bool,
        /// 疑似假党员 / suspected fake member.
        #[arg(long)]
        fake: bool,
        /// 有人事档案 / has a personnel file.
        #[arg(long)]
        personnel_file: bool,
        /// 备注 / note.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// 党费和组织生活核查：联系状态 / dues and organisation-life records: contact status.
    Contact {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 状态 / status.
        #[arg(long, value_enum)]
        status: ContactStatusArg,
        /// 最后一次参加组织生活 / last organisation life.
        #[arg(long)]
        last_life: Option<DateArg>,
        /// 最后一次交纳党费 / last dues paid.
        #[arg(long)]
        last_dues: Option<DateArg>,
        /// 最后一次完成党分配的工作 / last assigned work done.
        #[arg(long)]
        last_work: Option<DateArg>,
        /// 外出时间 / outflow date.
        #[arg(long)]
        outflow_date: Option<DateArg>,
        /// 外出原因 / outflow reason.
        #[arg(long, default_value = "")]
        outflow_reason: String,
        /// 外出流向（省/市/县）/ destination (province/city/county).
        #[arg(long, default_value = "")]
        destination: String,
        /// 失去联系情形 / loss-of-contact situation.
        #[arg(long, value_enum)]
        situation: Option<SituationArg>,
        /// 持有流动党员活动证 / holds a flowing-member card.
        #[arg(long)]
        card: bool,
    },
    /// 组织关系介绍信存根核查 / transfer-letter stub check.
    Transfer {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 转出日期 / transferred out on.
        #[arg(long)]
        out_on: DateArg,
        /// 接收单位 / receiving unit.
        #[arg(long)]
        to: String,
        /// 回执日期（已收到回执时）/ receipt date, if the receipt came back.
        #[arg(long)]
        receipt_on: Option<DateArg>,
        /// 介绍信有效期至 / letter valid until.
        #[arg(long)]
        valid_until: Option<DateArg>,
    },
    /// 现实表现核查 / conduct.
    Conduct {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 概述 / summary.
        #[arg(long)]
        summary: String,
        /// 有违纪违法问题反映 / a violation was reported.
        #[arg(long)]
        violation: bool,
    },
}

/// Steps of a disposition case (DOMAIN.md §3).
#[derive(Subcommand, Clone, Debug)]
pub enum CaseStep {
    /// 提出处置意见（支委会）/ propose (branch committee).
    Propose {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 处置方式 / disposition type.
        #[arg(long = "type", value_enum)]
        disposition: DispositionArg,
        /// 案件编号（默认自动生成）/ case id (default: generated).
        #[arg(long)]
        case: Option<String>,
        /// 事实依据 / facts.
        #[arg(long)]
        facts: String,
        /// 不合格情形（可多次）/ grounds (repeat).
        #[arg(long = "ground", value_enum)]
        grounds: Vec<GroundArg>,
        /// 起因 / trigger.
        #[arg(long, value_enum, default_value = "audit-finding")]
        trigger: TriggerArg,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 调查核实 / investigate.
    Investigate {
        /// 案件编号 / the case.
        #[arg(long)]
        case: String,
        /// 调查报告 / report.
        #[arg(long)]
        report: String,
        /// 谈话的正式党员（可多次，须两名）/ full members who held the talk (two).
        #[arg(long = "talked-by")]
        talked_by: Vec<String>,
        /// 无法联系本人 / the member could not be reached.
        #[arg(long)]
        unreachable: bool,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 预审（院系；劝退、除名、不予承认另须高校书面预审）/ pre-review at this node's level.
    Prereview {
        /// 案件编号 / the case.
        #[arg(long)]
        case: String,
        /// 不同意（退回重新提出）/ disagree (back to proposal).
        #[arg(long)]
        disagree: bool,
        /// 书面预审 / written.
        #[arg(long)]
        written: bool,
        /// 意见 / opinion.
        #[arg(long)]
        opinion: String,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 支部大会表决（无记名投票）/ branch general meeting vote (secret ballot).
    Vote {
        /// 案件编号 / the case.
        #[arg(long)]
        case: String,
        /// 有表决权的正式党员数 / full members with the right to vote.
        #[arg(long)]
        total: u32,
        /// 不计入应到会人数 / excluded from those who should attend.
        #[arg(long, default_value_t = 0)]
        excluded: u32,
        /// 实到 / present.
        #[arg(long)]
        present: u32,
        /// 赞成 / for.
        #[arg(long = "for")]
        votes_for: u32,
        /// 反对 / against.
        #[arg(long, default_value_t = 0)]
        against: u32,
        /// 弃权 / abstentions.
        #[arg(long, default_value_t = 0)]
        abstain: u32,
        /// 本人到会申辩 / the member defended.
        #[arg(long)]
        defended: bool,
        /// 记名表决（将被拒绝：须无记名）/ open ballot (refused: a secret ballot is required).
        #[arg(long)]
        open_ballot: bool,
        /// 会议日期 / meeting date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 审批（党委集体研究）/ approve (the committee, collectively).
    Approve {
        /// 案件编号 / the case.
        #[arg(long)]
        case: String,
        /// 审批机构 / approving body.
        #[arg(long)]
        body: String,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 不予批准，退回重新提出 / reject (back to proposal).
    Reject {
        /// 案件编号 / the case.
        #[arg(long)]
        case: String,
        /// 理由 / reason.
        #[arg(long)]
        reason: String,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 通知本人并备案 / notify and file.
    File {
        /// 案件编号 / the case.
        #[arg(long)]
        case: String,
        /// 备案单位 / filed with.
        #[arg(long)]
        with: String,
        /// 通知本人日期 / member notified on.
        #[arg(long)]
        notified: Option<DateArg>,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 申诉 / appeal.
    Appeal {
        /// 案件编号 / the case.
        #[arg(long)]
        case: String,
        /// 向何机构申诉 / appealed to.
        #[arg(long)]
        to: String,
        /// 结果：党支部记录申诉已提出（待复议）；维持或撤销由批准处置的党委或其上级记录 / outcome:
        /// a branch records the appeal as pending; upheld or overturned is recorded by the level
        /// that approved the disposition or above.
        #[arg(long, value_enum, default_value = "pending")]
        outcome: AppealOutcomeArg,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 限期改正期满审查 / review at the end of a correction period.
    Review {
        /// 案件编号 / the case.
        #[arg(long)]
        case: String,
        /// 已改正 / corrected (otherwise 劝退 may follow).
        #[arg(long)]
        corrected: bool,
        /// 备注 / note.
        #[arg(long, default_value = "")]
        note: String,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
}

/// Other member events.
#[derive(Args, Clone, Debug)]
pub struct AttemptArgs {
    /// 党员编号 / the member.
    #[arg(long)]
    pub member: String,
    /// 查找方式 / method.
    #[arg(long, value_enum)]
    pub method: MethodArg,
    /// 部门（部门查找时）/ department (for --method department).
    #[arg(long, value_enum)]
    pub department: Option<DepartmentArg>,
    /// 结果 / outcome.
    #[arg(long, value_enum, default_value = "no-response")]
    pub outcome: OutcomeArg,
    /// 日期 / date.
    #[arg(long)]
    pub on: Option<DateArg>,
    /// 备注 / note.
    #[arg(long, default_value = "")]
    pub note: String,
}

/// Builds the body of a check.
pub fn check_body(check: &Check) -> (String, Body) {
    match check.clone() {
        Check::Archive { member, present, identity_doubtful, irregular, fake, personnel_file, note } => (
            member.clone(),
            Body::ArchiveReviewed(pb::ArchiveReviewed {
                member_id: member,
                present: present.iter().map(|m| m.proto()).collect(),
                identity_doubtful,
                irregular_admission: irregular,
                suspected_fake: fake,
                has_personnel_file: personnel_file,
                note,
            }),
        ),
        Check::Contact {
            member,
            status,
            last_life,
            last_dues,
            last_work,
            outflow_date,
            outflow_reason,
            destination,
            situation,
            card,
        } => {
            let mut parts = destination.split('/').map(str::to_string);
            (
                member.clone(),
                Body::ContactStatusAssessed(pb::ContactStatusAssessed {
                    member_id: member,
                    status: status.proto(),
                    last_org_life: last_life.map(|d| d.0),
                    last_dues: last_dues.map(|d| d.0),
                    last_assigned_work: last_work.map(|d| d.0),
                    outflow_date: outflow_date.map(|d| d.0),
                    outflow_reason,
                    destination: (!destination.is_empty()).then(|| pb::Region {
                        province: parts.next().unwrap_or_default(),
                        city: parts.next().unwrap_or_default(),
                        county: parts.next().unwrap_or_default(),
                    }),
                    situation: situation.map_or(0, SituationArg::proto),
                    has_flowing_card: card,
                }),
            )
        }
        Check::Transfer { member, out_on, to, receipt_on, valid_until } => (
            member.clone(),
            Body::TransferStubChecked(pb::TransferStubChecked {
                member_id: member,
                transferred_out_on: Some(out_on.0),
                receiving_unit: to,
                receipt_received: receipt_on.is_some(),
                receipt_date: receipt_on.map(|d| d.0),
                letter_valid_until: valid_until.map(|d| d.0),
            }),
        ),
        Check::Conduct { member, summary, violation } => (
            member.clone(),
            Body::ConductNoted(pb::ConductNoted { member_id: member, summary, violation_reported: violation }),
        ),
    }
}

/// What a case step needs from the node to become a body: the case's type (for
/// pre-reviews and approvals) and this node's level (for pre-reviews).
pub struct CaseContext {
    /// The case's type.
    pub disposition: i32,
    /// This node's level.
    pub level: pb::Level,
}

/// The case a step is about (`None` for a proposal, which names the member).
pub fn case_of(step: &CaseStep) -> Option<&str> {
    match step {
        CaseStep::Propose { .. } => None,
        CaseStep::Investigate { case, .. }
        | CaseStep::Prereview { case, .. }
        | CaseStep::Vote { case, .. }
        | CaseStep::Approve { case, .. }
        | CaseStep::Reject { case, .. }
        | CaseStep::File { case, .. }
        | CaseStep::Appeal { case, .. }
        | CaseStep::Review { case, .. } => Some(case),
    }
}

/// Builds the body of a case step.
pub fn case_body(step: &CaseStep, context: &CaseContext, new_case_id: impl FnOnce() -> String) -> Body {
    match step.clone() {
        CaseStep::Propose { member, disposition, case, facts, grounds, trigger, on: date } => {
            Body::DispositionProposed(pb::DispositionProposed {
                case_id: case.unwrap_or_else(new_case_id),
                member_id: member,
                disposition: disposition.proto(),
                grounds: grounds.iter().map(|g| g.proto()).collect(),
                trigger: trigger.proto(),
                facts,
                proposed_on: on(&date),
            })
        }
        CaseStep::Investigate { case, report, talked_by, unreachable, on: date } => {
            Body::DispositionInvestigated(pb::DispositionInvestigated {
                case_id: case,
                report,
                talked_by,
                member_unreachable: unreachable,
                investigated_on: on(&date),
            })
        }
        CaseStep::Prereview { case, disagree, written, opinion, on: date } => {
            Body::DispositionPreReviewed(pb::DispositionPreReviewed {
                case_id: case,
                reviewer_level: context.level as i32,
                written,
                agreed: !disagree,
                opinion,
                reviewed_on: on(&date),
                disposition: context.disposition,
            })
        }
        CaseStep::Vote {
            case,
            total,
            excluded,
            present,
            votes_for,
            against,
            abstain,
            defended,
            open_ballot,
            on: date,
        } => Body::DispositionVoted(pb::DispositionVoted {
            case_id: case,
            meeting_on: on(&date),
            full_members_total: total,
            excluded,
            present,
            votes_for,
            votes_against: against,
            abstentions: abstain,
            member_defended: defended,
            secret_ballot: !open_ballot,
        }),
        CaseStep::Approve { case, body, on: date } => Body::DispositionApproved(pb::DispositionApproved {
            case_id: case,
            approved_on: on(&date),
            collective: true,
            approving_body: body,
            disposition: context.disposition,
        }),
        CaseStep::Reject { case, reason, on: date } => {
            Body::DispositionRejected(pb::DispositionRejected { case_id: case, reason, rejected_on: on(&date) })
        }
        CaseStep::File { case, with, notified, on: date } => Body::DispositionFiled(pb::DispositionFiled {
            case_id: case,
            filed_with: with,
            filed_on: on(&date),
            member_notified_on: notified.map(|d| d.0).or_else(|| on(&date)),
        }),
        CaseStep::Appeal { case, to, outcome, on: date } => Body::DispositionAppealed(pb::DispositionAppealed {
            case_id: case,
            appealed_on: on(&date),
            appeal_to: to,
            outcome: outcome.proto(),
        }),
        CaseStep::Review { case, corrected, note, on: date } => {
            Body::CorrectionPeriodReviewed(pb::CorrectionPeriodReviewed {
                case_id: case,
                reviewed_on: on(&date),
                corrected,
                note,
            })
        }
    }
}

/// The body of a contact attempt.
pub fn attempt_body(args: &AttemptArgs) -> Body {
    Body::ContactAttempted(pb::ContactAttempted {
        member_id: args.member.clone(),
        method: args.method.proto(),
        department: args.department.map_or(0, DepartmentArg::proto),
        attempted_on: on(&args.on),
        outcome: args.outcome.proto(),
        note: args.note.clone(),
    })
}

/// Events about one member beyond the five checks.
#[derive(Subcommand, Clone, Debug)]
pub enum MemberEvent {
    /// 标记暂无法查明的信息项 / flag a field that cannot be known yet.
    Flag {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 信息项（中文或英文名）/ the field.
        #[arg(long)]
        field: String,
        /// 原因 / why.
        #[arg(long)]
        note: String,
    },
    /// 登记表签字确认：本人、支部初核、党委复核 / form sign-off.
    Signoff {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 环节 / stage.
        #[arg(long, value_enum)]
        stage: StageArg,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 记录一次查找 / log a contact attempt.
    Attempt(AttemptArgs),
    /// 已取得联系 / mark a lost member located.
    Locate {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 失联原因 / cause of the loss of contact.
        #[arg(long, value_enum)]
        cause: SituationArg,
        /// 原因说明 / about the cause.
        #[arg(long, default_value = "")]
        cause_note: String,
        /// 失联期间表现 / conduct during the loss of contact.
        #[arg(long, default_value = "")]
        conduct: String,
        /// 接受批评教育、态度端正 / accepts criticism and education.
        #[arg(long)]
        attitude_correct: bool,
        /// 发现违纪违法问题 / violations found.
        #[arg(long)]
        violations: bool,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 口袋党员：接收单位的答复 / a pocket member: the receiving unit's answer.
    Receiving {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 接收单位 / the receiving unit.
        #[arg(long)]
        unit_name: String,
        /// 已在接收单位登记组织关系 / the relation was registered there.
        #[arg(long)]
        registered: bool,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 规范管理措施 / a management action.
    Action {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 措施 / the action.
        #[arg(long, value_enum)]
        kind: ActionArg,
        /// 接收党组织 / receiving organisation (transfer, re-issue).
        #[arg(long, default_value = "")]
        to: String,
        /// 流动党员活动证编号 / card number.
        #[arg(long, default_value = "")]
        card_number: String,
        /// 有本人书面申请 / written application (retain).
        #[arg(long)]
        written_application: bool,
        /// 院系批准日期 / college approval date (retain).
        #[arg(long)]
        college_approved: Option<DateArg>,
        /// 高校登记日期 / university registration date (retain).
        #[arg(long)]
        university_registered: Option<DateArg>,
        /// 材料移交单位（停止党籍）/ files sent to (stop).
        #[arg(long, default_value = "")]
        files_to: String,
        /// 备注 / note.
        #[arg(long, default_value = "")]
        note: String,
        /// 生效日期 / effective date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 移交纪检或公安机关（不以组织处置代替）/ refer a violation (never replaced by a disposition).
    Refer {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 移交机关 / referred to.
        #[arg(long, value_enum)]
        to: ReferArg,
        /// 概述 / summary.
        #[arg(long)]
        summary: String,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
    /// 补齐档案材料 / add an archive material.
    ArchiveAdd {
        /// 党员编号 / the member.
        #[arg(long)]
        member: String,
        /// 材料 / the material.
        #[arg(long, value_enum)]
        material: MaterialArg,
        /// 保管单位 / kept by.
        #[arg(long, value_enum)]
        kept_by: CustodyArg,
        /// 日期 / date.
        #[arg(long)]
        on: Option<DateArg>,
    },
}

impl MemberEvent {
    /// The member and the body.
    ///
    /// # Errors
    ///
    /// A message for a field name that is not one of the form's.
    pub fn body(&self) -> Result<(String, Body), String> {
        Ok(match self.clone() {
            MemberEvent::Flag { member, field, note } => {
                let field = crate::fields::parse_field(&field)?;
                (
                    member.clone(),
                    Body::RecordFlagged(pb::RecordFlagged { member_id: member, field: field as i32, note }),
                )
            }
            MemberEvent::Signoff { member, stage, on: date } => (
                member.clone(),
                Body::FormSignedOff(pb::FormSignedOff {
                    member_id: member,
                    stage: stage.proto(),
                    signed_on: on(&date),
                }),
            ),
            MemberEvent::Attempt(args) => (args.member.clone(), attempt_body(&args)),
            MemberEvent::Locate { member, cause, cause_note, conduct, attitude_correct, violations, on: date } => (
                member.clone(),
                Body::MemberLocated(pb::MemberLocated {
                    member_id: member,
                    located_on: on(&date),
                    cause: cause.proto(),
                    cause_note,
                    conduct_during_loss: conduct,
                    attitude_correct,
                    violations_found: violations,
                }),
            ),
            MemberEvent::Receiving { member, unit_name, registered, on: date } => (
                member.clone(),
                Body::ReceivingUnitConfirmed(pb::ReceivingUnitConfirmed {
                    member_id: member,
                    receiving_unit: unit_name,
                    relation_registered: registered,
                    answered_on: on(&date),
                }),
            ),
            MemberEvent::Action {
                member,
                kind,
                to,
                card_number,
                written_application,
                college_approved,
                university_registered,
                files_to,
                note,
                on: date,
            } => (
                member.clone(),
                Body::ManagementActionTaken(pb::ManagementActionTaken {
                    member_id: member,
                    action: kind.proto(),
                    effective_on: on(&date),
                    destination_unit: to,
                    card_number,
                    written_application,
                    college_approved_on: college_approved.map(|d| d.0),
                    university_registered_on: university_registered.map(|d| d.0),
                    files_sent_to: files_to,
                    note,
                }),
            ),
            MemberEvent::Refer { member, to, summary, on: date } => (
                member.clone(),
                Body::ViolationReferred(pb::ViolationReferred {
                    member_id: member,
                    referred_to: to.proto(),
                    referred_on: on(&date),
                    summary,
                }),
            ),
            MemberEvent::ArchiveAdd { member, material, kept_by, on: date } => (
                member.clone(),
                Body::ArchiveMaterialAdded(pb::ArchiveMaterialAdded {
                    member_id: member,
                    material: material.proto(),
                    kept_by: kept_by.proto(),
                    added_on: on(&date),
                }),
            ),
        })
    }
}
