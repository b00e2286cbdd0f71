//! The trail carried out of the system: what a disposition dossier's events prove, decided
//! with nothing but the province's root key, and the summary a reviewer reads.
//!
//! A dossier holds signed events as they were stored: the enrollment chain (every
//! enrollment, revocation and equivocation proof the exporting node held, in its ingest
//! order), and the evidence — each step of the case and of the member's other cases at
//! the same branch, the member's events there, the campaign and policy events, the
//! receipts of the level above, and stubs (header and signature, no body) that fill each
//! log between the events it proves. [`examine`] decides every claim again:
//!
//! - every signature and body hash (ZIP-215, as on every receipt: [`crate::verify`]);
//! - every author's enrollment from the root, not revoked at its seq, not expired, of
//!   the level and subtree its kind and body need ([`Authority::check`]), replaying the
//!   chain in order so a revocation counts wherever it sits;
//! - the hash chain between consecutive events of a log, and that the events of one log
//!   the dossier proves are contiguous (nothing left out between them);
//! - for each step, the earliest receipt of a node of the level above whose head for the
//!   step's log is linked to the step by the chain: when the step reached that level;
//! - the procedure replayed ([`case::fold_traced`]) with the policy in force at each
//!   step's stamp, so the stage the summary states is the events' stage.
//!
//! Invariants: pure (no I/O, no clock); the summary is a function of the examined events
//! and the exporter's attestation only, so the verifier regenerates it byte for byte and
//! any edit of the printed summary is found; a problem names the event (log key prefix
//! and seq) and the rule, in Chinese and English.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset};

use crate::EventKind;
use crate::audit::case::{self, CaseView, Stage, Step};
use crate::audit::dates;
use crate::audit::member::{Attempts, Stamp};
use crate::audit::policy::{Policy, PolicyHistory};
use crate::audit::projection::member_id_of;
use crate::audit::tables::{action_name_zh, disposition_name_zh, method_name_zh};
use crate::authority::{Authority, Role};
use crate::body::{Body, kind_name_zh};
use crate::event::{ReplicaId, Seq, SignedEvent, VerifiedEvent};
use crate::proto;
use crate::unit::{Level, UnitPath};
use crate::verify::verify;

/// A case's steps in stamp order, each with the (replica, seq) of the event that carried it.
type StepsByStamp = BTreeMap<Stamp, (Step, (ReplicaId, Seq))>;

/// What the dossier is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The branch the case is filed at.
    pub unit: UnitPath,
    /// The case.
    pub case_id: String,
    /// The member.
    pub member_id: String,
}

/// What only the exporting node vouches for (its signature over the manifest), shown as
/// such: personal data withheld from the dossier cannot be checked against events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attestation {
    /// The member's name as the exporting node holds it.
    pub member_name: String,
    /// The ID number, masked unless personal data was exported.
    pub id_number: String,
    /// Events about the member whose bodies hold personal data, included as stubs.
    pub withheld: BTreeSet<(ReplicaId, Seq)>,
}

/// The events of a dossier, as read from its files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// Enrollments, revocations and proofs, in the order the exporter applied them.
    pub chain: Vec<SignedEvent>,
    /// Everything else: steps, member events, policies, receipts, linking stubs.
    pub evidence: Vec<SignedEvent>,
}

/// A difference between what the dossier claims and what its events prove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// In Chinese.
    pub zh: String,
    /// In English.
    pub en: String,
}

impl Problem {
    fn new(zh: String, en: String) -> Problem {
        Problem { zh, en }
    }
}

/// One step of a case as the summary shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepLine {
    /// Its stamp (author's clock, replica, seq).
    pub stamp: Stamp,
    /// What it is.
    pub kind: EventKind,
    /// The author's level and role as enrolled.
    pub author_level: Level,
    /// Node, laptop.
    pub author_role: Role,
    /// The author's unit.
    pub author_unit: UnitPath,
    /// The person recorded as acting.
    pub person: String,
    /// What it says.
    pub content: String,
    /// The rule it was judged by (with the policy in force at its stamp).
    pub rule: String,
    /// False when the step did not fit the stage it met (kept, without effect).
    pub effective: bool,
    /// When a node of the level above acknowledged holding it: (ms, that node, its level).
    pub received_above: Option<(u64, ReplicaId, Level)>,
}

/// One case's steps and the stage they reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseTrail {
    /// The case id.
    pub case_id: String,
    /// The fold of its steps.
    pub view: CaseView,
    /// Its steps in stamp order.
    pub steps: Vec<StepLine>,
}

/// One event about the member (not a case step).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberLine {
    /// Its stamp.
    pub stamp: Stamp,
    /// What it is.
    pub kind: EventKind,
    /// What it says (empty when withheld).
    pub content: String,
    /// Its body was withheld (personal data).
    pub withheld: bool,
    /// When the level above acknowledged it.
    pub received_above: Option<(u64, ReplicaId, Level)>,
}

/// What the events prove, ready to print.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The case asked for and, before it, the member's other cases at the branch, in
    /// order of their first step.
    pub cases: Vec<CaseTrail>,
    /// The member's events at the branch, in stamp order.
    pub member_events: Vec<MemberLine>,
    /// Search attempts: (stamp, the attempt).
    pub attempts: Vec<(Stamp, proto::ContactAttempted)>,
    /// Events checked in full, as stubs, in the chain; distinct authors.
    pub counts: Counts,
}

/// What was checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Evidence events with their bodies.
    pub full: usize,
    /// Evidence events as stubs (linking, or withheld).
    pub stubs: usize,
    /// Enrollment chain events.
    pub chain: usize,
    /// Chain links checked between consecutive events of a log.
    pub links: usize,
    /// Receipts that prove a step reached the level above.
    pub receipts: usize,
    /// Distinct authors of evidence.
    pub authors: usize,
}

/// The verdict on a dossier's events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Examination {
    /// Every difference found (empty: the events prove what the summary says).
    pub problems: Vec<Problem>,
    /// Steps and member events no node of the level above has acknowledged (by a receipt
    /// in the dossier): only their author attests them, so the author could have
    /// rewritten them. A verifier refuses them; an exporter warns and exports.
    pub unacknowledged: Vec<Problem>,
    /// The exporting node's unit as enrolled.
    pub exporter_unit: Option<UnitPath>,
    /// The summary the events support.
    pub summary: Summary,
}

fn short(replica: &ReplicaId) -> String {
    replica.short()
}

fn event_name(replica: &ReplicaId, seq: Seq) -> (String, String) {
    (format!("日志 {} 第 {} 号事件", short(replica), seq.0), format!("event {} of log {}", seq.0, short(replica)))
}

