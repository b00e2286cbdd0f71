//! Node configuration: `RawConfig` (serde, every field optional) merged from defaults,
//! the TOML file and flags, then validated into a typed [`Config`] whose errors name
//! the file and the key.
//!
//! Security-relevant settings have no silent defaults: the replica key file must exist
//! and be private (mode 0600), and the unit and level must be stated.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rollcall_core::{Level, ReplicaId, UnitPath};
use serde::Deserialize;

/// The config file's name inside a node directory.
pub const CONFIG_FILE: &str = "rollcall.toml";
/// The replica key's default file name inside a node directory.
pub const REPLICA_KEY_FILE: &str = "replica.key";
/// The operator key `init` creates for the local CLI.
pub const OPERATOR_KEY_FILE: &str = "operator.key";
/// The node's public replica key (hex), for clients that must recognise it.
pub const REPLICA_PUB_FILE: &str = "replica.pub";
/// The file a running node writes its bound address to.
pub const ADDRESS_FILE: &str = "node.addr";
/// The store's directory inside a node directory.
pub const STORE_DIR: &str = "store";
/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7400";

/// A configuration problem, naming the file and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("reading {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What toml said.
        message: String,
    },
    /// A required key is missing.
    #[error("reading {path}: missing key {key}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: &'static str,
    },
    /// A key has an invalid value.
    #[error("reading {path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A key file is missing, unreadable, malformed or not private.
    #[error("key file {path}: {message}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing a new node directory failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl ConfigError {
    /// The problem in Chinese, naming the file and the key as the English does.
    pub fn message_zh(&self) -> String {
        match self {
            ConfigError::Read { path, source } => format!("无法读取 {}：{source}", path.display()),
            ConfigError::Parse { path, message } => format!("{} 格式有误：{message}", path.display()),
            ConfigError::Missing { path, key } => format!("{} 缺少配置项 {key}", path.display()),
            ConfigError::Invalid { path, key, message } => format!("{} 的配置项 {key} 无效：{message}", path.display()),
            ConfigError::Key { path, message } => format!("密钥文件 {}：{message}", path.display()),
            ConfigError::Write { path, source } => format!("无法写入 {}：{source}", path.display()),
        }
    }
}

/// The file as written: every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[node]`.
    #[serde(default)]
    pub node: RawNode,
    /// `[listen]`.
    #[serde(default)]
    pub listen: RawListen,
    /// `[dashboard]`.
    #[serde(default)]
    pub dashboard: RawDashboard,
    /// `[keys]`.
    #[serde(default)]
    pub keys: RawKeys,
    /// `[access]`.
    #[serde(default)]
    pub access: RawAccess,
    /// `[province]`.
    #[serde(default)]
    pub province: RawProvince,
    /// `[parent]`.
    #[serde(default)]
    pub parent: RawParent,
    /// `[export]`.
    #[serde(default)]
    pub export: RawExport,
    /// `[limits]`.
    #[serde(default)]
    pub limits: RawLimits,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Bytes at which a `Subscribe` or `ReadLog` response is closed (an event larger goes
    /// alone). Default 1 MiB; 64 KiB to 4 MiB less 64 KiB.
    pub stream_message_bytes: Option<usize>,
}

/// `[export]`: where this node's events flow beyond rollcall.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExport {
    /// `[export.nats]`.
    pub nats: Option<RawNatsExport>,
}

/// `[export.nats]`: publish every event this node holds (within `unit`) to a NATS
/// JetStream stream.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNatsExport {
    /// NATS server URLs, e.g. ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"].
    pub servers: Option<Vec<String>>,
    /// The JetStream stream (created if missing). Default "ROLLCALL".
    pub stream: Option<String>,
    /// The first subject token. Default "rollcall".
    pub subject_prefix: Option<String>,
    /// Only events of this unit's subtree (default: the node's unit).
    pub unit: Option<String>,
    /// Replicas of the stream when this node creates it (1, 3 or 5). Default 1.
    pub replicas: Option<usize>,
    /// JetStream's duplicate window when this node creates the stream, in seconds.
    /// Default 600.
    pub duplicate_window_secs: Option<u64>,
    /// A PEM file of the CA that signed the NATS servers' certificates: requires TLS.
    pub tls_ca: Option<String>,
    /// Export the bodies that hold ID numbers, phones and addresses in full (default
    /// false: such events go as stubs, which still verify). Only with `tls_ca`.
    pub personal_data: Option<bool>,
}

