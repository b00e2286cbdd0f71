//! The single writer: owns every write to the store, the heads of every log held, the
//! enrollment state, and the local log's authoring; group-commits concurrent work (one
//! fsync for many events).
//!
//! Jobs arrive on a bounded channel: local appends (drafts to sign) and ingests (events
//! received from peers, already verified). The writer thread takes the first waiting
//! job, drains whatever else is queued (up to `EVENTS_PER_COMMIT_MAX` events), decides
//! each event in arrival order, writes the whole group in one synced `WriteBatch`, and
//! only then answers each job and announces the new ingest position. A rebuild of the
//! projection (`rollcall rebuild`) comes on the same channel and runs between groups.
//! When several clients append one event at a time, a group waits up to 100 µs (plus
//! the kernel's timer slack) for the clients of the last group to come back
//! ([`CommitDelay`]), so one fsync carries all of them; a lone writer, a group holding
//! received events and a group of 64 events or more never wait.
//!
//! Deciding an event received from a peer, in order: already held with the same hash
//! (duplicate, idempotent); held with another hash at the same seq (equivocation: a
//! proof event is appended and the replica quarantined); not authorised
//! ([`Authority::check`]); not the next of its chain; otherwise accepted, and its effect
//! on enrollment applied at once so later events of the same group can rely on it.
//!
//! Invariants:
//! - Only this thread writes events, so its heads are the stored heads plus the group in
//!   progress; if a write fails it restores heads, authority, local writer and
//!   projection from before the group and fails every job of it.
//! - A local append's drafts are committed atomically and consecutively, and checked
//!   against the authority before they are signed.
//! - An invalid draft fails its job alone; a refused received event never stops the
//!   rest of its batch.
//! - Local drafts are judged by the audit rules ([`rules::check`]) against the
//!   projection, with the job's earlier drafts and the group's earlier appends applied:
//!   local events are applied as they are planned, and a job that fails (or a group
//!   whose write fails) is undone in reverse. Received events are applied once the
//!   group is durable, with nothing kept to undo them (that copy was most of the cost
//!   of applying). Either way, once a group is finished the projection holds no event
//!   the store does not (while a group is planned, written and synced, queries may see
//!   its local events, which are taken back if the write fails), and it is up to date
//!   before the new ingest position is announced.
//! - What a group changes in the heads, the authority and the equivocation proofs held
//!   back while recovering is recorded as it goes ([`GroupRollback`]), not copied whole
//!   per group.
//! - Projection snapshots ([`crate::snapshot`]) are taken on this thread between groups,
//!   when the projection equals the store up to the last ingest position: every
//!   [`SnapshotSchedule::every_events`] events (at most once per
//!   [`SnapshotSchedule::min_interval`]) and when the job channel closes (a clean stop;
//!   if there is no usable snapshot or [`SnapshotSchedule::stop_min_events`] came since).
//!   Queries keep reading meanwhile; writes wait.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use rollcall_core::audit::member::Stamp;
use rollcall_core::audit::projection::Undo;
use rollcall_core::audit::rules::{self, AuthorContext, RuleViolation};
use rollcall_core::authority::{Authority, AuthorityError};
use rollcall_core::body::Body;
use rollcall_core::limits::EVENTS_PER_COMMIT_MAX;
use rollcall_core::log::{Draft, DraftError, Head, LocalWriter, PreparedEvent};
use rollcall_core::sync::{Admission, admit};
use rollcall_core::{EventHash, EventId, EventKind, HlcTime, ReplicaId, Seq, UnitPath, VerifiedEvent, codec, proto};
use tokio::sync::{mpsc, oneshot, watch};

use crate::projection::SharedProjection;
use crate::store::{Store, StoreError};

/// Depth of the job queue: back-pressure for callers beyond it.
pub const JOB_QUEUE_DEPTH: usize = 1024;

/// A group's first events up to this many are signed as they are planned, while the
/// writer waits for the group's other clients ([`CommitDelay`]); more are signed once
/// the group is complete, on every core when there are enough (signing a large job as
/// it arrives would leave the other core idle).
const SIGNED_AS_PLANNED_MAX: usize = 16;

/// Below this many events a group is signed on the writer thread alone; spawning
/// signing threads costs more than it saves.
const PARALLEL_SIGNING_MIN: usize = 64;

/// What an acknowledged append returns for each event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Position in the local log.
    pub seq: Seq,
    /// The event's id.
    pub event_id: EventId,
    /// The event's hash.
    pub hash: EventHash,
}

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Draft number `index` of the request is invalid; nothing of the request was written.
    #[error("{}{error}", which_draft(*index, *of))]
    InvalidDraft {
        /// Position of the draft in the request.
        index: usize,
        /// Drafts in the request.
        of: usize,
        /// What is wrong.
        error: DraftError,
    },
    /// Draft number `index` is not authorised for this node; nothing was written.
    #[error("{}{error}", which_draft(*index, *of))]
    NotAuthorised {
        /// Position of the draft in the request.
        index: usize,
        /// Drafts in the request.
        of: usize,
        /// The rule that refuses it.
        error: AuthorityError,
    },
    /// Draft number `index` breaks a rule of the audit; nothing was written.
    #[error("{}{violation}", which_draft(*index, *of))]
    RuleViolated {
        /// Position of the draft in the request.
        index: usize,
        /// Drafts in the request.
        of: usize,
        /// The rule and what is missing.
        violation: RuleViolation,
    },
    /// The store failed; nothing of the request was written. The detail is logged by
    /// the writer; callers get its text.
    #[error("store failed: {0}")]
    StoreFailed(String),
    /// The writer has stopped (the node is shutting down).
    #[error("the writer has stopped")]
    Stopped,
    /// Some of the append's draft ids are recorded and others not: not a retry of one
    /// append (an append is all or nothing).
    #[error("{recorded} of the {drafts} draft ids are recorded already: not a retry of one append")]
    PartlyRecorded {
        /// Ids held.
        recorded: usize,
        /// Ids in the request.
        drafts: usize,
    },
    /// Two drafts of one append carry the same id.
    #[error("two drafts of this append carry the same draft id")]
    RepeatedDraftId,
    /// The same draft id is being written by another request right now.
    #[error("a draft with this id is being recorded by another request; retry")]
    InFlight,
    /// The node is recovering its own log after a restore and signs nothing until its
    /// peers have sent back what it signed before ([`rollcall_core::recovery`]).
    #[error(
        "this node is recovering its own log after a restore: it records nothing until its parent and children have sent back what it signed before (rollcall status shows whom it waits for)"
    )]
    Recovering,
}

/// "draft 3 of 7: " when a request carried several drafts; nothing for a single one
/// (a person recorded one thing and is told what is wrong with it).
fn which_draft(index: usize, of: usize) -> String {
    if of > 1 { format!("draft {} of {of}: ", index + 1) } else { String::new() }
}

/// The Chinese of [`which_draft`]: "第3条（共7条）：".
fn which_draft_zh(index: usize, of: usize) -> String {
    if of > 1 { format!("第{}条（共{of}条）：", index + 1) } else { String::new() }
}

