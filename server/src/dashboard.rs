//! The web dashboard and the Prometheus metrics of a node, over HTTP (axum).
//!
//! - `/` and its assets: one page, every asset served by the node (no CDN: it works on
//!   an intranet with no internet access), Chinese with an English switch.
//! - `/api/*`: overview (deadlines, rollups with drill-down), tables 1-3 (JSON and
//!   XLSX), and `/api/events`, server-sent events fed by a subscription
//!   ([`crate::subscribe`]) so the page changes within moments of a new event.
//! - `/metrics`: Prometheus text format (aggregate figures only, no personal data).
//!
//! Invariants: every `/api/*` answer needs a credential — a token signed by an operator
//! key of this node or by an enrolled viewer's key ([`token`]) — and is confined to the
//! signer's scope (an operator: the node's unit; a viewer: its enrolled unit), so a
//! viewer never sees another unit's data. Without one the answer is 401 with a message
//! in Chinese and English. Tokens expire.

use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rollcall_core::authority::Authority;
use rollcall_core::{ReplicaId, UnitPath, proto as pb};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::projection::SharedProjection;
use crate::queries;
use crate::rpc::NodeInfo;
use crate::store::Store;
use crate::sync::SyncStats;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");

/// What the dashboard reads.
pub struct Dashboard {
    /// The store (for subscriptions and its size).
    pub store: Store,
    /// The projection.
    pub projection: SharedProjection,
    /// The writer's ingest position.
    pub positions: watch::Receiver<u64>,
    /// Enrollments (viewers).
    pub authority: Arc<RwLock<Authority>>,
    /// Operator keys.
    pub operators: Vec<ReplicaId>,
    /// Who this node is.
    pub info: NodeInfo,
    /// Per-edge sync figures.
    pub stats: SyncStats,
    /// True once the node is stopping.
    pub stopping: watch::Receiver<bool>,
    /// The export to NATS JetStream.
    pub export: crate::jetstream::ExportStatus,
}

const TOKEN_PREFIX: &str = "rc1.";
const TOKEN_CONTEXT: &[u8] = b"rollcall-dashboard-v1";

fn token_message(node: &ReplicaId, expires_ms: u64) -> Vec<u8> {
    let mut message = TOKEN_CONTEXT.to_vec();
    message.extend_from_slice(&node.0);
    message.extend_from_slice(&expires_ms.to_be_bytes());
    message
}

/// A dashboard credential: `key` (an operator's or an enrolled viewer's) vouches, until
/// `expires_ms`, for whoever holds the token, at the node `node`.
pub fn token(key: &SigningKey, node: ReplicaId, expires_ms: u64) -> String {
    let signature = key.sign(&token_message(&node, expires_ms));
    let mut bytes = key.verifying_key().to_bytes().to_vec();
    bytes.extend_from_slice(&expires_ms.to_be_bytes());
    bytes.extend_from_slice(&signature.to_bytes());
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The key that signed a valid, unexpired token for `node`.
fn check_token(text: &str, node: &ReplicaId, now_ms: u64) -> Option<ReplicaId> {
    let bytes = hex::decode(text.strip_prefix(TOKEN_PREFIX)?).ok()?;
    if bytes.len() != 32 + 8 + 64 {
        return None;
    }
    let key: [u8; 32] = bytes[..32].try_into().ok()?;
    let expires_ms = u64::from_be_bytes(bytes[32..40].try_into().ok()?);
    let signature = Signature::from_bytes(&bytes[40..].try_into().ok()?);
    if now_ms > expires_ms {
        return None;
    }
    VerifyingKey::from_bytes(&key).ok()?.verify_strict(&token_message(node, expires_ms), &signature).ok()?;
    Some(ReplicaId(key))
}

impl Dashboard {
    /// The subtree the request's credential may read.
    fn scope(&self, headers: &HeaderMap) -> Result<UnitPath, Response> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
            .or_else(|| {
                headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).and_then(|cookies| {
                    cookies.split(';').find_map(|c| c.trim().strip_prefix("rollcall_token=").map(str::to_string))
                })
            });
        let now = crate::writer::now_ms();
        let key = presented.as_deref().and_then(|t| check_token(t, &self.info.replica, now));
        let scope = key.and_then(|key| {
            if self.operators.contains(&key) {
                Some(self.info.unit.clone())
            } else {
                self.authority.read().expect("never poisoned").viewer_scope(&key, &self.info.unit, now)
            }
        });
        scope.ok_or_else(|| {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({
                    "error": "a viewer credential is required: ask the node's operator for a dashboard token (rollcall dashboard-token)",
                    "error_zh": "需要查看凭证：请向本节点管理员索取看板凭证（rollcall dashboard-token）",
                })),
            )
                .into_response()
        })
    }
}

