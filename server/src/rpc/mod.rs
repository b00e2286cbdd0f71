//! The node's gRPC services. Protobuf types stop here: requests are converted to core
//! types by hand and malformed input is rejected with `InvalidArgument` at this edge.
//!
//! Every request arrives over mutual TLS ([`crate::tls`]); the caller's key is in the
//! connection's certificate and has already been accepted by the node's key policy.

pub mod status;

use std::pin::Pin;

use futures_util::Stream;
use rollcall_core::limits::{DRAFTS_PER_APPEND_MAX, EVENTS_PER_MESSAGE_MAX, MESSAGE_BYTES_TARGET};
use rollcall_core::log::Draft;
use rollcall_core::{EventKind, ReplicaId, Seq, UnitPath, codec};
use rollcall_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::store::Store;
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
}

/// The `rollcall.v1.Node` service.
#[derive(Clone)]
pub struct NodeService {
    store: Store,
    writer: WriterHandle,
    info: NodeInfo,
}

impl NodeService {
    /// A service over a store and its writer.
    pub fn new(store: Store, writer: WriterHandle, info: NodeInfo) -> NodeService {
        NodeService { store, writer, info }
    }
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

#[tonic::async_trait]
impl pb::node_server::Node for NodeService {
    #[tracing::instrument(skip_all, fields(n_drafts))]
    async fn append(&self, request: Request<pb::AppendRequest>) -> Result<Response<pb::AppendResponse>, Status> {
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
        let drafts = drafts
            .into_iter()
            .enumerate()
            .map(|(index, draft)| draft_from_proto(index, draft))
            .collect::<Result<Vec<_>, _>>()?;
        let appended = self.writer.append(drafts).await.map_err(status::append_error)?;
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
        let request = request.into_inner();
        let replica = replica_from_bytes(&request.replica)?;
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
                    let signed = codec::to_proto(&event.to_signed());
                    message_bytes += signed.header.len() + signed.body.as_ref().map_or(0, |b| b.len()) + 64;
                    message.events.push(signed);
                    if message_bytes >= MESSAGE_BYTES_TARGET {
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

    async fn heads(&self, _request: Request<pb::HeadsRequest>) -> Result<Response<pb::HeadsResponse>, Status> {
        let store = self.store.clone();
        let heads = tokio::task::spawn_blocking(move || store.heads())
            .await
            .map_err(|_| Status::internal("read task failed"))?
            .map_err(status::store_error)?;
        Ok(Response::new(pb::HeadsResponse {
            heads: heads
                .into_iter()
                .map(|stored| pb::ReplicaHead {
                    replica: stored.replica.0.to_vec().into(),
                    seq: stored.head.seq.0,
                    hash: stored.head.hash.0.to_vec().into(),
                })
                .collect(),
        }))
    }

    async fn identity(&self, _request: Request<pb::IdentityRequest>) -> Result<Response<pb::IdentityResponse>, Status> {
        Ok(Response::new(pb::IdentityResponse {
            replica: self.info.replica.0.to_vec().into(),
            unit_path: self.info.unit.to_string(),
            level: self.info.level.to_proto() as i32,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }
}