impl AppendError {
    /// The refusal in Chinese, when it is one a person can act on (a rule or authority).
    pub fn message_zh(&self) -> Option<String> {
        match self {
            AppendError::RuleViolated { index, of, violation } => {
                Some(format!("{}{}", which_draft_zh(*index, *of), violation.message_zh()))
            }
            AppendError::NotAuthorised { index, of, error } => {
                Some(format!("{}{}", which_draft_zh(*index, *of), error.message_zh()))
            }
            AppendError::Recovering => Some(
                "本节点正在恢复后找回自己的日志：在上级和下级节点送回它此前签署的全部事件之前，不记录任何事件（rollcall status 显示正在等待哪些节点）"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

/// A received event the writer refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Its replica.
    pub replica: ReplicaId,
    /// Its seq.
    pub seq: Seq,
    /// The rule that refused it.
    pub reason: String,
}

/// What became of a batch of received events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Events newly stored.
    pub accepted: u32,
    /// Events already held (same hash).
    pub duplicates: u32,
    /// Refused events.
    pub rejections: Vec<Rejection>,
    /// Replicas found equivocating in this batch (a proof was appended for each).
    pub equivocations: Vec<ReplicaId>,
    /// The heads, after the batch, of every replica the batch touched.
    pub heads: Vec<(ReplicaId, Head)>,
}

enum Job {
    Append {
        drafts: Vec<Draft>,
        /// Client-chosen ids of the drafts (all or none), for idempotent retries.
        draft_ids: Option<Vec<[u8; 16]>>,
        reply: oneshot::Sender<Result<Vec<Appended>, AppendError>>,
    },
    Ingest {
        events: Vec<VerifiedEvent>,
        reply: oneshot::Sender<Result<IngestOutcome, AppendError>>,
    },
    /// Equivocation proofs held back while the node recovered: (first, second) as stubs.
    Proofs {
        pairs: Vec<(VerifiedEvent, VerifiedEvent)>,
    },
}

/// What the writer thread is asked: work that goes into a group, or a rebuild of the
/// projection, which runs between groups (never inside one).
enum Request {
    Job(Job),
    Rebuild {
        reply: oneshot::Sender<Result<rollcall_proto::v1::RebuildResponse, AppendError>>,
    },
    /// The node has its own log back ([`rollcall_core::recovery`]): it may sign again.
    EndRecovery {
        reply: oneshot::Sender<()>,
    },
}

impl Job {
    fn n_events(&self) -> usize {
        match self {
            Job::Append { drafts, .. } => drafts.len(),
            Job::Ingest { events, .. } => events.len(),
            Job::Proofs { pairs } => pairs.len(),
        }
    }
}

/// A handle for writing to the store. Cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    jobs: mpsc::Sender<Request>,
    /// The writer thread, woken after each request in case it waits for more
    /// ([`CommitDelay`]).
    writer_thread: thread::Thread,
    groups_written: Arc<AtomicU64>,
    replica: ReplicaId,
    ingest_position: watch::Receiver<u64>,
    recovering: watch::Receiver<bool>,
}

impl WriterHandle {
    /// Appends `drafts` to the local log atomically and waits until they are durable.
    ///
    /// # Errors
    ///
    /// [`AppendError`]; on any error nothing of the request was written.
    pub async fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, AppendError> {
        self.append_idempotent(drafts, None).await
    }

    /// [`WriterHandle::append`] with a client-chosen id per draft: when every id is
    /// already held, nothing is written and the events they became are returned, so a
    /// retry after an ambiguous failure never records anything twice. The ids are kept
    /// durably with the events, in the same write.
    ///
    /// # Errors
    ///
    /// As [`WriterHandle::append`]; [`AppendError::PartlyRecorded`] when some ids are
    /// held and others not (an append is atomic, so a true retry is all or nothing).
    pub async fn append_idempotent(
        &self,
        drafts: Vec<Draft>,
        draft_ids: Option<Vec<[u8; 16]>>,
    ) -> Result<Vec<Appended>, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.request(Request::Job(Job::Append { drafts, draft_ids, reply })).await?;
        answer.await.map_err(|_| AppendError::Stopped)?
    }

    /// Appends from a thread that is not a tokio worker (benchmarks, blocking code).
    ///
    /// # Errors
    ///
    /// As [`WriterHandle::append`].
    pub fn append_blocking(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .blocking_send(Request::Job(Job::Append { drafts, draft_ids: None, reply }))
            .map_err(|_| AppendError::Stopped)?;
        self.writer_thread.unpark(); // As `request` does.
        answer.blocking_recv().map_err(|_| AppendError::Stopped)?
    }

    /// Stores events received from a peer (already verified), deciding each in order,
    /// and waits until the accepted ones are durable.
    ///
    /// # Errors
    ///
    /// [`AppendError::StoreFailed`] or [`AppendError::Stopped`]; refusals of single
    /// events are in the outcome, not errors.
    pub async fn ingest(&self, events: Vec<VerifiedEvent>) -> Result<IngestOutcome, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.request(Request::Job(Job::Ingest { events, reply })).await?;
        answer.await.map_err(|_| AppendError::Stopped)?
    }

    /// Groups written since the writer started, each one synced RocksDB write: the
    /// events stored divided by this is the events an fsync carried.
    pub fn groups_written(&self) -> u64 {
        self.groups_written.load(Ordering::Relaxed)
    }

    /// Queues `request` and wakes the writer thread, in case it waits for more
    /// ([`CommitDelay`]).
    async fn request(&self, request: Request) -> Result<(), AppendError> {
        self.jobs.send(request).await.map_err(|_| AppendError::Stopped)?;
        self.writer_thread.unpark();
        Ok(())
    }

    /// The local replica.
    pub fn replica(&self) -> ReplicaId {
        self.replica
    }

    /// Rebuilds the projection from the store on the writer thread, between two groups
    /// (so no group is half applied while the store is read), installs it, and says
    /// whether it differed from the incremental one.
    ///
    /// # Errors
    ///
    /// [`AppendError::StoreFailed`] on a read failure (the projection is then left as
    /// it was), [`AppendError::Stopped`].
    pub async fn rebuild(&self) -> Result<rollcall_proto::v1::RebuildResponse, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.request(Request::Rebuild { reply }).await?;
        answer.await.map_err(|_| AppendError::Stopped)?
    }

    /// Watches the last ingest position written (changes after every durable group).
    pub fn ingest_position(&self) -> watch::Receiver<u64> {
        self.ingest_position.clone()
    }

    /// Watches whether the node is recovering its own log: while it is, the writer
    /// refuses every local event ([`AppendError::Recovering`]) and signs no finding or
    /// proof of its own; sessions append no receipts.
    pub fn recovering(&self) -> watch::Receiver<bool> {
        self.recovering.clone()
    }

    /// Ends the recovery: removes its marker, lets the writer sign again, and records the
    /// findings it held back. Returns once the writer has done so (at once when the
    /// node was not recovering).
    ///
    /// # Errors
    ///
    /// [`AppendError::Stopped`].
    pub async fn end_recovery(&self) -> Result<(), AppendError> {
        if !*self.recovering.borrow() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.request(Request::EndRecovery { reply }).await?;
        answer.await.map_err(|_| AppendError::Stopped)
    }
}

