//! A running node: opens the store, rebuilds the enrollment state, starts the writer,
//! serves the gRPC API over mutual TLS, and keeps a sync session with its parent.
//!
//! Like mini-redis's `server::run`, [`Node::serve`] never binds a socket or installs a
//! signal handler: it takes a stream of accepted connections and a shutdown future, so
//! tests and simulations can supply their own. [`tls_incoming`] turns a TCP listener
//! into such a stream.

use std::future::Future;
use std::io;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures_util::Stream;
use rollcall_core::ReplicaId;
use rollcall_core::authority::Authority;
use rollcall_core::limits::{
    HTTP2_CONNECTION_WINDOW_BYTES, HTTP2_FRAME_BYTES_MAX, HTTP2_STREAM_WINDOW_BYTES, MESSAGE_BYTES_MAX,
};
use rollcall_proto::v1 as pb;
use rollcall_proto::v1::node_server::NodeServer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::config::{self, Config, ConfigError, ParentConfig};
use crate::connect;
use crate::projection::SharedProjection;
use crate::rpc::{NodeInfo, NodeService};
use crate::store::{Store, StoreError};
use crate::sync::{self, Peer, Side, SyncContext, SyncStats};
use crate::tls::{self, TlsError, TlsIdentity};
use crate::writer::{self, WriterHandle};

/// How long a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the listener pauses after a failed accept (e.g. out of file descriptors).
pub const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Most TLS handshakes in progress at once; further connections wait to be accepted.
pub const HANDSHAKES_IN_FLIGHT_MAX: usize = 64;
/// First wait before reconnecting to the parent; doubles up to `RECONNECT_BACKOFF_MAX`.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between two attempts to reach the parent.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(30);

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
    /// The enrollment state (mutated by the writer only).
    pub authority: Arc<RwLock<Authority>>,
    /// Member state, rollups, tables, deadlines (mutated by the writer only).
    pub projection: SharedProjection,
    /// Per-edge sync figures.
    pub stats: SyncStats,
    /// The TLS certificate and key.
    pub identity: TlsIdentity,
    /// Where the export to NATS JetStream stands (its stream is empty when none is configured).
    pub export: crate::jetstream::ExportStatus,
    nats_export: Option<crate::config::NatsExportConfig>,
    stream_message_bytes: usize,
    operators: Vec<ReplicaId>,
    parent: Option<ParentConfig>,
    key: SigningKey,
    writer_thread: JoinHandle<()>,
    /// The recovery marker, when the node started recovering its own log.
    recovery_marker: Option<std::path::PathBuf>,
    recovery: crate::recovery::RecoveryState,
}

impl Node {
    /// What dossiers and report proofs are built from (the CLI's embedded mode calls it
    /// directly; a running node's service holds the same).
    pub fn exporter(&self) -> crate::dossier::Exporter {
        crate::dossier::Exporter {
            store: self.store.clone(),
            authority: self.authority.clone(),
            projection: self.projection.clone(),
            key: Arc::new(self.key.clone()),
            unit: self.info.unit.clone(),
            root_unit: self.info.root_unit.clone(),
        }
    }

