//! The RocksDB store: the ground truth of a node.
//!
//! Column families:
//! - `events`: (replica 32 bytes, seq u64 big-endian) → the `SignedEvent` envelope bytes;
//! - `ingest`: the node's ingest order, as runs: the position of a run's first event
//!   (u64 big-endian) → (replica, first seq, and, for a run of more than one, the
//!   number of events: consecutive seqs at consecutive positions). A local cursor for
//!   subscriptions, never sent to peers. One entry per run of a written group rather than
//!   per event halves the writer's memtable inserts while a backlog streams in;
//! - `heads`: replica → seq, hash and hybrid-logical time of the last event held;
//! - `projections`: caches derived from the log (rebuildable);
//! - `meta`: the schema version, the local replica key, the export cursors and whether
//!   `authority` is complete;
//! - `drafts`: client draft id → the local seq it became (idempotent appends);
//! - `authority`: the ingest positions of the events that change the enrollment state.
//!
//! Levels 0 and 1 are uncompressed, the levels below Snappy: a store smaller than about
//! half a gigabyte is therefore not compressed at all. Flushes and compactions write with
//! direct I/O where the filesystem takes it (probed at open); reads and the WAL use the
//! page cache. A read of a replica's log is
//! bounded by the replica's last key and leaves the block cache alone (a backlog read
//! once would only push out what point reads keep there).
//!
//! Invariants:
//! - An event, its ingest entry and its head update are written in one atomic
//!   `WriteBatch` with `sync = true`; nothing is acknowledged before that returns.
//! - Events enter only as [`VerifiedEvent`]s already checked against the head
//!   ([`rollcall_core::log::check_next`]); the store does not decide, it records.
//! - Reads verify what they return: signature, body hash, the key matches the header,
//!   and consecutive events chain. A value corrupted on disk is an error
//!   ([`StoreError::Corrupt`]), never served. The one exception is
//!   [`Store::read_log_without_signatures`] (and its `_into` form, which says whether
//!   the events share one buffer) and [`Store::get_without_signature`] (what
//!   sync sends and the event stream serves, and status reads of the node's own log):
//!   they check everything but the signatures, which every receiver can verify.
//!
//! RocksDB calls block: async code calls the store through `spawn_blocking` or the
//! writer thread ([`crate::writer`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions};
use rollcall_core::codec;
use rollcall_core::log::Head;
use rollcall_core::{EventHash, HlcTime, ReplicaId, Seq, VerifiedEvent};

/// The on-disk layout version this build writes.
pub const SCHEMA_VERSION: u32 = 2;
/// Layout versions this build also reads: version 1 wrote an `ingest` entry per event,
/// which is a run of one in version 2. A version-1 store is read as it is and stays
/// version 1 until the first write holding a run of more than one event, which marks it
/// version 2 in the same batch (an older binary then refuses it by name): opening it, or
/// backing it up before an upgrade, leaves it readable by the release it came from.
const SCHEMA_VERSIONS_READ: [u32; 2] = [1, 2];

const CF_EVENTS: &str = "events";
const CF_INGEST: &str = "ingest";
const CF_HEADS: &str = "heads";
const CF_PROJECTIONS: &str = "projections";
const CF_META: &str = "meta";
/// Client-chosen draft id (16 bytes) → seq of the local event it became (idempotent appends).
const CF_DRAFTS: &str = "drafts";
/// The ingest positions of the events that change the enrollment state (enrollments,
/// revocations, equivocation proofs): ingest position → replica ‖ seq, written in the same
/// batch as the event, so a start reads these instead of scanning every event.
const CF_AUTHORITY: &str = "authority";
/// The most a relayed read reserves for its buffer at its first value (a read of more
/// grows it as it goes): a sync message's worth, whatever the first value's size.
const READ_BYTES_RESERVED_MAX: usize = rollcall_core::limits::MESSAGE_BYTES_TARGET;

/// Where the envelopes of a read keep their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadBuffers {
    /// One buffer for the whole read, every envelope a view into it: one copy and one
    /// allocation for the read, for events relayed and dropped soon (a sync sender's
    /// batch). An event kept keeps the whole read's buffer alive.
    OnePerRead,
    /// A buffer per envelope: for callers that keep a few events of a long read (a
    /// dossier's evidence), so what they keep holds only its own bytes.
    OnePerEvent,
}
const COLUMN_FAMILIES: [&str; 7] = [CF_EVENTS, CF_INGEST, CF_HEADS, CF_PROJECTIONS, CF_META, CF_DRAFTS, CF_AUTHORITY];
/// Present once `authority` indexes every event of the store (a store written by an
/// older version gets its index built once, when it is first opened for writing).
const META_AUTHORITY_INDEXED: &[u8] = b"authority_indexed";

