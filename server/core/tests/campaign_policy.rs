//! Issue 13: the campaign's policy as data, the five checks of table 1, and named units
//! (their rules, their organisation counts, their labels), on the pure core.

mod support;

use rollcall_core::audit::case::Stage;
use rollcall_core::audit::policy::Policy;
use rollcall_core::audit::rules::RuleViolation as R;
use rollcall_core::audit::stats::Metric;
use rollcall_core::audit::tables;
use rollcall_core::body::Body;
use rollcall_core::proto;
use rollcall_core::unit::Level;
use support::*;

const B1: &str = "hb/u1/c1/b1";
const B2: &str = "hb/u1/c2/b2";
const C1: &str = "hb/u1/c1";
const C2: &str = "hb/u1/c2";
const U1: &str = "hb/u1";

fn staff(name: &str) -> proto::MemberForm {
    form(name, proto::PersonGroup::Staff, proto::MemberCategory::Full, (1980, 5, 17))
}

fn change_policy(policy: proto::Policy) -> Body {
    Body::PolicyChanged(proto::PolicyChanged {
        campaign_id: "2025".into(),
        policy: Some(policy),
        reason: "省委组织部通知".into(),
    })
}

/// A correction-period case of `member` at B1 brought to the vote.
fn case_to_the_vote(world: &mut World, case_id: &str, member: &str) {
    let mut proposal = propose(case_id, member, proto::DispositionType::CorrectionPeriod);
    proposal.grounds = vec![proto::UnqualifiedGround::WorkSlack as i32];
    proposal.trigger = proto::DispositionTrigger::AuditFinding as i32;
    world.ok(B1, Body::DispositionProposed(proposal));
    world.ok(B1, investigate(case_id));
    world
        .author_at(
            B1,
            Level::College,
            pre_review(case_id, Level::College, proto::DispositionType::CorrectionPeriod, true),
        )
        .expect("college pre-review");
}

fn stage(world: &World, case_id: &str) -> Stage {
    world.projection.case(case_id).expect("case").view.stage
}

/// Goal: a vote is counted by the policy in force when it was recorded, at every replica
/// and in any arrival order; the authoring rule names the policy's share.
#[test]
fn a_vote_is_counted_by_the_policy_in_force_when_it_was_recorded() {
    let mut world = World::new();
    world.ok(PROVINCE, campaign());
    world.ok(B1, register("m1", staff("张三")));
    world.ok(B1, register("m2", staff("李四")));
    case_to_the_vote(&mut world, "K1", "m1");
    case_to_the_vote(&mut world, "K2", "m2");
    // 6 of 10 who should attend, all in favour: more than half.
    world.ok(B1, Body::DispositionVoted(vote("K1", 10, 0, 6, 6)));
    assert_eq!(stage(&world, "K1"), Stage::Voted);
    world.ok(PROVINCE, change_policy(proto::Policy { quorum_percent: 55, majority_percent: 60, ..Default::default() }));
    assert_eq!(world.projection.policy().majority_percent, 60);
    // K1 keeps the verdict of its time; K2, voted after, is judged by the new policy.
    assert_eq!(stage(&world, "K1"), Stage::Voted);
    world.ok(B1, Body::DispositionVoted(vote("K2", 10, 0, 6, 6)));
    assert_eq!(stage(&world, "K2"), Stage::VoteFailed, "6 of 10 is not more than 60%");
    // Any order of the same events gives the same projection.
    let reversed: Vec<usize> = (0..world.events.len()).rev().collect();
    assert_eq!(world.replay(&reversed), world.projection);
    // The quorum refusal names the policy's share.
    world.ok(B1, register("m3", staff("王五")));
    case_to_the_vote(&mut world, "K3", "m3");
    let refused = world.author(B1, Body::DispositionVoted(vote("K3", 10, 0, 5, 5))).expect_err("no quorum");
    assert_eq!(refused, R::NoQuorum { present: 5, should_attend: 10, percent: 55 });
    assert!(refused.message_zh().contains("须超过55%"), "{}", refused.message_zh());
}

