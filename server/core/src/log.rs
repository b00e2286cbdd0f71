//! The log rules: heads, chain order, and authoring new events.
//!
//! A replica's log is the gapless sequence seq 1, 2, 3, ... in which each header names
//! the SHA-256 of the previous header (`prev`; all zeros for seq 1).
//!
//! Invariant: an event enters a log only as a [`VerifiedEvent`] for which
//! [`check_next`] returned `Ok` against the current head.
//!
//! Authoring is split in two so the shell can sign on several cores: [`LocalWriter::prepare`]
//! assigns seq, prev and time serially (cheap), and [`PreparedEvent::sign`] does the
//! Ed25519 work, in any order, on any thread.

use bytes::Bytes;
use ed25519_dalek::{Signer, SigningKey};

use crate::EventKind;
use crate::body::{Body, BodyError};
use crate::codec;
use crate::event::{EventHash, EventId, FORMAT_VERSION, Header, ReplicaId, Seq, VerifiedEvent};
use crate::hlc::{Hlc, HlcTime};
use crate::limits::{AUTHOR_BYTES_MAX, BODY_BYTES_MAX};
use crate::unit::UnitPath;

/// The end of a replica's log as held by some node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// The last seq held; 0 when nothing is held.
    pub seq: Seq,
    /// The hash of that event; zeros when nothing is held.
    pub hash: EventHash,
}

impl Head {
    /// The head of an empty log.
    pub const EMPTY: Head = Head { seq: Seq(0), hash: EventHash([0; 32]) };

    /// The head after `event`.
    pub fn of(event: &VerifiedEvent) -> Head {
        Head { seq: event.seq(), hash: event.hash() }
    }
}

/// Why an event cannot extend a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The event is for another replica's log.
    #[error("event belongs to replica {found:?}, not {expected:?}")]
    WrongReplica {
        /// The log being extended.
        expected: ReplicaId,
        /// The event's replica.
        found: ReplicaId,
    },
    /// A seq is missing between the head and the event.
    #[error("gap in the log: expected seq {expected}, found {found}")]
    Gap {
        /// The next seq the log needs.
        expected: Seq,
        /// The event's seq.
        found: Seq,
    },
    /// The event is at or before the head: already held (or a fork, see `prev`).
    #[error("seq {found} is not after the head {head}")]
    NotAfterHead {
        /// The head.
        head: Seq,
        /// The event's seq.
        found: Seq,
    },
    /// The event's `prev` is not the hash of the head: a broken chain or a fork.
    #[error("prev of seq {seq} does not match the hash of seq {}", seq.0 - 1)]
    PrevMismatch {
        /// The event's seq.
        seq: Seq,
    },
}

/// Checks that `event` is the next event of the log whose head is `head`.
///
/// # Errors
///
/// [`ChainError`] names the break.
pub fn check_next(replica: ReplicaId, head: &Head, event: &VerifiedEvent) -> Result<(), ChainError> {
    if event.replica() != replica {
        return Err(ChainError::WrongReplica { expected: replica, found: event.replica() });
    }
    let expected = Seq(head.seq.0 + 1);
    if event.seq() <= head.seq {
        return Err(ChainError::NotAfterHead { head: head.seq, found: event.seq() });
    }
    if event.seq() != expected {
        return Err(ChainError::Gap { expected, found: event.seq() });
    }
    if event.header().prev != head.hash {
        return Err(ChainError::PrevMismatch { seq: event.seq() });
    }
    Ok(())
}

/// What a person asks to append: the header fields the author chooses, and the body.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    /// The unit the event is about.
    pub unit_path: UnitPath,
    /// The kind; must match the body.
    pub kind: EventKind,
    /// The body bytes (the kind's message, encoded).
    pub body: Bytes,
    /// The person acting.
    pub author: String,
}

