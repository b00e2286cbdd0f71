//! Properties of the projection (issue 4): any permutation of the same events yields
//! identical projections (so a rebuild from the log equals the incremental state);
//! undo restores exactly; and the rollup invariant — a college's own rollup equals the
//! province's rollup for that college, computed from the events each holds.

mod support;

use proptest::prelude::*;
use rollcall_core::Level;
use rollcall_core::audit::Projection;
use rollcall_core::audit::member::Stamp;
use rollcall_core::audit::tables::{self, TABLE_1, TABLE_2, TABLE_3};
use rollcall_core::body::{Body, is_infrastructure};
use rollcall_core::proto;
use rollcall_core::proto::DispositionType as T;
use rollcall_core::scope::body_visible;
use support::*;

const BRANCHES: [&str; 4] = ["hb/u1/c1/b1", "hb/u1/c1/b2", "hb/u1/c2/b3", "hb/u2/c3/b4"];
const COLLEGES: [&str; 3] = ["hb/u1/c1", "hb/u1/c2", "hb/u2/c3"];
const MEMBERS: usize = 10;

fn branch_of(member: usize) -> &'static str {
    BRANCHES[member % BRANCHES.len()]
}

/// One step of a generated history; refusals by the rules are simply skipped.
fn act(world: &mut World, op: u8, member: usize, param: u8) {
    let id = format!("m{member}");
    let branch = branch_of(member);
    let groups = [
        proto::PersonGroup::Staff,
        proto::PersonGroup::Retired,
        proto::PersonGroup::Graduate,
        proto::PersonGroup::Student,
    ];
    let situations = [
        proto::LostSituation::LeftJob,
        proto::LostSituation::Abroad,
        proto::LostSituation::ResidenceChanged,
        proto::LostSituation::MigrantWorkOrBusiness,
    ];
    let year = 2000 + i32::from(param % 25);
    let case_id = format!("k{member}");
    let body = match op % 16 {
        0 | 1 => {
            let category =
                if param % 3 == 0 { proto::MemberCategory::Probationary } else { proto::MemberCategory::Full };
            let registration = register(
                &id,
                form(
                    &format!("党员{member}"),
                    groups[usize::from(param) % 4],
                    category,
                    (1960 + i32::from(param % 30), 1 + u32::from(param % 12), 1 + u32::from(param % 28)),
                ),
            );
            if op % 16 == 1 && param % 4 == 0 {
                // Registered again at the same branch, backdated, by a replica that
                // bypasses the rules: the relation keeps its earliest registration apart.
                world.force_at(branch, Level::Branch, registration, 1_743_000_000_000 + u64::from(param) * 997);
                return;
            }
            registration
        }
        2 => lost(&id, day(year, 1 + u32::from(param % 12), 1), situations[usize::from(param) % 4]),
        3 => attempt(
            &id,
            [proto::ContactMethod::Phone, proto::ContactMethod::ThroughPeople, proto::ContactMethod::ThroughDepartment]
                [usize::from(param) % 3],
            day(2024, 1 + u32::from(param % 12), 1),
        ),
        4 => Body::MemberLocated(proto::MemberLocated {
            member_id: id,
            located_on: day(2025, 1 + u32::from(param % 3), 1),
            ..Default::default()
        }),
        5 => {
            // Corrections of every field counting reads (the decoded essentials must
            // follow the form in force whatever the order).
            use proto::MemberField as F;
            let (field, values): (F, [&str; 3]) = match param % 5 {
                0 => (F::PersonGroup, ["教职工", "离退休人员", "其他"]),
                1 => (F::Category, ["正式党员", "预备党员", "正式"]),
                2 => (F::MembershipStatus, ["正常", "停止党籍", "正常"]),
                3 => (F::Lost, ["是", "否", "是"]),
                _ => (F::Flowing, ["否", "是", "否"]),
            };
            Body::RecordCorrected(proto::RecordCorrected {
                member_id: id,
                field: field as i32,
                new_value: values[usize::from(param / 5) % 3].into(),
                reason: String::new(),
                settles: vec![],
            })
        }
        6 => Body::RecordFlagged(proto::RecordFlagged {
            member_id: id,
            field: proto::MemberField::NativePlace as i32,
            note: "待查".into(),
        }),
        7 => Body::FormSignedOff(proto::FormSignedOff {
            member_id: id,
            stage: 1 + i32::from(param % 3),
            signed_on: day(2025, 3, 1),
        }),
        8 => Body::ArchiveReviewed(proto::ArchiveReviewed {
            member_id: id,
            present: (1..=5).filter(|m| param & (1 << m) != 0).collect(),
            irregular_admission: param % 7 == 0,
            ..Default::default()
        }),
        9 => Body::ManagementActionTaken(proto::ManagementActionTaken {
            member_id: id,
            action: [
                proto::ManagementAction::IncludeInManagement,
                proto::ManagementAction::FlowingCard,
                proto::ManagementAction::TransferRelation,
            ][usize::from(param) % 3] as i32,
            effective_on: day(2025, 2, 1),
            card_number: "L001".into(),
            destination_unit: "外省".into(),
            ..Default::default()
        }),
        10 => Body::TransferStubChecked(proto::TransferStubChecked {
            member_id: id,
            transferred_out_on: day(2020 + i32::from(param % 6), 1, 1),
            receipt_received: param % 2 == 0,
            ..Default::default()
        }),
        11 => Body::DispositionProposed(propose(
            &case_id,
            &id,
            [T::CorrectionPeriod, T::CancelProbationary][usize::from(param) % 2],
        )),
        12 => investigate(&case_id),
        13 => {
            let disposition = world.projection.case(&case_id).map_or(T::CorrectionPeriod, |c| c.view.disposition());
            let _ = world.author_at(
                branch,
                Level::College,
                pre_review(&case_id, Level::College, disposition, param % 5 != 0),
            );
            return;
        }
        14 => {
            if param % 2 == 0 {
                Body::DispositionVoted(vote(&case_id, 10, 0, 8, 4 + u32::from(param % 5)))
            } else {
                let disposition = world.projection.case(&case_id).map_or(T::CorrectionPeriod, |c| c.view.disposition());
                let _ = world.author_at(branch, Level::College, approve(&case_id, disposition));
                return;
            }
        }
        _ => {
            // A second campaign with another as-of date: every member is recounted.
            let mut opened = match campaign() {
                Body::CampaignOpened(c) => c,
                _ => unreachable!(),
            };
            opened.as_of = day(2025, 1 + u32::from(param % 6), 15);
            let _ = world.author(PROVINCE, Body::CampaignOpened(opened));
            return;
        }
    };
    let _ = world.author(branch, body);
}

