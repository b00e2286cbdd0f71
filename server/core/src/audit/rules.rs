//! The rules of the audit, enforced when an event is authored (DOMAIN.md sections 2-6).
//!
//! [`check`] judges a draft body against the node's projection: it refuses, with a
//! [`RuleViolation`] that says in Chinese and English which rule and what is missing,
//! anything the notice forbids — a 自行脱党除名 without documented attempts through
//! several methods over six months, a vote without quorum, a step out of the procedure's
//! order, a disposition in place of a referral. Received events are not re-judged by
//! these rules (people at another level decided them); their authority is checked by
//! [`crate::authority`].
//!
//! No quotas: nothing here sets or tracks targets for dispositions.
//!
//! Invariant: `check` is pure; the same projection, context and body give the same
//! answer.

use chrono::NaiveDate;

use crate::audit::case::{Stage, Step, approving_level, count_vote, required_pre_reviews};
use crate::audit::dates;
use crate::audit::member::{Stamp, parse_category, parse_gender, parse_person_group, parse_yes_no};
use crate::audit::projection::Projection;
use crate::body::Body;
use crate::proto;
use crate::proto::DispositionType as T;
use crate::unit::{Level, UnitPath};

/// Who is authoring, where, and when.
#[derive(Clone, Debug)]
pub struct AuthorContext {
    /// The event's unit.
    pub unit: UnitPath,
    /// The authoring replica's level.
    pub level: Level,
    /// Today (China Standard Time), for "not in the future".
    pub today: NaiveDate,
    /// The stamp the event will carry (orders it after everything the node holds).
    pub stamp: Stamp,
}

