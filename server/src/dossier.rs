//! Disposition dossiers (案卷) carried out of the system: built from a node's store, and
//! verified anywhere with only the province's root key.
//!
//! A dossier is a ZIP archive:
//!
//! - `manifest.json`: what it is about (case, branch, member), the stage the events
//!   reach, what only the exporting node vouches for (the member's name and masked ID
//!   number, which events are withheld as personal data), the exporting node and the
//!   root, every evidence event's identity (`replica:seq:hash`), and each other file's
//!   SHA-256 and size;
//! - `manifest.sig`: the exporting node's Ed25519 signature (hex) over
//!   [`SIGNATURE_DOMAIN`] followed by the exact bytes of `manifest.json`;
//! - `chain.bin`, `evidence.bin`: signed events exactly as stored, each a 4-byte
//!   big-endian length and the envelope's bytes (`rollcall.v1.SignedEvent`); stubs have
//!   no body;
//! - `summary.txt` (the summary [`rollcall_core::trail::summary_text`] makes of the
//!   events, which the verifier regenerates), `summary.xlsx` (steps, search attempts,
//!   votes), `summary.pdf` (when the machine has a Chinese font), `README.txt`.
//!
//! Invariants: a dossier is examined by the same [`rollcall_core::trail::examine`] before
//! it is written, so a node never hands out a dossier its own verifier refuses; the
//! archive is built whole in memory; personal data (ID number, phone, address) leaves
//! only with `show_personal`, otherwise the events holding it go as stubs and the ID
//! number is masked.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use ed25519_dalek::{Signer, SigningKey};
use rollcall_core::audit::case::{self, Stage};
use rollcall_core::audit::projection::{Projection, member_id_of};
use rollcall_core::authority::Authority;
use rollcall_core::body::Body;
use rollcall_core::trail::{self, Attestation, Contents, Problem, Subject};
use rollcall_core::{EventKind, ReplicaId, Seq, SignedEvent, UnitPath, VerifiedEvent, codec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::export::{Cell, Sheet, SheetColumn};
use crate::store::{Store, StoreError};

/// The manifest's `format` for a dossier.
pub const DOSSIER_FORMAT: &str = "rollcall-dossier/1";
/// The manifest's `format` for a report proof.
pub const REPORT_PROOF_FORMAT: &str = "rollcall-report-proof/1";
/// Signed before the manifest's bytes, so the signature means nothing anywhere else.
pub const SIGNATURE_DOMAIN: &[u8] = b"rollcall dossier manifest v1\n";
/// A dossier larger than this is refused when read (a reviewer's machine is not a node).
pub const DOSSIER_BYTES_MAX: u64 = 1 << 30;
/// One event in a dossier file, at most (the limit of an append).
const EVENT_BYTES_MAX: usize = 16 << 20;
/// A dossier's PDF is drawn again to be compared only up to this many rows of steps.
const PDF_ROWS_CHECKED_MAX: usize = 1000;
/// Events read from a log at a time.
const READ_PAGE: usize = 4096;

/// Why a dossier could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum DossierError {
    /// No such case at the node.
    #[error("no case {case_id} is held here{}", unit.as_ref().map(|u| format!(" at {u}")).unwrap_or_default())]
    NoCase {
        /// The case asked for.
        case_id: String,
        /// The branch named, if any.
        unit: Option<UnitPath>,
    },
    /// The unit has not submitted the table (as far as this node holds).
    #[error("no submission of table {table} by {unit} is held here")]
    NoReport {
        /// The reporting unit.
        unit: UnitPath,
        /// The table.
        table: u32,
    },
    /// The case id is filed at several branches.
    #[error("case {case_id} is filed at several branches ({units}): name the branch with --unit")]
    Ambiguous {
        /// The case.
        case_id: String,
        /// Where.
        units: String,
    },
    /// The case is outside what the asker may read.
    #[error("case {case_id} at {unit} is outside {scope}")]
    OutsideScope {
        /// The case.
        case_id: String,
        /// Its branch.
        unit: UnitPath,
        /// The asker's scope.
        scope: UnitPath,
    },
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The dossier the node built does not pass its own examination (a bug or a damaged store).
    #[error("the dossier built here does not verify: {0}")]
    SelfCheck(String),
    /// The archive could not be written or read.
    #[error("the dossier archive: {0}")]
    Archive(String),
}

impl DossierError {
    /// In Chinese, for the CLI.
    pub fn message_zh(&self) -> String {
        match self {
            DossierError::NoCase { case_id, unit } => {
                format!("本节点没有案件 {case_id}{}", unit.as_ref().map(|u| format!("（在 {u}）")).unwrap_or_default())
            }
            DossierError::NoReport { unit, table } => format!("本节点没有 {unit} 报送表{table}的记录"),
            DossierError::Ambiguous { case_id, units } => {
                format!("案件编号 {case_id} 在多个党支部出现（{units}）：请用 --unit 指明党支部")
            }
            DossierError::OutsideScope { case_id, unit, scope } => {
                format!("案件 {case_id}（{unit}）不在 {scope} 范围内")
            }
            DossierError::Store(error) => format!("读取存储失败：{error}"),
            DossierError::SelfCheck(detail) => format!("本节点生成的案卷未通过自身核验：{detail}"),
            DossierError::Archive(detail) => format!("案卷文件：{detail}"),
        }
    }
}

/// What a dossier is about, read from the projection before the store is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The branch.
    pub unit: UnitPath,
    /// The case asked for.
    pub case_id: String,
    /// It and the member's other cases at the branch.
    pub case_ids: BTreeSet<String>,
    /// The member.
    pub member_id: String,
    /// The name the node holds.
    pub member_name: String,
    /// The ID number, masked unless `show_personal`.
    pub id_number: String,
    /// Personal data in full.
    pub show_personal: bool,
}

/// What a report proof is about, read from the projection before the store is.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportPlan {
    /// The reporting unit.
    pub unit: UnitPath,
    /// The table.
    pub table: u32,
    /// The submission.
    pub report: rollcall_core::audit::projection::ReportRecord,
    /// The level above's verdict on it, if any.
    pub verdict: Option<rollcall_core::proto::ReportVerified>,
}

/// What is asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DossierRequest {
    /// The case.
    pub case_id: String,
    /// Its branch (needed only when the id is filed at several).
    pub unit: Option<UnitPath>,
    /// Include personal data in full (operators only).
    pub show_personal: bool,
}

/// A built dossier.
#[derive(Clone, Debug)]
pub struct Dossier {
    /// The ZIP archive.
    pub bytes: Vec<u8>,
    /// The stage the events reach (a dossier).
    pub stage: Stage,
    /// What it shows in a word: a dossier's stage, a proof's `equal` or `differs`.
    pub status: String,
    /// Evidence events in it.
    pub events: usize,
    /// What was left out and why (no Chinese font for the PDF).
    pub warnings: Vec<String>,
}

/// The manifest: what the exporting node signs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`DOSSIER_FORMAT`].
    pub format: String,
    /// The case.
    pub case_id: String,
    /// Its branch.
    pub unit: String,
    /// The member.
    pub member_id: String,
    /// The stage the events reach ([`Stage::as_str`]); a proof: `equal` or `differs`.
    pub stage: String,
    /// A report proof: the table.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub table: u32,
    /// A report proof: the `ReportSubmitted` event (`replica:seq`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub report: String,
    /// The member's name, vouched for by the exporting node.
    pub member_name: String,
    /// The ID number (masked unless `show_personal`), vouched for by the exporting node.
    pub id_number: String,
    /// Whether personal data is included in full.
    pub show_personal: bool,
    /// Events about the member included as stubs because their bodies hold personal
    /// data: `replica:seq`.
    pub withheld: Vec<String>,
    /// The province's root key (hex) and unit.
    pub root: String,
    /// The province's unit.
    pub root_unit: String,
    /// The exporting node's key (hex).
    pub exporter: String,
    /// Its unit.
    pub exporter_unit: String,
    /// When it was exported (China Standard Time).
    pub exported_at: String,
    /// Every evidence event, in file order: `replica:seq:hash`.
    pub events: Vec<String>,
    /// Every other file of the archive.
    pub files: Vec<ManifestFile>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// One file of the archive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Its name in the archive.
    pub name: String,
    /// SHA-256 (hex).
    pub sha256: String,
    /// Size.
    pub bytes: u64,
}

