//! Deterministic simulation of sync, pure: N replicas of a small province exchange
//! messages through a seeded in-memory network that drops, duplicates, delays and
//! reorders them, is partitioned and healed, while replicas crash and restart (losing
//! every volatile session state, keeping what they stored) and keep appending events.
//! The replicas decide with the real core functions (`rollcall_core::sync::plan_sends`,
//! `admit`, `scope::shape`, `verify`), the same ones the node's sessions call.
//!
//! Two replicas are byzantine (issue 12): branch c1/b1's node key and a laptop key of
//! that branch. They author what authority lets them sign but the rules would refuse:
//! events whose bodies name members of other branches, a registration of another
//! branch's member (a duplicate relation), sign-offs out of order, and they send their
//! own events as stubs while the network is faulty.
//!
//! Invariants checked after healing: every replica holds, for every log in its scope,
//! exactly the owner's log (each event in full, or as a stub where the scope says so),
//! and nothing outside its scope; every chain held is intact. Then each node at or above
//! the college records the duplicate relations it is the lowest common ancestor of (as
//! the node's writer does), the network heals again, and every replica's projection of
//! every unit in its subtree equals the projection of that unit by every replica above
//! it, metric by metric.
//!
//! `SIM_SEEDS=<n>` runs n seeds (default 500); `SIM_SEED=<s>` replays one. Every failure
//! prints its seed.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use rollcall_client::sample::SampleRng;
use rollcall_core::audit::Projection;
use rollcall_core::audit::stats::Metric;
use rollcall_core::authority::{Authority, Role};
use rollcall_core::body::Body;
use rollcall_core::log::{Draft, Head, LocalWriter, check_next};
use rollcall_core::scope::{self, Share};
use rollcall_core::sync::{Admission, admit, plan_sends};
use rollcall_core::{EventId, EventKind, HlcTime, ReplicaId, Seq, UnitPath, VerifiedEvent, proto, verify};

/// Events per message, as the node's `EVENTS_PER_MESSAGE_MAX` but small, to exercise batching.
const EVENTS_PER_MESSAGE: usize = 4;
/// The compromised branch node (c1/b1) and the compromised laptop of that branch.
const BYZANTINE_BRANCH: usize = 3;
const BYZANTINE_LAPTOP: usize = 7;

#[derive(Clone)]
enum Message {
    Hello { heads: Vec<(ReplicaId, Seq)> },
    Events { events: Vec<rollcall_core::SignedEvent> },
}

struct Envelope {
    from: usize,
    to: usize,
    /// Session generation of the edge when sent: messages of a dead session are dropped.
    generation: u64,
    deliver_at: u64,
    message: Message,
}

struct SimReplica {
    key: SigningKey,
    unit: UnitPath,
    /// A compromised key: authors what the rules would refuse, strips bodies.
    byzantine: bool,
    parent: Option<usize>,
    /// Durable: the logs held, by replica.
    logs: BTreeMap<ReplicaId, Vec<VerifiedEvent>>,
    authority: Authority,
    writer: LocalWriter,
    /// Volatile: what each connected peer is known to hold, by peer index.
    peer_known: BTreeMap<usize, HashMap<ReplicaId, Seq>>,
    up: bool,
}

impl SimReplica {
    fn replica(&self) -> ReplicaId {
        ReplicaId(self.key.verifying_key().to_bytes())
    }

    fn head(&self, replica: &ReplicaId) -> Head {
        self.logs.get(replica).and_then(|log| log.last()).map_or(Head::EMPTY, Head::of)
    }

    fn heads(&self) -> Vec<(ReplicaId, Seq)> {
        self.logs.iter().filter_map(|(r, log)| log.last().map(|e| (*r, e.seq()))).collect()
    }

