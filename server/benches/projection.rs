//! Projection benchmark (issue 4): how fast the audit projection takes events on one
//! core, how fast a province-level rollup and tables 1-3 are answered with a province's
//! members loaded, memory per member, and — through a real store — disk per member and
//! the rebuild rate at start-up.
//!
//! `cargo bench -p rollcall-server --bench projection`; `PROJECTION_MEMBERS` (default
//! 3,000,000) and `STORE_MEMBERS` (default 50,000) scale it. Prints one line per figure.

use std::time::Instant;

use rollcall_core::audit::Projection;
use rollcall_core::audit::deadlines;
use rollcall_core::audit::tables::{self, TABLE_1, TABLE_2, TABLE_3};
use rollcall_core::authority::Authority;
use rollcall_core::body::Body;
use rollcall_core::event::{BodyHash, EventHash, EventId, Header, ReplicaId, Seq};
use rollcall_core::log::Draft;
use rollcall_core::{EventKind, HlcTime, Level, UnitPath, proto};
use rollcall_server::store::Store;
use rollcall_server::writer;

const UNIVERSITIES: usize = 120;
const COLLEGES: usize = 20;
const BRANCHES: usize = 25;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn branch(index: usize) -> String {
    let branch = index % BRANCHES;
    let college = (index / BRANCHES) % COLLEGES;
    let university = (index / (BRANCHES * COLLEGES)) % UNIVERSITIES;
    format!("hb/u{university:03}/c{college:02}/b{branch:02}")
}

fn date(year: i32, month: u32, day: u32) -> Option<proto::Date> {
    Some(proto::Date { year, month, day })
}

/// The events of member `i`: registration, contact status, and for the lost (1 in 8)
/// two contact attempts; one in 40 of them located. About 2.4 events per member.
fn member_events(i: usize) -> (String, Vec<Body>) {
    let unit = branch(i / 50);
    let member_id = format!("{unit}-{i:08}");
    let birth_year = 1950 + (i % 55) as i32;
    let first17 = format!("420102{birth_year:04}0101{:03}", i % 1000);
    let id_number = format!("{first17}{}", rollcall_core::audit::rules::id_check_digit(&first17));
    let lost = i % 8 == 0;
    let since = date(2000 + (i % 25) as i32, 1 + (i % 12) as u32, 1);
    let mut bodies = vec![
        Body::MemberRegistered(proto::MemberRegistered {
            member_id: member_id.clone(),
            form: Some(proto::MemberForm {
                name: "王建华".into(),
                gender: 1 + (i % 2) as i32,
                ethnicity_code: 1,
                id_number,
                birth_date: date(birth_year, 1, 1),
                education_code: 21,
                category: if i % 12 == 0 { 2 } else { 1 },
                branch_unit_path: unit.clone(),
                joined_date: date(birth_year + 20, 7, 1),
                phone: format!("138{i:08}"),
                address: "湖北省武汉市洪山区珞喻路1037号".into(),
                membership_status: 1,
                person_group: 1 + (i % 5) as i32,
                ..Default::default()
            }),
            source: 2,
        }),
        Body::ContactStatusAssessed(proto::ContactStatusAssessed {
            member_id: member_id.clone(),
            status: if lost { 3 } else { 1 },
            last_org_life: if lost { since } else { date(2025, 3, 1) },
            last_dues: if lost { since } else { date(2025, 3, 1) },
            situation: if lost { 1 + (i % 8) as i32 } else { 0 },
            ..Default::default()
        }),
    ];
    if lost {
        for method in [proto::ContactMethod::Phone, proto::ContactMethod::ThroughPeople] {
            bodies.push(Body::ContactAttempted(proto::ContactAttempted {
                member_id: member_id.clone(),
                method: method as i32,
                attempted_on: date(2025, 2, 1),
                outcome: 1,
                ..Default::default()
            }));
        }
        if i % 40 == 0 {
            bodies.push(Body::MemberLocated(proto::MemberLocated {
                member_id: member_id.clone(),
                located_on: date(2025, 3, 1),
                cause: 3,
                ..Default::default()
            }));
        }
    }
    (unit, bodies)
}

fn campaign() -> Body {
    use proto::DeadlineKind as K;
    let deadline = |kind: K, month, day| proto::Deadline { kind: kind as i32, due: date(2025, month, day) };
    Body::CampaignOpened(proto::CampaignOpened {
        campaign_id: "2025".into(),
        name: "bench".into(),
        year: 2025,
        deadlines: vec![
            deadline(K::UniversityTables, 4, 15),
            deadline(K::ProvinceTables, 4, 20),
            deadline(K::MemberDatabase, 5, 31),
            deadline(K::Dispositions, 8, 31),
        ],
        as_of: date(2025, 3, 31),
        policy: None,
    })
}

struct Clock {
    seq: u64,
}