/// A validated `[export.nats]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsExportConfig {
    /// Server URLs.
    pub servers: Vec<String>,
    /// Stream name.
    pub stream: String,
    /// First subject token.
    pub subject_prefix: String,
    /// The subtree exported.
    pub unit: UnitPath,
    /// Stream replicas when created here.
    pub replicas: usize,
    /// Duplicate window when created here.
    pub duplicate_window: std::time::Duration,
    /// CA file for TLS to the servers.
    pub tls_ca: Option<PathBuf>,
    /// Bodies holding personal data exported in full (else as stubs).
    pub personal_data: bool,
}

/// `[province]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvince {
    /// The pinned root key (hex).
    pub root_key: Option<String>,
    /// The province's unit path.
    pub root_unit: Option<String>,
}

/// `[parent]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParent {
    /// host:port of the parent node.
    pub address: Option<String>,
    /// The parent's replica key (hex).
    pub key: Option<String>,
}

/// Where this node syncs upward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentConfig {
    /// host:port.
    pub address: String,
    /// The parent's replica key.
    pub key: ReplicaId,
}

/// `[node]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// The unit this node serves, e.g. "hb/whu".
    pub unit: Option<String>,
    /// province, university, college or branch.
    pub level: Option<String>,
}

/// `[listen]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListen {
    /// host:port.
    pub address: Option<String>,
}

/// `[dashboard]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDashboard {
    /// host:port of the web dashboard and /metrics (plain HTTP: bind it to an internal
    /// address, or put the unit's HTTPS proxy in front).
    pub address: Option<String>,
}

/// `[keys]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeys {
    /// The replica key file, relative to the node directory.
    pub replica_key: Option<String>,
}

/// `[access]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccess {
    /// Hex Ed25519 public keys allowed to call this node's API.
    pub operator_keys: Option<Vec<String>>,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The node directory.
    pub dir: PathBuf,
    /// The unit this node serves.
    pub unit: UnitPath,
    /// Its level.
    pub level: Level,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where to serve the dashboard and /metrics, if anywhere.
    pub dashboard: Option<SocketAddr>,
    /// The replica key file.
    pub replica_key_path: PathBuf,
    /// Keys allowed to call the API.
    pub operator_keys: Vec<ReplicaId>,
    /// The province's pinned root key.
    pub root_key: ReplicaId,
    /// The province's unit.
    pub root_unit: UnitPath,
    /// The parent, for every node but the province's.
    pub parent: Option<ParentConfig>,
    /// Where to export events, if anywhere.
    pub nats_export: Option<NatsExportConfig>,
    /// Bytes at which a `Subscribe` or `ReadLog` response is closed.
    pub stream_message_bytes: usize,
}

