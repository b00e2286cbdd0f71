//! Deadline status per unit (DOMAIN.md section 4): for each deadline of the campaign,
//! done / on track / at risk / overdue, with what blocks it.
//!
//! Tables deadlines are judged on receipts: a university's tables count as submitted
//! when the province's receipt covers the report event, at the receipt's time, not the
//! university's own clock (DESIGN.md section 5). The province's own tables are judged
//! on its own events (it reports outside rollcall). The member database and the
//! dispositions are judged on the state of the subtree now.
//!
//! Invariant: pure; `now_ms` is passed in by the shell.

use chrono::NaiveDate;

use crate::audit::dates;
use crate::audit::projection::{Projection, ReportState};
use crate::audit::stats::Metric;
use crate::proto::DeadlineKind;
use crate::unit::{Level, UnitPath};

/// A deadline this close (days) and not done is at risk.
pub const AT_RISK_DAYS: i64 = 7;
/// Progress this far (fraction) behind the time elapsed since the campaign opened is at risk.
pub const AT_RISK_LAG: f64 = 0.2;

/// Where a unit stands against a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Done.
    Done,
    /// Not done, progressing in time.
    OnTrack,
    /// Not done, close to the date or behind.
    AtRisk,
    /// Not done and the date has passed.
    Overdue,
    /// The deadline does not concern this unit.
    NotApplicable,
}

impl State {
    /// Stable key.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Done => "done",
            State::OnTrack => "on_track",
            State::AtRisk => "at_risk",
            State::Overdue => "overdue",
            State::NotApplicable => "not_applicable",
        }
    }
    /// Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            State::Done => "已完成",
            State::OnTrack => "按计划",
            State::AtRisk => "有风险",
            State::Overdue => "已逾期",
            State::NotApplicable => "不适用",
        }
    }
}

/// Something that keeps a deadline from being done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    /// The unit at fault (a child of the unit asked about, or itself).
    pub unit: UnitPath,
    /// How many items.
    pub count: u32,
    /// Stable key of the reason.
    pub reason: &'static str,
    /// The reason, in Chinese.
    pub reason_zh: &'static str,
    /// The reason, in English.
    pub reason_en: &'static str,
}

/// One deadline's status for one unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlineStatus {
    /// Which deadline.
    pub kind: DeadlineKind,
    /// Due (end of day, China Standard Time).
    pub due: NaiveDate,
    /// The state.
    pub state: State,
    /// Items done.
    pub done: u32,
    /// Items in all.
    pub total: u32,
    /// Whole days left (negative when overdue).
    pub days_left: i64,
    /// What blocks it.
    pub blockers: Vec<Blocker>,
}

/// Chinese name of a deadline.
pub fn deadline_name_zh(kind: DeadlineKind) -> &'static str {
    match kind {
        DeadlineKind::UniversityTables => "高校报送表1-3",
        DeadlineKind::ProvinceTables => "省级报送表1-3",
        DeadlineKind::MemberDatabase => "党员信息库完善",
        DeadlineKind::Dispositions => "组织处置完成",
        DeadlineKind::Unspecified => "",
    }
}

/// English name of a deadline.
pub fn deadline_name_en(kind: DeadlineKind) -> &'static str {
    match kind {
        DeadlineKind::UniversityTables => "universities submit tables 1-3",
        DeadlineKind::ProvinceTables => "province submits tables 1-3",
        DeadlineKind::MemberDatabase => "member database complete",
        DeadlineKind::Dispositions => "dispositions finished",
        DeadlineKind::Unspecified => "",
    }
}

/// Every deadline of the campaign, judged for `unit` at `now_ms`. Empty before a
/// campaign is opened.
pub fn status(projection: &Projection, unit: &UnitPath, now_ms: u64) -> Vec<DeadlineStatus> {
    let Some(campaign) = projection.campaign() else { return Vec::new() };
    let today = dates::cst_day(now_ms);
    let mut statuses = Vec::new();
    for kind in [
        DeadlineKind::UniversityTables,
        DeadlineKind::ProvinceTables,
        DeadlineKind::MemberDatabase,
        DeadlineKind::Dispositions,
    ] {
        let Some(due) = campaign.due(kind) else { continue };
        let due_ms = dates::end_of_day_cst_ms(due);
        let (done, total, blockers, applicable) = match kind {
            DeadlineKind::UniversityTables => tables_progress(projection, unit, due_ms, Level::University),
            DeadlineKind::ProvinceTables => tables_progress(projection, unit, due_ms, Level::Province),
            DeadlineKind::MemberDatabase => database_progress(projection, unit),
            DeadlineKind::Dispositions => dispositions_progress(projection, unit),
            DeadlineKind::Unspecified => continue,
        };
        let days_left = (due - today).num_days();
        let finished = blockers.is_empty() && done == total;
        let state = if !applicable {
            State::NotApplicable
        } else if finished {
            State::Done
        } else if now_ms > due_ms {
            State::Overdue
        } else {
            let span = (due - campaign.opened_on).num_days().max(1) as f64;
            let elapsed = ((today - campaign.opened_on).num_days().max(0) as f64 / span).min(1.0);
            let progress = if total == 0 { 1.0 } else { f64::from(done) / f64::from(total) };
            if days_left <= AT_RISK_DAYS || progress + AT_RISK_LAG < elapsed { State::AtRisk } else { State::OnTrack }
        };
        statuses.push(DeadlineStatus { kind, due, state, done, total, days_left, blockers });
    }
    statuses
}

