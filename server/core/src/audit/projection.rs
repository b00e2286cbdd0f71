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
//! - What an event says about a member or a case is filed under the event's own unit
//!   (its header's, which authority confines to the author's subtree): a member is a
//!   *relation* (member id, branch) and a case is (unit, case id). An event can only
//!   change relations and cases at its own unit, so no key can rename, search for or
//!   dispose of a member held by another branch, whatever its body says. A relation
//!   without a registration counts nowhere and is listed as a finding
//!   ([`Finding::Unregistered`]).
//! - One member registered at several branches (重复组织关系) is counted exactly once.
//!   The decision filed at the highest unit decides (a settlement before a finding at
//!   the same unit): its kept or `counted_at` branch, when that branch's registration
//!   is held here or lies outside this projection's scope (a choice of a branch inside
//!   the scope that holds no registration there is ignored). Without a decision, the
//!   earliest registration held by stamp counts (transient: the lowest common ancestor
//!   records a finding as soon as it holds two). Every replica holding the decision
//!   counts alike; no author's clock decides once a finding exists.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;

use crate::audit::case::{Case, CaseView, Step, case_id_of};
use crate::audit::dates;
use crate::audit::member::{ArchiveReview, ContactAssessment, Lww, MemberState, MemberView, Stamp};
use crate::audit::policy::{Policy, PolicyHistory};
use crate::audit::stats::{Contribution, Counters, contribution};
use crate::body::Body;
use crate::event::{Header, ReplicaId};
use crate::proto;
use crate::unit::{Level, UnitPath};

/// One relation of a member (the member as held at one branch) and what it counts as.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemberEntry {
    /// The unit its events are filed at (the branch, for a registered relation).
    pub unit: UnitPath,
    /// The earliest registration at this unit when it is not the registration in force
    /// (registered twice at the same unit: rare); otherwise the registration in force
    /// is the earliest. See [`MemberEntry::first_registered`].
    earlier_registration: Option<Box<Stamp>>,
    /// Events applied to this relation.
    pub events: u32,
    /// Folded state.
    pub state: MemberState,
    /// Cases about the member (most have none: `None` costs a pointer, where an empty
    /// `BTreeSet` would cost three words in every one of millions of relations).
    #[allow(clippy::box_collection)]
    cases: Option<Box<BTreeSet<String>>>,
    /// What the member counts as at this relation's unit, if counted here.
    pub counted: Option<Contribution>,
}

static NO_CASES: BTreeSet<String> = BTreeSet::new();

impl MemberEntry {
    /// Registered at its unit.
    pub fn is_registered(&self) -> bool {
        self.state.registration.stamp().is_some()
    }

    /// The earliest registration at this unit, if any.
    pub fn first_registered(&self) -> Option<Stamp> {
        self.earlier_registration.as_deref().copied().or_else(|| self.state.registration.stamp())
    }

    /// The ids of the cases about the member filed at this unit.
    pub fn cases(&self) -> &BTreeSet<String> {
        self.cases.as_deref().unwrap_or(&NO_CASES)
    }

    /// A registration stamped `stamp` was folded in; `earliest_before` was the earliest
    /// registration before it.
    fn registered(&mut self, earliest_before: Option<Stamp>, stamp: Stamp) {
        let earliest = earliest_before.map_or(stamp, |held| held.min(stamp));
        self.earlier_registration = (Some(earliest) != self.state.registration.stamp()).then(|| Box::new(earliest));
    }

    /// The member's view as held at this relation's unit ([`MemberState::view`]).
    pub fn view(&self, as_of: Option<NaiveDate>, policy: &Policy) -> MemberView {
        self.state.view(&self.unit, as_of, policy)
    }

    /// Where the member is counted through this relation (its unit), and as what.
    pub fn counted_at(&self) -> Option<(UnitPath, Contribution)> {
        self.counted.map(|contribution| (self.unit.clone(), contribution))
    }
}

/// Every relation of one member id, and the findings about them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemberRecord {
    /// One entry per unit events about the member were filed at, sorted by unit
    /// (exactly as many as there are: a province holds millions of these slots).
    pub relations: Box<[MemberEntry]>,
    /// The findings and settlements about the member's relations: `None` (a pointer)
    /// for every member never registered twice, which is nearly all of them.
    decisions: Option<Box<Decisions>>,
}

/// What the levels above decided about a member registered at more than one branch.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Decisions {
    /// Findings, by the unit that filed them.
    findings: BTreeMap<UnitPath, Lww<proto::DuplicateRelationFound>>,
    /// Settlements, by the unit that filed them.
    settlements: BTreeMap<UnitPath, Lww<proto::DuplicateRelationSettled>>,
}

static NO_DECISIONS: Decisions = Decisions { findings: BTreeMap::new(), settlements: BTreeMap::new() };

impl MemberRecord {
    /// Findings, by the unit that filed them.
    pub fn findings(&self) -> &BTreeMap<UnitPath, Lww<proto::DuplicateRelationFound>> {
        &self.decisions.as_deref().unwrap_or(&NO_DECISIONS).findings
    }

    /// Settlements, by the unit that filed them.
    pub fn settlements(&self) -> &BTreeMap<UnitPath, Lww<proto::DuplicateRelationSettled>> {
        &self.decisions.as_deref().unwrap_or(&NO_DECISIONS).settlements
    }

    fn decisions_mut(&mut self) -> &mut Decisions {
        self.decisions.get_or_insert_default()
    }

    /// The branch the member counts at, for a projection whose events cover `scope`
    /// (`None`: everything). See the module's invariant.
    pub fn in_force_unit(&self, scope: Option<&UnitPath>) -> Option<UnitPath> {
        if self.decisions.is_none() {
            if self.relations.len() == 1 {
                let only = &self.relations[0];
                return only.is_registered().then(|| only.unit.clone());
            }
            return self.earliest_held();
        }
        let applies = |unit: &UnitPath| {
            self.at(unit).is_some_and(MemberEntry::is_registered) || scope.is_some_and(|scope| !unit.is_within(scope))
        };
        let mut decisions: Vec<(usize, u8, &UnitPath, &str)> = Vec::new();
        for (filed_at, settled) in self.settlements() {
            if let Some(settled) = settled.get() {
                decisions.push((filed_at.depth(), 0, filed_at, &settled.keep_unit));
            }
        }
        for (filed_at, found) in self.findings() {
            if let Some(found) = found.get() {
                decisions.push((filed_at.depth(), 1, filed_at, &found.counted_at));
            }
        }
        decisions.sort();
        decisions
            .into_iter()
            .filter_map(|(_, _, _, choice)| UnitPath::parse(choice).ok())
            .find(|choice| applies(choice))
            .or_else(|| self.earliest_held())
    }

