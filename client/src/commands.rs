//! The CLI's audit commands, as functions over a [`Backend`]: recording an event about
//! a member or a case, importing the member form and the statistics-database export,
//! and resolving discrepancies. Each returns what happened (for `--json`) or a message
//! in the user's language; the binary prints and picks the exit code.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use rollcall_core::body::Body;
use rollcall_core::log::Draft;
use rollcall_core::{UnitPath, proto as pb};
use serde_json::json;

use crate::backend::{Backend, Refusal};
use crate::i18n::Lang;
use crate::import::{self, CellError};
use crate::record::{self, CaseContext, CaseStep};

/// What a command did, or why it did not.
#[derive(Debug)]
pub enum Outcome {
    /// Done: the text for people and the JSON for scripts.
    Done {
        /// For people.
        text: String,
        /// For scripts.
        json: serde_json::Value,
    },
    /// Refused or failed: the message (already in the user's language), the JSON, and
    /// lines of detail (e.g. every bad cell).
    Failed {
        /// The message.
        message: String,
        /// For scripts.
        json: serde_json::Value,
        /// Details, one per line.
        details: Vec<String>,
    },
}

fn refused(refusal: &Refusal, lang: Lang) -> Outcome {
    Outcome::Failed {
        message: refusal.message(lang).to_string(),
        json: json!({ "error": refusal.en, "rule": refusal.rule }),
        details: Vec::new(),
    }
}

/// The branch a member belongs to, as the node knows it.
async fn member_unit(backend: &mut Backend, member_id: &str) -> Result<UnitPath, Refusal> {
    let member = backend.member(pb::MemberRequest { member_id: member_id.to_string() }).await.map_err(|refusal| {
        if refusal.en.contains("not registered") {
            Refusal {
                en: format!("member {member_id} is not registered in this node's subtree"),
                zh: Some(format!("党员 {member_id} 未在本节点（或其下级）登记")),
                rule: true,
            }
        } else {
            refusal
        }
    })?;
    UnitPath::parse(&member.unit_path).map_err(|e| Refusal { en: e.to_string(), zh: None, rule: false })
}

/// Chinese name of an event kind, for confirmations.
pub fn kind_name(kind: rollcall_core::EventKind, lang: Lang) -> &'static str {
    use rollcall_core::EventKind as K;
    let (zh, en) = match kind {
        K::ArchiveReviewed => ("档案核查", "archive review"),
        K::ContactStatusAssessed => ("联系状态核查", "contact status"),
        K::TransferStubChecked => ("介绍信存根核查", "transfer stub check"),
        K::ConductNoted => ("现实表现核查", "conduct note"),
        K::RecordFlagged => ("待查明标记", "flag"),
        K::FormSignedOff => ("登记表签字确认", "form sign-off"),
        K::ContactAttempted => ("查找记录", "contact attempt"),
        K::MemberLocated => ("取得联系", "located"),
        K::ReceivingUnitConfirmed => ("接收单位答复", "receiving unit's answer"),
        K::ManagementActionTaken => ("规范管理措施", "management action"),
        K::ViolationReferred => ("移交", "referral"),
        K::ArchiveMaterialAdded => ("档案材料", "archive material"),
        K::DispositionProposed => ("处置意见", "proposal"),
        K::DispositionInvestigated => ("调查核实", "investigation"),
        K::DispositionPreReviewed => ("预审", "pre-review"),
        K::DispositionVoted => ("支部大会表决", "vote"),
        K::DispositionApproved => ("审批", "approval"),
        K::DispositionRejected => ("退回", "rejection"),
        K::DispositionFiled => ("备案", "filing"),
        K::DispositionAppealed => ("申诉", "appeal"),
        K::CorrectionPeriodReviewed => ("限期改正审查", "correction-period review"),
        K::StatsDiscrepancyFound => ("统计库差异", "statistics discrepancy"),
        K::StatsDiscrepancyResolved => ("差异核实", "discrepancy resolved"),
        K::RecordCorrected => ("信息更正", "correction"),
        K::DuplicateRelationSettled => ("重复组织关系处理", "duplicate relation settled"),
        K::ReportReturned => ("报表退回", "table returned"),
        _ => ("事件", "event"),
    };
    lang.pick(zh, en)
}

async fn append_one(
    backend: &mut Backend,
    unit: UnitPath,
    body: Body,
    author: &str,
    lang: Lang,
    extra: serde_json::Value,
) -> Outcome {
    let kind = body.kind();
    let draft = Draft { unit_path: unit, kind, body: body.encode(), author: author.to_string() };
    match backend.append(vec![draft]).await {
        Ok(ids) => {
            let id = ids.first().cloned().unwrap_or_default();
            let mut value = json!({ "event_id": id, "kind": kind.as_str_name() });
            if let (Some(object), serde_json::Value::Object(more)) = (value.as_object_mut(), extra) {
                object.extend(more);
            }
            Outcome::Done {
                text: format!(
                    "{}{}，{} {id}\n",
                    lang.pick("已记录", "recorded "),
                    kind_name(kind, lang),
                    lang.pick("事件", "event")
                ),
                json: value,
            }
        }
        Err(refusal) => refused(&refusal, lang),
    }
}

/// Records an event about one member (its unit is the member's branch).
pub async fn record_member_event(
    backend: &mut Backend,
    member_id: &str,
    body: Body,
    author: &str,
    lang: Lang,
) -> Outcome {
    match member_unit(backend, member_id).await {
        Ok(unit) => append_one(backend, unit, body, author, lang, json!({ "member_id": member_id })).await,
        Err(refusal) => refused(&refusal, lang),
    }
}

