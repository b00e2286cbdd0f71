//! Sync benchmarks (`cargo build --release --bins && cargo bench -p rollcall-tests --bench sync`).
//!
//! (a) Catch-up. A province node (real process, TLS, RocksDB on the real disk) holds N events about a
//! university (default 1,000,000; `CATCHUP_EVENTS=n` to change); a new, empty university
//! node is enrolled through the real flow and started; the figure is the time from its
//! start until it holds all N events, each signature verified and every batch durable.
//! Ed25519 verification (single and `verify_batch` of 256 on one core, and `verify_batch` of
//! 256 on all cores at once) is measured in the same run, before and after.
//!
//! (b) Latency. A branch appends 10 events every 10 ms (1,000 events/s) for `LATENCY_SECONDS`
//! (default 10); each event's latency is from its append being acknowledged at the branch
//! to the province holding it (4 hops: branch → college → university → province), seen by
//! polling the province's heads every 2 ms. p50 and p99.
//!
//! (c) Reconciliation. A college appends 100,000 events about a branch, which the branch
//! node holds; a laptop of that branch records 10,000 events offline; the figure is the
//! wall time of `rollcall sync` on the laptop (both ways, every event verified and durable).
//! Three shapes, in interleaved rounds (`RECONCILE_ROUNDS`, default 1; `RECONCILE_SHAPES`,
//! default `shared,pinned,deployed`): **shared**, the laptop's `rollcall sync` and the
//! four nodes on the same two cores (as in a test on one machine); **pinned**, the
//! laptop alone on CPU 0 and the four nodes on CPU 1 (`taskset`); **deployed**, the
//! laptop alone on CPU 0, the branch alone on CPU 1 and its three ancestors paused
//! (`SIGSTOP`) while the laptop syncs, as when they run on other machines (their work
//! is not on these cores; the branch's relay up waits for them).

use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey, Verifier};
use rollcall_client::sample::member_drafts;
use rollcall_core::UnitPath;
use rollcall_proto::v1 as pb;
use rollcall_server::config::{OPERATOR_KEY_FILE, read_key};
use rollcall_server::connect;
use rollcall_tests::{ClusterNode, bin, cpu_seconds, machine_cpu_seconds, median, rollcall, start_child, start_root};

/// 4,096 messages of 180 bytes signed by the key of `seed`, as every dalek figure below
/// verifies them.
struct SignedMessages {
    public: ed25519_dalek::VerifyingKey,
    messages: Vec<Vec<u8>>,
    signatures: Vec<ed25519_dalek::Signature>,
}

impl SignedMessages {
    const COUNT: usize = 4096;

    fn new(seed: u8) -> Self {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let messages: Vec<Vec<u8>> =
            (0..Self::COUNT as u32).map(|i| [i.to_be_bytes().as_slice(), &[0x5a; 176]].concat()).collect();
        let signatures = messages.iter().map(|m| key.sign(m)).collect();
        Self { public: key.verifying_key(), messages, signatures }
    }

    /// Every message verified with `verify_batch`, 256 at a time (`keys`: the public key
    /// 256 times, made once by the caller).
    fn verify_in_batches(&self, keys: &[ed25519_dalek::VerifyingKey]) {
        for (chunk, sigs) in self.messages.chunks(256).zip(self.signatures.chunks(256)) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            ed25519_dalek::verify_batch(&refs, sigs, keys).expect("valid batch");
        }
    }
}

/// One core, on the calling thread: single verification, then `verify_batch` of 256.
fn verify_rates() -> (f64, f64) {
    let signed = SignedMessages::new(5);
    let start = Instant::now();
    for (message, signature) in signed.messages.iter().zip(&signed.signatures) {
        signed.public.verify(message, signature).expect("valid");
    }
    let single = SignedMessages::COUNT as f64 / start.elapsed().as_secs_f64();
    let keys = vec![signed.public; 256];
    let start = Instant::now();
    signed.verify_in_batches(&keys);
    let batch = SignedMessages::COUNT as f64 / start.elapsed().as_secs_f64();
    (single, batch)
}

