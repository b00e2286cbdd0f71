//! Table-driven tests of what a replica does with each kind of bad input it may receive
//! (issue: identity, authority and sync): every case is refused with its named reason,
//! and the good events around it are still accepted.

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use rollcall_core::authority::{Authority, AuthorityError, Role};
use rollcall_core::body::Body;
use rollcall_core::log::{ChainError, Draft, Head, LocalWriter};
use rollcall_core::sync::{Admission, Refusal, admit};
use rollcall_core::{
    EventId, EventKind, HlcTime, ReplicaId, SignedEvent, UnitPath, VerifiedEvent, VerifyError, proto, verify,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn replica(key: &SigningKey) -> ReplicaId {
    ReplicaId(key.verifying_key().to_bytes())
}

fn unit(text: &str) -> UnitPath {
    UnitPath::parse(text).expect("valid")
}

/// A replica's log under construction.
struct Author {
    key: SigningKey,
    writer: LocalWriter,
    next_id: u64,
}

impl Author {
    fn new(seed: u8) -> Author {
        let key = key(seed);
        let writer = LocalWriter::new(replica(&key), Head::EMPTY, HlcTime::default());
        Author { key, writer, next_id: 0 }
    }

    fn event(&mut self, unit_path: &str, kind: EventKind, body: Body) -> VerifiedEvent {
        self.next_id += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_id.to_be_bytes());
        // Unique across authors, as UUIDv7s are.
        id[8..].copy_from_slice(&self.key.verifying_key().to_bytes()[..8]);
        let draft = Draft { unit_path: unit(unit_path), kind, body: body.encode(), author: "t".into() };
        self.writer.prepare(1_000 + self.next_id, EventId(id), draft).expect("valid draft").sign(&self.key)
    }

    fn note(&mut self, unit_path: &str) -> VerifiedEvent {
        self.event(
            unit_path,
            EventKind::ConductNoted,
            Body::ConductNoted(proto::ConductNoted {
                member_id: "m1".into(),
                summary: "s".into(),
                violation_reported: false,
            }),
        )
    }

    fn enroll(&mut self, child: &SigningKey, unit_path: &str, role: Role) -> VerifiedEvent {
        self.event(
            unit_path,
            EventKind::ReplicaEnrolled,
            Body::ReplicaEnrolled(proto::ReplicaEnrolled {
                public_key: Bytes::copy_from_slice(&replica(child).0),
                unit_path: unit_path.into(),
                level: unit(unit_path).level().expect("level").to_proto() as i32,
                role: role.to_proto() as i32,
                valid_until_ms: 0,
                label: String::new(),
            }),
        )
    }

    fn revoke(&mut self, target: &SigningKey, unit_path: &str, after: u64) -> VerifiedEvent {
        self.event(
            unit_path,
            EventKind::ReplicaRevoked,
            Body::ReplicaRevoked(proto::ReplicaRevoked {
                public_key: Bytes::copy_from_slice(&replica(target).0),
                revoked_after_seq: after,
                reason: "lost laptop".into(),
            }),
        )
    }
}

/// A receiving replica: authority plus the logs it holds.
struct Receiver {
    authority: Authority,
    /// The unit the receiving replica serves (the province unless a test says).
    unit: UnitPath,
    logs: std::collections::HashMap<ReplicaId, Vec<VerifiedEvent>>,
}

impl Receiver {
    fn new(root: &SigningKey) -> Receiver {
        Receiver { authority: Authority::new(replica(root), unit("hb")), unit: unit("hb"), logs: Default::default() }
    }

    fn receive(&mut self, event: &VerifiedEvent) -> Admission {
        let log = self.logs.entry(event.replica()).or_default();
        let head = log.last().map_or(Head::EMPTY, Head::of);
        let held: Vec<_> = log.iter().map(VerifiedEvent::hash).collect();
        let admission =
            admit(&mut self.authority, &self.unit, head, event, |seq| held.get(seq.0 as usize - 1).copied());
        if admission == Admission::Accept {
            self.logs.entry(event.replica()).or_default().push(event.clone());
        }
        admission
    }

    fn accept_all(&mut self, events: &[VerifiedEvent]) {
        for event in events {
            assert_eq!(
                self.receive(event),
                Admission::Accept,
                "setup event {:?} seq {}",
                event.header().kind,
                event.seq()
            );
        }
    }
}

