//! Sync sessions: one bidirectional gRPC stream between a child and its parent.
//!
//! Both sides run [`run_session`]: send a hello with every head held; on the peer's hello,
//! send what the peer lacks within its scope ([`rollcall_core::scope`]), replica by
//! replica in enrollment order (so a receiver meets every enrollment before the events
//! it authorises), each replica's events in seq order, in batches bounded by count and
//! bytes; then `caught_up`; then, live, whatever the local store gains. Received batches
//! are verified (off the async workers), handed to the writer, and acknowledged with
//! the heads now durable. The parent side appends a signed receipt for the child's
//! subtree once the child has caught up and then at most once per `RECEIPT_INTERVAL`.
//!
//! Idempotent and resumable: a new session starts from the heads each side holds, so a
//! broken stream loses nothing, and an event the peer already holds is never re-sent
//! within a session (and is a harmless duplicate across sessions).
//!
//! Invariant: this module makes no scope or authority decision of its own: it asks
//! `scope::share`/`scope::shape` and the writer (which asks `Authority`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use rollcall_core::authority::Authority;
use rollcall_core::body::Body;
use rollcall_core::limits::{EVENTS_PER_COMMIT_MAX, EVENTS_PER_MESSAGE_MAX, MESSAGE_BYTES_TARGET};
use rollcall_core::log::Draft;
use rollcall_core::scope;
use rollcall_core::sync::{SendRange, plan_sends};
use rollcall_core::{
    EventKind, Refused, ReplicaId, Seq, UnitPath, VerifiedEvent, codec, proto as pb, verify_many_owned,
};
use tokio::sync::mpsc;

use crate::store::{ReadBuffers, Store};
use crate::writer::{WriterHandle, now_ms};

/// Most messages queued toward a peer: back-pressure on the sender beyond it.
pub const OUTBOUND_QUEUE_DEPTH: usize = 8;
/// Received batches verified at once (on the blocking pool). One more than the two cores
/// this was measured on: a batch's hand-offs (to the pool, back, to the queue) leave a
/// core idle for a moment unless a third batch is there to take it (1,000,000-event
/// catch-up: idle 9% -> 6%, with `VERIFIED_QUEUE_DEPTH` 2 -> 6; BENCHMARKS.md, Sync).
pub const VERIFYING_MAX: usize = 3;
/// Verified batches queued for the writer: verifying goes on while the writer's group
/// fsyncs, and the storing half hands the writer up to this many and one more as one
/// group, at most `EVENTS_PER_COMMIT_MAX` events (a batch that would pass it waits for
/// the next group). A session holds at most `VERIFYING_MAX + 2 * VERIFIED_QUEUE_DEPTH + 2`
/// batches, each of one received message or of several received ones together of at
/// most `MESSAGE_BYTES_TARGET` ([`VERIFY_TOGETHER_EVENTS_MAX`]), and one message read
/// ahead: 18 of at most about 1 MiB from a node; a peer sending messages of the largest
/// size a node accepts (never put together) could make that 288 MiB.
pub const VERIFIED_QUEUE_DEPTH: usize = 6;
/// Most events verified as one batch: the messages already received when one is taken
/// (none is waited for) are verified together, up to this many events and
/// `MESSAGE_BYTES_TARGET` bytes. A batch of more signatures costs less an event (the
/// multiscalar multiplication's window widens): `verify_many` on 2,048 events costs 0.93
/// of it on the 512 of one message (BENCHMARKS.md, Sync, `SYNC_BENCH=v`).
pub const VERIFY_TOGETHER_EVENTS_MAX: usize = 4 * EVENTS_PER_MESSAGE_MAX;
/// Most messages verified as one batch: messages of few events (or none, which no node
/// sends) do not keep the receiving half reading ahead without end.
pub const VERIFY_TOGETHER_MESSAGES_MAX: u32 = 8;
/// Shortest time between two receipts for one child.
pub const RECEIPT_INTERVAL: Duration = Duration::from_secs(1);

/// Which end of the edge this side is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The server: it stores the child's events and answers with receipts.
    Parent,
    /// The caller.
    Child,
}

/// Who is at the other end.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Its key.
    pub replica: ReplicaId,
    /// Its enrolled unit: its scope.
    pub unit: UnitPath,
    /// A revoked laptop handing in what it signed before its revocation: it is sent
    /// nothing (no backlog, no live events, no receipts), only acknowledgements.
    pub upload_only: bool,
}

/// What a node shares with all its sessions.
#[derive(Clone)]
pub struct SyncContext {
    /// The store.
    pub store: Store,
    /// The writer.
    pub writer: WriterHandle,
    /// The enrollment state.
    pub authority: Arc<RwLock<Authority>>,
    /// The local unit (author of receipts).
    pub local_unit: UnitPath,
    /// Per-edge observability.
    pub stats: SyncStats,
    /// Whom the node waits for while it recovers its own log.
    pub recovery: crate::recovery::RecoveryState,
}

/// Per-edge figures, by peer replica.
#[derive(Clone, Default)]
pub struct SyncStats {
    edges: Arc<Mutex<HashMap<ReplicaId, EdgeStats>>>,
}

/// What a peer is known to hold, by replica: its hello, then what was sent to it,
/// acknowledged by it or received from it. Shared by the edge's figures and its session,
/// so the backlog can be computed at any time without copying it, and kept after the
/// session ends.
pub type PeerKnown = Arc<Mutex<HashMap<ReplicaId, Seq>>>;