/// What a dossier is built from.
pub struct Source<'a> {
    /// The node's store.
    pub store: &'a Store,
    /// Its enrollment state.
    pub authority: &'a Authority,
    /// Its signing key.
    pub key: &'a SigningKey,
    /// Its unit.
    pub unit: &'a UnitPath,
    /// The province's unit.
    pub root_unit: &'a UnitPath,
    /// Now (ms since the epoch).
    pub now_ms: u64,
}

fn event_ref(event: &VerifiedEvent) -> String {
    format!("{}:{}:{}", event.replica().to_hex(), event.seq().0, hex::encode(event.hash().0))
}

/// The log and seq of `replica:seq` or `replica:seq:hash`.
fn replica_seq(text: &str) -> Option<(ReplicaId, Seq)> {
    let mut parts = text.split(':');
    let (replica, seq) = (parts.next()?, parts.next()?);
    Some((ReplicaId::from_hex(replica).ok()?, Seq(seq.parse().ok()?)))
}

/// Events as a dossier file holds them: each a 4-byte big-endian length and the
/// envelope's bytes.
pub fn frame(events: &[SignedEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        let bytes = codec::encode_signed(event);
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

/// The events of a dossier file ([`frame`]'s inverse); `name` names the file in errors.
///
/// # Errors
///
/// A sentence naming the event that is truncated, too large or not a signed event.
pub fn unframe(name: &str, mut bytes: &[u8]) -> Result<Vec<SignedEvent>, String> {
    let mut events = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 4 {
            return Err(format!("{name}: truncated after {} events", events.len()));
        }
        let length = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
        if length > EVENT_BYTES_MAX || bytes.len() < 4 + length {
            return Err(format!("{name}: event {} is truncated or too large", events.len() + 1));
        }
        let event = codec::decode_signed(&bytes[4..4 + length])
            .map_err(|error| format!("{name}: event {} is not a signed event: {error}", events.len() + 1))?;
        events.push(event);
        bytes = &bytes[4 + length..];
    }
    Ok(events)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What a dossier of a case is about, read from the projection (for a reader whose scope
/// is `scope`): the branch, the member, the member's cases there, what the node attests.
///
/// # Errors
///
/// [`DossierError`] when the case is not held or is outside `scope`.
pub fn plan(projection: &Projection, request: &DossierRequest, scope: &UnitPath) -> Result<Plan, DossierError> {
    let no_case = || DossierError::NoCase { case_id: request.case_id.clone(), unit: request.unit.clone() };
    let unit = match &request.unit {
        Some(unit) => {
            projection.case_at(unit, &request.case_id).ok_or_else(no_case)?;
            unit.clone()
        }
        None => {
            let units: Vec<UnitPath> = projection
                .cases()
                .filter(|c| c.case_id == request.case_id)
                .filter_map(|c| c.steps.values().next().map(|step| step.unit.clone()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            match units.as_slice() {
                [] => return Err(no_case()),
                [one] => one.clone(),
                many => {
                    return Err(DossierError::Ambiguous {
                        case_id: request.case_id.clone(),
                        units: many.iter().map(UnitPath::to_string).collect::<Vec<_>>().join(", "),
                    });
                }
            }
        }
    };
    if !unit.is_within(scope) {
        return Err(DossierError::OutsideScope { case_id: request.case_id.clone(), unit, scope: scope.clone() });
    }
    let case = projection.case_at(&unit, &request.case_id).ok_or_else(no_case)?;
    let member_id = case.view.member_id.clone();
    // The member's other cases at the branch (an earlier round that failed, a 劝退 before
    // a 劝而不退除名).
    let mut case_ids: BTreeSet<String> =
        projection.relation(&member_id, &unit).map(|entry| entry.cases().iter().cloned().collect()).unwrap_or_default();
    case_ids.insert(request.case_id.clone());
    // What only this node vouches for.
    let (member_name, id_number) = match crate::queries::member(projection, &unit, &member_id) {
        Ok(mut response) => match response.form.as_mut() {
            Some(form) => {
                if !request.show_personal {
                    crate::queries::mask_personal(form);
                }
                (form.name.clone(), form.id_number.clone())
            }
            None => (String::new(), String::new()),
        },
        Err(_) => (String::new(), String::new()),
    };
    Ok(Plan {
        unit,
        case_id: request.case_id.clone(),
        case_ids,
        member_id,
        member_name,
        id_number,
        show_personal: request.show_personal,
    })
}

/// Builds the dossier a [`plan`] describes from the store (the projection's lock is not
/// held: the writer goes on while the logs are read).
///
/// # Errors
///
/// [`DossierError`] when the store fails or the dossier does not verify.
pub fn build(source: &Source<'_>, plan: &Plan) -> Result<Dossier, DossierError> {
    let Plan { unit, case_ids, member_id, .. } = plan;
    let (unit, member_id) = (unit.clone(), member_id.clone());
    let request = DossierRequest { case_id: plan.case_id.clone(), unit: None, show_personal: plan.show_personal };

    // Who can have written about the branch: its laptops and the nodes at and above it.
    let authors: Vec<ReplicaId> = source
        .authority
        .enrollments()
        .filter(|e| e.role != rollcall_core::authority::Role::Viewer)
        .filter(|e| unit.is_within(&e.unit) || e.unit.is_within(&unit))
        .map(|e| e.replica)
        .collect();
    let mut evidence: BTreeMap<(ReplicaId, Seq), VerifiedEvent> = BTreeMap::new();
    let mut proved: BTreeSet<(ReplicaId, Seq)> = BTreeSet::new();
    let mut withheld: BTreeSet<(ReplicaId, Seq)> = BTreeSet::new();
    let mut receipts: Vec<VerifiedEvent> = Vec::new();
    for replica in &authors {
        let mut from = Seq(1);
        loop {
            let page = source.store.read_log_without_signatures(*replica, from, READ_PAGE)?;
            let Some(last) = page.last().map(VerifiedEvent::seq) else { break };
            let complete = page.len() < READ_PAGE;
            for event in page {
                let header = event.header();
                let key = (event.replica(), event.seq());
                let Some(body) = event.body().and_then(|bytes| Body::decode(header.kind, bytes).ok()) else {
                    continue;
                };
                match &body {
                    Body::CampaignOpened(_) | Body::PolicyChanged(_) => {
                        evidence.insert(key, event);
                        continue;
                    }
                    Body::Receipt(_) => {
                        receipts.push(event);
                        continue;
                    }
                    _ => {}
                }
                if header.unit_path != unit {
                    continue;
                }
                let of_case = case::case_id_of(&body).is_some_and(|id| case_ids.contains(id));
                let of_member = member_id_of(&body) == Some(member_id.as_str());
                if !(of_case || of_member) {
                    continue;
                }
                proved.insert(key);
                if !request.show_personal
                    && crate::queries::carries_personal_data(header.kind, event.body().expect("decoded above"))
                {
                    withheld.insert(key);
                    evidence.insert(key, event.into_stub());
                } else {
                    evidence.insert(key, event);
                }
            }
            if complete {
                break;
            }
            from = Seq(last.0 + 1);
        }
    }

    // Receipts decoded once, each with its signer's unit (nodes only).
    let decoded: Vec<(VerifiedEvent, rollcall_core::proto::Receipt, UnitPath)> = receipts
        .into_iter()
        .filter_map(|receipt| {
            let signer = source.authority.enrollment(&receipt.replica())?;
            if signer.role != rollcall_core::authority::Role::Node {
                return None;
            }
            let Body::Receipt(body) = Body::decode(EventKind::Receipt, receipt.body()?).ok()? else { return None };
            let unit = signer.unit.clone();
            Some((receipt, body, unit))
        })
        .collect();
    let above_of = |replica: &ReplicaId| source.authority.enrollment(replica).and_then(|e| e.unit.parent());
    // For each proved event, the earliest receipt of a node of the level above that
    // covers it.
    for (replica, seq) in &proved {
        let Some(above) = above_of(replica) else { continue };
        let best = decoded
            .iter()
            .filter(|(_, _, unit)| *unit == above)
            .filter_map(|(receipt, body, _)| {
                let head = body.heads.iter().find(|h| h.replica[..] == replica.0[..] && h.seq >= seq.0)?;
                Some((body.stored_at_ms, head.seq, receipt))
            })
            .min_by_key(|(at, seq, _)| (*at, *seq));
        if let Some((_, _, receipt)) = best {
            evidence.insert((receipt.replica(), receipt.seq()), receipt.clone());
        }
    }
    // Stubs fill each log from its first proved event to the last event it must reach:
    // every head, in a receipt of the level above included (chosen, or travelling whole
    // inside a filled range), for a proved log — the verifier requires the events up to
    // it. Filling can bring in more receipts, so until nothing moves.
    let mut ranges: BTreeMap<ReplicaId, (u64, u64)> = BTreeMap::new();
    for (replica, seq) in &proved {
        let range = ranges.entry(*replica).or_insert((seq.0, seq.0));
        range.0 = range.0.min(seq.0);
        range.1 = range.1.max(seq.0);
    }
    let mut read_to: BTreeMap<ReplicaId, u64> = BTreeMap::new();
    loop {
        for event in evidence.values().filter(|e| e.header().kind == EventKind::Receipt && !e.is_stub()) {
            let Some(signer) = source.authority.enrollment(&event.replica()) else { continue };
            let Some(Ok(Body::Receipt(body))) = event.body().map(|b| Body::decode(EventKind::Receipt, b)) else {
                continue;
            };
            for head in &body.heads {
                let Ok(replica) = <[u8; 32]>::try_from(&head.replica[..]).map(ReplicaId) else { continue };
                if signer.role != rollcall_core::authority::Role::Node
                    || above_of(&replica).as_ref() != Some(&signer.unit)
                {
                    continue;
                }
                if let Some(range) = ranges.get_mut(&replica)
                    && head.seq >= range.0
                {
                    range.1 = range.1.max(head.seq);
                }
            }
        }
        let mut moved = false;
        for (replica, (first, last)) in &ranges {
            let mut from = read_to.get(replica).map_or(*first, |done| done + 1);
            while from <= *last {
                moved = true;
                let page = source.store.read_log_without_signatures(
                    *replica,
                    Seq(from),
                    READ_PAGE.min((last - from + 1) as usize),
                )?;
                let Some(end) = page.last().map(|e| e.seq().0) else { break };
                for event in page {
                    // Stubs link the log; infrastructure always travels whole (a receipt
                    // or an enrollment as a stub is refused by every receiver), and so do
                    // the branch's disposition steps (a stub could hide one of this case's).
                    let kind = event.header().kind;
                    let whole = rollcall_core::body::is_infrastructure(kind)
                        || (event.header().unit_path == unit && trail::is_case_step_kind(kind));
                    evidence
                        .entry((event.replica(), event.seq()))
                        .or_insert_with(|| if whole { event } else { event.into_stub() });
                }
                from = end + 1;
            }
            read_to.insert(*replica, (*last).max(read_to.get(replica).copied().unwrap_or(0)));
        }
        if !moved {
            break;
        }
    }

    let chain: Vec<SignedEvent> =
        source.store.authority_events_in_ingest_order()?.iter().map(VerifiedEvent::to_signed).collect();
    let evidence_events: Vec<SignedEvent> = evidence.values().map(VerifiedEvent::to_signed).collect();

    // What only this node vouches for.
    let (member_name, id_number) = (plan.member_name.clone(), plan.id_number.clone());
    let subject = Subject { unit: unit.clone(), case_id: request.case_id.clone(), member_id: member_id.clone() };
    let attestation = Attestation { member_name, id_number, withheld: withheld.clone() };
    let contents = Contents { chain: chain.clone(), evidence: evidence_events.clone() };
    let examination = trail::examine(
        source.authority.root(),
        source.root_unit,
        &subject,
        &attestation,
        ReplicaId(source.key.verifying_key().to_bytes()),
        &contents,
    );
    if let Some(problem) = examination.problems.first() {
        return Err(DossierError::SelfCheck(problem.en.clone()));
    }
    let stage = trail::stage_of(&examination.summary, &request.case_id).unwrap_or_default();
    let mut warnings: Vec<String> = Vec::new();
    if !examination.unacknowledged.is_empty() {
        warnings.push(format!(
            "{} step(s) or member event(s) have no receipt of the level above yet, so the dossier will not verify until they do (export again after the next sync): {}",
            examination.unacknowledged.len(),
            examination.unacknowledged.iter().map(|p| p.en.as_str()).collect::<Vec<_>>().join("; ")
        ));
    }
    let summary = trail::summary_text(&subject, &attestation, &examination.summary);

    // The files, then the manifest over them.
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("chain.bin".to_string(), frame(&chain)),
        ("evidence.bin".to_string(), frame(&evidence_events)),
        ("summary.txt".to_string(), summary.into_bytes()),
        ("README.txt".to_string(), README.as_bytes().to_vec()),
    ];
    let sheets = summary_sheets(&subject, &examination.summary);
    files.push((
        "summary.xlsx".to_string(),
        crate::export::xlsx_bytes_many(&sheets).map_err(|e| DossierError::Archive(e.to_string()))?,
    ));
    match crate::pdf::pdf_bytes(&sheets[0], std::path::Path::new("summary.pdf")) {
        Ok(bytes) => files.push(("summary.pdf".to_string(), bytes)),
        Err(error) => warnings.push(format!("summary.pdf left out: {error}")),
    }
    let manifest = Manifest {
        format: DOSSIER_FORMAT.to_string(),
        case_id: request.case_id.clone(),
        unit: unit.to_string(),
        member_id,
        stage: stage.as_str().to_string(),
        member_name: attestation.member_name.clone(),
        id_number: attestation.id_number.clone(),
        show_personal: request.show_personal,
        withheld: withheld.iter().map(|(replica, seq)| format!("{}:{}", replica.to_hex(), seq.0)).collect(),
        root: source.authority.root().to_hex(),
        root_unit: source.root_unit.to_string(),
        exporter: ReplicaId(source.key.verifying_key().to_bytes()).to_hex(),
        exporter_unit: source.unit.to_string(),
        exported_at: trail::cst_time(source.now_ms),
        events: evidence.values().map(event_ref).collect(),
        table: 0,
        report: String::new(),
        files: Vec::new(),
    };
    let bytes = seal(source.key, &manifest, &files)?;
    Ok(Dossier { bytes, stage, status: stage.as_str().to_string(), events: evidence.len(), warnings })
}

/// Lists `files` in the manifest, signs it with the node's key and writes the archive:
/// `manifest.json`, `manifest.sig`, then the files.
fn seal(key: &SigningKey, manifest: &Manifest, files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, DossierError> {
    let size: u64 = files.iter().map(|(_, bytes)| bytes.len() as u64).sum();
    if size > DOSSIER_BYTES_MAX {
        return Err(DossierError::Archive(format!(
            "it would hold {} MiB, more than a verifier reads ({} MiB): ask for a unit lower down",
            size >> 20,
            DOSSIER_BYTES_MAX >> 20
        )));
    }
    let mut manifest = manifest.clone();
    manifest.files = files
        .iter()
        .map(|(name, bytes)| ManifestFile { name: name.clone(), sha256: sha256_hex(bytes), bytes: bytes.len() as u64 })
        .collect();
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| DossierError::Archive(e.to_string()))?;
    let mut signed = SIGNATURE_DOMAIN.to_vec();
    signed.extend_from_slice(&manifest_bytes);
    let signature = hex::encode(key.sign(&signed).to_bytes());
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut add = |name: &str, bytes: &[u8]| -> Result<(), DossierError> {
        archive.start_file(name, options).map_err(|e| DossierError::Archive(e.to_string()))?;
        archive.write_all(bytes).map_err(|e| DossierError::Archive(e.to_string()))
    };
    add("manifest.json", &manifest_bytes)?;
    add("manifest.sig", signature.as_bytes())?;
    for (name, bytes) in files {
        add(name, bytes)?;
    }
    Ok(archive.finish().map_err(|e| DossierError::Archive(e.to_string()))?.into_inner())
}

/// How to check a dossier (in the archive).
const README: &str = "\
本文件为党员组织处置案卷，由 rollcall 节点导出并签名。
核验（无需联网、无需节点，只需本省根密钥）：
  rollcall verify dossier 本文件.zip --root <本省根密钥>
核验内容：每个事件的签名与正文哈希，每个签名者自根密钥起的登记链（签名时未被撤销、层级和范围正确），
同一日志前后事件的哈希链接，上级回执（证明每一步何时到达上一级），按每步当时有效的政策重演处置程序，
并重新生成 summary.txt 逐字比对。

This archive is a disposition dossier exported and signed by a rollcall node.
Verify it offline with only the province's root key:
  rollcall verify dossier THIS.zip --root <province root key>
chain.bin and evidence.bin hold signed events exactly as stored, each a 4-byte big-endian length
followed by a rollcall.v1.SignedEvent (proto/rollcall/v1/event.proto); manifest.sig is the exporting
node's Ed25519 signature (hex) over \"rollcall dossier manifest v1\\n\" followed by manifest.json.
";

fn summary_sheets(subject: &Subject, summary: &trail::Summary) -> Vec<Sheet> {
    let column = |heading: &str, width: f64| SheetColumn { group: String::new(), heading: heading.to_string(), width };
    let unit_line = format!("党支部：{}    党员编号：{}", subject.unit, subject.member_id);
    let date_line = format!("案件编号：{}", subject.case_id);
    let sheet = |name: &str, title: &str, columns: Vec<SheetColumn>, rows: Vec<Vec<Cell>>| Sheet {
        sheet_name: name.to_string(),
        title: title.to_string(),
        unit_line: unit_line.clone(),
        date_line: date_line.clone(),
        subtitle: format!("{unit_line}    {date_line}"),
        headings: columns.iter().map(|c| c.heading.clone()).collect(),
        columns,
        column_numbers: Vec::new(),
        rows,
        footer: "核验：rollcall verify dossier 案卷.zip --root <本省根密钥>".to_string(),
        legend: Vec::new(),
    };
    let received = |r: Option<&(u64, ReplicaId, rollcall_core::Level)>| {
        r.map(|(at, by, level)| format!("{}（{}节点 {}）", trail::cst_time(*at), level.name_zh(), by.short()))
            .unwrap_or_else(|| "未见上级回执".to_string())
    };
    let mut step_rows = Vec::new();
    for trail in &summary.cases {
        for (index, step) in trail.steps.iter().enumerate() {
            step_rows.push(vec![
                Cell::Text(trail.case_id.clone()),
                Cell::Number(index as i64 + 1),
                Cell::Text(format!(
                    "{}{}",
                    rollcall_core::body::kind_name_zh(step.kind),
                    if step.effective { "" } else { "（未生效）" }
                )),
                Cell::Text(format!(
                    "{} {}（{}）",
                    step.author_level.name_zh(),
                    step.stamp.replica().short(),
                    step.author_unit
                )),
                Cell::Text(trail::cst_time(step.stamp.hlc().wall_ms)),
                Cell::Text(step.content.clone()),
                Cell::Text(step.rule.clone()),
                Cell::Text(received(step.received_above.as_ref())),
            ]);
        }
    }
    let steps = sheet(
        "处置程序",
        "党员组织处置案卷",
        vec![
            column("案件编号", 12.0),
            column("序号", 5.0),
            column("步骤", 12.0),
            column("签名者", 22.0),
            column("签名时间", 17.0),
            column("内容", 48.0),
            column("依据", 36.0),
            column("上级收到", 24.0),
        ],
        step_rows,
    );
    let attempts = sheet(
        "查找记录",
        "失联党员查找记录",
        vec![
            column("序号", 5.0),
            column("日期", 12.0),
            column("查找方式", 16.0),
            column("结果", 12.0),
            column("备注", 40.0),
            column("签名者", 12.0),
        ],
        summary
            .attempts
            .iter()
            .enumerate()
            .map(|(index, (stamp, attempt))| {
                vec![
                    Cell::Number(index as i64 + 1),
                    Cell::Text(
                        attempt.attempted_on.as_ref().map(rollcall_core::audit::dates::display).unwrap_or_default(),
                    ),
                    Cell::Text(rollcall_core::audit::tables::method_name_zh(attempt.method).to_string()),
                    Cell::Text(attempt_outcome_zh(attempt.outcome).to_string()),
                    Cell::Text(attempt.note.clone()),
                    Cell::Text(stamp.replica().short()),
                ]
            })
            .collect(),
    );
    let vote_rows = summary
        .cases
        .iter()
        .flat_map(|trail| trail.steps.iter().map(move |step| (trail, step)))
        .filter(|(_, step)| step.kind == EventKind::DispositionVoted)
        .map(|(trail, step)| {
            vec![
                Cell::Text(trail.case_id.clone()),
                Cell::Text(trail::cst_time(step.stamp.hlc().wall_ms)),
                Cell::Text(step.content.clone()),
                Cell::Text(step.rule.clone()),
            ]
        })
        .collect();
    let votes = sheet(
        "表决",
        "支部大会表决",
        vec![column("案件编号", 12.0), column("签名时间", 17.0), column("表决情况", 60.0), column("依据与结果", 48.0)],
        vote_rows,
    );
    vec![steps, attempts, votes]
}

fn attempt_outcome_zh(outcome: i32) -> &'static str {
    use rollcall_proto::v1::contact_attempted::Outcome as O;
    match O::try_from(outcome).unwrap_or(O::Unspecified) {
        O::NoResponse => "无回应",
        O::LeadObtained => "获得线索",
        O::Reached => "已联系上",
        O::ConfirmedDeceased => "确认已去世",
        O::Unspecified => "",
    }
}

/// The verdict on a dossier file.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// The manifest, when it could be read.
    pub manifest: Manifest,
    /// What was checked and found right, one line each (Chinese, English).
    pub checked: Vec<(String, String)>,
    /// Every difference (empty: verified).
    pub problems: Vec<Problem>,
    /// What the reviewer should know that is not a difference (Chinese, English).
    pub notes: Vec<(String, String)>,
    /// The summary the events support.
    pub summary: String,
}

impl Verdict {
    fn problem(&mut self, zh: String, en: String) {
        self.problems.push(Problem { zh, en });
    }
    fn ok(&mut self, zh: String, en: String) {
        self.checked.push((zh, en));
    }
    fn note(&mut self, zh: String, en: String) {
        self.notes.push((zh, en));
    }
    /// `summary.txt` as printed against the summary regenerated from the events.
    fn summary_matches(&mut self, printed: Option<&Vec<u8>>, regenerated: &str) {
        match printed {
            Some(printed) if printed == regenerated.as_bytes() => self.ok(
                "summary.txt 与由事件重新生成的摘要逐字一致".into(),
                "summary.txt equals the summary regenerated from the events".into(),
            ),
            Some(printed) => {
                let printed = String::from_utf8_lossy(printed);
                let line = printed
                    .lines()
                    .zip(regenerated.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| printed.lines().count().min(regenerated.lines().count()));
                self.problem(
                    format!("summary.txt 第 {} 行与由事件重新生成的摘要不同", line + 1),
                    format!("summary.txt line {} differs from the summary regenerated from the events", line + 1),
                );
            }
            None => self.problem("缺少 summary.txt".into(), "summary.txt is missing".into()),
        }
    }

    /// Each difference once, in the order found.
    fn dedup(&mut self) {
        let mut seen = BTreeSet::new();
        self.problems.retain(|p| seen.insert(p.en.clone()));
    }
    /// The exporting node as enrolled: its unit must be the manifest's; below the
    /// province, what it left out of upper logs rests on its word.
    fn exporter(&mut self, manifest: &Manifest, enrolled: Option<&UnitPath>) {
        let Some(unit) = enrolled else { return };
        if unit.as_str() != manifest.exporter_unit {
            self.problem(
                format!("清单称导出节点属于 {}，登记链中它属于 {unit}", manifest.exporter_unit),
                format!(
                    "the manifest says the exporter is of {}, the chain enrolls it at {unit}",
                    manifest.exporter_unit
                ),
            );
        }
        self.note(
            format!(
                "由 {unit} 的节点导出：未附入的事件（所附日志之外、最后一个所附事件之后的事件，登记链中的撤销）是否齐全，仅由该节点的签名证明"
            ),
            format!(
                "exported by the node of {unit}: that nothing was left out entirely (logs not included, events after the last one included, revocations in the chain) rests on that node's signature"
            ),
        );
    }
}

/// The number of entries the end-of-central-directory record declares (plain ZIP, as
/// this module writes it), or `None` when there is no such record.
fn central_directory_entries(bytes: &[u8]) -> Option<usize> {
    const SIGNATURE: &[u8] = b"PK\x05\x06";
    let tail_start = bytes.len().saturating_sub(22 + 65_535);
    let at = bytes[tail_start..].windows(4).rposition(|w| w == SIGNATURE)? + tail_start;
    let record = bytes.get(at..at + 22)?;
    let entries = u16::from_le_bytes([record[10], record[11]]);
    (entries != u16::MAX).then_some(usize::from(entries))
}

/// An archive read, its seal checked.
struct Unsealed {
    manifest: Manifest,
    files: BTreeMap<String, Vec<u8>>,
    verdict: Verdict,
    root_unit: UnitPath,
    exporter: ReplicaId,
    contents: Contents,
}

/// Reads an archive of `format`: its manifest, the exporter's signature over it, every
/// file against it, the events it lists; the events' own checks are the caller's.
fn unseal(bytes: &[u8], root: ReplicaId, format: &str) -> Result<Unsealed, DossierError> {
    let archive_error = |detail: String| DossierError::Archive(detail);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| archive_error(format!("not a ZIP archive: {e}")))?;
    // The central directory's own count: a name listed twice (which a ZIP reader keeps
    // once, and another viewer may show the other copy of) is refused.
    if central_directory_entries(bytes) != Some(archive.len()) {
        return Err(archive_error("the archive lists an entry twice, or its directory is not plain ZIP".into()));
    }
    // What the entries declare, before anything is inflated; what they really hold is
    // bounded again while reading.
    let mut declared = 0u64;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(|e| archive_error(e.to_string()))?;
        declared = declared.saturating_add(entry.size());
    }
    if declared > DOSSIER_BYTES_MAX {
        return Err(archive_error(format!("more than {DOSSIER_BYTES_MAX} bytes uncompressed")));
    }
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut total = 0u64;
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).map_err(|e| archive_error(e.to_string()))?;
        let name = file.name().map_err(|e| archive_error(e.to_string()))?.to_string();
        if total.saturating_add(file.size()) > DOSSIER_BYTES_MAX {
            return Err(archive_error(format!("more than {DOSSIER_BYTES_MAX} bytes uncompressed")));
        }
        let mut content = Vec::new();
        file.by_ref()
            .take(DOSSIER_BYTES_MAX - total + 1)
            .read_to_end(&mut content)
            .map_err(|e| archive_error(format!("{name}: {e}")))?;
        total += content.len() as u64;
        if total > DOSSIER_BYTES_MAX {
            return Err(archive_error(format!("more than {DOSSIER_BYTES_MAX} bytes uncompressed")));
        }
        if files.insert(name.clone(), content).is_some() {
            return Err(archive_error(format!("{name} appears twice")));
        }
    }
    let manifest_bytes = files.remove("manifest.json").ok_or_else(|| archive_error("no manifest.json".into()))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| archive_error(format!("manifest.json: {e}")))?;
    let mut verdict = Verdict { manifest: manifest.clone(), ..Verdict::default() };
    if manifest.format != format {
        return Err(archive_error(format!("format {:?} is not {format}", manifest.format)));
    }

    // The root and the exporter's signature over the manifest.
    if manifest.root != root.to_hex() {
        verdict.problem(
            format!("文件所称根密钥 {} 不是给定的根密钥 {}", manifest.root, root.to_hex()),
            format!("the archive names root key {}, not the given {}", manifest.root, root.to_hex()),
        );
    }
    let root_unit = match UnitPath::parse(&manifest.root_unit) {
        Ok(unit) if unit.level() == Some(rollcall_core::Level::Province) => unit,
        _ => return Err(archive_error(format!("root unit {:?} is not a province", manifest.root_unit))),
    };
    let exporter = ReplicaId::from_hex(&manifest.exporter).map_err(|e| archive_error(format!("exporter key: {e}")))?;
    let signature = files.remove("manifest.sig").unwrap_or_default();
    // Exactly the lowercase hex the exporter writes: the file has one spelling.
    let signature_ok = hex::decode(&signature)
        .ok()
        .filter(|raw| hex::encode(raw).as_bytes() == signature.as_slice())
        .and_then(|raw| <[u8; 64]>::try_from(raw.as_slice()).ok())
        .and_then(|raw| {
            let key = ed25519_dalek::VerifyingKey::from_bytes(&exporter.0).ok()?;
            let mut signed = SIGNATURE_DOMAIN.to_vec();
            signed.extend_from_slice(&manifest_bytes);
            key.verify_strict(&signed, &ed25519_dalek::Signature::from_bytes(&raw)).ok()
        })
        .is_some();
    if signature_ok {
        verdict.ok(
            format!("清单由导出节点 {} 签名", exporter.short()),
            format!("the manifest is signed by the exporting node {}", exporter.short()),
        );
    } else {
        verdict.problem(
            "清单签名无效（manifest.sig 与 manifest.json 不符）".into(),
            "the manifest's signature does not verify (manifest.sig against manifest.json)".into(),
        );
    }

    // Every file as the manifest lists it, nothing more.
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    for file in &manifest.files {
        match files.get(&file.name) {
            Some(content) if sha256_hex(content) == file.sha256 && content.len() as u64 == file.bytes => {}
            Some(_) => verdict.problem(
                format!("{} 的内容与签名清单所记的 SHA-256 不符", file.name),
                format!("{}: its SHA-256 differs from the signed manifest", file.name),
            ),
            None => verdict.problem(format!("缺少文件 {}", file.name), format!("{} is missing", file.name)),
        }
    }
    for name in files.keys().filter(|name| !listed.contains(name.as_str())) {
        verdict.problem(format!("清单未列出文件 {name}"), format!("{name} is not listed in the manifest"));
    }
    if verdict.problems.is_empty() {
        verdict.ok(
            format!("{} 个文件与清单一致", manifest.files.len()),
            format!("{} files match the manifest", manifest.files.len()),
        );
    }

    // The events.
    let events_of = |name: &str, verdict: &mut Verdict| match files.get(name) {
        Some(bytes) => unframe(name, bytes).unwrap_or_else(|detail| {
            verdict.problem(format!("{name} 无法读取：{detail}"), detail);
            Vec::new()
        }),
        None => Vec::new(),
    };
    let chain = events_of("chain.bin", &mut verdict);
    let evidence = events_of("evidence.bin", &mut verdict);
    let held_refs: BTreeSet<String> =
        evidence.iter().filter_map(|e| rollcall_core::verify(e).ok()).map(|e| event_ref(&e)).collect();
    for listed in &manifest.events {
        if !held_refs.contains(listed) {
            let (replica, seq) = replica_seq(listed).map_or((String::from("?"), 0), |(r, s)| (r.short(), s.0));
            verdict.problem(
                format!("清单所列日志 {replica} 第 {seq} 号事件不在文件中（或已被改动）"),
                format!("event {seq} of log {replica}, listed in the manifest, is missing or altered"),
            );
        }
    }
    Ok(Unsealed { manifest, files, verdict, root_unit, exporter, contents: Contents { chain, evidence } })
}