const META_SCHEMA_VERSION: &[u8] = b"schema_version";
const META_LOCAL_REPLICA: &[u8] = b"local_replica";

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error (I/O, corruption detected by its own checksums, lock).
    #[error("rocksdb at {path}: {source}")]
    Rocks {
        /// The store's directory.
        path: PathBuf,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// The store was written by another layout version.
    #[error("store at {path} has schema version {found}, this build needs {expected}")]
    SchemaMismatch {
        /// The store's directory.
        path: PathBuf,
        /// The version on disk.
        found: u32,
        /// The version this build writes (it also reads version 1).
        expected: u32,
    },
    /// The store belongs to another replica key.
    #[error("store at {path} belongs to replica {found}, not {expected}")]
    WrongReplica {
        /// The store's directory.
        path: PathBuf,
        /// The replica recorded in the store.
        found: String,
        /// The replica of the configured key.
        expected: String,
    },
    /// A stored value fails its checks.
    #[error("corrupt event {replica} seq {seq}: {detail}")]
    Corrupt {
        /// The replica of the bad entry (hex).
        replica: String,
        /// Its seq.
        seq: u64,
        /// What check failed.
        detail: String,
    },
    /// A write refused on purpose by a test ([`Store::fail_writes_for_tests`]).
    #[doc(hidden)]
    #[error("write refused by a test")]
    WriteFailedForTests,
    /// A metadata or index value has the wrong shape.
    #[error("corrupt {what} entry: {detail}")]
    CorruptIndex {
        /// Which index.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// One replica's head as stored, with the time of its last event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredHead {
    /// The replica.
    pub replica: ReplicaId,
    /// Its last seq and hash.
    pub head: Head,
    /// The hybrid-logical time of its last event.
    pub last_time: HlcTime,
}

/// A handle to an open store. Cheap to clone; all clones share the database.
#[derive(Clone)]
pub struct Store {
    db: Arc<DB>,
    path: PathBuf,
    /// Set only by tests, to see what a failed write leaves behind.
    fail_writes: Arc<AtomicBool>,
    /// Whether `meta` says [`SCHEMA_VERSION`] (else version 1, until a run is written).
    marked_current: Arc<AtomicBool>,
}

impl Store {
    /// Opens (creating if missing) the store at `path` for writing.
    ///
    /// # Errors
    ///
    /// [`StoreError::SchemaMismatch`] if the store has a layout version this build cannot
    /// read (it reads versions 1 and 2);
    /// [`StoreError::Rocks`] if RocksDB cannot open it (e.g. locked by a running node).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_paranoid_checks(true);
        options.set_max_open_files(512);
        // WAL files are not recycled: RocksDB turns `recycle_log_file_num` off under
        // point-in-time recovery (its default `wal_recovery_mode`, which we keep: a crash
        // leaves a consistent prefix of every chain, never a hole). So each synced append
        // grows the WAL and also writes its inode, about a third of the fsync here.
        // The small column families (heads, meta, authority, ...) rarely fill a memtable,
        // so without a bound they pin every WAL file since their last flush and each
        // open replays them all (a province after a catch-up: gigabytes, 20 s). Past
        // this much WAL, RocksDB flushes whatever pins the oldest file.
        options.set_max_total_wal_size(256 << 20);
        // Flushes and compactions write their tables past the page cache where the
        // filesystem allows it: a backlog streaming in is written once to the WAL and
        // then again by every flush and compaction, and copying each into fresh
        // page-cache pages took two thirds of the flush thread's CPU during a catch-up
        // (BENCHMARKS.md). Reads still go through the page cache. Where direct I/O is
        // refused (ramfs, tmpfs on older kernels, some FUSE and network filesystems) the
        // store writes through the page cache as before.
        let direct_io = direct_io_supported(path);
        if direct_io {
            options.set_use_direct_io_for_flush_and_compaction(true);
            // RocksDB's advice for direct I/O: compactions read ahead in large steps
            // themselves, since the kernel no longer does.
            options.set_compaction_readahead_size(2 << 20);
        }
        let descriptors =
            COLUMN_FAMILIES.iter().map(|name| ColumnFamilyDescriptor::new(*name, column_family_options()));
        let db = DB::open_cf_descriptors(&options, path, descriptors)
            .map_err(|source| StoreError::Rocks { path: path.to_path_buf(), source })?;
        let store = Store::over(db, path);
        store.check_or_write_schema(true)?;
        store.index_authority_events()?;
        if !direct_io {
            tracing::info!(store = %path.display(), "the filesystem refuses direct I/O: flushes and compactions write through the page cache");
        }
        Ok(store)
    }

    /// Builds the `authority` index of a store written before it existed (one scan of
    /// every event, once), then marks it complete; a new store is marked at once.
    fn index_authority_events(&self) -> Result<(), StoreError> {
        let meta = self.cf(CF_META);
        if self.db.get_cf(meta, META_AUTHORITY_INDEXED).map_err(|e| self.rocks(e))?.is_some() {
            return Ok(());
        }
        let authority_cf = self.cf(CF_AUTHORITY);
        let mut batch = WriteBatch::default();
        for (position, replica, seq) in self.scan_authority_events()? {
            batch.put_cf(authority_cf, position.to_be_bytes(), event_key(replica, seq));
        }
        batch.put_cf(meta, META_AUTHORITY_INDEXED, [1]);
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch, &options).map_err(|e| self.rocks(e))
    }

    /// Opens an existing store read-only (e.g. for `rollcall verify` next to a running node).
    ///
    /// # Errors
    ///
    /// As [`Store::open`]; also when the store does not exist.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let options = Options::default();
        // A store written before a column family was added lacks it until it is next
        // opened for writing; open what it has (`drafts` is only read by the writer).
        let present = DB::list_cf(&options, path).unwrap_or_default();
        let families = COLUMN_FAMILIES
            .iter()
            .filter(|name| ![CF_DRAFTS, CF_AUTHORITY].contains(*name) || present.iter().any(|p| p == *name));
        let db = DB::open_cf_for_read_only(&options, path, families, false)
            .map_err(|source| StoreError::Rocks { path: path.to_path_buf(), source })?;
        let store = Store::over(db, path);
        store.check_or_write_schema(false)?;
        Ok(store)
    }

    /// A handle to `db`, opened at `path`, before its schema version is read.
    fn over(db: DB, path: &Path) -> Store {
        Store {
            db: Arc::new(db),
            path: path.to_path_buf(),
            fail_writes: Arc::default(),
            marked_current: Arc::default(),
        }
    }

    /// The directory of the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rocks(&self, source: rocksdb::Error) -> StoreError {
        StoreError::Rocks { path: self.path.clone(), source }
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("every column family is created at open")
    }

    fn check_or_write_schema(&self, writable: bool) -> Result<(), StoreError> {
        let meta = self.cf(CF_META);
        match self.db.get_cf(meta, META_SCHEMA_VERSION).map_err(|e| self.rocks(e))? {
            Some(bytes) => {
                let found = u32::from_be_bytes(bytes.as_slice().try_into().map_err(|_| StoreError::CorruptIndex {
                    what: "meta",
                    detail: "schema version is not 4 bytes".into(),
                })?);
                if !SCHEMA_VERSIONS_READ.contains(&found) {
                    return Err(StoreError::SchemaMismatch {
                        path: self.path.clone(),
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
                self.marked_current.store(found == SCHEMA_VERSION, Ordering::Relaxed);
            }
            None if writable => {
                self.write_schema_version()?;
                self.marked_current.store(true, Ordering::Relaxed);
            }
            None => {
                return Err(StoreError::CorruptIndex { what: "meta", detail: "no schema version".into() });
            }
        }
        Ok(())
    }

    fn write_schema_version(&self) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .put_cf_opt(self.cf(CF_META), META_SCHEMA_VERSION, SCHEMA_VERSION.to_be_bytes(), &options)
            .map_err(|e| self.rocks(e))
    }

    /// Refuses, without writing anything, a store at `path` that belongs to another
    /// replica: opened read-only, so a node pointed at another node's store leaves its
    /// MANIFEST, OPTIONS and WAL as they were. A missing store is fine (it is created).
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongReplica`] naming both keys; [`StoreError`] if it cannot be read.
    pub fn check_owner(path: &Path, replica: ReplicaId) -> Result<(), StoreError> {
        if !path.join("CURRENT").exists() {
            return Ok(());
        }
        let store = Store::open_read_only(path)?;
        let meta = store.cf(CF_META);
        match store.db.get_cf(meta, META_LOCAL_REPLICA).map_err(|e| store.rocks(e))? {
            Some(found) if found.as_slice() != replica.0 => Err(StoreError::WrongReplica {
                path: path.to_path_buf(),
                found: hex::encode(found),
                expected: replica.to_hex(),
            }),
            _ => Ok(()),
        }
    }

    /// The replica this store belongs to, once recorded.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on read failure or a malformed entry.
    pub fn local_replica(&self) -> Result<Option<ReplicaId>, StoreError> {
        match self.db.get_cf(self.cf(CF_META), META_LOCAL_REPLICA).map_err(|e| self.rocks(e))? {
            None => Ok(None),
            Some(value) => <[u8; 32]>::try_from(value.as_slice()).map(|bytes| Some(ReplicaId(bytes))).map_err(|_| {
                StoreError::CorruptIndex { what: "meta", detail: "the local replica is not 32 bytes".into() }
            }),
        }
    }

    /// Records the local replica on first use and refuses a store of another replica.
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongReplica`] if the store was created for another key.
    pub fn claim_local_replica(&self, replica: ReplicaId) -> Result<(), StoreError> {
        let meta = self.cf(CF_META);
        match self.db.get_cf(meta, META_LOCAL_REPLICA).map_err(|e| self.rocks(e))? {
            Some(found) if found.as_slice() == replica.0 => Ok(()),
            Some(found) => Err(StoreError::WrongReplica {
                path: self.path.clone(),
                found: hex::encode(found),
                expected: replica.to_hex(),
            }),
            None => {
                let mut options = WriteOptions::default();
                options.set_sync(true);
                self.db.put_cf_opt(meta, META_LOCAL_REPLICA, replica.0, &options).map_err(|e| self.rocks(e))
            }
        }
    }

    /// The export cursor stored under `name` (the last ingest position an exporter
    /// delivered; 0 when none).
    ///
    /// # Errors
    ///
    /// [`StoreError`] on read failure or a malformed entry.
    pub fn export_cursor(&self, name: &str) -> Result<u64, StoreError> {
        let key = format!("export/{name}");
        match self.db.get_cf(self.cf(CF_META), key.as_bytes()).map_err(|e| self.rocks(e))? {
            None => Ok(0),
            Some(value) => <[u8; 8]>::try_from(value.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::CorruptIndex { what: "meta", detail: format!("{key} is not 8 bytes") }),
        }
    }

    /// Stores the export cursor under `name`, durably.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on write failure.
    pub fn set_export_cursor(&self, name: &str, cursor: u64) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        let key = format!("export/{name}");
        self.db.put_cf_opt(self.cf(CF_META), key.as_bytes(), cursor.to_be_bytes(), &options).map_err(|e| self.rocks(e))
    }

    /// The highest ingest position written (0 when empty).
    ///
    /// # Errors
    ///
    /// [`StoreError`] on read failure or a malformed key.
    pub fn last_ingest_position(&self) -> Result<u64, StoreError> {
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_INGEST));
        iter.seek_to_last();
        iter.status().map_err(|e| self.rocks(e))?;
        match (iter.key(), iter.value()) {
            (Some(key), Some(value)) => Ok(IngestRun::decode(key, value)?.last_position()),
            _ => Ok(0),
        }
    }

    /// Writes events atomically and durably: events, ingest order and heads in one
    /// synced batch. `first_ingest_position` is the ingest position of `events[0]`.
    ///
    /// The caller (the single writer) has checked each event against the head, and
    /// `first_ingest_position` is past every position written before (the ingest order is
    /// append-only: a position written twice would overlap an earlier run, which reads
    /// refuse as a corrupt index).
    ///
    /// # Errors
    ///
    /// [`StoreError::Rocks`] if the batch could not be made durable; then nothing of it
    /// is visible.
    pub fn write_events(&self, events: &[VerifiedEvent], first_ingest_position: u64) -> Result<(), StoreError> {
        self.write_events_with_drafts(events, first_ingest_position, &[])
    }

    /// [`Store::write_events`], also recording which client draft id became which local
    /// seq, in the same batch: an id is held exactly when its event is.
    ///
    /// # Errors
    ///
    /// As [`Store::write_events`].
    pub fn write_events_with_drafts(
        &self,
        events: &[VerifiedEvent],
        first_ingest_position: u64,
        draft_ids: &[([u8; 16], Seq)],
    ) -> Result<(), StoreError> {
        if self.fail_writes.load(Ordering::Relaxed) {
            return Err(StoreError::WriteFailedForTests);
        }
        let mut batch = WriteBatch::default();
        let events_cf = self.cf(CF_EVENTS);
        let ingest_cf = self.cf(CF_INGEST);
        let heads_cf = self.cf(CF_HEADS);
        let authority_cf = self.cf(CF_AUTHORITY);
        let mut last_per_replica: Vec<&VerifiedEvent> = Vec::new();
        let mut encoded = Vec::new();
        let mut runs: Vec<IngestRun> = Vec::new();
        for (idx, event) in events.iter().enumerate() {
            let key = event_key(event.replica(), event.seq());
            let position = first_ingest_position + idx as u64;
            codec::encode_verified_into(event, &mut encoded);
            batch.put_cf(events_cf, key, &encoded);
            if !runs.last_mut().is_some_and(|run| run.extend(event.replica(), event.seq())) {
                runs.push(IngestRun::one(position, event.replica(), event.seq()));
            }
            if rollcall_core::authority::Authority::changed_by(event.header().kind) {
                batch.put_cf(authority_cf, position.to_be_bytes(), key);
            }
            match last_per_replica.iter_mut().find(|e| e.replica() == event.replica()) {
                Some(slot) => {
                    if event.seq() > slot.seq() {
                        *slot = event;
                    }
                }
                None => last_per_replica.push(event),
            }
        }
        for run in &runs {
            batch.put_cf(ingest_cf, run.first_position.to_be_bytes(), run.encode_value());
        }
        let marking = runs.iter().any(|run| run.count > 1) && !self.marked_current.load(Ordering::Relaxed);
        if marking {
            // The first run a version-1 reader could not read: the store becomes version 2
            // in the same batch, so no binary reads runs it does not know.
            batch.put_cf(self.cf(CF_META), META_SCHEMA_VERSION, SCHEMA_VERSION.to_be_bytes());
        }
        for event in last_per_replica {
            batch.put_cf(heads_cf, event.replica().0, encode_head(event));
        }
        if !draft_ids.is_empty() {
            let drafts_cf = self.cf(CF_DRAFTS);
            for (id, seq) in draft_ids {
                batch.put_cf(drafts_cf, id, seq.0.to_be_bytes());
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch, &options).map_err(|e| self.rocks(e))?;
        if marking {
            self.marked_current.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The local seq a client draft id became, if it is recorded.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on read failure or a malformed entry.
    pub fn draft_seq(&self, draft_id: &[u8; 16]) -> Result<Option<Seq>, StoreError> {
        let Some(drafts) = self.db.cf_handle(CF_DRAFTS) else { return Ok(None) };
        match self.db.get_cf(drafts, draft_id).map_err(|e| self.rocks(e))? {
            None => Ok(None),
            Some(value) => {
                let bytes: [u8; 8] = value.as_slice().try_into().map_err(|_| StoreError::CorruptIndex {
                    what: "drafts",
                    detail: "an entry is not 8 bytes".into(),
                })?;
                Ok(Some(Seq(u64::from_be_bytes(bytes))))
            }
        }
    }

    /// The stored head of `replica` (`None` when nothing is held).
    ///
    /// # Errors
    ///
    /// [`StoreError`] on read failure or a malformed entry.
    pub fn head(&self, replica: ReplicaId) -> Result<Option<StoredHead>, StoreError> {
        match self.db.get_cf(self.cf(CF_HEADS), replica.0).map_err(|e| self.rocks(e))? {
            None => Ok(None),
            Some(value) => decode_head(replica, &value).map(Some),
        }
    }

    /// Every stored head, ordered by replica.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on read failure or a malformed entry.
    pub fn heads(&self) -> Result<Vec<StoredHead>, StoreError> {
        let mut heads = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_HEADS), IteratorMode::Start) {
            let (key, value) = item.map_err(|e| self.rocks(e))?;
            let replica = ReplicaId(key.as_ref().try_into().map_err(|_| StoreError::CorruptIndex {
                what: "heads",
                detail: format!("key of {} bytes", key.len()),
            })?);
            heads.push(decode_head(replica, &value)?);
        }
        Ok(heads)
    }

    /// Reads up to `limit` events of `replica` from `from_seq` (inclusive), in order,
    /// verifying each again and checking that consecutive events chain. The events share
    /// one buffer ([`ReadBuffers::OnePerRead`]): for streaming them on.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when a stored value fails its checks.
    pub fn read_log(&self, replica: ReplicaId, from_seq: Seq, limit: usize) -> Result<Vec<VerifiedEvent>, StoreError> {
        let raw = self.read_raw(replica, from_seq, limit)?;
        let (seqs, signed): (Vec<Seq>, Vec<rollcall_core::SignedEvent>) = raw.into_iter().unzip();
        let checked =
            rollcall_core::verify_many_owned(signed).into_iter().map(|result| result.map_err(|refused| refused.error));
        chain_checked(replica, seqs.into_iter().zip(checked))
    }

    /// Reads like [`Store::read_log`] but checks everything except the signatures
    /// ([`rollcall_core::recheck_stored`]): for what this node verified when it came in
    /// and now only sends to a peer (which verifies it again) or reads for its own status.
    /// Consecutive events must still chain, so a damaged header is caught here; a damaged
    /// signature is refused by the receiver, and by `rollcall verify` here.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when a stored value fails its checks.
    pub fn read_log_without_signatures(
        &self,
        replica: ReplicaId,
        from_seq: Seq,
        limit: usize,
    ) -> Result<Vec<VerifiedEvent>, StoreError> {
        self.read_log_without_signatures_into(replica, from_seq, limit, ReadBuffers::OnePerEvent)
    }

    /// [`Store::read_log_without_signatures`], the envelopes' bytes kept as `buffers` says.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when a stored value fails its checks.
    pub fn read_log_without_signatures_into(
        &self,
        replica: ReplicaId,
        from_seq: Seq,
        limit: usize,
        buffers: ReadBuffers,
    ) -> Result<Vec<VerifiedEvent>, StoreError> {
        let raw = match buffers {
            ReadBuffers::OnePerRead => self.read_raw(replica, from_seq, limit)?,
            ReadBuffers::OnePerEvent => self.read_raw_each(replica, from_seq, limit)?,
        };
        chain_checked(replica, raw.into_iter().map(|(seq, signed)| (seq, rollcall_core::recheck_stored(signed))))
    }

    /// Walks the stored values of `replica` from `from_seq`, at most `limit`, in order.
    fn each_value(
        &self,
        replica: ReplicaId,
        from_seq: Seq,
        limit: usize,
        mut visit: impl FnMut(Seq, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let from_seq = Seq(from_seq.0.max(1));
        let mut iter = self.db.raw_iterator_cf_opt(self.cf(CF_EVENTS), range_read_options(replica));
        iter.seek(event_key(replica, from_seq));
        let mut visited = 0;
        while visited < limit {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else { break };
            if key.len() != 40 || key[..32] != replica.0 {
                break;
            }
            let seq = Seq(u64::from_be_bytes(key[32..40].try_into().expect("length checked")));
            visit(seq, value)?;
            visited += 1;
            iter.next();
        }
        iter.status().map_err(|e| self.rocks(e))
    }

    /// The stored envelopes of `replica` from `from_seq`, undecoded but for their three
    /// parts, each in a buffer of its own.
    fn read_raw_each(
        &self,
        replica: ReplicaId,
        from_seq: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, rollcall_core::SignedEvent)>, StoreError> {
        let mut read = Vec::new();
        self.each_value(replica, from_seq, limit, |seq, value| {
            let signed = codec::decode_signed_shared(bytes::Bytes::copy_from_slice(value))
                .map_err(|err| corrupt(replica, seq, err.to_string()))?;
            read.push((seq, signed));
            Ok(())
        })?;
        Ok(read)
    }

    /// The stored envelopes of `replica` from `from_seq`, undecoded but for their three
    /// parts: every value is copied once, into one buffer for the whole read, and each
    /// envelope's parts are views into it (a sender relays them as they are).
    fn read_raw(
        &self,
        replica: ReplicaId,
        from_seq: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, rollcall_core::SignedEvent)>, StoreError> {
        let mut values = bytes::BytesMut::new();
        let mut ends: Vec<(Seq, usize)> = Vec::new();
        self.each_value(replica, from_seq, limit, |seq, value| {
            if values.is_empty() {
                // Events of one replica are mostly of a size: reserve for the read at
                // once, up to a sync message's worth.
                values.reserve(value.len().saturating_mul(limit).min(READ_BYTES_RESERVED_MAX).max(value.len()));
            }
            values.extend_from_slice(value);
            ends.push((seq, values.len()));
            Ok(())
        })?;
        let values = values.freeze();
        let mut start = 0;
        ends.into_iter()
            .map(|(seq, end)| {
                let signed = codec::decode_signed_shared(values.slice(start..end))
                    .map_err(|err| corrupt(replica, seq, err.to_string()))?;
                start = end;
                Ok((seq, signed))
            })
            .collect()
    }

    /// Reads one event.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when the stored value fails its checks.
    pub fn get(&self, replica: ReplicaId, seq: Seq) -> Result<Option<VerifiedEvent>, StoreError> {
        self.get_checked(replica, seq, |signed| rollcall_core::verify(&signed))
    }

    /// Reads one event like [`Store::get`], with every check but the signature (as
    /// [`Store::read_log_without_signatures`]): for the event stream, whose consumers
    /// receive signed events they can verify, and which would otherwise verify every
    /// event it streams once per consumer.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when the stored value fails its checks.
    pub fn get_without_signature(&self, replica: ReplicaId, seq: Seq) -> Result<Option<VerifiedEvent>, StoreError> {
        self.get_checked(replica, seq, rollcall_core::recheck_stored)
    }

    fn get_checked(
        &self,
        replica: ReplicaId,
        seq: Seq,
        check: impl FnOnce(rollcall_core::SignedEvent) -> Result<VerifiedEvent, rollcall_core::VerifyError>,
    ) -> Result<Option<VerifiedEvent>, StoreError> {
        match self.db.get_cf(self.cf(CF_EVENTS), event_key(replica, seq)).map_err(|e| self.rocks(e))? {
            None => Ok(None),
            Some(value) => check_stored(replica, seq, &value, check).map(Some),
        }
    }

    /// Calls `visit` with every stored envelope, replica by replica in seq order, as raw
    /// bytes (for full verification by `rollcall verify`).
    ///
    /// # Errors
    ///
    /// The first error of RocksDB or of `visit`.
    pub fn for_each_raw<E: From<StoreError>>(
        &self,
        mut visit: impl FnMut(ReplicaId, Seq, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_EVENTS));
        iter.seek_to_first();
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if key.len() != 40 {
                return Err(
                    StoreError::CorruptIndex { what: "events", detail: format!("key of {} bytes", key.len()) }.into()
                );
            }
            let replica = ReplicaId(key[..32].try_into().expect("length checked above"));
            let seq = Seq(u64::from_be_bytes(key[32..].try_into().expect("length checked above")));
            visit(replica, seq, value)?;
            iter.next();
        }
        iter.status().map_err(|e| self.rocks(e))?;
        Ok(())
    }

    /// Writes a consistent copy of the store to `path` (a RocksDB checkpoint: hard links
    /// for the immutable files where the file system allows, copies otherwise), while
    /// the node keeps running. `path` must not exist.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if RocksDB refuses (e.g. `path` exists).
    pub fn checkpoint(&self, path: &Path) -> Result<(), StoreError> {
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(|e| self.rocks(e))?;
        checkpoint.create_checkpoint(path).map_err(|e| self.rocks(e))
    }

    /// Size of the live data on disk in bytes, as RocksDB estimates it.
    pub fn live_bytes(&self) -> u64 {
        COLUMN_FAMILIES
            .iter()
            .filter_map(|name| {
                self.db.property_int_value_cf(self.cf(name), "rocksdb.estimate-live-data-size").ok().flatten()
            })
            .sum()
    }

    /// Makes every [`Store::write_events`] fail (or succeed again), as a full disk would.
    /// Only for tests of what a failed write leaves behind.
    #[doc(hidden)]
    pub fn fail_writes_for_tests(&self, fail: bool) {
        self.fail_writes.store(fail, Ordering::Relaxed);
    }

    /// Tests only: makes the store look as an older version wrote it, without the
    /// `authority` index (the next writable open builds it again).
    ///
    /// # Errors
    ///
    /// [`StoreError::Rocks`] on write failure.
    pub fn forget_authority_index_for_tests(&self) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_META), META_AUTHORITY_INDEXED);
        batch.delete_range_cf(self.cf(CF_AUTHORITY), 0u64.to_be_bytes(), u64::MAX.to_be_bytes());
        self.db.write(batch).map_err(|e| self.rocks(e))
    }

    /// Tests only: overwrites a stored event's bytes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Rocks`] on write failure.
    pub fn corrupt_event_for_tests(&self, replica: ReplicaId, seq: Seq, value: &[u8]) -> Result<(), StoreError> {
        self.db.put_cf(self.cf(CF_EVENTS), event_key(replica, seq), value).map_err(|e| self.rocks(e))
    }

    /// Writes every column family's memtable to its files, so the WAL holds nothing
    /// the next open must replay (the writer does this when it stops).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if RocksDB refuses.
    pub fn flush_all(&self) -> Result<(), StoreError> {
        for name in COLUMN_FAMILIES {
            self.db.flush_cf(self.cf(name)).map_err(|e| self.rocks(e))?;
        }
        Ok(())
    }

    /// The enrollment, revocation and equivocation-proof events, in ingest order (the
    /// order in which they were admitted), to rebuild the authority at start-up.
    /// Each is fully verified; other events are only looked at, not verified.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on read failure or a corrupt entry.
    pub fn authority_events_in_ingest_order(&self) -> Result<Vec<VerifiedEvent>, StoreError> {
        let indexed = self.db.cf_handle(CF_AUTHORITY).is_some()
            && self.db.get_cf(self.cf(CF_META), META_AUTHORITY_INDEXED).map_err(|e| self.rocks(e))?.is_some();
        let positions = if indexed {
            let mut positions = Vec::new();
            let mut iter = self.db.raw_iterator_cf(self.cf(CF_AUTHORITY));
            iter.seek_to_first();
            while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
                positions.push(decode_authority_entry(key, value)?);
                iter.next();
            }
            iter.status().map_err(|e| self.rocks(e))?;
            positions
        } else {
            // A store of an older version opened read-only: scan.
            self.scan_authority_events()?
        };
        let events_cf = self.cf(CF_EVENTS);
        let mut out = Vec::with_capacity(positions.len());
        for (_, replica, seq) in positions {
            let key = event_key(replica, seq);
            let value = self
                .db
                .get_pinned_cf(events_cf, key)
                .map_err(|e| self.rocks(e))?
                .ok_or_else(|| corrupt(replica, seq, "indexed as an authority event but missing"))?;
            let event = check_stored(replica, seq, &value, |signed| rollcall_core::verify(&signed))?;
            if !rollcall_core::authority::Authority::changed_by(event.header().kind) {
                return Err(corrupt(replica, seq, "indexed as an authority event but of another kind"));
            }
            out.push(event);
        }
        Ok(out)
    }

    /// Every event that changes the enrollment state, by a scan of the whole ingest order:
    /// (ingest position, replica, seq).
    fn scan_authority_events(&self) -> Result<Vec<(u64, ReplicaId, Seq)>, StoreError> {
        let mut out = Vec::new();
        let events_cf = self.cf(CF_EVENTS);
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_INGEST));
        iter.seek_to_first();
        let mut previous: Option<IngestRun> = None;
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            let run = IngestRun::decode(key, value)?.after(previous.as_ref())?;
            previous = Some(run);
            for (position, replica, seq) in run.entries_from(0) {
                let value = self
                    .db
                    .get_pinned_cf(events_cf, event_key(replica, seq))
                    .map_err(|e| self.rocks(e))?
                    .ok_or_else(|| corrupt(replica, seq, "indexed in ingest order but missing"))?;
                let signed = codec::decode_signed(&value).map_err(|err| corrupt(replica, seq, err.to_string()))?;
                let header =
                    codec::decode_header(&signed.header).map_err(|err| corrupt(replica, seq, err.to_string()))?;
                if rollcall_core::authority::Authority::changed_by(header.kind) {
                    out.push((position, replica, seq));
                }
            }
            iter.next();
        }
        iter.status().map_err(|e| self.rocks(e))?;
        Ok(out)
    }

    /// Iterates ingest positions from `from` (inclusive): (position, replica, seq).
    ///
    /// # Errors
    ///
    /// [`StoreError`] on read failure or a malformed entry.
    pub fn ingest_range(&self, from: u64, limit: usize) -> Result<Vec<(u64, ReplicaId, Seq)>, StoreError> {
        let mut out = Vec::new();
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_INGEST));
        // The run holding `from` starts at or before it. The run before that one is read
        // too, so a read from any position sees an overlap there.
        iter.seek_for_prev(from.to_be_bytes());
        iter.status().map_err(|e| self.rocks(e))?;
        let mut previous: Option<IngestRun> = None;
        if iter.valid() {
            iter.prev();
            iter.status().map_err(|e| self.rocks(e))?;
            match (iter.key(), iter.value()) {
                (Some(key), Some(value)) => {
                    previous = Some(IngestRun::decode(key, value)?);
                    iter.next();
                }
                _ => iter.seek_to_first(),
            }
        } else {
            iter.seek_to_first();
        }
        while out.len() < limit {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else { break };
            let run = IngestRun::decode(key, value)?.after(previous.as_ref())?;
            let wanted = limit - out.len();
            out.extend(run.entries_from(from).take(wanted));
            previous = Some(run);
            iter.next();
        }
        iter.status().map_err(|e| self.rocks(e))?;
        Ok(out)
    }
}

