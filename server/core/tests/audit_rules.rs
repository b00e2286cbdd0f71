//! Every rule of the audit and every step of every disposition, with each refusal
//! (issue 4: "table-driven tests of every rule").

mod support;

use rollcall_core::Level;
use rollcall_core::audit::case::Stage;
use rollcall_core::audit::rules::RuleViolation as R;
use rollcall_core::body::Body;
use rollcall_core::proto;
use rollcall_core::proto::DispositionType as T;
use support::*;

const B1: &str = "hb/u1/c1/b1";
const C1: &str = "hb/u1/c1";
const U1: &str = "hb/u1";

fn world_with_member(category: proto::MemberCategory) -> World {
    let mut world = World::new();
    world.ok(PROVINCE, campaign());
    world.ok(B1, register("m1", form("张三", proto::PersonGroup::Staff, category, (1980, 5, 17))));
    world
}

fn refusal(world: &mut World, unit: &str, body: Body) -> R {
    match world.author(unit, body) {
        Ok(()) => panic!("accepted, but a refusal was expected"),
        Err(violation) => {
            assert!(!violation.message_zh().is_empty());
            violation
        }
    }
}

#[test]
fn registration_rules() {
    let mut world = world_with_member(proto::MemberCategory::Full);
    let good = || form("李四", proto::PersonGroup::Staff, proto::MemberCategory::Full, (1990, 1, 2));
    let cases: Vec<(&str, proto::MemberForm, &str, fn(&R) -> bool)> = vec![
        ("empty name", proto::MemberForm { name: " ".into(), ..good() }, B1, |v| {
            matches!(v, R::Missing { field: "name", .. })
        }),
        ("no gender", proto::MemberForm { gender: 0, ..good() }, B1, |v| {
            matches!(v, R::Missing { field: "gender", .. })
        }),
        ("short id", proto::MemberForm { id_number: "4201".into(), ..good() }, B1, |v| {
            matches!(v, R::InvalidIdNumber { .. })
        }),
        ("bad check digit", proto::MemberForm { id_number: bad_check_digit(&good().id_number), ..good() }, B1, |v| {
            matches!(v, R::InvalidIdNumber { reason: "the check digit does not match" })
        }),
        ("birth differs from id", proto::MemberForm { birth_date: day(1990, 1, 3), ..good() }, B1, |v| {
            matches!(v, R::InvalidIdNumber { .. })
        }),
        ("joined in the future", proto::MemberForm { joined_date: day(2030, 1, 1), ..good() }, B1, |v| {
            matches!(v, R::FutureDate { field: "joined date", .. })
        }),
        ("joined before birth", proto::MemberForm { joined_date: day(1980, 1, 1), ..good() }, B1, |v| {
            matches!(v, R::DateOrder { .. })
        }),
        ("no category", proto::MemberForm { category: 0, ..good() }, B1, |v| {
            matches!(v, R::Missing { field: "category", .. })
        }),
        ("at a college", good(), C1, |v| matches!(v, R::NotABranch { .. })),
    ];
    for (name, form, unit, expected) in cases {
        let violation = world.author_at(unit, Level::Branch, register("m2", form)).expect_err(name);
        assert!(expected(&violation), "{name}: got {violation:?}");
    }
    world.ok(B1, register("m2", good()));
    let twice = refusal(&mut world, B1, register("m2", good()));
    assert_eq!(twice, R::AlreadyRegistered { member_id: "m2".into() });
    assert!(twice.message_zh().contains("已登记"));
}

fn bad_check_digit(id: &str) -> String {
    let last = if id.ends_with('0') { '1' } else { '0' };
    format!("{}{last}", &id[..17])
}

