//! Subscriptions: the events a node holds, in its ingest order, from a cursor, then
//! live — for the `Subscribe` RPC and the dashboard's live updates alike.
//!
//! Invariants:
//! - The cursor is the node's ingest position, which is gapless and never reused, so a
//!   consumer that resumes after the last cursor it saw misses nothing and sees nothing
//!   twice.
//! - A subscription reads from the store on its own task and hands batches to a bounded
//!   channel: a slow consumer only slows its own task, never the writer, and catches up
//!   from the store.
//! - Only events whose unit is inside `unit` (itself inside the subscriber's scope) and
//!   of the requested kinds are sent; to a reader who may not see personal data in full,
//!   an event whose body holds it goes as a stub (it still verifies).

use rollcall_core::limits::EVENTS_PER_MESSAGE_MAX;
use rollcall_core::{EventKind, UnitPath, codec};
use rollcall_proto::v1 as pb;
use tokio::sync::{mpsc, watch};

use crate::metrics::{OpenSubscription, Reader};
use crate::store::{Store, StoreError};

/// Batches a subscriber may have waiting before its reading task waits for it.
pub const QUEUE_DEPTH: usize = 4;

/// What to send.
#[derive(Clone, Debug)]
pub struct Filter {
    /// Only events about this unit's subtree.
    pub unit: UnitPath,
    /// Only these kinds (empty: all).
    pub kinds: Vec<EventKind>,
    /// False for a reader who may not see personal data in full: events whose bodies
    /// hold it go as stubs (`queries::carries_personal_data`).
    pub personal_data: bool,
    /// A response is closed at this many bytes (an event larger goes alone).
    pub message_bytes: usize,
}

/// Starts a subscription after `after`; batches arrive on the returned channel until the
/// consumer drops it, the node starts stopping (`stopping` turns true), or the store
/// fails (then the channel closes after an `Err`).
pub fn start(
    store: Store,
    mut positions: watch::Receiver<u64>,
    mut stopping: watch::Receiver<bool>,
    after: u64,
    filter: Filter,
    reader: Reader,
) -> mpsc::Receiver<Result<pb::SubscribeResponse, StoreError>> {
    let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
    tokio::spawn(async move {
        let _open = OpenSubscription::new(reader);
        let mut cursor = after;
        let mut announced_caught_up = false;
        loop {
            if *stopping.borrow() {
                return;
            }
            let read_store = store.clone();
            let read_filter = filter.clone();
            let batch = tokio::task::spawn_blocking(move || read_batch(&read_store, cursor, &read_filter)).await;
            let batch = match batch {
                Ok(batch) => batch,
                Err(_) => return,
            };
            match batch {
                Err(error) => {
                    let _ = sender.send(Err(error)).await;
                    return;
                }
                Ok(None) => {
                    if !announced_caught_up {
                        announced_caught_up = true;
                        let caught_up = pb::SubscribeResponse { events: Vec::new(), cursor, caught_up: true };
                        if sender.send(Ok(caught_up)).await.is_err() {
                            return;
                        }
                    }
                    // Wait for the writer to store more (or the consumer to leave).
                    tokio::select! {
                        changed = positions.wait_for(|position| *position > cursor) => {
                            if changed.is_err() {
                                return;
                            }
                        }
                        () = sender.closed() => return,
                        _ = stopping.wait_for(|stop| *stop) => return,
                    }
                }
                Ok(Some((last, events))) => {
                    cursor = last;
                    announced_caught_up = false;
                    if events.is_empty() {
                        continue;
                    }
                    crate::metrics::observe_subscription_lag(reader, positions.borrow().saturating_sub(cursor));
                    if sender.send(Ok(pb::SubscribeResponse { events, cursor, caught_up: false })).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    receiver
}

/// The next batch after `cursor`: the last position considered and the events that
/// pass the filter; `None` when nothing more is held. A batch is closed at
/// `filter.message_bytes` ([`rollcall_core::limits::MESSAGE_BYTES_TARGET`] unless configured; an event larger than that still goes alone), so no response
/// grows past what a stock client accepts by default (4 MiB) and no cursor can jam.
fn read_batch(
    store: &Store,
    cursor: u64,
    filter: &Filter,
) -> Result<Option<(u64, Vec<pb::SubscribedEvent>)>, StoreError> {
    let positions = store.ingest_range(cursor + 1, EVENTS_PER_MESSAGE_MAX)?;
    if positions.is_empty() {
        return Ok(None);
    }
    let mut events = Vec::new();
    let mut bytes = 0;
    let mut last = cursor;
    for (position, replica, seq) in positions {
        let Some(event) = store.get_without_signature(replica, seq)? else {
            last = position;
            continue;
        };
        let header = event.header();
        if !header.unit_path.is_within(&filter.unit)
            || (!filter.kinds.is_empty() && !filter.kinds.contains(&header.kind))
        {
            last = position;
            continue;
        }
        let mut signed = codec::to_proto(&event.to_signed());
        if !filter.personal_data
            && event.body().is_some_and(|body| crate::queries::carries_personal_data(header.kind, body))
        {
            signed.body = None;
        }
        let size = prost::Message::encoded_len(&signed) + 16;
        if !events.is_empty() && bytes + size > filter.message_bytes {
            break;
        }
        bytes += size;
        last = position;
        events.push(pb::SubscribedEvent { cursor: position, event: Some(signed) });
    }
    Ok(Some((last, events)))
}
