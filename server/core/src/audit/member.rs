//! The state of one member, folded from every event about them.
//!
//! Every part of the state is merged so that the result depends on the *set* of events,
//! never on the order they arrived in (DESIGN.md section 4): single values are
//! last-writer-wins by [`Stamp`] (hybrid-logical time, then replica, then seq — a total
//! order on events), and collections are unions or counts of distinct events (the store
//! never applies an event twice).
//!
//! [`MemberState::view`] derives what people ask for (lost or not, pocket, archive
//! complete, ...) from the state and the campaign's as-of date, using the rules of
//! DOMAIN.md section 6: computed, never asked for.
//!
//! A province holds millions of these, so the state keeps what the view and the rules
//! read, compactly: the registration form as its protobuf encoding (decoded when a
//! member is shown) with the seven fields counting reads decoded beside it
//! ([`FormEssentials`], kept equal to the form in force), of a contact assessment the
//! status, situation and dates ([`ContactAssessment`]), of an archive review the
//! materials present and the doubts ([`ArchiveReview`]), the sign-offs of all three
//! stages in one allocation ([`SignOffs`]), each [`Stamp`] in 24 bytes, and corrections
//! and the latest flag of each field ([`RecordMarks`]) in a small part of their own
//! beside the rest of what few members have; the events hold the rest.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::audit::dates;
use crate::audit::policy::Policy;
use crate::conflict::FieldEdits;
use crate::event::{Header, ReplicaId, ReplicaNumber, Seq};
use crate::hlc::HlcTime;
use crate::proto;
use crate::unit::UnitPath;

/// The total order of events used for last-writer-wins: causally later events have
/// later hybrid-logical times, and ties between replicas are broken by key, then seq.
///
/// A province keeps five to eight stamps a member, so a stamp is 24 bytes: the
/// hybrid-logical time's two parts side by side (an [`HlcTime`] inside would bring its
/// padding), and the replica as its number in the process's table of keys
/// ([`ReplicaId::number`]) instead of the 32-byte key. Comparisons read the key itself
/// when the times tie, so the order is the keys' order, whatever order replicas were
/// first seen in; the serialized form is the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(from = "StampFields", into = "StampFields")]
pub struct Stamp {
    /// When, by the writer's clock: [`HlcTime::wall_ms`].
    wall_ms: u64,
    /// [`HlcTime::logical`].
    logical: u32,
    /// The writer.
    replica: ReplicaNumber,
    /// Position in the writer's log.
    pub seq: Seq,
}

impl Ord for Stamp {
    fn cmp(&self, other: &Stamp) -> std::cmp::Ordering {
        self.hlc()
            .cmp(&other.hlc())
            .then_with(|| {
                if self.replica == other.replica { Ordering::Equal } else { self.replica().cmp(&other.replica()) }
            })
            .then(self.seq.cmp(&other.seq))
    }
}

impl PartialOrd for Stamp {
    fn partial_cmp(&self, other: &Stamp) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stamp")
            .field("hlc", &self.hlc())
            .field("replica", &self.replica())
            .field("seq", &self.seq)
            .finish()
    }
}

impl Stamp {
    /// The stamp of an event.
    pub fn of(header: &Header) -> Stamp {
        Stamp::new(header.hlc, header.replica, header.seq)
    }

    /// The stamp of the event `seq` of `replica`, written at `hlc`.
    pub fn new(hlc: HlcTime, replica: ReplicaId, seq: Seq) -> Stamp {
        Stamp { wall_ms: hlc.wall_ms, logical: hlc.logical, replica: replica.number(), seq }
    }

    /// When, by the writer's clock.
    pub fn hlc(&self) -> HlcTime {
        HlcTime { wall_ms: self.wall_ms, logical: self.logical }
    }

    /// The writer.
    pub fn replica(&self) -> ReplicaId {
        self.replica.key()
    }

    /// Last-writer-wins: a value stamped `self` replaces the one stamped `held` (none
    /// held, or an earlier stamp). The one rule of [`Lww`], [`LwwInline`] and
    /// [`MemberState::register`].
    pub fn supersedes(self, held: Option<Stamp>) -> bool {
        held.is_none_or(|held| self > held)
    }
}

/// A [`Stamp`] as stored: the key itself.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
struct StampFields {
    hlc: HlcTime,
    replica: ReplicaId,
    seq: Seq,
}

impl From<StampFields> for Stamp {
    fn from(fields: StampFields) -> Stamp {
        Stamp::new(fields.hlc, fields.replica, fields.seq)
    }
}

impl From<Stamp> for StampFields {
    fn from(stamp: Stamp) -> StampFields {
        StampFields { hlc: stamp.hlc(), replica: stamp.replica(), seq: stamp.seq }
    }
}

/// A last-writer-wins register. The value is boxed: most registers of most members
/// stay empty, and an empty one costs one pointer.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lww<T> {
    value: Option<Box<(Stamp, T)>>,
}

impl<T> Default for Lww<T> {
    fn default() -> Lww<T> {
        Lww { value: None }
    }
}

impl<T> Lww<T> {
    /// Keeps `value` if it is later than the one held.
    pub fn set(&mut self, stamp: Stamp, value: T) {
        if stamp.supersedes(self.stamp()) {
            self.value = Some(Box::new((stamp, value)));
        }
    }
    /// The value in force.
    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|held| &held.1)
    }
    /// The stamp of the value in force.
    pub fn stamp(&self) -> Option<Stamp> {
        self.value.as_ref().map(|held| held.0)
    }
}

/// A last-writer-wins register held inline: for what nearly every member has once the
/// audit reaches it (the registration, a contact assessment, an archive review), where a
/// box would cost a pointer, an allocation and its rounding on top of the value.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LwwInline<T> {
    value: Option<(Stamp, T)>,
}