/// Goal: the lost-contact months are the policy's; changing them recounts every member.
#[test]
fn the_lost_contact_months_are_the_policys() {
    let mut world = World::new();
    world.ok(PROVINCE, campaign());
    world.ok(B1, register("m1", staff("张三")));
    world.ok(
        B1,
        Body::ContactStatusAssessed(proto::ContactStatusAssessed {
            member_id: "m1".into(),
            status: proto::ContactStatus::InContact as i32,
            last_org_life: day(2024, 9, 1),
            last_dues: day(2024, 9, 1),
            ..Default::default()
        }),
    );
    let lost = |world: &World| world.projection.rollup(&unit(B1)).total(Metric::Lost);
    assert_eq!(lost(&world), 1, "seven months without organisation life or dues, as of 3-31");
    world.ok(PROVINCE, change_policy(proto::Policy { lost_contact_months: 12, ..Default::default() }));
    assert_eq!(lost(&world), 0, "twelve months now");
    let reversed: Vec<usize> = (0..world.events.len()).rev().collect();
    assert_eq!(world.replay(&reversed), world.projection);
    // Taking the change back (a failed write) restores the count.
    let mut projection = world.replay(&(0..world.events.len() - 1).collect::<Vec<_>>());
    assert_eq!(projection.rollup(&unit(B1)).total(Metric::Lost), 1);
    let last = world.events.last().expect("the change");
    let undo = projection.apply(&last.header, &last.body, last.level);
    assert_eq!(projection.rollup(&unit(B1)).total(Metric::Lost), 0);
    projection.undo(undo);
    assert_eq!(projection.rollup(&unit(B1)).total(Metric::Lost), 1);
    assert_eq!(projection.policy(), Policy::NOTICE);
}

/// Goal: a policy change is refused without its campaign, outside the bounds (naming the
/// field) and without a reason; the self-separation rule reads the policy.
#[test]
fn a_policy_change_is_checked_and_read_by_the_rules() {
    let mut world = World::new();
    assert!(matches!(
        world.author(PROVINCE, change_policy(proto::Policy::default())),
        Err(R::PolicyWithoutCampaign { .. })
    ));
    world.ok(PROVINCE, campaign());
    let refused = world.author(PROVINCE, change_policy(proto::Policy { quorum_percent: 30, ..Default::default() }));
    let Err(R::Policy(error)) = refused else { panic!("{refused:?}") };
    assert_eq!(error.field, "quorum_percent");
    assert!(R::Policy(error).message_zh().contains("支部大会到会"));
    let no_reason = Body::PolicyChanged(proto::PolicyChanged {
        campaign_id: "2025".into(),
        policy: Some(proto::Policy::default()),
        reason: " ".into(),
    });
    assert!(matches!(world.author(PROVINCE, no_reason), Err(R::Missing { .. })));
    world.ok(PROVINCE, change_policy(proto::Policy { self_separation_attempts: 5, ..Default::default() }));
    // A lost member with three attempts through two methods over seven months: enough
    // for the notice, not for this province.
    world.ok(B1, register("m1", staff("张三")));
    world.ok(B1, lost("m1", day(2023, 1, 1), proto::LostSituation::LeftJob));
    world.ok(B1, attempt("m1", proto::ContactMethod::Phone, day(2024, 8, 1)));
    world.ok(B1, attempt("m1", proto::ContactMethod::HomeVisit, day(2024, 12, 1)));
    world.ok(B1, attempt("m1", proto::ContactMethod::Phone, day(2025, 3, 1)));
    let mut proposal = propose("K1", "m1", proto::DispositionType::SelfSeparationRemoval);
    proposal.trigger = proto::DispositionTrigger::LostCase as i32;
    let refused = world.author(B1, Body::DispositionProposed(proposal)).expect_err("five attempts needed");
    assert!(matches!(refused, R::SearchNotDocumented { need_attempts: 5, attempts: 3, .. }), "{refused:?}");
    assert!(refused.message_zh().contains("至少5次"), "{}", refused.message_zh());
}

