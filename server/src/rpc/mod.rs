//! The node's gRPC services. Protobuf types stop here: requests are converted to core
//! types by hand and malformed input is rejected with `InvalidArgument` at this edge.
//!
//! Every request arrives over mutual TLS ([`crate::tls`]); the caller's key is in the
//! connection's certificate and has already been accepted by the node's key policy.

pub mod reflection;
pub mod status;

use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use rollcall_core::limits::{DRAFTS_PER_APPEND_MAX, EVENTS_PER_MESSAGE_MAX, MESSAGE_BYTES_TARGET};
use rollcall_core::log::Draft;
use rollcall_core::{EventKind, ReplicaId, Seq, UnitPath, codec};
use rollcall_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use crate::projection::SharedProjection;
use crate::queries;
use crate::store::Store;
use crate::sync::{self, Side, SyncContext};
use crate::writer::WriterHandle;

/// Identity facts served by `Identity`.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// The local replica.
    pub replica: ReplicaId,
    /// The unit it serves.
    pub unit: UnitPath,
    /// Its level.
    pub level: rollcall_core::Level,
    /// The province's pinned root key.
    pub root_key: ReplicaId,
    /// The province's unit.
    pub root_unit: UnitPath,
    /// The parent's key, for every node but the province's.
    pub parent: Option<ReplicaId>,
    /// The node's bound P-256 certificate for stock clients (PEM).
    pub stock_certificate_pem: String,
}

/// The `rollcall.v1.Node` service.
#[derive(Clone)]
pub struct NodeService {
    /// True once the node is shutting down: long-lived streams end.
    stopping: tokio::sync::watch::Receiver<bool>,
    store: Store,
    projection: SharedProjection,
    writer: WriterHandle,
    info: NodeInfo,
    operators: Vec<ReplicaId>,
    sync: SyncContext,
    export: crate::jetstream::ExportStatus,
    stream_message_bytes: usize,
    access: AccessCheck,
    exporter: Option<crate::dossier::Exporter>,
}

impl NodeService {
    /// A service over a store and its writer.
    pub fn new(
        store: Store,
        projection: SharedProjection,
        writer: WriterHandle,
        info: NodeInfo,
        operators: Vec<ReplicaId>,
        sync: SyncContext,
    ) -> NodeService {
        let (_, stopping) = tokio::sync::watch::channel(false);
        let access = AccessCheck {
            operators: Arc::new(operators.clone()),
            authority: sync.authority.clone(),
            local_unit: info.unit.clone(),
        };
        NodeService {
            access,
            stopping,
            store,
            projection,
            writer,
            info,
            operators,
            sync,
            export: crate::jetstream::ExportStatus::default(),
            stream_message_bytes: MESSAGE_BYTES_TARGET,
            exporter: None,
        }
    }

    /// Closes `Subscribe` and `ReadLog` responses at `bytes` (`[limits] stream_message_bytes`).
    pub fn with_stream_message_bytes(mut self, bytes: usize) -> NodeService {
        self.stream_message_bytes = bytes;
        self
    }

    /// Builds dossiers and report proofs, signed by the node.
    pub fn with_exporter(mut self, exporter: crate::dossier::Exporter) -> NodeService {
        self.exporter = Some(exporter);
        self
    }

    /// Reports the export's state in `SyncStatus`.
    pub fn with_export(mut self, export: crate::jetstream::ExportStatus) -> NodeService {
        self.export = export;
        self
    }

    /// Ends long-lived streams when `stopping` turns true.
    pub fn with_stop(mut self, stopping: tokio::sync::watch::Receiver<bool>) -> NodeService {
        self.stopping = stopping;
        self
    }

    /// Refuses callers that are not operators of this node (enrolled replicas may sync
    /// but not author through this node).
    fn require_operator<T>(&self, request: &Request<T>) -> Result<(), Status> {
        match peer_key(request) {
            Some(key) if self.operators.contains(&key) => Ok(()),
            Some(key) => Err(Status::permission_denied(format!(
                "key {} is not an operator of this node: only the keys in [access] operator_keys of its \
                 rollcall.toml (and the node's own) may call this",
                key.short()
            ))),
            None if reader_key(request).is_some() => Err(bound_reads_only()),
            None => Err(Status::unauthenticated("a client certificate is required")),
        }
    }
}

/// The refusal of a write, a sync or personal data in full to a bound certificate.
fn bound_reads_only() -> Status {
    Status::permission_denied(
        "a certificate made by `rollcall consumer` only reads: writing, syncing and personal data in full need \
         the Ed25519 key itself",
    )
}

impl NodeService {
    /// The subtree the caller may read: an operator reads the node's unit; an enrolled
    /// viewer reads its own unit (`Authority::viewer_scope`); anyone else is refused.
    fn reader_scope<T>(&self, request: &Request<T>) -> Result<UnitPath, Status> {
        let Some(key) = reader_key(request) else {
            return Err(Status::unauthenticated("a client certificate is required"));
        };
        if self.operators.contains(&key) {
            return Ok(self.info.unit.clone());
        }
        let authority = self.sync.authority.read().expect("the authority lock is never poisoned");
        authority
            .viewer_scope(&key, &self.info.unit, crate::writer::now_ms())
            .ok_or_else(|| Status::permission_denied("only this node's operators and enrolled viewers may read"))
    }