impl Config {
    /// Loads `DIR/rollcall.toml`; `listen_override` (from a flag) wins over the file.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file and the key.
    pub fn load(dir: &Path, listen_override: Option<SocketAddr>) -> Result<Config, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        let raw: RawConfig = toml::from_str(&text)
            .map_err(|err| ConfigError::Parse { path: path.clone(), message: toml_error_at(&text, &err) })?;
        Config::validate(dir, &path, raw, listen_override)
    }

    fn validate(
        dir: &Path,
        path: &Path,
        raw: RawConfig,
        listen_override: Option<SocketAddr>,
    ) -> Result<Config, ConfigError> {
        let invalid =
            |key: &'static str, message: String| ConfigError::Invalid { path: path.to_path_buf(), key, message };
        let unit_text = raw.node.unit.ok_or(ConfigError::Missing { path: path.to_path_buf(), key: "node.unit" })?;
        let unit = UnitPath::parse(&unit_text).map_err(|err| invalid("node.unit", err.to_string()))?;
        let level_text = raw.node.level.ok_or(ConfigError::Missing { path: path.to_path_buf(), key: "node.level" })?;
        let level: Level = level_text.parse().map_err(|err: String| invalid("node.level", err))?;
        if unit.level() != Some(level) {
            return Err(invalid(
                "node.level",
                format!("unit {unit} has {} levels, which is not a {level}", unit.depth()),
            ));
        }
        let listen = match listen_override {
            Some(addr) => addr,
            None => raw
                .listen
                .address
                .as_deref()
                .unwrap_or(DEFAULT_LISTEN)
                .parse()
                .map_err(|err| invalid("listen.address", format!("{err}")))?,
        };
        let dashboard = raw
            .dashboard
            .address
            .as_deref()
            .map(|text| text.parse().map_err(|err| invalid("dashboard.address", format!("{err}"))))
            .transpose()?;
        let key_name =
            raw.keys.replica_key.ok_or(ConfigError::Missing { path: path.to_path_buf(), key: "keys.replica_key" })?;
        let operator_keys = raw
            .access
            .operator_keys
            .unwrap_or_default()
            .iter()
            .map(|text| ReplicaId::from_hex(text).map_err(|err| invalid("access.operator_keys", err)))
            .collect::<Result<Vec<_>, _>>()?;
        let not_joined = || ConfigError::Missing {
            path: path.to_path_buf(),
            key: "province.root_key (not joined yet: run `rollcall-node join --bundle FILE`)",
        };
        let root_key = ReplicaId::from_hex(raw.province.root_key.as_deref().ok_or_else(not_joined)?)
            .map_err(|err| invalid("province.root_key", err))?;
        let root_unit = UnitPath::parse(raw.province.root_unit.as_deref().ok_or_else(not_joined)?)
            .map_err(|err| invalid("province.root_unit", err.to_string()))?;
        if root_unit.level() != Some(Level::Province) {
            return Err(invalid("province.root_unit", format!("{root_unit} is not a province-level unit")));
        }
        if !unit.is_within(&root_unit) {
            return Err(invalid("node.unit", format!("{unit} is not inside the province {root_unit}")));
        }
        let parent = match (raw.parent.address, raw.parent.key) {
            (None, None) => None,
            (Some(address), Some(key)) => Some(ParentConfig {
                address,
                key: ReplicaId::from_hex(&key).map_err(|err| invalid("parent.key", err))?,
            }),
            (Some(_), None) => return Err(ConfigError::Missing { path: path.to_path_buf(), key: "parent.key" }),
            (None, Some(_)) => return Err(ConfigError::Missing { path: path.to_path_buf(), key: "parent.address" }),
        };
        if parent.is_none() && level != Level::Province {
            return Err(ConfigError::Missing {
                path: path.to_path_buf(),
                key: "parent.address (not joined yet: run `rollcall-node join --bundle FILE`)",
            });
        }
        let nats_export = match raw.export.nats {
            None => None,
            Some(nats) => Some(validate_nats_export(nats, &unit, dir, &invalid, path)?),
        };
        let stream_message_bytes =
            raw.limits.stream_message_bytes.unwrap_or(rollcall_core::limits::MESSAGE_BYTES_TARGET);
        let (least, most) =
            (rollcall_core::limits::STREAM_MESSAGE_BYTES_MIN, rollcall_core::limits::STREAM_MESSAGE_BYTES_MAX);
        if !(least..=most).contains(&stream_message_bytes) {
            return Err(invalid(
                "limits.stream_message_bytes",
                format!("{stream_message_bytes}: between {least} and {most} (a stock client accepts 4 MiB)"),
            ));
        }
        Ok(Config {
            dir: dir.to_path_buf(),
            unit,
            level,
            listen,
            dashboard,
            replica_key_path: dir.join(key_name),
            operator_keys,
            root_key,
            root_unit,
            parent,
            nats_export,
            stream_message_bytes,
        })
    }

    /// The store directory.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join(STORE_DIR)
    }
}

/// Reads a private key file (64 hex digits of the Ed25519 seed).
///
/// # Errors
///
/// [`ConfigError::Key`] if the file is missing, malformed or readable by others.
pub fn read_key(path: &Path) -> Result<SigningKey, ConfigError> {
    let key_error = |message: String| ConfigError::Key { path: path.to_path_buf(), message };
    let metadata = fs::metadata(path).map_err(|err| key_error(err.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_error(format!("permissions {mode:o} let others read it; run chmod 600")));
        }
    }
    let _ = metadata;
    let text = fs::read_to_string(path).map_err(|err| key_error(err.to_string()))?;
    let seed: [u8; 32] = hex::decode(text.trim())
        .map_err(|err| key_error(format!("not hex: {err}")))?
        .try_into()
        .map_err(|bytes: Vec<u8>| key_error(format!("{} bytes, expected 32", bytes.len())))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A fresh Ed25519 key from the operating system's generator.