/// Goal: 已核查 counts the five checks recorded (a lost member can be checked), and 登记表
/// 已签字确认 / 已复核 count the form's chain.
#[test]
fn table_one_counts_the_five_checks() {
    use proto::form_signed_off::Stage as S;
    let mut world = World::new();
    world.ok(PROVINCE, campaign());
    world.ok(B1, register("m1", staff("张三")));
    world.ok(B1, register("m2", staff("李四")));
    let signoff = |member: &str, stage: S| {
        Body::FormSignedOff(proto::FormSignedOff {
            member_id: member.into(),
            stage: stage as i32,
            signed_on: day(2025, 3, 20),
        })
    };
    let archive =
        |member: &str| Body::ArchiveReviewed(proto::ArchiveReviewed { member_id: member.into(), ..Default::default() });
    let conduct = |member: &str| {
        Body::ConductNoted(proto::ConductNoted {
            member_id: member.into(),
            summary: "表现正常".into(),
            violation_reported: false,
        })
    };
    let contact = |member: &str| {
        Body::ContactStatusAssessed(proto::ContactStatusAssessed {
            member_id: member.into(),
            status: proto::ContactStatus::InContact as i32,
            last_org_life: day(2025, 3, 10),
            last_dues: day(2025, 3, 10),
            ..Default::default()
        })
    };
    let counted = |world: &World, metric| world.projection.rollup(&unit(B1)).total(metric);
    world.ok(B1, signoff("m1", S::MemberConfirmed));
    world.ok(B1, signoff("m1", S::BranchChecked));
    assert_eq!((counted(&world, Metric::Checked), counted(&world, Metric::FormsConfirmed)), (0, 1));
    world.ok(B1, archive("m1"));
    world.ok(B1, contact("m1"));
    assert_eq!(counted(&world, Metric::Checked), 0, "conduct not yet checked");
    world.ok(B1, conduct("m1"));
    assert_eq!(counted(&world, Metric::Checked), 1);
    // A lost member: the roster is checked by flagging what cannot be known yet.
    world.ok(B1, lost("m2", day(2023, 1, 1), proto::LostSituation::LeftJob));
    world.ok(B1, archive("m2"));
    world.ok(B1, conduct("m2"));
    world.ok(
        B1,
        Body::RecordFlagged(proto::RecordFlagged {
            member_id: "m2".into(),
            field: proto::MemberField::Phone as i32,
            note: "失联，联系电话待查".into(),
        }),
    );
    assert_eq!(counted(&world, Metric::Checked), 2);
    world.author_at(B1, Level::College, signoff("m1", S::CommitteeRechecked)).expect("re-check");
    let table = tables::compute(&tables::TABLE_1, &world.projection, &unit(C1));
    let column = |key: &str| tables::TABLE_1.columns.iter().position(|c| c.key() == key).expect(key);
    let total = &table.cells[0];
    assert_eq!(total[column("checked")], Some(2));
    assert_eq!(total[column("forms_confirmed")], Some(1));
    assert_eq!(total[column("forms_signed")], Some(1));
    assert!(
        tables::check(&tables::TABLE_1, &table.cells).is_empty(),
        "{:?}",
        tables::check(&tables::TABLE_1, &table.cells)
    );
    // Every column of table 1 has its definition, and the definitions name the five checks.
    for column in tables::TABLE_1.columns {
        let definition =
            tables::TABLE_1.definition_of(*column).unwrap_or_else(|| panic!("{} has no definition", column.key()));
        assert!(!definition.zh.is_empty() && !definition.en.is_empty());
    }
    assert!(tables::definition("checked").expect("checked").zh.contains("五核查"));
}

fn named(unit_path: &str, name: &str, short: &str, org_type: proto::OrgType) -> Body {
    Body::UnitNamed(proto::UnitNamed {
        unit_path: unit_path.into(),
        name: name.into(),
        short_name: short.into(),
        org_type: org_type as i32,
        org_code: "42000101".into(),
    })
}