/// How a read of one replica's log walks the `events` column family: it stops at the
/// replica's last key (RocksDB prunes what lies past it), and its blocks do not
/// displace the block cache (a sync sender streams a backlog once, far more than the
/// cache holds, and reads each block once).
fn range_read_options(replica: ReplicaId) -> rocksdb::ReadOptions {
    let mut options = rocksdb::ReadOptions::default();
    // Past every key of `replica` (its last seq's key followed by one byte), before
    // every key of the next replica.
    let mut past_last = event_key(replica, Seq(u64::MAX)).to_vec();
    past_last.push(0);
    options.set_iterate_upper_bound(past_last);
    options.fill_cache(false);
    options
}

/// The options of every column family: levels 0 and 1 uncompressed, Snappy below
/// (RocksDB's tuning guide's advice). A backlog streaming in is flushed to level 0 and
/// compacted into level 1 while it arrives; compressing it there took a third of the
/// flush thread, CPU taken from verification on a node's two cores. Levels 0 and 1 hold
/// the newest few hundred megabytes; what stays is compressed when compacted below.
fn column_family_options() -> Options {
    use rocksdb::DBCompressionType::{None as Uncompressed, Snappy};
    let mut options = Options::default();
    options.set_compression_per_level(&[Uncompressed, Uncompressed, Snappy, Snappy, Snappy, Snappy, Snappy]);
    options
}