/// The cores this process may run on (`available_parallelism`: the machine's, less any
/// CPU affinity or quota).
fn usable_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What `verify_batch` of 256 verified on some threads at once.
#[derive(Clone, Copy)]
struct Together {
    /// Every thread's signatures over the wall time from the first thread's start to the
    /// last one's end: what the machine verified (a core held up by the host counts).
    rate: f64,
    /// The sum of each thread's own rate over its own time (a thread held up costs only
    /// itself).
    sum_of_rates: f64,
}

/// `verify_batch` of 256 on `threads` threads at once, each over its own 4,096 signed
/// messages of 180 bytes (of its own key) four times, about a quarter of a second alone.
/// The threads are released by a barrier and each times itself; signing and every
/// allocation but the batch's own are done before. With one thread it is the same work
/// as [`verify_rates`]'s batch figure, on a thread of its own; with one a core it is
/// what the cores verify at once, which is what a catch-up has (twice the one-core rate
/// only if the second core adds a whole core).
fn batch_rate_on_threads(threads: usize) -> Together {
    const PASSES: usize = 4;
    let signed: Vec<SignedMessages> = (0..threads).map(|thread| SignedMessages::new(5 + thread as u8)).collect();
    let barrier = std::sync::Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let workers: Vec<_> = signed
            .iter()
            .map(|signed| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let keys = vec![signed.public; 256];
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..PASSES {
                        signed.verify_in_batches(&keys);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().expect("verifier")).collect()
    });
    let each = (PASSES * SignedMessages::COUNT) as f64;
    let first_start = spans.iter().map(|(start, _)| *start).min().expect("a thread");
    let last_end = spans.iter().map(|(_, end)| *end).max().expect("a thread");
    Together {
        rate: each * threads as f64 / last_end.duration_since(first_start).as_secs_f64(),
        sum_of_rates: spans.iter().map(|(start, end)| each / end.duration_since(*start).as_secs_f64()).sum(),
    }
}

/// `verify_batch` of 256 on one thread alone and on one thread a core at once, in the
/// order `round` picks (alone first in even rounds), so that over rounds the machine's
/// drift falls on both alike.
fn alone_and_together(round: usize) -> (Together, Together) {
    if round.is_multiple_of(2) {
        let alone = batch_rate_on_threads(1);
        (alone, batch_rate_on_threads(usable_cores()))
    } else {
        let together = batch_rate_on_threads(usable_cores());
        (batch_rate_on_threads(1), together)
    }
}

/// The verification rates alone (`SYNC_BENCH=d`): medians of `VERIFY_ROUNDS` (default
/// 15). Whether "dalek × 2 cores" is what two cores verify.
fn batch_verification_on_all_cores() {
    let rounds: usize = rollcall_tests::env_or("VERIFY_ROUNDS", 15);
    VerifyRates::measure(rounds).print("alone");
}

/// Which of curve25519-dalek's backends verifies in this build on this CPU, as dalek
/// picks it: its build script compiles the AVX-512 IFMA backend in when told to (the
/// cfg `.cargo/config.toml` passes) or when the compile-time target features include
/// `avx512ifma` and `avx512vl` (`-C target-cpu=native` on such a CPU), and the AVX2 one on
/// x86_64 with 64-bit pointers unless the serial or fiat backend is forced; at run time
/// it takes the first compiled in that the CPU has. Every ratio to dalek depends on it.
fn dalek_backend() -> &'static str {
    if cfg!(curve25519_dalek_backend = "fiat") {
        return "fiat (serial)";
    }
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    {
        // Forcing the serial backend, or AVX2 alone, leaves the AVX-512 one out.
        let avx512_left_out = cfg!(any(curve25519_dalek_backend = "serial", curve25519_dalek_backend = "simd"));
        let avx512_compiled = cfg!(curve25519_dalek_backend = "avx512")
            || (cfg!(all(target_feature = "avx512ifma", target_feature = "avx512vl")) && !avx512_left_out);
        if avx512_compiled
            && std::arch::is_x86_feature_detected!("avx512ifma")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return "AVX-512 IFMA";
        }
        if !cfg!(curve25519_dalek_backend = "serial") && std::arch::is_x86_feature_detected!("avx2") {
            return "AVX2";
        }
    }
    "serial"
}

