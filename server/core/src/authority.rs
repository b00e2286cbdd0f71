//! Who may write what: the enrollment chain from the province's root key, revocations,
//! quarantine after equivocation, and the kinds each level may author.
//!
//! The root key is pinned in every node's configuration and is enrolled implicitly as
//! the province node. Every other replica is enrolled by a `ReplicaEnrolled` event in the
//! log of an enrolled node above it (or at its own unit, for laptops and viewers).
//! Revocation is `ReplicaRevoked { revoked_after_seq }`: events the replica signed up to
//! that seq stay valid (a laptop's offline work before the revocation still counts).
//!
//! Every replica checks every event with [`Authority::check`], deterministically: the
//! author is enrolled and neither revoked as of that seq, nor expired as of the event's
//! time, nor quarantined; the event's unit is inside the author's subtree; the kind is
//! allowed at the author's level and role.
//!
//! Invariant: `check` depends only on the set of enrollment, revocation and proof events
//! applied, never on wall-clock time or arrival order of other events.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::body::{Body, is_infrastructure};
use crate::event::{Header, ReplicaId, Seq, VerifiedEvent};
use crate::unit::{Level, UnitPath};
use crate::{EventKind, proto};

/// What a replica is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A server that listens and syncs with its parent and children.
    Node,
    /// An embedded node on a laptop that never listens.
    Laptop,
    /// Reads a subtree; writes nothing.
    Viewer,
}

impl Role {
    /// From the wire.
    pub fn from_proto(role: i32) -> Option<Role> {
        match proto::ReplicaRole::try_from(role).ok()? {
            proto::ReplicaRole::Node => Some(Role::Node),
            proto::ReplicaRole::Laptop => Some(Role::Laptop),
            proto::ReplicaRole::Viewer => Some(Role::Viewer),
            proto::ReplicaRole::Unspecified => None,
        }
    }
    /// To the wire.
    pub fn to_proto(self) -> proto::ReplicaRole {
        match self {
            Role::Node => proto::ReplicaRole::Node,
            Role::Laptop => proto::ReplicaRole::Laptop,
            Role::Viewer => proto::ReplicaRole::Viewer,
        }
    }
    /// Lowercase English name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Laptop => "laptop",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "node" => Ok(Role::Node),
            "laptop" => Ok(Role::Laptop),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role {other:?}: expected node, laptop or viewer")),
        }
    }
}

/// One enrolled replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrollment {
    /// Its key.
    pub replica: ReplicaId,
    /// The unit it serves; it may write events about this subtree only.
    pub unit: UnitPath,
    /// The level of `unit`.
    pub level: Level,
    /// What it is for.
    pub role: Role,
    /// Events with a later hybrid-logical wall time are refused; 0 means no expiry.
    pub valid_until_ms: u64,
    /// Who enrolled it (itself for the root).
    pub enrolled_by: ReplicaId,
    /// Hops from the root: 0 for the root. Logs are sent in this order, so that a
    /// receiver meets every enrollment before the events it authorises.
    pub depth: u32,
    /// Events after this seq are refused.
    pub revoked_after: Option<Seq>,
    /// The seq of the enrolling event in the enroller's log (0 for the root).
    pub enrolled_at: Seq,
}