/// Records a step of a disposition case.
pub async fn record_case_step(backend: &mut Backend, step: &CaseStep, author: &str, lang: Lang) -> Outcome {
    let level = match backend.level().await {
        Ok(level) => level,
        Err(refusal) => return refused(&refusal, lang),
    };
    let (unit, disposition) = match (step, record::case_of(step)) {
        (CaseStep::Propose { member, disposition, .. }, _) => match member_unit(backend, member).await {
            Ok(unit) => (unit, disposition.proto()),
            Err(refusal) => return refused(&refusal, lang),
        },
        (_, Some(case_id)) => {
            let found = backend
                .members(pb::MembersRequest { case_id: case_id.to_string(), limit: 1, ..Default::default() })
                .await;
            match found.map(|r| r.members.into_iter().next()) {
                Ok(Some(member)) => {
                    let disposition = member.cases.iter().find(|c| c.case_id == case_id).map_or(0, |c| c.disposition);
                    match UnitPath::parse(&member.unit_path) {
                        Ok(unit) => (unit, disposition),
                        Err(e) => return refused(&Refusal { en: e.to_string(), zh: None, rule: false }, lang),
                    }
                }
                Ok(None) => {
                    return refused(
                        &Refusal {
                            en: format!("case {case_id} is not known here"),
                            zh: Some(format!("本节点没有案件 {case_id}（请先同步，或核对案件编号）")),
                            rule: true,
                        },
                        lang,
                    );
                }
                Err(refusal) => return refused(&refusal, lang),
            }
        }
        (_, None) => unreachable!("every step but a proposal names its case"),
    };
    // A case id nobody can guess or reuse: time-ordered, with 74 random bits.
    let body = record::case_body(step, &CaseContext { disposition, level }, || {
        format!("K{}", base36(u128::from_be_bytes(*uuid::Uuid::now_v7().as_bytes())))
    });
    let case_id = rollcall_core::audit::case::case_id_of(&body).unwrap_or_default().to_string();
    let vote = match &body {
        Body::DispositionVoted(vote) => Some(vote.clone()),
        _ => None,
    };
    let outcome = append_one(backend, unit, body, author, lang, json!({ "case_id": case_id })).await;
    let Outcome::Done { text, json: mut value } = outcome else { return outcome };
    // Say where the step led: the case id the next steps need, and the stage now.
    let stage = backend
        .members(pb::MembersRequest { case_id: case_id.clone(), limit: 1, ..Default::default() })
        .await
        .ok()
        .and_then(|found| found.members.into_iter().next())
        .and_then(|member| member.cases.into_iter().find(|c| c.case_id == case_id));
    let mut text = text;
    if let Some(stage) = &stage {
        text.push_str(&match lang {
            Lang::Zh => format!("案件 {case_id}：现为“{}”\n", stage.stage_zh),
            Lang::En => format!("case {case_id}: now {}\n", stage.stage.replace('_', " ")),
        });
        if let Some(object) = value.as_object_mut() {
            object.insert("stage".into(), json!(stage.stage));
        }
    }
    if let (Some(vote), Some(stage)) = (vote, &stage)
        && stage.stage == rollcall_core::audit::case::Stage::VoteFailed.as_str()
    {
        let policy = backend
            .deadlines(pb::DeadlinesRequest::default())
            .await
            .ok()
            .map(|d| rollcall_core::audit::policy::Policy::from_proto(d.policy.as_ref()))
            .unwrap_or_default();
        let count = rollcall_core::audit::case::count_vote(&vote, &policy);
        let needed = (1..=count.should_attend)
            .find(|votes| {
                rollcall_core::audit::policy::Policy::more_than(*votes, count.should_attend, policy.majority_percent)
            })
            .unwrap_or(count.should_attend);
        let share =
            if policy.majority_percent == 50 { "半数".to_string() } else { format!("{}%", policy.majority_percent) };
        text.push_str(&match lang {
            Lang::Zh => format!(
                "支部大会未通过：赞成 {} 票，应到会 {} 人，须超过{share}即至少 {needed} 票。案件就此结束；如有新的事实，可重新提出处置意见\n",
                vote.votes_for, count.should_attend
            ),
            Lang::En => format!(
                "the branch meeting did not pass it: {} in favour of {} who should attend; at least {needed} were needed. \
                 The case is closed; a new proposal may be made on new facts\n",
                vote.votes_for, count.should_attend
            ),
        });
    }
    Outcome::Done { text, json: value }
}

fn base36(mut value: u128) -> String {
    let digits = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = Vec::new();
    while value > 0 {
        out.push(digits[(value % 36) as usize] as char);
        value /= 36;
    }
    out.iter().rev().collect()
}

