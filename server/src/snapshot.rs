//! Durable snapshots of the projection, so a node that restarts reads its state instead
//! of replaying its whole history (a province of 3,000,000 members: minutes of replay).
//!
//! A snapshot is one file beside the store (`<store>.projection-snapshot`): a magic line,
//! then length-prefixed frames — a header, the projection without its members, the
//! members in chunks — and a SHA-256 of everything before it. The header names the
//! ingest position the snapshot was taken at, the event stored there (replica, seq,
//! hash), the head of every log the store held then (replica, seq, hash), the scope, the
//! snapshot format and the release that wrote it.
//!
//! Invariants:
//! - A snapshot is a cache of the store, never a source: it is taken by the writer
//!   thread between groups (the projection then equals the store up to the last ingest
//!   position exactly), written to a temporary file, synced and renamed, so a crash
//!   leaves the previous snapshot or the new one whole.
//! - It is used only if every check passes: the magic and the digest (a torn or altered
//!   file), the format and the release (a projection's meaning may change between
//!   releases), the scope, the position not beyond the store's, the store holding at
//!   that position the very event the snapshot names, and the same history before it:
//!   the heads' seqs add up to the position and the store holds each head's event
//!   (each log is a hash chain held without gaps, so a head names its whole prefix and
//!   the prefixes are exactly the events at positions up to the snapshot's); the tail
//!   replayed after it holds none of those events ([`Restored::covers`]). A store
//!   restored from a backup, replaced, or fed another fork of some log diverges there.
//!   Otherwise the node rebuilds from the log as before and says why; nothing is lost
//!   either way.
//! - Restoring a snapshot and applying the events ingested after its position gives the
//!   projection a full rebuild gives (`==`; tested in `tests/snapshot.rs`), because the
//!   projection is a function of the set of events applied.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rollcall_core::UnitPath;
use rollcall_core::audit::Projection;
use rollcall_core::audit::projection::MemberRecord;
use rollcall_core::event::ReplicaId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

/// Bump when the projection's serialized shape or meaning changes without a release
/// number changing (the release is checked too).
pub const FORMAT: u32 = 9;

const MAGIC: &[u8] = b"rollcall projection snapshot\n";
const MEMBERS_PER_FRAME: usize = 20_000;
/// No member takes fewer bytes in a snapshot: room is reserved up front for the members
/// the header announces, but never for more than the file could hold (a corrupt count
/// must not reserve the machine's memory before the digest refuses it).
const MEMBER_BYTES_MIN: u64 = 16;
/// A frame larger than this is a corrupt length, not a frame.
const FRAME_BYTES_MAX: u32 = 512 << 20;

/// Where the snapshot of the store at `store_path` lives.
pub fn path_for(store_path: &Path) -> PathBuf {
    let mut name = store_path.file_name().map(|name| name.to_os_string()).unwrap_or_else(|| "store".into());
    name.push(".projection-snapshot");
    store_path.with_file_name(name)
}

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file system refused.
    #[error("snapshot file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The projection could not be encoded.
    #[error("snapshot encoding: {0}")]
    Encode(#[from] postcard::Error),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An event the store holds (at the snapshot's position, or at the head of a log): what
/// ties a snapshot to one history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PositionEvent {
    replica: ReplicaId,
    seq: u64,
    hash: [u8; 32],
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    release: String,
    scope: Option<UnitPath>,
    position: u64,
    event: Option<PositionEvent>,
    /// The head of every log held at `position`, by replica.
    heads: Vec<PositionEvent>,
    members: u64,
}

/// The event the store holds at `position` (`None` at position 0: an empty store).
fn event_at(store: &Store, position: u64) -> Result<Option<PositionEvent>, StoreError> {
    if position == 0 {
        return Ok(None);
    }
    let Some((at, replica, seq)) = store.ingest_range(position, 1)?.into_iter().next() else { return Ok(None) };
    if at != position {
        return Ok(None);
    }
    Ok(store.get_without_signature(replica, seq)?.map(|event| PositionEvent {
        replica,
        seq: seq.0,
        hash: event.hash().0,
    }))
}

/// What writing a snapshot did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The ingest position it reflects.
    pub position: u64,
    /// Members stored.
    pub members: u64,
    /// Size of the file.
    pub bytes: u64,
    /// Milliseconds taken.
    pub millis: u64,
}