    /// The audit projection of every event held with its body, as a node rebuilds it.
    fn projection(&self) -> Projection {
        let mut projection = Projection::for_unit(self.unit.clone());
        for (replica, log) in &self.logs {
            let Some(level) = self.authority.enrollment(replica).map(|e| e.level) else { continue };
            for event in log {
                let Some(bytes) = event.body() else { continue };
                if let Ok(body) = Body::decode(event.header().kind, bytes) {
                    projection.apply_for_good(event.header(), &body, level);
                }
            }
        }
        projection
    }

    /// Appends a local event (durable at once: the store's write is atomic).
    fn append(&mut self, now_ms: u64, event_id: u64, draft: Draft) {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&event_id.to_be_bytes());
        let before = self.writer.clone();
        let Ok(prepared) = self.writer.prepare(now_ms, EventId(id), draft) else { return };
        let event = prepared.sign(&self.key);
        let head = self.head(&self.replica());
        match admit(&mut self.authority, &self.unit, head, &event, |_| None) {
            Admission::Accept => self.logs.entry(event.replica()).or_default().push(event),
            other => {
                if std::env::var_os("SIM_DEBUG").is_some() {
                    eprintln!("{} could not author {:?}: {other:?}", self.unit, event.header().kind);
                }
                self.writer = before;
            }
        }
    }

    fn receive(&mut self, events: Vec<rollcall_core::SignedEvent>) {
        for signed in events {
            let Ok(event) = verify(&signed) else { panic!("the network never forges") };
            let replica = event.replica();
            let head = self.head(&replica);
            let held = self.logs.get(&replica).cloned().unwrap_or_default();
            let admission = admit(&mut self.authority, &self.unit, head, &event, |seq| {
                held.get(seq.0 as usize - 1).map(|e| e.hash())
            });
            match admission {
                Admission::Accept => {
                    self.writer.observe(event.header().hlc);
                    self.logs.entry(replica).or_default().push(event);
                }
                Admission::Duplicate => {}
                Admission::Refuse(refusal) => {
                    if std::env::var_os("SIM_DEBUG").is_some() {
                        eprintln!("{} refused {} seq {}: {refusal}", self.unit, event.header().unit_path, event.seq());
                    }
                }
                Admission::Equivocation { .. } => panic!("honest replicas never fork"),
            }
        }
    }

    /// The events the peer lacks within its scope, shaped for it, in batches; with
    /// `strip_own_bodies` (a byzantine sender), its own events travel as stubs.
    fn missing_for(
        &mut self,
        peer: usize,
        peer_unit: &UnitPath,
        strip_own_bodies: bool,
    ) -> Vec<Vec<rollcall_core::SignedEvent>> {
        let known = self.peer_known.entry(peer).or_default().clone();
        let plan = plan_sends(&self.authority, self.heads(), &known, peer_unit);
        let mut events = Vec::new();
        for range in plan {
            let log = &self.logs[&range.replica];
            for event in &log[(range.from.0 - 1) as usize..range.to.0 as usize] {
                if let Some(shaped) = scope::shape(event.clone(), range.share, peer_unit) {
                    let stripped = strip_own_bodies && range.replica == self.replica();
                    events.push(if stripped { shaped.to_stub().to_signed() } else { shaped.to_signed() });
                }
            }
            self.peer_known.entry(peer).or_default().insert(range.replica, range.to);
        }
        events.chunks(EVENTS_PER_MESSAGE).map(<[_]>::to_vec).collect()
    }
}

struct Sim {
    rng: SampleRng,
    replicas: Vec<SimReplica>,
    in_flight: Vec<Envelope>,
    /// Per edge (child index): session generation; bumped when the session breaks.
    generation: HashMap<usize, u64>,
    partitioned: Vec<bool>,
    now: u64,
    next_event_id: u64,
    faults: bool,
}