/// Starts the writer thread for the local replica of `key` over `store`, sharing
/// `authority` (which it alone mutates). The thread ends when every handle is dropped.
///
/// # Errors
///
/// [`StoreError`] if the heads cannot be read.
pub fn start(
    store: Store,
    key: SigningKey,
    local_unit: UnitPath,
    authority: Arc<RwLock<Authority>>,
    projection: SharedProjection,
    snapshots: Option<SnapshotSchedule>,
) -> Result<(WriterHandle, thread::JoinHandle<()>), StoreError> {
    start_recovering(store, key, local_unit, authority, projection, snapshots, None)
}

/// [`start`], for a node that is recovering its own log when `recovery_marker` names
/// the file that says so: the writer signs nothing until [`WriterHandle::end_recovery`],
/// which removes the file.
///
/// # Errors
///
/// As [`start`].
pub fn start_recovering(
    store: Store,
    key: SigningKey,
    local_unit: UnitPath,
    authority: Arc<RwLock<Authority>>,
    projection: SharedProjection,
    snapshots: Option<SnapshotSchedule>,
    recovery_marker: Option<PathBuf>,
) -> Result<(WriterHandle, thread::JoinHandle<()>), StoreError> {
    let replica = ReplicaId(key.verifying_key().to_bytes());
    store.claim_local_replica(replica)?;
    let mut heads = HashMap::new();
    let mut local_last_time = HlcTime::default();
    for stored in store.heads()? {
        // The clock starts after every event held, not only the local ones: an event
        // authored here after seeing another must order after it (a laptop whose clock
        // is behind still votes after the pre-review it received).
        if stored.replica == replica
            || stored.last_time.wall_ms <= now_ms() + rollcall_core::limits::CLOCK_AHEAD_OBSERVED_MAX_MS
        {
            local_last_time = local_last_time.max(stored.last_time);
        }
        heads.insert(stored.replica, stored.head);
    }
    let local = LocalWriter::new(replica, heads.get(&replica).copied().unwrap_or(Head::EMPTY), local_last_time);
    let position = store.last_ingest_position()?;
    let (position_sender, position_receiver) = watch::channel(position);
    let (jobs, receiver) = mpsc::channel(JOB_QUEUE_DEPTH);
    let (recovering_sender, recovering_receiver) = watch::channel(recovery_marker.is_some());
    let groups_written = Arc::new(AtomicU64::new(0));
    let state = WriterThread {
        store,
        groups_written: groups_written.clone(),
        commit_delay: CommitDelay::default(),
        key: Arc::new(key),
        local_unit,
        local,
        heads,
        authority,
        projection,
        next_ingest_position: position + 1,
        position_sender,
        rollback: GroupRollback::default(),
        snapshots,
        recovery_marker,
        recovering_sender,
        deferred_proofs: Vec::new(),
    };
    let join = thread::Builder::new()
        .name("rollcall-writer".into())
        .spawn(move || state.run(receiver))
        .expect("spawning the writer thread");
    Ok((
        WriterHandle {
            jobs,
            writer_thread: join.thread().clone(),
            groups_written,
            replica,
            ingest_position: position_receiver,
            recovering: recovering_receiver,
        },
        join,
    ))
}

/// Starts a writer for a replica that is itself the root of a province at `root_unit`:
/// for a lone province node, tests and benchmarks.
///
/// # Errors
///
/// As [`start`].
pub fn start_as_root(
    store: Store,
    key: SigningKey,
    root_unit: UnitPath,
) -> Result<(WriterHandle, thread::JoinHandle<()>), StoreError> {
    let authority = Authority::new(ReplicaId(key.verifying_key().to_bytes()), root_unit.clone());
    let (projection, _) = crate::projection::rebuild(&store, &authority, Some(&root_unit))?;
    start(store, key, root_unit, Arc::new(RwLock::new(authority)), Arc::new(RwLock::new(projection)), None)
}

/// When the writer thread snapshots the projection ([`crate::snapshot`]).
#[derive(Clone, Debug)]
pub struct SnapshotSchedule {
    /// The snapshot file.
    pub path: PathBuf,
    /// A snapshot is due once this many events were ingested since the last one
    /// (0: only at a clean stop).
    pub every_events: u64,
    /// ... and at least this long after the last one, so a long catch-up is not slowed
    /// by snapshots it would soon replace.
    pub min_interval: Duration,
    /// At a clean stop, a snapshot is written when there is none usable, or when at
    /// least this many events came since the one on disk (0 or 1: whenever any did).
    pub stop_min_events: u64,
    /// The ingest position of the usable snapshot on disk, if any.
    pub on_disk: Option<u64>,
    /// When the last snapshot was attempted (this run).
    last_attempt: Option<Instant>,
}

impl SnapshotSchedule {
    /// Events between periodic snapshots by default: at the province's sustained ingest
    /// rate a crash then replays at most a few seconds of the log.
    pub const EVERY_EVENTS: u64 = 1_000_000;
    /// The shortest time between periodic snapshots by default.
    pub const MIN_INTERVAL: Duration = Duration::from_secs(600);
    /// Events since the snapshot on disk for a clean stop to write a new one, by
    /// default: replaying fewer at the next start takes about a second.
    pub const STOP_MIN_EVENTS: u64 = 100_000;

    /// The default schedule for the snapshot at `path`, usable at `on_disk`.
    pub fn new(path: PathBuf, on_disk: Option<u64>) -> SnapshotSchedule {
        SnapshotSchedule {
            path,
            every_events: Self::EVERY_EVENTS,
            min_interval: Self::MIN_INTERVAL,
            stop_min_events: Self::STOP_MIN_EVENTS,
            on_disk,
            last_attempt: None,
        }
    }
}

struct WriterThread {
    store: Store,
    groups_written: Arc<AtomicU64>,
    commit_delay: CommitDelay,
    key: Arc<SigningKey>,
    local_unit: UnitPath,
    local: LocalWriter,
    heads: HashMap<ReplicaId, Head>,
    authority: Arc<RwLock<Authority>>,
    projection: SharedProjection,
    next_ingest_position: u64,
    position_sender: watch::Sender<u64>,
    rollback: GroupRollback,
    snapshots: Option<SnapshotSchedule>,
    /// While the node recovers its own log, the file that says so; `None` otherwise.
    recovery_marker: Option<PathBuf>,
    recovering_sender: watch::Sender<bool>,
    /// Equivocations caught while recovering, whose proofs wait for its end.
    deferred_proofs: Vec<(VerifiedEvent, VerifiedEvent)>,
}

/// What the group being gathered holds so far.
#[derive(Default)]
struct Gathering {
    n_events: usize,
    n_appends: usize,
    /// Jobs other than local appends (ingests, proofs): such a group never waits.
    n_others: usize,
}

impl Gathering {
    fn count(&mut self, job: &Job) {
        self.n_events += job.n_events();
        match job {
            Job::Append { .. } => self.n_appends += 1,
            Job::Ingest { .. } | Job::Proofs { .. } => self.n_others += 1,
        }
    }
}

/// A group being planned: its events (signed or to sign), each job's share of them, how
/// to undo what planning applied, and the state to restore if its write fails.
struct GroupInProgress {
    local_before: LocalWriter,
    now_ms: u64,
    pending: Vec<Pending>,
    planned: Vec<Planned>,
    undos: Vec<Undo>,
    draft_ids: Vec<([u8; 16], usize)>,
}