impl<T> Default for LwwInline<T> {
    fn default() -> LwwInline<T> {
        LwwInline { value: None }
    }
}

impl<T> LwwInline<T> {
    /// Keeps `value` if it is later than the one held.
    pub fn set(&mut self, stamp: Stamp, value: T) {
        if stamp.supersedes(self.stamp()) {
            self.value = Some((stamp, value));
        }
    }
    /// The value in force.
    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|held| &held.1)
    }
    /// The stamp of the value in force.
    pub fn stamp(&self) -> Option<Stamp> {
        self.value.as_ref().map(|held| held.0)
    }
}

/// Every contact attempt, summarised so that the summary commutes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attempts {
    /// Number of attempts recorded.
    pub count: u32,
    /// Bit `m` set: method `m` (`proto::ContactMethod`) was used.
    pub methods: u32,
    /// Bit `d` set: department `d` was asked.
    pub departments: u32,
    /// Earliest attempt.
    pub earliest: Option<NaiveDate>,
    /// Latest attempt.
    pub latest: Option<NaiveDate>,
    /// Some attempt reached the member.
    pub reached: bool,
    /// Attempts by method (`proto::ContactMethod`): the registers' 查找方式及次数.
    pub by_method: BTreeMap<i32, u32>,
}

impl Attempts {
    /// Takes one attempt into account.
    pub fn add(&mut self, attempt: &proto::ContactAttempted) {
        self.count += 1;
        self.methods |= 1 << (attempt.method.clamp(0, 31) as u32);
        *self.by_method.entry(attempt.method).or_default() += 1;
        if attempt.method == proto::ContactMethod::ThroughDepartment as i32 {
            self.departments |= 1 << (attempt.department.clamp(0, 31) as u32);
        }
        if let Some(on) = dates::opt(attempt.attempted_on.as_ref()) {
            self.earliest = Some(self.earliest.map_or(on, |held| held.min(on)));
            self.latest = Some(self.latest.map_or(on, |held| held.max(on)));
        }
        if attempt.outcome == proto::contact_attempted::Outcome::Reached as i32 {
            self.reached = true;
        }
    }

    /// The distinct search channels used (DOMAIN.md section 2): direct, through
    /// people, through departments, other.
    pub fn channels(&self) -> u32 {
        use proto::ContactMethod as M;
        let bit = |method: M| self.methods & (1 << method as u32) != 0;
        let direct = bit(M::Phone) || bit(M::Sms) || bit(M::HomeVisit);
        let people = bit(M::ThroughPeople);
        let departments = bit(M::ThroughDepartment);
        let other = bit(M::SocialNetwork)
            || bit(M::TelecomOperator)
            || bit(M::Hotline12371)
            || bit(M::OriginOrgDept)
            || bit(M::OtherMethod);
        [direct, people, departments, other].into_iter().filter(|used| *used).count() as u32
    }

    /// Whole months between the first and the last attempt.
    pub fn span_months(&self) -> i64 {
        match (self.earliest, self.latest) {
            (Some(first), Some(last)) => dates::whole_months(first, last),
            _ => 0,
        }
    }
}

/// Everything known about one member.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemberState {
    /// The registration in force, as its encoded `proto::MemberForm` (filed at the
    /// relation's unit, which the relation holds).
    pub(crate) registration: LwwInline<EncodedForm>,
    /// What counting reads of the form in force (the registration with every
    /// correction applied); `None` without a registration. Kept by `register` and
    /// `correct`, so not writable from outside.
    essentials: Option<FormEssentials>,
    /// Latest archive review.
    pub archive_review: LwwInline<ArchiveReview>,
    /// Bit `m` set: archive material `m` was added.
    pub materials_added: u32,
    /// Latest contact-status assessment.
    pub contact: LwwInline<ContactAssessment>,
    /// A conduct note was recorded (五核查之五).
    pub conduct_noted: bool,
    /// The sign-offs of the per-member form, by stage, each with the stamps it was
    /// recorded at (a chain counts only in the form's order: 本人确认, then 支部初核,
    /// then 基层党委复核).
    pub signoffs: SignOffs,
    /// What most members never have; `None` until an event records some of it.
    rare: Option<Box<Rare>>,
}

/// What most members never have, in two parts: the roster check's marks, which a
/// few in a hundred members get and little else, and the rest, which the lost, the
/// pocket and members with a disposition get. `Rare` exists exactly when an event of
/// either part's kinds was applied (the marks then held, empty or not), `extra` exactly
/// when one of its own kinds was, so two projections of the same events agree on both.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Rare {
    marks: RecordMarks,
    extra: Option<Box<MemberExtra>>,
}

static NO_MARKS: std::sync::LazyLock<RecordMarks> = std::sync::LazyLock::new(RecordMarks::default);

/// The roster check's marks on a member's record (五核查之一): corrections of fields,
/// with their conflicts ([`FieldEdits`]), and flags ("cannot be known yet").
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RecordMarksStored")]
pub struct RecordMarks {
    /// Every correction, and the value in force of each corrected field.
    pub edits: FieldEdits,
    /// The latest flag of each flagged field, by field (the note stays in the event).
    flags: Box<[(i32, Stamp)]>,
}

/// [`RecordMarks`] as read back from a snapshot, checked before use.
#[derive(serde::Deserialize)]
struct RecordMarksStored {
    edits: FieldEdits,
    flags: Box<[(i32, Stamp)]>,
}

impl TryFrom<RecordMarksStored> for RecordMarks {
    type Error = &'static str;
    /// The flags are searched by field: one each, in order.
    fn try_from(stored: RecordMarksStored) -> Result<RecordMarks, &'static str> {
        if stored.flags.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            Ok(RecordMarks { edits: stored.edits, flags: stored.flags })
        } else {
            Err("flags not in order of field, or repeated")
        }
    }
}