/// The rate of `rollcall_core::verify_many` on real signed events of one replica, in
/// batches of 512 as sync sends them (all checks, signatures batched and coalesced by
/// key: what a catch-up receiver runs), one core.
fn event_verify_rate() -> (f64, f64) {
    let events = one_replicas_events(4096);
    let start = Instant::now();
    for chunk in events.chunks(512) {
        assert!(rollcall_core::verify_many(chunk).iter().all(Result::is_ok));
    }
    let verified = events.len() as f64 / start.elapsed().as_secs_f64();
    // One body decode (what verification does to check a body's shape, and what the
    // writer does again to apply it to the projection).
    let start = Instant::now();
    for event in &events {
        let header = rollcall_core::codec::decode_header(&event.header).expect("valid header");
        let body = event.body.as_ref().expect("full event");
        std::hint::black_box(rollcall_core::body::Body::decode(header.kind, body).expect("valid body"));
    }
    let decoded = events.len() as f64 / start.elapsed().as_secs_f64();
    (verified, decoded)
}

/// `verify_many`'s cost an event by the size of the batch (`SYNC_BENCH=v`): the sizes
/// interleaved round by round in one process, so the machine's drift falls on all alike;
/// medians of `VERIFY_ROUNDS` (default 15).
fn verify_by_batch_size() {
    const SIZES: [usize; 5] = [256, 512, 1024, 2048, 4096]; // 512: one message (`EVENTS_PER_MESSAGE_MAX`)
    let events = one_replicas_events(4096);
    let rounds: usize = rollcall_tests::env_or("VERIFY_ROUNDS", 15);
    let mut micros: Vec<Vec<f64>> = vec![Vec::new(); SIZES.len()];
    for _ in 0..rounds {
        for (size, taken) in SIZES.iter().zip(micros.iter_mut()) {
            let start = Instant::now();
            for chunk in events.chunks(*size) {
                assert!(rollcall_core::verify_many(chunk).iter().all(Result::is_ok));
            }
            taken.push(start.elapsed().as_secs_f64() * 1e6 / events.len() as f64);
        }
    }
    let one_message = SIZES
        .iter()
        .position(|&size| size == rollcall_core::limits::EVENTS_PER_MESSAGE_MAX)
        .expect("a message's size is measured");
    let at_512 = median(&mut micros[one_message].clone());
    for (size, taken) in SIZES.iter().zip(micros.iter_mut()) {
        let us = median(taken);
        println!(
            "verify_many in batches of {size}, 1 core: {us:.2} us an event (median of {rounds}), {:.2} of the batch of 512",
            us / at_512
        );
    }
}

/// Decoding a header (`SYNC_BENCH=h`), as every event received and every event sent is
/// decoded: the fast path (`codec::decode_header`) beside the rule it stands in for
/// (`codec::decode_header_by_reencoding`: prost's decoding and the re-encoding check),
/// interleaved round by round in one process; medians of `VERIFY_ROUNDS` (default 15).
fn header_decoding() {
    let events = one_replicas_events(4096);
    let rounds: usize = rollcall_tests::env_or("VERIFY_ROUNDS", 15);
    let decoders: [(&str, fn(&[u8]) -> Result<rollcall_core::Header, rollcall_core::codec::CodecError>); 2] = [
        ("the fast path (decode_header)", rollcall_core::codec::decode_header),
        ("the rule (decode_header_by_reencoding)", rollcall_core::codec::decode_header_by_reencoding),
    ];
    let mut nanos: Vec<Vec<f64>> = vec![Vec::new(); decoders.len()];
    for _ in 0..rounds {
        for ((_, decode), taken) in decoders.iter().zip(nanos.iter_mut()) {
            let start = Instant::now();
            for event in &events {
                std::hint::black_box(decode(std::hint::black_box(&event.header)).expect("valid header"));
            }
            taken.push(start.elapsed().as_secs_f64() * 1e9 / events.len() as f64);
        }
    }
    let rule = median(&mut nanos[1].clone());
    for ((name, _), taken) in decoders.iter().zip(nanos.iter_mut()) {
        let ns = median(taken);
        println!(
            "header decoding, {name}, 1 core: {ns:.0} ns a header (median of {rounds}), {:.2} of the rule",
            ns / rule
        );
    }
}

