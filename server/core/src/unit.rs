//! Unit paths and levels: where an event belongs in the organisation tree.
//!
//! A unit path is a `/`-separated list of segments from the province down, e.g.
//! `hb/whu/cs/b01`. Depth 1 is the province, 2 a university, 3 a college, 4 a branch.
//! Segments are lowercase ASCII letters, digits, `-` and `_`, so that paths compare
//! byte-wise and never need escaping in keys, logs or URLs.
//!
//! Invariant: a `UnitPath` value is always valid; `is_within` is prefix-on-segment.

use std::fmt;
use std::sync::Arc;

use crate::limits::{UNIT_PATH_BYTES_MAX, UNIT_PATH_DEPTH_MAX};

/// A validated unit path.
///
/// The text is shared: a clone is a reference count, so the millions of member
/// relations and counters that name the same branch can hold one copy of its path
/// (the projection hands out the copy it already holds). Ordered, compared and hashed
/// by its text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitPath(Arc<str>);

impl serde::Serialize for UnitPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for UnitPath {
    /// Validated like [`UnitPath::parse`]: the invariant holds whatever was read.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<UnitPath, D::Error> {
        /// Reads the text where the format lends it (a snapshot's frame), with no
        /// intermediate `String`.
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = UnitPath;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a unit path")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<UnitPath, E> {
                UnitPath::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// Why a unit path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitPathError {
    /// The path is empty.
    #[error("unit path is empty")]
    Empty,
    /// The path is longer than `UNIT_PATH_BYTES_MAX`.
    #[error("unit path is {len} bytes, more than {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The path has more segments than `UNIT_PATH_DEPTH_MAX`.
    #[error("unit path has {depth} levels, more than {max}")]
    TooDeep {
        /// Its depth.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// A segment is empty or has a character outside `[a-z0-9_-]`.
    #[error("unit path segment {segment:?} must be lowercase letters, digits, '-' or '_'")]
    BadSegment {
        /// The offending segment.
        segment: String,
    },
}

impl UnitPath {
    /// Parses and validates a path.
    ///
    /// # Errors
    ///
    /// [`UnitPathError`] says what is wrong.
    pub fn parse(text: &str) -> Result<UnitPath, UnitPathError> {
        if !is_well_formed(text) {
            check(text)?;
        }
        Ok(UnitPath(text.into()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Number of segments: 1 for the province.
    pub fn depth(&self) -> usize {
        self.0.split('/').count()
    }

    /// The level this depth stands for, if it is one of the four.
    pub fn level(&self) -> Option<Level> {
        Level::from_depth(self.depth())
    }

    /// The parent unit, `None` for the province.
    pub fn parent(&self) -> Option<UnitPath> {
        self.0.rfind('/').map(|idx| UnitPath(self.0[..idx].into()))
    }

    /// True if `self` is `ancestor` or inside its subtree.
    pub fn is_within(&self, ancestor: &UnitPath) -> bool {
        self.0 == ancestor.0
            || (self.0.len() > ancestor.0.len()
                && self.0.starts_with(&*ancestor.0)
                && self.0.as_bytes()[ancestor.0.len()] == b'/')
    }

    /// The path of `self`, then of each ancestor up to the province, as text: what a walk
    /// up the tree looks up without making a path for each level.
    pub fn self_and_ancestors(&self) -> impl Iterator<Item = &str> {
        std::iter::successors(Some(&*self.0), |current| current.rfind('/').map(|idx| &current[..idx]))
    }

    /// `self` or the ancestor whose path is `path`, one of
    /// [`UnitPath::self_and_ancestors`] (valid because `self` is).
    pub(crate) fn self_or_ancestor(&self, path: &str) -> UnitPath {
        debug_assert!(self.self_and_ancestors().any(|ancestor| ancestor == path), "{path} is not above {self}");
        if path.len() == self.0.len() { self.clone() } else { UnitPath(path.into()) }
    }

    /// The child of `self` named `segment`.
    ///
    /// # Errors
    ///
    /// [`UnitPathError`] when the result would be invalid.
    pub fn child(&self, segment: &str) -> Result<UnitPath, UnitPathError> {
        UnitPath::parse(&format!("{}/{}", self.0, segment))
    }
}

/// A path's text is its identity: equality, order and hash are those of the `str`, so
/// maps keyed by paths are looked up by text (a walk up the tree allocates nothing).
impl std::borrow::Borrow<str> for UnitPath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for UnitPath {
    type Err = UnitPathError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        UnitPath::parse(text)
    }
}

/// A level of the organisation tree, each with its own authority (DOMAIN.md section 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Level {
    /// 省委组织部 / 省委教育工委.
    Province,
    /// 高校党委.
    University,
    /// 院系党委 / 党总支.
    College,
    /// 党支部.
    Branch,
}

impl Level {
    /// The level of a unit path of this depth.
    pub fn from_depth(depth: usize) -> Option<Level> {
        match depth {
            1 => Some(Level::Province),
            2 => Some(Level::University),
            3 => Some(Level::College),
            4 => Some(Level::Branch),
            _ => None,
        }
    }

    /// The depth of unit paths at this level.
    pub fn depth(self) -> usize {
        match self {
            Level::Province => 1,
            Level::University => 2,
            Level::College => 3,
            Level::Branch => 4,
        }
    }

    /// The lowercase English name used in configs and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::University => "university",
            Level::College => "college",
            Level::Branch => "branch",
        }
    }