#[test]
fn correction_and_flag_rules() {
    let mut world = world_with_member(proto::MemberCategory::Full);
    let correct = |field: proto::MemberField, value: &str| {
        Body::RecordCorrected(proto::RecordCorrected {
            member_id: "m1".into(),
            field: field as i32,
            new_value: value.into(),
            reason: "核对原始档案".into(),
            settles: vec![],
        })
    };
    use proto::MemberField as F;
    for (field, value) in [
        (F::Gender, "男性"),
        (F::BirthDate, "去年"),
        (F::BirthDate, "2030-01-01"),
        (F::Ethnicity, "汉"),
        (F::Branch, "hb/u1"),
        (F::IdNumber, "123"),
    ] {
        let violation = refusal(&mut world, B1, correct(field, value));
        assert!(
            matches!(
                violation,
                R::InvalidValue { .. } | R::FutureDate { .. } | R::InvalidIdNumber { .. } | R::BranchNotCorrectable
            ),
            "{field:?} {value}: {violation:?}"
        );
    }
    let unknown = Body::RecordCorrected(proto::RecordCorrected { member_id: "nobody".into(), ..Default::default() });
    assert_eq!(refusal(&mut world, B1, unknown), R::UnknownMember { member_id: "nobody".into() });
    world.ok(B1, correct(F::Gender, "男"));
    world.ok(B1, correct(F::BirthDate, "1980年5月17日"));
    let state = &world.projection.member("m1").expect("registered").state;
    assert_eq!(state.form().expect("form").gender, proto::Gender::Male as i32);

    let flag = Body::RecordFlagged(proto::RecordFlagged { member_id: "m1".into(), field: 0, note: String::new() });
    assert!(matches!(refusal(&mut world, B1, flag), R::Missing { field: "field", .. }));
    let flag = Body::RecordFlagged(proto::RecordFlagged {
        member_id: "m1".into(),
        field: F::NativePlace as i32,
        note: "待查".into(),
    });
    world.ok(B1, flag);
    assert_eq!(world.projection.member_view("m1").expect("view").open_flags, 1);
    world.ok(B1, correct(F::NativePlace, "湖北武汉"));
    assert_eq!(
        world.projection.member_view("m1").expect("view").open_flags,
        0,
        "a correction after the flag clears it"
    );
}

#[test]
fn search_rules() {
    let mut world = world_with_member(proto::MemberCategory::Full);
    use proto::ContactMethod as M;
    let no_department = Body::ContactAttempted(proto::ContactAttempted {
        member_id: "m1".into(),
        method: M::ThroughDepartment as i32,
        attempted_on: day(2025, 1, 1),
        ..Default::default()
    });
    assert_eq!(refusal(&mut world, B1, no_department), R::DepartmentRequired);
    assert!(matches!(refusal(&mut world, B1, attempt("m1", M::Phone, None)), R::Missing { field: "attempt date", .. }));
    assert!(matches!(refusal(&mut world, B1, attempt("m1", M::Phone, day(2026, 1, 1))), R::FutureDate { .. }));
    let located = Body::MemberLocated(proto::MemberLocated {
        member_id: "m1".into(),
        located_on: day(2025, 3, 1),
        ..Default::default()
    });
    assert_eq!(refusal(&mut world, B1, located.clone()), R::NotLost { member_id: "m1".into() });
    world.ok(B1, lost("m1", day(2023, 1, 1), proto::LostSituation::LeftJob));
    world.ok(B1, attempt("m1", M::Phone, day(2025, 1, 1)));
    world.ok(B1, located);
    let view = world.projection.member_view("m1").expect("view");
    assert!(view.found && view.lost);

    let answer = Body::ReceivingUnitConfirmed(proto::ReceivingUnitConfirmed {
        member_id: "m1".into(),
        receiving_unit: "某县".into(),
        relation_registered: true,
        answered_on: day(2025, 3, 1),
    });
    assert_eq!(refusal(&mut world, B1, answer.clone()), R::NoPendingTransfer { member_id: "m1".into() });
    world.ok(
        B1,
        Body::TransferStubChecked(proto::TransferStubChecked {
            member_id: "m1".into(),
            transferred_out_on: day(2020, 1, 1),
            receiving_unit: "某县".into(),
            receipt_received: false,
            ..Default::default()
        }),
    );
    assert!(world.projection.member_view("m1").expect("view").pocket);
    world.ok(B1, answer);
    assert!(world.projection.member_view("m1").expect("view").pocket_resolved);
}

