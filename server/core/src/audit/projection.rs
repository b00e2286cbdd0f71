//! The projection of a node: every member's state, every disposition case, the
//! campaign, reports and receipts, and per-unit counters — a cache of the log.
//!
//! Invariants:
//! - The projection is a function of the *set* of events applied (each at most once),
//!   never of their order: [`crate::audit::member`] and [`crate::audit::case`] merge by
//!   stamp, and counters are recomputed from a member's whole state whenever it changes.
//! - `units` holds, for each branch, the sum of the contributions of the members it
//!   holds, and no entry for a branch that counts nobody; `subtrees` holds the same sums
//!   for every ancestor (so a rollup is one lookup) and `children` the units below each
//!   that count somebody; so two projections of the same events are `==`, whatever
//!   order they were built in.
//! - [`Projection::apply`] returns an [`Undo`]; undoing in reverse order restores the
//!   projection exactly (the writer undoes a group whose write failed).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;

use crate::audit::case::{Case, CaseView, Step, case_id_of};
use crate::audit::dates;
use crate::audit::member::{Lww, MemberState, MemberView, Stamp, signoff_bit};
use crate::audit::stats::{Contribution, Counters, contribution};
use crate::body::Body;
use crate::conflict::FieldEdits;
use crate::event::{Header, ReplicaId};
use crate::proto;
use crate::unit::{Level, UnitPath};

/// One member and what they are counted as.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberEntry {
    /// Folded state.
    pub state: MemberState,
    /// Corrections and their conflicts.
    pub edits: FieldEdits,
    /// Cases about the member.
    pub cases: BTreeSet<String>,
    /// Where the member is counted, and as what.
    pub counted: Option<(UnitPath, Contribution)>,
}

/// A report of tables as submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRecord {
    /// The submitting replica.
    pub replica: ReplicaId,
    /// Its seq (judged against receipts).
    pub seq: u64,
    /// When, by its writer's clock.
    pub wall_ms: u64,
    /// The cells.
    pub cells: Vec<proto::TableCell>,
}

/// The campaign in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Campaign {
    /// As opened.
    pub opened: proto::CampaignOpened,
    /// The day it was opened (China Standard Time).
    pub opened_on: NaiveDate,
}

impl Campaign {
    /// The as-of date of tables.
    pub fn as_of(&self) -> Option<NaiveDate> {
        dates::opt(self.opened.as_of.as_ref())
    }

    /// The due date of a deadline.
    pub fn due(&self, kind: proto::DeadlineKind) -> Option<NaiveDate> {
        self.opened.deadlines.iter().find(|d| d.kind == kind as i32).and_then(|d| dates::opt(d.due.as_ref()))
    }
}

/// Everything a node derives from its events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projection {
    members: HashMap<String, MemberEntry>,
    cases: HashMap<String, Case>,
    units: BTreeMap<UnitPath, Counters>,
    /// Every unit with somebody counted below it (branches included) → the sum of its
    /// subtree, and the number of branches counting somebody in it.
    subtrees: HashMap<UnitPath, (Counters, usize)>,
    /// Each unit's direct children that count somebody.
    children: HashMap<UnitPath, BTreeSet<UnitPath>>,
    campaign: Lww<Campaign>,
    reports: BTreeMap<(UnitPath, u32), Lww<ReportRecord>>,
    /// (unit the receipt acknowledges, replica covered) → seq → earliest stored_at.
    receipts: BTreeMap<(UnitPath, ReplicaId), BTreeMap<u64, u64>>,
    events_applied: u64,
}

/// (reporting unit, table number).
type ReportKey = (UnitPath, u32);
/// (unit the receipt acknowledges — a parent signs receipts about its child —, replica covered).
type ReceiptKey = (UnitPath, ReplicaId);

