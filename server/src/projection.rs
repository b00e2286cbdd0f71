//! The node's projection (rollcall-core's `audit::Projection`) as the shell holds it:
//! rebuilt from the store when the node opens, then kept current by the writer thread,
//! which alone mutates it, event by event, as groups are written.
//!
//! Invariant: the projection equals a rebuild from the store at every moment no write
//! group is in flight. The writer applies a group's events before the group is durable
//! and undoes them in reverse if the write fails, so readers may briefly see events
//! that are being made durable — never events that were not.
//!
//! Decision (ARCHITECTURE.md): the projection lives in memory, rather than persisted
//! in the `projections` column family in the same write batch (DESIGN.md section 6). It
//! is a cache of durable events, so nothing is lost on a crash. At start it is read from
//! the last snapshot ([`crate::snapshot`], written by the writer thread every so many
//! events and at a clean stop) with the events stored since applied on top, or rebuilt
//! from the whole log when there is no usable snapshot (measured in BENCHMARKS.md).

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use rollcall_core::audit::Projection;
use rollcall_core::authority::Authority;
use rollcall_core::body::Body;
use rollcall_core::codec;

use crate::snapshot;
use crate::store::{Store, StoreError};

/// The projection shared by the writer (sole writer) and the query services.
pub type SharedProjection = Arc<RwLock<Projection>>;

/// What a rebuild found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rebuilt {
    /// Events read from the store.
    pub events: u64,
    /// Events with a body applied (stubs and infrastructure without domain meaning are read, not applied).
    pub applied: u64,
    /// Milliseconds taken.
    pub millis: u64,
}

/// Recomputes the projection from every event in `store`, for the node serving `scope`
/// (`None`: a projection of everything, as a test makes). Authors' levels come from
/// `authority` (every stored event's author is enrolled there: it was checked at ingest).
///
/// # Errors
///
/// [`StoreError`] on a read failure or an undecodable stored event.
pub fn rebuild(
    store: &Store,
    authority: &Authority,
    scope: Option<&rollcall_core::UnitPath>,
) -> Result<(Projection, Rebuilt), StoreError> {
    let started = Instant::now();
    let mut projection = scope.map_or_else(Projection::new, |unit| Projection::for_unit(unit.clone()));
    let (mut events, mut applied) = (0u64, 0u64);
    store.for_each_raw(|replica, seq, value| -> Result<(), StoreError> {
        events += 1;
        let corrupt = |detail: String| StoreError::Corrupt { replica: replica.to_hex(), seq: seq.0, detail };
        let signed = codec::decode_signed(value).map_err(|err| corrupt(err.to_string()))?;
        let Some(body_bytes) = signed.body.as_ref() else { return Ok(()) };
        let header = codec::decode_header(&signed.header).map_err(|err| corrupt(err.to_string()))?;
        if apply_stored(&mut projection, authority, &header, body_bytes).map_err(corrupt)? {
            applied += 1;
        }
        Ok(())
    })?;
    let millis = started.elapsed().as_millis() as u64;
    Ok((projection, Rebuilt { events, applied, millis }))
}

/// Applies one stored event's body, as the writer did when it stored it. `Ok(false)`
/// when its author is not enrolled (nothing to apply).
fn apply_stored(
    projection: &mut Projection,
    authority: &Authority,
    header: &rollcall_core::event::Header,
    body_bytes: &[u8],
) -> Result<bool, String> {
    let Some(level) = authority.enrollment(&header.replica).map(|enrollment| enrollment.level) else {
        return Ok(false);
    };
    let body = Body::decode(header.kind, body_bytes).map_err(|err| err.to_string())?;
    projection.apply_for_good(header, &body, level);
    Ok(true)
}

/// How a node's projection was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// From a snapshot, then the events stored after it.
    Restored {
        /// The ingest position of the snapshot.
        position: u64,
        /// Events ingested after it, applied on top.
        tail: u64,
        /// Milliseconds taken in all.
        millis: u64,
    },
    /// Rebuilt from the whole log.
    Rebuilt {
        /// What the rebuild found.
        figures: Rebuilt,
        /// Why the snapshot there was not used; `None`: there was none.
        refused: Option<String>,
    },
}