/// Why an event is not authorised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    /// The author's key is not enrolled (yet: its enrollment may still be on its way).
    #[error("replica {replica:?} is not enrolled")]
    NotEnrolled {
        /// The author.
        replica: ReplicaId,
    },
    /// The author was revoked before this seq.
    #[error("replica {replica:?} was revoked after seq {revoked_after}; this event is seq {seq}")]
    Revoked {
        /// The author.
        replica: ReplicaId,
        /// The last valid seq.
        revoked_after: Seq,
        /// The event's seq.
        seq: Seq,
    },
    /// The author's enrollment had expired at the event's time.
    #[error("replica {replica:?}'s enrollment expired before this event")]
    Expired {
        /// The author.
        replica: ReplicaId,
    },
    /// The author is quarantined after an equivocation.
    #[error("replica {replica:?} is quarantined after an equivocation")]
    Quarantined {
        /// The author.
        replica: ReplicaId,
    },
    /// The event's unit is outside the author's subtree.
    #[error("unit {unit} is outside the author's subtree {author_unit}")]
    OutsideSubtree {
        /// The event's unit.
        unit: UnitPath,
        /// The author's unit.
        author_unit: UnitPath,
    },
    /// The kind may not be authored at the author's level or role.
    #[error("a {role} at {level} level may not write {kind:?}")]
    KindNotAllowed {
        /// The kind.
        kind: EventKind,
        /// The author's level.
        level: Level,
        /// The author's role.
        role: &'static str,
    },
    /// A disposition step taken at a level its type does not allow (DOMAIN.md section 3).
    #[error("{what} may not be done at {level} level")]
    StepLevelNotAllowed {
        /// The step and type.
        what: String,
        /// The author's level.
        level: Level,
    },
    /// A sign-off of the per-member form by a level other than its stage's.
    #[error("sign-off {stage} is recorded at {required} level, not at {level} level")]
    SignOffLevel {
        /// The stage (English).
        stage: &'static str,
        /// The stage (Chinese).
        stage_zh: &'static str,
        /// The level that records it.
        required: Level,
        /// The author's level.
        level: Level,
    },
    /// An infrastructure event arrived without its body.
    #[error("{kind:?} must travel with its body")]
    MissingBody {
        /// The kind.
        kind: EventKind,
    },
    /// An enrollment or revocation is malformed or exceeds the author's authority.
    #[error("invalid {kind:?}: {reason}")]
    InvalidInfrastructure {
        /// The kind.
        kind: EventKind,
        /// What is wrong.
        reason: String,
    },
}

impl AuthorityError {
    /// The refusal in Chinese, for the people who author events.
    pub fn message_zh(&self) -> String {
        match self {
            AuthorityError::NotEnrolled { .. } => "该节点未登记入网（或其登记尚未同步到此）".into(),
            AuthorityError::Revoked { revoked_after, seq, .. } => {
                format!("该节点已被吊销（第{}条之后的事件无效，本事件为第{}条）", revoked_after.0, seq.0)
            }
            AuthorityError::Expired { .. } => "该节点的登记已过有效期".into(),
            AuthorityError::Quarantined { .. } => "该节点因重复签发事件被隔离，待上级处理".into(),
            AuthorityError::OutsideSubtree { unit, author_unit } => {
                format!("单位 {unit} 不在本节点（{author_unit}）的管理范围内")
            }
            AuthorityError::KindNotAllowed { kind, level, .. } => {
                format!("{}不能记录“{}”", level.name_zh(), crate::body::kind_name_zh(*kind))
            }
            AuthorityError::StepLevelNotAllowed { what, level } => {
                format!("{}不能进行此步骤（{what}）", level.name_zh())
            }
            AuthorityError::SignOffLevel { stage_zh, required, level, .. } => {
                format!("“{stage_zh}”须由{}记录，本节点为{}", required.name_zh(), level.name_zh())
            }
            AuthorityError::MissingBody { .. } => "基础设施事件必须携带正文".into(),
            AuthorityError::InvalidInfrastructure { reason, .. } => format!("登记或吊销事件无效：{reason}"),
        }
    }
}

/// The enrollment state of a province, as far as this replica has seen it.
#[derive(Clone, Debug)]
pub struct Authority {
    root: ReplicaId,
    enrollments: BTreeMap<ReplicaId, Enrollment>,
    quarantined: BTreeSet<ReplicaId>,
}

impl Authority {
    /// The state before any event: only the root, enrolled as the province node of `root_unit`.
    ///
    /// # Panics
    ///
    /// If `root_unit` is not a province-level path (validated configuration never is).
    pub fn new(root: ReplicaId, root_unit: UnitPath) -> Authority {
        assert_eq!(root_unit.level(), Some(Level::Province), "the root unit is a province");
        let mut enrollments = BTreeMap::new();
        enrollments.insert(
            root,
            Enrollment {
                replica: root,
                unit: root_unit,
                level: Level::Province,
                role: Role::Node,
                valid_until_ms: 0,
                enrolled_by: root,
                depth: 0,
                revoked_after: None,
                enrolled_at: Seq(0),
            },
        );
        Authority { root, enrollments, quarantined: BTreeSet::new() }
    }