/// How to take one [`Projection::apply`] back.
#[derive(Debug, Default)]
#[must_use = "the writer undoes a failed group with it"]
pub struct Undo {
    member: Option<(String, Option<MemberEntry>)>,
    case: Option<(String, Option<Case>)>,
    campaign: Option<Lww<Campaign>>,
    report: Option<(ReportKey, Option<Lww<ReportRecord>>)>,
    receipts: Vec<(ReceiptKey, Option<BTreeMap<u64, u64>>)>,
    counted: bool,
}

/// The member an event is about, if any.
pub fn member_id_of(body: &Body) -> Option<&str> {
    Some(match body {
        Body::MemberRegistered(b) => &b.member_id,
        Body::RecordCorrected(b) => &b.member_id,
        Body::RecordFlagged(b) => &b.member_id,
        Body::ArchiveReviewed(b) => &b.member_id,
        Body::ContactStatusAssessed(b) => &b.member_id,
        Body::TransferStubChecked(b) => &b.member_id,
        Body::ConductNoted(b) => &b.member_id,
        Body::StatsDiscrepancyFound(b) => &b.member_id,
        Body::StatsDiscrepancyResolved(b) => &b.member_id,
        Body::FormSignedOff(b) => &b.member_id,
        Body::ContactAttempted(b) => &b.member_id,
        Body::MemberLocated(b) => &b.member_id,
        Body::ReceivingUnitConfirmed(b) => &b.member_id,
        Body::ManagementActionTaken(b) => &b.member_id,
        Body::ViolationReferred(b) => &b.member_id,
        Body::ArchiveMaterialAdded(b) => &b.member_id,
        Body::SpotCheckRecorded(b) => &b.member_id,
        _ => return None,
    })
}

impl Projection {
    /// An empty projection.
    pub fn new() -> Projection {
        Projection::default()
    }

    /// Number of events applied.
    pub fn events_applied(&self) -> u64 {
        self.events_applied
    }

    /// The campaign in force.
    pub fn campaign(&self) -> Option<&Campaign> {
        self.campaign.get()
    }

    /// The as-of date of tables (the campaign's).
    pub fn as_of(&self) -> Option<NaiveDate> {
        self.campaign().and_then(Campaign::as_of)
    }

    /// A member's entry.
    pub fn member(&self, member_id: &str) -> Option<&MemberEntry> {
        self.members.get(member_id)
    }

    /// A member's derived view.
    pub fn member_view(&self, member_id: &str) -> Option<MemberView> {
        self.members.get(member_id).map(|entry| entry.state.view(self.as_of()))
    }

    /// Every field in conflict among the members held at branches within `unit`
    /// (concurrent corrections, DESIGN.md §4), sorted by member then field.
    pub fn conflicts_within(&self, unit: &UnitPath) -> Vec<crate::conflict::Conflict> {
        let mut conflicts: Vec<_> = self
            .members
            .values()
            .flat_map(|entry| entry.edits.conflicts())
            .filter(|conflict| conflict.current.unit.is_within(unit))
            .collect();
        conflicts.sort_by(|a, b| (&a.member_id, a.field).cmp(&(&b.member_id, b.field)));
        conflicts
    }

    /// Every member.
    pub fn members(&self) -> impl Iterator<Item = &MemberEntry> {
        self.members.values()
    }

    /// Number of members known (registered or not yet).
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// A case.
    pub fn case(&self, case_id: &str) -> Option<&Case> {
        self.cases.get(case_id)
    }

    /// Every case.
    pub fn cases(&self) -> impl Iterator<Item = &Case> {
        self.cases.values()
    }

    /// The views of a member's cases.
    pub fn cases_of(&self, member_id: &str) -> Vec<&CaseView> {
        self.members
            .get(member_id)
            .into_iter()
            .flat_map(|entry| entry.cases.iter())
            .filter_map(|id| self.cases.get(id).map(|case| &case.view))
            .collect()
    }

    /// The counters of every branch within `unit` (itself included).
    pub fn units_within<'a>(&'a self, unit: &'a UnitPath) -> impl Iterator<Item = (&'a UnitPath, &'a Counters)> + 'a {
        self.units
            .range(unit.clone()..)
            .take_while(move |(path, _)| path.as_str().starts_with(unit.as_str()))
            .filter(move |(path, _)| path.is_within(unit))
    }

