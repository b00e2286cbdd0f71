//! Disposition cases (组织处置): the procedure of DOMAIN.md section 3 as a state
//! machine over the steps recorded for a case.
//!
//! A case keeps every step it received, ordered by [`Stamp`]; its stage is the fold of
//! those steps in that order, so it depends only on the set of steps (a step authored
//! after seeing another has a later hybrid-logical time). A step that does not fit the
//! stage it meets is kept but has no effect, and is counted in `ignored_steps`: the
//! authoring rules ([`crate::audit::rules`]) refuse such steps where they are written, so
//! only a replica that bypassed them can produce one.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::audit::dates;
use crate::audit::member::Stamp;
use crate::audit::policy::{Policy, PolicyHistory};
use crate::body::Body;
use crate::proto;
use crate::proto::DispositionType as T;
use crate::unit::{Level, UnitPath};

/// Where a case stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Stage {
    /// No proposal received yet (steps arrived before it).
    #[default]
    Unproposed,
    /// 提出处置意见: proposed by the branch committee.
    Proposed,
    /// 调查核实: investigated.
    Investigated,
    /// 预审: pre-reviewed by every level the type requires.
    PreReviewed,
    /// 支部大会: voted and passed; awaiting approval.
    Voted,
    /// The branch meeting did not pass it: closed.
    VoteFailed,
    /// 审批: approved by the college (or the province for 不予承认).
    Approved,
    /// A correction period (限期改正) is running.
    CorrectionPeriod,
    /// Filed and notified: in effect.
    Filed,
    /// Closed: a correction period ended with the member corrected.
    Corrected,
    /// Closed: a correction period ended without correction (劝退 may follow).
    NotCorrected,
    /// Overturned on appeal.
    Overturned,
}

impl Stage {
    /// Stable English name (JSON, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Unproposed => "unproposed",
            Stage::Proposed => "proposed",
            Stage::Investigated => "investigated",
            Stage::PreReviewed => "pre_reviewed",
            Stage::Voted => "voted",
            Stage::VoteFailed => "vote_failed",
            Stage::Approved => "approved",
            Stage::CorrectionPeriod => "correction_period",
            Stage::Filed => "filed",
            Stage::Corrected => "corrected",
            Stage::NotCorrected => "not_corrected",
            Stage::Overturned => "overturned",
        }
    }

    /// Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Stage::Unproposed => "未提出",
            Stage::Proposed => "已提出处置意见",
            Stage::Investigated => "已调查核实",
            Stage::PreReviewed => "已预审",
            Stage::Voted => "支部大会已通过",
            Stage::VoteFailed => "支部大会未通过",
            Stage::Approved => "已审批",
            Stage::CorrectionPeriod => "限期改正中",
            Stage::Filed => "已生效备案",
            Stage::Corrected => "已改正结案",
            Stage::NotCorrected => "逾期未改正",
            Stage::Overturned => "申诉后撤销",
        }
    }

    /// The stage named by [`Stage::as_str`].
    pub fn from_name(name: &str) -> Option<Stage> {
        [
            Stage::Unproposed,
            Stage::Proposed,
            Stage::Investigated,
            Stage::PreReviewed,
            Stage::Voted,
            Stage::VoteFailed,
            Stage::Approved,
            Stage::CorrectionPeriod,
            Stage::Filed,
            Stage::Corrected,
            Stage::NotCorrected,
            Stage::Overturned,
        ]
        .into_iter()
        .find(|stage| stage.as_str() == name)
    }

    /// Nothing more is expected of the case.
    pub fn is_closed(self) -> bool {
        matches!(self, Stage::VoteFailed | Stage::Filed | Stage::Corrected | Stage::NotCorrected | Stage::Overturned)
    }

    /// The disposition took effect (counted in table 3).
    pub fn is_effective(self) -> bool {
        matches!(
            self,
            Stage::Approved | Stage::CorrectionPeriod | Stage::Filed | Stage::Corrected | Stage::NotCorrected
        )
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The levels whose pre-review a type requires: the college always; the university in
/// writing for 劝退, every 除名 and 不予承认 (DOMAIN.md section 3).
pub fn required_pre_reviews(disposition: T) -> &'static [Level] {
    match disposition {
        T::PersuadeToWithdraw
        | T::RemovalAfterPersuasion
        | T::SelfSeparationRemoval
        | T::WithdrawalRemoval
        | T::NonRecognition => &[Level::College, Level::University],
        _ => &[Level::College],
    }
}

/// The highest level (smallest depth) that must approve a type: the province for
/// 不予承认 (county-level organisation department or above; DOMAIN.md marks it an
/// inference, so it lives in this one table), the college otherwise.
pub fn approving_level(disposition: T) -> Level {
    match disposition {
        T::NonRecognition => Level::Province,
        _ => Level::College,
    }
}