    /// The root key.
    pub fn root(&self) -> ReplicaId {
        self.root
    }

    /// The enrollment of `replica`, if known.
    pub fn enrollment(&self, replica: &ReplicaId) -> Option<&Enrollment> {
        self.enrollments.get(replica)
    }

    /// Every known enrollment, by replica.
    pub fn enrollments(&self) -> impl Iterator<Item = &Enrollment> {
        self.enrollments.values()
    }

    /// True if `replica` is quarantined.
    pub fn is_quarantined(&self, replica: &ReplicaId) -> bool {
        self.quarantined.contains(replica)
    }

    /// Checks that `event` is authorised.
    ///
    /// # Errors
    ///
    /// [`AuthorityError`] names the rule that refuses it.
    pub fn check(&self, event: &VerifiedEvent) -> Result<(), AuthorityError> {
        self.check_parts(event.header(), event.body())
    }

    /// [`Authority::check`] on a header and its body (`None` for a stub), for events
    /// not yet signed: a node checks its own appends before signing them.
    ///
    /// # Errors
    ///
    /// [`AuthorityError`] names the rule that refuses it.
    pub fn check_parts(&self, header: &Header, body: Option<&Bytes>) -> Result<(), AuthorityError> {
        let replica = header.replica;
        let enrollment = self.enrollments.get(&replica).ok_or(AuthorityError::NotEnrolled { replica })?;
        if let Some(revoked_after) = enrollment.revoked_after
            && header.seq > revoked_after
        {
            return Err(AuthorityError::Revoked { replica, revoked_after, seq: header.seq });
        }
        if enrollment.valid_until_ms != 0 && header.hlc.wall_ms > enrollment.valid_until_ms {
            return Err(AuthorityError::Expired { replica });
        }
        if self.quarantined.contains(&replica) {
            return Err(AuthorityError::Quarantined { replica });
        }
        if !header.unit_path.is_within(&enrollment.unit) {
            return Err(AuthorityError::OutsideSubtree {
                unit: header.unit_path.clone(),
                author_unit: enrollment.unit.clone(),
            });
        }
        if !kind_allowed(header.kind, enrollment.level, enrollment.role) {
            return Err(AuthorityError::KindNotAllowed {
                kind: header.kind,
                level: enrollment.level,
                role: enrollment.role.as_str(),
            });
        }
        // A unit reports its own tables: a report filed at a unit below would be judged by
        // the reporter's own level (which holds the events to make it say anything).
        if header.kind == EventKind::ReportSubmitted && header.unit_path != enrollment.unit {
            return Err(AuthorityError::StepLevelNotAllowed {
                what: format!("submitting the tables of {}, which is not the author's own unit", header.unit_path),
                level: enrollment.level,
            });
        }
        if matches!(header.kind, EventKind::ReportVerified | EventKind::ReportReturned)
            && header.unit_path.parent().as_ref() != Some(&enrollment.unit)
        {
            return Err(AuthorityError::StepLevelNotAllowed {
                what: format!(
                    "verifying or returning the tables of {}, which is not a unit directly below",
                    header.unit_path
                ),
                level: enrollment.level,
            });
        }
        // A unit is named by a level above it; only the root names itself (nobody is above).
        if header.kind == EventKind::UnitNamed
            && header.unit_path == enrollment.unit
            && enrollment.level != Level::Province
        {
            return Err(AuthorityError::StepLevelNotAllowed {
                what: format!("naming its own unit {}, which the level above names", header.unit_path),
                level: enrollment.level,
            });
        }
        if is_infrastructure(header.kind) && body.is_none() {
            return Err(AuthorityError::MissingBody { kind: header.kind });
        }
        if let Some(body) = body {
            step_level_allowed(header.kind, body, enrollment.level, &header.unit_path)?;
        }
        self.infrastructure_effect(header, body).map(|_| ())
    }