fn refused_by_authority(admission: Admission) -> AuthorityError {
    match admission {
        Admission::Refuse(Refusal::Authority(error)) => error,
        other => panic!("expected an authority refusal, got {other:?}"),
    }
}

/// Province → university → college → branch, and a laptop of the branch.
struct Tree {
    province: Author,
    university: Author,
    college: Author,
    branch: Author,
    laptop: Author,
    setup: Vec<VerifiedEvent>,
}

fn tree() -> Tree {
    let mut province = Author::new(1);
    let mut university = Author::new(2);
    let mut college = Author::new(3);
    let mut branch = Author::new(4);
    let laptop = Author::new(5);
    let setup = vec![
        province.enroll(&university.key, "hb/u1", Role::Node),
        university.enroll(&college.key, "hb/u1/c1", Role::Node),
        college.enroll(&branch.key, "hb/u1/c1/b1", Role::Node),
        branch.enroll(&laptop.key, "hb/u1/c1/b1", Role::Laptop),
    ];
    Tree { province, university, college, branch, laptop, setup }
}

/// Goal: the good path, then each named refusal of the issue, each leaving the rest intact.
#[test]
fn each_bad_input_is_refused_with_its_reason() {
    let mut t = tree();
    let mut receiver = Receiver::new(&t.province.key);
    receiver.accept_all(&t.setup);

    // Good: a branch writes about itself; a laptop about its branch.
    let good = t.branch.note("hb/u1/c1/b1");
    assert_eq!(receiver.receive(&good), Admission::Accept);
    let laptop_first = t.laptop.note("hb/u1/c1/b1");
    assert_eq!(receiver.receive(&laptop_first), Admission::Accept);

    // Forged signature: caught by verification, before admission.
    let mut forged = good.to_signed();
    let mut signature = forged.signature.to_vec();
    signature[0] ^= 1;
    forged.signature = Bytes::from(signature);
    assert!(matches!(verify(&forged), Err(VerifyError::BadSignature { .. })));

    // Altered body.
    let altered = SignedEvent { body: Some(Bytes::from_static(b"\x0a\x02m9")), ..good.to_signed() };
    assert!(matches!(verify(&altered), Err(VerifyError::BodyHashMismatch { .. })));

    // Broken chain: the branch's third event without its second.
    let second = t.branch.note("hb/u1/c1/b1");
    let third = t.branch.note("hb/u1/c1/b1");
    assert!(matches!(receiver.receive(&third), Admission::Refuse(Refusal::Chain(ChainError::Gap { .. }))));
    assert_eq!(receiver.receive(&second), Admission::Accept);
    assert_eq!(receiver.receive(&third), Admission::Accept);

    // Unenrolled key.
    let mut stranger = Author::new(9);
    let unknown = stranger.note("hb/u1/c1/b1");
    assert!(matches!(refused_by_authority(receiver.receive(&unknown)), AuthorityError::NotEnrolled { .. }));

    // Outside the author's subtree: the branch writes about another branch (signed on a
    // copy of its writer, so the branch's own log continues without it).
    let mut branch_copy = Author::new(4);
    branch_copy.writer = LocalWriter::new(replica(&branch_copy.key), Head::of(&third), HlcTime::default());
    let outside = branch_copy.note("hb/u1/c1/b2");
    assert!(matches!(refused_by_authority(receiver.receive(&outside)), AuthorityError::OutsideSubtree { .. }));

    // Kind not allowed at the author's level: a branch approves a disposition; a
    // university opens a campaign.
    let mut branch2 = Author::new(4);
    branch2.writer = LocalWriter::new(replica(&branch2.key), Head::of(&third), HlcTime::default());
    let approval = branch2.event(
        "hb/u1/c1/b1",
        EventKind::DispositionApproved,
        Body::DispositionApproved(proto::DispositionApproved { case_id: "c".into(), ..Default::default() }),
    );
    assert!(matches!(refused_by_authority(receiver.receive(&approval)), AuthorityError::KindNotAllowed { .. }));
    let mut university_copy = Author::new(2);
    university_copy.writer = LocalWriter::new(replica(&university_copy.key), Head::of(&t.setup[1]), HlcTime::default());
    let campaign = university_copy.event(
        "hb/u1",
        EventKind::CampaignOpened,
        Body::CampaignOpened(proto::CampaignOpened { campaign_id: "2027".into(), ..Default::default() }),
    );
    assert!(matches!(refused_by_authority(receiver.receive(&campaign)), AuthorityError::KindNotAllowed { .. }));

    // Equivocation: the branch signs another event at seq 2.
    let mut fork = Author::new(4);
    fork.writer = LocalWriter::new(replica(&fork.key), Head::of(&good), HlcTime::default());
    let forked = fork.event(
        "hb/u1/c1/b1",
        EventKind::ConductNoted,
        Body::ConductNoted(proto::ConductNoted {
            member_id: "other".into(),
            summary: "x".into(),
            violation_reported: true,
        }),
    );
    assert_eq!(forked.seq(), second.seq());
    assert!(matches!(receiver.receive(&forked), Admission::Equivocation { .. }));

    // A replayed old batch: every event a duplicate, nothing changes.
    let before = receiver.logs.values().map(Vec::len).sum::<usize>();
    for event in t.setup.iter().chain([&good, &second, &third]) {
        assert_eq!(receiver.receive(event), Admission::Duplicate);
    }
    assert_eq!(receiver.logs.values().map(Vec::len).sum::<usize>(), before);

    // Revoked key: the branch revokes its laptop after seq 1; seq 1 stays valid (it
    // was accepted above), seq 2 signed offline afterwards is refused.
    let laptop_second = t.laptop.note("hb/u1/c1/b1");
    let revocation = t.branch.revoke(&t.laptop.key, "hb/u1/c1/b1", 1);
    assert_eq!(receiver.receive(&revocation), Admission::Accept);
    assert!(matches!(refused_by_authority(receiver.receive(&laptop_second)), AuthorityError::Revoked { .. }));
    assert_eq!(receiver.logs[&replica(&t.laptop.key)].len(), 1, "the laptop's event before its revocation stays");

    // The rest still flows: the college writes about its branch.
    let college_note = t.college.note("hb/u1/c1/b1");
    assert_eq!(receiver.receive(&college_note), Admission::Accept);
}