/// China Standard Time, to the second.
pub fn cst_time(ms: u64) -> String {
    let offset = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    DateTime::from_timestamp_millis(ms as i64)
        .map(|time| time.with_timezone(&offset).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn date_text(date: Option<&proto::Date>) -> String {
    match dates::opt(date) {
        Some(date) => date.format("%Y-%m-%d").to_string(),
        None => "（未填）".to_string(),
    }
}

fn yes(value: bool) -> &'static str {
    if value { "是" } else { "否" }
}

/// What every archive's events are checked for, whatever they prove: the chain replayed
/// from the root, each event verified and authorised at its seq, the links between
/// consecutive events of a log, and the exporting node enrolled at `about` or above.
struct Checked {
    exporter_unit: Option<UnitPath>,
    authority: Authority,
    held: BTreeMap<(ReplicaId, Seq), VerifiedEvent>,
    authorised: BTreeSet<(ReplicaId, Seq)>,
    counts: Counts,
    problems: Vec<Problem>,
}

fn check_signed(
    root: ReplicaId,
    root_unit: &UnitPath,
    about: &UnitPath,
    exporter: ReplicaId,
    contents: &Contents,
) -> Checked {
    let mut problems = Vec::new();
    let mut counts = Counts { chain: contents.chain.len(), ..Counts::default() };

    // 1. The enrollment chain, replayed from the root in the exporter's order.
    let mut authority = Authority::new(root, root_unit.clone());
    for (index, signed) in contents.chain.iter().enumerate() {
        match verify(signed) {
            Ok(event) => {
                let (zh, en) = event_name(&event.replica(), event.seq());
                if !Authority::changed_by(event.header().kind) {
                    problems.push(Problem::new(
                        format!("登记链中的{zh}不是登记、撤销或分叉证明事件"),
                        format!("{en} in the enrollment chain is not an enrollment, revocation or proof"),
                    ));
                } else if let Err(error) = authority.check(&event) {
                    problems.push(Problem::new(
                        format!("登记链中的{zh}未获授权：{}", error.message_zh()),
                        format!("{en} in the enrollment chain is not authorised: {error}"),
                    ));
                } else {
                    authority.apply(&event);
                }
            }
            Err(error) => problems.push(Problem::new(
                format!("登记链第 {} 个事件签名或编码无效：{error}", index + 1),
                format!("enrollment chain event {} does not verify: {error}", index + 1),
            )),
        }
    }

    // The exporting node vouches for what it attests: it must be a node of the unit
    // or above, enrolled from the root.
    match authority.enrollment(&exporter) {
        Some(node) if node.role == Role::Node && about.is_within(&node.unit) => {
            if let Some(after) = node.revoked_after {
                problems.push(Problem::new(
                    format!("导出节点 {} 已被撤销（第 {} 号事件之后）", short(&exporter), after.0),
                    format!("the exporting node {} was revoked after seq {}", short(&exporter), after.0),
                ));
            }
        }
        _ => problems.push(Problem::new(
            format!("导出节点 {} 不是登记链中 {} 或其上级的节点", short(&exporter), about),
            format!("the exporting node {} is not enrolled as a node of {} or above", short(&exporter), about),
        )),
    }

    // 2. Every evidence event verified, once per (replica, seq).
    let mut held: BTreeMap<(ReplicaId, Seq), VerifiedEvent> = BTreeMap::new();
    for (index, signed) in contents.evidence.iter().enumerate() {
        let event = match verify(signed) {
            Ok(event) => event,
            Err(error) => {
                let named = crate::codec::decode_header(&signed.header)
                    .map(|header| event_name(&header.replica, header.seq))
                    .unwrap_or_else(|_| {
                        (format!("第 {} 个证据事件", index + 1), format!("evidence event {}", index + 1))
                    });
                problems.push(Problem::new(
                    format!("{}的签名、正文哈希或编码无效：{error}", named.0),
                    format!("{} does not verify: {error}", named.1),
                ));
                continue;
            }
        };
        let key = (event.replica(), event.seq());
        match held.get(&key) {
            Some(other) if other.hash() != event.hash() => {
                let (zh, en) = event_name(&key.0, key.1);
                problems.push(Problem::new(
                    format!("{zh}出现两个不同版本（分叉）"),
                    format!("{en} appears in two different versions (equivocation)"),
                ));
            }
            Some(_) => {
                let (zh, en) = event_name(&key.0, key.1);
                problems.push(Problem::new(format!("{zh}出现了两次"), format!("{en} appears twice")));
            }
            None => {
                held.insert(key, event);
            }
        }
    }

    // 3. Authority over each event, as of its seq.
    let mut authorised: BTreeSet<(ReplicaId, Seq)> = BTreeSet::new();
    for (key, event) in &held {
        if event.is_stub() {
            counts.stubs += 1;
        } else {
            counts.full += 1;
        }
        match authority.check(event) {
            Ok(()) => {
                authorised.insert(*key);
            }
            Err(error) => {
                let (zh, en) = event_name(&key.0, key.1);
                problems.push(Problem::new(
                    format!("{zh}（{}）的签名者无权作出：{}", kind_name_zh(event.header().kind), error.message_zh()),
                    format!("{en} ({:?}) is not authorised: {error}", event.header().kind),
                ));
            }
        }
    }

    // 4. Chain links between consecutive events of each log.
    let mut previous: Option<&VerifiedEvent> = None;
    for event in held.values() {
        if let Some(before) = previous
            && before.replica() == event.replica()
            && before.seq().0.checked_add(1) == Some(event.seq().0)
        {
            counts.links += 1;
            if event.header().prev != before.hash() {
                let (zh, en) = event_name(&event.replica(), event.seq());
                problems.push(Problem::new(
                    format!("{zh}的前序哈希与第 {} 号事件不符：链接断开", before.seq().0),
                    format!("{en}: its prev hash does not match event {}: the chain is broken", before.seq().0),
                ));
            }
        }
        previous = Some(event);
    }

    counts.authors = held.keys().map(|(replica, _)| *replica).collect::<BTreeSet<_>>().len();
    let exporter_unit = authority.enrollment(&exporter).map(|e| e.unit.clone());
    Checked { exporter_unit, authority, held, authorised, counts, problems }
}

/// Examines a dossier's events against the root key. `root_unit` is the province's unit
/// (the root key's own events must lie within it).
pub fn examine(
    root: ReplicaId,
    root_unit: &UnitPath,
    subject: &Subject,
    attestation: &Attestation,
    exporter: ReplicaId,
    contents: &Contents,
) -> Examination {
    let Checked { exporter_unit, authority, held, authorised: authorised_keys, mut counts, mut problems } =
        check_signed(root, root_unit, &subject.unit, exporter, contents);
    let authorised: BTreeMap<(ReplicaId, Seq), &VerifiedEvent> =
        authorised_keys.iter().map(|key| (*key, &held[key])).collect();

    // 5. What each authorised event with a body is.
    let mut policies = PolicyHistory::default();
    let mut case_ids: BTreeSet<String> = BTreeSet::new();
    let mut bodies: BTreeMap<(ReplicaId, Seq), Body> = BTreeMap::new();
    for (key, event) in &authorised {
        let Some(bytes) = event.body() else { continue };
        let Ok(body) = Body::decode(event.header().kind, bytes) else { continue };
        match &body {
            Body::CampaignOpened(opened) => {
                policies.set(Stamp::of(event.header()), Policy::from_proto(opened.policy.as_ref()))
            }
            Body::PolicyChanged(changed) => {
                policies.set(Stamp::of(event.header()), Policy::from_proto(changed.policy.as_ref()))
            }
            Body::DispositionProposed(proposal)
                if event.header().unit_path == subject.unit && proposal.member_id == subject.member_id =>
            {
                case_ids.insert(proposal.case_id.clone());
            }
            _ => {}
        }
        bodies.insert(*key, body);
    }
    case_ids.insert(subject.case_id.clone());

    // Steps and member events: filed at the subject's branch.
    let at_unit = |key: &(ReplicaId, Seq)| authorised.get(key).is_some_and(|e| e.header().unit_path == subject.unit);
    // Case id → stamp → the step and the event that carried it.
    let mut steps_of: BTreeMap<String, StepsByStamp> = BTreeMap::new();
    let mut member_keys: Vec<(ReplicaId, Seq)> = Vec::new();
    for (key, body) in &bodies {
        if !at_unit(key) {
            continue;
        }
        let header = authorised[key].header();
        let level = authority.enrollment(&key.0).map(|e| e.level).unwrap_or(Level::Branch);
        if let Some(case_id) = case::case_id_of(body).filter(|id| case_ids.contains(*id)) {
            let step = Step { unit: header.unit_path.clone(), author_level: level, body: body.clone() };
            steps_of.entry(case_id.to_string()).or_default().insert(Stamp::of(header), (step, *key));
        } else if member_id_of(body) == Some(subject.member_id.as_str()) {
            member_keys.push(*key);
        }
    }
    for key in &attestation.withheld {
        if authorised.get(key).is_some_and(|e| {
            e.is_stub() && e.header().unit_path == subject.unit && may_hold_personal_data(e.header().kind)
        }) {
            member_keys.push(*key);
        } else {
            let (zh, en) = event_name(&key.0, key.1);
            problems.push(Problem::new(
                format!("清单所列未附正文的{zh}不在案卷中或不属于本支部"),
                format!("the withheld {en} listed in the manifest is not in the dossier or not filed at the branch"),
            ));
        }
    }
    if !steps_of.contains_key(&subject.case_id) {
        problems.push(Problem::new(
            format!("案卷中没有案件 {} 在 {} 的任何步骤", subject.case_id, subject.unit),
            format!("the dossier holds no step of case {} at {}", subject.case_id, subject.unit),
        ));
    }

    // 6. Contiguity: between the first and the last event of a log that the dossier
    // proves (steps and member events), every event is present.
    let mut proved_range: BTreeMap<ReplicaId, (u64, u64)> = BTreeMap::new();
    let proved =
        steps_of.values().flat_map(|steps| steps.values().map(|(_, key)| *key)).chain(member_keys.iter().copied());
    for (replica, seq) in proved {
        let range = proved_range.entry(replica).or_insert((seq.0, seq.0));
        range.0 = range.0.min(seq.0);
        range.1 = range.1.max(seq.0);
    }
    let ends = run_ends(&held);
    for (replica, (first, last)) in &proved_range {
        // Anywhere in a proved log (also past its last proved event, up to the receipts).
        for (key, event) in held.range((*replica, Seq(0))..=(*replica, Seq(u64::MAX))) {
            if event.is_stub() && event.header().unit_path == subject.unit && is_case_step_kind(event.header().kind) {
                let (zh, en) = event_name(&key.0, key.1);
                problems.push(Problem::new(
                    format!("{zh}是本支部的处置步骤（{}），却未附正文：可能是本案的一步", kind_name_zh(event.header().kind)),
                    format!("{en} is a disposition step at the branch ({:?}) sent without its body: it could be a step of this case", event.header().kind),
                ));
            }
        }
        let run_end = ends.get(&(*replica, Seq(*first))).copied().unwrap_or(0);
        if run_end < *last {
            let missing = if held.contains_key(&(*replica, Seq(*first))) { run_end + 1 } else { *first };
            let (zh, en) = event_name(replica, Seq(missing));
            problems.push(Problem::new(
                format!("缺少{zh}（在本案证据第 {first} 号与第 {last} 号之间）"),
                format!("{en} is missing (between the evidence at {first} and {last} of that log)"),
            ));
        }
    }

    // 7. Receipts: when each proved event reached the level above.
    let receipts: Vec<(&VerifiedEvent, &proto::Receipt)> = bodies
        .iter()
        .filter_map(|(key, body)| match body {
            Body::Receipt(receipt) => Some((authorised[key], receipt)),
            _ => None,
        })
        .collect();
    let mut used_receipts = BTreeSet::new();
    let mut received_above = |key: (ReplicaId, Seq), problems: &mut Vec<Problem>| {
        earliest_receipt(&authority, &held, &ends, &receipts, key, problems).map(|found| {
            used_receipts.insert(found.receipt);
            (found.at_ms, found.signer, found.level)
        })
    };

    // 8. The procedure replayed, each step by the policy at its stamp.
    let mut cases = Vec::new();
    for (case_id, steps) in &steps_of {
        let plain: BTreeMap<Stamp, Step> = steps.iter().map(|(stamp, (step, _))| (*stamp, step.clone())).collect();
        let (view, traced) = case::fold_traced(&plain, &policies);
        let mut lines = Vec::new();
        for ((stamp, (step, key)), (took_effect, replay)) in steps.iter().zip(traced) {
            let enrollment = authority.enrollment(&key.0);
            let header = authorised[key].header();
            let policy = policies.at(stamp);
            let (content, rule) =
                describe_step(&step.body, &replay, &policy, &member_keys, &bodies, &authorised, stamp);
            lines.push(StepLine {
                stamp: *stamp,
                kind: header.kind,
                author_level: step.author_level,
                author_role: enrollment.map_or(Role::Node, |e| e.role),
                author_unit: enrollment.map_or_else(|| header.unit_path.clone(), |e| e.unit.clone()),
                person: header.author.clone(),
                content,
                rule,
                effective: took_effect,
                received_above: received_above(*key, &mut problems),
            });
        }
        cases.push(CaseTrail { case_id: case_id.clone(), view, steps: lines });
    }
    // The case asked for last; the member's earlier cases before it, by first step.
    cases.sort_by_key(|trail| (trail.case_id == subject.case_id, trail.steps.first().map(|s| s.stamp)));

    let mut member_events = Vec::new();
    let mut attempts = Vec::new();
    member_keys.sort_by_key(|key| Stamp::of(authorised[key].header()));
    member_keys.dedup();
    for key in &member_keys {
        let event = authorised[key];
        let stamp = Stamp::of(event.header());
        let withheld = event.is_stub();
        let content = match bodies.get(key) {
            Some(body) => describe_member_event(body),
            None => String::new(),
        };
        if let Some(Body::ContactAttempted(attempt)) = bodies.get(key) {
            attempts.push((stamp, attempt.clone()));
        }
        member_events.push(MemberLine {
            stamp,
            kind: event.header().kind,
            content,
            withheld,
            received_above: received_above(*key, &mut problems),
        });
    }
    counts.receipts = used_receipts.len();
    counts.authors = held.keys().map(|(replica, _)| *replica).collect::<BTreeSet<_>>().len();

    // Every receipt in the dossier that covers a log it proves reaches its head through
    // events all present: a receipt naming events the dossier left out is a gap.
    for (receipt_event, receipt) in &receipts {
        let Some(signer) = authority.enrollment(&receipt_event.replica()) else { continue };
        for head in &receipt.heads {
            let Ok(replica) = <[u8; 32]>::try_from(&head.replica[..]).map(ReplicaId) else { continue };
            let Some((first, _)) = proved_range.get(&replica) else { continue };
            // Only the level above the log's author attests it (a branch's receipts
            // about its laptops are its own word).
            let above = authority.enrollment(&replica).and_then(|author| author.unit.parent());
            if head.seq < *first || signer.role != Role::Node || Some(&signer.unit) != above.as_ref() {
                continue;
            }
            let (zh, en) = event_name(&receipt_event.replica(), receipt_event.seq());
            let run_end = ends.get(&(replica, Seq(*first))).copied().unwrap_or(0);
            let missing = if !held.contains_key(&(replica, Seq(*first))) {
                Some(*first)
            } else if run_end < head.seq {
                Some(run_end + 1)
            } else {
                None
            };
            if let Some(missing) = missing {
                problems.push(Problem::new(
                    format!(
                        "回执（{zh}）确认日志 {} 到第 {} 号，案卷却缺少其第 {missing} 号事件",
                        short(&replica),
                        head.seq
                    ),
                    format!(
                        "the receipt ({en}) covers log {} up to {}, but the dossier lacks its event {missing}",
                        short(&replica),
                        head.seq
                    ),
                ));
            } else if held.get(&(replica, Seq(head.seq))).is_some_and(|e| e.hash().0[..] != head.hash[..]) {
                problems.push(Problem::new(
                    format!("回执（{zh}）所记日志 {} 第 {} 号事件的哈希与案卷中的不符", short(&replica), head.seq),
                    format!(
                        "the receipt ({en}) names a hash for event {} of log {} that differs from the dossier's",
                        head.seq,
                        short(&replica)
                    ),
                ));
            }
        }
    }
    // The manifest's member is the case's.
    if let Some(trail) = cases.iter().find(|t| t.case_id == subject.case_id)
        && trail.view.member_id != subject.member_id
    {
        problems.push(Problem::new(
            format!("清单称党员编号为 {}，本案提出处置意见的党员却是 {}", subject.member_id, trail.view.member_id),
            format!(
                "the manifest names member {}, the case's proposal is about {}",
                subject.member_id, trail.view.member_id
            ),
        ));
    }
    // What only its author attests.
    let mut unacknowledged = Vec::new();
    let root_key = authority.root();
    let lines = cases
        .iter()
        .flat_map(|t| t.steps.iter().map(|s| (s.stamp, s.kind, s.received_above.is_some())))
        .chain(member_events.iter().map(|m| (m.stamp, m.kind, m.received_above.is_some())));
    for (stamp, kind, received) in lines {
        if !received && stamp.replica() != root_key {
            let (zh, en) = event_name(&stamp.replica(), stamp.seq);
            unacknowledged.push(Problem::new(
                format!("{zh}（{}）没有上一级节点的回执：仅由其作者证明，作者可能改写过", kind_name_zh(kind)),
                format!("{en} ({kind:?}) has no receipt of the level above: only its author attests it"),
            ));
        }
    }
    Examination { problems, unacknowledged, exporter_unit, summary: Summary { cases, member_events, attempts, counts } }
}

/// The kinds that are steps of a disposition case: at the case's branch, inside the
/// logs a dossier proves, they travel whole (a stub could hide one of this case's).
pub fn is_case_step_kind(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::DispositionProposed
            | EventKind::DispositionInvestigated
            | EventKind::DispositionPreReviewed
            | EventKind::DispositionVoted
            | EventKind::DispositionApproved
            | EventKind::DispositionRejected
            | EventKind::DispositionFiled
            | EventKind::DispositionAppealed
            | EventKind::CorrectionPeriodReviewed
    )
}

