//! Domain payloads: one protobuf message per [`EventKind`].
//!
//! A body is bound to its header by SHA-256 and is never re-encoded after signing, so
//! decoding is lenient: unknown fields (from a newer minor revision) are ignored.
//! [`Body::encode`] is used only when authoring, before the hash is taken.
//!
//! Invariant: `Body::decode(kind, bytes)` accepts exactly the bytes that decode as the
//! message of `kind`, and `Body::kind` of the result is `kind`.

use bytes::Bytes;
use prost::Message;

use crate::EventKind;
use crate::proto;

macro_rules! bodies {
    ($($variant:ident => $message:ident),* $(,)?) => {
        /// A decoded body of any kind.
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum Body {
            $(
                #[allow(missing_docs)]
                $variant(proto::$message),
            )*
        }

        impl Body {
            /// Decodes the body of an event of `kind`.
            ///
            /// # Errors
            ///
            /// [`BodyError`] when the bytes are not that kind's message.
            pub fn decode(kind: EventKind, bytes: &[u8]) -> Result<Body, BodyError> {
                match kind {
                    $(
                        EventKind::$variant => proto::$message::decode(bytes)
                            .map(Body::$variant)
                            .map_err(|err| BodyError::Malformed { kind, detail: err.to_string() }),
                    )*
                    EventKind::Unspecified => Err(BodyError::UnspecifiedKind),
                }
            }

            /// The kind this body belongs to.
            pub fn kind(&self) -> EventKind {
                match self {
                    $(Body::$variant(_) => EventKind::$variant,)*
                }
            }

            /// Encodes the body (authoring only; received bodies keep their bytes).
            pub fn encode(&self) -> Bytes {
                match self {
                    $(Body::$variant(message) => Bytes::from(message.encode_to_vec()),)*
                }
            }
        }
    };
}

bodies! {
    ReplicaEnrolled => ReplicaEnrolled,
    ReplicaRevoked => ReplicaRevoked,
    Receipt => Receipt,
    EquivocationProof => EquivocationProof,
    CampaignOpened => CampaignOpened,
    UnitNamed => UnitNamed,
    PolicyChanged => PolicyChanged,
    MemberRegistered => MemberRegistered,
    RecordCorrected => RecordCorrected,
    RecordFlagged => RecordFlagged,
    ArchiveReviewed => ArchiveReviewed,
    ContactStatusAssessed => ContactStatusAssessed,
    TransferStubChecked => TransferStubChecked,
    ConductNoted => ConductNoted,
    StatsDiscrepancyFound => StatsDiscrepancyFound,
    StatsDiscrepancyResolved => StatsDiscrepancyResolved,
    FormSignedOff => FormSignedOff,
    DuplicateRelationFound => DuplicateRelationFound,
    DuplicateRelationSettled => DuplicateRelationSettled,
    ContactAttempted => ContactAttempted,
    MemberLocated => MemberLocated,
    ReceivingUnitConfirmed => ReceivingUnitConfirmed,
    ManagementActionTaken => ManagementActionTaken,
    DispositionProposed => DispositionProposed,
    DispositionInvestigated => DispositionInvestigated,
    DispositionPreReviewed => DispositionPreReviewed,
    DispositionVoted => DispositionVoted,
    DispositionApproved => DispositionApproved,
    DispositionRejected => DispositionRejected,
    DispositionFiled => DispositionFiled,
    DispositionAppealed => DispositionAppealed,
    CorrectionPeriodReviewed => CorrectionPeriodReviewed,
    ViolationReferred => ViolationReferred,
    ArchiveMaterialAdded => ArchiveMaterialAdded,
    ReportSubmitted => ReportSubmitted,
    SpotCheckRecorded => SpotCheckRecorded,
    ReportVerified => ReportVerified,
    ReportReturned => ReportReturned,
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The bytes are not the message of the kind.
    #[error("body is not a valid {kind:?} message: {detail}")]
    Malformed {
        /// The kind named by the header.
        kind: EventKind,
        /// The decoder's message.
        detail: String,
    },
    /// Kind 0 has no body type.
    #[error("event kind is unspecified")]
    UnspecifiedKind,
}

