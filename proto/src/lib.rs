//! rollcall's wire schema, generated from `rollcall/v1/*.proto`.
//!
//! This crate owns the protobuf messages (the signed event format, every domain body,
//! the node API) and, with the `transport` feature, the tonic client and server stubs.
//! It holds no logic: conversions and checks live in `rollcall-core::codec` and in
//! `rollcall-server::rpc`.
//!
//! Compatibility: field numbers are never reused; changes are additive.

#![allow(missing_docs, clippy::doc_markdown, clippy::large_enum_variant)]

/// Package `rollcall.v1`.
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/rollcall.v1.rs"));
}

/// The encoded `FileDescriptorSet` of all rollcall protos, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rollcall_descriptor.bin"));
