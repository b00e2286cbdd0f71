//! The campaign's policy: the thresholds the rules apply that the notice leaves to the
//! province (DOMAIN.md section 6 marks them inferences), as data a province can set.
//!
//! The campaign event carries the policy; a `PolicyChanged` by the province replaces it
//! from its stamp on. [`PolicyHistory::at`] answers which policy was in force at a stamp,
//! so a vote is counted by the policy in force when it was recorded, at every replica,
//! whatever order the events arrived in (the history is a function of the set of policy
//! events). Derived states that are judged "as of" a date (lost, pocket) use the policy
//! in force now ([`PolicyHistory::current`]).
//!
//! Invariant: a policy read from the wire is total: a zero field means the notice's
//! default, so an older campaign event without a policy reads as the notice's.

use std::collections::BTreeMap;

use crate::audit::member::Stamp;
use crate::proto;

/// The thresholds in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// 自行脱党除名 of a lost member: at least this many documented search attempts,
    pub self_separation_attempts: u32,
    /// through at least this many different methods,
    pub self_separation_methods: u32,
    /// over at least this many whole months.
    pub self_separation_months: i64,
    /// 支部大会: more than this percentage of 应到会 present.
    pub quorum_percent: u32,
    /// Passes with more than this percentage of 应到会 in favour.
    pub majority_percent: u32,
    /// 失联: no organisation life or dues for at least this many whole months.
    pub lost_contact_months: i64,
    /// 口袋党员: a transfer letter without receipt at least this many whole months old.
    pub pocket_months: i64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::NOTICE
    }
}

/// Why a policy cannot be set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value} is outside {low}..={high}")]
pub struct PolicyError {
    /// The field.
    pub field: &'static str,
    /// Its Chinese name.
    pub field_zh: &'static str,
    /// The value given.
    pub value: u32,
    /// The lowest value allowed.
    pub low: u32,
    /// The highest.
    pub high: u32,
}

/// The fields, with their Chinese names and the bounds a province may set.
pub const FIELDS: &[(&str, &str, u32, u32)] = &[
    ("self_separation_attempts", "自行脱党除名所需查找次数", 1, 100),
    ("self_separation_methods", "自行脱党除名所需查找方式种数", 1, 10),
    ("self_separation_months", "自行脱党除名所需查找跨度（月）", 1, 60),
    ("quorum_percent", "支部大会到会须超过应到会人数的百分比", 50, 99),
    ("majority_percent", "表决通过须超过应到会人数的百分比", 50, 99),
    ("lost_contact_months", "认定失联的月数（未参加组织生活且未交纳党费）", 1, 60),
    ("pocket_months", "认定“口袋”党员的月数（介绍信未回执）", 1, 60),
];

impl Policy {
    /// The notice's rules: three attempts through two methods over six months; more
    /// than half of 应到会 present and in favour; six months without contact; a letter
    /// six months old without receipt.
    pub const NOTICE: Policy = Policy {
        self_separation_attempts: 3,
        self_separation_methods: 2,
        self_separation_months: 6,
        quorum_percent: 50,
        majority_percent: 50,
        lost_contact_months: 6,
        pocket_months: 6,
    };

    /// The policy a wire message says (zero fields: the notice's).
    pub fn from_proto(policy: Option<&proto::Policy>) -> Policy {
        let Some(policy) = policy else { return Policy::NOTICE };
        let or = |value: u32, default: u32| if value == 0 { default } else { value };
        let n = Policy::NOTICE;
        Policy {
            self_separation_attempts: or(policy.self_separation_attempts, n.self_separation_attempts),
            self_separation_methods: or(policy.self_separation_methods, n.self_separation_methods),
            self_separation_months: i64::from(or(policy.self_separation_months, n.self_separation_months as u32)),
            quorum_percent: or(policy.quorum_percent, n.quorum_percent),
            majority_percent: or(policy.majority_percent, n.majority_percent),
            lost_contact_months: i64::from(or(policy.lost_contact_months, n.lost_contact_months as u32)),
            pocket_months: i64::from(or(policy.pocket_months, n.pocket_months as u32)),
        }
    }