/// The kinds whose bodies can hold personal data: the only ones a dossier may withhold.
pub fn may_hold_personal_data(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::MemberRegistered
            | EventKind::RecordCorrected
            | EventKind::StatsDiscrepancyFound
            | EventKind::StatsDiscrepancyResolved
    )
}

/// For each event held, the last seq of the run of consecutive seqs it belongs to, in
/// one pass: whether every event from it up to a seq is held is then one lookup.
fn run_ends(held: &BTreeMap<(ReplicaId, Seq), VerifiedEvent>) -> BTreeMap<(ReplicaId, Seq), u64> {
    let keys: Vec<(ReplicaId, Seq)> = held.keys().copied().collect();
    let mut ends = BTreeMap::new();
    let mut end = 0;
    for (index, key) in keys.iter().enumerate().rev() {
        let continues =
            keys.get(index + 1).is_some_and(|next| next.0 == key.0 && key.1.0.checked_add(1) == Some(next.1.0));
        if !continues {
            end = key.1.0;
        }
        ends.insert(*key, end);
    }
    ends
}

/// A receipt of the level above that covers an event.
struct ReceiptFound {
    at_ms: u64,
    signer: ReplicaId,
    level: Level,
    receipt: (ReplicaId, Seq),
}

/// The earliest receipt, signed by a node of the level above the author of `key`, whose
/// head for `key`'s log is at or after it and linked to it by events all held.
fn earliest_receipt(
    authority: &Authority,
    held: &BTreeMap<(ReplicaId, Seq), VerifiedEvent>,
    ends: &BTreeMap<(ReplicaId, Seq), u64>,
    receipts: &[(&VerifiedEvent, &proto::Receipt)],
    key: (ReplicaId, Seq),
    problems: &mut Vec<Problem>,
) -> Option<ReceiptFound> {
    let author = authority.enrollment(&key.0)?;
    let above = author.unit.parent()?;
    let mut best: Option<ReceiptFound> = None;
    for (receipt_event, receipt) in receipts {
        let Some(signer) = authority.enrollment(&receipt_event.replica()) else { continue };
        if signer.role != Role::Node || signer.unit != above {
            continue;
        }
        let Some(head) = receipt.heads.iter().find(|h| h.replica[..] == key.0.0[..]) else {
            continue;
        };
        if head.seq < key.1.0 {
            continue;
        }
        // The chain from the event to the receipt's head, all present and linked.
        let linked = ends.get(&key).is_some_and(|end| *end >= head.seq);
        let Some(head_event) = held.get(&(key.0, Seq(head.seq))) else { continue };
        if !linked {
            continue;
        }
        if head_event.hash().0[..] != head.hash[..] {
            let (zh, en) = event_name(&receipt_event.replica(), receipt_event.seq());
            problems.push(Problem::new(
                format!("回执（{zh}）所记第 {} 号事件的哈希与所附事件不符", head.seq),
                format!("the receipt ({en}) names a hash for seq {} that differs from the event held", head.seq),
            ));
            continue;
        }
        if best.as_ref().is_none_or(|held| receipt.stored_at_ms < held.at_ms) {
            best = Some(ReceiptFound {
                at_ms: receipt.stored_at_ms,
                signer: receipt_event.replica(),
                level: signer.level,
                receipt: (receipt_event.replica(), receipt_event.seq()),
            });
        }
    }
    best
}