    /// Applies an authorised event's effect on enrollment (a no-op for other kinds).
    /// Call only after [`Authority::check`] accepted it.
    pub fn apply(&mut self, event: &VerifiedEvent) {
        self.apply_parts(event.header(), event.body());
    }

    /// [`Authority::apply`] on a header and its body, for an event not yet signed (a
    /// node's own enrollment or revocation takes effect for the later drafts of its
    /// append). Call only after [`Authority::check_parts`] accepted it.
    pub fn apply_parts(&mut self, header: &Header, body: Option<&Bytes>) {
        if let Ok(Some(effect)) = self.infrastructure_effect(header, body) {
            match effect {
                Effect::Enroll(enrollment) => {
                    // Seen again (from the bundle, then from sync): keep the first record.
                    self.enrollments.entry(enrollment.replica).or_insert(enrollment);
                }
                Effect::Revoke { replica, after } => {
                    if let Some(enrollment) = self.enrollments.get_mut(&replica) {
                        enrollment.revoked_after = Some(enrollment.revoked_after.map_or(after, |old| old.min(after)));
                    }
                    // A revocation is how a parent resolves a quarantine.
                    self.quarantined.remove(&replica);
                }
                Effect::Quarantine(replica) => {
                    // Revoked or not: a revoked laptop may still hand in its work, and a
                    // key that forks must not, whatever order proof and revocation took.
                    self.quarantined.insert(replica);
                }
            }
        }
    }

    /// The subtree a viewer may read at a node serving `local_unit`: its enrolled unit,
    /// if it is enrolled as a viewer for a unit inside `local_unit`, not revoked, not
    /// quarantined and not expired at `now_ms`. Viewers read; they never write.
    pub fn viewer_scope(&self, key: &ReplicaId, local_unit: &UnitPath, now_ms: u64) -> Option<UnitPath> {
        let enrollment = self.enrollments.get(key)?;
        let valid = enrollment.role == Role::Viewer
            && enrollment.revoked_after.is_none()
            && !self.quarantined.contains(key)
            && (enrollment.valid_until_ms == 0 || now_ms <= enrollment.valid_until_ms)
            && enrollment.unit.is_within(local_unit);
        valid.then(|| enrollment.unit.clone())
    }

    /// The unit a connected peer may sync as, with a node serving `local_unit`: enrolled
    /// nodes one level below `local_unit` and laptops of `local_unit` itself, neither
    /// revoked nor quarantined. Nobody else syncs with a node as its child.
    pub fn sync_child_unit(&self, key: &ReplicaId, local_unit: &UnitPath) -> Option<UnitPath> {
        let enrollment = self.enrollments.get(key)?;
        let is_child = match enrollment.role {
            Role::Node => enrollment.unit.parent().as_ref() == Some(local_unit),
            Role::Laptop => &enrollment.unit == local_unit,
            Role::Viewer => false,
        };
        let in_good_standing = enrollment.revoked_after.is_none() && !self.quarantined.contains(key);
        (is_child && in_good_standing).then(|| enrollment.unit.clone())
    }

    /// A revoked laptop of `local_unit` (not quarantined) may still hand in what it
    /// signed up to its revocation seq: its unit and that seq. It uploads only; it never
    /// receives anything again.
    pub fn revoked_laptop_of(&self, key: &ReplicaId, local_unit: &UnitPath) -> Option<(UnitPath, Seq)> {
        let enrollment = self.enrollments.get(key)?;
        let revoked_after = enrollment.revoked_after?;
        let of_this_unit = enrollment.role == Role::Laptop && &enrollment.unit == local_unit;
        (of_this_unit && !self.quarantined.contains(key)).then(|| (enrollment.unit.clone(), revoked_after))
    }