/// Verifies a dossier with only the province's root key: needs no node and no network.
///
/// # Errors
///
/// [`DossierError::Archive`] when the file is not a dossier at all (not a ZIP, no
/// manifest); every other difference is a problem in the [`Verdict`].
pub fn verify(bytes: &[u8], root: ReplicaId) -> Result<Verdict, DossierError> {
    let archive_error = |detail: String| DossierError::Archive(detail);
    let Unsealed { manifest, files, mut verdict, root_unit, exporter, contents } = unseal(bytes, root, DOSSIER_FORMAT)?;
    let unit = UnitPath::parse(&manifest.unit).map_err(|e| archive_error(format!("unit: {e}")))?;
    let subject = Subject { unit, case_id: manifest.case_id.clone(), member_id: manifest.member_id.clone() };
    let withheld: BTreeSet<(ReplicaId, Seq)> = manifest.withheld.iter().filter_map(|text| replica_seq(text)).collect();
    if withheld.len() != manifest.withheld.len() {
        verdict.problem(
            "清单所列未附正文的事件有无法识别或重复的项".into(),
            "the manifest's withheld events hold an entry that is not replica:seq, or one twice".into(),
        );
    }
    let attestation =
        Attestation { member_name: manifest.member_name.clone(), id_number: manifest.id_number.clone(), withheld };
    let examination = trail::examine(root, &root_unit, &subject, &attestation, exporter, &contents);
    let counts = examination.summary.counts;
    verdict.problems.extend(examination.problems.iter().cloned());
    verdict.problems.extend(examination.unacknowledged.iter().cloned());
    verdict.exporter(&manifest, examination.exporter_unit.as_ref());
    exported_after_events(&mut verdict, &manifest, &contents);
    verdict.ok(
        format!(
            "{} 个证据事件（{} 个附正文、{} 个存根）与 {} 个登记链事件逐一验签；{} 处前后链接；{} 件上级回执",
            counts.full + counts.stubs,
            counts.full,
            counts.stubs,
            counts.chain,
            counts.links,
            counts.receipts
        ),
        format!(
            "{} evidence events ({} with bodies, {} stubs) and {} enrollment chain events verified; {} chain links; {} receipts of the level above",
            counts.full + counts.stubs,
            counts.full,
            counts.stubs,
            counts.chain,
            counts.links,
            counts.receipts
        ),
    );

    // The stage and the summary, regenerated.
    let stage = trail::stage_of(&examination.summary, &manifest.case_id);
    match stage {
        Some(stage) if stage.as_str() == manifest.stage => verdict.ok(
            format!("按每步当时的政策重演处置程序，到达“{}”，与清单一致", stage.name_zh()),
            format!("the procedure replayed reaches {stage}, as the manifest says"),
        ),
        other => verdict.problem(
            format!("重演处置程序到达“{}”，清单却称“{}”", other.map_or("（无）", Stage::name_zh), manifest.stage),
            format!(
                "the procedure replayed reaches {}, the manifest says {}",
                other.map_or("nothing", Stage::as_str),
                manifest.stage
            ),
        ),
    }
    let summary = trail::summary_text(&subject, &attestation, &examination.summary);
    verdict.summary_matches(files.get("summary.txt"), &summary);
    // The renderings: the workbook's cells are the summary's, cell by cell; the PDF is
    // drawn again where this machine has the font, else named as not checked.
    let sheets = summary_sheets(&subject, &examination.summary);
    match files.get("summary.xlsx").map(|bytes| workbook_matches(bytes, &sheets)) {
        Some(Ok(())) => verdict.ok(
            "summary.xlsx 的每个单元格与由事件重新生成的一致".into(),
            "every cell of summary.xlsx equals the one regenerated from the events".into(),
        ),
        Some(Err(difference)) => verdict.problem(
            format!("summary.xlsx 与由事件重新生成的不同：{difference}"),
            format!("summary.xlsx differs from the one regenerated from the events: {difference}"),
        ),
        None => verdict.problem("缺少 summary.xlsx".into(), "summary.xlsx is missing".into()),
    }
    // Drawn again only for a dossier whose events hold together and whose table a
    // person could read (a real case has tens of steps; thousands is an attack on time).
    if let Some(printed) = files.get("summary.pdf")
        && verdict.problems.is_empty()
        && sheets[0].rows.len() <= PDF_ROWS_CHECKED_MAX
    {
        match crate::pdf::pdf_bytes(&sheets[0], std::path::Path::new("summary.pdf")) {
            Ok(drawn) if &drawn == printed => verdict.ok(
                "summary.pdf 与由事件重新绘制的逐字节一致".into(),
                "summary.pdf equals the one drawn again from the events, byte for byte".into(),
            ),
            Ok(_) => verdict.note(
                "summary.pdf 与本机重新绘制的不同（字体可能不同）：以 summary.txt 与 summary.xlsx 为准".into(),
                "summary.pdf differs from the one drawn here (another font?): rely on summary.txt and summary.xlsx"
                    .into(),
            ),
            Err(_) => verdict.note(
                "本机没有中文字体，未核对 summary.pdf：以 summary.txt 与 summary.xlsx 为准".into(),
                "no Chinese font here, summary.pdf not checked: rely on summary.txt and summary.xlsx".into(),
            ),
        }
    }
    verdict.summary = summary;
    verdict.dedup();
    Ok(verdict)
}