/// Whether `dir` (created if missing, as opening the store would) takes files opened
/// for direct I/O: RocksDB checks only when it opens an existing store, and a new store
/// on a filesystem that refuses would fail at its first flush instead. The probe opens
/// a file the way RocksDB's flushes do and removes it.
fn direct_io_supported(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if std::fs::create_dir_all(dir).is_err() {
            return false;
        }
        let probe = dir.join("direct-io-probe.tmp");
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(&probe);
        let _ = std::fs::remove_file(&probe);
        opened.is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        false
    }
}

/// An entry of the `ingest` column family: `count` events of `replica`, seqs from
/// `first_seq` on, at positions from `first_position` on, one after the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IngestRun {
    first_position: u64,
    replica: ReplicaId,
    first_seq: Seq,
    count: u32,
}

impl IngestRun {
    fn one(position: u64, replica: ReplicaId, seq: Seq) -> IngestRun {
        IngestRun { first_position: position, replica, first_seq: seq, count: 1 }
    }

    /// Takes in the event at the next position, if it is the next seq of the run's replica.
    fn extend(&mut self, replica: ReplicaId, seq: Seq) -> bool {
        let follows = replica == self.replica && seq.0 == self.first_seq.0 + u64::from(self.count);
        if follows {
            self.count += 1;
        }
        follows
    }

