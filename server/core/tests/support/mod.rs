//! A small world for audit tests: authors events at any level through the rules, and
//! keeps them so they can be replayed in another order.

#![allow(dead_code)]

use chrono::NaiveDate;
use rollcall_core::audit::Projection;
use rollcall_core::audit::member::Stamp;
use rollcall_core::audit::rules::{self, AuthorContext, RuleViolation};
use rollcall_core::body::Body;
use rollcall_core::event::{BodyHash, EventHash, EventId, Header, ReplicaId, Seq};
use rollcall_core::proto;
use rollcall_core::{HlcTime, Level, UnitPath};

/// One authored event.
#[derive(Clone, Debug)]
pub struct Authored {
    pub header: Header,
    pub body: Body,
    pub level: Level,
}

pub struct World {
    pub projection: Projection,
    pub events: Vec<Authored>,
    pub today: NaiveDate,
    wall_ms: u64,
    seqs: [u64; 5],
}

pub fn day(y: i32, m: u32, d: u32) -> Option<proto::Date> {
    Some(proto::Date { year: y, month: m, day: d })
}

pub fn unit(text: &str) -> UnitPath {
    UnitPath::parse(text).expect("valid test unit")
}

pub fn level_of(text: &str) -> Level {
    unit(text).level().expect("a unit has a level")
}

impl World {
    /// A world whose "today" is 2025-03-31.
    pub fn new() -> World {
        World {
            projection: Projection::new(),
            events: Vec::new(),
            today: NaiveDate::from_ymd_opt(2025, 3, 31).expect("valid"),
            wall_ms: 1_743_000_000_000,
            seqs: [0; 5],
        }
    }

    fn header(&mut self, unit_path: &str, level: Level) -> Header {
        self.wall_ms += 1000;
        let index = level.depth();
        self.seqs[index] += 1;
        Header {
            format_version: 1,
            event_id: EventId([(self.events.len() % 251) as u8; 16]),
            replica: ReplicaId([index as u8; 32]),
            seq: Seq(self.seqs[index]),
            prev: EventHash([0; 32]),
            hlc: HlcTime { wall_ms: self.wall_ms, logical: 0 },
            unit_path: unit(unit_path),
            kind: rollcall_core::EventKind::Unspecified,
            body_hash: BodyHash([0; 32]),
            author: "tester".into(),
        }
    }

    /// Authors `body` about `unit_path` by a replica at `level`: rules first, then apply.
    pub fn author_at(&mut self, unit_path: &str, level: Level, body: Body) -> Result<(), RuleViolation> {
        let mut header = self.header(unit_path, level);
        header.kind = body.kind();
        let context = AuthorContext { unit: unit(unit_path), level, today: self.today, stamp: Stamp::of(&header) };
        rules::check(&self.projection, &context, &body)?;
        let _undo = self.projection.apply(&header, &body, level);
        self.events.push(Authored { header, body, level });
        Ok(())
    }

    /// Applies `body` about `unit_path` as a replica at `level` that bypasses the rules
    /// would (a compromised key): no rule is checked; authority is the caller's concern.
    pub fn force(&mut self, unit_path: &str, level: Level, body: Body) {
        let mut header = self.header(unit_path, level);
        header.kind = body.kind();
        let _undo = self.projection.apply(&header, &body, level);
        self.events.push(Authored { header, body, level });
    }

    /// [`World::force`] with the author's clock set to `wall_ms` (a backdated event).
    pub fn force_at(&mut self, unit_path: &str, level: Level, body: Body, wall_ms: u64) {
        let mut header = self.header(unit_path, level);
        header.kind = body.kind();
        header.hlc.wall_ms = wall_ms;
        let _undo = self.projection.apply(&header, &body, level);
        self.events.push(Authored { header, body, level });
    }

    /// A projection of only the events filed within `scope` or on its ancestor path
    /// with bodies (what a replica at `scope` holds), in authoring order.
    pub fn seen_from(&self, scope: &str) -> Projection {
        let scope = unit(scope);
        let mut projection = Projection::for_unit(scope.clone());
        for event in &self.events {
            let at = &event.header.unit_path;
            if at.is_within(&scope) || scope.is_within(at) {
                let _undo = projection.apply(&event.header, &event.body, event.level);
            }
        }
        projection
    }

    /// Authors at the unit's own level.
    pub fn author(&mut self, unit_path: &str, body: Body) -> Result<(), RuleViolation> {
        self.author_at(unit_path, level_of(unit_path), body)
    }

    /// Authors and panics on refusal.
    pub fn ok(&mut self, unit_path: &str, body: Body) {
        if let Err(violation) = self.author(unit_path, body) {
            panic!("refused: {violation}");
        }
    }

    /// A projection of the same events applied in `order`.
    pub fn replay(&self, order: &[usize]) -> Projection {
        let mut projection = Projection::new();
        for index in order {
            let event = &self.events[*index];
            let _undo = projection.apply(&event.header, &event.body, event.level);
        }
        projection
    }
}

pub const PROVINCE: &str = "hb";