/// The manifest's export time is not before the events it holds (a day of clock skew
/// allowed, as the writers' clocks allow).
fn exported_after_events(verdict: &mut Verdict, manifest: &Manifest, contents: &Contents) {
    let latest = contents
        .evidence
        .iter()
        .filter_map(|e| codec::decode_header(&e.header).ok())
        .map(|h| h.hlc.wall_ms)
        .max()
        .unwrap_or(0);
    let exported = chrono::NaiveDateTime::parse_from_str(&manifest.exported_at, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|local| (local.and_utc().timestamp_millis() - rollcall_core::audit::dates::CST_OFFSET_MS).max(0) as u64);
    match exported {
        Some(at) if at + 86_400_000 >= latest => {}
        Some(_) => verdict.problem(
            format!("清单所记导出时间 {} 早于其中的事件（{}）", manifest.exported_at, trail::cst_time(latest)),
            format!(
                "the manifest's export time {} is before its events ({})",
                manifest.exported_at,
                trail::cst_time(latest)
            ),
        ),
        None => verdict.problem(
            format!("清单的导出时间 {:?} 无法识别", manifest.exported_at),
            format!("the manifest's export time {:?} is not a time", manifest.exported_at),
        ),
    }
}

/// Whether an XLSX workbook holds exactly `sheets`' names and cells (title, unit line,
/// headings, rows, foot, as [`crate::export`] lays them out); the first difference.
fn workbook_matches(bytes: &[u8], sheets: &[Sheet]) -> Result<(), String> {
    use calamine::{Data, Reader};
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).map_err(|e| format!("not a workbook: {e}"))?;
    let names: Vec<String> = sheets.iter().map(|sheet| sheet.sheet_name.clone()).collect();
    if workbook.sheet_names() != names {
        return Err(format!("sheets {:?}, expected {names:?}", workbook.sheet_names()));
    }
    for sheet in sheets {
        let range = workbook.worksheet_range(&sheet.sheet_name).map_err(|e| format!("{}: {e}", sheet.sheet_name))?;
        let text = |row: u32, column: u32| match range.get_value((row, column)) {
            None | Some(Data::Empty) => String::new(),
            Some(Data::String(text)) => text.clone(),
            Some(Data::Float(value)) if value.fract() == 0.0 => format!("{value:.0}"),
            Some(other) => other.to_string(),
        };
        let layout = sheet.layout();
        let mut expected: Vec<(u32, u32, String)> = vec![(0, 0, sheet.title.clone()), (1, 0, sheet.unit_line.clone())];
        for (index, column) in sheet.columns.iter().enumerate() {
            expected.push((layout.header_first, index as u32, column.heading.clone()));
        }
        for (row, cells) in sheet.rows.iter().enumerate() {
            for (column, cell) in cells.iter().enumerate() {
                let value = match cell {
                    Cell::Text(text) => text.clone(),
                    Cell::Number(value) => value.to_string(),
                    Cell::Blank => String::new(),
                };
                expected.push((layout.data_first + row as u32, column as u32, value));
            }
        }
        expected.push((layout.footer, 0, sheet.footer.clone()));
        for (row, column, value) in expected {
            if text(row, column) != value {
                return Err(format!("{} row {} column {}", sheet.sheet_name, row + 1, column + 1));
            }
        }
        let (rows, columns) = range.end().map_or((0, 0), |(r, c)| (r + 1, c + 1));
        if rows > layout.footer + 1 || columns > sheet.columns.len().max(2) as u32 {
            return Err(format!("{} holds cells beyond the form", sheet.sheet_name));
        }
    }
    Ok(())
}