/// A rule that refuses a draft.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    /// A required field is empty.
    #[error("{field} is required")]
    Missing {
        /// English name of the field.
        field: &'static str,
        /// Chinese name of the field.
        field_zh: &'static str,
    },
    /// The member is not registered at this node.
    #[error("member {member_id} is not registered here")]
    UnknownMember {
        /// The id given.
        member_id: String,
    },
    /// The member is registered at another branch than the event's: what a unit says
    /// about a member of another unit is refused.
    #[error(
        "member {member_id} is registered at {registered_at}, not at {unit}: only that branch (and the levels above it) may record about this member"
    )]
    MemberOfAnotherUnit {
        /// The member.
        member_id: String,
        /// Where the event would be filed.
        unit: String,
        /// Where the member is registered.
        registered_at: String,
    },
    /// A sign-off out of the form's order (本人确认 → 支部初核 → 基层党委复核).
    #[error("sign-off {stage} needs {missing} first")]
    SignOffOrder {
        /// The stage recorded.
        stage: &'static str,
        /// The stage missing before it.
        missing: &'static str,
        /// Chinese names of the two.
        stage_zh: &'static str,
        /// Chinese name of the missing stage.
        missing_zh: &'static str,
    },
    /// A sign-off already recorded.
    #[error("sign-off {stage} is already recorded")]
    SignOffRepeated {
        /// The stage.
        stage: &'static str,
        /// Chinese name.
        stage_zh: &'static str,
    },
    /// 本人确认 of a member the branch cannot reach.
    #[error("member {member_id} is lost: the member cannot confirm the form until contact is regained")]
    LostCannotConfirm {
        /// The member.
        member_id: String,
    },
    /// The branch field moves a relation; that is a transfer, not a correction.
    #[error("the branch of a member is not corrected: transfer the relation (management action) instead")]
    BranchNotCorrectable,
    /// A registration form naming another branch than the one it is filed at.
    #[error("the form names branch {named}, but it is registered at {unit}")]
    FormBranchMismatch {
        /// The branch named in the form.
        named: String,
        /// The branch it is filed at.
        unit: String,
    },
    /// A sign-off at a level other than the one its stage belongs to.
    #[error("sign-off {stage} is recorded by the {required} level")]
    SignOffLevel {
        /// The stage.
        stage: &'static str,
        /// The level that records it.
        required: &'static str,
    },
    /// A settlement of a duplicate relation that is not one, or keeps a unit the member
    /// is not registered at.
    #[error("member {member_id} has no duplicate relation to settle at {unit}")]
    NotADuplicate {
        /// The member.
        member_id: String,
        /// The unit to keep.
        unit: String,
    },
    /// A return of a table that was not submitted, or was returned already.
    #[error("{unit} has no submission of table {table} to return (none, or a later one, or returned already)")]
    NoReportToReturn {
        /// The reporting unit.
        unit: String,
        /// The table.
        table: u32,
    },
    /// A second registration of one member.
    #[error("member {member_id} is already registered")]
    AlreadyRegistered {
        /// The id given.
        member_id: String,
    },
    /// A member is registered at a branch.
    #[error("members are registered at a branch (level 4), not at {unit}")]
    NotABranch {
        /// The unit given.
        unit: String,
    },
    /// An ID number that is not a valid 18-character citizen ID.
    #[error("invalid citizen ID number: {reason}")]
    InvalidIdNumber {
        /// What is wrong (never the number itself).
        reason: &'static str,
    },
    /// A date after today.
    #[error("{field} {date} is in the future")]
    FutureDate {
        /// English name of the field.
        field: &'static str,
        /// The date.
        date: NaiveDate,
    },
    /// Two dates in the wrong order.
    #[error("{later} must not be before {earlier}")]
    DateOrder {
        /// The field that must come first.
        earlier: &'static str,
        /// The field that must come later.
        later: &'static str,
    },
    /// A value that does not parse for its field.
    #[error("{value:?} is not a valid value for {field}: expected {expected}")]
    InvalidValue {
        /// English name of the field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is expected.
        expected: &'static str,
    },
    /// A contact attempt through departments must say which department.
    #[error("an attempt through departments must name the department")]
    DepartmentRequired,
    /// The member is not lost, so cannot be located.
    #[error("member {member_id} is not lost: nothing to locate")]
    NotLost {
        /// The member.
        member_id: String,
    },
    /// A receiving unit's answer needs a transfer letter without receipt.
    #[error("member {member_id} has no transfer letter awaiting a receipt")]
    NoPendingTransfer {
        /// The member.
        member_id: String,
    },
    /// A management action lacks what its procedure requires.
    #[error("{action} requires {missing}")]
    ActionIncomplete {
        /// English name of the action.
        action: &'static str,
        /// What is missing, in English.
        missing: &'static str,
        /// What is missing, in Chinese.
        missing_zh: &'static str,
    },
    /// A probationary member's path ends in 取消预备党员资格, never 停止党籍.
    #[error("a probationary member's membership is not stopped: propose cancelling probationary status instead")]
    ProbationaryNotStopped,
    /// The member already has an open case.
    #[error("member {member_id} already has an open disposition case ({case_id})")]
    OpenCase {
        /// The member.
        member_id: String,
        /// The open case.
        case_id: String,
    },
    /// The case id is in use.
    #[error("case {case_id} exists already")]
    CaseExists {
        /// The case.
        case_id: String,
    },
    /// No such case.
    #[error("case {case_id} is not known here")]
    UnknownCase {
        /// The case.
        case_id: String,
    },
    /// A step that does not fit the case's stage, with what must happen first.
    #[error("case {case_id} is at stage {stage}: this step is not next ({missing})")]
    OutOfOrder {
        /// The case.
        case_id: String,
        /// Its stage.
        stage: Stage,
        /// What is missing, or who must act, in English.
        missing: String,
        /// The same in Chinese.
        missing_zh: String,
    },
    /// The unqualified-member dispositions need one of the six grounds.
    #[error("this disposition needs at least one of the six grounds of 中组发〔2014〕21号")]
    GroundsRequired,
    /// 退党除名 is for a member who asked to leave.
    #[error("removal at the member's own request needs the trigger 'request to leave'")]
    NotRequested,
    /// 自行脱党除名 without any six-month gap.
    #[error("self-separation needs six consecutive months without organisation life, dues or assigned work")]
    NoSixMonthGap,
    /// 自行脱党除名 for a lost member without documented search.
    #[error(
        "self-separation of a lost member needs at least {need_attempts} documented attempts through \
         {need_channels} or more methods over {need_months} months (the campaign's policy); on record: \
         {attempts} attempts, {channels} methods, {months} months"
    )]
    SearchNotDocumented {
        /// Attempts the policy requires.
        need_attempts: u32,
        /// Methods the policy requires.
        need_channels: u32,
        /// Months the policy requires.
        need_months: i64,
        /// Attempts on record.
        attempts: u32,
        /// Channels used.
        channels: u32,
        /// Months between the first and the last attempt.
        months: i64,
    },
    /// 取消预备党员资格 is for probationary members.
    #[error("only a probationary member's status can be cancelled")]
    NotProbationary,
    /// 不予承认 needs an archive finding.
    #[error("non-recognition needs an archive review finding irregular admission, a fake member or doubtful identity")]
    NoIrregularFinding,
    /// 劝而不退除名 follows an effective 劝退.
    #[error("removal after persuasion needs an approved persuasion to withdraw for this member")]
    NoPersuasion,
    /// A reported violation must be referred; a disposition never replaces it.
    #[error(
        "member {member_id} has a reported violation not yet referred: refer it to the discipline commission or police first"
    )]
    ViolationNotReferred {
        /// The member.
        member_id: String,
    },
    /// An investigation records a talk by two full members, or that the member could not be reached.
    #[error("an investigation needs a talk by two full members, or a record that the member could not be reached")]
    TalkRequired,
    /// Pre-review at the wrong level.
    #[error("this disposition is pre-reviewed by the {required} level(s); a {level} replica reviewing as {claimed}")]
    PreReviewLevel {
        /// Levels required.
        required: String,
        /// The author's level.
        level: &'static str,
        /// The level claimed in the body.
        claimed: String,
    },
    /// The university's pre-review must be written.
    #[error("the university's pre-review must be written")]
    NotWritten,
    /// The branch meeting had no quorum.
    #[error("no quorum: {present} present of {should_attend} who should attend (more than {percent}% needed)")]
    NoQuorum {
        /// The policy's quorum, in per cent of 应到会.
        percent: u32,
        /// Present.
        present: u32,
        /// Should attend.
        should_attend: u32,
    },
    /// Vote figures that cannot be.
    #[error("vote figures are inconsistent: {detail}")]
    VoteFigures {
        /// What is inconsistent.
        detail: &'static str,
    },
    /// One secret ballot per case.
    #[error("a disposition is voted by secret ballot")]
    SecretBallotRequired,
    /// The approver's level is too low.
    #[error("this disposition is approved at the {required} level or above")]
    ApprovalLevel {
        /// The level required.
        required: &'static str,
    },
    /// An appeal's outcome recorded below the level that approved the disposition.
    #[error(
        "the outcome of an appeal is recorded by the {required} level or above (a branch records the appeal as pending)"
    )]
    AppealOutcomeLevel {
        /// The level required.
        required: &'static str,
    },
    /// The approval is collective.
    #[error("a disposition is approved collectively by the committee")]
    NotCollective,
    /// The campaign needs its deadlines.
    #[error("a campaign needs its year, as-of date and the four deadlines (4-15, 4-20, 5-31, 8-31)")]
    CampaignIncomplete,
    /// A unit's name is incomplete or malformed.
    #[error("unit name: {detail}")]
    UnitName {
        /// What is wrong.
        detail: String,
        /// The same in Chinese.
        detail_zh: String,
    },
    /// A policy field outside the bounds a province may set.
    #[error("policy: {0}")]
    Policy(#[from] crate::audit::policy::PolicyError),
    /// A policy change needs the campaign it changes.
    #[error("no campaign {campaign_id} is in force here to change the policy of")]
    PolicyWithoutCampaign {
        /// The campaign named.
        campaign_id: String,
    },
    /// Tables are numbered 1 to 3.
    #[error("table {table} does not exist: tables are 1, 2 and 3")]
    NoSuchTable {
        /// The number given.
        table: u32,
    },
}

