//! Deterministic simulation of sync, pure: N replicas of a small province exchange
//! messages through a seeded in-memory network that drops, duplicates, delays and
//! reorders them, is partitioned and healed, while replicas crash and restart (losing
//! every volatile session state, keeping what they stored) and keep appending events.
//! The replicas decide with the real core functions (`rollcall_core::sync::plan_sends`,
//! `admit`, `scope::shape`, `verify`), the same ones the node's sessions call.
//!
//! Invariant checked after healing: every replica holds, for every log in its scope,
//! exactly the owner's log (each event in full, or as a stub where the scope says so),
//! and nothing outside its scope; every chain held is intact.
//!
//! `SIM_SEEDS=<n>` runs n seeds (default 500); `SIM_SEED=<s>` replays one. Every failure
//! prints its seed.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use rollcall_client::sample::SampleRng;
use rollcall_core::authority::{Authority, Role};
use rollcall_core::body::Body;
use rollcall_core::log::{Draft, Head, LocalWriter, check_next};
use rollcall_core::scope::{self, Share};
use rollcall_core::sync::{Admission, admit, plan_sends};
use rollcall_core::{EventId, EventKind, HlcTime, ReplicaId, Seq, UnitPath, VerifiedEvent, proto, verify};

/// Events per message, as the node's `EVENTS_PER_MESSAGE_MAX` but small, to exercise batching.
const EVENTS_PER_MESSAGE: usize = 4;

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

    /// Appends a local event (durable at once: the store's write is atomic).
    fn append(&mut self, now_ms: u64, event_id: u64, draft: Draft) {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&event_id.to_be_bytes());
        let before = self.writer.clone();
        let Ok(prepared) = self.writer.prepare(now_ms, EventId(id), draft) else { return };
        let event = prepared.sign(&self.key);
        let head = self.head(&self.replica());
        match admit(&mut self.authority, head, &event, |_| None) {
            Admission::Accept => self.logs.entry(event.replica()).or_default().push(event),
            _ => self.writer = before,
        }
    }

    fn receive(&mut self, events: Vec<rollcall_core::SignedEvent>) {
        for signed in events {
            let Ok(event) = verify(&signed) else { panic!("the network never forges") };
            let replica = event.replica();
            let head = self.head(&replica);
            let held = self.logs.get(&replica).cloned().unwrap_or_default();
            let admission =
                admit(&mut self.authority, head, &event, |seq| held.get(seq.0 as usize - 1).map(|e| e.hash()));
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

    /// The events the peer lacks within its scope, shaped for it, in batches.
    fn missing_for(&mut self, peer: usize, peer_unit: &UnitPath) -> Vec<Vec<rollcall_core::SignedEvent>> {
        let known = self.peer_known.entry(peer).or_default().clone();
        let plan = plan_sends(&self.authority, self.heads(), &known, peer_unit);
        let mut events = Vec::new();
        for range in plan {
            let log = &self.logs[&range.replica];
            for event in &log[(range.from.0 - 1) as usize..range.to.0 as usize] {
                if let Some(shaped) = scope::shape(event.clone(), range.share, peer_unit) {
                    events.push(shaped.to_signed());
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
        let units = ["hb", "hb/u1", "hb/u1/c1", "hb/u1/c1/b1", "hb/u1/c1/b2", "hb/u1/c2", "hb/u1/c2/b1"];
        let parents = [None, Some(0), Some(1), Some(2), Some(2), Some(1), Some(5)];
        let keys: Vec<SigningKey> = (0..units.len())
            .map(|_| SigningKey::from_bytes(&rng.next_u64().to_le_bytes().repeat(4).try_into().expect("32 bytes")))
            .collect();
        let root = ReplicaId(keys[0].verifying_key().to_bytes());
        let replicas = keys
            .into_iter()
            .zip(units.iter().zip(parents))
            .map(|(key, (text, parent))| {
                let replica = ReplicaId(key.verifying_key().to_bytes());
                SimReplica {
                    writer: LocalWriter::new(replica, Head::EMPTY, HlcTime::default()),
                    key,
                    unit: unit(text),
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
        // Every parent enrolls its children, top-down, in its own log.
        for child in 1..n {
            let parent = sim.replicas[child].parent.expect("non-root has a parent");
            let body = Body::ReplicaEnrolled(proto::ReplicaEnrolled {
                public_key: Bytes::copy_from_slice(&sim.replicas[child].replica().0),
                unit_path: sim.replicas[child].unit.to_string(),
                level: sim.replicas[child].unit.level().expect("known level").to_proto() as i32,
                role: Role::Node.to_proto() as i32,
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
        for batch in self.replicas[from].missing_for(to, &peer_unit) {
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
            0..=24 => {
                // A replica records something about a unit in its subtree.
                let idx = self.rng.below(n as u64) as usize;
                if self.replicas[idx].up {
                    let subtree: Vec<UnitPath> = self
                        .replicas
                        .iter()
                        .map(|r| r.unit.clone())
                        .filter(|u| u.is_within(&self.replicas[idx].unit))
                        .collect();
                    let about = subtree[self.rng.below(subtree.len() as u64) as usize].clone();
                    let body = Body::ConductNoted(proto::ConductNoted {
                        member_id: format!("m{}", self.rng.below(50)),
                        summary: "sim".into(),
                        violation_reported: false,
                    });
                    self.append(
                        idx,
                        Draft {
                            unit_path: about,
                            kind: EventKind::ConductNoted,
                            body: body.encode(),
                            author: "sim".into(),
                        },
                    );
                    self.push_all_from(idx);
                }
            }
            25..=27 => {
                // Crash: volatile session state and in-flight messages to it are lost.
                let idx = 1 + self.rng.below(n as u64 - 1) as usize;
                self.replicas[idx].up = false;
                self.replicas[idx].peer_known.clear();
                self.in_flight.retain(|e| e.to != idx);
            }
            28..=31 => {
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
            32..=33 => {
                let edge = 1 + self.rng.below(n as u64 - 1) as usize;
                self.partitioned[edge] = true;
                *self.generation.entry(edge).or_default() += 1;
            }
            34..=37 => {
                let edge = 1 + self.rng.below(n as u64 - 1) as usize;
                if self.partitioned[edge] {
                    self.partitioned[edge] = false;
                    self.connect(edge);
                }
            }
            38..=41 => {
                // A node notices a broken session and reconnects.
                let edge = 1 + self.rng.below(n as u64 - 1) as usize;
                self.connect(edge);
            }
            _ => {
                self.deliver_one();
            }
        }
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

fn run_seed(seed: u64) -> Result<usize, String> {
    let mut sim = Sim::new(seed);
    let steps = 300 + sim.rng.below(300);
    for _ in 0..steps {
        sim.random_step();
    }
    sim.heal();
    sim.check_invariant()?;
    Ok(sim.replicas.iter().map(|r| r.logs.get(&r.replica()).map_or(0, Vec::len)).sum())
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
    let mut total_events = 0;
    for seed in &seeds {
        match std::panic::catch_unwind(|| run_seed(*seed)) {
            Ok(Ok(events)) => total_events += events,
            Ok(Err(message)) => panic!("seed {seed}: {message} (replay with SIM_SEED={seed})"),
            Err(_) => panic!("seed {seed} panicked (replay with SIM_SEED={seed})"),
        }
    }
    eprintln!("{} seeds, {total_events} events authored, all converged within scopes", seeds.len());
}