/// Group commit's brief wait for the writers seen lately (PostgreSQL's `commit_delay`,
/// made adaptive). With several clients each waiting for its own append, the groups
/// otherwise settle into two cohorts, one syncing while the other queues, and each
/// fsync carries half of them; waiting up to [`CommitDelay::MAX_WAIT`] for the rest
/// lets one fsync carry them all.
///
/// It never delays a lone writer: the number of writers expected is the last group's
/// appends plus the requests that queued while it was written and synced (which can
/// only come from other clients: the group's own wait for their answers), so one writer
/// expects one; and a group whose first request came after the writer had been idle
/// longer than [`CommitDelay::IDLE_FORGETS`] expects nobody (the clients seen before
/// are gone). A wait that reaches its deadline having gathered nothing (clients too slow to
/// come back in time) turns the delay off for [`CommitDelay::OFF_AFTER_IDLE_WAIT`]
/// groups. Groups holding received events, and groups of [`CommitDelay::EVENTS_MAX`]
/// events or more, never wait.
#[derive(Default)]
struct CommitDelay {
    expected_appends: usize,
    off_for_groups: u32,
    /// The group's appends when its first wait began.
    appends_before_wait: Option<usize>,
    deadline: Option<Instant>,
    /// The group's wait reached its deadline.
    timed_out: bool,
}

impl CommitDelay {
    /// The longest a group waits: below this disk's fsync (about 150 µs), long enough
    /// for the last group's clients to come back with their next append. The park may
    /// overshoot by the kernel's timer slack (50 µs by default).
    const MAX_WAIT: Duration = Duration::from_micros(100);
    const OFF_AFTER_IDLE_WAIT: u32 = 64;
    /// An idle spell after which the writers seen before are forgotten: longer than a
    /// group's whole cycle (about 0.5 ms here), so clients in a burst, which come back
    /// within tens of µs of their answer, are never forgotten between two groups.
    const IDLE_FORGETS: Duration = Duration::from_millis(1);
    /// A group this large never waits: signing it (about 14 µs an event) already costs
    /// more than its fsync, so the writer would idle while the clients prepare their
    /// next appends (8 clients of 32 events each were 19% slower with the wait).
    const EVENTS_MAX: usize = PARALLEL_SIGNING_MIN;

    /// A group begins with a request that came after the writer had been idle for
    /// `idle`: after longer than [`CommitDelay::IDLE_FORGETS`], the writers seen before
    /// are not expected.
    fn begin(&mut self, idle: Duration) {
        if idle > Self::IDLE_FORGETS {
            self.expected_appends = 0;
        }
    }

    /// How long to park before looking for more jobs, or `None` to commit now.
    fn wait_for(&mut self, gathering: &Gathering) -> Option<Duration> {
        if self.off_for_groups > 0
            || gathering.n_others > 0
            || gathering.n_appends >= self.expected_appends
            || gathering.n_events >= Self::EVENTS_MAX
        {
            return None;
        }
        let now = Instant::now();
        let deadline = *self.deadline.get_or_insert(now + Self::MAX_WAIT);
        self.appends_before_wait.get_or_insert(gathering.n_appends);
        let left = deadline.checked_duration_since(now).filter(|left| !left.is_zero());
        self.timed_out = left.is_none();
        left
    }

    /// Ends the gathering of a group: a wait that reached its deadline having gathered
    /// nothing turns the delay off for a while (one cut short by another request, or by
    /// the channel closing, does not).
    fn gathered(&mut self, gathering: &Gathering) {
        self.off_for_groups = self.off_for_groups.saturating_sub(1);
        let before = self.appends_before_wait.take();
        if self.timed_out && before == Some(gathering.n_appends) {
            self.off_for_groups = Self::OFF_AFTER_IDLE_WAIT;
        }
        self.deadline = None;
        self.timed_out = false;
    }

    /// After a group's write: it held `n_appends`, and `queued_meanwhile` requests
    /// came while it was written.
    fn committed(&mut self, n_appends: usize, queued_meanwhile: usize) {
        self.expected_appends = n_appends + queued_meanwhile;
    }
}

/// What a group changed in the writer's own state, to put back if its write fails.
/// Recorded as the group goes (a head's first value, the authority before its first
/// change) rather than by copying every head and enrollment per group: at a province
/// that is tens of thousands of entries for each fsync.
#[derive(Default)]
struct GroupRollback {
    heads_before: HashMap<ReplicaId, Option<Head>>,
    authority_before: Option<Authority>,
    /// How many equivocation proofs were held back before the group (a retried ingest
    /// finds the same equivocation again and must not hold its proof twice).
    deferred_proofs_before: usize,
}

/// One job's share of a group: where its events sit in the group's event list.
enum Planned {
    Append { reply: oneshot::Sender<Result<Vec<Appended>, AppendError>>, range: std::ops::Range<usize> },
    Ingest { reply: oneshot::Sender<Result<IngestOutcome, AppendError>>, outcome: IngestOutcome },
}

/// An event of the group: signed already (received) or to be signed (local).
enum Pending {
    Received(VerifiedEvent),
    /// A local event judged by the rules and applied to the projection as it was planned.
    Local(PreparedEvent),
    /// The same, signed already: a small group signs each local event as it is planned,
    /// while the writer waits for the group's other jobs.
    SignedLocal(VerifiedEvent),
    /// A local equivocation proof: not judged by the audit rules (it records a fact about
    /// the authority), applied to the projection once durable, like a received event.
    Proof(PreparedEvent),
}

impl Pending {
    /// Whether the event reaches the projection after its write rather than when planned.
    fn applied_after_write(&self) -> bool {
        matches!(self, Pending::Received(_) | Pending::Proof(_))
    }

    fn sign(self, key: &SigningKey) -> VerifiedEvent {
        match self {
            Pending::Received(event) | Pending::SignedLocal(event) => event,
            Pending::Local(prepared) | Pending::Proof(prepared) => prepared.sign(key),
        }
    }
}

