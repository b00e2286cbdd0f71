//! Enrollment bundles: what a parent hands a new child (node, laptop or viewer) out of
//! band, as a file: the province's root key and unit, the parent's address and key, and
//! the parent's signed `ReplicaEnrolled` event for the child's key.
//!
//! The child checks the bundle before trusting it ([`Bundle::check_for`]): the event
//! verifies, is authored by the named parent, and enrolls exactly this key at exactly
//! this unit. The rest of the enrollment chain (the parent's own enrollment, up to the
//! root) arrives with the first sync, where every replica checks it.

use std::fs;
use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use rollcall_core::authority::Role;
use rollcall_core::body::Body;
use rollcall_core::{EventKind, Level, ReplicaId, UnitPath, codec, verify};
use serde::{Deserialize, Serialize};

use crate::config::{CONFIG_FILE, ConfigError};

/// An enrollment bundle as stored in its file (TOML).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// The province's root key (hex).
    pub root_key: String,
    /// The province's unit.
    pub root_unit: String,
    /// Where the parent listens (host:port).
    pub parent_address: String,
    /// The parent's replica key (hex).
    pub parent_key: String,
    /// The enrolled key (hex).
    pub replica: String,
    /// The enrolled unit.
    pub unit: String,
    /// node, laptop or viewer.
    pub role: String,
    /// The parent's signed `ReplicaEnrolled` event, envelope bytes in hex.
    pub enrollment: String,
    /// The enrollment events from the root down to this one (envelopes in hex, root
    /// first), so the new replica can author before its first sync.
    #[serde(default)]
    pub chain: Vec<String>,
}

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The bundle does not enroll this replica as it claims.
    #[error("bundle {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// What a checked bundle says.
#[derive(Clone, Debug)]
pub struct CheckedBundle {
    /// The root key.
    pub root_key: ReplicaId,
    /// The province's unit.
    pub root_unit: UnitPath,
    /// The parent's address.
    pub parent_address: String,
    /// The parent's key.
    pub parent_key: ReplicaId,
    /// The enrolled unit.
    pub unit: UnitPath,
    /// The enrolled level.
    pub level: Level,
    /// The enrolled role.
    pub role: Role,
    /// The verified enrollment chain, root first.
    pub chain: Vec<rollcall_core::VerifiedEvent>,
}

impl Bundle {
    /// Reads a bundle file.
    ///
    /// # Errors
    ///
    /// [`BundleError::File`] when it cannot be read or parsed.
    pub fn read(path: &Path) -> Result<Bundle, BundleError> {
        let file_error = |message: String| BundleError::File { path: path.display().to_string(), message };
        let text = fs::read_to_string(path).map_err(|err| file_error(err.to_string()))?;
        toml::from_str(&text).map_err(|err| file_error(crate::config::toml_error_at(&text, &err)))
    }

    /// Writes the bundle (mode 0600: it names keys and addresses of the hierarchy).
    ///
    /// # Errors
    ///
    /// [`BundleError::File`] when it cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), BundleError> {
        let file_error = |message: String| BundleError::File { path: path.display().to_string(), message };
        let text = format!(
            "# rollcall enrollment bundle (入网凭证): hand it to the new {} out of band.\n{}",
            self.role,
            toml::to_string(self).map_err(|err| file_error(err.to_string()))?
        );
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|err| file_error(err.to_string()))?;
        file.write_all(text.as_bytes()).map_err(|err| file_error(err.to_string()))
    }

    /// Checks that the bundle enrolls `replica`, signed by the parent it names.
    ///
    /// # Errors
    ///
    /// [`BundleError::Invalid`] naming the first check that fails.
    pub fn check_for(&self, path: &Path, replica: ReplicaId) -> Result<CheckedBundle, BundleError> {
        let invalid = |message: String| BundleError::Invalid { path: path.display().to_string(), message };
        let root_key = ReplicaId::from_hex(&self.root_key).map_err(|err| invalid(format!("root_key: {err}")))?;
        let parent_key = ReplicaId::from_hex(&self.parent_key).map_err(|err| invalid(format!("parent_key: {err}")))?;
        let root_unit = UnitPath::parse(&self.root_unit).map_err(|err| invalid(format!("root_unit: {err}")))?;
        let bytes = hex::decode(&self.enrollment).map_err(|err| invalid(format!("enrollment: {err}")))?;
        let signed = codec::decode_signed(&bytes).map_err(|err| invalid(format!("enrollment: {err}")))?;
        let event = verify(&signed).map_err(|err| invalid(format!("enrollment: {err}")))?;
        if event.replica() != parent_key {
            return Err(invalid("the enrollment is not signed by the named parent".into()));
        }
        if event.header().kind != EventKind::ReplicaEnrolled {
            return Err(invalid("the enrollment event is not a ReplicaEnrolled".into()));
        }
        let body = event.body().cloned().unwrap_or_else(Bytes::new);
        let Ok(Body::ReplicaEnrolled(enrolled)) = Body::decode(EventKind::ReplicaEnrolled, &body) else {
            return Err(invalid("the enrollment body is malformed".into()));
        };
        if enrolled.public_key.as_ref() != replica.0 {
            return Err(invalid(format!("it enrolls another key, not this node's {}", replica.short())));
        }
        let unit = UnitPath::parse(&enrolled.unit_path).map_err(|err| invalid(format!("unit: {err}")))?;
        let level = unit.level().ok_or_else(|| invalid(format!("unit {unit} is not at a known level")))?;
        let role = Role::from_proto(enrolled.role).ok_or_else(|| invalid("role is missing".into()))?;
        if unit.as_str() != self.unit || role.as_str() != self.role {
            return Err(invalid("the file's unit or role differs from the signed enrollment".into()));
        }
        if !unit.is_within(&root_unit) {
            return Err(invalid(format!("unit {unit} is outside the province {root_unit}")));
        }
        let mut chain = Vec::with_capacity(self.chain.len());
        for (idx, text) in self.chain.iter().enumerate() {
            let bytes = hex::decode(text).map_err(|err| invalid(format!("chain[{idx}]: {err}")))?;
            let signed = codec::decode_signed(&bytes).map_err(|err| invalid(format!("chain[{idx}]: {err}")))?;
            chain.push(verify(&signed).map_err(|err| invalid(format!("chain[{idx}]: {err}")))?);
        }
        let mut authority = rollcall_core::authority::Authority::new(root_key, root_unit.clone());
        authority.apply_chain(&chain);
        if authority.enrollment(&replica).is_none() {
            return Err(invalid("the enrollment chain does not lead from the root key to this key".into()));
        }
        Ok(CheckedBundle {
            root_key,
            root_unit,
            parent_address: self.parent_address.clone(),
            parent_key,
            unit,
            level,
            role,
            chain,
        })
    }
}