    fn last_position(&self) -> u64 {
        self.first_position + u64::from(self.count) - 1
    }

    /// replica ‖ first seq, and ‖ count (u32 big-endian) for a run of more than one:
    /// a run of one is exactly a version-1 entry.
    fn encode_value(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(44);
        value.extend_from_slice(&self.replica.0);
        value.extend_from_slice(&self.first_seq.0.to_be_bytes());
        if self.count > 1 {
            value.extend_from_slice(&self.count.to_be_bytes());
        }
        value
    }

    fn decode(key: &[u8], value: &[u8]) -> Result<IngestRun, StoreError> {
        let bad = |detail: &str| StoreError::CorruptIndex { what: "ingest", detail: detail.into() };
        let first_position = u64::from_be_bytes(key.try_into().map_err(|_| bad("key is not 8 bytes"))?);
        let count = match value.len() {
            40 => 1,
            44 => u32::from_be_bytes(value[40..].try_into().expect("length checked")),
            _ => return Err(bad(&format!("value of {} bytes", value.len()))),
        };
        if count == 0 {
            return Err(bad("a run of no events"));
        }
        let replica = ReplicaId(value[..32].try_into().expect("length checked"));
        let first_seq = Seq(u64::from_be_bytes(value[32..40].try_into().expect("length checked")));
        let last = u64::from(count) - 1;
        if first_seq.0.checked_add(last).is_none() || first_position.checked_add(last).is_none() {
            return Err(bad("a run past the largest seq or position"));
        }
        Ok(IngestRun { first_position, replica, first_seq, count })
    }

