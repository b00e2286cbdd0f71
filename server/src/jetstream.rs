//! The event stream into NATS JetStream, for consumers beyond one machine (a national
//! platform, many dashboards, analytics jobs).
//!
//! A node configured with `[export.nats]` publishes every event it holds within the
//! configured unit, in its ingest order: the signed envelope (`SignedEvent`, as a
//! subscriber gets it) as the payload, subject `<prefix>.<unit path, dots for
//! slashes>.<kind in lower case>`, and the headers `Nats-Msg-Id: <replica hex>:<seq>`
//! (the event's identity, which JetStream deduplicates within its window),
//! `Rollcall-Cursor: <ingest position>` and `Rollcall-Node: <node key hex>`.
//!
//! Invariants:
//! - The exporter is a subscriber (`subscribe::start`) like any other: it never slows
//!   the writer, and it reads what the node stored, in order.
//! - The durable cursor (`Store::export_cursor`) only moves past a batch once JetStream
//!   acknowledged every event of it, so a crash or an outage never loses an event: the
//!   export resumes after the cursor.
//! - Order is kept: each publish expects the stream's last sequence to be its
//!   predecessor's, so a lost publish makes the later ones of its session fail instead of
//!   landing ahead of it. The stream is therefore this node's alone (one exporting node
//!   per stream).
//! - Nothing is doubled: an event published but not yet under the durable cursor when
//!   the node stopped is found again at the next start by scanning the stream's tail for
//!   this node's messages past the cursor (by `Nats-Msg-Id`, so a wiped and refilled
//!   store cannot confuse it) and is not published again; within a session JetStream's
//!   duplicate window drops the repeats of a retried batch.
//! - Personal data (ID numbers, phones, addresses) leaves only if `personal_data = true`,
//!   which the configuration accepts only with TLS to the servers; otherwise the events
//!   whose bodies hold it are published as stubs (header and signature, which still
//!   verify). Nothing of an event is logged.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::context::PublishAckFuture;
use bytes::Bytes;
use prost::Message;
use rollcall_core::{ReplicaId, UnitPath};
use rollcall_proto::v1 as pb;
use tokio::sync::watch;

use crate::config::NatsExportConfig;
use crate::store::Store;
use crate::subscribe;

/// Messages of the stream's tail read at start to find what was published past the
/// durable cursor (at most the batches in flight: checked at compile time below).
pub const TAIL_SCAN_MAX: u64 = 4096;

/// Publishes awaiting JetStream's acknowledgement at once.
pub const ACKS_IN_FLIGHT_MAX: usize = 1024;

/// First wait before reconnecting; doubles up to 30 s.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// The header naming the node's ingest position of the event.
pub const CURSOR_HEADER: &str = "Rollcall-Cursor";
/// The header naming the exporting node.
pub const NODE_HEADER: &str = "Rollcall-Node";

/// Where the export stands, for `rollcall status` and `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct ExportSnapshot {
    /// The stream.
    pub stream: String,
    /// The servers.
    pub servers: Vec<String>,
    /// The durable cursor: every event of the scope up to this ingest position is in
    /// the stream.
    pub cursor: u64,
    /// True while connected and publishing (or caught up).
    pub connected: bool,
    /// Events published since the node started.
    pub published: u64,
    /// Of those, how many JetStream reported as duplicates (a retried batch).
    pub duplicates: u64,
    /// When the cursor last moved (ms since the epoch; 0: not since start).
    pub last_export_ms: u64,
    /// The last failure, if the export is not running.
    pub last_error: Option<String>,
}

/// The shared view of an export.
#[derive(Clone, Debug, Default)]
pub struct ExportStatus(Arc<Mutex<ExportSnapshot>>);

impl ExportStatus {
    /// A copy of where it stands.
    pub fn snapshot(&self) -> ExportSnapshot {
        self.0.lock().expect("never poisoned").clone()
    }

    fn update(&self, change: impl FnOnce(&mut ExportSnapshot)) {
        change(&mut self.0.lock().expect("never poisoned"));
    }
}