impl RuleViolation {
    /// The message in Chinese.
    pub fn message_zh(&self) -> String {
        use RuleViolation as R;
        match self {
            R::Missing { field_zh, .. } => format!("{field_zh}不能为空"),
            R::UnknownMember { member_id } => format!("党员 {member_id} 未在本节点登记"),
            R::AlreadyRegistered { member_id } => format!("党员 {member_id} 已登记，不能重复登记"),
            R::MemberOfAnotherUnit { member_id, unit, registered_at } => format!(
                "党员 {member_id} 登记在 {registered_at}，不在 {unit}：只有该党员所在党支部（及其上级）可以记录其情况"
            ),
            R::SignOffOrder { stage_zh, missing_zh, .. } => format!("“{stage_zh}”须在“{missing_zh}”之后进行"),
            R::SignOffRepeated { stage_zh, .. } => format!("“{stage_zh}”已经记录，不必重复"),
            R::LostCannotConfirm { member_id } => {
                format!("党员 {member_id} 处于失联状态，取得联系之前不能由本人确认登记表")
            }
            R::SignOffLevel { required, .. } => format!("该签字环节须由{}记录", level_zh(required)),
            R::NotADuplicate { member_id, unit } => {
                format!("党员 {member_id} 在 {unit} 没有需要处理的重复组织关系")
            }
            R::NoReportToReturn { unit, table } => {
                format!("{unit} 没有可退回的表{table}（未报送、已有新报送或已退回）")
            }
            R::BranchNotCorrectable => "所在党支部不能通过信息更正修改：应办理组织关系转接（规范管理措施）".into(),
            R::FormBranchMismatch { named, unit } => format!("登记表所填党支部（{named}）与登记单位（{unit}）不一致"),
            R::NotABranch { unit } => format!("党员应登记在党支部（第4级），而不是 {unit}"),
            R::InvalidIdNumber { reason } => format!("公民身份证号无效：{}", id_reason_zh(reason)),
            R::FutureDate { field, date } => format!("{}（{date}）不能晚于今天", field_zh(field)),
            R::DateOrder { earlier, later } => format!("{}不能早于{}", field_zh(later), field_zh(earlier)),
            R::InvalidValue { field, value, expected } => {
                format!("“{value}”不是有效的{}：应为{}", field_zh(field), expected_zh(expected))
            }
            R::DepartmentRequired => "通过部门查找时须注明部门".into(),
            R::NotLost { member_id } => format!("党员 {member_id} 未被认定为失联，无需登记取得联系"),
            R::NoPendingTransfer { member_id } => format!("党员 {member_id} 没有待回执的组织关系介绍信"),
            R::ActionIncomplete { missing_zh, .. } => format!("该管理措施须{missing_zh}"),
            R::ProbationaryNotStopped => "预备党员不能停止党籍，应提出取消预备党员资格".into(),
            R::OpenCase { member_id, case_id } => format!("党员 {member_id} 已有进行中的处置案件（{case_id}）"),
            R::CaseExists { case_id } => format!("案件编号 {case_id} 已存在"),
            R::UnknownCase { case_id } => format!("本节点没有案件 {case_id}"),
            R::OutOfOrder { case_id, stage, missing_zh, .. } => {
                format!("案件 {case_id} 当前为“{}”，不能进行此步骤：{missing_zh}", stage.name_zh())
            }
            R::GroundsRequired => "须注明中组发〔2014〕21号规定的六种不合格情形之一".into(),
            R::NotRequested => "退党除名须以党员本人要求退党为起因".into(),
            R::NoSixMonthGap => "自行脱党除名须有连续6个月不参加组织生活、不交纳党费或不做党分配的工作".into(),
            R::SearchNotDocumented { attempts, channels, months, need_attempts, need_channels, need_months } => {
                format!(
                    "失联党员作自行脱党除名，须有至少{need_attempts}次、{need_channels}种以上方式、\
                     跨度{need_months}个月以上的查找记录（经多方努力确实无法取得联系；本次排查政策）；现有记录：{attempts}次、\
                     {channels}种方式、{months}个月"
                )
            }
            R::NotProbationary => "只有预备党员才能取消预备党员资格".into(),
            R::NoIrregularFinding => "不予承认须有档案审核认定的违规入党、假党员或身份存疑".into(),
            R::NoPersuasion => "劝而不退除名须先有经批准的劝退".into(),
            R::ViolationNotReferred { member_id } => {
                format!("党员 {member_id} 有尚未移交的违纪违法问题：应先移交纪检机关或公安机关，不能以组织处置代替")
            }
            R::TalkRequired => "调查核实须有两名正式党员谈话记录，或无法联系的记录".into(),
            R::PreReviewLevel { required, .. } => format!("该处置须由{required}级预审，且预审级别须与本节点级别一致"),
            R::NotWritten => "高校党委组织部的预审须为书面预审".into(),
            R::NoQuorum { present, should_attend, percent } => {
                let share = if *percent == 50 { "半数".to_string() } else { format!("{percent}%") };
                format!("支部大会不足法定人数：应到会{should_attend}人，实到{present}人（须超过{share}）")
            }
            R::VoteFigures { detail } => format!("表决数字不一致：{detail}"),
            R::SecretBallotRequired => "组织处置须无记名投票表决".into(),
            R::ApprovalLevel { required } => format!("该处置须由{}或以上审批", level_zh(required)),
            R::AppealOutcomeLevel { required } => {
                format!("申诉的复议结果须由{}或以上记录（党支部只能记录申诉已提出、待处理）", level_zh(required))
            }
            R::NotCollective => "组织处置须经党委集体研究审批".into(),
            R::CampaignIncomplete => {
                "排查工作须设年度、统计截止日期和4个时间节点（4月15日、4月20日、5月底、8月底）".into()
            }
            R::NoSuchTable { table } => format!("没有表{table}：只有表1、表2、表3"),
            R::UnitName { detail_zh, .. } => format!("单位名称：{detail_zh}"),
            R::Policy(error) => {
                format!("排查政策“{}”为{}，应在{}至{}之间", error.field_zh, error.value, error.low, error.high)
            }
            R::PolicyWithoutCampaign { campaign_id } => {
                format!("本节点没有正在进行的排查工作 {campaign_id}，无法调整其政策")
            }
        }
    }

    /// The message in `lang` ("zh" or "en").
    pub fn message(&self, lang: &str) -> String {
        if lang == "en" { self.to_string() } else { self.message_zh() }
    }
}

fn level_zh(level: &str) -> &'static str {
    match level {
        "province" => "省级",
        "university" => "高校党委",
        "college" => "院系党委",
        _ => "党支部",
    }
}

fn id_reason_zh(reason: &str) -> &'static str {
    match reason {
        "it must have 18 characters" => "应为18位",
        "the first 17 characters must be digits" => "前17位应为数字",
        "the check digit does not match" => "校验位不符",
        _ => "出生日期无效",
    }
}

fn expected_zh(expected: &str) -> &'static str {
    match expected {
        "a date such as 2024-03-05" => "日期，如 2024-03-05",
        "男 or 女" => "男或女",
        "正式党员 or 预备党员" => "正式党员或预备党员",
        "正常 or 停止党籍" => "正常或停止党籍",
        "是 or 否" => "是或否",
        "a numeric code" => "数字代码",
        "a person group (教职工, 离退休人员, 高校毕业生, 在校学生, 其他)" => {
            "人员类别（教职工、离退休人员、高校毕业生、在校学生、其他）"
        }
        "a unit path" => "组织路径",
        _ => "有效值",
    }
}

/// Chinese name of a field named in a violation.
pub fn field_zh(field: &str) -> &'static str {
    match field {
        "member id" => "党员编号",
        "name" => "姓名",
        "gender" => "性别",
        "ethnicity" => "民族",
        "ID number" => "公民身份证号",
        "birth date" => "出生日期",
        "education" => "学历",
        "category" => "人员类别",
        "branch" => "所在党支部",
        "joined date" => "加入党组织日期",
        "full member date" => "转为正式党员日期",
        "job" => "工作岗位",
        "phone" => "联系电话",
        "address" => "家庭住址",
        "membership status" => "党籍状态",
        "lost" => "是否为失联党员",
        "lost since" => "失去联系日期",
        "flowing" => "是否为流动党员",
        "native place" => "籍贯",
        "person group" => "人员分组",
        "field" => "字段",
        "value" => "新值",
        "case id" => "案件编号",
        "attempt date" => "查找日期",
        "located date" => "取得联系日期",
        "method" => "查找方式",
        "action" => "管理措施",
        "disposition" => "处置方式",
        "facts" => "事实依据",
        "meeting date" => "会议日期",
        "effective date" => "生效日期",
        "today" => "今天",
        _ => "该项",
    }
}