impl Clock {
    fn header(&mut self, unit: &str, kind: EventKind) -> Header {
        self.seq += 1;
        Header {
            format_version: 1,
            event_id: EventId([0; 16]),
            replica: ReplicaId([(self.seq % 7) as u8; 32]),
            seq: Seq(self.seq),
            prev: EventHash([0; 32]),
            hlc: HlcTime { wall_ms: 1_740_000_000_000 + self.seq, logical: 0 },
            unit_path: UnitPath::parse(unit).expect("valid unit"),
            kind,
            body_hash: BodyHash([0; 32]),
            author: "bench".into(),
        }
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let members = env("PROJECTION_MEMBERS", 3_000_000);
    let store_members = env("STORE_MEMBERS", 50_000);
    println!("projection bench: {members} members, {} branches", UNIVERSITIES * COLLEGES * BRANCHES);

    // 1. Incremental update on one core, in batches of pre-built events.
    let rss_before = rss_bytes();
    let mut projection = Projection::new();
    let mut clock = Clock { seq: 0 };
    let header = clock.header("hb", EventKind::CampaignOpened);
    let _ = projection.apply(&header, &campaign(), Level::Province);
    let mut applied = 0u64;
    let mut apply_seconds = 0.0;
    let mut batch_rates = Vec::new();
    let batch_members = 100_000;
    let mut next = 0;
    while next < members {
        let end = (next + batch_members).min(members);
        let mut batch = Vec::with_capacity((end - next) * 3);
        for i in next..end {
            let (unit, bodies) = member_events(i);
            for body in bodies {
                batch.push((clock.header(&unit, body.kind()), body));
            }
        }
        let started = Instant::now();
        for (header, body) in &batch {
            let _ = projection.apply(header, body, Level::Branch);
        }
        let seconds = started.elapsed().as_secs_f64();
        apply_seconds += seconds;
        applied += batch.len() as u64;
        batch_rates.push(batch.len() as f64 / seconds);
        next = end;
    }
    let rss_after = rss_bytes();
    println!(
        "apply: {applied} events in {apply_seconds:.1} s = {:.0} events/s overall, median batch {:.0} events/s (target 100,000; ratio {:.2})",
        applied as f64 / apply_seconds,
        median(batch_rates.clone()),
        median(batch_rates) / 100_000.0
    );
    println!(
        "memory: {:.0} MiB for {members} members = {:.0} bytes/member (resident set growth)",
        (rss_after.saturating_sub(rss_before)) as f64 / 1_048_576.0,
        rss_after.saturating_sub(rss_before) as f64 / members as f64
    );

    // 2. Province-level answers with everything loaded: median of 11.
    let province = UnitPath::parse("hb").expect("valid");
    let university = UnitPath::parse("hb/u007").expect("valid");
    let time = |name: &str, f: &dyn Fn()| {
        let runs: Vec<f64> = (0..11)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        let median = median(runs);
        println!("{name}: median {median:.1} ms (target < 50 ms; ratio {:.2})", median / 50.0);
    };
    time("rollup hb", &|| {
        std::hint::black_box(projection.rollup(&province));
    });
    time("table 1 hb (120 universities)", &|| {
        std::hint::black_box(tables::compute(&TABLE_1, &projection, &province));
    });
    time("table 2 hb", &|| {
        std::hint::black_box(tables::compute(&TABLE_2, &projection, &province));
    });
    time("table 3 hb", &|| {
        std::hint::black_box(tables::compute(&TABLE_3, &projection, &province));
    });
    time("table 1 one university (20 colleges)", &|| {
        std::hint::black_box(tables::compute(&TABLE_1, &projection, &university));
    });
    time("deadlines hb", &|| {
        std::hint::black_box(deadlines::status(&projection, &province, 1_744_000_000_000));
    });
    let total = projection.rollup(&province).total(rollcall_core::audit::stats::Metric::Members);
    assert_eq!(total as usize, members, "every member counted once");
    drop(projection);

    // 3. Through a real store: disk per member and the rebuild rate at start-up.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open store");
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let root = ReplicaId(key.verifying_key().to_bytes());
    let (handle, thread) = writer::start_as_root(store.clone(), key, province.clone()).expect("writer");
    let mut drafts = Vec::new();
    let mut events = 0;
    for i in 0..store_members {
        let (unit, bodies) = member_events(i);
        for body in bodies {
            drafts.push(Draft {
                unit_path: UnitPath::parse(&unit).expect("valid"),
                kind: body.kind(),
                body: body.encode(),
                author: "bench".into(),
            });
        }
        if drafts.len() >= 1000 || i + 1 == store_members {
            events += drafts.len();
            handle.append_blocking(std::mem::take(&mut drafts)).expect("append");
        }
    }
    drop(handle);
    thread.join().expect("writer ends");
    store.flush_all().expect("flush");
    let bytes = store.live_bytes();
    println!(
        "disk: {events} events of {store_members} members = {:.0} bytes/member of log (the projection itself is held in memory)",
        bytes as f64 / store_members as f64
    );
    let authority = Authority::new(root, province);
    let rates: Vec<f64> = (0..3)
        .map(|_| {
            let (_, rebuilt) = rollcall_server::projection::rebuild(&store, &authority, None).expect("rebuild");
            rebuilt.events as f64 / (rebuilt.millis.max(1) as f64 / 1000.0)
        })
        .collect();
    println!("rebuild from the store: median {:.0} events/s", median(rates));
}