/// A writer that hashes what it writes.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_frame(out: &mut impl Write, frame: &[u8]) -> std::io::Result<()> {
    // A frame the reader would refuse is not written: the write fails and the snapshot
    // on disk stays as it was, instead of a file every start would discard.
    let length = u32::try_from(frame.len()).ok().filter(|length| *length <= FRAME_BYTES_MAX).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a frame of {} bytes", frame.len()))
    })?;
    out.write_all(&length.to_be_bytes())?;
    out.write_all(frame)
}

/// Writes the snapshot of `projection`, which must reflect exactly the store's events up
/// to ingest `position`, to `path` (through a temporary file, synced, then renamed).
///
/// # Errors
///
/// [`SnapshotError`]; the previous snapshot, if any, is then left as it was.
pub fn write(path: &Path, projection: &Projection, store: &Store, position: u64) -> Result<Written, SnapshotError> {
    write_framed(path, projection, store, position, MEMBERS_PER_FRAME)
}

/// [`write`] with `members_per_frame` members in each frame (tests use small frames to
/// exercise a snapshot of many frames with few members).
///
/// # Errors
///
/// As [`write`].
pub fn write_framed(
    path: &Path,
    projection: &Projection,
    store: &Store,
    position: u64,
    members_per_frame: usize,
) -> Result<Written, SnapshotError> {
    let members_per_frame = members_per_frame.max(1);
    let started = Instant::now();
    let temporary = path.with_extension("projection-snapshot.partial");
    let io = |source| SnapshotError::Io { path: temporary.clone(), source };
    let file = File::create(&temporary).map_err(io)?;
    let mut out = Hashing { inner: BufWriter::with_capacity(1 << 20, file), hasher: Sha256::new(), bytes: 0 };
    let header = Header {
        format: FORMAT,
        release: env!("CARGO_PKG_VERSION").to_owned(),
        scope: projection.scope().cloned(),
        position,
        event: event_at(store, position)?,
        heads: store
            .heads()?
            .into_iter()
            .map(|held| PositionEvent { replica: held.replica, seq: held.head.seq.0, hash: held.head.hash.0 })
            .collect(),
        members: projection.member_count() as u64,
    };
    let result = (move || -> Result<u64, SnapshotError> {
        out.write_all(MAGIC).map_err(io)?;
        write_frame(&mut out, &postcard::to_allocvec(&header)?).map_err(io)?;
        write_frame(&mut out, &postcard::to_allocvec(projection)?).map_err(io)?;
        let mut records = projection.member_records().peekable();
        let mut chunk: Vec<(&str, &MemberRecord)> = Vec::with_capacity(members_per_frame);
        let mut frame = Vec::new();
        while records.peek().is_some() {
            chunk.clear();
            chunk.extend(records.by_ref().take(members_per_frame));
            frame.clear();
            frame = postcard::to_extend(&chunk, frame)?;
            write_frame(&mut out, &frame).map_err(io)?;
        }
        out.write_all(&0u32.to_be_bytes()).map_err(io)?;
        let digest = out.hasher.clone().finalize();
        out.inner.write_all(&digest).map_err(io)?;
        let file = out.inner.into_inner().map_err(|error| io(error.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(out.bytes + 32)
    })();
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            return Err(error);
        }
    };
    std::fs::rename(&temporary, path).map_err(|source| SnapshotError::Io { path: path.to_owned(), source })?;
    if let Some(directory) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        File::open(directory)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| SnapshotError::Io { path: directory.to_owned(), source })?;
    }
    Ok(Written {
        position,
        members: projection.member_count() as u64,
        bytes,
        millis: started.elapsed().as_millis() as u64,
    })
}

/// A snapshot read back, checked against the store.
#[derive(Debug)]
pub struct Restored {
    /// The projection as it was at `position`.
    pub projection: Projection,
    /// The ingest position it reflects.
    pub position: u64,
    /// The last seq of each log it reflects.
    pub heads: std::collections::HashMap<ReplicaId, u64>,
    /// Milliseconds taken to read it.
    pub millis: u64,
}

impl Restored {
    /// Whether the snapshot reflects event `seq` of `replica` already: an event the
    /// store ingested after the snapshot's position must not be one of these.
    pub fn covers(&self, replica: ReplicaId, seq: u64) -> bool {
        self.heads.get(&replica).is_some_and(|head| seq <= *head)
    }
}