#[test]
fn management_action_rules() {
    use proto::ManagementAction as A;
    let action = |action: A| proto::ManagementActionTaken {
        member_id: "m1".into(),
        action: action as i32,
        effective_on: day(2025, 3, 1),
        ..Default::default()
    };
    let mut world = world_with_member(proto::MemberCategory::Probationary);
    for (body, expected) in [
        (action(A::TransferRelation), "the receiving organisation"),
        (action(A::ReissueTransfer), "the receiving organisation"),
        (action(A::FlowingCard), "the card number"),
        (action(A::RetainAbroad), "the member's written application"),
        (
            proto::ManagementActionTaken { written_application: true, ..action(A::RetainAbroad) },
            "the college's approval date",
        ),
        (
            proto::ManagementActionTaken {
                written_application: true,
                college_approved_on: day(2025, 1, 1),
                ..action(A::RetainAbroad)
            },
            "the university's registration date",
        ),
    ] {
        match refusal(&mut world, B1, Body::ManagementActionTaken(body)) {
            R::ActionIncomplete { missing, .. } => assert_eq!(missing, expected),
            other => panic!("expected {expected}: {other:?}"),
        }
    }
    let backwards = proto::ManagementActionTaken {
        written_application: true,
        college_approved_on: day(2025, 2, 1),
        university_registered_on: day(2025, 1, 1),
        ..action(A::RetainAbroad)
    };
    assert!(matches!(refusal(&mut world, B1, Body::ManagementActionTaken(backwards)), R::DateOrder { .. }));
    let stop = proto::ManagementActionTaken { files_sent_to: "某县委组织部".into(), ..action(A::StopMembership) };
    assert_eq!(refusal(&mut world, B1, Body::ManagementActionTaken(stop)), R::ProbationaryNotStopped);
    let no_date = proto::ManagementActionTaken { effective_on: None, ..action(A::IncludeInManagement) };
    assert!(matches!(refusal(&mut world, B1, Body::ManagementActionTaken(no_date)), R::Missing { .. }));
    world.ok(
        B1,
        Body::ManagementActionTaken(proto::ManagementActionTaken {
            written_application: true,
            college_approved_on: day(2025, 1, 1),
            university_registered_on: day(2025, 1, 5),
            ..action(A::RetainAbroad)
        }),
    );
    assert!(world.projection.member_view("m1").expect("view").retained);
}

/// Drives a case through every step; `unit_of_step` is the unit whose level authors it.
fn run_to_vote(world: &mut World, case_id: &str, disposition: T) {
    world.ok(B1, Body::DispositionProposed(propose(case_id, "m1", disposition)));
    world.ok(B1, investigate(case_id));
    world
        .author_at(B1, Level::College, pre_review(case_id, Level::College, disposition, true))
        .expect("college pre-review");
    if disposition_needs_university(disposition) {
        world
            .author_at(B1, Level::University, pre_review(case_id, Level::University, disposition, true))
            .expect("university pre-review");
    }
    world.ok(B1, Body::DispositionVoted(vote(case_id, 10, 1, 6, 5)));
}

fn disposition_needs_university(disposition: T) -> bool {
    !matches!(disposition, T::CorrectionPeriod | T::CancelProbationary)
}

fn stage(world: &World, case_id: &str) -> Stage {
    world.projection.case(case_id).expect("case").view.stage
}

#[test]
fn correction_period_then_persuasion_then_removal() {
    let mut world = world_with_member(proto::MemberCategory::Full);
    run_to_vote(&mut world, "c1", T::CorrectionPeriod);
    assert_eq!(stage(&world, "c1"), Stage::Voted);
    world.author_at(B1, Level::College, approve("c1", T::CorrectionPeriod)).expect("approved");
    assert_eq!(stage(&world, "c1"), Stage::CorrectionPeriod);
    let review = |corrected| {
        Body::CorrectionPeriodReviewed(proto::CorrectionPeriodReviewed {
            case_id: "c1".into(),
            reviewed_on: day(2025, 3, 30),
            corrected,
            note: String::new(),
        })
    };
    world.ok(B1, review(false));
    assert_eq!(stage(&world, "c1"), Stage::NotCorrected);

    // 劝而不退除名 needs an effective 劝退 first.
    let early = refusal(&mut world, B1, Body::DispositionProposed(propose("c2", "m1", T::RemovalAfterPersuasion)));
    assert_eq!(early, R::NoPersuasion);
    run_to_vote(&mut world, "c2", T::PersuadeToWithdraw);
    let college_too_low = refusal(&mut world, B1, approve("c2", T::PersuadeToWithdraw));
    assert!(matches!(college_too_low, R::ApprovalLevel { .. }), "a branch cannot approve");
    world.author_at(B1, Level::College, approve("c2", T::PersuadeToWithdraw)).expect("approved");
    world.ok(B1, file("c2"));
    assert_eq!(stage(&world, "c2"), Stage::Filed);
    run_to_vote(&mut world, "c3", T::RemovalAfterPersuasion);
    world.author_at(B1, Level::College, approve("c3", T::RemovalAfterPersuasion)).expect("approved");
    world.ok(B1, file("c3"));
    let rollup = world.projection.rollup(&unit(C1));
    use rollcall_core::audit::stats::Metric;
    assert_eq!(rollup.total(Metric::CorrectionPeriod), 1);
    assert_eq!(rollup.total(Metric::PersuadeToWithdraw), 1);
    assert_eq!(rollup.total(Metric::RemovalAfterPersuasion), 1);
    assert_eq!(rollup.total(Metric::OpenCase), 0);
}