/// A vote's arithmetic (DOMAIN.md section 3): quorum is more than half of those who
/// should attend present; the motion passes with more than half of those who should
/// attend (not of those present) in favour. "Half" is the policy's (the notice's: 50%).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoteCount {
    /// Full members who should attend (应到会): total minus excluded.
    pub should_attend: u32,
    /// Quorum reached.
    pub quorum: bool,
    /// Passed.
    pub passed: bool,
}

/// Counts a vote.
pub fn count_vote(vote: &proto::DispositionVoted, policy: &Policy) -> VoteCount {
    let should_attend = vote.full_members_total.saturating_sub(vote.excluded);
    let quorum = should_attend > 0 && Policy::more_than(vote.present, should_attend, policy.quorum_percent);
    VoteCount {
        should_attend,
        quorum,
        passed: quorum && Policy::more_than(vote.votes_for, should_attend, policy.majority_percent),
    }
}

/// One recorded step.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// The unit of the event (where it was recorded).
    pub unit: UnitPath,
    /// The level of the replica that wrote it, as enrolled.
    pub author_level: Level,
    /// The step itself.
    pub body: Body,
}

/// A disposition case and every step recorded for it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Case {
    /// The case id.
    pub case_id: String,
    /// Steps by stamp.
    pub steps: BTreeMap<Stamp, Step>,
    /// The fold of the steps (kept current by [`Case::add`]).
    pub view: CaseView,
}

/// The fold of a case's steps.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CaseView {
    /// The member.
    pub member_id: String,
    /// The branch.
    pub unit: Option<UnitPath>,
    /// `proto::DispositionType`.
    pub disposition: i32,
    /// Where it stands.
    pub stage: Stage,
    /// Levels whose agreeing pre-review is on record in this round.
    pub pre_reviewed_by: Vec<Level>,
    /// Rounds sent back to proposal (rejections and disagreeing pre-reviews).
    pub returned: u32,
    /// Votes held in this round (one per case per round).
    pub votes_this_round: u32,
    /// Date of the proposal, of the approval.
    pub proposed_on: Option<NaiveDate>,
    /// Approved on.
    pub approved_on: Option<NaiveDate>,
    /// Steps that did not fit the stage they met.
    pub ignored_steps: u32,
}

impl CaseView {
    /// The case's type.
    pub fn disposition(&self) -> T {
        T::try_from(self.disposition).unwrap_or(T::Unspecified)
    }
}

impl Case {
    /// An empty case.
    pub fn new(case_id: &str) -> Case {
        Case { case_id: case_id.to_string(), ..Case::default() }
    }

    /// Adds a step and refolds.
    pub fn add(&mut self, stamp: Stamp, step: Step, policies: &PolicyHistory) {
        self.steps.insert(stamp, step);
        self.refold(policies);
    }

    /// Folds the steps again (after the policy history changed).
    pub fn refold(&mut self, policies: &PolicyHistory) {
        self.view = fold(&self.steps, policies);
    }

    /// The stage the case would reach with one more step (for authoring rules).
    pub fn with_step(&self, stamp: Stamp, step: Step, policies: &PolicyHistory) -> CaseView {
        let mut steps = self.steps.clone();
        steps.insert(stamp, step);
        fold(&steps, policies)
    }
}

/// Folds steps in stamp order, each judged by the policy in force at its stamp.
pub fn fold(steps: &BTreeMap<Stamp, Step>, policies: &PolicyHistory) -> CaseView {
    let mut view = CaseView::default();
    for (stamp, step) in steps {
        if !advance(&mut view, step, &policies.at(stamp)) {
            view.ignored_steps += 1;
        }
    }
    view
}

/// [`fold`], also saying of each step (in stamp order) whether it took effect and where
/// the case stood before it: what a dossier shows beside each step. Linear in the steps.
pub fn fold_traced(steps: &BTreeMap<Stamp, Step>, policies: &PolicyHistory) -> (CaseView, Vec<(bool, CaseView)>) {
    let mut view = CaseView::default();
    let mut traced = Vec::with_capacity(steps.len());
    for (stamp, step) in steps {
        let before = view.clone();
        let took_effect = advance(&mut view, step, &policies.at(stamp));
        if !took_effect {
            view.ignored_steps += 1;
        }
        traced.push((took_effect, before));
    }
    (view, traced)
}

