//! What people read: tables 1-3, rollups, deadlines and members as aligned text
//! (Chinese by default; CJK characters take two columns), and the same as JSON for
//! scripts. Pure functions from responses to strings, so golden tests can pin them.

use rollcall_proto::v1 as pb;
use serde_json::{Value, json};

use crate::i18n::{Lang, pad_left_aligned as left, pad_right_aligned as right};

fn date(date: Option<&pb::Date>) -> String {
    date.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)).unwrap_or_default()
}

fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// Lays out rows under headings: first column left-aligned, the rest right-aligned.
pub fn grid(headings: &[String], rows: &[Vec<String>]) -> String {
    let columns = headings.len();
    let mut widths: Vec<usize> = headings.iter().map(|h| width(h)).collect();
    for row in rows {
        for (column, cell) in row.iter().enumerate().take(columns) {
            widths[column] = widths[column].max(width(cell));
        }
    }
    // Counts right-aligned, text left-aligned (the first column is always text).
    let numeric: Vec<bool> = (0..columns)
        .map(|column| {
            column > 0
                && rows.iter().all(|row| {
                    row.get(column).is_none_or(|cell| {
                        cell.is_empty()
                            || cell == "-"
                            || cell.contains('/') && cell.split('/').all(|p| p.parse::<i64>().is_ok())
                            || cell.parse::<f64>().is_ok()
                    })
                })
        })
        .collect();
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(
                |(column, cell)| if numeric[column] { right(cell, widths[column]) } else { left(cell, widths[column]) },
            )
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(headings);
    out.push('\n');
    for row in rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

/// A unit as people read it: its name, then its path in brackets (the path is what
/// `--unit` takes); the path alone when the unit was never named.
pub fn unit_display(name: &str, path: &str) -> String {
    if name.is_empty() { path.to_string() } else { format!("{name}（{path}）") }
}

/// A table as text.
pub fn table_text(table: &pb::TableResponse, lang: Lang) -> String {
    let sheet = crate::export::table_sheet(table, lang == Lang::Zh);
    let rows: Vec<Vec<String>> = sheet
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| match cell {
                    crate::export::Cell::Text(text) => text.clone(),
                    crate::export::Cell::Number(value) => value.to_string(),
                    crate::export::Cell::Blank => String::new(),
                })
                .collect()
        })
        .collect();
    let mut out = format!("{}\n{}\n", sheet.title, sheet.subtitle);
    out.push_str(&grid(&sheet.headings, &rows));
    if table.check_failures.is_empty() {
        out.push_str(lang.pick("校验：通过\n", "checks: passed\n"));
    } else {
        out.push_str(lang.pick("校验未通过：\n", "checks failed:\n"));
        for failure in &table.check_failures {
            out.push_str(&format!("  {}\n", lang.pick(&failure.message_zh, &failure.message_en)));
        }
    }
    out
}

/// A table as JSON: cells by row, `null` for blank.
pub fn table_json(table: &pb::TableResponse) -> Value {
    let mut cells: Vec<Vec<Value>> = vec![vec![Value::Null; table.columns.len()]; table.rows.len()];
    for cell in &table.cells {
        if let Some(slot) = cells.get_mut(cell.row as usize).and_then(|r| r.get_mut(cell.column as usize)) {
            *slot = cell.value.map_or(Value::Null, Value::from);
        }
    }
    json!({
        "table": table.table,
        "title": table.title_zh,
        "unit": table.unit_path,
        "unit_name": table.unit_name,
        "as_of": date(table.as_of.as_ref()),
        "columns": table.columns.iter().map(|c| c.key.clone()).collect::<Vec<_>>(),
        "rows": table.rows.iter().zip(cells).map(|(label, cells)| {
            let mut row = json!({ "label": label.name_zh, "cells": cells });
            if !label.unit_path.is_empty() {
                row["unit"] = json!(label.unit_path);
            }
            row
        }).collect::<Vec<_>>(),
        "definitions": table.columns.iter().filter(|c| !c.definition_zh.is_empty()).map(|c| json!({ "key": c.key, "group": c.group_zh, "heading": c.name_zh, "zh": c.definition_zh, "en": c.definition_en })).collect::<Vec<_>>(),
        "check_failures": table.check_failures.iter().map(|f| f.message_en.clone()).collect::<Vec<_>>(),
    })
}

