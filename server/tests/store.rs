//! Store tests on real RocksDB in temp dirs: durability across reopen, the schema
//! version check, the replica claim, and corruption reported rather than served.

use std::path::Path;

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use rollcall_core::log::Draft;
use rollcall_core::{EventKind, ReplicaId, Seq, UnitPath};
use rollcall_server::store::{ReadBuffers, SCHEMA_VERSION, Store, StoreError};
use rollcall_server::writer;

/// Reports of the province's own tables (a unit reports only its own).
fn drafts(n: usize) -> Vec<Draft> {
    (0..n)
        .map(|idx| Draft {
            unit_path: UnitPath::parse("hb").expect("valid"),
            kind: EventKind::ReportSubmitted,
            body: rollcall_core::body::Body::ReportSubmitted(rollcall_core::proto::ReportSubmitted {
                campaign_id: format!("c{idx}"),
                table: 1 + (idx % 3) as u32,
                ..Default::default()
            })
            .encode(),
            author: "tester".into(),
        })
        .collect()
}

fn append(store: &Store, key: &SigningKey, n: usize) -> Vec<writer::Appended> {
    let (handle, thread) = writer::start_as_root(store.clone(), key.clone(), UnitPath::parse("hb").expect("valid"))
        .expect("writer starts");
    let appended = handle.append_blocking(drafts(n)).expect("append succeeds");
    drop(handle);
    thread.join().expect("writer thread ends");
    appended
}

/// Goal: what was acknowledged survives a reopen, heads included, and the writer
/// continues the chain where it stopped. Method: append, drop, reopen, append again,
/// read everything back.
#[test]
fn reopen_keeps_events_and_continues_the_chain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SigningKey::from_bytes(&[1; 32]);
    let replica = ReplicaId(key.verifying_key().to_bytes());
    let first = {
        let store = Store::open(dir.path()).expect("open");
        append(&store, &key, 10)
    };
    let store = Store::open(dir.path()).expect("reopen");
    let head = store.head(replica).expect("read head").expect("head exists");
    assert_eq!(head.head.seq, Seq(10));
    assert_eq!(head.head.hash, first[9].hash);
    let second = append(&store, &key, 5);
    assert_eq!(second[0].seq, Seq(11));
    let events = store.read_log(replica, Seq(1), 100).expect("read");
    assert_eq!(events.len(), 15);
    assert_eq!(events[10].header().prev, first[9].hash);
    assert_eq!(store.last_ingest_position().expect("ingest"), 15);
    assert_eq!(store.ingest_range(14, 10).expect("ingest range"), vec![(14, replica, Seq(14)), (15, replica, Seq(15))]);
}

/// Goal: tables written by flushes (with direct I/O where the filesystem takes it, as
/// on the test machine's disk) read back whole after a reopen, and the store's probe for
/// direct I/O leaves nothing behind in the directory. Method: append and flush five
/// times, reopen, read every event and list the directory.
#[test]
fn flushed_tables_read_back_and_the_direct_io_probe_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SigningKey::from_bytes(&[6; 32]);
    let replica = ReplicaId(key.verifying_key().to_bytes());
    let mut appended = Vec::new();
    {
        let store = Store::open(dir.path()).expect("open");
        for _ in 0..5 {
            appended.extend(append(&store, &key, 100));
            store.flush_all().expect("flush");
        }
    }
    let n_tables = std::fs::read_dir(dir.path())
        .expect("list")
        .filter(|entry| entry.as_ref().expect("entry").path().extension().is_some_and(|ext| ext == "sst"))
        .count();
    assert!(n_tables >= 5, "each flush wrote a table: {n_tables}");
    let store = Store::open(dir.path()).expect("reopen");
    let events = store.read_log(replica, Seq(1), 1000).expect("read");
    assert_eq!(events.len(), 500);
    for (event, appended) in events.iter().zip(&appended) {
        assert_eq!(event.hash(), appended.hash);
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("probe"))
        .collect();
    assert!(leftovers.is_empty(), "the probe left {leftovers:?}");
}