/// `n` signed events of one replica: member events of one branch, as a catch-up sends.
fn one_replicas_events(n: usize) -> Vec<rollcall_core::SignedEvent> {
    use rollcall_core::log::{Head, LocalWriter};
    use rollcall_core::{EventId, HlcTime, ReplicaId};
    let key = SigningKey::from_bytes(&[6; 32]);
    let replica = ReplicaId(key.verifying_key().to_bytes());
    let mut writer = LocalWriter::new(replica, Head::EMPTY, HlcTime::default());
    let unit = UnitPath::parse("hb/u1/c1/b1").expect("valid");
    let events: Vec<rollcall_core::SignedEvent> = member_drafts(&unit, 2048, 1, "bench")
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(idx, draft)| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(idx as u64).to_be_bytes());
            writer.prepare(1_800_000_000_000, EventId(id), draft).expect("valid draft").sign(&key).to_signed()
        })
        .collect();
    assert_eq!(events.len(), n, "enough drafts");
    events
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("sync bench: run with `cargo build --release --bins && cargo bench -p rollcall-tests --bench sync`");
        return;
    }
    println!("curve25519-dalek backend: {} (every ratio to dalek below is to this one)", dalek_backend());
    let only = std::env::var("SYNC_BENCH").unwrap_or_default();
    if only.contains('v') {
        verify_by_batch_size();
    }
    if only.contains('h') {
        header_decoding();
    }
    if only.contains('d') {
        batch_verification_on_all_cores();
    }
    if only.is_empty() || only.contains('a') {
        catch_up();
    }
    if only.is_empty() || only.contains('b') {
        latency();
    }
    if only.is_empty() || only.contains('c') {
        let rounds = rollcall_tests::env_or("RECONCILE_ROUNDS", 1);
        let shapes = std::env::var("RECONCILE_SHAPES").unwrap_or_else(|_| "shared,pinned,deployed".into());
        let mut seconds: Vec<(&str, Vec<f64>)> = Vec::new();
        for _ in 0..rounds {
            for shape in shapes.split(',') {
                let shape = match shape {
                    "shared" => Shape::Shared,
                    "pinned" => Shape::Pinned,
                    "deployed" => Shape::Deployed,
                    other => panic!("RECONCILE_SHAPES: unknown shape {other:?} (shared, pinned, deployed)"),
                };
                let taken = reconcile(shape);
                match seconds.iter_mut().find(|(name, _)| *name == shape.name()) {
                    Some((_, all)) => all.push(taken),
                    None => seconds.push((shape.name(), vec![taken])),
                }
            }
        }
        for (shape, all) in &mut seconds {
            let rounds: Vec<String> = all.iter().map(|s| format!("{s:.2}")).collect();
            println!("laptop reconciliation, {shape}: median {:.2} s ({})", median(all), rounds.join(" · "));
        }
    }
}

async fn append_all(
    client: &mut pb::node_client::NodeClient<tonic::transport::Channel>,
    drafts: &[rollcall_core::log::Draft],
) {
    for chunk in drafts.chunks(1000) {
        let request = rollcall_client::append_request(chunk);
        client.append(request).await.expect("append");
    }
}

async fn node_client(node: &ClusterNode) -> pb::node_client::NodeClient<tonic::transport::Channel> {
    let operator = read_key(&node.dir.join(OPERATOR_KEY_FILE)).expect("operator key");
    let address = node.process.as_ref().expect("running").address.clone();
    let channel = connect::connect(&address, node.replica(), &operator).await.expect("connect");
    pb::node_client::NodeClient::new(channel)
}

