//! A realistic province, generated deterministically from a seed (issue: the demo and
//! province-scale data): the organisation tree; members with plausible Chinese names,
//! genders, ethnicities, birth and joining dates by person group, valid ID numbers; and
//! audit histories with the shares people meet in the field — flowing, lost (for up to
//! decades), pocket, retained abroad, irregular admissions — with contact attempts,
//! located members, management actions, the five checks (roster items corrected or
//! flagged, conduct noted), sign-offs, and disposition cases planned to stop at every
//! stage of the procedure.
//!
//! Invariant: everything is a pure function of the [`Scale`] (seed included); a
//! branch's members depend only on the seed and the branch's path, so branches can be
//! generated independently and in any order. Shares are data ([`SHARES`]), not code.

use rollcall_core::audit::case::Stage;
use rollcall_core::body::Body;
use rollcall_core::log::Draft;
use rollcall_core::{EventKind, Level, UnitPath, proto as pb};

use crate::sample::{SampleRng, id_number};

/// How big a province to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    /// Universities under the province.
    pub universities: usize,
    /// Colleges per university.
    pub colleges: usize,
    /// Branches per college.
    pub branches: usize,
    /// Members per branch.
    pub members: usize,
    /// The seed.
    pub seed: u64,
}

impl Scale {
    /// A named size: `toy` (1 university, 20 members per branch), `demo` (2
    /// universities, 2 colleges, 2 branches, 40 members), `province` (120 universities
    /// × 20 colleges × 25 branches × 50 members = 3,000,000).
    pub fn preset(name: &str, seed: u64) -> Option<Scale> {
        let (universities, colleges, branches, members) = match name {
            "toy" => (1, 2, 2, 20),
            "demo" => (2, 2, 2, 40),
            "province" => (120, 20, 25, 50),
            _ => return None,
        };
        Some(Scale { universities, colleges, branches, members, seed })
    }

    /// Number of members.
    pub fn total_members(&self) -> usize {
        self.universities * self.colleges * self.branches * self.members
    }
}

/// Per-mille shares of the member population (DOMAIN.md §2; our estimates, kept as data).
pub struct Shares {
    /// Lost (失联).
    pub lost: u64,
    /// Flowing (流动).
    pub flowing: u64,
    /// Pocket (口袋).
    pub pocket: u64,
    /// Retained for abroad.
    pub retained: u64,
    /// Irregular admission found in the archive.
    pub irregular: u64,
    /// Probationary.
    pub probationary: u64,
    /// Of the lost: located again.
    pub located: u64,
    /// Correction period proposed for an unqualified member.
    pub correction: u64,
    /// Asked to leave.
    pub withdrawal: u64,
    /// Of the members in contact (and the lost found again): conduct noted, the fifth
    /// of the five checks.
    pub conduct_noted: u64,
    /// A roster item corrected (a changed phone, a degree since obtained, a move).
    pub corrected: u64,
    /// A roster item flagged as not yet knowable (有待查明).
    pub flagged: u64,
}

/// The shares used.
pub const SHARES: Shares = Shares {
    lost: 40,
    flowing: 80,
    pocket: 10,
    retained: 5,
    irregular: 4,
    probationary: 80,
    located: 400,
    correction: 8,
    withdrawal: 2,
    conduct_noted: 930,
    corrected: 30,
    flagged: 8,
};

/// The units of the province: (unit, level), parents before children.
pub fn hierarchy(scale: &Scale) -> Vec<(UnitPath, Level)> {
    let province = UnitPath::parse("hb").expect("valid");
    let mut units = vec![(province.clone(), Level::Province)];
    for u in 0..scale.universities {
        let university = province.child(&format!("u{:03}", u + 1)).expect("valid");
        units.push((university.clone(), Level::University));
        for c in 0..scale.colleges {
            let college = university.child(&format!("c{:02}", c + 1)).expect("valid");
            units.push((college.clone(), Level::College));
            for b in 0..scale.branches {
                units.push((college.child(&format!("b{:02}", b + 1)).expect("valid"), Level::Branch));
            }
        }
    }
    units
}