    /// Opens the node described by `config`.
    ///
    /// # Errors
    ///
    /// [`NodeError`] when the key, the store or the TLS material is unusable.
    pub fn open(config: &Config) -> Result<Node, NodeError> {
        let key = config::read_key(&config.replica_key_path)?;
        let stock = config::stock_certificate(&config.dir, &key)?;
        let identity = TlsIdentity::for_key(&key)?.with_stock_certificate(&stock)?;
        let replica = config::replica_of(&key);
        let opening = std::time::Instant::now();
        Store::check_owner(&config.store_path(), replica)?;
        let store = Store::open(&config.store_path())?;
        let store_millis = opening.elapsed().as_millis() as u64;
        let mut authority = Authority::new(config.root_key, config.root_unit.clone());
        authority.apply_chain(&crate::bundle::read_chain(&config.dir));
        for event in store.authority_events_in_ingest_order()? {
            authority.apply(&event);
        }
        tracing::info!(
            store_millis,
            authority_millis = opening.elapsed().as_millis() as u64 - store_millis,
            "store opened, enrollment state read"
        );
        let snapshot_path = crate::snapshot::path_for(&config.store_path());
        let (projection, opened) = crate::projection::open(&store, &authority, Some(&config.unit), &snapshot_path)?;
        match &opened {
            crate::projection::Opened::Restored { position, tail, millis } => {
                tracing::info!(
                    position,
                    tail,
                    millis,
                    "projection read from its snapshot, the events after it applied"
                );
            }
            crate::projection::Opened::Rebuilt { figures, refused: None } => {
                tracing::info!(
                    events = figures.events,
                    applied = figures.applied,
                    millis = figures.millis,
                    "projection rebuilt from the log (no snapshot yet)"
                );
            }
            crate::projection::Opened::Rebuilt { figures, refused: Some(why) } => {
                // A snapshot was there and did not fit: the operator should know why the
                // start took the long way.
                tracing::warn!(
                    events = figures.events,
                    applied = figures.applied,
                    millis = figures.millis,
                    why = why.as_str(),
                    "projection rebuilt from the log: the snapshot was not used"
                );
            }
        }
        let projection = Arc::new(RwLock::new(projection));
        let authority = Arc::new(RwLock::new(authority));
        let marker = crate::recovery::marker_path(&config.dir);
        let recovery_marker = marker.exists().then_some(marker);
        if recovery_marker.is_some() {
            tracing::warn!(
                "this node is recovering its own log (deploy/README.md, \"Backup and restore\"): it signs nothing until its parent and children (nodes one level below, laptops of its unit) have sent back what they hold of it"
            );
        }
        let (writer, writer_thread) = writer::start_recovering(
            store.clone(),
            key.clone(),
            config.unit.clone(),
            authority.clone(),
            projection.clone(),
            Some(writer::SnapshotSchedule::new(snapshot_path, opened.snapshot_position())),
            recovery_marker.clone(),
        )?;
        let mut operators = config.operator_keys.clone();
        operators.push(replica);
        Ok(Node {
            store,
            writer,
            info: NodeInfo {
                replica,
                unit: config.unit.clone(),
                level: config.level,
                root_key: config.root_key,
                root_unit: config.root_unit.clone(),
                parent: config.parent.as_ref().map(|parent| parent.key),
                stock_certificate_pem: stock.certificate_pem.clone(),
            },
            authority,
            projection,
            stats: SyncStats::default(),
            identity,
            export: crate::jetstream::ExportStatus::default(),
            nats_export: config.nats_export.clone(),
            stream_message_bytes: config.stream_message_bytes,
            operators,
            parent: config.parent.clone(),
            key,
            writer_thread,
            recovery: crate::recovery::RecoveryState::starting(recovery_marker.is_some()),
            recovery_marker,
        })
    }

    /// The TLS server configuration: this node's certificates; any client proving a
    /// replica key (who is admitted is [`crate::rpc::AccessCheck`], per call).
    ///
    /// # Errors
    ///
    /// [`TlsError`] if rustls refuses it.
    pub fn server_tls(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        Ok(Arc::new(tls::server_config(&self.identity)?))
    }

    /// Who this node admits, per call and per connection.
    pub fn access_check(&self) -> crate::rpc::AccessCheck {
        crate::rpc::AccessCheck {
            operators: Arc::new(self.operators.clone()),
            authority: self.authority.clone(),
            local_unit: self.info.unit.clone(),
        }
    }

    /// What the web dashboard reads; `stopping` ends its live streams and the server.
    pub fn dashboard(&self, stopping: watch::Receiver<bool>) -> std::sync::Arc<crate::dashboard::Dashboard> {
        std::sync::Arc::new(crate::dashboard::Dashboard {
            store: self.store.clone(),
            projection: self.projection.clone(),
            positions: self.writer.ingest_position(),
            authority: self.authority.clone(),
            operators: self.operators.clone(),
            info: self.info.clone(),
            stats: self.stats.clone(),
            stopping,
            export: self.export.clone(),
        })
    }

    /// The context shared by this node's sync sessions.
    pub fn sync_context(&self) -> SyncContext {
        SyncContext {
            store: self.store.clone(),
            writer: self.writer.clone(),
            authority: self.authority.clone(),
            local_unit: self.info.unit.clone(),
            stats: self.stats.clone(),
            recovery: self.recovery.clone(),
        }
    }