/// Goal: authority over enrollment itself: a node enrolls only below its unit, a laptop
/// enrolls nobody, and a viewer writes nothing.
#[test]
fn enrollment_is_bounded_by_the_enroller() {
    let mut t = tree();
    let mut receiver = Receiver::new(&t.province.key);
    receiver.accept_all(&t.setup);
    let intruder = key(20);
    let mut college_copy = Author::new(3);
    college_copy.writer = LocalWriter::new(replica(&college_copy.key), Head::of(&t.setup[2]), HlcTime::default());
    let sideways = college_copy.enroll(&intruder, "hb/u1/c2", Role::Node);
    assert!(matches!(refused_by_authority(receiver.receive(&sideways)), AuthorityError::OutsideSubtree { .. }));
    let same_level = college_copy.enroll(&intruder, "hb/u1/c1", Role::Node);
    assert!(matches!(
        refused_by_authority(receiver.receive(&same_level)),
        AuthorityError::InvalidInfrastructure { .. }
    ));
    let by_laptop = t.laptop.enroll(&intruder, "hb/u1/c1/b1", Role::Laptop);
    assert!(matches!(refused_by_authority(receiver.receive(&by_laptop)), AuthorityError::KindNotAllowed { .. }));
    let viewer = key(21);
    let enrolled_viewer = t.university.enroll(&viewer, "hb/u1", Role::Viewer);
    assert_eq!(receiver.receive(&enrolled_viewer), Admission::Accept);
    let mut viewer_author = Author {
        key: viewer,
        writer: LocalWriter::new(ReplicaId([0; 32]), Head::EMPTY, HlcTime::default()),
        next_id: 0,
    };
    viewer_author.writer = LocalWriter::new(replica(&viewer_author.key), Head::EMPTY, HlcTime::default());
    let written_by_viewer = viewer_author.note("hb/u1");
    assert!(matches!(
        refused_by_authority(receiver.receive(&written_by_viewer)),
        AuthorityError::KindNotAllowed { .. }
    ));
    // Nobody revokes the root.
    let root_revocation = t.university.revoke(&t.province.key, "hb/u1", 1);
    assert!(matches!(
        refused_by_authority(receiver.receive(&root_revocation)),
        AuthorityError::InvalidInfrastructure { .. }
    ));
    // Nobody is enrolled with a weak key (of small order: the identity point here), whose
    // signatures would verify for many messages, e.g. a viewer's dashboard credentials.
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let weak_viewer = t.university.event(
        "hb/u1",
        EventKind::ReplicaEnrolled,
        Body::ReplicaEnrolled(proto::ReplicaEnrolled {
            public_key: Bytes::copy_from_slice(&weak),
            unit_path: "hb/u1".into(),
            level: proto::Level::University as i32,
            role: Role::Viewer.to_proto() as i32,
            valid_until_ms: 0,
            label: String::new(),
        }),
    );
    assert!(matches!(
        refused_by_authority(receiver.receive(&weak_viewer)),
        AuthorityError::InvalidInfrastructure { .. }
    ));
}

