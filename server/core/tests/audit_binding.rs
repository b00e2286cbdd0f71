//! Authority over what an event *says* (issue 12): an event speaks only of the members
//! and cases filed at its own unit; a member registered at two branches is a finding,
//! counted once; the form's sign-off chain counts only in order and at its levels.
//!
//! Each attack is made twice: through the rules (refused where it is authored) and
//! forced into the projection as a compromised key would (ignored and listed), and the
//! rollup a unit computes for itself is compared with what an ancestor computes for it.

mod support;

use rollcall_core::Level;
use rollcall_core::audit::Projection;
use rollcall_core::audit::projection::Finding;
use rollcall_core::audit::rules::RuleViolation as R;
use rollcall_core::audit::stats::Metric;
use rollcall_core::body::Body;
use rollcall_core::proto;
use rollcall_core::proto::DispositionType as T;
use support::*;

const B1: &str = "hb/u1/c1/b1";
const C1: &str = "hb/u1/c1";
const B2: &str = "hb/u1/c2/b2";
const C2: &str = "hb/u1/c2";
const U1: &str = "hb/u1";

fn member_form(name: &str) -> proto::MemberForm {
    form(name, proto::PersonGroup::Staff, proto::MemberCategory::Full, (1980, 5, 17))
}

fn correct_name(member_id: &str, name: &str) -> Body {
    Body::RecordCorrected(proto::RecordCorrected {
        member_id: member_id.into(),
        field: proto::MemberField::Name as i32,
        new_value: name.into(),
        reason: "核对".into(),
        settles: vec![],
    })
}

fn signoff(member_id: &str, stage: proto::form_signed_off::Stage) -> Body {
    Body::FormSignedOff(proto::FormSignedOff {
        member_id: member_id.into(),
        stage: stage as i32,
        signed_on: day(2025, 3, 20),
    })
}

/// Every metric of `unit`'s rollup, as (metric, total) pairs, for readable diffs.
fn figures(projection: &Projection, unit: &str) -> Vec<(Metric, u32)> {
    Metric::ALL.iter().map(|metric| (*metric, projection.rollup(&support::unit(unit)).total(*metric))).collect()
}

/// A world with m2 registered at b2 (college c2) and m1 at b1 (college c1).
fn two_branches() -> World {
    let mut world = World::new();
    world.ok(PROVINCE, campaign());
    world.ok(B1, register("m1", member_form("张三")));
    world.ok(B2, register("m2", member_form("李四")));
    world
}

#[test]
fn an_event_about_a_member_of_another_branch_is_refused_where_it_is_authored() {
    let mut world = two_branches();
    // At a node that sees both (the university), the rules name where the member is.
    let refused = world.author(B1, correct_name("m2", "王五")).expect_err("refused");
    assert_eq!(refused, R::MemberOfAnotherUnit { member_id: "m2".into(), unit: B1.into(), registered_at: B2.into() });
    assert!(refused.message_zh().contains(B2), "{}", refused.message_zh());
    let attempt = attempt("m2", proto::ContactMethod::Phone, day(2025, 3, 1));
    assert!(matches!(world.author(B1, attempt), Err(R::MemberOfAnotherUnit { .. })));
    // A branch that never saw m2 knows nothing of it.
    let mut branch_only = World::new();
    branch_only.ok(PROVINCE, campaign());
    branch_only.ok(B1, register("m1", member_form("张三")));
    assert_eq!(
        branch_only.author(B1, correct_name("m2", "王五")).expect_err("refused"),
        R::UnknownMember { member_id: "m2".into() }
    );
}

