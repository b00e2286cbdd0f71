//! rollcall-client: the typed client library behind the `rollcall` CLI.
//!
//! - [`target`]: how the CLI finds a node (its address, its key, the operator key).
//! - [`verify`]: full verification of a node's store (`rollcall verify`).
//! - [`sample`]: sample audit events for the demo and benchmarks.
//! - [`i18n`]: Chinese by default, English on request.
//!
//! It depends on `rollcall-server` only to read a store and to reuse its TLS connector.

pub mod fields;
pub mod i18n;
pub mod sample;
pub mod target;
pub mod verify;

pub use rollcall_proto::v1::node_client::NodeClient;