/// Figures of one edge.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct EdgeStats {
    /// The peer's unit.
    pub unit: String,
    /// Connected now.
    pub connected: bool,
    /// Events sent in total.
    pub sent: u64,
    /// Events received and stored.
    pub received: u64,
    /// Events received and refused.
    pub rejected: u64,
    /// Events in scope that the peer does not hold yet (as of the last check).
    pub unsent: u64,
    /// When the last event was acknowledged by the peer (ms since the epoch).
    pub last_ack_ms: u64,
    /// The peer has sent its whole backlog since this node started (its `caught_up`,
    /// once every batch before it is stored): `known` holds what it reported holding,
    /// and every event it sent before is here (a recovering node waits for this,
    /// [`rollcall_core::recovery`]).
    pub backlog_received: bool,
    /// The peer said in its last hello that it is recovering its own log ...
    pub peer_recovering: bool,
    /// ... and that it has heard all its other peers (what it holds of this node's log
    /// then counts).
    pub peer_heard_all_others: bool,
    /// The highest seq of this node's log the peer's other peers said they hold.
    pub peer_saw_of_this_log: Seq,
    /// What the peer is known to hold; the backlog of the edge is computed from it.
    #[serde(skip)]
    pub known: PeerKnown,
}

impl SyncStats {
    fn update(&self, peer: &Peer, change: impl FnOnce(&mut EdgeStats)) {
        let mut edges = self.edges.lock().expect("never poisoned");
        let edge = edges.entry(peer.replica).or_default();
        edge.unit = peer.unit.to_string();
        change(edge);
    }

    /// A copy of every edge's figures.
    pub fn snapshot(&self) -> Vec<(ReplicaId, EdgeStats)> {
        let edges = self.edges.lock().expect("never poisoned");
        let mut all: Vec<_> = edges.iter().map(|(replica, stats)| (*replica, stats.clone())).collect();
        all.sort_by(|a, b| a.1.unit.cmp(&b.1.unit));
        all
    }
}

/// Why a session ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The peer broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The stream failed.
    #[error("stream: {0}")]
    Stream(String),
    /// The local node is shutting down or its store failed.
    #[error("local: {0}")]
    Local(String),
}

/// What a finished session did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionSummary {
    /// Events sent.
    pub sent: u64,
    /// Events received and stored.
    pub received: u64,
    /// Events received and refused.
    pub rejected: u64,
    /// Whether the peer said it had sent its backlog.
    pub peer_caught_up: bool,
    /// Events we sent that the peer refused.
    pub refused_by_peer: u64,
    /// Set when the parent answered that this replica is revoked: the last seq it still
    /// accepts (the session only hands in what was signed up to it).
    pub revoked_after: Option<u64>,
}

/// Runs one session until the peer closes the stream (`Ok`) or something fails.
/// With `until_caught_up`, the session ends once both sides have exchanged their
/// backlogs and acknowledged them (a laptop's `rollcall sync`).
///
/// # Errors
///
/// [`SyncError`] when the peer breaks the protocol or the stream fails.
pub async fn run_session<S>(
    context: SyncContext,
    side: Side,
    peer: Peer,
    mut inbound: S,
    outbound: mpsc::Sender<pb::SyncMessage>,
    until_caught_up: bool,
) -> Result<SessionSummary, SyncError>
where
    S: Stream<Item = Result<pb::SyncMessage, tonic::Status>> + Unpin,
{
    let mut summary = SessionSummary::default();
    context.stats.update(&peer, |edge| edge.connected = true);
    let result = session_loop(&context, side, &peer, &mut inbound, &outbound, until_caught_up, &mut summary).await;
    context.stats.update(&peer, |edge| edge.connected = false);
    result.map(|()| summary)
}

/// What the receiving half and the sending half of a session share.
#[derive(Default)]
struct SessionState {
    /// Received batches not yet acknowledged, coalesced into one ack.
    pending_ack: Option<pb::SyncAck>,
    /// Events messages sent and not yet acknowledged by the peer.
    batches_unacked: u64,
    caught_up_sent: bool,
    peer_caught_up: bool,
    receipt_due: bool,
    /// The lowest seq of this node's own log refused from the peer while recovering (a
    /// stub, whose body another peer holds, and the gap after it): once the node holds
    /// that seq, the session ends so the peer sends the rest again in a new one.
    own_gap_from: Option<Seq>,
    summary: SessionSummary,
}

/// A session's shared state, and what its peer is known to hold (a lock of its own, the
/// edge's [`PeerKnown`]).
struct Session {
    state: Mutex<SessionState>,
    peer_known: PeerKnown,
    /// This side's hello said it was recovering: the session ends once it is not, so the
    /// peer hears so in a new hello.
    hello_said_recovering: bool,
}

type Shared = Arc<Session>;

/// Aborts a task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, SessionState> {
    shared.state.lock().expect("the session lock is never poisoned: its holders do not panic")
}

fn lock_known(known: &PeerKnown) -> std::sync::MutexGuard<'_, HashMap<ReplicaId, Seq>> {
    known.lock().expect("the peer-known lock is never poisoned: its holders do not panic")
}

/// Records that the peer holds `replica`'s log up to `seq`.
fn note_held(shared: &Shared, replica: ReplicaId, seq: Seq) {
    let mut known = lock_known(&shared.peer_known);
    let held = known.entry(replica).or_default();
    *held = (*held).max(seq);
}

