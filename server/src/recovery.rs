//! A node recovering its own log after a restore or a lost store: the marker file that
//! says so, and the watch that ends the recovery.
//!
//! `deploy/restore.sh` (or `rollcall-node recover`) writes `recovering` in the node's
//! directory. A node that starts with it signs nothing (the writer refuses local
//! events; no receipt, verdict, finding or proof is signed) while its peers send back
//! the events of its own log they hold ([`rollcall_core::recovery`] decides whom it
//! waits for). Once every peer that may hold its events has sent its backlog (so every
//! enrollment it held is here too) and the node holds as much of its log as any of
//! them, the writer removes the marker and signs again, after the last seq it heard
//! back. The operator can end it early by
//! removing the marker (`rollcall-node recover --end`), at the risk the marker exists
//! to avoid: a peer not heard may hold a later event of the node's log.
//!
//! Invariant: the marker is removed only by the writer (or the operator), and only
//! after the writer stopped refusing; a node that crashes while recovering starts
//! recovering again.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rollcall_core::ReplicaId;
use rollcall_core::recovery::{
    Recovering, Report, WaitReason, Waiting, heard_all_but, only_a_recovering_peer_left, waiting_for,
};
use tokio::sync::watch;

use crate::sync::SyncContext;

/// The marker's file name in the node's directory.
pub const MARKER_FILE: &str = "recovering";

/// How often the watch looks again when nothing was ingested (a peer's hello, the
/// operator's removal of the marker).
const RECHECK: Duration = Duration::from_secs(1);

/// The shortest time between two looks.
const RECHECK_MIN: Duration = Duration::from_millis(200);

/// The marker of the node at `dir`.
pub fn marker_path(dir: &Path) -> PathBuf {
    dir.join(MARKER_FILE)
}

/// Whom a recovering node waits for (`rollcall status`; `None`: not recovering), and
/// the sessions it asks to start again so their peers hear a new hello.
#[derive(Clone, Default)]
pub struct RecoveryState {
    waiting: Arc<Mutex<Option<Vec<Waiting>>>>,
    /// Peers once asked for a new hello in this recovery, and those whose session has
    /// not ended for it yet.
    rehello: Arc<Mutex<(HashSet<ReplicaId>, HashSet<ReplicaId>)>>,
    rehello_asked: Arc<watch::Sender<u64>>,
}

impl RecoveryState {
    /// The state of a node that starts recovering (`true`) or not: a recovering node
    /// reports that it is before its first look.
    pub fn starting(recovering: bool) -> RecoveryState {
        RecoveryState { waiting: Arc::new(Mutex::new(recovering.then(Vec::new))), ..RecoveryState::default() }
    }

    /// Whom the node waits for, if it is recovering.
    pub fn waiting(&self) -> Option<Vec<Waiting>> {
        self.waiting.lock().expect("never poisoned").clone()
    }

    /// True if the node recovers and has heard all its peers but `peer`
    /// ([`rollcall_core::recovery::heard_all_but`]; never before its first look, when
    /// the list is still empty).
    pub fn heard_all_but(&self, peer: &ReplicaId) -> bool {
        self.waiting().is_some_and(|waiting| heard_all_but(&waiting, *peer))
    }

    /// Changes whenever a session is asked to start again.
    pub fn rehello_asked(&self) -> watch::Receiver<u64> {
        self.rehello_asked.subscribe()
    }

    /// True (once) if the session with `peer` should end so that a new one says hello.
    pub fn take_rehello(&self, peer: &ReplicaId) -> bool {
        self.rehello.lock().expect("never poisoned").1.remove(peer)
    }

    fn set(&self, waiting: Option<Vec<Waiting>>) {
        // Asks, once per recovery, a last recovering peer for a new hello, and tells it
        // in ours that this node has heard all its other peers.
        let ask = waiting.as_deref().and_then(only_a_recovering_peer_left);
        if waiting.is_none() {
            *self.rehello.lock().expect("never poisoned") = Default::default();
        }
        *self.waiting.lock().expect("never poisoned") = waiting;
        if let Some(peer) = ask {
            let mut rehello = self.rehello.lock().expect("never poisoned");
            if rehello.0.insert(peer) {
                rehello.1.insert(peer);
                drop(rehello);
                tracing::info!(peer = %peer.short(), "waiting only for a peer that is recovering too: a new session tells it this node has heard all its other peers");
                self.rehello_asked.send_modify(|asked| *asked += 1);
            }
        }
    }
}