/// Validates an 18-character citizen ID number (GB 11643): digits, birth date, check digit.
///
/// # Errors
///
/// The reason, never echoing the number (it is personal data).
pub fn check_id_number(id: &str) -> Result<NaiveDate, RuleViolation> {
    let invalid = |reason| RuleViolation::InvalidIdNumber { reason };
    let chars: Vec<char> = id.trim().chars().collect();
    if chars.len() != 18 {
        return Err(invalid("it must have 18 characters"));
    }
    if !chars[..17].iter().all(char::is_ascii_digit) {
        return Err(invalid("the first 17 characters must be digits"));
    }
    let first17: String = chars[..17].iter().collect();
    let birth =
        NaiveDate::parse_from_str(&first17[6..14], "%Y%m%d").map_err(|_| invalid("the birth date is invalid"))?;
    if chars[17].to_ascii_uppercase() != id_check_digit(&first17) {
        return Err(invalid("the check digit does not match"));
    }
    Ok(birth)
}

/// The check digit of the first 17 digits of a citizen ID number.
pub fn id_check_digit(first17: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let sum: u32 = first17.chars().zip(WEIGHTS).map(|(c, w)| c.to_digit(10).unwrap_or(0) * w).sum();
    CHECK[(sum % 11) as usize]
}

/// The longest official name accepted (the national system's field holds 100 characters).
pub const UNIT_NAME_MAX_CHARS: usize = 100;

/// Checks a unit's name as recorded by the level above.
///
/// # Errors
///
/// [`RuleViolation::UnitName`] saying what is wrong, in both languages.
pub fn check_unit_name(named: &proto::UnitNamed) -> Result<(), RuleViolation> {
    let wrong = |detail: &str, detail_zh: &str| {
        Err(RuleViolation::UnitName { detail: detail.to_string(), detail_zh: detail_zh.to_string() })
    };
    let name = named.name.trim();
    if name.is_empty() {
        return wrong("the official name is empty", "须填写单位全称");
    }
    if name.chars().count() > UNIT_NAME_MAX_CHARS || named.short_name.chars().count() > UNIT_NAME_MAX_CHARS {
        return wrong("a name is longer than 100 characters", "名称不能超过100个字");
    }
    if name != named.name || named.short_name.trim() != named.short_name {
        return wrong("a name begins or ends with spaces", "名称首尾不能有空格");
    }
    if named.name.chars().chain(named.short_name.chars()).any(char::is_control) {
        return wrong("a name holds a control character", "名称不能含控制字符");
    }
    match proto::OrgType::try_from(named.org_type) {
        Ok(proto::OrgType::Unspecified) | Err(_) => {
            return wrong(
                "the organisation type is not one of 611, 612, 621, 631, 632",
                "党组织类型应为611（党委）、612（党工委）、621（党总支）、631（党支部）或632（联合党支部）",
            );
        }
        Ok(org_type) => {
            let level = UnitPath::parse(&named.unit_path).ok().and_then(|unit| unit.level());
            let fits = crate::audit::projection::org_type_fits(level, org_type);
            if !fits {
                return wrong(
                    "the organisation type does not fit the unit's level (a branch is 631 or 632, a college 611 or \
                     621, a university 611, the province 611 or 612)",
                    "党组织类型与单位层级不符（党支部为631或632，院系为611或621，高校为611，省级为611或612）",
                );
            }
        }
    }
    if named.org_code.len() > 32 || !named.org_code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return wrong("the organisation code is at most 32 letters and digits", "党组织代码应为不超过32位的字母或数字");
    }
    Ok(())
}

fn missing(field: &'static str) -> RuleViolation {
    RuleViolation::Missing { field, field_zh: field_zh(field) }
}

fn not_future(field: &'static str, date: Option<NaiveDate>, today: NaiveDate) -> Result<(), RuleViolation> {
    match date {
        Some(date) if date > today => Err(RuleViolation::FutureDate { field, date }),
        _ => Ok(()),
    }
}

fn required_date(
    field: &'static str,
    date: Option<&proto::Date>,
    today: NaiveDate,
) -> Result<NaiveDate, RuleViolation> {
    let date = dates::opt(date).ok_or_else(|| missing(field))?;
    not_future(field, Some(date), today)?;
    Ok(date)
}

/// Validates a member form (registration or import).
///
/// # Errors
///
/// The first rule the form breaks.
pub fn check_form(form: &proto::MemberForm, today: NaiveDate) -> Result<(), RuleViolation> {
    if form.name.trim().is_empty() {
        return Err(missing("name"));
    }
    if form.gender == 0 {
        return Err(missing("gender"));
    }
    let id_birth = check_id_number(&form.id_number)?;
    let birth = required_date("birth date", form.birth_date.as_ref(), today)?;
    if birth != id_birth {
        return Err(RuleViolation::InvalidIdNumber { reason: "the birth date does not match the birth date field" });
    }
    if form.category == 0 {
        return Err(missing("category"));
    }
    let joined = required_date("joined date", form.joined_date.as_ref(), today)?;
    if joined < birth {
        return Err(RuleViolation::DateOrder { earlier: "birth date", later: "joined date" });
    }
    if let Some(full) = dates::opt(form.full_member_date.as_ref()) {
        not_future("full member date", Some(full), today)?;
        if full < joined {
            return Err(RuleViolation::DateOrder { earlier: "joined date", later: "full member date" });
        }
    }
    if form.lost {
        not_future("lost since", dates::opt(form.lost_since.as_ref()), today)?;
    }
    Ok(())
}