/// Why a draft cannot be appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    /// The body is larger than `BODY_BYTES_MAX`.
    #[error("body is {len} bytes, more than {max}")]
    BodyTooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The author identifier is longer than `AUTHOR_BYTES_MAX`.
    #[error("author is {len} bytes, more than {max}")]
    AuthorTooLong {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body is not the message of the kind.
    #[error(transparent)]
    Body(#[from] BodyError),
}

impl Draft {
    /// Checks the draft's sizes and that its body is its kind's message.
    ///
    /// # Errors
    ///
    /// [`DraftError`] names what is wrong.
    pub fn check(&self) -> Result<(), DraftError> {
        if self.body.len() > BODY_BYTES_MAX {
            return Err(DraftError::BodyTooLarge { len: self.body.len(), max: BODY_BYTES_MAX });
        }
        if self.author.len() > AUTHOR_BYTES_MAX {
            return Err(DraftError::AuthorTooLong { len: self.author.len(), max: AUTHOR_BYTES_MAX });
        }
        Body::decode(self.kind, &self.body)?;
        Ok(())
    }
}

/// An event with seq, prev and time assigned, not yet signed.
#[derive(Clone, Debug)]
pub struct PreparedEvent {
    header: Header,
    header_bytes: Bytes,
    body: Bytes,
}

impl PreparedEvent {
    /// Signs the header bytes. Pure and thread-safe: the shell may sign a batch in parallel.
    pub fn sign(self, key: &SigningKey) -> VerifiedEvent {
        debug_assert_eq!(key.verifying_key().to_bytes(), self.header.replica.0);
        let signature = Bytes::copy_from_slice(&key.sign(&self.header_bytes).to_bytes());
        VerifiedEvent {
            hash: codec::event_hash(&self.header_bytes),
            header: self.header,
            header_bytes: self.header_bytes,
            signature,
            body: Some(self.body),
        }
    }

    /// The header that will be signed.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// Authors events for the local replica: assigns seq, prev and hybrid-logical time.
///
/// Invariant: `head` is the head of the local log including every prepared event;
/// if the shell fails to persist prepared events it must rebuild the writer from the
/// stored head.
#[derive(Clone, Debug)]
pub struct LocalWriter {
    replica: ReplicaId,
    head: Head,
    hlc: Hlc,
}

impl LocalWriter {
    /// A writer continuing the stored log whose head is `head` and whose last time was `last`.
    pub fn new(replica: ReplicaId, head: Head, last: HlcTime) -> LocalWriter {
        LocalWriter { replica, head, hlc: Hlc::starting_at(last) }
    }

    /// The head including every prepared event.
    pub fn head(&self) -> Head {
        self.head
    }

    /// The replica this writer authors for.
    pub fn head_replica(&self) -> ReplicaId {
        self.replica
    }

    /// Lets later local events order after a time seen from a peer.
    pub fn observe(&mut self, remote: HlcTime) {
        self.hlc.observe(remote);
    }

    /// Continues after `event`, an event of this log that a peer sent back (a node
    /// restored from a backup older than its log hears its later events from the nodes
    /// that hold them): the next event chains after it and is stamped later. An event at
    /// or below the head changes only the clock. The caller has verified the event
    /// against the stored chain.
    pub fn continue_after(&mut self, event: &VerifiedEvent) {
        debug_assert_eq!(event.replica(), self.replica, "only this log's own events");
        if event.seq() > self.head.seq {
            self.head = Head::of(event);
        }
        self.hlc.observe(event.header().hlc);
    }

    /// Prepares the next event. `now_ms` is the physical clock; `event_id` a fresh UUIDv7.
    ///
    /// # Errors
    ///
    /// [`DraftError`] when the draft is invalid; the writer is then unchanged.
    pub fn prepare(&mut self, now_ms: u64, event_id: EventId, draft: Draft) -> Result<PreparedEvent, DraftError> {
        draft.check()?;
        let header = Header {
            format_version: FORMAT_VERSION,
            event_id,
            replica: self.replica,
            seq: Seq(self.head.seq.0 + 1),
            prev: self.head.hash,
            hlc: self.hlc.tick(now_ms),
            unit_path: draft.unit_path,
            kind: draft.kind,
            body_hash: codec::body_hash(&draft.body),
            author: draft.author,
        };
        let header_bytes = codec::encode_header(&header);
        self.head = Head { seq: header.seq, hash: codec::event_hash(&header_bytes) };
        Ok(PreparedEvent { header, header_bytes, body: draft.body })
    }
}