    /// One sync session with the parent as the child side, until both backlogs are
    /// exchanged and acknowledged: how a laptop (an embedded node that never listens)
    /// reconciles.
    ///
    /// # Errors
    ///
    /// A message when there is no parent or the session fails.
    pub async fn sync_with_parent(&self) -> Result<sync::SessionSummary, String> {
        let parent = self.parent.as_ref().ok_or("this node has no parent to sync with")?;
        let context = self.sync_context();
        let peer = parent_peer(&context, parent);
        let summary = sync_with(&context, parent, &self.key, &peer, true).await?;
        if let Some(marker) = &self.recovery_marker
            && let Some(waiting) = crate::recovery::check(&context, Some(parent.key), marker).await
        {
            tracing::warn!(waiting = %crate::recovery::describe(&waiting), "still recovering this node's own log");
        }
        Ok(summary)
    }

    /// Stops the writer after its last group and waits for it (for embedded use; a
    /// served node does this at the end of [`Node::serve`]).
    pub async fn close(self) {
        let Node { writer, writer_thread, projection, .. } = self;
        drop(writer);
        let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
        free_in_background(&projection);
    }

    /// Serves the API on `incoming` connections, and syncs with the parent if there is
    /// one, until `shutdown` completes; then waits for the writer to finish its last group.
    ///
    /// # Errors
    ///
    /// [`NodeError::Transport`] if the server fails.
    pub async fn serve<IO, S>(self, incoming: S, shutdown: impl Future<Output = ()>) -> Result<(), NodeError>
    where
        IO: AsyncRead
            + AsyncWrite
            + Connected<ConnectInfo = tonic::transport::server::TlsConnectInfo<tonic::transport::server::TcpConnectInfo>>
            + Unpin
            + Send
            + 'static,
        S: Stream<Item = Result<IO, io::Error>> + Send + 'static,
    {
        let context = self.sync_context();
        let access = self.access_check();
        let exporter = self.exporter();
        let Node {
            store,
            projection,
            writer,
            info,
            writer_thread,
            operators,
            parent,
            key,
            authority,
            export,
            nats_export,
            stream_message_bytes,
            recovery_marker,
            ..
        } = self;
        let (stop_sender, stop_receiver) = watch::channel(false);
        let stop_receiver_for_service = stop_receiver.clone();
        let verifier = crate::reports::Verifier {
            store: store.clone(),
            writer: writer.clone(),
            authority,
            projection: projection.clone(),
            local_unit: info.unit.clone(),
        };
        let verifier_task = tokio::spawn(verifier.run(stop_receiver.clone()));
        let export_task = nats_export.map(|config| {
            tokio::spawn(crate::jetstream::run(
                config,
                store.clone(),
                writer.ingest_position(),
                stop_receiver.clone(),
                info.replica,
                export.clone(),
            ))
        });
        let recovery_task = recovery_marker.map(|marker| {
            tokio::spawn(crate::recovery::watch_until_recovered(
                context.clone(),
                parent.as_ref().map(|parent| parent.key),
                marker,
                stop_receiver.clone(),
            ))
        });
        let parent_task = parent.map(|parent| tokio::spawn(parent_link(context.clone(), parent, key, stop_receiver)));
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter.set_serving::<NodeServer<NodeService>>().await;
        // Reflection v1 and v1alpha, each answer with the file's dependencies.
        let (reflection, reflection_v1alpha) = crate::rpc::reflection::services()
            .map_err(|err| NodeError::Tls(TlsError::Certificate(format!("reflection: {err}"))))?;
        // Long-lived streams (subscriptions) end as soon as shutdown begins, so the
        // graceful shutdown does not wait for consumers that never hang up.
        let stop_sender = std::sync::Arc::new(stop_sender);
        let shutdown = {
            let stop_sender = stop_sender.clone();
            async move {
                shutdown.await;
                let _ = stop_sender.send(true);
            }
        };
        let service = NodeService::new(store, projection.clone(), writer, info, operators, context)
            .with_stop(stop_receiver_for_service)
            .with_export(export)
            .with_exporter(exporter)
            .with_stream_message_bytes(stream_message_bytes);
        let service = NodeServer::new(service)
            .max_decoding_message_size(MESSAGE_BYTES_MAX)
            .max_encoding_message_size(MESSAGE_BYTES_MAX);
        // Every service behind the same door: who is not admitted is told why.
        use tonic::service::interceptor::InterceptedService as Door;
        let served = tonic::transport::Server::builder()
            .initial_stream_window_size(HTTP2_STREAM_WINDOW_BYTES)
            .initial_connection_window_size(HTTP2_CONNECTION_WINDOW_BYTES)
            .max_frame_size(HTTP2_FRAME_BYTES_MAX)
            .add_service(Door::new(health_service, access.clone()))
            .add_service(Door::new(reflection, access.clone()))
            .add_service(Door::new(reflection_v1alpha, access.clone()))
            .add_service(Door::new(service, access.clone()))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        let _ = stop_sender.send(true);
        if let Some(task) = parent_task {
            let _ = task.await;
        }
        let _ = verifier_task.await;
        if let Some(task) = recovery_task {
            let _ = task.await;
        }
        if let Some(task) = export_task {
            let _ = task.await;
        }
        served?;
        // Every writer handle was owned by the service and the sync tasks, now dropped:
        // the thread drains its queue and ends.
        let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
        free_in_background(&projection);
        Ok(())
    }
}

