//! rollcall-client: the typed client library behind the `rollcall` CLI.
//!
//! - [`target`]: how the CLI finds a node (its address, its key, the operator key).
//! - [`verify`]: full verification of a node's store (`rollcall verify`).
//! - [`sample`]: sample audit events for benchmarks.
//! - [`generate`]: a realistic province from a seed (members, histories, cases at every stage).
//! - [`i18n`]: Chinese by default, English on request.
//! - [`backend`]: one interface over a remote node and this laptop's embedded node.
//! - [`render`]: aligned tables for people (tables, rollups, deadlines, members).
//! - [`export`]: tables and registers as XLSX and CSV.
//! - [`import`]: the per-member form and the statistics-database export, cell by cell.
//! - [`record`]: one subcommand per task of the notice, each building one event body.
//! - [`commands`]: recording, importing and comparing over a backend.
//! - [`demo`]: a whole province of real node processes on this machine (`rollcall demo`).
//!
//! It depends on `rollcall-server` only to read a store and to reuse its TLS connector.

pub mod backend;
pub use rollcall_server::export;
pub mod commands;
pub mod consumer;
pub mod demo;
pub mod fields;
pub mod generate;
pub mod i18n;
pub mod import;
pub mod record;
pub mod render;
pub mod sample;
pub mod target;
pub mod template;
pub mod verify;

pub use rollcall_proto::v1::node_client::NodeClient;

/// The `Append` request for `drafts` (the wire form of core drafts; bodies are passed
/// through as encoded by `rollcall_core::body::Body::encode`).
pub fn append_request(drafts: &[rollcall_core::log::Draft]) -> rollcall_proto::v1::AppendRequest {
    rollcall_proto::v1::AppendRequest {
        drafts: drafts
            .iter()
            .map(|draft| rollcall_proto::v1::EventDraft {
                unit_path: draft.unit_path.to_string(),
                kind: draft.kind as i32,
                body: draft.body.clone(),
                author: draft.author.clone(),
                draft_id: bytes::Bytes::new(),
            })
            .collect(),
    }
}

/// [`append_request`] with a fresh id on every draft: sending the same request again
/// after an ambiguous failure (a transport error, a timeout) records nothing twice.
pub fn idempotent_append_request(drafts: &[rollcall_core::log::Draft]) -> rollcall_proto::v1::AppendRequest {
    let mut request = append_request(drafts);
    for draft in &mut request.drafts {
        draft.draft_id = bytes::Bytes::copy_from_slice(uuid::Uuid::now_v7().as_bytes());
    }
    request
}