/// Goal: a read whose envelopes share one buffer (a sync sender's) and one that gives
/// each its own (a dossier's) return the same events, whatever the range and limit.
/// Method: append events of different sizes, read every range both ways and compare.
#[test]
fn both_buffer_modes_read_the_same_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SigningKey::from_bytes(&[4; 32]);
    let replica = ReplicaId(key.verifying_key().to_bytes());
    let store = Store::open(dir.path()).expect("open");
    append(&store, &key, 40);
    for from in [0, 1, 7, 39, 40, 41] {
        for limit in [0, 1, 5, 100] {
            let shared = store
                .read_log_without_signatures_into(replica, Seq(from), limit, ReadBuffers::OnePerRead)
                .expect("read sharing one buffer");
            let each = store
                .read_log_without_signatures_into(replica, Seq(from), limit, ReadBuffers::OnePerEvent)
                .expect("read, a buffer each");
            assert_eq!(shared.len(), each.len(), "from {from} limit {limit}");
            assert_eq!(
                shared.len(),
                limit.min(41usize.saturating_sub(from.max(1) as usize)),
                "from {from} limit {limit}"
            );
            for (a, b) in shared.iter().zip(&each) {
                assert_eq!(a.to_signed(), b.to_signed(), "from {from} limit {limit}");
            }
        }
    }
}

/// Goal: a store written by another layout version is refused with both versions named.
/// Method: write a different version into `meta` through RocksDB directly, reopen.
#[test]
fn schema_version_mismatch_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(Store::open(dir.path()).expect("open"));
    set_meta(dir.path(), b"schema_version", &(SCHEMA_VERSION + 1).to_be_bytes());
    match Store::open(dir.path()) {
        Err(StoreError::SchemaMismatch { found, expected, .. }) => {
            assert_eq!((found, expected), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        Err(other) => panic!("expected a schema mismatch, got {other}"),
        Ok(_) => panic!("expected a schema mismatch, the store opened"),
    }
}

/// Goal: a store is bound to one replica key; another key cannot continue its log.
#[test]
fn another_key_cannot_claim_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open");
    append(&store, &SigningKey::from_bytes(&[1; 32]), 1);
    let other = SigningKey::from_bytes(&[2; 32]);
    assert!(matches!(
        writer::start_as_root(store, other, UnitPath::parse("hb").expect("valid")),
        Err(StoreError::WrongReplica { .. })
    ));
}

/// Goal: a value corrupted on disk is reported, never served. Method: overwrite a
/// stored event with (a) the same bytes with one bit flipped in the signature, (b) one
/// bit flipped in the header and (c) garbage, then read it through every read path. The
/// read for peers does not check signatures (its receiver does): it must catch (b) and
/// (c), and serve (a) only for the receiver to refuse it.
#[test]
fn corrupted_value_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SigningKey::from_bytes(&[3; 32]);
    let replica = ReplicaId(key.verifying_key().to_bytes());
    let store = Store::open(dir.path()).expect("open");
    append(&store, &key, 5);
    let good = store.get(replica, Seq(3)).expect("read").expect("present").to_signed();
    let mut flipped_signature = good.signature.to_vec();
    flipped_signature[10] ^= 0x04;
    let mut flipped_header = good.header.to_vec();
    flipped_header[20] ^= 0x01;
    let bad_header = rollcall_core::SignedEvent { header: Bytes::from(flipped_header), ..good.clone() };
    let bad_signature = rollcall_core::SignedEvent { signature: Bytes::from(flipped_signature), ..good };
    for (bad_value, caught_by_peer_read) in [
        (rollcall_core::codec::encode_signed(&bad_signature), false),
        (rollcall_core::codec::encode_signed(&bad_header), true),
        (b"not an event".to_vec(), true),
    ] {
        store.corrupt_event_for_tests(replica, Seq(3), &bad_value).expect("raw write");
        let get = store.get(replica, Seq(3));
        assert!(matches!(get, Err(StoreError::Corrupt { seq: 3, .. })), "get: {get:?}");
        let range = store.read_log(replica, Seq(1), 10);
        assert!(matches!(range, Err(StoreError::Corrupt { seq: 3, .. })), "read_log: {range:?}");
        // One event alone has no neighbour to chain with: garbage is caught, a bad
        // signature is served (for the consumer to refuse), a bad header may be either.
        let one_for_stream = store.get_without_signature(replica, Seq(3));
        if bad_value == b"not an event" {
            assert!(matches!(one_for_stream, Err(StoreError::Corrupt { seq: 3, .. })), "{one_for_stream:?}");
        } else if !caught_by_peer_read {
            let event = one_for_stream.expect("read").expect("present");
            assert!(rollcall_core::verify(&event.to_signed()).is_err(), "the consumer refuses it");
        }
        let for_peer = store.read_log_without_signatures(replica, Seq(1), 10);
        let for_relay = store.read_log_without_signatures_into(replica, Seq(1), 10, ReadBuffers::OnePerRead);
        assert_eq!(format!("{for_relay:?}"), format!("{for_peer:?}"), "both buffer modes judge alike");
        if caught_by_peer_read {
            assert!(
                matches!(for_peer, Err(StoreError::Corrupt { seq: 3 | 4, .. })),
                "read_log_without_signatures: {for_peer:?}"
            );
        } else {
            let events = for_peer.expect("a bad signature alone passes the sender's checks");
            let received: Vec<_> = events.iter().map(|event| rollcall_core::verify(&event.to_signed())).collect();
            assert!(received[2].is_err() && received.iter().enumerate().all(|(i, r)| i == 2 || r.is_ok()));
        }
    }
}