/// Why a snapshot was not used (the node then rebuilds from the log).
#[derive(Debug)]
pub enum Unusable {
    /// There is none.
    Absent,
    /// There is one, but it does not pass a check (said in English, for the log).
    Refused(String),
}

/// A reader that hashes what it reads.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        self.inner.read_exact(buf)?;
        self.hasher.update(&*buf);
        Ok(())
    }
    fn frame(&mut self, buf: &mut Vec<u8>) -> Result<bool, String> {
        let mut length = [0u8; 4];
        self.exact(&mut length).map_err(|error| format!("the file ends early: {error}"))?;
        let length = u32::from_be_bytes(length);
        if length == 0 {
            return Ok(false);
        }
        if length > FRAME_BYTES_MAX {
            return Err(format!("a frame of {length} bytes"));
        }
        buf.resize(length as usize, 0);
        self.exact(buf).map_err(|error| format!("the file ends early: {error}"))?;
        Ok(true)
    }
}

/// Reads the member frames and the digest after them into `projection`; returns the
/// number of members. The file is read and hashed on one thread, the frames decoded on
/// two others, and the records put into the projection on this one, so loading takes
/// what the slowest of these takes rather than their sum.
fn read_members<R: Read + Send>(mut input: HashingReader<R>, projection: &mut Projection) -> Result<u64, String> {
    use std::sync::mpsc::sync_channel;
    use std::sync::{Arc, Mutex};
    const IN_FLIGHT: usize = 4;
    let (frames, frames_received) = sync_channel::<Vec<u8>>(IN_FLIGHT);
    let frames_received = Arc::new(Mutex::new(frames_received));
    let (chunks, chunks_received) = sync_channel::<Result<Vec<(String, MemberRecord)>, String>>(IN_FLIGHT);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> Result<(), String> {
            loop {
                let mut frame = Vec::new();
                if !input.frame(&mut frame)? {
                    break;
                }
                if frames.send(frame).is_err() {
                    return Ok(()); // the decoders stopped: an error is on its way
                }
            }
            drop(frames);
            let computed = input.hasher.clone().finalize();
            let mut digest = [0u8; 32];
            input.inner.read_exact(&mut digest).map_err(|_| "the file ends before its digest".to_owned())?;
            if computed.as_slice() != digest {
                return Err("its digest does not match its contents".into());
            }
            if input.inner.read(&mut [0u8; 1]).map_err(|error| error.to_string())? != 0 {
                return Err("bytes after the digest".into());
            }
            Ok(())
        });
        for _ in 0..2 {
            let frames_received = Arc::clone(&frames_received);
            let chunks = chunks.clone();
            scope.spawn(move || {
                loop {
                    let frame = match frames_received.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    let Ok(frame) = frame else { return };
                    let chunk = postcard::from_bytes::<Vec<(String, MemberRecord)>>(&frame)
                        .map_err(|error| format!("members: {error}"));
                    let failed = chunk.is_err();
                    if chunks.send(chunk).is_err() || failed {
                        return;
                    }
                }
            });
        }
        // Only the decoders may hold the frames' receiver: when they stop (an error), the
        // reader's next send fails and it ends, instead of waiting forever on a full
        // channel while this thread waits for it.
        drop(frames_received);
        drop(chunks);
        let mut members = 0u64;
        let mut failure = None;
        for chunk in chunks_received {
            match chunk {
                Ok(chunk) => {
                    members += chunk.len() as u64;
                    projection.restore_members(chunk);
                }
                Err(error) => {
                    failure = Some(error);
                    break; // dropping the receiver stops the decoders, then the reader
                }
            }
        }
        let read = reader.join().map_err(|_| "the snapshot reader panicked".to_owned())?;
        match failure {
            Some(error) => Err(error),
            None => read.map(|()| members),
        }
    })
}