/// The province's universities, in order (a demo larger than this list reuses them with a number).
const UNIVERSITIES: &[&str] = &[
    "武汉大学",
    "华中科技大学",
    "武汉理工大学",
    "华中师范大学",
    "中南财经政法大学",
    "华中农业大学",
    "中国地质大学（武汉）",
    "湖北大学",
    "武汉科技大学",
    "长江大学",
    "三峡大学",
    "湖北工业大学",
];
/// Colleges (学院), in order.
const COLLEGES: &[&str] = &[
    "计算机学院",
    "数学与统计学院",
    "文学院",
    "化学与分子科学学院",
    "物理科学与技术学院",
    "经济与管理学院",
    "法学院",
    "外国语言文学学院",
    "马克思主义学院",
    "机械工程学院",
    "电气与自动化学院",
    "生命科学学院",
];
/// Branches (党支部) of a college, in order.
const BRANCHES: &[&str] = &[
    "教工第一党支部",
    "本科生第一党支部",
    "研究生第一党支部",
    "离退休党支部",
    "教工第二党支部",
    "本科生第二党支部",
    "研究生第二党支部",
    "博士研究生党支部",
    "行政党支部",
    "实验中心党支部",
];

fn nth_name(list: &[&str], index: usize) -> String {
    let base = list[index % list.len()];
    match index / list.len() {
        0 => base.to_string(),
        round => format!("{base}（{}）", round + 1),
    }
}

/// The official name of each unit of [`hierarchy`], as the level above records it:
/// 中共湖北省委教育工作委员会 (省委教育工委, 612), 中共武汉大学委员会 (武汉大学党委, 611),
/// 中共武汉大学计算机学院委员会 (计算机学院党委, 611), 武汉大学计算机学院教工第一党支部 (631).
/// The 党组织代码 is made up from the unit's position (the national system's codes are
/// not public).
pub fn unit_name(unit: &UnitPath) -> pb::UnitNamed {
    let segments: Vec<&str> = unit.as_str().split('/').collect();
    let index = |segment: &str| segment[1..].parse::<usize>().unwrap_or(1).saturating_sub(1);
    let university = segments.get(1).map(|s| nth_name(UNIVERSITIES, index(s)));
    let college = segments.get(2).map(|s| nth_name(COLLEGES, index(s)));
    let branch = segments.get(3).map(|s| nth_name(BRANCHES, index(s)));
    let code: String = std::iter::once("4200".to_string())
        .chain(segments[1..].iter().map(|s| format!("{:03}", index(s) + 1)))
        .collect();
    let (name, short_name, org_type) = match (university, college, branch) {
        (Some(u), Some(c), Some(b)) => (format!("{u}{c}{b}"), format!("{c}{b}"), pb::OrgType::Branch),
        (Some(u), Some(c), None) => (format!("中共{u}{c}委员会"), format!("{c}党委"), pb::OrgType::Committee),
        (Some(u), None, _) => (format!("中共{u}委员会"), format!("{u}党委"), pb::OrgType::Committee),
        _ => ("中共湖北省委教育工作委员会".to_string(), "省委教育工委".to_string(), pb::OrgType::WorkingCommittee),
    };
    pb::UnitNamed { unit_path: unit.to_string(), name, short_name, org_type: org_type as i32, org_code: code }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林",
    "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "于",
    "蒋", "蔡", "欧阳", "司马",
];
const GIVEN_MALE: &[&str] = &[
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "刚", "建华", "志强", "晓东", "浩然", "子轩", "宇航",
    "国庆", "建国", "海峰",
];
const GIVEN_FEMALE: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "秀英", "霞", "平", "桂英", "玉兰", "雪梅", "思雨", "欣怡", "梓涵",
    "晓燕", "婷婷", "丹", "慧",
];
const PROVINCES: &[&str] = &["广东", "浙江", "江苏", "上海", "北京", "湖南", "河南", "四川"];

/// A planned disposition case and the stage it should reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CasePlan {
    /// The case.
    pub case_id: String,
    /// The member.
    pub member_id: String,
    /// The member's branch.
    pub branch: UnitPath,
    /// Its type.
    pub disposition: pb::DispositionType,
    /// Where it should stop.
    pub target: Stage,
    /// Sent back once by the approving level before going on.
    pub rejected_once: bool,
}

/// What a branch records first, and its cases.
#[derive(Clone, Debug, Default)]
pub struct BranchPlan {
    /// Registrations and histories, in order.
    pub drafts: Vec<Draft>,
    /// Disposition cases to carry through the procedure.
    pub cases: Vec<CasePlan>,
    /// The sign-offs of the per-member form, each with the level that records it
    /// (本人确认 and 支部初核 at the branch, then 基层党委复核 at the college), in order.
    pub signoffs: Vec<(Level, Draft)>,
}

