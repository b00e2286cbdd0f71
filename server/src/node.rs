//! A running node: opens the store, starts the writer, serves the gRPC API over TLS.
//!
//! Like mini-redis's `server::run`, [`Node::serve`] never binds a socket or installs a
//! signal handler: it takes a stream of accepted connections and a shutdown future, so
//! tests and simulations can supply their own. [`tls_incoming`] turns a TCP listener
//! into such a stream.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use futures_util::Stream;
use rollcall_core::ReplicaId;
use rollcall_core::limits::MESSAGE_BYTES_MAX;
use rollcall_proto::v1::node_server::NodeServer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::config::{self, Config, ConfigError};
use crate::rpc::{NodeInfo, NodeService};
use crate::store::{Store, StoreError};
use crate::tls::{self, KeySet, TlsError, TlsIdentity};
use crate::writer::{self, WriterHandle};

/// How long a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TLS handshakes in progress at once; further connections wait to be accepted.
pub const HANDSHAKES_IN_FLIGHT_MAX: usize = 64;

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Configuration or key problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// TLS material could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// An open node: store, writer and identity, ready to serve.
pub struct Node {
    /// The store (shared with the writer).
    pub store: Store,
    /// Appends to the local log.
    pub writer: WriterHandle,
    /// Who this node is.
    pub info: NodeInfo,
    /// Keys allowed to connect.
    pub allowed_keys: Vec<ReplicaId>,
    /// The TLS certificate and key.
    pub identity: TlsIdentity,
    writer_thread: JoinHandle<()>,
}

impl Node {
    /// Opens the node described by `config`.
    ///
    /// # Errors
    ///
    /// [`NodeError`] when the key, the store or the TLS material is unusable.
    pub fn open(config: &Config) -> Result<Node, NodeError> {
        let key = config::read_key(&config.replica_key_path)?;
        let identity = TlsIdentity::for_key(&key)?;
        let replica = config::replica_of(&key);
        let store = Store::open(&config.store_path())?;
        let (writer, writer_thread) = writer::start(store.clone(), key)?;
        let mut allowed_keys = config.operator_keys.clone();
        allowed_keys.push(replica);
        Ok(Node {
            store,
            writer,
            info: NodeInfo { replica, unit: config.unit.clone(), level: config.level },
            allowed_keys,
            identity,
            writer_thread,
        })
    }

    /// The TLS server configuration: this node's certificate, clients by allowed key.
    ///
    /// # Errors
    ///
    /// [`TlsError`] if rustls refuses it.
    pub fn server_tls(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        Ok(Arc::new(tls::server_config(&self.identity, Arc::new(KeySet(self.allowed_keys.clone())))?))
    }

    /// Serves the API on `incoming` connections until `shutdown` completes, then waits
    /// for the writer to finish its last group.
    ///
    /// # Errors
    ///
    /// [`NodeError::Transport`] if the server fails.
    pub async fn serve<IO, S>(self, incoming: S, shutdown: impl Future<Output = ()>) -> Result<(), NodeError>
    where
        IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
        S: Stream<Item = Result<IO, io::Error>> + Send + 'static,
    {
        let Node { store, writer, info, writer_thread, .. } = self;
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter.set_serving::<NodeServer<NodeService>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(rollcall_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|err| NodeError::Tls(TlsError::Certificate(format!("reflection: {err}"))))?;
        let service = NodeServer::new(NodeService::new(store, writer, info))
            .max_decoding_message_size(MESSAGE_BYTES_MAX)
            .max_encoding_message_size(MESSAGE_BYTES_MAX);
        tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
        // Every writer handle was owned by the service, now dropped: the thread drains
        // its queue and ends.
        let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
        Ok(())
    }
}

/// Accepts TCP connections on `listener` and completes TLS handshakes, bounded in number
/// and time. Failed handshakes are logged (address only) and dropped.
pub fn tls_incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> impl Stream<Item = Result<TlsStream<TcpStream>, io::Error>> {
    let acceptor = TlsAcceptor::from(config);
    let (sender, receiver) = mpsc::channel(HANDSHAKES_IN_FLIGHT_MAX);
    let permits = Arc::new(Semaphore::new(HANDSHAKES_IN_FLIGHT_MAX));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else { return };
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            if sender.is_closed() {
                return;
            }
            let acceptor = acceptor.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = sender.send(Ok(stream)).await;
                    }
                    Ok(Err(error)) => tracing::warn!(%peer, %error, "tls handshake refused"),
                    Err(_) => tracing::warn!(%peer, "tls handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}
