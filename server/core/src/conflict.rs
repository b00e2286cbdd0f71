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
use crate::limits;
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
    /// Every unsettled correction, oldest first (at least two): the last is in force.
    pub candidates: Vec<FieldEdit>,
}

impl Conflict {
    /// The value in force meanwhile: the last candidate (the latest stamp).
    pub fn current(&self) -> &FieldEdit {
        self.candidates.last().expect("a conflict has at least two candidates")
    }
}

/// Every correction seen of one member's relation, by field.
///
/// Flat and exact-length: a member holds one correction or a few, and a province holds
/// tens of thousands of corrected members, so each correction is one 64-byte entry and
/// one allocation for its author and value; the member and the unit are the relation's.
/// Both lists are sorted, each event once, so equal sets are equal values, in any order
/// of application. Both are bounded ([`limits::MARKED_FIELDS_PER_MEMBER_MAX`],
/// [`limits::CORRECTIONS_PER_FIELD_MAX`], [`limits::SETTLED_PER_FIELD_MAX`]) by keeping
/// what a rule on the whole set picks, so the bounds keep that property: receivers do
/// not judge a body's content, and each insertion costs the list's length.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "FieldEditsStored")]
pub struct FieldEdits {
    /// By (field, event id, stamp): an event id is the author's to choose, so two
    /// events may share one and both are kept.
    edits: Box<[KeptEdit]>,
    /// The corrections settled, by (field, event id).
    settled: Box<[(i32, EventId)]>,
}

/// [`FieldEdits`] as read back from a snapshot, checked before use.
#[derive(serde::Deserialize)]
struct FieldEditsStored {
    edits: Box<[KeptEdit]>,
    settled: Box<[(i32, EventId)]>,
}

impl TryFrom<FieldEditsStored> for FieldEdits {
    type Error = &'static str;
    /// The searches rely on both orders, and the shown author on its boundary.
    fn try_from(stored: FieldEditsStored) -> Result<FieldEdits, &'static str> {
        if !stored.edits.windows(2).all(|pair| pair[0].key() < pair[1].key()) {
            return Err("corrections not in order, or repeated");
        }
        if !stored.settled.windows(2).all(|pair| pair[0] < pair[1]) {
            return Err("settled corrections not in order, or repeated");
        }
        if !stored.edits.iter().all(|edit| edit.text.is_char_boundary(edit.author_len as usize)) {
            return Err("a correction's author and value not separable");
        }
        Ok(FieldEdits { edits: stored.edits, settled: stored.settled })
    }
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