fn unit(text: &str) -> UnitPath {
    UnitPath::parse(text).expect("valid unit")
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = SampleRng::new(seed);
        // The last replica is a laptop of c1/b1 (unit c1/b1, parent the b1 node).
        let units = ["hb", "hb/u1", "hb/u1/c1", "hb/u1/c1/b1", "hb/u1/c1/b2", "hb/u1/c2", "hb/u1/c2/b1", "hb/u1/c1/b1"];
        let parents = [None, Some(0), Some(1), Some(2), Some(2), Some(1), Some(5), Some(3)];
        let keys: Vec<SigningKey> = (0..units.len())
            .map(|_| SigningKey::from_bytes(&rng.next_u64().to_le_bytes().repeat(4).try_into().expect("32 bytes")))
            .collect();
        let root = ReplicaId(keys[0].verifying_key().to_bytes());
        let replicas = keys
            .into_iter()
            .zip(units.iter().zip(parents))
            .enumerate()
            .map(|(index, (key, (text, parent)))| {
                let replica = ReplicaId(key.verifying_key().to_bytes());
                SimReplica {
                    writer: LocalWriter::new(replica, Head::EMPTY, HlcTime::default()),
                    key,
                    unit: unit(text),
                    byzantine: index == BYZANTINE_BRANCH || index == BYZANTINE_LAPTOP,
                    parent,
                    logs: BTreeMap::new(),
                    authority: Authority::new(root, unit("hb")),
                    peer_known: BTreeMap::new(),
                    up: true,
                }
            })
            .collect::<Vec<_>>();
        let n = replicas.len();
        let mut sim = Sim {
            rng,
            replicas,
            in_flight: Vec::new(),
            generation: HashMap::new(),
            partitioned: vec![false; n],
            now: 1_800_000_000_000,
            next_event_id: 1,
            faults: true,
        };
        // Every parent enrolls its children, top-down, in its own log; the child receives
        // the enrollment chain from the root to itself, as a bundle carries it, so it can
        // author (and enroll its own children) before its first sync.
        let mut enrollment_of: Vec<Option<VerifiedEvent>> = vec![None; n];
        for child in 1..n {
            let parent = sim.replicas[child].parent.expect("non-root has a parent");
            let body = Body::ReplicaEnrolled(proto::ReplicaEnrolled {
                public_key: Bytes::copy_from_slice(&sim.replicas[child].replica().0),
                unit_path: sim.replicas[child].unit.to_string(),
                level: sim.replicas[child].unit.level().expect("known level").to_proto() as i32,
                role: if child == BYZANTINE_LAPTOP { Role::Laptop } else { Role::Node }.to_proto() as i32,
                valid_until_ms: 0,
                label: String::new(),
            });
            let draft = Draft {
                unit_path: sim.replicas[child].unit.clone(),
                kind: EventKind::ReplicaEnrolled,
                body: body.encode(),
                author: "sim".into(),
            };
            sim.append(parent, draft);
            let enrolled = sim.replicas[parent].logs.get(&sim.replicas[parent].replica()).and_then(|log| log.last());
            assert!(
                enrolled.is_some_and(|event| event.header().kind == EventKind::ReplicaEnrolled),
                "{} enrolls {}",
                sim.replicas[parent].unit,
                sim.replicas[child].unit
            );
            enrollment_of[child] = enrolled.cloned();
            let mut chain = Vec::new();
            let mut at = Some(child);
            while let Some(index) = at {
                chain.extend(enrollment_of[index].clone());
                at = sim.replicas[index].parent;
            }
            chain.reverse();
            sim.replicas[child].authority.apply_chain(&chain);
        }
        for child in 1..n {
            sim.connect(child);
        }
        sim
    }

    fn append(&mut self, idx: usize, draft: Draft) {
        self.now += 1;
        self.next_event_id += 1;
        let (now, id) = (self.now, self.next_event_id);
        self.replicas[idx].append(now, id, draft);
    }

    /// A new session on the edge child–parent: both sides forget what they knew of each
    /// other and say hello.
    fn connect(&mut self, child: usize) {
        let parent = self.replicas[child].parent.expect("edge has a parent");
        if !self.replicas[child].up || !self.replicas[parent].up || self.partitioned[child] {
            return;
        }
        *self.generation.entry(child).or_default() += 1;
        self.replicas[child].peer_known.remove(&parent);
        self.replicas[parent].peer_known.remove(&child);
        for (from, to) in [(child, parent), (parent, child)] {
            let heads = self.replicas[from].heads();
            self.send(from, to, child, Message::Hello { heads });
        }
    }

    fn send(&mut self, from: usize, to: usize, edge: usize, message: Message) {
        let delay = if self.faults { self.rng.below(20) } else { 0 };
        let generation = self.generation.get(&edge).copied().unwrap_or_default();
        self.in_flight.push(Envelope { from, to, generation, deliver_at: self.now + delay, message });
        if self.faults && self.rng.below(20) == 0 {
            // At-least-once: the same message again, later in the same stream.
            let duplicate = self.in_flight.last().map(|e| Envelope {
                from: e.from,
                to: e.to,
                generation: e.generation,
                deliver_at: e.deliver_at + self.rng.below(10),
                message: e.message.clone(),
            });
            self.in_flight.extend(duplicate);
        }
    }

    fn edge_of(&self, a: usize, b: usize) -> usize {
        if self.replicas[a].parent == Some(b) { a } else { b }
    }

    fn deliver_one(&mut self) -> bool {
        // A session is one ordered stream (as over TCP): only the oldest message of each
        // (sender, receiver, session) may be delivered; streams interleave freely.
        let mut seen: Vec<(usize, usize, u64)> = Vec::new();
        let mut ready: Vec<usize> = Vec::new();
        for (idx, envelope) in self.in_flight.iter().enumerate() {
            let channel = (envelope.from, envelope.to, envelope.generation);
            if seen.contains(&channel) {
                continue;
            }
            seen.push(channel);
            if envelope.deliver_at <= self.now {
                ready.push(idx);
            }
        }
        if ready.is_empty() {
            return false;
        }
        let pick = if self.faults { ready[self.rng.below(ready.len() as u64) as usize] } else { ready[0] };
        let envelope = self.in_flight.remove(pick);
        let edge = self.edge_of(envelope.from, envelope.to);
        let live = self.generation.get(&edge).copied().unwrap_or_default() == envelope.generation;
        let dropped = self.faults && self.rng.below(25) == 0;
        if !live || dropped || self.partitioned[edge] || !self.replicas[envelope.to].up {
            if dropped && live {
                // A lost message breaks the stream: the session ends and is re-established.
                *self.generation.entry(edge).or_default() += 1;
            }
            return true;
        }
        let to = envelope.to;
        let from = envelope.from;
        match envelope.message {
            Message::Hello { heads } => {
                let known: HashMap<ReplicaId, Seq> = heads.into_iter().collect();
                self.replicas[to].peer_known.insert(from, known);
                self.push_missing(to, from);
            }
            Message::Events { events } => {
                self.replicas[to].receive(events);
                // What arrived is now held here; peers of `to` may lack it.
                self.push_all_from(to);
            }
        }
        true
    }

    fn push_missing(&mut self, from: usize, to: usize) {
        if !self.replicas[from].peer_known.contains_key(&to) {
            return; // No session established yet (hello not received).
        }
        let peer_unit = self.replicas[to].unit.clone();
        let edge = self.edge_of(from, to);
        let strip = self.faults && self.replicas[from].byzantine && self.rng.below(3) == 0;
        for batch in self.replicas[from].missing_for(to, &peer_unit, strip) {
            self.send(from, to, edge, Message::Events { events: batch });
        }
    }

    fn push_all_from(&mut self, idx: usize) {
        let peers: Vec<usize> = self.replicas[idx].peer_known.keys().copied().collect();
        for peer in peers {
            self.push_missing(idx, peer);
        }
    }

    fn random_step(&mut self) {
        self.now += 1;
        let n = self.replicas.len();
        match self.rng.below(100) {
            0..=34 => {
                // A replica records something about a member of a branch in its subtree
                // (a byzantine one: about a member of any branch).
                let idx = self.rng.below(n as u64) as usize;
                if self.replicas[idx].up {
                    let draft = self.audit_draft(idx);
                    self.append(idx, draft);
                    self.push_all_from(idx);
                }
            }
            35..=37 => {
                // Crash: volatile session state and in-flight messages to it are lost.
                let idx = 1 + self.rng.below(n as u64 - 1) as usize;
                self.replicas[idx].up = false;
                self.replicas[idx].peer_known.clear();
                self.in_flight.retain(|e| e.to != idx);
            }
            38..=41 => {
                // Restart a crashed replica and reconnect its edges.
                let idx = 1 + self.rng.below(n as u64 - 1) as usize;
                if !self.replicas[idx].up {
                    self.replicas[idx].up = true;
                    let children: Vec<usize> = (1..n).filter(|&c| self.replicas[c].parent == Some(idx)).collect();
                    self.connect(idx);
                    for child in children {
                        self.connect(child);
                    }
                }
            }
            42..=43 => {
                let edge = 1 + self.rng.below(n as u64 - 1) as usize;
                self.partitioned[edge] = true;
                *self.generation.entry(edge).or_default() += 1;
            }
            44..=47 => {
                let edge = 1 + self.rng.below(n as u64 - 1) as usize;
                if self.partitioned[edge] {
                    self.partitioned[edge] = false;
                    self.connect(edge);
                }
            }
            48..=51 => {
                // A node notices a broken session and reconnects.
                let edge = 1 + self.rng.below(n as u64 - 1) as usize;
                self.connect(edge);
            }
            _ => {
                self.deliver_one();
            }
        }
    }

    /// An audit event by replica `idx`: filed at a branch of its subtree, about a member
    /// of that branch (honest) or of any branch (byzantine: misaddressed bodies and
    /// duplicate registrations), sign-offs at the author's level in any order.
    fn audit_draft(&mut self, idx: usize) -> Draft {
        let own_unit = self.replicas[idx].unit.clone();
        let branches: Vec<UnitPath> = self
            .replicas
            .iter()
            .map(|r| r.unit.clone())
            .filter(|u| u.level() == Some(rollcall_core::Level::Branch))
            .collect();
        let mine: Vec<UnitPath> = branches.iter().filter(|u| u.is_within(&own_unit)).cloned().collect();
        let filed_at = mine[self.rng.below(mine.len() as u64) as usize].clone();
        let about_branch = if self.replicas[idx].byzantine && self.rng.below(3) != 0 {
            branches[self.rng.below(branches.len() as u64) as usize].clone()
        } else {
            filed_at.clone()
        };
        let member_id = format!("{about_branch}#m{}", self.rng.below(2));
        let level = own_unit.level().expect("a level");
        let body = match self.rng.below(8) {
            0 | 1 | 7 => Body::MemberRegistered(proto::MemberRegistered {
                member_id: member_id.clone(),
                form: Some(proto::MemberForm {
                    name: member_id.clone(),
                    category: proto::MemberCategory::Full as i32,
                    person_group: [proto::PersonGroup::Staff, proto::PersonGroup::Student][self.rng.below(2) as usize]
                        as i32,
                    ..Default::default()
                }),
                source: 1,
            }),
            2 => Body::ContactStatusAssessed(proto::ContactStatusAssessed {
                member_id: member_id.clone(),
                status: proto::ContactStatus::LostStatus as i32,
                situation: proto::LostSituation::LeftJob as i32,
                ..Default::default()
            }),
            3 => Body::RecordCorrected(proto::RecordCorrected {
                member_id: member_id.clone(),
                field: proto::MemberField::Name as i32,
                new_value: format!("n{}", self.rng.below(100)),
                reason: "sim".into(),
                settles: vec![],
            }),
            4 => {
                use proto::form_signed_off::Stage as S;
                // Each stage at its level (authority refuses the others), in any order.
                let stage = match (level, self.rng.below(2)) {
                    (rollcall_core::Level::Branch, 0) => S::MemberConfirmed,
                    (rollcall_core::Level::Branch, _) => S::BranchChecked,
                    (rollcall_core::Level::College, _) => S::CommitteeRechecked,
                    _ => S::Unspecified,
                };
                Body::FormSignedOff(proto::FormSignedOff {
                    member_id: member_id.clone(),
                    stage: stage as i32,
                    signed_on: None,
                })
            }
            5 => Body::ContactAttempted(proto::ContactAttempted {
                member_id: member_id.clone(),
                method: proto::ContactMethod::Phone as i32,
                outcome: proto::contact_attempted::Outcome::NoResponse as i32,
                ..Default::default()
            }),
            _ => Body::ConductNoted(proto::ConductNoted {
                member_id: member_id.clone(),
                summary: "sim".into(),
                violation_reported: false,
            }),
        };
        Draft { unit_path: filed_at, kind: body.kind(), body: body.encode(), author: "sim".into() }
    }

    /// What a node's writer does after ingesting registrations: each node at or above
    /// the college records the duplicate relations it is the lowest common ancestor of.
    fn report_duplicates(&mut self) {
        for idx in 0..self.replicas.len() {
            let unit = self.replicas[idx].unit.clone();
            if unit.level().is_none_or(|level| level > rollcall_core::Level::College) {
                continue;
            }
            let projection = self.replicas[idx].projection();
            if std::env::var_os("SIM_DEBUG").is_some() {
                let registered: Vec<String> =
                    projection.registered_relations().map(|(id, e)| format!("{id}@{}", e.unit)).collect();
                eprintln!("{unit}: registered {registered:?}");
            }
            for found in projection.duplicates_to_report(&unit, None) {
                let body = Body::DuplicateRelationFound(found);
                let draft =
                    Draft { unit_path: unit.clone(), kind: body.kind(), body: body.encode(), author: "sim".into() };
                self.append(idx, draft);
            }
        }
    }

    /// Every replica's projection of every unit in its subtree equals that of every
    /// replica above it (and of the unit's own replica), metric by metric.
    fn check_views_agree(&self) -> Result<usize, String> {
        let projections: Vec<Projection> = self.replicas.iter().map(SimReplica::projection).collect();
        // A member registered at several branches counts at one of them, at most.
        for (replica, projection) in self.replicas.iter().zip(&projections) {
            let mut counted: BTreeMap<&str, usize> = BTreeMap::new();
            for (member_id, _) in projection.registered_relations().filter(|(_, entry)| entry.counted.is_some()) {
                *counted.entry(member_id).or_default() += 1;
            }
            if let Some((member, times)) = counted.into_iter().find(|(_, times)| *times > 1) {
                return Err(format!("{} counts member {member} {times} times", replica.unit));
            }
        }
        let mut compared = 0;
        for (below, below_projection) in self.replicas.iter().zip(&projections) {
            for (above, above_projection) in self.replicas.iter().zip(&projections) {
                if !below.unit.is_within(&above.unit) {
                    continue;
                }
                for unit in self.replicas.iter().map(|r| &r.unit).filter(|u| u.is_within(&below.unit)) {
                    let (own, seen) = (below_projection.rollup(unit), above_projection.rollup(unit));
                    if own != seen {
                        let differing: Vec<String> = Metric::ALL
                            .iter()
                            .filter(|m| own.total(**m) != seen.total(**m))
                            .map(|m| format!("{} {} vs {}", m.key(), own.total(*m), seen.total(*m)))
                            .collect();
                        return Err(format!(
                            "{unit} as seen at {} differs from {}'s own view: {}",
                            above.unit,
                            below.unit,
                            differing.join(", ")
                        ));
                    }
                    compared += 1;
                }
            }
        }
        Ok(compared)
    }

    /// Heals everything and runs the network until nothing is in flight.
    fn heal(&mut self) {
        self.faults = false;
        let n = self.replicas.len();
        for idx in 0..n {
            self.replicas[idx].up = true;
            self.partitioned[idx] = false;
        }
        for child in 1..n {
            self.connect(child);
        }
        let mut steps = 0;
        while !self.in_flight.is_empty() {
            self.now += 1;
            while self.deliver_one() {}
            steps += 1;
            assert!(steps < 100_000, "the healed network does not quiesce");
        }
    }

    fn check_invariant(&self) -> Result<(), String> {
        for holder in &self.replicas {
            for owner in &self.replicas {
                let owner_log = owner.logs.get(&owner.replica()).cloned().unwrap_or_default();
                let held = holder.logs.get(&owner.replica()).cloned().unwrap_or_default();
                let share = scope::share(&owner.unit, &holder.unit);
                if share == Share::Nothing {
                    if !held.is_empty() {
                        return Err(format!("{} holds {}'s log outside its scope", holder.unit, owner.unit));
                    }
                    continue;
                }
                if held.len() != owner_log.len() {
                    return Err(format!(
                        "{} holds {} of {}'s {} events",
                        holder.unit,
                        held.len(),
                        owner.unit,
                        owner_log.len()
                    ));
                }
                let mut head = Head::EMPTY;
                for (held_event, own_event) in held.iter().zip(&owner_log) {
                    let expected = scope::shape(own_event.clone(), share, &holder.unit).expect("in scope");
                    if held_event != &expected {
                        return Err(format!(
                            "{} holds a different event {} of {}",
                            holder.unit,
                            own_event.seq(),
                            owner.unit
                        ));
                    }
                    check_next(owner.replica(), &head, held_event)
                        .map_err(|err| format!("{}: broken chain: {err}", holder.unit))?;
                    head = Head::of(held_event);
                }
            }
        }
        Ok(())
    }
}