/// A session has two halves so that neither side can block the other: this task only
/// reads and stores (its acknowledgements are coalesced and handed to the sending half,
/// so reading never waits on the network), and a sending task sends the backlog, live
/// events, acknowledgements and receipts. Two peers that both have a long backlog for
/// each other therefore never deadlock on full flow-control windows.
async fn session_loop<S>(
    context: &SyncContext,
    side: Side,
    peer: &Peer,
    inbound: &mut S,
    outbound: &mpsc::Sender<pb::SyncMessage>,
    until_caught_up: bool,
    summary: &mut SessionSummary,
) -> Result<(), SyncError>
where
    S: Stream<Item = Result<pb::SyncMessage, tonic::Status>> + Unpin,
{
    let mut local_heads = read_heads(&context.store).await?;
    if peer.upload_only {
        // A revoked laptop learns nothing but how much of its own log is held here.
        local_heads.retain(|head| head.replica.as_ref() == peer.replica.0.as_slice());
    }
    let recovering = *context.writer.recovering().borrow();
    let heard_all_others = recovering && context.recovery.heard_all_but(&peer.replica);
    // This hello says it: a new hello asked of an earlier session is said now.
    context.recovery.take_rehello(&peer.replica);
    let receiver_log_seen = seen_elsewhere(context, &peer.replica);
    send(
        outbound,
        pb::sync_message::Message::Hello(pb::SyncHello {
            heads: local_heads,
            recovering,
            heard_all_others,
            receiver_log_seen,
        }),
    )
    .await?;
    let hello = match next_message(inbound).await? {
        Some(pb::sync_message::Message::Hello(hello)) => hello,
        Some(_) => return Err(SyncError::Protocol("the first message must be a hello".into())),
        None => return Ok(()),
    };
    let mut from_hello = HashMap::with_capacity(hello.heads.len());
    for head in hello.heads {
        from_hello.insert(replica_of(&head.replica)?, Seq(head.seq));
    }
    let mut peer_known = PeerKnown::default();
    // One update, so a recovery's look never pairs this hello's heads with the last
    // session's flags.
    context.stats.update(peer, |edge| {
        peer_known = edge.known.clone();
        *lock_known(&peer_known) = from_hello;
        // What it holds counts again once this session's backlog is stored.
        edge.backlog_received = false;
        edge.peer_recovering = hello.recovering;
        edge.peer_heard_all_others = hello.heard_all_others;
        edge.peer_saw_of_this_log = Seq(hello.receiver_log_seen);
    });
    let shared: Shared = Arc::new(Session { state: Mutex::default(), peer_known, hello_said_recovering: recovering });
    let wake_sender = Arc::new(tokio::sync::Notify::new());
    // Aborted when this future ends or is dropped (a node shutting down drops its
    // sessions): the sending half holds a writer handle, and the writer thread ends only
    // when every handle is gone.
    let mut sender = AbortOnDrop(tokio::spawn(sending_half(
        context.clone(),
        side,
        peer.clone(),
        shared.clone(),
        wake_sender.clone(),
        outbound.clone(),
    )));
    let (verified_sender, verified_receiver) = mpsc::channel(VERIFIED_QUEUE_DEPTH);
    let storing = tokio::spawn(storing_half(
        context.clone(),
        peer.clone(),
        shared.clone(),
        wake_sender.clone(),
        verified_receiver,
    ));
    let mut storing = AbortOnDrop(storing);
    let mut result = receiving_half(
        context,
        peer,
        inbound,
        &shared,
        &wake_sender,
        &mut sender.0,
        &verified_sender,
        &mut storing.0,
        until_caught_up,
    )
    .await;
    // Whatever was verified is stored before the session ends (its acknowledgement is
    // the last message below); after a failure, what is queued is still stored: it
    // was verified, and a new session would only send it again.
    drop(verified_sender);
    if !storing.0.is_finished() || result.is_ok() {
        let stored = (&mut storing.0).await;
        if result.is_ok() {
            result = flatten(stored);
        }
    }
    drop(sender);
    *summary = lock(&shared).summary.clone();
    let last_ack = if result.is_ok() { lock(&shared).pending_ack.take() } else { None };
    if let Some(ack) = last_ack {
        // A last acknowledgement for what was stored since the sending half stopped.
        let _ = send(outbound, pb::sync_message::Message::Ack(ack)).await;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn receiving_half<S>(
    context: &SyncContext,
    peer: &Peer,
    inbound: &mut S,
    shared: &Shared,
    wake_sender: &tokio::sync::Notify,
    sender: &mut tokio::task::JoinHandle<Result<(), SyncError>>,
    verified: &mpsc::Sender<VerifiedBatch>,
    storing: &mut tokio::task::JoinHandle<Result<(), SyncError>>,
    until_caught_up: bool,
) -> Result<(), SyncError>
where
    S: Stream<Item = Result<pb::SyncMessage, tonic::Status>> + Unpin,
{
    // Batches being verified, at most `VERIFYING_MAX` at once (one per core), handed on
    // to the storing half in the order received.
    let mut verifying = futures_util::stream::FuturesOrdered::new();
    // A message read while putting received batches together, handled next.
    let mut following: Option<Option<pb::sync_message::Message>> = None;
    loop {
        if until_caught_up && verifying.is_empty() && following.is_none() {
            let state = lock(shared);
            if state.caught_up_sent && state.peer_caught_up && state.batches_unacked == 0 {
                return Ok(());
            }
        }
        let message = tokio::select! {
            message = following_or_next(&mut following, inbound), if verifying.len() < VERIFYING_MAX => message?,
            Some(batch) = verifying.next(), if !verifying.is_empty() => {
                let batch: VerifiedBatch = batch?;
                // The peer holds what it sent, whatever this side decides: record it
                // before the write wakes the sending half, which must not echo it back.
                for event in &batch.events {
                    note_held(shared, event.replica(), event.seq());
                }
                // Waits only when the storing half is a whole queue behind.
                if verified.send(batch).await.is_err() {
                    return Err(SyncError::Local("the storing half stopped".into()));
                }
                continue;
            }
            finished = &mut *sender => return flatten(finished),
            finished = &mut *storing => {
                return match flatten(finished) {
                    Ok(()) => Err(SyncError::Local("the storing half stopped".into())),
                    Err(error) => Err(error),
                };
            }
        };
        match message {
            None => {
                // The peer is done: what it sent is still verified and stored.
                while let Some(batch) = verifying.next().await {
                    if verified.send(batch?).await.is_err() {
                        return Err(SyncError::Local("the storing half stopped".into()));
                    }
                }
                return Ok(());
            }
            Some(pb::sync_message::Message::Events(batch)) => {
                let together = with_received_batches(batch, inbound, &mut following)?;
                tracing::debug!(peer = %peer.unit, n_events = together.events.len(), n_messages = together.messages, "batches received");
                verifying.push_back(verify_or_mark(Some(together)));
            }
            Some(pb::sync_message::Message::Ack(ack)) => {
                for head in &ack.heads {
                    note_held(shared, replica_of(&head.replica)?, Seq(head.seq));
                }
                let mut state = lock(shared);
                state.batches_unacked = state.batches_unacked.saturating_sub(u64::from(ack.batches));
                state.summary.refused_by_peer += ack.rejections.len() as u64;
                drop(state);
                if !ack.rejections.is_empty() {
                    tracing::warn!(peer = %peer.unit, n_rejections = ack.rejections.len(), "peer refused events we sent");
                }
                context.stats.update(peer, |edge| edge.last_ack_ms = now_ms());
            }
            Some(pb::sync_message::Message::CaughtUp(_)) => {
                tracing::debug!(peer = %peer.unit, "peer caught up");
                let mut state = lock(shared);
                state.peer_caught_up = true;
                state.summary.peer_caught_up = true;
                state.receipt_due = true;
                drop(state);
                // Marks the end of the peer's backlog in the order of what it sent, so
                // the storing half records it once everything before it is stored.
                verifying.push_back(verify_or_mark(None));
                wake_sender.notify_one();
            }
            Some(pb::sync_message::Message::Hello(_)) => {
                return Err(SyncError::Protocol("a second hello".into()));
            }
        }
    }
}

/// Sends the backlog, then `caught_up`, then live events, coalesced acknowledgements
/// and (on the parent side) receipts, until the session ends.
async fn sending_half(
    context: SyncContext,
    side: Side,
    peer: Peer,
    shared: Shared,
    wake: Arc<tokio::sync::Notify>,
    outbound: mpsc::Sender<pb::SyncMessage>,
) -> Result<(), SyncError> {
    let mut ingest_position = context.writer.ingest_position();
    ingest_position.borrow_and_update();
    if peer.upload_only {
        return acknowledging_only(shared, wake, outbound).await;
    }
    let sent = send_missing(&context, &peer, &shared, &outbound).await?;
    lock(&shared).summary.sent += sent;
    send(&outbound, pb::sync_message::Message::CaughtUp(pb::SyncCaughtUp {})).await?;
    lock(&shared).caught_up_sent = true;
    let mut last_receipt = tokio::time::Instant::now() - RECEIPT_INTERVAL;
    let mut recovering = context.writer.recovering();
    let hello_said_recovering = shared.hello_said_recovering;
    let mut rehello_asked = context.recovery.rehello_asked();
    loop {
        let ack = lock(&shared).pending_ack.take();
        if let Some(ack) = ack {
            send(&outbound, pb::sync_message::Message::Ack(ack)).await?;
        }
        if own_gap_filled(&context, &shared).await? {
            tracing::info!(peer = %peer.unit, "this node's own log came back past what the peer could send in full: ending the session, so the peer sends the rest in the next");
            return Ok(());
        }
        let recovering_now = *recovering.borrow_and_update();
        if hello_said_recovering && !recovering_now {
            // Recovered: the peer learns it from a new hello (a recovering peer does not
            // count what this node holds until then).
            tracing::info!(peer = %peer.unit, "recovered: ending the session, so the peer hears so in a new hello");
            return Ok(());
        }
        // A recovering node signs nothing: the receipt waits until it may.
        let receipt_due = side == Side::Parent && lock(&shared).receipt_due && !recovering_now;
        tokio::select! {
            _ = wake.notified() => {}
            changed = rehello_asked.changed() => {
                if changed.is_ok() && context.recovery.take_rehello(&peer.replica) {
                    tracing::info!(peer = %peer.unit, "ending the session, so the peer hears in a new hello that this node has heard all its other peers");
                    return Ok(());
                }
            }
            changed = recovering.changed() => {
                if changed.is_err() {
                    return Err(SyncError::Local("the writer stopped".into()));
                }
            }
            changed = ingest_position.changed() => {
                if changed.is_err() {
                    return Err(SyncError::Local("the writer stopped".into()));
                }
                ingest_position.borrow_and_update();
                let sent = send_missing(&context, &peer, &shared, &outbound).await?;
                tracing::debug!(peer = %peer.unit, sent, "live events sent");
                lock(&shared).summary.sent += sent;
            }
            // A due receipt goes out at most once per interval, even in a quiet period.
            _ = tokio::time::sleep_until(last_receipt + RECEIPT_INTERVAL), if receipt_due => {
                lock(&shared).receipt_due = false;
                append_receipt(&context, &peer).await?;
                tracing::debug!(peer = %peer.unit, "receipt appended");
                last_receipt = tokio::time::Instant::now();
            }
        }
    }
}

/// The highest seq of `replica`'s log that the peers other than `replica` are known to
/// hold (the hello's `receiver_log_seen`).
fn seen_elsewhere(context: &SyncContext, replica: &ReplicaId) -> u64 {
    context
        .stats
        .snapshot()
        .into_iter()
        .filter(|(peer, _)| peer != replica)
        .filter_map(|(_, edge)| lock_known(&edge.known).get(replica).copied())
        .max()
        .map_or(0, |seq| seq.0)
}

/// True when events of this node's own log were refused from the peer in this session
/// and the node now holds the first of them (another peer sent it in full).
async fn own_gap_filled(context: &SyncContext, shared: &Shared) -> Result<bool, SyncError> {
    let Some(from) = lock(shared).own_gap_from else { return Ok(false) };
    Ok(own_head(context).await.map_err(SyncError::Local)? >= from)
}

/// The head of this node's own log as stored (0: none), read off the async workers.
///
/// # Errors
///
/// A store read failure, as text.
pub async fn own_head(context: &SyncContext) -> Result<Seq, String> {
    let (own, store) = (context.writer.replica(), context.store.clone());
    tokio::task::spawn_blocking(move || store.head(own))
        .await
        .map_err(|_| "a read task stopped".to_string())?
        .map(|head| head.map_or(Seq(0), |head| head.head.seq))
        .map_err(|error| error.to_string())
}

/// The sending half of an upload-only session (a revoked laptop handing in its work):
/// nothing to send but "caught up" and the acknowledgements of what it hands in.
async fn acknowledging_only(
    shared: Shared,
    wake: Arc<tokio::sync::Notify>,
    outbound: mpsc::Sender<pb::SyncMessage>,
) -> Result<(), SyncError> {
    send(&outbound, pb::sync_message::Message::CaughtUp(pb::SyncCaughtUp {})).await?;
    lock(&shared).caught_up_sent = true;
    loop {
        let ack = lock(&shared).pending_ack.take();
        if let Some(ack) = ack {
            send(&outbound, pb::sync_message::Message::Ack(ack)).await?;
        }
        wake.notified().await;
    }
}

async fn next_message<S>(inbound: &mut S) -> Result<Option<pb::sync_message::Message>, SyncError>
where
    S: Stream<Item = Result<pb::SyncMessage, tonic::Status>> + Unpin,
{
    message_of(inbound.next().await)
}

/// The message read ahead (`following`), else the next one received.
async fn following_or_next<S>(
    following: &mut Option<Option<pb::sync_message::Message>>,
    inbound: &mut S,
) -> Result<Option<pb::sync_message::Message>, SyncError>
where
    S: Stream<Item = Result<pb::SyncMessage, tonic::Status>> + Unpin,
{
    match following.take() {
        Some(message) => Ok(message),
        None => next_message(inbound).await,
    }
}

fn message_of(
    item: Option<Result<pb::SyncMessage, tonic::Status>>,
) -> Result<Option<pb::sync_message::Message>, SyncError> {
    match item {
        None => Ok(None),
        Some(Err(status)) => Err(SyncError::Stream(status.message().to_string())),
        Some(Ok(pb::SyncMessage { message: None })) => Err(SyncError::Protocol("an empty message".into())),
        Some(Ok(pb::SyncMessage { message: Some(message) })) => Ok(Some(message)),
    }
}

/// Received batches to verify as one.
struct Together {
    events: Vec<pb::SignedEvent>,
    /// How many of the peer's messages they came in (what the acknowledgement counts).
    messages: u32,
}

/// `first` and the batches of events already received after it, without waiting for
/// any, up to [`VERIFY_TOGETHER_EVENTS_MAX`] events, `MESSAGE_BYTES_TARGET` bytes and
/// [`VERIFY_TOGETHER_MESSAGES_MAX`] messages in all: the first message that is not
/// events, or would go past a limit, is left in `following`. A message of more than
/// `EVENTS_PER_MESSAGE_MAX` events is refused.
fn with_received_batches<S>(
    first: pb::SyncEvents,
    inbound: &mut S,
    following: &mut Option<Option<pb::sync_message::Message>>,
) -> Result<Together, SyncError>
where
    S: Stream<Item = Result<pb::SyncMessage, tonic::Status>> + Unpin,
{
    use futures_util::FutureExt;
    let bytes = |batch: &pb::SyncEvents| -> usize { batch.events.iter().map(parts_len).sum() };
    check_batch_size(&first)?;
    let mut together_bytes = bytes(&first);
    let mut together = Together { events: first.events, messages: 1 };
    while together.events.len() < VERIFY_TOGETHER_EVENTS_MAX
        && together_bytes < MESSAGE_BYTES_TARGET
        && together.messages < VERIFY_TOGETHER_MESSAGES_MAX
    {
        let Some(item) = inbound.next().now_or_never() else { break };
        match message_of(item)? {
            Some(pb::sync_message::Message::Events(batch)) => {
                check_batch_size(&batch)?;
                let batch_bytes = bytes(&batch);
                if together.events.len() + batch.events.len() > VERIFY_TOGETHER_EVENTS_MAX
                    || together_bytes + batch_bytes > MESSAGE_BYTES_TARGET
                {
                    *following = Some(Some(pb::sync_message::Message::Events(batch)));
                    break;
                }
                together_bytes += batch_bytes;
                together.events.extend(batch.events);
                together.messages += 1;
            }
            other => {
                *following = Some(other);
                break;
            }
        }
    }
    Ok(together)
}

/// The bytes of an envelope's three parts: what a batch is sized by, sending and receiving.
fn parts_len(event: &pb::SignedEvent) -> usize {
    event.header.len() + event.signature.len() + event.body.as_ref().map_or(0, |body| body.len())
}

fn check_batch_size(batch: &pb::SyncEvents) -> Result<(), SyncError> {
    let n_events = batch.events.len();
    if n_events > EVENTS_PER_MESSAGE_MAX {
        return Err(SyncError::Protocol(format!("{n_events} events in one batch, more than {EVENTS_PER_MESSAGE_MAX}")));
    }
    Ok(())
}

async fn send(outbound: &mpsc::Sender<pb::SyncMessage>, message: pb::sync_message::Message) -> Result<(), SyncError> {
    outbound
        .send(pb::SyncMessage { message: Some(message) })
        .await
        .map_err(|_| SyncError::Stream("the peer went away".into()))
}

fn replica_of(bytes: &[u8]) -> Result<ReplicaId, SyncError> {
    bytes.try_into().map(ReplicaId).map_err(|_| SyncError::Protocol("a replica is not 32 bytes".into()))
}

async fn stored_heads(store: &Store) -> Result<Vec<crate::store::StoredHead>, SyncError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.heads())
        .await
        .map_err(|_| SyncError::Local("read task failed".into()))?
        .map_err(|err| SyncError::Local(err.to_string()))
}

