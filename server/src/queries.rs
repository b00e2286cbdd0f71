//! Answers about the audit, computed from a projection: one member, lists of members,
//! rollups, tables 1-3, the registers and deadline status, as protobuf responses.
//! Used by the gRPC service and by the CLI on an embedded (laptop) node alike.
//!
//! Invariant: every answer is confined to `scope` (the serving node's unit): a unit
//! outside it is refused with [`QueryError::OutsideScope`], and a member held outside it
//! is not found — each unit sees only its own subtree.

use rollcall_core::audit::Projection;
use rollcall_core::audit::case::{CaseView, Stage};
use rollcall_core::audit::dates;
use rollcall_core::audit::deadlines;
use rollcall_core::audit::member::MemberView;
use rollcall_core::audit::stats::{Counters, GROUPS, Metric};
use rollcall_core::audit::tables::{self, Register};
use std::collections::BTreeSet;

use rollcall_core::{Level, UnitPath, proto as pb};

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The unit path does not parse.
    #[error("invalid unit path {0:?}")]
    BadUnit(String),
    /// The unit is outside the node's subtree.
    #[error("unit {unit} is outside this node's subtree {scope}")]
    OutsideScope {
        /// Asked for.
        unit: String,
        /// The node's unit.
        scope: String,
    },
    /// No such member in this subtree.
    #[error("member {0} is not registered in this subtree")]
    NoMember(String),
    /// Tables are 1-3.
    #[error("table {0} does not exist: tables are 1, 2 and 3")]
    NoTable(u32),
}

/// Resolves a requested unit (empty: `scope`) within `scope`.
///
/// # Errors
///
/// [`QueryError::BadUnit`] or [`QueryError::OutsideScope`].
pub fn unit_in_scope(requested: &str, scope: &UnitPath) -> Result<UnitPath, QueryError> {
    if requested.trim().is_empty() {
        return Ok(scope.clone());
    }
    let unit = UnitPath::parse(requested.trim()).map_err(|_| QueryError::BadUnit(requested.to_string()))?;
    if !unit.is_within(scope) {
        return Err(QueryError::OutsideScope { unit: unit.to_string(), scope: scope.to_string() });
    }
    Ok(unit)
}

fn case_summary(case_id: &str, view: &CaseView) -> pb::CaseSummary {
    pb::CaseSummary {
        case_id: case_id.to_string(),
        disposition: view.disposition,
        stage: view.stage.as_str().to_string(),
        stage_zh: view.stage.name_zh().to_string(),
        returned: view.returned,
    }
}

fn derived(view: &MemberView, attempts: &rollcall_core::audit::member::Attempts) -> pb::MemberDerived {
    pb::MemberDerived {
        on_roll: view.on_roll,
        lost: view.lost,
        lost_since: view.lost_since.map(dates::from_naive),
        situation: view.situation,
        found: view.found,
        flowing: view.flowing,
        flowing_card: view.flowing_card,
        pocket: view.pocket,
        pocket_resolved: view.pocket_resolved,
        retained: view.retained,
        stopped: view.stopped,
        checked: view.checked,
        committee_checked: view.committee_checked,
        open_flags: view.open_flags,
        open_discrepancies: view.open_discrepancies,
        archive_complete: view.archive_complete,
        suspected_irregular: view.suspected_irregular,
        self_separation_candidate: view.self_separation_candidate,
        contact_attempts: attempts.count,
        search_channels: attempts.channels(),
        unreferred_violation: view.unreferred_violation,
    }
}

fn cases_of(projection: &Projection, member_id: &str) -> Vec<pb::CaseSummary> {
    let Some(entry) = projection.member(member_id) else { return Vec::new() };
    entry.cases().iter().filter_map(|id| projection.case(id).map(|case| case_summary(id, &case.view))).collect()
}