    /// The rollup of `unit`'s subtree (one lookup: sums are kept per subtree).
    pub fn rollup(&self, unit: &UnitPath) -> Counters {
        self.subtrees.get(unit).map(|(counters, _)| counters.clone()).unwrap_or_default()
    }

    /// The rollup of each direct child of `unit` that counts somebody (and of `unit`
    /// itself, first, when members are held at `unit` directly).
    pub fn child_rollups(&self, unit: &UnitPath) -> Vec<(UnitPath, Counters)> {
        let mut rollups = Vec::new();
        if let Some(own) = self.units.get(unit) {
            rollups.push((unit.clone(), own.clone()));
        }
        for child in self.children.get(unit).into_iter().flatten() {
            rollups.push((child.clone(), self.rollup(child)));
        }
        rollups
    }

    /// Branch units within `unit` that count somebody.
    pub fn organisations_within(&self, unit: &UnitPath) -> usize {
        self.subtrees.get(unit).map_or(0, |(_, organisations)| *organisations)
    }

    /// The latest report of `table` by `unit`.
    pub fn report(&self, unit: &UnitPath, table: u32) -> Option<&ReportRecord> {
        self.reports.get(&(unit.clone(), table)).and_then(Lww::get)
    }

    /// When the level above `child` first stored `replica`'s events up to `seq`, by the
    /// receipts it signed about `child` (ms since the epoch).
    pub fn received_at(&self, child: &UnitPath, replica: ReplicaId, seq: u64) -> Option<u64> {
        self.receipts.get(&(child.clone(), replica))?.range(seq..).map(|(_, at)| *at).min()
    }

    /// Applies one event with a body, written by a replica enrolled at `author_level`.
    pub fn apply(&mut self, header: &Header, body: &Body, author_level: Level) -> Undo {
        self.apply_keeping(header, body, author_level, true)
    }

    /// [`Projection::apply`] for an event that will not be taken back (it is durable
    /// already): keeps no copy of what it changes, which is most of the cost of applying.
    pub fn apply_for_good(&mut self, header: &Header, body: &Body, author_level: Level) {
        let _nothing_kept = self.apply_keeping(header, body, author_level, false);
    }

    fn apply_keeping(&mut self, header: &Header, body: &Body, author_level: Level, keep_undo: bool) -> Undo {
        self.events_applied += 1;
        let stamp = Stamp::of(header);
        let mut undo = Undo::default();
        match body {
            Body::CampaignOpened(opened) => {
                undo.campaign = keep_undo.then(|| self.campaign.clone());
                let before = self.as_of();
                self.campaign
                    .set(stamp, Campaign { opened: opened.clone(), opened_on: dates::cst_day(header.hlc.wall_ms) });
                if self.as_of() != before {
                    self.recount_all();
                }
            }
            Body::ReportSubmitted(report) => {
                let key = (header.unit_path.clone(), report.table);
                if keep_undo {
                    undo.report = Some((key.clone(), self.reports.get(&key).cloned()));
                }
                self.reports.entry(key).or_default().set(
                    stamp,
                    ReportRecord {
                        replica: header.replica,
                        seq: header.seq.0,
                        wall_ms: header.hlc.wall_ms,
                        cells: report.cells.clone(),
                    },
                );
            }
            Body::Receipt(receipt) => {
                for head in &receipt.heads {
                    let Ok(replica) = <[u8; 32]>::try_from(&head.replica[..]) else { continue };
                    let key = (header.unit_path.clone(), ReplicaId(replica));
                    if keep_undo {
                        undo.receipts.push((key.clone(), self.receipts.get(&key).cloned()));
                    }
                    let at = self.receipts.entry(key).or_default().entry(head.seq).or_insert(receipt.stored_at_ms);
                    *at = (*at).min(receipt.stored_at_ms);
                }
            }
            Body::DispositionProposed(_)
            | Body::DispositionInvestigated(_)
            | Body::DispositionPreReviewed(_)
            | Body::DispositionVoted(_)
            | Body::DispositionApproved(_)
            | Body::DispositionRejected(_)
            | Body::DispositionFiled(_)
            | Body::DispositionAppealed(_)
            | Body::CorrectionPeriodReviewed(_) => {
                let case_id = case_id_of(body).unwrap_or_default().to_string();
                let held = if keep_undo { self.cases.get(&case_id).cloned() } else { None };
                let case = self.cases.entry(case_id.clone()).or_insert_with(|| Case::new(&case_id));
                case.add(stamp, Step { unit: header.unit_path.clone(), author_level, body: body.clone() });
                let member_id = case.view.member_id.clone();
                if keep_undo {
                    undo.case = Some((case_id.clone(), held));
                }
                if !member_id.is_empty() {
                    if keep_undo {
                        undo.member = Some((member_id.clone(), self.members.get(&member_id).cloned()));
                    }
                    let entry = self.entry(&member_id);
                    entry.cases.insert(case_id);
                    self.recount(&member_id);
                }
            }
            _ => {
                if let Some(member_id) = member_id_of(body) {
                    let member_id = member_id.to_string();
                    if keep_undo {
                        undo.member = Some((member_id.clone(), self.members.get(&member_id).cloned()));
                    }
                    let entry = self.entry(&member_id);
                    fold_member(entry, header, stamp, body);
                    self.recount(&member_id);
                }
            }
        }
        undo.counted = true;
        undo
    }