impl RecordMarks {
    /// Records a flag of `field` stamped `stamp`, if later than the flag held.
    fn flag(&mut self, field: i32, stamp: Stamp) {
        match self.flags.binary_search_by_key(&field, |(flagged, _)| *flagged) {
            Ok(at) => {
                if stamp.supersedes(Some(self.flags[at].1)) {
                    self.flags[at].1 = stamp;
                }
            }
            Err(at) => {
                let flags = crate::conflict::inserted(&self.flags, at, (field, stamp));
                self.flags = crate::conflict::within_fields(flags, |(field, _)| *field);
            }
        }
    }

    /// Flags not followed by a correction of their field.
    pub fn open_flags(&self) -> u32 {
        let corrected_after =
            |field: i32, flagged: Stamp| self.edits.last_corrected(field).is_some_and(|c| c > flagged);
        self.flags.iter().filter(|(field, flagged)| !corrected_after(*field, *flagged)).count() as u32
    }

    /// Some field was flagged.
    pub fn any_flag(&self) -> bool {
        !self.flags.is_empty()
    }
}

/// The parts of a member's state most members never have besides the roster check's
/// marks — the search for a lost member, transfers, discrepancies, management actions,
/// spot checks, violations — boxed, so a member without them costs one pointer. It
/// exists exactly when an event of one of its kinds was applied, so two projections of
/// the same events agree on it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemberExtra {
    /// Latest transfer-stub check.
    pub transfer: Lww<proto::TransferStubChecked>,
    /// Latest answer from a receiving unit.
    pub receiving: Lww<proto::ReceivingUnitConfirmed>,
    /// Conduct notes that report a violation.
    pub violations_reported: u32,
    /// Referrals to the discipline commission or police.
    pub referrals: u32,
    /// Statistics-database discrepancies by field.
    pub discrepancies: BTreeMap<i32, Discrepancy>,
    /// Contact attempts.
    pub attempts: Attempts,
    /// Latest "located" record.
    pub located: Lww<proto::MemberLocated>,
    /// Latest management action of each kind (`proto::ManagementAction`).
    pub actions: BTreeMap<i32, Lww<proto::ManagementActionTaken>>,
    /// Spot checks recorded (passed, failed).
    pub spot_checks: (u32, u32),
}

static NO_EXTRA: std::sync::LazyLock<MemberExtra> = std::sync::LazyLock::new(MemberExtra::default);

/// A registration form as its protobuf encoding. Serialized (in a projection snapshot)
/// as one byte string, not byte by byte as serde writes a `Box<[u8]>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedForm(Box<[u8]>);

impl serde::Serialize for EncodedForm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for EncodedForm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<EncodedForm, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = EncodedForm;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an encoded registration form")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<EncodedForm, E> {
                Ok(EncodedForm(bytes.into()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<EncodedForm, E> {
                Ok(EncodedForm(bytes.into_boxed_slice()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<EncodedForm, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(byte) = seq.next_element()? {
                    bytes.push(byte);
                }
                Ok(EncodedForm(bytes.into_boxed_slice()))
            }
        }
        deserializer.deserialize_bytes(Bytes)
    }
}

/// What counting reads of a member's form in force: the fields [`MemberState::view`]
/// derives from it (the form itself is kept encoded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FormEssentials {
    /// `proto::PersonGroup`.
    pub person_group: i32,
    /// `proto::MemberCategory`.
    pub category: i32,
    /// `proto::MembershipStatus`.
    pub membership_status: i32,
    /// `proto::LostSituation` as registered.
    pub lost_situation: i32,
    /// Registered as lost.
    pub lost: bool,
    /// Registered as flowing.
    pub flowing: bool,
    /// Lost since, as registered.
    pub lost_since: Option<NaiveDate>,
}

impl FormEssentials {
    /// The essentials of `form`.
    pub fn of(form: &proto::MemberForm) -> FormEssentials {
        FormEssentials {
            person_group: form.person_group,
            category: form.category,
            membership_status: form.membership_status,
            lost_situation: form.lost_situation,
            lost: form.lost,
            flowing: form.flowing,
            lost_since: dates::opt(form.lost_since.as_ref()),
        }
    }
}

/// What the view reads of an archive review (its note stays in the event).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveReview {
    /// Bit `m` set: material `m` (`proto::ArchiveMaterial`) was found present.
    pub present: u32,
    /// The member's identity is in doubt.
    pub identity_doubtful: bool,
    /// The admission was irregular.
    pub irregular_admission: bool,
    /// The archive is suspected fake.
    pub suspected_fake: bool,
}

impl ArchiveReview {
    /// The parts of `reviewed` the view reads.
    pub fn of(reviewed: &proto::ArchiveReviewed) -> ArchiveReview {
        ArchiveReview {
            present: reviewed.present.iter().fold(0, |bits, material| bits | 1 << (*material).clamp(0, 31)),
            identity_doubtful: reviewed.identity_doubtful,
            irregular_admission: reviewed.irregular_admission,
            suspected_fake: reviewed.suspected_fake,
        }
    }
}

/// What the view reads of a contact-status assessment (where the member went and why
/// stay in the event).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContactAssessment {
    /// `proto::ContactStatus`.
    pub status: i32,
    /// `proto::LostSituation`.
    pub situation: i32,
    /// Last organisation life attended.
    pub last_org_life: Option<NaiveDate>,
    /// Last dues paid.
    pub last_dues: Option<NaiveDate>,
    /// Last work assigned by the Party done.
    pub last_assigned_work: Option<NaiveDate>,
    /// Holds a 流动党员活动证.
    pub has_flowing_card: bool,
}

