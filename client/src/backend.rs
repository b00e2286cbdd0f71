//! One interface over the two ways the CLI reaches a node: a remote node over mutual
//! TLS (`--node-dir`, or `--node`/`--node-key`/`--key`), or this laptop's own embedded
//! node (`--dir`), which works with no network at all.
//!
//! Invariant: both ways give the same answers for the same events — the embedded side
//! calls the very functions ([`rollcall_server::queries`]) the node's gRPC service
//! calls, and appends through the same writer with the same audit rules.

use rollcall_core::log::Draft;
use rollcall_proto::v1 as pb;
use rollcall_server::Node;
use rollcall_server::queries;
use rollcall_server::rpc::status::RULE_ZH_METADATA;
use rollcall_server::writer::AppendError;
use tonic::transport::Channel;

use crate::NodeClient;
use crate::i18n::Lang;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The message in English.
    pub en: String,
    /// The message in Chinese, when the node gave one.
    pub zh: Option<String>,
    /// A rule of the audit refused it (as opposed to a transport or storage failure).
    pub rule: bool,
}

impl Refusal {
    /// The message in `lang`.
    pub fn message(&self, lang: Lang) -> &str {
        match (lang, &self.zh) {
            (Lang::Zh, Some(zh)) => zh,
            _ => &self.en,
        }
    }

    /// A node's refusal, with its Chinese message when it sent one (an audit rule's).
    pub fn from_status(status: &tonic::Status) -> Refusal {
        let zh = status
            .metadata()
            .get_bin(RULE_ZH_METADATA)
            .and_then(|value| value.to_bytes().ok())
            .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok());
        if let Some((en, zh)) = refused_at_handshake(status) {
            return Refusal { en, zh: Some(zh), rule: false };
        }
        Refusal { en: status.message().to_string(), zh, rule: status.code() == tonic::Code::FailedPrecondition }
    }

    fn plain(message: impl std::fmt::Display) -> Refusal {
        Refusal { en: message.to_string(), zh: None, rule: false }
    }
}

/// A call that fails without an answer right after the TLS connection was made is, in
/// TLS 1.3, the node refusing the client's key (the client finishes its side of the
/// handshake before the node checks its certificate): say so, with what to do.
fn refused_at_handshake(status: &tonic::Status) -> Option<(String, String)> {
    let transport = matches!(status.code(), tonic::Code::Cancelled | tonic::Code::Unknown)
        && (status.message().contains("operation was canceled") || status.message().contains("transport error"));
    transport.then(|| {
        (
            format!(
                "the node closed the connection without answering ({}): most likely it does not accept this key — \
                 it is neither one of its operators nor a replica enrolled in its subtree, or it was revoked \
                 (or the node stopped at that moment)",
                status.message()
            ),
            format!(
                "节点未作答即关闭连接（{}）：很可能节点不接受本密钥——它既不是该节点的操作员，也未在该节点或其下级登记，\
                 或已被吊销（也可能节点恰在此时停止）",
                status.message()
            ),
        )
    })
}

/// A dossier as the node handed it over.
#[derive(Clone, Debug, Default)]
pub struct DossierBytes {
    /// The ZIP archive.
    pub bytes: Vec<u8>,
    /// The stage the case's events reach (English name).
    pub stage: String,
    /// Evidence events in it.
    pub events: u64,
    /// What was left out and why.
    pub warnings: Vec<String>,
}

/// Gathers an archive's chunks.
async fn gather(mut stream: tonic::Streaming<pb::ArchiveChunk>) -> Result<DossierBytes, Refusal> {
    let mut archive = DossierBytes::default();
    let mut first = true;
    while let Some(chunk) = stream.message().await.map_err(|s| Refusal::from_status(&s))? {
        if first {
            first = false;
            archive.stage = chunk.stage;
            archive.events = chunk.events;
            archive.warnings = chunk.warnings;
            archive.bytes.reserve(chunk.total_bytes.min(1 << 30) as usize);
        }
        archive.bytes.extend_from_slice(&chunk.data);
    }
    Ok(archive)
}

/// A node to work with.
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    /// A node over the network.
    Remote(NodeClient<Channel>),
    /// This laptop's own node.
    Embedded(Node),
}

macro_rules! query {
    ($name:ident, $request:ty, $response:ty, |$projection:ident, $scope:ident, $req:ident| $embedded:expr) => {
        /// See the `Node` service of the same name.
        ///
        /// # Errors
        ///
        /// [`Refusal`] with the node's reason.
        pub async fn $name(&mut self, $req: $request) -> Result<$response, Refusal> {
            match self {
                Backend::Remote(client) => {
                    client.$name($req).await.map(tonic::Response::into_inner).map_err(|s| Refusal::from_status(&s))
                }
                Backend::Embedded(node) => {
                    let $projection = node.projection.read().expect("the projection lock is never poisoned");
                    let $scope = &node.info.unit;
                    $embedded.map_err(Refusal::plain)
                }
            }
        }
    };
}

