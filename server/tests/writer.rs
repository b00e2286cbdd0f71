//! The writer when a write fails: nothing of the group is kept anywhere (heads,
//! enrollments, the projection, the local log's next seq), and the next group goes on
//! as if the failed one had never been tried; and the writer's own equivocation proof
//! reaching the live projection as it reaches a rebuilt one; many clients appending at
//! once through group commit. Run with
//! `cargo test -p rollcall-server --test writer`.

use std::sync::{Arc, RwLock};

use ed25519_dalek::SigningKey;
use rollcall_core::audit::Projection;
use rollcall_core::authority::Authority;
use rollcall_core::log::{Draft, Head, LocalWriter};
use rollcall_core::{EventId, HlcTime, ReplicaId, Seq, UnitPath};
use rollcall_server::store::Store;
use rollcall_server::writer::{self, AppendError};

fn unit(text: &str) -> UnitPath {
    UnitPath::parse(text).expect("valid")
}

#[path = "support/enrollment.rs"]
mod enrollment;
#[path = "support/registration.rs"]
mod registration;
use enrollment::university as enroll;

type Shared<T> = Arc<RwLock<T>>;

/// A province's writer on `store` (key `[1; 32]`, projection of `scope`): its replica,
/// authority, projection, handle and thread.
fn province_writer(
    store: &Store,
    scope: Option<&UnitPath>,
) -> (ReplicaId, Shared<Authority>, Shared<Projection>, writer::WriterHandle, std::thread::JoinHandle<()>) {
    let province_key = SigningKey::from_bytes(&[1; 32]);
    let province = ReplicaId(province_key.verifying_key().to_bytes());
    let authority = Arc::new(RwLock::new(Authority::new(province, unit("hb"))));
    let (projection, _) =
        rollcall_server::projection::rebuild(store, &authority.read().expect("lock"), scope).expect("rebuild");
    let projection = Arc::new(RwLock::new(projection));
    let (handle, join) =
        writer::start(store.clone(), province_key, unit("hb"), authority.clone(), projection.clone(), None)
            .expect("writer");
    (province, authority, projection, handle, join)
}

fn member(idx: usize) -> Draft {
    registration::registration("hb/u1/c1/b1", idx)
}

/// Seq 1 of the log of `key`, registering member `idx`: two of them with different
/// `idx` are an equivocation.
fn first_event_of(key: &SigningKey, idx: usize) -> rollcall_core::VerifiedEvent {
    let replica = ReplicaId(key.verifying_key().to_bytes());
    let mut log = LocalWriter::new(replica, Head::EMPTY, HlcTime::default());
    let mut id = [0u8; 16];
    id[0] = idx as u8;
    log.prepare(writer::now_ms(), EventId(id), member(idx)).expect("valid draft").sign(key)
}

/// Goal: clients appending one event at a time, all at once, share groups (one synced
/// write for several of them) and lose nothing; a lone client after them is answered.
/// Method: 8 threads append 100 members each, one per append, through the blocking
/// handle; then one more append. Every answer is a distinct seq, the log holds 801
/// consecutive events, the projection and a rebuild both count 801 members, and the
/// 800 appends took fewer than 600 synced writes (at least 1.33 a write; with 8 clients
/// always waiting, a write carries several whatever the machine's speed).
#[test]
fn clients_appending_at_once_share_groups_and_lose_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open");
    let (province, authority, projection, handle, join) = province_writer(&store, None);
    let mut seqs: Vec<u64> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|client| {
                let handle = handle.clone();
                scope.spawn(move || {
                    (0..100)
                        .map(|i| {
                            let appended = handle.append_blocking(vec![member(client * 100 + i)]).expect("append");
                            assert_eq!(appended.len(), 1);
                            appended[0].seq.0
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().flat_map(|thread| thread.join().expect("client")).collect()
    });
    let groups = handle.groups_written();
    assert!(groups < 600, "800 appends by 8 clients at once took {groups} synced writes: they did not share");
    let last = handle.append_blocking(vec![member(800)]).expect("a lone append after the crowd");
    assert_eq!(handle.groups_written(), groups + 1);
    seqs.push(last[0].seq.0);
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=801).collect::<Vec<u64>>(), "every append answered with its own seq");
    drop(handle);
    join.join().expect("writer ends");
    let log = store.read_log(province, Seq(1), 10_000).expect("read");
    assert_eq!(log.len(), 801);
    assert!(log.iter().enumerate().all(|(i, event)| event.seq().0 == i as u64 + 1), "consecutive");
    assert_eq!(projection.read().expect("lock").member_count(), 801);
    let (rebuilt, _) =
        rollcall_server::projection::rebuild(&store, &authority.read().expect("lock"), None).expect("rebuild");
    assert_eq!(rebuilt.member_count(), 801, "the store and the projection agree");
}