impl ContactAssessment {
    /// The parts of `assessed` the view reads.
    pub fn of(assessed: &proto::ContactStatusAssessed) -> ContactAssessment {
        ContactAssessment {
            status: assessed.status,
            situation: assessed.situation,
            last_org_life: dates::opt(assessed.last_org_life.as_ref()),
            last_dues: dates::opt(assessed.last_dues.as_ref()),
            last_assigned_work: dates::opt(assessed.last_assigned_work.as_ref()),
            has_flowing_card: assessed.has_flowing_card,
        }
    }
}

/// A field on which the per-member form and the Party-statistics database disagree.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Discrepancy {
    /// The latest finding: (value on the form, value in the statistics database).
    pub found: Lww<(String, String)>,
    /// The latest resolution.
    pub resolved: Option<Stamp>,
}

impl Discrepancy {
    /// Found after the latest resolution (or never resolved).
    pub fn is_open(&self) -> bool {
        self.found.stamp().is_some_and(|found| Some(found) > self.resolved)
    }
}

/// What people ask about a member, derived from [`MemberState`] as of a date.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberView {
    /// Registered (has a form).
    pub registered: bool,
    /// The branch that holds the member's relation.
    pub unit: Option<UnitPath>,
    /// Still on this organisation's roll (not transferred out, not removed).
    pub on_roll: bool,
    /// `proto::PersonGroup` (rows of tables 2 and 3).
    pub group: i32,
    /// Probationary member (预备党员).
    pub probationary: bool,
    /// Lost (失联): assessed so, or last organisation life and dues both ≥ 6 months old.
    pub lost: bool,
    /// Since when.
    pub lost_since: Option<NaiveDate>,
    /// 失去联系情形 (`proto::LostSituation`).
    pub situation: i32,
    /// Located after being lost.
    pub found: bool,
    /// Located on.
    pub found_on: Option<NaiveDate>,
    /// Flowing (流动党员).
    pub flowing: bool,
    /// Holds a flowing-member card.
    pub flowing_card: bool,
    /// Pocket member (口袋党员): letter out, no receipt, expired or > 6 months old.
    pub pocket: bool,
    /// A pocket case resolved (registered by the receiving unit, or re-issued).
    pub pocket_resolved: bool,
    /// Relation retained for abroad.
    pub retained: bool,
    /// Membership stopped (停止党籍).
    pub stopped: bool,
    /// Included in management after being found.
    pub included: bool,
    /// 五核查 done (the column definitions of table 1, [`crate::audit::tables::DEFINITIONS`]):
    /// the roster (the branch's 支部初核, or a correction or flag of the record), the
    /// archive (a review), dues and organisation life (a contact assessment) and conduct
    /// (a note) are recorded. The fourth check, of transfer-letter stubs, is of the
    /// branch's stub book, not of each member on its roll.
    pub checked: bool,
    /// The form is signed: 本人确认 then 支部初核, in order.
    pub form_confirmed: bool,
    /// Form re-checked by the committee.
    pub committee_checked: bool,
    /// Some field was corrected.
    pub corrected: bool,
    /// Fields flagged and not corrected since.
    pub open_flags: u32,
    /// Statistics-database discrepancies not resolved.
    pub open_discrepancies: u32,
    /// Archive reviewed and some required material missing.
    pub archive_incomplete: bool,
    /// Archive reviewed and all required materials present.
    pub archive_complete: bool,
    /// Identity doubtful, irregular admission or suspected fake.
    pub suspected_irregular: bool,
    /// A violation reported and not referred.
    pub unreferred_violation: bool,
    /// Any of the three six-month gaps (life, dues, work): a flag for people to judge.
    pub self_separation_candidate: bool,
}

/// The sign-offs recorded for one member's form, by stage. Kept as sets of stamps so
/// the chain's validity depends only on the set of events: a stage counts only when an
/// earlier stage of the chain was recorded before it.
///
/// All three stages share one allocation of stamps, sorted by stage then stamp, exactly
/// as long as what was recorded, with where each stage ends beside it (most members have
/// one sign-off of each stage, and a province holds millions: three `Vec`s cost 72 bytes
/// inline and three allocations, a stage beside each stamp 8 bytes more a stamp).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "Box<[(SignOffStage, Stamp)]>", try_from = "Box<[(SignOffStage, Stamp)]>")]
pub struct SignOffs {
    /// The stamps, by stage then stamp.
    stamps: Box<[Stamp]>,
    /// `ends[i]`: how many stamps belong to the stages before stage `i + 1` (so the
    /// member's own confirmations are `stamps[..ends[0]]`, the branch's checks
    /// `stamps[ends[0]..ends[1]]`, the committee's the rest).
    ends: [u32; 2],
}

impl From<SignOffs> for Box<[(SignOffStage, Stamp)]> {
    fn from(signoffs: SignOffs) -> Box<[(SignOffStage, Stamp)]> {
        SignOffStage::ALL
            .into_iter()
            .flat_map(|stage| signoffs.stamps(stage).map(move |stamp| (stage, stamp)))
            .collect()
    }
}

impl TryFrom<Box<[(SignOffStage, Stamp)]>> for SignOffs {
    type Error = &'static str;
    /// Read back (a snapshot): the order [`SignOffs::stamps`] relies on is checked.
    fn try_from(recorded: Box<[(SignOffStage, Stamp)]>) -> Result<SignOffs, &'static str> {
        if !recorded.windows(2).all(|pair| pair[0] < pair[1]) {
            return Err("sign-offs not in order, or repeated");
        }
        let end = |stage: SignOffStage| recorded.partition_point(|(recorded, _)| *recorded <= stage);
        let ends = [end(SignOffStage::MemberConfirmed), end(SignOffStage::BranchChecked)]
            .map(|end| u32::try_from(end).map_err(|_| "more than 2^32 sign-offs"));
        Ok(SignOffs { stamps: recorded.iter().map(|(_, stamp)| *stamp).collect(), ends: [ends[0]?, ends[1]?] })
    }
}

