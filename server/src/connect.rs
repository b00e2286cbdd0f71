//! Outgoing connections: a tonic `Channel` over mutual TLS to a peer known by its key.
//!
//! The channel is established lazily by tonic through a custom connector (TCP, then
//! rustls with [`crate::tls::client_config`]), so one `Channel` is reused for many
//! calls; a TLS setup costs about a millisecond.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use hyper_util::rt::TokioIo;
use rollcall_core::ReplicaId;
use rollcall_core::limits::{HTTP2_CONNECTION_WINDOW_BYTES, HTTP2_FRAME_BYTES_MAX, HTTP2_STREAM_WINDOW_BYTES};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::tls::{self, KeySet, TlsError, TlsIdentity};

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address is not host:port.
    #[error("invalid address {address:?}: {message}")]
    Address {
        /// What was given.
        address: String,
        /// What is wrong.
        message: String,
    },
    /// TLS material could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The connection failed (refused, timed out, handshake rejected).
    #[error("connecting to {address}: {source}")]
    Transport {
        /// The peer.
        address: String,
        /// tonic's error.
        source: tonic::transport::Error,
    },
}

/// Connects to `address` (host:port), accepting only a server holding `server_key`,
/// presenting a certificate for `client_key`.
///
/// # Errors
///
/// [`ConnectError`] when the address is malformed or the connection fails.
pub async fn connect(address: &str, server_key: ReplicaId, client_key: &SigningKey) -> Result<Channel, ConnectError> {
    let endpoint = endpoint(address, server_key, client_key)?;
    let (endpoint, connector) = endpoint;
    endpoint
        .connect_with_connector(connector)
        .await
        .map_err(|source| ConnectError::Transport { address: address.to_string(), source })
}

/// Like [`connect`] but returns at once; the connection is made on first use and
/// re-made after failures (for long-lived peers).
///
/// # Errors
///
/// [`ConnectError`] when the address is malformed or TLS material cannot be built.
pub fn connect_lazy(address: &str, server_key: ReplicaId, client_key: &SigningKey) -> Result<Channel, ConnectError> {
    let (endpoint, connector) = endpoint(address, server_key, client_key)?;
    Ok(endpoint.connect_with_connector_lazy(connector))
}

type Connector = tower::util::ServiceFn<
    Box<
        dyn Fn(
                Uri,
            ) -> std::pin::Pin<
                Box<dyn Future<Output = io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>> + Send>,
            > + Send
            + Sync,
    >,
>;

fn endpoint(
    address: &str,
    server_key: ReplicaId,
    client_key: &SigningKey,
) -> Result<(Endpoint, Connector), ConnectError> {
    let address_error = |message: String| ConnectError::Address { address: address.to_string(), message };
    let uri = format!("http://{address}");
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|err| address_error(err.to_string()))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .initial_stream_window_size(HTTP2_STREAM_WINDOW_BYTES)
        .initial_connection_window_size(HTTP2_CONNECTION_WINDOW_BYTES)
        .max_frame_size(HTTP2_FRAME_BYTES_MAX)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    let identity = TlsIdentity::for_key(client_key)?;
    let config = Arc::new(tls::client_config(&identity, Arc::new(KeySet(vec![server_key])))?);
    let target = address.to_string();
    let connect_fn: Box<
        dyn Fn(
                Uri,
            ) -> std::pin::Pin<
                Box<dyn Future<Output = io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>> + Send>,
            > + Send
            + Sync,
    > = Box::new(move |_uri: Uri| {
        let config = config.clone();
        let target = target.clone();
        Box::pin(async move {
            let tcp = TcpStream::connect(&target).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from("rollcall").map_err(|err| io::Error::other(err.to_string()))?;
            let tls = TlsConnector::from(config).connect(name, tcp).await?;
            Ok(TokioIo::new(tls))
        })
    });
    Ok((endpoint, tower::service_fn(connect_fn)))
}