fn history(ops: &[(u8, usize, u8)]) -> World {
    let mut world = World::new();
    world.ok(PROVINCE, campaign());
    for (op, member, param) in ops {
        act(&mut world, *op, *member % MEMBERS, *param);
    }
    world
}

fn ops() -> impl Strategy<Value = Vec<(u8, usize, u8)>> {
    // Registrations first make later steps likely to pass the rules.
    let registrations = Just((0..MEMBERS).map(|m| (0u8, m, (m * 37 % 251) as u8)).collect::<Vec<_>>());
    (registrations, prop::collection::vec((any::<u8>(), 0..MEMBERS, any::<u8>()), 0..120)).prop_map(
        |(mut first, rest)| {
            first.extend(rest);
            first
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_order_gives_the_same_projection(ops in ops(), seed in any::<u64>()) {
        let world = history(&ops);
        let mut order: Vec<usize> = (0..world.events.len()).collect();
        // A seeded Fisher-Yates shuffle.
        let mut state = seed | 1;
        for i in (1..order.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let shuffled = world.replay(&order);
        prop_assert!(shuffled == world.projection, "a permutation changed the projection");
        // The per-subtree sums kept incrementally equal the sums of the branches below.
        for unit in ["hb", "hb/u1", "hb/u2", "hb/u1/c1", "hb/u1/c2", "hb/u1/c1/b1"] {
            let unit = unit_path(unit);
            let mut sum = rollcall_core::audit::stats::Counters::default();
            let mut branches = 0;
            for (_, counters) in world.projection.units_within(&unit) {
                sum.merge(counters);
                branches += 1;
            }
            prop_assert_eq!(world.projection.rollup(&unit), sum);
            prop_assert_eq!(world.projection.organisations_within(&unit), branches);
        }
        let in_order = world.replay(&(0..world.events.len()).collect::<Vec<_>>());
        prop_assert!(in_order == world.projection, "a rebuild differs from the incremental state");
        // The earliest registration at each relation, from the events themselves.
        let mut earliest: std::collections::HashMap<(String, String), Stamp> = std::collections::HashMap::new();
        for event in &world.events {
            if let Body::MemberRegistered(registered) = &event.body {
                let stamp = Stamp::of(&event.header);
                let key = (registered.member_id.clone(), event.header.unit_path.to_string());
                earliest.entry(key).and_modify(|held| *held = (*held).min(stamp)).or_insert(stamp);
            }
        }
        for (member_id, record) in shuffled.member_records() {
            for entry in &record.relations {
                let key = (member_id.to_string(), entry.unit.to_string());
                prop_assert_eq!(entry.first_registered(), earliest.get(&key).copied(), "first registration of {}", member_id);
                prop_assert_eq!(entry.is_registered(), earliest.contains_key(&key));
                // What counting reads of the form is kept equal to the form in force.
                prop_assert_eq!(
                    entry.state.essentials().copied(),
                    entry.state.form().as_ref().map(rollcall_core::audit::member::FormEssentials::of),
                    "essentials of {}", member_id
                );
            }
        }
        for unit in ["hb", "hb/u1", "hb/u1/c1"] {
            for template in [&TABLE_1, &TABLE_2, &TABLE_3] {
                let table = tables::compute(template, &shuffled, &unit_path(unit));
                prop_assert_eq!(&table, &tables::compute(template, &world.projection, &unit_path(unit)));
                if template.number != 2 {
                    prop_assert_eq!(tables::check(template, &table.cells), vec![]);
                }
            }
        }
    }

    #[test]
    fn undo_restores_exactly(ops in ops(), keep in 0usize..200) {
        let world = history(&ops);
        let keep = keep.min(world.events.len());
        let mut projection = Projection::new();
        let mut undos = Vec::new();
        // The known units are read between steps, so a cached set that an apply or an
        // undo failed to forget would show against a projection that never cached one.
        let prefix = |n: usize| world.replay(&(0..n).collect::<Vec<_>>());
        for (applied, event) in world.events.iter().enumerate() {
            undos.push(projection.apply(&event.header, &event.body, event.level));
            let fresh = prefix(applied + 1);
            prop_assert_eq!(projection.known_units(), fresh.known_units(), "after event {}", applied);
        }
        while undos.len() > keep {
            projection.undo(undos.pop().expect("more than kept"));
            let fresh = prefix(undos.len());
            prop_assert_eq!(projection.known_units(), fresh.known_units(), "after undoing {}", undos.len());
        }
        let fresh = prefix(keep);
        prop_assert!(projection == fresh);
    }

    #[test]
    fn a_college_computes_the_rollup_the_province_computes_for_it(ops in ops()) {
        let world = history(&ops);
        for college in COLLEGES {
            let college_unit = unit_path(college);
            // What the college holds in full: its subtree, its ancestor path, infrastructure.
            let held: Vec<usize> = (0..world.events.len())
                .filter(|i| {
                    let event = &world.events[*i];
                    is_infrastructure(event.body.kind()) || body_visible(&event.header.unit_path, &college_unit)
                })
                .collect();
            let at_college = world.replay(&held);
            prop_assert_eq!(at_college.rollup(&college_unit), world.projection.rollup(&college_unit));
            for template in [&TABLE_1, &TABLE_2, &TABLE_3] {
                prop_assert_eq!(
                    tables::compute(template, &at_college, &college_unit),
                    tables::compute(template, &world.projection, &college_unit)
                );
            }
        }
    }
}

fn unit_path(text: &str) -> rollcall_core::UnitPath {
    unit(text)
}

#[test]
fn the_province_rollup_is_the_sum_of_its_universities() {
    let ops: Vec<(u8, usize, u8)> =
        (0..400).map(|i| ((i * 7 % 15) as u8, i * 3 % MEMBERS, (i * 13 % 256) as u8)).collect();
    let world = history(&ops);
    let mut sum = rollcall_core::audit::stats::Counters::default();
    for university in ["hb/u1", "hb/u2"] {
        sum.merge(&world.projection.rollup(&unit(university)));
    }
    assert_eq!(sum, world.projection.rollup(&unit("hb")));
    assert!(world.projection.rollup(&unit("hb")).total(rollcall_core::audit::stats::Metric::Members) > 0);
}

/// Goal: a member's relation stays small (issue 16, P7: a province holds millions). The
/// common parts sit inline; the registration form is kept encoded, and what most
/// members never have (corrections and flags, the search for a lost member, transfers,
/// actions) sits behind one pointer. Sizes on a 64-bit target; a field added inline shows here.
#[test]
fn a_relation_stays_small() {
    use rollcall_core::audit::member::MemberState;
    use rollcall_core::audit::member::Stamp;
    use rollcall_core::audit::projection::MemberEntry;
    // A stamp holds its replica as a number in the process's table of keys (five to
    // eight stamps a member).
    assert!(size_of::<Stamp>() <= 24, "Stamp is {} bytes", size_of::<Stamp>());
    assert!(size_of::<Option<Stamp>>() <= 32, "Option<Stamp> is {} bytes", size_of::<Option<Stamp>>());
    // The registration, the contact assessment and the archive review sit inline (every
    // member has them once the audit reaches them): more inline, three allocations fewer.
    assert!(size_of::<MemberState>() <= 184, "MemberState is {} bytes", size_of::<MemberState>());
    assert!(size_of::<MemberEntry>() <= 264, "MemberEntry is {} bytes", size_of::<MemberEntry>());
    // The member map's slot holds the id and this: relations exactly as many as there
    // are, the findings and settlements (rare) behind a pointer.
    use rollcall_core::audit::projection::MemberRecord;
    assert!(size_of::<MemberRecord>() <= 24, "MemberRecord is {} bytes", size_of::<MemberRecord>());
}

/// Goal: table 1's set of known units, computed once and kept until a unit is named,
/// enrolled at, or starts or stops counting somebody, is never stale — through every
/// apply and every undo (issue 16: table 1 at 60,000 branches read it afresh each call).
#[test]
fn the_known_units_follow_names_enrollments_and_their_undo() {
    let mut world = history(&[(0, 0, 3), (0, 1, 5)]);
    let before = world.projection.known_units().clone();
    let named = |unit_path: &str, name: &str, org_type: proto::OrgType| {
        Body::UnitNamed(proto::UnitNamed {
            unit_path: unit_path.into(),
            name: name.into(),
            org_type: org_type as i32,
            ..Default::default()
        })
    };
    world.force("hb/u7/c1", Level::University, named("hb/u7/c1", "中共某学院委员会", proto::OrgType::Committee));
    // A unit already known and named, named again as another type: its count moves
    // (党委 → 党总支).
    world.force("hb/u1/c1", Level::University, named("hb/u1/c1", "中共某学院委员会", proto::OrgType::Committee));
    world.force(
        "hb/u1/c1",
        Level::University,
        named("hb/u1/c1", "中共某学院总支部委员会", proto::OrgType::GeneralBranch),
    );
    world.force(
        "hb",
        Level::Province,
        Body::ReplicaEnrolled(proto::ReplicaEnrolled {
            unit_path: "hb/u8".into(),
            role: proto::ReplicaRole::Node as i32,
            ..Default::default()
        }),
    );
    let renamed = world.projection.organisations(&unit("hb/u1"), false);
    assert_eq!((renamed.general_branches, renamed.branches), (1, 2), "hb/u1/c1 counts as a 党总支 once renamed");
    let known = world.projection.known_units();
    for expected in ["hb/u7/c1", "hb/u7", "hb/u8"] {
        assert!(known.contains(&unit(expected)), "{expected} is known after it was named or enrolled at");
        assert!(!before.contains(&unit(expected)), "{expected} was not known before");
    }
    // The same events applied one by one, the set read after each and compared with a
    // projection of the same prefix that never read it; then the last two undone.
    let mut projection = Projection::new();
    let mut undos = Vec::new();
    for (applied, event) in world.events.iter().enumerate() {
        undos.push(projection.apply(&event.header, &event.body, event.level));
        let fresh = world.replay(&(0..=applied).collect::<Vec<_>>());
        assert_eq!(projection.known_units(), fresh.known_units(), "after event {applied}");
        same_organisations(&projection, &fresh, &format!("after event {applied}"));
    }
    for _ in 0..4 {
        projection.undo(undos.pop().expect("an event to undo"));
        let fresh = world.replay(&(0..undos.len()).collect::<Vec<_>>());
        assert_eq!(projection.known_units(), fresh.known_units(), "after undoing event {}", undos.len());
        same_organisations(&projection, &fresh, &format!("after undoing event {}", undos.len()));
    }
    assert_eq!(projection.known_units(), &before);
}

proptest! {
    /// Goal: a stamp holding its replica as a number in the process's table of keys
    /// (issue 16, P7), numbered in the order keys are first met, orders
    /// exactly as its fields do — time, then the key's bytes, then seq — whichever key
    /// the process met first, so last-writer-wins never depends on arrival order.
    #[test]
    fn a_stamp_orders_as_its_fields(
        a in (any::<u64>(), any::<u32>(), any::<[u8; 32]>(), any::<u64>()),
        b in (any::<u64>(), any::<u32>(), any::<[u8; 32]>(), any::<u64>()),
        same_time in any::<bool>(),
        same_key in any::<bool>(),
    ) {
        use rollcall_core::audit::member::Stamp;
        use rollcall_core::{ReplicaId, Seq};
        use rollcall_core::hlc::HlcTime;
        let mut b = b;
        if same_time { (b.0, b.1) = (a.0, a.1); }
        if same_key { b.2 = a.2; }
        let stamp = |(wall_ms, logical, key, seq): (u64, u32, [u8; 32], u64)| {
            Stamp::new(HlcTime { wall_ms, logical }, ReplicaId(key), Seq(seq))
        };
        // Numbered in the opposite order for half the cases.
        let (sa, sb) = if a.3 % 2 == 0 { (stamp(a), stamp(b)) } else { let sb = stamp(b); (stamp(a), sb) };
        prop_assert_eq!(sa.cmp(&sb), (a.0, a.1, a.2, a.3).cmp(&(b.0, b.1, b.2, b.3)));
        prop_assert_eq!(sa.replica(), ReplicaId(a.2));
        prop_assert_eq!(sa == sb, a == b);
    }
}

/// Goal: a relation registered twice at the same branch (only a replica bypassing the
/// rules does that) keeps its earliest registration — what decides where a member with
/// two relations counts — and the latest form in force, in either order of arrival,
/// though it keeps the earliest apart only when it is not the one in force.
#[test]
fn a_relation_keeps_its_earliest_registration_in_either_order() {
    let mut world = history(&[]);
    let branch = "hb/u1/c1/b1";
    let person = |name: &str| form(name, proto::PersonGroup::Staff, proto::MemberCategory::Full, (1980, 5, 1));
    world.force_at(branch, Level::Branch, register("m-twice", person("张三")), 1_743_000_500_000);
    world.force_at(branch, Level::Branch, register("m-twice", person("张三丰")), 1_743_000_100_000);
    let stamps: Vec<Stamp> = world.events[world.events.len() - 2..].iter().map(|e| Stamp::of(&e.header)).collect();
    let (later, earlier) = (stamps[0], stamps[1]);
    let forward = (0..world.events.len()).collect::<Vec<_>>();
    let mut backward = forward.clone();
    let n = backward.len();
    backward.swap(n - 1, n - 2);
    for order in [forward, backward] {
        let projection = world.replay(&order);
        let entry = projection.relation("m-twice", &unit(branch)).expect("registered");
        assert_eq!(entry.first_registered(), Some(earlier));
        assert_eq!(entry.state.registration_stamp(), Some(later));
        assert_eq!(entry.state.form().map(|form| form.name), Some("张三".to_string()));
        assert!(projection == world.projection, "the order changed the projection");
    }
}

/// Table 1's 党组织数 of a few units, with and without the unit itself, as `fresh` counts
/// them (read after `projection`'s, so a stale cache would show).
fn same_organisations(projection: &Projection, fresh: &Projection, when: &str) {
    for unit_text in ["hb", "hb/u1", "hb/u1/c1", "hb/u1/c1/b1", "hb/u7", "hb/u7/c1", "hb/u8"] {
        for include_self in [true, false] {
            assert_eq!(
                projection.organisations(&unit(unit_text), include_self),
                fresh.organisations(&unit(unit_text), include_self),
                "organisations of {unit_text} (itself included: {include_self}) {when}"
            );
        }
    }
}