/// The search attempts recorded before `stamp` (what a 自行脱党除名 proposal rests on).
fn attempts_before(
    member_keys: &[(ReplicaId, Seq)],
    bodies: &BTreeMap<(ReplicaId, Seq), Body>,
    authorised: &BTreeMap<(ReplicaId, Seq), &VerifiedEvent>,
    stamp: &Stamp,
) -> Attempts {
    let mut attempts = Attempts::default();
    for key in member_keys {
        if let (Some(Body::ContactAttempted(attempt)), Some(event)) = (bodies.get(key), authorised.get(key))
            && Stamp::of(event.header()) < *stamp
        {
            attempts.add(attempt);
        }
    }
    attempts
}

fn describe_step(
    body: &Body,
    before: &CaseView,
    policy: &Policy,
    member_keys: &[(ReplicaId, Seq)],
    bodies: &BTreeMap<(ReplicaId, Seq), Body>,
    authorised: &BTreeMap<(ReplicaId, Seq), &VerifiedEvent>,
    stamp: &Stamp,
) -> (String, String) {
    use proto::DispositionType as T;
    match body {
        Body::DispositionProposed(proposal) => {
            let kind = T::try_from(proposal.disposition).unwrap_or(T::Unspecified);
            let content = format!(
                "处置方式：{}；起因：{}；事实依据：{}；日期：{}",
                disposition_name_zh(proposal.disposition),
                trigger_zh(proposal.trigger),
                proposal.facts,
                date_text(proposal.proposed_on.as_ref())
            );
            let mut rule = "支部委员会提出处置意见".to_string();
            if before.returned > 0 {
                let _ = write!(rule, "（退回后第 {} 轮重新提出）", before.returned + 1);
            }
            if kind == T::SelfSeparationRemoval {
                let attempts = attempts_before(member_keys, bodies, authorised, stamp);
                let enough = attempts.count >= policy.self_separation_attempts
                    && attempts.channels() >= policy.self_separation_methods
                    && attempts.span_months() >= policy.self_separation_months;
                let _ = write!(
                    rule,
                    "；此前查找 {} 次、{} 类渠道、跨 {} 个月（当时政策：至少 {} 次、{} 类、{} 个月）：{}",
                    attempts.count,
                    attempts.channels(),
                    attempts.span_months(),
                    policy.self_separation_attempts,
                    policy.self_separation_methods,
                    policy.self_separation_months,
                    if enough { "满足" } else { "不满足（须另有六个月未参加组织生活等依据）" }
                );
            }
            (content, rule)
        }
        Body::DispositionInvestigated(investigation) => {
            let how = if investigation.member_unreachable {
                "无法联系本人，记录在案".to_string()
            } else {
                format!("谈话人：{}", investigation.talked_by.join("、"))
            };
            (
                format!(
                    "{how}；调查报告：{}；日期：{}",
                    investigation.report,
                    date_text(investigation.investigated_on.as_ref())
                ),
                "调查核实：两名正式党员与本人谈话，或记录无法联系本人".to_string(),
            )
        }
        Body::DispositionPreReviewed(review) => {
            let level = proto::Level::try_from(review.reviewer_level).ok().and_then(Level::from_proto);
            let required: Vec<&str> =
                case::required_pre_reviews(T::try_from(review.disposition).unwrap_or(T::Unspecified))
                    .iter()
                    .map(|l| l.name_zh())
                    .collect();
            (
                format!(
                    "预审层级：{}；{}；{}；意见：{}；日期：{}",
                    level.map_or("（未填）", Level::name_zh),
                    if review.written { "书面" } else { "非书面" },
                    if review.agreed { "同意" } else { "不同意（退回）" },
                    review.opinion,
                    date_text(review.reviewed_on.as_ref())
                ),
                format!("{}须经{}预审（学校须书面）", disposition_name_zh(review.disposition), required.join("、")),
            )
        }
        Body::DispositionVoted(vote) => {
            let count = case::count_vote(vote, policy);
            (
                format!(
                    "会议日期：{}；有表决权的正式党员 {} 人，不计入应到会 {} 人，应到会 {} 人，实到 {} 人；赞成 {}，反对 {}，弃权 {}；无记名投票：{}；本人申辩：{}",
                    date_text(vote.meeting_on.as_ref()),
                    vote.full_members_total,
                    vote.excluded,
                    count.should_attend,
                    vote.present,
                    vote.votes_for,
                    vote.votes_against,
                    vote.abstentions,
                    yes(vote.secret_ballot),
                    yes(vote.member_defended)
                ),
                format!(
                    "实到须超过应到会的 {}%：{}；赞成须超过应到会的 {}%：{}；结果：{}",
                    policy.quorum_percent,
                    if count.quorum { "达到" } else { "未达到" },
                    policy.majority_percent,
                    if count.passed { "达到" } else { "未达到" },
                    if count.passed { "通过" } else { "未通过" }
                ),
            )
        }
        Body::DispositionApproved(approval) => {
            let needed = case::approving_level(T::try_from(approval.disposition).unwrap_or(T::Unspecified));
            (
                format!(
                    "审批机关：{}；集体讨论：{}；日期：{}",
                    approval.approving_body,
                    yes(approval.collective),
                    date_text(approval.approved_on.as_ref())
                ),
                format!("{}由{}或以上党组织审批", disposition_name_zh(approval.disposition), needed.name_zh()),
            )
        }
        Body::DispositionRejected(rejection) => (
            format!("理由：{}；日期：{}", rejection.reason, date_text(rejection.rejected_on.as_ref())),
            "审批机关不批准：退回支部，重新提出".to_string(),
        ),
        Body::DispositionFiled(filing) => (
            format!(
                "备案于：{}；日期：{}；通知本人：{}",
                filing.filed_with,
                date_text(filing.filed_on.as_ref()),
                date_text(filing.member_notified_on.as_ref())
            ),
            "批准后备案并通知本人".to_string(),
        ),
        Body::DispositionAppealed(appeal) => {
            use proto::disposition_appealed::Outcome;
            let outcome = match Outcome::try_from(appeal.outcome).unwrap_or(Outcome::Unspecified) {
                Outcome::Pending => "审理中",
                Outcome::Upheld => "维持",
                Outcome::Overturned => "撤销",
                Outcome::Unspecified => "（未填）",
            };
            (
                format!(
                    "申诉至：{}；结果：{outcome}；日期：{}",
                    appeal.appeal_to,
                    date_text(appeal.appealed_on.as_ref())
                ),
                "党员对处置不服可提出申诉".to_string(),
            )
        }
        Body::CorrectionPeriodReviewed(review) => (
            format!(
                "{}；{}；日期：{}",
                if review.corrected { "已改正" } else { "逾期未改正" },
                review.note,
                date_text(review.reviewed_on.as_ref())
            ),
            "限期改正期满，支部审查是否改正".to_string(),
        ),
        _ => (String::new(), String::new()),
    }
}

