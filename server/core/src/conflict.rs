//! Corrections of a member's fields and their conflicts (DESIGN.md section 4).
//!
//! Two laptops of one branch may correct the same field of the same member while both
//! are offline. Both corrections are kept. The value in force is the correction with the
//! latest [`Stamp`] (hybrid-logical time, then replica key, then seq) among those not
//! settled by another; when the unsettled corrections of a field disagree, the field is
//! in conflict, shown to a person, who settles it with a new correction that names the
//! ones it settles (`RecordCorrected.settles`). The member's form, its counting and the
//! conflicts view all read the value in force from here, so they cannot disagree.
//!
//! Invariant: the outcome is a function of the set of corrections, independent of the
//! order in which they were applied and of repeats.

use std::collections::BTreeSet;

use crate::EventKind;
use crate::audit::member::Stamp;
use crate::body::Body;
use crate::event::{EventId, Header, ReplicaId, VerifiedEvent};
use crate::hlc::HlcTime;
use crate::proto;
use crate::unit::UnitPath;

/// One correction of one field, as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldEdit {
    /// The correcting event.
    pub event_id: EventId,
    /// Who wrote it.
    pub replica: ReplicaId,
    /// When, by its writer's clock.
    pub hlc: HlcTime,
    /// The person acting.
    pub author: String,
    /// The new value.
    pub value: String,
}

/// A field whose unsettled corrections disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The member.
    pub member_id: String,
    /// The unit of the member's relation, where the corrections were filed.
    pub unit: UnitPath,
    /// The field (`proto::MemberField` value).
    pub field: i32,
    /// The value in force meanwhile (the latest stamp).
    pub current: FieldEdit,
    /// Every unsettled correction, the current one included, oldest first.
    pub candidates: Vec<FieldEdit>,
}

/// Every correction seen of one member's relation, by field.
///
/// Flat and exact-length: a member holds one correction or a few, and a province holds
/// tens of thousands of corrected members, so each correction is one 64-byte entry and
/// one allocation for its author and value; the member and the unit are the relation's.
/// Both lists are sorted, each event once, so equal sets are equal values, in any order
/// of application.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldEdits {
    /// By (field, event id, stamp): an event id is the author's to choose, so two
    /// events may share one and both are kept.
    edits: Box<[KeptEdit]>,
    /// The corrections settled, by (field, event id).
    settled: Box<[(i32, EventId)]>,
}

/// One correction as kept.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct KeptEdit {
    stamp: Stamp,
    event_id: EventId,
    /// The author's name, then the new value.
    text: Box<str>,
    field: i32,
    /// Where the author's name ends in `text`.
    author_len: u32,
}

impl KeptEdit {
    fn key(&self) -> (i32, EventId, Stamp) {
        (self.field, self.event_id, self.stamp)
    }

    fn value(&self) -> &str {
        &self.text[self.author_len as usize..]
    }

    fn shown(&self) -> FieldEdit {
        FieldEdit {
            event_id: self.event_id,
            replica: self.stamp.replica(),
            hlc: self.stamp.hlc(),
            author: self.text[..self.author_len as usize].to_string(),
            value: self.value().to_string(),
        }
    }
}

/// A copy of `items` with `item` inserted at `at`, exactly as long.
pub(crate) fn inserted<T: Clone>(items: &[T], at: usize, item: T) -> Box<[T]> {
    let mut grown = Vec::with_capacity(items.len() + 1);
    grown.extend_from_slice(&items[..at]);
    grown.push(item);
    grown.extend_from_slice(&items[at..]);
    grown.into_boxed_slice()
}

impl FieldEdits {
    /// Takes a `RecordCorrected` event into account (other kinds and stubs are
    /// ignored). The caller keeps one `FieldEdits` per member's relation: the body's
    /// member is not read here.
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
        let field = correction.field;
        let stamp = Stamp::of(header);
        let key = (field, header.event_id, stamp);
        if let Err(at) = self.edits.binary_search_by(|held| held.key().cmp(&key)) {
            let author_len =
                u32::try_from(header.author.len()).expect("an author's name is bounded by the event's size limit");
            let edit = KeptEdit {
                stamp,
                event_id: header.event_id,
                text: format!("{}{}", header.author, correction.new_value).into_boxed_str(),
                field,
                author_len,
            };
            self.edits = inserted(&self.edits, at, edit);
        }
        for id in &correction.settles {
            let Ok(bytes) = <[u8; 16]>::try_from(id.as_ref()) else { continue };
            let settled = (field, EventId(bytes));
            if let Err(at) = self.settled.binary_search(&settled) {
                self.settled = inserted(&self.settled, at, settled);
            }
        }
    }

    /// No correction held.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// The corrections of one field, in key order.
    fn of_field(&self, field: i32) -> &[KeptEdit] {
        let start = self.edits.partition_point(|held| held.field < field);
        let len = self.edits[start..].iter().take_while(|held| held.field == field).count();
        &self.edits[start..start + len]
    }

    /// The unsettled corrections among one field's, oldest first.
    fn unsettled<'a>(&self, of_field: &'a [KeptEdit]) -> Vec<&'a KeptEdit> {
        let mut frontier: Vec<&KeptEdit> =
            of_field.iter().filter(|held| self.settled.binary_search(&(held.field, held.event_id)).is_err()).collect();
        frontier.sort_by_key(|held| held.stamp);
        frontier
    }

    /// The value in force of a field, if it was ever corrected and not every correction
    /// of it was settled: the unsettled correction with the latest stamp.
    pub fn value(&self, field: i32) -> Option<&str> {
        self.unsettled(self.of_field(field)).pop().map(KeptEdit::value)
    }

    /// The correction in force of a field, as shown.
    pub fn current(&self, field: i32) -> Option<FieldEdit> {
        self.unsettled(self.of_field(field)).pop().map(KeptEdit::shown)
    }

    /// The stamp of the latest correction of a field, settled or not: when the field
    /// was last corrected.
    pub fn last_corrected(&self, field: i32) -> Option<Stamp> {
        self.of_field(field).iter().map(|held| held.stamp).max()
    }

    /// Every corrected field with its value in force, by field.
    pub fn values(&self) -> impl Iterator<Item = (i32, &str)> + '_ {
        let mut rest = &self.edits[..];
        std::iter::from_fn(move || {
            loop {
                let first = rest.first()?;
                let of_field = self.of_field(first.field);
                rest = &rest[of_field.len()..];
                if let Some(value) = self.unsettled(of_field).pop().map(KeptEdit::value) {
                    return Some((first.field, value));
                }
            }
        })
    }

    /// Every field in conflict, by field, for the member `member_id` held at `unit`.
    pub fn conflicts(&self, member_id: &str, unit: &UnitPath) -> Vec<Conflict> {
        let mut conflicts = Vec::new();
        let mut rest = &self.edits[..];
        while let Some(first) = rest.first() {
            let of_field = self.of_field(first.field);
            let frontier = self.unsettled(of_field);
            let distinct: BTreeSet<&str> = frontier.iter().map(|held| held.value()).collect();
            if distinct.len() > 1 {
                let candidates: Vec<FieldEdit> = frontier.into_iter().map(KeptEdit::shown).collect();
                conflicts.push(Conflict {
                    member_id: member_id.to_string(),
                    unit: unit.clone(),
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