impl WriterThread {
    fn run(mut self, mut receiver: mpsc::Receiver<Request>) {
        // Findings the node owes from before a restart (or from a crash between storing
        // the second registration and recording the finding).
        self.report_duplicates(None);
        loop {
            let idle_since = Instant::now();
            let first = match receiver.try_recv() {
                Ok(request) => request,
                Err(mpsc::error::TryRecvError::Empty) => match receiver.blocking_recv() {
                    Some(request) => request,
                    None => break,
                },
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            };
            let idle = idle_since.elapsed();
            let first = match first {
                Request::Job(job) => job,
                between => {
                    self.between_groups(between);
                    continue;
                }
            };
            let mut gathering = Gathering::default();
            self.commit_delay.begin(idle);
            let mut group = self.begin_group();
            gathering.count(&first);
            self.plan_job(&mut group, first);
            // A request that must run between two groups ends the group it arrives in.
            let mut after_group = None;
            while gathering.n_events < EVENTS_PER_COMMIT_MAX {
                match receiver.try_recv() {
                    Ok(Request::Job(job)) => {
                        gathering.count(&job);
                        self.plan_job(&mut group, job);
                    }
                    Ok(between) => {
                        after_group = Some(between);
                        break;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => {
                        // Wait briefly for the other writers seen lately, so they
                        // share this group's fsync instead of waiting for the next.
                        let Some(wait) = self.commit_delay.wait_for(&gathering) else { break };
                        thread::park_timeout(wait);
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            }
            self.commit_delay.gathered(&gathering);
            let queued_meanwhile = self.finish_group(group, Some(&receiver));
            self.commit_delay.committed(gathering.n_appends, queued_meanwhile);
            if let Some(between) = after_group {
                self.between_groups(between);
            }
            self.snapshot_if_due(false);
        }
        self.snapshot_if_due(true);
        // Everything is durable in the WAL already; flushing it into the files now
        // spares the next open from replaying it.
        if let Err(error) = self.store.flush_all() {
            tracing::warn!(%error, "flushing the store at stop failed; the next open replays its log");
        }
    }

    /// Runs a request that is not part of a group: a rebuild, the end of a recovery.
    fn between_groups(&mut self, request: Request) {
        match request {
            Request::Rebuild { reply } => self.rebuild(reply),
            Request::EndRecovery { reply } => {
                self.end_recovery();
                let _ = reply.send(());
            }
            // Never sent here (the loop groups jobs), but a job is a group of its own.
            Request::Job(job) => {
                self.commit_group(vec![job], None);
            }
        }
    }

    /// The node has its own log back: it may sign again. The marker goes first, so a
    /// crash after it cannot leave a node that signs but restarts recovering; then the
    /// findings held back are recorded.
    fn end_recovery(&mut self) {
        let Some(marker) = self.recovery_marker.take() else { return };
        if let Err(error) = std::fs::remove_file(&marker)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!(%error, marker = %marker.display(), "could not remove the recovery marker; the node goes on recovering");
            self.recovery_marker = Some(marker);
            return;
        }
        self.recovering_sender.send_replace(false);
        tracing::info!(
            head = self.local.head().seq.0,
            "recovery ended: this node signs again, after seq {}",
            self.local.head().seq.0
        );
        let pairs = std::mem::take(&mut self.deferred_proofs);
        if !pairs.is_empty() {
            let (n_proofs, head_before) = (pairs.len(), self.local.head().seq);
            self.commit_group(vec![Job::Proofs { pairs }], None);
            if self.local.head().seq == head_before {
                tracing::error!(
                    n_proofs,
                    "the equivocation proofs held back while recovering were not written: the replicas stay quarantined here until the node restarts"
                );
            }
        }
        self.report_duplicates(None);
    }

    /// Rebuilds the projection from the store and installs it (no group is in flight).
    fn rebuild(&mut self, reply: oneshot::Sender<Result<rollcall_proto::v1::RebuildResponse, AppendError>>) {
        let result = crate::projection::rebuild_and_compare(&self.store, &self.authority, &self.projection)
            .map_err(|error| AppendError::StoreFailed(error.to_string()));
        let _ = reply.send(result);
    }

    /// Writes a projection snapshot when one is due (`stopping`: whenever the one on
    /// disk is not at the last position). A failure is logged: the snapshot is a cache.
    fn snapshot_if_due(&mut self, stopping: bool) {
        let position = self.next_ingest_position - 1;
        let Some(schedule) = self.snapshots.as_mut() else { return };
        let due = if stopping {
            // Without a usable snapshot, always; else only once enough events came since
            // (a command on a stopped province adds a few; rewriting 1.4 GB for them
            // would cost more than replaying them at the next start).
            position > 0
                && schedule.on_disk.is_none_or(|on_disk| {
                    on_disk != position && position.saturating_sub(on_disk) >= schedule.stop_min_events
                })
        } else {
            let since_events = position.saturating_sub(schedule.on_disk.unwrap_or(0));
            schedule.every_events > 0
                && since_events >= schedule.every_events
                && schedule.last_attempt.is_none_or(|last| last.elapsed() >= schedule.min_interval)
        };
        if !due {
            return;
        }
        let projection = self.projection.read().expect("the projection lock is never poisoned");
        match crate::snapshot::write(&schedule.path, &projection, &self.store, position) {
            Ok(written) => {
                tracing::info!(
                    position,
                    members = written.members,
                    bytes = written.bytes,
                    millis = written.millis,
                    stopping,
                    "projection snapshot written"
                );
                schedule.on_disk = Some(position);
            }
            Err(error) => {
                tracing::warn!(%error, "projection snapshot not written; the next start replays more of the log");
            }
        }
        schedule.last_attempt = Some(Instant::now());
    }

    fn authority(&self) -> std::sync::RwLockReadGuard<'_, Authority> {
        self.authority.read().expect("the authority lock is never poisoned: its holders do not panic")
    }

    /// Sets a replica's head, remembering its value before the group.
    fn set_head(&mut self, replica: ReplicaId, head: Head) {
        let before = self.heads.insert(replica, head);
        self.rollback.heads_before.entry(replica).or_insert(before);
    }

    /// Call before anything in the group changes the authority.
    fn keep_authority_before_group(&mut self) {
        if self.rollback.authority_before.is_none() {
            let before = self.authority().clone();
            self.rollback.authority_before = Some(before);
        }
    }

    /// Plans, signs, writes and answers one group. Returns how many requests were
    /// queued on `queue` once the write had finished, before any answer was sent.
    fn commit_group(&mut self, jobs: Vec<Job>, queue: Option<&mpsc::Receiver<Request>>) -> usize {
        let mut group = self.begin_group();
        for job in jobs {
            self.plan_job(&mut group, job);
        }
        self.finish_group(group, queue)
    }

    fn begin_group(&mut self) -> GroupInProgress {
        self.rollback =
            GroupRollback { deferred_proofs_before: self.deferred_proofs.len(), ..GroupRollback::default() };
        GroupInProgress {
            local_before: self.local.clone(),
            now_ms: now_ms(),
            pending: Vec::new(),
            planned: Vec::new(),
            undos: Vec::new(),
            draft_ids: Vec::new(),
        }
    }

    /// Plans one job into the group: decides its events, applies local ones to the
    /// projection, and signs them while the group is small ([`SIGNED_AS_PLANNED_MAX`]).
    /// A job refused as a whole is answered at once.
    fn plan_job(&mut self, group: &mut GroupInProgress, job: Job) {
        let now_ms = group.now_ms;
        match job {
            Job::Append { drafts, draft_ids, reply } => {
                match self.recorded_drafts(draft_ids.as_deref(), &group.draft_ids) {
                    Ok(Some(appended)) => {
                        let _ = reply.send(Ok(appended));
                        return;
                    }
                    Ok(None) => {}
                    Err(error) => {
                        let _ = reply.send(Err(error));
                        return;
                    }
                }
                if self.recovery_marker.is_some() {
                    let _ = reply.send(Err(AppendError::Recovering));
                    return;
                }
                match self.plan_append(now_ms, drafts, &mut group.undos) {
                    Ok(events) => {
                        let start = group.pending.len();
                        let sign_now = start + events.len() <= SIGNED_AS_PLANNED_MAX;
                        group.pending.extend(events.into_iter().map(|event| {
                            if sign_now { Pending::SignedLocal(event.sign(&self.key)) } else { Pending::Local(event) }
                        }));
                        for (offset, id) in draft_ids.into_iter().flatten().enumerate() {
                            group.draft_ids.push((id, start + offset));
                        }
                        group.planned.push(Planned::Append { reply, range: start..group.pending.len() });
                    }
                    Err(error) => {
                        let _ = reply.send(Err(error));
                    }
                }
            }
            Job::Ingest { events, reply } => {
                let outcome = self.plan_ingest(now_ms, events, &mut group.pending);
                group.planned.push(Planned::Ingest { reply, outcome });
            }
            Job::Proofs { pairs } => {
                for (first, second) in pairs {
                    group.pending.extend(self.prepare_proof(now_ms, &first, &second).map(Pending::Proof));
                }
            }
        }
    }

    /// Signs what is left to sign, writes the group in one synced batch, then answers
    /// its jobs, or, if the write failed, puts everything back as before the group and
    /// fails them. Returns how many requests were queued on `queue` once the write had
    /// finished, before any answer was sent.
    fn finish_group(&mut self, group: GroupInProgress, queue: Option<&mpsc::Receiver<Request>>) -> usize {
        let GroupInProgress { local_before, now_ms: _, pending, planned, undos, draft_ids: group_draft_ids } = group;
        let after_write: Vec<bool> = pending.iter().map(Pending::applied_after_write).collect();
        let events = sign_all(&self.key, pending);
        let draft_ids: Vec<([u8; 16], Seq)> =
            group_draft_ids.iter().map(|(id, index)| (*id, events[*index].seq())).collect();
        let written = if events.is_empty() {
            Ok(())
        } else {
            let written = self.store.write_events_with_drafts(&events, self.next_ingest_position, &draft_ids);
            if written.is_ok() {
                self.groups_written.fetch_add(1, Ordering::Relaxed);
            }
            written
        };
        let queued_meanwhile = queue.map_or(0, mpsc::Receiver::len);
        match written {
            Ok(()) => {
                let registered = self.apply_after_write(
                    events.iter().zip(&after_write).filter(|(_, after_write)| **after_write).map(|(e, _)| e),
                );
                self.next_ingest_position += events.len() as u64;
                self.position_sender.send_replace(self.next_ingest_position - 1);
                for plan in planned {
                    match plan {
                        Planned::Append { reply, range } => {
                            let appended = events[range]
                                .iter()
                                .map(|event| Appended {
                                    seq: event.seq(),
                                    event_id: event.header().event_id,
                                    hash: event.hash(),
                                })
                                .collect();
                            let _ = reply.send(Ok(appended));
                        }
                        Planned::Ingest { reply, outcome } => {
                            let _ = reply.send(Ok(outcome));
                        }
                    }
                }
                if !registered.is_empty() {
                    self.report_duplicates(Some(&registered));
                }
            }
            Err(error) => {
                tracing::error!(%error, n_events = events.len(), "write group failed; nothing of it was written");
                self.local = local_before;
                let rollback = std::mem::take(&mut self.rollback);
                for (replica, before) in rollback.heads_before {
                    match before {
                        Some(head) => self.heads.insert(replica, head),
                        None => self.heads.remove(&replica),
                    };
                }
                if let Some(authority) = rollback.authority_before {
                    *self.authority.write().expect("never poisoned") = authority;
                }
                self.deferred_proofs.truncate(rollback.deferred_proofs_before);
                self.undo(undos);
                let message = error.to_string();
                for plan in planned {
                    match plan {
                        Planned::Append { reply, .. } => {
                            let _ = reply.send(Err(AppendError::StoreFailed(message.clone())));
                        }
                        Planned::Ingest { reply, .. } => {
                            let _ = reply.send(Err(AppendError::StoreFailed(message.clone())));
                        }
                    }
                }
            }
        }
        queued_meanwhile
    }

    /// Prepares a local append: every draft valid and authorised, or none is kept.
    fn plan_append(
        &mut self,
        now_ms: u64,
        drafts: Vec<Draft>,
        group_undos: &mut Vec<Undo>,
    ) -> Result<Vec<PreparedEvent>, AppendError> {
        let local_before = self.local.clone();
        let has_effects =
            drafts.iter().any(|draft| matches!(draft.kind, EventKind::ReplicaEnrolled | EventKind::ReplicaRevoked));
        if has_effects {
            self.keep_authority_before_group();
        }
        let authority_before = has_effects.then(|| self.authority().clone());
        let mut prepared = Vec::with_capacity(drafts.len());
        let mut undos = Vec::new();
        let of = drafts.len();
        for (index, draft) in drafts.into_iter().enumerate() {
            let event_id = EventId(*uuid::Uuid::now_v7().as_bytes());
            let result = self
                .local
                .prepare(now_ms, event_id, draft)
                .map_err(|error| AppendError::InvalidDraft { index, of, error })
                .and_then(|event| {
                    self.authority()
                        .check_parts(event.header(), Some(event.body()))
                        .map(|()| event)
                        .map_err(|error| AppendError::NotAuthorised { index, of, error })
                })
                .and_then(|event| self.judge_and_apply(now_ms, (index, of), &event, &mut undos).map(|()| event));
            match result {
                Ok(event) => {
                    // Apply enrollment effects now, so later drafts (and events) can use them.
                    self.apply_local_effect(&event);
                    prepared.push(event);
                }
                Err(error) => {
                    self.undo(undos);
                    self.local = local_before;
                    if let Some(authority) = authority_before {
                        *self.authority.write().expect("never poisoned") = authority;
                    }
                    return Err(error);
                }
            }
        }
        if !prepared.is_empty() {
            self.set_head(self.local.head_replica(), self.local.head());
        }
        group_undos.extend(undos);
        Ok(prepared)
    }

    /// Judges a prepared local event by the audit rules against the projection, then
    /// applies it (recording how to undo it).
    fn judge_and_apply(
        &self,
        now_ms: u64,
        (index, of): (usize, usize),
        event: &PreparedEvent,
        undos: &mut Vec<Undo>,
    ) -> Result<(), AppendError> {
        let header = event.header();
        let Ok(body) = Body::decode(header.kind, event.body()) else {
            return Ok(()); // Drafts are checked to decode as their kind by `prepare`.
        };
        let Some(level) = self.local_unit.level() else { return Ok(()) };
        let mut projection = self.projection.write().expect("the projection lock is never poisoned");
        let context = AuthorContext {
            unit: header.unit_path.clone(),
            level,
            today: rollcall_core::audit::dates::cst_day(now_ms),
            stamp: Stamp::of(header),
        };
        rules::check(&projection, &context, &body).map_err(|violation| AppendError::RuleViolated {
            index,
            of,
            violation,
        })?;
        undos.push(projection.apply(header, &body, level));
        Ok(())
    }

    /// Applies received events and the node's own equivocation proofs, now durable, to
    /// the projection (they are never taken back, so nothing is kept to undo them).
    /// Returns the registrations that arrived, (member, branch) in the order stored (a
    /// duplicate relation may need reporting).
    fn apply_after_write<'a>(&self, events: impl Iterator<Item = &'a VerifiedEvent>) -> Vec<(String, UnitPath)> {
        let authority = self.authority();
        let mut projection = self.projection.write().expect("never poisoned");
        let mut registered = Vec::new();
        for event in events {
            let Some(bytes) = event.body() else { continue };
            let header = event.header();
            let Some(level) = authority.enrollment(&header.replica).map(|enrollment| enrollment.level) else {
                continue;
            };
            if let Ok(body) = Body::decode(header.kind, bytes) {
                if let Body::MemberRegistered(registration) = &body {
                    registered.push((registration.member_id.clone(), header.unit_path.clone()));
                }
                projection.apply_for_good(header, &body, level);
            }
        }
        registered
    }

