//! Projection snapshots: written by the writer thread (periodically and at a clean stop),
//! read back with the events stored after them applied, equal to a full rebuild; and
//! refused, with the node rebuilding instead, whenever the file or the store says it no
//! longer fits. Run with `cargo test -p rollcall-server --test snapshot`.

use std::path::Path;
use std::sync::{Arc, RwLock};

use ed25519_dalek::SigningKey;
use rollcall_core::audit::Projection;
use rollcall_core::authority::Authority;
use rollcall_core::log::{Head, LocalWriter};
use rollcall_core::{EventId, HlcTime, ReplicaId, UnitPath, VerifiedEvent};
use rollcall_server::projection::{self, Opened};
use rollcall_server::snapshot;
use rollcall_server::store::Store;
use rollcall_server::writer::{self, SnapshotSchedule};

#[path = "support/enrollment.rs"]
mod enrollment;
#[path = "support/registration.rs"]
mod registration;

fn unit(text: &str) -> UnitPath {
    UnitPath::parse(text).expect("valid")
}

/// A province store at `path`, its writer snapshotting every `every` events (0: only at
/// the stop), appending `groups` appends of 10 registrations starting at member `first`,
/// then stopping it cleanly (`stop`) or leaving its thread waiting forever, as if the
/// process had been killed (no stop snapshot): then the store and its snapshot file as
/// they are are copied to `<path>-crashed` for the next start to find.
#[allow(clippy::too_many_arguments)]
fn province_appends_then(
    path: &Path,
    key_byte: u8,
    every: u64,
    stop_min_events: u64,
    first: usize,
    groups: usize,
    stop: bool,
) -> Authority {
    let store = Store::open(path).expect("open");
    let key = SigningKey::from_bytes(&[key_byte; 32]);
    let authority = Authority::new(ReplicaId(key.verifying_key().to_bytes()), unit("hb"));
    let snapshot_path = snapshot::path_for(path);
    let (projection, opened) = projection::open(&store, &authority, Some(&unit("hb")), &snapshot_path).expect("open");
    let mut schedule = SnapshotSchedule::new(snapshot_path, opened.snapshot_position());
    schedule.every_events = every;
    schedule.min_interval = std::time::Duration::ZERO;
    schedule.stop_min_events = stop_min_events;
    let shared = Arc::new(RwLock::new(projection));
    let (handle, join) =
        writer::start(store.clone(), key, unit("hb"), Arc::new(RwLock::new(authority.clone())), shared, Some(schedule))
            .expect("writer");
    for group in 0..groups {
        let drafts = (0..10)
            .map(|offset| {
                let idx = first + group * 10 + offset;
                registration::registration(&format!("hb/u1/c1/b{}", idx % 3 + 1), idx)
            })
            .collect();
        handle.append_blocking(drafts).expect("append");
    }
    if stop {
        drop(handle);
        join.join().expect("the writer ends cleanly");
    } else {
        let copy = path.with_file_name(format!("{}-crashed", path.file_name().expect("named").to_string_lossy()));
        store.checkpoint(&copy).expect("checkpoint");
        std::fs::copy(snapshot::path_for(path), snapshot::path_for(&copy)).expect("a periodic snapshot exists");
        std::mem::forget(handle);
    }
    authority
}

fn province_appends(path: &Path, key_byte: u8, every: u64, first: usize, groups: usize) -> Authority {
    province_appends_then(path, key_byte, every, 0, first, groups, true)
}

fn rebuilt(path: &Path, authority: &Authority) -> Projection {
    let store = Store::open(path).expect("open");
    projection::rebuild(&store, authority, Some(&unit("hb"))).expect("rebuild").0
}

fn opened(path: &Path, authority: &Authority) -> (Projection, Opened) {
    let store = Store::open(path).expect("open");
    projection::open(&store, authority, Some(&unit("hb")), &snapshot::path_for(path)).expect("open")
}

/// Why the node rebuilt: "no snapshot", or "snapshot not used: " and the check it failed.
fn refusal(opened: &Opened) -> String {
    match opened {
        Opened::Rebuilt { refused: None, .. } => "no snapshot".into(),
        Opened::Rebuilt { refused: Some(why), .. } => format!("snapshot not used: {why}"),
        Opened::Restored { position, .. } => panic!("the snapshot at {position} was used"),
    }
}