pub fn fresh_key() -> SigningKey {
    SigningKey::generate(&mut getrandom::rand_core::UnwrapErr(getrandom::SysRng))
}

/// Creates a fresh private key file (mode 0600), refusing to overwrite one.
///
/// # Errors
///
/// [`ConfigError::Write`] if the file exists or cannot be written.
pub fn create_key(path: &Path) -> Result<SigningKey, ConfigError> {
    let key = fresh_key();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write_error = |source| ConfigError::Write { path: path.to_path_buf(), source };
    let mut file = options.open(path).map_err(write_error)?;
    file.write_all(format!("{}\n", hex::encode(key.to_bytes())).as_bytes()).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    Ok(key)
}

fn validate_nats_export(
    nats: RawNatsExport,
    node_unit: &UnitPath,
    dir: &Path,
    invalid: &dyn Fn(&'static str, String) -> ConfigError,
    path: &Path,
) -> Result<NatsExportConfig, ConfigError> {
    let servers = nats.servers.unwrap_or_default();
    if servers.is_empty() {
        return Err(ConfigError::Missing { path: path.to_path_buf(), key: "export.nats.servers" });
    }
    let token =
        |text: &str| !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let stream = nats.stream.unwrap_or_else(|| "ROLLCALL".to_string());
    if !token(&stream) {
        return Err(invalid("export.nats.stream", format!("{stream:?}: letters, digits, _ and - only")));
    }
    let subject_prefix = nats.subject_prefix.unwrap_or_else(|| "rollcall".to_string());
    if !token(&subject_prefix) {
        return Err(invalid(
            "export.nats.subject_prefix",
            format!("{subject_prefix:?}: one token of letters, digits, _ and -"),
        ));
    }
    let unit = match nats.unit {
        None => node_unit.clone(),
        Some(text) => {
            let unit = UnitPath::parse(&text).map_err(|err| invalid("export.nats.unit", err.to_string()))?;
            if !unit.is_within(node_unit) {
                return Err(invalid("export.nats.unit", format!("{unit} is not within this node's unit {node_unit}")));
            }
            unit
        }
    };
    let replicas = nats.replicas.unwrap_or(1);
    if !matches!(replicas, 1 | 3 | 5) {
        return Err(invalid("export.nats.replicas", format!("{replicas}: JetStream replicates 1, 3 or 5 times")));
    }
    let duplicate_window_secs = nats.duplicate_window_secs.unwrap_or(600);
    if duplicate_window_secs == 0 {
        return Err(invalid("export.nats.duplicate_window_secs", "must be at least 1".to_string()));
    }
    let personal_data = nats.personal_data.unwrap_or(false);
    if personal_data && nats.tls_ca.is_none() {
        return Err(invalid(
            "export.nats.personal_data",
            "ID numbers, phones and addresses leave the node only over TLS: set export.nats.tls_ca".to_string(),
        ));
    }
    Ok(NatsExportConfig {
        servers,
        stream,
        subject_prefix,
        unit,
        replicas,
        duplicate_window: std::time::Duration::from_secs(duplicate_window_secs),
        tls_ca: nats.tls_ca.map(|file| dir.join(file)),
        personal_data,
    })
}

/// The node's P-256 certificate for stock gRPC clients, bound to its replica key, and
/// that certificate's private key (PEM, mode 0600): made at the first start, then kept,
/// so a consumer's pinned copy stays valid.
pub const STOCK_TLS_FILE: &str = "stock-tls.pem";

/// Reads the node's certificate for stock clients from `dir`, or makes and stores one
/// bound to `key`.
///
/// # Errors
///
/// [`ConfigError::Key`] if the file is malformed or bound to another key;
/// [`ConfigError::Write`] if it cannot be written.
pub fn stock_certificate(dir: &Path, key: &SigningKey) -> Result<crate::tls::BoundCertificate, ConfigError> {
    const KEY_MARKER: &str = "-----BEGIN PRIVATE KEY-----";
    let path = dir.join(STOCK_TLS_FILE);
    let key_error = |message: String| ConfigError::Key { path: path.clone(), message };
    match fs::read_to_string(&path) {
        Ok(text) => {
            let split = text.find(KEY_MARKER).ok_or_else(|| key_error("no private key in it".to_string()))?;
            let bound = crate::tls::BoundCertificate {
                certificate_pem: text[..split].to_string(),
                private_key_pem: text[split..].to_string(),
            };
            let der = rustls::pki_types::pem::PemObject::from_pem_slice(bound.certificate_pem.as_bytes())
                .map(|certificate: rustls::pki_types::CertificateDer<'_>| certificate.to_vec())
                .map_err(|err| key_error(format!("the certificate: {err}")))?;
            let identity = crate::tls::identity_of_certificate(&der, 0).map_err(|err| key_error(err.to_string()))?;
            if identity.key != replica_of(key) {
                return Err(key_error(format!(
                    "bound to key {}, not this node's {}: delete it and restart to make a new one \
                     (consumers then need the new node.pem)",
                    identity.key.short(),
                    replica_of(key).short()
                )));
            }
            Ok(bound)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let bound = crate::tls::bound_certificate(key, 0, &format!("rollcall node {}", replica_of(key).short()))
                .map_err(|err| key_error(err.to_string()))?;
            let write_error = |source| ConfigError::Write { path: path.clone(), source };
            let temporary = dir.join(format!("{STOCK_TLS_FILE}.tmp"));
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&temporary).map_err(write_error)?;
            file.write_all(format!("{}{}", bound.certificate_pem, bound.private_key_pem).as_bytes())
                .map_err(write_error)?;
            file.sync_all().map_err(write_error)?;
            fs::rename(&temporary, &path).map_err(write_error)?;
            Ok(bound)
        }
        Err(err) => Err(key_error(err.to_string())),
    }
}

/// The public key of a signing key.
pub fn replica_of(key: &SigningKey) -> ReplicaId {
    ReplicaId(key.verifying_key().to_bytes())
}

/// Creates a node directory: replica key, operator key and a commented config.
///
/// # Errors
///
/// [`ConfigError::Write`] if the directory already holds a config or a key.
pub fn init(dir: &Path, unit: &UnitPath, level: Level, listen: &str) -> Result<(ReplicaId, ReplicaId), ConfigError> {
    let config_path = dir.join(CONFIG_FILE);
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConfigError::Write { path, source }
    };
    fs::create_dir_all(dir).map_err(write_error(dir))?;
    // The directory holds keys and a store of personal data: its owner only, whatever
    // the umask (files created inside inherit no access for others through it).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(write_error(dir))?;
    }
    if config_path.exists() {
        return Err(ConfigError::Write {
            path: config_path,
            source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a node is already initialised here"),
        });
    }
    let replica = replica_of(&create_key(&dir.join(REPLICA_KEY_FILE))?);
    let pub_path = dir.join(REPLICA_PUB_FILE);
    fs::write(&pub_path, format!("{}\n", replica.to_hex())).map_err(write_error(&pub_path))?;
    let operator = replica_of(&create_key(&dir.join(OPERATOR_KEY_FILE))?);
    let text = format!(
        r#"# rollcall node configuration (党员组织关系集中排查 rollcall 节点配置).
# Created by `rollcall-node init`. Every key is documented in deploy/README.md.

[node]
# The unit this node serves: segments from the province down, e.g. "hb/whu/cs".
unit = "{unit}"
# province | university | college | branch; must match the depth of `unit`.
level = "{level}"

[listen]
# Address of the gRPC API (TLS only). Port 0 picks a free port; the bound address is
# written to node.addr when the node starts.
address = "{listen}"

[keys]
# This node's Ed25519 replica key (signs every event it appends). Mode 0600; never copy it.
replica_key = "{REPLICA_KEY_FILE}"

[access]
# Ed25519 public keys (hex) allowed to call this node's API. The first is the operator
# key `init` created in {OPERATOR_KEY_FILE} for the local `rollcall` CLI.
operator_keys = ["{operator}"]
{province}"#,
        operator = operator.to_hex(),
        province = if level == Level::Province {
            format!(
                "\n[province]\n# This node holds the province's root key: every enrollment chain starts here.\nroot_key = \"{}\"\nroot_unit = \"{unit}\"\n",
                replica.to_hex()
            )
        } else {
            "\n# [province] and [parent] are written by `rollcall-node join --bundle FILE`.\n".to_string()
        }
    );
    fs::write(&config_path, text).map_err(write_error(&config_path))?;
    Ok((replica, operator))
}