fn discrepancies_of(state: &rollcall_core::audit::member::MemberState) -> Vec<pb::Discrepancy> {
    state
        .extra()
        .discrepancies
        .iter()
        .filter_map(|(field, d)| {
            d.found.get().map(|(form_value, db_value)| pb::Discrepancy {
                field: *field,
                form_value: form_value.clone(),
                stats_db_value: db_value.clone(),
                open: d.is_open(),
            })
        })
        .collect()
}

/// Hides the personal data of a form for a reader who is not an operator of the node
/// (an enrolled viewer): the ID number keeps its region and last four characters, the
/// phone its first three and last four, the address its first six characters.
pub fn mask_personal(form: &mut pb::MemberForm) {
    form.id_number = mask_field_value(pb::MemberField::IdNumber as i32, &form.id_number);
    form.phone = mask_field_value(pb::MemberField::Phone as i32, &form.phone);
    form.address = mask_field_value(pb::MemberField::Address as i32, &form.address);
}

/// True when `field` (a `MemberField`) is personal data: the ID number, the phone, the address.
pub fn is_personal_field(field: i32) -> bool {
    matches!(
        pb::MemberField::try_from(field),
        Ok(pb::MemberField::IdNumber | pb::MemberField::Phone | pb::MemberField::Address)
    )
}

/// A value of `field` as a viewer sees it: personal data masked by the one rule
/// ([`mask_personal`]), anything else as it is.
pub fn mask_field_value(field: i32, value: &str) -> String {
    use rollcall_core::audit::tables::mask;
    match pb::MemberField::try_from(field) {
        Ok(pb::MemberField::IdNumber) => mask(value, 6, 4),
        Ok(pb::MemberField::Phone) => mask(value, 3, 4),
        Ok(pb::MemberField::Address) if value.chars().count() > 6 => {
            format!("{}……", value.chars().take(6).collect::<String>())
        }
        _ => value.to_string(),
    }
}

/// Masks the personal values of a member's statistics-database discrepancies (a viewer).
pub fn mask_discrepancies(discrepancies: &mut [pb::Discrepancy]) {
    for discrepancy in discrepancies {
        discrepancy.form_value = mask_field_value(discrepancy.field, &discrepancy.form_value);
        discrepancy.stats_db_value = mask_field_value(discrepancy.field, &discrepancy.stats_db_value);
    }
}

/// Masks the personal values of concurrent edits (a viewer).
pub fn mask_conflicts(response: &mut pb::ConflictsResponse) {
    for conflict in &mut response.conflicts {
        for candidate in &mut conflict.candidates {
            candidate.value = mask_field_value(conflict.field, &candidate.value);
        }
    }
}

/// True when the body of an event of `kind` holds personal data in full: a registration
/// (its form), a correction of a personal field, a discrepancy found on one or resolved
/// (with the value in force). A reader who
/// may not see personal data gets such an event as a stub (header and signature, no
/// body), which still verifies: the signed header names the body's hash.
pub fn carries_personal_data(kind: rollcall_core::EventKind, body: &[u8]) -> bool {
    use prost::Message;
    use rollcall_core::EventKind;
    match kind {
        EventKind::MemberRegistered => true,
        EventKind::RecordCorrected => pb::RecordCorrected::decode(body).map_or(true, |b| is_personal_field(b.field)),
        EventKind::StatsDiscrepancyFound => {
            pb::StatsDiscrepancyFound::decode(body).map_or(true, |b| is_personal_field(b.field))
        }
        EventKind::StatsDiscrepancyResolved => {
            pb::StatsDiscrepancyResolved::decode(body).map_or(true, |b| is_personal_field(b.field))
        }
        _ => false,
    }
}