/// Takes the projection's contents out (the writer has ended: nothing reads it now but
/// stray query tasks, which see an empty projection) and frees them on a thread of their
/// own. Freeing a province's millions of small allocations takes seconds; a process
/// that exits meanwhile hands the memory back to the system at once instead.
fn free_in_background(projection: &SharedProjection) {
    let taken = std::mem::take(&mut *projection.write().expect("the projection lock is never poisoned"));
    let _ = std::thread::Builder::new().name("rollcall-free".into()).spawn(move || drop(taken));
}

/// Response metadata of `Sync` to a revoked laptop: the last seq of its own log the node
/// still accepts (decimal). The session then only takes what it hands in.
pub const REVOKED_AFTER_METADATA: &str = "rollcall-revoked-after-seq";

/// Keeps a sync session with the parent, reconnecting with exponential backoff.
async fn parent_link(context: SyncContext, parent: ParentConfig, key: SigningKey, mut stop: watch::Receiver<bool>) {
    let mut backoff = RECONNECT_BACKOFF_MIN;
    let peer = Peer {
        replica: parent.key,
        unit: context.local_unit.parent().unwrap_or_else(|| context.local_unit.clone()),
        upload_only: false,
    };
    loop {
        let attempt = sync_with(&context, &parent, &key, &peer, false);
        let outcome = tokio::select! {
            outcome = attempt => outcome,
            _ = stop.changed() => return,
        };
        match outcome {
            Ok(summary) => {
                tracing::info!(parent = %parent.address, sent = summary.sent, received = summary.received, "sync session with the parent ended");
                backoff = RECONNECT_BACKOFF_MIN;
            }
            Err(error) => {
                tracing::warn!(parent = %parent.address, %error, retry_in_ms = backoff.as_millis() as u64, "sync with the parent failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX);
    }
}

/// The parent as a peer: its enrolled unit if known here, else the unit above ours.
fn parent_peer(context: &SyncContext, parent: &ParentConfig) -> Peer {
    let unit = context
        .authority
        .read()
        .expect("never poisoned")
        .enrollment(&parent.key)
        .map(|enrollment| enrollment.unit.clone())
        .or_else(|| context.local_unit.parent())
        .unwrap_or_else(|| context.local_unit.clone());
    Peer { replica: parent.key, unit, upload_only: false }
}

/// One sync session with `parent` as the child side. With `until_caught_up`, returns
/// once both backlogs are exchanged and acknowledged (a laptop's `rollcall sync`).
///
/// # Errors
///
/// A message when the connection or the session fails.
pub async fn sync_with(
    context: &SyncContext,
    parent: &ParentConfig,
    key: &SigningKey,
    peer: &Peer,
    until_caught_up: bool,
) -> Result<sync::SessionSummary, String> {
    let channel = connect::connect(&parent.address, parent.key, key).await.map_err(|err| err.to_string())?;
    let mut client = pb::node_client::NodeClient::new(channel)
        .max_decoding_message_size(MESSAGE_BYTES_MAX)
        .max_encoding_message_size(MESSAGE_BYTES_MAX);
    let (outbound, outbound_receiver) = mpsc::channel(sync::OUTBOUND_QUEUE_DEPTH);
    let response =
        client.sync(ReceiverStream::new(outbound_receiver)).await.map_err(|status| status.message().to_string())?;
    let revoked_after = response
        .metadata()
        .get(REVOKED_AFTER_METADATA)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if let Some(after) = revoked_after {
        tracing::warn!(
            revoked_after = after,
            "this replica is revoked: handing in what it signed up to that seq, receiving nothing"
        );
    }
    let inbound = response.into_inner();
    let mut summary = sync::run_session(context.clone(), Side::Child, peer.clone(), inbound, outbound, until_caught_up)
        .await
        .map_err(|err| err.to_string())?;
    summary.revoked_after = revoked_after;
    Ok(summary)
}

/// Connections open at once (handshakes included); further ones wait to be accepted.
pub const CONNECTIONS_MAX: usize = 4096;

/// Connections of keys the node does not admit, open at once (in their grace); beyond,
/// such a connection is dropped at once, so they never take the admitted keys' slots.
pub const NOT_ADMITTED_MAX: usize = 64;

/// How long a connection whose key the node does not admit stays open: long enough for
/// its calls to be answered with the reason, not long enough to hold the node's sockets.
pub const NOT_ADMITTED_GRACE: Duration = Duration::from_secs(5);

/// An accepted connection: counted against [`CONNECTIONS_MAX`] while open, and closed
/// after [`NOT_ADMITTED_GRACE`] when its key was not admitted at the handshake.
pub struct AcceptedConnection {
    inner: TlsStream<TcpStream>,
    _open: tokio::sync::OwnedSemaphorePermit,
    closes_at: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl AcceptedConnection {
    /// True once a not-admitted connection's grace is over (registers the waker).
    fn expired(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        self.closes_at.as_mut().is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready())
    }
}

fn closed_not_admitted() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "closed: the key is not admitted by this node")
}

impl AsyncRead for AcceptedConnection {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        if self.expired(cx) {
            return std::task::Poll::Ready(Err(closed_not_admitted()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for AcceptedConnection {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        if self.expired(cx) {
            return std::task::Poll::Ready(Err(closed_not_admitted()));
        }
        std::pin::Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Connected for AcceptedConnection {
    type ConnectInfo = <TlsStream<TcpStream> as Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// Accepts TCP connections on `listener` and completes TLS handshakes, bounded in number
/// and time. Failed handshakes are logged (address only) and dropped. A connection whose
/// key `access` does not admit is served (so its calls are answered with the reason) and
/// closed after [`NOT_ADMITTED_GRACE`], at most [`NOT_ADMITTED_MAX`] of them at once (more
/// are dropped); at most [`CONNECTIONS_MAX`] connections are open at once.
pub fn tls_incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    access: crate::rpc::AccessCheck,
) -> impl Stream<Item = Result<AcceptedConnection, io::Error>> {
    let acceptor = TlsAcceptor::from(config);
    let (sender, receiver) = mpsc::channel(HANDSHAKES_IN_FLIGHT_MAX);
    let permits = Arc::new(Semaphore::new(HANDSHAKES_IN_FLIGHT_MAX));
    let connections = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let not_admitted = Arc::new(Semaphore::new(NOT_ADMITTED_MAX));
    tokio::spawn(async move {
        loop {
            let Ok(open) = connections.clone().acquire_owned().await else { return };
            let Ok(permit) = permits.clone().acquire_owned().await else { return };
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors (or another transient failure): pause instead
                    // of spinning, so the log is not flooded and connections can close.
                    tracing::warn!(%error, "accept failed; pausing 100 ms");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                    continue;
                }
            };
            if sender.is_closed() {
                return;
            }
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let sender = sender.clone();
            let access = access.clone();
            let not_admitted = not_admitted.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let admitted = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|certificates| certificates.first())
                            .and_then(|certificate| tls::identity_of_certificate(certificate, writer::now_ms()).ok())
                            .is_some_and(|identity| access.refusal(&identity.key, writer::now_ms()).is_none());
                        // A key not admitted holds a slot of its own small pool, never one of
                        // the admitted keys'; when that pool is full it is dropped at once.
                        let open = if admitted {
                            open
                        } else {
                            let Ok(slot) = not_admitted.try_acquire_owned() else {
                                tracing::debug!(%peer, "connection of a key not admitted: too many, dropped");
                                return;
                            };
                            tracing::debug!(%peer, "connection of a key not admitted: closing after the grace");
                            drop(open);
                            slot
                        };
                        let closes_at = (!admitted).then(|| Box::pin(tokio::time::sleep(NOT_ADMITTED_GRACE)));
                        let _ = sender.send(Ok(AcceptedConnection { inner: stream, _open: open, closes_at })).await;
                    }
                    Ok(Err(error)) => tracing::warn!(%peer, %error, "tls handshake refused"),
                    Err(_) => tracing::warn!(%peer, "tls handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}