async fn read_heads(store: &Store) -> Result<Vec<pb::ReplicaHead>, SyncError> {
    Ok(stored_heads(store).await?.iter().map(crate::rpc::head_to_proto).collect())
}

/// Sends every event in the peer's scope that it does not hold, and returns how many
/// events, in how many messages.
async fn send_missing(
    context: &SyncContext,
    peer: &Peer,
    shared: &Shared,
    outbound: &mpsc::Sender<pb::SyncMessage>,
) -> Result<u64, SyncError> {
    let heads = stored_heads(&context.store).await?;
    let plan = {
        let peer_known = lock_known(&shared.peer_known);
        let authority = context.authority.read().expect("never poisoned");
        plan_sends(&authority, heads.iter().map(|stored| (stored.replica, stored.head.seq)), &peer_known, &peer.unit)
    };
    let unsent: u64 = plan.iter().map(|range| range.to.0 - range.from.0 + 1).sum();
    context.stats.update(peer, |edge| edge.unsent = unsent);
    let mut n_sent = 0;
    let mut batch = pb::SyncEvents::default();
    let mut batch_bytes = 0;
    for SendRange { replica, from, to, share } in plan {
        let mut next = from;
        while next <= to {
            let store = context.store.clone();
            let count = ((to.0 - next.0 + 1) as usize).min(EVENTS_PER_MESSAGE_MAX);
            let start = next;
            let events = tokio::task::spawn_blocking(move || {
                store.read_log_without_signatures_into(replica, start, count, ReadBuffers::OnePerRead)
            })
            .await
            .map_err(|_| SyncError::Local("read task failed".into()))?
            .map_err(|err| SyncError::Local(err.to_string()))?;
            let Some(last) = events.last() else { break };
            next = Seq(last.seq().0 + 1);
            for event in events {
                let Some(shaped) = scope::shape(event, share, &peer.unit) else { continue };
                let signed = codec::into_proto(shaped.into_signed());
                batch_bytes += parts_len(&signed);
                batch.events.push(signed);
                if batch.events.len() >= EVENTS_PER_MESSAGE_MAX || batch_bytes >= MESSAGE_BYTES_TARGET {
                    n_sent += batch.events.len() as u64;
                    lock(shared).batches_unacked += 1;
                    send(outbound, pb::sync_message::Message::Events(std::mem::take(&mut batch))).await?;
                    batch_bytes = 0;
                }
            }
            note_held(shared, replica, Seq(next.0 - 1));
        }
    }
    if !batch.events.is_empty() {
        n_sent += batch.events.len() as u64;
        lock(shared).batches_unacked += 1;
        send(outbound, pb::sync_message::Message::Events(batch)).await?;
    }
    context.stats.update(peer, |edge| {
        edge.sent += n_sent;
        edge.unsent = 0;
    });
    Ok(n_sent)
}