/// One member.
///
/// # Errors
///
/// [`QueryError::NoMember`] when the member is not registered within `scope`.
pub fn member(projection: &Projection, scope: &UnitPath, member_id: &str) -> Result<pb::MemberResponse, QueryError> {
    let no_member = || QueryError::NoMember(member_id.to_string());
    let entry = projection.member(member_id).ok_or_else(no_member)?;
    let view = entry.view(projection.as_of(), &projection.policy());
    let unit = view.unit.clone().filter(|unit| unit.is_within(scope)).ok_or_else(no_member)?;
    Ok(pb::MemberResponse {
        member_id: member_id.to_string(),
        unit_path: unit.to_string(),
        form: entry.state.form(),
        derived: Some(derived(&view, &entry.state.extra().attempts)),
        cases: cases_of(projection, member_id),
        conflicts: entry.state.marks().edits.conflicts(member_id, &entry.unit).len() as u32,
        discrepancies: discrepancies_of(&entry.state),
        unit_name: name_of(projection, &unit),
    })
}

/// The short name recorded for `unit` (empty when it was never named).
fn name_of(projection: &Projection, unit: &UnitPath) -> String {
    projection.unit_name(unit).map(|_| projection.unit_label(unit)).unwrap_or_default()
}

/// Members of a subtree, filtered, sorted by unit then name.
///
/// # Errors
///
/// [`QueryError`] for a unit outside `scope`.
pub fn members(
    projection: &Projection,
    scope: &UnitPath,
    request: &pb::MembersRequest,
) -> Result<pb::MembersResponse, QueryError> {
    let unit = unit_in_scope(&request.unit_path, scope)?;
    let as_of = projection.as_of();
    let policy = projection.policy();
    let mut items = Vec::new();
    let by_case = (!request.case_id.is_empty())
        .then(|| projection.case(&request.case_id).map(|case| case.view.member_id.clone()).unwrap_or_default());
    let chosen: Box<dyn Iterator<Item = (&str, &rollcall_core::audit::projection::MemberEntry)>> =
        if let Some(member_id) = &by_case {
            Box::new(projection.member(member_id).map(|entry| (member_id.as_str(), entry)).into_iter())
        } else if !request.member_ids.is_empty() {
            Box::new(request.member_ids.iter().filter_map(|id| projection.member(id).map(|entry| (id.as_str(), entry))))
        } else {
            Box::new(projection.members())
        };
    for (member_id, entry) in chosen {
        let view = entry.view(as_of, &policy);
        let Some(member_unit) = view.unit.clone().filter(|u| u.is_within(&unit)) else { continue };
        let Some(form) = entry.state.form() else { continue };
        let cases = cases_of(projection, member_id);
        let stage_matches = match request.stage.as_str() {
            "" => true,
            "open" => {
                projection.cases_of(member_id).iter().any(|c| !c.stage.is_closed() && c.stage != Stage::Unproposed)
            }
            stage => cases.iter().any(|c| c.stage == stage),
        };
        let matches = (!request.lost || (view.lost && !view.found))
            && (!request.pocket || view.pocket)
            && (!request.flowing || view.flowing)
            && (!request.found || view.found)
            && stage_matches
            && (!request.discrepancies || view.open_discrepancies > 0)
            && (request.name_contains.is_empty() || form.name.contains(&request.name_contains));
        if !matches {
            continue;
        }
        items.push(pb::MemberListItem {
            member_id: member_id.to_owned(),
            unit_path: member_unit.to_string(),
            name: form.name.clone(),
            person_group: view.group,
            category: form.category,
            derived: Some(derived(&view, &entry.state.extra().attempts)),
            cases,
            discrepancies: discrepancies_of(&entry.state),
            form: request.include_forms.then(|| form.clone()),
            unit_name: name_of(projection, &member_unit),
        });
    }
    items.sort_by(|a, b| (&a.unit_path, &a.name, &a.member_id).cmp(&(&b.unit_path, &b.name, &b.member_id)));
    let total = items.len() as u32;
    items.truncate(if request.limit == 0 { 1000 } else { request.limit as usize });
    Ok(pb::MembersResponse { members: items, total })
}