#[test]
fn a_forced_cross_unit_write_changes_nothing_anywhere_and_is_listed() {
    let mut world = two_branches();
    world.ok(B2, correct_name("m2", "李四四"));
    let before_c2 = figures(&world.projection, C2);
    // A compromised b1 key: events filed at b1 whose bodies name m2 of b2.
    world.force(B1, Level::Branch, correct_name("m2", "王五"));
    world.force(B1, Level::Branch, attempt("m2", proto::ContactMethod::Phone, day(2025, 3, 1)));
    world.force(B1, Level::Branch, signoff("m2", proto::form_signed_off::Stage::MemberConfirmed));
    world.force(
        B1,
        Level::Branch,
        Body::ManagementActionTaken(proto::ManagementActionTaken {
            member_id: "m2".into(),
            action: proto::ManagementAction::RetainAbroad as i32,
            ..Default::default()
        }),
    );
    // m2 at b2 is untouched: name, attempts, counters.
    let m2 = world.projection.relation("m2", &unit(B2)).expect("held at b2");
    assert_eq!(m2.state.form().expect("form").name, "李四四");
    assert_eq!(m2.state.extra().attempts.count, 0);
    assert_eq!(world.projection.member("m2").expect("m2").unit, unit(B2), "shown as held at b2");
    assert_eq!(figures(&world.projection, C2), before_c2, "the university's view of c2 is unchanged");
    // c2's own view (which never holds b1's events) equals the university's view of c2.
    assert_eq!(figures(&world.seen_from(C2), C2), figures(&world.projection, C2));
    assert_eq!(figures(&world.seen_from(C1), C1), figures(&world.projection, C1));
    // The university sees the misaddressed events as a finding; so does c1.
    let expected =
        Finding::Unregistered { member_id: "m2".into(), unit: unit(B1), events: 4, registered_at: vec![unit(B2)] };
    assert!(world.projection.findings_within(&unit(U1)).contains(&expected));
    assert!(world.seen_from(C1).findings_within(&unit(C1)).iter().any(|f| matches!(
        f,
        Finding::Unregistered { member_id, unit: at, .. } if member_id == "m2" && *at == unit(B1)
    )));
    // Whatever the order the events arrive in.
    let reversed: Vec<usize> = (0..world.events.len()).rev().collect();
    assert_eq!(world.replay(&reversed), world.projection);
}

#[test]
fn a_case_is_filed_at_its_unit_and_cannot_be_taken_over_by_another_branch() {
    let mut world = two_branches();
    world.ok(B2, Body::DispositionProposed(propose("k1", "m2", T::CorrectionPeriod)));
    world.ok(B2, investigate("k1"));
    // A compromised b1 key proposes under the same case id, about b2's member (it is
    // another case, filed at b1, about a member b1 does not hold), and votes on it.
    world.force(B1, Level::Branch, Body::DispositionProposed(propose("k1", "m2", T::CorrectionPeriod)));
    world.force(B1, Level::Branch, Body::DispositionVoted(vote("k1", 7, 0, 7, 7)));
    let at_b2 = world.projection.case_at(&unit(B2), "k1").expect("b2's case");
    assert_eq!(at_b2.view.member_id, "m2");
    assert_eq!(at_b2.view.stage.as_str(), "investigated", "b1's vote is not a step of b2's case");
    assert_eq!(world.projection.case("k1").expect("by id").view.member_id, "m2", "the real case is shown by id");
    assert_eq!(figures(&world.seen_from(C2), C2), figures(&world.projection, C2));
    // Through the rules, b1 cannot vote on b2's case at all.
    world.author_at(B2, Level::College, pre_review("k1", Level::College, T::CorrectionPeriod, true)).expect("c2");
    assert!(matches!(
        world.author(B1, Body::DispositionVoted(vote("k1", 7, 0, 7, 7))),
        Err(R::UnknownCase { .. } | R::OutOfOrder { .. })
    ));
}

