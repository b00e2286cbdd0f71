//! The node's Prometheus metrics, through the `prometheus-client` registry.
//!
//! Two kinds of figure: **distributions** observed as work happens (how long a local
//! append takes to be durable, how long a batch received from a peer takes to verify
//! and store, how far behind the node's ingest position each subscription batch is),
//! kept in process-wide histograms; and **snapshots** read at scrape time (the ingest
//! position, members, the store's size, per-edge sync figures, the export's lag), which
//! [`render`] registers fresh for each scrape beside the histograms.
//!
//! Invariants: labels name units and key prefixes only, never a person, a member or a
//! body; an observation is a few atomic operations, never a lock the writer waits on.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A sync peer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EdgeLabels {
    /// The peer's key, first 8 hex digits.
    pub peer: String,
    /// The peer's unit.
    pub peer_unit: String,
}

/// Who reads a subscription.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Reader {
    /// A gRPC `Subscribe` (a consumer, a data team).
    Grpc,
    /// The dashboard's live updates.
    Dashboard,
    /// The export to NATS JetStream.
    Export,
}

impl Reader {
    /// Its label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reader::Grpc => "grpc",
            Reader::Dashboard => "dashboard",
            Reader::Export => "export",
        }
    }

    fn index(self) -> usize {
        match self {
            Reader::Grpc => 0,
            Reader::Dashboard => 1,
            Reader::Export => 2,
        }
    }

    const ALL: [Reader; 3] = [Reader::Grpc, Reader::Dashboard, Reader::Export];
}

/// The label of a reader.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReaderLabels {
    /// grpc, dashboard or export.
    pub reader: String,
}

/// The distributions, observed as work happens.
pub struct Observed {
    append_seconds: Histogram,
    sync_store_seconds: Family<EdgeLabels, Histogram>,
    subscription_lag_events: Family<ReaderLabels, Histogram>,
    subscriptions_open: [AtomicU64; 3],
}

static OBSERVED: LazyLock<Observed> = LazyLock::new(|| Observed {
    // 0.1 ms to ~6.5 s.
    append_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 17)),
    sync_store_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_1, 2.0, 17))),
    // 0 (caught up) then 1 to ~1M events behind.
    subscription_lag_events: Family::new_with_constructor(|| {
        Histogram::new(std::iter::once(0.0).chain(exponential_buckets(1.0, 4.0, 11)))
    }),
    subscriptions_open: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
});

/// A local append took `elapsed` from request to durable.
pub fn observe_append(elapsed: Duration) {
    OBSERVED.append_seconds.observe(elapsed.as_secs_f64());
}

/// A batch received from `peer` took `elapsed` to verify and store.
pub fn observe_sync_store(peer: &rollcall_core::ReplicaId, peer_unit: &str, elapsed: Duration) {
    let labels = EdgeLabels { peer: peer.short(), peer_unit: peer_unit.to_string() };
    OBSERVED.sync_store_seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
}

/// A subscription batch was handed to `reader` with `behind` events still to come.
pub fn observe_subscription_lag(reader: Reader, behind: u64) {
    let labels = ReaderLabels { reader: reader.as_str().to_string() };
    OBSERVED.subscription_lag_events.get_or_create(&labels).observe(behind as f64);
}

/// Counts an open subscription of `reader` until dropped.
pub struct OpenSubscription(Reader);

impl OpenSubscription {
    /// Counts one more.
    pub fn new(reader: Reader) -> OpenSubscription {
        OBSERVED.subscriptions_open[reader.index()].fetch_add(1, Ordering::Relaxed);
        OpenSubscription(reader)
    }
}

