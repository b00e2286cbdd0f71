//! Verification of the tables submitted by the units directly below this node (issue 13):
//! as soon as the node holds every event up to a submission's checkpoint, it recomputes
//! the table from exactly those events and records a signed `ReportVerified` at the
//! reporting unit (equal, or every differing cell), which flows down to that unit.
//!
//! Invariants:
//! - a checkpoint must cover what this node had acknowledged of the unit's subtree: it
//!   names this node's own log (the reporting unit computed after hearing from it), and
//!   for every receipt this node signed about the unit up to that point of its log, at
//!   least the heads the receipt acknowledged. So a unit cannot leave a branch's events
//!   out of a submission and still have it verified (a 有差异 verdict says what is short);
//! - a recomputation reads only the events at or below the checkpoint's heads, so it
//!   gives what the reporting unit computed from the same events (the projection is a
//!   function of the set of events), whatever arrived since;
//! - one verdict per submission: a submission with a verdict or a return is not
//!   verified again; a resubmission is a new submission;
//! - the verifier only reads the store and appends through the writer, so it can never
//!   hold the writer up (recomputation runs on a blocking thread).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use rollcall_core::audit::Projection;
use rollcall_core::audit::projection::ReportRecord;
use rollcall_core::audit::tables;
use rollcall_core::authority::Authority;
use rollcall_core::body::Body;
use rollcall_core::log::Draft;
use rollcall_core::{ReplicaId, Seq, UnitPath, proto};
use tokio::sync::watch;

use crate::store::{Store, StoreError};
use crate::writer::WriterHandle;

/// A projection rebuilt at one unit's checkpoint, kept for the next table of the same
/// submission (tables 1-3 are submitted together, on one checkpoint).
pub type CheckpointCache = Option<(UnitPath, Vec<proto::ReplicaHead>, Projection)>;

/// Recomputes `table` for `unit` from the events of `store` at `report`'s checkpoint and
/// compares it with the submitted cells. `None` while the store does not hold every event
/// of the checkpoint yet. `cache` keeps the rebuilt projection for the next call.
///
/// # Errors
///
/// [`StoreError`] on read failure.
pub fn verify_report(
    store: &Store,
    authority: &Authority,
    unit: &UnitPath,
    table: u32,
    report: &ReportRecord,
    cache: &mut CheckpointCache,
) -> Result<Option<proto::ReportVerified>, StoreError> {
    let Some(template) = tables::template(table) else { return Ok(None) };
    if let Some(short) = checkpoint_short_of_receipts(store, unit, report)? {
        return Ok(Some(proto::ReportVerified {
            campaign_id: report.campaign_id.clone(),
            table,
            report_replica: bytes::Bytes::copy_from_slice(&report.replica.0),
            report_seq: report.seq,
            equal: false,
            differences: vec![short],
        }));
    }
    let mut heads = Vec::with_capacity(report.checkpoint.len());
    for head in &report.checkpoint {
        let Ok(replica) = <[u8; 32]>::try_from(&head.replica[..]).map(ReplicaId) else { continue };
        let held = store.head(replica)?.map_or(0, |stored| stored.head.seq.0);
        if held < head.seq {
            return Ok(None);
        }
        heads.push((replica, head.seq));
    }
    let cached = cache.as_ref().is_some_and(|(at, checkpoint, _)| at == unit && checkpoint == &report.checkpoint);
    if !cached {
        let mut projection = Projection::for_unit(unit.clone());
        for (replica, seq) in heads {
            let Some(level) = authority.enrollment(&replica).map(|enrollment| enrollment.level) else { continue };
            for event in store.read_log_without_signatures(replica, Seq(1), seq as usize)? {
                let Some(bytes) = event.body() else { continue };
                if let Ok(body) = Body::decode(event.header().kind, bytes) {
                    projection.apply_for_good(event.header(), &body, level);
                }
            }
        }
        *cache = Some((unit.clone(), report.checkpoint.clone(), projection));
    }
    let Some((_, _, projection)) = cache.as_ref() else { return Ok(None) };
    let recomputed = tables::cells_of(&tables::compute(template, projection, unit));
    let differences = tables::differences(&report.cells, &recomputed);
    Ok(Some(proto::ReportVerified {
        campaign_id: report.campaign_id.clone(),
        table,
        report_replica: bytes::Bytes::copy_from_slice(&report.replica.0),
        report_seq: report.seq,
        equal: differences.is_empty(),
        differences,
    }))
}

