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

use std::collections::BTreeSet;

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
///
/// Flat and exact-length: a member holds one correction or a few, and a province holds
/// tens of thousands of corrected members, so a map per key (a B-tree node of hundreds of
/// bytes each, for the edits and again for the settled ids: kilobytes a corrected member
/// by the nodes' sizes) gave way to one entry of about 200 bytes. Both lists are sorted by (member,
/// field, event id) with each event once, so equal sets are equal values, in any order of
/// application.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldEdits {
    edits: Vec<KeyedEdit>,
    settled: Vec<(Box<str>, i32, EventId)>,
}

/// One correction with the (member, field) it corrects.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct KeyedEdit {
    member_id: Box<str>,
    field: i32,
    edit: FieldEdit,
}

impl KeyedEdit {
    fn key(&self) -> (&str, i32, EventId) {
        (&self.member_id, self.field, self.edit.event_id)
    }
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

    /// Takes a decoded correction into account (again: no change).
    pub fn apply_parts(&mut self, header: &Header, correction: &proto::RecordCorrected) {
        let member_id = correction.member_id.as_str();
        let key = (member_id, correction.field, header.event_id);
        if let Err(at) = self.edits.binary_search_by(|held| held.key().cmp(&key)) {
            self.edits.insert(
                at,
                KeyedEdit {
                    member_id: member_id.into(),
                    field: correction.field,
                    edit: FieldEdit {
                        event_id: header.event_id,
                        replica: header.replica,
                        hlc: header.hlc,
                        unit: header.unit_path.clone(),
                        author: header.author.clone(),
                        value: correction.new_value.clone(),
                    },
                },
            );
            self.edits.shrink_to_fit();
        }
        for id in &correction.settles {
            let Ok(bytes) = <[u8; 16]>::try_from(id.as_ref()) else { continue };
            if let Err(at) = self.settled_position((member_id, correction.field, EventId(bytes))) {
                self.settled.insert(at, (member_id.into(), correction.field, EventId(bytes)));
                self.settled.shrink_to_fit();
            }
        }
    }

    /// Where (member, field, event) is, or would go, in the settled list.
    fn settled_position(&self, key: (&str, i32, EventId)) -> Result<usize, usize> {
        self.settled.binary_search_by(|(member_id, field, event_id)| (member_id.as_ref(), *field, *event_id).cmp(&key))
    }

    /// The corrections of one field, in event-id order.
    fn of_field(&self, member_id: &str, field: i32) -> &[KeyedEdit] {
        let start = self.edits.partition_point(|held| (held.member_id.as_ref(), held.field) < (member_id, field));
        let len = self.edits[start..]
            .iter()
            .take_while(|held| held.member_id.as_ref() == member_id && held.field == field)
            .count();
        &self.edits[start..start + len]
    }

    /// The unsettled corrections among one field's, oldest first.
    fn unsettled<'a>(&self, of_field: &'a [KeyedEdit]) -> Vec<&'a FieldEdit> {
        let mut frontier: Vec<&FieldEdit> =
            of_field.iter().filter(|held| self.settled_position(held.key()).is_err()).map(|held| &held.edit).collect();
        frontier.sort_by_key(|edit| (edit.hlc, edit.replica));
        frontier
    }

    /// The value in force for a member's field, if it was ever corrected.
    pub fn current(&self, member_id: &str, field: i32) -> Option<&FieldEdit> {
        self.unsettled(self.of_field(member_id, field)).pop()
    }

    /// Every field in conflict, by member and field.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut conflicts = Vec::new();
        let mut rest = &self.edits[..];
        while let Some(first) = rest.first() {
            let of_field = self.of_field(&first.member_id, first.field);
            let frontier = self.unsettled(of_field);
            let distinct: BTreeSet<&str> = frontier.iter().map(|edit| edit.value.as_str()).collect();
            if distinct.len() > 1 {
                let candidates: Vec<FieldEdit> = frontier.into_iter().cloned().collect();
                conflicts.push(Conflict {
                    member_id: first.member_id.to_string(),
                    field: first.field,
                    current: candidates.last().expect("at least two candidates").clone(),
                    candidates,
                });
            }
            rest = &rest[of_field.len()..];
        }
        conflicts
    }
}
