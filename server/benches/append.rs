//! Append benchmark (`cargo bench -p rollcall-server --bench append`).
//!
//! Measures in one sitting: (a) Ed25519 signing of event headers on one core; (b)
//! durable signed appends through the real store and writer: one writer appending one
//! event at a time, one writer using the batch API (256 events per append), and 8
//! concurrent writers appending one event at a time, sharing group commit. Every append
//! is acknowledged only after its RocksDB batch is synced.
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
    if [sign, single, batched, concurrent, concurrent_batched].iter().any(|rate| rate.is_nan()) {
        return;
    }
    println!();
    println!("ratio 8 writers (1/append) / (sign x {cores} cores): {:.2}", concurrent / (sign * cores as f64));
    println!("ratio 8 writers (32/append) / (sign x {cores} cores): {:.2}", concurrent_batched / (sign * cores as f64));
    println!("ratio batch API / (sign x {cores} cores): {:.2}", batched / (sign * cores as f64));
    println!("one at a time, durable: {single:.0} events/s");
}