/// What a report proof is asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportProofRequest {
    /// The reporting unit.
    pub unit: UnitPath,
    /// 1, 2 or 3.
    pub table: u32,
}

/// How to check a report proof (in the archive).
const PROOF_README: &str = "\
本文件为报表报送证明，由 rollcall 节点导出并签名：报送事件、其检查点以内重算所需的全部事件、登记链和上级回执。
核验（无需联网、无需节点，只需本省根密钥）：
  rollcall verify report-proof 本文件.zip --root <本省根密钥>
核验内容：每个事件的签名与正文哈希，签名者的登记链，检查点所列事件齐全且前后链接，检查点覆盖上级已确认收到的事件，
按检查点重算该表并与报送的单元格逐一比对，上级回执时间与截止日期。
注意：重算需要党员登记事件全文，本文件含个人信息，请按党员信息管理规定保管。

This archive proves a submitted table: the submission, every event up to its checkpoint the
recomputation needs, the enrollment chain and the receipt of the level above, signed by the node.
Verify offline: rollcall verify report-proof THIS.zip --root <province root key>
It holds members' registrations in full (the recomputation needs them): keep it as the member database.
";

/// What the proof of `unit`'s latest submission of `table` is about, for a reader of
/// `scope`, read from the projection.
///
/// # Errors
///
/// [`DossierError`] when no submission is held or it is outside `scope`.
pub fn plan_report(
    projection: &Projection,
    request: &ReportProofRequest,
    scope: &UnitPath,
) -> Result<ReportPlan, DossierError> {
    let unit = &request.unit;
    if !unit.is_within(scope) {
        return Err(DossierError::OutsideScope {
            case_id: format!("表{}", request.table),
            unit: unit.clone(),
            scope: scope.clone(),
        });
    }
    let status = projection.report_status(unit, request.table);
    let report =
        status.report.ok_or_else(|| DossierError::NoReport { unit: unit.clone(), table: request.table })?.clone();
    Ok(ReportPlan { unit: unit.clone(), table: request.table, report, verdict: status.verdict.cloned() })
}