fn trigger_zh(trigger: i32) -> &'static str {
    use proto::DispositionTrigger as G;
    match G::try_from(trigger).unwrap_or(G::Unspecified) {
        G::LostCase => "失联党员",
        G::SixMonthRule => "连续六个月不参加组织生活",
        G::AuditFinding => "排查发现",
        G::RequestToLeave => "本人要求退党",
        G::Unspecified => "（未填）",
    }
}

fn outcome_zh(outcome: i32) -> &'static str {
    use proto::contact_attempted::Outcome as O;
    match O::try_from(outcome).unwrap_or(O::Unspecified) {
        O::NoResponse => "无回应",
        O::LeadObtained => "获得线索",
        O::Reached => "已联系上",
        O::ConfirmedDeceased => "确认已去世",
        O::Unspecified => "（未填）",
    }
}

fn describe_member_event(body: &Body) -> String {
    match body {
        Body::ContactAttempted(attempt) => format!(
            "查找方式：{}；结果：{}；日期：{}{}",
            method_name_zh(attempt.method),
            outcome_zh(attempt.outcome),
            date_text(attempt.attempted_on.as_ref()),
            if attempt.note.is_empty() { String::new() } else { format!("；备注：{}", attempt.note) }
        ),
        Body::ContactStatusAssessed(assessed) => format!(
            "最近参加组织生活：{}；最近交纳党费：{}",
            date_text(assessed.last_org_life.as_ref()),
            date_text(assessed.last_dues.as_ref())
        ),
        Body::MemberLocated(located) => format!("已找到；日期：{}", date_text(located.located_on.as_ref())),
        Body::ManagementActionTaken(action) => {
            format!("{}；日期：{}", action_name_zh(action.action), date_text(action.effective_on.as_ref()))
        }
        Body::FormSignedOff(signed) => {
            use proto::form_signed_off::Stage as S;
            let stage = match S::try_from(signed.stage).unwrap_or(S::Unspecified) {
                S::MemberConfirmed => "本人确认",
                S::BranchChecked => "支部初核",
                S::CommitteeRechecked => "基层党委复核",
                S::Unspecified => "（未填）",
            };
            format!("签核阶段：{stage}")
        }
        _ => String::new(),
    }
}