/// Goal: concurrent corrections of one field are both kept and shown as a conflict,
/// whatever the order they arrive in, until a correction settles them.
#[test]
fn concurrent_corrections_conflict_until_settled() {
    use rollcall_core::conflict::FieldEdits;
    let correction = |author: &mut Author, value: &str, settles: Vec<Bytes>| {
        author.event(
            "hb/u1/c1/b1",
            EventKind::RecordCorrected,
            Body::RecordCorrected(proto::RecordCorrected {
                member_id: "b1-000001".into(),
                field: proto::MemberField::Phone as i32,
                new_value: value.into(),
                reason: "核对".into(),
                settles,
            }),
        )
    };
    let mut first = Author::new(11);
    let mut second = Author::new(12);
    let a = correction(&mut first, "13800000001", vec![]);
    let b = correction(&mut second, "13900000002", vec![]);
    let field = proto::MemberField::Phone as i32;
    for order in [[&a, &b], [&b, &a]] {
        let mut edits = FieldEdits::default();
        for event in order {
            edits.apply(event);
        }
        let conflicts = edits.conflicts("b1-000001", &unit("hb/u1/c1/b1"));
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].candidates.len(), 2);
        // Same winner whatever the order: the later hybrid-logical time, then the replica.
        let expected =
            if (a.header().hlc, a.replica()) > (b.header().hlc, b.replica()) { "13800000001" } else { "13900000002" };
        assert_eq!(edits.current(field).expect("corrected").value, expected);
        assert_eq!(edits.value(field), Some(expected));
    }
    let settle = correction(
        &mut first,
        "13900000002",
        vec![Bytes::copy_from_slice(&a.header().event_id.0), Bytes::copy_from_slice(&b.header().event_id.0)],
    );
    let mut edits = FieldEdits::default();
    for event in [&settle, &b, &a] {
        edits.apply(event);
    }
    assert!(edits.conflicts("b1-000001", &unit("hb/u1/c1/b1")).is_empty());
    assert_eq!(edits.value(field), Some("13900000002"));
}

/// Goal: only a node's own children sync with it as children, and not once revoked.
/// Method: the tree's replicas asked of each node; then the laptop revoked by its branch.
#[test]
fn only_children_in_good_standing_sync_as_children() {
    let mut t = tree();
    let mut receiver = Receiver::new(&t.province.key);
    receiver.accept_all(&t.setup);
    let authority = &receiver.authority;
    let branch_unit = unit("hb/u1/c1/b1");
    assert_eq!(authority.sync_child_unit(&replica(&t.university.key), &unit("hb")), Some(unit("hb/u1")));
    assert_eq!(authority.sync_child_unit(&replica(&t.branch.key), &unit("hb/u1/c1")), Some(branch_unit.clone()));
    assert_eq!(authority.sync_child_unit(&replica(&t.laptop.key), &branch_unit), Some(branch_unit.clone()));
    // Not a grandchild, not a parent, not a laptop of another unit, not unknown keys.
    assert_eq!(authority.sync_child_unit(&replica(&t.branch.key), &unit("hb/u1")), None);
    assert_eq!(authority.sync_child_unit(&replica(&t.college.key), &branch_unit), None);
    assert_eq!(authority.sync_child_unit(&replica(&t.laptop.key), &unit("hb/u1/c1")), None);
    assert_eq!(authority.sync_child_unit(&replica(&key(77)), &branch_unit), None);
    let revocation = t.branch.revoke(&t.laptop.key, "hb/u1/c1/b1", 0);
    assert_eq!(receiver.receive(&revocation), Admission::Accept);
    assert_eq!(
        receiver.authority.sync_child_unit(&replica(&t.laptop.key), &branch_unit),
        None,
        "a lost laptop is cut off"
    );
}