    /// This run, read after `previous` in key order: refused when the two overlap (a
    /// position written twice, or a count too large), since the ingest order then says
    /// two things of one position.
    fn after(self, previous: Option<&IngestRun>) -> Result<IngestRun, StoreError> {
        match previous {
            Some(previous) if previous.last_position() >= self.first_position => Err(StoreError::CorruptIndex {
                what: "ingest",
                detail: format!(
                    "the run at position {} overlaps the run at {} (of {} events)",
                    self.first_position, previous.first_position, previous.count
                ),
            }),
            _ => Ok(self),
        }
    }

    /// The run's (position, replica, seq), from position `from` on.
    fn entries_from(self, from: u64) -> impl Iterator<Item = (u64, ReplicaId, Seq)> {
        let skip = from.saturating_sub(self.first_position).min(u64::from(self.count));
        (skip..u64::from(self.count)).map(move |i| (self.first_position + i, self.replica, Seq(self.first_seq.0 + i)))
    }
}

/// An entry of the authority index: (position, replica, seq).
fn decode_authority_entry(position: &[u8], value: &[u8]) -> Result<(u64, ReplicaId, Seq), StoreError> {
    let bad = || StoreError::CorruptIndex { what: "authority", detail: "malformed entry".into() };
    let position = u64::from_be_bytes(position.try_into().map_err(|_| bad())?);
    if value.len() != 40 {
        return Err(bad());
    }
    let replica = ReplicaId(value[..32].try_into().map_err(|_| bad())?);
    let seq = Seq(u64::from_be_bytes(value[32..].try_into().map_err(|_| bad())?));
    Ok((position, replica, seq))
}