/// Validates the text of a corrected value for its field.
///
/// # Errors
///
/// [`RuleViolation::InvalidValue`] naming what is expected.
pub fn check_field_value(field: proto::MemberField, value: &str, today: NaiveDate) -> Result<(), RuleViolation> {
    use proto::MemberField as F;
    let name = field_name(field);
    let invalid = |expected| Err(RuleViolation::InvalidValue { field: name, value: value.to_string(), expected });
    let ok = match field {
        F::Unspecified => return Err(missing("field")),
        F::Name | F::Address | F::Phone | F::NativePlace => !value.trim().is_empty(),
        F::Gender => parse_gender(value).is_some(),
        F::Ethnicity | F::Education | F::Job => value.trim().parse::<u32>().is_ok(),
        F::IdNumber => return check_id_number(value).map(|_| ()),
        F::BirthDate | F::JoinedDate | F::FullMemberDate => match dates::parse(value) {
            Some(date) => return not_future(name, Some(date), today),
            None => return invalid("a date such as 2024-03-05"),
        },
        F::Category => parse_category(value).is_some(),
        F::Branch => UnitPath::parse(value).is_ok_and(|unit| unit.level() == Some(Level::Branch)),
        F::MembershipStatus => matches!(value.trim(), "正常" | "停止党籍" | "normal" | "stopped"),
        F::Lost | F::Flowing => parse_yes_no(value).is_some(),
        F::PersonGroup => parse_person_group(value).is_some(),
    };
    if ok {
        return Ok(());
    }
    invalid(match field {
        F::Gender => "男 or 女",
        F::Ethnicity | F::Education | F::Job => "a numeric code",
        F::Category => "正式党员 or 预备党员",
        F::Branch => "a unit path",
        F::MembershipStatus => "正常 or 停止党籍",
        F::Lost | F::Flowing => "是 or 否",
        F::PersonGroup => "a person group (教职工, 离退休人员, 高校毕业生, 在校学生, 其他)",
        _ => "a value",
    })
}

/// English name of a field (as in violations).
pub fn field_name(field: proto::MemberField) -> &'static str {
    use proto::MemberField as F;
    match field {
        F::Unspecified => "field",
        F::Name => "name",
        F::Gender => "gender",
        F::Ethnicity => "ethnicity",
        F::IdNumber => "ID number",
        F::BirthDate => "birth date",
        F::Education => "education",
        F::Category => "category",
        F::Branch => "branch",
        F::JoinedDate => "joined date",
        F::FullMemberDate => "full member date",
        F::Job => "job",
        F::Phone => "phone",
        F::Address => "address",
        F::MembershipStatus => "membership status",
        F::Lost => "lost",
        F::Flowing => "flowing",
        F::NativePlace => "native place",
        F::PersonGroup => "person group",
    }
}

/// Judges a draft body authored in `context` against what the node holds.
///
/// # Errors
///
/// The first [`RuleViolation`] the draft breaks.
pub fn check(projection: &Projection, context: &AuthorContext, body: &Body) -> Result<(), RuleViolation> {
    let today = context.today;
    let registered = |member_id: &str| registered_here(projection, context, member_id).map(|_| ());
    match body {
        Body::CampaignOpened(campaign) => {
            let kinds = [
                proto::DeadlineKind::UniversityTables,
                proto::DeadlineKind::ProvinceTables,
                proto::DeadlineKind::MemberDatabase,
                proto::DeadlineKind::Dispositions,
            ];
            let complete = campaign.year != 0
                && dates::opt(campaign.as_of.as_ref()).is_some()
                && kinds.iter().all(|kind| {
                    campaign.deadlines.iter().any(|d| d.kind == *kind as i32 && dates::opt(d.due.as_ref()).is_some())
                });
            if !complete || campaign.campaign_id.is_empty() {
                return Err(RuleViolation::CampaignIncomplete);
            }
            if let Some(policy) = &campaign.policy {
                crate::audit::policy::Policy::validate(policy)?;
            }
            Ok(())
        }
        Body::PolicyChanged(changed) => {
            if projection.campaign().is_none_or(|campaign| campaign.opened.campaign_id != changed.campaign_id) {
                return Err(RuleViolation::PolicyWithoutCampaign { campaign_id: changed.campaign_id.clone() });
            }
            crate::audit::policy::Policy::validate(&changed.policy.unwrap_or_default())?;
            if changed.reason.trim().is_empty() {
                return Err(missing("reason"));
            }
            Ok(())
        }
        Body::UnitNamed(named) => check_unit_name(named),
        Body::ReportSubmitted(report) => {
            if !(1..=3).contains(&report.table) {
                return Err(RuleViolation::NoSuchTable { table: report.table });
            }
            Ok(())
        }
        Body::MemberRegistered(registration) => {
            if registration.member_id.trim().is_empty() {
                return Err(missing("member id"));
            }
            // Registered anywhere this node can see: at this branch a re-registration,
            // elsewhere a duplicate relation (重复组织关系) refused where it is visible.
            if let Some(record) = projection.member_record(&registration.member_id)
                && let Some(held) = record.registered_units().into_iter().next()
            {
                if held == context.unit {
                    return Err(RuleViolation::AlreadyRegistered { member_id: registration.member_id.clone() });
                }
                return Err(RuleViolation::MemberOfAnotherUnit {
                    member_id: registration.member_id.clone(),
                    unit: context.unit.to_string(),
                    registered_at: held.to_string(),
                });
            }
            if context.unit.level() != Some(Level::Branch) {
                return Err(RuleViolation::NotABranch { unit: context.unit.to_string() });
            }
            let form = registration.form.as_ref().ok_or_else(|| missing("name"))?;
            if !form.branch_unit_path.is_empty() && form.branch_unit_path != context.unit.as_str() {
                return Err(RuleViolation::FormBranchMismatch {
                    named: form.branch_unit_path.clone(),
                    unit: context.unit.to_string(),
                });
            }
            check_form(form, today)
        }
        Body::RecordCorrected(correction) => {
            registered(&correction.member_id)?;
            let field = proto::MemberField::try_from(correction.field).unwrap_or(proto::MemberField::Unspecified);
            if field == proto::MemberField::Branch {
                return Err(RuleViolation::BranchNotCorrectable);
            }
            check_field_value(field, &correction.new_value, today)
        }
        Body::RecordFlagged(flag) => {
            registered(&flag.member_id)?;
            if flag.field == 0 {
                return Err(missing("field"));
            }
            Ok(())
        }
        Body::ArchiveReviewed(b) => registered(&b.member_id),
        Body::ArchiveMaterialAdded(b) => {
            registered(&b.member_id)?;
            not_future("effective date", dates::opt(b.added_on.as_ref()), today)
        }
        Body::ContactStatusAssessed(b) => {
            registered(&b.member_id)?;
            for date in [&b.last_org_life, &b.last_dues, &b.last_assigned_work, &b.outflow_date] {
                not_future("effective date", dates::opt(date.as_ref()), today)?;
            }
            Ok(())
        }
        Body::TransferStubChecked(b) => {
            registered(&b.member_id)?;
            not_future("effective date", dates::opt(b.transferred_out_on.as_ref()), today)
        }
        Body::ConductNoted(b) => registered(&b.member_id),
        Body::ViolationReferred(b) => registered(&b.member_id),
        Body::StatsDiscrepancyFound(b) => registered(&b.member_id),
        Body::StatsDiscrepancyResolved(b) => registered(&b.member_id),
        Body::FormSignedOff(b) => {
            let entry = registered_here(projection, context, &b.member_id)?;
            check_signoff(projection, context, entry, b)?;
            not_future("effective date", dates::opt(b.signed_on.as_ref()), today)
        }
        Body::DuplicateRelationFound(found) => {
            if found.member_id.trim().is_empty() {
                return Err(missing("member id"));
            }
            Ok(())
        }
        Body::DuplicateRelationSettled(settled) => {
            let record = projection
                .member_record(&settled.member_id)
                .ok_or_else(|| RuleViolation::UnknownMember { member_id: settled.member_id.clone() })?;
            let known = record.registered_units();
            let keep = UnitPath::parse(&settled.keep_unit).ok().filter(|unit| known.contains(unit));
            if keep.is_none() || known.len() < 2 {
                return Err(RuleViolation::NotADuplicate {
                    member_id: settled.member_id.clone(),
                    unit: settled.keep_unit.clone(),
                });
            }
            // Every registration known here is kept or released: a settlement decides
            // the whole duplicate, never part of it.
            let named: Vec<&str> = std::iter::once(settled.keep_unit.as_str())
                .chain(settled.released_units.iter().map(String::as_str))
                .collect();
            if let Some(left_out) = known.iter().find(|unit| !named.contains(&unit.as_str())) {
                return Err(RuleViolation::NotADuplicate {
                    member_id: settled.member_id.clone(),
                    unit: format!("{} (the settlement leaves out {left_out})", settled.keep_unit),
                });
            }
            if settled.reason.trim().is_empty() {
                return Err(missing("reason"));
            }
            Ok(())
        }
        Body::SpotCheckRecorded(b) => registered(&b.member_id),
        Body::ContactAttempted(attempt) => {
            registered(&attempt.member_id)?;
            if attempt.method == 0 {
                return Err(missing("method"));
            }
            if attempt.method == proto::ContactMethod::ThroughDepartment as i32 && attempt.department == 0 {
                return Err(RuleViolation::DepartmentRequired);
            }
            required_date("attempt date", attempt.attempted_on.as_ref(), today).map(|_| ())
        }
        Body::MemberLocated(located) => {
            let entry = registered_here(projection, context, &located.member_id)?;
            let view = entry.view(projection.as_of(), &projection.policy());
            if !view.lost {
                return Err(RuleViolation::NotLost { member_id: located.member_id.clone() });
            }
            required_date("located date", located.located_on.as_ref(), today).map(|_| ())
        }
        Body::ReceivingUnitConfirmed(answer) => {
            let entry = registered_here(projection, context, &answer.member_id)?;
            let pending = entry.state.extra().transfer.get().is_some_and(|t| !t.receipt_received);
            if !pending {
                return Err(RuleViolation::NoPendingTransfer { member_id: answer.member_id.clone() });
            }
            Ok(())
        }
        Body::ManagementActionTaken(action) => check_action(projection, context, action, today),
        Body::DispositionProposed(_)
        | Body::DispositionInvestigated(_)
        | Body::DispositionPreReviewed(_)
        | Body::DispositionVoted(_)
        | Body::DispositionApproved(_)
        | Body::DispositionRejected(_)
        | Body::DispositionFiled(_)
        | Body::DispositionAppealed(_)
        | Body::CorrectionPeriodReviewed(_) => check_step(projection, context, body),
        Body::ReportVerified(verdict) => {
            if !(1..=3).contains(&verdict.table) {
                return Err(RuleViolation::NoSuchTable { table: verdict.table });
            }
            Ok(())
        }
        Body::ReportReturned(returned) => {
            if !(1..=3).contains(&returned.table) {
                return Err(RuleViolation::NoSuchTable { table: returned.table });
            }
            if returned.reason.trim().is_empty() {
                return Err(missing("reason"));
            }
            let status = projection.report_status(&context.unit, returned.table);
            let current = status.report.is_some_and(|report| {
                report.replica.0[..] == returned.report_replica[..] && report.seq == returned.report_seq
            });
            if !current || status.state == crate::audit::projection::ReportState::Returned {
                return Err(RuleViolation::NoReportToReturn { unit: context.unit.to_string(), table: returned.table });
            }
            Ok(())
        }
        Body::ReplicaEnrolled(_) | Body::ReplicaRevoked(_) | Body::Receipt(_) | Body::EquivocationProof(_) => Ok(()),
    }
}