async fn held(client: &mut pb::node_client::NodeClient<tonic::transport::Channel>, replica: &[u8]) -> u64 {
    let heads = client.heads(pb::HeadsRequest {}).await.expect("heads").into_inner().heads;
    heads.iter().find(|h| h.replica.as_ref() == replica).map_or(0, |h| h.seq)
}

fn latency() {
    let seconds: u64 = std::env::var("LATENCY_SECONDS").ok().and_then(|n| n.parse().ok()).unwrap_or(10);
    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let province = start_root(base.path(), "hb");
    let university = start_child(base.path(), &province, "hb/u1");
    let college = start_child(base.path(), &university, "hb/u1/c1");
    let branch = start_child(base.path(), &college, "hb/u1/c1/b1");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let latencies = runtime.block_on(async {
        let mut writer_client = node_client(&branch).await;
        let mut province_client = node_client(&province).await;
        let branch_key = branch.replica().0;
        let unit = UnitPath::parse("hb/u1/c1/b1").expect("valid");
        let drafts = member_drafts(&unit, (seconds as usize) * 500, 3, "bench");
        let acked: std::sync::Arc<std::sync::Mutex<Vec<(u64, Instant)>>> = Default::default();
        let acked_writer = acked.clone();
        let n_batches = (seconds * 100) as usize;
        let writer = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(10));
            for batch in drafts.chunks(10).take(n_batches) {
                ticker.tick().await;
                let request = rollcall_client::append_request(batch);
                let response = writer_client.append(request).await.expect("append").into_inner();
                let now = Instant::now();
                let mut acked = acked_writer.lock().expect("lock");
                for event in response.events {
                    acked.push((event.seq, now));
                }
            }
        });
        let mut seen: Vec<(u64, Instant)> = Vec::new();
        let mut last_seen = 0;
        let deadline = Instant::now() + Duration::from_secs(seconds + 60);
        loop {
            let head = held(&mut province_client, &branch_key).await;
            if head > last_seen {
                seen.push((head, Instant::now()));
                last_seen = head;
            }
            let done =
                writer.is_finished() && acked.lock().expect("lock").last().is_some_and(|(seq, _)| *seq <= last_seen);
            if done || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let acked = acked.lock().expect("lock").clone();
        let mut latencies: Vec<f64> = Vec::new();
        for (seq, at) in acked {
            if let Some((_, seen_at)) = seen.iter().find(|(head, _)| *head >= seq) {
                latencies.push(seen_at.saturating_duration_since(at).as_secs_f64() * 1000.0);
            }
        }
        latencies
    });
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let pick = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "latency branch append -> province stored (4 hops) at 1,000 events/s for {seconds} s: {} events, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sorted.len(),
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
}

/// Pins every thread of process `pid` (and those it starts later) to `cpus`.
fn pin(pid: u32, cpus: &str) {
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("running taskset");
    assert!(status.success(), "taskset could not pin process {pid}");
}