/// Goal: a node restarting reads its snapshot and the events after it, and gets exactly
/// the projection a full rebuild gives. Method: a province writes 100 registrations in
/// 10 groups with a snapshot due every 25 events (written after the 3rd, 6th and 9th
/// group) and one at its stop (position 100); it restarts from that snapshot, appends 20
/// more and stops (snapshot at 120); 10 more with a stop that needs 11 to write (kept at
/// 120, 10 replayed), 10 more (written at 140); then the file of position 100 is put
/// back, as after a crash, and the 40 events after it are replayed on top.
#[test]
fn a_snapshot_and_the_events_after_it_give_what_a_rebuild_gives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store_path = dir.path().join("store");
    let snapshot_path = snapshot::path_for(&store_path);
    assert_eq!(snapshot_path, dir.path().join("store.projection-snapshot"));

    let authority = province_appends(&store_path, 1, 25, 0, 10);
    let (from_snapshot, how) = opened(&store_path, &authority);
    assert!(matches!(how, Opened::Restored { position: 100, tail: 0, .. }), "{how:?}");
    assert_eq!(from_snapshot.member_count(), 100);
    assert!(from_snapshot == rebuilt(&store_path, &authority), "the snapshot at the stop equals a rebuild");
    assert!(!dir.path().join("store.projection-snapshot.partial").exists(), "no temporary file is left");
    let at_100 = std::fs::read(&snapshot_path).expect("read");

    province_appends(&store_path, 1, 0, 100, 2);
    let (from_snapshot, how) = opened(&store_path, &authority);
    assert!(matches!(how, Opened::Restored { position: 120, tail: 0, .. }), "{how:?}");
    assert!(from_snapshot == rebuilt(&store_path, &authority));

    // A stop after fewer events than `stop_min_events` keeps the snapshot it has: the
    // next start replays them.
    province_appends_then(&store_path, 1, 0, 11, 120, 1, true);
    let (from_snapshot, how) = opened(&store_path, &authority);
    assert!(matches!(how, Opened::Restored { position: 120, tail: 10, .. }), "{how:?}");
    assert!(from_snapshot == rebuilt(&store_path, &authority));
    province_appends_then(&store_path, 1, 0, 11, 130, 1, true);
    assert!(matches!(opened(&store_path, &authority).1, Opened::Restored { position: 140, tail: 0, .. }));

    // The snapshot of position 100 (as after a crash at 140): the 20 events after it
    // are applied on top.
    std::fs::write(&snapshot_path, &at_100).expect("write");
    let (from_snapshot, how) = opened(&store_path, &authority);
    assert!(matches!(how, Opened::Restored { position: 100, tail: 40, .. }), "{how:?}");
    assert_eq!(from_snapshot.member_count(), 140);
    let full = rebuilt(&store_path, &authority);
    assert!(from_snapshot == full, "snapshot + tail equals a rebuild");
    for number in 1..=3 {
        let template = rollcall_core::audit::tables::template(number).expect("tables 1-3");
        assert_eq!(
            format!("{:?}", rollcall_core::audit::tables::compute(template, &from_snapshot, &unit("hb"))),
            format!("{:?}", rollcall_core::audit::tables::compute(template, &full, &unit("hb"))),
            "and so does table {number}"
        );
    }

    // Periodic snapshots: without a clean stop, the last one (after the 9th group) is
    // what the next start finds.
    let crashed_dir = tempfile::tempdir().expect("temp dir");
    let crashed = crashed_dir.path().join("store");
    province_appends_then(&crashed, 1, 25, 0, 0, 10, false);
    let crashed = crashed_dir.path().join("store-crashed");
    let (from_snapshot, how) = opened(&crashed, &authority);
    assert!(matches!(how, Opened::Restored { position: 90, tail: 10, .. }), "{how:?}");
    assert!(from_snapshot == rebuilt(&crashed, &authority));
}