    /// The enrollment chain of `replica`: (enroller, seq of the enrolling event) from
    /// the root's enrollment of the first level down to `replica`'s own.
    pub fn chain_of(&self, replica: &ReplicaId) -> Option<Vec<(ReplicaId, Seq)>> {
        let mut chain = Vec::new();
        let mut current = self.enrollments.get(replica)?;
        while current.replica != self.root {
            chain.push((current.enrolled_by, current.enrolled_at));
            current = self.enrollments.get(&current.enrolled_by)?;
            if chain.len() > crate::limits::UNIT_PATH_DEPTH_MAX + 1 {
                return None;
            }
        }
        chain.reverse();
        Some(chain)
    }

    /// Applies the enrollment chain of a bundle (root first), each event verified by the
    /// caller: lets a node or laptop that just joined author before its first sync.
    /// Events that do not check are ignored.
    pub fn apply_chain(&mut self, chain: &[VerifiedEvent]) {
        for event in chain {
            if event.header().kind == EventKind::ReplicaEnrolled && self.check(event).is_ok() {
                self.apply(event);
            }
        }
    }

    /// Quarantines a replica found equivocating (before the proof event is appended).
    pub fn quarantine(&mut self, replica: ReplicaId) {
        self.quarantined.insert(replica);
    }

    /// Whether applying an event of this kind can change the authority (enrollment,
    /// revocation, equivocation proof); every other kind leaves it as it is.
    pub fn changed_by(kind: EventKind) -> bool {
        matches!(kind, EventKind::ReplicaEnrolled | EventKind::ReplicaRevoked | EventKind::EquivocationProof)
    }

    fn infrastructure_effect(&self, header: &Header, body: Option<&Bytes>) -> Result<Option<Effect>, AuthorityError> {
        let kind = header.kind;
        if !Authority::changed_by(kind) {
            return Ok(None);
        }
        let invalid = |reason: String| AuthorityError::InvalidInfrastructure { kind, reason };
        let body = body.ok_or(AuthorityError::MissingBody { kind })?;
        let author =
            self.enrollments.get(&header.replica).ok_or(AuthorityError::NotEnrolled { replica: header.replica })?;
        match Body::decode(kind, body).map_err(|err| invalid(err.to_string()))? {
            Body::ReplicaEnrolled(enrolled) => {
                let replica = ReplicaId(
                    enrolled
                        .public_key
                        .as_ref()
                        .try_into()
                        .map_err(|_| invalid("public key is not 32 bytes".into()))?,
                );
                // Nobody is enrolled with a key no event of theirs could be verified by.
                if !crate::verify::is_valid_replica_key(&replica) {
                    return Err(invalid("public key is not a valid Ed25519 key".into()));
                }
                let unit = UnitPath::parse(&enrolled.unit_path).map_err(|err| invalid(err.to_string()))?;
                let level = proto::Level::try_from(enrolled.level)
                    .ok()
                    .and_then(Level::from_proto)
                    .ok_or_else(|| invalid("level is missing".into()))?;
                let role = Role::from_proto(enrolled.role).ok_or_else(|| invalid("role is missing".into()))?;
                if unit.level() != Some(level) {
                    return Err(invalid(format!("unit {unit} is not at {level} level")));
                }
                if unit != header.unit_path {
                    return Err(invalid(format!(
                        "the event's unit {} is not the enrolled unit {unit}",
                        header.unit_path
                    )));
                }
                let below = unit.is_within(&author.unit) && unit != author.unit;
                let allowed = match role {
                    Role::Node => below,
                    Role::Laptop | Role::Viewer => unit.is_within(&author.unit),
                };
                if !allowed {
                    return Err(invalid(format!(
                        "{} at {} may not enroll a {} at {unit}",
                        author.role.as_str(),
                        author.unit,
                        role.as_str()
                    )));
                }
                if let Some(existing) = self.enrollments.get(&replica)
                    && (existing.enrolled_by != header.replica || existing.unit != unit)
                {
                    return Err(invalid(format!("key {replica:?} is already enrolled at {}", existing.unit)));
                }
                Ok(Some(Effect::Enroll(Enrollment {
                    replica,
                    unit,
                    level,
                    role,
                    valid_until_ms: enrolled.valid_until_ms,
                    enrolled_by: header.replica,
                    depth: author.depth + 1,
                    revoked_after: None,
                    enrolled_at: header.seq,
                })))
            }
            Body::ReplicaRevoked(revoked) => {
                let replica = ReplicaId(
                    revoked.public_key.as_ref().try_into().map_err(|_| invalid("public key is not 32 bytes".into()))?,
                );
                let target =
                    self.enrollments.get(&replica).ok_or_else(|| invalid(format!("{replica:?} is not enrolled")))?;
                if replica == self.root || !target.unit.is_within(&author.unit) {
                    return Err(invalid(format!("{} may not revoke a replica at {}", author.unit, target.unit)));
                }
                Ok(Some(Effect::Revoke { replica, after: Seq(revoked.revoked_after_seq) }))
            }
            Body::EquivocationProof(proof) => {
                let (Some(first), Some(second)) = (proof.first, proof.second) else {
                    return Err(invalid("a proof needs two events".into()));
                };
                let first = crate::verify(&crate::codec::from_proto(first).map_err(|err| invalid(err.to_string()))?)
                    .map_err(|err| invalid(err.to_string()))?;
                let second = crate::verify(&crate::codec::from_proto(second).map_err(|err| invalid(err.to_string()))?)
                    .map_err(|err| invalid(err.to_string()))?;
                if first.replica() != second.replica() || first.seq() != second.seq() || first.hash() == second.hash() {
                    return Err(invalid("the two events are not a fork of one replica at one seq".into()));
                }
                Ok(Some(Effect::Quarantine(first.replica())))
            }
            _ => Ok(None),
        }
    }
}