fn unit_rollup(projection: &Projection, unit: &UnitPath, counters: &Counters) -> pb::UnitRollup {
    let organisations = projection.organisations_within(unit);
    let metric_value = |metric: Metric, key: String, value: u32| pb::MetricValue {
        key,
        name_zh: metric.name_zh().to_string(),
        name_en: metric.name_en().to_string(),
        value: u64::from(value),
    };
    let mut by_group = Vec::new();
    for metric in Metric::ALL {
        for group in GROUPS {
            let value = counters.get(*metric, group);
            if value > 0 {
                by_group.push(metric_value(*metric, format!("{}/{}", metric.key(), group.as_str_name()), value));
            }
        }
    }
    pb::UnitRollup {
        unit_path: unit.to_string(),
        organisations: organisations as u64,
        metrics: Metric::ALL.iter().map(|m| metric_value(*m, m.key().to_string(), counters.total(*m))).collect(),
        by_group,
        unit_name: name_of(projection, unit),
    }
}

/// The rollup of a unit and of each child.
///
/// # Errors
///
/// [`QueryError`] for a unit outside `scope`.
pub fn rollup(projection: &Projection, scope: &UnitPath, unit_path: &str) -> Result<pb::RollupResponse, QueryError> {
    let unit = unit_in_scope(unit_path, scope)?;
    let total = unit_rollup(projection, &unit, &projection.rollup(&unit));
    let children = projection
        .child_rollups(&unit)
        .into_iter()
        .map(|(child, counters)| unit_rollup(projection, &child, &counters))
        .collect();
    let mut counts: std::collections::BTreeMap<(i32, Stage), u64> = std::collections::BTreeMap::new();
    for case in projection.cases() {
        if case.view.stage != Stage::Unproposed && case.view.unit.as_ref().is_some_and(|u| u.is_within(&unit)) {
            *counts.entry((case.view.disposition, case.view.stage)).or_default() += 1;
        }
    }
    let cases = counts
        .into_iter()
        .map(|((disposition, stage), count)| pb::CaseCount {
            disposition,
            stage: stage.as_str().to_string(),
            stage_zh: stage.name_zh().to_string(),
            count,
        })
        .collect();
    Ok(pb::RollupResponse { total: Some(total), children, cases, as_of: projection.as_of().map(dates::from_naive) })
}

/// Table 1, 2 or 3.
///
/// # Errors
///
/// [`QueryError`] for a unit outside `scope` or a table that does not exist.
pub fn table(
    projection: &Projection,
    scope: &UnitPath,
    unit_path: &str,
    number: u32,
) -> Result<pb::TableResponse, QueryError> {
    let unit = unit_in_scope(unit_path, scope)?;
    let template = tables::template(number).ok_or(QueryError::NoTable(number))?;
    let table = tables::compute(template, projection, &unit);
    let failures = tables::check(template, &table.cells);
    let cells = tables::cells_of(&table);
    Ok(pb::TableResponse {
        table: number,
        title_zh: template.title_zh.to_string(),
        title_en: template.title_en.to_string(),
        unit_path: unit.to_string(),
        as_of: table.as_of.map(dates::from_naive),
        columns: template
            .columns
            .iter()
            .map(|c| {
                let definition = template.definition_of(*c);
                let as_of = table.as_of.map(|d| d.format("%Y年%-m月%-d日").to_string()).unwrap_or_default();
                pb::TableColumn {
                    key: c.key().into(),
                    name_zh: template.heading_zh(*c).replace("{as_of}", &as_of),
                    name_en: c.name_en().into(),
                    group_zh: template.group_zh(*c).into(),
                    definition_zh: definition.map(|d| d.zh).unwrap_or_default().into(),
                    definition_en: definition.map(|d| d.en).unwrap_or_default().into(),
                }
            })
            .collect(),
        rows: table
            .rows
            .iter()
            .zip(&table.row_units)
            .map(|((zh, en), unit)| pb::TableRowLabel {
                name_zh: zh.clone(),
                name_en: en.clone(),
                unit_path: unit.as_ref().map(ToString::to_string).unwrap_or_default(),
            })
            .collect(),
        unit_name: projection.unit_name(&unit).map(|_| projection.unit_official_name(&unit)).unwrap_or_default(),
        cells,
        check_failures: failures
            .into_iter()
            .map(|f| pb::TableCheckFailure {
                row: f.row as u32,
                column: f.column.unwrap_or(0) as u32,
                message_zh: f.message_zh,
                message_en: f.message_en,
            })
            .collect(),
        checkpoint: projection
            .checkpoint()
            .into_iter()
            .map(|(replica, seq)| pb::ReplicaHead {
                replica: bytes::Bytes::copy_from_slice(&replica.0),
                seq,
                hash: bytes::Bytes::new(),
            })
            .collect(),
    })
}