/// Builds the proof a [`plan_report`] describes from the store.
///
/// # Errors
///
/// [`DossierError`] when the store fails, the proof does not hold together, or it is
/// larger than a reviewer's verifier reads.
pub fn build_report_proof(source: &Source<'_>, plan: &ReportPlan) -> Result<Dossier, DossierError> {
    let unit = &plan.unit;
    let request = ReportProofRequest { unit: unit.clone(), table: plan.table };
    let report = plan.report.clone();
    let report_key = (report.replica, Seq(report.seq));

    // Every event up to the checkpoint, shaped for the reporting unit: its subtree and
    // its ancestors' events about it in full, the rest as stubs, infrastructure in full.
    let mut events: BTreeMap<(ReplicaId, Seq), VerifiedEvent> = BTreeMap::new();
    let mut read_range = |replica: ReplicaId, first: u64, last: u64| -> Result<(), DossierError> {
        let mut from = first.max(1);
        while from <= last {
            let page = source.store.read_log_without_signatures(
                replica,
                Seq(from),
                READ_PAGE.min((last - from + 1) as usize),
            )?;
            let Some(end) = page.last().map(|e| e.seq().0) else { break };
            for event in page {
                let full = rollcall_core::body::is_infrastructure(event.header().kind)
                    || rollcall_core::scope::body_visible(&event.header().unit_path, unit);
                let event = if full { event } else { event.into_stub() };
                events.entry((event.replica(), event.seq())).or_insert(event);
            }
            from = end + 1;
        }
        Ok(())
    };
    for head in &report.checkpoint {
        let Ok(replica) = <[u8; 32]>::try_from(&head.replica[..]).map(ReplicaId) else { continue };
        read_range(replica, 1, head.seq)?;
    }
    // The submission, and its log up to the earliest receipt of the level above.
    let above = unit.parent();
    let mut reach = report.seq;
    let mut receipt_key = None;
    if let Some(above) = &above {
        let parents: Vec<ReplicaId> = source
            .authority
            .enrollments()
            .filter(|e| e.role == rollcall_core::authority::Role::Node && &e.unit == above)
            .map(|e| e.replica)
            .collect();
        let mut best: Option<(u64, u64, (ReplicaId, Seq))> = None;
        for parent in parents {
            let mut from = Seq(1);
            loop {
                let page = source.store.read_log_without_signatures(parent, from, READ_PAGE)?;
                let Some(last) = page.last().map(VerifiedEvent::seq) else { break };
                let complete = page.len() < READ_PAGE;
                for event in page {
                    if event.header().kind != EventKind::Receipt || &event.header().unit_path != unit {
                        continue;
                    }
                    let Some(Ok(Body::Receipt(receipt))) =
                        event.body().map(|bytes| Body::decode(EventKind::Receipt, bytes))
                    else {
                        continue;
                    };
                    let Some(head) =
                        receipt.heads.iter().find(|h| h.replica[..] == report.replica.0[..] && h.seq >= report.seq)
                    else {
                        continue;
                    };
                    if best.as_ref().is_none_or(|held| receipt.stored_at_ms < held.0) {
                        best = Some((receipt.stored_at_ms, head.seq, (event.replica(), event.seq())));
                    }
                }
                if complete {
                    break;
                }
                from = Seq(last.0 + 1);
            }
        }
        if let Some((_, head_seq, key)) = best {
            reach = head_seq;
            receipt_key = Some(key);
        }
    }
    read_range(report.replica, report.seq, reach)?;
    if let Some((replica, seq)) = receipt_key {
        read_range(replica, seq.0, seq.0)?;
    }
    // The level above's verdict on it, when held.
    if let Some(verdict) = &plan.verdict
        && let Some(above) = &above
    {
        for enrollment in source.authority.enrollments().filter(|e| &e.unit == above) {
            let head = source.store.head(enrollment.replica)?.map_or(0, |h| h.head.seq.0);
            let mut from = Seq(1);
            while from.0 <= head {
                let page = source.store.read_log_without_signatures(enrollment.replica, from, READ_PAGE)?;
                let Some(last) = page.last().map(VerifiedEvent::seq) else { break };
                for event in page {
                    let matches = event.header().kind == EventKind::ReportVerified
                        && &event.header().unit_path == unit
                        && event
                            .body()
                            .and_then(|b| Body::decode(EventKind::ReportVerified, b).ok())
                            .is_some_and(|body| matches!(body, Body::ReportVerified(v) if v == *verdict));
                    if matches {
                        events.insert((event.replica(), event.seq()), event);
                    }
                }
                from = Seq(last.0 + 1);
            }
        }
    }

    let chain: Vec<SignedEvent> =
        source.store.authority_events_in_ingest_order()?.iter().map(VerifiedEvent::to_signed).collect();
    let evidence: Vec<SignedEvent> = events.values().map(VerifiedEvent::to_signed).collect();
    let exporter = ReplicaId(source.key.verifying_key().to_bytes());
    let subject = trail::ReportSubject { unit: unit.clone(), table: request.table, report: report_key };
    let contents = Contents { chain: chain.clone(), evidence: evidence.clone() };
    let examination = trail::examine_report(source.authority.root(), source.root_unit, &subject, exporter, &contents);
    // A proof of a table that differs, or came late, is still a proof: the node hands it
    // out and the verifier names each difference; only a proof that does not hold
    // together (a missing event, a broken link) is refused here.
    let structural = examination.problems.iter().find(|p| {
        !(p.en.starts_with("row ") || p.en.starts_with("received above at") || p.en.starts_with("no receipt"))
    });
    if let Some(problem) = structural {
        return Err(DossierError::SelfCheck(problem.en.clone()));
    }
    let status_word = if examination.summary.differences.is_empty() { "equal" } else { "differs" };
    let summary = trail::report_summary_text(&subject, &examination.summary);
    let files: Vec<(String, Vec<u8>)> = vec![
        ("chain.bin".to_string(), frame(&chain)),
        ("evidence.bin".to_string(), frame(&evidence)),
        ("summary.txt".to_string(), summary.into_bytes()),
        ("README.txt".to_string(), PROOF_README.as_bytes().to_vec()),
    ];
    let manifest = Manifest {
        format: REPORT_PROOF_FORMAT.to_string(),
        case_id: String::new(),
        unit: unit.to_string(),
        member_id: String::new(),
        stage: status_word.to_string(),
        table: request.table,
        report: format!("{}:{}", report.replica.to_hex(), report.seq),
        member_name: String::new(),
        id_number: String::new(),
        show_personal: true,
        withheld: Vec::new(),
        root: source.authority.root().to_hex(),
        root_unit: source.root_unit.to_string(),
        exporter: exporter.to_hex(),
        exporter_unit: source.unit.to_string(),
        exported_at: trail::cst_time(source.now_ms),
        events: events.values().map(event_ref).collect(),
        files: Vec::new(),
    };
    let bytes = seal(source.key, &manifest, &files)?;
    Ok(Dossier {
        bytes,
        stage: Stage::default(),
        status: status_word.to_string(),
        events: events.len(),
        warnings: Vec::new(),
    })
}