/// What one seed did: events authored, duplicate-relation findings recorded, unit views
/// compared.
#[derive(Default)]
struct SeedFigures {
    events: usize,
    findings: usize,
    comparisons: usize,
}

fn run_seed(seed: u64) -> Result<SeedFigures, String> {
    let mut sim = Sim::new(seed);
    let steps = 300 + sim.rng.below(300);
    for _ in 0..steps {
        sim.random_step();
    }
    sim.heal();
    sim.check_invariant()?;
    let before = sim.next_event_id;
    sim.report_duplicates();
    let findings = (sim.next_event_id - before) as usize;
    sim.heal();
    sim.check_invariant()?;
    let comparisons = sim.check_views_agree()?;
    let events = sim.replicas.iter().map(|r| r.logs.get(&r.replica()).map_or(0, Vec::len)).sum();
    Ok(SeedFigures { events, findings, comparisons })
}

#[test]
fn sync_converges_within_scopes_under_faults() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("SIM_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(500);
            (1..=n).collect()
        }
    };
    let mut total = SeedFigures::default();
    for seed in &seeds {
        match std::panic::catch_unwind(|| run_seed(*seed)) {
            Ok(Ok(figures)) => {
                total.events += figures.events;
                total.findings += figures.findings;
                total.comparisons += figures.comparisons;
            }
            Ok(Err(message)) => panic!("seed {seed}: {message} (replay with SIM_SEED={seed})"),
            Err(_) => panic!("seed {seed} panicked (replay with SIM_SEED={seed})"),
        }
    }
    eprintln!(
        "{} seeds, {} events authored, {} duplicate relations found; all converged within scopes, \
         {} unit views compared, all equal to the unit's own",
        seeds.len(),
        total.events,
        total.findings,
        total.comparisons
    );
    assert!(total.findings > 0 || seeds.len() < 10, "the byzantine branch registered no duplicate relation");
}
