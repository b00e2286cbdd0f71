//! Corrections of member fields and their conflicts (DESIGN.md section 4).
//!
//! Two laptops of one branch may correct the same field of the same member while both
//! are offline. Both corrections are kept. The current value is the correction with the
//! latest hybrid-logical time (then the higher replica key) among those not settled by
//! another; when the unsettled corrections of a field disagree, the field is in
//! conflict, shown to a person, who settles it with a new correction that names the
//! ones it settles (`RecordCorrected.settles`).
//!
//! Invariant: the outcome is a function of the set of corrections, independent of the
//! order in which they were applied.

use std::collections::{BTreeMap, BTreeSet};

use crate::EventKind;
use crate::body::Body;
use crate::event::{EventId, Header, ReplicaId, VerifiedEvent};
use crate::hlc::HlcTime;
use crate::proto;
use crate::unit::UnitPath;

/// One correction of one field.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldEdit {
    /// The correcting event.
    pub event_id: EventId,
    /// Who wrote it.
    pub replica: ReplicaId,
    /// When, by its writer's clock.
    pub hlc: HlcTime,
    /// The unit the member belongs to.
    pub unit: UnitPath,
    /// The person acting.
    pub author: String,
    /// The new value.
    pub value: String,
}

/// A field whose unsettled corrections disagree.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conflict {
    /// The member.
    pub member_id: String,
    /// The field (`proto::MemberField` value).
    pub field: i32,
    /// The value in force meanwhile (latest time, then highest replica).
    pub current: FieldEdit,
    /// Every unsettled correction, the current one included, oldest first.
    pub candidates: Vec<FieldEdit>,
}

/// Every correction seen, by (member, field).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldEdits {
    edits: BTreeMap<(String, i32), BTreeMap<EventId, FieldEdit>>,
    settled: BTreeMap<(String, i32), BTreeSet<EventId>>,
}

impl FieldEdits {
    /// Takes a `RecordCorrected` event into account (other kinds and stubs are ignored).
    pub fn apply(&mut self, event: &VerifiedEvent) {
        if event.header().kind != EventKind::RecordCorrected {
            return;
        }
        let Some(body) = event.body() else { return };
        let Ok(Body::RecordCorrected(correction)) = Body::decode(EventKind::RecordCorrected, body) else { return };
        self.apply_parts(event.header(), &correction);
    }

    /// Takes a decoded correction into account.
    pub fn apply_parts(&mut self, header: &Header, correction: &proto::RecordCorrected) {
        let key = (correction.member_id.clone(), correction.field);
        self.edits.entry(key.clone()).or_default().insert(
            header.event_id,
            FieldEdit {
                event_id: header.event_id,
                replica: header.replica,
                hlc: header.hlc,
                unit: header.unit_path.clone(),
                author: header.author.clone(),
                value: correction.new_value.clone(),
            },
        );
        let settled = self.settled.entry(key).or_default();
        for id in &correction.settles {
            if let Ok(bytes) = <[u8; 16]>::try_from(id.as_ref()) {
                settled.insert(EventId(bytes));
            }
        }
    }

    /// The unsettled corrections of a field, oldest first.
    fn frontier(&self, key: &(String, i32)) -> Vec<&FieldEdit> {
        let settled = self.settled.get(key);
        let mut frontier: Vec<&FieldEdit> = self
            .edits
            .get(key)
            .into_iter()
            .flat_map(BTreeMap::values)
            .filter(|edit| settled.is_none_or(|ids| !ids.contains(&edit.event_id)))
            .collect();
        frontier.sort_by_key(|edit| (edit.hlc, edit.replica));
        frontier
    }

    /// The value in force for a member's field, if it was ever corrected.
    pub fn current(&self, member_id: &str, field: i32) -> Option<&FieldEdit> {
        self.frontier(&(member_id.to_string(), field)).pop()
    }

    /// Every field in conflict, by member and field.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut conflicts = Vec::new();
        for key in self.edits.keys() {
            let frontier = self.frontier(key);
            let distinct: BTreeSet<&str> = frontier.iter().map(|edit| edit.value.as_str()).collect();
            if distinct.len() > 1 {
                let candidates: Vec<FieldEdit> = frontier.into_iter().cloned().collect();
                conflicts.push(Conflict {
                    member_id: key.0.clone(),
                    field: key.1,
                    current: candidates.last().expect("at least two candidates").clone(),
                    candidates,
                });
            }
        }
        conflicts
    }
}
