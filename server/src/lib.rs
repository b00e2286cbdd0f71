//! rollcall-server: the shell around `rollcall-core`. It owns every socket, file, TLS
//! session and clock reading of a node; it makes no protocol decisions of its own.
//!
//! # Layout
//!
//! - [`config`]: `rollcall.toml`, key files, `init`.
//! - [`bundle`]: enrollment bundles handed from a parent to a new child.
//! - [`store`]: RocksDB column families; atomic, synced writes; verified reads.
//! - [`writer`]: the single writer thread with group commit; applies the audit rules
//!   and keeps the projection current.
//! - [`projection`]: the node's projection, read from its snapshot or rebuilt at start.
//! - [`snapshot`]: durable snapshots of the projection at an ingest position.
//! - [`queries`]: answers about members, rollups, tables, registers and deadlines.
//! - [`tls`]: mutual TLS by Ed25519 key.
//! - [`rpc`]: tonic services and the one error-to-status mapping.
//! - [`sync`]: sync sessions between a child and its parent.
//! - [`subscribe`]: the event stream for consumers, from a cursor, then live.
//! - [`node`]: opening a node, serving it, and the link to its parent.
//! - [`export`]: tables and registers as XLSX and CSV (CLI and dashboard).
//! - [`dashboard`]: the web dashboard and Prometheus metrics over HTTP.
//! - [`telemetry`]: the tracing subscriber (installed by binaries only).

pub mod bundle;
pub mod config;
pub mod connect;
pub mod dashboard;
pub mod dossier;
pub mod export;
pub mod jetstream;
pub mod metrics;
pub mod node;
pub mod pdf;
pub mod projection;
pub mod queries;
pub mod recovery;
pub mod reports;
pub mod rpc;
pub mod snapshot;
pub mod store;
pub mod subscribe;
pub mod sync;
pub mod telemetry;
pub mod tls;
pub mod writer;

pub use node::{Node, NodeError, tls_incoming};
