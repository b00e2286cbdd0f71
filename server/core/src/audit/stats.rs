//! The countable facts about members ([`Metric`]), what one member contributes
//! ([`Contribution`]), and the per-unit, per-person-group counters ([`Counters`]) that
//! rollups and tables 1-3 are sums of.
//!
//! Invariant: a member contributes 0 or 1 to each metric, in exactly one person group,
//! at exactly one unit (the branch holding the relation). So any rollup is a plain sum,
//! and the rollup of a unit is the same wherever it is computed from the same events
//! (the rollup invariant of DESIGN.md section 4).

use chrono::{Datelike, NaiveDate};

use crate::audit::case::{CaseView, Stage};
use crate::audit::dates;
use crate::audit::member::MemberView;
use crate::proto;
use crate::proto::DispositionType as T;

macro_rules! metrics {
    ($($variant:ident => $key:literal, $zh:literal, $en:literal;)*) => {
        /// A countable fact about a member.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum Metric {
            $(
                #[doc = $en]
                $variant,
            )*
        }

        impl Metric {
            /// Every metric, in order.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant,)*];

            /// Stable key (JSON, templates, the dashboard).
            pub fn key(self) -> &'static str {
                match self { $(Metric::$variant => $key,)* }
            }

            /// Chinese label.
            pub fn name_zh(self) -> &'static str {
                match self { $(Metric::$variant => $zh,)* }
            }

            /// English label.
            pub fn name_en(self) -> &'static str {
                match self { $(Metric::$variant => $en,)* }
            }

            /// The metric with this key.
            pub fn from_key(key: &str) -> Option<Metric> {
                match key { $($key => Some(Metric::$variant),)* _ => None }
            }
        }
    };
}

metrics! {
    Members => "members", "党员总数", "members";
    Full => "full", "正式党员", "full members";
    Probationary => "probationary", "预备党员", "probationary members";
    Checked => "checked", "已核查", "checked";
    Corrected => "corrected", "信息已更正", "roster corrected";
    Flagged => "flagged", "有待查明项", "fields flagged";
    ArchiveComplete => "archive_complete", "档案齐全", "archive complete";
    ArchiveIncomplete => "archive_incomplete", "档案材料不全", "archive incomplete";
    SuspectedIrregular => "suspected_irregular", "疑似身份存疑或违规入党", "suspected irregular";
    Flowing => "flowing", "流动党员", "flowing";
    FlowingWithCard => "flowing_card", "持流动党员活动证", "flowing with card";
    Pocket => "pocket", "口袋党员", "pocket";
    PocketResolved => "pocket_resolved", "口袋党员已解决", "pocket resolved";
    Retained => "retained", "保留组织关系", "relation retained";
    Stopped => "stopped", "停止党籍", "membership stopped";
    Lost => "lost", "排查出的失联党员", "lost (found in the audit)";
    Found => "found", "经查找取得联系", "found";
    StillLost => "still_lost", "仍然无法取得联系", "still unreachable";
    FoundThisYear => "found_this_year", "本年度取得联系", "found this year";
    Lost6mTo1y => "lost_6m_1y", "失联6个月至1年", "lost 6 months-1 year";
    Lost1To5y => "lost_1_5y", "失联1至5年", "lost 1-5 years";
    Lost6To10y => "lost_6_10y", "失联6至10年", "lost 6-10 years";
    Lost11yPlus => "lost_11y_plus", "失联11年以上", "lost 11+ years";
    LostDurationUnknown => "lost_duration_unknown", "失联时间不详", "lost since unknown";
    SituationLeftJob => "situation_left_job", "离职", "left job";
    SituationGraduated => "situation_graduated", "毕业后去向不明", "graduated, whereabouts unknown";
    SituationEmployerChanged => "situation_employer_changed", "工作单位改变", "employer changed";
    SituationAbroad => "situation_abroad", "出国（境）", "abroad";
    SituationResidence => "situation_residence", "居住地改变", "residence changed";
    SituationOther => "situation_other", "其他情形", "other situation";
    FormsConfirmed => "forms_confirmed", "登记表已签字确认", "forms confirmed and checked";
    FormsSigned => "forms_signed", "登记表已复核", "forms re-checked";
    OpenDiscrepancies => "open_discrepancies", "统计库差异未核实", "statistics discrepancies open";
    SelfSeparationCandidate => "self_separation_candidate", "连续6个月未过组织生活等", "six-month gap (to judge)";
    UnreferredViolation => "unreferred_violation", "违纪违法未移交", "violation not referred";
    TransferredOut => "transferred_out", "已转出组织关系", "relation transferred out";
    ReissuedTransfer => "reissued_transfer", "补转组织关系", "transfer re-issued";
    Included => "included", "纳入组织管理", "included in management";
    CancelProbationary => "cancel_probationary", "取消预备党员资格", "probationary status cancelled";
    CorrectionPeriod => "correction_period", "限期改正", "correction period";
    WithdrawalRemoval => "withdrawal_removal", "退党除名", "removed at own request";
    SelfSeparationRemoval => "self_separation_removal", "自行脱党除名", "removed for self-separation";
    PersuadeToWithdraw => "persuade_to_withdraw", "劝退", "persuaded to withdraw";
    RemovalAfterPersuasion => "removal_after_persuasion", "劝而不退除名", "removed after persuasion";
    NonRecognition => "non_recognition", "不予承认", "not recognised";
    OpenCase => "open_case", "处置进行中", "disposition in progress";
}