/// Tables 1-3 of `request.unit_path` (default: `scope`) and of the reporting units
/// directly below it (universities and colleges report; branches do not), each with the
/// level above's verdict.
///
/// # Errors
///
/// [`QueryError`] for a unit outside `scope`.
pub fn reports(
    projection: &Projection,
    scope: &UnitPath,
    request: &pb::ReportsRequest,
) -> Result<pb::ReportsResponse, QueryError> {
    use rollcall_core::audit::projection::ReportState;
    let unit = unit_in_scope(&request.unit_path, scope)?;
    let reports_at = |level: Option<Level>| level.is_some_and(|level| level <= Level::College);
    let mut units: BTreeSet<UnitPath> = projection
        .child_rollups(&unit)
        .into_iter()
        .map(|(child, _)| child)
        .chain(projection.reporting_units_within(&unit).into_iter().filter(|u| u.parent().as_ref() == Some(&unit)))
        .filter(|child| child != &unit && reports_at(child.level()))
        .collect();
    if reports_at(unit.level()) {
        units.insert(unit.clone());
    }
    let mut reports = Vec::new();
    for reporter in units {
        for table in 1..=3 {
            let status = projection.report_status(&reporter, table);
            let report = status.report;
            let received = report.and_then(|r| match reporter.parent() {
                Some(_) => projection.received_at(&reporter, r.replica, r.seq),
                None => Some(r.wall_ms),
            });
            reports.push(pb::ReportStatusItem {
                unit_path: reporter.to_string(),
                table,
                state: status.state.as_str().into(),
                state_zh: status.state.name_zh().into(),
                submitted_at_ms: report.map_or(0, |r| r.wall_ms),
                received_at_ms: received.unwrap_or(0),
                report_replica: report.map(|r| bytes::Bytes::copy_from_slice(&r.replica.0)).unwrap_or_default(),
                report_seq: report.map_or(0, |r| r.seq),
                differences: match status.state {
                    ReportState::Differs => status.verdict.map(|v| v.differences.clone()).unwrap_or_default(),
                    _ => Vec::new(),
                },
                return_reason: status.returned.map(|r| r.reason.clone()).unwrap_or_default(),
                unit_name: name_of(projection, &reporter),
            });
        }
    }
    Ok(pb::ReportsResponse { reports })
}

/// A register (ID numbers masked unless `show_personal`, which the caller has checked
/// the reader may see).
///
/// # Errors
///
/// [`QueryError`] for a unit outside `scope`.
pub fn register(
    projection: &Projection,
    scope: &UnitPath,
    unit_path: &str,
    still_lost: bool,
    show_personal: bool,
) -> Result<pb::RegisterResponse, QueryError> {
    let unit = unit_in_scope(unit_path, scope)?;
    let which = if still_lost { Register::StillLost } else { Register::Found };
    Ok(pb::RegisterResponse {
        title_zh: which.title_zh().into(),
        title_en: which.title_en().into(),
        columns: which
            .columns()
            .iter()
            .map(|(key, zh, en)| pb::TableColumn {
                key: (*key).into(),
                name_zh: (*zh).into(),
                name_en: (*en).into(),
                ..Default::default()
            })
            .collect(),
        rows: tables::register(projection, &unit, which, show_personal)
            .into_iter()
            .map(|cells| pb::RegisterRow { cells })
            .collect(),
        unit_path: unit.to_string(),
        unit_name: projection.unit_name(&unit).map(|_| projection.unit_official_name(&unit)).unwrap_or_default(),
        as_of: projection.as_of().map(dates::from_naive),
    })
}

