//! What each replica may hold (DESIGN.md section 5): the scope of a peer decides which
//! logs it receives, and whether each event travels in full or as a stub.
//!
//! Scope of a peer at unit U:
//! - logs of replicas enrolled inside U's subtree: in full;
//! - logs of replicas on U's ancestor path: every event, but an event whose unit is
//!   neither inside U's subtree nor on its ancestor path travels as a stub (header only),
//!   so chains stay whole and no sibling unit's member data leaks;
//! - infrastructure events (enrollment, revocation, receipts, campaign, proofs) always
//!   in full: they hold no personal data and every replica must verify every key;
//! - never the logs of other replicas.
//!
//! Invariant: [`shape`] never adds information: its output is the event or its stub.

use crate::body::is_infrastructure;
use crate::event::VerifiedEvent;
use crate::unit::UnitPath;

/// How much of a replica's log a peer receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Share {
    /// Every event in full.
    Full,
    /// Every event; bodies only for events about the peer's subtree or ancestors.
    Filtered,
    /// Nothing.
    Nothing,
}

/// The share of the log of a replica enrolled at `replica_unit` for a peer at `peer_unit`.
pub fn share(replica_unit: &UnitPath, peer_unit: &UnitPath) -> Share {
    if replica_unit.is_within(peer_unit) {
        Share::Full
    } else if peer_unit.is_within(replica_unit) {
        Share::Filtered
    } else {
        Share::Nothing
    }
}

/// True if the body of an event about `event_unit` may reach a peer at `peer_unit`.
pub fn body_visible(event_unit: &UnitPath, peer_unit: &UnitPath) -> bool {
    event_unit.is_within(peer_unit) || peer_unit.is_within(event_unit)
}

/// The form in which `event` travels to a peer at `peer_unit` under `share` (by value:
/// the sender reads events only to send them, so nothing is copied).
pub fn shape(event: VerifiedEvent, share: Share, peer_unit: &UnitPath) -> Option<VerifiedEvent> {
    match share {
        Share::Nothing => None,
        Share::Full => Some(event),
        Share::Filtered => {
            if is_infrastructure(event.header().kind) || body_visible(&event.header().unit_path, peer_unit) {
                Some(event)
            } else {
                Some(event.into_stub())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(text: &str) -> UnitPath {
        UnitPath::parse(text).expect("valid")
    }

    /// A branch receives its own subtree in full, its ancestors filtered, siblings never;
    /// a sibling branch's member data reaches it only as a stub.
    #[test]
    fn shares_follow_the_tree() {
        let branch = unit("hb/whu/cs/b01");
        assert_eq!(share(&unit("hb/whu/cs/b01"), &branch), Share::Full);
        assert_eq!(share(&unit("hb/whu/cs"), &branch), Share::Filtered);
        assert_eq!(share(&unit("hb"), &branch), Share::Filtered);
        assert_eq!(share(&unit("hb/whu/cs/b02"), &branch), Share::Nothing);
        assert_eq!(share(&unit("hb/hust"), &branch), Share::Nothing);
        assert_eq!(share(&unit("hb/whu/cs/b01"), &unit("hb")), Share::Full);
        assert!(body_visible(&unit("hb/whu/cs"), &branch));
        assert!(body_visible(&unit("hb/whu/cs/b01"), &branch));
        assert!(!body_visible(&unit("hb/whu/cs/b02"), &branch));
        assert!(!body_visible(&unit("hb/whu/math"), &branch));
    }
}
