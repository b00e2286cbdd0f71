//! The decisions of sync, pure: what to send a peer, and what to do with an event a
//! peer sent. The shell's sessions (`rollcall-server::sync`) and the deterministic
//! simulation (`tests/tests/sim.rs`) both run on these functions, so what is simulated
//! is what runs.
//!
//! Invariants:
//! - [`plan_sends`] offers only logs in the peer's scope, each replica's events from the
//!   first the peer lacks, replicas in enrollment order (an enroller before those it
//!   enrolled), so a receiver meets every enrollment before the events it authorises.
//! - [`admit`] accepts an event only if it is authorised and extends its chain; an event
//!   already held is a duplicate when it is the same and an equivocation when it is not;
//!   accepting applies the event's effect on the authority at once.

use std::collections::HashMap;

use crate::authority::{Authority, AuthorityError};
use crate::event::{EventHash, ReplicaId, Seq, VerifiedEvent};
use crate::log::{ChainError, Head, check_next};
use crate::scope::{self, Share};
use crate::unit::UnitPath;

/// A range of one replica's log to send, and in what form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendRange {
    /// The log.
    pub replica: ReplicaId,
    /// First seq to send.
    pub from: Seq,
    /// Last seq to send.
    pub to: Seq,
    /// Full, or with stubs for events outside the peer's view.
    pub share: Share,
}

/// What the peer lacks within its scope, given the local heads and what the peer is
/// known to hold, in the order to send it.
pub fn plan_sends(
    authority: &Authority,
    local_heads: impl IntoIterator<Item = (ReplicaId, Seq)>,
    peer_known: &HashMap<ReplicaId, Seq>,
    peer_unit: &UnitPath,
) -> Vec<SendRange> {
    let mut plan: Vec<(u32, SendRange)> = Vec::new();
    for (replica, head) in local_heads {
        let Some(enrollment) = authority.enrollment(&replica) else { continue };
        let share = scope::share(&enrollment.unit, peer_unit);
        let known = peer_known.get(&replica).copied().unwrap_or_default();
        if share != Share::Nothing && head > known {
            plan.push((enrollment.depth, SendRange { replica, from: Seq(known.0 + 1), to: head, share }));
        }
    }
    plan.sort_by_key(|a| (a.0, a.1.replica));
    plan.into_iter().map(|(_, range)| range).collect()
}

/// True if a replica serving `local_unit` receives `event` in full under
/// [`scope::shape`]: then a stub of it is refused, never stored.
pub fn entitled_to_body(authority: &Authority, local_unit: &UnitPath, event: &VerifiedEvent) -> bool {
    let Some(enrollment) = authority.enrollment(&event.replica()) else { return false };
    match scope::share(&enrollment.unit, local_unit) {
        Share::Full => true,
        Share::Filtered => {
            crate::body::is_infrastructure(event.header().kind)
                || scope::body_visible(&event.header().unit_path, local_unit)
        }
        Share::Nothing => false,
    }
}

/// What to do with a received event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Store it; its effect on the authority has been applied.
    Accept,
    /// The same event is already held: nothing to do.
    Duplicate,
    /// Another event is held at the same replica and seq: a fork. The caller records a
    /// proof and quarantines the replica.
    Equivocation {
        /// The hash of the event held.
        held: EventHash,
    },
    /// Refused, with the rule that refuses it.
    Refuse(Refusal),
}

/// Why a received event was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not authorised.
    #[error(transparent)]
    Authority(#[from] AuthorityError),
    /// Does not extend its chain.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A stub (header without body) of an event this replica is entitled to hold in
    /// full: storing it would lose the body here and at every ancestor for good.
    #[error("seq {0}: an event in this replica's scope must arrive with its body, not as a stub")]
    StubInScope(Seq),
    /// The event held at that seq could not be read to compare.
    #[error("the event held at seq {0} could not be read")]
    HeldUnreadable(Seq),
}

/// Decides a received event against the head of its replica's log as held here, at a
/// replica serving `local_unit`. `held_hash` looks up the hash of the event held at a
/// seq at or below the head (the store in the shell, a vector in the simulation).
pub fn admit(
    authority: &mut Authority,
    local_unit: &UnitPath,
    head: Head,
    event: &VerifiedEvent,
    held_hash: impl FnOnce(Seq) -> Option<EventHash>,
) -> Admission {
    if event.seq() <= head.seq {
        return match held_hash(event.seq()) {
            Some(hash) if hash == event.hash() => Admission::Duplicate,
            Some(held) => Admission::Equivocation { held },
            None => Admission::Refuse(Refusal::HeldUnreadable(event.seq())),
        };
    }
    if let Err(error) = authority.check(event) {
        return Admission::Refuse(error.into());
    }
    if event.body().is_none() && entitled_to_body(authority, local_unit, event) {
        return Admission::Refuse(Refusal::StubInScope(event.seq()));
    }
    if let Err(error) = check_next(event.replica(), &head, event) {
        return Admission::Refuse(error.into());
    }
    authority.apply(event);
    Admission::Accept
}