/// True for kinds that never carry personal data and always travel in full
/// (DESIGN.md section 5): every replica must be able to verify every key it meets.
pub fn is_infrastructure(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::ReplicaEnrolled
            | EventKind::ReplicaRevoked
            | EventKind::Receipt
            | EventKind::EquivocationProof
            | EventKind::CampaignOpened
            | EventKind::UnitNamed
            | EventKind::PolicyChanged
    )
}

/// Every kind, in wire order (for tests and help text).
pub const ALL_KINDS: &[EventKind] = &[
    EventKind::ReplicaEnrolled,
    EventKind::ReplicaRevoked,
    EventKind::Receipt,
    EventKind::EquivocationProof,
    EventKind::CampaignOpened,
    EventKind::UnitNamed,
    EventKind::PolicyChanged,
    EventKind::MemberRegistered,
    EventKind::RecordCorrected,
    EventKind::RecordFlagged,
    EventKind::ArchiveReviewed,
    EventKind::ContactStatusAssessed,
    EventKind::TransferStubChecked,
    EventKind::ConductNoted,
    EventKind::StatsDiscrepancyFound,
    EventKind::StatsDiscrepancyResolved,
    EventKind::FormSignedOff,
    EventKind::DuplicateRelationFound,
    EventKind::DuplicateRelationSettled,
    EventKind::ContactAttempted,
    EventKind::MemberLocated,
    EventKind::ReceivingUnitConfirmed,
    EventKind::ManagementActionTaken,
    EventKind::DispositionProposed,
    EventKind::DispositionInvestigated,
    EventKind::DispositionPreReviewed,
    EventKind::DispositionVoted,
    EventKind::DispositionApproved,
    EventKind::DispositionRejected,
    EventKind::DispositionFiled,
    EventKind::DispositionAppealed,
    EventKind::CorrectionPeriodReviewed,
    EventKind::ViolationReferred,
    EventKind::ArchiveMaterialAdded,
    EventKind::ReportSubmitted,
    EventKind::SpotCheckRecorded,
    EventKind::ReportVerified,
    EventKind::ReportReturned,
];

/// The Chinese name of a kind, for messages people read.
pub fn kind_name_zh(kind: EventKind) -> &'static str {
    use EventKind as K;
    match kind {
        K::Unspecified => "未指定",
        K::ReplicaEnrolled => "节点登记",
        K::ReplicaRevoked => "节点吊销",
        K::Receipt => "回执",
        K::EquivocationProof => "重复签发证明",
        K::CampaignOpened => "开启排查工作",
        K::UnitNamed => "单位名称登记",
        K::PolicyChanged => "排查政策调整",
        K::MemberRegistered => "党员登记",
        K::RecordCorrected => "信息更正",
        K::RecordFlagged => "待查明标记",
        K::ArchiveReviewed => "档案核查",
        K::ContactStatusAssessed => "联系状态核查",
        K::TransferStubChecked => "介绍信存根核查",
        K::ConductNoted => "现实表现核查",
        K::StatsDiscrepancyFound => "统计库差异",
        K::StatsDiscrepancyResolved => "差异核实",
        K::FormSignedOff => "登记表签字确认",
        K::DuplicateRelationFound => "发现重复组织关系",
        K::DuplicateRelationSettled => "处理重复组织关系",
        K::ContactAttempted => "查找记录",
        K::MemberLocated => "取得联系",
        K::ReceivingUnitConfirmed => "接收单位答复",
        K::ManagementActionTaken => "规范管理措施",
        K::DispositionProposed => "提出处置意见",
        K::DispositionInvestigated => "调查核实",
        K::DispositionPreReviewed => "预审",
        K::DispositionVoted => "支部大会表决",
        K::DispositionApproved => "审批",
        K::DispositionRejected => "退回",
        K::DispositionFiled => "备案",
        K::DispositionAppealed => "申诉",
        K::CorrectionPeriodReviewed => "限期改正审查",
        K::ViolationReferred => "移交纪检或公安",
        K::ArchiveMaterialAdded => "档案材料",
        K::ReportSubmitted => "报送报表",
        K::SpotCheckRecorded => "抽查",
        K::ReportVerified => "报表核验",
        K::ReportReturned => "报表退回",
    }
}