/// Applies one step; false when it does not fit the stage.
fn advance(view: &mut CaseView, step: &Step, policy: &Policy) -> bool {
    match &step.body {
        Body::DispositionProposed(proposal) => {
            let first = view.stage == Stage::Unproposed;
            let revision = view.stage == Stage::Proposed && view.returned > 0 && view.member_id == proposal.member_id;
            if !(first || revision) {
                return false;
            }
            view.member_id = proposal.member_id.clone();
            view.unit = Some(step.unit.clone());
            view.disposition = proposal.disposition;
            view.proposed_on = dates::opt(proposal.proposed_on.as_ref());
            view.stage = Stage::Proposed;
            true
        }
        Body::DispositionInvestigated(_) => {
            if view.stage != Stage::Proposed {
                return false;
            }
            view.stage = Stage::Investigated;
            true
        }
        Body::DispositionPreReviewed(review) => {
            if !matches!(view.stage, Stage::Investigated) {
                return false;
            }
            let Some(level) = proto::Level::try_from(review.reviewer_level).ok().and_then(Level::from_proto) else {
                return false;
            };
            if level != step.author_level || review.disposition != view.disposition {
                return false;
            }
            let required = required_pre_reviews(view.disposition());
            if !required.contains(&level) || (level == Level::University && !review.written) {
                return false;
            }
            if !review.agreed {
                send_back(view);
                return true;
            }
            if !view.pre_reviewed_by.contains(&level) {
                view.pre_reviewed_by.push(level);
            }
            if required.iter().all(|needed| view.pre_reviewed_by.contains(needed)) {
                view.stage = Stage::PreReviewed;
            }
            true
        }
        Body::DispositionVoted(vote) => {
            if view.stage != Stage::PreReviewed || view.votes_this_round > 0 {
                return false;
            }
            let count = count_vote(vote, policy);
            if !count.quorum || !vote.secret_ballot {
                return false;
            }
            view.votes_this_round += 1;
            view.stage = if count.passed { Stage::Voted } else { Stage::VoteFailed };
            true
        }
        Body::DispositionApproved(approval) => {
            if view.stage != Stage::Voted
                || approval.disposition != view.disposition
                || step.author_level > approving_level(view.disposition())
            {
                return false;
            }
            view.approved_on = dates::opt(approval.approved_on.as_ref());
            view.stage =
                if view.disposition() == T::CorrectionPeriod { Stage::CorrectionPeriod } else { Stage::Approved };
            true
        }
        Body::DispositionRejected(_) => {
            if view.stage != Stage::Voted {
                return false;
            }
            send_back(view);
            true
        }
        Body::DispositionFiled(_) => {
            if view.stage != Stage::Approved {
                return false;
            }
            view.stage = Stage::Filed;
            true
        }
        Body::DispositionAppealed(appeal) => {
            if !matches!(view.stage, Stage::Approved | Stage::Filed | Stage::CorrectionPeriod) {
                return false;
            }
            // An appeal's outcome is the decision of the level appealed to, at or above the
            // one that approved the disposition: a branch records that an appeal was made,
            // never that the approval above it was overturned.
            if appeal_decided(appeal) && step.author_level > approving_level(view.disposition()) {
                return false;
            }
            if appeal.outcome == proto::disposition_appealed::Outcome::Overturned as i32 {
                view.stage = Stage::Overturned;
            }
            true
        }
        Body::CorrectionPeriodReviewed(review) => {
            if view.stage != Stage::CorrectionPeriod {
                return false;
            }
            view.stage = if review.corrected { Stage::Corrected } else { Stage::NotCorrected };
            true
        }
        _ => false,
    }
}

/// An appeal whose outcome is decided (upheld or overturned), not only lodged.
pub fn appeal_decided(appeal: &proto::DispositionAppealed) -> bool {
    use proto::disposition_appealed::Outcome;
    matches!(Outcome::try_from(appeal.outcome), Ok(Outcome::Upheld | Outcome::Overturned))
}

/// Rejection (or a disagreeing pre-review) returns the case to proposal: a new round.
fn send_back(view: &mut CaseView) {
    view.stage = Stage::Proposed;
    view.returned += 1;
    view.pre_reviewed_by.clear();
    view.votes_this_round = 0;
}

/// The case id a step refers to.
pub fn case_id_of(body: &Body) -> Option<&str> {
    match body {
        Body::DispositionProposed(b) => Some(&b.case_id),
        Body::DispositionInvestigated(b) => Some(&b.case_id),
        Body::DispositionPreReviewed(b) => Some(&b.case_id),
        Body::DispositionVoted(b) => Some(&b.case_id),
        Body::DispositionApproved(b) => Some(&b.case_id),
        Body::DispositionRejected(b) => Some(&b.case_id),
        Body::DispositionFiled(b) => Some(&b.case_id),
        Body::DispositionAppealed(b) => Some(&b.case_id),
        Body::CorrectionPeriodReviewed(b) => Some(&b.case_id),
        _ => None,
    }
}