    /// True when the caller is an operator of this node, holding its key or a certificate
    /// bound to it: it reads every log (personal data in full needs the key itself).
    fn reads_as_operator<T>(&self, request: &Request<T>) -> bool {
        reader_key(request).is_some_and(|key| self.operators.contains(&key))
    }

    /// True when `replica` is enrolled at a unit within `scope` (so its whole log is
    /// about that subtree).
    fn log_within(&self, replica: &ReplicaId, scope: &UnitPath) -> bool {
        let authority = self.sync.authority.read().expect("the authority lock is never poisoned");
        authority.enrollment(replica).is_some_and(|enrollment| enrollment.unit.is_within(scope))
    }

    fn read_projection(&self) -> std::sync::RwLockReadGuard<'_, rollcall_core::audit::Projection> {
        self.projection.read().expect("the projection lock is never poisoned: its holders do not panic")
    }
}

/// A stored head on the wire.
pub fn head_to_proto(stored: &crate::store::StoredHead) -> pb::ReplicaHead {
    pb::ReplicaHead {
        replica: stored.replica.0.to_vec().into(),
        seq: stored.head.seq.0,
        hash: stored.head.hash.0.to_vec().into(),
    }
}

/// Who made `request`: the replica key its TLS certificate proved (directly, or through
/// a bound P-256 certificate).
pub fn peer_identity<T>(request: &Request<T>) -> Option<crate::tls::PeerIdentity> {
    let info = request.extensions().get::<TlsConnectInfo<TcpConnectInfo>>()?;
    let certs = info.peer_certs()?;
    crate::tls::identity_of_certificate(certs.first()?, crate::writer::now_ms()).ok()
}

/// The key of the TLS peer that made `request`, when it holds that key itself (a bound
/// certificate only reads: see [`reader_key`]).
pub fn peer_key<T>(request: &Request<T>) -> Option<ReplicaId> {
    peer_identity(request).filter(|identity| !identity.bound).map(|identity| identity.key)
}

/// The key of the TLS peer that made `request`, directly or through a bound certificate:
/// for the calls that only read.
pub fn reader_key<T>(request: &Request<T>) -> Option<ReplicaId> {
    peer_identity(request).map(|identity| identity.key)
}

/// The node's door, before any call of any service (`rollcall.v1.Node`, health,
/// reflection): admits its operators, every enrolled replica that is neither revoked,
/// expired nor quarantined, and a revoked laptop of the node's own unit (it may only hand
/// in what it signed before its revocation). Anyone else is refused with a status that
/// says why, in English and (metadata [`status::RULE_ZH_METADATA`]) Chinese. What an
/// admitted key may do is decided per call.
#[derive(Clone, Debug)]
pub struct AccessCheck {
    /// The node's operator keys (and its own).
    pub operators: Arc<Vec<ReplicaId>>,
    /// The enrollment state.
    pub authority: Arc<std::sync::RwLock<rollcall_core::authority::Authority>>,
    /// The node's unit.
    pub local_unit: UnitPath,
}

impl AccessCheck {
    /// Why `key` is not admitted, in English and Chinese; `None` when it is.
    pub fn refusal(&self, key: &ReplicaId, now_ms: u64) -> Option<(String, String)> {
        if self.operators.contains(key) {
            return None;
        }
        let authority = self.authority.read().expect("the authority lock is never poisoned");
        let short = key.short();
        let Some(enrollment) = authority.enrollment(key) else {
            return Some((
                format!(
                    "key {short} is neither an operator of this node ({}) nor enrolled in its province: \
                     ask the node's operator to enroll it (rollcall consumer, or rollcall enroll --role viewer)",
                    self.local_unit
                ),
                format!(
                    "密钥 {short} 既不是本节点（{}）的操作员，也未在本省登记：请本节点操作员为其登记（rollcall consumer，或 rollcall enroll --role viewer）",
                    self.local_unit
                ),
            ));
        };
        if authority.is_quarantined(key) {
            return Some((
                format!("key {short} is quarantined: it signed two different events at the same position of its log"),
                format!("密钥 {short} 已被隔离：它在日志同一位置签署了两条不同的事件"),
            ));
        }
        if let Some(after) = enrollment.revoked_after {
            if authority.revoked_laptop_of(key, &self.local_unit).is_some() {
                return None;
            }
            return Some((
                format!(
                    "key {short} ({}) was revoked after seq {}: this node no longer admits it",
                    enrollment.unit, after.0
                ),
                format!("密钥 {short}（{}）已于第 {} 条之后被吊销：本节点不再接受", enrollment.unit, after.0),
            ));
        }
        if enrollment.valid_until_ms != 0 && now_ms > enrollment.valid_until_ms {
            return Some((
                format!("key {short} ({}): its enrollment expired; ask for a new one", enrollment.unit),
                format!("密钥 {short}（{}）的登记已过期：请重新登记", enrollment.unit),
            ));
        }
        None
    }
}