/// The campaign of 2025, as of 2025-03-31.
pub fn campaign() -> Body {
    use proto::DeadlineKind as K;
    let deadline = |kind: K, m, d| proto::Deadline { kind: kind as i32, due: day(2025, m, d) };
    Body::CampaignOpened(proto::CampaignOpened {
        campaign_id: "2025".into(),
        name: "2025年党员组织关系集中排查".into(),
        year: 2025,
        deadlines: vec![
            deadline(K::UniversityTables, 4, 15),
            deadline(K::ProvinceTables, 4, 20),
            deadline(K::MemberDatabase, 5, 31),
            deadline(K::Dispositions, 8, 31),
        ],
        as_of: day(2025, 3, 31),
        policy: None,
    })
}

/// A valid citizen ID for a birth date.
pub fn id_number(birth: (i32, u32, u32), serial: u32) -> String {
    let first17 = format!("420102{:04}{:02}{:02}{:03}", birth.0, birth.1, birth.2, serial % 1000);
    format!("{first17}{}", rules::id_check_digit(&first17))
}

pub fn form(
    name: &str,
    group: proto::PersonGroup,
    category: proto::MemberCategory,
    birth: (i32, u32, u32),
) -> proto::MemberForm {
    proto::MemberForm {
        name: name.into(),
        gender: proto::Gender::Female as i32,
        ethnicity_code: 1,
        id_number: id_number(birth, name.len() as u32),
        birth_date: day(birth.0, birth.1, birth.2),
        education_code: 21,
        category: category as i32,
        joined_date: day(birth.0 + 20, 6, 1),
        full_member_date: if category == proto::MemberCategory::Full { day(birth.0 + 21, 6, 1) } else { None },
        membership_status: proto::MembershipStatus::Normal as i32,
        person_group: group as i32,
        ..Default::default()
    }
}

pub fn register(member_id: &str, form: proto::MemberForm) -> Body {
    Body::MemberRegistered(proto::MemberRegistered {
        member_id: member_id.into(),
        form: Some(form),
        source: proto::member_registered::Source::Manual as i32,
    })
}

pub fn lost(member_id: &str, since: Option<proto::Date>, situation: proto::LostSituation) -> Body {
    Body::ContactStatusAssessed(proto::ContactStatusAssessed {
        member_id: member_id.into(),
        status: proto::ContactStatus::LostStatus as i32,
        last_org_life: since,
        last_dues: since,
        situation: situation as i32,
        ..Default::default()
    })
}

pub fn attempt(member_id: &str, method: proto::ContactMethod, on: Option<proto::Date>) -> Body {
    Body::ContactAttempted(proto::ContactAttempted {
        member_id: member_id.into(),
        method: method as i32,
        department: if method == proto::ContactMethod::ThroughDepartment {
            proto::Department::PublicSecurity as i32
        } else {
            0
        },
        attempted_on: on,
        outcome: proto::contact_attempted::Outcome::NoResponse as i32,
        note: String::new(),
    })
}

pub fn propose(case_id: &str, member_id: &str, disposition: proto::DispositionType) -> proto::DispositionProposed {
    proto::DispositionProposed {
        case_id: case_id.into(),
        member_id: member_id.into(),
        disposition: disposition as i32,
        grounds: vec![proto::UnqualifiedGround::WorkSlack as i32],
        trigger: proto::DispositionTrigger::AuditFinding as i32,
        facts: "经查实".into(),
        proposed_on: day(2025, 3, 1),
    }
}

pub fn investigate(case_id: &str) -> Body {
    Body::DispositionInvestigated(proto::DispositionInvestigated {
        case_id: case_id.into(),
        report: "调查报告".into(),
        talked_by: vec!["甲".into(), "乙".into()],
        member_unreachable: false,
        investigated_on: day(2025, 3, 5),
    })
}

pub fn pre_review(case_id: &str, level: Level, disposition: proto::DispositionType, agreed: bool) -> Body {
    Body::DispositionPreReviewed(proto::DispositionPreReviewed {
        case_id: case_id.into(),
        reviewer_level: level.to_proto() as i32,
        written: true,
        agreed,
        opinion: "同意".into(),
        reviewed_on: day(2025, 3, 10),
        disposition: disposition as i32,
    })
}

pub fn vote(case_id: &str, total: u32, excluded: u32, present: u32, votes_for: u32) -> proto::DispositionVoted {
    proto::DispositionVoted {
        case_id: case_id.into(),
        meeting_on: day(2025, 3, 15),
        full_members_total: total,
        excluded,
        present,
        votes_for,
        votes_against: present - votes_for,
        abstentions: 0,
        member_defended: true,
        secret_ballot: true,
    }
}

pub fn approve(case_id: &str, disposition: proto::DispositionType) -> Body {
    Body::DispositionApproved(proto::DispositionApproved {
        case_id: case_id.into(),
        approved_on: day(2025, 3, 20),
        collective: true,
        approving_body: "院系党委".into(),
        disposition: disposition as i32,
    })
}

pub fn file(case_id: &str) -> Body {
    Body::DispositionFiled(proto::DispositionFiled {
        case_id: case_id.into(),
        filed_with: "高校党委组织部".into(),
        filed_on: day(2025, 3, 25),
        member_notified_on: day(2025, 3, 25),
    })
}