    /// The registration held with the earliest stamp.
    fn earliest_held(&self) -> Option<UnitPath> {
        self.relations
            .iter()
            .filter_map(|entry| entry.first_registered().map(|stamp| (stamp, &entry.unit)))
            .min()
            .map(|(_, unit)| unit.clone())
    }

    /// A settlement is in force.
    pub fn is_settled(&self) -> bool {
        self.settlements().values().any(|settled| settled.get().is_some())
    }

    /// Branches the member is known to be registered at (held or claimed), sorted.
    pub fn registered_units(&self) -> BTreeSet<UnitPath> {
        let held = self.relations.iter().filter(|e| e.is_registered()).map(|e| e.unit.clone());
        // Where else it is registered: the branches the findings received name.
        let named = self
            .findings()
            .values()
            .filter_map(Lww::get)
            .flat_map(|found| found.relations.iter().filter_map(|claim| UnitPath::parse(&claim.unit_path).ok()));
        held.chain(named).collect()
    }

    /// The relation at `unit`.
    pub fn at(&self, unit: &UnitPath) -> Option<&MemberEntry> {
        self.relations.binary_search_by(|entry| entry.unit.cmp(unit)).ok().map(|index| &self.relations[index])
    }

    /// The relation to show for the member: the one in force, else the first registered,
    /// else the first.
    pub fn primary(&self, scope: Option<&UnitPath>) -> Option<&MemberEntry> {
        let in_force = self.in_force_unit(scope);
        in_force
            .and_then(|unit| self.at(&unit))
            .or_else(|| self.relations.iter().find(|entry| entry.is_registered()))
            .or_else(|| self.relations.first())
    }
}

/// What a node can see is wrong with how a member is held.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    /// 重复组织关系: registered at several branches.
    Duplicate {
        /// The member.
        member_id: String,
        /// Every branch the member is known to be registered at.
        units: Vec<UnitPath>,
        /// Where the member is counted.
        counted_at: Option<UnitPath>,
        /// A settlement is in force.
        settled: bool,
    },
    /// Events filed at a unit where the member is not registered: counted nowhere.
    Unregistered {
        /// The member.
        member_id: String,
        /// Where the events were filed.
        unit: UnitPath,
        /// How many.
        events: u32,
        /// Where the member is registered, as far as this node knows.
        registered_at: Vec<UnitPath>,
    },
}

impl Finding {
    /// The member the finding is about.
    pub fn member_id(&self) -> &str {
        match self {
            Finding::Duplicate { member_id, .. } | Finding::Unregistered { member_id, .. } => member_id,
        }
    }
}

/// The lowest unit holding every unit of `units` (None for an empty set).
pub fn lowest_common_ancestor<'a>(units: impl IntoIterator<Item = &'a UnitPath>) -> Option<UnitPath> {
    let mut common: Option<UnitPath> = None;
    for unit in units {
        common = Some(match common {
            None => unit.clone(),
            Some(mut held) => {
                while !unit.is_within(&held) {
                    match held.parent() {
                        Some(parent) => held = parent,
                        None => break,
                    }
                }
                held
            }
        });
    }
    common
}

/// A report of tables as submitted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReportRecord {
    /// The submitting replica.
    pub replica: ReplicaId,
    /// Its seq (judged against receipts).
    pub seq: u64,
    /// When, by its writer's clock.
    pub wall_ms: u64,
    /// The cells.
    pub cells: Vec<proto::TableCell>,
    /// The heads the table was computed on.
    pub checkpoint: Vec<proto::ReplicaHead>,
    /// The campaign it reports on.
    pub campaign_id: String,
}

/// Where a unit's submission of one table stands, as the level above judged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportState {
    /// 未报送.
    NotSubmitted,
    /// 已报送: awaiting the level above's recomputation.
    Submitted,
    /// 已核验: the level above recomputed it at its checkpoint and found it equal.
    Verified,
    /// 有差异: the recomputation differs (the cells are listed).
    Differs,
    /// 被退回: the level above sent it back; the unit resubmits.
    Returned,
}

impl ReportState {
    /// Stable English name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::NotSubmitted => "not_submitted",
            ReportState::Submitted => "submitted",
            ReportState::Verified => "verified",
            ReportState::Differs => "differs",
            ReportState::Returned => "returned",
        }
    }

    /// Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            ReportState::NotSubmitted => "未报送",
            ReportState::Submitted => "已报送（待核验）",
            ReportState::Verified => "已核验",
            ReportState::Differs => "有差异",
            ReportState::Returned => "被退回",
        }
    }
}

/// A unit's submission of one table and the level above's judgement of it.
#[derive(Clone, Debug)]
pub struct ReportStatus<'a> {
    /// Where it stands.
    pub state: ReportState,
    /// The submission in force.
    pub report: Option<&'a ReportRecord>,
    /// The verification of that submission.
    pub verdict: Option<&'a proto::ReportVerified>,
    /// Its return, if it was sent back.
    pub returned: Option<&'a proto::ReportReturned>,
}

/// The campaign in force.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Projection {
    /// Not serialized with the rest: a snapshot stores the members in chunks
    /// ([`Projection::member_records`], [`Projection::restore_members`]).
    #[serde(skip)]
    members: HashMap<Box<str>, MemberRecord>,
    /// case id → the unit its events are filed at → the case.
    cases: HashMap<String, BTreeMap<UnitPath, Case>>,
    units: BTreeMap<UnitPath, Counters>,
    /// Every unit with somebody counted below it (branches included) → the sum of its
    /// subtree, and the number of branches counting somebody in it.
    subtrees: HashMap<UnitPath, (Counters, usize)>,
    /// Each unit's direct children that count somebody.
    children: HashMap<UnitPath, BTreeSet<UnitPath>>,
    campaign: Lww<Campaign>,
    reports: BTreeMap<(UnitPath, u32), Lww<ReportRecord>>,
    /// The level above's verifications, by reporting unit and table.
    verdicts: BTreeMap<(UnitPath, u32), Lww<proto::ReportVerified>>,
    /// The level above's returns, by reporting unit and table.
    returns: BTreeMap<(UnitPath, u32), Lww<proto::ReportReturned>>,
    /// (unit the receipt acknowledges, replica covered) → seq → earliest stored_at.
    receipts: BTreeMap<(UnitPath, ReplicaId), BTreeMap<u64, u64>>,
    events_applied: u64,
    /// The highest seq applied of each replica (events with bodies): with the state
    /// above, a consistent checkpoint for a report.
    heads: HashMap<ReplicaId, u64>,
    /// The unit whose node holds these events (`None`: all of them, as in tests): which
    /// branches' registrations this projection is entitled to hold.
    scope: Option<UnitPath>,
    /// Members with a finding (more than one relation, or a relation without a
    /// registration): what `findings_within` reads instead of every member. Kept from each
    /// member's state, so it is a function of the events too.
    with_findings: BTreeSet<String>,
    /// Each unit's official name by the level that recorded it (latest stamp per level);
    /// the highest level's is in force, so a level below can never outlast it by
    /// dating its events ahead.
    unit_names: BTreeMap<UnitPath, BTreeMap<Level, Lww<proto::UnitNamed>>>,
    /// Units a replica was enrolled at (with the number of enrollments): with the named
    /// units and the units counting somebody, the organisations table 1 counts.
    enrolled_units: BTreeMap<UnitPath, u32>,
    /// The campaign's policy and every change of it, by stamp.
    policies: PolicyHistory,
    /// [`Projection::known_units`], computed on first use after the set changed: table 1
    /// reads it at every call, and at a province it is 60,000 branches and their
    /// parents. Emptied whenever a unit is enrolled, named, or starts or stops counting
    /// somebody (and their undos), so it is always what the maps above say.
    #[serde(skip)]
    known_units: KnownUnits,
}