    /// Records a 重复组织关系 finding for each member registered at two or more
    /// branches whose lowest common ancestor is this node's unit, not yet reported
    /// (`member_ids`: only those; `None`: every member). The finding is filed at this
    /// unit, so it flows down in full to every branch it names.
    fn report_duplicates(&mut self, arrived: Option<&[(String, UnitPath)]>) {
        if self.recovery_marker.is_some() {
            // Recorded when the recovery ends (a scan of every member).
            return;
        }
        let Some(level) = self.local_unit.level() else { return };
        if level > rollcall_core::Level::College {
            return;
        }
        let findings = self.projection.read().expect("never poisoned").duplicates_to_report(&self.local_unit, arrived);
        if findings.is_empty() {
            return;
        }
        tracing::warn!(n_members = findings.len(), "duplicate relations found: recording the findings");
        let drafts = findings
            .into_iter()
            .map(|found| Draft {
                unit_path: self.local_unit.clone(),
                kind: EventKind::DuplicateRelationFound,
                body: Body::DuplicateRelationFound(found).encode(),
                author: "rollcall".into(),
            })
            .collect();
        let (reply, _answer) = oneshot::channel();
        self.commit_group(vec![Job::Append { drafts, draft_ids: None, reply }], None);
    }

    /// For an append with client-chosen draft ids: the events they became when every
    /// id is held already (stored, or earlier in this group), `None` when none is.
    fn recorded_drafts(
        &self,
        draft_ids: Option<&[[u8; 16]]>,
        in_group: &[([u8; 16], usize)],
    ) -> Result<Option<Vec<Appended>>, AppendError> {
        let Some(ids) = draft_ids else { return Ok(None) };
        if in_group.iter().any(|(held, _)| ids.contains(held)) {
            return Err(AppendError::InFlight);
        }
        let distinct: std::collections::HashSet<&[u8; 16]> = ids.iter().collect();
        if distinct.len() < ids.len() {
            return Err(AppendError::RepeatedDraftId);
        }
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(seq) = self.store.draft_seq(id).map_err(|error| AppendError::StoreFailed(error.to_string()))? {
                found.push(seq);
            }
        }
        if found.is_empty() {
            return Ok(None);
        }
        if found.len() < ids.len() {
            return Err(AppendError::PartlyRecorded { recorded: found.len(), drafts: ids.len() });
        }
        let replica = self.local.head_replica();
        let mut appended = Vec::with_capacity(found.len());
        for seq in found {
            let event = self
                .store
                .get_without_signature(replica, seq)
                .map_err(|error| AppendError::StoreFailed(error.to_string()))?
                .ok_or_else(|| AppendError::StoreFailed(format!("draft recorded at seq {} is missing", seq.0)))?;
            appended.push(Appended { seq, event_id: event.header().event_id, hash: event.hash() });
        }
        Ok(Some(appended))
    }

    /// Takes applied events back out of the projection, last first.
    fn undo(&self, undos: Vec<Undo>) {
        if undos.is_empty() {
            return;
        }
        let mut projection = self.projection.write().expect("never poisoned");
        for undo in undos.into_iter().rev() {
            projection.undo(undo);
        }
    }

    fn apply_local_effect(&mut self, event: &PreparedEvent) {
        if matches!(event.header().kind, EventKind::ReplicaEnrolled | EventKind::ReplicaRevoked) {
            self.authority.write().expect("never poisoned").apply_parts(event.header(), Some(event.body()));
        }
    }

    fn plan_ingest(&mut self, now_ms: u64, events: Vec<VerifiedEvent>, pending: &mut Vec<Pending>) -> IngestOutcome {
        let mut outcome = IngestOutcome::default();
        let mut touched: Vec<ReplicaId> = Vec::new();
        // The first and last seq of this node's own log heard back in this batch.
        let mut own_back: Option<(Seq, Seq)> = None;
        for event in events {
            let replica = event.replica();
            let head = self.heads.get(&replica).copied().unwrap_or(Head::EMPTY);
            if Authority::changed_by(event.header().kind) {
                self.keep_authority_before_group();
            }
            let admission = {
                let held = |seq| self.held_hash(replica, seq, pending);
                let mut authority = self.authority.write().expect("never poisoned");
                admit(&mut authority, &self.local_unit, head, &event, held)
            };
            match admission {
                Admission::Accept => {
                    if replica == self.local.head_replica() {
                        // This node's own event, signed before a restore from an older
                        // backup and heard back: the local log goes on after it, never
                        // signing a second event at its seq.
                        own_back = Some(own_back.map_or((event.seq(), event.seq()), |(first, _)| (first, event.seq())));
                        self.local.continue_after(&event);
                    } else if event.header().hlc.wall_ms <= now_ms + rollcall_core::limits::CLOCK_AHEAD_OBSERVED_MAX_MS
                    {
                        self.local.observe(event.header().hlc);
                    }
                    self.set_head(replica, Head::of(&event));
                    if !touched.contains(&replica) {
                        touched.push(replica);
                    }
                    outcome.accepted += 1;
                    pending.push(Pending::Received(event));
                }
                Admission::Duplicate => outcome.duplicates += 1,
                Admission::Equivocation { .. } => {
                    if let Some(proof) = self.equivocation_proof(now_ms, replica, &event, pending) {
                        pending.push(Pending::Proof(proof));
                    }
                    outcome.equivocations.push(replica);
                    outcome.rejections.push(Rejection {
                        replica,
                        seq: event.seq(),
                        reason: "equivocation: another event is held at this seq".into(),
                    });
                }
                Admission::Refuse(refusal) => {
                    outcome.rejections.push(Rejection { replica, seq: event.seq(), reason: refusal.to_string() })
                }
            }
        }
        if let Some((first, last)) = own_back {
            tracing::warn!(
                first = first.0,
                last = last.0,
                "events of this node's own log came back from a peer: going on after them (restored from an older backup?)"
            );
        }
        outcome.heads = touched.into_iter().map(|replica| (replica, self.heads[&replica])).collect();
        outcome
    }

    /// The hash of the event held (stored or pending in this group) at `seq`.
    fn held_hash(&self, replica: ReplicaId, seq: Seq, pending: &[Pending]) -> Option<EventHash> {
        for item in pending.iter().rev() {
            if let Pending::Received(event) = item
                && event.replica() == replica
                && event.seq() == seq
            {
                return Some(event.hash());
            }
        }
        match self.store.get(replica, seq) {
            Ok(Some(event)) => Some(event.hash()),
            Ok(None) => None,
            Err(error) => {
                tracing::error!(%error, "reading a held event to compare");
                None
            }
        }
    }

    fn equivocation_proof(
        &mut self,
        now_ms: u64,
        replica: ReplicaId,
        second: &VerifiedEvent,
        pending: &[Pending],
    ) -> Option<PreparedEvent> {
        if self.authority().is_quarantined(&replica) {
            return None;
        }
        let first = pending
            .iter()
            .find_map(|item| match item {
                Pending::Received(event) if event.replica() == replica && event.seq() == second.seq() => {
                    Some(event.clone())
                }
                _ => None,
            })
            .or_else(|| self.store.get(replica, second.seq()).ok().flatten())?;
        tracing::warn!(replica = %replica.short(), seq = second.seq().0, "equivocation: two events at one seq; quarantining");
        self.keep_authority_before_group();
        self.authority.write().expect("never poisoned").quarantine(replica);
        if self.recovery_marker.is_some() {
            // The replica is refused from now on; the proof is signed once this node may
            // sign again (the end of its recovery).
            self.deferred_proofs.push((first.to_stub(), second.to_stub()));
            return None;
        }
        self.prepare_proof(now_ms, &first, second)
    }

    /// Prepares the proof that `first` and `second` are two events at one seq.
    fn prepare_proof(&mut self, now_ms: u64, first: &VerifiedEvent, second: &VerifiedEvent) -> Option<PreparedEvent> {
        let body = Body::EquivocationProof(proto::EquivocationProof {
            first: Some(codec::to_proto(&first.to_stub().to_signed())),
            second: Some(codec::to_proto(&second.to_stub().to_signed())),
        });
        let draft = Draft {
            unit_path: self.local_unit.clone(),
            kind: EventKind::EquivocationProof,
            body: body.encode(),
            author: "rollcall".into(),
        };
        let event_id = EventId(*uuid::Uuid::now_v7().as_bytes());
        let prepared = self.local.prepare(now_ms, event_id, draft).ok()?;
        self.set_head(prepared.header().replica, self.local.head());
        Some(prepared)
    }
}