#[test]
fn a_member_registered_at_two_branches_is_counted_once_and_both_sides_agree() {
    let mut world = two_branches();
    // b1 registers m2 again (it cannot see b2): a duplicate relation.
    let mut branch_only = World::new();
    branch_only.ok(B1, register("m1", member_form("张三")));
    branch_only.ok(B1, register("m2", member_form("李四")));
    // At the university, which sees b2's registration, the rules refuse it and name b2.
    assert!(matches!(
        world.author(B1, register("m2", member_form("李四"))),
        Err(R::MemberOfAnotherUnit { ref registered_at, .. }) if registered_at == B2
    ));
    world.force(B1, Level::Branch, register("m2", member_form("李四")));
    // Counted once, at b2 (the earlier registration).
    assert_eq!(world.projection.rollup(&unit(U1)).total(Metric::Members), 2);
    assert_eq!(world.projection.rollup(&unit(C2)).total(Metric::Members), 1);
    assert_eq!(world.projection.rollup(&unit(C1)).total(Metric::Members), 1, "only m1 at c1");
    // The university (lowest common ancestor) owes a finding; it names both branches.
    let owed = world.projection.duplicates_to_report(&unit(U1), None);
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].member_id, "m2");
    let named: Vec<&str> = owed[0].relations.iter().map(|c| c.unit_path.as_str()).collect();
    assert_eq!(named, vec![B1, B2]);
    assert!(world.projection.duplicates_to_report(&unit(C1), None).is_empty(), "c1 is not the common ancestor");
    world.force(U1, Level::University, Body::DuplicateRelationFound(owed[0].clone()));
    assert!(world.projection.duplicates_to_report(&unit(U1), None).is_empty(), "reported once");
    // c1, which holds only b1's registration and the finding, does not count m2 either.
    let at_c1 = world.seen_from(C1);
    assert_eq!(figures(&at_c1, C1), figures(&world.projection, C1));
    assert_eq!(figures(&world.seen_from(C2), C2), figures(&world.projection, C2));
    assert!(at_c1.findings_within(&unit(C1)).iter().any(|f| matches!(
        f,
        Finding::Duplicate { member_id, counted_at: Some(at), settled: false, .. } if member_id == "m2" && *at == unit(B2)
    )));
    // The university settles it: keep b1. Every side moves the count to b1.
    world
        .author(
            U1,
            Body::DuplicateRelationSettled(proto::DuplicateRelationSettled {
                member_id: "m2".into(),
                keep_unit: B1.into(),
                released_units: vec![B2.into()],
                reason: "本人在b1工作".into(),
            }),
        )
        .expect("the university settles");
    assert_eq!(world.projection.rollup(&unit(C1)).total(Metric::Members), 2);
    assert_eq!(world.projection.rollup(&unit(C2)).total(Metric::Members), 0);
    assert_eq!(figures(&world.seen_from(C1), C1), figures(&world.projection, C1));
    assert_eq!(figures(&world.seen_from(C2), C2), figures(&world.projection, C2));
    let shuffled: Vec<usize> = (0..world.events.len()).rev().collect();
    assert_eq!(world.replay(&shuffled), world.projection);
    // A settlement of a member with one relation is refused.
    assert!(matches!(
        world.author(
            U1,
            Body::DuplicateRelationSettled(proto::DuplicateRelationSettled {
                member_id: "m1".into(),
                keep_unit: B1.into(),
                released_units: vec![],
                reason: "x".into(),
            })
        ),
        Err(R::NotADuplicate { .. })
    ));
}

#[test]
fn the_sign_off_chain_counts_only_in_order_and_at_its_levels() {
    use proto::form_signed_off::Stage as S;
    let mut world = two_branches();
    // Out of order through the rules: each refusal names what is missing.
    let refused = world.author(B1, signoff("m1", S::BranchChecked)).expect_err("no confirmation yet");
    assert!(matches!(refused, R::SignOffOrder { missing: "member confirmation", .. }), "{refused:?}");
    assert!(refused.message_zh().contains("本人确认"));
    // The committee's re-check is the college's, not the branch's.
    let refused = world.author(B1, signoff("m1", S::CommitteeRechecked)).expect_err("branch level");
    assert!(matches!(refused, R::SignOffLevel { required: "college", .. }), "{refused:?}");
    world.ok(B1, signoff("m1", S::MemberConfirmed));
    assert!(matches!(world.author(B1, signoff("m1", S::MemberConfirmed)), Err(R::SignOffRepeated { .. })));
    assert!(matches!(
        world.author_at(B1, Level::College, signoff("m1", S::CommitteeRechecked)),
        Err(R::SignOffOrder { missing: "branch check", .. })
    ));
    world.ok(B1, signoff("m1", S::BranchChecked));
    world.author_at(B1, Level::College, signoff("m1", S::CommitteeRechecked)).expect("in order");
    let view = world.projection.member_view("m1").expect("m1");
    assert!(view.form_confirmed && view.committee_checked);
    assert!(!view.checked, "the five checks are not recorded: a signed form is one of them");

    // A lost member cannot confirm the form.
    world.ok(B2, lost("m2", day(2023, 1, 1), proto::LostSituation::LeftJob));
    assert_eq!(
        world.author(B2, signoff("m2", S::MemberConfirmed)).expect_err("lost"),
        R::LostCannotConfirm { member_id: "m2".into() }
    );
    // Forced out of order (a compromised key): the re-check before the first check
    // does not count as a chain.
    world.force(B2, Level::College, signoff("m2", S::CommitteeRechecked));
    world.force(B2, Level::Branch, signoff("m2", S::MemberConfirmed));
    world.force(B2, Level::Branch, signoff("m2", S::BranchChecked));
    let view = world.projection.member_view("m2").expect("m2");
    assert!(view.form_confirmed, "confirmed then checked");
    assert!(!view.committee_checked, "the re-check came before the check it re-checks");
    let reversed: Vec<usize> = (0..world.events.len()).rev().collect();
    assert_eq!(world.replay(&reversed), world.projection);
}