/// Goal: corruption of the files themselves (bit rot under RocksDB) is reported too.
/// Method: flush to SST files, flip bytes in the middle of every SST file, reopen and
/// read everything; RocksDB's block checksums or our checks must fail the read.
#[test]
fn corrupted_sst_file_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SigningKey::from_bytes(&[4; 32]);
    let replica = ReplicaId(key.verifying_key().to_bytes());
    {
        let store = Store::open(dir.path()).expect("open");
        append(&store, &key, 200);
        store.flush_all().expect("flush");
    }
    let mut n_files = 0;
    for entry in std::fs::read_dir(dir.path()).expect("list") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|ext| ext == "sst") {
            let mut bytes = std::fs::read(&path).expect("read sst");
            if bytes.len() > 4096 {
                let middle = bytes.len() / 3;
                for byte in &mut bytes[middle..middle + 64] {
                    *byte ^= 0x5a;
                }
                std::fs::write(&path, bytes).expect("write sst");
                n_files += 1;
            }
        }
    }
    assert!(n_files > 0, "the events were flushed to at least one SST file");
    let outcome =
        Store::open(dir.path()).and_then(|store| store.read_log(replica, Seq(1), 1000).map(|events| events.len()));
    assert!(outcome.is_err(), "corruption went unnoticed: {outcome:?}");
}

/// Every column family of a store, for opening it with RocksDB directly.
const COLUMN_FAMILIES: [&str; 7] = ["events", "ingest", "heads", "projections", "meta", "drafts", "authority"];

/// The store at `path` opened with RocksDB directly, to write what a test needs on disk.
fn raw_open(path: &Path) -> rocksdb::DB {
    rocksdb::DB::open_cf(&rocksdb::Options::default(), path, COLUMN_FAMILIES).expect("raw open")
}

/// The store at `path` opened read-only with RocksDB directly, to see what is on disk.
fn raw_open_read_only(path: &Path) -> rocksdb::DB {
    rocksdb::DB::open_cf_for_read_only(&rocksdb::Options::default(), path, COLUMN_FAMILIES, false).expect("raw open")
}

fn set_meta(path: &Path, key: &[u8], value: &[u8]) {
    let db = raw_open(path);
    let meta = db.cf_handle("meta").expect("meta cf");
    db.put_cf(meta, key, value).expect("raw put");
}