/// A TOML error as a person can act on it: the line and column, the line itself (which
/// names the key), and what is wrong there.
pub fn toml_error_at(text: &str, error: &toml::de::Error) -> String {
    let Some(span) = error.span() else { return error.message().to_string() };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
    let line_number = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    format!("line {line_number}, column {column} (`{line}`): {}", error.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROVINCE: &str =
        "\n[province]\nroot_unit='hb'\nroot_key='0000000000000000000000000000000000000000000000000000000000000000'";

    fn raw(text: &str) -> RawConfig {
        toml::from_str(&format!("{text}{PROVINCE}")).expect("test config parses")
    }

    /// Validation names the file and the key of each problem.
    #[test]
    fn errors_name_the_key() {
        let dir = Path::new("/n");
        let path = Path::new("/n/rollcall.toml");
        let cases = [
            ("[node]\nlevel='province'\n[keys]\nreplica_key='k'", "missing key node.unit"),
            ("[node]\nunit='hb'\n[keys]\nreplica_key='k'", "missing key node.level"),
            ("[node]\nunit='hb'\nlevel='province'", "missing key keys.replica_key"),
            ("[node]\nunit='hb/x'\nlevel='province'\n[keys]\nreplica_key='k'", "node.level: unit hb/x has 2 levels"),
            ("[node]\nunit='HB'\nlevel='province'\n[keys]\nreplica_key='k'", "node.unit: unit path segment"),
            ("[node]\nunit='hb'\nlevel='province'\n[keys]\nreplica_key='k'\n[listen]\naddress='x'", "listen.address"),
            ("[node]\nunit='hb/whu'\nlevel='university'\n[keys]\nreplica_key='k'", "missing key parent.address"),
            (
                "[node]\nunit='hb/x'\nlevel='university'\n[keys]\nreplica_key='k'\n[parent]\naddress='a:1'\nkey='00'",
                "parent.key",
            ),
            (
                "[node]\nunit='gd/x'\nlevel='university'\n[keys]\nreplica_key='k'",
                "node.unit: gd/x is not inside the province hb",
            ),
            (
                "[node]\nunit='hb'\nlevel='province'\n[keys]\nreplica_key='k'\n[limits]\nstream_message_bytes=8388608",
                "limits.stream_message_bytes: 8388608: between 65536 and 4128768",
            ),
            (
                "[node]\nunit='hb'\nlevel='province'\n[keys]\nreplica_key='k'\n[export.nats]\nservers=[]",
                "missing key export.nats.servers",
            ),
            (
                "[node]\nunit='hb'\nlevel='province'\n[keys]\nreplica_key='k'\n[export.nats]\nservers=['nats://a:4222']\nreplicas=2",
                "export.nats.replicas: 2: JetStream replicates 1, 3 or 5 times",
            ),
            (
                "[node]\nunit='hb'\nlevel='province'\n[keys]\nreplica_key='k'\n[export.nats]\nservers=['nats://a:4222']\nunit='gd'",
                "export.nats.unit: gd is not within this node's unit hb",
            ),
            (
                "[node]\nunit='hb'\nlevel='province'\n[keys]\nreplica_key='k'\n[export.nats]\nservers=['nats://a:4222']\npersonal_data=true",
                "export.nats.personal_data: ID numbers, phones and addresses leave the node only over TLS",
            ),
        ];
        for (text, expected) in cases {
            let message = Config::validate(dir, path, raw(text), None).expect_err(text).to_string();
            assert!(message.starts_with("reading /n/rollcall.toml: "), "{message}");
            assert!(message.contains(expected), "{message} should contain {expected}");
        }
        let config = Config::validate(
            dir,
            path,
            raw("[node]\nunit='hb/whu'\nlevel='university'\n[keys]\nreplica_key='k'\n[parent]\naddress='127.0.0.1:1'\nkey='0101010101010101010101010101010101010101010101010101010101010101'"),
            None,
        )
        .expect("valid");
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.stream_message_bytes, rollcall_core::limits::MESSAGE_BYTES_TARGET);
        assert!(config.nats_export.is_none());
        assert_eq!(config.replica_key_path, Path::new("/n/k"));
    }
}