/// A received batch, verified: what to store, and what was refused already.
struct VerifiedBatch {
    events: Vec<VerifiedEvent>,
    rejections: Vec<pb::SyncRejection>,
    /// How many of the peer's messages the batch covers.
    messages: u32,
    /// Not a batch the peer sent: the mark of the end of its backlog (its `caught_up`).
    backlog_end: bool,
}

/// Verifies a received batch, or (`None`) passes the mark of the end of the peer's
/// backlog along in order.
async fn verify_or_mark(batch: Option<Together>) -> Result<VerifiedBatch, SyncError> {
    match batch {
        Some(batch) => verify_batch(batch).await,
        None => Ok(VerifiedBatch { events: Vec::new(), rejections: Vec::new(), messages: 0, backlog_end: true }),
    }
}

/// Verifies received batches (each checked for size already) off the async workers.
async fn verify_batch(batch: Together) -> Result<VerifiedBatch, SyncError> {
    let n_events = batch.events.len();
    let messages = batch.messages;
    tokio::task::spawn_blocking(move || {
        let mut events = Vec::with_capacity(n_events);
        let mut rejections = Vec::new();
        let mut signed = Vec::with_capacity(n_events);
        for message in batch.events {
            match codec::from_proto(message) {
                Ok(event) => signed.push(event),
                Err(err) => {
                    rejections.push(pb::SyncRejection { replica: Default::default(), seq: 0, reason: err.to_string() })
                }
            }
        }
        for checked in verify_many_owned(signed) {
            match checked {
                Ok(event) => events.push(event),
                Err(Refused { error: err, event }) => {
                    let header = codec::decode_header(&event.header).ok();
                    let (replica, seq, reason) = match &header {
                        Some(header) => (
                            header.replica.0.to_vec(),
                            header.seq.0,
                            format!("{} seq {}: {err}", header.replica.short(), header.seq),
                        ),
                        None => (Vec::new(), 0, err.to_string()),
                    };
                    rejections.push(pb::SyncRejection { replica: replica.into(), seq, reason });
                }
            }
        }
        VerifiedBatch { events, rejections, messages, backlog_end: false }
    })
    .await
    .map_err(|_| SyncError::Local("verify task failed".into()))
}

