//! Full verification of a node's store: every event re-read from disk, its signature,
//! body hash and encodings checked, every chain walked from seq 1, and every stored
//! head compared with the last event of its log; given the node's identity, every stub
//! checked to be one the node may hold as a stub (an event in its scope held without its
//! body is an error: the body is lost here). Stops at the first inconsistency and says
//! where it is.

use std::path::Path;

use rollcall_core::authority::Authority;
use rollcall_core::log::{Head, check_next};
use rollcall_core::sync::entitled_to_body;
use rollcall_core::{ReplicaId, Seq, UnitPath, codec, verify};
use rollcall_server::store::{Store, StoreError};

/// Counts for one replica's log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaReport {
    /// The replica (hex).
    pub replica: String,
    /// Events held (full and stubs).
    pub events: u64,
    /// Of which stubs.
    pub stubs: u64,
    /// The last seq.
    pub head_seq: u64,
}

/// What a successful verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Per replica, ordered by replica.
    pub replicas: Vec<ReplicaReport>,
    /// All events.
    pub events: u64,
}

/// The first inconsistency found.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event fails verification or breaks its chain.
    #[error("replica {replica} seq {seq}: {reason}")]
    Event {
        /// The replica (hex).
        replica: String,
        /// The seq.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// A stored head disagrees with the log.
    #[error("replica {replica}: stored head is seq {stored}, the log ends at seq {log}")]
    HeadMismatch {
        /// The replica (hex).
        replica: String,
        /// The head as stored.
        stored: u64,
        /// The last seq in the log.
        log: u64,
    },
}

/// Who the store belongs to, for the scope check of stubs: the province's root and
/// unit, the node's unit, and the enrollment chain it joined with.
pub struct NodeIdentity {
    /// The province's root key.
    pub root: ReplicaId,
    /// The province's unit.
    pub root_unit: UnitPath,
    /// The node's unit.
    pub unit: UnitPath,
    /// The enrollment chain from its bundle.
    pub chain: Vec<rollcall_core::VerifiedEvent>,
}

/// Verifies the store at `store_path`, calling `progress` with the running count of
/// events every 10,000 events; with `identity`, also that no event in the node's scope
/// is held as a stub.
///
/// # Errors
///
/// [`VerifyFailure`] at the first inconsistency.
pub fn verify_store(
    store_path: &Path,
    identity: Option<&NodeIdentity>,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyFailure> {
    let store = Store::open_read_only(store_path)?;
    let mut stubs: Vec<rollcall_core::VerifiedEvent> = Vec::new();
    let mut report = VerifyReport::default();
    let mut current: Option<(ReplicaId, Head, ReplicaReport)> = None;
    let mut finished: Vec<(ReplicaId, Head, ReplicaReport)> = Vec::new();
    store.for_each_raw(|replica, seq, value| -> Result<(), VerifyFailure> {
        let fail = |reason: String| VerifyFailure::Event { replica: replica.to_hex(), seq: seq.0, reason };
        if current.as_ref().is_none_or(|(r, _, _)| *r != replica) {
            if let Some(done) = current.take() {
                finished.push(done);
            }
            current = Some((
                replica,
                Head::EMPTY,
                ReplicaReport { replica: replica.to_hex(), events: 0, stubs: 0, head_seq: 0 },
            ));
        }
        let (_, head, counts) = current.as_mut().expect("set above");
        let signed = codec::decode_signed(value).map_err(|err| fail(err.to_string()))?;
        let event = verify(&signed).map_err(|err| fail(err.to_string()))?;
        if event.replica() != replica || event.seq() != seq {
            return Err(fail("header does not match its storage key".into()));
        }
        check_next(replica, head, &event).map_err(|err| fail(err.to_string()))?;
        *head = Head::of(&event);
        counts.events += 1;
        counts.stubs += u64::from(event.is_stub());
        if event.is_stub() && identity.is_some() {
            stubs.push(event);
        }
        counts.head_seq = seq.0;
        report.events += 1;
        if report.events % 10_000 == 0 {
            progress(report.events);
        }
        Ok(())
    })?;
    if let Some(done) = current.take() {
        finished.push(done);
    }
    let stored_heads = store.heads()?;
    for stored in &stored_heads {
        let log_head = finished.iter().find(|(r, _, _)| *r == stored.replica).map(|(_, head, _)| *head);
        let log_seq = log_head.map_or(Seq(0), |head| head.seq);
        if log_head != Some(stored.head) {
            return Err(VerifyFailure::HeadMismatch {
                replica: stored.replica.to_hex(),
                stored: stored.head.seq.0,
                log: log_seq.0,
            });
        }
    }
    for (replica, head, _) in &finished {
        if !stored_heads.iter().any(|stored| stored.replica == *replica) {
            return Err(VerifyFailure::HeadMismatch { replica: replica.to_hex(), stored: 0, log: head.seq.0 });
        }
    }
    if let Some(identity) = identity {
        let mut authority = Authority::new(identity.root, identity.root_unit.clone());
        authority.apply_chain(&identity.chain);
        for event in store.authority_events_in_ingest_order()? {
            authority.apply(&event);
        }
        if let Some(stub) = stubs.iter().find(|stub| entitled_to_body(&authority, &identity.unit, stub)) {
            return Err(VerifyFailure::Event {
                replica: stub.replica().to_hex(),
                seq: stub.seq().0,
                reason: format!(
                    "held without its body, but it is in this node's scope ({}): the body is lost here",
                    identity.unit
                ),
            });
        }
    }
    report.replicas = finished.into_iter().map(|(_, _, counts)| counts).collect();
    Ok(report)
}