/// Goal (issue 16, P6): a start reads the enrollment state from the `authority` index
/// instead of scanning every event, and finds exactly what the scan found; a store
/// written before the index existed gets it built at its first writable open.
#[test]
fn the_authority_index_lists_exactly_the_enrollments_in_ingest_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SigningKey::from_bytes(&[3; 32]);
    let enrollment = |seed: u8, unit: &str| Draft {
        unit_path: UnitPath::parse(unit).expect("valid"),
        kind: EventKind::ReplicaEnrolled,
        body: rollcall_core::body::Body::ReplicaEnrolled(rollcall_core::proto::ReplicaEnrolled {
            public_key: SigningKey::from_bytes(&[seed; 32]).verifying_key().to_bytes().to_vec().into(),
            unit_path: unit.to_string(),
            level: rollcall_core::proto::Level::University as i32,
            role: rollcall_core::proto::ReplicaRole::Node as i32,
            valid_until_ms: 0,
            label: String::new(),
        })
        .encode(),
        author: "operator".into(),
    };
    {
        let store = Store::open(dir.path()).expect("open");
        let (handle, thread) = writer::start_as_root(store.clone(), key.clone(), UnitPath::parse("hb").expect("valid"))
            .expect("writer starts");
        handle.append_blocking(drafts(5)).expect("reports");
        handle.append_blocking(vec![enrollment(7, "hb/u1")]).expect("enroll u1");
        handle.append_blocking(drafts(5)).expect("reports");
        handle.append_blocking(vec![enrollment(8, "hb/u2")]).expect("enroll u2");
        drop(handle);
        thread.join().expect("writer thread ends");
    }
    let listed = |store: &Store| -> Vec<(u64, EventKind)> {
        store
            .authority_events_in_ingest_order()
            .expect("read")
            .iter()
            .map(|event| (event.seq().0, event.header().kind))
            .collect()
    };
    let store = Store::open(dir.path()).expect("reopen");
    let expected = listed(&store);
    assert_eq!(expected.iter().filter(|(_, kind)| *kind == EventKind::ReplicaEnrolled).count(), 2, "{expected:?}");
    assert!(expected.windows(2).all(|pair| pair[0].0 < pair[1].0), "in ingest order: {expected:?}");
    // As an older version left it: no index. Read-only it is scanned; the next writable
    // open builds the index, and both give the same list.
    store.forget_authority_index_for_tests().expect("forget");
    drop(store);
    let read_only = Store::open_read_only(dir.path()).expect("read-only");
    assert_eq!(listed(&read_only), expected);
    drop(read_only);
    let reindexed = Store::open(dir.path()).expect("reopen for writing");
    assert_eq!(listed(&reindexed), expected);
}

/// `n` events of `key`'s log, signed, from seq 1.
fn signed_chain(key: &SigningKey, n: usize) -> Vec<rollcall_core::VerifiedEvent> {
    let replica = ReplicaId(key.verifying_key().to_bytes());
    let mut log = rollcall_core::log::LocalWriter::new(
        replica,
        rollcall_core::log::Head::EMPTY,
        rollcall_core::HlcTime::default(),
    );
    drafts(n)
        .into_iter()
        .enumerate()
        .map(|(idx, draft)| {
            let id = rollcall_core::EventId(u128::try_from(idx + 1).expect("small").to_be_bytes());
            log.prepare(1_700_000_000_000 + idx as u64, id, draft).expect("valid draft").sign(key)
        })
        .collect()
}

/// The raw entries of the `ingest` column family, as RocksDB holds them.
fn raw_ingest_entries(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = raw_open_read_only(path);
    let ingest = db.cf_handle("ingest").expect("ingest cf");
    db.iterator_cf(ingest, rocksdb::IteratorMode::Start)
        .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("raw read"))
        .collect()
}