/// Reads the snapshot at `path` if it is usable for `store` and a projection of `scope`.
///
/// # Errors
///
/// [`Unusable`]: absent, or the check it failed.
pub fn read(path: &Path, store: &Store, scope: Option<&UnitPath>) -> Result<Restored, Unusable> {
    let started = Instant::now();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Absent),
        Err(error) => return Err(Unusable::Refused(format!("cannot be opened: {error}"))),
    };
    let refused = Unusable::Refused;
    let mut input = HashingReader { inner: BufReader::with_capacity(1 << 20, file), hasher: Sha256::new() };
    let mut magic = vec![0u8; MAGIC.len()];
    input.exact(&mut magic).map_err(|_| refused("not a snapshot".into()))?;
    if magic != MAGIC {
        return Err(refused("not a snapshot".into()));
    }
    let mut frame = Vec::new();
    if !input.frame(&mut frame).map_err(refused)? {
        return Err(refused("no header".into()));
    }
    // The format comes first in every format's header: an older one is refused as such.
    let (format, _) = postcard::take_from_bytes::<u32>(&frame).map_err(|error| refused(format!("header: {error}")))?;
    if format != FORMAT {
        return Err(refused(format!("written in snapshot format {format}, this release reads format {FORMAT}")));
    }
    let header: Header = postcard::from_bytes(&frame).map_err(|error| refused(format!("header: {error}")))?;
    if header.format != FORMAT || header.release != env!("CARGO_PKG_VERSION") {
        return Err(refused(format!(
            "written by release {} (format {}), this is {} (format {FORMAT})",
            header.release,
            header.format,
            env!("CARGO_PKG_VERSION")
        )));
    }
    if header.scope.as_ref() != scope {
        return Err(refused(format!("its scope is {:?}, the node's {:?}", header.scope, scope)));
    }
    let last = store.last_ingest_position().map_err(|error| refused(error.to_string()))?;
    if header.position > last {
        return Err(refused(format!(
            "taken at ingest position {}, beyond the store's last ({last}): the store was replaced or restored",
            header.position
        )));
    }
    let stored = event_at(store, header.position).map_err(|error| refused(error.to_string()))?;
    if stored != header.event {
        return Err(refused(format!(
            "the store holds another event at ingest position {}: the store was replaced or restored",
            header.position
        )));
    }
    let heads = same_history(store, &header).map_err(refused)?;
    if !input.frame(&mut frame).map_err(refused)? {
        return Err(refused("no projection".into()));
    }
    let mut projection: Projection =
        postcard::from_bytes(&frame).map_err(|error| refused(format!("projection: {error}")))?;
    let file_bytes = std::fs::metadata(path).map_or(0, |metadata| metadata.len());
    projection.reserve_members(usize::try_from(header.members.min(file_bytes / MEMBER_BYTES_MIN)).unwrap_or(0));
    let members = read_members(input, &mut projection).map_err(refused)?;
    if members != header.members || projection.member_count() as u64 != members {
        return Err(refused(format!("{members} members stored, the header says {}", header.members)));
    }
    Ok(Restored { projection, position: header.position, heads, millis: started.elapsed().as_millis() as u64 })
}

/// Checks that the store held, up to the header's position, the events the snapshot
/// reflects: the heads' seqs add up to the position (every log is held from seq 1
/// without gaps, each event at one position) and the store holds each head's event
/// (a log is a hash chain: its head names every event before it). With the tail
/// holding none of them (checked as it is replayed), the events at positions up to the
/// snapshot's are exactly these. Returns the heads by replica.
fn same_history(store: &Store, header: &Header) -> Result<std::collections::HashMap<ReplicaId, u64>, String> {
    let total = header.heads.iter().try_fold(0u64, |total, head| total.checked_add(head.seq));
    if total != Some(header.position) {
        let total = total.map_or_else(|| "more than 2^64".to_owned(), |total| total.to_string());
        return Err(format!("its logs' heads hold {total} events, its position is {}", header.position));
    }
    let mut heads = std::collections::HashMap::with_capacity(header.heads.len());
    for head in &header.heads {
        let held = store
            .get_without_signature(head.replica, rollcall_core::Seq(head.seq))
            .map_err(|error| error.to_string())?
            .map(|event| event.hash().0);
        if held != Some(head.hash) {
            return Err(format!(
                "the store holds another history of log {} (seq {}): the store was replaced or restored",
                head.replica.short(),
                head.seq
            ));
        }
        if heads.insert(head.replica, head.seq).is_some() {
            return Err(format!("log {} named twice", head.replica.short()));
        }
    }
    Ok(heads)
}