fn progress(len: u64, message: &'static str) -> ProgressBar {
    let bar = if len >= 2000 { ProgressBar::new(len) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

fn cell_lines(errors: &[CellError], lang: Lang) -> Vec<String> {
    errors.iter().map(|e| e.line(lang == Lang::Zh)).collect()
}

fn file_failed(error: &import::FileError, lang: Lang) -> Outcome {
    Outcome::Failed {
        message: if lang == Lang::Zh { error.message_zh() } else { error.to_string() },
        json: json!({ "error": error.to_string(), "imported": 0 }),
        details: Vec::new(),
    }
}

/// Imports members from the per-member form: every row valid and new, or nothing
/// (unless `skip_invalid`, which imports the valid rows and reports the others).
pub async fn import_members(
    backend: &mut Backend,
    path: &Path,
    unit: Option<&UnitPath>,
    skip_invalid: bool,
    author: &str,
    lang: Lang,
) -> Outcome {
    let sheet = match import::read_sheet(path) {
        Ok(sheet) => sheet,
        Err(error) => return file_failed(&error, lang),
    };
    let columns = match import::map_columns(path, &sheet.headers, &[]) {
        Ok(columns) => columns,
        Err(error) => return file_failed(&error, lang),
    };
    if sheet.rows.is_empty() {
        return file_failed(&import::FileError::Empty { path: path.display().to_string() }, lang);
    }
    let today = rollcall_core::audit::dates::cst_day(rollcall_server::writer::now_ms());
    let as_of = match backend.rollup(pb::RollupRequest::default()).await {
        Ok(rollup) => rollup.as_of.as_ref().and_then(rollcall_core::audit::dates::naive),
        Err(refusal) => return refused(&refusal, lang),
    };
    let (mut rows, mut errors) = import::parse_members_as_of(&sheet, &columns, unit, today, as_of);
    if rows.is_empty() && errors.is_empty() {
        // Only blank rows (a handed-out form with 所在党支部 pre-filled and nothing else).
        return file_failed(&import::FileError::Empty { path: path.display().to_string() }, lang);
    }
    // Already registered at the node: a duplicate, named by row.
    let ids: Vec<String> = rows.iter().map(|r| r.member_id.clone()).collect();
    let existing: HashSet<String> = match backend
        .members(pb::MembersRequest { member_ids: ids.clone(), limit: ids.len() as u32 + 1, ..Default::default() })
        .await
    {
        Ok(response) => response.members.into_iter().map(|m| m.member_id).collect(),
        Err(refusal) => return refused(&refusal, lang),
    };
    let id_column = columns.get(&import::Column::IdNumber).map(|i| import::column_letter(*i)).unwrap_or_default();
    rows.retain(|row| {
        if existing.contains(&row.member_id) {
            errors.push(CellError {
                row: row.row,
                column: id_column.clone(),
                header: "公民身份证号".into(),
                message_zh: "该党员已登记（重复导入）".into(),
                message_en: "this member is already registered (a duplicate)".into(),
            });
            false
        } else {
            true
        }
    });
    errors.sort_by_key(|e| (e.row, e.column.clone()));
    if !errors.is_empty() && !skip_invalid {
        return Outcome::Failed {
            message: format!(
                "{} {} {}",
                errors.len(),
                lang.pick("处错误，未导入任何数据（改正后重新导入，或用 --skip-invalid 只导入有效行）", "errors: nothing was imported (fix them and import again, or use --skip-invalid to import the valid rows)"),
                ""
            )
            .trim_end()
            .to_string(),
            json: json!({ "imported": 0, "errors": errors.iter().map(|e| json!({ "row": e.row, "column": e.column, "header": e.header, "message": e.message_en })).collect::<Vec<_>>() }),
            details: cell_lines(&errors, lang),
        };
    }
    let bar = progress(rows.len() as u64, "导入 / importing");
    let mut imported = 0usize;
    for chunk in rows.chunks(1000) {
        let drafts: Vec<Draft> = chunk
            .iter()
            .map(|row| Draft {
                unit_path: row.unit.clone(),
                kind: rollcall_core::EventKind::MemberRegistered,
                body: Body::MemberRegistered(pb::MemberRegistered {
                    member_id: row.member_id.clone(),
                    form: Some(row.form.clone()),
                    source: pb::member_registered::Source::FormImport as i32,
                })
                .encode(),
                author: author.to_string(),
            })
            .collect();
        if let Err(refusal) = backend.append(drafts).await {
            bar.abandon();
            let first = chunk.first().map_or(0, |r| r.row);
            return Outcome::Failed {
                message: format!(
                    "{}：{}",
                    lang.pick(
                        &format!("自第{first}行起的一批未能写入，此前已导入 {imported} 行"),
                        &format!("the batch from row {first} was refused; {imported} rows before it were imported")
                    ),
                    refusal.message(lang)
                ),
                json: json!({ "imported": imported, "error": refusal.en, "failed_from_row": first }),
                details: Vec::new(),
            };
        }
        imported += chunk.len();
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let mut text = format!("{} {imported} {}\n", lang.pick("已导入", "imported"), lang.pick("名党员", "members"));
    if !errors.is_empty() {
        text.push_str(&format!(
            "{} {} {}\n",
            lang.pick("跳过", "skipped"),
            errors.len(),
            lang.pick("处错误：", "errors:")
        ));
        for line in cell_lines(&errors, lang) {
            text.push_str(&format!("  {line}\n"));
        }
    }
    Outcome::Done {
        text,
        json: json!({ "imported": imported, "skipped": errors.iter().map(|e| json!({ "row": e.row, "column": e.column, "message": e.message_en })).collect::<Vec<_>>() }),
    }
}

/// Normalises a statistics-database cell for comparison with a form field.
fn normalise(field: pb::MemberField, text: &str) -> String {
    use pb::MemberField as F;
    let text = text.trim();
    match field {
        F::BirthDate | F::JoinedDate | F::FullMemberDate => {
            rollcall_core::audit::dates::parse(text).map(|d| d.to_string()).unwrap_or_else(|| text.to_string())
        }
        F::Ethnicity => text
            .parse::<u32>()
            .ok()
            .or_else(|| import::ETHNICITIES.iter().position(|e| *e == text).map(|p| p as u32 + 1))
            .map_or_else(|| text.to_string(), |c| c.to_string()),
        F::Education => text
            .parse::<u32>()
            .ok()
            .or_else(|| import::EDUCATIONS.iter().find(|(n, _)| *n == text).map(|(_, c)| *c))
            .map_or_else(|| text.to_string(), |c| c.to_string()),
        F::Lost | F::Flowing => match rollcall_core::audit::member::parse_yes_no(text) {
            Some(true) => "是".into(),
            Some(false) => "否".into(),
            None => text.to_string(),
        },
        F::MembershipStatus if text.is_empty() => "正常".into(),
        F::Job if text.is_empty() => "0".into(),
        _ => text.to_string(),
    }
}

/// Compares the Party-statistics database export with the members the node holds and
/// records one discrepancy per differing field, for people to verify item by item.
pub async fn import_statsdb(backend: &mut Backend, path: &Path, author: &str, lang: Lang) -> Outcome {
    let sheet = match import::read_sheet(path) {
        Ok(sheet) => sheet,
        Err(error) => return file_failed(&error, lang),
    };
    let columns = match import::map_columns(path, &sheet.headers, &[import::Column::Name, import::Column::IdNumber]) {
        Ok(columns) => columns,
        Err(error) => return file_failed(&error, lang),
    };
    let field_columns: Vec<(pb::MemberField, usize)> = import::COMPARED_FIELDS
        .iter()
        .filter_map(|field| {
            let column = match field {
                pb::MemberField::Name => import::Column::Name,
                pb::MemberField::Gender => import::Column::Gender,
                pb::MemberField::Ethnicity => import::Column::Ethnicity,
                pb::MemberField::BirthDate => import::Column::BirthDate,
                pb::MemberField::Education => import::Column::Education,
                pb::MemberField::Category => import::Column::Category,
                pb::MemberField::JoinedDate => import::Column::JoinedDate,
                pb::MemberField::FullMemberDate => import::Column::FullMemberDate,
                pb::MemberField::Job => import::Column::Job,
                pb::MemberField::Phone => import::Column::Phone,
                pb::MemberField::Address => import::Column::Address,
                pb::MemberField::MembershipStatus => import::Column::MembershipStatus,
                pb::MemberField::Lost => import::Column::Lost,
                pb::MemberField::Flowing => import::Column::Flowing,
                _ => return None,
            };
            columns.get(&column).map(|index| (*field, *index))
        })
        .collect();
    let id_index = columns[&import::Column::IdNumber];
    let by_id: HashMap<String, &Vec<String>> =
        sheet.rows.iter().filter_map(|row| row.get(id_index).map(|id| (import::member_id_for(id), row))).collect();
    let ids: Vec<String> = by_id.keys().cloned().collect();
    let members = match backend
        .members(pb::MembersRequest {
            member_ids: ids.clone(),
            include_forms: true,
            limit: ids.len() as u32 + 1,
            ..Default::default()
        })
        .await
    {
        Ok(response) => response.members,
        Err(refusal) => return refused(&refusal, lang),
    };
    let mut drafts = Vec::new();
    let mut matched = HashSet::new();
    for member in &members {
        let (Some(form), Some(row)) = (member.form.as_ref(), by_id.get(&member.member_id)) else { continue };
        matched.insert(member.member_id.clone());
        let Ok(unit) = UnitPath::parse(&member.unit_path) else { continue };
        for (field, index) in &field_columns {
            let db_value = normalise(*field, row.get(*index).map_or("", String::as_str));
            let form_value = import::field_text(form, *field);
            if db_value != form_value {
                drafts.push(Draft {
                    unit_path: unit.clone(),
                    kind: rollcall_core::EventKind::StatsDiscrepancyFound,
                    body: Body::StatsDiscrepancyFound(pb::StatsDiscrepancyFound {
                        member_id: member.member_id.clone(),
                        field: *field as i32,
                        form_value,
                        stats_db_value: db_value,
                    })
                    .encode(),
                    author: author.to_string(),
                });
            }
        }
    }
    let only_in_db = by_id.len() - matched.len();
    let found = drafts.len();
    let bar = progress(found as u64, "比对 / comparing");
    for chunk in drafts.chunks(1000) {
        if let Err(refusal) = backend.append(chunk.to_vec()).await {
            bar.abandon();
            return refused(&refusal, lang);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Outcome::Done {
        text: format!(
            "{} {} {}，{} {}；{} {}\n",
            lang.pick("已比对", "compared"),
            matched.len(),
            lang.pick("名党员", "members"),
            lang.pick("发现差异", "discrepancies found:"),
            found,
            lang.pick("统计库中有而本节点未登记", "in the database but not registered here:"),
            only_in_db
        ),
        json: json!({ "compared": matched.len(), "discrepancies": found, "only_in_database": only_in_db }),
    }
}

/// The findings about how members are held within the node's scope (or `unit`), as
/// text for people and JSON for scripts.
pub async fn findings(backend: &mut Backend, unit: Option<&str>, lang: Lang) -> Outcome {
    let request = pb::FindingsRequest { unit_path: unit.unwrap_or_default().to_string() };
    let names = unit_names(backend).await;
    let named = |path: &str| crate::render::unit_display(names.get(path).map_or("", String::as_str), path);
    let response = match backend.findings(request).await {
        Ok(response) => response,
        Err(refusal) => return refused(&refusal, lang),
    };
    let mut text = String::new();
    let mut rows = Vec::new();
    for finding in &response.findings {
        let duplicate = finding.kind == pb::relation_finding::Kind::DuplicateRelation as i32;
        let who = if finding.name.is_empty() {
            finding.member_id.clone()
        } else {
            format!("{}（{}）", finding.name, finding.member_id)
        };
        if duplicate {
            let state =
                if finding.settled { lang.pick("已处理", "settled") } else { lang.pick("待处理", "to settle") };
            text.push_str(&format!(
                "{} {who}: {} {}; {} {} [{state}]\n",
                lang.pick("重复组织关系", "duplicate relation"),
                lang.pick("登记于", "registered at"),
                finding.units.iter().map(|u| named(u)).collect::<Vec<_>>().join("、"),
                lang.pick("计入", "counted at"),
                named(&finding.counted_at),
            ));
        } else {
            let registered = if finding.units.is_empty() {
                lang.pick("未知", "unknown").to_string()
            } else {
                finding.units.iter().map(|u| named(u)).collect::<Vec<_>>().join("、")
            };
            text.push_str(&format!(
                "{} {who}: {} {} {}（{} {registered}），{}\n",
                lang.pick("未在本单位登记", "not registered here"),
                finding.unit_path,
                finding.events,
                lang.pick("条记录", "events"),
                lang.pick("登记于", "registered at"),
                lang.pick("不计入统计", "counted nowhere"),
            ));
        }
        rows.push(json!({
            "member_id": finding.member_id,
            "name": finding.name,
            "kind": if duplicate { "duplicate_relation" } else { "unregistered" },
            "units": finding.units,
            "counted_at": finding.counted_at,
            "settled": finding.settled,
            "unit": finding.unit_path,
            "events": finding.events,
        }));
    }
    if response.findings.is_empty() {
        text.push_str(lang.pick("没有组织关系问题\n", "no findings\n"));
    } else {
        text.push_str(lang.pick(
            "重复组织关系由共同的上级党组织用 rollcall settle-duplicate 处理\n",
            "a duplicate relation is settled by the level above both branches with rollcall settle-duplicate\n",
        ));
    }
    Outcome::Done { text, json: serde_json::Value::Array(rows) }
}

/// Settles a duplicate relation: keeps the member at `keep`, releases the other
/// branches; filed at the lowest unit holding them all (which must be this node's
/// subtree, so only a level that owns every branch can settle).
pub async fn settle_duplicate(
    backend: &mut Backend,
    member_id: &str,
    keep: &str,
    reason: &str,
    author: &str,
    lang: Lang,
) -> Outcome {
    let response = match backend.findings(pb::FindingsRequest::default()).await {
        Ok(response) => response,
        Err(refusal) => return refused(&refusal, lang),
    };
    let Some(finding) = response
        .findings
        .iter()
        .find(|f| f.member_id == member_id && f.kind == pb::relation_finding::Kind::DuplicateRelation as i32)
    else {
        return refused(
            &Refusal {
                en: format!("member {member_id} has no duplicate relation within this node's scope"),
                zh: Some(format!("本节点范围内没有党员 {member_id} 的重复组织关系")),
                rule: true,
            },
            lang,
        );
    };
    if !finding.units.iter().any(|unit| unit == keep) {
        return refused(
            &Refusal {
                en: format!(
                    "--keep {keep} is not one of the branches the member is registered at: {}",
                    finding.units.join(", ")
                ),
                zh: Some(format!("--keep {keep} 不是该党员的登记单位之一：{}", finding.units.join("、"))),
                rule: true,
            },
            lang,
        );
    }
    let units: Vec<UnitPath> = finding.units.iter().filter_map(|unit| UnitPath::parse(unit).ok()).collect();
    let Some(common) = rollcall_core::audit::projection::lowest_common_ancestor(units.iter()) else {
        return refused(&Refusal { en: "no units".into(), zh: None, rule: false }, lang);
    };
    let body = Body::DuplicateRelationSettled(pb::DuplicateRelationSettled {
        member_id: member_id.to_string(),
        keep_unit: keep.to_string(),
        released_units: finding.units.iter().filter(|unit| *unit != keep).cloned().collect(),
        reason: reason.to_string(),
    });
    append_one(backend, common, body, author, lang, json!({ "member_id": member_id, "kept": keep })).await
}

/// The refusal when no campaign is open yet.
fn no_campaign() -> Refusal {
    Refusal {
        en: "no campaign is open yet: the province opens it with rollcall campaign-open".into(),
        zh: Some("尚未开启排查工作：由省级用 rollcall campaign-open 开启".into()),
        rule: true,
    }
}

/// Submits this unit's tables: each computed by the node with the checkpoint it was
/// computed from, signed as one `ReportSubmitted` per table in one append.
pub async fn submit_reports(backend: &mut Backend, tables: &[u32], author: &str, lang: Lang) -> Outcome {
    let deadlines = match backend.deadlines(pb::DeadlinesRequest::default()).await {
        Ok(deadlines) => deadlines,
        Err(refusal) => return refused(&refusal, lang),
    };
    if deadlines.campaign_id.is_empty() {
        return refused(&no_campaign(), lang);
    }
    let mut drafts = Vec::new();
    let mut unit_path = String::new();
    for table in tables {
        let computed = match backend.table(pb::TableRequest { unit_path: String::new(), table: *table }).await {
            Ok(computed) => computed,
            Err(refusal) => return refused(&refusal, lang),
        };
        if !computed.check_failures.is_empty() {
            let details =
                computed.check_failures.iter().map(|f| lang.pick(&f.message_zh, &f.message_en).to_string()).collect();
            return Outcome::Failed {
                message: format!(
                    "{}{table}",
                    lang.pick("校验未通过，未报送：表", "the checks failed; not submitted: table ")
                ),
                json: json!({ "error": "checks failed", "table": table }),
                details,
            };
        }
        let Ok(unit) = UnitPath::parse(&computed.unit_path) else {
            return refused(&Refusal { en: "bad unit".into(), zh: None, rule: false }, lang);
        };
        unit_path = unit.to_string();
        let body = Body::ReportSubmitted(pb::ReportSubmitted {
            campaign_id: deadlines.campaign_id.clone(),
            table: *table,
            cells: computed.cells,
            checkpoint: computed.checkpoint,
        });
        drafts.push(Draft { unit_path: unit, kind: body.kind(), body: body.encode(), author: author.to_string() });
    }
    match backend.append(drafts).await {
        Ok(ids) => {
            let numbers: Vec<String> = tables.iter().map(u32::to_string).collect();
            Outcome::Done {
                text: match lang {
                    Lang::Zh => format!(
                        "已报送 {unit_path} 表{}；上级收到全部数据后自动核算，用 rollcall report list 查看核验结果\n",
                        numbers.join("、")
                    ),
                    Lang::En => format!(
                        "submitted tables {} of {unit_path}; the level above recomputes them once it holds the events \
                         (rollcall report list shows its verdict)\n",
                        numbers.join(", ")
                    ),
                },
                json: json!({ "unit": unit_path, "tables": tables, "event_ids": ids }),
            }
        }
        Err(refusal) => refused(&refusal, lang),
    }
}

/// The submissions of a unit and of the reporting units below it, with the verdicts.
pub async fn list_reports(backend: &mut Backend, unit: Option<&str>, lang: Lang) -> Outcome {
    let response = match backend.reports(pb::ReportsRequest { unit_path: unit.unwrap_or_default().to_string() }).await {
        Ok(response) => response,
        Err(refusal) => return refused(&refusal, lang),
    };
    let time = |ms: u64| {
        if ms == 0 {
            String::new()
        } else {
            chrono::DateTime::from_timestamp_millis(ms as i64)
                .map(|t| (t + chrono::Duration::hours(8)).format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default()
        }
    };
    let mut text = String::new();
    let mut rows = Vec::new();
    for report in &response.reports {
        let state = if lang == Lang::Zh { report.state_zh.clone() } else { report.state.replace('_', " ") };
        text.push_str(&format!(
            "{:<24} {}{} {:<10} {} {} {} {}\n",
            crate::render::unit_display(&report.unit_name, &report.unit_path),
            lang.pick("表", "table "),
            report.table,
            state,
            lang.pick("报送", "submitted"),
            if report.submitted_at_ms == 0 { "—".to_string() } else { time(report.submitted_at_ms) },
            lang.pick("上级收到", "received above"),
            if report.received_at_ms == 0 { "—".to_string() } else { time(report.received_at_ms) },
        ));
        for difference in &report.differences {
            if difference.submitted.is_none() && difference.recomputed.is_none() {
                text.push_str(lang.pick(
                    "    报送所依据的数据少于上级已确认收到的数据（漏掉了下级的记录），请按全部数据重新报送\n",
                    "    the submission was computed from less than the level above had acknowledged receiving \
                     (a unit's records left out): resubmit it from all the data\n",
                ));
                continue;
            }
            let value = |v: Option<i64>| v.map_or(lang.pick("空", "blank").to_string(), |v| v.to_string());
            text.push_str(&format!(
                "    {} {} {} {}: {} {}, {} {}\n",
                lang.pick("第", "row"),
                difference.row,
                lang.pick("行第", "column"),
                difference.column,
                lang.pick("报送", "submitted"),
                value(difference.submitted),
                lang.pick("核算", "recomputed"),
                value(difference.recomputed),
            ));
        }
        if !report.return_reason.is_empty() {
            text.push_str(&format!("    {}: {}\n", lang.pick("退回理由", "returned because"), report.return_reason));
        }
        rows.push(json!({
            "unit": report.unit_path,
            "unit_name": report.unit_name,
            "table": report.table,
            "state": report.state,
            "submitted_at_ms": report.submitted_at_ms,
            "received_at_ms": report.received_at_ms,
            "report_seq": report.report_seq,
            "differences": report.differences.iter().map(|d| json!({
                "row": d.row, "column": d.column, "submitted": d.submitted, "recomputed": d.recomputed,
            })).collect::<Vec<_>>(),
            "return_reason": report.return_reason,
        }));
    }
    if response.reports.is_empty() {
        text.push_str(lang.pick("没有需要报送报表的单位\n", "no reporting units here\n"));
    }
    Outcome::Done { text, json: serde_json::Value::Array(rows) }
}

/// Returns a unit's current submission of `table`, with the reason (filed at that unit,
/// so it flows down to it).
pub async fn return_report(
    backend: &mut Backend,
    unit: &str,
    table: u32,
    reason: &str,
    author: &str,
    lang: Lang,
) -> Outcome {
    let response = match backend.reports(pb::ReportsRequest::default()).await {
        Ok(response) => response,
        Err(refusal) => return refused(&refusal, lang),
    };
    let Some(current) = response.reports.iter().find(|r| r.unit_path == unit && r.table == table && r.report_seq > 0)
    else {
        return refused(
            &Refusal {
                en: format!("{unit} has not submitted table {table} (or is not a unit directly below this node)"),
                zh: Some(format!("{unit} 未报送表{table}（或不是本节点的直接下级）")),
                rule: true,
            },
            lang,
        );
    };
    let Ok(unit_path) = UnitPath::parse(unit) else {
        return refused(&Refusal { en: format!("{unit} is not a unit path"), zh: None, rule: false }, lang);
    };
    let deadlines = backend.deadlines(pb::DeadlinesRequest::default()).await.unwrap_or_default();
    let body = Body::ReportReturned(pb::ReportReturned {
        campaign_id: deadlines.campaign_id,
        table,
        report_replica: current.report_replica.clone(),
        report_seq: current.report_seq,
        reason: reason.to_string(),
    });
    append_one(backend, unit_path, body, author, lang, json!({ "unit": unit, "table": table })).await
}

/// The campaign in force: name, id, as-of date, the four deadlines, and the policy the
/// rules apply (the notice's unless the province changed it).
pub async fn show_campaign(backend: &mut Backend, lang: Lang) -> Outcome {
    use rollcall_core::audit::policy::{FIELDS, Policy};
    let deadlines = match backend.deadlines(pb::DeadlinesRequest::default()).await {
        Ok(deadlines) => deadlines,
        Err(refusal) => return refused(&refusal, lang),
    };
    if deadlines.campaign_id.is_empty() {
        return refused(&no_campaign(), lang);
    }
    let as_of = match backend.rollup(pb::RollupRequest::default()).await {
        Ok(rollup) => rollup.as_of.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)).unwrap_or_default(),
        Err(refusal) => return refused(&refusal, lang),
    };
    let date =
        |d: Option<&pb::Date>| d.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)).unwrap_or_default();
    let mut text = match lang {
        Lang::Zh => format!(
            "排查工作：{}（编号 {}）\n统计截止日期：{as_of}\n时间节点：\n",
            deadlines.campaign, deadlines.campaign_id
        ),
        Lang::En => {
            format!("campaign: {} (id {})\nas of: {as_of}\ndeadlines:\n", deadlines.campaign, deadlines.campaign_id)
        }
    };
    for deadline in &deadlines.deadlines {
        text.push_str(&format!(
            "  {}  {}\n",
            date(deadline.due.as_ref()),
            lang.pick(&deadline.name_zh, &deadline.name_en)
        ));
    }
    let policy = Policy::from_proto(deadlines.policy.as_ref());
    let source = match (deadlines.policy_changes, lang) {
        (0, Lang::Zh) => "通知的规定".to_string(),
        (0, Lang::En) => "the notice's".to_string(),
        (n, Lang::Zh) => format!("省级已调整{n}次"),
        (n, Lang::En) => format!("changed by the province {n} time(s)"),
    };
    text.push_str(&match lang {
        Lang::Zh => format!("适用政策（{source}）：\n"),
        Lang::En => format!("policy in force ({source}):\n"),
    });
    for ((key, field_zh, _, _), value) in FIELDS.iter().zip(policy.values()) {
        let default = Policy::NOTICE.values()[FIELDS.iter().position(|f| f.0 == *key).unwrap_or(0)];
        let mark = if value == default { "" } else { lang.pick("（已调整）", " (changed)") };
        text.push_str(&match lang {
            Lang::Zh => format!("  {field_zh}：{value}{mark}\n"),
            Lang::En => format!("  {key}: {value}{mark}\n"),
        });
    }
    text.push_str(lang.pick(
        "  支部大会表决：无记名投票；到会、赞成均按应到会人数计算\n",
        "  branch meeting: secret ballot; quorum and majority are shares of those who should attend\n",
    ));
    let json = json!({
        "campaign": deadlines.campaign,
        "campaign_id": deadlines.campaign_id,
        "as_of": as_of,
        "deadlines": deadlines.deadlines.iter().map(|d| json!({
            "kind": pb::DeadlineKind::try_from(d.kind).map_or("unspecified", |k| k.as_str_name()),
            "name_zh": d.name_zh,
            "name_en": d.name_en,
            "due": date(d.due.as_ref()),
        })).collect::<Vec<_>>(),
        "policy": FIELDS.iter().zip(policy.values()).map(|((key, _, _, _), value)| (key.to_string(), json!(value)))
            .collect::<serde_json::Map<_, _>>(),
        "policy_changes": deadlines.policy_changes,
    });
    Outcome::Done { text, json }
}

/// The province changes the campaign's policy: the fields given replace those in force
/// (the others stay), from now on, at every level.
pub async fn change_policy(
    backend: &mut Backend,
    changes: &[(&'static str, u32)],
    reason: &str,
    author: &str,
    lang: Lang,
) -> Outcome {
    use rollcall_core::audit::policy::{FIELDS, Policy};
    let deadlines = match backend.deadlines(pb::DeadlinesRequest::default()).await {
        Ok(deadlines) => deadlines,
        Err(refusal) => return refused(&refusal, lang),
    };
    if deadlines.campaign_id.is_empty() {
        return refused(&no_campaign(), lang);
    }
    if changes.is_empty() {
        return refused(
            &Refusal {
                en: "name at least one field to change (see --help)".into(),
                zh: Some("请至少指定一项要调整的政策（见 --help）".into()),
                rule: false,
            },
            lang,
        );
    }
    let mut values = Policy::from_proto(deadlines.policy.as_ref()).values();
    for (key, value) in changes {
        if let Some(index) = FIELDS.iter().position(|f| f.0 == *key) {
            values[index] = *value;
        }
    }
    let policy = pb::Policy {
        self_separation_attempts: values[0],
        self_separation_methods: values[1],
        self_separation_months: values[2],
        quorum_percent: values[3],
        majority_percent: values[4],
        lost_contact_months: values[5],
        pocket_months: values[6],
    };
    let unit = match backend.unit().await.map(|u| UnitPath::parse(&u)) {
        Ok(Ok(unit)) => unit,
        _ => return refused(&Refusal { en: "cannot read the node's unit".into(), zh: None, rule: false }, lang),
    };
    let body = Body::PolicyChanged(pb::PolicyChanged {
        campaign_id: deadlines.campaign_id.clone(),
        policy: Some(policy),
        reason: reason.to_string(),
    });
    let extra = json!({ "policy": FIELDS.iter().zip(values).map(|(f, v)| (f.0.to_string(), json!(v)))
        .collect::<serde_json::Map<_, _>>() });
    match append_one(backend, unit, body, author, lang, extra).await {
        Outcome::Done { mut text, json } => {
            text.push_str(lang.pick(
                "各级自本事件起按新政策判断（此前记录的表决仍按当时的政策计算）\n",
                "every level judges by the new policy from this event on (votes recorded before it keep the policy then in force)\n",
            ));
            Outcome::Done { text, json }
        }
        failed => failed,
    }
}

/// The level above names (or renames) a unit below it: its official name, short name,
/// 党组织 type and code. The root may name its own unit.
pub async fn name_unit(backend: &mut Backend, named: pb::UnitNamed, author: &str, lang: Lang) -> Outcome {
    if let Err(violation) = rollcall_core::audit::rules::check_unit_name(&named) {
        return refused(&Refusal { en: violation.to_string(), zh: Some(violation.message_zh()), rule: true }, lang);
    }
    let Ok(unit) = UnitPath::parse(&named.unit_path) else {
        return refused(
            &Refusal { en: format!("{} is not a unit path", named.unit_path), zh: None, rule: false },
            lang,
        );
    };
    let extra = json!({ "unit": named.unit_path, "name": named.name, "short_name": named.short_name,
        "org_type": named.org_type, "org_code": named.org_code });
    let label = if named.short_name.is_empty() { named.name.clone() } else { named.short_name.clone() };
    match append_one(backend, unit.clone(), Body::UnitNamed(named), author, lang, extra).await {
        Outcome::Done { text, json } => Outcome::Done {
            text: format!("{text}{} {unit} = {label}\n", lang.pick("单位名称：", "unit name:")),
            json,
        },
        failed => failed,
    }
}

/// The units in scope with their names and 党组织 codes.
pub async fn list_units(backend: &mut Backend, unit: Option<&str>, lang: Lang) -> Outcome {
    let response = match backend.units(pb::UnitsRequest { unit_path: unit.unwrap_or_default().to_string() }).await {
        Ok(response) => response,
        Err(refusal) => return refused(&refusal, lang),
    };
    let headings: Vec<String> =
        [("单位", "unit"), ("名称", "name"), ("简称", "short name"), ("党组织类型", "type"), ("党组织代码", "code")]
            .iter()
            .map(|(zh, en)| lang.pick(zh, en).to_string())
            .collect();
    let rows: Vec<Vec<String>> = response
        .units
        .iter()
        .map(|u| {
            let org_type = pb::OrgType::try_from(u.org_type).unwrap_or(pb::OrgType::Unspecified);
            vec![
                u.unit_path.clone(),
                if u.named { u.name.clone() } else { lang.pick("（未登记名称）", "(never named)").to_string() },
                u.short_name.clone(),
                format!("{} {}", u.org_type, org_type_name(org_type, lang)),
                u.org_code.clone(),
            ]
        })
        .collect();
    let json = json!(
        response
            .units
            .iter()
            .map(|u| json!({
                "unit": u.unit_path, "name": u.name, "short_name": u.short_name, "org_type": u.org_type,
                "org_code": u.org_code, "named": u.named,
            }))
            .collect::<Vec<_>>()
    );
    Outcome::Done { text: crate::render::grid(&headings, &rows), json }
}

/// Every unit in the caller's scope → its short name (named units only).
pub async fn unit_names(backend: &mut Backend) -> HashMap<String, String> {
    backend
        .units(pb::UnitsRequest::default())
        .await
        .map(|response| {
            response
                .units
                .into_iter()
                .filter(|u| u.named)
                .map(|u| (u.unit_path, if u.short_name.is_empty() { u.name } else { u.short_name }))
                .collect()
        })
        .unwrap_or_default()
}

/// The Chinese (or English) name of a 党组织 type.
pub fn org_type_name(org_type: pb::OrgType, lang: Lang) -> &'static str {
    use pb::OrgType as O;
    match org_type {
        O::Committee => lang.pick("党委", "Party committee"),
        O::WorkingCommittee => lang.pick("党工委", "working committee"),
        O::GeneralBranch => lang.pick("党总支", "general branch"),
        O::Branch => lang.pick("党支部", "branch"),
        O::JointBranch => lang.pick("联合党支部", "joint branch"),
        O::Unspecified => "",
    }
}