#[test]
fn procedure_refuses_every_step_out_of_order_or_out_of_rule() {
    let mut world = world_with_member(proto::MemberCategory::Full);
    let d = T::SelfSeparationRemoval;
    world.ok(B1, lost("m1", day(2023, 1, 1), proto::LostSituation::Abroad));

    // Proposal rules.
    let no_facts = proto::DispositionProposed { facts: String::new(), ..propose("c1", "m1", d) };
    assert!(matches!(refusal(&mut world, B1, Body::DispositionProposed(no_facts)), R::Missing { field: "facts", .. }));
    match refusal(&mut world, B1, Body::DispositionProposed(propose("c1", "m1", d))) {
        R::SearchNotDocumented {
            attempts: 0,
            channels: 0,
            months: 0,
            need_attempts: 3,
            need_channels: 2,
            need_months: 6,
        } => {}
        other => panic!("{other:?}"),
    }
    use proto::ContactMethod as M;
    world.ok(B1, attempt("m1", M::Phone, day(2024, 6, 1)));
    world.ok(B1, attempt("m1", M::Sms, day(2024, 7, 1)));
    world.ok(B1, attempt("m1", M::HomeVisit, day(2025, 1, 1)));
    match refusal(&mut world, B1, Body::DispositionProposed(propose("c1", "m1", d))) {
        R::SearchNotDocumented {
            attempts: 3,
            channels: 1,
            months: 7,
            need_attempts: 3,
            need_channels: 2,
            need_months: 6,
        } => {}
        other => panic!("one channel only: {other:?}"),
    }
    world.ok(B1, attempt("m1", M::ThroughDepartment, day(2025, 2, 1)));
    let message = R::SearchNotDocumented {
        attempts: 3,
        channels: 1,
        months: 7,
        need_attempts: 3,
        need_channels: 2,
        need_months: 6,
    }
    .message_zh();
    assert!(message.contains("经多方努力确实无法取得联系"), "{message}");

    // A reported violation is referred, never replaced by a disposition.
    world.ok(
        B1,
        Body::ConductNoted(proto::ConductNoted {
            member_id: "m1".into(),
            summary: "举报".into(),
            violation_reported: true,
        }),
    );
    assert_eq!(
        refusal(&mut world, B1, Body::DispositionProposed(propose("c1", "m1", d))),
        R::ViolationNotReferred { member_id: "m1".into() }
    );
    world.ok(
        B1,
        Body::ViolationReferred(proto::ViolationReferred {
            member_id: "m1".into(),
            referred_to: 1,
            referred_on: day(2025, 3, 1),
            summary: "移交".into(),
        }),
    );
    world.ok(B1, Body::DispositionProposed(propose("c1", "m1", d)));

    // One open case per member; case ids are unique.
    assert!(matches!(
        refusal(&mut world, B1, Body::DispositionProposed(propose("c9", "m1", T::CorrectionPeriod))),
        R::OpenCase { .. }
    ));
    assert!(matches!(refusal(&mut world, B1, Body::DispositionProposed(propose("c1", "m1", d))), R::CaseExists { .. }));

    // Steps out of order.
    assert!(matches!(
        refusal(&mut world, B1, Body::DispositionVoted(vote("c1", 10, 0, 8, 8))),
        R::OutOfOrder { stage: Stage::Proposed, .. }
    ));
    assert!(matches!(refusal(&mut world, B1, file("c1")), R::OutOfOrder { .. }));
    assert!(matches!(refusal(&mut world, B1, investigate("nope")), R::UnknownCase { .. }));
    let no_talk = Body::DispositionInvestigated(proto::DispositionInvestigated {
        case_id: "c1".into(),
        talked_by: vec!["甲".into()],
        ..Default::default()
    });
    assert_eq!(refusal(&mut world, B1, no_talk), R::TalkRequired);
    world.ok(
        B1,
        Body::DispositionInvestigated(proto::DispositionInvestigated {
            case_id: "c1".into(),
            member_unreachable: true,
            investigated_on: day(2025, 3, 2),
            ..Default::default()
        }),
    );

    // Pre-review: the reviewer's level is its own, and the university's is written.
    assert!(matches!(
        world.author_at(B1, Level::College, pre_review("c1", Level::University, d, true)),
        Err(R::PreReviewLevel { .. })
    ));
    let unwritten = Body::DispositionPreReviewed(proto::DispositionPreReviewed {
        written: false,
        ..match pre_review("c1", Level::University, d, true) {
            Body::DispositionPreReviewed(b) => b,
            _ => unreachable!(),
        }
    });
    assert_eq!(world.author_at(B1, Level::University, unwritten), Err(R::NotWritten));
    world.author_at(B1, Level::College, pre_review("c1", Level::College, d, true)).expect("college");
    assert_eq!(stage(&world, "c1"), Stage::Investigated, "the university's written pre-review is still needed");
    assert!(matches!(refusal(&mut world, B1, Body::DispositionVoted(vote("c1", 10, 0, 8, 8))), R::OutOfOrder { .. }));
    world.author_at(B1, Level::University, pre_review("c1", Level::University, d, true)).expect("university");
    assert_eq!(stage(&world, "c1"), Stage::PreReviewed);

    // The vote: quorum of those who should attend, secret ballot, consistent figures.
    assert_eq!(
        refusal(&mut world, B1, Body::DispositionVoted(vote("c1", 10, 2, 4, 4))),
        R::NoQuorum { present: 4, should_attend: 8, percent: 50 }
    );
    let open_ballot = proto::DispositionVoted { secret_ballot: false, ..vote("c1", 10, 0, 8, 8) };
    assert_eq!(refusal(&mut world, B1, Body::DispositionVoted(open_ballot)), R::SecretBallotRequired);
    let too_many = proto::DispositionVoted { votes_against: 5, ..vote("c1", 10, 0, 8, 8) };
    assert!(matches!(refusal(&mut world, B1, Body::DispositionVoted(too_many)), R::VoteFigures { .. }));
    // Passes with more than half of those who SHOULD attend: 5 of 10 present-and-for is not enough.
    world.ok(B1, Body::DispositionVoted(vote("c1", 10, 0, 6, 5)));
    assert_eq!(stage(&world, "c1"), Stage::VoteFailed, "5 for of 10 who should attend does not pass");
    assert!(
        matches!(refusal(&mut world, B1, Body::DispositionVoted(vote("c1", 10, 0, 8, 8))), R::OutOfOrder { .. }),
        "one vote per case"
    );
}