/// The metrics shown in a rollup, in order.
pub const ROLLUP_METRICS: &[&str] = &[
    "members",
    "checked",
    "corrected",
    "flagged",
    "flowing",
    "pocket",
    "lost",
    "found",
    "still_lost",
    "forms_signed",
    "open_case",
];

fn metric(rollup: &pb::UnitRollup, key: &str) -> u64 {
    rollup.metrics.iter().find(|m| m.key == key).map_or(0, |m| m.value)
}

/// A rollup as text: the unit's total, then each child.
pub fn rollup_text(rollup: &pb::RollupResponse, lang: Lang) -> String {
    let Some(total) = &rollup.total else { return String::new() };
    let mut headings = vec![lang.pick("单位", "unit").to_string(), lang.pick("党组织", "orgs").to_string()];
    headings.extend(ROLLUP_METRICS.iter().map(|key| {
        let found = total.metrics.iter().find(|m| m.key == *key);
        found.map_or((*key).to_string(), |m| lang.pick(&m.name_zh, &m.name_en).to_string())
    }));
    let row = |label: String, r: &pb::UnitRollup| {
        let mut cells = vec![label, r.organisations.to_string()];
        cells.extend(ROLLUP_METRICS.iter().map(|key| metric(r, key).to_string()));
        cells
    };
    let mut rows = vec![row(
        format!("{} {}", lang.pick("合计", "total"), unit_display(&total.unit_name, &total.unit_path)),
        total,
    )];
    rows.extend(rollup.children.iter().map(|child| row(unit_display(&child.unit_name, &child.unit_path), child)));
    let mut out = match lang {
        Lang::Zh => format!("统计截止日期：{}\n", date(rollup.as_of.as_ref())),
        Lang::En => format!("as of: {}\n", date(rollup.as_of.as_ref())),
    };
    out.push_str(&grid(&headings, &rows));
    if !rollup.cases.is_empty() {
        out.push_str(lang.pick("组织处置（按类型和阶段）：\n", "dispositions by type and stage:\n"));
        for count in &rollup.cases {
            out.push_str(&format!(
                "  {} · {}: {}\n",
                disposition_name(count.disposition, lang),
                lang.pick(&count.stage_zh, &count.stage),
                count.count
            ));
        }
    }
    out
}

/// A rollup as JSON.
pub fn rollup_json(rollup: &pb::RollupResponse) -> Value {
    let unit = |r: &pb::UnitRollup| {
        let metrics: serde_json::Map<String, Value> =
            r.metrics.iter().map(|m| (m.key.clone(), Value::from(m.value))).collect();
        json!({ "unit": r.unit_path, "unit_name": r.unit_name, "organisations": r.organisations, "metrics": metrics })
    };
    json!({
        "as_of": date(rollup.as_of.as_ref()),
        "total": rollup.total.as_ref().map(unit),
        "children": rollup.children.iter().map(unit).collect::<Vec<_>>(),
        "cases": rollup.cases.iter().map(|c| json!({ "disposition": disposition_key(c.disposition), "stage": c.stage, "count": c.count })).collect::<Vec<_>>(),
    })
}

/// Chinese or English name of a disposition type.
pub fn disposition_name(disposition: i32, lang: Lang) -> &'static str {
    use pb::DispositionType as T;
    let (zh, en) = match T::try_from(disposition).unwrap_or(T::Unspecified) {
        T::WithdrawalRemoval => ("退党除名", "removal at own request"),
        T::CorrectionPeriod => ("限期改正", "correction period"),
        T::PersuadeToWithdraw => ("劝退", "persuasion to withdraw"),
        T::RemovalAfterPersuasion => ("劝而不退除名", "removal after persuasion"),
        T::SelfSeparationRemoval => ("自行脱党除名", "removal for self-separation"),
        T::CancelProbationary => ("取消预备党员资格", "probationary status cancelled"),
        T::NonRecognition => ("不予承认", "non-recognition"),
        T::Unspecified => ("未指定", "unspecified"),
    };
    lang.pick(zh, en)
}