/// Goal (issue 16, P2): the ingest order is written as one entry per run of one
/// replica's consecutive events, and reads back event by event from any position
/// exactly as the events were written. Method: two writes interleaving three logs
/// (runs of 1 to 5, a run broken by another replica and resumed), then every (from,
/// limit) read against the order computed by hand, and the raw entries counted.
#[test]
fn the_ingest_order_is_stored_in_runs_and_read_from_any_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open");
    let keys: Vec<SigningKey> = (11..14).map(|seed| SigningKey::from_bytes(&[seed; 32])).collect();
    let logs: Vec<Vec<_>> = keys.iter().map(|key| signed_chain(key, 8)).collect();
    // (log, seqs) in ingest order: A1-5, B1, A6-7 | C1-3, B2-3, A8.
    let first_write = [(0, 1..=5), (1, 1..=1), (0, 6..=7)];
    let second_write = [(2, 1..=3), (1, 2..=3), (0, 8..=8)];
    let mut expected = Vec::new();
    for (write, first_position) in [(&first_write[..], 1u64), (&second_write[..], 9)] {
        let events: Vec<_> = write
            .iter()
            .flat_map(|(log, seqs)| seqs.clone().map(move |seq| (*log, seq)))
            .map(|(log, seq)| logs[log][seq as usize - 1].clone())
            .collect();
        for (idx, event) in events.iter().enumerate() {
            expected.push((first_position + idx as u64, event.replica(), event.seq()));
        }
        store.write_events(&events, first_position).expect("write");
    }
    assert_eq!(expected.len(), 14);
    assert_eq!(store.last_ingest_position().expect("last position"), 14);
    for from in 0..=16u64 {
        for limit in [0, 1, 2, 3, 7, 100] {
            let wanted: Vec<_> = expected.iter().filter(|(p, _, _)| *p >= from).take(limit).cloned().collect();
            assert_eq!(store.ingest_range(from, limit).expect("range"), wanted, "from {from} limit {limit}");
        }
    }
    drop(store);
    // One entry per run: A1-5, B1, A6-7, C1-3, B2-3, A8.
    let raw = raw_ingest_entries(dir.path());
    let firsts: Vec<u64> = raw.iter().map(|(k, _)| u64::from_be_bytes(k[..].try_into().expect("8 bytes"))).collect();
    assert_eq!(firsts, vec![1, 6, 7, 9, 12, 14]);
    let lengths: Vec<usize> = raw.iter().map(|(_, v)| v.len()).collect();
    assert_eq!(lengths, vec![44, 40, 44, 44, 44, 40], "a run of one is a version-1 entry");
}

/// Goal: a store written by version 1 (an ingest entry per event) is read as it is,
/// by any open, and stays version 1 (readable by the release it came from, e.g. for a
/// backup taken before an upgrade) until the first write of a run of more than one
/// event, which marks it version 2 in the same batch. Method: rewrite a new store's
/// ingest entries and schema version as version 1 wrote them, through RocksDB directly.
#[test]
fn a_version_1_store_is_read_as_it_is_and_marked_version_2_by_its_first_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SigningKey::from_bytes(&[21; 32]);
    let replica = ReplicaId(key.verifying_key().to_bytes());
    let events = signed_chain(&key, 7);
    {
        let store = Store::open(dir.path()).expect("open");
        store.write_events(&events[..4], 1).expect("write");
    }
    {
        let db = raw_open(dir.path());
        let ingest = db.cf_handle("ingest").expect("ingest cf");
        db.delete_range_cf(ingest, 0u64.to_be_bytes(), u64::MAX.to_be_bytes()).expect("raw delete");
        for seq in 1..=4u64 {
            let mut value = replica.0.to_vec();
            value.extend_from_slice(&seq.to_be_bytes());
            db.put_cf(ingest, seq.to_be_bytes(), value).expect("raw put");
        }
        db.put_cf(db.cf_handle("meta").expect("meta cf"), b"schema_version", 1u32.to_be_bytes()).expect("raw put");
    }
    let version_1: Vec<_> = (1..=4u64).map(|seq| (seq, replica, Seq(seq))).collect();
    {
        let read_only = Store::open_read_only(dir.path()).expect("a version-1 store opens read-only");
        assert_eq!(read_only.ingest_range(2, 10).expect("range"), version_1[1..].to_vec());
        assert_eq!(read_only.last_ingest_position().expect("last"), 4);
    }
    let meta_version = |path: &Path| {
        let db = raw_open_read_only(path);
        let value = db.get_cf(db.cf_handle("meta").expect("meta cf"), b"schema_version").expect("read").expect("set");
        u32::from_be_bytes(value[..].try_into().expect("4 bytes"))
    };
    assert_eq!(meta_version(dir.path()), 1, "a read-only open changes nothing");
    let store = Store::open(dir.path()).expect("a version-1 store opens for writing");
    assert_eq!(meta_version(dir.path()), 1, "opening for writing changes nothing either");
    store.write_events(&events[4..5], 5).expect("a run of one");
    assert_eq!(meta_version(dir.path()), 1, "a run of one is a version-1 entry");
    store.write_events(&events[5..], 6).expect("a run of two, continuing the same log");
    assert_eq!(meta_version(dir.path()), SCHEMA_VERSION, "marked in the batch of its first run");
    let mut all = version_1;
    all.extend([(5, replica, Seq(5)), (6, replica, Seq(6)), (7, replica, Seq(7))]);
    assert_eq!(store.ingest_range(0, 10).expect("range"), all);
    assert_eq!(store.ingest_range(6, 1).expect("range"), vec![(6, replica, Seq(6))]);
    assert_eq!(store.last_ingest_position().expect("last"), 7);
    drop(store);
    set_meta(dir.path(), b"schema_version", &(SCHEMA_VERSION + 1).to_be_bytes());
    assert!(
        matches!(Store::open_read_only(dir.path()), Err(StoreError::SchemaMismatch { found, .. }) if found == SCHEMA_VERSION + 1),
        "a version this build does not know is refused, read-only too"
    );
}