/// A stage of the per-member form's sign-off chain, in the chain's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum SignOffStage {
    /// 本人确认.
    MemberConfirmed,
    /// 支部初核.
    BranchChecked,
    /// 基层党委复核.
    CommitteeRechecked,
}

impl SignOffStage {
    /// Every stage, in the chain's order.
    pub const ALL: [SignOffStage; 3] =
        [SignOffStage::MemberConfirmed, SignOffStage::BranchChecked, SignOffStage::CommitteeRechecked];

    /// From the wire value; `None` for unspecified.
    pub fn from_proto(stage: proto::form_signed_off::Stage) -> Option<SignOffStage> {
        use proto::form_signed_off::Stage as S;
        match stage {
            S::MemberConfirmed => Some(SignOffStage::MemberConfirmed),
            S::BranchChecked => Some(SignOffStage::BranchChecked),
            S::CommitteeRechecked => Some(SignOffStage::CommitteeRechecked),
            S::Unspecified => None,
        }
    }
}

impl SignOffs {
    /// Records one sign-off (once, however often it arrives).
    pub fn add(&mut self, stage: proto::form_signed_off::Stage, stamp: Stamp) {
        let Some(stage) = SignOffStage::from_proto(stage) else { return };
        let (from, to) = self.range(stage);
        if let Err(at) = self.stamps[from..to].binary_search(&stamp) {
            self.stamps = crate::conflict::inserted(&self.stamps, from + at, stamp);
            // A stage's stamps move every later stage's start by one. Bounded as the
            // event count is: four billion sign-offs of one member are not held.
            for (index, end) in self.ends.iter_mut().enumerate() {
                if index >= stage as usize {
                    *end = end.checked_add(1).expect("fewer than 2^32 sign-offs of one member");
                }
            }
        }
    }

    /// Where `stage`'s stamps lie in `stamps`.
    fn range(&self, stage: SignOffStage) -> (usize, usize) {
        let [confirmed, checked] = self.ends.map(|end| end as usize);
        match stage {
            SignOffStage::MemberConfirmed => (0, confirmed),
            SignOffStage::BranchChecked => (confirmed, checked),
            SignOffStage::CommitteeRechecked => (checked, self.stamps.len()),
        }
    }

    /// The stamps `stage` was recorded at, earliest first.
    pub fn stamps(&self, stage: SignOffStage) -> impl DoubleEndedIterator<Item = Stamp> + '_ {
        let (from, to) = self.range(stage);
        self.stamps[from..to].iter().copied()
    }

    /// The earliest 支部初核 that follows a 本人确认.
    fn first_valid_branch_check(&self) -> Option<Stamp> {
        let confirmed = self.stamps(SignOffStage::MemberConfirmed).next()?;
        self.stamps(SignOffStage::BranchChecked).find(|stamp| *stamp > confirmed)
    }

    /// The branch's first check follows the member's own confirmation.
    pub fn branch_checked_in_order(&self) -> bool {
        self.first_valid_branch_check().is_some()
    }

    /// The whole chain, in order: confirmed, then checked by the branch, then
    /// re-checked by the committee.
    pub fn committee_rechecked_in_order(&self) -> bool {
        self.first_valid_branch_check().is_some_and(|checked| {
            self.stamps(SignOffStage::CommitteeRechecked).next_back().is_some_and(|rechecked| rechecked > checked)
        })
    }

    /// Which stage was reached, any order (for authoring rules and display).
    pub fn has(&self, stage: proto::form_signed_off::Stage) -> bool {
        SignOffStage::from_proto(stage).is_some_and(|stage| self.stamps(stage).next().is_some())
    }
}

impl MemberState {
    /// The parts most members never have (empty ones when none was recorded).
    pub fn extra(&self) -> &MemberExtra {
        self.rare.as_ref().and_then(|rare| rare.extra.as_deref()).unwrap_or(&NO_EXTRA)
    }

    /// The roster check's marks (empty ones when none was recorded).
    pub fn marks(&self) -> &RecordMarks {
        self.rare.as_ref().map_or(&*NO_MARKS, |rare| &rare.marks)
    }

    /// The stamp of the registration in force (`None` without one).
    pub fn registration_stamp(&self) -> Option<Stamp> {
        self.registration.stamp()
    }

    /// What counting reads of the form in force (`None` without a registration).
    pub fn essentials(&self) -> Option<&FormEssentials> {
        self.essentials.as_ref()
    }

    /// The parts most members never have, to record one (corrections and flags are
    /// the marks', through [`MemberState::correct`], which keeps the essentials, and
    /// [`MemberState::flag`]).
    pub(crate) fn extra_mut(&mut self) -> &mut MemberExtra {
        self.rare.get_or_insert_with(Box::default).extra.get_or_insert_with(Box::default)
    }

    fn marks_mut(&mut self) -> &mut RecordMarks {
        &mut self.rare.get_or_insert_with(Box::default).marks
    }

    /// The corrected value of `field` in force, if any.
    pub fn corrected(&self, field: proto::MemberField) -> Option<&str> {
        self.marks().edits.value(field as i32)
    }

    /// The form in force: the registration, decoded, with every correction applied.
    pub fn form(&self) -> Option<proto::MemberForm> {
        use prost::Message as _;
        let EncodedForm(encoded) = self.registration.get()?;
        // Encoded by `register` from a decoded form: it decodes.
        let decoded = proto::MemberForm::decode(&encoded[..]);
        debug_assert!(decoded.is_ok(), "a registration form encoded by `register` decodes");
        let mut form = decoded.ok()?;
        for (field, value) in self.marks().edits.values() {
            if let Ok(field) = proto::MemberField::try_from(field) {
                apply_correction(&mut form, field, value);
            }
        }
        Some(form)
    }