fn date(year: i32, month: u32, day: u32) -> Option<pb::Date> {
    Some(pb::Date { year, month: month.clamp(1, 12), day: day.clamp(1, 28) })
}

fn draft(branch: &UnitPath, body: Body) -> Draft {
    Draft { unit_path: branch.clone(), kind: body.kind(), body: body.encode(), author: "demo".into() }
}

/// The branch's members and their histories (as of the campaign year `year`).
pub fn branch_plan(branch: &UnitPath, scale: &Scale, year: i32) -> BranchPlan {
    let branch_seed = branch.as_str().bytes().fold(scale.seed ^ 0x5151_7a7a, |h, b| h.rotate_left(5) ^ u64::from(b));
    let mut rng = SampleRng::new(branch_seed);
    // The five checks' roster corrections, flags and conduct notes draw from a stream of
    // their own, so adding them left every other draw of a seed as it was.
    let mut check_rng = SampleRng::new(branch_seed ^ 0x0c4e_c4ed_5eed_0005);
    let mut plan = BranchPlan::default();
    for index in 0..scale.members {
        let member_id = format!("{}-{index:05}", branch.as_str().replace('/', "."));
        let group = match rng.below(100) {
            0..=29 => pb::PersonGroup::Staff,
            30..=49 => pb::PersonGroup::Retired,
            50..=64 => pb::PersonGroup::Graduate,
            65..=94 => pb::PersonGroup::Student,
            _ => pb::PersonGroup::OtherGroup,
        };
        let birth_year = match group {
            pb::PersonGroup::Retired => 1940 + rng.below(25) as i32,
            pb::PersonGroup::Student => year - 19 - rng.below(6) as i32,
            pb::PersonGroup::Graduate => year - 24 - rng.below(15) as i32,
            _ => 1965 + rng.below(35) as i32,
        };
        let birth = pb::Date { year: birth_year, month: 1 + rng.below(12) as u32, day: 1 + rng.below(28) as u32 };
        let male = rng.below(2) == 0;
        let name = format!("{}{}", rng.pick(SURNAMES), rng.pick(if male { GIVEN_MALE } else { GIVEN_FEMALE }));
        let joined_year = (birth_year + 18 + rng.below(12) as i32).min(year - 1);
        // A probationary year: members who joined last year are all still probationary.
        let probationary = joined_year >= year - 1
            || group == pb::PersonGroup::Student && per_mille(&mut rng, SHARES.probationary * 4)
            || per_mille(&mut rng, SHARES.probationary / 4);
        let lost = per_mille(&mut rng, SHARES.lost);
        let flowing = !lost && per_mille(&mut rng, SHARES.flowing);
        let span = if rng.below(4) == 0 { 30 } else { 6 };
        let lost_since_year = year - 1 - rng.below(span) as i32;
        let lost_since = date(lost_since_year.max(joined_year), 1 + rng.below(12) as u32, 1 + rng.below(28) as u32);
        let form = pb::MemberForm {
            name,
            gender: if male { pb::Gender::Male } else { pb::Gender::Female } as i32,
            ethnicity_code: if rng.below(100) < 92 { 1 } else { 2 + rng.below(55) as u32 },
            id_number: id_number(&mut rng, &birth),
            birth_date: Some(birth),
            education_code: *rng.pick(&[11, 12, 21, 21, 21, 22]),
            category: if probationary { pb::MemberCategory::Probationary } else { pb::MemberCategory::Full } as i32,
            branch_unit_path: branch.to_string(),
            joined_date: date(joined_year, 1 + rng.below(12) as u32, 1 + rng.below(28) as u32),
            full_member_date: if probationary {
                None
            } else {
                date((joined_year + 1).min(year - 1), 1 + rng.below(12) as u32, 1)
            },
            job_code: 10 + rng.below(20) as u32,
            phone: format!("1{}{:09}", 3 + rng.below(6), rng.below(1_000_000_000)),
            address: format!(
                "湖北省武汉市{}区{}路{}号",
                rng.pick(&["洪山", "武昌", "江汉", "汉阳"]),
                rng.pick(&["珞喻", "友谊", "中南", "解放"]),
                1 + rng.below(999)
            ),
            membership_status: pb::MembershipStatus::Normal as i32,
            lost: false,
            lost_since: None,
            flowing,
            flowing_destination: flowing
                .then(|| pb::Region { province: rng.pick(PROVINCES).to_string(), ..Default::default() }),
            native_place: "湖北".into(),
            person_group: group as i32,
            lost_situation: 0,
        };
        plan.drafts.push(draft(
            branch,
            Body::MemberRegistered(pb::MemberRegistered { member_id: member_id.clone(), form: Some(form), source: 2 }),
        ));

        // Dues and organisation-life records.
        let recent = date(year, 1 + rng.below(3) as u32, 1 + rng.below(28) as u32);
        let situation = *rng.pick(&[
            pb::LostSituation::MigrantWorkOrBusiness,
            pb::LostSituation::GraduatedWhereaboutsUnknown,
            pb::LostSituation::EmployerChanged,
            pb::LostSituation::Abroad,
            pb::LostSituation::ResidenceChanged,
            pb::LostSituation::LeftJob,
            pb::LostSituation::OtherSituation,
        ]);
        plan.drafts.push(draft(
            branch,
            Body::ContactStatusAssessed(pb::ContactStatusAssessed {
                member_id: member_id.clone(),
                status: if lost {
                    pb::ContactStatus::LostStatus
                } else if flowing {
                    pb::ContactStatus::FlowingStatus
                } else {
                    pb::ContactStatus::InContact
                } as i32,
                last_org_life: if lost { lost_since } else { recent },
                last_dues: if lost { lost_since } else { recent },
                situation: if lost { situation as i32 } else { 0 },
                has_flowing_card: flowing && rng.below(10) < 6,
                ..Default::default()
            }),
        ));
        // Archive review.
        if rng.below(10) < 8 {
            let irregular = per_mille(&mut rng, SHARES.irregular);
            let complete = rng.below(10) < 9;
            let present: Vec<i32> = (1..=5).filter(|m| complete || *m != 1 + rng.below(5) as i32).collect();
            plan.drafts.push(draft(
                branch,
                Body::ArchiveReviewed(pb::ArchiveReviewed {
                    member_id: member_id.clone(),
                    present,
                    irregular_admission: irregular,
                    has_personnel_file: group == pb::PersonGroup::Staff,
                    ..Default::default()
                }),
            ));
            if irregular && !lost {
                plan.cases.push(CasePlan {
                    case_id: format!("{member_id}-nr"),
                    member_id: member_id.clone(),
                    branch: branch.clone(),
                    disposition: pb::DispositionType::NonRecognition,
                    target: stage_target(&mut rng),
                    rejected_once: false,
                });
            }
        }
        // Transfer letters: a pocket member now and then.
        if per_mille(&mut rng, SHARES.pocket) {
            plan.drafts.push(draft(
                branch,
                Body::TransferStubChecked(pb::TransferStubChecked {
                    member_id: member_id.clone(),
                    transferred_out_on: date(year - 1 - rng.below(5) as i32, 3, 1),
                    receiving_unit: format!("{}省某单位党委", rng.pick(PROVINCES)),
                    receipt_received: false,
                    ..Default::default()
                }),
            ));
        }
        if per_mille(&mut rng, SHARES.retained) && !lost {
            plan.drafts.push(draft(
                branch,
                Body::ManagementActionTaken(pb::ManagementActionTaken {
                    member_id: member_id.clone(),
                    action: pb::ManagementAction::RetainAbroad as i32,
                    effective_on: date(year - 1, 9, 1),
                    written_application: true,
                    college_approved_on: date(year - 1, 8, 10),
                    university_registered_on: date(year - 1, 8, 20),
                    ..Default::default()
                }),
            ));
        }
        // The search for the lost: attempts through several channels over months.
        let mut located = false;
        if lost {
            let attempts = 1 + rng.below(4);
            let methods = [
                pb::ContactMethod::Phone,
                pb::ContactMethod::ThroughPeople,
                pb::ContactMethod::ThroughDepartment,
                pb::ContactMethod::SocialNetwork,
                pb::ContactMethod::Hotline12371,
            ];
            for a in 0..attempts {
                let method = methods[(a as usize + rng.below(2) as usize) % methods.len()];
                plan.drafts.push(draft(
                    branch,
                    Body::ContactAttempted(pb::ContactAttempted {
                        member_id: member_id.clone(),
                        method: method as i32,
                        department: if method == pb::ContactMethod::ThroughDepartment {
                            1 + rng.below(8) as i32
                        } else {
                            0
                        },
                        attempted_on: date(year - 1, 1 + 3 * a as u32, 10),
                        outcome: pb::contact_attempted::Outcome::NoResponse as i32,
                        ..Default::default()
                    }),
                ));
            }
            if per_mille(&mut rng, SHARES.located) {
                located = true;
                plan.drafts.push(draft(
                    branch,
                    Body::MemberLocated(pb::MemberLocated {
                        member_id: member_id.clone(),
                        located_on: date(year, 1 + rng.below(3) as u32, 5),
                        cause: situation as i32,
                        attitude_correct: true,
                        ..Default::default()
                    }),
                ));
                let action = *rng.pick(&[
                    pb::ManagementAction::IncludeInManagement,
                    pb::ManagementAction::IncludeInManagement,
                    pb::ManagementAction::FlowingCard,
                    pb::ManagementAction::TransferRelation,
                ]);
                plan.drafts.push(draft(
                    branch,
                    Body::ManagementActionTaken(pb::ManagementActionTaken {
                        member_id: member_id.clone(),
                        action: action as i32,
                        effective_on: date(year, 3, 20),
                        card_number: format!("L{year}{index:05}"),
                        destination_unit: "现居住地党组织".into(),
                        ..Default::default()
                    }),
                ));
            } else if attempts >= 3 {
                let disposition = if probationary {
                    pb::DispositionType::CancelProbationary
                } else {
                    pb::DispositionType::SelfSeparationRemoval
                };
                if rng.below(2) == 0 {
                    plan.cases.push(CasePlan {
                        case_id: format!("{member_id}-k"),
                        member_id: member_id.clone(),
                        branch: branch.clone(),
                        disposition,
                        target: stage_target(&mut rng),
                        rejected_once: rng.below(8) == 0,
                    });
                }
            }
        } else if per_mille(&mut rng, SHARES.correction) && !probationary {
            plan.cases.push(CasePlan {
                case_id: format!("{member_id}-cp"),
                member_id: member_id.clone(),
                branch: branch.clone(),
                disposition: pb::DispositionType::CorrectionPeriod,
                target: stage_target(&mut rng),
                rejected_once: false,
            });
        } else if per_mille(&mut rng, SHARES.withdrawal) {
            plan.cases.push(CasePlan {
                case_id: format!("{member_id}-w"),
                member_id: member_id.clone(),
                branch: branch.clone(),
                disposition: pb::DispositionType::WithdrawalRemoval,
                target: stage_target(&mut rng),
                rejected_once: false,
            });
        }
        five_checks(&mut plan, branch, &member_id, group, (lost, located), &mut check_rng);
        // Sign-off of the form, in the chain's order and at its levels; a lost member
        // cannot confirm, so the chain never starts for them.
        use pb::form_signed_off::Stage as Sign;
        let chain: &[(Sign, Level)] = match rng.below(10) {
            _ if lost => &[],
            0 => &[],
            1 | 2 => &[(Sign::MemberConfirmed, Level::Branch), (Sign::BranchChecked, Level::Branch)],
            _ => &[
                (Sign::MemberConfirmed, Level::Branch),
                (Sign::BranchChecked, Level::Branch),
                (Sign::CommitteeRechecked, Level::College),
            ],
        };
        for (day, (stage, level)) in chain.iter().enumerate() {
            let signed = pb::FormSignedOff {
                member_id: member_id.clone(),
                stage: *stage as i32,
                signed_on: date(year, 3, 20 + day as u32),
            };
            plan.signoffs.push((*level, draft(branch, Body::FormSignedOff(signed))));
        }
    }
    plan
}

