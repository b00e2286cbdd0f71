//! Sample audit events for the demo and the benchmarks: members registered from the
//! per-member form, their contact status, and contact attempts for the lost ones.
//! Deterministic from a seed, so a demo is reproducible. (The province-scale generator
//! with realistic shares of every case is a separate piece of work.)

use rollcall_core::body::Body;
use rollcall_core::log::Draft;
use rollcall_core::proto as pb;
use rollcall_core::{EventKind, UnitPath};

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林",
    "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞",
    "平", "刚", "桂英", "建华", "志强", "晓东",
];

/// SplitMix64: a small, well-distributed deterministic generator.
#[derive(Clone, Debug)]
pub struct SampleRng(u64);

impl SampleRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> SampleRng {
        SampleRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A Chinese resident ID number (GB 11643-1999) with a valid check digit.
pub fn id_number(rng: &mut SampleRng, birth: &pb::Date) -> String {
    let region = 420100 + rng.below(20) * 100 + rng.below(10);
    let order = rng.below(1000);
    let body = format!("{region:06}{:04}{:02}{:02}{order:03}", birth.year, birth.month, birth.day);
    format!("{body}{}", id_check_digit(&body))
}

pub use rollcall_core::audit::rules::id_check_digit;

fn date(year: i32, month: u32, day: u32) -> Option<pb::Date> {
    Some(pb::Date { year, month, day })
}

/// Drafts for `n_members` members of `branch`: each registered, its contact status
/// assessed, and for about one in eight (the lost ones) two contact attempts.
pub fn member_drafts(branch: &UnitPath, n_members: usize, seed: u64, author: &str) -> Vec<Draft> {
    let mut rng = SampleRng::new(seed);
    let mut drafts = Vec::with_capacity(n_members * 2);
    for idx in 0..n_members {
        let member_id = format!("{}-{seed}-{idx:06}", branch.as_str().replace('/', "."));
        let birth = pb::Date {
            year: 1950 + rng.below(55) as i32,
            month: 1 + rng.below(12) as u32,
            day: 1 + rng.below(28) as u32,
        };
        let name = format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN));
        let lost = rng.below(8) == 0;
        let flowing = !lost && rng.below(10) == 0;
        let lost_since = if lost { date(2010 + rng.below(15) as i32, 1 + rng.below(12) as u32, 1) } else { None };
        let form = pb::MemberForm {
            name,
            gender: 1 + rng.below(2) as i32,
            ethnicity_code: if rng.below(10) == 0 { 2 + rng.below(55) as u32 } else { 1 },
            id_number: id_number(&mut rng, &birth),
            birth_date: Some(birth.clone()),
            education_code: *rng.pick(&[11, 12, 21, 22]),
            category: if rng.below(12) == 0 { pb::MemberCategory::Probationary } else { pb::MemberCategory::Full }
                as i32,
            branch_unit_path: branch.to_string(),
            joined_date: date((birth.year + 18 + rng.below(10) as i32).min(2025), 7, 1),
            phone: format!("13{:09}", rng.below(1_000_000_000)),
            address: format!("湖北省武汉市洪山区珞喻路{}号", 1 + rng.below(1000)),
            membership_status: pb::MembershipStatus::Normal as i32,
            lost,
            lost_since: lost_since.clone(),
            flowing,
            person_group: 1 + rng.below(5) as i32,
            native_place: "湖北武汉".into(),
            ..Default::default()
        };
        let draft = |kind: EventKind, body: Body| Draft {
            unit_path: branch.clone(),
            kind,
            body: body.encode(),
            author: author.to_string(),
        };
        drafts.push(draft(
            EventKind::MemberRegistered,
            Body::MemberRegistered(pb::MemberRegistered { member_id: member_id.clone(), form: Some(form), source: 2 }),
        ));
        let status = if lost {
            pb::ContactStatus::LostStatus
        } else if flowing {
            pb::ContactStatus::FlowingStatus
        } else {
            pb::ContactStatus::InContact
        };
        drafts.push(draft(
            EventKind::ContactStatusAssessed,
            Body::ContactStatusAssessed(pb::ContactStatusAssessed {
                member_id: member_id.clone(),
                status: status as i32,
                last_org_life: if lost { lost_since.clone() } else { date(2026, 1 + rng.below(3) as u32, 15) },
                last_dues: if lost { lost_since.clone() } else { date(2026, 1 + rng.below(3) as u32, 10) },
                situation: if lost { 1 + rng.below(8) as i32 } else { 0 },
                ..Default::default()
            }),
        ));
        if lost {
            for method in [pb::ContactMethod::Phone, pb::ContactMethod::ThroughPeople] {
                drafts.push(draft(
                    EventKind::ContactAttempted,
                    Body::ContactAttempted(pb::ContactAttempted {
                        member_id: member_id.clone(),
                        method: method as i32,
                        attempted_on: date(2026, 3, 1 + rng.below(28) as u32),
                        outcome: pb::contact_attempted::Outcome::NoResponse as i32,
                        ..Default::default()
                    }),
                ));
            }
        }
    }
    drafts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check digit follows GB 11643 (a published example number), and generated
    /// drafts are valid drafts of their kinds.
    #[test]
    fn id_numbers_and_drafts_are_valid() {
        assert_eq!(id_check_digit("11010519491231002"), 'X');
        let branch = UnitPath::parse("hb/whu/cs/b01").expect("valid");
        let drafts = member_drafts(&branch, 50, 7, "demo");
        assert!(drafts.len() >= 100);
        for draft in &drafts {
            draft.check().expect("sample drafts are valid");
        }
        assert_eq!(drafts, member_drafts(&branch, 50, 7, "demo"), "deterministic from the seed");
    }
}