/// Goal: a snapshot that no longer fits is never used: the node rebuilds and says why.
/// Method: from one good snapshot, a byte flipped in each of its regions, the file cut
/// short, bytes appended, another scope asked for, the store replaced by another
/// province's with as many events, and a store holding fewer events than the snapshot.
#[test]
fn a_snapshot_that_does_not_fit_is_refused_and_the_node_rebuilds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store_path = dir.path().join("store");
    let snapshot_path = snapshot::path_for(&store_path);
    let authority = province_appends(&store_path, 1, 0, 0, 5);
    let good = std::fs::read(&snapshot_path).expect("the stop wrote a snapshot");
    let full = rebuilt(&store_path, &authority);

    for at in [0, 40, good.len() / 3, good.len() / 2, good.len() - 40, good.len() - 1] {
        let mut altered = good.clone();
        altered[at] ^= 0x20;
        std::fs::write(&snapshot_path, &altered).expect("write");
        let (projection, how) = opened(&store_path, &authority);
        assert!(refusal(&how).starts_with("snapshot not used"), "byte {at}: {how:?}");
        assert!(projection == full, "byte {at}: the rebuild is used");
    }
    std::fs::write(&snapshot_path, &good[..good.len() - 100]).expect("write");
    assert!(refusal(&opened(&store_path, &authority).1).contains("snapshot not used"));
    std::fs::write(&snapshot_path, [good.as_slice(), b"x"].concat()).expect("write");
    assert!(refusal(&opened(&store_path, &authority).1).contains("bytes after the digest"));

    std::fs::write(&snapshot_path, &good).expect("write");
    let store = Store::open(&store_path).expect("open");
    let other_scope = projection::open(&store, &authority, Some(&unit("hb/u1")), &snapshot_path).expect("open").1;
    assert!(refusal(&other_scope).contains("scope"), "{other_scope:?}");
    drop(store);
    assert!(matches!(opened(&store_path, &authority).1, Opened::Restored { position: 50, .. }));

    // Another province's store, as many events: the event at position 50 differs.
    let other_dir = tempfile::tempdir().expect("temp dir");
    let other_store = other_dir.path().join("store");
    let other_authority = province_appends(&other_store, 2, 0, 0, 5);
    std::fs::write(snapshot::path_for(&other_store), &good).expect("write");
    let how = opened(&other_store, &other_authority).1;
    assert!(refusal(&how).contains("another event at ingest position 50"), "{how:?}");

    // A store holding fewer events than the snapshot (restored from an older backup).
    let short_dir = tempfile::tempdir().expect("temp dir");
    let short_store = short_dir.path().join("store");
    province_appends(&short_store, 1, 0, 0, 2);
    std::fs::write(snapshot::path_for(&short_store), &good).expect("write");
    let how = opened(&short_store, &authority).1;
    assert!(refusal(&how).contains("beyond the store's last (20)"), "{how:?}");

    std::fs::remove_file(&snapshot_path).expect("remove");
    assert_eq!(refusal(&opened(&store_path, &authority).1), "no snapshot");

    // One member a frame (50 frames): a member frame that does not decode, early in the
    // file, is refused at once (the reader, still sending frames, must not be left
    // waiting on the decoders that stopped: found by review, it hung the start).
    let store = Store::open(&store_path).expect("open");
    let position = store.last_ingest_position().expect("position");
    snapshot::write_framed(&snapshot_path, &full, &store, position, 1).expect("write");
    drop(store);
    assert!(matches!(opened(&store_path, &authority).1, Opened::Restored { position: 50, .. }));
    let mut framed = std::fs::read(&snapshot_path).expect("read");
    let mut at = b"rollcall projection snapshot\n".len();
    for _ in 0..4 {
        let length = u32::from_be_bytes(framed[at..at + 4].try_into().expect("4 bytes")) as usize;
        at += 4 + length;
    }
    framed[at + 4..at + 9].copy_from_slice(&[0xff; 5]);
    std::fs::write(&snapshot_path, &framed).expect("write");
    let (projection, how) = opened(&store_path, &authority);
    assert!(refusal(&how).contains("members:"), "{how:?}");
    assert!(projection == full);
}

/// The authority of a province store at `path` whose root is `root_key`: its enrollments
/// applied, as a node opening it applies them.
fn authority_of(store: &Store, root_key: &SigningKey) -> Authority {
    let mut authority = Authority::new(ReplicaId(root_key.verifying_key().to_bytes()), unit("hb"));
    for event in store.authority_events_in_ingest_order().expect("read") {
        authority.apply(&event);
    }
    authority
}

/// Event seq 1 of the university node holding `key`: the registration of member `idx` at
/// one of its branches.
fn first_event(key: &SigningKey, university: &str, idx: usize) -> VerifiedEvent {
    let replica = ReplicaId(key.verifying_key().to_bytes());
    let mut log = LocalWriter::new(replica, Head::EMPTY, HlcTime::default());
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(idx as u64).to_be_bytes());
    let draft = registration::registration(&format!("{university}/c1/b1"), idx);
    log.prepare(writer::now_ms(), EventId(id), draft).expect("valid draft").sign(key)
}