    /// Every field explicit.
    pub fn to_proto(self) -> proto::Policy {
        proto::Policy {
            self_separation_attempts: self.self_separation_attempts,
            self_separation_methods: self.self_separation_methods,
            self_separation_months: self.self_separation_months as u32,
            quorum_percent: self.quorum_percent,
            majority_percent: self.majority_percent,
            lost_contact_months: self.lost_contact_months as u32,
            pocket_months: self.pocket_months as u32,
        }
    }

    /// The fields as (key, value), in [`FIELDS`] order.
    pub fn values(self) -> [u32; 7] {
        let p = self.to_proto();
        [
            p.self_separation_attempts,
            p.self_separation_methods,
            p.self_separation_months,
            p.quorum_percent,
            p.majority_percent,
            p.lost_contact_months,
            p.pocket_months,
        ]
    }

    /// Checks a policy as a province would set it (zero fields read as the notice's).
    ///
    /// # Errors
    ///
    /// The first field outside its bounds.
    pub fn validate(policy: &proto::Policy) -> Result<Policy, PolicyError> {
        let read = Policy::from_proto(Some(policy));
        for ((field, field_zh, low, high), value) in FIELDS.iter().zip(read.values()) {
            if value < *low || value > *high {
                return Err(PolicyError { field, field_zh, value, low: *low, high: *high });
            }
        }
        Ok(read)
    }

    /// True when `part` is more than `percent` per cent of `whole`.
    pub fn more_than(part: u32, whole: u32, percent: u32) -> bool {
        u64::from(part) * 100 > u64::from(whole) * u64::from(percent)
    }
}

/// Every policy recorded, by the stamp it was recorded at.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PolicyHistory {
    by_stamp: BTreeMap<Stamp, Policy>,
}

impl PolicyHistory {
    /// Records a policy in force from `stamp` on.
    pub fn set(&mut self, stamp: Stamp, policy: Policy) {
        self.by_stamp.insert(stamp, policy);
    }

    /// Removes the policy recorded at `stamp` (undo).
    pub fn remove(&mut self, stamp: &Stamp) {
        self.by_stamp.remove(stamp);
    }

    /// The policy in force at `stamp`: the latest recorded at or before it, else the
    /// earliest recorded (a step before the campaign was opened is judged by the
    /// campaign's policy), else the notice's.
    pub fn at(&self, stamp: &Stamp) -> Policy {
        self.by_stamp
            .range(..=stamp)
            .next_back()
            .or_else(|| self.by_stamp.iter().next())
            .map_or(Policy::NOTICE, |(_, policy)| *policy)
    }

    /// The policy in force now: the latest recorded.
    pub fn current(&self) -> Policy {
        self.by_stamp.values().next_back().copied().unwrap_or(Policy::NOTICE)
    }

    /// True when no policy was recorded.
    pub fn is_empty(&self) -> bool {
        self.by_stamp.is_empty()
    }

    /// How many policies were recorded (the campaign's and each change).
    pub fn len(&self) -> usize {
        self.by_stamp.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_fields_read_as_the_notice() {
        assert_eq!(Policy::from_proto(Some(&proto::Policy::default())), Policy::NOTICE);
        assert_eq!(Policy::from_proto(None), Policy::NOTICE);
        let set = proto::Policy { lost_contact_months: 12, ..Default::default() };
        assert_eq!(Policy::from_proto(Some(&set)).lost_contact_months, 12);
        assert_eq!(Policy::from_proto(Some(&set)).pocket_months, 6);
    }

    #[test]
    fn bounds_name_the_field() {
        let bad = proto::Policy { quorum_percent: 30, ..Default::default() };
        let Err(error) = Policy::validate(&bad) else { panic!("30% is below the bounds") };
        assert_eq!((error.field, error.value, error.low), ("quorum_percent", 30, 50));
        assert!(Policy::validate(&Policy::NOTICE.to_proto()).is_ok());
    }

    #[test]
    fn more_than_is_strict() {
        assert!(!Policy::more_than(3, 6, 50));
        assert!(Policy::more_than(4, 6, 50));
        assert!(Policy::more_than(5, 7, 66));
        assert!(!Policy::more_than(4, 6, 67));
    }
}