/// Writes the `[province]` and `[parent]` sections of a checked bundle into a node's
/// config, refusing a node already joined or of another unit.
///
/// # Errors
///
/// [`ConfigError`] naming the file.
pub fn join_node(dir: &Path, bundle: &CheckedBundle) -> Result<(), ConfigError> {
    let path = dir.join(CONFIG_FILE);
    let text = fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
    let raw: crate::config::RawConfig = toml::from_str(&text)
        .map_err(|err| ConfigError::Parse { path: path.clone(), message: crate::config::toml_error_at(&text, &err) })?;
    let invalid = |key: &'static str, message: String| ConfigError::Invalid { path: path.clone(), key, message };
    if raw.province.root_key.is_some() || raw.parent.address.is_some() {
        return Err(invalid("province.root_key", "this node has already joined".into()));
    }
    if raw.node.unit.as_deref() != Some(bundle.unit.as_str()) {
        return Err(invalid("node.unit", format!("the bundle enrolls unit {}, not this node's", bundle.unit)));
    }
    if bundle.role == Role::Viewer {
        return Err(invalid("node.unit", "the bundle enrolls a viewer, which keeps no log".into()));
    }
    let addition = format!(
        "\n[province]\n# Pinned by `rollcall-node join`: every enrollment chain starts at this key.\nroot_key = \"{}\"\nroot_unit = \"{}\"\n\n[parent]\n# The node this one syncs with (and accepts only by this key).\naddress = \"{}\"\nkey = \"{}\"\n",
        bundle.root_key.to_hex(),
        bundle.root_unit,
        bundle.parent_address,
        bundle.parent_key.to_hex()
    );
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|source| ConfigError::Write { path: path.clone(), source })?;
    file.write_all(addition.as_bytes()).map_err(|source| ConfigError::Write { path: path.clone(), source })?;
    file.sync_all().map_err(|source| ConfigError::Write { path: path.clone(), source })?;
    let chain_path = dir.join(CHAIN_FILE);
    let chain_text: String = bundle
        .chain
        .iter()
        .map(|event| format!("{}\n", hex::encode(codec::encode_signed(&event.to_signed()))))
        .collect();
    fs::write(&chain_path, chain_text).map_err(|source| ConfigError::Write { path: chain_path, source })
}

/// The file `join` writes the verified enrollment chain to, one envelope (hex) a line.
pub const CHAIN_FILE: &str = "enrollment.chain";

/// Reads the enrollment chain a node was joined with (empty for the province), each
/// event verified; lines that do not verify are skipped.
pub fn read_chain(dir: &Path) -> Vec<rollcall_core::VerifiedEvent> {
    let Ok(text) = fs::read_to_string(dir.join(CHAIN_FILE)) else { return Vec::new() };
    text.lines()
        .filter_map(|line| hex::decode(line.trim()).ok())
        .filter_map(|bytes| codec::decode_signed(&bytes).ok())
        .filter_map(|signed| verify(&signed).ok())
        .collect()
}