/// Verifies a report proof with only the province's root key.
///
/// # Errors
///
/// [`DossierError::Archive`] when the file is not a report proof at all; every other
/// difference is a problem in the [`Verdict`].
pub fn verify_report_proof(bytes: &[u8], root: ReplicaId) -> Result<Verdict, DossierError> {
    let Unsealed { manifest, files, mut verdict, root_unit, exporter, contents } =
        unseal(bytes, root, REPORT_PROOF_FORMAT)?;
    let unit = UnitPath::parse(&manifest.unit).map_err(|e| DossierError::Archive(format!("unit: {e}")))?;
    let report = replica_seq(&manifest.report)
        .ok_or_else(|| DossierError::Archive(format!("report {:?} is not replica:seq", manifest.report)))?;
    let subject = trail::ReportSubject { unit, table: manifest.table, report };
    let examination = trail::examine_report(root, &root_unit, &subject, exporter, &contents);
    let summary = &examination.summary;
    let counts = summary.counts;
    verdict.problems.extend(examination.problems.iter().cloned());
    verdict.exporter(&manifest, examination.exporter_unit.as_ref());
    exported_after_events(&mut verdict, &manifest, &contents);
    if !(manifest.case_id.is_empty()
        && manifest.member_id.is_empty()
        && manifest.member_name.is_empty()
        && manifest.id_number.is_empty()
        && manifest.withheld.is_empty())
    {
        verdict.problem(
            "报送证明的清单含有案卷才有的项目（案件、党员）".into(),
            "the proof's manifest carries a dossier's fields (case, member)".into(),
        );
    }
    verdict.ok(
        format!(
            "{} 个事件（{} 个附正文、{} 个存根）与 {} 个登记链事件逐一验签；{} 处前后链接",
            counts.full + counts.stubs,
            counts.full,
            counts.stubs,
            counts.chain,
            counts.links
        ),
        format!(
            "{} events ({} with bodies, {} stubs) and {} enrollment chain events verified; {} chain links",
            counts.full + counts.stubs,
            counts.full,
            counts.stubs,
            counts.chain,
            counts.links
        ),
    );
    if summary.differences.is_empty() && !summary.cells.is_empty() {
        verdict.ok(
            format!(
                "按检查点（{} 个日志、{} 个事件）重算表{}，与报送的单元格逐一一致",
                summary.checkpoint_logs, summary.checkpoint_events, manifest.table
            ),
            format!(
                "table {} recomputed from the checkpoint ({} logs, {} events) equals what was submitted, cell by cell",
                manifest.table, summary.checkpoint_logs, summary.checkpoint_events
            ),
        );
    }
    if let Some((at, by, _)) = summary.received {
        let on_time = summary.due.map(|due| at <= rollcall_core::audit::dates::end_of_day_cst_ms(due));
        match (on_time, summary.due) {
            (Some(true), Some(due)) => verdict.ok(
                format!("上级节点 {} 于 {} 收到，早于截止日期 {}", by.short(), trail::cst_time(at), due),
                format!(
                    "received by the level above ({}) at {}, before the deadline {due}",
                    by.short(),
                    trail::cst_time(at)
                ),
            ),
            (None, _) => verdict.ok(
                format!("上级节点 {} 于 {} 收到（本级报表无统一截止日期）", by.short(), trail::cst_time(at)),
                format!(
                    "received by the level above ({}) at {} (no deadline for this level's tables)",
                    by.short(),
                    trail::cst_time(at)
                ),
            ),
            _ => {}
        }
    }
    let expected_status = if summary.differences.is_empty() { "equal" } else { "differs" };
    if manifest.stage != expected_status {
        verdict.problem(
            format!("清单称重算结果为 {}，实际为 {expected_status}", manifest.stage),
            format!("the manifest says {}, the recomputation gives {expected_status}", manifest.stage),
        );
    }
    let text = trail::report_summary_text(&subject, summary);
    verdict.summary_matches(files.get("summary.txt"), &text);
    verdict.summary = text;
    verdict.dedup();
    Ok(verdict)
}