/// The cache behind [`Projection::known_units`]: derived from the projection's other
/// fields, so it takes no part in equality and is not serialized.
#[derive(Clone, Debug, Default)]
struct KnownUnits {
    units: std::sync::OnceLock<BTreeSet<UnitPath>>,
    /// [`Projection::subtree_organisations`].
    organisations: std::sync::OnceLock<HashMap<UnitPath, OrganisationCounts>>,
}

impl PartialEq for KnownUnits {
    fn eq(&self, _: &KnownUnits) -> bool {
        true
    }
}

/// `unit`, as the copy of its path the counters (`Projection::subtrees`) already hold if
/// they do: a branch's members then share one path instead of holding one each.
fn shared_unit(subtrees: &HashMap<UnitPath, (Counters, usize)>, unit: &UnitPath) -> UnitPath {
    subtrees.get_key_value(unit).map_or_else(|| unit.clone(), |(held, _)| held.clone())
}

/// 党组织数 by type: 党委 (and 党工委), 党总支, 党支部 (and 联合党支部).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrganisationCounts {
    /// 党委.
    pub committees: u32,
    /// 党总支.
    pub general_branches: u32,
    /// 党支部.
    pub branches: u32,
}

impl OrganisationCounts {
    /// The slot an organisation of `org_type` is counted in.
    fn slot(&mut self, org_type: proto::OrgType) -> Option<&mut u32> {
        match org_type {
            proto::OrgType::Committee | proto::OrgType::WorkingCommittee => Some(&mut self.committees),
            proto::OrgType::GeneralBranch => Some(&mut self.general_branches),
            proto::OrgType::Branch | proto::OrgType::JointBranch => Some(&mut self.branches),
            proto::OrgType::Unspecified => None,
        }
    }

    /// Counts one organisation of `org_type`.
    fn add(&mut self, org_type: proto::OrgType) {
        if let Some(slot) = self.slot(org_type) {
            *slot += 1;
        }
    }

    /// Takes back one organisation of `org_type` (counted by `add`).
    fn remove(&mut self, org_type: proto::OrgType) {
        if let Some(slot) = self.slot(org_type) {
            *slot -= 1;
        }
    }
}

/// Whether a 党组织 type fits a level: a branch is 631 or 632, a college 611 or 621, a
/// university 611, the province 611 or 612; nothing below a branch.
pub fn org_type_fits(level: Option<Level>, org_type: proto::OrgType) -> bool {
    use proto::OrgType as O;
    match level {
        Some(Level::Province) => matches!(org_type, O::Committee | O::WorkingCommittee),
        Some(Level::University) => org_type == O::Committee,
        Some(Level::College) => matches!(org_type, O::Committee | O::GeneralBranch),
        Some(Level::Branch) => matches!(org_type, O::Branch | O::JointBranch),
        None => false,
    }
}

/// A unit's 党组织类型: as named, else what its level usually is (a university or a
/// college has a 党委, a branch unit is a 党支部; the province's own is not counted).
pub fn org_type_of(unit: &UnitPath, named: Option<&proto::UnitNamed>) -> proto::OrgType {
    let level = unit.level();
    if let Some(named) = named
        && let Ok(org_type) = proto::OrgType::try_from(named.org_type)
        && org_type_fits(level, org_type)
    {
        return org_type;
    }
    match level {
        Some(Level::University | Level::College) => proto::OrgType::Committee,
        Some(Level::Branch) => proto::OrgType::Branch,
        _ => proto::OrgType::Unspecified,
    }
}

/// (reporting unit, table number).
type ReportKey = (UnitPath, u32);
/// (unit the receipt acknowledges — a parent signs receipts about its child —, replica covered).
type ReceiptKey = (UnitPath, ReplicaId);

/// How to take one [`Projection::apply`] back.
#[derive(Debug, Default)]
#[must_use = "the writer undoes a failed group with it"]
pub struct Undo {
    member: Option<(String, Option<MemberRecord>)>,
    case: Option<(String, UnitPath, Option<Case>)>,
    campaign: Option<Lww<Campaign>>,
    report: Option<(ReportKey, Option<Lww<ReportRecord>>)>,
    verdict: Option<(ReportKey, Option<Lww<proto::ReportVerified>>)>,
    returned: Option<(ReportKey, Option<Lww<proto::ReportReturned>>)>,
    receipts: Vec<(ReceiptKey, Option<BTreeMap<u64, u64>>)>,
    counted: bool,
    head_before: Option<(ReplicaId, Option<u64>)>,
    unit_name: Option<(UnitPath, Level, Option<Lww<proto::UnitNamed>>)>,
    enrolled_unit: Option<UnitPath>,
    policy: Option<Stamp>,
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
        Body::DuplicateRelationFound(b) => &b.member_id,
        Body::DuplicateRelationSettled(b) => &b.member_id,
        _ => return None,
    })
}

impl Projection {
    /// An empty projection.
    pub fn new() -> Projection {
        Projection::default()
    }

    /// The unit whose node holds these events, if set.
    pub fn scope(&self) -> Option<&UnitPath> {
        self.scope.as_ref()
    }

