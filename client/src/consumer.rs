//! The directory `rollcall consumer` hands a province's data team: everything a stock
//! gRPC client (grpcio, grpc-java, grpc-go) needs to read a node's events, as plain files.
//!
//! It holds a client certificate and key (ECDSA P-256, bound to a viewer key enrolled
//! for one unit: see `rollcall_server::tls`), the node's certificate to trust, the
//! address and the name to verify, the protocol's `.proto` files, a runnable Python
//! example and a README. The viewer's Ed25519 key signs the binding once and is never
//! written: the directory's only secret is `client.key`, and revoking the viewer key
//! (`rollcall revoke --child-key <viewer_key> --after-seq 0`) shuts the door on it.
//!
//! Invariants: nothing is overwritten (the directory must be new or empty); the secret
//! key is written with mode 0600 and the directory 0700; the example and the `.proto`
//! files are the ones compiled into this binary, so they match the node it was built with.

use std::fs;
use std::io::Write;
use std::path::Path;

use rollcall_core::{ReplicaId, UnitPath};
use rollcall_server::tls::{BoundCertificate, CERTIFICATE_NAME};

/// The Python example (also quoted in CONSUMERS.md, and run by the tests).
pub const EXAMPLE_PY: &str = include_str!("consumer/consume.py");
/// The Python packages the example needs, pinned.
pub const REQUIREMENTS_TXT: &str = include_str!("consumer/requirements.txt");
/// The protocol's files.
pub const EVENT_PROTO: &str = include_str!("../../proto/rollcall/v1/event.proto");
/// The protocol's files.
pub const NODE_PROTO: &str = include_str!("../../proto/rollcall/v1/node.proto");

/// What goes into a consumer's directory.
#[derive(Clone, Debug)]
pub struct ConsumerFiles {
    /// host:port the consumer dials.
    pub address: String,
    /// The unit whose subtree it reads.
    pub unit: UnitPath,
    /// The enrolled viewer key its certificate is bound to.
    pub viewer_key: ReplicaId,
    /// The node's replica key.
    pub node_key: ReplicaId,
    /// The node's unit.
    pub node_unit: String,
    /// The province's root key and unit.
    pub root_key: ReplicaId,
    /// The province's unit.
    pub root_unit: String,
    /// The client certificate and its key.
    pub client: BoundCertificate,
    /// The node's certificate for stock clients (PEM).
    pub node_certificate_pem: String,
    /// When the enrollment expires (0: never).
    pub valid_until_ms: u64,
}

/// Why the directory could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// The directory exists and is not empty.
    #[error("{0} exists and is not empty: give a new directory")]
    NotEmpty(String),
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// Which.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Refuses a directory that holds anything (checked before the viewer is enrolled).
///
/// # Errors
///
/// [`ConsumerError::NotEmpty`].
pub fn check_new(dir: &Path) -> Result<(), ConsumerError> {
    let holds_something = fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if holds_something { Err(ConsumerError::NotEmpty(dir.display().to_string())) } else { Ok(()) }
}