/// Goal: a malformed ingest entry is an error naming the index, never a wrong order.
#[test]
fn a_malformed_ingest_run_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SigningKey::from_bytes(&[22; 32]);
    drop(Store::open(dir.path()).expect("open"));
    for bad_value in [vec![0u8; 39], vec![0u8; 43], [vec![0u8; 40], 0u32.to_be_bytes().to_vec()].concat()] {
        {
            let db = raw_open(dir.path());
            let mut value = bad_value.clone();
            value[..32].copy_from_slice(&key.verifying_key().to_bytes());
            db.put_cf(db.cf_handle("ingest").expect("ingest cf"), 1u64.to_be_bytes(), value).expect("raw put");
        }
        let store = Store::open_read_only(dir.path()).expect("open");
        assert!(
            matches!(store.ingest_range(1, 10), Err(StoreError::CorruptIndex { what: "ingest", .. })),
            "value of {} bytes",
            bad_value.len()
        );
        assert!(matches!(store.last_ingest_position(), Err(StoreError::CorruptIndex { what: "ingest", .. })));
    }
    // A key of another length.
    {
        let db = raw_open(dir.path());
        let ingest = db.cf_handle("ingest").expect("ingest cf");
        db.delete_range_cf(ingest, 0u64.to_be_bytes(), u64::MAX.to_be_bytes()).expect("raw delete");
        db.put_cf(ingest, [0u8, 1], [0u8; 40]).expect("raw put");
    }
    let store = Store::open_read_only(dir.path()).expect("open");
    assert!(matches!(store.ingest_range(0, 10), Err(StoreError::CorruptIndex { what: "ingest", .. })));
}

/// Goal: runs that overlap (a position written twice, or a count too large) are a
/// corrupt index, never two answers for one position or a position skipped, whatever
/// position the read starts from. Method: a run of three at 1, then an event written at
/// position 2 (which the writer never does: its positions only move on).
#[test]
fn overlapping_ingest_runs_are_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open");
    let a = signed_chain(&SigningKey::from_bytes(&[31; 32]), 3);
    let x = signed_chain(&SigningKey::from_bytes(&[32; 32]), 1);
    store.write_events(&a, 1).expect("write");
    store.write_events(&x, 2).expect("write");
    for from in [0, 1, 2] {
        assert!(
            matches!(store.ingest_range(from, 10), Err(StoreError::CorruptIndex { what: "ingest", .. })),
            "from {from}"
        );
    }
}