/// A node's state as dossiers and proofs are built from it: the one entry point the
/// gRPC service and the embedded node share. Each build reads the projection only while
/// planning (so the writer goes on while the logs are read) and a copy of the authority.
#[derive(Clone)]
pub struct Exporter {
    /// The store.
    pub store: Store,
    /// The enrollment state.
    pub authority: std::sync::Arc<std::sync::RwLock<Authority>>,
    /// The projection.
    pub projection: crate::projection::SharedProjection,
    /// The node's signing key.
    pub key: std::sync::Arc<SigningKey>,
    /// The node's unit (also the scope it exports within).
    pub unit: UnitPath,
    /// The province's unit.
    pub root_unit: UnitPath,
}

impl Exporter {
    fn with_source<T>(&self, work: impl FnOnce(&Source<'_>) -> T) -> T {
        let authority = self.authority.read().expect("the authority lock is never poisoned").clone();
        work(&Source {
            store: &self.store,
            authority: &authority,
            key: &self.key,
            unit: &self.unit,
            root_unit: &self.root_unit,
            now_ms: crate::writer::now_ms(),
        })
    }

    /// A case's dossier ([`plan`], then [`build`]).
    ///
    /// # Errors
    ///
    /// [`DossierError`] when the case is not held or the store fails.
    pub fn case_dossier(&self, request: &DossierRequest) -> Result<Dossier, DossierError> {
        let plan = plan(&self.projection.read().expect("the projection lock is never poisoned"), request, &self.unit)?;
        self.with_source(|source| build(source, &plan))
    }

    /// A submitted table's proof ([`plan_report`], then [`build_report_proof`]).
    ///
    /// # Errors
    ///
    /// [`DossierError`] when no submission is held or the store fails.
    pub fn report_proof(&self, request: &ReportProofRequest) -> Result<Dossier, DossierError> {
        let plan =
            plan_report(&self.projection.read().expect("the projection lock is never poisoned"), request, &self.unit)?;
        self.with_source(|source| build_report_proof(source, &plan))
    }
}