/// The key of an event: replica then big-endian seq, so a replica's log is one range.
pub fn event_key(replica: ReplicaId, seq: Seq) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(&replica.0);
    key[32..].copy_from_slice(&seq.0.to_be_bytes());
    key
}

fn encode_head(event: &VerifiedEvent) -> [u8; 52] {
    let mut value = [0u8; 52];
    value[..8].copy_from_slice(&event.seq().0.to_be_bytes());
    value[8..40].copy_from_slice(&event.hash().0);
    value[40..48].copy_from_slice(&event.header().hlc.wall_ms.to_be_bytes());
    value[48..].copy_from_slice(&event.header().hlc.logical.to_be_bytes());
    value
}

fn decode_head(replica: ReplicaId, value: &[u8]) -> Result<StoredHead, StoreError> {
    if value.len() != 52 {
        return Err(StoreError::CorruptIndex { what: "heads", detail: format!("value of {} bytes", value.len()) });
    }
    let seq = Seq(u64::from_be_bytes(value[..8].try_into().expect("length checked")));
    let hash = EventHash(value[8..40].try_into().expect("length checked"));
    let wall_ms = u64::from_be_bytes(value[40..48].try_into().expect("length checked"));
    let logical = u32::from_be_bytes(value[48..].try_into().expect("length checked"));
    Ok(StoredHead { replica, head: Head { seq, hash }, last_time: HlcTime { wall_ms, logical } })
}