/// The routes.
pub fn router(dashboard: Arc<Dashboard>) -> Router {
    Router::new()
        // The page runs only its own script: injected markup cannot run code even if some
        // text escaped the escaping.
        .route(
            "/",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                        (
                            header::CONTENT_SECURITY_POLICY,
                            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
                        ),
                    ],
                    INDEX_HTML,
                )
            }),
        )
        .route("/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS) }))
        .route("/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE_CSS) }))
        .route("/metrics", get(metrics))
        .route("/api/overview", get(overview))
        .route("/api/table", get(table))
        .route("/api/table.xlsx", get(table_xlsx))
        .route("/api/events", get(events))
        .with_state(dashboard)
}

/// Serves the dashboard on `listener` until `stopping` turns true.
///
/// # Errors
///
/// The server's I/O error.
pub async fn serve(listener: tokio::net::TcpListener, dashboard: Arc<Dashboard>) -> std::io::Result<()> {
    let mut stopping = dashboard.stopping.clone();
    axum::serve(listener, router(dashboard))
        .with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        })
        .await
}

#[derive(serde::Deserialize)]
struct UnitQuery {
    #[serde(default)]
    unit: String,
    #[serde(default)]
    table: u32,
    #[serde(default)]
    lang: String,
}

fn date(date: Option<&pb::Date>) -> String {
    date.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)).unwrap_or_default()
}