impl tonic::service::Interceptor for AccessCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(identity) = peer_identity(&request) else {
            return Err(Status::unauthenticated("a client certificate is required"));
        };
        match self.refusal(&identity.key, crate::writer::now_ms()) {
            None => Ok(request),
            Some((english, chinese)) => Err(refusal_status(english, chinese)),
        }
    }
}

/// `UNAUTHENTICATED` with the reason, the Chinese text in [`status::RULE_ZH_METADATA`].
fn refusal_status(english: String, chinese: String) -> Status {
    let mut status = Status::unauthenticated(english);
    status
        .metadata_mut()
        .insert_bin(status::RULE_ZH_METADATA, tonic::metadata::MetadataValue::from_bytes(chinese.as_bytes()));
    status
}

fn replica_from_bytes(bytes: &[u8]) -> Result<ReplicaId, Status> {
    bytes
        .try_into()
        .map(ReplicaId)
        .map_err(|_| Status::invalid_argument(format!("replica is {} bytes, expected 32", bytes.len())))
}

fn draft_from_proto(index: usize, draft: pb::EventDraft) -> Result<Draft, Status> {
    let unit_path =
        UnitPath::parse(&draft.unit_path).map_err(|err| Status::invalid_argument(format!("draft {index}: {err}")))?;
    let kind = EventKind::try_from(draft.kind)
        .ok()
        .filter(|kind| *kind != EventKind::Unspecified)
        .ok_or_else(|| Status::invalid_argument(format!("draft {index}: unknown event kind {}", draft.kind)))?;
    Ok(Draft { unit_path, kind, body: draft.body, author: draft.author })
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ReadLogResponse, Status>> + Send>>;

/// The drafts' client-chosen ids: all 16 bytes, or none given.
fn draft_ids_from_proto(drafts: &[pb::EventDraft]) -> Result<Option<Vec<[u8; 16]>>, Status> {
    if drafts.iter().all(|draft| draft.draft_id.is_empty()) {
        return Ok(None);
    }
    drafts
        .iter()
        .enumerate()
        .map(|(index, draft)| {
            <[u8; 16]>::try_from(&draft.draft_id[..]).map_err(|_| {
                Status::invalid_argument(format!(
                    "draft {index}: draft_id must be 16 bytes on every draft of an append, or absent on all"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[tonic::async_trait]
impl pb::node_server::Node for NodeService {
    #[tracing::instrument(skip_all, fields(n_drafts))]
    async fn append(&self, request: Request<pb::AppendRequest>) -> Result<Response<pb::AppendResponse>, Status> {
        self.require_operator(&request)?;
        let drafts = request.into_inner().drafts;
        tracing::Span::current().record("n_drafts", drafts.len());
        if drafts.is_empty() {
            return Err(Status::invalid_argument("an append needs at least one draft"));
        }
        if drafts.len() > DRAFTS_PER_APPEND_MAX {
            return Err(Status::resource_exhausted(format!(
                "{} drafts in one append, more than {DRAFTS_PER_APPEND_MAX}",
                drafts.len()
            )));
        }
        let draft_ids = draft_ids_from_proto(&drafts)?;
        let drafts = drafts
            .into_iter()
            .enumerate()
            .map(|(index, draft)| draft_from_proto(index, draft))
            .collect::<Result<Vec<_>, _>>()?;
        let started = std::time::Instant::now();
        let appended = self.writer.append_idempotent(drafts, draft_ids).await.map_err(status::append_error)?;
        crate::metrics::observe_append(started.elapsed());
        Ok(Response::new(pb::AppendResponse {
            replica: self.writer.replica().0.to_vec().into(),
            events: appended
                .into_iter()
                .map(|event| pb::AppendedEvent {
                    seq: event.seq.0,
                    event_id: event.event_id.0.to_vec().into(),
                    hash: event.hash.0.to_vec().into(),
                })
                .collect(),
        }))
    }

    type ReadLogStream = EventStream;

    #[tracing::instrument(skip_all)]
    async fn read_log(&self, request: Request<pb::ReadLogRequest>) -> Result<Response<Self::ReadLogStream>, Status> {
        let scope = self.reader_scope(&request)?;
        let operator = self.reads_as_operator(&request);
        let personal_data = self.require_operator(&request).is_ok();
        let stream_message_bytes = self.stream_message_bytes;
        let request = request.into_inner();
        let replica = replica_from_bytes(&request.replica)?;
        if !operator && !self.log_within(&replica, &scope) {
            return Err(Status::permission_denied(format!(
                "the log of {} is not within {scope}, the unit this viewer reads",
                replica.short()
            )));
        }
        let limit = if request.limit == 0 { u64::MAX } else { request.limit };
        let store = self.store.clone();
        let (sender, receiver) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut next = Seq(request.from_seq.max(1));
            let mut remaining = limit;
            while remaining > 0 {
                let batch_len = remaining.min(EVENTS_PER_MESSAGE_MAX as u64) as usize;
                let reader = store.clone();
                let read = tokio::task::spawn_blocking(move || reader.read_log(replica, next, batch_len)).await;
                let events = match read {
                    Ok(Ok(events)) => events,
                    Ok(Err(error)) => {
                        let _ = sender.send(Err(status::store_error(error))).await;
                        return;
                    }
                    Err(_) => {
                        let _ = sender.send(Err(Status::internal("read task failed"))).await;
                        return;
                    }
                };
                let Some(last) = events.last() else { return };
                next = Seq(last.seq().0 + 1);
                remaining -= events.len() as u64;
                let mut message = pb::ReadLogResponse::default();
                let mut message_bytes = 0;
                for event in &events {
                    let mut signed = codec::to_proto(&event.to_signed());
                    if !personal_data
                        && event.body().is_some_and(|body| queries::carries_personal_data(event.header().kind, body))
                    {
                        signed.body = None;
                    }
                    message_bytes += signed.header.len() + signed.body.as_ref().map_or(0, |b| b.len()) + 64;
                    message.events.push(signed);
                    if message_bytes >= stream_message_bytes {
                        if sender.send(Ok(std::mem::take(&mut message))).await.is_err() {
                            return;
                        }
                        message_bytes = 0;
                    }
                }
                if !message.events.is_empty() && sender.send(Ok(message)).await.is_err() {
                    return;
                }
                if events.len() < batch_len {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn heads(&self, request: Request<pb::HeadsRequest>) -> Result<Response<pb::HeadsResponse>, Status> {
        // An operator sees every log; an enrolled viewer the logs of the replicas enrolled
        // within its unit (authority confines their events to that subtree), so it can
        // reconcile what it consumed.
        let scope = self.reader_scope(&request)?;
        let operator = self.reads_as_operator(&request);
        let store = self.store.clone();
        let heads = tokio::task::spawn_blocking(move || store.heads())
            .await
            .map_err(|_| Status::internal("read task failed"))?
            .map_err(status::store_error)?;
        let heads = heads.into_iter().filter(|stored| operator || self.log_within(&stored.replica, &scope));
        Ok(Response::new(pb::HeadsResponse { heads: heads.map(|stored| head_to_proto(&stored)).collect() }))
    }

    async fn identity(&self, _request: Request<pb::IdentityRequest>) -> Result<Response<pb::IdentityResponse>, Status> {
        Ok(Response::new(pb::IdentityResponse {
            replica: self.info.replica.0.to_vec().into(),
            unit_path: self.info.unit.to_string(),
            level: self.info.level.to_proto() as i32,
            version: env!("CARGO_PKG_VERSION").to_string(),
            root_key: self.info.root_key.0.to_vec().into(),
            root_unit: self.info.root_unit.to_string(),
            stock_certificate_pem: self.info.stock_certificate_pem.clone(),
        }))
    }

    async fn sync_status(
        &self,
        request: Request<pb::SyncStatusRequest>,
    ) -> Result<Response<pb::SyncStatusResponse>, Status> {
        // An operator sees every edge and log; a viewer the edges to units within its
        // scope and the logs enrolled within it (as `Heads`), and the node's backlog
        // towards the level above only when its scope is the node's whole unit.
        let scope = self.reader_scope(&request)?;
        let operator = self.reads_as_operator(&request);
        let (store, authority, info) = (self.store.clone(), self.sync.authority.clone(), self.info.clone());
        let edges = self.sync.stats.snapshot();
        let mut response = tokio::task::spawn_blocking(move || sync_status(&store, &authority, &info, edges))
            .await
            .map_err(|_| Status::internal("read task failed"))?
            .map_err(status::store_error)?;
        if operator && let Some(waiting) = self.sync.recovery.waiting() {
            response.recovery = Some(pb::RecoveryStatus {
                waiting: waiting
                    .into_iter()
                    .map(|wait| {
                        use rollcall_core::recovery::WaitReason;
                        let (heard, holds_seq, recovering) = match wait.reason {
                            WaitReason::Holds(seq) => (true, seq.0, false),
                            WaitReason::NotHeard => (false, 0, false),
                            WaitReason::Recovering => (true, 0, true),
                        };
                        pb::RecoveryWait {
                            replica: wait.peer.0.to_vec().into(),
                            unit: wait.unit.to_string(),
                            heard,
                            holds_seq,
                            recovering,
                        }
                    })
                    .collect(),
            });
        }
        let export = self.export.snapshot();
        if operator && !export.stream.is_empty() {
            let position = *self.writer.ingest_position().borrow();
            response.exports.push(pb::ExportStatus {
                kind: "nats-jetstream".to_string(),
                target: export.stream,
                servers: export.servers,
                cursor: export.cursor,
                position,
                connected: export.connected,
                published: export.published,
                duplicates: export.duplicates,
                last_export_ms: export.last_export_ms,
                last_error: export.last_error.unwrap_or_default(),
            });
        }
        if !operator {
            response.edges.retain(|edge| UnitPath::parse(&edge.unit).is_ok_and(|unit| unit.is_within(&scope)));
            response.local_heads.retain(|head| {
                replica_from_bytes(&head.replica).is_ok_and(|replica| self.log_within(&replica, &scope))
            });
            if scope != self.info.unit {
                response.last_receipt = None;
                response.unsent_up = 0;
                response.oldest_unsent_up_ms = 0;
            }
        }
        Ok(Response::new(response))
    }

    async fn enrollment_chain(
        &self,
        request: Request<pb::EnrollmentChainRequest>,
    ) -> Result<Response<pb::EnrollmentChainResponse>, Status> {
        self.require_operator(&request)?;
        let replica = replica_from_bytes(&request.into_inner().replica)?;
        let chain = self
            .sync
            .authority
            .read()
            .expect("never poisoned")
            .chain_of(&replica)
            .ok_or_else(|| Status::not_found("that key is not enrolled here"))?;
        let store = self.store.clone();
        let events = tokio::task::spawn_blocking(move || {
            chain.into_iter().map(|(enroller, seq)| store.get(enroller, seq)).collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|_| Status::internal("read task failed"))?
        .map_err(status::store_error)?;
        let events = events
            .into_iter()
            .map(|event| event.ok_or_else(|| Status::internal("an enrollment event is missing from the store")))
            .map(|event| event.map(|event| codec::to_proto(&event.to_signed())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(pb::EnrollmentChainResponse { events }))
    }

    async fn member(&self, request: Request<pb::MemberRequest>) -> Result<Response<pb::MemberResponse>, Status> {
        let scope = self.reader_scope(&request)?;
        // Personal data (ID number, phone, address) in full for this node's operators only.
        let operator = self.require_operator(&request).is_ok();
        let projection = self.read_projection();
        let mut response =
            queries::member(&projection, &scope, &request.get_ref().member_id).map_err(status::query_error)?;
        if !operator {
            if let Some(form) = response.form.as_mut() {
                queries::mask_personal(form);
            }
            queries::mask_discrepancies(&mut response.discrepancies);
        }
        Ok(Response::new(response))
    }

    async fn members(&self, request: Request<pb::MembersRequest>) -> Result<Response<pb::MembersResponse>, Status> {
        let scope = self.reader_scope(&request)?;
        let operator = self.require_operator(&request).is_ok();
        let projection = self.read_projection();
        let mut response = queries::members(&projection, &scope, request.get_ref()).map_err(status::query_error)?;
        if !operator {
            for member in &mut response.members {
                queries::mask_discrepancies(&mut member.discrepancies);
            }
            for form in response.members.iter_mut().filter_map(|member| member.form.as_mut()) {
                queries::mask_personal(form);
            }
        }
        Ok(Response::new(response))
    }

    async fn rollup(&self, request: Request<pb::RollupRequest>) -> Result<Response<pb::RollupResponse>, Status> {
        let scope = self.reader_scope(&request)?;
        let projection = self.read_projection();
        queries::rollup(&projection, &scope, &request.get_ref().unit_path)
            .map(Response::new)
            .map_err(status::query_error)
    }

    async fn table(&self, request: Request<pb::TableRequest>) -> Result<Response<pb::TableResponse>, Status> {
        let scope = self.reader_scope(&request)?;
        let projection = self.read_projection();
        let request = request.get_ref();
        queries::table(&projection, &scope, &request.unit_path, request.table)
            .map(Response::new)
            .map_err(status::query_error)
    }

    async fn register(&self, request: Request<pb::RegisterRequest>) -> Result<Response<pb::RegisterResponse>, Status> {
        let scope = self.reader_scope(&request)?;
        // Full ID numbers are personal data: only an operator of this node sees them.
        if request.get_ref().show_personal {
            self.require_operator(&request)?;
        }
        let projection = self.read_projection();
        let request = request.get_ref();
        queries::register(&projection, &scope, &request.unit_path, request.still_lost, request.show_personal)
            .map(Response::new)
            .map_err(status::query_error)
    }

    async fn deadlines(
        &self,
        request: Request<pb::DeadlinesRequest>,
    ) -> Result<Response<pb::DeadlinesResponse>, Status> {
        let scope = self.reader_scope(&request)?;
        let projection = self.read_projection();
        queries::deadlines(&projection, &scope, &request.get_ref().unit_path, crate::writer::now_ms())
            .map(Response::new)
            .map_err(status::query_error)
    }

    async fn units(&self, request: Request<pb::UnitsRequest>) -> Result<Response<pb::UnitsResponse>, Status> {
        let scope = self.reader_scope(&request)?;
        let projection = self.read_projection();
        queries::units(&projection, &scope, request.get_ref()).map(Response::new).map_err(status::query_error)
    }

    async fn rebuild(&self, request: Request<pb::RebuildRequest>) -> Result<Response<pb::RebuildResponse>, Status> {
        self.require_operator(&request)?;
        // On the writer thread, between two groups: a rebuild that read the store while
        // a group was half applied would install a projection that misses or repeats
        // its events (and the next snapshot would keep that).
        let response = self.writer.rebuild().await.map_err(status::append_error)?;
        Ok(Response::new(response))
    }

    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<pb::SubscribeResponse, Status>> + Send>>;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let scope = self.reader_scope(&request)?;
        let reader = reader_key(&request);
        // Personal data in full for the node's operators holding their key only.
        let personal_data = self.require_operator(&request).is_ok();
        let request = request.into_inner();
        let unit = queries::unit_in_scope(&request.unit_path, &scope).map_err(status::query_error)?;
        let kinds = request
            .kinds
            .iter()
            .map(|kind| {
                EventKind::try_from(*kind).map_err(|_| Status::invalid_argument(format!("unknown event kind {kind}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let positions = self.writer.ingest_position();
        let after = if request.from_now { *positions.borrow() } else { request.after };
        let receiver = crate::subscribe::start(
            self.store.clone(),
            positions,
            self.stopping.clone(),
            after,
            crate::subscribe::Filter { unit, kinds, personal_data, message_bytes: self.stream_message_bytes },
            crate::metrics::Reader::Grpc,
        );
        // A long-lived stream outlives the admission checked when it opened: before each
        // batch, the reader must still be admitted (a viewer revoked or expired meanwhile
        // gets UNAUTHENTICATED and the stream ends), so revocation shuts open streams too.
        let access = self.access.clone();
        let stream = tokio_stream::StreamExt::map_while(ReceiverStream::new(receiver), {
            let mut refused = false;
            move |item| {
                if refused {
                    return None;
                }
                let refusal = reader.and_then(|key| access.refusal(&key, crate::writer::now_ms()));
                if let Some((english, chinese)) = refusal {
                    refused = true;
                    return Some(Err(refusal_status(english, chinese)));
                }
                Some(item.map_err(status::store_error))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn checkpoint(
        &self,
        request: Request<pb::CheckpointRequest>,
    ) -> Result<Response<pb::CheckpointResponse>, Status> {
        self.require_operator(&request)?;
        let path = std::path::PathBuf::from(&request.get_ref().path);
        if !path.is_absolute() || path.exists() {
            return Err(Status::invalid_argument(format!(
                "{}: give an absolute path that does not exist",
                path.display()
            )));
        }
        let store = self.store.clone();
        let response =
            tokio::task::spawn_blocking(move || -> Result<pb::CheckpointResponse, crate::store::StoreError> {
                let events = store.heads()?.iter().map(|h| h.head.seq.0).sum();
                store.checkpoint(&path)?;
                tracing::info!(path = %path.display(), events, "checkpoint written");
                Ok(pb::CheckpointResponse { path: path.display().to_string(), events })
            })
            .await
            .map_err(|_| Status::internal("checkpoint task failed"))?
            .map_err(status::store_error)?;
        Ok(Response::new(response))
    }

    type CaseDossierStream = Pin<Box<dyn Stream<Item = Result<pb::ArchiveChunk, Status>> + Send>>;

    #[tracing::instrument(skip_all)]
    async fn case_dossier(
        &self,
        request: Request<pb::CaseDossierRequest>,
    ) -> Result<Response<Self::CaseDossierStream>, Status> {
        self.require_operator(&request)?;
        let request = request.into_inner();
        let unit = if request.unit_path.is_empty() {
            None
        } else {
            Some(UnitPath::parse(&request.unit_path).map_err(|e| Status::invalid_argument(e.to_string()))?)
        };
        let exporter = self.exporter.clone().ok_or_else(|| Status::unimplemented("this service signs no dossiers"))?;
        let dossier_request =
            crate::dossier::DossierRequest { case_id: request.case_id, unit, show_personal: request.show_personal };
        let dossier = tokio::task::spawn_blocking(move || exporter.case_dossier(&dossier_request))
            .await
            .map_err(|_| Status::internal("dossier task failed"))?
            .map_err(status::dossier_error)?;
        tracing::info!(events = dossier.events, bytes = dossier.bytes.len(), "dossier exported");
        let stage = dossier.stage.as_str().to_string();
        Ok(Response::new(archive_chunks(dossier, stage)))
    }

    type ReportProofStream = Pin<Box<dyn Stream<Item = Result<pb::ArchiveChunk, Status>> + Send>>;

    #[tracing::instrument(skip_all)]
    async fn report_proof(
        &self,
        request: Request<pb::ReportProofRequest>,
    ) -> Result<Response<Self::ReportProofStream>, Status> {
        self.require_operator(&request)?;
        let request = request.into_inner();
        let unit = if request.unit_path.is_empty() {
            self.info.unit.clone()
        } else {
            UnitPath::parse(&request.unit_path).map_err(|e| Status::invalid_argument(e.to_string()))?
        };
        if !(1..=3).contains(&request.table) {
            return Err(Status::invalid_argument(format!("there is no table {}: give 1, 2 or 3", request.table)));
        }
        let exporter = self.exporter.clone().ok_or_else(|| Status::unimplemented("this service signs no proofs"))?;
        let proof_request = crate::dossier::ReportProofRequest { unit, table: request.table };
        let proof = tokio::task::spawn_blocking(move || exporter.report_proof(&proof_request))
            .await
            .map_err(|_| Status::internal("report proof task failed"))?
            .map_err(status::dossier_error)?;
        tracing::info!(events = proof.events, bytes = proof.bytes.len(), "report proof exported");
        let status = proof.status.clone();
        Ok(Response::new(archive_chunks(proof, status)))
    }

    async fn conflicts(
        &self,
        request: Request<pb::ConflictsRequest>,
    ) -> Result<Response<pb::ConflictsResponse>, Status> {
        let scope = self.reader_scope(&request)?;
        let mut response = queries::conflicts(&self.read_projection(), &scope);
        if self.require_operator(&request).is_err() {
            queries::mask_conflicts(&mut response);
        }
        Ok(Response::new(response))
    }

    async fn reports(&self, request: Request<pb::ReportsRequest>) -> Result<Response<pb::ReportsResponse>, Status> {
        let scope = self.reader_scope(&request)?;
        queries::reports(&self.read_projection(), &scope, request.get_ref())
            .map(Response::new)
            .map_err(status::query_error)
    }

    async fn findings(&self, request: Request<pb::FindingsRequest>) -> Result<Response<pb::FindingsResponse>, Status> {
        let scope = self.reader_scope(&request)?;
        queries::findings(&self.read_projection(), &scope, request.get_ref())
            .map(Response::new)
            .map_err(status::query_error)
    }

    type SyncStream = Pin<Box<dyn Stream<Item = Result<pb::SyncMessage, Status>> + Send>>;

    #[tracing::instrument(skip_all, fields(peer))]
    async fn sync(
        &self,
        request: Request<tonic::Streaming<pb::SyncMessage>>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        let key = match (peer_key(&request), reader_key(&request)) {
            (Some(key), _) => key,
            (None, Some(_)) => return Err(bound_reads_only()),
            (None, None) => return Err(Status::unauthenticated("no client certificate")),
        };
        let (peer, revoked_after) = {
            let authority = self.sync.authority.read().expect("never poisoned");
            match authority.sync_child_unit(&key, &self.info.unit) {
                Some(unit) => (Some(sync::Peer { replica: key, unit, upload_only: false }), None),
                None => match authority.revoked_laptop_of(&key, &self.info.unit) {
                    Some((unit, after)) => (Some(sync::Peer { replica: key, unit, upload_only: true }), Some(after)),
                    None => (None, None),
                },
            }
        };
        let peer =
            peer.ok_or_else(|| Status::permission_denied("only enrolled children of this node may sync with it"))?;
        tracing::Span::current().record("peer", tracing::field::display(&peer.unit));
        let inbound = request.into_inner();
        let (outbound, outbound_receiver) = mpsc::channel(sync::OUTBOUND_QUEUE_DEPTH);
        let context = self.sync.clone();
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let unit = peer.unit.clone();
            // A child never hangs up its session: when this node starts stopping, the
            // session is dropped (what was stored stays stored; the child re-sends what was
            // not acknowledged), which ends the response stream so the graceful shutdown
            // is not held open by it.
            let session = sync::run_session(context, Side::Parent, peer, inbound, outbound, false);
            tokio::select! {
                ended = session => match ended {
                    Ok(summary) => {
                        tracing::info!(peer = %unit, sent = summary.sent, received = summary.received, rejected = summary.rejected, "sync session with a child ended")
                    }
                    Err(error) => tracing::warn!(peer = %unit, %error, "sync session with a child failed"),
                },
                _ = stopping.wait_for(|stopping| *stopping) => {
                    tracing::info!(peer = %unit, "sync session with a child closed: this node is stopping");
                }
            }
        });
        let stream = tokio_stream::StreamExt::map(ReceiverStream::new(outbound_receiver), Ok);
        let mut response = Response::new(Box::pin(stream) as Self::SyncStream);
        if let Some(after) = revoked_after {
            tracing::warn!(peer = %key.short(), revoked_after = after.0, "a revoked laptop hands in its work (upload only)");
            if let Ok(value) = after.0.to_string().parse() {
                response.metadata_mut().insert(crate::node::REVOKED_AFTER_METADATA, value);
            }
        }
        Ok(response)
    }
}

/// How far back in the parent's log to look for its last receipt for this unit.
const RECEIPT_SEARCH_EVENTS_MAX: u64 = 4096;
/// How many of them are read at a time, newest first.
const RECEIPT_SEARCH_WINDOW: u64 = 64;

/// What the level above holds of this node's work: the last receipt from the parent,
/// the local heads, and the events of this node's subtree beyond that receipt (how
/// many, and the time of the oldest); and for each edge in `edges` (the sessions'
/// figures, [`crate::sync::SyncStats::snapshot`]) its backlog: the events in the peer's
/// scope it is not known to hold and the time of the oldest, from what it last said it
/// holds (so a laptop that has been away for a week shows a week-old backlog).
///
/// # Errors
///
/// [`crate::store::StoreError`] on read failure.
pub fn sync_status(
    store: &Store,
    authority: &std::sync::RwLock<rollcall_core::authority::Authority>,
    info: &NodeInfo,
    edges: Vec<(ReplicaId, crate::sync::EdgeStats)>,
) -> Result<pb::SyncStatusResponse, crate::store::StoreError> {
    let last_receipt = match info.parent {
        Some(parent) => last_receipt_for(store, parent, &info.unit)?,
        None => None,
    };
    let heads = store.heads()?;
    let acknowledged: std::collections::HashMap<Vec<u8>, u64> =
        last_receipt.iter().flat_map(|receipt| receipt.heads.iter().map(|h| (h.replica.to_vec(), h.seq))).collect();
    let (mut unsent_up, mut oldest_unsent_up_ms) = (0u64, 0u64);
    if info.parent.is_some() {
        // This node's own log and those of the replicas enrolled through it: what it is
        // responsible for sending up (not its parent's, nor a sibling laptop's). Decided
        // under the authority lock, read from the store after it.
        let ours: Vec<&crate::store::StoredHead> = {
            let authority = authority.read().expect("never poisoned");
            heads
                .iter()
                .filter(|stored| {
                    stored.replica == info.replica
                        || authority
                            .chain_of(&stored.replica)
                            .is_some_and(|chain| chain.iter().any(|(enroller, _)| *enroller == info.replica))
                })
                .collect()
        };
        for stored in ours {
            let received = acknowledged.get(&stored.replica.0.to_vec()).copied().unwrap_or(0);
            if stored.head.seq.0 > received {
                unsent_up += stored.head.seq.0 - received;
                if let Some(first) = store.get_without_signature(stored.replica, Seq(received + 1))? {
                    let at = first.header().hlc.wall_ms;
                    oldest_unsent_up_ms = if oldest_unsent_up_ms == 0 { at } else { oldest_unsent_up_ms.min(at) };
                }
            }
        }
    }
    let mut edge_statuses = Vec::with_capacity(edges.len());
    for (replica, edge) in edges {
        let (unsent, oldest_unsent_ms) = match UnitPath::parse(&edge.unit) {
            Ok(unit) => crate::sync::edge_backlog(store, &heads, authority, &unit, &edge.known)?,
            Err(_) => (edge.unsent, 0),
        };
        edge_statuses.push(pb::EdgeStatus {
            replica: replica.0.to_vec().into(),
            unit: edge.unit,
            connected: edge.connected,
            sent: edge.sent,
            received: edge.received,
            rejected: edge.rejected,
            unsent,
            last_ack_ms: edge.last_ack_ms,
            oldest_unsent_ms,
        });
    }
    Ok(pb::SyncStatusResponse {
        edges: edge_statuses,
        last_receipt,
        local_heads: heads.into_iter().map(|stored| head_to_proto(&stored)).collect(),
        unsent_up,
        oldest_unsent_up_ms,
        exports: Vec::new(),
        recovery: None,
    })
}

/// The last receipt `parent` signed for `unit`, from the tail of its log held here.
fn last_receipt_for(
    store: &Store,
    parent: ReplicaId,
    unit: &UnitPath,
) -> Result<Option<pb::ReceiptStatus>, crate::store::StoreError> {
    let Some(head) = store.head(parent)? else { return Ok(None) };
    // Backwards from the head, a window at a time: the parent appends a receipt for each
    // child every second while events flow, so the first window nearly always holds it.
    // The events were verified when they came in; re-verifying thousands of signatures
    // on every status call and metrics scrape is what this avoids.
    let oldest = head.head.seq.0.saturating_sub(RECEIPT_SEARCH_EVENTS_MAX - 1).max(1);
    let mut end = head.head.seq.0;
    while end >= oldest {
        let from = end.saturating_sub(RECEIPT_SEARCH_WINDOW - 1).max(oldest);
        let events = store.read_log_without_signatures(parent, Seq(from), (end - from + 1) as usize)?;
        for event in events.iter().rev() {
            if event.header().kind != EventKind::Receipt || &event.header().unit_path != unit {
                continue;
            }
            if let Some(body) = event.body()
                && let Ok(rollcall_core::body::Body::Receipt(receipt)) =
                    rollcall_core::body::Body::decode(EventKind::Receipt, body)
            {
                return Ok(Some(pb::ReceiptStatus {
                    by: parent.0.to_vec().into(),
                    stored_at_ms: receipt.stored_at_ms,
                    heads: receipt.heads,
                    receipt_seq: event.seq().0,
                }));
            }
        }
        end = from - 1;
    }
    Ok(None)
}

/// An archive as a stream of chunks of at most 1 MiB; the first says what it holds.
fn archive_chunks(
    archive: crate::dossier::Dossier,
    stage: String,
) -> Pin<Box<dyn Stream<Item = Result<pb::ArchiveChunk, Status>> + Send>> {
    let total_bytes = archive.bytes.len() as u64;
    let mut chunks: Vec<pb::ArchiveChunk> = archive
        .bytes
        .chunks(1 << 20)
        .map(|data| pb::ArchiveChunk { data: bytes::Bytes::copy_from_slice(data), ..pb::ArchiveChunk::default() })
        .collect();
    if chunks.is_empty() {
        chunks.push(pb::ArchiveChunk::default());
    }
    chunks[0].stage = stage;
    chunks[0].events = archive.events as u64;
    chunks[0].warnings = archive.warnings;
    chunks[0].total_bytes = total_bytes;
    Box::pin(tokio_stream::iter(chunks.into_iter().map(Ok)))
}