/// Stores verified batches in the order received, handing the writer whatever has
/// queued up as one job (one fsync for several batches while a backlog streams in), and
/// adds each to the pending (coalesced) acknowledgement. Ends when the receiving half
/// drops its end of the queue.
async fn storing_half(
    context: SyncContext,
    peer: Peer,
    shared: Shared,
    wake_sender: Arc<tokio::sync::Notify>,
    mut verified: mpsc::Receiver<VerifiedBatch>,
) -> Result<(), SyncError> {
    // A batch taken that would have made the group more than the writer commits at
    // once: the first of the next group.
    let mut carried: Option<VerifiedBatch> = None;
    loop {
        let first = match carried.take() {
            Some(batch) => batch,
            None => match verified.recv().await {
                Some(batch) => batch,
                None => break,
            },
        };
        let mut n_events = first.events.len();
        let mut batches = vec![first];
        while batches.len() < VERIFIED_QUEUE_DEPTH + 1 {
            match verified.try_recv() {
                Ok(batch) if n_events + batch.events.len() > EVENTS_PER_COMMIT_MAX => {
                    carried = Some(batch);
                    break;
                }
                Ok(batch) => {
                    n_events += batch.events.len();
                    batches.push(batch);
                }
                Err(_) => break,
            }
        }
        let backlog_end = batches.iter().any(|batch| batch.backlog_end);
        batches.retain(|batch| !batch.backlog_end);
        if !batches.is_empty() {
            store_batches(&context, &peer, batches, &shared).await?;
        }
        if backlog_end {
            context.stats.update(&peer, |edge| edge.backlog_received = true);
        }
        wake_sender.notify_one();
    }
    Ok(())
}

