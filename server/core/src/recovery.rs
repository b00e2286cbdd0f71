//! Recovery of a node's own log after a restore or a lost store, decided purely.
//!
//! A node restored from a backup older than its log, or restarted on an empty store
//! with its old key, may have signed events its peers hold and it does not. If it
//! signed anything now, it would sign a second, different event at a seq it already
//! used: its peers would quarantine it. So a recovering node signs nothing until every
//! peer that may hold its events has sent its backlog, saying what it holds of the
//! node's log, and the node holds at least that much again ([`waiting_for`] is empty).
//! A peer recovering itself does not count: its copy of the node's log came back from
//! an older backup too and fills up only from its own other peers, so it may be short.
//!
//! Who may hold the node's events: its parent (which holds its subtree in full), and
//! every replica that syncs with it as a child — the nodes one level below and the
//! laptops of its unit, whoever enrolled them (they hold the logs of their ancestors).
//! Viewers hold no logs; a revoked, quarantined or expired replica no longer syncs. The
//! list grows as enrollments come back with the logs.
//!
//! Invariant: a function of the authority, the node's own head, what peers reported and
//! the time the shell passes in (for enrollments' expiry), never of arrival order.

use std::collections::HashMap;

use crate::authority::Authority;
use crate::event::{ReplicaId, Seq};
use crate::unit::UnitPath;

/// A peer the node waits for before it may sign again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// The peer's key.
    pub peer: ReplicaId,
    /// The peer's unit, for the operator.
    pub unit: UnitPath,
    /// What it is waited for.
    pub reason: WaitReason,
}

/// Why a peer is waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// It has not sent its backlog since the node started: what it holds is unknown.
    NotHeard,
    /// It holds the node's log up to this seq, beyond the node's own head.
    Holds(Seq),
    /// It is recovering too and has not yet heard all its other peers: its copy of the
    /// node's log came back from an older backup and may still grow from them.
    Recovering,
}

/// What a peer that has sent its backlog reported of the node's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// It holds the node's log up to this seq (0: none of it).
    Holds(Seq),
    /// It said it is recovering itself and still waits for other peers: what it holds
    /// does not count yet. (A recovering peer that has heard all its other peers reports
    /// `Holds`: its copy of this node's log can grow from nowhere else.)
    Recovering,
}

impl Report {
    /// What a peer's hello reports of the node's log: `Recovering` when the peer said it
    /// is recovering and has not heard all its other peers; otherwise `Holds` of what
    /// its heads hold of the log, or more when it said it saw more of it (perhaps as
    /// stubs from its other peers that it could not take).
    pub fn from_hello(recovering: bool, heard_all_others: bool, holds: Seq, saw_of_this_log: Seq) -> Report {
        if recovering && !heard_all_others { Report::Recovering } else { Report::Holds(holds.max(saw_of_this_log)) }
    }
}

/// True if a recovering node waiting for `waiting` has heard all its peers but `peer`:
/// what it holds of `peer`'s log can then grow from nowhere else, so its hello to
/// `peer` says so (`heard_all_others`) and `peer`, recovering too, may count it. False
/// when it waits for nobody (its recovery is ending; its next hello says it recovered).
pub fn heard_all_but(waiting: &[Waiting], peer: ReplicaId) -> bool {
    !waiting.is_empty() && waiting.iter().all(|wait| wait.peer == peer)
}

/// The one peer a recovering node waits for, when it waits for exactly one and that
/// peer is recovering too: the node should tell it, in a new hello, that it has heard
/// all its other peers, so that what it reports counts.
pub fn only_a_recovering_peer_left(waiting: &[Waiting]) -> Option<ReplicaId> {
    match waiting {
        [only] if only.reason == WaitReason::Recovering => Some(only.peer),
        _ => None,
    }
}

/// The peers that may hold events of `own`'s log, which serves `unit`: the parent, then
/// every replica that may sync with it as a child ([`Authority::sync_child_unit`]:
/// nodes one level below, laptops of `unit`, neither revoked nor quarantined; whoever
/// enrolled them), unexpired at `now_ms`, in key order.
pub fn holders(
    authority: &Authority,
    own: ReplicaId,
    unit: &UnitPath,
    now_ms: u64,
    parent: Option<(ReplicaId, UnitPath)>,
) -> Vec<(ReplicaId, UnitPath)> {
    let mut children: Vec<(ReplicaId, UnitPath)> = authority
        .enrollments()
        .filter(|enrollment| {
            enrollment.replica != own
                && (enrollment.valid_until_ms == 0 || now_ms <= enrollment.valid_until_ms)
                && authority.sync_child_unit(&enrollment.replica, unit).is_some()
        })
        .map(|enrollment| (enrollment.replica, enrollment.unit.clone()))
        .collect();
    children.sort_by_key(|(replica, _)| *replica);
    parent.into_iter().chain(children).collect()
}

/// What a recovering node knows of itself.
#[derive(Clone, Debug)]
pub struct Recovering {
    /// Its key.
    pub own: ReplicaId,
    /// The unit it serves.
    pub unit: UnitPath,
    /// Its parent and the parent's unit (none for the province).
    pub parent: Option<(ReplicaId, UnitPath)>,
    /// The head of its own log as held now.
    pub own_head: Seq,
}

/// The peers the node still waits for, given, by peer, the highest seq of the node's
/// log each peer reported holding (absent: its backlog not received since the start).
/// Empty: the node holds everything of its own log any peer holds, and may sign again.
pub fn waiting_for(
    authority: &Authority,
    node: &Recovering,
    now_ms: u64,
    reported: &HashMap<ReplicaId, Report>,
) -> Vec<Waiting> {
    holders(authority, node.own, &node.unit, now_ms, node.parent.clone())
        .into_iter()
        .filter_map(|(peer, unit)| {
            let reason = match reported.get(&peer) {
                None => WaitReason::NotHeard,
                Some(Report::Recovering) => WaitReason::Recovering,
                Some(Report::Holds(held)) if *held > node.own_head => WaitReason::Holds(*held),
                Some(Report::Holds(_)) => return None,
            };
            Some(Waiting { peer, unit, reason })
        })
        .collect()
}