/// Number of metrics.
pub const METRIC_COUNT: usize = Metric::ALL.len();

/// Person groups (rows of tables 2 and 3), in table order.
pub const GROUPS: [proto::PersonGroup; 5] = [
    proto::PersonGroup::Staff,
    proto::PersonGroup::Retired,
    proto::PersonGroup::Graduate,
    proto::PersonGroup::Student,
    proto::PersonGroup::OtherGroup,
];

fn group_index(group: i32) -> usize {
    GROUPS.iter().position(|g| *g as i32 == group).unwrap_or(GROUPS.len() - 1)
}

/// What one member adds to the counters of one unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Contribution {
    /// Index into [`GROUPS`].
    pub group: u8,
    /// Bit `m` set: metric `m` counts this member.
    pub metrics: u64,
}

impl Contribution {
    /// Whether `metric` counts this member.
    pub fn has(&self, metric: Metric) -> bool {
        self.metrics & (1 << metric as u8) != 0
    }
}

/// Counters of one unit (or a sum of units): metric × person group. Stored in a
/// projection snapshot as the flat list of cells, row by row (serde's arrays stop at 32).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "Vec<u32>", try_from = "Vec<u32>")]
pub struct Counters {
    cells: [[u32; METRIC_COUNT]; GROUPS.len()],
}

impl Default for Counters {
    fn default() -> Counters {
        Counters { cells: [[0; METRIC_COUNT]; GROUPS.len()] }
    }
}

impl From<Counters> for Vec<u32> {
    fn from(counters: Counters) -> Vec<u32> {
        counters.cells.iter().flatten().copied().collect()
    }
}

impl TryFrom<Vec<u32>> for Counters {
    type Error = String;
    fn try_from(flat: Vec<u32>) -> Result<Counters, String> {
        if flat.len() != METRIC_COUNT * GROUPS.len() {
            return Err(format!("{} counter cells, expected {}", flat.len(), METRIC_COUNT * GROUPS.len()));
        }
        let mut counters = Counters::default();
        for (row, cells) in counters.cells.iter_mut().zip(flat.chunks_exact(METRIC_COUNT)) {
            row.copy_from_slice(cells);
        }
        Ok(counters)
    }
}

impl Counters {
    /// The counters of one contribution added (`sign` = 1) or removed (`sign` = -1).
    pub fn of(contribution: Contribution, sign: i32) -> Counters {
        let mut counters = Counters::default();
        counters.add(contribution, sign);
        counters
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) a member's contribution.
    pub fn add(&mut self, contribution: Contribution, sign: i32) {
        let row = &mut self.cells[usize::from(contribution.group)];
        let mut bits = contribution.metrics;
        while bits != 0 {
            let metric = bits.trailing_zeros() as usize;
            row[metric] = row[metric].wrapping_add_signed(sign);
            bits &= bits - 1;
        }
    }

    /// Adds another unit's counters.
    pub fn merge(&mut self, other: &Counters) {
        for (row, other_row) in self.cells.iter_mut().zip(&other.cells) {
            for (cell, other_cell) in row.iter_mut().zip(other_row) {
                *cell += other_cell;
            }
        }
    }

    /// The count of `metric` in one person group.
    pub fn get(&self, metric: Metric, group: proto::PersonGroup) -> u32 {
        self.cells[group_index(group as i32)][metric as usize]
    }

    /// The count of `metric` over all groups.
    pub fn total(&self, metric: Metric) -> u32 {
        self.cells.iter().map(|row| row[metric as usize]).sum()
    }

    /// True when no member is counted.
    pub fn is_empty(&self) -> bool {
        self.cells.iter().all(|row| row.iter().all(|cell| *cell == 0))
    }
}