#[test]
fn rejection_returns_the_case_to_proposal_and_approval_needs_its_level() {
    let mut world = world_with_member(proto::MemberCategory::Probationary);
    let d = T::CancelProbationary;
    run_to_vote(&mut world, "c1", d);
    let not_collective = Body::DispositionApproved(proto::DispositionApproved {
        collective: false,
        ..match approve("c1", d) {
            Body::DispositionApproved(b) => b,
            _ => unreachable!(),
        }
    });
    assert_eq!(world.author_at(B1, Level::College, not_collective), Err(R::NotCollective));
    world
        .author_at(
            B1,
            Level::College,
            Body::DispositionRejected(proto::DispositionRejected {
                case_id: "c1".into(),
                reason: "事实不清".into(),
                rejected_on: day(2025, 3, 21),
            }),
        )
        .expect("rejected");
    assert_eq!(stage(&world, "c1"), Stage::Proposed);
    assert_eq!(world.projection.case("c1").expect("case").view.returned, 1);
    // The revised proposal, and a new round with a new vote.
    world.ok(B1, Body::DispositionProposed(propose("c1", "m1", d)));
    world.ok(B1, investigate("c1"));
    world.author_at(B1, Level::College, pre_review("c1", Level::College, d, true)).expect("pre-review");
    world.ok(B1, Body::DispositionVoted(vote("c1", 10, 0, 9, 9)));
    world.author_at(B1, Level::College, approve("c1", d)).expect("approved");
    world.ok(B1, file("c1"));
    assert_eq!(stage(&world, "c1"), Stage::Filed);
    use proto::disposition_appealed::Outcome;
    let appeal = |outcome: Outcome| {
        Body::DispositionAppealed(proto::DispositionAppealed {
            case_id: "c1".into(),
            appealed_on: day(2025, 3, 28),
            appeal_to: "院系党委".into(),
            outcome: outcome as i32,
        })
    };
    // The branch records that the member appealed; the outcome is the decision of the
    // level appealed to, at or above the one that approved: a branch that records an
    // overturn is refused where it authors it, and if its key signs one anyway (a
    // compromised key, past every rule), no replica's fold lets it undo the approval.
    world.ok(B1, appeal(Outcome::Pending));
    assert_eq!(stage(&world, "c1"), Stage::Filed);
    assert_eq!(refusal(&mut world, B1, appeal(Outcome::Overturned)), R::AppealOutcomeLevel { required: "college" });
    world.force(B1, Level::Branch, appeal(Outcome::Overturned));
    assert_eq!(stage(&world, "c1"), Stage::Filed, "a branch cannot overturn its college's approval");
    world.author_at(B1, Level::College, appeal(Outcome::Overturned)).expect("the college decides the appeal");
    assert_eq!(stage(&world, "c1"), Stage::Overturned);
}