async fn store_batches(
    context: &SyncContext,
    peer: &Peer,
    batches: Vec<VerifiedBatch>,
    shared: &Shared,
) -> Result<(), SyncError> {
    let n_messages: u32 = batches.iter().map(|batch| batch.messages).sum();
    let mut events = Vec::with_capacity(batches.iter().map(|batch| batch.events.len()).sum());
    let mut rejections = Vec::new();
    for batch in batches {
        events.extend(batch.events);
        rejections.extend(batch.rejections);
    }
    let started = std::time::Instant::now();
    let outcome = context.writer.ingest(events).await.map_err(|err| SyncError::Local(err.to_string()))?;
    crate::metrics::observe_sync_store(&peer.replica, peer.unit.as_str(), started.elapsed());
    let own = context.writer.replica();
    let recovering = *context.writer.recovering().borrow();
    let own_refused = outcome.rejections.iter().filter(|rejection| rejection.replica == own).map(|r| r.seq).min();
    if let Some(first) = own_refused {
        // A recovering node hears its own log back from every peer; a peer holding some
        // of its events as stubs (about another peer's subtree) cannot send those in
        // full, nor what follows them. Expected, so one line, not one per event.
        let n_own = outcome.rejections.iter().filter(|rejection| rejection.replica == own).count();
        if recovering {
            tracing::info!(peer = %peer.unit, first = first.0, n_own, "events of this node's own log refused from this peer while recovering; it sends them again in its next session once the node holds the first");
        } else {
            tracing::warn!(peer = %peer.unit, first = first.0, n_own, "events of this node's own log refused from this peer (restored from an older backup without recovering?)");
        }
        let mut state = lock(shared);
        state.own_gap_from = Some(state.own_gap_from.map_or(first, |held| held.min(first)));
    }
    for rejection in &outcome.rejections {
        if rejection.replica != own {
            tracing::warn!(peer = %peer.unit, replica = %rejection.replica.short(), seq = rejection.seq.0, reason = %rejection.reason, "refused an event");
        }
        rejections.push(pb::SyncRejection {
            replica: rejection.replica.0.to_vec().into(),
            seq: rejection.seq.0,
            reason: rejection.reason.clone(),
        });
    }
    let n_rejected = rejections.len() as u64;
    context.stats.update(peer, |edge| {
        edge.received += u64::from(outcome.accepted);
        edge.rejected += n_rejected;
    });
    for (replica, head) in &outcome.heads {
        note_held(shared, *replica, head.seq);
    }
    let mut state = lock(shared);
    state.summary.received += u64::from(outcome.accepted);
    state.summary.rejected += n_rejected;
    state.receipt_due |= outcome.accepted > 0;
    let ack = state.pending_ack.get_or_insert_with(pb::SyncAck::default);
    for (replica, head) in &outcome.heads {
        ack.heads.retain(|h| h.replica.as_ref() != replica.0);
        ack.heads.push(pb::ReplicaHead {
            replica: replica.0.to_vec().into(),
            seq: head.seq.0,
            hash: head.hash.0.to_vec().into(),
        });
    }
    ack.accepted += outcome.accepted;
    ack.duplicates += outcome.duplicates;
    ack.rejections.extend(rejections);
    ack.batches += n_messages;
    Ok(())
}

fn flatten(finished: Result<Result<(), SyncError>, tokio::task::JoinError>) -> Result<(), SyncError> {
    match finished {
        Ok(result) => result,
        Err(_) => Err(SyncError::Local("a session task stopped".into())),
    }
}

/// The backlog of an edge: how many events in the scope of a peer at `peer_unit` it is
/// not known to hold, and the hybrid-logical wall time of the oldest of them (0: none),
/// given the local `heads`. The same plan a session would send ([`plan_sends`]).
///
/// # Errors
///
/// [`crate::store::StoreError`] on read failure.
pub fn edge_backlog(
    store: &Store,
    heads: &[crate::store::StoredHead],
    authority: &RwLock<Authority>,
    peer_unit: &UnitPath,
    known: &PeerKnown,
) -> Result<(u64, u64), crate::store::StoreError> {
    // Plan under the locks, read the store after: neither the writer nor the session
    // waits on this read.
    let plan = {
        let known = lock_known(known);
        let authority = authority.read().expect("never poisoned");
        plan_sends(&authority, heads.iter().map(|stored| (stored.replica, stored.head.seq)), &known, peer_unit)
    };
    let (mut unsent, mut oldest_ms) = (0u64, 0u64);
    for range in plan {
        unsent += range.to.0 - range.from.0 + 1;
        if let Some(first) = store.read_log_without_signatures(range.replica, range.from, 1)?.first() {
            let at = first.header().hlc.wall_ms;
            oldest_ms = if oldest_ms == 0 { at } else { oldest_ms.min(at) };
        }
    }
    Ok((unsent, oldest_ms))
}

