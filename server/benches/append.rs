//! Append benchmark (`cargo bench -p rollcall-server --bench append`).
//!
//! Measures in one sitting: (a) Ed25519 signing of event headers on one core; (b)
//! durable signed appends through the real store and writer: one writer appending one
//! event at a time, one writer using the batch API (256 events per append), and 8
//! concurrent writers appending one event at a time, sharing group commit. Every append
//! is acknowledged only after its RocksDB batch is synced.
//!
//! (c) The disk's floor in the same shapes, with no signing and no RocksDB: `n` threads
//! each append 300 bytes to one file and wait until an `fdatasync` covers them, the
//! threads sharing syncs by leader/follower group commit (the scheme RocksDB's own
//! write path uses). It says what this disk allows 8 closed-loop writers at best.
//!
//! Each configuration runs `RUNS` times; the median is reported with min and max. Words
//! after `--bench` choose configurations by name, for profiling one of them
//! (`cargo bench -p rollcall-server --bench append -- "1 writer(s) x 1/"`); the ratios
//! are printed only when every configuration ran.
//! The store lives under `CARGO_TARGET_TMPDIR` (the real disk, not tmpfs).

use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};
use rollcall_core::UnitPath;
use rollcall_core::log::Draft;
use rollcall_server::store::Store;
use rollcall_server::writer;

const RUNS: usize = 5;

#[path = "../tests/support/registration.rs"]
mod registration;

fn draft(idx: usize) -> Draft {
    registration::registration("hb/whu/cs/b01", idx)
}

fn median(mut rates: Vec<f64>) -> (f64, f64, f64) {
    rates.sort_by(|a, b| a.total_cmp(b));
    (rates[rates.len() / 2], rates[0], rates[rates.len() - 1])
}

fn report(name: &str, rates: Vec<f64>) -> f64 {
    let (mid, min, max) = median(rates);
    println!("{name:<44} median {mid:>10.0} events/s   (min {min:.0}, max {max:.0}, {RUNS} runs)");
    mid
}

fn bench_sign() -> f64 {
    let key = SigningKey::from_bytes(&[9; 32]);
    let header = vec![0x5au8; 180];
    let n = 20_000;
    let rates = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(key.sign(std::hint::black_box(&header)));
            }
            n as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    report("(a) Ed25519 sign, 1 core", rates)
}

fn bench_appends(n_writers: usize, events_per_append: usize, n_events: usize) -> f64 {
    let name = format!("(b) durable appends, {n_writers} writer(s) x {events_per_append}/append");
    if !chosen(&name) {
        return f64::NAN;
    }
    let rates = (0..RUNS)
        .map(|run| {
            let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
            let store = Store::open(dir.path()).expect("open store");
            let key = SigningKey::from_bytes(&[run as u8 + 1; 32]);
            let (handle, thread) =
                writer::start_as_root(store, key, UnitPath::parse("hb").expect("valid")).expect("writer");
            let appends_per_writer = n_events / n_writers / events_per_append;
            let start = Instant::now();
            std::thread::scope(|scope| {
                for writer_idx in 0..n_writers {
                    let handle = handle.clone();
                    scope.spawn(move || {
                        for append_idx in 0..appends_per_writer {
                            let drafts = (0..events_per_append)
                                .map(|i| draft((writer_idx * appends_per_writer + append_idx) * events_per_append + i))
                                .collect();
                            handle.append_blocking(drafts).expect("append");
                        }
                    });
                }
            });
            let elapsed = start.elapsed().as_secs_f64();
            drop(handle);
            thread.join().expect("writer ends");
            (appends_per_writer * n_writers * events_per_append) as f64 / elapsed
        })
        .collect();
    report(&name, rates)
}

/// The shared state of the floor's group commit: bytes written but not yet synced are
/// covered by the next sync; `durable` is the last ticket a finished sync covered.
struct GroupCommit {
    file: std::fs::File,
    /// A leader waits up to this long for the group to hold `gather` records.
    commit_delay: std::time::Duration,
    gather: u64,
    written: std::sync::Condvar,
    state: std::sync::Mutex<GroupState>,
    synced: std::sync::Condvar,
}

struct GroupState {
    issued: u64,
    durable: u64,
    leader_busy: bool,
    syncs: u64,
}

