//! rollcall-core: the pure engine of rollcall.
//!
//! rollcall keeps the audit of Party members' organisational relationships as
//! append-only, Ed25519-signed, hash-chained event logs, and syncs them up and down
//! the organisation tree (province → university → college → branch).
//!
//! # Vocabulary
//!
//! One word, one meaning, in code, proto fields, log fields and CLI flags:
//!
//! - **replica**: one log writer (a node or a laptop), identified by its Ed25519 public
//!   key ([`ReplicaId`]).
//! - **event**: a signed [`Header`] plus an optional body. The header names the
//!   previous event's hash (`prev`), so a replica's log is a hash chain.
//! - **stub**: an event without its body; the header still binds the body by hash.
//! - **head**: the last seq and hash of a replica's log ([`Head`]).
//! - **append**: add an event to the local log (authored here, signed here).
//! - **persist**: make durable (the shell's job; the core never assumes it happened).
//! - **apply**: fold an event into a projection.
//! - **sync**: exchange events between nodes.
//! - **unit path**: where in the organisation tree an event belongs ([`UnitPath`]).
//!
//! # Invariants
//!
//! - No I/O, no clock, no randomness, no async: the shell passes `now` and fresh ids in.
//!   Same inputs give the same outputs and the same bytes.
//! - [`codec`] is the only producer of bytes that are signed or stored.
//! - A [`VerifiedEvent`] can only be built by [`verify`] (or by signing, in [`log`]),
//!   so a function that takes one never needs to re-check signature or body hash.
//!
//! # Layout
//!
//! [`event`] types, [`unit`] paths and levels, [`hlc`] clock, [`codec`] bytes,
//! [`body`] domain payloads, [`verify`] checks, [`log`] chains and authoring,
//! [`limits`] every bound, [`authority`] who may write what, [`scope`] what each
//! replica may hold, [`sync`] what to send and what to accept,
//! [`conflict`] concurrent corrections of one field.

#![warn(missing_docs)]

pub mod audit;
pub mod authority;
pub mod body;
pub mod codec;
pub mod conflict;
pub mod event;
pub mod hlc;
pub mod limits;
pub mod log;
pub mod recovery;
pub mod scope;
pub mod sync;
pub mod trail;
pub mod unit;
pub mod verify;

pub use event::{BodyHash, EventHash, EventId, FORMAT_VERSION, Header, ReplicaId, Seq, SignedEvent, VerifiedEvent};
pub use hlc::{Hlc, HlcTime};
pub use log::{ChainError, Draft, Head, LocalWriter};
pub use rollcall_proto::v1 as proto;
pub use rollcall_proto::v1::EventKind;
pub use unit::{Level, UnitPath, UnitPathError};
pub use verify::{Refused, VerifyError, recheck_stored, verify, verify_many, verify_many_owned};