enum Effect {
    Enroll(Enrollment),
    Revoke { replica: ReplicaId, after: Seq },
    Quarantine(ReplicaId),
}

/// The body-dependent part of authority, checkable from the event alone: a pre-review
/// is by the reviewer's own level and only a level the type requires; an approval is
/// at or above the type's approving level (不予承认: the province).
///
/// A sign-off is by the level its stage names (本人确认 and 支部初核 at the branch,
/// 基层党委复核 at the college). A duplicate-relation finding or settlement names only
/// branches inside the event's own unit.
fn step_level_allowed(
    kind: EventKind,
    body: &Bytes,
    level: Level,
    unit_of_event: &UnitPath,
) -> Result<(), AuthorityError> {
    use crate::audit::case::{approving_level, required_pre_reviews};
    let type_of = |value: i32| proto::DispositionType::try_from(value).unwrap_or(proto::DispositionType::Unspecified);
    match kind {
        EventKind::DispositionPreReviewed => {
            let Ok(Body::DispositionPreReviewed(review)) = Body::decode(kind, body) else { return Ok(()) };
            let claimed = proto::Level::try_from(review.reviewer_level).ok().and_then(Level::from_proto);
            let disposition = type_of(review.disposition);
            if claimed != Some(level) || !required_pre_reviews(disposition).contains(&level) {
                return Err(AuthorityError::StepLevelNotAllowed {
                    what: format!("pre-review of {disposition:?} as {claimed:?}"),
                    level,
                });
            }
        }
        EventKind::FormSignedOff => {
            let Ok(Body::FormSignedOff(signed)) = Body::decode(kind, body) else { return Ok(()) };
            let stage = proto::form_signed_off::Stage::try_from(signed.stage).ok();
            if let Some(stage) = stage
                && let Some(required) = signoff_level(stage)
                && required != level
            {
                let (stage, stage_zh) = match stage {
                    proto::form_signed_off::Stage::MemberConfirmed => ("member confirmation", "本人确认"),
                    proto::form_signed_off::Stage::BranchChecked => ("branch check", "党支部初核"),
                    _ => ("committee re-check", "基层党委复核"),
                };
                return Err(AuthorityError::SignOffLevel { stage, stage_zh, required, level });
            }
        }
        EventKind::DuplicateRelationFound | EventKind::DuplicateRelationSettled => {
            let named: Vec<String> = match Body::decode(kind, body) {
                Ok(Body::DuplicateRelationFound(found)) => found.relations.into_iter().map(|c| c.unit_path).collect(),
                Ok(Body::DuplicateRelationSettled(settled)) => {
                    std::iter::once(settled.keep_unit).chain(settled.released_units).collect()
                }
                _ => return Ok(()),
            };
            for unit in named {
                let inside = UnitPath::parse(&unit).is_ok_and(|unit| unit.is_within(unit_of_event));
                if !inside {
                    return Err(AuthorityError::StepLevelNotAllowed {
                        what: format!("a duplicate-relation finding naming {unit} outside {unit_of_event}"),
                        level,
                    });
                }
            }
        }
        EventKind::UnitNamed => {
            let Ok(Body::UnitNamed(named)) = Body::decode(kind, body) else { return Ok(()) };
            if named.unit_path != unit_of_event.as_str() {
                return Err(AuthorityError::StepLevelNotAllowed {
                    what: format!("a name for {} filed at {unit_of_event}", named.unit_path),
                    level,
                });
            }
            // The name's own rules hold on every receipt too (they depend on the body
            // alone): no key can make a name that breaks an export or a terminal.
            if let Err(violation) = crate::audit::rules::check_unit_name(&named) {
                return Err(AuthorityError::StepLevelNotAllowed { what: format!("a unit name: {violation}"), level });
            }
        }
        EventKind::DispositionApproved => {
            let Ok(Body::DispositionApproved(approval)) = Body::decode(kind, body) else { return Ok(()) };
            let disposition = type_of(approval.disposition);
            if level > approving_level(disposition) {
                return Err(AuthorityError::StepLevelNotAllowed {
                    what: format!("approval of {disposition:?}"),
                    level,
                });
            }
        }
        _ => {}
    }
    Ok(())
}

