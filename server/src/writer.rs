//! The single writer: owns the local log's head and every write to the store, and
//! group-commits concurrent appends (one fsync for many events).
//!
//! Appends arrive on a bounded channel. The writer thread takes the first waiting job,
//! then drains whatever else is queued (up to `EVENTS_PER_COMMIT_MAX` events), assigns
//! seq, prev and time to every draft in arrival order ([`LocalWriter::prepare`]), signs
//! them (in parallel on all cores when the group is large), writes the whole group in
//! one synced `WriteBatch`, and only then answers each job.
//!
//! Invariants:
//! - Only this thread writes events, so the head it holds is the stored head plus
//!   nothing: if a write fails, it reloads the head from the store and fails the group.
//! - A job's drafts are committed atomically and consecutively (same batch, in order).
//! - A job with an invalid draft fails alone; the writer's head is unchanged by it.

use std::sync::Arc;
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use rollcall_core::limits::EVENTS_PER_COMMIT_MAX;
use rollcall_core::log::{Draft, DraftError, LocalWriter, PreparedEvent};
use rollcall_core::{EventHash, EventId, HlcTime, ReplicaId, Seq, VerifiedEvent};
use tokio::sync::{mpsc, oneshot};

use crate::store::{Store, StoreError};

/// Depth of the append queue: back-pressure for callers beyond it.
pub const APPEND_QUEUE_DEPTH: usize = 1024;

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
    #[error("draft {index}: {error}")]
    InvalidDraft {
        /// Position of the draft in the request.
        index: usize,
        /// What is wrong.
        error: DraftError,
    },
    /// The store failed; nothing of the request was written. The detail is logged by
    /// the writer; callers get its text.
    #[error("store failed: {0}")]
    StoreFailed(String),
    /// The writer has stopped (the node is shutting down).
    #[error("the writer has stopped")]
    Stopped,
}

struct Job {
    drafts: Vec<Draft>,
    reply: oneshot::Sender<Result<Vec<Appended>, AppendError>>,
}

/// A handle for appending to the local log. Cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    jobs: mpsc::Sender<Job>,
    replica: ReplicaId,
}

impl WriterHandle {
    /// Appends `drafts` atomically and waits until they are durable.
    ///
    /// # Errors
    ///
    /// [`AppendError`]; on any error nothing of the request was written.
    pub async fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { drafts, reply }).await.map_err(|_| AppendError::Stopped)?;
        answer.await.map_err(|_| AppendError::Stopped)?
    }

    /// Appends from a thread that is not a tokio worker (benchmarks, blocking code).
    ///
    /// # Errors
    ///
    /// As [`WriterHandle::append`].
    pub fn append_blocking(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.blocking_send(Job { drafts, reply }).map_err(|_| AppendError::Stopped)?;
        answer.blocking_recv().map_err(|_| AppendError::Stopped)?
    }

    /// The local replica.
    pub fn replica(&self) -> ReplicaId {
        self.replica
    }
}

/// Starts the writer thread for the local replica of `key` over `store`.
/// The thread ends when every handle is dropped; join the returned handle to wait.
///
/// # Errors
///
/// [`StoreError`] if the local head cannot be read.
pub fn start(store: Store, key: SigningKey) -> Result<(WriterHandle, thread::JoinHandle<()>), StoreError> {
    let replica = ReplicaId(key.verifying_key().to_bytes());
    store.claim_local_replica(replica)?;
    let local = load_local_writer(&store, replica)?;
    let ingest_position = store.last_ingest_position()? + 1;
    let (jobs, receiver) = mpsc::channel(APPEND_QUEUE_DEPTH);
    let state = WriterThread { store, key: Arc::new(key), local, next_ingest_position: ingest_position };
    let join = thread::Builder::new()
        .name("rollcall-writer".into())
        .spawn(move || state.run(receiver))
        .expect("spawning the writer thread");
    Ok((WriterHandle { jobs, replica }, join))
}