/// Goal: a group whose write fails leaves the writer exactly as before it. Method: a
/// province appends two members; then, with writes failing, an enrollment plus a member
/// (changes to the authority, the projection and the local head) and an ingest of a
/// university's events (changes to another head) fail; with writes working again, the
/// same work succeeds at the seqs it would have had, and the store, the heads and the
/// projection agree.
#[test]
fn a_failed_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open");
    let (province, authority, projection, handle, join) = province_writer(&store, None);
    let members = |projection: &Shared<Projection>| projection.read().expect("lock").member_count();

    let appended = handle.append_blocking(vec![member(0), member(1)]).expect("append");
    assert_eq!(appended.last().map(|a| a.seq), Some(Seq(2)));
    assert_eq!(members(&projection), 2);

    // A university's first two events, signed by it, for ingest once it is enrolled.
    let university_key = SigningKey::from_bytes(&[2; 32]);
    let university = ReplicaId(university_key.verifying_key().to_bytes());
    let mut university_log = LocalWriter::new(university, Head::EMPTY, HlcTime::default());
    let university_events: Vec<_> = (10..12)
        .map(|idx| {
            let mut draft = member(idx);
            draft.unit_path = unit("hb/u1/c1/b1");
            let mut id = [0u8; 16];
            id[0] = idx as u8;
            university_log.prepare(writer::now_ms(), EventId(id), draft).expect("valid draft").sign(&university_key)
        })
        .collect();

    store.fail_writes_for_tests(true);
    let failed = handle.append_blocking(vec![enroll(&university_key, "hb/u1"), member(2)]);
    assert!(matches!(failed, Err(AppendError::StoreFailed(_))), "{failed:?}");
    assert!(authority.read().expect("lock").enrollment(&university).is_none(), "the enrollment is taken back");
    assert_eq!(members(&projection), 2, "the member is taken back out of the projection");
    store.fail_writes_for_tests(false);

    let enrolled = handle.append_blocking(vec![enroll(&university_key, "hb/u1")]).expect("append");
    assert_eq!(enrolled[0].seq, Seq(3), "the local log goes on where it was");
    assert!(authority.read().expect("lock").enrollment(&university).is_some());

    store.fail_writes_for_tests(true);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let failed = runtime.block_on(handle.ingest(university_events.clone()));
    assert!(matches!(failed, Err(AppendError::StoreFailed(_))), "{failed:?}");
    assert_eq!(members(&projection), 2, "received events reach the projection only once durable");
    store.fail_writes_for_tests(false);

    let outcome = runtime.block_on(handle.ingest(university_events)).expect("ingest");
    assert_eq!((outcome.accepted, outcome.duplicates), (2, 0), "the failed ingest left no head behind: {outcome:?}");
    assert_eq!(store.head(university).expect("read").map(|h| h.head.seq), Some(Seq(2)));
    assert_eq!(store.head(province).expect("read").map(|h| h.head.seq), Some(Seq(3)));
    assert_eq!(members(&projection), 4);

    drop(handle);
    join.join().expect("the writer thread ends cleanly");
    let (rebuilt, _) =
        rollcall_server::projection::rebuild(&store, &authority.read().expect("lock"), None).expect("rebuild");
    assert_eq!(rebuilt.member_count(), 4, "the store and the projection agree");
}