/// Writes the directory.
///
/// # Errors
///
/// [`ConsumerError`] if it is not empty or a file cannot be written.
pub fn write(dir: &Path, files: &ConsumerFiles) -> Result<(), ConsumerError> {
    check_new(dir)?;
    let failed = |path: &Path| {
        let path = path.display().to_string();
        move |source| ConsumerError::Write { path, source }
    };
    fs::create_dir_all(dir.join("proto/rollcall/v1")).map_err(failed(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(failed(dir))?;
    }
    let connection = serde_json::json!({
        "address": files.address,
        "target_name": CERTIFICATE_NAME,
        "unit": files.unit.to_string(),
        "viewer_key": files.viewer_key.to_hex(),
        "node_key": files.node_key.to_hex(),
        "node_unit": files.node_unit,
        "root_key": files.root_key.to_hex(),
        "root_unit": files.root_unit,
        "valid_until_ms": files.valid_until_ms,
    });
    let public: [(&str, String); 8] = [
        ("client.pem", files.client.certificate_pem.clone()),
        ("node.pem", files.node_certificate_pem.clone()),
        ("connection.json", format!("{}\n", serde_json::to_string_pretty(&connection).unwrap_or_default())),
        ("consume.py", EXAMPLE_PY.to_string()),
        ("requirements.txt", REQUIREMENTS_TXT.to_string()),
        ("README.md", readme(files)),
        ("proto/rollcall/v1/event.proto", EVENT_PROTO.to_string()),
        ("proto/rollcall/v1/node.proto", NODE_PROTO.to_string()),
    ];
    for (name, text) in public {
        let path = dir.join(name);
        fs::write(&path, text).map_err(failed(&path))?;
    }
    let key_path = dir.join("client.key");
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&key_path).map_err(failed(&key_path))?;
    file.write_all(files.client.private_key_pem.as_bytes()).map_err(failed(&key_path))?;
    file.sync_all().map_err(failed(&key_path))?;
    Ok(())
}

/// The directory's README, in Chinese and English.
pub fn readme(files: &ConsumerFiles) -> String {
    let expiry = if files.valid_until_ms == 0 {
        "不过期 / no expiry".to_string()
    } else {
        chrono::DateTime::from_timestamp_millis(i64::try_from(files.valid_until_ms).unwrap_or(i64::MAX))
            .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    format!(
        r#"# rollcall 事件流读取凭证 / rollcall consumer credentials

本目录供数据组、看板等使用标准 gRPC 库（Python grpcio、Java、Go……）读取
{node_unit} 节点上 **{unit}** 范围内的全部事件。
This directory lets a stock gRPC client (Python grpcio, Java, Go, …) read every
event of **{unit}**'s subtree held by the node of {node_unit}.

| 文件 / file | 内容 / what it is |
|---|---|
| `client.pem`, `client.key` | 客户端证书与私钥（ECDSA P-256）/ the client certificate and its key. **`client.key` 须保密 / keep it secret.** |
| `node.pem` | 节点证书，作为受信根证书 / the node's certificate: trust it as the root certificate |
| `connection.json` | 地址 `{address}`、校验名 `{target}`、单位、密钥 / address, the name to verify, unit, keys |
| `proto/` | 协议定义 / the protocol (`rollcall.v1.Node`, `event.proto`) |
| `consume.py`, `requirements.txt` | Python 示例 / the Python example and its pinned packages |

有效期 / valid until: {expiry}. 查看者密钥 / viewer key: `{viewer}`.
吊销 / to revoke: `rollcall revoke --child-key {viewer} --after-seq 0 --reason …`
(run by the node's operator).

## 运行示例 / run the example

```sh
python3 -m venv .venv
.venv/bin/pip install -r requirements.txt
.venv/bin/python consume.py            # 从头读取并逐条验证签名 / from the start, every signature verified
.venv/bin/python consume.py --after 1234   # 从游标 1234 之后继续 / resume after cursor 1234
```

连接要点 / connecting with any stock client:

- TLS 1.3 双向认证 / mutual TLS 1.3: root certificates `node.pem`, client certificate
  `client.pem` with key `client.key`;
- 证书中的名称是 `{target}`，不是主机名 / the certificate names `{target}`, not a host:
  set the target name override (grpcio: `("grpc.ssl_target_name_override", "{target}")`;
  grpc-java: `overrideAuthority("{target}")`; grpc-go: `ServerName: "{target}"`);
- 游标 / cursors: keep the last `cursor` you processed and resume with `after = cursor`:
  nothing is missed and nothing repeats.

The event format, the signature and chain rules and the limits are in rollcall's
`CONSUMERS.md`.

## consume.py

```python
{example}```
"#,
        node_unit = files.node_unit,
        unit = files.unit,
        address = files.address,
        target = CERTIFICATE_NAME,
        viewer = files.viewer_key.to_hex(),
        example = EXAMPLE_PY,
    )
}