    /// The Chinese name shown to users.
    pub fn name_zh(self) -> &'static str {
        match self {
            Level::Province => "省级",
            Level::University => "高校",
            Level::College => "院系",
            Level::Branch => "党支部",
        }
    }

    /// The wire value.
    pub fn to_proto(self) -> crate::proto::Level {
        match self {
            Level::Province => crate::proto::Level::Province,
            Level::University => crate::proto::Level::University,
            Level::College => crate::proto::Level::College,
            Level::Branch => crate::proto::Level::Branch,
        }
    }

    /// From the wire value; `None` for unspecified.
    pub fn from_proto(level: crate::proto::Level) -> Option<Level> {
        match level {
            crate::proto::Level::Unspecified => None,
            crate::proto::Level::Province => Some(Level::Province),
            crate::proto::Level::University => Some(Level::University),
            crate::proto::Level::College => Some(Level::College),
            crate::proto::Level::Branch => Some(Level::Branch),
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "province" => Ok(Level::Province),
            "university" => Ok(Level::University),
            "college" => Ok(Level::College),
            "branch" => Ok(Level::Branch),
            other => Err(format!("unknown level {other:?}: expected province, university, college or branch")),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule for a path, one check after another, naming the first that fails: not
/// empty, at most [`UNIT_PATH_BYTES_MAX`] bytes and [`UNIT_PATH_DEPTH_MAX`] segments,
/// each segment non-empty and of lowercase ASCII letters, digits, `-` and `_`.
fn check(text: &str) -> Result<(), UnitPathError> {
    if text.is_empty() {
        return Err(UnitPathError::Empty);
    }
    if text.len() > UNIT_PATH_BYTES_MAX {
        return Err(UnitPathError::TooLong { len: text.len(), max: UNIT_PATH_BYTES_MAX });
    }
    let depth = text.split('/').count();
    if depth > UNIT_PATH_DEPTH_MAX {
        return Err(UnitPathError::TooDeep { depth, max: UNIT_PATH_DEPTH_MAX });
    }
    for segment in text.split('/') {
        if segment.is_empty() || !segment.bytes().all(is_segment_byte) {
            return Err(UnitPathError::BadSegment { segment: segment.to_string() });
        }
    }
    Ok(())
}

/// [`check`]'s answer for a well-formed path, in one pass over the bytes: every event's
/// header names a unit, so every event received or sent parses one. [`UnitPath::parse`]
/// asks [`check`] whenever this says no, so the rule stays [`check`]'s.
fn is_well_formed(text: &str) -> bool {
    if text.is_empty() || text.len() > UNIT_PATH_BYTES_MAX {
        return false;
    }
    let mut depth = 1;
    let mut segment_is_empty = true;
    for byte in text.bytes() {
        if byte == b'/' {
            if segment_is_empty {
                return false;
            }
            depth += 1;
            segment_is_empty = true;
        } else if is_segment_byte(byte) {
            segment_is_empty = false;
        } else {
            return false;
        }
    }
    !segment_is_empty && depth <= UNIT_PATH_DEPTH_MAX
}

fn is_segment_byte(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths validate segment by segment, and subtree membership respects segment
    /// boundaries (`hb/w` is not inside `hb/whu`).
    #[test]
    fn parse_and_subtree() {
        let cases: &[(&str, bool)] = &[
            ("hb", true),
            ("hb/whu/cs/b01", true),
            ("", false),
            ("hb//x", false),
            ("HB", false),
            ("hb/计算机", false),
            ("a/b/c/d/e/f/g", false),
        ];
        for (text, ok) in cases {
            assert_eq!(UnitPath::parse(text).is_ok(), *ok, "{text}");
            // Read back from any serde format, the same rule holds.
            let read = <UnitPath as serde::Deserialize>::deserialize(serde::de::value::StrDeserializer::<
                serde::de::value::Error,
            >::new(text));
            assert_eq!(read.is_ok(), *ok, "deserialized {text}");
        }
        let whu = UnitPath::parse("hb/whu").expect("valid");
        let cs = UnitPath::parse("hb/whu/cs").expect("valid");
        let w = UnitPath::parse("hb/w").expect("valid");
        let whux = UnitPath::parse("hb/whux").expect("valid");
        assert!(cs.is_within(&whu));
        assert!(whu.is_within(&whu));
        assert!(!whu.is_within(&cs));
        assert!(!whux.is_within(&whu));
        assert!(!whu.is_within(&w));
        assert_eq!(cs.parent(), Some(whu.clone()));
        assert_eq!(cs.level(), Some(Level::College));
        assert_eq!(UnitPath::parse("hb").expect("valid").parent(), None);
    }

    proptest::proptest! {
        /// Goal: the one-pass check and the rule agree on every text. Method: texts of
        /// the path alphabet, slashes and a few bytes outside it; and well-formed
        /// segments, up to seven of up to 60 bytes, around both limits.
        #[test]
        fn one_pass_check_agrees_with_the_rule(text in "[a-c0-2_/A.-]{0,20}|[a-c]{1,60}(/[a-c]{1,60}){0,6}") {
            proptest::prop_assert_eq!(is_well_formed(&text), check(&text).is_ok(), "{:?}", text);
        }
    }

    /// Goal: the length limit, exactly. Method: well-formed paths of 256 and 257 bytes.
    #[test]
    fn the_length_limit_is_exact() {
        let at_limit = format!("{}/{}", "a".repeat(127), "b".repeat(UNIT_PATH_BYTES_MAX - 128));
        assert_eq!(at_limit.len(), UNIT_PATH_BYTES_MAX);
        assert!(is_well_formed(&at_limit) && check(&at_limit).is_ok());
        let past_limit = format!("{at_limit}c");
        assert!(!is_well_formed(&past_limit));
        assert!(matches!(UnitPath::parse(&past_limit), Err(UnitPathError::TooLong { .. })));
    }
}
