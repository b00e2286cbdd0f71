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
//! Honest replicas are also backed up at random moments and restored from those backups
//! later (their store replaced by an older one, as `deploy/restore.sh` does): a
//! restored replica recovers (`rollcall_core::recovery`): it signs nothing until every
//! peer that may hold its events has said what it holds of its log and sent its
//! backlog, and it holds as much again, refusing stubs of its own events and asking a peer whose stream stopped at one
//! to send the rest again once another peer has sent it in full. Any honest replica
//! ever seeing two events at one seq fails the seed; after healing, every restored
//! replica holds its whole log again (the invariant above), unless the only full copy of
//! one of its events was lost with its store (then it stays recovering, signing
//! nothing). A recovering peer's report counts only once it has heard all its other
//! peers (its copy of the log can then grow from nowhere else), so neighbours restored
//! at once finish without forking.
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
use rollcall_core::recovery::{Recovering, Report, heard_all_but, only_a_recovering_peer_left, waiting_for};
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
    Hello {
        heads: Vec<(ReplicaId, Seq)>,
        recovering: bool,
        heard_all_others: bool,
        /// The highest seq of the receiver's log the sender's other peers hold.
        receiver_log_seen: Seq,
    },
    Events {
        events: Vec<rollcall_core::SignedEvent>,
    },
    /// The sender's backlog (what it sent after the peer's hello) is all sent.
    CaughtUp,
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
    /// The durable state as a backup took it (honest replicas only).
    backup: Option<Box<Durable>>,
    /// Restored from a backup and not yet holding its own log again: signs nothing.
    recovering: bool,
    /// Volatile: by peer index, what the peer said in its hello of this replica's log,
    /// counted once its backlog has arrived (its `caught_up`).
    hello_reported: HashMap<usize, Report>,
    reported: HashMap<usize, Report>,
    /// Peers asked for a new hello in this recovery (the last one it waits for, itself
    /// recovering).
    rehello_asked: Vec<usize>,
    /// Volatile: by peer index, the first event of this replica's own log refused from
    /// that peer (a stub, and the gap after it).
    own_gap_from: BTreeMap<usize, Seq>,
    /// Times restored, and times a recovery ended (for the figures).
    restores: usize,
    recoveries: usize,
}

/// What a store holds: the logs, the enrollment state, the local log's writer.
#[derive(Clone)]
struct Durable {
    logs: BTreeMap<ReplicaId, Vec<VerifiedEvent>>,
    authority: Authority,
    writer: LocalWriter,
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

    /// Forgets what its sessions knew (a crash or a restore ends them all).
    fn forget_sessions(&mut self) {
        self.peer_known.clear();
        self.reported.clear();
        self.hello_reported.clear();
        self.rehello_asked.clear();
        self.own_gap_from.clear();
    }