/// Where a reconciliation's processes run (see the module's comment).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Shared,
    Pinned,
    Deployed,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Shared => "shared: all on both cores",
            Shape::Pinned => "pinned: laptop on CPU 0, the four nodes on CPU 1",
            Shape::Deployed => "deployed: laptop on CPU 0, branch on CPU 1, ancestors paused",
        }
    }
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// One reconciliation in `shape`; returns its seconds.
fn reconcile(shape: Shape) -> f64 {
    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let province = start_root(base.path(), "hb");
    let university = start_child(base.path(), &province, "hb/u1");
    let college = start_child(base.path(), &university, "hb/u1/c1");
    let branch = start_child(base.path(), &college, "hb/u1/c1/b1");
    let laptop = rollcall_tests::enroll_laptop(base.path(), &branch, "laptop");
    let laptop_arg = laptop.display().to_string();
    let ok =
        |output: std::process::Output| assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    ok(rollcall(&["sync", "--dir", &laptop_arg]));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let unit = UnitPath::parse("hb/u1/c1/b1").expect("valid");
    runtime.block_on(async {
        let mut college_client = node_client(&college).await;
        let mut drafts = Vec::new();
        let mut seed = 100;
        while drafts.len() < 100_000 {
            seed += 1;
            drafts.extend(member_drafts(&unit, 400, seed, "college"));
        }
        drafts.truncate(100_000);
        append_all(&mut college_client, &drafts).await;
        let college_head = held(&mut college_client, &college.replica().0).await;
        let mut branch_client = node_client(&branch).await;
        let start = Instant::now();
        while held(&mut branch_client, &college.replica().0).await < college_head {
            assert!(start.elapsed() < Duration::from_secs(600), "the branch did not catch up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let offline =
        rollcall(&["append-sample", "--dir", &laptop_arg, "--unit", "hb/u1/c1/b1", "--members", "4444", "--seed", "9"]);
    ok(offline);
    let pid = |node: &ClusterNode| node.process.as_ref().expect("running").pid();
    let ancestors = [&province, &university, &college];
    let mut sync = if shape == Shape::Shared {
        std::process::Command::new(bin("rollcall"))
    } else {
        for node in [&province, &university, &college, &branch] {
            pin(pid(node), "1");
        }
        if shape == Shape::Deployed {
            for node in ancestors {
                signal(pid(node), "STOP");
            }
        }
        let mut taskset = std::process::Command::new("taskset");
        taskset.args(["-c", "0"]).arg(bin("rollcall"));
        taskset
    };
    let start = Instant::now();
    let output = sync.args(["sync", "--dir", &laptop_arg, "--json"]).output().expect("running rollcall sync");
    let seconds = start.elapsed().as_secs_f64();
    if shape == Shape::Deployed {
        for node in ancestors {
            signal(pid(node), "CONT");
        }
    }
    ok(output.clone());
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    println!(
        "laptop reconciliation ({}): sent {} offline events, received {} new events, in {seconds:.2} s (one `rollcall sync`, process start included)",
        shape.name(),
        summary["sent"],
        summary["received"]
    );
    seconds
}

/// The verification rates, measured `rounds` times and interleaved: on the main thread,
/// single and in batches of 256 (the bound is the batch figure × the cores); and
/// [`batch_rate_on_threads`] on one thread and on one thread a core, in an order that
/// alternates by round. A measurement is short against this machine's noise: the caller
/// takes medians.
#[derive(Default)]
struct VerifyRates {
    singles: Vec<f64>,
    batches: Vec<f64>,
    one_thread: Vec<f64>,
    all_cores: Vec<f64>,
    all_cores_summed: Vec<f64>,
}

impl VerifyRates {
    fn measure(rounds: usize) -> Self {
        let mut rates = Self::default();
        for round in 0..rounds {
            let (single, batch) = verify_rates();
            rates.singles.push(single);
            rates.batches.push(batch);
            let (alone, together) = alone_and_together(round);
            rates.one_thread.push(alone.rate);
            rates.all_cores.push(together.rate);
            rates.all_cores_summed.push(together.sum_of_rates);
        }
        rates
    }

    fn extend(&mut self, other: Self) {
        self.singles.extend(other.singles);
        self.batches.extend(other.batches);
        self.one_thread.extend(other.one_thread);
        self.all_cores.extend(other.all_cores);
        self.all_cores_summed.extend(other.all_cores_summed);
    }

    /// All cores ÷ one thread: the median of the rounds' ratios.
    fn gain(&self) -> f64 {
        let mut ratios: Vec<f64> = self.all_cores.iter().zip(&self.one_thread).map(|(all, one)| all / one).collect();
        median(&mut ratios)
    }

    fn print(&self, when: &str) {
        let rounds = self.singles.len();
        println!(
            "ed25519 verify (ed25519-dalek), 1 core, {when} (median of {rounds}): {:.0}/s single, {:.0}/s in batches of 256",
            median(&mut self.singles.clone()),
            median(&mut self.batches.clone())
        );
        println!(
            "ed25519-dalek verify_batch of 256, {when} (median of {rounds}): one thread {:.0}/s; one thread on each of the {} cores at once {:.0}/s (their own rates summed {:.0}/s), {:.2}x one thread (median of the rounds' ratios)",
            median(&mut self.one_thread.clone()),
            usable_cores(),
            median(&mut self.all_cores.clone()),
            median(&mut self.all_cores_summed.clone()),
            self.gain()
        );
    }
}

fn catch_up() {
    let n_events: usize = std::env::var("CATCHUP_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let mut rates = VerifyRates::measure(5);
    rates.print("before the catch-up");
    let (events_verified, bodies_decoded) = event_verify_rate();
    println!(
        "rollcall_core::verify_many on one replica's events (ZIP-215 batch coalesced by key, every check), 1 core: {events_verified:.0}/s"
    );
    println!(
        "header + body decode of the same events, 1 core: {bodies_decoded:.0}/s ({:.2} us an event)",
        1e6 / bodies_decoded
    );

    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let province = start_root(base.path(), "hb");
    let address = province.process.as_ref().expect("running").address.clone();
    let operator = read_key(&province.dir.join(OPERATOR_KEY_FILE)).expect("operator key");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let unit = UnitPath::parse("hb/u1/c1/b1").expect("valid");
    let generation = Instant::now();
    runtime.block_on(async {
        let channel = connect::connect(&address, province.replica(), &operator).await.expect("connect");
        let mut client = pb::node_client::NodeClient::new(channel);
        let mut appended = 0;
        let mut seed = 0;
        while appended < n_events {
            seed += 1;
            let drafts = member_drafts(&unit, 400, seed, "bench");
            for chunk in drafts.chunks(1000) {
                let take = chunk.len().min(n_events - appended);
                let request = rollcall_client::append_request(&chunk[..take]);
                client.append(request).await.expect("append");
                appended += take;
                if appended >= n_events {
                    break;
                }
            }
        }
    });
    println!("generated {n_events} events at the province in {:.1} s", generation.elapsed().as_secs_f64());
    // The province's periodic projection snapshot falls due at 1,000,000 ingested events:
    // wait for it, so the catch-up measured is the university's, not the province's
    // snapshot sharing the two cores with it.
    let province_ingested: u64 = province.heads().values().sum();
    if province_ingested >= rollcall_server::writer::SnapshotSchedule::EVERY_EVENTS {
        let snapshot = rollcall_server::snapshot::path_for(&province.dir.join(rollcall_server::config::STORE_DIR));
        let waited = Instant::now();
        while !snapshot.exists() {
            assert!(waited.elapsed() < Duration::from_secs(600), "the province's snapshot was not written");
            std::thread::sleep(Duration::from_millis(50));
        }
        println!("the province's periodic snapshot written {:.1} s after generation", waited.elapsed().as_secs_f64());
    }
    let province_head = province.heads()[&province.replica().to_hex()];

    let province_pid = province.process.as_ref().expect("running").pid();
    let province_cpu_before = cpu_seconds(province_pid);
    let machine_before = machine_cpu_seconds();
    let start = Instant::now();
    let university = start_child(base.path(), &province, "hb/u1");
    let university_operator = read_key(&university.dir.join(OPERATOR_KEY_FILE)).expect("operator key");
    let university_address = university.process.as_ref().expect("running").address.clone();
    let province_key = province.replica();
    // The enrollment appended one more event at the province.
    let target = province_head + 1;
    let started_seconds = start.elapsed().as_secs_f64();
    // When the first events of the backlog were held (polled): the rest is the stream.
    let mut first_held: Option<(Instant, u64)> = None;
    let held = runtime.block_on(async {
        let channel =
            connect::connect(&university_address, university.replica(), &university_operator).await.expect("connect");
        let mut client = pb::node_client::NodeClient::new(channel);
        loop {
            let heads = client.heads(pb::HeadsRequest {}).await.expect("heads").into_inner().heads;
            let held = heads.iter().find(|h| h.replica.as_ref() == province_key.0).map_or(0, |h| h.seq);
            if held > 0 && first_held.is_none() {
                first_held = Some((Instant::now(), held));
            }
            if held >= target {
                return held;
            }
            assert!(start.elapsed() < Duration::from_secs(3600), "catch-up did not finish within an hour");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let university_pid = university.process.as_ref().expect("running").pid();
    let university_cpu = cpu_seconds(university_pid);
    let university_threads = rollcall_tests::cpu_seconds_by_thread(university_pid);
    let province_cpu = cpu_seconds(province_pid) - province_cpu_before;
    let machine_after = machine_cpu_seconds();
    let rate = held as f64 / seconds;
    let cores = usable_cores() as f64;
    println!(
        "catch-up of {held} events from an empty replica over TLS loopback: {seconds:.2} s, {rate:.0} events/s (includes the node's start)"
    );
    if let Some((when, first)) = first_held {
        let streaming = when.elapsed().as_secs_f64();
        println!(
            "of which: the node's enrollment and start until it listened {started_seconds:.2} s, until it held its first {first} events {:.2} s; from then on {:.0} events/s",
            seconds - streaming,
            (held - first) as f64 / streaming
        );
    }
    // Where the two cores went, from the kernel's accounting: the receiver (the node
    // catching up), the sender, and idle. What the receiver would reach with the cores
    // to itself (the deployed shape: the sender on another machine) is derived from its
    // CPU an event, not measured.
    let per_event_us = |cpu: f64| cpu / held as f64 * 1e6;
    let (busy, idle) = (machine_after.0 - machine_before.0, machine_after.1 - machine_before.1);
    println!(
        "CPU during the catch-up: receiver {university_cpu:.1} s ({:.1} us an event), sender {province_cpu:.1} s ({:.1} us an event), machine busy {busy:.1} s, idle {idle:.1} s ({:.0}%)",
        per_event_us(university_cpu),
        per_event_us(province_cpu),
        100.0 * idle / (busy + idle)
    );
    // The receiver's CPU by thread: the writer (rules, projection, RocksDB write and
    // fsync), RocksDB's background threads (flushes, compactions), and the rest (the
    // async workers: TLS, HTTP/2, decoding; the blocking pool: verification).
    let thread_cpu = |prefix: &str| -> f64 {
        university_threads.iter().filter(|(name, _)| name.starts_with(prefix)).map(|(_, seconds)| seconds).sum()
    };
    let (writer_cpu, rocksdb_cpu) = (thread_cpu("rollcall-writer"), thread_cpu("rocksdb"));
    println!(
        "receiver CPU by thread: writer {:.2} us an event, RocksDB background {:.2} us, the rest (verification, TLS, HTTP/2) {:.2} us",
        per_event_us(writer_cpu),
        per_event_us(rocksdb_cpu),
        per_event_us(university_cpu - writer_cpu - rocksdb_cpu)
    );
    // The baseline brackets the catch-up: the median of the measurements before and after.
    let after = VerifyRates::measure(5);
    after.print("after the catch-up");
    rates.extend(after);
    let (single, batch) = (median(&mut rates.singles), median(&mut rates.batches));
    let batch_on_all_cores = median(&mut rates.all_cores);
    println!("baseline (median of the 10): {single:.0}/s single, {batch:.0}/s in batches of 256");
    println!(
        "baseline on all {cores} cores at once (median of the 10): {batch_on_all_cores:.0}/s in batches of 256 (their own rates summed {:.0}/s), {:.2}x one thread (median of the rounds' ratios)",
        median(&mut rates.all_cores_summed),
        rates.gain()
    );
    println!("ratio to batch verification x {cores} cores: {:.2}", rate / (batch * cores));
    println!("ratio to batch verification measured on all {cores} cores at once: {:.2}", rate / batch_on_all_cores);
    println!("ratio to verify_many of one replica's events x {cores} cores: {:.2}", rate / (events_verified * cores));
    println!("ratio to single verification x {cores} cores: {:.2}", rate / (single * cores));
    assert!(university_cpu > 0.0, "the receiver's CPU time was read while it ran");
    let receiver_alone = held as f64 / university_cpu * cores;
    println!(
        "the receiver alone on {cores} cores (derived from its CPU an event, not measured): {receiver_alone:.0} events/s, ratio to batch verification x {cores} cores: {:.2}",
        receiver_alone / (batch * cores)
    );
}