/// Stable key of a disposition type.
pub fn disposition_key(disposition: i32) -> &'static str {
    pb::DispositionType::try_from(disposition).map_or("unspecified", |t| t.as_str_name())
}

/// Deadlines as text.
pub fn deadlines_text(response: &pb::DeadlinesResponse, lang: Lang) -> String {
    if response.deadlines.is_empty() {
        return lang
            .pick(
                "尚未开始排查工作（省级未下达时间节点）\n",
                "no campaign opened yet (the province sets the deadlines)\n",
            )
            .into();
    }
    let headings: Vec<String> = [
        ("时间节点", "deadline"),
        ("截止日期", "due"),
        ("剩余天数", "days left"),
        ("状态", "state"),
        ("进度", "progress"),
    ]
    .iter()
    .map(|(zh, en)| lang.pick(zh, en).to_string())
    .collect();
    let rows: Vec<Vec<String>> = response
        .deadlines
        .iter()
        .map(|d| {
            vec![
                lang.pick(&d.name_zh, &d.name_en).to_string(),
                date(d.due.as_ref()),
                d.days_left.to_string(),
                lang.pick(&d.state_zh, &d.state).to_string(),
                if d.total == 0 { "-".into() } else { format!("{}/{}", d.done, d.total) },
            ]
        })
        .collect();
    let mut out = format!("{}\n", response.campaign);
    out.push_str(&grid(&headings, &rows));
    for deadline in &response.deadlines {
        if deadline.blockers.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "{}{}\n",
            lang.pick(&deadline.name_zh, &deadline.name_en),
            lang.pick("，未完成：", ", blocked by:")
        ));
        for blocker in &deadline.blockers {
            out.push_str(&format!(
                "  {}  {} {}\n",
                unit_display(&blocker.unit_name, &blocker.unit_path),
                lang.pick(&blocker.reason_zh, &blocker.reason_en),
                blocker.count
            ));
        }
    }
    out
}