/// Issue 12, item 3: a stub of an event the receiver is entitled to hold in full is
/// refused (storing it would lose the body here and at every ancestor for good); a stub
/// outside the receiver's view of bodies is what scope sends, and is accepted.
#[test]
fn a_stub_in_scope_is_refused_and_one_out_of_view_is_accepted() {
    let mut t = tree();
    // The province holds the laptop's log in full: a stub of it is refused...
    let mut province = Receiver::new(&t.province.key);
    province.accept_all(&t.setup);
    let own = t.laptop.note("hb/u1/c1/b1");
    let stub = verify(&own.to_stub().to_signed()).expect("a stub verifies");
    assert!(matches!(province.receive(&stub), Admission::Refuse(Refusal::StubInScope(_))));
    // ...and the full event after it is stored, not counted as a duplicate of a stub.
    assert_eq!(province.receive(&own), Admission::Accept);

    // A sibling branch receives the college's log filtered: the college's event about
    // b1 reaches b2 as a stub, which b2 stores (it may not see b1's bodies).
    let b2 = Author::new(6);
    let mut at_b2 = Receiver::new(&t.province.key);
    at_b2.unit = unit("hb/u1/c1/b2");
    at_b2.accept_all(&t.setup);
    at_b2.accept_all(&[t.college.enroll(&b2.key, "hb/u1/c1/b2", Role::Node)]);
    let about_b1 = t.college.note("hb/u1/c1/b1");
    let stub = verify(&about_b1.to_stub().to_signed()).expect("a stub verifies");
    assert_eq!(at_b2.receive(&stub), Admission::Accept);
    // But a stub of the college's event about b2 itself is refused at b2.
    let about_b2 = t.college.note("hb/u1/c1/b2");
    let stub = verify(&about_b2.to_stub().to_signed()).expect("a stub verifies");
    assert!(matches!(at_b2.receive(&stub), Admission::Refuse(Refusal::StubInScope(_))));
}

/// Issue 12, item 4: each sign-off only at its level; findings of duplicate relations
/// only by a node at or above the college, naming only branches inside its unit.
#[test]
fn sign_offs_and_findings_are_checked_at_their_levels_on_receipt() {
    use proto::form_signed_off::Stage as S;
    let mut t = tree();
    let mut receiver = Receiver::new(&t.province.key);
    receiver.accept_all(&t.setup);
    let signoff = |stage: S| {
        Body::FormSignedOff(proto::FormSignedOff { member_id: "m1".into(), stage: stage as i32, signed_on: None })
    };
    // The branch's own stages are fine from the branch and its laptop.
    let confirmed = t.laptop.event("hb/u1/c1/b1", EventKind::FormSignedOff, signoff(S::MemberConfirmed));
    assert_eq!(receiver.receive(&confirmed), Admission::Accept);
    // The committee's re-check signed by the branch is refused; by the college accepted.
    let mut branch_copy = Author::new(4);
    branch_copy.writer = t.branch.writer.clone();
    let forged = branch_copy.event("hb/u1/c1/b1", EventKind::FormSignedOff, signoff(S::CommitteeRechecked));
    assert!(matches!(refused_by_authority(receiver.receive(&forged)), AuthorityError::SignOffLevel { .. }));
    let rechecked = t.college.event("hb/u1/c1/b1", EventKind::FormSignedOff, signoff(S::CommitteeRechecked));
    assert_eq!(receiver.receive(&rechecked), Admission::Accept);
    // The college may not do the branch's first check.
    let mut college_copy = Author::new(3);
    college_copy.writer = t.college.writer.clone();
    let wrong = college_copy.event("hb/u1/c1/b1", EventKind::FormSignedOff, signoff(S::BranchChecked));
    assert!(matches!(refused_by_authority(receiver.receive(&wrong)), AuthorityError::SignOffLevel { .. }));

    // A branch may not record a duplicate-relation finding; a college may, naming only
    // branches within its own unit.
    let found = |units: &[&str]| {
        Body::DuplicateRelationFound(proto::DuplicateRelationFound {
            member_id: "m1".into(),
            relations: units
                .iter()
                .map(|u| proto::RelationClaim { unit_path: (*u).into(), ..Default::default() })
                .collect(),
            counted_at: units[0].into(),
        })
    };
    let by_branch = branch_copy.event("hb/u1/c1/b1", EventKind::DuplicateRelationFound, found(&["hb/u1/c1/b1"]));
    assert!(matches!(refused_by_authority(receiver.receive(&by_branch)), AuthorityError::KindNotAllowed { .. }));
    let reaching_out =
        college_copy.event("hb/u1/c1", EventKind::DuplicateRelationFound, found(&["hb/u1/c1/b1", "hb/u1/c2/b2"]));
    assert!(matches!(
        refused_by_authority(receiver.receive(&reaching_out)),
        AuthorityError::StepLevelNotAllowed { .. }
    ));
    let fair = t.college.event("hb/u1/c1", EventKind::DuplicateRelationFound, found(&["hb/u1/c1/b1", "hb/u1/c1/b2"]));
    assert_eq!(receiver.receive(&fair), Admission::Accept);
}