/// The first way `report`'s checkpoint falls short of what this node (the parent of
/// `unit`) had acknowledged: it must name this node's own log, and reach every head of
/// every receipt this node signed about `unit` up to that seq of its log. The shortfall
/// is given as a difference of the whole table (row and column 0, no values), which the
/// CLI shows; `None` when the checkpoint covers it all.
fn checkpoint_short_of_receipts(
    store: &Store,
    unit: &UnitPath,
    report: &ReportRecord,
) -> Result<Option<proto::CellDifference>, StoreError> {
    let short = Some(proto::CellDifference { row: 0, column: 0, submitted: None, recomputed: None });
    let Some(parent) = store.local_replica()? else { return Ok(None) };
    let checkpoint: std::collections::HashMap<ReplicaId, u64> = report
        .checkpoint
        .iter()
        .filter_map(|head| <[u8; 32]>::try_from(&head.replica[..]).ok().map(|r| (ReplicaId(r), head.seq)))
        .collect();
    let Some(parent_seq) = checkpoint.get(&parent).copied() else {
        tracing::warn!(unit = %unit, "a submitted table's checkpoint does not name the level above's log");
        return Ok(short);
    };
    for event in store.read_log_without_signatures(parent, Seq(1), parent_seq as usize)? {
        if event.header().kind != rollcall_core::EventKind::Receipt || &event.header().unit_path != unit {
            continue;
        }
        let Some(Ok(Body::Receipt(receipt))) = event.body().map(|bytes| Body::decode(event.header().kind, bytes))
        else {
            continue;
        };
        for head in &receipt.heads {
            let Ok(replica) = <[u8; 32]>::try_from(&head.replica[..]).map(ReplicaId) else { continue };
            if checkpoint.get(&replica).copied().unwrap_or(0) < head.seq {
                tracing::warn!(unit = %unit, replica = %replica.short(), acknowledged = head.seq, "a submitted table's checkpoint leaves out events the level above had acknowledged");
                return Ok(short);
            }
        }
    }
    Ok(None)
}

/// What the verifier needs of a node.
#[derive(Clone)]
pub struct Verifier {
    /// The store.
    pub store: Store,
    /// The writer, to record verdicts.
    pub writer: WriterHandle,
    /// The enrollment state (levels of the writers of the checkpoint's events).
    pub authority: Arc<RwLock<Authority>>,
    /// The node's projection (which submissions await a verdict).
    pub projection: Arc<RwLock<Projection>>,
    /// The node's unit: it verifies the units directly below it.
    pub local_unit: UnitPath,
}

impl Verifier {
    /// Verifies every submission below that it can, now and after every durable write,
    /// until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut positions = self.writer.ingest_position();
        // Submissions whose verdict could not be recorded (logged): not retried in a loop.
        let mut given_up: HashSet<(UnitPath, u32, u64)> = HashSet::new();
        let mut recovering = self.writer.recovering();
        loop {
            // A recovering node signs nothing: its verdicts wait until it may.
            if !*recovering.borrow_and_update() {
                self.verify_pending(&mut given_up).await;
            }
            tokio::select! {
                changed = positions.changed() => if changed.is_err() { return },
                changed = recovering.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
        }
    }

    async fn verify_pending(&self, given_up: &mut HashSet<(UnitPath, u32, u64)>) {
        let pending: Vec<(UnitPath, u32, ReportRecord)> = self
            .projection
            .read()
            .expect("never poisoned")
            .reports_awaiting_verification(&self.local_unit)
            .into_iter()
            .filter(|(unit, table, report)| !given_up.contains(&(unit.clone(), *table, report.seq)))
            .collect();
        if pending.is_empty() {
            return;
        }
        let (store, authority) = (self.store.clone(), self.authority.clone());
        // One blocking job for the batch: tables 1-3 of one submission share a checkpoint,
        // so its events are read and applied once.
        let verdicts = tokio::task::spawn_blocking(move || {
            let authority = authority.read().expect("never poisoned").clone();
            let mut cache: CheckpointCache = None;
            pending
                .into_iter()
                .map(|(unit, table, report)| {
                    let verdict = verify_report(&store, &authority, &unit, table, &report, &mut cache);
                    ((unit, table, report.seq), verdict)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(verdicts) = verdicts else { return };
        for (key, verdict) in verdicts {
            let (unit, table) = (key.0.clone(), key.1);
            let verdict = match verdict {
                Ok(Some(verdict)) => verdict,
                Ok(None) => continue, // Not every event of the checkpoint is here yet.
                Err(error) => {
                    tracing::error!(%error, unit = %unit, table, "reading the events of a submitted table");
                    given_up.insert(key);
                    continue;
                }
            };
            let equal = verdict.equal;
            let differences = verdict.differences.len();
            let body = Body::ReportVerified(verdict);
            let draft =
                Draft { unit_path: unit.clone(), kind: body.kind(), body: body.encode(), author: "rollcall".into() };
            match self.writer.append(vec![draft]).await {
                Ok(_) => tracing::info!(unit = %unit, table, equal, differences, "submitted table verified"),
                Err(error) => {
                    tracing::warn!(%error, unit = %unit, table, "could not record the verification of a submitted table");
                    given_up.insert(key);
                }
            }
        }
    }
}