    /// Takes back one [`Projection::apply`]; call in reverse order of application.
    pub fn undo(&mut self, undo: Undo) {
        if !undo.counted {
            return;
        }
        self.events_applied -= 1;
        if let Some((case_id, held)) = undo.case {
            match held {
                Some(case) => self.cases.insert(case_id, case),
                None => self.cases.remove(&case_id),
            };
        }
        if let Some((member_id, held)) = undo.member {
            if let Some((unit, contribution)) = self.members.get(&member_id).and_then(|e| e.counted.clone()) {
                self.count(&unit, contribution, -1);
            }
            match held {
                Some(entry) => {
                    if let Some((unit, contribution)) = entry.counted.clone() {
                        self.count(&unit, contribution, 1);
                    }
                    self.members.insert(member_id, entry);
                }
                None => {
                    self.members.remove(&member_id);
                }
            }
        }
        if let Some(campaign) = undo.campaign {
            let before = self.as_of();
            self.campaign = campaign;
            if self.as_of() != before {
                self.recount_all();
            }
        }
        if let Some((key, held)) = undo.report {
            match held {
                Some(report) => self.reports.insert(key, report),
                None => self.reports.remove(&key),
            };
        }
        for (key, held) in undo.receipts.into_iter().rev() {
            match held {
                Some(receipts) => self.receipts.insert(key, receipts),
                None => self.receipts.remove(&key),
            };
        }
    }

    fn entry(&mut self, member_id: &str) -> &mut MemberEntry {
        self.members
            .entry(member_id.to_string())
            .or_insert_with(|| MemberEntry { state: MemberState::new(member_id), ..MemberEntry::default() })
    }

    fn count(&mut self, unit: &UnitPath, contribution: Contribution, sign: i32) {
        let was_counting = self.units.contains_key(unit);
        let counters = self.units.entry(unit.clone()).or_default();
        counters.add(contribution, sign);
        let now_counting = !counters.is_empty();
        if !now_counting {
            self.units.remove(unit);
        }
        let organisations: isize = match (was_counting, now_counting) {
            (false, true) => 1,
            (true, false) => -1,
            _ => 0,
        };
        let mut path = Some(unit.clone());
        while let Some(current) = path {
            let parent = current.parent();
            let (counters, orgs) = self.subtrees.entry(current.clone()).or_default();
            counters.add(contribution, sign);
            *orgs = orgs.saturating_add_signed(organisations);
            if counters.is_empty() {
                self.subtrees.remove(&current);
                if let Some(parent) = &parent
                    && let Some(siblings) = self.children.get_mut(parent)
                {
                    siblings.remove(&current);
                    if siblings.is_empty() {
                        self.children.remove(parent);
                    }
                }
            } else if let Some(parent) = &parent {
                self.children.entry(parent.clone()).or_default().insert(current.clone());
            }
            path = parent;
        }
    }