/// The level that signs each stage of the per-member form: the member's own
/// confirmation and the branch's first check are recorded at the branch, the
/// grassroots committee's re-check at the college.
pub fn signoff_level(stage: proto::form_signed_off::Stage) -> Option<Level> {
    use proto::form_signed_off::Stage as S;
    match stage {
        S::MemberConfirmed | S::BranchChecked => Some(Level::Branch),
        S::CommitteeRechecked => Some(Level::College),
        S::Unspecified => None,
    }
}

/// The levels and roles that may author each kind (DOMAIN.md section 1 and 3).
/// Viewers write nothing; laptops write what their branch writes, except
/// infrastructure that only a node can vouch for.
pub fn kind_allowed(kind: EventKind, level: Level, role: Role) -> bool {
    use EventKind as K;
    if role == Role::Viewer {
        return false;
    }
    let at_or_above = |highest_allowed_depth: Level| level <= highest_allowed_depth;
    match kind {
        K::Unspecified => false,
        K::ReplicaEnrolled | K::ReplicaRevoked | K::Receipt => role == Role::Node,
        K::EquivocationProof => true,
        K::CampaignOpened | K::PolicyChanged | K::SpotCheckRecorded => level == Level::Province,
        // A unit's name is recorded by a node above it (a college names its branches).
        K::UnitNamed => role == Role::Node && at_or_above(Level::College),
        K::ReportSubmitted => at_or_above(Level::College),
        // The level above a reporting unit verifies and returns its tables.
        K::ReportVerified | K::ReportReturned => role == Role::Node && at_or_above(Level::University),
        K::DispositionPreReviewed | K::DispositionApproved | K::DispositionRejected => at_or_above(Level::College),
        K::DispositionVoted => level == Level::Branch,
        // The finding and its settlement belong to a level that owns two branches.
        K::DuplicateRelationFound | K::DuplicateRelationSettled => role == Role::Node && at_or_above(Level::College),
        K::DispositionProposed | K::DispositionInvestigated => level >= Level::College,
        _ => true,
    }
}