#[test]
fn type_specific_proposal_rules() {
    let mut world = world_with_member(proto::MemberCategory::Full);
    let no_grounds = proto::DispositionProposed { grounds: vec![], ..propose("c1", "m1", T::CorrectionPeriod) };
    assert_eq!(refusal(&mut world, B1, Body::DispositionProposed(no_grounds)), R::GroundsRequired);
    assert_eq!(
        refusal(&mut world, B1, Body::DispositionProposed(propose("c1", "m1", T::WithdrawalRemoval))),
        R::NotRequested
    );
    assert_eq!(
        refusal(&mut world, B1, Body::DispositionProposed(propose("c1", "m1", T::CancelProbationary))),
        R::NotProbationary
    );
    assert_eq!(
        refusal(&mut world, B1, Body::DispositionProposed(propose("c1", "m1", T::NonRecognition))),
        R::NoIrregularFinding
    );
    assert_eq!(
        refusal(&mut world, B1, Body::DispositionProposed(propose("c1", "m1", T::SelfSeparationRemoval))),
        R::NoSixMonthGap
    );
    assert!(matches!(
        refusal(&mut world, B1, Body::DispositionProposed(propose("c1", "ghost", T::CorrectionPeriod))),
        R::UnknownMember { .. }
    ));

    // 不予承认 is approved by the province.
    world.ok(
        B1,
        Body::ArchiveReviewed(proto::ArchiveReviewed {
            member_id: "m1".into(),
            present: vec![],
            irregular_admission: true,
            ..Default::default()
        }),
    );
    run_to_vote(&mut world, "c1", T::NonRecognition);
    assert!(matches!(
        world.author_at(B1, Level::College, approve("c1", T::NonRecognition)),
        Err(R::ApprovalLevel { required: "province" })
    ));
    assert!(matches!(
        world.author_at(B1, Level::University, approve("c1", T::NonRecognition)),
        Err(R::ApprovalLevel { .. })
    ));
    world.author_at(B1, Level::Province, approve("c1", T::NonRecognition)).expect("the province approves");
    assert_eq!(stage(&world, "c1"), Stage::Approved);

    // Withdrawal at the member's own request.
    let mut world = world_with_member(proto::MemberCategory::Full);
    let request = proto::DispositionProposed {
        trigger: proto::DispositionTrigger::RequestToLeave as i32,
        ..propose("c1", "m1", T::WithdrawalRemoval)
    };
    world.ok(B1, Body::DispositionProposed(request));
}

#[test]
fn campaign_and_report_rules() {
    let mut world = World::new();
    let incomplete =
        Body::CampaignOpened(proto::CampaignOpened { campaign_id: "x".into(), year: 2025, ..Default::default() });
    assert_eq!(world.author(PROVINCE, incomplete), Err(R::CampaignIncomplete));
    world.ok(PROVINCE, campaign());
    let report =
        Body::ReportSubmitted(proto::ReportSubmitted { campaign_id: "2025".into(), table: 4, ..Default::default() });
    assert_eq!(world.author(U1, report), Err(R::NoSuchTable { table: 4 }));
}