fn load_local_writer(store: &Store, replica: ReplicaId) -> Result<LocalWriter, StoreError> {
    Ok(match store.head(replica)? {
        Some(stored) => LocalWriter::new(replica, stored.head, stored.last_time),
        None => LocalWriter::new(replica, rollcall_core::Head::EMPTY, HlcTime::default()),
    })
}

struct WriterThread {
    store: Store,
    key: Arc<SigningKey>,
    local: LocalWriter,
    next_ingest_position: u64,
}

impl WriterThread {
    fn run(mut self, mut receiver: mpsc::Receiver<Job>) {
        while let Some(first) = receiver.blocking_recv() {
            let mut n_events = first.drafts.len();
            let mut group = vec![first];
            while n_events < EVENTS_PER_COMMIT_MAX {
                match receiver.try_recv() {
                    Ok(job) => {
                        n_events += job.drafts.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
    }

    fn commit_group(&mut self, group: Vec<Job>) {
        let group_start = self.local.clone();
        let now_ms = now_ms();
        let mut accepted: Vec<(Job, usize)> = Vec::with_capacity(group.len());
        let mut prepared: Vec<PreparedEvent> = Vec::new();
        for mut job in group {
            let before_job = self.local.clone();
            let drafts = std::mem::take(&mut job.drafts);
            let n_drafts = drafts.len();
            let mut failed = None;
            let mut job_events = Vec::with_capacity(n_drafts);
            for (index, draft) in drafts.into_iter().enumerate() {
                let event_id = EventId(*uuid::Uuid::now_v7().as_bytes());
                match self.local.prepare(now_ms, event_id, draft) {
                    Ok(event) => job_events.push(event),
                    Err(error) => {
                        failed = Some(AppendError::InvalidDraft { index, error });
                        break;
                    }
                }
            }
            match failed {
                Some(error) => {
                    self.local = before_job;
                    let _ = job.reply.send(Err(error));
                }
                None => {
                    prepared.extend(job_events);
                    accepted.push((job, n_drafts));
                }
            }
        }
        if prepared.is_empty() {
            for (job, _) in accepted {
                let _ = job.reply.send(Ok(Vec::new()));
            }
            return;
        }
        let events = sign_all(&self.key, prepared);
        match self.store.write_events(&events, self.next_ingest_position) {
            Ok(()) => {
                self.next_ingest_position += events.len() as u64;
                let mut remaining = events.iter();
                for (job, n_drafts) in accepted {
                    let appended = remaining
                        .by_ref()
                        .take(n_drafts)
                        .map(|event| Appended {
                            seq: event.seq(),
                            event_id: event.header().event_id,
                            hash: event.hash(),
                        })
                        .collect();
                    let _ = job.reply.send(Ok(appended));
                }
            }
            Err(error) => {
                tracing::error!(%error, n_events = events.len(), "append group failed; nothing of it was written");
                // Nothing of the batch is visible: return to the head before the group.
                self.local = group_start;
                let message = error.to_string();
                for (job, _) in accepted {
                    let _ = job.reply.send(Err(AppendError::StoreFailed(message.clone())));
                }
            }
        }
    }
}

/// Signs prepared events, on every core when the group is large enough to pay for it.
fn sign_all(key: &Arc<SigningKey>, prepared: Vec<PreparedEvent>) -> Vec<VerifiedEvent> {
    let n_threads = thread::available_parallelism().map_or(1, |n| n.get());
    if prepared.len() < PARALLEL_SIGNING_MIN || n_threads == 1 {
        return prepared.into_iter().map(|event| event.sign(key)).collect();
    }
    let chunk_len = prepared.len().div_ceil(n_threads);
    let mut chunks: Vec<Vec<PreparedEvent>> = Vec::new();
    let mut rest = prepared;
    while rest.len() > chunk_len {
        let tail = rest.split_off(chunk_len);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(|event| event.sign(key)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().expect("signing never panics")).collect()
    })
}

/// The physical clock, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