/// A writer for the province store `store` (root `root_key`), with the enrollments it
/// holds and its projection rebuilt, without snapshots.
fn province_writer(store: &Store, root_key: &SigningKey) -> (writer::WriterHandle, std::thread::JoinHandle<()>) {
    let authority = authority_of(store, root_key);
    let projection = projection::rebuild(store, &authority, Some(&unit("hb"))).expect("rebuild").0;
    writer::start(
        store.clone(),
        root_key.clone(),
        unit("hb"),
        Arc::new(RwLock::new(authority)),
        Arc::new(RwLock::new(projection)),
        None,
    )
    .expect("writer")
}

/// The province store at `path` receives `events`, one ingest each, in this order.
fn ingest_in_order(path: &Path, root_key: &SigningKey, events: &[&VerifiedEvent]) {
    let store = Store::open(path).expect("open");
    let (handle, join) = province_writer(&store, root_key);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    for event in events {
        let outcome = runtime.block_on(handle.ingest(vec![(*event).clone()])).expect("ingest");
        assert_eq!(outcome.accepted, 1, "{outcome:?}");
    }
    drop(handle);
    join.join().expect("the writer ends cleanly");
}

/// Goal: a snapshot is used only on the history it was taken from, not on any store
/// that happens to hold the same event at its position (found by review: the event at
/// the position was the only tie). Method: a province enrolls three universities U, V
/// and W; three copies of its store then receive, in turn, U1 and V1 (A, whose snapshot
/// is taken at position 5, V1's), U1' (another event signed by U at seq 1: a fork) and
/// V1 (B), and W1, V1, U1 (C). B and C hold V1 at position 5, yet B holds another history
/// of U's log and C's first five positions hold W1 instead of U1: both are refused, and
/// the projection each opens equals its own rebuild.
#[test]
fn a_snapshot_fits_only_the_history_it_was_taken_from() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root_key = SigningKey::from_bytes(&[1; 32]);
    let keys: Vec<SigningKey> = (2..5).map(|byte| SigningKey::from_bytes(&[byte; 32])).collect();
    let universities = ["hb/u1", "hb/u2", "hb/u3"];
    let origin = dir.path().join("origin");
    {
        let store = Store::open(&origin).expect("open");
        let (handle, join) = province_writer(&store, &root_key);
        for (key, university) in keys.iter().zip(universities) {
            handle.append_blocking(vec![enrollment::university(key, university)]).expect("enroll");
        }
        drop(handle);
        join.join().expect("the writer ends cleanly");
        for copy in ["a", "b", "c"] {
            store.checkpoint(&dir.path().join(copy)).expect("checkpoint");
        }
    }
    let u1 = first_event(&keys[0], universities[0], 10);
    let u1_fork = first_event(&keys[0], universities[0], 11);
    let v1 = first_event(&keys[1], universities[1], 20);
    let w1 = first_event(&keys[2], universities[2], 30);
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    ingest_in_order(&a, &root_key, &[&u1, &v1]);
    ingest_in_order(&b, &root_key, &[&u1_fork, &v1]);
    ingest_in_order(&c, &root_key, &[&w1, &v1, &u1]);

    let store = Store::open(&a).expect("open");
    let authority = authority_of(&store, &root_key);
    let full = projection::rebuild(&store, &authority, Some(&unit("hb"))).expect("rebuild").0;
    assert_eq!(store.last_ingest_position().expect("position"), 5);
    snapshot::write(&snapshot::path_for(&a), &full, &store, 5).expect("write");
    drop(store);
    let (from_snapshot, how) = opened(&a, &authority);
    assert!(matches!(how, Opened::Restored { position: 5, tail: 0, .. }), "{how:?}");
    assert!(from_snapshot == full);
    let good = std::fs::read(snapshot::path_for(&a)).expect("read");

    std::fs::write(snapshot::path_for(&b), &good).expect("write");
    let (projection_b, how) = opened(&b, &authority);
    assert!(refusal(&how).contains("another history of log"), "{how:?}");
    assert!(projection_b == rebuilt(&b, &authority));
    assert!(projection_b != full, "B's projection differs from A's: the snapshot would have been wrong");

    std::fs::write(snapshot::path_for(&c), &good).expect("write");
    let (projection_c, how) = opened(&c, &authority);
    assert!(refusal(&how).contains("after the snapshot that holds it"), "{how:?}");
    assert!(projection_c == rebuilt(&c, &authority));
}