/// Why an export session ended.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Connecting to the servers failed.
    #[error("connecting to NATS: {0}")]
    Connect(String),
    /// The stream could not be found or created.
    #[error("the JetStream stream {stream}: {message}")]
    Stream {
        /// Which.
        stream: String,
        /// What NATS said.
        message: String,
    },
    /// A publish was not acknowledged.
    #[error("publishing: {0}")]
    Publish(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The subject of an event.
pub fn subject(prefix: &str, unit: &UnitPath, kind: i32) -> String {
    let kind = pb::EventKind::try_from(kind)
        .map(|kind| kind.as_str_name().to_ascii_lowercase())
        .unwrap_or_else(|_| format!("kind_{kind}"));
    format!("{prefix}.{}.{kind}", unit.as_str().replace('/', "."))
}

/// The message id of an event: its replica and seq.
pub fn message_id(replica: &[u8], seq: u64) -> String {
    format!("{}:{seq}", hex::encode(replica))
}

/// Runs the export until `stopping` turns true, reconnecting after failures.
pub async fn run(
    config: NatsExportConfig,
    store: Store,
    positions: watch::Receiver<u64>,
    mut stopping: watch::Receiver<bool>,
    node: ReplicaId,
    status: ExportStatus,
) {
    status.update(|snapshot| {
        snapshot.stream = config.stream.clone();
        snapshot.servers = config.servers.clone();
        snapshot.cursor = store.export_cursor(&config.stream).unwrap_or(0);
    });
    let mut backoff = RETRY_MIN;
    loop {
        if *stopping.borrow() {
            return;
        }
        let session = session(&config, &store, positions.clone(), stopping.clone(), node, &status);
        let ended = tokio::select! {
            ended = session => ended,
            // Connecting, making the stream or scanning its tail never holds up a shutdown.
            _ = stopping.wait_for(|stop| *stop) => return,
        };
        match ended {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(stream = %config.stream, %error, "export to JetStream interrupted; retrying");
                status.update(|snapshot| {
                    snapshot.connected = false;
                    snapshot.last_error = Some(error.to_string());
                });
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        backoff = (backoff * 2).min(RETRY_MAX);
    }
}

async fn connect(config: &NatsExportConfig) -> Result<jetstream::Context, ExportError> {
    let mut options = async_nats::ConnectOptions::new()
        .name("rollcall export")
        .connection_timeout(Duration::from_secs(5))
        .retry_on_initial_connect();
    if let Some(ca) = &config.tls_ca {
        options = options.require_tls(true).add_root_certificates(ca.clone());
    }
    let addresses = config
        .servers
        .iter()
        .map(|server| server.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| ExportError::Connect(err.to_string()))?;
    let client = tokio::time::timeout(Duration::from_secs(10), options.connect(addresses))
        .await
        .map_err(|_| ExportError::Connect("no server answered within 10 s".to_string()))?
        .map_err(|err| ExportError::Connect(err.to_string()))?;
    // An acknowledgement not back within 5 s (a stream electing a new leader) ends the
    // session; the next one resumes after the durable cursor.
    Ok(jetstream::context::ContextBuilder::new()
        .timeout(Duration::from_secs(5))
        .max_ack_inflight(ACKS_IN_FLIGHT_MAX)
        .build(client))
}

async fn session(
    config: &NatsExportConfig,
    store: &Store,
    positions: watch::Receiver<u64>,
    stopping: watch::Receiver<bool>,
    node: ReplicaId,
    status: &ExportStatus,
) -> Result<(), ExportError> {
    let context = connect(config).await?;
    let stream_error =
        |err: &dyn std::fmt::Display| ExportError::Stream { stream: config.stream.clone(), message: err.to_string() };
    let mut stream = context
        .get_or_create_stream(jetstream::stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            num_replicas: config.replicas,
            duplicate_window: config.duplicate_window,
            ..Default::default()
        })
        .await
        .map_err(|err| stream_error(&err))?;
    let durable = store.export_cursor(&config.stream)?;
    let (already, last_sequence) =
        published_past(&mut stream, node, durable).await.map_err(|err| stream_error(&err))?;
    tracing::info!(
        stream = %config.stream,
        cursor = durable,
        found_past_cursor = already.len(),
        "exporting to JetStream"
    );
    status.update(|snapshot| {
        snapshot.connected = true;
        snapshot.last_error = None;
        snapshot.cursor = durable;
    });
    let filter = subscribe::Filter {
        unit: config.unit.clone(),
        kinds: Vec::new(),
        personal_data: config.personal_data,
        message_bytes: rollcall_core::limits::MESSAGE_BYTES_TARGET,
    };
    let mut batches =
        subscribe::start(store.clone(), positions, stopping, durable, filter, crate::metrics::Reader::Export);
    let node_hex = node.to_hex();
    // Publishing and settling overlap: this loop publishes batch n+1 while a settling
    // task awaits batch n's acknowledgements, in order, and moves the durable cursor.
    let (to_settle, settling) = tokio::sync::mpsc::channel(BATCHES_IN_FLIGHT);
    let settler = tokio::spawn(settle(settling, store.clone(), config.stream.clone(), durable, status.clone()));
    let published =
        publish_batches(&mut batches, &context, config, &already, &node_hex, last_sequence, &to_settle).await;
    drop(to_settle);
    if let Err(error) = published {
        settler.abort();
        return Err(error);
    }
    settler.await.map_err(|_| ExportError::Publish("the settling task failed".to_string()))?
}

/// Batches published and awaiting their acknowledgements at once.
pub const BATCHES_IN_FLIGHT: usize = 4;

// What can be in the stream past the durable cursor at a stop (the batches in flight, the
// one being published, the one settling) must fit in the tail the next start scans.
const _: () =
    assert!((BATCHES_IN_FLIGHT + 2) * rollcall_core::limits::EVENTS_PER_MESSAGE_MAX <= TAIL_SCAN_MAX as usize);

type Settle = (u64, Vec<PublishAckFuture>);

async fn publish_batches(
    batches: &mut tokio::sync::mpsc::Receiver<Result<pb::SubscribeResponse, crate::store::StoreError>>,
    context: &jetstream::Context,
    config: &NatsExportConfig,
    already: &HashSet<String>,
    node_hex: &str,
    mut last_sequence: u64,
    to_settle: &tokio::sync::mpsc::Sender<Settle>,
) -> Result<(), ExportError> {
    loop {
        // A settling task that failed (an acknowledgement lost) ends the session at once,
        // even when no new event is coming.
        let batch = tokio::select! {
            batch = batches.recv() => batch,
            () = to_settle.closed() => return Ok(()),
        };
        let Some(batch) = batch else { return Ok(()) };
        let batch = batch?;
        let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(batch.events.len());
        for subscribed in batch.events {
            let Some(event) = subscribed.event else { continue };
            let Ok(header) = pb::EventHeader::decode(event.header.as_ref()) else { continue };
            let id = message_id(&header.replica, header.seq);
            if already.contains(&id) {
                continue;
            }
            let unit = UnitPath::parse(&header.unit_path).map_err(|err| ExportError::Publish(err.to_string()))?;
            let message = jetstream::message::PublishMessage::build()
                .payload(Bytes::from(event.encode_to_vec()))
                .message_id(id)
                .header(CURSOR_HEADER, subscribed.cursor.to_string().as_str())
                .header(NODE_HEADER, node_hex)
                // Stored only right after its predecessor: if one publish is lost (a stream
                // electing a new leader), every later one of the session is refused rather
                // than stored ahead of it, and the next session resumes in order.
                .expected_last_sequence(last_sequence);
            last_sequence += 1;
            let ack = context
                .send_publish(subject(&config.subject_prefix, &unit, header.kind), message)
                .await
                .map_err(|err| ExportError::Publish(err.to_string()))?;
            acks.push(ack);
        }
        if to_settle.send((batch.cursor, acks)).await.is_err() {
            // The settling task ended: its error is the session's.
            return Ok(());
        }
    }
}

/// Awaits each batch's acknowledgements in order; once a batch is acknowledged in full,
/// stores the cursor after it durably.
async fn settle(
    mut settling: tokio::sync::mpsc::Receiver<Settle>,
    store: Store,
    stream: String,
    durable: u64,
    status: ExportStatus,
) -> Result<(), ExportError> {
    while let Some((cursor, acks)) = settling.recv().await {
        let (mut published, mut duplicates) = (0u64, 0u64);
        for ack in acks {
            let ack = ack.await.map_err(|err| ExportError::Publish(err.to_string()))?;
            published += 1;
            duplicates += u64::from(ack.duplicate);
        }
        if cursor > durable {
            let (write_store, stream_name) = (store.clone(), stream.clone());
            tokio::task::spawn_blocking(move || write_store.set_export_cursor(&stream_name, cursor))
                .await
                .map_err(|_| ExportError::Publish("the cursor task failed".to_string()))??;
        }
        status.update(|snapshot| {
            snapshot.cursor = snapshot.cursor.max(cursor);
            snapshot.published += published;
            snapshot.duplicates += duplicates;
            if published > 0 {
                snapshot.last_export_ms = crate::writer::now_ms();
            }
        });
    }
    Ok(())
}

/// The message ids of this node's messages at the stream's tail whose cursor is past
/// `durable` (published before a stop, not yet under the durable cursor), and the
/// stream's last sequence (what the session's first publish expects).
async fn published_past(
    stream: &mut jetstream::stream::Stream,
    node: ReplicaId,
    durable: u64,
) -> Result<(HashSet<String>, u64), async_nats::Error> {
    let state = stream.info().await?.state.clone();
    let mut found = HashSet::new();
    if state.messages == 0 {
        return Ok((found, state.last_sequence));
    }
    let node_hex = node.to_hex();
    let lowest = state.first_sequence.max(state.last_sequence.saturating_sub(TAIL_SCAN_MAX - 1));
    let mut sequence = state.last_sequence;
    while sequence >= lowest && sequence > 0 {
        match stream.get_raw_message(sequence).await {
            Ok(message) => {
                let header = |name: &str| message.headers.get(name).map(|value| value.as_str().to_string());
                if header(NODE_HEADER).as_deref() == Some(node_hex.as_str()) {
                    let cursor = header(CURSOR_HEADER).and_then(|text| text.parse::<u64>().ok()).unwrap_or(0);
                    if cursor <= durable {
                        break;
                    }
                    if let Some(id) = header("Nats-Msg-Id") {
                        found.insert(id);
                    }
                }
            }
            // A deleted message: go on.
            Err(error) if error.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => {}
            Err(error) => return Err(error.into()),
        }
        sequence -= 1;
    }
    Ok((found, state.last_sequence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_unit_tree() {
        let unit = UnitPath::parse("hb/whu/cs/b01").expect("unit");
        assert_eq!(
            subject("rollcall", &unit, pb::EventKind::MemberRegistered as i32),
            "rollcall.hb.whu.cs.b01.member_registered"
        );
        assert_eq!(subject("rc", &UnitPath::parse("hb").expect("unit"), 999), "rc.hb.kind_999");
    }

    #[test]
    fn a_message_id_is_the_event_identity() {
        assert_eq!(message_id(&[0xab; 32], 7), format!("{}:7", "ab".repeat(32)));
    }
}