/// Deadline status at `now_ms`.
///
/// # Errors
///
/// [`QueryError`] for a unit outside `scope`.
pub fn deadlines(
    projection: &Projection,
    scope: &UnitPath,
    unit_path: &str,
    now_ms: u64,
) -> Result<pb::DeadlinesResponse, QueryError> {
    let unit = unit_in_scope(unit_path, scope)?;
    let statuses = deadlines::status(projection, &unit, now_ms)
        .into_iter()
        .map(|status| pb::DeadlineStatus {
            kind: status.kind as i32,
            name_zh: deadlines::deadline_name_zh(status.kind).into(),
            name_en: deadlines::deadline_name_en(status.kind).into(),
            due: Some(dates::from_naive(status.due)),
            state: status.state.as_str().into(),
            state_zh: status.state.name_zh().into(),
            done: status.done,
            total: status.total,
            days_left: status.days_left,
            due_at_ms: dates::end_of_day_cst_ms(status.due),
            blockers: status
                .blockers
                .into_iter()
                .map(|b| pb::DeadlineBlocker {
                    unit_name: name_of(projection, &b.unit),
                    unit_path: b.unit.to_string(),
                    count: b.count,
                    reason: b.reason.into(),
                    reason_zh: b.reason_zh.into(),
                    reason_en: b.reason_en.into(),
                })
                .collect(),
        })
        .collect();
    Ok(pb::DeadlinesResponse {
        deadlines: statuses,
        campaign: projection.campaign().map(|c| c.opened.name.clone()).unwrap_or_default(),
        campaign_id: projection.campaign().map(|c| c.opened.campaign_id.clone()).unwrap_or_default(),
        now_ms,
        policy: projection.campaign().map(|_| projection.policy().to_proto()),
        policy_changes: projection.policies().len().saturating_sub(1) as u32,
    })
}

/// Findings about how members are held within `request.unit_path` (default: `scope`):
/// duplicate relations and events filed where the member is not registered.
///
/// A finding speaks only of the asked unit's subtree: the units it lists and the name it
/// shows are those of registrations within it ([`Projection::name_within`]). Anyone who
/// can file an event at a branch can make an 'unregistered' finding about any member id
/// there (a member id is derived from an ID number), so naming where else that person is
/// registered, or their name from there, would answer "is this person a member, and
/// where?" across the province.
///
/// # Errors
///
/// [`QueryError`] for a unit outside `scope`.
pub fn findings(
    projection: &Projection,
    scope: &UnitPath,
    request: &pb::FindingsRequest,
) -> Result<pb::FindingsResponse, QueryError> {
    use rollcall_core::audit::projection::Finding;
    let unit = unit_in_scope(&request.unit_path, scope)?;
    let name_within = |member_id: &str| projection.name_within(member_id, &unit).unwrap_or_default();
    let within = |units: &[UnitPath]| -> Vec<String> {
        units.iter().filter(|u| u.is_within(&unit)).map(ToString::to_string).collect()
    };
    let findings = projection
        .findings_within(&unit)
        .into_iter()
        .map(|finding| match finding {
            Finding::Duplicate { member_id, units, counted_at, settled } => pb::RelationFinding {
                name: name_within(&member_id),
                kind: pb::relation_finding::Kind::DuplicateRelation as i32,
                units: within(&units),
                counted_at: counted_at.filter(|u| u.is_within(&unit)).map(|u| u.to_string()).unwrap_or_default(),
                member_id,
                settled,
                ..Default::default()
            },
            Finding::Unregistered { member_id, unit: filed_at, events, registered_at } => pb::RelationFinding {
                name: name_within(&member_id),
                kind: pb::relation_finding::Kind::Unregistered as i32,
                units: within(&registered_at),
                unit_path: filed_at.to_string(),
                member_id,
                events,
                ..Default::default()
            },
        })
        .collect();
    Ok(pb::FindingsResponse { findings })
}