/// A unit submits only its own tables; only the level directly above verifies or returns
/// them (review of issue 13).
#[test]
fn reports_are_filed_by_their_unit_and_judged_by_its_parent() {
    let mut t = tree();
    let mut receiver = Receiver::new(&t.province.key);
    receiver.accept_all(&t.setup);
    let report =
        |table| Body::ReportSubmitted(proto::ReportSubmitted { campaign_id: "c".into(), table, ..Default::default() });
    let own = t.college.event("hb/u1/c1", EventKind::ReportSubmitted, report(1));
    assert_eq!(receiver.receive(&own), Admission::Accept);
    let mut university_copy = Author::new(2);
    university_copy.writer = t.university.writer.clone();
    let for_the_college = university_copy.event("hb/u1/c1", EventKind::ReportSubmitted, report(2));
    assert!(matches!(
        refused_by_authority(receiver.receive(&for_the_college)),
        AuthorityError::StepLevelNotAllowed { .. }
    ));
    let verdict = |table| {
        Body::ReportVerified(proto::ReportVerified {
            campaign_id: "c".into(),
            table,
            equal: true,
            ..Default::default()
        })
    };
    let by_the_province = t.province.event("hb/u1/c1", EventKind::ReportVerified, verdict(1));
    assert!(matches!(
        refused_by_authority(receiver.receive(&by_the_province)),
        AuthorityError::StepLevelNotAllowed { .. }
    ));
    let by_the_parent = t.university.event("hb/u1/c1", EventKind::ReportVerified, verdict(1));
    assert_eq!(receiver.receive(&by_the_parent), Admission::Accept);
}