/// Goal: the equivocation proof the writer appends for itself reaches the live
/// projection as it reaches a rebuilt one (the proof is a local event the rules do not
/// judge; it was stored but not applied, so the live projection's count of applied
/// events and its own log's head differed from a rebuild's until the next restart).
/// Method: a province enrolls a university, receives its event at seq 1, then another
/// event signed by the same key at seq 1; the live projection must equal a rebuild.
#[test]
fn an_equivocation_proof_reaches_the_live_projection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open");
    let (province, authority, projection, handle, join) = province_writer(&store, Some(&unit("hb")));
    let university_key = SigningKey::from_bytes(&[2; 32]);
    let university = ReplicaId(university_key.verifying_key().to_bytes());
    handle.append_blocking(vec![enroll(&university_key, "hb/u1")]).expect("enroll");

    let fork = |idx: usize| first_event_of(&university_key, idx);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let first = runtime.block_on(handle.ingest(vec![fork(10)])).expect("ingest");
    assert_eq!(first.accepted, 1);
    let second = runtime.block_on(handle.ingest(vec![fork(11)])).expect("ingest");
    assert_eq!(second.equivocations, vec![university], "{second:?}");
    assert_eq!(store.head(province).expect("read").map(|h| h.head.seq), Some(Seq(2)), "the proof is stored");

    let live = projection.read().expect("lock").clone();
    drop(handle);
    join.join().expect("the writer thread ends cleanly");
    let (rebuilt, _) =
        rollcall_server::projection::rebuild(&store, &authority.read().expect("lock"), Some(&unit("hb")))
            .expect("rebuild");
    assert_eq!(live.member_count(), 1);
    assert!(live == rebuilt, "the live projection equals a rebuild after an equivocation proof");
}

/// Goal: a node restored from a backup older than its log, which hears its own later
/// events back from a peer (a child re-sends what its parent lacks), continues its chain
/// after them: it never signs a second event at a seq it already used. Method: a
/// province appends three members, is checkpointed (the backup), appends two more; the
/// writer on the restored checkpoint ingests those two, then appends: the new event is
/// seq 6, chained to the fifth, and the store's chain verifies.
#[test]
fn a_restored_node_continues_after_its_own_events_heard_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backup = dir.path().join("backup");
    let store = Store::open(&dir.path().join("store")).expect("open");
    let (province, _authority, _projection, handle, join) = province_writer(&store, None);
    handle.append_blocking(vec![member(0), member(1), member(2)]).expect("append");
    store.checkpoint(&backup).expect("checkpoint");
    handle.append_blocking(vec![member(3)]).expect("append");
    handle.append_blocking(vec![member(4)]).expect("append");
    let later = store.read_log(province, Seq(4), 2).expect("read");
    assert_eq!(later.len(), 2);
    drop(handle);
    join.join().expect("the writer thread ends cleanly");

    let restored = Store::open(&backup).expect("open the backup");
    let (_, _, _, handle, join) = province_writer(&restored, None);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let outcome = runtime.block_on(handle.ingest(later.clone())).expect("ingest");
    assert_eq!(outcome.accepted, 2, "{outcome:?}");
    let next = handle.append_blocking(vec![member(5)]).expect("append after recovering");
    assert_eq!(next[0].seq, Seq(6), "the chain goes on after the events heard back");
    drop(handle);
    join.join().expect("the writer thread ends cleanly");
    let chain = restored.read_log(province, Seq(1), 10).expect("the restored chain verifies");
    assert_eq!(chain.len(), 6);
    assert_eq!(chain[4].hash(), later[1].hash(), "seq 5 is the event signed before the backup was restored");
}