/// Signs local events and passes received ones through, keeping the group's order;
/// local signing runs on every core when there are enough events to pay for it.
fn sign_all(key: &Arc<SigningKey>, pending: Vec<Pending>) -> Vec<VerifiedEvent> {
    let n_local = pending.iter().filter(|item| matches!(item, Pending::Local(_) | Pending::Proof(_))).count();
    let n_threads = signing_threads();
    if n_local < PARALLEL_SIGNING_MIN || n_threads == 1 {
        return pending.into_iter().map(|item| item.sign(key)).collect();
    }
    let chunk_len = pending.len().div_ceil(n_threads);
    let mut chunks: Vec<Vec<Pending>> = Vec::new();
    let mut rest = pending;
    while rest.len() > chunk_len {
        let tail = rest.split_off(chunk_len);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(|item| item.sign(key)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().expect("signing never panics")).collect()
    })
}

/// The threads a large group's signing is split over: the cores this process may use,
/// read once (`available_parallelism` reads the cgroup's files at every call, which cost
/// a fifth of the writer's time when each group was one event).
fn signing_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The physical clock, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appends(n: usize) -> Gathering {
        let mut gathering = Gathering::default();
        for _ in 0..n {
            gathering.count(&Job::Append { drafts: Vec::new(), draft_ids: None, reply: oneshot::channel().0 });
        }
        gathering
    }

    /// A delay after a group of four appends written while four others queued.
    fn after_two_cohorts_of_four() -> CommitDelay {
        let mut delay = CommitDelay::default();
        delay.committed(4, 4);
        delay
    }

    /// An ingest job (its answer dropped).
    fn an_ingest() -> Job {
        Job::Ingest { events: Vec::new(), reply: oneshot::channel().0 }
    }

    #[test]
    fn a_lone_writer_never_waits() {
        let mut delay = CommitDelay::default();
        assert_eq!(delay.wait_for(&appends(1)), None, "nothing seen yet: no wait");
        delay.gathered(&appends(1));
        delay.committed(1, 0);
        assert_eq!(delay.wait_for(&appends(1)), None, "one writer expects one");
    }

    #[test]
    fn a_group_waits_for_the_writers_that_queued_during_the_last_commit() {
        let mut delay = CommitDelay::default();
        // Four appends were written while four others queued: two cohorts of four.
        delay.committed(4, 4);
        let wait = delay.wait_for(&appends(4)).expect("four of the eight expected: wait");
        assert!(wait <= CommitDelay::MAX_WAIT && !wait.is_zero());
        assert_eq!(delay.wait_for(&appends(8)), None, "all eight came: commit");
        delay.gathered(&appends(8));
        delay.committed(8, 0);
        assert!(delay.wait_for(&appends(5)).is_some(), "eight expected again");
    }

    #[test]
    fn a_large_group_never_waits() {
        let mut delay = after_two_cohorts_of_four();
        let mut gathering = appends(2);
        assert!(delay.wait_for(&gathering).is_some());
        gathering.n_events = CommitDelay::EVENTS_MAX;
        assert_eq!(delay.wait_for(&gathering), None, "its signing outweighs its fsync");
    }

    #[test]
    fn a_group_holding_received_events_never_waits() {
        let mut delay = after_two_cohorts_of_four();
        let mut gathering = appends(2);
        gathering.count(&an_ingest());
        assert_eq!(delay.wait_for(&gathering), None);
    }

    #[test]
    fn a_wait_that_gathered_nothing_turns_the_delay_off_for_a_while() {
        let mut delay = after_two_cohorts_of_four();
        let gathering = appends(4);
        assert!(delay.wait_for(&gathering).is_some());
        // The deadline passed and nobody came.
        delay.deadline = Some(Instant::now());
        assert_eq!(delay.wait_for(&gathering), None, "the deadline passed");
        delay.gathered(&gathering);
        delay.committed(4, 4);
        for _ in 0..CommitDelay::OFF_AFTER_IDLE_WAIT {
            assert_eq!(delay.wait_for(&appends(4)), None, "the delay is off");
            delay.gathered(&appends(4));
            delay.committed(4, 4);
        }
        assert!(
            delay.wait_for(&appends(4)).is_some(),
            "and on again after {} groups",
            CommitDelay::OFF_AFTER_IDLE_WAIT
        );
    }

    #[test]
    fn a_wait_cut_short_by_another_request_keeps_the_delay_on() {
        let mut delay = after_two_cohorts_of_four();
        let mut gathering = appends(4);
        assert!(delay.wait_for(&gathering).is_some());
        // A rebuild (or an ingest) ends the gathering before the deadline.
        gathering.count(&an_ingest());
        delay.gathered(&gathering);
        delay.committed(4, 4);
        assert!(delay.wait_for(&appends(4)).is_some(), "still on");
    }

    #[test]
    fn writers_seen_before_an_idle_spell_are_not_expected_after_it() {
        let mut delay = CommitDelay::default();
        delay.committed(8, 0);
        delay.begin(CommitDelay::IDLE_FORGETS / 2);
        assert!(delay.wait_for(&appends(1)).is_some(), "back within a wait: still expected");
        delay.gathered(&appends(8));
        delay.committed(8, 0);
        delay.begin(Duration::from_secs(3600));
        assert_eq!(delay.wait_for(&appends(1)), None, "a lone append an hour later never waits");
    }

    #[test]
    fn a_wait_that_gathered_some_keeps_the_delay_on() {
        let mut delay = after_two_cohorts_of_four();
        assert!(delay.wait_for(&appends(4)).is_some());
        delay.gathered(&appends(6));
        delay.committed(6, 2);
        assert!(delay.wait_for(&appends(6)).is_some());
    }
}