/// Goal: names are checked where recorded; table 1 counts organisations by type (named,
/// or by level) and labels its rows with names; a rename is the latest stamp.
#[test]
fn named_units_label_table_one_and_count_its_organisations() {
    let mut world = World::new();
    world.ok(PROVINCE, campaign());
    world.ok(B1, register("m1", staff("张三")));
    world.ok(B2, register("m2", staff("李四")));
    // Refusals name what is wrong.
    let empty = world.author_at(C1, Level::University, named(C1, "", "", proto::OrgType::Committee));
    assert!(matches!(&empty, Err(R::UnitName { detail_zh, .. }) if detail_zh.contains("全称")), "{empty:?}");
    let misfit = world.author_at(C1, Level::University, named(C1, "中共某学院委员会", "", proto::OrgType::Branch));
    assert!(matches!(&misfit, Err(R::UnitName { detail_zh, .. }) if detail_zh.contains("层级")), "{misfit:?}");
    let code = Body::UnitNamed(proto::UnitNamed {
        unit_path: C1.into(),
        name: "中共某学院委员会".into(),
        org_type: proto::OrgType::Committee as i32,
        org_code: "42-01".into(),
        ..Default::default()
    });
    assert!(matches!(world.author_at(C1, Level::University, code), Err(R::UnitName { .. })));
    // C1 is a 党总支, C2 never named (a 党委 by its level); B1 named, B2 not.
    world
        .author_at(
            C1,
            Level::University,
            named(C1, "中共某大学计算机学院总支部委员会", "计算机学院党总支", proto::OrgType::GeneralBranch),
        )
        .expect("named");
    world
        .author_at(
            B1,
            Level::College,
            named(B1, "某大学计算机学院教工第一党支部", "教工第一党支部", proto::OrgType::Branch),
        )
        .expect("named");
    let table = tables::compute(&tables::TABLE_1, &world.projection, &unit(U1));
    let labels: Vec<&str> = table.rows.iter().map(|(zh, _)| zh.as_str()).collect();
    assert_eq!(labels, ["合计", "计算机学院党总支", C2]);
    let orgs = |row: &Vec<Option<i64>>| (row[0], row[1], row[2]);
    assert_eq!(orgs(&table.cells[0]), (Some(1), Some(1), Some(2)), "a 党委, a 党总支, two 党支部 below the university");
    assert_eq!(orgs(&table.cells[1]), (None, Some(1), Some(1)));
    assert_eq!(orgs(&table.cells[2]), (Some(1), None, Some(1)));
    assert!(tables::check(&tables::TABLE_1, &table.cells).is_empty());
    assert_eq!(table.row_units[1].as_ref().map(|u| u.as_str()), Some(C1));
    // A rename: the latest stamp is in force, whatever the order.
    world
        .author_at(
            C1,
            Level::University,
            named(C1, "中共某大学计算机学院委员会", "计算机学院党委", proto::OrgType::Committee),
        )
        .expect("renamed");
    assert_eq!(world.projection.unit_label(&unit(C1)), "计算机学院党委");
    let reversed: Vec<usize> = (0..world.events.len()).rev().collect();
    assert_eq!(world.replay(&reversed), world.projection);
    // The higher level's name is in force, however the lower level dates its own.
    world
        .author_at(B2, Level::University, named(B2, "某大学某学院第二党支部", "第二党支部", proto::OrgType::Branch))
        .expect("named by the university");
    world.force_at(B2, Level::College, named(B2, "自拟名称", "自拟", proto::OrgType::Branch), u64::MAX / 2);
    assert_eq!(world.projection.unit_label(&unit(B2)), "第二党支部");
    let reversed: Vec<usize> = (0..world.events.len()).rev().collect();
    assert_eq!(world.replay(&reversed), world.projection);
    // The register shows the branch by name.
    world.ok(B1, lost("m1", day(2023, 1, 1), proto::LostSituation::LeftJob));
    let register = tables::register(&world.projection, &unit(U1), tables::Register::StillLost, false);
    assert_eq!(register[0][8], "教工第一党支部");
}