    /// An empty projection for the node serving `unit` (it holds every registration
    /// within `unit`'s subtree, and none outside it).
    pub fn for_unit(unit: UnitPath) -> Projection {
        Projection { scope: Some(unit), ..Projection::default() }
    }

    /// The highest seq applied of each replica, sorted by replica: the checkpoint of
    /// everything this projection holds (a report computed from it names it).
    pub fn checkpoint(&self) -> Vec<(ReplicaId, u64)> {
        let mut heads: Vec<(ReplicaId, u64)> = self.heads.iter().map(|(replica, seq)| (*replica, *seq)).collect();
        heads.sort_unstable();
        heads
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

    /// The policy in force now (the notice's before any campaign).
    pub fn policy(&self) -> Policy {
        self.policies.current()
    }

    /// Every policy recorded, by stamp.
    pub fn policies(&self) -> &PolicyHistory {
        &self.policies
    }

    /// The name recorded for `unit`, if any.
    pub fn unit_name(&self, unit: &UnitPath) -> Option<&proto::UnitNamed> {
        self.unit_names.get(unit).and_then(|by_level| by_level.values().find_map(Lww::get))
    }

    /// What people call `unit`: its short name, else its official name, else its path.
    pub fn unit_label(&self, unit: &UnitPath) -> String {
        match self.unit_name(unit) {
            Some(named) if !named.short_name.is_empty() => named.short_name.clone(),
            Some(named) if !named.name.is_empty() => named.name.clone(),
            _ => unit.as_str().to_string(),
        }
    }

    /// The unit's official name (for 填报单位), else its short name, else its path.
    pub fn unit_official_name(&self, unit: &UnitPath) -> String {
        match self.unit_name(unit) {
            Some(named) if !named.name.is_empty() => named.name.clone(),
            _ => self.unit_label(unit),
        }
    }

    /// Every unit this projection knows of: enrolled, named, or counting somebody, and
    /// the units above each (a branch's college exists).
    pub fn known_units(&self) -> &BTreeSet<UnitPath> {
        self.known_units.units.get_or_init(|| self.collect_known_units())
    }

    /// Forgets the known units (a unit was enrolled, named, or started or stopped counting).
    fn forget_known_units(&mut self) {
        self.known_units = KnownUnits::default();
    }

    fn collect_known_units(&self) -> BTreeSet<UnitPath> {
        let mut known = BTreeSet::new();
        for unit in self.enrolled_units.keys().chain(self.unit_names.keys()).chain(self.units.keys()) {
            if unit.level().is_none() {
                continue; // Below a branch: no organisation (only a forged event names one).
            }
            let mut path = Some(unit.clone());
            while let Some(current) = path {
                path = current.parent();
                if !known.insert(current) {
                    break;
                }
            }
        }
        known
    }

    /// The organisations in `unit`'s subtree, `unit` itself included or not.
    pub fn organisations(&self, unit: &UnitPath, include_self: bool) -> OrganisationCounts {
        let mut counts = self.subtree_organisations().get(unit).copied().unwrap_or_default();
        if !include_self && self.known_units().contains(unit) {
            counts.remove(org_type_of(unit, self.unit_name(unit)));
        }
        counts
    }

    /// Every known unit's organisations, its own subtree's, itself included: computed
    /// once with the known units (table 1 of a province asks for each of 120
    /// universities, whose 60,000 units a scan would visit per call) and forgotten with
    /// them, and whenever a unit is named (a name can change its type).
    fn subtree_organisations(&self) -> &HashMap<UnitPath, OrganisationCounts> {
        self.known_units.organisations.get_or_init(|| {
            let mut by_unit: HashMap<UnitPath, OrganisationCounts> = HashMap::new();
            for unit in self.known_units() {
                let org_type = org_type_of(unit, self.unit_name(unit));
                let mut path = Some(unit.clone());
                while let Some(current) = path {
                    path = current.parent();
                    by_unit.entry(current).or_default().add(org_type);
                }
            }
            by_unit
        })
    }

    /// The known units directly below `unit`.
    pub fn known_children(&self, unit: &UnitPath) -> BTreeSet<UnitPath> {
        self.known_children_among(self.known_units(), unit)
    }

    /// [`Projection::known_children`] among `known`.
    pub fn known_children_among(&self, known: &BTreeSet<UnitPath>, unit: &UnitPath) -> BTreeSet<UnitPath> {
        known
            .range(unit.clone()..)
            .take_while(|k| k.as_str().starts_with(unit.as_str()))
            .filter(|k| k.parent().as_ref() == Some(unit))
            .cloned()
            .collect()
    }

    /// A member's relation to show: the one counted, else the first registered.
    pub fn member(&self, member_id: &str) -> Option<&MemberEntry> {
        self.members.get(member_id).and_then(|record| record.primary(self.scope.as_ref()))
    }

    /// The member as held at `unit` (what an event filed at `unit` may speak of).
    pub fn relation(&self, member_id: &str, unit: &UnitPath) -> Option<&MemberEntry> {
        self.members.get(member_id).and_then(|record| record.at(unit))
    }

    /// Every relation and finding of one member id.
    pub fn member_record(&self, member_id: &str) -> Option<&MemberRecord> {
        self.members.get(member_id)
    }

    /// The member's name as shown to whoever may read `unit`: from the relation in force
    /// if it is registered within `unit`, else from the first registration within it.
    pub fn name_within(&self, member_id: &str, unit: &UnitPath) -> Option<String> {
        let record = self.members.get(member_id)?;
        let registered_within = |entry: &&MemberEntry| entry.is_registered() && entry.unit.is_within(unit);
        let in_force = record.primary(self.scope.as_ref()).filter(registered_within);
        in_force
            .into_iter()
            .chain(record.relations.iter().filter(registered_within))
            .find_map(|entry| entry.state.form())
            .map(|form| form.name)
    }

    /// A member's derived view (of the relation [`Projection::member`] returns).
    pub fn member_view(&self, member_id: &str) -> Option<MemberView> {
        self.member(member_id).map(|entry| entry.view(self.as_of(), &self.policy()))
    }

    /// Findings about members held within `unit`: duplicate relations naming a branch
    /// within it, and events filed within it about members not registered there;
    /// sorted by member, then unit.
    pub fn findings_within(&self, unit: &UnitPath) -> Vec<Finding> {
        let mut findings = Vec::new();
        let flagged =
            self.with_findings.iter().filter_map(|id| self.members.get(id.as_str()).map(|record| (id, record)));
        for (member_id, record) in flagged {
            let registered = record.registered_units();
            if registered.len() > 1 && registered.iter().any(|u| u.is_within(unit)) {
                findings.push(Finding::Duplicate {
                    member_id: member_id.clone(),
                    units: registered.iter().cloned().collect(),
                    counted_at: record.in_force_unit(self.scope.as_ref()),
                    settled: record.is_settled(),
                });
            }
            for entry in &record.relations {
                if !entry.is_registered() && entry.unit.is_within(unit) {
                    findings.push(Finding::Unregistered {
                        member_id: member_id.clone(),
                        unit: entry.unit.clone(),
                        events: entry.events,
                        registered_at: registered.iter().cloned().collect(),
                    });
                }
            }
        }
        findings.sort_by(|a, b| a.member_id().cmp(b.member_id()).then_with(|| a.cmp(b)));
        findings
    }

    /// Duplicate relations this node must report: members registered at two or more
    /// branches it holds whose lowest common ancestor is `local_unit`, unless a finding
    /// this unit filed already names them all. `arrived` limits the search to the members
    /// whose registrations just arrived, (member, branch) in the order they were stored:
    /// the member counts at a branch whose registration was held before (or, among those
    /// that arrived together, first), never by an author's clock. `None` searches every
    /// member (at start-up, when arrival order is gone: the earliest stamp counts).
    pub fn duplicates_to_report(
        &self,
        local_unit: &UnitPath,
        arrived: Option<&[(String, UnitPath)]>,
    ) -> Vec<proto::DuplicateRelationFound> {
        let mut found = Vec::new();
        let mut consider = |member_id: &String, record: &MemberRecord, just_arrived: &[&UnitPath]| {
            let held: Vec<&MemberEntry> = record.relations.iter().filter(|e| e.is_registered()).collect();
            if held.len() < 2 || lowest_common_ancestor(held.iter().map(|e| &e.unit)).as_ref() != Some(local_unit) {
                return;
            }
            let reported = record.findings().get(local_unit).and_then(Lww::get).is_some_and(|finding| {
                held.iter().all(|e| finding.relations.iter().any(|claim| claim.unit_path == e.unit.as_str()))
            });
            if reported {
                return;
            }
            let held_before = held
                .iter()
                .filter(|e| !just_arrived.contains(&&e.unit))
                .filter_map(|e| e.first_registered().map(|stamp| (stamp, &e.unit)))
                .min()
                .map(|(_, unit)| unit.clone());
            let first_arrived =
                just_arrived.iter().find(|unit| held.iter().any(|e| &&e.unit == *unit)).map(|u| (*u).clone());
            let counted_at =
                held_before.or(first_arrived).or_else(|| record.earliest_held()).unwrap_or_else(|| local_unit.clone());
            let relations = held
                .iter()
                .filter_map(|entry| {
                    let stamp = entry.first_registered()?;
                    Some(proto::RelationClaim {
                        unit_path: entry.unit.to_string(),
                        replica: bytes::Bytes::copy_from_slice(&stamp.replica().0),
                        seq: stamp.seq.0,
                        hlc_wall_ms: stamp.hlc().wall_ms,
                        hlc_logical: stamp.hlc().logical,
                    })
                })
                .collect();
            found.push(proto::DuplicateRelationFound {
                member_id: member_id.clone(),
                relations,
                counted_at: counted_at.to_string(),
            });
        };
        match arrived {
            Some(arrived) => {
                // One pass over what arrived (a catch-up stores thousands at once): only a
                // member with two relations or more can be a duplicate.
                let mut arrivals: BTreeMap<&String, (&MemberRecord, Vec<&UnitPath>)> = BTreeMap::new();
                for (member, unit) in arrived {
                    if let Some((_, units)) = arrivals.get_mut(member) {
                        units.push(unit);
                    } else if let Some(record) = self.members.get(member.as_str())
                        && record.relations.len() >= 2
                    {
                        arrivals.insert(member, (record, vec![unit]));
                    }
                }
                for (id, (record, just_arrived)) in arrivals {
                    consider(id, record, &just_arrived);
                }
            }
            None => {
                // Two relations or more put a member in `with_findings` (sorted): the
                // rest cannot be duplicates, so a start need not look at every member.
                for id in &self.with_findings {
                    if let Some(record) = self.members.get(id.as_str()) {
                        consider(id, record, &[]);
                    }
                }
            }
        }
        found
    }

    /// Every field in conflict among the members held at branches within `unit`
    /// (concurrent corrections, DESIGN.md §4), sorted by member then field.
    pub fn conflicts_within(&self, unit: &UnitPath) -> Vec<crate::conflict::Conflict> {
        let mut conflicts: Vec<_> = self
            .members
            .iter()
            .flat_map(|(id, record)| record.relations.iter().map(move |entry| (id, entry)))
            .filter(|(_, entry)| entry.unit.is_within(unit))
            .flat_map(|(id, entry)| entry.state.marks().edits.conflicts(id, &entry.unit))
            .collect();
        conflicts.sort_by(|a, b| (&a.member_id, a.field).cmp(&(&b.member_id, b.field)));
        conflicts
    }

    /// Every member as counted: the relation in force of each member registered
    /// somewhere (one per member; registers and lists use it).
    pub fn members(&self) -> impl Iterator<Item = (&str, &MemberEntry)> {
        self.members.iter().filter_map(|(id, record)| {
            let unit = record.in_force_unit(self.scope.as_ref())?;
            record.at(&unit).map(|entry| (&**id, entry))
        })
    }

    /// Every registered relation, in force or not (a member registered at two branches
    /// appears twice).
    pub fn registered_relations(&self) -> impl Iterator<Item = (&str, &MemberEntry)> {
        self.members
            .iter()
            .flat_map(|(id, record)| record.relations.iter().map(move |entry| (&**id, entry)))
            .filter(|(_, entry)| entry.is_registered())
    }

    /// Every member record by id, in no particular order: what a snapshot stores beside
    /// the rest of the projection (which serializes without them).
    pub fn member_records(&self) -> impl Iterator<Item = (&str, &MemberRecord)> {
        self.members.iter().map(|(id, record)| (&**id, record))
    }

    /// Puts back member records a snapshot stored, into a projection deserialized
    /// without them. Restoring every record [`Projection::member_records`] listed gives
    /// back the projection that was stored (`==`).
    pub fn restore_members(&mut self, records: impl IntoIterator<Item = (String, MemberRecord)>) {
        for (member_id, mut record) in records {
            for entry in &mut record.relations {
                entry.unit = shared_unit(&self.subtrees, &entry.unit);
            }
            self.members.insert(member_id.into_boxed_str(), record);
        }
    }

    /// Makes room for `additional` more members (a snapshot says how many it holds).
    pub fn reserve_members(&mut self, additional: usize) {
        self.members.reserve(additional);
    }

    /// Number of members known (registered or not yet).
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// A case by id: the one whose proposal names a member registered at its unit when
    /// two units use one id (only a replica bypassing the rules makes that), else the
    /// first by unit.
    pub fn case(&self, case_id: &str) -> Option<&Case> {
        let by_unit = self.cases.get(case_id)?;
        by_unit
            .iter()
            .find(|(unit, case)| self.relation(&case.view.member_id, unit).is_some_and(MemberEntry::is_registered))
            .or_else(|| by_unit.iter().next())
            .map(|(_, case)| case)
    }

    /// The case `case_id` as filed at `unit`.
    pub fn case_at(&self, unit: &UnitPath, case_id: &str) -> Option<&Case> {
        self.cases.get(case_id).and_then(|by_unit| by_unit.get(unit))
    }

    /// Every case.
    pub fn cases(&self) -> impl Iterator<Item = &Case> {
        self.cases.values().flat_map(|by_unit| by_unit.values())
    }

    /// The views of a member's cases (of the relation [`Projection::member`] returns).
    pub fn cases_of(&self, member_id: &str) -> Vec<&CaseView> {
        match self.member(member_id) {
            Some(entry) => self.cases_of_relation(entry),
            None => Vec::new(),
        }
    }

    /// The views of the cases of one relation.
    pub fn cases_of_relation(&self, entry: &MemberEntry) -> Vec<&CaseView> {
        entry.cases().iter().filter_map(|id| self.case_at(&entry.unit, id).map(|case| &case.view)).collect()
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

    /// Where `unit`'s submission of `table` stands: a verification or return counts only
    /// for the submission it names (a resubmission starts afresh).
    pub fn report_status(&self, unit: &UnitPath, table: u32) -> ReportStatus<'_> {
        let key = (unit.clone(), table);
        let report = self.reports.get(&key).and_then(Lww::get);
        let about_it = |replica: &[u8], seq: u64| report.is_some_and(|r| r.replica.0[..] == *replica && r.seq == seq);
        let verdict = self.verdicts.get(&key).and_then(Lww::get).filter(|v| about_it(&v.report_replica, v.report_seq));
        let returned = self.returns.get(&key).and_then(Lww::get).filter(|r| about_it(&r.report_replica, r.report_seq));
        let state = match (report, returned, verdict) {
            (None, _, _) => ReportState::NotSubmitted,
            (Some(_), Some(_), _) => ReportState::Returned,
            (Some(_), None, Some(verdict)) if verdict.equal => ReportState::Verified,
            (Some(_), None, Some(_)) => ReportState::Differs,
            (Some(_), None, None) => ReportState::Submitted,
        };
        ReportStatus { state, report, verdict, returned }
    }

    /// The submissions of the units directly below `unit` that it has not verified yet
    /// (nor returned): (reporting unit, table, submission).
    pub fn reports_awaiting_verification(&self, unit: &UnitPath) -> Vec<(UnitPath, u32, ReportRecord)> {
        self.reports
            .iter()
            .filter(|((reporter, _), _)| reporter.parent().as_ref() == Some(unit))
            .filter_map(|((reporter, table), record)| {
                let status = self.report_status(reporter, *table);
                (status.state == ReportState::Submitted)
                    .then(|| record.get().map(|report| (reporter.clone(), *table, report.clone())))
                    .flatten()
            })
            .collect()
    }

    /// Every reporting unit that submitted something within `unit` (itself included).
    pub fn reporting_units_within(&self, unit: &UnitPath) -> BTreeSet<UnitPath> {
        self.reports.keys().map(|(reporter, _)| reporter.clone()).filter(|reporter| reporter.is_within(unit)).collect()
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
        let head = self.heads.entry(header.replica).or_default();
        if keep_undo {
            undo.head_before = Some((header.replica, (*head != 0).then_some(*head)));
        }
        *head = (*head).max(header.seq.0);
        match body {
            Body::CampaignOpened(opened) => {
                undo.campaign = keep_undo.then(|| self.campaign.clone());
                undo.policy = Some(stamp);
                let before = (self.as_of(), self.policy());
                self.campaign
                    .set(stamp, Campaign { opened: opened.clone(), opened_on: dates::cst_day(header.hlc.wall_ms) });
                self.policies.set(stamp, Policy::from_proto(opened.policy.as_ref()));
                // Refolding can change a case (a vote judged by another policy) even when
                // the policy in force now is unchanged: recount whenever cases refold.
                let _ = before;
                self.refold_cases();
                self.recount_all();
            }
            Body::PolicyChanged(changed) => {
                undo.policy = Some(stamp);
                self.policies.set(stamp, Policy::from_proto(changed.policy.as_ref()));
                self.refold_cases();
                self.recount_all();
            }
            Body::UnitNamed(named) => {
                let unit = header.unit_path.clone();
                if keep_undo {
                    let held = self.unit_names.get(&unit).and_then(|by_level| by_level.get(&author_level)).cloned();
                    undo.unit_name = Some((unit.clone(), author_level, held));
                }
                // A new unit is known; a name may change a unit's type.
                self.forget_known_units();
                self.unit_names.entry(unit).or_default().entry(author_level).or_default().set(stamp, named.clone());
            }
            Body::ReplicaEnrolled(enrolled) if enrolled.role == proto::ReplicaRole::Node as i32 => {
                if let Ok(unit) = UnitPath::parse(&enrolled.unit_path) {
                    if !self.enrolled_units.contains_key(&unit) {
                        self.forget_known_units();
                    }
                    *self.enrolled_units.entry(unit.clone()).or_default() += 1;
                    undo.enrolled_unit = Some(unit);
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
                        checkpoint: report.checkpoint.clone(),
                        campaign_id: report.campaign_id.clone(),
                    },
                );
            }
            Body::ReportVerified(verdict) => {
                let key = (header.unit_path.clone(), verdict.table);
                if keep_undo {
                    undo.verdict = Some((key.clone(), self.verdicts.get(&key).cloned()));
                }
                self.verdicts.entry(key).or_default().set(stamp, verdict.clone());
            }
            Body::ReportReturned(returned) => {
                let key = (header.unit_path.clone(), returned.table);
                if keep_undo {
                    undo.returned = Some((key.clone(), self.returns.get(&key).cloned()));
                }
                self.returns.entry(key).or_default().set(stamp, returned.clone());
            }
            // A receipt proves when the level above a unit stored its events: one signed
            // at the unit's own level (a university about itself, a branch about its
            // laptops) proves nothing to anyone above and never counts toward a deadline.
            Body::Receipt(_) if header.unit_path.level().is_none_or(|unit_level| author_level >= unit_level) => {}
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
                // A case is filed at its unit: steps at another unit are another case.
                let case_id = case_id_of(body).unwrap_or_default().to_string();
                let unit = &header.unit_path;
                let by_unit = self.cases.entry(case_id.clone()).or_default();
                let held = if keep_undo { by_unit.get(unit).cloned() } else { None };
                let case = by_unit.entry(unit.clone()).or_insert_with(|| Case::new(&case_id));
                case.add(stamp, Step { unit: unit.clone(), author_level, body: body.clone() }, &self.policies);
                let member_id = case.view.member_id.clone();
                if keep_undo {
                    undo.case = Some((case_id.clone(), unit.clone(), held));
                }
                if !member_id.is_empty() {
                    if keep_undo {
                        undo.member = Some((member_id.clone(), self.members.get(member_id.as_str()).cloned()));
                    }
                    let entry = self.relation_entry(&member_id, unit);
                    entry.cases.get_or_insert_default().insert(case_id);
                    self.recount(&member_id);
                }
            }
            Body::DuplicateRelationFound(found) => {
                if keep_undo {
                    undo.member = Some((found.member_id.clone(), self.members.get(found.member_id.as_str()).cloned()));
                }
                let record = self.members.entry(found.member_id.as_str().into()).or_default();
                record.decisions_mut().findings.entry(header.unit_path.clone()).or_default().set(stamp, found.clone());
                self.recount(&found.member_id);
            }
            Body::DuplicateRelationSettled(settled) => {
                if keep_undo {
                    undo.member =
                        Some((settled.member_id.clone(), self.members.get(settled.member_id.as_str()).cloned()));
                }
                let filed_at = header.unit_path.clone();
                let record = self.members.entry(settled.member_id.as_str().into()).or_default();
                record.decisions_mut().settlements.entry(filed_at).or_default().set(stamp, settled.clone());
                self.recount(&settled.member_id);
            }
            _ => {
                if let Some(member_id) = member_id_of(body) {
                    let member_id = member_id.to_string();
                    if keep_undo {
                        undo.member = Some((member_id.clone(), self.members.get(member_id.as_str()).cloned()));
                    }
                    let entry = self.relation_entry(&member_id, &header.unit_path);
                    entry.events += 1;
                    let earliest_before = entry.first_registered();
                    fold_member(entry, header, stamp, body);
                    if matches!(body, Body::MemberRegistered(_)) {
                        entry.registered(earliest_before, stamp);
                    }
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
        if let Some((replica, before)) = undo.head_before {
            match before {
                Some(seq) => self.heads.insert(replica, seq),
                None => self.heads.remove(&replica),
            };
        }
        if let Some((case_id, unit, held)) = undo.case {
            let by_unit = self.cases.entry(case_id.clone()).or_default();
            match held {
                Some(case) => {
                    by_unit.insert(unit, case);
                }
                None => {
                    by_unit.remove(&unit);
                    if by_unit.is_empty() {
                        self.cases.remove(&case_id);
                    }
                }
            }
        }
        if let Some((member_id, held)) = undo.member {
            let counted_now: Vec<(UnitPath, Contribution)> = self
                .members
                .get(member_id.as_str())
                .into_iter()
                .flat_map(|record| record.relations.iter().filter_map(MemberEntry::counted_at))
                .collect();
            for (unit, contribution) in counted_now {
                self.count(&unit, contribution, -1);
            }
            match held {
                Some(record) => {
                    let counted_then: Vec<(UnitPath, Contribution)> =
                        record.relations.iter().filter_map(MemberEntry::counted_at).collect();
                    for (unit, contribution) in counted_then {
                        self.count(&unit, contribution, 1);
                    }
                    self.members.insert(member_id.as_str().into(), record);
                }
                None => {
                    self.members.remove(member_id.as_str());
                }
            }
            self.note_findings(&member_id);
        }
        if let Some((unit, level, held)) = undo.unit_name {
            self.forget_known_units();
            let by_level = self.unit_names.entry(unit.clone()).or_default();
            match held {
                Some(named) => {
                    by_level.insert(level, named);
                }
                None => {
                    by_level.remove(&level);
                    if by_level.is_empty() {
                        self.unit_names.remove(&unit);
                    }
                }
            }
        }
        if let Some(unit) = undo.enrolled_unit
            && let Some(count) = self.enrolled_units.get_mut(&unit)
        {
            *count -= 1;
            if *count == 0 {
                self.enrolled_units.remove(&unit);
                self.forget_known_units();
            }
        }
        if let Some(campaign) = undo.campaign {
            self.campaign = campaign;
        }
        if let Some(stamp) = undo.policy {
            self.policies.remove(&stamp);
            self.refold_cases();
            self.recount_all();
        }
        if let Some((key, held)) = undo.report {
            match held {
                Some(report) => self.reports.insert(key, report),
                None => self.reports.remove(&key),
            };
        }
        if let Some((key, held)) = undo.verdict {
            match held {
                Some(verdict) => self.verdicts.insert(key, verdict),
                None => self.verdicts.remove(&key),
            };
        }
        if let Some((key, held)) = undo.returned {
            match held {
                Some(returned) => self.returns.insert(key, returned),
                None => self.returns.remove(&key),
            };
        }
        for (key, held) in undo.receipts.into_iter().rev() {
            match held {
                Some(receipts) => self.receipts.insert(key, receipts),
                None => self.receipts.remove(&key),
            };
        }
    }

    /// The relation of `member_id` at `unit`, created empty if new.
    fn relation_entry(&mut self, member_id: &str, unit: &UnitPath) -> &mut MemberEntry {
        let record = self.members.entry(member_id.into()).or_default();
        let index = match record.relations.binary_search_by(|entry| entry.unit.cmp(unit)) {
            Ok(index) => index,
            Err(index) => {
                let unit = shared_unit(&self.subtrees, unit);
                // Exactly as many slots as relations: almost every member has one, and
                // a Vec's first growth would reserve four (an entry is hundreds of bytes).
                let mut relations = Vec::with_capacity(record.relations.len() + 1);
                relations.extend(std::mem::take(&mut record.relations));
                relations.insert(
                    index,
                    MemberEntry {
                        unit,
                        earlier_registration: None,
                        events: 0,
                        state: MemberState::default(),
                        cases: None,
                        counted: None,
                    },
                );
                record.relations = relations.into_boxed_slice();
                index
            }
        };
        &mut record.relations[index]
    }

    fn count(&mut self, unit: &UnitPath, contribution: Contribution, sign: i32) {
        let (was_counting, now_counting) = match self.units.get_mut(unit) {
            Some(counters) => {
                counters.add(contribution, sign);
                let now_counting = !counters.is_empty();
                if !now_counting {
                    self.units.remove(unit);
                }
                (true, now_counting)
            }
            None => {
                let counters = Counters::of(contribution, sign);
                let now_counting = !counters.is_empty();
                if now_counting {
                    self.units.insert(unit.clone(), counters);
                }
                (false, now_counting)
            }
        };
        if was_counting != now_counting {
            self.forget_known_units();
        }
        let organisations: isize = match (was_counting, now_counting) {
            (false, true) => 1,
            (true, false) => -1,
            _ => 0,
        };
        // Up the tree by text: a subtree held already is linked from its parent's
        // children (both are kept together below), so only a subtree that appears or
        // disappears touches `children`, and only one that appears makes a path.
        for current in unit.self_and_ancestors() {
            let parent = current.rfind('/').map(|idx| &current[..idx]);
            match self.subtrees.get_mut(current) {
                Some((counters, orgs)) => {
                    counters.add(contribution, sign);
                    *orgs = orgs.saturating_add_signed(organisations);
                    if counters.is_empty() {
                        self.subtrees.remove(current);
                        if let Some(parent) = parent
                            && let Some(siblings) = self.children.get_mut(parent)
                        {
                            siblings.remove(current);
                            if siblings.is_empty() {
                                self.children.remove(parent);
                            }
                        }
                    }
                }
                None => {
                    let counters = Counters::of(contribution, sign);
                    if counters.is_empty() {
                        continue;
                    }
                    let path = unit.self_or_ancestor(current);
                    self.subtrees.insert(path.clone(), (counters, 0usize.saturating_add_signed(organisations)));
                    if let Some(parent) = parent {
                        if let Some(siblings) = self.children.get_mut(parent) {
                            siblings.insert(path);
                        } else {
                            self.children.insert(unit.self_or_ancestor(parent), BTreeSet::from([path]));
                        }
                    }
                }
            }
        }
    }

    /// Recomputes what each relation of a member is counted as (only the relation in
    /// force counts), and moves the contributions.
    /// Whether a member has a finding, kept in `with_findings`.
    fn note_findings(&mut self, member_id: &str) {
        let has = self.members.get(member_id).is_some_and(|record| {
            record.relations.len() > 1
                || !record.findings().is_empty()
                || record.relations.iter().any(|entry| !entry.is_registered())
        });
        if has {
            if !self.with_findings.contains(member_id) {
                self.with_findings.insert(member_id.to_string());
            }
        } else {
            self.with_findings.remove(member_id);
        }
    }

    fn recount(&mut self, member_id: &str) {
        self.note_findings(member_id);
        let as_of = self.as_of();
        let policy = self.policy();
        let Some(record) = self.members.get(member_id) else { return };
        let in_force = record.in_force_unit(self.scope.as_ref());
        let mut changes: Vec<(usize, Option<Contribution>)> = Vec::new();
        for (index, entry) in record.relations.iter().enumerate() {
            let counted = if in_force.as_ref() == Some(&entry.unit) {
                let view = entry.view(as_of, &policy);
                let cases = self.cases_of_relation(entry);
                let contribution = contribution(&view, &cases, as_of);
                view.unit.filter(|_| contribution.metrics != 0).map(|_| contribution)
            } else {
                None
            };
            if counted != entry.counted {
                changes.push((index, counted));
            }
        }
        for (index, after) in changes {
            let Some(entry) = self.members.get_mut(member_id).map(|record| &mut record.relations[index]) else {
                continue;
            };
            let before = std::mem::replace(&mut entry.counted, after);
            let unit = entry.unit.clone();
            if let Some(contribution) = before {
                self.count(&unit, contribution, -1);
            }
            if let Some(contribution) = after {
                self.count(&unit, contribution, 1);
            }
        }
    }

    /// Folds every case again, each step by the policy in force at its stamp.
    fn refold_cases(&mut self) {
        let policies = &self.policies;
        for by_unit in self.cases.values_mut() {
            for case in by_unit.values_mut() {
                case.refold(policies);
            }
        }
    }

    fn recount_all(&mut self) {
        let ids: Vec<String> = self.members.keys().map(|id| id.to_string()).collect();
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
            state.register(stamp, registered.form.as_ref().unwrap_or(&proto::MemberForm::default()));
        }
        Body::RecordCorrected(correction) => state.correct(header, correction),
        Body::RecordFlagged(flag) => state.flag(stamp, flag.field),
        Body::ArchiveReviewed(review) => state.archive_review.set(stamp, ArchiveReview::of(review)),
        Body::ArchiveMaterialAdded(added) => state.materials_added |= 1 << added.material.clamp(0, 31),
        Body::ContactStatusAssessed(contact) => state.contact.set(stamp, ContactAssessment::of(contact)),
        Body::TransferStubChecked(stub) => state.extra_mut().transfer.set(stamp, stub.clone()),
        Body::ReceivingUnitConfirmed(answer) => state.extra_mut().receiving.set(stamp, answer.clone()),
        Body::ConductNoted(note) => {
            state.conduct_noted = true;
            if note.violation_reported {
                state.extra_mut().violations_reported += 1;
            }
        }
        Body::ViolationReferred(_) => state.extra_mut().referrals += 1,
        Body::StatsDiscrepancyFound(found) => {
            let slot = state.extra_mut().discrepancies.entry(found.field).or_default();
            slot.found.set(stamp, (found.form_value.clone(), found.stats_db_value.clone()));
        }
        Body::StatsDiscrepancyResolved(resolved) => {
            let slot = state.extra_mut().discrepancies.entry(resolved.field).or_default();
            slot.resolved = slot.resolved.max(Some(stamp));
        }
        Body::FormSignedOff(signed) => {
            if let Ok(stage) = proto::form_signed_off::Stage::try_from(signed.stage) {
                state.signoffs.add(stage, stamp);
            }
        }
        Body::ContactAttempted(attempt) => state.extra_mut().attempts.add(attempt),
        Body::MemberLocated(located) => state.extra_mut().located.set(stamp, located.clone()),
        Body::ManagementActionTaken(action) => {
            state.extra_mut().actions.entry(action.action).or_default().set(stamp, action.clone());
        }
        Body::SpotCheckRecorded(check) => {
            if check.passed {
                state.extra_mut().spot_checks.0 += 1;
            } else {
                state.extra_mut().spot_checks.1 += 1;
            }
        }
        _ => {}
    }
}