fn query_failed(error: queries::QueryError) -> Response {
    let status = match error {
        queries::QueryError::OutsideScope { .. } => StatusCode::FORBIDDEN,
        queries::QueryError::NoMember(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, axum::Json(json!({ "error": error.to_string() }))).into_response()
}

fn unit_json(rollup: &pb::UnitRollup) -> Value {
    let metrics: serde_json::Map<String, Value> =
        rollup.metrics.iter().map(|m| (m.key.clone(), Value::from(m.value))).collect();
    json!({ "unit": rollup.unit_path, "organisations": rollup.organisations, "metrics": metrics })
}

async fn overview(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(query): Query<UnitQuery>,
) -> Response {
    let scope = match dashboard.scope(&headers) {
        Ok(scope) => scope,
        Err(refused) => return refused,
    };
    let now = crate::writer::now_ms();
    let (rollup, deadlines, findings, reports, units) = {
        let projection = dashboard.projection.read().expect("never poisoned");
        let rollup = queries::rollup(&projection, &scope, &query.unit);
        let deadlines = queries::deadlines(&projection, &scope, &query.unit, now);
        let findings = queries::findings(&projection, &scope, &pb::FindingsRequest { unit_path: query.unit.clone() });
        let reports = queries::reports(&projection, &scope, &pb::ReportsRequest { unit_path: query.unit.clone() });
        let units = queries::units(&projection, &scope, &pb::UnitsRequest::default());
        (rollup, deadlines, findings, reports, units)
    };
    let (rollup, deadlines, findings, reports, units) = match (rollup, deadlines, findings, reports, units) {
        (Ok(r), Ok(d), Ok(f), Ok(p), Ok(u)) => (r, d, f, p, u),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), ..) | (_, _, _, Err(e), _) | (.., Err(e)) => {
            return query_failed(e);
        }
    };
    // Each 4-15 / 4-20 table: its state, and whether it missed the deadline (received
    // above after the due day ends, or not received and the day is past).
    let tables_due = deadlines
        .deadlines
        .iter()
        .filter(|d| {
            d.kind == pb::DeadlineKind::UniversityTables as i32 || d.kind == pb::DeadlineKind::ProvinceTables as i32
        })
        .map(|d| (d.kind, d.due_at_ms))
        .collect::<Vec<_>>();
    let due_for = |unit: &str| {
        let kind = match rollcall_core::UnitPath::parse(unit).ok().and_then(|u| u.level()) {
            Some(rollcall_core::Level::Province) => pb::DeadlineKind::ProvinceTables as i32,
            _ => pb::DeadlineKind::UniversityTables as i32,
        };
        tables_due.iter().find(|(k, _)| *k == kind).map(|(_, due)| *due)
    };
    let unit_names: serde_json::Map<String, Value> = units
        .units
        .iter()
        .filter(|u| u.named)
        .map(|u| (u.unit_path.clone(), json!(if u.short_name.is_empty() { &u.name } else { &u.short_name })))
        .collect();
    let names: serde_json::Map<String, Value> = rollup
        .total
        .iter()
        .flat_map(|t| t.metrics.iter())
        .map(|m| (m.key.clone(), json!([m.name_zh, m.name_en])))
        .collect();
    axum::Json(json!({
        "node_unit": dashboard.info.unit.to_string(),
        "scope": scope.to_string(),
        "unit": rollup.total.as_ref().map(|t| t.unit_path.clone()).unwrap_or_default(),
        "now_ms": now,
        "as_of": date(rollup.as_of.as_ref()),
        "campaign": deadlines.campaign,
        "deadlines": deadlines.deadlines.iter().map(|d| json!({
            "kind": pb::DeadlineKind::try_from(d.kind).map_or("", |k| k.as_str_name()),
            "name_zh": d.name_zh, "name_en": d.name_en, "due": date(d.due.as_ref()), "due_at_ms": d.due_at_ms,
            "state": d.state, "state_zh": d.state_zh, "done": d.done, "total": d.total, "days_left": d.days_left,
            "blockers": d.blockers.iter().map(|b| json!({ "unit": b.unit_path, "count": b.count, "reason_zh": b.reason_zh, "reason_en": b.reason_en })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "total": rollup.total.as_ref().map(unit_json),
        "children": rollup.children.iter().map(unit_json).collect::<Vec<_>>(),
        "metric_names": names,
        "cases": rollup.cases.iter().map(|c| json!({
            "disposition": pb::DispositionType::try_from(c.disposition).map_or("", |t| t.as_str_name()),
            "stage": c.stage, "stage_zh": c.stage_zh, "count": c.count,
        })).collect::<Vec<_>>(),
        // 重复组织关系 and records filed where the member is not registered.
        "findings": findings.findings.iter().map(|f| json!({
            "member_id": f.member_id,
            "name": f.name,
            "kind": if f.kind == pb::relation_finding::Kind::DuplicateRelation as i32 { "duplicate_relation" } else { "unregistered" },
            "units": f.units,
            "counted_at": f.counted_at,
            "settled": f.settled,
            "unit": f.unit_path,
            "events": f.events,
        })).collect::<Vec<_>>(),
        "unit_names": unit_names,
        // Tables 1-3 of this unit and of the reporting units directly below it.
        "reports": reports.reports.iter().map(|r| {
            let due = due_for(&r.unit_path);
            let late = due.is_some_and(|due| if r.received_at_ms == 0 { now > due } else { r.received_at_ms > due });
            json!({
                "unit": r.unit_path, "table": r.table, "state": r.state, "state_zh": r.state_zh,
                "submitted_at_ms": r.submitted_at_ms, "received_at_ms": r.received_at_ms,
                "differences": r.differences.len(), "return_reason": r.return_reason, "late": late,
            })
        }).collect::<Vec<_>>(),
        "cursor": *dashboard.positions.borrow(),
    }))
    .into_response()
}

fn compute_table(dashboard: &Dashboard, headers: &HeaderMap, query: &UnitQuery) -> Result<pb::TableResponse, Response> {
    let scope = dashboard.scope(headers)?;
    let projection = dashboard.projection.read().expect("never poisoned");
    queries::table(&projection, &scope, &query.unit, query.table).map_err(query_failed)
}

async fn table(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(query): Query<UnitQuery>,
) -> Response {
    match compute_table(&dashboard, &headers, &query) {
        Ok(table) => {
            let zh = query.lang != "en";
            let sheet = crate::export::table_sheet(&table, zh);
            let rows: Vec<Value> = sheet
                .rows
                .iter()
                .map(|row| {
                    Value::Array(
                        row.iter()
                            .map(|cell| match cell {
                                crate::export::Cell::Text(text) => Value::from(text.clone()),
                                crate::export::Cell::Number(n) => Value::from(*n),
                                crate::export::Cell::Blank => Value::Null,
                            })
                            .collect(),
                    )
                })
                .collect();
            let failures: Vec<&str> = table
                .check_failures
                .iter()
                .map(|f| if zh { f.message_zh.as_str() } else { f.message_en.as_str() })
                .collect();
            axum::Json(json!({ "title": sheet.title, "subtitle": sheet.subtitle, "headings": sheet.headings, "rows": rows, "check_failures": failures })).into_response()
        }
        Err(refused) => refused,
    }
}

async fn table_xlsx(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(query): Query<UnitQuery>,
) -> Response {
    match compute_table(&dashboard, &headers, &query) {
        Ok(table) => match crate::export::xlsx_bytes(&crate::export::table_sheet(&table, query.lang != "en")) {
            Ok(bytes) => (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
                    ),
                    (header::CONTENT_DISPOSITION, format!("attachment; filename=\"table{}.xlsx\"", table.table)),
                ],
                bytes,
            )
                .into_response(),
            Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
        },
        Err(refused) => refused,
    }
}

/// Server-sent events: one `update` event (with the cursor) per batch of new events in
/// the caller's scope, fed by a subscription from now.
async fn events(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let scope = match dashboard.scope(&headers) {
        Ok(scope) => scope,
        Err(refused) => return refused,
    };
    let after = *dashboard.positions.borrow();
    let mut receiver = crate::subscribe::start(
        dashboard.store.clone(),
        dashboard.positions.clone(),
        dashboard.stopping.clone(),
        after,
        crate::subscribe::Filter {
            unit: scope,
            kinds: Vec::new(),
            personal_data: false,
            message_bytes: rollcall_core::limits::MESSAGE_BYTES_TARGET,
        },
        crate::metrics::Reader::Dashboard,
    );
    let stream = async_stream(move |sender: tokio::sync::mpsc::Sender<Result<Event, Infallible>>| async move {
        while let Some(Ok(batch)) = receiver.recv().await {
            if batch.events.is_empty() {
                continue;
            }
            let event = Event::default()
                .event("update")
                .data(json!({ "cursor": batch.cursor, "events": batch.events.len() }).to_string());
            if sender.send(Ok(event)).await.is_err() {
                return;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// A stream fed by a task writing into a bounded channel.
fn async_stream<T, F, Fut>(produce: F) -> tokio_stream::wrappers::ReceiverStream<T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    tokio::spawn(produce(sender));
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// Prometheus text exposition (`crate::metrics`): the snapshots read now beside the
/// distributions observed as work happened.
async fn metrics(State(dashboard): State<Arc<Dashboard>>) -> Response {
    use crate::metrics::{EdgeLabels, EdgeSnapshot, ExportFigures, Snapshot};
    let store = dashboard.store.clone();
    let live_bytes = tokio::task::spawn_blocking(move || store.live_bytes()).await.unwrap_or(0);
    let (members, applied) = {
        let projection = dashboard.projection.read().expect("never poisoned");
        (projection.member_count(), projection.events_applied())
    };
    let edges = dashboard.stats.snapshot();
    let (store, authority, info) = (dashboard.store.clone(), dashboard.authority.clone(), dashboard.info.clone());
    let snapshot = edges.clone();
    let backlog = tokio::task::spawn_blocking(move || crate::rpc::sync_status(&store, &authority, &info, snapshot))
        .await
        .ok()
        .and_then(Result::ok);
    let age = |oldest_ms: u64| {
        if oldest_ms == 0 { 0.0 } else { crate::writer::now_ms().saturating_sub(oldest_ms) as f64 / 1000.0 }
    };
    let unsent_of = |replica: &ReplicaId| {
        backlog.as_ref().and_then(|backlog| {
            backlog
                .edges
                .iter()
                .find(|edge| edge.replica.as_ref() == replica.0.as_slice())
                .map(|edge| (edge.unsent, age(edge.oldest_unsent_ms)))
        })
    };
    let position = *dashboard.positions.borrow();
    let export = dashboard.export.snapshot();
    let snapshot = Snapshot {
        ingest_position: position,
        projection_events_applied: applied as u64,
        members: members as u64,
        store_live_bytes: live_bytes,
        edges: edges
            .iter()
            .map(|(replica, edge)| EdgeSnapshot {
                labels: EdgeLabels { peer: replica.short(), peer_unit: edge.unit.clone() },
                connected: edge.connected,
                sent: edge.sent,
                received: edge.received,
                rejected: edge.rejected,
                last_ack_seconds: edge.last_ack_ms as f64 / 1000.0,
                unsent: unsent_of(replica),
            })
            .collect(),
        unacknowledged_up: backlog.as_ref().map(|b| (b.unsent_up, age(b.oldest_unsent_up_ms))),
        export: (!export.stream.is_empty()).then(|| ExportFigures {
            lag_events: position.saturating_sub(export.cursor),
            stream: export.stream,
            cursor: export.cursor,
            connected: export.connected,
            published: export.published,
            duplicates: export.duplicates,
        }),
    };
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        crate::metrics::render(&snapshot),
    )
        .into_response()
}
