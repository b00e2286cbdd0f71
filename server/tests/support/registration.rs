//! A member's registration draft, valid under the audit rules (a well-formed ID number,
//! dates, a member not registered before): the commonest event of an import. Shared by
//! the writer tests and the append benchmark, which include this file with `#[path]`
//! (integration tests and benchmarks cannot share a module otherwise).

use rollcall_core::body::Body;
use rollcall_core::log::Draft;
use rollcall_core::{EventKind, UnitPath, proto};

/// The registration of member number `idx` of the branch at `branch`; its member id is
/// the branch path with dots and the number.
pub fn registration(branch: &str, idx: usize) -> Draft {
    let first17 = format!("42010219800101{:03}", idx % 1000);
    let id_number = format!("{first17}{}", rollcall_core::audit::rules::id_check_digit(&first17));
    let date = |year, month, day| Some(proto::Date { year, month, day });
    Draft {
        unit_path: UnitPath::parse(branch).expect("a valid branch path"),
        kind: EventKind::MemberRegistered,
        body: Body::MemberRegistered(proto::MemberRegistered {
            member_id: format!("{}-{idx:08}", branch.replace('/', ".")),
            form: Some(proto::MemberForm {
                name: "王建华".into(),
                gender: proto::Gender::Male as i32,
                ethnicity_code: 1,
                id_number,
                birth_date: date(1980, 1, 1),
                education_code: 21,
                category: proto::MemberCategory::Full as i32,
                joined_date: date(2001, 7, 1),
                full_member_date: date(2002, 7, 1),
                phone: "13800000000".into(),
                person_group: proto::PersonGroup::Staff as i32,
                ..Default::default()
            }),
            source: proto::member_registered::Source::FormImport as i32,
        })
        .encode(),
        author: "test".into(),
    }
}