    /// Keeps `form`, registered by the event stamped `stamp`, if it is later than the
    /// registration held.
    pub fn register(&mut self, stamp: Stamp, form: &proto::MemberForm) {
        use prost::Message as _;
        if !stamp.supersedes(self.registration.stamp()) {
            return; // not encoded only for `set` to drop it
        }
        self.registration.set(stamp, EncodedForm(form.encode_to_vec().into_boxed_slice()));
        if self.marks().edits.is_empty() {
            self.essentials = Some(FormEssentials::of(form));
        } else {
            self.refresh_essentials();
        }
    }

    /// Keeps a correction (the event `header`, with its body `correction`); the value
    /// in force of its field is then the latest unsettled correction's.
    pub fn correct(&mut self, header: &Header, correction: &proto::RecordCorrected) {
        self.marks_mut().edits.apply_parts(header, correction);
        self.refresh_essentials();
    }

    /// Keeps a flag of `field`, by the event stamped `stamp`.
    pub fn flag(&mut self, stamp: Stamp, field: i32) {
        self.marks_mut().flag(field, stamp);
    }

    /// Derives [`MemberState::essentials`] again from the form in force.
    fn refresh_essentials(&mut self) {
        self.essentials = self.form().as_ref().map(FormEssentials::of);
    }

    /// The member's management action of `action`, if taken.
    pub fn action(&self, action: proto::ManagementAction) -> Option<&proto::ManagementActionTaken> {
        self.extra().actions.get(&(action as i32)).and_then(Lww::get)
    }

    /// Derives the view of the member held at `unit` (the relation's unit, where its
    /// registration was filed) as of `as_of` (the campaign's as-of date; `None` before
    /// a campaign is opened: nothing is judged lost or pocket by date), with the months
    /// of the policy in force.
    pub fn view(&self, unit: &UnitPath, as_of: Option<NaiveDate>, policy: &Policy) -> MemberView {
        use proto::ManagementAction as A;
        let Some(form) = self.essentials.as_ref() else {
            return MemberView::default();
        };
        // The relation is where the member was registered: a correction of the branch
        // field never moves it (a transfer is a management action of the levels that own
        // both ends), or a branch could count a member at a unit that never holds them.
        let unit = Some(unit.clone());
        let contact = self.contact.get();
        let months_before = |date: Option<NaiveDate>, months: i64| match (date, as_of) {
            (Some(date), Some(as_of)) => dates::whole_months(date, as_of) >= months,
            _ => false,
        };
        let last_life = contact.and_then(|c| c.last_org_life);
        let last_dues = contact.and_then(|c| c.last_dues);
        let last_work = contact.and_then(|c| c.last_assigned_work);
        let last_contact = match (last_life, last_dues) {
            (Some(life), Some(dues)) => Some(life.max(dues)),
            (one, other) => one.or(other),
        };
        let assessed_lost = contact.is_some_and(|c| c.status == proto::ContactStatus::LostStatus as i32);
        let derived_lost = months_before(last_contact, policy.lost_contact_months);
        let form_lost = form.lost;
        let lost = assessed_lost || derived_lost || form_lost;
        let lost_since = if lost { last_contact.or(form.lost_since) } else { None };
        let extra = self.extra();
        let located = extra.located.get();
        let found = located.is_some();
        let situation = contact
            .map(|c| c.situation)
            .filter(|s| *s != 0)
            .or_else(|| located.map(|l| l.cause))
            .or_else(|| Some(form.lost_situation).filter(|s| *s != 0))
            .unwrap_or(proto::LostSituation::Unspecified as i32);

        let transfer = extra.transfer.get();
        let pocket = transfer.is_some_and(|t| {
            let out = dates::opt(t.transferred_out_on.as_ref());
            let valid_until = dates::opt(t.letter_valid_until.as_ref());
            let expired = matches!((valid_until, as_of), (Some(until), Some(as_of)) if until < as_of);
            !t.receipt_received && (expired || months_before(out, policy.pocket_months))
        });
        let pocket_resolved = pocket
            && (extra.receiving.get().is_some_and(|r| r.relation_registered)
                || self.action(A::ReissueTransfer).is_some());

        let transferred_out = self.action(A::TransferRelation).is_some();
        let stopped = self.action(A::StopMembership).is_some()
            || form.membership_status == proto::MembershipStatus::Stopped as i32;
        let probationary = form.category == proto::MemberCategory::Probationary as i32;

        let present = self.archive_review.get().map(|review| review.present | self.materials_added);
        let required = required_materials(probationary);
        let archive_complete = present.is_some_and(|bits| bits & required == required);
        let suspected_irregular = self
            .archive_review
            .get()
            .is_some_and(|review| review.identity_doubtful || review.irregular_admission || review.suspected_fake);

        let marks = self.marks();
        let open_flags = marks.open_flags();
        let open_discrepancies = extra.discrepancies.values().filter(|d| d.is_open()).count() as u32;

        MemberView {
            registered: true,
            unit,
            on_roll: !transferred_out,
            group: if form.person_group == 0 { proto::PersonGroup::OtherGroup as i32 } else { form.person_group },
            probationary,
            lost,
            lost_since,
            situation,
            found,
            found_on: located.and_then(|l| dates::opt(l.located_on.as_ref())),
            flowing: form.flowing || contact.is_some_and(|c| c.status == proto::ContactStatus::FlowingStatus as i32),
            flowing_card: contact.is_some_and(|c| c.has_flowing_card) || self.action(A::FlowingCard).is_some(),
            pocket,
            pocket_resolved,
            retained: self.action(A::RetainAbroad).is_some(),
            stopped,
            included: self.action(A::IncludeInManagement).is_some() || (found && self.action(A::FlowingCard).is_some()),
            // Only a chain in the form's order counts (本人确认 → 支部初核 → 基层党委复核).
            checked: (self.signoffs.stamps(SignOffStage::BranchChecked).next().is_some()
                || !marks.edits.is_empty()
                || marks.any_flag())
                && self.archive_review.get().is_some()
                && contact.is_some()
                && self.conduct_noted,
            form_confirmed: self.signoffs.branch_checked_in_order(),
            committee_checked: self.signoffs.committee_rechecked_in_order(),
            corrected: !marks.edits.is_empty(),
            open_flags,
            open_discrepancies,
            archive_incomplete: present.is_some() && !archive_complete,
            archive_complete,
            suspected_irregular,
            unreferred_violation: extra.violations_reported > extra.referrals,
            // 党章: "连续六个月" — the constitution's, not the province's to set.
            self_separation_candidate: months_before(last_life, 6)
                || months_before(last_dues, 6)
                || months_before(last_work, 6),
        }
    }
}