/// `items`, sorted by `field_of`, without the items of the fields beyond the lowest
/// [`limits::MARKED_FIELDS_PER_MEMBER_MAX`] (those beyond stay beyond as more arrive, so
/// what is kept is a function of the set).
pub(crate) fn within_fields<T: Clone>(items: Box<[T]>, field_of: impl Fn(&T) -> i32) -> Box<[T]> {
    let mut fields = 0;
    let mut kept = items.len();
    for (index, item) in items.iter().enumerate() {
        if index == 0 || field_of(&items[index - 1]) != field_of(item) {
            fields += 1;
            if fields > limits::MARKED_FIELDS_PER_MEMBER_MAX {
                kept = index;
                break;
            }
        }
    }
    if kept == items.len() { items } else { items[..kept].into() }
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
            // An author's name is at most `limits::AUTHOR_BYTES_MAX` bytes.
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
            let of_field = self.of_field(field);
            if of_field.len() > limits::CORRECTIONS_PER_FIELD_MAX {
                let oldest = of_field.iter().map(|held| held.stamp).min().expect("more than the bound");
                self.edits =
                    self.edits.iter().filter(|held| (held.field, held.stamp) != (field, oldest)).cloned().collect();
            }
            self.edits = within_fields(std::mem::take(&mut self.edits), |held| held.field);
        }
        // The ids it settles, new ones only, each once, merged into the list in one pass.
        let mut settles: Vec<(i32, EventId)> = correction
            .settles
            .iter()
            .filter_map(|id| <[u8; 16]>::try_from(id.as_ref()).ok())
            .map(|bytes| (field, EventId(bytes)))
            .filter(|settled| self.settled.binary_search(settled).is_err())
            .collect();
        if !settles.is_empty() {
            settles.sort_unstable();
            settles.dedup();
            let mut merged: Vec<(i32, EventId)> = self.settled.iter().copied().chain(settles).collect();
            merged.sort_unstable();
            // The field's lowest ids within the bound.
            let start = merged.partition_point(|(settled, _)| *settled < field);
            let count = merged[start..].iter().take_while(|(settled, _)| *settled == field).count();
            if count > limits::SETTLED_PER_FIELD_MAX {
                merged.drain(start + limits::SETTLED_PER_FIELD_MAX..start + count);
            }
            self.settled = within_fields(merged.into_boxed_slice(), |(field, _)| *field);
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

    /// The value in force of a field, if it was ever corrected: the unsettled
    /// correction with the latest stamp, or, where settlements name every correction
    /// kept of the field (authors choose event ids, so settlements can name themselves or
    /// each other; a bound can drop the unsettled ones), the latest correction.
    pub fn value(&self, field: i32) -> Option<&str> {
        Self::in_force(self, self.of_field(field)).map(KeptEdit::value)
    }

    /// The correction in force among one field's.
    fn in_force<'a>(&self, of_field: &'a [KeptEdit]) -> Option<&'a KeptEdit> {
        self.unsettled(of_field).pop().or_else(|| of_field.iter().max_by_key(|held| held.stamp))
    }

    /// The correction in force of a field, as shown.
    pub fn current(&self, field: i32) -> Option<FieldEdit> {
        self.in_force(self.of_field(field)).map(KeptEdit::shown)
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
                if let Some(in_force) = self.in_force(of_field) {
                    return Some((first.field, in_force.value()));
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
                let candidates = frontier.into_iter().map(KeptEdit::shown).collect();
                conflicts.push(Conflict {
                    member_id: member_id.to_string(),
                    unit: unit.clone(),
                    field: first.field,
                    candidates,
                });
            }
            rest = &rest[of_field.len()..];
        }
        conflicts
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::event::{BodyHash, EventHash, Seq};

    fn header(i: u64) -> Header {
        Header {
            format_version: 1,
            event_id: EventId([(i % 251) as u8, (i / 251) as u8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
            replica: ReplicaId([9; 32]),
            seq: Seq(i + 1),
            prev: EventHash([0; 32]),
            hlc: HlcTime { wall_ms: 1_000 + i, logical: 0 },
            unit_path: UnitPath::parse("hb/u1/c1/b1").expect("valid"),
            kind: EventKind::RecordCorrected,
            body_hash: BodyHash([0; 32]),
            author: "王五".into(),
        }
    }

    fn correction(field: i32, value: &str, settles: Vec<EventId>) -> proto::RecordCorrected {
        proto::RecordCorrected {
            member_id: "m".into(),
            field,
            new_value: value.into(),
            reason: String::new(),
            settles: settles.into_iter().map(|id| Bytes::copy_from_slice(&id.0)).collect(),
        }
    }

    /// Applies `events` forwards and backwards (each twice the second way) and checks
    /// both give one value.
    fn both_ways(events: &[(Header, proto::RecordCorrected)]) -> FieldEdits {
        let mut forward = FieldEdits::default();
        for (header, body) in events {
            forward.apply_parts(header, body);
        }
        let mut backward = FieldEdits::default();
        for (header, body) in events.iter().rev().chain(events.iter().rev()) {
            backward.apply_parts(header, body);
        }
        assert_eq!(forward, backward);
        forward
    }

    /// Goal: a flood of corrections of made-up fields, of one field, or of settled ids
    /// (a branch key can sign any body) costs a bounded amount, and what is kept is
    /// still a function of the set: the lowest fields, the latest corrections, the
    /// lowest settled ids.
    #[test]
    fn floods_are_bounded_and_still_a_function_of_the_set() {
        let fields: Vec<_> = (0..100u64).map(|i| (header(i), correction(1000 - i as i32, "x", vec![]))).collect();
        let edits = both_ways(&fields);
        let kept: Vec<i32> = edits.values().map(|(field, _)| field).collect();
        assert_eq!(kept, (901..=964).collect::<Vec<_>>(), "the 64 lowest fields");

        let one_field: Vec<_> = (0..100u64).map(|i| (header(i), correction(3, &format!("v{i}"), vec![]))).collect();
        let edits = both_ways(&one_field);
        assert_eq!(edits.of_field(3).len(), limits::CORRECTIONS_PER_FIELD_MAX);
        assert_eq!(edits.value(3), Some("v99"), "the latest is kept and in force");

        let ids: Vec<EventId> = (0..300u64).map(|i| header(1000 + i).event_id).collect();
        let settling: Vec<_> = ids
            .chunks(7)
            .enumerate()
            .map(|(i, chunk)| (header(i as u64), correction(3, "y", chunk.to_vec())))
            .collect();
        let edits = both_ways(&settling);
        assert_eq!(edits.settled.len(), limits::SETTLED_PER_FIELD_MAX);
    }

    /// Goal: a correction that settles itself does not take its field's value away
    /// (the latest correction stays in force when every one is settled).
    #[test]
    fn a_field_whose_every_correction_is_settled_keeps_the_latest() {
        let first = header(1);
        let second = header(2);
        let events = [
            (first.clone(), correction(3, "a", vec![first.event_id])),
            (second.clone(), correction(3, "b", vec![second.event_id, first.event_id])),
        ];
        let edits = both_ways(&events);
        assert_eq!(edits.value(3), Some("b"));
        assert_eq!(edits.current(3).map(|edit| edit.author), Some("王五".to_string()));
        assert!(edits.conflicts("m", &first.unit_path).is_empty());
    }

    /// Goal: a snapshot's corrections out of order, or with an author boundary inside a
    /// character, are refused when read back, not searched wrongly or sliced.
    #[test]
    fn stored_corrections_are_checked_when_read_back() {
        let edits = both_ways(&[(header(1), correction(3, "a", vec![])), (header(2), correction(2, "b", vec![]))]);
        let stored = serde_json::to_value(&edits).expect("serializes");
        let back: FieldEdits = serde_json::from_value(stored.clone()).expect("reads back");
        assert_eq!(back, edits);
        let mut swapped = stored.clone();
        swapped["edits"].as_array_mut().expect("a list").swap(0, 1);
        assert!(serde_json::from_value::<FieldEdits>(swapped).is_err());
        let mut split = stored;
        split["edits"][0]["author_len"] = 1.into();
        assert!(serde_json::from_value::<FieldEdits>(split).is_err());
    }
}
