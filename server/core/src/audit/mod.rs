//! The audit itself (DOMAIN.md): the rules of the notice's five tasks, and what a node
//! derives from its events — member state, disposition cases, rollups, tables 1-3, the
//! registers and deadline status.
//!
//! - [`dates`]: calendar arithmetic (China Standard Time, whole months).
//! - [`member`]: one member's state, merged order-independently; its derived view.
//! - [`case`]: the disposition procedure as a state machine over recorded steps.
//! - [`stats`]: metrics, one member's contribution, per-unit counters.
//! - [`projection`]: all of the above for every member of a node, with undo.
//! - [`rules`]: what may be authored (refusals in Chinese and English).
//! - [`tables`]: tables 1-3 and the registers as data-driven templates, with checks.
//! - [`deadlines`]: done / on track / at risk / overdue, and why.
//!
//! Invariant: everything here is a deterministic function of the set of events applied
//! and of the values passed in (`now`, the author's level); nothing reads a clock.

pub mod case;
pub mod dates;
pub mod deadlines;
pub mod member;
pub mod policy;
pub mod projection;
pub mod rules;
pub mod stats;
pub mod tables;

pub use projection::Projection;
pub use rules::{AuthorContext, RuleViolation};