fn received_text(received: Option<&(u64, ReplicaId, Level)>) -> String {
    match received {
        Some((at, by, level)) => format!("{}（{}节点 {} 的回执）", cst_time(*at), level.name_zh(), short(by)),
        None => "未见上级回执".to_string(),
    }
}

/// The summary as the reviewer reads it (Chinese), regenerated by the verifier byte for
/// byte: nothing in it comes from anywhere but the examined events and the attestation.
pub fn summary_text(subject: &Subject, attestation: &Attestation, summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "党员组织处置案卷摘要");
    let _ = writeln!(out, "案件编号：{}", subject.case_id);
    let _ = writeln!(out, "党支部：{}", subject.unit);
    let _ = writeln!(out, "党员编号：{}", subject.member_id);
    let _ = writeln!(
        out,
        "姓名：{}    公民身份号码：{}（以上两项由导出节点证明）",
        attestation.member_name, attestation.id_number
    );
    if let Some(trail) = summary.cases.iter().find(|t| t.case_id == subject.case_id) {
        let _ = writeln!(
            out,
            "处置方式：{}    当前阶段：{}    退回重提：{} 次",
            disposition_name_zh(trail.view.disposition),
            trail.view.stage.name_zh(),
            trail.view.returned
        );
    }
    let mut section = 0;
    for trail in &summary.cases {
        section += 1;
        let _ = writeln!(out);
        let title = if trail.case_id == subject.case_id { "本案处置程序" } else { "此前的处置案件" };
        let _ = writeln!(
            out,
            "{}、{}：{}（{}，{}）",
            chinese_number(section),
            title,
            trail.case_id,
            disposition_name_zh(trail.view.disposition),
            trail.view.stage.name_zh()
        );
        for (index, step) in trail.steps.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}. {}{}",
                index + 1,
                kind_name_zh(step.kind),
                if step.effective { "" } else { "（不符合当时所处阶段，未生效）" }
            );
            let _ = writeln!(
                out,
                "   签名：{}（{}{}，{}）于 {}，经办人：{}；日志 {} 第 {} 号",
                short(&step.stamp.replica()),
                step.author_level.name_zh(),
                role_zh(step.author_role),
                step.author_unit,
                cst_time(step.stamp.hlc().wall_ms),
                step.person,
                short(&step.stamp.replica()),
                step.stamp.seq.0
            );
            let _ = writeln!(out, "   内容：{}", step.content);
            let _ = writeln!(out, "   依据：{}", step.rule);
            let _ = writeln!(out, "   上级收到：{}", received_text(step.received_above.as_ref()));
        }
    }
    section += 1;
    let _ = writeln!(out);
    let _ = writeln!(out, "{}、党员在本支部的相关记录（{} 件）", chinese_number(section), summary.member_events.len());
    for (index, line) in summary.member_events.iter().enumerate() {
        let content = if line.withheld {
            "含个人信息，未附正文（由导出节点列明）".to_string()
        } else {
            line.content.clone()
        };
        let _ = writeln!(
            out,
            "{}. {}：{}；签名 {} 于 {}；上级收到：{}",
            index + 1,
            kind_name_zh(line.kind),
            content,
            short(&line.stamp.replica()),
            cst_time(line.stamp.hlc().wall_ms),
            received_text(line.received_above.as_ref())
        );
    }
    section += 1;
    let counts = summary.counts;
    let _ = writeln!(out);
    let _ = writeln!(out, "{}、核验范围", chinese_number(section));
    let _ = writeln!(
        out,
        "证据事件 {} 件（附正文 {} 件，存根 {} 件），签名者 {} 个，登记链事件 {} 件，前后链接 {} 处，上级回执 {} 件。",
        counts.full + counts.stubs,
        counts.full,
        counts.stubs,
        counts.authors,
        counts.chain,
        counts.links,
        counts.receipts
    );
    out
}

fn role_zh(role: Role) -> &'static str {
    match role {
        Role::Node => "节点",
        Role::Laptop => "笔记本",
        Role::Viewer => "只读",
    }
}

fn chinese_number(n: usize) -> &'static str {
    ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"].get(n.saturating_sub(1)).copied().unwrap_or("十")
}

/// The stage a case's steps reach, by its English name (for the manifest's claim).
pub fn stage_of(summary: &Summary, case_id: &str) -> Option<Stage> {
    summary.cases.iter().find(|t| t.case_id == case_id).map(|t| t.view.stage)
}

/// What a report proof is about: the submission of `table` by `unit`, the event
/// `report` (replica, seq).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportSubject {
    /// The reporting unit.
    pub unit: UnitPath,
    /// 1, 2 or 3.
    pub table: u32,
    /// The `ReportSubmitted` event.
    pub report: (ReplicaId, Seq),
}