impl Opened {
    /// The ingest position of the usable snapshot it was read from, if any.
    pub fn snapshot_position(&self) -> Option<u64> {
        match self {
            Opened::Restored { position, .. } => Some(*position),
            Opened::Rebuilt { .. } => None,
        }
    }
}

/// Opens the projection of a node: from the snapshot at `snapshot` when it is usable
/// ([`snapshot::read`]'s checks), replaying the events ingested after it, else by a
/// full [`rebuild`]. Either way the result equals a full rebuild.
///
/// # Errors
///
/// [`StoreError`] on a read failure or an undecodable stored event.
pub fn open(
    store: &Store,
    authority: &Authority,
    scope: Option<&rollcall_core::UnitPath>,
    snapshot: &Path,
) -> Result<(Projection, Opened), StoreError> {
    let started = Instant::now();
    let refused = match snapshot::read(snapshot, store, scope) {
        Ok(restored) => match replay_tail(store, authority, restored)? {
            Ok((projection, position, tail)) => {
                let millis = started.elapsed().as_millis() as u64;
                return Ok((projection, Opened::Restored { position, tail, millis }));
            }
            Err(why) => Some(why),
        },
        Err(snapshot::Unusable::Absent) => None,
        Err(snapshot::Unusable::Refused(why)) => Some(why),
    };
    let (projection, figures) = rebuild(store, authority, scope)?;
    Ok((projection, Opened::Rebuilt { figures, refused }))
}

/// Applies the events ingested after a snapshot's position on top of it: `Ok(Ok(..))`
/// the projection, its position and the number of events replayed; `Ok(Err(why))` when
/// the tail holds an event the snapshot already reflects (the store's history differs
/// from the snapshot's: the caller rebuilds).
fn replay_tail(
    store: &Store,
    authority: &Authority,
    mut restored: snapshot::Restored,
) -> Result<Result<(Projection, u64, u64), String>, StoreError> {
    let mut tail = 0u64;
    let mut from = restored.position + 1;
    loop {
        let batch = store.ingest_range(from, 4096)?;
        let Some(&(last, _, _)) = batch.last() else { break };
        for (position, replica, seq) in batch {
            if restored.covers(replica, seq.0) {
                return Ok(Err(format!(
                    "the store ingested seq {} of log {} at position {position}, after the snapshot that holds it: \
                     the store was replaced or restored",
                    seq.0,
                    replica.short()
                )));
            }
            let corrupt = |detail: String| StoreError::Corrupt { replica: replica.to_hex(), seq: seq.0, detail };
            let event = store
                .get_without_signature(replica, seq)?
                .ok_or_else(|| corrupt(format!("ingest position {position} names an event not stored")))?;
            tail += 1;
            if let Some(body_bytes) = event.body() {
                apply_stored(&mut restored.projection, authority, event.header(), body_bytes).map_err(corrupt)?;
            }
        }
        from = last + 1;
    }
    Ok(Ok((restored.projection, restored.position, tail)))
}

/// Rebuilds the projection from `store` while holding the shared one for writing, compares,
/// and installs the rebuilt one. Call it on the writer thread between groups
/// ([`crate::writer::WriterHandle::rebuild`]): elsewhere a group may be half applied.
///
/// # Errors
///
/// [`StoreError`] from the rebuild; the shared projection is then left as it was.
pub fn rebuild_and_compare(
    store: &Store,
    authority: &RwLock<Authority>,
    shared: &SharedProjection,
) -> Result<rollcall_proto::v1::RebuildResponse, StoreError> {
    let mut current = shared.write().expect("the projection lock is never poisoned");
    let authority = authority.read().expect("the authority lock is never poisoned").clone();
    let (rebuilt, figures) = rebuild(store, &authority, current.scope())?;
    let changed = rebuilt != *current;
    if changed {
        tracing::warn!("the rebuilt projection differs from the incremental one; installing the rebuilt one");
    }
    let members = rebuilt.member_count() as u64;
    *current = rebuilt;
    Ok(rollcall_proto::v1::RebuildResponse {
        events: figures.events,
        applied: figures.applied,
        members,
        changed,
        millis: figures.millis,
    })
}