/// The archive materials every member's archive must hold (DOMAIN.md section 2, task
/// 5): a probationary member has no 转正申请书 yet.
pub fn required_materials(probationary: bool) -> u32 {
    use proto::ArchiveMaterial as M;
    let mut bits = 1 << M::ApplicationForm as u32
        | 1 << M::ApplicationLetter as u32
        | 1 << M::PoliticalReview as u32
        | 1 << M::TrainingRecords as u32;
    if !probationary {
        bits |= 1 << M::FullMembershipApplication as u32;
    }
    bits
}

/// Writes a corrected text value into the form. Values that do not parse are left as
/// registered (the authoring rules refuse them; a received one is shown as corrected
/// text by [`MemberState::corrected`]).
pub fn apply_correction(form: &mut proto::MemberForm, field: proto::MemberField, value: &str) {
    use proto::MemberField as F;
    let date = || dates::parse(value).map(dates::from_naive);
    match field {
        F::Name => form.name = value.to_string(),
        F::Gender => {
            if let Some(gender) = parse_gender(value) {
                form.gender = gender as i32;
            }
        }
        F::Ethnicity => {
            if let Ok(code) = value.trim().parse() {
                form.ethnicity_code = code;
            }
        }
        F::IdNumber => form.id_number = value.to_string(),
        F::BirthDate => form.birth_date = date().or(form.birth_date),
        F::Education => {
            if let Ok(code) = value.trim().parse() {
                form.education_code = code;
            }
        }
        F::Category => {
            if let Some(category) = parse_category(value) {
                form.category = category as i32;
            }
        }
        F::Branch => form.branch_unit_path = value.to_string(),
        F::JoinedDate => form.joined_date = date().or(form.joined_date),
        F::FullMemberDate => form.full_member_date = date().or(form.full_member_date),
        F::Job => {
            if let Ok(code) = value.trim().parse() {
                form.job_code = code;
            }
        }
        F::Phone => form.phone = value.to_string(),
        F::Address => form.address = value.to_string(),
        F::MembershipStatus => match value.trim() {
            "正常" | "normal" => form.membership_status = proto::MembershipStatus::Normal as i32,
            "停止党籍" | "stopped" => form.membership_status = proto::MembershipStatus::Stopped as i32,
            _ => {}
        },
        F::Lost => {
            if let Some(flag) = parse_yes_no(value) {
                form.lost = flag;
            }
        }
        F::Flowing => {
            if let Some(flag) = parse_yes_no(value) {
                form.flowing = flag;
            }
        }
        F::NativePlace => form.native_place = value.to_string(),
        F::PersonGroup => {
            if let Some(group) = parse_person_group(value) {
                form.person_group = group as i32;
            }
        }
        F::Unspecified => {}
    }
}

/// 男 / 女 (or male / female).
pub fn parse_gender(text: &str) -> Option<proto::Gender> {
    match text.trim() {
        "男" | "male" | "m" | "M" => Some(proto::Gender::Male),
        "女" | "female" | "f" | "F" => Some(proto::Gender::Female),
        _ => None,
    }
}

/// 正式党员 / 预备党员 (or full / probationary).
pub fn parse_category(text: &str) -> Option<proto::MemberCategory> {
    match text.trim() {
        "正式党员" | "正式" | "full" => Some(proto::MemberCategory::Full),
        "预备党员" | "预备" | "probationary" => Some(proto::MemberCategory::Probationary),
        _ => None,
    }
}

/// 是 / 否 (or yes / no, true / false, 1 / 0).
pub fn parse_yes_no(text: &str) -> Option<bool> {
    match text.trim() {
        "是" | "yes" | "true" | "1" | "Y" | "y" => Some(true),
        "否" | "no" | "false" | "0" | "N" | "n" | "" => Some(false),
        _ => None,
    }
}