/// Goal (issue 13): a unit is named by a level above it (the root names itself), every
/// receiver checks it; only the province changes the policy.
#[test]
fn units_are_named_from_above_and_the_policy_by_the_province() {
    let mut t = tree();
    let mut receiver = Receiver::new(&t.province.key);
    receiver.accept_all(&t.setup);
    let named = |unit_path: &str, org_type: proto::OrgType| {
        Body::UnitNamed(proto::UnitNamed {
            unit_path: unit_path.into(),
            name: "中共某单位委员会".into(),
            short_name: "某单位".into(),
            org_type: org_type as i32,
            org_code: String::new(),
        })
    };
    let root_itself = t.province.event("hb", EventKind::UnitNamed, named("hb", proto::OrgType::WorkingCommittee));
    assert_eq!(receiver.receive(&root_itself), Admission::Accept);
    let by_parent = t.college.event("hb/u1/c1/b1", EventKind::UnitNamed, named("hb/u1/c1/b1", proto::OrgType::Branch));
    assert_eq!(receiver.receive(&by_parent), Admission::Accept);
    let by_grandparent =
        t.university.event("hb/u1/c1/b1", EventKind::UnitNamed, named("hb/u1/c1/b1", proto::OrgType::Branch));
    assert_eq!(receiver.receive(&by_grandparent), Admission::Accept);
    // A unit does not name itself, a branch names nothing, a laptop names nothing.
    let itself = t.college.event("hb/u1/c1", EventKind::UnitNamed, named("hb/u1/c1", proto::OrgType::Committee));
    assert!(matches!(refused_by_authority(receiver.receive(&itself)), AuthorityError::StepLevelNotAllowed { .. }));
    let branch = t.branch.event("hb/u1/c1/b1", EventKind::UnitNamed, named("hb/u1/c1/b1", proto::OrgType::Branch));
    assert!(matches!(refused_by_authority(receiver.receive(&branch)), AuthorityError::KindNotAllowed { .. }));
    let laptop = t.laptop.event("hb/u1/c1/b1", EventKind::UnitNamed, named("hb/u1/c1/b1", proto::OrgType::Branch));
    assert!(matches!(refused_by_authority(receiver.receive(&laptop)), AuthorityError::KindNotAllowed { .. }));
    // The body names the unit the event is filed at: a name for a sibling's unit filed
    // at one's own child is refused.
    let elsewhere = t.university.event("hb/u1/c1", EventKind::UnitNamed, named("hb/u2/c9", proto::OrgType::Committee));
    assert!(matches!(refused_by_authority(receiver.receive(&elsewhere)), AuthorityError::StepLevelNotAllowed { .. }));
    // A forged name that breaks the name's rules is refused on receipt too (a college
    // naming its branch a 党委, or a name too long for any form).
    let misfit = t.college.event("hb/u1/c1/b1", EventKind::UnitNamed, named("hb/u1/c1/b1", proto::OrgType::Committee));
    assert!(matches!(refused_by_authority(receiver.receive(&misfit)), AuthorityError::StepLevelNotAllowed { .. }));
    let long = Body::UnitNamed(proto::UnitNamed {
        unit_path: "hb/u1/c1/b1".into(),
        name: "长".repeat(5000),
        org_type: proto::OrgType::Branch as i32,
        ..Default::default()
    });
    let long = t.college.event("hb/u1/c1/b1", EventKind::UnitNamed, long);
    assert!(matches!(refused_by_authority(receiver.receive(&long)), AuthorityError::StepLevelNotAllowed { .. }));
    // The policy is the province's.
    let policy = Body::PolicyChanged(proto::PolicyChanged {
        campaign_id: "c".into(),
        policy: Some(proto::Policy { lost_contact_months: 12, ..Default::default() }),
        reason: "r".into(),
    });
    let by_university = t.university.event("hb/u1", EventKind::PolicyChanged, policy.clone());
    assert!(matches!(refused_by_authority(receiver.receive(&by_university)), AuthorityError::KindNotAllowed { .. }));
    let by_province = t.province.event("hb", EventKind::PolicyChanged, policy);
    assert_eq!(receiver.receive(&by_province), Admission::Accept);
}