#[test]
fn the_branch_of_a_member_is_not_moved_by_a_correction() {
    let mut world = two_branches();
    let move_to = |to: &str| {
        Body::RecordCorrected(proto::RecordCorrected {
            member_id: "m1".into(),
            field: proto::MemberField::Branch as i32,
            new_value: to.into(),
            reason: "调动".into(),
            settles: vec![],
        })
    };
    assert_eq!(world.author(B1, move_to(B2)).expect_err("refused"), R::BranchNotCorrectable);
    world.force(B1, Level::Branch, move_to("hb/u9/c9/b9"));
    assert_eq!(world.projection.member_view("m1").expect("m1").unit, Some(unit(B1)));
    assert_eq!(world.projection.rollup(&unit("hb/u9")).total(Metric::Members), 0);
    // A registration whose form names another branch than the one it is filed at.
    let elsewhere = proto::MemberForm { branch_unit_path: B2.into(), ..member_form("赵六") };
    assert!(matches!(world.author(B1, register("m3", elsewhere)), Err(R::FormBranchMismatch { .. })));
}

/// A compromised branch key backdates a registration of another branch's member (its
/// own clock says 1970): the lowest common ancestor's finding keeps the member where it
/// was held first, and every side counts alike (review of issue 12).
#[test]
fn a_backdated_registration_does_not_take_a_member_away() {
    let mut world = two_branches();
    world.ok(B2, correct_name("m2", "李四四"));
    world.force_at(B1, Level::Branch, register("m2", member_form("李四")), 1);
    let owed = world.projection.duplicates_to_report(&unit(U1), Some(&[("m2".to_string(), unit(B1))]));
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].counted_at, B2, "the registration held before the backdated one");
    world.force(U1, Level::University, Body::DuplicateRelationFound(owed[0].clone()));
    assert_eq!(world.projection.member("m2").expect("m2").unit, unit(B2));
    assert_eq!(world.projection.rollup(&unit(C1)).total(Metric::Members), 1, "only m1 at c1");
    for scope in [C1, C2, B1, B2] {
        assert_eq!(figures(&world.seen_from(scope), scope), figures(&world.projection, scope), "{scope}");
    }
    // A college's own finding or settlement below the university's decides nothing above
    // it: c1 "keeps" m2 at b1, the university's finding still counts it at b2 everywhere.
    world.force(
        C1,
        Level::College,
        Body::DuplicateRelationSettled(proto::DuplicateRelationSettled {
            member_id: "m2".into(),
            keep_unit: B1.into(),
            released_units: vec![],
            reason: "c1".into(),
        }),
    );
    assert_eq!(world.projection.member("m2").expect("m2").unit, unit(B2));
    for scope in [C1, C2, B1, B2] {
        assert_eq!(figures(&world.seen_from(scope), scope), figures(&world.projection, scope), "{scope}");
    }
}

/// Findings by two colleges about their own branches do not stop the university from
/// recording its own, which decides (review of issue 12).
#[test]
fn lower_findings_do_not_silence_the_common_ancestor() {
    let mut world = two_branches();
    for (at, name) in [("hb/u1/c1/b9", "甲"), ("hb/u1/c2/b9", "乙")] {
        world.force(at, Level::Branch, register("m2", member_form(name)));
    }
    world.force(B1, Level::Branch, register("m2", member_form("丙")));
    for college in [C1, C2] {
        let owed = world.seen_from(college).duplicates_to_report(&unit(college), None);
        assert_eq!(owed.len(), 1, "{college} owes a finding about its own two branches");
        world.force(college, Level::College, Body::DuplicateRelationFound(owed[0].clone()));
    }
    let owed = world.projection.duplicates_to_report(&unit(U1), None);
    assert_eq!(owed.len(), 1, "the university still owes its own finding");
    world.force(U1, Level::University, Body::DuplicateRelationFound(owed[0].clone()));
    let counted: Vec<_> = world.projection.registered_relations().filter(|(_, e)| e.counted.is_some()).collect();
    assert_eq!(counted.iter().filter(|(id, _)| *id == "m2").count(), 1, "counted once");
    for scope in [C1, C2] {
        assert_eq!(figures(&world.seen_from(scope), scope), figures(&world.projection, scope), "{scope}");
    }
}