/// What a report proof's events prove.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportSummary {
    /// When the submission was signed (its author's clock).
    pub signed_at_ms: u64,
    /// When the level above acknowledged holding it: (ms, that node, its level).
    pub received: Option<(u64, ReplicaId, Level)>,
    /// The deadline for this level's tables, if the campaign sets one.
    pub due: Option<chrono::NaiveDate>,
    /// The checkpoint: logs named and events they cover.
    pub checkpoint_logs: usize,
    /// Events up to the checkpoint.
    pub checkpoint_events: u64,
    /// The cells as submitted.
    pub cells: Vec<proto::TableCell>,
    /// Where the recomputation differs.
    pub differences: Vec<proto::CellDifference>,
    /// The level above's verdict on this submission, if held: (equal, its author).
    pub verdict: Option<(bool, ReplicaId)>,
    /// What was checked.
    pub counts: Counts,
}

/// The verdict on a report proof.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportExamination {
    /// Every difference found.
    pub problems: Vec<Problem>,
    /// The exporting node's unit as enrolled.
    pub exporter_unit: Option<UnitPath>,
    /// What the events support.
    pub summary: ReportSummary,
}

/// Examines a report proof: the submission, its checkpoint complete and covering what
/// the level above had acknowledged, the table recomputed from exactly the events at or
/// below the checkpoint, and the receipt of the level above against the deadline.
pub fn examine_report(
    root: ReplicaId,
    root_unit: &UnitPath,
    subject: &ReportSubject,
    exporter: ReplicaId,
    contents: &Contents,
) -> ReportExamination {
    use crate::audit::projection::Projection;
    use crate::audit::tables;

    let Checked { exporter_unit, authority, held, authorised, counts, mut problems } =
        check_signed(root, root_unit, &subject.unit, exporter, contents);
    let mut summary = ReportSummary { counts, ..ReportSummary::default() };
    let body_of = |key: &(ReplicaId, Seq)| -> Option<Body> {
        let event = held.get(key).filter(|_| authorised.contains(key))?;
        Body::decode(event.header().kind, event.body()?).ok()
    };
    let (report_zh, report_en) = event_name(&subject.report.0, subject.report.1);
    let report = match (body_of(&subject.report), held.get(&subject.report)) {
        (Some(Body::ReportSubmitted(report)), Some(event))
            if event.header().unit_path == subject.unit && report.table == subject.table =>
        {
            summary.signed_at_ms = event.header().hlc.wall_ms;
            report
        }
        _ => {
            problems.push(Problem::new(
                format!("所证明的报送（{report_zh}）不在其中、未获授权，或不是 {} 的表{}", subject.unit, subject.table),
                format!(
                    "the submission ({report_en}) is missing, not authorised, or not table {} of {}",
                    subject.table, subject.unit
                ),
            ));
            return ReportExamination { problems, exporter_unit, summary };
        }
    };
    summary.cells = report.cells.clone();

    // The checkpoint: every event it names is here, and its heads are these events.
    let mut checkpoint: BTreeMap<ReplicaId, u64> = BTreeMap::new();
    for head in &report.checkpoint {
        let Ok(replica) = <[u8; 32]>::try_from(&head.replica[..]).map(ReplicaId) else {
            problems
                .push(Problem::new("检查点中有无效的日志标识".into(), "the checkpoint names an invalid log".into()));
            continue;
        };
        checkpoint.insert(replica, head.seq);
        summary.checkpoint_events = summary.checkpoint_events.saturating_add(head.seq);
        let present =
            if head.seq == 0 { 0 } else { held.range((replica, Seq(1))..=(replica, Seq(head.seq))).count() as u64 };
        let missing = (present < head.seq)
            .then(|| (1..=head.seq).find(|seq| !held.contains_key(&(replica, Seq(*seq)))).unwrap_or(1));
        if let Some(missing) = missing {
            let (zh, en) = event_name(&replica, Seq(missing));
            problems.push(Problem::new(
                format!("检查点列到日志 {} 第 {} 号，却缺少{zh}：无法按检查点重算", short(&replica), head.seq),
                format!(
                    "the checkpoint names log {} up to {}, but {en} is missing: the table cannot be recomputed",
                    short(&replica),
                    head.seq
                ),
            ));
        } else if !head.hash.is_empty()
            && head.seq > 0
            && held.get(&(replica, Seq(head.seq))).is_some_and(|e| e.hash().0[..] != head.hash[..])
        {
            problems.push(Problem::new(
                format!("检查点所记日志 {} 第 {} 号事件的哈希与所附事件不符", short(&replica), head.seq),
                format!(
                    "the checkpoint's hash for event {} of log {} differs from the event held",
                    head.seq,
                    short(&replica)
                ),
            ));
        }
    }
    summary.checkpoint_logs = checkpoint.len();

    // The checkpoint covers everything the level above had acknowledged of the unit's
    // subtree up to the point of its log the unit had heard.
    let parent_unit = subject.unit.parent();
    let parents: Vec<ReplicaId> = checkpoint
        .keys()
        .copied()
        .filter(|replica| {
            authority.enrollment(replica).is_some_and(|e| e.role == Role::Node && Some(&e.unit) == parent_unit.as_ref())
        })
        .collect();
    if parent_unit.is_some() && parents.is_empty() {
        problems.push(Problem::new(
            "检查点未包含上一级节点的日志：报送前未与上级同步".into(),
            "the checkpoint names no log of the level above: the unit had not synced with it".into(),
        ));
    }
    // The loops below walk the events held, never the seqs a signed body names (a
    // checkpoint's seq is the signer's claim, and could be 2^64 - 1).
    let held_up_to = |replica: ReplicaId, last: u64| {
        // (A range whose end is before its start panics: a checkpoint may name seq 0.)
        if last == 0 {
            return Vec::new();
        }
        held.range((replica, Seq(1))..=(replica, Seq(last))).map(|(key, _)| *key).collect::<Vec<_>>()
    };
    for parent in &parents {
        for key in held_up_to(*parent, checkpoint[parent]) {
            let seq = key.1.0;
            let Some(Body::Receipt(receipt)) = body_of(&key) else { continue };
            if held[&key].header().unit_path != subject.unit {
                continue;
            }
            for head in &receipt.heads {
                let Ok(replica) = <[u8; 32]>::try_from(&head.replica[..]).map(ReplicaId) else { continue };
                if checkpoint.get(&replica).copied().unwrap_or(0) < head.seq {
                    problems.push(Problem::new(
                        format!(
                            "检查点遗漏了上级已确认收到的事件：上级回执（日志 {} 第 {seq} 号）确认日志 {} 到第 {} 号，检查点只到第 {} 号",
                            short(parent),
                            short(&replica),
                            head.seq,
                            checkpoint.get(&replica).copied().unwrap_or(0)
                        ),
                        format!(
                            "the checkpoint leaves out events the level above had acknowledged: its receipt (event {seq} of log {}) covers log {} up to {}, the checkpoint only {}",
                            short(parent),
                            short(&replica),
                            head.seq,
                            checkpoint.get(&replica).copied().unwrap_or(0)
                        ),
                    ));
                }
            }
        }
    }

    // Every event the recomputation needs travels whole: a stub of an event about the
    // unit's subtree or its ancestors would drop it from the count unnoticed.
    for (replica, last) in &checkpoint {
        for key in held_up_to(*replica, *last) {
            let event = &held[&key];
            if event.is_stub()
                && !crate::body::is_infrastructure(event.header().kind)
                && crate::scope::body_visible(&event.header().unit_path, &subject.unit)
            {
                let (zh, en) = event_name(&key.0, key.1);
                problems.push(Problem::new(
                    format!("{zh}关乎 {}，重算需要其正文，却只附了存根", event.header().unit_path),
                    format!(
                        "{en} is about {}, which the recomputation needs, but only its stub is here",
                        event.header().unit_path
                    ),
                ));
            }
        }
    }

    // The table recomputed from exactly the events at or below the checkpoint.
    let mut projection = Projection::for_unit(subject.unit.clone());
    for (replica, last) in &checkpoint {
        let Some(level) = authority.enrollment(replica).map(|e| e.level) else { continue };
        for key in held_up_to(*replica, *last) {
            if let Some(body) = body_of(&key) {
                projection.apply_for_good(held[&key].header(), &body, level);
            }
        }
    }
    match tables::template(subject.table) {
        Some(template) => {
            let recomputed = tables::cells_of(&tables::compute(template, &projection, &subject.unit));
            summary.differences = tables::differences(&report.cells, &recomputed);
            for difference in summary.differences.iter().take(20) {
                let value = |v: Option<i64>| v.map_or_else(|| "空".to_string(), |v| v.to_string());
                problems.push(Problem::new(
                    format!(
                        "第 {} 行第 {} 列：报送 {}，按检查点重算为 {}",
                        u64::from(difference.row) + 1,
                        u64::from(difference.column) + 1,
                        value(difference.submitted),
                        value(difference.recomputed)
                    ),
                    format!(
                        "row {} column {}: submitted {}, recomputed from the checkpoint {}",
                        u64::from(difference.row) + 1,
                        u64::from(difference.column) + 1,
                        value(difference.submitted),
                        value(difference.recomputed)
                    ),
                ));
            }
        }
        None => problems
            .push(Problem::new(format!("没有表{}", subject.table), format!("there is no table {}", subject.table))),
    }

    // When the level above received it, against the deadline.
    let receipts: Vec<(&VerifiedEvent, proto::Receipt)> = authorised
        .iter()
        .filter_map(|key| match body_of(key) {
            Some(Body::Receipt(receipt)) => Some((&held[key], receipt)),
            _ => None,
        })
        .collect();
    let receipt_refs: Vec<(&VerifiedEvent, &proto::Receipt)> = receipts.iter().map(|(e, r)| (*e, r)).collect();
    let ends = run_ends(&held);
    summary.received = earliest_receipt(&authority, &held, &ends, &receipt_refs, subject.report, &mut problems)
        .map(|found| (found.at_ms, found.signer, found.level));
    if parent_unit.is_some() && summary.received.is_none() {
        problems.push(Problem::new(
            format!("没有上一级节点的回执证明收到了这次报送（{report_zh}）"),
            format!("no receipt of the level above shows it received the submission ({report_en})"),
        ));
    }
    let deadline = match subject.unit.level() {
        Some(Level::University) => Some(proto::DeadlineKind::UniversityTables),
        Some(Level::Province) => Some(proto::DeadlineKind::ProvinceTables),
        _ => None,
    };
    summary.due = deadline.and_then(|kind| projection.campaign().and_then(|campaign| campaign.due(kind)));
    let received_ms = if parent_unit.is_some() { summary.received.map(|r| r.0) } else { Some(summary.signed_at_ms) };
    if let (Some(due), Some(at)) = (summary.due, received_ms)
        && at > dates::end_of_day_cst_ms(due)
    {
        problems.push(Problem::new(
            format!("上级收到于 {}，晚于截止日期 {}", cst_time(at), due.format("%Y-%m-%d")),
            format!("received above at {}, after the deadline {}", cst_time(at), due.format("%Y-%m-%d")),
        ));
    }

    // The level above's verdict on this very submission, if the proof holds it.
    for key in &authorised {
        if let Some(Body::ReportVerified(verdict)) = body_of(key)
            && held[key].header().unit_path == subject.unit
            && verdict.table == subject.table
            && verdict.report_replica[..] == subject.report.0.0[..]
            && verdict.report_seq == subject.report.1.0
        {
            summary.verdict = Some((verdict.equal, key.0));
        }
    }
    ReportExamination { problems, exporter_unit, summary }
}