/// What a member contributes as of the campaign's as-of date, given the views of the
/// cases about them. A member who is not registered, or whose relation left the
/// organisation, contributes only `TransferredOut` (or nothing).
pub fn contribution(view: &MemberView, cases: &[&CaseView], as_of: Option<NaiveDate>) -> Contribution {
    let mut metrics = 0u64;
    let mut set = |metric: Metric, on: bool| {
        if on {
            metrics |= 1 << metric as u8;
        }
    };
    if !view.registered {
        return Contribution::default();
    }
    if !view.on_roll {
        set(Metric::TransferredOut, true);
        return Contribution { group: group_index(view.group) as u8, metrics };
    }
    set(Metric::Members, true);
    set(Metric::Full, !view.probationary);
    set(Metric::Probationary, view.probationary);
    set(Metric::Checked, view.checked);
    set(Metric::Corrected, view.corrected);
    set(Metric::Flagged, view.open_flags > 0);
    set(Metric::ArchiveComplete, view.archive_complete);
    set(Metric::ArchiveIncomplete, view.archive_incomplete);
    set(Metric::SuspectedIrregular, view.suspected_irregular);
    set(Metric::Flowing, view.flowing);
    set(Metric::FlowingWithCard, view.flowing && view.flowing_card);
    set(Metric::Pocket, view.pocket);
    set(Metric::PocketResolved, view.pocket_resolved);
    set(Metric::Retained, view.retained);
    set(Metric::Stopped, view.stopped);
    set(Metric::Lost, view.lost || view.found);
    set(Metric::Found, view.found);
    set(Metric::FormsConfirmed, view.form_confirmed);
    set(Metric::FormsSigned, view.committee_checked);
    set(Metric::OpenDiscrepancies, view.open_discrepancies > 0);
    set(Metric::SelfSeparationCandidate, view.self_separation_candidate);
    set(Metric::UnreferredViolation, view.unreferred_violation);
    set(Metric::Included, view.included);
    set(Metric::FoundThisYear, matches!((view.found_on, as_of), (Some(on), Some(as_of)) if on.year() == as_of.year()));

    let still_lost = view.lost && !view.found;
    set(Metric::StillLost, still_lost);
    if still_lost {
        let months = match (view.lost_since, as_of) {
            (Some(since), Some(as_of)) => Some(dates::whole_months(since, as_of)),
            _ => None,
        };
        match months {
            Some(m) if m < 12 => set(Metric::Lost6mTo1y, true),
            Some(m) if m < 72 => set(Metric::Lost1To5y, true),
            Some(m) if m < 132 => set(Metric::Lost6To10y, true),
            Some(_) => set(Metric::Lost11yPlus, true),
            None => set(Metric::LostDurationUnknown, true),
        }
        use proto::LostSituation as S;
        let situation = match S::try_from(view.situation).unwrap_or(S::Unspecified) {
            S::LeftJob => Metric::SituationLeftJob,
            S::GraduatedWhereaboutsUnknown => Metric::SituationGraduated,
            S::EmployerChanged | S::EmployerRestructured => Metric::SituationEmployerChanged,
            S::Abroad => Metric::SituationAbroad,
            S::ResidenceChanged => Metric::SituationResidence,
            S::MigrantWorkOrBusiness | S::OtherSituation | S::Unspecified => Metric::SituationOther,
        };
        set(situation, true);
    }

    for case in cases {
        if !case.stage.is_closed() && case.stage != Stage::Unproposed {
            set(Metric::OpenCase, true);
        }
        if !case.stage.is_effective() {
            continue;
        }
        let metric = match case.disposition() {
            T::WithdrawalRemoval => Metric::WithdrawalRemoval,
            T::CorrectionPeriod => Metric::CorrectionPeriod,
            T::PersuadeToWithdraw => Metric::PersuadeToWithdraw,
            T::RemovalAfterPersuasion => Metric::RemovalAfterPersuasion,
            T::SelfSeparationRemoval => Metric::SelfSeparationRemoval,
            T::CancelProbationary => Metric::CancelProbationary,
            T::NonRecognition => Metric::NonRecognition,
            T::Unspecified => continue,
        };
        set(metric, true);
    }
    Contribution { group: group_index(view.group) as u8, metrics }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_keys_are_unique_and_round_trip() {
        const { assert!(METRIC_COUNT <= 64, "a contribution is a u64 bit set") };
        for metric in Metric::ALL {
            assert_eq!(Metric::from_key(metric.key()), Some(*metric));
        }
    }

    #[test]
    fn counters_add_and_remove_contributions() {
        let mut counters = Counters::default();
        let member = Contribution { group: 1, metrics: 1 << Metric::Members as u8 | 1 << Metric::Lost as u8 };
        counters.add(member, 1);
        counters.add(member, 1);
        assert_eq!(counters.get(Metric::Members, proto::PersonGroup::Retired), 2);
        assert_eq!(counters.total(Metric::Lost), 2);
        counters.add(member, -1);
        counters.add(member, -1);
        assert!(counters.is_empty());
    }
}
