//! rollcall-server: the shell around `rollcall-core`. It owns every socket, file, TLS
//! session and clock reading of a node; it makes no protocol decisions of its own.
//!
//! # Layout
//!
//! - [`config`]: `rollcall.toml`, key files, `init`.
//! - [`store`]: RocksDB column families; atomic, synced writes; verified reads.
//! - [`writer`]: the single writer thread with group commit.
//! - [`tls`]: mutual TLS by Ed25519 key.
//! - [`rpc`]: tonic services and the one error-to-status mapping.
//! - [`node`]: opening a node and serving it on a stream of connections.
//! - [`telemetry`]: the tracing subscriber (installed by binaries only).

pub mod config;
pub mod connect;
pub mod node;
pub mod rpc;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod writer;

pub use node::{Node, NodeError, tls_incoming};