type Progress = (u32, u32, Vec<Blocker>, bool);

/// Tables deadlines: the units at `level` within (or equal to) `unit` must have
/// submitted tables 1-3, received above in time.
fn tables_progress(projection: &Projection, unit: &UnitPath, due_ms: u64, level: Level) -> Progress {
    let Some(unit_level) = unit.level() else { return (0, 0, Vec::new(), false) };
    if unit_level > level {
        return (0, 0, Vec::new(), false);
    }
    let reporters: Vec<UnitPath> = if unit_level == level {
        vec![unit.clone()]
    } else {
        projection
            .child_rollups(unit)
            .into_iter()
            .map(|(child, _)| child)
            .filter(|c| c.level() == Some(level))
            .collect()
    };
    let mut done = 0;
    let mut blockers = Vec::new();
    for reporter in &reporters {
        let mut missing = 0;
        let mut late = 0;
        let (mut returned, mut differing, mut unverified) = (0, 0, 0);
        for table in 1..=3 {
            let status = projection.report_status(reporter, table);
            match status.state {
                ReportState::Returned => returned += 1,
                ReportState::Differs => differing += 1,
                // The province's own tables have nobody above to verify them.
                ReportState::Submitted if reporter.parent().is_some() => unverified += 1,
                _ => {}
            }
            match status.report {
                None => missing += 1,
                Some(report) => {
                    // Receipts are about the child they acknowledge (their unit is the
                    // child's), and signed by its parent.
                    let received = match reporter.parent() {
                        Some(_) => projection.received_at(reporter, report.replica, report.seq),
                        None => Some(report.wall_ms),
                    };
                    if received.is_none_or(|at| at > due_ms) {
                        late += 1;
                    }
                }
            }
        }
        if missing == 0 && late == 0 && returned == 0 && differing == 0 && unverified == 0 {
            done += 1;
        }
        for (count, reason, reason_zh, reason_en) in [
            (returned, "tables_returned", "报表被退回，待重新报送", "tables returned, to resubmit"),
            (differing, "tables_differ", "报表与上级核算不一致", "tables differ from the recomputation above"),
            (unverified, "tables_unverified", "报表待上级核验", "tables awaiting verification above"),
        ] {
            if count > 0 {
                blockers.push(Blocker { unit: reporter.clone(), count, reason, reason_zh, reason_en });
            }
        }
        if missing > 0 {
            blockers.push(Blocker {
                unit: reporter.clone(),
                count: missing,
                reason: "tables_missing",
                reason_zh: "报表未报送",
                reason_en: "tables not submitted",
            });
        }
        if late > 0 {
            blockers.push(Blocker {
                unit: reporter.clone(),
                count: late,
                reason: "tables_not_received",
                reason_zh: "报表未按时送达上级",
                reason_en: "tables not received above in time",
            });
        }
    }
    let total = reporters.len() as u32;
    (done, total, blockers, true)
}

fn database_progress(projection: &Projection, unit: &UnitPath) -> Progress {
    let total_counters = projection.rollup(unit);
    let mut blockers = Vec::new();
    for (child, counters) in projection.child_rollups(unit) {
        let unsigned = counters.total(Metric::Members).saturating_sub(counters.total(Metric::FormsSigned));
        for (count, reason, reason_zh, reason_en) in [
            (unsigned, "forms_not_rechecked", "登记表未复核", "forms not re-checked"),
            (counters.total(Metric::Flagged), "fields_flagged", "有待查明信息项", "fields flagged unknown"),
            (
                counters.total(Metric::OpenDiscrepancies),
                "discrepancies_open",
                "与统计库差异未核实",
                "statistics discrepancies open",
            ),
        ] {
            if count > 0 {
                blockers.push(Blocker { unit: child.clone(), count, reason, reason_zh, reason_en });
            }
        }
    }
    (total_counters.total(Metric::FormsSigned), total_counters.total(Metric::Members), blockers, true)
}

fn dispositions_progress(projection: &Projection, unit: &UnitPath) -> Progress {
    use crate::audit::case::Stage;
    let mut open_by_child: std::collections::BTreeMap<UnitPath, u32> = std::collections::BTreeMap::new();
    let (mut done, mut total) = (0, 0);
    for case in projection.cases() {
        let Some(case_unit) = case.view.unit.as_ref().filter(|u| u.is_within(unit)) else { continue };
        if case.view.stage == Stage::Unproposed {
            continue;
        }
        total += 1;
        if case.view.stage.is_closed() || case.view.stage == Stage::CorrectionPeriod {
            done += 1;
        } else {
            let child = if case_unit == unit {
                unit.clone()
            } else {
                let segment = case_unit.as_str()[unit.as_str().len() + 1..].split('/').next().unwrap_or_default();
                unit.child(segment).unwrap_or_else(|_| case_unit.clone())
            };
            *open_by_child.entry(child).or_default() += 1;
        }
    }
    let blockers = open_by_child
        .into_iter()
        .map(|(unit, count)| Blocker {
            unit,
            count,
            reason: "cases_open",
            reason_zh: "处置案件未办结",
            reason_en: "disposition cases open",
        })
        .collect();
    (done, total, blockers, true)
}