    /// Recomputes what a member is counted as, and moves their contribution.
    fn recount(&mut self, member_id: &str) {
        let as_of = self.as_of();
        let Some(entry) = self.members.get(member_id) else { return };
        let view = entry.state.view(as_of);
        let cases: Vec<&CaseView> =
            entry.cases.iter().filter_map(|id| self.cases.get(id).map(|case| &case.view)).collect();
        let contribution = contribution(&view, &cases, as_of);
        let counted = view.unit.filter(|_| contribution.metrics != 0).map(|unit| (unit, contribution));
        if counted == entry.counted {
            return;
        }
        let before = entry.counted.clone();
        if let Some((unit, contribution)) = before {
            self.count(&unit, contribution, -1);
        }
        if let Some((unit, contribution)) = counted.clone() {
            self.count(&unit, contribution, 1);
        }
        if let Some(entry) = self.members.get_mut(member_id) {
            entry.counted = counted;
        }
    }

    fn recount_all(&mut self) {
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            self.recount(&id);
        }
    }
}

/// Folds a member event into the member's state.
fn fold_member(entry: &mut MemberEntry, header: &Header, stamp: Stamp, body: &Body) {
    let state = &mut entry.state;
    match body {
        Body::MemberRegistered(registered) => {
            state.registration.set(stamp, (header.unit_path.clone(), registered.form.clone().unwrap_or_default()));
        }
        Body::RecordCorrected(correction) => {
            state.corrections.entry(correction.field).or_default().set(stamp, correction.new_value.clone());
            entry.edits.apply_parts(header, correction);
        }
        Body::RecordFlagged(flag) => state.flags.entry(flag.field).or_default().set(stamp, flag.note.clone()),
        Body::ArchiveReviewed(review) => state.archive_review.set(stamp, review.clone()),
        Body::ArchiveMaterialAdded(added) => state.materials_added |= 1 << added.material.clamp(0, 31),
        Body::ContactStatusAssessed(contact) => state.contact.set(stamp, contact.clone()),
        Body::TransferStubChecked(stub) => state.transfer.set(stamp, stub.clone()),
        Body::ReceivingUnitConfirmed(answer) => state.receiving.set(stamp, answer.clone()),
        Body::ConductNoted(note) if note.violation_reported => state.violations_reported += 1,
        Body::ViolationReferred(_) => state.referrals += 1,
        Body::StatsDiscrepancyFound(found) => {
            let slot = state.discrepancies.entry(found.field).or_default();
            slot.found.set(stamp, (found.form_value.clone(), found.stats_db_value.clone()));
        }
        Body::StatsDiscrepancyResolved(resolved) => {
            let slot = state.discrepancies.entry(resolved.field).or_default();
            slot.resolved = slot.resolved.max(Some(stamp));
        }
        Body::FormSignedOff(signed) => {
            if let Ok(stage) = proto::form_signed_off::Stage::try_from(signed.stage) {
                state.signoffs |= signoff_bit(stage);
            }
        }
        Body::ContactAttempted(attempt) => state.attempts.add(attempt),
        Body::MemberLocated(located) => state.located.set(stamp, located.clone()),
        Body::ManagementActionTaken(action) => {
            state.actions.entry(action.action).or_default().set(stamp, action.clone());
        }
        Body::SpotCheckRecorded(check) => {
            if check.passed {
                state.spot_checks.0 += 1;
            } else {
                state.spot_checks.1 += 1;
            }
        }
        _ => {}
    }
}