/// The member as registered at the event's unit; refused when the member is unknown
/// here or registered only at another unit (an event is filed at its unit and speaks
/// only of the members held there).
fn registered_here<'a>(
    projection: &'a Projection,
    context: &AuthorContext,
    member_id: &str,
) -> Result<&'a crate::audit::projection::MemberEntry, RuleViolation> {
    if member_id.trim().is_empty() {
        return Err(missing("member id"));
    }
    if let Some(entry) = projection.relation(member_id, &context.unit).filter(|entry| entry.is_registered()) {
        return Ok(entry);
    }
    match projection.member_record(member_id).and_then(|record| record.registered_units().into_iter().next()) {
        Some(elsewhere) => Err(RuleViolation::MemberOfAnotherUnit {
            member_id: member_id.to_string(),
            unit: context.unit.to_string(),
            registered_at: elsewhere.to_string(),
        }),
        None => Err(RuleViolation::UnknownMember { member_id: member_id.to_string() }),
    }
}

/// The sign-off chain of the per-member form: 本人确认 (never of a member who is lost),
/// then 支部初核, then 基层党委复核, each once; the level of each is authority's.
fn check_signoff(
    projection: &Projection,
    context: &AuthorContext,
    entry: &crate::audit::projection::MemberEntry,
    signed: &proto::FormSignedOff,
) -> Result<(), RuleViolation> {
    use proto::form_signed_off::Stage as S;
    let stage = S::try_from(signed.stage).unwrap_or(S::Unspecified);
    let name = |stage: S| match stage {
        S::MemberConfirmed => ("member confirmation", "本人确认"),
        S::BranchChecked => ("branch check", "党支部初核"),
        S::CommitteeRechecked => ("committee re-check", "基层党委复核"),
        S::Unspecified => ("unspecified", "未指定"),
    };
    if stage == S::Unspecified {
        return Err(missing("stage"));
    }
    if let Some(required) = crate::authority::signoff_level(stage)
        && required != context.level
    {
        return Err(RuleViolation::SignOffLevel { stage: name(stage).0, required: required.as_str() });
    }
    let signoffs = &entry.state.signoffs;
    if signoffs.has(stage) {
        let (stage, stage_zh) = name(stage);
        return Err(RuleViolation::SignOffRepeated { stage, stage_zh });
    }
    let before = match stage {
        S::MemberConfirmed => {
            let view = entry.view(projection.as_of(), &projection.policy());
            if view.lost && !view.found {
                return Err(RuleViolation::LostCannotConfirm { member_id: signed.member_id.clone() });
            }
            None
        }
        S::BranchChecked => Some(S::MemberConfirmed),
        S::CommitteeRechecked => Some(S::BranchChecked),
        S::Unspecified => None,
    };
    let in_order = match stage {
        S::BranchChecked => signoffs.has(S::MemberConfirmed),
        S::CommitteeRechecked => signoffs.branch_checked_in_order(),
        _ => true,
    };
    if let Some(before) = before
        && !in_order
    {
        let ((stage, stage_zh), (missing, missing_zh)) = (name(stage), name(before));
        return Err(RuleViolation::SignOffOrder { stage, missing, stage_zh, missing_zh });
    }
    Ok(())
}

