//! The enrollment of a university node's key by the province: what lets a test's
//! store receive events signed by a second replica. Shared by the writer and snapshot
//! tests, which include this file with `#[path]`.

use ed25519_dalek::SigningKey;
use rollcall_core::body::Body;
use rollcall_core::log::Draft;
use rollcall_core::{EventKind, UnitPath, proto};

/// The province's draft enrolling `key` as the node of the university at `unit_path`.
pub fn university(key: &SigningKey, unit_path: &str) -> Draft {
    Draft {
        unit_path: UnitPath::parse(unit_path).expect("valid unit path"),
        kind: EventKind::ReplicaEnrolled,
        body: Body::ReplicaEnrolled(proto::ReplicaEnrolled {
            public_key: key.verifying_key().to_bytes().to_vec().into(),
            unit_path: unit_path.into(),
            level: proto::Level::University as i32,
            role: proto::ReplicaRole::Node as i32,
            valid_until_ms: 0,
            label: unit_path.into(),
        })
        .encode(),
        author: "test".into(),
    }
}