/// Whom the node waits for now: its own head from the store; from the sessions'
/// figures, what each peer that has sent its backlog reported holding.
///
/// # Errors
///
/// A store read failure, as text.
pub async fn waiting_now(context: &SyncContext, parent: Option<ReplicaId>) -> Result<Vec<Waiting>, String> {
    let own = context.writer.replica();
    let own_head = crate::sync::own_head(context).await?;
    let reported: HashMap<ReplicaId, Report> = context
        .stats
        .snapshot()
        .into_iter()
        .filter(|(_, edge)| edge.backlog_received)
        .map(|(peer, edge)| {
            let held = edge.known.lock().expect("never poisoned").get(&own).copied().unwrap_or_default();
            let report =
                Report::from_hello(edge.peer_recovering, edge.peer_heard_all_others, held, edge.peer_saw_of_this_log);
            (peer, report)
        })
        .collect();
    let authority = context.authority.read().expect("never poisoned");
    let parent = parent.map(|key| {
        let unit = authority
            .enrollment(&key)
            .map(|enrollment| enrollment.unit.clone())
            .or_else(|| context.local_unit.parent())
            .unwrap_or_else(|| context.local_unit.clone());
        (key, unit)
    });
    let node = Recovering { own, unit: context.local_unit.clone(), parent, own_head };
    Ok(waiting_for(&authority, &node, crate::writer::now_ms(), &reported))
}

/// One look: ends the recovery when nobody is waited for any more or the operator
/// removed the marker. Returns whom the node still waits for (`None`: recovered).
pub async fn check(context: &SyncContext, parent: Option<ReplicaId>, marker: &Path) -> Option<Vec<Waiting>> {
    if *context.writer.recovering().borrow() {
        if !marker.exists() {
            tracing::warn!(
                "the recovery marker was removed by the operator: this node signs again without having heard every peer"
            );
            let _ = context.writer.end_recovery().await;
        } else {
            match waiting_now(context, parent).await {
                Ok(waiting) if waiting.is_empty() => {
                    tracing::info!("every peer that may hold this node's events has sent what it holds: recovered");
                    let _ = context.writer.end_recovery().await;
                }
                Ok(waiting) => {
                    context.recovery.set(Some(waiting.clone()));
                    return Some(waiting);
                }
                Err(error) => {
                    tracing::error!(%error, "reading this node's head to check its recovery");
                    return Some(context.recovery.waiting().unwrap_or_default());
                }
            }
        }
    }
    // The writer may have failed to remove the marker: then it still refuses, and so
    // the node is still recovering, whoever it waits for.
    if *context.writer.recovering().borrow() {
        return Some(context.recovery.waiting().unwrap_or_default());
    }
    context.recovery.set(None);
    None
}

/// Watches a recovering node until it has its own log back (or `stop`), logging whom
/// it waits for whenever that changes.
pub async fn watch_until_recovered(
    context: SyncContext,
    parent: Option<ReplicaId>,
    marker: PathBuf,
    mut stop: watch::Receiver<bool>,
) {
    let mut positions = context.writer.ingest_position();
    let mut logged: Option<Vec<Waiting>> = None;
    loop {
        let Some(waiting) = check(&context, parent, &marker).await else { return };
        if logged.as_ref() != Some(&waiting) {
            tracing::info!(waiting = %describe(&waiting), "recovering this node's own log: signing nothing until these peers have sent what they hold of it");
            logged = Some(waiting);
        }
        // At most a few looks a second while a catch-up moves the position hundreds of
        // times a second: each look reads every enrollment.
        tokio::select! {
            _ = tokio::time::sleep(RECHECK_MIN) => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
        tokio::select! {
            changed = positions.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(RECHECK) => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
    }
}

/// "hb/whu: not heard; hb/hust: holds seq 40" (units only: no personal data).
pub fn describe(waiting: &[Waiting]) -> String {
    waiting
        .iter()
        .map(|wait| match wait.reason {
            WaitReason::NotHeard => format!("{}: not heard", wait.unit),
            WaitReason::Holds(seq) => format!("{}: holds seq {}", wait.unit, seq.0),
            WaitReason::Recovering => format!("{}: recovering too", wait.unit),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