fn check_action(
    projection: &Projection,
    context: &AuthorContext,
    action: &proto::ManagementActionTaken,
    today: NaiveDate,
) -> Result<(), RuleViolation> {
    use proto::ManagementAction as A;
    let entry = registered_here(projection, context, &action.member_id)?;
    let view = entry.view(projection.as_of(), &projection.policy());
    let effective = required_date("effective date", action.effective_on.as_ref(), today)?;
    let incomplete = |action: &'static str, missing: &'static str, missing_zh: &'static str| {
        Err(RuleViolation::ActionIncomplete { action, missing, missing_zh })
    };
    match A::try_from(action.action).unwrap_or(A::Unspecified) {
        A::Unspecified => Err(missing("action")),
        A::TransferRelation if action.destination_unit.trim().is_empty() => {
            incomplete("transfer of the relation", "the receiving organisation", "注明接收党组织")
        }
        A::ReissueTransfer if action.destination_unit.trim().is_empty() => {
            incomplete("re-issued transfer", "the receiving organisation", "注明接收党组织")
        }
        A::FlowingCard if action.card_number.trim().is_empty() => {
            incomplete("flowing-member card", "the card number", "注明流动党员活动证编号")
        }
        A::RetainAbroad => {
            if !action.written_application {
                return incomplete("retaining the relation", "the member's written application", "有本人书面申请");
            }
            let approved = dates::opt(action.college_approved_on.as_ref());
            let registered = dates::opt(action.university_registered_on.as_ref());
            match (approved, registered) {
                (None, _) => incomplete("retaining the relation", "the college's approval date", "有院系党委批准日期"),
                (Some(_), None) => {
                    incomplete("retaining the relation", "the university's registration date", "有高校党委登记备案日期")
                }
                (Some(approved), Some(registered)) if registered < approved => {
                    Err(RuleViolation::DateOrder { earlier: "college approval", later: "university registration" })
                }
                _ => not_future("effective date", Some(effective), today),
            }
        }
        A::StopMembership => {
            if view.probationary {
                return Err(RuleViolation::ProbationaryNotStopped);
            }
            if action.files_sent_to.trim().is_empty() {
                return incomplete(
                    "stopping membership",
                    "where the files were sent (county-level organisation department)",
                    "注明材料移交的县级党委组织部门",
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_step(projection: &Projection, context: &AuthorContext, body: &Body) -> Result<(), RuleViolation> {
    let today = context.today;
    let case_id = crate::audit::case::case_id_of(body).unwrap_or_default();
    if case_id.trim().is_empty() {
        return Err(missing("case id"));
    }
    let case = projection.case_at(&context.unit, case_id);
    if let Body::DispositionProposed(proposal) = body {
        return check_proposal(projection, context, proposal, case);
    }
    let case = case.ok_or_else(|| RuleViolation::UnknownCase { case_id: case_id.to_string() })?;
    let view = &case.view;
    let disposition = view.disposition();
    match body {
        Body::DispositionInvestigated(investigation) => {
            let named = investigation.talked_by.iter().filter(|name| !name.trim().is_empty()).count();
            if named < 2 && !investigation.member_unreachable {
                return Err(RuleViolation::TalkRequired);
            }
            not_future("effective date", dates::opt(investigation.investigated_on.as_ref()), today)?;
        }
        Body::DispositionPreReviewed(review) => {
            let required = required_pre_reviews(disposition);
            let claimed = proto::Level::try_from(review.reviewer_level).ok().and_then(Level::from_proto);
            if claimed != Some(context.level) || !required.contains(&context.level) {
                return Err(RuleViolation::PreReviewLevel {
                    required: required.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("+"),
                    level: context.level.as_str(),
                    claimed: claimed.map_or("none", Level::as_str).to_string(),
                });
            }
            if context.level == Level::University && !review.written {
                return Err(RuleViolation::NotWritten);
            }
        }
        Body::DispositionVoted(vote) => {
            if !vote.secret_ballot {
                return Err(RuleViolation::SecretBallotRequired);
            }
            if vote.excluded > vote.full_members_total {
                return Err(RuleViolation::VoteFigures { detail: "more excluded than full members" });
            }
            if vote.present > vote.full_members_total {
                return Err(RuleViolation::VoteFigures { detail: "more present than full members" });
            }
            // Widened: three u32 figures from a body may add up past u32::MAX.
            let cast = u64::from(vote.votes_for) + u64::from(vote.votes_against) + u64::from(vote.abstentions);
            if cast > u64::from(vote.present) {
                return Err(RuleViolation::VoteFigures { detail: "more votes than members present" });
            }
            let policy = projection.policies().at(&context.stamp);
            let count = count_vote(vote, &policy);
            if !count.quorum {
                return Err(RuleViolation::NoQuorum {
                    present: vote.present,
                    should_attend: count.should_attend,
                    percent: policy.quorum_percent,
                });
            }
            required_date("meeting date", vote.meeting_on.as_ref(), today)?;
        }
        Body::DispositionApproved(approval) => {
            let required = approving_level(disposition);
            if context.level > required {
                return Err(RuleViolation::ApprovalLevel { required: required.as_str() });
            }
            if !approval.collective {
                return Err(RuleViolation::NotCollective);
            }
        }
        Body::DispositionAppealed(appeal) if crate::audit::case::appeal_decided(appeal) => {
            let required = approving_level(disposition);
            if context.level > required {
                return Err(RuleViolation::AppealOutcomeLevel { required: required.as_str() });
            }
        }
        _ => {}
    }
    let next = case.with_step(
        context.stamp,
        Step { unit: context.unit.clone(), author_level: context.level, body: with_case_type(body, disposition) },
        projection.policies(),
    );
    if next.ignored_steps > view.ignored_steps {
        let (missing, missing_zh) = what_comes_first(view, body);
        return Err(RuleViolation::OutOfOrder { case_id: case_id.to_string(), stage: view.stage, missing, missing_zh });
    }
    Ok(())
}

/// What must happen before `body` can be recorded on a case at `view`'s stage, and who
/// does it (English, Chinese): the refusal of a step out of order names it.
fn what_comes_first(view: &crate::audit::case::CaseView, body: &Body) -> (String, String) {
    let level_zh = |level: Level| match level {
        Level::University => "高校党委（书面）",
        Level::College => "院系党委",
        Level::Province => "省级",
        Level::Branch => "党支部",
    };
    let missing_reviews = || {
        let required = required_pre_reviews(view.disposition());
        let missing: Vec<Level> = required.iter().copied().filter(|l| !view.pre_reviewed_by.contains(l)).collect();
        (
            format!(
                "the pre-review of {} is missing",
                missing
                    .iter()
                    .map(|l| if *l == Level::University { "the university (written)" } else { l.as_str() })
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            format!("还缺{}的预审", missing.iter().map(|l| level_zh(*l)).collect::<Vec<_>>().join("和")),
        )
    };
    let pair = |en: &str, zh: &str| (en.to_string(), zh.to_string());
    match view.stage {
        Stage::Unproposed => pair("the proposal has not reached this node", "尚未收到处置意见"),
        Stage::VoteFailed => pair(
            "the branch meeting did not pass it and the case is closed; a new proposal may be made on new facts",
            "支部大会未通过，案件已结束；如有新的事实，可重新提出处置意见",
        ),
        Stage::Filed | Stage::Corrected | Stage::NotCorrected | Stage::Overturned => {
            pair("the case is closed", "案件已结束")
        }
        Stage::Proposed => match body {
            Body::DispositionProposed(_) => pair("the case is already proposed", "已提出处置意见"),
            _ => pair("the investigation (调查核实) by the branch comes first", "须先由党支部调查核实"),
        },
        Stage::Investigated => match body {
            Body::DispositionPreReviewed(_) => {
                pair("this level's pre-review is not required or is recorded already", "本级预审不需要或已经记录")
            }
            _ => missing_reviews(),
        },
        Stage::PreReviewed => match body {
            Body::DispositionVoted(_) => pair("one vote per round is recorded already", "本轮已表决"),
            _ => pair("the branch meeting's vote comes first", "须先经支部大会表决通过"),
        },
        Stage::Voted => pair(
            &format!("the approval by the {} comes first", approving_level(view.disposition()).as_str()),
            &format!("须先经{}集体研究审批", level_zh(approving_level(view.disposition()))),
        ),
        Stage::Approved => pair(
            "the approval is recorded; filing and notifying the member come next",
            "已审批，下一步为备案并通知本人",
        ),
        Stage::CorrectionPeriod => {
            pair("the correction period is running; its review comes next", "限期改正期间，下一步为期满审查")
        }
    }
}

/// Pre-reviews and approvals carry the case's type; fill it for the order check so the
/// only refusal left is the stage.
fn with_case_type(body: &Body, disposition: T) -> Body {
    match body {
        Body::DispositionPreReviewed(review) if review.disposition == 0 => {
            Body::DispositionPreReviewed(proto::DispositionPreReviewed {
                disposition: disposition as i32,
                ..review.clone()
            })
        }
        Body::DispositionApproved(approval) if approval.disposition == 0 => {
            Body::DispositionApproved(proto::DispositionApproved {
                disposition: disposition as i32,
                ..approval.clone()
            })
        }
        other => other.clone(),
    }
}

fn check_proposal(
    projection: &Projection,
    context: &AuthorContext,
    proposal: &proto::DispositionProposed,
    case: Option<&crate::audit::case::Case>,
) -> Result<(), RuleViolation> {
    let member_id = &proposal.member_id;
    if member_id.trim().is_empty() {
        return Err(missing("member id"));
    }
    let entry = registered_here(projection, context, member_id)?;
    let revision = case.is_some_and(|c| c.view.stage == Stage::Proposed && c.view.returned > 0);
    if let Some(case) = case
        && !revision
    {
        return Err(RuleViolation::CaseExists { case_id: case.case_id.clone() });
    }
    let open = entry.cases().iter().find(|id| {
        let other = case.is_none_or(|this| &this.case_id != *id);
        other
            && projection
                .case_at(&context.unit, id)
                .is_some_and(|c| !c.view.stage.is_closed() && c.view.stage != Stage::Unproposed)
    });
    if let Some(case_id) = open {
        return Err(RuleViolation::OpenCase { member_id: member_id.clone(), case_id: case_id.clone() });
    }
    if proposal.facts.trim().is_empty() {
        return Err(missing("facts"));
    }
    not_future("effective date", dates::opt(proposal.proposed_on.as_ref()), context.today)?;
    let view = entry.view(projection.as_of(), &projection.policy());
    if view.unreferred_violation {
        return Err(RuleViolation::ViolationNotReferred { member_id: member_id.clone() });
    }
    let effective_of =
        |kind: T| projection.cases_of_relation(entry).iter().any(|c| c.disposition() == kind && c.stage.is_effective());
    match T::try_from(proposal.disposition).unwrap_or(T::Unspecified) {
        T::Unspecified => return Err(missing("disposition")),
        T::WithdrawalRemoval => {
            if proposal.trigger != proto::DispositionTrigger::RequestToLeave as i32 {
                return Err(RuleViolation::NotRequested);
            }
        }
        T::CorrectionPeriod | T::PersuadeToWithdraw => {
            if proposal.grounds.is_empty() {
                return Err(RuleViolation::GroundsRequired);
            }
        }
        T::RemovalAfterPersuasion => {
            if !effective_of(T::PersuadeToWithdraw) {
                return Err(RuleViolation::NoPersuasion);
            }
        }
        T::SelfSeparationRemoval => {
            if !view.self_separation_candidate && !view.lost {
                return Err(RuleViolation::NoSixMonthGap);
            }
            if view.lost && !view.found {
                let attempts = &entry.state.extra().attempts;
                let (count, channels, months) = (attempts.count, attempts.channels(), attempts.span_months());
                let policy = projection.policy();
                if count < policy.self_separation_attempts
                    || channels < policy.self_separation_methods
                    || months < policy.self_separation_months
                {
                    return Err(RuleViolation::SearchNotDocumented {
                        attempts: count,
                        channels,
                        months,
                        need_attempts: policy.self_separation_attempts,
                        need_channels: policy.self_separation_methods,
                        need_months: policy.self_separation_months,
                    });
                }
            }
        }
        T::CancelProbationary => {
            if !view.probationary {
                return Err(RuleViolation::NotProbationary);
            }
        }
        T::NonRecognition => {
            if !view.suspected_irregular {
                return Err(RuleViolation::NoIrregularFinding);
            }
        }
    }
    Ok(())
}