impl GroupCommit {
    /// Appends `record` and returns once an `fdatasync` that started after it was
    /// written has finished.
    fn append_durably(&self, record: &[u8]) {
        use std::io::Write;
        let mut state = self.state.lock().expect("not poisoned");
        (&self.file).write_all(record).expect("write");
        state.issued += 1;
        let ticket = state.issued;
        self.written.notify_all();
        loop {
            if state.durable >= ticket {
                return;
            }
            if !state.leader_busy {
                // Lead: sync everything written so far, for every waiting thread.
                state.leader_busy = true;
                let deadline = Instant::now() + self.commit_delay;
                while state.issued - state.durable < self.gather {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    state = self.written.wait_timeout(state, deadline - now).expect("not poisoned").0;
                }
                let covers = state.issued;
                drop(state);
                self.file.sync_data().expect("fdatasync");
                state = self.state.lock().expect("not poisoned");
                state.durable = covers;
                state.leader_busy = false;
                state.syncs += 1;
                self.synced.notify_all();
            } else {
                state = self.synced.wait(state).expect("not poisoned");
            }
        }
    }
}

fn bench_disk_floor(n_writers: usize, n_records: usize, commit_delay_us: u64) -> f64 {
    let name = format!(
        "(c) disk floor, {n_writers} writer(s) x 1 record of 300 B, group fdatasync, commit delay {commit_delay_us} us"
    );
    if !chosen(&name) {
        return f64::NAN;
    }
    let mut records_per_sync = Vec::new();
    let rates = (0..RUNS)
        .map(|_| {
            let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.path().join("floor.log"))
                .expect("open the floor's file");
            let commit = GroupCommit {
                file,
                commit_delay: std::time::Duration::from_micros(commit_delay_us),
                gather: n_writers as u64,
                written: std::sync::Condvar::new(),
                state: std::sync::Mutex::new(GroupState { issued: 0, durable: 0, leader_busy: false, syncs: 0 }),
                synced: std::sync::Condvar::new(),
            };
            let per_writer = n_records / n_writers;
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..n_writers {
                    let commit = &commit;
                    scope.spawn(move || {
                        let record = [0x5au8; 300];
                        for _ in 0..per_writer {
                            commit.append_durably(&record);
                        }
                    });
                }
            });
            let elapsed = start.elapsed().as_secs_f64();
            let state = commit.state.lock().expect("not poisoned");
            records_per_sync.push(state.issued as f64 / state.syncs as f64);
            (per_writer * n_writers) as f64 / elapsed
        })
        .collect();
    let (records_per_sync, _, _) = median(records_per_sync);
    let rate = report(&name, rates);
    println!("{:<44} {records_per_sync:.1} records per fdatasync (median)", "");
    rate
}

/// Whether the configuration `name` was chosen: every one when no filter was given.
fn chosen(name: &str) -> bool {
    let filters: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    filters.is_empty() || filters.iter().any(|filter| name.contains(filter.as_str()))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and must stay quick.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    if quick {
        println!("append bench: run with `cargo bench -p rollcall-server --bench append`");
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {cores} cores; store under {}", env!("CARGO_TARGET_TMPDIR"));
    let sign = if chosen("(a) Ed25519 sign, 1 core") { bench_sign() } else { f64::NAN };
    let single = bench_appends(1, 1, 2_000);
    let batched = bench_appends(1, 256, 51_200);
    let concurrent = bench_appends(8, 1, 16_000);
    let concurrent_batched = bench_appends(8, 32, 64_000);
    let floor_single = bench_disk_floor(1, 2_000, 0);
    let floor_concurrent = bench_disk_floor(8, 16_000, 0);
    let floor_concurrent_delayed = bench_disk_floor(8, 16_000, 200);
    if [sign, single, batched, concurrent, concurrent_batched, floor_single, floor_concurrent, floor_concurrent_delayed]
        .iter()
        .any(|rate| rate.is_nan())
    {
        return;
    }
    println!();
    println!("ratio 8 writers (1/append) / (sign x {cores} cores): {:.2}", concurrent / (sign * cores as f64));
    println!("ratio 8 writers (32/append) / (sign x {cores} cores): {:.2}", concurrent_batched / (sign * cores as f64));
    println!("ratio batch API / (sign x {cores} cores): {:.2}", batched / (sign * cores as f64));
    println!("one at a time, durable: {single:.0} events/s");
    println!(
        "disk floor, 8 writers / (sign x {cores} cores): {:.2} (the best P1 this disk allows 8 closed-loop writers)",
        floor_concurrent / (sign * cores as f64)
    );
    println!("8 writers (1/append) / disk floor, 8 writers: {:.2}", concurrent / floor_concurrent);
    println!("1 writer (1/append) / disk floor, 1 writer: {:.2}", single / floor_single);
}