/// Goal: a recovering writer signs nothing — no append, no equivocation proof — until
/// its recovery ends; then it removes the marker, signs the proof it held back, and
/// appends again. Method: a province whose writer starts with a marker cannot record a
/// member (refused, with the Chinese reason), catches a university (enrolled before, in
/// its store) equivocating: quarantined, nothing signed; `end_recovery` removes the
/// marker and the proof, naming both events, is the next event of its log; an append
/// then succeeds.
#[test]
fn a_recovering_writer_signs_nothing_until_its_recovery_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("store")).expect("open");
    let province_key = SigningKey::from_bytes(&[1; 32]);
    let university_key = SigningKey::from_bytes(&[2; 32]);
    let university = ReplicaId(university_key.verifying_key().to_bytes());
    // A second node of the same university, whose event shares a group that fails.
    let second_node_key = SigningKey::from_bytes(&[3; 32]);
    {
        let (_, _, _, handle, join) = province_writer(&store, None);
        handle
            .append_blocking(vec![enroll(&university_key, "hb/u1"), enroll(&second_node_key, "hb/u1")])
            .expect("enroll");
        drop(handle);
        join.join().expect("the writer thread ends cleanly");
    }
    let province = ReplicaId(province_key.verifying_key().to_bytes());
    let mut authority = Authority::new(province, unit("hb"));
    for event in store.authority_events_in_ingest_order().expect("read") {
        authority.apply(&event);
    }
    let authority = Arc::new(RwLock::new(authority));
    let (projection, _) =
        rollcall_server::projection::rebuild(&store, &authority.read().expect("lock"), None).expect("rebuild");
    let marker = dir.path().join("recovering");
    std::fs::write(&marker, "test\n").expect("marker");
    let (handle, join) = writer::start_recovering(
        store.clone(),
        province_key,
        unit("hb"),
        authority.clone(),
        Arc::new(RwLock::new(projection)),
        None,
        Some(marker.clone()),
    )
    .expect("writer");
    assert!(*handle.recovering().borrow());

    let refused = handle.append_blocking(vec![member(0)]).expect_err("refused while recovering");
    assert!(matches!(refused, AppendError::Recovering), "{refused:?}");
    assert!(refused.message_zh().is_some_and(|zh| zh.contains("恢复")));
    let fork = |idx: usize| first_event_of(&university_key, idx);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    assert_eq!(runtime.block_on(handle.ingest(vec![fork(10)])).expect("ingest").accepted, 1);
    // The equivocation is first caught in a group whose write fails: nothing of it stays,
    // not even the proof held back, so the retry below holds it once.
    store.fail_writes_for_tests(true);
    let failed = runtime.block_on(handle.ingest(vec![fork(11), first_event_of(&second_node_key, 12)]));
    assert!(matches!(failed, Err(AppendError::StoreFailed(_))), "{failed:?}");
    assert!(!authority.read().expect("lock").is_quarantined(&university), "the quarantine is taken back");
    store.fail_writes_for_tests(false);
    let second = runtime.block_on(handle.ingest(vec![fork(11)])).expect("ingest");
    assert_eq!(second.equivocations, vec![university], "{second:?}");
    assert!(authority.read().expect("lock").is_quarantined(&university));
    let own_head = || store.head(province).expect("read").map(|h| h.head.seq);
    assert_eq!(own_head(), Some(Seq(2)), "no proof signed while recovering");

    runtime.block_on(handle.end_recovery()).expect("ended");
    assert!(!*handle.recovering().borrow());
    assert!(!marker.exists(), "the marker is removed");
    assert_eq!(own_head(), Some(Seq(3)), "the proof held back is signed, once");
    let proof = store.get(province, Seq(3)).expect("read").expect("held");
    assert_eq!(proof.header().kind, rollcall_core::EventKind::EquivocationProof);
    let Ok(rollcall_core::body::Body::EquivocationProof(named)) =
        rollcall_core::body::Body::decode(proof.header().kind, proof.body().expect("body"))
    else {
        panic!("an equivocation proof body")
    };
    let seqs: Vec<u64> = [named.first, named.second]
        .into_iter()
        .map(|signed| {
            let signed = rollcall_core::codec::from_proto(signed.expect("named")).expect("decodes");
            rollcall_core::codec::decode_header(&signed.header).expect("header").seq.0
        })
        .collect();
    assert_eq!(seqs, vec![1, 1], "both events at the university's seq 1");
    let next = handle.append_blocking(vec![member(1)]).expect("append after the recovery");
    assert_eq!(next[0].seq, Seq(4));
    drop(handle);
    join.join().expect("the writer thread ends cleanly");
}