    /// Decides each received event; returns the first seq of this replica's own log it
    /// refused (a stub of its own event, and the gap after it), if any.
    fn receive(&mut self, events: Vec<rollcall_core::SignedEvent>) -> Option<Seq> {
        let mut own_refused: Option<Seq> = None;
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
                    if replica == self.replica() {
                        // Its own event, signed before the backup it was restored from.
                        self.writer.continue_after(&event);
                    } else {
                        self.writer.observe(event.header().hlc);
                    }
                    self.logs.entry(replica).or_default().push(event);
                }
                Admission::Duplicate => {}
                Admission::Refuse(refusal) => {
                    if replica == self.replica() {
                        own_refused = Some(own_refused.map_or(event.seq(), |seq| seq.min(event.seq())));
                    }
                    if std::env::var_os("SIM_DEBUG").is_some() {
                        eprintln!("{} refused {} seq {}: {refusal}", self.unit, event.header().unit_path, event.seq());
                    }
                }
                Admission::Equivocation { .. } => {
                    panic!("{} saw two events at seq {} of one log: honest replicas never fork", self.unit, event.seq())
                }
            }
        }
        own_refused
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
                    backup: None,
                    recovering: false,
                    hello_reported: HashMap::new(),
                    reported: HashMap::new(),
                    rehello_asked: Vec::new(),
                    own_gap_from: BTreeMap::new(),
                    restores: 0,
                    recoveries: 0,
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
        if self.replicas[idx].recovering {
            return; // A recovering replica signs nothing.
        }
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
            let recovering = self.replicas[from].recovering;
            let to_replica = self.replicas[to].replica();
            let heard_all_others = recovering && heard_all_but(&self.waiting(from), to_replica);
            let receiver_log_seen = self.replicas[from]
                .peer_known
                .iter()
                .filter(|(peer, _)| **peer != to)
                .filter_map(|(_, known)| known.get(&to_replica).copied())
                .max()
                .unwrap_or_default();
            self.send(from, to, child, Message::Hello { heads, recovering, heard_all_others, receiver_log_seen });
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
            Message::Hello { heads, recovering, heard_all_others, receiver_log_seen } => {
                let known: HashMap<ReplicaId, Seq> = heads.into_iter().collect();
                let own = self.replicas[to].replica();
                let held = known.get(&own).copied().unwrap_or_default();
                let report = Report::from_hello(recovering, heard_all_others, held, receiver_log_seen);
                self.replicas[to].reported.remove(&from);
                self.replicas[to].hello_reported.insert(from, report);
                self.replicas[to].peer_known.insert(from, known);
                self.push_missing(to, from);
                let edge = self.edge_of(to, from);
                self.send(to, from, edge, Message::CaughtUp);
            }
            Message::CaughtUp => {
                // Everything the peer sent before is here (one ordered stream): what it
                // said it holds of this replica's log now counts.
                if let Some(report) = self.replicas[to].hello_reported.get(&from).copied() {
                    self.replicas[to].reported.insert(from, report);
                }
                self.check_recovery(to);
            }
            Message::Events { events } => {
                if let Some(first) = self.replicas[to].receive(events) {
                    let gap = self.replicas[to].own_gap_from.entry(from).or_insert(first);
                    *gap = (*gap).min(first);
                }
                self.resend_past_own_gaps(to);
                self.check_recovery(to);
                // What arrived is now held here; peers of `to` may lack it.
                self.push_all_from(to);
            }
        }
        true
    }

    /// A session whose stream of `idx`'s own events stopped at one it refused ends once
    /// `idx` holds that event (another peer sent it in full), so the peer sends the rest
    /// again in a new one (`sync::own_gap_filled` in the node).
    fn resend_past_own_gaps(&mut self, idx: usize) {
        let own_head = self.replicas[idx].head(&self.replicas[idx].replica()).seq;
        let filled: Vec<usize> =
            self.replicas[idx].own_gap_from.iter().filter(|(_, from)| own_head >= **from).map(|(p, _)| *p).collect();
        for peer in filled {
            self.replicas[idx].own_gap_from.remove(&peer);
            let edge = self.edge_of(idx, peer);
            self.connect(edge);
        }
    }

    /// Ends `idx`'s recovery once no peer that may hold its events is waited for.
    fn check_recovery(&mut self, idx: usize) {
        let replica = &self.replicas[idx];
        if !replica.recovering {
            return;
        }
        let waiting = self.waiting(idx);
        if let Some(last) = only_a_recovering_peer_left(&waiting) {
            // Tell the last peer, itself recovering, in a new hello, that this replica has
            // heard all its other peers (once per recovery).
            let peer = (0..self.replicas.len()).find(|&p| self.replicas[p].replica() == last).expect("a peer");
            if !self.replicas[idx].rehello_asked.contains(&peer) {
                self.replicas[idx].rehello_asked.push(peer);
                let edge = self.edge_of(idx, peer);
                self.connect(edge);
            }
            return;
        }
        let replica = &self.replicas[idx];
        if waiting.is_empty() {
            if std::env::var_os("SIM_DEBUG").is_some() {
                eprintln!(
                    "{} recovered at seq {}; reports {:?}",
                    replica.unit,
                    replica.head(&replica.replica()).seq.0,
                    replica.reported
                );
                let root = self.replicas[0].replica();
                let held: Vec<(String, u64, bool)> =
                    self.replicas.iter().map(|r| (r.unit.to_string(), r.head(&root).seq.0, r.recovering)).collect();
                eprintln!("  the root's log held: {held:?}");
            }
            self.replicas[idx].recovering = false;
            self.replicas[idx].recoveries += 1;
            // Its sessions end, so its peers hear in new hellos that it has recovered.
            self.reconnect_all(idx);
        }
    }

    /// Starts every session of `idx` anew: with its parent, and with each child.
    fn reconnect_all(&mut self, idx: usize) {
        if idx != 0 {
            self.connect(idx);
        }
        let children: Vec<usize> = (1..self.replicas.len()).filter(|&c| self.replicas[c].parent == Some(idx)).collect();
        for child in children {
            self.connect(child);
        }
    }

    /// Whom recovering replica `idx` waits for.
    fn waiting(&self, idx: usize) -> Vec<rollcall_core::recovery::Waiting> {
        let replica = &self.replicas[idx];
        let parent = replica.parent.map(|p| (self.replicas[p].replica(), self.replicas[p].unit.clone()));
        let node = Recovering {
            own: replica.replica(),
            unit: replica.unit.clone(),
            parent,
            own_head: replica.head(&replica.replica()).seq,
        };
        let reported: HashMap<ReplicaId, Report> =
            replica.reported.iter().map(|(peer, report)| (self.replicas[*peer].replica(), *report)).collect();
        waiting_for(&replica.authority, &node, self.now, &reported)
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
                self.replicas[idx].forget_sessions();
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
            52..=53 => {
                // A backup of an honest replica's store.
                let idx = self.rng.below(n as u64) as usize;
                let replica = &mut self.replicas[idx];
                if !replica.byzantine && replica.up {
                    replica.backup = Some(Box::new(Durable {
                        logs: replica.logs.clone(),
                        authority: replica.authority.clone(),
                        writer: replica.writer.clone(),
                    }));
                }
            }
            54 => {
                // Its store lost, the replica is restored from its backup (older than its
                // log, if it signed since) and recovers: every session of it starts anew.
                // Any replica, even while a neighbour recovers: a recovering peer's report
                // counts only once it has heard all its other peers (its copy of the log
                // came back from an older backup too and may still grow from them).
                // (Counting it at once, seed 9 restores hb/u1 and then hb, and hb,
                // trusting hb/u1's stale copy of its log, signs a second event at seq 7,
                // which a college holds.)
                let idx = self.rng.below(n as u64) as usize;
                if let Some(backup) = self.replicas[idx].backup.clone() {
                    let replica = &mut self.replicas[idx];
                    replica.logs = backup.logs;
                    replica.authority = backup.authority;
                    replica.writer = backup.writer;
                    if std::env::var_os("SIM_DEBUG").is_some() {
                        eprintln!("{} restored at seq {}", replica.unit, replica.writer.head().seq.0);
                    }
                    replica.recovering = true;
                    replica.restores += 1;
                    replica.up = true;
                    replica.forget_sessions();
                    self.in_flight.retain(|e| e.to != idx && e.from != idx);
                    self.reconnect_all(idx);
                }
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

    /// The replicas still recovering after healing. Each is allowed only when the next
    /// event of its own log is held in full by no replica (its body was lost with the
    /// store the replica was restored over: it reached only peers that hold it as a
    /// stub, so the replica can never hold it and rightly signs nothing more; in a real
    /// province the node is replaced). Anything else is an error: neighbours restored
    /// at once finish too.
    fn justified_stuck_recoveries(&self) -> Result<Vec<usize>, String> {
        let mut stuck = Vec::new();
        for (idx, replica) in self.replicas.iter().enumerate().filter(|(_, replica)| replica.recovering) {
            let own = replica.replica();
            let next = replica.head(&own).seq.0 + 1;
            let held_in_full = self.replicas.iter().any(|holder| {
                holder.logs.get(&own).and_then(|log| log.get(next as usize - 1)).is_some_and(|e| e.body().is_some())
            });
            let waiting = self.waiting(idx);
            if held_in_full {
                return Err(format!(
                    "{} is still recovering after healing, at seq {} of its log, which a replica holds in full; waiting for {:?}",
                    replica.unit,
                    next - 1,
                    waiting.iter().map(|wait| (wait.unit.to_string(), wait.reason)).collect::<Vec<_>>()
                ));
            }
            stuck.push(idx);
        }
        Ok(stuck)
    }

    /// Every replica holds exactly the owner's log of every replica in its scope, except
    /// the logs of the replicas in `unrecovered` (see `justified_stuck_recoveries`).
    fn check_invariant(&self, unrecovered: &[usize]) -> Result<(), String> {
        for holder in &self.replicas {
            for (owner_idx, owner) in self.replicas.iter().enumerate() {
                if unrecovered.contains(&owner_idx) {
                    continue;
                }
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
    restores: usize,
    recoveries: usize,
    unrecoverable: usize,
}

fn run_seed(seed: u64) -> Result<SeedFigures, String> {
    let mut sim = Sim::new(seed);
    let steps = 300 + sim.rng.below(300);
    for _ in 0..steps {
        sim.random_step();
    }
    sim.heal();
    let stuck = sim.justified_stuck_recoveries()?;
    sim.check_invariant(&stuck)?;
    let before = sim.next_event_id;
    sim.report_duplicates();
    let findings = (sim.next_event_id - before) as usize;
    sim.heal();
    sim.check_invariant(&stuck)?;
    // A replica that could not recover its log holds less of its subtree than its
    // peers do: views are compared where every log came back.
    let comparisons = if stuck.is_empty() { sim.check_views_agree()? } else { 0 };
    let events = sim.replicas.iter().map(|r| r.logs.get(&r.replica()).map_or(0, Vec::len)).sum();
    let restores = sim.replicas.iter().map(|r| r.restores).sum();
    let recoveries = sim.replicas.iter().map(|r| r.recoveries).sum();
    Ok(SeedFigures { events, findings, comparisons, restores, recoveries, unrecoverable: stuck.len() })
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
                total.restores += figures.restores;
                total.recoveries += figures.recoveries;
                total.unrecoverable += figures.unrecoverable;
            }
            Ok(Err(message)) => panic!("seed {seed}: {message} (replay with SIM_SEED={seed})"),
            Err(_) => panic!("seed {seed} panicked (replay with SIM_SEED={seed})"),
        }
    }
    eprintln!(
        "{} seeds, {} events authored, {} duplicate relations found, {} restores from older backups \
         ({} recoveries ended, none signing twice at a seq; {} replicas left recovering, signing \
         nothing, because the only full copy of one of their events was lost with their store); \
         all converged within scopes, {} unit views compared, all equal to the unit's own",
        seeds.len(),
        total.events,
        total.findings,
        total.restores,
        total.recoveries,
        total.unrecoverable,
        total.comparisons
    );
    assert!(total.findings > 0 || seeds.len() < 10, "the byzantine branch registered no duplicate relation");
    assert!(total.restores > 0 || seeds.len() < 10, "no replica was restored from a backup");
}