#[test]
fn every_violation_speaks_both_languages() {
    let samples = [
        R::Missing { field: "name", field_zh: "姓名" },
        R::NoQuorum { present: 3, should_attend: 8, percent: 50 },
        R::SearchNotDocumented {
            attempts: 1,
            channels: 1,
            months: 0,
            need_attempts: 3,
            need_channels: 2,
            need_months: 6,
        },
        R::ApprovalLevel { required: "province" },
        R::AppealOutcomeLevel { required: "college" },
        R::ProbationaryNotStopped,
    ];
    for violation in samples {
        assert!(violation.message("en").is_ascii(), "{}", violation.message("en"));
        assert!(violation.message("zh").chars().any(|c| c > '\u{3000}'), "{}", violation.message("zh"));
    }
}

#[test]
fn authority_checks_the_level_of_pre_reviews_and_approvals_on_every_replica() {
    use rollcall_core::authority::{Authority, AuthorityError};
    use rollcall_core::event::{BodyHash, EventHash, EventId, Header, ReplicaId, Seq};
    use rollcall_core::{EventKind, HlcTime};
    let root = ReplicaId([1; 32]);
    let authority = Authority::new(root, unit("hb"));
    let header = |kind| Header {
        format_version: 1,
        event_id: EventId([0; 16]),
        replica: root,
        seq: Seq(1),
        prev: EventHash([0; 32]),
        hlc: HlcTime::default(),
        unit_path: unit(B1),
        kind,
        body_hash: BodyHash([0; 32]),
        author: String::new(),
    };
    // The province may approve 不予承认, but may not pose as a college pre-reviewer.
    let approval = approve("c1", T::NonRecognition).encode();
    assert_eq!(authority.check_parts(&header(EventKind::DispositionApproved), Some(&approval)), Ok(()));
    let review = pre_review("c1", Level::College, T::CorrectionPeriod, true).encode();
    assert!(matches!(
        authority.check_parts(&header(EventKind::DispositionPreReviewed), Some(&review)),
        Err(AuthorityError::StepLevelNotAllowed { .. })
    ));
}

/// Every refusal of a step out of order names what must happen first (issue 13).
#[test]
fn a_step_out_of_order_names_what_is_missing() {
    let mut world = world_with_member(proto::MemberCategory::Full);
    world.ok(B1, lost("m1", day(2023, 1, 1), proto::LostSituation::LeftJob));
    let missing_zh = |world: &mut World, unit: &str, level: Level, body: Body| match world.author_at(unit, level, body)
    {
        Err(R::OutOfOrder { missing_zh, missing, .. }) => {
            assert!(!missing.is_empty());
            missing_zh
        }
        other => panic!("expected a step out of order, got {other:?}"),
    };
    world.ok(B1, Body::DispositionProposed(propose("k1", "m1", T::PersuadeToWithdraw)));
    let unanimous = || Body::DispositionVoted(vote("k1", 7, 0, 7, 7));
    assert_eq!(missing_zh(&mut world, B1, Level::Branch, unanimous()), "须先由党支部调查核实");
    world.ok(B1, investigate("k1"));
    assert_eq!(missing_zh(&mut world, B1, Level::Branch, unanimous()), "还缺院系党委和高校党委（书面）的预审");
    world
        .author_at(B1, Level::College, pre_review("k1", Level::College, T::PersuadeToWithdraw, true))
        .expect("college");
    let refused = world.author_at(B1, Level::Branch, unanimous()).expect_err("the university has not pre-reviewed");
    assert!(refused.message_zh().contains("还缺高校党委（书面）的预审"), "{}", refused.message_zh());
    world
        .author_at(B1, Level::University, pre_review("k1", Level::University, T::PersuadeToWithdraw, true))
        .expect("uni");
    assert_eq!(
        missing_zh(&mut world, B1, Level::College, approve("k1", T::PersuadeToWithdraw)),
        "须先经支部大会表决通过"
    );
    // 3 of 7 in favour: the meeting does not pass it, and the case is closed.
    world.ok(B1, Body::DispositionVoted(vote("k1", 7, 0, 7, 3)));
    assert_eq!(
        missing_zh(&mut world, B1, Level::College, approve("k1", T::PersuadeToWithdraw)),
        "支部大会未通过，案件已结束；如有新的事实，可重新提出处置意见"
    );
}