/// Attempts of one append before the CLI gives up on a node that does not answer.
const APPEND_ATTEMPTS: u32 = 3;

/// Sends one append, again after a failure that leaves unknown whether it was stored
/// (unavailable, a transport error, a timeout): every draft carries its id, so the node
/// records it once whatever happened to the earlier attempt.
async fn append_with_retries(
    client: &mut NodeClient<Channel>,
    request: pb::AppendRequest,
) -> Result<tonic::Response<pb::AppendResponse>, tonic::Status> {
    let mut attempt = 1;
    loop {
        match client.append(request.clone()).await {
            Err(status)
                if attempt < APPEND_ATTEMPTS
                    && matches!(
                        status.code(),
                        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Aborted | tonic::Code::Cancelled
                    ) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

impl Backend {
    /// Appends drafts; returns the new events' ids.
    ///
    /// # Errors
    ///
    /// [`Refusal`]: a rule, authority, or the node.
    pub async fn append(&mut self, drafts: Vec<Draft>) -> Result<Vec<String>, Refusal> {
        match self {
            Backend::Remote(client) => append_with_retries(client, crate::idempotent_append_request(&drafts))
                .await
                .map(|response| {
                    response
                        .into_inner()
                        .events
                        .iter()
                        .map(|e| {
                            <[u8; 16]>::try_from(e.event_id.as_ref())
                                .map(|id| rollcall_core::EventId(id).to_string())
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .map_err(|status| Refusal::from_status(&status)),
            Backend::Embedded(node) => match node.writer.append(drafts).await {
                Ok(events) => Ok(events.iter().map(|e| e.event_id.to_string()).collect()),
                Err(error) => Err(Refusal {
                    en: error.to_string(),
                    zh: error.message_zh(),
                    rule: matches!(error, AppendError::RuleViolated { .. }),
                }),
            },
        }
    }

    query!(reports, pb::ReportsRequest, pb::ReportsResponse, |projection, scope, request| queries::reports(
        &projection,
        scope,
        &request
    ));
    query!(units, pb::UnitsRequest, pb::UnitsResponse, |projection, scope, request| queries::units(
        &projection,
        scope,
        &request
    ));
    query!(findings, pb::FindingsRequest, pb::FindingsResponse, |projection, scope, request| queries::findings(
        &projection,
        scope,
        &request
    ));
    query!(member, pb::MemberRequest, pb::MemberResponse, |projection, scope, request| queries::member(
        &projection,
        scope,
        &request.member_id
    ));
    query!(members, pb::MembersRequest, pb::MembersResponse, |projection, scope, request| queries::members(
        &projection,
        scope,
        &request
    ));
    query!(rollup, pb::RollupRequest, pb::RollupResponse, |projection, scope, request| queries::rollup(
        &projection,
        scope,
        &request.unit_path
    ));
    query!(table, pb::TableRequest, pb::TableResponse, |projection, scope, request| queries::table(
        &projection,
        scope,
        &request.unit_path,
        request.table
    ));
    query!(register, pb::RegisterRequest, pb::RegisterResponse, |projection, scope, request| queries::register(
        &projection,
        scope,
        &request.unit_path,
        request.still_lost,
        request.show_personal
    ));
    query!(deadlines, pb::DeadlinesRequest, pb::DeadlinesResponse, |projection, scope, request| queries::deadlines(
        &projection,
        scope,
        &request.unit_path,
        rollcall_server::writer::now_ms()
    ));

    /// Field conflicts to settle (concurrent corrections).
    ///
    /// # Errors
    ///
    /// [`Refusal`] from the node.
    pub async fn conflicts(&mut self) -> Result<pb::ConflictsResponse, Refusal> {
        match self {
            Backend::Remote(client) => client
                .conflicts(pb::ConflictsRequest {})
                .await
                .map(tonic::Response::into_inner)
                .map_err(|s| Refusal::from_status(&s)),
            Backend::Embedded(node) => {
                let projection = node.projection.read().expect("the projection lock is never poisoned");
                Ok(queries::conflicts(&projection, &node.info.unit))
            }
        }
    }

    /// Recomputes the projection from the log.
    ///
    /// # Errors
    ///
    /// [`Refusal`] from the node or the store.
    pub async fn rebuild(&mut self) -> Result<pb::RebuildResponse, Refusal> {
        match self {
            Backend::Remote(client) => client
                .rebuild(pb::RebuildRequest {})
                .await
                .map(tonic::Response::into_inner)
                .map_err(|s| Refusal::from_status(&s)),
            Backend::Embedded(node) => node.writer.rebuild().await.map_err(Refusal::plain),
        }
    }

    /// The unit this node serves (remote: asked of the node).
    ///
    /// # Errors
    ///
    /// [`Refusal`] from the node.
    pub async fn unit(&mut self) -> Result<String, Refusal> {
        match self {
            Backend::Remote(client) => client
                .identity(pb::IdentityRequest {})
                .await
                .map(|r| r.into_inner().unit_path)
                .map_err(|s| Refusal::from_status(&s)),
            Backend::Embedded(node) => Ok(node.info.unit.to_string()),
        }
    }

    /// Writes a checkpoint of the node's store to `path` (absolute, not existing).
    ///
    /// # Errors
    ///
    /// [`Refusal`] from the node or the store.
    pub async fn checkpoint(&mut self, path: &std::path::Path) -> Result<pb::CheckpointResponse, Refusal> {
        match self {
            Backend::Remote(client) => client
                .checkpoint(pb::CheckpointRequest { path: path.display().to_string() })
                .await
                .map(tonic::Response::into_inner)
                .map_err(|s| Refusal::from_status(&s)),
            Backend::Embedded(node) => {
                let events = node.store.heads().map_err(Refusal::plain)?.iter().map(|h| h.head.seq.0).sum();
                node.store.checkpoint(path).map_err(Refusal::plain)?;
                Ok(pb::CheckpointResponse { path: path.display().to_string(), events })
            }
        }
    }

    /// This node's level.
    ///
    /// # Errors
    ///
    /// [`Refusal`] from the node.
    pub async fn level(&mut self) -> Result<pb::Level, Refusal> {
        match self {
            Backend::Remote(client) => client
                .identity(pb::IdentityRequest {})
                .await
                .map(|r| r.into_inner().level())
                .map_err(|s| Refusal::from_status(&s)),
            Backend::Embedded(node) => Ok(node.info.level.to_proto()),
        }
    }

    /// A case's dossier, signed by the node (remote: gathered from its chunks).
    ///
    /// # Errors
    ///
    /// [`Refusal`] from the node (no such case, not an operator) or the store.
    pub async fn case_dossier(&mut self, request: pb::CaseDossierRequest) -> Result<DossierBytes, Refusal> {
        match self {
            Backend::Remote(client) => {
                let stream = client.case_dossier(request).await.map_err(|s| Refusal::from_status(&s))?.into_inner();
                gather(stream).await
            }
            Backend::Embedded(node) => {
                let unit = if request.unit_path.is_empty() {
                    None
                } else {
                    Some(rollcall_core::UnitPath::parse(&request.unit_path).map_err(Refusal::plain)?)
                };
                let request = rollcall_server::dossier::DossierRequest {
                    case_id: request.case_id,
                    unit,
                    show_personal: request.show_personal,
                };
                let dossier = node
                    .exporter()
                    .case_dossier(&request)
                    .map_err(|error| Refusal { zh: Some(error.message_zh()), ..Refusal::plain(&error) })?;
                Ok(DossierBytes {
                    bytes: dossier.bytes,
                    stage: dossier.stage.as_str().to_string(),
                    events: dossier.events as u64,
                    warnings: dossier.warnings,
                })
            }
        }
    }

    /// The proof of a submitted table, signed by the node.
    ///
    /// # Errors
    ///
    /// [`Refusal`] from the node (no submission, not an operator) or the store.
    pub async fn report_proof(&mut self, request: pb::ReportProofRequest) -> Result<DossierBytes, Refusal> {
        match self {
            Backend::Remote(client) => {
                let stream = client.report_proof(request).await.map_err(|s| Refusal::from_status(&s))?.into_inner();
                gather(stream).await
            }
            Backend::Embedded(node) => {
                let unit = if request.unit_path.is_empty() {
                    node.info.unit.clone()
                } else {
                    rollcall_core::UnitPath::parse(&request.unit_path).map_err(Refusal::plain)?
                };
                let request = rollcall_server::dossier::ReportProofRequest { unit, table: request.table };
                let proof = node
                    .exporter()
                    .report_proof(&request)
                    .map_err(|error| Refusal { zh: Some(error.message_zh()), ..Refusal::plain(&error) })?;
                Ok(DossierBytes {
                    bytes: proof.bytes,
                    stage: proof.status,
                    events: proof.events as u64,
                    warnings: proof.warnings,
                })
            }
        }
    }

    /// Lets an embedded node finish its last write.
    pub async fn close(self) {
        if let Backend::Embedded(node) = self {
            node.close().await;
        }
    }
}
