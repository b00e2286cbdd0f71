//! How the CLI finds a node: either a node directory on this machine (`--node-dir`,
//! which holds node.addr, replica.pub and operator.key), or explicit `--node`,
//! `--node-key` and `--key`.

use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rollcall_core::ReplicaId;
use rollcall_server::config::{ADDRESS_FILE, ConfigError, OPERATOR_KEY_FILE, REPLICA_PUB_FILE, read_key};
use rollcall_server::connect::{self, ConnectError};
use tonic::transport::Channel;

/// Why a node could not be targeted.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A file of the node directory is missing or unreadable.
    #[error("reading {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A key is malformed.
    #[error(transparent)]
    Key(#[from] ConfigError),
    /// The connection failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

/// A node to talk to.
pub struct Target {
    /// host:port.
    pub address: String,
    /// The node's replica key.
    pub node_key: ReplicaId,
    /// The operator key this client presents.
    pub client_key: SigningKey,
}

impl Target {
    /// From a node directory on this machine.
    ///
    /// # Errors
    ///
    /// [`TargetError`] naming the file that is missing or malformed.
    pub fn from_node_dir(dir: &Path) -> Result<Target, TargetError> {
        let address_path = dir.join(ADDRESS_FILE);
        let address = read_text(&address_path)
            .map_err(|_| TargetError::File { path: address_path, message: "missing: is the node running?".into() })?;
        let node_key = read_replica(&dir.join(REPLICA_PUB_FILE))?;
        let client_key = read_key(&dir.join(OPERATOR_KEY_FILE))?;
        Ok(Target { address, node_key, client_key })
    }

    /// From explicit values.
    ///
    /// # Errors
    ///
    /// [`TargetError`] naming what is malformed.
    pub fn explicit(address: &str, node_key: &str, key_file: &Path) -> Result<Target, TargetError> {
        let node_key = ReplicaId::from_hex(node_key)
            .map_err(|message| TargetError::File { path: PathBuf::from("--node-key"), message })?;
        Ok(Target { address: address.to_string(), node_key, client_key: read_key(key_file)? })
    }

    /// Opens a channel (mutual TLS).
    ///
    /// # Errors
    ///
    /// [`TargetError::Connect`] when the node cannot be reached or refuses the key.
    pub async fn connect(&self) -> Result<Channel, TargetError> {
        Ok(connect::connect(&self.address, self.node_key, &self.client_key).await?)
    }
}

fn read_text(path: &Path) -> Result<String, TargetError> {
    fs::read_to_string(path)
        .map(|text| text.trim().to_string())
        .map_err(|err| TargetError::File { path: path.to_path_buf(), message: err.to_string() })
}

fn read_replica(path: &Path) -> Result<ReplicaId, TargetError> {
    ReplicaId::from_hex(&read_text(path)?).map_err(|message| TargetError::File { path: path.to_path_buf(), message })
}