/// A report proof's summary (Chinese), regenerated by the verifier byte for byte.
pub fn report_summary_text(subject: &ReportSubject, summary: &ReportSummary) -> String {
    let mut out = String::new();
    let title = crate::audit::tables::template(subject.table).map_or("", |t| t.title_zh);
    let _ = writeln!(out, "报表报送证明");
    let _ = writeln!(out, "单位：{}", subject.unit);
    let _ = writeln!(out, "报表：表{}　{}", subject.table, title);
    let _ = writeln!(
        out,
        "报送：日志 {} 第 {} 号事件，签名于 {}",
        short(&subject.report.0),
        subject.report.1.0,
        cst_time(summary.signed_at_ms)
    );
    let _ = writeln!(
        out,
        "计算依据（检查点）：{} 个日志，共 {} 个事件",
        summary.checkpoint_logs, summary.checkpoint_events
    );
    let _ = writeln!(out, "上级收到：{}", received_text(summary.received.as_ref()));
    let _ = writeln!(
        out,
        "截止日期：{}",
        summary.due.map_or("本级报表无统一截止日期".to_string(), |due| due.format("%Y-%m-%d").to_string())
    );
    let _ = writeln!(
        out,
        "按检查点重算：{}",
        if summary.differences.is_empty() {
            format!("与报送的 {} 个非空单元格一致", summary.cells.iter().filter(|c| c.value.is_some()).count())
        } else {
            format!("有 {} 个单元格不同", summary.differences.len())
        }
    );
    let _ = writeln!(
        out,
        "上级核验：{}",
        match summary.verdict {
            Some((true, by)) => format!("一致（{} 记录）", short(&by)),
            Some((false, by)) => format!("有差异（{} 记录）", short(&by)),
            None => "未附核验记录".to_string(),
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "报送的单元格（行、列：值）");
    for cell in &summary.cells {
        let _ = writeln!(
            out,
            "  第 {} 行第 {} 列：{}",
            u64::from(cell.row) + 1,
            u64::from(cell.column) + 1,
            cell.value.map_or_else(|| "空".to_string(), |v| v.to_string())
        );
    }
    let counts = summary.counts;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "核验范围：事件 {} 件（附正文 {} 件，存根 {} 件），签名者 {} 个，登记链事件 {} 件，前后链接 {} 处。",
        counts.full + counts.stubs,
        counts.full,
        counts.stubs,
        counts.authors,
        counts.chain,
        counts.links
    );
    out
}