impl Drop for OpenSubscription {
    fn drop(&mut self) {
        OBSERVED.subscriptions_open[self.0.index()].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Subscriptions of `reader` open now.
pub fn subscriptions_open(reader: Reader) -> u64 {
    OBSERVED.subscriptions_open[reader.index()].load(Ordering::Relaxed)
}

/// What a scrape reads at that moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The ingest position.
    pub ingest_position: u64,
    /// Events applied to the projection since start.
    pub projection_events_applied: u64,
    /// Members known.
    pub members: u64,
    /// The store's live bytes.
    pub store_live_bytes: u64,
    /// Per edge: labels and figures.
    pub edges: Vec<EdgeSnapshot>,
    /// Events of the subtree the level above has not acknowledged, and the oldest's age.
    pub unacknowledged_up: Option<(u64, f64)>,
    /// The export, when configured.
    pub export: Option<ExportFigures>,
}

/// One sync edge at scrape time.
#[derive(Clone, Debug)]
pub struct EdgeSnapshot {
    /// Who.
    pub labels: EdgeLabels,
    /// Session up.
    pub connected: bool,
    /// Events sent.
    pub sent: u64,
    /// Events received and stored.
    pub received: u64,
    /// Events refused.
    pub rejected: u64,
    /// When it last acknowledged (s since the epoch).
    pub last_ack_seconds: f64,
    /// Events in its scope it is not known to hold, and the oldest's age (s), when known.
    pub unsent: Option<(u64, f64)>,
}

/// The export at scrape time.
#[derive(Clone, Debug)]
pub struct ExportFigures {
    /// The stream.
    pub stream: String,
    /// Events behind the ingest position.
    pub lag_events: u64,
    /// The durable cursor.
    pub cursor: u64,
    /// Connected.
    pub connected: bool,
    /// Published since start.
    pub published: u64,
    /// Repeats JetStream dropped.
    pub duplicates: u64,
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let metric: Gauge<f64, AtomicU64> = Gauge::default();
    metric.set(value);
    registry.register(name, help, metric);
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let metric: Counter = Counter::default();
    metric.inc_by(value);
    registry.register(name, help, metric);
}

fn per_edge<T, F>(registry: &mut Registry, name: &str, help: &str, edges: &[EdgeSnapshot], value: F)
where
    F: Fn(&EdgeSnapshot) -> Option<T>,
    T: Into<f64>,
{
    let family: Family<EdgeLabels, Gauge<f64, AtomicU64>> = Family::default();
    for edge in edges {
        if let Some(v) = value(edge) {
            family.get_or_create(&edge.labels).set(v.into());
        }
    }
    registry.register(name, help, family);
}

fn per_edge_counter(
    registry: &mut Registry,
    name: &str,
    help: &str,
    edges: &[EdgeSnapshot],
    value: impl Fn(&EdgeSnapshot) -> u64,
) {
    let family: Family<EdgeLabels, Counter> = Family::default();
    for edge in edges {
        family.get_or_create(&edge.labels).inc_by(value(edge));
    }
    registry.register(name, help, family);
}

/// The Prometheus text exposition of `snapshot` and the distributions.
pub fn render(snapshot: &Snapshot) -> String {
    let mut registry = Registry::default();
    counter(
        &mut registry,
        "rollcall_ingest_position",
        "Events stored by this node (its ingest position).",
        snapshot.ingest_position,
    );
    counter(
        &mut registry,
        "rollcall_projection_events_applied",
        "Events applied to the projection since the node started (rebuild included).",
        snapshot.projection_events_applied,
    );
    gauge(&mut registry, "rollcall_members", "Members known to the projection.", snapshot.members as f64);
    gauge(
        &mut registry,
        "rollcall_store_live_bytes",
        "Live data in the RocksDB store, as RocksDB estimates it.",
        snapshot.store_live_bytes as f64,
    );
    let subscribers: Family<ReaderLabels, Gauge<i64, AtomicI64>> = Family::default();
    for reader in Reader::ALL {
        let open = i64::try_from(subscriptions_open(reader)).unwrap_or(i64::MAX);
        subscribers.get_or_create(&ReaderLabels { reader: reader.as_str().to_string() }).set(open);
    }
    registry.register(
        "rollcall_subscribers",
        "Subscriptions open now, by reader: grpc (Subscribe), dashboard (live updates), export (NATS JetStream).",
        subscribers,
    );
    let edges = &snapshot.edges;
    per_edge(&mut registry, "rollcall_sync_connected", "1 while a sync session with the peer is up.", edges, |e| {
        Some(f64::from(u8::from(e.connected)))
    });
    per_edge_counter(&mut registry, "rollcall_sync_sent", "Events sent to the peer.", edges, |e| e.sent);
    per_edge_counter(
        &mut registry,
        "rollcall_sync_received",
        "Events received from the peer and stored.",
        edges,
        |e| e.received,
    );
    per_edge_counter(
        &mut registry,
        "rollcall_sync_rejected",
        "Events received from the peer and refused.",
        edges,
        |e| e.rejected,
    );
    per_edge(
        &mut registry,
        "rollcall_sync_last_ack_timestamp_seconds",
        "When the peer last acknowledged events.",
        edges,
        |e| Some(e.last_ack_seconds),
    );
    per_edge(
        &mut registry,
        "rollcall_sync_unsent",
        "Events in the peer's scope it is not known to hold (from its last hello or acknowledgement).",
        edges,
        |e| e.unsent.map(|(n, _)| n as f64),
    );
    per_edge(
        &mut registry,
        "rollcall_sync_oldest_unsent_age_seconds",
        "Age of the oldest of them, by its hybrid-logical time (0: none).",
        edges,
        |e| e.unsent.map(|(_, age)| age),
    );
    if let Some((unacknowledged, age)) = snapshot.unacknowledged_up {
        gauge(
            &mut registry,
            "rollcall_sync_unacknowledged_up",
            "Events of this node's subtree the level above has not acknowledged by a receipt.",
            unacknowledged as f64,
        );
        gauge(
            &mut registry,
            "rollcall_sync_oldest_unacknowledged_up_age_seconds",
            "Age of the oldest of them (0: none).",
            age,
        );
    }
    counter(
        &mut registry,
        "rollcall_rejections",
        "Events refused from all peers.",
        edges.iter().map(|e| e.rejected).sum(),
    );
    if let Some(export) = &snapshot.export {
        let stream = |value: f64| {
            let family: Family<Vec<(String, String)>, Gauge<f64, AtomicU64>> = Family::default();
            family.get_or_create(&vec![("stream".to_string(), export.stream.clone())]).set(value);
            family
        };
        registry.register(
            "rollcall_export_lag_events",
            "Events stored here and not yet acknowledged by the NATS JetStream stream.",
            stream(export.lag_events as f64),
        );
        registry.register(
            "rollcall_export_cursor",
            "The export's durable cursor (an ingest position).",
            stream(export.cursor as f64),
        );
        registry.register(
            "rollcall_export_connected",
            "1 while the export is connected.",
            stream(f64::from(u8::from(export.connected))),
        );
        let stream_counter = |value: u64| {
            let family: Family<Vec<(String, String)>, Counter> = Family::default();
            family.get_or_create(&vec![("stream".to_string(), export.stream.clone())]).inc_by(value);
            family
        };
        registry.register(
            "rollcall_export_published",
            "Events published since the node started.",
            stream_counter(export.published),
        );
        registry.register(
            "rollcall_export_duplicates",
            "Of those, repeats JetStream dropped (a retried batch).",
            stream_counter(export.duplicates),
        );
    }
    registry.register(
        "rollcall_append_seconds",
        "Local appends (Append calls): from the request to the events being durable.",
        OBSERVED.append_seconds.clone(),
    );
    registry.register(
        "rollcall_sync_store_seconds",
        "Batches received from a peer: verifying and storing them durably.",
        OBSERVED.sync_store_seconds.clone(),
    );
    registry.register(
        "rollcall_subscription_lag_events",
        "How many events stored here were still to come when a subscription batch was handed over, by reader.",
        OBSERVED.subscription_lag_events.clone(),
    );
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
        text.clear();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_names_every_figure_with_its_type() {
        observe_append(Duration::from_millis(3));
        observe_subscription_lag(Reader::Export, 10);
        let _open = OpenSubscription::new(Reader::Grpc);
        let text = render(&Snapshot {
            ingest_position: 42,
            members: 7,
            export: Some(ExportFigures {
                stream: "ROLLCALL".into(),
                lag_events: 5,
                cursor: 37,
                connected: true,
                published: 37,
                duplicates: 0,
            }),
            ..Snapshot::default()
        });
        for line in [
            "# TYPE rollcall_ingest_position counter",
            "rollcall_ingest_position_total 42",
            "rollcall_members 7",
            "rollcall_subscribers{reader=\"grpc\"} 1",
            "rollcall_export_lag_events{stream=\"ROLLCALL\"} 5",
            "# TYPE rollcall_append_seconds histogram",
            "rollcall_subscription_lag_events_count{reader=\"export\"}",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
    }
}