/// The units known within `request.unit_path` (default: `scope`), with their names.
///
/// # Errors
///
/// [`QueryError`] for a unit outside `scope`.
pub fn units(
    projection: &Projection,
    scope: &UnitPath,
    request: &pb::UnitsRequest,
) -> Result<pb::UnitsResponse, QueryError> {
    let unit = unit_in_scope(&request.unit_path, scope)?;
    let mut known = projection.known_units().clone();
    // The ancestors of the scope are named too (a college shows its university's name).
    let mut above = unit.parent();
    while let Some(ancestor) = above {
        above = ancestor.parent();
        if projection.unit_name(&ancestor).is_some() {
            known.insert(ancestor);
        }
    }
    let units = known
        .into_iter()
        .filter(|known| known.is_within(&unit) || unit.is_within(known))
        .map(|known| {
            let named = projection.unit_name(&known);
            pb::UnitInfo {
                unit_path: known.to_string(),
                level: known.level().map_or(0, |level| level.to_proto() as i32),
                name: named.map(|n| n.name.clone()).unwrap_or_default(),
                short_name: named.map(|n| n.short_name.clone()).unwrap_or_default(),
                org_type: rollcall_core::audit::projection::org_type_of(&known, named) as i32,
                org_code: named.map(|n| n.org_code.clone()).unwrap_or_default(),
                named: named.is_some(),
            }
        })
        .collect();
    Ok(pb::UnitsResponse { units })
}

/// The field conflicts (concurrent corrections) among the members of `scope`'s
/// subtree, from the projection (which keeps every correction of every member).
pub fn conflicts(projection: &Projection, scope: &UnitPath) -> pb::ConflictsResponse {
    let conflicts = projection
        .conflicts_within(scope)
        .into_iter()
        .map(|conflict| pb::FieldConflict {
            member_id: conflict.member_id,
            field: conflict.field,
            unit_path: conflict.unit.to_string(),
            candidates: conflict
                .candidates
                .iter()
                .enumerate()
                // The value in force is the last candidate (two may share an event id).
                .map(|(index, edit)| pb::ConflictCandidate {
                    event_id: edit.event_id.0.to_vec().into(),
                    replica: edit.replica.0.to_vec().into(),
                    value: edit.value.clone(),
                    author: edit.author.clone(),
                    hlc_wall_ms: edit.hlc.wall_ms,
                    current: index + 1 == conflict.candidates.len(),
                })
                .collect(),
        })
        .collect();
    pb::ConflictsResponse { conflicts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn personal_values_are_masked_by_field_and_bodies_that_hold_them_are_known() {
        let id = pb::MemberField::IdNumber as i32;
        let phone = pb::MemberField::Phone as i32;
        let name = pb::MemberField::Name as i32;
        assert_eq!(mask_field_value(id, "420102199001011234"), "420102********1234");
        assert_eq!(mask_field_value(phone, "13812345678"), "138****5678");
        assert_eq!(mask_field_value(name, "张三"), "张三");
        let correction =
            |field| pb::RecordCorrected { member_id: "M1".into(), field, ..Default::default() }.encode_to_vec();
        assert!(carries_personal_data(rollcall_core::EventKind::RecordCorrected, &correction(phone)));
        assert!(!carries_personal_data(rollcall_core::EventKind::RecordCorrected, &correction(name)));
        assert!(carries_personal_data(rollcall_core::EventKind::MemberRegistered, &[]));
        assert!(!carries_personal_data(rollcall_core::EventKind::ContactAttempted, &[]));
        let resolved = |field| pb::StatsDiscrepancyResolved { member_id: "M1".into(), field, ..Default::default() };
        assert!(carries_personal_data(
            rollcall_core::EventKind::StatsDiscrepancyResolved,
            &resolved(id).encode_to_vec()
        ));
        assert!(!carries_personal_data(
            rollcall_core::EventKind::StatsDiscrepancyResolved,
            &resolved(name).encode_to_vec()
        ));
    }
}