/// The person groups of tables 2 and 3.
pub fn parse_person_group(text: &str) -> Option<proto::PersonGroup> {
    match text.trim() {
        "教职工" | "staff" => Some(proto::PersonGroup::Staff),
        "离退休人员" | "离退休" | "retired" => Some(proto::PersonGroup::Retired),
        "高校毕业生" | "毕业生" | "graduate" => Some(proto::PersonGroup::Graduate),
        "在校学生" | "学生" | "student" => Some(proto::PersonGroup::Student),
        "其他" | "other" => Some(proto::PersonGroup::OtherGroup),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::HlcTime;

    fn stamp(wall_ms: u64, key: u8, seq: u64) -> Stamp {
        Stamp::new(HlcTime { wall_ms, logical: 0 }, ReplicaId([key; 32]), Seq(seq))
    }

    /// Goal: a stamp is 24 bytes (a province holds five to eight a member), and its
    /// order is the keys' order on tied times, whatever order the keys were numbered in.
    #[test]
    fn stamps_are_small_and_ordered_by_key_not_by_number() {
        assert_eq!(std::mem::size_of::<Stamp>(), 24);
        // Numbered high key first: its number is the smaller one.
        let high = stamp(5, 0xf1, 1);
        let low = stamp(5, 0x01, 9);
        assert!(low < high, "tied times order by key");
        assert!(stamp(4, 0xf1, 9) < low, "time first");
        assert!(stamp(5, 0x01, 8) < low, "then seq");
        assert_eq!(high.replica(), ReplicaId([0xf1; 32]));
        assert_eq!(high.hlc(), HlcTime { wall_ms: 5, logical: 0 });
    }

    /// Goal: sign-offs added in any order, or twice, are one value, read back by stage
    /// and through their stored form (a snapshot) unchanged; a stored form out of order
    /// is refused.
    #[test]
    fn signoffs_are_a_set_by_stage_and_read_back_whole() {
        use proto::form_signed_off::Stage;
        let recorded = [
            (Stage::CommitteeRechecked, stamp(30, 3, 1)),
            (Stage::MemberConfirmed, stamp(10, 1, 1)),
            (Stage::BranchChecked, stamp(20, 2, 1)),
            (Stage::MemberConfirmed, stamp(12, 1, 2)),
            (Stage::BranchChecked, stamp(5, 2, 2)),
        ];
        let mut forward = SignOffs::default();
        for (stage, at) in recorded {
            forward.add(stage, at);
        }
        let mut backward = SignOffs::default();
        for (stage, at) in recorded.iter().rev().chain(&recorded) {
            backward.add(*stage, *at);
        }
        assert_eq!(forward, backward);
        let stamps = |stage| forward.stamps(stage).map(|s| s.hlc().wall_ms).collect::<Vec<_>>();
        assert_eq!(stamps(SignOffStage::MemberConfirmed), [10, 12]);
        assert_eq!(stamps(SignOffStage::BranchChecked), [5, 20]);
        assert_eq!(stamps(SignOffStage::CommitteeRechecked), [30]);
        assert!(forward.branch_checked_in_order() && forward.committee_rechecked_in_order());
        let stored: Box<[(SignOffStage, Stamp)]> = forward.clone().into();
        assert_eq!(stored.len(), 5);
        assert_eq!(SignOffs::try_from(stored.clone()), Ok(forward));
        let mut shuffled = stored.into_vec();
        shuffled.swap(0, 4);
        assert!(SignOffs::try_from(shuffled.into_boxed_slice()).is_err());
    }

    /// Goal: a flag stays open until its field is corrected after it; the value in
    /// force of a corrected field is the form's.
    #[test]
    fn flags_close_on_a_later_correction_and_corrections_reach_the_form() {
        let mut state = MemberState::default();
        state.register(stamp(1, 1, 1), &proto::MemberForm { name: "张三".into(), ..Default::default() });
        let phone = proto::MemberField::Phone as i32;
        state.flag(stamp(10, 1, 2), phone);
        assert_eq!(state.marks().open_flags(), 1);
        let header = Header {
            format_version: 1,
            event_id: crate::event::EventId([7; 16]),
            replica: ReplicaId([1; 32]),
            seq: Seq(3),
            prev: crate::event::EventHash([0; 32]),
            hlc: HlcTime { wall_ms: 5, logical: 0 },
            unit_path: UnitPath::parse("hb/u1/c1/b1").expect("valid"),
            kind: crate::EventKind::RecordCorrected,
            body_hash: crate::event::BodyHash([0; 32]),
            author: "李四".into(),
        };
        let correction = proto::RecordCorrected {
            member_id: "m".into(),
            field: phone,
            new_value: "13800000000".into(),
            ..Default::default()
        };
        state.correct(&header, &correction);
        assert_eq!(state.marks().open_flags(), 1, "corrected before the flag");
        state.correct(&Header { hlc: HlcTime { wall_ms: 11, logical: 0 }, seq: Seq(4), ..header }, &correction);
        assert_eq!(state.marks().open_flags(), 0);
        assert_eq!(state.corrected(proto::MemberField::Phone), Some("13800000000"));
        assert_eq!(state.form().expect("registered").phone, "13800000000");
        // A flood of made-up fields keeps the lowest 64, in either order.
        let mut backward = state.clone();
        for field in 100..200 {
            state.flag(stamp(20, 1, field as u64), field);
        }
        for field in (100..200).rev() {
            backward.flag(stamp(20, 1, field as u64), field);
        }
        assert_eq!(state, backward);
        assert_eq!(state.marks().open_flags(), 63, "phone's flag closed, 63 made-up ones kept");
        // Read back from a snapshot as written; out of order, refused.
        let stored = serde_json::to_value(state.marks()).expect("serializes");
        assert_eq!(&serde_json::from_value::<RecordMarks>(stored.clone()).expect("reads back"), state.marks());
        let mut swapped = stored;
        swapped["flags"].as_array_mut().expect("a list").swap(0, 1);
        assert!(serde_json::from_value::<RecordMarks>(swapped).is_err());
    }

    /// Goal: a member's state stays within the province's memory budget (issue #16,
    /// P7: 600 bytes a member in all, of which this inline part is about a third), and
    /// the rarely-used part costs one pointer.
    #[test]
    fn a_members_state_stays_within_its_budget() {
        assert!(std::mem::size_of::<MemberState>() <= 184, "{} bytes", std::mem::size_of::<MemberState>());
        assert_eq!(std::mem::size_of::<Option<Box<Rare>>>(), 8);
        assert!(std::mem::size_of::<Rare>() <= 56, "{} bytes", std::mem::size_of::<Rare>());
    }
}