/// Appends a signed receipt: the heads of the child's subtree now durable here.
async fn append_receipt(context: &SyncContext, peer: &Peer) -> Result<(), SyncError> {
    let heads = read_heads(&context.store).await?;
    let in_subtree: Vec<pb::ReplicaHead> = {
        let authority = context.authority.read().expect("never poisoned");
        heads
            .into_iter()
            .filter(|head| {
                replica_of(&head.replica)
                    .ok()
                    .and_then(|replica| authority.enrollment(&replica).map(|e| e.unit.is_within(&peer.unit)))
                    .unwrap_or(false)
            })
            .collect()
    };
    let body = Body::Receipt(pb::Receipt { heads: in_subtree, stored_at_ms: now_ms() });
    let draft = Draft {
        unit_path: peer.unit.clone(),
        kind: EventKind::Receipt,
        body: body.encode(),
        author: "rollcall".into(),
    };
    context.writer.append(vec![draft]).await.map_err(|err| SyncError::Local(err.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message of `n` events, each with a body of `body_bytes`.
    fn events(n: usize, body_bytes: usize) -> pb::SyncEvents {
        let event = pb::SignedEvent {
            header: bytes::Bytes::from_static(b"header"),
            signature: bytes::Bytes::from_static(&[7; 64]),
            body: Some(bytes::Bytes::from(vec![1; body_bytes])),
        };
        pb::SyncEvents { events: vec![event; n] }
    }

    fn received(message: pb::sync_message::Message) -> Result<pb::SyncMessage, tonic::Status> {
        Ok(pb::SyncMessage { message: Some(message) })
    }

    /// The messages received so far, then nothing yet (the stream stays open).
    fn inbound(
        messages: Vec<pb::sync_message::Message>,
    ) -> impl Stream<Item = Result<pb::SyncMessage, tonic::Status>> + Unpin {
        futures_util::stream::iter(messages.into_iter().map(received)).chain(futures_util::stream::pending())
    }

    /// How many events and messages `with_received_batches` puts together, sizes within limits.
    fn together(
        first: pb::SyncEvents,
        stream: &mut (impl Stream<Item = Result<pb::SyncMessage, tonic::Status>> + Unpin),
        following: &mut Option<Option<pb::sync_message::Message>>,
    ) -> (usize, u32) {
        let together = with_received_batches(first, stream, following).expect("sizes within limits");
        (together.events.len(), together.messages)
    }

    fn n_events(message: &Option<Option<pb::sync_message::Message>>) -> Option<usize> {
        match message {
            Some(Some(pb::sync_message::Message::Events(batch))) => Some(batch.events.len()),
            _ => None,
        }
    }

    #[test]
    fn batches_already_received_are_verified_together_up_to_the_events_limit() {
        use pb::sync_message::Message::Events;
        // Two more received: all three together, and nothing is waited for.
        let mut stream = inbound(vec![Events(events(512, 10)), Events(events(100, 10))]);
        let mut following = None;
        assert_eq!(together(events(512, 10), &mut stream, &mut following), (1124, 3));
        assert!(following.is_none());

        // Five of 512: four make 2,048, and the fifth is not read.
        let mut stream = inbound((0..4).map(|_| Events(events(512, 10))).collect());
        assert_eq!(together(events(512, 10), &mut stream, &mut following), (VERIFY_TOGETHER_EVENTS_MAX, 4));
        assert!(following.is_none());
        assert_eq!(
            together(events(1, 10), &mut stream, &mut following),
            (513, 2),
            "the fifth message stayed in the stream"
        );

        // One that would go past 2,048 events is kept for the next batch.
        let mut received: Vec<_> = (0..3).map(|_| Events(events(512, 10))).collect();
        received.push(Events(events(100, 10)));
        let mut stream = inbound(received);
        assert_eq!(together(events(500, 10), &mut stream, &mut following), (2036, 4));
        assert_eq!(n_events(&following), Some(100));
    }

    #[test]
    fn batches_already_received_are_verified_together_up_to_a_message_of_bytes() {
        use pb::sync_message::Message::Events;
        // 5 × 100 KB, then 6 × 100 KB: together past 1 MiB, so the second waits.
        let mut stream = inbound(vec![Events(events(6, 100_000)), Events(events(1, 10))]);
        let mut following = None;
        assert_eq!(together(events(5, 100_000), &mut stream, &mut following), (5, 1));
        assert_eq!(n_events(&following), Some(6));

        // A message larger than the target alone is verified alone.
        let mut stream = inbound(vec![Events(events(1, 10))]);
        let mut following = None;
        assert_eq!(together(events(12, 100_000), &mut stream, &mut following), (12, 1));
        assert!(following.is_none(), "nothing read past the limit");
    }

    #[test]
    fn what_is_not_events_is_handled_next_and_oversized_messages_are_refused() {
        use pb::sync_message::Message::{Ack, CaughtUp, Events};
        let mut stream = inbound(vec![Events(events(2, 10)), Ack(pb::SyncAck::default()), Events(events(2, 10))]);
        let mut following = None;
        assert_eq!(together(events(2, 10), &mut stream, &mut following), (4, 2));
        assert!(matches!(following, Some(Some(Ack(_)))), "the ack is handled next, not lost");

        let mut stream = inbound(vec![CaughtUp(pb::SyncCaughtUp::default())]);
        let mut following = None;
        with_received_batches(events(2, 10), &mut stream, &mut following).expect("sizes within limits");
        assert!(matches!(following, Some(Some(CaughtUp(_)))));

        // The peer finished: its end is handled next.
        let mut stream = futures_util::stream::iter(Vec::<Result<pb::SyncMessage, tonic::Status>>::new());
        let mut following = None;
        with_received_batches(events(2, 10), &mut stream, &mut following).expect("sizes within limits");
        assert!(matches!(following, Some(None)));

        // Messages of few events or none: at most eight together, the rest left unread.
        let mut stream = inbound((0..20).map(|_| Events(pb::SyncEvents::default())).collect());
        let mut following = None;
        assert_eq!(together(events(1, 1), &mut stream, &mut following), (1, VERIFY_TOGETHER_MESSAGES_MAX));
        assert!(following.is_none());
        let (_, next_messages) = together(events(1, 1), &mut stream, &mut following);
        assert_eq!(next_messages, VERIFY_TOGETHER_MESSAGES_MAX, "the rest still in the stream");

        // More than a message may hold, first or later, ends the session.
        let mut following = None;
        let oversized =
            with_received_batches(events(EVENTS_PER_MESSAGE_MAX + 1, 1), &mut inbound(vec![]), &mut following);
        assert!(matches!(oversized, Err(SyncError::Protocol(_))));
        let mut stream = inbound(vec![Events(events(EVENTS_PER_MESSAGE_MAX + 1, 1))]);
        let later = with_received_batches(events(1, 1), &mut stream, &mut following);
        assert!(matches!(later, Err(SyncError::Protocol(_))));
    }
}