/// A restored node waits for every replica that syncs with it as a child (nodes one
/// level below and laptops of its unit, whoever enrolled them; not viewers, not the
/// revoked, quarantined or expired) and for its parent, until each has said what it
/// holds of the node's log and the node holds as much again.
#[test]
fn a_recovering_node_waits_for_every_peer_that_may_hold_its_log() {
    use rollcall_core::Seq;
    use rollcall_core::recovery::{Recovering, Report, WaitReason, heard_all_but, holders, waiting_for};
    let mut province = Author::new(1);
    let (university, laptop, viewer, lost, expired, college) = (key(2), key(3), key(4), key(5), key(6), key(7));
    let events = vec![
        province.enroll(&university, "hb/whu", Role::Node),
        province.enroll(&laptop, "hb", Role::Laptop),
        province.enroll(&viewer, "hb", Role::Viewer),
        province.enroll(&lost, "hb", Role::Laptop),
        province.revoke(&lost, "hb", 0),
        // A node two levels down syncs with its university, not the province.
        province.enroll(&college, "hb/whu/cs", Role::Node),
        // A laptop whose enrollment ran out long ago.
        province.event(
            "hb",
            EventKind::ReplicaEnrolled,
            Body::ReplicaEnrolled(proto::ReplicaEnrolled {
                public_key: Bytes::copy_from_slice(&replica(&expired).0),
                unit_path: "hb".into(),
                level: unit("hb").level().expect("level").to_proto() as i32,
                role: Role::Laptop.to_proto() as i32,
                valid_until_ms: 1,
                label: String::new(),
            }),
        ),
    ];
    let mut receiver = Receiver::new(&province.key);
    receiver.accept_all(&events);
    let own = replica(&province.key);
    let now_ms = 10_000_000;
    let mut expected = vec![replica(&university), replica(&laptop)];
    expected.sort();
    let found: Vec<ReplicaId> =
        holders(&receiver.authority, own, &unit("hb"), now_ms, None).into_iter().map(|(peer, _)| peer).collect();
    assert_eq!(
        found, expected,
        "the child node and the laptop; not the viewer, the revoked, the expired, the grandchild"
    );
    // A parent comes first.
    let parent = (replica(&key(9)), unit("hb"));
    assert_eq!(holders(&receiver.authority, own, &unit("hb"), now_ms, Some(parent.clone()))[0].0, parent.0);
    // Whoever enrolled them: the university waits for the college the province enrolled
    // below it, and for a laptop of its own unit the province enrolled.
    let university_laptop = key(8);
    receiver.accept_all(&[province.enroll(&university_laptop, "hb/whu", Role::Laptop)]);
    let mut below: Vec<ReplicaId> =
        holders(&receiver.authority, replica(&university), &unit("hb/whu"), now_ms, Some((own, unit("hb"))))
            .into_iter()
            .map(|(peer, _)| peer)
            .collect();
    assert_eq!(below.remove(0), own, "its parent first");
    let mut expected_below = vec![replica(&college), replica(&university_laptop)];
    expected_below.sort();
    assert_eq!(below, expected_below);

    let mut node = Recovering { own, unit: unit("hb"), parent: None, own_head: Seq(5) };
    let mut reported = std::collections::HashMap::new();
    let waiting = waiting_for(&receiver.authority, &node, now_ms, &reported);
    assert!(waiting.iter().all(|wait| wait.reason == WaitReason::NotHeard) && waiting.len() == 2);
    reported.insert(replica(&university), Report::Holds(Seq(7)));
    reported.insert(replica(&laptop), Report::Holds(Seq(5)));
    let waiting = waiting_for(&receiver.authority, &node, now_ms, &reported);
    assert_eq!(waiting.len(), 1);
    assert_eq!((waiting[0].peer, waiting[0].reason), (replica(&university), WaitReason::Holds(Seq(7))));
    assert_eq!(waiting[0].unit, unit("hb/whu"));
    // It has heard all its peers but the university: its hello to it says so.
    assert!(heard_all_but(&waiting, replica(&university)) && !heard_all_but(&waiting, replica(&laptop)));
    assert!(!heard_all_but(&[], replica(&university)), "waiting for nobody: the recovery is ending");
    node.own_head = Seq(7);
    assert!(waiting_for(&receiver.authority, &node, now_ms, &reported).is_empty(), "holds all they hold");
    // A peer recovering itself does not count, whatever it holds.
    reported.insert(replica(&laptop), Report::Recovering);
    let waiting = waiting_for(&receiver.authority, &node, now_ms, &reported);
    assert_eq!((waiting.len(), waiting[0].reason), (1, WaitReason::Recovering));
    reported.insert(replica(&laptop), Report::Holds(Seq(5)));
    // A quarantined child no longer syncs: it is not waited for.
    node.own_head = Seq(5);
    receiver.authority.quarantine(replica(&university));
    assert!(waiting_for(&receiver.authority, &node, now_ms, &reported).is_empty());
}

/// Goal: what a peer's hello reports of a recovering node's log, from its four figures.
/// Method: each case of the rule, by hand.
#[test]
fn a_hello_reports_what_its_sender_holds_unless_it_still_recovers() {
    use rollcall_core::Seq;
    use rollcall_core::recovery::Report;
    assert_eq!(Report::from_hello(false, false, Seq(7), Seq(0)), Report::Holds(Seq(7)), "what its heads hold");
    assert_eq!(Report::from_hello(false, false, Seq(7), Seq(9)), Report::Holds(Seq(9)), "or more it saw as stubs");
    assert_eq!(Report::from_hello(true, false, Seq(7), Seq(9)), Report::Recovering, "recovering, others unheard");
    assert_eq!(
        Report::from_hello(true, true, Seq(7), Seq(3)),
        Report::Holds(Seq(7)),
        "recovering but it heard all its other peers: its copy can grow from nowhere else"
    );
}