/// Deadlines as JSON.
pub fn deadlines_json(response: &pb::DeadlinesResponse) -> Value {
    json!({
        "campaign": response.campaign,
        "deadlines": response.deadlines.iter().map(|d| json!({
            "kind": pb::DeadlineKind::try_from(d.kind).map_or("unspecified", |k| k.as_str_name()),
            "due": date(d.due.as_ref()),
            "days_left": d.days_left,
            "state": d.state,
            "done": d.done,
            "total": d.total,
            "blockers": d.blockers.iter().map(|b| json!({ "unit": b.unit_path, "unit_name": b.unit_name, "reason": b.reason, "count": b.count })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn flags(derived: &pb::MemberDerived, lang: Lang) -> String {
    let mut out = Vec::new();
    let mut flag = |on: bool, zh: &'static str, en: &'static str| {
        if on {
            out.push(lang.pick(zh, en));
        }
    };
    flag(derived.lost && !derived.found, "失联", "lost");
    flag(derived.found, "已取得联系", "found");
    flag(derived.flowing, "流动", "flowing");
    flag(derived.pocket && !derived.pocket_resolved, "口袋", "pocket");
    flag(derived.retained, "保留关系", "retained");
    flag(derived.stopped, "停止党籍", "stopped");
    flag(derived.open_flags > 0, "待查明", "flagged");
    flag(derived.open_discrepancies > 0, "统计库差异", "stats discrepancy");
    flag(derived.suspected_irregular, "疑似违规", "suspected irregular");
    flag(derived.self_separation_candidate, "连续6个月未过组织生活等", "six-month gap");
    flag(!derived.on_roll, "已转出", "transferred out");
    out.join("、")
}

/// One member as text. The ID number, phone and address are shown masked.
pub fn member_text(member: &pb::MemberResponse, lang: Lang) -> String {
    let form = member.form.clone().unwrap_or_default();
    let derived = member.derived.clone().unwrap_or_default();
    let mut lines = vec![
        format!("{}  {}  {}", form.name, member.member_id, unit_display(&member.unit_name, &member.unit_path)),
        format!("{}: {}", lang.pick("公民身份证号", "ID number"), mask(&form.id_number, 6, 4)),
        format!("{}: {}", lang.pick("联系电话", "phone"), mask(&form.phone, 3, 4)),
        format!("{}: {}", lang.pick("出生日期", "birth date"), date(form.birth_date.as_ref())),
        format!("{}: {}", lang.pick("加入党组织日期", "joined"), date(form.joined_date.as_ref())),
        format!("{}: {}", lang.pick("情况", "status"), flags(&derived, lang)),
        match lang {
            Lang::Zh => format!("查找记录: {} 次（{} 种方式）", derived.contact_attempts, derived.search_channels),
            Lang::En => format!(
                "contact attempts: {} ({} {})",
                derived.contact_attempts,
                derived.search_channels,
                if derived.search_channels == 1 { "method" } else { "methods" }
            ),
        },
    ];
    if derived.lost {
        lines.push(format!("{}: {}", lang.pick("失去联系日期", "lost since"), date(derived.lost_since.as_ref())));
    }
    for case in &member.cases {
        lines.push(format!(
            "{} {}: {} · {}",
            lang.pick("处置案件", "case"),
            case.case_id,
            disposition_name(case.disposition, lang),
            lang.pick(&case.stage_zh, &case.stage)
        ));
    }
    if member.conflicts > 0 {
        lines.push(format!("{}: {}", lang.pick("信息冲突", "conflicts"), member.conflicts));
    }
    lines.join("\n") + "\n"
}

/// Masks personal data for display (the core's one rule).
pub use rollcall_core::audit::tables::mask;

/// One member as JSON: the ID number masked as in the text unless `show_personal`.
pub fn member_json(member: &pb::MemberResponse, show_personal: bool) -> Value {
    let form = member.form.clone().unwrap_or_default();
    let derived = member.derived.clone().unwrap_or_default();
    json!({
        "member_id": member.member_id,
        "unit": member.unit_path,
        "unit_name": member.unit_name,
        "name": form.name,
        "id_number": if show_personal { form.id_number.clone() } else { mask(&form.id_number, 6, 4) },
        "lost": derived.lost && !derived.found,
        "found": derived.found,
        "flowing": derived.flowing,
        "pocket": derived.pocket,
        "contact_attempts": derived.contact_attempts,
        "cases": member.cases.iter().map(|c| json!({ "case_id": c.case_id, "disposition": disposition_key(c.disposition), "stage": c.stage })).collect::<Vec<_>>(),
        "conflicts": member.conflicts,
    })
}

/// A list of members as text.
pub fn members_text(response: &pb::MembersResponse, lang: Lang) -> String {
    let headings: Vec<String> =
        [("党员编号", "member id"), ("姓名", "name"), ("所在党支部", "branch"), ("情况", "status"), ("处置", "case")]
            .iter()
            .map(|(zh, en)| lang.pick(zh, en).to_string())
            .collect();
    let rows: Vec<Vec<String>> = response
        .members
        .iter()
        .map(|m| {
            let case = m
                .cases
                .last()
                .map(|c| format!("{}·{}", disposition_name(c.disposition, lang), lang.pick(&c.stage_zh, &c.stage)))
                .unwrap_or_default();
            vec![
                m.member_id.clone(),
                m.name.clone(),
                unit_display(&m.unit_name, &m.unit_path),
                flags(&m.derived.clone().unwrap_or_default(), lang),
                case,
            ]
        })
        .collect();
    let mut out = grid(&headings, &rows);
    out.push_str(&format!("{} {} / {}\n", lang.pick("显示", "showing"), response.members.len(), response.total));
    out
}