/// A draw that comes true `share` times in a thousand.
fn per_mille(rng: &mut SampleRng, share: u64) -> bool {
    rng.below(1000) < share
}

/// The rest of a member's five checks (五核查): a roster item corrected or flagged now
/// and then, and the member's conduct noted — for a member still lost, nobody can say.
fn five_checks(
    plan: &mut BranchPlan,
    branch: &UnitPath,
    member_id: &str,
    group: pb::PersonGroup,
    (lost, located): (bool, bool),
    rng: &mut SampleRng,
) {
    if per_mille(rng, SHARES.corrected) {
        let (field, new_value, reason) = match rng.below(3) {
            0 => (
                pb::MemberField::Phone,
                format!("1{}{:09}", 3 + rng.below(6), rng.below(1_000_000_000)),
                "本人手机号码已更换",
            ),
            1 => (pb::MemberField::Education, "12".to_string(), "已取得硕士研究生学历，登记信息未更新"),
            _ => (
                pb::MemberField::Address,
                format!(
                    "湖北省武汉市{}区{}街{}号",
                    rng.pick(&["洪山", "武昌", "江夏"]),
                    rng.pick(&["光谷", "南湖"]),
                    1 + rng.below(300)
                ),
                "现居住地已变更",
            ),
        };
        plan.drafts.push(draft(
            branch,
            Body::RecordCorrected(pb::RecordCorrected {
                member_id: member_id.to_string(),
                field: field as i32,
                new_value,
                reason: reason.into(),
                ..Default::default()
            }),
        ));
    }
    if per_mille(rng, SHARES.flagged) {
        let (field, note) = if rng.below(2) == 0 {
            (pb::MemberField::JoinedDate, "入党时间与档案记载不一致，待查阅原始档案")
        } else {
            (pb::MemberField::BirthDate, "出生日期与人事档案不一致，待组织人事部门核实")
        };
        plan.drafts.push(draft(
            branch,
            Body::RecordFlagged(pb::RecordFlagged {
                member_id: member_id.to_string(),
                field: field as i32,
                note: note.into(),
            }),
        ));
    }
    if (!lost || located) && per_mille(rng, SHARES.conduct_noted) {
        let summary = match group {
            _ if lost => "失联期间在外务工，经谈话了解未发现违纪违法问题",
            pb::PersonGroup::Staff => "在职在岗，按时参加组织生活、交纳党费，未发现违纪违法问题",
            pb::PersonGroup::Retired => "按时参加组织生活、交纳党费，遵纪守法",
            pb::PersonGroup::Student | pb::PersonGroup::Graduate => {
                "学习生活正常，按时参加组织生活，未发现违纪违法问题"
            }
            _ => "按时参加组织生活，表现正常",
        };
        plan.drafts.push(draft(
            branch,
            Body::ConductNoted(pb::ConductNoted {
                member_id: member_id.to_string(),
                summary: summary.into(),
                violation_reported: false,
            }),
        ));
    }
}