/// Events read in seq order, each checked, must match their keys and chain.
fn chain_checked(
    replica: ReplicaId,
    checked: impl Iterator<Item = (Seq, Result<VerifiedEvent, rollcall_core::VerifyError>)>,
) -> Result<Vec<VerifiedEvent>, StoreError> {
    let mut events: Vec<VerifiedEvent> = Vec::with_capacity(checked.size_hint().0);
    for (seq, result) in checked {
        let event = result.map_err(|err| corrupt(replica, seq, err.to_string()))?;
        if event.replica() != replica || event.seq() != seq {
            return Err(corrupt(replica, seq, "header does not match its key"));
        }
        if let Some(previous) = events.last()
            && event.header().prev != previous.hash()
        {
            return Err(corrupt(replica, seq, "prev does not match the stored previous event"));
        }
        events.push(event);
    }
    Ok(events)
}

fn corrupt(replica: ReplicaId, seq: Seq, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { replica: replica.to_hex(), seq: seq.0, detail: detail.into() }
}

/// Decodes a stored envelope, checks it with `check` (fully: [`rollcall_core::verify`])
/// and against its key: what was verified on the way in is verified again on the way out.
fn check_stored(
    replica: ReplicaId,
    seq: Seq,
    value: &[u8],
    check: impl FnOnce(rollcall_core::SignedEvent) -> Result<VerifiedEvent, rollcall_core::VerifyError>,
) -> Result<VerifiedEvent, StoreError> {
    let signed = codec::decode_signed(value).map_err(|err| corrupt(replica, seq, err.to_string()))?;
    let event = check(signed).map_err(|err| corrupt(replica, seq, err.to_string()))?;
    if event.replica() != replica || event.seq() != seq {
        return Err(corrupt(replica, seq, "header does not match its key"));
    }
    Ok(event)
}