fn stage_target(rng: &mut SampleRng) -> Stage {
    *rng.pick(&[
        Stage::Proposed,
        Stage::Investigated,
        Stage::PreReviewed,
        Stage::Voted,
        Stage::Approved,
        Stage::Filed,
        Stage::Filed,
        Stage::VoteFailed,
    ])
}

/// The rounds of the procedure, in order; each is authored at one level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// Branch: proposal and investigation.
    Propose,
    /// College and university: pre-reviews.
    PreReview,
    /// Branch: the general meeting's vote.
    Vote,
    /// College (province for 不予承认): approval, or a rejection back to proposal.
    Approve,
    /// Branch: after a rejection, the revised proposal, investigation (then rounds repeat).
    Revise,
    /// Branch: filing.
    File,
}

/// The rounds in the order they are run.
pub const ROUNDS: &[Round] = &[
    Round::Propose,
    Round::PreReview,
    Round::Vote,
    Round::Approve,
    Round::Revise,
    Round::PreReview,
    Round::Vote,
    Round::Approve,
    Round::File,
];

/// The drafts of one round: (the level whose node authors it, draft about the branch).
/// `pass` counts how many times the round has run (the second pre-review, vote and
/// approval concern only cases that were rejected once).
pub fn round_drafts(round: Round, pass: usize, cases: &[CasePlan], year: i32) -> Vec<(Level, Draft)> {
    use pb::DispositionType as T;
    let mut out = Vec::new();
    let day = |d| date(year, 4, d);
    for case in cases {
        let reached = |stage: Stage| stage_rank(case.target) >= stage_rank(stage);
        let second = pass > 0;
        if second && !case.rejected_once {
            continue;
        }
        let id = case.case_id.clone();
        let b = &case.branch;
        match round {
            Round::Propose | Round::Revise => {
                if round == Round::Revise && !case.rejected_once {
                    continue;
                }
                if round == Round::Revise && !reached(Stage::Approved) {
                    continue;
                }
                out.push((
                    Level::Branch,
                    draft(
                        b,
                        Body::DispositionProposed(pb::DispositionProposed {
                            case_id: id.clone(),
                            member_id: case.member_id.clone(),
                            disposition: case.disposition as i32,
                            grounds: if matches!(case.disposition, T::CorrectionPeriod | T::PersuadeToWithdraw) {
                                vec![pb::UnqualifiedGround::WorkSlack as i32]
                            } else {
                                vec![]
                            },
                            trigger: match case.disposition {
                                T::WithdrawalRemoval => pb::DispositionTrigger::RequestToLeave,
                                T::SelfSeparationRemoval | T::CancelProbationary => pb::DispositionTrigger::LostCase,
                                _ => pb::DispositionTrigger::AuditFinding,
                            } as i32,
                            facts: "经排查核实".into(),
                            proposed_on: day(1),
                        }),
                    ),
                ));
                if reached(Stage::Investigated) {
                    out.push((
                        Level::Branch,
                        draft(
                            b,
                            Body::DispositionInvestigated(pb::DispositionInvestigated {
                                case_id: id,
                                report: "调查核实报告".into(),
                                talked_by: if case.disposition == T::SelfSeparationRemoval
                                    || case.disposition == T::CancelProbationary
                                {
                                    vec![]
                                } else {
                                    vec!["支部书记".into(), "组织委员".into()]
                                },
                                member_unreachable: matches!(
                                    case.disposition,
                                    T::SelfSeparationRemoval | T::CancelProbationary
                                ),
                                investigated_on: day(3),
                            }),
                        ),
                    ));
                }
            }
            Round::PreReview => {
                if !reached(Stage::PreReviewed) {
                    continue;
                }
                for level in rollcall_core::audit::case::required_pre_reviews(case.disposition) {
                    out.push((
                        *level,
                        draft(
                            b,
                            Body::DispositionPreReviewed(pb::DispositionPreReviewed {
                                case_id: id.clone(),
                                reviewer_level: level.to_proto() as i32,
                                written: true,
                                agreed: true,
                                opinion: "同意".into(),
                                reviewed_on: day(6),
                                disposition: case.disposition as i32,
                            }),
                        ),
                    ));
                }
            }
            Round::Vote => {
                if !reached(Stage::Voted) && case.target != Stage::VoteFailed {
                    continue;
                }
                let passes = case.target != Stage::VoteFailed;
                out.push((
                    Level::Branch,
                    draft(
                        b,
                        Body::DispositionVoted(pb::DispositionVoted {
                            case_id: id,
                            meeting_on: day(10),
                            full_members_total: 24,
                            excluded: 2,
                            present: 19,
                            votes_for: if passes { 17 } else { 9 },
                            votes_against: if passes { 2 } else { 10 },
                            abstentions: 0,
                            member_defended: false,
                            secret_ballot: true,
                        }),
                    ),
                ));
            }
            Round::Approve => {
                if !reached(Stage::Approved) || case.target == Stage::VoteFailed {
                    continue;
                }
                let level = rollcall_core::audit::case::approving_level(case.disposition);
                if case.rejected_once && !second {
                    out.push((
                        level,
                        draft(
                            b,
                            Body::DispositionRejected(pb::DispositionRejected {
                                case_id: id,
                                reason: "材料不完整，退回补充".into(),
                                rejected_on: day(12),
                            }),
                        ),
                    ));
                } else {
                    out.push((
                        level,
                        draft(
                            b,
                            Body::DispositionApproved(pb::DispositionApproved {
                                case_id: id,
                                approved_on: day(14),
                                collective: true,
                                approving_body: "党委会".into(),
                                disposition: case.disposition as i32,
                            }),
                        ),
                    ));
                }
            }
            Round::File => {
                if case.target != Stage::Filed || case.disposition == T::CorrectionPeriod {
                    continue;
                }
                out.push((
                    Level::Branch,
                    draft(
                        b,
                        Body::DispositionFiled(pb::DispositionFiled {
                            case_id: id,
                            filed_with: "上级党组织".into(),
                            filed_on: day(20),
                            member_notified_on: day(18),
                        }),
                    ),
                ));
            }
        }
    }
    out
}

fn stage_rank(stage: Stage) -> u8 {
    match stage {
        Stage::Proposed => 1,
        Stage::Investigated => 2,
        Stage::PreReviewed => 3,
        Stage::Voted | Stage::VoteFailed => 4,
        Stage::Approved => 5,
        Stage::Filed => 6,
        _ => 0,
    }
}

/// Kinds a generated branch history contains (for tests).
pub fn history_kinds(plan: &BranchPlan) -> std::collections::BTreeSet<EventKind> {
    plan.drafts.iter().map(|d| d.kind).collect()
}
